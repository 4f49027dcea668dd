/**
 * Port interfaces between the data plane and the operating system.
 *
 * `dataplane/` and `control/` see packets only through these interfaces; `io/linux.ts` implements
 * them over the native addon (TUN, raw protocol-41 socket, raw ICMPv6 socket) and `io/memory.ts`
 * in-process for unit tests.
 *
 * Buffer ownership, the one rule everything here follows (as wireguard-go `tun.Device`):
 *   - Receive: the CALLER allocates a ring once (io/ring.ts `createRxRing`) and hands it to
 *     `onBatch`. The
 *     port fills `ring.bufs[i]` from byte `ring.offset` and `ring.sizes[i]` for i < count, then
 *     calls the handler once per batch. The data is valid only until the handler returns: the
 *     next batch overwrites the same buffers. Keep a packet longer only by copying it.
 *   - Send: `writeBatch` reads `bufs[i]` from `offsets[i]` for `sizes[i]` bytes, synchronously;
 *     the caller may reuse the buffers as soon as it returns. Nothing is retained.
 *   - Nothing is allocated per packet, on either side.
 *
 * Headroom: packets land at the ring's `offset`. The data plane's TUN rings use
 * dataplane/tunables.ts HEADROOM_BYTES (20) so encapsulation writes the IPv4 header (RFC 4213
 * §3.5, no options) into bytes 0..19 of the same buffer and sends the buffer from offset 0
 * without copying; decapsulation hands the IPv6 packet on as (buffer, offset + IHL).
 *
 * Errors: a port never throws from `writeBatch` or delivers per-packet errors;
 * packets the kernel refuses are counted in `stats()`. Errors that concern the port itself reach
 * the `onError` handler as an `IoError` whose `code` is the errno name and whose `errnoClass`
 * (io/errno.ts) tells the loop what to do: "wait", "gone" (close and stop) or "degrade" (log and
 * continue).
 */
import type { ErrnoClass } from "./errno.js";

import type { TunOffloadStats } from "../native/loader.js";

export type { TunOffloadStats };

/** A receive ring: N caller-owned buffers and one size slot per buffer (see file comment). */
export interface RxRing {
  /** The buffers; packet i is at `bufs[i]` from byte `offset`, `sizes[i]` bytes long. */
  readonly bufs: Buffer[];
  /** Byte length of packet i of the current batch; 0 = truncated by the kernel, drop it. */
  readonly sizes: Int32Array;
  /** Where each packet starts in its buffer (data-plane TUN rings: `HEADROOM_BYTES`; raw IPv4: 0). */
  readonly offset: number;
  /**
   * TUN rings only, optional: with it a TUN with offload hands a TCP super-packet over whole
   * instead of cutting it on read. `gso[i]` = th << 16 | mss (TCP header offset in the IPv6
   * packet, payload bytes per segment) for a super-packet, 0 for a plain packet. Encapsulated
   * as one packet, it is cut while sending (`Ipv4RawSocket.writeBatch` with `gso`).
   */
  readonly gso?: Int32Array;
}

/** Receive ring of a raw IPv4 socket: adds the source address of each packet. */
export interface Ipv4RxRing extends RxRing {
  /** IPv4 source of packet i as an unsigned 32-bit number (as the kernel saw it). */
  readonly srcs: Uint32Array;
}

/**
 * Ring for the ICMPv4 errors about packets a raw IPv4 socket sent (RFC 4213 §3.4; IP_RECVERR):
 * `slots` messages per batch, message i's quoted packet (from its IPv4 header on) at
 * `buf[i * slotBytes, + meta[4i + 3])`, `meta[4i]`, `meta[4i + 1]`, `meta[4i + 2]` its ICMP type,
 * code and info (the next-hop MTU of a "fragmentation needed"); type -1 for an error that did not
 * come from an ICMP message.
 */
export interface IcmpErrorRing {
  readonly buf: Buffer;
  readonly meta: Int32Array;
  readonly slots: number;
  readonly slotBytes: number;
}

/** Receive ring of an ICMPv6 socket: source, hop limit and arrival interface per packet. */
export interface Icmpv6RxRing extends RxRing {
  /** IPv6 source of packet i at bytes 16*i .. 16*i+15. */
  readonly srcs: Uint8Array;
  /** Hop limit the packet arrived with (RFC 4861 §6.1: ND needs 255); -1 if unknown. */
  readonly hopLimits: Int32Array;
  /** Interface index it arrived on. */
  readonly ifindexes: Int32Array;
}

