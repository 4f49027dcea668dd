/**
 * Linux implementations of the ports (io/ports.ts) over the native addon: C does syscalls,
 * TypeScript decides. The binding is injected — default: the loaded addon —
 * so unit tests pass a fake binding and check the policy here without root or a kernel.
 *
 * Policy decided here:
 *   - receive errors from the poller are classified once (io/errno.ts) and passed to the
 *     port's error handler; "gone" stops the port for good;
 *   - send failures never throw: they are counted, and a "gone" errno is reported to the error
 *     handler from the event loop (never inside writeBatch);
 *   - raw IPv4 sockets are opened with IP_HDRINCL: the data plane writes the IPv4 header itself
 *     (per-packet source — the relay's anycast or unicast address —, DF, TTL, ID); they send
 *     through a second, send-only IPPROTO_RAW socket (openIpv4Raw).
 */
import { openSync, closeSync, readdirSync } from "node:fs";
import { endianness } from "node:os";
import {
  loadNative,
  nativeIoOptions,
  POLL_KIND_ICMP6,
  POLL_KIND_PACKET4,
  POLL_KIND_RAW4,
  POLL_KIND_TUN,
  type NativeBinding,
  type PollHandle,
  type WritableHandle,
  type TunOffloadStats,
} from "../native/loader.js";
import { classifyErrno } from "./errno.js";
import { makeIoError, toIoError } from "./io-error.js";
import { createIpv4RxRing } from "./ring.js";
import type {
  IcmpErrorRing,
  Icmpv6RxRing,
  IcmpV6Socket,
  IoError,
  Ipv4BatchHandler,
  Ipv4RawSocket,
  Ipv4RxRing,
  PacketSendPath,
  PortStats,
  RouteEventFilter,
  RouteEventWatch,
  RxRing,
  SendTail,
  TunDevice,
} from "./ports.js";

/** IPPROTO_IPV6: 6in4 / 6to4 encapsulation (RFC 4213 §3.5, RFC 3056 §5). */
const PROTO_6IN4 = 41;
/** IPPROTO_RAW: a send-only raw socket that implies IP_HDRINCL (raw(7)). */
const IPPROTO_RAW = 255;
/**
 * IP_PMTUDISC_OMIT (linux/in.h): the socket sends at the device MTU and ignores any path MTU the
 * kernel recorded for the destination, and ICMPv4 "fragmentation needed" delivered to it records
 * none (ip_sk_accept_pmtu). RFC 4213 §3.2.1 static tunnel MTU: DF is clear, so an outer packet is
 * fragmented only where a link is too small, never because a spoofed ICMPv4 message said so.
 * IP_PMTUDISC_PROBE also ignores the recorded path MTU when sending but still records it.
 */
const IP_PMTUDISC_OMIT = 5;
/** Default socket buffers: a few batches of full-size packets in flight. */
const DEFAULT_SOCKET_BUFFER_BYTES = 4 * 1024 * 1024;

/** Common state of a native-backed port: fd, poller, counters, error reporting. */
abstract class LinuxPort {
  protected handle: PollHandle | undefined;
  protected errorHandler: ((err: IoError) => void) | undefined;
  private closedFlag = false;
  private gone = false;
  private txPackets = 0;
  private txDropped = 0;
  private txStale = 0;
  private lastTxError = "";
  /**
   * [first errno, not sent, stale retried, tail entry, tail segment, tail packets,
   * AF_PACKET failure errno, AF_PACKET packets, tail left by AF_PACKET] (sendRaw4).
   */
  protected readonly status = new Int32Array(9);
  private scratchOffsets = new Int32Array(64);
  private scratchSizes = new Int32Array(64);
  /** Per entry of a send: its byte offset in the batch's slab, -1 if not in it (slabOffsets). */
  protected slabAbs = new Int32Array(64);

  protected constructor(
    protected readonly binding: NativeBinding,
    readonly fd: number,
    protected readonly label: string,
  ) {}

  get closed(): boolean {
    return this.closedFlag || this.gone;
  }

  onError(handler: (err: IoError) => void): void {
    this.errorHandler = handler;
  }

  stats(): PortStats {
    const s = this.handle !== undefined ? this.binding.pollStats(this.handle) : undefined;
    return {
      rxPackets: s?.packets ?? 0,
      rxBatches: s?.batches ?? 0,
      txPackets: this.txPackets,
      txDropped: this.txDropped,
      lastTxError: this.lastTxError,
      socketErrorsCleared: (s?.soErrors ?? 0) + this.txStale,
      rxTruncated: s?.truncated ?? 0,
      wanGroMerged: s?.wanGroMerged ?? 0,
      wanGroUnusable: s?.wanGroUnusable ?? 0,
      pollRestarts: s?.restarts ?? 0,
      ...(s !== undefined && Object.keys(s.icmpErrors ?? {}).length > 0
        ? { icmpErrors: s.icmpErrors }
        : {}),
    };
  }

  close(): void {
    if (this.closedFlag) return;
    this.closedFlag = true;
    if (this.handle !== undefined) this.binding.pollClose(this.handle);
    try {
      this.binding.close(this.fd);
    } catch {
      // Already invalid (device removed): nothing left to release.
    }
  }

  /** Called by the poller for errors about the fd (from the event loop). */
  protected readonly onNativeError = (e: Error): void => {
    const err = toIoError(e);
    if (err.errnoClass === "gone") {
      if (this.gone) return;
      this.gone = true;
      // The native poller has already stopped; release it now so no callback can follow.
      if (this.handle !== undefined && !this.closedFlag) this.binding.pollClose(this.handle);
    }
    this.errorHandler?.(makeIoError(err.code, err.errno, `${this.label}: ${err.message}`));
  };

