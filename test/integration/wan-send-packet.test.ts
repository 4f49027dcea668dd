/**
 * `wan_send packet` end to end (root, network namespaces named per run): a PMT CPE whose
 * protocol-41 packets to the relay leave over AF_PACKET to the resolved next hop's MAC
 * (control/wan-next-hop.ts, native/packet.c), in the lab topology (lan - cpe - isp - relay - inet).
 *
 * Checks: ping6 and TCP through the relay over AF_PACKET (counted as such); pings to a direct
 * 6to4 peer (a second CPE) during a TCP transfer go through the raw socket; the outer IPv4 header
 * on the wire as the raw socket would send it (captured by dumpcap on the isp side of the CPE's
 * WAN: header checksum valid, protocol 41, TTL 64, DF clear, ID not 0, source and destination,
 * and the Ethernet destination the gateway's MAC); an unresolved neighbour falls back to the raw
 * socket without losing pings; a gateway whose MAC changes is found out by the kernel's neighbour
 * probing (which the resolver asks for) and traffic recovers, the fallback counted; behind a
 * firewall that admits protocol 41 only as replies (as OpenWrt's fw4 input does), a flushed
 * conntrack table does not cut the tunnel: a batch through the raw socket after each resolve
 * makes the entry again (conntrack-tools lists it).
 * Re-resolves are triggered with the status socket's `resolve` command, never waited for.
 */
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { LAB_ANYCAST, LAB_SERVER, labCpeFiles } from "../../module/lab/topology.js";
import {
  NetnsRegistry,
  netnsSkipReason,
  replaceNeighbour,
  toolSkipReason,
} from "../support/netns.js";
import {
  ping,
  readCounters,
  startLab,
  tcpTransfer,
  type RunningLab,
} from "../support/dataplane-harness.js";
import { resolveWanSendUntil, statusCommand } from "../support/daemon-assert.js";
import { decodePcap } from "../support/pcap.js";
import { assertOuter6in4, startCapture } from "../support/outer-ipv4.js";
import type { StatusSnapshot, WanSendSnapshot } from "../../module/status/snapshot.js";

const skip = netnsSkipReason() ?? toolSkipReason("dumpcap");
const noConntrack = toolSkipReason("conntrack") ?? toolSkipReason("nft");

