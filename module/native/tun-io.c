/*
 * tun-io.c: packets between a TUN fd and memory, with no N-API. Reads drain the TUN into a
 * receive ring (rx-ring.h): through io_uring (several NOWAIT reads per io_uring_enter) or read(2);
 * on a TUN with offload each read carries a virtio-net header and a TCP super-packet is handed
 * over whole (gso_info) or cut into ring slots (gso_emit). Writes: units grouped by gro_group,
 * through linked io_uring writes or a writev(2) loop. The plain syscall loops stay beside
 * io_uring because io_uring is missing on older kernels, under seccomp and in OpenWrt builds
 * without CONFIG_IO_URING.
 */
#define _GNU_SOURCE
#include "tun-io.h"

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <sys/uio.h>

/* Ring slots a batch reads into while super-packets come whole (drain_tun_vnet): 4 of them hold
 * ~145 segments, and keep the ring's resident memory at 4 x 64 KiB. */
#define WHOLE_SLOTS 4

/*
 * Writes n units (one writev each, in order) through io_uring when it works here, else with a
 * writev loop. Returns packets written. A unit the kernel refuses (EINVAL: not an IP packet, ...)
 * is skipped and its packets counted as failed; EAGAIN/ENOBUFS/EIO and fd-gone errors stop the
 * batch and count every packet left.
 */
int write_units(uring_t *u, int fd, const wunit_t *w, int n, send_result *res, int *stopped) {
  int sent = 0;
  *stopped = 0;
  int left = 0; /* packets in units not yet written */
  for (int i = 0; i < n; i++) left += w[i].packets;
#ifdef PMT_HAVE_IO_URING
  if (u != NULL && u->fd >= 0 && u->enabled) {
    int32_t out[URING_ENTRIES];
    int start = 0;
    while (start < n) {
      int k = n - start > URING_ENTRIES ? URING_ENTRIES : n - start;
      int r = uring_write_chain(u, fd, w + start, k, out);
      if (r < 0) {
        if (start == 0 && sent == 0) {
          u->enabled = 0; /* the ring does not work here: writev loop, now and from now on */
          break;
        }
        note_failure(res, -r, left);
        *stopped = 1;
        return sent;
      }
      int j = 0;
      while (j < k && out[j] >= 0) {
        sent += w[start + j].packets;
        left -= w[start + j].packets;
        j++;
      }
      if (j == k) {
        start += k;
        continue;
      }
      int e = -out[j];
      if (stops_batch(e)) {
        note_failure(res, e, left);
        *stopped = 1;
        return sent;
      }
      note_failure(res, e, w[start + j].packets); /* skip it, go on */
      left -= w[start + j].packets;
      start += j + 1;
    }
    if (u->enabled) return sent;
  }
#else
  (void)u;
#endif
  for (int i = 0; i < n; i++) {
    ssize_t r;
    do r = writev(fd, w[i].iov, w[i].niov);
    while (r < 0 && errno == EINTR);
    if (r >= 0) {
      sent += w[i].packets;
      left -= w[i].packets;
      continue;
    }
    int e = errno;
    if (stops_batch(e)) {
      note_failure(res, e, left);
      *stopped = 1;
      break;
    }
    note_failure(res, e, w[i].packets);
    left -= w[i].packets;
  }
  return sent;
}

#ifdef PMT_HAVE_IO_URING
/* TUN reads through the ring (uring_read_batch), batches sized from the last drain plus a
 * margin, so an idle-ish TUN costs a few -EAGAIN completions, not a syscall per packet.
 * Sets *done when the queue was found empty (or on error); returns packets read. */
