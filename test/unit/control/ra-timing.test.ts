// RA timing and lifetime maths: RFC 4861 §6.2.1, §6.2.4, §6.2.5, §6.2.6, §10; RFC 9096 §3.4, §4;
// RFC 8106 §5.1; RFC 4191 §2.2; RFC 7084 §4.3 L-4.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  calcAdvInterval,
  calcDnsLifetime,
  calcRouteLifetime,
  calcRouterLifetime,
  calcRouterPreferenceBits,
  calcSolicitedSendTime,
  capPrefixLifetimes,
  clampAdvIntervals,
  MAX_INITIAL_RTR_ADVERT_INTERVAL_S,
  MAX_INITIAL_RTR_ADVERTISEMENTS,
  ND_PREFERRED_LIMIT_S,
  ND_VALID_LIMIT_S,
} from "../../../module/control/ra-timing.js";

const fixed = (v: number) => () => v;

test("clampAdvIntervals keeps RFC 4861 §6.2.1 bounds", () => {
  const cases: Array<[string, number, number, number, number]> = [
    ["defaults", 200, 600, 200, 600],
    ["max below 4", 3, 1, 3, 4],
    ["max above 1800", 200, 5000, 200, 1800],
    ["min above 0.75*max", 590, 600, 450, 600],
    ["min below 3", 1, 10, 3, 10],
  ];
  for (const [name, min, max, wantMin, wantMax] of cases) {
    assert.deepEqual(clampAdvIntervals(min, max), { minS: wantMin, maxS: wantMax }, name);
  }
});

test("calcAdvInterval: initial burst capped at 16 s, then uniform Min..Max (§6.2.4)", () => {
  const iv = clampAdvIntervals(200, 600);
  for (let sent = 0; sent < MAX_INITIAL_RTR_ADVERTISEMENTS; sent++) {
    assert.equal(calcAdvInterval(iv, sent, fixed(0.5)), MAX_INITIAL_RTR_ADVERT_INTERVAL_S * 1000);
  }
  assert.equal(calcAdvInterval(iv, 3, fixed(0)), 200_000);
  assert.equal(calcAdvInterval(iv, 3, fixed(0.5)), 400_000);
  assert.equal(calcAdvInterval(iv, 3, fixed(0.999999)), 600_000);
  // Short intervals are not stretched to 16 s during the burst.
  const short = clampAdvIntervals(3, 4);
  assert.equal(calcAdvInterval(short, 0, fixed(0)), 3000);
});

test("calcSolicitedSendTime: delay <= 0.5 s, rate limit 3 s, not after scheduled (§6.2.6)", () => {
  assert.equal(calcSolicitedSendTime(10_000, null, null, fixed(0)), 10_000);
  assert.equal(calcSolicitedSendTime(10_000, null, null, fixed(0.999)), 10_500);
  // Last multicast RA 1 s ago: wait until 3 s after it, plus the random delay.
  assert.equal(calcSolicitedSendTime(10_000, 9_000, null, fixed(0.5)), 12_250);
  // Last multicast RA long ago: no rate limit.
  assert.equal(calcSolicitedSendTime(10_000, 1_000, null, fixed(0.5)), 10_250);
  // An unsolicited RA already scheduled sooner wins.
  assert.equal(calcSolicitedSendTime(10_000, null, 10_100, fixed(0.999)), 10_100);
});

test("calcRouterLifetime: 0 without prefix, when unhealthy or stopping (RFC 7084 L-4, §6.2.5)", () => {
  const intervals = clampAdvIntervals(200, 600);
  const base = { configuredS: 1800, intervals, hasPrefix: true, healthy: true, stopping: false };
  assert.equal(calcRouterLifetime(base), 1800);
  assert.equal(calcRouterLifetime({ ...base, hasPrefix: false }), 0);
  assert.equal(calcRouterLifetime({ ...base, healthy: false }), 0);
  assert.equal(calcRouterLifetime({ ...base, stopping: true }), 0);
  assert.equal(calcRouterLifetime({ ...base, configuredS: 0 }), 0);
  // Between MaxRtrAdvInterval and 9000 (§6.2.1).
  assert.equal(calcRouterLifetime({ ...base, configuredS: 100 }), 600);
  assert.equal(calcRouterLifetime({ ...base, configuredS: 20000 }), 9000);
});

test("calcRouterPreferenceBits: medium when lifetime is 0 (RFC 4191 §2.2)", () => {
  assert.equal(calcRouterPreferenceBits("high", 1800), 0b01);
  assert.equal(calcRouterPreferenceBits("low", 1800), 0b11);
  assert.equal(calcRouterPreferenceBits("medium", 1800), 0b00);
  assert.equal(calcRouterPreferenceBits("low", 0), 0b00);
});

test("capPrefixLifetimes: RFC 9096 limits and preferred <= valid", () => {
  assert.deepEqual(capPrefixLifetimes(604800, 2592000), {
    preferredS: ND_PREFERRED_LIMIT_S,
    validS: ND_VALID_LIMIT_S,
  });
  assert.deepEqual(capPrefixLifetimes(1000, 500), { preferredS: 500, validS: 500 });
  assert.deepEqual(capPrefixLifetimes(-5, Number.NaN), { preferredS: 0, validS: 0 });
  assert.deepEqual(capPrefixLifetimes(0, 0), { preferredS: 0, validS: 0 });
});

test("calcDnsLifetime: >= 3 x MaxRtrAdvInterval, <= ND_VALID_LIMIT (RFC 8106 §5.1)", () => {
  assert.equal(calcDnsLifetime(clampAdvIntervals(200, 600)), 1800);
  assert.equal(calcDnsLifetime(clampAdvIntervals(3, 4)), 12);
  assert.equal(calcDnsLifetime(clampAdvIntervals(200, 1800)), ND_VALID_LIMIT_S);
});

test("calcRouteLifetime: 0 follows router lifetime, capped at ND_VALID_LIMIT", () => {
  const iv = clampAdvIntervals(200, 600);
  assert.equal(calcRouteLifetime(0, iv), 0);
  assert.equal(calcRouteLifetime(1800, iv), 1800);
  assert.equal(calcRouteLifetime(9000, iv), ND_VALID_LIMIT_S);
});
