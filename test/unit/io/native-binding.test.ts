/**
 * The built addon itself, without root or namespaces: argument checking, errno-named errors,
 * and the uv_poll batch path driven through a FIFO (a TUN-kind poller only needs a readable
 * non-blocking fd). Real devices: test/integration/native-*.test.ts.
 */
import { after, before, test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { constants, mkdtempSync, openSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { loadNative, nativeIoOptions, type NativeBinding } from "../../../module/native/loader.js";

let binding: NativeBinding | undefined;
let skip: string | false = false;
try {
  binding = loadNative();
} catch (e) {
  skip = `addon not loadable: ${(e as Error).message}`;
}
const b = (): NativeBinding => binding as NativeBinding;

let dir = "";
let fifo = "";
before(() => {
  if (skip) return;
  dir = mkdtempSync(path.join(tmpdir(), "pmt-native-"));
  fifo = path.join(dir, "fifo");
  const r = spawnSync("mkfifo", [fifo]);
  assert.equal(r.status, 0, "mkfifo");
});
after(() => {
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const fdCount = (): number => readdirSync("/proc/self/fd").length;
const openFifo = (): number => openSync(fifo, constants.O_RDWR | constants.O_NONBLOCK);
const tick = (ms = 20): Promise<void> => new Promise((r) => setTimeout(r, ms));
/** Waits until `pred()` holds (at most `ms`): a lone timer may fire before the first poll. */
async function waitFor(pred: () => boolean, ms = 10_000): Promise<boolean> {
  const end = Date.now() + ms;
  while (!pred() && Date.now() < end) await tick(5);
  return pred();
}
/** Pollers still open when a test fails are closed here, so the process can exit. */
const open: { h: ReturnType<NativeBinding["pollStart"]>; fd: number }[] = [];
after(() => {
  for (const { h, fd } of open.splice(0)) {
    b().pollClose(h);
    try {
      b().close(fd);
    } catch {
      // already closed by the test
    }
  }
});

test("errnoName uses this platform's names", { skip }, () => {
  assert.equal(b().errnoName(0), "");
  assert.equal(b().errnoName(constants.O_RDONLY === 0 ? 11 : 11), "EAGAIN");
  assert.equal(b().errnoName(9), "EBADF");
  assert.equal(b().errnoName(77), "EBADFD");
  assert.equal(b().errnoName(9999), "ERRNO_9999");
});

test("errors carry code, errno and syscall", { skip }, () => {
  assert.ok(b().ifIndex("lo") > 0);
  assert.throws(
    () => b().ifIndex("nosuchdev0"),
    (e: Error & { code?: string; errno?: number; syscall?: string }) => {
      assert.equal(e.code, "ENODEV");
      assert.equal(e.errno, 19);
      assert.equal(e.syscall, "if_nametoindex");
      assert.match(e.message, /if_nametoindex nosuchdev0: ENODEV/);
      return true;
    },
  );
  assert.throws(() => b().close(987654), { code: "EBADF" });
  assert.throws(() => b().setMtu("nosuchdev0", 1400), { code: "ENODEV" });
});

test(
  "routeDump4: seven numbers per IPv4 route, the main table's among them; only those that meet the ranges",
  { skip },
  () => {
    const read = new Uint32Array(1);
    const d = b().routeDump4(1 << 16, null, read);
    assert.ok(d instanceof Uint32Array);
    assert.equal(d.length % 7, 0);
    const n = d.length / 7;
    assert.equal(read[0], n, "every route read is kept without ranges");
    const tables = new Set<number>();
    for (let i = 0; i < d.length; i += 7) {
      assert.ok(d[i + 1]! <= 32, "prefix length");
      tables.add(d[i + 2]!);
    }
    // Every host with an IPv4 address has local routes (table 255) for it.
    assert.ok(tables.has(255), [...tables].join(","));
    // More routes than `max`: null, the dump left unread; the next dump is whole again.
    assert.ok(n >= 2, `${n} routes`);
    assert.equal(b().routeDump4(n - 1, null, null), null);
    assert.equal(b().routeDump4(1 << 16, null, null)?.length, d.length);
    // Ranges: the routes whose prefix meets one of them, all routes read.
    const first = d[0]!;
    const len = d[1]!;
    const last = len === 0 ? 0xffffffff : (first + 2 ** (32 - len) - 1) >>> 0;
    const meets = (lo: number, hi: number): number[] => {
      const out: number[] = [];
      for (let i = 0; i < d.length; i += 7) {
        const f = d[i]!;
        const l = d[i + 1]! === 0 ? 0xffffffff : (f + 2 ** (32 - d[i + 1]!) - 1) >>> 0;
        if (f <= hi && lo <= l) out.push(...d.subarray(i, i + 7));
      }
      return out;
    };
    const some = b().routeDump4(1 << 16, Uint32Array.of(first, last), read);
    assert.deepEqual([...some!], meets(first, last));
    assert.equal(read[0], n);
    assert.deepEqual([...b().routeDump4(1 << 16, new Uint32Array(0), read)!], []);
  },
);

test("routeDump4Async: the same routes, read off the event loop", { skip }, async () => {
  const sync = b().routeDump4(1 << 16, null, null)!;
  const got = await new Promise<{ routes: Uint32Array | null; read: number }>((resolve, reject) =>
    b().routeDump4Async(1 << 16, null, (err, routes, read) =>
      err !== null ? reject(err) : resolve({ routes, read }),
    ),
  );
  assert.deepEqual([...got.routes!], [...sync]);
  assert.equal(got.read, sync.length / 7);
  const over = await new Promise<Uint32Array | null>((resolve) =>
    b().routeDump4Async(1, null, (_e, routes) => resolve(routes)),
  );
  assert.equal(over, null, "over max");
});

test("bad arguments throw TypeError, never crash", { skip }, () => {
  const st = new Int32Array(3);
  assert.throws(() => b().openTun(123 as unknown as string), TypeError);
  assert.throws(() => b().openTun("x".repeat(16)), TypeError);
  assert.throws(() => b().openTun(""), TypeError);
  assert.throws(
    () => b().sendRaw4(0, [Buffer.alloc(10)], new Int32Array(1), new Int32Array(1), null, 2, st),
    TypeError,
  );
  // The AF_PACKET next hop: 20 bytes, then whole (first, last) pairs, at most 4096 of them.
  for (const nh of [new Uint8Array(19), new Uint8Array(27), new Uint8Array(20 + 8 * 4097)]) {
    assert.throws(
      () =>
        b().sendRaw4(
          0,
          [Buffer.alloc(40)],
          new Int32Array(1),
          Int32Array.of(40),
          null,
          1,
          st,
          null,
          0,
          0,
          null,
          null,
          0,
          nh,
        ),
      TypeError,
      `next hop of ${nh.length} bytes`,
    );
  }
  assert.throws(() => b().routeDump4(0, null, null), TypeError);
  assert.throws(() => b().routeDump4(1, Uint32Array.of(1), null), TypeError);
  assert.throws(() => b().routeDump4(1, null, new Uint32Array(0)), TypeError);
  assert.throws(() => b().routeDump4Async(1, null, null as unknown as () => void), TypeError);
  // routeEvents: ranges are whole [first, last] pairs of a Uint32Array, or null.
  for (const ranges of [new Uint32Array(3), new Int32Array(2), [1, 2]]) {
    assert.throws(
      () => b().routeEvents(0, 0, ranges as unknown as Uint32Array),
      TypeError,
      `ranges ${String(ranges)}`,
    );
  }
  assert.throws(() => b().routeEvents(0, -1, null), TypeError);
  assert.throws(() => b().readableStart(-1, () => undefined), TypeError);
  // openPacketRx4: `fanout` -2 (new group), -1 (none) or a group id of 16 bits.
  for (const fanout of [-3, 65536]) {
    assert.throws(
      () => b().openPacketRx4("lo", Uint32Array.of(1), 0, 2, 0, fanout),
      TypeError,
      `fanout ${fanout}`,
    );
  }
  assert.throws(() => b().packetFanout("x" as unknown as number), TypeError);
  assert.throws(
    () =>
      b().writeTun(
        0,
        [Buffer.alloc(10)],
        new Int32Array(1),
        new Int32Array(1),
        1,
        new Int32Array(2),
      ),
    TypeError,
  );
  assert.throws(
    () =>
      b().pollStart(
        0,
        0,
        [],
        0,
        new Int32Array(1),
        null,
        null,
        () => {},
        () => {},
      ),
    TypeError,
  );
  assert.throws(
    () =>
      b().pollStart(
        0,
        0,
        [Buffer.alloc(20)],
        20,
        new Int32Array(1),
        null,
        null,
        () => {},
        () => {},
      ),
    /longer than offset/,
  );
  assert.throws(
    () =>
      b().pollStart(
        0,
        0,
        [Buffer.alloc(64)],
        20,
        new Int32Array(0),
        null,
        null,
        () => {},
        () => {},
      ),
    /sizes/,
  );
  assert.throws(
    () =>
      b().pollStart(
        0,
        9,
        [Buffer.alloc(64)],
        20,
        new Int32Array(1),
        null,
        null,
        () => {},
        () => {},
      ),
    TypeError,
  );
  assert.throws(
    () =>
      b().pollStart(
        0,
        1,
        [Buffer.alloc(64)],
        0,
        new Int32Array(1),
        new Uint8Array(4),
        null,
        () => {},
        () => {},
      ),
    /addrs/,
  );
  assert.throws(() => b().pollClose({} as never), TypeError);
});

test(
  "writes go out in a loop; out-of-range packets are refused (EINVAL) and counted",
  { skip },
  () => {
    const fd = openFifo();
    try {
      const st = new Int32Array(3);
      const buf = Buffer.alloc(100, 1);
      const n = b().writeTun(
        fd,
        [buf, buf, buf],
        new Int32Array([0, 90, 10]),
        new Int32Array([50, 20, 50]),
        3,
        st,
      );
      assert.equal(n, 2);
      assert.deepEqual([...st], [22, 1, 0]);
    } finally {
      b().close(fd);
    }
  },
);

test(
  "poller: data lands at the offset, one callback per wake-up, close inside the callback",
  { skip },
  async () => {
    const before = fdCount();
    const fd = openFifo();
    const bufs = [Buffer.alloc(256), Buffer.alloc(256)];
    const sizes = new Int32Array(2);
    const batches: number[] = [];
    let first = "";
    const st = new Int32Array(3);
    const h = b().pollStart(
      fd,
      b().POLL_KIND_TUN,
      bufs,
      20,
      sizes,
      null,
      null,
      (count) => {
        batches.push(count);
        first = bufs[0]!.subarray(20, 20 + sizes[0]!).toString();
        if (batches.length === 2) b().pollClose(h); // inside the callback
      },
      () => assert.fail("no error expected"),
    );
    open.push({ h, fd });
    const msg = Buffer.from("hello tun");
    b().writeTun(fd, [msg], new Int32Array([0]), new Int32Array([msg.length]), 1, st);
    assert.ok(await waitFor(() => batches.length === 1));
    assert.deepEqual(batches, [1]);
    assert.equal(first, "hello tun");
    assert.equal(bufs[0]!.readUInt32BE(0), 0, "headroom untouched");
    b().writeTun(fd, [msg], new Int32Array([0]), new Int32Array([5]), 1, st);
    assert.ok(await waitFor(() => batches.length === 2));
    b().writeTun(fd, [msg], new Int32Array([0]), new Int32Array([5]), 1, st);
    await tick(50);
    assert.equal(batches.length, 2, "nothing after pollClose");
    const stats = b().pollStats(h);
    assert.equal(stats.batches, 2);
    assert.equal(stats.packets, 2);
    b().pollClose(h); // twice: fine
    b().close(fd);
    await tick();
    assert.equal(b().pollStats(h).packets, 2, "stats stay readable after close");
    assert.equal(fdCount(), before);
  },
);

test("poller: pause and resume", { skip }, async () => {
  const fd = openFifo();
  const bufs = [Buffer.alloc(64)];
  let calls = 0;
  const h = b().pollStart(
    fd,
    0,
    bufs,
    0,
    new Int32Array(1),
    null,
    null,
    () => calls++,
    () => {},
  );
  try {
    b().pollPause(h);
    spawnSync("sh", ["-c", `printf x > ${fifo}`]);
    await tick(50);
    assert.equal(calls, 0);
    b().pollResume(h);
    assert.ok(await waitFor(() => calls === 1));
  } finally {
    b().pollClose(h);
    b().close(fd);
  }
  assert.throws(() => b().pollResume(h), { code: "EBADF" });
});

test(
  "poller: a fatal read error (ENOTSOCK on a socket-kind poller) is reported and polling stops",
  { skip },
  async () => {
    const fd = openFifo();
    const errors: (Error & { code?: string })[] = [];
    const h = b().pollStart(
      fd,
      b().POLL_KIND_RAW4,
      [Buffer.alloc(64)],
      0,
      new Int32Array(1),
      new Uint32Array(1),
      null,
      () => assert.fail("no batch"),
      (e) => errors.push(e),
    );
    open.push({ h, fd });
    try {
      spawnSync("sh", ["-c", `printf x > ${fifo}`]);
      assert.ok(await waitFor(() => errors.length > 0), "no error reported");
      await tick();
      assert.equal(errors.length, 1);
      assert.equal(errors[0]!.code, "ENOTSOCK");
      assert.equal(b().pollStats(h).readErrors, 1);
    } finally {
      b().pollClose(h);
      b().close(fd);
    }
  },
);

test("writeTun: io_uring and the write loop give the same results", { skip }, () => {
  const fd = openSync("/dev/null", "w");
  try {
    const buf = Buffer.alloc(200, 1);
    const n = 150;
    const offs = new Int32Array(n);
    const lens = new Int32Array(n).fill(100);
    offs[3] = 150; // out of range: EINVAL, skipped
    lens[70] = 0; // empty: EINVAL, skipped
    const results: string[] = [];
    for (const on of [true, false]) {
      const mode = b().setIoUring(on);
      const st = new Int32Array(3);
      const sent = b().writeTun(fd, new Array(n).fill(buf), offs, lens, n, st);
      results.push(`${sent} ${[...st].join(",")}`);
      if (on && !mode) results[0] = "skipped";
    }
    const io = nativeIoOptions();
    b().setIoUring(io.ioUring, io.ioUringReads);
    if (results[0] !== "skipped") assert.equal(results[0], results[1]);
    assert.equal(results[1], `${n - 2} 22,2,0`);
  } finally {
    b().close(fd);
  }
});

/** io_uring descriptors open in a fresh process that loaded the addon with `env`, and whether
 * io_uring works here at all (setIoUring(true), asked after counting). */
function ioUringFds(env: NodeJS.ProcessEnv): string {
  const loader = path.join(__dirname, "..", "..", "..", "module", "native", "loader.js");
  const script = `
    const fs = require("node:fs");
    const b = require(${JSON.stringify(loader)}).loadNative();
    const n = fs.readdirSync("/proc/self/fd").filter((f) => {
      try { return fs.readlinkSync("/proc/self/fd/" + f).includes("io_uring"); } catch { return false; }
    }).length;
    console.log(n + " " + b.setIoUring(true));`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env });
  assert.equal(r.status, 0, r.stderr);
  return r.stdout.trim();
}

test(
  "io switches reach the addon from TypeScript: PMT_NO_IO_URING=1 sets no io_uring up",
  { skip },
  () => {
    const env = { ...process.env };
    delete env.PMT_NO_IO_URING;
    const on = ioUringFds(env);
    const available = on.endsWith("true");
    assert.equal(on, available ? "1 true" : "0 false");
    assert.equal(ioUringFds({ ...env, PMT_NO_IO_URING: "1" }), `0 ${available}`);
  },
);

test("dropPrivileges: bad arguments throw TypeError without changing anything", { skip }, () => {
  const before = readFileSync("/proc/self/status", "utf8").match(/^CapEff:.*$/m)?.[0];
  const d = b().dropPrivileges as unknown as (...a: unknown[]) => unknown;
  assert.throws(() => d("0", 0, []), TypeError);
  assert.throws(() => d(1, -1, []), TypeError, "uid without gid");
  assert.throws(() => d(-1, -1, "12"), TypeError);
  assert.throws(() => d(-1, -1, [64]), TypeError);
  assert.throws(() => d(-1, -1, [-1]), TypeError);
  assert.equal(readFileSync("/proc/self/status", "utf8").match(/^CapEff:.*$/m)?.[0], before);
});

test(
  "dropPrivileges in a child process: uid/gid, exactly the kept set in every set, no_new_privs, groups cleared",
  { skip: skip || (process.getuid?.() !== 0 ? "needs root" : false) },
  () => {
    const loader = path.join(__dirname, "..", "..", "..", "module", "native", "loader.js");
    const script = `
      const r = require(${JSON.stringify(loader)}).loadNative().dropPrivileges(65534, 65534, [12]);
      process.stdout.write(JSON.stringify(r) + "\\n" + require("node:fs").readFileSync("/proc/self/status", "utf8"));`;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    const [first, ...rest] = r.stdout.split("\n");
    assert.deepEqual(JSON.parse(first!), { boundingReduced: true });
    const status = rest.join("\n");
    const field = (n: string) => status.match(new RegExp(`^${n}:[ \\t]*(.*)$`, "m"))?.[1];
    assert.equal(field("Uid"), "65534\t65534\t65534\t65534");
    assert.equal(field("Gid"), "65534\t65534\t65534\t65534");
    assert.equal(field("Groups"), "");
    for (const set of ["CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb"]) {
      assert.equal(field(set), "0000000000001000", set);
    }
    assert.equal(field("NoNewPrivs"), "1");
  },
);

test(
  "pollErrQueue: only on a raw IPv4 poller, 1..1024 slots of at least 64 bytes",
  { skip },
  () => {
    const fd = openFifo();
    const bufs = [Buffer.alloc(256)];
    const noop = (): void => {};
    const tunKind = b().pollStart(fd, 0, bufs, 0, new Int32Array(1), null, null, noop, noop);
    open.push({ h: tunKind, fd });
    assert.throws(
      () => b().pollErrQueue(tunKind, Buffer.alloc(576), new Int32Array(4), noop),
      /raw IPv4 poller/,
    );
    b().pollClose(tunKind);
    const h = b().pollStart(
      fd,
      1,
      bufs,
      0,
      new Int32Array(1),
      new Uint32Array(1),
      null,
      noop,
      noop,
    );
    open.push({ h, fd });
    assert.throws(() => b().pollErrQueue(h, Buffer.alloc(576), new Int32Array(3), noop), TypeError);
    assert.throws(() => b().pollErrQueue(h, Buffer.alloc(127), new Int32Array(8), noop), TypeError);
    assert.throws(
      () => b().pollErrQueue(h, Buffer.alloc(576), new Int32Array(4), null as never),
      TypeError,
    );
    b().pollErrQueue(h, Buffer.alloc(2 * 576), new Int32Array(8), noop);
    b().pollErrQueue(h, Buffer.alloc(576), new Int32Array(4), noop); // replaces the first
    assert.deepEqual(b().pollStats(h).icmpErrors, {});
    b().pollClose(h);
    assert.throws(() => b().pollErrQueue(h, Buffer.alloc(576), new Int32Array(4), noop), /EBADF/);
    b().close(fd);
    open.splice(0);
  },
);

test("openRaw4: pmtuDisc must be a number >= 0 when given", { skip }, () => {
  assert.throws(() => b().openRaw4(41, 0, "", true, false, 0, 0, -1), TypeError);
  assert.throws(() => b().openRaw4(41, 0, "", true, false, 0, 0, "5" as never), TypeError);
});

test(
  "releaseStartupPages: clean read-only file pages leave the RSS; the process runs on",
  { skip },
  () => {
    // In a child, so this runner's own pages are not touched. The child then does work that
    // needs the node binary's read-only data again (a builtin not loaded yet, a compression, a
    // regular expression) and reads back a value written before: a dropped private page (RELRO,
    // anything written) would crash it or lose the value.
    const loader = path.join(__dirname, "..", "..", "..", "module", "native", "loader.js");
    const script = `
      const { loadNative } = require(${JSON.stringify(loader)});
      const rss = (f) => Number(new RegExp("^" + f + ":\\\\s+(\\\\d+)", "m")
        .exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1]);
      const kept = { value: "written before" };
      const before = rss("RssFile");
      const released = loadNative().releaseStartupPages();
      const after = rss("RssFile");
      const z = require("node:zlib").gzipSync(Buffer.alloc(100000, 7));
      const back = require("node:zlib").gunzipSync(z).length;
      const re = /^(\\d+)-(\\w+)$/.exec("12-ab");
      process.stdout.write(JSON.stringify({ before, released, after, back, re: re && re[2], kept: kept.value }));
    `;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout) as Record<string, number | string>;
    assert.ok((o.released as number) > 1000, `released ${o.released} kB`);
    assert.ok((o.after as number) < (o.before as number) - 1000, `${o.before} -> ${o.after} kB`);
    assert.equal(o.back, 100000);
    assert.equal(o.re, "ab");
    assert.equal(o.kept, "written before");
  },
);

test(
  "releaseStartupPages(true): code pages leave the RSS too; node, a worker thread and the addon run on",
  { skip },
  async () => {
    // In a child, as above. After the data-only release, the code release takes more file pages
    // out; then code that start-up did not run, a new worker thread (its isolate, its start-up),
    // TurboFan (a hot loop) and the addon itself must work, each faulting its code back in.
    const loader = path.join(__dirname, "..", "..", "..", "module", "native", "loader.js");
    const script = `
      const { loadNative } = require(${JSON.stringify(loader)});
      const { Worker } = require("node:worker_threads");
      const rss = (f) => Number(new RegExp("^" + f + ":\\\\s+(\\\\d+)", "m")
        .exec(require("fs").readFileSync("/proc/self/status", "utf8"))[1]);
      const n = loadNative();
      n.releaseStartupPages();
      const data = rss("RssFile");
      const released = n.releaseStartupPages(true);
      const code = rss("RssFile");
      const z = require("node:zlib").gzipSync(Buffer.alloc(100000, 7));
      const back = require("node:zlib").gunzipSync(z).length;
      let sum = 0;
      for (let i = 0; i < 3e6; i++) sum = (sum + ((i * 7) ^ (i >>> 3))) | 0;
      const w = new Worker("require('node:worker_threads').parentPort.postMessage(6 * 7)", { eval: true });
      w.once("message", (m) => {
        const again = n.releaseStartupPages(true);
        process.stdout.write(JSON.stringify({ data, released, code, back, sum, m, again }));
      });
    `;
    const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", timeout: 20000 });
    assert.equal(r.status, 0, r.stderr);
    const o = JSON.parse(r.stdout) as Record<string, number>;
    assert.ok(o.code! < o.data! - 1000, `RssFile ${o.data} -> ${o.code} kB`);
    assert.equal(o.back, 100000);
    let sum = 0;
    for (let i = 0; i < 3e6; i++) sum = (sum + ((i * 7) ^ (i >>> 3))) | 0;
    assert.equal(o.sum, sum);
    assert.equal(o.m, 42);
    assert.equal(o.again, o.released, "the addon's own code ran again after its release");
  },
);

test(
  "splitRaw4: 0 <= index < count <= 256, else TypeError; errno-named on a non-socket",
  { skip },
  () => {
    const fd = openFifo();
    try {
      for (const [i, n] of [
        [0, 0],
        [2, 2],
        [-1, 2],
        [0, 257],
      ] as const) {
        assert.throws(() => b().splitRaw4(fd, i, n), TypeError, `${i} of ${n}`);
      }
      assert.throws(
        () => b().splitRaw4(fd, 0, 2),
        (e: Error & { code?: string }) => e.code === "ENOTSOCK",
      );
    } finally {
      b().close(fd);
    }
  },
);
