/** The bench's batching figures (support/bench-batching.ts) from two counter snapshots. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { batchingFigures } from "../../support/bench-batching.js";

test("batchingFigures: per-interval ratios from the differences of two snapshots", () => {
  const a = {
    traffic: { out_packets: 100, batches_out: 10, in_packets: 50, batches_in: 25 },
    drops: {},
    offload: {
      super_packets_read: 2,
      segments_cut: 60,
      super_packets_written: 1,
      packets_coalesced: 4,
    },
  };
  const b = {
    traffic: { out_packets: 1100, batches_out: 30, in_packets: 350, batches_in: 125 },
    drops: {},
    offload: {
      super_packets_read: 22,
      segments_cut: 960,
      super_packets_written: 11,
      packets_coalesced: 204,
    },
  };
  assert.deepEqual(batchingFigures(a, b), {
    outPerBatch: 50, // 1000 packets in 20 batches
    inPerBatch: 3, // 300 in 100
    segmentsPerSuperRead: 45, // 900 segments from 20 reads
    packetsPerSuperWrite: 20, // 200 packets in 10 writes
  });
});

test("batchingFigures: NaN where nothing happened, and without offload counters", () => {
  const a = { traffic: { out_packets: 5, batches_out: 5 }, drops: {} };
  const f = batchingFigures(a, a);
  assert.ok(Number.isNaN(f.outPerBatch));
  assert.ok(Number.isNaN(f.inPerBatch));
  assert.ok(Number.isNaN(f.segmentsPerSuperRead));
  assert.ok(Number.isNaN(f.packetsPerSuperWrite));
  const b = { traffic: { out_packets: 69, batches_out: 6 }, drops: {} };
  assert.equal(batchingFigures(a, b).outPerBatch, 64);
});
