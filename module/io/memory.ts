/**
 * In-process fakes of the ports (as wireguard-go `tun/tuntest` and
 * `conn/bindtest`): `MemoryTun`, `MemoryIpv4Network` (+ its sockets) and `MemoryIcmpV6Socket`
 * implement io/ports.ts exactly as the Linux ports do — caller-owned rings filled at
 * `ring.offset`, one handler call per batch, `writeBatch` copying synchronously and never
 * throwing — so the data plane runs unchanged on them in fast unit tests. They complement, never
 * replace, the network-namespace tests with real kernels.
 *
 * Delivery is asynchronous by default (a setImmediate after the first queued packet, as a
 * kernel would wake the poller); `flush()` delivers synchronously for deterministic tests.
 */
import { internetChecksum, pseudoHeaderSumV6 } from "../codec/checksum.js";
import { makeIoError } from "./io-error.js";
import type {
  Icmpv6RxRing,
  IcmpV6Socket,
  IoError,
  Ipv4RawSocket,
  Ipv4RxRing,
  PortStats,
  RxRing,
  TunDevice,
} from "./ports.js";

const IPV4_OFF_PROTO = 9;
const IPV4_OFF_SRC = 12;
const IPV4_OFF_DST = 16;
const IPV4_MIN_HEADER_BYTES = 20;
/** Upper bound of delivery rounds in one flush: a forwarding loop between fakes must end. */
const MAX_FLUSH_ROUNDS = 10_000;

/** One queued packet: a private copy plus per-kind metadata. */
interface Queued {
  data: Uint8Array;
  src4: number;
  src6: Uint8Array | null;
  hopLimit: number;
  /** TUN: a TCP super-packet's th << 16 | mss (io/ports.ts `RxRing.gso`), else 0. */
  gso?: number;
}

/** State and behaviour shared by the fakes: queue, ring delivery, counters, errors, close. */
abstract class MemoryPort {
  protected readonly queue: Queued[] = [];
  protected ring: RxRing | undefined;
  private errorHandler: ((err: IoError) => void) | undefined;
  private scheduled = false;
  private closedFlag = false;
  private gone = false;
  protected readonly counters: PortStats = {
    rxPackets: 0,
    rxBatches: 0,
    txPackets: 0,
    txDropped: 0,
    lastTxError: "",
    socketErrorsCleared: 0,
    rxTruncated: 0,
    wanGroMerged: 0,
    wanGroUnusable: 0,
    pollRestarts: 0,
  };

  constructor(protected readonly autoDeliver: boolean) {}

  get closed(): boolean {
    return this.closedFlag || this.gone;
  }

  onError(handler: (err: IoError) => void): void {
    this.errorHandler = handler;
  }

  stats(): PortStats {
    return { ...this.counters };
  }

  close(): void {
    this.closedFlag = true;
    this.queue.length = 0;
    this.closedHook();
  }

  /** Packets queued and not yet delivered. */
  get pending(): number {
    return this.queue.length;
  }

  /**
   * Simulates the device or fd disappearing (`ip link del`): reports a "gone" error (EBADFD,
   * as a deleted TUN does) from the event loop; nothing is delivered any more.
   */
  removeDevice(code = "EBADFD", errno = 77): void {
    if (this.closed) return;
    this.gone = true;
    this.queue.length = 0;
    setImmediate(() => {
      if (this.closedFlag) return;
      this.errorHandler?.(makeIoError(code, errno, `${this.describe()}: read: ${code}`));
    });
  }

  /** Delivers every queued packet now, in batches of the ring size; returns packets delivered. */
  flush(): number {
    let delivered = 0;
    while (this.queue.length > 0 && this.ring !== undefined && !this.closed) {
      delivered += this.deliverBatch(this.ring);
    }
    return delivered;
  }

  protected enqueue(q: Queued): void {
    if (this.closed) return;
    this.queue.push(q);
    if (this.autoDeliver && this.ring !== undefined && !this.scheduled) {
      this.scheduled = true;
      setImmediate(() => {
        this.scheduled = false;
        this.flush();
      });
    }
  }

  protected attach(ring: RxRing): void {
    if (this.ring !== undefined) throw new Error(`${this.describe()}: onBatch called twice`);
    if (this.closed) throw new Error(`${this.describe()}: onBatch after close`);
    this.ring = ring;
    if (this.queue.length > 0 && this.autoDeliver) this.enqueueKick();
  }

