/**
 * The read-only status snapshot the relay publishes on its status socket (cli/relay-status.ts)
 * and `6to4-pmt status` prints (cli/status.ts). Plain JSON: addresses and prefixes as text,
 * times in seconds; `role: "relay"` tells it from the CPE's (status/snapshot.ts).
 */
import type { WorkerCounters } from "../dataplane/counters.js";
import type { WanSendSnapshot } from "./snapshot.js";

/** `running` while the data plane forwards; `stopping` once SIGTERM/SIGINT arrived. */
export type RelayState = "running" | "stopping";

export interface RelayStatusSnapshot {
  readonly role: "relay";
  readonly state: RelayState;
  readonly version: string;
  readonly pid: number;
  readonly uptimeS: number;
  /** Addresses protocol 41 is received on; the first is the source of what the relay sends. */
  readonly relayIpv4: readonly string[];
  /** Devices read through AF_PACKET (packet_receive, control/packet-receive.ts); empty: none. */
  readonly packetReceive: readonly string[];
  /** `wan_send packet` (control/relay-wan-send.ts): the first worker's send path; absent with raw. */
  readonly wanSend?: WanSendSnapshot;
  readonly tun: { readonly name: string; readonly mtu: number; readonly address: string };
  /** The provider prefix (PMT) or null (a plain 6to4 relay, RFC 3068). */
  readonly providerPrefix: string | null;
  readonly ipv4PrefixLen: number;
  readonly sla: number;
  /** Routed into the TUN: the provider prefix and 2002::/16 (the return path). */
  readonly routes: readonly string[];
  /** The customer policy in one line (addr/pmt-customers.ts describePmtCustomerPolicy). */
  readonly customerPolicy: string;
  readonly customerIpv4: readonly string[];
  readonly pmtCustomerIpv4: readonly string[];
  readonly optOut: readonly string[];
  readonly nonCustomer: "relay" | "drop";
  readonly otherRelays: readonly string[];
  /**
   * The anycast announcement (announce_ipv4, control/relay-announce.ts), or null without it
   * (static routes into the TUN).
   */
  readonly announce: RelayAnnounceStatus | null;
  /** `http://address:port/metrics`, or null without metrics_port. */
  readonly metrics: string | null;
  /** The data plane's counters (dataplane/counters.ts names): traffic, drops, offload. */
  readonly counters: {
    readonly traffic: Readonly<Record<string, number>>;
    readonly drops: Readonly<Record<string, number>>;
    readonly offload?: Readonly<Record<string, number>>;
    /** Per PMT customer range: packets and IPv6 bytes in (from its sites) and out (to them). */
    readonly customers?: readonly {
      readonly range: string;
      readonly in_packets: number;
      readonly in_bytes: number;
      readonly out_packets: number;
      readonly out_bytes: number;
    }[];
    /** Option workers > 1: each worker thread's share (its customers in, its TUN queue out). */
    readonly workers?: readonly WorkerCounters[];
  };
}

/** The announcer's health as the status shows it. */
export interface RelayAnnounceStatus {
  /** `announced`: the routes are in the TUN with kernel protocol 41 (BIRD exports them). */
  readonly state: "announced" | "withdrawn";
  readonly reason: string;
  /** When `state` began (ISO 8601 UTC), and how many seconds ago. */
  readonly since: string;
  readonly sinceS: number;
  readonly routes: readonly string[];
  /** Announcements and withdrawals since the start. */
  readonly changes: number;
  /** Failed route commands, unsent probes, upstream losses since the start. */
  readonly errors: number;
  readonly lastError: {
    readonly message: string;
    readonly at: string;
    readonly agoS: number;
  } | null;
  /** The IPv6 upstream probed (health_target), or null without one. */
  readonly upstream: {
    readonly target: string | null;
    readonly state: string;
    readonly lastRttMs: number | null;
  } | null;
}

/** Whether a status answer is the relay's. */
export function isRelaySnapshot(o: object): o is RelayStatusSnapshot {
  return (o as { role?: unknown }).role === "relay";
}
