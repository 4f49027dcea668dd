// Independent cross-check of our encoders with Wireshark's dissectors (tshark, Debian package
// tshark): IPv4 protocol 41 (RFC 3056 §5, RFC 791), IPv6 with extension headers (RFC 8200 §4),
// TCP/UDP checksums (RFC 8200 §8.1), ICMPv6 echo and errors (RFC 4443), RS/RA/NS/NA with every
// option (RFC 4861 §4, RFC 4191 §2.3, RFC 8106 §5), DHCPv4 OPTION_6RD (RFC 5969 §7.1.1).
// The test fails on any malformed-packet, error-level expert info or bad-checksum report.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as sixrd from "../../module/codec/dhcp-6rd-option.js";
import * as icmpv6 from "../../module/codec/icmpv6.js";
import { ndMessage, type NdMessage } from "../../module/codec/nd.js";
import type { NdOption } from "../../module/codec/nd-options.js";
import {
  addr6,
  buildIcmpv6EchoPacket,
  buildIpv4UdpPacket,
  buildIpv6Packet,
  buildTcpPacket,
  buildUdpPacket,
  encapsulate6to4,
} from "../support/packet-builder.js";
import { LINKTYPE_RAW, writePcap } from "../support/pcap.js";
import { dissect, tsharkSkipReason } from "../support/tshark.js";

const CPE6 = "2002:c000:201::1"; // 6to4 of 192.0.2.1
const HOST6 = "2001:db8::1";
const LL = "fe80::1";
const ALL_NODES = "ff02::1";

function icmpPacket(m: icmpv6.Icmpv6Message, src: string, dst: string, hopLimit = 64): Buffer {
  const body = Buffer.alloc(icmpv6.encodingLength(m));
  icmpv6.encode(m, body, 0, { src: addr6(src), dst: addr6(dst) });
  return buildIpv6Packet({ src, dst, nextHeader: 58, payload: body, hopLimit });
}

function ndPacket(m: NdMessage, src: string, dst: string): Buffer {
  const body = Buffer.alloc(ndMessage.encodingLength(m));
  ndMessage.encode(m, body, 0, { src: addr6(src), dst: addr6(dst) });
  return buildIpv6Packet({ src, dst, nextHeader: 58, payload: body, hopLimit: 255 });
}

function errorPacket(type: number, code: number, param: number, invoking: Buffer): Buffer {
  const buf = Buffer.alloc(1500);
  const n = icmpv6.writeIcmpv6Error(
    buf,
    0,
    type,
    code,
    param,
    addr6("2001:db8:ffff::1"),
    0,
    invoking,
    8, // the error goes back to the invoking packet's source
    invoking,
    0,
    invoking.length,
    1280,
  );
  return buf.subarray(0, n);
}

function dhcpAckWith6rd(): Buffer {
  const bootp = Buffer.alloc(240);
  bootp[0] = 2; // BOOTREPLY
  bootp[1] = 1; // Ethernet
  bootp[2] = 6;
  bootp.writeUInt32BE(0x6732abcd, 4);
  bootp.writeUInt32BE(0xc000020a, 16); // yiaddr 192.0.2.10
  bootp.writeUInt32BE(0xc0000201, 20); // siaddr
  Buffer.from("02005e100001", "hex").copy(bootp, 28);
  bootp.writeUInt32BE(0x63825363, 236); // magic cookie (RFC 2132 §2)
  const opt212 = Buffer.alloc(32);
  const n = sixrd.encode(
    {
      ipv4MaskLen: 0,
      sixrdPrefixLen: 32,
      sixrdPrefix: addr6("2001:db8::"),
      brAddresses: [0xc0586301, 0xc6336401],
    },
    opt212,
  );
  const options = Buffer.concat([
    Buffer.from([53, 1, 5]), // DHCPACK
    Buffer.from([54, 4, 192, 0, 2, 1]), // server identifier
    Buffer.from([51, 4, 0, 0, 0x0e, 0x10]), // lease 3600 s
    Buffer.from([1, 4, 255, 255, 255, 0]),
    Buffer.from([3, 4, 192, 0, 2, 1]),
    opt212.subarray(0, n),
    Buffer.from([255]),
  ]);
  return buildIpv4UdpPacket({
    src: "192.0.2.1",
    dst: "192.0.2.10",
    srcPort: 67,
    dstPort: 68,
    payload: Buffer.concat([bootp, options]),
  });
}

