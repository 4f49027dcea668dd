/*
 * pmt_native: the syscall layer of 6to4-pmt (STYLE example 11).
 *
 * Node-API (NAPI_VERSION 8) for everything JavaScript sees, plus libuv's stable uv_poll API for fd
 * readiness, so one build per architecture serves every Node version. Policy (what to send, how to
 * react to an error) lives in TypeScript (module/io/linux.ts); this file only opens descriptors,
 * moves packets between the kernel and caller-owned buffers, and reports errno names.
 *
 * Receive flow (one poller per fd):
 *   1. TypeScript hands over, once, a ring of N Buffers, a headroom offset, an Int32Array of sizes
 *      and (raw sockets) a Uint32Array / Uint8Array for source addresses.
 *   2. uv_poll reports readability; we drain up to N packets (recvmmsg on sockets, a read() loop on
 *      the TUN) straight into the ring at the offset and fill sizes/addresses in place.
 *   3. One JavaScript callback per batch with the packet count. Nothing is allocated per packet.
 *   4. The ring is reused for the next batch: JavaScript must be done with it when the callback
 *      returns.
 *
 * Pending socket errors: an ICMP error about a packet we sent (protocol unreachable from a peer
 * that has no protocol-41 socket yet, port unreachable, ...) sets sk_err on a raw socket. epoll
 * then reports EPOLLERR, libuv stops the uv_poll handle and calls us with UV_EBADF, and the next
 * send fails once with that stale error. Left alone the tunnel stops receiving forever. We read
 * (and so clear) SO_ERROR, drain the error queue, count it and restart polling; the send paths
 * retry a packet once when it fails with such a stale ICMP-derived error.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/uio.h>

/* musl toolchains (OpenWrt, musl-gcc) often ship without kernel UAPI headers: the three TUN
 * constants we need are stable ABI (include/uapi/linux/if_tun.h). */
#if defined(__has_include)
#if __has_include(<linux/if_tun.h>)
#include <linux/if_tun.h>
#endif
#endif
/* Classic BPF for the echo socket's filter: the same story, stable ABI
 * (include/uapi/linux/filter.h, bpf_common.h). */
#if defined(__has_include)
#if __has_include(<linux/filter.h>)
#include <linux/filter.h>
#endif
#endif
#ifndef BPF_STMT
struct sock_filter {
  uint16_t code;
  uint8_t jt;
  uint8_t jf;
  uint32_t k;
};
struct sock_fprog {
  unsigned short len;
  struct sock_filter *filter;
};
#define BPF_LD 0x00
#define BPF_JMP 0x05
#define BPF_RET 0x06
#define BPF_H 0x08
#define BPF_B 0x10
#define BPF_ABS 0x20
#define BPF_JEQ 0x10
#define BPF_K 0x00
#define BPF_STMT(code, k) {(unsigned short)(code), 0, 0, k}
#define BPF_JUMP(code, k, jt, jf) {(unsigned short)(code), jt, jf, k}
#endif
#ifndef SO_ATTACH_FILTER
#define SO_ATTACH_FILTER 26
#endif

#ifndef TUNSETIFF
#define TUNSETIFF _IOW('T', 202, int)
#endif
#ifndef IFF_TUN
#define IFF_TUN 0x0001
#endif
#ifndef IFF_NO_PI
#define IFF_NO_PI 0x1000
#endif
#ifndef IFF_VNET_HDR
#define IFF_VNET_HDR 0x4000
#endif
#ifndef TUNSETOFFLOAD
#define TUNSETOFFLOAD _IOW('T', 208, unsigned int)
#endif
#ifndef TUN_F_CSUM
#define TUN_F_CSUM 0x01
#endif
#ifndef TUN_F_TSO6
#define TUN_F_TSO6 0x04
#endif
#ifndef TUN_F_USO4
#define TUN_F_USO4 0x20
#endif
#ifndef TUN_F_USO6
#define TUN_F_USO6 0x40
#endif

#include <node_api.h>
#include <uv.h>

/* io_uring (Linux 5.3+) batches the TUN writes into one syscall; without it (older kernels,
 * OpenWrt builds without CONFIG_IO_URING, seccomp) the write loop is used. */
#if defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#if defined(__NR_io_uring_setup) && defined(__NR_io_uring_enter) && defined(IOSQE_IO_LINK)
#define PMT_HAVE_IO_URING 1
#endif
#endif
#endif

#define POLL_KIND_TUN 0
#define POLL_KIND_RAW4 1
#define POLL_KIND_ICMP6 2

/* Upper bound on one batch (ring size); the data plane uses 64. */
#define MAX_BATCH 1024
/* Per-call chunk for sendmmsg, kept on the stack. */
#define SEND_CHUNK 64
/* Consecutive EPOLLERR wake-ups without a packet before we give up and report the error. */
#define MAX_ERR_SPIN 64

/* One socket option in an open* function: on failure name the step and leave through `fail`
 * (which closes the fd and throws with errno). */
#define SETOPT_OR_FAIL(fd, level, name, val, len, what)  \
  do {                                                   \
    if (setsockopt(fd, level, name, val, len) < 0) {     \
      step = what;                                       \
      goto fail;                                         \
    }                                                    \
  } while (0)

/* Room for IPV6_PKTINFO + IPV6_HOPLIMIT control messages. */
#define ICMP6_CMSG_BYTES (CMSG_SPACE(sizeof(struct in6_pktinfo)) + CMSG_SPACE(sizeof(int)))

/* ---------------------------------------------------------------------------------------------
 * errno names and errors
 * ------------------------------------------------------------------------------------------- */

static const char *errno_name(int e) {
  switch (e) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(ENXIO) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT)
    E(EBUSY) E(EEXIST) E(ENODEV) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOSPC) E(ENOSYS) E(ENONET)
    E(EPROTO) E(EBADFD) E(ENOTSOCK) E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE) E(ENOPROTOOPT)
    E(EPROTONOSUPPORT) E(EOPNOTSUPP) E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN)
    E(ENETUNREACH) E(ENOBUFS) E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN) E(EHOSTUNREACH)
    E(ECONNRESET) E(ENOTCONN) E(ERANGE) E(E2BIG) E(ENOTTY)
#undef E
    default:
      return NULL;
  }
}

static napi_value make_errno_error(napi_env env, int err, const char *syscall, const char *what) {
  char code_buf[32];
  const char *code = errno_name(err);
  if (code == NULL) {
    snprintf(code_buf, sizeof code_buf, "ERRNO_%d", err);
    code = code_buf;
  }
  char msg[512];
  snprintf(msg, sizeof msg, "%s %s: %s (%s)", syscall, what ? what : "", code, strerror(err));
  napi_value code_v, msg_v, error, errno_v, syscall_v;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  return error;
}

static napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  napi_throw(env, make_errno_error(env, err, syscall, what));
  return NULL;
}

static napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

/* ICMP-derived errors that a raw socket reports for an EARLIER packet (sk_err), never for the
 * packet being sent or received now. */
static int is_stale_icmp_error(int e) {
  return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == ENOPROTOOPT ||
         e == EPROTO || e == EHOSTDOWN || e == ENONET;
}

/* The fd or the device behind it is gone: stop, do not retry. */
static int is_fatal_fd_error(int e) {
  return e == EBADF || e == EBADFD || e == ENXIO || e == ENODEV || e == ENOTSOCK;
}

/* ---------------------------------------------------------------------------------------------
 * argument helpers
 * ------------------------------------------------------------------------------------------- */

#define CHECK_ARGC(n)                                                  \
  size_t argc = (n);                                                   \
  napi_value argv[(n) > 0 ? (n) : 1];                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) \
    return NULL;

static int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

static int get_u32(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

static int get_str(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return 0;
  return len < cap - 1 || cap == 0 ? 1 : 0;
}

static int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 1;
  return t == napi_undefined || t == napi_null;
}

/* Any TypedArray: data pointer (already adjusted by byteOffset), element type and length. */
static int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data,
                     size_t *length) {
  /* napi_invalid_arg (no exception) for anything but a typed array; no ArrayBuffer handle asked
   * for: this runs per packet in the send paths (packet_at). */
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

static int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *length) {
  return get_typed(env, v, napi_uint8_array, (void **)data, length);
}

static int name_ok(const char *name) { return name[0] != 0 && strlen(name) < IFNAMSIZ; }

static napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

static napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

/* o[key] = v (a number). */
static void set_num(napi_env env, napi_value o, const char *key, double v) {
  napi_set_named_property(env, o, key, num(env, v));
}

/* ---------------------------------------------------------------------------------------------
 * TUN offload: virtio-net headers, TCP segmentation on read, TCP coalescing on write
 *
 * The kernel's cost per packet (forwarding, veth, the receiving TCP stack), which Linux runs in
 * the process that writes or sends the packet, dominates our CPU time. A TUN opened with
 * IFF_VNET_HDR carries a struct virtio_net_hdr in front of every packet, which lets whole TCP
 * super-packets (GSO) cross it:
 *   - read: TUNSETOFFLOAD(TUN_F_CSUM | TUN_F_TSO6) lets the kernel hand us a TCP super-packet
 *     (up to 64 KiB, one gso_size per segment) and packets whose TCP/UDP checksum is left to us
 *     (NEEDS_CSUM). We cut super-packets into ordinary segments (each with its full checksum,
 *     as the kernel's own software segmentation does) straight into the receive ring, and
 *     complete the checksums, so TypeScript still sees one ordinary IPv6 packet per slot.
 *   - write: consecutive in-order TCP segments of one flow within a batch (same addresses,
 *     ports, ACK, window and options, ACK or ACK|PSH only, equal sizes but the last one) are
 *     written as ONE super-packet, so the kernel forwards and delivers them once (GRO done in
 *     user space, as Linux does for a NIC). Each segment's checksum is verified first: a bad
 *     segment is written alone, unchanged, for the receiver to drop.
 * Either way every packet the data plane handles is still counted and checked one by one.
 * Header fields are in native byte order (the legacy virtio header, as the kernel reads it when
 * TUNSETVNETLE/BE are not used), so big-endian routers need no conversion.
 * ------------------------------------------------------------------------------------------- */

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

/* Largest packet a vnet TUN read can return: a 64 KiB super-packet plus headers. */
#define GSO_BUF_BYTES (65536 + 1024)
/* Segments merged into one super-packet at most (the kernel's GRO stops at 64 too). */
#define GRO_MAX_SEGS 64
/* Open coalescing candidates looked at per packet (flows interleaved in one batch). */
#define GRO_LOOKBACK 8

/* Offload state per TUN fd (fds are process-wide): set by openTun, cleared by close. */
#define TUN_FD_TABLE 1024
typedef struct {
  uint8_t vnet;
  uint8_t uso; /* the kernel takes UDP super-packets (VIRTIO_NET_HDR_GSO_UDP_L4, Linux 6.2+) */
  int mtu;     /* the device's MTU as setMtu set it (0: unknown) */
  double oversized; /* TCP packets longer than the MTU written as super-packets */
  double super_reads, segments, csum_completed, gso_dropped, gro_writes, gro_packets;
} tun_offload_t;
static tun_offload_t tun_off[TUN_FD_TABLE];

static tun_offload_t *tun_vnet(int fd) {
  return fd >= 0 && fd < TUN_FD_TABLE && tun_off[fd].vnet ? &tun_off[fd] : NULL;
}

static uint16_t rd16(const uint8_t *p) { return (uint16_t)((p[0] << 8) | p[1]); }
static uint32_t rd32(const uint8_t *p) {
  return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}
static void wr16(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 8);
  p[1] = (uint8_t)v;
}
static void wr32(uint8_t *p, uint32_t v) {
  p[0] = (uint8_t)(v >> 24);
  p[1] = (uint8_t)(v >> 16);
  p[2] = (uint8_t)(v >> 8);
  p[3] = (uint8_t)v;
}

/* One's complement sum (RFC 1071) of n bytes in memory order, accumulated in 64 bits; the
 * region must start at an even offset of the checksummed data. */
