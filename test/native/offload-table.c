/*
 * Table tests of the addon's offload arithmetic (module/native/offload.c, linked alone: it has
 * no N-API): exact input -> expected output, as wireguard-go's tun/offload_linux_test.go.
 * test/unit/native/offload-table.test.ts compiles and runs it, one node subtest per case.
 *
 * Inputs are built here from fixed fields (documentation addresses 2001:db8::/32, 192.0.2.0/24,
 * 198.51.100.0/24); a packet's own checksum is computed by ref_csum, a plain RFC 1071 loop
 * independent of csum_add. Expected values are literals worked out apart from this code (by
 * hand for the RFC examples, the rest with a separate script at authoring time).
 *
 * Usage: offload-table           runs every case, prints "ok <name>" or "not ok <name>: why"
 *        offload-table --list    prints the case names
 * Exit status 1 when a case failed.
 */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../module/native/offload.h"
#include "packet-util.h"

/* --- checking ----------------------------------------------------------------------------------- */

static char why[512];

#define EXPECT(cond, ...)                                                       \
  do {                                                                          \
    if (!(cond)) {                                                              \
      int at = snprintf(why, sizeof why, "%s:%d: %s: ", __FILE__, __LINE__, #cond); \
      snprintf(why + at, sizeof why - (size_t)at, __VA_ARGS__);                 \
      return 0;                                                                 \
    }                                                                           \
  } while (0)

/* A 16-bit value csum_fold returned, as it lands in a packet (network order). */
static unsigned folded(uint64_t sum) {
  uint16_t f = csum_fold(sum);
  uint8_t b[2];
  memcpy(b, &f, 2);
  return rd16(b);
}

/* --- building inputs ---------------------------------------------------------------------------- */

static const uint8_t SRC6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};
static const uint8_t DST6[16] = {0x20, 0x01, 0x0d, 0xb8, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2};

