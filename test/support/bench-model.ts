/**
 * What the bench's namespaces model (bench only): BENCH_MODEL.
 *
 * `machines` (the default): the LAN host, the CPE, the carrier network, the relay and the server
 * are separate machines, as deployed. Every process the bench starts runs as SCHED_BATCH (no
 * wakeup preemption between what would be separate machines: support/bench-sched.ts), and every
 * veth receives in its own NAPI thread, as a NIC's receive runs on the machine that owns it
 * (support/bench-napi.ts). The kernel then charges each daemon its own work, which is what issue
 * 3's CPU target ("CPU time of the daemon over packets produced") measures.
 *
 * `veth`: the veths as Linux makes them and SCHED_NORMAL. A veth hands a packet to its peer
 * through the sending CPU's backlog, so the next namespaces' forwarding and the far end's socket
 * delivery run on the way out of the sender's syscall and, on a kernel without
 * CONFIG_IRQ_TIME_ACCOUNTING, are charged to the sender: the CPE then pays the carrier network's
 * forwarding of every packet it sends. The bench's softirq trace (`own`) shows that share.
 *
 * BENCH_SCHED and BENCH_NAPI, when set, override the model's choice of either.
 */
import { parseBenchNapi, type BenchNapi } from "./bench-napi.js";
import { parseBenchSched, type BenchSched } from "./bench-sched.js";

export type BenchModel = "machines" | "veth";

export interface BenchSettings {
  model: BenchModel;
  sched: BenchSched;
  napi: BenchNapi;
}

/** BENCH_MODEL: unset or "machines" -> machines, "veth"; anything else throws one line. */
export function parseBenchModel(v: string | undefined): BenchModel {
  if (v === undefined || v === "" || v === "machines") return "machines";
  if (v === "veth") return "veth";
  throw new RangeError(`BENCH_MODEL: expected machines or veth, got ${JSON.stringify(v)}`);
}

/** The bench's settings from its environment: the model, then BENCH_SCHED / BENCH_NAPI over it. */
export function benchSettings(env: Record<string, string | undefined>): BenchSettings {
  const model = parseBenchModel(env.BENCH_MODEL);
  const machines = model === "machines";
  return {
    model,
    sched: parseBenchSched(env.BENCH_SCHED, machines ? "batch" : "normal"),
    napi: parseBenchNapi(env.BENCH_NAPI, machines ? "threaded" : "softirq"),
  };
}

/** One line naming the model and what it set, for the bench's output. */
export function describeSettings(s: BenchSettings): string {
  const what =
    s.model === "machines"
      ? "separate machines (BENCH_MODEL=veth: veth defaults, every namespace's receive work on its sender's time)"
      : "veth defaults (BENCH_MODEL=machines: separate machines)";
  return `model: ${what}; scheduling ${s.sched === "batch" ? "SCHED_BATCH" : "SCHED_NORMAL"}, receive work ${s.napi === "threaded" ? "in NAPI threads" : "in softirq"}`;
}