static uint64_t csum_add(uint64_t sum, const uint8_t *p, size_t n) {
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
static uint16_t csum_fold(uint64_t sum) {
  while (sum >> 16) sum = (sum & 0xffff) + (sum >> 16);
  return (uint16_t)sum;
}

/* IPv6 pseudo-header (RFC 8200 §8.1) of an upper-layer packet of `len` bytes, protocol nh. */
static uint64_t pseudo6(const uint8_t *ip6, uint32_t len, uint8_t nh) {
  uint8_t tail[8];
  wr32(tail, len);
  tail[4] = tail[5] = tail[6] = 0;
  tail[7] = nh;
  return csum_add(csum_add(0, ip6 + 8, 32), tail, 8);
}

/* NEEDS_CSUM: the checksum field holds the pseudo-header sum; sum [csum_start, len) and store
 * the complement. Returns 0 when the offsets do not fit the packet. */
static int complete_csum(uint8_t *pkt, size_t len, const vnet_hdr_t *h) {
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
static int udp6_csum_ok(const uint8_t *q, int32_t len) {
  uint32_t ul = (uint32_t)len - 40;
  return csum_fold(csum_add(pseudo6(q, ul, 17), q + 40, ul)) == 0xffff;
}

/* TCP checksum of an IPv6 packet with TCP at offset 40 is valid. */
static int tcp6_csum_ok(const uint8_t *q, int32_t len) {
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
static int32_t flist_first_len(const uint8_t *q, int32_t ql) {
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

static const vnet_hdr_t VNET_PLAIN = {0, VNET_GSO_NONE, 0, 0, 0, 0};

/*
 * Groups n packets (ptrs/lens) into write units: coalesced TCP super-packets (with a GSO vnet
 * header and a rewritten header copy) and single packets (plain vnet header, or none when
 * vnet is 0). Per flow the order is kept; flows may be reordered among themselves. Returns the
 * number of units in g->w.
 */
static int gro_group(gro_scratch_t *g, int vnet, int uso, uint8_t **ptrs, const int32_t *lens,
                     int n, tun_offload_t *stats) {
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
    if (proto == 6 && mtu >= 1280 && len > mtu) {
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
      stats->oversized++;
    } else if (stats) {
      stats->gro_writes++;
      stats->gro_packets += gu->count;
    }
  }
  return nu;
}

/* ---------------------------------------------------------------------------------------------
 * devices: TUN, MTU, flags, ifindex, network namespace
 * ------------------------------------------------------------------------------------------- */

/* openTun(name: string, offload?: boolean): { fd, name, offload: boolean }
 * IFF_TUN | IFF_NO_PI, O_NONBLOCK. With offload: IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM |
 * TUN_F_TSO6) (see "TUN offload" above); offload is false in the result when the kernel refuses
 * either (then the device works as without it). */
static napi_value open_tun(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  char name[64];
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name))
    return throw_type(env, "openTun(name): name must be a string of 1..15 bytes");
  bool want_offload = false;
  if (argc > 1 && !is_nullish(env, argv[1]) &&
      napi_get_value_bool(env, argv[1], &want_offload) != napi_ok)
    return throw_type(env, "openTun(name, offload?: boolean)");
  struct ifreq ifr;
  int fd = -1;
  int vnet = 0, uso = 0;
  for (int attempt = want_offload ? 0 : 1; attempt < 2; attempt++) {
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return throw_errno(env, errno, "open", "/dev/net/tun");
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (attempt == 0 ? IFF_VNET_HDR : 0);
    memcpy(ifr.ifr_name, name, strlen(name));
    if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
      int e = errno;
      close(fd);
      if (attempt == 0 && e == EINVAL) continue; /* no IFF_VNET_HDR here: plain TUN */
      return throw_errno(env, e, "ioctl(TUNSETIFF)", name);
    }
    if (attempt == 0) {
      if (fd >= TUN_FD_TABLE || ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO6)) < 0) {
        /* A persistent device keeps its flags: reopen it plain. */
        close(fd);
        continue;
      }
      vnet = 1;
      /* Does this kernel take UDP super-packets (USO, Linux 6.2+)? Ask for it, then switch it
       * off again: we write UDP super-packets but never want them on read. */
      const char *no_uso = getenv("PMT_NO_TUN_USO");
      if (!(no_uso != NULL && no_uso[0] != 0 && strcmp(no_uso, "0") != 0) &&
          ioctl(fd, TUNSETOFFLOAD,
                (unsigned long)(TUN_F_CSUM | TUN_F_TSO6 | TUN_F_USO4 | TUN_F_USO6)) == 0) {
        uso = 1;
        if (ioctl(fd, TUNSETOFFLOAD, (unsigned long)(TUN_F_CSUM | TUN_F_TSO6)) < 0) uso = 0;
      }
    }
    break;
  }
  if (fd >= 0 && fd < TUN_FD_TABLE) {
    memset(&tun_off[fd], 0, sizeof tun_off[fd]);
    tun_off[fd].vnet = (uint8_t)vnet;
    tun_off[fd].uso = (uint8_t)uso;
  }
  napi_value obj, fd_v, name_v, off_v;
  napi_create_object(env, &obj);
  napi_create_int32(env, fd, &fd_v);
  ifr.ifr_name[IFNAMSIZ - 1] = 0;
  napi_create_string_utf8(env, ifr.ifr_name, NAPI_AUTO_LENGTH, &name_v);
  napi_get_boolean(env, vnet, &off_v);
  napi_set_named_property(env, obj, "fd", fd_v);
  napi_set_named_property(env, obj, "name", name_v);
  napi_set_named_property(env, obj, "offload", off_v);
  return obj;
}

/* tunOffloadStats(fd): { superReads, segments, csumCompleted, gsoDropped, groWrites, groPackets,
 * oversizedWrites, udpSuperPackets } for a TUN opened with offload, else null. */
static napi_value tun_offload_stats(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "tunOffloadStats(fd: number)");
  tun_offload_t *t = tun_vnet(fd);
  napi_value o;
  if (t == NULL) {
    napi_get_null(env, &o);
    return o;
  }
  napi_create_object(env, &o);
  set_num(env, o, "superReads", t->super_reads);
  set_num(env, o, "segments", t->segments);
  set_num(env, o, "csumCompleted", t->csum_completed);
  set_num(env, o, "gsoDropped", t->gso_dropped);
  set_num(env, o, "groWrites", t->gro_writes);
  set_num(env, o, "groPackets", t->gro_packets);
  set_num(env, o, "oversizedWrites", t->oversized);
  napi_value uso;
  napi_get_boolean(env, t->uso, &uso);
  napi_set_named_property(env, o, "udpSuperPackets", uso);
  return o;
}

static int ifreq_ioctl(const char *name, unsigned long req, struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return -1;
  memcpy(ifr->ifr_name, name, strlen(name));
  int r = ioctl(s, req, ifr);
  int e = errno;
  close(s);
  errno = e;
  return r;
}

/* setMtu(name, mtu, fd?): SIOCSIFMTU; fd: the TUN of that name, whose write path keeps the MTU */
static napi_value set_mtu(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  char name[64];
  int32_t mtu;
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name) || !get_i32(env, argv[1], &mtu))
    return throw_type(env, "setMtu(name: string, mtu: number)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_mtu = mtu;
  if (ifreq_ioctl(name, SIOCSIFMTU, &ifr) < 0) return throw_errno(env, errno, "ioctl(SIOCSIFMTU)", name);
  int32_t fd = -1;
  if (argc > 2 && get_i32(env, argv[2], &fd) && tun_vnet(fd) != NULL) tun_off[fd].mtu = mtu;
  return undefined(env);
}

/* setTxQueueLen(name, len): SIOCSIFTXQLEN (a TUN defaults to 500 packets) */
static napi_value set_txqlen(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  char name[64];
  int32_t len;
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name) || !get_i32(env, argv[1], &len))
    return throw_type(env, "setTxQueueLen(name: string, len: number)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  ifr.ifr_qlen = len;
  if (ifreq_ioctl(name, SIOCSIFTXQLEN, &ifr) < 0)
    return throw_errno(env, errno, "ioctl(SIOCSIFTXQLEN)", name);
  return undefined(env);
}

/* setUp(name, up: boolean): SIOCGIFFLAGS + SIOCSIFFLAGS with IFF_UP */
static napi_value set_up(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  char name[64];
  bool up;
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name) ||
      napi_get_value_bool(env, argv[1], &up) != napi_ok)
    return throw_type(env, "setUp(name: string, up: boolean)");
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (ifreq_ioctl(name, SIOCGIFFLAGS, &ifr) < 0)
    return throw_errno(env, errno, "ioctl(SIOCGIFFLAGS)", name);
  if (up)
    ifr.ifr_flags |= IFF_UP;
  else
    ifr.ifr_flags &= ~IFF_UP;
  if (ifreq_ioctl(name, SIOCSIFFLAGS, &ifr) < 0)
    return throw_errno(env, errno, "ioctl(SIOCSIFFLAGS)", name);
  return undefined(env);
}

/* ifIndex(name): number (throws ENODEV when absent) */
static napi_value if_index(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  char name[64];
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name))
    return throw_type(env, "ifIndex(name: string)");
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, errno == 0 ? ENODEV : errno, "if_nametoindex", name);
  return num(env, idx);
}

/*
 * ethtoolFeatures(name, features: string[], want: Int32Array | null): Int32Array
 * Netdev features by their ethtool names ("rx-gro-list", "rx-udp-gro-forwarding", ...) through
 * SIOCETHTOOL, as `ethtool -k/-K` does; OpenWrt's busybox has no ethtool. want[i] 0 turns
 * feature i off, 1 on, -1 leaves it. Returns per feature: -1 when the kernel does not know the
 * name, else bit 0 active, bit 1 changeable (available, not fixed), bit 2 requested — read after
 * any change. The structures are the stable ABI of include/uapi/linux/ethtool.h, spelled out here
 * because musl toolchains may lack the kernel headers.
 */
#define PMT_SIOCETHTOOL 0x8946
#define PMT_ETHTOOL_GSTRINGS 0x1b
#define PMT_ETHTOOL_GSSET_INFO 0x37
#define PMT_ETHTOOL_GFEATURES 0x3a
#define PMT_ETHTOOL_SFEATURES 0x3b
#define PMT_ETH_SS_FEATURES 4
#define PMT_ETH_GSTRING_LEN 32
#define PMT_MAX_FEATURES 16

typedef struct {
  uint32_t cmd, reserved;
  uint64_t sset_mask;
  uint32_t data[1];
} pmt_sset_info_t;
typedef struct {
  uint32_t available, requested, active, never_changed;
} pmt_feature_get_t;
typedef struct {
  uint32_t valid, requested;
} pmt_feature_set_t;

static int ethtool_ioctl(int s, const char *name, void *data) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  ifr.ifr_data = data;
  return ioctl(s, PMT_SIOCETHTOOL, &ifr);
}

static napi_value ethtool_features(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  char name[64];
  char want_names[PMT_MAX_FEATURES][PMT_ETH_GSTRING_LEN + 1];
  int32_t *want = NULL;
  size_t want_len = 0;
  bool is_array;
  uint32_t k = 0;
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name) ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &k) != napi_ok || k == 0 || k > PMT_MAX_FEATURES)
    return throw_type(env, "ethtoolFeatures(name: string, features: string[] (1..16), want: "
                           "Int32Array | null)");
  for (uint32_t i = 0; i < k; i++) {
    napi_value el;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok ||
        !get_str(env, el, want_names[i], sizeof want_names[i]))
      return throw_type(env, "ethtoolFeatures: features must be names of at most 32 characters");
  }
  napi_valuetype wt;
  napi_typeof(env, argv[2], &wt);
  if (wt != napi_null && wt != napi_undefined) {
    napi_typedarray_type tt;
    void *data;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, argv[2], &tt, &want_len, &data, &ab, &off) != napi_ok ||
        tt != napi_int32_array || want_len != k)
      return throw_type(env, "ethtoolFeatures: want must be an Int32Array, one entry per feature");
    want = (int32_t *)data;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, errno, "socket", "ethtool");
  const char *step = "ETHTOOL_GSSET_INFO";
  char *strings = NULL;
  pmt_feature_get_t *blocks = NULL;
  pmt_feature_set_t *set = NULL;
  int err = 0;
  pmt_sset_info_t ssi;
  memset(&ssi, 0, sizeof ssi);
  ssi.cmd = PMT_ETHTOOL_GSSET_INFO;
  ssi.sset_mask = 1ULL << PMT_ETH_SS_FEATURES;
  if (ethtool_ioctl(s, name, &ssi) < 0) goto fail;
  uint32_t n = ssi.sset_mask != 0 ? ssi.data[0] : 0;
  if (n == 0 || n > 4096) {
    errno = EOPNOTSUPP;
    goto fail;
  }
  step = "ETHTOOL_GSTRINGS";
  strings = calloc(1, 12 + (size_t)n * PMT_ETH_GSTRING_LEN);
  if (strings == NULL) goto fail;
  uint32_t hdr[3] = {PMT_ETHTOOL_GSTRINGS, PMT_ETH_SS_FEATURES, n};
  memcpy(strings, hdr, sizeof hdr);
  if (ethtool_ioctl(s, name, strings) < 0) goto fail;
  uint32_t nb = (n + 31) / 32;
  step = "ETHTOOL_GFEATURES";
  blocks = calloc(1, 8 + (size_t)nb * sizeof(pmt_feature_get_t));
  if (blocks == NULL) goto fail;
  int idx[PMT_MAX_FEATURES];
  for (uint32_t i = 0; i < k; i++) {
    idx[i] = -1;
    for (uint32_t j = 0; j < n && idx[i] < 0; j++)
      if (strncmp(strings + 12 + (size_t)j * PMT_ETH_GSTRING_LEN, want_names[i],
                  PMT_ETH_GSTRING_LEN) == 0)
        idx[i] = (int)j;
  }
  uint32_t ghdr[2] = {PMT_ETHTOOL_GFEATURES, nb};
  memcpy(blocks, ghdr, sizeof ghdr);
  pmt_feature_get_t *fb = (pmt_feature_get_t *)((char *)blocks + 8);
  if (ethtool_ioctl(s, name, blocks) < 0) goto fail;
  int change = 0;
  if (want != NULL) {
    set = calloc(1, 8 + (size_t)nb * sizeof(pmt_feature_set_t));
    if (set == NULL) goto fail;
    pmt_feature_set_t *sb = (pmt_feature_set_t *)((char *)set + 8);
    for (uint32_t i = 0; i < k; i++) {
      if (idx[i] < 0 || want[i] < 0) continue;
      uint32_t b = (uint32_t)idx[i] / 32, bit = 1u << ((uint32_t)idx[i] % 32);
      sb[b].valid |= bit;
      if (want[i] > 0) sb[b].requested |= bit;
      change = 1;
    }
    if (change) {
      step = "ETHTOOL_SFEATURES";
      uint32_t shdr[2] = {PMT_ETHTOOL_SFEATURES, nb};
      memcpy(set, shdr, sizeof shdr);
      if (ethtool_ioctl(s, name, set) < 0) goto fail; /* >= 0: done, or some wish not granted */
      step = "ETHTOOL_GFEATURES";
      memcpy(blocks, ghdr, sizeof ghdr);
      if (ethtool_ioctl(s, name, blocks) < 0) goto fail;
    }
  }
  napi_value ab, out;
  void *outp;
  napi_create_arraybuffer(env, k * sizeof(int32_t), &outp, &ab);
  napi_create_typedarray(env, napi_int32_array, k, ab, 0, &out);
  for (uint32_t i = 0; i < k; i++) {
    int32_t v = -1;
    if (idx[i] >= 0) {
      uint32_t b = (uint32_t)idx[i] / 32, bit = 1u << ((uint32_t)idx[i] % 32);
      v = ((fb[b].active & bit) ? 1 : 0) |
          ((fb[b].available & bit) && !(fb[b].never_changed & bit) ? 2 : 0) |
          ((fb[b].requested & bit) ? 4 : 0);
    }
    ((int32_t *)outp)[i] = v;
  }
  free(strings);
  free(blocks);
  free(set);
  close(s);
  return out;
