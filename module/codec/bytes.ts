/**
 * Allocation-free byte helpers for the hot path. Buffer.copy and Uint8Array.set with offsets create
 * a view object per call; these loops do not.
 */

/**
 * Copies n bytes from src[srcOff] to dst[dstOff]. Overlapping ranges of the same memory are copied
 * as memmove does.
 */
export function copyBytes(
  dst: Uint8Array,
  dstOff: number,
  src: Uint8Array,
  srcOff: number,
  n: number,
): void {
  if (src.buffer === dst.buffer && src.byteOffset + srcOff < dst.byteOffset + dstOff) {
    for (let i = n - 1; i >= 0; i--) dst[dstOff + i] = src[srcOff + i]!;
  } else {
    for (let i = 0; i < n; i++) dst[dstOff + i] = src[srcOff + i]!;
  }
}

/** True when a[aOff, aOff+n) equals b[bOff, bOff+n). */
export function bytesEqual(
  a: Uint8Array,
  aOff: number,
  b: Uint8Array,
  bOff: number,
  n: number,
): boolean {
  for (let i = 0; i < n; i++) if (a[aOff + i] !== b[bOff + i]) return false;
  return true;
}
