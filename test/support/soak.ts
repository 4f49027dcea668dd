/**
 * Pure pieces of the soak benchmark (test/bench/soak.bench.ts): its settings, and what a series
 * of memory samples of a long-running daemon says about growth. Unit-tested in
 * test/unit/support/soak.test.ts.
 */

/**
 * A whole number of seconds from the environment variable `name` (`raw` its value, unset ->
 * `def`) within [min, max]; otherwise throws one line naming the variable and what it expects.
 */
export function parseSeconds(
  name: string,
  raw: string | undefined,
  def: number,
  min: number,
  max: number,
): number {
  if (raw === undefined || raw === "") return def;
  const n = /^\d+$/.test(raw) ? Number(raw) : NaN;
  if (!Number.isSafeInteger(n) || n < min || n > max) {
    throw new Error(`${name}: expected whole seconds ${min}..${max}, got "${raw}"`);
  }
  return n;
}

/** One sample of a daemon's memory, `t` seconds into the soak. */
export interface MemorySample {
  t: number;
  rssMb: number;
  anonMb: number;
  /** V8 heap in use (the daemon's SIGUSR1 `memory`), MB; NaN when not known. */
  heapUsedMb: number;
}

/** Least-squares slope of v over t (per unit of t); NaN with fewer than two distinct t. */
export function slope(points: readonly { t: number; v: number }[]): number {
  const n = points.length;
  if (n < 2) return NaN;
  let st = 0;
  let sv = 0;
  for (const p of points) {
    st += p.t;
    sv += p.v;
  }
  const mt = st / n;
  const mv = sv / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.t - mt) * (p.v - mv);
    den += (p.t - mt) * (p.t - mt);
  }
  return den === 0 ? NaN : num / den;
}

export interface MemoryVerdict {
  /** Anonymous RSS at the first sample after the warm-up, and at the last, MB. */
  anonAfterWarmupMb: number;
  anonEndMb: number;
  /** anonEnd - anonAfterWarmup, MB. */
  growthMb: number;
  /** Least-squares slope of anonymous RSS over the second half of the samples, MB per hour. */
  slopeMbPerHour: number;
  /** Lowest and highest anonymous RSS from the warm-up on, MB (the young generation's swing). */
  anonMinMb: number;
  anonMaxMb: number;
  /** Highest RSS seen, MB. */
  rssMaxMb: number;
  /**
   * Lowest anonymous RSS in the last third of the samples after the warm-up minus the lowest in
   * the first third, MB: garbage rises and falls with V8's collections, the lows after them stay
   * put unless something is kept.
   */
  floorGrowthMb: number;
  /** The same for the V8 heap in use (NaN without heap figures). */
  heapFloorGrowthMb: number;
  /** floorGrowthMb within `limitMb`. */
  flat: boolean;
}

/** Lowest value in the last third of `v` minus the lowest in its first third; NaN if under 3. */
function floorGrowth(v: readonly number[]): number {
  if (v.length < 3) return NaN;
  const third = Math.floor(v.length / 3);
  return Math.min(...v.slice(v.length - third)) - Math.min(...v.slice(0, third));
}

/**
 * What the samples (in time order) say: growth of anonymous RSS (heap and buffers; the node
 * binary's pages are file-backed and only show what code has run) from the first sample at or
 * after `warmupS` to the last, the slope over the second half, the RSS peak, and how the lows
 * moved (`floorGrowthMb`). `flat` when the lows rose at most `limitMb` (the bench's 1 MB,
 * support/bench-targets.ts); with fewer than three samples after the warm-up, the growth decides.
 */
export function memoryVerdict(
  samples: readonly MemorySample[],
  warmupS: number,
  limitMb: number,
): MemoryVerdict {
  if (samples.length === 0) throw new Error("memoryVerdict: no samples");
  const after = samples.filter((s) => s.t >= warmupS);
  const from = after.length > 0 ? after[0]! : samples[samples.length - 1]!;
  const last = samples[samples.length - 1]!;
  const half = samples.slice(Math.floor(samples.length / 2));
  const perS = slope(half.map((s) => ({ t: s.t, v: s.anonMb })));
  const growthMb = last.anonMb - from.anonMb;
  const settled = samples.slice(samples.indexOf(from));
  const band = settled.map((s) => s.anonMb);
  const floor = floorGrowth(band);
  return {
    anonAfterWarmupMb: from.anonMb,
    anonEndMb: last.anonMb,
    growthMb,
    slopeMbPerHour: perS * 3600,
    anonMinMb: Math.min(...band),
    anonMaxMb: Math.max(...band),
    rssMaxMb: Math.max(...samples.map((s) => s.rssMb)),
    floorGrowthMb: floor,
    heapFloorGrowthMb: floorGrowth(settled.map((s) => s.heapUsedMb)),
    flat: Number.isFinite(floor) ? floor <= limitMb : growthMb <= limitMb,
  };
}
