// RFC 6343 §4.1 (refuse private/loopback/link-local), RFC 6598 + RFC 6732 §4.2 (shared space only
// with PMT information).
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv4, parseIpv4Prefix, type Ipv4Prefix } from "../../../module/addr/ipv4.js";
import { checkWanIpv4 } from "../../../module/control/wan-policy.js";

const v4 = (s: string) => parseIpv4(s) as number;
const pfx = (s: string) => parseIpv4Prefix(s) as Ipv4Prefix;
const PLAIN = { hasProviderPrefix: false, relayExplicit: false, allowIpv4: [] };

test("global and documentation addresses are usable", () => {
  for (const a of ["192.0.2.1", "198.51.100.7", "203.0.113.9", "8.8.8.8"]) {
    assert.equal(checkWanIpv4(v4(a), PLAIN).usable, true, a);
  }
});

test("private, loopback, link-local, multicast, unspecified are refused with a reason", () => {
  const cases: Array<[string, RegExp]> = [
    ["10.1.2.3", /WAN address 10\.1\.2\.3 is private \(RFC 1918\).*RFC 6343 §4\.1/],
    ["192.168.1.1", /private/],
    ["127.0.0.1", /loopback/],
    ["169.254.3.4", /link-local/],
    ["224.0.0.1", /multicast/],
    ["0.0.0.0", /unspecified/],
  ];
  for (const [a, re] of cases) {
    const v = checkWanIpv4(v4(a), PLAIN);
    assert.equal(v.usable, false, a);
    assert.match(v.usable ? "" : v.reason, re, a);
  }
});

test("shared space needs a provider prefix or an explicit relay", () => {
  const a = v4("100.64.1.2");
  const plain = checkWanIpv4(a, PLAIN);
  assert.equal(plain.usable, false);
  assert.match(plain.usable ? "" : plain.reason, /RFC 6598/);
  assert.equal(checkWanIpv4(a, { ...PLAIN, hasProviderPrefix: true }).usable, true);
  assert.equal(checkWanIpv4(a, { ...PLAIN, relayExplicit: true }).usable, true);
  assert.equal(checkWanIpv4(a, { ...PLAIN, relayExplicit: true }).cls, "shared");
});

test("private only with provider prefix and a matching allow_ipv4", () => {
  const a = v4("10.9.8.7");
  assert.equal(checkWanIpv4(a, { ...PLAIN, allowIpv4: [pfx("10.0.0.0/8")] }).usable, false);
  assert.equal(
    checkWanIpv4(a, {
      hasProviderPrefix: true,
      relayExplicit: true,
      allowIpv4: [pfx("10.0.0.0/8")],
    }).usable,
    true,
  );
});
