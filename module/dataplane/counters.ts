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

/** Slots per PMT customer range in `DataplaneCounters.ranges` (relay). */
export const RANGE_IN_PACKETS = 0; // decapsulated from the range's sites and written to the TUN
export const RANGE_IN_BYTES = 1;
export const RANGE_OUT_PACKETS = 2; // encapsulated toward the range's sites
export const RANGE_OUT_BYTES = 3;
export const RANGE_SLOTS = 4;

/** Indices into `DataplaneCounters.wan`. */
const WAN_BACKPRESSURE = 0;
const WAN_PAUSED_MS = 1;
const WAN_SLOTS = 2;

/** Traffic of one PMT customer range (relay), as status and metrics show it. */
export interface RangeCounters {
  readonly range: string;
  readonly in_packets: number;
  readonly in_bytes: number;
  readonly out_packets: number;
  readonly out_bytes: number;
}

export class DataplaneCounters {
  /** Indexed by CTR_*. */
  readonly traffic: Float64Array;
  /** Indexed by DropReason (DROP_NONE unused). */
  readonly drops: Float64Array;
  /**
   * Relay: RANGE_SLOTS per PMT customer range, indexed by `range * RANGE_SLOTS + RANGE_*` with
   * the range number addr/pmt-customers.ts `pmtSiteRange` finds in the customer lookup the
   * packet needs anyway. Sized once by `sizeRanges` (control plane); empty on the CPE.
   */
  ranges: Float64Array;
  /**
   * Backpressure on the WAN send socket (loops.ts), [WAN_BACKPRESSURE] times the TUN was left
   * unread because the socket could take no more and [WAN_PAUSED_MS] the milliseconds it stayed
   * so (status: traffic `wan_backpressure`, `wan_paused_ms`, shown once non-zero). In the
   * backing, so a relay worker's pauses reach the main thread's sum too.
   */
  readonly wan: Float64Array;

  /**
   * `backing` (the relay's workers): the counters live in it, laid out as traffic, drops, the
   * two WAN backpressure numbers, then the ranges (`DataplaneCounters.length(ranges)` numbers),
   * so that a Float64Array over a SharedArrayBuffer lets the main thread read a worker's
   * counters without asking it.
   */
  constructor(backing?: Float64Array) {
    const t = TRAFFIC_COUNTER_NAMES.length;
    const d = t + DROP_REASON_COUNT;
    if (backing === undefined) {
      this.traffic = new Float64Array(t);
      this.drops = new Float64Array(DROP_REASON_COUNT);
      this.wan = new Float64Array(WAN_SLOTS);
      this.ranges = new Float64Array(0);
    } else {
      this.traffic = backing.subarray(0, t);
      this.drops = backing.subarray(t, d);
      this.wan = backing.subarray(d, d + WAN_SLOTS);
      this.ranges = backing.subarray(d + WAN_SLOTS);
    }
  }

  get wanBackpressure(): number {
    return this.wan[WAN_BACKPRESSURE]!;
  }
  set wanBackpressure(n: number) {
    this.wan[WAN_BACKPRESSURE] = n;
  }
  get wanPausedMs(): number {
    return this.wan[WAN_PAUSED_MS]!;
  }
  set wanPausedMs(ms: number) {
    this.wan[WAN_PAUSED_MS] = ms;
  }

  /** Numbers a `backing` holds for `ranges` PMT customer ranges. */
  static length(ranges: number): number {
    return TRAFFIC_COUNTER_NAMES.length + DROP_REASON_COUNT + WAN_SLOTS + ranges * RANGE_SLOTS;
  }

  /** Adds `other`'s counters to these (same number of ranges; off the hot path). */
  add(other: DataplaneCounters): void {
    for (let i = 0; i < this.traffic.length; i++) this.traffic[i]! += other.traffic[i]!;
    for (let i = 0; i < this.drops.length; i++) this.drops[i]! += other.drops[i]!;
    for (let i = 0; i < WAN_SLOTS; i++) this.wan[i]! += other.wan[i]!;
    const n = Math.min(this.ranges.length, other.ranges.length);
    for (let i = 0; i < n; i++) this.ranges[i]! += other.ranges[i]!;
  }

  /** Makes room for `n` ranges (counts restart at 0 when the number changes). */
  sizeRanges(n: number): void {
    if (this.ranges.length !== n * RANGE_SLOTS) this.ranges = new Float64Array(n * RANGE_SLOTS);
  }

