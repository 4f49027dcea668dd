/*
 * Header writers shared by the C test harnesses (offload-table.c, fuzz-native.c). Each writes the
 * fixed fields of one header into the caller's buffer and leaves the checksum field zero: the
 * table test computes checksums with its own reference loop, independent of offload.c, and the
 * fuzz harness with the addon's. Addresses, hop limits and ports are the caller's.
 */
#ifndef PMT_TEST_PACKET_UTIL_H
#define PMT_TEST_PACKET_UTIL_H

#include <stdint.h>
#include <string.h>

#include "../../module/native/offload.h"

/* IPv6 header at q: payload length pl, next header nh, hop limit hops, src -> dst, with the
 * source's last byte replaced by flow (the harnesses tell flows apart by it). */
static inline void pkt_ip6(uint8_t *q, uint32_t pl, uint8_t nh, uint8_t hops, const uint8_t src[16],
                           const uint8_t dst[16], uint8_t flow) {
  memset(q, 0, 40);
  q[0] = 0x60;
  wr16(q + 4, pl);
  q[6] = nh;
  q[7] = hops;
  memcpy(q + 8, src, 16);
  memcpy(q + 24, dst, 16);
  q[23] = flow;
}

/* TCP header of thl bytes at t (options zero-filled): ports, sequence and acknowledgement
 * numbers, flags, window; checksum zero. */
static inline void pkt_tcp(uint8_t *t, int thl, uint16_t sport, uint16_t dport, uint32_t seq,
                           uint32_t ack, uint8_t flags, uint16_t window) {
  memset(t, 0, (size_t)thl);
  wr16(t, sport);
  wr16(t + 2, dport);
  wr32(t + 4, seq);
  wr32(t + 8, ack);
  t[12] = (uint8_t)((thl / 4) << 4);
  t[13] = flags;
  wr16(t + 14, window);
}

/* UDP header at u: ports, length ulen (header included); checksum zero. */
static inline void pkt_udp(uint8_t *u, uint16_t sport, uint16_t dport, uint32_t ulen) {
  wr16(u, sport);
  wr16(u + 2, dport);
  wr16(u + 4, ulen);
  u[6] = u[7] = 0;
}

/* IPv4 header (20 bytes, no options) of a protocol-41 packet at p: total length, ID, TTL; no
 * flags, addresses and checksum zero. */
static inline void pkt_ip4_proto41(uint8_t *p, uint32_t total, uint16_t id, uint8_t ttl) {
  memset(p, 0, 20);
  p[0] = 0x45;
  wr16(p + 2, total);
  wr16(p + 4, id);
  p[8] = ttl;
  p[9] = 41;
}

#endif
