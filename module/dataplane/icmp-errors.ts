/**
 * ICMPv6 errors the data plane generates itself: Packet Too Big (RFC 4213 §3.2, RFC 6732 §4.4) and
 * Time Exceeded (RFC 4213 §3.3), rate-limited (RFC 4443 §2.4 (f), RFC 6343 §4.4 item 6), built
 * into a buffer of the preallocated error pool with the codec's writeIcmpv6Error.
 *
 * RFC 4443 §2.4 (e): never in response to an ICMPv6 error, nor to a packet whose source is not a
 * unicast address we could answer (unspecified, multicast); those return false silently.
 */
import {
  ICMPV6_ERROR_MAX_BYTES,
  ICMPV6_INFO_MIN_TYPE,
  IPPROTO_ICMPV6,
} from "../codec/constants.js";
import { IPV6_HEADER_BYTES, IPV6_OFF_NEXT_HEADER, IPV6_OFF_SRC } from "../codec/constants.js";
import { writeIcmpv6Error } from "../codec/icmpv6.js";
import { CTR_ICMP_RATE_LIMITED, CTR_ICMP_SENT, type DataplaneCounters } from "./counters.js";
import type { IcmpRateLimiter } from "./icmp-rate-limit.js";
import type { PacketPool, TxBatch } from "./tx-batch.js";

/**
 * Builds an ICMPv6 error about the packet pkt[off, off+len) from `src16` to the packet's source and
 * appends it to `out`. Returns true when one was queued.
 */
export function queueIcmpv6Error(
  type: number,
  code: number,
  param: number,
  pkt: Buffer,
  off: number,
  len: number,
  src16: Uint8Array,
  pool: PacketPool,
  out: TxBatch,
  limiter: IcmpRateLimiter,
  counters: DataplaneCounters,
  nowMs: number,
): boolean {
  if (len < IPV6_HEADER_BYTES) return false;
  const s = off + IPV6_OFF_SRC;
  // Source must be a unicast address: not ::, not ff00::/8 (RFC 4443 §2.4 (e)).
  if (pkt[s] === 0xff) return false;
  let zero = true;
  for (let i = 0; i < 16; i++) {
    if (pkt[s + i] !== 0) {
      zero = false;
      break;
    }
  }
  if (zero) return false;
  // Never an error about an ICMPv6 error (only the first header is checked: cheap and enough for
  // the packets a TUN hands us; extension headers before ICMPv6 are rare on errors).
  if (
    pkt[off + IPV6_OFF_NEXT_HEADER] === IPPROTO_ICMPV6 &&
    len > IPV6_HEADER_BYTES &&
    pkt[off + IPV6_HEADER_BYTES]! < ICMPV6_INFO_MIN_TYPE
  ) {
    return false;
  }
  if (out.count >= out.capacity) return false;
  if (!limiter.take(nowMs)) {
    counters.traffic[CTR_ICMP_RATE_LIMITED]!++;
    return false;
  }
  const buf = pool.take();
  const n = writeIcmpv6Error(
    buf,
    0,
    type,
    code,
    param,
    src16,
    0,
    pkt,
    s,
    pkt,
    off,
    len,
    ICMPV6_ERROR_MAX_BYTES,
  );
  if (n <= 0) return false;
  out.push(buf, 0, n);
  counters.traffic[CTR_ICMP_SENT]!++;
  return true;
}
