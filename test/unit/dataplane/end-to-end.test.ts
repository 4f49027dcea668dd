/**
 * In-process end to end (as wireguard-go genTestPair): a PMT CPE and a relay run
 * their real daemons over the in-memory fakes (MemoryTun, MemoryIpv4Network), and real packets go
 * LAN host -> CPE -> IPv4 network -> relay -> Internet and back:
 *
 *   cpeTun (LAN side) [CpeDaemon 100.64.0.2] == net == [RelayDaemon 192.88.99.1] relayTun (Internet)
 *
 * RFC 6732 §3.3 (Figure 3 translation both ways, checksums still valid), §4.4 (Packet Too Big with
 * the translated address), §3.4 (two relays behind one anycast), RFC 4213 §3.2/§3.3 (PTB, Time
 * Exceeded), RFC 6343 §4.4 items 4 and 6 (echo to the relay's 6to4 address; ICMPv6 rate limit).
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { formatIpv6, parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import { silentLogger } from "../../../module/log/logger.js";
import { CpeDaemon } from "../../../module/dataplane/cpe-daemon.js";
import {
  createCpeForwardingState,
  createRelayForwardingState,
  type CpeForwardingState,
  type RelayForwardingState,
} from "../../../module/dataplane/forwarding-state.js";
import { RelayDaemon } from "../../../module/dataplane/relay-daemon.js";
import { MemoryIpv4Network, MemoryTun } from "../../../module/io/memory.js";
import {
  addr6,
  buildIcmpv6EchoPacket,
  buildIpv6Packet,
  buildTcpPacket,
  buildUdpPacket,
  upperChecksumOk,
  writeUpperChecksum,
} from "../../support/packet-builder.js";

const P = parseIpv6Prefix("2001:db8::/32")!;
const CPE_V4 = 0x64400002; // 100.64.0.2
const ANYCAST = 0xc0586301; // 192.88.99.1
const LAN_HOST = "2001:db8:6440:2::100"; // P:V4ADDR::IID, RFC 6732 Figure 3
const WIRE_HOST = "2002:6440:2::100";
const SERVER = "3fff:100::1";

interface Pair {
  net: MemoryIpv4Network;
  cpeTun: MemoryTun;
  relayTun: MemoryTun;
  cpe: CpeDaemon;
  relays: RelayDaemon[];
  relayTuns: MemoryTun[];
  clock: { ms: number };
  flush(): void;
}

function makePair(
  cpeOver: Partial<CpeForwardingState> = {},
  relayOver: Partial<RelayForwardingState> = {},
  relayCount = 1,
): Pair {
  const clock = { ms: 1000 };
  const net = new MemoryIpv4Network({ autoDeliver: false });
  const mapping = createPmtMapping({ providerPrefix: P });
  const cpeTun = new MemoryTun({ autoDeliver: false, mtu: 1500 });
  const cpe = new CpeDaemon({
    tun: cpeTun,
    raw: net.open(CPE_V4),
    state: createCpeForwardingState({
      ownIpv4: CPE_V4,
      mapping,
      allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
      icmpSource: addr6("2001:db8:6440:2::1"),
      ...cpeOver,
    }),
    log: silentLogger,
    now: () => clock.ms,
  });
  const relays: RelayDaemon[] = [];
  const relayTuns: MemoryTun[] = [];
  for (let i = 0; i < relayCount; i++) {
    const unicast = 0xc6336402 + i; // 198.51.100.2, .3
    const tun = new MemoryTun({ autoDeliver: false, mtu: 1500 });
    relayTuns.push(tun);
    relays.push(
      new RelayDaemon({
        tun,
        raw: net.open([ANYCAST, unicast]),
        state: createRelayForwardingState({
          relayIpv4s: [ANYCAST, unicast],
          customerIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
          mapping,
          providerPrefix: P,
          ...relayOver,
        }),
        log: silentLogger,
        now: () => clock.ms,
      }),
    );
  }
  cpe.start();
  for (const r of relays) r.start();
  const flush = (): void => {
    for (let i = 0; i < 10; i++) {
      const n = cpeTun.flush() + net.flush() + relayTuns.reduce((a, t) => a + t.flush(), 0);
      if (n === 0) return;
    }
  };
  return { net, cpeTun, relayTun: relayTuns[0]!, cpe, relays, relayTuns, clock, flush };
}

function stopAll(p: Pair): void {
  p.cpe.stop();
  for (const r of p.relays) r.stop();
}

function src(pkt: Uint8Array): string {
  return formatIpv6(pkt, 8);
}
function dst(pkt: Uint8Array): string {
  return formatIpv6(pkt, 24);
}

describe("CPE + relay over in-memory ports", () => {
  test("LAN host -> Internet: source translated back to P:V4ADDR::IID at the relay, checksum valid", () => {
    const p = makePair();
    const pkt = buildUdpPacket({
      src: LAN_HOST,
      dst: SERVER,
      srcPort: 4000,
      dstPort: 53,
      payload: Buffer.from("query"),
    });
    p.cpeTun.inject(pkt);
    p.flush();
    const out = p.relayTun.takeWritten();
    assert.equal(out.length, 1);
    assert.equal(src(out[0]!), LAN_HOST);
    assert.equal(dst(out[0]!), SERVER);
    assert.ok(upperChecksumOk(out[0]!));
    const c = p.cpe.counters();
    assert.equal(c.traffic.out_packets, 1);
    assert.equal(c.traffic.translated, 1);
    assert.equal(p.relays[0]!.counters().traffic.translated, 1);
    stopAll(p);
  });

  test("Internet -> LAN host: provider destination reaches the LAN host, checksum valid", () => {
    const p = makePair();
    const reply = buildUdpPacket({
      src: SERVER,
      dst: LAN_HOST,
      srcPort: 53,
      dstPort: 4000,
      payload: Buffer.from("answer"),
    });
    p.relayTun.inject(reply);
    p.flush();
    const got = p.cpeTun.takeWritten();
    assert.equal(got.length, 1);
    assert.equal(dst(got[0]!), LAN_HOST);
    assert.equal(src(got[0]!), SERVER);
    assert.ok(upperChecksumOk(got[0]!));
    assert.equal(p.cpe.counters().traffic.in_packets, 1);
    stopAll(p);
  });

  test("CPE using the relay's unicast address accepts replies encapsulated from the anycast", () => {
    const unicast = 0xc6336402; // 198.51.100.2
    const p = makePair({ relays: [unicast], relayIpv4: unicast });
    p.cpeTun.inject(
      buildUdpPacket({
        src: LAN_HOST,
        dst: SERVER,
        srcPort: 1,
        dstPort: 2,
        payload: Buffer.alloc(8),
      }),
    );
    p.relayTun.inject(
      buildUdpPacket({
        src: SERVER,
        dst: LAN_HOST,
        srcPort: 2,
        dstPort: 1,
        payload: Buffer.alloc(8),
      }),
    );
    p.flush();
    assert.equal(p.relayTun.takeWritten().length, 1);
    assert.equal(p.cpeTun.takeWritten().length, 1, JSON.stringify(p.cpe.counters().drops));
    stopAll(p);
  });

  test("2002::/16 destinations go straight to their IPv4, or to the relay with direct 6to4 off (RFC 3056 §5.3)", () => {
    for (const direct of [true, false]) {
      const p = makePair({ direct6to4: direct });
      const seen: number[] = [];
      p.net.filter = (_pkt, _src, dst) => (seen.push(dst), true);
      p.cpeTun.inject(
        buildUdpPacket({
          src: LAN_HOST,
          dst: "2002:cb00:7107::1",
          srcPort: 1,
          dstPort: 2,
          payload: Buffer.alloc(8),
        }),
      );
      p.flush();
      assert.deepEqual(seen, [direct ? 0xcb007107 : ANYCAST], `direct ${direct}`);
      stopAll(p);
    }
  });

  test("echo to the relay's 6to4 address is answered by the relay (RFC 6343 §4.4 item 4)", () => {
    const p = makePair();
    p.cpeTun.inject(buildIcmpv6EchoPacket({ src: LAN_HOST, dst: "2002:c058:6301::" }));
    p.flush();
    assert.equal(p.relayTun.takeWritten().length, 0, "not passed to the Internet");
    const got = p.cpeTun.takeWritten();
    assert.equal(got.length, 1);
    assert.equal(got[0]![40], 129, "echo reply");
    assert.equal(src(got[0]!), "2002:c058:6301::");
    assert.equal(dst(got[0]!), LAN_HOST);
    assert.ok(upperChecksumOk(got[0]!));
    stopAll(p);
  });

  test("oversize from the LAN: Packet Too Big with the tunnel MTU to the LAN host (RFC 4213 §3.2)", () => {
    const p = makePair({ tunnelMtu: 1480 });
    const big = buildUdpPacket({
      src: LAN_HOST,
      dst: SERVER,
      srcPort: 1,
      dstPort: 2,
      payload: Buffer.alloc(1452),
    });
    assert.equal(big.length, 1500);
    p.cpeTun.inject(big);
    p.flush();
    const got = p.cpeTun.takeWritten();
    assert.equal(got.length, 1);
    assert.equal(got[0]![40], 2, "ICMPv6 Packet Too Big");
    assert.equal(Buffer.from(got[0]!).readUInt32BE(44), 1480);
    assert.equal(dst(got[0]!), LAN_HOST);
    assert.equal(formatIpv6(got[0]!, 48 + 8), LAN_HOST, "quotes the packet as the host sent it");
    assert.ok(got[0]!.length <= 1280);
    assert.ok(upperChecksumOk(got[0]!));
    assert.equal(p.cpe.counters().drops.packet_too_big, 1);
    stopAll(p);
  });

  test("oversize toward a customer: relay PTB quotes the translated address (RFC 6732 §4.4)", () => {
    const p = makePair({}, { tunnelMtu: 1480 });
    p.relayTun.inject(
      buildUdpPacket({
        src: SERVER,
        dst: LAN_HOST,
        srcPort: 1,
        dstPort: 2,
        payload: Buffer.alloc(1452),
      }),
    );
    p.flush();
    assert.equal(p.cpeTun.takeWritten().length, 0);
    const got = p.relayTun.takeWritten();
    assert.equal(got.length, 1);
    assert.equal(got[0]![40], 2);
    assert.equal(Buffer.from(got[0]!).readUInt32BE(44), 1480);
    assert.equal(dst(got[0]!), SERVER);
    assert.equal(formatIpv6(got[0]!, 48 + 24), LAN_HOST, "provider address, not 2002");
    stopAll(p);
  });

  test("Time Exceeded when the data plane's own decrement reaches 0 (RFC 4213 §3.3)", () => {
    const p = makePair({ hopLimitDecrement: 1 });
    p.cpeTun.inject(
      buildUdpPacket({
        src: LAN_HOST,
        dst: SERVER,
        srcPort: 1,
        dstPort: 2,
        payload: Buffer.alloc(8),
        hopLimit: 1,
      }),
    );
    p.cpeTun.inject(
      buildUdpPacket({
        src: LAN_HOST,
        dst: SERVER,
        srcPort: 1,
        dstPort: 2,
        payload: Buffer.alloc(8),
        hopLimit: 5,
      }),
    );
    p.flush();
    const back = p.cpeTun.takeWritten();
    assert.equal(back.length, 1);
    assert.equal(back[0]![40], 3, "Time Exceeded");
    const out = p.relayTun.takeWritten();
    assert.equal(out.length, 1);
    assert.equal(out[0]![7], 4, "decremented once");
    assert.equal(p.cpe.counters().drops.hop_limit_exceeded, 1);
    stopAll(p);
  });

  /** A UDP packet the CPE answers with Packet Too Big on a 1280-byte tunnel. */
  const tooBigFor1280 = (): Buffer =>
    buildUdpPacket({
      src: LAN_HOST,
      dst: SERVER,
      srcPort: 1,
      dstPort: 2,
      payload: Buffer.alloc(1300),
    });

  test("ICMPv6 errors are rate-limited by a token bucket on the passed-in clock (RFC 6343 §4.4)", () => {
    const p = makePair({ tunnelMtu: 1280, icmpRateLimit: 10 });
    const big = tooBigFor1280();
    for (let i = 0; i < 30; i++) p.cpeTun.inject(big);
    p.flush();
    assert.equal(p.cpeTun.takeWritten().length, 10, "burst = one second's worth");
    p.clock.ms += 500;
    for (let i = 0; i < 30; i++) p.cpeTun.inject(big);
    p.flush();
    assert.equal(p.cpeTun.takeWritten().length, 5, "refilled at 10/s");
    const c = p.cpe.counters();
    assert.equal(c.drops.packet_too_big, 60);
    assert.equal(c.traffic.icmp_rate_limited, 45);
    stopAll(p);
  });

  test("a rate below 1/s (a relay worker's part of icmp_rate_limit) still sends one error, then one per 1/rate s", () => {
    const p = makePair({ tunnelMtu: 1280, icmpRateLimit: 0.5 });
    const big = tooBigFor1280();
    const burst = (): number => {
      for (let i = 0; i < 5; i++) p.cpeTun.inject(big);
      p.flush();
      return p.cpeTun.takeWritten().length;
    };
    assert.equal(burst(), 1, "a bucket of one token");
    p.clock.ms += 1000;
    assert.equal(burst(), 0, "half a token after 1 s");
    p.clock.ms += 1000;
    assert.equal(burst(), 1, "one after 2 s");
    stopAll(p);
  });

  test("ICMPv6 error from the Internet: the quoted packet is translated too (RFC 3022 §4.3)", () => {
    const p = makePair();
    // What the LAN host sent, as the server saw it (translated source).
    const sent = buildUdpPacket({
      src: LAN_HOST,
      dst: SERVER,
      srcPort: 4000,
      dstPort: 9,
      payload: Buffer.alloc(16),
    });
    const icmp = Buffer.alloc(8 + sent.length);
    icmp[0] = 1; // Destination Unreachable
    icmp[1] = 4; // port unreachable
    icmp.set(sent, 8);
    writeUpperChecksum(icmp, 2, SERVER, LAN_HOST, 58);
    const err = buildIpv6Packet({ src: SERVER, dst: LAN_HOST, nextHeader: 58, payload: icmp });
    p.relayTun.inject(err);
    p.flush();
    const got = p.cpeTun.takeWritten();
    assert.equal(got.length, 1);
    assert.equal(dst(got[0]!), LAN_HOST);
    assert.equal(
      formatIpv6(got[0]!, 48 + 8),
      LAN_HOST,
      "quoted source is the LAN host's own address",
    );
    assert.ok(upperChecksumOk(got[0]!), "outer ICMPv6 checksum");
    stopAll(p);
  });

  test("an unmapped SLA is relayed untranslated and comes back (RFC 6732 §3.2)", () => {
    const p = makePair();
    const host = "2002:6440:2:7::100"; // SLA 7: not the mapped SLA 0
    p.cpeTun.inject(
      buildUdpPacket({ src: host, dst: SERVER, srcPort: 1, dstPort: 2, payload: Buffer.alloc(8) }),
    );
    p.flush();
    const out = p.relayTun.takeWritten();
    assert.equal(src(out[0]!), host);
    assert.equal(p.relays[0]!.counters().traffic.untranslated, 1);
    p.relayTun.inject(
      buildUdpPacket({ src: SERVER, dst: host, srcPort: 2, dstPort: 1, payload: Buffer.alloc(8) }),
    );
    p.flush();
    assert.equal(dst(p.cpeTun.takeWritten()[0]!), host);
    stopAll(p);
  });

  test("opted-out customer: untranslated, and its provider address has no route (RFC 6732 §4.1)", () => {
    const p = makePair({}, { optOut: [parseIpv4Prefix("100.64.0.0/24")!] });
    p.cpeTun.inject(
      buildUdpPacket({
        src: LAN_HOST,
        dst: SERVER,
        srcPort: 1,
        dstPort: 2,
        payload: Buffer.alloc(8),
      }),
    );
    p.flush();
    assert.equal(src(p.relayTun.takeWritten()[0]!), WIRE_HOST);
    p.relayTun.inject(
      buildUdpPacket({
        src: SERVER,
        dst: LAN_HOST,
        srcPort: 2,
        dstPort: 1,
        payload: Buffer.alloc(8),
      }),
    );
    p.flush();
    assert.equal(p.cpeTun.takeWritten().length, 0);
    assert.equal(p.relays[0]!.counters().drops.no_route, 1);
    stopAll(p);
  });

  test("two relays behind one anycast: stop the first, the second serves the same customer (§3.4)", () => {
    const p = makePair({}, {}, 2);
    const pkt = buildUdpPacket({
      src: LAN_HOST,
      dst: SERVER,
      srcPort: 1,
      dstPort: 2,
      payload: Buffer.alloc(8),
    });
    p.cpeTun.inject(pkt);
    p.flush();
    assert.equal(p.relayTuns[0]!.takeWritten().length, 1);
    p.relays[0]!.stop();
    p.cpeTun.inject(pkt);
    p.flush();
    const viaSecond = p.relayTuns[1]!.takeWritten();
    assert.equal(viaSecond.length, 1);
    assert.equal(src(viaSecond[0]!), LAN_HOST, "same translation, no state");
    stopAll(p);
  });

  test("the kernel's own link-scope multicast on a TUN (MLD report from ::) is never tunnelled", () => {
    const p = makePair();
    let onWire = 0;
    p.net.filter = () => ++onWire > 0;
    // MLDv2 report (type 143) as Linux sends it into every new TUN: from ::, hop limit 1.
    const mld = (dst: string): Buffer =>
      buildIpv6Packet({
        src: "::",
        dst,
        nextHeader: 58,
        hopLimit: 1,
        payload: Buffer.from([143, 0, 0, 0, 0, 0, 0, 0]),
      });
    p.cpeTun.inject(mld("ff02::16"));
    p.cpeTun.inject(mld("ff01::1"));
    p.relayTun.inject(mld("ff02::16"));
    // Wider scopes from a LAN host or the Internet stay what they were: invalid, no route.
    p.cpeTun.inject(mld("ff05::1:3"));
    p.relayTun.inject(mld("ff0e::101"));
    p.flush();
    assert.equal(onWire, 0, "nothing on the IPv4 wire");
    assert.equal(p.cpeTun.takeWritten().length, 0, "no ICMPv6 error back");
    assert.equal(p.relayTun.takeWritten().length, 0);
    const cd = p.cpe.counters().drops;
    assert.equal(cd.link_scope_multicast, 2);
    assert.equal(cd.ipv6_src_invalid, 1, "ff05:: from :: is still refused by the §5.1 checks");
    const rd = p.relays[0]!.counters().drops;
    assert.equal(rd.link_scope_multicast, 1);
    assert.equal(rd.no_route, 1);
    assert.equal(p.cpe.counters().traffic.out_packets, 0);
    stopAll(p);
  });

  test("setForwardingState swaps the snapshot: forwarding off drops as no_route", () => {
    const p = makePair();
    p.cpe.setForwardingState(createCpeForwardingState({ ownIpv4: CPE_V4, enabled: false }));
    p.cpeTun.inject(
      buildUdpPacket({
        src: LAN_HOST,
        dst: SERVER,
        srcPort: 1,
        dstPort: 2,
        payload: Buffer.alloc(8),
      }),
    );
    p.flush();
    assert.equal(p.relayTun.takeWritten().length, 0);
    assert.equal(p.cpe.counters().drops.no_route, 1);
    stopAll(p);
  });

  test("a TUN removed from outside stops the daemon once (port gone)", async () => {
    let fatal = 0;
    const tun = new MemoryTun({ autoDeliver: false });
    const net = new MemoryIpv4Network({ autoDeliver: false });
    const d = new CpeDaemon({
      tun,
      raw: net.open(CPE_V4),
      state: createCpeForwardingState({ ownIpv4: CPE_V4 }),
      log: silentLogger,
      now: () => 0,
      onFatal: () => fatal++,
    });
    d.start();
    tun.removeDevice();
    for (const end = Date.now() + 10_000; fatal === 0 && Date.now() < end;) {
      await new Promise((r) => setTimeout(r, 5));
    }
    assert.equal(fatal, 1);
    assert.equal(d.isRunning, false);
    assert.equal(tun.closed, true);
  });
});

