/**
 * io/linux.ts policy over an injected fake binding: no root, no kernel.
 * The real binding is exercised by test/integration/native-*.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdirSync, mkdtempSync, rmSync, symlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  inNetns,
  lowerDevices,
  netdevFeatures,
  interfaceIndex,
  openIcmpV6,
  openIpv4Raw,
  openIpv4RawFds,
  openTun,
  setLinkUp,
  watchRouteEvents,
} from "../../../module/io/linux.js";
import type {
  NativeBinding,
  NativePollStats,
  PollHandle,
  WritableHandle,
} from "../../../module/native/loader.js";
import { createIcmpErrorRing, createIcmpv6RxRing } from "../../../module/io/ring.js";
import { createIpv4RxRing, createRxRing } from "../../../module/io/ring.js";
import type { IoError } from "../../../module/io/ports.js";

const ERRNO: Record<number, string> = {
  0: "",
  9: "EBADF",
  11: "EAGAIN",
  19: "ENODEV",
  90: "EMSGSIZE",
  105: "ENOBUFS",
};

interface FakePoller {
  fd: number;
  kind: number;
  bufs: readonly Uint8Array[];
  offset: number;
  sizes: Int32Array;
  addrs: Uint32Array | Uint8Array | null;
  meta: Int32Array | null;
  onBatch: (count: number) => void;
  onError: (err: Error & { code: string; errno: number }) => void;
  closed: boolean;
}

/** A NativeBinding that records calls; tests script its answers. */
class FakeBinding implements NativeBinding {
  calls: string[] = [];
  pollers: FakePoller[] = [];
  nextFd = 40;
  failSetMtu = false;
  failClose = false;
  /** What the next writeTun/sendRaw4 reports: [sent, firstErrno, notSent, stale]. */
  sendResult: [number, number, number, number] | undefined;
  lastSend:
    | { offsets: Int32Array; lengths: Int32Array; count: number; dsts: Uint32Array | null }
    | undefined;
  readonly POLL_KIND_TUN = 0;
  readonly POLL_KIND_RAW4 = 1;
  readonly POLL_KIND_ICMP6 = 2;
  readonly MAX_BATCH = 1024;

