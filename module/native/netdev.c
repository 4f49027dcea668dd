/*
 * netdev.c: network devices by name and descriptors by number: MTU, transmit queue length,
 * IFF_UP, ifindex (SIOC* ioctls), the network namespace of the calling thread, close(2).
 */
#define _GNU_SOURCE
#include <errno.h>
#include <sched.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "addon.h"
#include "napi-util.h"
#include "tun.h"

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
napi_value set_mtu(napi_env env, napi_callback_info info) {
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
  if (argc > 2 && get_i32(env, argv[2], &fd)) tun_note_mtu(fd, mtu);
  return undefined(env);
}

/* setTxQueueLen(name, len): SIOCSIFTXQLEN (a TUN defaults to 500 packets) */
napi_value set_txqlen(napi_env env, napi_callback_info info) {
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
napi_value set_up(napi_env env, napi_callback_info info) {
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
napi_value if_index(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  char name[64];
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name))
    return throw_type(env, "ifIndex(name: string)");
  unsigned idx = if_nametoindex(name);
  if (idx == 0) return throw_errno(env, errno == 0 ? ENODEV : errno, "if_nametoindex", name);
  return num(env, idx);
}

/* setNetns(fd): setns(fd, CLONE_NEWNET) for the calling (main) thread. Descriptors opened
 * afterwards (TUN, sockets) belong to that namespace for their whole life; tests use this to
 * open devices inside the namespaces they create and then switch back. */
napi_value set_netns(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "setNetns(fd: number)");
  if (setns(fd, CLONE_NEWNET) < 0) return throw_errno(env, errno, "setns", "CLONE_NEWNET");
  return undefined(env);
}

/* close(fd). The caller must have closed any poller on it first. */
napi_value close_fd(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t fd;
  if (!get_i32(env, argv[0], &fd)) return throw_type(env, "close(fd: number)");
  tun_forget(fd);
  if (close(fd) < 0 && errno != EINTR) return throw_errno(env, errno, "close", "");
  return undefined(env);
}
