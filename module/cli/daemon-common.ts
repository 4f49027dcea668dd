/**
 * What `6to4-pmt cpe` and `6to4-pmt relay` share: argv -> option flags, kernel address/route
 * set-up through `ip` (control plane, at start and stop only; never on the hot path), signal
 * handling, and the counters line printed on SIGUSR1.
 */
import { spawnSync } from "node:child_process";
import { readFileSync, writeFileSync } from "node:fs";
import { performance } from "node:perf_hooks";
import { isOptionFlag } from "../config/parse.js";
import type { Role } from "../config/schema.js";
import { ConfigError } from "../config/config-error.js";
import type { CountersSnapshot } from "../dataplane/counters.js";
import type { DaemonOptions, DataplaneDaemon } from "../dataplane/daemon.js";
import { openIpv4Raw, openTun, type Ipv4RawOptions } from "../io/linux.js";
import type { Ipv4RawSocket, TunDevice } from "../io/ports.js";
import type { Logger } from "../log/logger.js";

/** Exit codes (CONTRACTS.md). */
export const EXIT_OK = 0;
export const EXIT_RUNTIME = 1;
export const EXIT_USAGE = 2;
export const EXIT_NOT_ROOT = 3;
export const EXIT_INIT = 4;

/**
 * TUN transmit queue (packets the kernel holds for the daemon to read). The Linux default, 500,
 * overflows under a TCP burst while the daemon is busy with a batch: in the lab a 5 s iperf3 run
 * lost 44 000 packets there (as many TCP retransmissions); 1000 still lost about 0.2 %, 2000 none.
 * Worst case 2000 full-size packets (about 5 MB) queued for a moment. A tunable, not an RFC value.
 */
export const TUN_TX_QUEUE_PACKETS = 2000;

export interface DaemonArgs {
  flags: Map<string, string[]>;
  configPath: string | undefined;
  help: boolean;
}

/**
 * Splits argv into option flags (`--x v`, `--x=v`, bare `--x` / `--no-x` for booleans, repeated
 * flags accumulate for lists) and the CLI's own `--config FILE` / `-c FILE`, `-l LEVEL`, `-f` and
 * `--help`.
 * @throws ConfigError for a flag that is not an option of `role`.
 */
export function parseDaemonArgs(role: Role, args: readonly string[]): DaemonArgs {
  const flags = new Map<string, string[]>();
  let configPath: string | undefined;
  let help = false;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "-h" || a === "--help") {
      help = true;
      continue;
    }
    if (a === "--config" || a === "-c") {
      const v = args[++i];
      if (v === undefined) throw new ConfigError(`${a}: expected a JSON config file path`, a);
      configPath = v;
      continue;
    }
    // odhcpd-style short flags: -l <level> = --log-level, -f = log to stderr (always the case).
    if (a === "-f") continue;
    if (a === "-l") {
      const v = args[++i];
      if (v === undefined) throw new ConfigError(`-l: expected a log level`, "-l");
      flags.set("log-level", [v]);
      continue;
    }
    if (a.startsWith("--config=")) {
      configPath = a.slice("--config=".length);
      continue;
    }
    if (!a.startsWith("--")) {
      throw new ConfigError(`unexpected argument "${a}": options are --name value`, a);
    }
    const eq = a.indexOf("=");
    const name = eq < 0 ? a.slice(2) : a.slice(2, eq);
    if (!isOptionFlag(role, name)) {
      // Let parse.ts produce its precise message (unknown, or an option of the other role).
      flags.set(name, eq < 0 ? [] : [a.slice(eq + 1)]);
      continue;
    }
    let values = flags.get(name);
    if (values === undefined) {
      values = [];
      flags.set(name, values);
    }
    if (eq >= 0) {
      values.push(...splitList(a.slice(eq + 1)));
    } else {
      const next = args[i + 1];
      if (next !== undefined && !next.startsWith("--")) {
        values.push(...splitList(next));
        i++;
      }
    }
  }
  return { flags, configPath, help };
}

/**
 * Start-up step "options" of both daemons: argv (after the subcommand) -> whatever `load` builds
 * from it. `--help` prints `usage` and gives EXIT_OK; a ConfigError (from the argv or from `load`)
 * prints `6to4-pmt: <message>` and gives EXIT_USAGE. Returns the loaded value or the exit code.
 */
