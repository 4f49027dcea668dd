// dataplane/kernel-ruleset.ts: the kernel data plane's nft tables as text, its counters read back
// under the userspace drop names. Behaviour on a real kernel: test/integration/cpe-kernel-nft.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { DROP_REASON_NAMES } from "../../../module/addr/drop-reason.js";
import { parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import { kernelInput } from "../../../module/control/kernel-path.js";
import { createCpeForwardingState } from "../../../module/dataplane/forwarding-state.js";
import {
  KERNEL_DROP_NAMES,
  kernelCounters,
  kernelRuleset,
  kernelRulesetRemoval,
  minimalPrefixes,
  parseNftCounters,
  parseSitStats,
  sitDefaultRoute,
  subtractPrefixes,
} from "../../../module/dataplane/kernel-ruleset.js";

const v4 = (s: string) => parseIpv4(s)!;
const p4 = (s: string) => parseIpv4Prefix(s)!;
const p6 = (s: string) => parseIpv6Prefix(s)!;

function input(o: { pmt?: boolean; sla?: number; allow?: string[]; relays?: string[] } = {}) {
  const state = createCpeForwardingState({
    ownIpv4: v4("100.64.0.2"),
    relays: (o.relays ?? ["192.88.99.1"]).map(v4),
    allowIpv4: (o.allow ?? ["100.64.0.0/10"]).map(p4),
    mapping: o.pmt
      ? createPmtMapping({ providerPrefix: p6("2001:db8::/32"), sla: o.sla ?? 0 })
      : null,
  });
  return kernelInput("6to4pmt0", p6("::/0"), state);
}

test("every counted drop has the userspace path's name", () => {
  for (const n of KERNEL_DROP_NAMES) assert.ok(DROP_REASON_NAMES.includes(n), n);
});

/** The body of our table of `family` in the ruleset text. */
function tableBody(text: string, family: "ip" | "ip6"): string {
  const start = text.indexOf(`table ${family} sixto4pmt {\n`);
  assert.ok(start >= 0, family);
  return text.slice(start, text.indexOf("\n}\n", start));
}

test("every counter a rule names is declared in its table, each once; only drops count", () => {
  const text = kernelRuleset(input({ pmt: true }));
  const all: string[] = [];
  for (const f of ["ip", "ip6"] as const) {
    const body = tableBody(text, f);
    const declared = [...body.matchAll(/^\s*counter (\S+) \{$/gm)].map((m) => m[1]!);
    assert.equal(new Set(declared).size, declared.length);
    for (const m of body.matchAll(/counter name "([^"]+)"/g))
      assert.ok(declared.includes(m[1]!), `${f}: ${m[1]}`);
    all.push(...declared);
  }
  // Every drop name but the one sit decides (6to4_src_spoofed, its rx_errors) has its counter.
  for (const n of KERNEL_DROP_NAMES) {
    if (n !== "6to4_src_spoofed") assert.ok(all.includes(`drop_${n}`), n);
  }
  // No rule counts a packet it lets through: a counter only where the rule drops.
  for (const line of text.split("\n").filter((l) => /counter name/.test(l))) {
    assert.match(line, /counter name "[^"]+" drop$/, line);
  }
});

test("one transaction: create, delete, create anew; only our tables are named", () => {
  const text = kernelRuleset(input());
  assert.deepEqual(text.split("\n").slice(0, 7), [
    "table inet sixto4pmt",
    "delete table inet sixto4pmt",
    "table ip sixto4pmt",
    "delete table ip sixto4pmt",
    "table ip6 sixto4pmt",
    "delete table ip6 sixto4pmt",
    "table ip sixto4pmt {",
  ]);
  assert.deepEqual(
    [...text.matchAll(/^(?:delete )?table (\S+) (\S+)/gm)].map((m) => `${m[1]} ${m[2]}`),
    [
      "inet sixto4pmt",
      "inet sixto4pmt",
      "ip sixto4pmt",
      "ip sixto4pmt",
      "ip6 sixto4pmt",
      "ip6 sixto4pmt",
      "ip sixto4pmt",
      "ip6 sixto4pmt",
    ],
  );
  assert.equal(
    kernelRulesetRemoval("t1"),
    "table ip t1\ndelete table ip t1\ntable ip6 t1\ndelete table ip6 t1\n",
  );
  assert.doesNotMatch(text, /notrack/);
});

test("PMT: prefix NAT of the mapped /64 only, both ways, in the ip6 table; plain 6to4 has none", () => {
  const pmt = kernelRuleset(input({ pmt: true }));
  const ip6 = tableBody(pmt, "ip6");
  assert.match(
    ip6,
    /iifname "6to4pmt0" ip6 daddr 2002:6440:2::\/64 dnat ip6 prefix to 2001:db8:6440:2::\/64/,
  );
  assert.match(
    ip6,
    /oifname "6to4pmt0" ip6 saddr 2001:db8:6440:2::\/64 snat ip6 prefix to 2002:6440:2::\/64/,
  );
  assert.equal(pmt.match(/prefix to/g)!.length, 2);
  // IPv4 conntrack is not asked for: no NAT in the ip table.
  assert.doesNotMatch(tableBody(pmt, "ip"), /type nat/);
  const sla = kernelRuleset(input({ pmt: true, sla: 5 }));
  assert.match(sla, /ip6 saddr 2001:db8:6440:2::\/64 snat ip6 prefix to 2002:6440:2:5::\/64/);
  const plain = kernelRuleset(input());
  assert.doesNotMatch(plain, /type nat|prefix to/);
});

test("decapsulation checks: own address, relays, embedded V4ADDR", () => {
  const text = kernelRuleset(input({ relays: ["192.0.2.7"] }));
  assert.match(tableBody(text, "ip"), /ip protocol 41 ip daddr 100\.64\.0\.2 jump decap4/);
  assert.match(text, /@th,208,32 != 0x64400002 counter name "drop_6to4_dst_mismatch" drop/);
  // Native sources from the configured relay and the anycast (createCpeForwardingState).
  assert.match(
    text,
    /ip saddr != \{ 192\.0\.2\.7, 192\.88\.99\.1 \} counter name "drop_native_src_not_from_relay"/,
  );
  // decap6: our /48 returns at once; anything else is native-to-native or not ours.
  assert.match(
    text,
    /@nh,192,32 0x20026440 @nh,224,16 0x0002 return\n\s*ip6 saddr != 2002::\/16 ip6 daddr/,
  );
  assert.match(text, /\tcounter name "drop_dst_not_own_prefix" drop/);
  assert.match(
    text,
    /ip6 saddr 2002::\/16 ip6 saddr != 2002:6440:2::\/48 counter name "drop_encap_src_invalid"/,
  );
  assert.match(text, /::5efe:6440:2 counter name "drop_own_ipv4_embedded"/);
});

test("fast accepts come first, and only when our own address and the relay pass the checks", () => {
  const text = kernelRuleset(input({ relays: ["192.0.2.7", "10.9.9.9"] }));
  const decap4 = text.slice(text.indexOf("chain decap4"));
  const lines = decap4
    .split("\n")
    .slice(1, 4)
    .map((l) => l.trim());
  assert.match(
    lines[0]!,
    /^@nh,96,32 & 0xff000000 != 0x00000000 .*@nh,96,32 & 0xf0000000 != 0xf0000000 @th,64,32 & 0xffff0000 == 0x20020000 @th,64,32 & 0xffffff00 != 0x20020000 .* @th,192,32 0x20026440 @th,224,16 0x0002 accept$/,
  );
  // The relay in private space is not waved through (its packets meet ipv4_src_invalid).
  assert.match(
    lines[1]!,
    /^ip saddr \{ 192\.0\.2\.7, 192\.88\.99\.1 \} @th,64,32 & 0xe0000000 == 0x20000000 @th,64,16 != 0x2002 @th,192,32 0x20026440 @th,224,16 0x0002 accept$/,
  );
  assert.match(lines[2]!, /counter name "drop_ipv4_src_invalid" drop$/);
  const encap = text.slice(text.indexOf("chain encap"));
  const own48 = "@nh,64,32 0x20026440 @nh,96,16 0x0002";
  assert.ok(
    encap.startsWith(
      `chain encap {\n\t\t${own48} @nh,192,16 != 0x2002 @nh,192,16 != 0x0000 @nh,192,32 & 0xff800000 != 0xfe800000 @nh,192,8 != 0xff accept\n` +
        `\t\t${own48} @nh,192,32 0x20026440 @nh,224,16 0x0002 counter name "drop_encap_dst_invalid" drop\n` +
        `\t\t${own48} @nh,192,32 & 0xffff0000 == 0x20020000 @nh,192,32 & 0xffffff00 != 0x20020000 `,
    ),
    encap,
  );
  assert.match(
    encap,
    /@nh,192,32 != 0x2002c0a8 [^\n]*accept\n\s*ip6 daddr ff00::\/8 @nh,204,4 < 3 counter/,
  );
  // Our own address in shared space without allow_ipv4: no shortcut, every check runs.
  const own = kernelRuleset(input({ allow: [] }));
  assert.doesNotMatch(own, /accept$/m);
});

test("fast accepts use inline compares only (no set, no load over 4 bytes, 32-bit masks)", () => {
  for (const allow of [
    ["100.64.0.0/10"],
    ["100.64.0.0/10", "10.1.2.0/24"],
    ["100.64.0.0/10", "192.168.7.128/25"],
  ]) {
    const text = kernelRuleset(input({ allow }));
    const fast = text.split("\n").filter((l) => /(accept|return)$/.test(l) && !/policy/.test(l));
    assert.equal(fast.length, 5, text);
    for (const l of fast) {
      assert.doesNotMatch(l, /[{}]|ip6? [sd]addr (?!192\.88\.99\.1)|@\w+,\d+,(48|64|128)\b/, l);
      // A mask is nft's fast bitwise only on a 32-bit load; a load is inline at an aligned offset.
      for (const m of l.matchAll(/@(\w+),(\d+),(\d+)( &)?/g)) {
        const [off, len] = [Number(m[2]), Number(m[3])];
        assert.ok([8, 16, 32].includes(len) && off % len === 0, `${m[0]} in ${l}`);
        if (m[4]) assert.equal(len, 32, `${m[0]} in ${l}`);
      }
    }
  }
  // An allowed /24 inside 10/8: the fast accepts refuse all of 10.1/16 (rounded out), never the
  // rest of 10/8; the checks after them still see the exact prefixes.
  const text = kernelRuleset(input({ allow: ["100.64.0.0/10", "10.1.2.0/24"] }));
  const fast2002 = text.split("\n").find((l) => /^\s*@nh,64,32 .*0x20020000 .*accept$/.test(l))!;
  assert.match(
    fast2002,
    / @nh,192,32 != 0x20020a00 @nh,192,32 != 0x20020a01 @nh,192,32 & 0xfffffffe != 0x20020a02 /,
  );
  assert.equal(fast2002.match(/0x20020a01/g)?.length, 1);
  assert.match(text, /2002:a01:300::\/40/);
});

test("allow_ipv4 re-enables private/shared space only, carved out of the invalid set", () => {
  const allowed = kernelRuleset(input({ allow: ["100.64.0.0/10", "100.64.1.0/24"] }));
  assert.match(
    allowed,
    /ip saddr \{ 0\.0\.0\.0\/8, 10\.0\.0\.0\/8, 127\.0\.0\.0\/8, 169\.254\.0\.0\/16, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 224\.0\.0\.0\/4, 240\.0\.0\.0\/4 \} counter name "drop_ipv4_src_invalid"/,
  );
  assert.doesNotMatch(allowed, /2002:6440::\/26/);
  // Loopback and multicast stay whatever is allowed.
  const loop = kernelRuleset(input({ allow: ["127.0.0.0/8", "10.1.2.0/24"] }));
  assert.match(
    loop,
    /ip saddr \{ 0\.0\.0\.0\/8, 10\.0\.0\.0\/16, 10\.1\.0\.0\/23, 10\.1\.3\.0\/24, /,
  );
  assert.match(loop, /127\.0\.0\.0\/8/);
  const none = kernelRuleset(input({ allow: [] }));
  assert.match(
    none,
    /ip saddr \{ 0\.0\.0\.0\/8, 10\.0\.0\.0\/8, 100\.64\.0\.0\/10, 127\.0\.0\.0\/8, 169\.254\.0\.0\/16, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16, 224\.0\.0\.0\/4, 240\.0\.0\.0\/4 \} counter/,
  );
});

test("minimalPrefixes drops prefixes inside others and normalises host bits", () => {
  assert.deepEqual(
    minimalPrefixes([p4("10.1.0.0/16"), p4("10.0.0.0/8"), { addr: v4("192.0.2.9"), len: 24 }]),
    [p4("10.0.0.0/8"), p4("192.0.2.0/24")],
  );
});

test("subtractPrefixes: what is left of a prefix, split; nothing of one covered", () => {
  assert.deepEqual(subtractPrefixes([p4("10.0.0.0/8")], [p4("10.0.0.0/9")]), [p4("10.128.0.0/9")]);
  assert.deepEqual(subtractPrefixes([p4("10.0.0.0/8")], [p4("0.0.0.0/0")]), []);
  assert.deepEqual(subtractPrefixes([p4("10.0.0.0/8")], [p4("192.0.2.0/24")]), [p4("10.0.0.0/8")]);
  const left = subtractPrefixes([p4("10.0.0.0/8")], [p4("10.1.2.0/24")]);
  assert.equal(left.length, 16);
  // Together with the removed /24 they cover the /8 exactly: 2^24 addresses.
  const size = (p: { len: number }) => 2 ** (32 - p.len);
  assert.equal(left.reduce((n, p) => n + size(p), 0) + 256, 2 ** 24);
});

test("default route via the relay's IPv4-compatible address, onlink", () => {
  assert.deepEqual(sitDefaultRoute(input()), [
    "-6",
    "route",
    "replace",
    "::/0",
    "via",
    "::192.88.99.1",
    "dev",
    "6to4pmt0",
    "onlink",
  ]);
});

test("counters: nft -j summed over our tables only; spoofed and traffic from the sit's counts", () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6" } },
      { counter: { family: "ip", table: "sixto4pmt", name: "drop_ipv6_src_invalid", packets: 2 } },
      { counter: { family: "ip6", table: "sixto4pmt", name: "drop_ipv6_src_invalid", packets: 1 } },
      { counter: { family: "ip6", table: "sixto4pmt", name: "drop_native_to_native", packets: 3 } },
      {
        counter: {
          family: "ip6",
          table: "sixto4pmt",
          name: "drop_native_to_native_in",
          packets: 4,
        },
      },
      {
        counter: { family: "ip6", table: "sixto4pmt", name: "drop_dst_not_own_prefix", packets: 1 },
      },
      { counter: { family: "inet", table: "fw4", name: "drop_native_to_native", packets: 100 } },
      { chain: { name: "pre" } },
    ],
  });
  const raw = parseNftCounters(json, "sixto4pmt");
  const sit = parseSitStats(
    JSON.stringify([
      {
        ifname: "6to4pmt0",
        stats64: {
          rx: { packets: 20, errors: 7, frame_errors: 2 },
          tx: { packets: 11, errors: 0 },
        },
      },
    ]),
  );
  assert.deepEqual(sit, { rxPackets: 20, rxErrors: 7, rxFrameErrors: 2, txPackets: 11 });
  const c = kernelCounters(raw, sit);
  assert.equal(c.drops.ipv6_src_invalid, 3);
  assert.equal(c.drops.native_to_native, 7);
  assert.equal(c.drops.dst_not_own_prefix, 1);
  assert.equal(c.drops["6to4_src_spoofed"], 5);
  assert.equal(c.drops.ipv4_src_invalid, 0);
  // Delivered by sit less what decap6 dropped after it.
  assert.deepEqual(c.traffic, { in_packets: 15, out_packets: 11 });
  // Without the sit's counts: zeros, not a guess.
  assert.deepEqual(kernelCounters(raw, null).traffic, { in_packets: 0, out_packets: 0 });
  assert.equal(kernelCounters(raw, null).drops["6to4_src_spoofed"], 0);
  assert.deepEqual(parseNftCounters("not json"), {});
  assert.deepEqual(parseNftCounters("{}"), {});
  assert.equal(parseSitStats("[]"), null);
  assert.equal(parseSitStats("nope"), null);
});

