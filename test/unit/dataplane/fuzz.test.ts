/**
 * The data plane's TypeScript packet paths on hostile input: a PMT CPE and a relay run their real
 * daemons over the in-memory ports (as end-to-end.test.ts), and each of the four ways a packet
 * enters gets well-formed packets and mutations of them (bytes changed, truncated, extended,
 * header fields rewritten, random): LAN host -> CPE TUN, protocol 41 -> CPE, protocol 41 ->
 * relay, Internet -> relay TUN. Seeded, bounded in count and time.
 *
 * What must hold for every batch: nothing throws; every packet is accounted for exactly once,
 * as sent on (out_packets / in_packets) or dropped under a reason; what leaves is well formed
 * (IPv4 from the daemon's own address carrying protocol 41 and one whole IPv6 packet; IPv6 of the
 * length its header says; ICMPv6 errors with a valid checksum); and the paths still forward
 * a well-formed packet afterwards.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import { silentLogger } from "../../../module/log/logger.js";
import { CpeDaemon } from "../../../module/dataplane/cpe-daemon.js";
import {
  createCpeForwardingState,
  createRelayForwardingState,
} from "../../../module/dataplane/forwarding-state.js";
import { RelayDaemon } from "../../../module/dataplane/relay-daemon.js";
import type { CountersSnapshot } from "../../../module/dataplane/counters.js";
import { MemoryIpv4Network, MemoryTun, type MemoryIpv4Socket } from "../../../module/io/memory.js";
import {
  addr6,
  buildIcmpv6EchoPacket,
  buildTcpPacket,
  buildUdpPacket,
  encapsulate6to4,
  upperChecksumOk,
} from "../../support/packet-builder.js";
import { mulberry32 } from "../../support/prng.js";

const P = parseIpv6Prefix("2001:db8::/32")!;
const CPE_V4 = 0x64400002; // 100.64.0.2
const ANYCAST = 0xc0586301; // 192.88.99.1
const UNICAST = 0xc6336402; // 198.51.100.2
const LAN_HOST = "2001:db8:6440:2::100";
const WIRE_HOST = "2002:6440:2::100";
const SERVER = "3fff:100::1";
const SEED = Number(process.env.FUZZ_SEED ?? 6732);
const BATCHES = Number(process.env.FUZZ_BATCHES ?? 5000);
const SECONDS = 20;

interface Rig {
  net: MemoryIpv4Network;
  cpeTun: MemoryTun;
  relayTun: MemoryTun;
  cpeRaw: MemoryIpv4Socket;
  relayRaw: MemoryIpv4Socket;
  cpe: CpeDaemon;
  relay: RelayDaemon;
  /** IPv4 packets the daemons sent, as the network saw them. */
  wire: Uint8Array[];
}

function makeRig(): Rig {
  const net = new MemoryIpv4Network({ autoDeliver: false });
  const wire: Uint8Array[] = [];
  net.filter = (pkt) => {
    wire.push(pkt);
    return false; // nothing travels on: each path is checked on its own
  };
  const mapping = createPmtMapping({ providerPrefix: P });
  const cpeTun = new MemoryTun({ autoDeliver: false, mtu: 1500 });
  const relayTun = new MemoryTun({ autoDeliver: false, mtu: 1500 });
  const cpeRaw = net.open(CPE_V4);
  const relayRaw = net.open([ANYCAST, UNICAST]);
  const clock = { ms: 1000 };
  const cpe = new CpeDaemon({
    tun: cpeTun,
    raw: cpeRaw,
    state: createCpeForwardingState({
      ownIpv4: CPE_V4,
      mapping,
      allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
      icmpSource: addr6("2001:db8:6440:2::1"),
    }),
    log: silentLogger,
    now: () => (clock.ms += 7), // time moves: the ICMPv6 rate limit lets some errors out
  });
  const relay = new RelayDaemon({
    tun: relayTun,
    raw: relayRaw,
    state: createRelayForwardingState({
      relayIpv4s: [ANYCAST, UNICAST],
      customerIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
      mapping,
      providerPrefix: P,
    }),
    log: silentLogger,
    now: () => (clock.ms += 7),
  });
  cpe.start();
  relay.start();
  return { net, cpeTun, relayTun, cpeRaw, relayRaw, cpe, relay, wire };
}

