/**
 * Backpressure on the CPE's WAN (dataplane/loops.ts WireSender, native sendRaw4's unsent tail):
 * when the WAN queue cannot take more, the CPE stops reading its TUN, so the kernel's TUN queue
 * drops the excess before the daemon pays for it, and nothing the daemon read is lost.
 *
 * Deterministic: the WAN (wan0 in the CPE namespace) is given an htb class of 1 kbit/s (about one
 * 132-byte packet a second) over a pfifo that holds 20 000 packets, so the queue never drops and
 * the socket's send buffer (SO_SNDBUF, a few hundred packets) fills; the LAN host sends N
 * datagrams. Then the class is raised to 1 Gbit/s and the queue drains.
 *
 * The server reads with a UDP socket (UDP_SINK_SCRIPT). Run for both WAN send paths: the raw
 * socket and `wan_send packet` (AF_PACKET, whose EAGAIN and ENOBUFS carry the same meaning; there
 * every packet the CPE sent must have gone over AF_PACKET).
 *
 * Asserts: the daemon counted backpressure, dropped nothing (every drop counter 0), the TUN's
 * queue dropped (kernel, TX dropped on the TUN) what the CPE did not read, the WAN qdisc dropped
 * nothing; after the drain every packet the CPE encapsulated reached the server, and
 * encapsulated + dropped in the TUN queue = N. Then a pfifo of 8 (shorter than the send buffer):
 * a packet it drops fails the send with ENOBUFS (IP_RECVERR), the CPE counts it (tx_error) and
 * sends the rest of the batch a millisecond later; everything else the CPE read is delivered.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { LAB_SERVER, labCpeFiles } from "../../module/lab/topology.js";
import { BATCH_SIZE_PACKETS } from "../../module/dataplane/tunables.js";
import { statusCommand } from "../support/daemon-assert.js";
import type { StatusSnapshot, WanSendSnapshot } from "../../module/status/snapshot.js";
import {
  NetnsRegistry,
  netnsSkipReason,
  replaceNeighbour,
  type NsProcess,
} from "../support/netns.js";
import { sleep } from "../support/native-fixtures.js";
import {
  readCounters,
  startLab,
  type Counters,
  type RunningLab,
} from "../support/dataplane-harness.js";

const skip = netnsSkipReason();

/** LAN datagrams: more than the send buffer, the batch and the TUN queue (2000) together hold. */
const N = 5000;

/** Sends `count` UDP datagrams of `size` bytes to [host]:port, then prints `sent <n>`. */
const UDP_BURST_SCRIPT = `
const dgram = require("dgram");
const [host, port, count, size] = process.argv.slice(1);
const s = dgram.createSocket("udp6");
const payload = Buffer.alloc(Number(size), 7);
let done = 0;
for (let i = 0; i < Number(count); i++) {
  s.send(payload, Number(port), host, () => {
    if (++done === Number(count)) { console.log("sent " + done); s.close(); }
  });
}
setTimeout(() => process.exit(1), 20000).unref();
`;

/**
 * A UDP sink on [host]:port that reads and discards, so the relay's UDP super-packets are counted
 * per datagram (the UDP layer cuts them for a socket; to a closed port one counts once).
 */
const UDP_SINK_SCRIPT = `
const s = require("dgram").createSocket("udp6");
s.on("message", () => {});
s.bind(Number(process.argv[2]), process.argv[1], () => console.log("listening"));
setTimeout(() => process.exit(0), 100000).unref();
`;

/** Datagrams that reached a namespace's IPv6 UDP layer (delivered, no port, or a full buffer). */
function udp6Datagrams(reg: NetnsRegistry, ns: string): number {
  const t = reg.exec(ns, ["cat", "/proc/net/snmp6"]).stdout;
  const v = (k: string): number => Number(new RegExp(`^${k}\\s+(\\d+)`, "m").exec(t)?.[1] ?? 0);
  return v("Udp6InDatagrams") + v("Udp6NoPorts") + v("Udp6InErrors");
}

/** IPv6 packets the namespace's own kernel and sockets sent (ND, MLD, RAs): they can meet a full
 * TUN queue too. */
