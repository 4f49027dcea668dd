/**
 * How well a daemon batched during part of a bench run (bench only), from two snapshots of its
 * counters (dataplane/counters.ts): packets per read batch each way, and the TUN offload's
 * segments per super-packet read and packets per super-packet written. Run-to-run differences in
 * CPU per packet on one machine come largely from these: the same work is shared by fewer
 * packets when batches and super-packets are small.
 */
import type { Counters } from "./dataplane-harness.js";

export interface BatchingFigures {
  /** Packets sent on per TUN read batch (out_packets / batches_out). */
  outPerBatch: number;
  /** Packets written to the TUN per raw-socket read batch (in_packets / batches_in). */
  inPerBatch: number;
  /** TCP segments cut per super-packet read from the TUN (NaN when none was read). */
  segmentsPerSuperRead: number;
  /** Packets coalesced per super-packet written to the TUN (NaN when none was written). */
  packetsPerSuperWrite: number;
}

/** (b[num] - a[num]) / (b[den] - a[den]) of one counter group; NaN when den did not move. */
function per(
  a: Record<string, number> | undefined,
  b: Record<string, number> | undefined,
  num: string,
  den: string,
): number {
  const d = (b?.[den] ?? 0) - (a?.[den] ?? 0);
  return d > 0 ? ((b?.[num] ?? 0) - (a?.[num] ?? 0)) / d : NaN;
}

/** Figures for the interval between snapshots `a` and `b` of one daemon. */
export function batchingFigures(a: Counters, b: Counters): BatchingFigures {
  return {
    outPerBatch: per(a.traffic, b.traffic, "out_packets", "batches_out"),
    inPerBatch: per(a.traffic, b.traffic, "in_packets", "batches_in"),
    segmentsPerSuperRead: per(a.offload, b.offload, "segments_cut", "super_packets_read"),
    packetsPerSuperWrite: per(a.offload, b.offload, "packets_coalesced", "super_packets_written"),
  };
}
