/**
 * The CPE's kernel data plane as text: the nft ruleset (one `inet` table of our own) and the `ip`
 * commands of the sit tunnel and its routes, from the same forwarding snapshot the userspace path
 * reads. Pure: no I/O; control/kernel-path.ts runs what this returns.
 *
 * What the kernel does and where each check of the userspace path (cpe-outbound.ts,
 * cpe-inbound.ts, addr/policy.ts) lives in kernel mode:
 *  - sit (`mode sit remote any local V4ADDR ttl 64`) encapsulates: `::/0 via ::RELAY` sends native
 *    destinations to the relay (IPv4-compatible next hop), `2002::/16 dev sit` (direct_6to4) to
 *    the embedded IPv4 (RFC 3056 §5.3). It decapsulates protocol 41 to V4ADDR and itself drops a
 *    2002 source or destination whose V4ADDR is not the outer address (Linux `is_spoofed_6rd`);
 *    hop limit, MTU and Packet Too Big are the kernel's forwarding.
 *  - Chain `decap4` (prerouting, raw priority, before conntrack): protocol 41 to V4ADDR, the
 *    inner IPv6 header read at the transport offset (`@th`, so IPv4 options are skipped):
 *    RFC 3964 §5.2 outer source (§5.3.1), inner sanity (§5.3.2 and the 2002:V4ADDR equivalents),
 *    2002 destination of another V4ADDR, native source from a non-relay. Counts the 2002 sources
 *    it lets through (`sixto4_src_checked`).
 *  - Chain `decap6` (same hook, packets from the sit): counts the 2002 sources sit delivered
 *    (`sixto4_src_decapsulated`; the difference is what sit dropped as spoofed:
 *    `6to4_src_spoofed`), then native to native and a destination outside 2002:V4ADDR::/48
 *    (no open relay, RFC 5969 §9.2).
 *  - Chains `dnat6` / `snat6`: the PMT translation of the mapped /64 only (RFC 6732 §3.3),
 *    `dnat ip6 prefix to` in, `snat ip6 prefix to` out; conntrack keeps the flows (never notrack:
 *    the prefix NAT is skipped without it). Unmapped sources stay plain 6to4.
 *  - Chain `encap` (postrouting after srcnat, into the sit): interface- and link-scope
 *    multicast (the kernel's own MLD; `link_scope_multicast`), RFC 3964 §5.1 on the 2002 form,
 *    RFC 6324 §3.3 on the source (ISATAP identifier with V4ADDR under an off-link prefix).
 * Each drop has a named counter `drop_<reason>` with the reason's name from addr/drop-reason.ts,
 * so status shows the same names in both modes.
 *
 * Applied as one `nft -f` transaction that creates the table (if absent), deletes it and creates
 * it anew: atomic, and nothing outside the table is touched (fw4's `inet fw4` stays as it is).
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
/** 2002 sources decap4 passed to sit, and those sit delivered (their difference: spoofed). */
const CHECKED = "sixto4_src_checked";
const DECAPSULATED = "sixto4_src_decapsulated";
/** The traffic counters of the kernel path (status names, as the userspace path's). */
const OUT = "out_packets";
const IN = "in_packets";

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

/** The RFC 3964 §5.3.1 list split into what allow_ipv4 can re-enable (soft) and what not (hard). */
function invalidIpv4(): { hard: Ipv4Prefix[]; soft: Ipv4Prefix[] } {
  const hard: Ipv4Prefix[] = [];
  const soft: Ipv4Prefix[] = [];
  for (const r of IPV4_SPECIAL_RANGES) {
    if (!r.invalidFor6to4) continue;
    (r.overridable ? soft : hard).push(r.prefix);
  }
  return { hard: minimalPrefixes(hard), soft: minimalPrefixes(soft) };
}

