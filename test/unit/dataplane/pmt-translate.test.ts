/**
 * Table tests for RFC 6732 prefix translation in place (module/dataplane/pmt-translate.ts):
 * Figure 3 addresses (RFC 6732 §3.3), not-mapped SLAs left as plain 6to4 (§3.3), checksum
 * management (§4.5 -> RFC 3022 §4.2, RFC 1624), ICMPv6 errors with the invoking packet
 * (RFC 3022 §4.3, RFC 4443 §2.4, RFC 6732 §4.4 Packet Too Big), fragments (RFC 8200 §4.5),
 * the zero UDP checksum (RFC 8200 §8.1) and truncated packets.
 */

import { test } from "node:test";
import assert from "node:assert/strict";
import { fold, onesSum, pseudoHeaderSumV6 } from "../../../module/codec/checksum.js";
import { parseIpv6, parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import {
  DROP_EXT_HEADER_TRUNCATED,
  DROP_ICMPV6_EMBEDDED_TRUNCATED,
  DROP_ICMPV6_TRUNCATED,
  DROP_IPV6_BAD_VERSION,
  DROP_IPV6_LENGTH_MISMATCH,
  DROP_IPV6_TRUNCATED,
  DROP_L4_TRUNCATED,
  DROP_NONE,
  DROP_UDP_ZERO_CHECKSUM,
} from "../../../module/addr/drop-reason.js";
import {
  createUpperLayer,
  translateDestinationTo6to4,
  translateDestinationToProvider,
  translateSourceTo6to4,
  translateSourceToProvider,
  TRANSLATE_NOT_MAPPED,
} from "../../../module/dataplane/pmt-translate.js";
import {
  addr6,
  buildIcmpv6EchoPacket,
  buildIpv6Packet,
  buildTcp,
  buildTcpPacket,
  buildUdpPacket,
  writeUpperChecksum,
  type Addr6,
  type ExtHeader,
} from "../../support/packet-builder.js";

const FIGURE3 = createPmtMapping({ providerPrefix: parseIpv6Prefix("2001:db8::/32")! });
const ul = createUpperLayer();

// RFC 6732 Figure 3: 12.152.44.1 (0c98:2c01), SLA 0000.
const FIG3_6TO4 = "2002:c98:2c01::1234:5678:9abc:def0";
const FIG3_PROVIDER = "2001:db8:c98:2c01:1234:5678:9abc:def0";
// Documentation address 192.0.2.1: 2002:c000:201::/48 (STYLE.md).
const DOC_6TO4 = "2002:c000:201:0:aaaa:bbbb:cccc:dddd";
const DOC_PROVIDER = "2001:db8:c000:201:aaaa:bbbb:cccc:dddd";
const REMOTE = "3fff:100::80";

/** Upper-layer checksum of an unfragmented packet verifies over the whole packet (RFC 8200 §8.1). */
function checksumVerifies(pkt: Buffer, upperOff: number, proto: number): boolean {
  const sum = pseudoHeaderSumV6(pkt, 8, 24, pkt.length - upperOff, proto);
  return fold(onesSum(pkt, upperOff, pkt.length, sum)) === 0xffff;
}

/** An ICMPv6 error message (RFC 4443 §3) from src to dst holding `invoking` cut to `keep` bytes. */
function icmpv6ErrorPacket(
  type: number,
  code: number,
  param: number,
  src: Addr6,
  dst: Addr6,
  invoking: Buffer,
  keep = invoking.length,
): Buffer {
  const m = Buffer.alloc(8 + Math.min(keep, invoking.length));
  m[0] = type;
  m[1] = code;
  m.writeUInt32BE(param >>> 0, 4);
  invoking.copy(m, 8, 0, m.length - 8);
  writeUpperChecksum(m, 2, src, dst, 58);
  return buildIpv6Packet({ src, dst, nextHeader: 58, payload: m });
}

test("RFC 6732 Figure 3: 2002:0C98:2C01:0000:: <-> 2001:0db8:0c98:2c01:: with the TCP checksum fixed", () => {
  const original = buildTcpPacket({ src: FIG3_6TO4, dst: REMOTE, payload: Buffer.from("GET /") });
  const pkt = Buffer.from(original);
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(
    pkt,
    buildTcpPacket({ src: FIG3_PROVIDER, dst: REMOTE, payload: Buffer.from("GET /") }),
  );
  assert.ok(checksumVerifies(pkt, 40, 6));
  assert.equal(translateSourceTo6to4(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(pkt, original);
});

test("Figure 3 delta is one constant per configuration (P words in, 2002 and SLA out)", () => {
  assert.equal(FIGURE3.checksumDeltaConstant, true);
  // ~(0x2002 + 0x0000) + 0x2001 + 0x0db8, folded.
  const expected = fold((~0x2002 & 0xffff) + (~0 & 0xffff) + 0x2001 + 0x0db8);
  assert.equal(FIGURE3.checksumDeltaToProvider, expected);
});

interface DirectionCase {
  name: string;
  fn: typeof translateSourceToProvider;
  src: boolean;
  before: string;
  after: string;
}

const DIRECTIONS: DirectionCase[] = [
  {
    name: "relay: source 6to4 -> provider",
    fn: translateSourceToProvider,
    src: true,
    before: DOC_6TO4,
    after: DOC_PROVIDER,
  },
  {
    name: "relay: destination provider -> 6to4",
    fn: translateDestinationTo6to4,
    src: false,
    before: DOC_PROVIDER,
    after: DOC_6TO4,
  },
  {
    name: "cpe: LAN source provider -> 6to4",
    fn: translateSourceTo6to4,
    src: true,
    before: DOC_PROVIDER,
    after: DOC_6TO4,
  },
  {
    name: "cpe: destination 6to4 -> LAN provider",
    fn: translateDestinationToProvider,
    src: false,
    before: DOC_6TO4,
    after: DOC_PROVIDER,
  },
];

const BUILDERS: { name: string; proto: number; build: (src: Addr6, dst: Addr6) => Buffer }[] = [
  {
    name: "TCP",
    proto: 6,
    build: (src, dst) => buildTcpPacket({ src, dst, payload: Buffer.alloc(33, 7) }),
  },
  {
    name: "UDP",
    proto: 17,
    build: (src, dst) => buildUdpPacket({ src, dst, payload: Buffer.from("dns?") }),
  },
  { name: "ICMPv6 echo", proto: 58, build: (src, dst) => buildIcmpv6EchoPacket({ src, dst }) },
];

for (const d of DIRECTIONS) {
  for (const b of BUILDERS) {
    test(`${d.name}, ${b.name}: equals the packet built with the translated address`, () => {
      const pkt = d.src ? b.build(d.before, REMOTE) : b.build(REMOTE, d.before);
      const expected = d.src ? b.build(d.after, REMOTE) : b.build(REMOTE, d.after);
      assert.equal(d.fn(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
      assert.deepEqual(pkt, expected);
      assert.ok(checksumVerifies(pkt, 40, b.proto));
    });
  }
}

test("UDP whose translated checksum computes to 0 is sent as 0xffff (RFC 768)", () => {
  // With a zero payload word the translated sum is ~ck; a payload word of ck makes it 0xffff,
  // whose checksum computes to 0 and is sent as 0xffff.
  const zero = buildUdpPacket({ src: DOC_PROVIDER, dst: REMOTE, payload: Buffer.alloc(2) });
  const word = zero.readUInt16BE(46);
  const p = buildUdpPacket({
    src: DOC_6TO4,
    dst: REMOTE,
    payload: Buffer.from([word >> 8, word & 0xff]),
  });
  const t = buildUdpPacket({
    src: DOC_PROVIDER,
    dst: REMOTE,
    payload: Buffer.from([word >> 8, word & 0xff]),
  });
  assert.equal(t.readUInt16BE(46), 0xffff, "test setup: recomputation gives 0 -> 0xffff");
  assert.equal(translateSourceToProvider(p, 0, p.length, FIGURE3, ul), DROP_NONE);
  assert.equal(p.readUInt16BE(46), 0xffff);
  assert.deepEqual(p, t);
  assert.equal(translateSourceTo6to4(p, 0, p.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(
    p,
    buildUdpPacket({ src: DOC_6TO4, dst: REMOTE, payload: Buffer.from([word >> 8, word & 0xff]) }),
  );
});

test("not mapped: other SLA, outside the provider prefix, native to native -> untouched", () => {
  const cases: [string, typeof translateSourceToProvider, Addr6, Addr6][] = [
    [
      "SLA 0001 stays plain 6to4 (RFC 6732 §3.3)",
      translateSourceToProvider,
      "2002:c000:201:1::1",
      REMOTE,
    ],
    ["SLA ffff", translateSourceToProvider, "2002:c000:201:ffff::1", REMOTE],
    ["native source", translateSourceToProvider, "3fff:100::1", REMOTE],
    ["destination outside 2001:db8::/32", translateDestinationTo6to4, REMOTE, "3fff:200::1"],
    ["destination already 6to4", translateDestinationTo6to4, REMOTE, DOC_6TO4],
    ["cpe: LAN source not in the provider prefix", translateSourceTo6to4, "3fff:300::1", REMOTE],
    [
      "cpe: destination 6to4 of SLA 0002",
      translateDestinationToProvider,
      REMOTE,
      "2002:c000:201:2::1",
    ],
  ];
  for (const [name, fn, src, dst] of cases) {
    const original = buildTcpPacket({ src, dst });
    const pkt = Buffer.from(original);
    assert.equal(fn(pkt, 0, pkt.length, FIGURE3, ul), TRANSLATE_NOT_MAPPED, name);
    assert.deepEqual(pkt, original, name);
  }
  // SLA 1 is mapped by a mapping configured with --sla 1.
  const sla1 = createPmtMapping({ providerPrefix: parseIpv6Prefix("2001:db8::/32")!, sla: 1 });
  const pkt = buildTcpPacket({ src: "2002:c000:201:1::1", dst: REMOTE });
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, sla1, ul), DROP_NONE);
  assert.deepEqual(pkt, buildTcpPacket({ src: "2001:db8:c000:201::1", dst: REMOTE }));
});

test("zero UDP checksum is dropped (RFC 8200 §8.1) and the packet is left as it came", () => {
  const original = buildUdpPacket({ src: DOC_6TO4, dst: REMOTE, zeroChecksum: true });
  const pkt = Buffer.from(original);
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, FIGURE3, ul), DROP_UDP_ZERO_CHECKSUM);
  assert.deepEqual(pkt, original);
  const inbound = buildUdpPacket({ src: REMOTE, dst: DOC_PROVIDER, zeroChecksum: true });
  assert.equal(
    translateDestinationTo6to4(inbound, 0, inbound.length, FIGURE3, ul),
    DROP_UDP_ZERO_CHECKSUM,
  );
  assert.deepEqual(inbound.subarray(24, 40), Buffer.from(addr6(DOC_PROVIDER)));
});

test("truncated and malformed packets -> drop reason, packet untouched", () => {
  const tcp = buildTcpPacket({ src: DOC_6TO4, dst: REMOTE });
  const cut = (b: Buffer, plen: number, len = 40 + plen): Buffer => {
    const c = Buffer.from(b.subarray(0, len));
    c.writeUInt16BE(plen, 4);
    return c;
  };
  const echo = buildIcmpv6EchoPacket({ src: DOC_6TO4, dst: REMOTE });
  const udp = buildUdpPacket({ src: DOC_6TO4, dst: REMOTE });
  const hbh: ExtHeader[] = [{ type: 0, data: Buffer.alloc(14) }];
  const withHbh = buildTcpPacket({ src: DOC_6TO4, dst: REMOTE, extHeaders: hbh });
  const invoking = buildTcpPacket({ src: REMOTE, dst: DOC_6TO4 });
  const badVersion = Buffer.from(tcp);
  badVersion[0] = 0x45;
  const cases: [string, Buffer, number, number][] = [
    ["empty", Buffer.alloc(0), 0, DROP_IPV6_TRUNCATED],
    ["39 bytes", tcp.subarray(0, 39), 39, DROP_IPV6_TRUNCATED],
    ["len past the buffer", tcp, tcp.length + 1, DROP_IPV6_TRUNCATED],
    ["version 4", badVersion, badVersion.length, DROP_IPV6_BAD_VERSION],
    ["payload length beyond the bytes", tcp, tcp.length - 1, DROP_IPV6_LENGTH_MISMATCH],
    ["TCP header cut at 19 bytes", cut(tcp, 19), 59, DROP_L4_TRUNCATED],
    ["UDP header cut at 7 bytes", cut(udp, 7), 47, DROP_L4_TRUNCATED],
    ["ICMPv6 header cut at 7 bytes", cut(echo, 7), 47, DROP_ICMPV6_TRUNCATED],
    ["Hop-by-Hop header cut", cut(withHbh, 12), 52, DROP_EXT_HEADER_TRUNCATED],
  ];
  const errFull = icmpv6ErrorPacket(1, 4, 0, DOC_6TO4, REMOTE, invoking);
  for (const keep of [0, 20, 39]) {
    const e = icmpv6ErrorPacket(1, 4, 0, DOC_6TO4, REMOTE, invoking, keep);
    cases.push([
      `ICMPv6 error with ${keep} bytes of invoking packet`,
      e,
      e.length,
      DROP_ICMPV6_EMBEDDED_TRUNCATED,
    ]);
  }
  assert.ok(errFull.length > 88);
  for (const [name, pkt, len, reason] of cases) {
    const before = Buffer.from(pkt);
    assert.equal(translateSourceToProvider(pkt, 0, len, FIGURE3, ul), reason, name);
    assert.deepEqual(pkt, before, `${name}: touched`);
  }
});

test("bytes after Payload Length (link padding) are neither read nor written", () => {
  const pkt = buildTcpPacket({ src: DOC_6TO4, dst: REMOTE });
  const padded = Buffer.concat([pkt, Buffer.alloc(6, 0xee)]);
  assert.equal(translateSourceToProvider(padded, 0, padded.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(
    padded.subarray(0, pkt.length),
    buildTcpPacket({ src: DOC_PROVIDER, dst: REMOTE }),
  );
  assert.deepEqual(padded.subarray(pkt.length), Buffer.alloc(6, 0xee));
});

test("extension headers before TCP: Hop-by-Hop, Routing, Destination Options", () => {
  const extHeaders: ExtHeader[] = [
    { type: 0, data: Buffer.alloc(6) },
    { type: 43, data: Buffer.from([253, 0, 1, 2, 3, 4]) },
    { type: 60, data: Buffer.alloc(14) },
  ];
  const pkt = buildTcpPacket({ src: DOC_6TO4, dst: REMOTE, extHeaders });
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(pkt, buildTcpPacket({ src: DOC_PROVIDER, dst: REMOTE, extHeaders }));
});

test("fragments: the first one gets the datagram checksum fixed, a non-first one only its address", () => {
  const seg = buildTcp({ src: DOC_6TO4, dst: REMOTE, payload: Buffer.alloc(100, 1) });
  const segT = buildTcp({ src: DOC_PROVIDER, dst: REMOTE, payload: Buffer.alloc(100, 1) });
  const frag = (src: Addr6, offset8: number, bytes: Buffer, more: boolean): Buffer =>
    buildIpv6Packet({
      src,
      dst: REMOTE,
      nextHeader: 6,
      payload: bytes,
      extHeaders: [{ type: 44, fragmentOffset: offset8, more, ident: 7 }],
    });
  const first = frag(DOC_6TO4, 0, seg.subarray(0, 64), true);
  assert.equal(translateSourceToProvider(first, 0, first.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(first, frag(DOC_PROVIDER, 0, segT.subarray(0, 64), true));
  const rest = frag(DOC_6TO4, 8, seg.subarray(64), false);
  assert.equal(translateSourceToProvider(rest, 0, rest.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(rest, frag(DOC_PROVIDER, 8, seg.subarray(64), false));
  // A non-first fragment that would look like a zero-checksum UDP header is not parsed.
  const zeros = buildIpv6Packet({
    src: DOC_6TO4,
    dst: REMOTE,
    nextHeader: 17,
    payload: Buffer.alloc(16),
    extHeaders: [{ type: 44, fragmentOffset: 3, more: false }],
  });
  assert.equal(translateSourceToProvider(zeros, 0, zeros.length, FIGURE3, ul), DROP_NONE);
});

test("ESP: only the address changes (no checksum visible)", () => {
  const esp = buildIpv6Packet({
    src: DOC_6TO4,
    dst: REMOTE,
    nextHeader: 50,
    payload: Buffer.alloc(24, 9),
  });
  assert.equal(translateSourceToProvider(esp, 0, esp.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(
    esp,
    buildIpv6Packet({
      src: DOC_PROVIDER,
      dst: REMOTE,
      nextHeader: 50,
      payload: Buffer.alloc(24, 9),
    }),
  );
});

test("Packet Too Big from the Internet to a customer (RFC 6732 §4.4, RFC 3022 §4.3): outer destination and embedded source translated, both checksums fixed", () => {
  const router = "3fff:100::fe";
  // The customer's TCP segment as it left the relay (translated source).
  const sentT = buildTcpPacket({ src: DOC_PROVIDER, dst: REMOTE, payload: Buffer.alloc(1300, 3) });
  const sent = buildTcpPacket({ src: DOC_6TO4, dst: REMOTE, payload: Buffer.alloc(1300, 3) });
  const keep = 1280 - 48;
  const pkt = icmpv6ErrorPacket(2, 0, 1400, router, DOC_PROVIDER, sentT, keep);
  assert.equal(translateDestinationTo6to4(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(pkt, icmpv6ErrorPacket(2, 0, 1400, router, DOC_6TO4, sent, keep));
  assert.ok(checksumVerifies(pkt, 40, 58));
  // The embedded TCP checksum is the one of the whole untranslated segment.
  assert.equal(pkt.readUInt16BE(48 + 40 + 16), sent.readUInt16BE(40 + 16));
});

test("ICMPv6 error from a customer: outer source and embedded destination translated", () => {
  const invoking = buildUdpPacket({ src: REMOTE, dst: DOC_6TO4, payload: Buffer.alloc(40, 5) });
  const invokingT = buildUdpPacket({
    src: REMOTE,
    dst: DOC_PROVIDER,
    payload: Buffer.alloc(40, 5),
  });
  const pkt = icmpv6ErrorPacket(1, 4, 0, DOC_6TO4, REMOTE, invoking);
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(pkt, icmpv6ErrorPacket(1, 4, 0, DOC_PROVIDER, REMOTE, invokingT));
  assert.ok(checksumVerifies(pkt, 40, 58));
});

test("ICMPv6 error whose embedded address is not mapped: only the outer address changes", () => {
  const invoking = buildTcpPacket({ src: REMOTE, dst: "2002:c000:201:7::1" });
  const pkt = icmpv6ErrorPacket(3, 0, 0, DOC_6TO4, REMOTE, invoking);
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.deepEqual(pkt, icmpv6ErrorPacket(3, 0, 0, DOC_PROVIDER, REMOTE, invoking));
});

test("ICMPv6 error whose copy ends inside the embedded checksum: that byte stays, outer checksum verifies", () => {
  const invoking = buildTcpPacket({ src: REMOTE, dst: DOC_6TO4 });
  const keep = 40 + 17; // high byte of the TCP checksum only
  const pkt = icmpv6ErrorPacket(1, 0, 0, DOC_6TO4, REMOTE, invoking, keep);
  const before = pkt[48 + 56]!;
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.equal(pkt[48 + 56], before);
  assert.ok(checksumVerifies(pkt, 40, 58));
  assert.deepEqual(pkt.subarray(48 + 24, 48 + 40), Buffer.from(parseIpv6(DOC_PROVIDER)!));
});

test("ICMPv6 error whose embedded UDP checksum is zero: left zero, outer checksum verifies", () => {
  const invoking = buildUdpPacket({ src: REMOTE, dst: DOC_6TO4, zeroChecksum: true });
  const pkt = icmpv6ErrorPacket(1, 4, 0, DOC_6TO4, REMOTE, invoking);
  assert.equal(translateSourceToProvider(pkt, 0, pkt.length, FIGURE3, ul), DROP_NONE);
  assert.equal(pkt.readUInt16BE(48 + 46), 0);
  assert.ok(checksumVerifies(pkt, 40, 58));
});
