/**
 * Helpers the benchmarks share (dataplane.bench.ts, soak.bench.ts): a field of
 * /proc/<pid>/status in MB, and a one-shot iperf3 server in a namespace.
 */
import { readFileSync } from "node:fs";
import type { NetnsRegistry, NsProcess } from "./netns.js";
import { waitTcpListening } from "./listening.js";

/** `field` of /proc/<pid>/status (VmRSS, RssAnon, RssFile, all in kB) in MB; NaN if absent. */
export function procStatusMb(pid: number, field = "VmRSS"): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, "m").exec(
    readFileSync(`/proc/${pid}/status`, "utf8"),
  );
  return m === null ? NaN : Number(m[1]) / 1024;
}

/**
 * A one-shot iperf3 server (`-s -1`) on bindAddr:port in `ns`, returned once it listens.
 * `prefix` goes in front of the command (a scheduling policy), `extra` after it (`-J`).
 */
export async function startIperfServer(
  reg: NetnsRegistry,
  ns: string,
  bindAddr: string,
  port: number,
  options: { prefix?: readonly string[]; extra?: readonly string[] } = {},
): Promise<NsProcess> {
  const srv = reg.spawn(ns, [
    ...(options.prefix ?? []),
    "iperf3",
    "-s",
    "-1",
    "-B",
    bindAddr,
    "-p",
    String(port),
    ...(options.extra ?? []),
  ]);
  await waitTcpListening(reg, ns, port);
  return srv;
}
