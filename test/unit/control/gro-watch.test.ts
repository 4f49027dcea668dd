/** control/gro-watch.ts: a remedy first; else a warning with the ethtool command, one a minute. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GRO_CHECK_MS, GRO_WARN_MS, watchGroUnusable } from "../../../module/control/gro-watch.js";
import { FakeClock } from "../../support/fake-clock.js";

test("warns on a rise, names the device and the ethtool remedy, one warning a minute, stops", () => {
  const clock = new FakeClock();
  let count = 0;
  const warnings: string[] = [];
  let device: string | undefined = undefined;
  const watch = watchGroUnusable(
    clock,
    () => count,
    (m) => warnings.push(m),
    () => device,
  );
  clock.advance(GRO_CHECK_MS);
  assert.deepEqual(warnings, []);
  count = 3;
  clock.advance(GRO_CHECK_MS - 1);
  assert.deepEqual(warnings, [], "not before the next check");
  clock.advance(1);
  assert.deepEqual(warnings, [
    "3 6in4 UDP packet(s) merged by GRO could not be forwarded; " +
      "turn it off: ethtool -K <receiving device> rx-gro-list off rx-udp-gro-forwarding off",
  ]);
  clock.advance(GRO_CHECK_MS);
  assert.equal(warnings.length, 1, "no new packets, no new warning");
  device = "eth1";
  count = 4;
  clock.advance(GRO_CHECK_MS);
  count = 6;
  clock.advance(GRO_CHECK_MS);
  assert.equal(warnings.length, 1, "not twice within GRO_WARN_MS");
  clock.advance(GRO_WARN_MS - 3 * GRO_CHECK_MS);
  assert.equal(
    warnings[1],
    "wan eth1: 3 6in4 UDP packet(s) merged by GRO could not be forwarded; " +
      "turn it off: ethtool -K eth1 rx-gro-list off rx-udp-gro-forwarding off",
    "the packets since the last warning, summed",
  );
  watch.stop();
  count = 10;
  clock.advance(10 * GRO_WARN_MS);
  assert.equal(warnings.length, 2, "stopped");
});

test("a remedy that settles it replaces the warning; one that fails leaves it; `always` runs it every check", () => {
  const clock = new FakeClock();
  let count = 0;
  const warnings: string[] = [];
  const tried: string[] = [];
  let works = true;
  watchGroUnusable(
    clock,
    () => count,
    (m) => warnings.push(m),
    () => "wan0",
    {
      remedy: (d) => {
        tried.push(d);
        return works;
      },
    },
  );
  clock.advance(GRO_CHECK_MS);
  assert.deepEqual(tried, [], "only on a rise");
  count = 2;
  clock.advance(GRO_CHECK_MS);
  assert.deepEqual(tried, ["wan0"]);
  assert.deepEqual(warnings, []);
  works = false;
  count = 5;
  clock.advance(GRO_CHECK_MS);
  assert.deepEqual(tried, ["wan0", "wan0"]);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^wan wan0: 3 6in4 UDP packet\(s\)/);

  const always: string[] = [];
  const c2 = new FakeClock();
  watchGroUnusable(
    c2,
    () => 0,
    () => assert.fail("nothing rose"),
    () => "pppoe-wan",
    { remedy: (d) => (always.push(d), true), always: true },
  );
  c2.advance(2 * GRO_CHECK_MS);
  assert.deepEqual(always, ["pppoe-wan", "pppoe-wan", "pppoe-wan"], "at start and every check");
});

test("checks on one repeating timer: none created per check", () => {
  const clock = new FakeClock();
  let checks = 0;
  const watch = watchGroUnusable(
    clock,
    () => {
      checks++;
      return 0;
    },
    () => undefined,
    () => undefined,
  );
  clock.advance(20 * GRO_CHECK_MS);
  assert.equal(checks, 21, "at once, then every GRO_CHECK_MS");
  assert.equal(clock.timersCreated, 1);
  watch.stop();
  assert.equal(clock.pending(), 0);
});

test("checkNow checks at once, between the periodic checks, which go on", () => {
  const clock = new FakeClock();
  let count = 0;
  const tried: string[] = [];
  const watch = watchGroUnusable(
    clock,
    () => count,
    () => undefined,
    () => "wan0",
    {
      remedy: (d) => {
        tried.push(d);
        return true;
      },
    },
  );
  clock.advance(GRO_CHECK_MS / 2);
  count = 1;
  watch.checkNow();
  assert.deepEqual(tried, ["wan0"], "the rise seen without waiting for the next check");
  count = 2;
  clock.advance(GRO_CHECK_MS / 2);
  assert.deepEqual(tried, ["wan0", "wan0"], "the periodic check, on its time");
  watch.stop();
  watch.checkNow();
  count = 3;
  watch.checkNow();
  assert.deepEqual(tried, ["wan0", "wan0"], "nothing after stop");
});
