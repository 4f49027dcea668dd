/**
 * IPv4 header (RFC 791 §3.1), the outer header of 6to4 packets (protocol 41, RFC 3056 §5).
 *
 * Control plane: `encode`, `decode`, `encodingLength` for a full header value including options.
 * Hot path: `writeIpv4Header` (encapsulation) and `checkIpv4Header` (decapsulation) work on the
 * packet in place, allocate nothing and never throw.
 */
import type { DropReason } from "../addr/drop-reason.js";
import {
  DROP_IPV4_BAD_CHECKSUM,
  DROP_IPV4_BAD_HEADER_LENGTH,
  DROP_IPV4_BAD_VERSION,
  DROP_IPV4_FRAGMENT,
  DROP_IPV4_LENGTH_MISMATCH,
  DROP_IPV4_NOT_PROTO41,
  DROP_IPV4_TRUNCATED,
  DROP_NONE,
} from "../addr/drop-reason.js";
import { fold, internetChecksum, onesSum } from "./checksum.js";
import {
  IPPROTO_IPV6,
  IPV4_FLAG_DF,
  IPV4_FLAG_MF,
  IPV4_FRAG_OFFSET_MASK,
  IPV4_MAX_HEADER_BYTES,
  IPV4_MIN_HEADER_BYTES,
  IPV4_OFF_CHECKSUM,
  IPV4_OFF_DST,
  IPV4_OFF_FLAGS_FRAG,
  IPV4_OFF_ID,
  IPV4_OFF_PROTO,
  IPV4_OFF_SRC,
  IPV4_OFF_TOS,
  IPV4_OFF_TOTAL_LEN,
  IPV4_OFF_TTL,
  IPV4_OFF_VER_IHL,
  IPV4_VERSION,
} from "./constants.js";
import { DecodeError } from "./decode-error.js";

/** A decoded IPv4 header. Addresses are unsigned 32-bit numbers. */
export interface Ipv4Header {
  /** DSCP and ECN byte (RFC 2474, RFC 3168). */
  tos: number;
  /** Total Length field: header plus payload in bytes. */
  totalLength: number;
  id: number;
  dontFragment: boolean;
  moreFragments: boolean;
  /** Fragment Offset in 8-byte units (RFC 791 §3.1). */
  fragmentOffset: number;
  ttl: number;
  protocol: number;
  src: number;
  dst: number;
  /** Raw option bytes, a multiple of 4 long, at most 40 (IHL 15). */
  options: Uint8Array;
}

export interface Ipv4DecodeOptions {
  /** Throw on a wrong header checksum (default true). */
  verifyChecksum?: boolean;
}

/** Bytes `encode` writes: 20 plus the options. */
export function encodingLength(h: Ipv4Header): number {
  return IPV4_MIN_HEADER_BYTES + h.options.length;
}

/**
 * Writes the header, computing the header checksum, and returns the bytes written. Throws
 * RangeError on a value that cannot be encoded or when buf is too short.
 */
export function encode(h: Ipv4Header, buf: Buffer, offset = 0): number {
  const len = encodingLength(h);
  if (h.options.length % 4 !== 0 || len > IPV4_MAX_HEADER_BYTES) {
    throw new RangeError(`IPv4 options: length ${h.options.length} is not a multiple of 4 <= 40`);
  }
  if (h.totalLength < len || h.totalLength > 0xffff) {
    throw new RangeError(`IPv4 totalLength ${h.totalLength}: expected ${len}..65535`);
  }
  if (h.fragmentOffset < 0 || h.fragmentOffset > IPV4_FRAG_OFFSET_MASK) {
    throw new RangeError(`IPv4 fragmentOffset ${h.fragmentOffset}: expected 0..8191`);
  }
  if (offset < 0 || offset + len > buf.length) {
    throw new RangeError(`IPv4 header: ${len} bytes do not fit at offset ${offset}`);
  }
  buf[offset + IPV4_OFF_VER_IHL] = (IPV4_VERSION << 4) | (len >>> 2);
  buf[offset + IPV4_OFF_TOS] = h.tos;
  buf.writeUInt16BE(h.totalLength, offset + IPV4_OFF_TOTAL_LEN);
  buf.writeUInt16BE(h.id, offset + IPV4_OFF_ID);
  const flags = (h.dontFragment ? IPV4_FLAG_DF : 0) | (h.moreFragments ? IPV4_FLAG_MF : 0);
  buf.writeUInt16BE(flags | h.fragmentOffset, offset + IPV4_OFF_FLAGS_FRAG);
  buf[offset + IPV4_OFF_TTL] = h.ttl;
  buf[offset + IPV4_OFF_PROTO] = h.protocol;
  buf.writeUInt16BE(0, offset + IPV4_OFF_CHECKSUM);
  buf.writeUInt32BE(h.src >>> 0, offset + IPV4_OFF_SRC);
  buf.writeUInt32BE(h.dst >>> 0, offset + IPV4_OFF_DST);
  buf.set(h.options, offset + IPV4_MIN_HEADER_BYTES);
  buf.writeUInt16BE(internetChecksum(buf, offset, offset + len), offset + IPV4_OFF_CHECKSUM);
  return len;
}

