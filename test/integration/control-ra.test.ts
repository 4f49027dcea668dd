/**
 * The CPE control plane against real kernels and real peers (root, network namespaces; topology in
 * test/support/control-lab.ts: lan -- cpe == isp == relay (`6to4-pmt relay`)).
 *
 * Checks:
 * - RFC 4861 §6.2.4/§6.2.3, RFC 4862 §5.5.3: the LAN host's kernel forms a SLAAC address in
 *   2002:c000:201::/64 from our RA, installs the default route and takes the MTU (RFC 4861 §4.6.4).
 * - RFC 4861 §6.2.6: rdisc6 (Debian ndisc6) gets a solicited RA with SLLA, MTU, PIO (L, A,
 *   RFC 9096 lifetimes), RDNSS/DNSSL (RFC 8106); tshark dissects our RAs with no errors.
 * - RFC 4861 §6.1.1: malformed RS/NS and link garbage are ignored and counted, the daemon lives on.
 * - RFC 6724 §2.1/§6 rules 5-6: `getent ahosts` on the LAN host lists IPv4 first with a 2002::/16
 *   address (label 2 vs 1).
 * - RFC 7084 §4.3 L-4 + RFC 6343 §4.4 item 4: relay stopped -> default route withdrawn in time;
 *   relay back -> restored.
 * - RFC 6343 §4.1, RFC 6598: a shared-space WAN address without PMT information is refused (no
 *   default route on the LAN); an explicitly configured relay allows it.
 * - RFC 9096 §3.5: WAN address change -> old prefix deprecated on the host, new address formed,
 *   traffic through the relay resumes.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { existsSync } from "node:fs";
import { join } from "node:path";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import {
  buildControlLab,
  CPE_WAN_2,
  ISP_CPE_SIDE_2,
  lanAddresses,
  lanDefaultRoute,
  removeControlLabFiles,
  startCpe,
  startRelay,
  waitLoops,
  waitCpeUp,
  writeLanHosts,
  type ControlLab,
} from "../support/control-lab.js";
import {
  NetnsRegistry,
  netnsSkipReason,
  toolSkipReason,
  type NsProcess,
} from "../support/netns.js";
import { dissect, tsharkSkipReason } from "../support/tshark.js";

const skip = netnsSkipReason() ?? toolSkipReason("python3");

const status = async (lab: ControlLab) =>
  (await queryStatusSocket(lab.statusSocket)) as StatusSnapshot;

/** Python: sends malformed RS/NS from the LAN host, and raw garbage frames on eth0. */
const BAD_ND = `
import socket, struct, os
ifindex = socket.if_nametoindex("eth0")
def icmp(payload, hops):
    s = socket.socket(socket.AF_INET6, socket.SOCK_RAW, socket.IPPROTO_ICMPV6)
    s.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, hops)
    s.sendto(payload, ("ff02::2", 0, 0, ifindex))
    s.close()
rs = bytes([133, 0, 0, 0, 0, 0, 0, 0])
icmp(rs, 64)                                             # hop limit != 255
icmp(bytes([133, 1, 0, 0, 0, 0, 0, 0]), 255)             # code != 0
icmp(rs + bytes([1, 0, 0, 0, 0, 0, 0, 0]), 255)          # option length 0
icmp(rs + bytes([1, 3, 0, 0, 0, 0, 0, 0]), 255)          # option past the end
icmp(bytes([135, 0, 0, 0]) + os.urandom(20), 255)        # NS garbage
p = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
p.bind(("eth0", 0))
for i in range(20):
    p.send(b"\\xff" * 6 + b"\\x02\\x00\\x00\\x00\\x00\\x01" + b"\\x86\\xdd" + os.urandom(60))
    p.send(b"\\xff" * 6 + b"\\x02\\x00\\x00\\x00\\x00\\x01" + b"\\x08\\x00" + os.urandom(40))
`;

