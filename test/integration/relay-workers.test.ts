/**
 * The relay with worker threads (option workers; cli/relay-workers.ts), root, network namespaces:
 *
 *   isp (customers 100.64.1.1-8, frames injected) == relay (192.88.99.1, workers 2) -- inet (3fff:1::2)
 *
 * Inbound: 8 customers' protocol-41 packets (crafted, distinct outer IPv4 sources, each datagram
 * a flow of its own) are each forwarded exactly once: every UDP datagram arrives at the server
 * once, none twice, and each worker's in_packets is exactly the number sent by the customers whose
 * source hashes to it (dataplane/relay-split.ts), both non-zero, summing to the total status
 * reports. With packet_receive (a PACKET_FANOUT group, shared by flow) all come from one customer
 * and both workers get some of its flows.
 * Return: datagrams from the server to the 8 customers' 6to4 addresses (16 flows, spread over the
 * TUN's queues by the kernel's flow hash) each reach the customer once, encapsulated.
 * Worker 1 is the main thread, worker 2's thread holds no capability. Then SIGTERM: exit 0, the
 * TUN is gone.
 * Run three times: from the compiled sources (the thread runs out/module/cli/relay-worker-main.js) and
 * from the shipped bundle (dist/6to4-pmt.js, `npm run build`; the thread evaluates only the
 * bundle's worker section, rollup.config.mjs).
 */
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import path from "node:path";
import { after, describe, test } from "node:test";
import { relayWorkerOf } from "../../module/dataplane/relay-split.js";
import { buildUdpPacket, encapsulate6to4, addr4 } from "../support/packet-builder.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { NetnsRegistry, netnsSkipReason } from "../support/netns.js";
import { spawnDaemon, waitDaemonReady } from "../../module/lab/topology.js";

const skip = netnsSkipReason();
const BUNDLE = path.resolve(__dirname, "../../../dist/6to4-pmt.js");

/**
 * `caps`: the capability sets (CapEff, CapPrm) the main thread keeps, as /proc shows them; the
 * worker thread keeps none in every build.
 */
const BUILDS: {
  name: string;
  command: string[];
  extra: string[];
  caps: RegExp;
  /**
   * How the workers share the inbound packets: by the customer's outer source (each raw
   * socket's filter) or by flow (packet_receive's PACKET_FANOUT group, the kernel's flow hash).
   */
  share: "source" | "flow";
  skip?: string;
}[] = [
  { name: "compiled", command: daemonCommand(), extra: [], caps: /^0+$/, share: "source" },
  {
    name: "bundle",
    command: [process.execPath, BUNDLE],
    extra: [],
    caps: /^0+$/,
    share: "source",
    ...(existsSync(BUNDLE) ? {} : { skip: `${BUNDLE} missing (npm run build)` }),
  },
  // packet_receive: the workers' AF_PACKET sockets form one PACKET_FANOUT group (each frame
  // reaches one socket), and the nft netdev rule keeps the raw sockets from getting the packets
  // a second time. The main thread keeps CAP_NET_ADMIN (bit 12) to delete that table at exit;
  // the worker thread drops it.
  {
    name: "compiled, packet_receive r0",
    command: daemonCommand(),
    extra: ["--packet-receive", "r0"],
    caps: /^0+1000$/,
    share: "flow",
  },
];

const CUSTOMERS = 8;
const PER_CUSTOMER = 25;
const RETURN_FLOWS = 16;
const PER_FLOW = 10;
const PORT = 5099;

/** Counts UDP datagrams (payload = decimal id) until `n` arrived or 15 s passed; prints ids. */
const UDP_SINK_PY = `
import socket, sys, time
n = int(sys.argv[2])
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind((sys.argv[1], ${PORT}))
s.settimeout(0.5)
print("ready", flush=True)
ids = []
end = time.time() + 15
while len(ids) < n and time.time() < end:
    try:
        d, a = s.recvfrom(2048)
    except socket.timeout:
        continue
    ids.append(d.decode())
time.sleep(0.5)
s.setblocking(False)
try:
    while True:
        d, a = s.recvfrom(2048)
        ids.append(d.decode())
except BlockingIOError:
    pass
print("ids", " ".join(ids), flush=True)
`;

/** Counts protocol-41 packets to the customers (inner UDP payload = id), as UDP_SINK_PY. */
const P41_SINK_PY = `
import socket, sys, time
n = int(sys.argv[1])
s = socket.socket(socket.AF_INET, socket.SOCK_RAW, 41)
s.settimeout(0.5)
print("ready", flush=True)
ids = []
end = time.time() + 15
def take(d):
    ihl = (d[0] & 15) * 4
    ids.append(d[ihl + 48:].decode() + "@" + socket.inet_ntoa(d[16:20]))
while len(ids) < n and time.time() < end:
    try:
        take(s.recv(2048))
    except socket.timeout:
        continue
time.sleep(0.5)
s.setblocking(False)
try:
    while True:
        take(s.recv(2048))
except BlockingIOError:
    pass
print("ids", " ".join(ids), flush=True)
`;