fail:
  err = errno != 0 ? errno : ENOMEM;
  free(strings);
  free(blocks);
  free(set);
  close(s);
  char what[128];
  snprintf(what, sizeof what, "%s %s", step, name);
  return throw_errno(env, err, "ioctl(SIOCETHTOOL)", what);
}

/* setNetns(fd): setns(fd, CLONE_NEWNET) for the calling (main) thread. Descriptors opened
 * afterwards (TUN, sockets) belong to that namespace for their whole life; tests use this to
 * open devices inside the namespaces they create and then switch back. */
static napi_value set_netns(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "setNetns(fd: number)");
  if (setns(fd, CLONE_NEWNET) < 0) return throw_errno(env, errno, "setns", "CLONE_NEWNET");
  return undefined(env);
}

/* close(fd). The caller must have closed any poller on it first. */
static napi_value close_fd(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "close(fd: number)");
  if (fd >= 0 && fd < TUN_FD_TABLE) tun_off[fd].vnet = 0;
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close", "");
  return undefined(env);
}

/* getSocketError(fd): number — reads and clears SO_ERROR (0 = none). */
static napi_value get_socket_error(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "getSocketError(fd: number)");
  int err = 0;
  socklen_t len = sizeof err;
  if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0)
    return throw_errno(env, errno, "getsockopt", "SO_ERROR");
  return num(env, err);
}

/* errnoName(n): "EAGAIN", ... ("ERRNO_<n>" when unknown) — names for the numbers in the send
 * status arrays, from this platform's own <errno.h> (MIPS numbers differ from x86/ARM). */
static napi_value errno_name_js(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t e;
  if (!get_i32(env, argv[0], &e)) return throw_type(env, "errnoName(errno: number)");
  char buf[32];
  const char *name = e == 0 ? "" : errno_name(e);
  if (name == NULL) {
    snprintf(buf, sizeof buf, "ERRNO_%d", e);
    name = buf;
  }
  napi_value v;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  return v;
}

/* ---------------------------------------------------------------------------------------------
 * sockets
 * ------------------------------------------------------------------------------------------- */

static int set_buffer(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return 0;
  /* SO_*BUFFORCE (CAP_NET_ADMIN) may exceed net.core.[rw]mem_max; fall back otherwise. */
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return 0;
  return setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

/*
 * openRaw4(protocol, bindAddr, device, hdrincl, recvErr, rcvbuf, sndbuf): fd
 *   bindAddr: IPv4 as unsigned 32-bit number (0 = any); device: '' = none (else SO_BINDTODEVICE).
 *
 * IP_HDRINCL (recommended, and what io/linux.ts uses): TypeScript writes the 20-byte IPv4 header
 * in the headroom in front of the IPv6 packet. That is the only way to
 *   - send from the relay's anycast 192.88.99.1 (RFC 3068) and from its unicast addresses through
 *     one socket, choosing the source per packet;
 *   - set DF per packet as RFC 4213 §3.2 wants for the chosen MTU mode, and the TTL and ID;
 *   - send one sendmmsg batch whose packets have different sources.
 * The kernel still fills the header checksum and total length (and the ID when it is 0); a
 * packet larger than the route's device MTU fails with EMSGSIZE instead of being fragmented.
 * Receiving is the same either way: an IPv4 raw socket always hands over the full IPv4 header.
 */
static napi_value open_raw4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(7);
  int32_t proto, rcvbuf, sndbuf;
  uint32_t bind_addr;
  char dev[64];
  bool hdrincl, recverr;
  if (!get_i32(env, argv[0], &proto) || !get_u32(env, argv[1], &bind_addr) ||
      !get_str(env, argv[2], dev, sizeof dev) || napi_get_value_bool(env, argv[3], &hdrincl) ||
      napi_get_value_bool(env, argv[4], &recverr) || !get_i32(env, argv[5], &rcvbuf) ||
      !get_i32(env, argv[6], &sndbuf))
    return throw_type(env,
                      "openRaw4(protocol: number, bindAddr: number, device: string, hdrincl: "
                      "boolean, recvErr: boolean, rcvbuf: number, sndbuf: number)");
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return throw_errno(env, errno, "socket", "AF_INET SOCK_RAW");
  const char *step = "";
  int one = 1;
  if (hdrincl) SETOPT_OR_FAIL(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one, "IP_HDRINCL");
  if (recverr) SETOPT_OR_FAIL(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one, "IP_RECVERR");
  if (set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf) < 0) {
    step = "SO_RCVBUF";
    goto fail;
  }
  if (set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf) < 0) {
    step = "SO_SNDBUF";
    goto fail;
  }
  if (dev[0] != 0) SETOPT_OR_FAIL(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev), "SO_BINDTODEVICE");
  if (bind_addr != 0) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(bind_addr);
    if (bind(fd, (struct sockaddr *)&sin, sizeof sin) < 0) {
      step = "bind";
      goto fail;
    }
  }
  return num(env, fd);
fail: {
  int e = errno;
  close(fd);
  return throw_errno(env, e, "openRaw4", step);
}
}

/*
 * openIcmp6(device, groups: Uint8Array (16 bytes per group), passTypes: number[], echoId?): fd
 * Raw ICMPv6 socket for Neighbor Discovery on one device: SO_BINDTODEVICE, hop limits 255
 * (RFC 4861 §6.1.1/§6.1.2 receivers drop ND with any other hop limit), multicast loop off,
 * IPV6_RECVPKTINFO + IPV6_RECVHOPLIMIT, ICMP6_FILTER passing only passTypes, joined groups.
 * device "" opens an unbound socket for echo (the health probe): the routing table picks the
 * interface, hop limits stay the kernel's, no groups (groups must be empty). echoId 0..65535
 * attaches a socket filter that passes only echo replies with that identifier, so the kernel
 * drops every other reply (a ping run by hand, a flood of replies) without waking us.
 */
static napi_value open_icmp6(napi_env env, napi_callback_info info) {
  CHECK_ARGC(4);
  char dev[64];
  uint8_t *groups;
  size_t groups_len;
  bool is_array;
  if (!get_str(env, argv[0], dev, sizeof dev) || (dev[0] != '\0' && !name_ok(dev)) ||
      !get_bytes(env, argv[1], &groups, &groups_len) || groups_len % 16 != 0 ||
      (dev[0] == '\0' && groups_len != 0) ||
      napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array)
    return throw_type(env,
                      "openIcmp6(device: string (\"\" = unbound, then no groups), groups: "
                      "Uint8Array (16*k bytes), passTypes: number[])");
  int32_t echo_id = -1;
  if (!is_nullish(env, argv[3]) &&
      (!get_i32(env, argv[3], &echo_id) || echo_id < 0 || echo_id > 0xffff))
    return throw_type(env, "openIcmp6: echoId must be a number 0..65535");
  bool bound = dev[0] != '\0';
  unsigned ifindex = bound ? if_nametoindex(dev) : 0;
  if (bound && ifindex == 0)
    return throw_errno(env, errno == 0 ? ENODEV : errno, "if_nametoindex", dev);
  struct icmp6_filter filter;
  ICMP6_FILTER_SETBLOCKALL(&filter);
  uint32_t ntypes;
  napi_get_array_length(env, argv[2], &ntypes);
  for (uint32_t i = 0; i < ntypes; i++) {
    napi_value el;
    uint32_t t;
    if (napi_get_element(env, argv[2], i, &el) != napi_ok || !get_u32(env, el, &t) || t > 255)
      return throw_type(env, "openIcmp6: passTypes must hold numbers 0..255");
    ICMP6_FILTER_SETPASS(t, &filter);
  }
  int fd = socket(AF_INET6, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, IPPROTO_ICMPV6);
  if (fd < 0) return throw_errno(env, errno, "socket", "AF_INET6 SOCK_RAW ICMPV6");
  const char *step = "";
  int one = 1, zero = 0, hops = 255;
  if (bound) {
    SETOPT_OR_FAIL(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev), "SO_BINDTODEVICE");
    SETOPT_OR_FAIL(fd, IPPROTO_IPV6, IPV6_MULTICAST_HOPS, &hops, sizeof hops,
                   "IPV6_MULTICAST_HOPS");
    SETOPT_OR_FAIL(fd, IPPROTO_IPV6, IPV6_UNICAST_HOPS, &hops, sizeof hops, "IPV6_UNICAST_HOPS");
    SETOPT_OR_FAIL(fd, IPPROTO_IPV6, IPV6_MULTICAST_LOOP, &zero, sizeof zero,
                   "IPV6_MULTICAST_LOOP");
    int idx = (int)ifindex;
    SETOPT_OR_FAIL(fd, IPPROTO_IPV6, IPV6_MULTICAST_IF, &idx, sizeof idx, "IPV6_MULTICAST_IF");
  }
  SETOPT_OR_FAIL(fd, IPPROTO_IPV6, IPV6_RECVPKTINFO, &one, sizeof one, "IPV6_RECVPKTINFO");
  SETOPT_OR_FAIL(fd, IPPROTO_IPV6, IPV6_RECVHOPLIMIT, &one, sizeof one, "IPV6_RECVHOPLIMIT");
  SETOPT_OR_FAIL(fd, IPPROTO_ICMPV6, ICMP6_FILTER, &filter, sizeof filter, "ICMP6_FILTER");
  if (echo_id >= 0) {
    /* The filter sees the message from its ICMPv6 header on (the IPv6 header is pulled). */
    struct sock_filter code[] = {
        BPF_STMT(BPF_LD | BPF_B | BPF_ABS, 0),                        /* type */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ICMP6_ECHO_REPLY, 0, 3),  /* else drop */
        BPF_STMT(BPF_LD | BPF_H | BPF_ABS, 4),                        /* identifier */
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)echo_id, 0, 1), /* else drop */
        BPF_STMT(BPF_RET | BPF_K, 0xffff),
        BPF_STMT(BPF_RET | BPF_K, 0),
    };
    struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
    SETOPT_OR_FAIL(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog, "SO_ATTACH_FILTER");
  }
  for (size_t off = 0; off < groups_len; off += 16) {
    struct ipv6_mreq mreq;
    memcpy(&mreq.ipv6mr_multiaddr, groups + off, 16);
    mreq.ipv6mr_interface = ifindex;
    if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq) < 0 &&
        errno != EADDRINUSE) {
      step = "IPV6_JOIN_GROUP";
      goto fail;
    }
  }
  return num(env, fd);
fail: {
  int e = errno;
  close(fd);
  return throw_errno(env, e, "openIcmp6", step);
}
}

/* sendIcmp6(fd, buf, offset, length, dst: Uint8Array, dstOffset, ifindex): void
 * The kernel fills the ICMPv6 checksum (mandatory IPV6_CHECKSUM on ICMPv6 raw sockets) and the
 * source address (link-local of ifindex, or the one in the packet path's routing decision). */
static napi_value send_icmp6(napi_env env, napi_callback_info info) {
  CHECK_ARGC(7);
  int32_t fd, off, len, dst_off, ifindex;
  uint8_t *buf, *dst;
  size_t buf_len, dst_len;
  if (!get_i32(env, argv[0], &fd) || !get_bytes(env, argv[1], &buf, &buf_len) ||
      !get_i32(env, argv[2], &off) || !get_i32(env, argv[3], &len) ||
      !get_bytes(env, argv[4], &dst, &dst_len) || !get_i32(env, argv[5], &dst_off) ||
      !get_i32(env, argv[6], &ifindex))
    return throw_type(env,
                      "sendIcmp6(fd, buf: Uint8Array, offset, length, dst: Uint8Array, "
                      "dstOffset, ifindex)");
  if (off < 0 || len < 0 || (size_t)off + (size_t)len > buf_len || dst_off < 0 ||
      (size_t)dst_off + 16 > dst_len)
    return throw_errno(env, EINVAL, "sendIcmp6", "offset/length out of range");
  struct sockaddr_in6 sin6;
  memset(&sin6, 0, sizeof sin6);
  sin6.sin6_family = AF_INET6;
  memcpy(&sin6.sin6_addr, dst + dst_off, 16);
  sin6.sin6_scope_id = (uint32_t)ifindex;
  struct iovec iov = {.iov_base = buf + off, .iov_len = (size_t)len};
  union {
    char buf[CMSG_SPACE(sizeof(struct in6_pktinfo))];
    struct cmsghdr align;
  } control;
  memset(&control, 0, sizeof control);
  struct msghdr msg;
  memset(&msg, 0, sizeof msg);
  msg.msg_name = &sin6;
  msg.msg_namelen = sizeof sin6;
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  if (ifindex > 0) {
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
    c->cmsg_level = IPPROTO_IPV6;
    c->cmsg_type = IPV6_PKTINFO;
    c->cmsg_len = CMSG_LEN(sizeof(struct in6_pktinfo));
    struct in6_pktinfo pi;
    memset(&pi, 0, sizeof pi);
    pi.ipi6_ifindex = (unsigned)ifindex;
    memcpy(CMSG_DATA(c), &pi, sizeof pi);
  }
  for (int attempt = 0;; attempt++) {
    if (sendmsg(fd, &msg, 0) >= 0) break;
    if (errno == EINTR || (attempt == 0 && is_stale_icmp_error(errno))) continue;
    return throw_errno(env, errno, "sendmsg", "icmp6");
  }
  return undefined(env);
}

