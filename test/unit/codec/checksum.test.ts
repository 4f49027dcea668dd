// Internet checksum (RFC 1071) and incremental update (RFC 1624 §3 eqn 3, §4 examples).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  checksumAdjust,
  fold,
  internetChecksum,
  onesSum,
  pseudoHeaderSumV6,
} from "../../../module/codec/checksum.js";

test("onesSum: RFC 1071 §3 example bytes sum to 0xddf2 after folding", () => {
  const buf = Buffer.from([0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7]);
  assert.equal(fold(onesSum(buf, 0, buf.length)), 0xddf2);
  assert.equal(internetChecksum(buf, 0, buf.length), 0x220d);
});

test("onesSum: odd trailing byte is padded with zero", () => {
  const buf = Buffer.from([0x12, 0x34, 0x56]);
  assert.equal(onesSum(buf, 0, 3), 0x1234 + 0x5600);
  assert.equal(onesSum(buf, 1, 3), 0x3456);
  assert.equal(onesSum(buf, 0, 0, 7), 7);
});

test("internetChecksum: IPv4 header with its checksum verifies to zero", () => {
  const hdr = Buffer.from("450000730000400040110000c0a80001c0a800c7", "hex");
  const c = internetChecksum(hdr, 0, 20);
  assert.equal(c, 0xb861);
  hdr.writeUInt16BE(c, 10);
  assert.equal(internetChecksum(hdr, 0, 20), 0);
});

test("fold: end-around carry, also above 2^32", () => {
  assert.equal(fold(0x1ffff), 0x1);
  assert.equal(fold(0xffff), 0xffff);
  assert.equal(fold(0x2fffd), 0xffff);
  assert.equal(fold(0x1_0000_0000 * 3 + 5), 8);
  assert.equal(fold(0), 0);
});

test("pseudoHeaderSumV6 equals the sum over an explicit pseudo-header", () => {
  const pkt = Buffer.alloc(40);
  Buffer.from("20010db8000000000000000000000001", "hex").copy(pkt, 8);
  Buffer.from("20010db8ffff00000000000000000002", "hex").copy(pkt, 24);
  const ph = Buffer.alloc(40);
  pkt.copy(ph, 0, 8, 40);
  ph.writeUInt32BE(0x12345, 32);
  ph[39] = 58;
  assert.equal(fold(pseudoHeaderSumV6(pkt, 8, 24, 0x12345, 58)), fold(onesSum(ph, 0, 40)));
});

test("checksumAdjust: RFC 1624 §4 example gives 0x0000, not eqn 2's 0xffff", () => {
  // Header checksum HC = 0xDD2F; field m = 0x5555 changes to m' = 0x3285.
  assert.equal(checksumAdjust(0xdd2f, 0x5555, 0x3285), 0x0000);
  // And back again.
  assert.equal(checksumAdjust(0x0000, 0x3285, 0x5555), 0xdd2f);
});

test("checksumAdjust: RFC 1624 §4 recomputation agrees (other octets sum to 0xCD7A)", () => {
  const before = Buffer.from([0xcd, 0x7a, 0x55, 0x55]);
  const after = Buffer.from([0xcd, 0x7a, 0x32, 0x85]);
  const hc = internetChecksum(before, 0, 4);
  assert.equal(hc, 0xdd2f);
  assert.equal(checksumAdjust(hc, 0x5555, 0x3285), internetChecksum(after, 0, 4));
});

test("checksumAdjust: random multi-word rewrites match full recomputation", () => {
  let seed = 12345;
  const rnd = (): number => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed >>> 7;
  };
  for (let iter = 0; iter < 2000; iter++) {
    const len = 2 * (4 + (rnd() % 40));
    const buf = Buffer.alloc(len);
    for (let i = 0; i < len; i++) buf[i] = rnd() & 0xff;
    const hc = internetChecksum(buf, 0, len);
    const start = 2 * (rnd() % (len / 2 - 2));
    const n = 2 * (1 + (rnd() % Math.min(8, (len - start) / 2)));
    const oldSum = onesSum(buf, start, start + n);
    for (let i = start; i < start + n; i++) buf[i] = iter % 7 === 0 ? 0 : rnd() & 0xff;
    const newSum = onesSum(buf, start, start + n);
    const expected = internetChecksum(buf, 0, len);
    const got = checksumAdjust(hc, oldSum, newSum);
    // Both 0x0000 and 0xffff are one's-complement zero; eqn 3 yields what recomputation yields
    // except when the data itself sums to zero (all-zero words), then either form verifies.
    if (expected !== got) {
      assert.equal(fold(onesSum(buf, 0, len, got)), 0xffff, `iter ${iter}`);
    }
    assert.equal(fold(onesSum(buf, 0, len, got)), 0xffff, `verify iter ${iter}`);
  }
});
