/**
 * Native addon, TUN side, against a real kernel (root; skips with the reason otherwise).
 *
 *   namespace p<pid>-tun
 *   ┌──────────────────────────────────────────────┐
 *   │ kernel: 2001:db8:1::1/64 on ptun<pid>        │
 *   │   ping 2001:db8:1::2 ──► TUN ──► this test    │
 *   │   ◄── echo reply written back (writeBatch) ◄─┘│
 *   └──────────────────────────────────────────────┘
 *
 * Checks: IFF_TUN | IFF_NO_PI device with MTU and up flag; reads land at the 20-byte headroom
 * (RFC 4213 §3.5 encapsulation writes the IPv4 header in front); batches of several packets per
 * callback; batched writes; close inside a callback; `ip link del` from outside surfaces a
 * "gone" error without a crash; no fd leak.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { inNetns, openTun } from "../../module/io/linux.js";
import { createRxRing } from "../../module/io/ring.js";
import { HEADROOM_BYTES } from "../../module/dataplane/tunables.js";
import type { IoError, TunDevice } from "../../module/io/ports.js";
import { NetnsRegistry, toolSkipReason } from "../support/netns.js";
import {
  checksumAdjust16,
  closeTrackedPorts,
  nativeSkipReason,
  nsPath,
  openFdCount,
  sleep,
  track,
  tryLoadNative,
  until,
} from "../support/native-fixtures.js";

const skip = nativeSkipReason() ?? toolSkipReason("ping");
/** Batched TUN writes: io_uring when the kernel allows it, else the write loop; both tested. */
const hasIoUring = skip ? false : (tryLoadNative().binding?.setIoUring(true) ?? false);
const reg = new NetnsRegistry();
let ns = "";
const TUN = `ptun${process.pid}`.slice(0, 15);

before(() => {
  if (skip) return;
  ns = reg.createNamespace("tun");
});
after(async () => {
  tryLoadNative().binding?.setIoUring(true);
  closeTrackedPorts();
  await reg.cleanup();
});

function open(name = TUN, mtu = 1400): TunDevice {
  return track(inNetns(nsPath(ns), () => openTun({ name, mtu })));
}

/**
 * Echo requests sent in the namespace (Icmp6OutEchos): counted in the sending call, which hands the
 * packet on to the device's queue before it returns.
 */
function echoRequestsSent(): number {
  const snmp6 = reg.must(["ip", "netns", "exec", ns, "cat", "/proc/net/snmp6"]);
  const m = /^Icmp6OutEchos\s+(\d+)$/m.exec(snmp6);
  assert.ok(m, `no Icmp6OutEchos in /proc/net/snmp6:\n${snmp6}`);
  return Number(m[1]);
}

/** Turns an ICMPv6 echo request at buf[off..] into the reply in place; false if not a request. */
function echoRequestToReply(buf: Buffer, off: number, len: number): boolean {
  if (len < 48 || buf[off]! >> 4 !== 6) return false;
  if (buf[off + 6] !== 58 || buf[off + 40] !== 128) return false;
  const src = Buffer.from(buf.subarray(off + 8, off + 24));
  buf.copy(buf, off + 8, off + 24, off + 40);
  src.copy(buf, off + 24);
  const old = buf.readUInt16BE(off + 42);
  buf[off + 40] = 129; // type 128 -> 129, code 0; addresses swapped: pseudo-header sum unchanged
  buf.writeUInt16BE(checksumAdjust16(old, 0x8000, 0x8100), off + 42);
  buf[off + 7] = 64;
  return true;
}

