/**
 * Small per-packet steps that the CPE and relay paths share word for word: plain functions over
 * (buffer, offset) and numbers, so they inline and allocate nothing.
 */
import { DROP_HOP_LIMIT_EXCEEDED, DROP_IPV6_BAD_VERSION } from "../addr/drop-reason.js";
import { DROP_IPV6_LENGTH_MISMATCH, DROP_IPV6_TRUNCATED } from "../addr/drop-reason.js";
import { DROP_NONE, DROP_TX_ERROR, type DropReason } from "../addr/drop-reason.js";
import { ipv4InPrefix, type Ipv4Prefix } from "../addr/ipv4.js";
import { IPV6_HEADER_BYTES, IPV6_OFF_HOP_LIMIT } from "../codec/constants.js";
import { IPV6_OFF_PAYLOAD_LEN, IPV6_VERSION } from "../codec/constants.js";
import { CTR_IN_BYTES, CTR_IN_PACKETS, type DataplaneCounters } from "./counters.js";
import type { TxBatch } from "./tx-batch.js";

/**
 * Inbound step "inner IPv6 sanity" for the packet a protocol-41 packet carries at
 * buf[v6, v6 + v6len): at least 40 bytes, version 6, payload length equal to what IPv4 carried.
 */
export function checkInnerIpv6(buf: Buffer, v6: number, v6len: number): DropReason {
  if (v6len < IPV6_HEADER_BYTES) return DROP_IPV6_TRUNCATED;
  if (buf[v6]! >>> 4 !== IPV6_VERSION) return DROP_IPV6_BAD_VERSION;
  const payload = (buf[v6 + IPV6_OFF_PAYLOAD_LEN]! << 8) | buf[v6 + IPV6_OFF_PAYLOAD_LEN + 1]!;
  if (payload + IPV6_HEADER_BYTES !== v6len) return DROP_IPV6_LENGTH_MISMATCH;
  return DROP_NONE;
}

/**
 * Inbound hop-limit step (RFC 4213 §3.3): hop limit 0, or one `decrement` would make 0 -> drop
 * (no ICMPv6 error toward the tunnel); else decrement in place.
 */
export function decrementHopLimit(buf: Buffer, v6: number, decrement: number): DropReason {
  const hopLimit = buf[v6 + IPV6_OFF_HOP_LIMIT]!;
  if (hopLimit <= decrement || hopLimit === 0) return DROP_HOP_LIMIT_EXCEEDED;
  buf[v6 + IPV6_OFF_HOP_LIMIT] = hopLimit - decrement;
  return DROP_NONE;
}

/** Inbound last step: queue buf[v6, v6 + v6len) for the TUN as a view (no copy) and count it. */
export function queueToTun(
  out: TxBatch,
  counters: DataplaneCounters,
  buf: Buffer,
  v6: number,
  v6len: number,
): DropReason {
  if (!out.push(buf, v6, v6len)) return DROP_TX_ERROR;
  counters.traffic[CTR_IN_PACKETS]!++;
  counters.traffic[CTR_IN_BYTES]! += v6len;
  return DROP_NONE;
}

/** Whether the signed 32-bit `v` is in `list` (unsigned or signed values). */
export function includesIpv4(list: readonly number[], v: number): boolean {
  for (let i = 0; i < list.length; i++) if ((list[i]! | 0) === v) return true;
  return false;
}

/** Whether the IPv4 address `v` (signed or unsigned 32-bit) lies in one of the prefixes. */
export function inAnyIpv4Prefix(list: readonly Ipv4Prefix[], v: number): boolean {
  for (let i = 0; i < list.length; i++) if (ipv4InPrefix(v, list[i]!)) return true;
  return false;
}
