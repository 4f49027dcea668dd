/**
 * CPE outbound path: LAN IPv6 -> TUN -> protocol 41 toward the relay (or a 6to4 peer).
 *
 * Outbound flow (per packet of a TUN read batch; the packet sits at buf[HEADROOM_BYTES, +len)):
 *  1. Forwarding off (no WAN address, 6to4 disabled: RFC 7526 §5) -> drop `no_route`.
 *  2. IPv6 sanity: at least 40 bytes, version 6, payload length matching what the TUN gave.
 *  3. Hop limit (RFC 4213 §3.3): a packet that would leave with hop limit 0 -> ICMPv6 Time
 *     Exceeded to its source, drop. The decrement itself is `state.hopLimitDecrement` (see
 *     forwarding-state.ts: on Linux the kernel has already done it when routing into the TUN).
 *  4. MTU (RFC 4213 §3.2.1, static tunnel MTU): larger than the tunnel MTU -> ICMPv6 Packet Too
 *     Big (MTU = tunnel MTU) to the source, rate-limited, drop. Checked before translation so the
 *     error quotes the packet as the LAN host sent it.
 *  5. PMT LAN mode (RFC 6732 §3.3, Figure 3 reversed): source P:V4ADDR::/64 -> 2002:V4ADDR:SLA::/64
 *     with incremental checksum update; a source outside the mapped /64 stays as it is.
 *  6. Choose the IPv4 destination: 2002::/16 destination and direct 6to4 on -> its embedded IPv4
 *     (RFC 3056 §5.3); anything else -> the relay in use (RFC 3068 anycast by default).
 *  7. RFC 3964 §5.1 encapsulation checks (sanity of both addresses, 2002 source must embed our
 *     IPv4, no native-to-native) and RFC 6324 §3.3 (no off-link source embedding our IPv4).
 *  8. Write the 20-byte IPv4 header into the headroom (protocol 41, DF clear: RFC 4213 §3.2.1
 *     static MTU) and queue buf[0, len + 20) for the batched raw-socket send.
 */
import { DROP_IPV6_LENGTH_MISMATCH, DROP_IPV6_TRUNCATED } from "../addr/drop-reason.js";
import { DROP_HOP_LIMIT_EXCEEDED, DROP_NONE, DROP_NOT_IPV6 } from "../addr/drop-reason.js";
import { DROP_NO_ROUTE, DROP_PACKET_TOO_BIG, DROP_TX_ERROR } from "../addr/drop-reason.js";
import type { DropReason } from "../addr/drop-reason.js";
import { checkEncapsulate } from "../addr/policy.js";
import { embeddedIpv4I32, is6to4 } from "../addr/sixto4.js";
import { ICMPV6_PACKET_TOO_BIG, ICMPV6_TIME_EXCEEDED } from "../codec/constants.js";
import { ICMPV6_TIME_EXCEEDED_HOP_LIMIT, IPPROTO_IPV6 } from "../codec/constants.js";
import { IPV6_HEADER_BYTES, IPV6_OFF_DST, IPV6_OFF_HOP_LIMIT } from "../codec/constants.js";
import { IPV6_OFF_PAYLOAD_LEN, IPV6_VERSION, IPV4_MIN_HEADER_BYTES } from "../codec/constants.js";
import { writeIpv4Header } from "../codec/ipv4.js";
import type { UpperLayer } from "../codec/ipv6.js";
import { CTR_BATCHES_OUT, CTR_OUT_BYTES, CTR_OUT_PACKETS, CTR_TRANSLATED } from "./counters.js";
import type { DataplaneCounters } from "./counters.js";
import type { CpeForwardingState } from "./forwarding-state.js";
import { queueIcmpv6Error } from "./icmp-errors.js";
import { IcmpRateLimiter } from "./icmp-rate-limit.js";
import { createUpperLayer, TRANSLATE_NOT_MAPPED, translateSourceTo6to4 } from "./pmt-translate.js";
import { BATCH_SIZE_PACKETS, HEADROOM_BYTES } from "./tunables.js";
import { ICMP_ERROR_BUFFER_BYTES, ICMP_ERROR_POOL_BUFFERS } from "./tunables.js";
import { PacketPool, TxBatch } from "./tx-batch.js";

/** One direction's reusable scratch: outputs of the last batch plus per-loop state. */
export class CpeOutboundPath {
  /** Encapsulated packets for the raw socket (alias the TUN receive ring). */
  readonly toWire = new TxBatch(BATCH_SIZE_PACKETS);
  /** ICMPv6 errors for the TUN (back to LAN hosts; alias the error pool). */
  readonly toTun = new TxBatch(ICMP_ERROR_POOL_BUFFERS);
  private readonly pool = new PacketPool(ICMP_ERROR_POOL_BUFFERS, ICMP_ERROR_BUFFER_BYTES);
  private readonly ul: UpperLayer = createUpperLayer();
  private limiter: IcmpRateLimiter;
  private limiterRate: number;
  private ipv4Id = 0;

