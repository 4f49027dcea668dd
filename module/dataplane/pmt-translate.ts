/**
 * RFC 6732 prefix translation of one IPv6 packet, in place, with incremental checksum update
 * (RFC 6732 §4.5 -> RFC 3022 §4.2, RFC 1624 eqn 3).
 *
 * Translation flow (one call, one packet at pkt[off, off + len)):
 *  1. Rewrite the outer address (source or destination) through the mapping. Not a mapped
 *     2002:V4ADDR:SLA:: (or provider) address -> TRANSLATE_NOT_MAPPED, packet untouched (RFC 6732
 *     §3.3: other SLAs stay plain 6to4).
 *  2. Walk the extension headers to the upper layer (codec walkToUpperLayer). A non-first fragment
 *     carries no upper-layer header: only the address changes.
 *  3. TCP / UDP / ICMPv6: the pseudo-header holds the address, so add the address delta to the
 *     checksum (one's-complement difference of the old and new /64: one constant per configuration
 *     when (L - m) % 16 = 0, as in Figure 3; otherwise the mapping computes it during the rewrite).
 *     For a first fragment the checksum covers the whole datagram; the same delta applies. A zero
 *     UDP checksum is invalid in IPv6 (RFC 8200 §8.1) -> DROP_UDP_ZERO_CHECKSUM.
 *  4. ICMPv6 error (types 1-4, RFC 4443 §3): the invoking packet inside went the other way, so its
 *     opposite address carries the same mapping (outer source <-> embedded destination). Rewrite it,
 *     fix the embedded transport checksum when the truncated copy holds it, and fold both changes
 *     into the outer ICMPv6 checksum (RFC 3022 §4.3).
 *  5. Any drop after step 1 undoes the rewrite: a dropped packet is left as it came.
 *
 * Embedded packets whose copy ends inside an extension header, or before the transport checksum,
 * get their address translated and nothing else (there is no checksum to fix in the copy).
 *
 * Directions (who calls which):
 *  - relay, customer -> Internet: translateSourceToProvider       (2002:V4ADDR:SLA:: -> P)
 *  - relay, Internet -> customer: translateDestinationTo6to4      (P -> 2002:V4ADDR:SLA::)
 *  - CPE, LAN -> wire:            translateSourceTo6to4           (P on the LAN -> 2002 on the wire)
 *  - CPE, wire -> LAN:            translateDestinationToProvider  (2002 on the wire -> P on the LAN)
 *
 * Hot path: no allocation, never throws. The caller owns `ul` (one per loop, reused); after a call
 * its contents are scratch.
 */

import type { PmtMapping } from "../addr/pmt-mapping.js";
import {
  DROP_ICMPV6_EMBEDDED_TRUNCATED,
  DROP_ICMPV6_TRUNCATED,
  DROP_IPV6_BAD_VERSION,
  DROP_IPV6_TRUNCATED,
  DROP_L4_TRUNCATED,
  DROP_NONE,
  DROP_UDP_ZERO_CHECKSUM,
  type DropReason,
} from "../addr/drop-reason.js";
import {
  ICMPV6_HEADER_BYTES,
  ICMPV6_OFF_CHECKSUM,
  ICMPV6_OFF_TYPE,
  ICMPV6_DEST_UNREACH,
  ICMPV6_PARAM_PROBLEM,
  IPPROTO_ICMPV6,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV6_HEADER_BYTES,
  IPV6_OFF_DST,
  IPV6_OFF_PAYLOAD_LEN,
  IPV6_OFF_SRC,
  IPV6_VERSION,
  TCP_MIN_HEADER_BYTES,
  TCP_OFF_CHECKSUM,
  UDP_HEADER_BYTES,
  UDP_OFF_CHECKSUM,
} from "../codec/constants.js";
import { walkToUpperLayer, type UpperLayer } from "../codec/ipv6.js";

/** The codec's UpperLayer factory, re-exported for the loops: one per loop, reused per packet. */
export { createUpperLayer } from "../codec/ipv6.js";

/**
 * Returned when the address to translate is not covered by the mapping (another SLA, a 6to4
 * address outside the IPv4 common prefix, an address outside the provider prefix). The packet is
 * untouched and is forwarded as plain 6to4 / native IPv6. Not a DropReason: never a counter index.
 */
export const TRANSLATE_NOT_MAPPED = -1;

/** DROP_NONE (translated), a DropReason (packet left as it came), or TRANSLATE_NOT_MAPPED. */
export type TranslateResult = DropReason | typeof TRANSLATE_NOT_MAPPED;

/** Relay, customer -> Internet: source 2002:V4ADDR:SLA::/64 -> provider /64 (RFC 6732 Figure 3). */
export function translateSourceToProvider(
  pkt: Buffer,
  off: number,
  len: number,
  mapping: PmtMapping,
  ul: UpperLayer,
): TranslateResult {
  return translatePacket(pkt, off, len, mapping, ul, IPV6_OFF_SRC, true);
}

