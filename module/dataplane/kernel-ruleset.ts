/**
 * The CPE's kernel data plane as text: the nft ruleset (tables `ip NAME` and `ip6 NAME` of our
 * own) and the `ip` commands of the sit tunnel and its routes, from the same forwarding snapshot
 * the userspace path reads. Pure: no I/O; control/kernel-path.ts runs what this returns.
 *
 * What the kernel does and where each check of the userspace path (cpe-outbound.ts,
 * cpe-inbound.ts, addr/policy.ts) lives in kernel mode:
 *  - sit (`mode sit remote any local V4ADDR ttl 64`) encapsulates: `::/0 via ::RELAY` sends native
 *    destinations to the relay (IPv4-compatible next hop), `2002::/16 dev sit` (direct_6to4) to
 *    the embedded IPv4 (RFC 3056 §5.3). It decapsulates protocol 41 to V4ADDR and itself drops a
 *    2002 source or destination whose V4ADDR is not the outer address (Linux `is_spoofed_6rd`,
 *    counted in the sit's rx_errors: `6to4_src_spoofed`); hop limit, MTU and Packet Too Big are
 *    the kernel's forwarding.
 *  - `ip` chain `decap4` (prerouting, raw priority, before conntrack): protocol 41 to V4ADDR, the
 *    inner IPv6 header read at the transport offset (`@th`, so IPv4 options are skipped):
 *    RFC 3964 §5.2 outer source (§5.3.1), inner sanity (§5.3.2 and the 2002:V4ADDR equivalents),
 *    2002 destination of another V4ADDR, native source from a non-relay.
 *  - `ip6` chain `decap6` (same hook, packets from the sit): native to native and a destination
 *    outside 2002:V4ADDR::/48 (no open relay, RFC 5969 §9.2).
 *  - `ip6` chains `dnat6` / `snat6`: the PMT translation of the mapped /64 only (RFC 6732 §3.3),
 *    `dnat ip6 prefix to` in, `snat ip6 prefix to` out; conntrack keeps the flows (never notrack:
 *    the prefix NAT is skipped without it). Unmapped sources stay plain 6to4. In an `ip6` table
 *    the NAT asks for IPv6 conntrack only (an `inet` one would track every outer IPv4 packet too).
 *  - `ip6` chain `encap` (postrouting after srcnat, into the sit): interface- and link-scope
 *    multicast (the kernel's own MLD; `link_scope_multicast`), RFC 3964 §5.1 on the 2002 form,
 *    RFC 6324 §3.3 on the source (ISATAP identifier with V4ADDR under an off-link prefix).
 * Per packet: each family's packets meet only that family's chains; a chain's first rules accept
 * in one rule what passes all of its checks (the common traffic), the drop rules follow in the
 * userspace path's order, so a hostile packet is counted under the same name. Each drop has a
 * named counter `drop_<reason>` with the reason's name from addr/drop-reason.ts, so status shows
 * the same names in both modes; passing packets are counted by the sit device itself.
 *
 * Applied as one `nft -f` transaction that creates the tables (if absent), deletes them and
 * creates them anew: atomic, and nothing outside them is touched (fw4's `inet fw4` stays).
 */
import { IPV4_SPECIAL_RANGES } from "../addr/classify.js";
import { formatIpv4, formatIpv4Prefix, ipv4Mask, type Ipv4Prefix } from "../addr/ipv4.js";
import { formatIpv6, formatIpv6Prefix, type Ipv6Prefix } from "../addr/ipv6.js";

