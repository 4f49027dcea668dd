/*
 * addon.h: the per-environment state of the addon and its entry points, one line each, grouped
 * by the file that implements them (addon.c registers them).
 */
#ifndef PMT_ADDON_H
#define PMT_ADDON_H

#include <node_api.h>

#include "offload.h"
#include "rx-ring.h"
#include "uring.h"

/* Per Node environment (main thread, each worker): io_uring and the TUN write scratch. */
typedef struct {
  uring_t uring;
  gro_scratch_t gro;
} env_state_t;

/* This environment's state (NULL when the addon could not allocate it at load). */
env_state_t *env_state(napi_env env);

/* addon.c */
napi_value set_io_uring(napi_env env, napi_callback_info info);
/* napi-util.c */
napi_value errno_name_js(napi_env env, napi_callback_info info);
/* tun.c */
napi_value open_tun(napi_env env, napi_callback_info info);
napi_value tun_offload_stats(napi_env env, napi_callback_info info);
napi_value write_tun(napi_env env, napi_callback_info info);
/* netdev.c */
napi_value set_mtu(napi_env env, napi_callback_info info);
napi_value set_txqlen(napi_env env, napi_callback_info info);
napi_value set_up(napi_env env, napi_callback_info info);
napi_value if_index(napi_env env, napi_callback_info info);
napi_value set_netns(napi_env env, napi_callback_info info);
napi_value close_fd(napi_env env, napi_callback_info info);
/* ethtool.c */
napi_value ethtool_features(napi_env env, napi_callback_info info);
/* sockets.c */
napi_value open_raw4(napi_env env, napi_callback_info info);
napi_value open_icmp6(napi_env env, napi_callback_info info);
napi_value send_icmp6(napi_env env, napi_callback_info info);
napi_value send_raw4(napi_env env, napi_callback_info info);
napi_value get_socket_error(napi_env env, napi_callback_info info);
/* packet.c */
napi_value open_packet4(napi_env env, napi_callback_info info);
napi_value next_hop4(napi_env env, napi_callback_info info);
napi_value route_dump4(napi_env env, napi_callback_info info);
napi_value route_dump4_async(napi_env env, napi_callback_info info);
napi_value neigh_use4(napi_env env, napi_callback_info info);
napi_value open_route_events(napi_env env, napi_callback_info info);
napi_value route_events(napi_env env, napi_callback_info info);
napi_value finish_ipv4_header(napi_env env, napi_callback_info info);
/* memory.c */
napi_value release_startup_pages(napi_env env, napi_callback_info info);
/* split.c */
napi_value split_raw4(napi_env env, napi_callback_info info);
napi_value open_packet_rx4(napi_env env, napi_callback_info info);
napi_value packet_fanout(napi_env env, napi_callback_info info);
/* sockets.c: an int socket option of argv[0] & mask (getSocketError, packetFanout). */
napi_value int_sockopt(napi_env env, napi_callback_info info, int level, int opt, uint32_t mask,
                       const char *usage, const char *name);
/* poller.c */
napi_value poll_start(napi_env env, napi_callback_info info);
napi_value poll_pause(napi_env env, napi_callback_info info);
napi_value poll_resume(napi_env env, napi_callback_info info);
napi_value writable_start(napi_env env, napi_callback_info info);
napi_value writable_arm(napi_env env, napi_callback_info info);
napi_value writable_close(napi_env env, napi_callback_info info);
napi_value readable_start(napi_env env, napi_callback_info info);
napi_value poll_close(napi_env env, napi_callback_info info);
napi_value poll_stats(napi_env env, napi_callback_info info);
napi_value poll_err_queue(napi_env env, napi_callback_info info);

#endif
