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
 * For each variant, direction and mode (backpressure on, and off with PMT_NO_BACKPRESSURE=1, the
 * old behaviour), with fresh daemons: the capacity is found first, the best delivered rate of
 * iperf3 -u -l 64 at offered rates of 0.5, 1 and 1.5 × the link's nominal packet rate; then
 * 2 × and 5 × that capacity are offered (iperf3 -b; the generator may fall short of 5 ×: the
 * offered rate printed is what it sent). Printed: offered and delivered packets/s
 * (iperf3 server: datagrams sent by sequence number, and those received, per second), the packets
 * the sending daemon read from its TUN per second, delivered/peak, what its WAN socket refused
 * (tx_error), its CPU (% of one core, /proc/<pid>/stat) and backpressure events.
 * Medians over BENCH_ROUNDS rounds. Figures, not a timed test; nothing asserts.
 *
 * Environment: BENCH_ROUNDS 1..10 (default 3), BENCH_SECONDS per load 1..30 (default 3),
 * BENCH_RATE_MBIT 1..1000 (default 10), BENCH_QDISCS (default "fq_codel,pfifo,none,napi").
 *
 * Network safety: namespaces `p<pid>-*`, lab addresses only, every load bounded (iperf3 -t and a
 * kill timeout), the whole run bounded by a watchdog, cleanup in finally and on SIGINT/SIGTERM.
 */
import { readFileSync } from "node:fs";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { readCounters, startLab, type RunningLab } from "../support/dataplane-harness.js";
import { startIperfServer } from "../support/iperf.js";
import { LAB_SERVER } from "../../module/lab/topology.js";

function envInt(name: string, def: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return def;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) {
    process.stderr.write(`${name}: expected an integer ${min}..${max}, got ${v}\n`);
    process.exit(2);
  }
  return n;
}

const ROUNDS = envInt("BENCH_ROUNDS", 3, 1, 10);
const SECONDS = envInt("BENCH_SECONDS", 3, 1, 30);
const RATE_MBIT = envInt("BENCH_RATE_MBIT", 10, 1, 1000);
const QDISCS = (process.env.BENCH_QDISCS ?? "fq_codel,pfifo,none,napi").split(",");
for (const q of QDISCS) {
  if (!["fq_codel", "pfifo", "none", "napi"].includes(q)) {
    process.stderr.write(`BENCH_QDISCS: expected fq_codel, pfifo, none or napi, got ${q}\n`);
    process.exit(2);
  }
}
/** Bytes htb counts per datagram of 64: Ethernet 14 + IPv4 20 + IPv6 40 + UDP 8 + 64. */
const WIRE_BYTES = 146;
const NOMINAL_PPS = (RATE_MBIT * 1e6) / 8 / WIRE_BYTES;
/** Offered packets/s of the capacity search without a shaper (the CPU is the limit). */
const UNSHAPED_STEPS = [10_000, 20_000, 40_000];

