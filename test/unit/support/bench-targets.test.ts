/** Issue 3's benchmark targets judged per run (support/bench-targets.ts). */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatTargets, targetVerdicts } from "../../support/bench-targets.js";

// The figures of a run with veth defaults: CPU as charged misses, own CPU meets.
const run = {
  tcpOursTayga: 4.07,
  udp64OursTayga: 1.25,
  cpuUs: { cpe: 4.16, relay: 2.86 },
  ownUs: { cpe: 2.3, relay: 2.39 },
  rssMb: { cpe: [45.3, 49.5] as [number, number], relay: [44.4, 48.8] as [number, number] },
  anonMb: { cpe: [9.1, 9.4] as [number, number], relay: [8.6, 9.0] as [number, number] },
};

test("targetVerdicts: each figure against its target; all met only with CPU read as own", () => {
  const v = targetVerdicts(run);
  assert.deepEqual(v.tcp_ours_tayga, [4.07, true]);
  assert.deepEqual(v.udp64_ours_tayga, [1.25, true]);
  assert.deepEqual(v.cpu_us, { cpe: [4.16, false], relay: [2.86, false] });
  assert.deepEqual(v.cpu_own_us, { cpe: [2.3, true], relay: [2.39, true] });
  assert.deepEqual(v.rss_end_mb, { cpe: [49.5, true], relay: [48.8, true] });
  assert.equal(v.anon_growth_mb.cpe![1], true);
  assert.ok(Math.abs(v.anon_growth_mb.relay![0] - 0.4) < 1e-9);
  assert.equal(v.all_met_charged, false);
  assert.equal(v.all_met_own, true);
});

test("targetVerdicts: the limits are inclusive, and one miss anywhere fails both readings", () => {
  const edge = targetVerdicts({
    ...run,
    tcpOursTayga: 1.5,
    udp64OursTayga: 1.1,
    cpuUs: { cpe: 2.5 },
    ownUs: { cpe: 2.5 },
    rssMb: { cpe: [40, 50] },
    anonMb: { cpe: [9, 10] },
  });
  assert.equal(edge.all_met_charged, true);
  assert.equal(edge.all_met_own, true);
  for (const bad of [
    { udp64OursTayga: 1.09 },
    { tcpOursTayga: 1.49 },
    { rssMb: { cpe: [40, 50.1] as [number, number] } },
    { anonMb: { cpe: [9, 10.2] as [number, number] } },
  ]) {
    const v = targetVerdicts({ ...run, ...bad });
    assert.equal(v.all_met_charged, false, JSON.stringify(bad));
    assert.equal(v.all_met_own, false, JSON.stringify(bad));
  }
});

test("targetVerdicts: a figure not measured (NaN) is neither met nor missed, and not all met", () => {
  const v = targetVerdicts({ ...run, cpuUs: { cpe: 2 }, ownUs: { cpe: NaN } });
  assert.deepEqual(v.cpu_own_us, { cpe: [NaN, null] });
  assert.equal(v.all_met_own, false);
  assert.match(formatTargets(v), /own: cpe - not measured/);
});

test("formatTargets: one line naming each target, figure and verdict", () => {
  const line = formatTargets(targetVerdicts(run));
  assert.equal(line.includes("\n"), false);
  assert.match(
    line,
    /^targets: TCP ours\/tayga >= 1.5: 4.07 met; UDP64 ours\/tayga >= 1.1: 1.25 met; /,
  );
  assert.match(
    line,
    /as charged: cpe 4.16 MISSED, relay 2.86 MISSED, own: cpe 2.30 met, relay 2.39 met;/,
  );
  assert.match(line, /RSS MB <= 50: cpe 49.5 met, relay 48.8 met;/);
  assert.match(line, /anon RSS growth MB <= 1: cpe \+0.3 met, relay \+0.4 met;/);
  assert.match(line, /all met: no \(CPU as charged\), yes \(own CPU\)$/);
});
