/**
 * Time for the control plane comes through this interface so tests drive it deterministically
 * (test/support/fake-clock.ts). `now()` is wall-clock milliseconds: prefix deprecation deadlines are
 * persisted in the state file and must survive a restart (RFC 9096 §3.5), which a monotonic clock
 * would not.
 */
export interface Clock {
  /** Milliseconds since the epoch. */
  now(): number;
  /** Calls `fn` once after `ms`; the handle is passed to `clearTimer`. Never keeps a stopped daemon alive. */
  setTimer(fn: () => void, ms: number): TimerHandle;
  /**
   * Calls `fn` every `ms` until `clearTimer`. One timer for life: nothing is allocated per tick,
   * so a periodic task leaves no timer objects behind for V8 to promote (a one-shot timer
   * re-armed every few seconds lives across scavenges and piles up in the old generation).
   */
  setRepeating(fn: () => void, ms: number): TimerHandle;
  /** Cancels a timer; a handle that already fired or was cleared is ignored. */
  clearTimer(handle: TimerHandle): void;
}

/** Opaque timer handle. */
export type TimerHandle = { readonly __timer: unique symbol } | object;

/** The real clock: Date.now and node timers. */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimer: (fn, ms) => setTimeout(fn, Math.max(0, ms)),
  setRepeating: (fn, ms) => setInterval(fn, Math.max(1, ms)),
  clearTimer: (h) => clearTimeout(h as NodeJS.Timeout), // clears intervals too
};

/**
 * Monotonic milliseconds (libuv's hrtime through `process.uptime`): the clock of the data plane
 * and the echo probe's round trips. Not `performance.now()`: that loads node's perf_hooks
 * internals (about 0.3 MB resident) for one function.
 */
export function monotonicMs(): number {
  return process.uptime() * 1000;
}
