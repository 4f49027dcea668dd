/**
 * Protocol constants for the packet codecs: header offsets, protocol numbers, ICMPv6 and Neighbor
 * Discovery types, option types. Each sits with the RFC section that defines it. Tunables (batch
 * sizes, pool sizes, limits chosen by us) live elsewhere (dataplane/tunables.ts).
 */

// ---- IPv4 header (RFC 791 §3.1). Offsets are bytes from the start of the header. ----
export const IPV4_OFF_VER_IHL = 0; // version (4 bits) | IHL in 32-bit words (4 bits)
export const IPV4_OFF_TOS = 1; // DSCP/ECN (RFC 2474, RFC 3168)
export const IPV4_OFF_TOTAL_LEN = 2;
export const IPV4_OFF_ID = 4;
// Flags (3 bits: reserved, DF, MF) | fragment offset (13 bits, 8-byte units).
export const IPV4_OFF_FLAGS_FRAG = 6;
export const IPV4_OFF_TTL = 8;
export const IPV4_OFF_PROTO = 9;
export const IPV4_OFF_CHECKSUM = 10;
export const IPV4_OFF_SRC = 12;
export const IPV4_OFF_DST = 16;
export const IPV4_MIN_HEADER_BYTES = 20; // IHL = 5 (RFC 791 §3.1)
export const IPV4_MAX_HEADER_BYTES = 60; // IHL = 15
export const IPV4_VERSION = 4;
export const IPV4_FLAG_DF = 0x4000; // RFC 791 §3.1, bit 1 of the flags field
export const IPV4_FLAG_MF = 0x2000; // RFC 791 §3.1, bit 2 of the flags field
export const IPV4_FRAG_OFFSET_MASK = 0x1fff; // in 8-byte units
/** TTL for encapsulated packets: RFC 4213 §3.3 leaves it to the implementation; 64 as Linux. */
export const IPV4_DEFAULT_TTL = 64;

// ---- IPv6 header (RFC 8200 §3). ----
export const IPV6_OFF_VER_TC_FLOW = 0; // version (4) | traffic class (8) | flow label (20)
export const IPV6_OFF_PAYLOAD_LEN = 4;
export const IPV6_OFF_NEXT_HEADER = 6;
export const IPV6_OFF_HOP_LIMIT = 7;
export const IPV6_OFF_SRC = 8;
export const IPV6_OFF_DST = 24;
export const IPV6_HEADER_BYTES = 40;
export const IPV6_ADDR_BYTES = 16;
export const IPV6_VERSION = 6;
/** Every IPv6 link carries at least this many bytes in one packet (RFC 8200 §5). */
export const IPV6_MIN_MTU_BYTES = 1280;

// ---- Protocol / Next Header numbers (IANA "Assigned Internet Protocol Numbers"). ----
export const IPPROTO_HOPOPTS = 0; // Hop-by-Hop Options (RFC 8200 §4.3)
export const IPPROTO_TCP = 6;
export const IPPROTO_UDP = 17;
export const IPPROTO_IPV6 = 41; // IPv6 in IPv4, 6to4 (RFC 3056 §5, RFC 4213 §3.5)
export const IPPROTO_ROUTING = 43; // Routing header (RFC 8200 §4.4)
export const IPPROTO_FRAGMENT = 44; // Fragment header (RFC 8200 §4.5)
export const IPPROTO_ICMPV6 = 58; // RFC 4443 §1
export const IPPROTO_DSTOPTS = 60; // Destination Options (RFC 8200 §4.6)

// ---- IPv6 extension headers (RFC 8200 §4). ----
/** Hop-by-Hop, Routing, Destination Options: length in 8-byte units, not counting the first 8. */
export const EXT_OFF_NEXT_HEADER = 0;
export const EXT_OFF_HDR_EXT_LEN = 1;
export const EXT_UNIT_BYTES = 8;
/** Fragment header (RFC 8200 §4.5): fixed 8 bytes. */
export const FRAG_HEADER_BYTES = 8;
export const FRAG_OFF_OFFSET_FLAGS = 2; // fragment offset (13 bits, 8-byte units) | res (2) | M (1)
export const FRAG_OFFSET_MASK = 0xfff8;

// ---- TCP / UDP (RFC 9293 §3.1, RFC 768). ----
export const TCP_OFF_CHECKSUM = 16;
export const TCP_MIN_HEADER_BYTES = 20;
export const UDP_OFF_CHECKSUM = 6;
export const UDP_HEADER_BYTES = 8;

// ---- ICMPv6 (RFC 4443 §2.1). ----
export const ICMPV6_OFF_TYPE = 0;
export const ICMPV6_OFF_CODE = 1;
export const ICMPV6_OFF_CHECKSUM = 2;
export const ICMPV6_OFF_PARAM = 4; // MTU, pointer, or identifier/sequence (32 bits)
export const ICMPV6_HEADER_BYTES = 8; // type, code, checksum, 4-byte parameter / unused
// Error messages (RFC 4443 §3).
export const ICMPV6_DEST_UNREACH = 1; // §3.1
export const ICMPV6_PACKET_TOO_BIG = 2; // §3.2
export const ICMPV6_TIME_EXCEEDED = 3; // §3.3
export const ICMPV6_PARAM_PROBLEM = 4; // §3.4
// Informational messages (RFC 4443 §4).
export const ICMPV6_ECHO_REQUEST = 128; // §4.1
export const ICMPV6_ECHO_REPLY = 129; // §4.2
/** Types below 128 are errors (RFC 4443 §2.1). */
export const ICMPV6_INFO_MIN_TYPE = 128;
// Time Exceeded codes (RFC 4443 §3.3).
export const ICMPV6_TIME_EXCEEDED_HOP_LIMIT = 0;
// Destination Unreachable codes (RFC 4443 §3.1): "address unreachable", the code RFC 4213 §3.4
// gives ICMPv4 errors about tunnel packets (the tunnel is a link to IPv6).
export const ICMPV6_DEST_UNREACH_ADDRESS = 3;