/* RFC 1071 over big-endian 16-bit words (odd tail padded with zero), added to sum; folded. */
static uint16_t ref_fold(const uint8_t *p, size_t n, uint32_t sum) {
  for (size_t i = 0; i + 1 < n; i += 2) sum += (uint32_t)(p[i] << 8 | p[i + 1]);
  if (n & 1) sum += (uint32_t)p[n - 1] << 8;
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* IPv6 pseudo-header sum (unfolded) of an upper-layer packet of len bytes, protocol nh. */
static uint32_t ref_pseudo(const uint8_t *ip6, uint32_t len, uint8_t nh) {
  uint32_t s = ref_fold(ip6 + 8, 32, 0);
  return s + (len >> 16) + (len & 0xffff) + nh;
}

/* IPv6 header: payload length pl, next header nh, hop limit 64, SRC6 (last byte + flow) -> DST6. */
static void ip6(uint8_t *q, uint32_t pl, uint8_t nh, int flow) {
  pkt_ip6(q, pl, nh, 64, SRC6, DST6, (uint8_t)(2 + flow));
}

/* Payload byte at TCP sequence number s: a segment cut from a super-packet equals the segment
 * built directly with the same sequence number. */
static uint8_t stream_byte(uint32_t s) { return (uint8_t)(s * 7 + 3); }

/* IPv6 + TCP (20-byte header, ports 41000 -> 5201, ack 77, window 500) with pay payload bytes
 * and a valid checksum. Returns the packet's length. */
static int32_t tcp6(uint8_t *q, int flow, uint32_t seq, uint8_t flags, int pay) {
  ip6(q, (uint32_t)(20 + pay), 6, flow);
  uint8_t *t = q + 40;
  pkt_tcp(t, 20, 41000, 5201, seq, 77, flags, 500);
  for (int i = 0; i < pay; i++) t[20 + i] = stream_byte(seq + (uint32_t)i);
  uint32_t tl = (uint32_t)(20 + pay);
  wr16(t + 16, (uint16_t)~ref_fold(t, tl, ref_pseudo(q, tl, 6)));
  return (int32_t)(40 + tl);
}

/* IPv6 + UDP (ports 5353 -> 443) with pay payload bytes (byte i = seed + 5 i), valid checksum. */
static int32_t udp6(uint8_t *q, int flow, uint8_t seed, int pay) {
  ip6(q, (uint32_t)(8 + pay), 17, flow);
  uint8_t *u = q + 40;
  pkt_udp(u, 5353, 443, (uint32_t)(8 + pay));
  for (int i = 0; i < pay; i++) u[8 + i] = (uint8_t)(seed + 5 * i);
  uint32_t ul = (uint32_t)(8 + pay);
  uint16_t c = (uint16_t)~ref_fold(u, ul, ref_pseudo(q, ul, 17));
  wr16(u + 6, c == 0 ? 0xffff : c);
  return (int32_t)(40 + ul);
}

/* IPv4 header of a protocol-41 packet: total length, ID, DF, TTL 64, 192.0.2.1 -> 198.51.100.1,
 * valid checksum. */
static void ip4(uint8_t *p, uint32_t total, uint16_t id) {
  static const uint8_t src[4] = {192, 0, 2, 1}, dst[4] = {198, 51, 100, 1};
  pkt_ip4_proto41(p, total, id, 64);
  p[6] = 0x40; /* DF */
  memcpy(p + 12, src, 4);
  memcpy(p + 16, dst, 4);
  wr16(p + 10, (uint16_t)~ref_fold(p, 20, 0));
}

/* --- checksums ---------------------------------------------------------------------------------- */

static int rfc1071_example(void) {
  /* RFC 1071 §3: the words 0001 f203 f4f5 f6f7 sum to ddf2. */
  static const uint8_t b[8] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
  unsigned got = folded(csum_add(0, b, 8));
  EXPECT(got == 0xddf2, "sum %#06x", got);
  return 1;
}

static int odd_length_pads_with_zero(void) {
  static const uint8_t b[3] = {0x01, 0x02, 0x03}; /* 0102 + 0300 */
  unsigned got = folded(csum_add(0, b, 3));
  EXPECT(got == 0x0402, "sum %#06x", got);
  return 1;
}

static int end_around_carry(void) {
  static const uint8_t b[4] = {0xff, 0xff, 0x00, 0x01}; /* ffff + 0001 = 1 0000 -> 0001 */
  unsigned got = folded(csum_add(0, b, 4));
  EXPECT(got == 0x0001, "sum %#06x", got);
  return 1;
}

static int long_runs_and_tails(void) {
  /* 37 bytes 0x01..0x25: the 16-byte loop twice, a 4-byte word, the odd byte. */
  uint8_t b[37];
  for (int i = 0; i < 37; i++) b[i] = (uint8_t)(i + 1);
  unsigned got = folded(csum_add(0, b, 37));
  EXPECT(got == 0x6a57, "sum %#06x", got);
  /* and from an odd running sum in pieces (each piece starting at an even offset) */
  got = folded(csum_add(csum_add(csum_add(0, b, 16), b + 16, 6), b + 22, 15));
  EXPECT(got == 0x6a57, "sum in pieces %#06x", got);
  return 1;
}

static int rfc1624_example(void) {
  /* RFC 1624 §4: HC 0xdd2f, field m 0x5555 changed to m' 0x3285. Eqn 3, HC' = ~(~HC + ~m + m'),
   * gives 0x0000; eqn 2 would give the -0 0xffff. */
  static const uint8_t words[6] = {0x22, 0xd0, 0xaa, 0xaa, 0x32, 0x85}; /* ~HC, ~m, m' */
  unsigned got = ~folded(csum_add(0, words, 6)) & 0xffff;
  EXPECT(got == 0x0000, "HC' %#06x", got);
  return 1;
}

static int rfc1624_ttl_decrement(void) {
  /* An IPv4 header's TTL 64 -> 63: the incremental update (eqn 3) equals recomputing it. */
  uint8_t h[20];
  ip4(h, 1280, 0x1234);
  unsigned hc = rd16(h + 10);
  EXPECT(hc == 0x376b, "header checksum %#06x", hc);
  unsigned m = rd16(h + 8);
  h[8] = 63;
  unsigned m2 = rd16(h + 8);
  uint8_t words[6];
  wr16(words, ~hc & 0xffff);
  wr16(words + 2, ~m & 0xffff);
  wr16(words + 4, m2);
  unsigned incremental = ~folded(csum_add(0, words, 6)) & 0xffff;
  h[10] = h[11] = 0;
  unsigned full = ~folded(csum_add(0, h, 20)) & 0xffff;
  EXPECT(incremental == 0x386b, "incremental %#06x", incremental);
  EXPECT(full == 0x386b, "recomputed %#06x", full);
  return 1;
}

static int pseudo_header_sum(void) {
  uint8_t q[200];
  int32_t len = tcp6(q, 0, 1000, TCP_ACK, 100);
  unsigned got = folded(pseudo6(q, (uint32_t)len - 40, 6));
  EXPECT(got == 0x5bf7, "pseudo-header sum %#06x", got);
  return 1;
}

static int tcp_checksum_verifies(void) {
  uint8_t q[200];
  int32_t len = tcp6(q, 0, 1000, TCP_ACK, 100);
  EXPECT(rd16(q + 56) == 0xbb18, "built checksum %#06x", rd16(q + 56));
  EXPECT(tcp6_csum_ok(q, len), "a valid segment does not verify");
  q[len - 1] ^= 0x01;
  EXPECT(!tcp6_csum_ok(q, len), "a changed payload bit verifies");
  return 1;
}

static int udp_checksum_verifies(void) {
  uint8_t q[200];
  int32_t len = udp6(q, 0, 9, 40);
  EXPECT(rd16(q + 46) == 0x64e5, "built checksum %#06x", rd16(q + 46));
  EXPECT(udp6_csum_ok(q, len), "a valid datagram does not verify");
  q[50] ^= 0x80;
  EXPECT(!udp6_csum_ok(q, len), "a changed payload bit verifies");
  return 1;
}

static int complete_csum_tcp(void) {
  /* NEEDS_CSUM as the kernel hands it over: the field holds the pseudo-header sum. */
  uint8_t q[200];
  int32_t len = tcp6(q, 0, 1000, TCP_ACK, 100);
  wr16(q + 56, 0x5bf7);
  vnet_hdr_t h = {VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, 40, 16};
  EXPECT(complete_csum(q, (size_t)len, &h) == 1, "refused");
  EXPECT(rd16(q + 56) == 0xbb18, "checksum %#06x", rd16(q + 56));
  return 1;
}

static int complete_csum_udp_zero_is_ffff(void) {
  /* A datagram whose checksum computes to 0 carries 0xffff (RFC 768; 0 means none). The payload's
   * last two bytes are chosen so that the sum is 0xffff. */
  uint8_t q[200];
  int32_t len = udp6(q, 0, 9, 40);
  wr16(q + len - 2, 0x2cb2);
  wr16(q + 46, 0x5bba);
  vnet_hdr_t h = {VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, 40, 6};
  EXPECT(complete_csum(q, (size_t)len, &h) == 1, "refused");
  EXPECT(rd16(q + 46) == 0xffff, "checksum %#06x", rd16(q + 46));
  EXPECT(udp6_csum_ok(q, len), "does not verify");
  return 1;
}

static int complete_csum_refuses_bad_offsets(void) {
  uint8_t q[200], before[200];
  int32_t len = tcp6(q, 0, 1000, TCP_ACK, 100);
  memcpy(before, q, (size_t)len);
  static const vnet_hdr_t bad[] = {
      {VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, 160, 0},  /* csum_start at the end */
      {VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, 40, 119}, /* field past the end */
      {VNET_F_NEEDS_CSUM, VNET_GSO_NONE, 0, 0, 41, 16},  /* odd csum_start */
  };
  for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
    EXPECT(complete_csum(q, (size_t)len, &bad[i]) == 0, "offsets %zu accepted", i);
    EXPECT(memcmp(q, before, (size_t)len) == 0, "offsets %zu changed the packet", i);
  }
  return 1;
}

