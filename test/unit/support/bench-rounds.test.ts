/**
 * The bench's rounds (support/bench-rounds.ts): BENCH_ROUNDS, and the medians and worst rounds
 * `npm run bench` reports over them.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { median, medianOf, parseBenchRounds, worstPairs } from "../../support/bench-rounds.js";

test("parseBenchRounds: 3 by default, 1 to 10, anything else names the variable", () => {
  assert.equal(parseBenchRounds(undefined), 3);
  assert.equal(parseBenchRounds(""), 3);
  assert.equal(parseBenchRounds("1"), 1);
  assert.equal(parseBenchRounds("10"), 10);
  for (const bad of ["0", "11", "2.5", "-1", "three", " 3"]) {
    assert.throws(
      () => parseBenchRounds(bad),
      new RegExp(
        `^RangeError: BENCH_ROUNDS: expected an integer from 1 to 10, got ${JSON.stringify(bad).replace(/[.]/g, "\\.")}$`,
      ),
      bad,
    );
  }
});

test("median: odd and even counts, NaN ignored, NaN when nothing is finite", () => {
  assert.equal(median([3, 1, 2]), 2);
  assert.equal(median([4, 1, 3, 2]), 2.5);
  assert.equal(median([5]), 5);
  assert.equal(median([NaN, 7, 1]), 4);
  assert.ok(Number.isNaN(median([])));
  assert.ok(Number.isNaN(median([NaN, NaN])));
});

test("medianOf: every number of a nested shape is the median of its place", () => {
  const rounds = [
    { name: "ours", tcp: 2.0, cpu: { cpe: 2.4, relay: 1.9 }, phase: { cpe: [2.6, 2.0] }, w: null },
    { name: "ours", tcp: 1.0, cpu: { cpe: 3.0, relay: 1.6 }, phase: { cpe: [2.2, 1.5] }, w: null },
    { name: "ours", tcp: 3.0, cpu: { cpe: 1.8, relay: 2.1 }, phase: { cpe: [3.1, 1.7] }, w: 4 },
  ];
  assert.deepEqual(medianOf(rounds), {
    name: "ours",
    tcp: 2.0,
    cpu: { cpe: 2.4, relay: 1.9 },
    phase: { cpe: [2.6, 1.7] },
    w: 4,
  });
  // A place missing from one object: the median of the others.
  assert.deepEqual(medianOf([{ a: 1 }, { a: 3, b: 10 }, { a: 2 }]), { a: 2, b: 10 });
  // Nothing numeric at a place: the first object's value.
  assert.deepEqual(medianOf([{ p: null }, { p: null }]), { p: null });
  assert.throws(() => medianOf([]), /^RangeError: medianOf: no objects$/);
});

test("worstPairs: per process, the round where the measure is highest", () => {
  const rounds: Record<string, [number, number]>[] = [
    { cpe: [45.0, 49.0], relay: [44.0, 48.9] },
    { cpe: [45.5, 49.6], relay: [44.5, 48.1] },
    { cpe: [44.0, 49.2], relay: [43.0, 48.5] },
  ];
  assert.deepEqual(
    worstPairs(rounds, ([, end]) => end),
    { cpe: [45.5, 49.6], relay: [44.0, 48.9] },
  );
  assert.deepEqual(
    worstPairs(rounds, ([start, end]) => end - start),
    { cpe: [44.0, 49.2], relay: [43.0, 48.5] },
  );
});
