/*
 * tun.h: the offload state of each TUN the addon opened, by fd (tun.c), for the files that act
 * on a TUN by its fd (netdev.c setMtu and close, poller.c pollStart).
 */
#ifndef PMT_TUN_H
#define PMT_TUN_H

#include "offload.h"

/* The TUN's offload state when it was opened with offload (vnet headers), else NULL. */
tun_offload_t *tun_vnet(int fd);
/* setMtu on the TUN of that fd: the write path keeps the MTU (gro_group "oversized"). */
void tun_note_mtu(int fd, int mtu);
/* The fd is being closed: forget its offload state. */
void tun_forget(int fd);

#endif
