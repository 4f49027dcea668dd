/**
 * `npm run bench` (root): the same traffic, in one run, through
 *   (a) kernel   client --- router (Linux IPv6 forwarding) --- server          (the ceiling here)
 *       kernel-nft the same with nftables prefix NAT on the router (snat/dnat ip6 prefix to,
 *                  conntrack): what a router owner would set up by hand, the peer of issue 21
 *       kernel-nft-lab  the kernel in the shape of (c): client --- cpe --- isp --- relay ---
 *                  server, nft prefix NAT on the CPE (LAN /64 <-> 2002::/64) and on the relay
 *                  (2002::/64 <-> provider /64), no encapsulation: as many machines as (c)
 *   (b) tayga    client --- router (Tayga NAT64 over a TUN, C) --- server (IPv4)
 *   (c) ours     lan --- cpe (6to4-pmt) === isp (IPv4) === relay (6to4-pmt) --- inet
 * For each: iperf3 TCP throughput, 64-byte UDP packets per second (iperf3 -u -l 64 unlimited),
 * CPU time of the translator/tunnel processes per packet they produced (over the run, and for
 * the TCP and the UDP64 part), the same per machine (`@`: the process plus the NAPI threads of
 * its namespace's veths; for the kernel setups the router's NAPI threads, which do all of its
 * forwarding and NAT), and their resident memory at the start and end of the run (RSS,
 * and anonymous RSS: heap and buffers, whose growth is a leak). The three setups run in turn in
 * each round, so a slow spell of this shared machine falls on all of them; the table holds each
 * figure's median over the rounds, and memory from the round where it was highest (a median
 * would hide a leak). Then the ratios of (c) to (a) and (b), the targets judged on the medians
 * (ours against Tayga: TCP at least 1.5 ×, UDP64 at least 1.1 ×; per daemon: CPU at most 2.5 µs
 * per packet, RSS at most 50 MB, anonymous RSS at most 1 MB above the start; against kernel-nft,
 * each the median of the rounds' own ratios: TCP at least 0.7 x, CPU per packet at most 2 x, per
 * daemon and per machine), and one JSON line, last. Figures, not a timed test; nothing asserts.
 * Our daemons are measured in steady state: after a 3 s warm-up, from 12 s after their start.
 *
 * The namespaces model separate machines, as deployed: every process the bench starts (iperf3,
 * Tayga, the daemons) runs as SCHED_BATCH, so a process woken by a packet does not preempt the
 * one that sent it (separate machines never do), and every veth receives in its own NAPI kernel
 * thread (`/sys/class/net/<dev>/threaded`; veth uses NAPI only with GRO on and for packets from
 * a sender without TSO), as a NIC's receive runs on the machine that owns it. The kernel then
 * charges each daemon its own work, not the receive work of the namespaces it sends to.
 *
 * (c) runs the shipped bundle (dist/6to4-pmt.js, built by `npm run bench`) with the launcher's
 * V8 flags (lab/topology.ts spawnDaemon), as /usr/sbin/6to4-pmt does on OpenWrt.
 *
 * Environment:
 *   BENCH_ROUNDS   passes of the three setups, 1 to 10 (default 3)
 *   BENCH_SECONDS  length of each TCP test, 1 to 60 (default 10); each UDP64 test runs half
 *                  as long (at least 1 s)
 *   BENCH_BASELINE another build's bundle (a copy of its dist/), run as "baseline" right before
 *                  or after ours in every round (alternating): A/B in the same run
 *   BENCH_WAN_SEND raw (default) or packet: packet also runs ours with `wan_send packet` on
 *                  the CPE and the relay (AF_PACKET to the next hop) as "wan-packet", beside ours
 *                  with the raw socket and kernel-nft in every round, and prints the share of its
 *                  CPE's packets that went over AF_PACKET
 *   BENCH_RELAY_RECEIVE raw (default) or packet: our relays (and the baseline's) read protocol 41
 *                  with `packet_receive wan0` (AF_PACKET, GRO's merged packets kept whole)
 *   BENCH_TCP_DIRECTION up (default: LAN host -> server) or down (server -> LAN host, iperf3 -R)
 *
 * Network safety: namespaces `p<pid>-*`, documentation / shared / 3fff::/20 addresses only, every
 * load bounded in time (iperf3 -t), the whole run bounded (a watchdog), cleanup in finally, on the
 * deadline and on SIGINT/SIGTERM.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import * as path from "node:path";
import {
  NetnsRegistry,
  netnsSkipReason,
  toolSkipReason,
  type NsProcess,
} from "../support/netns.js";
import { readCounters } from "../support/dataplane-harness.js";
import { statusCommand } from "../support/daemon-assert.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import { intEnv } from "../support/bench-env.js";
import { startIperfServer } from "../support/iperf.js";
import {
  buildLabTopology,
  labCpeArgs,
  labCpeFiles,
  labRelayArgs,
  LAB_SERVER,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";

const CLK_TCK = 100; // sysconf(_SC_CLK_TCK) on Linux
const BUNDLE = path.join(__dirname, "..", "..", "..", "dist", "6to4-pmt.js");
/** Every process the bench starts runs under this prefix: SCHED_BATCH (util-linux chrt). */
const BATCH = ["chrt", "--batch", "0"];
/** The targets for ours (see the header), per daemon where per process. */
const TARGET = {
  tcpOursTayga: 1.5,
  udp64OursTayga: 1.1,
  cpuUs: 2.5,
  rssMb: 50,
  anonGrowthMb: 1,
  /** Against kernel forwarding with nft prefix NAT (issue 21). */
  cpuOursNft: 2,
  tcpOursNft: 0.7,
};

let ROUNDS = 3;
/** How old our daemons are, at least, when their measurement starts (benchOurs). */
const WARM_MS = 12_000;
/** Another build's bundle (its dist/ copied away) run beside ours in every round: A/B. */
const BASELINE = process.env.BENCH_BASELINE || undefined;
/** BENCH_WAN_SEND=packet: ours with `wan_send packet` too, as WAN_PACKET (main checks it). */
let WAN_PACKET = false;
const WAN_PACKET_NAME = "wan-packet";
/** BENCH_TCP_DIRECTION=down: the TCP test runs from the server to the LAN host (iperf3 -R). */
let TCP_DOWN = false;
/** BENCH_RELAY_RECEIVE=packet: every relay (ours and the baseline) with `packet_receive wan0`. */
let RELAY_PACKET_RECEIVE = false;
let TCP_SECONDS = 10;
let UDP_SECONDS = 5;