/* --- GRO grouping ------------------------------------------------------------------------------- */

static gro_scratch_t g;
static uint8_t pk[SEND_CHUNK][1600];
static uint8_t *ptrs[SEND_CHUNK];
static int32_t lens[SEND_CHUNK];

/* Units as "packets,packets,..." for one-line comparisons. */
static const char *shape(int nu) {
  static char s[256];
  int at = 0;
  for (int u = 0; u < nu && at < (int)sizeof s - 8; u++)
    at += snprintf(s + at, sizeof s - (size_t)at, u ? ",%d" : "%d", g.w[u].packets);
  s[at] = 0;
  return s;
}

static const vnet_hdr_t *unit_vnet(int u) { return (const vnet_hdr_t *)g.w[u].iov[0].iov_base; }

static int gro_one_flow_in_order(void) {
  /* 7 x 100 bytes then 50 with PSH, sequence numbers following on: one super-packet. */
  int n = 0;
  for (int i = 0; i < 8; i++) {
    ptrs[n] = pk[n];
    lens[n] = tcp6(pk[n], 0, 1000 + 100 * (uint32_t)i, i == 7 ? TCP_ACK | TCP_PSH : TCP_ACK,
                   i == 7 ? 50 : 100);
    n++;
  }
  tun_offload_t st = {.vnet = 1};
  int nu = gro_group(&g, 1, 0, ptrs, lens, n, &st);
  EXPECT(nu == 1 && g.w[0].packets == 8, "units %s", shape(nu));
  const vnet_hdr_t *v = unit_vnet(0);
  EXPECT(v->flags == VNET_F_NEEDS_CSUM && v->gso_type == VNET_GSO_TCPV6 && v->hdr_len == 60 &&
             v->gso_size == 100 && v->csum_start == 40 && v->csum_offset == 16,
         "vnet %u %u %u %u %u %u", v->flags, v->gso_type, v->hdr_len, v->gso_size, v->csum_start,
         v->csum_offset);
  EXPECT(g.w[0].niov == 10, "%d iovecs", g.w[0].niov);
  const uint8_t *h = g.w[0].iov[1].iov_base;
  EXPECT(g.w[0].iov[1].iov_len == 60, "header copy of %zu bytes", g.w[0].iov[1].iov_len);
  EXPECT(rd16(h + 4) == 770, "IPv6 payload length %u", rd16(h + 4));
  EXPECT(rd32(h + 44) == 1000, "sequence number %u", rd32(h + 44));
  EXPECT(h[53] == (TCP_ACK | TCP_PSH), "flags %#x (the last segment's)", h[53]);
  EXPECT(rd16(h + 56) == 0x5e81, "checksum field %#06x (pseudo-header sum)", rd16(h + 56));
  for (int i = 0; i < 8; i++) {
    EXPECT(g.w[0].iov[2 + i].iov_base == pk[i] + 60, "payload %d not in place", i);
    EXPECT(g.w[0].iov[2 + i].iov_len == (size_t)(i == 7 ? 50 : 100), "payload %d: %zu bytes", i,
           g.w[0].iov[2 + i].iov_len);
  }
  EXPECT(st.super_packets_written == 1 && st.packets_coalesced == 8 && st.oversized_split == 0, "counters %g %g %g",
         st.super_packets_written, st.packets_coalesced, st.oversized_split);
  return 1;
}

