/**
 * The relay workers' split (dataplane/relay-split.ts, the TypeScript twin of native/split.c's
 * socket filter), their shared counters (DataplaneCounters over one buffer, summed), and the
 * default number of workers (cli/relay-workers.ts resolveWorkers).
 */
import assert from "node:assert/strict";
import * as os from "node:os";
import { test } from "node:test";
import {
  CTR_IN_PACKETS,
  DataplaneCounters,
  RANGE_SLOTS,
} from "../../../module/dataplane/counters.js";
import { relayWorkerOf } from "../../../module/dataplane/relay-split.js";
import { resolveWorkers } from "../../../module/cli/relay-workers.js";

const ip = (a: number, b: number, c: number, d: number): number =>
  ((a << 24) | (b << 16) | (c << 8) | d) >>> 0;

test("relayWorkerOf: the filter's hash, every worker in range, one customer one worker", () => {
  // h = saddr ^ saddr >> 16 = 0x6440 ^ 0x0105 = 0x6545; (0x45 ^ 0x65) & 0xff = 0x20 = 32.
  assert.equal(relayWorkerOf(ip(100, 64, 1, 5), 256), 32);
  assert.equal(relayWorkerOf(ip(100, 64, 1, 5), 3), 32 % 3);
  for (let n = 1; n <= 64; n++) {
    const w = relayWorkerOf(ip(203, 0, 113, n), n);
    assert.ok(w >= 0 && w < n, `${w} of ${n}`);
  }
  assert.equal(relayWorkerOf(0xffffffff, 7), relayWorkerOf(0xffffffff, 7));
});

test("relayWorkerOf: consecutive customers spread evenly (last byte), and so do /16s", () => {
  for (const n of [2, 4, 8, 16]) {
    const per = new Array<number>(n).fill(0);
    for (let d = 0; d < 256; d++) per[relayWorkerOf(ip(100, 64, 7, d), n)]!++;
    assert.deepEqual(per, new Array<number>(n).fill(256 / n), `${n} workers: ${per}`);
    const byThird = new Array<number>(n).fill(0);
    for (let c = 0; c < 256; c++) byThird[relayWorkerOf(ip(100, 64, c, 1), n)]!++;
    assert.deepEqual(byThird, new Array<number>(n).fill(256 / n), `${n} workers by third byte`);
  }
});

test("DataplaneCounters over a shared buffer: each worker's slice, summed with add", () => {
  const len = DataplaneCounters.length(2);
  const shared = new SharedArrayBuffer(8 * len * 2);
  const a = new DataplaneCounters(new Float64Array(shared, 0, len));
  const b = new DataplaneCounters(new Float64Array(shared, 8 * len, len));
  assert.equal(a.ranges.length, 2 * RANGE_SLOTS);
  a.sizeRanges(2); // the same size: stays in the shared buffer
  a.traffic[CTR_IN_PACKETS] = 3;
  b.traffic[CTR_IN_PACKETS] = 4;
  a.drops[1] = 1;
  b.drops[1] = 2;
  a.ranges[0] = 5;
  b.ranges[0] = 6;
  const seen = new DataplaneCounters(new Float64Array(shared, 8 * len, len));
  assert.equal(seen.traffic[CTR_IN_PACKETS], 4, "another view of the same memory sees it");
  const total = new DataplaneCounters(new Float64Array(len));
  total.add(a);
  total.add(b);
  assert.equal(total.traffic[CTR_IN_PACKETS], 7);
  assert.equal(total.drops[1], 3);
  assert.equal(total.ranges[0], 11);
  assert.equal(total.totalDrops(), 3);
});

test("resolveWorkers: 0 = one per core, else as given", () => {
  // os.availableParallelism: Node 18.14+.
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  assert.equal(resolveWorkers(0), cores);
  assert.equal(resolveWorkers(0, 1), 1);
  assert.equal(resolveWorkers(0, 2), 2);
  assert.equal(resolveWorkers(0, 8), 8);
  assert.equal(resolveWorkers(0, 0), 1, "a count of 0 cores still runs one");
  assert.equal(resolveWorkers(1, 8), 1);
  assert.equal(resolveWorkers(5, 2), 5, "an explicit count is taken as given");
});
