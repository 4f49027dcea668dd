/**
 * A daemon's life after start-up: the data plane built over its opened ports, running until
 * SIGTERM/SIGINT (exit 0), a port that disappears or an uncaught error (exit 1); SIGUSR1 logs the
 * counters line.
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

/** What a daemon waits on (`waitForExit`). */
export interface DaemonExit {
  /** Resolves with the exit code once the daemon should stop (first signal, fatal error). */
  readonly done: Promise<number>;
  /** Resolves `done` early (fatal error); later calls are ignored. */
  exit(code: number): void;
  /**
   * Registers a synchronous cleanup for a forced exit (third stop signal, or an error while
   * stopping): files that must not outlive the process (status socket, temporary files).
   */
  onForce(fn: () => void): void;
  /**
   * Cleanup is done (the process exits right after): the exception guard goes; the stop signal
   * handlers stay, so a late signal between here and the exit is still only logged.
   */
  release(): void;
}

/** Stop signals (SIGTERM/SIGINT) after which shutdown is forced instead of waited for. */
const FORCE_AFTER_SIGNALS = 3;

/**
 * Installs SIGTERM/SIGINT (stop, resolve with exit 0) and SIGUSR1 (log counters) handlers, a guard
 * against uncaught exceptions and rejections, and the heap housekeeping (heapHousekeeping).
 *
 * Shutdown is idempotent: the stop handlers stay for the life of the process, so a second
 * SIGTERM/SIGINT while cleanup runs (Ctrl-C twice, `timeout`) is only logged instead of killing
 * the process halfway (a socket, a temporary state file and the kernel state left behind). The
 * third before `release()` forces the exit: the `onForce` cleanups run, then exit EXIT_RUNTIME. An uncaught exception logs one line and
 * stops the daemon through the normal cleanup with EXIT_RUNTIME; one during cleanup forces it.
 */
export function waitForExit(log: Logger, counters: () => CountersSnapshot): DaemonExit {
  let resolve!: (code: number) => void;
  const done = new Promise<number>((r) => (resolve = r));
  let finished = false;
  let released = false;
  let stopSignals = 0;
  const forceCleanups: (() => void)[] = [];
  const force = (why: string): void => {
    log.error(`${why}: forcing the exit`);
    for (const fn of forceCleanups.splice(0)) {
      try {
        fn();
      } catch (e) {
        log.warn(`forced cleanup: ${(e as Error).message}`);
      }
    }
    process.exit(EXIT_RUNTIME);
  };
  const onStop = (sig: NodeJS.Signals): void => {
    stopSignals++;
    if (!finished) {
      log.info(`${sig} received: stopping`);
      exit(EXIT_OK);
    } else if (stopSignals < FORCE_AFTER_SIGNALS || released) {
      log.info(`${sig} received again: already stopping (${FORCE_AFTER_SIGNALS} forces it)`);
    } else {
      force(`${sig} received ${stopSignals} times`);
    }
  };
  const onFatal = (e: unknown): void => {
    const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
    const line = text.split("\n")[0]!;
    if (finished) force(`uncaught error while stopping: ${line}`);
    log.error(`uncaught error: ${line}; stopping`);
    exit(EXIT_RUNTIME);
  };
  const onUsr1 = (): void => {
    try {
      log.info(formatCountersLine(counters(), memoryFigures()));
    } catch (e) {
      log.warn(`counters: ${(e as Error).message}`);
    }
  };
  const stopHousekeeping = heapHousekeeping();
  const exit = (code: number): void => {
    if (finished) return;
    finished = true;
    stopHousekeeping();
    // SIGUSR1 stays too: its default action would end the process in the middle of cleanup.
    resolve(code);
  };
  const release = (): void => {
    if (released) return;
    released = true;
    exit(EXIT_OK);
    forceCleanups.length = 0;
    process.removeListener("uncaughtException", onFatal);
    process.removeListener("unhandledRejection", onFatal);
  };
  process.on("SIGTERM", onStop);
  process.on("SIGINT", onStop);
  process.on("SIGUSR1", onUsr1);
  process.on("uncaughtException", onFatal);
  process.on("unhandledRejection", onFatal);
  return { done, exit, onForce: (fn) => void forceCleanups.push(fn), release };
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
): { daemon: D; exiting: DaemonExit } {
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
