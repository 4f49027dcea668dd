/*
 * packet.c: the opt-in WAN send path over AF_PACKET (`wan_send packet`) and what the control
 * plane resolves for it, once, not per packet:
 *   openPacket4        an AF_PACKET SOCK_DGRAM socket that only sends (protocol 0: the kernel
 *                      hands it no received frame);
 *   nextHop4           rtnetlink RTM_GETROUTE for an IPv4 destination (as the raw socket's own
 *                      lookup: optionally bound to a device), then RTM_GETLINK of the output
 *                      device (flags, link-layer address length) and the neighbour entry of the
 *                      next hop (RTM_GETNEIGH dump, filtered here): state and link-layer address;
 *   neighUse4          RTM_NEWNEIGH with NTF_USE: the kernel treats the entry as used, so a STALE
 *                      one is probed again (the frames we send past it confirm nothing);
 *   finishIpv4Header   the header fields the raw socket's kernel fills and AF_PACKET does not
 *                      (ip4_header_finish), for the unit test;
 *   openRouteEvents    a NETLINK_ROUTE socket subscribed to what changes a resolve's answer
 *   routeEvents        (links, IPv4 addresses, routes and rules; IPv4 neighbours), drained as
 *                      one bit mask per wake-up, so a changed route or next hop is resolved at
 *                      once instead of at the next periodic resolve.
 * sendRaw4 (sockets.c) sends the packets bound to the resolved next hop through the AF_PACKET
 * socket; SOCK_DGRAM lets the kernel build the link header (dev_hard_header), so Ethernet, VLAN
 * and header-less devices (PPP: address length 0) all work.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>

#include <linux/if_link.h>
#include <linux/if_packet.h>
#include <linux/neighbour.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>

#include "addon.h"
#include "napi-util.h"
#include "offload.h"

#ifndef NTF_USE
#define NTF_USE 0x01
#endif

/* The IPv4 header at h (20 bytes, no options) as the raw socket's kernel would send it: an ID
 * of 0 on a datagram without DF gets one (RFC 6864 §4.2: IDs of non-atomic datagrams must
 * differ; raw_send_hdrinc calls ip_select_ident for ID 0, which keeps 0 with DF), and the header
 * checksum. The data plane never writes ID 0 without DF (outbound-core.ts); a cut segment can. */
void ip4_header_finish(uint8_t *h) {
  static uint16_t fallback_id = 1;
  if (h[4] == 0 && h[5] == 0 && (h[6] & 0x40) == 0) {
    fallback_id = (uint16_t)(fallback_id + 1);
    if (fallback_id == 0) fallback_id = 1;
    wr16(h + 4, fallback_id);
  }
  h[10] = h[11] = 0;
  uint16_t c = (uint16_t)~csum_fold(csum_add(0, h, 20));
  memcpy(h + 10, &c, 2);
}

/* finishIpv4Header(buf, offset): void */
napi_value finish_ipv4_header(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  uint8_t *buf;
  size_t len;
  int32_t off;
  if (!get_bytes(env, argv[0], &buf, &len) || !get_i32(env, argv[1], &off) || off < 0 ||
      (size_t)off + 20 > len)
    return throw_type(env, "finishIpv4Header(buf: Uint8Array, offset) with 20 bytes at offset");
  ip4_header_finish(buf + off);
  return undefined(env);
}

/* openPacket4(sndbuf): fd. Non-blocking, close-on-exec; sndbuf > 0 sets SO_SNDBUF(FORCE).
 * Not bound: each message names its device (sll_ifindex), so a next hop on another device
 * needs no new socket, and with protocol 0 nothing received is queued to it. No
 * PACKET_QDISC_BYPASS: the WAN qdisc (fq_codel, SQM) sees every packet. */
napi_value open_packet4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t sndbuf;
  if (!get_i32(env, argv[0], &sndbuf)) return throw_type(env, "openPacket4(sndbuf: number)");
  int fd = socket(AF_PACKET, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", "AF_PACKET SOCK_DGRAM");
  if (sndbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_SNDBUFFORCE, &sndbuf, sizeof sndbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &sndbuf, sizeof sndbuf) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "openPacket4", "SO_SNDBUF");
  }
  return num(env, fd);
}

/* --- rtnetlink ----------------------------------------------------------------------------- */

#define NL_BUF 32768

