/**
 * IPv6 address and prefix values. An IPv6 address is 16 bytes in a Uint8Array (a Buffer works too);
 * hot-path code reads addresses in place from the packet at (buf, off) and never builds strings.
 * Parsing and formatting are control-plane only; parsing returns `null` on bad input.
 */

/** An IPv6 prefix: `addr` (16 bytes) has every bit past `len` cleared, 0 <= len <= 128. */
export interface Ipv6Prefix {
  readonly addr: Uint8Array;
  readonly len: number;
}

const IPV6_ADDRESS_BYTES = 16;

const HEX_GROUP = /^[0-9a-fA-F]{1,4}$/;
const DOTTED_QUAD =
  /^(?:(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])\.){3}(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9]?[0-9])$/;

/** Parses one side of `::` into 16-bit groups; a trailing dotted quad counts as two groups. */
function parseGroups(text: string, allowDottedTail: boolean): number[] | null {
  if (text === "") return [];
  const parts = text.split(":");
  const groups: number[] = [];
  for (let i = 0; i < parts.length; i++) {
    const part = parts[i]!;
    if (allowDottedTail && i === parts.length - 1 && part.includes(".")) {
      if (!DOTTED_QUAD.test(part)) return null;
      const o = part.split(".").map(Number);
      groups.push((o[0]! << 8) | o[1]!, (o[2]! << 8) | o[3]!);
    } else {
      if (!HEX_GROUP.test(part)) return null;
      groups.push(parseInt(part, 16));
    }
  }
  return groups;
}

/**
 * Parses an IPv6 address in any RFC 4291 §2.2 text form (`::` compression, trailing dotted quad).
 * Zone identifiers (`%eth0`) are rejected: no option of this program takes a scoped address.
 */
export function parseIpv6(s: string): Uint8Array | null {
  if (s.length === 0 || s.length > 45) return null;
  const dbl = s.indexOf("::");
  let groups: number[];
  if (dbl < 0) {
    const g = parseGroups(s, true);
    if (g === null || g.length !== 8) return null;
    groups = g;
  } else {
    if (s.indexOf("::", dbl + 1) >= 0) return null;
    const head = parseGroups(s.slice(0, dbl), false);
    const tail = parseGroups(s.slice(dbl + 2), true);
    if (head === null || tail === null) return null;
    const missing = 8 - head.length - tail.length;
    if (missing < 1) return null; // `::` stands for at least one zero group (RFC 4291 §2.2)
    groups = [...head, ...new Array<number>(missing).fill(0), ...tail];
  }
  const out = new Uint8Array(IPV6_ADDRESS_BYTES);
  for (let i = 0; i < 8; i++) {
    out[2 * i] = groups[i]! >>> 8;
    out[2 * i + 1] = groups[i]! & 0xff;
  }
  return out;
}

/**
 * Formats 16 bytes at `off` in the RFC 5952 §4 canonical form: lower-case hex, no leading zeros,
 * the longest run of two or more zero groups shortened to `::` (the first one on a tie), a single
 * zero group never shortened. IPv4-mapped addresses (::ffff:0:0/96) use the mixed notation that
 * RFC 5952 §5 recommends (`::ffff:192.0.2.1`); other addresses stay all-hex (6to4 included).
 */
export function formatIpv6(bytes: Uint8Array, off = 0): string {
  const g: number[] = [];
  for (let i = 0; i < 8; i++) g.push((bytes[off + 2 * i]! << 8) | bytes[off + 2 * i + 1]!);
  if (g[0] === 0 && g[1] === 0 && g[2] === 0 && g[3] === 0 && g[4] === 0 && g[5] === 0xffff) {
    return `::ffff:${bytes[off + 12]}.${bytes[off + 13]}.${bytes[off + 14]}.${bytes[off + 15]}`;
  }
  let bestStart = -1;
  let bestLen = 0;
  for (let i = 0; i < 8;) {
    if (g[i] !== 0) {
      i++;
      continue;
    }
    let j = i;
    while (j < 8 && g[j] === 0) j++;
    if (j - i > bestLen) {
      bestStart = i;
      bestLen = j - i;
    }
    i = j;
  }
  const hex = (a: number[]): string => a.map((x) => x.toString(16)).join(":");
  if (bestLen < 2) return hex(g);
  return `${hex(g.slice(0, bestStart))}::${hex(g.slice(bestStart + bestLen))}`;
}

/** Clears every bit of the 16 bytes at `off` past `len`, in place. */
export function maskIpv6InPlace(bytes: Uint8Array, len: number, off = 0): void {
  for (let i = 0; i < IPV6_ADDRESS_BYTES; i++) {
    const bitsHere = len - 8 * i;
    if (bitsHere >= 8) continue;
    bytes[off + i] = bitsHere <= 0 ? 0 : bytes[off + i]! & ((0xff << (8 - bitsHere)) & 0xff);
  }
}

/**
 * Parses `addr/len` (0 <= len <= 128); a bare address is a /128. Host bits past `len` are accepted
 * and cleared (`2001:db8::1/32` -> 2001:db8::/32), as `ip -6 route` does: the operator means the
 * network, and rejecting it would only add friction. The returned `addr` is a fresh copy.
 */
export function parseIpv6Prefix(s: string): Ipv6Prefix | null {
  const slash = s.indexOf("/");
  const addr = parseIpv6(slash < 0 ? s : s.slice(0, slash));
  if (addr === null) return null;
  let len = 128;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]{0,2})$/.test(lenText)) return null;
    len = Number(lenText);
    if (len > 128) return null;
  }
  maskIpv6InPlace(addr, len);
  return { addr, len };
}

/** `addr/len` with the address in RFC 5952 form. */
export function formatIpv6Prefix(p: Ipv6Prefix): string {
  return `${formatIpv6(p.addr)}/${p.len}`;
}

/** Whether the 16 bytes at (buf, off) lie inside prefix `p`. Allocation-free. */
export function ipv6InPrefix(buf: Uint8Array, off: number, p: Ipv6Prefix): boolean {
  const full = p.len >>> 3;
  for (let i = 0; i < full; i++) if (buf[off + i] !== p.addr[i]) return false;
  const rest = p.len & 7;
  if (rest === 0) return true;
  const mask = (0xff << (8 - rest)) & 0xff;
  return (buf[off + full]! & mask) === p.addr[full];
}

/** Whether two 16-byte addresses are equal. Allocation-free. */
export function ipv6Equal(a: Uint8Array, aOff: number, b: Uint8Array, bOff: number): boolean {
  for (let i = 0; i < IPV6_ADDRESS_BYTES; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}
