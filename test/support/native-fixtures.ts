/**
 * Helpers for the native-addon integration tests (test/integration/native-*.test.ts): why they
 * skip, open-fd counting, small waits, and the veth pair of the raw-socket tests
 * (raw4VethPair). Namespaces come from test/support/netns.ts.
 */
import { existsSync, readdirSync } from "node:fs";
import { after, before } from "node:test";
import { inNetns, openIpv4Raw, type Ipv4RawOptions } from "../../module/io/linux.js";
import { loadNative, type NativeBinding } from "../../module/native/loader.js";
import type { Ipv4RawSocket, Port } from "../../module/io/ports.js";
import { NetnsRegistry, netnsSkipReason } from "./netns.js";

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

/** The addresses of raw4VethPair: 192.0.2.1 in `a`, 192.0.2.2 in `b`. */
export const RAW4_A = 0xc0000201;
export const RAW4_B = 0xc0000202;

/** The namespaces of raw4VethPair (names set by its `before` hook). */
export interface Raw4Pair {
  readonly reg: NetnsRegistry;
  a: string;
  b: string;
}

/**
 * Registers the `before`/`after` hooks of a raw-socket test file: two namespaces (`tags`) joined
 * by a veth, `va` 192.0.2.1/24 in a, `vb` 192.0.2.2/24 and `extraB` in b; `setup` then runs
 * (e.g. to resolve the neighbour). After: the tracked ports closed, everything removed. Nothing
 * is built when `skip` is set.
 */
export function raw4VethPair(
  skip: string | undefined,
  tags: readonly [string, string],
  extraB: readonly string[] = [],
  setup?: (p: Raw4Pair) => void,
): Raw4Pair {
  const p: Raw4Pair = { reg: new NetnsRegistry(), a: "", b: "" };
  before(() => {
    if (skip) return;
    p.a = p.reg.createNamespace(tags[0]);
    p.b = p.reg.createNamespace(tags[1]);
    p.reg.veth(p.a, "va", p.b, "vb", 1500);
    p.reg.addr(p.a, "va", "192.0.2.1/24");
    p.reg.addr(p.b, "vb", "192.0.2.2/24");
    for (const cidr of extraB) p.reg.addr(p.b, "vb", cidr);
    setup?.(p);
  });
  after(async () => {
    closeTrackedPorts();
    await p.reg.cleanup();
  });
  return p;
}

/** A protocol-41 raw socket opened inside `ns`, tracked (closed by closeTrackedPorts). */
export function openRaw4In(ns: string, options: Ipv4RawOptions = {}): Ipv4RawSocket {
  return track(inNetns(nsPath(ns), () => openIpv4Raw(options)));
}
