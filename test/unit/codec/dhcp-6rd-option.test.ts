// DHCPv4 OPTION_6RD (RFC 5969 §7.1.1) inside a DHCPv4 options field (RFC 2132 §2).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  decode,
  encode,
  encodingLength,
  findSixRdOption,
  type SixRdOption,
} from "../../../module/codec/dhcp-6rd-option.js";
import { DecodeError } from "../../../module/codec/decode-error.js";
import { assertRoundtrip, fuzzDecoder } from "../../support/roundtrip.js";
import { addr6 } from "../../support/packet-builder.js";

const codec = {
  encode,
  decode: (b: Buffer, o: number, l: number) => decode(b, o, l),
  encodingLength,
};

const cases: Array<[string, SixRdOption]> = [
  [
    "one BR, /32 prefix, mask 0 (the PMT-like case)",
    {
      ipv4MaskLen: 0,
      sixrdPrefixLen: 32,
      sixrdPrefix: addr6("2001:db8::"),
      brAddresses: [0xc0586301],
    },
  ],
  [
    "two BRs, mask 8",
    {
      ipv4MaskLen: 8,
      sixrdPrefixLen: 40,
      sixrdPrefix: addr6("2001:db8:ab00::"),
      brAddresses: [0xc0000201, 0xcb007101],
    },
  ],
  [
    "edge: mask 32, prefix 128",
    { ipv4MaskLen: 32, sixrdPrefixLen: 128, sixrdPrefix: addr6("2001:db8::1"), brAddresses: [1] },
  ],
  [
    "edge: mask 0, prefix 96",
    {
      ipv4MaskLen: 0,
      sixrdPrefixLen: 96,
      sixrdPrefix: addr6("2001:db8::"),
      brAddresses: [0xffffffff],
    },
  ],
];

for (const [name, v] of cases) {
  test(`OPTION_6RD round-trip: ${name}`, () => {
    const b = assertRoundtrip(codec, v, name);
    assert.equal(b[0], 212);
    assert.equal(b[1], 18 + 4 * v.brAddresses.length);
  });
}

test("OPTION_6RD wire format: 22 octets of option-length with one BR (RFC 5969 §7.1.1)", () => {
  const b = Buffer.alloc(24);
  encode(cases[0]![1], b);
  assert.equal(
    b.toString("hex"),
    "d416" + "0020" + "20010db8000000000000000000000000" + "c0586301",
  );
});

test("OPTION_6RD: prefix bits beyond 6rdPrefixLen are cleared", () => {
  const b = Buffer.alloc(24);
  encode({ ...cases[0]![1], sixrdPrefix: addr6("2001:db8:ffff::1") }, b);
  assert.deepStrictEqual(decode(b).sixrdPrefix, addr6("2001:db8::"));
});

test("OPTION_6RD: encoder refuses impossible values", () => {
  const b = Buffer.alloc(100);
  const v = cases[0]![1];
  assert.throws(() => encode({ ...v, ipv4MaskLen: 33 }, b), /IPv4MaskLen 33/);
  assert.throws(() => encode({ ...v, ipv4MaskLen: 0, sixrdPrefixLen: 97 }, b), /must be <= 128/);
  assert.throws(() => encode({ ...v, brAddresses: [] }, b), /0 BR addresses/);
  assert.throws(() => encode({ ...v, sixrdPrefix: new Uint8Array(4) }, b), /16 bytes/);
});

test("OPTION_6RD: precise DecodeErrors", () => {
  const isDE = (re: RegExp) => (e: unknown) => e instanceof DecodeError && re.test(e.message);
  const good = Buffer.alloc(24);
  encode(cases[0]![1], good);
  const m = (f: (b: Buffer) => void): Buffer => {
    const b = Buffer.from(good);
    f(b);
    return b;
  };
  assert.throws(() => decode(good, 0, 1), isDE(/truncated/));
  assert.throws(() => decode(m((b) => (b[0] = 213))), isDE(/option code 213, not 212/));
  assert.throws(() => decode(good, 0, 23), isDE(/option-length 22 exceeds the 21 bytes/));
  assert.throws(() => decode(m((b) => (b[1] = 18))), isDE(/option-length 18: expected 22 \+ 4n/));
  assert.throws(
    () =>
      decode(
        m((b) => (b[1] = 21)),
        0,
        24,
      ),
    isDE(/option-length 21/),
  );
  assert.throws(() => decode(m((b) => (b[2] = 33))), isDE(/IPv4MaskLen 33/));
  assert.throws(() => decode(m((b) => (b[3] = 97))), isDE(/6rdPrefixLen 97 with IPv4MaskLen 0/));
});

test("findSixRdOption: scans a DHCPv4 options field with pad, other options and end", () => {
  const opt = Buffer.alloc(28);
  const n = encode(cases[1]![1], opt);
  const field = Buffer.concat([
    Buffer.from([53, 1, 5]), // DHCP message type ACK
    Buffer.from([0, 0]), // pad
    Buffer.from([1, 4, 255, 255, 255, 0]), // subnet mask
    opt.subarray(0, n),
    Buffer.from([255]),
  ]);
  assert.deepStrictEqual(findSixRdOption(field, 0, field.length), cases[1]![1]);
  assert.equal(findSixRdOption(field, 0, 11), null);
  assert.equal(findSixRdOption(Buffer.from([53, 1, 5, 255, 212]), 0, 5), null, "after End");
  assert.throws(() => findSixRdOption(Buffer.from([53, 5, 5]), 0, 3), /runs past/);
});

test("OPTION_6RD random bytes: only DecodeError", () => {
  const corpus = cases.map(([, v]) => {
    const b = Buffer.alloc(encodingLength(v));
    encode(v, b);
    return b;
  });
  const ok = fuzzDecoder((b, o, l) => decode(b, o, l), { corpus, iterations: 4000, maxLen: 40 });
  assert.ok(ok > 0);
  fuzzDecoder((b, o, l) => findSixRdOption(b, o, l), { corpus, iterations: 4000, seed: 11 });
});
