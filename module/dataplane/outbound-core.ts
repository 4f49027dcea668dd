/**
 * What the two TUN -> protocol 41 paths (CPE outbound, relay return path) have in common: their
 * reusable batches and ICMP error pool, and the steps that do not depend on who we are:
 *  - `beginBatch`: clear the outputs, follow a changed ICMP rate limit, count the batch.
 *  - `checkIpv6` (steps 2-4 of both flows): IPv6 sanity, the kernel's own link-scope multicast
 *    on the TUN (`link_scope_multicast`), hop limit (RFC 4213 §3.3, Time Exceeded), tunnel MTU
 *    (RFC 4213 §3.2.1, Packet Too Big), errors rate-limited (RFC 4443 §2.4 (f)).
 *  - `encapsulate` (step 8): decrement the hop limit, write the 20-byte IPv4 header into the
 *    headroom (protocol 41, DF clear: RFC 4213 §3.2.1 static MTU), queue buf[0, len + 20).
 *
 * One class for both paths (composition, not a base class), and only numbers and buffers as
 * arguments, so every call site stays monomorphic; nothing here allocates per packet.
 */
import { DROP_HOP_LIMIT_EXCEEDED, DROP_IPV6_LENGTH_MISMATCH } from "../addr/drop-reason.js";
import { DROP_IPV6_TRUNCATED, DROP_L4_TRUNCATED } from "../addr/drop-reason.js";
import { DROP_LINK_SCOPE_MULTICAST, DROP_NONE, DROP_NOT_IPV6 } from "../addr/drop-reason.js";
import { DROP_PACKET_TOO_BIG, DROP_TX_ERROR, type DropReason } from "../addr/drop-reason.js";
import { ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED } from "../codec/constants.js";
import { ICMPV6_TIME_EXCEEDED_HOP_LIMIT, IPPROTO_IPV6, IPPROTO_TCP } from "../codec/constants.js";
import { IPV6_OFF_DST, IPV6_OFF_NEXT_HEADER } from "../codec/constants.js";
import { IPV6_HEADER_BYTES, IPV6_OFF_HOP_LIMIT } from "../codec/constants.js";
import { IPV6_OFF_PAYLOAD_LEN, IPV6_VERSION, IPV4_MIN_HEADER_BYTES } from "../codec/constants.js";
import { writeIpv4Header } from "../codec/ipv4.js";
import type { UpperLayer } from "../codec/ipv6.js";
import { CTR_BATCHES_OUT, CTR_OUT_BYTES, CTR_OUT_PACKETS } from "./counters.js";
import type { DataplaneCounters } from "./counters.js";
import { queueIcmpv6Error } from "./icmp-errors.js";
import { IcmpRateLimiter } from "./icmp-rate-limit.js";
import { createUpperLayer } from "./pmt-translate.js";
import { BATCH_SIZE_PACKETS, HEADROOM_BYTES } from "./tunables.js";
import { ICMP_ERROR_BUFFER_BYTES, ICMP_ERROR_POOL_BUFFERS } from "./tunables.js";
import { PacketPool, TxBatch } from "./tx-batch.js";

/**
 * IPv4 IDs of the encapsulated packets, on both daemons (datagrams without DF, RFC 4213 §3.2.1):
 * the segments of a cut TCP super-packet step by 1 (IPV4_SEGMENT_ID_STEP, native/offload.h), one
 * packet to the next by 2. GRO on the receiver's device merges protocol-41 packets of one inner
 * flow only when their IDs without DF rise by exactly 1 (sit_offload, inet_gro_flush): so it
 * merges the segments of one super-packet (the relay reads one packet per up to 64 segments of an
 * upload, the CPE of a download) and never datagrams sent one by one, such as UDP, which a raw
 * socket could not take apart. The IDs only ever rise, by 1 or 2: none repeats within 32768
 * packets (RFC 6864 §4). Measured: docs/performance.md#the-ipv4-id-step.
 */
