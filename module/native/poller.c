/*
 * poller.c: one uv_poll per fd (pollStart/Pause/Resume/Close/Stats). On readability it drains a
 * batch into the fd's receive ring (tun-io.c drain_tun, socket-read.c drain_socket) and calls
 * JavaScript once per batch; it keeps the JavaScript objects behind the ring referenced.
 *
 * Pending socket errors: an ICMP error about a packet we sent (protocol unreachable from a peer
 * that has no protocol-41 socket yet, port unreachable, ...) sets sk_err on a raw socket. epoll
 * then reports EPOLLERR, libuv stops the uv_poll handle and calls us with UV_EBADF, and the next
 * send fails once with that stale error. Left alone the tunnel stops receiving forever. We read
 * (and so clear) SO_ERROR, drain the error queue, count it and restart polling; the send paths
 * retry a packet once when it fails with such a stale ICMP-derived error.
 *
 * With IP_RECVERR (RFC 4213 §3.4) every such ICMPv4 error also lands in the socket's error queue
 * with the packet it quotes: on EPOLLERR the queue is read in batches into the error ring that
 * pollErrQueue registered (counted by ICMP type and code either way), and JavaScript gets one
 * onErrors(count) call per batch.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sys/socket.h>

#include <node_api.h>
#include <uv.h>

#include "addon.h"
#include "errors.h"
#include "napi-util.h"
#include "rx-ring.h"
#include "tun-io.h"
#include "tun.h"

/* Consecutive EPOLLERR wake-ups without a packet before we give up and report the error. */
#define MAX_ERR_SPIN 64
/* Error-ring batches handed over per EPOLLERR wake-up; what is left wakes us again. */
#define MAX_ERRQ_ROUNDS 16

typedef struct poller {
  uv_poll_t handle; /* first: the uv handle pointer is the poller pointer */
  napi_env env;
  rx_ring_t r; /* the fd, the ring and the counters */
  int closing;
  int paused;
  int err_spin;
  int owners;
  napi_ref *buf_refs;
  napi_ref sizes_ref, addrs_ref, meta_ref, on_batch_ref, on_error_ref;
  napi_ref eq_buf_ref, eq_meta_ref, on_errq_ref; /* pollErrQueue */
  napi_async_context async_ctx;
} poller_t;

