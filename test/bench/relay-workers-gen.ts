/**
 * Protocol-41 load generator for test/bench/relay-workers.bench.ts (root, run inside the
 * generator's namespace): encapsulated 64-byte UDP datagrams from `customers` outer IPv4 sources
 * (100.64.1.1, .2, ...; their 6to4 sources 2002:6440:1cc::1) to the relay's 192.88.99.1, inner
 * destination 3fff:100::1, sent in batches of 64 through the addon's sendmmsg (io/linux.ts), for
 * `seconds` seconds at most `pps` packets per second (0: as fast as it can).
 * Prints one line: `sent <packets> failed <packets> seconds <s> cpu_us <µs>`: its CPU time while
 * sending, which includes the kernel's receive work for the packets on the relay's side of the
 * veth (run in the sender's context: the relay's IP input, one skb clone and one socket-filter
 * run per protocol-41 socket).
 *
 *   node relay-workers-gen.js <customers> <seconds> <pps>
 */
import { openIpv4Raw } from "../../module/io/linux.js";
import { buildUdpPacket, encapsulate6to4 } from "../support/packet-builder.js";

const BATCH = 64;
const [customers, seconds, pps] = process.argv.slice(2).map(Number) as [number, number, number];
if (!(customers >= 1 && customers <= 200 && seconds > 0 && seconds <= 60 && pps >= 0)) {
  process.stderr.write("usage: relay-workers-gen <customers 1..200> <seconds 1..60> <pps>\n");
  process.exit(2);
}
const bufs: Buffer[] = [];
for (let i = 0; i < BATCH; i++) {
  const c = (i % customers) + 1;
  const inner = buildUdpPacket({
    src: `2002:6440:1${c.toString(16).padStart(2, "0")}::1`,
    dst: "3fff:100::1",
    srcPort: 20000 + i,
    dstPort: 9,
    payload: Buffer.alloc(64, i),
  });
  bufs.push(encapsulate6to4(inner, `100.64.1.${c}`, "192.88.99.1", { id: i + 1, df: true }));
}
const offsets = new Int32Array(BATCH);
const sizes = Int32Array.from(bufs, (b) => b.length);
const raw = openIpv4Raw({});
const sleeper = new Int32Array(new SharedArrayBuffer(4));
const cpu0 = process.cpuUsage();
const start = performance.now();
const end = start + seconds * 1000;
let sent = 0;
let failed = 0;
for (;;) {
  const now = performance.now();
  if (now >= end) break;
  if (pps > 0) {
    const due = start + ((sent + failed) / pps) * 1000;
    if (due > now) {
      Atomics.wait(sleeper, 0, 0, Math.min(due - now, end - now));
      continue;
    }
  }
  const n = raw.writeBatch(bufs, offsets, sizes, BATCH);
  sent += n;
  failed += BATCH - n;
}
const elapsed = (performance.now() - start) / 1000;
const cpu = process.cpuUsage(cpu0);
raw.close();
process.stdout.write(
  `sent ${sent} failed ${failed} seconds ${elapsed.toFixed(3)} cpu_us ${cpu.user + cpu.system}\n`,
);