interface Result {
  name: string;
  tcpGbps: number;
  /** 64-byte UDP packets per second the iperf3 server read. */
  udpPps: number;
  /** The same datagrams counted by the server namespace's UDP layer (nsUdpDatagrams): what the
   * translator delivered, whether or not the CPU-starved iperf3 server got to read it. */
  udpNicPps: number;
  /** Per process, CPU µs per packet it produced: [whole run, TCP part, UDP64 part]. */
  cpuUs: Record<string, [number, number, number]>;
  /** The same per machine (namespace): its process plus the NAPI threads of its veths, which
   * receive for it and forward what is not for a socket. For the kernel setups, the router. */
  hostUs: Record<string, [number, number, number]>;
  /** Per process, MB at [start, end]. */
  rssMb: Record<string, [number, number]>;
  anonMb: Record<string, [number, number]>;
  /** `wan_send packet` runs: the CPE's packets to the relay sent over AF_PACKET, of all it sent. */
  afPacketShare?: number;
  /** The same for the relay (`wan_send packet` on both ends). */
  relayAfPacketShare?: number;
}

/** User + system CPU seconds of a process. */
function cpuSeconds(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK; // utime + stime
}

/** `field` of /proc/<pid>/status (VmRSS, RssAnon: in kB) in MB; NaN if absent. */
function procStatusMb(pid: number, field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(
    readFileSync(`/proc/${pid}/status`, "utf8"),
  );
  return m === null ? NaN : Number(m[1]) / 1024;
}

/** Puts a running process (all its threads) under SCHED_BATCH. */
function batch(pid: number): void {
  const argv = ["chrt", "--all-tasks", "--batch", "--pid", "0", String(pid)];
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8" });
  if (r.status !== 0) throw new Error(`${argv.join(" ")} failed: ${r.stderr || r.error}`);
}

/** Pid and name of the NAPI kernel threads (`napi/<dev>-<id>`) running now. */
function napiThreads(): [number, string][] {
  const ps = spawnSync("ps", ["-eo", "pid=,comm="], { encoding: "utf8" }).stdout;
  return [...ps.matchAll(/^\s*(\d+) (napi\/\S+)$/gm)].map((m) => [Number(m[1]), m[2]!]);
}

/** Per namespace, the pids of the NAPI threads of its veths (filled by threadVeths). */
const nsNapi = new Map<string, number[]>();

/**
 * Makes every veth of the registry's namespaces that is not yet threaded receive in its own
 * NAPI thread (GRO on and TSO off, which veth's NAPI path needs; GSO stays on, so a TCP sender
 * still hands over 64 KB), puts the new threads under SCHED_BATCH and records them in nsNapi
 * (a thread is the device's when it appears as `napi/<dev>-<id>` right after threading it).
 */
function threadVeths(reg: NetnsRegistry): void {
  for (const ns of reg.createdNamespaces()) {
    const links = reg.must(["ip", "-n", ns, "-o", "link", "show", "type", "veth"]);
    for (const [, dev] of links.matchAll(/^\d+: ([^:@\s]+)[@:]/gm)) {
      const sys = `/sys/class/net/${dev}/threaded`;
      if (reg.exec(ns, ["cat", sys]).stdout.trim() === "1") continue;
      const before = new Set(napiThreads().map(([pid]) => pid));
      reg.must(["ip", "netns", "exec", ns, "ethtool", "-K", dev!, "gro", "on", "tso", "off"]);
      reg.must(["ip", "netns", "exec", ns, "sh", "-c", `echo 1 > ${sys}`]);
      for (const [pid, comm] of napiThreads()) {
        if (before.has(pid)) continue;
        batch(pid);
        if (comm.startsWith(`napi/${dev}-`)) nsNapi.set(ns, [...(nsNapi.get(ns) ?? []), pid]);
      }
    }
  }
}

/** Packets the kernel received from a TUN device, i.e. produced by its user-space process. */
function rxPackets(reg: NetnsRegistry, ns: string, dev: string): number {
  return Number(reg.exec(ns, ["cat", `/sys/class/net/${dev}/statistics/rx_packets`]).stdout.trim());
}

async function iperfTcp(
  reg: NetnsRegistry,
  clientNs: string,
  serverNs: string,
  bindAddr: string,
  target: string,
  port: number,
  seconds = TCP_SECONDS,
): Promise<number> {
  const srv = await startIperfServer(reg, serverNs, bindAddr, port, { prefix: BATCH });
  const r = await reg.execAsync(
    clientNs,
    [
      ...BATCH,
      "iperf3",
      "-c",
      target,
      "-p",
      String(port),
      "-t",
      String(seconds),
      "-J",
      ...(TCP_DOWN ? ["-R"] : []),
    ],
    (seconds + 20) * 1000,
  );
  await reg.stop(srv, 3000);
  try {
    const j = JSON.parse(r.stdout) as { end: { sum_received: { bits_per_second: number } } };
    return j.end.sum_received.bits_per_second / 1e9;
  } catch {
    process.stderr.write(
      `iperf3 TCP ${clientNs} -> ${target} failed: ${r.stdout.slice(-300)} ${r.stderr}\n`,
    );
    return 0;
  }
}

/**
 * UDP datagrams that reached the UDP layer of a namespace (IPv4 + IPv6: delivered, no port, or
 * dropped on a full socket buffer), from /proc/net/snmp and snmp6. Counted per datagram, also
 * when they crossed the last link as one UDP super-packet (interface rx_packets counts those as
 * one).
 */
function nsUdpDatagrams(reg: NetnsRegistry, ns: string): number {
  const v4 = reg.exec(ns, ["cat", "/proc/net/snmp"]).stdout.split("\n");
  const names = (v4.find((l) => l.startsWith("Udp: ")) ?? "").split(/\s+/);
  const values = (v4.filter((l) => l.startsWith("Udp: "))[1] ?? "").split(/\s+/);
  const four = (k: string): number => Number(values[names.indexOf(k)] ?? 0) || 0;
  const v6 = reg.exec(ns, ["cat", "/proc/net/snmp6"]).stdout;
  const six = (k: string): number => Number(new RegExp(`^${k}\\s+(\\d+)`, "m").exec(v6)?.[1] ?? 0);
  return (
    four("InDatagrams") +
    four("NoPorts") +
    four("InErrors") +
    six("Udp6InDatagrams") +
    six("Udp6NoPorts") +
    six("Udp6InErrors")
  );
}