type Dir = "up" | "down";
type Mode = "bp" | "old";
interface Load {
  offered: number;
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

function shape(reg: NetnsRegistry, ns: string, qdisc: string): void {
  if (qdisc === "none" || qdisc === "napi") return;
  const tc = (...a: string[]) => reg.must(["ip", "netns", "exec", ns, "tc", ...a]);
  tc("qdisc", "replace", "dev", "wan0", "root", "handle", "1:", "htb", "default", "1");
  tc(
    "class",
    "add",
    "dev",
    "wan0",
    "parent",
    "1:",
    "classid",
    "1:1",
    "htb",
    "rate",
    `${RATE_MBIT}mbit`,
  );
  if (qdisc === "fq_codel") tc("qdisc", "add", "dev", "wan0", "parent", "1:1", "fq_codel");
  else tc("qdisc", "add", "dev", "wan0", "parent", "1:1", "pfifo", "limit", "1000");
}

let port = 5400;

/** One iperf3 UDP64 load at `pps` (0: unlimited) in direction `dir`. */
async function load(reg: NetnsRegistry, lab: RunningLab, dir: Dir, pps: number): Promise<Load> {
  const c = lab.t.cpes[0]!;
  const [srvNs, srvAddr, cliNs] =
    dir === "up" ? [lab.t.inet, LAB_SERVER, c.lanNs] : [c.lanNs, c.hostAddress, lab.t.inet];
  const target = dir === "up" ? LAB_SERVER : c.expectedSourceAtServer;
  const sender = dir === "up" ? lab.cpes[0]! : lab.relays[0]!;
  const p = port++;
  const srv = await startIperfServer(reg, srvNs, srvAddr, p, { extra: ["-J"] });
  const before = await readCounters(reg, sender);
  const cpu0 = cpuSeconds(sender.pid);
  const bps = pps === 0 ? "0" : String(Math.round(pps * 64 * 8));
  const cli = ["iperf3", "-c", target, "-p", String(p), "-u", "-l", "64", "-b", bps];
  if (dir === "down") cli.push("-B", LAB_SERVER);
  await reg.execAsync(cliNs, [...cli, "-t", String(SECONDS), "-J"], (SECONDS + 20) * 1000);
  const cpu = ((cpuSeconds(sender.pid) - cpu0) / SECONDS) * 100;
  const after = await readCounters(reg, sender);
  await reg.waitFor(() => srv.hasExited(), 5000);
  await reg.stop(srv, 2000);
  const read = ((after.traffic.out_packets ?? 0) - (before.traffic.out_packets ?? 0)) / SECONDS;
  const backpressure =
    (after.traffic.wan_backpressure ?? 0) - (before.traffic.wan_backpressure ?? 0);
  const txError = ((after.drops.tx_error ?? 0) - (before.drops.tx_error ?? 0)) / SECONDS;
  try {
    const j = JSON.parse(srv.stdout()) as {
      end: { sum: { packets: number; lost_packets: number; seconds: number } };
    };
    const s = j.end.sum;
    return {
      offered: s.packets / s.seconds,
      delivered: (s.packets - s.lost_packets) / s.seconds,
      read,
      txError,
      cpu,
      backpressure,
    };
  } catch {
    process.stderr.write(`iperf3 ${dir} failed: ${srv.stdout().slice(-300)}\n`);
    return { offered: 0, delivered: 0, read, txError, cpu, backpressure };
  }
}

interface Row {
  qdisc: string;
  dir: Dir;
  mode: Mode;
  /** Loads: capacity search steps, then "2x", "5x". */
  peak: number;
  x2: Load;
  x5: Load;
}

/** Whether this kernel has the qdisc (fq_codel is missing from some: then that variant is skipped). */
function qdiscAvailable(qdisc: string): boolean {
  if (qdisc === "none" || qdisc === "pfifo" || qdisc === "napi") return true;
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
  const lab = await startLab(reg, { cpes: [{ index: 0, pmt: true }] });
  try {
    if (qdisc === "napi") threadVeths(reg);
    shape(reg, lab.t.cpes[0]!.ns, qdisc);
    shape(reg, lab.t.relays[0]!.ns, qdisc);
    const steps =
      qdisc === "none" || qdisc === "napi"
        ? UNSHAPED_STEPS
        : [0.5, 1, 1.5].map((f) => f * NOMINAL_PPS);
    let peak = 0;
    for (const pps of steps) peak = Math.max(peak, (await load(reg, lab, dir, pps)).delivered);
    const x2 = await load(reg, lab, dir, 2 * peak);
    const x5 = await load(reg, lab, dir, 5 * peak);
    peak = Math.max(peak, x2.delivered, x5.delivered);
    return { qdisc, dir, mode, peak, x2, x5 };
  } finally {
    await reg.cleanup();
  }
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function main(): Promise<void> {
  const why = netnsSkipReason() ?? toolSkipReason("iperf3") ?? toolSkipReason("tc");
  if (why !== undefined) {
    console.log(`overload bench skipped: ${why}`);
    return;
  }
  const watchdog = setTimeout(
    () => {
      process.stderr.write("overload bench: watchdog, stopping\n");
      process.exit(1);
    },
    ROUNDS * QDISCS.length * 4 * (7 * (SECONDS + 6) + 30) * 1000,
  );
  watchdog.unref();
  let reg = new NetnsRegistry();
  const stop = (): void => {
    void reg.cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", stop);
  process.once("SIGTERM", stop);
  const rows: Row[] = [];
  const qdiscs = QDISCS.filter((q) => {
    if (qdiscAvailable(q)) return true;
    console.log(`${q}: not in this kernel (tc qdisc add ... ${q} refused), skipped`);
    return false;
  });
  try {
    for (let r = 0; r < ROUNDS; r++) {
      for (const qdisc of qdiscs) {
        for (const dir of ["up", "down"] as Dir[]) {
          for (const mode of ["bp", "old"] as Mode[]) {
            reg = new NetnsRegistry({ prefix: `p${process.pid}-o${rows.length}-` });
            rows.push(await measure(reg, qdisc, dir, mode));
            const x = rows.at(-1)!;
            process.stderr.write(
              `round ${r + 1} ${qdisc} ${dir} ${mode}: peak ${x.peak.toFixed(0)}, ` +
                `5x offered ${x.x5.offered.toFixed(0)} delivered ${x.x5.delivered.toFixed(0)}\n`,
            );
          }
        }
      }
    }
  } finally {
    await reg.cleanup();
  }
  const k = (n: number): string => (n / 1000).toFixed(1).padStart(6);
  console.log(
    `\nUDP64 under overload: ${ROUNDS} round(s), ${SECONDS} s per load, shaped links ` +
      `${RATE_MBIT} Mbit/s (${NOMINAL_PPS.toFixed(0)} packets/s nominal); k packets/s, medians.` +
      `\nup = LAN -> server (CPE sends on its WAN), down = server -> LAN (relay sends);` +
      ` bp = backpressure, old = PMT_NO_BACKPRESSURE=1; read = the sender's TUN reads.\n`,
  );
  console.log(
    "qdisc     dir  mode   peak | 2x offered deliv  read  d/peak | 5x offered deliv  read  d/peak  tx_err  cpu%  bp-events",
  );
  const json: Record<string, unknown>[] = [];
  for (const qdisc of qdiscs) {
    for (const dir of ["up", "down"] as Dir[]) {
      for (const mode of ["bp", "old"] as Mode[]) {
        const rs = rows.filter((x) => x.qdisc === qdisc && x.dir === dir && x.mode === mode);
        const m = (f: (x: Row) => number): number => median(rs.map(f));
        const peak = m((x) => x.peak);
        const cols = (f: (x: Row) => Load): string => {
          const d = m((x) => f(x).delivered);
          return `${k(m((x) => f(x).offered))} ${k(d)} ${k(m((x) => f(x).read))}  ${(d / peak).toFixed(2)}`;
        };
        console.log(
          `${qdisc.padEnd(9)} ${dir.padEnd(4)} ${mode.padEnd(4)} ${k(peak)} |    ${cols((x) => x.x2)} |    ` +
            `${cols((x) => x.x5)}  ${k(m((x) => x.x5.txError))}  ${m((x) => x.x5.cpu)
              .toFixed(0)
              .padStart(4)}  ${m((x) => x.x5.backpressure).toFixed(0)}`,
        );
        json.push({
          qdisc,
          dir,
          mode,
          peak_pps: Math.round(peak),
          x2_offered_pps: Math.round(m((x) => x.x2.offered)),
          x2_delivered_pps: Math.round(m((x) => x.x2.delivered)),
          x5_offered_pps: Math.round(m((x) => x.x5.offered)),
          x5_delivered_pps: Math.round(m((x) => x.x5.delivered)),
          x5_read_pps: Math.round(m((x) => x.x5.read)),
          x5_tx_error_pps: Math.round(m((x) => x.x5.txError)),
          x5_sender_cpu_pct: Math.round(m((x) => x.x5.cpu)),
        });
      }
    }
  }
  console.log(JSON.stringify({ overload: json }));
}

void main();