/** An error about a port (not about one packet): errno name, errno number, and its class. */
export interface IoError extends Error {
  /** errno name, e.g. "EBADFD", "ENODEV". */
  readonly code: string;
  /** errno number (positive), 0 if not from the kernel. */
  readonly errno: number;
  /** What the loop does about it (io/errno.ts). */
  readonly errnoClass: ErrnoClass;
}

/** Counters of one port since it was opened (cheap to read, not on the hot path). */
export interface PortStats {
  rxPackets: number;
  rxBatches: number;
  txPackets: number;
  /** Packets handed to writeBatch that the kernel refused or that were dropped (queue full). */
  txDropped: number;
  /** errno name of the most recent send failure, "" if none. */
  lastTxError: string;
  /** Pending socket errors (ICMP errors about packets we sent) cleared; polling continued. */
  socketErrorsCleared: number;
  /** Received packets larger than their buffer (delivered with size 0). */
  rxTruncated: number;
  /** Protocol-41 TCP packets that GRO on the receiving NIC merged, recognised for repair. */
  wanGroMerged: number;
  /** Packets GRO merged that could not be taken apart (UDP under plain GRO); passed on as they are. */
  wanGroUnusable: number;
  /** Times receiving was restarted after the kernel flagged an error (EPOLLERR) on the fd. */
  pollRestarts: number;
  /**
   * Raw IPv4 sockets opened with `recvErr`: ICMPv4 errors about sent packets by kind
   * (snake_case: "host_unreachable", "fragmentation_needed", ...; non-zero ones only).
   */
  icmpErrors?: Record<string, number>;
}

/** Base of every port: a handler for port errors, counters and close. */
export interface Port {
  /**
   * Registers the handler for errors that concern the port itself (device deleted, fd closed,
   * receive failures). Always called from the event loop, never inside `writeBatch`. A "gone"
   * error is final and reported once: the port has stopped receiving; the owner closes it.
   * Without a handler, errors are dropped (a "gone" error still stops the port).
   */
  onError(handler: (err: IoError) => void): void;
  /** Counters since open. */
  stats(): PortStats;
  /**
   * Stops receiving and releases the descriptor. Safe to call inside the batch handler (no
   * further batch is delivered, the current ring stays valid until the handler returns), twice,
   * and after the device was removed from outside. After close, writeBatch returns 0.
   */
  close(): void;
  /** True once close() was called or a "gone" error was reported. */
  readonly closed: boolean;
}

/** A layer-3 TUN device (IFF_TUN | IFF_NO_PI): each packet is one bare IPv6 (or IPv4) packet. */
export interface TunDevice extends Port {
  /** Kernel name of the device, e.g. "6to4pmt0". */
  readonly name: string;
  /** MTU set at open (bytes). */
  readonly mtu: number;
  /** TCP offload over the TUN is on (super-packets cut on read, coalesced on write). */
  readonly offload?: boolean;
  /** Offload counters (null without offload). */
  offloadStats?(): TunOffloadStats | null;
  /**
   * Starts delivering packets into `ring` (use `createRxRing(n, bytes, HEADROOM_BYTES)`), at
   * most `ring.bufs.length` per handler call. Call once; the ring is owned by the caller but must
   * not be replaced or resized while the port is open.
   */
  onBatch(ring: RxRing, handler: (bufs: Buffer[], sizes: Int32Array, count: number) => void): void;
  /**
   * Writes `count` packets: packet i is `bufs[i][offsets[i] .. offsets[i] + sizes[i])`. Returns
   * the number the kernel accepted; the rest are dropped and counted (never throws on I/O).
   * `offsets`/`sizes` are best passed as Int32Array (plain arrays are copied). `gso[i]` > 0:
   * packet i is a TCP packet GRO merged on the way in, written for the kernel to cut into
   * segments of that many payload bytes (the sender's; `Ipv4RawSocket.onBatch`).
   */
  writeBatch(
    bufs: readonly Uint8Array[],
    offsets: ArrayLike<number>,
    sizes: ArrayLike<number>,
    count: number,
    gso?: Int32Array | null,
  ): number;
  /**
   * Stops delivering batches until `resume` (backpressure: the kernel's TUN queue, txqueuelen,
   * drops what the LAN sends meanwhile). Absent where the port cannot.
   */
  pause?(): void;
  resume?(): void;
}

