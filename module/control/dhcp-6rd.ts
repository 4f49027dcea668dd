/**
 * DHCPv4 option 212, OPTION_6RD (RFC 5969 §7.1.1), as the CPE's DHCP client hands it over.
 *
 * busybox udhcpc (the client OpenWrt uses) decodes the option itself and passes it to its script in
 * the environment variable `ip6rd` as "IPv4MaskLen 6rdPrefixLen 6rdPrefix 6rdBRIPv4Address...",
 * e.g. "8 32 2001:db8:: 192.0.2.254" (busybox networking/udhcp/dhcpc.c, OPTION_6RD). The OpenWrt
 * package's hook (/etc/udhcpc.user.d/6to4-pmt) and the lab's udhcpc script (lab/dhcp.ts) write a
 * small `key=value` lease file atomically; `DhcpLeaseWatcher` follows that file. For PMT the option's fields mean:
 * 6rdPrefix/6rdPrefixLen = provider prefix, IPv4MaskLen = ipv4_prefix_len, BR addresses = relays.
 *
 * The DHCP server is not trusted: only "a valid 6rd DHCP option" configures 6rd (RFC 5969 §7.1.1).
 * An option is refused as a whole (as if absent; the reason goes to status and the log) when a
 * field is out of range, when it lists more than MAX_RELAYS BR addresses or one that is not a
 * unicast address (0.0.0.0/8, loopback, link-local, multicast, reserved, broadcast;
 * `parseIp6rdText`), and, once the WAN and the configuration are known, when a BR is
 * private/shared space outside allow_ipv4 or the CPE's own WAN address (`vetSixRdLease`,
 * addr/peer-check.ts): the data plane would drop every packet to such a relay, or loop it back
 * to ourselves.
 */
import { unwatchFile, watchFile, readFileSync, type Stats } from "node:fs";
import { formatIpv4, parseIpv4, type Ipv4Prefix } from "../addr/ipv4.js";
import { formatIpv6Prefix, maskIpv6InPlace, parseIpv6, type Ipv6Prefix } from "../addr/ipv6.js";
import { MAX_RELAYS, neverUnicastRange, relayListProblem } from "../addr/peer-check.js";
import { DecodeError } from "../codec/decode-error.js";

/** Where the hook writes and the daemon reads, unless both are told otherwise (PMT_DHCP_FILE). */
export const DHCP_LEASE_FILE_DEFAULT = "/var/run/6to4-pmt.dhcp";

/** How often the lease file is checked (stat polling works whatever the file system). */
const DHCP_LEASE_POLL_MS = 500;

/** OPTION_6RD's fields as the lease reports them (the codec's SixRdOption is the wire form). */
interface SixRdLease {
  /** IPv4MaskLen, 0..32. */
  readonly ipv4MaskLen: number;
  /** 6rdPrefix/6rdPrefixLen, host bits cleared (RFC 5969 §7.1.1: "ignored by the receiver"). */
  readonly prefix: Ipv6Prefix;
  /** 6rdBRIPv4Address(es), at least one. */
  readonly relays: readonly number[];
}

/** What the hook reported from the last DHCP event. */
export interface DhcpLease {
  /** The WAN device udhcpc runs on. */
  readonly interface: string | null;
  /** The leased IPv4 address. */
  readonly ip: number | null;
  /** OPTION_6RD when the server sent a valid one. */
  readonly sixrd: SixRdLease | null;
  /** Why a present option was rejected (for the log and status). */
  readonly sixrdError: string | null;
}

/**
 * Parses busybox's `ip6rd` text. Throws DecodeError naming the bad field; enforces RFC 5969 §7.1.1:
 * IPv4MaskLen <= 32 and (32 - IPv4MaskLen) + 6rdPrefixLen <= 128, at least one BR address; and
 * at most MAX_RELAYS BR addresses, each one that can be a unicast 6to4 peer (RFC 3964 §5.3.1).
 */
export function parseIp6rdText(text: string): SixRdLease {
  const f = text.trim().split(/\s+/);
  if (f.length < 4) {
    throw new DecodeError(
      `OPTION_6RD: expected "IPv4MaskLen 6rdPrefixLen 6rdPrefix BR...", got "${text}"`,
    );
  }
  const maskLen = smallInt(f[0]!, "IPv4MaskLen");
  const prefixLen = smallInt(f[1]!, "6rdPrefixLen");
  if (maskLen > 32) throw new DecodeError(`OPTION_6RD: IPv4MaskLen ${maskLen} > 32`);
  if (prefixLen > 128) throw new DecodeError(`OPTION_6RD: 6rdPrefixLen ${prefixLen} > 128`);
  if (32 - maskLen + prefixLen > 128) {
    throw new DecodeError(
      `OPTION_6RD: (32 - IPv4MaskLen) + 6rdPrefixLen = ${32 - maskLen + prefixLen} > 128`,
    );
  }
  const addr = parseIpv6(f[2]!);
  if (!addr) throw new DecodeError(`OPTION_6RD: 6rdPrefix "${f[2]}" is not an IPv6 address`);
  maskIpv6InPlace(addr, prefixLen);
  const brs = f.slice(3);
  if (brs.length > MAX_RELAYS) {
    throw new DecodeError(`OPTION_6RD: ${brs.length} BR addresses, more than ${MAX_RELAYS}`);
  }
  const relays: number[] = [];
  for (const r of brs) {
    const v4 = parseIpv4(r);
    if (v4 === null) throw new DecodeError(`OPTION_6RD: BR address "${r}" is not an IPv4 address`);
    const never = neverUnicastRange(v4);
    if (never !== null) {
      throw new DecodeError(
        `OPTION_6RD: BR address ${r} is ${never.cls} (${never.rfc}), not a unicast 6to4 relay`,
      );
    }
    relays.push(v4);
  }
  return { ipv4MaskLen: maskLen, prefix: { addr, len: prefixLen }, relays };
}