/* Releases everything but the struct itself: JS references, async context, arrays. */
static void poller_release(poller_t *p) {
  napi_env env = p->env;
  if (p->buf_refs)
    for (int i = 0; i < p->r.max; i++)
      if (p->buf_refs[i]) napi_delete_reference(env, p->buf_refs[i]);
  napi_ref refs[] = {p->sizes_ref,    p->addrs_ref,  p->meta_ref,   p->on_batch_ref,
                     p->on_error_ref, p->eq_buf_ref, p->eq_meta_ref, p->on_errq_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
    if (refs[i]) napi_delete_reference(env, refs[i]);
  p->sizes_ref = p->addrs_ref = p->meta_ref = p->on_batch_ref = p->on_error_ref = NULL;
  p->eq_buf_ref = p->eq_meta_ref = p->on_errq_ref = NULL;
  p->r.eq_max = 0;
  if (p->async_ctx) napi_async_destroy(env, p->async_ctx);
  p->async_ctx = NULL;
  free(p->r.bufs);
  free(p->r.caps);
  free(p->buf_refs);
  free(p->r.msgs);
  free(p->r.iovs);
  free(p->r.names);
  free(p->r.cmsgs);
  free(p->r.gso_buf);
  free(p->r.spill);
  free(p->r.q_pos);
  free(p->r.q_len);
  free(p->r.q_hdr);
  free(p->r.vh);
  free(p->r.lhdr);
  p->r.gso_buf = p->r.spill = NULL;
  p->r.q_pos = NULL;
  p->r.q_len = NULL;
  p->r.q_hdr = NULL;
  p->r.vh = NULL;
  p->r.lhdr = NULL;
  p->r.bufs = NULL;
  p->r.caps = NULL;
  p->buf_refs = NULL;
  p->r.msgs = NULL;
  p->r.iovs = NULL;
  p->r.names = NULL;
  p->r.cmsgs = NULL;
}

/* Used only before the uv handle and the External exist. */
static void poller_free(poller_t *p) {
  poller_release(p);
  free(p);
}

/* The struct has two owners: the uv handle (until its close callback) and the JS External
 * (until garbage collected), so pollStats/pollClose on a closed handle stay safe. */
static void poller_unref(poller_t *p) {
  if (--p->owners == 0) free(p);
}

static void on_uv_close(uv_handle_t *h) {
  poller_t *p = (poller_t *)h;
  poller_release(p);
  poller_unref(p);
}

static void on_external_gc(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  poller_unref((poller_t *)data);
}

/* Calls fn(argv...) as a libuv-originated callback: runs microtasks/nextTicks afterwards and
 * turns a thrown exception into an uncaught exception instead of leaving it pending. */
static void call_js(poller_t *p, napi_ref fn_ref, size_t argc, napi_value *argv) {
  napi_value fn;
  if (napi_get_reference_value(p->env, fn_ref, &fn) != napi_ok || fn == NULL) return;
  call_js_fatal(p->env, p->async_ctx, fn, argc, argv);
}

static void report_error(poller_t *p, int err, const char *syscall) {
  napi_handle_scope scope;
  if (napi_open_handle_scope(p->env, &scope) != napi_ok) return;
  char what[48];
  snprintf(what, sizeof what, "fd %d", p->r.fd);
  napi_value e = make_errno_error(p->env, err, syscall, what);
  call_js(p, p->on_error_ref, 1, &e);
  napi_close_handle_scope(p->env, scope);
}


static void on_poll(uv_poll_t *h, int status, int events);

/* Empties the error queue a batch at a time, each batch handed to onErrors (pollErrQueue) in one
 * call. Returns -1 when JavaScript closed the poller inside the callback, else 0. */
static int drain_errors(poller_t *p) {
  for (int round = 0; round < MAX_ERRQ_ROUNDS; round++) {
    int n = drain_errqueue(&p->r);
    if (n > 0 && p->on_errq_ref != NULL && p->r.eq_max > 0) {
      napi_handle_scope scope;
      if (napi_open_handle_scope(p->env, &scope) == napi_ok) {
        napi_value count;
        napi_create_int32(p->env, n, &count);
        call_js(p, p->on_errq_ref, 1, &count);
        napi_close_handle_scope(p->env, scope);
      }
      if (p->closing) return -1;
    }
    if (n < (p->r.eq_max > 0 ? p->r.eq_max : 64)) break;
  }
  return 0;
}

static void stop_and_report(poller_t *p, int err, const char *syscall) {
  uv_poll_stop(&p->handle);
  p->paused = 1;
  report_error(p, err, syscall);
}

static void on_poll(uv_poll_t *h, int status, int events) {
  poller_t *p = (poller_t *)h;
  (void)events;
  if (p->closing) return;
  if (status < 0) {
    /* EPOLLERR: libuv has already stopped this handle. */
    if (++p->err_spin > MAX_ERR_SPIN) {
      stop_and_report(p, EIO, "poll (EPOLLERR persists)");
      return;
    }
    if (p->r.kind != POLL_KIND_TUN) {
      int err = 0;
      socklen_t len = sizeof err;
      if (getsockopt(p->r.fd, SOL_SOCKET, SO_ERROR, &err, &len) < 0) {
        stop_and_report(p, errno, "getsockopt(SO_ERROR)");
        return;
      }
      double queued = p->r.errqueue;
      if (drain_errors(p) < 0) return;
      if (err != 0 || p->r.errqueue != queued) {
        p->err_spin = 0; /* cleared a real error: progress, not a spin */
        p->r.so_errors++;
        p->r.last_so_error = err;
      }
    }
    /* TUN: POLLERR means the device was detached (deleted); the read below returns EBADFD and
     * is reported. Otherwise keep polling. */
    int r = uv_poll_start(&p->handle, UV_READABLE, on_poll);
    if (r < 0) {
      stop_and_report(p, -r, "uv_poll_start");
      return;
    }
    p->r.restarts++;
  }
  int err = 0;
  for (;;) {
    int n = p->r.kind == POLL_KIND_TUN ? drain_tun(&p->r, &err) : drain_socket(&p->r, &err);
    if (n > 0) {
      p->err_spin = 0;
      p->r.batches++;
      p->r.packets += n;
      napi_handle_scope scope;
      if (napi_open_handle_scope(p->env, &scope) == napi_ok) {
        napi_value count;
        napi_create_int32(p->env, n, &count);
        call_js(p, p->on_batch_ref, 1, &count);
        napi_close_handle_scope(p->env, scope);
      }
      if (p->closing) return; /* closed inside the callback: touch nothing else */
    }
    /* A super-packet cut into more segments than one batch holds: hand over the rest now (the
     * fd may not become readable again). Paused: they go first once packets arrive again. */
    if (err != 0 || p->paused || p->r.off == NULL || (p->r.gso_pos == 0 && p->r.q_n == 0)) break;
  }
  if (err != 0) {
    p->r.read_errors++;
    if (is_fatal_fd_error(err) || p->r.kind == POLL_KIND_TUN) {
      stop_and_report(p, err, p->r.kind == POLL_KIND_TUN ? "read" : "recvmmsg");
    } else {
      /* ENOMEM/ENOBUFS and friends: tell TypeScript (degrade) and keep polling. */
      report_error(p, err, "recvmmsg");
    }
  }
}

static napi_value wrap_poller(napi_env env, poller_t *p) {
  napi_value ext;
  p->owners = 2;
  if (napi_create_external(env, p, on_external_gc, NULL, &ext) != napi_ok) {
    p->owners = 1;
    return NULL;
  }
  return ext;
}

static poller_t *unwrap_poller(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (poller_t *)data;
}

/* An argument of pollStart that must be a typed array of `type` with at least min elements: sets
 * *data and holds a reference to it in *ref; else returns why (msg). */
static const char *typed_arg(napi_env env, napi_value v, napi_typedarray_type type, size_t min,
                             void **data, napi_ref *ref, const char *msg) {
  size_t n;
  if (!get_typed(env, v, type, data, &n) || n < min) return msg;
  napi_create_reference(env, v, 1, ref);
  return NULL;
}

/*
 * pollStart(fd, kind, bufs: Uint8Array[], offset, sizes: Int32Array, addrs, meta,
 *           onBatch(count), onError(err)): PollHandle
 *   kind 0 TUN (addrs, meta null), 1 raw IPv4 (addrs Uint32Array, meta null),
 *   2 ICMPv6 (addrs Uint8Array 16*N, meta Int32Array 2*N: [hopLimit, ifindex]),
 *   3 AF_PACKET protocol 41 of openPacketRx4 (addrs as 1; meta Int32Array N: the segment size
 *     of a packet GRO merged, else 0; socket-read.c packet_rx_finish).
 * The handle is an opaque External. Polling goes on until pollClose (a handle dropped without
 * pollClose keeps polling: the fd is still open); after pollClose the handle may still be
 * passed to pollStats/pollClose safely.
 */
napi_value poll_start(napi_env env, napi_callback_info info) {
  CHECK_ARGC(9);
  int32_t fd, kind, offset;
  bool is_array;
  uint32_t nbufs;
  if (!get_i32(env, argv[0], &fd) || !get_i32(env, argv[1], &kind) || kind < 0 || kind > 3 ||
      napi_is_array(env, argv[2], &is_array) != napi_ok || !is_array ||
      !get_i32(env, argv[3], &offset) || offset < 0)
    return throw_type(env, "pollStart(fd, kind 0..3, bufs: Uint8Array[], offset >= 0, ...)");
  napi_get_array_length(env, argv[2], &nbufs);
  if (nbufs == 0 || nbufs > MAX_BATCH)
    return throw_type(env, "pollStart: bufs must hold 1..1024 buffers");
  napi_valuetype t1, t2;
  napi_typeof(env, argv[7], &t1);
  napi_typeof(env, argv[8], &t2);
  if (t1 != napi_function || t2 != napi_function)
    return throw_type(env, "pollStart: onBatch and onError must be functions");

  poller_t *p = calloc(1, sizeof *p);
  if (p == NULL) return throw_errno(env, ENOMEM, "pollStart", "calloc");
  p->env = env;
  p->r.fd = fd;
  p->r.kind = kind;
  p->r.max = (int)nbufs;
  p->r.offset = offset;
  env_state_t *st = env_state(env);
  p->r.uring = st != NULL ? &st->uring : NULL;
  p->r.bufs = calloc(nbufs, sizeof *p->r.bufs);
  p->r.caps = calloc(nbufs, sizeof *p->r.caps);
  p->buf_refs = calloc(nbufs, sizeof *p->buf_refs);
  if (kind == POLL_KIND_TUN && (p->r.off = tun_vnet(fd)) != NULL) {
    p->r.gso_buf = malloc(GSO_BUF_BYTES); /* pages touched only when super-packets come */
    p->r.q_pos = calloc(nbufs, sizeof *p->r.q_pos);
    p->r.q_len = calloc(nbufs, sizeof *p->r.q_len);
    p->r.q_hdr = calloc(nbufs, sizeof *p->r.q_hdr);
  }
  int pk = kind == POLL_KIND_PACKET4;
  if (kind != POLL_KIND_TUN) {
    p->r.msgs = calloc(nbufs, sizeof *p->r.msgs);
    p->r.iovs = calloc(pk ? 3 * (size_t)nbufs : nbufs, sizeof *p->r.iovs);
    p->r.names = calloc(nbufs, sizeof *p->r.names);
    if (kind == POLL_KIND_ICMP6) p->r.cmsgs = calloc(nbufs, ICMP6_CMSG_BYTES);
  }
  if (pk) {
    p->r.vh = calloc(nbufs, sizeof *p->r.vh);
    p->r.lhdr = calloc(nbufs, 16);
    p->r.link_hlen = packet_link_header_len(fd);
  }
  const char *bad = NULL;
  if (!p->r.bufs || !p->r.caps || !p->buf_refs ||
      (p->r.off != NULL && (!p->r.gso_buf || !p->r.q_pos || !p->r.q_len || !p->r.q_hdr)) ||
      (kind != POLL_KIND_TUN && (!p->r.msgs || !p->r.iovs || !p->r.names)) ||
      (kind == POLL_KIND_ICMP6 && !p->r.cmsgs) || (pk && (!p->r.vh || !p->r.lhdr))) {
    poller_free(p);
    return throw_errno(env, ENOMEM, "pollStart", "calloc");
  }
  for (uint32_t i = 0; i < nbufs && bad == NULL; i++) {
    napi_value el;
    uint8_t *data;
    size_t len;
    if (napi_get_element(env, argv[2], i, &el) != napi_ok || !get_bytes(env, el, &data, &len))
      bad = "pollStart: every bufs[i] must be a Buffer/Uint8Array";
    else if (len <= (size_t)offset)
      bad = "pollStart: every buffer must be longer than offset";
    else {
      p->r.bufs[i] = data;
      p->r.caps[i] = len;
      napi_create_reference(env, el, 1, &p->buf_refs[i]);
      if (pk) {
        /* virtio-net header, link header (when the device has one), then the IPv4 packet */
        struct iovec *v = &p->r.iovs[3 * (size_t)i];
        int k = 0;
        v[k++] = (struct iovec){&p->r.vh[i], sizeof p->r.vh[i]};
        if (p->r.link_hlen > 0)
          v[k++] = (struct iovec){p->r.lhdr + 16 * (size_t)i, (size_t)p->r.link_hlen};
        v[k] = (struct iovec){data + offset, len - (size_t)offset};
      } else if (p->r.iovs) {
        p->r.iovs[i].iov_base = data + offset;
        p->r.iovs[i].iov_len = len - (size_t)offset;
      }
    }
  }
  if (bad == NULL && p->r.off != NULL) {
    /* A TUN read returns at most 64 KiB (gso_max_size) plus the vnet header: what does not
     * fit a slot lands in the slot's spill. */
    size_t cap_min = SIZE_MAX;
    for (uint32_t i = 0; i < nbufs; i++)
      if (p->r.caps[i] - (size_t)offset < cap_min) cap_min = p->r.caps[i] - (size_t)offset;
    size_t need = cap_min >= 65536 + 256 ? 64 : 65536 + 256 - cap_min;
    p->r.spill_bytes = (need + 63) & ~(size_t)63;
    p->r.spill = malloc(p->r.spill_bytes * nbufs);
    if (p->r.spill == NULL) {
      poller_free(p);
      return throw_errno(env, ENOMEM, "pollStart", "malloc");
    }
  }
  if (bad == NULL)
    bad = typed_arg(env, argv[4], napi_int32_array, nbufs, (void **)&p->r.sizes, &p->sizes_ref,
                    "pollStart: sizes must be an Int32Array with one slot per buffer");
  if (bad == NULL && pk && (p->r.link_hlen < 0 || p->r.link_hlen > 16))
    bad = "pollStart: kind 3 needs an openPacketRx4 socket (Ethernet, PPP or header-less device)";
  if (bad == NULL && pk)
    bad = typed_arg(env, argv[6], napi_int32_array, nbufs, (void **)&p->r.gso_info, &p->meta_ref,
                    "pollStart: kind 3 needs meta: an Int32Array with one slot per buffer");
  if (bad == NULL && (kind == POLL_KIND_RAW4 || pk) && !is_nullish(env, argv[5]))
    bad = typed_arg(env, argv[5], napi_uint32_array, nbufs, (void **)&p->r.addrs4, &p->addrs_ref,
                    "pollStart: addrs must be a Uint32Array with one slot per buffer");
  if (bad == NULL && kind == POLL_KIND_ICMP6 && !is_nullish(env, argv[5]))
    bad = typed_arg(env, argv[5], napi_uint8_array, 16 * (size_t)nbufs, (void **)&p->r.addrs6,
                    &p->addrs_ref, "pollStart: addrs must be a Uint8Array with 16 bytes per buffer");
  if (bad == NULL && kind == POLL_KIND_RAW4 && !is_nullish(env, argv[6]))
    bad = typed_arg(env, argv[6], napi_int32_array, nbufs, (void **)&p->r.gso_info, &p->meta_ref,
                    "pollStart: gso must be an Int32Array with one slot per buffer");
  if (bad == NULL && kind == POLL_KIND_TUN && p->r.off != NULL && !is_nullish(env, argv[6]))
    bad = typed_arg(env, argv[6], napi_int32_array, nbufs, (void **)&p->r.gso_info, &p->meta_ref,
                    "pollStart: gso must be an Int32Array with one slot per buffer");
  if (bad == NULL && kind == POLL_KIND_ICMP6 && !is_nullish(env, argv[6]))
    bad = typed_arg(env, argv[6], napi_int32_array, 2 * (size_t)nbufs, (void **)&p->r.meta,
                    &p->meta_ref, "pollStart: meta must be an Int32Array with 2 slots per buffer");
  if (bad != NULL) {
    poller_free(p);
    return throw_type(env, bad);
  }
  napi_create_reference(env, argv[7], 1, &p->on_batch_ref);
  napi_create_reference(env, argv[8], 1, &p->on_error_ref);
  napi_value resource_name;
  napi_create_string_utf8(env, "pmtPoll", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &p->async_ctx);

  uv_loop_t *loop;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok) {
    poller_free(p);
    return throw_errno(env, EINVAL, "pollStart", "napi_get_uv_event_loop");
  }
  int r = uv_poll_init(loop, &p->handle, fd);
  if (r < 0) {
    poller_free(p);
    return throw_errno(env, -r, "uv_poll_init", "");
  }
  r = uv_poll_start(&p->handle, UV_READABLE, on_poll);
  if (r < 0) {
    p->closing = 1;
    p->owners = 1;
    uv_close((uv_handle_t *)&p->handle, on_uv_close);
    return throw_errno(env, -r, "uv_poll_start", "");
  }
  napi_value ext = wrap_poller(env, p);
  if (ext == NULL) {
    p->closing = 1;
    uv_poll_stop(&p->handle);
    uv_close((uv_handle_t *)&p->handle, on_uv_close);
  }
  return ext;
}

