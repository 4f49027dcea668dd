// IPv6 header codec (RFC 8200 §3) and the extension-header walk (RFC 8200 §4, §4.5).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as dr from "../../../module/addr/drop-reason.js";
import {
  createUpperLayer,
  decode,
  encode,
  encodingLength,
  walkToUpperLayer,
  type Ipv6Header,
} from "../../../module/codec/ipv6.js";
import { DecodeError } from "../../../module/codec/decode-error.js";
import {
  assertRoundtrip,
  createRandom,
  fuzzDecoder,
  randomBuffer,
} from "../../support/roundtrip.js";
import {
  addr6,
  buildIpv6Packet,
  buildTcpPacket,
  buildUdpPacket,
  type ExtHeader,
} from "../../support/packet-builder.js";

const codec = {
  encode,
  decode: (b: Buffer, o: number, l: number) => decode(b, o, l),
  encodingLength,
};

const base: Ipv6Header = {
  trafficClass: 0,
  flowLabel: 0,
  payloadLength: 20,
  nextHeader: 6,
  hopLimit: 64,
  src: addr6("2002:c000:201::1"),
  dst: addr6("2001:db8::2"),
};

test("ipv6 round-trip: header values", () => {
  assertRoundtrip(codec, base, "plain");
  assertRoundtrip(codec, { ...base, trafficClass: 0xff, flowLabel: 0xfffff, hopLimit: 255 }, "max");
  assertRoundtrip(codec, { ...base, payloadLength: 65535, nextHeader: 59, hopLimit: 0 }, "edge");
});

test("ipv6 encode: version/TC/flow bit layout", () => {
  const b = Buffer.alloc(40);
  encode({ ...base, trafficClass: 0xab, flowLabel: 0xcdef1 }, b);
  assert.equal(b.readUInt32BE(0), 0x6abcdef1);
  assert.throws(() => encode({ ...base, flowLabel: 0x100000 }, b), RangeError);
  assert.throws(() => encode({ ...base, src: new Uint8Array(4) }, b), RangeError);
});

test("ipv6 decode: DecodeError on short input and wrong version", () => {
  const b = Buffer.alloc(40);
  encode(base, b);
  assert.throws(
    () => decode(b, 0, 39),
    (e: unknown) => e instanceof DecodeError && /need 40/.test(e.message),
  );
  b[0] = 0x40;
  assert.throws(() => decode(b, 0, 40), /version 4, expected 6/);
});

const src = "2002:c000:201::1";
const dst = "2001:db8::2";
const hbh: ExtHeader = { type: 0, data: new Uint8Array([5, 2, 0, 0]) }; // router alert + pad
const rt: ExtHeader = { type: 43, data: new Uint8Array(6 + 16) };
const dopt: ExtHeader = { type: 60 };
const frag0: ExtHeader = { type: 44, fragmentOffset: 0, more: true };
const fragN: ExtHeader = { type: 44, fragmentOffset: 100, more: false };

const walkCases: Array<[string, ExtHeader[], number, number, boolean, boolean]> = [
  // name, ext headers, expected proto, expected offset from IPv6 start, fragment, firstFragment
  ["no extension headers", [], 6, 40, false, true],
  ["hop-by-hop", [hbh], 6, 48, false, true],
  ["hbh + routing + dest opts", [hbh, rt, dopt], 6, 48 + 24 + 8, false, true],
  ["first fragment", [frag0], 6, 48, true, true],
  ["dest opts + first fragment", [dopt, frag0], 6, 56, true, true],
  ["non-first fragment stops after Fragment header", [fragN], 6, 48, true, false],
  ["routing only", [rt], 6, 64, false, true],
  ["hop-by-hop not first is not stepped over", [dopt, hbh], 0, 48, false, true],
];

for (const [name, exts, proto, offset, fragment, first] of walkCases) {
  test(`walkToUpperLayer: ${name}`, () => {
    const pkt = buildTcpPacket({ src, dst, extHeaders: exts });
    const out = createUpperLayer();
    const buf = Buffer.concat([Buffer.alloc(20), pkt]);
    assert.equal(walkToUpperLayer(buf, 20, pkt.length, out), dr.DROP_NONE);
    assert.deepStrictEqual(out, { proto, offset: 20 + offset, fragment, firstFragment: first });
  });
}

