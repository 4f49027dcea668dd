// RFC 6732 §3.3/§3.4 prefix mapping (module/addr/pmt-mapping.ts), generalised with the IPv4
// common-prefix length m (RFC 5969 IPv4MaskLen) and carried SLA bits s: L + (32 - m) + s = 64.
// Checksum deltas per RFC 1624 eqn 3 (RFC 6732 §4.5 -> RFC 3022 §4.2).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  createPmtMapping,
  PmtMappingError,
  type PmtMapping,
} from "../../../module/addr/pmt-mapping.js";
import { formatIpv6, parseIpv6, parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { parseIpv4 } from "../../../module/addr/ipv4.js";

const v6 = (s: string): Uint8Array => parseIpv6(s)!;
const prefix = (s: string) => parseIpv6Prefix(s)!;

function mapping(p: string, m = 0, sla = 0, common?: string): PmtMapping {
  return createPmtMapping({
    providerPrefix: prefix(p),
    ipv4PrefixLen: m,
    sla,
    ...(common === undefined ? {} : { ipv4CommonPrefix: parseIpv4(common)! }),
  });
}

/** Independent oracle: the provider address as a 128-bit BigInt, from the bit layout. */
function oracleToProvider(addr: Uint8Array, pfx: string, m: number): string {
  const big = BigInt("0x" + Buffer.from(addr).toString("hex"));
  const p = parseIpv6Prefix(pfx)!;
  const L = BigInt(p.len);
  const s = 64n - L - (32n - BigInt(m));
  const v4 = (big >> 80n) & 0xffffffffn;
  const sla = (big >> 64n) & 0xffffn;
  const iid = big & ((1n << 64n) - 1n);
  const v4Low = v4 & ((1n << (32n - BigInt(m))) - 1n);
  const slaLow = sla & ((1n << s) - 1n);
  const pBig = BigInt("0x" + Buffer.from(p.addr).toString("hex"));
  const out = pBig | (v4Low << (64n + s)) | (slaLow << 64n) | iid;
  const hex = out.toString(16).padStart(32, "0");
  return formatIpv6(Buffer.from(hex, "hex"));
}

function sum16(b: Uint8Array): number {
  let s = 0;
  for (let i = 0; i < 16; i += 2) s += (b[i]! << 8) | b[i + 1]!;
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

function onesAdd(a: number, b: number): number {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
}

/** One's-complement equality (0 and 0xffff are both zero). */
function onesEqual(a: number, b: number): boolean {
  return a === b || (a % 0xffff === 0 && b % 0xffff === 0);
}

test("RFC 6732 Figure 3 holds exactly: 2002:0C98:2C01:0000:: <-> 2001:0db8:0c98:2c01::", () => {
  const map = mapping("2001:db8::/32");
  assert.equal(map.slaBits, 0);
  const buf = new Uint8Array(40);
  buf.set(v6("2002:0C98:2C01:0000:1:2:3:4"), 8);
  assert.equal(map.sixToFourToProvider(buf, 8), true);
  assert.equal(formatIpv6(buf, 8), "2001:db8:c98:2c01:1:2:3:4");
  assert.equal(map.providerToSixToFour(buf, 8), true);
  assert.equal(formatIpv6(buf, 8), "2002:c98:2c01:0:1:2:3:4");
  assert.equal(formatIpv6(map.translatedLan64(parseIpv4("12.152.44.1")!)!), "2001:db8:c98:2c01::");
});

test("mapping table (documentation addresses)", () => {
  const rows: {
    name: string;
    p: string;
    m?: number;
    sla?: number;
    common?: string;
    from: string;
    to: string | null;
  }[] = [
    {
      name: "Fig.3 192.0.2.1",
      p: "2001:db8::/32",
      from: "2002:c000:201::1",
      to: "2001:db8:c000:201::1",
    },
    { name: "Fig.3 SLA 1 not mapped", p: "2001:db8::/32", from: "2002:c000:201:1::1", to: null },
    {
      name: "SLA 1 configured",
      p: "2001:db8::/32",
      sla: 1,
      from: "2002:c000:201:1::1",
      to: "2001:db8:c000:201::1",
    },
    {
      name: "SLA 1 configured, SLA 0 not mapped",
      p: "2001:db8::/32",
      sla: 1,
      from: "2002:c000:201::1",
      to: null,
    },
    { name: "native not mapped", p: "2001:db8::/32", from: "2001:db8:1::1", to: null },
    {
      name: "shared space 100.64.0.1",
      p: "2001:db8::/32",
      from: "2002:6440:1::5",
      to: "2001:db8:6440:1::5",
    },
    {
      name: "3fff::/20 carries 12 SLA bits",
      p: "3fff::/20",
      from: "2002:cb00:7101:abc::1",
      to: "3fff:0cb0:0710:1abc::1",
    },
    {
      name: "3fff::/20 sla 0x1000",
      p: "3fff::/20",
      sla: 0x1000,
      from: "2002:cb00:7101:1abc::1",
      to: "3fff:0cb0:0710:1abc::1",
    },
    {
      name: "3fff::/20 sla 0x1000, SLA 0abc not mapped",
      p: "3fff::/20",
      sla: 0x1000,
      from: "2002:cb00:7101:abc::1",
      to: null,
    },
    {
      name: "/16 carries the whole SLA",
      p: "3fff::/16",
      from: "2002:c633:6401:ffff::9",
      to: "3fff:c633:6401:ffff::9",
    },
    {
      name: "m=10 100.64/10",
      p: "2001:db8::/32",
      m: 10,
      common: "100.64.0.0",
      from: "2002:6440:1::1",
      to: "2001:db8:0:400::1",
    },
    {
      name: "m=10 SLA 3",
      p: "2001:db8::/32",
      m: 10,
      common: "100.64.0.0",
      from: "2002:647f:ffff:3::1",
      to: "2001:db8:ffff:fc03::1",
    },
    {
      name: "m=10 outside common prefix",
      p: "2001:db8::/32",
      m: 10,
      common: "100.64.0.0",
      from: "2002:c000:201::1",
      to: null,
    },
    {
      name: "m=16 198.51/16",
      p: "2001:db8::/32",
      m: 16,
      common: "198.51.0.0",
      from: "2002:c633:6401:7::1",
      to: "2001:db8:6401:7::1",
    },
  ];
  for (const r of rows) {
    const map = mapping(r.p, r.m ?? 0, r.sla ?? 0, r.common);
    const buf = v6(r.from);
    const before = formatIpv6(buf);
    const ok = map.sixToFourToProvider(buf, 0);
    if (r.to === null) {
      assert.equal(ok, false, r.name);
      assert.equal(formatIpv6(buf), before, `${r.name}: untouched`);
      continue;
    }
    assert.equal(ok, true, r.name);
    assert.equal(formatIpv6(buf), formatIpv6(v6(r.to)), r.name);
    assert.equal(formatIpv6(buf), oracleToProvider(v6(r.from), r.p, r.m ?? 0), `${r.name}: oracle`);
    assert.equal(map.providerToSixToFour(buf, 0), true, `${r.name}: back`);
    assert.equal(formatIpv6(buf), formatIpv6(v6(r.from)), `${r.name}: round trip`);
  }
});

test("providerToSixToFour: outside P/L is not mapped and untouched", () => {
  const map = mapping("2001:db8::/32");
  for (const s of ["2001:db9::1", "2002:c000:201::1", "3fff::1", "::1"]) {
    const buf = v6(s);
    assert.equal(map.providerToSixToFour(buf, 0), false, s);
    assert.equal(formatIpv6(buf), formatIpv6(v6(s)), s);
    assert.equal(map.providerEmbeddedIpv4(v6(s), 0), -1, s);
  }
  assert.equal(map.providerEmbeddedIpv4(v6("2001:db8:c000:201::1"), 0), 0xc0000201);
  const m10 = mapping("2001:db8::/32", 10, 0, "100.64.0.0");
  assert.equal(
    m10.providerEmbeddedIpv4(v6("2001:db8:ffff:ffc3::1"), 0),
    parseIpv4("100.127.255.255"),
  );
});

test("checksum delta: constant when (L - m) % 16 == 0, and always equal to the real change", () => {
  const configs: [string, number, string | undefined, boolean][] = [
    ["2001:db8::/32", 0, undefined, true],
    ["3fff::/16", 0, undefined, true],
    ["2001:db8::/32", 16, "198.51.0.0", true],
    ["3fff::/20", 0, undefined, false],
    ["2001:db8::/32", 10, "100.64.0.0", false],
    ["2001:db8::/32", 8, "203.0.0.0", false],
    ["2001:db8::/24", 8, "192.0.0.0", true],
  ];
  let seed = 12345;
  const rnd = (): number => {
    seed = (Math.imul(seed, 1103515245) + 12345) >>> 0;
    return seed;
  };
  for (const [p, m, common, constant] of configs) {
    const map = mapping(p, m, 0, common);
    assert.equal(map.checksumDeltaConstant, constant, `${p} m=${m}`);
    for (let i = 0; i < 200; i++) {
      const commonV4 = common === undefined ? 0 : parseIpv4(common)!;
      const lowMask = m === 0 ? 0xffffffff : (0xffffffff >>> m) >>> 0;
      const v4 = ((commonV4 & ~lowMask) | (rnd() & lowMask)) >>> 0;
      const buf = new Uint8Array(16);
      buf[0] = 0x20;
      buf[1] = 0x02;
      buf[2] = v4 >>> 24;
      buf[3] = (v4 >>> 16) & 0xff;
      buf[4] = (v4 >>> 8) & 0xff;
      buf[5] = v4 & 0xff;
      const slaLow = rnd() & ((1 << map.slaBits) - 1);
      buf[6] = slaLow >>> 8;
      buf[7] = slaLow & 0xff;
      for (let j = 8; j < 16; j++) buf[j] = rnd() & 0xff;
      const orig = Uint8Array.from(buf);
      const s0 = sum16(buf);
      assert.equal(map.sixToFourToProvider(buf, 0), true);
      const s1 = sum16(buf);
      // new sum = old sum + delta (one's complement)
      assert.ok(onesEqual(onesAdd(s0, map.lastChecksumDelta), s1), `${p} m=${m} to provider`);
      if (constant) assert.equal(map.lastChecksumDelta, map.checksumDeltaToProvider);
      assert.equal(map.providerToSixToFour(buf, 0), true);
      assert.ok(onesEqual(onesAdd(s1, map.lastChecksumDelta), s0), `${p} m=${m} to 6to4`);
      if (constant) assert.equal(map.lastChecksumDelta, map.checksumDeltaTo6to4);
      assert.deepEqual(buf, orig);
    }
  }
});

test("Figure 3 delta depends only on P and SLA: P0 + P1 - 0x2002 - SLA", () => {
  for (const sla of [0, 1, 0xffff]) {
    const map = mapping("2001:db8::/32", 0, sla);
    let d = 0x2001 + 0x0db8 + (~0x2002 & 0xffff) + (~sla & 0xffff);
    while (d > 0xffff) d = (d & 0xffff) + (d >>> 16);
    assert.ok(onesEqual(map.checksumDeltaToProvider, d), `sla ${sla}`);
    assert.ok(onesEqual(onesAdd(map.checksumDeltaToProvider, map.checksumDeltaTo6to4), 0));
  }
});

test("impossible configurations throw a one-line PmtMappingError naming the option", () => {
  const cases: [() => unknown, RegExp][] = [
    [
      () => mapping("2001:db8::/48"),
      /^--provider-prefix: expected an IPv6 prefix P\/L with 16 <= L <= 32, got "2001:db8::\/48"$/,
    ],
    [() => mapping("2001::/8"), /^--provider-prefix: .*16 <= L <= 32/],
    [
      () => mapping("2002::/16"),
      /^--provider-prefix: expected a global unicast prefix outside 2002::\/16/,
    ],
    [() => mapping("ff00::/16"), /^--provider-prefix: /],
    [
      () => mapping("2001:db8::/32", 17, 0, "192.0.2.0"),
      /^--ipv4-prefix-len: expected at most 16 with --provider-prefix \/32/,
    ],
    [() => mapping("3fff::/16", 1, 0, "192.0.2.0"), /^--ipv4-prefix-len: expected at most 0 /],
    [
      () => mapping("2001:db8::/32", 33),
      /^--ipv4-prefix-len: expected an integer 0..32, got "33"$/,
    ],
    [
      () => mapping("2001:db8::/32", 10),
      /^--ipv4-prefix-len: expected 0 unless the customers' common IPv4 prefix is known/,
    ],
    [
      () => mapping("2001:db8::/32", 0, 65536),
      /^--sla: expected an integer 0..65535, got "65536"$/,
    ],
    [() => mapping("2001:db8::/32", 0, -1), /^--sla: expected an integer 0..65535/],
    [
      () => mapping("3fff::/20", 0, 3),
      /^--sla: expected a multiple of 4096 \(the low 12 SLA bits are carried/,
    ],
  ];
  for (const [fn, re] of cases) {
    assert.throws(fn, (e: unknown) => {
      assert.ok(e instanceof PmtMappingError);
      assert.match(e.message, re);
      assert.equal(e.option, /^(--[a-z0-9-]+):/.exec(e.message)?.[1]);
      assert.ok(!e.message.includes("\n"));
      return true;
    });
  }
});

test("translatedLan64 with m > 0: outside the common prefix -> null", () => {
  const map = mapping("2001:db8::/32", 10, 0, "100.64.0.0");
  assert.equal(formatIpv6(map.translatedLan64(parseIpv4("100.64.0.1")!)!), "2001:db8:0:400::");
  assert.equal(map.translatedLan64(parseIpv4("192.0.2.1")!), null);
  assert.equal(map.lastChecksumDelta, 0);
});