/**
 * Where a batched send stopped because the socket could take no more (backpressure): the
 * unsent tail is `entry` on, `segment` segments of that entry already sent (a cut super-packet),
 * `packets` wire packets in all. `full`: the socket's send buffer was full (EAGAIN; wait for
 * `whenWritable`); else the queue behind it dropped one packet (ENOBUFS; that one is lost and
 * counted, the tail starts after it). `entry` -1: the last send was not stopped so.
 */
export interface SendTail {
  entry: number;
  segment: number;
  packets: number;
  full: boolean;
}

/** What `Ipv4RawSocket.onBatch` calls once per batch (`gso`: see there). */
export type Ipv4BatchHandler = (
  bufs: Buffer[],
  sizes: Int32Array,
  count: number,
  srcs: Uint32Array,
  gso?: Int32Array,
) => void;

/** A raw IPv4 socket for protocol 41 (6in4, RFC 4213 §3.5 / RFC 3056 §5). */
export interface Ipv4RawSocket extends Port {
  /**
   * Starts delivering received packets into `ring` (use `createIpv4RxRing(n, bytes, 0)`). Each
   * packet starts with its full IPv4 header (as the kernel received it); `ring.srcs[i]` is the
   * IPv4 source as an unsigned number. `gso[i]` != 0: packet i is TCP (UDP) that GRO merged,
   * to be cut into segments (datagrams) of that payload size for the TUN's `writeBatch`: the
   * sender's (AF_PACKET's header, or the first segment's under fraglist GRO), or, negated, 1280
   * bytes where the sender's is lost (plain GRO; native complete_gro_6in4); else 0. A port opened
   * with `packetReceive` also delivers the batches of its AF_PACKET sockets, from rings of its
   * own of the same shape.
   */
  onBatch(ring: Ipv4RxRing, handler: Ipv4BatchHandler): void;
  /**
   * Sockets opened with `recvErr` (after `onBatch`): ICMPv4 errors about packets sent are
   * delivered into `ring`, `handler(count)` once per batch, from the event loop. Absent where
   * the port cannot report them.
   */
  onIcmpErrors?(ring: IcmpErrorRing, handler: (count: number) => void): void;
  /**
   * Sends `count` complete IPv4 packets, header included (IP_HDRINCL): packet i is
   * `bufs[i][offsets[i] .. offsets[i] + sizes[i])` and goes to the destination in its header
   * (bytes 16..19). The kernel fills the header checksum and total length (and the ID when 0).
   * `gso[i]` > 0 (see `RxRing.gso`): packet i is an encapsulated TCP super-packet, sent cut into
   * its segments, the IPv4 ID stepping by 1 (IPV4_SEGMENT_ID_STEP) from the one in its header. Returns
   * the number of packets accepted, a cut super-packet counting as its segments; the rest are
   * dropped and counted (never throws on I/O), except, on a port with `unsent`, a tail the
   * socket had no room for: not counted, described by `unsent`, the caller's to send again
   * (`first`, `skip`: start at that entry, that many of its segments already sent).
   */
  writeBatch(
    bufs: readonly Uint8Array[],
    offsets: ArrayLike<number>,
    sizes: ArrayLike<number>,
    count: number,
    gso?: Int32Array | null,
    first?: number,
    skip?: number,
  ): number;
  /**
   * Backpressure (absent, or off with PMT_NO_BACKPRESSURE=1: what the socket refuses is dropped):
   * the tail the last `writeBatch` left unsent (one object, rewritten by every call).
   */
  readonly unsent?: SendTail;
  /** With `unsent`: `handler` runs once, when the socket can take more. */
  whenWritable?(handler: () => void): void;
  /** `wan_send packet`: the AF_PACKET send path beside the raw socket; absent otherwise. */
  readonly packetPath?: PacketSendPath;
}

/**
 * The opt-in WAN send path over AF_PACKET (native/packet.c): packets to the destination (the CPE's
 * relay, control/wan-next-hop.ts) or destinations (the relay's customers routed through one
 * gateway, control/relay-wan-send.ts) whose next hop the control plane resolved go out of its
 * device to its link-layer address, the rest through the raw socket. Off until `set`.
 */