  private enqueueKick(): void {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(() => {
      this.scheduled = false;
      this.flush();
    });
  }

  /** Copies up to ring size packets into the ring, then calls the handler once. */
  private deliverBatch(ring: RxRing): number {
    const n = Math.min(ring.bufs.length, this.queue.length);
    const batch = this.queue.splice(0, n);
    for (let i = 0; i < n; i++) {
      const q = batch[i] as Queued;
      const buf = ring.bufs[i] as Buffer;
      if (q.data.length > buf.length - ring.offset) {
        ring.sizes[i] = 0; // as the native layer: too big for the buffer -> size 0, dropped
        this.counters.rxTruncated++;
      } else {
        buf.set(q.data, ring.offset);
        ring.sizes[i] = q.data.length;
      }
      if (ring.gso !== undefined) ring.gso[i] = q.gso ?? 0;
      this.fillMeta(i, q);
    }
    this.counters.rxPackets += n;
    this.counters.rxBatches++;
    this.callHandler(n);
    return n;
  }

  protected abstract describe(): string;
  protected abstract fillMeta(i: number, q: Queued): void;
  protected abstract callHandler(count: number): void;
  protected closedHook(): void {}

  /** Packet i of a writeBatch as a view, or null (counted as refused) when out of range. */
  protected checkPacket(
    bufs: readonly Uint8Array[],
    offsets: ArrayLike<number>,
    sizes: ArrayLike<number>,
    i: number,
  ): Uint8Array | null {
    const buf = bufs[i];
    const off = offsets[i] ?? -1;
    const len = sizes[i] ?? -1;
    if (buf === undefined || off < 0 || len <= 0 || off + len > buf.length) {
      this.refuse("EINVAL");
      return null;
    }
    return buf.subarray(off, off + len);
  }

  protected refuse(code: string): void {
    this.counters.txDropped++;
    this.counters.lastTxError = code;
  }
}

/** A fake port with `writeBatch` (TUN, raw IPv4): each packet is checked, then `deliver`ed. */
abstract class MemoryBatchPort extends MemoryPort {
  writeBatch(
    bufs: readonly Uint8Array[],
    offsets: ArrayLike<number>,
    sizes: ArrayLike<number>,
    count: number,
  ): number {
    if (this.closed) return 0;
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const pkt = this.checkPacket(bufs, offsets, sizes, i);
      if (pkt !== null && this.deliver(pkt)) sent++;
    }
    this.counters.txPackets += sent;
    return sent;
  }

  /** One in-range packet (a view): refuse it (`refuse`, false) or take a copy (true). */
  protected abstract deliver(pkt: Uint8Array): boolean;
}

export interface MemoryTunOptions {
  name?: string;
  mtu?: number;
  /** Deliver injected packets on their own (setImmediate); default true. */
  autoDeliver?: boolean;
}

/**
 * A fake TUN device. The test plays the kernel: `inject()` a packet "routed into the TUN" and
 * read what the data plane wrote from `written` (copies) or through `onWrite`.
 */
export class MemoryTun extends MemoryBatchPort implements TunDevice {
  readonly name: string;
  readonly mtu: number;
  /** Copies of every packet the data plane wrote, oldest first (see `takeWritten`). */
  readonly written: Uint8Array[] = [];
  /** Called with a copy of each packet written (e.g. to hand it to another fake). */
  onWrite: ((packet: Uint8Array) => void) | undefined;
  private handler: ((bufs: Buffer[], sizes: Int32Array, count: number) => void) | undefined;

  constructor(options: MemoryTunOptions = {}) {
    super(options.autoDeliver ?? true);
    this.name = options.name ?? "memtun0";
    this.mtu = options.mtu ?? 1480;
  }

  /** Queues a copy of `packet` as if the kernel had routed it into the device. */
  inject(packet: Uint8Array): void {
    this.enqueue({ data: Uint8Array.from(packet), src4: 0, src6: null, hopLimit: -1 });
  }

  /**
   * Queues a TCP super-packet as the kernel hands one to a TUN with offload: one IPv6 packet of
   * up to 64 KiB whose payload the sender's TSO (or GRO) would cut every `mss` bytes; its TCP
   * header at `th`. The ring must take it whole (`RxRing.gso`, as the loops' rings do).
   */
  injectSuper(packet: Uint8Array, mss: number, th = 40): void {
    if (this.ring !== undefined && this.ring.gso === undefined) {
      throw new Error(`${this.describe()}: injectSuper needs a ring with gso`);
    }
    const q = { data: Uint8Array.from(packet), src4: 0, src6: null, hopLimit: -1 };
    this.enqueue({ ...q, gso: (th << 16) | mss });
  }