/* Sends req (a complete netlink message) on a fresh NETLINK_ROUTE socket and calls cb for each
 * answer message until NLMSG_DONE, the answer to a non-dump request, or cb returns > 0 (enough:
 * the socket is closed and the kernel drops the rest of the dump). Returns 0, or -errno. */
typedef int (*nl_cb)(struct nlmsghdr *h, void *arg);
static int nl_request(struct nlmsghdr *req, nl_cb cb, void *arg) {
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
  if (fd < 0) return -errno;
  struct timeval tv = {.tv_sec = 2, .tv_usec = 0}; /* the kernel answers at once; never hang */
  setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  req->nlmsg_seq = (uint32_t)time(NULL);
  int rc = 0;
  if (sendto(fd, req, req->nlmsg_len, 0, (struct sockaddr *)&sa, sizeof sa) < 0) {
    rc = -errno;
    close(fd);
    return rc;
  }
  bool dump = (req->nlmsg_flags & NLM_F_DUMP) == NLM_F_DUMP;
  static __thread uint8_t buf[NL_BUF] __attribute__((aligned(8)));
  for (;;) {
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n < 0) {
      if (errno == EINTR) continue;
      rc = -errno;
      break;
    }
    if (n == 0) break;
    bool done = false;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (uint32_t)n);
         h = NLMSG_NEXT(h, n)) {
      if (h->nlmsg_seq != req->nlmsg_seq) continue;
      if (h->nlmsg_type == NLMSG_DONE) {
        done = true;
        break;
      }
      if (h->nlmsg_type == NLMSG_ERROR) {
        struct nlmsgerr *e = NLMSG_DATA(h);
        rc = e->error; /* 0 = ack */
        done = true;
        break;
      }
      int r = cb != NULL ? cb(h, arg) : 0;
      if (r < 0) rc = r;
      if (!dump || r > 0) done = true;
      if (done) break;
    }
    if (done) break;
  }
  close(fd);
  return rc;
}

static void add_attr(struct nlmsghdr *h, uint16_t type, const void *data, uint16_t len) {
  struct rtattr *rta = (struct rtattr *)((uint8_t *)h + NLMSG_ALIGN(h->nlmsg_len));
  rta->rta_type = type;
  rta->rta_len = (uint16_t)RTA_LENGTH(len);
  memcpy(RTA_DATA(rta), data, len);
  h->nlmsg_len = NLMSG_ALIGN(h->nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

typedef struct {
  int found;
  uint32_t oif, gateway, prefsrc; /* addresses in network order */
  uint8_t type;
} route_t;

static int route_cb(struct nlmsghdr *h, void *arg) {
  route_t *r = arg;
  if (h->nlmsg_type != RTM_NEWROUTE) return 0;
  struct rtmsg *rtm = NLMSG_DATA(h);
  r->found = 1;
  r->type = rtm->rtm_type;
  int len = (int)RTM_PAYLOAD(h);
  for (struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == RTA_OIF) memcpy(&r->oif, RTA_DATA(a), 4);
    if (a->rta_type == RTA_GATEWAY) memcpy(&r->gateway, RTA_DATA(a), 4);
    if (a->rta_type == RTA_PREFSRC) memcpy(&r->prefsrc, RTA_DATA(a), 4);
  }
  return 0;
}

typedef struct {
  int found;
  unsigned flags;
  int addr_len;
  char name[IFNAMSIZ];
} link_t;

static int link_cb(struct nlmsghdr *h, void *arg) {
  link_t *l = arg;
  if (h->nlmsg_type != RTM_NEWLINK) return 0;
  struct ifinfomsg *ifi = NLMSG_DATA(h);
  l->found = 1;
  l->flags = ifi->ifi_flags;
  int len = (int)IFLA_PAYLOAD(h);
  for (struct rtattr *a = IFLA_RTA(ifi); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == IFLA_ADDRESS) l->addr_len = (int)RTA_PAYLOAD(a);
    if (a->rta_type == IFLA_IFNAME) {
      size_t n = RTA_PAYLOAD(a) < IFNAMSIZ ? RTA_PAYLOAD(a) : IFNAMSIZ - 1;
      memcpy(l->name, RTA_DATA(a), n);
      l->name[n] = 0;
    }
  }
  return 0;
}

typedef struct {
  int ifindex;
  uint32_t addr;
  int found;
  uint16_t state;
  uint8_t lladdr[32];
  int lladdr_len;
} neigh_t;

