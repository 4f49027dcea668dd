// 6to4 derivation, RFC 3056 §2 (documentation addresses: 6to4 of 192.0.2.1 is 2002:c000:201::/48).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  embeddedIpv4,
  embeddedSla,
  is6to4,
  sixToFourLan64,
  sixToFourPrefix,
  sixToFourRouterAddress,
  writeSixToFour,
} from "../../../module/addr/sixto4.js";
import { formatIpv6, parseIpv6 } from "../../../module/addr/ipv6.js";
import { parseIpv4 } from "../../../module/addr/ipv4.js";

test("RFC 3056 §2 derivation table", () => {
  const rows: [string, string, string, number, string][] = [
    ["192.0.2.1", "2002:c000:201::", "2002:c000:201::1", 0, "2002:c000:201::"],
    ["192.0.2.1", "2002:c000:201::", "2002:c000:201::1", 1, "2002:c000:201:1::"],
    ["198.51.100.255", "2002:c633:64ff::", "2002:c633:64ff::1", 0xabcd, "2002:c633:64ff:abcd::"],
    ["12.152.44.1", "2002:c98:2c01::", "2002:c98:2c01::1", 0, "2002:c98:2c01::"],
    ["192.88.99.1", "2002:c058:6301::", "2002:c058:6301::1", 0, "2002:c058:6301::"],
  ];
  for (const [v4, p48, router, sla, lan] of rows) {
    const n = parseIpv4(v4)!;
    assert.equal(formatIpv6(sixToFourPrefix(n)), p48, v4);
    assert.equal(formatIpv6(sixToFourRouterAddress(n)), router, v4);
    assert.equal(formatIpv6(sixToFourLan64(n, sla)), lan, `${v4} sla ${sla}`);
  }
});

test("in-place readers and writer at an offset", () => {
  const buf = new Uint8Array(64);
  buf.set(parseIpv6("2002:cb00:7101:7::9")!, 24);
  assert.equal(is6to4(buf, 24), true);
  assert.equal(is6to4(buf, 0), false);
  assert.equal(embeddedIpv4(buf, 24), parseIpv4("203.0.113.1"));
  assert.equal(embeddedSla(buf, 24), 7);
  writeSixToFour(buf, 24, parseIpv4("192.0.2.1")!, 2);
  assert.equal(formatIpv6(buf, 24), "2002:c000:201:2::9");
  assert.equal(is6to4(parseIpv6("2001:db8::1")!, 0), false);
  assert.equal(is6to4(parseIpv6("2003::1")!, 0), false);
});