static int gro_sequence_gap_starts_a_unit(void) {
  static const uint32_t seqs[] = {1000, 1100, 1300};
  for (int i = 0; i < 3; i++) {
    ptrs[i] = pk[i];
    lens[i] = tcp6(pk[i], 0, seqs[i], TCP_ACK, 100);
  }
  int nu = gro_group(&g, 1, 0, ptrs, lens, 3, NULL);
  EXPECT(nu == 2 && strcmp(shape(nu), "2,1") == 0, "units %s", shape(nu));
  EXPECT(g.w[1].iov[1].iov_base == pk[2], "second unit is not the third packet, alone");
  return 1;
}

static int gro_interleaved_flows(void) {
  /* A1 B1 A2 B2: a unit per flow, each flow's payloads in order. */
  for (int i = 0; i < 4; i++) {
    ptrs[i] = pk[i];
    lens[i] = tcp6(pk[i], i & 1, 1000 + 100 * (uint32_t)(i / 2), TCP_ACK, 100);
  }
  int nu = gro_group(&g, 1, 0, ptrs, lens, 4, NULL);
  EXPECT(nu == 2 && strcmp(shape(nu), "2,2") == 0, "units %s", shape(nu));
  EXPECT(g.w[0].iov[2].iov_base == pk[0] + 60 && g.w[0].iov[3].iov_base == pk[2] + 60,
         "flow A out of order");
  EXPECT(g.w[1].iov[2].iov_base == pk[1] + 60 && g.w[1].iov[3].iov_base == pk[3] + 60,
         "flow B out of order");
  return 1;
}

static int gro_bad_checksum_alone(void) {
  /* The second segment's checksum is wrong: it goes alone and unchanged, and the third cannot
   * join it (its head does not verify) nor the first (that would reorder the flow). */
  for (int i = 0; i < 3; i++) {
    ptrs[i] = pk[i];
    lens[i] = tcp6(pk[i], 0, 1000 + 100 * (uint32_t)i, TCP_ACK, 100);
  }
  pk[1][100] ^= 0x40;
  int nu = gro_group(&g, 1, 0, ptrs, lens, 3, NULL);
  EXPECT(nu == 3 && strcmp(shape(nu), "1,1,1") == 0, "units %s", shape(nu));
  EXPECT(g.w[1].niov == 2 && unit_vnet(1)->gso_type == VNET_GSO_NONE &&
             g.w[1].iov[1].iov_base == pk[1] && g.w[1].iov[1].iov_len == 160,
         "the bad segment is not written alone and whole");
  return 1;
}

static int gro_fin_not_coalesced(void) {
  for (int i = 0; i < 3; i++) {
    ptrs[i] = pk[i];
    lens[i] = tcp6(pk[i], 0, 1000 + 100 * (uint32_t)i, i == 2 ? TCP_ACK | TCP_FIN : TCP_ACK, 100);
  }
  int nu = gro_group(&g, 1, 0, ptrs, lens, 3, NULL);
  EXPECT(nu == 2 && strcmp(shape(nu), "2,1") == 0, "units %s", shape(nu));
  return 1;
}

static int gro_longer_segment_ends_unit(void) {
  /* 100, then 200 (longer than the unit's segment size: a new unit), then 200 joins that. */
  static const int pay[] = {100, 200, 200};
  uint32_t seq = 1000;
  for (int i = 0; i < 3; i++) {
    ptrs[i] = pk[i];
    lens[i] = tcp6(pk[i], 0, seq, TCP_ACK, pay[i]);
    seq += (uint32_t)pay[i];
  }
  int nu = gro_group(&g, 1, 0, ptrs, lens, 3, NULL);
  EXPECT(nu == 2 && strcmp(shape(nu), "1,2") == 0, "units %s", shape(nu));
  EXPECT(unit_vnet(1)->gso_size == 200, "gso_size %u", unit_vnet(1)->gso_size);
  return 1;
}