/* pollPause(h) / pollResume(h): stop/start watching readability (backpressure). */
napi_value poll_pause(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollPause(handle)");
  if (!p->closing && !p->paused) {
    uv_poll_stop(&p->handle);
    p->paused = 1;
  }
  return undefined(env);
}

napi_value poll_resume(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollResume(handle)");
  if (p->closing) return throw_errno(env, EBADF, "pollResume", "poller closed");
  int r = uv_poll_start(&p->handle, UV_READABLE, on_poll);
  if (r < 0) return throw_errno(env, -r, "uv_poll_start", "");
  p->paused = 0;
  return undefined(env);
}

/* pollClose(h): stops watching at once (safe inside onBatch/onError; no callback follows),
 * releases the ring and callbacks once libuv has closed the handle. Does NOT close the fd:
 * call close(fd) afterwards. Idempotent. */
napi_value poll_close(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollClose(handle)");
  if (!p->closing) {
    p->closing = 1;
    uv_poll_stop(&p->handle); /* removes the fd from epoll now, so close(fd) is safe next */
    uv_close((uv_handle_t *)&p->handle, on_uv_close);
  }
  return undefined(env);
}

/*
 * pollErrQueue(h, buf: Uint8Array, meta: Int32Array, onErrors(count)): registers the error ring of
 * a raw IPv4 poller (socket opened with IP_RECVERR): N = meta.length / 4 slots of
 * buf.length / N bytes (at least 64). Message i of a batch: its quoted packet (from the IPv4
 * header on) at buf[i * slot, + meta[4i + 3]), meta[4i..4i+2] = ICMP type, code, info (-1, -1,
 * 0 for an error not from an ICMP message). Replaces an earlier registration.
 */
