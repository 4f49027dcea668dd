/**
 * CPE inbound path: protocol 41 from the WAN -> checks -> TUN -> LAN.
 *
 * Inbound flow (per packet of a raw-socket read batch; the IPv4 packet sits at buf[rxOffset, +len)):
 *  1. Forwarding off -> drop `no_route`.
 *  2. Outer IPv4 header (codec checkIpv4Header): version, IHL, checksum, total length within what
 *     was received, no fragment (the kernel reassembles before a raw socket sees it), protocol 41.
 *  3. The outer destination must be our own IPv4 address (RFC 3964 §5.2 "dst_v4 SHOULD be assigned
 *     to the router"; also keeps broadcast out, §5.3.1).
 *  4. Inner IPv6 sanity: at least 40 bytes, version 6, no more payload claimed than IPv4 carried;
 *     padding after it is left behind (RFC 4213 §3.6).
 *  5. RFC 3964 §5.2 decapsulation checks: IPv4 and IPv6 sanity (§5.3), a 2002 destination embeds
 *     dst_v4, a 2002 source embeds src_v4 (anti-spoofing), a native source only from a relay we
 *     use, never native to native.
 *  6. No open relay (RFC 5969 §9.2 by analogy): the destination must lie in our own 2002:V4ADDR::/48.
 *  7. Hop limit (RFC 4213 §3.3): as outbound, `state.hopLimitDecrement` (0 on Linux: the kernel
 *     decrements when it forwards from the TUN to the LAN); hop limit 0 is dropped.
 *  8. PMT LAN mode: destination 2002:V4ADDR:SLA::/64 -> the provider /64 the LAN uses.
 *  9. Queue the IPv6 packet for the TUN as (buf, offset, length): a view, no copy.
 */
import { DROP_DST_NOT_OWN_PREFIX, DROP_HOP_LIMIT_EXCEEDED } from "../addr/drop-reason.js";
import { DROP_IPV4_DST_NOT_OWN, DROP_TX_ERROR } from "../addr/drop-reason.js";
import { DROP_NONE, DROP_NO_ROUTE, type DropReason } from "../addr/drop-reason.js";
import { readIpv4I32 } from "../addr/ipv4.js";
import { checkDecapsulate } from "../addr/policy.js";
import {
  IPV4_OFF_DST,
  IPV4_OFF_SRC,
  IPV4_OFF_TOTAL_LEN,
  IPV4_OFF_VER_IHL,
} from "../codec/constants.js";
import { IPV6_OFF_DST, IPV6_OFF_HOP_LIMIT } from "../codec/constants.js";
import { checkIpv4Header } from "../codec/ipv4.js";
import type { UpperLayer } from "../codec/ipv6.js";
import { CTR_BATCHES_IN, CTR_IN_BYTES, CTR_IN_PACKETS, CTR_TRANSLATED } from "./counters.js";
import type { DataplaneCounters } from "./counters.js";
import type { CpeForwardingState } from "./forwarding-state.js";
import { checkInnerIpv6, ipv6PacketLength, queueReceived } from "./path-steps.js";
import { createUpperLayer, TRANSLATE_NOT_MAPPED } from "./pmt-translate.js";
import { translateDestinationToProvider } from "./pmt-translate.js";
import { BATCH_SIZE_PACKETS } from "./tunables.js";
import { TxBatch } from "./tx-batch.js";

export class CpeInboundPath {
  /** Decapsulated IPv6 packets for the TUN (views into the raw-socket receive ring). */
  readonly toTun = new TxBatch(BATCH_SIZE_PACKETS);
  private readonly ul: UpperLayer = createUpperLayer();

  constructor(private readonly counters: DataplaneCounters) {}

