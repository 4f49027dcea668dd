/*
 * napi-util.c: N-API glue shared by the entry points (declared in napi-util.h), and errnoName.
 */
#include "napi-util.h"

#include <errno.h>
#include <stdbool.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>

#include "addon.h"

const char *errno_name(int e) {
  switch (e) {
#define E(x) \
  case x:    \
    return #x;
    E(EPERM) E(ENOENT) E(EINTR) E(EIO) E(ENXIO) E(EBADF) E(EAGAIN) E(ENOMEM) E(EACCES) E(EFAULT)
    E(EBUSY) E(EEXIST) E(ENODEV) E(EINVAL) E(ENFILE) E(EMFILE) E(ENOSPC) E(ENOSYS) E(ENONET)
    E(EPROTO) E(EBADFD) E(ENOTSOCK) E(EDESTADDRREQ) E(EMSGSIZE) E(EPROTOTYPE) E(ENOPROTOOPT)
    E(EPROTONOSUPPORT) E(EOPNOTSUPP) E(EAFNOSUPPORT) E(EADDRINUSE) E(EADDRNOTAVAIL) E(ENETDOWN)
    E(ENETUNREACH) E(ENOBUFS) E(ETIMEDOUT) E(ECONNREFUSED) E(EHOSTDOWN) E(EHOSTUNREACH)
    E(ECONNRESET) E(ENOTCONN) E(ERANGE) E(E2BIG) E(ENOTTY)
#undef E
    default:
      return NULL;
  }
}

napi_value make_errno_error(napi_env env, int err, const char *syscall, const char *what) {
  char code_buf[32];
  const char *code = errno_name(err);
  if (code == NULL) {
    snprintf(code_buf, sizeof code_buf, "ERRNO_%d", err);
    code = code_buf;
  }
  char msg[512];
  snprintf(msg, sizeof msg, "%s %s: %s (%s)", syscall, what ? what : "", code, strerror(err));
  napi_value code_v, msg_v, error, errno_v, syscall_v;
  napi_create_string_utf8(env, code, NAPI_AUTO_LENGTH, &code_v);
  napi_create_string_utf8(env, msg, NAPI_AUTO_LENGTH, &msg_v);
  napi_create_error(env, code_v, msg_v, &error);
  napi_create_int32(env, err, &errno_v);
  napi_set_named_property(env, error, "errno", errno_v);
  napi_create_string_utf8(env, syscall, NAPI_AUTO_LENGTH, &syscall_v);
  napi_set_named_property(env, error, "syscall", syscall_v);
  return error;
}

napi_value throw_errno(napi_env env, int err, const char *syscall, const char *what) {
  napi_throw(env, make_errno_error(env, err, syscall, what));
  return NULL;
}

napi_value throw_type(napi_env env, const char *msg) {
  napi_throw_type_error(env, "ERR_INVALID_ARG_TYPE", msg);
  return NULL;
}

int get_i32(napi_env env, napi_value v, int32_t *out) {
  return napi_get_value_int32(env, v, out) == napi_ok;
}

int get_u32(napi_env env, napi_value v, uint32_t *out) {
  return napi_get_value_uint32(env, v, out) == napi_ok;
}

int get_str(napi_env env, napi_value v, char *buf, size_t cap) {
  size_t len = 0;
  if (napi_get_value_string_utf8(env, v, buf, cap, &len) != napi_ok) return 0;
  return len < cap - 1 || cap == 0 ? 1 : 0;
}

int is_nullish(napi_env env, napi_value v) {
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok) return 1;
  return t == napi_undefined || t == napi_null;
}

/* Any TypedArray: data pointer (already adjusted by byteOffset), element type and length. */
int get_typed(napi_env env, napi_value v, napi_typedarray_type want, void **data,
              size_t *length) {
  /* napi_invalid_arg (no exception) for anything but a typed array; no ArrayBuffer handle asked
   * for: this runs per packet in the send paths (packet_at). */
  napi_typedarray_type type;
  if (napi_get_typedarray_info(env, v, &type, length, data, NULL, NULL) != napi_ok) return 0;
  return type == want;
}

int get_bytes(napi_env env, napi_value v, uint8_t **data, size_t *length) {
  return get_typed(env, v, napi_uint8_array, (void **)data, length);
}

int name_ok(const char *name) { return name[0] != 0 && strlen(name) < IFNAMSIZ; }

void call_js_fatal(napi_env env, napi_async_context ctx, napi_value fn, size_t argc,
                   napi_value *argv) {
  napi_value recv, result;
  napi_get_global(env, &recv); /* napi_make_callback needs an object receiver */
  napi_make_callback(env, ctx, recv, fn, argc, argv, &result);
  bool pending = false;
  napi_is_exception_pending(env, &pending);
  if (pending) {
    napi_value exc;
    napi_get_and_clear_last_exception(env, &exc);
    napi_fatal_exception(env, exc);
  }
}