describe("TCP super-packets handed over whole by the TUN (RxRing.gso), cut while sending", () => {
  /** A super-packet as a TUN with offload hands it over: the checksum field is not final. */
  function superPacket(srcA: string, dstA: string, payloadBytes: number, flags: number): Buffer {
    const payload = Buffer.alloc(payloadBytes);
    for (let i = 0; i < payloadBytes; i++) payload[i] = (i * 7 + 3) & 0xff;
    const pkt = buildTcpPacket({ src: srcA, dst: dstA, seq: 0xfffff000, flags, payload });
    pkt.writeUInt16BE(0x1234, 40 + 16); // partial pseudo-header sum, as with NEEDS_CSUM
    return pkt;
  }

  function checkSegments(got: Uint8Array[], whole: Buffer, mss: number): void {
    const pay = whole.length - 60;
    assert.equal(got.length, Math.ceil(pay / mss));
    const joined = Buffer.concat(got.map((g) => g.subarray(60)));
    assert.ok(joined.equals(whole.subarray(60)), "the payload, once, in order");
    got.forEach((g, k) => {
      const b = Buffer.from(g);
      const last = k === got.length - 1;
      assert.equal(b.length, 60 + (last ? pay - k * mss : mss), `segment ${k} length`);
      assert.equal(b.readUInt16BE(4), b.length - 40, `segment ${k} payload length`);
      assert.equal(b.readUInt32BE(44), (0xfffff000 + k * mss) >>> 0, `segment ${k} sequence`);
      assert.equal(b[53]! & 0x09, last ? whole[53]! & 0x09 : 0, `FIN/PSH only on the last`);
      assert.equal(b[53]! & 0x80, k === 0 ? whole[53]! & 0x80 : 0, `CWR only on the first`);
      assert.ok(upperChecksumOk(b), `segment ${k} checksum`);
    });
  }

  test("LAN -> Internet: translated once, sent as its segments with IPv4 IDs stepping, counted as packets", () => {
    const p = makePair();
    const ids: number[] = [];
    p.net.filter = (pkt) => (ids.push((pkt[4]! << 8) | pkt[5]!), true);
    const whole = superPacket(LAN_HOST, SERVER, 4000, 0x80 | 0x10 | 0x08 | 0x01);
    p.cpeTun.injectSuper(whole, 1400);
    p.cpeTun.inject(buildUdpPacket({ src: LAN_HOST, dst: SERVER, payload: Buffer.alloc(8) }));
    p.flush();
    const out = p.relayTun.takeWritten();
    assert.equal(out.length, 4);
    for (const o of out) assert.equal(src(o), LAN_HOST, "translated back at the relay");
    const translated = Buffer.from(whole);
    translated.set(out[0]!.subarray(8, 24), 8);
    checkSegments(out.slice(0, 3), translated, 1400);
    assert.deepEqual(
      ids.map((id) => (id - ids[0]! + 0x10000) & 0xffff),
      [0, 1, 2, 4],
      "segment k gets ID + k (GRO may merge them); the next packet + 2 (GRO may not)",
    );
    const c = p.cpe.counters();
    assert.equal(c.traffic.out_packets, 4);
    assert.equal(c.traffic.translated, 4);
    assert.equal(
      c.traffic.out_bytes,
      out.reduce((a, o) => a + o.length, 0),
    );
    assert.equal(p.relays[0]!.counters().traffic.in_packets, 4);
    stopAll(p);
  });

  test("Internet -> LAN: the relay translates a super-packet once and sends its segments, IPv4 IDs stepping as the CPE's", () => {
    const p = makePair();
    const ids: number[] = [];
    p.net.filter = (pkt) => (ids.push((pkt[4]! << 8) | pkt[5]!), true);
    const whole = superPacket(SERVER, LAN_HOST, 2 * 1300 + 1, 0x10);
    p.relayTun.injectSuper(whole, 1300);
    p.relayTun.inject(buildUdpPacket({ src: SERVER, dst: LAN_HOST, payload: Buffer.alloc(8) }));
    p.flush();
    assert.deepEqual(
      ids.map((id) => (id - ids[0]! + 0x10000) & 0xffff),
      [0, 1, 2, 4],
      "as the CPE's: segments + 1 (GRO at the CPE may merge them), the next packet + 2",
    );
    const got = p.cpeTun.takeWritten();
    for (const g of got) assert.equal(dst(g), LAN_HOST);
    const translated = Buffer.from(whole);
    if (got.length > 0) translated.set(got[0]!.subarray(24, 40), 24);
    checkSegments(got.slice(0, 3), translated, 1300);
    assert.equal(p.relays[0]!.counters().traffic.out_packets, 4);
    assert.equal(p.cpe.counters().traffic.in_packets, 4);
    stopAll(p);
  });

  test("a super-packet of one segment is cut too: its checksum, only begun, is completed", () => {
    const p = makePair();
    const whole = superPacket(LAN_HOST, SERVER, 700, 0x18);
    p.cpeTun.injectSuper(whole, 1400);
    p.flush();
    const out = p.relayTun.takeWritten();
    checkSegments(out, whole, 1400);
    assert.equal(out.length, 1);
    stopAll(p);
  });

  test("segments over the tunnel MTU: one Packet Too Big with the MTU, nothing sent (RFC 4213 §3.2)", () => {
    const p = makePair({ tunnelMtu: 1480 });
    p.cpeTun.injectSuper(superPacket(LAN_HOST, SERVER, 3 * 1440, 0x10), 1440);
    p.flush();
    assert.equal(p.relayTun.takeWritten().length, 0);
    const got = p.cpeTun.takeWritten();
    assert.equal(got.length, 1);
    assert.equal(got[0]![40], 2, "ICMPv6 Packet Too Big");
    assert.equal(Buffer.from(got[0]!).readUInt32BE(44), 1480);
    assert.ok(got[0]!.length <= 1280);
    assert.equal(p.cpe.counters().drops.packet_too_big, 1);
    stopAll(p);
  });

  test("gso offsets that do not fit the packet are dropped as l4_truncated, not sent", () => {
    const p = makePair();
    const whole = superPacket(LAN_HOST, SERVER, 3000, 0x10);
    p.cpeTun.injectSuper(whole, 1400, 32000);
    p.cpeTun.injectSuper(whole, 0);
    const udp = buildUdpPacket({ src: LAN_HOST, dst: SERVER, payload: Buffer.alloc(3000) });
    p.cpeTun.injectSuper(udp, 1400);
    p.flush();
    assert.equal(p.relayTun.takeWritten().length, 0);
    assert.equal(p.cpe.counters().drops.l4_truncated, 3);
    stopAll(p);
  });
});
