/** io/ring.ts: receive rings are allocated once with the requested layout. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createIcmpv6RxRing, createIpv4RxRing, createRxRing } from "../../../module/io/ring.js";
import { HEADROOM_BYTES } from "../../../module/dataplane/tunables.js";

test("createRxRing: N distinct, non-overlapping buffers of the asked size", () => {
  const r = createRxRing(4, 2048, HEADROOM_BYTES);
  assert.equal(r.bufs.length, 4);
  assert.equal(r.sizes.length, 4);
  assert.equal(r.offset, 20);
  for (const b of r.bufs) assert.equal(b.length, 2048);
  r.bufs[0]!.fill(1);
  assert.equal(r.bufs[1]![0], 0);
  r.bufs[1]!.fill(2);
  assert.equal(r.bufs[0]![2047], 1);
});

test("createRxRing: bad shapes throw RangeError naming the problem", () => {
  assert.throws(() => createRxRing(0, 2048, 0), /count must be 1\.\.1024/);
  assert.throws(() => createRxRing(2000, 2048, 0), /count/);
  assert.throws(() => createRxRing(4, 20, 20), /offset < bufferBytes/);
});

test("IPv4 and ICMPv6 rings carry per-packet metadata arrays", () => {
  const r4 = createIpv4RxRing(8, 1600);
  assert.equal(r4.offset, 0);
  assert.equal(r4.srcs.length, 8);
  const r6 = createIcmpv6RxRing(8, 1500);
  assert.equal(r6.srcs.length, 128);
  assert.equal(r6.hopLimits.length, 8);
  assert.equal(r6.ifindexes.length, 8);
});