static int neigh_cb(struct nlmsghdr *h, void *arg) {
  neigh_t *n = arg;
  if (h->nlmsg_type != RTM_NEWNEIGH) return 0;
  struct ndmsg *nd = NLMSG_DATA(h);
  if (nd->ndm_family != AF_INET || nd->ndm_ifindex != n->ifindex) return 0;
  int len = (int)(h->nlmsg_len - NLMSG_LENGTH(sizeof *nd));
  uint32_t dst = 0;
  int has_dst = 0, ll_len = 0;
  const uint8_t *ll = NULL;
  for (struct rtattr *a = (struct rtattr *)((uint8_t *)nd + NLMSG_ALIGN(sizeof *nd));
       RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == NDA_DST && RTA_PAYLOAD(a) == 4) {
      memcpy(&dst, RTA_DATA(a), 4);
      has_dst = 1;
    }
    if (a->rta_type == NDA_LLADDR) {
      ll = RTA_DATA(a);
      ll_len = (int)RTA_PAYLOAD(a);
    }
  }
  if (!has_dst || dst != n->addr) return 0;
  n->found = 1;
  n->state = nd->ndm_state;
  n->lladdr_len = ll != NULL && ll_len <= (int)sizeof n->lladdr ? ll_len : 0;
  if (n->lladdr_len > 0) memcpy(n->lladdr, ll, (size_t)n->lladdr_len);
  return 0;
}

static void set_str(napi_env env, napi_value o, const char *key, const char *s) {
  napi_value v;
  napi_create_string_utf8(env, s, NAPI_AUTO_LENGTH, &v);
  napi_set_named_property(env, o, key, v);
}

/*
 * nextHop4(dst: number, oif: number): {type, oif, ifname, ifFlags, addrLen, gateway, prefsrc,
 *   neighState, lladdr: Uint8Array} | null (no route: ENETUNREACH and the like)
 *   dst: IPv4 as unsigned 32-bit number; oif > 0: the lookup as for a socket bound to that
 *   device. gateway 0: the destination is on link (the neighbour looked up is dst itself).
 *   neighState: the NUD_* bits of the entry, 0 when there is none; lladdr empty then.
 */
napi_value next_hop4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  uint32_t dst;
  int32_t oif;
  if (!get_u32(env, argv[0], &dst) || !get_i32(env, argv[1], &oif) || oif < 0)
    return throw_type(env, "nextHop4(dst: number, oif: number >= 0)");
  struct {
    struct nlmsghdr h;
    struct rtmsg r;
    uint8_t attrs[64];
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.r);
  req.h.nlmsg_type = RTM_GETROUTE;
  req.h.nlmsg_flags = NLM_F_REQUEST;
  req.r.rtm_family = AF_INET;
  req.r.rtm_dst_len = 32;
  uint32_t d = htonl(dst);
  add_attr(&req.h, RTA_DST, &d, 4);
  if (oif > 0) add_attr(&req.h, RTA_OIF, &oif, 4);
  route_t rt;
  memset(&rt, 0, sizeof rt);
  int rc = nl_request(&req.h, route_cb, &rt);
  if (rc == -ENETUNREACH || rc == -EHOSTUNREACH || rc == -ENETDOWN || rc == -ENODEV ||
      rc == -EINVAL) {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  if (rc < 0) return throw_errno(env, -rc, "nextHop4", "RTM_GETROUTE");
  if (!rt.found) {
    napi_value nul;
    napi_get_null(env, &nul);
    return nul;
  }
  link_t ln;
  memset(&ln, 0, sizeof ln);
  struct {
    struct nlmsghdr h;
    struct ifinfomsg i;
  } lreq;
  memset(&lreq, 0, sizeof lreq);
  lreq.h.nlmsg_len = NLMSG_LENGTH(sizeof lreq.i);
  lreq.h.nlmsg_type = RTM_GETLINK;
  lreq.h.nlmsg_flags = NLM_F_REQUEST;
  lreq.i.ifi_family = AF_UNSPEC;
  lreq.i.ifi_index = (int)rt.oif;
  if (rt.oif != 0) {
    rc = nl_request(&lreq.h, link_cb, &ln);
    if (rc < 0 && rc != -ENODEV) return throw_errno(env, -rc, "nextHop4", "RTM_GETLINK");
  }
  neigh_t nb;
  memset(&nb, 0, sizeof nb);
  nb.ifindex = (int)rt.oif;
  nb.addr = rt.gateway != 0 ? rt.gateway : d;
  if (rt.oif != 0 && ln.addr_len > 0) {
    struct {
      struct nlmsghdr h;
      struct ndmsg n;
    } nreq;
    memset(&nreq, 0, sizeof nreq);
    nreq.h.nlmsg_len = NLMSG_LENGTH(sizeof nreq.n);
    nreq.h.nlmsg_type = RTM_GETNEIGH;
    nreq.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
    nreq.n.ndm_family = AF_INET;
    nreq.n.ndm_ifindex = (int)rt.oif; /* honoured by kernels with strict dump filtering */
    rc = nl_request(&nreq.h, neigh_cb, &nb);
    if (rc < 0) return throw_errno(env, -rc, "nextHop4", "RTM_GETNEIGH");
  }
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "type", rt.type);
  set_num(env, o, "oif", rt.oif);
  set_str(env, o, "ifname", ln.name);
  set_num(env, o, "ifFlags", ln.flags);
  set_num(env, o, "addrLen", ln.addr_len);
  set_num(env, o, "gateway", ntohl(rt.gateway));
  set_num(env, o, "prefsrc", ntohl(rt.prefsrc));
  set_num(env, o, "neighState", nb.found ? nb.state : 0);
  napi_value ab, ll;
  void *data = NULL;
  napi_create_arraybuffer(env, (size_t)nb.lladdr_len, &data, &ab);
  if (nb.lladdr_len > 0) memcpy(data, nb.lladdr, (size_t)nb.lladdr_len);
  napi_create_typedarray(env, napi_uint8_array, (size_t)nb.lladdr_len, ab, 0, &ll);
  napi_set_named_property(env, o, "lladdr", ll);
  return o;
}

