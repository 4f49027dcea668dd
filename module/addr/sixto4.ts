/**
 * 6to4 address derivation (RFC 3056 §2): a site with the global IPv4 address V4ADDR owns
 * 2002:V4ADDR::/48; its subnets are 2002:V4ADDR:SLA::/64 (16-bit SLA ID).
 *
 * Router address: RFC 3056 does not fix one. We use the conventional 2002:V4ADDR::1 (SLA 0,
 * interface ID 1), as Linux 6to4 how-tos, OpenWrt's 6to4 script and the relay's
 * 2002:c058:6301::1 do. (Windows uses 2002:V4ADDR::V4ADDR; either is a valid address of the /48.)
 *
 * Hot path: `is6to4`, `embeddedIpv4`, `embeddedIpv4I32`, `writeSixToFour` read/write in place and
 * allocate nothing.
 * The builders return fresh 16-byte arrays (control plane).
 */

/** Interface ID of the router address 2002:V4ADDR::1 (convention, see above). */
const SIXTOFOUR_ROUTER_IID = 1;

/** Whether the 16 bytes at buf[off] are in 2002::/16. */
export function is6to4(buf: Uint8Array, off: number): boolean {
  return buf[off] === 0x20 && buf[off + 1] === 0x02;
}

/** V4ADDR of a 2002:V4ADDR:: address at buf[off] (caller checked `is6to4`), unsigned. */
export function embeddedIpv4(buf: Uint8Array, off: number): number {
  return (
    ((buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!) >>> 0
  );
}

/**
 * embeddedIpv4 as a signed 32-bit value (`| 0`), for per-packet code: V8 keeps it a small
 * integer, where an unsigned V4ADDR >= 128.0.0.0 is boxed as a heap number whenever it crosses a
 * call that is not inlined (see addr/policy.ts).
 */
export function embeddedIpv4I32(buf: Uint8Array, off: number): number {
  return (buf[off + 2]! << 24) | (buf[off + 3]! << 16) | (buf[off + 4]! << 8) | buf[off + 5]!;
}

/** The SLA ID of a 2002:V4ADDR:SLA:: address at buf[off]. */
export function embeddedSla(buf: Uint8Array, off: number): number {
  return (buf[off + 6]! << 8) | buf[off + 7]!;
}

/** Writes 2002:V4ADDR:SLA:: (first 8 bytes; interface ID untouched) at buf[off]. */
export function writeSixToFour(buf: Uint8Array, off: number, v4: number, sla: number): void {
  buf[off] = 0x20;
  buf[off + 1] = 0x02;
  buf[off + 2] = v4 >>> 24;
  buf[off + 3] = (v4 >>> 16) & 0xff;
  buf[off + 4] = (v4 >>> 8) & 0xff;
  buf[off + 5] = v4 & 0xff;
  buf[off + 6] = (sla >>> 8) & 0xff;
  buf[off + 7] = sla & 0xff;
}

/** 2002:V4ADDR::/48 as 16 bytes (the site's /48 prefix, RFC 3056 §2). */
export function sixToFourPrefix(v4: number): Uint8Array {
  const out = new Uint8Array(16);
  writeSixToFour(out, 0, v4 >>> 0, 0);
  return out;
}

/** The router's address 2002:V4ADDR::1. */
export function sixToFourRouterAddress(v4: number): Uint8Array {
  const out = sixToFourPrefix(v4);
  out[15] = SIXTOFOUR_ROUTER_IID;
  return out;
}

/** The LAN subnet 2002:V4ADDR:SLA::/64 as 16 bytes; `sla` is 0..65535. */
export function sixToFourLan64(v4: number, sla: number): Uint8Array {
  const out = new Uint8Array(16);
  writeSixToFour(out, 0, v4 >>> 0, sla);
  return out;
}
