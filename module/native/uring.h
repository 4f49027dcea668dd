/*
 * uring.h: a minimal io_uring (Linux 5.3+) for batched TUN writes and reads, with no N-API
 * (uring.c). Where io_uring is missing (older kernels, OpenWrt builds without CONFIG_IO_URING,
 * seccomp) uring_open leaves fd -1 and the callers use writev(2)/read(2) loops instead.
 */
#ifndef PMT_URING_H
#define PMT_URING_H

#include <stdint.h>
#include <sys/uio.h>

#include "offload.h"

#if defined(__has_include)
#if __has_include(<linux/io_uring.h>)
#include <linux/io_uring.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#if defined(__NR_io_uring_setup) && defined(__NR_io_uring_enter) && defined(IOSQE_IO_LINK)
#define PMT_HAVE_IO_URING 1
#endif
#endif
#endif

#define URING_ENTRIES SEND_CHUNK

typedef struct {
  int fd;      /* -1: not open (unavailable, or switched off by setIoUring) */
  int enabled; /* writes go through the ring (off after the ring failed here) */
  int reads;   /* TUN reads through the ring too (off: asked so, or unsupported) */
#ifdef PMT_HAVE_IO_URING
  unsigned *sq_head, *sq_tail, *sq_mask, *sq_array, *cq_head, *cq_tail, *cq_mask;
  struct io_uring_sqe *sqes;
  struct io_uring_cqe *cqes;
  void *sq_ptr, *cq_ptr;
  size_t sq_len, cq_len, sqes_len;
  struct iovec iov[3 * URING_ENTRIES]; /* reads: up to 3 per request (vnet header, slot, spill) */
#endif
} uring_t;

/* Sets the ring up (fd >= 0, enabled and reads on) or leaves fd -1 when io_uring is unusable. */
void uring_open(uring_t *u);
void uring_close(uring_t *u);

#ifdef PMT_HAVE_IO_URING
int uring_write_chain(uring_t *u, int fd, const wunit_t *units, int n, int32_t *res);
int uring_read_batch(uring_t *u, int fd, const struct iovec *vecs, int per, int n, int32_t *res);

/* What a failed TUN read through the ring means (res < 0): the queue was empty, try again,
 * the ring cannot read this TUN (RWF_NOWAIT unsupported), or a real error. */
enum { READ_EMPTY, READ_RETRY, READ_UNSUPPORTED, READ_ERROR };
int uring_read_failure(int32_t v);
#endif

#endif