function ip6OwnOut(reg: NetnsRegistry, ns: string): number {
  const t = reg.exec(ns, ["cat", "/proc/net/snmp6"]).stdout;
  return Number(/^Ip6OutRequests\s+(\d+)/m.exec(t)?.[1] ?? 0);
}

/** TX packets and TX dropped of a device (`ip -s -j link`). */
function linkTx(reg: NetnsRegistry, ns: string, dev: string): { packets: number; dropped: number } {
  const j = JSON.parse(reg.exec(ns, ["ip", "-s", "-j", "link", "show", "dev", dev]).stdout) as {
    stats64: { tx: { packets: number; dropped: number } };
  }[];
  return j[0]!.stats64.tx;
}

/** Packets dropped by the leaf qdiscs of a device (htb's own count repeats its children's). */
function qdiscDrops(reg: NetnsRegistry, ns: string, dev: string): number {
  const j = JSON.parse(reg.exec(ns, ["tc", "-s", "-j", "qdisc", "show", "dev", dev]).stdout) as {
    kind: string;
    drops?: number;
  }[];
  return j.reduce((a, q) => a + (q.kind === "htb" ? 0 : (q.drops ?? 0)), 0);
}

/**
 * No drop counter of the CPE rose, but link_scope_multicast: the kernel's own router and
 * listener solicitations on the TUN, dropped as always.
 */
function assertNoDrops(before: Counters, now: Counters): void {
  for (const [name, n] of Object.entries(now.drops)) {
    if (name === "link_scope_multicast") continue;
    assert.equal(n - (before.drops[name] ?? 0), 0, `CPE dropped ${name}`);
  }
}

/**
 * Waits until the CPE has sent everything it will (its TUN queue empty: two readings 200 ms apart
 * with the same count) and the server has all of it but what the WAN queue dropped and reported
 * (tx_error). Returns the deltas since `before`.
 */
async function settle(
  reg: NetnsRegistry,
  cpe: NsProcess,
  serverNs: string,
  before: Counters,
  server0: number,
): Promise<{ ok: boolean; sent: number; atServer: number; txError: number; end: Counters }> {
  let last = -1;
  let r = { ok: false, sent: 0, atServer: 0, txError: 0, end: before };
  for (let i = 0; i < 150 && !r.ok; i++) {
    const end = await readCounters(reg, cpe);
    const sent = (end.traffic.out_packets ?? 0) - (before.traffic.out_packets ?? 0);
    const txError = (end.drops.tx_error ?? 0) - (before.drops.tx_error ?? 0);
    const atServer = udp6Datagrams(reg, serverNs) - server0;
    r = { ok: sent === last && atServer + txError >= sent, sent, atServer, txError, end };
    last = sent;
    if (!r.ok) await sleep(200);
  }
  return r;
}

/**
 * Packets the CPE sent over AF_PACKET (`wan_send packet`: status counter) and the next-hop
 * resolves so far (after each, one batch goes through the raw socket); 0 and 0 with raw.
 */
async function viaPacket(lab: RunningLab): Promise<[number, number]> {
  const s = (await statusCommand(labCpeFiles(lab.t.cpes[0]!.ns)[1], "status")) as StatusSnapshot;
  return [s.counters.wan_send_af_packet ?? 0, s.wanSend?.resolves ?? 0];
}

