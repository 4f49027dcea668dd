/*
 * sockets.c: the raw sockets: protocol-41 IPv4 (openRaw4, sendRaw4 with the cutting of TCP
 * super-packets into segments while sending) and ICMPv6 for Neighbor Discovery and echo
 * (openIcmp6, sendIcmp6), and getSocketError. Their reads are socket-read.c's.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/icmp6.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/uio.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>

/* Classic BPF for the echo socket's filter: musl toolchains (OpenWrt, musl-gcc) often ship
 * without kernel UAPI headers, and these are stable ABI (include/uapi/linux/filter.h,
 * bpf_common.h). */
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


#include "addon.h"
#include "errors.h"
#include "napi-util.h"
#include "offload.h"

/* One step of an open* function: when call returns < 0, name the step and leave through `fail`
 * (close_and_throw). */
#define OR_FAIL(call, what) \
  do {                      \
    if ((call) < 0) {       \
      step = what;          \
      goto fail;            \
    }                       \
  } while (0)
#define SETOPT_OR_FAIL(fd, level, name, val, len, what) \
  OR_FAIL(setsockopt(fd, level, name, val, len), what)

/* The end of an open* function that failed at `step`: closes fd, throws errno (read first). */
static napi_value close_and_throw(napi_env env, int fd, const char *fn, const char *step) {
  int e = errno;
  close(fd);
  return throw_errno(env, e, fn, step);
}

static int set_buffer(int fd, int force_opt, int opt, int bytes) {
  if (bytes <= 0) return 0;
  /* SO_*BUFFORCE (CAP_NET_ADMIN) may exceed net.core.[rw]mem_max; fall back otherwise. */
  if (setsockopt(fd, SOL_SOCKET, force_opt, &bytes, sizeof bytes) == 0) return 0;
  return setsockopt(fd, SOL_SOCKET, opt, &bytes, sizeof bytes);
}

