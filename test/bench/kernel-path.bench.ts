/**
 * Bench: the CPE's kernel data plane (`--dataplane kernel`: sit + the nft tables with prefix NAT
 * and the RFC 3964 checks, the daemon as control plane) against the same sit + nft prefix NAT set
 * up by hand on a second CPE of the same shape, in one VM run (Debian's kernel under QEMU TCG:
 * test/support/vm.ts; test/vm/kernel-path-bench.vm.ts does the work, the order alternating per
 * round). Prints TCP and
 * UDP64 for both per round, the medians of each round's ratio ours / hand, and the daemon's own
 * CPU per second of forwarding (median of rounds, and where it went). Figures only: TCG makes
 * absolute numbers meaningless, the ratio within one run is what counts.
 *
 *   node out/test/bench/kernel-path.bench.js   (root; BENCH_ROUNDS (default 5), BENCH_SECONDS
 *                                               (default 5); PMT_BENCH_* are read too)
 *
 * BENCH_AB=<variant>[,<variant>...]: an A/B in the same run, by pairs of rounds: the list is the
 * variant of each pair in turn, repeated ("made", the set-up as the daemon makes it, is put first
 * when absent: BENCH_AB=stop runs made, stop, made, stop, ...). Variants (test/vm/
 * kernel-path-bench.vm.ts says what each does): netdev, bare, nofast, oldfast (our ruleset's
 * shape), stop (the daemon SIGSTOPped), handsit, handip (the hand-made set-up plus one part of
 * ours), ashand (our CPE set up by hand), aa (terminal: the daemon killed and its CPE set up by
 * hand too, an A/A of the two CPEs). Each variant's position-balanced pairs are printed apart.
 * BENCH_TCP=0: UDP64 only. BENCH_SWAP=1: the daemon on the second CPE, the hand-made one on the
 * first. BENCH_TOGETHER=1: both UDP64 floods at the same time in each round. BENCH_REVERSE=1: the
 * site sends (iperf3 -R). BENCH_DUMP=1: both CPEs' state (links, addresses, routes, nft, sysctls,
 * sockets, conntrack during a flood) into kernel-path-dump.json.
 *
 * BENCH_PROFILE=1 (or a list of set-ups: made, hand, any variant above): no timing; the kernel's
 * function calls per forwarded packet of each set-up (ftrace `function` tracer in the VM, every
 * function, every CPU), BENCH_PROFILE_ROUNDS (default 2) times over: BENCH_PACKETS (default
 * 2000) 64-byte UDP datagrams at BENCH_PPS (default 1000) per run; the hits of each function over
 * the packets the set-up's sit sent (received with BENCH_REVERSE=1), split into softirq, task and
 * irq context. Prints every function whose hits per packet differ by >= BENCH_PROFILE_DIFF
 * (default 0.05) between two set-ups in every round, and the totals; kernel-path-profile.json
 * holds all counts. Deterministic where timing is not: the forwarding path's calls repeat to
 * within 0.01 per packet; task and irq context (the sender's syscalls, wake-ups) is noisier.
 * BENCH_PROFILE_FILTER: set_ftrace_filter globs; BENCH_TRACE_KB: trace buffer per CPU.
 */
import { writeFileSync } from "node:fs";
import { runInVm, vmSkipReason } from "../support/vm.js";

interface Figures {
  tcpMbps: number;
  udp64Pps: number;
  daemonCpuMs: number;
  forwardingS: number;
  daemonCpuBy: Record<string, number>;
}

const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
};

interface Profile {
  packets: number;
  pps: number;
  filter: string;
  runs: {
    setup: string;
    round: number;
    sit: string;
    sitTx: number;
    sent: number | null;
    lost: number | null;
    wallS: number;
    perCpu: { events: number; overrun: number; dropped: number }[];
    counts: Record<string, number>;
  }[];
}

/** Function hits differing by at least this much per packet between two set-ups are printed. */
const PROFILE_MIN_DIFF = Number(process.env.BENCH_PROFILE_DIFF ?? "0.05");

/**
 * BENCH_PROFILE: each run's packets and events, then every function whose hits per packet differ
 * by >= PROFILE_MIN_DIFF between two set-ups in every round (the lowest of one set-up's rounds
 * above the highest of the other's), with its hits per packet in each run.
 */
