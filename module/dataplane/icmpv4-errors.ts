/**
 * ICMPv4 errors about our own protocol-41 packets (RFC 4213 §3.4). The raw socket is opened with
 * IP_RECVERR, so the kernel queues every ICMPv4 error that quotes one of our packets on it; the
 * native poller reads them in batches (counted by ICMP type and code there) into an
 * IcmpErrorRing, and this path answers them:
 *  1. Only errors that say the tunnel cannot deliver: destination unreachable (all codes but
 *     "fragmentation needed": with the static tunnel MTU of RFC 4213 §3.2.1 DF is clear, so one
 *     can only be spoofed, and the sockets ignore it, io/linux.ts IP_PMTUDISC_OMIT), time
 *     exceeded and parameter problem. Source quench and local errors are only counted.
 *  2. The quoted packet must be ours: IPv4, protocol 41, first fragment, source one of our IPv4
 *     addresses (`ownIpv4s`).
 *  3. It must carry the whole inner IPv6 header (at least source and destination, §3.4: "if
 *     sufficient headers are available"; many older routers quote only 8 bytes), version 6. On a
 *     PMT CPE the translated source in the quote is mapped back to the LAN host's address
 *     (addresses only: the quoted transport checksum is left as it was sent).
 *  4. ICMPv6 Destination Unreachable, code 3 "address unreachable" (§3.4), from `icmpSource` to
 *     the inner source, quoting as much of the inner packet as the ICMPv4 error carried;
 *     rate-limited and checked as every ICMPv6 error we send (icmp-errors.ts), queued for the TUN.
 * Nothing allocated per error: the answers are built in a preallocated pool.
 */
import {
  ICMPV4_DEST_UNREACH,
  ICMPV4_FRAG_NEEDED,
  IPV4_FRAG_OFFSET_MASK,
} from "../codec/constants.js";
import { ICMPV4_PARAM_PROBLEM, ICMPV4_TIME_EXCEEDED } from "../codec/constants.js";
import { ICMPV6_DEST_UNREACH, ICMPV6_DEST_UNREACH_ADDRESS } from "../codec/constants.js";
import { IPPROTO_IPV6, IPV4_MIN_HEADER_BYTES, IPV4_OFF_FLAGS_FRAG } from "../codec/constants.js";
import { IPV4_OFF_PROTO, IPV4_OFF_SRC, IPV4_OFF_VER_IHL } from "../codec/constants.js";
import { IPV6_HEADER_BYTES, IPV6_OFF_SRC, IPV6_VERSION } from "../codec/constants.js";
import { readIpv4I32 } from "../addr/ipv4.js";
import type { PmtMapping } from "../addr/pmt-mapping.js";
import type { IcmpErrorRing } from "../io/ports.js";
import type { DataplaneCounters } from "./counters.js";
import { queueIcmpv6Error } from "./icmp-errors.js";
import { IcmpRateLimiter } from "./icmp-rate-limit.js";
import { ICMP_ERROR_BUFFER_BYTES, ICMP_ERROR_POOL_BUFFERS } from "./tunables.js";
import { PacketPool, TxBatch } from "./tx-batch.js";

/** What the answers need from a daemon's forwarding snapshot. */
export interface TunnelErrorContext {
  readonly enabled: boolean;
  /** Our IPv4 addresses: the sources of what we encapsulate. */
  readonly ownIpv4s: readonly number[];
  /** Source of the ICMPv6 errors we send (16 bytes). */
  readonly icmpSource: Uint8Array;
  /** ICMPv6 errors per second (RFC 4443 §2.4 (f)). */
  readonly icmpRateLimit: number;
  /**
   * CPE in PMT LAN mode (RFC 6732 §3.3): the quote shows the LAN host's source as translated on
   * the way out (2002:V4ADDR:SLA::/64); it is mapped back to the provider /64 before answering.
   * null: quoted sources are answered as they are.
   */
  readonly lanMapping: PmtMapping | null;
}