/* routeDump4's collection: ROUTE_FIELDS uint32 per kept route; at most `max` routes read. */
#define ROUTE_FIELDS 7
#define ROUTE_MULTIPATH 0x1u
/* routeDump4's `max` at most: a full Internet table is about a million routes. */
#define ROUTE_DUMP_MAX (1u << 24)
/* Routes kept at most (those that meet the ranges): more gives null, as a table over `max`. */
#define ROUTE_KEEP_MAX (1u << 16)
typedef struct {
  uint32_t *out;
  uint32_t max, n, cap, read;
  int over, nomem;
  const uint32_t *ranges; /* [first, last] pairs in host order; NULL: keep every route */
  size_t nranges;
} route_dump_t;

/* Whether the prefix `dst`/`len` (network order address) shares an address with a range. */
static bool prefix_meets(uint32_t dst, uint32_t len, const uint32_t *ranges, size_t n) {
  uint32_t host = len >= 32 ? 0 : 0xffffffffu >> len;
  uint32_t first = ntohl(dst) & ~host, last = first | host;
  for (size_t i = 0; i < n; i++)
    if (first <= ranges[2 * i + 1] && ranges[2 * i] <= last) return true;
  return false;
}

static int route_dump_cb(struct nlmsghdr *h, void *arg) {
  route_dump_t *d = arg;
  if (h->nlmsg_type != RTM_NEWROUTE) return 0;
  struct rtmsg *rtm = NLMSG_DATA(h);
  if (rtm->rtm_family != AF_INET) return 0;
  if (d->over || d->nomem) return 1;
  if (d->read >= d->max) {
    d->over = 1;
    return 1; /* a table larger than asked for is not read to its end */
  }
  d->read++;
  uint32_t dst = 0, oif = 0, gw = 0, table = rtm->rtm_table, flags = 0, prio = 0;
  int len = (int)RTM_PAYLOAD(h);
  for (struct rtattr *a = RTM_RTA(rtm); RTA_OK(a, len); a = RTA_NEXT(a, len)) {
    if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == 4) memcpy(&dst, RTA_DATA(a), 4);
    if (a->rta_type == RTA_OIF && RTA_PAYLOAD(a) == 4) memcpy(&oif, RTA_DATA(a), 4);
    if (a->rta_type == RTA_GATEWAY && RTA_PAYLOAD(a) == 4) memcpy(&gw, RTA_DATA(a), 4);
    if (a->rta_type == RTA_TABLE && RTA_PAYLOAD(a) == 4) memcpy(&table, RTA_DATA(a), 4);
    if (a->rta_type == RTA_MULTIPATH) flags |= ROUTE_MULTIPATH;
    if (a->rta_type == RTA_PRIORITY && RTA_PAYLOAD(a) == 4) memcpy(&prio, RTA_DATA(a), 4);
  }
  if (d->ranges != NULL && !prefix_meets(dst, rtm->rtm_dst_len, d->ranges, d->nranges)) return 0;
  if (d->n >= ROUTE_KEEP_MAX) {
    d->over = 1;
    return 1;
  }
  if (d->n == d->cap) {
    uint32_t cap = d->cap == 0 ? 64 : d->cap * 2;
    uint32_t *o = realloc(d->out, (size_t)cap * ROUTE_FIELDS * 4);
    if (o == NULL) {
      d->nomem = 1;
      return 1;
    }
    d->out = o;
    d->cap = cap;
  }
  uint32_t *o = d->out + (size_t)d->n * ROUTE_FIELDS;
  o[0] = ntohl(dst);
  o[1] = rtm->rtm_dst_len;
  o[2] = table;
  o[3] = (uint32_t)rtm->rtm_type | (flags << 8);
  o[4] = oif;
  o[5] = ntohl(gw);
  o[6] = prio;
  d->n++;
  return 0;
}