describe(
  "wan_send packet: the CPE sends protocol 41 over AF_PACKET",
  { skip, timeout: 180_000 },
  () => {
    const reg = new NetnsRegistry();
    let lab: RunningLab;
    let sock: string;

    const status = async (): Promise<StatusSnapshot> =>
      (await statusCommand(sock, "status")) as StatusSnapshot;
    const resolve = async (): Promise<WanSendSnapshot> =>
      (await statusCommand(sock, "resolve")) as WanSendSnapshot;
    /** Resolves until `pred` holds (each round a `resolve` command), at most `ms`. */
    const resolveUntil = (pred: (w: WanSendSnapshot) => boolean, ms: number) =>
      resolveWanSendUntil(sock, pred, ms);
    const counter = async (name: string): Promise<number> => (await status()).counters[name] ?? 0;
    const cpeMac = (): string => {
      const c = lab.t.cpes[0]!;
      const j = JSON.parse(
        reg.must(["ip", "-n", lab.t.isp, "-j", "link", "show", c.ispDevice]),
      ) as {
        address: string;
      }[];
      return j[0]!.address;
    };

    before(async () => {
      lab = await startLab(
        reg,
        {
          cpes: [
            { index: 0, pmt: true },
            { index: 1, pmt: false, sla: 1 },
          ],
          lanMtu: 1500,
        },
        () => [],
        (i) => (i === 0 ? ["--wan-send", "packet"] : []),
      );
      sock = labCpeFiles(lab.t.cpes[0]!.ns)[1];
      // The health probe's packets went through the raw socket and resolved the gateway.
      const w = await resolveUntil((x) => x.active === "packet", 20_000);
      assert.equal(w.active, "packet", JSON.stringify(w));
    });
    after(async () => {
      await reg.cleanup();
    });

    test("status shows the AF_PACKET path and the gateway's MAC", async () => {
      const s = await status();
      const w = s.wanSend!;
      assert.equal(w.configured, "packet");
      assert.equal(w.active, "packet");
      assert.equal(w.nextHop?.device, "wan0");
      assert.equal(w.nextHop?.gateway, lab.t.cpes[0]!.wanGateway);
      assert.equal(w.nextHop?.lladdr, cpeMac());
      // The exit code says whether IPv6 works (cli/status.ts); the text is what is checked here.
      const text = reg.run([
        process.execPath,
        require.resolve("../support/daemon-runner.js"),
        "status",
        "--status-socket",
        sock,
      ]).stdout;
      assert.match(text, /wan send:\s+packet: AF_PACKET via /);
    });

    test("ping6 and TCP through the relay go out over AF_PACKET", async () => {
      const c = lab.t.cpes[0]!;
      const before = await counter("wan_send_af_packet");
      const out = await ping(reg, c.lanNs, LAB_SERVER);
      assert.equal(out.code, 0, out.stdout);
      const r = await tcpTransfer(reg, c.lanNs, lab.t.inet, LAB_SERVER, 5301, 2_000_000);
      assert.equal(r.received, 2_000_000, r.sent);
      assert.equal(r.peer, "2001:db8:6440:2::100");
      const sent = (await counter("wan_send_af_packet")) - before;
      // 2 MB of TCP segments of at most 1440 bytes: over 1300 packets, plus the pings.
      assert.ok(sent > 1300, `${sent} packets over AF_PACKET`);
      assert.equal((await status()).wanSend!.active, "packet");
    });

    test("a direct 6to4 peer at the same time goes through the raw socket (RFC 3056 §5.3)", async () => {
      const a = lab.t.cpes[0]!;
      const b = lab.t.cpes[1]!;
      const out0 = (await readCounters(reg, lab.cpes[0]!)).traffic.out_packets ?? 0;
      const pkt0 = await counter("wan_send_af_packet");
      // Batches that mix both: TCP to the server (relay, AF_PACKET) and pings to the peer (raw).
      const [tcp, direct] = await Promise.all([
        tcpTransfer(reg, a.lanNs, lab.t.inet, LAB_SERVER, 5302, 2_000_000),
        ping(reg, a.lanNs, b.hostAddress, ["-c", "20", "-i", "0.05"]),
      ]);
      assert.equal(tcp.received, 2_000_000, tcp.sent);
      assert.equal(direct.code, 0, direct.stdout);
      assert.match(direct.stdout, / 20 received/);
      const sent = ((await readCounters(reg, lab.cpes[0]!)).traffic.out_packets ?? 0) - out0;
      const overPacket = (await counter("wan_send_af_packet")) - pkt0;
      assert.ok(overPacket > 1300, `${overPacket} over AF_PACKET`);
      // The 20 echo requests to the peer's IPv4 address, not the relay's, went the raw way.
      assert.ok(sent - overPacket >= 20, `${sent} sent, ${overPacket} over AF_PACKET`);
      assert.equal((await status()).wanSend!.fallbacks, 0);
    });

    test("the outer IPv4 header on the wire: checksum, protocol 41, TTL 64, DF clear, ID, addresses", async () => {
      const c = lab.t.cpes[0]!;
      const pcap = `/tmp/6to4-pmt-${process.pid}-wansend.pcap`;
      const cap = await startCapture(
        reg,
        lab.t.isp,
        c.ispDevice,
        `ip proto 41 and src host ${c.wanIpv4}`,
        20,
        pcap,
      );
      const out = await ping(reg, c.lanNs, LAB_SERVER, ["-c", "10", "-i", "0.2", "-s", "1000"]);
      assert.equal(out.code, 0, out.stdout);
      await reg.waitFor(() => cap.hasExited(), 10_000);
      await reg.stop(cap, 2000, "SIGINT");
      const { linktype, records } = decodePcap(readFileSync(pcap));
      assert.equal(linktype, 1, "Ethernet");
      assert.ok(records.length >= 10, `${records.length} frames`);
      for (const r of records) assertOuter6in4(r.data, cpeMac(), c.wanIpv4, LAB_ANYCAST);
    });

    test("unresolved neighbour: raw socket fallback, no ping lost", async () => {
      const c = lab.t.cpes[0]!;
      const unresolved = await counter("wan_send_unresolved");
      reg.must(["ip", "-n", c.ns, "neigh", "flush", "dev", "wan0"]);
      const w = await resolve();
      assert.equal(w.active, "raw", JSON.stringify(w));
      assert.match(w.reason, /neighbour .* (none|INCOMPLETE|FAILED)/);
      assert.ok(w.unresolved > unresolved);
      const out0 = (await readCounters(reg, lab.cpes[0]!)).traffic.out_packets ?? 0;
      const pkt0 = w.packets;
      const out = await ping(reg, c.lanNs, LAB_SERVER, ["-c", "5", "-i", "0.2"]);
      assert.equal(out.code, 0, out.stdout);
      assert.match(out.stdout, / 5 received/);
      const sent = ((await readCounters(reg, lab.cpes[0]!)).traffic.out_packets ?? 0) - out0;
      const overPacket = (await status()).wanSend!.packets - pkt0;
      // At least the first went through the raw socket (no next hop then); the periodic resolve
      // may switch back during the run once the raw socket's kernel has resolved ARP.
      assert.ok(sent - overPacket >= 1, `${sent} sent, ${overPacket} over AF_PACKET`);
      // The raw socket's kernel resolved ARP: the next resolve goes back to AF_PACKET.
      const back = await resolveUntil((x) => x.active === "packet", 10_000);
      assert.equal(back.active, "packet", JSON.stringify(back));
    });

    test("a changed neighbour entry of the gateway is followed when the kernel reports it", async () => {
      const c = lab.t.cpes[0]!;
      const w0 = await resolve();
      assert.equal(w0.active, "packet");
      const ev0 = w0.routeEvents;
      assert.equal(typeof ev0, "number", "change events watched");
      const realMac = cpeMac();
      const otherMac = "02:00:5e:10:00:99";
      const until = async (pred: (w: WanSendSnapshot) => boolean): Promise<WanSendSnapshot> => {
        const end = Date.now() + 10_000;
        let w = (await status()).wanSend!;
        while (!pred(w) && Date.now() < end) {
          await new Promise((r) => setTimeout(r, 100));
          w = (await status()).wanSend!;
        }
        return w;
      };
      // What a gratuitous ARP from a replaced gateway does to the CPE's neighbour table.
      const setMac = (mac: string): void =>
        replaceNeighbour(reg, c.ns, c.wanGateway, mac, "wan0", "reachable");
      try {
        setMac(otherMac);
        const w = await until((x) => x.nextHop?.lladdr === otherMac);
        assert.equal(w.nextHop?.lladdr, otherMac, JSON.stringify(w));
        assert.ok(w.routeEvents! > ev0!, JSON.stringify(w));
        assert.ok(w.nextHopChanges > w0.nextHopChanges);
      } finally {
        setMac(realMac);
      }
      const back = await until((x) => x.nextHop?.lladdr === realMac);
      assert.equal(back.nextHop?.lladdr, realMac, JSON.stringify(back));
      const out = await ping(reg, c.lanNs, LAB_SERVER, ["-c", "3", "-i", "0.2"]);
      assert.equal(out.code, 0, out.stdout);
    });

    test("the gateway's MAC changes: the neighbour probe fails, fallback counted, traffic recovers", async () => {
      const c = lab.t.cpes[0]!;
      const w0 = await resolve();
      assert.equal(w0.active, "packet");
      // Probe fast (defaults: 5 s before the first probe), so the test runs in a few seconds.
      reg.must([
        "ip",
        "netns",
        "exec",
        c.ns,
        "sysctl",
        "-qw",
        "net.ipv4.neigh.wan0.delay_first_probe_time=1",
      ]);
      const oldMac = cpeMac();
      const newMac = "02:00:5e:10:00:" + (oldMac.endsWith(":42") ? "43" : "42");
      reg.must(["ip", "-n", lab.t.isp, "link", "set", "dev", c.ispDevice, "address", newMac]);
      // The kernel still has the old MAC: let it re-validate the entry, as it would after
      // base_reachable_time; the resolver marks a STALE entry used (NTF_USE), unicast probes to
      // the old MAC go unanswered, the entry fails and the resolver falls back.
      reg.must(["ip", "-n", c.ns, "neigh", "change", c.wanGateway, "dev", "wan0", "nud", "stale"]);
      const fell = await resolveUntil((x) => x.fallbacks > w0.fallbacks, 15_000);
      assert.ok(fell.fallbacks > w0.fallbacks, JSON.stringify(fell));
      // Through the raw socket, whose kernel asks ARP again and learns the new MAC.
      const out = await ping(reg, c.lanNs, LAB_SERVER, ["-c", "3", "-i", "0.2"]);
      assert.equal(out.code, 0, out.stdout);
      const w = await resolveUntil((x) => x.active === "packet", 10_000);
      assert.equal(w.active, "packet", JSON.stringify(w));
      assert.equal(w.nextHop?.lladdr, newMac);
      const before = w.packets;
      // 5 echo requests over 0.8 s: the batch after a resolve (this one, and at most one
      // periodic one) goes through the raw socket, at least 3 over AF_PACKET.
      const again = await ping(reg, c.lanNs, LAB_SERVER, ["-c", "5", "-i", "0.2"]);
      assert.equal(again.code, 0, again.stdout);
      assert.ok((await resolve()).packets >= before + 3, "over AF_PACKET to the new MAC");
    });

    test(
      "behind a firewall that admits protocol 41 only as replies (fw4), a flushed conntrack table does not cut the tunnel",
      { skip: noConntrack },
      async () => {
        const c = lab.t.cpes[0]!;
        // As fw4's input chain treats the relay's packets: accepted as part of a tracked flow,
        // dropped otherwise (fw4 rejects everything else from the WAN zone).
        const rules = [
          "table inet pmt_fw {",
          " chain input { type filter hook input priority filter; policy accept;",
          "  meta l4proto 41 ct state established,related accept",
          "  meta l4proto 41 counter drop; }",
          "}",
        ];
        reg.must(["ip", "netns", "exec", c.ns, "nft", rules.join("\n")]);
        try {
          reg.must(["ip", "netns", "exec", c.ns, "conntrack", "-F"]);
          const w = await resolve();
          assert.equal(w.active, "packet", JSON.stringify(w));
          const before = w.packets;
          const out = await ping(reg, c.lanNs, LAB_SERVER, ["-c", "5", "-i", "0.2"]);
          assert.equal(out.code, 0, out.stdout);
          assert.match(out.stdout, / 5 received/);
          const tracked = reg.must(["ip", "netns", "exec", c.ns, "conntrack", "-L", "-p", "41"]);
          assert.match(
            tracked,
            new RegExp(`src=${c.wanIpv4} dst=${LAB_ANYCAST} .*src=${LAB_ANYCAST} dst=${c.wanIpv4}`),
          );
          // The rest still went over AF_PACKET: one batch per resolve goes through the raw socket.
          assert.ok((await status()).wanSend!.packets >= before + 3, "over AF_PACKET");
        } finally {
          reg.exec(c.ns, ["nft", "delete", "table", "inet", "pmt_fw"]);
        }
      },
    );
  },
);
