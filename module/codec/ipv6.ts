/**
 * IPv6 header (RFC 8200 §3) and the extension-header walk to the upper-layer header (RFC 8200 §4).
 *
 * Control plane: `encode`, `decode`, `encodingLength` for the fixed 40-byte header.
 * Hot path: `walkToUpperLayer` reads the packet in place, fills a caller-owned `UpperLayer`,
 * allocates nothing and never throws.
 */
import type { DropReason } from "../addr/drop-reason.js";
import {
  DROP_EXT_HEADER_TRUNCATED,
  DROP_IPV6_BAD_VERSION,
  DROP_IPV6_LENGTH_MISMATCH,
  DROP_IPV6_TRUNCATED,
  DROP_NONE,
} from "../addr/drop-reason.js";
import {
  EXT_OFF_HDR_EXT_LEN,
  EXT_OFF_NEXT_HEADER,
  EXT_UNIT_BYTES,
  FRAG_HEADER_BYTES,
  FRAG_OFF_OFFSET_FLAGS,
  FRAG_OFFSET_MASK,
  IPPROTO_DSTOPTS,
  IPPROTO_FRAGMENT,
  IPPROTO_HOPOPTS,
  IPPROTO_ROUTING,
  IPV6_ADDR_BYTES,
  IPV6_HEADER_BYTES,
  IPV6_OFF_DST,
  IPV6_OFF_HOP_LIMIT,
  IPV6_OFF_NEXT_HEADER,
  IPV6_OFF_PAYLOAD_LEN,
  IPV6_OFF_SRC,
  IPV6_OFF_VER_TC_FLOW,
  IPV6_VERSION,
} from "./constants.js";
import { DecodeError } from "./decode-error.js";

/** A decoded IPv6 fixed header. Addresses are 16-byte copies. */
export interface Ipv6Header {
  trafficClass: number;
  /** 20-bit flow label (RFC 6437). */
  flowLabel: number;
  /** Payload Length field: bytes after the 40-byte header. */
  payloadLength: number;
  nextHeader: number;
  hopLimit: number;
  src: Uint8Array;
  dst: Uint8Array;
}

/** Bytes `encode` writes: always 40. */
export function encodingLength(_h?: Ipv6Header): number {
  return IPV6_HEADER_BYTES;
}

/** Writes the 40-byte header and returns 40. Throws RangeError on a bad value or short buffer. */
export function encode(h: Ipv6Header, buf: Buffer, offset = 0): number {
  if (h.src.length !== IPV6_ADDR_BYTES || h.dst.length !== IPV6_ADDR_BYTES) {
    throw new RangeError("IPv6 src/dst: expected 16-byte addresses");
  }
  if (h.flowLabel < 0 || h.flowLabel > 0xfffff) {
    throw new RangeError(`IPv6 flowLabel ${h.flowLabel}: expected 0..0xfffff`);
  }
  if (offset < 0 || offset + IPV6_HEADER_BYTES > buf.length) {
    throw new RangeError(`IPv6 header: 40 bytes do not fit at offset ${offset}`);
  }
  const word0 = ((IPV6_VERSION << 28) | ((h.trafficClass & 0xff) << 20) | h.flowLabel) >>> 0;
  buf.writeUInt32BE(word0, offset + IPV6_OFF_VER_TC_FLOW);
  buf.writeUInt16BE(h.payloadLength, offset + IPV6_OFF_PAYLOAD_LEN);
  buf[offset + IPV6_OFF_NEXT_HEADER] = h.nextHeader;
  buf[offset + IPV6_OFF_HOP_LIMIT] = h.hopLimit;
  buf.set(h.src, offset + IPV6_OFF_SRC);
  buf.set(h.dst, offset + IPV6_OFF_DST);
  return IPV6_HEADER_BYTES;
}

/**
 * Decodes the fixed header at buf[offset]; `len` bounds the bytes available (default: to the end
 * of buf). Only the 40-byte header is read. Throws DecodeError.
 */
export function decode(buf: Buffer, offset = 0, len = buf.length - offset): Ipv6Header {
  if (len < IPV6_HEADER_BYTES || offset < 0 || offset + IPV6_HEADER_BYTES > buf.length) {
    throw new DecodeError(`IPv6 header truncated: ${len} bytes at offset ${offset}, need 40`);
  }
  const word0 = buf.readUInt32BE(offset + IPV6_OFF_VER_TC_FLOW);
  if (word0 >>> 28 !== IPV6_VERSION) {
    throw new DecodeError(`IPv6 header at offset ${offset}: version ${word0 >>> 28}, expected 6`);
  }
  return {
    trafficClass: (word0 >>> 20) & 0xff,
    flowLabel: word0 & 0xfffff,
    payloadLength: buf.readUInt16BE(offset + IPV6_OFF_PAYLOAD_LEN),
    nextHeader: buf[offset + IPV6_OFF_NEXT_HEADER]!,
    hopLimit: buf[offset + IPV6_OFF_HOP_LIMIT]!,
    src: new Uint8Array(buf.subarray(offset + IPV6_OFF_SRC, offset + IPV6_OFF_SRC + 16)),
    dst: new Uint8Array(buf.subarray(offset + IPV6_OFF_DST, offset + IPV6_OFF_DST + 16)),
  };
}

