/**
 * `npm run bench:soak` (root): the CPE and the relay, from the shipped bundle, in the lab
 * topology (lan - cpe == isp == relay - inet) for SOAK_SECONDS (default 300), under rounds of
 *   TCP upload (iperf3, 10 s) and TCP download (iperf3 -R, 10 s), each with a hostile burst from
 *   the carrier network to both daemons sent in parts while it runs (the attack table,
 *   support/attack-cases.ts, and random bytes behind a valid protocol-41 header), then a 64-byte
 *   UDP upload (5 s);
 * while every SOAK_SAMPLE_SECONDS (default 10) it samples each daemon's RSS and anonymous RSS
 * (/proc/<pid>/status), V8 heap in use and packet counters (SIGUSR1). Prints the samples, each
 * round's throughput, the drops by reason, whether the daemons still run, and the memory verdict
 * (support/soak.ts): anonymous RSS after the first round, its slope over the second half in MB
 * per hour, and how its lows (after V8's collections) moved from the first third to the last
 * (1 MB at most = flat, as the bench's target); then one JSON line.
 * Figures, not a timed test; nothing asserts.
 *
 * Network safety: namespaces `p<pid>-*`, documentation / shared / 3fff::/20 addresses only,
 * every load bounded (iperf3 -t, bursts of a fixed count), the run bounded by SOAK_SECONDS + 120 s,
 * cleanup in finally, on the deadline and on SIGINT/SIGTERM.
 */
import { existsSync } from "node:fs";
import * as path from "node:path";
import {
  NetnsRegistry,
  netnsSkipReason,
  toolSkipReason,
  type NsProcess,
} from "../support/netns.js";
import { readCounters, startLab, type Counters } from "../support/dataplane-harness.js";
import { attackCases, CUSTOMER, OTHER_RELAY } from "../support/attack-cases.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { encapsulate6to4 } from "../support/packet-builder.js";
import { mulberry32 } from "../support/prng.js";
import { procStatusMb, startIperfServer } from "../support/iperf.js";
import { memoryVerdict, parseSeconds, type MemorySample } from "../support/soak.js";
import { LAB_ANYCAST, LAB_SERVER } from "../../module/lab/topology.js";

const BUNDLE = path.join(__dirname, "..", "..", "..", "dist", "6to4-pmt.js");
const TCP_SECONDS = 10;
const UDP_SECONDS = 5;
/** Copies of each attack case per burst, and random packets per burst, per daemon. */
const ATTACK_COPIES = 5;
const RANDOM_PACKETS = 300;
/** Parts a burst is sent in, spread over a TCP test. */
const CHUNKS = 4;
/** Anonymous RSS growth after the first round that still counts as flat (bench-targets.ts). */
const FLAT_MB = 1;

interface Round {
  t: number;
  tcpUpGbps: number;
  tcpDownGbps: number;
  udpPps: number;
  hostile: number;
}

const f = (n: number, d = 1): string => (Number.isFinite(n) ? n.toFixed(d) : "-");

/** iperf3 client run with -J; the parsed JSON, or undefined (reported) when it failed. */
async function iperfClient(
  reg: NetnsRegistry,
  ns: string,
  serverNs: string,
  port: number,
  args: string[],
  seconds: number,
): Promise<Record<string, unknown> | undefined> {
  const srv = await startIperfServer(reg, serverNs, LAB_SERVER, port);
  const r = await reg.execAsync(
    ns,
    ["iperf3", "-c", LAB_SERVER, "-p", String(port), "-t", String(seconds), "-J", ...args],
    (seconds + 20) * 1000,
  );
  await reg.stop(srv, 3000);
  try {
    return JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    process.stderr.write(`soak: iperf3 ${args.join(" ")} failed: ${r.stdout.slice(-300)}\n`);
    return undefined;
  }
}

