/*
 * offload.c: checksums, GRO grouping and GSO cutting for TUN offload, and the repair of 6in4
 * packets that the receiving NIC's GRO merged. Pure packet arithmetic on caller-owned buffers:
 * no N-API, no syscalls, no allocation (see offload.h for why offload exists).
 */
#include "offload.h"

#include <string.h>

/* One's complement sum (RFC 1071) of n bytes in memory order, accumulated in 64 bits; the
 * region must start at an even offset of the checksummed data. */
uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n) {
  while (n >= 16) {
    uint32_t w[4];
    memcpy(w, p, 16);
    sum += (uint64_t)w[0] + w[1] + w[2] + w[3];
    p += 16;
    n -= 16;
  }
  while (n >= 4) {
    uint32_t w;
    memcpy(&w, p, 4);
    sum += w;
    p += 4;
    n -= 4;
  }
  if (n >= 2) {
    uint16_t h;
    memcpy(&h, p, 2);
    sum += h;
    p += 2;
    n -= 2;
  }
  if (n) {
    uint8_t b[2] = {p[0], 0};
    uint16_t h;
    memcpy(&h, b, 2);
    sum += h;
  }
  return sum;
}

/* Folds to 16 bits; the result, stored with memcpy, is in network order. */
uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* IPv6 pseudo-header (RFC 8200 §8.1) of an upper-layer packet of `len` bytes, protocol nh. */
uint64_t pseudo6(const uint8_t *ip6, uint32_t len, uint8_t nh) {
  uint8_t tail[8];
  wr32(tail, len);
  tail[4] = tail[5] = tail[6] = 0;
  tail[7] = nh;
  return csum_add(csum_add(0, ip6 + 8, 32), tail, 8);
}

/* NEEDS_CSUM: the checksum field holds the pseudo-header sum; sum [csum_start, len) and store
 * the complement. Returns 0 when the offsets do not fit the packet. */
int complete_csum(uint8_t *pkt, size_t len, const vnet_hdr_t *h) {
  size_t at = (size_t)h->csum_start + h->csum_offset;
  if (h->csum_start >= len || at + 2 > len || (h->csum_start & 1)) return 0;
  uint16_t c = (uint16_t)~csum_fold(csum_add(0, pkt + h->csum_start, len - h->csum_start));
  if ((pkt[6] == 17) && c == 0) c = 0xffff; /* UDP: 0 means "no checksum" (RFC 768) */
  memcpy(pkt + at, &c, 2);
  return 1;
}

/* A TCP segment that may be coalesced: IPv6 with TCP right after the fixed header, length
 * consistent, data in it, ACK or ACK|PSH and no other flag. Sets *hl (header bytes). */
static int gro_candidate(const uint8_t *q, int32_t len, int *hl) {
  if (len < 61 || (q[0] >> 4) != 6 || q[6] != 6 || 40 + rd16(q + 4) != len) return 0;
  int thl = (q[52] >> 4) * 4;
  uint8_t fl = q[53];
  if (thl < 20 || 40 + thl >= len || (fl != TCP_ACK && fl != (TCP_ACK | TCP_PSH))) return 0;
  *hl = 40 + thl;
  return 1;
}

/* A UDP datagram that may be coalesced (only where the kernel takes UDP super-packets, USO):
 * IPv6 with UDP right after the fixed header, lengths consistent, data in it, a checksum (zero
 * is invalid in IPv6, RFC 8200 §8.1). */
static int uso_candidate(const uint8_t *q, int32_t len) {
  return len >= 49 && (q[0] >> 4) == 6 && q[6] == 17 && 40 + rd16(q + 4) == len &&
         rd16(q + 44) == len - 40 && (q[46] | q[47]) != 0;
}

/* UDP checksum of an IPv6 packet with UDP at offset 40 is valid. */
int udp6_csum_ok(const uint8_t *q, int32_t len) {
  uint32_t ul = (uint32_t)len - 40;
  return csum_fold(csum_add(pseudo6(q, ul, 17), q + 40, ul)) == 0xffff;
}

/* TCP checksum of an IPv6 packet with TCP at offset 40 is valid. */
int tcp6_csum_ok(const uint8_t *q, int32_t len) {
  uint32_t tl = (uint32_t)len - 40;
  return csum_fold(csum_add(pseudo6(q, tl, 6), q + 40, tl)) == 0xffff;
}


