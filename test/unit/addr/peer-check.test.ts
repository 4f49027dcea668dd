// Peer addresses and ranges checked against the RFC 3964 §5.3 policy where they enter (option 212
// BRs, relay, relay_ipv4, health_target, dns, customer_ipv4): addr/peer-check.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { parseIpv6 } from "../../../module/addr/ipv6.js";
import {
  customerRangeProblem,
  ipv4PeerProblem,
  ipv6PeerProblem,
  ipv6UnicastProblem,
  MAX_RELAYS,
  neverUnicastRange,
  relayListProblem,
} from "../../../module/addr/peer-check.js";

const v4 = (s: string): number => parseIpv4(s)!;
const v6 = (s: string): Uint8Array => parseIpv6(s)!;
const p4 = (s: string) => parseIpv4Prefix(s)!;
const SHARED = [p4("100.64.0.0/10")];

test("neverUnicastRange: unspecified, loopback, link-local, multicast, reserved, broadcast", () => {
  const never: Array<[string, string]> = [
    ["0.0.0.0", "unspecified"],
    ["0.1.2.3", "unspecified"],
    ["127.0.0.1", "loopback"],
    ["169.254.1.1", "link-local"],
    ["224.0.0.1", "multicast"],
    ["239.255.255.250", "multicast"],
    ["240.0.0.1", "reserved"],
    ["255.255.255.255", "broadcast"],
  ];
  for (const [a, cls] of never) assert.equal(neverUnicastRange(v4(a))?.cls, cls, a);
  for (const a of ["192.0.2.1", "192.88.99.1", "10.0.0.1", "100.64.0.1", "172.16.0.1"]) {
    assert.equal(neverUnicastRange(v4(a)), null, a);
  }
});

