/**
 * Builders of valid IPv6 packets (TCP, UDP, ICMPv6 echo, optional extension headers) and their
 * 6to4 IPv4 encapsulation, with correct checksums, for unit tests and benchmarks. Addresses are
 * strings (documentation ranges, e.g. "2001:db8::1", "2002:c000:201::1") or 16-byte arrays.
 * Allocation is fine here: this is test code, not the hot path.
 */
import { parseIpv4 } from "../../module/addr/ipv4.js";
import { parseIpv6 } from "../../module/addr/ipv6.js";
import { fold, onesSum, pseudoHeaderSumV6 } from "../../module/codec/checksum.js";
import {
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ICMPV6,
  IPPROTO_IPV6,
  IPPROTO_ROUTING,
  IPPROTO_TCP,
  IPPROTO_UDP,
  IPV4_MIN_HEADER_BYTES,
  IPV6_HEADER_BYTES,
} from "../../module/codec/constants.js";
import { encode as encodeIpv6 } from "../../module/codec/ipv6.js";
import { writeIpv4Header } from "../../module/codec/ipv4.js";
import { pseudoHeaderSumFromAddresses } from "../../module/codec/icmpv6.js";

export type Addr6 = string | Uint8Array;
export type Addr4 = string | number;

export function addr6(a: Addr6): Uint8Array {
  if (typeof a !== "string") return a;
  const b = parseIpv6(a);
  if (b === null) throw new Error(`packet-builder: bad IPv6 address "${a}"`);
  return b;
}

export function addr4(a: Addr4): number {
  if (typeof a === "number") return a >>> 0;
  const n = parseIpv4(a);
  if (n === null) throw new Error(`packet-builder: bad IPv4 address "${a}"`);
  return n;
}

/**
 * An IPv6 extension header. Hop-by-Hop (0), Routing (43) and Destination Options (60) carry `data`
 * (bytes after Next Header/Hdr Ext Len; padded with PadN so the header is a multiple of 8).
 * Fragment (44) uses fragmentOffset (8-byte units), more, ident.
 */
export interface ExtHeader {
  type: number;
  data?: Uint8Array;
  fragmentOffset?: number;
  more?: boolean;
  ident?: number;
}

export interface Ipv6PacketSpec {
  src: Addr6;
  dst: Addr6;
  nextHeader: number;
  payload: Uint8Array;
  hopLimit?: number;
  trafficClass?: number;
  flowLabel?: number;
  extHeaders?: ExtHeader[];
}

function encodeExtHeader(h: ExtHeader, next: number): Buffer {
  if (h.type === IPPROTO_FRAGMENT) {
    const b = Buffer.alloc(8);
    b[0] = next;
    b.writeUInt16BE(((h.fragmentOffset ?? 0) << 3) | (h.more ? 1 : 0), 2);
    b.writeUInt32BE(h.ident ?? 0x12345678, 4);
    return b;
  }
  if (h.type !== IPPROTO_HOPOPTS && h.type !== IPPROTO_ROUTING && h.type !== IPPROTO_DSTOPTS) {
    throw new Error(`packet-builder: extension header ${h.type} not supported`);
  }
  const data = h.data ?? Buffer.alloc(0);
  let total = Math.ceil((2 + data.length) / 8) * 8;
  if (total === 0) total = 8;
  const b = Buffer.alloc(total);
  b[0] = next;
  b[1] = total / 8 - 1;
  b.set(data, 2);
  const padLen = total - 2 - data.length;
  if (h.type !== IPPROTO_ROUTING && padLen > 0) {
    // RFC 8200 §4.2: Pad1 (0) for one byte, PadN (1, len) for more.
    if (padLen === 1) b[2 + data.length] = 0;
    else {
      b[2 + data.length] = 1;
      b[3 + data.length] = padLen - 2;
    }
  }
  return b;
}

/**
 * Builds an IPv6 packet: header, extension headers in the given order, payload. The payload's
 * checksum is the caller's (buildTcp & co. use spec.dst; with a Routing header RFC 8200 §8.1 wants
 * the final destination instead, so pass that as the builder's dst).
 */
