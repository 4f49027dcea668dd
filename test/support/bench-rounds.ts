/**
 * Rounds of the bench (bench only): BENCH_ROUNDS and the figures over them.
 *
 * Why: this VM's speed swings by up to 2× within minutes (other tenants), so one pass of the three
 * setups can land ours, or Tayga, in a slow spell. `npm run bench` runs the whole sequence
 * (kernel, Tayga, ours) in each round, so slow spells fall on all three alike, prints each
 * round, and reports every figure as its median over the rounds; memory is reported from the
 * worst round, since a median would hide a leak.
 */

export const DEFAULT_BENCH_ROUNDS = 3;
export const MAX_BENCH_ROUNDS = 10;

/** BENCH_ROUNDS: unset -> 3, else an integer from 1 to 10; anything else throws one line. */
export function parseBenchRounds(v: string | undefined): number {
  if (v === undefined || v === "") return DEFAULT_BENCH_ROUNDS;
  const n = /^\d+$/.test(v) ? Number(v) : NaN;
  if (!(n >= 1 && n <= MAX_BENCH_ROUNDS)) {
    throw new RangeError(
      `BENCH_ROUNDS: expected an integer from 1 to ${MAX_BENCH_ROUNDS}, got ${JSON.stringify(v)}`,
    );
  }
  return n;
}

/** Median of the finite numbers (mean of the middle two for an even count); NaN when none. */
export function median(values: readonly number[]): number {
  const xs = values.filter((x) => Number.isFinite(x)).sort((a, b) => a - b);
  if (xs.length === 0) return NaN;
  const mid = xs.length >> 1;
  return xs.length % 2 === 1 ? xs[mid]! : (xs[mid - 1]! + xs[mid]!) / 2;
}

/**
 * Figure by figure median of objects of one shape (numbers, arrays of them, records of them,
 * nested): each number is the median of the numbers at that place over all objects. Places that
 * hold no number in any object (strings, null) keep the first object's value; a place missing
 * from some objects takes the median of those that have it.
 */
export function medianOf<T>(objects: readonly T[]): T {
  if (objects.length === 0) throw new RangeError("medianOf: no objects");
  const first = objects[0] as unknown;
  const nums = objects.filter((o) => typeof o === "number") as unknown as number[];
  if (nums.length > 0) return median(nums) as unknown as T;
  if (Array.isArray(first)) {
    const arrays = objects.filter(Array.isArray) as unknown[][];
    const len = Math.max(...arrays.map((a) => a.length));
    return Array.from({ length: len }, (_, i) =>
      medianOf(arrays.filter((a) => i in a).map((a) => a[i])),
    ) as unknown as T;
  }
  if (first !== null && typeof first === "object") {
    const records = objects.filter(
      (o) => o !== null && typeof o === "object" && !Array.isArray(o),
    ) as Record<string, unknown>[];
    const keys = [...new Set(records.flatMap((r) => Object.keys(r)))];
    return Object.fromEntries(
      keys.map((k) => [k, medianOf(records.filter((r) => k in r).map((r) => r[k]))]),
    ) as T;
  }
  return first as T;
}

/**
 * Per process, the [start, end] pair of the round where `worse` is highest: memory is judged on
 * the worst round, not the median one.
 */
export function worstPairs(
  rounds: readonly Record<string, [number, number]>[],
  worse: (pair: [number, number]) => number,
): Record<string, [number, number]> {
  const out: Record<string, [number, number]> = {};
  for (const r of rounds) {
    for (const [k, pair] of Object.entries(r)) {
      const cur = out[k];
      if (cur === undefined || worse(pair) > worse(cur)) out[k] = pair;
    }
  }
  return out;
}
