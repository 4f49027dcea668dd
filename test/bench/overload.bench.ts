/**
 * `npm run bench:overload` (root): does a UDP flood beyond what the path carries lower what gets
 * through? (issue 21 §2; WAN backpressure, dataplane/loops.ts WireSender.)
 *
 *   lan --- cpe (6to4-pmt) === isp (IPv4) === relay (6to4-pmt) --- inet (server)
 *
 * WAN queue variants, on wan0 of the CPE (LAN -> server) and of the relay (server -> LAN):
 *   fq_codel  an htb class of BENCH_RATE_MBIT with fq_codel under it (OpenWrt's default qdisc on
 *             a link of that rate)
 *   pfifo     the same class with pfifo limit 1000 (pfifo_fast's queue, txqueuelen 1000)
 *   none      no shaper, noqueue (veth): the path's capacity is the machine's CPU, shared by
 *             every namespace here (the capacity search offers 10, 20 and 40 k packets/s)
 *   napi      as none, every veth receiving in its own NAPI thread (dataplane.bench.ts's model of
 *             separate machines): a full veth ring drops at the sender, reported as ENOBUFS
 *   lan       (down only) the htb + pfifo class on the CPE's lan0 instead, no WAN shaper: the LAN
 *             is the bottleneck of relay -> CPE -> TUN -> LAN, where no backpressure exists (a
 *             TUN write never blocks); reads and CPU are then the CPE's
 * For each variant, direction and mode (backpressure on, and off with PMT_NO_BACKPRESSURE=1, the
 * old behaviour), with fresh daemons: the capacity is found first, the best delivered rate of
 * iperf3 -u -l 64 at offered rates of 0.5, 1 and 1.5 × the link's nominal packet rate; then
 * 2 × and 5 × that capacity are offered (iperf3 -b; the generator may fall short: the offered
 * rate printed, and offered / capacity, is what it sent). Printed: offered and delivered
 * packets/s (what the iperf3 client sent, and what the server received, per second),
 * packets/s the bottleneck device sent (its qdisc's count) and its qdisc dropped, the packets the
 * sending daemon read from its TUN per second and the share of time its TUN was paused,
 * delivered/peak, what its WAN socket refused (tx_error), its CPU (% of one core,
 * /proc/<pid>/stat) and backpressure events. Medians over BENCH_ROUNDS rounds. Figures, not a
 * timed test; nothing asserts.
 *
 * BENCH_VM=1 runs the same bench in the QEMU VM (test/support/vm.ts: Debian's kernel, which has
 * sch_fq_codel and sch_htb, unlike this host's) and prints its table; under TCG the daemons
 * forward a few k packets/s, so the shaped link defaults to 1 Mbit/s there.
 *
 * Environment: BENCH_ROUNDS 1..10 (default 3), BENCH_SECONDS per load 1..30 (default 3),
 * BENCH_RATE_MBIT 1..1000 (default 10, VM 1), BENCH_QDISCS (default "fq_codel,pfifo,none,napi",
 * VM "fq_codel,pfifo"; also "lan"), BENCH_DIRS (default "up,down"), BENCH_MODES (default
 * "bp,old"), BENCH_HOG 0..8 busy loops on the host's CPUs during the run (a loaded machine,
 * the same for every case; default 0), BENCH_VM=1.
 *
 * Network safety: namespaces `p<pid>-*`, lab addresses only, every load bounded (iperf3 -t and a
 * kill timeout), the whole run bounded by a watchdog, cleanup in finally and on SIGINT/SIGTERM.
 */
