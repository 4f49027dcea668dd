/*
 * split.c: the relay's inbound load split between worker threads (splitRaw4), and the AF_PACKET
 * socket that reads protocol 41 as GRO left it (openPacketRx4, same split), both classic BPF.
 *
 * Every raw IPv4 socket of a protocol gets its own copy of every packet (raw_v4_input), so N
 * workers with one protocol-41 socket each would each read all the traffic. A classic BPF filter
 * per socket keeps only the packets whose outer IPv4 source hashes to that socket's worker:
 *
 *   h = saddr ^ (saddr >> 16); h = (h ^ (h >> 8)) & 0xff; worker = h % count
 *
 * (module/dataplane/relay-split.ts `relayWorkerOf` is the same function in TypeScript). The
 * kernel runs the filter before the packet is queued, so a packet costs the other sockets one
 * filter run (a dozen instructions), not a copy, a wakeup and a read. All packets of one customer
 * go to one worker; customers that differ in any byte of their address spread.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <net/if.h>
#include <net/if_arp.h>
#include <sys/socket.h>

#include <linux/if_ether.h>
#include <linux/if_packet.h>

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
#define BPF_STMT(code, k) {(unsigned short)(code), 0, 0, k}
#define BPF_JUMP(code, k, jt, jf) {(unsigned short)(code), jt, jf, k}
#endif
/* Classic BPF opcodes (linux/bpf_common.h; stable ABI), for headers that lack some. */
#ifndef BPF_LD
#define BPF_LD 0x00
#endif
#ifndef BPF_ALU
#define BPF_ALU 0x04
#endif
#ifndef BPF_JMP
#define BPF_JMP 0x05
#endif
#ifndef BPF_RET
#define BPF_RET 0x06
#endif
#ifndef BPF_MISC
#define BPF_MISC 0x07
#endif
#ifndef BPF_W
#define BPF_W 0x00
#endif
#ifndef BPF_ABS
#define BPF_ABS 0x20
#endif
#ifndef BPF_K
#define BPF_K 0x00
#endif
#ifndef BPF_X
#define BPF_X 0x08
#endif
#ifndef BPF_RSH
#define BPF_RSH 0x70
#endif
#ifndef BPF_AND
#define BPF_AND 0x50
#endif
#ifndef BPF_MOD
#define BPF_MOD 0x90
#endif
#ifndef BPF_XOR
#define BPF_XOR 0xa0
#endif
#ifndef BPF_JEQ
#define BPF_JEQ 0x10
#endif
#ifndef BPF_TAX
#define BPF_TAX 0x00
#endif
#ifndef SO_ATTACH_FILTER
#define SO_ATTACH_FILTER 26
#endif

#include "addon.h"
#include "napi-util.h"

/* Offset of the IPv4 source address: a raw IPv4 socket's filter sees the packet from the IPv4
 * header on. */
#define IPV4_SRC_OFFSET 12
/* Most workers a split can have (the hash has 256 values). */
#define SPLIT_MAX 256

/* splitRaw4(fd, index, count): number of queued packets discarded.
 * Attaches the filter that keeps the packets of worker `index` of `count` (0 <= index < count
 * <= 256), then discards what the socket queued before the filter was on (every worker's
 * packets), so from here each packet reaches exactly one of the count sockets. */
