/**
 * Relay return path: IPv6 from the Internet -> TUN -> PMT translation back -> protocol 41 to the
 * customer's embedded IPv4 address.
 *
 * Return flow (per packet of a TUN read batch; the packet sits at buf[HEADROOM_BYTES, +len); the
 * kernel routes the provider prefix and 2002::/16 into the TUN, RFC 6343 §4.4 item 2):
 *  1. Relay disabled -> drop `no_route`.
 *  2. IPv6 sanity: 40 bytes, version 6, payload length matching the TUN's length.
 *     A multicast destination of interface or link scope (the kernel's own MLD reports on the
 *     TUN) -> drop `link_scope_multicast`.
 *  3. Hop limit 0 (after `state.hopLimitDecrement`) -> Time Exceeded to the source, drop.
 *  4. MTU (RFC 4213 §3.2.1): larger than the tunnel MTU -> ICMPv6 Packet Too Big (MTU = tunnel
 *     MTU) to the Internet host, rate-limited (RFC 6343 §4.4 item 6). Checked before translation
 *     so the quoted packet still carries the provider (translated) address the host used
 *     (RFC 6732 §4.4).
 *  5. PMT (RFC 6732 §3.3): destination in the provider prefix -> 2002:V4ADDR:SLA:: (ICMPv6 errors
 *     get their quoted packet translated too, RFC 3022 §4.3), only when V4ADDR is a PMT customer
 *     (RFC 6732 §4.7, addr/pmt-customers.ts): a provider address of an opted-out customer (§4.1)
 *     has no route (`no_route`), one of any other IPv4 address is `provider_dst_not_customer`.
 *  6. The destination must now be 2002::/16 (else `no_route`); its embedded IPv4 is the site. With
 *     `non_customer drop`, a site outside the customer ranges and opt-out list: `non_customer`.
 *  7. RFC 3964 §5.1 encapsulation checks (addr/policy.ts; source = our anycast, customer IPv4
 *     ranges valid, destination IPv4 not ours: no loop) and RFC 6324 §3.3 on the source.
 *  8. IPv4 header into the headroom (source: the anycast, RFC 6343 §4.4 item 3; DF clear, RFC 4213
 *     §3.2.1) and queue buf[0, len + 20) for the batched raw-socket send.
 */
import { DROP_NONE, DROP_NO_ROUTE, type DropReason } from "../addr/drop-reason.js";
import { DROP_NON_CUSTOMER, DROP_PROVIDER_DST_NOT_CUSTOMER } from "../addr/drop-reason.js";
import {
  PMT_DROP_NOT_CUSTOMER,
  PMT_PLAIN_OPTED_OUT,
  PMT_TRANSLATE,
} from "../addr/pmt-customers.js";
import { pmtRangeVerdict, pmtSiteRange, pmtSiteVerdict } from "../addr/pmt-customers.js";
import { checkEncapsulate } from "../addr/policy.js";
import { embeddedIpv4I32, is6to4 } from "../addr/sixto4.js";
import { IPV6_OFF_DST } from "../codec/constants.js";
import { CTR_OUT_BYTES, CTR_OUT_PACKETS, CTR_TRANSLATED } from "./counters.js";
import { RANGE_OUT_BYTES, RANGE_OUT_PACKETS, RANGE_SLOTS } from "./counters.js";
import type { DataplaneCounters } from "./counters.js";
import type { RelayForwardingState } from "./forwarding-state.js";
import { OutboundCore } from "./outbound-core.js";
import { TRANSLATE_NOT_MAPPED, translateDestinationTo6to4 } from "./pmt-translate.js";
import { HEADROOM_BYTES } from "./tunables.js";
import type { TxBatch } from "./tx-batch.js";

export class RelayOutboundPath {
  /** Encapsulated packets for the raw socket (alias the TUN receive ring). */
  readonly toWire: TxBatch;
  /** ICMPv6 errors for the TUN (to Internet hosts; alias the error pool). */
  readonly toTun: TxBatch;
  private readonly core: OutboundCore;