/* Runs the dump into `d` (which owns its copy of the ranges); 0 or -errno. */
static int route_dump_run(route_dump_t *d) {
  struct {
    struct nlmsghdr h;
    struct rtmsg r;
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.r);
  req.h.nlmsg_type = RTM_GETROUTE;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_DUMP;
  req.r.rtm_family = AF_INET;
  int rc = nl_request(&req.h, route_dump_cb, d);
  if (rc == 0 && d->nomem) rc = -ENOMEM;
  return rc;
}

/* The kept routes as a Uint32Array (or null when over `max`); frees d->out. */
static napi_value route_dump_result(napi_env env, route_dump_t *d) {
  napi_value arr;
  if (d->over) {
    free(d->out);
    d->out = NULL;
    napi_get_null(env, &arr);
    return arr;
  }
  napi_value ab;
  void *data = NULL;
  size_t bytes = (size_t)d->n * ROUTE_FIELDS * 4;
  napi_status st = napi_create_arraybuffer(env, bytes, &data, &ab);
  if (st == napi_ok && bytes > 0) memcpy(data, d->out, bytes);
  free(d->out);
  d->out = NULL;
  if (st != napi_ok) return NULL;
  napi_create_typedarray(env, napi_uint32_array, (size_t)d->n * ROUTE_FIELDS, ab, 0, &arr);
  return arr;
}

/* routeDump4's arguments: max, ranges (copied into d->ranges, freed by the caller). */
static bool route_dump_args(napi_env env, napi_value vmax, napi_value vranges, route_dump_t *d) {
  memset(d, 0, sizeof *d);
  uint32_t *ranges = NULL;
  size_t nwords = 0;
  if (!get_u32(env, vmax, &d->max) || d->max == 0 || d->max > ROUTE_DUMP_MAX) return false;
  if (is_nullish(env, vranges)) return true;
  if (!get_typed(env, vranges, napi_uint32_array, (void **)&ranges, &nwords) || nwords % 2 != 0)
    return false;
  uint32_t *copy = malloc(nwords > 0 ? nwords * 4 : 4);
  if (copy == NULL) return false;
  if (nwords > 0) memcpy(copy, ranges, nwords * 4);
  d->ranges = copy;
  d->nranges = nwords / 2;
  return true;
}

#define ROUTE_DUMP_USAGE                                                                          \
  "(max: number 1..16777216, ranges: Uint32Array of [first, last] pairs | null"

/*
 * routeDump4(max, ranges, read): Uint32Array | null. The IPv4 routes of every table (RTM_GETROUTE
 * dump) whose prefix shares an address with one of `ranges` ([first, last] pairs in host order;
 * null: every route), ROUTE_FIELDS numbers each: destination (host order), prefix length, table,
 * rtm_type (bits 0-7; bit 8: a multipath route, whose next hops are not listed), output
 * ifindex, gateway (host order, 0: on link), metric (RTA_PRIORITY). null when the table has
 * more than `max` routes (it is not read further) or more than ROUTE_KEEP_MAX meet the ranges.
 * `read[0]` (a Uint32Array, or null): the routes read.
 */
