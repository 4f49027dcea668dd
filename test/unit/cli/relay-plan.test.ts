/**
 * cli/relay-plan.ts: the relay's forwarding snapshot; with N workers each data plane gets an
 * equal part of icmp_rate_limit (RFC 4443 §2.4 (f): the limit holds for the relay as a whole).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { planRelay } from "../../../module/cli/relay-plan.js";
import { parseRelayConfig } from "../../../module/config/parse.js";
import { IcmpRateLimiter } from "../../../module/dataplane/icmp-rate-limit.js";

test("planRelay: icmp_rate_limit shared evenly by the workers", () => {
  const cfg = parseRelayConfig({ "--icmp-rate-limit": ["1000"] });
  assert.equal(planRelay(cfg).icmpRateLimit, 1000);
  assert.equal(planRelay(cfg, 1).icmpRateLimit, 1000);
  assert.equal(planRelay(cfg, 4).icmpRateLimit, 250);
  assert.equal(planRelay(cfg, 3).icmpRateLimit * 3, 1000);
});

test("a worker's part below one per second still sends: one token, refilled at that rate", () => {
  // icmp_rate_limit 1 over 2 workers: 0.5/s each, a bucket of one.
  const b = new IcmpRateLimiter(0.5, 1, 0);
  assert.equal(b.take(0), true);
  assert.equal(b.take(1000), false, "half a token after 1 s");
  assert.equal(b.take(2000), true, "one after 2 s");
});
