// RFC 3964 §5.1 (encapsulate), §5.2 (decapsulate), §5.3 (sanity, incl. 2002:V4ADDR equivalents),
// RFC 4213 §3.6 (invalid decapsulated sources) and RFC 6324 §3.3 (own IPv4 embedded under an
// off-link prefix), as table tests with documentation addresses (RFC 5737, RFC 3849) and the
// RFC 3068 anycast relay 192.88.99.1 (6to4 2002:c058:6301::).
import { test } from "node:test";
import assert from "node:assert/strict";
import * as D from "../../../module/addr/drop-reason.js";
import {
  checkDecapsulate,
  checkEncapsulate,
  checkOwnIpv4Embedded,
  createPolicyContext,
  type PolicyContext,
} from "../../../module/addr/policy.js";
import { parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { parseIpv6, parseIpv6Prefix } from "../../../module/addr/ipv6.js";

const v4 = (s: string): number => parseIpv4(s)!;
const HEADROOM = 20; // packets sit after IPv4-header headroom, as in the data plane

/** A 40-byte IPv6 header (plus headroom) with the given addresses. */
function packet(src: string, dst: string): Uint8Array {
  const buf = new Uint8Array(HEADROOM + 40);
  buf[HEADROOM] = 0x60;
  buf[HEADROOM + 6] = 59; // no next header
  buf[HEADROOM + 7] = 64;
  buf.set(parseIpv6(src)!, HEADROOM + 8);
  buf.set(parseIpv6(dst)!, HEADROOM + 24);
  return buf;
}

const name = (r: number): string => D.DROP_REASON_NAMES[r] ?? `#${r}`;

// CPE at 192.0.2.1 (site 2002:c000:201::/48), relay 192.88.99.1.
const CPE = createPolicyContext({
  role: "cpe",
  ownIpv4: [v4("192.0.2.1")],
  relays: [v4("192.88.99.1")],
});
// CPE behind a CGN at 100.64.1.2 with 100.64.0.0/10 declared acceptable (RFC 6732 §4.2).
const CPE_CGN = createPolicyContext({
  role: "cpe",
  ownIpv4: [v4("100.64.1.2")],
  relays: [v4("192.88.99.1")],
  allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
});
const CPE_CGN_UNDECLARED = createPolicyContext({
  role: "cpe",
  ownIpv4: [v4("100.64.1.2")],
  relays: [v4("192.88.99.1")],
});
const CPE_ONLINK = createPolicyContext({
  role: "cpe",
  ownIpv4: [v4("192.0.2.1")],
  relays: [v4("192.88.99.1")],
  onLinkPrefixes: [parseIpv6Prefix("2001:db8:c000:201::/64")!],
});
// PMT relay on the anycast address plus a unicast one, customers in 100.64.0.0/10.
const RELAY = createPolicyContext({
  role: "relay",
  ownIpv4: [v4("192.88.99.1"), v4("198.51.100.1")],
  allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
});
const RELAY_PLAIN = createPolicyContext({ role: "relay", ownIpv4: [v4("192.88.99.1")] });
const RELAY_NO_OWN_SITE = createPolicyContext({
  role: "relay",
  ownIpv4: [v4("192.88.99.1")],
  ownSixToFourOnLink: false,
});

interface Row {
  name: string;
  ctx: PolicyContext;
  src: string;
  dst: string;
  srcV4: string;
  dstV4: string;
  want: number;
}

const ENCAP: Row[] = [
  // RFC 3964 §5.1 accept paths
  {
    name: "6to4 -> native via relay",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_NONE,
  },
  {
    name: "6to4 -> 6to4 direct",
    ctx: CPE,
    src: "2002:c000:201:1::10",
    dst: "2002:cb00:7101::1",
    srcV4: "192.0.2.1",
    dstV4: "203.0.113.1",
    want: D.DROP_NONE,
  },
  {
    name: "relay: native -> 6to4",
    ctx: RELAY_PLAIN,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_NONE,
  },
  {
    name: "relay: native -> CGN customer (declared)",
    ctx: RELAY,
    src: "2001:db8::1",
    dst: "2002:6440:5::1",
    srcV4: "192.88.99.1",
    dstV4: "100.64.0.5",
    want: D.DROP_NONE,
  },
  {
    name: "CGN CPE declared 100.64/10",
    ctx: CPE_CGN,
    src: "2002:6440:102::1",
    dst: "2001:db8::1",
    srcV4: "100.64.1.2",
    dstV4: "192.88.99.1",
    want: D.DROP_NONE,
  },
  // §5.3.2 IPv6 sanity on src_v6
  {
    name: "src ::1 (loopback)",
    ctx: CPE,
    src: "::1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src :: (unspecified)",
    ctx: CPE,
    src: "::",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src IPv4-mapped",
    ctx: CPE,
    src: "::ffff:192.0.2.1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src IPv4-compatible",
    ctx: CPE,
    src: "::192.0.2.1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src link-local",
    ctx: CPE,
    src: "fe80::1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src site-local",
    ctx: CPE,
    src: "fec0::1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src multicast",
    ctx: CPE,
    src: "ff0e::1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  // §5.3.2 on dst_v6
  {
    name: "dst multicast",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "ff02::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_DST_INVALID,
  },
  {
    name: "dst link-local",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "fe80::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_DST_INVALID,
  },
  {
    name: "dst loopback",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_DST_INVALID,
  },
  // §5.3.2 2002:V4ADDR::/48 equivalents of the §5.3.1 list
  {
    name: "src 2002:10.0.0.1",
    ctx: CPE,
    src: "2002:a00:1::1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:0.0.0.1",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:0:1::1",
    srcV4: "192.0.2.1",
    dstV4: "0.0.0.1",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:10.1.2.3",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:a01:203::1",
    srcV4: "192.0.2.1",
    dstV4: "10.1.2.3",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:127.0.0.1",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:7f00:1::1",
    srcV4: "192.0.2.1",
    dstV4: "127.0.0.1",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:172.16.0.1",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:ac10:1::1",
    srcV4: "192.0.2.1",
    dstV4: "172.16.0.1",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:192.168.1.1",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:c0a8:101::1",
    srcV4: "192.0.2.1",
    dstV4: "192.168.1.1",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:169.254.1.1",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:a9fe:101::1",
    srcV4: "192.0.2.1",
    dstV4: "169.254.1.1",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:224.0.0.1",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:e000:1::1",
    srcV4: "192.0.2.1",
    dstV4: "224.0.0.1",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:240.0.0.1",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:f000:1::1",
    srcV4: "192.0.2.1",
    dstV4: "240.0.0.1",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:255.255.255.255",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:ffff:ffff::1",
    srcV4: "192.0.2.1",
    dstV4: "255.255.255.255",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:100.64.0.5 undeclared",
    ctx: RELAY_PLAIN,
    src: "2001:db8::1",
    dst: "2002:6440:5::1",
    srcV4: "192.88.99.1",
    dstV4: "100.64.0.5",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  {
    name: "dst 2002:10.0.0.5 with only 100.64/10 declared",
    ctx: RELAY,
    src: "2001:db8::1",
    dst: "2002:a00:5::1",
    srcV4: "192.88.99.1",
    dstV4: "10.0.0.5",
    want: D.DROP_IPV6_DST_6TO4_INVALID_IPV4,
  },
  // §5.1 body
  {
    name: "src 6to4 V4ADDR != src_v4",
    ctx: CPE,
    src: "2002:c633:6401::1",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_ENCAP_SRC_INVALID,
  },
  {
    name: "relay: native side claims 6to4 source",
    ctx: RELAY_PLAIN,
    src: "2002:c000:201::1",
    dst: "2002:cb00:7101::1",
    srcV4: "192.88.99.1",
    dstV4: "203.0.113.1",
    want: D.DROP_ENCAP_SRC_INVALID,
  },
  {
    name: "native -> native",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2001:db8::2",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_NATIVE_TO_NATIVE,
  },
  {
    name: "relay: native -> native",
    ctx: RELAY,
    src: "2001:db8::1",
    dst: "2001:db8::2",
    srcV4: "192.88.99.1",
    dstV4: "203.0.113.1",
    want: D.DROP_NATIVE_TO_NATIVE,
  },
  {
    name: "dst_v4 is our own address (loop)",
    ctx: RELAY,
    src: "2001:db8::1",
    dst: "2002:c058:6301::5",
    srcV4: "192.88.99.1",
    dstV4: "192.88.99.1",
    want: D.DROP_ENCAP_DST_INVALID,
  },
  {
    name: "CPE to its own 6to4 site",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2002:c000:201:1::1",
    srcV4: "192.0.2.1",
    dstV4: "192.0.2.1",
    want: D.DROP_ENCAP_DST_INVALID,
  },
  {
    name: "dst_v4 private (misconfigured relay)",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "10.0.0.1",
    want: D.DROP_ENCAP_DST_INVALID,
  },
  {
    name: "dst_v4 broadcast",
    ctx: CPE,
    src: "2002:c000:201::10",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "255.255.255.255",
    want: D.DROP_ENCAP_DST_INVALID,
  },
  {
    name: "src_v4 shared, undeclared",
    ctx: CPE_CGN_UNDECLARED,
    src: "2002:6440:102::1",
    dst: "2001:db8::1",
    srcV4: "100.64.1.2",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_6TO4_INVALID_IPV4,
  },
  // RFC 6324 §3.3 source check (the §2 example: relay R2 gets src Prf1::0200:5efe:IP2)
  {
    name: "RFC 6324: src ISATAP IID embeds relay's own IPv4",
    ctx: RELAY,
    src: "2001:db8:1::200:5efe:c058:6301",
    dst: "2002:cb00:7101::1",
    srcV4: "192.88.99.1",
    dstV4: "203.0.113.1",
    want: D.DROP_OWN_IPV4_EMBEDDED,
  },
  {
    name: "RFC 6324: ::0:5efe: form, unicast own address",
    ctx: RELAY,
    src: "2001:db8:1::5efe:c633:6401",
    dst: "2002:cb00:7101::1",
    srcV4: "192.88.99.1",
    dstV4: "203.0.113.1",
    want: D.DROP_OWN_IPV4_EMBEDDED,
  },
  {
    name: "RFC 6324: ISATAP IID of someone else is fine",
    ctx: RELAY,
    src: "2001:db8:1::200:5efe:cb00:7109",
    dst: "2002:cb00:7101::1",
    srcV4: "192.88.99.1",
    dstV4: "203.0.113.1",
    want: D.DROP_NONE,
  },
];

const DECAP: Row[] = [
  // RFC 3964 §5.2 accept paths
  {
    name: "relay -> CPE, native src",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_NONE,
  },
  {
    name: "6to4 peer -> CPE",
    ctx: CPE,
    src: "2002:cb00:7109::1",
    dst: "2002:c000:201:1::10",
    srcV4: "203.0.113.9",
    dstV4: "192.0.2.1",
    want: D.DROP_NONE,
  },
  {
    name: "customer -> relay -> native",
    ctx: RELAY_PLAIN,
    src: "2002:c000:201::10",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_NONE,
  },
  {
    name: "CGN customer (declared) -> relay",
    ctx: RELAY,
    src: "2002:6440:5::1",
    dst: "2001:db8::1",
    srcV4: "100.64.0.5",
    dstV4: "192.88.99.1",
    want: D.DROP_NONE,
  },
  {
    name: "customer -> relay unicast address",
    ctx: RELAY,
    src: "2002:c000:201::10",
    dst: "2001:db8::1",
    srcV4: "192.0.2.1",
    dstV4: "198.51.100.1",
    want: D.DROP_NONE,
  },
  {
    name: "health ping to the relay's 2002:c058:6301::1",
    ctx: RELAY,
    src: "2002:c000:201::10",
    dst: "2002:c058:6301::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_NONE,
  },
  {
    name: "relay accepts native src to its own 6to4",
    ctx: RELAY,
    src: "2001:db8::1",
    dst: "2002:c058:6301::1",
    srcV4: "203.0.113.9",
    dstV4: "192.88.99.1",
    want: D.DROP_NONE,
  },
  {
    name: "CGN CPE (declared) from relay",
    ctx: CPE_CGN,
    src: "2001:db8::1",
    dst: "2002:6440:102::1",
    srcV4: "192.88.99.1",
    dstV4: "100.64.1.2",
    want: D.DROP_NONE,
  },
  {
    name: "CPE: native dst on an on-link prefix",
    ctx: CPE_ONLINK,
    src: "2002:cb00:7109::1",
    dst: "2001:db8:c000:201::5",
    srcV4: "203.0.113.9",
    dstV4: "192.0.2.1",
    want: D.DROP_NONE,
  },
  // §5.3.1 IPv4 sanity on src_v4, dst_v4 ours
  {
    name: "src_v4 private",
    ctx: CPE,
    src: "2002:a01:101::1",
    dst: "2002:c000:201::10",
    srcV4: "10.1.1.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "src_v4 loopback",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "127.0.0.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "src_v4 unspecified",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "0.0.0.0",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "src_v4 link-local",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "169.254.0.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "src_v4 multicast",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "224.0.0.5",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "src_v4 reserved",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "240.0.0.5",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "src_v4 shared, undeclared",
    ctx: RELAY_PLAIN,
    src: "2002:6440:5::1",
    dst: "2001:db8::1",
    srcV4: "100.64.0.5",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "src_v4 private, only 100.64/10 declared",
    ctx: RELAY,
    src: "2002:a00:5::1",
    dst: "2001:db8::1",
    srcV4: "10.0.0.5",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV4_SRC_INVALID,
  },
  {
    name: "dst_v4 not ours",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:202::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.2",
    want: D.DROP_IPV4_DST_NOT_OWN,
  },
  {
    name: "dst_v4 broadcast",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "255.255.255.255",
    want: D.DROP_IPV4_DST_NOT_OWN,
  },
  // §5.3.2 / RFC 4213 §3.6 IPv6 sanity
  {
    name: "src multicast (RFC 4213 §3.6)",
    ctx: CPE,
    src: "ff05::2",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src loopback (RFC 4213 §3.6)",
    ctx: CPE,
    src: "::1",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src IPv4-compatible (RFC 4213 §3.6)",
    ctx: CPE,
    src: "::203.0.113.9",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src IPv4-mapped (RFC 4213 §3.6)",
    ctx: CPE,
    src: "::ffff:203.0.113.9",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src unspecified",
    ctx: CPE,
    src: "::",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "src link-local",
    ctx: CPE,
    src: "fe80::1",
    dst: "2002:c000:201::10",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_SRC_INVALID,
  },
  {
    name: "dst multicast",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "ff02::1",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_DST_INVALID,
  },
  {
    name: "dst site-local",
    ctx: RELAY,
    src: "2002:c000:201::10",
    dst: "fec0::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_DST_INVALID,
  },
  {
    name: "src 2002:192.168.1.1",
    ctx: CPE,
    src: "2002:c0a8:101::1",
    dst: "2002:c000:201::10",
    srcV4: "203.0.113.9",
    dstV4: "192.0.2.1",
    want: D.DROP_IPV6_SRC_6TO4_INVALID_IPV4,
  },
  {
    name: "src 2002:224.0.0.1",
    ctx: RELAY,
    src: "2002:e000:1::1",
    dst: "2001:db8::1",
    srcV4: "203.0.113.9",
    dstV4: "192.88.99.1",
    want: D.DROP_IPV6_SRC_6TO4_INVALID_IPV4,
  },
  // §5.2 body
  {
    name: "dst 6to4 V4ADDR != dst_v4",
    ctx: RELAY,
    src: "2002:c000:201::10",
    dst: "2002:cb00:7101::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_6TO4_DST_MISMATCH,
  },
  {
    name: "spoofed 6to4 src (dst 6to4)",
    ctx: CPE,
    src: "2002:cb00:7109::1",
    dst: "2002:c000:201::10",
    srcV4: "203.0.113.10",
    dstV4: "192.0.2.1",
    want: D.DROP_6TO4_SRC_SPOOFED,
  },
  {
    name: "spoofed 6to4 src (dst native)",
    ctx: RELAY,
    src: "2002:c000:201::10",
    dst: "2001:db8::1",
    srcV4: "198.51.100.77",
    dstV4: "192.88.99.1",
    want: D.DROP_6TO4_SRC_SPOOFED,
  },
  {
    name: "CPE: native src not from a configured relay",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2002:c000:201::10",
    srcV4: "203.0.113.9",
    dstV4: "192.0.2.1",
    want: D.DROP_NATIVE_SRC_NOT_FROM_RELAY,
  },
  {
    name: "CPE: not an open relay (native dst)",
    ctx: CPE,
    src: "2002:cb00:7109::1",
    dst: "2001:db8::5",
    srcV4: "203.0.113.9",
    dstV4: "192.0.2.1",
    want: D.DROP_DST_NOT_OWN_PREFIX,
  },
  {
    name: "CPE: native -> native",
    ctx: CPE,
    src: "2001:db8::1",
    dst: "2001:db8::2",
    srcV4: "192.88.99.1",
    dstV4: "192.0.2.1",
    want: D.DROP_NATIVE_TO_NATIVE,
  },
  {
    name: "relay: native -> native",
    ctx: RELAY,
    src: "2001:db8::1",
    dst: "2001:db8::2",
    srcV4: "203.0.113.9",
    dstV4: "192.88.99.1",
    want: D.DROP_NATIVE_TO_NATIVE,
  },
  // RFC 6324 §3.3 destination check (the §2 loop with the 6to4 relay as R1)
  {
    name: "RFC 6324: dst ISATAP IID embeds the relay's IPv4",
    ctx: RELAY,
    src: "2002:cb00:7109::1",
    dst: "2001:db8:77::200:5efe:c058:6301",
    srcV4: "203.0.113.9",
    dstV4: "192.88.99.1",
    want: D.DROP_OWN_IPV4_EMBEDDED,
  },
  {
    name: "RFC 6324: dst ::0:5efe: IID embeds the relay's unicast IPv4",
    ctx: RELAY,
    src: "2002:cb00:7109::1",
    dst: "2001:db8:77::5efe:c633:6401",
    srcV4: "203.0.113.9",
    dstV4: "198.51.100.1",
    want: D.DROP_OWN_IPV4_EMBEDDED,
  },
  {
    name: "RFC 6324: on-link prefix with ISATAP-like IID is ours",
    ctx: CPE_ONLINK,
    src: "2002:cb00:7109::1",
    dst: "2001:db8:c000:201:200:5efe:c000:201",
    srcV4: "203.0.113.9",
    dstV4: "192.0.2.1",
    want: D.DROP_NONE,
  },
  {
    name: "RFC 6324: own 6to4 /48 off-link on this relay",
    ctx: RELAY_NO_OWN_SITE,
    src: "2002:c000:201::10",
    dst: "2002:c058:6301::1",
    srcV4: "192.0.2.1",
    dstV4: "192.88.99.1",
    want: D.DROP_OWN_IPV4_EMBEDDED,
  },
];

test("RFC 3964 §5.1 encapsulation table", () => {
  for (const r of ENCAP) {
    const buf = packet(r.src, r.dst);
    const got = checkEncapsulate(r.ctx, buf, HEADROOM, v4(r.srcV4), v4(r.dstV4));
    assert.equal(name(got), name(r.want), r.name);
  }
});

test("RFC 3964 §5.2 decapsulation table", () => {
  for (const r of DECAP) {
    const buf = packet(r.src, r.dst);
    const got = checkDecapsulate(r.ctx, buf, HEADROOM, v4(r.srcV4), v4(r.dstV4));
    assert.equal(name(got), name(r.want), r.name);
  }
});

test("checkOwnIpv4Embedded on a single address", () => {
  const buf = new Uint8Array(16);
  const cases: [PolicyContext, string, number][] = [
    [RELAY, "2001:db8::200:5efe:c058:6301", D.DROP_OWN_IPV4_EMBEDDED],
    [RELAY, "2001:db8::300:5efe:c058:6301", D.DROP_OWN_IPV4_EMBEDDED],
    [RELAY, "2001:db8::400:5efe:c058:6301", D.DROP_NONE],
    [RELAY, "2001:db8::200:5eff:c058:6301", D.DROP_NONE],
    [RELAY, "2002:cb00:7101::200:5efe:c633:6401", D.DROP_OWN_IPV4_EMBEDDED],
    [RELAY, "2002:c058:6301::200:5efe:c058:6301", D.DROP_NONE],
    [RELAY_NO_OWN_SITE, "2002:c058:6301::1", D.DROP_OWN_IPV4_EMBEDDED],
    [CPE, "2002:c000:201::1", D.DROP_NONE],
  ];
  for (const [ctx, a, want] of cases) {
    buf.set(parseIpv6(a)!);
    assert.equal(name(checkOwnIpv4Embedded(ctx, buf, 0)), name(want), a);
  }
});

test("policy checks never throw on short or random buffers", () => {
  let seed = 7;
  const rnd = (): number => (seed = (Math.imul(seed, 1664525) + 1013904223) >>> 0);
  for (let i = 0; i < 2000; i++) {
    const buf = new Uint8Array(HEADROOM + 40);
    for (let j = 0; j < buf.length; j++) buf[j] = rnd() & 0xff;
    for (const ctx of [CPE, RELAY, CPE_ONLINK]) {
      const a = checkEncapsulate(ctx, buf, HEADROOM, rnd(), rnd());
      const b = checkDecapsulate(ctx, buf, HEADROOM, rnd(), rnd());
      assert.ok(Number.isInteger(a) && a >= 0 && a < D.DROP_REASON_COUNT);
      assert.ok(Number.isInteger(b) && b >= 0 && b < D.DROP_REASON_COUNT);
    }
  }
});

test("hot path allocates nothing (heap stays flat over 1e6 checks)", () => {
  const buf = packet("2002:c000:201::10", "2001:db8::1");
  const src = v4("192.0.2.1");
  const relay = v4("192.88.99.1");
  const run = (n: number): number => {
    let acc = 0;
    for (let i = 0; i < n; i++) {
      acc += checkEncapsulate(CPE, buf, HEADROOM, src, relay);
      acc += checkDecapsulate(RELAY_PLAIN, buf, HEADROOM, src, relay);
    }
    return acc;
  };
  run(100_000); // warm up / JIT
  const gc = (globalThis as { gc?: () => void }).gc;
  gc?.();
  const before = process.memoryUsage().heapUsed;
  assert.equal(run(1_000_000), 0);
  const grown = process.memoryUsage().heapUsed - before;
  // Without --expose-gc this is only a coarse bound; 1e6 allocations would be tens of MB.
  assert.ok(grown < 4 * 1024 * 1024, `heap grew ${grown} bytes`);
});