function printProfile(p: Profile): void {
  const dir = process.env.BENCH_REVERSE === "1" ? "rx" : "tx";
  console.log(
    `profile: ${p.packets} UDP datagrams of 64 bytes per run at ${p.pps}/s; filter ` +
      `${p.filter === "" ? "(every function)" : p.filter}; hits per packet = hits / the sit's ${dir}_packets; all of it in kernel-path-profile.json`,
  );
  const setups = [...new Set(p.runs.map((r) => r.setup))];
  for (const r of p.runs) {
    const ev = r.perCpu.reduce((a, x) => a + x.events, 0);
    const lostEv = r.perCpu.reduce((a, x) => a + x.overrun + x.dropped, 0);
    console.log(
      `  ${r.setup} round ${r.round + 1} (${r.sit}): sit ${dir} ${r.sitTx}, iperf3 sent ${r.sent} ` +
        `lost ${r.lost}, ${r.wallS.toFixed(1)} s; ${ev} events (${(ev / r.sitTx).toFixed(1)} per packet)` +
        (lostEv > 0 ? `; ${lostEv} EVENTS LOST (buffer too small: BENCH_TRACE_KB)` : ""),
    );
  }
  const per = (r: Profile["runs"][number], f: string) => (r.counts[f] ?? 0) / r.sitTx;
  const fns = new Set(p.runs.flatMap((r) => Object.keys(r.counts)));
  const rows: { f: string; spread: number; cells: string[] }[] = [];
  for (const f of fns) {
    const range = setups.map((s) => {
      const xs = p.runs.filter((r) => r.setup === s).map((r) => per(r, f));
      return { lo: Math.min(...xs), hi: Math.max(...xs), xs };
    });
    let spread = 0;
    for (const a of range)
      for (const b of range)
        if (a.lo - b.hi >= PROFILE_MIN_DIFF) spread = Math.max(spread, a.lo - b.hi);
    if (spread === 0) continue;
    rows.push({ f, spread, cells: range.map((x) => x.xs.map((v) => v.toFixed(3)).join("/")) });
  }
  rows.sort((a, b) => b.spread - a.spread);
  console.log(
    `functions whose hits per packet differ by >= ${PROFILE_MIN_DIFF} between two set-ups in ` +
      `every round (${rows.length}; per set-up, each round's hits per packet):`,
  );
  console.log(`  ${"context function".padEnd(40)} ${setups.map((s) => s.padStart(16)).join(" ")}`);
  for (const r of rows) {
    const f = r.f.replace(/^s /, "softirq ").replace(/^t /, "task    ").replace(/^i /, "irq     ");
    console.log(`  ${f.padEnd(40)} ${r.cells.map((c) => c.padStart(16)).join(" ")}`);
  }
  // Totals per context: how much of each run's work the differences are.
  for (const ctx of ["s", "t", "i"]) {
    const cells = setups.map((s) =>
      p.runs
        .filter((r) => r.setup === s)
        .map((r) => {
          let n = 0;
          for (const [k, v] of Object.entries(r.counts)) if (k[0] === ctx) n += v;
          return (n / r.sitTx).toFixed(1);
        })
        .join("/"),
    );
    const name = { s: "softirq", t: "task", i: "irq" }[ctx]!;
    console.log(
      `  ${`(all ${name} hits)`.padEnd(40)} ${cells.map((c) => c.padStart(16)).join(" ")}`,
    );
  }
}

/** A ratio with 3 decimals; "-" when not measured (BENCH_TCP=0 gives 0 / 0). */
const r3 = (v: number): string => (Number.isFinite(v) ? v.toFixed(3) : "-");