export const IPV4_ID_STEP = 2;
/** native/offload.h IPV4_SEGMENT_ID_STEP. */
export const IPV4_SEGMENT_ID_STEP = 1;

/** Most IPv6 + extension + TCP header bytes of a super-packet cut while sending (SEG_HDR_MAX). */
const GSO_HEADERS_MAX = 192;

export class OutboundCore {
  /** Encapsulated packets for the raw socket (alias the TUN receive ring). */
  readonly toWire = new TxBatch(BATCH_SIZE_PACKETS);
  /** ICMPv6 errors for the TUN (back to the packets' sources; alias the error pool). */
  readonly toTun = new TxBatch(ICMP_ERROR_POOL_BUFFERS);
  /** Scratch for the PMT translation of the packet in hand. */
  readonly ul: UpperLayer = createUpperLayer();
  private readonly pool = new PacketPool(ICMP_ERROR_POOL_BUFFERS, ICMP_ERROR_BUFFER_BYTES);
  private limiter: IcmpRateLimiter;
  private limiterRate: number;
  private ipv4Id = 0;
  /**
   * The packet in hand, set by `checkIpv6`: packets it becomes on the wire (1, or a TUN
   * super-packet's segments: `RxRing.gso`) and their headers' length (IPv6 + extension + TCP).
   */
  segments = 1;
  private segmentHeaders = 0;

  /** @param initialRatePerS ICMP error rate until a snapshot says otherwise */
  constructor(
    private readonly counters: DataplaneCounters,
    initialRatePerS: number,
    nowMs: number,
  ) {
    this.limiterRate = initialRatePerS;
    this.limiter = new IcmpRateLimiter(this.limiterRate, Math.max(1, this.limiterRate), nowMs);
  }

  /** Empties both outputs, rebuilds the limiter when the snapshot's rate changed, counts the batch. */
  beginBatch(icmpRateLimit: number, nowMs: number): void {
    this.toWire.clear();
    this.toTun.clear();
    if (icmpRateLimit !== this.limiterRate) {
      this.limiterRate = icmpRateLimit;
      this.limiter = new IcmpRateLimiter(this.limiterRate, Math.max(1, this.limiterRate), nowMs);
    }
    this.counters.traffic[CTR_BATCHES_OUT]!++;
  }

  /**
   * Steps 2-4 for the IPv6 packet at buf[HEADROOM_BYTES, + len): sanity, hop limit, tunnel MTU.
   * Time Exceeded / Packet Too Big (MTU = `tunnelMtu`) go from `icmpSource` onto `toTun`.
   * `gso` > 0: a TCP super-packet (th << 16 | mss, `RxRing.gso`), whose segments must fit the
   * tunnel MTU; `segments` tells how many it becomes.
   */
  checkIpv6(
    buf: Buffer,
    len: number,
    hopLimitDecrement: number,
    tunnelMtu: number,
    icmpSource: Uint8Array,
    nowMs: number,
    gso: number,
  ): DropReason {
    const off = HEADROOM_BYTES;
    // 2.
    if (len < IPV6_HEADER_BYTES || off + len > buf.length) return DROP_IPV6_TRUNCATED;
    if (buf[off]! >>> 4 !== IPV6_VERSION) return DROP_NOT_IPV6;
    const payload = (buf[off + IPV6_OFF_PAYLOAD_LEN]! << 8) | buf[off + IPV6_OFF_PAYLOAD_LEN + 1]!;
    if (payload + IPV6_HEADER_BYTES !== len) return DROP_IPV6_LENGTH_MISMATCH;
    // The kernel's own interface- and link-scope multicast on the TUN (MLD reports from ::).
    if (buf[off + IPV6_OFF_DST]! === 0xff && (buf[off + IPV6_OFF_DST + 1]! & 0x0f) <= 2) {
      return DROP_LINK_SCOPE_MULTICAST;
    }
    let wireLen = len;
    this.segments = 1;
    if (gso > 0) {
      // The native layer checked it already (native/offload.c gso_info_ok, the same conditions).
      const th = gso >>> 16;
      const mss = gso & 0xffff;
      const thl = th + 20 <= len ? (buf[off + th + 12]! >>> 4) * 4 : 0;
      const hl = th + thl;
      if (mss === 0 || th < IPV6_HEADER_BYTES || thl < 20 || hl >= len || hl > GSO_HEADERS_MAX) {
        return DROP_L4_TRUNCATED;
      }
      if (th === IPV6_HEADER_BYTES && buf[off + IPV6_OFF_NEXT_HEADER] !== IPPROTO_TCP) {
        return DROP_L4_TRUNCATED;
      }
      this.segments = Math.ceil((len - hl) / mss);
      this.segmentHeaders = hl;
      wireLen = hl + mss;
    }
    // 3.
    const hopLimit = buf[off + IPV6_OFF_HOP_LIMIT]!;
    if (hopLimit <= hopLimitDecrement || hopLimit === 0) {
      this.error(
        ICMPV6_TIME_EXCEEDED,
        ICMPV6_TIME_EXCEEDED_HOP_LIMIT,
        0,
        buf,
        len,
        icmpSource,
        nowMs,
      );
      return DROP_HOP_LIMIT_EXCEEDED;
    }
    // 4.
    if (wireLen > tunnelMtu) {
      this.error(ICMPV6_PACKET_TOO_BIG, 0, tunnelMtu, buf, len, icmpSource, nowMs);
      return DROP_PACKET_TOO_BIG;
    }
    return DROP_NONE;
  }