napi_value poll_err_queue(napi_env env, napi_callback_info info) {
  CHECK_ARGC(4);
  poller_t *p = unwrap_poller(env, argv[0]);
  uint8_t *buf;
  size_t buf_len, meta_len;
  int32_t *meta;
  napi_valuetype t;
  if (p == NULL || !get_bytes(env, argv[1], &buf, &buf_len) ||
      !get_typed(env, argv[2], napi_int32_array, (void **)&meta, &meta_len) ||
      napi_typeof(env, argv[3], &t) != napi_ok || t != napi_function)
    return throw_type(env, "pollErrQueue(handle, buf: Uint8Array, meta: Int32Array, onErrors)");
  size_t slots = meta_len / ERRQ_META;
  if (p->r.kind != POLL_KIND_RAW4 || slots == 0 || slots > MAX_BATCH || buf_len / slots < 64)
    return throw_type(env,
                      "pollErrQueue: a raw IPv4 poller, 1..1024 slots (meta: 4 per slot) of at "
                      "least 64 bytes each");
  if (p->closing) return throw_errno(env, EBADF, "pollErrQueue", "poller closed");
  napi_ref refs[] = {p->eq_buf_ref, p->eq_meta_ref, p->on_errq_ref};
  for (size_t i = 0; i < sizeof refs / sizeof refs[0]; i++)
    if (refs[i]) napi_delete_reference(env, refs[i]);
  napi_create_reference(env, argv[1], 1, &p->eq_buf_ref);
  napi_create_reference(env, argv[2], 1, &p->eq_meta_ref);
  napi_create_reference(env, argv[3], 1, &p->on_errq_ref);
  p->r.eq_buf = buf;
  p->r.eq_slot = buf_len / slots;
  p->r.eq_meta = meta;
  p->r.eq_max = (int)slots;
  return undefined(env);
}