interface UdpRate {
  /** Read by the iperf3 server, per second. */
  app: number;
  /** Reached the server namespace's UDP layer (nsUdpDatagrams), per second of the test. */
  nic: number;
}

async function iperfUdp(
  reg: NetnsRegistry,
  clientNs: string,
  serverNs: string,
  bindAddr: string,
  target: string,
  port: number,
  seconds = UDP_SECONDS,
): Promise<UdpRate> {
  const srv = await startIperfServer(reg, serverNs, bindAddr, port, {
    prefix: BATCH,
    extra: ["-J"],
  });
  const rx0 = nsUdpDatagrams(reg, serverNs);
  const client = ["-c", target, "-p", String(port), "-u", "-l", "64", "-b", "0"];
  await reg.execAsync(
    clientNs,
    [...BATCH, "iperf3", ...client, "-t", String(seconds), "-J"],
    (seconds + 20) * 1000,
  );
  const nic = (nsUdpDatagrams(reg, serverNs) - rx0) / seconds;
  await reg.waitFor(() => srv.hasExited(), 5000);
  await reg.stop(srv, 2000);
  try {
    const j = JSON.parse(srv.stdout()) as {
      end: { sum: { packets: number; lost_packets: number; seconds: number } };
    };
    const s = j.end.sum;
    return { app: (s.packets - s.lost_packets) / s.seconds, nic };
  } catch {
    process.stderr.write(
      `iperf3 UDP ${clientNs} -> ${target} failed: ${srv.stdout().slice(-300)}\n`,
    );
    return { app: 0, nic };
  }
}

/**
 * The nft prefix NAT of the kernel setups, as a router owner writes it: the source /64 `from`
 * rewritten to `to` on the way out of `dev` and back (conntrack), unsolicited inbound through
 * the DNAT rule.
 */
function prefixNat(dev: string, from: string, to: string): string {
  return [
    "table ip6 bench_nat {",
    " chain post { type nat hook postrouting priority srcnat; policy accept;",
    `  oifname "${dev}" ip6 saddr ${from} snat ip6 prefix to ${to}; }`,
    " chain pre { type nat hook prerouting priority dstnat; policy accept;",
    `  iifname "${dev}" ip6 daddr ${to} dnat ip6 prefix to ${from}; }`,
    "}",
  ].join("\n");
}

/** Packets the veths `devs` of namespace `ns` sent: what a kernel router forwarded. */
function txPackets(reg: NetnsRegistry, ns: string, devs: readonly string[]): number {
  return devs
    .map((d) => Number(reg.exec(ns, ["cat", `/sys/class/net/${d}/statistics/tx_packets`]).stdout))
    .reduce((a, b) => a + b, 0);
}

/**
 * (a) Kernel IPv6 forwarding through one router namespace; with `nat`, also nftables prefix NAT
 * both ways on the router (conntrack; the source /64 rewritten towards the server and back,
 * unsolicited inbound through the DNAT rule), what a router owner would set up by hand. The
 * router's CPU is that of the NAPI threads of its two veths, which do all of its forwarding;
 * its packets are those its veths sent (segments: TSO is off).
 */
async function benchKernel(reg: NetnsRegistry, nat: boolean): Promise<Result> {
  const tag = nat ? "n" : "k";
  const c = reg.createNamespace(`${tag}-client`);
  const r = reg.createNamespace(`${tag}-router`, { forwarding: true });
  const s = reg.createNamespace(`${tag}-server`);
  reg.veth(c, "eth0", r, "c0");
  reg.veth(r, "s0", s, "eth0");
  reg.addr(c, "eth0", "3fff:1::2/64");
  reg.addr(r, "c0", "3fff:1::1/64");
  reg.addr(r, "s0", "3fff:3::1/64");
  reg.addr(s, "eth0", "3fff:3::2/64");
  reg.route(c, "::/0 via 3fff:1::1");
  reg.route(s, "::/0 via 3fff:3::1");
  if (nat)
    reg.must(["ip", "netns", "exec", r, "nft", prefixNat("s0", "3fff:1::/64", "3fff:5::/64")]);
  const port = nat ? 5307 : 5301;
  const res = await measure(
    reg,
    {},
    async (mark) => {
      const tcp = await iperfTcp(reg, c, s, "3fff:3::2", "3fff:3::2", port);
      await mark();
      return { tcp, udp: await iperfUdp(reg, c, s, "3fff:3::2", "3fff:3::2", port + 1) };
    },
    async () => ({ router: txPackets(reg, r, ["c0", "s0"]) }),
    { router: r },
  );
  return { name: nat ? "kernel-nft" : "kernel", ...res };
}

/**
 * (a') kernel-nft in the shape of ours (`kernel-nft-lab`): client --- cpe --- isp --- relay ---
 * server, each a kernel router, with nft prefix NAT where ours translates: the CPE rewrites its
 * LAN /64 to the customer's 2002::/64 (as our CPE sends its LAN's packets on the wire) and the
 * relay rewrites that to the provider /64 (RFC 6732 Figure 3), both ways, conntrack on both. No
 * encapsulation (this host has no sit), so it is an upper bound for the kernel's own 6to4 in
 * this shape. The same number of machines forward as in ours, so TCP against it compares like
 * with like; CPU per packet is per machine (its routers' NAPI threads; packets its veths sent).
 */
async function benchKernelLab(reg: NetnsRegistry): Promise<Result> {
  const c = reg.createNamespace("l-client");
  const cpe = reg.createNamespace("l-cpe", { forwarding: true });
  const isp = reg.createNamespace("l-isp", { forwarding: true });
  const relay = reg.createNamespace("l-relay", { forwarding: true });
  const s = reg.createNamespace("l-server");
  reg.veth(c, "eth0", cpe, "c0");
  reg.veth(cpe, "w0", isp, "i0");
  reg.veth(isp, "i1", relay, "r0");
  reg.veth(relay, "s0", s, "eth0");
  reg.addr(c, "eth0", "3fff:11::2/64");
  reg.addr(cpe, "c0", "3fff:11::1/64");
  reg.addr(cpe, "w0", "3fff:12::1/64");
  reg.addr(isp, "i0", "3fff:12::2/64");
  reg.addr(isp, "i1", "3fff:13::1/64");
  reg.addr(relay, "r0", "3fff:13::2/64");
  reg.addr(relay, "s0", "3fff:14::1/64");
  reg.addr(s, "eth0", "3fff:14::2/64");
  reg.route(c, "::/0 via 3fff:11::1");
  reg.route(cpe, "::/0 via 3fff:12::2");
  reg.route(isp, "2002::/16 via 3fff:12::1");
  reg.route(isp, "::/0 via 3fff:13::2");
  reg.route(relay, "2002::/16 via 3fff:13::1");
  reg.route(s, "::/0 via 3fff:14::1");
  const site = "2002:c633:6402::/64"; // 198.51.100.2's 6to4 /48, SLA 0
  reg.must(["ip", "netns", "exec", cpe, "nft", prefixNat("w0", "3fff:11::/64", site)]);
  reg.must(["ip", "netns", "exec", relay, "nft", prefixNat("s0", site, "3fff:15::/64")]);
  const res = await measure(
    reg,
    {},
    async (mark) => {
      const tcp = await iperfTcp(reg, c, s, "3fff:14::2", "3fff:14::2", 5309);
      await mark();
      return { tcp, udp: await iperfUdp(reg, c, s, "3fff:14::2", "3fff:14::2", 5310) };
    },
    async () => ({
      cpe: txPackets(reg, cpe, ["c0", "w0"]),
      relay: txPackets(reg, relay, ["r0", "s0"]),
    }),
    { cpe, relay },
  );
  return { name: "kernel-nft-lab", ...res };
}

