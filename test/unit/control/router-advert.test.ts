// Our RA content and option order (RFC 4861 §4.2, §4.6, §6.2.3; RFC 4191 §2.2/§2.3; RFC 8106;
// RFC 9096 §3.5) and Router Solicitation validity (RFC 4861 §6.1.1).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  parseIpv6,
  parseIpv6Prefix,
  formatIpv6,
  type Ipv6Prefix,
} from "../../../module/addr/ipv6.js";
import { routerAdvertisement } from "../../../module/codec/nd.js";
import { PrefixState } from "../../../module/control/prefix-state.js";
import {
  buildRouterAdvertisement,
  encodeRouterAdvertisement,
  validateRouterSolicitation,
  type RaContent,
} from "../../../module/control/router-advert.js";

const p = (s: string) => parseIpv6Prefix(s) as Ipv6Prefix;
const MAC = Uint8Array.of(0x02, 0, 0x5e, 0x10, 0, 1);
const T0 = 1_700_000_000_000;

function content(over: Partial<RaContent> = {}): RaContent {
  const s = new PrefixState();
  s.setCurrent(p("2001:db8:c633:6407::/64"), { preferredS: 2700, validS: 5400 }, T0);
  s.setCurrent(p("2001:db8:c000:201::/64"), { preferredS: 2700, validS: 5400 }, T0 + 1);
  return {
    lanMac: MAC,
    routerLifetimeS: 1800,
    preference: "low",
    mtu: 1480,
    prefixes: s.advertised(T0 + 1),
    routes: [],
    dns: [parseIpv6("2001:db8::53") as Uint8Array],
    domains: ["example.com"],
    dnsLifetimeS: 1800,
    ...over,
  };
}

test("RA: header fields and options in order SLLA, MTU, PIOs (current, deprecated), RDNSS, DNSSL", () => {
  const { bytes, skipped } = encodeRouterAdvertisement(content());
  assert.deepEqual(skipped, []);
  assert.equal(bytes[0], 134);
  assert.equal(bytes[1], 0);
  const ra = routerAdvertisement.decode(bytes);
  assert.equal(ra.curHopLimit, 64);
  assert.equal(ra.managed, false);
  assert.equal(ra.other, false);
  assert.equal(ra.routerLifetime, 1800);
  assert.equal(ra.preference, "low");
  assert.deepEqual(
    ra.options.map((o) => o.kind),
    [
      "source-link-layer-address",
      "mtu",
      "prefix-information",
      "prefix-information",
      "rdnss",
      "dnssl",
    ],
  );
  const [slla, mtu, cur, old, rdnss, dnssl] = ra.options;
  assert.deepEqual(slla?.kind === "source-link-layer-address" && [...slla.address], [...MAC]);
  assert.equal(mtu?.kind === "mtu" && mtu.mtu, 1480);
  assert.ok(cur?.kind === "prefix-information");
  assert.equal(formatIpv6(cur.prefix), "2001:db8:c000:201::");
  assert.deepEqual([cur.prefixLength, cur.onLink, cur.autonomous], [64, true, true]);
  assert.deepEqual([cur.preferredLifetime, cur.validLifetime], [2700, 5400]);
  assert.ok(old?.kind === "prefix-information");
  assert.equal(formatIpv6(old.prefix), "2001:db8:c633:6407::");
  assert.deepEqual(
    [old.onLink, old.autonomous, old.preferredLifetime, old.validLifetime],
    [true, true, 0, 0],
  );
  assert.ok(
    rdnss?.kind === "rdnss" &&
      rdnss.lifetime === 1800 &&
      formatIpv6(rdnss.servers[0]!) === "2001:db8::53",
  );
  assert.ok(dnssl?.kind === "dnssl" && dnssl.domains[0] === "example.com");
});

test("RA: lifetime 0 forces medium preference (RFC 4191 §2.2); no MTU/SLLA/DNS when absent", () => {
  const { ra } = buildRouterAdvertisement(
    content({
      routerLifetimeS: 0,
      preference: "high",
      mtu: null,
      lanMac: null,
      dns: [],
      domains: [],
    }),
  );
  assert.equal(ra.preference, "medium");
  assert.deepEqual(
    ra.options.map((o) => o.kind),
    ["prefix-information", "prefix-information"],
  );
});

