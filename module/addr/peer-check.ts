/**
 * Control-plane checks of peer addresses and ranges that are configured or learned, against the
 * RFC 3964 §5.3 policy the data plane enforces per packet (classify.ts, policy.ts): the relay (BR)
 * addresses of DHCPv4 option 212 (RFC 5969 §7.1.1) and of the CPE's `relay` option, a relay's own
 * relay_ipv4, the CPE's health_target and dns, a relay's customer_ipv4 ranges. A value the data
 * plane would drop on every packet (or that cannot be a unicast peer at all) is refused where it
 * enters, with one sentence saying why, instead of a tunnel that silently never works or, for an
 * untrusted DHCP server, sends our traffic to a broadcast, multicast or loopback address.
 *
 * Every check returns null (acceptable) or the reason, `<value> is <class> (<RFC>)`, for the caller
 * to wrap into its ConfigError or DHCP status text. Control plane only (allocates strings).
 */
import {
  classifyIpv6,
  IPV4_SPECIAL_RANGES,
  IPV6_CLASS_RFC,
  ipv4Range,
  isInvalid6to4Ipv4,
  isInvalidIpv6,
  type Ipv4SpecialRange,
} from "./classify.js";
import { formatIpv4, formatIpv4Prefix, ipv4Mask, type Ipv4Prefix } from "./ipv4.js";
import { formatIpv6 } from "./ipv6.js";
import { embeddedIpv4, is6to4 } from "./sixto4.js";

/**
 * At most this many relay (BR) addresses, from option 212 or the `relay` option. The CPE uses the
 * first (RFC 5969 §7.1.1: a CE "MUST support at least one BR IPv4 address and MAY support more");
 * the rest are only accepted as native-IPv6 sources (policy.ts, a linear scan per packet), so a long
 * list buys nothing and costs per-packet work. 8 leaves room for any real anycast/unicast set.
 */
export const MAX_RELAYS = 8;

/**
 * At most this many relay_ipv4 addresses on a relay: every received packet's destination is
 * looked up in the list (relay-inbound.ts, linear), so it stays short.
 */
export const MAX_RELAY_OWN_IPV4 = 16;

/**
 * The special range `n` falls in when no configuration can make it a 6to4 peer: unspecified,
 * loopback, link-local, multicast, reserved, broadcast (RFC 3964 §5.3.1 entries that are not
 * private or shared space). Null for global, private and shared addresses.
 */
export function neverUnicastRange(n: number): Ipv4SpecialRange | null {
  const r = ipv4Range(n >>> 0);
  return r.invalidFor6to4 && !r.overridable ? r : null;
}

const describe = (what: string, r: Ipv4SpecialRange): string => `${what} is ${r.cls} (${r.rfc})`;

/**
 * Why `n` cannot be a 6to4 peer (relay, BR) or our own 6to4 address: it is in the RFC 3964 §5.3.1
 * list and not re-enabled by `allow` (the operator's allow_ipv4 / customer_ipv4, which can only
 * re-enable private and shared space, classify.ts). `allowName` names that option in the reason.
 */
export function ipv4PeerProblem(
  n: number,
  allow: readonly Ipv4Prefix[],
  allowName: string,
): string | null {
  const r = ipv4Range(n >>> 0);
  if (!r.invalidFor6to4 || !isInvalid6to4Ipv4(n >>> 0, allow)) return null;
  const text = describe(formatIpv4(n), r);
  return r.overridable ? `${text} and not inside ${allowName}` : text;
}

/** What `relayListProblem` checks a relay list against. */
export interface RelayListContext {
  /** Our own IPv4 address(es): the CPE's WAN address (learned, leased or wan_ipv4). */
  readonly ownIpv4: readonly number[];
  /** allow_ipv4: private/shared ranges accepted as 6to4 peers. */
  readonly allowIpv4: readonly Ipv4Prefix[];
  /** The option that holds `allowIpv4`, for the reason. */
  readonly allowName: string;
}