napi_value route_dump4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  route_dump_t d;
  uint32_t *read = NULL;
  size_t nread = 0;
  if (!route_dump_args(env, argv[0], argv[1], &d) ||
      (!is_nullish(env, argv[2]) &&
       (!get_typed(env, argv[2], napi_uint32_array, (void **)&read, &nread) || nread < 1))) {
    free((void *)d.ranges);
    return throw_type(env, "routeDump4" ROUTE_DUMP_USAGE ", read: Uint32Array(1) | null)");
  }
  int rc = route_dump_run(&d);
  free((void *)d.ranges);
  if (rc < 0) {
    free(d.out);
    return throw_errno(env, -rc, "routeDump4", "RTM_GETROUTE");
  }
  if (read != NULL) read[0] = d.read;
  napi_value arr = route_dump_result(env, &d);
  if (arr == NULL) return throw_type(env, "routeDump4: no memory");
  return arr;
}

/* routeDump4Async's work: the dump runs in a thread of libuv's pool. */
typedef struct {
  route_dump_t d;
  int rc;
  napi_async_work work;
  napi_ref cb;
} route_dump_work_t;

static void route_dump_execute(napi_env env, void *data) {
  (void)env;
  route_dump_work_t *w = data;
  w->rc = route_dump_run(&w->d);
}

static void route_dump_complete(napi_env env, napi_status status, void *data) {
  route_dump_work_t *w = data;
  napi_handle_scope scope;
  napi_open_handle_scope(env, &scope);
  napi_value cb, argv[3];
  napi_get_reference_value(env, w->cb, &cb);
  napi_get_null(env, &argv[0]);
  napi_get_null(env, &argv[1]);
  argv[2] = num(env, w->d.read);
  if (status != napi_ok) {
    argv[0] = make_errno_error(env, ECANCELED, "routeDump4Async", "RTM_GETROUTE");
  } else if (w->rc < 0) {
    argv[0] = make_errno_error(env, -w->rc, "routeDump4Async", "RTM_GETROUTE");
  } else {
    napi_value arr = route_dump_result(env, &w->d);
    if (arr == NULL) argv[0] = make_errno_error(env, ENOMEM, "routeDump4Async", "result");
    else argv[1] = arr;
  }
  free(w->d.out);
  free((void *)w->d.ranges);
  napi_ref cb_ref = w->cb;
  napi_delete_async_work(env, w->work);
  free(w);
  if (cb != NULL) call_js_fatal(env, NULL, cb, 3, argv);
  napi_delete_reference(env, cb_ref);
  napi_close_handle_scope(env, scope);
}

/*
 * routeDump4Async(max, ranges, done): void. routeDump4 in a thread of libuv's pool, so a large
 * table does not hold the event loop; then done(err, routes | null, read) in it.
 */
napi_value route_dump4_async(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  napi_valuetype t;
  route_dump_work_t *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_errno(env, ENOMEM, "routeDump4Async", "calloc");
  if (!route_dump_args(env, argv[0], argv[1], &w->d) || napi_typeof(env, argv[2], &t) != napi_ok ||
      t != napi_function) {
    free((void *)w->d.ranges);
    free(w);
    return throw_type(env, "routeDump4Async" ROUTE_DUMP_USAGE ", done: function)");
  }
  napi_value name;
  napi_create_string_utf8(env, "pmtRouteDump", NAPI_AUTO_LENGTH, &name);
  if (napi_create_reference(env, argv[2], 1, &w->cb) != napi_ok ||
      napi_create_async_work(env, NULL, name, route_dump_execute, route_dump_complete, w,
                             &w->work) != napi_ok ||
      napi_queue_async_work(env, w->work) != napi_ok) {
    if (w->work != NULL) napi_delete_async_work(env, w->work);
    if (w->cb != NULL) napi_delete_reference(env, w->cb);
    free((void *)w->d.ranges);
    free(w);
    return throw_errno(env, ENOMEM, "routeDump4Async", "napi_queue_async_work");
  }
  return undefined(env);
}

/* neighUse4(ifindex, addr): void. RTM_NEWNEIGH with NTF_USE for an existing entry
 * (CAP_NET_ADMIN): neigh_event_send, as if the kernel had sent through it, so a STALE entry
 * goes to DELAY and PROBE and is confirmed or fails. */