/** Parses the hook's lease file (`key=value` lines; unknown keys ignored). Never throws. */
export function parseLeaseFile(text: string): DhcpLease {
  const kv = new Map<string, string>();
  for (const line of text.split("\n")) {
    const eq = line.indexOf("=");
    if (eq > 0) kv.set(line.slice(0, eq).trim(), line.slice(eq + 1).trim());
  }
  const ipText = kv.get("ip") ?? "";
  const raw = kv.get("ip6rd") ?? "";
  let sixrd: SixRdLease | null = null;
  let sixrdError: string | null = null;
  if (raw !== "") {
    try {
      sixrd = parseIp6rdText(raw);
    } catch (e) {
      sixrdError = (e as Error).message;
    }
  }
  return {
    interface: kv.get("interface") || null,
    ip: ipText === "" ? null : parseIpv4(ipText),
    sixrd,
    sixrdError,
  };
}

/** What `vetSixRdLease` checks the BR addresses against. */
export interface LeaseVetContext {
  /** The CPE's WAN address as learned (or wan_ipv4); null while unknown. */
  readonly wanIpv4: number | null;
  /** allow_ipv4. */
  readonly allowIpv4: readonly Ipv4Prefix[];
}

/**
 * The lease as the CPE may use it: `lease` itself, or, when a BR address of its option 212 is
 * private/shared space outside allow_ipv4 or the CPE's own address (the WAN's, or the leased
 * `ip`), a copy without the option and with the reason in `sixrdError` (RFC 3964 §5.3.1: the
 * data plane would drop every packet to it; RFC 3964 §5.1: never tunnel to ourselves).
 */
export function vetSixRdLease(lease: DhcpLease, ctx: LeaseVetContext): DhcpLease {
  if (lease.sixrd === null) return lease;
  const own = [ctx.wanIpv4, lease.ip].filter((a): a is number => a !== null);
  const problem = relayListProblem(lease.sixrd.relays, {
    ownIpv4: own,
    allowIpv4: ctx.allowIpv4,
    allowName: "allow_ipv4",
  });
  if (problem === null) return lease;
  return { ...lease, sixrd: null, sixrdError: `OPTION_6RD: BR address ${problem}` };
}

/** A short text form for logs and status: `2001:db8::/32 mask 8 relays 192.0.2.254`. */
export function sixRdKey(o: SixRdLease | null): string {
  if (!o) return "none";
  const relays = o.relays.map(formatIpv4).join(",");
  return `${formatIpv6Prefix(o.prefix)} mask ${o.ipv4MaskLen} relays ${relays}`;
}

function smallInt(s: string, field: string): number {
  if (!/^[0-9]{1,3}$/.test(s)) throw new DecodeError(`OPTION_6RD: ${field} "${s}" is not a number`);
  return Number(s);
}

/**
 * Follows the lease file: calls `onChange(lease | null)` whenever its contents change (null = file
 * gone, i.e. the lease was deconfigured). `stop()` removes the stat watcher.
 */
export class DhcpLeaseWatcher {
  private readonly path: string;
  private readonly onChange: (lease: DhcpLease | null) => void;
  private lastText: string | null = null;
  private running = false;
  private readonly listener = (_cur: Stats, _prev: Stats): void => this.check();

  constructor(path: string, onChange: (lease: DhcpLease | null) => void) {
    this.path = path;
    this.onChange = onChange;
  }

  /** Reads the file now (synchronously reporting its state) and starts following it. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.check(true);
    watchFile(this.path, { interval: DHCP_LEASE_POLL_MS, persistent: false }, this.listener);
  }

  stop(): void {
    if (!this.running) return;
    this.running = false;
    unwatchFile(this.path, this.listener);
  }

  /** Re-reads the file (also called by the status socket's `reload` and by tests). */
  check(force = false): void {
    let text: string | null;
    try {
      text = readFileSync(this.path, "utf8");
    } catch {
      text = null;
    }
    if (!force && text === this.lastText) return;
    this.lastText = text;
    this.onChange(text === null ? null : parseLeaseFile(text));
  }
}