test("walkToUpperLayer: stops at ESP, AH, No Next Header and unknown", () => {
  for (const nh of [50, 51, 59, 135, 253]) {
    const pkt = buildIpv6Packet({
      src,
      dst,
      nextHeader: nh,
      payload: Buffer.alloc(16),
      extHeaders: [dopt],
    });
    const out = createUpperLayer();
    assert.equal(walkToUpperLayer(pkt, 0, pkt.length, out), dr.DROP_NONE);
    assert.equal(out.proto, nh);
    assert.equal(out.offset, 48);
  }
});

test("walkToUpperLayer: UDP behind extension headers", () => {
  const pkt = buildUdpPacket({ src, dst, extHeaders: [hbh, frag0] });
  const out = createUpperLayer();
  assert.equal(walkToUpperLayer(pkt, 0, pkt.length, out), dr.DROP_NONE);
  assert.equal(out.proto, 17);
  assert.equal(out.offset, 56);
});

test("walkToUpperLayer: drop reasons for malformed packets", () => {
  const out = createUpperLayer();
  const pkt = buildTcpPacket({ src, dst, extHeaders: [hbh, rt] });
  assert.equal(walkToUpperLayer(pkt, 0, 39, out), dr.DROP_IPV6_TRUNCATED);
  assert.equal(walkToUpperLayer(pkt, 0, pkt.length + 1, out), dr.DROP_IPV6_TRUNCATED);
  const v4 = Buffer.from(pkt);
  v4[0] = 0x45;
  assert.equal(walkToUpperLayer(v4, 0, v4.length, out), dr.DROP_IPV6_BAD_VERSION);
  assert.equal(walkToUpperLayer(pkt, 0, pkt.length - 1, out), dr.DROP_IPV6_LENGTH_MISMATCH);
  // Payload Length cut inside the Routing header.
  const cut = Buffer.from(pkt);
  cut.writeUInt16BE(8 + 10, 4);
  assert.equal(walkToUpperLayer(cut, 0, cut.length, out), dr.DROP_EXT_HEADER_TRUNCATED);
  // Payload Length cut inside an extension header's first two bytes.
  cut.writeUInt16BE(9, 4);
  assert.equal(walkToUpperLayer(cut, 0, cut.length, out), dr.DROP_EXT_HEADER_TRUNCATED);
  // A Fragment header cut short.
  const fr = buildTcpPacket({ src, dst, extHeaders: [frag0] });
  fr.writeUInt16BE(4, 4);
  assert.equal(walkToUpperLayer(fr, 0, fr.length, out), dr.DROP_EXT_HEADER_TRUNCATED);
  // Trailing link padding after Payload Length is ignored.
  const padded = Buffer.concat([pkt, Buffer.alloc(6)]);
  assert.equal(walkToUpperLayer(padded, 0, padded.length, out), dr.DROP_NONE);
});

test("ipv6 random bytes: decode throws only DecodeError; walkToUpperLayer never throws", () => {
  const corpus = [buildTcpPacket({ src, dst, extHeaders: [hbh, rt, dopt, frag0] })];
  fuzzDecoder((b, o, l) => decode(b, o, l), { corpus, iterations: 3000, maxLen: 60 });
  const rnd = createRandom(6);
  const out = createUpperLayer();
  for (let i = 0; i < 20000; i++) {
    let b: Buffer;
    if (i % 2 === 0) {
      b = Buffer.from(corpus[0]!);
      for (let f = 0; f < 3; f++) {
        const k = 40 + rnd(b.length - 40);
        b[k] = rnd(256);
      }
      if (rnd(2) === 0) b[6] = [0, 43, 44, 60][rnd(4)]!;
      if (rnd(3) === 0) b.writeUInt16BE(rnd(b.length), 4);
    } else {
      b = randomBuffer(rnd, rnd(120));
      if (b.length > 0) b[0] = 0x60;
    }
    const r = walkToUpperLayer(b, 0, b.length - rnd(2), out);
    assert.ok(Number.isInteger(r) && r >= 0 && r < dr.DROP_REASON_COUNT);
    if (r === dr.DROP_NONE) assert.ok(out.offset <= b.length);
  }
});