test("golden: plain 6to4, default options", () => {
  const text = kernelRuleset(input());
  const body = text.slice(text.indexOf("\tchain pre"));
  assert.equal(
    body,
    `\tchain pre {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tip protocol 41 ip daddr 100.64.0.2 jump decap4
\t}
\tchain decap4 {
\t\t@nh,96,32 & 0xff000000 != 0x00000000 @nh,96,32 & 0xff000000 != 0x0a000000 @nh,96,32 & 0xff000000 != 0x7f000000 @nh,96,32 & 0xffff0000 != 0xa9fe0000 @nh,96,32 & 0xfff00000 != 0xac100000 @nh,96,32 & 0xffff0000 != 0xc0a80000 @nh,96,32 & 0xf0000000 != 0xe0000000 @nh,96,32 & 0xf0000000 != 0xf0000000 @th,64,32 & 0xffff0000 == 0x20020000 @th,64,32 & 0xffffff00 != 0x20020000 @th,64,32 & 0xffffff00 != 0x20020a00 @th,64,32 & 0xffffff00 != 0x20027f00 @th,64,32 != 0x2002a9fe @th,64,32 & 0xfffffff0 != 0x2002ac10 @th,64,32 != 0x2002c0a8 @th,64,32 & 0xfffff000 != 0x2002e000 @th,64,32 & 0xfffff000 != 0x2002f000 @th,192,32 0x20026440 @th,224,16 0x0002 accept
\t\tip saddr 192.88.99.1 @th,64,32 & 0xe0000000 == 0x20000000 @th,64,16 != 0x2002 @th,192,32 0x20026440 @th,224,16 0x0002 accept
\t\tip saddr { 0.0.0.0/8, 10.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 172.16.0.0/12, 192.168.0.0/16, 224.0.0.0/4, 240.0.0.0/4 } counter name "drop_ipv4_src_invalid" drop
\t\t@th,64,16 { 0x0000, 0xfe80-0xffff } counter name "drop_ipv6_src_invalid" drop
\t\t@th,64,16 0x2002 @th,80,32 { 0x00000000-0x00ffffff, 0x0a000000-0x0affffff, 0x7f000000-0x7fffffff, 0xa9fe0000-0xa9feffff, 0xac100000-0xac1fffff, 0xc0a80000-0xc0a8ffff, 0xe0000000-0xefffffff, 0xf0000000-0xffffffff } counter name "drop_ipv6_src_6to4_invalid_ipv4" drop
\t\t@th,192,16 { 0x0000, 0xfe80-0xffff } counter name "drop_ipv6_dst_invalid" drop
\t\t@th,192,16 0x2002 @th,208,32 { 0x00000000-0x00ffffff, 0x0a000000-0x0affffff, 0x7f000000-0x7fffffff, 0xa9fe0000-0xa9feffff, 0xac100000-0xac1fffff, 0xc0a80000-0xc0a8ffff, 0xe0000000-0xefffffff, 0xf0000000-0xffffffff } counter name "drop_ipv6_dst_6to4_invalid_ipv4" drop
\t\t@th,192,16 0x2002 @th,208,32 != 0x64400002 counter name "drop_6to4_dst_mismatch" drop
\t\t@th,192,16 0x2002 @th,64,16 != 0x2002 ip saddr != 192.88.99.1 counter name "drop_native_src_not_from_relay" drop
\t}
}
table ip6 sixto4pmt {
\tcounter drop_ipv6_src_invalid {
\t}
\tcounter drop_ipv6_src_6to4_invalid_ipv4 {
\t}
\tcounter drop_ipv6_dst_invalid {
\t}
\tcounter drop_ipv6_dst_6to4_invalid_ipv4 {
\t}
\tcounter drop_native_to_native {
\t}
\tcounter drop_dst_not_own_prefix {
\t}
\tcounter drop_encap_src_invalid {
\t}
\tcounter drop_encap_dst_invalid {
\t}
\tcounter drop_own_ipv4_embedded {
\t}
\tcounter drop_link_scope_multicast {
\t}
\tcounter drop_native_to_native_in {
\t}
\tchain pre {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname "6to4pmt0" jump decap6
\t}
\tchain decap6 {
\t\t@nh,192,32 0x20026440 @nh,224,16 0x0002 return
\t\tip6 saddr != 2002::/16 ip6 daddr != 2002::/16 counter name "drop_native_to_native_in" drop
\t\tcounter name "drop_dst_not_own_prefix" drop
\t}
\tchain post {
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\toifname "6to4pmt0" jump encap
\t}
\tchain encap {
\t\t@nh,64,32 0x20026440 @nh,96,16 0x0002 @nh,192,16 != 0x2002 @nh,192,16 != 0x0000 @nh,192,32 & 0xff800000 != 0xfe800000 @nh,192,8 != 0xff accept
\t\t@nh,64,32 0x20026440 @nh,96,16 0x0002 @nh,192,32 0x20026440 @nh,224,16 0x0002 counter name "drop_encap_dst_invalid" drop
\t\t@nh,64,32 0x20026440 @nh,96,16 0x0002 @nh,192,32 & 0xffff0000 == 0x20020000 @nh,192,32 & 0xffffff00 != 0x20020000 @nh,192,32 & 0xffffff00 != 0x20020a00 @nh,192,32 & 0xffffff00 != 0x20027f00 @nh,192,32 != 0x2002a9fe @nh,192,32 & 0xfffffff0 != 0x2002ac10 @nh,192,32 != 0x2002c0a8 @nh,192,32 & 0xfffff000 != 0x2002e000 @nh,192,32 & 0xfffff000 != 0x2002f000 accept
\t\tip6 daddr ff00::/8 @nh,204,4 < 3 counter name "drop_link_scope_multicast" drop
\t\tip6 saddr { ::/16, fe80::/9, ff00::/8 } counter name "drop_ipv6_src_invalid" drop
\t\tip6 saddr { 2002::/24, 2002:a00::/24, 2002:7f00::/24, 2002:a9fe::/32, 2002:ac10::/28, 2002:c0a8::/32, 2002:e000::/20, 2002:f000::/20 } counter name "drop_ipv6_src_6to4_invalid_ipv4" drop
\t\tip6 daddr { ::/16, fe80::/9, ff00::/8 } counter name "drop_ipv6_dst_invalid" drop
\t\tip6 daddr { 2002::/24, 2002:a00::/24, 2002:7f00::/24, 2002:a9fe::/32, 2002:ac10::/28, 2002:c0a8::/32, 2002:e000::/20, 2002:f000::/20 } counter name "drop_ipv6_dst_6to4_invalid_ipv4" drop
\t\tip6 saddr 2002::/16 ip6 saddr != 2002:6440:2::/48 counter name "drop_encap_src_invalid" drop
\t\tip6 daddr 2002:6440:2::/48 counter name "drop_encap_dst_invalid" drop
\t\tip6 saddr != 2002::/16 ip6 daddr != 2002::/16 counter name "drop_native_to_native" drop
\t\tip6 saddr != 2002::/16 ip6 saddr & ::fcff:ffff:ffff:ffff == ::5efe:6440:2 counter name "drop_own_ipv4_embedded" drop
\t}
}
`,
  );
});