  openTun(name: string, offload?: boolean) {
    this.calls.push(`openTun ${name}`);
    this.offloadAsked = offload;
    return { fd: this.nextFd++, name, offload: offload === true };
  }
  offloadAsked: boolean | undefined;
  tunOffloadStats(_fd: number) {
    return null;
  }
  setMtu(name: string, mtu: number) {
    this.calls.push(`setMtu ${name} ${mtu}`);
    if (this.failSetMtu)
      throw Object.assign(new Error("ioctl(SIOCSIFMTU)"), { code: "EINVAL", errno: 22 });
  }
  setTxQueueLen(name: string, len: number) {
    this.calls.push(`setTxQueueLen ${name} ${len}`);
  }
  setUp(name: string, up: boolean) {
    this.calls.push(`setUp ${name} ${up}`);
  }
  ifIndex(name: string) {
    this.calls.push(`ifIndex ${name}`);
    return 7;
  }
  setNetns(fd: number) {
    this.calls.push(`setNetns ${typeof fd}`);
  }
  close(fd: number) {
    this.calls.push(`close ${fd}`);
    if (this.failClose) throw Object.assign(new Error("close"), { code: "EBADF", errno: 9 });
  }
  getSocketError() {
    return 0;
  }
  splitRaw4(fd: number, index: number, count: number) {
    this.calls.push(`splitRaw4 ${fd} ${index} ${count}`);
    return 0;
  }
  openPacket4(sndbuf: number) {
    this.calls.push(`openPacket4 ${sndbuf}`);
    return 90;
  }
  /** openPacketRx4 with `fanout` -2 (a new group) throws (a kernel without the group). */
  failFanoutNew = false;
  /** The group id packetFanout answers. */
  fanoutId = 0;
  openPacketRx4(
    device: string,
    dsts: Uint32Array,
    index: number,
    count: number,
    _rcvbuf: number,
    fanout: number,
  ) {
    this.calls.push(
      `openPacketRx4 ${device} ${Array.from(dsts).join(",")} ${index}/${count} fanout ${fanout}`,
    );
    if (fanout === -2 && this.failFanoutNew) throw nativeError("EINVAL", 22);
    return this.nextFd++;
  }
  packetFanout(fd: number) {
    this.calls.push(`packetFanout ${fd}`);
    return this.fanoutId;
  }
  nextHop4() {
    return null;
  }
  neighUse4() {}
  routeDump4() {
    return null;
  }
  routeDump4Async(
    max: number,
    ranges: Uint32Array | null,
    done: (err: Error | null, routes: Uint32Array | null, read: number) => void,
  ) {
    this.calls.push(`routeDump4Async ${max} ${ranges === null ? "null" : ranges.join(",")}`);
    done(null, new Uint32Array(0), 0);
  }
  /** routeEvents answers these masks in turn (0 when empty); the watcher's callback. */
  routeMasks: number[] = [];
  onReadable: (() => void) | null = null;
  failReadable = false;
  openRouteEvents() {
    this.calls.push("openRouteEvents");
    return this.nextFd++;
  }
  failRouteEvents = false;
  routeEvents(fd: number, ifindex: number, ranges: Uint32Array | null) {
    this.calls.push(`routeEvents ${fd} ${ifindex} ${ranges === null ? "null" : ranges.join(",")}`);
    if (this.failRouteEvents) throw nativeError("ENOMEM", 12);
    return this.routeMasks.shift() ?? 0;
  }
  readableStart(fd: number, onReadable: () => void): WritableHandle {
    if (this.failReadable) throw nativeError("EBADF", 9);
    this.calls.push(`readableStart ${fd}`);
    this.onReadable = onReadable;
    return {} as WritableHandle;
  }
  finishIpv4Header() {}
  setIoUring(on: boolean) {
    return on;
  }
  errnoName(e: number) {
    return ERRNO[e] ?? `ERRNO_${e}`;
  }
  openRaw4(
    proto: number,
    bind: number,
    dev: string,
    hdrincl: boolean,
    recvErr: boolean,
    rcv: number,
    snd: number,
    pmtuDisc?: number,
  ) {
    this.calls.push(
      `openRaw4 ${proto} ${bind} "${dev}" ${hdrincl} ${recvErr} ${rcv} ${snd} ${pmtuDisc}`,
    );
    return this.nextFd++;
  }
  /** ethtoolFeatures answers: name -> [active, changeable]; absent = unknown to the kernel. */
  features = new Map<string, [boolean, boolean]>();
  ethtoolFeatures(dev: string, names: readonly string[], want: Int32Array | null) {
    this.calls.push(
      `ethtoolFeatures ${dev} ${names.join(",")} ${want ? [...want].join(",") : "-"}`,
    );
    names.forEach((n, i) => {
      const f = this.features.get(n);
      if (f && want && (want[i] ?? -1) >= 0 && f[1]) f[0] = want[i] === 1;
    });
    return Int32Array.from(names, (n) => {
      const f = this.features.get(n);
      return f === undefined ? -1 : (f[0] ? 1 : 0) | (f[1] ? 2 : 0);
    });
  }
  openIcmp6(dev: string, groups: Uint8Array, types: number[], echoId?: number) {
    this.calls.push(
      `openIcmp6 ${dev} ${Buffer.from(groups).toString("hex")} ${types.join(",")}` +
        (echoId === undefined ? "" : ` id ${echoId}`),
    );
    return this.nextFd++;
  }
  sendIcmp6(
    fd: number,
    _b: Uint8Array,
    off: number,
    len: number,
    _d: Uint8Array,
    dOff: number,
    ifindex: number,
  ) {
    this.calls.push(`sendIcmp6 ${fd} ${off} ${len} ${dOff} ${ifindex}`);
    if (this.sendResult !== undefined && this.sendResult[0] === 0) {
      throw Object.assign(new Error("sendmsg"), {
        code: this.errnoName(this.sendResult[1]),
        errno: this.sendResult[1],
      });
    }
  }
  private send(
    offsets: Int32Array,
    lengths: Int32Array,
    dsts: Uint32Array | null,
    count: number,
    status: Int32Array,
  ) {
    this.lastSend = {
      offsets: offsets.slice(0, count),
      lengths: lengths.slice(0, count),
      count,
      dsts,
    };
    const [sent, e, notSent, stale] = this.sendResult ?? [count, 0, 0, 0];
    status[0] = e;
    status[1] = notSent;
    status[2] = stale;
    return sent;
  }
  /** What the next sendRaw4 reports in status[6..8] (AF_PACKET errno, packets, tail on it). */
  packetResult: [number, number, number] = [0, 0, 0];
  lastPacket: { pfd: number | null; nextHop: Uint8Array | null } | undefined;
  sendRaw4(
    fd: number,
    _b: readonly Uint8Array[],
    o: Int32Array,
    l: Int32Array,
    d: Uint32Array | null,
    c: number,
    s: Int32Array,
    _gso?: Int32Array | null,
    _first?: number,
    _skip?: number,
    _slab?: ArrayBufferLike | null,
    _abs?: Int32Array | null,
    pfd?: number | null,
    nextHop?: Uint8Array | null,
  ) {
    this.calls.push(`sendRaw4 ${fd} ${c}`);
    this.lastPacket = { pfd: pfd ?? null, nextHop: nextHop ? Uint8Array.from(nextHop) : null };
    const sent = this.send(o, l, d, c, s);
    if (s.length >= 9) [s[6], s[7], s[8]] = this.packetResult;
    return sent;
  }
  writeTun(
    _fd: number,
    _b: readonly Uint8Array[],
    o: Int32Array,
    l: Int32Array,
    c: number,
    s: Int32Array,
  ) {
    return this.send(o, l, null, c, s);
  }
  pollStart(
    fd: number,
    kind: number,
    bufs: readonly Uint8Array[],
    offset: number,
    sizes: Int32Array,
    addrs: Uint32Array | Uint8Array | null,
    meta: Int32Array | null,
    onBatch: (count: number) => void,
    onError: (err: Error & { code: string; errno: number }) => void,
  ): PollHandle {
    const p: FakePoller = {
      fd,
      kind,
      bufs,
      offset,
      sizes,
      addrs,
      meta,
      onBatch,
      onError,
      closed: false,
    };
    this.pollers.push(p);
    this.calls.push(`pollStart ${fd} ${kind}`);
    return p as unknown as PollHandle;
  }
  pollPause() {}
  pollResume() {}
  writableStart(): WritableHandle {
    return {} as WritableHandle;
  }
  writableArm() {}
  writableClose() {
    this.calls.push("watchClose");
  }
  pollClose(h: PollHandle) {
    const p = h as unknown as FakePoller;
    this.calls.push(`pollClose ${p.fd}`);
    p.closed = true;
  }
  dropPrivileges(): { boundingReduced: boolean } {
    throw new Error("not used here");
  }
  releaseStartupPages(): number {
    throw new Error("not used here");
  }
  pollStats(): NativePollStats {
    return {
      batches: 3,
      packets: 10,
      soErrors: 2,
      lastSoError: 111,
      errQueue: 0,
      truncated: 1,
      restarts: 2,
      readErrors: 0,
      wanGroMerged: 4,
      wanGroUnusable: 5,
      icmpErrors: { host_unreachable: 7 },
    };
  }
  errQueues: { h: PollHandle; buf: Uint8Array; meta: Int32Array; onErrors: (n: number) => void }[] =
    [];
  pollErrQueue(h: PollHandle, buf: Uint8Array, meta: Int32Array, onErrors: (n: number) => void) {
    this.errQueues.push({ h, buf, meta, onErrors });
  }
}

