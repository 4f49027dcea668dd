/**
 * Relay workers (option workers; cli/relay-workers.ts), root:
 *
 *   gen (protocol 41 from 8 customers) === relay (6to4-pmt, workers 1 or 2) --- sink (drops)
 *
 * The same offered load, one generator (test/bench/relay-workers-gen.ts, sendmmsg batches of 64
 * encapsulated 64-byte UDP datagrams from 8 customer addresses, 4 per worker of 2), through the
 * relay with workers 1 and then 2, in turn in each round. Printed per setting, medians of the
 * rounds: packets/s offered (what the generator got out) and forwarded (the sink's receive
 * counter; the sink, IPv6 forwarding off, drops them silently), each worker's CPU per packet it
 * forwarded (its thread's utime + stime from /proc/<pid>/task/<tid>/stat, the thread id from
 * `status --json`; workers 1: the main thread), the process's CPU per packet, and its RSS and
 * anonymous RSS (/proc/<pid>/status VmRSS, RssAnon) idle (1 s after the threads started, before
 * any traffic) and after the load. Figures, not a timed test; nothing asserts.
 *
 * Placement: the generator runs pinned to CPU 0 (taskset). Workers 1: the relay pinned to CPU 1.
 * Workers 2: the relay on both CPUs, so on a 2-core machine one worker shares CPU 0 with the
 * generator and with the kernel's receive work for the generator's packets (softirq, on the
 * sender's CPU for veth); the line says so. Other users of the machine share both.
 *
 * Runs the shipped bundle (dist/6to4-pmt.js: `npm run build` first) with the launcher's V8 flags.
 * Environment: BENCH_ROUNDS (1..10, default 3), BENCH_SECONDS (1..30, default 4), BENCH_PPS
 * (offered packets/s, 0 = as fast as the generator can; default 0), BENCH_WORKERS (the settings,
 * default "1,2"; e.g. "1,2,8" at a BENCH_PPS both carry shows the generator's CPU per packet
 * growing with the number of protocol-41 sockets: the kernel clones each packet once per raw
 * socket before the filter drops it), BENCH_BASELINE (another build's bundle, a copy of its
 * dist/: each setting runs with it too, right before this build's, for a before/after in one run),
 * BENCH_INNER (udp64, default, or tcp: 1400-byte TCP segments that GRO on the relay's device
 * merges, relay-workers-gen.ts; then r0 has GRO on and receives in a NAPI thread, the relay's
 * device towards the sink cuts what it forwards, and "forwarded" counts the generator's segments
 * by the payload bytes the sink received: the process's CPU per packet is then per segment
 * sent, the workers' per packet the relay counted), BENCH_RECEIVE
 * (raw, default, packet, or both: "raw,packet"; packet runs the relay with `packet_receive r0`).
 *
 * Network safety: namespaces p<pid>-*, documentation / shared addresses only, every load bounded
 * in time, cleanup in finally and on SIGINT/SIGTERM.
 */
import { existsSync, readFileSync } from "node:fs";
import { cpus } from "node:os";
import * as path from "node:path";
import { DAEMON_NODE_FLAGS } from "../../module/lab/topology.js";
import { NetnsRegistry, netnsSkipReason, type NsProcess } from "../support/netns.js";
import { intEnv } from "../support/bench-env.js";

const BUNDLE = path.join(__dirname, "..", "..", "..", "dist", "6to4-pmt.js");
const GEN = path.join(__dirname, "relay-workers-gen.js");
const CLK_TCK = 100;
const CUSTOMERS = 8;

