/**
 * GRO on the WAN (root, network namespaces; skips with the reason otherwise).
 *
 * Most Linux NIC drivers receive through GRO, and the kernel registers GRO for 6in4 (sit_offload
 * in net/ipv6/ip6_offload.c) whether or not the sit module is loaded: a NIC can merge several
 * protocol-41 packets of one inner TCP flow into one 64 KB packet, which a raw socket then reads
 * as one datagram with a partial inner checksum. Both daemons step the IPv4 ID by 1 between the
 * segments of a cut super-packet and by 2 from one packet to the next (outbound-core.ts
 * IPV4_ID_STEP): the receiver's device merges an upload's (a download's) segments, and each
 * daemon reads one packet per merge; UDP, sent one packet at a time, is never merged.
 *
 *   lan -- cpe (wan0: GRO on) ==== isp (cpe0, relay0: TSO off) ==== (wan0: GRO on) relay -- inet
 *
 * A veth receives through NAPI + GRO when GRO is on at the receiver and the sender does no TSO
 * (drivers/net/veth.c): the isp side plays the part of a switch that sends plain frames, the
 * daemons' wan0 that of a NIC with GRO. The control proves the setup merges: plain IPv4 TCP
 * into the relay's namespace arrives on wan0 in frames larger than the link MTU. Then TCP both
 * ways through the tunnel: every byte arrives, the receiving daemon's wan0 merged some and the
 * daemon read them merged (its wan_gro_merged counter).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  buildLabTopology,
  labCpeArgs,
  labCpeFiles,
  labRelayArgs,
  labRelaySocket,
  LAB_ANYCAST,
  LAB_SERVER,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import {
  NetnsRegistry,
  netnsSkipReason,
  toolSkipReason,
  type NsProcess,
} from "../support/netns.js";
import {
  daemonCommand,
  readCounters,
  startLab,
  tcpTransfer,
  type RunningLab,
} from "../support/dataplane-harness.js";
import {
  buildIcmpv6EchoPacket,
  buildTcpPacket,
  buildUdpPacket,
  encapsulate6to4,
} from "../support/packet-builder.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { okWithCounters, statusCommand, waitForCounters } from "../support/daemon-assert.js";
import { fold, internetChecksum, pseudoHeaderSumV6 } from "../../module/codec/checksum.js";

const skip =
  netnsSkipReason() ??
  toolSkipReason("ethtool") ??
  toolSkipReason("tshark") ??
  toolSkipReason("python3");
const WIRE_MTU = 1500;

/** `ethtool -K <dev> <feature> <on|off> ...` in namespace `ns`. */
function ethtoolK(reg: NetnsRegistry, ns: string, dev: string, ...features: string[]): void {
  reg.must(["ip", "netns", "exec", ns, "ethtool", "-K", dev, ...features]);
}

