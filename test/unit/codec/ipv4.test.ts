// IPv4 header codec (RFC 791 §3.1) and the hot-path protocol-41 header check (RFC 3056 §5,
// RFC 4213 §3.5).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as dr from "../../../module/addr/drop-reason.js";
import { internetChecksum } from "../../../module/codec/checksum.js";
import {
  checkIpv4Header,
  decode,
  encode,
  encodingLength,
  ipv4HeaderLength,
  writeIpv4Header,
  type Ipv4Header,
} from "../../../module/codec/ipv4.js";
import { DecodeError } from "../../../module/codec/decode-error.js";
import {
  assertRoundtrip,
  createRandom,
  fuzzDecoder,
  randomBuffer,
} from "../../support/roundtrip.js";

const codec = {
  encode,
  decode: (b: Buffer, o: number, l: number) => decode(b, o, l),
  encodingLength,
};

const base: Ipv4Header = {
  tos: 0,
  totalLength: 60,
  id: 0x1234,
  dontFragment: true,
  moreFragments: false,
  fragmentOffset: 0,
  ttl: 64,
  protocol: 41,
  src: 0xc0000201, // 192.0.2.1
  dst: 0xc0586301, // 192.88.99.1
  options: new Uint8Array(0),
};

const cases: Array<[string, Ipv4Header]> = [
  ["proto 41, DF", base],
  ["first fragment MF", { ...base, dontFragment: false, moreFragments: true, totalLength: 1500 }],
  ["last fragment offset 185", { ...base, dontFragment: false, fragmentOffset: 185 }],
  [
    "max fragment offset",
    { ...base, dontFragment: false, fragmentOffset: 8191, totalLength: 65535 },
  ],
  ["tos and ttl", { ...base, tos: 0xb8, ttl: 1, src: 0xcb007101, dst: 0x64400001 }],
  [
    "IHL 6 with router alert option",
    { ...base, totalLength: 24, options: new Uint8Array([0x94, 0x04, 0x00, 0x00]) },
  ],
  ["IHL 15 (40 option bytes)", { ...base, totalLength: 60, options: new Uint8Array(40).fill(1) }],
];

for (const [name, h] of cases) {
  test(`ipv4 round-trip: ${name}`, () => {
    const buf = assertRoundtrip(codec, h, name);
    assert.equal(internetChecksum(buf, 0, buf.length), 0, "header checksum verifies");
    assert.equal(buf[0]! & 0x0f, buf.length / 4, "IHL");
  });
}

test("ipv4 encode: known header bytes (RFC 791 layout)", () => {
  const buf = Buffer.alloc(20);
  encode(
    { ...base, totalLength: 0x73, id: 0, protocol: 17, src: 0xc0a80001, dst: 0xc0a800c7 },
    buf,
  );
  assert.equal(buf.toString("hex"), "45000073000040004011b861c0a80001c0a800c7");
});

test("ipv4 decode: precise DecodeError messages", () => {
  const good = Buffer.alloc(20);
  encode(base, good);
  const bad = (mut: (b: Buffer) => void, re: RegExp, len?: number): void => {
    const b = Buffer.from(good);
    mut(b);
    assert.throws(
      () => decode(b, 0, len ?? b.length),
      (e: unknown) => {
        assert.ok(e instanceof DecodeError);
        assert.match(e.message, re);
        return true;
      },
    );
  };
  bad(() => {}, /truncated: 19 bytes.*need 20/, 19);
  bad((b) => (b[0] = 0x65), /version 6, expected 4/);
  bad((b) => (b[0] = 0x44), /IHL 4 < 5/);
  bad((b) => (b[0] = 0x46), /IHL says 24 bytes, 20 available/);
  bad((b) => b.writeUInt16BE(19, 2), /total length 19 < header length 20/);
  bad((b) => (b[8] = 63), /checksum 0x[0-9a-f]+ is wrong/);
  const b = Buffer.from(good);
  b[8] = 63;
  assert.equal(decode(b, 0, 20, { verifyChecksum: false }).ttl, 63);
});

test("ipv4 encode: rejects unencodable values with RangeError", () => {
  const buf = Buffer.alloc(80);
  assert.throws(() => encode({ ...base, options: new Uint8Array(3) }, buf), RangeError);
  assert.throws(() => encode({ ...base, options: new Uint8Array(44) }, buf), RangeError);
  assert.throws(() => encode({ ...base, totalLength: 10 }, buf), RangeError);
  assert.throws(() => encode({ ...base, fragmentOffset: 8192 }, buf), RangeError);
});

