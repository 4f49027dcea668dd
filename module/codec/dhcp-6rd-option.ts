/**
 * DHCPv4 OPTION_6RD (212), RFC 5969 §7.1.1: IPv4MaskLen, 6rdPrefixLen, the 16-byte 6rdPrefix and
 * one or more BR IPv4 addresses. The CPE reads it (use_dhcp_6rd) to learn the provider prefix and
 * relay address. `encode`/`decode`/`encodingLength` cover the whole option including code and
 * length bytes; `findSixRdOption` scans a DHCPv4 options field (RFC 2132 §2) for it. This is the
 * wire format only (up to 59 BRs): which BR addresses a CE accepts (unicast, at most 8, not its
 * own) is decided where the option is taken in, control/dhcp-6rd.ts. Control plane only.
 */
import {
  DHCP_OPTION_6RD,
  DHCP_OPTION_6RD_FIXED_BYTES,
  DHCP_OPTION_END,
  DHCP_OPTION_PAD,
  IPV6_ADDR_BYTES,
} from "./constants.js";
import { DecodeError } from "./decode-error.js";

export interface SixRdOption {
  /** High-order bits shared by all CE IPv4 addresses, 0..32. */
  ipv4MaskLen: number;
  /** Length of the provider's 6rd prefix; (32 - ipv4MaskLen) + sixrdPrefixLen <= 128. */
  sixrdPrefixLen: number;
  /** 16 bytes, zero after sixrdPrefixLen (sent as zero, ignored on receipt). */
  sixrdPrefix: Uint8Array;
  /** Border relay IPv4 addresses as unsigned 32-bit numbers, at least one. */
  brAddresses: number[];
}

/** Bytes `encode` writes: code, length, 18 fixed bytes and 4 per BR address. */
export function encodingLength(v: SixRdOption): number {
  return 2 + DHCP_OPTION_6RD_FIXED_BYTES + 4 * v.brAddresses.length;
}

function masked(prefix: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(IPV6_ADDR_BYTES);
  for (let i = 0; i < IPV6_ADDR_BYTES; i++) {
    const bits = len - i * 8;
    const mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
    out[i] = (prefix[i] ?? 0) & mask;
  }
  return out;
}

/** Writes the option and returns the bytes written. Throws RangeError on a bad value. */
export function encode(v: SixRdOption, buf: Buffer, offset = 0): number {
  if (!Number.isInteger(v.ipv4MaskLen) || v.ipv4MaskLen < 0 || v.ipv4MaskLen > 32) {
    throw new RangeError(`OPTION_6RD IPv4MaskLen ${v.ipv4MaskLen}: expected 0..32`);
  }
  if (
    !Number.isInteger(v.sixrdPrefixLen) ||
    v.sixrdPrefixLen < 0 ||
    32 - v.ipv4MaskLen + v.sixrdPrefixLen > 128
  ) {
    throw new RangeError(
      `OPTION_6RD 6rdPrefixLen ${v.sixrdPrefixLen}: ` +
        `(32 - IPv4MaskLen) + 6rdPrefixLen must be <= 128`,
    );
  }
  if (v.sixrdPrefix.length !== IPV6_ADDR_BYTES) {
    throw new RangeError(`OPTION_6RD 6rdPrefix: expected 16 bytes, got ${v.sixrdPrefix.length}`);
  }
  const n = v.brAddresses.length;
  const len = encodingLength(v);
  if (n === 0 || len - 2 > 255) {
    throw new RangeError(`OPTION_6RD: ${n} BR addresses, expected 1..59`);
  }
  if (offset < 0 || offset + len > buf.length) {
    throw new RangeError(`OPTION_6RD: ${len} bytes do not fit at offset ${offset}`);
  }
  buf[offset] = DHCP_OPTION_6RD;
  buf[offset + 1] = len - 2;
  buf[offset + 2] = v.ipv4MaskLen;
  buf[offset + 3] = v.sixrdPrefixLen;
  buf.set(masked(v.sixrdPrefix, v.sixrdPrefixLen), offset + 4);
  for (let i = 0; i < n; i++) buf.writeUInt32BE(v.brAddresses[i]! >>> 0, offset + 20 + 4 * i);
  return len;
}

/**
 * Decodes the option at buf[offset] (code byte first); `len` bounds the bytes available.
 * Throws DecodeError naming the field.
 */
export function decode(buf: Buffer, offset = 0, len = buf.length - offset): SixRdOption {
  if (offset < 0 || len < 2 || offset + 2 > buf.length) {
    throw new DecodeError(`OPTION_6RD at offset ${offset}: truncated, ${len} bytes`);
  }
  if (buf[offset] !== DHCP_OPTION_6RD) {
    throw new DecodeError(`OPTION_6RD at offset ${offset}: option code ${buf[offset]}, not 212`);
  }
  const optLen = buf[offset + 1]!;
  if (optLen + 2 > len || offset + 2 + optLen > buf.length) {
    throw new DecodeError(
      `OPTION_6RD at offset ${offset}: option-length ${optLen} exceeds the ${len - 2} bytes left`,
    );
  }
  if (
    optLen < DHCP_OPTION_6RD_FIXED_BYTES + 4 ||
    (optLen - DHCP_OPTION_6RD_FIXED_BYTES) % 4 !== 0
  ) {
    throw new DecodeError(`OPTION_6RD option-length ${optLen}: expected 22 + 4n (RFC 5969 §7.1.1)`);
  }
  const ipv4MaskLen = buf[offset + 2]!;
  if (ipv4MaskLen > 32) {
    throw new DecodeError(`OPTION_6RD IPv4MaskLen ${ipv4MaskLen}: greater than 32 is invalid`);
  }
  const sixrdPrefixLen = buf[offset + 3]!;
  if (32 - ipv4MaskLen + sixrdPrefixLen > 128) {
    throw new DecodeError(
      `OPTION_6RD 6rdPrefixLen ${sixrdPrefixLen} with IPv4MaskLen ${ipv4MaskLen}: ` +
        `(32 - IPv4MaskLen) + 6rdPrefixLen > 128 (RFC 5969 §7.1.1)`,
    );
  }
  const brAddresses: number[] = [];
  for (let p = offset + 20; p < offset + 2 + optLen; p += 4) brAddresses.push(buf.readUInt32BE(p));
  return {
    ipv4MaskLen,
    sixrdPrefixLen,
    sixrdPrefix: masked(buf.subarray(offset + 4, offset + 20), sixrdPrefixLen),
    brAddresses,
  };
}

/**
 * Scans a DHCPv4 options field buf[offset, offset+len) (after the magic cookie, RFC 2132 §2) for
 * OPTION_6RD and decodes it; null when absent. Stops at End (255); skips Pad (0). Throws
 * DecodeError when an option runs past the field or option 212 is malformed.
 */
export function findSixRdOption(buf: Buffer, offset: number, len: number): SixRdOption | null {
  const end = offset + len;
  let p = offset;
  while (p < end) {
    const code = buf[p]!;
    if (code === DHCP_OPTION_END) return null;
    if (code === DHCP_OPTION_PAD) {
      p++;
      continue;
    }
    if (p + 2 > end) throw new DecodeError(`DHCP option ${code} at offset ${p}: no length byte`);
    const l = buf[p + 1]!;
    if (p + 2 + l > end) {
      throw new DecodeError(`DHCP option ${code} at offset ${p}: length ${l} runs past the field`);
    }
    if (code === DHCP_OPTION_6RD) return decode(buf, p, end - p);
    p += 2 + l;
  }
  return null;
}
