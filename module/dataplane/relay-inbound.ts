/**
 * Relay inbound path: protocol 41 from customers -> checks -> PMT translation -> TUN -> Internet.
 *
 * Inbound flow (per packet of a raw-socket read batch; the IPv4 packet sits at buf[rxOffset, +len)):
 *  1. Relay disabled -> drop `no_route`.
 *  2. Outer IPv4 header (codec checkIpv4Header).
 *  3. The outer destination must be one of our relay addresses (anycast 192.88.99.1, RFC 3068, or
 *     a unicast one); protocol 41 from another relay is dropped (RFC 5969 §12).
 *  4. Inner IPv6 sanity: 40 bytes, version 6, no more payload claimed than IPv4 carried; padding
 *     after it is left behind (RFC 4213 §3.6).
 *  5. RFC 3964 §5.2 decapsulation checks (addr/policy.ts) with the operator's customer IPv4
 *     ranges as valid sources: §5.3 sanity, a 2002 source embeds src_v4, native to native
 *     dropped, and RFC 6324 §3.3: a destination with an off-link prefix embedding one of our own
 *     IPv4 addresses is a routing-loop attack.
 *  6. Customer policy (RFC 6732 §4.7, addr/pmt-customers.ts) on the outer source (which a 6to4
 *     source embeds, step 5): a source outside the PMT customer ranges and the opt-out list is
 *     dropped as `non_customer` with `non_customer drop` (before the echo of step 7: a relay
 *     closed to strangers answers them nothing).
 *  7. ICMPv6 echo request to our own 6to4 address (2002:c058:6301:: for the anycast): answered
 *     in place and encapsulated back to the sender (RFC 6343 §4.4 item 4).
 *  8. PMT (RFC 6732 §3.3): only for a PMT customer that did not opt out (§4.1, §4.7), source
 *     2002:V4ADDR:SLA::/64 of a mapped SLA -> provider /64 with incremental checksum update;
 *     unmapped SLAs, opted-out customers and other sources are relayed untranslated as plain 6to4
 *     (§3.2).
 *  9. Hop limit (RFC 4213 §3.3), as on the CPE (the kernel decrements when routing out of the TUN).
 * 10. Queue the IPv6 packet for the TUN as a view (no copy); the kernel routes it to the Internet.
 */
import { DROP_FROM_OTHER_RELAY, DROP_HOP_LIMIT_EXCEEDED } from "../addr/drop-reason.js";
import { DROP_IPV4_DST_NOT_OWN, DROP_NON_CUSTOMER } from "../addr/drop-reason.js";
import { DROP_NONE, DROP_NO_ROUTE, DROP_TX_ERROR, type DropReason } from "../addr/drop-reason.js";
import { readIpv4I32 } from "../addr/ipv4.js";
import { checkDecapsulate } from "../addr/policy.js";
import {
  PMT_DROP_NOT_CUSTOMER,
  PMT_TRANSLATE,
  pmtRangeVerdict,
  pmtSiteRange,
} from "../addr/pmt-customers.js";
import { checksumAdjust } from "../codec/checksum.js";
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST, ICMPV6_OFF_CHECKSUM } from "../codec/constants.js";
import { IPPROTO_ICMPV6, IPPROTO_IPV6, IPV4_MIN_HEADER_BYTES } from "../codec/constants.js";
import {
  IPV4_OFF_DST,
  IPV4_OFF_SRC,
  IPV4_OFF_TOTAL_LEN,
  IPV4_OFF_VER_IHL,
} from "../codec/constants.js";
import { IPV6_HEADER_BYTES, IPV6_OFF_DST, IPV6_OFF_HOP_LIMIT } from "../codec/constants.js";
import { IPV6_OFF_NEXT_HEADER, IPV6_OFF_SRC } from "../codec/constants.js";
import { checkIpv4Header, writeIpv4Header } from "../codec/ipv4.js";
import type { UpperLayer } from "../codec/ipv6.js";
import { CTR_BATCHES_IN, CTR_ICMP_SENT, CTR_IN_BYTES, CTR_IN_PACKETS } from "./counters.js";
import { CTR_TRANSLATED, CTR_UNTRANSLATED, type DataplaneCounters } from "./counters.js";
import { RANGE_IN_BYTES, RANGE_IN_PACKETS, RANGE_SLOTS } from "./counters.js";
import type { RelayForwardingState } from "./forwarding-state.js";
import { checkInnerIpv6, includesIpv4, ipv6PacketLength } from "./path-steps.js";
import { queueReceived } from "./path-steps.js";
import { createUpperLayer, TRANSLATE_NOT_MAPPED } from "./pmt-translate.js";
import { translateSourceToProvider } from "./pmt-translate.js";
import { BATCH_SIZE_PACKETS } from "./tunables.js";
import { TxBatch } from "./tx-batch.js";

