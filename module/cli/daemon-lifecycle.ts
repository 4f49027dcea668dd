/**
 * A daemon's life after start-up: the data plane built over its opened ports, running until
 * SIGTERM/SIGINT (exit 0) or a port that disappears (exit 1); SIGUSR1 logs the counters line.
 */
import { performance } from "node:perf_hooks";
import type { CountersSnapshot } from "../dataplane/counters.js";
import type { DaemonOptions, DataplaneDaemon } from "../dataplane/daemon.js";
import type { Ipv4RawSocket, TunDevice } from "../io/ports.js";
import type { Logger } from "../log/logger.js";
import { formatCountersLine } from "./counters-line.js";
import { EXIT_OK, EXIT_RUNTIME } from "./exit-codes.js";
import { heapHousekeeping } from "./heap-housekeeping.js";
import { memoryFigures } from "./memory-figures.js";

/**
 * Installs SIGTERM/SIGINT (stop, resolve with exit 0) and SIGUSR1 (log counters) handlers, and
 * the heap housekeeping (heapHousekeeping); returns a promise resolved with the exit code when
 * the daemon should exit, and a function that resolves it early (fatal error).
 */
function waitForExit(
  log: Logger,
  counters: () => CountersSnapshot,
): { done: Promise<number>; exit: (code: number) => void } {
  let resolve!: (code: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  let finished = false;
  const onStop = (sig: NodeJS.Signals): void => {
    log.info(`${sig} received: stopping`);
    exit(EXIT_OK);
  };
  const onUsr1 = (): void => log.info(formatCountersLine(counters(), memoryFigures()));
  const stopHousekeeping = heapHousekeeping();
  const exit = (code: number): void => {
    if (finished) return;
    finished = true;
    stopHousekeeping();
    process.removeListener("SIGTERM", onStop);
    process.removeListener("SIGINT", onStop);
    process.removeListener("SIGUSR1", onUsr1);
    resolve(code);
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGUSR1", onUsr1);
  return { done, exit };
}

/**
 * Builds the data plane over the opened ports (clock: performance.now) together with its exit
 * wait (`waitForExit`): a port that disappears logs `stopping: <message>` and exits EXIT_RUNTIME.
 */
export function createDaemon<S, D extends DataplaneDaemon<S>>(
  Daemon: new (options: DaemonOptions<S>) => D,
  ports: { tun: TunDevice; raw: Ipv4RawSocket },
  state: S,
  log: Logger,
): { daemon: D; exiting: { done: Promise<number>; exit: (code: number) => void } } {
  const daemon = new Daemon({
    tun: ports.tun,
    raw: ports.raw,
    state,
    log,
    now: () => performance.now(),
    onFatal: (err) => {
      log.error(`stopping: ${err.message}`);
      exiting.exit(EXIT_RUNTIME);
    },
  });
  const exiting = waitForExit(log, () => daemon.counters());
  return { daemon, exiting };
}