napi_value split_raw4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  int32_t fd, index, count;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &index) ||
      !get_i32(env, argv[2], &count) || count < 1 || count > SPLIT_MAX || index < 0 ||
      index >= count)
    return throw_type(env, "splitRaw4(fd: number, index: number, count: 1..256), index < count");
  struct sock_filter code[] = {
      BPF_STMT(BPF_LD | BPF_W | BPF_ABS, IPV4_SRC_OFFSET), /* A = saddr */
      BPF_STMT(BPF_MISC | BPF_TAX, 0),                     /* X = A */
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),             /* A >>= 16 */
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),              /* A ^= X */
      BPF_STMT(BPF_MISC | BPF_TAX, 0),                     /* X = A */
      BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 8),              /* A >>= 8 */
      BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),              /* A ^= X */
      BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff),           /* A &= 0xff */
      BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)count), /* A %= count */
      BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)index, 0, 1),
      BPF_STMT(BPF_RET | BPF_K, 0xffffffffu), /* this worker's: the whole packet */
      BPF_STMT(BPF_RET | BPF_K, 0),           /* another worker's: not queued here */
  };
  struct sock_fprog prog = {.len = sizeof code / sizeof code[0], .filter = code};
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0)
    return throw_errno(env, errno, "setsockopt", "SO_ATTACH_FILTER");
  int discarded = 0;
  char byte;
  /* Bounded: packets that pass the filter may keep arriving while we drain. */
  for (int tries = 0; tries < 65536; tries++) {
    ssize_t r = recv(fd, &byte, 1, MSG_DONTWAIT | MSG_TRUNC);
    if (r < 0) {
      if (errno == EINTR) continue;
      break; /* EAGAIN: empty */
    }
    discarded++;
  }
  return num(env, discarded);
}

/* --- AF_PACKET receive of GRO super-packets ----------------------------------------------------- */

#ifndef SKF_AD_OFF
#define SKF_AD_OFF (-0x1000)
#endif
#ifndef SKF_AD_PROTOCOL
#define SKF_AD_PROTOCOL 0
#endif
#ifndef SKF_AD_PKTTYPE
#define SKF_AD_PKTTYPE 4
#endif
#ifndef SKF_NET_OFF
#define SKF_NET_OFF (-0x100000)
#endif
#ifndef BPF_H
#define BPF_H 0x08
#endif
#ifndef BPF_B
#define BPF_B 0x10
#endif
#ifndef BPF_JA
#define BPF_JA 0x00
#endif
#ifndef BPF_JSET
#define BPF_JSET 0x40
#endif
#ifndef ARPHRD_RAWIP
#define ARPHRD_RAWIP 519
#endif
#ifndef PACKET_VNET_HDR
#define PACKET_VNET_HDR 15
#endif
#ifndef PACKET_IGNORE_OUTGOING
#define PACKET_IGNORE_OUTGOING 23
#endif
#ifndef PACKET_FANOUT
#define PACKET_FANOUT 18
#endif
#ifndef PACKET_FANOUT_HASH
#define PACKET_FANOUT_HASH 0
#endif
#ifndef PACKET_FANOUT_FLAG_UNIQUEID
#define PACKET_FANOUT_FLAG_UNIQUEID 0x2000
#endif
/* Most relay addresses one receive filter matches (relative jumps are 8 bits). */
#define PACKET_RX_MAX_DSTS 64

/* Link header length + 1 of each openPacketRx4 fd (0: not one), set where it is opened: a
 * worker thread may start polling it after its device is gone, when getsockname no longer
 * tells the device's type. Written once per open, before the fd is handed on. */
#define LINK_HLEN_FDS 4096
static int8_t link_hlen_by_fd[LINK_HLEN_FDS];

static int link_header_len_now(int fd) {
  struct sockaddr_ll sll;
  socklen_t len = sizeof sll;
  if (getsockname(fd, (struct sockaddr *)&sll, &len) < 0 || sll.sll_family != AF_PACKET) return -1;
  switch (sll.sll_hatype) {
  case ARPHRD_ETHER:
    return 14;
  case ARPHRD_NONE:
  case ARPHRD_PPP:
  case ARPHRD_RAWIP:
    return 0;
  default:
    return -1;
  }
}

int packet_link_header_len(int fd) {
  if (fd >= 0 && fd < LINK_HLEN_FDS && link_hlen_by_fd[fd] > 0) return link_hlen_by_fd[fd] - 1;
  return link_header_len_now(fd);
}

