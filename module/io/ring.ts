/**
 * Receive rings (io/ports.ts): allocated once at start by the owner of a loop, filled in place
 * by a port on every batch (no allocation per packet). io/ports.ts defines the ring types and
 * never imports this file.
 */
import type { IcmpErrorRing, Icmpv6RxRing, Ipv4RxRing, RxRing } from "./ports.js";

/** `count` buffers of `bufferBytes`, packets landing at `offset` (TUN: dataplane HEADROOM_BYTES). */
export function createRxRing(count: number, bufferBytes: number, offset: number): RxRing {
  if (!Number.isInteger(count) || count < 1 || count > 1024) {
    throw new RangeError(`rx ring: count must be 1..1024, got ${count}`);
  }
  if (!Number.isInteger(offset) || offset < 0 || bufferBytes <= offset) {
    throw new RangeError(`rx ring: need 0 <= offset < bufferBytes, got ${offset}/${bufferBytes}`);
  }
  const bufs: Buffer[] = [];
  // One slab, sliced: one allocation and good locality (each Buffer is a view of the slab).
  const slab = Buffer.alloc(count * bufferBytes);
  for (let i = 0; i < count; i++) bufs.push(slab.subarray(i * bufferBytes, (i + 1) * bufferBytes));
  return { bufs, sizes: new Int32Array(count), offset };
}

/** A ring for a raw IPv4 socket: adds `srcs` (IPv4 source per packet). */
export function createIpv4RxRing(count: number, bufferBytes: number, offset = 0): Ipv4RxRing {
  return { ...createRxRing(count, bufferBytes, offset), srcs: new Uint32Array(count) };
}

/** A ring for an ICMPv6 socket: adds sources (16 bytes each), hop limits and ifindexes. */
export function createIcmpv6RxRing(count: number, bufferBytes: number): Icmpv6RxRing {
  return {
    ...createRxRing(count, bufferBytes, 0),
    srcs: new Uint8Array(16 * count),
    hopLimits: new Int32Array(count),
    ifindexes: new Int32Array(count),
  };
}

/** A ring for ICMPv4 errors about sent packets: `slots` of `slotBytes` (64..65535) each. */
export function createIcmpErrorRing(slots: number, slotBytes: number): IcmpErrorRing {
  if (!Number.isInteger(slots) || slots < 1 || slots > 1024) {
    throw new RangeError(`icmp error ring: slots must be 1..1024, got ${slots}`);
  }
  if (!Number.isInteger(slotBytes) || slotBytes < 64 || slotBytes > 65535) {
    throw new RangeError(`icmp error ring: slotBytes must be 64..65535, got ${slotBytes}`);
  }
  return {
    buf: Buffer.alloc(slots * slotBytes),
    meta: new Int32Array(4 * slots),
    slots,
    slotBytes,
  };
}
