/**
 * `npm run bench:codec`: nanoseconds per packet of the hot-path packet code, for 64-byte and
 * 1400-byte IPv6 packets, and heap growth over 1 million packets.
 *
 *  1. encapsulation: the IPv6 packet sits at byte 20 of its buffer (TUN headroom, STYLE.md §1);
 *     write the 20-byte IPv4 header with its checksum in front (codec writeIpv4Header, RFC 4213
 *     §3.5). A second row adds the RFC 3964 §5.1 checks (addr/policy checkEncapsulate).
 *  2. decapsulation: outer header checks (codec checkIpv4Header) + RFC 3964 §5.2 / RFC 6324 §3.3
 *     (addr/policy checkDecapsulate) on a relay.
 *  3. PMT translation (RFC 6732 §4.5): source 2002:c000:201:: -> 2001:db8:c000:201:: of a TCP
 *     segment with its checksum fixed incrementally; every other call translates back, so each
 *     call sees a valid packet.
 *  4. heap: gc, 1 million packets through 1-3, gc; heapUsed after minus before.
 *
 * Each figure is the median (and the minimum) of ROUNDS timed rounds of ITERATIONS packets after a
 * warm-up, timed with process.hrtime.bigint(); the loop overhead is included. The CPU-time column
 * (process.cpuUsage) and the load average are printed because a shared machine inflates wall
 * time; the GC column counts collections during the timed rounds (v8.GCProfiler): any count above
 * 0 means something allocates per packet. Target: <= 150 ns each on
 * Node 20, no allocation per packet. Run with --expose-gc (the npm script does).
 * Nothing here touches the network.
 */

import { cpus, loadavg } from "node:os";
import { GCProfiler } from "node:v8";
import { checkIpv4Header, writeIpv4Header } from "../../module/codec/ipv4.js";
import { IPPROTO_IPV6 } from "../../module/codec/constants.js";
import { createPmtMapping } from "../../module/addr/pmt-mapping.js";
import { parseIpv4, readIpv4I32 } from "../../module/addr/ipv4.js";
import { parseIpv6Prefix } from "../../module/addr/ipv6.js";
import {
  checkDecapsulate,
  checkEncapsulate,
  createPolicyContext,
} from "../../module/addr/policy.js";
import { DROP_NONE } from "../../module/addr/drop-reason.js";
import {
  createUpperLayer,
  translateSourceTo6to4,
  translateSourceToProvider,
} from "../../module/dataplane/pmt-translate.js";
import { HEADROOM_BYTES } from "../../module/dataplane/tunables.js";
import { buildTcpPacket, encapsulate6to4 } from "../support/packet-builder.js";

const WARMUP = 300_000;
const ITERATIONS = 1_000_000;
const ROUNDS = 5;
const HEAP_PACKETS = 1_000_000;
const TARGET_NS = 150;

const CPE_V4 = parseIpv4("192.0.2.1")!;
const RELAY_V4 = parseIpv4("192.88.99.1")!;
const CUSTOMER = "2002:c000:201::1";
const REMOTE = "3fff:100::80";

/** A TCP/IPv6 packet of exactly `size` bytes from the customer's 6to4 address. */
function tcpPacket(size: number): Buffer {
  return buildTcpPacket({ src: CUSTOMER, dst: REMOTE, payload: Buffer.alloc(size - 60, 0x5a) });
}

const mapping = createPmtMapping({ providerPrefix: parseIpv6Prefix("2001:db8::/32")! });
const cpePolicy = createPolicyContext({ role: "cpe", ownIpv4: [CPE_V4], relays: [RELAY_V4] });
const relayPolicy = createPolicyContext({ role: "relay", ownIpv4: [RELAY_V4] });
const ul = createUpperLayer();

/** Keeps results observable so the JIT cannot drop the calls. */
let sink = 0;

interface Case {
  name: string;
  /**
   * Prepares a buffer holding a `size`-byte IPv6 packet and returns a loop that processes it `n`
   * times, returning a sum of results (negative = dropped). Each case has its own loop so the
   * call inside stays monomorphic, as in the data-plane loops.
   */
  setup: (size: number) => (n: number) => number;
}

