/**
 * What `6to4-pmt lab` reads back from the LAN host and the tools it runs, as pure functions:
 * rdisc6's report of a Router Advertisement (ndisc6 package), the host's addresses from
 * `ip -j -6 addr`, and the prefixes the lab expects, computed here on their own from the lease
 * (RFC 3056 §2, RFC 6732 Figure 3) to be compared with what the daemon derived.
 */
import { parseIpv4 } from "../addr/ipv4.js";
import { formatIpv6, parseIpv6, parseIpv6Prefix } from "../addr/ipv6.js";

export interface RaPrefixSeen {
  prefix: string;
  onLink: boolean;
  autonomous: boolean;
  validS: number;
  preferredS: number;
}

/** One Router Advertisement as rdisc6 prints it. */
export interface RaSeen {
  /** The router's link-local source address. */
  from: string | null;
  routerLifetimeS: number | null;
  preference: string | null;
  mtu: number | null;
  prefixes: RaPrefixSeen[];
  rdnss: string[];
  dnssl: string[];
}

/** A number at the start of a "name : value" field; null when the field says "unspecified". */
function numberAt(value: string): number | null {
  const m = /^(\d+)/.exec(value.trim());
  return m === null ? null : Number(m[1]);
}

/**
 * Parses rdisc6's output (one RA per "from <address>" line, fields as "Name : value"); RAs are
 * returned in the order printed. Lines it does not know are skipped.
 */
export function parseRdisc6(out: string): RaSeen[] {
  const ras: RaSeen[] = [];
  let cur = emptyRa();
  let prefix: RaPrefixSeen | null = null;
  let touched = false;
  for (const line of out.split("\n")) {
    const from = /^\s*from (\S+)/.exec(line);
    if (from !== null) {
      cur.from = from[1]!;
      ras.push(cur);
      cur = emptyRa();
      prefix = null;
      touched = false;
      continue;
    }
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    let known = true;
    if (name === "router lifetime") cur.routerLifetimeS = numberAt(value);
    else if (name === "router preference") cur.preference = value;
    else if (name === "mtu") cur.mtu = numberAt(value);
    else if (name === "prefix") {
      prefix = { prefix: value, onLink: false, autonomous: false, validS: 0, preferredS: 0 };
      cur.prefixes.push(prefix);
    } else if (name === "on-link" && prefix !== null) prefix.onLink = value === "Yes";
    else if (name === "autonomous address conf." && prefix !== null)
      prefix.autonomous = value === "Yes";
    else if (name === "valid time" && prefix !== null) prefix.validS = numberAt(value) ?? 0;
    else if (name === "pref. time" && prefix !== null) prefix.preferredS = numberAt(value) ?? 0;
    else if (name === "recursive dns server") cur.rdnss.push(value);
    else if (name === "dns search list") cur.dnssl.push(...value.split(/\s+/).filter(Boolean));
    else known = false;
    touched ||= known;
  }
  if (touched) ras.push(cur);
  return ras;
}

function emptyRa(): RaSeen {
  return {
    from: null,
    routerLifetimeS: null,
    preference: null,
    mtu: null,
    prefixes: [],
    rdnss: [],
    dnssl: [],
  };
}

/** A global IPv6 address of a host as `ip -j -6 addr` reports it. */
export interface HostAddress {
  address: string;
  prefixLen: number;
  /** Formed from an RA (SLAAC) rather than configured. */
  dynamic: boolean;
  deprecated: boolean;
  tentative: boolean;
  validS: number;
  preferredS: number;
}

/** The global addresses in `ip -j -6 addr show dev X` output ([] for anything unparsable). */
export function globalAddresses(ipJson: string): HostAddress[] {
  let links: unknown;
  try {
    links = JSON.parse(ipJson || "[]");
  } catch {
    return [];
  }
  if (!Array.isArray(links)) return [];
  const out: HostAddress[] = [];
  for (const link of links as Array<{ addr_info?: Array<Record<string, unknown>> }>) {
    for (const a of link.addr_info ?? []) {
      if (a.family !== "inet6" || a.scope !== "global") continue;
      const life = (v: unknown): number => (typeof v === "number" ? v : 0xffffffff);
      out.push({
        address: String(a.local),
        prefixLen: Number(a.prefixlen),
        dynamic: a.dynamic === true,
        deprecated: a.deprecated === true || life(a.preferred_life_time) === 0,
        tentative: a.tentative === true,
        validS: life(a.valid_life_time),
        preferredS: life(a.preferred_life_time),
      });
    }
  }
  return out;
}

/** True when `address` lies in `prefix` ("2001:db8:6440:2::/64"). */
export function inIpv6Prefix(address: string, prefix: string): boolean {
  const a = parseIpv6(address);
  const p = parseIpv6Prefix(prefix);
  if (a === null || p === null) return false;
  for (let bit = 0; bit < p.len; bit++) {
    const byte = bit >> 3;
    const m = 0x80 >> (bit & 7);
    if ((a[byte]! & m) !== (p.addr[byte]! & m)) return false;
  }
  return true;
}

/** Sets `count` bits of `value` (its low `count` bits, most significant first) at bit `at`. */
function putBits(out: Uint8Array, at: number, value: number, count: number): void {
  for (let i = 0; i < count; i++) {
    if (((value >>> (count - 1 - i)) & 1) === 1) out[(at + i) >> 3]! |= 0x80 >> ((at + i) & 7);
  }
}

/** 2002:V4ADDR::/48 for a WAN address (RFC 3056 §2); null for a bad address. */
export function sixto4Prefix48(v4: string): string | null {
  const n = parseIpv4(v4);
  if (n === null) return null;
  const out = new Uint8Array(16);
  putBits(out, 0, 0x2002, 16);
  putBits(out, 16, n, 32);
  return `${formatIpv6(out)}/48`;
}

/**
 * The translated /64 (RFC 6732 §3.3, Figure 3): provider prefix P/L, then the low 32 - maskLen
 * bits of V4ADDR, then zeros (SLA 0) up to /64; null when it does not fit in 64 bits.
 */
export function translatedPrefix64(provider: string, v4: string, maskLen: number): string | null {
  const p = parseIpv6Prefix(provider);
  const n = parseIpv4(v4);
  const v4Bits = 32 - maskLen;
  if (p === null || n === null || maskLen < 0 || maskLen > 32 || p.len + v4Bits > 64) return null;
  const out = new Uint8Array(16);
  for (let bit = 0; bit < p.len; bit++) {
    if ((p.addr[bit >> 3]! & (0x80 >> (bit & 7))) !== 0) out[bit >> 3]! |= 0x80 >> (bit & 7);
  }
  putBits(out, p.len, v4Bits === 32 ? n : n & ((1 << v4Bits) - 1), v4Bits);
  return `${formatIpv6(out)}/64`;
}

/** RFC 5952 text of an address as tools print it uncompressed ("2001:0db8:0000::" -> "2001:db8::"). */
export function normIpv6(text: string): string {
  const b = parseIpv6(text);
  return b === null ? text : formatIpv6(b);
}

/**
 * The 6to4 form of a host address on the IPv4 wire: 2002:V4ADDR:SLA 0 + the host's interface
 * identifier (RFC 6732 Figure 3, the relay translates it back to the provider /64).
 */
export function sixto4Address(v4: string, host: string): string | null {
  const n = parseIpv4(v4);
  const h = parseIpv6(host);
  if (n === null || h === null) return null;
  const out = new Uint8Array(16);
  putBits(out, 0, 0x2002, 16);
  putBits(out, 16, n, 32);
  out.set(h.subarray(8), 8);
  return formatIpv6(out);
}
