/**
 * Every reason the data plane drops a packet, as a small integer so hot-path code counts it in a
 * preallocated Float64Array (`counters[reason]++`) without allocating. Hot-path parsers and policy
 * functions return one of these (DROP_NONE = accept) instead of throwing.
 *
 * Append-only: new reasons go at the end with the next number, and get a name in DROP_REASON_NAMES.
 */
export const DROP_NONE = 0;
// Outer IPv4 (protocol 41) checks.
export const DROP_IPV4_TRUNCATED = 1;
export const DROP_IPV4_BAD_VERSION = 2;
export const DROP_IPV4_BAD_HEADER_LENGTH = 3;
export const DROP_IPV4_BAD_CHECKSUM = 4;
export const DROP_IPV4_LENGTH_MISMATCH = 5;
export const DROP_IPV4_FRAGMENT = 6;
export const DROP_IPV4_NOT_PROTO41 = 7;
export const DROP_IPV4_SRC_INVALID = 8; // RFC 3964 §5.3.1 list
export const DROP_IPV4_DST_NOT_OWN = 9;
// Inner IPv6 checks.
export const DROP_IPV6_TRUNCATED = 10;
export const DROP_IPV6_BAD_VERSION = 11;
export const DROP_IPV6_LENGTH_MISMATCH = 12;
export const DROP_IPV6_SRC_INVALID = 13; // RFC 3964 §5.3.2, RFC 4213 §3.6
export const DROP_IPV6_DST_INVALID = 14;
export const DROP_IPV6_SRC_6TO4_INVALID_IPV4 = 15; // 2002:V4ADDR:: with V4ADDR in the §5.3.1 list
export const DROP_IPV6_DST_6TO4_INVALID_IPV4 = 16;
export const DROP_6TO4_SRC_SPOOFED = 17; // RFC 3964 §5.2: 2002:V4ADDR source != outer IPv4 source
export const DROP_NATIVE_SRC_NOT_FROM_RELAY = 18; // RFC 3964 §5.2: native source from a non-relay
export const DROP_NATIVE_TO_NATIVE = 19; // RFC 3964 §5.2 (relay): neither end is 6to4
export const DROP_OWN_IPV4_EMBEDDED = 20; // RFC 6324 §3.3
export const DROP_DST_NOT_OWN_PREFIX = 21; // no open relay (RFC 5969 §9.2)
export const DROP_FROM_OTHER_RELAY = 22; // RFC 5969 §12
export const DROP_HOP_LIMIT_EXCEEDED = 23; // RFC 4213 §3.3
export const DROP_PACKET_TOO_BIG = 24; // RFC 4213 §3.2
export const DROP_UDP_ZERO_CHECKSUM = 25; // invalid in IPv6 (RFC 8200 §8.1)
export const DROP_EXT_HEADER_TRUNCATED = 26;
export const DROP_ICMPV6_TRUNCATED = 27;
export const DROP_ICMPV6_EMBEDDED_TRUNCATED = 28;
export const DROP_L4_TRUNCATED = 29;
export const DROP_NO_ROUTE = 30;
export const DROP_ENCAP_DST_INVALID = 31; // RFC 3964 §5.1
export const DROP_ENCAP_SRC_INVALID = 32; // RFC 3964 §5.1
export const DROP_TX_ERROR = 33;
export const DROP_NOT_IPV6 = 34; // TUN delivered something that is not IPv6
export const DROP_6TO4_DST_MISMATCH = 35; // RFC 3964 §5.2: 2002:V4ADDR destination != outer IPv4 destination
/**
 * Read from the TUN with a multicast destination of interface or link scope (ff01::, ff02::, and
 * the reserved ff00::): the kernel's own link-local control traffic on the tunnel interface, such
 * as the MLD reports it sends from :: into every new TUN (RFC 3810 §5.2.13). Never tunnelled:
 * 6to4 assumes unicast only (RFC 3056 §6), and RFC 3964 §5.3.2 bars ff00::/8 on the wire.
 * Other multicast from the TUN stays `ipv6_dst_invalid` (CPE) or `no_route` (relay).
 */
export const DROP_LINK_SCOPE_MULTICAST = 36;
/**
 * Relay with `non_customer drop` (RFC 6732 §4.7): protocol 41 from an IPv4 source outside the
 * operator's PMT customer ranges and opt-out list, or a return packet to such a 6to4 site.
 */
export const DROP_NON_CUSTOMER = 37;
/**
 * Relay (RFC 6732 §4.7): a return packet to the provider prefix whose embedded IPv4 address is not
 * a PMT customer; never translated back nor encapsulated to that address.
 */
export const DROP_PROVIDER_DST_NOT_CUSTOMER = 38;

/** Names, indexed by reason; used by counters, status and metrics. */
export const DROP_REASON_NAMES: readonly string[] = [
  "none",
  "ipv4_truncated",
  "ipv4_bad_version",
  "ipv4_bad_header_length",
  "ipv4_bad_checksum",
  "ipv4_length_mismatch",
  "ipv4_fragment",
  "ipv4_not_proto41",
  "ipv4_src_invalid",
  "ipv4_dst_not_own",
  "ipv6_truncated",
  "ipv6_bad_version",
  "ipv6_length_mismatch",
  "ipv6_src_invalid",
  "ipv6_dst_invalid",
  "ipv6_src_6to4_invalid_ipv4",
  "ipv6_dst_6to4_invalid_ipv4",
  "6to4_src_spoofed",
  "native_src_not_from_relay",
  "native_to_native",
  "own_ipv4_embedded",
  "dst_not_own_prefix",
  "from_other_relay",
  "hop_limit_exceeded",
  "packet_too_big",
  "udp_zero_checksum",
  "ext_header_truncated",
  "icmpv6_truncated",
  "icmpv6_embedded_truncated",
  "l4_truncated",
  "no_route",
  "encap_dst_invalid",
  "encap_src_invalid",
  "tx_error",
  "not_ipv6",
  "6to4_dst_mismatch",
  "link_scope_multicast",
  "non_customer",
  "provider_dst_not_customer",
];

export type DropReason = number;
export const DROP_REASON_COUNT = DROP_REASON_NAMES.length;
