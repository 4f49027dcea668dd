/**
 * Bench: the CPE's kernel data plane (`--dataplane kernel`: sit + the nft table with prefix NAT
 * and the RFC 3964 checks, the daemon as control plane) against the same sit + nft prefix NAT set
 * up by hand, in one VM run (Debian's kernel under QEMU TCG: test/support/vm.ts;
 * test/vm/kernel-path-bench.vm.ts does the work). Prints TCP and UDP64 for both and their ratio
 * (ours / hand, medians of rounds) and the daemon's own CPU while forwarding. Figures only: TCG
 * makes absolute numbers meaningless, the ratio within one run is what counts.
 *
 *   node out/test/bench/kernel-path.bench.js   (root; PMT_BENCH_ROUNDS, PMT_BENCH_SECONDS)
 */
import { runInVm, vmSkipReason } from "../support/vm.js";

interface Figures {
  tcpMbps: number;
  udp64Pps: number;
  daemonCpuMs: number | null;
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
  const r = await runInVm("node out/test/vm/kernel-path-bench.vm.js", {
    timeoutMs: 1_500_000,
    env: {
      PMT_BENCH_ROUNDS: process.env.PMT_BENCH_ROUNDS ?? "2",
      PMT_BENCH_SECONDS: process.env.PMT_BENCH_SECONDS ?? "5",
    },
  });
  const line = /^RESULT (.*)$/m.exec(r.stdout)?.[1];
  if (!line) {
    console.log(
      `no result (timed out: ${r.timedOut})\n${r.stdout}\n${r.stderr}\n${r.console.slice(-2000)}`,
    );
    return;
  }
  const o = JSON.parse(line) as {
    error?: string;
    seconds: number;
    rounds: { ours: Figures; hand: Figures }[];
  };
  if (o.error) console.log(`error: ${o.error}`);
  const failure = (o as { iperfFailure?: string }).iperfFailure;
  if (failure) console.log(`iperf3 failed:\n${failure.slice(0, 2000)}`);
  for (const [i, x] of o.rounds.entries()) {
    console.log(
      `round ${i + 1}: ours TCP ${x.ours.tcpMbps.toFixed(1)} Mbit/s, UDP64 ${x.ours.udp64Pps.toFixed(0)}/s, ` +
        `daemon CPU ${x.ours.daemonCpuMs} ms in ${2 * o.seconds} s; hand TCP ${x.hand.tcpMbps.toFixed(1)} ` +
        `Mbit/s, UDP64 ${x.hand.udp64Pps.toFixed(0)}/s`,
    );
  }
  if (o.rounds.length > 0) {
    const tcp = median(o.rounds.map((x) => x.ours.tcpMbps / x.hand.tcpMbps));
    const udp = median(o.rounds.map((x) => x.ours.udp64Pps / x.hand.udp64Pps));
    const cpu = median(o.rounds.map((x) => x.ours.daemonCpuMs ?? 0));
    console.log(
      `kernel path / hand-made sit + nft (median of ${o.rounds.length}): TCP ${tcp.toFixed(3)}, ` +
        `UDP64 ${udp.toFixed(3)}; daemon CPU while forwarding ${cpu} ms over ${2 * o.seconds} s ` +
        `(wall ${(r.wallMs / 1000).toFixed(0)} s, VM, TCG)`,
    );
  }
}

void main();