  /**
   * Bookkeeping after a batched send (status = [first errno, not sent, stale retried]); `kept`
   * of the packets not sent are a tail the caller sends again, not drops.
   */
  protected afterSend(sent: number, kept = 0): void {
    this.txPackets += sent;
    const st = this.status;
    if (st[2] !== 0) this.txStale += st[2] as number;
    if (st[1] === 0) return;
    this.txDropped += (st[1] as number) - kept;
    const code = this.binding.errnoName(st[0] as number);
    this.lastTxError = code;
    if (classifyErrno(code) === "gone" && !this.gone) {
      const errno = st[0] as number;
      setImmediate(() => {
        if (!this.closedFlag) this.onNativeError(makeIoError(code, errno, `write: ${code}`));
      });
    }
  }

  /** Count a failed single send (ICMPv6). */
  protected failedSend(e: unknown): void {
    const err = toIoError(e);
    this.txDropped++;
    this.lastTxError = err.code;
    if (err.errnoClass === "gone" && !this.gone) {
      setImmediate(() => {
        if (!this.closedFlag) this.onNativeError(err);
      });
    }
  }

  protected int32(
    values: ArrayLike<number>,
    count: number,
    which: "offsets" | "sizes",
  ): Int32Array {
    if (values instanceof Int32Array) return values;
    let scratch = which === "offsets" ? this.scratchOffsets : this.scratchSizes;
    if (scratch.length < count) {
      scratch = new Int32Array(Math.max(count, scratch.length * 2));
      if (which === "offsets") this.scratchOffsets = scratch;
      else this.scratchSizes = scratch;
    }
    for (let i = 0; i < count; i++) scratch[i] = values[i] as number;
    return scratch;
  }

  /**
   * The ArrayBuffer of `bufs[0]` (the slab of a receive ring, which most batches alias) and, in
   * `slabAbs`, each entry's byte offset in it: -1 for an entry that is a view of another buffer or
   * whose range is not within its view (the native side then looks it up in `bufs`, and refuses
   * what is out of range, as before). One lookup per batch on the native side instead of two
   * N-API calls per packet. Null for an empty batch.
   */
  protected slabOffsets(
    bufs: readonly Uint8Array[],
    offsets: Int32Array,
    sizes: Int32Array,
    count: number,
  ): ArrayBufferLike | null {
    const first = bufs[0];
    if (first === undefined || count <= 0) return null;
    const slab = first.buffer;
    let abs = this.slabAbs;
    if (abs.length < count) abs = this.slabAbs = new Int32Array(Math.max(count, abs.length * 2));
    for (let i = 0; i < count; i++) {
      const b = bufs[i];
      const o = offsets[i] as number;
      const n = sizes[i] as number;
      const at = b !== undefined ? b.byteOffset + o : -1;
      // (an offset past 2^31 - 1 would wrap in the Int32Array: looked up instead)
      abs[i] =
        b !== undefined && b.buffer === slab && o >= 0 && n > 0 && o + n <= b.length && at < 2 ** 31
          ? at
          : -1;
    }
    return slab;
  }

  protected startOnce(): void {
    if (this.handle !== undefined) throw new Error(`${this.label}: onBatch called twice`);
    if (this.closed) throw new Error(`${this.label}: onBatch after close`);
  }
}

export interface TunOptions {
  /** Device name (at most 15 bytes), e.g. "6to4pmt0". */
  name: string;
  /** MTU in bytes (RFC 4213 §3.2: at least 1280). */
  mtu: number;
  /** Transmit queue length in packets (kernel default 500). */
  txQueueLen?: number;
  /** Bring the device up (default true). */
  up?: boolean;
  /**
   * TCP segmentation/coalescing offload over the TUN (virtio-net headers; native/offload.h).
   * Default on, unless the environment sets PMT_NO_TUN_OFFLOAD=1 (native/loader.ts
   * `nativeIoOptions`); silently off when the kernel lacks it.
   */
  offload?: boolean;
  /**
   * With offload, UDP datagrams of one flow are written as one super-packet where the kernel
   * takes them (USO, Linux 6.2+). Default on, unless the environment sets PMT_NO_TUN_USO=1.
   */
  udpSuperPackets?: boolean;
  binding?: NativeBinding;
}

class LinuxTun extends LinuxPort implements TunDevice {
  constructor(
    binding: NativeBinding,
    fd: number,
    readonly name: string,
    readonly mtu: number,
    readonly offload: boolean,
  ) {
    super(binding, fd, `tun ${name}`);
  }

  offloadStats(): TunOffloadStats | null {
    return this.offload && !this.closed ? this.binding.tunOffloadStats(this.fd) : null;
  }

  onBatch(ring: RxRing, handler: (bufs: Buffer[], sizes: Int32Array, count: number) => void): void {
    this.startOnce();
    const { bufs, sizes } = ring;
    this.handle = this.binding.pollStart(
      this.fd,
      POLL_KIND_TUN,
      bufs,
      ring.offset,
      sizes,
      null,
      ring.gso ?? null,
      (count) => handler(bufs, sizes, count),
      this.onNativeError,
    );
  }

  pause(): void {
    if (this.handle !== undefined && !this.closed) this.binding.pollPause(this.handle);
  }

  resume(): void {
    if (this.handle !== undefined && !this.closed) this.binding.pollResume(this.handle);
  }