import { spawn } from "node:child_process";
import { readFileSync } from "node:fs";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import {
  daemonCommand,
  readCounters,
  startLab,
  type RunningLab,
} from "../support/dataplane-harness.js";
import { startIperfServer } from "../support/iperf.js";
import {
  buildLabTopology,
  LAB_SERVER,
  labCpeArgs,
  labRelayArgs,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import { runInVm, vmSkipReason } from "../support/vm.js";
import { intEnv } from "../support/bench-env.js";

/** Run the bench in the QEMU VM (test/support/vm.ts; a kernel with sch_fq_codel and sch_htb). */
const IN_VM = process.env.PMT_VM === "1";
const VM = !IN_VM && process.env.BENCH_VM === "1";
const ROUNDS = intEnv("BENCH_ROUNDS", 3, 1, 10);
const SECONDS = intEnv("BENCH_SECONDS", 3, 1, 30);
// in the VM (TCG) the daemons forward a few k packets/s: a slower link keeps the shaper the limit
const RATE_MBIT = intEnv("BENCH_RATE_MBIT", IN_VM || VM ? 1 : 10, 1, 1000);
const QDISC_NAMES = ["fq_codel", "pfifo", "none", "napi", "lan"];
function envList<T extends string>(name: string, def: string, allowed: readonly T[]): T[] {
  const xs = (process.env[name] || def).split(",");
  for (const x of xs) {
    if (!allowed.includes(x as T)) {
      process.stderr.write(`${name}: expected a list of ${allowed.join(", ")}, got ${x}\n`);
      process.exit(2);
    }
  }
  return xs as T[];
}
const QDISCS = envList(
  "BENCH_QDISCS",
  VM || IN_VM ? "fq_codel,pfifo" : "fq_codel,pfifo,none,napi",
  QDISC_NAMES,
);
/** Busy loops on the host's CPUs during the run (a loaded machine, the same for every case). */
const HOG = intEnv("BENCH_HOG", 0, 0, 8);
const DIRS = envList("BENCH_DIRS", "up,down", ["up", "down"] as const);
const MODES = envList("BENCH_MODES", "bp,old", ["bp", "old"] as const);
/** Bytes htb counts per datagram of 64: Ethernet 14 + IPv4 20 + IPv6 40 + UDP 8 + 64. */
const WIRE_BYTES = 146;
const NOMINAL_PPS = (RATE_MBIT * 1e6) / 8 / WIRE_BYTES;
/** Offered packets/s of the capacity search without a shaper (the CPU is the limit). */
const UNSHAPED_STEPS = [10_000, 20_000, 40_000];

type Dir = "up" | "down";
type Mode = "bp" | "old";
interface Load {
  offered: number;
  /** Packets/s the shaped (or, unshaped, the sending) WAN device sent. */
  wan: number;
  /** Packets/s its qdisc dropped. */
  qdrop: number;
  /** Share of the load's time the sender's TUN was paused (wan_paused_ms), 0..1. */
  paused: number;
  delivered: number;
  /** Packets the sending daemon (CPE up, relay down) read from its TUN, per second. */
  read: number;
  /** Of those, refused by the WAN socket (tx_error: ENOBUFS, or any error without backpressure). */
  txError: number;
  /** CPU of the sending daemon during the load, in % of one core. */
  cpu: number;
  backpressure: number;
}

/** utime + stime of a process in seconds (CLK_TCK 100). */
function cpuSeconds(pid: number): number {
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8");
    const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
    return (Number(rest[11]) + Number(rest[12])) / 100;
  } catch {
    return NaN;
  }
}

/**
 * Variant napi: every veth of the run receives in its own NAPI thread (GRO on, TSO off, as
 * dataplane.bench.ts models separate machines); a full veth ring then drops at the sender's
 * xmit, which IP_RECVERR reports as ENOBUFS.
 */
function threadVeths(reg: NetnsRegistry): void {
  for (const ns of reg.createdNamespaces()) {
    const links = reg.must(["ip", "-n", ns, "-o", "link", "show", "type", "veth"]);
    for (const [, dev] of links.matchAll(/^\d+: ([^:@\s]+)[@:]/gm)) {
      reg.must(["ip", "netns", "exec", ns, "ethtool", "-K", dev!, "gro", "on", "tso", "off"]);
      reg.must(["ip", "netns", "exec", ns, "sh", "-c", `echo 1 > /sys/class/net/${dev}/threaded`]);
    }
  }
}

function shape(reg: NetnsRegistry, ns: string, qdisc: string, dev = "wan0"): void {
  if (qdisc === "none" || qdisc === "napi") return;
  const tc = (...a: string[]) => reg.must(["ip", "netns", "exec", ns, "tc", ...a]);
  tc("qdisc", "replace", "dev", dev, "root", "handle", "1:", "htb", "default", "1");
  tc(
    "class",
    "add",
    "dev",
    dev,
    "parent",
    "1:",
    "classid",
    "1:1",
    "htb",
    "rate",
    `${RATE_MBIT}mbit`,
  );
  if (qdisc === "fq_codel") tc("qdisc", "add", "dev", dev, "parent", "1:1", "fq_codel");
  else tc("qdisc", "add", "dev", dev, "parent", "1:1", "pfifo", "limit", "1000");
}