static int gro_udp_only_with_uso(void) {
  for (int i = 0; i < 3; i++) {
    ptrs[i] = pk[i];
    lens[i] = udp6(pk[i], 0, (uint8_t)(9 + i), 40);
  }
  int nu = gro_group(&g, 1, 0, ptrs, lens, 3, NULL);
  EXPECT(nu == 3 && strcmp(shape(nu), "1,1,1") == 0, "without USO: units %s", shape(nu));
  nu = gro_group(&g, 1, 1, ptrs, lens, 3, NULL);
  EXPECT(nu == 1 && g.w[0].packets == 3, "with USO: units %s", shape(nu));
  const vnet_hdr_t *v = unit_vnet(0);
  EXPECT(v->gso_type == VNET_GSO_UDP_L4 && v->hdr_len == 48 && v->gso_size == 40 &&
             v->csum_offset == 6,
         "vnet type %u hdr_len %u gso_size %u csum_offset %u", v->gso_type, v->hdr_len,
         v->gso_size, v->csum_offset);
  const uint8_t *h = g.w[0].iov[1].iov_base;
  EXPECT(rd16(h + 4) == 128 && rd16(h + 44) == 128, "lengths %u (IPv6) %u (UDP)", rd16(h + 4),
         rd16(h + 44));
  EXPECT(rd16(h + 46) == 0x5c0a, "checksum field %#06x", rd16(h + 46));
  return 1;
}

static int gro_without_vnet(void) {
  for (int i = 0; i < 3; i++) {
    ptrs[i] = pk[i];
    lens[i] = tcp6(pk[i], 0, 1000 + 100 * (uint32_t)i, TCP_ACK, 100);
  }
  int nu = gro_group(&g, 0, 0, ptrs, lens, 3, NULL);
  EXPECT(nu == 3 && strcmp(shape(nu), "1,1,1") == 0, "units %s", shape(nu));
  for (int u = 0; u < 3; u++)
    EXPECT(g.w[u].niov == 1 && g.w[u].iov[0].iov_base == pk[u] && g.w[u].iov[0].iov_len == 160,
           "unit %d is not the packet alone", u);
  return 1;
}

static int gro_oversized_cut_at_1280(void) {
  /* A TCP packet of 1560 bytes on a TUN of MTU 1500 whose checksum verifies (plain GRO merged
   * it on the WAN): written as a super-packet cut at the IPv6 minimum MTU. */
  ptrs[0] = pk[0];
  lens[0] = tcp6(pk[0], 0, 5000, TCP_ACK, 1500);
  tun_offload_t st = {.vnet = 1, .mtu = 1500};
  int nu = gro_group(&g, 1, 0, ptrs, lens, 1, &st);
  EXPECT(nu == 1 && g.w[0].packets == 1, "units %s", shape(nu));
  const vnet_hdr_t *v = unit_vnet(0);
  EXPECT(v->gso_type == VNET_GSO_TCPV6 && v->gso_size == 1220 && v->hdr_len == 60,
         "vnet type %u gso_size %u hdr_len %u", v->gso_type, v->gso_size, v->hdr_len);
  EXPECT(st.oversized_split == 1 && st.super_packets_written == 0, "counters oversized %g super_packets_written %g",
         st.oversized_split, st.super_packets_written);
  /* the same packet on a TUN whose MTU is unknown: left alone */
  st.mtu = 0;
  nu = gro_group(&g, 1, 0, ptrs, lens, 1, &st);
  EXPECT(nu == 1 && unit_vnet(0)->gso_type == VNET_GSO_NONE, "cut without an MTU");
  return 1;
}

static int gro_merged_cut_at_given_size(void) {
  /* A packet GRO merged from 1400-byte segments whose reader was told so (AF_PACKET's virtio-net
   * header): cut at 1400, not 1220; the same with a segment size over the MTU is cut at the
   * MTU; one that is no longer than its segment size stays a plain packet. */
  static int32_t gsos[2];
  ptrs[0] = pk[0];
  lens[0] = tcp6(pk[0], 0, 9000, TCP_ACK, 1400 * 3);
  ptrs[1] = pk[1];
  lens[1] = tcp6(pk[1], 0, 70000, TCP_ACK, 900);
  gsos[0] = 1400;
  gsos[1] = 1400;
  tun_offload_t st = {.vnet = 1, .mtu = 1500};
  int nu = gro_group_gso(&g, 1, 0, ptrs, lens, gsos, 2, &st);
  EXPECT(nu == 2 && g.w[0].packets == 1 && g.w[1].packets == 1, "units %s", shape(nu));
  const vnet_hdr_t *v = unit_vnet(0);
  EXPECT(v->gso_type == VNET_GSO_TCPV6 && v->gso_size == 1400 && v->hdr_len == 60 &&
             v->flags == VNET_F_NEEDS_CSUM,
         "vnet type %u gso_size %u hdr_len %u", v->gso_type, v->gso_size, v->hdr_len);
  EXPECT(unit_vnet(1)->gso_type == VNET_GSO_NONE, "the short one was cut");
  EXPECT(st.oversized_split == 1, "oversized %g", st.oversized_split);
  gsos[0] = 1460;
  st.mtu = 1400;
  nu = gro_group_gso(&g, 1, 0, ptrs, lens, gsos, 1, &st);
  EXPECT(nu == 1 && unit_vnet(0)->gso_size == 1400 - 60, "gso_size %u at MTU 1400",
         unit_vnet(0)->gso_size);
  return 1;
}

