/**
 * Logging: one line per event on stderr (with PMT_LOG_STDOUT=1 in the environment, as the OpenWrt
 * init script sets it: debug/info on stdout, warn/error on stderr, so procd logs them at
 * LOG_INFO and LOG_ERR), naming the object and the value
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
export type LogSink = (line: string, level: LogLevel) => void;

/** stderr, or with `split` debug/info on stdout and warn/error on stderr. */
export function streamSink(split = process.env.PMT_LOG_STDOUT === "1"): LogSink {
  return (line, level) => {
    const out = split && (level === "info" || level === "debug") ? process.stdout : process.stderr;
    out.write(line + "\n");
  };
}

const MS_PER_DAY = 86_400_000;

function pad(n: number, width: number): string {
  return String(n).padStart(width, "0");
}

/**
 * `new Date(ms).toISOString()` by arithmetic (the same text, the same RangeError). V8's
 * toISOString also resolves the local time zone and its display name through ICU on first use
 * (~1 MB of ICU data and code touched per daemon, measured); the log line needs only UTC.
 * Days -> civil date: H. Hinnant, "chrono-Compatible Low-Level Date Algorithms" (civil_from_days).
 */
export function formatIsoUtc(ms: number): string {
  // TimeClip (ECMA-262 §21.4.1.31): NaN/+-Infinity/beyond 8.64e15 invalid, else truncate.
  if (!(Math.abs(ms) <= 8.64e15)) throw new RangeError("Invalid time value");
  const t = Math.trunc(ms) + 0;
  const days = Math.floor(t / MS_PER_DAY);
  const inDay = t - days * MS_PER_DAY;
  const z = days + 719_468;
  const era = Math.floor(z / 146_097);
  const doe = z - era * 146_097;
  const yoe = Math.floor(
    (doe - Math.floor(doe / 1460) + Math.floor(doe / 36_524) - Math.floor(doe / 146_096)) / 365,
  );
  const doy = doe - (365 * yoe + Math.floor(yoe / 4) - Math.floor(yoe / 100));
  const mp = Math.floor((5 * doy + 2) / 153);
  const day = doy - Math.floor((153 * mp + 2) / 5) + 1;
  const month = mp < 10 ? mp + 3 : mp - 9;
  const year = yoe + era * 400 + (month <= 2 ? 1 : 0);
  const y =
    year >= 0 && year <= 9999 ? pad(year, 4) : (year < 0 ? "-" : "+") + pad(Math.abs(year), 6);
  const h = Math.floor(inDay / 3_600_000);
  const mi = Math.floor(inDay / 60_000) % 60;
  const sec = Math.floor(inDay / 1000) % 60;
  return `${y}-${pad(month, 2)}-${pad(day, 2)}T${pad(h, 2)}:${pad(mi, 2)}:${pad(sec, 2)}.${pad(inDay % 1000, 3)}Z`;
}

/**
 * Creates a logger writing `<iso-time> <level> <tag>: <message>` lines for messages at `level` or
 * more severe. Newlines inside a message are replaced so each event stays one line.
 */
export function createLogger(
  level: LogLevel = "info",
  tag = "6to4-pmt",
  sink: LogSink = streamSink(),
): Logger {
  const threshold = LOG_LEVELS.indexOf(level);
  const write = (lvl: LogLevel, message: string): void => {
    if (LOG_LEVELS.indexOf(lvl) > threshold) return;
    sink(`${formatIsoUtc(Date.now())} ${lvl} ${tag}: ${message.replace(/[\r\n]+/g, " ")}`, lvl);
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