function nativeError(code: string, errno: number): Error & { code: string; errno: number } {
  return Object.assign(new Error(`read fd 40: ${code}`), { code, errno });
}

test("openTun: opens, sets MTU and txqueuelen, brings up; closes the fd when setup fails", () => {
  const b = new FakeBinding();
  const tun = openTun({ name: "6to4pmt0", mtu: 1480, txQueueLen: 1000, binding: b });
  assert.equal(tun.name, "6to4pmt0");
  assert.equal(tun.mtu, 1480);
  assert.deepEqual(b.calls, [
    "openTun 6to4pmt0",
    "setMtu 6to4pmt0 1480",
    "setTxQueueLen 6to4pmt0 1000",
    "setUp 6to4pmt0 true",
  ]);
  const b2 = new FakeBinding();
  b2.failSetMtu = true;
  assert.throws(() => openTun({ name: "t0", mtu: 1, binding: b2 }), { code: "EINVAL" });
  assert.deepEqual(b2.calls, ["openTun t0", "setMtu t0 1", "close 40"]);
});

test("openTun: asks for TCP offload by default, not with PMT_NO_TUN_OFFLOAD=1 or offload: false", () => {
  const saved = process.env.PMT_NO_TUN_OFFLOAD;
  try {
    delete process.env.PMT_NO_TUN_OFFLOAD;
    const b = new FakeBinding();
    const tun = openTun({ name: "t0", mtu: 1480, binding: b });
    assert.equal(b.offloadAsked, true);
    assert.equal(tun.offload, true);
    assert.equal(openTun({ name: "t1", mtu: 1480, binding: b, offload: false }).offload, false);
    assert.equal(b.offloadAsked, false);
    process.env.PMT_NO_TUN_OFFLOAD = "1";
    assert.equal(openTun({ name: "t2", mtu: 1480, binding: b }).offload, false);
    assert.equal(b.offloadAsked, false);
  } finally {
    if (saved === undefined) delete process.env.PMT_NO_TUN_OFFLOAD;
    else process.env.PMT_NO_TUN_OFFLOAD = saved;
  }
});