/** Sends UDP datagram i (payload "i") to customer (i % 8)'s 6to4 address, port by flow. */
const UDP_SOURCE_PY = `
import socket, sys
flows, per = int(sys.argv[1]), int(sys.argv[2])
socks = []
for f in range(flows):
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("3fff:1::2", 40000 + f))
    socks.append(s)
for k in range(per):
    for f in range(flows):
        c = f % ${CUSTOMERS} + 1
        i = k * flows + f
        socks[f].sendto(str(i).encode(), ("2002:6440:1%02x::1" % c, ${PORT}))
print("sent", flows * per)
`;

function customer(c: number): string {
  return `100.64.1.${c}`;
}

/** The 6to4 address of 100.64.1.c: 2002:6440:01cc::1. */
function sixToFour(c: number): string {
  return `2002:6440:1${c.toString(16).padStart(2, "0")}::1`;
}

for (const build of BUILDS) {
  describe(
    `relay with 2 workers (${build.name}): each packet forwarded once, both workers busy`,
    { skip: skip ?? build.skip, timeout: 120_000 },
    () => {
      const reg = new NetnsRegistry();
      after(async () => {
        await reg.cleanup();
      });

      test("inbound split by customer, return spread by flow, clean stop", async () => {
        const isp = reg.createNamespace("wisp");
        const relay = reg.createNamespace("wrelay", { forwarding: true });
        const inet = reg.createNamespace("winet");
        reg.veth(isp, "i0", relay, "r0");
        reg.veth(relay, "r1", inet, "n0");
        reg.addr(relay, "r0", "100.64.0.1/10");
        reg.addr(relay, "lo", "192.88.99.1/32");
        for (let c = 1; c <= CUSTOMERS; c++) reg.addr(isp, "i0", `${customer(c)}/10`);
        reg.addr(relay, "r1", "3fff:1::1/64");
        reg.addr(inet, "n0", "3fff:1::2/64");
        reg.route(inet, "2002::/16 via 3fff:1::1");
        const sock = `/tmp/6to4-pmt-test-${process.pid}-workers-${build.name.replace(/\W+/g, "-")}.sock`;
        reg.removeOnCleanup(sock);
        const d = spawnDaemon(reg, relay, build.command, [
          "relay",
          "--enabled",
          "--relay-ipv4",
          "192.88.99.1",
          "--customer-ipv4",
          "100.64.0.0/10",
          "--workers",
          "2",
          "--tun-name",
          "6to4w0",
          "--status-socket",
          sock,
          "--log-level",
          "info",
          ...build.extra,
        ]);
        // Both workers' two loops.
        assert.ok(await waitDaemonReady(reg, d), d.stderr());
        assert.ok(
          await reg.waitFor(() => (d.stderr().match(/loop started/g) ?? []).length >= 4, 8000),
          d.stderr(),
        );
        assert.match(
          d.stderr(),
          /2 workers \(the main thread and 1 worker thread\), TUN 6to4w0 with 2 queues/,
        );

        // Inbound: PER_CUSTOMER datagrams from each customer, ids 0..N-1.
        const total = CUSTOMERS * PER_CUSTOMER;
        const sink = reg.spawn(inet, ["python3", "-c", UDP_SINK_PY, "3fff:1::2", String(total)]);
        assert.ok(await reg.waitFor(() => sink.stdout().includes("ready"), 5000), sink.stderr());
        const packets: Buffer[] = [];
        const expectWorker = [0, 0];
        for (let k = 0; k < PER_CUSTOMER; k++) {
          for (let n = 1; n <= CUSTOMERS; n++) {
            const id = k * CUSTOMERS + (n - 1);
            // Shared by flow: everything from one customer, whose flows both workers must get
            // (a share by outer source would give them all to one).
            const c = build.share === "flow" ? 1 : n;
            // Every datagram a flow of its own (its source port).
            const inner = buildUdpPacket({
              src: sixToFour(c),
              dst: "3fff:1::2",
              srcPort: 30000 + id,
              dstPort: PORT,
              payload: Buffer.from(String(id)),
            });
            packets.push(encapsulate6to4(inner, customer(c), "192.88.99.1", { id: id + 1 }));
            expectWorker[relayWorkerOf(addr4(customer(c)), 2)]!++;
          }
        }
        if (build.share === "source") {
          assert.ok(
            expectWorker[0]! > 0 && expectWorker[1]! > 0,
            "the customers hash to both workers",
          );
        }
        await injectIpv4(reg, isp, "i0", linkMac(reg, relay, "r0"), packets);
        const code = await sink.exited;
        assert.equal(code, 0, sink.stderr());
        const ids = /ids ?(.*)/.exec(sink.stdout())![1]!.split(" ").filter(Boolean);
        assert.equal(new Set(ids).size, total, `distinct datagrams: ${ids.length} received`);
        assert.equal(ids.length, total, "no datagram arrived twice");

        // Return: RETURN_FLOWS flows to the customers' 6to4 addresses.
        const back = RETURN_FLOWS * PER_FLOW;
        const p41 = reg.spawn(isp, ["python3", "-c", P41_SINK_PY, String(back)]);
        assert.ok(await reg.waitFor(() => p41.stdout().includes("ready"), 5000), p41.stderr());
        const src = await reg.execAsync(inet, [
          "python3",
          "-c",
          UDP_SOURCE_PY,
          String(RETURN_FLOWS),
          String(PER_FLOW),
        ]);
        assert.equal(src.code, 0, src.stderr);
        assert.equal(await p41.exited, 0, p41.stderr());
        const got = /ids ?(.*)/.exec(p41.stdout())![1]!.split(" ").filter(Boolean);
        assert.equal(new Set(got).size, back, `distinct encapsulated datagrams: ${got.length}`);
        assert.equal(got.length, back, "none encapsulated twice");
        for (const g of got) {
          const [id, dst] = g.split("@");
          assert.equal(dst, customer(((Number(id) % RETURN_FLOWS) % CUSTOMERS) + 1), g);
        }

        // Status: the sum and each worker's share.
        const json = await reg.execAsync(relay, [
          ...build.command,
          "status",
          "--json",
          "--relay",
          "--status-socket",
          sock,
        ]);
        assert.equal(json.code, 0, json.stderr);
        const s = JSON.parse(json.stdout) as {
          counters: {
            traffic: Record<string, number>;
            workers?: { worker: number; tid: number; in_packets: number; out_packets: number }[];
          };
        };
        const w = s.counters.workers;
        assert.equal(w?.length, 2, JSON.stringify(s.counters));
        assert.equal(s.counters.traffic.in_packets, total, JSON.stringify(s.counters.traffic));
        assert.equal(s.counters.traffic.out_packets, back, JSON.stringify(s.counters.traffic));
        if (build.share === "source") {
          assert.deepEqual(
            w.map((x) => x.in_packets),
            expectWorker,
            `each worker decapsulated its customers' packets: ${JSON.stringify(w)}`,
          );
        } else {
          // One customer, 200 flows: both workers got some (2^-199 that the flow hash puts them
          // all on one), none twice (the sum above).
          assert.ok(
            w[0]!.in_packets > 0 && w[1]!.in_packets > 0,
            `one customer's flows reached both workers: ${JSON.stringify(w)}`,
          );
          assert.match(d.stderr(), /packet_receive r0: 2 sockets in PACKET_FANOUT group \d+/);
        }
        assert.equal(w[0]!.out_packets + w[1]!.out_packets, back, JSON.stringify(w));
        // Worker 1 is the main thread, which keeps what the options need; worker 2's thread
        // started after the privilege drop and then dropped everything (docs/security.md).
        assert.equal(w[0]!.tid, d.pid);
        assert.notEqual(w[1]!.tid, d.pid);
        const main = readFileSync(`/proc/${d.pid}/status`, "utf8");
        const task = readFileSync(`/proc/${d.pid}/task/${w[1]!.tid}/status`, "utf8");
        for (const set of ["CapEff", "CapPrm"]) {
          const re = new RegExp(`^${set}:\\s+(\\w+)$`, "m");
          const m = re.exec(main)?.[1] ?? "";
          assert.match(m, build.caps, `main thread ${set} ${m}`);
          const v = re.exec(task)?.[1] ?? "";
          assert.match(v, /^0+$/, `worker thread ${set} ${v}`);
        }

        const text = await reg.execAsync(relay, [
          ...build.command,
          "status",
          "--relay",
          "--status-socket",
          sock,
        ]);
        assert.match(
          text.stdout,
          new RegExp(`^  1: +in ${w[0]!.in_packets} packets, out \\d+ packets`, "m"),
        );
        assert.match(
          text.stdout,
          new RegExp(`^  2: +in ${w[1]!.in_packets} packets, out \\d+ packets`, "m"),
        );

        // Graceful stop: exit 0, the TUN (every queue) gone.
        assert.equal(await reg.stop(d, 8000), 0, d.stderr());
        assert.equal(
          reg.exec(relay, ["ip", "link", "show", "6to4w0"]).code !== 0,
          true,
          "TUN removed",
        );
        assert.doesNotMatch(d.stderr(), /terminating it|uncaught/);
        const table = ["nft", "list", "table", "netdev", "sixto4pmt_relay_rx"];
        assert.notEqual(reg.exec(relay, table).code, 0, "packet_receive's nft table left behind");
      });
    },
  );
}