/*
 * openRaw4(protocol, bindAddr, device, hdrincl, recvErr, rcvbuf, sndbuf, pmtuDisc?): fd
 *   bindAddr: IPv4 as unsigned 32-bit number (0 = any); device: '' = none (else SO_BINDTODEVICE).
 *   pmtuDisc: IP_MTU_DISCOVER value (IP_PMTUDISC_*), absent = the kernel's default. With the
 *   static tunnel MTU (RFC 4213 §3.2.1) io/linux.ts passes IP_PMTUDISC_OMIT: packets then leave
 *   at the device MTU, whatever path MTU an ICMPv4 "fragmentation needed" (spoofed or not)
 *   recorded for the destination, and this socket's ICMP errors record none.
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
napi_value open_raw4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(8);
  int32_t proto, rcvbuf, sndbuf, pmtu_disc = -1;
  uint32_t bind_addr;
  char dev[64];
  bool hdrincl, recverr;
  if (!get_i32(env, argv[0], &proto) || !get_u32(env, argv[1], &bind_addr) ||
      !get_str(env, argv[2], dev, sizeof dev) || napi_get_value_bool(env, argv[3], &hdrincl) ||
      napi_get_value_bool(env, argv[4], &recverr) || !get_i32(env, argv[5], &rcvbuf) ||
      !get_i32(env, argv[6], &sndbuf) ||
      (!is_nullish(env, argv[7]) && (!get_i32(env, argv[7], &pmtu_disc) || pmtu_disc < 0)))
    return throw_type(env,
                      "openRaw4(protocol: number, bindAddr: number, device: string, hdrincl: "
                      "boolean, recvErr: boolean, rcvbuf: number, sndbuf: number, pmtuDisc?: "
                      "number >= 0)");
  int fd = socket(AF_INET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, proto);
  if (fd < 0) return throw_errno(env, errno, "socket", "AF_INET SOCK_RAW");
  const char *step = "";
  int one = 1;
  if (hdrincl) SETOPT_OR_FAIL(fd, IPPROTO_IP, IP_HDRINCL, &one, sizeof one, "IP_HDRINCL");
  if (recverr) SETOPT_OR_FAIL(fd, IPPROTO_IP, IP_RECVERR, &one, sizeof one, "IP_RECVERR");
  if (pmtu_disc >= 0)
    SETOPT_OR_FAIL(fd, IPPROTO_IP, IP_MTU_DISCOVER, &pmtu_disc, sizeof pmtu_disc, "IP_MTU_DISCOVER");
  OR_FAIL(set_buffer(fd, SO_RCVBUFFORCE, SO_RCVBUF, rcvbuf), "SO_RCVBUF");
  OR_FAIL(set_buffer(fd, SO_SNDBUFFORCE, SO_SNDBUF, sndbuf), "SO_SNDBUF");
  if (dev[0] != 0) SETOPT_OR_FAIL(fd, SOL_SOCKET, SO_BINDTODEVICE, dev, strlen(dev), "SO_BINDTODEVICE");
  if (bind_addr != 0) {
    struct sockaddr_in sin;
    memset(&sin, 0, sizeof sin);
    sin.sin_family = AF_INET;
    sin.sin_addr.s_addr = htonl(bind_addr);
    OR_FAIL(bind(fd, (struct sockaddr *)&sin, sizeof sin), "bind");
  }
  return num(env, fd);
fail:
  return close_and_throw(env, fd, "openRaw4", step);
}

/* IPV6_JOIN_GROUP of the 16-byte group on ifindex; a group already joined counts as joined. */
static int join_group(int fd, const uint8_t *group, unsigned ifindex) {
  struct ipv6_mreq mreq;
  memcpy(&mreq.ipv6mr_multiaddr, group, 16);
  mreq.ipv6mr_interface = ifindex;
  if (setsockopt(fd, IPPROTO_IPV6, IPV6_JOIN_GROUP, &mreq, sizeof mreq) < 0 && errno != EADDRINUSE)
    return -1;
  return 0;
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
napi_value open_icmp6(napi_env env, napi_callback_info info) {
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
  for (size_t off = 0; off < groups_len; off += 16)
    OR_FAIL(join_group(fd, groups + off, ifindex), "IPV6_JOIN_GROUP");
  return num(env, fd);
fail:
  return close_and_throw(env, fd, "openIcmp6", step);
}

/* sendIcmp6(fd, buf, offset, length, dst: Uint8Array, dstOffset, ifindex): void
 * The kernel fills the ICMPv6 checksum (mandatory IPV6_CHECKSUM on ICMPv6 raw sockets) and the
 * source address (link-local of ifindex, or the one in the packet path's routing decision). */
napi_value send_icmp6(napi_env env, napi_callback_info info) {
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

/* The int socket option `level`/`opt` of argv[0] (an fd) & `mask`, for the JS functions that read
 * one; `usage` is their TypeError text, `name` the option's in an errno error. */
napi_value int_sockopt(napi_env env, napi_callback_info info, int level, int opt, uint32_t mask,
                       const char *usage, const char *name) {
  CHECK_ARGC(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, usage);
  int val = 0;
  socklen_t len = sizeof val;
  if (getsockopt(fd, level, opt, &val, &len) < 0) return throw_errno(env, errno, "getsockopt", name);
  return num(env, (int)((uint32_t)val & mask));
}

/* getSocketError(fd): number — reads and clears SO_ERROR (0 = none). */
napi_value get_socket_error(napi_env env, napi_callback_info info) {
  return int_sockopt(env, info, SOL_SOCKET, SO_ERROR, 0xffffffffu, "getSocketError(fd: number)",
                     "SO_ERROR");
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
 *          status: Int32Array(3..6), gso?: Int32Array | null, first?: number, skip?: number): number
 * dsts null: each packet's destination is read from its IPv4 header (IP_HDRINCL sockets).
 * gso[i] > 0: packet i is a super-packet to cut (offload.c gso_send_seg; only with dsts null). The return value
 * and status count wire packets: a cut super-packet counts as its segments.
 * first/skip: start at entry `first`, `skip` segments of it already sent (a cut super-packet),
 * which is how the unsent tail of an earlier call is sent once the socket is writable again.
 * When the socket refuses more (EAGAIN: its send buffer is full; ENOBUFS: the queue behind it
 * dropped that packet) the call stops; with status of 6 slots, status[3] = the first entry not
 * attempted, or -1 when the call did not stop so, status[4] = its segments already sent,
 * status[5] = the wire packets of that tail (counted in status[1] too). The packet that met
 * ENOBUFS is lost (the kernel dropped it); one that met EAGAIN is part of the tail.
 * slab?, abs?: the ArrayBuffer most bufs[i] are views of and each entry's offset in it (-1: not),
 * see napi-util.h send_slab_t; absent: every entry is looked up in bufs.
 * pfd?, nh?: the AF_PACKET socket (packet.c openPacket4) and the resolved next hop, NEXT_HOP_BYTES
 * (dsts null only): [0..4) the IPv4 destination it was resolved for (network order), [4..8) the
 * output ifindex (host order), [8] the link-layer address length (0: a device without one,
 * PPP), [12..12+len) that address; then, optionally, destination intervals routed through that
 * next hop: pairs of uint32 (first, last; host order), sorted, disjoint (at most
 * NEXT_HOP_MAX_INTERVALS). Packets to that destination (no intervals) or into an interval go
 * through pfd with their header completed here (packet.c ip4_header_finish), the others through
 * fd; a chunk of sendmmsg holds packets of one socket. With status of 9 slots: status[6] = the
 * errno that made pfd fail outright (0: none; the packets it refused went through fd instead),
 * status[7] = packets accepted by pfd, status[8] = 1 when the tail (status[3]) was left by pfd
 * (wait for it).
 * The segments of a cut super-packet get IDs stepping by IPV4_SEGMENT_ID_STEP from its header's. */
#define NEXT_HOP_BYTES 20
#define NEXT_HOP_MAX_INTERVALS 4096

/* Whether IPv4 destination `dst` (host order) lies in one of `n` sorted, disjoint intervals. */
static int in_intervals(const uint8_t *iv, uint32_t n, uint32_t dst) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2, first, last;
    memcpy(&first, iv + (size_t)mid * 8, 4);
    memcpy(&last, iv + (size_t)mid * 8 + 4, 4);
    if (dst < first)
      hi = mid;
    else if (dst > last)
      lo = mid + 1;
    else
      return 1;
  }
  return 0;
}

