/**
 * IPv4 address and prefix values. An IPv4 address is an unsigned 32-bit number (`>>> 0`), so hot-path
 * code compares and masks numbers and never builds strings. Parsing is control-plane only and
 * returns `null` on bad input; callers (config, CLI) turn that into a ConfigError naming the option.
 */

/** An IPv4 prefix: `addr` has every bit past `len` cleared, 0 <= len <= 32. */
export interface Ipv4Prefix {
  readonly addr: number;
  readonly len: number;
}

const DECIMAL_OCTET = /^(?:0|[1-9][0-9]{0,2})$/;

/**
 * Parses dotted-quad `a.b.c.d` (exactly four decimal octets, 0..255). Leading zeros are rejected
 * (`010.0.0.1`) because inet_aton would read them as octal: refusing is safer than guessing.
 */
export function parseIpv4(s: string): number | null {
  const parts = s.split(".");
  if (parts.length !== 4) return null;
  let n = 0;
  for (const part of parts) {
    if (!DECIMAL_OCTET.test(part)) return null;
    const octet = Number(part);
    if (octet > 255) return null;
    n = n * 256 + octet;
  }
  return n >>> 0;
}

/** Formats an unsigned 32-bit number as dotted quad. */
export function formatIpv4(n: number): string {
  return `${(n >>> 24) & 0xff}.${(n >>> 16) & 0xff}.${(n >>> 8) & 0xff}.${n & 0xff}`;
}

/** The netmask of a /len as an unsigned 32-bit number (0 for /0, 0xffffffff for /32). */
export function ipv4Mask(len: number): number {
  return len <= 0 ? 0 : len >= 32 ? 0xffffffff : (0xffffffff << (32 - len)) >>> 0;
}

/**
 * ipv4Mask as a signed 32-bit value (-1 for /32), for per-packet compares of signed (`| 0`)
 * addresses: `(a & ipv4MaskI32(len)) === (net & ipv4MaskI32(len))`, with no heap number.
 */
export function ipv4MaskI32(len: number): number {
  return len <= 0 ? 0 : len >= 32 ? -1 : -1 << (32 - len);
}

/**
 * Parses `a.b.c.d/len` (0 <= len <= 32); a bare address is a /32. Host bits past `len` are accepted
 * and cleared (`192.0.2.1/24` -> 192.0.2.0/24), as `ip route` does: an operator writing their own
 * address with the prefix length means the network, and rejecting it would only add friction.
 */
export function parseIpv4Prefix(s: string): Ipv4Prefix | null {
  const slash = s.indexOf("/");
  const addr = parseIpv4(slash < 0 ? s : s.slice(0, slash));
  if (addr === null) return null;
  let len = 32;
  if (slash >= 0) {
    const lenText = s.slice(slash + 1);
    if (!/^(?:0|[1-9][0-9]?)$/.test(lenText)) return null;
    len = Number(lenText);
    if (len > 32) return null;
  }
  return { addr: (addr & ipv4Mask(len)) >>> 0, len };
}

/** `a.b.c.d/len`. */
export function formatIpv4Prefix(p: Ipv4Prefix): string {
  return `${formatIpv4(p.addr)}/${p.len}`;
}

/**
 * Whether address `n` (unsigned or signed) lies inside prefix `p`. Allocation-free: the XOR
 * compares the masked bits as signed 32-bit values whatever the sign convention of either side.
 */
export function ipv4InPrefix(n: number, p: Ipv4Prefix): boolean {
  return ((n ^ p.addr) & ipv4MaskI32(p.len)) === 0;
}

/** Reads a big-endian IPv4 address from `buf` at `off` as an unsigned 32-bit number. Allocation-free. */
export function readIpv4(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/**
 * readIpv4 as a signed 32-bit value (`| 0`), for per-packet code: V8 returns it as a small
 * integer, where an unsigned address >= 128.0.0.0 is boxed as a heap number whenever the call is
 * not inlined (see addr/policy.ts). Compare it with `| 0` values. Allocation-free.
 */
export function readIpv4I32(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

/** Writes `n` big-endian into `buf` at `off`. Allocation-free. */
export function writeIpv4(buf: Uint8Array, off: number, n: number): void {
  buf[off] = n >>> 24;
  buf[off + 1] = (n >>> 16) & 0xff;
  buf[off + 2] = (n >>> 8) & 0xff;
  buf[off + 3] = n & 0xff;
}
