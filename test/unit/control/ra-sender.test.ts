// RA scheduling: RFC 4861 §6.2.4 (initial burst, Min..Max), §6.2.5 (final RA), §6.2.6 (solicited
// delay <= MAX_RA_DELAY_TIME, MIN_DELAY_BETWEEN_RAS rate limit, one answer for several RS).
import { test } from "node:test";
import assert from "node:assert/strict";
import { RaSender, type RaKind } from "../../../module/control/ra-sender.js";
import { clampAdvIntervals } from "../../../module/control/ra-timing.js";
import { FakeClock } from "../../support/fake-clock.js";

function setup(random = () => 0.5, buildNull = false) {
  const clock = new FakeClock(0);
  const sent: Array<{ at: number; kind: RaKind; dst: string }> = [];
  let lastKind: RaKind = "unsolicited";
  const sender = new RaSender({
    clock,
    random,
    intervals: clampAdvIntervals(200, 600),
    socket: {
      send: (_b, _o, _l, dst) => {
        sent.push({ at: clock.now(), kind: lastKind, dst: Buffer.from(dst).toString("hex") });
        return true;
      },
    },
    build: (kind) => {
      lastKind = kind;
      return buildNull ? null : Uint8Array.of(134, 0, 0, 0);
    },
    log: () => undefined,
  });
  return { clock, sent, sender };
}

test("initial burst: first RA at once, then 16 s intervals (x3), then Min..Max", () => {
  const { clock, sent, sender } = setup();
  sender.start();
  clock.advance(0);
  assert.deepEqual(
    sent.map((s) => s.at),
    [0],
  );
  assert.equal(sent[0]?.dst, "ff020000000000000000000000000001");
  clock.advance(16_000 * 3);
  assert.deepEqual(
    sent.map((s) => s.at),
    [0, 16_000, 32_000, 48_000],
  );
  clock.advance(400_000);
  assert.equal(sent.at(-1)?.at, 448_000, "uniform 200..600 s with random 0.5 = 400 s");
  assert.equal(sender.counters.ra_sent, 5);
  sender.abort();
  assert.equal(clock.pending(), 0);
});

test("solicited: random delay <= 0.5 s, rate limit 3 s, several RS share one answer", () => {
  const { clock, sent, sender } = setup(() => 0.5);
  sender.start();
  clock.advance(10_000); // first RA at 0, next scheduled at 16 s
  sender.solicited();
  sender.solicited();
  clock.advance(1000);
  assert.deepEqual(
    sent.map((s) => [s.at, s.kind]),
    [
      [0, "unsolicited"],
      [10_250, "solicited"],
    ],
  );
  assert.equal(sender.counters.rs_answer_shared, 1);
  // RS right after a multicast RA: answered MIN_DELAY_BETWEEN_RAS after it (+ random delay).
  sender.solicited();
  clock.advance(5000);
  assert.deepEqual(sent[2], {
    at: 13_500,
    kind: "solicited",
    dst: "ff020000000000000000000000000001",
  });
  assert.equal(sender.counters.ra_sent_solicited, 2);
  sender.abort();
});

test("changed(): next RA as soon as the rate limit allows, burst restarts", () => {
  const { clock, sent, sender } = setup();
  sender.start();
  clock.advance(1000);
  sender.changed();
  clock.advance(5000);
  assert.deepEqual(
    sent.map((s) => s.at),
    [0, 3000],
  );
  clock.advance(16_000);
  assert.equal(sent.at(-1)?.at, 19_000);
  sender.abort();
});

test("stop(): one final RA, no timers; nothing sent when build returns null", () => {
  const a = setup();
  a.sender.start();
  a.clock.advance(100);
  a.sender.stop();
  assert.deepEqual(
    a.sent.map((s) => s.kind),
    ["unsolicited", "final"],
  );
  assert.equal(a.clock.pending(), 0);
  a.sender.solicited();
  a.clock.advance(10_000);
  assert.equal(a.sent.length, 2, "stopped sender ignores RS");

  const b = setup(() => 0.5, true);
  b.sender.start();
  b.clock.advance(20_000);
  assert.equal(b.sent.length, 0);
  assert.equal(b.sender.counters.ra_not_built, 2);
  b.sender.stop();
  assert.equal(b.clock.pending(), 0);
});

test("a failed send during the initial burst is retried after 1 s", () => {
  const clock = new FakeClock(0);
  let fail = 2;
  const at: number[] = [];
  const sender = new RaSender({
    clock,
    random: () => 0.5,
    intervals: clampAdvIntervals(200, 600),
    socket: {
      send: () => {
        if (fail > 0) {
          fail--;
          return false;
        }
        at.push(clock.now());
        return true;
      },
    },
    build: () => Uint8Array.of(134, 0, 0, 0),
    log: () => undefined,
  });
  sender.start();
  clock.advance(5000);
  assert.deepEqual(at, [2000]);
  assert.equal(sender.counters.ra_send_failed, 2);
  sender.abort();
  assert.equal(clock.pending(), 0);
});
