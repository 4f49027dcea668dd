/**
 * Start-up step "options" of both daemons: argv (after `cpe` / `relay`) -> the role's typed
 * config. The flags are the schema's options of the role (config/schema.ts) plus the CLI's own
 * `--config FILE` / `-c FILE`, `-l LEVEL` (= --log-level), `-f` (log to stderr: always the case)
 * and `--help` / `-h`, which prints the usage and every option (cli/option-help.ts).
 * `--check-config` parses and checks everything the daemon would (syntax, values, the mapping,
 * `user`, the files options name), prints one line and exits 0 or 2 without opening a device,
 * socket or lock: a service manager runs it before the daemon (packaging/systemd/).
 */
import { asConfigError } from "../config/config-error.js";
import { expectedValue, notAnOption } from "../config/parse.js";
import { optionsFor, type Role } from "../config/schema.js";
import { flagOn, lastValue, noPositionals, parseArgs, type FlagSpecs } from "./args.js";
import { EXIT_OK, EXIT_USAGE } from "./exit-codes.js";
import { formatOptionHelp } from "./option-help.js";

export interface DaemonArgs {
  /** Option flags (name without dashes -> every value given), as config/parse.ts takes them. */
  flags: Map<string, string[]>;
  configPath: string | undefined;
  help: boolean;
  /** `--check-config`: validate, print one line, exit; touch nothing. */
  checkConfig: boolean;
}

/** The CLI's own flags, besides the schema's options. */
const OWN_FLAGS: FlagSpecs = {
  config: { kind: "string", short: "c", expects: "a JSON config file path" },
  foreground: { kind: "boolean", short: "f" },
  help: { kind: "boolean", short: "h" },
  "check-config": { kind: "boolean" },
};

/** The flags `6to4-pmt <role>` accepts. */
function daemonFlagSpecs(role: Role): FlagSpecs {
  const specs: Record<string, FlagSpecs[string]> = { ...OWN_FLAGS };
  for (const o of optionsFor(role)) {
    const name = o.flag.slice(2);
    specs[name] =
      o.type === "bool"
        ? { kind: "boolean" }
        : {
            kind: "string",
            expects: expectedValue(o),
            ...(name === "log-level" ? { short: "l" } : {}),
          };
  }
  return specs;
}

/** Splits argv into the role's option flags and the CLI's own. @throws ConfigError */
export function parseDaemonArgs(role: Role, args: readonly string[]): DaemonArgs {
  const parsed = parseArgs(args, daemonFlagSpecs(role), {
    unknown: (flag) => `${flag}: ${notAnOption(role, flag)}`,
  });
  noPositionals(parsed, "options are --name value");
  const flags = new Map<string, string[]>();
  for (const [name, values] of parsed.flags) {
    if (!Object.prototype.hasOwnProperty.call(OWN_FLAGS, name)) flags.set(name, values);
  }
  return {
    flags,
    configPath: lastValue(parsed, "config"),
    help: flagOn(parsed, "help"),
    checkConfig: flagOn(parsed, "check-config"),
  };
}

/**
 * argv -> whatever `load` builds from it. `--help` prints `usage` and the role's options and
 * gives EXIT_OK; a ConfigError (from the argv or from `load`) prints `6to4-pmt: <message>` and
 * gives EXIT_USAGE. With `--check-config`, `check` (checks that only read: users, files) runs
 * too and the result is one line, `6to4-pmt <role>: configuration OK (...)` on stdout with
 * EXIT_OK or the error on stderr with EXIT_USAGE. Returns the loaded value or the exit code.
 */
export function loadDaemonConfig<T extends object>(
  role: Role,
  args: readonly string[],
  usage: string,
  load: (parsed: DaemonArgs) => T,
  check: (loaded: T) => string | undefined = () => undefined,
): T | number {
  try {
    const parsed = parseDaemonArgs(role, args);
    if (parsed.help) {
      process.stdout.write(`${usage}\n\n${formatOptionHelp(role)}\n`);
      return EXIT_OK;
    }
    const loaded = load(parsed);
    if (!parsed.checkConfig) return loaded;
    const problem = check(loaded);
    if (problem !== undefined) {
      process.stderr.write(`6to4-pmt: ${problem}\n`);
      return EXIT_USAGE;
    }
    const from = parsed.configPath !== undefined ? parsed.configPath : "command line";
    process.stdout.write(`6to4-pmt ${role}: configuration OK (${from})\n`);
    return EXIT_OK;
  } catch (e) {
    const usageError = asConfigError(e);
    if (usageError !== undefined) {
      process.stderr.write(`6to4-pmt: ${usageError.message}\n`);
      return EXIT_USAGE;
    }
    throw e;
  }
}
