/**
 * Tunables of the data plane: batch and pool sizes chosen by us, not by any RFC (protocol constants
 * live in codec/constants.ts). As wireguard-go keeps device/constants.go apart from
 * queueconstants_*.go, these numbers may change per platform without touching the protocol code.
 *
 * Memory: the loops preallocate every buffer at start (no allocation per packet). With the values
 * below a daemon reserves 2 * BATCH_SIZE_PACKETS * PACKET_BUFFER_BYTES = 8 MiB of packet buffers,
 * one slab per ring (loops.ts, io/ring.ts), of which only the pages packets land in become
 * resident: one or two per buffer for most, ≈ 0.5 MB per daemon.
 */

/**
 * Packets read or written per batch call (TUN read, raw-socket read, writeBatch). 64, not 32:
 * with TUN offload a batch is also the most segments one super-packet can coalesce. Measured
 * (three interleaved pairs of lab runs, TCP 8 s + UDP64 4 s): 64 gave more TCP throughput
 * (+3-12 %) and less CPU per packet in 14 of 15 paired figures (CPE TCP 3.44-4.56 vs
 * 3.80-4.68 µs, relay TCP 2.49-3.52 vs 2.59-3.81 µs). Equals the native SEND_CHUNK and io_uring
 * ring size, so a batch is one submission.
 */
export const BATCH_SIZE_PACKETS = 64;

/**
 * Bytes reserved in front of every received IPv6 packet so encapsulation writes the 20-byte IPv4
 * header (RFC 4213 §3.5, no options) in place without a copy; reads land at this offset.
 * Note: equals IPV4_MIN_HEADER_BYTES; kept here because it is a buffer-layout choice. The one
 * definition: the io ports take it as the ring's `offset` (io/ports.ts RxRing).
 */
export const HEADROOM_BYTES = 20;

/**
 * Size of one packet buffer: the largest IPv6 packet a TUN with tunnel_mtu 65515 delivers plus the
 * headroom, i.e. the largest IPv4 datagram (65535 bytes).
 */
export const PACKET_BUFFER_BYTES = 65536;

/**
 * Buffers for locally generated ICMPv6 errors (Packet Too Big, RFC 6732 §4.4; Time Exceeded) per
 * batch; each is at most 1280 bytes (RFC 4443 §2.4 (c)).
 */
export const ICMP_ERROR_POOL_BUFFERS = BATCH_SIZE_PACKETS;
export const ICMP_ERROR_BUFFER_BYTES = 1280;

/**
 * ICMPv4 errors about our packets read per batch (io/ports.ts IcmpErrorRing), and the bytes kept
 * of each: 576, all an ICMPv4 error can carry (RFC 1812 §4.3.2.3: at most 576 bytes in all).
 */
export const ICMP4_ERROR_RING_SLOTS = 16;
export const ICMP4_ERROR_SLOT_BYTES = 576;
