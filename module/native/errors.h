/*
 * errors.h: how the I/O paths classify an errno, and the failure tally that the batched send
 * paths share (sendRaw4, writeTun). No N-API: the JavaScript error objects are napi-util.c's.
 */
#ifndef PMT_ERRORS_H
#define PMT_ERRORS_H

#include <errno.h>
#include <stdint.h>

/* ICMP-derived errors that a raw socket reports for an EARLIER packet (sk_err), never for the
 * packet being sent or received now. */
static inline int is_stale_icmp_error(int e) {
  return e == ECONNREFUSED || e == EHOSTUNREACH || e == ENETUNREACH || e == ENOPROTOOPT ||
         e == EPROTO || e == EHOSTDOWN || e == ENONET;
}

/* The fd or the device behind it is gone: stop, do not retry. */
static inline int is_fatal_fd_error(int e) {
  return e == EBADF || e == EBADFD || e == ENXIO || e == ENODEV || e == ENOTSOCK;
}

/* A write error that stops the batch (queue full, device gone) rather than skipping a packet. */
static inline int stops_batch(int e) {
  return e == EAGAIN || e == EWOULDBLOCK || e == ENOBUFS || is_fatal_fd_error(e) || e == EIO;
}

/*
 * Shared contract of sendRaw4 / writeTun:
 *   returns the number of packets the kernel accepted;
 *   status[0] = errno of the first failure (0 = none), status[1] = packets not sent,
 *   status[2] = stale ICMP errors cleared on the way (packet retried once).
 * A packet the kernel refuses (EMSGSIZE, EPERM from a firewall, ...) is skipped; EAGAIN/ENOBUFS
 * (queue full) and fd-gone errors stop the batch and count the rest as not sent.
 */
typedef struct {
  int32_t *status;
  int first_err;
  int failed;
  int stale;
} send_result;

static inline void note_failure(send_result *r, int e, int n) {
  if (r->first_err == 0) r->first_err = e;
  r->failed += n;
}

#endif
