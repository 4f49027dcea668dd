/**
 * Native addon, raw IPv4 protocol-41 sockets (RFC 4213 §3.5 / RFC 3056 §5 encapsulation) between
 * two namespaces over a veth pair (root; skips with the reason otherwise).
 *
 *   p<pid>-r4a                          p<pid>-r4b
 *   va 192.0.2.1/24  ──── veth ────  vb 192.0.2.2/24, 192.0.2.3/24
 *   raw socket (proto 41)             raw socket (proto 41), opened late for the pitfall test
 *
 * Checks: sendmmsg batches with per-packet sources (IP_HDRINCL), recvmmsg batches with the
 * source address of each packet, bind to one address, EMSGSIZE counted not thrown, close inside
 * a callback, no fd leak, and the pending-socket-error pitfall: an ICMP protocol unreachable
 * (RFC 792) from a peer without a protocol-41 socket must not stop receiving or fail a send.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { createIpv4RxRing } from "../../module/io/ring.js";
import type { IoError, Ipv4RawSocket } from "../../module/io/ports.js";
import {
  openRaw4In,
  RAW4_A as A,
  RAW4_B as B,
  raw4VethPair,
  ipv4Packet,
  nativeSkipReason,
  openFdCount,
  sleep,
  until,
} from "../support/native-fixtures.js";

const skip = nativeSkipReason();
const pair = raw4VethPair(skip, ["r4a", "r4b"], ["192.0.2.3/24"]);
const reg = pair.reg;

const B2 = 0xc0000203; // 192.0.2.3

/** Packets the kernel of `ns` delivered to its sockets (/proc/net/snmp Ip InDelivers). */
function ipInDelivers(ns: string): number {
  const rows = reg
    .exec(ns, ["cat", "/proc/net/snmp"])
    .stdout.split("\n")
    .filter((l) => l.startsWith("Ip:"));
  const keys = rows[0]!.split(/\s+/);
  return Number(rows[1]!.split(/\s+/)[keys.indexOf("InDelivers")]);
}

interface Received {
  src: number;
  size: number;
  tag: number;
}

/** Starts receiving on `s`, recording (source, size, payload tag byte) and batch sizes. */
function collect(s: Ipv4RawSocket, ringSize = 16): { got: Received[]; batches: number[] } {
  const got: Received[] = [];
  const batches: number[] = [];
  s.onBatch(createIpv4RxRing(ringSize, 2048, 0), (bufs, sizes, count, srcs) => {
    batches.push(count);
    for (let i = 0; i < count; i++) {
      const b = bufs[i]!;
      got.push({ src: srcs[i]!, size: sizes[i]!, tag: b[b.length > 60 ? 60 : 0]! });
      // The full IPv4 header is delivered (raw socket), source as in the header.
      assert.equal(b[0]! >> 4, 4);
      assert.equal(b.readUInt32BE(12), srcs[i]);
      assert.equal(b[9], 41);
    }
  });
  return { got, batches };
}

test(
  "raw4: one writeBatch of 24 packets with two sources arrives in batches with sources",
  { skip },
  async () => {
    const fdsBefore = openFdCount();
    const a = openRaw4In(pair.a);
    const b = openRaw4In(pair.b);
    try {
      const n = 24;
      const bufs: Buffer[] = [];
      const offsets = new Int32Array(n);
      const sizes = new Int32Array(n);
      // Even packets are views of one slab, as a receive ring's buffers are (the addon finds
      // them by their offset in it), odd ones buffers of their own (looked up one by one).
      const slab = Buffer.alloc(n * 256);
      for (let i = 0; i < n; i++) {
        // Put each packet at a different offset inside a bigger buffer, as encapsulation does.
        const pkt = ipv4Packet(i % 2 === 0 ? B : B2, A, 100 + i);
        pkt[60] = i; // tag
        const big =
          i % 2 === 0
            ? slab.subarray(i * 256, i * 256 + pkt.length + 8)
            : Buffer.alloc(pkt.length + 8);
        pkt.copy(big, 8);
        bufs.push(big);
        offsets[i] = 8;
        sizes[i] = pkt.length;
      }
      // All 24 wait in a's socket before a reads (the kernel delivered them: InDelivers): the
      // first read takes a full ring (16), whatever the scheduler does.
      const delivered0 = ipInDelivers(pair.a);
      assert.equal(b.writeBatch(bufs, offsets, sizes, n), n);
      assert.ok(
        await until(() => ipInDelivers(pair.a) - delivered0 >= n, 10_000),
        `delivered ${ipInDelivers(pair.a) - delivered0}/${n}`,
      );
      const { got, batches } = collect(a, 16);
      assert.ok(await until(() => got.length === n, 10_000), `received ${got.length}/${n}`);
      got.sort((x, y) => x.tag - y.tag);
      for (let i = 0; i < n; i++) {
        assert.equal(got[i]!.tag, i);
        assert.equal(got[i]!.size, 120 + i);
        assert.equal(got[i]!.src, i % 2 === 0 ? B : B2);
      }
      assert.equal(batches[0], 16, `batches ${batches.join(",")}`);
      assert.equal(b.stats().txPackets, n);
      assert.equal(a.stats().rxPackets, n);
    } finally {
      a.close();
      b.close();
    }
    assert.equal(openFdCount(), fdsBefore, "open fds after close");
  },
);

