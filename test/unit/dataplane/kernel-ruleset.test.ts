// dataplane/kernel-ruleset.ts: the kernel data plane's nft table as text, its counters read back
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
  sitDefaultRoute,
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

test("every counter a rule names is declared in the table, and each once", () => {
  const text = kernelRuleset(input({ pmt: true }));
  const declared = [...text.matchAll(/^\s*counter (\S+) \{$/gm)].map((m) => m[1]!);
  assert.equal(new Set(declared).size, declared.length);
  for (const m of text.matchAll(/counter name "([^"]+)"/g))
    assert.ok(declared.includes(m[1]!), m[1]);
  // Every drop name but the one sit decides (6to4_src_spoofed, a difference) has its counter.
  for (const n of KERNEL_DROP_NAMES) {
    if (n !== "6to4_src_spoofed") assert.ok(declared.includes(`drop_${n}`), n);
  }
});

test("one transaction: create, delete, create anew; only our table is named", () => {
  const text = kernelRuleset(input());
  const lines = text.split("\n");
  assert.deepEqual(lines.slice(0, 3), [
    "table inet sixto4pmt",
    "delete table inet sixto4pmt",
    "table inet sixto4pmt {",
  ]);
  assert.deepEqual(
    [...text.matchAll(/table (\S+) (\S+)/g)].map((m) => `${m[1]} ${m[2]}`),
    ["inet sixto4pmt", "inet sixto4pmt", "inet sixto4pmt"],
  );
  assert.equal(kernelRulesetRemoval("t1"), "table inet t1\ndelete table inet t1\n");
  assert.doesNotMatch(text, /notrack/);
});

test("PMT: prefix NAT of the mapped /64 only, both ways; plain 6to4 has no NAT chain", () => {
  const pmt = kernelRuleset(input({ pmt: true }));
  assert.match(
    pmt,
    /iifname "6to4pmt0" ip6 daddr 2002:6440:2::\/64 dnat ip6 prefix to 2001:db8:6440:2::\/64/,
  );
  assert.match(
    pmt,
    /oifname "6to4pmt0" ip6 saddr 2001:db8:6440:2::\/64 snat ip6 prefix to 2002:6440:2::\/64/,
  );
  assert.equal(pmt.match(/prefix to/g)!.length, 2);
  const sla = kernelRuleset(input({ pmt: true, sla: 5 }));
  assert.match(sla, /ip6 saddr 2001:db8:6440:2::\/64 snat ip6 prefix to 2002:6440:2:5::\/64/);
  const plain = kernelRuleset(input());
  assert.doesNotMatch(plain, /type nat|prefix to/);
});

test("decapsulation checks: own address, relays, embedded V4ADDR", () => {
  const text = kernelRuleset(input({ relays: ["192.0.2.7"] }));
  assert.match(text, /ip daddr 100\.64\.0\.2 ip protocol 41 jump decap4/);
  assert.match(text, /@th,208,32 != 0x64400002 counter name "drop_6to4_dst_mismatch" drop/);
  // Native sources from the configured relay and the anycast (createCpeForwardingState).
  assert.match(
    text,
    /ip saddr != \{ 192\.0\.2\.7, 192\.88\.99\.1 \} counter name "drop_native_src_not_from_relay"/,
  );
  assert.match(text, /ip6 daddr != 2002:6440:2::\/48 counter name "drop_dst_not_own_prefix" drop/);
  assert.match(
    text,
    /ip6 saddr 2002::\/16 ip6 saddr != 2002:6440:2::\/48 counter name "drop_encap_src_invalid"/,
  );
  assert.match(text, /::5efe:6440:2 counter name "drop_own_ipv4_embedded"/);
});

test("allow_ipv4 re-enables private/shared space only; none given, no exception clause", () => {
  const allowed = kernelRuleset(input({ allow: ["100.64.0.0/10", "100.64.1.0/24"] }));
  assert.match(allowed, /ip saddr != 100\.64\.0\.0\/10 counter name "drop_ipv4_src_invalid"/);
  assert.match(allowed, /ip6 saddr != 2002:6440::\/26 counter/);
  // Loopback and multicast stay in the list that has no exception.
  assert.match(
    allowed,
    /ip saddr \{ 0\.0\.0\.0\/8, 127\.0\.0\.0\/8, 169\.254\.0\.0\/16, 224\.0\.0\.0\/4, 240\.0\.0\.0\/4 \} counter/,
  );
  const none = kernelRuleset(input({ allow: [] }));
  assert.doesNotMatch(none, /ip saddr != 10|ip saddr != 100/);
  assert.match(
    none,
    /ip saddr \{ 10\.0\.0\.0\/8, 100\.64\.0\.0\/10, 172\.16\.0\.0\/12, 192\.168\.0\.0\/16 \} counter/,
  );
});

test("minimalPrefixes drops prefixes inside others and normalises host bits", () => {
  assert.deepEqual(
    minimalPrefixes([p4("10.1.0.0/16"), p4("10.0.0.0/8"), { addr: v4("192.0.2.9"), len: 24 }]),
    [p4("10.0.0.0/8"), p4("192.0.2.0/24")],
  );
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

test("counters: nft -j parsed; spoofed = checked minus decapsulated, never negative", () => {
  const json = JSON.stringify({
    nftables: [
      { metainfo: { version: "1.0.6" } },
      { counter: { family: "inet", name: "drop_native_to_native", packets: 3, bytes: 300 } },
      { counter: { family: "inet", name: "sixto4_src_checked", packets: 10, bytes: 1 } },
      { counter: { family: "inet", name: "sixto4_src_decapsulated", packets: 7, bytes: 1 } },
      { counter: { family: "inet", name: "in_packets", packets: 7, bytes: 1 } },
      { chain: { name: "pre" } },
    ],
  });
  const c = kernelCounters(parseNftCounters(json));
  assert.equal(c.drops.native_to_native, 3);
  assert.equal(c.drops["6to4_src_spoofed"], 3);
  assert.equal(c.drops.ipv4_src_invalid, 0);
  assert.deepEqual(c.traffic, { in_packets: 7, out_packets: 0 });
  assert.equal(
    kernelCounters({ sixto4_src_checked: 1, sixto4_src_decapsulated: 2 }).drops["6to4_src_spoofed"],
    0,
  );
  assert.deepEqual(parseNftCounters("not json"), {});
  assert.deepEqual(parseNftCounters("{}"), {});
});

test("golden: plain 6to4, default options", () => {
  const text = kernelRuleset(input({ allow: [] }));
  const body = text.slice(text.indexOf("chain pre"));
  assert.equal(
    body,
    `chain pre {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tmeta nfproto ipv4 ip daddr 100.64.0.2 ip protocol 41 jump decap4
\t\tmeta nfproto ipv6 iifname "6to4pmt0" jump decap6
\t}
\tchain decap4 {
\t\tip saddr { 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4, 240.0.0.0/4 } counter name "drop_ipv4_src_invalid" drop
\t\tip saddr { 10.0.0.0/8, 100.64.0.0/10, 172.16.0.0/12, 192.168.0.0/16 } counter name "drop_ipv4_src_invalid" drop
\t\t@th,64,16 0x0000 counter name "drop_ipv6_src_invalid" drop
\t\t@th,64,9 0x1fd counter name "drop_ipv6_src_invalid" drop
\t\t@th,64,8 0xff counter name "drop_ipv6_src_invalid" drop
\t\t@th,64,16 0x2002 @th,80,32 { 0x00000000-0x00ffffff, 0x7f000000-0x7fffffff, 0xa9fe0000-0xa9feffff, 0xe0000000-0xefffffff, 0xf0000000-0xffffffff } counter name "drop_ipv6_src_6to4_invalid_ipv4" drop
\t\t@th,64,16 0x2002 @th,80,32 { 0x0a000000-0x0affffff, 0x64400000-0x647fffff, 0xac100000-0xac1fffff, 0xc0a80000-0xc0a8ffff } counter name "drop_ipv6_src_6to4_invalid_ipv4" drop
\t\t@th,192,16 0x0000 counter name "drop_ipv6_dst_invalid" drop
\t\t@th,192,9 0x1fd counter name "drop_ipv6_dst_invalid" drop
\t\t@th,192,8 0xff counter name "drop_ipv6_dst_invalid" drop
\t\t@th,192,16 0x2002 @th,208,32 { 0x00000000-0x00ffffff, 0x7f000000-0x7fffffff, 0xa9fe0000-0xa9feffff, 0xe0000000-0xefffffff, 0xf0000000-0xffffffff } counter name "drop_ipv6_dst_6to4_invalid_ipv4" drop
\t\t@th,192,16 0x2002 @th,208,32 { 0x0a000000-0x0affffff, 0x64400000-0x647fffff, 0xac100000-0xac1fffff, 0xc0a80000-0xc0a8ffff } counter name "drop_ipv6_dst_6to4_invalid_ipv4" drop
\t\t@th,192,16 0x2002 @th,208,32 != 0x64400002 counter name "drop_6to4_dst_mismatch" drop
\t\t@th,192,16 0x2002 @th,64,16 != 0x2002 ip saddr != 192.88.99.1 counter name "drop_native_src_not_from_relay" drop
\t\t@th,64,16 0x2002 counter name "sixto4_src_checked"
\t}
\tchain decap6 {
\t\tip6 saddr 2002::/16 counter name "sixto4_src_decapsulated"
\t\tip6 saddr != 2002::/16 ip6 daddr != 2002::/16 counter name "drop_native_to_native" drop
\t\tip6 daddr != 2002:6440:2::/48 counter name "drop_dst_not_own_prefix" drop
\t\tcounter name "in_packets"
\t}
\tchain post {
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\tmeta nfproto ipv6 oifname "6to4pmt0" jump encap
\t}
\tchain encap {
\t\tip6 daddr ff00::/8 @nh,204,4 < 3 counter name "drop_link_scope_multicast" drop
\t\tip6 saddr { ::/16, fe80::/9, ff00::/8 } counter name "drop_ipv6_src_invalid" drop
\t\tip6 saddr { 2002::/24, 2002:7f00::/24, 2002:a9fe::/32, 2002:e000::/20, 2002:f000::/20 } counter name "drop_ipv6_src_6to4_invalid_ipv4" drop
\t\tip6 saddr { 2002:a00::/24, 2002:6440::/26, 2002:ac10::/28, 2002:c0a8::/32 } counter name "drop_ipv6_src_6to4_invalid_ipv4" drop
\t\tip6 daddr { ::/16, fe80::/9, ff00::/8 } counter name "drop_ipv6_dst_invalid" drop
\t\tip6 daddr { 2002::/24, 2002:7f00::/24, 2002:a9fe::/32, 2002:e000::/20, 2002:f000::/20 } counter name "drop_ipv6_dst_6to4_invalid_ipv4" drop
\t\tip6 daddr { 2002:a00::/24, 2002:6440::/26, 2002:ac10::/28, 2002:c0a8::/32 } counter name "drop_ipv6_dst_6to4_invalid_ipv4" drop
\t\tip6 saddr 2002::/16 ip6 saddr != 2002:6440:2::/48 counter name "drop_encap_src_invalid" drop
\t\tip6 daddr 2002:6440:2::/48 counter name "drop_encap_dst_invalid" drop
\t\tip6 saddr != 2002::/16 ip6 daddr != 2002::/16 counter name "drop_native_to_native" drop
\t\tip6 saddr != 2002::/16 ip6 saddr & ::fcff:ffff:ffff:ffff == ::5efe:6440:2 counter name "drop_own_ipv4_embedded" drop
\t\tcounter name "out_packets"
\t}
}
`,
  );
});
