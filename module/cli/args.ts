/**
 * A tiny argv parser for the `6to4-pmt` subcommands (control plane only).
 *
 * Accepted forms: `--name value`, `--name=value`, repeated flags (every value is kept, in order),
 * boolean flags as bare `--name`, `--no-name`, or `--name=0|1|true|false`, short aliases (`-h`),
 * and `--` to end the options. Everything else is a positional argument. An unknown flag throws
 * ConfigError("unknown option --foo"); a missing or malformed value throws a ConfigError that
 * names the flag, so the CLI can print one line and exit 2.
 */
import { ConfigError } from "../config/config-error.js";

export interface FlagSpec {
  /** "string" flags take a value; "boolean" flags take none (or 0/1 after `=`). */
  readonly kind: "string" | "boolean";
  /** Single-letter alias, without the dash (`h` for `-h`). */
  readonly short?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export interface ParsedArgs {
  /** Flag name (without dashes) -> every value given, in order; booleans hold "1" or "0". */
  readonly flags: Map<string, string[]>;
  readonly positionals: string[];
}

const TRUE_WORDS = new Set(["1", "true", "yes", "on"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off"]);

/** Parses `argv` against `specs`. @throws ConfigError naming the offending flag. */
export function parseArgs(argv: readonly string[], specs: FlagSpecs): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) shorts.set(spec.short, name);

  const add = (name: string, value: string): void => {
    const list = flags.get(name);
    if (list === undefined) flags.set(name, [value]);
    else list.push(value);
  };

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      positionals.push(...argv.slice(i + 1));
      break;
    }
    if (arg === "-" || !arg.startsWith("-")) {
      positionals.push(arg);
      continue;
    }
    let name: string;
    let inline: string | undefined;
    if (arg.startsWith("--")) {
      const eq = arg.indexOf("=");
      name = eq < 0 ? arg.slice(2) : arg.slice(2, eq);
      inline = eq < 0 ? undefined : arg.slice(eq + 1);
    } else {
      const long = arg.length === 2 ? shorts.get(arg.slice(1)) : undefined;
      if (long === undefined) throw new ConfigError(`unknown option ${arg}`, arg);
      name = long;
    }
    let spec = specs[name];
    if (spec === undefined && name.startsWith("no-") && inline === undefined) {
      const positive = name.slice(3);
      if (specs[positive]?.kind === "boolean") {
        add(positive, "0");
        continue;
      }
    }
    if (spec === undefined || name === "") {
      throw new ConfigError(`unknown option --${name}`, `--${name}`);
    }
    if (spec.kind === "boolean") {
      if (inline === undefined) add(name, "1");
      else if (TRUE_WORDS.has(inline.toLowerCase())) add(name, "1");
      else if (FALSE_WORDS.has(inline.toLowerCase())) add(name, "0");
      else {
        throw new ConfigError(
          `--${name}: expected 0 or 1, got ${JSON.stringify(inline)}`,
          `--${name}`,
        );
      }
      continue;
    }
    if (inline !== undefined) {
      add(name, inline);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined) throw new ConfigError(`--${name}: expected a value`, `--${name}`);
    add(name, next);
    i++;
  }
  return { flags, positionals };
}

/** The last value of a flag (a repeated single-valued flag: the last one wins), or undefined. */
export function lastValue(args: ParsedArgs, name: string): string | undefined {
  const list = args.flags.get(name);
  return list === undefined ? undefined : list[list.length - 1];
}

/** Whether a boolean flag is on (last occurrence wins; absent = false). */
export function flagOn(args: ParsedArgs, name: string): boolean {
  return lastValue(args, name) === "1";
}
