/*
 * socket-read.c: a batch of datagrams from a raw protocol-41 or ICMPv6 socket into the receive
 * ring with one recvmmsg (source addresses, hop limit and interface per packet; GRO-merged 6in4
 * repaired by offload.c complete_gro_6in4), and the socket's error queue (ICMPv4 errors about our
 * packets, IP_RECVERR: counted by type and code, quoted packets into the error ring). No N-API.
 */
#define _GNU_SOURCE
#include "rx-ring.h"

#include <errno.h>
#include <stdint.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "errors.h"

/* struct sock_extended_err of linux/errqueue.h (stable ABI), defined here: that header needs
 * struct timespec from the libc, and musl toolchains may lack the UAPI headers altogether. */
struct ext_err {
  uint32_t ee_errno;
  uint8_t ee_origin;
  uint8_t ee_type;
  uint8_t ee_code;
  uint8_t ee_pad;
  uint32_t ee_info;
  uint32_t ee_data;
};
#define EE_ORIGIN_ICMP 2 /* SO_EE_ORIGIN_ICMP */

const char *const icmp4_err_names[ICMP4_ERR_KINDS] = {
    "net_unreachable",      "host_unreachable",          "protocol_unreachable",
    "port_unreachable",     "fragmentation_needed",      "source_route_failed",
    "net_unknown",          "host_unknown",              "host_isolated",
    "net_prohibited",       "host_prohibited",           "net_unreachable_tos",
    "host_unreachable_tos", "admin_prohibited",          "host_precedence_violation",
    "precedence_cutoff",    "ttl_exceeded",              "reassembly_time_exceeded",
    "parameter_problem",    "other_icmp",                "local_error",
};

/* Index into icmp4_errs of an error-queue message (type -1: not from an ICMP message). */
static int icmp4_err_kind(int type, int code) {
  if (type < 0) return 20;
  if (type == 3 && code >= 0 && code <= 15) return code;
  if (type == 11 && code >= 0 && code <= 1) return 16 + code;
  if (type == 12) return 18;
  return 19;
}

int drain_errqueue(rx_ring_t *p) {
  uint8_t scratch[64];
  union {
    char buf[512];
    struct cmsghdr align;
  } control;
  int limit = p->eq_max > 0 ? p->eq_max : 64;
  int n = 0;
  while (n < limit) {
    uint8_t *data = p->eq_max > 0 ? p->eq_buf + (size_t)n * p->eq_slot : scratch;
    struct iovec iov = {.iov_base = data, .iov_len = p->eq_max > 0 ? p->eq_slot : sizeof scratch};
    struct msghdr msg;
    memset(&msg, 0, sizeof msg);
    msg.msg_iov = &iov;
    msg.msg_iovlen = 1;
    msg.msg_control = control.buf;
    msg.msg_controllen = sizeof control.buf;
    ssize_t r = recvmsg(p->fd, &msg, MSG_ERRQUEUE | MSG_DONTWAIT);
    if (r < 0) {
      if (errno == EINTR) continue;
      break;
    }
    p->errqueue++;
    int type = -1, code = -1;
    uint32_t info = 0;
    for (struct cmsghdr *c = CMSG_FIRSTHDR(&msg); c != NULL; c = CMSG_NXTHDR(&msg, c)) {
      if (c->cmsg_level != IPPROTO_IP || c->cmsg_type != IP_RECVERR ||
          c->cmsg_len < CMSG_LEN(sizeof(struct ext_err)))
        continue;
      struct ext_err ee;
      memcpy(&ee, CMSG_DATA(c), sizeof ee);
      if (ee.ee_origin == EE_ORIGIN_ICMP) {
        type = ee.ee_type;
        code = ee.ee_code;
        info = ee.ee_info;
      }
    }
    p->icmp4_errs[icmp4_err_kind(type, code)]++;
    if (p->eq_max > 0) {
      int32_t *m = p->eq_meta + (size_t)n * ERRQ_META;
      m[0] = type;
      m[1] = code;
      m[2] = (int32_t)info;
      m[3] = (int32_t)r;
    }
    n++;
  }
  return n;
}


/*
 * Packet i of an AF_PACKET read (POLL_KIND_PACKET4) of msg_len bytes: virtio-net header, link
 * header, IPv4 packet. Returns the IPv4 packet's length (0: drop it) and sets gso_info[i]:
 * - Ethernet pads short frames: cut to the IPv4 total length (the IP stack's ip_rcv does so;
 *   every other check of the header is the path's, checkIpv4Header);
 * - a packet GRO merged (gso_type TCPV6 or UDP_L4: the inner TCP or UDP of 6in4) keeps it
 *   whole: gso_info[i] = the segment (datagram payload) size the header reports, and the TUN write
 *   cuts at that size (gro_group_gso; UDP where the TUN takes UDP super-packets). The inner
 *   checksum field then holds the pseudo-header sum (plain GRO) or the first segment's checksum
 *   (fraglist GRO): left alone, since the write's header copy gets the pseudo-header sum the
 *   kernel completes per segment. Any other merge cannot be cut: counted unusable and dropped;
 * - a single packet whose inner checksum was left partial (NEEDS_CSUM, a local sender's
 *   offload) gets it completed, as a raw socket's reader would get it (UDP: 0 sent as 0xffff).
 */
