/*
 * napi-util.h: the N-API glue every entry point uses (napi-util.c): argument readers, JavaScript
 * errors named by errno, small value helpers, and the arguments of the batched send paths.
 */
#ifndef PMT_NAPI_UTIL_H
#define PMT_NAPI_UTIL_H

#include <stddef.h>
#include <stdint.h>

#include <node_api.h>

/* Declares argc/argv for an entry point taking up to n arguments (missing ones: undefined). */
#define CHECK_ARGC(n)                                                  \
  size_t argc = (n);                                                   \
  napi_value argv[(n) > 0 ? (n) : 1];                                  \
  if (napi_get_cb_info(env, info, &argc, argv, NULL, NULL) != napi_ok) \
    return NULL;

/* errno -> "EAGAIN", ... on this platform, NULL when not in our table. */
const char *errno_name(int e);
/* Error with code (errno name), errno and syscall, message "<syscall> <what>: <code> (...)". */
napi_value make_errno_error(napi_env env, int err, const char *syscall, const char *what);
/* Throw one of those / a TypeError ERR_INVALID_ARG_TYPE; both return NULL for the caller. */
napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what);
napi_value throw_type(napi_env env, const char *msg);

int get_i32(napi_env env, napi_value v, int32_t *out);
int get_u32(napi_env env, napi_value v, uint32_t *out);
int get_str(napi_env env, napi_value v, char *buf, size_t cap);
int is_nullish(napi_env env, napi_value v);
int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data, size_t *length);
int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *length);
/* An interface name that fits IFNAMSIZ. */
int name_ok(const char *name);
napi_value undefined(napi_env env);
/* Calls fn(argv...) as a libuv-originated callback (napi_make_callback with `ctx`, which may be
 * NULL, and the global object as receiver: microtasks and nextTicks run afterwards) and turns a
 * thrown exception into an uncaught exception instead of leaving it pending. */
void call_js_fatal(napi_env env, napi_async_context ctx, napi_value fn, size_t argc,
                   napi_value *argv);
napi_value num(napi_env env, double d);
void set_num(napi_env env, napi_value o, const char *key, double v);

/* (fd, bufs, offsets, lengths, [dsts,] count, status) of sendRaw4 / writeTun, checked. */
int get_send_args(napi_env env, napi_value *argv, int with_dsts, int32_t *fd, napi_value *bufs,
                  int32_t **offs, int32_t **lens, uint32_t **dsts, int32_t *count,
                  int32_t **status);
uint8_t *packet_at(napi_env env, napi_value bufs, int32_t i, int32_t off, int32_t len);

/*
 * The slab of a batched send: the ArrayBuffer most entries are views of (a receive ring is one
 * slab) and each entry's byte offset in it, -1 for an entry that is not (io/linux.ts slabOffsets).
 * Found once per call, it spares the per-entry bufs[i] lookup (napi_get_element and
 * napi_get_typedarray_info, ~3 % of the relay's CPU). Empty (data NULL) when not given.
 */
typedef struct {
  uint8_t *data;
  size_t len;
  const int32_t *abs;
  size_t n;
} send_slab_t;
/* Reads (slab: ArrayBuffer | null, abs: Int32Array | null); either absent or wrong: empty. */
void get_send_slab(napi_env env, napi_value slab, napi_value abs, send_slab_t *out);
/* Entry i at [off, off+len) of bufs[i]: from the slab when it holds it, else packet_at. */
uint8_t *entry_at(napi_env env, const send_slab_t *s, napi_value bufs, int32_t i, int32_t off,
                  int32_t len);

#endif
