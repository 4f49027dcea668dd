// The signed 32-bit (`| 0`) hot-path variants of the IPv4 helpers, and the policy checks fed with
// signed values, give exactly the results of the unsigned (`>>> 0`) API (RFC 3964 §5.1-§5.3,
// RFC 6324 §3.3, RFC 6732 §4.5 mapping), and the per-packet checks allocate no heap number (V8
// boxes an unsigned value >= 128.0.0.0 whenever it crosses a call that is not inlined).
import { test } from "node:test";
import assert from "node:assert/strict";
import { GCProfiler } from "node:v8";
import {
  ipv4InPrefix,
  ipv4Mask,
  ipv4MaskI32,
  parseIpv4,
  parseIpv4Prefix,
  readIpv4,
  readIpv4I32,
} from "../../../module/addr/ipv4.js";
import { parseIpv6, parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import {
  IPV4_SPECIAL_RANGES,
  isInvalid6to4Ipv4,
  rfc3964Ipv4Status,
} from "../../../module/addr/classify.js";
import { embeddedIpv4, embeddedIpv4I32, writeSixToFour } from "../../../module/addr/sixto4.js";
import {
  checkDecapsulate,
  checkEncapsulate,
  createPolicyContext,
  isInvalidIpv4,
  isOwnIpv4,
} from "../../../module/addr/policy.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import { DROP_NONE } from "../../../module/addr/drop-reason.js";

const v4 = (s: string): number => parseIpv4(s)!;
let seed = 0x6732;
const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);

/** Random addresses plus the edges of every special range (first, last, one outside each side). */
function sampleAddresses(n: number): number[] {
  const out = [0, 1, 0x7fffffff, 0x80000000, 0xfffffffe, 0xffffffff];
  for (const r of IPV4_SPECIAL_RANGES) {
    const first = r.prefix.addr;
    const last = first + 2 ** (32 - r.prefix.len) - 1;
    for (const a of [first - 1, first, first + 1, last - 1, last, last + 1]) {
      if (a >= 0 && a <= 0xffffffff) out.push(a);
    }
  }
  for (let i = 0; i < n; i++) out.push(rnd());
  return out;
}

test("readIpv4I32 / embeddedIpv4I32 are the unsigned reads as int32", () => {
  const buf = new Uint8Array(32);
  for (const a of sampleAddresses(2000)) {
    const off = rnd() % 10;
    buf[off] = a >>> 24;
    buf[off + 1] = (a >>> 16) & 0xff;
    buf[off + 2] = (a >>> 8) & 0xff;
    buf[off + 3] = a & 0xff;
    assert.equal(readIpv4I32(buf, off), a | 0);
    assert.equal(readIpv4I32(buf, off) >>> 0, readIpv4(buf, off));
    writeSixToFour(buf, 12, a, rnd() & 0xffff);
    assert.equal(embeddedIpv4I32(buf, 12), a | 0);
    assert.equal(embeddedIpv4I32(buf, 12) >>> 0, embeddedIpv4(buf, 12));
  }
});

test("ipv4MaskI32 is ipv4Mask as int32 for /0../32", () => {
  for (let len = 0; len <= 32; len++) {
    assert.equal(ipv4MaskI32(len), ipv4Mask(len) | 0, `/${len}`);
    assert.equal(ipv4MaskI32(len) >>> 0, ipv4Mask(len), `/${len}`);
  }
});

test("ipv4InPrefix: same answer for a signed or unsigned address, matches arithmetic", () => {
  const prefixes = [
    "0.0.0.0/0",
    "128.0.0.0/1",
    "192.0.2.0/24",
    "255.255.255.255/32",
    "100.64.0.0/10",
  ];
  for (const ps of prefixes) {
    const p = parseIpv4Prefix(ps)!;
    const unit = 2 ** (32 - p.len);
    for (const a of sampleAddresses(300)) {
      const want = Math.floor(a / unit) === Math.floor(p.addr / unit);
      assert.equal(ipv4InPrefix(a, p), want, `${a} in ${ps}`);
      assert.equal(ipv4InPrefix(a | 0, p), want, `${a | 0} in ${ps}`);
    }
  }
});