test("TUN onBatch: hands the caller's ring to the poller; the handler sees the same arrays", () => {
  const b = new FakeBinding();
  const tun = openTun({ name: "t0", mtu: 1480, binding: b });
  const ring = createRxRing(4, 2048, 20);
  const seen: number[] = [];
  tun.onBatch(ring, (bufs, sizes, count) => {
    assert.equal(bufs, ring.bufs);
    assert.equal(sizes, ring.sizes);
    seen.push(count);
  });
  const p = b.pollers[0]!;
  assert.equal(p.kind, 0);
  assert.equal(p.offset, 20);
  assert.equal(p.bufs, ring.bufs);
  assert.equal(p.sizes, ring.sizes);
  p.onBatch(3);
  assert.deepEqual(seen, [3]);
  assert.throws(() => tun.onBatch(ring, () => {}), /onBatch called twice/);
});

test("writeBatch: plain arrays become Int32Array; Int32Array passes through; counters", () => {
  const b = new FakeBinding();
  const tun = openTun({ name: "t0", mtu: 1480, binding: b });
  const bufs = [Buffer.alloc(100), Buffer.alloc(100)];
  assert.equal(tun.writeBatch(bufs, [20, 0], [60, 80], 2), 2);
  assert.deepEqual([...b.lastSend!.offsets], [20, 0]);
  assert.deepEqual([...b.lastSend!.lengths], [60, 80]);
  const offs = new Int32Array([4, 5]);
  tun.writeBatch(bufs, offs, new Int32Array([6, 7]), 2);
  assert.deepEqual([...b.lastSend!.offsets], [4, 5]);
  assert.equal(tun.writeBatch(bufs, [0], [0], 0), 0, "count 0 makes no call");
  // A bigger batch than the scratch arrays: they grow.
  const many = Array.from({ length: 100 }, () => Buffer.alloc(64));
  assert.equal(tun.writeBatch(many, new Array(100).fill(0), new Array(100).fill(64), 100), 100);
  assert.equal(b.lastSend!.count, 100);
  b.sendResult = [1, 105, 1, 3];
  assert.equal(tun.writeBatch(bufs, [0, 0], [60, 60], 2), 1);
  const st = tun.stats();
  assert.equal(st.txPackets, 105);
  assert.equal(st.txDropped, 1);
  assert.equal(st.lastTxError, "ENOBUFS");
  assert.equal(st.socketErrorsCleared, 3, "stale ICMP errors retried by sends");
  assert.equal(st.rxPackets, 0, "no poller yet");
  tun.onBatch(createRxRing(2, 2048, 20), () => {});
  const st2 = tun.stats();
  assert.equal(st2.socketErrorsCleared, 3 + 2, "+ the poller's cleared errors");
  assert.equal(st2.rxPackets, 10);
  assert.equal(st2.rxBatches, 3);
  assert.equal(st2.rxTruncated, 1);
  assert.equal(st2.wanGroMerged, 4);
  assert.equal(st2.wanGroUnusable, 5);
  assert.equal(st2.pollRestarts, 2);
});

test("writeBatch: a 'gone' errno is reported once from the event loop, not inside the call", async () => {
  const b = new FakeBinding();
  const tun = openTun({ name: "t0", mtu: 1480, binding: b });
  const errors: IoError[] = [];
  tun.onBatch(createRxRing(2, 2048, 20), () => {});
  tun.onError((e) => errors.push(e));
  b.sendResult = [0, 9, 2, 0];
  assert.equal(tun.writeBatch([Buffer.alloc(60)], [0], [60], 1), 0);
  assert.equal(errors.length, 0, "not synchronous");
  await new Promise((r) => setImmediate(r));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.code, "EBADF");
  assert.equal(errors[0]!.errnoClass, "gone");
  assert.match(errors[0]!.message, /^tun t0: /);
  assert.ok(tun.closed);
  assert.ok(b.pollers[0]!.closed, "the poller was released");
  assert.equal(tun.writeBatch([Buffer.alloc(60)], [0], [60], 1), 0, "no more sends");
});