/** Packets sent by `dev` in `ns` (link counter) and dropped by its root qdisc. */
async function devCounts(
  reg: NetnsRegistry,
  ns: string,
  dev: string,
): Promise<{ tx: number; drops: number }> {
  const link = JSON.parse(
    (await reg.execAsync(ns, ["ip", "-s", "-j", "link", "show", dev], 5000)).stdout,
  ) as { stats64: { tx: { packets: number } } }[];
  const q = JSON.parse(
    (await reg.execAsync(ns, ["tc", "-s", "-j", "qdisc", "show", "dev", dev, "root"], 5000)).stdout,
  ) as { kind: string; packets?: number; drops?: number }[];
  // a qdisc counts the segments of a GSO packet (the CPE's TUN writes UDP super-packets into
  // the LAN); the link counter counts super-packets
  const tx = q[0] !== undefined && q[0].kind !== "noqueue" ? q[0].packets : undefined;
  return { tx: tx ?? link[0]!.stats64.tx.packets, drops: q[0]?.drops ?? 0 };
}

/** startLab with a start-up allowance for the VM (a node start takes 2-10 s under TCG). */
async function startDaemons(reg: NetnsRegistry): Promise<RunningLab> {
  if (!IN_VM) return startLab(reg, { cpes: [{ index: 0, pmt: true }] });
  const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }] });
  const cmd = daemonCommand();
  const relays = [spawnDaemon(reg, t.relays[0]!.ns, cmd, labRelayArgs(t.relays[0]!))];
  // the guest kernel has sit: auto would pick the kernel data plane
  const cpeArgs = labCpeArgs(t.cpes[0]!, ["--dataplane", "userspace"]);
  const cpes = [spawnDaemon(reg, t.cpes[0]!.ns, cmd, cpeArgs)];
  for (const p of [...relays, ...cpes]) {
    if (!(await waitDaemonReady(reg, p, 120_000))) {
      throw new Error(`daemon in ${p.ns} did not start:\n${p.stderr()}`);
    }
  }
  return { t, relays, cpes };
}

let port = 5400;