/* ---------------------------------------------------------------------------------------------
 * batched send: sendmmsg on raw IPv4, write loop on the TUN
 * ------------------------------------------------------------------------------------------- */

/*
 * Shared contract of sendRaw4 / writeTun:
 *   returns the number of packets the kernel accepted;
 *   status[0] = errno of the first failure (0 = none), status[1] = packets not sent,
 *   status[2] = stale ICMP errors cleared on the way (packet retried once).
 * A packet the kernel refuses (EMSGSIZE, EPERM from a firewall, ...) is skipped; EAGAIN/ENOBUFS
 * (queue full) and fd-gone errors stop the batch and count the rest as not sent.
 */
typedef struct {
  int32_t *status;
  int first_err;
  int failed;
  int stale;
} send_result;

static void note_failure(send_result *r, int e, int n) {
  if (r->first_err == 0) r->first_err = e;
  r->failed += n;
}

static int get_send_args(napi_env env, napi_value *argv, int with_dsts, int32_t *fd,
                         napi_value *bufs, int32_t **offs, int32_t **lens, uint32_t **dsts,
                         int32_t *count, int32_t **status) {
  size_t n_offs, n_lens, n_dsts = 0, n_status;
  bool is_array;
  int a = 0;
  if (!get_i32(env, argv[a++], fd)) return 0;
  *bufs = argv[a++];
  if (napi_is_array(env, *bufs, &is_array) != napi_ok || !is_array) return 0;
  if (!get_typed(env, argv[a++], napi_int32_array, (void **)offs, &n_offs)) return 0;
  if (!get_typed(env, argv[a++], napi_int32_array, (void **)lens, &n_lens)) return 0;
  if (with_dsts) {
    napi_value d = argv[a++];
    if (is_nullish(env, d)) {
      *dsts = NULL; /* destination taken from each packet's IPv4 header */
      n_dsts = SIZE_MAX;
    } else if (!get_typed(env, d, napi_uint32_array, (void **)dsts, &n_dsts)) {
      return 0;
    }
  }
  if (!get_i32(env, argv[a++], count)) return 0;
  if (!get_typed(env, argv[a++], napi_int32_array, (void **)status, &n_status) || n_status < 3)
    return 0;
  uint32_t n_bufs;
  napi_get_array_length(env, *bufs, &n_bufs);
  if (*count < 0 || (size_t)*count > n_offs || (size_t)*count > n_lens || *count > (int)n_bufs ||
      (with_dsts && (size_t)*count > n_dsts))
    return 0;
  return 1;
}

/* Pointer to bufs[i][off .. off+len), or NULL when out of range / not a Uint8Array. */
static uint8_t *packet_at(napi_env env, napi_value bufs, int32_t i, int32_t off, int32_t len) {
  napi_value el;
  uint8_t *data;
  size_t blen;
  if (napi_get_element(env, bufs, (uint32_t)i, &el) != napi_ok) return NULL;
  if (!get_bytes(env, el, &data, &blen)) return NULL;
  if (off < 0 || len <= 0 || (size_t)off + (size_t)len > blen) return NULL;
  return data + off;
}

/* ---------------------------------------------------------------------------------------------
 * TCP super-packets cut while sending
 *
 * A TUN poller given a `gso` array (pollStart's meta, on a TUN with offload) hands a TCP
 * super-packet over whole instead of cutting it on read: gso[slot] = th << 16 | mss (TCP header
 * offset in the IPv6 packet, payload bytes per segment), 0 for a plain packet. The path checks,
 * translates and encapsulates it once, as one packet (one IPv4 header in the headroom), and
 * sendRaw4 cuts it here, one message per segment: a copy of the headers in scratch (IPv4 total
 * length and an ID stepping by IPV4_ID_STEP from the one given; IPv6 payload length; TCP
 * sequence, flags and checksum as the kernel's tcp_gso_segment) and the segment's payload in
 * place as a second iovec. The payload is then copied once, by the kernel, instead of into
 * gso_buf and a ring slot first; and the per-packet work in JavaScript and N-API is done once
 * per super-packet.
 * ------------------------------------------------------------------------------------------- */

/* IPv6 + extension + TCP header bytes a super-packet may have to be handed over whole. */
#define SEG_HDR_MAX 192
/* Ring slots a batch reads into while super-packets come whole (drain_tun_vnet): 4 of them hold
 * ~145 segments, and keep the ring's resident memory at 4 x 64 KiB. */
#define WHOLE_SLOTS 4
#define SEG_SCRATCH (20 + SEG_HDR_MAX)
/* dataplane/outbound-core.ts IPV4_ID_STEP: odd, and not 1 (GRO would merge the segments). */
#define IPV4_ID_STEP 0x9e37

typedef struct {
  int th, hl, mss, segs;
  uint64_t addr_sum; /* the pseudo-header's addresses, the same in every segment */
} gso_send_t;

/* Whether the IPv6 packet q (len bytes) with info (th << 16 | mss) can be cut; fills g. */
static int gso_info_ok(const uint8_t *q, int32_t len, int32_t info, gso_send_t *g) {
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
  return 1;
}

/* Headers of segment k of the encapsulated super-packet p (IPv4 header of 20 bytes, then the
 * IPv6 packet; len bytes in all) into h (20 + g->hl bytes). Returns the segment's payload
 * length; its payload is p + 20 + g->hl + k * g->mss. */
static int gso_send_seg(uint8_t *h, const uint8_t *p, int32_t len, const gso_send_t *g, int k) {
  int hl = g->hl, th = g->th;
  int pay = len - 20 - hl, pos = k * g->mss;
  int seg = pay - pos < g->mss ? pay - pos : g->mss;
  memcpy(h, p, (size_t)(20 + hl));
  wr16(h + 2, (uint32_t)(20 + hl + seg)); /* the kernel rewrites both with IP_HDRINCL, but */
  h[10] = h[11] = 0;                      /* write what goes out */
  wr16(h + 4, rd16(p + 4) + (uint32_t)k * IPV4_ID_STEP);
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

/* Wire packets entry i becomes: the segments of a super-packet that can be cut, else 1. */
static int wire_units(napi_env env, napi_value bufs, const int32_t *offs, const int32_t *lens,
                      const int32_t *gso, int32_t i) {
  gso_send_t g;
  if (gso == NULL || gso[i] <= 0) return 1;
  uint8_t *p = packet_at(env, bufs, i, offs[i], lens[i]);
  return p != NULL && lens[i] > 20 && p[0] == 0x45 && gso_info_ok(p + 20, lens[i] - 20, gso[i], &g)
             ? g.segs
             : 1;
}

/* sendRaw4(fd, bufs, offsets: Int32Array, lengths: Int32Array, dsts: Uint32Array | null, count,
 *          status: Int32Array(3), gso?: Int32Array | null): number
 * dsts null: each packet's destination is read from its IPv4 header (IP_HDRINCL sockets).
 * gso[i] > 0: packet i is a super-packet to cut (above; only with dsts null). The return value
 * and status count wire packets: a cut super-packet counts as its segments. */
static napi_value send_raw4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(8);
  int32_t fd, count, *offs, *lens, *status, *gso = NULL;
  uint32_t *dsts;
  size_t n_gso;
  napi_value bufs;
  if (!get_send_args(env, argv, 1, &fd, &bufs, &offs, &lens, &dsts, &count, &status) ||
      (!is_nullish(env, argv[7]) &&
       (dsts != NULL || !get_typed(env, argv[7], napi_int32_array, (void **)&gso, &n_gso) ||
        n_gso < (size_t)count)))
    return throw_type(env,
                      "sendRaw4(fd, bufs: Uint8Array[], offsets: Int32Array, lengths: Int32Array, "
                      "dsts: Uint32Array, count, status: Int32Array(3), gso?: Int32Array) with "
                      "count within every array, dsts null with gso");
  send_result res = {status, 0, 0, 0};
  struct mmsghdr msgs[SEND_CHUNK];
  struct iovec iovs[SEND_CHUNK][2];
  struct sockaddr_in sins[SEND_CHUNK];
  uint8_t scratch[SEND_CHUNK][SEG_SCRATCH];
  int sent = 0;
  int i = 0;
  int k = 0; /* next segment of entry i when it is a super-packet being cut (g, cut) */
  gso_send_t g = {0, 0, 0, 0, 0};
  uint8_t *cut = NULL;
  int stop = 0;
  while (i < count && !stop) {
    /* Fill one chunk, skipping packets whose offsets are out of range. */
    int n = 0;
    while (i < count && n < SEND_CHUNK) {
      uint8_t *p = cut;
      if (p == NULL) {
        p = packet_at(env, bufs, i, offs[i], lens[i]);
        if (p == NULL || (dsts == NULL && lens[i] < 20) ||
            (gso != NULL && gso[i] > 0 &&
             (p[0] != 0x45 || !gso_info_ok(p + 20, lens[i] - 20, gso[i], &g)))) {
          note_failure(&res, EINVAL, 1);
          i++;
          continue;
        }
        if (gso != NULL && gso[i] > 0) {
          cut = p;
          k = 0;
        }
      }
      memset(&sins[n], 0, sizeof sins[n]);
      sins[n].sin_family = AF_INET;
      if (dsts != NULL)
        sins[n].sin_addr.s_addr = htonl(dsts[i]);
      else
        memcpy(&sins[n].sin_addr.s_addr, p + 16, 4); /* IPv4 header destination, network order */
      memset(&msgs[n], 0, sizeof msgs[n]);
      msgs[n].msg_hdr.msg_name = &sins[n];
      msgs[n].msg_hdr.msg_namelen = sizeof sins[n];
      msgs[n].msg_hdr.msg_iov = iovs[n];
      if (cut == NULL) {
        iovs[n][0].iov_base = p;
        iovs[n][0].iov_len = (size_t)lens[i];
        msgs[n].msg_hdr.msg_iovlen = 1;
        i++;
      } else {
        int seg = gso_send_seg(scratch[n], cut, lens[i], &g, k);
        iovs[n][0].iov_base = scratch[n];
        iovs[n][0].iov_len = (size_t)(20 + g.hl);
        iovs[n][1].iov_base = cut + 20 + g.hl + (size_t)k * (size_t)g.mss;
        iovs[n][1].iov_len = (size_t)seg;
        msgs[n].msg_hdr.msg_iovlen = 2;
        if (++k == g.segs) {
          cut = NULL;
          i++;
        }
      }
      n++;
    }
    int done = 0;
    int retried_at = -1;
    while (done < n) {
      int r = sendmmsg(fd, msgs + done, (unsigned)(n - done), 0);
      if (r > 0) {
        done += r;
        sent += r;
        continue;
      }
      int e = r < 0 ? errno : EIO;
      if (e == EINTR) continue;
      if (is_stale_icmp_error(e) && retried_at != done) {
        /* The error belongs to an earlier packet (pending sk_err, now cleared): retry once. */
        retried_at = done;
        res.stale++;
        continue;
      }
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || is_fatal_fd_error(e)) {
        note_failure(&res, e, n - done);
        /* never attempted: the rest of a super-packet being cut, and every later entry */
        if (cut != NULL) {
          res.failed += g.segs - k;
          i++;
        }
        for (; i < count; i++) res.failed += wire_units(env, bufs, offs, lens, gso, i);
        stop = 1;
        break;
      }
      note_failure(&res, e, 1);
      done++;
    }
  }
  status[0] = res.first_err;
  status[1] = res.failed;
  status[2] = res.stale;
  return num(env, sent);
}

/* ---------------------------------------------------------------------------------------------
 * io_uring batch of TUN writes
 *
 * A TUN takes one packet per write(2). On machines where a syscall costs microseconds (VMs with
 * speculation mitigations: 2 us measured on the development machine) the write loop dominates
 * the decapsulation path, so a batch is submitted as linked IORING_OP_WRITEV requests in ONE
 * io_uring_enter. Linked (IOSQE_IO_LINK): the writes run in order, as the loop would, even on a
 * kernel that hands them to worker threads; a failing write cancels the rest of the chain, which
 * is resubmitted after it. We wait for every completion before returning, so the caller's buffers
 * are free again on return, exactly as with write(2).
 * ------------------------------------------------------------------------------------------- */

#define URING_ENTRIES SEND_CHUNK

typedef struct {
  int fd;      /* -1: unavailable, use the write loop */
  int enabled; /* setIoUring(false) switches it off (A/B measurements, tests) */
  int reads;   /* TUN reads through the ring too (off: PMT_NO_IO_URING_READ=1, or unsupported) */
#ifdef PMT_HAVE_IO_URING
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  void *sq_ptr, *cq_ptr;
  size_t sq_len, cq_len, sqes_len;
  struct iovec iov[3 * URING_ENTRIES]; /* reads: up to 3 per request (vnet header, slot, spill) */
#endif
} uring_t;