  writeBatch(
    bufs: readonly Uint8Array[],
    offsets: ArrayLike<number>,
    sizes: ArrayLike<number>,
    count: number,
    gso?: Int32Array | null,
  ): number {
    if (this.closed || count <= 0) return 0;
    const offs = this.int32(offsets, count, "offsets");
    const lens = this.int32(sizes, count, "sizes");
    const slab = this.slabOffsets(bufs, offs, lens, count);
    const sent = this.binding.writeTun(
      this.fd,
      bufs,
      offs,
      lens,
      count,
      this.status,
      slab,
      this.slabAbs,
      gso ?? null,
    );
    this.afterSend(sent);
    return sent;
  }
}

/**
 * Opens `queues` queues of the multi-queue TUN `name` (IFF_MULTI_QUEUE; the relay's workers,
 * one queue each): what the kernel routes into the device is spread over the queues by flow
 * hash, and any queue may write. Same MTU, transmit queue and link state as `openTun`. The
 * device goes away with the last queue's fd. Returns the fds (queue 0 first).
 */
export function openTunQueues(
  options: TunOptions,
  queues: number,
): { fds: number[]; name: string; offload: boolean } {
  const b = options.binding ?? loadNative();
  const io = nativeIoOptions();
  const fds: number[] = [];
  let name = options.name;
  let offload = true;
  try {
    for (let i = 0; i < queues; i++) {
      const q = b.openTun(
        name,
        options.offload ?? io.tunOffload,
        options.udpSuperPackets ?? io.tunUdpSuperPackets,
        true,
      );
      fds.push(q.fd);
      name = q.name;
      offload &&= q.offload;
      b.setMtu(name, options.mtu, q.fd);
    }
    if (options.txQueueLen !== undefined) b.setTxQueueLen(name, options.txQueueLen);
    if (options.up ?? true) b.setUp(name, true);
  } catch (e) {
    for (const fd of fds) b.close(fd);
    throw e;
  }
  return { fds, name, offload };
}

/** A TunDevice over a queue fd opened elsewhere in this process (`openTunQueues`). */
export function adoptTun(
  fd: number,
  name: string,
  mtu: number,
  offload: boolean,
  binding?: NativeBinding,
): TunDevice {
  return new LinuxTun(binding ?? loadNative(), fd, name, mtu, offload);
}

/** Opens (creating if needed) TUN device `name`, sets its MTU and brings it up. */
export function openTun(options: TunOptions): TunDevice {
  const b = options.binding ?? loadNative();
  const io = nativeIoOptions();
  const { fd, name, offload } = b.openTun(
    options.name,
    options.offload ?? io.tunOffload,
    options.udpSuperPackets ?? io.tunUdpSuperPackets,
  );
  try {
    b.setMtu(name, options.mtu, fd);
    if (options.txQueueLen !== undefined) b.setTxQueueLen(name, options.txQueueLen);
    if (options.up ?? true) b.setUp(name, true);
  } catch (e) {
    b.close(fd);
    throw e;
  }
  return new LinuxTun(b, fd, name, options.mtu, offload === true);
}

export interface Ipv4RawOptions {
  /** IP protocol number (default 41). */
  protocol?: number;
  /** Receive only packets to this local IPv4 (unsigned number); default 0 = any. */
  bindAddress?: number;
  /** SO_BINDTODEVICE, e.g. the WAN device; default none. */
  device?: string;
  /**
   * IP_RECVERR: ICMPv4 errors about sent packets are queued (counted by kind, and handed to
   * `onIcmpErrors` with the packet they quote); default false.
   */
  recvErr?: boolean;
  rcvbufBytes?: number;
  /** Send buffer; default BACKPRESSURE_SNDBUF_BYTES with backpressure, else 4 MiB. */
  sndbufBytes?: number;
  /**
   * The send socket stops at a full send buffer and reports the unsent tail (`unsent`,
   * `whenWritable`) instead of dropping it; default on unless PMT_NO_BACKPRESSURE=1.
   */
  backpressure?: boolean;
  /**
   * `wan_send packet`: also open an AF_PACKET send socket (`packetPath`), used once the control
   * plane resolved the next hop (control/wan-next-hop.ts); default false.
   */
  packetSend?: boolean;
  /**
   * `packet_receive`: also read protocol 41 to `dsts` (unsigned IPv4s) on each of `devices`
   * through an AF_PACKET socket that keeps GRO's super-packets whole with their segment size
   * (native/split.c openPacketRx4). Only with the nft netdev rule that drops the same packets
   * before the IP stack (control/packet-receive.ts), else each arrives twice.
   */
  packetReceive?: { devices: readonly string[]; dsts: readonly number[] };
  binding?: NativeBinding;
}

/**
 * Send buffer of the protocol-41 send socket with backpressure (the kernel doubles it: 512 KiB of
 * sk_wmem, 632 packets of a 64-byte UDP flood at about 830 bytes of truesize each, measured on
 * Linux 6.18, or about 220 of 1500 bytes). It becomes writable again at half (316 packets, 37 ms
 * of a 10 Mbit/s link), which is the slack the loop has to resume before the queue runs dry. A packet stays charged to the socket while it waits in the WAN qdisc and the
 * driver's ring, so the socket fills before a qdisc of 1000 packets (pfifo_fast, txqueuelen
 * 1000; fq_codel holds 10240) and the excess waits here, not in a queue that drops it after we
 * paid for it. Measured: docs/native-addon.md#backpressure-on-the-wan.
 */
