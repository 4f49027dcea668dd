/*
 * tun.c: the TUN device as JavaScript sees it: openTun (TUNSETIFF, the offload ioctls), the
 * per-fd offload state and its counters (tunOffloadStats), and writeTun (a batch grouped by
 * gro_group, written by tun-io.c). Reads go through the poller (poller.c, tun-io.c).
 */
#define _GNU_SOURCE
#include "tun.h"

#include <errno.h>
#include <fcntl.h>
#include <stdbool.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>

/* musl toolchains (OpenWrt, musl-gcc) often ship without kernel UAPI headers: the TUN
 * constants we need are stable ABI (include/uapi/linux/if_tun.h). */
#if defined(__has_include)
#if __has_include(<linux/if_tun.h>)
#include <linux/if_tun.h>
#endif
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
#ifndef IFF_MULTI_QUEUE
#define IFF_MULTI_QUEUE 0x0100
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

#include "addon.h"
#include "errors.h"
#include "napi-util.h"
#include "tun-io.h"

/* Offload state per TUN fd (fds are process-wide): set by openTun, cleared by close. */
#define TUN_FD_TABLE 1024
static tun_offload_t tun_off[TUN_FD_TABLE];

tun_offload_t *tun_vnet(int fd) {
  return fd >= 0 && fd < TUN_FD_TABLE && tun_off[fd].vnet ? &tun_off[fd] : NULL;
}

void tun_note_mtu(int fd, int mtu) {
  if (tun_vnet(fd) != NULL) tun_off[fd].mtu = mtu;
}

void tun_forget(int fd) {
  if (fd >= 0 && fd < TUN_FD_TABLE) tun_off[fd].vnet = 0;
}

/* openTun(name: string, offload?: boolean, udpSuperPackets?: boolean, multiQueue?: boolean):
 * { fd, name, offload }
 * IFF_TUN | IFF_NO_PI, O_NONBLOCK. With offload: IFF_VNET_HDR and TUNSETOFFLOAD(TUN_F_CSUM |
 * TUN_F_TSO6) (offload.h); offload is false in the result when the kernel refuses either (then
 * the device works as without it). udpSuperPackets (default true): probe whether the kernel
 * takes UDP super-packets (USO), which writeTun then writes; false: never write them.
 * multiQueue: IFF_MULTI_QUEUE; each call with the same name attaches one more queue (fd) to the
 * device, and the kernel spreads what it sends into the TUN over the queues by flow hash (the
 * relay's workers, one queue each). Every queue must be opened with the same flags. */
napi_value open_tun(napi_env env, napi_callback_info info) {
  CHECK_ARGC(4);
  char name[64];
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name))
    return throw_type(env, "openTun(name): name must be a string of 1..15 bytes");
  bool want_offload = false, want_uso = true, multi_queue = false;
  if ((argc > 1 && !is_nullish(env, argv[1]) &&
       napi_get_value_bool(env, argv[1], &want_offload) != napi_ok) ||
      (argc > 2 && !is_nullish(env, argv[2]) &&
       napi_get_value_bool(env, argv[2], &want_uso) != napi_ok) ||
      (argc > 3 && !is_nullish(env, argv[3]) &&
       napi_get_value_bool(env, argv[3], &multi_queue) != napi_ok))
    return throw_type(env,
                      "openTun(name, offload?: boolean, udpSuperPackets?: boolean, "
                      "multiQueue?: boolean)");
  struct ifreq ifr;
  int fd = -1;
  int vnet = 0, uso = 0;
  for (int attempt = want_offload ? 0 : 1; attempt < 2; attempt++) {
    fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) return throw_errno(env, errno, "open", "/dev/net/tun");
    memset(&ifr, 0, sizeof ifr);
    ifr.ifr_flags = IFF_TUN | IFF_NO_PI | (attempt == 0 ? IFF_VNET_HDR : 0) |
                    (multi_queue ? IFF_MULTI_QUEUE : 0);
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
      if (want_uso && ioctl(fd, TUNSETOFFLOAD,
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
napi_value tun_offload_stats(napi_env env, napi_callback_info info) {
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
  set_num(env, o, "superPacketsRead", t->super_packets_read);
  set_num(env, o, "segmentsCut", t->segments_cut);
  set_num(env, o, "checksumsCompleted", t->checksums_completed);
  set_num(env, o, "dropped", t->dropped);
  set_num(env, o, "superPacketsWritten", t->super_packets_written);
  set_num(env, o, "packetsCoalesced", t->packets_coalesced);
  set_num(env, o, "oversizedSplit", t->oversized_split);
  napi_value uso;
  napi_get_boolean(env, t->uso, &uso);
  napi_set_named_property(env, o, "udpSuperPackets", uso);
  return o;
}

/* writeTun(fd, bufs, offsets: Int32Array, lengths: Int32Array, count, status: Int32Array(3),
 *          slab?: ArrayBuffer, abs?: Int32Array, gso?: Int32Array) (slab and abs as sendRaw4's)
 * On a TUN opened with offload, in-order TCP segments of one flow are written as one
 * super-packet (gro_group); the return value and status still count packets. gso[i] > 0: packet
 * i is a TCP packet merged by GRO, to be cut at that segment size (gro_group_gso). */
napi_value write_tun(napi_env env, napi_callback_info info) {
  CHECK_ARGC(9);
  int32_t fd, count, *offs, *lens, *status;
  napi_value bufs;
  if (!get_send_args(env, argv, 0, &fd, &bufs, &offs, &lens, NULL, &count, &status))
    return throw_type(env,
                      "writeTun(fd, bufs: Uint8Array[], offsets: Int32Array, lengths: Int32Array, "
                      "count, status: Int32Array(3)) with count within every array");
  send_slab_t slab;
  get_send_slab(env, argv[6], argv[7], &slab);
  int32_t *gso_in = NULL;
  size_t gso_n = 0;
  if (argc >= 9 && !is_nullish(env, argv[8]) &&
      (!get_typed(env, argv[8], napi_int32_array, (void **)&gso_in, &gso_n) ||
       gso_n < (size_t)count))
    return throw_type(env, "writeTun: gso must be an Int32Array with count entries");
  env_state_t *st = env_state(env);
  if (st == NULL) return throw_errno(env, ENOMEM, "writeTun", "addon state");
  gro_scratch_t *g = &st->gro; /* per environment; no allocation per call */
  send_result res = {status, 0, 0, 0};
  tun_offload_t *off = tun_vnet(fd);
  uring_t *u = &st->uring;
  int sent = 0;
  uint8_t *ptrs[SEND_CHUNK];
  int32_t plen[SEND_CHUNK], pgso[SEND_CHUNK];
  int i = 0;
  while (i < count) {
    int n = 0;
    while (i < count && n < SEND_CHUNK) {
      uint8_t *p = entry_at(env, &slab, bufs, i, offs[i], lens[i]);
      if (p != NULL && gso_in != NULL && gso_in[i] > 0 && lens[i] >= 48 && p[6] == 17 &&
          (off == NULL || !off->uso)) {
        /* merged UDP for a TUN that takes no UDP super-packets: it cannot go out as sent */
        note_failure(&res, EINVAL, 1);
      } else if (p == NULL) {
        note_failure(&res, EINVAL, 1);
      } else {
        ptrs[n] = p;
        plen[n] = lens[i];
        pgso[n] = gso_in != NULL ? gso_in[i] : 0;
        n++;
      }
      i++;
    }
    int nu = gro_group_gso(g, off != NULL, off != NULL && off->uso, ptrs, plen,
                           gso_in != NULL ? pgso : NULL, n, off);
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