// Both WAN send paths: the raw socket (default) and AF_PACKET (`wan_send packet`, whose socket
// reports EAGAIN and ENOBUFS the same way), one after the other.
for (const wanSend of ["raw", "packet"] as const) {
  describe(
    `CPE backpressure (wan_send ${wanSend}): a full WAN queue stops TUN reads`,
    { skip, timeout: 120_000 },
    () => {
      const reg = new NetnsRegistry({ prefix: `p${process.pid}${wanSend === "raw" ? "" : "k"}-` });
      let lab: RunningLab;
      let tunDev = "";

      before(async () => {
        // No health probe during the test: its echo would cross the CPE as one more packet.
        lab = await startLab(
          reg,
          { cpes: [{ index: 0, pmt: true }] },
          () => [],
          () => ["--health-interval", "3600", "--wan-send", wanSend],
        );
        const c = lab.t.cpes[0]!;
        const tuns = reg.exec(c.ns, ["ip", "-o", "link", "show", "type", "tun"]).stdout;
        tunDev = /^\d+: ([^:@]+)/.exec(tuns)?.[1] ?? "";
        assert.notEqual(tunDev, "", `no TUN in ${c.ns}: ${tuns}`);
        // A permanent neighbour for the gateway: no ARP waits behind (or is dropped by) the queue.
        const mac = reg
          .exec(lab.t.isp, ["cat", `/sys/class/net/${c.ispDevice}/address`])
          .stdout.trim();
        replaceNeighbour(reg, c.ns, c.wanGateway, mac, "wan0", "permanent");
        if (wanSend === "packet") {
          const w = (await statusCommand(labCpeFiles(c.ns)[1], "resolve")) as WanSendSnapshot;
          assert.equal(w.active, "packet", JSON.stringify(w));
        }
        reg.exec(c.lanNs, ["ping", "-6", "-c", "1", "-W", "2", LAB_SERVER]);
        const sink = reg.spawn(lab.t.inet, [
          process.execPath,
          "-e",
          UDP_SINK_SCRIPT,
          LAB_SERVER,
          "9",
        ]);
        assert.ok(
          await reg.waitFor(() => sink.stdout().includes("listening"), 10_000),
          sink.stderr(),
        );
      });
      after(async () => {
        await reg.cleanup();
      });

      test("excess dropped in the TUN queue, not by us; what we read is delivered once the WAN drains", async () => {
        const c = lab.t.cpes[0]!;
        const tc = (...args: string[]) => reg.must(["ip", "netns", "exec", c.ns, "tc", ...args]);
        tc("qdisc", "replace", "dev", "wan0", "root", "handle", "1:", "htb", "default", "1");
        tc("class", "add", "dev", "wan0", "parent", "1:", "classid", "1:1", "htb", "rate", "1kbit");
        tc("qdisc", "add", "dev", "wan0", "parent", "1:1", "pfifo", "limit", "20000");

        const before = await readCounters(reg, lab.cpes[0]!);
        const [pkt0, resolves0] = await viaPacket(lab);
        const tun0 = linkTx(reg, c.ns, tunDev);
        const server0 = udp6Datagrams(reg, lab.t.inet);
        const own0 = ip6OwnOut(reg, c.ns);
        const sender = await reg.execAsync(
          c.lanNs,
          [process.execPath, "-e", UDP_BURST_SCRIPT, LAB_SERVER, "9", String(N), "64"],
          30_000,
        );
        assert.match(sender.stdout, new RegExp(`sent ${N}`), sender.stderr);
        // The LAN's N datagrams are with the CPE now: read (waiting in the socket or the batch's
        // tail), dropped in the TUN queue or still in it (at most 2000), or lost on the way there.
        const tunDropped = () => linkTx(reg, c.ns, tunDev).dropped - tun0.dropped;
        let mid = await readCounters(reg, lab.cpes[0]!);
        const read = () => (mid.traffic.out_packets ?? 0) - (before.traffic.out_packets ?? 0);
        assert.ok(await reg.waitFor(() => tunDropped() > 0, 10_000), "TUN queue dropped nothing");
        mid = await readCounters(reg, lab.cpes[0]!);
        assert.ok((mid.traffic.wan_backpressure ?? 0) >= 1, JSON.stringify(mid.traffic));
        assertNoDrops(before, mid);
        assert.ok(read() < N - 2000, `the CPE read ${read()} of ${N}: it did not stop reading`);
        assert.equal(qdiscDrops(reg, c.ns, "wan0"), 0, "the WAN qdisc dropped packets");

        // Drain: the tail goes first, the TUN is read again, everything read reaches the server.
        tc(..."class change dev wan0 parent 1: classid 1:1 htb rate 1gbit".split(" "));
        const { ok, sent, atServer, end } = await settle(
          reg,
          lab.cpes[0]!,
          lab.t.inet,
          before,
          server0,
        );
        assert.ok(ok, `server ${atServer}, TUN queue dropped ${tunDropped()}, CPE sent ${sent}`);
        // Packets can also be lost before the TUN (the LAN host's queue, the CPE's backlog): <=. The
        // TUN queue also drops what the CPE's own kernel sent into it meanwhile (ND, MLD).
        const own = ip6OwnOut(reg, c.ns) - own0;
        assert.ok(
          sent + tunDropped() <= N + own,
          `encapsulated ${sent} + dropped in the TUN queue ${tunDropped()} <= ` +
            `sent by the LAN ${N} + by the CPE's kernel ${own}`,
        );
        assert.equal(atServer, sent, "every packet the CPE read reached the server");
        assertNoDrops(before, end);
        assert.equal(qdiscDrops(reg, c.ns, "wan0"), 0, "the WAN qdisc dropped packets");
        assert.ok((end.traffic.wan_paused_ms ?? 0) > 0, JSON.stringify(end.traffic));
        if (wanSend === "packet") {
          // All over AF_PACKET but the batch after each resolve (the firewall's conntrack entry),
          // and the one a resolve before the burst left pending (nothing was sent since).
          const [pkt1, resolves1] = await viaPacket(lab);
          const raw = sent - (pkt1 - pkt0);
          assert.ok(
            raw >= 0 && raw <= BATCH_SIZE_PACKETS * (resolves1 - resolves0 + 1),
            `${raw} of ${sent} through the raw socket, ${resolves1 - resolves0} resolves`,
          );
        }
      });
      test("a WAN queue shorter than the send buffer: a drop it reports (ENOBUFS) is counted, all else delivered", async () => {
        const c = lab.t.cpes[0]!;
        const tc = (...args: string[]) => reg.must(["ip", "netns", "exec", c.ns, "tc", ...args]);
        reg.exec(c.ns, ["tc", "qdisc", "del", "dev", "wan0", "root"]);
        tc("qdisc", "add", "dev", "wan0", "root", "handle", "1:", "htb", "default", "1");
        tc("class", "add", "dev", "wan0", "parent", "1:", "classid", "1:1", "htb", "rate", "1kbit");
        tc("qdisc", "add", "dev", "wan0", "parent", "1:1", "pfifo", "limit", "8");

        const before = await readCounters(reg, lab.cpes[0]!);
        const tun0 = linkTx(reg, c.ns, tunDev);
        const server0 = udp6Datagrams(reg, lab.t.inet);
        const sender = await reg.execAsync(
          c.lanNs,
          [process.execPath, "-e", UDP_BURST_SCRIPT, LAB_SERVER, "9", String(N), "64"],
          30_000,
        );
        assert.match(sender.stdout, new RegExp(`sent ${N}`), sender.stderr);
        const tunDropped = () => linkTx(reg, c.ns, tunDev).dropped - tun0.dropped;
        assert.ok(await reg.waitFor(() => tunDropped() > 0, 10_000), "TUN queue dropped nothing");
        tc(..."class change dev wan0 parent 1: classid 1:1 htb rate 1gbit".split(" "));
        const { ok, sent, atServer, txError, end } = await settle(
          reg,
          lab.cpes[0]!,
          lab.t.inet,
          before,
          server0,
        );
        const wanDropped = qdiscDrops(reg, c.ns, "wan0");
        assert.ok(
          ok,
          `server ${atServer}, TUN queue ${tunDropped()}, tx_error ${txError}, WAN queue ${wanDropped}`,
        );
        assert.ok((end.traffic.wan_backpressure ?? 0) > (before.traffic.wan_backpressure ?? 0));
        // A drop that sendmmsg reports (ENOBUFS on its first message) is counted; one it hides (on a
        // later message it returns the count sent before) is sent again by the next call.
        assert.ok(txError > 0, "no ENOBUFS reported");
        assert.ok(txError <= wanDropped, `tx_error ${txError}, WAN queue ${wanDropped}`);
        assert.ok(
          sent + tunDropped() <= N,
          `encapsulated ${sent} + dropped in the TUN queue ${tunDropped()} <= sent by the LAN ${N}`,
        );
        assert.equal(atServer, sent - txError, "all else the CPE read reached the server");
      });
    },
  );
}