export const BACKPRESSURE_SNDBUF_BYTES = 256 * 1024;

/** The next hop of sendRaw4's AF_PACKET path (native/sockets.c NEXT_HOP_BYTES). */
const NEXT_HOP_BYTES = 20;
/** native/sockets.c NEXT_HOP_MAX_INTERVALS. */
const NEXT_HOP_MAX_INTERVALS = 4096;

/** The 20-byte head of sendRaw4's next hop (see PacketPath.nextHop) into b[0, 20). */
function writeNextHop(b: Uint8Array, dstV4: number, ifindex: number, lladdr: Uint8Array): void {
  if (lladdr.length > 8) throw new RangeError(`link-layer address of ${lladdr.length} bytes`);
  const v = new DataView(b.buffer, b.byteOffset, NEXT_HOP_BYTES);
  b.fill(0, 0, NEXT_HOP_BYTES);
  v.setUint32(0, dstV4 >>> 0, false);
  v.setUint32(4, ifindex >>> 0, endianness() === "LE");
  b[8] = lladdr.length;
  b.set(lladdr, 12);
}

/** io/ports.ts PacketSendPath over an `openPacket4` socket; sendRaw4 reads `nextHop`. */
class PacketPath implements PacketSendPath {
  /**
   * [0, 4) destination (network order), [4, 8) ifindex (host order), [8] length, [12, ..)
   * address; with `setIntervals`, then the intervals as uint32 pairs (host order).
   */
  nextHop: Uint8Array = new Uint8Array(NEXT_HOP_BYTES);
  /** `set`'s bytes, reused on every resolve. */
  private readonly head = this.nextHop;
  active = false;
  lastError = "";
  private failureHandler: ((code: string) => void) | undefined;

  constructor(
    readonly fd: number,
    /**
     * Where the packets sent over AF_PACKET are counted: one Float64 of the owner's (a relay
     * worker's in shared memory, so the main thread reads it exact at any time).
     */
    private readonly count: Float64Array = new Float64Array(1),
  ) {}

  get packets(): number {
    return this.count[0]!;
  }

  /** After a send: `n` packets left over AF_PACKET. */
  sent(n: number): void {
    this.count[0]! += n;
  }

  set(dstV4: number, ifindex: number, lladdr: Uint8Array): void {
    writeNextHop(this.head, dstV4, ifindex, lladdr);
    this.nextHop = this.head;
    this.active = true;
  }

  setIntervals(intervals: Uint32Array, ifindex: number, lladdr: Uint8Array): void {
    const n = intervals.length >>> 1;
    if (n === 0 || n > NEXT_HOP_MAX_INTERVALS || intervals.length % 2 !== 0) {
      throw new RangeError(`${intervals.length / 2} intervals (1 to ${NEXT_HOP_MAX_INTERVALS})`);
    }
    const b = new Uint8Array(NEXT_HOP_BYTES + 8 * n);
    writeNextHop(b, 0, ifindex, lladdr);
    new Uint32Array(b.buffer, NEXT_HOP_BYTES, 2 * n).set(intervals); // host order, as C reads
    this.nextHop = b;
    this.active = true;
  }

  clear(): void {
    this.active = false;
  }

  /** Set by rawOnce, cleared by the next writeBatch (which then ignores this path). */
  rawNext = false;

  rawOnce(): void {
    this.rawNext = true;
  }

  onFailure(handler: (code: string) => void): void {
    this.failureHandler = handler;
  }

  /** After a send whose AF_PACKET part failed with `code`: off, and tell the owner once. */
  failed(code: string): void {
    this.active = false;
    this.lastError = code;
    const h = this.failureHandler;
    if (h !== undefined) setImmediate(() => h(code));
  }
}

class LinuxIpv4Raw extends LinuxPort implements Ipv4RawSocket {
  constructor(
    binding: NativeBinding,
    fd: number,
    /** Send-only IPPROTO_RAW socket (see openIpv4Raw). */
    private readonly sendFd: number,
    label: string,
    backpressure: boolean,
    /** `wan_send packet`: the AF_PACKET socket (openPacket4), else -1. */
    packetFd = -1,
    /** `packet_receive`: AF_PACKET receive sockets (openPacketRx4), polled beside `fd`. */
    private readonly packetRxFds: readonly number[] = [],
    /** `wan_send packet`: where the packets sent over AF_PACKET are counted (PacketPath). */
    packetCount?: Float64Array,
  ) {
    super(binding, fd, label);
    if (backpressure) this.unsent = { entry: -1, segment: 0, packets: 0, full: false };
    if (packetFd >= 0) this.packetPath = new PacketPath(packetFd, packetCount);
  }

  readonly unsent: SendTail | undefined;
  readonly packetPath: PacketPath | undefined;
  /** Write readiness of the raw send socket and of the AF_PACKET socket. */
  private writable: WritableHandle | undefined;
  private packetWritable: WritableHandle | undefined;
  private onWritable: (() => void) | undefined;
  /** The last send's tail was left by the AF_PACKET socket: wait for that one. */
  private tailOnPacket = false;

  whenWritable(handler: () => void): void {
    if (this.closed) return;
    this.onWritable = handler;
    const fire = (): void => {
      const h = this.onWritable;
      this.onWritable = undefined;
      if (h !== undefined && !this.closed) h();
    };
    if (this.tailOnPacket && this.packetPath !== undefined) {
      this.packetWritable ??= this.binding.writableStart(this.packetPath.fd, fire);
      this.binding.writableArm(this.packetWritable);
      return;
    }
    this.writable ??= this.binding.writableStart(this.sendFd, fire);
    this.binding.writableArm(this.writable);
  }