/* pollStats(h): { batches, packets, soErrors, lastSoError, errQueue, truncated, restarts,
 *                 readErrors, groMerged, groUnusable, icmpErrors } — counters since pollStart;
 * icmpErrors: the error-queue messages by kind (icmp4_err_names), non-zero ones only. */
napi_value poll_stats(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  poller_t *p = unwrap_poller(env, argv[0]);
  if (p == NULL) return throw_type(env, "pollStats(handle)");
  napi_value o;
  napi_create_object(env, &o);
  set_num(env, o, "batches", p->r.batches);
  set_num(env, o, "packets", p->r.packets);
  set_num(env, o, "soErrors", p->r.so_errors);
  set_num(env, o, "lastSoError", p->r.last_so_error);
  set_num(env, o, "errQueue", p->r.errqueue);
  set_num(env, o, "truncated", p->r.truncated);
  set_num(env, o, "restarts", p->r.restarts);
  set_num(env, o, "readErrors", p->r.read_errors);
  set_num(env, o, "wanGroMerged", p->r.wan_gro_merged);
  set_num(env, o, "wanGroUnusable", p->r.wan_gro_unusable);
  napi_value kinds;
  napi_create_object(env, &kinds);
  for (int i = 0; i < ICMP4_ERR_KINDS; i++)
    if (p->r.icmp4_errs[i] != 0) set_num(env, kinds, icmp4_err_names[i], p->r.icmp4_errs[i]);
  napi_set_named_property(env, o, "icmpErrors", kinds);
  return o;
}