static int32_t packet_rx_finish(rx_ring_t *p, int i, int32_t msg_len) {
  int32_t skip = (int32_t)sizeof(vnet_hdr_t) + p->link_hlen;
  const vnet_hdr_t *h = &p->vh[i];
  p->gso_info[i] = 0;
  if (msg_len <= skip) return 0;
  int32_t len = msg_len - skip;
  uint8_t *ip = p->bufs[i] + p->offset;
  if (len >= 20) {
    int32_t total = rd16(ip + 2);
    if (total >= 20 && total < len) len = total;
  }
  int gso = h->gso_type & ~VNET_GSO_ECN;
  if (gso != VNET_GSO_NONE) {
    int ihl = (ip[0] & 15) * 4;
    int tcp = gso == VNET_GSO_TCPV6, udp = gso == VNET_GSO_UDP_L4;
    if (!(tcp || udp) || h->gso_size == 0 || len < ihl + (tcp ? 60 : 48) || ip[9] != 41 ||
        (ip[ihl] >> 4) != 6 || ip[ihl + 6] != (tcp ? 6 : 17)) {
      p->wan_gro_unusable++;
      return 0;
    }
    p->gso_info[i] = h->gso_size;
    p->wan_gro_merged++;
    return len;
  }
  if (h->flags & VNET_F_NEEDS_CSUM) {
    size_t at = (size_t)h->csum_start + h->csum_offset;
    if (h->csum_start >= len || at + 2 > (size_t)len) return 0;
    /* the field holds the pseudo-header sum: summed with the rest, as complete_csum does */
    uint16_t c = (uint16_t)~csum_fold(csum_add(0, ip + h->csum_start, (size_t)len - h->csum_start));
    if (c == 0 && len >= (ip[0] & 15) * 4 + 40 && ip[(ip[0] & 15) * 4 + 6] == 17) c = 0xffff;
    memcpy(ip + at, &c, 2);
  }
  return len;
}

int drain_socket(rx_ring_t *p, int *err) {
  int is6 = p->kind == POLL_KIND_ICMP6;
  int pk = p->kind == POLL_KIND_PACKET4;
  for (int i = 0; i < p->max; i++) {
    struct msghdr *h = &p->msgs[i].msg_hdr;
    /* IPv4: no address asked for (the kernel would copy one out per packet); an IPv4 raw socket
     * hands over the whole IPv4 header, and the source it would report is the header's. */
    h->msg_name = is6 ? &p->names[i] : NULL;
    h->msg_namelen = is6 ? sizeof(struct sockaddr_in6) : 0;
    h->msg_iov = pk ? &p->iovs[3 * i] : &p->iovs[i];
    h->msg_iovlen = pk ? (p->link_hlen > 0 ? 3 : 2) : 1;
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
    if (pk && e == EINVAL && attempt < 64) {
      /* A merged packet the virtio-net header cannot describe (packet_rcv_vnet): the kernel
       * freed it and failed this read; the next one goes on. */
      p->wan_gro_unusable++;
      continue;
    }
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
    if (pk) len = packet_rx_finish(p, i, len);
    p->sizes[i] = len;
    if (pk) {
      const uint8_t *ip = p->bufs[i] + p->offset;
      if (p->addrs4)
        p->addrs4[i] = len >= 20 ? (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 |
                                       (uint32_t)ip[14] << 8 | ip[15]
                                 : 0;
    } else if (!is6) {
      const uint8_t *ip = p->iovs[i].iov_base;
      /* the header's source (bytes 12-15), read before complete_gro_6in4 touches the packet;
       * the buffer holds at least the header even when truncated */
      if (p->addrs4)
        p->addrs4[i] = p->msgs[i].msg_len >= 20 && p->iovs[i].iov_len >= 20
                           ? (uint32_t)ip[12] << 24 | (uint32_t)ip[13] << 16 |
                                 (uint32_t)ip[14] << 8 | ip[15]
                           : 0;
      int32_t seg = 0;
      int merged = len > 0 ? complete_gro_6in4(p->iovs[i].iov_base, len, &seg) : 0;
      if (merged > 0) p->wan_gro_merged++;
      if (merged < 0) p->wan_gro_unusable++;
      if (p->gso_info != NULL) p->gso_info[i] = merged > 0 ? seg : 0;
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
