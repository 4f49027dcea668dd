/**
 * The long-running batch loops (as wireguard-go's `Routine…` functions): each
 * `run…Loop` wires one receive port to one processing path and its send ports, logs
 * "started"/"stopped" once, and decides port errors: "wait" -> nothing,
 * "degrade" -> log (rate-limited) and continue, "gone" -> stop through `onFatal`.
 *
 * Per batch: read the forwarding snapshot ONCE and the clock ONCE, process, then one writeBatch
 * per destination port. Nothing allocated per packet.
 */
import type { IoError, Ipv4RawSocket, Port, RxRing, TunDevice } from "../io/ports.js";
import { createIcmpErrorRing, createIpv4RxRing, createRxRing } from "../io/ring.js";
import { DROP_TX_ERROR } from "../addr/drop-reason.js";
import type { DataplaneCounters } from "./counters.js";
import type { TxBatch } from "./tx-batch.js";
import type { Logger } from "../log/logger.js";
import { BATCH_SIZE_PACKETS, HEADROOM_BYTES, PACKET_BUFFER_BYTES } from "./tunables.js";
import { ICMP4_ERROR_RING_SLOTS, ICMP4_ERROR_SLOT_BYTES } from "./tunables.js";
import type { Icmpv4ErrorPath, TunnelErrorContext } from "./icmpv4-errors.js";

/** What a loop needs from its daemon. */
export interface LoopContext<S> {
  /** The current forwarding snapshot (read once per batch). */
  state(): S;
  /** Milliseconds, monotonic; read once per batch (ICMP rate limit). */
  now(): number;
  counters: DataplaneCounters;
  log: Logger;
  /** A port is gone: the daemon stops (the CLI exits 1). */
  onFatal(err: Error): void;
}

/** Processing step for packets read from a TUN (headroom layout). */
export interface TunBatchPath<S> {
  readonly toWire: TxBatch;
  readonly toTun: TxBatch;
  processBatch(
    state: S,
    bufs: readonly Buffer[],
    sizes: ArrayLike<number>,
    count: number,
    nowMs: number,
    gso: ArrayLike<number> | null,
  ): void;
}

/** Processing step for packets read from the raw protocol-41 socket. */
export interface WireBatchPath<S> {
  readonly toTun: TxBatch;
  /** Packets sent straight back on the wire (relay echo replies); absent on the CPE. */
  readonly toWire?: TxBatch;
  processBatch(
    state: S,
    bufs: readonly Buffer[],
    sizes: ArrayLike<number>,
    count: number,
    rxOffset: number,
  ): void;
}

/*
 * Each loop's receive ring: `BATCH_SIZE_PACKETS` buffers of `PACKET_BUFFER_BYTES`, allocated once,
 * as one slab (io/ring.ts): a fresh large allocation is zero pages the kernel maps only when a
 * packet lands there, so the ring costs the memory its packets touch (one or two pages for most),
 * not 64 KiB per buffer zero-filled up front (2.8 MB of resident memory per daemon, measured).
 */

/**
 * The TUN ring: packets land at HEADROOM_BYTES, and TCP super-packets are taken whole
 * (`RxRing.gso`), cut by the raw socket's send.
 */
function createTunRing(): RxRing {
  return {
    ...createRxRing(BATCH_SIZE_PACKETS, PACKET_BUFFER_BYTES, HEADROOM_BYTES),
    gso: new Int32Array(BATCH_SIZE_PACKETS),
  };
}

/** Sends a batch and counts the packets the port refused as `tx_error`. */
function flush(port: TunDevice, b: TxBatch, counters: DataplaneCounters): void {
  if (b.count === 0) return;
  const sent = port.writeBatch(b.bufs, b.offsets, b.sizes, b.count);
  if (sent < b.count) counters.drops[DROP_TX_ERROR]! += b.count - sent;
}