for (const mode of ["io_uring", "write loop"] as const) {
  const wantUring = mode === "io_uring";
  const skipMode: string | false | undefined =
    skip ??
    (wantUring && !hasIoUring
      ? "io_uring not available here (the write loop is used and tested below)"
      : false);
  /** Selects the write path for the test that calls it (tests run one after another). */
  const useMode = (): void => {
    const on = tryLoadNative().binding?.setIoUring(wantUring);
    assert.equal(on, wantUring, `write path ${mode}`);
  };
  test(
    `TUN (${mode}): ping6 into the device arrives in batches at the headroom; replies written back`,
    { skip: skipMode },
    async () => {
      useMode();
      const fdsBefore = openFdCount();
      const tun = open();
      try {
        assert.equal(tun.name, TUN);
        const link = reg.must(["ip", "-n", ns, "link", "show", TUN]);
        assert.match(link, /mtu 1400/);
        assert.match(link, /[<,]UP[,>]/);
        reg.addr(ns, TUN, "2001:db8:1::1/64");

        // 64 echo requests queued in the device before anything reads it: the first read drains a
        // full ring (32) whatever the scheduler does, and every request is answered after.
        const N = 64;
        const RING = 32;
        const queued = echoRequestsSent;
        const queued0 = queued();
        const ping = reg.execAsync(
          ns,
          ["ping", "-6", "-n", "-c", String(N), "-l", String(N), "-w", "20", "2001:db8:1::2"],
          30_000,
        );
        assert.ok(
          await until(() => queued() - queued0 >= N, 10_000),
          `ping sent ${queued() - queued0} of ${N} requests into the device`,
        );

        const ring = createRxRing(RING, 2048, HEADROOM_BYTES);
        const offsets = new Int32Array(RING);
        const sizes = new Int32Array(RING);
        const out: Buffer[] = new Array<Buffer>(RING);
        let batches = 0;
        let maxBatch = 0;
        let requests = 0;
        let written = 0;
        let headroomIntact = true;
        const errors: IoError[] = [];
        tun.onError((e) => errors.push(e));
        tun.onBatch(ring, (bufs, szs, count) => {
          batches++;
          maxBatch = Math.max(maxBatch, count);
          let n = 0;
          for (let i = 0; i < count; i++) {
            const b = bufs[i]!;
            // The headroom is ours: the kernel never writes there.
            if (b.readUInt32BE(0) !== 0) headroomIntact = false;
            if (!echoRequestToReply(b, HEADROOM_BYTES, szs[i]!)) continue;
            requests++;
            out[n] = b;
            offsets[n] = HEADROOM_BYTES;
            sizes[n] = szs[i]!;
            n++;
          }
          written += tun.writeBatch(out, offsets, sizes, n);
        });

        const r = await ping;
        assert.equal(r.code, 0, r.stdout + r.stderr);
        assert.match(r.stdout, new RegExp(`${N} packets transmitted, ${N} received`));
        assert.equal(requests, N);
        assert.equal(written, N);
        assert.equal(maxBatch, RING, "the first read takes a full ring from the queue");
        assert.ok(batches < requests, `${batches} callbacks for ${requests} requests`);
        assert.ok(headroomIntact, "bytes 0..19 of a ring buffer were written by a read");
        const st = tun.stats();
        assert.ok(st.rxPackets >= N);
        assert.equal(st.txPackets, N);
        assert.equal(st.txDropped, 0);
        assert.deepEqual(errors, []);
      } finally {
        tun.close();
      }
      assert.equal(openFdCount(), fdsBefore, "open fds after close");
    },
  );

  test(
    `TUN (${mode}): writeBatch accepts plain arrays and counts refused packets without throwing`,
    { skip: skipMode },
    () => {
      useMode();
      const fdsBefore = openFdCount();
      const tun = open();
      try {
        const good = Buffer.alloc(60);
        good[0] = 0x60;
        good.writeUInt16BE(20, 4);
        good[6] = 59;
        good[7] = 64;
        good[8] = 0x20; // 2001:db8:1::2 -> 2001:db8:1::1
        good[9] = 0x01;
        good[10] = 0x0d;
        good[11] = 0xb8;
        good[13] = 1;
        good[23] = 2;
        good.copy(good, 24, 8, 24);
        good[39] = 1;
        // Out-of-range offset: refused by the addon (EINVAL), the rest still written.
        const sent = tun.writeBatch([good, good, good], [0, 100, 0], [60, 60, 60], 3);
        assert.equal(sent, 2);
        const st = tun.stats();
        assert.equal(st.txPackets, 2);
        assert.equal(st.txDropped, 1);
        assert.equal(st.lastTxError, "EINVAL");
        // Not an IP packet (version 0): the kernel refuses it (EINVAL); the packets after it in
        // the same batch still go out (with io_uring: the linked chain is resubmitted after it).
        const bad = Buffer.alloc(60);
        const many = [good, bad, good, good, bad, good];
        assert.equal(tun.writeBatch(many, new Int32Array(6), new Int32Array(6).fill(60), 6), 4);
        const st2 = tun.stats();
        assert.equal(st2.txPackets, 6);
        assert.equal(st2.txDropped, 3);
        assert.equal(st2.lastTxError, "EINVAL");
        // Views of one slab (found by offset in it) mixed with another buffer (looked up per
        // entry): a range outside its view is refused even where the slab holds those bytes.
        const slab = Buffer.alloc(4096);
        good.copy(slab, 0);
        good.copy(slab, 200);
        good.copy(slab, 210); // a packet the kernel would take, 10 bytes into b (below)
        const [a, b] = [slab.subarray(0, 60), slab.subarray(200, 260)];
        const mixed = [a, good, b, b, a];
        assert.equal(tun.writeBatch(mixed, [0, 0, 0, 10, 0], [60, 60, 60, 60, 60], 5), 4);
        const st3 = tun.stats();
        assert.equal(st3.txPackets, 10);
        assert.equal(st3.txDropped, 4);
        assert.equal(st3.lastTxError, "EINVAL");
        // A batch larger than one io_uring chain (64).
        const big = new Array<Buffer>(150).fill(good);
        assert.equal(
          tun.writeBatch(big, new Int32Array(150), new Int32Array(150).fill(60), 150),
          150,
        );
      } finally {
        tun.close();
      }
      assert.equal(openFdCount(), fdsBefore);
    },
  );
}