/* Per Node environment (main thread, each worker): io_uring and the TUN write scratch. */
typedef struct {
  uring_t uring;
  gro_scratch_t gro;
} env_state_t;

static void uring_close(uring_t *u) {
#ifdef PMT_HAVE_IO_URING
  if (u->sqes) munmap(u->sqes, u->sqes_len);
  if (u->cq_ptr && u->cq_ptr != u->sq_ptr) munmap(u->cq_ptr, u->cq_len);
  if (u->sq_ptr) munmap(u->sq_ptr, u->sq_len);
  u->sqes = NULL;
  u->sq_ptr = u->cq_ptr = NULL;
#endif
  if (u->fd >= 0) close(u->fd);
  u->fd = -1;
}

static void uring_open(uring_t *u) {
  memset(u, 0, sizeof *u);
  u->fd = -1;
#ifdef PMT_HAVE_IO_URING
  const char *off = getenv("PMT_NO_IO_URING");
  if (off != NULL && off[0] != 0 && strcmp(off, "0") != 0) return;
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = (int)syscall(__NR_io_uring_setup, URING_ENTRIES, &p);
  if (fd < 0) return; /* ENOSYS, EPERM (seccomp, io_uring_disabled): write loop */
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  u->fd = fd;
  if (p.sq_entries < URING_ENTRIES) goto fail;
  u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) {
    if (u->cq_len > u->sq_len) u->sq_len = u->cq_len;
    u->cq_len = u->sq_len;
  }
  u->sq_ptr = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   IORING_OFF_SQ_RING);
  if (u->sq_ptr == MAP_FAILED) {
    u->sq_ptr = NULL;
    goto fail;
  }
  if (single) {
    u->cq_ptr = u->sq_ptr;
  } else {
    u->cq_ptr = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                     IORING_OFF_CQ_RING);
    if (u->cq_ptr == MAP_FAILED) {
      u->cq_ptr = NULL;
      goto fail;
    }
  }
  u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
  u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                 IORING_OFF_SQES);
  if (u->sqes == MAP_FAILED) {
    u->sqes = NULL;
    goto fail;
  }
  char *sq = u->sq_ptr, *cq = u->cq_ptr;
  u->sq_head = (unsigned *)(sq + p.sq_off.head);
  u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  u->sq_array = (unsigned *)(sq + p.sq_off.array);
  u->cq_head = (unsigned *)(cq + p.cq_off.head);
  u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  u->enabled = 1;
  const char *no_read = getenv("PMT_NO_IO_URING_READ");
  u->reads = !(no_read != NULL && no_read[0] != 0 && strcmp(no_read, "0") != 0);
  return;
fail:
  uring_close(u);
#endif
}

#ifdef PMT_HAVE_IO_URING
/* Writes n (<= URING_ENTRIES) units (one writev each) as one linked chain; res[i] = bytes or
 * -errno (-ECANCELED: not attempted because an earlier one failed). Returns 0, or -errno when
 * the ring itself failed (nothing was written then: the caller falls back to writev(2)). */
static int uring_write_chain(uring_t *u, int fd, const wunit_t *units, int n, int32_t *res) {
  unsigned tail = *u->sq_tail;
  unsigned head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
  if (tail - head + (unsigned)n > URING_ENTRIES) return -EBUSY;
  for (int i = 0; i < n; i++) {
    unsigned idx = (tail + (unsigned)i) & *u->sq_mask;
    struct io_uring_sqe *sqe = &u->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_WRITEV;
    sqe->fd = fd;
    sqe->addr = (unsigned long)units[i].iov;
    sqe->len = (unsigned)units[i].niov;
    sqe->off = (__u64)-1; /* current position: a character device has none */
    sqe->flags = i + 1 < n ? IOSQE_IO_LINK : 0;
    sqe->user_data = (__u64)i;
    u->sq_array[idx] = idx;
    res[i] = -ECANCELED;
  }
  __atomic_store_n(u->sq_tail, tail + (unsigned)n, __ATOMIC_RELEASE);
  int submitted = 0, reaped = 0;
  while (reaped < n) {
    int to_submit = n - submitted;
    int r = (int)syscall(__NR_io_uring_enter, u->fd, to_submit, n - reaped,
                         IORING_ENTER_GETEVENTS, NULL, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (submitted == 0 && reaped == 0) {
        /* Nothing went in: take the SQEs back. */
        __atomic_store_n(u->sq_tail, tail, __ATOMIC_RELEASE);
        return -e;
      }
      /* Should not happen with our sizes; wait for what is in flight, report the rest. */
      if (submitted == n) continue;
      return -e;
    }
    submitted += r;
    unsigned ch = *u->cq_head;
    unsigned ct = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
    while (ch != ct) {
      struct io_uring_cqe *c = &u->cqes[ch & *u->cq_mask];
      if (c->user_data < (__u64)n) res[c->user_data] = c->res;
      ch++;
      reaped++;
    }
    __atomic_store_n(u->cq_head, ch, __ATOMIC_RELEASE);
  }
  return 0;
}

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#define URING_CANCEL_TAG ((__u64)1 << 32)
/* IORING_OP_ASYNC_CANCEL (Linux 5.5) by number: an enum, so older headers cannot be tested. */
#define PMT_IORING_OP_ASYNC_CANCEL 14

/* Moves completions of requests 0..n-1 into res[]; returns how many there were. */
static int uring_reap(uring_t *u, int32_t *res, int n) {
  int reaped = 0;
  unsigned ch = *u->cq_head;
  unsigned ct = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
  while (ch != ct) {
    struct io_uring_cqe *c = &u->cqes[ch & *u->cq_mask];
    if (c->user_data < (__u64)n) {
      res[c->user_data] = c->res;
      reaped++;
    }
    ch++;
  }
  __atomic_store_n(u->cq_head, ch, __ATOMIC_RELEASE);
  return reaped;
}

/*
 * Reads up to n (<= URING_ENTRIES) packets from a TUN in ONE io_uring_enter instead of one
 * read(2) each: n unlinked IORING_OP_READV requests with RWF_NOWAIT, so each either takes a
 * queued packet or completes at once with -EAGAIN (an empty queue); all complete inline, in
 * submission order, before io_uring_enter returns. res[i] = bytes or -errno. Returns 0, or
 * -errno when the ring failed or did not behave so (then the caller goes back to read(2)):
 * a kernel whose TUN lacks FMODE_NOWAIT answers -EOPNOTSUPP; a read left pending is
 * cancelled and waited for, so no buffer stays in the kernel's hands.
 */
static int uring_read_batch(uring_t *u, int fd, const struct iovec *vecs, int per, int n,
                            int32_t *res) {
  unsigned tail = *u->sq_tail;
  unsigned head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
  if (tail - head + (unsigned)n > URING_ENTRIES) return -EBUSY;
  for (int i = 0; i < n; i++) {
    unsigned idx = (tail + (unsigned)i) & *u->sq_mask;
    struct io_uring_sqe *sqe = &u->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = IORING_OP_READV;
    sqe->fd = fd;
    sqe->addr = (unsigned long)&vecs[i * per];
    sqe->len = (unsigned)per;
    sqe->off = (__u64)-1;
    sqe->rw_flags = RWF_NOWAIT;
    sqe->user_data = (__u64)i;
    u->sq_array[idx] = idx;
    res[i] = -ECANCELED;
  }
  __atomic_store_n(u->sq_tail, tail + (unsigned)n, __ATOMIC_RELEASE);
  int submitted = 0;
  while (submitted < n) {
    int r = (int)syscall(__NR_io_uring_enter, u->fd, n - submitted, 0, 0, NULL, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (submitted == 0) {
        __atomic_store_n(u->sq_tail, tail, __ATOMIC_RELEASE);
        return -e;
      }
      break; /* the rest stays unsubmitted: handled below as "not completed" */
    }
    if (r == 0) break;
    submitted += r;
  }
  int reaped = uring_reap(u, res, n);
  if (submitted == n && reaped == n) return 0;
  /* Unexpected (an old kernel that parks a NOWAIT read): cancel what is pending, wait for every
   * request we submitted, and tell the caller to stop using the ring for reads. */
  if (submitted < n) {
    /* Take back what the kernel has not consumed. */
    __atomic_store_n(u->sq_tail, tail + (unsigned)submitted, __ATOMIC_RELEASE);
  }
  int32_t seen[URING_ENTRIES];
  for (int i = 0; i < submitted; i++) seen[i] = res[i] != -ECANCELED;
  int cancels = 0;
  for (int i = 0; i < submitted; i++) {
    if (seen[i]) continue;
    unsigned t2 = *u->sq_tail;
    unsigned idx = t2 & *u->sq_mask;
    struct io_uring_sqe *sqe = &u->sqes[idx];
    memset(sqe, 0, sizeof *sqe);
    sqe->opcode = PMT_IORING_OP_ASYNC_CANCEL;
    sqe->fd = -1;
    sqe->addr = (__u64)i;
    sqe->user_data = URING_CANCEL_TAG | (__u64)i;
    u->sq_array[idx] = idx;
    __atomic_store_n(u->sq_tail, t2 + 1, __ATOMIC_RELEASE);
    cancels++;
  }
  int to_submit = cancels;
  while (reaped < submitted) {
    int r = (int)syscall(__NR_io_uring_enter, u->fd, to_submit, 1, IORING_ENTER_GETEVENTS, NULL,
                         0);
    if (r < 0 && errno != EINTR) break;
    if (r > 0) to_submit -= r;
    reaped += uring_reap(u, res, submitted);
  }
  return -EOPNOTSUPP;
}
#endif

/* A write error that stops the batch (queue full, device gone) rather than skipping a packet. */
static int stops_batch(int e) {
  return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || is_fatal_fd_error(e) || e == EIO;
}

/*
 * Writes n units (one writev each, in order) through io_uring when it works here, else with a
 * writev loop. Returns packets written. A unit the kernel refuses (EINVAL: not an IP packet, ...)
 * is skipped and its packets counted as failed; EAGAIN/ENOBUFS/EIO and fd-gone errors stop the
 * batch and count every packet left.
 */
static int write_units(uring_t *u, int fd, const wunit_t *w, int n, send_result *res,
                       int *stopped) {
  int sent = 0;
  *stopped = 0;
  int left = 0; /* packets in units not yet written */
  for (int i = 0; i < n; i++) left += w[i].packets;
#ifdef PMT_HAVE_IO_URING
  if (u != NULL && u->fd >= 0 && u->enabled) {
    int32_t out[URING_ENTRIES];
    int start = 0;
    while (start < n) {
      int k = n - start > URING_ENTRIES ? URING_ENTRIES : n - start;
      int r = uring_write_chain(u, fd, w + start, k, out);
      if (r < 0) {
        if (start == 0 && sent == 0) {
          u->enabled = 0; /* the ring does not work here: writev loop, now and from now on */
          break;
        }
        note_failure(res, -r, left);
        *stopped = 1;
        return sent;
      }
      int j = 0;
      while (j < k && out[j] >= 0) {
        sent += w[start + j].packets;
        left -= w[start + j].packets;
        j++;
      }
      if (j == k) {
        start += k;
        continue;
      }
      int e = -out[j];
      if (stops_batch(e)) {
        note_failure(res, e, left);
        *stopped = 1;
        return sent;
      }
      note_failure(res, e, w[start + j].packets); /* skip it, go on */
      left -= w[start + j].packets;
      start += j + 1;
    }
    if (u->enabled) return sent;
  }
#else
  (void)u;
#endif
  for (int i = 0; i < n; i++) {
    ssize_t r;
    do r = writev(fd, w[i].iov, w[i].niov);
    while (r < 0 && errno == EINTR);
    if (r >= 0) {
      sent += w[i].packets;
      left -= w[i].packets;
      continue;
    }
    int e = errno;
    if (stops_batch(e)) {
      note_failure(res, e, left);
      *stopped = 1;
      break;
    }
    note_failure(res, e, w[i].packets);
    left -= w[i].packets;
  }
  return sent;
}