describe("GRO on the WAN and our 6in4", { skip, timeout: 180_000 }, () => {
  const reg = new NetnsRegistry();
  let lab: RunningLab;
  let dir = "";

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "6to4-pmt-gro-"));
    // The CPE probes the relay's 6to4 address once at start, not again while a test counts the
    // relay's own echo replies (icmp_sent).
    lab = await startLab(
      reg,
      { cpes: [{ index: 0, pmt: true }], lanMtu: 1500 },
      () => [],
      () => ["--health-interval", "3600"],
    );
    const { t } = lab;
    const relay = t.relays[0]!;
    const cpe = t.cpes[0]!;
    for (const ns of [relay.ns, cpe.ns]) {
      ethtoolK(reg, ns, "wan0", "gro", "on");
      // Polled in a kernel thread, as a NIC's interrupt moderation would: frames queue up and one
      // poll sees many of them (GRO merges only within a poll).
      reg.must(["ip", "netns", "exec", ns, "sh", "-c", "echo 1 > /sys/class/net/wan0/threaded"]);
    }
    for (const dev of ["relay0", "cpe0"]) {
      ethtoolK(reg, t.isp, dev, "tso", "off");
    }
    // The CPE's LAN side cuts super-packets itself, so the LAN host's capture shows the segments
    // the CPE's kernel made (their size is what the tests below look at).
    ethtoolK(reg, cpe.ns, "lan0", "tso", "off");
  });
  after(async () => {
    await reg.cleanup();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /**
   * Captures on `ns`/`dev` (capture filter `filter`) while `traffic` runs; returns the fields
   * `fields` of every frame, one string array per frame.
   */
  async function capture(
    ns: string,
    dev: string,
    filter: string,
    fields: string[],
    traffic: () => Promise<void>,
    snaplen = 262144,
  ): Promise<string[][]> {
    const file = join(dir, `${ns}-${dev}-${Date.now()}.pcap`);
    const cap = reg.spawn(ns, [
      "tshark",
      "-n",
      "-q",
      "-i",
      dev,
      "-s",
      String(snaplen),
      "-f",
      filter,
      "-w",
      file,
    ]);
    assert.ok(await reg.waitFor(() => /Capturing on/.test(cap.stderr()), 15_000), cap.stderr());
    await new Promise((r) => setTimeout(r, 300));
    try {
      await traffic();
    } finally {
      await new Promise((r) => setTimeout(r, 300));
      await reg.stop(cap, 5000, "SIGINT");
    }
    const args = ["-o", "tcp.relative_sequence_numbers:FALSE", "-o", "udp.check_checksum:TRUE"];
    args.push("-T", "fields");
    for (const f of fields) args.push("-e", f);
    const out = reg.must(["tshark", "-n", "-r", file, ...args], 60_000);
    return out
      .split("\n")
      .filter((l) => l.trim() !== "")
      .map((l) => l.split("\t"));
  }

  /**
   * Captures IPv4 on `ns`/wan0 while `traffic` runs: [ip.proto, ip.len] of every frame received
   * (frames from an address of `ns` are left out: what the daemon sent, such as the ICMPv6 errors
   * of 1280 bytes that the LAN host answers datagrams with, is not what GRO merged).
   */
  async function captureWan(
    ns: string,
    traffic: () => Promise<void>,
  ): Promise<Array<[number, number]>> {
    const own = new Set(
      (
        JSON.parse(reg.must(["ip", "-j", "-4", "-n", ns, "addr", "show"])) as {
          addr_info: { local: string }[];
        }[]
      ).flatMap((l) => l.addr_info.map((a) => a.local)),
    );
    const rows = await capture(ns, "wan0", "ip", ["ip.proto", "ip.len", "ip.src"], traffic, 96);
    return rows.filter(([, , src]) => !own.has(src!)).map(([p, n]) => [Number(p), Number(n)]);
  }

  /**
   * One burst of `frames` from the ISP into `target`'s wan0, all found queued by one NAPI poll
   * (injectIpv4 with onePoll): GRO merges what one poll finds, so a burst of one flow's segments is one
   * merged packet, whatever the scheduler does. wan0's NAPI runs in softirq context for it (the
   * TCP tests above poll in a kernel thread; for an injected burst that thread could wake on the
   * other core and poll before the last frame is queued).
   */
  /** Stops the relay (if it still runs) and starts it again with `extra` flags. */
  async function restartRelay(extra: string[]): Promise<NsProcess> {
    await reg.stop(lab.relays[0]!, 5000, "SIGTERM");
    const relay = lab.t.relays[0]!;
    const p = spawnDaemon(reg, relay.ns, daemonCommand(), labRelayArgs(relay, extra));
    lab.relays[0] = p;
    assert.ok(await waitDaemonReady(reg, p), p.stderr());
    return p;
  }

  /**
   * `n` 6in4 packets of one flow as Linux's sit sends them (DF, ID 0), `bytes` of payload each
   * (every byte `fill(i)`): TCP segments following on from `seq`, or UDP datagrams; `up`: from
   * the LAN host's 6to4 address to the server (to the relay), else the other way (to the CPE).
   */
  function sitBurst(o: {
    proto: "tcp" | "udp";
    n: number;
    bytes: number;
    ports: [number, number];
    up: boolean;
    seq?: number;
    fill: (i: number) => number;
    /** IPv4 ID of frame i, DF clear (default: DF set, ID 0, as Linux tunnels send). */
    id?: (i: number) => number;
  }): Buffer[] {
    const c = lab.t.cpes[0]!;
    const host = `2002:6440:2::${c.hostAddress.split("::")[1]}`;
    const [src, dst] = o.up ? [host, LAB_SERVER] : [LAB_SERVER, host];
    const [from, to] = o.up ? [c.wanIpv4, LAB_ANYCAST] : [LAB_ANYCAST, c.wanIpv4];
    const frames: Buffer[] = [];
    for (let i = 0; i < o.n; i++) {
      const spec = {
        src,
        dst,
        srcPort: o.ports[0],
        dstPort: o.ports[1],
        payload: Buffer.alloc(o.bytes, o.fill(i) & 0xff),
      };
      const pkt =
        o.proto === "tcp"
          ? buildTcpPacket({ ...spec, seq: (o.seq ?? 0) + i * o.bytes, ack: 1, flags: 0x10 })
          : buildUdpPacket(spec);
      const outer = o.id === undefined ? { df: true, id: 0 } : { df: false, id: o.id(i) & 0xffff };
      frames.push(encapsulate6to4(pkt, from, to, outer));
    }
    return frames;
  }

  function injector(target: "cpe" | "relay", frames: Buffer[]): () => Promise<void> {
    const ns = target === "cpe" ? lab.t.cpes[0]!.ns : lab.t.relays[0]!.ns;
    reg.must(["ip", "netns", "exec", ns, "sh", "-c", "echo 0 > /sys/class/net/wan0/threaded"]);
    const mac = linkMac(reg, ns, "wan0");
    return () => injectIpv4(reg, lab.t.isp, `${target}0`, mac, frames, { onePoll: true });
  }

  /**
   * Captures the frames received on `ns`'s wan0 (captureWan) while one burst goes out and until
   * the offload counter `counter` of daemon `p` rose (bounded wait). Returns the frames and the
   * rise.
   */
  async function burstOnWanCounted(
    ns: string,
    p: NsProcess,
    counter: string,
    burst: () => Promise<void>,
  ): Promise<{ frames: Array<[number, number]>; counted: number }> {
    const before = (await readCounters(reg, p)).offload?.[counter] ?? 0;
    let counted = 0;
    const frames = await captureWan(ns, async () => {
      await burst();
      const c = await waitForCounters(reg, p, (c) => (c.offload?.[counter] ?? 0) > before);
      counted = (c.offload?.[counter] ?? 0) - before;
    });
    return { frames, counted };
  }

  test("control: the relay's wan0 merges plain IPv4 TCP (GRO is active)", async () => {
    const relay = lab.t.relays[0]!;
    const frames = await captureWan(relay.ns, async () => {
      const r = await tcpTransfer(reg, lab.t.isp, relay.ns, relay.unicast, 5401, 4_000_000);
      assert.equal(r.received, 4_000_000, r.sent);
    });
    const big = frames.filter(([p, n]) => p === 6 && n > WIRE_MTU);
    assert.ok(big.length > 0, `no merged TCP frame among ${frames.length}`);
  });

  test("TCP LAN -> server: the CPE's 6in4 is merged on the relay's wan0 (IDs step by 1, as Linux sit sends), every byte arrives", async () => {
    const c = lab.t.cpes[0]!;
    const cpe0 = await readCounters(reg, lab.cpes[0]!);
    const relay0 = await readCounters(reg, lab.relays[0]!);
    const frames = await captureWan(lab.t.relays[0]!.ns, async () => {
      const r = await tcpTransfer(reg, c.lanNs, lab.t.inet, LAB_SERVER, 5402, 8_000_000);
      assert.equal(r.received, 8_000_000, r.sent);
    });
    const cpe1 = await readCounters(reg, lab.cpes[0]!);
    const relay1 = await readCounters(reg, lab.relays[0]!);
    assert.ok(cpe1.traffic.out_packets! - cpe0.traffic.out_packets! > 1000);
    // Thousands of segments, polled in a kernel thread: GRO merges some of them, and the relay's
    // raw socket reads those merged (native complete_gro_6in4, cut again on the TUN).
    const merged = frames.filter(([p, n]) => p === 41 && n > WIRE_MTU);
    assert.ok(merged.length > 0, "no 6in4 frame on the relay's wan0 larger than the link MTU");
    const read = relay1.offload!.wan_gro_merged! - (relay0.offload?.wan_gro_merged ?? 0);
    assert.ok(read > 0, `the relay read ${read} merged packets`);
  });

  test("TCP server -> LAN: the relay's 6in4 is merged on the CPE's wan0 (IDs step by 1), every byte arrives", async () => {
    const c = lab.t.cpes[0]!;
    const cpe0 = await readCounters(reg, lab.cpes[0]!);
    const relay0 = await readCounters(reg, lab.relays[0]!);
    const frames = await captureWan(c.ns, async () => {
      const r = await tcpTransfer(reg, lab.t.inet, c.lanNs, c.hostAddress, 5403, 8_000_000);
      assert.equal(r.received, 8_000_000, r.sent);
    });
    const cpe1 = await readCounters(reg, lab.cpes[0]!);
    const relay1 = await readCounters(reg, lab.relays[0]!);
    assert.ok(relay1.traffic.out_packets! - relay0.traffic.out_packets! > 1000);
    // The CPE's raw socket reads them merged and hands them to the TUN as super-packets cut at
    // 1280 bytes (the sender's segment size is lost): every byte arrives (above).
    const merged = frames.filter(([p, n]) => p === 41 && n > WIRE_MTU);
    assert.ok(merged.length > 0, "no 6in4 frame on the CPE's wan0 larger than the link MTU");
    const read = cpe1.offload!.wan_gro_merged! - (cpe0.offload?.wan_gro_merged ?? 0);
    assert.ok(read > 0, `the CPE read ${read} merged packets`);
  });
  for (const list of [false, true]) {
    const how = list ? "fraglist GRO (rx-gro-list, OpenWrt's default)" : "GRO";
    test(`a sender that ${how} merges (DF, fixed ID 0, as Linux tunnels send): the LAN host gets every byte`, async () => {
      const c = lab.t.cpes[0]!;
      if (list) ethtoolK(reg, c.ns, "wan0", "rx-gro-list", "on");
      try {
        await foreignRuns(list);
      } finally {
        if (list) ethtoolK(reg, c.ns, "wan0", "rx-gro-list", "off");
      }
    });
  }

  async function foreignRuns(list: boolean): Promise<void> {
    // Linux sit/ip tunnels send with DF and ID 0, which GRO merges whatever we do. A relay that
    // sends so is simulated by frames injected into the CPE's wan0: runs of equal TCP segments
    // from the server to the LAN host (nobody listens: the LAN host's kernel checks each
    // segment's checksum, counts it and answers with a reset).
    const c = lab.t.cpes[0]!;
    const dst2002 = `2002:6440:2::${c.hostAddress.split("::")[1]}`; // Figure 3, back to 6to4
    const SEGMENTS = 24;
    const BYTES = 1200;
    const seq0 = 0x10000000;
    const frames: Buffer[] = [];
    for (let i = 0; i < SEGMENTS; i++) {
      const payload = Buffer.alloc(BYTES, (i * 7 + 1) & 0xff);
      const tcp = buildTcpPacket({
        src: LAB_SERVER,
        dst: dst2002,
        srcPort: 5999,
        dstPort: 5998,
        seq: seq0 + i * BYTES,
        ack: 1,
        flags: 0x10,
        payload,
      });
      frames.push(encapsulate6to4(tcp, LAB_ANYCAST, c.wanIpv4, { df: true, id: 0 }));
    }
    const burst = injector("cpe", frames);
    const cpe0 = await readCounters(reg, lab.cpes[0]!);
    const mib0 = tcpMib(c.lanNs);
    let run = { frames: [] as Array<[number, number]>, counted: 0 };
    const atLan = await captureLan(c.lanNs, async () => {
      run = await burstOnWanCounted(c.ns, lab.cpes[0]!, "wan_gro_merged", burst);
      // However the CPE cut the merged packet (1200 or 1220 bytes), 24 segments: all arrived.
      await reg.waitFor(() => tcpMib(c.lanNs).InSegs! - mib0.InSegs! >= SEGMENTS, 15_000);
    });
    const { frames: wanFrames, counted: merged } = run;
    const cpe1 = await readCounters(reg, lab.cpes[0]!);
    const mib1 = tcpMib(c.lanNs);
    // One poll found the burst queued: GRO merged all of it into one packet.
    const mergedOnWan = wanFrames.filter(([p, n]) => p === 41 && n > 20 + 40 + 20 + BYTES);
    await okWithCounters(
      reg,
      lab.cpes,
      mergedOnWan.length === 1 && mergedOnWan[0]![1] === 20 + 40 + 20 + SEGMENTS * BYTES,
      `merged 6in4 frames on the CPE's wan0 (expected one of all ${SEGMENTS}): ${JSON.stringify(mergedOnWan)}`,
    );
    // Every byte of every burst reached the LAN host, however it was cut.
    const seen = new Map<number, number>(); // seq -> bytes
    for (const [seqRel, len] of atLan) seen.set(seqRel, Math.max(seen.get(seqRel) ?? 0, len));
    let next = 0;
    for (const [seqRel, len] of [...seen.entries()].sort((a, b) => a[0] - b[0])) {
      assert.ok(seqRel <= next, `gap at byte ${next} (next segment at ${seqRel})`);
      next = Math.max(next, seqRel + len);
    }
    assert.equal(next, SEGMENTS * BYTES, "bytes of the run that reached the LAN host");
    const total = atLan.reduce((a, [, len]) => a + len, 0);
    // Fraglist GRO keeps the first segment's checksum: the CPE finds the sender's segment size
    // again and the LAN host gets the segments as sent. Plain GRO loses it: 1280-byte packets.
    const sizes = new Set(atLan.map(([, len]) => len));
    if (list) assert.deepEqual([...sizes], [BYTES], "segment sizes at the LAN host");
    else
      assert.ok(
        [...sizes].every((n) => n <= 1280 - 40 - 20),
        [...sizes].join(","),
      );
    assert.equal(total, SEGMENTS * BYTES, "bytes of the burst at the LAN host");
    assert.equal(mib1.InCsumErrors! - mib0.InCsumErrors!, 0, "segments with a bad checksum");
    assert.equal(merged, 1, "the CPE counted the merged packet it read (wan_gro_merged)");
    assert.ok(
      cpe1.offload!.oversized_split! > cpe0.offload!.oversized_split!,
      "a merged packet longer than the tunnel MTU went to the kernel to be cut (oversized_split)",
    );
  }

  /**
   * Counts datagrams to [host]:5998 (argv: host, datagram bytes, datagrams expected); prints "all"
   * when the expected number arrived, {n, bad, distinct} on SIGTERM.
   */
  const UDP_COUNTER = `
const d = require("dgram").createSocket("udp6");
let n = 0, bad = 0;
const seen = new Set();
d.on("message", (m) => {
  if (++n === Number(process.argv[3])) console.log("all");
  if (m.length !== Number(process.argv[2]) || m.some((b) => b !== m[0])) bad++;
  seen.add(m[0]);
});
d.bind(5998, process.argv[1], () => console.log("listening"));
process.on("SIGTERM", () => { console.log(JSON.stringify({ n, bad, distinct: seen.size })); process.exit(0); });
`;

  /** Starts UDP_COUNTER on the LAN host for `expected` datagrams of `bytes`, once it listens. */
  async function startUdpSink(bytes: number, expected: number): Promise<NsProcess> {
    const c = lab.t.cpes[0]!;
    const sink = reg.spawn(c.lanNs, [
      process.execPath,
      "-e",
      UDP_COUNTER,
      c.hostAddress,
      String(bytes),
      String(expected),
    ]);
    assert.ok(await reg.waitFor(() => sink.stdout().includes("listening"), 10_000), sink.stderr());
    return sink;
  }

  /** Waits (at most `waitMs`) until the sink got all it expected, stops it: what it counted. */
  async function stopUdpSink(
    sink: NsProcess,
    waitMs: number,
  ): Promise<{ n: number; bad: number; distinct: number }> {
    await reg.waitFor(() => sink.stdout().includes("all"), waitMs);
    await reg.stop(sink, 3000, "SIGTERM");
    const line = sink
      .stdout()
      .split("\n")
      .find((l) => l.startsWith("{"));
    assert.ok(line, sink.stdout() + sink.stderr());
    return JSON.parse(line) as { n: number; bad: number; distinct: number };
  }

  /**
   * A burst of 24 TCP segments of 1200 bytes (segment i filled with `fill(i)`) from the LAN host's
   * 6to4 address to the server, as Linux's sit sends them (DF, ID 0), injected into the relay's
   * wan0 in one poll.
   */
  function relayTcpBurst(
    ports: [number, number],
    seq: number,
    fill: (i: number) => number,
  ): () => Promise<void> {
    return injector(
      "relay",
      sitBurst({ proto: "tcp", n: 24, bytes: 1200, ports, up: true, seq, fill }),
    );
  }

  /**
   * A burst of 24 UDP datagrams of 1200 bytes (each filled with its number) from the server to the
   * LAN host's 6to4 address, injected into the CPE's wan0 in one poll; outer IPv4 IDs `id(i)`, DF
   * clear, or as Linux tunnels send (sitBurst).
   */
  function lanUdpBurst(id?: (i: number) => number): () => Promise<void> {
    return injector(
      "cpe",
      sitBurst({
        proto: "udp",
        n: 24,
        bytes: 1200,
        ports: [5999, 5998],
        up: false,
        fill: (i) => i + 1,
        ...(id !== undefined ? { id } : {}),
      }),
    );
  }

  /** The TCP counters of namespace `ns` (/proc/net/snmp, "Tcp:" rows). */
  function tcpMib(ns: string): Record<string, number> {
    const l = reg.exec(ns, ["cat", "/proc/net/snmp"]).stdout.split("\n");
    const rows = l.filter((x) => x.startsWith("Tcp:"));
    const keys = rows[0]!.split(/\s+/);
    const vals = rows[1]!.split(/\s+/).map(Number);
    return Object.fromEntries(keys.map((k, i) => [k, vals[i]!]));
  }

  /** `ethtool -k wan0` in `ns`: is rx-gro-list on? */
  function groListOn(ns: string): boolean {
    const k = reg.must(["ip", "netns", "exec", ns, "ethtool", "-k", "wan0"]);
    const m = /^rx-gro-list: (on|off)/m.exec(k);
    assert.ok(m, `no rx-gro-list in ethtool -k:\n${k}`);
    return m[1] === "on";
  }

  test("UDP merged by GRO (rx-gro-list) is counted as unusable; the CPE turns fraglist GRO off on wan0 (wan_gro auto) and then every datagram arrives", async () => {
    // The kernel merges 6in4's inner UDP the plain way (the pseudo-header sum of the whole in the
    // checksum field): where one datagram ended is lost. The CPE counts such packets
    // (wan_gro_unusable) and, with wan_gro auto (the default), turns rx-gro-list off on its WAN
    // device at its next check (control/wan-gro.ts, docs/native-addon.md).
    const c = lab.t.cpes[0]!;
    const DATAGRAMS = 24;
    const BYTES = 1200;
    const burst = lanUdpBurst();

    // 1. rx-gro-list on: one burst, merged by GRO into one packet, which the CPE counts.
    ethtoolK(reg, c.ns, "wan0", "rx-gro-list", "on");
    let unusable = 0;
    let wanFrames: Array<[number, number]> = [];
    let turnedOff = false;
    try {
      const run = await burstOnWanCounted(c.ns, lab.cpes[0]!, "wan_gro_unusable", burst);
      wanFrames = run.frames;
      unusable = run.counted;
      // The CPE looks at the count every GRO_CHECK_MS (5 s); "reload" looks now.
      assert.deepEqual(await statusCommand(labCpeFiles(c.ns)[1], "reload"), { ok: true });
      turnedOff = !groListOn(c.ns);
    } finally {
      if (!turnedOff) ethtoolK(reg, c.ns, "wan0", "rx-gro-list", "off");
    }
    const merged = wanFrames.filter(([p, n]) => p === 41 && n > 20 + 40 + 8 + BYTES);
    await okWithCounters(
      reg,
      lab.cpes,
      merged.length === 1 && merged[0]![1] === 20 + 40 + 8 + DATAGRAMS * BYTES,
      `merged 6in4 UDP on the CPE's wan0 (expected one of all ${DATAGRAMS}): ${JSON.stringify(merged)}`,
    );
    assert.equal(unusable, 1, "the CPE counted the merged UDP it cannot take apart");
    await okWithCounters(reg, lab.cpes, turnedOff, "the CPE did not turn rx-gro-list off on wan0");
    // The log line reaches us through a pipe, possibly a moment after the change itself.
    const logged =
      /wan wan0: rx-gro-list off \(merged 6in4 UDP cannot be forwarded\); back on at exit/;
    assert.ok(
      await reg.waitFor(() => logged.test(lab.cpes[0]!.stderr()), 10_000),
      lab.cpes[0]!.stderr().slice(-2000),
    );
    assert.doesNotMatch(
      lab.cpes[0]!.stderr(),
      /merged by GRO could not be forwarded/,
      "no warning",
    );

    // 2. With rx-gro-list off (plain GRO still on) every datagram reaches the socket.
    const sink = await startUdpSink(BYTES, 3 * DATAGRAMS);
    const cpe1 = await readCounters(reg, lab.cpes[0]!);
    for (let b = 0; b < 3; b++) await burst();
    const got = await stopUdpSink(sink, 15_000);
    const cpe2 = await readCounters(reg, lab.cpes[0]!);
    assert.deepEqual(got, { n: 3 * DATAGRAMS, bad: 0, distinct: DATAGRAMS });
    assert.equal(cpe2.offload!.wan_gro_unusable, cpe1.offload!.wan_gro_unusable);
  });

  test("UDP with our IDs (DF clear, + 2 from one packet to the next) is not merged under rx-gro-list and rx-udp-gro-forwarding; the same burst with IDs + 1 is", async () => {
    // What keeps GRO from merging what we send one packet at a time (dataplane/outbound-core.ts
    // IPV4_ID_STEP): a raw socket could not take merged UDP apart (the test above).
    const c = lab.t.cpes[0]!;
    const DATAGRAMS = 24;
    const BYTES = 1200;
    const burstWith = (step: number): (() => Promise<void>) =>
      lanUdpBurst((i) => 0x7000 + i * step);
    const features = (state: "on" | "off"): void =>
      ethtoolK(reg, c.ns, "wan0", "rx-gro-list", state, "rx-udp-gro-forwarding", state);
    features("on");
    try {
      const sink = await startUdpSink(BYTES, DATAGRAMS);
      const cpe0 = await readCounters(reg, lab.cpes[0]!);
      const frames = await captureWan(c.ns, async () => {
        await burstWith(2)();
        await reg.waitFor(() => sink.stdout().includes("all"), 10_000);
      });
      const got = await stopUdpSink(sink, 0);
      const cpe1 = await readCounters(reg, lab.cpes[0]!);
      assert.deepEqual(
        got,
        { n: DATAGRAMS, bad: 0, distinct: DATAGRAMS },
        "datagrams at the LAN host",
      );
      // The health probe's replies may pass too: every 6in4 frame must be one datagram.
      const sixin4 = frames.filter(([p]) => p === 41);
      assert.ok(sixin4.length >= DATAGRAMS, `${sixin4.length} 6in4 frames on wan0`);
      assert.deepEqual(
        sixin4.filter(([, n]) => n > WIRE_MTU),
        [],
        "6in4 frames merged by GRO",
      );
      assert.equal(cpe1.offload!.wan_gro_unusable, cpe0.offload!.wan_gro_unusable);

      // Control: the same burst with IDs rising by 1 is merged, which the CPE counts.
      const control = await burstOnWanCounted(c.ns, lab.cpes[0]!, "wan_gro_unusable", burstWith(1));
      assert.ok(
        control.frames.some(([p, n]) => p === 41 && n > WIRE_MTU),
        `no merged frame with IDs + 1: ${JSON.stringify(control.frames)}`,
      );
      assert.equal(control.counted, 1, "the CPE counted the merged burst");
    } finally {
      features("off");
    }
  });

  test("the relay: TCP from a Linux-style 6to4 host that GRO merges on its wan0 reaches the server byte for byte", async () => {
    // The same repair on the relay's side: a customer whose 6to4 comes from the Linux sit driver
    // (DF, ID 0), merged by the relay's NIC, translated (Figure 3) and forwarded to the Internet.
    const relay = lab.t.relays[0]!;
    const SEGMENTS = 24;
    const BYTES = 1200;
    const burst = relayTcpBurst([5999, 5998], 0x10000000, (i) => i * 5 + 3);
    const relay0 = await readCounters(reg, lab.relays[0]!);
    const segs0 = tcpMib(lab.t.inet).InSegs!;
    let run = { frames: [] as Array<[number, number]>, counted: 0 };
    const atServer = await capture(
      lab.t.inet,
      "relay0",
      "tcp src port 5999",
      ["tcp.seq", "tcp.len"],
      async () => {
        run = await burstOnWanCounted(relay.ns, lab.relays[0]!, "wan_gro_merged", burst);
        // Cut again at 1220 bytes: 24 segments.
        await reg.waitFor(() => tcpMib(lab.t.inet).InSegs! - segs0 >= SEGMENTS, 15_000);
      },
    );
    const { frames: wanFrames, counted: merged } = run;
    const relay1 = await readCounters(reg, lab.relays[0]!);
    const mergedOnWan = wanFrames.filter(([p, n]) => p === 41 && n > 20 + 40 + 20 + BYTES);
    await okWithCounters(
      reg,
      lab.relays,
      mergedOnWan.length === 1 && mergedOnWan[0]![1] === 20 + 40 + 20 + SEGMENTS * BYTES,
      `merged 6in4 frames on the relay's wan0 (expected one of all ${SEGMENTS}): ${JSON.stringify(mergedOnWan)}`,
    );
    const total = atServer.reduce((a, [, len]) => a + Number(len), 0);
    assert.equal(total, SEGMENTS * BYTES, "bytes of the burst at the server");
    assert.equal(merged, 1, "the relay counted the merged packet it read (wan_gro_merged)");
    assert.ok(relay1.offload!.oversized_split! > relay0.offload!.oversized_split!);
  });

  test("an intact segment whose checksum equals its pseudo-header sum is not taken for a merged one", async () => {
    // One segment in 65536 looks like a GRO merge by its checksum field alone; the addon also
    // verifies it, so it passes unchanged and is not counted.
    const c = lab.t.cpes[0]!;
    const seg = buildTcpPacket({
      src: LAB_SERVER,
      dst: `2002:6440:2::${c.hostAddress.split("::")[1]}`,
      srcPort: 5999,
      dstPort: 5998,
      seq: 0x10000000,
      ack: 1,
      flags: 0x18,
      payload: Buffer.alloc(64),
    });
    const ph = pseudoHeaderSumV6(seg, 8, 24, seg.length - 40, 6);
    let w = 0;
    for (; w < 0x10000; w++) {
      seg.writeUInt16BE(w, 60); // first payload word
      seg.writeUInt16BE(0, 56);
      if (internetChecksum(seg, 40, seg.length, ph) === fold(ph)) break;
    }
    assert.ok(w < 0x10000);
    seg.writeUInt16BE(fold(ph), 56);
    assert.equal(internetChecksum(seg, 40, seg.length, ph), 0, "the segment is intact");
    const burst = injector("cpe", [encapsulate6to4(seg, LAB_ANYCAST, c.wanIpv4, { id: 77 })]);
    const cpe0 = await readCounters(reg, lab.cpes[0]!);
    const segs0 = tcpMib(c.lanNs).InSegs!;
    const frames = await captureLan(c.lanNs, async () => {
      await burst();
      await reg.waitFor(() => tcpMib(c.lanNs).InSegs! > segs0, 15_000);
    });
    const cpe1 = await readCounters(reg, lab.cpes[0]!);
    assert.deepEqual(frames, [[0, 64]], "the segment reached the LAN host");
    assert.ok(cpe1.traffic.in_packets! > cpe0.traffic.in_packets!, "decapsulated by the CPE");
    assert.equal(
      cpe1.offload!.wan_gro_merged,
      cpe0.offload!.wan_gro_merged,
      "not counted as merged",
    );
    const atLan = buildTcpPacket({
      src: LAB_SERVER,
      dst: c.hostAddress, // translated to the provider /64 by the CPE (Figure 3)
      srcPort: 5999,
      dstPort: 5998,
      seq: 0x10000000,
      ack: 1,
      flags: 0x18,
      payload: seg.subarray(60),
    });
    assert.equal(lastLanChecksum, atLan.readUInt16BE(56), "the translated segment's checksum");
  });

  /** TCP checksum field of the last frame captureLan saw. */
  let lastLanChecksum = -1;

  /** Captures TCP from port 5999 on `ns`/eth0: [relative seq, payload length] per frame. */
  async function captureLan(
    ns: string,
    traffic: () => Promise<void>,
  ): Promise<Array<[number, number]>> {
    const fields = ["tcp.seq", "tcp.len", "tcp.checksum"];
    const rows = await capture(ns, "eth0", "tcp src port 5999", fields, traffic);
    return rows.map(([q, n, sum]) => {
      lastLanChecksum = Number(sum);
      return [Number(q) - 0x10000000, Number(n)];
    });
  }

  // Last: restarts the relay with packet_receive on wan0 (the tests above use the raw socket).
  test("packet_receive wan0: a burst GRO merged reaches the server in the sender's segments; fragments still take the raw socket; the nft table goes at exit", async () => {
    const c = lab.t.cpes[0]!;
    const relay = lab.t.relays[0]!;
    const p = await restartRelay(["--packet-receive", "wan0"]);
    const table = [
      "ip",
      "netns",
      "exec",
      relay.ns,
      "nft",
      "list",
      "table",
      "netdev",
      "sixto4pmt_relay_rx",
    ];
    assert.match(reg.must(table), /hook ingress device "wan0"[^]*ip protocol ipv6[^]*drop/);
    const st = await reg.execAsync(relay.ns, [
      ...daemonCommand(),
      "status",
      "--relay",
      "--status-socket",
      labRelaySocket(relay.ns),
    ]);
    assert.match(
      st.stdout,
      /^receive: +AF_PACKET on wan0 \(packet_receive\), raw socket elsewhere$/m,
      st.stdout,
    );

    // 1. The Linux-style burst of the test above: merged into one packet on wan0, read whole
    // with its segment size, so the server gets the sender's 24 segments of 1200 bytes (the raw
    // socket's path cut them at 1220).
    const SEGMENTS = 24;
    const BYTES = 1200;
    const src6 = `2002:6440:2::${c.hostAddress.split("::")[1]}`;
    const burst = relayTcpBurst([5997, 5996], 0x20000000, (i) => i * 7 + 1);
    // The relay's kernel cuts the super-packets it forwards at inet0 (else the server's capture
    // sees one packet of 28 800 bytes, as a veth passes super-packets on; UDP's too) and
    // completes their checksums (else the capture shows the pseudo-header sums).
    ethtoolK(
      reg,
      relay.ns,
      "inet0",
      "tso",
      "off",
      "gso",
      "off",
      "tx-udp-segmentation",
      "off",
      "tx",
      "off",
    );
    let merged = 0;
    const atServer = await capture(
      lab.t.inet,
      "relay0",
      "tcp src port 5997",
      ["tcp.seq", "tcp.len"],
      async () => {
        ({ counted: merged } = await burstOnWanCounted(relay.ns, p, "wan_gro_merged", burst));
        await new Promise((r) => setTimeout(r, 500));
      },
    );
    assert.equal(merged, 1, "one merged packet read with its segment size (wan_gro_merged)");
    assert.deepEqual(
      atServer.map(([, len]) => Number(len)),
      new Array<number>(SEGMENTS).fill(BYTES),
      "the segments at the server",
    );

    // 2. UDP merged (rx-udp-gro-forwarding on wan0): the header gives the datagrams' size, so the
    // relay writes them to the TUN as a UDP super-packet cut there (the raw socket's path cannot
    // take merged UDP apart): every datagram reaches the server as sent, checksum intact.
    const DATAGRAMS = 24;
    const DBYTES = 1000;
    const udpFrames = sitBurst({
      proto: "udp",
      n: DATAGRAMS,
      bytes: DBYTES,
      ports: [5993, 5992],
      up: true,
      fill: (i) => i + 1,
    });
    const udpBurst = injector("relay", udpFrames);
    const u0 = await readCounters(reg, p);
    ethtoolK(reg, relay.ns, "wan0", "rx-udp-gro-forwarding", "on");
    let udpAtServer: string[][] = [];
    try {
      udpAtServer = await capture(
        lab.t.inet,
        "relay0",
        "udp src port 5993",
        ["udp.length", "udp.checksum.status"],
        async () => {
          await burstOnWanCounted(relay.ns, p, "wan_gro_merged", udpBurst);
          await new Promise((r) => setTimeout(r, 500));
        },
      );
    } finally {
      ethtoolK(reg, relay.ns, "wan0", "rx-udp-gro-forwarding", "off");
    }
    const u1 = await readCounters(reg, p);
    assert.equal(
      (u1.offload?.wan_gro_unusable ?? 0) - (u0.offload?.wan_gro_unusable ?? 0),
      0,
      "merged UDP counted unusable",
    );
    assert.deepEqual(
      udpAtServer,
      new Array<string[]>(DATAGRAMS).fill([String(8 + DBYTES), "1"]),
      "datagrams at the server: length, checksum status (1 = good)",
    );

    // 3. An echo request to the relay's own 6to4 address in two IPv4 fragments: the netdev rule
    // and the socket's filter leave fragments to the kernel, which reassembles them for the raw
    // socket; the relay answers (icmp_sent).
    const echo = buildIcmpv6EchoPacket({
      src: src6,
      dst: "2002:c058:6301::",
      data: Buffer.alloc(600, 0x5a),
    });
    const whole = encapsulate6to4(echo, c.wanIpv4, LAB_ANYCAST, { df: false, id: 0x4242 });
    const cut = 20 + 304;
    const frag = (from: number, to: number, more: boolean): Buffer => {
      const f = Buffer.concat([whole.subarray(0, 20), whole.subarray(from, to)]);
      f.writeUInt16BE(f.length, 2);
      f.writeUInt16BE((more ? 0x2000 : 0) | ((from - 20) >> 3), 6);
      f.writeUInt16BE(0, 10);
      f.writeUInt16BE(internetChecksum(f, 0, 20), 10);
      return f;
    };
    const before = await readCounters(reg, p);
    await injectIpv4(reg, lab.t.isp, "relay0", linkMac(reg, relay.ns, "wan0"), [
      frag(20, cut, true),
      frag(cut, whole.length, false),
    ]);
    const after = await waitForCounters(
      reg,
      p,
      (x) => (x.traffic.icmp_sent ?? 0) > (before.traffic.icmp_sent ?? 0),
    );
    assert.equal((after.traffic.icmp_sent ?? 0) - (before.traffic.icmp_sent ?? 0), 1, "echo reply");

    // 4. TCP through the CPE both ways still arrives whole (single packets over AF_PACKET).
    const up = await tcpTransfer(reg, c.lanNs, lab.t.inet, LAB_SERVER, 5995, 2_000_000);
    assert.equal(up.received, 2_000_000, "bytes LAN -> server");
    const down = await tcpTransfer(reg, lab.t.inet, c.lanNs, c.hostAddress, 5994, 2_000_000);
    assert.equal(down.received, 2_000_000, "bytes server -> LAN");

    // 5. Exit removes the table: protocol 41 takes the raw socket again.
    await reg.stop(p, 5000, "SIGTERM");
    assert.notEqual(reg.exec(relay.ns, table.slice(4)).code, 0, "table left after exit");
  });

  // Last of all: deletes the relay's wan0.
  test("packet_receive: when its device goes, the relay takes it out of the nft table within a check", async () => {
    const relay = lab.t.relays[0]!;
    const p = await restartRelay(["--packet-receive", "wan0"]);
    const table = ["nft", "list", "table", "netdev", "sixto4pmt_relay_rx"];
    assert.equal(reg.exec(relay.ns, table).code, 0, "table while wan0 is there");
    // Every worker polls its socket (one per core by default), then the device goes.
    const polling = (): boolean => {
      const workers = Number(/data plane: (\d+) workers/.exec(p.stderr())?.[1] ?? 1);
      return (p.stderr().match(/inbound loop started/g) ?? []).length >= workers;
    };
    assert.ok(await reg.waitFor(polling, 10_000), p.stderr().slice(-2000));
    reg.must(["ip", "-n", relay.ns, "link", "del", "wan0"]);
    const warned = /packet_receive: wan0 is gone or was made again/;
    assert.ok(await reg.waitFor(() => warned.test(p.stderr()), 15_000), p.stderr().slice(-3000));
    assert.notEqual(reg.exec(relay.ns, table).code, 0, "table left with its only device gone");
    assert.equal(await reg.stop(p, 5000, "SIGTERM"), 0, p.stderr().slice(-2000));
  });
});

