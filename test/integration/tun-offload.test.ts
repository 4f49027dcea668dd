/**
 * TUN offload (native "TUN offload": virtio-net headers, TCP segmentation on read, coalescing on
 * write) against real kernels (root; skips with the reason otherwise).
 *
 * 1. Coalescing, checked by the kernel in between:
 *      namespace p<pid>-gso (forwarding)
 *      writeBatch(8 TCP segments) ──► TUN A ──► kernel forwards ──► TUN B ──► read by the test
 *    The kernel receives ONE packet on A (rx_packets), forwards it as one (B hands us one), and the
 *    test reads back the 8 original segments, byte for byte (hop limit one lower), each with the
 *    checksum it had: our segmentation recomputes exactly what the sender had.
 *    A segment with a bad checksum is never merged: it arrives alone and still bad. Interleaved
 *    flows merge per flow; UDP datagrams too where the kernel takes UDP super-packets. Run once
 *    through io_uring and once through the readv/writev loops.
 * 1b. Handed over whole and cut while sending: the same 8 segments, read from B with a ring that
 *    takes super-packets whole (RxRing.gso), come as ONE packet whose gso names the TCP header and
 *    segment size; encapsulated and sent by a raw socket with that gso, they arrive at a raw
 *    socket as the 8 original segments again (each in its own 6in4 packet, IDs stepping).
 * 2. Real TCP: iperf3 between two namespaces whose only link is this test relaying packets
 *    between their TUNs; the sender's TSO super-packets are cut on read, the segments coalesced
 *    again on write, and the receiving kernel counts every byte.
 */
import { after, test } from "node:test";
import assert from "node:assert/strict";
import { inNetns, openIpv4Raw, openTun } from "../../module/io/linux.js";
import { createIpv4RxRing, createRxRing } from "../../module/io/ring.js";
import { HEADROOM_BYTES } from "../../module/dataplane/tunables.js";
import type { TunDevice } from "../../module/io/ports.js";
import { NetnsRegistry, toolSkipReason } from "../support/netns.js";
import {
  closeTrackedPorts,
  nativeSkipReason,
  nsPath,
  track,
  tryLoadNative,
  until,
} from "../support/native-fixtures.js";
import { buildTcpPacket, buildUdpPacket, upperChecksumOk } from "../support/packet-builder.js";
import { waitTcpListening } from "../support/listening.js";
import { internetChecksum, pseudoHeaderSumV6 } from "../../module/codec/checksum.js";

const skip = nativeSkipReason() ?? toolSkipReason("iperf3");
/** Offload is tested through both write paths (io_uring, the writev loop) and read paths. */
const hasIoUring = skip ? false : (tryLoadNative().binding?.setIoUring(true) ?? false);
const reg = new NetnsRegistry();
const pid = process.pid;

after(async () => {
  tryLoadNative().binding?.setIoUring(true);
  closeTrackedPorts();
  await reg.cleanup();
});

function openIn(ns: string, name: string, mtu = 1400): TunDevice {
  return track(inNetns(nsPath(ns), () => openTun({ name, mtu, offload: true })));
}

function counter(ns: string, dev: string, which: string): number {
  return Number(
    reg.must(["ip", "netns", "exec", ns, "cat", `/sys/class/net/${dev}/statistics/${which}`]),
  );
}

