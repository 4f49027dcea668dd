/*
 * Fuzzing of the addon's packet code on hostile input, under AddressSanitizer and
 * UndefinedBehaviorSanitizer (test/unit/native/fuzz-native.test.ts compiles and runs it).
 *
 * The addon is C that reads packets the Internet sends: complete_gro_6in4 runs on every
 * protocol-41 packet a raw socket receives, gro_group on every batch of decapsulated packets
 * written to the TUN. Here both get well-formed packets of every kind they handle (intact and
 * GRO-merged TCP and UDP, plain and fraglist, flows of segments) and mutations of them (bytes
 * changed, truncated, extended, header fields and lengths rewritten), each in a buffer of exactly
 * its length, so a read or write one byte outside is a sanitizer report. Beyond memory safety it
 * checks what the functions promise: complete_gro_6in4 changes a packet only when it returns 1,
 * and a TCP checksum it completes verifies; gro_group accounts for every packet exactly once,
 * in order within a unit, with the vnet header and lengths of a super-packet consistent with
 * its members. complete_csum gets random vnet offsets too. The TUN read path (drain_tun_vnet,
 * take_read, gso_emit: reads queued, moved and cut into ring slots, through io_uring and through
 * readv) reads from a SOCK_SEQPACKET socketpair that keeps message boundaries as a TUN does, fed
 * with well-formed reads (segments and datagrams whose checksum is left to us, TSO super-packets
 * from 1-byte to full-size segments) and hostile ones (random vnet headers, mutated packets), in
 * rings of 64 KiB slots or of small slots of unequal sizes: every packet of a well-formed read
 * must come out, in order and exactly as the kernel's segmentation would make it. The raw
 * socket's read path (drain_socket: recvmmsg into slots of various sizes, truncation, the GRO
 * repair per datagram) reads from a SOCK_DGRAM socketpair. Its error-queue read (drain_errqueue:
 * ICMP errors into error-ring slots of 64..576 bytes, or counted only) reads the real port
 * unreachables the kernel queues for a UDP socket with IP_RECVERR sending to a closed loopback
 * port: each message's quoted bytes fit its slot and match what was sent, in order.
 *
 * Build: gcc -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all fuzz-native.c
 * module/native/{offload,tun-io,socket-read,uring}.c: the addon's files without N-API, linked as
 * they are. Usage: fuzz-native <seed> <iterations> <max seconds>.
 * FUZZ_SELFTEST: reads one byte past a buffer on purpose (the test expects ASan to catch it).
 */
#define _GNU_SOURCE /* before any system header, as in the addon */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include "../../module/native/offload.h"
#include "../../module/native/rx-ring.h"
#include "../../module/native/tun-io.h"
#include "../../module/native/uring.h"
#include "packet-util.h"

/* The io_uring the TUN read rounds use (the addon keeps one per Node environment). */
static uring_t fuzz_uring = {.fd = -1};

#include <time.h>

static uint64_t rng_state;
static uint32_t rnd(void) {
  /* xorshift64*: deterministic for a seed, so a failure can be replayed */
  rng_state ^= rng_state >> 12;
  rng_state ^= rng_state << 25;
  rng_state ^= rng_state >> 27;
  return (uint32_t)((rng_state * 0x2545F4914F6CDD1DULL) >> 32);
}
static uint32_t below(uint32_t n) { return n == 0 ? 0 : rnd() % n; }

