/*
 * tun-io.h: packets between a TUN fd and memory (tun-io.c), with no N-API: reads into a receive
 * ring, batched writes of grouped units.
 */
#ifndef PMT_TUN_IO_H
#define PMT_TUN_IO_H

#include "errors.h"
#include "offload.h"
#include "rx-ring.h"
#include "uring.h"

/* Reads up to p->max packets into the ring; returns the count, with *err set on a hard error. */
int drain_tun(rx_ring_t *p, int *err);
/* drain_tun on a TUN opened with offload (reads carry a virtio-net header). */
int drain_tun_vnet(rx_ring_t *p, int *err);
/* Writes n units (one writev each, in order); returns packets written (tun-io.c). */
int write_units(uring_t *u, int fd, const wunit_t *w, int n, send_result *res, int *stopped);

#endif
