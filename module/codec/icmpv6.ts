/**
 * ICMPv6 (RFC 4443): echo request/reply (§4.1, §4.2) and the error messages destination
 * unreachable (§3.1), packet too big (§3.2), time exceeded (§3.3), parameter problem (§3.4).
 *
 * Control plane: `encode`, `decode`, `encodingLength` over the ICMPv6 message (no IPv6 header).
 * The checksum covers the IPv6 pseudo-header (RFC 4443 §2.3), so `encode` fills it in and `decode`
 * verifies it only when the caller passes the source and destination addresses.
 * Hot path: `writeIcmpv6Error` builds a whole IPv6 + ICMPv6 error packet without allocating.
 */
import { copyBytes } from "./bytes.js";
import { fold, onesSum, pseudoHeaderSumV6 } from "./checksum.js";
import {
  ICMPV6_DEST_UNREACH,
  ICMPV6_ECHO_REPLY,
  ICMPV6_ECHO_REQUEST,
  ICMPV6_ERROR_HOP_LIMIT,
  ICMPV6_ERROR_MAX_BYTES,
  ICMPV6_HEADER_BYTES,
  ICMPV6_OFF_CHECKSUM,
  ICMPV6_OFF_CODE,
  ICMPV6_OFF_PARAM,
  ICMPV6_OFF_TYPE,
  ICMPV6_PACKET_TOO_BIG,
  ICMPV6_PARAM_PROBLEM,
  ICMPV6_TIME_EXCEEDED,
  IPPROTO_ICMPV6,
  IPV6_ADDR_BYTES,
  IPV6_HEADER_BYTES,
  IPV6_OFF_DST,
  IPV6_OFF_HOP_LIMIT,
  IPV6_OFF_NEXT_HEADER,
  IPV6_OFF_PAYLOAD_LEN,
  IPV6_OFF_SRC,
  IPV6_OFF_VER_TC_FLOW,
} from "./constants.js";
import { DecodeError } from "./decode-error.js";

export interface EchoMessage {
  kind: "echo-request" | "echo-reply";
  id: number;
  seq: number;
  data: Uint8Array;
}

/** Error messages carry as much of the invoking packet as fits (RFC 4443 §2.4 (c)). */
export interface DestUnreachMessage {
  kind: "dest-unreach";
  code: number;
  invoking: Uint8Array;
}
export interface PacketTooBigMessage {
  kind: "packet-too-big";
  /** Set to 0 by the sender, ignored by the receiver (RFC 4443 §3.2). */
  code: number;
  mtu: number;
  invoking: Uint8Array;
}
export interface TimeExceededMessage {
  kind: "time-exceeded";
  code: number;
  invoking: Uint8Array;
}
export interface ParamProblemMessage {
  kind: "param-problem";
  code: number;
  /** Offset in the invoking packet of the erroneous field (RFC 4443 §3.4). */
  pointer: number;
  invoking: Uint8Array;
}

export type Icmpv6Message =
  | EchoMessage
  | DestUnreachMessage
  | PacketTooBigMessage
  | TimeExceededMessage
  | ParamProblemMessage;

/** Pseudo-header addresses for the checksum (RFC 4443 §2.3). */
export interface Icmpv6Addresses {
  src: Uint8Array;
  dst: Uint8Array;
}

const TYPE_BY_KIND = {
  "echo-request": ICMPV6_ECHO_REQUEST,
  "echo-reply": ICMPV6_ECHO_REPLY,
  "dest-unreach": ICMPV6_DEST_UNREACH,
  "packet-too-big": ICMPV6_PACKET_TOO_BIG,
  "time-exceeded": ICMPV6_TIME_EXCEEDED,
  "param-problem": ICMPV6_PARAM_PROBLEM,
} as const;

function body(m: Icmpv6Message): Uint8Array {
  return "data" in m ? m.data : m.invoking;
}

/** Bytes `encode` writes: 8 plus the echo data or the invoking packet. */
export function encodingLength(m: Icmpv6Message): number {
  return ICMPV6_HEADER_BYTES + body(m).length;
}

/**
 * Unfolded ICMPv6 pseudo-header sum from two 16-byte addresses (RFC 4443 §2.3, RFC 8200 §8.1).
 */
export function pseudoHeaderSumFromAddresses(
  src: Uint8Array,
  dst: Uint8Array,
  upperLen: number,
  nextHeader = IPPROTO_ICMPV6,
): number {
  const s = onesSum(src, 0, IPV6_ADDR_BYTES, onesSum(dst, 0, IPV6_ADDR_BYTES));
  return s + (upperLen >>> 16) + (upperLen & 0xffff) + nextHeader;
}