  /**
   * Step 8: hop limit minus `hopLimitDecrement` (checkIpv6 made sure it stays above 0), IPv4
   * header srcV4 -> dstV4 (signed 32-bit) into the headroom, queue buf[0, len + 20) on `toWire`.
   */
  encapsulate(
    buf: Buffer,
    len: number,
    srcV4: number,
    dstV4: number,
    ttl: number,
    hopLimitDecrement: number,
    gso: number,
  ): DropReason {
    const off = HEADROOM_BYTES;
    buf[off + IPV6_OFF_HOP_LIMIT] = buf[off + IPV6_OFF_HOP_LIMIT]! - hopLimitDecrement;
    const total = len + IPV4_MIN_HEADER_BYTES;
    const n = this.segments;
    this.ipv4Id = (this.ipv4Id + IPV4_ID_STEP) & 0xffff;
    // A super-packet's total length may not fit 16 bits: each segment gets its own when cut.
    writeIpv4Header(buf, 0, total & 0xffff, IPPROTO_IPV6, srcV4, dstV4, ttl, this.ipv4Id, false);
    if (gso <= 0) {
      if (!this.toWire.push(buf, 0, total)) return DROP_TX_ERROR;
      this.counters.traffic[CTR_OUT_PACKETS]!++;
      this.counters.traffic[CTR_OUT_BYTES]! += len;
      return DROP_NONE;
    }
    // Cut while sending even into one segment: its checksum is only begun (TUN offload).
    // Segment k goes out with ID + k * IPV4_SEGMENT_ID_STEP (native/offload.c gso_send_seg).
    this.ipv4Id = (this.ipv4Id + (n - 1) * IPV4_SEGMENT_ID_STEP) & 0xffff;
    if (!this.toWire.push(buf, 0, total, gso, n)) return DROP_TX_ERROR;
    this.counters.traffic[CTR_OUT_PACKETS]! += n;
    this.counters.traffic[CTR_OUT_BYTES]! += len + (n - 1) * this.segmentHeaders;
    return DROP_NONE;
  }

  private error(
    type: number,
    code: number,
    param: number,
    buf: Buffer,
    len: number,
    icmpSource: Uint8Array,
    nowMs: number,
  ): void {
    queueIcmpv6Error(
      type,
      code,
      param,
      buf,
      HEADROOM_BYTES,
      len,
      icmpSource,
      this.pool,
      this.toTun,
      this.limiter,
      this.counters,
      nowMs,
    );
  }
}
