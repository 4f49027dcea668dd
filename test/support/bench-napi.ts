/**
 * Where the bench's receive work runs (bench only): BENCH_NAPI.
 *
 * Why: a veth normally hands a packet to its peer through the per-CPU backlog, and the softirq
 * that drains it runs on the way out of the sender's syscall. So the next namespace's
 * forwarding and the far end's socket delivery are charged to the process that sent (this VM's
 * kernel has no CONFIG_IRQ_TIME_ACCOUNTING). `threaded` models separate machines instead: every
 * veth of the bench receives through NAPI in its own kernel thread (`/sys/class/net/<dev>/threaded`),
 * as a NIC's receive runs on the machine that owns it, and the kernel charges that work to the
 * thread. veth uses NAPI only with GRO on, and only for packets from a sender without TSO
 * (veth_skb_is_eligible_for_gro), so both ends get `gro on tso off` (GSO stays on: a TCP
 * sender still hands over 64 KB, and the kernel cuts it in software on the sender's time).
 * The NAPI threads run under the bench's scheduling policy (BENCH_SCHED), like every other
 * process the bench starts.
 */

import { spawnSync } from "node:child_process";

export type BenchNapi = "softirq" | "threaded";

/** BENCH_NAPI: unset -> `dflt` (the model's: support/bench-model.ts), "softirq" (veth defaults),
 * "threaded"; anything else throws one line. */
export function parseBenchNapi(v: string | undefined, dflt: BenchNapi = "softirq"): BenchNapi {
  if (v === undefined || v === "") return dflt;
  if (v === "softirq") return "softirq";
  if (v === "threaded") return "threaded";
  throw new RangeError(`BENCH_NAPI: expected softirq or threaded, got ${JSON.stringify(v)}`);
}

/** Device names from `ip -o link show type veth` (`5: wan0@if4: <...> ...`, one per line). */
export function vethNames(ipLinkOneline: string): string[] {
  return [...ipLinkOneline.matchAll(/^\d+: ([^:@\s]+)[@:]/gm)].map((m) => m[1]!);
}

/** Pids of NAPI kernel threads (`napi/<dev>-<id>`) in `ps -eo pid=,comm=` output. */
export function napiThreadPids(psOutput: string): number[] {
  return [...psOutput.matchAll(/^\s*(\d+) napi\/\S+$/gm)].map((m) => Number(m[1]));
}

/**
 * Commands (argv, run in the namespace with `ip netns exec <ns>`) that make `dev` receive in
 * its own NAPI thread.
 */
export function threadedNapiCommands(dev: string): string[][] {
  if (!/^[A-Za-z0-9_.-]{1,15}$/.test(dev))
    throw new RangeError(`bad device name ${JSON.stringify(dev)}`);
  return [
    ["ethtool", "-K", dev, "gro", "on", "tso", "off"],
    ["sh", "-c", `echo 1 > /sys/class/net/${dev}/threaded`],
  ];
}

/** Pids of the NAPI kernel threads running now. */
export function napiThreads(): number[] {
  return napiThreadPids(spawnSync("ps", ["-eo", "pid=,comm="], { encoding: "utf8" }).stdout);
}

/**
 * Runs `threadedNapiCommands(dev)` through `run` (which runs argv in the device's namespace and
 * throws on failure) and returns the NAPI threads that appeared.
 */
export function threadNapi(run: (argv: string[]) => void, dev: string): number[] {
  const before = new Set(napiThreads());
  for (const argv of threadedNapiCommands(dev)) run(argv);
  return napiThreads().filter((p) => !before.has(p));
}