napi_value undefined(napi_env env) {
  napi_value u;
  napi_get_undefined(env, &u);
  return u;
}

napi_value num(napi_env env, double d) {
  napi_value v;
  napi_create_double(env, d, &v);
  return v;
}

/* o[key] = v (a number). */
void set_num(napi_env env, napi_value o, const char *key, double v) {
  napi_set_named_property(env, o, key, num(env, v));
}

int get_send_args(napi_env env, napi_value *argv, int with_dsts, int32_t *fd,
                  napi_value *bufs, int32_t **offs, int32_t **lens, uint32_t **dsts,
                  int32_t *count, int32_t **status) {
  size_t n_offs, n_lens, n_dsts = 0, n_status;
  bool is_array;
  int a = 0;
  if (!get_i32(env, argv[a++], fd)) return 0;
  *bufs = argv[a++];
  if (napi_is_array(env, *bufs, &is_array) != napi_ok || !is_array) return 0;
  if (!get_typed(env, argv[a++], napi_int32_array, (void **)offs, &n_offs)) return 0;
  if (!get_typed(env, argv[a++], napi_int32_array, (void **)lens, &n_lens)) return 0;
  if (with_dsts) {
    napi_value d = argv[a++];
    if (is_nullish(env, d)) {
      *dsts = NULL; /* destination taken from each packet's IPv4 header */
      n_dsts = SIZE_MAX;
    } else if (!get_typed(env, d, napi_uint32_array, (void **)dsts, &n_dsts)) {
      return 0;
    }
  }
  if (!get_i32(env, argv[a++], count)) return 0;
  if (!get_typed(env, argv[a++], napi_int32_array, (void **)status, &n_status) || n_status < 3)
    return 0;
  uint32_t n_bufs;
  napi_get_array_length(env, *bufs, &n_bufs);
  if (*count < 0 || (size_t)*count > n_offs || (size_t)*count > n_lens || *count > (int)n_bufs ||
      (with_dsts && (size_t)*count > n_dsts))
    return 0;
  return 1;
}

/* Pointer to bufs[i][off .. off+len), or NULL when out of range / not a Uint8Array. */
uint8_t *packet_at(napi_env env, napi_value bufs, int32_t i, int32_t off, int32_t len) {
  napi_value el;
  uint8_t *data;
  size_t blen;
  if (napi_get_element(env, bufs, (uint32_t)i, &el) != napi_ok) return NULL;
  if (!get_bytes(env, el, &data, &blen)) return NULL;
  if (off < 0 || len <= 0 || (size_t)off + (size_t)len > blen) return NULL;
  return data + off;
}

void get_send_slab(napi_env env, napi_value slab, napi_value abs, send_slab_t *out) {
  out->data = NULL;
  out->len = 0;
  out->abs = NULL;
  out->n = 0;
  bool is_ab = false;
  void *data = NULL;
  size_t len = 0;
  if (is_nullish(env, slab) || is_nullish(env, abs) ||
      napi_is_arraybuffer(env, slab, &is_ab) != napi_ok || !is_ab ||
      napi_get_arraybuffer_info(env, slab, &data, &len) != napi_ok || data == NULL ||
      !get_typed(env, abs, napi_int32_array, (void **)&out->abs, &out->n)) {
    out->abs = NULL;
    out->n = 0;
    return;
  }
  out->data = data;
  out->len = len;
}

uint8_t *entry_at(napi_env env, const send_slab_t *s, napi_value bufs, int32_t i, int32_t off,
                  int32_t len) {
  if (s->data != NULL && (size_t)i < s->n) {
    int32_t a = s->abs[i];
    if (a >= 0 && len > 0 && (size_t)a + (size_t)len <= s->len) return s->data + a;
  }
  return packet_at(env, bufs, i, off, len);
}

/* errnoName(n): "EAGAIN", ... ("ERRNO_<n>" when unknown) — names for the numbers in the send
 * status arrays, from this platform's own <errno.h> (MIPS numbers differ from x86/ARM). */
napi_value errno_name_js(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  int32_t e;
  if (!get_i32(env, argv[0], &e)) return throw_type(env, "errnoName(errno: number)");
  char buf[32];
  const char *name = e == 0 ? "" : errno_name(e);
  if (name == NULL) {
    snprintf(buf, sizeof buf, "ERRNO_%d", e);
    name = buf;
  }
  napi_value v;
  napi_create_string_utf8(env, name, NAPI_AUTO_LENGTH, &v);
  return v;
}
