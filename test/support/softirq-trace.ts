/**
 * Softirq time that the kernel ran on given processes' time, traced with bpftrace (bench only).
 *
 * Why the bench wants it: a veth delivers a packet to its peer synchronously, so the next
 * namespace's forwarding, the far end's IP input and socket wake-up run as softirq work on the
 * way out of the sender's syscall, in the sender's context. Kernels built without
 * CONFIG_IRQ_TIME_ACCOUNTING (this VM's: tick-based accounting) charge that time to the sender's
 * utime/stime; kernels with it (Ubuntu's, for one) keep softirq time out of every task's CPU
 * time. On separate machines none of it would be the sender's work. Tracing softirq entry and
 * exit per process gives the same split on any kernel.
 */
import type { NetnsRegistry, NsProcess } from "./netns.js";

/** The bpftrace program: nanoseconds of softirq (all vectors) per traced pid, in @t. */
export function softirqProgram(pids: readonly number[]): string {
  if (pids.length === 0 || pids.some((p) => !Number.isInteger(p) || p <= 0)) {
    throw new RangeError(`softirqProgram: pids must be positive integers, got ${pids.join(",")}`);
  }
  const filter = pids.map((p) => `pid == ${p}`).join(" || ");
  // Keyed by thread: a softirq begins and ends in the context of the thread it interrupted.
  // One map write on entry, one lookup, sum and delete on exit: little added per softirq.
  return [
    `tracepoint:irq:softirq_entry /${filter}/ { @s[tid] = nsecs; }`,
    `tracepoint:irq:softirq_exit /(${filter}) && @s[tid]/ {`,
    "  @t[pid] = sum(nsecs - @s[tid]); delete(@s[tid]);",
    "}",
    "END { clear(@s); }",
  ].join("\n");
}

/** Seconds of softirq per pid from bpftrace's printout of @t (`@t[1234]: 5678` in ns). */
export function parseSoftirqTotals(stdout: string): Map<number, number> {
  const out = new Map<number, number>();
  for (const m of stdout.matchAll(/^@t\[(\d+)\]: (\d+)$/gm)) {
    out.set(Number(m[1]), Number(m[2]) / 1e9);
  }
  return out;
}

export interface SoftirqTrace {
  /** Stops tracing; softirq seconds per pid since the start (0 for a pid that had none). */
  stop(): Promise<Map<number, number>>;
}

/**
 * Starts tracing softirq time on `pids` (bpftrace, run inside namespace `ns` so the registry
 * stops it on cleanup; tracepoints see every namespace). Resolves once the probes are
 * attached, or with undefined when bpftrace is missing or does not attach (reason on stderr).
 */
export async function startSoftirqTrace(
  reg: NetnsRegistry,
  ns: string,
  pids: readonly number[],
): Promise<SoftirqTrace | undefined> {
  // `ip netns exec` mounts a fresh /sys for the namespace, without tracefs: mount it there (in
  // that process's own mount namespace only), then become bpftrace.
  const p: NsProcess = reg.spawn(ns, [
    "sh",
    "-c",
    'mountpoint -q /sys/kernel/tracing || mount -t tracefs tracefs /sys/kernel/tracing; exec bpftrace -e "$0"',
    softirqProgram(pids),
  ]);
  const attached = await reg.waitFor(
    () => /Attaching \d+ probe/.test(p.stdout()) || p.hasExited(),
    30_000,
  );
  if (!attached || p.hasExited()) {
    await reg.stop(p, 2000);
    process.stderr.write(`bench: bpftrace did not start: ${p.stderr().trim().slice(-200)}\n`);
    return undefined;
  }
  return {
    async stop(): Promise<Map<number, number>> {
      await reg.stop(p, 10_000, "SIGINT");
      const totals = parseSoftirqTotals(p.stdout());
      for (const pid of pids) if (!totals.has(pid)) totals.set(pid, 0);
      return totals;
    },
  };
}
