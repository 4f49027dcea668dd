// ICMPv6 (RFC 4443): echo (§4.1, §4.2), errors (§3.1-§3.4), checksum (§2.3), error size limit and
// the invoking packet (§2.4 (c)).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as dr from "../../../module/addr/drop-reason.js";
import { fold, onesSum, pseudoHeaderSumV6 } from "../../../module/codec/checksum.js";
import {
  decode,
  encode,
  encodingLength,
  verifyIcmpv6Checksum,
  writeIcmpv6Error,
  type Icmpv6Message,
} from "../../../module/codec/icmpv6.js";
import { createUpperLayer, walkToUpperLayer } from "../../../module/codec/ipv6.js";
import { DecodeError } from "../../../module/codec/decode-error.js";
import {
  assertRoundtrip,
  createRandom,
  fuzzDecoder,
  randomBuffer,
} from "../../support/roundtrip.js";
import { addr6, buildIcmpv6EchoPacket, buildTcpPacket } from "../../support/packet-builder.js";

const addrs = { src: addr6("2001:db8::1"), dst: addr6("2002:c000:201::1") };
const codec = {
  encode: (m: Icmpv6Message, b: Buffer, o: number) => encode(m, b, o, addrs),
  decode: (b: Buffer, o: number, l: number) => decode(b, o, l, addrs),
  encodingLength,
};
const invoking = new Uint8Array(buildTcpPacket({ src: "2002:c000:201::1", dst: "2001:db8::1" }));

const cases: Array<[string, Icmpv6Message]> = [
  ["echo request", { kind: "echo-request", id: 0x6732, seq: 1, data: new Uint8Array([1, 2, 3]) }],
  ["echo reply, empty", { kind: "echo-reply", id: 0xffff, seq: 0xffff, data: new Uint8Array(0) }],
  ["dest unreachable: no route", { kind: "dest-unreach", code: 0, invoking }],
  ["dest unreachable: port", { kind: "dest-unreach", code: 4, invoking }],
  ["packet too big 1280", { kind: "packet-too-big", code: 0, mtu: 1280, invoking }],
  ["packet too big 0xffffffff", { kind: "packet-too-big", code: 0, mtu: 0xffffffff, invoking }],
  ["time exceeded: hop limit", { kind: "time-exceeded", code: 0, invoking }],
  ["parameter problem", { kind: "param-problem", code: 1, pointer: 6, invoking }],
];

for (const [name, m] of cases) {
  test(`icmpv6 round-trip: ${name}`, () => {
    const buf = assertRoundtrip(codec, m, name);
    assert.ok(verifyIcmpv6Checksum(buf, 0, buf.length, addrs), "checksum verifies");
  });
}

test("icmpv6 encode without addresses leaves the checksum 0 for the kernel", () => {
  const m: Icmpv6Message = { kind: "echo-request", id: 1, seq: 2, data: new Uint8Array(4) };
  const b = Buffer.alloc(12);
  encode(m, b);
  assert.equal(b.readUInt16BE(2), 0);
  assert.deepStrictEqual(decode(b), m);
});

test("icmpv6 decode: precise DecodeErrors", () => {
  const b = Buffer.alloc(12);
  encode({ kind: "echo-request", id: 1, seq: 2, data: new Uint8Array(4) }, b, 0, addrs);
  const isDecodeError = (re: RegExp) => (e: unknown) =>
    e instanceof DecodeError && re.test(e.message);
  assert.throws(() => decode(b, 0, 7), isDecodeError(/truncated: 7 bytes.*need 8/));
  assert.throws(
    () => decode(b, 0, 12, { src: addrs.src, dst: addr6("2001:db8::2") }),
    isDecodeError(/checksum/),
  );
  const c = Buffer.from(b);
  c[1] = 1;
  assert.throws(() => decode(c), isDecodeError(/code 1, expected 0/));
  c[0] = 134;
  assert.throws(() => decode(c), isDecodeError(/type 134 .*not handled/));
});

test("icmpv6 encode: an error message above 1280 bytes is refused (RFC 4443 §2.4 (c))", () => {
  const big = new Uint8Array(1233);
  const buf = Buffer.alloc(2000);
  assert.throws(() => encode({ kind: "dest-unreach", code: 0, invoking: big }, buf), /1281 bytes/);
  assert.equal(encode({ kind: "dest-unreach", code: 0, invoking: big.subarray(1) }, buf), 1240);
  assert.equal(encode({ kind: "echo-request", id: 0, seq: 0, data: big }, buf), 1241);
});

