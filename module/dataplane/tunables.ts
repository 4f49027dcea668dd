/**
 * Tunables of the data plane: batch and pool sizes chosen by us, not by any RFC (protocol constants
 * live in codec/constants.ts). As wireguard-go keeps device/constants.go apart from
 * queueconstants_*.go, these numbers may change per platform without touching the protocol code.
 *
 * Memory: the loops preallocate every buffer at start (no allocation per packet). With the values
 * below a CPE holds 2 * BATCH_SIZE_PACKETS * PACKET_BUFFER_BYTES = 4 MiB of packet buffers, which
 * fits a 64 MiB OpenWrt router.
 */

/** Packets read or written per batch call (TUN read, raw-socket read, writeBatch). */
export const BATCH_SIZE_PACKETS = 32;

/**
 * Bytes reserved in front of every received IPv6 packet so encapsulation writes the 20-byte IPv4
 * header (RFC 4213 §3.5, no options) in place without a copy; reads land at this offset.
 * Note: equals IPV4_MIN_HEADER_BYTES; kept here because it is a buffer-layout choice.
 */
export const HEADROOM_BYTES = 20;

/**
 * Size of one packet buffer: the largest IPv6 packet a TUN with tunnel_mtu 65515 delivers plus the
 * headroom, i.e. the largest IPv4 datagram (65535 bytes).
 */
export const PACKET_BUFFER_BYTES = 65536;

/** Buffers in the receive pool of each direction (one batch in flight, one being filled). */
export const RX_POOL_BUFFERS = 2 * BATCH_SIZE_PACKETS;

/**
 * Buffers for locally generated ICMPv6 errors (Packet Too Big, RFC 6732 §4.4; Time Exceeded) per
 * batch; each is at most 1280 bytes (RFC 4443 §2.4 (c)).
 */
export const ICMP_ERROR_POOL_BUFFERS = BATCH_SIZE_PACKETS;
export const ICMP_ERROR_BUFFER_BYTES = 1280;