const mac = new Uint8Array([0x02, 0x00, 0x5e, 0x10, 0x00, 0x01]);
const raOptions: NdOption[] = [
  { kind: "source-link-layer-address", address: mac },
  { kind: "mtu", mtu: 1480 },
  {
    kind: "prefix-information",
    prefixLength: 64,
    onLink: true,
    autonomous: true,
    validLifetime: 5400,
    preferredLifetime: 2700,
    prefix: addr6("2001:db8:c000:201::"),
  },
  {
    kind: "route-information",
    prefixLength: 0,
    preference: "medium",
    routeLifetime: 1800,
    prefix: new Uint8Array(16),
  },
  {
    kind: "route-information",
    prefixLength: 48,
    preference: "high",
    routeLifetime: 1800,
    prefix: addr6("2002:c000:201::"),
  },
  {
    kind: "route-information",
    prefixLength: 96,
    preference: "low",
    routeLifetime: 600,
    prefix: addr6("2001:db8:1:2:3:4::"),
  },
  { kind: "rdnss", lifetime: 1800, servers: [addr6("2001:db8::53"), addr6("2001:db8::35")] },
  { kind: "dnssl", lifetime: 1800, domains: ["example.com", "lan"] },
];

const tcp = buildTcpPacket({
  src: CPE6,
  dst: HOST6,
  payload: Buffer.from("GET / HTTP/1.0\r\n\r\n"),
});

const packets: Array<[string, Buffer]> = [
  ["6to4 IPv4+IPv6+TCP", encapsulate6to4(tcp, "192.0.2.1", "192.88.99.1")],
  [
    "6to4 IPv4+IPv6+UDP with HBH and Destination Options",
    encapsulate6to4(
      buildUdpPacket({
        src: CPE6,
        dst: HOST6,
        srcPort: 50000,
        dstPort: 50001,
        payload: Buffer.from("hello"),
        extHeaders: [{ type: 0, data: new Uint8Array([5, 2, 0, 0]) }, { type: 60 }],
      }),
      "192.0.2.1",
      "192.88.99.1",
    ),
  ],
  ["IPv6 TCP SYN", buildTcpPacket({ src: HOST6, dst: CPE6, flags: 0x02 })],
  [
    "IPv6 UDP",
    buildUdpPacket({
      src: HOST6,
      dst: CPE6,
      srcPort: 50000,
      dstPort: 50001,
      payload: Buffer.alloc(100, 1),
    }),
  ],
  ["builder ICMPv6 echo", buildIcmpv6EchoPacket({ src: CPE6, dst: HOST6 })],
  [
    "ICMPv6 echo request",
    icmpPacket(
      { kind: "echo-request", id: 0x6732, seq: 7, data: Buffer.from("ping") },
      CPE6,
      HOST6,
    ),
  ],
  [
    "ICMPv6 echo reply",
    icmpPacket({ kind: "echo-reply", id: 0x6732, seq: 7, data: Buffer.from("ping") }, HOST6, CPE6),
  ],
  [
    "ICMPv6 dest unreachable (encoder)",
    icmpPacket({ kind: "dest-unreach", code: 3, invoking: tcp }, HOST6, CPE6),
  ],
  ["writeIcmpv6Error dest unreachable", errorPacket(1, 0, 0, tcp)],
  ["writeIcmpv6Error packet too big", errorPacket(2, 0, 1480, tcp)],
  ["writeIcmpv6Error time exceeded", errorPacket(3, 0, 0, tcp)],
  ["writeIcmpv6Error parameter problem", errorPacket(4, 0, 7, tcp)],
  [
    "writeIcmpv6Error truncated to 1280",
    // No Next Header (59) inside: a cut TCP segment would (rightly) fail its own checksum.
    errorPacket(
      2,
      0,
      1280,
      buildIpv6Packet({ src: CPE6, dst: HOST6, nextHeader: 59, payload: Buffer.alloc(1400, 0x61) }),
    ),
  ],
  [
    "6to4-encapsulated packet too big",
    encapsulate6to4(errorPacket(2, 0, 1480, tcp), "192.88.99.1", "192.0.2.1"),
  ],
  ["RS", ndPacket({ kind: "router-solicitation", options: [raOptions[0]!] }, LL, "ff02::2")],
  [
    "RA with every option",
    ndPacket(
      {
        kind: "router-advertisement",
        curHopLimit: 64,
        managed: false,
        other: true,
        homeAgent: false,
        preference: "high",
        routerLifetime: 1800,
        reachableTime: 0,
        retransTimer: 0,
        options: raOptions,
      },
      LL,
      ALL_NODES,
    ),
  ],
  [
    "NS",
    ndPacket(
      { kind: "neighbor-solicitation", target: addr6("2001:db8::2"), options: [raOptions[0]!] },
      "2001:db8::1",
      "ff02::1:ff00:2",
    ),
  ],
  [
    "NA",
    ndPacket(
      {
        kind: "neighbor-advertisement",
        router: true,
        solicited: true,
        override: true,
        target: addr6("2001:db8::2"),
        options: [{ kind: "target-link-layer-address", address: mac }],
      },
      "2001:db8::2",
      "2001:db8::1",
    ),
  ],
  ["DHCPv4 ACK with OPTION_6RD", dhcpAckWith6rd()],
];