/** Random bytes (0..1400) behind a valid outer IPv4 header (protocol 41) from CUSTOMER to `dst`. */
function randomPackets(rand: () => number, dst: string, n: number): Buffer[] {
  const out: Buffer[] = [];
  for (let i = 0; i < n; i++) {
    const body = Buffer.alloc(Math.floor(rand() * 1401));
    for (let j = 0; j < body.length; j++) body[j] = Math.floor(rand() * 256);
    // Half of them look like IPv6 (version 6) so they get past the first check.
    if (body.length > 0 && i % 2 === 0) body[0] = 0x60 | (body[0]! & 0x0f);
    out.push(encapsulate6to4(body, CUSTOMER, dst, { df: false }));
  }
  return out;
}

/**
 * One hostile burst per daemon, sent from the carrier network in CHUNKS parts spread over about
 * `seconds` (starting after iperf3's 0.4 s of set-up): the attack table, ATTACK_COPIES times, and
 * RANDOM_PACKETS random payloads. Returns how many packets went out, and how many of them the
 * daemons should count as drops: all but the cases the receiving kernel drops first (bad outer
 * checksum or length: `kernel` in the table).
 */
async function hostileBurst(
  rand: () => number,
  reg: NetnsRegistry,
  ispNs: string,
  macs: Record<"cpe" | "relay", string>,
  seconds: number,
): Promise<[number, number]> {
  let counted = 0;
  const lists = (["relay", "cpe"] as const).map((target) => {
    const dst = target === "relay" ? LAB_ANYCAST : "100.64.0.2";
    const cases = attackCases().filter((c) => c.target === target);
    const list = cases.flatMap((c) => Array.from({ length: ATTACK_COPIES }, () => c.packet));
    list.push(...randomPackets(rand, dst, RANDOM_PACKETS));
    counted += cases.filter((c) => c.reason !== undefined).length * ATTACK_COPIES + RANDOM_PACKETS;
    return { target, list };
  });
  let sent = 0;
  const gapMs = ((seconds - 2) * 1000) / CHUNKS;
  await new Promise((r) => setTimeout(r, 1000));
  for (let i = 0; i < CHUNKS; i++) {
    for (const { target, list } of lists) {
      const part = list.filter((_, j) => j % CHUNKS === i);
      await injectIpv4(reg, ispNs, `${target}0`, macs[target], part);
      sent += part.length;
    }
    if (i + 1 < CHUNKS) await new Promise((r) => setTimeout(r, gapMs));
  }
  return [sent, counted];
}