/** Prefixes with those inside another one left out (nft refuses overlapping set elements). */
export function minimalPrefixes(list: readonly Ipv4Prefix[]): Ipv4Prefix[] {
  const norm = list.map((p) => ({ addr: (p.addr & ipv4Mask(p.len)) >>> 0, len: p.len }));
  norm.sort((a, b) => a.len - b.len || a.addr - b.addr);
  const out: Ipv4Prefix[] = [];
  for (const p of norm) {
    if (out.some((q) => q.len <= p.len && (p.addr & ipv4Mask(q.len)) >>> 0 === q.addr)) continue;
    out.push(p);
  }
  return out.sort((a, b) => a.addr - b.addr);
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
const count = (reason: string): string => `counter name "drop_${reason}" drop`;
const quote = (s: string): string => JSON.stringify(s);

/** The last 32 bits of an ISATAP address with `v4`, as two hex groups. */
const isatapTail = (v4: number): string =>
  `${((v4 >>> 16) & 0xffff).toString(16)}:${(v4 & 0xffff).toString(16)}`;

/** 2002:V4ADDR::/48 of `v4`. */
function ownSixToFour(v4: number): string {
  return sixToFourOf({ addr: v4, len: 32 });
}

/**
 * The RFC 3964 §5.3.2 checks of one IPv6 address as rule lines: `raw` reads it at the transport
 * offset `bit` (decap4, inner header), else as `ip6 saddr`/`ip6 daddr`.
 */
function sanityRules(
  where: { raw: number } | { field: "saddr" | "daddr" },
  invalid: string,
  invalidV4: string,
  allow: readonly Ipv4Prefix[],
): string[] {
  const { hard, soft } = invalidIpv4();
  const lines: string[] = [];
  if ("raw" in where) {
    const b = where.raw;
    const v4 = `@th,${b + 16},32`;
    // 0::/16, fe80::/9 (link- and site-local), ff00::/8 (addr/classify.ts isInvalidIpv6).
    lines.push(`@th,${b},16 0x0000 ${count(invalid)}`);
    lines.push(`@th,${b},9 0x1fd ${count(invalid)}`);
    lines.push(`@th,${b},8 0xff ${count(invalid)}`);
    lines.push(`@th,${b},16 0x2002 ${v4} ${set(hard.map(intRange))} ${count(invalidV4)}`);
    const softAllowed = allow.length > 0 ? ` ${v4} != ${set(allow.map(intRange))}` : "";
    lines.push(
      `@th,${b},16 0x2002 ${v4} ${set(soft.map(intRange))}${softAllowed} ${count(invalidV4)}`,
    );
  } else {
    const f = `ip6 ${where.field}`;
    lines.push(`${f} { ::/16, fe80::/9, ff00::/8 } ${count(invalid)}`);
    lines.push(`${f} ${set(hard.map(sixToFourOf))} ${count(invalidV4)}`);
    const softAllowed = allow.length > 0 ? ` ${f} != ${set(allow.map(sixToFourOf))}` : "";
    lines.push(`${f} ${set(soft.map(sixToFourOf))}${softAllowed} ${count(invalidV4)}`);
  }
  return lines;
}

/** The table's body: counters and chains (without the `table` line). */
export function kernelTableBody(i: KernelPathInput): string[] {
  const dev = quote(i.device);
  const own = formatIpv4(i.ownIpv4);
  const own48 = ownSixToFour(i.ownIpv4);
  const allow = minimalPrefixes(i.allowIpv4);
  const { hard, soft } = invalidIpv4();
  const relays = [...new Set(i.relays.map((r) => formatIpv4(r)))];

  // Inner header offsets (bits) from the transport header of the protocol-41 packet.
  const SRC = 64;
  const DST = 192;
  const decap4 = [
    // RFC 3964 §5.2 / §5.3.1: the outer source.
    `ip saddr ${set(hard.map(formatIpv4Prefix))} ${count("ipv4_src_invalid")}`,
    `ip saddr ${set(soft.map(formatIpv4Prefix))}` +
      (allow.length > 0 ? ` ip saddr != ${set(allow.map(formatIpv4Prefix))}` : "") +
      ` ${count("ipv4_src_invalid")}`,
    // §5.3.2 on the inner source, then the inner destination.
    ...sanityRules({ raw: SRC }, "ipv6_src_invalid", "ipv6_src_6to4_invalid_ipv4", allow),
    ...sanityRules({ raw: DST }, "ipv6_dst_invalid", "ipv6_dst_6to4_invalid_ipv4", allow),
    // §5.2: a 2002 destination embeds the outer destination (checked before sit's own check so
    // it is counted by name).
    `@th,${DST},16 0x2002 @th,${DST + 16},32 != ${hex32(i.ownIpv4)} ${count("6to4_dst_mismatch")}`,
    // §5.2 (CPE): a native source only from a relay we use (RFC 3068).
    `@th,${DST},16 0x2002 @th,${SRC},16 != 0x2002 ip saddr != ${set(relays)} ` +
      count("native_src_not_from_relay"),
    `@th,${SRC},16 0x2002 counter name "${CHECKED}"`,
  ];
  const decap6 = [
    `ip6 saddr 2002::/16 counter name "${DECAPSULATED}"`,
    `ip6 saddr != 2002::/16 ip6 daddr != 2002::/16 ${count("native_to_native")}`,
    // Not an open relay: only our own 2002:V4ADDR::/48 (cpe-inbound.ts step 6).
    `ip6 daddr != ${own48} ${count("dst_not_own_prefix")}`,
    `counter name "${IN}"`,
  ];
  const encap = [
    // The kernel's own link-local control traffic on the sit (MLD reports): never tunnelled.
    `ip6 daddr ff00::/8 @nh,204,4 < 3 ${count("link_scope_multicast")}`,
    ...sanityRules({ field: "saddr" }, "ipv6_src_invalid", "ipv6_src_6to4_invalid_ipv4", allow),
    ...sanityRules({ field: "daddr" }, "ipv6_dst_invalid", "ipv6_dst_6to4_invalid_ipv4", allow),
    // §5.1: a 2002 source must embed our address.
    `ip6 saddr 2002::/16 ip6 saddr != ${own48} ${count("encap_src_invalid")}`,
    // §5.1: never to ourselves.
    `ip6 daddr ${own48} ${count("encap_dst_invalid")}`,
    `ip6 saddr != 2002::/16 ip6 daddr != 2002::/16 ${count("native_to_native")}`,
    // RFC 6324 §3.3: an off-link source whose ISATAP identifier is our address (RFC 5214 §6.1).
    `ip6 saddr != 2002::/16 ip6 saddr & ::fcff:ffff:ffff:ffff == ::5efe:${isatapTail(i.ownIpv4)} ` +
      count("own_ipv4_embedded"),
    `counter name "${OUT}"`,
  ];
  const lines: string[] = [];
  for (const n of [...KERNEL_DROP_NAMES.filter((n) => n !== "6to4_src_spoofed")]) {
    lines.push(`counter drop_${n} {`, `}`);
  }
  for (const n of [CHECKED, DECAPSULATED, IN, OUT]) lines.push(`counter ${n} {`, `}`);
  lines.push(
    "chain pre {",
    "type filter hook prerouting priority raw; policy accept;",
    `meta nfproto ipv4 ip daddr ${own} ip protocol 41 jump decap4`,
    `meta nfproto ipv6 iifname ${dev} jump decap6`,
    "}",
    "chain decap4 {",
    ...decap4,
    "}",
    "chain decap6 {",
    ...decap6,
    "}",
  );
  if (i.nat !== null) {
    const p = formatIpv6Prefix(i.nat.provider);
    const s = formatIpv6Prefix(i.nat.sixToFour);
    lines.push(
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
  lines.push(
    "chain post {",
    "type filter hook postrouting priority srcnat + 10; policy accept;",
    `meta nfproto ipv6 oifname ${dev} jump encap`,
    "}",
    "chain encap {",
    ...encap,
    "}",
  );
  return lines;
}

/**
 * The `nft -f` text that replaces our table in one transaction (created empty first so that the
 * delete never fails on a first start).
 */
export function kernelRuleset(i: KernelPathInput, table = KERNEL_TABLE): string {
  const body = kernelTableBody(i).map((l) => (l === "}" || l.endsWith("{") ? l : "\t" + l));
  return [
    `table inet ${table}`,
    `delete table inet ${table}`,
    `table inet ${table} {`,
    ...body.map((l) => "\t" + l),
    "}",
    "",
  ].join("\n");
}

/** The `nft -f` text that removes our table (and nothing else); fails when it is absent. */
export function kernelRulesetRemoval(table = KERNEL_TABLE): string {
  return `table inet ${table}\ndelete table inet ${table}\n`;
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

/** Counter values by name from `nft -j list table inet NAME` output; {} when unreadable. */
export function parseNftCounters(json: string): Record<string, number> {
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
    const c = (it as { counter?: { name?: unknown; packets?: unknown } }).counter;
    if (c && typeof c.name === "string" && typeof c.packets === "number") out[c.name] = c.packets;
  }
  return out;
}

/**
 * The kernel path's counters as the userspace path names them: drops under the drop reason names
 * (6to4_src_spoofed = what decap4 passed with a 2002 source minus what sit delivered), traffic as
 * in_packets / out_packets.
 */
export function kernelCounters(raw: Readonly<Record<string, number>>): {
  traffic: Record<string, number>;
  drops: Record<string, number>;
} {
  const drops: Record<string, number> = {};
  for (const n of KERNEL_DROP_NAMES) drops[n] = raw[`drop_${n}`] ?? 0;
  drops["6to4_src_spoofed"] = Math.max(0, (raw[CHECKED] ?? 0) - (raw[DECAPSULATED] ?? 0));
  return { traffic: { in_packets: raw[IN] ?? 0, out_packets: raw[OUT] ?? 0 }, drops };
}
