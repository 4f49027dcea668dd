/** The soak benchmark's settings and memory verdict (support/soak.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { memoryVerdict, parseSeconds, slope } from "../../support/soak.js";

test("parseSeconds: unset or empty -> default; whole seconds within the range", () => {
  assert.equal(parseSeconds("SOAK_SECONDS", undefined, 300, 60, 86400), 300);
  assert.equal(parseSeconds("SOAK_SECONDS", "", 300, 60, 86400), 300);
  assert.equal(parseSeconds("SOAK_SECONDS", "60", 300, 60, 86400), 60);
  assert.equal(parseSeconds("SOAK_SECONDS", "86400", 300, 60, 86400), 86400);
});

test("parseSeconds: anything else stops with one line naming the variable and the range", () => {
  for (const bad of ["59", "86401", "1.5", "-5", "10s", " 60", "1e3", "0x40"]) {
    assert.throws(
      () => parseSeconds("SOAK_SECONDS", bad, 300, 60, 86400),
      (e: Error) =>
        e.message === `SOAK_SECONDS: expected whole seconds 60..86400, got "${bad}"` &&
        !e.message.includes("\n"),
      bad,
    );
  }
});

test("slope: least squares through noisy points; NaN without two distinct times", () => {
  // v = 2t + 1 plus noise that sums to zero and is uncorrelated with t: slope exactly 2.
  const noise = [0.5, -0.5, 0, -0.5, 0.5];
  const pts = noise.map((e, t) => ({ t, v: 2 * t + 1 + e }));
  assert.ok(Math.abs(slope(pts) - 2) < 1e-12);
  assert.equal(
    slope([
      { t: 0, v: 1 },
      { t: 10, v: 4 },
    ]),
    0.3,
  );
  assert.ok(Number.isNaN(slope([{ t: 1, v: 1 }])));
  assert.ok(
    Number.isNaN(
      slope([
        { t: 1, v: 1 },
        { t: 1, v: 2 },
      ]),
    ),
  );
});

test("memoryVerdict: a leak of 1 MB per 10 minutes is seen as growth and slope", () => {
  // 30 samples over 30 minutes, anonymous memory up 0.1 MB a minute after a 2-minute warm-up.
  const samples = Array.from({ length: 31 }, (_, i) => ({
    t: i * 60,
    rssMb: 45 + i * 0.1,
    anonMb: i < 2 ? 9 + i : 11 + (i - 2) * 0.1,
    heapUsedMb: NaN,
  }));
  const v = memoryVerdict(samples, 120, 1);
  assert.equal(v.anonAfterWarmupMb, 11);
  assert.ok(Math.abs(v.anonEndMb - 13.8) < 1e-9);
  assert.ok(Math.abs(v.growthMb - 2.8) < 1e-9);
  assert.ok(Math.abs(v.slopeMbPerHour - 6) < 1e-9);
  assert.ok(Math.abs(v.rssMaxMb - 48) < 1e-9);
  assert.equal(v.anonMinMb, 11, "the warm-up's 9 and 10 MB are not in the band");
  assert.ok(Math.abs(v.anonMaxMb - 13.8) < 1e-9);
  // Lows of the last third (i = 22..30) minus lows of the first (i = 2..10): 13 - 11.
  assert.ok(Math.abs(v.floorGrowthMb - 2) < 1e-9, `${v.floorGrowthMb}`);
  assert.ok(Number.isNaN(v.heapFloorGrowthMb));
  assert.equal(v.flat, false);
});

test("memoryVerdict: warm-up growth is not counted; a flat series with noise is flat", () => {
  const samples = Array.from({ length: 20 }, (_, i) => ({
    t: i * 10,
    rssMb: 49,
    anonMb: i === 0 ? 7 : 9.2 + (i % 3) * 0.2,
    heapUsedMb: 4 + (i % 3) * 0.2,
  }));
  const v = memoryVerdict(samples, 10, 1);
  assert.ok(Math.abs(v.anonAfterWarmupMb - 9.4) < 1e-9);
  assert.ok(v.growthMb <= 1 && v.growthMb >= -1);
  assert.ok(Math.abs(v.slopeMbPerHour) < 60, `${v.slopeMbPerHour}`);
  assert.ok(Math.abs(v.floorGrowthMb) < 1e-9);
  assert.ok(Math.abs(v.heapFloorGrowthMb) < 1e-9);
  assert.equal(v.flat, true);
  assert.throws(() => memoryVerdict([], 0, 1), /no samples/);
});

test("memoryVerdict: V8's sawtooth (garbage piling up, then a full collection) is flat", () => {
  // Anonymous memory climbs 0.1 MB a sample for 8 samples and falls back, over and over; the
  // last sample sits at a peak, so the end is 0.7 MB above the start, but the lows stay put.
  const samples = Array.from({ length: 40 }, (_, i) => ({
    t: i * 10,
    rssMb: 49,
    anonMb: 9 + (i % 8) * 0.1,
    heapUsedMb: 4 + (i % 8) * 0.1,
  }));
  const v = memoryVerdict(samples, 0, 0.5);
  assert.ok(Math.abs(v.growthMb - 0.7) < 1e-9, "the end alone would call it growth");
  assert.ok(Math.abs(v.floorGrowthMb) < 1e-9);
  assert.equal(v.flat, true);
  // The same with the lows creeping up 0.05 MB per cycle: 0.2 MB over the run and not flat at 0.1.
  const creeping = samples.map((s) => ({ ...s, anonMb: s.anonMb + Math.floor(s.t / 80) * 0.05 }));
  const w = memoryVerdict(creeping, 0, 0.1);
  assert.ok(w.floorGrowthMb > 0.1, `${w.floorGrowthMb}`);
  assert.equal(w.flat, false);
});