static int gro_merged_udp_needs_uso(void) {
  /* UDP merged from datagrams of 500 bytes: a UDP super-packet cut at 500 on a TUN that takes
   * them (uso), left alone (the caller drops it, write_tun) on one that does not. */
  static int32_t gsos[1] = {500};
  ptrs[0] = pk[0];
  lens[0] = udp6(pk[0], 0, 3, 500 * 3);
  tun_offload_t st = {.vnet = 1, .mtu = 1500, .uso = 1};
  int nu = gro_group_gso(&g, 1, 1, ptrs, lens, gsos, 1, &st);
  const vnet_hdr_t *v = unit_vnet(0);
  EXPECT(nu == 1 && v->gso_type == VNET_GSO_UDP_L4 && v->gso_size == 500 && v->hdr_len == 48 &&
             v->csum_offset == 6,
         "vnet type %u gso_size %u hdr_len %u", v->gso_type, v->gso_size, v->hdr_len);
  const uint8_t *h = g.w[0].iov[1].iov_base;
  EXPECT(rd16(h + 44) == 8 + 1500, "UDP length %u (the whole)", rd16(h + 44));
  st.uso = 0;
  nu = gro_group_gso(&g, 1, 0, ptrs, lens, gsos, 1, &st);
  EXPECT(nu == 1 && unit_vnet(0)->gso_type == VNET_GSO_NONE, "without USO: not a super-packet");
  return 1;
}

/* --- GSO cutting ------------------------------------------------------------------------------- */

static uint8_t sp[20 + 60 + 2500];

/* The super-packet of the cutting cases: IPv4 (ID 0x1234, DF) + IPv6 + TCP seq 7000, flags
 * ACK|PSH|FIN|CWR, 2500 payload bytes. Returns its length. */
static int32_t super_packet(void) {
  int32_t l6 = tcp6(sp + 20, 0, 7000, TCP_ACK | TCP_PSH | TCP_FIN | TCP_CWR, 2500);
  ip4(sp, (uint32_t)(20 + l6), 0x1234);
  return 20 + l6;
}

static int gso_send_three_segments(void) {
  int32_t len = super_packet();
  gso_send_t gs;
  EXPECT(gso_info_ok(sp + 20, len - 20, 40 << 16 | 1000, &gs), "refused");
  EXPECT(gs.th == 40 && gs.hl == 60 && gs.mss == 1000 && gs.segs == 3, "th %d hl %d mss %d segs %d",
         gs.th, gs.hl, gs.mss, gs.segs);
  static const struct {
    int pay;
    unsigned ip_len, ip_id, ip_csum, ip6_len, seq, flags, tcp_csum;
  } want[3] = {
      {1000, 1080, 0x1234, 0x3833, 1020, 7000, TCP_ACK | TCP_CWR, 0x43fa},
      {1000, 1080, 0x1235, 0x3832, 1020, 8000, TCP_ACK, 0x60b1},
      {500, 580, 0x1236, 0x3a25, 520, 9000, TCP_ACK | TCP_PSH | TCP_FIN, 0x78a6},
  };
  for (int k = 0; k < 3; k++) {
    uint8_t h[SEG_SCRATCH];
    int pay = gso_send_seg(h, sp, len, &gs, k);
    const uint8_t *q = h + 20;
    EXPECT(pay == want[k].pay, "segment %d: %d payload bytes", k, pay);
    EXPECT(rd16(h + 2) == want[k].ip_len, "segment %d: IPv4 total length %u", k, rd16(h + 2));
    EXPECT(rd16(h + 4) == want[k].ip_id, "segment %d: IPv4 ID %#06x", k, rd16(h + 4));
    EXPECT(rd16(h + 6) == 0x4000, "segment %d: IPv4 flags/fragment %#06x (DF kept)", k,
           rd16(h + 6));
    EXPECT(rd16(h + 10) == want[k].ip_csum, "segment %d: IPv4 checksum %#06x", k, rd16(h + 10));
    EXPECT(rd16(q + 4) == want[k].ip6_len, "segment %d: IPv6 payload length %u", k, rd16(q + 4));
    EXPECT(rd32(q + 44) == want[k].seq, "segment %d: sequence number %u", k, rd32(q + 44));
    EXPECT(q[53] == want[k].flags, "segment %d: flags %#x", k, q[53]);
    EXPECT(rd16(q + 56) == want[k].tcp_csum, "segment %d: TCP checksum %#06x", k, rd16(q + 56));
  }
  return 1;
}

