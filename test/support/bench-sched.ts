/**
 * Scheduling policy of the bench's processes and their context switches (bench only).
 *
 * Why: the bench puts on one 2-core machine what would be separate machines (the LAN host, the
 * CPE, the relay, the server). Under SCHED_NORMAL a process woken by a packet preempts the one
 * that sent it (wakeup preemption), so the CPE and the relay, which feed each other through the
 * veths, take turns packet by packet: the relay wakes, reads a few packets, sleeps, and the CPE
 * is switched out in the middle of its `sendmmsg` each time. Separate machines never preempt one
 * another. `BENCH_SCHED=batch` runs every process the bench starts (iperf3, Tayga, the daemons)
 * as SCHED_BATCH, which the kernel never lets preempt on wakeup. It is the default of the bench's
 * separate-machines model (support/bench-model.ts); the daemons keep SCHED_NORMAL when deployed. The context switches per packet show how much turn-taking a run had.
 */

export type BenchSched = "normal" | "batch";

/** BENCH_SCHED: unset -> `dflt` (the model's: support/bench-model.ts), "normal", "batch";
 * anything else throws one line. */
export function parseBenchSched(v: string | undefined, dflt: BenchSched = "normal"): BenchSched {
  if (v === undefined || v === "") return dflt;
  if (v === "normal") return "normal";
  if (v === "batch") return "batch";
  throw new RangeError(`BENCH_SCHED: expected normal or batch, got ${JSON.stringify(v)}`);
}

/** Prefix for a command started under `policy` (util-linux chrt; priority 0 for batch). */
export function schedPrefix(policy: BenchSched): string[] {
  return policy === "batch" ? ["chrt", "--batch", "0"] : [];
}

/** `chrt` arguments that set `policy` on every thread of a running process (none for normal). */
export function schedSetArgs(policy: BenchSched, pid: number): string[] | undefined {
  if (!Number.isInteger(pid) || pid <= 0) throw new RangeError(`schedSetArgs: bad pid ${pid}`);
  return policy === "batch"
    ? ["chrt", "--all-tasks", "--batch", "--pid", "0", String(pid)]
    : undefined;
}

/** [voluntary, involuntary] context switches from the text of /proc/<pid>/status. */
export function parseCtxSwitches(status: string): [number, number] {
  const v = /^voluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  const n = /^nonvoluntary_ctxt_switches:\s+(\d+)$/m.exec(status);
  if (v === null || n === null) throw new Error("no ctxt_switches lines in /proc/<pid>/status");
  return [Number(v[1]), Number(n[1])];
}