/*
 * Write readiness of a send-only socket (backpressure): writableStart(fd, onWritable) returns an
 * unarmed watcher; writableArm(w) watches the fd once: when the socket can take more (its send
 * buffer is below half full, as sock_writeable says) the watch stops and onWritable() runs.
 * Armed only while a send waits, so a packet freed downstream wakes nobody otherwise.
 * writableClose(w) stops it (safe inside the callback, twice; the fd stays open).
 */
typedef struct wwatch {
  uv_poll_t handle; /* first */
  napi_env env;
  napi_ref cb_ref;
  napi_async_context async_ctx;
  int closing;
  int armed;
  int owners;
  double wakeups;
} wwatch_t;

static void wwatch_unref(wwatch_t *w) {
  if (--w->owners == 0) free(w);
}

static void wwatch_release(wwatch_t *w) {
  if (w->cb_ref) napi_delete_reference(w->env, w->cb_ref);
  w->cb_ref = NULL;
  if (w->async_ctx) napi_async_destroy(w->env, w->async_ctx);
  w->async_ctx = NULL;
}

static void on_wwatch_close(uv_handle_t *h) {
  wwatch_t *w = (wwatch_t *)h;
  wwatch_release(w);
  wwatch_unref(w);
}

static void on_wwatch_gc(napi_env env, void *data, void *hint) {
  (void)env;
  (void)hint;
  wwatch_unref((wwatch_t *)data);
}

