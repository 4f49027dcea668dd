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
  /** Reported through the announcer's onError on each probe, as the echo prober reports a send error. */
  sendError = "";
  probe(_target?: Uint8Array, _timeoutMs?: number): Promise<number | null> {
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
    now: () => clock.now(),
    ...(prober
      ? {
          health: (onChange, onError) => {
            const m = new HealthMonitor({
              intervalS: 1,
              failures: 2,
              clock,
              prober: {
                probe: (t, ms) => {
                  if (prober.sendError !== "") onError(prober.sendError);
                  return prober.probe(t, ms);
                },
                close: () => prober.close(),
              },
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

test("since, last error and their metrics: upstream lost, probe not sent, route command failed", async () => {
  const clock = new FakeClock();
  const t0 = clock.now();
  const prober = new FakeProber();
  const { a } = announcer(clock, prober);
  assert.equal(a.snapshot().sinceMs, t0, "withdrawn since the start");
  a.start();
  clock.advance(0);
  await flush();
  assert.equal(a.snapshot().state, "announced");
  assert.equal(a.snapshot().sinceMs, t0, "the first probe answered at once");
  assert.equal(a.snapshot().lastError, null);
  assert.match(a.prometheus(), /^sixto4pmt_relay_announce_errors_total 0$/m);
  assert.match(a.prometheus(), /^sixto4pmt_relay_announce_last_error_timestamp_seconds 0$/m);
  assert.match(
    a.prometheus(),
    new RegExp(`^sixto4pmt_relay_announced_since_timestamp_seconds ${t0 / 1000}$`, "m"),
  );

  prober.ok = false;
  clock.advance(1000);
  await flush();
  clock.advance(1000);
  await flush();
  const down = a.snapshot();
  assert.equal(down.state, "withdrawn");
  assert.equal(down.sinceMs, t0 + 2000);
  assert.deepEqual(down.lastError, {
    message: "upstream 3fff:100::1 down (2 probes unanswered)",
    atMs: t0 + 2000,
  });
  assert.equal(down.errors, 1);
  assert.match(a.prometheus(), /^sixto4pmt_relay_announced 0$/m);
  assert.match(a.prometheus(), /^sixto4pmt_relay_announce_errors_total 1$/m);
  assert.match(
    a.prometheus(),
    new RegExp(
      `^sixto4pmt_relay_announce_last_error_timestamp_seconds ${(t0 + 2000) / 1000}$`,
      "m",
    ),
  );

  // A probe the prober could not send is an error too; the announcement's time stays.
  prober.sendError = "health probe socket: ENETUNREACH: network unreachable";
  clock.advance(1000);
  await flush();
  assert.equal(a.snapshot().errors, 2);
  assert.equal(a.snapshot().lastError?.message, prober.sendError);
  assert.equal(a.snapshot().sinceMs, t0 + 2000);

  prober.sendError = "";
  prober.ok = true;
  clock.advance(1000);
  await flush();
  const up = a.snapshot();
  assert.equal(up.state, "announced");
  assert.equal(up.sinceMs, t0 + 4000);
  assert.equal(up.lastError?.atMs, t0 + 3000, "the last error stays until another one");
  a.stop();
});

test("a route command that fails is the last error", () => {
  const clock = new FakeClock();
  const { a } = announcer(clock, undefined, "RTNETLINK answers: Operation not permitted");
  a.start();
  const s = a.snapshot();
  assert.equal(s.state, "announced");
  assert.equal(s.errors, 3, "one per route");
  assert.equal(
    s.lastError?.message,
    "ip -6 route replace 2002::/16 dev 6to4pmt-r0 proto 41 failed: RTNETLINK answers: Operation not permitted",
  );
});