/** Names of our table and the drop reasons the rules count (addr/drop-reason.ts names). */
export const KERNEL_TABLE = "sixto4pmt";
export const KERNEL_DROP_NAMES = [
  "ipv4_src_invalid",
  "ipv6_src_invalid",
  "ipv6_dst_invalid",
  "ipv6_src_6to4_invalid_ipv4",
  "ipv6_dst_6to4_invalid_ipv4",
  "6to4_dst_mismatch",
  "6to4_src_spoofed",
  "native_src_not_from_relay",
  "native_to_native",
  "dst_not_own_prefix",
  "encap_src_invalid",
  "encap_dst_invalid",
  "own_ipv4_embedded",
  "link_scope_multicast",
] as const;
/**
 * decap6's native-to-native drops, counted apart from encap's (status sums both under
 * native_to_native) so that in_packets can be taken from the sit's own receive count.
 */
const NATIVE_IN = "drop_native_to_native_in";
export interface KernelPathInput {
  /** The sit device (the CPE's tun_name, so firewall zones and netifd see the same name). */
  readonly device: string;
  /** V4ADDR, unsigned. */
  readonly ownIpv4: number;
  /** Relays whose native-sourced packets are accepted (RFC 3964 §5.2), unsigned. */
  readonly relays: readonly number[];
  /** The relay in use: next hop ::RELAY of the default route. */
  readonly relayIpv4: number;
  /** Extra accepted IPv4 ranges (allow_ipv4); they re-enable only private and shared space. */
  readonly allowIpv4: readonly Ipv4Prefix[];
  readonly direct6to4: boolean;
  /** default_route (usually ::/0). */
  readonly defaultRoute: Ipv6Prefix;
  readonly mtu: number;
  /** PMT: the LAN's provider /64 and the 2002:V4ADDR:SLA::/64 it stands for; null = plain 6to4. */
  readonly nat: { readonly provider: Ipv6Prefix; readonly sixToFour: Ipv6Prefix } | null;
}

/**
 * The IPv4 addresses RFC 3964 §5.3.1 rules out, as prefixes: the hard list (never usable) and the
 * soft list (private and shared space) less what allow_ipv4 re-enables.
 */
export function invalidIpv4(allow: readonly Ipv4Prefix[]): Ipv4Prefix[] {
  const hard: Ipv4Prefix[] = [];
  const soft: Ipv4Prefix[] = [];
  for (const r of IPV4_SPECIAL_RANGES) {
    if (!r.invalidFor6to4) continue;
    (r.overridable ? soft : hard).push(r.prefix);
  }
  return minimalPrefixes([...hard, ...subtractPrefixes(soft, allow)]);
}

/** Prefixes with those inside another one left out (nft refuses overlapping set elements). */
export function minimalPrefixes(list: readonly Ipv4Prefix[]): Ipv4Prefix[] {
  const norm = list.map((p) => ({ addr: (p.addr & ipv4Mask(p.len)) >>> 0, len: p.len }));
  norm.sort((a, b) => a.len - b.len || a.addr - b.addr);
  const out: Ipv4Prefix[] = [];
  for (const p of norm) {
    if (out.some((q) => covers(q, p))) continue;
    out.push(p);
  }
  return out.sort((a, b) => a.addr - b.addr);
}

/** Whether prefix `q` contains prefix `p`. */
function covers(q: Ipv4Prefix, p: Ipv4Prefix): boolean {
  return q.len <= p.len && (p.addr & ipv4Mask(q.len)) >>> 0 === (q.addr & ipv4Mask(q.len)) >>> 0;
}

/** The addresses of `list` not in `remove`, as prefixes (a prefix partly removed is split). */
export function subtractPrefixes(
  list: readonly Ipv4Prefix[],
  remove: readonly Ipv4Prefix[],
): Ipv4Prefix[] {
  const out: Ipv4Prefix[] = [];
  const walk = (p: Ipv4Prefix): void => {
    if (remove.some((r) => covers(r, p))) return;
    if (!remove.some((r) => covers(p, r))) {
      out.push(p);
      return;
    }
    const half = (1 << (31 - p.len)) >>> 0;
    const base = (p.addr & ipv4Mask(p.len)) >>> 0;
    walk({ addr: base, len: p.len + 1 });
    walk({ addr: (base + half) >>> 0, len: p.len + 1 });
  };
  for (const p of list) walk({ addr: (p.addr & ipv4Mask(p.len)) >>> 0, len: p.len });
  return out;
}

