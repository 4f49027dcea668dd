/*
 * uring.c: io_uring set-up and the two batched TUN operations on it (no N-API).
 *
 * Writes: a TUN takes one packet per write(2). On machines where a syscall costs microseconds (VMs with
 * speculation mitigations: 2 us measured on the development machine) the write loop dominates
 * the decapsulation path, so a batch is submitted as linked IORING_OP_WRITEV requests in ONE
 * io_uring_enter. Linked (IOSQE_IO_LINK): the writes run in order, as the loop would, even on a
 * kernel that hands them to worker threads; a failing write cancels the rest of the chain, which
 * is resubmitted after it. We wait for every completion before returning, so the caller's buffers
 * are free again on return, exactly as with write(2).
 * Reads: uring_read_batch, below.
 */
#define _GNU_SOURCE
#include "uring.h"

#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

void uring_close(uring_t *u) {
#ifdef PMT_HAVE_IO_URING
  if (u->sqes) munmap(u->sqes, u->sqes_len);
  if (u->cq_ptr && u->cq_ptr != u->sq_ptr) munmap(u->cq_ptr, u->cq_len);
  if (u->sq_ptr) munmap(u->sq_ptr, u->sq_len);
  u->sqes = NULL;
  u->sq_ptr = u->cq_ptr = NULL;
#endif
  if (u->fd >= 0) close(u->fd);
  u->fd = -1;
}

void uring_open(uring_t *u) {
  memset(u, 0, sizeof *u);
  u->fd = -1;
#ifdef PMT_HAVE_IO_URING
  struct io_uring_params p;
  memset(&p, 0, sizeof p);
  int fd = (int)syscall(__NR_io_uring_setup, URING_ENTRIES, &p);
  if (fd < 0) return; /* ENOSYS, EPERM (seccomp, io_uring_disabled): write loop */
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  u->fd = fd;
  if (p.sq_entries < URING_ENTRIES) goto fail;
  u->sq_len = p.sq_off.array + p.sq_entries * sizeof(unsigned);
  u->cq_len = p.cq_off.cqes + p.cq_entries * sizeof(struct io_uring_cqe);
  int single = (p.features & IORING_FEAT_SINGLE_MMAP) != 0;
  if (single) {
    if (u->cq_len > u->sq_len) u->sq_len = u->cq_len;
    u->cq_len = u->sq_len;
  }
  u->sq_ptr = mmap(NULL, u->sq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                   IORING_OFF_SQ_RING);
  if (u->sq_ptr == MAP_FAILED) {
    u->sq_ptr = NULL;
    goto fail;
  }
  if (single) {
    u->cq_ptr = u->sq_ptr;
  } else {
    u->cq_ptr = mmap(NULL, u->cq_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                     IORING_OFF_CQ_RING);
    if (u->cq_ptr == MAP_FAILED) {
      u->cq_ptr = NULL;
      goto fail;
    }
  }
  u->sqes_len = p.sq_entries * sizeof(struct io_uring_sqe);
  u->sqes = mmap(NULL, u->sqes_len, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_POPULATE, fd,
                 IORING_OFF_SQES);
  if (u->sqes == MAP_FAILED) {
    u->sqes = NULL;
    goto fail;
  }
  char *sq = u->sq_ptr, *cq = u->cq_ptr;
  u->sq_head = (unsigned *)(sq + p.sq_off.head);
  u->sq_tail = (unsigned *)(sq + p.sq_off.tail);
  u->sq_mask = (unsigned *)(sq + p.sq_off.ring_mask);
  u->sq_array = (unsigned *)(sq + p.sq_off.array);
  u->cq_head = (unsigned *)(cq + p.cq_off.head);
  u->cq_tail = (unsigned *)(cq + p.cq_off.tail);
  u->cq_mask = (unsigned *)(cq + p.cq_off.ring_mask);
  u->cqes = (struct io_uring_cqe *)(cq + p.cq_off.cqes);
  u->enabled = 1;
  u->reads = 1;
  return;
fail:
  uring_close(u);
#endif
}