/** Packets sent on plus packets dropped, over all reasons. */
function accounted(c: CountersSnapshot): number {
  const t = c.traffic;
  return (
    (t.out_packets ?? 0) + (t.in_packets ?? 0) + Object.values(c.drops).reduce((a, b) => a + b, 0)
  );
}

/** Well-formed inner packets of every kind the paths handle. */
function seeds(from: string, to: string, rnd: () => number): Uint8Array[] {
  const payload = (n: number): Buffer =>
    Buffer.from(Array.from({ length: n }, () => (rnd() * 256) | 0));
  return [
    buildUdpPacket({ src: from, dst: to, srcPort: 4000, dstPort: 53, payload: payload(30) }),
    buildUdpPacket({ src: from, dst: to, srcPort: 4000, dstPort: 443, payload: payload(1400) }),
    buildTcpPacket({
      src: from,
      dst: to,
      srcPort: 40000,
      dstPort: 443,
      seq: 1,
      ack: 2,
      flags: 0x10,
      payload: payload(512),
    }),
    buildIcmpv6EchoPacket({ src: from, dst: to, id: 7, seq: 1, data: payload(56) }),
    // Too big for the tunnel (1480): Packet Too Big back.
    buildUdpPacket({ src: from, dst: to, srcPort: 1, dstPort: 2, payload: payload(1452) }),
    // Hop limit 1: Time Exceeded back.
    buildUdpPacket({
      src: from,
      dst: to,
      srcPort: 1,
      dstPort: 2,
      payload: payload(8),
      hopLimit: 1,
    }),
  ];
}

function mutate(pkt: Uint8Array, rnd: () => number): Uint8Array {
  const r = (n: number): number => Math.floor(rnd() * n);
  let out = Uint8Array.from(pkt);
  switch (r(7)) {
    case 0: // a few bytes anywhere
      for (let i = 0, n = 1 + r(8); i < n && out.length > 0; i++) out[r(out.length)] = r(256);
      break;
    case 1: // the first 64 bytes (headers)
      for (let i = 0, n = 1 + r(4); i < n && out.length > 0; i++) {
        const at = r(Math.min(64, out.length));
        out[at] = out[at]! ^ (1 << r(8));
      }
      break;
    case 2: // truncated
      out = out.subarray(0, r(out.length + 1));
      break;
    case 3: {
      // extended with garbage
      const more = new Uint8Array(out.length + 1 + r(200));
      more.set(out);
      for (let i = out.length; i < more.length; i++) more[i] = r(256);
      out = more;
      break;
    }
    case 4: // a length field rewritten (IPv6 payload length, or IPv4 total length)
      if (out.length >= 6) {
        const at = out[0]! >> 4 === 4 ? 2 : 4;
        out[at] = r(256);
        out[at + 1] = r(256);
      }
      break;
    case 5: // next header / protocol
      if (out.length >= 10) out[out[0]! >> 4 === 4 ? 9 : 6] = [0, 6, 17, 41, 43, 44, 58, 59][r(8)]!;
      break;
    default: // anything
      out = Uint8Array.from({ length: r(120) }, () => r(256));
  }
  return out;
}

/** An IPv6 packet of the length its header says. */
function wellFormedIpv6(p: Uint8Array): boolean {
  return p.length >= 40 && p[0]! >> 4 === 6 && 40 + ((p[4]! << 8) | p[5]!) === p.length;
}

function checkWire(rig: Rig, own: readonly number[], what: string): void {
  for (const pkt of rig.wire) {
    const v = new DataView(pkt.buffer, pkt.byteOffset, pkt.byteLength);
    assert.equal(pkt[0], 0x45, `${what}: IPv4 with a 20-byte header`);
    assert.equal(v.getUint16(2), pkt.length, `${what}: total length`);
    assert.equal(pkt[9], 41, `${what}: protocol 41`);
    assert.ok(pkt[8]! > 0, `${what}: TTL`);
    assert.ok(own.includes(v.getUint32(12)), `${what}: source is the daemon's own address`);
    assert.ok(wellFormedIpv6(pkt.subarray(20)), `${what}: one whole IPv6 packet inside`);
  }
  rig.wire.length = 0;
}

/**
 * What a daemon wrote to a TUN. `generated`: the TUN its own ICMPv6 errors go to on this path
 * (nothing else is written there), so each must carry a valid checksum; elsewhere ICMPv6 is
 * forwarded as it came, bad checksum or not, as a router does.
 */
