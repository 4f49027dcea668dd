import { PmtMappingError } from "../addr/pmt-mapping.js";

/**
 * A configuration or command-line error: the message is ONE line naming the option and what is
 * expected, e.g. `--provider-prefix: expected an IPv6 prefix P/L with 16 <= L <= 32, got "…"`.
 * The CLI prints `6to4-pmt: <message>` to stderr and exits 2 (usage/config error).
 */
export class ConfigError extends Error {
  /** The option the message is about (`--sla`, `provider_prefix`, …), when there is one. */
  readonly option: string | undefined;

  constructor(message: string, option?: string) {
    // One line, whatever the caller passed: newlines would break log parsing and the CLI contract.
    super(message.replace(/[\r\n]+/g, " "));
    this.name = "ConfigError";
    this.option = option;
  }
}

/** Builds the conventional `<option>: expected <what>, got "<value>"` error. */
export function configExpected(option: string, expected: string, got: unknown): ConfigError {
  return new ConfigError(
    `${option}: expected ${expected}, got ${JSON.stringify(String(got))}`,
    option,
  );
}

/**
 * The ConfigError that `e` stands for: `e` itself, or the same message and option for an
 * impossible PMT mapping (addr/pmt-mapping.ts, which sits below config/ and throws its own type);
 * undefined for any other error.
 */
export function asConfigError(e: unknown): ConfigError | undefined {
  if (e instanceof ConfigError) return e;
  if (e instanceof PmtMappingError) return new ConfigError(e.message, e.option);
  return undefined;
}