test("RA: RIOs deduplicated; non-/64 autonomous prefix skipped with a reason", () => {
  const s = new PrefixState();
  s.setCurrent(p("2001:db8:1::/56"), { preferredS: 100, validS: 200 }, T0);
  const { ra, skipped } = buildRouterAdvertisement(
    content({
      prefixes: s.advertised(T0),
      routes: [
        { prefix: p("2002::/16"), lifetimeS: 1800, preference: "low" },
        { prefix: p("2002::/16"), lifetimeS: 1800, preference: "low" },
      ],
    }),
  );
  assert.deepEqual(skipped, [
    "prefix 2001:db8:1::/56 not advertised: SLAAC needs a /64 (RFC 4862 §5.5.3)",
  ]);
  const rios = ra.options.filter((o) => o.kind === "route-information");
  assert.equal(rios.length, 1);
});

const UNSPEC = new Uint8Array(16);
const LL = parseIpv6("fe80::1") as Uint8Array;
const rs = (...opts: number[]) => Uint8Array.of(133, 0, 0, 0, 0, 0, 0, 0, ...opts);
const SLLA = [1, 1, 2, 0, 0x5e, 0x10, 0, 2];

test("RS validity (RFC 4861 §6.1.1), table", () => {
  const cases: Array<[string, Uint8Array, Uint8Array, number, string]> = [
    ["plain RS from link-local", rs(), LL, 255, "valid"],
    ["RS with SLLA", rs(...SLLA), LL, 255, "valid"],
    ["RS from :: without SLLA", rs(), UNSPEC, 255, "valid"],
    ["unknown option ignored", rs(200, 1, 0, 0, 0, 0, 0, 0), LL, 255, "valid"],
    ["hop limit 64", rs(), LL, 64, "rs_invalid_hop_limit"],
    ["code 1", Uint8Array.of(133, 1, 0, 0, 0, 0, 0, 0), LL, 255, "rs_invalid_code"],
    ["4 bytes", Uint8Array.of(133, 0, 0, 0), LL, 255, "rs_too_short"],
    ["option length 0", rs(1, 0, 0, 0, 0, 0, 0, 0), LL, 255, "rs_invalid_option_length"],
    ["option past the end", rs(1, 2, 0, 0, 0, 0, 0, 0), LL, 255, "rs_invalid_option_length"],
    ["trailing byte", rs(1), LL, 255, "rs_invalid_option_length"],
    ["SLLA from ::", rs(...SLLA), UNSPEC, 255, "rs_unspecified_source_with_slla"],
    [
      "a neighbor solicitation",
      Uint8Array.of(135, 0, 0, 0, 0, 0, 0, 0),
      LL,
      255,
      "nd_other_ignored",
    ],
    ["empty", new Uint8Array(0), LL, 255, "nd_other_ignored"],
    ["hop limit unknown", rs(), LL, -1, "valid"],
  ];
  for (const [name, msg, src, hl, want] of cases) {
    assert.equal(validateRouterSolicitation(msg, 0, msg.length, src, 0, hl), want, name);
  }
  // At an offset inside a bigger buffer.
  const big = new Uint8Array(64);
  big.set(rs(...SLLA), 10);
  assert.equal(validateRouterSolicitation(big, 10, 16, LL, 0, 255), "valid");
});

test("RS validation never throws on random bytes", () => {
  let seed = 12345;
  const rnd = () => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 16) & 0xff;
  for (let i = 0; i < 2000; i++) {
    const len = rnd() % 40;
    const b = new Uint8Array(len);
    for (let j = 0; j < len; j++) b[j] = rnd();
    if (len > 0 && i % 2 === 0) b[0] = 133;
    validateRouterSolicitation(b, 0, len, i % 3 === 0 ? UNSPEC : LL, 0, i % 5 === 0 ? 1 : 255);
  }
});