export function buildIpv6Packet(spec: Ipv6PacketSpec): Buffer {
  const exts = spec.extHeaders ?? [];
  const parts: Buffer[] = [];
  for (let i = 0; i < exts.length; i++) {
    const next = i + 1 < exts.length ? exts[i + 1]!.type : spec.nextHeader;
    parts.push(encodeExtHeader(exts[i]!, next));
  }
  parts.push(Buffer.from(spec.payload));
  const body = Buffer.concat(parts);
  const hdr = Buffer.alloc(IPV6_HEADER_BYTES);
  encodeIpv6(
    {
      trafficClass: spec.trafficClass ?? 0,
      flowLabel: spec.flowLabel ?? 0,
      payloadLength: body.length,
      nextHeader: exts.length > 0 ? exts[0]!.type : spec.nextHeader,
      hopLimit: spec.hopLimit ?? 64,
      src: addr6(spec.src),
      dst: addr6(spec.dst),
    },
    hdr,
    0,
  );
  return Buffer.concat([hdr, body]);
}

/** Upper-layer checksum over the IPv6 pseudo-header (RFC 8200 §8.1), written at `csumOff`. */
export function writeUpperChecksum(
  seg: Buffer,
  csumOff: number,
  src: Addr6,
  dst: Addr6,
  proto: number,
): void {
  seg.writeUInt16BE(0, csumOff);
  const ph = pseudoHeaderSumFromAddresses(addr6(src), addr6(dst), seg.length, proto);
  let c = ~fold(onesSum(seg, 0, seg.length, ph)) & 0xffff;
  if (proto === IPPROTO_UDP && c === 0) c = 0xffff; // RFC 768: 0 means "no checksum"
  seg.writeUInt16BE(c, csumOff);
}

export interface TcpSpec {
  src: Addr6;
  dst: Addr6;
  srcPort?: number;
  dstPort?: number;
  seq?: number;
  ack?: number;
  /** TCP flag bits: FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10. */
  flags?: number;
  window?: number;
  /** Raw TCP options, padded to a multiple of 4 with End-of-Option-List. */
  options?: Uint8Array;
  payload?: Uint8Array;
}

/** A TCP segment (RFC 9293 §3.1) with its checksum for the given addresses. */
export function buildTcp(s: TcpSpec): Buffer {
  const opts = s.options ?? Buffer.alloc(0);
  const optLen = Math.ceil(opts.length / 4) * 4;
  const payload = s.payload ?? Buffer.alloc(0);
  const seg = Buffer.alloc(20 + optLen + payload.length);
  seg.writeUInt16BE(s.srcPort ?? 40000, 0);
  seg.writeUInt16BE(s.dstPort ?? 80, 2);
  seg.writeUInt32BE((s.seq ?? 1000) >>> 0, 4);
  seg.writeUInt32BE((s.ack ?? 0) >>> 0, 8);
  seg[12] = ((20 + optLen) / 4) << 4;
  seg[13] = s.flags ?? 0x02;
  seg.writeUInt16BE(s.window ?? 65535, 14);
  seg.set(opts, 20);
  seg.set(payload, 20 + optLen);
  writeUpperChecksum(seg, 16, s.src, s.dst, IPPROTO_TCP);
  return seg;
}

export interface UdpSpec {
  src: Addr6;
  dst: Addr6;
  srcPort?: number;
  dstPort?: number;
  payload?: Uint8Array;
  /** Leave the checksum 0 (invalid in IPv6, RFC 8200 §8.1) to test the drop. */
  zeroChecksum?: boolean;
}

/** A UDP datagram (RFC 768) with its checksum for the given addresses. */
export function buildUdp(s: UdpSpec): Buffer {
  const payload = s.payload ?? Buffer.alloc(0);
  const seg = Buffer.alloc(8 + payload.length);
  seg.writeUInt16BE(s.srcPort ?? 40000, 0);
  seg.writeUInt16BE(s.dstPort ?? 53, 2);
  seg.writeUInt16BE(seg.length, 4);
  seg.set(payload, 8);
  if (!s.zeroChecksum) writeUpperChecksum(seg, 6, s.src, s.dst, IPPROTO_UDP);
  return seg;
}

export interface EchoSpec {
  src: Addr6;
  dst: Addr6;
  id?: number;
  seq?: number;
  data?: Uint8Array;
  reply?: boolean;
}

