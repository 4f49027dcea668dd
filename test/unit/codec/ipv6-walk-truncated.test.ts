// walkToUpperLayer(..., truncatedOk = true): the invoking packet inside an ICMPv6 error is cut
// short of its Payload Length (RFC 4443 §2.4 (c)); the walk is bounded by the bytes present.
import { test } from "node:test";
import assert from "node:assert/strict";
import * as dr from "../../../module/addr/drop-reason.js";
import { createUpperLayer, walkToUpperLayer } from "../../../module/codec/ipv6.js";
import { buildTcpPacket, buildUdpPacket, type ExtHeader } from "../../support/packet-builder.js";

const src = "2002:c000:201::10";
const dst = "2001:db8::1";
const hbh: ExtHeader = { type: 0, data: Buffer.alloc(4) };
const rt: ExtHeader = { type: 43, data: Buffer.alloc(22) }; // 24 bytes
const frag0: ExtHeader = { type: 44, fragmentOffset: 0, more: true };
const fragN: ExtHeader = { type: 44, fragmentOffset: 10 };

test("truncatedOk: a copy cut inside the upper layer walks to it (strict walk: length mismatch)", () => {
  const pkt = buildTcpPacket({ src, dst, extHeaders: [hbh, rt], payload: Buffer.alloc(100) });
  // Hop-by-Hop 8 + Routing 24, then 10 bytes of the TCP header; inside a bigger buffer at 20.
  const keep = 40 + 32 + 10;
  const buf = Buffer.concat([
    Buffer.alloc(20, 0xee),
    pkt.subarray(0, keep),
    Buffer.alloc(30, 0xee),
  ]);
  const copy = Buffer.from(buf);
  const out = createUpperLayer();
  assert.equal(walkToUpperLayer(buf, 20, keep, out), dr.DROP_IPV6_LENGTH_MISMATCH);
  assert.equal(walkToUpperLayer(buf, 20, keep, out, true), dr.DROP_NONE);
  assert.deepStrictEqual(out, { proto: 6, offset: 20 + 72, fragment: false, firstFragment: true });
  assert.deepEqual(buf, copy, "the walk writes nothing into the packet");
});

test("truncatedOk: cut inside an extension header -> DROP_EXT_HEADER_TRUNCATED", () => {
  const pkt = buildUdpPacket({ src, dst, extHeaders: [hbh, rt] });
  const out = createUpperLayer();
  for (const keep of [40 + 1, 40 + 8 + 1, 40 + 8 + 23]) {
    assert.equal(
      walkToUpperLayer(pkt, 0, keep, out, true),
      dr.DROP_EXT_HEADER_TRUNCATED,
      `${keep}`,
    );
  }
  // A Fragment header needs its 8 bytes.
  const f = buildUdpPacket({ src, dst, extHeaders: [frag0] });
  assert.equal(walkToUpperLayer(f, 0, 40 + 7, out, true), dr.DROP_EXT_HEADER_TRUNCATED);
  assert.equal(walkToUpperLayer(f, 0, 40 + 8, out, true), dr.DROP_NONE);
  assert.deepStrictEqual(out, { proto: 17, offset: 48, fragment: true, firstFragment: true });
});

test("truncatedOk: a cut non-first fragment stops after its Fragment header", () => {
  const pkt = buildUdpPacket({ src, dst, extHeaders: [fragN], payload: Buffer.alloc(64) });
  const out = createUpperLayer();
  assert.equal(walkToUpperLayer(pkt, 0, 40 + 8 + 4, out, true), dr.DROP_NONE);
  assert.deepStrictEqual(out, { proto: 17, offset: 48, fragment: true, firstFragment: false });
});

test("truncatedOk: whole packets walk as without it; the other drop reasons stay", () => {
  const out = createUpperLayer();
  const strict = createUpperLayer();
  for (const exts of [[], [hbh], [hbh, rt], [rt, frag0], [fragN]]) {
    const pkt = buildTcpPacket({ src, dst, extHeaders: exts });
    assert.equal(walkToUpperLayer(pkt, 0, pkt.length, strict), dr.DROP_NONE);
    assert.equal(walkToUpperLayer(pkt, 0, pkt.length, out, true), dr.DROP_NONE);
    assert.deepStrictEqual(out, strict);
    // Bytes after 40 + Payload Length are ignored either way.
    const longer = Buffer.concat([pkt, Buffer.alloc(16, 0x2c)]);
    assert.equal(walkToUpperLayer(longer, 0, longer.length, out, true), dr.DROP_NONE);
    assert.deepStrictEqual(out, strict);
  }
  const pkt = buildTcpPacket({ src, dst });
  assert.equal(walkToUpperLayer(pkt, 0, 39, out, true), dr.DROP_IPV6_TRUNCATED);
  assert.equal(walkToUpperLayer(pkt, 0, pkt.length + 1, out, true), dr.DROP_IPV6_TRUNCATED);
  const v4 = Buffer.from(pkt);
  v4[0] = 0x45;
  assert.equal(walkToUpperLayer(v4, 0, v4.length, out, true), dr.DROP_IPV6_BAD_VERSION);
});