for (const mode of ["io_uring", "readv/writev"] as const) {
  const wantUring = mode === "io_uring";
  const modeSkip = skip ?? (wantUring && !hasIoUring ? "io_uring not available here" : false);
  test(
    `offload (${mode}): 8 in-order segments cross the kernel as ONE super-packet and come back as the same 8`,
    { skip: modeSkip },
    async () => {
      assert.equal(tryLoadNative().binding?.setIoUring(wantUring), wantUring);
      const ns = reg.createNamespace(wantUring ? "gsou" : "gsow", { forwarding: true });
      const A = `pga${wantUring ? "u" : "w"}${pid}`.slice(0, 15);
      const B = `pgb${wantUring ? "u" : "w"}${pid}`.slice(0, 15);
      const a = openIn(ns, A);
      const b = openIn(ns, B);
      assert.equal(a.offload, true, "this kernel refused IFF_VNET_HDR/TUNSETOFFLOAD");
      reg.must(["ip", "-n", ns, "addr", "add", "2001:db8:a::1/64", "dev", A]);
      reg.must(["ip", "-n", ns, "addr", "add", "2001:db8:b::1/64", "dev", B]);

      const got: Buffer[] = [];
      const gotUdp: Buffer[] = [];
      const ring = createRxRing(8, 65536, HEADROOM_BYTES);
      b.onBatch(ring, (bufs, sizes, count) => {
        for (let i = 0; i < count; i++) {
          const p = Buffer.from(bufs[i]!.subarray(HEADROOM_BYTES, HEADROOM_BYTES + sizes[i]!));
          if (p[6] === 6) got.push(p);
          else if (p[6] === 17) gotUdp.push(p);
        }
      });

      const opts = Buffer.from([1, 1, 8, 10, 0, 0, 0, 7, 0, 0, 0, 9]); // NOP NOP Timestamps
      const seg = (i: number, len: number, flags = 0x10, corrupt = false): Buffer => {
        const payload = Buffer.alloc(len, (i * 37) & 0xff);
        payload.writeUInt32BE(i, 0);
        const p = buildTcpPacket({
          src: "2001:db8:a::2",
          dst: "2001:db8:b::2",
          srcPort: 41000,
          dstPort: 5201,
          seq: 1_000_000 + i * 1000,
          ack: 77,
          flags,
          window: 500,
          options: opts,
          payload,
        });
        if (corrupt) p[p.length - 1]! ^= 0xff;
        return p;
      };

      const send = (pkts: Buffer[]): number =>
        a.writeBatch(
          pkts,
          pkts.map(() => 0),
          pkts.map((p) => p.length),
          pkts.length,
        );

      // Round 1: 7 full segments and a shorter last one with PSH: one super-packet.
      const round1 = [0, 1, 2, 3, 4, 5, 6].map((i) => seg(i, 1000)).concat([seg(7, 400, 0x18)]);
      const rx0 = counter(ns, A, "rx_packets");
      assert.equal(send(round1), 8);
      assert.ok(
        await until(() => got.length >= 8, 10_000),
        `${got.length} of 8 segments back from TUN B`,
      );
      assert.equal(counter(ns, A, "rx_packets") - rx0, 1, "the kernel received one packet on A");
      for (let i = 0; i < 8; i++) {
        const want = Buffer.from(round1[i]!);
        want[7] = want[7]! - 1; // forwarded once
        assert.deepEqual(got[i], want, `segment ${i} came back unchanged`);
        assert.ok(upperChecksumOk(got[i]!, 6), `segment ${i} checksum`);
      }
      const sa = a.offloadStats!()!;
      const sb = b.offloadStats!()!;
      assert.equal(sa.superPacketsWritten, 1);
      assert.equal(sa.packetsCoalesced, 8);
      // ... forwarded as one: B handed us one super-packet, which we cut into the 8.
      assert.equal(sb.superPacketsRead, 1);
      assert.equal(sb.segmentsCut, 8);

      // Round 2: the 4th segment is corrupt: never merged, delivered alone and still corrupt.
      got.length = 0;
      const round2 = [10, 11, 12].map((i) => seg(i, 1000));
      round2.push(seg(13, 1000, 0x10, true));
      round2.push(...[14, 15, 16, 17].map((i) => seg(i, 1000)));
      const rx1 = counter(ns, A, "rx_packets");
      assert.equal(send(round2), 8);
      assert.ok(
        await until(() => got.length >= 8, 10_000),
        `${got.length} of 8 segments back from TUN B`,
      );
      assert.equal(
        counter(ns, A, "rx_packets") - rx1,
        3,
        "[10-12] merged, 13 alone, [14-17] merged",
      );
      for (let i = 0; i < 8; i++) {
        const want = Buffer.from(round2[i]!);
        want[7] = want[7]! - 1;
        assert.deepEqual(got[i], want, `segment ${i} of round 2`);
      }
      assert.equal(upperChecksumOk(got[3]!, 6), false, "the corrupt segment kept its bad checksum");
      assert.equal(a.offloadStats!()!.superPacketsWritten, 3);
      assert.equal(a.offloadStats!()!.packetsCoalesced, 15);

      // Round 3: two flows interleaved keep their order per flow; a FIN is written alone.
      got.length = 0;
      const other = (i: number): Buffer => {
        const p = seg(i, 1000);
        p.writeUInt16BE(41001, 40); // another source port, checksum fixed below
        p.writeUInt16BE(0, 56);
        p.writeUInt16BE(
          internetChecksum(p, 40, p.length, pseudoHeaderSumV6(p, 8, 24, p.length - 40, 6)),
          56,
        );
        return p;
      };
      const round3 = [seg(20, 1000), other(20), seg(21, 1000), other(21), seg(22, 10, 0x11)];
      const rx2 = counter(ns, A, "rx_packets");
      assert.equal(send(round3), 5);
      assert.ok(
        await until(() => got.length >= 5, 10_000),
        `${got.length} of 5 segments back from TUN B`,
      );
      const byFlow = (port: number) => got.filter((p) => p.readUInt16BE(40) === port);
      assert.deepEqual(
        byFlow(41000).map((p) => p.readUInt32BE(44)),
        [1_020_000, 1_021_000, 1_022_000],
      );
      assert.deepEqual(
        byFlow(41001).map((p) => p.readUInt32BE(44)),
        [1_020_000, 1_021_000],
      );
      for (const p of got) assert.ok(upperChecksumOk(p, 6));
      // Interleaved flows are still merged per flow; the FIN goes alone: [20,21] [20',21'] [22].
      assert.equal(counter(ns, A, "rx_packets") - rx2, 3);

      // Round 4: UDP datagrams of one flow, equal sizes but the last, where the kernel takes UDP
      // super-packets (Linux 6.2+): one packet into the kernel, the same 8 datagrams out of it.
      const dgrams = [0, 1, 2, 3, 4, 5, 6, 7].map((i) =>
        buildUdpPacket({
          src: "2001:db8:a::2",
          dst: "2001:db8:b::2",
          srcPort: 42000,
          dstPort: 5201,
          payload: Buffer.alloc(i === 7 ? 20 : 64, i + 1),
        }),
      );
      const rx3 = counter(ns, A, "rx_packets");
      const w0 = a.offloadStats!()!.superPacketsWritten;
      assert.equal(send(dgrams), 8);
      assert.ok(await until(() => gotUdp.length >= 8, 10_000), `${gotUdp.length} of 8 datagrams`);
      for (let i = 0; i < 8; i++) {
        const want = Buffer.from(dgrams[i]!);
        want[7] = want[7]! - 1;
        assert.deepEqual(gotUdp[i], want, `datagram ${i}`);
      }
      if (a.offloadStats!()!.udpSuperPackets) {
        assert.equal(counter(ns, A, "rx_packets") - rx3, 1, "one UDP super-packet");
        assert.equal(a.offloadStats!()!.superPacketsWritten - w0, 1);
      } else {
        assert.equal(counter(ns, A, "rx_packets") - rx3, 8, "no USO here: one write each");
      }
    },
  );
}

