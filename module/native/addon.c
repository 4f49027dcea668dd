/*
 * addon.c: registration of pmt_native, the syscall layer of 6to4-pmt, and its per-environment
 * state (io_uring, TUN write scratch; setIoUring switches the ring).
 *
 * Node-API (NAPI_VERSION 8) for everything JavaScript sees, plus libuv's stable uv_poll API for fd
 * readiness, so one build per architecture serves every Node version. Policy (what to send, how to
 * react to an error, which I/O options are on) lives in TypeScript (module/io/linux.ts,
 * module/native/loader.ts); the addon opens and configures descriptors, moves packets between the
 * kernel and caller-owned buffers in batches, does the offload arithmetic the TUN's virtio-net
 * header asks for, and reports errno names. It reads no environment: options come as arguments.
 *
 * Files, one job each:
 *   addon.c        this: module registration, per-environment state, setIoUring
 *   napi-util.c    N-API argument readers, errno-named errors, errnoName
 *   errors.h       errno classes and the send paths' failure tally (no N-API)
 *   tun.c          openTun (TUN ioctls), the per-fd offload table, tunOffloadStats, writeTun
 *   tun-io.c       TUN reads into the ring and batched writes (read/readv/writev or io_uring)
 *   netdev.c       MTU, txqueuelen, IFF_UP, ifindex, network namespace, close
 *   ethtool.c      netdev features through SIOCETHTOOL
 *   sockets.c      raw protocol-41 and ICMPv6 sockets: open, sendRaw4, sendIcmp6, SO_ERROR
 *   packet.c       the AF_PACKET WAN send socket, next hop and neighbour by rtnetlink
 *   socket-read.c  recvmmsg of a batch into the ring, the error queue
 *   split.c        splitRaw4: the relay workers' share of inbound protocol 41 (classic BPF);
 *                  openPacketRx4 (packet_receive; BPF share or PACKET_FANOUT), packetFanout
 *   poller.c       uv_poll per fd: pollStart/Pause/Resume/Close/Stats, the batch callback
 *   privileges.c   dropPrivileges: user, capabilities, no_new_privs (once, after start-up)
 *   memory.c       releaseStartupPages: clean read-only file pages out of the RSS after start-up
 *   uring.c        io_uring set-up, linked writes, NOWAIT reads (no N-API)
 *   offload.c      checksums, GRO grouping, GSO cutting, 6in4 GRO repair (no N-API)
 *
 * Receive flow (one poller per fd):
 *   1. TypeScript hands over, once, a ring of N Buffers, a headroom offset, an Int32Array of sizes
 *      and (raw sockets) a Uint32Array / Uint8Array for source addresses.
 *   2. uv_poll reports readability; we drain up to N packets (recvmmsg on sockets, reads on the
 *      TUN) straight into the ring at the offset and fill sizes/addresses in place.
 *   3. One JavaScript callback per batch with the packet count. Nothing is allocated per packet.
 *   4. The ring is reused for the next batch: JavaScript must be done with it when the callback
 *      returns.
 */
#include "addon.h"

#include <stdbool.h>
#include <stdlib.h>

#include "napi-util.h"
#include "privileges.h"

env_state_t *env_state(napi_env env) {
  void *data = NULL;
  if (napi_get_instance_data(env, &data) != napi_ok) return NULL;
  return data;
}

/* setIoUring(enabled, reads = enabled): boolean. enabled: batched TUN writes through io_uring
 * (the ring is set up now if it is not yet); false closes the ring and writes with writev(2).
 * reads: TUN reads through the ring too (tun-io.c). Returns whether writes go through the ring
 * (false when io_uring is unavailable here: old kernel, seccomp, no CONFIG_IO_URING). */