/** Hop limit of the echo replies we originate (RFC 4443 §2.4 does not fix one; 64 as Linux). */
const ECHO_REPLY_HOP_LIMIT = 64;

export class RelayInboundPath {
  /** Decapsulated (and translated) IPv6 packets for the TUN: views into the receive ring. */
  readonly toTun = new TxBatch(BATCH_SIZE_PACKETS);
  /** Echo replies, encapsulated in place, for the raw socket. */
  readonly toWire = new TxBatch(BATCH_SIZE_PACKETS);
  private readonly ul: UpperLayer = createUpperLayer();
  private ipv4Id = 0;

  constructor(private readonly counters: DataplaneCounters) {}

  processBatch(
    state: RelayForwardingState,
    bufs: readonly Buffer[],
    sizes: ArrayLike<number>,
    count: number,
    rxOffset: number,
    gso?: Int32Array,
  ): void {
    this.toTun.clear();
    this.toWire.clear();
    const c = this.counters;
    c.traffic[CTR_BATCHES_IN]!++;
    for (let i = 0; i < count; i++) {
      const seg = gso !== undefined ? gso[i]! : 0;
      const reason = this.processPacket(state, bufs[i]!, rxOffset, sizes[i]!, seg);
      if (reason !== DROP_NONE) c.drops[reason]!++;
    }
  }

  /**
   * Steps 1-10 for one packet; DROP_NONE when it was queued (TUN, or an echo reply on the wire).
   * `segment` != 0: a TCP packet GRO merged, cut on the TUN as path-steps.ts mergedCut says.
   */
  processPacket(
    state: RelayForwardingState,
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
    if (!includesIpv4(state.relayIpv4s, dstV4)) return DROP_IPV4_DST_NOT_OWN;
    if (includesIpv4(state.otherRelays, srcV4)) return DROP_FROM_OTHER_RELAY;
    // 4.
    const v6 = off + ihl;
    const inner = checkInnerIpv6(buf, v6, total - ihl);
    if (inner !== DROP_NONE) return inner;
    // Padding after the IPv6 packet stays behind (RFC 4213 §3.6).
    const v6len = ipv6PacketLength(buf, v6);
    // 5.
    const check = checkDecapsulate(state.policy, buf, v6, srcV4, dstV4);
    if (check !== DROP_NONE) return check;
    // 6.
    const range = pmtSiteRange(state.customers, srcV4);
    const verdict = pmtRangeVerdict(state.customers, range);
    if (verdict === PMT_DROP_NOT_CUSTOMER) return DROP_NON_CUSTOMER;
    // 7.
    if (isEchoToUs(state, buf, v6, v6len))
      return this.echoReply(state, buf, v6, v6len, srcV4, dstV4);
    // 8.
    const mapping = state.mapping;
    if (mapping !== null && verdict === PMT_TRANSLATE) {
      const t = translateSourceToProvider(buf, v6, v6len, mapping, this.ul);
      if (t === TRANSLATE_NOT_MAPPED) this.counters.traffic[CTR_UNTRANSLATED]!++;
      else if (t !== DROP_NONE) return t;
      else this.counters.traffic[CTR_TRANSLATED]!++;
    } else {
      this.counters.traffic[CTR_UNTRANSLATED]!++;
    }
    // 9.
    const hopLimit = buf[v6 + IPV6_OFF_HOP_LIMIT]!;
    if (hopLimit <= state.hopLimitDecrement || hopLimit === 0) return DROP_HOP_LIMIT_EXCEEDED;
    buf[v6 + IPV6_OFF_HOP_LIMIT] = hopLimit - state.hopLimitDecrement;
    // 10. A merged packet counts as the segments (datagrams) it carries.
    const packets = queueReceived(this.toTun, buf, v6, v6len, segment, state.tunnelMtu);
    if (packets === 0) return DROP_TX_ERROR;
    this.counters.traffic[CTR_IN_PACKETS]! += packets;
    this.counters.traffic[CTR_IN_BYTES]! += v6len;
    const ranges = this.counters.ranges;
    const slot = range * RANGE_SLOTS;
    if (range >= 0 && slot < ranges.length) {
      ranges[slot + RANGE_IN_PACKETS]! += packets;
      ranges[slot + RANGE_IN_BYTES]! += v6len;
    }
    return DROP_NONE;
  }

