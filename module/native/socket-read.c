/*
 * socket-read.c: a batch of datagrams from a raw protocol-41 or ICMPv6 socket into the receive
 * ring with one recvmmsg (source addresses, hop limit and interface per packet; GRO-merged 6in4
 * repaired by offload.c complete_gro_6in4), and the socket's error queue. No N-API.
 */
#define _GNU_SOURCE
#include "rx-ring.h"

#include <errno.h>
#include <string.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "errors.h"

void drain_errqueue(rx_ring_t *p) {
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


int drain_socket(rx_ring_t *p, int *err) {
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
      if (merged > 0) p->wan_gro_merged++;
      if (merged < 0) p->wan_gro_unusable++;
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