const skip = tsharkSkipReason();

test(
  "tshark dissects every packet we encode without malformed or bad-checksum reports",
  { skip },
  () => {
    const dir = mkdtempSync(join(tmpdir(), "6to4pmt-tshark-"));
    try {
      const file = join(dir, "codec.pcap");
      writePcap(
        file,
        packets.map(([, p]) => p),
        LINKTYPE_RAW,
      );
      const report = dissect(file);
      assert.equal(report.frames.length, packets.length, "one dissection per packet");
      const named = report.problems.map((p) => {
        const n = Number(/^frame (\d+)/.exec(p)?.[1] ?? 0);
        return `${packets[n - 1]?.[0] ?? "?"}: ${p}`;
      });
      assert.deepStrictEqual(named, [], "no problems reported by tshark");
      const f = (name: string): string => report.frames[packets.findIndex(([n]) => n === name)]!;

      assert.match(f("6to4 IPv4+IPv6+TCP"), /Protocol: IPv6 \(41\)/i);
      assert.match(f("6to4 IPv4+IPv6+TCP"), /Header checksum: 0x[0-9a-f]+ \[correct\]/i);
      assert.match(f("6to4 IPv4+IPv6+TCP"), /Checksum: 0x[0-9a-f]+ \[correct\]/i);
      assert.match(f("IPv6 UDP"), /Checksum Status: Good/i);
      assert.match(f("ICMPv6 echo request"), /Echo \(ping\) request/i);
      assert.match(f("ICMPv6 echo request"), /\[Checksum Status: Good\]/i);
      assert.match(f("writeIcmpv6Error packet too big"), /MTU: 1480/i);
      assert.match(f("writeIcmpv6Error parameter problem"), /Pointer: 7/i);
      assert.match(f("writeIcmpv6Error truncated to 1280"), /Payload Length: 1240/i);
      const ra = f("RA with every option");
      assert.match(ra, /Router Advertisement/i);
      assert.match(ra, /\[Checksum Status: Good\]/i);
      assert.match(ra, /Prefix: 2001:db8:c000:201::/i);
      assert.match(ra, /MTU: 1480/i);
      assert.match(ra, /Route Information : High 2002:c000:201::\/48/i);
      assert.match(ra, /Route Information : Low 2001:db8:1:2:3:4::\/96/i);
      assert.match(ra, /Route Information : Medium ::\/0/i);
      assert.match(ra, /Prefix: 2002:c000:201::/i);
      assert.match(ra, /Recursive DNS Servers: 2001:db8::53/i);
      assert.match(ra, /Domain Names: example\.com/i);
      assert.match(ra, /Domain Names: lan/i);
      assert.match(ra, /Link-layer address: 02:00:5e:10:00:01/i);
      assert.match(f("NA"), /Target Address: 2001:db8::2/i);
      const dhcp = f("DHCPv4 ACK with OPTION_6RD");
      assert.match(dhcp, /\(212\) 6RD/i);
      assert.match(dhcp, /6RD Prefix: 2001:db8::/i);
      assert.match(dhcp, /Border Relay IP: 192\.88\.99\.1/i);
      assert.match(dhcp, /Border Relay IP: 198\.51\.100\.1/i);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);

test("the tshark check itself catches a bad checksum and a malformed packet", { skip }, () => {
  const dir = mkdtempSync(join(tmpdir(), "6to4pmt-tshark-"));
  try {
    const file = join(dir, "bad.pcap");
    const badIcmp = Buffer.from(packets[5]![1]);
    badIcmp[badIcmp.length - 1] = badIcmp[badIcmp.length - 1]! ^ 0xff;
    const badV4 = Buffer.from(packets[0]![1]);
    badV4[8] = 1; // TTL changed, header checksum not updated
    const cut = ndPacket({ kind: "router-solicitation", options: [raOptions[0]!] }, LL, "ff02::2");
    const zeroLenOpt = Buffer.from(cut);
    zeroLenOpt[40 + 8 + 1] = 0; // option length 0 (RFC 4861 §4.6)
    writePcap(file, [badIcmp, badV4, zeroLenOpt], LINKTYPE_RAW);
    const report = dissect(file);
    assert.ok(
      report.problems.some((p) => p.startsWith("frame 1:")),
      "bad ICMPv6 checksum seen",
    );
    assert.ok(
      report.problems.some((p) => p.startsWith("frame 2:")),
      "bad IPv4 checksum seen",
    );
    assert.ok(
      report.problems.some((p) => p.startsWith("frame 3:")),
      "zero-length option seen",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