napi_value neigh_use4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  int32_t ifindex;
  uint32_t addr;
  if (!get_i32(env, argv[0], &ifindex) || ifindex <= 0 || !get_u32(env, argv[1], &addr))
    return throw_type(env, "neighUse4(ifindex: number > 0, addr: number)");
  struct {
    struct nlmsghdr h;
    struct ndmsg n;
    uint8_t attrs[32];
  } req;
  memset(&req, 0, sizeof req);
  req.h.nlmsg_len = NLMSG_LENGTH(sizeof req.n);
  req.h.nlmsg_type = RTM_NEWNEIGH;
  req.h.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
  req.n.ndm_family = AF_INET;
  req.n.ndm_ifindex = ifindex;
  req.n.ndm_flags = NTF_USE;
  uint32_t a = htonl(addr);
  add_attr(&req.h, NDA_DST, &a, 4);
  int rc = nl_request(&req.h, NULL, NULL);
  if (rc < 0) return throw_errno(env, -rc, "neighUse4", "RTM_NEWNEIGH");
  return undefined(env);
}

/* --- route and neighbour change events --------------------------------------------------- */

/* routeEvents' mask: a link, IPv4 address, route or rule changed; an IPv4 neighbour entry (on
 * the filter's device) changed; the kernel dropped events (socket buffer overrun). */
#define ROUTE_EVENT_ROUTE 1
#define ROUTE_EVENT_NEIGH 2
#define ROUTE_EVENT_LOST 4
/* recv calls per routeEvents call: a burst larger than this (a full table's churn) is read by
 * the next wake-up, so one call never holds the event loop long. */
#define ROUTE_EVENT_READS 64
/* Requested receive buffer: a link going down with many routes emits a burst of messages. */
#define ROUTE_EVENT_RCVBUF (1 << 20)

/*
 * openRouteEvents(): number. A non-blocking NETLINK_ROUTE socket bound to the multicast groups
 * of links, IPv4 addresses, routes and rules, and neighbours (reading them needs no
 * capability). IPv4 removes the routes of a device that goes down without a message per route,
 * hence the link group. The receive buffer is forced to ROUTE_EVENT_RCVBUF when
 * CAP_NET_ADMIN allows, else asked for (capped by net.core.rmem_max).
 */
napi_value open_route_events(napi_env env, napi_callback_info info) {
  (void)info;
  int fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, NETLINK_ROUTE);
  if (fd < 0) return throw_errno(env, errno, "socket", "AF_NETLINK");
  int rcv = ROUTE_EVENT_RCVBUF;
  if (setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcv, sizeof rcv) < 0)
    setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcv, sizeof rcv);
  struct sockaddr_nl sa;
  memset(&sa, 0, sizeof sa);
  sa.nl_family = AF_NETLINK;
  sa.nl_groups = RTMGRP_LINK | RTMGRP_NEIGH | RTMGRP_IPV4_IFADDR | RTMGRP_IPV4_ROUTE |
                 RTMGRP_IPV4_RULE;
  if (bind(fd, (struct sockaddr *)&sa, sizeof sa) < 0) {
    int e = errno;
    close(fd);
    return throw_errno(env, e, "bind", "rtnetlink groups");
  }
  return num(env, fd);
}

/* The family byte every rtnetlink header of these messages starts with (rtmsg, ifaddrmsg,
 * fib_rule_hdr, ndmsg: rtm_family, ifa_family, family, ndm_family), or -1 when too short. */
static int nl_family(const struct nlmsghdr *h) {
  if (h->nlmsg_len < NLMSG_LENGTH(4)) return -1;
  return *(const uint8_t *)NLMSG_DATA(h);
}

/* Whether an IPv4 route message's prefix shares an address with one of the `n` [first, last]
 * pairs (host order) of `ranges`; every route when `ranges` is NULL. */
static bool route_in_ranges(const struct nlmsghdr *h, const uint32_t *ranges, size_t n) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct rtmsg))) return false;
  const struct rtmsg *r = NLMSG_DATA(h);
  if (r->rtm_family != AF_INET || r->rtm_dst_len > 32) return false;
  if (ranges == NULL) return true;
  uint32_t dst = 0;
  int len = (int)RTM_PAYLOAD(h);
  for (struct rtattr *a = RTM_RTA(r); RTA_OK(a, len); a = RTA_NEXT(a, len))
    if (a->rta_type == RTA_DST && RTA_PAYLOAD(a) == 4) memcpy(&dst, RTA_DATA(a), 4);
  return prefix_meets(dst, r->rtm_dst_len, ranges, n);
}