const hex32 = (n: number): string => "0x" + (n >>> 0).toString(16).padStart(8, "0");
/** An IPv4 prefix as an integer range for a raw 32-bit payload match. */
const intRange = (p: Ipv4Prefix): string => {
  const lo = (p.addr & ipv4Mask(p.len)) >>> 0;
  const hi = (lo | ~ipv4Mask(p.len)) >>> 0;
  return lo === hi ? hex32(lo) : `${hex32(lo)}-${hex32(hi)}`;
};
/** 2002:V4ADDR::/(16 + len) of an IPv4 prefix. */
function sixToFourOf(p: Ipv4Prefix): string {
  const b = new Uint8Array(16);
  const a = (p.addr & ipv4Mask(p.len)) >>> 0;
  b[0] = 0x20;
  b[1] = 0x02;
  b[2] = a >>> 24;
  b[3] = (a >>> 16) & 0xff;
  b[4] = (a >>> 8) & 0xff;
  b[5] = a & 0xff;
  return `${formatIpv6(b)}/${16 + p.len}`;
}
const set = (items: readonly string[]): string =>
  items.length === 1 ? items[0]! : `{ ${items.join(", ")} }`;
const count = (reason: string, counter = `drop_${reason}`): string =>
  `counter name "${counter}" drop`;
const quote = (s: string): string => JSON.stringify(s);

/** The last 32 bits of an ISATAP address with `v4`, as two hex groups. */
const isatapTail = (v4: number): string =>
  `${((v4 >>> 16) & 0xffff).toString(16)}:${(v4 & 0xffff).toString(16)}`;

/**
 * Compares nft evaluates inline, without a function call per packet (nf_tables_core.c fast
 * paths): payload loads of 1, 2 or 4 bytes at an offset aligned to their size, equal/not-equal
 * compares of at most 32 bits, and masks of exactly 32 bits. A longer load (a /48 or a whole
 * IPv6 address), a load at an unaligned offset (the V4ADDR of a 2002 address), a mask of 8 or
 * 16 bits or a set lookup is a call (a chain of 5-10 kernel functions for a lookup; counted per
 * packet with BENCH_PROFILE): the fast accepts, which every packet of the common traffic meets,
 * use the inline forms only.
 */
const hex16 = (n: number): string => "0x" + (n & 0xffff).toString(16).padStart(4, "0");
/** `@base,off,48` == 2002:V4ADDR as two inline compares (32 + 16 bits; nft merges none). */
const own48Inline = (base: string, off: number, v4: number): string =>
  `${base},${off},32 0x2002${hex16(v4 >>> 16).slice(2)} ${base},${off + 32},16 ${hex16(v4)}`;
/**
 * The 32 bits `field` (at an aligned offset) are 0x2002 and the top 16 bits of an IPv4 address
 * that is in none of `list`, as inline compares: each prefix rounded out to its /16 (or shorter),
 * so this may refuse a valid address (the checks after it decide those) but never passes an
 * invalid one. Null when nothing could pass.
 */
function not2002In(field: string, list: readonly Ipv4Prefix[]): string | null {
  const seen = new Set<string>();
  const out = [`${field} & 0xffff0000 == 0x20020000`];
  for (const p of list) {
    const len = Math.min(p.len, 16);
    if (len === 0) return null;
    const mask = ((0xffff << (16 - len)) & 0xffff) >>> 0;
    const value = (p.addr >>> 16) & mask;
    const c =
      mask === 0xffff
        ? `${field} != 0x2002${hex16(value).slice(2)}`
        : `${field} & 0xffff${hex16(mask).slice(2)} != 0x2002${hex16(value).slice(2)}`;
    if (!seen.has(c)) out.push(c);
    seen.add(c);
  }
  return out.join(" ");
}
/** The IPv4 address `field` (a 32-bit load at an aligned offset) is in none of `list`, inline. */
const notIn32 = (field: string, list: readonly Ipv4Prefix[]): string =>
  list
    .map((p) =>
      p.len >= 32
        ? `${field} != ${hex32(p.addr)}`
        : `${field} & ${hex32(ipv4Mask(p.len))} != ${hex32(p.addr & ipv4Mask(p.len))}`,
    )
    .join(" ");