/* Largest link MTU the first segment of a fraglist-merged packet is looked for in (jumbo frames). */
#define FLIST_MAX_FRAME 9000

/*
 * Fraglist GRO (rx-gro-list; OpenWrt 24.10 turns it on for every device) leaves the first TCP
 * segment's own checksum in a merged packet: it verifies over the headers (with that segment's
 * length in the pseudo-header) and a prefix of the payload. Looks for that prefix among the
 * lengths the first segment can have had: at least 1/64 of the payload (GRO merges at most 64),
 * at most a jumbo frame, shorter than the whole. Returns the first length that verifies (the
 * sender's segment size: GRO merged equal ones, the last may differ), else 0.
 */
int32_t flist_first_len(const uint8_t *q, int32_t ql) {
  int thl = (q[52] >> 4) * 4;
  int32_t total = ql - 40 - thl;
  if (thl < 20 || total < 2) return 0;
  const uint8_t *pay = q + 40 + thl;
  int32_t lo = total / 64 > 1 ? total / 64 : 1;
  int32_t hi = FLIST_MAX_FRAME - 60 - thl < total - 1 ? FLIST_MAX_FRAME - 60 - thl : total - 1;
  uint64_t base = csum_add(csum_add(0, q + 8, 32), q + 40, (size_t)thl);
  uint64_t words = csum_add(0, pay, (size_t)(lo & ~1)); /* payload [0, lo rounded down to even) */
  for (int32_t n = lo & ~1; n <= hi; n += 2) {
    /* prefix of n bytes (even), then of n + 1 (odd: the last byte padded with a zero) */
    for (int32_t l = n; l <= n + 1 && l <= hi; l++) {
      if (l < lo) continue;
      uint8_t tail[8], odd[2] = {l & 1 ? pay[l - 1] : 0, 0};
      wr32(tail, (uint32_t)(thl + l));
      tail[4] = tail[5] = tail[6] = 0;
      tail[7] = 6;
      uint64_t sum = csum_add(base + words, tail, 8);
      if (l & 1) sum = csum_add(sum, odd, 2);
      if (csum_fold(sum) == 0xffff) return l;
    }
    if (n + 2 > hi) break; /* pay[n + 1] may be the byte after the packet (fuzz-native.c) */
    words = csum_add(words, pay + n, 2);
  }
  return 0;
}

/* Same flow (protocol, addresses and ports): both IPv6 of at least 44 bytes. */
static int same_flow(const uint8_t *a, const uint8_t *b) {
  return a[6] == b[6] && memcmp(a + 8, b + 8, 32) == 0 && memcmp(a + 40, b + 40, 4) == 0;
}

/* Packets of one write unit get this header when written alone on a vnet TUN. */
static const vnet_hdr_t VNET_PLAIN = {0, VNET_GSO_NONE, 0, 0, 0, 0};

/*
 * Groups n packets (ptrs/lens) into write units: coalesced TCP super-packets (with a GSO vnet
 * header and a rewritten header copy) and single packets (plain vnet header, or none when
 * vnet is 0). Per flow the order is kept; flows may be reordered among themselves. Returns the
 * number of units in g->w.
 */
int gro_group(gro_scratch_t *g, int vnet, int uso, uint8_t **ptrs, const int32_t *lens, int n,
              tun_offload_t *stats) {
  return gro_group_gso(g, vnet, uso, ptrs, lens, NULL, n, stats);
}

/* gro_group, where gsos[i] > 0 gives packet i's segment size: a TCP packet GRO merged on the
 * way in whose reader was told the size (AF_PACKET's virtio-net header, packet_rx_finish) is
 * written as a super-packet cut at that size. */