  private sendFdOpen = true;

  /** Pollers of `packetRxFds`, started by onBatch. */
  private readonly rxHandles: PollHandle[] = [];

  override stats(): PortStats {
    const s = super.stats();
    for (const h of this.rxHandles) {
      const p = this.binding.pollStats(h);
      s.rxPackets += p.packets;
      s.rxBatches += p.batches;
      s.rxTruncated += p.truncated;
      s.wanGroMerged += p.wanGroMerged;
      s.wanGroUnusable += p.wanGroUnusable;
      s.pollRestarts += p.restarts;
    }
    return s;
  }

  override close(): void {
    const wasOpen = this.sendFdOpen;
    super.close();
    if (wasOpen) {
      for (const h of this.rxHandles) this.binding.pollClose(h);
      for (const f of this.packetRxFds) {
        try {
          this.binding.close(f);
        } catch {
          // Already invalid: nothing left to release.
        }
      }
    }
    if (this.writable !== undefined) this.binding.writableClose(this.writable);
    if (this.packetWritable !== undefined) this.binding.writableClose(this.packetWritable);
    this.onWritable = undefined;
    if (!this.sendFdOpen) return;
    this.sendFdOpen = false;
    for (const fd of this.packetPath !== undefined
      ? [this.sendFd, this.packetPath.fd]
      : [this.sendFd]) {
      try {
        this.binding.close(fd);
      } catch {
        // Already invalid: nothing left to release.
      }
    }
  }

  onBatch(ring: Ipv4RxRing, handler: Ipv4BatchHandler): void {
    this.startOnce();
    const { bufs, sizes, srcs } = ring;
    // Where GRO merged a packet on the way in: the size to cut it at again (complete_gro_6in4).
    const gso = new Int32Array(bufs.length);
    this.handle = this.binding.pollStart(
      this.fd,
      POLL_KIND_RAW4,
      bufs,
      ring.offset,
      sizes,
      srcs,
      gso,
      (count) => handler(bufs, sizes, count, srcs, gso),
      this.onNativeError,
    );
    const slot = bufs[0]?.length ?? 0;
    for (const fd of this.packetRxFds) {
      const r = createIpv4RxRing(bufs.length, slot, ring.offset);
      const gso = new Int32Array(bufs.length);
      let h: PollHandle | undefined;
      // Never the port's end: when its device is gone, the raw socket still receives (and
      // packet_receive's watch takes the device out of the nft table). Only this poller stops.
      const onPacketError = (e: Error): void => {
        const err = toIoError(e);
        if (err.errnoClass === "wait") return;
        if (err.errnoClass === "gone" && h !== undefined && !this.closed) {
          this.binding.pollClose(h);
        }
        const degraded = Object.assign(new Error(`${this.label} packet_receive: ${err.message}`), {
          code: err.code,
          errno: err.errno,
          errnoClass: "degrade" as const,
        });
        this.errorHandler?.(degraded);
      };
      h = this.binding.pollStart(
        fd,
        POLL_KIND_PACKET4,
        r.bufs,
        r.offset,
        r.sizes,
        r.srcs,
        gso,
        (count) => handler(r.bufs, r.sizes, count, r.srcs, gso),
        onPacketError,
      );
      this.rxHandles.push(h);
    }
  }

  onIcmpErrors(ring: IcmpErrorRing, handler: (count: number) => void): void {
    if (this.handle === undefined) throw new Error(`${this.label}: onIcmpErrors before onBatch`);
    this.binding.pollErrQueue(this.handle, ring.buf, ring.meta, handler);
  }

  writeBatch(
    bufs: readonly Uint8Array[],
    offsets: ArrayLike<number>,
    sizes: ArrayLike<number>,
    count: number,
    gso?: Int32Array | null,
    first = 0,
    skip = 0,
  ): number {
    const tail = this.unsent;
    if (tail !== undefined) tail.entry = -1;
    if (this.closed || count <= 0) return 0;
    const st = this.status;
    st[3] = -1;
    const offs = this.int32(offsets, count, "offsets");
    const lens = this.int32(sizes, count, "sizes");
    const slab = this.slabOffsets(bufs, offs, lens, count);
    const pp = this.packetPath;
    const viaPacket = pp !== undefined && pp.active && !pp.rawNext;
    if (pp !== undefined) pp.rawNext = false;
    st[6] = st[7] = st[8] = 0;
    const sent = this.binding.sendRaw4(
      this.sendFd,
      bufs,
      offs,
      lens,
      null,
      count,
      st,
      gso ?? null,
      first,
      skip,
      slab,
      this.slabAbs,
      viaPacket ? pp.fd : null,
      viaPacket ? pp.nextHop : null,
    );
    let kept = 0;
    if (tail !== undefined && (st[3] as number) >= 0) {
      tail.entry = st[3] as number;
      tail.segment = st[4] as number;
      tail.packets = kept = st[5] as number;
      tail.full = this.binding.errnoName(st[0] as number) !== "ENOBUFS";
    }
    if (viaPacket) {
      pp.sent(st[7] as number);
      this.tailOnPacket = st[8] === 1;
      if (st[6] !== 0) pp.failed(this.binding.errnoName(st[6] as number));
    } else {
      this.tailOnPacket = false;
    }
    this.afterSend(sent, kept);
    return sent;
  }
}

