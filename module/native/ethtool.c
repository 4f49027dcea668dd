/*
 * ethtool.c: netdev features by their ethtool names (ethtoolFeatures), through SIOCETHTOOL.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <net/if.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include "addon.h"
#include "napi-util.h"

/*
 * ethtoolFeatures(name, features: string[], want: Int32Array | null): Int32Array
 * Netdev features by their ethtool names ("rx-gro-list", "rx-udp-gro-forwarding", ...) through
 * SIOCETHTOOL, as `ethtool -k/-K` does; OpenWrt's busybox has no ethtool. want[i] 0 turns
 * feature i off, 1 on, -1 leaves it. Returns per feature: -1 when the kernel does not know the
 * name, else bit 0 active, bit 1 changeable (available, not fixed), bit 2 requested — read after
 * any change. The structures are the stable ABI of include/uapi/linux/ethtool.h, spelled out here
 * because musl toolchains may lack the kernel headers.
 */
#define PMT_SIOCETHTOOL 0x8946
#define PMT_ETHTOOL_GSTRINGS 0x1b
#define PMT_ETHTOOL_GSSET_INFO 0x37
#define PMT_ETHTOOL_GFEATURES 0x3a
#define PMT_ETHTOOL_SFEATURES 0x3b
#define PMT_ETH_SS_FEATURES 4
#define PMT_ETH_GSTRING_LEN 32
#define PMT_MAX_FEATURES 16

typedef struct {
  uint32_t cmd, reserved;
  uint64_t sset_mask;
  uint32_t data[1];
} pmt_sset_info_t;
typedef struct {
  uint32_t available, requested, active, never_changed;
} pmt_feature_get_t;
typedef struct {
  uint32_t valid, requested;
} pmt_feature_set_t;

static int ethtool_ioctl(int s, const char *name, void *data) {
  struct ifreq ifr;
  memset(&ifr, 0, sizeof ifr);
  memcpy(ifr.ifr_name, name, strlen(name));
  ifr.ifr_data = data;
  return ioctl(s, PMT_SIOCETHTOOL, &ifr);
}