function checkTun(tun: MemoryTun, what: string, generated: boolean): number {
  const out = tun.takeWritten();
  for (const p of out) {
    assert.ok(wellFormedIpv6(p), `${what}: IPv6 of the length its header says`);
    if (generated) {
      assert.ok(p[6] === 58 && p[40]! < 128, `${what}: only ICMPv6 errors come back`);
      assert.ok(upperChecksumOk(p, 58), `${what}: ICMPv6 error checksum`);
    }
  }
  return out.length;
}

describe("data plane on hostile input (seeded; FUZZ_SEED replays)", () => {
  const paths = [
    {
      name: "LAN -> CPE TUN",
      inject: (rig: Rig, pkt: Uint8Array) => rig.cpeTun.inject(pkt),
      flush: (rig: Rig) => rig.cpeTun.flush(),
      daemon: (rig: Rig) => rig.cpe.counters(),
      seeds: (rnd: () => number) => seeds(LAN_HOST, SERVER, rnd),
    },
    {
      name: "protocol 41 -> CPE",
      inject: (rig: Rig, pkt: Uint8Array) => rig.cpeRaw.receive(pkt, ANYCAST),
      flush: (rig: Rig) => rig.cpeRaw.flush(),
      daemon: (rig: Rig) => rig.cpe.counters(),
      seeds: (rnd: () => number) =>
        seeds(SERVER, WIRE_HOST, rnd).map((p) => encapsulate6to4(p, ANYCAST, CPE_V4)),
    },
    {
      name: "protocol 41 -> relay",
      inject: (rig: Rig, pkt: Uint8Array) => rig.relayRaw.receive(pkt, CPE_V4),
      flush: (rig: Rig) => rig.relayRaw.flush(),
      daemon: (rig: Rig) => rig.relay.counters(),
      seeds: (rnd: () => number) =>
        seeds(WIRE_HOST, SERVER, rnd).map((p) => encapsulate6to4(p, CPE_V4, ANYCAST)),
    },
    {
      name: "Internet -> relay TUN",
      inject: (rig: Rig, pkt: Uint8Array) => rig.relayTun.inject(pkt),
      flush: (rig: Rig) => rig.relayTun.flush(),
      daemon: (rig: Rig) => rig.relay.counters(),
      seeds: (rnd: () => number) => seeds(SERVER, LAN_HOST, rnd),
    },
  ];
  for (const path of paths) {
    test(`${path.name}: every packet forwarded or dropped by reason, nothing malformed leaves`, () => {
      const rnd = mulberry32(SEED + path.name.length);
      const rig = makeRig();
      const good = path.seeds(rnd);
      const deadline = Date.now() + SECONDS * 1000;
      let fed = 0;
      let forwardedOrAnswered = 0;
      for (let b = 0; b < BATCHES && Date.now() < deadline; b++) {
        const n = 1 + Math.floor(rnd() * 32);
        const before = accounted(path.daemon(rig));
        for (let i = 0; i < n; i++) {
          const seed = good[Math.floor(rnd() * good.length)]!;
          path.inject(rig, rnd() < 0.8 ? mutate(seed, rnd) : seed);
        }
        assert.equal(path.flush(rig), n, "every packet delivered to the daemon");
        fed += n;
        const after = accounted(path.daemon(rig));
        assert.equal(
          after - before,
          n,
          `batch ${b}: ${n} packets in, ${after - before} sent on or dropped (seed ${SEED})`,
        );
        forwardedOrAnswered += rig.wire.length;
        checkWire(rig, path.name.includes("relay") ? [ANYCAST, UNICAST] : [CPE_V4], path.name);
        const lan = path.name.startsWith("LAN");
        const inet = path.name.startsWith("Internet");
        forwardedOrAnswered += checkTun(rig.cpeTun, `${path.name}, CPE TUN`, lan);
        forwardedOrAnswered += checkTun(rig.relayTun, `${path.name}, relay TUN`, inet);
      }
      assert.ok(fed > 1000, `only ${fed} packets in ${SECONDS} s`);
      const c = path.daemon(rig);
      const dropped = Object.values(c.drops).reduce((a, b) => a + b, 0);
      assert.ok(dropped > 0 && forwardedOrAnswered > 0, `not vacuous: ${JSON.stringify(c)}`);
      // Still forwarding after all that.
      const before = accounted(path.daemon(rig));
      const dropsBefore = dropped;
      path.inject(rig, good[0]!);
      path.flush(rig);
      const end = path.daemon(rig);
      assert.equal(accounted(end) - before, 1);
      assert.equal(
        Object.values(end.drops).reduce((a, b) => a + b, 0),
        dropsBefore,
        `a well-formed packet is forwarded after the fuzzing: ${JSON.stringify(end.drops)}`,
      );
      rig.cpe.stop();
      rig.relay.stop();
    });
  }
});

