/**
 * An integer environment variable of a benchmark (BENCH_ROUNDS, BENCH_SECONDS, ...) from `min` to
 * `max`, `dflt` when unset or empty; anything else stops the bench with one line and exit 2.
 */
export function intEnv(name: string, dflt: number, min: number, max: number): number {
  const v = process.env[name];
  if (v === undefined || v === "") return dflt;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= min && n <= max)) {
    process.stderr.write(`${name}: expected an integer from ${min} to ${max}, got ${v}\n`);
    process.exit(2);
  }
  return n;
}