/** 2002:V4ADDR::/48 of `v4`. */
function ownSixToFour(v4: number): string {
  return sixToFourOf({ addr: v4, len: 32 });
}

/**
 * The first 16 bits of the addresses RFC 3964 §5.3.2 rules out (addr/classify.ts
 * isInvalidIpv6): ::/16, fe80::/9 (link- and site-local) and ff00::/8, for a raw 16-bit match.
 */
const INVALID_HEAD16 = "{ 0x0000, 0xfe80-0xffff }";

/**
 * The tables' bodies (without the `table` lines): `ip` (protocol 41 to V4ADDR) and `ip6` (the
 * sit's traffic and the prefix NAT). Each packet meets only its own family's chains.
 */
export function kernelTableBodies(i: KernelPathInput): { ip: string[]; ip6: string[] } {
  const dev = quote(i.device);
  const own = formatIpv4(i.ownIpv4);
  const own48 = ownSixToFour(i.ownIpv4);
  const invalid = invalidIpv4(minimalPrefixes(i.allowIpv4));
  const inv4 = set(invalid.map(formatIpv4Prefix));
  const invRaw = set(invalid.map(intRange));
  const inv6to4 = set(invalid.map(sixToFourOf));
  const isInvalid = (v4: number) => invalid.some((p) => covers(p, { addr: v4, len: 32 }));
  // The fast accepts below are only correct while our own address passes every check itself.
  const ownValid = !isInvalid(i.ownIpv4);
  const relays = [...new Set(i.relays.map((r) => r >>> 0))];
  const validRelays = relays.filter((r) => !isInvalid(r)).map(formatIpv4);

  // Inner header offsets (bits) from the transport header of the protocol-41 packet.
  const SRC = 64;
  const DST = 192;
  // The inner destination is our /48, inline (see own48Inline).
  const toOwn48 = own48Inline("@th", DST, i.ownIpv4);
  const innerSrcValid = not2002In(`@th,${SRC},32`, invalid);
  const decap4 = [
    // Fast accepts, first: what passes every check below, in one rule each (most traffic), with
    // inline compares only. A 6to4 peer: valid outer source, a 2002 source with a valid V4ADDR
    // (sit checks that it is the outer source), to our /48. The relay: a global native source
    // (2000::/3) to our /48.
    ...(ownValid && innerSrcValid !== null
      ? [`${notIn32("@nh,96,32", invalid)} ${innerSrcValid} ${toOwn48} accept`]
      : []),
    ...(ownValid && validRelays.length > 0
      ? [
          `ip saddr ${set(validRelays)} @th,${SRC},32 & 0xe0000000 == 0x20000000 ` +
            `@th,${SRC},16 != 0x2002 ${toOwn48} accept`,
        ]
      : []),
    // RFC 3964 §5.2 / §5.3.1: the outer source.
    `ip saddr ${inv4} ${count("ipv4_src_invalid")}`,
    // §5.3.2 on the inner source, then the inner destination.
    `@th,${SRC},16 ${INVALID_HEAD16} ${count("ipv6_src_invalid")}`,
    `@th,${SRC},16 0x2002 @th,${SRC + 16},32 ${invRaw} ${count("ipv6_src_6to4_invalid_ipv4")}`,
    `@th,${DST},16 ${INVALID_HEAD16} ${count("ipv6_dst_invalid")}`,
    `@th,${DST},16 0x2002 @th,${DST + 16},32 ${invRaw} ${count("ipv6_dst_6to4_invalid_ipv4")}`,
    // §5.2: a 2002 destination embeds the outer destination (checked before sit's own check so
    // it is counted by name).
    `@th,${DST},16 0x2002 @th,${DST + 16},32 != ${hex32(i.ownIpv4)} ${count("6to4_dst_mismatch")}`,
    // §5.2 (CPE): a native source only from a relay we use (RFC 3068).
    `@th,${DST},16 0x2002 @th,${SRC},16 != 0x2002 ip saddr != ${set(relays.map(formatIpv4))} ` +
      count("native_src_not_from_relay"),
  ];
  const decap6 = [
    // Everything to our own /48 passes both checks (most traffic); inline, see own48Inline.
    `${own48Inline("@nh", 192, i.ownIpv4)} return`,
    `ip6 saddr != 2002::/16 ip6 daddr != 2002::/16 ${count("native_to_native", NATIVE_IN)}`,
    // Not an open relay: only our own 2002:V4ADDR::/48 (cpe-inbound.ts step 6).
    count("dst_not_own_prefix"),
  ];
  const fromOwn48 = own48Inline("@nh", 64, i.ownIpv4);
  const dst2002Valid = not2002In("@nh,192,32", invalid);
  const encap = [
    // Fast accepts, first: from our /48 (a 2002 source passes every source check when it is
    // ours and ours is valid) to what the destination checks below let pass (most traffic), with
    // inline compares only. A native destination: not in ::/16, fe80::/9, ff00::/8.
    ...(ownValid
      ? [
          `${fromOwn48} @nh,192,16 != 0x2002 @nh,192,16 != 0x0000 ` +
            `@nh,192,32 & 0xff800000 != 0xfe800000 @nh,192,8 != 0xff accept`,
          // To ourselves: the first check below that this packet meets is encap_dst_invalid.
          `${fromOwn48} ${own48Inline("@nh", 192, i.ownIpv4)} ${count("encap_dst_invalid")}`,
          // A 2002 destination (not ours, by the rule above) with a valid V4ADDR.
          ...(dst2002Valid !== null ? [`${fromOwn48} ${dst2002Valid} accept`] : []),
        ]
      : []),
    // The kernel's own link-local control traffic on the sit (MLD reports): never tunnelled.
    `ip6 daddr ff00::/8 @nh,204,4 < 3 ${count("link_scope_multicast")}`,
    `ip6 saddr { ::/16, fe80::/9, ff00::/8 } ${count("ipv6_src_invalid")}`,
    `ip6 saddr ${inv6to4} ${count("ipv6_src_6to4_invalid_ipv4")}`,
    `ip6 daddr { ::/16, fe80::/9, ff00::/8 } ${count("ipv6_dst_invalid")}`,
    `ip6 daddr ${inv6to4} ${count("ipv6_dst_6to4_invalid_ipv4")}`,
    // §5.1: a 2002 source must embed our address.
    `ip6 saddr 2002::/16 ip6 saddr != ${own48} ${count("encap_src_invalid")}`,
    // §5.1: never to ourselves.
    `ip6 daddr ${own48} ${count("encap_dst_invalid")}`,
    `ip6 saddr != 2002::/16 ip6 daddr != 2002::/16 ${count("native_to_native")}`,
    // RFC 6324 §3.3: an off-link source whose ISATAP identifier is our address (RFC 5214 §6.1).
    `ip6 saddr != 2002::/16 ip6 saddr & ::fcff:ffff:ffff:ffff == ::5efe:${isatapTail(i.ownIpv4)} ` +
      count("own_ipv4_embedded"),
  ];
  const counters = (names: readonly string[]): string[] =>
    names.flatMap((n) => [`counter ${n} {`, "}"]);
  const ip = [
    ...counters(IP_DROPS.map((n) => `drop_${n}`)),
    "chain pre {",
    "type filter hook prerouting priority raw; policy accept;",
    `ip protocol 41 ip daddr ${own} jump decap4`,
    "}",
    "chain decap4 {",
    ...decap4,
    "}",
  ];
  const ip6 = [
    ...counters([...IP6_DROPS.map((n) => `drop_${n}`), NATIVE_IN]),
    "chain pre {",
    "type filter hook prerouting priority raw; policy accept;",
    `iifname ${dev} jump decap6`,
    "}",
    "chain decap6 {",
    ...decap6,
    "}",
  ];
  if (i.nat !== null) {
    const p = formatIpv6Prefix(i.nat.provider);
    const s = formatIpv6Prefix(i.nat.sixToFour);
    ip6.push(
      "chain dnat6 {",
      "type nat hook prerouting priority dstnat; policy accept;",
      `iifname ${dev} ip6 daddr ${s} dnat ip6 prefix to ${p}`,
      "}",
      "chain snat6 {",
      "type nat hook postrouting priority srcnat; policy accept;",
      `oifname ${dev} ip6 saddr ${p} snat ip6 prefix to ${s}`,
      "}",
    );
  }
  ip6.push(
    "chain post {",
    "type filter hook postrouting priority srcnat + 10; policy accept;",
    `oifname ${dev} jump encap`,
    "}",
    "chain encap {",
    ...encap,
    "}",
  );
  return { ip, ip6 };
}