  /** Returns and forgets the packets written so far. */
  takeWritten(): Uint8Array[] {
    return this.written.splice(0);
  }

  onBatch(ring: RxRing, handler: (bufs: Buffer[], sizes: Int32Array, count: number) => void): void {
    this.handler = handler;
    this.attach(ring);
  }

  protected deliver(pkt: Uint8Array): boolean {
    // A real TUN accepts up to its MTU (the kernel then drops bigger ones); mirror that.
    if (pkt.length > this.mtu) {
      this.refuse("EMSGSIZE");
      return false;
    }
    const copy = Uint8Array.from(pkt);
    this.written.push(copy);
    this.onWrite?.(copy);
    return true;
  }

  protected describe(): string {
    return `memory tun ${this.name}`;
  }

  protected fillMeta(): void {}

  protected callHandler(count: number): void {
    const ring = this.ring as RxRing;
    this.handler?.(ring.bufs, ring.sizes, count);
  }
}

export interface MemoryIpv4NetworkOptions {
  /** Largest IPv4 packet the network carries (bytes); bigger sends are refused. Default 1500. */
  mtu?: number;
  /** Deliver on their own (setImmediate); default true. */
  autoDeliver?: boolean;
}

/**
 * A fake IPv4 network carrying raw protocol-41 packets between `MemoryIpv4Socket`s by the
 * destination in each packet's IPv4 header. An address shared by several sockets behaves as an
 * anycast address: the earliest-opened socket still open receives (stop it, the next takes
 * over, as RFC 3068 routing converges on another relay).
 */
export class MemoryIpv4Network {
  readonly mtu: number;
  readonly autoDeliver: boolean;
  /** Packets sent to an address no open socket holds. */
  undeliverable = 0;
  /**
   * Optional filter seeing every packet in flight (header included); return false to drop it
   * (loss, a firewall, a broken path). Runs before delivery.
   */
  filter: ((packet: Uint8Array, src: number, dst: number) => boolean) | undefined;
  private readonly sockets: MemoryIpv4Socket[] = [];

  constructor(options: MemoryIpv4NetworkOptions = {}) {
    this.mtu = options.mtu ?? 1500;
    this.autoDeliver = options.autoDeliver ?? true;
  }

  /**
   * Opens a socket on the network that receives protocol `protocol` (default 41) packets
   * addressed to any of `addresses` (unsigned 32-bit numbers).
   */
  open(addresses: number | readonly number[], protocol = 41): MemoryIpv4Socket {
    const list = (typeof addresses === "number" ? [addresses] : [...addresses]).map((a) => a >>> 0);
    const s = new MemoryIpv4Socket(this, list, protocol);
    this.sockets.push(s);
    return s;
  }

  /** Delivers until nothing is queued anywhere (bounded); returns packets delivered. */
  flush(): number {
    let total = 0;
    for (let round = 0; round < MAX_FLUSH_ROUNDS; round++) {
      let n = 0;
      for (const s of this.sockets) n += s.flush();
      if (n === 0) break;
      total += n;
    }
    return total;
  }

  /** @internal Routes one packet (a private copy) to the socket holding its destination. */
  route(packet: Uint8Array): void {
    const view = new DataView(packet.buffer, packet.byteOffset, packet.byteLength);
    const src = view.getUint32(IPV4_OFF_SRC);
    const dst = view.getUint32(IPV4_OFF_DST);
    const proto = packet[IPV4_OFF_PROTO] as number;
    if (this.filter !== undefined && !this.filter(packet, src, dst)) return;
    const to = this.sockets.find((s) => !s.closed && s.protocol === proto && s.holds(dst));
    if (to === undefined) {
      this.undeliverable++;
      return;
    }
    to.receive(packet, src);
  }

  /** @internal */
  forget(s: MemoryIpv4Socket): void {
    const i = this.sockets.indexOf(s);
    if (i >= 0) this.sockets.splice(i, 1);
  }
}