test(
  "TUN: close() inside the batch callback stops delivery without a crash",
  { skip },
  async () => {
    const fdsBefore = openFdCount();
    const name = `ptc${process.pid}`.slice(0, 15);
    const tun = open(name);
    reg.addr(ns, name, "2001:db8:2::1/64");
    let calls = 0;
    tun.onBatch(createRxRing(4, 2048, HEADROOM_BYTES), () => {
      calls++;
      tun.close();
      tun.close(); // twice is fine
      assert.equal(tun.writeBatch([Buffer.alloc(60)], [0], [60], 1), 0);
    });
    const ping = reg.execAsync(
      ns,
      ["ping", "-6", "-n", "-c", "5", "-i", "0.05", "-W", "1", "2001:db8:2::2"],
      10_000,
    );
    assert.ok(await until(() => calls > 0, 10_000), "no batch arrived");
    await ping;
    await sleep(50);
    assert.equal(calls, 1);
    assert.ok(tun.closed);
    assert.equal(openFdCount(), fdsBefore);
    // The device is gone with its last fd (not persistent).
    assert.notEqual(reg.run(["ip", "-n", ns, "link", "show", name]).code, 0);
  },
);

test(
  'TUN: `ip link del` from outside reports a "gone" error; nothing crashes',
  { skip },
  async () => {
    const fdsBefore = openFdCount();
    const name = `ptd${process.pid}`.slice(0, 15);
    const tun = open(name);
    const errors: IoError[] = [];
    tun.onError((e) => errors.push(e));
    let batches = 0;
    tun.onBatch(createRxRing(4, 2048, HEADROOM_BYTES), () => batches++);
    reg.must(["ip", "-n", ns, "link", "del", name]);
    assert.ok(
      await until(() => errors.length > 0, 10_000),
      "no error after the device was deleted",
    );
    await sleep(50);
    assert.equal(errors.length, 1, "a gone error is reported once");
    const e = errors[0]!;
    assert.equal(e.errnoClass, "gone");
    assert.match(e.code, /^(EBADFD|ENODEV|ENXIO|EBADF)$/);
    assert.ok(tun.closed);
    assert.equal(tun.writeBatch([Buffer.alloc(60)], [0], [60], 1), 0);
    tun.close();
    assert.equal(openFdCount(), fdsBefore);
  },
);

test("TUN: open errors carry the errno name", { skip }, () => {
  assert.throws(
    () => inNetns(nsPath(ns), () => openTun({ name: "lo", mtu: 1400 })),
    (e: Error & { code?: string }) => typeof e.code === "string" && /^E[A-Z]+$/.test(e.code),
  );
  assert.throws(
    () =>
      inNetns(nsPath(ns), () => openTun({ name: `pte${process.pid}`.slice(0, 15), mtu: 70000 })),
    {
      code: "EINVAL",
    },
  );
});