int gro_group_gso(gro_scratch_t *g, int vnet, int uso, uint8_t **ptrs, const int32_t *lens,
                  const int32_t *gsos, int n, tun_offload_t *stats) {
  int mtu = stats != NULL ? stats->mtu : 0;
  int nu = 0;
  for (int i = 0; i < n; i++) {
    uint8_t *q = ptrs[i];
    int32_t len = lens[i];
    int hl = 0;
    int proto = vnet && len >= 48 && (q[0] >> 4) == 6 ? q[6] : 0;
    int cand = proto == 6 ? gro_candidate(q, len, &hl)
               : proto == 17 && uso ? (hl = 48, uso_candidate(q, len))
                                    : 0;
    int target = -1;
    if (proto == 6 || proto == 17) {
      /* The latest unit of the same flow decides: append or start a new one (never append to
       * an older one, which would reorder the flow). */
      int looked = 0;
      for (int u = nu - 1; u >= 0 && looked < GRO_LOOKBACK; u--) {
        gro_unit_t *gu = &g->units[u];
        if (gu->hl == 0) continue;
        looked++;
        if (!same_flow(gu->head, q)) continue;
        int ok = cand && gu->open && gu->hl == hl && memcmp(gu->head, q, 4) == 0 &&
                 gu->head[7] == q[7] && len - hl <= gu->gso && gu->count < GRO_MAX_SEGS &&
                 hl + gu->total + (len - hl) <= 65535;
        if (ok && proto == 6)
          ok = rd32(q + 44) == gu->next_seq && memcmp(gu->head + 48, q + 48, 4) == 0 &&
               memcmp(gu->head + 52, q + 52, 1) == 0 && memcmp(gu->head + 54, q + 54, 2) == 0 &&
               memcmp(gu->head + 60, q + 60, (size_t)hl - 60) == 0 &&
               (gu->verified || (gu->verified = tcp6_csum_ok(gu->head, gu->head_len)) == 1) &&
               tcp6_csum_ok(q, len);
        else if (ok)
          ok = (gu->verified || (gu->verified = udp6_csum_ok(gu->head, gu->head_len)) == 1) &&
               udp6_csum_ok(q, len);
        if (ok)
          target = u;
        else
          gu->open = 0; /* the flow moved on (retransmission, FIN, other size): start anew */
        break;
      }
    }
    if (target >= 0) {
      gro_unit_t *gu = &g->units[target];
      gu->count++;
      gu->total += len - hl;
      if (proto == 6) {
        gu->next_seq += (uint32_t)(len - hl);
        gu->last_flags = q[53];
        if (q[53] & TCP_PSH) gu->open = 0;
      }
      if (len - hl < gu->gso) gu->open = 0;
      g->member_unit[i] = target;
      continue;
    }
    gro_unit_t *gu = &g->units[nu];
    gu->oversized = 0;
    int over_gso = 0;
    int given = gsos != NULL && (proto == 6 || proto == 17) ? gsos[i] : 0;
    if (given > 0 && proto == 17) {
      /* UDP merged (rx-udp-gro-forwarding, rx-gro-list): datagrams of `given` payload bytes, the
       * last maybe shorter; written as a UDP super-packet (USO) that the kernel cuts there. The
       * caller drops it where the TUN takes none (write_tun). */
      if (uso && len >= 48 + 1 && 40 + rd16(q + 4) == len && 48 + given < len) {
        gu->oversized = 1;
        cand = 1;
        hl = 48;
        over_gso = given;
      }
    } else if (given > 0) {
      /* Merged, with the sender's segment size known: cut there (no larger than the MTU). */
      int thl = len >= 60 && 40 + rd16(q + 4) == len ? (q[52] >> 4) * 4 : 0;
      if (thl >= 20 && 40 + thl + given < len) {
        int32_t seg = mtu >= 1280 && given > mtu - 40 - thl ? mtu - 40 - thl : given;
        gu->oversized = 1;
        cand = 1;
        hl = 40 + thl;
        over_gso = seg;
      }
    } else if (proto == 6 && mtu >= 1280 && len > mtu) {
      /* Longer than the device takes: a segment run that GRO merged on the way in (see
       * complete_gro_6in4), written as a super-packet for the kernel to cut. Plain GRO (checksum
       * completed on read, so it verifies): cut at the IPv6 minimum MTU, which every path beyond
       * carries, as the sender's segment size is lost. Fraglist GRO (the first segment's checksum
       * still in place): cut at that segment's size, found again. Else left alone. */
      int thl = len >= 60 && 40 + rd16(q + 4) == len ? (q[52] >> 4) * 4 : 0;
      int plain = (q[53] & ~(TCP_ACK | TCP_PSH | TCP_FIN)) == 0; /* as GRO merges: no CWR, SYN... */
      if (thl >= 20 && 40 + thl < len && plain) {
        int32_t first = tcp6_csum_ok(q, len) ? 1280 - 40 - thl : flist_first_len(q, len);
        if (first > mtu - 40 - thl) first = mtu - 40 - thl;
        if (first > 0) {
          gu->oversized = 1;
          cand = 1;
          hl = 40 + thl;
          over_gso = first;
        }
      }
    }
    gu->head = q;
    gu->head_len = len;
    gu->hl = cand ? hl : 0;
    gu->gso = cand ? len - hl : 0;
    gu->total = cand ? len - hl : 0;
    gu->count = 1;
    gu->open = cand && !gu->oversized && !(proto == 6 && (q[53] & TCP_PSH));
    if (gu->oversized) gu->gso = over_gso;
    gu->verified = 0;
    gu->next_seq = cand && proto == 6 ? rd32(q + 44) + (uint32_t)(len - hl) : 0;
    gu->last_flags = cand && proto == 6 ? q[53] : 0;
    gu->first_pkt = i;
    g->member_unit[i] = nu;
    nu++;
  }
  /* Lay out the iovecs: unit u's payloads in packet order. */
  int next_iov = 0;
  for (int u = 0; u < nu; u++) {
    gro_unit_t *gu = &g->units[u];
    wunit_t *w = &g->w[u];
    w->iov = &g->iov[next_iov];
    w->packets = gu->count;
    if (gu->count == 1 && !gu->oversized) {
      int k = 0;
      if (vnet) w->iov[k++] = (struct iovec){(void *)&VNET_PLAIN, sizeof(vnet_hdr_t)};
      w->iov[k++] = (struct iovec){gu->head, (size_t)gu->head_len};
      w->niov = k;
      next_iov += k;
      continue;
    }
    uint8_t *h = g->hdrs[u];
    int tcp = gu->head[6] == 6;
    memcpy(h, gu->head, (size_t)gu->hl);
    uint32_t tl = (uint32_t)(gu->hl - 40 + gu->total);
    wr16(h + 4, tl);
    if (tcp)
      h[53] = gu->last_flags;
    else
      wr16(h + 44, tl); /* UDP length of the whole super-packet, as udp_send_skb writes it */
    /* The checksum field holds the pseudo-header sum the kernel completes per segment. */
    uint16_t ps = csum_fold(pseudo6(h, tl, tcp ? 6 : 17));
    memcpy(h + (tcp ? 56 : 46), &ps, 2);
    vnet_hdr_t *v = &g->vh[u];
    v->flags = VNET_F_NEEDS_CSUM;
    v->gso_type = tcp ? VNET_GSO_TCPV6 : VNET_GSO_UDP_L4;
    v->hdr_len = (uint16_t)gu->hl;
    v->gso_size = (uint16_t)gu->gso;
    v->csum_start = 40;
    v->csum_offset = tcp ? 16 : 6;
    w->iov[0] = (struct iovec){v, sizeof *v};
    w->iov[1] = (struct iovec){h, (size_t)gu->hl};
    w->niov = 2;
    for (int i = gu->first_pkt; i < n; i++)
      if (g->member_unit[i] == u)
        w->iov[w->niov++] = (struct iovec){ptrs[i] + gu->hl, (size_t)(lens[i] - gu->hl)};
    next_iov += w->niov;
    if (stats && gu->oversized) {
      stats->oversized_split++;
    } else if (stats) {
      stats->super_packets_written++;
      stats->packets_coalesced += gu->count;
    }
  }
  return nu;
}