static int gso_cut_on_read_equals_built(void) {
  /* Cut on read (gso_cut_segment), each segment equals the one built directly with its sequence
   * number and flags, checksum included. */
  int32_t len = super_packet();
  const uint8_t *src = sp + 20;
  static const struct {
    int pos, seg, last;
    uint8_t flags;
    unsigned tcp_csum;
  } want[3] = {
      {60, 1000, 0, TCP_ACK | TCP_CWR, 0x43fa},
      {1060, 1000, 0, TCP_ACK, 0x60b1},
      {2060, 500, 1, TCP_ACK | TCP_PSH | TCP_FIN, 0x78a6},
  };
  EXPECT(len - 20 == 2560, "super-packet of %d bytes", len - 20);
  for (int k = 0; k < 3; k++) {
    uint8_t d[1100], built[1100];
    gso_cut_segment(d, src, 40, 60, want[k].pos, want[k].seg, want[k].last);
    int32_t bl = tcp6(built, 0, 7000 + (uint32_t)(want[k].pos - 60), want[k].flags, want[k].seg);
    EXPECT(bl == 60 + want[k].seg, "built %d bytes", bl);
    EXPECT(rd16(d + 56) == want[k].tcp_csum, "segment %d: TCP checksum %#06x", k, rd16(d + 56));
    EXPECT(memcmp(d, built, (size_t)bl) == 0, "segment %d differs from the one built directly", k);
  }
  return 1;
}

static int gso_info_refusals(void) {
  int32_t len = super_packet();
  gso_send_t gs;
  uint8_t *q = sp + 20;
  int32_t l6 = len - 20;
  EXPECT(!gso_info_ok(q, l6, 40 << 16 | 0, &gs), "mss 0 accepted");
  EXPECT(!gso_info_ok(q, l6, 20 << 16 | 1000, &gs), "TCP header inside the IPv6 header accepted");
  EXPECT(!gso_info_ok(q, l6, 3000 << 16 | 1000, &gs), "TCP header past the packet accepted");
  EXPECT(!gso_info_ok(q, l6, 0, &gs), "info 0 accepted");
  q[6] = 17;
  EXPECT(!gso_info_ok(q, l6, 40 << 16 | 1000, &gs), "UDP at offset 40 accepted");
  return 1;
}

/* --- 6in4 packets merged by GRO ------------------------------------------------------------------ */

static uint8_t m4[20 + 60 + 3000];

static int gro6in4_intact_left_alone(void) {
  int32_t l6 = tcp6(m4 + 20, 0, 1000, TCP_ACK, 1000);
  ip4(m4, (uint32_t)(20 + l6), 1);
  uint8_t before[20 + 1060];
  memcpy(before, m4, (size_t)(20 + l6));
  int32_t seg = -1;
  EXPECT(complete_gro_6in4(m4, 20 + l6, &seg) == 0, "not 0");
  EXPECT(seg == 0, "cut at %d", seg);
  EXPECT(memcmp(before, m4, (size_t)(20 + l6)) == 0, "changed");
  return 1;
}

static int gro6in4_plain_tcp_completed(void) {
  /* Plain GRO merged 3 segments of 1000: the field holds the pseudo-header sum of the whole. */
  int32_t l6 = tcp6(m4 + 20, 0, 1000, TCP_ACK, 3000);
  ip4(m4, (uint32_t)(20 + l6), 1);
  wr16(m4 + 20 + 56, 0x674b);
  int32_t seg = -1;
  EXPECT(complete_gro_6in4(m4, 20 + l6, &seg) == 1, "not 1");
  EXPECT(rd16(m4 + 20 + 56) == 0x026d, "checksum %#06x", rd16(m4 + 20 + 56));
  EXPECT(seg == -(1280 - 40 - 20), "cut at %d: the sender's size is lost, -(1280 bytes)", seg);
  return 1;
}

static int gro6in4_fraglist_cut_at_first(void) {
  /* Fraglist GRO merged 3 segments of 1000: the field still holds the first segment's checksum. */
  int32_t l6 = tcp6(m4 + 20, 0, 1000, TCP_ACK, 1000);
  uint16_t first = rd16(m4 + 20 + 56);
  l6 = tcp6(m4 + 20, 0, 1000, TCP_ACK, 3000);
  ip4(m4, (uint32_t)(20 + l6), 1);
  wr16(m4 + 20 + 56, first);
  uint8_t before[20 + 60 + 3000];
  memcpy(before, m4, (size_t)(20 + l6));
  int32_t seg = -1;
  EXPECT(complete_gro_6in4(m4, 20 + l6, &seg) == 1, "not 1");
  EXPECT(seg == 1000, "cut at %d, not at the first segment's 1000", seg);
  EXPECT(memcmp(before, m4, (size_t)(20 + l6)) == 0, "changed");
  return 1;
}

