/**
 * Helpers for the native-addon integration tests (test/integration/native-*.test.ts): why they
 * skip, open-fd counting, and small waits. Namespaces come from test/support/netns.ts.
 */
import { existsSync, readdirSync } from "node:fs";
import { loadNative, type NativeBinding } from "../../module/native/loader.js";
import type { Port } from "../../module/io/ports.js";
import { netnsSkipReason } from "./netns.js";

/** The addon, or the reason it cannot be loaded. */
export function tryLoadNative(): { binding?: NativeBinding; reason?: string } {
  try {
    return { binding: loadNative() };
  } catch (e) {
    return { reason: e instanceof Error ? e.message : String(e) };
  }
}

/** Why the native integration tests cannot run here, or undefined. */
export function nativeSkipReason(): string | undefined {
  const netns = netnsSkipReason();
  if (netns !== undefined) return netns;
  if (!existsSync("/dev/net/tun")) return "/dev/net/tun is missing (kernel without TUN)";
  const { reason } = tryLoadNative();
  return reason;
}

/** Path of a named namespace's handle (as `ip netns add` creates it). */
export function nsPath(ns: string): string {
  return `/run/netns/${ns}`;
}

/** Number of open file descriptors of this process. */
export function openFdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Polls `predicate` every 10 ms until true or `timeoutMs` elapsed; returns its last value. */
export async function until(predicate: () => boolean, timeoutMs = 5000): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    if (predicate()) return true;
    await sleep(10);
  }
  return predicate();
}

/** RFC 1624 eqn 3: checksum after a 16-bit word changes from m to m2. */
export function checksumAdjust16(hc: number, m: number, m2: number): number {
  let s = (~hc & 0xffff) + (~m & 0xffff) + (m2 & 0xffff);
  s = (s & 0xffff) + (s >>> 16);
  s = (s & 0xffff) + (s >>> 16);
  return ~s & 0xffff;
}

/**
 * Builds a 20-byte IPv4 header + `payloadBytes` for protocol `proto` into a new Buffer (test
 * only; the kernel fills the checksum for IP_HDRINCL sockets).
 */
export function ipv4Packet(src: number, dst: number, payloadBytes: number, proto = 41): Buffer {
  const b = Buffer.alloc(20 + payloadBytes);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[6] = 0x40; // DF
  b[8] = 64;
  b[9] = proto;
  b.writeUInt32BE(src >>> 0, 12);
  b.writeUInt32BE(dst >>> 0, 16);
  if (payloadBytes >= 40) {
    b[20] = 0x60; // an IPv6 header follows (contents irrelevant to the socket)
    b.writeUInt16BE(payloadBytes - 40, 24);
    b[26] = 59; // No Next Header
    b[27] = 64;
  }
  return b;
}

const tracked: Port[] = [];

/** Records a port so `closeTrackedPorts()` (from `after()`) closes it even when a test failed:
 * an open poller would keep the test process alive. */
export function track<T extends Port>(port: T): T {
  tracked.push(port);
  return port;
}

export function closeTrackedPorts(): void {
  for (const p of tracked.splice(0)) p.close();
}