async function main(): Promise<void> {
  const skip = vmSkipReason();
  if (skip !== undefined) {
    console.log(`kernel-path bench skipped: ${skip}`);
    return;
  }
  const rounds = process.env.BENCH_ROUNDS ?? process.env.PMT_BENCH_ROUNDS ?? "5";
  const seconds = process.env.BENCH_SECONDS ?? process.env.PMT_BENCH_SECONDS ?? "5";
  const p = process.env.BENCH_PROFILE ?? "";
  const profileSetups = p === "" || p === "0" ? "" : p === "1" ? "made,hand,ashand" : p;
  const r = await runInVm("node out/test/vm/kernel-path-bench.vm.js", {
    timeoutMs: 1_500_000,
    env: {
      PMT_BENCH_ROUNDS: rounds,
      PMT_BENCH_SECONDS: seconds,
      PMT_BENCH_PROFILE: profileSetups,
      // The rest as given (BENCH_X -> PMT_BENCH_X), with these defaults.
      ...Object.fromEntries(
        Object.entries({
          AB: "",
          DUMP: "",
          TCP: "",
          SWAP: "",
          TOGETHER: "",
          REVERSE: "",
          PROFILE_ROUNDS: "2",
          PACKETS: "2000",
          PROFILE_FILTER: "",
          PPS: "1000",
          TRACE_KB: "131072",
        }).map(([k, v]) => [`PMT_BENCH_${k}`, process.env[`BENCH_${k}`] ?? v]),
      ),
    },
    // The trace buffers (PMT_BENCH_TRACE_KB per CPU) need room beside the set-ups.
    ...(profileSetups !== "" ? { memMb: 2048 } : {}),
  });
  const line = /^RESULT (.*)$/m.exec(r.stdout)?.[1];
  if (!line) {
    console.log(
      `no result (timed out: ${r.timedOut})\n${r.stdout}\n${r.stderr}\n${r.console.slice(-2000)}`,
    );
    return;
  }
  if (process.env.BENCH_DUMP === "1") writeFileSync("kernel-path-dump.json", line);
  const o = JSON.parse(line) as {
    error?: string;
    iperfFailure?: string;
    seconds: number;
    settleS?: number;
    profile?: Profile;
    rounds: { oursFirst: boolean; variant?: string; ours: Figures; hand: Figures }[];
  };
  if (o.error) console.log(`error: ${o.error}`);
  if (o.profile) {
    writeFileSync("kernel-path-profile.json", JSON.stringify(o.profile));
    printProfile(o.profile);
  }
  if (o.iperfFailure) console.log(`iperf3 failed:\n${o.iperfFailure.slice(0, 2000)}`);
  const cpuPerS = (f: Figures) => f.daemonCpuMs / f.forwardingS;
  console.log(
    `daemon quiet ${o.settleS ?? "?"} s after the warm-up (its start-up CPU is not counted)`,
  );
  for (const [i, x] of o.rounds.entries()) {
    const first = x.oursFirst ? "ours first" : "hand first";
    console.log(
      `round ${i + 1} (${first}${x.variant ? ", " + x.variant : ""}): ours TCP ${x.ours.tcpMbps.toFixed(1)} Mbit/s, UDP64 ` +
        `${x.ours.udp64Pps.toFixed(0)}/s; hand TCP ${x.hand.tcpMbps.toFixed(1)} Mbit/s, UDP64 ` +
        `${x.hand.udp64Pps.toFixed(0)}/s; ratio TCP ${r3(x.ours.tcpMbps / x.hand.tcpMbps)}, ` +
        `UDP64 ${(x.ours.udp64Pps / x.hand.udp64Pps).toFixed(3)}; daemon CPU ` +
        `${x.ours.daemonCpuMs} ms in ${x.ours.forwardingS.toFixed(1)} s of forwarding` +
        (x.ours.daemonCpuMs ? ` (${JSON.stringify(x.ours.daemonCpuBy)})` : ""),
    );
  }
  if (o.rounds.length > 0) {
    const tcp = median(o.rounds.map((x) => x.ours.tcpMbps / x.hand.tcpMbps));
    const udp = median(o.rounds.map((x) => x.ours.udp64Pps / x.hand.udp64Pps));
    // Position-balanced too: the geometric mean of each pair of rounds (one with ours first,
    // one with the hand-made first), so that a penalty for running second cancels out.
    const paired = (f: (x: Figures) => number): number[] => {
      const out: number[] = [];
      for (let i = 0; i + 1 < o.rounds.length; i += 2) {
        const [a, b] = [o.rounds[i]!, o.rounds[i + 1]!];
        out.push(Math.sqrt((f(a.ours) / f(a.hand)) * (f(b.ours) / f(b.hand))));
      }
      return out;
    };
    const tcpPairs = paired((x) => x.tcpMbps);
    const udpPairs = paired((x) => x.udp64Pps);
    const cpu = median(o.rounds.map((x) => cpuPerS(x.ours)));
    const idle = median(o.rounds.map((x) => cpuPerS(x.hand)));
    console.log(
      `kernel path / hand-made sit + nft (median of ${o.rounds.length} rounds, ${o.seconds} s ` +
        `each): TCP ${r3(tcp)}, UDP64 ${udp.toFixed(3)}; daemon CPU while forwarding ` +
        `${cpu.toFixed(1)} ms/s (${idle.toFixed(1)} ms/s while the hand-made one forwards; wall ${(r.wallMs / 1000).toFixed(0)} s, VM, TCG)`,
    );
    // BENCH_AB: each variant's pairs of rounds apart (a pair shares one variant).
    const variants = [...new Set(o.rounds.map((x) => x.variant ?? "made"))];
    if (variants.length > 1) {
      for (const v of variants) {
        const pairs: number[][] = [];
        for (let i = 0; i + 1 < o.rounds.length; i += 2) {
          const [a, b] = [o.rounds[i]!, o.rounds[i + 1]!];
          if ((a.variant ?? "made") !== v) continue;
          const g = (f: (x: Figures) => number) =>
            Math.sqrt((f(a.ours) / f(a.hand)) * (f(b.ours) / f(b.hand)));
          pairs.push([g((x) => x.tcpMbps), g((x) => x.udp64Pps)]);
        }
        console.log(
          `variant ${v}: position-balanced pairs TCP ${pairs.map((p) => r3(p[0]!)).join(", ")}; ` +
            `UDP64 ${pairs.map((p) => p[1]!.toFixed(3)).join(", ")}; median TCP ` +
            `${r3(median(pairs.map((p) => p[0]!)))}, UDP64 ${median(pairs.map((p) => p[1]!)).toFixed(3)}`,
        );
      }
    }
    if (tcpPairs.length > 0) {
      console.log(
        `position-balanced (median of ${tcpPairs.length} round pairs): TCP ` +
          `${r3(median(tcpPairs))}, UDP64 ${median(udpPairs).toFixed(3)}`,
      );
    }
  }
}

void main();
