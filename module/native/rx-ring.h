/*
 * rx-ring.h: the receive ring of one polled fd: the caller's buffers and result arrays, the TUN
 * offload read state, the scratch of recvmmsg, and the counters pollStats reports. The drains
 * (tun-io.c drain_tun, socket-read.c drain_socket) fill it without N-API; poller.c owns one per
 * pollStart and keeps the JavaScript objects behind its arrays referenced.
 */
#ifndef PMT_RX_RING_H
#define PMT_RX_RING_H

#include <stddef.h>
#include <stdint.h>

#include <netinet/in.h>
#include <sys/socket.h>

#include "offload.h"
#include "uring.h"

/* Poll kinds of pollStart (exported to JavaScript as POLL_KIND_*). */
#define POLL_KIND_TUN 0
#define POLL_KIND_RAW4 1
#define POLL_KIND_ICMP6 2
/* AF_PACKET with virtio-net headers (split.c openPacketRx4): protocol 41 as GRO left it */
#define POLL_KIND_PACKET4 3

/* Upper bound on one batch (ring size); the data plane uses 64. */
#define MAX_BATCH 1024

/* ICMPv4 errors about our packets (IP_RECVERR) counted by kind: destination unreachable codes
 * 0..15, then time exceeded codes 0..1, parameter problem, any other ICMP, local errors. */
#define ICMP4_ERR_KINDS 21
extern const char *const icmp4_err_names[ICMP4_ERR_KINDS];

/* Values per error-queue message in the error ring's meta: ICMP type, code, info (the MTU of a
 * fragmentation needed), bytes of the quoted packet in the slot. */
#define ERRQ_META 4

/* Room for IPV6_PKTINFO + IPV6_HOPLIMIT control messages. */
#define ICMP6_CMSG_BYTES (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)))

typedef struct {
  int fd;
  int kind;   /* POLL_KIND_* */
  int max;    /* slots */
  int offset; /* headroom: packets land at bufs[i] + offset */
  uint8_t **bufs;
  size_t *caps;
  int32_t *sizes;
  uint32_t *addrs4; /* raw4: source IPv4 per packet, host order */
  uint8_t *addrs6;  /* icmp6: 16 bytes per packet */
  int32_t *meta;    /* icmp6: [hopLimit, ifindex] per packet */
  /* TUN */
  uring_t *uring;     /* this environment's io_uring (reads when fd >= 0 && enabled && reads) */
  int uring_guess;    /* TUN reads per io_uring_enter next time (drain_tun_uring) */
  tun_offload_t *off; /* TUN opened with offload (vnet headers), else NULL */
  uint8_t *gso_buf;   /* off: the super-packet being cut (GSO_BUF_BYTES) */
  int gso_len, gso_pos, gso_th, gso_hl, gso_mss; /* gso_pos: next payload byte, 0 = none */
  uint8_t *spill;     /* off: spill_bytes per slot, for reads a little longer than a slot */
  size_t spill_bytes;
  /* off: reads not yet turned into packets (FIFO), each in a ring slot above the batch */
  int *q_pos;
  int32_t *q_len;
  vnet_hdr_t *q_hdr;
  int q_head, q_n;
  int recent_super;  /* > 0: a super-packet was read within the last reads (drain_tun_vnet) */
  /* TUN with off: super-packets handed over whole, gso_info[slot] = th << 16 | mss; raw IPv4 and
   * packet4 (optional on raw): a GRO-merged packet's segment payload size (negated where the
   * sender's is lost: complete_gro_6in4), else 0 */
  int32_t *gso_info;
  /* packet4: a virtio-net header and the link header (link_hlen bytes, at most 16) per slot,
   * read into their own iovecs so the IPv4 packet lands at the offset as on a raw socket */
  vnet_hdr_t *vh;
  uint8_t *lhdr;
  int link_hlen;
  /* sockets */
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_in6 *names; /* large enough for sockaddr_in too */
  char *cmsgs;
  /* raw4 with IP_RECVERR and pollErrQueue: error-queue messages land here, eq_max slots of
   * eq_slot bytes (the quoted packet, from its IPv4 header on) and ERRQ_META values each */
  uint8_t *eq_buf;
  size_t eq_slot;
  int32_t *eq_meta;
  int eq_max;
  double icmp4_errs[ICMP4_ERR_KINDS];
  /* counters, read by pollStats */
  double batches, packets, so_errors, errqueue, truncated, restarts, read_errors, wan_gro_merged;
  double wan_gro_unusable;
  int last_so_error;
} rx_ring_t;

/* socket-read.c: up to max datagrams with recvmmsg; returns the count (0 with *err set on a
 * hard error). */
int drain_socket(rx_ring_t *p, int *err);
/* socket-read.c: reads up to eq_max messages (64 without an error ring) from the socket's error
 * queue (IP_RECVERR), counting them by ICMP type and code and, with an error ring, storing each
 * one's quoted packet and meta in its slot. Returns the number read. */
int drain_errqueue(rx_ring_t *p);
/* split.c: link header bytes in front of the network header on an AF_PACKET SOCK_RAW socket's
 * device (Ethernet 14; PPP, raw IP and header-less devices 0); -1 for other link types. */
int packet_link_header_len(int fd);

#endif