// ---- ICMPv4 errors (RFC 792) reported about our protocol-41 packets (RFC 4213 §3.4). ----
export const ICMPV4_DEST_UNREACH = 3;
export const ICMPV4_FRAG_NEEDED = 4; // code of ICMPV4_DEST_UNREACH (RFC 1191)
export const ICMPV4_TIME_EXCEEDED = 11;
export const ICMPV4_PARAM_PROBLEM = 12;
/** An ICMPv6 error message must not exceed the minimum IPv6 MTU (RFC 4443 §2.4 (c)). */
export const ICMPV6_ERROR_MAX_BYTES = IPV6_MIN_MTU_BYTES;

// ---- Neighbor Discovery (RFC 4861 §4). ----
export const ND_ROUTER_SOLICIT = 133; // §4.1
export const ND_ROUTER_ADVERT = 134; // §4.2
export const ND_NEIGHBOR_SOLICIT = 135; // §4.3
export const ND_NEIGHBOR_ADVERT = 136; // §4.4
/** ND messages are sent and accepted only with hop limit 255 (RFC 4861 §6.1.1, §6.1.2, §7.1). */
export const ND_HOP_LIMIT = 255;
// Fixed part sizes including the 4-byte ICMPv6 type/code/checksum.
export const ND_RS_BYTES = 8; // §4.1: type, code, checksum, reserved
export const ND_RA_BYTES = 16; // §4.2: + cur hop limit, flags, router lifetime, reachable, retrans
export const ND_NS_BYTES = 24; // §4.3: + reserved, target address
export const ND_NA_BYTES = 24; // §4.4: + R/S/O flags, reserved, target address
// RA flags byte (RFC 4861 §4.2, RFC 4191 §2.2 Prf, RFC 5175 H).
export const ND_RA_FLAG_MANAGED = 0x80;
export const ND_RA_FLAG_OTHER = 0x40;
export const ND_RA_FLAG_HOME_AGENT = 0x20; // RFC 6275 §7.1
export const ND_RA_PRF_SHIFT = 3; // RFC 4191 §2.2: bits 3-4 of the flags byte
export const ND_RA_PRF_MASK = 0x18;
// NA flags (RFC 4861 §4.4), top bits of the 32-bit word after the checksum.
export const ND_NA_FLAG_ROUTER = 0x80000000;
export const ND_NA_FLAG_SOLICITED = 0x40000000;
export const ND_NA_FLAG_OVERRIDE = 0x20000000;
// Router preference values (RFC 4191 §2.1): 2-bit signed.
export const ND_PRF_HIGH = 1; // 01
export const ND_PRF_MEDIUM = 0; // 00
export const ND_PRF_LOW = 3; // 11
export const ND_PRF_RESERVED = 2; // 10: treated as medium by receivers (RFC 4191 §2.1)

// ---- Neighbor Discovery options (RFC 4861 §4.6), type and length in 8-byte units. ----
export const ND_OPT_UNIT_BYTES = 8;
export const ND_OPT_SOURCE_LL_ADDR = 1; // §4.6.1
export const ND_OPT_TARGET_LL_ADDR = 2; // §4.6.1
export const ND_OPT_PREFIX_INFO = 3; // §4.6.2
export const ND_OPT_MTU = 5; // §4.6.4
export const ND_OPT_ROUTE_INFO = 24; // RFC 4191 §2.3
export const ND_OPT_RDNSS = 25; // RFC 8106 §5.1
export const ND_OPT_DNSSL = 31; // RFC 8106 §5.2
export const ND_OPT_PREFIX_INFO_BYTES = 32; // RFC 4861 §4.6.2: length 4
export const ND_OPT_MTU_BYTES = 8; // RFC 4861 §4.6.4: length 1
// Prefix Information flags (RFC 4861 §4.6.2).
export const ND_OPT_PI_FLAG_ONLINK = 0x80; // L
export const ND_OPT_PI_FLAG_AUTO = 0x40; // A
/** DNSSL domain names are encoded as in RFC 1035 §3.1, max 255 octets (RFC 8106 §5.2). */
export const DNS_MAX_NAME_BYTES = 255;
export const DNS_MAX_LABEL_BYTES = 63;

// ---- DHCPv4 OPTION_6RD (RFC 5969 §7.1.1). ----
export const DHCP_OPTION_6RD = 212;
/**
 * option-length = 18 + 4 * number of BR addresses: IPv4MaskLen, 6rdPrefixLen, 16-byte 6rdPrefix
 * (RFC 5969 §7.1.1: "22 octets with one BR IPv4 address").
 */
export const DHCP_OPTION_6RD_FIXED_BYTES = 18;
export const DHCP_OPTION_PAD = 0; // RFC 2132 §3.1
export const DHCP_OPTION_END = 255; // RFC 2132 §3.2
/**
 * Hop limit of the ICMPv6 errors we originate. Note: RFC 4443 leaves it to the implementation;
 * 64 is Linux's default (net.ipv6.conf.*.hop_limit).
 */
export const ICMPV6_ERROR_HOP_LIMIT = 64;