/**
 * Opens a raw IPv4 socket for protocol 41 with IP_HDRINCL (see file comment), plus a send-only
 * IPPROTO_RAW socket with the same device and buffer that writeBatch uses. The kernel never
 * delivers to an IPPROTO_RAW socket and nothing polls it, so a sent packet freed downstream
 * (sock_wfree) finds no waiter to wake; on the polled receive socket every freed packet took the
 * wait-queue lock to tell epoll about write space it never asked for. ICMP errors about sent
 * packets still reach the protocol-41 socket (raw sockets match them by protocol and address).
 * Both sockets use IP_PMTUDISC_OMIT (static tunnel MTU, see IP_PMTUDISC_OMIT above).
 */
export function openIpv4Raw(options: Ipv4RawOptions = {}): Ipv4RawSocket {
  const b = options.binding ?? loadNative();
  const fds = openIpv4RawFds(options);
  return adoptIpv4Raw(fds, b);
}

/** The two fds of a protocol-41 port (`openIpv4Raw`), to hand to a relay worker. */
export interface Ipv4RawFds {
  fd: number;
  sendFd: number;
  label: string;
  /** The send socket was opened for backpressure (IP_RECVERR, a queue-sized buffer). */
  backpressure: boolean;
  /** `packetSend`: the AF_PACKET send socket (native/packet.c openPacket4). */
  packetFd?: number;
  /** `packetReceive`: one AF_PACKET receive socket per device (native/split.c openPacketRx4). */
  packetRxFds?: number[];
}

/**
 * A worker's share of the inbound protocol 41 (`openIpv4RawFds`): worker `index` of `count`.
 * `fanout`, shared by the calls of one set of workers: the PACKET_FANOUT group of each
 * packet_receive device (filled by the first worker's call; -1 where the kernel made none, and
 * the sockets then share by outer source as the raw sockets do).
 */
export interface RawSplit {
  index: number;
  count: number;
  fanout?: Map<string, number>;
}

/** openPacketRx4's `fanout` that makes a new group. */
const FANOUT_NEW = -2;

/**
 * One packet_receive socket on `dev` (native/split.c openPacketRx4). Workers with a `fanout`
 * map share each device's packets through one PACKET_FANOUT group (each frame reaches one
 * socket; the kernel's flow hash keeps a flow on one worker); without it, where the kernel
 * refuses the group, or with PMT_NO_PACKET_FANOUT=1, each socket's filter takes its worker's
 * share by outer source.
 */
function openPacketRx(
  b: NativeBinding,
  dev: string,
  dsts: Uint32Array,
  split: RawSplit | undefined,
  rcvbuf: number,
): number {
  const index = split?.index ?? 0;
  const count = split?.count ?? 1;
  const groups = split?.fanout;
  if (count <= 1 || groups === undefined || !nativeIoOptions().packetFanout) {
    return b.openPacketRx4(dev, dsts, index, count, rcvbuf, -1);
  }
  const known = groups.get(dev);
  if (known !== undefined) return b.openPacketRx4(dev, dsts, index, count, rcvbuf, known);
  let fd: number;
  try {
    fd = b.openPacketRx4(dev, dsts, index, count, rcvbuf, FANOUT_NEW);
  } catch {
    groups.set(dev, -1);
    return b.openPacketRx4(dev, dsts, index, count, rcvbuf, -1);
  }
  groups.set(dev, b.packetFanout(fd));
  return fd;
}

/**
 * `openIpv4Raw` without the port object: the relay opens its workers' sockets in the main thread
 * (before the privilege drop) and each worker adopts its pair (`adoptIpv4Raw`). With `split`,
 * the receiving socket keeps only the packets of worker `split.index` of `split.count`
 * (native/split.c, dataplane/relay-split.ts).
 */
export function openIpv4RawFds(options: Ipv4RawOptions = {}, split?: RawSplit): Ipv4RawFds {
  const b = options.binding ?? loadNative();
  const proto = options.protocol ?? PROTO_6IN4;
  const bind = (options.bindAddress ?? 0) >>> 0;
  const device = options.device ?? "";
  const backpressure = options.backpressure ?? nativeIoOptions().backpressure;
  const sndbuf =
    options.sndbufBytes ?? (backpressure ? BACKPRESSURE_SNDBUF_BYTES : DEFAULT_SOCKET_BUFFER_BYTES);
  const fd = b.openRaw4(
    proto,
    bind,
    device,
    true,
    options.recvErr ?? false,
    options.rcvbufBytes ?? DEFAULT_SOCKET_BUFFER_BYTES,
    options.sndbufBytes ?? DEFAULT_SOCKET_BUFFER_BYTES,
    IP_PMTUDISC_OMIT,
  );
  let sendFd: number;
  try {
    if (split !== undefined) b.splitRaw4(fd, split.index, split.count);
    // IP_RECVERR with backpressure: a packet the qdisc drops then fails with ENOBUFS instead
    // of passing for sent (raw_send_hdrinc hides ENOBUFS otherwise). Nothing reaches this
    // socket's error queue but local errors (EMSGSIZE), bounded by its receive buffer.
    sendFd = b.openRaw4(IPPROTO_RAW, bind, device, true, backpressure, 0, sndbuf, IP_PMTUDISC_OMIT);
  } catch (e) {
    b.close(fd);
    throw e;
  }
  let packetFd = -1;
  const packetRxFds: number[] = [];
  try {
    if (options.packetSend === true) packetFd = b.openPacket4(sndbuf);
    const rx = options.packetReceive;
    for (const dev of rx?.devices ?? []) {
      const dsts = Uint32Array.from(rx!.dsts, (d) => d >>> 0);
      try {
        packetRxFds.push(
          openPacketRx(b, dev, dsts, split, options.rcvbufBytes ?? DEFAULT_SOCKET_BUFFER_BYTES),
        );
      } catch (e) {
        (e as Error).message = `packet_receive ${dev}: ${(e as Error).message}`;
        throw e;
      }
    }
  } catch (e) {
    for (const f of [...packetRxFds, packetFd, sendFd, fd]) if (f >= 0) b.close(f);
    throw e;
  }
  const where = options.device ? ` on ${options.device}` : "";
  const part = split !== undefined ? ` (worker ${split.index + 1}/${split.count})` : "";
  const label = `raw4 proto ${proto}${where}${part}`;
  return {
    fd,
    sendFd,
    label,
    backpressure,
    ...(packetFd >= 0 ? { packetFd } : {}),
    ...(packetRxFds.length > 0 ? { packetRxFds } : {}),
  };
}