#ifdef PMT_HAVE_IO_URING
/* Whether n more requests fit in the submission queue at tail. */
static int uring_room(const uring_t *u, unsigned tail, int n) {
  unsigned head = __atomic_load_n(u->sq_head, __ATOMIC_ACQUIRE);
  return tail - head + (unsigned)n <= URING_ENTRIES;
}

/* The SQE at queue position pos, zeroed, with opcode, fd and user_data set and placed in the SQ
 * array; the kernel sees it once the tail passes pos. */
static struct io_uring_sqe *uring_sqe(uring_t *u, unsigned pos, uint8_t opcode, int fd,
                                      __u64 user_data) {
  unsigned idx = pos & *u->sq_mask;
  struct io_uring_sqe *sqe = &u->sqes[idx];
  memset(sqe, 0, sizeof *sqe);
  sqe->opcode = opcode;
  sqe->fd = fd;
  sqe->user_data = user_data;
  u->sq_array[idx] = idx;
  return sqe;
}

/* Moves completions of requests 0..n-1 into res[]; returns how many there were. Any other
 * completion (a cancel's own, tagged) is consumed and not counted. */
static int uring_reap(uring_t *u, int32_t *res, int n) {
  int reaped = 0;
  unsigned ch = *u->cq_head;
  unsigned ct = __atomic_load_n(u->cq_tail, __ATOMIC_ACQUIRE);
  while (ch != ct) {
    struct io_uring_cqe *c = &u->cqes[ch & *u->cq_mask];
    if (c->user_data < (__u64)n) {
      res[c->user_data] = c->res;
      reaped++;
    }
    ch++;
  }
  __atomic_store_n(u->cq_head, ch, __ATOMIC_RELEASE);
  return reaped;
}

/* Writes n (<= URING_ENTRIES) units (one writev each) as one linked chain; res[i] = bytes or
 * -errno (-ECANCELED: not attempted because an earlier one failed). Returns 0, or -errno when
 * the ring itself failed (nothing was written then: the caller falls back to writev(2)). */
int uring_write_chain(uring_t *u, int fd, const wunit_t *units, int n, int32_t *res) {
  unsigned tail = *u->sq_tail;
  if (!uring_room(u, tail, n)) return -EBUSY;
  for (int i = 0; i < n; i++) {
    struct io_uring_sqe *sqe = uring_sqe(u, tail + (unsigned)i, IORING_OP_WRITEV, fd, (__u64)i);
    sqe->addr = (unsigned long)units[i].iov;
    sqe->len = (unsigned)units[i].niov;
    sqe->off = (__u64)-1; /* current position: a character device has none */
    sqe->flags = i + 1 < n ? IOSQE_IO_LINK : 0;
    res[i] = -ECANCELED;
  }
  __atomic_store_n(u->sq_tail, tail + (unsigned)n, __ATOMIC_RELEASE);
  int submitted = 0, reaped = 0;
  while (reaped < n) {
    int to_submit = n - submitted;
    int r = (int)syscall(__NR_io_uring_enter, u->fd, to_submit, n - reaped,
                         IORING_ENTER_GETEVENTS, NULL, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (submitted == 0 && reaped == 0) {
        /* Nothing went in: take the SQEs back. */
        __atomic_store_n(u->sq_tail, tail, __ATOMIC_RELEASE);
        return -e;
      }
      /* Should not happen with our sizes; wait for what is in flight, report the rest. */
      if (submitted == n) continue;
      return -e;
    }
    submitted += r;
    reaped += uring_reap(u, res, n);
  }
  return 0;
}

#ifndef RWF_NOWAIT
#define RWF_NOWAIT 0x00000008
#endif
#define URING_CANCEL_TAG ((__u64)1 << 32)
/* IORING_OP_ASYNC_CANCEL (Linux 5.5) by number: an enum, so older headers cannot be tested. */
#define PMT_IORING_OP_ASYNC_CANCEL 14