/** (b) Tayga (NAT64, RFC 6145 stateless translation in C over a TUN) in the same shape. */
async function benchTayga(reg: NetnsRegistry): Promise<Result> {
  const c = reg.createNamespace("t-client");
  const r = reg.createNamespace("t-router", { forwarding: true });
  const s = reg.createNamespace("t-server");
  reg.veth(c, "eth0", r, "c0");
  reg.veth(r, "s0", s, "eth0");
  reg.addr(c, "eth0", "3fff:1::2/64");
  reg.addr(r, "c0", "3fff:1::1/64");
  reg.addr(r, "s0", "203.0.113.1/24");
  reg.addr(s, "eth0", "203.0.113.2/24");
  reg.route(c, "::/0 via 3fff:1::1");
  reg.route(s, "default via 203.0.113.1");
  const dir = `/tmp/6to4-pmt-bench-tayga-${process.pid}`;
  mkdirSync(dir, { recursive: true });
  const conf = `${dir}/tayga.conf`;
  writeFileSync(
    conf,
    [
      "tun-device nat64",
      "ipv4-addr 198.51.100.1",
      "ipv6-addr 3fff:2::1",
      "prefix 3fff:64::/96",
      "map 198.51.100.10 3fff:1::2",
      `data-dir ${dir}`,
      "",
    ].join("\n"),
  );
  reg.must(["ip", "netns", "exec", r, "tayga", "--mktun", "-c", conf]);
  // The same TUN transmit queue as ours (2000 packets), for fairness.
  reg.must(["ip", "-n", r, "link", "set", "nat64", "txqueuelen", "2000", "up"]);
  reg.route(r, "3fff:64::/96 dev nat64");
  reg.route(r, "198.51.100.0/24 dev nat64");
  const tayga = reg.spawn(r, [...BATCH, "tayga", "-n", "-c", conf]);
  await new Promise((res) => setTimeout(res, 500));
  const target = "3fff:64::cb00:7102"; // 203.0.113.2 in the NAT64 prefix
  const res = await measure(
    reg,
    { tayga },
    async (mark) => {
      const tcp = await iperfTcp(reg, c, s, "203.0.113.2", target, 5303);
      await mark();
      return { tcp, udp: await iperfUdp(reg, c, s, "203.0.113.2", target, 5304) };
    },
    async () => ({ tayga: rxPackets(reg, r, "nat64") }),
    { tayga: r },
  );
  await reg.stop(tayga, 2000);
  rmSync(dir, { recursive: true, force: true });
  return { name: "tayga", ...res };
}

/** (c) Our CPE and relay (lab topology, PMT mode), run from the bundle as on OpenWrt. */
async function benchOurs(
  reg: NetnsRegistry,
  bundle = BUNDLE,
  name = "6to4-pmt",
  cpeExtra: readonly string[] = [],
  relayExtra: readonly string[] = [],
): Promise<Result> {
  const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }], lanMtu: 1500 });
  const c = t.cpes[0]!;
  const command = [process.execPath, bundle];
  const procs = {
    cpe: spawnDaemon(reg, c.ns, command, labCpeArgs(c, ["--health-interval", "3600", ...cpeExtra])),
    relay: spawnDaemon(
      reg,
      t.relays[0]!.ns,
      command,
      labRelayArgs(t.relays[0]!, [
        ...(RELAY_PACKET_RECEIVE ? ["--packet-receive", "wan0"] : []),
        ...relayExtra,
      ]),
    ),
  };
  for (const p of Object.values(procs)) {
    if (!(await waitDaemonReady(reg, p))) {
      throw new Error(`daemon in ${p.ns} did not start:\n${p.stderr()}`);
    }
    batch(p.pid); // node's flags only reach node when it is the command itself
  }
  // Steady state, as on a router that forwards all day: 2 s of TCP and 1 s of UDP64 so the
  // packet paths are compiled, then wait until the daemons are WARM_MS old, past the one-off
  // full collections V8's memory reducer makes 8 s after start. Measured from here on.
  const ready = Date.now();
  threadVeths(reg);
  await iperfTcp(reg, c.lanNs, t.inet, LAB_SERVER, LAB_SERVER, 5311, 2);
  await iperfUdp(reg, c.lanNs, t.inet, LAB_SERVER, LAB_SERVER, 5312, 1);
  await new Promise((res) => setTimeout(res, Math.max(0, WARM_MS - (Date.now() - ready))));
  /** Packets each daemon produced so far: sent into the tunnel plus written to its TUN. */
  const packets = async (): Promise<Record<string, number>> => {
    const out: Record<string, number> = {};
    for (const [k, p] of Object.entries(procs)) {
      const ct = await readCounters(reg, p);
      out[k] = (ct.traffic.out_packets ?? 0) + (ct.traffic.in_packets ?? 0);
    }
    return out;
  };
  // `wan_send packet`: what went over AF_PACKET (status counters, control/wan-next-hop.ts) of all
  // the CPE sent while measured.
  const viaPacket = async (): Promise<[number, number, number, number]> => {
    if (!cpeExtra.includes("packet")) return [0, 0, 0, 0];
    const s = (await statusCommand(labCpeFiles(c.ns)[1], "status")) as StatusSnapshot;
    const ct = await readCounters(reg, procs.cpe);
    const rt = await readCounters(reg, procs.relay);
    return [
      s.counters.wan_send_af_packet ?? 0,
      ct.traffic.out_packets ?? 0,
      rt.traffic.wan_send_af_packet ?? 0,
      rt.traffic.out_packets ?? 0,
    ];
  };
  const [pkt0, out0, rpkt0, rout0] = await viaPacket();
  const res = await measure(
    reg,
    procs,
    async (mark) => {
      const tcp = await iperfTcp(reg, c.lanNs, t.inet, LAB_SERVER, LAB_SERVER, 5305);
      await mark();
      return { tcp, udp: await iperfUdp(reg, c.lanNs, t.inet, LAB_SERVER, LAB_SERVER, 5306) };
    },
    packets,
    { cpe: c.ns, relay: t.relays[0]!.ns },
  );
  if (cpeExtra.includes("packet")) {
    const [pkt1, out1, rpkt1, rout1] = await viaPacket();
    return {
      name,
      ...res,
      afPacketShare: (pkt1 - pkt0) / Math.max(1, out1 - out0),
      relayAfPacketShare: (rpkt1 - rpkt0) / Math.max(1, rout1 - rout0),
    };
  }
  return { name, ...res };
}