/*
 * openPacketRx4(device, dsts: Uint32Array, index, count, rcvbuf, fanout): fd
 * An AF_PACKET SOCK_RAW socket on `device` with PACKET_VNET_HDR, for `packet_receive`: GRO on
 * the device merges the 6in4 segments of one inner TCP flow, and the virtio-net header of each
 * read says the merged packet's segment size (the sender's), which a raw IPv4 socket loses.
 * Its classic BPF filter takes exactly what the relay's nft netdev ingress rule drops
 * (control/packet-receive.ts): addressed to this host (PACKET_HOST), IPv4, protocol 41, not a
 * fragment (fragments go on to the kernel's reassembly and the raw socket), destination one of
 * `dsts`. Bound with protocol 0 first, so nothing is queued before the filter is on; then to
 * ETH_P_ALL on the device (a tap sees the frame before the netdev ingress hook drops it).
 * With count > 1 the workers' sockets of one device share the packets in one of two ways:
 *   fanout -1   each filter also keeps only worker `index`'s share by outer source (the hash of
 *               splitRaw4): every socket runs its filter on every frame of the device;
 *   otherwise   a PACKET_FANOUT group in hash mode (the kernel's flow hash: one flow, one
 *               socket): each frame reaches one socket and one filter. -2 makes a new group
 *               (the kernel picks an unused id, PACKET_FANOUT_FLAG_UNIQUEID: never another
 *               program's group); 0..65535 joins that group (packetFanout of its first socket).
 */
napi_value open_packet_rx4(napi_env env, napi_callback_info info) {
  CHECK_ARGC(6);
  char dev[64];
  uint32_t *dsts = NULL;
  size_t ndst = 0;
  int32_t index, count, rcvbuf, fanout;
  napi_typedarray_type type;
  napi_value ab;
  size_t byte_off;
  bool is_ta = false;
  if (!get_str(env, argv[0], dev, sizeof dev) || dev[0] == 0 ||
      napi_is_typedarray(env, argv[1], &is_ta) != napi_ok || !is_ta ||
      napi_get_typedarray_info(env, argv[1], &type, &ndst, (void **)&dsts, &ab, &byte_off) !=
          napi_ok ||
      type != napi_uint32_array || ndst < 1 || ndst > PACKET_RX_MAX_DSTS ||
      !get_i32(env, argv[2], &index) || !get_i32(env, argv[3], &count) || count < 1 ||
      count > SPLIT_MAX || index < 0 || index >= count || !get_i32(env, argv[4], &rcvbuf) ||
      !get_i32(env, argv[5], &fanout) || fanout < -2 || fanout > 0xffff)
    return throw_type(env, "openPacketRx4(device: string, dsts: Uint32Array (1..64), index: "
                           "number, count: 1..256, rcvbuf: number, fanout: -2..65535), "
                           "index < count");
  bool group = fanout != -1 && count > 1;
  unsigned ifindex = if_nametoindex(dev);
  if (ifindex == 0) return throw_errno(env, errno, "if_nametoindex", dev);
  struct sock_filter code[16 + PACKET_RX_MAX_DSTS + 12];
  int n = 0;
  /* reject = the last instruction; offsets are filled in below, once its index is known */
  code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PKTTYPE);
  int j_host = n++;
  code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_AD_OFF + SKF_AD_PROTOCOL);
  int j_ip = n++;
  code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_B | BPF_ABS, SKF_NET_OFF + 9);
  int j_41 = n++;
  code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_H | BPF_ABS, SKF_NET_OFF + 6);
  int j_frag = n++;
  code[n++] = (struct sock_filter)BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + 16);
  int j_dst0 = n;
  n += (int)ndst;
  int j_nodst = n++;
  int match = n;
  if (count > 1 && !group) {
    struct sock_filter h[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, SKF_NET_OFF + IPV4_SRC_OFFSET),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 16),
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
        BPF_STMT(BPF_MISC | BPF_TAX, 0),
        BPF_STMT(BPF_ALU | BPF_RSH | BPF_K, 8),
        BPF_STMT(BPF_ALU | BPF_XOR | BPF_X, 0),
        BPF_STMT(BPF_ALU | BPF_AND | BPF_K, 0xff),
        BPF_STMT(BPF_ALU | BPF_MOD | BPF_K, (uint32_t)count),
    };
    for (size_t k = 0; k < sizeof h / sizeof h[0]; k++) code[n++] = h[k];
    code[n] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)index, 0, 1);
    n++;
  }
  int accept = n++;
  int reject = n++;
  code[accept] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0x40000);
  code[reject] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, 0);
