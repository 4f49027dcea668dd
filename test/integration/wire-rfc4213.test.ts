/**
 * RFC 4213 on the wire (root, network namespaces, the lab topology with a plain 6to4 CPE):
 *
 *   lan -- cpe (100.64.0.2) == isp [injector, captures, "unreachable 100.64.7.0/24"] == relay -- inet
 *
 *  - §3.6: a protocol-41 packet whose IPv4 total length exceeds the inner IPv6 packet (padding)
 *    is forwarded, trimmed to 40 + payload length (capture on the daemon's TUN); one shorter than
 *    its payload length claims is dropped as `ipv6_length_mismatch`. Relay and CPE.
 *  - §3.4: an IPv4 router (isp) answers encapsulated packets with ICMPv4 host unreachable; the
 *    daemon counts each (`icmpv4_host_unreachable`) and the IPv6 source gets ICMPv6 Destination
 *    Unreachable, "address unreachable" (ping -6 prints it). Relay and CPE.
 *  - §3.2.1: after a spoofed ICMPv4 "fragmentation needed" (MTU 552) quoting one of its
 *    protocol-41 packets, a daemon still sends a 1280-byte IPv6 packet as one 1300-byte IPv4
 *    packet, not as fragments (capture on isp), and records no path MTU for the peer. Relay and
 *    CPE.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseIpv4 } from "../../module/addr/ipv4.js";
import { internetChecksum } from "../../module/codec/checksum.js";
import { writeIpv4Header } from "../../module/codec/ipv4.js";
import { LAB_ANYCAST } from "../../module/lab/topology.js";
import type { NsProcess } from "../support/netns.js";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { ping, readCounters, startLab, type RunningLab } from "../support/dataplane-harness.js";
import { waitForCounters } from "../support/daemon-assert.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { buildIcmpv6EchoPacket, encapsulate6to4 } from "../support/packet-builder.js";

const skip = netnsSkipReason() ?? toolSkipReason("python3");

const CUSTOMER = "100.64.0.9";
/** SLA 1: not mapped, so the relay forwards it untranslated (RFC 6732 §3.2). */
const CUSTOMER_6TO4 = "2002:6440:9:1::1";
/** A 6to4 site whose IPv4 (100.64.7.7) the isp router declares unreachable. */
const UNREACHABLE_6TO4 = "2002:6440:707::1";
const RELAY_TUN = "6to4pmt-r0";
const CPE_TUN = "6to4pmt0";

/**
 * Capture of what arrives on a device (AF_PACKET SOCK_DGRAM: from the IP header on; packets the
 * device sends are skipped), one hex line per matching packet, exit after `count`. Filters:
 * "v6src ADDR" IPv6 with that source; "p41dst ADDR" protocol 41 to that IPv4 address, either
 * longer than 1000 bytes or a fragment.
 */
const CAPTURE_PY = `
import socket, sys
iface, count, kind, addr = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
want = socket.inet_pton(socket.AF_INET6 if kind == "v6src" else socket.AF_INET, addr)
s = socket.socket(socket.AF_PACKET, socket.SOCK_DGRAM, socket.htons(3))
s.bind((iface, 0))
print("ready", flush=True)
n = 0
while n < count:
    d, a = s.recvfrom(70000)
    if a[2] == socket.PACKET_OUTGOING:
        continue
    if kind == "v6src":
        ok = len(d) >= 40 and d[0] >> 4 == 6 and d[8:24] == want
    else:
        ok = (len(d) >= 20 and d[0] >> 4 == 4 and d[9] == 41 and d[16:20] == want and
              (int.from_bytes(d[2:4], "big") > 1000 or int.from_bytes(d[6:8], "big") & 0x3fff))
    if ok:
        print(d.hex(), flush=True)
        n += 1
`;

/**
 * An unsolicited ICMPv6 echo reply: nobody answers it (an answer would travel back through the
 * tunnel and move the counters the tests compare).
 */
