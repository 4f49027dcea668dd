/**
 * Token bucket for the ICMPv6 errors the data plane generates (RFC 4443 §2.4 (f) requires a limit;
 * RFC 6343 §4.4 item 6: a relay needs ~1000/s, 100/s is too slow for PMTUD).
 * Time comes in as an argument (milliseconds), so the hot path never reads a clock per packet and
 * tests drive it deterministically.
 */
export class IcmpRateLimiter {
  private tokens: number;
  private lastMs: number;

  /**
   * @param ratePerS tokens added per second (0 = never send)
   * @param burst bucket size; defaults to the rate (one second's worth), at least 1
   */
  constructor(
    private readonly ratePerS: number,
    private readonly burst = Math.max(1, ratePerS),
    nowMs = 0,
  ) {
    this.tokens = ratePerS > 0 ? this.burst : 0;
    this.lastMs = nowMs;
  }

  /** Takes one token if available at time `nowMs`; false = suppress this error. */
  take(nowMs: number): boolean {
    if (this.ratePerS <= 0) return false;
    const elapsed = nowMs - this.lastMs;
    if (elapsed > 0) {
      this.tokens = Math.min(this.burst, this.tokens + (elapsed * this.ratePerS) / 1000);
      this.lastMs = nowMs;
    }
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}
