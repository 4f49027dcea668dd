/*
 * offload.h: the packet arithmetic of TUN offload and of 6in4 GRO repair, with no N-API and no
 * syscalls (offload.c), so test programs link it alone (test/native/offload-table.c,
 * test/native/fuzz-native.c).
 *
 * Why offload: the kernel's cost per packet (forwarding, veth, the receiving TCP stack), which
 * Linux runs in the process that writes or sends the packet, dominates our CPU time. A TUN opened
 * with IFF_VNET_HDR carries a struct virtio_net_hdr in front of every packet, which lets whole
 * TCP super-packets (GSO) cross it:
 *   - read: TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO6) lets the kernel hand us a TCP super-packet
 *     (up to 64 KiB, one gso_size per segment) and packets whose TCP/UDP checksum is left to us
 *     (NEEDS_CSUM). A super-packet is handed to TypeScript whole and cut while sending
 *     (gso_send_seg), or cut on read (gso_cut_segment) when it cannot be handed over; checksums
 *     left to us are completed (complete_csum).
 *   - write: consecutive in-order TCP segments of one flow within a batch (same addresses,
 *     ports, ACK, window and options, ACK or ACK|PSH only, equal sizes but the last one) are
 *     written as ONE super-packet, so the kernel forwards and delivers them once (GRO done in
 *     user space, as Linux does for a NIC; gro_group). Each segment's checksum is verified
 *     first: a bad segment is written alone, unchanged, for the receiver to drop.
 * Either way every packet the data plane handles is still counted and checked one by one.
 * Header fields are in native byte order (the legacy virtio header, as the kernel reads it when
 * TUNSETVNETLE/BE are not used), so big-endian routers need no conversion.
 */
#ifndef PMT_OFFLOAD_H
#define PMT_OFFLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

typedef struct {
  uint8_t flags;
  uint8_t gso_type;
  uint16_t hdr_len;
  uint16_t gso_size;
  uint16_t csum_start;
  uint16_t csum_offset;
} vnet_hdr_t;

#define VNET_F_NEEDS_CSUM 1
#define VNET_GSO_NONE 0
#define VNET_GSO_TCPV6 4
#define VNET_GSO_UDP_L4 5
#define VNET_GSO_ECN 0x80

#define TCP_FIN 0x01
#define TCP_PSH 0x08
#define TCP_ACK 0x10
#define TCP_CWR 0x80

/* Packets per chunk of a batched send or TUN write (sendmmsg, one gro_group call). */
#define SEND_CHUNK 64
/* Largest packet a vnet TUN read can return: a 64 KiB super-packet plus headers. */
#define GSO_BUF_BYTES (65536 + 1024)
/* Segments merged into one super-packet at most (the kernel's GRO stops at 64 too). */
#define GRO_MAX_SEGS 64
/* Open coalescing candidates looked at per packet (flows interleaved in one batch). */
#define GRO_LOOKBACK 8

/* Offload state and counters of one TUN opened with offload (tun.c keeps one per fd). */
typedef struct {
  uint8_t vnet;
  uint8_t uso; /* the kernel takes UDP super-packets (VIRTIO_NET_HDR_GSO_UDP_L4, Linux 6.2+) */
  int mtu;     /* the device's MTU as setMtu set it (0: unknown) */
  double oversized_split; /* TCP packets longer than the MTU written as super-packets */
  double super_packets_read, segments_cut, checksums_completed, dropped, super_packets_written, packets_coalesced;
} tun_offload_t;

/* Network-order fields. */
static inline uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static inline uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static inline void wr16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static inline void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* --- checksums (RFC 1071) ------------------------------------------------------------------- */

uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n);
uint16_t csum_fold(uint64_t sum);
uint64_t pseudo6(const uint8_t *ip6, uint32_t len, uint8_t nh);
int complete_csum(uint8_t *pkt, size_t len, const vnet_hdr_t *h);
int udp6_csum_ok(const uint8_t *q, int32_t len);
int tcp6_csum_ok(const uint8_t *q, int32_t len);
int32_t flist_first_len(const uint8_t *q, int32_t ql);

/* --- GRO grouping of a TUN write batch -------------------------------------------------------- */

/* One writev of a TUN write batch: iov[0..niov), carrying `packets` packets. */
typedef struct {
  struct iovec *iov;
  int niov;
  int packets;
} wunit_t;

/* Coalescing state of one unit while a chunk is being grouped. */
typedef struct {
  uint8_t *head;
  int32_t head_len;
  int hl;        /* header bytes (IPv6 + TCP) when a candidate, else 0 */
  int gso;       /* payload bytes of the first segment */
  int total;     /* payload bytes so far */
  int count;     /* packets */
  int open;      /* may take the next segment */
  int verified;  /* the head's checksum was verified */
  int oversized; /* one TCP packet longer than the MTU, written as a super-packet to be cut */
  uint32_t next_seq;
  uint8_t last_flags;
  int first_pkt; /* index of its first packet in the chunk */
} gro_unit_t;

/* Scratch for one chunk of at most SEND_CHUNK packets (kept off the stack: ~12 KiB). */
typedef struct {
  gro_unit_t units[SEND_CHUNK];
  int member_unit[SEND_CHUNK];
  wunit_t w[SEND_CHUNK];
  struct iovec iov[3 * SEND_CHUNK];
  vnet_hdr_t vh[SEND_CHUNK];
  uint8_t hdrs[SEND_CHUNK][128];
} gro_scratch_t;

int gro_group(gro_scratch_t *g, int vnet, int uso, uint8_t **ptrs, const int32_t *lens, int n,
              tun_offload_t *stats);
int gro_group_gso(gro_scratch_t *g, int vnet, int uso, uint8_t **ptrs, const int32_t *lens,
                  const int32_t *gsos, int n, tun_offload_t *stats);

/* --- GSO cutting ------------------------------------------------------------------------------ */

/* IPv6 + extension + TCP header bytes a super-packet may have to be handed over whole. */
#define SEG_HDR_MAX 192
/* Scratch for one cut segment's headers: IPv4 (20) + IPv6 and TCP. */
#define SEG_SCRATCH (20 + SEG_HDR_MAX)
/* IPv4 ID step between the segments of a cut super-packet: 1, so that GRO at the receiver merges
 * them (packet to packet the ID steps by 2: dataplane/outbound-core.ts IPV4_ID_STEP). */
#define IPV4_SEGMENT_ID_STEP 1

/* packet.c: the IPv4 header's ID (when 0 without DF) and checksum, as the raw socket's kernel
 * fills them, for packets sent over AF_PACKET. */
void ip4_header_finish(uint8_t *h);

typedef struct {
  int th, hl, mss, segs;
  uint64_t addr_sum; /* the pseudo-header's addresses, the same in every segment */
  int id_step;       /* IPv4 ID step from one segment to the next (gso_info_ok: IPV4_SEGMENT_ID_STEP) */
} gso_send_t;

int gso_info_ok(const uint8_t *q, int32_t len, int32_t info, gso_send_t *g);
int gso_send_seg(uint8_t *h, const uint8_t *p, int32_t len, const gso_send_t *g, int k);
void gso_cut_segment(uint8_t *d, const uint8_t *src, int th, int hl, int pos, int seg, int last);

/* --- 6in4 packets merged by the receiving NIC's GRO ------------------------------------------- */

int complete_gro_6in4(uint8_t *pkt, int32_t len, int32_t *seg);

#endif
