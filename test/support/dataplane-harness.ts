/**
 * Shared pieces of the data-plane integration tests: start the lab topology with CPE and relay
 * daemons (compiled sources, see daemon-runner.ts), read their counters (SIGUSR1 -> one JSON
 * line), run traffic programs.
 */
import * as path from "node:path";
import type { ExecResult, NetnsRegistry, NsProcess } from "./netns.js";
import {
  buildLabTopology,
  labCpeArgs,
  labRelayArgs,
  spawnDaemon,
  waitDaemonReady,
  type LabOptions,
  type LabTopology,
} from "../../module/lab/topology.js";
import { TCP_SINK_SCRIPT, TCP_SOURCE_SCRIPT } from "../../module/lab/traffic.js";

/** How to run the CLI from out/. */
export function daemonCommand(): string[] {
  return [process.execPath, path.join(__dirname, "daemon-runner.js")];
}

export interface RunningLab {
  t: LabTopology;
  relays: NsProcess[];
  cpes: NsProcess[];
}

/**
 * Builds the topology and starts one relay per relay namespace and one CPE per CPE spec, with
 * `command` (default: the compiled sources; the benches pass the bundle).
 */
export async function startLab(
  reg: NetnsRegistry,
  options: LabOptions,
  relayExtra: (i: number) => string[] = () => [],
  cpeExtra: (i: number) => string[] = () => [],
  command: string[] = daemonCommand(),
): Promise<RunningLab> {
  const t = buildLabTopology(reg, options);
  const relays = t.relays.map((r, i) =>
    spawnDaemon(reg, r.ns, command, labRelayArgs(r, relayExtra(i))),
  );
  const cpes = t.cpes.map((c, i) => spawnDaemon(reg, c.ns, command, labCpeArgs(c, cpeExtra(i))));
  for (const p of [...relays, ...cpes]) {
    if (!(await waitDaemonReady(reg, p))) {
      throw new Error(`daemon in ${p.ns} did not start:\n${p.stderr()}`);
    }
  }
  return { t, relays, cpes };
}

export interface Counters {
  traffic: Record<string, number>;
  drops: Record<string, number>;
  /** TUN offload counters (dataplane/counters.ts OFFLOAD_COUNTER_NAMES), when offload is on. */
  offload?: Record<string, number>;
  /** The daemon's memory in KiB (cli/memory-figures.ts), when it reported it. */
  memory?: Record<string, number>;
}

/** Asks a daemon for its counters (SIGUSR1 -> `counters {json}` on stderr). */
export async function readCounters(reg: NetnsRegistry, p: NsProcess): Promise<Counters> {
  const before = p.stderr().length;
  reg.kill(p, "SIGUSR1");
  const re = /counters (\{.*\})/;
  await reg.waitFor(() => re.test(p.stderr().slice(before)), 3000, 20);
  const m = re.exec(p.stderr().slice(before));
  if (m === null) throw new Error(`no counters from ${p.ns}:\n${p.stderr().slice(-2000)}`);
  const c = JSON.parse(m[1]!) as Counters;
  return { traffic: c.traffic, drops: c.drops ?? {}, offload: c.offload, memory: c.memory };
}

/** Runs a TCP transfer `bytes` from `fromNs` to `[host]:port` served in `toNs`. */
export async function tcpTransfer(
  reg: NetnsRegistry,
  fromNs: string,
  toNs: string,
  host: string,
  port: number,
  bytes: number,
  paceMs = 0,
  during?: () => Promise<void>,
): Promise<{ peer: string; received: number; sent: string }> {
  const sink = reg.spawn(toNs, [
    process.execPath,
    "-e",
    TCP_SINK_SCRIPT,
    host,
    String(port),
    "40000",
  ]);
  await reg.waitFor(() => sink.stdout().includes("listening") || sink.hasExited(), 5000);
  const src = reg.execAsync(
    fromNs,
    [process.execPath, "-e", TCP_SOURCE_SCRIPT, host, String(port), String(bytes), String(paceMs)],
    45000,
  );
  if (during !== undefined) await during();
  const r = await src;
  await reg.waitFor(() => sink.hasExited(), 10000);
  const m = /peer (\S+) bytes (\d+)/.exec(sink.stdout());
  return { peer: m?.[1] ?? "", received: Number(m?.[2] ?? -1), sent: r.stdout.trim() };
}

/** `ping -6` with a bounded count/timeout; resolves with the exit code and output. */
export function ping(
  reg: NetnsRegistry,
  ns: string,
  dst: string,
  extra: string[] = [],
): Promise<{ code: number; stdout: string }> {
  return reg.execAsync(ns, ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", ...extra, dst], 15000);
}

/** A daemon's Prometheus text, fetched from inside `ns` at http://127.0.0.1:`port`/metrics. */
export async function fetchMetrics(reg: NetnsRegistry, ns: string, port: number): Promise<string> {
  const script =
    `require("http").get("http://127.0.0.1:${port}/metrics", (s) => ` +
    `{ let b = ""; s.on("data", (d) => (b += d)); s.on("end", () => console.log(b)); })`;
  return (await reg.execAsync(ns, [process.execPath, "-e", script], 10_000)).stdout;
}

/** Runs `6to4-pmt status --relay --status-socket sock` (and `extra`, e.g. --json) in `ns`. */
export function relayStatusCli(
  reg: NetnsRegistry,
  ns: string,
  sock: string,
  extra: readonly string[] = [],
): Promise<ExecResult> {
  return reg.execAsync(ns, [
    ...daemonCommand(),
    "status",
    ...extra,
    "--relay",
    "--status-socket",
    sock,
  ]);
}