describe(
  "CPE control plane: RAs, SLAAC, health, WAN change (netns)",
  { skip, timeout: 300_000 },
  () => {
    const reg = new NetnsRegistry();
    let lab: ControlLab;
    let cpe: NsProcess | undefined;
    let relay: NsProcess | undefined;

    const stopCpe = async () => {
      if (cpe) await reg.stop(cpe, 5000);
      cpe = undefined;
    };
    const diag = () => (cpe ? `\n--- cpe stderr ---\n${cpe.stderr().slice(-4000)}` : "");

    before(async () => {
      lab = buildControlLab(reg, { staticWan: true });
      relay = startRelay(lab);
      assert.ok(await waitLoops(lab, relay), "relay did not start: " + relay.stderr());
      // Health probes rarely (one at start): these first tests are about RAs, not the tunnel.
      cpe = startCpe(lab, [
        "--health-interval",
        "3600",
        "--dns",
        "2001:db8::53",
        "--domain",
        "example.com",
      ]);
      assert.ok(await waitCpeUp(lab, cpe), "cpe did not start" + diag());
    });

    after(async () => {
      try {
        await stopCpe();
      } finally {
        await reg.cleanup();
        removeControlLabFiles(lab);
      }
    });

    test("LAN host forms a SLAAC address, installs the default route and the MTU", async () => {
      const ok = await reg.waitFor(
        () =>
          lanAddresses(lab).some((a) => a.local.startsWith("2002:c000:201:0:")) &&
          lanDefaultRoute(lab) !== undefined,
        20_000,
        200,
      );
      assert.ok(
        ok,
        `no SLAAC address/default route: ${JSON.stringify(lanAddresses(lab))}` + diag(),
      );
      const route = lanDefaultRoute(lab)!;
      assert.equal(route.protocol, "ra");
      assert.match(String(route.gateway), /^fe80::/);
      const mtu = reg.exec(lab.lan, ["sysctl", "-n", "net.ipv6.conf.eth0.mtu"]).stdout.trim();
      assert.equal(mtu, "1480", "RA MTU option = tunnel MTU (1500 - 20)");
      const addr = lanAddresses(lab).find((a) => a.local.startsWith("2002:c000:201:0:"))!;
      assert.equal(addr.prefixlen, 64);
      assert.ok(addr.valid <= 5400 && addr.preferred <= 2700, "RFC 9096 lifetimes");
    });

    test(
      "rdisc6 gets a solicited RA with the expected options",
      { skip: toolSkipReason("rdisc6") },
      async () => {
        const r = await reg.execAsync(
          lab.lan,
          ["rdisc6", "-1", "-w", "2000", "-r", "3", "eth0"],
          15_000,
        );
        assert.equal(r.code, 0, r.stdout + r.stderr + diag());
        const out = r.stdout;
        for (const re of [
          /Hop limit\s+:\s+64/,
          /Stateful address conf\.\s+:\s+No/,
          /Router preference\s+:\s+medium/,
          /Router lifetime\s+:\s+1800 /,
          /Source link-layer address:\s+[0-9A-F:]{17}/i,
          /MTU\s+:\s+1480 bytes/,
          /Prefix\s+:\s+2002:c000:201::\/64/,
          /On-link\s+:\s+Yes/,
          /Autonomous address conf\.\s*:\s+Yes/,
          /Valid time\s+:\s+5400 /,
          /Pref\. time\s+:\s+2700 /,
          /Recursive DNS server\s+:\s+2001:db8::53/,
          /DNS search list\s+:\s+example\.com/,
          /from fe80::/,
        ]) {
          assert.match(out, re);
        }
        const s = await status(lab);
        assert.ok(s.counters.rs_valid! >= 1);
        // Answered by a solicited RA, or by the unsolicited one already due sooner (§6.2.6).
        assert.ok(s.ra.solicitedSent + (s.counters.rs_answer_shared ?? 0) >= 1);
      },
    );

    test(
      "tshark dissects our RAs with no malformed or checksum errors",
      { skip: tsharkSkipReason() },
      async () => {
        const pcap = join(lab.dir, "ra.pcap");
        const cap = reg.spawn(lab.lan, [
          "tshark",
          "-q",
          "-i",
          "eth0",
          "-f",
          "icmp6",
          "-w",
          pcap,
          "-a",
          "duration:9",
        ]);
        assert.ok(await reg.waitFor(() => /Capturing on/.test(cap.stderr()), 15_000), cap.stderr());
        await reg.execAsync(lab.lan, ["rdisc6", "-1", "-w", "1000", "-r", "2", "eth0"], 10_000);
        await cap.exited;
        assert.ok(existsSync(pcap), cap.stderr());
        const rep = dissect(pcap);
        const ras = rep.frames.filter(
          (f) => /Router Advertisement/.test(f) && /from 02:|Source link-layer address/.test(f),
        );
        assert.ok(ras.length >= 2, `expected RAs in the capture, got ${rep.frames.length} frames`);
        assert.deepEqual(rep.problems, []);
        const one = ras[0]!;
        assert.match(one, /Checksum Status: Good/);
        assert.match(one, /Hop Limit: 255/);
        assert.match(one, /ICMPv6 Option \(Prefix information : 2002:c000:201::\/64\)/);
        assert.match(one, /ICMPv6 Option \(MTU : 1480\)/);
        assert.match(one, /Recursive DNS Server/);
      },
    );

    test("malformed RS/NS and garbage are ignored and counted; the daemon lives on", async () => {
      const before = await status(lab);
      const r = reg.exec(lab.lan, ["python3", "-c", BAD_ND]);
      assert.equal(r.code, 0, r.stderr);
      const incOf = (x: StatusSnapshot, k: string) =>
        (x.counters[k] ?? 0) - (before.counters[k] ?? 0);
      // Until the daemon counted them all (bounded): it read what was sent.
      let s = await status(lab);
      for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
        const all =
          incOf(s, "rs_invalid_hop_limit") >= 1 &&
          incOf(s, "rs_invalid_code") >= 1 &&
          incOf(s, "rs_invalid_option_length") >= 2 &&
          incOf(s, "nd_other_ignored") >= 1;
        if (all) break;
        await new Promise((r) => setTimeout(r, 100));
        s = await status(lab);
      }
      const inc = (k: string) => incOf(s, k);
      assert.ok(inc("rs_invalid_hop_limit") >= 1, JSON.stringify(s.counters));
      assert.ok(inc("rs_invalid_code") >= 1, JSON.stringify(s.counters));
      assert.ok(inc("rs_invalid_option_length") >= 2, JSON.stringify(s.counters));
      assert.ok(inc("nd_other_ignored") >= 1, JSON.stringify(s.counters));
      assert.equal(inc("rs_valid"), 0);
      assert.equal(cpe?.hasExited(), false);
      const again = await reg.execAsync(
        lab.lan,
        ["rdisc6", "-1", "-w", "2000", "-r", "3", "eth0"],
        15_000,
      );
      assert.equal(again.code, 0, "still answering RS");
    });

    test("getent ahosts prefers IPv4 over a 2002::/16 source (RFC 6724 rules 5, 6)", async () => {
      writeLanHosts(lab, ["192.0.2.80 dual.example", "3fff:100::80 dual.example"]);
      const r = reg.exec(lab.lan, ["getent", "ahosts", "dual.example"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.split("\n")[0] ?? "", /^192\.0\.2\.80\s/, r.stdout);
    });

    test("status shows the state, prefixes, sources and counters", async () => {
      const s = await status(lab);
      assert.equal(s.state, "running");
      assert.equal(s.wan.ipv4, "192.0.2.1");
      assert.equal(s.wan.ipv4Source, "learned");
      assert.equal(s.sixto4Prefix, "2002:c000:201::/48");
      assert.equal(s.lanPrefix, "2002:c000:201::/64");
      assert.deepEqual(s.relays, { value: ["192.88.99.1"], source: "default" });
      assert.ok(s.ra.sent >= 2);
      const cli = reg.exec(lab.cpe, [
        process.execPath,
        join(__dirname, "../../module/cli/main.js"),
        "status",
        "--status-socket",
        lab.statusSocket,
      ]);
      assert.equal(cli.code, 0, cli.stderr);
      assert.match(cli.stdout, /^state:\s+running$/m);
      const none = reg.exec(lab.cpe, [
        process.execPath,
        join(__dirname, "../../module/cli/main.js"),
        "status",
        "--status-socket",
        join(lab.dir, "nope.sock"),
      ]);
      assert.equal(none.code, 5);
      assert.match(none.stderr, /no daemon running/);
    });

    test("relay stopped: default route withdrawn in time; relay back: restored (RFC 7084 L-4)", async () => {
      await stopCpe();
      // health every 2 s, 2 failures: withdrawn within 2 * (2 s + 2 s timeout) + 3 s rate limit.
      cpe = startCpe(lab, ["--health-interval", "2", "--health-failures", "2"]);
      assert.ok(await waitCpeUp(lab, cpe), "cpe did not restart" + diag());
      const healthy = await reg.waitFor(() => lanDefaultRoute(lab) !== undefined, 20_000, 250);
      assert.ok(healthy, "default route via our RA" + diag());
      // Until a probe was answered (every 2 s; bounded wait).
      let s1 = await status(lab);
      for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
        if (s1.health.probesOk >= 1) break;
        await new Promise((r) => setTimeout(r, 200));
        s1 = await status(lab);
      }
      assert.ok(s1.health.probesOk >= 1, `probes answered: ${JSON.stringify(s1.health)}` + diag());

      await reg.stop(relay!, 5000);
      const t0 = Date.now();
      const gone = await reg.waitFor(() => lanDefaultRoute(lab) === undefined, 30_000, 200);
      const took = Date.now() - t0;
      assert.ok(gone, "default route not withdrawn" + diag());
      assert.ok(took <= 30_000, `withdrawn after ${took} ms`);
      assert.equal((await status(lab)).health.state, "down");
      assert.equal((await status(lab)).ra.routerLifetimeS, 0);

      relay = startRelay(lab);
      assert.ok(await waitLoops(lab, relay), "relay did not restart: " + relay.stderr());
      const back = await reg.waitFor(() => lanDefaultRoute(lab) !== undefined, 30_000, 200);
      assert.ok(back, "default route not restored" + diag());
      assert.equal((await status(lab)).health.state, "up");
    });

    test("WAN address change: old prefix deprecated on the host, new address formed, traffic resumes", async () => {
      reg.must(["ip", "-n", lab.cpe, "addr", "add", `${CPE_WAN_2}/24`, "dev", "wan0"]);
      reg.must(["ip", "-n", lab.cpe, "addr", "del", "192.0.2.1/24", "dev", "wan0"]);
      reg.must(["ip", "-n", lab.cpe, "route", "replace", "default", "via", ISP_CPE_SIDE_2]);
      const ok = await reg.waitFor(
        () => {
          const a = lanAddresses(lab);
          const oldDep = a.some((x) => x.local.startsWith("2002:c000:201:0:") && x.deprecated);
          const fresh = a.some((x) => x.local.startsWith("2002:cb00:7107:0:") && !x.deprecated);
          return oldDep && fresh;
        },
        30_000,
        250,
      );
      assert.ok(ok, `host addresses: ${JSON.stringify(lanAddresses(lab))}` + diag());
      const s = await status(lab);
      assert.equal(s.wan.ipv4, CPE_WAN_2);
      assert.equal(s.lanPrefix, "2002:cb00:7107::/64");
      const old = s.ra.prefixes.find((p) => p.prefix === "2002:c000:201::/64");
      assert.ok(old?.deprecated && old.deprecatedUntil !== null, JSON.stringify(s.ra.prefixes));
      assert.match(cpe!.stderr(), /lan prefix 2002:c000:201::\/64 -> 2002:cb00:7107::\/64/);
      // Traffic resumes: the LAN host reaches the relay's 6to4 address from its new address.
      const src = lanAddresses(lab).find((x) => x.local.startsWith("2002:cb00:7107:0:"))!.local;
      const ping = await reg.execAsync(
        lab.lan,
        ["ping", "-6", "-n", "-c", "3", "-W", "2", "-I", src, "2002:c058:6301::"],
        20_000,
      );
      assert.equal(ping.code, 0, ping.stdout + ping.stderr + diag());
    });

    test("stop: final RA withdraws the default route at once (RFC 4861 §6.2.5)", async () => {
      assert.ok(
        lanDefaultRoute(lab) !== undefined ||
          (await reg.waitFor(() => lanDefaultRoute(lab) !== undefined, 10_000)),
      );
      const p = cpe!;
      await stopCpe();
      // cli/cpe.ts's clean-up finds the TUN address it added (the control plane moved it back).
      assert.doesNotMatch(p.stderr(), /ip -6 addr del .* failed/);
      // At once: the route's own lifetime (1800 s) is far from this bound.
      const gone = await reg.waitFor(() => lanDefaultRoute(lab) === undefined, 15_000, 100);
      assert.ok(gone, "final RA did not remove the default route");
      assert.ok(!existsSync(lab.statusSocket), "status socket removed");
    });

    test("shared-space WAN without PMT information is refused (RFC 6343 §4.1, RFC 6598); an explicit relay with allow_ipv4 allows it", async () => {
      await stopCpe();
      reg.must(["ip", "-n", lab.cpe, "addr", "flush", "dev", "wan0"]);
      reg.must(["ip", "-n", lab.cpe, "addr", "add", "100.64.60.2/24", "dev", "wan0"]);
      cpe = startCpe(lab, ["--health-interval", "3600"]);
      assert.ok(await waitCpeUp(lab, cpe), "cpe did not start" + diag());
      const s = await status(lab);
      assert.equal(s.state, "refused");
      assert.match(s.stateReason ?? "", /100\.64\.60\.2 is shared address space \(RFC 6598\)/);
      assert.equal(s.lanPrefix, null);
      assert.equal(s.wan.ipv4Class, "shared");
      assert.match(
        cpe.stderr(),
        /error .*state starting -> refused: WAN address 100\.64\.60\.2 is shared/,
      );
      await reg.waitFor(() => false, 5000);
      assert.equal(lanDefaultRoute(lab), undefined, "no default route from a refused CPE");
      assert.equal((await status(lab)).ra.routerLifetimeS, 0);
      await stopCpe();
      // Plain 6to4 from shared space: the data plane accepts the own address only with allow_ipv4
      // (without it the state is refused: test/integration/cpe-cgn-wan.test.ts).
      cpe = startCpe(lab, [
        "--health-interval",
        "3600",
        "--relay",
        "198.51.100.2",
        "--allow-ipv4",
        "100.64.0.0/10",
      ]);
      assert.ok(await waitCpeUp(lab, cpe), "cpe did not start" + diag());
      const s2 = await status(lab);
      assert.equal(s2.state, "running", JSON.stringify(s2));
      assert.deepEqual(s2.relays, { value: ["198.51.100.2"], source: "config" });
      assert.equal(s2.lanPrefix, "2002:6440:3c02::/64");
    });
  },
);
