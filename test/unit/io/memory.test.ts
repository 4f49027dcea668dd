/**
 * io/memory.ts: the fakes keep the port contracts of io/ports.ts (caller-owned rings filled at
 * the offset, one handler call per batch, writeBatch copies and never throws, "gone" errors).
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { MemoryIcmpV6Socket, MemoryIpv4Network, MemoryTun } from "../../../module/io/memory.js";
import { createIcmpv6RxRing, createIpv4RxRing, createRxRing } from "../../../module/io/ring.js";
import { HEADROOM_BYTES } from "../../../module/dataplane/tunables.js";
import type { IoError } from "../../../module/io/ports.js";

const A = 0xc0000201; // 192.0.2.1
const B = 0xcb007101; // 203.0.113.1
const ANYCAST = 0xc0586301; // 192.88.99.1 (RFC 3068)

function packet(len: number, tag: number): Uint8Array {
  const p = new Uint8Array(len);
  p[0] = 0x60;
  p[len - 1] = tag;
  return p;
}

function ipv4(src: number, dst: number, payload: number, proto = 41): Buffer {
  const b = Buffer.alloc(20 + payload);
  b[0] = 0x45;
  b[8] = 64;
  b[9] = proto;
  b.writeUInt32BE(src, 12);
  b.writeUInt32BE(dst, 16);
  return b;
}

function headerChecksumOk(p: Uint8Array): boolean {
  let sum = 0;
  for (let i = 0; i < 20; i += 2) sum += (p[i]! << 8) | p[i + 1]!;
  while (sum > 0xffff) sum = (sum & 0xffff) + (sum >>> 16);
  return sum === 0xffff;
}

test("MemoryTun: injected packets land at the headroom, in batches of the ring size", () => {
  const tun = new MemoryTun({ autoDeliver: false, mtu: 1480 });
  const ring = createRxRing(4, 2048, HEADROOM_BYTES);
  const batches: number[] = [];
  const tags: number[] = [];
  tun.onBatch(ring, (bufs, sizes, count) => {
    assert.equal(bufs, ring.bufs);
    assert.equal(sizes, ring.sizes);
    batches.push(count);
    for (let i = 0; i < count; i++) {
      assert.equal(bufs[i]![HEADROOM_BYTES], 0x60);
      tags.push(bufs[i]![HEADROOM_BYTES + sizes[i]! - 1]!);
    }
  });
  for (let i = 0; i < 10; i++) tun.inject(packet(100 + i, i));
  assert.equal(tun.pending, 10);
  assert.equal(tun.flush(), 10);
  assert.deepEqual(batches, [4, 4, 2]);
  assert.deepEqual(tags, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  assert.equal(tun.stats().rxPackets, 10);
  assert.equal(tun.stats().rxBatches, 3);
});

test("MemoryTun: a packet larger than its buffer is delivered with size 0 and counted", () => {
  const tun = new MemoryTun({ autoDeliver: false });
  const sizes: number[] = [];
  tun.onBatch(createRxRing(2, 100, 20), (_b, s, n) => {
    for (let i = 0; i < n; i++) sizes.push(s[i]!);
  });
  tun.inject(packet(80, 1));
  tun.inject(packet(81, 2));
  tun.flush();
  assert.deepEqual(sizes, [80, 0]);
  assert.equal(tun.stats().rxTruncated, 1);
});

test("MemoryTun: writeBatch copies the slices it is given, refuses bad ones, never throws", () => {
  const tun = new MemoryTun({ mtu: 1280 });
  const seen: Uint8Array[] = [];
  tun.onWrite = (p) => seen.push(p);
  const buf = Buffer.alloc(3000, 7);
  const n = tun.writeBatch([buf, buf, buf, buf], [20, 2990, 0, 0], [100, 100, 1281, 50], 4);
  assert.equal(n, 2);
  buf.fill(9);
  const written = tun.takeWritten();
  assert.equal(written.length, 2);
  assert.equal(written[0]!.length, 100);
  assert.equal(written[0]![0], 7, "a copy, not a view of the caller's buffer");
  assert.equal(seen.length, 2);
  assert.equal(tun.written.length, 0);
  const st = tun.stats();
  assert.equal(st.txPackets, 2);
  assert.equal(st.txDropped, 2);
  assert.equal(st.lastTxError, "EMSGSIZE");
});

test("MemoryTun: delivers on its own from the event loop", async () => {
  const tun = new MemoryTun();
  let got = 0;
  tun.onBatch(createRxRing(8, 2048, 20), (_b, _s, n) => (got += n));
  tun.inject(packet(60, 1));
  tun.inject(packet(60, 2));
  assert.equal(got, 0, "never inside inject()");
  await new Promise((r) => setImmediate(r));
  assert.equal(got, 2);
});

test("MemoryTun: close() inside the handler stops delivery", () => {
  const tun = new MemoryTun({ autoDeliver: false });
  let calls = 0;
  tun.onBatch(createRxRing(1, 2048, 20), () => {
    calls++;
    tun.close();
  });
  tun.inject(packet(60, 1));
  tun.inject(packet(60, 2));
  tun.flush();
  assert.equal(calls, 1);
  assert.ok(tun.closed);
  assert.equal(tun.writeBatch([Buffer.alloc(60)], [0], [60], 1), 0);
  tun.close();
});

test("MemoryTun: removeDevice() reports a gone error once, from the event loop", async () => {
  const tun = new MemoryTun();
  const errors: IoError[] = [];
  tun.onError((e) => errors.push(e));
  tun.onBatch(createRxRing(1, 2048, 20), () => assert.fail("no delivery after removal"));
  tun.inject(packet(60, 1));
  tun.removeDevice();
  assert.equal(errors.length, 0);
  await new Promise((r) => setImmediate(r));
  await new Promise((r) => setImmediate(r));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, "EBADFD");
  assert.equal(errors[0]!.errnoClass, "gone");
  assert.ok(tun.closed);
});

test("MemoryTun: onBatch twice is a programming error", () => {
  const tun = new MemoryTun();
  tun.onBatch(createRxRing(1, 2048, 20), () => {});
  assert.throws(() => tun.onBatch(createRxRing(1, 2048, 20), () => {}), /onBatch called twice/);
});

test("MemoryIpv4Network: routes by header destination, reports the source, fills length and checksum", () => {
  const net = new MemoryIpv4Network({ autoDeliver: false });
  const a = net.open(A);
  const b = net.open([B]);
  const got: { src: number; size: number; data: Buffer }[] = [];
  b.onBatch(createIpv4RxRing(8, 2048), (bufs, sizes, count, srcs) => {
    for (let i = 0; i < count; i++) {
      got.push({
        src: srcs[i]!,
        size: sizes[i]!,
        data: Buffer.from(bufs[i]!.subarray(0, sizes[i]!)),
      });
    }
  });
  const p = ipv4(A, B, 40);
  const big = Buffer.alloc(p.length + 20);
  p.copy(big, 20);
  assert.equal(a.writeBatch([big], [20], [p.length], 1), 1);
  assert.equal(net.flush(), 1);
  assert.equal(got.length, 1);
  assert.equal(got[0]!.src, A);
  assert.equal(got[0]!.size, 60);
  assert.equal(got[0]!.data.readUInt16BE(2), 60, "total length filled as the kernel does");
  assert.ok(headerChecksumOk(got[0]!.data), "header checksum filled");
  assert.equal(big.readUInt16BE(22), 0, "the sender's buffer is not modified");
});

test("MemoryIpv4Network: unknown destination, other protocol, filter and MTU", () => {
  const net = new MemoryIpv4Network({ autoDeliver: false, mtu: 1280 });
  const a = net.open(A);
  const b = net.open(B);
  let got = 0;
  b.onBatch(createIpv4RxRing(8, 2048), (_b, _s, n) => (got += n));
  a.writeBatch([ipv4(A, 0xc6336401, 40)], [0], [60], 1); // 198.51.100.1: nobody
  a.writeBatch([ipv4(A, B, 40, 4)], [0], [60], 1); // protocol 4: not a 41 socket
  assert.equal(net.undeliverable, 2);
  net.filter = (_p, src) => src !== A;
  a.writeBatch([ipv4(A, B, 40)], [0], [60], 1);
  net.filter = undefined;
  assert.equal(a.writeBatch([ipv4(A, B, 1261)], [0], [1281], 1), 0);
  assert.equal(a.stats().lastTxError, "EMSGSIZE");
  assert.equal(a.writeBatch([Buffer.alloc(10)], [0], [10], 1), 0);
  assert.equal(a.stats().lastTxError, "EINVAL");
  net.flush();
  assert.equal(got, 0);
});

test("MemoryIpv4Network: an anycast address moves to the next socket when one closes (RFC 3068)", () => {
  const net = new MemoryIpv4Network({ autoDeliver: false });
  const cpe = net.open(A);
  const relay1 = net.open([ANYCAST, 0xc0000263]);
  const relay2 = net.open([ANYCAST, 0xc0000264]);
  const got = [0, 0];
  relay1.onBatch(createIpv4RxRing(4, 2048), (_b, _s, n) => (got[0]! += n));
  relay2.onBatch(createIpv4RxRing(4, 2048), (_b, _s, n) => (got[1]! += n));
  const p = ipv4(A, ANYCAST, 40);
  cpe.writeBatch([p, p], [0, 0], [60, 60], 2);
  net.flush();
  relay1.close();
  cpe.writeBatch([p], [0], [60], 1);
  net.flush();
  assert.deepEqual(got, [2, 1]);
});

test("MemoryIpv4Network: delivers on its own, and a reply from inside a handler arrives too", async () => {
  const net = new MemoryIpv4Network();
  const a = net.open(A);
  const b = net.open(B);
  let aGot = 0;
  a.onBatch(createIpv4RxRing(4, 2048), (_b, _s, n) => (aGot += n));
  b.onBatch(createIpv4RxRing(4, 2048), (bufs, sizes, n) => {
    // Echo back in place: swap addresses, reuse the ring buffer (valid during the handler).
    for (let i = 0; i < n; i++) {
      const buf = bufs[i]!;
      const src = buf.readUInt32BE(12);
      buf.writeUInt32BE(buf.readUInt32BE(16), 12);
      buf.writeUInt32BE(src, 16);
    }
    b.writeBatch(bufs, [0, 0, 0, 0], sizes, n);
  });
  a.writeBatch([ipv4(A, B, 40)], [0], [60], 1);
  for (let i = 0; i < 5 && aGot === 0; i++) await new Promise((r) => setImmediate(r));
  assert.equal(aGot, 1);
});

test("MemoryIcmpV6Socket: RS in with source, hop limit and ifindex; RA out recorded", () => {
  const s = new MemoryIcmpV6Socket({ device: "br-lan", ifindex: 7, autoDeliver: false });
  const src = Buffer.from("fe800000000000000000000000000001", "hex");
  const seen: { type: number; hop: number; ifindex: number; src: string }[] = [];
  s.onBatch(createIcmpv6RxRing(4, 1500), (ring, count) => {
    for (let i = 0; i < count; i++) {
      seen.push({
        type: ring.bufs[i]![0]!,
        hop: ring.hopLimits[i]!,
        ifindex: ring.ifindexes[i]!,
        src: Buffer.from(ring.srcs.subarray(16 * i, 16 * i + 16)).toString("hex"),
      });
      const ra = Buffer.from([134, 0, 0, 0, 64, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
      assert.ok(s.send(ra, 0, 16, ring.srcs, 16 * i));
    }
  });
  s.inject(Buffer.from([133, 0, 0, 0, 0, 0, 0, 0]), src);
  s.inject(Buffer.from([133, 0, 0, 0, 0, 0, 0, 0]), src, 64);
  s.flush();
  assert.deepEqual(seen, [
    { type: 133, hop: 255, ifindex: 7, src: src.toString("hex") },
    { type: 133, hop: 64, ifindex: 7, src: src.toString("hex") },
  ]);
  assert.equal(s.sent.length, 2);
  assert.equal(s.sent[0]!.data[0], 134);
  assert.deepEqual(Buffer.from(s.sent[0]!.dst), src);
  assert.equal(s.send(Buffer.alloc(4), 2, 8, src, 0), false);
});