async function main(): Promise<number> {
  const skip = netnsSkipReason() ?? toolSkipReason("iperf3") ?? toolSkipReason("python3");
  if (skip !== undefined) {
    process.stdout.write(`soak skipped: ${skip}\n`);
    return 0;
  }
  if (!existsSync(BUNDLE)) {
    process.stderr.write(`soak: ${BUNDLE} missing: run \`npm run build\` first\n`);
    return 1;
  }
  let seconds: number;
  let every: number;
  try {
    seconds = parseSeconds("SOAK_SECONDS", process.env.SOAK_SECONDS, 300, 60, 86400);
    every = parseSeconds("SOAK_SAMPLE_SECONDS", process.env.SOAK_SAMPLE_SECONDS, 10, 1, 600);
  } catch (e) {
    process.stderr.write(`soak: ${(e as Error).message}\n`);
    return 2;
  }
  const reg = new NetnsRegistry();
  const watchdog = setTimeout(
    () => {
      process.stderr.write(`soak: over ${seconds + 120} s, stopping\n`);
      void reg.cleanup().then(() => process.exit(1));
    },
    (seconds + 120) * 1000,
  );
  watchdog.unref();
  const onSignal = (): void => {
    process.stderr.write("soak: interrupted, cleaning up\n");
    void reg.cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);

  const samples: Record<string, MemorySample[]> = { cpe: [], relay: [] };
  const rounds: Round[] = [];
  let expectedDrops = 0;
  let last: Record<string, Counters> = {};
  let alive: Record<string, boolean> = {};
  try {
    const lab = await startLab(
      reg,
      { cpes: [{ index: 0, pmt: true }], lanMtu: 1500 },
      () => ["--other-relays", OTHER_RELAY], // as the attack table expects
      () => [],
      [process.execPath, BUNDLE],
    );
    const procs: Record<string, NsProcess> = { cpe: lab.cpes[0]!, relay: lab.relays[0]! };
    const lanNs = lab.t.cpes[0]!.lanNs;
    const macs = {
      cpe: linkMac(reg, lab.t.cpes[0]!.ns, "wan0"),
      relay: linkMac(reg, lab.t.relays[0]!.ns, "wan0"),
    };
    const t0 = Date.now();
    const now = (): number => (Date.now() - t0) / 1000;
    // Samples are printed as they are taken: a long soak shows its progress.
    process.stdout.write(
      "t s     cpe packets  RSS MB  anon MB  heap MB   relay packets  RSS MB  anon MB  heap MB\n",
    );
    const sample = async (): Promise<void> => {
      const t = now();
      const row = { t, cpe: 0, relay: 0 };
      const col = (k: string): string => {
        const x = samples[k]!.at(-1);
        const n = String(row[k as "cpe" | "relay"]).padStart(k === "cpe" ? 12 : 13);
        return x === undefined || x.t !== t
          ? `${n}  ${"-".padStart(6)}  ${"-".padStart(7)}  ${"-".padStart(7)}`
          : `${n}  ${f(x.rssMb).padStart(6)}  ${f(x.anonMb).padStart(7)}  ${f(x.heapUsedMb).padStart(7)}`;
      };
      for (const [k, p] of Object.entries(procs)) {
        if (p.hasExited()) continue;
        const rssMb = procStatusMb(p.pid, "VmRSS");
        const anonMb = procStatusMb(p.pid, "RssAnon");
        const c = await readCounters(reg, p);
        const heapUsedMb = (c.memory?.heap_used_kb ?? NaN) / 1024;
        samples[k]!.push({ t, rssMb, anonMb, heapUsedMb });
        last[k] = c;
        row[k as "cpe" | "relay"] = (c.traffic.in_packets ?? 0) + (c.traffic.out_packets ?? 0);
      }
      process.stdout.write(`${f(t, 0).padStart(5)}  ${col("cpe")}   ${col("relay")}\n`);
    };
    await sample();
    let stop = false;
    const sampler = (async () => {
      while (!stop) {
        await new Promise((r) => setTimeout(r, every * 1000));
        if (!stop) await sample();
      }
    })();
    const rand = mulberry32(0x50a4);
    const roundSeconds = 2 * TCP_SECONDS + UDP_SECONDS + 10;
    let port = 5400;
    while (
      now() + roundSeconds <= seconds &&
      !procs.cpe!.hasExited() &&
      !procs.relay!.hasExited()
    ) {
      // The hostile burst goes out in chunks during the upload and the download, so bad
      // packets share the raw sockets' read batches with the data and its ACKs.
      const burst = (): Promise<[number, number]> =>
        hostileBurst(rand, reg, lab.t.isp, macs, TCP_SECONDS);
      const [up, hostileUp] = await Promise.all([
        iperfClient(reg, lanNs, lab.t.inet, port++, [], TCP_SECONDS),
        burst(),
      ]);
      const [down, hostileDown] = await Promise.all([
        iperfClient(reg, lanNs, lab.t.inet, port++, ["-R"], TCP_SECONDS),
        burst(),
      ]);
      const hostile = hostileUp[0] + hostileDown[0];
      expectedDrops += hostileUp[1] + hostileDown[1];
      const udp = await iperfClient(
        reg,
        lanNs,
        lab.t.inet,
        port++,
        ["-u", "-l", "64", "-b", "0"],
        UDP_SECONDS,
      );
      const gbps = (j: Record<string, unknown> | undefined): number => {
        const end = j?.end as { sum_received?: { bits_per_second: number } } | undefined;
        return (end?.sum_received?.bits_per_second ?? 0) / 1e9;
      };
      const udpEnd = (udp?.end as { sum?: { packets: number; lost_packets: number } })?.sum;
      rounds.push({
        t: now(),
        tcpUpGbps: gbps(up),
        tcpDownGbps: gbps(down),
        udpPps: udpEnd === undefined ? 0 : (udpEnd.packets - udpEnd.lost_packets) / UDP_SECONDS,
        hostile,
      });
      if (port > 5900) port = 5400;
    }
    stop = true;
    await sampler;
    await sample();
    alive = { cpe: !procs.cpe!.hasExited(), relay: !procs.relay!.hasExited() };
  } finally {
    await reg.cleanup();
  }
  clearTimeout(watchdog);

  const lines: string[] = [];
  lines.push("round  end s  TCP up Gbit/s  TCP down Gbit/s  UDP64 pps  hostile packets");
  rounds.forEach((r, i) =>
    lines.push(
      `${String(i + 1).padStart(5)}  ${f(r.t, 0).padStart(5)}  ${f(r.tcpUpGbps, 3).padStart(13)}  ${f(r.tcpDownGbps, 3).padStart(15)}  ${f(r.udpPps, 0).padStart(9)}  ${String(r.hostile).padStart(15)}`,
    ),
  );
  const drops: Record<string, Record<string, number>> = {};
  for (const k of ["cpe", "relay"]) {
    drops[k] = Object.fromEntries(Object.entries(last[k]?.drops ?? {}).filter(([, v]) => v !== 0));
    lines.push(
      `${k} drops: ${
        Object.entries(drops[k]!)
          .map(([r, v]) => `${r}=${v}`)
          .join(" ") || "none"
      }`,
    );
  }
  const sent = rounds.reduce((a, r) => a + r.hostile, 0);
  const counted = Object.values(drops)
    .flatMap((d) => Object.entries(d))
    .filter(([r]) => r !== "link_scope_multicast")
    .reduce((a, [, v]) => a + v, 0);
  lines.push(
    `hostile packets: ${sent} sent, ${expectedDrops} of them for the daemons to drop (the receiving kernel drops the rest), ${counted} counted as drops (link_scope_multicast aside): ${counted === expectedDrops ? "every one" : "MISMATCH"}`,
  );
  // The first round is the warm-up: V8 compiles the hot paths, the rings fill once.
  const warmup = rounds[0]?.t ?? 0;
  const verdicts: Record<string, ReturnType<typeof memoryVerdict> | undefined> = {};
  for (const k of ["cpe", "relay"]) {
    const s = samples[k]!;
    verdicts[k] = s.length > 0 ? memoryVerdict(s, warmup, FLAT_MB) : undefined;
    const v = verdicts[k];
    lines.push(
      v === undefined
        ? `${k}: no samples`
        : `${k}: still running ${alive[k] ? "yes" : "NO"}; anon RSS ${f(v.anonAfterWarmupMb)} -> ${f(v.anonEndMb)} MB after the first round (between ${f(v.anonMinMb)} and ${f(v.anonMaxMb)}), slope over the second half ${f(v.slopeMbPerHour, 2)} MB/h; lows of the last third vs the first: anon ${f(v.floorGrowthMb, 2)} MB, V8 heap in use ${f(v.heapFloorGrowthMb, 2)} MB: ${v.flat ? "flat" : "GROWING"} (limit ${FLAT_MB} MB); RSS peak ${f(v.rssMaxMb)} MB`,
    );
  }
  const out = {
    seconds,
    rounds: rounds.length,
    hostile_packets: sent,
    hostile_expected_drops: expectedDrops,
    hostile_counted_drops: counted,
    alive,
    memory: verdicts,
    drops,
    tcp_up_gbps: rounds.map((r) => r.tcpUpGbps),
    tcp_down_gbps: rounds.map((r) => r.tcpDownGbps),
    udp64_pps: rounds.map((r) => r.udpPps),
  };
  process.stdout.write(lines.join("\n") + "\n" + JSON.stringify(out) + "\n");
  return alive.cpe && alive.relay ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`soak failed: ${(e as Error).stack ?? String(e)}\n`);
    process.exit(1);
  },
);