#define CHECK(cond, ...)                                                        \
  do {                                                                          \
    if (!(cond)) {                                                              \
      fprintf(stderr, "FAIL %s:%d: %s: ", __FILE__, __LINE__, #cond);           \
      fprintf(stderr, __VA_ARGS__);                                             \
      fprintf(stderr, "\n");                                                    \
      exit(1);                                                                  \
    }                                                                           \
  } while (0)

/* --- building packets ------------------------------------------------------------------------ */

static void fill_random(uint8_t *p, size_t n) {
  for (size_t i = 0; i < n; i++) p[i] = (uint8_t)rnd();
}

/* IPv6 header at q: payload length pl, next header nh, documentation addresses; flows differ in
 * the source's last byte. */
static void ip6_header(uint8_t *q, uint32_t pl, uint8_t nh, uint8_t flow) {
  static const uint8_t src[16] = {0x20, 0x01, 0x0d, 0xb8, 0x0c, 0x98, 0x2c, 0x01, 0, 0, 0, 0, 0, 0, 0, 2};
  static const uint8_t dst[16] = {0x3f, 0xff, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
  pkt_ip6(q, pl, nh, 63, src, dst, flow);
}

/* TCP header (thl bytes, options zero-filled) at q + 40 and a random payload of pay bytes. */
static void tcp_segment(uint8_t *q, int thl, uint32_t seq, uint8_t flags, int pay, uint8_t flow) {
  ip6_header(q, (uint32_t)(thl + pay), 6, flow);
  uint8_t *t = q + 40;
  pkt_tcp(t, thl, 40000, 443, seq, 12345, flags, 65535);
  for (int i = 20; i + 1 < thl; i += 10) t[i] = 1; /* NOP options */
  fill_random(t + thl, (size_t)pay);
}

/* The TCP checksum of the IPv6 packet at q computed over its first tl upper-layer bytes, with
 * that length in the pseudo-header. */
static void tcp_checksum_over(uint8_t *q, uint32_t tl) {
  q[56] = q[57] = 0;
  uint16_t c = (uint16_t)~csum_fold(csum_add(pseudo6(q, tl, 6), q + 40, tl));
  memcpy(q + 56, &c, 2);
}

static void tcp_checksum(uint8_t *q, int32_t len) { tcp_checksum_over(q, (uint32_t)len - 40); }

static void udp_datagram(uint8_t *q, int pay, uint8_t flow) {
  ip6_header(q, (uint32_t)(8 + pay), 17, flow);
  pkt_udp(q + 40, 5353, 443, (uint32_t)(8 + pay));
  fill_random(q + 48, (size_t)pay);
  uint16_t c = (uint16_t)~csum_fold(csum_add(pseudo6(q, (uint32_t)(8 + pay), 17), q + 40,
                                              (size_t)(8 + pay)));
  if (c == 0) c = 0xffff;
  memcpy(q + 46, &c, 2);
}

/* The checksum field of the TCP or UDP packet at q (len bytes, upper layer at 40) holds only the
 * pseudo-header sum: as the kernel leaves a packet whose checksum the reader completes
 * (CHECKSUM_PARTIAL) and as GRO leaves a merged one. */
static void pseudo_sum_in_field(uint8_t *q, int32_t len) {
  uint8_t nh = q[6];
  uint16_t ps = csum_fold(pseudo6(q, (uint32_t)(len - 40), nh));
  memcpy(q + (nh == 6 ? 56 : 46), &ps, 2);
}

/* Fraglist GRO leaves the first segment's own checksum: over the headers and the first `seg`
 * payload bytes, with that length in the pseudo-header. */
static void first_segment_csum(uint8_t *q, int thl, int seg) {
  tcp_checksum_over(q, (uint32_t)(thl + seg));
}

/* Frees a ring the harness built (every array it may have; free(NULL) is nothing). */
static void fuzz_ring_free(rx_ring_t *p) {
  for (int i = 0; i < p->max; i++) free(p->bufs[i]);
  free(p->bufs);
  free(p->caps);
  free(p->sizes);
  free(p->q_pos);
  free(p->q_len);
  free(p->q_hdr);
  free(p->gso_buf);
  free(p->gso_info);
  free(p->spill);
  free(p->addrs4);
  free(p->msgs);
  free(p->iovs);
  free(p->names);
  free(p);
}

/* A non-blocking socketpair of `type` with large buffers (SO_*BUFFORCE: root; else defaults). */
static void fuzz_socketpair(int type, int sv[2]) {
  CHECK(socketpair(AF_UNIX, type | SOCK_NONBLOCK, 0, sv) == 0, "socketpair: %s", strerror(errno));
  int big = 64 << 20;
  setsockopt(sv[1], SOL_SOCKET, SO_SNDBUFFORCE, &big, sizeof big);
  setsockopt(sv[0], SOL_SOCKET, SO_RCVBUFFORCE, &big, sizeof big);
}

/* A 6in4 packet changed by complete_gro_6in4: only its TCP checksum, and that now verifies. */
static void check_tcp_csum_completed(const uint8_t *after, const uint8_t *before, int32_t len) {
  int ihl = (before[0] & 15) * 4;
  CHECK(before[9] == 41 && before[ihl + 6] == 6, "only a TCP checksum may be completed");
  CHECK(memcmp(after, before, (size_t)ihl + 56) == 0 &&
            memcmp(after + ihl + 58, before + ihl + 58, (size_t)(len - ihl - 58)) == 0,
        "bytes other than the TCP checksum changed");
  CHECK(tcp6_csum_ok(after + ihl, len - ihl), "completed TCP checksum does not verify");
}

/* --- complete_gro_6in4 ----------------------------------------------------------------------- */

enum { K_TCP, K_TCP_PLAIN_GRO, K_TCP_FLIST, K_UDP, K_UDP_MERGED, K_RANDOM, KINDS };
static const char *KIND_NAMES[KINDS] = {"tcp", "tcp-gro", "tcp-fraglist", "udp", "udp-merged",
                                        "random"};

/* A 6in4 packet of kind k in a fresh buffer of 66000 bytes; returns its length. */
static int32_t make_6in4(uint8_t *p, int k) {
  int ihl = 20;
  uint8_t *q = p + ihl;
  int32_t ql = 0;
  int thl = 20 + 4 * (int)below(11);
  switch (k) {
    case K_TCP: {
      int pay = 1 + (int)below(1400);
      tcp_segment(q, thl, rnd(), TCP_ACK, pay, 1);
      ql = 40 + thl + pay;
      tcp_checksum(q, ql);
      break;
    }
    case K_TCP_PLAIN_GRO: { /* tcp6_gro_complete: the pseudo-header sum of the whole */
      int segs = 2 + (int)below(40), mss = 500 + (int)below(1000);
      int pay = segs * mss - (int)below((uint32_t)mss);
      if (40 + thl + pay > 65535) pay = 65535 - 40 - thl;
      tcp_segment(q, thl, rnd(), TCP_ACK, pay, 1);
      ql = 40 + thl + pay;
      pseudo_sum_in_field(q, ql);
      break;
    }
    case K_TCP_FLIST: { /* the first segment's own checksum left in place */
      int segs = 2 + (int)below(40), mss = 1200 + (int)below(300);
      int pay = segs * mss;
      if (40 + thl + pay > 65535) pay = 65535 - 40 - thl;
      tcp_segment(q, thl, rnd(), TCP_ACK, pay, 1);
      ql = 40 + thl + pay;
      first_segment_csum(q, thl, mss);
      break;
    }
    case K_UDP:
      udp_datagram(q, (int)below(1400), 1);
      ql = 40 + rd16(q + 4);
      break;
    case K_UDP_MERGED: { /* UDP GRO: length and checksum of the whole, pseudo-header sum */
      int pay = 2 * (100 + (int)below(1300)) + (int)below(20000);
      udp_datagram(q, pay, 1);
      ql = 40 + rd16(q + 4);
      pseudo_sum_in_field(q, ql);
      break;
    }
    default:
      ql = (int32_t)below(2000);
      fill_random(q, (size_t)ql);
      break;
  }
  pkt_ip4_proto41(p, (uint32_t)(ihl + ql), 0, 64);
  return ihl + ql;
}

/* Changes a packet as an attacker (or a broken path) would; may change its length. */
static int32_t mutate(uint8_t *p, int32_t len, int32_t cap) {
  switch (below(9)) {
    case 0: /* a few random bytes anywhere */
      for (int i = 0, n = 1 + (int)below(8); i < n && len > 0; i++) p[below((uint32_t)len)] = (uint8_t)rnd();
      return len;
    case 1: /* bytes in the headers */
      for (int i = 0, n = 1 + (int)below(4); i < n && len > 0; i++)
        p[below((uint32_t)(len < 120 ? len : 120))] ^= (uint8_t)(1u << below(8));
      return len;
    case 2: /* truncated */
      return (int32_t)below((uint32_t)len + 1);
    case 3: { /* extended with garbage */
      int32_t n = len + 1 + (int32_t)below(3000);
      if (n > cap) n = cap;
      fill_random(p + len, (size_t)(n - len));
      return n;
    }
    case 4: /* IPv4 header length */
      if (len > 0) p[0] = (uint8_t)((p[0] & 0xf0) | below(16));
      return len;
    case 5: /* IPv6 payload length */
      if (len >= 26) wr16(p + 24, rnd());
      return len;
    case 6: /* TCP data offset / UDP length */
      if (len >= 73) p[72] = (uint8_t)rnd();
      if (len >= 66) wr16(p + 64, rnd());
      return len;
    case 7: /* next header */
      if (len >= 27) p[26] = (uint8_t)(below(2) ? 6 : 17);
      return len;
    default: /* length far off: the biggest a raw socket can hand over */
      if (cap >= 65535) {
        fill_random(p + len, (size_t)(65535 - len > 0 ? 65535 - len : 0));
        return 65535 > len ? 65535 : len;
      }
      return len;
  }
}

static void fuzz_complete_gro(int iterations, time_t deadline) {
  static uint8_t work[70000], before[70000];
  long results[KINDS][3] = {{0}};
  long completed_ok = 0, runs = 0;
  for (int it = 0; it < iterations && time(NULL) < deadline; it++) {
    int k = (int)below(KINDS);
    int32_t len = make_6in4(work, k);
    int mutated = below(3) != 0; /* two in three mutated, the rest as built */
    if (mutated) {
      for (int m = 0, n = 1 + (int)below(3); m < n; m++) len = mutate(work, len, (int32_t)sizeof work);
    }
    /* Exactly len bytes on the heap: one byte beyond is an ASan report. */
    uint8_t *pkt = malloc(len > 0 ? (size_t)len : 1);
    CHECK(pkt != NULL, "malloc");
    memcpy(pkt, work, (size_t)len);
    memcpy(before, work, (size_t)len);
    int32_t seg = -1;
    int r = complete_gro_6in4(pkt, len, &seg);
    CHECK(r >= -1 && r <= 1, "result %d", r);
    /* a cut size only for a usable merge, and one that leaves more than one segment */
    CHECK((r == 1 || seg == 0) && (seg == 0 || (seg < 0 ? -seg : seg) < len - 20 - 60),
          "seg %d, result %d", seg, r);
    results[k][r + 1]++;
    runs++;
    if (r != 1) {
      CHECK(memcmp(pkt, before, (size_t)len) == 0, "kind %s, result %d: packet changed",
            KIND_NAMES[k], r);
    } else if (memcmp(pkt, before, (size_t)len) != 0) {
      check_tcp_csum_completed(pkt, before, len);
      completed_ok++;
    }
    free(pkt);
  }
  printf("complete_gro_6in4: %ld inputs, %ld checksums completed and verified\n", runs, completed_ok);
  for (int k = 0; k < KINDS; k++)
    printf("complete_gro_6in4 %s: unusable %ld, left %ld, usable %ld\n", KIND_NAMES[k],
           results[k][0], results[k][1], results[k][2]);
}

/* --- gro_group -------------------------------------------------------------------------------- */

/* One batch of n packets as decapsulation hands them to writeTun: flows of TCP segments and UDP
 * datagrams, interleaved, some oversized (merged on the way in), some mutated or random. */
static int make_batch(uint8_t **ptrs, int32_t *lens, int n) {
  static uint8_t work[70000];
  uint32_t seq[4] = {rnd(), rnd(), rnd(), rnd()};
  int mss[4] = {500 + (int)below(1000), 1000 + (int)below(400), 64 + (int)below(200), 1220};
  for (int i = 0; i < n; i++) {
    int flow = (int)below(4);
    int32_t len;
    switch (below(8)) {
      case 0:
      case 1:
      case 2: { /* the next segment of a TCP flow */
        int thl = flow == 3 ? 32 : 20;
        int pay = below(6) == 0 ? 1 + (int)below((uint32_t)mss[flow]) : mss[flow];
        uint8_t fl = below(10) == 0 ? (TCP_ACK | TCP_PSH) : below(30) == 0 ? (TCP_ACK | TCP_FIN) : TCP_ACK;
        tcp_segment(work, thl, seq[flow], fl, pay, (uint8_t)flow);
        len = 40 + thl + pay;
        tcp_checksum(work, len);
        if (below(8) != 0) seq[flow] += (uint32_t)pay; /* else: the same segment again */
        break;
      }
      case 3:
      case 4: /* a UDP datagram of the flow's size */
        udp_datagram(work, below(8) == 0 ? (int)below(1400) : mss[flow], (uint8_t)flow);
        len = 40 + rd16(work + 4);
        break;
      case 5: { /* oversized: a merged TCP run, plain GRO (verifies) or fraglist */
        int thl = 20, seg = 1200 + (int)below(200), segs = 2 + (int)below(20);
        int pay = seg * segs;
        tcp_segment(work, thl, seq[flow], TCP_ACK, pay, (uint8_t)flow);
        len = 40 + thl + pay;
        if (below(2)) {
          tcp_checksum(work, len);
        } else {
          first_segment_csum(work, thl, seg);
        }
        seq[flow] += (uint32_t)pay;
        break;
      }
      case 6: /* mutated segment */
        tcp_segment(work, 20, seq[flow], TCP_ACK, mss[flow], (uint8_t)flow);
        len = 40 + 20 + mss[flow];
        tcp_checksum(work, len);
        len = mutate(work, len, (int32_t)sizeof work);
        break;
      default: /* anything */
        len = (int32_t)below(1600);
        fill_random(work, (size_t)len);
        if (len > 0 && below(2)) work[0] = 0x60;
        break;
    }
    ptrs[i] = malloc(len > 0 ? (size_t)len : 1);
    CHECK(ptrs[i] != NULL, "malloc");
    memcpy(ptrs[i], work, (size_t)len);
    lens[i] = len;
  }
  return n;
}

static void fuzz_gro_group(int iterations, time_t deadline) {
  static gro_scratch_t g;
  static uint8_t flat[3 * 65536];
  long units = 0, coalesced = 0, packets = 0, super_packets = 0, oversized = 0, batches = 0;
  for (int it = 0; it < iterations && time(NULL) < deadline; it++) {
    uint8_t *ptrs[SEND_CHUNK];
    int32_t lens[SEND_CHUNK];
    int n = 1 + (int)below(SEND_CHUNK);
    make_batch(ptrs, lens, n);
    int vnet = (int)below(4) != 0, uso = vnet && below(2);
    static const int mtus[] = {0, 1280, 1480, 1500, 9000};
    tun_offload_t stats;
    memset(&stats, 0, sizeof stats);
    stats.vnet = (uint8_t)vnet;
    stats.uso = (uint8_t)uso;
    stats.mtu = mtus[below(5)];
    /* Half the batches with segment sizes as packet_receive gives them (gro_group_gso): any
     * size, on any packet, merged or not. */
    int32_t gsos[SEND_CHUNK];
    int given = (int)below(2);
    for (int i = 0; i < n; i++) gsos[i] = below(3) == 0 ? 0 : (int32_t)below(70000) - 1000;
    int nu = gro_group_gso(&g, vnet, uso, ptrs, lens, given ? gsos : NULL, n,
                           vnet ? &stats : NULL);
    batches++;
    CHECK(nu >= 1 && nu <= n, "%d units for %d packets", nu, n);
    int seen[SEND_CHUNK] = {0};
    int total_packets = 0;
    for (int u = 0; u < nu; u++) {
      wunit_t *w = &g.w[u];
      CHECK(w->niov >= 1 && w->packets >= 1, "unit %d: %d iovecs, %d packets", u, w->niov, w->packets);
      /* Every byte of every iovec is read (ASan checks each range). */
      size_t at = 0;
      for (int v = 0; v < w->niov; v++) {
        CHECK(at + w->iov[v].iov_len <= sizeof flat, "unit %d longer than any TUN write", u);
        memcpy(flat + at, w->iov[v].iov_base, w->iov[v].iov_len);
        at += w->iov[v].iov_len;
      }
      total_packets += w->packets;
      units++;
      int first = vnet ? 1 : 0;
      const vnet_hdr_t *vh = vnet ? (const vnet_hdr_t *)w->iov[0].iov_base : NULL;
      if (vnet) CHECK(w->iov[0].iov_len == sizeof(vnet_hdr_t), "vnet header first");
      if (vh == NULL || vh->gso_type == VNET_GSO_NONE) {
        /* One packet as it came. */
        CHECK(w->packets == 1 && w->niov == first + 1, "plain unit: 1 packet, 1 iovec");
        int i;
        for (i = 0; i < n; i++)
          if (ptrs[i] == w->iov[first].iov_base && lens[i] == (int32_t)w->iov[first].iov_len) break;
        CHECK(i < n, "plain unit %d is not one of the packets", u);
        CHECK(!seen[i], "packet %d written twice", i);
        seen[i] = 1;
        packets++;
        continue;
      }
      /* A super-packet: header copy, then the members' payloads in packet order. */
      super_packets++;
      CHECK(vh->flags == VNET_F_NEEDS_CSUM && vh->csum_start == 40, "GSO vnet header");
      int tcp = vh->gso_type == VNET_GSO_TCPV6;
      CHECK(tcp || (vh->gso_type == VNET_GSO_UDP_L4 && uso), "gso type %d (uso %d)", vh->gso_type, uso);
      CHECK(vh->csum_offset == (tcp ? 16 : 6), "csum offset");
      const uint8_t *h = w->iov[1].iov_base;
      int hl = (int)w->iov[1].iov_len;
      CHECK(hl == vh->hdr_len && hl >= 48 && hl <= 100, "header length %d / %d", hl, vh->hdr_len);
      size_t body = at - sizeof(vnet_hdr_t) - (size_t)hl;
      CHECK(40 + rd16(h + 4) == hl + (int)body, "IPv6 payload length %u, header %d + data %zu",
            rd16(h + 4), hl, body);
      CHECK(vh->gso_size > 0 && body > 0, "gso size %u, data %zu", vh->gso_size, body);
      int prev = -1, count = 0;
      for (int v = 2; v < w->niov; v++) {
        int i;
        for (i = 0; i < n; i++)
          if (ptrs[i] + hl == (uint8_t *)w->iov[v].iov_base &&
              lens[i] - hl == (int32_t)w->iov[v].iov_len)
            break;
        CHECK(i < n, "super-packet %d: iovec %d is no packet's payload", u, v);
        CHECK(i > prev, "super-packet %d: packets out of order (%d after %d)", u, i, prev);
        CHECK(!seen[i], "packet %d written twice", i);
        CHECK(w->packets == 1 || (memcmp(ptrs[i], h, 4) == 0 && ptrs[i][6] == h[6] &&
                                  ptrs[i][7] == h[7] && memcmp(ptrs[i] + 8, h + 8, 36) == 0),
              "super-packet %d: member %d of another flow", u, i);
        CHECK(w->packets == 1 || (int)w->iov[v].iov_len <= vh->gso_size,
              "member of %zu bytes over gso size %u", w->iov[v].iov_len, vh->gso_size);
        seen[i] = 1;
        prev = i;
        count++;
      }
      CHECK(count == w->packets, "super-packet %d: %d members, says %d", u, count, w->packets);
      if (w->packets == 1) {
        oversized++;
        int32_t seg = given ? gsos[prev] : 0;
        if (seg > 0) {
          /* cut at the size it came with, no larger than the MTU; UDP only with USO */
          CHECK(tcp || uso, "UDP super-packet without USO");
          CHECK((int)body > (int)vh->gso_size && vh->gso_size <= seg,
                "given %d: cut at %u, %zu bytes of data", seg, vh->gso_size, body);
          CHECK(!tcp || stats.mtu < 1280 || vh->gso_size + hl <= stats.mtu,
                "merged unit cut at %u + %d > MTU %d", vh->gso_size, hl, stats.mtu);
        } else {
          CHECK(tcp && stats.mtu >= 1280 && hl + (int)body > stats.mtu, "oversized unit over MTU");
          CHECK(vh->gso_size + hl <= stats.mtu, "oversized unit cut at %u + %d > MTU %d",
                vh->gso_size, hl, stats.mtu);
        }
      } else {
        coalesced += w->packets;
      }
      packets += w->packets;
    }
    CHECK(total_packets == n, "%d packets in units, %d given", total_packets, n);
    for (int i = 0; i < n; i++) {
      CHECK(seen[i], "packet %d (len %d) not written", i, lens[i]);
      free(ptrs[i]);
    }
  }
  printf("gro_group: %ld batches, %ld packets, %ld units, %ld super-packets (%ld packets coalesced, %ld oversized)\n",
         batches, packets, units, super_packets, coalesced, oversized);
}

/* --- complete_csum ------------------------------------------------------------------------------ */

static void fuzz_complete_csum(int iterations, time_t deadline) {
  long done = 0, refused = 0;
  for (int it = 0; it < iterations && time(NULL) < deadline; it++) {
    size_t len = below(1600);
    uint8_t *p = malloc(len ? len : 1);
    CHECK(p != NULL, "malloc");
    fill_random(p, len);
    vnet_hdr_t h = {VNET_F_NEEDS_CSUM, 0, 0, 0, (uint16_t)rnd(), (uint16_t)rnd()};
    if (below(2)) {
      h.csum_start = (uint16_t)(below((uint32_t)len + 8) & ~1u);
      h.csum_offset = below(2) ? 6 : 16;
    }
    if (complete_csum(p, len, &h))
      done++;
    else
      refused++;
    free(p);
  }
  printf("complete_csum: %ld completed, %ld refused\n", done, refused);
}

/* --- TUN reads with vnet headers: drain_tun_vnet, take_read, gso_emit ---------------------------- */

/* What the kernel hands a vnet TUN reader: [vnet header][packet], one message per read. A
 * SOCK_SEQPACKET socketpair keeps the message boundaries, as the TUN does, so drain_tun_vnet runs
 * unchanged on it (through io_uring or readv). */
typedef struct {
  uint8_t *data; /* expected packet */
  int32_t len;
} expect_t;

#define MAX_EXPECT 16384
static expect_t expected[MAX_EXPECT];
static int n_expected;

static void expect_packet(const uint8_t *q, int32_t len) {
  CHECK(n_expected < MAX_EXPECT, "too many expected packets");
  expected[n_expected].data = malloc((size_t)len);
  memcpy(expected[n_expected].data, q, (size_t)len);
  expected[n_expected].len = len;
  n_expected++;
}

/* A well-formed read of `kind` that fits slots of cap bytes: sends it, records its packets. */
static size_t valid_read(uint8_t *msg, int32_t cap) {
  vnet_hdr_t h = {0, VNET_GSO_NONE, 0, 0, 0, 0}; /* a plain packet */
  uint8_t *q = msg + sizeof h;
  int32_t len;
  int thl = 20 + 4 * (int)below(4);
  switch (below(4)) {
    case 0: { /* TCP segment, checksum left to us (CHECKSUM_PARTIAL) */
      int pay = (int)below((uint32_t)(cap - 40 - thl < 1400 ? cap - 40 - thl : 1400) + 1);
      tcp_segment(q, thl, rnd(), TCP_ACK, pay, 1);
      len = 40 + thl + pay;
      tcp_checksum(q, len);
      expect_packet(q, len);
      pseudo_sum_in_field(q, len);
      h.flags = VNET_F_NEEDS_CSUM;
      h.csum_start = 40;
      h.csum_offset = 16;
      break;
    }
    case 1: { /* UDP datagram, checksum left to us */
      int pay = (int)below((uint32_t)(cap - 48 < 1400 ? cap - 48 : 1400) + 1);
      udp_datagram(q, pay, 2);
      len = 48 + pay;
      expect_packet(q, len);
      pseudo_sum_in_field(q, len);
      h.flags = VNET_F_NEEDS_CSUM;
      h.csum_start = 40;
      h.csum_offset = 6;
      break;
    }
    case 2: { /* complete packet */
      int pay = (int)below((uint32_t)(cap - 48 < 1400 ? cap - 48 : 1400) + 1);
      udp_datagram(q, pay, 3);
      len = 48 + pay;
      expect_packet(q, len);
      break;
    }
    default: { /* TCP super-packet (TSO from a LAN host): cut into segments of gso_size */
      int hl = 40 + thl;
      int tiny = below(8) == 0; /* tiny segments: many per read */
      int mss = tiny ? 1 + (int)below(64) : 400 + (int)below(1100);
      if (hl + mss > cap) mss = cap - hl;
      int pay = 1 + (int)below(tiny ? 2000 : (uint32_t)(65535 - hl));
      uint32_t seq = rnd();
      uint8_t fl = (uint8_t)(TCP_ACK | (below(2) ? TCP_PSH : 0) | (below(4) ? 0 : TCP_FIN) |
                             (below(4) ? 0 : TCP_CWR));
      tcp_segment(q, thl, seq, fl, pay, 4);
      len = hl + pay;
      static uint8_t seg[65536];
      for (int at = 0; at < pay; at += mss) {
        int n = pay - at < mss ? pay - at : mss;
        int last = at + n >= pay;
        memcpy(seg, q, (size_t)hl);
        memcpy(seg + hl, q + hl + at, (size_t)n);
        wr16(seg + 4, (uint32_t)(thl + n));
        wr32(seg + 44, seq + (uint32_t)at);
        if (!last) seg[53] &= (uint8_t)~(TCP_FIN | TCP_PSH);
        if (at != 0) seg[53] &= (uint8_t)~TCP_CWR;
        tcp_checksum(seg, hl + n);
        expect_packet(seg, hl + n);
      }
      h.flags = VNET_F_NEEDS_CSUM;
      h.gso_type = VNET_GSO_TCPV6 | (below(8) ? 0 : VNET_GSO_ECN);
      h.hdr_len = (uint16_t)hl;
      h.gso_size = (uint16_t)mss;
      h.csum_start = 40;
      h.csum_offset = 16;
      break;
    }
  }
  memcpy(msg, &h, sizeof h);
  return sizeof h + (size_t)len;
}

/* A read no kernel would hand over: header fields and packet at random or mutated. */
static size_t hostile_read(uint8_t *msg) {
  vnet_hdr_t h;
  fill_random((uint8_t *)&h, sizeof h);
  static const uint8_t types[] = {VNET_GSO_NONE, VNET_GSO_TCPV6, VNET_GSO_UDP_L4, 0x84, 3};
  if (below(2)) h.gso_type = types[below(5)];
  if (below(2)) h.csum_start = (uint16_t)(40 + 4 * below(20));
  if (below(2)) h.csum_offset = 16;
  if (below(3) == 0) h.gso_size = (uint16_t)below(3);
  uint8_t *q = msg + sizeof h;
  int32_t len;
  if (below(2)) {
    int thl = 20 + 4 * (int)below(11);
    int pay = (int)below(66000 - 100);
    if (40 + thl + pay > 65535) pay = 65535 - 40 - thl;
    tcp_segment(q, thl, rnd(), (uint8_t)rnd(), pay, 5);
    len = mutate(q, 40 + thl + pay, 65536 + 300);
  } else {
    len = (int32_t)below(2000);
    fill_random(q, (size_t)len);
  }
  memcpy(msg, &h, sizeof h);
  return sizeof h + (size_t)len;
}

/* Drains as on_poll does, until the socket is empty and nothing is left to hand over; matches
 * what comes out against the expected packets in order (*e: the next one expected). */
typedef struct {
  long out_packets, matched, extra, cut_on_send;
} tally_t;

static void match_packet(const uint8_t *got, int32_t sz, int any_hostile, int round, int i, int *e,
                         tally_t *t) {
  t->out_packets++;
  if (*e < n_expected && expected[*e].len == sz && memcmp(expected[*e].data, got, (size_t)sz) == 0) {
    (*e)++;
    t->matched++;
  } else {
    CHECK(any_hostile, "round %d: packet %d (%d bytes) is not the expected %d of %d (%d bytes)",
          round, i, sz, *e, n_expected, *e < n_expected ? expected[*e].len : -1);
    t->extra++;
  }
}

/* A super-packet handed over whole (gso_info): encapsulated in its slot's headroom as the path
 * does, then cut as sendRaw4 cuts it (gso_send_seg); every segment is matched like a packet cut
 * on read, and its IPv4 header checked (length, ID stepping, checksum). */
static void match_cut_super(rx_ring_t *p, int i, int any_hostile, int round, int *e, tally_t *t) {
  uint8_t *enc = p->bufs[i];
  int32_t sz = p->sizes[i];
  uint32_t id = rnd() & 0xffff;
  pkt_ip4_proto41(enc, 0, (uint16_t)id, 0); /* the cut writes each segment's length */
  gso_send_t g;
  CHECK(gso_info_ok(enc + 20, sz, p->gso_info[i], &g), "round %d: slot %d: gso %#x refused",
        round, i, (unsigned)p->gso_info[i]);
  static uint8_t seg[SEG_SCRATCH + 65536];
  int32_t pay = 0;
  for (int k = 0; k < g.segs; k++) {
    int n = gso_send_seg(seg, enc, sz + 20, &g, k);
    CHECK(n > 0 && n <= g.mss, "segment %d of %d: %d bytes, mss %d", k, g.segs, n, g.mss);
    memcpy(seg + 20 + g.hl, enc + 20 + g.hl + (size_t)k * (size_t)g.mss, (size_t)n);
    CHECK(rd16(seg + 2) == (uint32_t)(20 + g.hl + n), "IPv4 total length %u", rd16(seg + 2));
    CHECK(rd16(seg + 4) == ((id + (uint32_t)k * IPV4_SEGMENT_ID_STEP) & 0xffff), "IPv4 ID %u, segment %d",
          rd16(seg + 4), k);
    CHECK(csum_fold(csum_add(0, seg, 20)) == 0xffff, "IPv4 header checksum, segment %d", k);
    match_packet(seg + 20, g.hl + n, any_hostile, round, i, e, t);
    pay += n;
  }
  CHECK(pay == sz - g.hl, "segments carry %d of %d payload bytes", pay, sz - g.hl);
  t->cut_on_send++;
}

static void drain_all(rx_ring_t *p, int m, int any_hostile, int round, int *e, tally_t *t) {
  int idle = 0;
  for (int guard = 0; guard < 100000 && idle < 2; guard++) {
    int err = 0;
    int n = drain_tun_vnet(p, &err);
    CHECK(err == 0, "read error %s", strerror(err));
    CHECK(n >= 0 && n <= m, "%d packets for %d slots", n, m);
    for (int i = 0; i < n; i++) {
      int32_t sz = p->sizes[i];
      CHECK(sz >= 0 && (size_t)sz <= p->caps[i] - 20, "size %d in a slot of %zu", sz,
            p->caps[i] - 20);
      if (p->gso_info != NULL && p->gso_info[i] != 0)
        match_cut_super(p, i, any_hostile, round, e, t);
      else
        match_packet(p->bufs[i] + 20, sz, any_hostile, round, i, e, t);
    }
    idle = n == 0 && p->gso_pos == 0 && p->q_n == 0 ? idle + 1 : 0;
  }
}

static void fuzz_tun_read(int rounds, time_t deadline, int use_uring) {
  int sv[2];
  fuzz_socketpair(SOCK_SEQPACKET, sv);
  if (use_uring) uring_open(&fuzz_uring);
  static uint8_t msg[66000 + sizeof(vnet_hdr_t)];
  long reads = 0, hostile = 0;
  tally_t tally = {0, 0, 0, 0};
  tun_offload_t stats;
  memset(&stats, 0, sizeof stats);
  stats.vnet = 1;
  for (int round = 0; round < rounds && time(NULL) < deadline; round++) {
    rx_ring_t *p = calloc(1, sizeof *p);
    int m = 1 + (int)below(64);
    int small = below(3) == 0; /* slots smaller than a super-packet: the spill, cut limits */
    p->fd = sv[0];
    p->max = m;
    p->offset = 20;
    p->off = &stats;
    p->uring = &fuzz_uring;
    p->bufs = calloc((size_t)m, sizeof *p->bufs);
    p->caps = calloc((size_t)m, sizeof *p->caps);
    p->sizes = calloc((size_t)m, sizeof *p->sizes);
    p->q_pos = calloc((size_t)m, sizeof *p->q_pos);
    p->q_len = calloc((size_t)m, sizeof *p->q_len);
    p->q_hdr = calloc((size_t)m, sizeof *p->q_hdr);
    p->gso_buf = malloc(GSO_BUF_BYTES);
    /* Half the rounds hand super-packets over whole (the data plane's rings), the rest cut them
     * on read; whole ones are stale in gso_info unless the read path writes every slot's. */
    if (below(2)) {
      p->gso_info = malloc((size_t)m * sizeof *p->gso_info);
      for (int i = 0; i < m; i++) p->gso_info[i] = (int32_t)rnd();
    }
    size_t cap_min = SIZE_MAX;
    for (int i = 0; i < m; i++) {
      p->caps[i] = small ? 200 + below(3800) : 65536;
      p->bufs[i] = malloc(p->caps[i]);
      if (p->caps[i] - 20 < cap_min) cap_min = p->caps[i] - 20;
    }
    size_t need = cap_min >= 65536 + 256 ? 64 : 65536 + 256 - cap_min;
    p->spill_bytes = (need + 63) & ~(size_t)63;
    p->spill = malloc(p->spill_bytes * (size_t)m);
    n_expected = 0;
    int any_hostile = 0, e = 0;
    for (int r = 0, nr = 1 + (int)below(24); r < nr; r++) {
      size_t len;
      if (below(4) == 0) {
        len = hostile_read(msg);
        any_hostile = 1;
        hostile++;
      } else {
        len = valid_read(msg, (int32_t)cap_min);
      }
      /* Without SO_SNDBUFFORCE (not root) the socket holds less: drain, then send again. */
      while (send(sv[1], msg, len, 0) != (ssize_t)len) {
        CHECK(errno == EAGAIN || errno == EWOULDBLOCK, "send: %s", strerror(errno));
        drain_all(p, m, any_hostile, round, &e, &tally);
      }
      reads++;
    }
    drain_all(p, m, any_hostile, round, &e, &tally);
    CHECK(e == n_expected, "round %d: %d of %d expected packets came out (slots %d, small %d)", round,
          e, n_expected, m, small);
    for (int i = 0; i < n_expected; i++) free(expected[i].data);
    fuzz_ring_free(p);
  }
  printf("tun reads (%s): %ld reads (%ld hostile), %ld packets out, %ld as expected, %ld from hostile reads, %.0f super-packets cut, %.0f dropped, %ld handed over whole and cut on send\n",
         use_uring ? (fuzz_uring.fd >= 0 && fuzz_uring.reads ? "io_uring" : "io_uring unavailable: readv") : "readv",
         reads, hostile, tally.out_packets, tally.matched, tally.extra, stats.super_packets_read,
         stats.dropped, tally.cut_on_send);
  uring_close(&fuzz_uring);
  close(sv[0]);
  close(sv[1]);
}

/* --- super-packets cut while sending: gso_info_ok, gso_send_seg --------------------------------- */

/* sendRaw4's cutter on hostile entries: packets (well-formed super-packets, mutated, random) and
 * gso values (right, near, random), each packet in a buffer of exactly its length and each
 * segment's headers in scratch of exactly 20 + hl bytes. Whatever gso_info_ok accepts is cut
 * without a byte outside; the segments carry the payload exactly once, and each one's TCP
 * checksum verifies. */
static void fuzz_gso_send(int iterations, time_t deadline) {
  long accepted = 0, refused = 0, segments = 0;
  static uint8_t work[65536 + 400];
  for (int it = 0; it < iterations && time(NULL) < deadline; it++) {
    int thl = 20 + 4 * (int)below(11);
    int th = 40;
    int pay = 1 + (int)below(below(4) ? 3000 : 65000);
    if (20 + th + thl + pay > 65535) pay = 65535 - 20 - th - thl;
    uint8_t *q = work + 20;
    tcp_segment(q, thl, rnd(), (uint8_t)rnd(), pay, 6);
    int32_t len = 20 + th + thl + pay;
    pkt_ip4_proto41(work, 0, 0, 0); /* the cut writes each segment's length */
    if (below(4) == 0) len = 20 + mutate(q, len - 20, (int32_t)sizeof work - 20);
    if (below(8) == 0) work[0] = (uint8_t)rnd();
    int mss = below(4) ? 1 + (int)below(1500) : (int)(rnd() & 0xffff);
    int32_t info = below(4) ? (int32_t)((uint32_t)th << 16 | (uint32_t)mss) : (int32_t)rnd();
    if (below(8) == 0) info = (int32_t)((uint32_t)(40 + 4 * below(60)) << 16 | (uint32_t)mss);
    uint8_t *p = malloc((size_t)len);
    memcpy(p, work, (size_t)len);
    gso_send_t g;
    if (p[0] != 0x45 || !gso_info_ok(p + 20, len - 20, info, &g)) {
      refused++;
      free(p);
      continue;
    }
    accepted++;
    uint8_t *h = malloc((size_t)(20 + g.hl));
    int32_t carried = 0;
    for (int k = 0; k < g.segs; k++) {
      int n = gso_send_seg(h, p, len, &g, k);
      CHECK(n > 0 && n <= g.mss, "segment %d of %d: %d bytes", k, g.segs, n);
      uint8_t *s6 = malloc((size_t)(g.hl + n));
      memcpy(s6, h + 20, (size_t)g.hl);
      memcpy(s6 + g.hl, p + 20 + g.hl + (size_t)k * (size_t)g.mss, (size_t)n);
      if (g.th == 40) CHECK(tcp6_csum_ok(s6, g.hl + n), "segment %d: TCP checksum", k);
      free(s6);
      carried += n;
      segments++;
    }
    CHECK(carried == len - 20 - g.hl, "segments carry %d of %d bytes", carried, len - 20 - g.hl);
    free(h);
    free(p);
  }
  printf("gso send: %ld super-packets cut into %ld segments, %ld refused\n", accepted, segments,
         refused);
}

/* --- raw protocol-41 socket reads: drain_socket ------------------------------------------------ */

/* drain_socket over a SOCK_DGRAM socketpair (datagram boundaries as a raw socket keeps them):
 * recvmmsg into ring slots of various sizes, MSG_TRUNC for datagrams longer than their slot
 * (size 0: every parser drops it), complete_gro_6in4 on each. A datagram comes out as sent unless
 * it was a merged TCP run whose checksum was completed (then only that field differs). */
static void fuzz_raw_read(int rounds, time_t deadline) {
  int sv[2];
  fuzz_socketpair(SOCK_DGRAM, sv);
  static uint8_t sent[64][66000];
  int32_t sent_len[64];
  long datagrams = 0, truncated = 0, completed = 0;
  for (int round = 0; round < rounds && time(NULL) < deadline; round++) {
    rx_ring_t *p = calloc(1, sizeof *p);
    int m = 1 + (int)below(64);
    p->fd = sv[0];
    p->kind = POLL_KIND_RAW4;
    p->max = m;
    p->offset = 0;
    p->bufs = calloc((size_t)m, sizeof *p->bufs);
    p->caps = calloc((size_t)m, sizeof *p->caps);
    p->sizes = calloc((size_t)m, sizeof *p->sizes);
    p->addrs4 = calloc((size_t)m, sizeof *p->addrs4);
    p->msgs = calloc((size_t)m, sizeof *p->msgs);
    p->iovs = calloc((size_t)m, sizeof *p->iovs);
    p->names = calloc((size_t)m, sizeof *p->names);
    for (int i = 0; i < m; i++) {
      p->caps[i] = below(4) == 0 ? 100 + below(2000) : 65536;
      p->bufs[i] = malloc(p->caps[i]);
      p->iovs[i] = (struct iovec){p->bufs[i], p->caps[i]};
    }
    int n = 1 + (int)below((uint32_t)m); /* no more than one batch: all come out in one drain */
    for (int i = 0; i < n; i++) {
      int32_t len = make_6in4(sent[i], (int)below(KINDS));
      if (below(2)) len = mutate(sent[i], len, 65507); /* the largest AF_UNIX datagram here */
      if (len > 65507) len = 65507;
      sent_len[i] = len;
      if (send(sv[1], sent[i], (size_t)len, 0) != (ssize_t)len) {
        /* The send buffer is full (no SO_SNDBUFFORCE when not root): this round ends here. */
        CHECK(i > 0 && (errno == EAGAIN || errno == EWOULDBLOCK), "send %d bytes: %s", len,
              strerror(errno));
        n = i;
        break;
      }
    }
    int err = 0;
    long round_truncated = 0;
    int got = drain_socket(p, &err);
    CHECK(err == 0, "recvmmsg: %s", strerror(err));
    CHECK(got == n, "round %d: %d datagrams read of %d sent", round, got, n);
    for (int i = 0; i < n; i++) {
      datagrams++;
      if ((size_t)sent_len[i] > p->caps[i]) {
        CHECK(p->sizes[i] == 0, "a truncated datagram has size %d", p->sizes[i]);
        truncated++;
        round_truncated++;
        continue;
      }
      CHECK(p->sizes[i] == sent_len[i], "datagram %d: size %d, sent %d", i, p->sizes[i], sent_len[i]);
      if (memcmp(p->bufs[i], sent[i], (size_t)sent_len[i]) != 0) {
        check_tcp_csum_completed(p->bufs[i], sent[i], sent_len[i]);
        completed++;
      }
    }
    CHECK(p->truncated == (double)round_truncated, "truncated counter %.0f, expected %ld",
          p->truncated, round_truncated);
    fuzz_ring_free(p);
  }
  printf("raw reads: %ld datagrams, %ld truncated (size 0), %ld TCP checksums completed\n",
         datagrams, truncated, completed);
  close(sv[0]);
  close(sv[1]);
}

/* --- error-queue reads: drain_errqueue --------------------------------------------------------- */

/* Waits (bounded) until fd has something in its error queue. */
static int wait_err(int fd, int ms) {
  struct pollfd pf = {.fd = fd, .events = 0};
  return poll(&pf, 1, ms) > 0 && (pf.revents & POLLERR);
}

/* drain_errqueue on a UDP socket with IP_RECVERR connected to a closed loopback port: every
 * datagram sent comes back as an ICMP port unreachable (loopback is not rate-limited) quoting it.
 * Error rings of 1..16 slots of 64..576 bytes, or none (counted only): a message never overruns
 * its slot, its quoted bytes are a prefix of the datagram it is about, in the order sent, type 3
 * code 3, and icmp4_errs counts every message. */
static void fuzz_errqueue(int rounds, time_t deadline) {
  int fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
  int one = 1;
  CHECK(fd >= 0 && setsockopt(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one) == 0,
        "UDP socket with IP_RECVERR: %s", strerror(errno));
  struct sockaddr_in a;
  memset(&a, 0, sizeof a);
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t al = sizeof a;
  int t = socket(AF_INET, SOCK_DGRAM, 0); /* a port nobody listens on: bound once, closed */
  CHECK(t >= 0 && bind(t, (struct sockaddr *)&a, sizeof a) == 0 &&
            getsockname(t, (struct sockaddr *)&a, &al) == 0,
        "closed port: %s", strerror(errno));
  close(t);
  CHECK(connect(fd, (struct sockaddr *)&a, sizeof a) == 0, "connect: %s", strerror(errno));
  static uint8_t sent[32][1400];
  int32_t sent_len[32];
  long messages = 0, cut = 0;
  for (int round = 0; round < rounds && time(NULL) < deadline; round++) {
    rx_ring_t *p = calloc(1, sizeof *p);
    p->fd = fd;
    p->kind = POLL_KIND_RAW4;
    int slots = below(4) == 0 ? 0 : 1 + (int)below(16);
    size_t slot = 64 + below(513);
    if (slots > 0) {
      p->eq_max = slots;
      p->eq_slot = slot;
      p->eq_buf = malloc((size_t)slots * slot);
      p->eq_meta = malloc((size_t)slots * ERRQ_META * sizeof(int32_t));
    }
    int n = 1 + (int)below(32);
    for (int i = 0; i < n; i++) {
      sent_len[i] = 1 + (int32_t)below(1400);
      fill_random(sent[i], (size_t)sent_len[i]);
      ssize_t r = send(fd, sent[i], (size_t)sent_len[i], 0);
      if (r < 0 && errno == ECONNREFUSED) /* the pending error of an earlier datagram */
        r = send(fd, sent[i], (size_t)sent_len[i], 0);
      CHECK(r == sent_len[i], "send %d bytes: %s", sent_len[i], strerror(errno));
    }
    int got = 0;
    while (got < n && wait_err(fd, 2000)) {
      int k = drain_errqueue(p);
      CHECK(k <= (slots > 0 ? slots : 64), "%d messages read into %d slots", k, slots);
      CHECK(got + k <= n, "%d messages about %d datagrams", got + k, n);
      for (int j = 0; slots > 0 && j < k; j++) {
        const int32_t *m = p->eq_meta + (size_t)j * ERRQ_META;
        int i = got + j;
        CHECK(m[0] == 3 && m[1] == 3, "type %d code %d, expected port unreachable", m[0], m[1]);
        CHECK(m[3] >= 0 && (size_t)m[3] <= slot && m[3] <= sent_len[i], "%d quoted bytes", m[3]);
        CHECK(memcmp(p->eq_buf + (size_t)j * slot, sent[i], (size_t)m[3]) == 0,
              "message %d does not quote datagram %d", j, i);
        if ((size_t)sent_len[i] <= slot && sent_len[i] <= 500)
          CHECK(m[3] == sent_len[i], "%d bytes quoted of %d", m[3], sent_len[i]);
        if (m[3] < sent_len[i]) cut++;
      }
      got += k;
      if (k == 0) break;
    }
    CHECK(got == n, "round %d: %d errors read of %d datagrams", round, got, n);
    CHECK(p->errqueue == (double)n && p->icmp4_errs[3] == (double)n,
          "counted %.0f (%.0f port unreachable) of %d", p->errqueue, p->icmp4_errs[3], n);
    messages += got;
    free(p->eq_buf);
    free(p->eq_meta);
    free(p);
  }
  printf("error queue: %ld ICMP errors read, %ld quoted packets cut to their slot\n", messages, cut);
  close(fd);
}

int main(int argc, char **argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: fuzz-native <seed> <iterations> <max seconds>\n");
    return 2;
  }
  rng_state = strtoull(argv[1], NULL, 10) * 2654435761u + 88172645463325252ULL;
  int iterations = atoi(argv[2]);
  time_t deadline = time(NULL) + atoi(argv[3]);
#ifdef FUZZ_SELFTEST
  size_t n = strlen(argv[1]) + 59; /* unknown at compile time: only ASan can see the overflow */
  uint8_t *p = malloc(n);
  memset(p, 0, n);
  volatile uint8_t x = p[n]; /* one past the end */
  (void)x;
  free(p);
#endif
  fuzz_complete_gro(iterations, deadline);
  fuzz_gro_group(iterations / 8, deadline);
  fuzz_complete_csum(iterations, deadline);
  fuzz_tun_read(iterations / 200, deadline, 0);
  fuzz_tun_read(iterations / 200, deadline, 1);
  fuzz_raw_read(iterations / 50, deadline);
  fuzz_errqueue(iterations / 200, deadline);
  fuzz_gso_send(iterations / 4, deadline);
  printf("done\n");
  return 0;
}