napi_value set_io_uring(napi_env env, napi_callback_info info) {
  CHECK_ARGC(2);
  bool on, reads;
  if (napi_get_value_bool(env, argv[0], &on) != napi_ok ||
      (argc > 1 && !is_nullish(env, argv[1]) && napi_get_value_bool(env, argv[1], &reads) != napi_ok))
    return throw_type(env, "setIoUring(enabled: boolean, reads?: boolean)");
  if (argc < 2 || is_nullish(env, argv[1])) reads = on;
  env_state_t *st = env_state(env);
  uring_t *u = st != NULL ? &st->uring : NULL;
  if (u != NULL && !on) uring_close(u);
  if (u != NULL && on && u->fd < 0) uring_open(u);
  if (u != NULL && u->fd >= 0) {
    u->enabled = 1;
    u->reads = reads;
  }
  napi_value v;
  napi_get_boolean(env, u != NULL && u->fd >= 0 && u->enabled, &v);
  return v;
}

static void env_state_free(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  env_state_t *st = data;
  uring_close(&st->uring);
  free(st);
}

static napi_value init(napi_env env, napi_value exports) {
  env_state_t *st = calloc(1, sizeof *st);
  if (st != NULL) {
    st->uring.fd = -1; /* opened by setIoUring, which the loader calls with the io options */
    if (napi_set_instance_data(env, st, env_state_free, NULL) != napi_ok) {
      uring_close(&st->uring);
      free(st);
    }
  }
  napi_property_descriptor props[] = {
#define F(js, c) {js, NULL, c, NULL, NULL, NULL, napi_enumerable, NULL}
      F("openTun", open_tun),
      F("tunOffloadStats", tun_offload_stats),
      F("setMtu", set_mtu),
      F("setTxQueueLen", set_txqlen),
      F("setUp", set_up),
      F("ifIndex", if_index),
      F("ethtoolFeatures", ethtool_features),
      F("setNetns", set_netns),
      F("close", close_fd),
      F("getSocketError", get_socket_error),
      F("errnoName", errno_name_js),
      F("openRaw4", open_raw4),
      F("openIcmp6", open_icmp6),
      F("sendIcmp6", send_icmp6),
      F("sendRaw4", send_raw4),
      F("writeTun", write_tun),
      F("setIoUring", set_io_uring),
      F("pollStart", poll_start),
      F("pollPause", poll_pause),
      F("pollResume", poll_resume),
      F("writableStart", writable_start),
      F("writableArm", writable_arm),
      F("writableClose", writable_close),
      F("readableStart", readable_start),
      F("pollClose", poll_close),
      F("pollStats", poll_stats),
      F("dropPrivileges", drop_privileges),
      F("pollErrQueue", poll_err_queue),
      F("releaseStartupPages", release_startup_pages),
      F("splitRaw4", split_raw4),
      F("openPacketRx4", open_packet_rx4),
      F("packetFanout", packet_fanout),
      F("openPacket4", open_packet4),
      F("nextHop4", next_hop4),
      F("routeDump4", route_dump4),
      F("routeDump4Async", route_dump4_async),
      F("neighUse4", neigh_use4),
      F("openRouteEvents", open_route_events),
      F("routeEvents", route_events),
      F("finishIpv4Header", finish_ipv4_header),
#undef F
  };
  napi_define_properties(env, exports, sizeof props / sizeof props[0], props);
  napi_value v;
  napi_create_int32(env, POLL_KIND_TUN, &v);
  napi_set_named_property(env, exports, "POLL_KIND_TUN", v);
  napi_create_int32(env, POLL_KIND_RAW4, &v);
  napi_set_named_property(env, exports, "POLL_KIND_RAW4", v);
  napi_create_int32(env, POLL_KIND_ICMP6, &v);
  napi_set_named_property(env, exports, "POLL_KIND_ICMP6", v);
  napi_create_int32(env, POLL_KIND_PACKET4, &v);
  napi_set_named_property(env, exports, "POLL_KIND_PACKET4", v);
  napi_create_int32(env, MAX_BATCH, &v);
  napi_set_named_property(env, exports, "MAX_BATCH", v);
  return exports;
}

NAPI_MODULE(NODE_GYP_MODULE_NAME, init)