  constructor(
    private readonly counters: DataplaneCounters,
    nowMs = 0,
  ) {
    this.limiterRate = 100;
    this.limiter = new IcmpRateLimiter(this.limiterRate, this.limiterRate, nowMs);
  }

  /**
   * Processes one TUN read batch: packets at bufs[i][HEADROOM_BYTES, + sizes[i]). Afterwards
   * `toWire` and `toTun` hold what to send; both alias buffers reused by the next batch.
   */
  processBatch(
    state: CpeForwardingState,
    bufs: readonly Buffer[],
    sizes: ArrayLike<number>,
    count: number,
    nowMs: number,
  ): void {
    this.toWire.clear();
    this.toTun.clear();
    if (state.icmpRateLimit !== this.limiterRate) {
      this.limiterRate = state.icmpRateLimit;
      this.limiter = new IcmpRateLimiter(this.limiterRate, Math.max(1, this.limiterRate), nowMs);
    }
    const c = this.counters;
    c.traffic[CTR_BATCHES_OUT]!++;
    for (let i = 0; i < count; i++) {
      const buf = bufs[i]!;
      const len = sizes[i]!;
      const reason = this.processPacket(state, buf, len, nowMs);
      if (reason !== DROP_NONE) c.drops[reason]!++;
    }
  }

  /** Steps 1-8 for one packet; returns DROP_NONE when it was queued on `toWire`. */
  processPacket(state: CpeForwardingState, buf: Buffer, len: number, nowMs: number): DropReason {
    const off = HEADROOM_BYTES;
    // 1.
    if (!state.enabled) return DROP_NO_ROUTE;
    // 2.
    if (len < IPV6_HEADER_BYTES || off + len > buf.length) return DROP_IPV6_TRUNCATED;
    if (buf[off]! >>> 4 !== IPV6_VERSION) return DROP_NOT_IPV6;
    const payload = (buf[off + IPV6_OFF_PAYLOAD_LEN]! << 8) | buf[off + IPV6_OFF_PAYLOAD_LEN + 1]!;
    if (payload + IPV6_HEADER_BYTES !== len) return DROP_IPV6_LENGTH_MISMATCH;
    // 3.
    const hopLimit = buf[off + IPV6_OFF_HOP_LIMIT]!;
    if (hopLimit <= state.hopLimitDecrement || hopLimit === 0) {
      this.error(state, ICMPV6_TIME_EXCEEDED, ICMPV6_TIME_EXCEEDED_HOP_LIMIT, 0, buf, len, nowMs);
      return DROP_HOP_LIMIT_EXCEEDED;
    }
    // 4.
    if (len > state.tunnelMtu) {
      this.error(state, ICMPV6_PACKET_TOO_BIG, 0, state.tunnelMtu, buf, len, nowMs);
      return DROP_PACKET_TOO_BIG;
    }
    // 5.
    const mapping = state.mapping;
    if (mapping !== null) {
      const t = translateSourceTo6to4(buf, off, len, mapping, this.ul);
      if (t !== TRANSLATE_NOT_MAPPED) {
        if (t !== DROP_NONE) return t;
        this.counters.traffic[CTR_TRANSLATED]!++;
      }
    }
    // 6. IPv4 addresses as signed 32-bit (`| 0`): no heap number per packet (addr/policy.ts).
    const srcV4 = state.ownIpv4 | 0;
    let dstV4 = state.relayIpv4 | 0;
    if (state.direct6to4 && is6to4(buf, off + IPV6_OFF_DST)) {
      dstV4 = embeddedIpv4I32(buf, off + IPV6_OFF_DST);
    }
    // 7.
    const check = checkEncapsulate(state.policy, buf, off, srcV4, dstV4);
    if (check !== DROP_NONE) return check;
    // 8.
    buf[off + IPV6_OFF_HOP_LIMIT] = hopLimit - state.hopLimitDecrement;
    const total = len + IPV4_MIN_HEADER_BYTES;
    this.ipv4Id = (this.ipv4Id + 1) & 0xffff;
    writeIpv4Header(buf, 0, total, IPPROTO_IPV6, srcV4, dstV4, state.ipv4Ttl, this.ipv4Id, false);
    if (!this.toWire.push(buf, 0, total)) return DROP_TX_ERROR;
    this.counters.traffic[CTR_OUT_PACKETS]!++;
    this.counters.traffic[CTR_OUT_BYTES]! += len;
    return DROP_NONE;
  }

  private error(
    state: CpeForwardingState,
    type: number,
    code: number,
    param: number,
    buf: Buffer,
    len: number,
    nowMs: number,
  ): void {
    queueIcmpv6Error(
      type,
      code,
      param,
      buf,
      HEADROOM_BYTES,
      len,
      state.icmpSource,
      this.pool,
      this.toTun,
      this.limiter,
      this.counters,
      nowMs,
    );
  }
}