static int drain_tun_uring(rx_ring_t *p, uring_t *u, int *err, int *done) {
  int32_t res[URING_ENTRIES];
  int n = 0;
  int want = p->uring_guess > 0 ? p->uring_guess : 8;
  while (n < p->max) {
    int k = p->max - n;
    if (k > want) k = want;
    if (k > URING_ENTRIES) k = URING_ENTRIES;
    for (int i = 0; i < k; i++) {
      u->iov[i].iov_base = p->bufs[n + i] + p->offset;
      u->iov[i].iov_len = p->caps[n + i] - (size_t)p->offset;
    }
    int r = uring_read_batch(u, p->fd, u->iov, 1, k, res);
    /* Keep the packets in order at the front: a read can succeed after one that found the
     * queue empty (a packet arrived in between); move it down (rare). */
    int got = 0, empty = 0;
    for (int i = 0; i < k; i++) {
      int32_t v = res[i];
      if (v >= 0) {
        if (got != i) {
          /* Size 0 (every parser drops it) if the slot it moves to were smaller. */
          if ((size_t)v > p->caps[n + got] - (size_t)p->offset) v = 0;
          memcpy(p->bufs[n + got] + p->offset, p->bufs[n + i] + p->offset, (size_t)v);
        }
        p->sizes[n + got++] = v;
      } else {
        int kind = uring_read_failure(v); /* READ_RETRY: the next round reads again */
        if (kind == READ_EMPTY) empty = 1;
        if (kind == READ_UNSUPPORTED) r = -EOPNOTSUPP; /* no RWF_NOWAIT for this TUN/kernel */
        if (kind == READ_ERROR && *err == 0) *err = -v;
      }
    }
    n += got;
    if (r < 0) {
      u->reads = 0; /* read(2) from now on; the caller continues this drain with it */
      p->uring_guess = 0;
      return n;
    }
    if (*err != 0 || empty) break;
    want = URING_ENTRIES; /* all k had a packet: more may be queued */
  }
  *done = 1;
  int g = n + 8;
  p->uring_guess = g > URING_ENTRIES ? URING_ENTRIES : g;
  return n;
}
#endif

static uint8_t *slot_at(rx_ring_t *p, int i) { return p->bufs[i] + p->offset; }
static size_t slot_cap(rx_ring_t *p, int i) { return p->caps[i] - (size_t)p->offset; }
static uint8_t *spill_at(rx_ring_t *p, int i) { return p->spill + (size_t)i * p->spill_bytes; }

/* Copies len bytes laid out as s0[0..scap) then s1[..] into d0[0..dcap) then d1[..]. */
static void copy_split(uint8_t *d0, size_t dcap, uint8_t *d1, const uint8_t *s0, size_t scap,
                       const uint8_t *s1, size_t len) {
  size_t off = 0;
  while (off < len) {
    const uint8_t *sp = off < scap ? s0 + off : s1 + (off - scap);
    size_t sl = off < scap ? scap - off : len - off;
    uint8_t *dp = off < dcap ? d0 + off : d1 + (off - dcap);
    size_t dl = off < dcap ? dcap - off : len - off;
    size_t k = sl < dl ? sl : dl;
    if (k > len - off) k = len - off;
    memmove(dp, sp, k);
    off += k;
  }
}

/* Cuts the pending super-packet into segments in slots n..limit-1 (as the kernel's
 * tcp_gso_segment: sequence numbers advance, FIN and PSH only on the last, CWR only on the
 * first, each with its full checksum). Returns the new n; p->gso_pos stays > 0 while segments
 * are left. */
static int gso_emit(rx_ring_t *p, int n, int limit) {
  const uint8_t *src = p->gso_buf;
  int th = p->gso_th, hl = p->gso_hl;
  while (p->gso_pos > 0 && n < limit) {
    int pos = p->gso_pos;
    int seg = p->gso_len - pos < p->gso_mss ? p->gso_len - pos : p->gso_mss;
    int last = pos + seg >= p->gso_len;
    uint8_t *d = slot_at(p, n);
    if ((size_t)(hl + seg) > slot_cap(p, n)) {
      p->off->dropped++; /* a segment larger than a ring slot: drop the rest */
      p->truncated++;
      p->gso_pos = 0;
      break;
    }
    gso_cut_segment(d, src, th, hl, pos, seg, last);
    if (p->gso_info != NULL) p->gso_info[n] = 0;
    p->sizes[n++] = hl + seg;
    p->off->segments_cut++;
    p->gso_pos = last ? 0 : pos + seg;
  }
  return n;
}

/* Turns the read in slot s (len bytes, header h) into packet slot o (o <= s): a plain packet is
 * moved there (checksum completed when the kernel left it to us); a super-packet is copied to
 * gso_buf for gso_emit. Returns the new o. */
