// Special ranges and sanity checks: RFC 3964 §5.3.1 (IPv4), §5.3.2 (IPv6), RFC 4213 §3.6,
// RFC 6598 (shared), RFC 5737 (documentation), RFC 3068 (relay anycast), RFC 1918.
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  classifyIpv4,
  classifyIpv6,
  ineffectiveAllowedPrefixes,
  ipv4Range,
  isInvalid6to4Ipv4,
  isInvalidIpv6,
  IPV6_CLASS_RFC,
  IPV4_SPECIAL_RANGES,
} from "../../../module/addr/classify.js";
import { parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { parseIpv6 } from "../../../module/addr/ipv6.js";

const v4 = (s: string): number => parseIpv4(s)!;
const pfx = (s: string) => parseIpv4Prefix(s)!;

// [address, class, invalid for 6to4 by default, RFC fragment]
const IPV4_TABLE: [string, string, boolean, string][] = [
  ["0.0.0.0", "unspecified", true, "RFC 3964 §5.3.1"],
  ["0.1.2.3", "unspecified", true, "RFC 1122"],
  ["10.0.0.1", "private", true, "RFC 1918"],
  ["10.255.255.255", "private", true, "RFC 1918"],
  ["172.16.0.1", "private", true, "RFC 1918"],
  ["172.31.255.254", "private", true, "RFC 1918"],
  ["172.32.0.1", "global", false, "RFC 3056"],
  ["172.15.255.255", "global", false, "RFC 3056"],
  ["192.168.1.1", "private", true, "RFC 1918"],
  ["100.64.0.1", "shared", true, "RFC 6598"],
  ["100.127.255.254", "shared", true, "RFC 6598"],
  ["100.128.0.1", "global", false, "RFC 3056"],
  ["100.63.255.255", "global", false, "RFC 3056"],
  ["127.0.0.1", "loopback", true, "RFC 3964 §5.3.1"],
  ["169.254.10.1", "link-local", true, "RFC 3927"],
  ["169.253.0.1", "global", false, "RFC 3056"],
  ["192.0.0.8", "ietf-protocol", false, "RFC 6890"],
  ["192.0.2.1", "documentation", false, "RFC 5737"],
  ["198.51.100.7", "documentation", false, "RFC 5737"],
  ["203.0.113.200", "documentation", false, "RFC 5737"],
  ["192.88.99.1", "6to4-relay-anycast", false, "RFC 3068"],
  ["198.18.0.1", "benchmarking", false, "RFC 2544"],
  ["198.19.255.255", "benchmarking", false, "RFC 2544"],
  ["224.0.0.1", "multicast", true, "RFC 5771"],
  ["239.255.255.255", "multicast", true, "RFC 5771"],
  ["240.0.0.1", "reserved", true, "RFC 3964 §5.3.1"],
  ["255.255.255.254", "reserved", true, "RFC 3964"],
  ["255.255.255.255", "broadcast", true, "RFC 919"],
  ["12.152.44.1", "global", false, "RFC 3056"],
  ["8.8.8.8", "global", false, "RFC 3056"],
];

test("classifyIpv4 table: class, RFC 3964 §5.3.1 status, RFC cited", () => {
  for (const [s, cls, invalid, rfc] of IPV4_TABLE) {
    assert.equal(classifyIpv4(v4(s)), cls, s);
    assert.equal(isInvalid6to4Ipv4(v4(s), []), invalid, `${s} invalid`);
    assert.ok(ipv4Range(v4(s)).rfc.includes(rfc), `${s}: ${ipv4Range(v4(s)).rfc} cites ${rfc}`);
  }
  for (const r of IPV4_SPECIAL_RANGES) assert.match(r.rfc, /RFC \d+/);
});

test("operator overrides re-enable ONLY matching private/shared entries (RFC 6732 §4.2)", () => {
  const cgn = [pfx("100.64.0.0/10")];
  assert.equal(isInvalid6to4Ipv4(v4("100.64.0.1"), cgn), false);
  assert.equal(isInvalid6to4Ipv4(v4("100.100.1.1"), cgn), false);
  for (const s of [
    "10.0.0.1",
    "192.168.0.1",
    "172.16.0.1",
    "127.0.0.1",
    "0.0.0.1",
    "169.254.1.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
  ]) {
    assert.equal(isInvalid6to4Ipv4(v4(s), cgn), true, s);
  }
  const part = [pfx("10.1.0.0/16")];
  assert.equal(isInvalid6to4Ipv4(v4("10.1.2.3"), part), false);
  assert.equal(isInvalid6to4Ipv4(v4("10.2.0.1"), part), true);
  // Everything declared: unspecified, loopback, link-local, multicast, reserved, broadcast stay out.
  const all = [pfx("0.0.0.0/0")];
  assert.equal(isInvalid6to4Ipv4(v4("10.0.0.1"), all), false);
  assert.equal(isInvalid6to4Ipv4(v4("100.64.0.1"), all), false);
  for (const s of [
    "127.0.0.1",
    "0.0.0.0",
    "169.254.1.1",
    "224.0.0.1",
    "240.0.0.1",
    "255.255.255.255",
  ]) {
    assert.equal(isInvalid6to4Ipv4(v4(s), all), true, s);
  }
  assert.deepEqual(
    ineffectiveAllowedPrefixes([pfx("127.0.0.0/8"), pfx("100.64.0.0/10"), pfx("224.1.0.0/16")]),
    ["127.0.0.0/8", "224.1.0.0/16"],
  );
});

// [address, class, invalid per RFC 3964 §5.3.2]
const IPV6_TABLE: [string, string, boolean][] = [
  ["::", "unspecified", true],
  ["::1", "loopback", true],
  ["::ffff:192.0.2.1", "ipv4-mapped", true],
  ["::192.0.2.1", "ipv4-compatible", true],
  ["::2", "ipv4-compatible", true],
  ["0:0:1::1", "reserved", true],
  ["fe80::1", "link-local", true],
  ["febf:ffff::1", "link-local", true],
  ["fec0::1", "site-local", true],
  ["feff::1", "site-local", true],
  ["ff02::1", "multicast", true],
  ["ff0e::101", "multicast", true],
  ["2002:c000:201::1", "6to4", false],
  ["2001:db8::1", "global", false],
  ["3fff::1", "global", false],
  ["1::1", "global", false],
  ["fe7f::1", "global", false],
];

test("classifyIpv6 / isInvalidIpv6 table (RFC 3964 §5.3.2, RFC 4213 §3.6)", () => {
  for (const [s, cls, invalid] of IPV6_TABLE) {
    const buf = new Uint8Array(24);
    buf.set(parseIpv6(s)!, 8);
    assert.equal(classifyIpv6(buf, 8), cls, s);
    assert.equal(isInvalidIpv6(buf, 8), invalid, s);
    assert.match(IPV6_CLASS_RFC[cls as keyof typeof IPV6_CLASS_RFC], /RFC \d+/);
  }
});