static env_state_t *env_state(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

static uring_t *env_uring(napi_env env) {
  env_state_t *st = env_state(env);
  return st != NULL ? &st->uring : NULL;
}

/* setIoUring(enabled): boolean — switch batched TUN writes (and TUN reads, drain_tun_uring)
 * through io_uring on/off; returns whether they are on (false when io_uring is unavailable
 * here). */
static napi_value set_io_uring(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  bool on;
  if (napi_get_value_bool(env, argv[0], &on) != napi_ok)
    return throw_type(env, "setIoUring(enabled: boolean)");
  uring_t *u = env_uring(env);
  if (u != NULL && u->fd >= 0) u->enabled = on;
  napi_value v;
  napi_get_boolean(env, u != NULL && u->fd >= 0 && u->enabled, &v);
  return v;
}

/* writeTun(fd, bufs, offsets: Int32Array, lengths: Int32Array, count, status: Int32Array(3))
 * On a TUN opened with offload, in-order TCP segments of one flow are written as one
 * super-packet (gro_group); the return value and status still count packets. */
static napi_value write_tun(napi_env env, napi_callback_info info) {
  CHECK_ARGC(6);
  int32_t fd, count, *offs, *lens, *status;
  napi_value bufs;
  if (!get_send_args(env, argv, 0, &fd, &bufs, &offs, &lens, NULL, &count, &status))
    return throw_type(env,
                      "writeTun(fd, bufs: Uint8Array[], offsets: Int32Array, lengths: Int32Array, "
                      "count, status: Int32Array(3)) with count within every array");
  env_state_t *st = env_state(env);
  if (st == NULL) return throw_errno(env, ENOMEM, "writeTun", "addon state");
  gro_scratch_t *g = &st->gro; /* per environment; no allocation per call */
  send_result res = {status, 0, 0, 0};
  tun_offload_t *off = tun_vnet(fd);
  uring_t *u = &st->uring;
  int sent = 0;
  uint8_t *ptrs[SEND_CHUNK];
  int32_t plen[SEND_CHUNK];
  int i = 0;
  while (i < count) {
    int n = 0;
    while (i < count && n < SEND_CHUNK) {
      uint8_t *p = packet_at(env, bufs, i, offs[i], lens[i]);
      if (p == NULL) {
        note_failure(&res, EINVAL, 1);
      } else {
        ptrs[n] = p;
        plen[n] = lens[i];
        n++;
      }
      i++;
    }
    int nu = gro_group(g, off != NULL, off != NULL && off->uso, ptrs, plen, n, off);
    int stopped;
    sent += write_units(u, fd, g->w, nu, &res, &stopped);
    if (stopped) {
      note_failure(&res, res.first_err, count - i); /* the chunks not tried */
      break;
    }
  }
  status[0] = res.first_err;
  status[1] = res.failed;
  status[2] = res.stale;
  return num(env, sent);
}

/* ---------------------------------------------------------------------------------------------
 * poller: uv_poll + batch drain into a preallocated ring
 * ------------------------------------------------------------------------------------------- */

typedef struct poller {
  uv_poll_t handle; /* first: the uv handle pointer is the poller pointer */
  napi_env env;
  int fd;
  int kind;
  int max;
  int offset;
  int closing;
  int paused;
  int err_spin;
  int owners;
  int uring_guess; /* TUN reads per io_uring_enter next time (drain_tun_uring) */
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
  int recent_super; /* > 0: a super-packet was read within the last reads (drain_tun_vnet) */
  int32_t *gso_info; /* off: super-packets handed over whole, gso_info[slot] = th << 16 | mss */
  uint8_t **bufs;
  size_t *caps;
  napi_ref *buf_refs;
  int32_t *sizes;
  uint32_t *addrs4; /* raw4: source IPv4 per packet, host order */
  uint8_t *addrs6;  /* icmp6: 16 bytes per packet */
  int32_t *meta;    /* icmp6: [hopLimit, ifindex] per packet */
  napi_ref sizes_ref, addrs_ref, meta_ref, on_batch_ref, on_error_ref;
  napi_async_context async_ctx;
  struct mmsghdr *msgs;
  struct iovec *iovs;
  struct sockaddr_in6 *names; /* large enough for sockaddr_in too */
  char *cmsgs;
  /* counters, read by pollStats */
  double batches, packets, so_errors, errqueue, truncated, restarts, read_errors, gro_merged;
  double gro_unusable;
  int last_so_error;
} poller_t;

/* Releases everything but the struct itself: JS references, async context, arrays. */
static void poller_release(poller_t *p) {
  napi_env env = p->env;
  if (p->buf_refs)
    for (int i = 0; i < p->max; i++)
      if (p->buf_refs[i]) napi_delete_reference(env, p->buf_refs[i]);
  napi_ref refs[] = {p->sizes_ref, p->addrs_ref, p->meta_ref, p->on_batch_ref, p->on_error_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
    if (refs[i]) napi_delete_reference(env, refs[i]);
  p->sizes_ref = p->addrs_ref = p->meta_ref = p->on_batch_ref = p->on_error_ref = NULL;
  if (p->async_ctx) napi_async_destroy(env, p->async_ctx);
  p->async_ctx = NULL;
  free(p->bufs);
  free(p->caps);
  free(p->buf_refs);
  free(p->msgs);
  free(p->iovs);
  free(p->names);
  free(p->cmsgs);
  free(p->gso_buf);
  free(p->spill);
  free(p->q_pos);
  free(p->q_len);
  free(p->q_hdr);
  p->gso_buf = p->spill = NULL;
  p->q_pos = NULL;
  p->q_len = NULL;
  p->q_hdr = NULL;
  p->bufs = NULL;
  p->caps = NULL;
  p->buf_refs = NULL;
  p->msgs = NULL;
  p->iovs = NULL;
  p->names = NULL;
  p->cmsgs = NULL;
}

/* Used only before the uv handle and the External exist. */
static void poller_free(poller_t *p) {
  poller_release(p);
  free(p);
}

/* The struct has two owners: the uv handle (until its close callback) and the JS External
 * (until garbage collected), so pollStats/pollClose on a closed handle stay safe. */
static void poller_unref(poller_t *p) {
  if (--p->owners == 0) free(p);
}

static void on_uv_close(uv_handle_t *h) {
  poller_t *p = (poller_t *)h;
  poller_release(p);
  poller_unref(p);
}

static void on_external_gc(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poller_unref((poller_t *)data);
}

/* Calls fn(argv...) as a libuv-originated callback: runs microtasks/nextTicks afterwards and
 * turns a thrown exception into an uncaught exception instead of leaving it pending. */
static void call_js(poller_t *p, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_env env = p->env;
  napi_value fn, recv, result;
  if (napi_get_reference_value(env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_make_callback(env, p->async_ctx, recv, fn, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

static void report_error(poller_t *p, int err, const char *syscall) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return;
  char what[48];
  snprintf(what, sizeof what, "fd %d", p->fd);
  napi_value e = make_errno_error(p->env, err, syscall, what);
  call_js(p, p->on_error_ref, 1, &e);
  napi_close_handle_scope(p->env, scope);
}

static void drain_errqueue(poller_t *p) {
  char data[256], control[512];
  for (int i = 0; i < 64; i++) {
    struct iovec iov = {.iov_base = data, .iov_len = sizeof data};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control;
    msg.msg_controllen = sizeof control;
    if (recvmsg(p->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT) < 0) break;
    p->errqueue++;
  }
}

/* Reads up to p->max packets; returns the count, or -errno on a hard error with 0 packets. */
#ifdef PMT_HAVE_IO_URING
/* What a failed TUN read through the ring means (res < 0): the queue was empty, try again,
 * the ring cannot read this TUN (RWF_NOWAIT unsupported), or a real error. */
enum { READ_EMPTY, READ_RETRY, READ_UNSUPPORTED, READ_ERROR };
static int uring_read_failure(int32_t v) {
  if (v == -EAGAIN || v == -EWOULDBLOCK || v == -ECANCELED) return READ_EMPTY;
  if (v == -EINTR) return READ_RETRY;
  if (v == -EOPNOTSUPP || v == -EINVAL) return READ_UNSUPPORTED;
  return READ_ERROR;
}

/* TUN reads through the ring (uring_read_batch), batches sized from the last drain plus a
 * margin, so an idle-ish TUN costs a few -EAGAIN completions, not a syscall per packet.
 * Sets *done when the queue was found empty (or on error); returns packets read. */
static int drain_tun_uring(poller_t *p, uring_t *u, int *err, int *done) {
  int32_t res[URING_ENTRIES];
  int n = 0;
  int want = p->uring_guess > 0 ? p->uring_guess : 8;
  while (n < p->max) {
    int k = p->max - n;
    if (k > want) k = want;
    if (k > URING_ENTRIES) k = URING_ENTRIES;
    for (int i = 0; i < k; i++) {
      u->iov[i].iov_base = p->bufs[n + i] + p->offset;
      u->iov[i].iov_len = p->caps[n + i] - (size_t)p->offset;
    }
    int r = uring_read_batch(u, p->fd, u->iov, 1, k, res);
    /* Keep the packets in order at the front: a read can succeed after one that found the
     * queue empty (a packet arrived in between); move it down (rare). */
    int got = 0, empty = 0;
    for (int i = 0; i < k; i++) {
      int32_t v = res[i];
      if (v >= 0) {
        if (got != i) {
          /* Size 0 (every parser drops it) if the slot it moves to were smaller. */
          if ((size_t)v > p->caps[n + got] - (size_t)p->offset) v = 0;
          memcpy(p->bufs[n + got] + p->offset, p->bufs[n + i] + p->offset, (size_t)v);
        }
        p->sizes[n + got++] = v;
      } else {
        int kind = uring_read_failure(v); /* READ_RETRY: the next round reads again */
        if (kind == READ_EMPTY) empty = 1;
        if (kind == READ_UNSUPPORTED) r = -EOPNOTSUPP; /* no RWF_NOWAIT for this TUN/kernel */
        if (kind == READ_ERROR && *err == 0) *err = -v;
      }
    }
    n += got;
    if (r < 0) {
      u->reads = 0; /* read(2) from now on; the caller continues this drain with it */
      p->uring_guess = 0;
      return n;
    }
    if (*err != 0 || empty) break;
    want = URING_ENTRIES; /* all k had a packet: more may be queued */
  }
  *done = 1;
  int g = n + 8;
  p->uring_guess = g > URING_ENTRIES ? URING_ENTRIES : g;
  return n;
}
#endif

static uint8_t *slot_at(poller_t *p, int i) { return p->bufs[i] + p->offset; }
static size_t slot_cap(poller_t *p, int i) { return p->caps[i] - (size_t)p->offset; }
static uint8_t *spill_at(poller_t *p, int i) { return p->spill + (size_t)i * p->spill_bytes; }

/* Copies len bytes laid out as s0[0..scap) then s1[..] into d0[0..dcap) then d1[..]. */
static void copy_split(uint8_t *d0, size_t dcap, uint8_t *d1, const uint8_t *s0, size_t scap,
                       const uint8_t *s1, size_t len) {
  size_t off = 0;
  while (off < len) {
    const uint8_t *sp = off < scap ? s0 + off : s1 + (off - scap);
    size_t sl = off < scap ? scap - off : len - off;
    uint8_t *dp = off < dcap ? d0 + off : d1 + (off - dcap);
    size_t dl = off < dcap ? dcap - off : len - off;
    size_t k = sl < dl ? sl : dl;
    if (k > len - off) k = len - off;
    memmove(dp, sp, k);
    off += k;
  }
}

/* Cuts the pending super-packet into segments in slots n..limit-1 (as the kernel's
 * tcp_gso_segment: sequence numbers advance, FIN and PSH only on the last, CWR only on the
 * first, each with its full checksum). Returns the new n; p->gso_pos stays > 0 while segments
 * are left. */
static int gso_emit(poller_t *p, int n, int limit) {
  const uint8_t *src = p->gso_buf;
  int th = p->gso_th, hl = p->gso_hl;
  uint32_t seq0 = rd32(src + th + 4);
  while (p->gso_pos > 0 && n < limit) {
    int pos = p->gso_pos;
    int seg = p->gso_len - pos < p->gso_mss ? p->gso_len - pos : p->gso_mss;
    int last = pos + seg >= p->gso_len;
    uint8_t *d = slot_at(p, n);
    if ((size_t)(hl + seg) > slot_cap(p, n)) {
      p->off->gso_dropped++; /* a segment larger than a ring slot: drop the rest */
      p->truncated++;
      p->gso_pos = 0;
      break;
    }
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
    if (p->gso_info != NULL) p->gso_info[n] = 0;
    p->sizes[n++] = hl + seg;
    p->off->segments++;
    p->gso_pos = last ? 0 : pos + seg;
  }
  return n;
}

/* Turns the read in slot s (len bytes, header h) into packet slot o (o <= s): a plain packet is
 * moved there (checksum completed when the kernel left it to us); a super-packet is copied to
 * gso_buf for gso_emit. Returns the new o. */
static int take_read(poller_t *p, int s, size_t len, const vnet_hdr_t *h, int o) {
  tun_offload_t *t = p->off;
  int type = h->gso_type & ~VNET_GSO_ECN;
  if (type == VNET_GSO_NONE) {
    if (len > slot_cap(p, o)) {
      t->gso_dropped++;
      return o;
    }
    /* Slot s may be smaller than slot o (buffers of different sizes): the read may go on in
     * s's spill (fuzz-native.c). */
    if (s != o)
      copy_split(slot_at(p, o), slot_cap(p, o), NULL, slot_at(p, s), slot_cap(p, s),
                 spill_at(p, s), len);
    if (h->flags & VNET_F_NEEDS_CSUM) {
      if (!complete_csum(slot_at(p, o), len, h)) {
        t->gso_dropped++;
        return o;
      }
      t->csum_completed++;
    }
    p->sizes[o] = (int32_t)len;
    if (p->gso_info != NULL) p->gso_info[o] = 0;
    if (p->recent_super > 0) p->recent_super--;
    return o + 1;
  }
  p->recent_super = 16;
  if (len > GSO_BUF_BYTES) {
    t->gso_dropped++;
    return o;
  }
  /* Handed over whole (gso_info): checked where it was read, unless it went on in the spill. */
  int whole = p->gso_info != NULL && len <= slot_cap(p, s) && len <= slot_cap(p, o);
  if (!whole)
    copy_split(p->gso_buf, GSO_BUF_BYTES, NULL, slot_at(p, s), slot_cap(p, s), spill_at(p, s),
               len);
  const uint8_t *b = whole ? slot_at(p, s) : p->gso_buf;
  int th = h->csum_start;
  int thl = (size_t)th + 20 <= len ? (b[th + 12] >> 4) * 4 : 0;
  if (type != VNET_GSO_TCPV6 || len < 60 || (b[0] >> 4) != 6 || th < 40 || thl < 20 ||
      (size_t)(th + thl) >= len || h->gso_size == 0 || h->csum_offset != 16 ||
      (th == 40 && b[6] != 6)) {
    t->gso_dropped++;
    return o;
  }
  t->super_reads++;
  if (whole) {
    gso_send_t g;
    int32_t info = th <= 0x7fff ? (int32_t)(th << 16 | h->gso_size) : 0;
    if (gso_info_ok(b, (int32_t)len, info, &g)) {
      /* Into slot o: where it was read, unless an earlier read of this batch was dropped. The
       * path encapsulates it once and sendRaw4 cuts it (gso_send_seg). */
      if (s != o) memcpy(slot_at(p, o), b, len);
      p->sizes[o] = (int32_t)len;
      p->gso_info[o] = info;
      t->segments += (double)g.segs;
      return o + 1;
    }
    /* headers too long to hand over: cut here, as without gso_info */
    memcpy(p->gso_buf, b, len);
    b = p->gso_buf;
  }
  p->gso_len = (int)len;
  p->gso_th = th;
  p->gso_hl = th + thl;
  p->gso_mss = h->gso_size;
  p->gso_pos = th + thl;
  return o;
}

static void queue_read(poller_t *p, int slot, size_t len, const vnet_hdr_t *h) {
  int j = p->q_head + p->q_n++;
  p->q_pos[j] = slot;
  p->q_len[j] = (int32_t)len;
  p->q_hdr[j] = *h;
}

/*
 * TUN reads with a vnet header (offload). Reads land in ring slots (several per io_uring_enter,
 * as drain_tun_uring) and are queued; each becomes one packet, or a super-packet that gso_emit
 * cuts into as many segments as there are free slots below the next queued read. What is left
 * (segments, queued reads) goes out in the next batch, in order: queued reads first move to the
 * top of the ring so the segments get the room. Returns the packets in slots 0..n-1.
 */
static int drain_tun_vnet(poller_t *p, int *err) {
  if (p->q_n > 0) {
    /* Positions ascend: moving each to max - q_n + j, last first, never overwrites another. */
    for (int j = p->q_n - 1; j >= 0; j--) {
      int from = p->q_pos[p->q_head + j], to = p->max - p->q_n + j;
      if (from != to)
        copy_split(slot_at(p, to), slot_cap(p, to), spill_at(p, to), slot_at(p, from),
                   slot_cap(p, from), spill_at(p, from), (size_t)p->q_len[p->q_head + j]);
    }
    for (int j = 0; j < p->q_n; j++) {
      p->q_pos[j] = p->max - p->q_n + j;
      p->q_len[j] = p->q_len[p->q_head + j];
      p->q_hdr[j] = p->q_hdr[p->q_head + j];
    }
    p->q_head = 0;
  }
  int o = 0;
#ifdef PMT_HAVE_IO_URING
  uring_t *u = env_uring(p->env);
#endif
  for (;;) {
    int limit = p->q_n > 0 ? p->q_pos[p->q_head] : p->max;
    if (p->gso_pos > 0) {
      o = gso_emit(p, o, limit);
      if (p->gso_pos > 0) break; /* no room left below the next queued read */
    }
    if (p->q_n > 0) {
      int j = p->q_head;
      p->q_head++;
      if (--p->q_n == 0) p->q_head = 0;
      o = take_read(p, p->q_pos[j], (size_t)p->q_len[j], &p->q_hdr[j], o);
      continue;
    }
    /* Super-packets handed over whole fill their slots (64 KiB each): while they come, read
     * into the first WHOLE_SLOTS only, so the ring's resident memory stays small. */
    int room = p->gso_info != NULL && p->recent_super > 0 && p->max > WHOLE_SLOTS ? WHOLE_SLOTS
                                                                                   : p->max;
    if (o >= room || *err != 0) break;
    /* Super-packets lately: read few at a time, into the top of the ring, so their segments
     * fill the slots below; otherwise read many, in place. */
    int top = p->recent_super > 0 && p->gso_info == NULL;
    int got = 0, empty = 0;
#ifdef PMT_HAVE_IO_URING
    if (u != NULL && u->fd >= 0 && u->enabled && u->reads) {
      vnet_hdr_t hdrs[URING_ENTRIES];
      int32_t res[URING_ENTRIES];
      int k = room - o;
      int want = top ? 2 : p->uring_guess > 0 ? p->uring_guess : 8;
      if (k > want) k = want;
      if (k > URING_ENTRIES) k = URING_ENTRIES;
      int base = top ? p->max - k : o;
      for (int i = 0; i < k; i++) {
        u->iov[3 * i] = (struct iovec){&hdrs[i], sizeof hdrs[i]};
        u->iov[3 * i + 1] = (struct iovec){slot_at(p, base + i), slot_cap(p, base + i)};
        u->iov[3 * i + 2] = (struct iovec){spill_at(p, base + i), p->spill_bytes};
      }
      int r = uring_read_batch(u, p->fd, u->iov, 3, k, res);
      for (int i = 0; i < k; i++) {
        int32_t v = res[i];
        if (v >= (int32_t)sizeof(vnet_hdr_t)) {
          queue_read(p, base + i, (size_t)v - sizeof(vnet_hdr_t), &hdrs[i]);
          got++;
        } else if (v < 0) { /* v >= 0 here: too short to hold the header, not a packet */
          int kind = uring_read_failure(v);
          if (kind == READ_EMPTY) empty = 1;
          if (kind == READ_UNSUPPORTED) r = -EOPNOTSUPP;
          if (kind == READ_ERROR && *err == 0) *err = -v;
        }
      }
      if (r < 0) {
        u->reads = 0; /* readv(2) from now on */
        p->uring_guess = 0;
      } else {
        int g = empty ? got + 8 : URING_ENTRIES;
        p->uring_guess = g > URING_ENTRIES ? URING_ENTRIES : g;
      }
      if (got == 0 && (empty || *err != 0)) break;
      continue;
    }
#endif
    vnet_hdr_t h;
    int at = top ? p->max - 1 : o;
    struct iovec iov[3] = {
        {&h, sizeof h}, {slot_at(p, at), slot_cap(p, at)}, {spill_at(p, at), p->spill_bytes}};
    ssize_t r = readv(p->fd, iov, 3);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
      break;
    }
    if (r >= (ssize_t)sizeof h) queue_read(p, at, (size_t)r - sizeof h, &h);
    (void)got;
    (void)empty;
  }
  return o;
}

static int drain_tun(poller_t *p, int *err) {
  int n = 0;
  if (p->off != NULL) return drain_tun_vnet(p, err);
#ifdef PMT_HAVE_IO_URING
  uring_t *u = env_uring(p->env);
  if (u != NULL && u->fd >= 0 && u->enabled && u->reads) {
    int done = 0;
    n = drain_tun_uring(p, u, err, &done);
    if (done) return n;
  }
#endif
  while (n < p->max) {
    ssize_t r = read(p->fd, p->bufs[n] + p->offset, p->caps[n] - (size_t)p->offset);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
      break;
    }
    p->sizes[n++] = (int32_t)r;
  }
  return n;
}

/*
 * A protocol-41 packet that the receiving NIC's GRO merged from several (the kernel's sit_offload:
 * Linux tunnels send with DF and a fixed ID, which GRO merges whatever we do on our side). A raw
 * socket hands it over as the merge left it. Returns 1 when it was one and is usable now, -1 when
 * it was one that cannot be taken apart, else 0.
 * - TCP, plain GRO: only the pseudo-header sum is in the checksum field (tcp6_gro_complete), as
 *   for CHECKSUM_PARTIAL. One intact packet in 65536 has such a field: it verifies, so it is left
 *   alone.
 *   The checksum is completed over the whole segment, as the kernel would before delivering it to
 *   a socket (the kernel verified every merged segment before merging).
 * - TCP, fraglist GRO: the first segment's checksum (flist_first_len), looked for only in packets
 *   longer than an Ethernet frame (1500) whose checksum fails; left in place (-1 when none is
 *   found).
 *   Either way write_tun sends a TCP packet longer than the TUN's MTU as a super-packet that the
 *   kernel cuts into segments (gro_group, "oversized"): at the first segment's size for fraglist,
 *   at 1280 bytes for plain GRO.
 * - UDP (rx-gro-list or rx-udp-gro-forwarding; the kernel merges inner UDP of 6in4 the plain way
 *   under both): the datagrams' length went with their checksums, replaced by the pseudo-header
 *   sum of the whole. Nothing tells where one datagram ended: counted (-1), passed on as it is,
 *   and lost at the receiver.
 */
static int complete_gro_6in4(uint8_t *pkt, int32_t len) {
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
  uint16_t ps = csum_fold(pseudo6(q, tl, 6));
  if (memcmp(q + 56, &ps, 2) == 0) {
    if (tcp6_csum_ok(q, ql)) return 0;
  } else if (len <= 1500 || tcp6_csum_ok(q, ql)) {
    return 0;
  } else {
    /* fraglist: left as it is; write_tun finds the segment size again and cuts there */
    return flist_first_len(q, ql) > 0 ? 1 : -1;
  }
  uint16_t c = (uint16_t)~csum_fold(csum_add(0, q + 40, tl));
  memcpy(q + 56, &c, 2);
  return 1;
}

static int drain_socket(poller_t *p, int *err) {
  int is6 = p->kind == POLL_KIND_ICMP6;
  for (int i = 0; i < p->max; i++) {
    struct msghdr *h = &p->msgs[i].msg_hdr;
    h->msg_name = &p->names[i];
    h->msg_namelen = is6 ? sizeof(struct sockaddr_in6) : sizeof(struct sockaddr_in);
    h->msg_iov = &p->iovs[i];
    h->msg_iovlen = 1;
    h->msg_control = is6 ? p->cmsgs + (size_t)i * ICMP6_CMSG_BYTES : NULL;
    h->msg_controllen = is6 ? ICMP6_CMSG_BYTES : 0;
    h->msg_flags = 0;
  }
  int r;
  for (int attempt = 0;; attempt++) {
    r = recvmmsg(p->fd, p->msgs, (unsigned)p->max, MSG_DONTWAIT, NULL);
    if (r >= 0) break;
    int e = errno;
    if (e == EINTR) continue;
    if (e == EAGAIN || e == EWOULDBLOCK) return 0;
    if (is_stale_icmp_error(e) && attempt < 4) {
      /* recvmmsg returned (and cleared) a pending sk_err: count it and read again. */
      p->so_errors++;
      p->last_so_error = e;
      continue;
    }
    *err = e;
    return 0;
  }
  for (int i = 0; i < r; i++) {
    struct msghdr *h = &p->msgs[i].msg_hdr;
    int32_t len = (int32_t)p->msgs[i].msg_len;
    if (h->msg_flags & MSG_TRUNC) {
      /* Larger than the buffer: size 0 makes every parser drop it. */
      p->truncated++;
      len = 0;
    }
    p->sizes[i] = len;
    if (!is6) {
      int merged = len > 0 ? complete_gro_6in4(p->iovs[i].iov_base, len) : 0;
      if (merged > 0) p->gro_merged++;
      if (merged < 0) p->gro_unusable++;
      struct sockaddr_in *sin = (struct sockaddr_in *)&p->names[i];
      if (p->addrs4) p->addrs4[i] = ntohl(sin->sin_addr.s_addr);
    } else {
      struct sockaddr_in6 *sin6 = &p->names[i];
      if (p->addrs6) memcpy(p->addrs6 + (size_t)i * 16, &sin6->sin6_addr, 16);
      int hop = -1, ifindex = (int)sin6->sin6_scope_id;
      for (struct cmsghdr *c = CMSG_FIRSTHDR(h); c != NULL; c = CMSG_NXTHDR(h, c)) {
        if (c->cmsg_level != IPPROTO_IPV6) continue;
        if (c->cmsg_type == IPV6_HOPLIMIT && c->cmsg_len >= CMSG_LEN(sizeof(int))) {
          memcpy(&hop, CMSG_DATA(c), sizeof hop);
        } else if (c->cmsg_type == IPV6_PKTINFO &&
                   c->cmsg_len >= CMSG_LEN(sizeof(struct in6_pktinfo))) {
          struct in6_pktinfo pi;
          memcpy(&pi, CMSG_DATA(c), sizeof pi);
          ifindex = (int)pi.ipi6_ifindex;
        }
      }
      if (p->meta) {
        p->meta[2 * i] = hop;
        p->meta[2 * i + 1] = ifindex;
      }
    }
  }
  return r;
}

static void on_poll(uv_poll_t *h, int status, int events);

static void stop_and_report(poller_t *p, int err, const char *syscall) {
  uv_poll_stop(&p->handle);
  p->paused = 1;
  report_error(p, err, syscall);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poller_t *p = (poller_t *)h;
  (void)events;
  if (p->closing) return;
  if (status < 0) {
    /* EPOLLERR: libuv has already stopped this handle. */
    if (++p->err_spin > MAX_ERR_SPIN) {
      stop_and_report(p, EIO, "poll (EPOLLERR persists)");
      return;
    }
    if (p->kind != POLL_KIND_TUN) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(p->fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        stop_and_report(p, errno, "getsockopt(SO_ERROR)");
        return;
      }
      double queued = p->errqueue;
      drain_errqueue(p);
      if (err != 0 || p->errqueue != queued) {
        p->err_spin = 0; /* cleared a real error: progress, not a spin */
        p->so_errors++;
        p->last_so_error = err;
      }
    }
    /* TUN: POLLERR means the device was detached (deleted); the read below returns EBADFD and
     * is reported. Otherwise keep polling. */
    int r = uv_poll_start(&p->handle, UV_READABLE, on_poll);
    if (r < 0) {
      stop_and_report(p, -r, "uv_poll_start");
      return;
    }
    p->restarts++;
  }
  int err = 0;
  for (;;) {
    int n = p->kind == POLL_KIND_TUN ? drain_tun(p, &err) : drain_socket(p, &err);
    if (n > 0) {
      p->err_spin = 0;
      p->batches++;
      p->packets += n;
      napi_handle_scope scope;
      if (napi_open_handle_scope(p->env, &scope) == napi_ok) {
        napi_value count;
        napi_create_int32(p->env, n, &count);
        call_js(p, p->on_batch_ref, 1, &count);
        napi_close_handle_scope(p->env, scope);
      }
      if (p->closing) return; /* closed inside the callback: touch nothing else */
    }
    /* A super-packet cut into more segments than one batch holds: hand over the rest now (the
     * fd may not become readable again). Paused: they go first once packets arrive again. */
    if (err != 0 || p->paused || p->off == NULL || (p->gso_pos == 0 && p->q_n == 0)) break;
  }
  if (err != 0) {
    p->read_errors++;
    if (is_fatal_fd_error(err) || p->kind == POLL_KIND_TUN) {
      stop_and_report(p, err, p->kind == POLL_KIND_TUN ? "read" : "recvmmsg");
    } else {
      /* ENOMEM/ENOBUFS and friends: tell TypeScript (degrade) and keep polling. */
      report_error(p, err, "recvmmsg");
    }
  }
}

static napi_value wrap_poller(napi_env env, poller_t *p) {
  napi_value ext;
  p->owners = 2;
  if (napi_create_external(env, p, on_external_gc, NULL, &ext) != napi_ok) {
    p->owners = 1;
    return NULL;
  }
  return ext;
}

static poller_t *unwrap_poller(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (poller_t *)data;
}

/*
 * pollStart(fd, kind, bufs: Uint8Array[], offset, sizes: Int32Array, addrs, meta,
 *           onBatch(count), onError(err)): PollHandle
 *   kind 0 TUN (addrs, meta null), 1 raw IPv4 (addrs Uint32Array, meta null),
 *   2 ICMPv6 (addrs Uint8Array 16*N, meta Int32Array 2*N: [hopLimit, ifindex]).
 * The handle is an opaque External. Polling goes on until pollClose (a handle dropped without
 * pollClose keeps polling: the fd is still open); after pollClose the handle may still be
 * passed to pollStats/pollClose safely.
 */
static napi_value poll_start(napi_env env, napi_callback_info info) {
  CHECK_ARGC(9);
  int32_t fd, kind, offset;
  bool is_array;
  uint32_t nbufs;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &kind) || kind < 0 || kind > 2 ||
      napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array ||
      !get_i32(env, argv[3], &offset) || offset < 0)
    return throw_type(env, "pollStart(fd, kind 0..2, bufs: Uint8Array[], offset >= 0, ...)");
  napi_get_array_length(env, argv[2], &nbufs);
  if (nbufs == 0 || nbufs > MAX_BATCH)
    return throw_type(env, "pollStart: bufs must hold 1..1024 buffers");
  napi_valuetype t1, t2;
  napi_typeof(env, argv[7], &t1);
  napi_typeof(env, argv[8], &t2);
  if (t1 != napi_function || t2 != napi_function)
    return throw_type(env, "pollStart: onBatch and onError must be functions");

  poller_t *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, ENOMEM, "pollStart", "calloc");
  p->env = env;
  p->fd = fd;
  p->kind = kind;
  p->max = (int)nbufs;
  p->offset = offset;
  p->bufs = calloc(nbufs, sizeof *p->bufs);
  p->caps = calloc(nbufs, sizeof *p->caps);
  p->buf_refs = calloc(nbufs, sizeof *p->buf_refs);
  if (kind == POLL_KIND_TUN && (p->off = tun_vnet(fd)) != NULL) {
    p->gso_buf = malloc(GSO_BUF_BYTES); /* pages touched only when super-packets come */
    p->q_pos = calloc(nbufs, sizeof *p->q_pos);
    p->q_len = calloc(nbufs, sizeof *p->q_len);
    p->q_hdr = calloc(nbufs, sizeof *p->q_hdr);
  }
  if (kind != POLL_KIND_TUN) {
    p->msgs = calloc(nbufs, sizeof *p->msgs);
    p->iovs = calloc(nbufs, sizeof *p->iovs);
    p->names = calloc(nbufs, sizeof *p->names);
    if (kind == POLL_KIND_ICMP6) p->cmsgs = calloc(nbufs, ICMP6_CMSG_BYTES);
  }
  const char *bad = NULL;
  if (!p->bufs || !p->caps || !p->buf_refs ||
      (p->off != NULL && (!p->gso_buf || !p->q_pos || !p->q_len || !p->q_hdr)) ||
      (kind != POLL_KIND_TUN && (!p->msgs || !p->iovs || !p->names)) ||
      (kind == POLL_KIND_ICMP6 && !p->cmsgs)) {
    poller_free(p);
    return throw_errno(env, ENOMEM, "pollStart", "calloc");
  }
  for (uint32_t i = 0; i < nbufs && bad == NULL; i++) {
    napi_value el;
    uint8_t *data;
    size_t len;
    if (napi_get_element(env, argv[2], i, &el) != napi_ok || !get_bytes(env, el, &data, &len))
      bad = "pollStart: every bufs[i] must be a Buffer/Uint8Array";
    else if (len <= (size_t)offset)
      bad = "pollStart: every buffer must be longer than offset";
    else {
      p->bufs[i] = data;
      p->caps[i] = len;
      napi_create_reference(env, el, 1, &p->buf_refs[i]);
      if (p->iovs) {
        p->iovs[i].iov_base = data + offset;
        p->iovs[i].iov_len = len - (size_t)offset;
      }
    }
  }
  if (bad == NULL && p->off != NULL) {
    /* A TUN read returns at most 64 KiB (gso_max_size) plus the vnet header: what does not
     * fit a slot lands in the slot's spill. */
    size_t cap_min = SIZE_MAX;
    for (uint32_t i = 0; i < nbufs; i++)
      if (p->caps[i] - (size_t)offset < cap_min) cap_min = p->caps[i] - (size_t)offset;
    size_t need = cap_min >= 65536 + 256 ? 64 : 65536 + 256 - cap_min;
    p->spill_bytes = (need + 63) & ~(size_t)63;
    p->spill = malloc(p->spill_bytes * nbufs);
    if (p->spill == NULL) {
      poller_free(p);
      return throw_errno(env, ENOMEM, "pollStart", "malloc");
    }
  }
  size_t n;
  if (bad == NULL) {
    if (!get_typed(env, argv[4], napi_int32_array, (void **)&p->sizes, &n) || n < nbufs)
      bad = "pollStart: sizes must be an Int32Array with one slot per buffer";
    else
      napi_create_reference(env, argv[4], 1, &p->sizes_ref);
  }
  if (bad == NULL && kind == POLL_KIND_RAW4 && !is_nullish(env, argv[5])) {
    if (!get_typed(env, argv[5], napi_uint32_array, (void **)&p->addrs4, &n) || n < nbufs)
      bad = "pollStart: addrs must be a Uint32Array with one slot per buffer";
    else
      napi_create_reference(env, argv[5], 1, &p->addrs_ref);
  }
  if (bad == NULL && kind == POLL_KIND_ICMP6 && !is_nullish(env, argv[5])) {
    if (!get_typed(env, argv[5], napi_uint8_array, (void **)&p->addrs6, &n) || n < 16 * nbufs)
      bad = "pollStart: addrs must be a Uint8Array with 16 bytes per buffer";
    else
      napi_create_reference(env, argv[5], 1, &p->addrs_ref);
  }
  if (bad == NULL && kind == POLL_KIND_TUN && p->off != NULL && !is_nullish(env, argv[6])) {
    if (!get_typed(env, argv[6], napi_int32_array, (void **)&p->gso_info, &n) || n < nbufs)
      bad = "pollStart: gso must be an Int32Array with one slot per buffer";
    else
      napi_create_reference(env, argv[6], 1, &p->meta_ref);
  }
  if (bad == NULL && kind == POLL_KIND_ICMP6 && !is_nullish(env, argv[6])) {
    if (!get_typed(env, argv[6], napi_int32_array, (void **)&p->meta, &n) || n < 2 * nbufs)
      bad = "pollStart: meta must be an Int32Array with 2 slots per buffer";
    else
      napi_create_reference(env, argv[6], 1, &p->meta_ref);
  }
  if (bad != NULL) {
    poller_free(p);
    return throw_type(env, bad);
  }
  napi_create_reference(env, argv[7], 1, &p->on_batch_ref);
  napi_create_reference(env, argv[8], 1, &p->on_error_ref);
  napi_value resource_name;
  napi_create_string_utf8(env, "pmtPoll", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &p->async_ctx);

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    poller_free(p);
    return throw_errno(env, EINVAL, "pollStart", "napi_get_uv_event_loop");
  }
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r < 0) {
    poller_free(p);
    return throw_errno(env, -r, "uv_poll_init", "");
  }
  r = uv_poll_start(&p->handle, UV_READABLE, on_poll);
  if (r < 0) {
    p->closing = 1;
    p->owners = 1;
    uv_close((uv_handle_t *)&p->handle, on_uv_close);
    return throw_errno(env, -r, "uv_poll_start", "");
  }
  napi_value ext = wrap_poller(env, p);
  if (ext == NULL) {
    p->closing = 1;
    uv_poll_stop(&p->handle);
    uv_close((uv_handle_t *)&p->handle, on_uv_close);
  }
  return ext;
}