static int take_read(rx_ring_t *p, int s, size_t len, const vnet_hdr_t *h, int o) {
  tun_offload_t *t = p->off;
  int type = h->gso_type & ~VNET_GSO_ECN;
  if (type == VNET_GSO_NONE) {
    if (len > slot_cap(p, o)) {
      t->dropped++;
      return o;
    }
    /* Slot s may be smaller than slot o (buffers of different sizes): the read may go on in
     * s's spill (fuzz-native.c). */
    if (s != o)
      copy_split(slot_at(p, o), slot_cap(p, o), NULL, slot_at(p, s), slot_cap(p, s),
                 spill_at(p, s), len);
    if (h->flags & VNET_F_NEEDS_CSUM) {
      if (!complete_csum(slot_at(p, o), len, h)) {
        t->dropped++;
        return o;
      }
      t->checksums_completed++;
    }
    p->sizes[o] = (int32_t)len;
    if (p->gso_info != NULL) p->gso_info[o] = 0;
    if (p->recent_super > 0) p->recent_super--;
    return o + 1;
  }
  p->recent_super = 16;
  if (len > GSO_BUF_BYTES) {
    t->dropped++;
    return o;
  }
  /* Handed over whole (gso_info): checked where it was read, unless it went on in the spill. */
  int whole = p->gso_info != NULL && len <= slot_cap(p, s) && len <= slot_cap(p, o);
  if (!whole)
    copy_split(p->gso_buf, GSO_BUF_BYTES, NULL, slot_at(p, s), slot_cap(p, s), spill_at(p, s),
               len);
  const uint8_t *b = whole ? slot_at(p, s) : p->gso_buf;
  int th = h->csum_start;
  int thl = (size_t)th + 20 <= len ? (b[th + 12] >> 4) * 4 : 0;
  if (type != VNET_GSO_TCPV6 || len < 60 || (b[0] >> 4) != 6 || th < 40 || thl < 20 ||
      (size_t)(th + thl) >= len || h->gso_size == 0 || h->csum_offset != 16 ||
      (th == 40 && b[6] != 6)) {
    t->dropped++;
    return o;
  }
  t->super_packets_read++;
  if (whole) {
    gso_send_t g;
    int32_t info = th <= 0x7fff ? (int32_t)(th << 16 | h->gso_size) : 0;
    if (gso_info_ok(b, (int32_t)len, info, &g)) {
      /* Into slot o: where it was read, unless an earlier read of this batch was dropped. The
       * path encapsulates it once and sendRaw4 cuts it (gso_send_seg). */
      if (s != o) memcpy(slot_at(p, o), b, len);
      p->sizes[o] = (int32_t)len;
      p->gso_info[o] = info;
      t->segments_cut += (double)g.segs;
      return o + 1;
    }
    /* headers too long to hand over: cut here, as without gso_info */
    memcpy(p->gso_buf, b, len);
    b = p->gso_buf;
  }
  p->gso_len = (int)len;
  p->gso_th = th;
  p->gso_hl = th + thl;
  p->gso_mss = h->gso_size;
  p->gso_pos = th + thl;
  return o;
}

static void queue_read(rx_ring_t *p, int slot, size_t len, const vnet_hdr_t *h) {
  int j = p->q_head + p->q_n++;
  p->q_pos[j] = slot;
  p->q_len[j] = (int32_t)len;
  p->q_hdr[j] = *h;
}

/*
 * TUN reads with a vnet header (offload). Reads land in ring slots (several per io_uring_enter,
 * as drain_tun_uring) and are queued; each becomes one packet, or a super-packet that gso_emit
 * cuts into as many segments as there are free slots below the next queued read. What is left
 * (segments, queued reads) goes out in the next batch, in order: queued reads first move to the
 * top of the ring so the segments get the room. Returns the packets in slots 0..n-1.
 */
