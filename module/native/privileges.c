/*
 * privileges.c: dropPrivileges(uid, gid, keep), the daemons' one-way privilege drop after their
 * TUN, sockets and routes are in place (policy — which user, which capabilities — is decided in
 * module/io/privileges.ts). Raw syscalls and prctl only: no libcap.
 *
 * Order, each step undoable by nobody afterwards:
 *   1. Bounding set: every capability outside `keep` is dropped (PR_CAPBSET_DROP), when the
 *      process holds CAP_SETPCAP (started as root); otherwise left as it is (a non-root start
 *      cannot regain anything through exec anyway: step 6).
 *   2. PR_SET_KEEPCAPS 1, so the uid change in step 3 keeps the permitted set of this thread;
 *      only when the uid changes: a process started as its user already (procd's ujail, which
 *      locks the keep-caps securebit: PR_SET_KEEPCAPS then fails with EPERM) needs no uid
 *      change and so no KEEPCAPS.
 *   3. uid >= 0: setgroups(0) and setresgid(gid), then setresuid(uid) (the C library, glibc or
 *      musl, applies the uid and gid changes to every thread; the other threads, without
 *      KEEPCAPS, lose all capabilities when they leave uid 0).
 *   4. capset: permitted = effective = inheritable = `keep`, for this thread.
 *   5. Ambient set = `keep`, so `ip` started by the daemon (child_process, forked from this
 *      thread) gets them without file capabilities; then PR_SET_KEEPCAPS back to 0.
 *   6. PR_SET_NO_NEW_PRIVS: no exec can gain privileges again (setuid bits and file capabilities
 *      are ignored; the kernel caps a child's permitted set at ours).
 * Capabilities are per thread in Linux: steps 1, 4, 5 and 6 hold for the calling (main) thread
 * and every process it starts.
 */
#define _GNU_SOURCE /* setresuid, setresgid */
#include "privileges.h"

#include <errno.h>
#include <grp.h>
#include <linux/capability.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "napi-util.h"

/* Highest capability number this code knows of for the bounding loop (the kernel's may be
 * lower: PR_CAPBSET_DROP of an unknown number fails with EINVAL, which ends the loop). */
#define PMT_CAP_LAST 63

static int capget_self(struct __user_cap_data_struct data[2]) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  return (int)syscall(SYS_capget, &hdr, data);
}

static int capset_self(uint64_t keep) {
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2];
  for (int i = 0; i < 2; i++) {
    uint32_t w = (uint32_t)(keep >> (32 * i));
    data[i].effective = w;
    data[i].permitted = w;
    data[i].inheritable = w;
  }
  return (int)syscall(SYS_capset, &hdr, data);
}

/* dropPrivileges(uid: number, gid: number, keep: number[]): { boundingReduced: boolean }.
 * uid/gid -1: stay the current user (capabilities and no_new_privs only). keep: capability
 * numbers (CAP_NET_ADMIN = 12, ...). Throws an errno error naming the failed step. */
napi_value drop_privileges(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  int32_t uid, gid;
  bool is_array = false;
  if (!get_i32(env, argv[0], &uid) || !get_i32(env, argv[1], &gid) ||
      napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array || (uid < 0) != (gid < 0))
    return throw_type(env, "dropPrivileges(uid: number, gid: number, keep: number[])");
  uint32_t n = 0;
  napi_get_array_length(env, argv[2], &n);
  uint64_t keep = 0;
  for (uint32_t i = 0; i < n; i++) {
    napi_value e;
    uint32_t c;
    if (napi_get_element(env, argv[2], i, &e) != napi_ok || !get_u32(env, e, &c) ||
        c > PMT_CAP_LAST)
      return throw_type(env, "dropPrivileges: keep holds capability numbers 0..63");
    keep |= (uint64_t)1 << c;
  }

  struct __user_cap_data_struct cur[2];
  if (capget_self(cur) != 0) return throw_errno(env, errno, "capget", "");
  bool setpcap = (cur[0].effective >> CAP_SETPCAP) & 1;
  bool bounding = false;
  if (setpcap) {
    for (int c = 0; c <= PMT_CAP_LAST; c++) {
      if ((keep >> c) & 1) continue;
      if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0) {
        if (errno == EINVAL) break; /* past the kernel's last capability */
        return throw_errno(env, errno, "prctl", "PR_CAPBSET_DROP");
      }
    }
    bounding = true;
  }
  if (uid >= 0 && prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0) != 0)
    return throw_errno(env, errno, "prctl", "PR_SET_KEEPCAPS");
  if (uid >= 0) {
    if (setgroups(0, NULL) != 0) return throw_errno(env, errno, "setgroups", "");
    if (setresgid((gid_t)gid, (gid_t)gid, (gid_t)gid) != 0)
      return throw_errno(env, errno, "setresgid", "");
    if (setresuid((uid_t)uid, (uid_t)uid, (uid_t)uid) != 0)
      return throw_errno(env, errno, "setresuid", "");
  }
  if (capset_self(keep) != 0) return throw_errno(env, errno, "capset", "");
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) != 0)
    return throw_errno(env, errno, "prctl", "PR_CAP_AMBIENT_CLEAR_ALL");
  for (int c = 0; c <= PMT_CAP_LAST; c++) {
    if (((keep >> c) & 1) && prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_RAISE, c, 0, 0) != 0)
      return throw_errno(env, errno, "prctl", "PR_CAP_AMBIENT_RAISE");
  }
  if (uid >= 0 && prctl(PR_SET_KEEPCAPS, 0, 0, 0, 0) != 0)
    return throw_errno(env, errno, "prctl", "PR_SET_KEEPCAPS");
  if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
    return throw_errno(env, errno, "prctl", "PR_SET_NO_NEW_PRIVS");

  napi_value out, b;
  napi_create_object(env, &out);
  napi_get_boolean(env, bounding, &b);
  napi_set_named_property(env, out, "boundingReduced", b);
  return out;
}
