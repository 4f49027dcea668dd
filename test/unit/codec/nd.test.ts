// Neighbor Discovery (RFC 4861 §4.1-§4.4, §4.6), Route Information (RFC 4191 §2.2, §2.3),
// RDNSS/DNSSL (RFC 8106 §5.1, §5.2).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  dnsslOption,
  mtuOption,
  ndOption,
  prefixInfoOption,
  rdnssOption,
  routeInfoOption,
  sourceLinkLayerAddressOption,
  targetLinkLayerAddressOption,
  unknownOption,
  decodeOptions,
  type NdOption,
  type OptionCodec,
  type PrefixInfoOption,
} from "../../../module/codec/nd-options.js";
import {
  ndMessage,
  neighborAdvertisement,
  neighborSolicitation,
  routerAdvertisement,
  routerSolicitation,
  type NdMessage,
  type RouterAdvertisement,
} from "../../../module/codec/nd.js";
import { verifyIcmpv6Checksum } from "../../../module/codec/icmpv6.js";
import { DecodeError } from "../../../module/codec/decode-error.js";
import { assertRoundtrip, fuzzDecoder } from "../../support/roundtrip.js";
import { addr6 } from "../../support/packet-builder.js";

const mac = new Uint8Array([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
const slla: NdOption = { kind: "source-link-layer-address", address: mac };
const tlla: NdOption = { kind: "target-link-layer-address", address: mac };
const pio: PrefixInfoOption = {
  kind: "prefix-information",
  prefixLength: 64,
  onLink: true,
  autonomous: true,
  validLifetime: 5400,
  preferredLifetime: 2700,
  prefix: addr6("2001:db8:c000:201::"),
};
const mtu: NdOption = { kind: "mtu", mtu: 1480 };
const rio0: NdOption = {
  kind: "route-information",
  prefixLength: 0,
  preference: "medium",
  routeLifetime: 1800,
  prefix: new Uint8Array(16),
};
const rio48: NdOption = {
  kind: "route-information",
  prefixLength: 48,
  preference: "high",
  routeLifetime: 0xffffffff,
  prefix: addr6("2002:c000:201::"),
};
const rio128: NdOption = {
  kind: "route-information",
  prefixLength: 128,
  preference: "low",
  routeLifetime: 0,
  prefix: addr6("2001:db8::1"),
};
const rdnss: NdOption = { kind: "rdnss", lifetime: 1800, servers: [addr6("2001:db8::53")] };
const rdnss2: NdOption = {
  kind: "rdnss",
  lifetime: 0xffffffff,
  servers: [addr6("2001:db8::53"), addr6("2001:db8::35")],
};
const dnssl: NdOption = { kind: "dnssl", lifetime: 1800, domains: ["example.com"] };
const dnssl2: NdOption = {
  kind: "dnssl",
  lifetime: 600,
  domains: ["lan", "sub.example.org", "a".repeat(63) + ".example"],
};
const unknown: NdOption = { kind: "unknown", type: 38, data: new Uint8Array(14).fill(3) };

const optionCases: Array<[string, OptionCodec<NdOption>, NdOption]> = [
  ["SLLA", sourceLinkLayerAddressOption as OptionCodec<NdOption>, slla],
  ["TLLA", targetLinkLayerAddressOption as OptionCodec<NdOption>, tlla],
  ["PIO", prefixInfoOption as OptionCodec<NdOption>, pio],
  ["MTU", mtuOption as OptionCodec<NdOption>, mtu],
  ["RIO ::/0", routeInfoOption as OptionCodec<NdOption>, rio0],
  ["RIO /48", routeInfoOption as OptionCodec<NdOption>, rio48],
  ["RIO /128", routeInfoOption as OptionCodec<NdOption>, rio128],
  ["RDNSS 1", rdnssOption as OptionCodec<NdOption>, rdnss],
  ["RDNSS 2", rdnssOption as OptionCodec<NdOption>, rdnss2],
  ["DNSSL 1", dnsslOption as OptionCodec<NdOption>, dnssl],
  ["DNSSL 3", dnsslOption as OptionCodec<NdOption>, dnssl2],
  ["unknown type 38", unknownOption as OptionCodec<NdOption>, unknown],
];

const wrap = (c: OptionCodec<NdOption>) => ({
  encode: (v: NdOption, b: Buffer, o: number) => c.encode(v, b, o),
  decode: (b: Buffer, o: number, l: number) => c.decode(b, o, l),
  encodingLength: (v: NdOption) => c.encodingLength(v),
});

for (const [name, codec, value] of optionCases) {
  test(`nd option round-trip: ${name}`, () => {
    const buf = assertRoundtrip(wrap(codec), value, name);
    assert.equal(buf.length % 8, 0, "multiple of 8 bytes (RFC 4861 §4.6)");
    assert.equal(buf[1], buf.length / 8, "length field in 8-byte units");
    assertRoundtrip(wrap(ndOption), value, `${name} via ndOption`);
  });
}

test("nd option wire formats", () => {
  const hex = (o: NdOption): string => {
    const b = Buffer.alloc(ndOption.encodingLength(o));
    ndOption.encode(o, b, 0);
    return b.toString("hex");
  };
  assert.equal(hex(slla), "0101" + "02005e100001");
  assert.equal(hex(mtu), "0501000000" + "0005c8");
  assert.equal(
    hex(pio),
    "0304" +
      "40c0" +
      "00001518" +
      "00000a8c" +
      "00000000" +
      "20010db8c0000201" +
      "0000000000000000",
  );
  assert.equal(hex(rio0), "1801" + "0000" + "00000708");
  assert.equal(hex(rio48), "1802" + "3008" + "ffffffff" + "2002c00002010000");
  assert.equal(hex(rio128).slice(0, 16), "1803" + "8018" + "00000000");
  assert.equal(hex(rdnss), "1903" + "0000" + "00000708" + "20010db8000000000000000000000053");
  // RFC 1035 §3.1: 7 "example" 3 "com" 0, padded with zeros to 24 bytes.
  assert.equal(hex(dnssl), "1f03" + "0000" + "00000708" + "076578616d706c6503636f6d00" + "000000");
});

test("nd options: encoders mask prefix bits beyond the prefix length", () => {
  const b = Buffer.alloc(32);
  prefixInfoOption.encode({ ...pio, prefixLength: 60, prefix: addr6("2001:db8:1:ffff::") }, b);
  assert.equal(b.subarray(16, 24).toString("hex"), "20010db80001fff0");
  const d = routeInfoOption.decode(Buffer.from("18023008ffffffff2002c0000201ffff", "hex"));
  assert.deepStrictEqual(d, rio48);
});

test("nd options: DNSSL accepts a trailing dot, refuses bad names", () => {
  const b = Buffer.alloc(64);
  const n = dnsslOption.encode({ kind: "dnssl", lifetime: 1, domains: ["example.com."] }, b);
  assert.deepStrictEqual(dnsslOption.decode(b, 0, n).domains, ["example.com"]);
  for (const bad of ["", ".", "a..b", "a".repeat(64), "sp ace.com", `${"a.".repeat(127)}b`]) {
    assert.throws(
      () => dnsslOption.encode({ kind: "dnssl", lifetime: 1, domains: [bad] }, b),
      RangeError,
      bad,
    );
  }
  assert.throws(
    () => dnsslOption.encode({ kind: "dnssl", lifetime: 1, domains: [] }, b),
    RangeError,
  );
  assert.throws(
    () => rdnssOption.encode({ kind: "rdnss", lifetime: 1, servers: [] }, b),
    RangeError,
  );
});

const isDE = (re: RegExp) => (e: unknown) => {
  assert.ok(e instanceof DecodeError, String(e));
  assert.match(e.message, re);
  return true;
};

test("nd options: malformed input gives precise DecodeErrors", () => {
  const h = (s: string): Buffer => Buffer.from(s.replace(/ /g, ""), "hex");
  assert.throws(
    () => decodeOptions(h("0100 0000 0000 0000"), 0, 8),
    isDE(/length 0 \(RFC 4861 §4\.6\)/),
  );
  assert.throws(
    () => decodeOptions(h("0102 0000 0000 0000"), 0, 8),
    isDE(/16 bytes exceeds the 8/),
  );
  assert.throws(() => decodeOptions(h("0101 0000 0000 0000 05"), 0, 9), isDE(/1 trailing byte/));
  assert.throws(
    () => ndOption.decode(h("0301 0000 0000 0000")),
    isDE(/prefix-information.*expected 32/),
  );
  assert.throws(
    () => ndOption.decode(h("0502 0000 0000 0000 0000 0000 0000 0000")),
    isDE(/mtu.*expected 8/),
  );
  assert.throws(
    () => ndOption.decode(h("1902 0000 0000 0000 0000 0000 0000 0000")),
    isDE(/rdnss.*odd number >= 3/),
  );
  assert.throws(
    () => ndOption.decode(h("1801 4000 0000 0000")),
    isDE(/length 1 invalid for prefix length 64/),
  );
  assert.throws(
    () => ndOption.decode(h("1802 4100 0000 0000 0000 0000 0000 0000")),
    isDE(/length 2 invalid for prefix length 65/),
  );
  assert.throws(() => ndOption.decode(h("1801 8100 0000 0000")), isDE(/prefix length 129/));
  assert.throws(() => ndOption.decode(h("1f01 0000 0000 0000")), isDE(/dnssl.*expected >= 2/));
  assert.throws(
    () => ndOption.decode(h("1f02 0000 0000 0000 c00c 0000 0000 0000")),
    isDE(/compression or > 63/),
  );
  assert.throws(
    () => ndOption.decode(h("1f02 0000 0000 0000 0761 6263 6465 6667")),
    isDE(/runs past/),
  );
  assert.throws(
    () => ndOption.decode(h("1f02 0000 0000 0000 0161 0000 0100 0000")),
    isDE(/non-zero padding/),
  );
  assert.throws(
    () => ndOption.decode(h("1f02 0000 0000 0000 0000 0000 0000 0000")),
    isDE(/no domain names/),
  );
  assert.throws(
    () => ndOption.decode(h("1f02 0000 0000 0000 0161 0a00 0000 0000")),
    isDE(/runs past|0xa/),
  );
  assert.throws(
    () => ndOption.decode(h("1f02 0000 0000 0000 0261 2e00 0000 0000")),
    isDE(/byte 0x2e/),
  );
});

const ra: RouterAdvertisement = {
  kind: "router-advertisement",
  curHopLimit: 64,
  managed: false,
  other: true,
  homeAgent: false,
  preference: "high",
  routerLifetime: 1800,
  reachableTime: 0,
  retransTimer: 0,
  options: [slla, mtu, pio, rio0, rio48, rdnss2, dnssl2],
};

const addrs = { src: addr6("fe80::1"), dst: addr6("ff02::1") };

const messages: Array<[string, NdMessage]> = [
  ["RS without options", { kind: "router-solicitation", options: [] }],
  ["RS with SLLA", { kind: "router-solicitation", options: [slla] }],
  ["RA with every option", ra],
  [
    "RA minimal, all flags, reserved preference",
    {
      ...ra,
      managed: true,
      homeAgent: true,
      preference: "reserved",
      routerLifetime: 0xffff,
      reachableTime: 0xffffffff,
      retransTimer: 1000,
      options: [],
    },
  ],
  ["RA with an unknown option last", { ...ra, options: [slla, unknown] }],
  ["NS", { kind: "neighbor-solicitation", target: addr6("2001:db8::1"), options: [slla] }],
  [
    "NA",
    {
      kind: "neighbor-advertisement",
      router: true,
      solicited: true,
      override: false,
      target: addr6("2001:db8::1"),
      options: [tlla],
    },
  ],
  [
    "NA no flags",
    {
      kind: "neighbor-advertisement",
      router: false,
      solicited: false,
      override: true,
      target: addr6("fe80::2"),
      options: [],
    },
  ],
];

for (const [name, m] of messages) {
  test(`nd message round-trip: ${name}`, () => {
    const codec = {
      encode: (v: NdMessage, b: Buffer, o: number) => ndMessage.encode(v, b, o, addrs),
      decode: (b: Buffer, o: number, l: number) => ndMessage.decode(b, o, l, addrs),
      encodingLength: ndMessage.encodingLength,
    };
    const buf = assertRoundtrip(codec, m, name);
    assert.ok(verifyIcmpv6Checksum(buf, 0, buf.length, addrs));
    const direct = {
      "router-solicitation": routerSolicitation,
      "router-advertisement": routerAdvertisement,
      "neighbor-solicitation": neighborSolicitation,
      "neighbor-advertisement": neighborAdvertisement,
    }[m.kind] as typeof ndMessage;
    assert.deepStrictEqual(direct.decode(buf, 0, buf.length, addrs), m, "per-message codec");
  });
}

test("RA encoder writes options in the fixed order whatever the input order", () => {
  const shuffled = { ...ra, options: [dnssl2, rio48, pio, rdnss2, mtu, rio0, slla] };
  const b = Buffer.alloc(routerAdvertisement.encodingLength(shuffled));
  routerAdvertisement.encode(shuffled, b, 0);
  const kinds = routerAdvertisement.decode(b).options.map((o) => o.kind);
  assert.deepStrictEqual(kinds, [
    "source-link-layer-address",
    "mtu",
    "prefix-information",
    "route-information",
    "route-information",
    "rdnss",
    "dnssl",
  ]);
  // Same-kind options keep the caller's order (rio48 before rio0 here).
  const rios = routerAdvertisement.decode(b).options.filter((o) => o.kind === "route-information");
  assert.deepStrictEqual(rios, [rio48, rio0]);
});

test("RA fixed header wire format (RFC 4861 §4.2, RFC 4191 §2.2)", () => {
  const b = Buffer.alloc(16);
  routerAdvertisement.encode({ ...ra, options: [] }, b, 0);
  assert.equal(b.toString("hex"), "86000000" + "4048" + "0708" + "00000000" + "00000000");
});

test("nd messages: DecodeErrors for type, code, length, checksum", () => {
  const b = Buffer.alloc(16);
  routerAdvertisement.encode({ ...ra, options: [] }, b, 0, addrs);
  assert.throws(() => routerAdvertisement.decode(b, 0, 15), isDE(/15 bytes, need at least 16/));
  assert.throws(() => routerSolicitation.decode(b), isDE(/type 134, expected 133/));
  assert.throws(
    () => routerAdvertisement.decode(b, 0, 16, { ...addrs, dst: addr6("ff02::2") }),
    isDE(/checksum/),
  );
  const c = Buffer.from(b);
  c[1] = 1;
  assert.throws(() => routerAdvertisement.decode(c), isDE(/code 1, expected 0/));
  c[0] = 137;
  assert.throws(() => ndMessage.decode(c), isDE(/type 137 is not RS\/RA\/NS\/NA/));
});

test("nd random bytes: decoders throw only DecodeError", () => {
  const corpus = messages.map(([, m]) => {
    const b = Buffer.alloc(ndMessage.encodingLength(m));
    ndMessage.encode(m, b, 0);
    return b;
  });
  const ok = fuzzDecoder((b, o, l) => ndMessage.decode(b, o, l), {
    corpus,
    iterations: 6000,
    maxLen: 120,
  });
  assert.ok(ok > 100, `some mutated messages decode (${ok})`);
  // Random bytes that start like an RA, to reach the option parsers.
  fuzzDecoder(
    (b, o, l) => {
      if (l >= 16) b[o] = 134;
      if (l >= 2) b[o + 1] = 0;
      return routerAdvertisement.decode(b, o, l);
    },
    { iterations: 6000, maxLen: 120, seed: 99 },
  );
  const optCorpus = optionCases.map(([, , v]) => {
    const b = Buffer.alloc(ndOption.encodingLength(v));
    ndOption.encode(v, b, 0);
    return b;
  });
  fuzzDecoder((b, o, l) => decodeOptions(b, o, l), {
    corpus: optCorpus,
    iterations: 6000,
    seed: 5,
  });
  fuzzDecoder((b, o, l) => ndOption.decode(b, o, l), {
    corpus: optCorpus,
    iterations: 6000,
    seed: 6,
  });
});