/** Where the upper-layer header starts; caller-owned and reused per packet. */
export interface UpperLayer {
  /** Next Header value of the first header the walk did not step over. */
  proto: number;
  /** Absolute offset in buf of that header (or of the fragment data, see firstFragment). */
  offset: number;
  /** True when the packet carries a Fragment header (RFC 8200 §4.5). */
  fragment: boolean;
  /**
   * True when the packet starts the upper-layer data: it is not fragmented, or it is the fragment
   * with offset 0. When false, `offset` points at fragment data, not at an upper-layer header
   * (RFC 8200 §4.5), and the upper-layer checksum must be left alone.
   */
  firstFragment: boolean;
}

/** A fresh UpperLayer to preallocate once and pass to walkToUpperLayer for every packet. */
export function createUpperLayer(): UpperLayer {
  return { proto: 0, offset: 0, fragment: false, firstFragment: true };
}

/**
 * Hot path: checks the IPv6 header of buf[off, off+len) (length, version, Payload Length) and walks
 * the Hop-by-Hop, Routing, Fragment and Destination Options headers (RFC 8200 §4) to the first
 * other header: upper layer, ESP (50), AH (51), No Next Header (59) or unknown. Fills `out` and
 * returns DROP_NONE, or a reason (DROP_IPV6_TRUNCATED, DROP_IPV6_BAD_VERSION,
 * DROP_IPV6_LENGTH_MISMATCH, DROP_EXT_HEADER_TRUNCATED). Bytes after 40 + Payload Length are
 * ignored. A Hop-by-Hop header anywhere but first is not stepped over (RFC 8200 §4.1): the walk
 * stops there with proto 0. A non-first fragment stops the walk right after its Fragment header.
 *
 * `truncatedOk`: the packet may be cut short of its Payload Length, as the invoking packet inside
 * an ICMPv6 error is (RFC 4443 §2.4 (c)); the walk is then bounded by `len` instead of returning
 * DROP_IPV6_LENGTH_MISMATCH (a header cut off still gives DROP_EXT_HEADER_TRUNCATED). The upper
 * layer header at `out.offset` may itself be incomplete: check its bytes against off + len.
 */
export function walkToUpperLayer(
  buf: Buffer,
  off: number,
  len: number,
  out: UpperLayer,
  truncatedOk = false,
): DropReason {
  out.fragment = false;
  out.firstFragment = true;
  if (len < IPV6_HEADER_BYTES || off < 0 || off + len > buf.length) return DROP_IPV6_TRUNCATED;
  if (buf[off + IPV6_OFF_VER_TC_FLOW]! >>> 4 !== IPV6_VERSION) return DROP_IPV6_BAD_VERSION;
  let end = off + IPV6_HEADER_BYTES + buf.readUInt16BE(off + IPV6_OFF_PAYLOAD_LEN);
  if (end > off + len) {
    if (!truncatedOk) return DROP_IPV6_LENGTH_MISMATCH;
    end = off + len;
  }
  let nh = buf[off + IPV6_OFF_NEXT_HEADER]!;
  let p = off + IPV6_HEADER_BYTES;
  let first = true;
  for (;;) {
    if (nh === IPPROTO_ROUTING || nh === IPPROTO_DSTOPTS || (nh === IPPROTO_HOPOPTS && first)) {
      // Hop-by-Hop (first only), Routing, Destination Options: 8 + 8 * Hdr Ext Len bytes.
      if (p + 2 > end) return DROP_EXT_HEADER_TRUNCATED;
      const hlen = (buf[p + EXT_OFF_HDR_EXT_LEN]! + 1) * EXT_UNIT_BYTES;
      if (p + hlen > end) return DROP_EXT_HEADER_TRUNCATED;
      nh = buf[p + EXT_OFF_NEXT_HEADER]!;
      p += hlen;
    } else if (nh === IPPROTO_FRAGMENT) {
      if (p + FRAG_HEADER_BYTES > end) return DROP_EXT_HEADER_TRUNCATED;
      out.fragment = true;
      nh = buf[p + EXT_OFF_NEXT_HEADER]!;
      const fragOffset = buf.readUInt16BE(p + FRAG_OFF_OFFSET_FLAGS) & FRAG_OFFSET_MASK;
      p += FRAG_HEADER_BYTES;
      if (fragOffset !== 0) {
        out.firstFragment = false;
        break;
      }
    } else {
      break;
    }
    first = false;
  }
  out.proto = nh;
  out.offset = p;
  return DROP_NONE;
}