/** utime + stime of one thread (or, with tid = pid, of the main thread) in seconds. */
function threadCpu(pid: number, tid: number): number {
  const f = readFileSync(`/proc/${pid}/task/${tid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** utime + stime of the whole process (every thread) in seconds. */
function processCpu(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return (Number(rest[11]) + Number(rest[12])) / CLK_TCK;
}

/** VmRSS and RssAnon of /proc/<pid>/status in MB. */
function memMb(pid: number): { rss: number; anon: number } {
  const st = readFileSync(`/proc/${pid}/status`, "utf8");
  const field = (name: string): number => {
    const m = new RegExp(`${name}:\\s+(\\d+) kB`).exec(st);
    return m ? Number(m[1]) / 1024 : NaN;
  };
  return { rss: field("VmRSS"), anon: field("RssAnon") };
}

function median(xs: number[]): number {
  const s = [...xs].filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (s.length === 0) return NaN;
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

interface Sample {
  offered: number;
  /** The generator's CPU per packet sent, µs (with the relay side's kernel receive work). */
  genUs: number;
  forwarded: number;
  /** Packets GRO merged that the relay read, per second (wan_gro_merged). */
  merged: number;
  /** µs of CPU per packet, per worker (index = worker). */
  workerUs: number[];
  processUs: number;
  /** MB, 1 s after start, before any traffic. */
  idleRss: number;
  idleAnon: number;
  /** MB, after the load. */
  rss: number;
  anon: number;
}

/** One setting: a bundle (this build's or BENCH_BASELINE's) with a number of workers. */
interface Setting {
  label: string;
  bundle: string;
  workers: number;
  /** `packet_receive r0`. */
  packet: boolean;
}

interface Net {
  gen: string;
  relay: string;
  sink: string;
}

function buildNet(reg: NetnsRegistry, tcp: boolean): Net {
  const gen = reg.createNamespace("bgen");
  const relay = reg.createNamespace("brelay", { forwarding: true });
  const sink = reg.createNamespace("bsink");
  reg.veth(gen, "g0", relay, "r0");
  reg.veth(relay, "r1", sink, "s0");
  reg.addr(gen, "g0", "100.64.0.2/10");
  reg.addr(relay, "r0", "100.64.0.1/10");
  reg.addr(relay, "lo", "192.88.99.1/32");
  reg.route(gen, "192.88.99.1/32 via 100.64.0.1");
  reg.addr(relay, "r1", "3fff:1::1/64");
  reg.addr(sink, "s0", "3fff:1::2/64");
  reg.route(relay, "3fff:100::/64 via 3fff:1::2");
  // What the relay forwards leaves r1 cut into segments, so the sink's counter counts segments.
  reg.exec(relay, ["ethtool", "-K", "r1", "tso", "off", "gso", "off"]);
  if (tcp) {
    // r0 receives through NAPI and GRO, in a kernel thread, as a NIC does (a veth does so only
    // for a sender without TSO).
    reg.exec(gen, ["ethtool", "-K", "g0", "tso", "off"]);
    reg.exec(relay, ["ethtool", "-K", "r0", "gro", "on"]);
    reg.exec(relay, ["sh", "-c", "echo 1 > /sys/class/net/r0/threaded"]);
  }
  // The generator's ND/ARP entries stay put during the runs.
  reg.exec(gen, ["ping", "-c1", "-W1", "100.64.0.1"]);
  reg.exec(relay, ["ping", "-6", "-c1", "-W1", "3fff:1::2"]);
  return { gen, relay, sink };
}

function rxPackets(reg: NetnsRegistry, ns: string, dev: string): number {
  return Number(reg.exec(ns, ["cat", `/sys/class/net/${dev}/statistics/rx_packets`]).stdout);
}

function rxBytes(reg: NetnsRegistry, ns: string, dev: string): number {
  return Number(reg.exec(ns, ["cat", `/sys/class/net/${dev}/statistics/rx_bytes`]).stdout);
}

/** Ethernet + IPv6 + TCP header bytes of a frame the sink receives (BENCH_INNER=tcp). */
const TCP_FRAME_HEADERS = 14 + 40 + 20;
const TCP_SEGMENT = 1400;

async function status(
  reg: NetnsRegistry,
  ns: string,
  sock: string,
): Promise<{ in: number[]; tids: number[]; merged: number }> {
  const r = await reg.execAsync(ns, [
    process.execPath,
    BUNDLE,
    "status",
    "--json",
    "--relay",
    "--status-socket",
    sock,
  ]);
  const s = JSON.parse(r.stdout) as {
    pid: number;
    counters: {
      traffic: Record<string, number>;
      offload?: Record<string, number>;
      workers?: { in_packets: number; tid: number }[];
    };
  };
  const w = s.counters.workers;
  const merged = s.counters.offload?.wan_gro_merged ?? 0;
  if (w === undefined) return { in: [s.counters.traffic.in_packets!], tids: [s.pid], merged };
  return { in: w.map((x) => x.in_packets), tids: w.map((x) => x.tid), merged };
}

async function runOnce(
  reg: NetnsRegistry,
  net: Net,
  setting: Setting,
  seconds: number,
  pps: number,
  inner: string,
): Promise<Sample> {
  const { workers, bundle } = setting;
  const sock = `/tmp/6to4-pmt-bench-${process.pid}-w${workers}.sock`;
  reg.removeOnCleanup(sock);
  const relayCpus = workers === 1 ? "1" : `0-${Math.max(1, cpus().length - 1)}`;
  const d: NsProcess = reg.spawn(net.relay, [
    "taskset",
    "-c",
    relayCpus,
    process.execPath,
    ...DAEMON_NODE_FLAGS,
    bundle,
    "relay",
    "--enabled",
    "--relay-ipv4",
    "192.88.99.1",
    "--customer-ipv4",
    "100.64.0.0/10",
    "--provider-prefix",
    "2001:db8::/32",
    "--workers",
    String(workers),
    "--tun-name",
    "6to4bw0",
    "--status-socket",
    sock,
    "--log-level",
    "info",
    ...(setting.packet ? ["--packet-receive", "r0"] : []),
  ]);
  try {
    const ready = await reg.waitFor(
      () => d.hasExited() || (d.stderr().match(/loop started/g) ?? []).length >= 2 * workers,
      15000,
    );
    if (!ready || d.hasExited()) throw new Error(`relay did not start:\n${d.stderr()}`);
    await new Promise((r) => setTimeout(r, 1000)); // start-up settles (pages released)
    const idle = memMb(d.pid);
    const gen = (s: number): Promise<{ code: number; stdout: string; stderr: string }> =>
      reg.execAsync(
        net.gen,
        [
          "taskset",
          "-c",
          "0",
          process.execPath,
          GEN,
          String(CUSTOMERS),
          String(s),
          String(pps),
          inner,
        ],
        (s + 10) * 1000,
      );
    await gen(1); // warm-up: TurboFan, neighbour entries
    const s0 = await status(reg, net.relay, sock);
    const rx0 = rxPackets(reg, net.sink, "s0");
    const b0 = rxBytes(reg, net.sink, "s0");
    const t0 = s0.tids.map((tid) => threadCpu(d.pid, tid));
    const p0 = processCpu(d.pid);
    const g = await gen(seconds);
    if (g.code !== 0) throw new Error(`generator failed: ${g.stderr}`);
    await new Promise((r) => setTimeout(r, 200)); // the last batches drain
    const rx1 = rxPackets(reg, net.sink, "s0");
    const b1 = rxBytes(reg, net.sink, "s0");
    const s1 = await status(reg, net.relay, sock);
    const t1 = s1.tids.map((tid) => threadCpu(d.pid, tid));
    const p1 = processCpu(d.pid);
    const m = /sent (\d+) failed (\d+) seconds ([\d.]+) cpu_us (\d+)/.exec(g.stdout);
    const secs = m ? Number(m[3]) : seconds;
    // tcp: the generator's segments that arrived, from the payload bytes (the raw socket's path
    // cuts a merged packet at 1280, into more and smaller segments than were sent).
    const forwarded =
      inner === "tcp" ? (b1 - b0 - TCP_FRAME_HEADERS * (rx1 - rx0)) / TCP_SEGMENT : rx1 - rx0;
    return {
      offered: (m ? Number(m[1]) : NaN) / secs,
      genUs: m ? Number(m[4]) / Math.max(1, Number(m[1])) : NaN,
      forwarded: forwarded / secs,
      merged: (s1.merged - s0.merged) / secs,
      workerUs: t1.map((c, i) => ((c - t0[i]!) / Math.max(1, s1.in[i]! - s0.in[i]!)) * 1e6),
      processUs: ((p1 - p0) / Math.max(1, forwarded)) * 1e6,
      idleRss: idle.rss,
      idleAnon: idle.anon,
      ...memMb(d.pid),
    };
  } finally {
    await reg.stop(d, 8000);
  }
}

async function main(): Promise<void> {
  const skip = netnsSkipReason();
  if (skip !== undefined) {
    console.log(`relay-workers bench skipped: ${skip}`);
    return;
  }
  if (!existsSync(BUNDLE)) {
    console.log(`relay-workers bench skipped: ${BUNDLE} missing (npm run build)`);
    return;
  }
  const rounds = intEnv("BENCH_ROUNDS", 3, 1, 10);
  const seconds = intEnv("BENCH_SECONDS", 4, 1, 30);
  const pps = intEnv("BENCH_PPS", 0, 0, 10_000_000);
  const reg = new NetnsRegistry();
  const onSignal = (): void => {
    void reg.cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const counts = (process.env.BENCH_WORKERS ?? "1,2").split(",").map(Number);
  if (!counts.every((w) => Number.isInteger(w) && w >= 1 && w <= 16)) {
    throw new RangeError("BENCH_WORKERS: expected a list of integers from 1 to 16, e.g. 1,2");
  }
  const baseline = process.env.BENCH_BASELINE || undefined;
  if (baseline !== undefined && !existsSync(baseline)) {
    throw new RangeError(`BENCH_BASELINE: ${baseline} does not exist`);
  }
  const inner = process.env.BENCH_INNER ?? "udp64";
  if (inner !== "udp64" && inner !== "tcp") throw new RangeError("BENCH_INNER: udp64 or tcp");
  const modes = (process.env.BENCH_RECEIVE ?? "raw").split(",");
  if (!modes.every((m) => m === "raw" || m === "packet")) {
    throw new RangeError('BENCH_RECEIVE: raw, packet or "raw,packet"');
  }
  const settings: Setting[] = counts.flatMap((w) =>
    modes.flatMap((mode) => {
      const packet = mode === "packet";
      const tag = modes.length > 1 ? ` ${mode}` : "";
      return [
        ...(baseline !== undefined
          ? [{ label: `baseline ${w}${tag}`, bundle: baseline, workers: w, packet }]
          : []),
        {
          label: `${baseline !== undefined ? `this ${w}` : String(w)}${tag}`,
          bundle: BUNDLE,
          workers: w,
          packet,
        },
      ];
    }),
  );
  const samples = new Map<Setting, Sample[]>(settings.map((w) => [w, []]));
  try {
    const net = buildNet(reg, inner === "tcp");
    for (let r = 0; r < rounds; r++) {
      for (const w of settings) {
        const s = await runOnce(reg, net, w, seconds, pps, inner);
        samples.get(w)!.push(s);
        console.log(
          `round ${r + 1} workers ${w.label}: offered ${Math.round(s.offered)}/s ` +
            `(generator ${s.genUs.toFixed(2)} µs/packet) forwarded ` +
            `${Math.round(s.forwarded)}/s (merged reads ${Math.round(s.merged)}/s), µs/packet per worker ` +
            `${s.workerUs.map((x) => x.toFixed(2)).join(" ")}, process ${s.processUs.toFixed(2)}, ` +
            `RSS idle ${s.idleRss.toFixed(1)} (anon ${s.idleAnon.toFixed(1)}) MB, ` +
            `after the load ${s.rss.toFixed(1)} (anon ${s.anon.toFixed(1)}) MB`,
        );
      }
    }
  } finally {
    await reg.cleanup();
  }
  const cores = cpus().length;
  console.log(
    `\nrelay workers, ${rounds} rounds of ${seconds} s, ${CUSTOMERS} customers, ${inner}, offered ` +
      `${pps === 0 ? "as fast as one generator can" : `${pps}/s`}; ${cores} cores: generator on ` +
      `CPU 0, relay on CPU 1 (workers 1) / CPUs 0-1 (workers 2)` +
      (cores <= 2 ? " - on this machine one worker shares CPU 0 with the generator" : ""),
  );
  console.log(
    "workers  offered/s  gen µs/pkt  forwarded/s  µs/packet per worker  process µs/packet  " +
      "RSS MB idle (anon)  RSS MB loaded (anon)",
  );
  const summary: Record<string, unknown> = {};
  const mb = (xs: number[]): number => Number(Math.max(...xs).toFixed(1));
  for (const [setting, ss] of samples) {
    const w = setting.workers;
    const perWorker = Array.from({ length: w }, (_, i) => median(ss.map((s) => s.workerUs[i]!)));
    const row = {
      offered: Math.round(median(ss.map((s) => s.offered))),
      genUs: Number(median(ss.map((s) => s.genUs)).toFixed(2)),
      forwarded: Math.round(median(ss.map((s) => s.forwarded))),
      workerUs: perWorker.map((x) => Number(x.toFixed(2))),
      processUs: Number(median(ss.map((s) => s.processUs)).toFixed(2)),
      idleRssMb: mb(ss.map((s) => s.idleRss)),
      idleAnonMb: mb(ss.map((s) => s.idleAnon)),
      rssMb: mb(ss.map((s) => s.rss)),
      anonMb: mb(ss.map((s) => s.anon)),
    };
    summary[`workers${setting.label.replace(/ /g, "_")}`] = row;
    console.log(
      `${setting.label.padStart(14)}  ${String(row.offered).padStart(9)}  ` +
        `${String(row.genUs).padStart(10)}  ` +
        `${String(row.forwarded).padStart(11)}  ${row.workerUs.join(" ").padStart(20)}  ` +
        `${String(row.processUs).padStart(17)}  ` +
        `${`${row.idleRssMb} (${row.idleAnonMb})`.padStart(18)}  ` +
        `${`${row.rssMb} (${row.anonMb})`.padStart(20)}`,
    );
  }
  type Row = { forwarded: number } | undefined;
  const f1 = ((summary.workers1 ?? summary.workersthis_1) as Row)?.forwarded;
  const f2 = ((summary.workers2 ?? summary.workersthis_2) as Row)?.forwarded;
  if (f1 !== undefined && f2 !== undefined) {
    console.log(`forwarded, 2 workers / 1 worker: ${(f2 / f1).toFixed(2)}`);
  }
  console.log(
    JSON.stringify({ bench: "relay-workers", rounds, seconds, pps, inner, cores, ...summary }),
  );
}

void main().catch((e) => {
  console.error(e);
  process.exitCode = 1;
});
