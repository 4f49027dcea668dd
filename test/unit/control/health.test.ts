// Tunnel health: RFC 7084 §4.3 L-4 (withdraw the default route when the path is dead),
// RFC 6343 §4.4 item 4 (probe target). Fake clock and prober; no network.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIpv6, parseIpv6 } from "../../../module/addr/ipv6.js";
import { HealthMonitor, type EchoProber } from "../../../module/control/health.js";
import { FakeClock } from "../../support/fake-clock.js";

// The relay 192.88.99.1 as a 6to4 address: 2002:c058:6301::c058:6301.
const TARGET = parseIpv6("2002:c058:6301::c058:6301") as Uint8Array;

class FakeProber implements EchoProber {
  ok = true;
  probes = 0;
  closed = false;
  probe(): Promise<number | null> {
    this.probes++;
    return Promise.resolve(this.ok ? 1.5 : null);
  }
  close(): void {
    this.closed = true;
  }
}

const flush = () => new Promise((r) => setImmediate(r));

/** A monitor on `clock` and `prober` that ignores changes. */
function quietMonitor(
  clock: FakeClock,
  prober: EchoProber,
  intervalS: number,
  failures: number,
): HealthMonitor {
  return new HealthMonitor({
    intervalS,
    failures,
    clock,
    prober,
    onChange: () => undefined,
    formatTarget: (t) => formatIpv6(t),
  });
}

async function step(clock: FakeClock, ms: number): Promise<void> {
  clock.advance(ms);
  await flush();
}

test("K consecutive failures -> down; first success -> up; stop leaves no timer", async () => {
  const clock = new FakeClock();
  const prober = new FakeProber();
  const changes: boolean[] = [];
  const h = new HealthMonitor({
    intervalS: 5,
    failures: 3,
    clock,
    prober,
    onChange: (up) => changes.push(up),
    formatTarget: (t) => formatIpv6(t),
  });
  h.setTarget(TARGET);
  h.start();
  await step(clock, 0);
  assert.equal(h.snapshot().state, "up");
  assert.equal(h.isUp(), true);
  assert.equal(h.snapshot().lastRttMs, 1.5, "the answered probe's round-trip time");
  prober.ok = false;
  await step(clock, 5000);
  await step(clock, 5000);
  assert.equal(h.isUp(), true, "two failures are not enough");
  await step(clock, 5000);
  assert.equal(h.isUp(), false);
  assert.deepEqual(changes, [false]);
  assert.equal(h.snapshot().consecutiveFailures, 3);
  assert.equal(h.snapshot().lastRttMs, 1.5, "failures keep the last answered one");
  prober.ok = true;
  await step(clock, 5000);
  assert.equal(h.isUp(), true);
  assert.deepEqual(changes, [false, true]);
  const snap = h.snapshot();
  assert.equal(snap.target, "2002:c058:6301::c058:6301");
  assert.equal(snap.probesSent, 5);
  assert.equal(snap.probesOk, 2);
  h.stop();
  assert.equal(clock.pending(), 0);
  assert.equal(prober.closed, true);
});

test("defaults withdraw within 30 s of the path failing", async () => {
  const clock = new FakeClock();
  const prober = new FakeProber();
  let downAt: number | null = null;
  const h = new HealthMonitor({
    intervalS: 5,
    failures: 3,
    clock,
    prober,
    onChange: (up) => (downAt = up ? null : clock.now()),
    formatTarget: (t) => formatIpv6(t),
  });
  h.setTarget(TARGET);
  h.start();
  await step(clock, 0);
  await step(clock, 2500);
  const failAt = clock.now();
  prober.ok = false;
  for (let i = 0; i < 10 && downAt === null; i++) await step(clock, 1000);
  for (let i = 0; i < 30 && downAt === null; i++) await step(clock, 1000);
  assert.ok(downAt !== null);
  assert.ok(downAt - failAt <= 30_000, `withdrawn after ${downAt - failAt} ms`);
  h.stop();
});

test("unknown counts as up; no target means no probes", async () => {
  const clock = new FakeClock();
  const prober = new FakeProber();
  const h = quietMonitor(clock, prober, 1, 1);
  assert.equal(h.isUp(), true);
  assert.equal(h.snapshot().state, "unknown");
  h.start();
  await step(clock, 3000);
  assert.equal(prober.probes, 0);
  assert.equal(h.snapshot().target, null);
  h.stop();
  assert.equal(clock.pending(), 0);
});

test("one repeating timer for life: no timer created per probe", async () => {
  const clock = new FakeClock();
  const prober = new FakeProber();
  const h = quietMonitor(clock, prober, 5, 3);
  h.setTarget(TARGET);
  h.start();
  for (let i = 0; i <= 20; i++) await step(clock, i === 0 ? 0 : 5000);
  assert.equal(prober.probes, 21, "at once, then every 5 s");
  assert.equal(clock.timersCreated, 2, "the first probe's one-shot timer and the repeating one");
  h.stop();
  assert.equal(clock.pending(), 0);
});

test("a tick that finds a probe still waiting starts the next one as soon as it ends", async () => {
  const clock = new FakeClock();
  const answers: ((rtt: number | null) => void)[] = [];
  const prober: EchoProber = {
    probe: () => new Promise((resolve) => answers.push(resolve)),
    close: () => undefined,
  };
  const h = quietMonitor(clock, prober, 1, 3);
  h.setTarget(TARGET);
  h.start();
  await step(clock, 0);
  assert.equal(answers.length, 1);
  await step(clock, 1000); // the next tick: the first probe is still out
  assert.equal(answers.length, 1, "one probe at a time");
  answers[0]!(null);
  await flush();
  assert.equal(answers.length, 2, "the next probe started when the first ended, not a tick later");
  assert.equal(h.snapshot().consecutiveFailures, 1);
  h.stop();
  answers[1]!(null);
  await flush();
  assert.equal(clock.pending(), 0);
});

test("the first probe after a target change waits until `ready` resolves (addresses in place)", async () => {
  const clock = new FakeClock();
  const prober = new FakeProber();
  let release: () => void = () => undefined;
  let readyCalls = 0;
  const h = new HealthMonitor({
    intervalS: 5,
    failures: 3,
    clock,
    prober,
    onChange: () => undefined,
    formatTarget: (t) => formatIpv6(t),
    ready: () => {
      readyCalls++;
      return new Promise<void>((r) => (release = r));
    },
  });
  h.start();
  await step(clock, 0);
  assert.equal(prober.probes, 0, "no target yet");
  h.setTarget(TARGET);
  await step(clock, 0);
  await step(clock, 100);
  assert.equal(prober.probes, 0, "not before the addresses are in place");
  release();
  await flush();
  await step(clock, 0);
  assert.equal(prober.probes, 1, "at once after, not an interval later");
  assert.equal(h.snapshot().state, "up");
  assert.equal(readyCalls, 2, "start and the target change each wait");

  // A target change while the previous one still waits: only the newest first probe goes out.
  const other = parseIpv6("2002:cb00:71fe::") as Uint8Array;
  h.setTarget(TARGET.map((b, i) => (i === 15 ? b ^ 1 : b)));
  const firstRelease = release;
  h.setTarget(other);
  firstRelease();
  release();
  await flush();
  await step(clock, 0);
  assert.equal(prober.probes, 2);
  assert.equal(h.snapshot().target, "2002:cb00:71fe::");
  h.stop();
});