describe(
  "wan_gro off: the CPE keeps fraglist GRO off on its WAN device and turns it back on at exit",
  { skip, timeout: 120_000 },
  () => {
    const reg = new NetnsRegistry();
    after(async () => {
      await reg.cleanup();
    });

    test("rx-gro-list and rx-udp-gro-forwarding switched on under it go off within a check; SIGTERM restores them", async () => {
      const lab = await startLab(
        reg,
        { cpes: [{ index: 0, pmt: true }] },
        () => [],
        () => ["--wan-gro", "off"],
      );
      const c = lab.t.cpes[0]!;
      const features = (): string =>
        reg
          .must(["ip", "netns", "exec", c.ns, "ethtool", "-k", "wan0"])
          .split("\n")
          .filter((l) => /^rx-(gro-list|udp-gro-forwarding):/.test(l))
          .join(" ");
      // As a WAN device made anew would come up (a PPPoE reconnect): both on, behind the CPE's back.
      ethtoolK(reg, c.ns, "wan0", "rx-gro-list", "on", "rx-udp-gro-forwarding", "on");
      // The CPE's check (every GRO_CHECK_MS), now: "reload".
      assert.deepEqual(await statusCommand(labCpeFiles(c.ns)[1], "reload"), { ok: true });
      assert.equal(
        features(),
        "rx-gro-list: off rx-udp-gro-forwarding: off",
        lab.cpes[0]!.stderr().slice(-1500),
      );
      // The log line reaches us through a pipe, possibly a moment after the change itself.
      const logged =
        /wan wan0: rx-gro-list, rx-udp-gro-forwarding off \(wan_gro 'off'\); back on at exit/;
      assert.ok(
        await reg.waitFor(() => logged.test(lab.cpes[0]!.stderr()), 10_000),
        lab.cpes[0]!.stderr(),
      );
      assert.equal(await reg.stop(lab.cpes[0]!, 10_000), 0);
      assert.equal(features(), "rx-gro-list: on rx-udp-gro-forwarding: on", "restored at exit");
      assert.match(lab.cpes[0]!.stderr(), /wan wan0: rx-gro-list, rx-udp-gro-forwarding back on/);
    });
  },
);

