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

/* ioctl(req) on the interface name with ifr, through a short-lived socket. On failure throws
 * "<what> <name>: <errno>" and returns false. */
static bool ifreq_ioctl(napi_env env, const char *name, unsigned long req, const char *what,
                        struct ifreq *ifr) {
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  int r = -1;
  if (s >= 0) {
    memcpy(ifr->ifr_name, name, strlen(name));
    r = ioctl(s, req, ifr);
    int e = errno;
    close(s);
    errno = e;
  }
  if (r < 0) throw_errno(env, errno, what, name);
  return r >= 0;
}

/* The (name: string, value: number) arguments of the setters below. */
static bool get_name_i32(napi_env env, napi_value *argv, char *name, size_t cap, int32_t *v) {
  return get_str(env, argv[0], name, cap) && name_ok(name) && get_i32(env, argv[1], v);
}

/* setMtu(name, mtu, fd?): SIOCSIFMTU; fd: the TUN of that name, whose write path keeps the MTU */
napi_value set_mtu(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  char name[64];
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name_i32(env, argv, name, sizeof name, &ifr.ifr_mtu))
    return throw_type(env, "setMtu(name: string, mtu: number)");
  if (!ifreq_ioctl(env, name, SIOCSIFMTU, "ioctl(SIOCSIFMTU)", &ifr)) return NULL;
  int32_t fd = -1;
  if (argc > 2 && get_i32(env, argv[2], &fd)) tun_note_mtu(fd, ifr.ifr_mtu);
  return undefined(env);
}

/* setTxQueueLen(name, len): SIOCSIFTXQLEN (a TUN defaults to 500 packets) */
napi_value set_txqlen(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  char name[64];
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  if (!get_name_i32(env, argv, name, sizeof name, &ifr.ifr_qlen))
    return throw_type(env, "setTxQueueLen(name: string, len: number)");
  if (!ifreq_ioctl(env, name, SIOCSIFTXQLEN, "ioctl(SIOCSIFTXQLEN)", &ifr)) return NULL;
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
  if (!ifreq_ioctl(env, name, SIOCGIFFLAGS, "ioctl(SIOCGIFFLAGS)", &ifr)) return NULL;
  if (up)
    ifr.ifr_flags |= IFF_UP;
  else
    ifr.ifr_flags &= ~IFF_UP;
  if (!ifreq_ioctl(env, name, SIOCSIFFLAGS, "ioctl(SIOCSIFFLAGS)", &ifr)) return NULL;
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
