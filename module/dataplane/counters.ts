/**
 * Data-plane counters: packets and bytes each way, and every drop by reason.
 *
 * One preallocated Float64Array per daemon (a double counts exactly up to 2^53, so no wrap in
 * practice); the hot path does `counters.drops[reason]++`, nothing else. Readers (status, metrics)
 * take a copy with `snapshot()` off the hot path.
 */
import { DROP_REASON_COUNT, DROP_REASON_NAMES, type DropReason } from "../addr/drop-reason.js";

/** Indices into `DataplaneCounters.traffic`. "Out" = LAN/Internet -> tunnel, "in" = tunnel -> TUN. */
export const CTR_OUT_PACKETS = 0; // IPv6 packets encapsulated and sent (CPE: to relay/peer; relay: to customer)
export const CTR_OUT_BYTES = 1; // IPv6 bytes of those (without the 20-byte IPv4 header)
export const CTR_IN_PACKETS = 2; // protocol-41 packets decapsulated and written to the TUN
export const CTR_IN_BYTES = 3;
export const CTR_ICMP_SENT = 4; // ICMPv6 errors / echo replies we generated
export const CTR_ICMP_RATE_LIMITED = 5; // ICMPv6 errors suppressed by the rate limit (RFC 6343 §4.4)
export const CTR_TRANSLATED = 6; // packets whose addresses were PMT-translated (RFC 6732 §3.3)
export const CTR_UNTRANSLATED = 7; // relayed as plain 6to4 (unmapped SLA / opt-out, RFC 6732 §3.2)
export const CTR_BATCHES_OUT = 8; // TUN read batches (ratio packets/batches = batch fill)
export const CTR_BATCHES_IN = 9; // raw-socket read batches
const TRAFFIC_COUNTER_NAMES: readonly string[] = [
  "out_packets",
  "out_bytes",
  "in_packets",
  "in_bytes",
  "icmp_sent",
  "icmp_rate_limited",
  "translated",
  "untranslated",
  "batches_out",
  "batches_in",
];

export class DataplaneCounters {
  /** Indexed by CTR_*. */
  readonly traffic = new Float64Array(TRAFFIC_COUNTER_NAMES.length);
  /** Indexed by DropReason (DROP_NONE unused). */
  readonly drops = new Float64Array(DROP_REASON_COUNT);

  /** Counts one drop (hot path). */
  drop(reason: DropReason): void {
    this.drops[reason]!++;
  }

  /** Plain-object copy for status/metrics/tests: `{ traffic: {name: n}, drops: {name: n} }`. */
  snapshot(): CountersSnapshot {
    const traffic: Record<string, number> = {};
    for (let i = 0; i < TRAFFIC_COUNTER_NAMES.length; i++) {
      traffic[TRAFFIC_COUNTER_NAMES[i]!] = this.traffic[i]!;
    }
    const drops: Record<string, number> = {};
    for (let i = 1; i < DROP_REASON_COUNT; i++) {
      drops[DROP_REASON_NAMES[i]!] = this.drops[i]!;
    }
    return { traffic, drops };
  }

  /** Sum of all drops. */
  totalDrops(): number {
    let n = 0;
    for (let i = 1; i < this.drops.length; i++) n += this.drops[i]!;
    return n;
  }
}

export interface CountersSnapshot {
  traffic: Record<string, number>;
  drops: Record<string, number>;
  /** TCP/UDP offload over the TUN (io/ports.ts offloadStats), when it is on. */
  offload?: Record<string, number>;
}

/** Offload counter names as exported (snake case of io/ports.ts TunOffloadStats). */
export const OFFLOAD_COUNTER_NAMES = {
  superPacketsRead: "super_packets_read",
  segmentsCut: "segments_cut",
  checksumsCompleted: "checksums_completed",
  dropped: "dropped",
  superPacketsWritten: "super_packets_written",
  packetsCoalesced: "packets_coalesced",
  oversizedSplit: "oversized_split",
} as const;

/** Prometheus text exposition (version 0.0.4) of a snapshot, prefixed `sixto4pmt_`. */
export function formatPrometheus(role: string, s: CountersSnapshot): string {
  const lines: string[] = [];
  lines.push("# HELP sixto4pmt_traffic_total Data-plane packets/bytes/events by counter.");
  lines.push("# TYPE sixto4pmt_traffic_total counter");
  for (const [name, v] of Object.entries(s.traffic)) {
    lines.push(`sixto4pmt_traffic_total{role="${role}",counter="${name}"} ${v}`);
  }
  lines.push("# HELP sixto4pmt_drops_total Packets dropped, by reason.");
  lines.push("# TYPE sixto4pmt_drops_total counter");
  for (const [name, v] of Object.entries(s.drops)) {
    lines.push(`sixto4pmt_drops_total{role="${role}",reason="${name}"} ${v}`);
  }
  if (s.offload !== undefined) {
    lines.push(
      "# HELP sixto4pmt_tun_offload_total TUN offload: super-packets cut on read, coalesced on write; WAN packets merged by GRO.",
    );
    lines.push("# TYPE sixto4pmt_tun_offload_total counter");
    for (const [name, v] of Object.entries(s.offload)) {
      lines.push(`sixto4pmt_tun_offload_total{role="${role}",counter="${name}"} ${v}`);
    }
  }
  return lines.join("\n") + "\n";
}