/** Relay, Internet -> customer: destination provider /64 -> 2002:V4ADDR:SLA::/64. */
export function translateDestinationTo6to4(
  pkt: Buffer,
  off: number,
  len: number,
  mapping: PmtMapping,
  ul: UpperLayer,
): TranslateResult {
  return translatePacket(pkt, off, len, mapping, ul, IPV6_OFF_DST, false);
}

/** CPE, LAN -> wire: a LAN host's provider source /64 -> 2002:V4ADDR:SLA::/64 before encapsulation. */
export function translateSourceTo6to4(
  pkt: Buffer,
  off: number,
  len: number,
  mapping: PmtMapping,
  ul: UpperLayer,
): TranslateResult {
  return translatePacket(pkt, off, len, mapping, ul, IPV6_OFF_SRC, false);
}

/** CPE, wire -> LAN: destination 2002:V4ADDR:SLA::/64 -> the provider /64 the LAN uses. */
export function translateDestinationToProvider(
  pkt: Buffer,
  off: number,
  len: number,
  mapping: PmtMapping,
  ul: UpperLayer,
): TranslateResult {
  return translatePacket(pkt, off, len, mapping, ul, IPV6_OFF_DST, true);
}

/** Rewrites the 16-byte address at buf[addrOff] one way or the other; false = not mapped. */
function mapAddress(
  mapping: PmtMapping,
  toProvider: boolean,
  buf: Buffer,
  addrOff: number,
): boolean {
  return toProvider
    ? mapping.sixToFourToProvider(buf, addrOff)
    : mapping.providerToSixToFour(buf, addrOff);
}

/**
 * The one's-complement change (16 bits) of the address sum made by the rewrite that just
 * succeeded. When (L - m) % 16 === 0 (Figure 3 and most configurations) the mapping hands back its
 * per-configuration constant; otherwise the V4ADDR bits move by a part of a word and the mapping
 * computed this address's delta during the rewrite. Read it right after each rewrite.
 */
function lastDelta(mapping: PmtMapping): number {
  return mapping.lastChecksumDelta;
}

/** One's-complement 16-bit addition with end-around carry. */
function onesAdd(a: number, b: number): number {
  const s = a + b;
  return (s & 0xffff) + (s >>> 16);
}

/**
 * RFC 1624 eqn 3: HC' = ~(~HC + delta), delta = ~m + m' already folded to 16 bits. Never yields
 * 0xffff where a recomputation gives 0 (the sum of a non-empty packet is never +0).
 */
function adjusted(checksum: number, delta: number): number {
  return ~onesAdd(~checksum & 0xffff, delta) & 0xffff;
}

/*
 * Note: 16-bit fields are composed from bytes, high byte first, so they are network byte order on
 * any host as STYLE.md asks, like codec/checksum.ts. Not Buffer.readUInt16BE/writeUInt16BE: their
 * bounds and range checks cost about 40% of a translation here (bench:codec), and every offset
 * used below was checked against the packet end first.
 */
function read16(buf: Buffer, i: number): number {
  return (buf[i]! << 8) | buf[i + 1]!;
}

function write16(buf: Buffer, i: number, v: number): void {
  buf[i] = v >>> 8;
  buf[i + 1] = v & 0xff;
}

function translatePacket(
  pkt: Buffer,
  off: number,
  len: number,
  mapping: PmtMapping,
  ul: UpperLayer,
  field: number,
  toProvider: boolean,
): TranslateResult {
  if (len < IPV6_HEADER_BYTES || off < 0 || off + len > pkt.length) return DROP_IPV6_TRUNCATED;
  if (pkt[off]! >>> 4 !== IPV6_VERSION) return DROP_IPV6_BAD_VERSION;
  const addrOff = off + field;
  if (!mapAddress(mapping, toProvider, pkt, addrOff)) return TRANSLATE_NOT_MAPPED;
  const reason = fixUpperLayer(pkt, off, len, mapping, ul, field, toProvider, lastDelta(mapping));
  if (reason !== DROP_NONE) mapAddress(mapping, !toProvider, pkt, addrOff);
  return reason;
}

