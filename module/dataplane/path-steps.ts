/**
 * Small per-packet steps that the CPE and relay paths share word for word: plain functions over
 * (buffer, offset) and numbers, so they inline and allocate nothing.
 *
 * Note: the inbound hop-limit and "queue for the TUN" steps stay inline in the paths: as calls
 * they changed V8's inlining choices for the relay's (large) processPacket and cost ~10% there.
 */
import { DROP_IPV6_BAD_VERSION, DROP_IPV6_LENGTH_MISMATCH } from "../addr/drop-reason.js";
import { DROP_IPV6_TRUNCATED, DROP_NONE, type DropReason } from "../addr/drop-reason.js";
import { IPV6_HEADER_BYTES, IPV6_OFF_PAYLOAD_LEN, IPV6_VERSION } from "../codec/constants.js";
import type { TxBatch } from "./tx-batch.js";
import {
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_OFF_NEXT_HEADER,
  UDP_HEADER_BYTES,
} from "../codec/constants.js";

/**
 * Inbound step "inner IPv6 sanity" for the packet a protocol-41 packet carries at
 * buf[v6, v6 + v6len): at least 40 bytes, version 6, and no more payload claimed than IPv4
 * carried. More carried than claimed is padding (RFC 4213 §3.6: "the length MUST be determined
 * from the IPv6 payload length since the IPv4 packet might be padded"), accepted as the Linux
 * sit driver does; the caller forwards `ipv6PacketLength` bytes.
 */
export function checkInnerIpv6(buf: Buffer, v6: number, v6len: number): DropReason {
  if (v6len < IPV6_HEADER_BYTES) return DROP_IPV6_TRUNCATED;
  if (buf[v6]! >>> 4 !== IPV6_VERSION) return DROP_IPV6_BAD_VERSION;
  if (ipv6PacketLength(buf, v6) > v6len) return DROP_IPV6_LENGTH_MISMATCH;
  return DROP_NONE;
}

/** 40 + the Payload Length of the IPv6 header at buf[v6]: the packet without any padding. */
export function ipv6PacketLength(buf: Buffer, v6: number): number {
  return (
    IPV6_HEADER_BYTES +
    ((buf[v6 + IPV6_OFF_PAYLOAD_LEN]! << 8) | buf[v6 + IPV6_OFF_PAYLOAD_LEN + 1]!)
  );
}

/** Whether the signed 32-bit `v` is in `list` (unsigned or signed values). */
export function includesIpv4(list: readonly number[], v: number): boolean {
  for (let i = 0; i < list.length; i++) if ((list[i]! | 0) === v) return true;
  return false;
}

/**
 * Packets the received IPv6 packet at buf[v6, v6 + v6len) stands for in the counters: a packet
 * GRO merged counts as the segments the sender sent. `segment` (the read's `gso`, io/ports.ts;
 * the native layer checked that TCP or UDP follows the IPv6 header) > 0: TCP (UDP) merged from
 * segments of that many payload bytes. Otherwise (the sender's size lost, a port that does not
 * say, a TCP packet reassembled from fragments): TCP longer than `tunnelMtu` counts as segments
 * of the most the tunnel carries, which a sender fills; anything else as 1.
 */
export function packetsCarried(
  buf: Buffer,
  v6: number,
  v6len: number,
  segment: number,
  tunnelMtu: number,
): number {
  const next = buf[v6 + IPV6_OFF_NEXT_HEADER];
  if (segment <= 0 && (v6len <= tunnelMtu || next !== IPPROTO_TCP)) return 1;
  const l4 =
    next === IPPROTO_UDP ? UDP_HEADER_BYTES : (buf[v6 + IPV6_HEADER_BYTES + 12]! >>> 4) << 2;
  const size = segment > 0 ? segment : tunnelMtu - IPV6_HEADER_BYTES - l4;
  const payload = v6len - IPV6_HEADER_BYTES - l4;
  return size > 0 && payload > size ? Math.ceil(payload / size) : 1;
}

/**
 * The payload size to cut a received packet at on the TUN (0: none): the read's `gso`
 * (`segment`) when it is the sender's (> 0); when the sender's size is lost (< 0: cut at
 * -segment) only where the packet is longer than the tunnel carries, else it goes on whole.
 */
export function mergedCut(segment: number, v6len: number, tunnelMtu: number): number {
  return segment > 0 ? segment : segment < 0 && v6len > tunnelMtu ? -segment : 0;
}

/**
 * Queues the received IPv6 packet at buf[v6, v6 + v6len) on `toTun`, a GRO merge to be cut as
 * `mergedCut` says (`segment`: the read's gso); returns the packets it counts as
 * (`packetsCarried`), 0 when the batch is full.
 */
export function queueReceived(
  toTun: TxBatch,
  buf: Buffer,
  v6: number,
  v6len: number,
  segment: number,
  tunnelMtu: number,
): number {
  const packets =
    segment !== 0 || v6len > tunnelMtu ? packetsCarried(buf, v6, v6len, segment, tunnelMtu) : 1;
  const cut = mergedCut(segment, v6len, tunnelMtu);
  const queued =
    cut > 0 ? toTun.pushMerged(buf, v6, v6len, cut, packets) : toTun.push(buf, v6, v6len);
  return queued ? packets : 0;
}