/** A raw IPv4 socket on a `MemoryIpv4Network` (IP_HDRINCL semantics, as io/linux.ts). */
export class MemoryIpv4Socket extends MemoryBatchPort implements Ipv4RawSocket {
  private handler:
    ((bufs: Buffer[], sizes: Int32Array, count: number, srcs: Uint32Array) => void) | undefined;

  constructor(
    private readonly network: MemoryIpv4Network,
    readonly addresses: number[],
    readonly protocol: number,
  ) {
    super(network.autoDeliver);
  }

  holds(addr: number): boolean {
    return this.addresses.includes(addr);
  }

  /** As the native sendRaw4: entries with `gso[i]` > 0 go out cut into their TCP segments. */
  override writeBatch(
    bufs: readonly Uint8Array[],
    offsets: ArrayLike<number>,
    sizes: ArrayLike<number>,
    count: number,
    gso?: Int32Array | null,
  ): number {
    if (gso === undefined || gso === null) return super.writeBatch(bufs, offsets, sizes, count);
    if (this.closed) return 0;
    let sent = 0;
    for (let i = 0; i < count; i++) {
      const pkt = this.checkPacket(bufs, offsets, sizes, i);
      if (pkt === null) continue;
      const info = gso[i] ?? 0;
      const segments = info > 0 ? cutEncapsulatedSuper(pkt, info) : [pkt];
      if (segments === null) {
        this.refuse("EINVAL");
        continue;
      }
      for (const seg of segments) if (this.deliver(seg)) sent++;
    }
    this.counters.txPackets += sent;
    return sent;
  }

  /** Queues a packet as received from the network (the header stays, as on a raw socket). */
  receive(packet: Uint8Array, src: number): void {
    this.enqueue({ data: packet, src4: src >>> 0, src6: null, hopLimit: -1 });
  }

  onBatch(
    ring: Ipv4RxRing,
    handler: (bufs: Buffer[], sizes: Int32Array, count: number, srcs: Uint32Array) => void,
  ): void {
    this.handler = handler;
    this.attach(ring);
  }

  protected deliver(pkt: Uint8Array): boolean {
    if (pkt.length < IPV4_MIN_HEADER_BYTES) {
      this.refuse("EINVAL");
      return false;
    }
    if (pkt.length > this.network.mtu) {
      this.refuse("EMSGSIZE"); // as the kernel refuses an IP_HDRINCL packet over the MTU
      return false;
    }
    const copy = Uint8Array.from(pkt);
    // The kernel fills total length and header checksum for IP_HDRINCL; mirror that.
    fillIpv4LengthAndChecksum(copy);
    this.network.route(copy);
    return true;
  }

  protected describe(): string {
    return `memory raw4 ${this.addresses.map(formatV4).join(",")}`;
  }

  protected fillMeta(i: number, q: Queued): void {
    (this.ring as Ipv4RxRing).srcs[i] = q.src4;
  }

  protected callHandler(count: number): void {
    const ring = this.ring as Ipv4RxRing;
    this.handler?.(ring.bufs, ring.sizes, count, ring.srcs);
  }

  protected override closedHook(): void {
    this.network.forget(this);
  }
}

export interface MemoryIcmpV6Options {
  device?: string;
  ifindex?: number;
  autoDeliver?: boolean;
}

/** One ICMPv6 message the fake socket was asked to send (copies). */
export interface SentIcmpV6 {
  data: Uint8Array;
  dst: Uint8Array;
}

/** A fake ND socket: `inject()` an RS "from the LAN", read RAs from `sent`. */
export class MemoryIcmpV6Socket extends MemoryPort implements IcmpV6Socket {
  readonly device: string;
  readonly ifindex: number;
  readonly sent: SentIcmpV6[] = [];
  private handler: ((ring: Icmpv6RxRing, count: number) => void) | undefined;

  constructor(options: MemoryIcmpV6Options = {}) {
    super(options.autoDeliver ?? true);
    this.device = options.device ?? "memlan0";
    this.ifindex = options.ifindex ?? 2;
  }

  /** Queues an ICMPv6 message (from its ICMPv6 header on) from `src` with `hopLimit`. */
  inject(message: Uint8Array, src: Uint8Array, hopLimit = 255): void {
    this.enqueue({
      data: Uint8Array.from(message),
      src4: 0,
      src6: Uint8Array.from(src.subarray(0, 16)),
      hopLimit,
    });
  }