  /**
   * Step 7: turns the request into the reply in place (swap addresses, type 128 -> 129; the
   * checksum changes by the type word only, RFC 1624) and writes a fresh IPv4 header right in
   * front of it, from the address it arrived on back to the sender.
   */
  private echoReply(
    state: RelayForwardingState,
    buf: Buffer,
    v6: number,
    v6len: number,
    srcV4: number,
    dstV4: number,
  ): DropReason {
    const icmp = v6 + IPV6_HEADER_BYTES;
    for (let i = 0; i < 16; i++) {
      const t = buf[v6 + IPV6_OFF_SRC + i]!;
      buf[v6 + IPV6_OFF_SRC + i] = buf[v6 + IPV6_OFF_DST + i]!;
      buf[v6 + IPV6_OFF_DST + i] = t;
    }
    const code = buf[icmp + 1]!;
    buf[icmp] = ICMPV6_ECHO_REPLY;
    const ck = (buf[icmp + ICMPV6_OFF_CHECKSUM]! << 8) | buf[icmp + ICMPV6_OFF_CHECKSUM + 1]!;
    const updated = checksumAdjust(
      ck,
      (ICMPV6_ECHO_REQUEST << 8) | code,
      (ICMPV6_ECHO_REPLY << 8) | code,
    );
    buf[icmp + ICMPV6_OFF_CHECKSUM] = updated >>> 8;
    buf[icmp + ICMPV6_OFF_CHECKSUM + 1] = updated & 0xff;
    buf[v6 + IPV6_OFF_HOP_LIMIT] = ECHO_REPLY_HOP_LIMIT;
    const outer = v6 - IPV4_MIN_HEADER_BYTES;
    const total = v6len + IPV4_MIN_HEADER_BYTES;
    this.ipv4Id = (this.ipv4Id + 1) & 0xffff;
    writeIpv4Header(
      buf,
      outer,
      total,
      IPPROTO_IPV6,
      dstV4,
      srcV4,
      state.ipv4Ttl,
      this.ipv4Id,
      false,
    );
    if (!this.toWire.push(buf, outer, total)) return DROP_TX_ERROR;
    this.counters.traffic[CTR_ICMP_SENT]!++;
    return DROP_NONE;
  }
}

/** Step 7 test: destination == our 6to4 address, first header ICMPv6 echo request. */
function isEchoToUs(state: RelayForwardingState, buf: Buffer, v6: number, v6len: number): boolean {
  if (buf[v6 + IPV6_OFF_NEXT_HEADER] !== IPPROTO_ICMPV6) return false;
  if (v6len < IPV6_HEADER_BYTES + 8 || buf[v6 + IPV6_HEADER_BYTES] !== ICMPV6_ECHO_REQUEST)
    return false;
  const own = state.ownSixToFour;
  for (let i = 0; i < 16; i++) if (buf[v6 + IPV6_OFF_DST + i] !== own[i]) return false;
  return true;
}