/**
 * Why a relay (BR) list is not acceptable: more than MAX_RELAYS addresses, or one that fails
 * `ipv4PeerProblem`, or one of our own addresses (we would tunnel to ourselves, RFC 3964 §5.1
 * "dst_v4 SHOULD NOT be assigned to the router"). The first problem only. Null when acceptable.
 */
export function relayListProblem(relays: readonly number[], ctx: RelayListContext): string | null {
  if (relays.length > MAX_RELAYS) {
    return `${relays.length} relay addresses, more than ${MAX_RELAYS}`;
  }
  for (const a of relays) {
    const p = ipv4PeerProblem(a, ctx.allowIpv4, ctx.allowName);
    if (p !== null) return p;
    if (ctx.ownIpv4.some((o) => o >>> 0 === a >>> 0)) {
      return `${formatIpv4(a)} is this CPE's own WAN address`;
    }
  }
  return null;
}

/**
 * Why the IPv6 address `addr` cannot be a 6to4 peer (the health probe's target, which goes through
 * the tunnel): RFC 3964 §5.3.2 (0::/16, fe80::/10, fec0::/10, ff00::/8) or a 2002:V4ADDR:: whose
 * V4ADDR fails `ipv4PeerProblem`. Null when acceptable.
 */
export function ipv6PeerProblem(
  addr: Uint8Array,
  allow: readonly Ipv4Prefix[],
  allowName: string,
): string | null {
  const text = formatIpv6(addr);
  if (isInvalidIpv6(addr, 0)) {
    const cls = classifyIpv6(addr, 0);
    return `${text} is ${cls} (${IPV6_CLASS_RFC[cls]})`;
  }
  if (is6to4(addr, 0)) {
    const p = ipv4PeerProblem(embeddedIpv4(addr, 0), allow, allowName);
    if (p !== null) return `${text} embeds ${p}`;
  }
  return null;
}

/**
 * Why the IPv6 address `addr` cannot be a unicast server address (RDNSS, RFC 8106 §5.1): the
 * unspecified address, loopback or multicast. Link-local is accepted (RFC 8106 allows it).
 */
export function ipv6UnicastProblem(addr: Uint8Array): string | null {
  const cls = classifyIpv6(addr, 0);
  if (cls === "unspecified" || cls === "loopback" || cls === "multicast") {
    return `${formatIpv6(addr)} is ${cls} (${IPV6_CLASS_RFC[cls]})`;
  }
  return null;
}

/** The never-unicast ranges, widest first (a reason names 240.0.0.0/4 before 255.255.255.255/32). */
const NEVER_UNICAST_WIDEST_FIRST = IPV4_SPECIAL_RANGES.filter(
  (r) => r.invalidFor6to4 && !r.overridable,
).sort((a, b) => a.prefix.len - b.prefix.len);

/**
 * Why `p` cannot be a range of customer (CPE) IPv4 addresses: it overlaps a range no unicast 6to4
 * peer can be in (`neverUnicastRange`: 0.0.0.0/8, 127.0.0.0/8, 169.254.0.0/16, 224.0.0.0/4,
 * 240.0.0.0/4), e.g. 0.0.0.0/0 or 128.0.0.0/1. Null when acceptable.
 */
export function customerRangeProblem(p: Ipv4Prefix): string | null {
  for (const r of NEVER_UNICAST_WIDEST_FIRST) {
    const len = Math.min(p.len, r.prefix.len);
    const mask = ipv4Mask(len);
    if ((p.addr & mask) >>> 0 !== (r.prefix.addr & mask) >>> 0) continue;
    const what = formatIpv4Prefix(p);
    const where = `${formatIpv4Prefix(r.prefix)}, ${r.cls} (${r.rfc})`;
    return `${what} overlaps ${where}`;
  }
  return null;
}