  /**
   * Processes one raw-socket read batch: IPv4 packets at bufs[i][rxOffset, + sizes[i]); `gso[i]`
   * != 0: a packet GRO merged, and where to cut it on the TUN (io/ports.ts onBatch).
   */
  processBatch(
    state: CpeForwardingState,
    bufs: readonly Buffer[],
    sizes: ArrayLike<number>,
    count: number,
    rxOffset: number,
    gso?: Int32Array,
  ): void {
    this.toTun.clear();
    const c = this.counters;
    c.traffic[CTR_BATCHES_IN]!++;
    for (let i = 0; i < count; i++) {
      const seg = gso !== undefined ? gso[i]! : 0;
      const reason = this.processPacket(state, bufs[i]!, rxOffset, sizes[i]!, seg);
      if (reason !== DROP_NONE) c.drops[reason]!++;
    }
  }

  /**
   * Steps 1-9 for one packet; DROP_NONE when it was queued on `toTun`. `segment` != 0: a TCP
   * packet GRO merged, cut on the TUN as path-steps.ts mergedCut says.
   */
  processPacket(
    state: CpeForwardingState,
    buf: Buffer,
    off: number,
    len: number,
    segment = 0,
  ): DropReason {
    // 1.
    if (!state.enabled) return DROP_NO_ROUTE;
    // 2.
    const h = checkIpv4Header(buf, off, len);
    if (h !== DROP_NONE) return h;
    const ihl = (buf[off + IPV4_OFF_VER_IHL]! & 0x0f) << 2;
    const total = (buf[off + IPV4_OFF_TOTAL_LEN]! << 8) | buf[off + IPV4_OFF_TOTAL_LEN + 1]!;
    // Signed 32-bit (`| 0`): no heap number per packet (addr/policy.ts).
    const srcV4 = readIpv4I32(buf, off + IPV4_OFF_SRC);
    const dstV4 = readIpv4I32(buf, off + IPV4_OFF_DST);
    // 3.
    if (dstV4 !== (state.ownIpv4 | 0)) return DROP_IPV4_DST_NOT_OWN;
    // 4.
    const v6 = off + ihl;
    const inner = checkInnerIpv6(buf, v6, total - ihl);
    if (inner !== DROP_NONE) return inner;
    // Padding after the IPv6 packet stays behind (RFC 4213 §3.6).
    const v6len = ipv6PacketLength(buf, v6);
    // 5.
    const check = checkDecapsulate(state.policy, buf, v6, srcV4, dstV4);
    if (check !== DROP_NONE) return check;
    // 6. 2002:V4ADDR::/48 with V4ADDR = ours.
    const d = v6 + IPV6_OFF_DST;
    if (
      buf[d] !== 0x20 ||
      buf[d + 1] !== 0x02 ||
      buf[d + 2] !== dstV4 >>> 24 ||
      buf[d + 3] !== ((dstV4 >>> 16) & 0xff) ||
      buf[d + 4] !== ((dstV4 >>> 8) & 0xff) ||
      buf[d + 5] !== (dstV4 & 0xff)
    ) {
      return DROP_DST_NOT_OWN_PREFIX;
    }
    // 7.
    const hopLimit = buf[v6 + IPV6_OFF_HOP_LIMIT]!;
    if (hopLimit <= state.hopLimitDecrement || hopLimit === 0) return DROP_HOP_LIMIT_EXCEEDED;
    buf[v6 + IPV6_OFF_HOP_LIMIT] = hopLimit - state.hopLimitDecrement;
    // 8.
    const mapping = state.mapping;
    if (mapping !== null) {
      const t = translateDestinationToProvider(buf, v6, v6len, mapping, this.ul);
      if (t !== TRANSLATE_NOT_MAPPED) {
        if (t !== DROP_NONE) return t;
        this.counters.traffic[CTR_TRANSLATED]!++;
      }
    }
    // 9. A packet GRO merged counts as the segments it carries.
    const packets = queueReceived(this.toTun, buf, v6, v6len, segment, state.tunnelMtu);
    if (packets === 0) return DROP_TX_ERROR;
    this.counters.traffic[CTR_IN_PACKETS]! += packets;
    this.counters.traffic[CTR_IN_BYTES]! += v6len;
    return DROP_NONE;
  }
}