/** An ICMPv6 echo request (or reply) message (RFC 4443 §4.1) with its checksum. */
export function buildIcmpv6Echo(s: EchoSpec): Buffer {
  const data = s.data ?? Buffer.from("6to4-pmt echo");
  const m = Buffer.alloc(8 + data.length);
  m[0] = s.reply ? 129 : 128;
  m.writeUInt16BE(s.id ?? 0x6732, 4);
  m.writeUInt16BE(s.seq ?? 1, 6);
  m.set(data, 8);
  writeUpperChecksum(m, 2, s.src, s.dst, IPPROTO_ICMPV6);
  return m;
}

type PacketOpts = Omit<Ipv6PacketSpec, "nextHeader" | "payload">;

/** A whole IPv6 packet carrying buildTcp(spec). */
export function buildTcpPacket(spec: TcpSpec & PacketOpts): Buffer {
  return buildIpv6Packet({ ...spec, nextHeader: IPPROTO_TCP, payload: buildTcp(spec) });
}

/** A whole IPv6 packet carrying buildUdp(spec). */
export function buildUdpPacket(spec: UdpSpec & PacketOpts): Buffer {
  return buildIpv6Packet({ ...spec, nextHeader: IPPROTO_UDP, payload: buildUdp(spec) });
}

/** A whole IPv6 packet carrying buildIcmpv6Echo(spec). */
export function buildIcmpv6EchoPacket(spec: EchoSpec & PacketOpts): Buffer {
  return buildIpv6Packet({ ...spec, nextHeader: IPPROTO_ICMPV6, payload: buildIcmpv6Echo(spec) });
}

/**
 * 6to4 encapsulation (RFC 3056 §5): a 20-byte IPv4 header, protocol 41, in front of `ipv6`.
 * `headroom` bytes of zeros are put before it (to mimic batch buffers that start at byte 20).
 */
export function encapsulate6to4(
  ipv6: Uint8Array,
  src: Addr4,
  dst: Addr4,
  opts: { ttl?: number; id?: number; df?: boolean; headroom?: number } = {},
): Buffer {
  const head = opts.headroom ?? 0;
  const out = Buffer.alloc(head + IPV4_MIN_HEADER_BYTES + ipv6.length);
  const total = IPV4_MIN_HEADER_BYTES + ipv6.length;
  writeIpv4Header(
    out,
    head,
    total,
    IPPROTO_IPV6,
    addr4(src),
    addr4(dst),
    opts.ttl ?? 64,
    opts.id ?? 0,
    opts.df ?? true,
  );
  out.set(ipv6, head + IPV4_MIN_HEADER_BYTES);
  return out;
}

export interface Ipv4UdpSpec {
  src: Addr4;
  dst: Addr4;
  srcPort: number;
  dstPort: number;
  payload: Uint8Array;
  ttl?: number;
}

/** An IPv4 packet carrying UDP (RFC 768) with both checksums, e.g. for a DHCPv4 message. */
export function buildIpv4UdpPacket(s: Ipv4UdpSpec): Buffer {
  const src = addr4(s.src);
  const dst = addr4(s.dst);
  const udpLen = 8 + s.payload.length;
  const out = Buffer.alloc(IPV4_MIN_HEADER_BYTES + udpLen);
  writeIpv4Header(out, 0, out.length, IPPROTO_UDP, src, dst, s.ttl ?? 64, 1, false);
  const u = IPV4_MIN_HEADER_BYTES;
  out.writeUInt16BE(s.srcPort, u);
  out.writeUInt16BE(s.dstPort, u + 2);
  out.writeUInt16BE(udpLen, u + 4);
  out.set(s.payload, u + 8);
  // IPv4 pseudo-header (RFC 768): src, dst, zero, protocol, UDP length.
  const ph = (src >>> 16) + (src & 0xffff) + (dst >>> 16) + (dst & 0xffff) + IPPROTO_UDP + udpLen;
  let c = ~fold(onesSum(out, u, out.length, ph)) & 0xffff;
  if (c === 0) c = 0xffff;
  out.writeUInt16BE(c, u + 6);
  return out;
}

/**
 * True when the upper-layer checksum (TCP, UDP, ICMPv6) of an IPv6 packet whose upper layer
 * follows the fixed header verifies; `nextHeader` defaults to the packet's own.
 */
export function upperChecksumOk(pkt: Uint8Array, nextHeader = pkt[6]!): boolean {
  const sum = pseudoHeaderSumV6(pkt, 8, 24, pkt.length - 40, nextHeader);
  return fold(onesSum(pkt, 40, pkt.length, sum)) === 0xffff;
}