/**
 * The IPv4 routes that meet `ranges` ([first, last] pairs), read in a thread of libuv's pool
 * (native/packet.c routeDump4Async): `done(null, routes, read)`, routes null when the table has
 * more than `max`; `done(err)` when the dump failed.
 */
export function dumpRoutes4(
  max: number,
  ranges: Uint32Array,
  done: (err: Error | null, routes: Uint32Array | null, read: number) => void,
  binding?: NativeBinding,
): void {
  (binding ?? loadNative()).routeDump4Async(max, ranges, done);
}

/** Route and next-hop neighbour for `dst` (native/packet.c nextHop4); null: no route. */
export function resolveNextHop4(dst: number, oif: number, binding?: NativeBinding) {
  return (binding ?? loadNative()).nextHop4(dst >>> 0, oif);
}

/** Marks the neighbour entry `addr` on `ifindex` used: a STALE one is probed again. */
export function neighbourUse4(ifindex: number, addr: number, binding?: NativeBinding): void {
  (binding ?? loadNative()).neighUse4(ifindex, addr >>> 0);
}

/**
 * Watches the kernel's link, IPv4 address, route, rule and neighbour changes (native/packet.c
 * openRouteEvents, routeEvents; ports.ts WatchRouteEvents). Throws when the socket cannot open.
 */
export function watchRouteEvents(
  onChange: (mask: number) => void,
  filter: RouteEventFilter,
  onError: (e: Error) => void,
  binding?: NativeBinding,
): RouteEventWatch {
  const b = binding ?? loadNative();
  const fd = b.openRouteEvents();
  let closed = false;
  let w: WritableHandle | undefined;
  const close = (): void => {
    if (closed) return;
    closed = true;
    if (w !== undefined) b.writableClose(w);
    b.close(fd);
  };
  try {
    w = b.readableStart(fd, () => {
      if (closed) return;
      let mask: number;
      try {
        mask = b.routeEvents(fd, filter.neighIfindex(), filter.routeRanges());
      } catch (e) {
        // Unreadable: stop, or the level-triggered watch would call again at once.
        close();
        onError(e as Error);
        return;
      }
      if (mask !== 0) onChange(mask);
    });
  } catch (e) {
    close();
    throw e;
  }
  return { close };
}

/** if_nametoindex; throws ENODEV when absent. */
export function ifIndexOf(name: string, binding?: NativeBinding): number {
  return (binding ?? loadNative()).ifIndex(name);
}

/** Closes an fd opened by `openTunQueues` / `openIpv4RawFds` that no port owns; false if it was
 * already closed. */
export function closeFd(fd: number, binding?: NativeBinding): boolean {
  try {
    (binding ?? loadNative()).close(fd);
    return true;
  } catch {
    return false;
  }
}

/** Offload counters of a TUN queue fd (whichever thread of the process reads it), else null. */
export function tunQueueOffloadStats(fd: number, binding?: NativeBinding): TunOffloadStats | null {
  return (binding ?? loadNative()).tunOffloadStats(fd);
}

/**
 * The port over fds opened by `openIpv4RawFds` (in this thread or another of the process);
 * `packetCount`: where `wan_send packet` counts its packets (a Float64 of shared memory).
 */
export function adoptIpv4Raw(
  fds: Ipv4RawFds,
  binding?: NativeBinding,
  packetCount?: Float64Array,
): Ipv4RawSocket {
  const b = binding ?? loadNative();
  return new LinuxIpv4Raw(
    b,
    fds.fd,
    fds.sendFd,
    fds.label,
    fds.backpressure,
    fds.packetFd ?? -1,
    fds.packetRxFds ?? [],
    packetCount,
  );
}

/** ff02::1 all-nodes and ff02::2 all-routers (RFC 4291 §2.7.1). */
export const ALL_NODES = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
export const ALL_ROUTERS = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2]);

export interface IcmpV6Options {
  /**
   * Interface to bind to (the LAN bridge), for Neighbor Discovery. Absent or "": an unbound
   * socket for echo (the health probe), which the routing table sends out and which keeps the
   * kernel's hop limits and joins no group.
   */
  device?: string;
  /** ICMPv6 types to receive (ICMP6_FILTER), e.g. [133] for Router Solicitation. */
  passTypes: number[];
  /** Multicast groups to join on `device` (default ff02::1 and ff02::2; none when unbound). */
  groups?: Uint8Array[];
  /**
   * Echo sockets: an identifier 0..65535. A socket filter in the kernel then passes only echo
   * replies that carry it; every other message is dropped before it wakes the daemon.
   */
  echoIdentifier?: number;
  binding?: NativeBinding;
}