export interface PacketSendPath {
  /**
   * From the next `writeBatch` on, packets to `dstV4` (unsigned) leave device `ifindex` for
   * `lladdr` (empty: a device without link-layer addresses, PPP) over AF_PACKET.
   */
  set(dstV4: number, ifindex: number, lladdr: Uint8Array): void;
  /**
   * From the next `writeBatch` on, packets to destinations in `intervals` ([first, last] pairs of
   * unsigned IPv4 addresses, sorted and disjoint, at most 4096 pairs) leave device `ifindex` for
   * `lladdr` over AF_PACKET (the relay: control/relay-wan-send.ts).
   */
  setIntervals(intervals: Uint32Array, ifindex: number, lladdr: Uint8Array): void;
  /** Everything through the raw socket again. */
  clear(): void;
  /**
   * The next batch goes through the raw socket in full. AF_PACKET passes no netfilter hook, so
   * the firewall's connection tracking never sees those packets; a firewall that admits the
   * relay's packets only as replies (fw4's input: `ct state established`) drops them once the
   * protocol-41 entry is gone (flushed, expired, the firewall restarted). A batch through the
   * raw socket makes or refreshes that entry.
   */
  rawOnce(): void;
  /** Whether `set` is in force (false after `clear` or a failure). */
  readonly active: boolean;
  /** Packets sent over AF_PACKET since open. */
  readonly packets: number;
  /**
   * `handler(code)` runs (from the event loop) when a send over AF_PACKET failed outright
   * (device down or gone, ...): the path has cleared itself and those packets went through the
   * raw socket.
   */
  onFailure(handler: (code: string) => void): void;
}

/** What changed, as a route event watch reports it (native/packet.c routeEvents). */
export const ROUTE_EVENT_ROUTE = 1; // a link, an IPv4 address, route or rule
export const ROUTE_EVENT_NEIGH = 2; // an IPv4 neighbour entry on the watched device
export const ROUTE_EVENT_LOST = 4; // the kernel dropped events: anything may have changed

/** A running watch of the kernel's route and neighbour changes. */
export interface RouteEventWatch {
  /** Stops it for good. */
  close(): void;
}

/** Which changes a route event watch reports, read at each wake-up. */
export interface RouteEventFilter {
  /** Neighbour changes count only on this device (0: any). */
  neighIfindex(): number;
  /**
   * Route changes count only when the route's prefix meets one of these [first, last] pairs of
   * unsigned IPv4 addresses (null: every route); links, addresses and rules always count.
   */
  routeRanges(): Uint32Array | null;
}

/**
 * Starts a watch (io/linux.ts watchRouteEvents): `onChange(mask)` runs from the event loop after
 * each wake-up that saw a change that `filter` lets through; `onError(e)` once if reading fails,
 * and the watch has then closed itself.
 */
export type WatchRouteEvents = (
  onChange: (mask: number) => void,
  filter: RouteEventFilter,
  onError: (e: Error) => void,
) => RouteEventWatch;

/**
 * A raw ICMPv6 socket bound to one interface, for Neighbor Discovery (RS in, RA out), or an
 * unbound one (device "", ifindex 0) for the health probe's echo.
 */
export interface IcmpV6Socket extends Port {
  /** Interface name and index it is bound to ("" and 0 when unbound). */
  readonly device: string;
  readonly ifindex: number;
  /**
   * Starts delivering ICMPv6 messages (from the ICMPv6 header on, no IPv6 header) that passed
   * the type filter given at open into `ring` (use `createIcmpv6RxRing(n, bytes)`).
   */
  onBatch(ring: Icmpv6RxRing, handler: (ring: Icmpv6RxRing, count: number) => void): void;
  /**
   * Sends one ICMPv6 message `buf[offset .. offset + length)` (ICMPv6 header on; the kernel
   * computes the checksum and picks the source address) to the IPv6 address at
   * `dst[dstOffset .. dstOffset + 16)` out of this interface with hop limit 255 (unbound: where
   * the routing table says, with the kernel's hop limit). Returns false
   * (and counts it) when the kernel refused it; never throws on I/O.
   */
  send(
    buf: Uint8Array,
    offset: number,
    length: number,
    dst: Uint8Array,
    dstOffset: number,
  ): boolean;
}
