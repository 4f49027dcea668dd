// IPv4 address/prefix parse and format (module/addr/ipv4.ts), documentation addresses (RFC 5737).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  formatIpv4,
  formatIpv4Prefix,
  ipv4InPrefix,
  ipv4Mask,
  parseIpv4,
  parseIpv4Prefix,
  readIpv4,
  writeIpv4,
} from "../../../module/addr/ipv4.js";

test("parseIpv4 accepts dotted quads", () => {
  const cases: [string, number][] = [
    ["0.0.0.0", 0],
    ["192.0.2.1", 0xc0000201],
    ["198.51.100.255", 0xc63364ff],
    ["255.255.255.255", 0xffffffff],
    ["12.152.44.1", 0x0c982c01],
  ];
  for (const [s, n] of cases) assert.equal(parseIpv4(s), n, s);
});

test("parseIpv4 rejects malformed input", () => {
  for (const s of [
    "",
    "192.0.2",
    "192.0.2.1.5",
    "192.0.2.256",
    "192.0.2.-1",
    "192.0.2.01",
    "0x1.0.0.1",
    " 192.0.2.1",
    "192.0.2.1 ",
    "192..2.1",
    "1e2.0.0.1",
    "2001:db8::1",
  ]) {
    assert.equal(parseIpv4(s), null, JSON.stringify(s));
  }
});

test("formatIpv4 round-trips", () => {
  for (const s of ["0.0.0.0", "203.0.113.7", "255.255.255.255", "100.64.0.1"]) {
    assert.equal(formatIpv4(parseIpv4(s)!), s);
  }
});

test("ipv4Mask", () => {
  assert.equal(ipv4Mask(0), 0);
  assert.equal(ipv4Mask(8), 0xff000000);
  assert.equal(ipv4Mask(10), 0xffc00000);
  assert.equal(ipv4Mask(32), 0xffffffff);
});

test("parseIpv4Prefix: lengths, bare address = /32, host bits masked", () => {
  assert.deepEqual(parseIpv4Prefix("192.0.2.0/24"), { addr: 0xc0000200, len: 24 });
  assert.deepEqual(parseIpv4Prefix("192.0.2.77/24"), { addr: 0xc0000200, len: 24 });
  assert.deepEqual(parseIpv4Prefix("203.0.113.9"), { addr: 0xcb007109, len: 32 });
  assert.deepEqual(parseIpv4Prefix("100.127.1.1/10"), { addr: 0x64400000, len: 10 });
  assert.deepEqual(parseIpv4Prefix("0.0.0.0/0"), { addr: 0, len: 0 });
  for (const s of [
    "192.0.2.0/33",
    "192.0.2.0/",
    "192.0.2.0/-1",
    "192.0.2.0/08",
    "x/8",
    "192.0.2.0/24/1",
  ]) {
    assert.equal(parseIpv4Prefix(s), null, s);
  }
  assert.equal(formatIpv4Prefix(parseIpv4Prefix("198.51.100.3/24")!), "198.51.100.0/24");
});

test("ipv4InPrefix", () => {
  const shared = parseIpv4Prefix("100.64.0.0/10")!;
  assert.equal(ipv4InPrefix(parseIpv4("100.64.0.1")!, shared), true);
  assert.equal(ipv4InPrefix(parseIpv4("100.127.255.255")!, shared), true);
  assert.equal(ipv4InPrefix(parseIpv4("100.128.0.0")!, shared), false);
  assert.equal(ipv4InPrefix(parseIpv4("192.0.2.1")!, parseIpv4Prefix("0.0.0.0/0")!), true);
});

test("readIpv4/writeIpv4 at an offset", () => {
  const buf = new Uint8Array(10);
  writeIpv4(buf, 3, 0xc0000201);
  assert.deepEqual([...buf.subarray(3, 7)], [192, 0, 2, 1]);
  assert.equal(readIpv4(buf, 3), 0xc0000201);
  writeIpv4(buf, 0, 0xffffffff);
  assert.equal(readIpv4(buf, 0), 0xffffffff);
});
