/**
 * The Internet checksum (RFC 1071) and its incremental update (RFC 1624).
 *
 * Hot path: nothing here allocates. Sums are kept unfolded in a JS number (exact up to 2^53, far
 * above the 2^31 that a 64 KiB packet can reach) and folded once at the end. Words are composed
 * from two bytes, high byte first, so the result is network byte order on any host.
 */

/**
 * One's-complement sum of the 16-bit big-endian words of buf[start, end), unfolded, added to
 * `initial`. An odd trailing byte is padded with a zero byte (RFC 1071 §4.1).
 */
export function onesSum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  // High and low bytes are summed apart (8 bytes per round) and combined once: the same sum as
  // adding 16-bit words, with fewer operations per byte.
  let hi = 0;
  let lo = 0;
  let i = start;
  const end8 = start + ((end - start) & ~7);
  for (; i < end8; i += 8) {
    hi += buf[i]! + buf[i + 2]! + buf[i + 4]! + buf[i + 6]!;
    lo += buf[i + 1]! + buf[i + 3]! + buf[i + 5]! + buf[i + 7]!;
  }
  for (; i + 1 < end; i += 2) {
    hi += buf[i]!;
    lo += buf[i + 1]!;
  }
  if (i < end) hi += buf[i]!;
  return initial + hi * 256 + lo;
}

/** Folds an unfolded sum to 16 bits with end-around carry. */
export function fold(sum: number): number {
  // Above 2^32 `>>> 16` would drop bits: divide first (never on the per-packet path).
  while (sum > 0xffffffff) {
    const low = sum % 0x10000;
    sum = low + (sum - low) / 0x10000;
  }
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** The checksum field value for buf[start, end): ~fold(onesSum(...)) & 0xffff. */
export function internetChecksum(buf: Uint8Array, start: number, end: number, initial = 0): number {
  return ~fold(onesSum(buf, start, end, initial)) & 0xffff;
}

/**
 * Unfolded sum of the IPv6 pseudo-header (RFC 8200 §8.1): source and destination addresses read in
 * place at srcOff/dstOff, the 32-bit upper-layer packet length and the next header value.
 */
export function pseudoHeaderSumV6(
  buf: Uint8Array,
  srcOff: number,
  dstOff: number,
  upperLen: number,
  nextHeader: number,
): number {
  let sum = onesSum(buf, srcOff, srcOff + 16);
  sum = onesSum(buf, dstOff, dstOff + 16, sum);
  return sum + ((upperLen >>> 16) & 0xffff) + (upperLen & 0xffff) + (nextHeader & 0xff);
}

/**
 * Incremental update, RFC 1624 §3 eqn 3: HC' = ~(~HC + ~m + m'), where m is the sum of the old
 * 16-bit words that changed and m' the sum of the new ones (either may be unfolded). Unlike eqn 2
 * (RFC 1141) this never yields 0xFFFF where a recomputation gives 0x0000 (RFC 1624 §4).
 */
export function checksumAdjust(oldChecksum: number, oldSum: number, newSum: number): number {
  const sum = (~oldChecksum & 0xffff) + (~fold(oldSum) & 0xffff) + fold(newSum);
  return ~fold(sum) & 0xffff;
}