/** One iperf3 UDP64 load at `pps` (0: unlimited) in direction `dir`. */
async function load(
  reg: NetnsRegistry,
  lab: RunningLab,
  qdisc: string,
  dir: Dir,
  pps: number,
): Promise<Load> {
  const c = lab.t.cpes[0]!;
  const [srvNs, srvAddr, cliNs] =
    dir === "up" ? [lab.t.inet, LAB_SERVER, c.lanNs] : [c.lanNs, c.hostAddress, lab.t.inet];
  const target = dir === "up" ? LAB_SERVER : c.expectedSourceAtServer;
  // whose reads and CPU are printed: the daemon that sends into the bottleneck (variant lan: the
  // CPE, which reads protocol 41 and writes into the TUN towards the shaped LAN)
  const sender = dir === "up" || qdisc === "lan" ? lab.cpes[0]! : lab.relays[0]!;
  const readCounter = qdisc === "lan" ? "in_packets" : "out_packets";
  // the bottleneck device: the sender's WAN; variant lan: the CPE's LAN (relay -> CPE -> LAN)
  const [devNs, dev] =
    qdisc === "lan" ? [c.ns, "lan0"] : [dir === "up" ? c.ns : lab.t.relays[0]!.ns, "wan0"];
  const p = port++;
  const srv = await startIperfServer(reg, srvNs, srvAddr, p, { extra: ["-J"] });
  const before = await readCounters(reg, sender);
  const dev0 = await devCounts(reg, devNs, dev);
  const t0 = process.uptime();
  const cpu0 = cpuSeconds(sender.pid);
  const bps = pps === 0 ? "0" : String(Math.round(pps * 64 * 8));
  const cli = ["iperf3", "-c", target, "-p", String(p), "-u", "-l", "64", "-b", bps];
  if (dir === "down") cli.push("-B", LAB_SERVER);
  const client = await reg.execAsync(
    cliNs,
    [...cli, "-t", String(SECONDS), "-J"],
    (SECONDS + 20) * 1000,
  );
  const cpu = ((cpuSeconds(sender.pid) - cpu0) / SECONDS) * 100;
  const after = await readCounters(reg, sender);
  const dev1 = await devCounts(reg, devNs, dev);
  // paused time over the time between the counter reads (the load plus iperf3's start and end)
  const paused =
    ((after.traffic.wan_paused_ms ?? 0) - (before.traffic.wan_paused_ms ?? 0)) /
    ((process.uptime() - t0) * 1000);
  await reg.waitFor(() => srv.hasExited(), 5000);
  await reg.stop(srv, 2000);
  const read = ((after.traffic[readCounter] ?? 0) - (before.traffic[readCounter] ?? 0)) / SECONDS;
  const backpressure =
    (after.traffic.wan_backpressure ?? 0) - (before.traffic.wan_backpressure ?? 0);
  const txError = ((after.drops.tx_error ?? 0) - (before.drops.tx_error ?? 0)) / SECONDS;
  try {
    const j = JSON.parse(srv.stdout()) as {
      end: { sum: { packets: number; lost_packets: number; seconds: number } };
    };
    const s = j.end.sum;
    // offered: what the client sent (its own count); the server's count by sequence number
    // misses what is still queued when the test ends (seconds of queue at a slow link)
    let offered = s.packets / s.seconds;
    try {
      const c = (JSON.parse(client.stdout) as typeof j).end.sum;
      if (c.packets > 0 && c.seconds > 0) offered = c.packets / c.seconds;
    } catch {
      // the server's figure stands
    }
    // per second of the load as the iperf3 server timed it (the device counters also cover the
    // run's start and the queue's drain)
    const wan = (dev1.tx - dev0.tx) / s.seconds;
    const qdrop = (dev1.drops - dev0.drops) / s.seconds;
    return {
      offered,
      delivered: (s.packets - s.lost_packets) / s.seconds,
      wan,
      qdrop,
      paused,
      read,
      txError,
      cpu,
      backpressure,
    };
  } catch {
    process.stderr.write(`iperf3 ${dir} failed: ${srv.stdout().slice(-300)}\n`);
    return { offered: 0, delivered: 0, wan: 0, qdrop: 0, paused, read, txError, cpu, backpressure };
  }
}

interface Row {
  qdisc: string;
  dir: Dir;
  mode: Mode;
  /** Best delivered rate of the capacity search (what 2 × and 5 × are multiples of). */
  capacity: number;
  /** Best delivered rate of all loads (capacity search, 2 ×, 5 ×): d/peak's denominator. */
  peak: number;
  x2: Load;
  x5: Load;
}

/** Whether this kernel has the qdisc (fq_codel is missing from some: then that variant is skipped). */
function qdiscAvailable(qdisc: string): boolean {
  if (qdisc === "none" || qdisc === "pfifo" || qdisc === "napi" || qdisc === "lan") return true;
  const reg = new NetnsRegistry({ prefix: `p${process.pid}-q-` });
  try {
    const ns = reg.createNamespace("probe");
    reg.must(["ip", "-n", ns, "link", "add", "q0", "type", "veth", "peer", "name", "q1"]);
    return reg.exec(ns, ["tc", "qdisc", "add", "dev", "q0", "root", qdisc]).code === 0;
  } finally {
    void reg.cleanup();
  }
}

