/**
 * DHCPv4 option 212, OPTION_6RD (RFC 5969 §7.1.1), as the CPE's DHCP client hands it over.
 *
 * busybox udhcpc (the client OpenWrt uses) decodes the option itself and passes it to its script in
 * the environment variable `ip6rd` as "IPv4MaskLen 6rdPrefixLen 6rdPrefix 6rdBRIPv4Address...",
 * e.g. "8 32 2001:db8:: 192.0.2.254" (busybox networking/udhcp/dhcpc.c, OPTION_6RD). The OpenWrt
 * package's hook (/etc/udhcpc.user.d/6to4-pmt) and the lab's udhcpc script (lab/dhcp.ts) write a
 * small `key=value` lease file atomically; `DhcpLeaseWatcher` follows that file. For PMT the option's fields mean:
 * 6rdPrefix/6rdPrefixLen = provider prefix, IPv4MaskLen = ipv4_prefix_len, BR addresses = relays.
 */
import { unwatchFile, watchFile, readFileSync, type Stats } from "node:fs";
import { formatIpv4, parseIpv4 } from "../addr/ipv4.js";
import { formatIpv6Prefix, maskIpv6InPlace, parseIpv6, type Ipv6Prefix } from "../addr/ipv6.js";
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
 * IPv4MaskLen <= 32 and (32 - IPv4MaskLen) + 6rdPrefixLen <= 128, at least one BR address.
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
  const relays: number[] = [];
  for (const r of f.slice(3)) {
    const v4 = parseIpv4(r);
    if (v4 === null) throw new DecodeError(`OPTION_6RD: BR address "${r}" is not an IPv4 address`);
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
