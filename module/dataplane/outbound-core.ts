/**
 * What the two TUN -> protocol 41 paths (CPE outbound, relay return path) have in common: their
 * reusable batches and ICMP error pool, and the steps that do not depend on who we are:
 *  - `beginBatch`: clear the outputs, follow a changed ICMP rate limit, count the batch.
 *  - `checkIpv6` (steps 2-4 of both flows): IPv6 sanity, hop limit (RFC 4213 §3.3, Time Exceeded),
 *    tunnel MTU (RFC 4213 §3.2.1, Packet Too Big), errors rate-limited (RFC 4443 §2.4 (f)).
 *  - `encapsulate` (step 8): decrement the hop limit, write the 20-byte IPv4 header into the
 *    headroom (protocol 41, DF clear: RFC 4213 §3.2.1 static MTU), queue buf[0, len + 20).
 *
 * One class for both paths (composition, not a base class), and only numbers and buffers as
 * arguments, so every call site stays monomorphic; nothing here allocates per packet.
 */
import { DROP_HOP_LIMIT_EXCEEDED, DROP_IPV6_LENGTH_MISMATCH } from "../addr/drop-reason.js";
import { DROP_IPV6_TRUNCATED, DROP_NONE, DROP_NOT_IPV6 } from "../addr/drop-reason.js";
import { DROP_PACKET_TOO_BIG, DROP_TX_ERROR, type DropReason } from "../addr/drop-reason.js";
import { ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED } from "../codec/constants.js";
import { ICMPV6_TIME_EXCEEDED_HOP_LIMIT, IPPROTO_IPV6 } from "../codec/constants.js";
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
 * Step between the IPv4 IDs of consecutive encapsulated packets. Odd, so the IDs still run through
 * all 65536 values before one repeats (the uniqueness RFC 6864 §4 asks of datagrams without DF,
 * same as a step of 1); not 1, because Linux GRO merges protocol-41 packets of one inner TCP flow
 * whose IDs without DF go up by exactly 1 (sit_offload, inet_gro_flush), and a raw socket then
 * reads one 64 KB packet with a partial inner checksum: most NIC drivers receive through GRO, on
 * the relay and on the CPE's WAN alike (test/integration/wan-gro.test.ts).
 */
export const IPV4_ID_STEP = 0x9e37;

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

  /** @param initialRatePerS ICMP error rate until a snapshot says otherwise */
  constructor(
    private readonly counters: DataplaneCounters,
    initialRatePerS: number,
    nowMs: number,
  ) {
    this.limiterRate = initialRatePerS;
    this.limiter = new IcmpRateLimiter(this.limiterRate, this.limiterRate, nowMs);
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
   */
  checkIpv6(
    buf: Buffer,
    len: number,
    hopLimitDecrement: number,
    tunnelMtu: number,
    icmpSource: Uint8Array,
    nowMs: number,
  ): DropReason {
    const off = HEADROOM_BYTES;
    // 2.
    if (len < IPV6_HEADER_BYTES || off + len > buf.length) return DROP_IPV6_TRUNCATED;
    if (buf[off]! >>> 4 !== IPV6_VERSION) return DROP_NOT_IPV6;
    const payload = (buf[off + IPV6_OFF_PAYLOAD_LEN]! << 8) | buf[off + IPV6_OFF_PAYLOAD_LEN + 1]!;
    if (payload + IPV6_HEADER_BYTES !== len) return DROP_IPV6_LENGTH_MISMATCH;
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
    if (len > tunnelMtu) {
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
  ): DropReason {
    const off = HEADROOM_BYTES;
    buf[off + IPV6_OFF_HOP_LIMIT] = buf[off + IPV6_OFF_HOP_LIMIT]! - hopLimitDecrement;
    const total = len + IPV4_MIN_HEADER_BYTES;
    this.ipv4Id = (this.ipv4Id + IPV4_ID_STEP) & 0xffff;
    writeIpv4Header(buf, 0, total, IPPROTO_IPV6, srcV4, dstV4, ttl, this.ipv4Id, false);
    if (!this.toWire.push(buf, 0, total)) return DROP_TX_ERROR;
    this.counters.traffic[CTR_OUT_PACKETS]!++;
    this.counters.traffic[CTR_OUT_BYTES]! += len;
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