test("poller errors: degrade keeps the port open; gone closes the poller and is reported once", () => {
  const b = new FakeBinding();
  const s = openIpv4Raw({ binding: b });
  const errors: IoError[] = [];
  s.onError((e) => errors.push(e));
  s.onBatch(createIpv4RxRing(2, 2048), () => {});
  const p = b.pollers[0]!;
  p.onError(nativeError("ENOBUFS", 105));
  assert.equal(errors.length, 1);
  assert.equal(errors[0]!.errnoClass, "degrade");
  assert.equal(s.closed, false);
  p.onError(nativeError("EBADF", 9));
  p.onError(nativeError("EBADF", 9));
  assert.equal(errors.length, 2);
  assert.equal(errors[1]!.errnoClass, "gone");
  assert.ok(s.closed);
  assert.ok(p.closed);
});

test("close: poller first, then the fd; idempotent; swallows a dead fd; safe inside the handler", () => {
  const b = new FakeBinding();
  const tun = openTun({ name: "t0", mtu: 1480, binding: b });
  tun.onBatch(createRxRing(2, 2048, 20), () => tun.close());
  b.failClose = true;
  b.pollers[0]!.onBatch(1);
  tun.close();
  assert.deepEqual(b.calls.slice(-2), ["pollClose 40", "close 40"]);
  assert.ok(tun.closed);
  assert.throws(() => tun.onBatch(createRxRing(2, 2048, 20), () => {}), /onBatch/);
});

test("openIpv4Raw: protocol 41, IP_HDRINCL, address as unsigned, buffers; sends read dst from headers", () => {
  const b = new FakeBinding();
  const s = openIpv4Raw({
    binding: b,
    bindAddress: 0xc0586301 | 0,
    device: "wan",
    recvErr: true,
    backpressure: false,
  });
  assert.equal(b.calls[0], `openRaw4 41 ${0xc0586301} "wan" true true 4194304 4194304 5`);
  const ring = createIpv4RxRing(4, 2048);
  let srcsSeen: Uint32Array | undefined;
  s.onBatch(ring, (_b, _s, _n, srcs) => (srcsSeen = srcs));
  const p = b.pollers[0]!;
  assert.equal(p.kind, 1);
  assert.equal(p.addrs, ring.srcs);
  p.onBatch(1);
  assert.equal(srcsSeen, ring.srcs);
  s.writeBatch([Buffer.alloc(60)], [0], [60], 1);
  assert.equal(b.lastSend!.dsts, null, "destination comes from each IPv4 header");
});

test("openIpv4Raw: sends through a second, send-only IPPROTO_RAW socket; close releases both", () => {
  const b = new FakeBinding();
  const s = openIpv4Raw({
    binding: b,
    bindAddress: 0xc0586301 | 0,
    device: "wan",
    recvErr: true,
    backpressure: false,
  });
  // Same address, device and send buffer; no IP_RECVERR and no receive buffer: it never receives.
  // Both with IP_PMTUDISC_OMIT (5): no ICMPv4 "fragmentation needed" lowers what they send.
  assert.equal(b.calls[1], `openRaw4 255 ${0xc0586301} "wan" true false 0 4194304 5`);
  // With backpressure (the default): a send buffer sized to a queue, IP_RECVERR for ENOBUFS.
  const bp = new FakeBinding();
  openIpv4Raw({ binding: bp, bindAddress: 0xc0586301 | 0, device: "wan", backpressure: true });
  assert.equal(bp.calls[0], `openRaw4 41 ${0xc0586301} "wan" true false 4194304 4194304 5`);
  assert.equal(bp.calls[1], `openRaw4 255 ${0xc0586301} "wan" true true 0 262144 5`);
  s.onBatch(createIpv4RxRing(2, 2048), () => {});
  assert.equal(b.pollers.length, 1);
  assert.equal(b.pollers[0]!.fd, 40, "only the protocol-41 socket is polled");
  s.writeBatch([Buffer.alloc(60)], [0], [60], 1);
  assert.equal(b.calls.at(-1), "sendRaw4 41 1");
  s.close();
  s.close();
  assert.deepEqual(
    b.calls.filter((c) => c.startsWith("close")),
    ["close 40", "close 41"],
  );
});

test("openIpv4Raw: when the send socket cannot be opened, the receive socket is closed again", () => {
  const b = new FakeBinding();
  const open = b.openRaw4.bind(b);
  b.openRaw4 = (proto, ...rest) => {
    if (proto === 255) throw Object.assign(new Error("socket: EPERM"), { code: "EPERM" });
    return open(proto, ...rest);
  };
  assert.throws(() => openIpv4Raw({ binding: b }), /EPERM/);
  assert.deepEqual(b.calls, [`openRaw4 41 0 "" true false 4194304 4194304 5`, "close 40"]);
});

