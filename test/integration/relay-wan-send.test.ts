/**
 * The relay's `wan_send packet` end to end (root, network namespaces named per run): protocol 41
 * to customers leaves over AF_PACKET to the gateway's MAC (control/relay-wan-send.ts,
 * native/sockets.c), in the lab topology (lan - cpe - isp - relay - inet), with two relay
 * workers (the main thread resolves for both sockets) and with one.
 *
 * Checks: status shows the AF_PACKET path, the gateway and the customer interval; the main thread
 * keeps CAP_NET_ADMIN and nothing else after the privilege drop, a worker thread nothing; TCP server ->
 * LAN goes over AF_PACKET (counted, every byte delivered); the outer IPv4 header on the wire as
 * the raw socket would send it (captured by dumpcap on the isp side of the relay's link: header
 * checksum, protocol 41, DF clear, ID not 0, source the anycast, Ethernet destination the
 * gateway's MAC); a more specific route for the CPE through another gateway takes it out of the
 * AF_PACKET intervals (its packets go through the raw socket, and arrive); a flushed neighbour
 * entry falls back to the raw socket without losing pings; with the gateway's link down, the next
 * send over AF_PACKET fails (ENETDOWN: those packets take the raw socket), the main thread resolves
 * at once for every worker, and the backup route's link carries it all, no ping lost.
 * Re-resolves are triggered with the status socket's `resolve` command, never waited for, but
 * in the test of the kernel's change events: a route added and deleted is followed with no
 * command, well before the periodic dump (every 60 s while the events are watched) could.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { LAB_ANYCAST, labRelaySocket } from "../../module/lab/topology.js";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { ping, startLab, tcpTransfer, type RunningLab } from "../support/dataplane-harness.js";
import { resolveWanSendUntil, statusCommand } from "../support/daemon-assert.js";
import { decodePcap } from "../support/pcap.js";
import { assertOuter6in4, startCapture } from "../support/outer-ipv4.js";
import { CAP_NET_ADMIN, capabilityMask, parseProcStatus } from "../../module/io/privileges.js";
import type { WanSendSnapshot } from "../../module/status/snapshot.js";
import type { RelayStatusSnapshot } from "../../module/status/relay-snapshot.js";

const skip = netnsSkipReason() ?? toolSkipReason("dumpcap");

// Two workers (worker 2 in a thread of its own) and one (the main thread's daemon alone).
for (const workers of [2, 1])
  describe(
    `wan_send packet: the relay sends protocol 41 over AF_PACKET (workers ${workers})`,
    { skip, timeout: 180_000 },
    () => {
      const reg = new NetnsRegistry();
      let lab: RunningLab;
      let sock: string;

      const status = async (): Promise<RelayStatusSnapshot> =>
        (await statusCommand(sock, "status")) as RelayStatusSnapshot;
      const counter = async (name: string): Promise<number> =>
        (await status()).counters.traffic[name] ?? 0;
      /** The main thread resolves for every worker; the answer is the status after it. */
      const resolve = async (): Promise<WanSendSnapshot> =>
        (await statusCommand(sock, "resolve")) as WanSendSnapshot;
      /** Resolves until `pred` holds for the status after it, at most `ms`. */
      const resolveUntil = (pred: (w: WanSendSnapshot) => boolean, ms: number) =>
        resolveWanSendUntil(sock, pred, ms);
      /** The customer intervals a status reason names ("2 customer interval(s) via ..."). */
      const intervals = (w: WanSendSnapshot): number =>
        Number(/^(\d+) customer interval/.exec(w.reason)?.[1] ?? 0);
      const ispMac = (): string => {
        const j = JSON.parse(reg.must(["ip", "-n", lab.t.isp, "-j", "link", "show", "relay0"])) as {
          address: string;
        }[];
        return j[0]!.address;
      };
      const relayNs = (): string => lab.t.relays[0]!.ns;

      before(async () => {
        lab = await startLab(reg, { cpes: [{ index: 0, pmt: true }], lanMtu: 1500 }, () => [
          "--wan-send",
          "packet",
          "--workers",
          String(workers),
        ]);
        sock = labRelaySocket(relayNs());
        // The CPE's health probe made the relay answer through the raw socket, whose kernel
        // resolved the gateway: every worker then uses AF_PACKET for the customer range.
        const w = await resolveUntil((x) => x.active === "packet" && intervals(x) === 1, 20_000);
        assert.equal(w.active, "packet", JSON.stringify(w));
      });
      after(async () => {
        await reg.cleanup();
      });

      test("status shows the AF_PACKET path, the gateway's MAC and one customer interval", async () => {
        const s = await status();
        const w = s.wanSend!;
        assert.equal(w.configured, "packet");
        assert.equal(w.active, "packet");
        assert.deepEqual(w.nextHop, {
          device: "wan0",
          gateway: lab.t.relays[0]!.ispSide,
          lladdr: ispMac(),
        });
        assert.match(w.reason, /^1 customer interval\(s\) via /);
        assert.equal(s.counters.traffic.wan_send_intervals, 1, "the intervals gauge");
        // The last routing-table dump: every table's routes (main and local at least).
        assert.ok((w.routes?.count ?? 0) >= 3 && w.routes!.everyS >= 2, JSON.stringify(w.routes));
        const text = reg.run([
          process.execPath,
          require.resolve("../support/daemon-runner.js"),
          "status",
          "--status-socket",
          sock,
        ]).stdout;
        assert.match(text, /wan send:\s+packet: AF_PACKET via /);
        // `status --resolve`: the relay reads its table again; the line after it.
        const r = reg.run([
          process.execPath,
          require.resolve("../support/daemon-runner.js"),
          "status",
          "--resolve",
          "--status-socket",
          sock,
        ]);
        assert.equal(r.code, 0, r.stderr);
        assert.match(
          r.stdout,
          /^wan send: packet: AF_PACKET via .*\(1 customer interval\(s\) .*route events; routes: \d+ read \(\d+ for customers\) in [\d.]+ ms, on change and every 60 s\n$/,
        );
      });

      test("the relay keeps CAP_NET_ADMIN alone (NTF_USE on a STALE gateway), a worker thread nothing", async () => {
        const pid = lab.relays[0]!.pid!;
        const caps = (path: string): bigint => parseProcStatus(readFileSync(path, "utf8"))!.capEff;
        const admin = capabilityMask([CAP_NET_ADMIN]);
        assert.equal(caps(`/proc/${pid}/status`), admin, "main thread (worker 1)");
        if (workers === 1) return;
        // Worker 2 runs in a thread started after the drop (status names its thread id).
        const tid = (await status()).counters.workers?.[1]?.tid ?? 0;
        assert.ok(tid > 0 && tid !== pid, `worker 2's thread ${tid}`);
        assert.equal(caps(`/proc/${pid}/task/${tid}/status`), 0n, "worker 2's thread");
      });

      test("TCP server -> LAN leaves the relay over AF_PACKET, every byte delivered", async () => {
        const c = lab.t.cpes[0]!;
        const before = await counter("wan_send_af_packet");
        const r = await tcpTransfer(reg, lab.t.inet, c.lanNs, c.hostAddress, 5302, 2_000_000);
        assert.equal(r.received, 2_000_000, r.sent);
        const sent = (await counter("wan_send_af_packet")) - before;
        // 2 MB of TCP segments of at most 1440 bytes: over 1300 packets.
        assert.ok(sent > 1300, `${sent} packets over AF_PACKET`);
      });

      test("the outer IPv4 header on the wire is what the raw socket would send", async () => {
        const c = lab.t.cpes[0]!;
        const pcap = `/tmp/6to4-pmt-relay-wan-send-${process.pid}.pcap`;
        const filter = `ip proto 41 and dst host ${c.wanIpv4}`;
        const cap = await startCapture(reg, lab.t.isp, "relay0", filter, 10, pcap);
        const pkt0 = await counter("wan_send_af_packet");
        const out = await ping(reg, lab.t.inet, c.hostAddress, [
          "-c",
          "10",
          "-i",
          "0.2",
          "-s",
          "1000",
        ]);
        assert.equal(out.code, 0, out.stdout);
        await reg.waitFor(() => cap.hasExited(), 10_000);
        await reg.stop(cap, 2000, "SIGINT");
        assert.ok((await counter("wan_send_af_packet")) - pkt0 >= 10, "the echo replies' way back");
        const { linktype, records } = decodePcap(readFileSync(pcap));
        assert.equal(linktype, 1, "Ethernet");
        assert.equal(records.length, 10, `${records.length} frames`);
        for (const r of records) assertOuter6in4(r.data, ispMac(), LAB_ANYCAST, c.wanIpv4);
      });

      test("a more specific route through another gateway takes the CPE out of AF_PACKET", async () => {
        const c = lab.t.cpes[0]!;
        const r0 = lab.t.relays[0]!;
        // A second address of the ISP router on the relay's link: another gateway, same wire.
        const gw2 = r0.ispSide.replace(/\.1$/, ".3");
        reg.must(["ip", "-n", lab.t.isp, "addr", "add", `${gw2}/24`, "dev", "relay0"]);
        reg.must(["ip", "-n", relayNs(), "route", "add", `${c.wanIpv4}/32`, "via", gw2]);
        try {
          // The /10 is cut around the CPE's /32: two intervals (for every worker).
          const w = await resolveUntil((x) => intervals(x) === 2, 10_000);
          assert.match(w.reason, /^2 customer interval\(s\) via /);
          const pkt0 = await counter("wan_send_af_packet");
          const out = await ping(reg, lab.t.inet, c.hostAddress, ["-c", "5", "-i", "0.2"]);
          assert.equal(out.code, 0, out.stdout);
          assert.match(out.stdout, / 5 received/);
          assert.equal(
            (await counter("wan_send_af_packet")) - pkt0,
            0,
            "all through the raw socket",
          );
        } finally {
          reg.must(["ip", "-n", relayNs(), "route", "del", `${c.wanIpv4}/32`]);
        }
        const back = await resolveUntil((x) => intervals(x) === 1, 10_000);
        assert.equal(back.active, "packet", JSON.stringify(back));
        assert.match(back.reason, /^1 customer interval\(s\) via /);
      });

      test("a route change is followed when the kernel reports it, without a resolve command or a periodic dump", async () => {
        const c = lab.t.cpes[0]!;
        const r0 = lab.t.relays[0]!;
        const gw4 = r0.ispSide.replace(/\.1$/, ".4");
        // A dump now: the periodic resolve dumps next MAX_DUMP_INTERVAL_MS (60 s) from here, so
        // what changes within the next seconds was read because of the kernel's event.
        const w0 = await resolve();
        assert.equal(intervals(w0), 1, JSON.stringify(w0));
        assert.equal(w0.routes?.everyS, 60, "periodic dumps only as a safety net");
        const ev0 = w0.routeEvents;
        assert.equal(typeof ev0, "number", "change events watched");
        const t0 = Date.now();
        const wanSend = async (): Promise<WanSendSnapshot> => (await status()).wanSend!;
        const until = async (pred: (w: WanSendSnapshot) => boolean): Promise<WanSendSnapshot> => {
          let w = await wanSend();
          while (!pred(w) && Date.now() - t0 < 15_000) {
            await new Promise((r) => setTimeout(r, 100));
            w = await wanSend();
          }
          return w;
        };
        reg.must(["ip", "-n", lab.t.isp, "addr", "add", `${gw4}/24`, "dev", "relay0"]);
        reg.must(["ip", "-n", relayNs(), "route", "add", `${c.wanIpv4}/32`, "via", gw4]);
        try {
          const w = await until((x) => intervals(x) === 2);
          assert.equal(intervals(w), 2, JSON.stringify(w));
          assert.ok(w.routeEvents! > ev0!, JSON.stringify(w));
        } finally {
          reg.must(["ip", "-n", relayNs(), "route", "del", `${c.wanIpv4}/32`]);
          reg.must(["ip", "-n", lab.t.isp, "addr", "del", `${gw4}/24`, "dev", "relay0"]);
        }
        const back = await until((x) => intervals(x) === 1 && x.active === "packet");
        assert.equal(intervals(back), 1, JSON.stringify(back));
        assert.ok(Date.now() - t0 < 60_000, "before any periodic dump");
      });

      test("a table larger than the old 65 536-route cap: read off the event loop, only customer routes kept, AF_PACKET stays", async () => {
        // 102 400 routes outside the customer range: the 1 024 host addresses of four
        // documentation /24s, 100 metrics each (as a partial Internet table is to the relay).
        const dir = mkdtempSync(join(tmpdir(), "pmt-relay-routes-"));
        const file = join(dir, "routes");
        const lines: string[] = [];
        for (const net of ["192.0.2", "198.51.100", "203.0.113", "192.88.99"])
          for (let h = 0; h < 256; h++)
            for (let m = 1; m <= 100; m++)
              lines.push(
                `route add ${net}.${h}/32 via ${lab.t.relays[0]!.ispSide} metric ${m} proto 99`,
              );
        writeFileSync(file, lines.join("\n") + "\n");
        try {
          reg.must(["ip", "-n", relayNs(), "-batch", file], 120_000);
          const w = await resolve();
          assert.equal(w.active, "packet", JSON.stringify(w));
          assert.equal(intervals(w), 1, JSON.stringify(w));
          assert.ok(w.routes!.count! > 102_400, JSON.stringify(w.routes));
          assert.ok(w.routes!.kept! < 20, JSON.stringify(w.routes));
          const out = await ping(reg, lab.t.inet, lab.t.cpes[0]!.hostAddress, [
            "-c",
            "3",
            "-i",
            "0.2",
          ]);
          assert.equal(out.code, 0, out.stdout);
        } finally {
          reg.run(["ip", "-n", relayNs(), "route", "flush", "proto", "99"], 60_000);
          rmSync(dir, { recursive: true, force: true });
        }
      });

      test("a flushed neighbour entry: raw socket fallback, no ping lost, then AF_PACKET again", async () => {
        const c = lab.t.cpes[0]!;
        reg.must(["ip", "-n", relayNs(), "neigh", "flush", "dev", "wan0"]);
        const w = await resolve();
        assert.equal(w.active, "raw", JSON.stringify(w));
        assert.match(w.reason, /neighbour .* (none|INCOMPLETE|FAILED)/);
        const out = await ping(reg, lab.t.inet, c.hostAddress, ["-c", "5", "-i", "0.2"]);
        assert.equal(out.code, 0, out.stdout);
        assert.match(out.stdout, / 5 received/);
        const back = await resolveUntil((x) => x.active === "packet", 10_000);
        assert.equal(back.active, "packet", JSON.stringify(back));
        assert.ok((await counter("wan_send_fallbacks")) >= 1);
      });

      // Last: it takes the lab's relay link down and puts it back.
      test("the gateway's link goes down: every worker sends over the backup route's link, no ping lost", async () => {
        const c = lab.t.cpes[0]!;
        const r0 = lab.t.relays[0]!;
        const relay = relayNs();
        // A second link relay - isp (203.0.113.0/24, unused with one relay) and backup routes
        // both ways (higher metric), used once the first link is down.
        reg.veth(lab.t.isp, "relayb", relay, "wan1");
        reg.must(["ip", "-n", lab.t.isp, "addr", "add", "203.0.113.1/24", "dev", "relayb"]);
        reg.must(["ip", "-n", relay, "addr", "add", "203.0.113.2/24", "dev", "wan1"]);
        reg.must([
          "ip",
          "-n",
          relay,
          "route",
          "add",
          "default",
          "via",
          "203.0.113.1",
          "metric",
          "200",
        ]);
        reg.must([
          "ip",
          "-n",
          lab.t.isp,
          "route",
          "add",
          `${LAB_ANYCAST}/32`,
          "via",
          "203.0.113.2",
          "metric",
          "200",
        ]);
        // The backup gateway's neighbour entry exists before the switch.
        reg.must(["ip", "netns", "exec", relay, "ping", "-c", "1", "-W", "2", "203.0.113.1"]);
        // The backup route (metric 200) waits: AF_PACKET through the first link still.
        const w0 = await resolve();
        assert.equal(w0.active, "packet", JSON.stringify(w0));
        assert.equal(w0.nextHop?.device, "wan0", JSON.stringify(w0));
        const moved0 = w0.fallbacks + w0.nextHopChanges;
        try {
          reg.must(["ip", "-n", relay, "link", "set", "wan0", "down"]);
          reg.must(["ip", "-n", lab.t.isp, "link", "set", "relay0", "down"]);
          // Whatever comes first, the periodic resolve or a send over AF_PACKET failing on the
          // down device (those packets then go through the raw socket): nothing is lost.
          const out = await ping(reg, lab.t.inet, c.hostAddress, ["-c", "10", "-i", "0.2"]);
          assert.equal(out.code, 0, out.stdout);
          assert.match(out.stdout, / 10 received/);
          const w = await resolveUntil((x) => x.nextHop?.device === "wan1", 10_000);
          assert.equal(w.active, "packet", JSON.stringify(w));
          assert.deepEqual(w.nextHop, {
            device: "wan1",
            gateway: "203.0.113.1",
            lladdr: JSON.parse(reg.must(["ip", "-n", lab.t.isp, "-j", "link", "show", "relayb"]))[0]
              .address,
          });
          assert.ok(w.fallbacks + w.nextHopChanges > moved0, JSON.stringify(w));
          // Every worker sends over the new link: a TCP transfer (its flows spread over the
          // TUN's queues) all over AF_PACKET.
          const pkt0 = await counter("wan_send_af_packet");
          const r = await tcpTransfer(reg, lab.t.inet, c.lanNs, c.hostAddress, 5303, 1_000_000);
          assert.equal(r.received, 1_000_000, r.sent);
          assert.ok((await counter("wan_send_af_packet")) - pkt0 > 650, "over AF_PACKET");
        } finally {
          reg.must(["ip", "-n", lab.t.isp, "link", "set", "relay0", "up"]);
          reg.must(["ip", "-n", relay, "link", "set", "wan0", "up"]);
          // Routes through a link that went down are gone: the lab's again.
          reg.run(["ip", "-n", relay, "route", "replace", "default", "via", r0.ispSide]);
          reg.run([
            "ip",
            "-n",
            lab.t.isp,
            "route",
            "replace",
            `${LAB_ANYCAST}/32`,
            "via",
            r0.unicast,
          ]);
          reg.run(["ip", "-n", relay, "link", "del", "wan1"]);
        }
      });
    },
  );