/** `flush` on the wire: super-packets are cut while sending, so count what went out in packets. */
function flushWire(raw: Ipv4RawSocket, b: TxBatch, counters: DataplaneCounters): void {
  if (b.count === 0) return;
  const sent = raw.writeBatch(b.bufs, b.offsets, b.sizes, b.count, b.gso);
  if (sent < b.packets) counters.drops[DROP_TX_ERROR]! += b.packets - sent;
}

/** Error handler shared by the loops; "degrade" logs at most once per second per loop. */
function watchErrors(name: string, port: Port, ctx: LoopContext<unknown>): void {
  let lastLogMs = -Infinity;
  let suppressed = 0;
  port.onError((err: IoError) => {
    if (err.errnoClass === "wait") return;
    if (err.errnoClass === "gone") {
      ctx.log.error(`${name}: port gone: ${err.code} ${err.message}`);
      ctx.onFatal(err);
      return;
    }
    const now = ctx.now();
    if (now - lastLogMs < 1000) {
      suppressed++;
      return;
    }
    lastLogMs = now;
    const more = suppressed > 0 ? ` (${suppressed} more suppressed)` : "";
    suppressed = 0;
    ctx.log.warn(`${name}: ${err.code} ${err.message}${more}`);
  });
}

/**
 * TUN -> path -> raw socket (+ ICMPv6 errors back into the TUN). Used by the CPE outbound
 * (LAN -> relay) and the relay return path (Internet -> customer). Returns the stop function.
 */
export function runTunToWireLoop<S>(
  name: string,
  tun: TunDevice,
  raw: Ipv4RawSocket,
  path: TunBatchPath<S>,
  ctx: LoopContext<S>,
): () => void {
  const ring = createTunRing();
  const gso = ring.gso!;
  watchErrors(name, tun, ctx as LoopContext<unknown>);
  tun.onBatch(ring, (bufs, sizes, count) => {
    path.processBatch(ctx.state(), bufs, sizes, count, ctx.now(), gso);
    flushWire(raw, path.toWire, ctx.counters);
    flush(tun, path.toTun, ctx.counters);
  });
  ctx.log.info(`${name} loop started: ${tun.name} -> protocol 41`);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    ctx.log.info(`${name} loop stopped`);
  };
}

/**
 * Raw socket -> path -> TUN (+ replies back on the wire). Used by the CPE inbound and the relay
 * inbound. Returns the stop function.
 */
export function runWireToTunLoop<S>(
  name: string,
  raw: Ipv4RawSocket,
  tun: TunDevice,
  path: WireBatchPath<S>,
  ctx: LoopContext<S>,
): () => void {
  const ring = createIpv4RxRing(BATCH_SIZE_PACKETS, PACKET_BUFFER_BYTES);
  watchErrors(name, raw, ctx as LoopContext<unknown>);
  raw.onBatch(ring, (bufs, sizes, count) => {
    path.processBatch(ctx.state(), bufs, sizes, count, ring.offset);
    flush(tun, path.toTun, ctx.counters);
    if (path.toWire !== undefined) flushWire(raw, path.toWire, ctx.counters);
  });
  ctx.log.info(`${name} loop started: protocol 41 -> ${tun.name}`);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    ctx.log.info(`${name} loop stopped`);
  };
}

/**
 * ICMPv4 errors about our packets (raw socket error queue, RFC 4213 §3.4) -> ICMPv6 unreachable
 * into the TUN. Call after `runWireToTunLoop` on the same socket; a port that cannot report them
 * (no `onIcmpErrors`) leaves this a no-op.
 */
export function runIcmpErrorLoop<S>(
  raw: Ipv4RawSocket,
  tun: TunDevice,
  path: Icmpv4ErrorPath,
  context: (state: S) => TunnelErrorContext,
  ctx: LoopContext<S>,
): void {
  if (raw.onIcmpErrors === undefined) return;
  const ring = createIcmpErrorRing(ICMP4_ERROR_RING_SLOTS, ICMP4_ERROR_SLOT_BYTES);
  raw.onIcmpErrors(ring, (count) => {
    path.processBatch(context(ctx.state()), ring, count, ctx.now());
    flush(tun, path.toTun, ctx.counters);
  });
}