/** Drops counted in the `ip` table (decap4) and in the `ip6` table (decap6, encap). */
const IP_DROPS = [
  "ipv4_src_invalid",
  "ipv6_src_invalid",
  "ipv6_src_6to4_invalid_ipv4",
  "ipv6_dst_invalid",
  "ipv6_dst_6to4_invalid_ipv4",
  "6to4_dst_mismatch",
  "native_src_not_from_relay",
] as const;
const IP6_DROPS = [
  "ipv6_src_invalid",
  "ipv6_src_6to4_invalid_ipv4",
  "ipv6_dst_invalid",
  "ipv6_dst_6to4_invalid_ipv4",
  "native_to_native",
  "dst_not_own_prefix",
  "encap_src_invalid",
  "encap_dst_invalid",
  "own_ipv4_embedded",
  "link_scope_multicast",
] as const;

/** The families of our tables (one table `NAME` in each). */
export const KERNEL_FAMILIES = ["ip", "ip6"] as const;

/**
 * The `nft -f` text that replaces our tables in one transaction (created empty first so that the
 * delete never fails on a first start). An `inet` table of our name, as earlier versions made,
 * goes too.
 */
export function kernelRuleset(i: KernelPathInput, table = KERNEL_TABLE): string {
  const bodies = kernelTableBodies(i);
  const indent = (l: string) => (l === "}" || l.endsWith("{") ? "\t" + l : "\t\t" + l);
  const out = ["inet", ...KERNEL_FAMILIES].flatMap((f) => [
    `table ${f} ${table}`,
    `delete table ${f} ${table}`,
  ]);
  for (const f of KERNEL_FAMILIES) {
    out.push(`table ${f} ${table} {`, ...bodies[f].map(indent), "}");
  }
  return out.join("\n") + "\n";
}

