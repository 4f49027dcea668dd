// Relay health and announcement (RFC 3068 §4.2, §4.4): the routes BIRD learns (kernel protocol 41
// on the TUN) exist only while the relay is healthy. Fake clock, prober and `ip`; no network.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIpv6, parseIpv6 } from "../../../module/addr/ipv6.js";
import { HealthMonitor, type EchoProber } from "../../../module/control/health.js";
import {
  RELAY_ANNOUNCE_PROTO,
  RelayAnnouncer,
  announceRouteArgs,
} from "../../../module/control/relay-announce.js";
import { createLogger } from "../../../module/log/logger.js";
import { FakeClock } from "../../support/fake-clock.js";

const ROUTES = ["192.88.99.1/32", "2001:db8::/32", "2002::/16"];
const UPSTREAM = parseIpv6("3fff:100::1") as Uint8Array;
const log = createLogger("error", "test");

class FakeProber implements EchoProber {
  ok = true;
  probe(): Promise<number | null> {
    return Promise.resolve(this.ok ? 1 : null);
  }
  close(): void {}
}

const flush = () => new Promise((r) => setImmediate(r));

/** An announcer whose `ip` calls are recorded; with a prober when `prober` is given. */
function announcer(clock: FakeClock, prober?: FakeProber, failing = "") {
  const calls: string[] = [];
  const a = new RelayAnnouncer({
    device: "6to4pmt-r0",
    routes: ROUTES,
    ip: (args) => {
      calls.push(args.join(" "));
      return failing;
    },
    log,
    ...(prober
      ? {
          health: (onChange) => {
            const m = new HealthMonitor({
              intervalS: 1,
              failures: 2,
              clock,
              prober,
              onChange,
              reportFirstUp: true,
              formatTarget: formatIpv6,
            });
            m.setTarget(UPSTREAM);
            return m;
          },
        }
      : {}),
  });
  return { a, calls };
}

test("route arguments: proto 41 on the TUN, family from the prefix", () => {
  assert.equal(RELAY_ANNOUNCE_PROTO, 41);
  assert.deepEqual(announceRouteArgs("replace", "tun0", "192.88.99.1/32"), [
    "-4",
    "route",
    "replace",
    "192.88.99.1/32",
    "dev",
    "tun0",
    "proto",
    "41",
  ]);
  assert.deepEqual(announceRouteArgs("del", "tun0", "2002::/16").slice(0, 4), [
    "-6",
    "route",
    "del",
    "2002::/16",
  ]);
});

test("no health target: announced at start, withdrawn at stop", () => {
  const { a, calls } = announcer(new FakeClock());
  a.start();
  assert.deepEqual(calls, [
    "-4 route replace 192.88.99.1/32 dev 6to4pmt-r0 proto 41",
    "-6 route replace 2001:db8::/32 dev 6to4pmt-r0 proto 41",
    "-6 route replace 2002::/16 dev 6to4pmt-r0 proto 41",
  ]);
  assert.equal(a.snapshot().state, "announced");
  assert.match(a.prometheus(), /^sixto4pmt_relay_announced 1$/m);
  assert.doesNotMatch(a.prometheus(), /upstream_up/);
  calls.length = 0;
  a.stop();
  assert.deepEqual(calls, [
    "-4 route del 192.88.99.1/32 dev 6to4pmt-r0 proto 41",
    "-6 route del 2001:db8::/32 dev 6to4pmt-r0 proto 41",
    "-6 route del 2002::/16 dev 6to4pmt-r0 proto 41",
  ]);
  assert.equal(a.snapshot().state, "withdrawn");
  assert.equal(a.snapshot().changes, 2);
});

test("health target: nothing before the first answer; withdrawn after 2 failures; back on success", async () => {
  const clock = new FakeClock();
  const prober = new FakeProber();
  prober.ok = false;
  const { a, calls } = announcer(clock, prober);
  a.start();
  await flush();
  clock.advance(1000);
  await flush();
  // Two failures from unknown: still nothing announced, nothing deleted.
  assert.equal(calls.length, 0);
  assert.equal(a.snapshot().state, "withdrawn");
  assert.match(a.prometheus(), /^sixto4pmt_relay_upstream_up 0$/m);

  prober.ok = true;
  clock.advance(1000);
  await flush();
  assert.equal(a.snapshot().state, "announced");
  assert.equal(calls.filter((c) => c.includes(" replace ")).length, 3);
  assert.match(a.prometheus(), /^sixto4pmt_relay_upstream_up 1$/m);

  calls.length = 0;
  prober.ok = false;
  clock.advance(1000);
  await flush();
  assert.equal(a.snapshot().state, "announced", "one failure is not enough");
  clock.advance(1000);
  await flush();
  assert.equal(a.snapshot().state, "withdrawn");
  assert.equal(calls.filter((c) => c.includes(" del ")).length, 3);
  assert.match(a.snapshot().reason, /upstream 3fff:100::1 down \(2 probes unanswered\)/);

  prober.ok = true;
  clock.advance(1000);
  await flush();
  assert.equal(a.snapshot().state, "announced");
  a.stop();
  assert.equal(a.snapshot().state, "withdrawn");
  assert.equal(clock.pending(), 0, "no timer left");
});

test("stop while withdrawn deletes nothing", () => {
  const clock = new FakeClock();
  const { a, calls } = announcer(clock, new FakeProber());
  a.stop();
  assert.equal(calls.length, 0);
});