/* Calls the watcher's JavaScript callback (no arguments). */
static void wwatch_call(wwatch_t *w) {
  napi_env env = w->env;
  napi_handle_scope scope;
  if (napi_open_handle_scope(env, &scope) != napi_ok) return;
  napi_value fn;
  if (napi_get_reference_value(env, w->cb_ref, &fn) == napi_ok && fn != NULL)
    call_js_fatal(env, w->async_ctx, fn, 0, NULL);
  napi_close_handle_scope(env, scope);
}

static void on_writable(uv_poll_t *h, int status, int events) {
  wwatch_t *w = (wwatch_t *)h;
  (void)status;
  (void)events;
  if (w->closing) return;
  uv_poll_stop(&w->handle);
  w->armed = 0;
  w->wakeups++;
  wwatch_call(w);
}

/* A readable watcher stays armed; a pending socket error (EPOLLERR: libuv stopped the handle
 * and reports UV_EBADF) also calls back, whose read clears it, and the watch starts again. */
static void on_readable(uv_poll_t *h, int status, int events) {
  wwatch_t *w = (wwatch_t *)h;
  (void)events;
  if (w->closing) return;
  w->wakeups++;
  wwatch_call(w);
  if (status < 0 && !w->closing) uv_poll_start(&w->handle, UV_READABLE, on_readable);
}