/** Steps 2-4; writes nothing before it knows it will not drop. */
function fixUpperLayer(
  pkt: Buffer,
  off: number,
  len: number,
  mapping: PmtMapping,
  ul: UpperLayer,
  field: number,
  toProvider: boolean,
  delta: number,
): DropReason {
  const walked = walkToUpperLayer(pkt, off, len, ul);
  if (walked !== DROP_NONE) return walked;
  // RFC 8200 §4.5: a non-first fragment has no upper-layer header; the checksum (in the first
  // fragment) covers the whole datagram and is fixed there.
  if (!ul.firstFragment) return DROP_NONE;
  // The walk checked that Payload Length fits in len; bytes after it (link padding) are not ours.
  const end = off + IPV6_HEADER_BYTES + read16(pkt, off + IPV6_OFF_PAYLOAD_LEN);
  const l4 = ul.offset;
  switch (ul.proto) {
    case IPPROTO_TCP: {
      if (l4 + TCP_MIN_HEADER_BYTES > end) return DROP_L4_TRUNCATED;
      const at = l4 + TCP_OFF_CHECKSUM;
      write16(pkt, at, adjusted(read16(pkt, at), delta));
      return DROP_NONE;
    }
    case IPPROTO_UDP: {
      if (l4 + UDP_HEADER_BYTES > end) return DROP_L4_TRUNCATED;
      const at = l4 + UDP_OFF_CHECKSUM;
      const checksum = read16(pkt, at);
      if (checksum === 0) return DROP_UDP_ZERO_CHECKSUM;
      // RFC 768 / RFC 8200 §8.1: a computed 0 is sent as 0xffff.
      write16(pkt, at, adjusted(checksum, delta) || 0xffff);
      return DROP_NONE;
    }
    case IPPROTO_ICMPV6:
      return fixIcmpv6(pkt, l4, end, mapping, ul, field, toProvider, delta);
    default:
      // ESP, AH, No Next Header, unknown: no checksum over the address that we can see.
      return DROP_NONE;
  }
}

function fixIcmpv6(
  pkt: Buffer,
  icmp: number,
  end: number,
  mapping: PmtMapping,
  ul: UpperLayer,
  field: number,
  toProvider: boolean,
  delta: number,
): DropReason {
  if (icmp + ICMPV6_HEADER_BYTES > end) return DROP_ICMPV6_TRUNCATED;
  const type = pkt[icmp + ICMPV6_OFF_TYPE]!;
  let outerDelta = delta;
  if (type >= ICMPV6_DEST_UNREACH && type <= ICMPV6_PARAM_PROBLEM) {
    // RFC 4443 §2.4 (c): the error holds as much of the invoking packet as fits; we need at least
    // its IPv6 header to find the address.
    const inner = icmp + ICMPV6_HEADER_BYTES;
    if (inner + IPV6_HEADER_BYTES > end) return DROP_ICMPV6_EMBEDDED_TRUNCATED;
    // The invoking packet travelled the opposite way: outer source <-> embedded destination.
    // An embedded address the mapping does not cover is left alone.
    const innerAddr = inner + (field === IPV6_OFF_SRC ? IPV6_OFF_DST : IPV6_OFF_SRC);
    if (mapAddress(mapping, toProvider, pkt, innerAddr)) {
      const innerDelta = lastDelta(mapping);
      // The embedded address bytes are ICMPv6 payload, and so is the embedded checksum word.
      outerDelta = onesAdd(outerDelta, innerDelta);
      outerDelta = onesAdd(outerDelta, fixEmbeddedChecksum(pkt, inner, end, ul, innerDelta));
    }
  }
  const at = icmp + ICMPV6_OFF_CHECKSUM;
  write16(pkt, at, adjusted(read16(pkt, at), outerDelta));
  return DROP_NONE;
}

/**
 * Fixes the transport checksum of the truncated invoking packet at pkt[inner, end) whose address
 * changed by `delta`, when the copy holds it; that checksum covers the whole original datagram,
 * so the same incremental delta applies. Returns the change of the checksum word as a 16-bit
 * one's-complement delta for the outer ICMPv6 checksum (0 when nothing changed).
 */
function fixEmbeddedChecksum(
  pkt: Buffer,
  inner: number,
  end: number,
  ul: UpperLayer,
  delta: number,
): number {
  // The copy may be cut short of its Payload Length (RFC 4443 §2.4 (c)): walk the bytes present.
  const walked = walkToUpperLayer(pkt, inner, end - inner, ul, true);
  if (walked !== DROP_NONE || !ul.firstFragment) return 0;
  const l4 = ul.offset;
  let at: number;
  switch (ul.proto) {
    case IPPROTO_TCP:
      at = l4 + TCP_OFF_CHECKSUM;
      break;
    case IPPROTO_UDP:
      at = l4 + UDP_OFF_CHECKSUM;
      break;
    case IPPROTO_ICMPV6:
      at = l4 + ICMPV6_OFF_CHECKSUM;
      break;
    default:
      return 0;
  }
  if (at + 2 > end) return 0;
  const old = read16(pkt, at);
  // A zero UDP checksum in the invoking packet stays: it is a copy, not ours to drop or invent.
  if (old === 0 && ul.proto === IPPROTO_UDP) return 0;
  let updated = adjusted(old, delta);
  if (updated === 0 && ul.proto === IPPROTO_UDP) updated = 0xffff;
  write16(pkt, at, updated);
  return onesAdd(~old & 0xffff, updated);
}