static int gro6in4_udp_unusable(void) {
  /* Merged UDP: the field holds the pseudo-header sum of the whole, the datagrams are lost. */
  int32_t l6 = udp6(m4 + 20, 0, 9, 2000);
  ip4(m4, (uint32_t)(20 + l6), 1);
  wr16(m4 + 20 + 46, 0x6362);
  int32_t seg = -1;
  EXPECT(complete_gro_6in4(m4, 20 + l6, &seg) == -1, "not -1");
  EXPECT(seg == 0, "cut at %d", seg);
  return 1;
}

static int gro6in4_other_protocol(void) {
  int32_t l6 = tcp6(m4 + 20, 0, 1000, TCP_ACK, 3000);
  ip4(m4, (uint32_t)(20 + l6), 1);
  wr16(m4 + 20 + 56, 0x674b);
  m4[9] = 4; /* IPv4 in IPv4 */
  int32_t seg = -1;
  EXPECT(complete_gro_6in4(m4, 20 + l6, &seg) == 0, "not 0");
  EXPECT(rd16(m4 + 20 + 56) == 0x674b, "changed");
  return 1;
}

/* --- the table ---------------------------------------------------------------------------------- */

static const struct {
  const char *name;
  int (*run)(void);
} CASES[] = {
    {"csum: RFC 1071 section 3 example sums to ddf2", rfc1071_example},
    {"csum: an odd length pads the last byte with zero", odd_length_pads_with_zero},
    {"csum: the end-around carry folds back in", end_around_carry},
    {"csum: 37 bytes, whole and in pieces", long_runs_and_tails},
    {"csum: RFC 1624 section 4 example gives 0x0000 (eqn 3)", rfc1624_example},
    {"csum: RFC 1624 update of a TTL decrement equals recomputing", rfc1624_ttl_decrement},
    {"pseudo6: IPv6 pseudo-header sum of a TCP segment", pseudo_header_sum},
    {"tcp6_csum_ok: a valid segment verifies, a changed bit does not", tcp_checksum_verifies},
    {"udp6_csum_ok: a valid datagram verifies, a changed bit does not", udp_checksum_verifies},
    {"complete_csum: TCP checksum left to us is completed", complete_csum_tcp},
    {"complete_csum: UDP checksum computing to 0 is sent as 0xffff", complete_csum_udp_zero_is_ffff},
    {"complete_csum: offsets outside the packet are refused", complete_csum_refuses_bad_offsets},
    {"gro_group: 8 in-order segments become one super-packet", gro_one_flow_in_order},
    {"gro_group: a sequence gap starts a new unit", gro_sequence_gap_starts_a_unit},
    {"gro_group: interleaved flows make a unit each, in order", gro_interleaved_flows},
    {"gro_group: a segment with a bad checksum is written alone", gro_bad_checksum_alone},
    {"gro_group: a FIN segment is not coalesced", gro_fin_not_coalesced},
    {"gro_group: a segment longer than the unit's starts a new one", gro_longer_segment_ends_unit},
    {"gro_group: UDP datagrams coalesce only where the kernel takes USO", gro_udp_only_with_uso},
    {"gro_group: without vnet headers every packet is written alone", gro_without_vnet},
    {"gro_group: a TCP packet over the MTU is cut at 1280", gro_oversized_cut_at_1280},
    {"gro_group_gso: a merged packet is cut at the segment size it came with",
     gro_merged_cut_at_given_size},
    {"gro_group_gso: merged UDP becomes a UDP super-packet only where the TUN takes one",
     gro_merged_udp_needs_uso},
    {"gso_send_seg: 2500 bytes at mss 1000 make three exact segments", gso_send_three_segments},
    {"gso_cut_segment: segments cut on read equal those built directly", gso_cut_on_read_equals_built},
    {"gso_info_ok: super-packets that cannot be cut are refused", gso_info_refusals},
    {"complete_gro_6in4: an intact TCP segment is left alone", gro6in4_intact_left_alone},
    {"complete_gro_6in4: merged TCP (plain GRO) gets its checksum", gro6in4_plain_tcp_completed},
    {"complete_gro_6in4: merged TCP (fraglist GRO) is cut at its first segment's size",
     gro6in4_fraglist_cut_at_first},
    {"complete_gro_6in4: merged UDP is unusable", gro6in4_udp_unusable},
    {"complete_gro_6in4: a packet that is not protocol 41 is left alone", gro6in4_other_protocol},
};

int main(int argc, char **argv) {
  size_t n = sizeof CASES / sizeof CASES[0];
  if (argc > 1 && strcmp(argv[1], "--list") == 0) {
    for (size_t i = 0; i < n; i++) printf("%s\n", CASES[i].name);
    return 0;
  }
  int failed = 0;
  for (size_t i = 0; i < n; i++) {
    why[0] = 0;
    if (CASES[i].run()) {
      printf("ok %s\n", CASES[i].name);
    } else {
      printf("not ok %s: %s\n", CASES[i].name, why);
      failed++;
    }
  }
  return failed ? 1 : 0;
}