function checkErrorPacket(pkt: Buffer, off: number, n: number): void {
  const out = createUpperLayer();
  assert.equal(walkToUpperLayer(pkt, off, n, out), dr.DROP_NONE);
  assert.equal(out.proto, 58);
  const icmpLen = n - 40;
  const ph = pseudoHeaderSumV6(pkt, off + 8, off + 24, icmpLen, 58);
  assert.equal(fold(onesSum(pkt, off + 40, off + n, ph)), 0xffff, "ICMPv6 checksum verifies");
}

test("writeIcmpv6Error: packet too big with the whole small invoking packet", () => {
  const buf = Buffer.alloc(1500, 0xcc);
  const inv = buildIcmpv6EchoPacket({ src: "2002:c000:201::1", dst: "2001:db8::9" });
  const n = writeIcmpv6Error(buf, 4, 2, 0, 1280, addrs.src, 0, inv, 8, inv, 0, inv.length, 1280);
  assert.equal(n, 48 + inv.length);
  assert.equal(buf[3], 0xcc, "bytes before untouched");
  assert.equal(buf[4 + n], 0xcc, "bytes after untouched");
  checkErrorPacket(buf, 4, n);
  const m = decode(buf, 44, n - 40, { src: addrs.src, dst: inv.subarray(8, 24) });
  assert.deepStrictEqual(m, {
    kind: "packet-too-big",
    code: 0,
    mtu: 1280,
    invoking: new Uint8Array(inv),
  });
  assert.equal(buf[4 + 7], 64, "hop limit");
});

test("writeIcmpv6Error: a large invoking packet is cut so the total is 1280", () => {
  const inv = buildTcpPacket({
    src: "2002:c000:201::1",
    dst: "2001:db8::1",
    payload: Buffer.alloc(1400, 7),
  });
  const buf = Buffer.alloc(2000);
  const n = writeIcmpv6Error(buf, 0, 1, 0, 0, addrs.src, 0, addrs.dst, 0, inv, 0, inv.length, 9000);
  assert.equal(n, 1280);
  checkErrorPacket(buf, 0, n);
  assert.deepStrictEqual(buf.subarray(48, 1280), inv.subarray(0, 1232));
  // A smaller maxTotal and a smaller buffer both bound it too.
  assert.equal(
    writeIcmpv6Error(buf, 0, 3, 0, 0, addrs.src, 0, addrs.dst, 0, inv, 0, inv.length, 600),
    600,
  );
  const small = Buffer.alloc(300);
  const m = writeIcmpv6Error(
    small,
    10,
    3,
    0,
    0,
    addrs.src,
    0,
    addrs.dst,
    0,
    inv,
    0,
    inv.length,
    1280,
  );
  assert.equal(m, 290);
  checkErrorPacket(small, 10, m);
  assert.equal(
    writeIcmpv6Error(small, 260, 3, 0, 0, addrs.src, 0, addrs.dst, 0, inv, 0, 100, 1280),
    0,
  );
});

test("writeIcmpv6Error: the invoking packet may sit in the output buffer", () => {
  const inv = buildTcpPacket({
    src: "2002:c000:201::1",
    dst: "2001:db8::1",
    payload: Buffer.alloc(64, 9),
  });
  const buf = Buffer.alloc(600);
  inv.copy(buf, 20);
  const n = writeIcmpv6Error(
    buf,
    0,
    4,
    0,
    6,
    addrs.src,
    0,
    addrs.dst,
    0,
    buf,
    20,
    inv.length,
    1280,
  );
  assert.equal(n, 48 + inv.length);
  assert.deepStrictEqual(buf.subarray(48, n), inv);
  checkErrorPacket(buf, 0, n);
});

test("icmpv6 random bytes: decode throws only DecodeError; writeIcmpv6Error never throws", () => {
  const corpus = cases.map(([, m]) => {
    const b = Buffer.alloc(encodingLength(m));
    encode(m, b, 0);
    return b;
  });
  fuzzDecoder((b, o, l) => decode(b, o, l), { corpus, iterations: 3000 });
  fuzzDecoder((b, o, l) => decode(b, o, l, addrs), { corpus, iterations: 1000, seed: 3 });
  const rnd = createRandom(58);
  for (let i = 0; i < 3000; i++) {
    const buf = Buffer.alloc(rnd(1400));
    const inv = randomBuffer(rnd, rnd(1500));
    const n = writeIcmpv6Error(
      buf,
      rnd(60) - 2,
      rnd(256),
      rnd(256),
      rnd(0x7fffffff),
      addrs.src,
      0,
      addrs.dst,
      0,
      inv,
      rnd(100) - 2,
      rnd(1600) - 2,
      rnd(1400) - 2,
    );
    assert.ok(n === 0 || (n >= 48 && n <= 1280));
  }
});