async function measure(reg: NetnsRegistry, qdisc: string, dir: Dir, mode: Mode): Promise<Row> {
  if (mode === "old") process.env.PMT_NO_BACKPRESSURE = "1";
  else delete process.env.PMT_NO_BACKPRESSURE;
  const lab = await startDaemons(reg);
  try {
    if (qdisc === "napi") threadVeths(reg);
    if (qdisc === "lan") shape(reg, lab.t.cpes[0]!.ns, "pfifo", "lan0");
    else {
      shape(reg, lab.t.cpes[0]!.ns, qdisc);
      shape(reg, lab.t.relays[0]!.ns, qdisc);
    }
    const steps =
      qdisc === "none" || qdisc === "napi"
        ? UNSHAPED_STEPS
        : [0.5, 1, 1.5].map((f) => f * NOMINAL_PPS);
    let peak = 0;
    for (const pps of steps) {
      peak = Math.max(peak, (await load(reg, lab, qdisc, dir, pps)).delivered);
    }
    const capacity = peak;
    const x2 = await load(reg, lab, qdisc, dir, 2 * capacity);
    const x5 = await load(reg, lab, qdisc, dir, 5 * capacity);
    peak = Math.max(peak, x2.delivered, x5.delivered);
    return { qdisc, dir, mode, capacity, peak, x2, x5 };
  } finally {
    await reg.cleanup();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

/** BENCH_VM=1: the same bench inside the VM; prints the guest's table. */
async function mainInVm(): Promise<void> {
  const skip = vmSkipReason();
  if (skip !== undefined) {
    console.log(`overload bench (VM) skipped: ${skip}`);
    return;
  }
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith("BENCH_") && k !== "BENCH_VM" && v !== undefined) env[k] = v;
  }
  const cases = ROUNDS * QDISCS.length * DIRS.length * MODES.length;
  const r = await runInVm("node out/test/bench/overload.bench.js", {
    timeoutMs: Math.min(3_600_000, 120_000 + cases * (5 * (SECONDS + 25) + 60) * 1000),
    env,
  });
  process.stderr.write(r.stderr);
  process.stdout.write(r.stdout);
  console.log(
    `(VM: Debian kernel under QEMU TCG, 2 vCPUs; guest boot ${r.guestBootS ?? "?"} s, ` +
      `wall ${(r.wallMs / 1000).toFixed(0)} s, exit ${r.code}${r.timedOut ? ", timed out" : ""})`,
  );
  if (r.code !== 0) process.stdout.write(r.console.slice(-2000));
}