test(
  "offload, ring with gso: a super-packet is handed over whole and a raw socket's send cuts it into the same 8 segments",
  { skip },
  async () => {
    const ns = reg.createNamespace("gsop", { forwarding: true });
    const A = `pgpa${pid}`.slice(0, 15);
    const B = `pgpb${pid}`.slice(0, 15);
    const a = openIn(ns, A);
    const b = openIn(ns, B);
    reg.must(["ip", "-n", ns, "addr", "add", "2001:db8:a::1/64", "dev", A]);
    reg.must(["ip", "-n", ns, "addr", "add", "2001:db8:b::1/64", "dev", B]);
    reg.must(["ip", "-n", ns, "addr", "add", "192.0.2.1/32", "dev", "lo"]);
    reg.must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    const tx = track(inNetns(nsPath(ns), () => openIpv4Raw()));
    const rx = track(inNetns(nsPath(ns), () => openIpv4Raw()));

    const wire: Buffer[] = [];
    rx.onBatch(createIpv4RxRing(16, 2048, 0), (bufs, sizes, count) => {
      for (let i = 0; i < count; i++) wire.push(Buffer.from(bufs[i]!.subarray(0, sizes[i]!)));
    });
    const whole: { info: number; pkt: Buffer }[] = [];
    const ring = { ...createRxRing(8, 65536, HEADROOM_BYTES), gso: new Int32Array(8) };
    b.onBatch(ring, (bufs, sizes, count) => {
      for (let i = 0; i < count; i++) {
        const len = sizes[i]!;
        const info = ring.gso[i]!;
        if (bufs[i]![HEADROOM_BYTES + 6] !== 6) continue; // the kernel's own ND/MLD
        whole.push({ info, pkt: Buffer.from(bufs[i]!.subarray(HEADROOM_BYTES, 20 + len)) });
        if (info === 0) continue;
        // Encapsulate in the headroom as the data plane does; the send cuts it.
        const buf = bufs[i]!;
        buf.fill(0, 0, 20);
        buf[0] = 0x45;
        buf[8] = 64;
        buf[9] = 41;
        buf.writeUInt16BE(0x4000, 4); // ID of the first segment
        buf.writeUInt32BE(0xc0000201, 12);
        buf.writeUInt32BE(0xc0000201, 16);
        const gso = new Int32Array([info]);
        assert.equal(tx.writeBatch([buf], [0], [20 + len], 1, gso), 8, "8 packets sent");
      }
    });

    const segs = [0, 1, 2, 3, 4, 5, 6, 7].map((i) => {
      const payload = Buffer.alloc(i === 7 ? 400 : 1000, (i * 37) & 0xff);
      payload.writeUInt32BE(i, 0);
      return buildTcpPacket({
        src: "2001:db8:a::2",
        dst: "2001:db8:b::2",
        srcPort: 41000,
        dstPort: 5201,
        seq: 2_000_000 + i * 1000,
        ack: 77,
        flags: i === 7 ? 0x18 : 0x10,
        window: 500,
        payload,
      });
    });
    assert.equal(
      a.writeBatch(
        segs,
        segs.map(() => 0),
        segs.map((p) => p.length),
        8,
      ),
      8,
    );
    assert.ok(await until(() => wire.length >= 8, 10_000), `${wire.length} of 8 on the wire`);
    assert.equal(whole.length, 1, "B handed over one packet");
    assert.equal(whole[0]!.info, (40 << 16) | 1000, "gso: TCP header at 40, segments of 1000");
    assert.equal(whole[0]!.pkt.length, 60 + 7 * 1000 + 400);
    assert.equal(b.offloadStats!()!.segmentsCut, 8, "counted as the 8 segments it carries");
    for (let k = 0; k < 8; k++) {
      const w = wire[k]!;
      assert.equal(w.readUInt16BE(4), 0x4000 + k, `segment ${k} IPv4 ID`);
      assert.equal(w.readUInt16BE(2), w.length, `segment ${k} IPv4 total length`);
      const want = Buffer.from(segs[k]!);
      want[7] = want[7]! - 1; // forwarded once
      assert.deepEqual(w.subarray(20), want, `segment ${k} as it was written into A`);
      assert.ok(upperChecksumOk(w.subarray(20), 6), `segment ${k} checksum`);
    }
    assert.equal(tx.stats().txPackets, 8);
  },
);