export function loadDaemonConfig<T extends object>(
  role: Role,
  args: readonly string[],
  usage: string,
  load: (parsed: DaemonArgs) => T,
): T | number {
  try {
    const parsed = parseDaemonArgs(role, args);
    if (parsed.help) {
      process.stdout.write(usage + "\n");
      return EXIT_OK;
    }
    return load(parsed);
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`6to4-pmt: ${e.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}

/**
 * Root (else EXIT_NOT_ROOT, logged) and `enabled` (else `disabledMessage` as a warning and
 * EXIT_OK); undefined when the daemon may start.
 */
export function refuseToStart(
  log: Logger,
  enabled: boolean,
  disabledMessage: string,
): number | undefined {
  if (!isRoot()) {
    log.error("must run as root (TUN device, raw sockets, routes)");
    return EXIT_NOT_ROOT;
  }
  if (!enabled) {
    log.warn(disabledMessage);
    return EXIT_OK;
  }
  return undefined;
}

/**
 * Opens the daemon's TUN (down, MTU `mtu`, transmit queue TUN_TX_QUEUE_PACKETS) and raw
 * protocol-41 socket; on failure logs `init failed: ...`, closes what was opened and returns
 * undefined (the caller exits EXIT_INIT).
 */
export function openDaemonPorts(
  log: Logger,
  tunName: string,
  mtu: number,
  rawOptions: Ipv4RawOptions,
): { tun: TunDevice; raw: Ipv4RawSocket } | undefined {
  let tun: TunDevice | undefined;
  try {
    tun = openTun({ name: tunName, mtu, txQueueLen: TUN_TX_QUEUE_PACKETS, up: false });
    return { tun, raw: openIpv4Raw(rawOptions) };
  } catch (e) {
    log.error(`init failed: ${(e as Error).message}`);
    tun?.close();
    return undefined;
  }
}

function splitList(v: string): string[] {
  return v.includes(",") ? v.split(",").filter((x) => x !== "") : [v];
}

export function isRoot(): boolean {
  return typeof process.getuid !== "function" || process.getuid() === 0;
}

/** Runs `ip ...` synchronously (control plane); returns "" or the error text. */
export function ip(args: readonly string[]): string {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) return r.error.message;
  return r.status === 0 ? "" : (r.stderr || `exit ${r.status}`).trim();
}

/** The MTU of a network device from sysfs, or undefined. */
export function deviceMtu(dev: string | null): number | undefined {
  if (dev === null || !/^[A-Za-z0-9_.@-]{1,15}$/.test(dev)) return undefined;
  try {
    const n = Number(readFileSync(`/sys/class/net/${dev}/mtu`, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The first global IPv4 address on `dev` (`ip -4 -o addr show dev`), as text, or undefined. */
export function deviceIpv4(dev: string | null): string | undefined {
  if (dev === null) return undefined;
  const r = spawnSync("ip", ["-4", "-o", "addr", "show", "dev", dev, "scope", "global"], {
    encoding: "utf8",
    timeout: 10_000,
  });
  if (r.status !== 0) return undefined;
  return /inet (\d+\.\d+\.\d+\.\d+)\//.exec(r.stdout)?.[1];
}

/**
 * Kernel state a daemon installs at start and removes at stop (in reverse order): addresses and
 * routes on its TUN. A failure to add is logged and the undo skipped; removal never throws.
 */
export class KernelSetup {
  private readonly undo: (readonly string[])[] = [];

  constructor(private readonly log: Logger) {}

  /** `ip <add...>`; on success remembers `ip <del...>`. Returns false (logged) on failure. */
  apply(add: readonly string[], del: readonly string[]): boolean {
    const err = ip(add);
    if (err !== "") {
      this.log.warn(`ip ${add.join(" ")} failed: ${err}`);
      return false;
    }
    this.log.info(`ip ${add.join(" ")}`);
    this.undo.push(del);
    return true;
  }

  /** The address `addr`/128 on `dev`; busybox `ip` (OpenWrt without ip-full) has no "nodad": retry without it. */
  addAddress128(addr: string, dev: string): boolean {
    const del = ["-6", "addr", "del", `${addr}/128`, "dev", dev];
    return (
      this.apply(["-6", "addr", "add", `${addr}/128`, "dev", dev, "nodad"], del) ||
      this.apply(["-6", "addr", "add", `${addr}/128`, "dev", dev], del)
    );
  }

  /** `ip -6 route add <prefix> dev <dev>` (removed again by `revert`). */
  addRoute(prefix: string, dev: string): boolean {
    return this.apply(
      ["-6", "route", "add", prefix, "dev", dev],
      ["-6", "route", "del", prefix, "dev", dev],
    );
  }

  /** Removes everything added, newest first. */
  revert(): void {
    for (const del of this.undo.splice(0).reverse()) {
      const err = ip(del);
      // The TUN may already be gone (its routes and addresses went with it): not an error.
      if (err !== "" && !/Cannot find device|No such process|does not exist/.test(err)) {
        this.log.warn(`ip ${del.join(" ")} failed: ${err}`);
      }
    }
  }
}

/** The process's memory in KiB: RSS, and V8's heap (used, reserved) and memory outside it. */
export interface MemoryFigures {
  rss_kb: number;
  heap_used_kb: number;
  heap_total_kb: number;
  external_kb: number;
}

/** This process's MemoryFigures now (process.memoryUsage; not for the hot path). */
export function memoryFigures(): MemoryFigures {
  const m = process.memoryUsage();
  const kb = (n: number): number => Math.round(n / 1024);
  return {
    rss_kb: kb(m.rss),
    heap_used_kb: kb(m.heapUsed),
    heap_total_kb: kb(m.heapTotal),
    external_kb: kb(m.external),
  };
}

/**
 * One line: `counters {"traffic":{...},"drops":{...}[,"offload":{...}][,"memory":{...}]}`
 * (non-zero drops only).
 */
export function formatCountersLine(s: CountersSnapshot, memory?: MemoryFigures): string {
  const drops: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.drops)) if (v !== 0) drops[k] = v;
  const o = s.offload === undefined ? {} : { offload: s.offload };
  const m = memory === undefined ? {} : { memory };
  return `counters ${JSON.stringify({ traffic: s.traffic, drops, ...o, ...m })}`;
}

/** How often a daemon asks V8 for a full collection (heapHousekeeping). */
export const HEAP_HOUSEKEEPING_MS = 10 * 60_000;

type GcFunction = (options: { type: "major"; execution: "async" }) => unknown;

/**
 * Asks V8 for a full collection every `intervalMs` (node's `gc`, exposed by `--expose-gc` in
 * DAEMON_NODE_FLAGS and the OpenWrt launcher; without it this does nothing). Why: the data plane
 * allocates almost nothing, so V8 rarely sees a reason to collect its old generation, while the
 * little that young-generation collections promote (a few KB a minute under load) piles up for
 * many hours until the heap reaches V8's limit (about 15 MB with --optimize-for-size on Node
 * 20, three times what is live). A full collection of the daemon's ~5 MB heap takes 2-4 ms, and
 * it runs as a task of its own ("async"), not inside a batch. Returns the stop function.
 */
export function heapHousekeeping(
  intervalMs = HEAP_HOUSEKEEPING_MS,
  gc: GcFunction | undefined = (globalThis as { gc?: GcFunction }).gc,
): () => void {
  if (typeof gc !== "function") return () => undefined;
  const timer = setInterval(() => void gc({ type: "major", execution: "async" }), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}

/**
 * Installs SIGTERM/SIGINT (stop, resolve with exit 0) and SIGUSR1 (log counters) handlers, and
 * the heap housekeeping (heapHousekeeping);
 * returns a promise resolved with the exit code when the daemon should exit, and a function
 * that resolves it early (fatal error).
 */
export function waitForExit(
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

/**
 * Prepares a freshly opened (down) TUN and brings it up: no link-local address and no Router
 * Solicitations or RAs on it (a 6to4 pseudo-interface has no link layer, RFC 3056 §3.1;
 * RFC 3964 §4.1.1: no ND through the tunnel), so the kernel sends nothing of its own into it.
 */
export function prepareTun(dev: string, log: Logger): void {
  const err = ip(["link", "set", "dev", dev, "addrgenmode", "none"]);
  if (err !== "") log.debug(`tun ${dev}: addrgenmode none: ${err}`);
  for (const [key, value] of [
    ["accept_ra", "0"],
    ["router_solicitations", "0"],
    ["autoconf", "0"],
  ] as const) {
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/${key}`, value);
    } catch (e) {
      log.debug(`tun ${dev}: ${key}=${value}: ${(e as Error).message}`);
    }
  }
  const up = ip(["link", "set", "dev", dev, "up"]);
  if (up !== "") log.warn(`tun ${dev}: link up failed: ${up}`);
}