  constructor(
    private readonly counters: DataplaneCounters,
    nowMs = 0,
  ) {
    this.core = new OutboundCore(counters, 1000, nowMs);
    this.toWire = this.core.toWire;
    this.toTun = this.core.toTun;
  }

  processBatch(
    state: RelayForwardingState,
    bufs: readonly Buffer[],
    sizes: ArrayLike<number>,
    count: number,
    nowMs: number,
    gso: ArrayLike<number> | null = null,
  ): void {
    this.core.beginBatch(state.icmpRateLimit, nowMs);
    const c = this.counters;
    for (let i = 0; i < count; i++) {
      const info = gso === null ? 0 : gso[i]!;
      const reason = this.processPacket(state, bufs[i]!, sizes[i]!, nowMs, info);
      if (reason !== DROP_NONE) c.drops[reason]!++;
    }
  }

  processPacket(
    state: RelayForwardingState,
    buf: Buffer,
    len: number,
    nowMs: number,
    gso = 0,
  ): DropReason {
    const off = HEADROOM_BYTES;
    const core = this.core;
    // 1.
    if (!state.enabled) return DROP_NO_ROUTE;
    // 2.-4. (outbound-core.ts)
    const dec = state.hopLimitDecrement;
    const sane = core.checkIpv6(buf, len, dec, state.tunnelMtu, state.ownSixToFour, nowMs, gso);
    if (sane !== DROP_NONE) return sane;
    // 5.
    const d = off + IPV6_OFF_DST;
    const mapping = state.mapping;
    if (mapping !== null) {
      // V4ADDR as signed 32-bit: no heap number per packet (addr/policy.ts).
      if (mapping.isProviderAddress(buf, d)) {
        const site = pmtSiteVerdict(state.customers, mapping.providerEmbeddedIpv4I32(buf, d));
        if (site !== PMT_TRANSLATE) {
          return site === PMT_PLAIN_OPTED_OUT ? DROP_NO_ROUTE : DROP_PROVIDER_DST_NOT_CUSTOMER;
        }
        const t = translateDestinationTo6to4(buf, off, len, mapping, core.ul);
        if (t === TRANSLATE_NOT_MAPPED) return DROP_NO_ROUTE;
        if (t !== DROP_NONE) return t;
        this.counters.traffic[CTR_TRANSLATED]! += core.segments;
      }
    }
    // 6.
    if (!is6to4(buf, d)) return DROP_NO_ROUTE;
    // IPv4 addresses as signed 32-bit (`| 0`): no heap number per packet (addr/policy.ts).
    const dstV4 = embeddedIpv4I32(buf, d);
    const range = pmtSiteRange(state.customers, dstV4);
    if (pmtRangeVerdict(state.customers, range) === PMT_DROP_NOT_CUSTOMER) return DROP_NON_CUSTOMER;
    const srcV4 = state.relayIpv4s[0]! | 0;
    // 7.
    const check = checkEncapsulate(state.policy, buf, off, srcV4, dstV4);
    if (check !== DROP_NONE) return check;
    // 8. (outbound-core.ts); what it sent (segments of a super-packet too) counted for the range.
    const traffic = this.counters.traffic;
    const packets0 = traffic[CTR_OUT_PACKETS]!;
    const bytes0 = traffic[CTR_OUT_BYTES]!;
    const r = core.encapsulate(buf, len, srcV4, dstV4, state.ipv4Ttl, dec, gso);
    const ranges = this.counters.ranges;
    const slot = range * RANGE_SLOTS;
    if (range >= 0 && slot < ranges.length) {
      ranges[slot + RANGE_OUT_PACKETS]! += traffic[CTR_OUT_PACKETS]! - packets0;
      ranges[slot + RANGE_OUT_BYTES]! += traffic[CTR_OUT_BYTES]! - bytes0;
    }
    return r;
  }
}