/* pollPause(h) / pollResume(h): stop/start watching readability (backpressure). */
static napi_value poll_pause(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollPause(handle)");
  if (!p->closing && !p->paused) {
    uv_poll_stop(&p->handle);
    p->paused = 1;
  }
  return undefined(env);
}

static napi_value poll_resume(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollResume(handle)");
  if (p->closing) return throw_errno(env, EBADF, "pollResume", "poller closed");
  int r = uv_poll_start(&p->handle, UV_READABLE, on_poll);
  if (r < 0) return throw_errno(env, -r, "uv_poll_start", "");
  p->paused = 0;
  return undefined(env);
}

/* pollClose(h): stops watching at once (safe inside onBatch/onError; no callback follows),
 * releases the ring and callbacks once libuv has closed the handle. Does NOT close the fd:
 * call close(fd) afterwards. Idempotent. */
static napi_value poll_close(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollClose(handle)");
  if (!p->closing) {
    p->closing = 1;
    uv_poll_stop(&p->handle); /* removes the fd from epoll now, so close(fd) is safe next */
    uv_close((uv_handle_t *)&p->handle, on_uv_close);
  }
  return undefined(env);
}

/* pollStats(h): { batches, packets, soErrors, lastSoError, errQueue, truncated, restarts,
 *                 readErrors, groMerged, groUnusable } — counters since pollStart. */
