/**
 * Waits for a server to listen (ss in its namespace) instead of giving it a fixed time to start.
 */
import type { NetnsRegistry } from "./netns.js";

/**
 * Waits until a socket of `proto` listens on `port` in `ns` (`ss -l`; bounded by `timeoutMs`);
 * throws if none did.
 */
export async function waitListening(
  reg: NetnsRegistry,
  ns: string,
  proto: "tcp" | "udp",
  port: number,
  timeoutMs = 15_000,
): Promise<void> {
  const flags = proto === "tcp" ? "-Hltn" : "-Hlun";
  const listening = (): boolean =>
    reg.exec(ns, ["ss", flags, `sport = :${port}`]).stdout.trim() !== "";
  if (!(await reg.waitFor(listening, timeoutMs, 20))) {
    throw new Error(`nothing listens on ${proto} port ${port} in ${ns} after ${timeoutMs} ms`);
  }
}

/** waitListening for TCP. */
export function waitTcpListening(
  reg: NetnsRegistry,
  ns: string,
  port: number,
  timeoutMs = 15_000,
): Promise<void> {
  return waitListening(reg, ns, "tcp", port, timeoutMs);
}
