/** A one-shot iperf3 server in a namespace, for the integration tests and the bench. */
import type { NetnsRegistry, NsProcess } from "./netns.js";
import { waitTcpListening } from "./listening.js";

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