test("rfc3964Ipv4Status / isInvalid6to4Ipv4: signed = unsigned = the special-range table", () => {
  const allowed = [parseIpv4Prefix("100.64.0.0/10")!, parseIpv4Prefix("192.168.128.0/17")!];
  for (const a of sampleAddresses(5000)) {
    let want: 0 | 1 | 2 = 0;
    for (const r of IPV4_SPECIAL_RANGES) {
      if (!r.invalidFor6to4 || !ipv4InPrefix(a, r.prefix)) continue;
      if (!r.overridable) want = 2;
      else if (want === 0) want = 1;
    }
    assert.equal(rfc3964Ipv4Status(a), want, `${a}`);
    assert.equal(rfc3964Ipv4Status(a | 0), want, `${a | 0}`);
    assert.equal(isInvalid6to4Ipv4(a | 0, allowed), isInvalid6to4Ipv4(a, allowed));
  }
});

/** An IPv6 header at byte 20 with the given 16-byte addresses. */
function v6Packet(src: Uint8Array, dst: Uint8Array): Uint8Array {
  const buf = new Uint8Array(60);
  buf[20] = 0x60;
  buf[26] = 59;
  buf[27] = 64;
  buf.set(src, 28);
  buf.set(dst, 44);
  return buf;
}

test("policy checks: signed and unsigned IPv4 arguments give the same verdict", () => {
  const own = [v4("192.0.2.1"), v4("192.88.99.1"), v4("203.0.113.200")];
  const relay = v4("192.88.99.1");
  const ctxs = [
    createPolicyContext({ role: "cpe", ownIpv4: [own[0]!], relays: [relay] }),
    createPolicyContext({
      role: "relay",
      ownIpv4: own.slice(1),
      allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!, parseIpv4Prefix("172.16.0.0/12")!],
      onLinkPrefixes: [parseIpv6Prefix("2001:db8::/32")!],
    }),
    createPolicyContext({ role: "relay", ownIpv4: [relay], ownSixToFourOnLink: false }),
  ];
  const pool = [...own, v4("100.64.9.9"), v4("172.16.1.1"), v4("10.0.0.1"), v4("224.0.0.5")];
  const pick = (): number => (rnd() % 3 === 0 ? rnd() : pool[rnd() % pool.length]!);
  /** A 6to4 (usually of `v`), ISATAP-under-native (RFC 5214 §6.1), native or link-local address. */
  const addr6 = (v: number): Uint8Array => {
    const a = new Uint8Array(16);
    switch (rnd() % 4) {
      case 0:
      case 1:
        writeSixToFour(a, 0, rnd() % 4 === 0 ? pick() : v, rnd() & 0xffff);
        a[15] = 1;
        return a;
      case 2:
        a.set(parseIpv6("2001:db8:1::5efe:0:0")!);
        a.set([own[rnd() % own.length]! >>> 24, 0, 2, 1], 12);
        return a;
      default:
        return parseIpv6(["3fff:100::80", "2001:db8:5::1", "fe80::1"][rnd() % 3]!)!;
    }
  };
  let accepted = 0;
  for (let i = 0; i < 20000; i++) {
    const s = pick();
    const d = pick();
    const buf = v6Packet(addr6(s), addr6(d));
    for (const ctx of ctxs) {
      const e = checkEncapsulate(ctx, buf, 20, s, d);
      assert.equal(checkEncapsulate(ctx, buf, 20, s | 0, d | 0), e);
      const dc = checkDecapsulate(ctx, buf, 20, s, d);
      assert.equal(checkDecapsulate(ctx, buf, 20, s | 0, d | 0), dc);
      if (e === DROP_NONE) accepted++;
      if (dc === DROP_NONE) accepted++;
      assert.equal(isOwnIpv4(ctx, s | 0), isOwnIpv4(ctx, s));
      assert.equal(isInvalidIpv4(ctx, s | 0), isInvalidIpv4(ctx, s));
    }
  }
  assert.ok(accepted > 100, `only ${accepted} accepted: the sample does not reach the deep checks`);
});