/**
 * Decodes the header at buf[offset]; `len` bounds the bytes available (default: to the end of
 * buf). Only the header is read; the payload need not be present. Throws DecodeError.
 * The reserved flag bit is ignored (RFC 791 §3.1 "must be zero").
 */
export function decode(
  buf: Buffer,
  offset = 0,
  len = buf.length - offset,
  opts: Ipv4DecodeOptions = {},
): Ipv4Header {
  if (len < IPV4_MIN_HEADER_BYTES) {
    throw new DecodeError(`IPv4 header truncated: ${len} bytes at offset ${offset}, need 20`);
  }
  const verIhl = buf[offset + IPV4_OFF_VER_IHL]!;
  if (verIhl >>> 4 !== IPV4_VERSION) {
    throw new DecodeError(`IPv4 header at offset ${offset}: version ${verIhl >>> 4}, expected 4`);
  }
  const hlen = (verIhl & 0x0f) * 4;
  if (hlen < IPV4_MIN_HEADER_BYTES) {
    throw new DecodeError(`IPv4 header at offset ${offset}: IHL ${hlen / 4} < 5`);
  }
  if (hlen > len) {
    throw new DecodeError(`IPv4 header truncated: IHL says ${hlen} bytes, ${len} available`);
  }
  const totalLength = buf.readUInt16BE(offset + IPV4_OFF_TOTAL_LEN);
  if (totalLength < hlen) {
    throw new DecodeError(`IPv4 total length ${totalLength} < header length ${hlen}`);
  }
  if (opts.verifyChecksum !== false && internetChecksum(buf, offset, offset + hlen) !== 0) {
    const got = buf.readUInt16BE(offset + IPV4_OFF_CHECKSUM);
    throw new DecodeError(`IPv4 header checksum 0x${got.toString(16)} is wrong`);
  }
  const flagsFrag = buf.readUInt16BE(offset + IPV4_OFF_FLAGS_FRAG);
  return {
    tos: buf[offset + IPV4_OFF_TOS]!,
    totalLength,
    id: buf.readUInt16BE(offset + IPV4_OFF_ID),
    dontFragment: (flagsFrag & IPV4_FLAG_DF) !== 0,
    moreFragments: (flagsFrag & IPV4_FLAG_MF) !== 0,
    fragmentOffset: flagsFrag & IPV4_FRAG_OFFSET_MASK,
    ttl: buf[offset + IPV4_OFF_TTL]!,
    protocol: buf[offset + IPV4_OFF_PROTO]!,
    src: buf.readUInt32BE(offset + IPV4_OFF_SRC),
    dst: buf.readUInt32BE(offset + IPV4_OFF_DST),
    options: new Uint8Array(buf.subarray(offset + IPV4_MIN_HEADER_BYTES, offset + hlen)),
  };
}

/** The low 16 bits of v at buf[at], high byte first. */
function put16(buf: Buffer, at: number, v: number): void {
  buf[at] = (v >>> 8) & 0xff;
  buf[at + 1] = v & 0xff;
}