/**
 * Computes and writes the checksum of the ICMPv6 message buf[off, off+len) for the given addresses.
 * Control plane; the hot-path equivalent reads the addresses from the IPv6 header in place
 * (`writeIcmpv6ChecksumInPacket`).
 */
export function writeIcmpv6Checksum(
  buf: Buffer,
  off: number,
  len: number,
  addrs: Icmpv6Addresses,
): void {
  buf.writeUInt16BE(0, off + ICMPV6_OFF_CHECKSUM);
  const sum = onesSum(buf, off, off + len, pseudoHeaderSumFromAddresses(addrs.src, addrs.dst, len));
  buf.writeUInt16BE(~fold(sum) & 0xffff, off + ICMPV6_OFF_CHECKSUM);
}

/**
 * Hot path: computes and writes the checksum of the ICMPv6 message at buf[icmpOff, icmpOff+len)
 * inside the IPv6 packet whose header starts at buf[ipOff].
 */
export function writeIcmpv6ChecksumInPacket(
  buf: Buffer,
  ipOff: number,
  icmpOff: number,
  len: number,
): void {
  buf.writeUInt16BE(0, icmpOff + ICMPV6_OFF_CHECKSUM);
  const ph = pseudoHeaderSumV6(
    buf,
    ipOff + IPV6_OFF_SRC,
    ipOff + IPV6_OFF_DST,
    len,
    IPPROTO_ICMPV6,
  );
  buf.writeUInt16BE(
    ~fold(onesSum(buf, icmpOff, icmpOff + len, ph)) & 0xffff,
    icmpOff + ICMPV6_OFF_CHECKSUM,
  );
}

/** True when the checksum of the ICMPv6 message buf[off, off+len) is right for the addresses. */
export function verifyIcmpv6Checksum(
  buf: Buffer,
  off: number,
  len: number,
  addrs: Icmpv6Addresses,
): boolean {
  const ph = pseudoHeaderSumFromAddresses(addrs.src, addrs.dst, len);
  return fold(onesSum(buf, off, off + len, ph)) === 0xffff;
}

/**
 * Writes the message at buf[offset] and returns the bytes written. The checksum is computed when
 * `addrs` is given, else left 0 (a raw ICMPv6 socket fills it in, RFC 3542 §3.1). Throws
 * RangeError on a bad value, a short buffer, or an error message that would make the IPv6
 * packet exceed 1280 bytes (RFC 4443 §2.4 (c)).
 */
export function encode(m: Icmpv6Message, buf: Buffer, offset = 0, addrs?: Icmpv6Addresses): number {
  const len = encodingLength(m);
  if (offset < 0 || offset + len > buf.length) {
    throw new RangeError(`ICMPv6 ${m.kind}: ${len} bytes do not fit at offset ${offset}`);
  }
  let code = 0;
  let param = 0;
  switch (m.kind) {
    case "echo-request":
    case "echo-reply":
      param = ((m.id & 0xffff) << 16) | (m.seq & 0xffff);
      break;
    case "packet-too-big":
      code = m.code;
      param = m.mtu;
      break;
    case "param-problem":
      code = m.code;
      param = m.pointer;
      break;
    default:
      code = m.code;
  }
  if (m.kind !== "echo-request" && m.kind !== "echo-reply") {
    if (IPV6_HEADER_BYTES + len > ICMPV6_ERROR_MAX_BYTES) {
      throw new RangeError(
        `ICMPv6 ${m.kind}: ${IPV6_HEADER_BYTES + len} bytes exceed 1280 (RFC 4443 §2.4 (c))`,
      );
    }
  }
  buf[offset + ICMPV6_OFF_TYPE] = TYPE_BY_KIND[m.kind];
  buf[offset + ICMPV6_OFF_CODE] = code;
  buf.writeUInt16BE(0, offset + ICMPV6_OFF_CHECKSUM);
  buf.writeUInt32BE(param >>> 0, offset + ICMPV6_OFF_PARAM);
  buf.set(body(m), offset + ICMPV6_HEADER_BYTES);
  if (addrs) writeIcmpv6Checksum(buf, offset, len, addrs);
  return len;
}

/**
 * Decodes the ICMPv6 message buf[offset, offset+len) (ICMPv6 has no length field of its own: len
 * is the IPv6 payload after extension headers). Verifies the checksum when `addrs` is given.
 * Throws DecodeError, also for types this module does not handle (see nd.ts for 133-137).
 */
