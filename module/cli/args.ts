/**
 * The argv parser of every `6to4-pmt` subcommand (and `6to4-pmt lab`); control plane only.
 *
 * Accepted forms: `--name value`, `--name=value`, `-x value` (a short alias), repeated flags (every
 * value is kept, in order), booleans as bare `--name` / `-x`, `--no-name`, `--name=WORD` or
 * `--name WORD` where WORD is a boolean word (0/1, true/false, ...: the init script passes
 * `--enabled 1`), and `--` to end the options. Everything else is a positional argument. Every
 * error is a one-line ConfigError naming the flag and what is expected, so the CLI prints it and
 * exits 2: `--foo: unknown option`, `--config: expected a JSON config file path`.
 */
import { ConfigError } from "../config/config-error.js";
import { parseBooleanWord } from "../config/parse.js";

export interface FlagSpec {
  /** "string" flags take a value; "boolean" flags take none (or a boolean word). */
  readonly kind: "string" | "boolean";
  /** Single-letter alias, without the dash (`h` for `-h`). */
  readonly short?: string;
  /** "string" flags: what the value is, for the error when it is missing ("a path"). */
  readonly expects?: string;
}

export type FlagSpecs = Readonly<Record<string, FlagSpec>>;

export interface ParsedArgs {
  /** Flag name (without dashes) -> every value given, in order; booleans hold "1" or "0". */
  readonly flags: Map<string, string[]>;
  readonly positionals: string[];
}

export interface ParseOptions {
  /** The message for a flag that is not in the specs (default `<flag>: unknown option`). */
  readonly unknown?: (flag: string) => string;
}

/** Parses `argv` against `specs`. @throws ConfigError naming the offending flag. */
export function parseArgs(
  argv: readonly string[],
  specs: FlagSpecs,
  options: ParseOptions = {},
): ParsedArgs {
  const flags = new Map<string, string[]>();
  const positionals: string[] = [];
  const shorts = new Map<string, string>();
  for (const [name, spec] of Object.entries(specs)) if (spec.short) shorts.set(spec.short, name);
  const has = (name: string): boolean => Object.prototype.hasOwnProperty.call(specs, name);
  const unknown = (flag: string): ConfigError =>
    new ConfigError(options.unknown?.(flag) ?? `${flag}: unknown option`, flag);

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
      if (long === undefined) throw unknown(arg);
      name = long;
    }
    const flag = arg.startsWith("--") ? `--${name}` : arg;
    if (!has(name) && name.startsWith("no-") && inline === undefined) {
      const positive = name.slice(3);
      if (has(positive) && specs[positive]!.kind === "boolean") {
        add(positive, "0");
        continue;
      }
    }
    if (!has(name) || name === "") throw unknown(flag);
    const spec = specs[name]!;
    if (spec.kind === "boolean") {
      let word = inline;
      if (word === undefined) {
        const next = argv[i + 1];
        if (next !== undefined && parseBooleanWord(next) !== undefined) {
          word = next;
          i++;
        }
      }
      const on = word === undefined ? true : parseBooleanWord(word);
      if (on === undefined) {
        throw new ConfigError(`${flag}: expected 0 or 1, got ${JSON.stringify(word)}`, flag);
      }
      add(name, on ? "1" : "0");
      continue;
    }
    if (inline !== undefined) {
      add(name, inline);
      continue;
    }
    const next = argv[i + 1];
    if (next === undefined) {
      throw new ConfigError(`${flag}: expected ${spec.expects ?? "a value"}`, flag);
    }
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

/** @throws ConfigError when a command that takes no positional argument was given one. */
export function noPositionals(args: ParsedArgs, hint: string): void {
  const extra = args.positionals[0];
  if (extra !== undefined) {
    throw new ConfigError(`unexpected argument ${JSON.stringify(extra)}: ${hint}`, extra);
  }
}