/**
 * Hot path: writes a 20-byte IPv4 header without options at buf[off] with its checksum, and
 * returns 20. `src`/`dst` are unsigned 32-bit numbers; `df` sets Don't Fragment (RFC 4213 §3.2.1).
 * The caller guarantees off + 20 <= buf.length. The checksum is summed from the values, not
 * re-read from memory.
 */
export function writeIpv4Header(
  buf: Buffer,
  off: number,
  totalLen: number,
  proto: number,
  src: number,
  dst: number,
  ttl: number,
  id: number,
  df: boolean,
): number {
  const w0 = 0x4500; // version 4, IHL 5, TOS 0
  const w3 = df ? IPV4_FLAG_DF : 0;
  const w4 = ((ttl & 0xff) << 8) | (proto & 0xff);
  const sum =
    w0 +
    (totalLen & 0xffff) +
    (id & 0xffff) +
    w3 +
    w4 +
    (src >>> 16) +
    (src & 0xffff) +
    (dst >>> 16) +
    (dst & 0xffff);
  // Note: byte stores, high byte first (network order on any host). Buffer.writeUInt16BE/32BE
  // range-check each value and box src/dst >= 2^31 per call: 5x slower and one allocation per
  // packet (bench:codec).
  put16(buf, off + IPV4_OFF_VER_IHL, w0);
  put16(buf, off + IPV4_OFF_TOTAL_LEN, totalLen);
  put16(buf, off + IPV4_OFF_ID, id);
  put16(buf, off + IPV4_OFF_FLAGS_FRAG, w3);
  put16(buf, off + IPV4_OFF_TTL, w4);
  put16(buf, off + IPV4_OFF_CHECKSUM, ~fold(sum));
  put16(buf, off + IPV4_OFF_SRC, src >>> 16);
  put16(buf, off + IPV4_OFF_SRC + 2, src);
  put16(buf, off + IPV4_OFF_DST, dst >>> 16);
  put16(buf, off + IPV4_OFF_DST + 2, dst);
  return IPV4_MIN_HEADER_BYTES;
}

/** Hot path: the header length in bytes from the IHL field (no validation). */
export function ipv4HeaderLength(buf: Buffer, off: number): number {
  return (buf[off + IPV4_OFF_VER_IHL]! & 0x0f) << 2;
}

/**
 * Hot path: validates the outer IPv4 header of a received protocol-41 packet buf[off, off+len):
 * length, version, IHL, header checksum, total length, not a fragment, protocol 41. Returns
 * DROP_NONE or the reason. Bytes beyond Total Length (link padding) are allowed; the inner IPv6
 * packet is buf[off + ipv4HeaderLength, off + totalLength).
 */
export function checkIpv4Header(buf: Buffer, off: number, len: number): DropReason {
  if (len < IPV4_MIN_HEADER_BYTES || off < 0 || off + len > buf.length) {
    return DROP_IPV4_TRUNCATED;
  }
  const verIhl = buf[off + IPV4_OFF_VER_IHL]!;
  if (verIhl >>> 4 !== IPV4_VERSION) return DROP_IPV4_BAD_VERSION;
  const hlen = (verIhl & 0x0f) << 2;
  if (hlen < IPV4_MIN_HEADER_BYTES || hlen > len) return DROP_IPV4_BAD_HEADER_LENGTH;
  if (fold(onesSum(buf, off, off + hlen)) !== 0xffff) return DROP_IPV4_BAD_CHECKSUM;
  const totalLen = buf.readUInt16BE(off + IPV4_OFF_TOTAL_LEN);
  if (totalLen < hlen || totalLen > len) return DROP_IPV4_LENGTH_MISMATCH;
  if (
    (buf.readUInt16BE(off + IPV4_OFF_FLAGS_FRAG) & (IPV4_FLAG_MF | IPV4_FRAG_OFFSET_MASK)) !==
    0
  ) {
    return DROP_IPV4_FRAGMENT;
  }
  if (buf[off + IPV4_OFF_PROTO] !== IPPROTO_IPV6) return DROP_IPV4_NOT_PROTO41;
  return DROP_NONE;
}