test("ipv4PeerProblem: private/shared only inside the allowed ranges, never the others", () => {
  assert.equal(ipv4PeerProblem(v4("198.51.100.1"), [], "allow_ipv4"), null);
  assert.equal(ipv4PeerProblem(v4("192.88.99.1"), [], "allow_ipv4"), null);
  assert.match(
    ipv4PeerProblem(v4("100.64.0.1"), [], "allow_ipv4") ?? "",
    /^100\.64\.0\.1 is shared \(RFC 6598 .*\) and not inside allow_ipv4$/,
  );
  assert.equal(ipv4PeerProblem(v4("100.64.0.1"), SHARED, "allow_ipv4"), null);
  assert.match(ipv4PeerProblem(v4("10.1.2.3"), SHARED, "x") ?? "", /private .* not inside x$/);
  // An allowed range cannot re-enable a never-unicast address (0.0.0.0/0 allows only private/shared).
  const all = [p4("0.0.0.0/0")];
  assert.match(ipv4PeerProblem(v4("255.255.255.255"), all, "x") ?? "", /is broadcast \(RFC 919/);
  assert.match(ipv4PeerProblem(v4("127.0.0.1"), all, "x") ?? "", /is loopback/);
  assert.match(ipv4PeerProblem(v4("224.0.0.1"), all, "x") ?? "", /is multicast/);
  assert.match(ipv4PeerProblem(v4("0.0.0.0"), all, "x") ?? "", /is unspecified/);
});

test("relayListProblem: bounded, unicast, allowed, not our own address", () => {
  const ctx = { ownIpv4: [v4("192.0.2.1")], allowIpv4: SHARED, allowName: "allow_ipv4" };
  assert.equal(relayListProblem([], ctx), null);
  assert.equal(relayListProblem([v4("192.88.99.1"), v4("100.64.9.9")], ctx), null);
  const max = Array.from({ length: MAX_RELAYS }, (_, i) => v4(`198.51.100.${i + 1}`));
  assert.equal(relayListProblem(max, ctx), null);
  assert.equal(
    relayListProblem([...max, v4("198.51.100.200")], ctx),
    `${MAX_RELAYS + 1} relay addresses, more than ${MAX_RELAYS}`,
  );
  assert.match(
    relayListProblem(
      Array.from({ length: 5000 }, () => v4("192.0.2.9")),
      ctx,
    ) ?? "",
    /^5000 relay addresses/,
  );
  // The first bad address is named, after the good ones.
  assert.match(
    relayListProblem([v4("192.88.99.1"), v4("255.255.255.255")], ctx) ?? "",
    /^255\.255\.255\.255 is broadcast/,
  );
  assert.equal(relayListProblem([v4("192.0.2.1")], ctx), "192.0.2.1 is this CPE's own WAN address");
  assert.match(relayListProblem([v4("10.0.0.1")], ctx) ?? "", /^10\.0\.0\.1 is private/);
});

test("ipv6PeerProblem: RFC 3964 §5.3.2 and the 2002:V4ADDR:: equivalents", () => {
  for (const [a, re] of [
    ["::", /^:: is unspecified/],
    ["::1", /^::1 is loopback/],
    ["fe80::1", /^fe80::1 is link-local/],
    ["fec0::1", /^fec0::1 is site-local/],
    ["ff02::1", /^ff02::1 is multicast/],
    ["::ffff:192.0.2.1", /ipv4-mapped/],
    ["2002:e000:1::", /^2002:e000:1:: embeds 224\.0\.0\.1 is multicast/],
    ["2002:a00:1::", /^2002:a00:1:: embeds 10\.0\.0\.1 is private .* not inside allow_ipv4$/],
  ] as Array<[string, RegExp]>) {
    assert.match(ipv6PeerProblem(v6(a), SHARED, "allow_ipv4") ?? "", re, a);
  }
  for (const a of ["2001:db8::1", "2002:c058:6301::", "2002:6440:1::", "3fff::1"]) {
    assert.equal(ipv6PeerProblem(v6(a), SHARED, "allow_ipv4"), null, a);
  }
});

test("ipv6UnicastProblem: ::, ::1 and multicast refused; link-local and global accepted", () => {
  assert.match(ipv6UnicastProblem(v6("::")) ?? "", /^:: is unspecified/);
  assert.match(ipv6UnicastProblem(v6("::1")) ?? "", /^::1 is loopback/);
  assert.match(ipv6UnicastProblem(v6("ff05::1:3")) ?? "", /^ff05::1:3 is multicast/);
  for (const a of ["fe80::53", "2001:db8::53", "2002:c000:201::53"]) {
    assert.equal(ipv6UnicastProblem(v6(a)), null, a);
  }
});

test("customerRangeProblem: ranges overlapping never-unicast space are refused", () => {
  for (const [p, re] of [
    ["0.0.0.0/0", /^0\.0\.0\.0\/0 overlaps 224\.0\.0\.0\/4, multicast/],
    ["128.0.0.0/1", /^128\.0\.0\.0\/1 overlaps 224\.0\.0\.0\/4, multicast/],
    ["64.0.0.0/2", /^64\.0\.0\.0\/2 overlaps 127\.0\.0\.0\/8, loopback/],
    ["0.0.0.0/8", /^0\.0\.0\.0\/8 overlaps 0\.0\.0\.0\/8, unspecified/],
    ["127.0.0.0/16", /^127\.0\.0\.0\/16 overlaps 127\.0\.0\.0\/8, loopback/],
    ["169.254.0.0/24", /overlaps 169\.254\.0\.0\/16, link-local/],
    ["232.0.0.0/8", /overlaps 224\.0\.0\.0\/4, multicast/],
    ["255.255.255.255/32", /overlaps 240\.0\.0\.0\/4, reserved/],
  ] as Array<[string, RegExp]>) {
    assert.match(customerRangeProblem(p4(p)) ?? "", re, p);
  }
  for (const p of ["100.64.0.0/10", "10.0.0.0/8", "192.0.2.0/24", "1.0.0.0/8", "128.0.0.0/3"]) {
    assert.equal(customerRangeProblem(p4(p)), null, p);
  }
});