describe(
  "wan_gro on a stacked WAN device: the real device below it (sysfs lower_*) is handled too",
  { skip, timeout: 120_000 },
  () => {
    const reg = new NetnsRegistry();
    after(async () => {
      await reg.cleanup();
    });

    test("a macvlan WAN on wan0 (as a VLAN on eth0): wan0's features go off with wan_gro off, and back on at exit", async () => {
      const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }] });
      const c = t.cpes[0]!;
      const gw = c.wanIpv4.replace(/\.\d+$/, ".1");
      const inCpe = (...cmd: string[]): string => reg.must(["ip", "netns", "exec", c.ns, ...cmd]);
      // The WAN address and route move to a macvlan on wan0: wan0 now only carries its frames,
      // and receives them through its NAPI (where GRO runs), as eth0 does under eth0.2.
      inCpe("ip", "link", "add", "mv0", "link", "wan0", "type", "macvlan", "mode", "bridge");
      inCpe("ip", "addr", "del", `${c.wanIpv4}/24`, "dev", "wan0");
      inCpe("ip", "addr", "add", `${c.wanIpv4}/24`, "dev", "mv0");
      inCpe("ip", "link", "set", "mv0", "up");
      inCpe("ip", "route", "replace", "default", "via", gw, "dev", "mv0");
      assert.match(inCpe("ping", "-c", "1", "-W", "2", gw), /1 received/, "the WAN works over mv0");
      inCpe("ethtool", "-K", "wan0", "rx-gro-list", "on", "rx-udp-gro-forwarding", "on");
      const features = (): string =>
        inCpe("ethtool", "-k", "wan0")
          .split("\n")
          .filter((l) => /^rx-(gro-list|udp-gro-forwarding):/.test(l))
          .join(" ");
      assert.equal(features(), "rx-gro-list: on rx-udp-gro-forwarding: on");
      const args = labCpeArgs(c, ["--wan-gro", "off"]).map((a) => (a === "wan0" ? "mv0" : a));
      assert.ok(args.includes("mv0"), "the CPE's WAN device is the macvlan");
      const cpe = spawnDaemon(reg, c.ns, daemonCommand(), args);
      assert.ok(await waitDaemonReady(reg, cpe), cpe.stderr());
      assert.deepEqual(await statusCommand(labCpeFiles(c.ns)[1], "reload"), { ok: true });
      assert.equal(
        features(),
        "rx-gro-list: off rx-udp-gro-forwarding: off",
        `wan0: ${cpe.stderr().slice(-1500)}`,
      );
      const logged =
        /wan wan0: rx-gro-list, rx-udp-gro-forwarding off \(wan_gro 'off'\); back on at exit/;
      assert.ok(await reg.waitFor(() => logged.test(cpe.stderr()), 10_000), cpe.stderr());
      assert.equal(await reg.stop(cpe, 10_000), 0);
      assert.equal(features(), "rx-gro-list: on rx-udp-gro-forwarding: on", "restored at exit");
      assert.match(cpe.stderr(), /wan wan0: rx-gro-list, rx-udp-gro-forwarding back on/);
    });
  },
);