/* Errors of an AF_PACKET send that concern the next hop, not the packet: the device is down or
 * gone (ENETDOWN, ENXIO, ENODEV), or refuses the address (EINVAL: its length). */
static int packet_path_broken(int e) {
  return e == ENETDOWN || e == ENXIO || e == ENODEV || e == EINVAL || e == EBADF ||
         e == ENOTSOCK || e == EADDRNOTAVAIL;
}
napi_value send_raw4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(14);
  int32_t fd, count, *offs, *lens, *status, *gso = NULL, first = 0, skip = 0;
  uint32_t *dsts;
  size_t n_gso, n_status = 0;
  napi_value bufs;
  if (!get_send_args(env, argv, 1, &fd, &bufs, &offs, &lens, &dsts, &count, &status) ||
      (!is_nullish(env, argv[7]) &&
       (dsts != NULL || !get_typed(env, argv[7], napi_int32_array, (void **)&gso, &n_gso) ||
        n_gso < (size_t)count)) ||
      (!is_nullish(env, argv[8]) && (!get_i32(env, argv[8], &first) || first < 0)) ||
      (!is_nullish(env, argv[9]) && (!get_i32(env, argv[9], &skip) || skip < 0)))
    return throw_type(env,
                      "sendRaw4(fd, bufs: Uint8Array[], offsets: Int32Array, lengths: Int32Array, "
                      "dsts: Uint32Array, count, status: Int32Array(3..6), gso?: Int32Array, first?, "
                      "skip?) with "
                      "count within every array, dsts null with gso, first >= 0, skip >= 0");
  void *status_data;
  get_typed(env, argv[6], napi_int32_array, &status_data, &n_status);
  send_slab_t slab;
  get_send_slab(env, argv[10], argv[11], &slab);
  int32_t pfd = -1;
  uint8_t *nh = NULL;
  size_t nh_len = 0;
  if (!is_nullish(env, argv[12]) &&
      (!get_i32(env, argv[12], &pfd) || !get_bytes(env, argv[13], &nh, &nh_len) ||
       nh_len < NEXT_HOP_BYTES || (nh_len - NEXT_HOP_BYTES) % 8 != 0 ||
       (nh_len - NEXT_HOP_BYTES) / 8 > NEXT_HOP_MAX_INTERVALS || dsts != NULL || nh[8] > 8))
    return throw_type(env, "sendRaw4: pfd needs nh: Uint8Array(20 + 8 * intervals) and dsts null");
  const uint8_t *intervals = pfd >= 0 ? nh + NEXT_HOP_BYTES : NULL;
  uint32_t n_intervals = pfd >= 0 ? (uint32_t)((nh_len - NEXT_HOP_BYTES) / 8) : 0;
  struct sockaddr_ll sll;
  uint32_t nh_dst = 0;
  if (pfd >= 0) {
    memset(&sll, 0, sizeof sll);
    sll.sll_family = AF_PACKET;
    sll.sll_protocol = htons(ETH_P_IP);
    memcpy(&sll.sll_ifindex, nh + 4, 4);
    sll.sll_halen = nh[8];
    memcpy(sll.sll_addr, nh + 12, nh[8]);
    memcpy(&nh_dst, nh, 4);
  }
  int pkt_err = 0, pkt_sent = 0, tail_pkt = 0;
  send_result res = {status, 0, 0, 0};
  struct mmsghdr msgs[SEND_CHUNK];
  struct iovec iovs[SEND_CHUNK][2];
  struct sockaddr_in sins[SEND_CHUNK];
  int chunk_pkt = 0, cut_pkt = 0; /* the chunk's socket is pfd; the super-packet being cut's */
  uint8_t scratch[SEND_CHUNK][SEG_SCRATCH];
  int ent[SEND_CHUNK], seg[SEND_CHUNK]; /* entry and segment each message of the chunk is */
  int tail_i = -1, tail_k = 0, tail_pkts = 0;
  int sent = 0;
  int i = first;
  int k = 0; /* next segment of entry i when it is a super-packet being cut (g, cut) */
  gso_send_t g = {0, 0, 0, 0, 0, 0};
  uint8_t *cut = NULL;
  int stop = 0;
  while (i < count && !stop) {
    /* Fill one chunk, skipping packets whose offsets are out of range. */
    int n = 0;
    while (i < count && n < SEND_CHUNK) {
      uint8_t *p = cut;
      if (p == NULL) {
        p = entry_at(env, &slab, bufs, i, offs[i], lens[i]);
        if (p == NULL || (dsts == NULL && lens[i] < 20) ||
            (gso != NULL && gso[i] > 0 &&
             (p[0] != 0x45 || !gso_info_ok(p + 20, lens[i] - 20, gso[i], &g)))) {
          note_failure(&res, EINVAL, 1);
          i++;
          continue;
        }
        int via = 0;
        if (pfd >= 0 && p[0] == 0x45) {
          if (n_intervals == 0) {
            via = memcmp(p + 16, &nh_dst, 4) == 0;
          } else {
            uint32_t d;
            memcpy(&d, p + 16, 4);
            via = in_intervals(intervals, n_intervals, ntohl(d));
          }
        }
        if (n > 0 && via != chunk_pkt) break; /* one socket per sendmmsg */
        chunk_pkt = via;
        if (gso != NULL && gso[i] > 0) {
          cut = p;
          cut_pkt = via;
          k = 0;
          if (i == first && skip > 0 && skip < g.segs) k = skip; /* the rest of a tail */
        } else if (via) {
          ip4_header_finish(p);
        }
      } else if (n == 0) {
        chunk_pkt = cut_pkt;
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
      if (chunk_pkt) {
        msgs[n].msg_hdr.msg_name = &sll;
        msgs[n].msg_hdr.msg_namelen = sizeof sll;
      }
      msgs[n].msg_hdr.msg_iov = iovs[n];
      ent[n] = i;
      seg[n] = cut == NULL ? 0 : k;
      if (cut == NULL) {
        iovs[n][0].iov_base = p;
        iovs[n][0].iov_len = (size_t)lens[i];
        msgs[n].msg_hdr.msg_iovlen = 1;
        i++;
      } else {
        int seg = gso_send_seg(scratch[n], cut, lens[i], &g, k);
        if (chunk_pkt) ip4_header_finish(scratch[n]);
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
      int r = sendmmsg(chunk_pkt ? pfd : fd, msgs + done, (unsigned)(n - done), 0);
      if (r > 0) {
        done += r;
        sent += r;
        if (chunk_pkt) pkt_sent += r;
        continue;
      }
      int e = r < 0 ? errno : EIO;
      if (e == EINTR) continue;
      if (chunk_pkt && packet_path_broken(e)) {
        /* The AF_PACKET path itself fails (device down or gone, address refused): the rest of
         * this call goes through the raw socket, whose kernel routes and resolves as usual, and
         * the caller drops the next hop. A packet the device cannot take (EMSGSIZE) is skipped
         * below, as on the raw socket. */
        if (pkt_err == 0) pkt_err = e;
        pfd = -1;
        chunk_pkt = cut_pkt = 0;
        for (int m = done; m < n; m++) {
          msgs[m].msg_hdr.msg_name = &sins[m];
          msgs[m].msg_hdr.msg_namelen = sizeof sins[m];
        }
        continue;
      }
      if (is_stale_icmp_error(e) && retried_at != done) {
        /* The error belongs to an earlier packet (pending sk_err, now cleared): retry once. */
        retried_at = done;
        res.stale++;
        continue;
      }
      if (e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || is_fatal_fd_error(e)) {
        note_failure(&res, e, n - done);
        int before = res.failed;
        if (!is_fatal_fd_error(e)) {
          /* The tail: from the message after the one ENOBUFS dropped, or the one EAGAIN refused. */
          int from = done + (e == ENOBUFS ? 1 : 0);
          tail_i = from < n ? ent[from] : i;
          tail_k = from < n ? seg[from] : (cut != NULL ? k : 0);
          before -= n - from;
        }
        /* never attempted: the rest of a super-packet being cut, and every later entry */
        if (cut != NULL) {
          res.failed += g.segs - k;
          i++;
        }
        for (; i < count; i++) res.failed += wire_units(env, bufs, offs, lens, gso, i);
        if (tail_i >= 0 && tail_i >= count) tail_i = -1;
        if (tail_i >= 0) tail_pkts = res.failed - before;
        tail_pkt = chunk_pkt;
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
  if (n_status >= 6) {
    status[3] = tail_i;
    status[4] = tail_i >= 0 ? tail_k : 0;
    status[5] = tail_i >= 0 ? tail_pkts : 0;
  }
  if (n_status >= 9) {
    status[6] = pkt_err;
    status[7] = pkt_sent;
    status[8] = tail_i >= 0 ? tail_pkt : 0;
  }
  return num(env, sent);
}
