/** control/gro-watch.ts: one warning per rise of wan_gro_unusable, with the remedy; stops. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { GRO_CHECK_MS, watchGroUnusable } from "../../../module/control/gro-watch.js";
import { FakeClock } from "../../support/fake-clock.js";

test("warns once per rise, names the device and the ethtool remedy, stops", () => {
  const clock = new FakeClock();
  let count = 0;
  const warnings: string[] = [];
  let device: string | undefined = undefined;
  const stop = watchGroUnusable(
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
  assert.equal(
    warnings[1],
    "wan eth1: 1 6in4 UDP packet(s) merged by GRO could not be forwarded; " +
      "turn it off: ethtool -K eth1 rx-gro-list off rx-udp-gro-forwarding off",
  );
  stop();
  count = 10;
  clock.advance(10 * GRO_CHECK_MS);
  assert.equal(warnings.length, 2, "stopped");
});
