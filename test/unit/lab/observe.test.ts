// What `6to4-pmt lab` reads back (module/lab/observe.ts): rdisc6's report of a Router
// Advertisement (samples captured from the lab's LAN host, ndisc6 1.0.7), the host's addresses from
// `ip -j -6 addr`, and the prefixes it expects: RFC 3056 §2 (2002:V4ADDR::/48) and RFC 6732 §3.3
// Figure 3 (the translated /64), computed independently of addr/pmt-mapping.ts.
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  globalAddresses,
  inIpv6Prefix,
  normIpv6,
  parseRdisc6,
  sixto4Address,
  sixto4Prefix48,
  translatedPrefix64,
} from "../../../module/lab/observe.js";

const RDISC6 = `Soliciting ff02::2 (ff02::2) on eth0...

Hop limit                 :           64 (      0x40)
Stateful address conf.    :           No
Stateful other conf.      :           No
Mobile home agent         :           No
Router preference         :       medium
Neighbor discovery proxy  :           No
Router lifetime           :         1800 (0x00000708) seconds
Reachable time            :  unspecified (0x00000000)
Retransmit time           :  unspecified (0x00000000)
 Source link-layer address: 82:0C:2E:32:0D:04
 MTU                      :         1480 bytes (valid)
 Prefix                   : 2001:db8:6440:2::/64
  On-link                 :          Yes
  Autonomous address conf.:          Yes
  Valid time              :         5400 (0x00001518) seconds
  Pref. time              :         2700 (0x00000a8c) seconds
 Recursive DNS server     : 3fff:100::53
  DNS server lifetime     :         1800 (0x00000708) seconds
 DNS search list          : lab.example two.example 
  DNS search list lifetime:         1800 (0x00000708) seconds
 from fe80::800c:2eff:fe32:d04
`;

test("parseRdisc6: lifetime, preference, MTU, prefix flags and lifetimes, RDNSS, DNSSL, source", () => {
  const ras = parseRdisc6(RDISC6);
  assert.equal(ras.length, 1);
  assert.deepEqual(ras[0], {
    from: "fe80::800c:2eff:fe32:d04",
    routerLifetimeS: 1800,
    preference: "medium",
    mtu: 1480,
    prefixes: [
      {
        prefix: "2001:db8:6440:2::/64",
        onLink: true,
        autonomous: true,
        validS: 5400,
        preferredS: 2700,
      },
    ],
    rdnss: ["3fff:100::53"],
    dnssl: ["lab.example", "two.example"],
  });
});

test("parseRdisc6: a withdrawn router and a deprecated prefix; two RAs; nothing on a timeout", () => {
  const second = RDISC6.replace("1800 (0x00000708) seconds", "0 (0x00000000) seconds")
    .replace("2001:db8:6440:2::/64", "2001:db8:6440:3::/64")
    .replace("2700 (0x00000a8c)", "0 (0x00000000)")
    .replace(" Autonomous address conf.:          Yes", " Autonomous address conf.:           No")
    .replace(/^Soliciting.*\n/, "");
  const ras = parseRdisc6(RDISC6 + second);
  assert.equal(ras.length, 2);
  assert.equal(ras[1]!.routerLifetimeS, 0);
  assert.deepEqual(ras[1]!.prefixes[0], {
    prefix: "2001:db8:6440:3::/64",
    onLink: true,
    autonomous: false,
    validS: 5400,
    preferredS: 0,
  });
  assert.deepEqual(
    parseRdisc6("Soliciting ff02::2 (ff02::2) on eth0...\nTimed out.\nNo response.\n"),
    [],
  );
  // Without a "from" line (output cut short) the fields read so far still count.
  assert.equal(parseRdisc6(RDISC6.replace(/ from .*\n/, ""))[0]?.mtu, 1480);
});

const IP_ADDR = JSON.stringify([
  {
    ifname: "eth0",
    addr_info: [
      {
        family: "inet6",
        local: "2001:db8:6440:2:6857:30ff:fe6d:1ad2",
        prefixlen: 64,
        scope: "global",
        dynamic: true,
        mngtmpaddr: true,
        valid_life_time: 5399,
        preferred_life_time: 2699,
      },
      {
        family: "inet6",
        local: "2001:db8:6440:3:6857:30ff:fe6d:1ad2",
        prefixlen: 64,
        scope: "global",
        dynamic: true,
        deprecated: true,
        valid_life_time: 5000,
        preferred_life_time: 0,
      },
      {
        family: "inet6",
        local: "3fff:1::5",
        prefixlen: 64,
        scope: "global",
        tentative: true,
        valid_life_time: 4294967295,
        preferred_life_time: 4294967295,
      },
      {
        family: "inet6",
        local: "fe80::6857:30ff:fe6d:1ad2",
        prefixlen: 64,
        scope: "link",
        valid_life_time: 4294967295,
        preferred_life_time: 4294967295,
      },
    ],
  },
]);

