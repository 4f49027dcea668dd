/**
 * Protocol-41 load generator for test/bench/relay-workers.bench.ts (root, run inside the
 * generator's namespace): encapsulated 64-byte UDP datagrams from `customers` outer IPv4 sources
 * (100.64.1.1, .2, ...; their 6to4 sources 2002:6440:1cc::1) to the relay's 192.88.99.1, inner
 * destination 3fff:100::1, sent in batches of 64 through the addon's sendmmsg (io/linux.ts), for
 * `seconds` seconds at most `pps` packets per second (0: as fast as it can).
 * With inner `tcp` (default `udp64`): 1400-byte TCP segments instead, one flow per customer,
 * sequence numbers following on and the outer IPv4 ID rising by 1 within a flow (DF clear), as
 * Linux's sit sends an upload: what GRO on the relay's device merges (packet_receive).
 * Prints one line: `sent <packets> failed <packets> seconds <s> cpu_us <µs>`: its CPU time while
 * sending, which includes the kernel's receive work for the packets on the relay's side of the
 * veth (run in the sender's context: the relay's IP input, one skb clone and one socket-filter
 * run per protocol-41 socket).
 *
 *   node relay-workers-gen.js <customers> <seconds> <pps> [udp64|tcp]
 */
import { openIpv4Raw } from "../../module/io/linux.js";
import { buildTcpPacket, buildUdpPacket, encapsulate6to4 } from "../support/packet-builder.js";

const BATCH = 64;
const [customers, seconds, pps] = process.argv.slice(2, 5).map(Number) as [number, number, number];
const inner = process.argv[5] ?? "udp64";
if (
  !(customers >= 1 && customers <= 200 && seconds > 0 && seconds <= 60 && pps >= 0) ||
  (inner !== "udp64" && inner !== "tcp")
) {
  process.stderr.write(
    "usage: relay-workers-gen <customers 1..200> <seconds 1..60> <pps> [udp64|tcp]\n",
  );
  process.exit(2);
}
const TCP_SEGMENT = 1400;
const bufs: Buffer[] = [];
for (let i = 0; i < BATCH; i++) {
  const c = (i % customers) + 1;
  const k = Math.floor(i / customers); // the packet's place in its customer's flow
  const src = `2002:6440:1${c.toString(16).padStart(2, "0")}::1`;
  const pkt =
    inner === "tcp"
      ? buildTcpPacket({
          src,
          dst: "3fff:100::1",
          srcPort: 20000 + c,
          dstPort: 9,
          seq: 1 + k * TCP_SEGMENT,
          ack: 1,
          flags: 0x10,
          payload: Buffer.alloc(TCP_SEGMENT, i),
        })
      : buildUdpPacket({
          src,
          dst: "3fff:100::1",
          srcPort: 20000 + i,
          dstPort: 9,
          payload: Buffer.alloc(64, i),
        });
  const outer = inner === "tcp" ? { id: 1000 * c + k, df: false } : { id: i + 1, df: true };
  bufs.push(encapsulate6to4(pkt, `100.64.1.${c}`, "192.88.99.1", outer));
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
