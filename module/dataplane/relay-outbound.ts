/**
 * Relay return path: IPv6 from the Internet -> TUN -> PMT translation back -> protocol 41 to the
 * customer's embedded IPv4 address.
 *
 * Return flow (per packet of a TUN read batch; the packet sits at buf[HEADROOM_BYTES, +len); the
 * kernel routes the provider prefix and 2002::/16 into the TUN, RFC 6343 §4.4 item 2):
 *  1. Relay disabled -> drop `no_route`.
 *  2. IPv6 sanity: 40 bytes, version 6, payload length matching the TUN's length.
 *  3. Hop limit 0 (after `state.hopLimitDecrement`) -> Time Exceeded to the source, drop.
 *  4. MTU (RFC 4213 §3.2.1): larger than the tunnel MTU -> ICMPv6 Packet Too Big (MTU = tunnel
 *     MTU) to the Internet host, rate-limited (RFC 6343 §4.4 item 6). Checked before translation
 *     so the quoted packet still carries the provider (translated) address the host used
 *     (RFC 6732 §4.4).
 *  5. PMT (RFC 6732 §3.3): destination in the provider prefix -> 2002:V4ADDR:SLA:: (ICMPv6 errors
 *     get their quoted packet translated too, RFC 3022 §4.3). A provider address of an opted-out
 *     customer (§4.1) has no route.
 *  6. The destination must now be 2002::/16 (else `no_route`); its embedded IPv4 is the customer.
 *  7. RFC 3964 §5.1 encapsulation checks (addr/policy.ts; source = our anycast, customer IPv4
 *     ranges valid, destination IPv4 not ours: no loop) and RFC 6324 §3.3 on the source.
 *  8. IPv4 header into the headroom (source: the anycast, RFC 6343 §4.4 item 3; DF clear, RFC 4213
 *     §3.2.1) and queue buf[0, len + 20) for the batched raw-socket send.
 */
import { DROP_HOP_LIMIT_EXCEEDED, DROP_IPV6_LENGTH_MISMATCH } from "../addr/drop-reason.js";
import { DROP_IPV6_TRUNCATED, DROP_NONE, DROP_NOT_IPV6 } from "../addr/drop-reason.js";
import { DROP_NO_ROUTE, DROP_PACKET_TOO_BIG, DROP_TX_ERROR } from "../addr/drop-reason.js";
import type { DropReason } from "../addr/drop-reason.js";
import { ipv4InPrefix } from "../addr/ipv4.js";
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
import type { RelayForwardingState } from "./forwarding-state.js";
import { queueIcmpv6Error } from "./icmp-errors.js";
import { IcmpRateLimiter } from "./icmp-rate-limit.js";
import { createUpperLayer, TRANSLATE_NOT_MAPPED } from "./pmt-translate.js";
import { translateDestinationTo6to4 } from "./pmt-translate.js";
import { BATCH_SIZE_PACKETS, HEADROOM_BYTES } from "./tunables.js";
import { ICMP_ERROR_BUFFER_BYTES, ICMP_ERROR_POOL_BUFFERS } from "./tunables.js";
import { PacketPool, TxBatch } from "./tx-batch.js";

export class RelayOutboundPath {
  /** Encapsulated packets for the raw socket (alias the TUN receive ring). */
  readonly toWire = new TxBatch(BATCH_SIZE_PACKETS);
  /** ICMPv6 errors for the TUN (to Internet hosts; alias the error pool). */
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
    this.limiterRate = 1000;
    this.limiter = new IcmpRateLimiter(this.limiterRate, this.limiterRate, nowMs);
  }

  processBatch(
    state: RelayForwardingState,
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
      const reason = this.processPacket(state, bufs[i]!, sizes[i]!, nowMs);
      if (reason !== DROP_NONE) c.drops[reason]!++;
    }
  }

  processPacket(state: RelayForwardingState, buf: Buffer, len: number, nowMs: number): DropReason {
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
    const d = off + IPV6_OFF_DST;
    const mapping = state.mapping;
    if (mapping !== null) {
      // V4ADDR as signed 32-bit: no heap number per packet (addr/policy.ts).
      if (mapping.isProviderAddress(buf, d)) {
        if (inAny(state.optOut, mapping.providerEmbeddedIpv4I32(buf, d))) return DROP_NO_ROUTE;
        const t = translateDestinationTo6to4(buf, off, len, mapping, this.ul);
        if (t === TRANSLATE_NOT_MAPPED) return DROP_NO_ROUTE;
        if (t !== DROP_NONE) return t;
        this.counters.traffic[CTR_TRANSLATED]!++;
      }
    }
    // 6.
    if (!is6to4(buf, d)) return DROP_NO_ROUTE;
    // IPv4 addresses as signed 32-bit (`| 0`): no heap number per packet (addr/policy.ts).
    const dstV4 = embeddedIpv4I32(buf, d);
    const srcV4 = state.relayIpv4s[0]! | 0;
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
    state: RelayForwardingState,
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
      state.ownSixToFour,
      this.pool,
      this.toTun,
      this.limiter,
      this.counters,
      nowMs,
    );
  }
}

function inAny(list: readonly { addr: number; len: number }[], v: number): boolean {
  for (let i = 0; i < list.length; i++) if (ipv4InPrefix(v, list[i]!)) return true;
  return false;
}