test("globalAddresses: global ones only, SLAAC (dynamic), deprecated and tentative flags", () => {
  const a = globalAddresses(IP_ADDR);
  assert.deepEqual(
    a.map((x) => [x.address, x.dynamic, x.deprecated, x.tentative, x.validS, x.preferredS]),
    [
      ["2001:db8:6440:2:6857:30ff:fe6d:1ad2", true, false, false, 5399, 2699],
      ["2001:db8:6440:3:6857:30ff:fe6d:1ad2", true, true, false, 5000, 0],
      ["3fff:1::5", false, false, true, 4294967295, 4294967295],
    ],
  );
  assert.deepEqual(globalAddresses(""), []);
  assert.deepEqual(globalAddresses("not json"), []);
  assert.deepEqual(globalAddresses('{"a":1}'), []);
});

test("inIpv6Prefix", () => {
  assert.equal(inIpv6Prefix("2001:db8:6440:2:6857:30ff:fe6d:1ad2", "2001:db8:6440:2::/64"), true);
  assert.equal(inIpv6Prefix("2001:db8:6440:3::1", "2001:db8:6440:2::/64"), false);
  assert.equal(inIpv6Prefix("2001:db8:6441::1", "2001:db8:6440::/48"), false);
  assert.equal(inIpv6Prefix("2001:db8:6441::1", "2001:db8:6440::/47"), true);
  assert.equal(inIpv6Prefix("bogus", "2001:db8::/32"), false);
  assert.equal(inIpv6Prefix("2001:db8::1", "bogus"), false);
});

test("sixto4Prefix48 (RFC 3056 §2) and the wire form of a host address (RFC 6732 Figure 3)", () => {
  assert.equal(sixto4Prefix48("100.64.0.2"), "2002:6440:2::/48");
  assert.equal(sixto4Prefix48("192.88.99.1"), "2002:c058:6301::/48");
  assert.equal(sixto4Prefix48("300.1.1.1"), null);
  assert.equal(
    sixto4Address("100.64.0.2", "2001:db8:6440:2:6857:30ff:fe6d:1ad2"),
    "2002:6440:2:0:6857:30ff:fe6d:1ad2",
  );
  assert.equal(sixto4Address("100.64.0.2", "2001:db8:6440:2::100"), "2002:6440:2::100");
  assert.equal(sixto4Address("x", "2001:db8::1"), null);
});

test("translatedPrefix64: P/L + the low 32 - IPv4MaskLen bits of V4ADDR + zeros (RFC 6732 §3.3)", () => {
  // Figure 3: P = 2001:db8::/32, no common bits: P:V4ADDR::/64.
  assert.equal(translatedPrefix64("2001:db8::/32", "100.64.0.2", 0), "2001:db8:6440:2::/64");
  assert.equal(translatedPrefix64("2001:db8::/32", "192.0.2.1", 0), "2001:db8:c000:201::/64");
  // IPv4MaskLen 8 drops "100." and leaves 8 bits of SLA space: 2001:db8:4000:200::/64.
  assert.equal(translatedPrefix64("2001:db8::/32", "100.64.0.2", 8), "2001:db8:4000:200::/64");
  // A /40 provider prefix with IPv4MaskLen 10 (100.64.0.0/10): 22 bits follow bit 40.
  assert.equal(translatedPrefix64("2001:db8:ab00::/40", "100.64.0.2", 10), "2001:db8:ab00:8::/64");
  assert.equal(translatedPrefix64("2001:db8::/48", "100.64.0.2", 0), null, "does not fit");
  assert.equal(translatedPrefix64("2001:db8::/32", "100.64.0.2", 33), null);
  assert.equal(translatedPrefix64("bad", "100.64.0.2", 0), null);
});

test("normIpv6: busybox's uncompressed form to RFC 5952", () => {
  assert.equal(normIpv6("2001:0db8:0000:0000:0000:0000:0000:0000"), "2001:db8::");
  assert.equal(normIpv6("junk"), "junk");
});