function silentEcho(src: string, dst: string): Buffer {
  return buildIcmpv6EchoPacket({ src, dst, hopLimit: 64, reply: true });
}

/** `inner` plus `pad` bytes of 0xee, encapsulated: IPv4 total length covers the padding. */
function encapPadded(inner: Buffer, src: string, dst: string, pad: number): Buffer {
  return encapsulate6to4(Buffer.concat([inner, Buffer.alloc(pad, 0xee)]), src, dst, { df: false });
}

/**
 * A forged ICMPv4 "fragmentation needed" (RFC 1191: type 3 code 4, next-hop MTU) from `from` to
 * `to`, quoting a 1300-byte protocol-41 packet `to` -> `peer` (IPv4 header, IPv6 header, 8 bytes).
 */
function fragNeeded(from: string, to: string, peer: string, mtu: number): Buffer {
  const quoted = Buffer.alloc(20 + 40 + 8);
  writeIpv4Header(quoted, 0, 1300, 41, parseIpv4(to)!, parseIpv4(peer)!, 64, 0x1234, false);
  quoted[20] = 0x60;
  quoted.writeUInt16BE(1240, 24);
  quoted[26] = 58;
  quoted[27] = 64;
  const icmp = Buffer.alloc(8 + quoted.length);
  icmp[0] = 3;
  icmp[1] = 4;
  icmp.writeUInt16BE(mtu, 6);
  quoted.copy(icmp, 8);
  icmp.writeUInt16BE(internetChecksum(icmp, 0, icmp.length), 2);
  const pkt = Buffer.alloc(20 + icmp.length);
  writeIpv4Header(pkt, 0, pkt.length, 1, parseIpv4(from)!, parseIpv4(to)!, 64, 0x4321, false);
  icmp.copy(pkt, 20);
  return pkt;
}

