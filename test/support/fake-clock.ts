/**
 * Deterministic clock for control-plane unit tests: time only moves when the test calls
 * `advance(ms)`, which fires due timers in order. `pending()` lets tests assert that `stop()` left
 * no timers behind.
 */
import type { Clock, TimerHandle } from "../../module/control/clock.js";

interface FakeTimer {
  at: number;
  seq: number;
  fn: () => void;
  /** Period of a repeating timer. */
  every?: number;
  cleared?: boolean;
}

export class FakeClock implements Clock {
  private t: number;
  private seq = 0;
  private readonly timers = new Set<FakeTimer>();
  /** Timers created so far (one-shot and repeating): a periodic task should not add one per tick. */
  timersCreated = 0;

  constructor(startMs = 1_700_000_000_000) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimer(fn: () => void, ms: number): TimerHandle {
    this.timersCreated++;
    const timer: FakeTimer = { at: this.t + Math.max(0, ms), seq: this.seq++, fn };
    this.timers.add(timer);
    return timer;
  }

  setRepeating(fn: () => void, ms: number): TimerHandle {
    this.timersCreated++;
    const every = Math.max(1, ms);
    const timer: FakeTimer = { at: this.t + every, seq: this.seq++, fn, every };
    this.timers.add(timer);
    return timer;
  }

  clearTimer(handle: TimerHandle): void {
    (handle as FakeTimer).cleared = true;
    this.timers.delete(handle as FakeTimer);
  }

  /** Number of timers not yet fired or cleared. */
  pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, firing every timer that becomes due (including ones they set). */
  advance(ms: number): void {
    const end = this.t + ms;
    for (;;) {
      let next: FakeTimer | undefined;
      for (const timer of this.timers) {
        if (
          timer.at <= end &&
          (!next || timer.at < next.at || (timer.at === next.at && timer.seq < next.seq))
        ) {
          next = timer;
        }
      }
      if (!next) break;
      this.timers.delete(next);
      this.t = Math.max(this.t, next.at);
      next.fn();
      if (next.every !== undefined && !next.cleared) {
        next.at += next.every;
        next.seq = this.seq++;
        this.timers.add(next);
      }
    }
    this.t = end;
  }
}

/** A RandomSource returning the given values in turn (then repeating the last). */
export function sequenceRandom(...values: number[]): () => number {
  let i = 0;
  return () => values[Math.min(i++, values.length - 1)] ?? 0;
}