/* ---------------------------------------------------------------------------------------------
 * GSO cutting: TCP super-packets cut into segments as the kernel's tcp_gso_segment cuts them
 * (sequence numbers advance, FIN and PSH only on the last, CWR only on the first, each segment
 * with its full checksum), while sending (gso_send_seg) or on read (gso_cut_segment).
 *
 * A TUN poller given a `gso` array (pollStart's meta, on a TUN with offload) hands a TCP
 * super-packet over whole instead of cutting it on read: gso[slot] = th << 16 | mss (TCP header
 * offset in the IPv6 packet, payload bytes per segment), 0 for a plain packet. The path checks,
 * translates and encapsulates it once, as one packet (one IPv4 header in the headroom), and
 * sendRaw4 cuts it here, one message per segment: a copy of the headers in scratch (IPv4 total
 * length and an ID stepping by g->id_step from the one given; IPv6 payload length; TCP
 * sequence, flags and checksum as the kernel's tcp_gso_segment) and the segment's payload in
 * place as a second iovec. The payload is then copied once, by the kernel, instead of into
 * gso_buf and a ring slot first; and the per-packet work in JavaScript and N-API is done once
 * per super-packet.
 * ------------------------------------------------------------------------------------------- */

/* Whether the IPv6 packet q (len bytes) with info (th << 16 | mss) can be cut; fills g. */
int gso_info_ok(const uint8_t *q, int32_t len, int32_t info, gso_send_t *g) {
  int th = info >> 16, mss = info & 0xffff;
  if (info <= 0 || mss == 0 || th < 40 || len < 60 || (q[0] >> 4) != 6 || th + 20 > len ||
      (th == 40 && q[6] != 6))
    return 0;
  int thl = (q[th + 12] >> 4) * 4;
  int hl = th + thl;
  if (thl < 20 || hl > SEG_HDR_MAX || hl >= len) return 0;
  g->th = th;
  g->hl = hl;
  g->mss = mss;
  g->segs = (len - hl + mss - 1) / mss;
  g->addr_sum = csum_add(0, q + 8, 32);
  g->id_step = IPV4_SEGMENT_ID_STEP;
  return 1;
}