/** The `nft -f` text that removes our tables (and nothing else); fails when they are absent. */
export function kernelRulesetRemoval(table = KERNEL_TABLE): string {
  return KERNEL_FAMILIES.map((f) => `table ${f} ${table}\ndelete table ${f} ${table}\n`).join("");
}

/** `ip -6 route replace DEFAULT via ::RELAY dev SIT onlink`: sit takes the IPv4 from the next hop. */
export function sitDefaultRoute(i: KernelPathInput): string[] {
  const route = formatIpv6Prefix(i.defaultRoute);
  return ["-6", "route", "replace", route, "via", `::${formatIpv4(i.relayIpv4)}`].concat([
    "dev",
    i.device,
    "onlink",
  ]);
}

/** `nft` arguments that print every named counter (one command; ours picked by table). */
export const NFT_COUNTERS_ARGV: readonly string[] = ["nft", "-j", "list", "counters"];

/**
 * Counter values by name from `nft -j list counters` (or `list table`) output, summed over our
 * tables (`table`: their name; counters of other tables are left out); {} when unreadable.
 */
export function parseNftCounters(json: string, table?: string): Record<string, number> {
  const out: Record<string, number> = {};
  let doc: unknown;
  try {
    doc = JSON.parse(json);
  } catch {
    return out;
  }
  const items = (doc as { nftables?: unknown[] })?.nftables;
  if (!Array.isArray(items)) return out;
  for (const it of items) {
    const c = (it as { counter?: { name?: unknown; packets?: unknown; table?: unknown } }).counter;
    if (!c || typeof c.name !== "string" || typeof c.packets !== "number") continue;
    if (table !== undefined && c.table !== undefined && c.table !== table) continue;
    out[c.name] = (out[c.name] ?? 0) + c.packets;
  }
  return out;
}