/* Whether a link message tells of a device's change, not of a bridge port's state (AF_BRIDGE)
 * nor a wireless driver's event (IFLA_WIRELESS), which busy access points send often. */
static bool link_changed(const struct nlmsghdr *h) {
  if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ifinfomsg))) return false;
  const struct ifinfomsg *i = NLMSG_DATA(h);
  if (i->ifi_family == AF_BRIDGE) return false;
  int len = (int)IFLA_PAYLOAD(h);
  for (struct rtattr *a = IFLA_RTA(i); RTA_OK(a, len); a = RTA_NEXT(a, len))
    if (a->rta_type == IFLA_WIRELESS) return false;
  return true;
}

static int route_event_bit(const struct nlmsghdr *h, int ifindex, const uint32_t *ranges,
                           size_t n) {
  switch (h->nlmsg_type) {
  case RTM_NEWLINK:
  case RTM_DELLINK:
    return link_changed(h) ? ROUTE_EVENT_ROUTE : 0;
  case RTM_NEWROUTE:
  case RTM_DELROUTE:
    return route_in_ranges(h, ranges, n) ? ROUTE_EVENT_ROUTE : 0;
  case RTM_NEWADDR:
  case RTM_DELADDR:
  case RTM_NEWRULE:
  case RTM_DELRULE:
    return nl_family(h) == AF_INET ? ROUTE_EVENT_ROUTE : 0;
  case RTM_NEWNEIGH:
  case RTM_DELNEIGH: {
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof(struct ndmsg))) return 0;
    const struct ndmsg *n = NLMSG_DATA(h);
    if (n->ndm_family != AF_INET) return 0;
    return ifindex == 0 || n->ndm_ifindex == ifindex ? ROUTE_EVENT_NEIGH : 0;
  }
  default:
    return 0;
  }
}

/*
 * routeEvents(fd, ifindex, ranges): number. Reads what is queued on an openRouteEvents socket (at
 * most ROUTE_EVENT_READS datagrams) and returns the mask of what changed: ROUTE_EVENT_ROUTE (a
 * link, an IPv4 address or rule; an IPv4 route of any table whose prefix shares an address with
 * one of `ranges`, a Uint32Array of [first, last] pairs in host order, or null: any route),
 * ROUTE_EVENT_NEIGH for IPv4 neighbours on `ifindex` (0: any device), ROUTE_EVENT_LOST when
 * the kernel dropped events (ENOBUFS, which this read clears): then anything may have changed.
 */
napi_value route_events(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  int32_t fd, ifindex;
  uint32_t *ranges = NULL;
  size_t nwords = 0;
  if (!get_i32(env, argv[0], &fd) || fd < 0 || !get_i32(env, argv[1], &ifindex) ||
      ifindex < 0 ||
      (!is_nullish(env, argv[2]) &&
       (!get_typed(env, argv[2], napi_uint32_array, (void **)&ranges, &nwords) ||
        nwords % 2 != 0)))
    return throw_type(env,
                      "routeEvents(fd: number, ifindex: number >= 0, ranges: Uint32Array of "
                      "[first, last] pairs | null)");
  /* An empty array (whose data pointer may be NULL) filters every route out. */
  static const uint32_t no_range[2] = {0, 0};
  if (!is_nullish(env, argv[2]) && ranges == NULL) ranges = (uint32_t *)no_range;
  if (ranges == NULL) nwords = 0;
  static __thread uint8_t buf[NL_BUF] __attribute__((aligned(8)));
  int mask = 0;
  for (int i = 0; i < ROUTE_EVENT_READS; i++) {
    ssize_t n = recv(fd, buf, sizeof buf, MSG_DONTWAIT);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) break;
      if (errno == ENOBUFS) {
        mask |= ROUTE_EVENT_LOST;
        continue;
      }
      return throw_errno(env, errno, "recv", "rtnetlink events");
    }
    if (n == 0) break;
    for (struct nlmsghdr *h = (struct nlmsghdr *)buf; NLMSG_OK(h, (uint32_t)n);
         h = NLMSG_NEXT(h, n))
      mask |= route_event_bit(h, ifindex, ranges, nwords / 2);
  }
  return num(env, mask);
}