describe(
  "RFC 4213 §3.2.1, §3.4, §3.6 on the wire (relay and CPE)",
  { skip, timeout: 240_000 },
  () => {
    const reg = new NetnsRegistry();
    let lab: RunningLab;
    const macs: Record<string, string> = {};

    before(async () => {
      lab = await startLab(
        reg,
        {
          cpes: [
            { index: 0, pmt: false, sla: 1 },
            { index: 1, pmt: true },
          ],
        },
        () => [],
        () => ["--health-interval", "3600"],
      );
      // The first health probe went through the relay into the CPE's TUN (bounded wait).
      for (const c of lab.cpes) {
        await waitForCounters(reg, c, (k) => (k.traffic.in_packets ?? 0) >= 1);
      }
      await waitForCounters(reg, lab.relays[0]!, (c) => (c.traffic.out_packets ?? 0) >= 1);
      macs.relay = linkMac(reg, lab.t.relays[0]!.ns, "wan0");
      macs.cpe = linkMac(reg, lab.t.cpes[0]!.ns, "wan0");
      // The IPv4 router between: host unreachable for 100.64.7.0/24, ICMP errors not rate-limited
      // (each encapsulated packet gets its error: the counts are exact).
      reg.must(["ip", "-n", lab.t.isp, "route", "add", "unreachable", "100.64.7.0/24"]);
      reg.must(["ip", "netns", "exec", lab.t.isp, "sysctl", "-qw", "net.ipv4.icmp_ratelimit=0"]);
    });
    after(async () => {
      await reg.cleanup();
    });

    /**
     * Captures (AF_PACKET, network layer) up to `count` packets arriving on `iface` in `ns` that
     * match `filter`; resolves once the socket is bound.
     */
    async function capture(
      ns: string,
      iface: string,
      filter: "v6src" | "p41dst",
      address: string,
      count: number,
    ): Promise<NsProcess> {
      const proc = reg.spawn(ns, [
        "python3",
        "-c",
        CAPTURE_PY,
        iface,
        String(count),
        filter,
        address,
      ]);
      const ok = await reg.waitFor(
        () => proc.stdout().includes("ready") || proc.hasExited(),
        10_000,
      );
      assert.ok(ok && !proc.hasExited(), `capture did not start: ${proc.stderr()}`);
      return proc;
    }

    /** The packets of a capture once it has its `count` (bounded wait; fewer when they never came). */
    async function captured(proc: NsProcess): Promise<Buffer[]> {
      const done = await reg.waitFor(() => proc.hasExited(), 10_000);
      if (!done) await reg.stop(proc, 3000);
      return proc
        .stdout()
        .split("\n")
        .filter((l) => /^[0-9a-f]+$/.test(l))
        .map((l) => Buffer.from(l, "hex"));
    }

    for (const target of ["relay", "cpe"] as const) {
      test(`§3.6 ${target}: IPv4 padding is left behind, a truncated inner packet is dropped`, async () => {
        const proc = target === "relay" ? lab.relays[0]! : lab.cpes[0]!;
        const ns = target === "relay" ? lab.t.relays[0]!.ns : lab.t.cpes[0]!.ns;
        const [dst4, dst6] =
          target === "relay"
            ? [LAB_ANYCAST, "3fff:100::1"]
            : [lab.t.cpes[0]!.wanIpv4, lab.t.cpes[0]!.hostAddress];
        const inner = silentEcho(CUSTOMER_6TO4, dst6);
        const pads = [1, 2, 3, 4, 300];
        const tun = target === "relay" ? RELAY_TUN : CPE_TUN;
        const cap = await capture(ns, tun, "v6src", CUSTOMER_6TO4, pads.length);
        const before = await readCounters(reg, proc);
        const truncated = encapsulate6to4(inner.subarray(0, inner.length - 3), CUSTOMER, dst4, {
          df: false,
        });
        await injectIpv4(reg, lab.t.isp, target === "relay" ? "relay0" : "cpe0", macs[target]!, [
          ...pads.map((p) => encapPadded(inner, CUSTOMER, dst4, p)),
          truncated,
        ]);
        const was = before.traffic.in_packets!;
        const wasDrop = before.drops.ipv6_length_mismatch ?? 0;
        const c = await waitForCounters(
          reg,
          proc,
          (k) =>
            k.traffic.in_packets! - was >= pads.length &&
            (k.drops.ipv6_length_mismatch ?? 0) - wasDrop >= 1,
        );
        assert.equal(c.traffic.in_packets! - was, pads.length, "every padded packet forwarded");
        assert.equal(
          c.traffic.in_bytes! - before.traffic.in_bytes!,
          pads.length * inner.length,
          "forwarded without the padding",
        );
        assert.equal((c.drops.ipv6_length_mismatch ?? 0) - wasDrop, 1, "the truncated one dropped");
        const pkts = await captured(cap);
        assert.equal(pkts.length, pads.length, cap.stderr());
        for (const p of pkts) assert.deepEqual(p, inner, "written to the TUN exactly as sent");
      });
    }

    // "PMT CPE": its LAN host's provider source was translated on the way out; the answer must
    // still reach it (the quote mapped back, RFC 6732 §3.3).
    for (const target of ["relay", "CPE", "PMT CPE"] as const) {
      test(`§3.4 ${target}: ICMPv4 host unreachable -> counted, ICMPv6 address unreachable to the source`, async () => {
        const i = target === "PMT CPE" ? 1 : 0;
        const proc = target === "relay" ? lab.relays[0]! : lab.cpes[i]!;
        const [fromNs, source] =
          target === "relay"
            ? [lab.t.inet, "2002:c058:6301::"]
            : target === "CPE"
              ? [lab.t.cpes[0]!.lanNs, "2002:6440:2::1"]
              : [lab.t.cpes[1]!.lanNs, lab.t.cpes[1]!.routerLanAddress];
        const before = await readCounters(reg, proc);
        const was = before.traffic.icmpv4_host_unreachable ?? 0;
        const sentWas = before.traffic.icmp_sent!;
        const r = await ping(reg, fromNs, UNREACHABLE_6TO4);
        const c = await waitForCounters(
          reg,
          proc,
          (k) => (k.traffic.icmpv4_host_unreachable ?? 0) - was >= 3,
        );
        assert.equal((c.traffic.icmpv4_host_unreachable ?? 0) - was, 3, JSON.stringify(c.traffic));
        assert.equal(c.traffic.icmp_sent! - sentWas, 3, "one ICMPv6 error per ICMPv4 error");
        const lines = r.stdout.split("\n").filter((l) => /Destination unreachable/.test(l));
        assert.equal(lines.length, 3, r.stdout);
        for (const l of lines) {
          assert.match(l, /Address unreachable/, r.stdout);
          assert.ok(l.startsWith(`From ${source} `), `${l} (expected From ${source})`);
        }
      });
    }

    for (const target of ["relay", "cpe"] as const) {
      test(`§3.2.1 ${target}: a spoofed "fragmentation needed" (MTU 552) does not fragment what follows`, async () => {
        const proc = target === "relay" ? lab.relays[0]! : lab.cpes[0]!;
        const ns = target === "relay" ? lab.t.relays[0]!.ns : lab.t.cpes[0]!.ns;
        const cpe = lab.t.cpes[0]!;
        const [from, to, peer, iface] =
          target === "relay"
            ? [lab.t.relays[0]!.ispSide, LAB_ANYCAST, cpe.wanIpv4, "relay0"]
            : ["100.64.0.1", cpe.wanIpv4, LAB_ANYCAST, "cpe0"];
        const before = await readCounters(reg, proc);
        const was = before.traffic.icmpv4_fragmentation_needed ?? 0;
        await injectIpv4(reg, lab.t.isp, iface, macs[target]!, [fragNeeded(from, to, peer, 552)]);
        // Until the daemon counted it, or (without IP_RECVERR) the kernel recorded the path MTU.
        const routeGet = (): string => reg.exec(ns, ["ip", "route", "get", peer]).stdout;
        const deadline = Date.now() + 5000;
        while (Date.now() < deadline && !/mtu 552/.test(routeGet())) {
          const k = await readCounters(reg, proc);
          if ((k.traffic.icmpv4_fragmentation_needed ?? 0) > was) break;
        }
        const afterInject = await readCounters(reg, proc);
        // The outer packets of a 1280-byte IPv6 packet toward `peer`: whole, or its fragments.
        const cap = await capture(lab.t.isp, iface, "p41dst", peer, 1);
        const [pingNs, pingDst] =
          target === "relay" ? [lab.t.inet, cpe.hostAddress] : [cpe.lanNs, "3fff:100::1"];
        const r = await ping(reg, pingNs, pingDst, ["-s", "1232", "-c", "1"]);
        const pkts = await captured(cap);
        assert.equal(r.code, 0, r.stdout);
        assert.equal(pkts.length, 1);
        const p = pkts[0]!;
        assert.equal(p.readUInt16BE(6) & 0x3fff, 0, "neither MF nor a fragment offset");
        assert.equal(p.readUInt16BE(2), 1300, "20 + 1280 bytes in one IPv4 packet");
        assert.doesNotMatch(routeGet(), /mtu 552/, "no path MTU recorded from the spoofed message");
        const c = await waitForCounters(
          reg,
          proc,
          (k) => (k.traffic.icmpv4_fragmentation_needed ?? 0) - was >= 1,
        );
        assert.equal((c.traffic.icmpv4_fragmentation_needed ?? 0) - was, 1, "counted once");
        assert.equal(c.traffic.icmp_sent, afterInject.traffic.icmp_sent, "not answered over IPv6");
      });
    }
  },
);