  /** The per-range counters with their names (`names[i]` = range i), off the hot path. */
  rangeSnapshot(names: readonly string[]): RangeCounters[] {
    const out: RangeCounters[] = [];
    const r = this.ranges;
    for (let i = 0; i < names.length && (i + 1) * RANGE_SLOTS <= r.length; i++) {
      const b = i * RANGE_SLOTS;
      out.push({
        range: names[i]!,
        in_packets: r[b + RANGE_IN_PACKETS]!,
        in_bytes: r[b + RANGE_IN_BYTES]!,
        out_packets: r[b + RANGE_OUT_PACKETS]!,
        out_bytes: r[b + RANGE_OUT_BYTES]!,
      });
    }
    return out;
  }

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
    if (this.wanBackpressure > 0) {
      traffic.wan_backpressure = this.wanBackpressure;
      traffic.wan_paused_ms = Math.round(this.wanPausedMs);
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
  /** Relay: traffic per PMT customer range (pmt_customer_ipv4), when there are any. */
  customers?: RangeCounters[];
  /** Relay with more than one worker (option workers): each worker's share of the traffic. */
  workers?: WorkerCounters[];
}

/** One relay worker's traffic (its share of `CountersSnapshot.traffic`). */
export interface WorkerCounters {
  readonly worker: number;
  /** The worker's thread id (`top -H`, /proc/<pid>/task/<tid>); 0 before it reported. */
  readonly tid: number;
  readonly in_packets: number;
  readonly out_packets: number;
  readonly batches_in: number;
  readonly batches_out: number;
  readonly drops: number;
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

/** Entries of `traffic` that are levels, not counts: exported as gauges of their own. */
const TRAFFIC_GAUGES: Readonly<Record<string, string>> = {
  wan_send_intervals:
    "Customer address intervals the relay sends to over AF_PACKET (wan_send packet).",
};

/** Prometheus text exposition (version 0.0.4) of a snapshot, prefixed `sixto4pmt_`. */
export function formatPrometheus(role: string, s: CountersSnapshot): string {
  const lines: string[] = [];
  lines.push("# HELP sixto4pmt_traffic_total Data-plane packets/bytes/events by counter.");
  lines.push("# TYPE sixto4pmt_traffic_total counter");
  for (const [name, v] of Object.entries(s.traffic)) {
    if (name in TRAFFIC_GAUGES) continue;
    lines.push(`sixto4pmt_traffic_total{role="${role}",counter="${name}"} ${v}`);
  }
  for (const [name, help] of Object.entries(TRAFFIC_GAUGES)) {
    const v = s.traffic[name];
    if (v === undefined) continue;
    lines.push(`# HELP sixto4pmt_${name} ${help}`, `# TYPE sixto4pmt_${name} gauge`);
    lines.push(`sixto4pmt_${name}{role="${role}"} ${v}`);
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
  if (s.customers !== undefined && s.customers.length > 0) {
    lines.push(
      "# HELP sixto4pmt_customer_range_packets_total Packets from (in) and to (out) the sites of each PMT customer range.",
    );
    lines.push("# TYPE sixto4pmt_customer_range_packets_total counter");
    for (const c of s.customers) {
      lines.push(
        `sixto4pmt_customer_range_packets_total{role="${role}",range="${c.range}",direction="in"} ${c.in_packets}`,
        `sixto4pmt_customer_range_packets_total{role="${role}",range="${c.range}",direction="out"} ${c.out_packets}`,
      );
    }
    lines.push(
      "# HELP sixto4pmt_customer_range_bytes_total IPv6 bytes from (in) and to (out) the sites of each PMT customer range.",
    );
    lines.push("# TYPE sixto4pmt_customer_range_bytes_total counter");
    for (const c of s.customers) {
      lines.push(
        `sixto4pmt_customer_range_bytes_total{role="${role}",range="${c.range}",direction="in"} ${c.in_bytes}`,
        `sixto4pmt_customer_range_bytes_total{role="${role}",range="${c.range}",direction="out"} ${c.out_bytes}`,
      );
    }
  }
  if (s.workers !== undefined && s.workers.length > 0) {
    lines.push(
      "# HELP sixto4pmt_worker_packets_total Packets each relay worker decapsulated (in) and encapsulated (out).",
    );
    lines.push("# TYPE sixto4pmt_worker_packets_total counter");
    for (const w of s.workers) {
      lines.push(
        `sixto4pmt_worker_packets_total{role="${role}",worker="${w.worker}",direction="in"} ${w.in_packets}`,
        `sixto4pmt_worker_packets_total{role="${role}",worker="${w.worker}",direction="out"} ${w.out_packets}`,
      );
    }
  }
  return lines.join("\n") + "\n";
}