test("netdevFeatures: wants become 1/0/-1 per name; answers become known/active/changeable", () => {
  const b = new FakeBinding();
  b.features.set("rx-gro-list", [true, true]);
  b.features.set("rx-udp-gro-forwarding", [true, false]);
  const names = ["rx-gro-list", "rx-udp-gro-forwarding", "no-such"];
  const before = netdevFeatures("wan", names, undefined, b);
  assert.equal(b.calls.at(-1), "ethtoolFeatures wan rx-gro-list,rx-udp-gro-forwarding,no-such -");
  assert.deepEqual(before.get("rx-gro-list"), { known: true, active: true, changeable: true });
  assert.deepEqual(before.get("rx-udp-gro-forwarding"), {
    known: true,
    active: true,
    changeable: false,
  });
  assert.deepEqual(before.get("no-such"), { known: false });
  const want = new Map([
    ["rx-gro-list", false],
    ["rx-udp-gro-forwarding", false],
  ]);
  const after = netdevFeatures("wan", names, want, b);
  assert.equal(
    b.calls.at(-1),
    "ethtoolFeatures wan rx-gro-list,rx-udp-gro-forwarding,no-such 0,0,-1",
  );
  assert.deepEqual(after.get("rx-gro-list"), { known: true, active: false, changeable: true });
  assert.deepEqual(after.get("rx-udp-gro-forwarding"), {
    known: true,
    active: true,
    changeable: false,
  });
  netdevFeatures("wan", ["rx-gro-list"], new Map([["rx-gro-list", true]]), b);
  assert.equal(b.calls.at(-1), "ethtoolFeatures wan rx-gro-list 1");
});