/** What the sit device itself counts (`ip -s -s -j link show dev SIT`). */
export interface SitStats {
  /** Packets decapsulated and delivered. */
  readonly rxPackets: number;
  /** Receive errors: spoofed sources (Linux sit `packet_is_spoofed`) and ECN errors. */
  readonly rxErrors: number;
  /** The ECN part of rxErrors. */
  readonly rxFrameErrors: number;
  /** Packets encapsulated and sent. */
  readonly txPackets: number;
}

/** `ip` arguments that print the sit device's counters as JSON. */
export const sitStatsArgv = (device: string): string[] =>
  ["ip", "-s", "-s", "-j", "link", "show", "dev"].concat([device]);

/** The sit device's counters from `ip -s -s -j link show` output; null when unreadable. */
export function parseSitStats(json: string): SitStats | null {
  try {
    const doc = JSON.parse(json) as {
      stats64?: {
        rx?: { packets?: number; errors?: number; frame_errors?: number };
        tx?: { packets?: number };
      };
    }[];
    const s = doc[0]?.stats64;
    if (!s?.rx || !s.tx) return null;
    return {
      rxPackets: s.rx.packets ?? 0,
      rxErrors: s.rx.errors ?? 0,
      rxFrameErrors: s.rx.frame_errors ?? 0,
      txPackets: s.tx.packets ?? 0,
    };
  } catch {
    return null;
  }
}

/**
 * The kernel path's counters as the userspace path names them: drops under the drop reason names
 * (nft counters), 6to4_src_spoofed from the sit's receive errors (what it refused as spoofed: the
 * errors less the ECN ones), traffic from the sit's own packet counts: out_packets what it sent,
 * in_packets what it delivered less decap6's drops. No rule counts passing packets.
 */
export function kernelCounters(
  raw: Readonly<Record<string, number>>,
  sit: SitStats | null,
): {
  traffic: Record<string, number>;
  drops: Record<string, number>;
} {
  const drops: Record<string, number> = {};
  for (const n of KERNEL_DROP_NAMES) drops[n] = raw[`drop_${n}`] ?? 0;
  drops.native_to_native = (raw.drop_native_to_native ?? 0) + (raw[NATIVE_IN] ?? 0);
  drops["6to4_src_spoofed"] = sit ? Math.max(0, sit.rxErrors - sit.rxFrameErrors) : 0;
  const decap6Drops = (raw[NATIVE_IN] ?? 0) + (raw.drop_dst_not_own_prefix ?? 0);
  return {
    traffic: {
      in_packets: sit ? Math.max(0, sit.rxPackets - decap6Drops) : 0,
      out_packets: sit?.txPackets ?? 0,
    },
    drops,
  };
}