export class Icmpv4ErrorPath {
  /** ICMPv6 errors for the TUN (alias the pool). */
  readonly toTun = new TxBatch(ICMP_ERROR_POOL_BUFFERS);
  private readonly pool = new PacketPool(ICMP_ERROR_POOL_BUFFERS, ICMP_ERROR_BUFFER_BYTES);
  private limiter: IcmpRateLimiter;
  private rate: number;

  constructor(
    private readonly counters: DataplaneCounters,
    initialRatePerS: number,
    nowMs: number,
  ) {
    this.rate = initialRatePerS;
    this.limiter = new IcmpRateLimiter(initialRatePerS, Math.max(1, initialRatePerS), nowMs);
  }

  /** Answers the `count` errors of one batch of `ring`; afterwards `toTun` holds the ICMPv6 ones. */
  processBatch(ctx: TunnelErrorContext, ring: IcmpErrorRing, count: number, nowMs: number): void {
    this.toTun.clear();
    if (ctx.icmpRateLimit !== this.rate) {
      this.rate = ctx.icmpRateLimit;
      this.limiter = new IcmpRateLimiter(this.rate, Math.max(1, this.rate), nowMs);
    }
    if (!ctx.enabled) return;
    const m = ring.meta;
    for (let i = 0; i < count; i++) {
      const len = m[4 * i + 3]!;
      this.answer(ctx, m[4 * i]!, m[4 * i + 1]!, ring.buf, i * ring.slotBytes, len, nowMs);
    }
  }

  /**
   * Steps 1-4 for one error (type, code) quoting buf[off, off + len); true when an ICMPv6 error
   * was queued.
   */
  answer(
    ctx: TunnelErrorContext,
    type: number,
    code: number,
    buf: Buffer,
    off: number,
    len: number,
    nowMs: number,
  ): boolean {
    // 1.
    if (type === ICMPV4_DEST_UNREACH) {
      if (code === ICMPV4_FRAG_NEEDED) return false;
    } else if (type !== ICMPV4_TIME_EXCEEDED && type !== ICMPV4_PARAM_PROBLEM) {
      return false;
    }
    // 2.
    if (len < IPV4_MIN_HEADER_BYTES || buf[off + IPV4_OFF_VER_IHL]! >>> 4 !== 4) return false;
    const ihl = (buf[off + IPV4_OFF_VER_IHL]! & 0x0f) << 2;
    if (ihl < IPV4_MIN_HEADER_BYTES || buf[off + IPV4_OFF_PROTO] !== IPPROTO_IPV6) return false;
    const frag = (buf[off + IPV4_OFF_FLAGS_FRAG]! << 8) | buf[off + IPV4_OFF_FLAGS_FRAG + 1]!;
    if ((frag & IPV4_FRAG_OFFSET_MASK) !== 0) return false;
    if (!isOwn(ctx.ownIpv4s, readIpv4I32(buf, off + IPV4_OFF_SRC))) return false;
    // 3.
    const v6 = off + ihl;
    const v6len = len - ihl;
    if (v6len < IPV6_HEADER_BYTES || buf[v6]! >>> 4 !== IPV6_VERSION) return false;
    // The LAN host's own address back in the quote (the ring slot is ours to change).
    if (ctx.lanMapping !== null) ctx.lanMapping.sixToFourToProvider(buf, v6 + IPV6_OFF_SRC);
    // 4.
    return queueIcmpv6Error(
      ICMPV6_DEST_UNREACH,
      ICMPV6_DEST_UNREACH_ADDRESS,
      0,
      buf,
      v6,
      v6len,
      ctx.icmpSource,
      this.pool,
      this.toTun,
      this.limiter,
      this.counters,
      nowMs,
    );
  }
}

/**
 * path-steps.ts `includesIpv4`, kept apart: the relay's inbound path calls that one per packet,
 * and the arrays passed here (another element kind) would make its property loads polymorphic.
 */
function isOwn(list: readonly number[], v: number): boolean {
  for (let i = 0; i < list.length; i++) if ((list[i]! | 0) === v) return true;
  return false;
}