static napi_value poll_stats(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollStats(handle)");
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "batches", p->batches);
  set_num(env, o, "packets", p->packets);
  set_num(env, o, "soErrors", p->so_errors);
  set_num(env, o, "lastSoError", p->last_so_error);
  set_num(env, o, "errQueue", p->errqueue);
  set_num(env, o, "truncated", p->truncated);
  set_num(env, o, "restarts", p->restarts);
  set_num(env, o, "readErrors", p->read_errors);
  set_num(env, o, "groMerged", p->gro_merged);
  set_num(env, o, "groUnusable", p->gro_unusable);
  return o;
}

/* ---------------------------------------------------------------------------------------------
 * module
 * ------------------------------------------------------------------------------------------- */

static void env_state_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  env_state_t *st = data;
  uring_close(&st->uring);
  free(st);
}

static napi_value init(napi_env env, napi_value exports) {
  env_state_t *st = calloc(1, sizeof *st);
  if (st != NULL) {
    uring_open(&st->uring);
    if (napi_set_instance_data(env, st, env_state_free, NULL) != napi_ok) {
      uring_close(&st->uring);
      free(st);
    }
  }
  napi_property_descriptor props[] = {
#define F(js, c) {js, NULL, c, NULL, NULL, NULL, napi_enumerable, NULL}
      F("openTun", open_tun),
      F("tunOffloadStats", tun_offload_stats),
      F("setMtu", set_mtu),
      F("setTxQueueLen", set_txqlen),
      F("setUp", set_up),
      F("ifIndex", if_index),
      F("ethtoolFeatures", ethtool_features),
      F("setNetns", set_netns),
      F("close", close_fd),
      F("getSocketError", get_socket_error),
      F("errnoName", errno_name_js),
      F("openRaw4", open_raw4),
      F("openIcmp6", open_icmp6),
      F("sendIcmp6", send_icmp6),
      F("sendRaw4", send_raw4),
      F("writeTun", write_tun),
      F("setIoUring", set_io_uring),
      F("pollStart", poll_start),
      F("pollPause", poll_pause),
      F("pollResume", poll_resume),
      F("pollClose", poll_close),
      F("pollStats", poll_stats),
#undef F
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_int32(env, POLL_KIND_TUN, &v);
  napi_set_named_property(env, exports, "POLL_KIND_TUN", v);
  napi_create_int32(env, POLL_KIND_RAW4, &v);
  napi_set_named_property(env, exports, "POLL_KIND_RAW4", v);
  napi_create_int32(env, POLL_KIND_ICMP6, &v);
  napi_set_named_property(env, exports, "POLL_KIND_ICMP6", v);
  napi_create_int32(env, MAX_BATCH, &v);
  napi_set_named_property(env, exports, "MAX_BATCH", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
