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
    /** Per packet: the segment size of a TCP packet GRO merged, else 0 (`Ipv4RawSocket.onBatch`). */
    gso?: Int32Array,
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
  const sent = port.writeBatch(b.bufs, b.offsets, b.sizes, b.count, b.merged ? b.gso : null);
  if (sent < b.count) counters.drops[DROP_TX_ERROR]! += b.count - sent;
}

/**
 * `flush` on the wire: super-packets are cut while sending, so count what went out in packets.
 * With backpressure (`raw.unsent`) a tail the socket had no room for is not a drop: the caller
 * sends it again (`WireSender`), or, for packets that cannot wait, it is counted here.
 */
function flushWire(raw: Ipv4RawSocket, b: TxBatch, counters: DataplaneCounters): void {
  if (b.count === 0) return;
  const sent = raw.writeBatch(b.bufs, b.offsets, b.sizes, b.count, b.gso);
  if (sent < b.packets) counters.drops[DROP_TX_ERROR]! += b.packets - sent;
}

/**
 * Backpressure of a TUN -> wire loop. When the send socket takes no more (its send buffer full:
 * EAGAIN; or the qdisc behind it dropped a packet: ENOBUFS) the unsent tail of the batch stays in
 * the TxBatch (its packets are in the TUN ring, which no read overwrites meanwhile), the TUN is
 * paused, and the tail goes first once the socket is writable (EAGAIN) or after
 * ENOBUFS_RETRY_MS (ENOBUFS: the socket's buffer is not what is full, so write readiness would
 * come at once). Meanwhile the kernel's TUN queue (txqueuelen) drops what the LAN sends beyond
 * what the WAN takes, before we pay for reading and encapsulating it. Nothing is allocated per
 * event but the ENOBUFS timer, made once.
 */
class WireSender {
  private entry = -1;
  private skip = 0;
  /** Wire packets not yet sent from `entry` on. */
  private remaining = 0;
  private pausedAt = 0;
  private timer: ReturnType<typeof setTimeout> | undefined;
  stopped = false;

  constructor(
    private readonly raw: Ipv4RawSocket,
    private readonly tun: TunDevice,
    private readonly b: TxBatch,
    private readonly ctx: LoopContext<unknown>,
  ) {}

  /** Sends the batch just filled; pauses the TUN when a tail is left. */
  flush(): void {
    if (this.b.count === 0) return;
    this.entry = 0;
    this.skip = 0;
    this.remaining = this.b.packets;
    if (!this.send()) {
      this.ctx.counters.wanBackpressure++;
      this.pausedAt = this.ctx.now();
      this.tun.pause!();
      this.wait();
    }
  }

  /** Sends from the tail on; true when nothing is left. */
  private send(): boolean {
    const b = this.b;
    const sent = this.raw.writeBatch(
      b.bufs,
      b.offsets,
      b.sizes,
      b.count,
      b.gso,
      this.entry,
      this.skip,
    );
    const tail = this.raw.unsent!;
    const left = tail.entry < 0 ? 0 : tail.packets;
    // refused and lost: ENOBUFS's one packet, or any other error
    if (this.remaining > sent + left)
      this.ctx.counters.drops[DROP_TX_ERROR]! += this.remaining - sent - left;
    this.remaining = left;
    if (tail.entry < 0) {
      this.entry = -1;
      return true;
    }
    this.entry = tail.entry;
    this.skip = tail.segment;
    return false;
  }

  private wait(): void {
    if (this.raw.unsent!.full) {
      this.raw.whenWritable!(this.retry);
      return;
    }
    if (this.timer === undefined) this.timer = setTimeout(this.retry, ENOBUFS_RETRY_MS);
    else this.timer.refresh();
  }

  private readonly retry = (): void => {
    if (this.stopped || this.raw.closed || this.tun.closed) return;
    if (!this.send()) {
      this.wait();
      return;
    }
    this.ctx.counters.wanPausedMs += this.ctx.now() - this.pausedAt;
    this.tun.resume!();
  };

  stop(): void {
    this.stopped = true;
    if (this.timer !== undefined) clearTimeout(this.timer);
  }
}

/** Wait after ENOBUFS (the WAN qdisc dropped a packet) before sending the tail. */
const ENOBUFS_RETRY_MS = 1;

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
  const sender =
    raw.unsent !== undefined && raw.whenWritable !== undefined && tun.pause !== undefined
      ? new WireSender(raw, tun, path.toWire, ctx as LoopContext<unknown>)
      : undefined;
  tun.onBatch(ring, (bufs, sizes, count) => {
    path.processBatch(ctx.state(), bufs, sizes, count, ctx.now(), gso);
    if (sender !== undefined) sender.flush();
    else flushWire(raw, path.toWire, ctx.counters);
    flush(tun, path.toTun, ctx.counters);
  });
  const mode = sender !== undefined ? " (backpressure)" : "";
  ctx.log.info(`${name} loop started: ${tun.name} -> protocol 41${mode}`);
  let stopped = false;
  return () => {
    if (stopped) return;
    stopped = true;
    sender?.stop();
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
  raw.onBatch(ring, (bufs, sizes, count, _srcs, gso) => {
    path.processBatch(ctx.state(), bufs, sizes, count, ring.offset, gso);
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