/* Headers of segment k of the encapsulated super-packet p (IPv4 header of 20 bytes, then the
 * IPv6 packet; len bytes in all) into h (20 + g->hl bytes). Returns the segment's payload
 * length; its payload is p + 20 + g->hl + k * g->mss. */
int gso_send_seg(uint8_t *h, const uint8_t *p, int32_t len, const gso_send_t *g, int k) {
  int hl = g->hl, th = g->th;
  int pay = len - 20 - hl, pos = k * g->mss;
  int seg = pay - pos < g->mss ? pay - pos : g->mss;
  memcpy(h, p, (size_t)(20 + hl));
  wr16(h + 2, (uint32_t)(20 + hl + seg)); /* the kernel rewrites both with IP_HDRINCL, but */
  h[10] = h[11] = 0;                      /* write what goes out */
  wr16(h + 4, rd16(p + 4) + (uint32_t)k * (uint32_t)g->id_step);
  uint16_t ic = (uint16_t)~csum_fold(csum_add(0, h, 20));
  memcpy(h + 10, &ic, 2);
  uint8_t *q = h + 20;
  wr16(q + 4, (uint32_t)(hl - 40 + seg));
  wr32(q + th + 4, rd32(p + 20 + th + 4) + (uint32_t)pos);
  if (pos + seg < pay) q[th + 13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
  if (k != 0) q[th + 13] &= (uint8_t)~TCP_CWR;
  q[th + 16] = q[th + 17] = 0;
  uint8_t tail[8] = {0, 0, 0, 0, 0, 0, 0, 6}; /* pseudo-header: upper-layer length, TCP */
  wr32(tail, (uint32_t)(hl - th + seg));
  uint64_t sum = csum_add(csum_add(g->addr_sum, tail, 8), q + th, (size_t)(hl - th));
  uint16_t c = (uint16_t)~csum_fold(csum_add(sum, p + 20 + hl + pos, (size_t)seg));
  memcpy(q + th + 16, &c, 2);
  return seg;
}

/* Segment of the TCP super-packet src (IPv6, TCP header at th, hl header bytes) that carries
 * payload bytes [pos, pos + seg) (pos counted from the packet's start: pos >= hl), written whole
 * to d (hl + seg bytes): headers copied, IPv6 payload length, TCP sequence number, flags (last:
 * the final segment) and checksum rewritten. Used on read, when a super-packet cannot be handed
 * over whole (tun-io.c gso_emit). */
void gso_cut_segment(uint8_t *d, const uint8_t *src, int th, int hl, int pos, int seg, int last) {
  uint32_t seq0 = rd32(src + th + 4);
  memcpy(d, src, (size_t)hl);
  memcpy(d + hl, src + pos, (size_t)seg);
  wr16(d + 4, (uint32_t)(hl - 40 + seg));
  wr32(d + th + 4, seq0 + (uint32_t)(pos - hl));
  if (!last) d[th + 13] &= (uint8_t)~(TCP_FIN | TCP_PSH);
  if (pos != hl) d[th + 13] &= (uint8_t)~TCP_CWR;
  d[th + 16] = d[th + 17] = 0;
  uint32_t tl = (uint32_t)(hl - th + seg);
  uint16_t c = (uint16_t)~csum_fold(csum_add(pseudo6(d, tl, 6), d + th, tl));
  memcpy(d + th + 16, &c, 2);
}

/*
 * A protocol-41 packet that the receiving NIC's GRO merged from several (the kernel's sit_offload:
 * Linux tunnels send with DF and a fixed ID, which GRO merges whatever we do on our side). A raw
 * socket hands it over as the merge left it. Returns 1 when it was one and is usable now, -1 when
 * it was one that cannot be taken apart, else 0. With 1, *seg = the payload size to cut it at
 * again (the TUN write's gso, gro_group_gso): the sender's segment size, or negated where that
 * is lost (plain GRO: -(1280 - 40 - TCP header)); 0 where it holds one segment only.
 * - TCP, plain GRO: only the pseudo-header sum is in the checksum field (tcp6_gro_complete), as
 *   for CHECKSUM_PARTIAL. One intact packet in 65536 has such a field: it verifies, so it is left
 *   alone.
 *   The checksum is completed over the whole segment, as the kernel would before delivering it to
 *   a socket (the kernel verified every merged segment before merging).
 * - TCP, fraglist GRO: the first segment's checksum (flist_first_len), looked for only in packets
 *   longer than an Ethernet frame (1500) whose checksum fails; left in place (-1 when none is
 *   found).
 *   Either way it goes to the TUN as a super-packet that the kernel cuts into segments: at the
 *   first segment's size for fraglist, at 1280 bytes for plain GRO (the sender's size is lost).
 *   One pass over the packet: the sum that checks it also completes it.
 * - UDP (rx-gro-list or rx-udp-gro-forwarding; the kernel merges inner UDP of 6in4 the plain way
 *   under both): the datagrams' length went with their checksums, replaced by the pseudo-header
 *   sum of the whole. Nothing tells where one datagram ended: counted (-1), passed on as it is,
 *   and lost at the receiver.
 */
int complete_gro_6in4(uint8_t *pkt, int32_t len, int32_t *seg) {
  *seg = 0;
  if (len < 20 + 60 || pkt[0] < 0x45 || (pkt[0] >> 4) != 4 || pkt[9] != 41) return 0;
  int ihl = (pkt[0] & 15) * 4;
  if (len < ihl + 60) return 0;
  uint8_t *q = pkt + ihl;
  int32_t ql = len - ihl;
  if ((q[0] >> 4) != 6 || (q[6] != 6 && q[6] != 17) || 40 + rd16(q + 4) != ql) return 0;
  uint32_t tl = (uint32_t)ql - 40;
  if (q[6] == 17) {
    uint16_t pu = csum_fold(pseudo6(q, tl, 17));
    return rd16(q + 44) == tl && memcmp(q + 46, &pu, 2) == 0 && !udp6_csum_ok(q, ql) ? -1 : 0;
  }
  uint64_t whole = csum_add(0, q + 40, tl); /* TCP header, checksum field as it is, payload */
  uint64_t pseudo = pseudo6(q, tl, 6);
  if (csum_fold(pseudo + whole) == 0xffff) return 0; /* verifies: one intact packet */
  int thl = (q[52] >> 4) * 4;
  uint16_t ps = csum_fold(pseudo);
  if (memcmp(q + 56, &ps, 2) == 0) {
    /* plain GRO: the field holds the pseudo-header sum, so the sum over the segment with it in
     * place is the checksum, complemented */
    uint16_t c = (uint16_t)~csum_fold(whole);
    memcpy(q + 56, &c, 2);
    int32_t cut = 1280 - 40 - thl;
    if (thl >= 20 && 40 + thl + cut < ql) *seg = -cut;
    return 1;
  }
  if (len <= 1500) return 0;
  /* fraglist: left as it is; cut again at the first segment's size */
  int32_t first = flist_first_len(q, ql);
  if (first <= 0) return -1;
  if (40 + thl + first < ql) *seg = first;
  return 1;
}