test("pmt-mapping: isProviderAddress + providerEmbeddedIpv4I32 = providerEmbeddedIpv4", () => {
  const configs = [
    { providerPrefix: parseIpv6Prefix("2001:db8::/32")! },
    { providerPrefix: parseIpv6Prefix("2001:db8::/24")! },
    { providerPrefix: parseIpv6Prefix("2001:db8::/16")! },
    {
      providerPrefix: parseIpv6Prefix("2001:db8::/32")!,
      ipv4PrefixLen: 8,
      ipv4CommonPrefix: v4("192.0.0.0"),
    },
    {
      providerPrefix: parseIpv6Prefix("2001:db8:8000::/28")!,
      ipv4PrefixLen: 8,
      ipv4CommonPrefix: v4("203.0.0.0"),
      sla: 0x1000,
    },
  ];
  for (const opts of configs) {
    const m = createPmtMapping(opts);
    const a = new Uint8Array(16);
    for (let i = 0; i < 3000; i++) {
      for (let j = 0; j < 16; j += 4) {
        const r = rnd();
        a[j] = r >>> 24;
        a[j + 1] = (r >>> 16) & 0xff;
        a[j + 2] = (r >>> 8) & 0xff;
        a[j + 3] = r & 0xff;
      }
      if (i % 2 === 0) a.set(m.providerPrefix.addr.subarray(0, 2)); // often inside P/L
      const want = m.providerEmbeddedIpv4(a, 0);
      assert.equal(m.isProviderAddress(a, 0), want !== -1);
      if (want !== -1) assert.equal(m.providerEmbeddedIpv4I32(a, 0) >>> 0, want);
      // A mapped 6to4 address round-trips through the provider form to the same V4ADDR.
      const copy = a.slice();
      if (m.providerToSixToFour(copy, 0)) {
        assert.equal(embeddedIpv4(copy, 0), want);
      }
    }
  }
});

test("hot path with signed values: no garbage collection over 2e6 checks (no heap numbers)", () => {
  const cpeV4 = v4("192.0.2.1"); // >= 128.0.0.0: boxed if passed unsigned through a call
  const relayV4 = v4("192.88.99.1");
  const cpe = createPolicyContext({ role: "cpe", ownIpv4: [cpeV4], relays: [relayV4] });
  const relay = createPolicyContext({ role: "relay", ownIpv4: [relayV4] });
  const enc = v6Packet(parseIpv6("2002:c000:201::10")!, parseIpv6("3fff:100::80")!);
  // Outer IPv4 addresses 192.0.2.1 -> 192.88.99.1 at bytes 12 and 16 of a decapsulation buffer.
  const dec = v6Packet(parseIpv6("2002:c000:201::10")!, parseIpv6("3fff:100::80")!);
  dec.set([192, 0, 2, 1, 192, 88, 99, 1], 12);
  const own = cpeV4 | 0;
  const run = (n: number): number => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += checkEncapsulate(cpe, enc, 20, own, readIpv4I32(dec, 16));
      acc += checkDecapsulate(relay, dec, 20, readIpv4I32(dec, 12), readIpv4I32(dec, 16));
    }
    return acc;
  };
  assert.equal(run(300_000), 0); // warm up / optimise
  const profiler = new GCProfiler();
  profiler.start();
  const acc = run(1_000_000);
  const gcs = profiler.stop()?.statistics.length ?? 0;
  assert.equal(acc, 0);
  // Unsigned arguments boxed per call made ~30 scavenges here; allow one unrelated collection.
  assert.ok(gcs <= 1, `${gcs} garbage collections: something allocates per packet`);
});