/** Runs the TCP test, calls `mark()`, runs the UDP test. */
type Traffic = (mark: () => Promise<void>) => Promise<{ tcp: number; udp: UdpRate }>;

/**
 * Runs `traffic` with the veths threaded and reads each process's CPU time, each machine's
 * (`hosts`: key to namespace; the process of that key plus its veths' NAPI threads), packets
 * produced (`packets`) and memory at the start, between the two tests and at the end.
 */
async function measure(
  reg: NetnsRegistry,
  procs: Record<string, NsProcess>,
  traffic: Traffic,
  packets: () => Promise<Record<string, number>>,
  hosts: Record<string, string>,
): Promise<Omit<Result, "name">> {
  threadVeths(reg);
  const hostPids = Object.entries(hosts).map(([k, ns]): [string, number[]] => [
    k,
    [...(procs[k] ? [procs[k]!.pid] : []), ...(nsNapi.get(ns) ?? [])],
  ]);
  const cpuAt = (): Record<string, number> => ({
    ...Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, cpuSeconds(p.pid)])),
    ...Object.fromEntries(
      hostPids.map(([k, pids]) => [`${k}@`, pids.reduce((a, pid) => a + cpuSeconds(pid), 0)]),
    ),
  });
  const memAt = (field: string): Record<string, number> =>
    Object.fromEntries(Object.entries(procs).map(([k, p]) => [k, procStatusMb(p.pid, field)]));
  const [cpu0, rss0, anon0] = [cpuAt(), memAt("VmRSS"), memAt("RssAnon")];
  const pk0 = await packets();
  let cpuMid: Record<string, number> = {};
  let pkMid: Record<string, number> = {};
  const t = await traffic(async () => {
    pkMid = await packets();
    cpuMid = cpuAt();
  });
  const pk1 = await packets();
  const [cpu1, rss1, anon1] = [cpuAt(), memAt("VmRSS"), memAt("RssAnon")];
  const perPacket = (cpu: number, n: number): number => (n > 0 ? (cpu * 1e6) / n : NaN);
  const out: Omit<Result, "name"> = {
    tcpGbps: t.tcp,
    udpPps: t.udp.app,
    udpNicPps: t.udp.nic,
    cpuUs: {},
    hostUs: {},
    rssMb: {},
    anonMb: {},
  };
  const split = (c: string, k: string): [number, number, number] => [
    perPacket(cpu1[c]! - cpu0[c]!, pk1[k]! - pk0[k]!),
    perPacket(cpuMid[c]! - cpu0[c]!, pkMid[k]! - pk0[k]!),
    perPacket(cpu1[c]! - cpuMid[c]!, pk1[k]! - pkMid[k]!),
  ];
  for (const k of Object.keys(hosts)) out.hostUs[k] = split(`${k}@`, k);
  for (const k of Object.keys(procs)) {
    out.cpuUs[k] = split(k, k);
    out.rssMb[k] = [rss0[k]!, rss1[k]!];
    out.anonMb[k] = [anon0[k]!, anon1[k]!];
  }
  return out;
}