class LinuxIcmpV6 extends LinuxPort implements IcmpV6Socket {
  constructor(
    binding: NativeBinding,
    fd: number,
    readonly device: string,
    readonly ifindex: number,
  ) {
    super(binding, fd, `icmp6 ${device === "" ? "(unbound)" : device}`);
  }

  onBatch(ring: Icmpv6RxRing, handler: (ring: Icmpv6RxRing, count: number) => void): void {
    this.startOnce();
    const meta = new Int32Array(2 * ring.bufs.length);
    const { hopLimits, ifindexes } = ring;
    this.handle = this.binding.pollStart(
      this.fd,
      POLL_KIND_ICMP6,
      ring.bufs,
      ring.offset,
      ring.sizes,
      ring.srcs,
      meta,
      (count) => {
        for (let i = 0; i < count; i++) {
          hopLimits[i] = meta[2 * i] as number;
          ifindexes[i] = meta[2 * i + 1] as number;
        }
        handler(ring, count);
      },
      this.onNativeError,
    );
  }

  send(
    buf: Uint8Array,
    offset: number,
    length: number,
    dst: Uint8Array,
    dstOffset: number,
  ): boolean {
    if (this.closed) return false;
    try {
      this.binding.sendIcmp6(this.fd, buf, offset, length, dst, dstOffset, this.ifindex);
      this.status[1] = 0;
      this.status[2] = 0;
      this.afterSend(1);
      return true;
    } catch (e) {
      this.failedSend(e);
      return false;
    }
  }
}

/**
 * Opens a raw ICMPv6 socket on `device` for Neighbor Discovery (hop limit 255), or, without a
 * device, an unbound one for echo (ifindex 0: sends follow the routing table).
 */
export function openIcmpV6(options: IcmpV6Options): IcmpV6Socket {
  const b = options.binding ?? loadNative();
  const device = options.device ?? "";
  const ifindex = device === "" ? 0 : b.ifIndex(device);
  const groups = device === "" ? [] : (options.groups ?? [ALL_NODES, ALL_ROUTERS]);
  const packed = new Uint8Array(16 * groups.length);
  groups.forEach((g, i) => packed.set(g.subarray(0, 16), 16 * i));
  const fd = b.openIcmp6(device, packed, options.passTypes, options.echoIdentifier);
  return new LinuxIcmpV6(b, fd, device, ifindex);
}

/**
 * Runs `fn` with the calling thread switched into the network namespace at `nsPath` (e.g.
 * /run/netns/<name>) and switches back afterwards, also when `fn` throws. Devices and sockets
 * opened inside stay in that namespace for life. For tests and the lab; a daemon is started
 * inside its namespace (`ip netns exec`) instead.
 */
export function inNetns<T>(nsPath: string, fn: () => T, binding?: NativeBinding): T {
  const b = binding ?? loadNative();
  const home = openSync("/proc/thread-self/ns/net", "r");
  try {
    const target = openSync(nsPath, "r");
    try {
      b.setNetns(target);
    } finally {
      closeSync(target);
    }
    try {
      return fn();
    } finally {
      b.setNetns(home);
    }
  } finally {
    closeSync(home);
  }
}

/** Interface index of `name` (if_nametoindex); throws an Error with code ENODEV when absent. */
export function interfaceIndex(name: string, binding?: NativeBinding): number {
  return (binding ?? loadNative()).ifIndex(name);
}

/** One feature's state from ethtoolFeatures: unknown to the kernel, or active / changeable. */
export type NetdevFeature =
  { known: false } | { known: true; active: boolean; changeable: boolean };

/**
 * Reads, and with `want` (name -> on/off) first changes, netdev features of `device` by their
 * ethtool names (`ethtool -k` / `-K` without the ethtool binary, which OpenWrt lacks).
 * Throws an Error with the errno code (ENODEV when the device is gone).
 */
export function netdevFeatures(
  device: string,
  names: readonly string[],
  want?: ReadonlyMap<string, boolean>,
  binding?: NativeBinding,
): Map<string, NetdevFeature> {
  const w = want ? Int32Array.from(names, (n) => (want.has(n) ? (want.get(n) ? 1 : 0) : -1)) : null;
  const v = (binding ?? loadNative()).ethtoolFeatures(device, names, w);
  return new Map(
    names.map((n, i) => {
      const x = v[i] ?? -1;
      const f: NetdevFeature =
        x < 0
          ? { known: false }
          : { known: true, active: (x & 1) !== 0, changeable: (x & 2) !== 0 };
      return [n, f];
    }),
  );
}

/**
 * The devices directly below `device`: sysfs `lower_<name>` links (the real device under a VLAN
 * or a macvlan, a DSA port's conduit, a bond's members). [] when it has none or sysfs cannot be
 * read. `ip netns exec` mounts the namespace's own sysfs, so this sees the daemon's namespace.
 */
export function lowerDevices(device: string, sysClassNet = "/sys/class/net"): string[] {
  if (device === "" || device.includes("/") || device === "." || device === "..") return [];
  try {
    return readdirSync(`${sysClassNet}/${device}`)
      .filter((n) => n.startsWith("lower_"))
      .map((n) => n.slice("lower_".length))
      .sort();
  } catch {
    return [];
  }
}

/** Sets or clears IFF_UP on `name` (e.g. a TUN opened with `up: false` once it is configured). */
export function setLinkUp(name: string, up: boolean, binding?: NativeBinding): void {
  (binding ?? loadNative()).setUp(name, up);
}