test(
  "offload: iperf3 TCP through two TUNs relayed by this process; super-packets both ways",
  { skip },
  async () => {
    const nsL = reg.createNamespace("ofl");
    const nsR = reg.createNamespace("ofr");
    const L = `pol${pid}`.slice(0, 15);
    const R = `por${pid}`.slice(0, 15);
    const l = openIn(nsL, L, 1400);
    const r = openIn(nsR, R, 1400);
    reg.must(["ip", "-n", nsL, "addr", "add", "2001:db8:a::1/64", "dev", L]);
    reg.must(["ip", "-n", nsR, "addr", "add", "2001:db8:b::1/64", "dev", R]);
    reg.must(["ip", "-n", nsL, "route", "add", "2001:db8:b::/64", "dev", L]);
    reg.must(["ip", "-n", nsR, "route", "add", "2001:db8:a::/64", "dev", R]);

    const wire = (from: TunDevice, to: TunDevice): void => {
      const ring = createRxRing(32, 65536, HEADROOM_BYTES);
      const offs = new Int32Array(32).fill(HEADROOM_BYTES);
      from.onBatch(ring, (bufs, sizes, count) => {
        for (let i = 0; i < count; i++) {
          // Every packet the data plane sees is an ordinary one: at most the MTU.
          if (sizes[i]! > 1400) throw new Error(`packet of ${sizes[i]} bytes from ${from.name}`);
        }
        to.writeBatch(bufs, offs, sizes, count);
      });
    };
    wire(l, r);
    wire(r, l);

    const srv = reg.spawn(nsR, ["iperf3", "-s", "-1", "-B", "2001:db8:b::1", "-p", "5299"]);
    try {
      await waitTcpListening(reg, nsR, 5299);
      const bytes = 30 * 1024 * 1024;
      const res = await reg.execAsync(
        nsL,
        ["iperf3", "-c", "2001:db8:b::1", "-p", "5299", "-n", String(bytes), "-J"],
        60_000,
      );
      assert.equal(res.code, 0, res.stderr + res.stdout.slice(-400));
      const j = JSON.parse(res.stdout) as {
        end: { sum_sent: { bytes: number; retransmits: number }; sum_received: { bytes: number } };
      };
      // The receiving kernel verified every segment's checksum: what it counts arrived intact
      // (iperf3 stops counting when the sender has handed over its last bytes, so the figure
      // misses what was still in the socket buffers: up to a few MB).
      assert.ok(j.end.sum_sent.bytes >= bytes, `sent ${j.end.sum_sent.bytes}`);
      assert.ok(j.end.sum_received.bytes >= 0.75 * bytes, `received ${j.end.sum_received.bytes}`);
      // A segment with a wrong checksum would be dropped and sent again, over and over.
      const segments = bytes / 1300;
      assert.ok(
        j.end.sum_sent.retransmits < segments / 100,
        `${j.end.sum_sent.retransmits} retransmissions for ~${Math.round(segments)} segments`,
      );
    } finally {
      await reg.stop(srv, 3000);
    }
    const sl = l.offloadStats!()!;
    const sr = r.offloadStats!()!;
    // The sender's kernel handed us super-packets and we cut them ...
    assert.ok(sl.superPacketsRead > 0, `no super-packet read from ${L}: ${JSON.stringify(sl)}`);
    assert.ok(sl.segmentsCut > 2 * sl.superPacketsRead, JSON.stringify(sl));
    // ... and the segments were merged again on the way into the receiver's kernel.
    assert.ok(sr.superPacketsWritten > 0, `nothing coalesced into ${R}: ${JSON.stringify(sr)}`);
    assert.ok(sr.packetsCoalesced > 2 * sr.superPacketsWritten, JSON.stringify(sr));
    assert.equal(sl.dropped + sr.dropped, 0);
  },
);