describe("TCP super-packets on hostile input (handed over whole by the TUN: RxRing.gso)", () => {
  const paths = [
    {
      name: "LAN -> CPE TUN",
      tun: (rig: Rig) => rig.cpeTun,
      daemon: (rig: Rig) => rig.cpe.counters(),
      own: [CPE_V4],
      from: LAN_HOST,
      to: SERVER,
    },
    {
      name: "Internet -> relay TUN",
      tun: (rig: Rig) => rig.relayTun,
      daemon: (rig: Rig) => rig.relay.counters(),
      own: [ANYCAST, UNICAST],
      from: SERVER,
      to: LAN_HOST,
    },
  ];
  for (const path of paths) {
    test(`${path.name}: a super-packet is dropped by one reason, or leaves as whole segments`, () => {
      const rnd = mulberry32(SEED + 41 + path.name.length);
      const r = (n: number): number => Math.floor(rnd() * n);
      const rig = makeRig();
      const deadline = Date.now() + SECONDS * 1000;
      let cut = 0;
      let dropped = 0;
      // One super-packet per batch, so that what left can be told apart per packet.
      for (let b = 0; b < BATCHES && Date.now() < deadline; b++) {
        const payload = Buffer.from(Array.from({ length: 1 + r(9000) }, () => r(256)));
        const good = buildTcpPacket({
          src: path.from,
          dst: path.to,
          seq: r(0x100000000),
          flags: 0x10 | (r(2) ? 0x08 : 0) | (r(4) ? 0 : 0x01) | (r(4) ? 0 : 0x80),
          payload,
        });
        const pkt = rnd() < 0.5 ? mutate(good, rnd) : good;
        const mss = rnd() < 0.8 ? 1 + r(1500) : r(0x10000);
        const th = rnd() < 0.9 ? 40 : r(0x8000);
        const before = path.daemon(rig);
        path.tun(rig).injectSuper(pkt, mss, th);
        assert.equal(path.tun(rig).flush(), 1);
        const after = path.daemon(rig);
        const dOut = (after.traffic.out_packets ?? 0) - (before.traffic.out_packets ?? 0);
        const dDrops =
          Object.values(after.drops).reduce((a, c) => a + c, 0) -
          Object.values(before.drops).reduce((a, c) => a + c, 0);
        const wire = rig.wire.splice(0);
        if (dDrops > 0) {
          assert.equal(dDrops, 1, `batch ${b}: one packet, one drop (seed ${SEED})`);
          assert.equal(dOut + wire.length, 0, `batch ${b}: dropped and sent`);
          dropped++;
        } else {
          assert.ok(
            wire.length >= 1 && dOut === wire.length,
            `batch ${b}: ${dOut} / ${wire.length}`,
          );
          const hl = th + (pkt[th + 12]! >>> 4) * 4; // headers: every segment has them
          let carried = 0;
          for (const w of wire) {
            rig.wire.push(w);
            checkWire(rig, path.own, `${path.name}, segment`);
            const s6 = w.subarray(20);
            assert.ok(s6.length - hl >= 1 && s6.length - hl <= mss, `batch ${b}: segment size`);
            if (th === 40) assert.ok(upperChecksumOk(s6, 6), `batch ${b}: segment checksum`);
            carried += s6.length - hl;
          }
          assert.equal(carried, pkt.length - hl, `batch ${b}: the payload, once`);
          cut++;
        }
        checkTun(rig.cpeTun, `${path.name}, CPE TUN`, path.name.startsWith("LAN"));
        checkTun(rig.relayTun, `${path.name}, relay TUN`, path.name.startsWith("Internet"));
      }
      assert.ok(cut > 100 && dropped > 100, `not vacuous: ${cut} cut, ${dropped} dropped`);
      rig.cpe.stop();
      rig.relay.stop();
    });
  }
});