test("raw4: a socket bound to one address receives only packets to it", { skip }, async () => {
  const a = openRaw4In(pair.a);
  const b3 = openRaw4In(pair.b, { bindAddress: B2 });
  try {
    const { got } = collect(b3);
    const p2 = ipv4Packet(A, B, 60);
    const p3 = ipv4Packet(A, B2, 60);
    assert.equal(a.writeBatch([p2, p3], [0, 0], [80, 80], 2), 2);
    assert.ok(await until(() => got.length >= 1, 10_000));
    await sleep(100);
    assert.equal(got.length, 1);
    assert.equal(got[0]!.src, A);
  } finally {
    a.close();
    b3.close();
  }
});

test(
  "raw4: a packet over the device MTU is refused (EMSGSIZE) and counted; the rest go out",
  { skip },
  async () => {
    const a = openRaw4In(pair.a);
    const b = openRaw4In(pair.b);
    try {
      const { got } = collect(b);
      const small = ipv4Packet(A, B, 100);
      const big = ipv4Packet(A, B, 1600);
      assert.equal(a.writeBatch([small, big, small], [0, 0, 0], [120, 1620, 120], 3), 2);
      const st = a.stats();
      assert.equal(st.txDropped, 1);
      assert.equal(st.lastTxError, "EMSGSIZE");
      assert.ok(await until(() => got.length === 2, 10_000));
    } finally {
      a.close();
      b.close();
    }
  },
);

test(
  "raw4: close() inside the batch callback; later packets are not delivered",
  { skip },
  async () => {
    const fdsBefore = openFdCount();
    const a = openRaw4In(pair.a);
    const b = openRaw4In(pair.b);
    let calls = 0;
    b.onBatch(createIpv4RxRing(2, 2048, 0), () => {
      calls++;
      b.close();
    });
    const p = ipv4Packet(A, B, 60);
    a.writeBatch([p, p, p, p, p], [0, 0, 0, 0, 0], [80, 80, 80, 80, 80], 5);
    assert.ok(await until(() => calls > 0, 10_000));
    a.writeBatch([p], [0], [80], 1);
    await sleep(100);
    assert.equal(calls, 1);
    a.close();
    assert.equal(openFdCount(), fdsBefore);
  },
);

/**
 * The pitfall. B has no protocol-41 socket, so its kernel answers each packet with ICMP
 * protocol unreachable. With IP_RECVERR (or a connected socket) that sets a pending error on
 * A's socket: epoll reports EPOLLERR, libuv stops polling with UV_EBADF, the next send fails
 * once. The addon must clear it, count it and keep polling.
 */
async function pitfall(recvErr: boolean): Promise<void> {
  const fdsBefore = openFdCount();
  const a = openRaw4In(pair.a, { recvErr });
  const errors: IoError[] = [];
  a.onError((e) => errors.push(e));
  const { got } = collect(a);
  const toB = ipv4Packet(A, B, 60);
  try {
    for (let i = 0; i < 5; i++) {
      assert.equal(a.writeBatch([toB], [0], [80], 1), 1);
      await sleep(30);
    }
    // Let an ICMP error arrive while the event loop is blocked: the next send meets it first.
    a.writeBatch([toB], [0], [80], 1);
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 100);
    assert.equal(a.writeBatch([toB], [0], [80], 1), 1, "send after a pending ICMP error");
    await sleep(100);
    const mid = a.stats();
    if (recvErr) {
      assert.ok(mid.socketErrorsCleared > 0, `no pending error seen: ${JSON.stringify(mid)}`);
    }
    assert.equal(mid.txDropped, 0, `a send failed: ${JSON.stringify(mid)}`);

    // B opens its socket now; A must still be receiving.
    const b = openRaw4In(pair.b);
    try {
      const p = ipv4Packet(B, A, 60);
      assert.equal(b.writeBatch([p, p, p], [0, 0, 0], [80, 80, 80], 3), 3);
      assert.ok(
        await until(() => got.length === 3, 10_000),
        `A received ${got.length}/3 after errors`,
      );
      assert.deepEqual(errors, []);
    } finally {
      b.close();
    }
  } finally {
    a.close();
  }
  assert.equal(openFdCount(), fdsBefore);
}

test(
  "raw4 pitfall: ICMP protocol unreachable with IP_RECVERR — cleared, counted, polling continues",
  { skip },
  () => pitfall(true),
);

test("raw4 pitfall: the same without IP_RECVERR — nothing stalls", { skip }, () => pitfall(false));