int drain_tun_vnet(rx_ring_t *p, int *err) {
  if (p->q_n > 0) {
    /* Positions ascend: moving each to max - q_n + j, last first, never overwrites another. */
    for (int j = p->q_n - 1; j >= 0; j--) {
      int from = p->q_pos[p->q_head + j], to = p->max - p->q_n + j;
      if (from != to)
        copy_split(slot_at(p, to), slot_cap(p, to), spill_at(p, to), slot_at(p, from),
                   slot_cap(p, from), spill_at(p, from), (size_t)p->q_len[p->q_head + j]);
    }
    for (int j = 0; j < p->q_n; j++) {
      p->q_pos[j] = p->max - p->q_n + j;
      p->q_len[j] = p->q_len[p->q_head + j];
      p->q_hdr[j] = p->q_hdr[p->q_head + j];
    }
    p->q_head = 0;
  }
  int o = 0;
#ifdef PMT_HAVE_IO_URING
  uring_t *u = p->uring;
#endif
  for (;;) {
    int limit = p->q_n > 0 ? p->q_pos[p->q_head] : p->max;
    if (p->gso_pos > 0) {
      o = gso_emit(p, o, limit);
      if (p->gso_pos > 0) break; /* no room left below the next queued read */
    }
    if (p->q_n > 0) {
      int j = p->q_head;
      p->q_head++;
      if (--p->q_n == 0) p->q_head = 0;
      o = take_read(p, p->q_pos[j], (size_t)p->q_len[j], &p->q_hdr[j], o);
      continue;
    }
    /* Super-packets handed over whole fill their slots (64 KiB each): while they come, read
     * into the first WHOLE_SLOTS only, so the ring's resident memory stays small. */
    int room = p->gso_info != NULL && p->recent_super > 0 && p->max > WHOLE_SLOTS ? WHOLE_SLOTS
                                                                                   : p->max;
    if (o >= room || *err != 0) break;
    /* Super-packets lately: read few at a time, into the top of the ring, so their segments
     * fill the slots below; otherwise read many, in place. */
    int top = p->recent_super > 0 && p->gso_info == NULL;
    int got = 0, empty = 0;
#ifdef PMT_HAVE_IO_URING
    if (u != NULL && u->fd >= 0 && u->enabled && u->reads) {
      vnet_hdr_t hdrs[URING_ENTRIES];
      int32_t res[URING_ENTRIES];
      int k = room - o;
      int want = top ? 2 : p->uring_guess > 0 ? p->uring_guess : 8;
      if (k > want) k = want;
      if (k > URING_ENTRIES) k = URING_ENTRIES;
      int base = top ? p->max - k : o;
      for (int i = 0; i < k; i++) {
        u->iov[3 * i] = (struct iovec){&hdrs[i], sizeof hdrs[i]};
        u->iov[3 * i + 1] = (struct iovec){slot_at(p, base + i), slot_cap(p, base + i)};
        u->iov[3 * i + 2] = (struct iovec){spill_at(p, base + i), p->spill_bytes};
      }
      int r = uring_read_batch(u, p->fd, u->iov, 3, k, res);
      for (int i = 0; i < k; i++) {
        int32_t v = res[i];
        if (v >= (int32_t)sizeof(vnet_hdr_t)) {
          queue_read(p, base + i, (size_t)v - sizeof(vnet_hdr_t), &hdrs[i]);
          got++;
        } else if (v < 0) { /* v >= 0 here: too short to hold the header, not a packet */
          int kind = uring_read_failure(v);
          if (kind == READ_EMPTY) empty = 1;
          if (kind == READ_UNSUPPORTED) r = -EOPNOTSUPP;
          if (kind == READ_ERROR && *err == 0) *err = -v;
        }
      }
      if (r < 0) {
        u->reads = 0; /* readv(2) from now on */
        p->uring_guess = 0;
      } else {
        int g = empty ? got + 8 : URING_ENTRIES;
        p->uring_guess = g > URING_ENTRIES ? URING_ENTRIES : g;
      }
      if (got == 0 && (empty || *err != 0)) break;
      continue;
    }
#endif
    vnet_hdr_t h;
    int at = top ? p->max - 1 : o;
    struct iovec iov[3] = {
        {&h, sizeof h}, {slot_at(p, at), slot_cap(p, at)}, {spill_at(p, at), p->spill_bytes}};
    ssize_t r = readv(p->fd, iov, 3);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
      break;
    }
    if (r >= (ssize_t)sizeof h) queue_read(p, at, (size_t)r - sizeof h, &h);
    (void)got;
    (void)empty;
  }
  return o;
}

int drain_tun(rx_ring_t *p, int *err) {
  int n = 0;
  if (p->off != NULL) return drain_tun_vnet(p, err);
#ifdef PMT_HAVE_IO_URING
  uring_t *u = p->uring;
  if (u != NULL && u->fd >= 0 && u->enabled && u->reads) {
    int done = 0;
    n = drain_tun_uring(p, u, err, &done);
    if (done) return n;
  }
#endif
  while (n < p->max) {
    ssize_t r = read(p->fd, p->bufs[n] + p->offset, p->caps[n] - (size_t)p->offset);
    if (r < 0) {
      if (errno == EINTR) continue;
      if (errno != EAGAIN && errno != EWOULDBLOCK) *err = errno;
      break;
    }
    p->sizes[n++] = (int32_t)r;
  }
  return n;
}