const CASES: Case[] = [
  {
    name: "encapsulate (IPv4 header + checksum)",
    setup: (size) => {
      const buf = Buffer.alloc(HEADROOM_BYTES + size);
      tcpPacket(size).copy(buf, HEADROOM_BYTES);
      const total = HEADROOM_BYTES + size;
      return (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) {
          acc += writeIpv4Header(buf, 0, total, IPPROTO_IPV6, CPE_V4, RELAY_V4, 64, i, true);
        }
        return acc;
      };
    },
  },
  {
    name: "encapsulate + RFC 3964 §5.1 checks",
    setup: (size) => {
      const buf = Buffer.alloc(HEADROOM_BYTES + size);
      tcpPacket(size).copy(buf, HEADROOM_BYTES);
      const total = HEADROOM_BYTES + size;
      return (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) {
          const r = checkEncapsulate(cpePolicy, buf, HEADROOM_BYTES, CPE_V4, RELAY_V4);
          if (r !== DROP_NONE) return -r;
          acc += writeIpv4Header(buf, 0, total, IPPROTO_IPV6, CPE_V4, RELAY_V4, 64, i, true);
        }
        return acc;
      };
    },
  },
  {
    name: "decapsulate (IPv4 checks + RFC 3964 §5.2)",
    setup: (size) => {
      const buf = encapsulate6to4(tcpPacket(size), CPE_V4, RELAY_V4);
      const len = buf.length;
      return (n) => {
        let acc = 0;
        for (let i = 0; i < n; i++) {
          let r = checkIpv4Header(buf, 0, len);
          if (r === DROP_NONE) {
            // Signed reads, as the data plane does: no heap number per packet (addr/policy.ts).
            r = checkDecapsulate(relayPolicy, buf, 20, readIpv4I32(buf, 12), readIpv4I32(buf, 16));
          }
          if (r !== DROP_NONE) return -r;
          acc += len;
        }
        return acc;
      };
    },
  },
  {
    name: "PMT translate + checksum fix (TCP)",
    setup: (size) => {
      const buf = tcpPacket(size);
      return (n) => {
        let acc = 0;
        // Out and back: every call sees a valid packet and does the full work.
        for (let i = 0; i < n; i += 2) {
          const r =
            translateSourceToProvider(buf, 0, size, mapping, ul) |
            translateSourceTo6to4(buf, 0, size, mapping, ul);
          if (r !== DROP_NONE) return -1;
          acc += buf[8]!;
        }
        return acc;
      };
    },
  },
];

interface Round {
  /** Wall-clock ns per packet (process.hrtime.bigint()). */
  wall: number;
  /** CPU ns per packet (process.cpuUsage(), user + system): less disturbed by other load. */
  cpu: number;
}

/** Times one round of n packets. */
function timeRound(loop: (n: number) => number, n: number): Round {
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  const r = loop(n);
  const t1 = process.hrtime.bigint();
  const c1 = process.cpuUsage(c0);
  if (r < 0) throw new Error("the benchmark packet was dropped");
  sink += r;
  return { wall: Number(t1 - t0) / n, cpu: ((c1.user + c1.system) * 1000) / n };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[s.length >> 1]!;
}

interface Measurement {
  wallMedian: number;
  wallMin: number;
  cpuMedian: number;
  /** Garbage collections during the timed rounds: 0 means no allocation per packet. */
  gcs: number;
}

function measure(c: Case, size: number): Measurement {
  const loop = c.setup(size);
  timeRound(loop, WARMUP);
  const rounds: Round[] = [];
  const profiler = new GCProfiler();
  profiler.start();
  for (let r = 0; r < ROUNDS; r++) rounds.push(timeRound(loop, ITERATIONS));
  const gcs = profiler.stop()?.statistics.length ?? -1;
  return {
    wallMedian: median(rounds.map((r) => r.wall)),
    wallMin: Math.min(...rounds.map((r) => r.wall)),
    cpuMedian: median(rounds.map((r) => r.cpu)),
    gcs,
  };
}

function heapGrowth(): number {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error("run with node --expose-gc (npm run bench:codec)");
  const ops = [64, 1400].flatMap((size) => CASES.map((c) => c.setup(size)));
  for (const op of ops) timeRound(op, 10_000);
  gc();
  gc();
  const before = process.memoryUsage().heapUsed;
  const per = Math.ceil(HEAP_PACKETS / ops.length);
  for (const op of ops) timeRound(op, per);
  gc();
  gc();
  return process.memoryUsage().heapUsed - before;
}

function main(): void {
  const rows: string[][] = [
    ["operation", "bytes", "ns/pkt", "min", "cpu ns/pkt", "GCs", `<= ${TARGET_NS} ns`],
  ];
  let allOk = true;
  for (const c of CASES) {
    for (const size of [64, 1400]) {
      const m = measure(c, size);
      const ok = m.wallMedian <= TARGET_NS;
      allOk &&= ok;
      rows.push([
        c.name,
        String(size),
        m.wallMedian.toFixed(1),
        m.wallMin.toFixed(1),
        m.cpuMedian.toFixed(1),
        String(m.gcs),
        ok ? "ok" : "ABOVE",
      ]);
    }
  }
  const growth = heapGrowth();
  const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)));
  const line = (r: string[]): string =>
    r.map((cell, i) => (i === 0 ? cell.padEnd(widths[i]!) : cell.padStart(widths[i]!))).join("  ");
  const load = loadavg()[0]!.toFixed(2);
  console.log(
    `codec benchmark: node ${process.version}, ${cpus().length} CPUs, load average ${load}; ` +
      `median of ${ROUNDS} rounds x ${ITERATIONS} packets (wall clock), min, CPU time, GCs during them`,
  );
  console.log(line(rows[0]!));
  console.log(widths.map((w) => "-".repeat(w)).join("  "));
  for (const r of rows.slice(1)) console.log(line(r));
  console.log(
    `heap growth over ${HEAP_PACKETS} packets (all operations, both sizes, after gc): ${growth} bytes ` +
      `(${(growth / HEAP_PACKETS).toFixed(3)} B/packet)`,
  );
  console.log(
    allOk ? "all within target" : "some operations above target (see min / cpu under load)",
  );
  if (sink === 0.5) console.log(sink); // never true; keeps `sink` live
}

main();
