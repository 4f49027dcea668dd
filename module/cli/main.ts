/**
 * `6to4-pmt` entry point (the rollup bundle's input): dispatch on the subcommand.
 *
 * Flow: global flags (`--help`, `--version`) -> look the subcommand up in SUBCOMMANDS -> run it
 * with the remaining arguments -> exit with its code. A ConfigError (or an impossible PMT mapping)
 * anywhere prints `6to4-pmt: <message>` (one line) on stderr and exits 2; any other error exits 1
 * (cli/exit-codes.ts). Adding a subcommand = one import and one line in SUBCOMMANDS.
 */
import { asConfigError, ConfigError } from "../config/config-error.js";
import { runLab } from "../lab/lab.js";
import { runCpe } from "./cpe.js";
import { runDerive } from "./derive.js";
import { EXIT_CODES_TEXT, EXIT_OK, EXIT_RUNTIME, EXIT_USAGE } from "./exit-codes.js";
import { runRelay } from "./relay.js";
import { isRelayWorkerData, runRelayWorker } from "./relay-worker.js";
import { isMainThread, workerData } from "node:worker_threads";
import { runStatus } from "./status.js";
import { VERSION } from "./version.js";

export interface Subcommand {
  /** One line for the usage listing. */
  readonly summary: string;
  /** Runs with the arguments after the subcommand; returns (or resolves to) the exit code. */
  readonly run: (args: readonly string[]) => number | Promise<number>;
}

/** The dispatch table, in the order `--help` lists it. */
export const SUBCOMMANDS: Readonly<Record<string, Subcommand>> = {
  cpe: { summary: "run the 6to4(-PMT) CPE daemon (root)", run: runCpe },
  relay: { summary: "run the 6to4-PMT relay daemon (root)", run: runRelay },
  derive: {
    summary: "show the 6to4 and PMT prefixes and the verdict for an IPv4 address",
    run: runDerive,
  },
  status: {
    summary: "show the running CPE daemon's (or, --relay, the relay's) state and counters",
    run: runStatus,
  },
  lab: {
    summary: "build a network-namespace lab (CPE, relay, native host) and test it (root)",
    run: runLab,
  },
};

function usage(): string {
  const names = Object.keys(SUBCOMMANDS);
  const width = Math.max(...names.map((n) => n.length)) + 2;
  const lines = names.map((n) => `  ${n.padEnd(width)}${SUBCOMMANDS[n]!.summary}`);
  return [
    "usage: 6to4-pmt <command> [options]",
    "6to4 Provider Managed Tunnels (RFC 6732): CPE, PMT relay and tools.",
    "",
    "Commands:",
    ...lines,
    "",
    "Global options:",
    "  -h, --help      this text; `6to4-pmt <command> --help` for a command's options",
    "  -V, --version   print the version",
    "",
    EXIT_CODES_TEXT,
  ].join("\n");
}

/**
 * The search path for the programs the daemons run (`ip`), when the environment has none: procd's
 * ujail starts a jailed instance with only its `env` parameters (no PATH), and `ip` (ip-full's
 * /sbin/ip, /usr/sbin/ip) is not on the C library's or libuv's built-in default path.
 */
export const DEFAULT_SEARCH_PATH = "/usr/sbin:/usr/bin:/sbin:/bin";

/** Sets `env.PATH` to DEFAULT_SEARCH_PATH when it is unset or empty; a given PATH is kept. */
export function ensureSearchPath(env: NodeJS.ProcessEnv): void {
  if (env.PATH === undefined || env.PATH === "") env.PATH = DEFAULT_SEARCH_PATH;
}

export interface MainIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: MainIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Runs the CLI with `argv` (without node and the script); resolves with the exit code. */
export async function main(argv: readonly string[], io: MainIo = stdio): Promise<number> {
  ensureSearchPath(process.env);
  try {
    const first = argv[0];
    if (first === undefined) {
      io.err(usage() + "\n");
      return EXIT_USAGE;
    }
    if (first === "-h" || first === "--help" || first === "help") {
      io.out(usage() + "\n");
      return EXIT_OK;
    }
    if (first === "-V" || first === "--version") {
      io.out(`6to4-pmt ${VERSION}\n`);
      return EXIT_OK;
    }
    if (first.startsWith("-")) {
      const name = first.includes("=") ? first.slice(0, first.indexOf("=")) : first;
      throw new ConfigError(`${name}: unknown option`, name);
    }
    const sub = Object.prototype.hasOwnProperty.call(SUBCOMMANDS, first)
      ? SUBCOMMANDS[first]
      : undefined;
    if (sub === undefined) {
      throw new ConfigError(
        `unknown command ${JSON.stringify(first)}: expected one of ${Object.keys(SUBCOMMANDS).join(", ")}`,
        first,
      );
    }
    return await sub.run(argv.slice(1));
  } catch (e) {
    const usageError = asConfigError(e);
    if (usageError !== undefined) {
      io.err(`6to4-pmt: ${usageError.message}\n`);
      return EXIT_USAGE;
    }
    const message = e instanceof Error ? e.message : String(e);
    io.err(`6to4-pmt: ${message.split("\n")[0]}\n`);
    return EXIT_RUNTIME;
  }
}

// Run only when this file is the program (the bundle, or `node out/module/cli/main.js`), so
// tests can import `main` without side effects. process.exit: stdout/stderr are synchronous on
// Linux (files, pipes, TTYs), and a daemon's stray handle must not keep a finished command alive.
// A relay worker thread runs the bundle as its script (cli/relay-workers.ts): it only serves.
if (require.main === module && isMainThread) {
  void main(process.argv.slice(2)).then((code) => {
    process.exit(code);
  });
}
if (!isMainThread && isRelayWorkerData(workerData)) runRelayWorker(workerData);
