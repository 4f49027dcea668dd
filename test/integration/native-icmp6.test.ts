/**
 * Native addon, raw ICMPv6 socket for Neighbor Discovery (RFC 4861) against a real kernel (root;
 * skips with the reason otherwise).
 *
 *   p<pid>-nd-host                      p<pid>-nd-rtr
 *   h0 (fe80::/64, rdisc6) ── veth ── r0: ICMPv6 socket (filter: RS only), this test
 *        RS to ff02::2, hop limit 255 ──►
 *        ◄── RA (unicast to the solicitor), sent by sendIcmp6, kernel checksum
 *
 * Checks: bound to the device, joined ff02::2, ICMP6_FILTER, hop limit 255 reported
 * (RFC 4861 §6.1.1: a router must drop an RS with any other hop limit), source address and
 * arrival ifindex reported, sent RA accepted by rdisc6 (hop limit 255, valid checksum, §6.1.2).
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv6 } from "../../module/addr/ipv6.js";
import { createEchoProber } from "../../module/control/echo-prober.js";
import { inNetns, openIcmpV6 } from "../../module/io/linux.js";
import type { IcmpV6Socket } from "../../module/io/ports.js";
import { loadNative } from "../../module/native/loader.js";
import { createIcmpv6RxRing } from "../../module/io/ring.js";
import { NetnsRegistry, toolSkipReason } from "../support/netns.js";
import {
  closeTrackedPorts,
  nativeSkipReason,
  nsPath,
  openFdCount,
  track,
  until,
} from "../support/native-fixtures.js";

const skip = nativeSkipReason() ?? toolSkipReason("rdisc6");
const reg = new NetnsRegistry();
let host = "";
let rtr = "";

const ICMP6_RS = 133;
const ICMP6_RA = 134;

before(() => {
  if (skip) return;
  host = reg.createNamespace("nd-host");
  rtr = reg.createNamespace("nd-rtr");
  reg.veth(host, "h0", rtr, "r0");
});
after(async () => {
  closeTrackedPorts();
  await reg.cleanup();
});

/** Minimal RA (RFC 4861 §4.2): cur hop limit 64, router lifetime 0, no options. */
function routerAdvert(): Buffer {
  const ra = Buffer.alloc(16);
  ra[0] = ICMP6_RA;
  ra[4] = 64;
  return ra;
}

test(
  "ICMPv6: RS from rdisc6 arrives with hop limit 255, source and ifindex; our RA is accepted",
  { skip },
  async () => {
    const fdsBefore = openFdCount();
    const sock = track(
      inNetns(nsPath(rtr), () => openIcmpV6({ device: "r0", passTypes: [ICMP6_RS] })),
    );
    try {
      assert.equal(sock.device, "r0");
      assert.ok(sock.ifindex > 0);
      const seen: { type: number; hop: number; src: string; ifindex: number }[] = [];
      const ra = routerAdvert();
      sock.onBatch(createIcmpv6RxRing(8, 1500), (ring, count) => {
        for (let i = 0; i < count; i++) {
          const msg = ring.bufs[i]!;
          const src = Buffer.from(ring.srcs.subarray(16 * i, 16 * i + 16));
          seen.push({
            type: msg[ring.offset]!,
            hop: ring.hopLimits[i]!,
            src: src.toString("hex"),
            ifindex: ring.ifindexes[i]!,
          });
          if (msg[ring.offset] === ICMP6_RS && ring.hopLimits[i] === 255) {
            assert.ok(sock.send(ra, 0, ra.length, ring.srcs, 16 * i));
          }
        }
      });
      // -1: stop after the first RA; -r 3 -w 1000: three solicitations, 1 s apart at most.
      const r = await reg.execAsync(host, ["rdisc6", "-1", "-r", "3", "-w", "1000", "h0"], 10_000);
      assert.ok(await until(() => seen.length > 0, 10_000), "no RS received");
      const rs = seen[0]!;
      assert.equal(rs.type, ICMP6_RS, "ICMP6_FILTER passes RS only");
      assert.ok(seen.every((s) => s.type === ICMP6_RS));
      assert.equal(rs.hop, 255);
      assert.equal(rs.ifindex, sock.ifindex);
      assert.match(rs.src, /^fe80/, "RS source is the host's link-local address");
      assert.equal(r.code, 0, `rdisc6 got no RA: ${r.stdout}${r.stderr}`);
      assert.match(r.stdout, /Hop limit\s*:\s*64/);
      assert.ok(sock.stats().txPackets >= 1);
    } finally {
      sock.close();
    }
    assert.equal(openFdCount(), fdsBefore, "open fds after close");
  },
);