static wwatch_t *unwrap_wwatch(napi_env env, napi_value v) {
  void *data = NULL;
  napi_valuetype t;
  if (napi_typeof(env, v, &t) != napi_ok || t != napi_external) return NULL;
  if (napi_get_value_external(env, v, &data) != napi_ok) return NULL;
  return (wwatch_t *)data;
}

/* writableStart and readableStart: an unarmed watcher of `fd` (argv[0]) calling argv[1]. */
static napi_value watch_start(napi_env env, napi_callback_info info, const char *name,
                              const char *usage, wwatch_t **out) {
  CHECK_ARGC(2);
  int32_t fd;
  napi_valuetype t;
  *out = NULL;
  if (!get_i32(env, argv[0], &fd) || fd < 0 || napi_typeof(env, argv[1], &t) != napi_ok ||
      t != napi_function)
    return throw_type(env, usage);
  wwatch_t *w = calloc(1, sizeof *w);
  if (w == NULL) return throw_errno(env, ENOMEM, name, "calloc");
  w->env = env;
  uv_loop_t *loop;
  int r;
  if (napi_get_uv_event_loop(env, &loop) != napi_ok || (r = uv_poll_init(loop, &w->handle, fd)) < 0) {
    free(w);
    return throw_errno(env, EINVAL, name, "uv_poll_init");
  }
  napi_create_reference(env, argv[1], 1, &w->cb_ref);
  napi_value resource_name;
  napi_create_string_utf8(env, "pmtWritable", NAPI_AUTO_LENGTH, &resource_name);
  napi_async_init(env, NULL, resource_name, &w->async_ctx);
  napi_value ext;
  w->owners = 2;
  if (napi_create_external(env, w, on_wwatch_gc, NULL, &ext) != napi_ok) {
    w->owners = 1;
    w->closing = 1;
    uv_close((uv_handle_t *)&w->handle, on_wwatch_close);
    return throw_errno(env, ENOMEM, name, "napi_create_external");
  }
  *out = w;
  return ext;
}

napi_value writable_start(napi_env env, napi_callback_info info) {
  wwatch_t *w = NULL;
  return watch_start(env, info, "writableStart", "writableStart(fd: number, onWritable: function)",
                     &w);
}

/*
 * readableStart(fd, onReadable): a watcher armed at once that calls onReadable() whenever `fd`
 * has something to read, until writableClose (which stops either kind). onReadable must read
 * what is queued, or it runs again at once.
 */
napi_value readable_start(napi_env env, napi_callback_info info) {
  wwatch_t *w = NULL;
  napi_value ext = watch_start(env, info, "readableStart",
                               "readableStart(fd: number, onReadable: function)", &w);
  if (w == NULL) return ext;
  int r = uv_poll_start(&w->handle, UV_READABLE, on_readable);
  if (r < 0) {
    w->closing = 1;
    uv_close((uv_handle_t *)&w->handle, on_wwatch_close);
    return throw_errno(env, -r, "uv_poll_start", "readable");
  }
  w->armed = 1;
  return ext;
}

napi_value writable_arm(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  wwatch_t *w = unwrap_wwatch(env, argv[0]);
  if (w == NULL) return throw_type(env, "writableArm(watcher)");
  if (w->closing) return throw_errno(env, EBADF, "writableArm", "watcher closed");
  if (!w->armed) {
    int r = uv_poll_start(&w->handle, UV_WRITABLE, on_writable);
    if (r < 0) return throw_errno(env, -r, "uv_poll_start", "writable");
    w->armed = 1;
  }
  return undefined(env);
}

napi_value writable_close(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  wwatch_t *w = unwrap_wwatch(env, argv[0]);
  if (w == NULL) return throw_type(env, "writableClose(watcher)");
  if (!w->closing) {
    w->closing = 1;
    uv_poll_stop(&w->handle);
    uv_close((uv_handle_t *)&w->handle, on_wwatch_close);
  }
  return undefined(env);
}