async function main(): Promise<void> {
  if (VM) return mainInVm();
  const why = netnsSkipReason() ?? toolSkipReason("iperf3") ?? toolSkipReason("tc");
  if (why !== undefined) {
    console.log(`overload bench skipped: ${why}`);
    return;
  }
  // TCG runs every process start and packet several times slower
  const slow = IN_VM ? 4 : 1;
  const watchdog = setTimeout(
    () => {
      process.stderr.write("overload bench: watchdog, stopping\n");
      process.exit(1);
    },
    slow * ROUNDS * QDISCS.length * DIRS.length * MODES.length * (5 * (SECONDS + 6) + 30) * 1000,
  );
  watchdog.unref();
  let reg = new NetnsRegistry();
  const stop = (): void => {
    void reg.cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  if (IN_VM) {
    for (const m of ["veth", "sch_htb", "sch_fq_codel"]) reg.run(["modprobe", m]);
  }
  // bounded by coreutils timeout; SIGTERM to timeout (by PID) ends its loop too (SIGKILL would not)
  const hogs = Array.from({ length: HOG }, () =>
    spawn("timeout", ["3600", "sh", "-c", "while :; do :; done"], { stdio: "ignore" }),
  );
  process.once("exit", () => hogs.forEach((h) => h.kill("SIGTERM")));
  const rows: Row[] = [];
  const qdiscs = QDISCS.filter((q) => {
    if (qdiscAvailable(q)) return true;
    console.log(`${q}: not in this kernel (tc qdisc add ... ${q} refused), skipped`);
    return false;
  });
  // variant lan shapes the CPE's LAN egress: only the down direction goes through it
  const dirsOf = (q: string): Dir[] => (q === "lan" ? DIRS.filter((d) => d === "down") : DIRS);
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const qdisc of qdiscs) {
        for (const dir of dirsOf(qdisc)) {
          for (const mode of MODES) {
            reg = new NetnsRegistry({ prefix: `p${process.pid}-o${rows.length}-` });
            const t0 = process.uptime();
            rows.push(await measure(reg, qdisc, dir, mode));
            const x = rows.at(-1)!;
            process.stderr.write(
              `round ${r + 1} ${qdisc} ${dir} ${mode} (${(process.uptime() - t0).toFixed(0)} s): capacity ${x.capacity.toFixed(0)}, ` +
                `2x offered ${x.x2.offered.toFixed(0)} wan ${x.x2.wan.toFixed(0)} delivered ` +
                `${x.x2.delivered.toFixed(0)} paused ${(100 * x.x2.paused).toFixed(0)} %, ` +
                `5x offered ${x.x5.offered.toFixed(0)} wan ${x.x5.wan.toFixed(0)} delivered ` +
                `${x.x5.delivered.toFixed(0)}\n`,
            );
          }
        }
      }
    }
  } finally {
    for (const h of hogs) h.kill("SIGTERM");
    await reg.cleanup();
  }
  const k = (n: number): string => (n / 1000).toFixed(1).padStart(5);
  const f2 = (n: number): string => n.toFixed(2).padStart(4);
  console.log(
    `\nUDP64 under overload: ${ROUNDS} round(s), ${SECONDS} s per load, shaped links ` +
      `${RATE_MBIT} Mbit/s (${NOMINAL_PPS.toFixed(0)} packets/s nominal); k packets/s, medians.` +
      `\nup = LAN -> server (CPE sends on its WAN), down = server -> LAN (relay sends);` +
      ` bp = backpressure, old = PMT_NO_BACKPRESSURE=1.` +
      `\ncap = capacity (best delivered of the search); o/c = offered / cap (what the generator` +
      ` really offered: below 2 or 5, it fell short); wan = packets/s the bottleneck device sent` +
      ` (the sender's wan0; lan: the CPE's lan0); read = the sender's TUN reads; p% = share of the` +
      ` time its TUN was paused; d/pk = delivered / best delivered of all loads.` +
      `${IN_VM ? "\nIn the VM (QEMU TCG)." : ""}${HOG > 0 ? `\n${HOG} busy loop(s) on the host's CPUs.` : ""}\n`,
  );
  console.log(
    "qdisc    dir  mode   cap | 2x offer  o/c   wan deliv  read  p%  d/pk | 5x offer  o/c   wan deliv  read  p%  d/pk | qdrop tx_err cpu% bp-ev",
  );
  const json: Record<string, unknown>[] = [];
  for (const qdisc of qdiscs) {
    for (const dir of dirsOf(qdisc)) {
      for (const mode of MODES) {
        const rs = rows.filter((x) => x.qdisc === qdisc && x.dir === dir && x.mode === mode);
        const m = (f: (x: Row) => number): number => median(rs.map(f));
        const peak = m((x) => x.peak);
        const cap = m((x) => x.capacity);
        const cols = (f: (x: Row) => Load): string => {
          const d = m((x) => f(x).delivered);
          const o = m((x) => f(x).offered);
          const p = m((x) => f(x).paused);
          return (
            `${k(o)} ${f2(o / cap)} ${k(m((x) => f(x).wan))} ${k(d)} ${k(m((x) => f(x).read))} ` +
            `${(100 * p).toFixed(0).padStart(3)}  ${f2(d / peak)}`
          );
        };
        console.log(
          `${qdisc.padEnd(8)} ${dir.padEnd(4)} ${mode.padEnd(4)} ${k(cap)} |   ${cols((x) => x.x2)} |   ` +
            `${cols((x) => x.x5)} | ${k(m((x) => x.x5.qdrop))}  ${k(m((x) => x.x5.txError))} ` +
            `${m((x) => x.x5.cpu)
              .toFixed(0)
              .padStart(4)} ${m((x) => x.x5.backpressure).toFixed(0)}`,
        );
        json.push({
          qdisc,
          dir,
          mode,
          vm: IN_VM,
          capacity_pps: Math.round(cap),
          peak_pps: Math.round(peak),
          x2_offered_pps: Math.round(m((x) => x.x2.offered)),
          x2_wan_pps: Math.round(m((x) => x.x2.wan)),
          x2_delivered_pps: Math.round(m((x) => x.x2.delivered)),
          x2_paused: Number(m((x) => x.x2.paused).toFixed(3)),
          x5_offered_pps: Math.round(m((x) => x.x5.offered)),
          x5_wan_pps: Math.round(m((x) => x.x5.wan)),
          x5_delivered_pps: Math.round(m((x) => x.x5.delivered)),
          x5_read_pps: Math.round(m((x) => x.x5.read)),
          x5_qdisc_drop_pps: Math.round(m((x) => x.x5.qdrop)),
          x5_tx_error_pps: Math.round(m((x) => x.x5.txError)),
          x5_sender_cpu_pct: Math.round(m((x) => x.x5.cpu)),
        });
      }
    }
  }
  console.log(JSON.stringify({ overload: json }));
}

void main();