test("writeIpv4Header matches the control-plane encoder byte for byte", () => {
  const rnd = createRandom(41);
  for (let i = 0; i < 500; i++) {
    const h: Ipv4Header = {
      ...base,
      totalLength: 20 + rnd(65516),
      id: rnd(65536),
      dontFragment: rnd(2) === 1,
      ttl: rnd(256),
      protocol: rnd(256),
      src: (rnd(65536) * 65536 + rnd(65536)) >>> 0,
      dst: (rnd(65536) * 65536 + rnd(65536)) >>> 0,
    };
    const a = Buffer.alloc(20);
    encode(h, a);
    const b = Buffer.alloc(40, 0xff);
    const n = writeIpv4Header(
      b,
      20,
      h.totalLength,
      h.protocol,
      h.src,
      h.dst,
      h.ttl,
      h.id,
      h.dontFragment,
    );
    assert.equal(n, 20);
    assert.deepStrictEqual(b.subarray(20), a);
    assert.ok(
      b.subarray(0, 20).every((x) => x === 0xff),
      "headroom untouched",
    );
  }
});

test("checkIpv4Header: accepts a good proto-41 header and names every drop", () => {
  const pkt = Buffer.alloc(60);
  writeIpv4Header(pkt, 0, 60, 41, 0xc0000201, 0xc0586301, 64, 7, true);
  assert.equal(checkIpv4Header(pkt, 0, 60), dr.DROP_NONE);
  assert.equal(ipv4HeaderLength(pkt, 0), 20);
  assert.equal(
    checkIpv4Header(Buffer.concat([pkt, Buffer.alloc(4)]), 0, 64),
    dr.DROP_NONE,
    "padding",
  );
  const mutate = (f: (b: Buffer) => void, fix = true): Buffer => {
    const b = Buffer.from(pkt);
    f(b);
    if (fix) {
      b.writeUInt16BE(0, 10);
      b.writeUInt16BE(internetChecksum(b, 0, (b[0]! & 15) * 4 > 60 ? 20 : (b[0]! & 15) * 4), 10);
    }
    return b;
  };
  assert.equal(checkIpv4Header(pkt, 0, 19), dr.DROP_IPV4_TRUNCATED);
  assert.equal(checkIpv4Header(pkt, 50, 20), dr.DROP_IPV4_TRUNCATED, "beyond buffer");
  assert.equal(
    checkIpv4Header(
      mutate((b) => (b[0] = 0x65)),
      0,
      60,
    ),
    dr.DROP_IPV4_BAD_VERSION,
  );
  assert.equal(
    checkIpv4Header(
      mutate((b) => (b[0] = 0x44)),
      0,
      60,
    ),
    dr.DROP_IPV4_BAD_HEADER_LENGTH,
  );
  assert.equal(checkIpv4Header(pkt, 0, 20).valueOf(), dr.DROP_IPV4_LENGTH_MISMATCH);
  assert.equal(
    checkIpv4Header(
      mutate((b) => (b[8] = 1), false),
      0,
      60,
    ),
    dr.DROP_IPV4_BAD_CHECKSUM,
  );
  assert.equal(
    checkIpv4Header(
      mutate((b) => b.writeUInt16BE(61, 2)),
      0,
      60,
    ),
    dr.DROP_IPV4_LENGTH_MISMATCH,
  );
  assert.equal(
    checkIpv4Header(
      mutate((b) => b.writeUInt16BE(0x2000, 6)),
      0,
      60,
    ),
    dr.DROP_IPV4_FRAGMENT,
  );
  assert.equal(
    checkIpv4Header(
      mutate((b) => b.writeUInt16BE(0x0001, 6)),
      0,
      60,
    ),
    dr.DROP_IPV4_FRAGMENT,
  );
  assert.equal(
    checkIpv4Header(
      mutate((b) => (b[9] = 4)),
      0,
      60,
    ),
    dr.DROP_IPV4_NOT_PROTO41,
  );
});

test("ipv4 random bytes: decode throws only DecodeError; checkIpv4Header never throws", () => {
  const corpus = cases.map(([, h]) => {
    const b = Buffer.alloc(encodingLength(h));
    encode(h, b);
    return b;
  });
  const ok = fuzzDecoder((b, o, l) => decode(b, o, l), { corpus, iterations: 4000, maxLen: 70 });
  assert.ok(ok > 0, "some mutated inputs decode");
  const rnd = createRandom(7);
  for (let i = 0; i < 4000; i++) {
    const b = randomBuffer(rnd, rnd(80));
    if (i % 2 === 0 && b.length >= 20) {
      b[0] = 0x45;
      b[9] = 41;
    }
    const r = checkIpv4Header(b, rnd(3), rnd(82) - 1);
    assert.ok(Number.isInteger(r) && r >= 0 && r < dr.DROP_REASON_COUNT);
  }
});
