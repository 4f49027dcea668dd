/**
 * CPE outbound path: LAN IPv6 -> TUN -> protocol 41 toward the relay (or a 6to4 peer).
 *
 * Outbound flow (per packet of a TUN read batch; the packet sits at buf[HEADROOM_BYTES, +len)):
 *  1. Forwarding off (no WAN address, 6to4 disabled: RFC 7526 §5) -> drop `no_route`.
 *  2. IPv6 sanity: at least 40 bytes, version 6, payload length matching what the TUN gave.
 *     A multicast destination of interface or link scope (the kernel's own MLD reports on the
 *     TUN) -> drop `link_scope_multicast`.
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
import { DROP_NONE, DROP_NO_ROUTE, type DropReason } from "../addr/drop-reason.js";
import { checkEncapsulate } from "../addr/policy.js";
import { embeddedIpv4I32, is6to4 } from "../addr/sixto4.js";
import { IPV6_OFF_DST } from "../codec/constants.js";
import { CTR_TRANSLATED } from "./counters.js";
import type { DataplaneCounters } from "./counters.js";
import type { CpeForwardingState } from "./forwarding-state.js";
import { OutboundCore } from "./outbound-core.js";
import { TRANSLATE_NOT_MAPPED, translateSourceTo6to4 } from "./pmt-translate.js";
import { HEADROOM_BYTES } from "./tunables.js";
import type { TxBatch } from "./tx-batch.js";

/** One direction's reusable scratch: outputs of the last batch plus per-loop state. */
export class CpeOutboundPath {
  /** Encapsulated packets for the raw socket (alias the TUN receive ring). */
  readonly toWire: TxBatch;
  /** ICMPv6 errors for the TUN (back to LAN hosts; alias the error pool). */
  readonly toTun: TxBatch;
  private readonly core: OutboundCore;

  constructor(
    private readonly counters: DataplaneCounters,
    nowMs = 0,
  ) {
    this.core = new OutboundCore(counters, 100, nowMs);
    this.toWire = this.core.toWire;
    this.toTun = this.core.toTun;
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
    gso: ArrayLike<number> | null = null,
  ): void {
    this.core.beginBatch(state.icmpRateLimit, nowMs);
    const c = this.counters;
    for (let i = 0; i < count; i++) {
      const buf = bufs[i]!;
      const len = sizes[i]!;
      const reason = this.processPacket(state, buf, len, nowMs, gso === null ? 0 : gso[i]!);
      if (reason !== DROP_NONE) c.drops[reason]!++;
    }
  }

  /** Steps 1-8 for one packet; returns DROP_NONE when it was queued on `toWire`. */
  processPacket(
    state: CpeForwardingState,
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
    const sane = core.checkIpv6(buf, len, dec, state.tunnelMtu, state.icmpSource, nowMs, gso);
    if (sane !== DROP_NONE) return sane;
    // 5.
    const mapping = state.mapping;
    if (mapping !== null) {
      const t = translateSourceTo6to4(buf, off, len, mapping, core.ul);
      if (t !== TRANSLATE_NOT_MAPPED) {
        if (t !== DROP_NONE) return t;
        this.counters.traffic[CTR_TRANSLATED]! += core.segments;
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
    // 8. (outbound-core.ts)
    return core.encapsulate(buf, len, srcV4, dstV4, state.ipv4Ttl, dec, gso);
  }
}
