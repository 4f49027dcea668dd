/**
 * Logging: one line per event on stderr, naming the object and the value
 * (`prefix 2002:c000:201::/48 not advertised: lifetime 0`). Levels follow the `log_level` option.
 */

export type LogLevel = "error" | "warn" | "info" | "debug";

export const LOG_LEVELS: readonly LogLevel[] = ["error", "warn", "info", "debug"];

export interface Logger {
  readonly level: LogLevel;
  error(message: string): void;
  warn(message: string): void;
  info(message: string): void;
  debug(message: string): void;
  /** True when `level` messages are written (guard expensive message building with it). */
  enabled(level: LogLevel): boolean;
}

/** Where lines go; tests pass an array sink. */
export type LogSink = (line: string) => void;

const stderrSink: LogSink = (line) => {
  process.stderr.write(line + "\n");
};

/**
 * Creates a logger writing `<iso-time> <level> <tag>: <message>` lines for messages at `level` or
 * more severe. Newlines inside a message are replaced so each event stays one line.
 */
export function createLogger(
  level: LogLevel = "info",
  tag = "6to4-pmt",
  sink = stderrSink,
): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const write = (lvl: LogLevel, message: string): void => {
    if (LOG_LEVELS.indexOf(lvl) > threshold) return;
    sink(`${new Date().toISOString()} ${lvl} ${tag}: ${message.replace(/[\r\n]+/g, " ")}`);
  };
  return {
    level,
    error: (m) => write("error", m),
    warn: (m) => write("warn", m),
    info: (m) => write("info", m),
    debug: (m) => write("debug", m),
    enabled: (lvl) => LOG_LEVELS.indexOf(lvl) <= threshold,
  };
}

/** A logger that drops everything (unit tests). */
export const silentLogger: Logger = {
  level: "error",
  error: () => undefined,
  warn: () => undefined,
  info: () => undefined,
  debug: () => undefined,
  enabled: () => false,
};
