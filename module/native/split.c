/*
 * split.c: the relay's inbound load split between worker threads (splitRaw4).
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
#include <stdint.h>
#include <sys/socket.h>

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