#define TO(from, to) ((uint8_t)((to) - (from)-1))
  code[j_host] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0 /* PACKET_HOST */, 0,
                                              TO(j_host, reject));
  code[j_ip] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 0x0800, 0, TO(j_ip, reject));
  code[j_41] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, 41, 0, TO(j_41, reject));
  code[j_frag] =
      (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JSET | BPF_K, 0x3fff, TO(j_frag, reject), 0);
  for (size_t k = 0; k < ndst; k++) {
    int at = j_dst0 + (int)k;
    code[at] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, dsts[k], TO(at, match), 0);
  }
  code[j_nodst] = (struct sock_filter)BPF_STMT(BPF_JMP | BPF_JA, (uint32_t)(reject - j_nodst - 1));
#undef TO
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = code};
  int fd = socket(AF_PACKET, SOCK_RAW | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
  if (fd < 0) return throw_errno(env, errno, "socket", "AF_PACKET SOCK_RAW");
  const char *step = "";
  int one = 1;
  struct sockaddr_ll sll;
  memset(&sll, 0, sizeof sll);
  sll.sll_family = AF_PACKET;
  sll.sll_ifindex = (int)ifindex;
  sll.sll_protocol = htons(ETH_P_ALL);
  if (setsockopt(fd, SOL_PACKET, PACKET_VNET_HDR, &one, sizeof one) < 0) {
    step = "PACKET_VNET_HDR";
    goto fail;
  }
  /* Best effort (Linux >= 4.20): the filter's PACKET_HOST already leaves out what we send. */
  setsockopt(fd, SOL_PACKET, PACKET_IGNORE_OUTGOING, &one, sizeof one);
  if (setsockopt(fd, SOL_SOCKET, SO_ATTACH_FILTER, &prog, sizeof prog) < 0) {
    step = "SO_ATTACH_FILTER";
    goto fail;
  }
  if (rcvbuf > 0 && setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &rcvbuf, sizeof rcvbuf) < 0 &&
      setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &rcvbuf, sizeof rcvbuf) < 0) {
    step = "SO_RCVBUF";
    goto fail;
  }
  if (bind(fd, (struct sockaddr *)&sll, sizeof sll) < 0) {
    step = "bind";
    goto fail;
  }
  int hlen = link_header_len_now(fd);
  if (hlen < 0) {
    errno = EPROTONOSUPPORT;
    step = "link type (Ethernet, PPP or none)";
    goto fail;
  }
  if (group) {
    int arg = fanout == -2 ? (PACKET_FANOUT_HASH | PACKET_FANOUT_FLAG_UNIQUEID) << 16
                           : (PACKET_FANOUT_HASH << 16) | fanout;
    if (setsockopt(fd, SOL_PACKET, PACKET_FANOUT, &arg, sizeof arg) < 0) {
      step = "PACKET_FANOUT";
      goto fail;
    }
  }
  if (fd < LINK_HLEN_FDS) link_hlen_by_fd[fd] = (int8_t)(hlen + 1);
  return num(env, fd);
fail: {
  int e = errno;
  close(fd);
  return throw_errno(env, e, "openPacketRx4", step);
}
}

/* packetFanout(fd): the PACKET_FANOUT group id of an openPacketRx4 socket that joined one (the
 * kernel answers 0 for none too: ask only of a socket opened with fanout != -1). */
napi_value packet_fanout(napi_env env, napi_callback_info info) {
  return int_sockopt(env, info, SOL_PACKET, PACKET_FANOUT, 0xffff, "packetFanout(fd: number)",
                     "PACKET_FANOUT");
}
