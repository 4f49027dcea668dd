/**
 * The read-only status snapshot the CPE daemon publishes on its status socket and `6to4-pmt status`
 * prints (and the OpenWrt rpcd plugin relays to LuCI). Plain JSON: addresses as text, times as ISO
 * 8601 strings, lifetimes in seconds. Built by control/cpe-status.ts on request; never mutated.
 */
import { formatIsoUtc } from "../log/logger.js";

export { formatIsoUtc };

/** Where a value came from. */
export type ValueSource = "config" | "dhcp" | "derived" | "default" | "learned" | "none";

export interface Sourced<T> {
  readonly value: T;
  readonly source: ValueSource;
}

/**
 * Daemon state:
 * - `running`: WAN address usable, prefix advertised;
 * - `no-wan`: no WAN IPv4 address yet (nothing advertised);
 * - `refused`: WAN address unusable for 6to4 (RFC 6343 §4.1), see `stateReason`;
 * - `disabled`: enabled = 0 (RFC 7526 §5);
 * - `stopping`: final RAs being sent.
 */
export type DaemonState = "starting" | "running" | "no-wan" | "refused" | "disabled" | "stopping";

export interface WanStatus {
  readonly device: string | null;
  readonly ipv4: string | null;
  /** addr/classify.ts class of the address (global, shared, private, ...). */
  readonly ipv4Class: string | null;
  readonly ipv4Source: ValueSource;
  readonly mtu: number;
  readonly mtuSource: ValueSource;
}

export interface HealthStatus {
  readonly state: "unknown" | "up" | "down";
  readonly target: string | null;
  readonly intervalS: number;
  readonly failuresToWithdraw: number;
  readonly consecutiveFailures: number;
  readonly probesSent: number;
  readonly probesOk: number;
  readonly lastProbe: string | null;
  readonly lastOk: string | null;
  readonly lastChange: string | null;
  /** Round-trip time of the last answered probe, ms (null before the first answer). */
  readonly lastRttMs: number | null;
}

export interface RaPrefixStatus {
  readonly prefix: string;
  readonly preferredS: number;
  readonly validS: number;
  readonly deprecated: boolean;
  /** For deprecated prefixes: until when they are still advertised (RFC 9096 §3.5). */
  readonly deprecatedUntil: string | null;
}

export interface RaStatus {
  /** builtin | netifd | off (config `ra`). */
  readonly mode: string;
  readonly device: string;
  readonly sent: number;
  readonly solicitedSent: number;
  readonly lastSent: string | null;
  readonly nextUnsolicited: string | null;
  readonly routerLifetimeS: number;
  readonly preference: string;
  readonly mtu: number;
  readonly prefixes: readonly RaPrefixStatus[];
  /** Last reason nothing (or a prefix) was not advertised. */
  readonly notAdvertisedReason: string | null;
}

export interface DhcpStatus {
  readonly enabled: boolean;
  /** The last OPTION_6RD received, as text, or null. */
  readonly option6rd: string | null;
  readonly error: string | null;
  readonly updated: string | null;
}

export interface TunRouteStatus {
  readonly prefix: string;
  readonly installed: boolean;
  readonly error: string | null;
}

export type Ipv6Level = "works" | "degraded" | "down";

/** status/verdict.ts: whether IPv6 works through the CPE, in one line. */
export interface Ipv6Verdict {
  readonly level: Ipv6Level;
  /** One line: "IPv6 works: ...", "IPv6 degraded: ...", "IPv6 down: ...". */
  readonly line: string;
}

export interface DataplaneStatus {
  readonly mode: "kernel" | "userspace";
  readonly reason: string;
  readonly error: string | null;
}

/** `wan_send` of the userspace data plane (control/wan-next-hop.ts). */
export interface WanSendSnapshot {
  readonly configured: "raw" | "packet";
  /** What the packets to the relay use now. */
  readonly active: "raw" | "packet";
  readonly reason: string;
  readonly nextHop: { device: string; gateway: string; lladdr: string } | null;
  readonly packets: number;
  readonly fallbacks: number;
  readonly unresolved: number;
  readonly nextHopChanges: number;
  readonly resolves: number;
  /**
   * Wake-ups by the kernel's route and neighbour change events, each resolved at once; absent
   * when those are not watched (then only the periodic resolve notices a change).
   */
  readonly routeEvents?: number;
  /**
   * The relay: its last routing-table dump (routes read, null above the cap; of those, the ones
   * that meet a customer range; milliseconds the dump and cut took) and how often the periodic
   * resolve dumps (control/relay-wan-send.ts).
   */
  readonly routes?: {
    readonly count: number | null;
    readonly kept?: number;
    readonly ms: number;
    readonly everyS: number;
  };
}

export interface StatusSnapshot {
  readonly version: string;
  readonly pid: number;
  readonly started: string;
  readonly uptimeS: number;
  readonly state: DaemonState;
  readonly stateReason: string | null;
  readonly wan: WanStatus;
  /** 2002:V4ADDR::/48 (RFC 3056 §2). */
  readonly sixto4Prefix: string | null;
  /** The /64 the LAN gets: translated provider /64 in PMT mode, 2002:V4ADDR:SLA::/64 otherwise. */
  readonly lanPrefix: string | null;
  /** The translated (PMT) /64, null in plain 6to4 mode (RFC 6732 §3.3). */
  readonly translatedPrefix: string | null;
  readonly providerPrefix: Sourced<string | null>;
  readonly ipv4PrefixLen: Sourced<number>;
  readonly relays: Sourced<readonly string[]>;
  readonly relayInUse: string | null;
  readonly tunnelMtu: number;
  readonly dhcp: DhcpStatus;
  readonly health: HealthStatus;
  readonly ra: RaStatus;
  /**
   * The routes into the TUN (default_route, 2002::/16): installed only while the data plane
   * forwards; `error` names why a wanted one is missing (retried). Absent from older daemons.
   */
  readonly tunRoutes?: readonly TunRouteStatus[];
  /**
   * Who forwards: `kernel` (sit + nft table, control/kernel-path.ts) or `userspace` (TUN), and
   * why (the `dataplane` option, or what auto found); `error` names a failure to program the
   * kernel (retried). Absent from older daemons.
   */
  readonly dataplane?: DataplaneStatus;
  /** The WAN send path (`wan_send`): absent with raw, the default, and from older daemons. */
  readonly wanSend?: WanSendSnapshot;
  /** Whether IPv6 works, in one line (status/verdict.ts). Absent from older daemons. */
  readonly ipv6?: Ipv6Verdict;
  /** Counters by reason: RS/RA handling and the data plane's drop reasons (non-zero ones). */
  readonly counters: Readonly<Record<string, number>>;
}

/** ISO text of a wall-clock ms value, or null (log/logger.ts formatIsoUtc: no ICU time zone lookup). */
export function isoOrNull(ms: number | null | undefined): string | null {
  return ms === null || ms === undefined ? null : formatIsoUtc(ms);
}