export function decode(
  buf: Buffer,
  offset = 0,
  len = buf.length - offset,
  addrs?: Icmpv6Addresses,
): Icmpv6Message {
  if (len < ICMPV6_HEADER_BYTES || offset < 0 || offset + len > buf.length) {
    throw new DecodeError(`ICMPv6 message truncated: ${len} bytes at offset ${offset}, need 8`);
  }
  if (addrs && !verifyIcmpv6Checksum(buf, offset, len, addrs)) {
    const got = buf.readUInt16BE(offset + ICMPV6_OFF_CHECKSUM);
    throw new DecodeError(`ICMPv6 checksum 0x${got.toString(16)} is wrong`);
  }
  const type = buf[offset + ICMPV6_OFF_TYPE]!;
  const code = buf[offset + ICMPV6_OFF_CODE]!;
  const param = buf.readUInt32BE(offset + ICMPV6_OFF_PARAM);
  const rest = new Uint8Array(buf.subarray(offset + ICMPV6_HEADER_BYTES, offset + len));
  switch (type) {
    case ICMPV6_ECHO_REQUEST:
    case ICMPV6_ECHO_REPLY:
      if (code !== 0) throw new DecodeError(`ICMPv6 echo: code ${code}, expected 0 (RFC 4443 §4)`);
      return {
        kind: type === ICMPV6_ECHO_REQUEST ? "echo-request" : "echo-reply",
        id: param >>> 16,
        seq: param & 0xffff,
        data: rest,
      };
    case ICMPV6_DEST_UNREACH:
      return { kind: "dest-unreach", code, invoking: rest };
    case ICMPV6_PACKET_TOO_BIG:
      return { kind: "packet-too-big", code, mtu: param, invoking: rest };
    case ICMPV6_TIME_EXCEEDED:
      return { kind: "time-exceeded", code, invoking: rest };
    case ICMPV6_PARAM_PROBLEM:
      return { kind: "param-problem", code, pointer: param, invoking: rest };
    default:
      throw new DecodeError(`ICMPv6 type ${type} at offset ${offset} is not handled here`);
  }
}

/**
 * Hot path: builds a complete ICMPv6 error packet (IPv6 header + 8-byte ICMPv6 header + as much of
 * the invoking packet as fits) at buf[off] and returns its length, or 0 when not even the headers
 * fit. The total is at most min(maxTotal, 1280, buf.length - off) bytes (RFC 4443 §2.4 (c)).
 * `param` is the 32-bit field after the checksum (MTU, pointer, or 0). Source and destination are
 * read from src16[srcOff..+16] and dst16[dstOff..+16]. The invoking packet may lie in buf
 * itself (it is moved first, memmove-style) but the addresses must not lie in the output range.
 * Whether an error may be sent at all (RFC 4443 §2.4 (e), rate limits) is the caller's decision.
 */
export function writeIcmpv6Error(
  buf: Buffer,
  off: number,
  type: number,
  code: number,
  param: number,
  src16: Uint8Array,
  srcOff: number,
  dst16: Uint8Array,
  dstOff: number,
  invoking: Uint8Array,
  invOff: number,
  invLen: number,
  maxTotal: number,
): number {
  let limit = maxTotal < ICMPV6_ERROR_MAX_BYTES ? maxTotal : ICMPV6_ERROR_MAX_BYTES;
  if (limit > buf.length - off) limit = buf.length - off;
  const headers = IPV6_HEADER_BYTES + ICMPV6_HEADER_BYTES;
  if (off < 0 || limit < headers) return 0;
  let n = invLen;
  if (n > limit - headers) n = limit - headers;
  if (n < 0 || invOff < 0 || invOff + n > invoking.length) n = 0;
  const icmp = off + IPV6_HEADER_BYTES;
  copyBytes(buf, icmp + ICMPV6_HEADER_BYTES, invoking, invOff, n);
  const icmpLen = ICMPV6_HEADER_BYTES + n;
  buf.writeUInt32BE(0x60000000, off + IPV6_OFF_VER_TC_FLOW);
  buf.writeUInt16BE(icmpLen, off + IPV6_OFF_PAYLOAD_LEN);
  buf[off + IPV6_OFF_NEXT_HEADER] = IPPROTO_ICMPV6;
  buf[off + IPV6_OFF_HOP_LIMIT] = ICMPV6_ERROR_HOP_LIMIT;
  copyBytes(buf, off + IPV6_OFF_SRC, src16, srcOff, IPV6_ADDR_BYTES);
  copyBytes(buf, off + IPV6_OFF_DST, dst16, dstOff, IPV6_ADDR_BYTES);
  buf[icmp + ICMPV6_OFF_TYPE] = type;
  buf[icmp + ICMPV6_OFF_CODE] = code;
  buf.writeUInt32BE(param >>> 0, icmp + ICMPV6_OFF_PARAM);
  writeIcmpv6ChecksumInPacket(buf, off, icmp, icmpLen);
  return IPV6_HEADER_BYTES + icmpLen;
}