napi_value ethtool_features(napi_env env, napi_callback_info info) {
  CHECK_ARGC(3);
  char name[64];
  char want_names[PMT_MAX_FEATURES][PMT_ETH_GSTRING_LEN + 1];
  int32_t *want = NULL;
  size_t want_len = 0;
  bool is_array;
  uint32_t k = 0;
  if (!get_str(env, argv[0], name, sizeof name) || !name_ok(name) ||
      napi_is_array(env, argv[1], &is_array) != napi_ok || !is_array ||
      napi_get_array_length(env, argv[1], &k) != napi_ok || k == 0 || k > PMT_MAX_FEATURES)
    return throw_type(env, "ethtoolFeatures(name: string, features: string[] (1..16), want: "
                           "Int32Array | null)");
  for (uint32_t i = 0; i < k; i++) {
    napi_value el;
    if (napi_get_element(env, argv[1], i, &el) != napi_ok ||
        !get_str(env, el, want_names[i], sizeof want_names[i]))
      return throw_type(env, "ethtoolFeatures: features must be names of at most 32 characters");
  }
  napi_valuetype wt;
  napi_typeof(env, argv[2], &wt);
  if (wt != napi_null && wt != napi_undefined) {
    napi_typedarray_type tt;
    void *data;
    napi_value ab;
    size_t off;
    if (napi_get_typedarray_info(env, argv[2], &tt, &want_len, &data, &ab, &off) != napi_ok ||
        tt != napi_int32_array || want_len != k)
      return throw_type(env, "ethtoolFeatures: want must be an Int32Array, one entry per feature");
    want = (int32_t *)data;
  }
  int s = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
  if (s < 0) return throw_errno(env, errno, "socket", "ethtool");
  const char *step = "ETHTOOL_GSSET_INFO";
  char *strings = NULL;
  pmt_feature_get_t *blocks = NULL;
  pmt_feature_set_t *set = NULL;
  int err = 0;
  pmt_sset_info_t ssi;
  memset(&ssi, 0, sizeof ssi);
  ssi.cmd = PMT_ETHTOOL_GSSET_INFO;
  ssi.sset_mask = 1ULL << PMT_ETH_SS_FEATURES;
  if (ethtool_ioctl(s, name, &ssi) < 0) goto fail;
  uint32_t n = ssi.sset_mask != 0 ? ssi.data[0] : 0;
  if (n == 0 || n > 4096) {
    errno = EOPNOTSUPP;
    goto fail;
  }
  step = "ETHTOOL_GSTRINGS";
  strings = calloc(1, 12 + (size_t)n * PMT_ETH_GSTRING_LEN);
  if (strings == NULL) goto fail;
  uint32_t hdr[3] = {PMT_ETHTOOL_GSTRINGS, PMT_ETH_SS_FEATURES, n};
  memcpy(strings, hdr, sizeof hdr);
  if (ethtool_ioctl(s, name, strings) < 0) goto fail;
  uint32_t nb = (n + 31) / 32;
  step = "ETHTOOL_GFEATURES";
  blocks = calloc(1, 8 + (size_t)nb * sizeof(pmt_feature_get_t));
  if (blocks == NULL) goto fail;
  int idx[PMT_MAX_FEATURES];
  for (uint32_t i = 0; i < k; i++) {
    idx[i] = -1;
    for (uint32_t j = 0; j < n && idx[i] < 0; j++)
      if (strncmp(strings + 12 + (size_t)j * PMT_ETH_GSTRING_LEN, want_names[i],
                  PMT_ETH_GSTRING_LEN) == 0)
        idx[i] = (int)j;
  }
  uint32_t ghdr[2] = {PMT_ETHTOOL_GFEATURES, nb};
  memcpy(blocks, ghdr, sizeof ghdr);
  pmt_feature_get_t *fb = (pmt_feature_get_t *)((char *)blocks + 8);
  if (ethtool_ioctl(s, name, blocks) < 0) goto fail;
  int change = 0;
  if (want != NULL) {
    set = calloc(1, 8 + (size_t)nb * sizeof(pmt_feature_set_t));
    if (set == NULL) goto fail;
    pmt_feature_set_t *sb = (pmt_feature_set_t *)((char *)set + 8);
    for (uint32_t i = 0; i < k; i++) {
      if (idx[i] < 0 || want[i] < 0) continue;
      uint32_t b = (uint32_t)idx[i] / 32, bit = 1u << ((uint32_t)idx[i] % 32);
      sb[b].valid |= bit;
      if (want[i] > 0) sb[b].requested |= bit;
      change = 1;
    }
    if (change) {
      step = "ETHTOOL_SFEATURES";
      uint32_t shdr[2] = {PMT_ETHTOOL_SFEATURES, nb};
      memcpy(set, shdr, sizeof shdr);
      if (ethtool_ioctl(s, name, set) < 0) goto fail; /* >= 0: done, or some wish not granted */
      step = "ETHTOOL_GFEATURES";
      memcpy(blocks, ghdr, sizeof ghdr);
      if (ethtool_ioctl(s, name, blocks) < 0) goto fail;
    }
  }
  napi_value ab, out;
  void *outp;
  napi_create_arraybuffer(env, k * sizeof(int32_t), &outp, &ab);
  napi_create_typedarray(env, napi_int32_array, k, ab, 0, &out);
  for (uint32_t i = 0; i < k; i++) {
    int32_t v = -1;
    if (idx[i] >= 0) {
      uint32_t b = (uint32_t)idx[i] / 32, bit = 1u << ((uint32_t)idx[i] % 32);
      v = ((fb[b].active & bit) ? 1 : 0) |
          ((fb[b].available & bit) && !(fb[b].never_changed & bit) ? 2 : 0) |
          ((fb[b].requested & bit) ? 4 : 0);
    }
    ((int32_t *)outp)[i] = v;
  }
  free(strings);
  free(blocks);
  free(set);
  close(s);
  return out;
fail:
  err = errno != 0 ? errno : ENOMEM;
  free(strings);
  free(blocks);
  free(set);
  close(s);
  char what[128];
  snprintf(what, sizeof what, "%s %s", step, name);
  return throw_errno(env, err, "ioctl(SIOCETHTOOL)", what);
}