test("lowerDevices: the lower_* links of a device in a sysfs tree; [] when none, absent or odd", () => {
  // The layout of /sys/class/net: a directory per device, lower_<name> links to the one below.
  const root = mkdtempSync(join(tmpdir(), "pmt-sysfs-"));
  try {
    for (const d of ["eth0", "eth0.2", "bond0", "eth1", "eth2"]) mkdirSync(join(root, d));
    symlinkSync(join(root, "eth0"), join(root, "eth0.2", "lower_eth0"));
    symlinkSync(join(root, "eth1"), join(root, "bond0", "lower_eth1"));
    symlinkSync(join(root, "eth2"), join(root, "bond0", "lower_eth2"));
    mkdirSync(join(root, "eth0", "queues")); // not a link to a lower device
    assert.deepEqual(lowerDevices("eth0.2", root), ["eth0"]);
    assert.deepEqual(lowerDevices("bond0", root), ["eth1", "eth2"]);
    assert.deepEqual(lowerDevices("eth0", root), []);
    assert.deepEqual(lowerDevices("missing", root), []);
    assert.deepEqual(lowerDevices("../eth0.2", root), [], "a device name is no path");
    assert.deepEqual(lowerDevices("", root), []);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
});

test("openIcmpV6 without a device: unbound (no ifindex lookup, no groups), echo identifier passed", () => {
  const b = new FakeBinding();
  const s = openIcmpV6({ passTypes: [129], echoIdentifier: 0x1234, binding: b });
  assert.equal(s.device, "");
  assert.equal(s.ifindex, 0);
  assert.deepEqual(b.calls, ["openIcmp6   129 id 4660"]);
  assert.ok(s.send(Buffer.alloc(16), 0, 16, Buffer.alloc(16), 0));
  assert.equal(b.calls.at(-1), "sendIcmp6 40 0 16 0 0", "no IPV6_PKTINFO interface: routed");
  s.close();
});

test("openIcmpV6: groups packed, types passed; meta split into hop limits and ifindexes", () => {
  const b = new FakeBinding();
  const s = openIcmpV6({ device: "br-lan", passTypes: [133], binding: b });
  assert.equal(s.ifindex, 7);
  assert.equal(
    b.calls[1],
    `openIcmp6 br-lan ff020000000000000000000000000001ff020000000000000000000000000002 133`,
  );
  const ring = createIcmpv6RxRing(2, 1500);
  let got = -1;
  s.onBatch(ring, (r, n) => {
    assert.equal(r, ring);
    got = n;
  });
  const p = b.pollers[0]!;
  assert.equal(p.kind, 2);
  p.meta![0] = 255;
  p.meta![1] = 7;
  p.meta![2] = 64;
  p.meta![3] = 8;
  p.onBatch(2);
  assert.equal(got, 2);
  assert.deepEqual([...ring.hopLimits], [255, 64]);
  assert.deepEqual([...ring.ifindexes], [7, 8]);
  assert.ok(s.send(Buffer.alloc(16), 0, 16, ring.srcs, 16));
  assert.equal(b.calls.at(-1), "sendIcmp6 40 0 16 16 7");
  b.sendResult = [0, 90, 1, 0];
  assert.equal(s.send(Buffer.alloc(16), 0, 16, ring.srcs, 0), false);
  assert.equal(s.stats().lastTxError, "EMSGSIZE");
  assert.equal(s.stats().txDropped, 1);
});

test("inNetns: switches and switches back, also when the callback throws", () => {
  const b = new FakeBinding();
  assert.equal(
    inNetns("/proc/self/ns/net", () => 5, b),
    5,
  );
  assert.throws(
    () =>
      inNetns(
        "/proc/self/ns/net",
        () => {
          throw new Error("boom");
        },
        b,
      ),
    /boom/,
  );
  assert.deepEqual(b.calls, [
    "setNetns number",
    "setNetns number",
    "setNetns number",
    "setNetns number",
  ]);
  assert.throws(() => inNetns("/nonexistent/netns", () => 1, b), { code: "ENOENT" });
  assert.equal(b.calls.length, 4, "no switch when the namespace cannot be opened");
});

test("interfaceIndex and setLinkUp go to the binding", () => {
  const b = new FakeBinding();
  assert.equal(interfaceIndex("br-lan", b), 7);
  setLinkUp("6to4pmt0", true, b);
  assert.deepEqual(b.calls, ["ifIndex br-lan", "setUp 6to4pmt0 true"]);
});

test("watchRouteEvents: each wake-up reads the socket with the filter of the moment; a change calls back, none does not; close once", () => {
  const b = new FakeBinding();
  const seen: number[] = [];
  let ifindex = 0;
  let ranges: Uint32Array | null = null;
  const w = watchRouteEvents(
    (m) => seen.push(m),
    { neighIfindex: () => ifindex, routeRanges: () => ranges },
    (e) => assert.fail(e),
    b,
  );
  const fd = b.nextFd - 1;
  assert.deepEqual(b.calls, ["openRouteEvents", `readableStart ${fd}`]);
  b.routeMasks.push(0, 2 | 1);
  b.onReadable!();
  ifindex = 5;
  ranges = Uint32Array.of(1, 2);
  b.onReadable!();
  assert.deepEqual(seen, [3]);
  w.close();
  w.close();
  b.onReadable!();
  assert.deepEqual(b.calls.slice(2), [
    `routeEvents ${fd} 0 null`,
    `routeEvents ${fd} 5 1,2`,
    "watchClose",
    `close ${fd}`,
  ]);
});

test("watchRouteEvents: a watcher that cannot start closes the socket and throws", () => {
  const b = new FakeBinding();
  b.failReadable = true;
  assert.throws(
    () =>
      watchRouteEvents(
        () => undefined,
        { neighIfindex: () => 0, routeRanges: () => null },
        () => undefined,
        b,
      ),
    (e: Error & { code?: string }) => e.code === "EBADF",
  );
  assert.deepEqual(b.calls, ["openRouteEvents", `close ${b.nextFd - 1}`]);
});

test("watchRouteEvents: a socket that cannot be read closes the watch and reports it once", () => {
  const b = new FakeBinding();
  const errors: string[] = [];
  watchRouteEvents(
    () => assert.fail("no change"),
    { neighIfindex: () => 0, routeRanges: () => null },
    (e) => errors.push((e as Error & { code?: string }).code ?? ""),
    b,
  );
  const fd = b.nextFd - 1;
  b.failRouteEvents = true;
  b.onReadable!();
  b.onReadable!();
  assert.deepEqual(errors, ["ENOMEM"]);
  assert.deepEqual(b.calls.slice(2), [`routeEvents ${fd} 0 null`, "watchClose", `close ${fd}`]);
});

test("openIpv4Raw: onIcmpErrors registers the error ring on the socket's poller; stats carry the kinds", () => {
  const b = new FakeBinding();
  const s = openIpv4Raw({ binding: b, recvErr: true });
  const ring = createIcmpErrorRing(4, 128);
  assert.throws(() => s.onIcmpErrors!(ring, () => {}), /before onBatch/);
  s.onBatch(createIpv4RxRing(2, 2048), () => {});
  let got = -1;
  s.onIcmpErrors!(ring, (n) => (got = n));
  assert.equal(b.errQueues.length, 1);
  assert.equal(b.errQueues[0]!.buf, ring.buf);
  assert.equal(b.errQueues[0]!.meta, ring.meta);
  b.errQueues[0]!.onErrors(3);
  assert.equal(got, 3);
  assert.deepEqual(s.stats().icmpErrors, { host_unreachable: 7 });
});

test("wan_send packet: an AF_PACKET socket beside the raw one; the next hop goes with each send", async () => {
  const b = new FakeBinding();
  const s = openIpv4Raw({ binding: b, device: "wan", backpressure: true, packetSend: true });
  assert.equal(b.calls[2], "openPacket4 262144", "the send buffer of the raw send socket");
  const pp = s.packetPath!;
  assert.equal(pp.active, false);
  s.writeBatch([Buffer.alloc(60)], [0], [60], 1);
  assert.deepEqual(b.lastPacket, { pfd: null, nextHop: null }, "not resolved: raw only");
  pp.set(0xc0586301, 7, Uint8Array.from([2, 0, 0x5e, 0, 0, 1]));
  b.packetResult = [0, 1, 0];
  s.writeBatch([Buffer.alloc(60)], [0], [60], 1);
  assert.equal(b.lastPacket!.pfd, 90);
  const nh = (b.lastPacket as unknown as { nextHop: Uint8Array }).nextHop;
  assert.deepEqual([...nh.subarray(0, 4)], [192, 88, 99, 1], "destination, network order");
  assert.equal(new DataView(nh.buffer).getUint32(4, true), 7, "ifindex, host order");
  assert.equal(nh[8], 6);
  assert.deepEqual([...nh.subarray(12, 18)], [2, 0, 0x5e, 0, 0, 1]);
  assert.equal(pp.packets, 1);
  // The AF_PACKET socket failed outright (ENETDOWN): the path clears itself and says so once.
  const failures: string[] = [];
  pp.onFailure((code) => failures.push(code));
  b.packetResult = [100, 0, 0];
  s.writeBatch([Buffer.alloc(60)], [0], [60], 1);
  assert.equal(pp.active, false);
  await new Promise((r) => setImmediate(r));
  assert.deepEqual(failures, [b.errnoName(100)]);
  s.writeBatch([Buffer.alloc(60)], [0], [60], 1);
  assert.deepEqual(b.lastPacket, { pfd: null, nextHop: null });
  s.close();
  assert.ok(b.calls.includes("close 90"), "the AF_PACKET socket is closed with the port");
});

test("openIpv4RawFds packet_receive: worker 1 makes each device's PACKET_FANOUT group, the others join it", () => {
  const b = new FakeBinding();
  // The kernel's first unique id is 0: a group all the same.
  b.fanoutId = 0;
  const fanout = new Map<string, number>();
  const packetReceive = { devices: ["r0", "r1"], dsts: [0xc0586301] };
  for (let i = 0; i < 2; i++) {
    openIpv4RawFds({ binding: b, packetReceive }, { index: i, count: 2, fanout });
  }
  const rx = b.calls.filter((c) => c.startsWith("openPacketRx4") || c.startsWith("packetFanout"));
  assert.deepEqual(rx, [
    "openPacketRx4 r0 3227017985 0/2 fanout -2",
    "packetFanout 42",
    "openPacketRx4 r1 3227017985 0/2 fanout -2",
    "packetFanout 43",
    "openPacketRx4 r0 3227017985 1/2 fanout 0",
    "openPacketRx4 r1 3227017985 1/2 fanout 0",
  ]);
  assert.deepEqual(
    [...fanout],
    [
      ["r0", 0],
      ["r1", 0],
    ],
  );
});

test("openIpv4RawFds packet_receive: no group from the kernel, or no map, shares by outer source", () => {
  const b = new FakeBinding();
  b.failFanoutNew = true;
  const fanout = new Map<string, number>();
  const packetReceive = { devices: ["r0"], dsts: [1] };
  for (let i = 0; i < 2; i++) {
    openIpv4RawFds({ binding: b, packetReceive }, { index: i, count: 2, fanout });
  }
  openIpv4RawFds({ binding: b, packetReceive }, { index: 0, count: 2 });
  openIpv4RawFds({ binding: b, packetReceive });
  const rx = b.calls.filter((c) => c.startsWith("openPacketRx4"));
  assert.deepEqual(rx, [
    "openPacketRx4 r0 1 0/2 fanout -2",
    "openPacketRx4 r0 1 0/2 fanout -1",
    "openPacketRx4 r0 1 1/2 fanout -1",
    "openPacketRx4 r0 1 0/2 fanout -1",
    "openPacketRx4 r0 1 0/1 fanout -1",
  ]);
  assert.deepEqual([...fanout], [["r0", -1]]);
});
