// status/verdict.ts: one line and a level (works / degraded / down) from a status snapshot.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ipv6Verdict } from "../../../module/status/verdict.js";
import type { StatusSnapshot } from "../../../module/status/snapshot.js";
import { sampleStatus } from "../../support/status-sample.js";

function with_(patch: (s: Record<string, unknown>) => void): StatusSnapshot {
  const s = structuredClone(sampleStatus()) as unknown as Record<string, unknown>;
  patch(s);
  return s as unknown as StatusSnapshot;
}
const health = (s: Record<string, unknown>) => s.health as Record<string, unknown>;
const ra = (s: Record<string, unknown>) => s.ra as Record<string, unknown>;

test("works: running, probes answered, routes in place, router lifetime > 0", () => {
  const v = ipv6Verdict(sampleStatus());
  assert.equal(v.level, "works");
  assert.equal(
    v.line,
    "IPv6 works: 2001:db8:c000:201::/64 via relay 192.0.2.254, 10 of 10 health probes to 2002:c000:2fe::c000:2fe answered, rtt 4.50 ms",
  );
});

test("down: running with the health probe failing and router lifetime 0 (the issue's case)", () => {
  const v = ipv6Verdict(
    with_((s) => {
      Object.assign(health(s), {
        state: "down",
        probesSent: 6,
        probesOk: 0,
        consecutiveFailures: 6,
      });
      ra(s).routerLifetimeS = 0;
    }),
  );
  assert.equal(v.level, "down");
  assert.equal(
    v.line,
    "IPv6 down: the tunnel does not answer: 0 of 6 health probes to 2002:c000:2fe::c000:2fe answered, the last 6 failed; LAN router lifetime 0 s",
  );
});

test("down: every state but running, with its reason", () => {
  const cases: [string, string | null, RegExp][] = [
    ["no-wan", "no IPv4 address on WAN wan0", /^IPv6 down: no IPv4 address on the WAN \(no IPv4/],
    [
      "refused",
      "WAN address 10.0.0.2 is private",
      /^IPv6 down: the WAN address is refused \(WAN address 10/,
    ],
    ["disabled", "enabled = 0", /^IPv6 down: 6to4 is disabled/],
    [
      "starting",
      "route ::/0 dev t0 missing: Nexthop device is not up; retrying",
      /^IPv6 down: starting \(route ::\/0 dev t0 missing: Nexthop/,
    ],
  ];
  for (const [state, reason, re] of cases) {
    const v = ipv6Verdict(with_((s) => Object.assign(s, { state, stateReason: reason })));
    assert.equal(v.level, "down", state);
    assert.match(v.line, re);
  }
});

test("down: a route into the tunnel missing", () => {
  const v = ipv6Verdict(
    with_((s) => {
      s.tunRoutes = [
        { prefix: "::/0", installed: false, error: "Nexthop device is not up." },
        { prefix: "2002::/16", installed: true, error: null },
      ];
    }),
  );
  assert.equal(v.level, "down");
  assert.equal(v.line, "IPv6 down: route ::/0 into the tunnel missing (Nexthop device is not up.)");
});

test("degraded: not confirmed yet, recent failures, router lifetime 0 while the tunnel answers", () => {
  let v = ipv6Verdict(
    with_((s) => Object.assign(health(s), { state: "unknown", probesSent: 1, probesOk: 0 })),
  );
  assert.equal(v.level, "degraded");
  assert.match(v.line, /^IPv6 degraded: not confirmed yet: 0 of 1 health probes/);
  v = ipv6Verdict(with_((s) => Object.assign(health(s), { consecutiveFailures: 2 })));
  assert.equal(v.level, "degraded");
  assert.match(v.line, /the last 2 health probe\(s\) failed .*withdrawn after 3/);
  v = ipv6Verdict(with_((s) => (ra(s).routerLifetimeS = 0)));
  assert.equal(v.level, "degraded");
  assert.match(v.line, /router lifetime 0/);
  // ra netifd/off: no router lifetime of ours to judge.
  v = ipv6Verdict(
    with_((s) => Object.assign(ra(s), { mode: "netifd", routerLifetimeS: 0, sent: 0 })),
  );
  assert.equal(v.level, "works");
});