/** Median of the finite numbers (mean of the middle two for an even count); NaN when none. */
function median(values: readonly number[]): number {
  const xs = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/**
 * One setup over the rounds: each figure's median; memory from the round where it was highest
 * (RSS at the end, anonymous RSS's growth).
 */
function overRounds(per: readonly Result[]): Result {
  const worst = (
    f: (r: Result) => Record<string, [number, number]>,
    by: (pair: [number, number]) => number,
  ): Record<string, [number, number]> => {
    const out: Record<string, [number, number]> = {};
    for (const [k, pair] of per.flatMap((r) => Object.entries(f(r)))) {
      if (out[k] === undefined || by(pair) > by(out[k])) out[k] = pair;
    }
    return out;
  };
  const medians = (
    f: (r: Result) => Record<string, [number, number, number]>,
  ): Record<string, [number, number, number]> => {
    const out: Record<string, [number, number, number]> = {};
    for (const k of Object.keys(f(per[0]!))) {
      const at = (i: number): number => median(per.map((r) => f(r)[k]?.[i] ?? NaN));
      out[k] = [at(0), at(1), at(2)];
    }
    return out;
  };
  return {
    name: per[0]!.name,
    tcpGbps: median(per.map((r) => r.tcpGbps)),
    udpPps: median(per.map((r) => r.udpPps)),
    udpNicPps: median(per.map((r) => r.udpNicPps)),
    cpuUs: medians((r) => r.cpuUs),
    hostUs: medians((r) => r.hostUs),
    rssMb: worst(
      (r) => r.rssMb,
      ([, end]) => end,
    ),
    anonMb: worst(
      (r) => r.anonMb,
      ([start, end]) => end - start,
    ),
  };
}

function fmt(n: number, d = 2): string {
  return Number.isFinite(n) ? n.toFixed(d) : "-";
}

/** The figures of one set of results (a round, or the medians), as in the JSON line. */
function summarize(results: readonly Result[]) {
  const by = (n: string): Result | undefined => results.find((r) => r.name === n);
  const ours = by("6to4-pmt")!;
  const tayga = by("tayga");
  const kernel = by("kernel");
  const nft = by("kernel-nft")?.hostUs.router?.[0];
  const lab = by("kernel-nft-lab");
  const ratio = (a: number | undefined, b: number | undefined): number => (a && b ? a / b : NaN);
  // Ours, BENCH_BASELINE's bundle and ours with `wan_send packet`, keyed `<prefix><daemon>`.
  const variants: [string, Result | undefined][] = [
    ["", ours],
    ["baseline/", by("baseline")],
    [`${WAN_PACKET_NAME}/`, by(WAN_PACKET_NAME)],
  ];
  const each = <T>(f: (r: Result) => T): Record<string, T> =>
    Object.fromEntries(results.map((r) => [r.name, f(r)]));
  return {
    tcp_gbps: each((r) => r.tcpGbps),
    udp64_pps: each((r) => Math.round(r.udpPps)),
    udp64_nic_pps: each((r) => Math.round(r.udpNicPps)),
    ratio_tcp_ours_kernel: ratio(ours.tcpGbps, kernel?.tcpGbps),
    ratio_tcp_ours_tayga: ratio(ours.tcpGbps, tayga?.tcpGbps),
    ratio_pps_ours_kernel: ratio(ours.udpPps, kernel?.udpPps),
    ratio_pps_ours_tayga: ratio(ours.udpPps, tayga?.udpPps),
    ratio_nic_pps_ours_kernel: ratio(ours.udpNicPps, kernel?.udpNicPps),
    ratio_nic_pps_ours_tayga: ratio(ours.udpNicPps, tayga?.udpNicPps),
    // This VM's speed swings by up to 2x within minutes (other tenants): CPU per packet
    // relative to Tayga's in the same run is steadier than the absolute figure.
    ratio_cpu_ours_tayga: Object.fromEntries(
      Object.entries(ours.cpuUs).map(([k, [v]]) => [k, ratio(v, tayga?.cpuUs.tayga?.[0])]),
    ),
    ratio_tcp_ours_nft: ratio(ours.tcpGbps, by("kernel-nft")?.tcpGbps),
    // Against the router's NAPI threads with nft NAT: the daemon alone, and its machine
    // (daemon + its namespace's NAPI threads, which receive for it). `baseline/<daemon>` for
    // BENCH_BASELINE's bundle.
    ratio_cpu_ours_nft: Object.fromEntries(
      variants.flatMap(([pre, r]) =>
        Object.entries(r?.cpuUs ?? {}).map(([k, [v]]) => [pre + k, ratio(v, nft)]),
      ),
    ),
    ratio_host_cpu_ours_nft: Object.fromEntries(
      variants.flatMap(([pre, r]) =>
        Object.entries(r?.hostUs ?? {}).map(([k, [v]]) => [pre + k, ratio(v, nft)]),
      ),
    ),
    ratio_tcp_wan_packet_nft: ratio(by(WAN_PACKET_NAME)?.tcpGbps, by("kernel-nft")?.tcpGbps),
    // Against kernel-nft in the shape of ours (benchKernelLab): TCP, and per machine the CPE's
    // and the relay's CPU per packet against the kernel CPE's and relay's.
    ratio_tcp_ours_nft_lab: ratio(ours.tcpGbps, lab?.tcpGbps),
    ratio_tcp_wan_packet_nft_lab: ratio(by(WAN_PACKET_NAME)?.tcpGbps, lab?.tcpGbps),
    ratio_host_cpu_ours_nft_lab: Object.fromEntries(
      variants.flatMap(([pre, r]) =>
        Object.entries(r?.hostUs ?? {}).map(([k, [v]]) => [pre + k, ratio(v, lab?.hostUs[k]?.[0])]),
      ),
    ),
    af_packet_share: by(WAN_PACKET_NAME)?.afPacketShare ?? NaN,
    relay_af_packet_share: by(WAN_PACKET_NAME)?.relayAfPacketShare ?? NaN,
    ratio_tcp_baseline_nft: ratio(by("baseline")?.tcpGbps, by("kernel-nft")?.tcpGbps),
    host_cpu_us_per_packet: each((r) =>
      Object.fromEntries(Object.entries(r.hostUs).map(([k, [v]]) => [k, v])),
    ),
    cpu_us_per_packet: each((r) =>
      Object.fromEntries(Object.entries(r.cpuUs).map(([k, [v]]) => [k, v])),
    ),
    cpu_tcp_udp_us_per_packet: each((r) =>
      Object.fromEntries(Object.entries(r.cpuUs).map(([k, [, t, u]]) => [k, [t, u]])),
    ),
    rss_mb: each((r) => r.rssMb),
    anon_rss_mb: each((r) => r.anonMb),
  };
}

/** The targets, judged on the medians: one line, and whether every one was met. */
function targetsLine(out: ReturnType<typeof summarize>): { line: string; met: boolean } {
  let met = true;
  const judge = (v: number, ok: boolean, d = 2): string => {
    if (!Number.isFinite(v)) return "not measured";
    met &&= ok;
    return `${fmt(v, d)} ${ok ? "met" : "NOT met"}`;
  };
  const perDaemon = (r: Record<string, number>, ok: (v: number) => boolean, d = 2): string =>
    Object.entries(r)
      .map(([k, v]) => `${k} ${judge(v, ok(v), d)}`)
      .join(", ");
  const end = (r: Record<string, [number, number]> = {}): Record<string, number> =>
    Object.fromEntries(Object.entries(r).map(([k, [, e]]) => [k, e]));
  const growth = (r: Record<string, [number, number]> = {}): Record<string, number> =>
    Object.fromEntries(Object.entries(r).map(([k, [s, e]]) => [k, e - s]));
  const own = (r: Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.entries(r).filter(([k]) => !k.includes("/")));
  const parts = [
    `TCP ours/tayga >= ${TARGET.tcpOursTayga}: ${judge(out.ratio_tcp_ours_tayga, out.ratio_tcp_ours_tayga >= TARGET.tcpOursTayga)}`,
    `UDP64 ours/tayga >= ${TARGET.udp64OursTayga}: ${judge(out.ratio_pps_ours_tayga, out.ratio_pps_ours_tayga >= TARGET.udp64OursTayga)}`,
    `CPU µs/pkt <= ${TARGET.cpuUs}: ${perDaemon(out.cpu_us_per_packet["6to4-pmt"] ?? {}, (v) => v <= TARGET.cpuUs)}`,
    `RSS MB <= ${TARGET.rssMb}: ${perDaemon(end(out.rss_mb["6to4-pmt"]), (v) => v <= TARGET.rssMb, 1)}`,
    `anon RSS growth MB <= ${TARGET.anonGrowthMb}: ${perDaemon(growth(out.anon_rss_mb["6to4-pmt"]), (v) => v <= TARGET.anonGrowthMb, 1)}`,
    `TCP ours/kernel-nft >= ${TARGET.tcpOursNft}: ${judge(out.ratio_tcp_ours_nft, out.ratio_tcp_ours_nft >= TARGET.tcpOursNft)}`,
    `CPU/pkt ours/kernel-nft <= ${TARGET.cpuOursNft}: daemon ${perDaemon(own(out.ratio_cpu_ours_nft), (v) => v <= TARGET.cpuOursNft)}; machine ${perDaemon(own(out.ratio_host_cpu_ours_nft), (v) => v <= TARGET.cpuOursNft)}`,
  ];
  return { line: `targets: ${parts.join("; ")}`, met };
}

/** One line per round: throughput, rates and CPU per packet. */
function roundLine(i: number, results: readonly Result[]): string {
  const each = (f: (r: Result) => string): string =>
    results.map((r) => `${r.name} ${f(r)}`).join(", ");
  const cpu = results
    .flatMap((r) =>
      Object.entries(r.hostUs).map(([k, [v]]) => `${k} ${fmt(r.cpuUs[k]?.[0] ?? NaN)}/${fmt(v)}`),
    )
    .join(", ");
  return (
    `round ${i} of ${ROUNDS}: TCP Gbit/s ${each((r) => fmt(r.tcpGbps))}; ` +
    `UDP64 pps ${each((r) => fmt(r.udpPps, 0))}; CPU µs/pkt process/machine ${cpu}`
  );
}

/** The table of the medians, the ratios and the targets. */
function report(results: readonly Result[], out: ReturnType<typeof summarize>): string[] {
  const lines = [
    ROUNDS > 1
      ? `medians of ${ROUNDS} rounds, each figure separately (memory: the round with the highest)`
      : "one round (BENCH_ROUNDS=1)",
    "config         TCP Gbit/s   UDP64 pps  (at UDP)   CPU µs/pkt: run (TCP / UDP64); @ the machine",
  ];
  for (const r of results) {
    const three = ([v, t, u]: [number, number, number]): string =>
      `${fmt(v)} (${fmt(t)} / ${fmt(u)})`;
    const cpu = [
      ...Object.entries(r.cpuUs).map(([k, v]) => `${k} ${three(v)}`),
      ...Object.entries(r.hostUs).map(([k, v]) => `${k}@ ${three(v)}`),
    ].join(", ");
    lines.push(
      `${r.name.padEnd(14)} ${fmt(r.tcpGbps, 3).padStart(10)} ${fmt(r.udpPps, 0).padStart(11)} ${fmt(r.udpNicPps, 0).padStart(10)}   ${cpu}`,
    );
  }
  lines.push("memory MB start->end   RSS            anon (RssAnon)");
  for (const r of results) {
    for (const [k, [a, b]] of Object.entries(r.rssMb)) {
      const [x, y] = r.anonMb[k] ?? [NaN, NaN];
      const pair = (u: number, v: number): string => `${fmt(u, 1)}->${fmt(v, 1)}`.padEnd(14);
      lines.push(`${`${r.name}/${k}`.padEnd(22)} ${pair(a, b)} ${pair(x, y)}`);
    }
  }
  const cpuRatio = Object.entries(out.ratio_cpu_ours_tayga)
    .map(([k, v]) => `${k} ${fmt(v)}`)
    .join(", ");
  lines.push(
    `ratios: TCP ours/kernel ${fmt(out.ratio_tcp_ours_kernel)}, ours/tayga ${fmt(out.ratio_tcp_ours_tayga)}; ` +
      `UDP64 ours/kernel ${fmt(out.ratio_pps_ours_kernel)}, ours/tayga ${fmt(out.ratio_pps_ours_tayga)} ` +
      `(reaching the server's UDP layer: ours/kernel ${fmt(out.ratio_nic_pps_ours_kernel)}, ours/tayga ${fmt(out.ratio_nic_pps_ours_tayga)}); ` +
      `CPU per packet ours/tayga ${cpuRatio}`,
  );
  const perKey = (r: Record<string, number>): string =>
    Object.entries(r)
      .map(([k, v]) => `${k} ${fmt(v)}`)
      .join(", ");
  lines.push(
    `against kernel-nft (medians of the rounds' ratios): TCP ${fmt(out.ratio_tcp_ours_nft)}` +
      (BASELINE !== undefined ? ` (baseline ${fmt(out.ratio_tcp_baseline_nft)})` : "") +
      (WAN_PACKET ? ` (${WAN_PACKET_NAME} ${fmt(out.ratio_tcp_wan_packet_nft)})` : "") +
      "; " +
      `CPU per packet daemon ${perKey(out.ratio_cpu_ours_nft)}, machine ${perKey(out.ratio_host_cpu_ours_nft)}`,
  );
  lines.push(
    `against kernel-nft-lab, the kernel in our shape (medians of the rounds' ratios): TCP ${fmt(out.ratio_tcp_ours_nft_lab)}` +
      (WAN_PACKET ? ` (${WAN_PACKET_NAME} ${fmt(out.ratio_tcp_wan_packet_nft_lab)})` : "") +
      `; CPU per packet, each machine against its kernel counterpart: ${perKey(out.ratio_host_cpu_ours_nft_lab)}`,
  );
  if (WAN_PACKET) {
    lines.push(
      `${WAN_PACKET_NAME}: the CPE sent ${fmt(out.af_packet_share * 100, 1)} % of its packets over AF_PACKET, ` +
        `the relay ${fmt(out.relay_af_packet_share * 100, 1)} % (wan_send packet); CPU per packet ` +
        `${WAN_PACKET_NAME}/raw socket: CPE daemon ` +
        `${fmt((out.ratio_cpu_ours_nft[`${WAN_PACKET_NAME}/cpe`] ?? NaN) / (out.ratio_cpu_ours_nft.cpe ?? NaN))}, ` +
        `machine ${fmt((out.ratio_host_cpu_ours_nft[`${WAN_PACKET_NAME}/cpe`] ?? NaN) / (out.ratio_host_cpu_ours_nft.cpe ?? NaN))}; ` +
        `relay daemon ${fmt((out.ratio_cpu_ours_nft[`${WAN_PACKET_NAME}/relay`] ?? NaN) / (out.ratio_cpu_ours_nft.relay ?? NaN))}, ` +
        `machine ${fmt((out.ratio_host_cpu_ours_nft[`${WAN_PACKET_NAME}/relay`] ?? NaN) / (out.ratio_host_cpu_ours_nft.relay ?? NaN))}`,
    );
  }
  return lines;
}

async function main(): Promise<number> {
  const skip =
    netnsSkipReason() ??
    toolSkipReason("iperf3") ??
    toolSkipReason("ethtool") ??
    toolSkipReason("chrt");
  if (skip !== undefined) {
    process.stdout.write(`bench skipped: ${skip}\n`);
    return 0;
  }
  if (!existsSync(BUNDLE)) {
    process.stderr.write(`bench: ${BUNDLE} missing: run \`npm run build\` first\n`);
    return 1;
  }
  try {
    ROUNDS = intEnv("BENCH_ROUNDS", 3, 1, 10);
    TCP_SECONDS = intEnv("BENCH_SECONDS", 10, 1, 60);
    UDP_SECONDS = Math.max(1, Math.floor(TCP_SECONDS / 2));
    const wanSend = process.env.BENCH_WAN_SEND || "raw";
    if (wanSend !== "raw" && wanSend !== "packet") {
      throw new Error(`BENCH_WAN_SEND must be raw or packet, not ${JSON.stringify(wanSend)}`);
    }
    WAN_PACKET = wanSend === "packet";
    const receive = process.env.BENCH_RELAY_RECEIVE || "raw";
    if (receive !== "raw" && receive !== "packet") {
      throw new Error(`BENCH_RELAY_RECEIVE must be raw or packet, not ${JSON.stringify(receive)}`);
    }
    RELAY_PACKET_RECEIVE = receive === "packet";
    const tcpDir = process.env.BENCH_TCP_DIRECTION || "up";
    if (tcpDir !== "up" && tcpDir !== "down") {
      throw new Error(`BENCH_TCP_DIRECTION must be up or down, not ${JSON.stringify(tcpDir)}`);
    }
    TCP_DOWN = tcpDir === "down";
  } catch (e) {
    process.stderr.write(`bench: ${(e as Error).message}\n`);
    return 2;
  }
  // Traffic plus about 90 s of setup, servers and teardown per round.
  const setups = 5 + (BASELINE === undefined ? 0 : 1) + (WAN_PACKET ? 1 : 0);
  const maxSeconds =
    ROUNDS * (setups * (TCP_SECONDS + UDP_SECONDS) + 35 * setups + 15 * (setups - 3));
  const reg = new NetnsRegistry();
  const rounds: Result[][] = [];
  // Bound the whole run: iperf3 runs are bounded one by one, this catches anything else.
  const watchdog = setTimeout(() => {
    process.stderr.write(`bench: over ${maxSeconds} s, stopping\n`);
    void reg.cleanup().then(() => process.exit(1));
  }, maxSeconds * 1000);
  watchdog.unref();
  // Ctrl-C / kill: remove the namespaces and processes too.
  const onSignal = (): void => {
    process.stderr.write("bench: interrupted, cleaning up\n");
    void reg.cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const withTayga = toolSkipReason("tayga") === undefined;
  if (!withTayga) process.stdout.write("tayga not installed: (b) skipped\n");
  try {
    for (let i = 1; i <= ROUNDS; i++) {
      const results: Result[] = [];
      nsNapi.clear(); // the last round's threads went with its namespaces
      results.push(await benchKernel(reg, false));
      results.push(await benchKernel(reg, true));
      results.push(await benchKernelLab(reg));
      if (withTayga) results.push(await benchTayga(reg));
      // The baseline bundle needs the lab's namespace names too: one after the other, in
      // alternating order, so neither always runs second.
      const pair = [(): Promise<Result> => benchOurs(reg)];
      if (BASELINE !== undefined) pair.push(() => benchOurs(reg, BASELINE!, "baseline"));
      if (WAN_PACKET) {
        pair.push(() =>
          benchOurs(
            reg,
            BUNDLE,
            WAN_PACKET_NAME,
            ["--wan-send", "packet"],
            ["--wan-send", "packet"],
          ),
        );
      }
      if (i % 2 === 0) pair.reverse();
      const ours: Result[] = [];
      for (const run of pair) {
        ours.push(await run());
        await reg.cleanup(); // the next run builds the same namespaces again
        nsNapi.clear();
      }
      // The same order in every round (the medians pair results by position).
      const rank = (r: Result): number => ["6to4-pmt", "baseline", WAN_PACKET_NAME].indexOf(r.name);
      results.push(...ours.sort((a, b) => rank(a) - rank(b)));
      rounds.push(results);
      if (ROUNDS > 1) process.stdout.write(roundLine(i, results) + "\n");
    }
  } finally {
    await reg.cleanup();
  }
  clearTimeout(watchdog);
  const results = rounds[0]!.map((_, j) => overRounds(rounds.map((r) => r[j]!)));
  // The nft ratios: the median of each round's own ratio (the machine's speed swings between
  // rounds; within a round the setups ran minutes apart).
  const perRound = rounds.map((r) => summarize(r));
  const out = summarize(results);
  const medianOf = (f: (o: typeof out) => number): number => median(perRound.map(f));
  const perDaemonMedian = (f: (o: typeof out) => Record<string, number>): Record<string, number> =>
    Object.fromEntries(Object.keys(f(out)).map((k) => [k, medianOf((o) => f(o)[k] ?? NaN)]));
  out.ratio_tcp_ours_nft = medianOf((o) => o.ratio_tcp_ours_nft);
  out.ratio_tcp_baseline_nft = medianOf((o) => o.ratio_tcp_baseline_nft);
  out.ratio_tcp_wan_packet_nft = medianOf((o) => o.ratio_tcp_wan_packet_nft);
  out.af_packet_share = medianOf((o) => o.af_packet_share);
  out.relay_af_packet_share = medianOf((o) => o.relay_af_packet_share);
  out.ratio_cpu_ours_nft = perDaemonMedian((o) => o.ratio_cpu_ours_nft);
  out.ratio_host_cpu_ours_nft = perDaemonMedian((o) => o.ratio_host_cpu_ours_nft);
  out.ratio_tcp_ours_nft_lab = medianOf((o) => o.ratio_tcp_ours_nft_lab);
  out.ratio_tcp_wan_packet_nft_lab = medianOf((o) => o.ratio_tcp_wan_packet_nft_lab);
  out.ratio_host_cpu_ours_nft_lab = perDaemonMedian((o) => o.ratio_host_cpu_ours_nft_lab);
  const targets = targetsLine(out);
  const lines = [...report(results, out), targets.line];
  const json = { ...out, rounds: ROUNDS, seconds: TCP_SECONDS, targets_met: targets.met };
  process.stdout.write(lines.join("\n") + "\n" + JSON.stringify(json) + "\n");
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
