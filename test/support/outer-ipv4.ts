/**
 * Captures of our protocol-41 frames on a veth (dumpcap in a test's namespace) and the checks
 * every outer IPv4 header we send must pass, whichever socket sent it (raw or AF_PACKET).
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import type { NetnsRegistry, NsProcess } from "./netns.js";

/** RFC 1071 sum over the 20-byte header: 0xffff when the checksum field is right. */
export function ipv4HeaderSumOk(h: Buffer): boolean {
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += h.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s === 0xffff;
}

/**
 * Starts dumpcap on `dev` in `ns` for `count` frames matching `filter` into `pcap` (removed at
 * cleanup) and resolves once it captures (the file has its header).
 */
export async function startCapture(
  reg: NetnsRegistry,
  ns: string,
  dev: string,
  filter: string,
  count: number,
  pcap: string,
): Promise<NsProcess> {
  reg.removeOnCleanup(pcap);
  const cap = reg.spawn(ns, [
    "dumpcap",
    "-q",
    "-i",
    dev,
    "-P",
    "-f",
    filter,
    "-c",
    String(count),
    "-w",
    pcap,
  ]);
  // dumpcap says nothing on stdout with -q; it is ready once the file exists with its header.
  const ready = await reg.waitFor(() => {
    try {
      return readFileSync(pcap).length >= 24;
    } catch {
      return false;
    }
  }, 15_000);
  assert.ok(ready, cap.stderr());
  return cap;
}

/**
 * An Ethernet frame of ours: to `gwMac` (aa:bb:..), IPv4 with a valid header checksum, protocol
 * 41, DF clear and no fragment (RFC 4213 §3.2.1 static MTU), a nonzero ID, the total length of
 * the frame, TTL `ttl`, from `src` to `dst`.
 */
export function assertOuter6in4(
  f: Buffer,
  gwMac: string,
  src: string,
  dst: string,
  ttl = 64,
): void {
  assert.equal(f.subarray(0, 6).toString("hex"), gwMac.replace(/:/g, ""), "Ethernet destination");
  assert.equal(f.readUInt16BE(12), 0x0800, "EtherType IPv4");
  const h = f.subarray(14, 34);
  assert.equal(h[0], 0x45);
  assert.ok(ipv4HeaderSumOk(h), `header checksum ${h.toString("hex")}`);
  assert.equal(h[9], 41, "protocol 41");
  assert.equal(h[8], ttl, "TTL");
  assert.equal(h.readUInt16BE(6), 0, "DF clear, no fragment (RFC 4213 §3.2.1 static MTU)");
  assert.notEqual(h.readUInt16BE(4), 0, "ID");
  assert.equal(h.readUInt16BE(2), f.length - 14, "total length");
  assert.equal([...h.subarray(12, 16)].join("."), src);
  assert.equal([...h.subarray(16, 20)].join("."), dst);
}
