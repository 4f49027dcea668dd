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
 * kernel-path-bench.vm.ts says what each does): netdev, bare, nofast (our ruleset's shape), stop
 * (the daemon SIGSTOPped), handsit, handip (the hand-made set-up plus one part of ours), aa
 * (terminal: the daemon killed and its CPE set up by hand too, an A/A of the two CPEs). Each
 * variant's position-balanced pairs are printed apart.
 * BENCH_TCP=0: UDP64 only. BENCH_SWAP=1: the daemon on the second CPE, the hand-made one on the
 * first. BENCH_TOGETHER=1: both UDP64 floods at the same time in each round. BENCH_REVERSE=1: the
 * site sends (iperf3 -R). BENCH_DUMP=1: both CPEs' state (links, addresses, routes, nft, sysctls,
 * sockets, conntrack during a flood) into kernel-path-dump.json.
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

async function main(): Promise<void> {
  const skip = vmSkipReason();
  if (skip !== undefined) {
    console.log(`kernel-path bench skipped: ${skip}`);
    return;
  }
  const rounds = process.env.BENCH_ROUNDS ?? process.env.PMT_BENCH_ROUNDS ?? "5";
  const seconds = process.env.BENCH_SECONDS ?? process.env.PMT_BENCH_SECONDS ?? "5";
  const r = await runInVm("node out/test/vm/kernel-path-bench.vm.js", {
    timeoutMs: 1_500_000,
    env: {
      PMT_BENCH_ROUNDS: rounds,
      PMT_BENCH_SECONDS: seconds,
      PMT_BENCH_AB: process.env.BENCH_AB ?? "",
      PMT_BENCH_DUMP: process.env.BENCH_DUMP ?? "",
      PMT_BENCH_TCP: process.env.BENCH_TCP ?? "",
      PMT_BENCH_SWAP: process.env.BENCH_SWAP ?? "",
      PMT_BENCH_TOGETHER: process.env.BENCH_TOGETHER ?? "",
      PMT_BENCH_REVERSE: process.env.BENCH_REVERSE ?? "",
    },
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
    rounds: { oursFirst: boolean; variant?: string; ours: Figures; hand: Figures }[];
  };
  if (o.error) console.log(`error: ${o.error}`);
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
        `${x.hand.udp64Pps.toFixed(0)}/s; ratio TCP ${(x.ours.tcpMbps / x.hand.tcpMbps).toFixed(3)}, ` +
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
        `each): TCP ${tcp.toFixed(3)}, UDP64 ${udp.toFixed(3)}; daemon CPU while forwarding ` +
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
          `variant ${v}: position-balanced pairs TCP ${pairs.map((p) => p[0]!.toFixed(3)).join(", ")}; ` +
            `UDP64 ${pairs.map((p) => p[1]!.toFixed(3)).join(", ")}; median TCP ` +
            `${median(pairs.map((p) => p[0]!)).toFixed(3)}, UDP64 ${median(pairs.map((p) => p[1]!)).toFixed(3)}`,
        );
      }
    }
    if (tcpPairs.length > 0) {
      console.log(
        `position-balanced (median of ${tcpPairs.length} round pairs): TCP ` +
          `${median(tcpPairs).toFixed(3)}, UDP64 ${median(udpPairs).toFixed(3)}`,
      );
    }
  }
}

void main();