  onBatch(ring: Icmpv6RxRing, handler: (ring: Icmpv6RxRing, count: number) => void): void {
    this.handler = handler;
    this.attach(ring);
  }

  send(
    buf: Uint8Array,
    offset: number,
    length: number,
    dst: Uint8Array,
    dstOffset: number,
  ): boolean {
    if (this.closed) return false;
    if (offset < 0 || length <= 0 || offset + length > buf.length || dstOffset + 16 > dst.length) {
      this.refuse("EINVAL");
      return false;
    }
    this.sent.push({
      data: buf.slice(offset, offset + length),
      dst: dst.slice(dstOffset, dstOffset + 16),
    });
    this.counters.txPackets++;
    return true;
  }

  protected describe(): string {
    return `memory icmp6 ${this.device}`;
  }

  protected fillMeta(i: number, q: Queued): void {
    const ring = this.ring as Icmpv6RxRing;
    if (q.src6 !== null) ring.srcs.set(q.src6, 16 * i);
    ring.hopLimits[i] = q.hopLimit;
    ring.ifindexes[i] = this.ifindex;
  }

  protected callHandler(count: number): void {
    this.handler?.(this.ring as Icmpv6RxRing, count);
  }
}

function fillIpv4LengthAndChecksum(p: Uint8Array): void {
  const ihl = ((p[0] as number) & 0x0f) * 4;
  p[2] = (p.length >>> 8) & 0xff;
  p[3] = p.length & 0xff;
  p[10] = 0;
  p[11] = 0;
  let sum = 0;
  for (let i = 0; i + 1 < ihl && i + 1 < p.length; i += 2) {
    sum += ((p[i] as number) << 8) | (p[i + 1] as number);
  }
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  const c = ~sum & 0xffff;
  p[10] = c >>> 8;
  p[11] = c & 0xff;
}

/**
 * The TCP segments of an encapsulated super-packet (IPv4 header of 20 bytes, then the IPv6
 * packet; `info` = th << 16 | mss), as the native gso_send_seg makes them: sequence numbers
 * advancing, FIN and PSH only on the last, CWR only on the first, every checksum complete, the
 * IPv4 ID stepping by 1 (native/offload.h IPV4_SEGMENT_ID_STEP). Null when the offsets do
 * not fit the packet. Allocates: a test fake, not the data path.
 */
function cutEncapsulatedSuper(p: Uint8Array, info: number): Uint8Array[] | null {
  const th = info >>> 16;
  const mss = info & 0xffff;
  const len6 = p.length - IPV4_MIN_HEADER_BYTES;
  if (p[0] !== 0x45 || mss === 0 || th < 40 || th + 20 > len6) return null;
  if ((p[20] as number) >>> 4 !== 6 || (th === 40 && p[20 + 6] !== 6)) return null;
  const hl = th + ((p[20 + th + 12] as number) >>> 4) * 4;
  if (hl - th < 20 || hl >= len6 || hl > 192) return null;
  const view = new DataView(p.buffer, p.byteOffset, p.length);
  const id0 = view.getUint16(4);
  const seq0 = view.getUint32(20 + th + 4);
  const out: Uint8Array[] = [];
  for (let pos = 0, k = 0; pos < len6 - hl; pos += mss, k++) {
    const seg = Math.min(mss, len6 - hl - pos);
    const s = new Uint8Array(20 + hl + seg);
    s.set(p.subarray(0, 20 + hl));
    s.set(p.subarray(20 + hl + pos, 20 + hl + pos + seg), 20 + hl);
    const v = new DataView(s.buffer);
    v.setUint16(4, (id0 + k) & 0xffff);
    v.setUint16(20 + 4, hl - 40 + seg);
    v.setUint32(20 + th + 4, (seq0 + pos) >>> 0);
    if (pos + seg < len6 - hl) s[20 + th + 13]! &= ~0x09; // FIN, PSH
    if (k > 0) s[20 + th + 13]! &= ~0x80; // CWR
    v.setUint16(20 + th + 16, 0);
    const tl = hl - th + seg;
    const pseudo = pseudoHeaderSumV6(s, 20 + 8, 20 + 24, tl, 6);
    v.setUint16(20 + th + 16, internetChecksum(s, 20 + th, s.length, pseudo));
    out.push(s);
  }
  return out;
}

function formatV4(a: number): string {
  return `${a >>> 24}.${(a >>> 16) & 255}.${(a >>> 8) & 255}.${a & 255}`;
}