/*
 * Reads up to n (<= URING_ENTRIES) packets from a TUN in ONE io_uring_enter instead of one
 * read(2) each: n unlinked IORING_OP_READV requests with RWF_NOWAIT, so each either takes a
 * queued packet or completes at once with -EAGAIN (an empty queue); all complete inline, in
 * submission order, before io_uring_enter returns. res[i] = bytes or -errno. Returns 0, or
 * -errno when the ring failed or did not behave so (then the caller goes back to read(2)):
 * a kernel whose TUN lacks FMODE_NOWAIT answers -EOPNOTSUPP; a read left pending is
 * cancelled and waited for, so no buffer stays in the kernel's hands.
 */
int uring_read_batch(uring_t *u, int fd, const struct iovec *vecs, int per, int n, int32_t *res) {
  unsigned tail = *u->sq_tail;
  if (!uring_room(u, tail, n)) return -EBUSY;
  for (int i = 0; i < n; i++) {
    struct io_uring_sqe *sqe = uring_sqe(u, tail + (unsigned)i, IORING_OP_READV, fd, (__u64)i);
    sqe->addr = (unsigned long)&vecs[i * per];
    sqe->len = (unsigned)per;
    sqe->off = (__u64)-1;
    sqe->rw_flags = RWF_NOWAIT;
    res[i] = -ECANCELED;
  }
  __atomic_store_n(u->sq_tail, tail + (unsigned)n, __ATOMIC_RELEASE);
  int submitted = 0;
  while (submitted < n) {
    int r = (int)syscall(__NR_io_uring_enter, u->fd, n - submitted, 0, 0, NULL, 0);
    if (r < 0) {
      if (errno == EINTR) continue;
      int e = errno;
      if (submitted == 0) {
        __atomic_store_n(u->sq_tail, tail, __ATOMIC_RELEASE);
        return -e;
      }
      break; /* the rest stays unsubmitted: handled below as "not completed" */
    }
    if (r == 0) break;
    submitted += r;
  }
  int reaped = uring_reap(u, res, n);
  if (submitted == n && reaped == n) return 0;
  /* Unexpected (an old kernel that parks a NOWAIT read): cancel what is pending, wait for every
   * request we submitted, and tell the caller to stop using the ring for reads. */
  if (submitted < n) {
    /* Take back what the kernel has not consumed. */
    __atomic_store_n(u->sq_tail, tail + (unsigned)submitted, __ATOMIC_RELEASE);
  }
  int32_t seen[URING_ENTRIES];
  for (int i = 0; i < submitted; i++) seen[i] = res[i] != -ECANCELED;
  int cancels = 0;
  for (int i = 0; i < submitted; i++) {
    if (seen[i]) continue;
    unsigned t2 = *u->sq_tail;
    struct io_uring_sqe *sqe =
        uring_sqe(u, t2, PMT_IORING_OP_ASYNC_CANCEL, -1, URING_CANCEL_TAG | (__u64)i);
    sqe->addr = (__u64)i; /* the user_data of the read to cancel */
    __atomic_store_n(u->sq_tail, t2 + 1, __ATOMIC_RELEASE);
    cancels++;
  }
  int to_submit = cancels;
  while (reaped < submitted) {
    int r = (int)syscall(__NR_io_uring_enter, u->fd, to_submit, 1, IORING_ENTER_GETEVENTS, NULL,
                         0);
    if (r < 0 && errno != EINTR) break;
    if (r > 0) to_submit -= r;
    reaped += uring_reap(u, res, submitted);
  }
  return -EOPNOTSUPP;
}

int uring_read_failure(int32_t v) {
  if (v == -EAGAIN || v == -EWOULDBLOCK || v == -ECANCELED) return READ_EMPTY;
  if (v == -EINTR) return READ_RETRY;
  if (v == -EOPNOTSUPP || v == -EINVAL) return READ_UNSUPPORTED;
  return READ_ERROR;
}
#endif