test("ICMPv6: opening on a missing device fails with ENODEV", { skip }, () => {
  assert.throws(
    () => inNetns(nsPath(rtr), () => openIcmpV6({ device: "nosuch0", passTypes: [133] })),
    {
      code: "ENODEV",
    },
  );
});

// The CPE's health probe (control/echo-prober.ts) on an unbound socket: the routing table picks
// the interface, the kernel of the peer answers, its reply reaches our socket; a silent target
// times out; the socket filter keeps other echo replies (a ping run by hand) away from it, which
// a socket without the filter, opened beside it as a control, does receive; closing releases
// the fds.
test(
  "ICMPv6 unbound: the echo prober gets the peer kernel's reply; others' replies are filtered out",
  { skip },
  async () => {
    reg.addr(rtr, "r0", "2001:db8:e0::1/64");
    reg.addr(host, "h0", "2001:db8:e0::2/64");
    const fdsBefore = openFdCount();
    const id = 0x5a5a;
    const sockets: IcmpV6Socket[] = [];
    const prober = createEchoProber({
      random: () => id / 0x10000, // identifier 0x5a5a
      open: (identifier) => {
        assert.equal(identifier, id);
        const s = track(
          inNetns(nsPath(rtr), () => openIcmpV6({ passTypes: [129], echoIdentifier: identifier })),
        );
        sockets.push(s);
        return s;
      },
    });
    const control = track(inNetns(nsPath(rtr), () => openIcmpV6({ passTypes: [129] })));
    let controlSeen = 0;
    control.onBatch(createIcmpv6RxRing(8, 256), (_r, n) => (controlSeen += n));
    try {
      const peer = parseIpv6("2001:db8:e0::2") as Uint8Array;
      // The first echo waits for neighbor resolution; allow a few tries all the same.
      let rtt: number | null = null;
      let tries = 0;
      while (tries < 10 && rtt === null) {
        tries++;
        rtt = await prober.probe(peer, 1000);
      }
      assert.ok(rtt !== null, "the peer's echo reply reached the prober");
      const again = await prober.probe(peer, 1000);
      assert.ok(
        again !== null && again >= 0 && again < 1000,
        `again, with its round-trip time: ${again}`,
      );
      assert.equal(sockets.length, 1, "one socket for all probes");
      assert.equal(sockets[0]!.device, "");
      assert.equal(sockets[0]!.ifindex, 0);
      const ours = sockets[0]!.stats().rxPackets;
      assert.ok(ours >= 2 && ours <= tries + 1, `our socket read our replies only: ${ours}`);
      // A ping by hand from the same namespace: three replies with the kernel's identifier.
      const seenBefore = controlSeen;
      const r = await reg.execAsync(rtr, [
        "ping",
        "-6",
        "-n",
        "-c",
        "3",
        "-i",
        "0.2",
        "-W",
        "2",
        "2001:db8:e0::2",
      ]);
      assert.equal(r.code, 0, r.stdout + r.stderr);
      assert.ok(
        await until(() => controlSeen >= seenBefore + 3, 10_000),
        "the control socket saw them",
      );
      assert.equal(sockets[0]!.stats().rxPackets, ours, "the filtered socket did not even wake");
      const t0 = Date.now();
      assert.equal(await prober.probe(parseIpv6("2001:db8:e0::3") as Uint8Array, 700), null);
      assert.ok(Date.now() - t0 >= 650, "a silent target waits for the timeout");
    } finally {
      prober.close();
      control.close();
    }
    assert.equal(openFdCount(), fdsBefore, "open fds after close");
  },
);

test(
  "ICMPv6 unbound: the addon refuses groups without a device, and a bad identifier",
  { skip },
  () => {
    assert.throws(() => loadNative().openIcmp6("", new Uint8Array(16), [129]), TypeError);
    assert.throws(() => loadNative().openIcmp6("", new Uint8Array(0), [129], 65536), TypeError);
    assert.throws(() => loadNative().openIcmp6("", new Uint8Array(0), [129], -1), TypeError);
  },
);
