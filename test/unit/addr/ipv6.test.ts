// IPv6 address/prefix parse and RFC 5952 formatting (module/addr/ipv6.ts), documentation
// addresses (RFC 3849, 2001:db8::/32) and 6to4 (RFC 3056).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatIpv6,
  formatIpv6Prefix,
  ipv6Equal,
  ipv6InPrefix,
  parseIpv6,
  parseIpv6Prefix,
} from "../../../module/addr/ipv6.js";

const hex = (b: Uint8Array | null): string | null =>
  b === null ? null : Buffer.from(b).toString("hex");

test("parseIpv6 accepts RFC 4291 §2.2 forms", () => {
  const cases: [string, string][] = [
    ["::", "00000000000000000000000000000000"],
    ["::1", "00000000000000000000000000000001"],
    ["2001:db8::", "20010db8000000000000000000000000"],
    ["2001:DB8:0:0:1:0:0:1", "20010db8000000000001000000000001"],
    ["2002:c000:201::1", "2002c000020100000000000000000001"],
    ["2002:0C98:2C01:0000::", "20020c982c0100000000000000000000"],
    ["::ffff:192.0.2.1", "00000000000000000000ffffc0000201"],
    ["64:ff9b::198.51.100.1", "0064ff9b0000000000000000c6336401"],
    ["1:2:3:4:5:6:7::", "00010002000300040005000600070000"],
    ["::2:3:4:5:6:7:8", "00000002000300040005000600070008"],
    ["1:2:3:4:5:6:203.0.113.1", "000100020003000400050006cb007101"],
  ];
  for (const [s, h] of cases) assert.equal(hex(parseIpv6(s)), h, s);
});

test("parseIpv6 rejects malformed input", () => {
  for (const s of [
    "",
    ":",
    ":::",
    "1::2::3",
    "1:2:3:4:5:6:7:8:9",
    "1:2:3:4:5:6:7",
    "1:2:3:4:5:6:7:8::",
    "12345::",
    "g::",
    "::192.0.2.256",
    "::192.0.2.01",
    "::1.2.3.4:5",
    "fe80::1%eth0",
    "2001:db8::/32",
    "192.0.2.1",
    " ::1",
    "1:",
    ":1",
  ]) {
    assert.equal(parseIpv6(s), null, JSON.stringify(s));
  }
});

test("formatIpv6 follows RFC 5952 §4", () => {
  const cases: [string, string][] = [
    ["0:0:0:0:0:0:0:0", "::"],
    ["0:0:0:0:0:0:0:1", "::1"],
    ["2001:0DB8:0000:0000:0000:0000:0000:0001", "2001:db8::1"], // §4.1, §4.3 lower case
    ["2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"], // §4.2.2 single zero group kept
    ["2001:0:0:1:0:0:0:1", "2001:0:0:1::1"], // §4.2.3 longest run
    ["2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"], // §4.2.3 first of equal runs
    ["2002:0C98:2C01:0000::", "2002:c98:2c01::"],
    ["2001:0db8:0c98:2c01::", "2001:db8:c98:2c01::"],
    ["2002:c000:201::c000:201", "2002:c000:201::c000:201"],
    ["1:0:0:0:0:0:0:0", "1::"],
    ["::ffff:c000:201", "::ffff:192.0.2.1"], // §5 mixed notation for IPv4-mapped
    ["::c000:201", "::c000:201"], // IPv4-compatible: hex (§5 is a MAY, deprecated form)
  ];
  for (const [s, f] of cases) assert.equal(formatIpv6(parseIpv6(s)!), f, s);
});

test("formatIpv6 reads at an offset", () => {
  const buf = new Uint8Array(40);
  buf.set(parseIpv6("2001:db8::42")!, 24);
  assert.equal(formatIpv6(buf, 24), "2001:db8::42");
});

test("parseIpv6Prefix: lengths, bare address = /128, host bits masked", () => {
  const p = parseIpv6Prefix("2001:db8::1/32")!;
  assert.equal(p.len, 32);
  assert.equal(formatIpv6(p.addr), "2001:db8::");
  assert.equal(formatIpv6Prefix(parseIpv6Prefix("2002:c000:2ff:ffff::/39")!), "2002:c000:200::/39");
  assert.equal(parseIpv6Prefix("2001:db8::1")!.len, 128);
  assert.equal(formatIpv6Prefix(parseIpv6Prefix("::/0")!), "::/0");
  assert.equal(formatIpv6Prefix(parseIpv6Prefix("2001:db8:ffff::/33")!), "2001:db8:8000::/33");
  for (const s of ["2001:db8::/129", "2001:db8::/", "2001:db8::/032", "2001:db8::/x", "x/32"]) {
    assert.equal(parseIpv6Prefix(s), null, s);
  }
});

test("ipv6InPrefix and ipv6Equal", () => {
  const p = parseIpv6Prefix("2002::/16")!;
  const a = parseIpv6("2002:c000:201::1")!;
  assert.equal(ipv6InPrefix(a, 0, p), true);
  assert.equal(ipv6InPrefix(parseIpv6("2001:db8::1")!, 0, p), false);
  const odd = parseIpv6Prefix("2001:db8:8000::/33")!;
  assert.equal(ipv6InPrefix(parseIpv6("2001:db8:8000::1")!, 0, odd), true);
  assert.equal(ipv6InPrefix(parseIpv6("2001:db8:7fff::1")!, 0, odd), false);
  assert.equal(ipv6InPrefix(a, 0, parseIpv6Prefix("::/0")!), true);
  const buf = new Uint8Array(32);
  buf.set(a, 8);
  assert.equal(ipv6Equal(buf, 8, a, 0), true);
  assert.equal(ipv6Equal(buf, 0, a, 0), false);
});
