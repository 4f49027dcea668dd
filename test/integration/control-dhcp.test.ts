/**
 * DHCPv4 option 212 (RFC 5969 §7.1.1) with real components (root, network namespaces): dnsmasq
 * (Debian dnsmasq-base) serves OPTION_6RD on the CPE's WAN link, busybox udhcpc (the client OpenWrt
 * uses) runs on the CPE with the lab's script (module/lab/dhcp.ts UDHCPC_SCRIPT), and the daemon picks up the
 * provider prefix and the relay (PMT LAN mode, RFC 6732 §3.3), shows where each value came from,
 * and follows a change of the option. Also RFC 6724 §2.1/§6 rules 5-6: with the translated
 * (non-2002::/16) prefix, `getent ahosts` on the LAN host lists IPv6 first.
 *
 * Topology: test/support/control-lab.ts (WAN address by DHCP).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { UDHCPC_SCRIPT } from "../../module/lab/dhcp.js";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import { waitListening } from "../support/listening.js";
import {
  buildControlLab,
  ISP_CPE_SIDE,
  lanAddresses,
  lanDefaultRoute,
  removeControlLabFiles,
  startCpe,
  startRelay,
  waitCpeUp,
  waitLoops,
  writeLanHosts,
  type ControlLab,
} from "../support/control-lab.js";
import {
  NetnsRegistry,
  netnsSkipReason,
  toolSkipReason,
  type NsProcess,
} from "../support/netns.js";

const skip =
  netnsSkipReason() ??
  toolSkipReason("dnsmasq") ??
  toolSkipReason("busybox") ??
  toolSkipReason("python3");

/** OPTION_6RD payload as dnsmasq hex: IPv4MaskLen, 6rdPrefixLen, 6rdPrefix (16 bytes), BRs. */
function option212(maskLen: number, prefixLen: number, prefix: number[], brs: number[][]): string {
  const bytes = [
    maskLen,
    prefixLen,
    ...prefix,
    ...new Array(16 - prefix.length).fill(0),
    ...brs.flat(),
  ];
  return bytes.map((b) => b.toString(16).padStart(2, "0")).join(":");
}
const DB8 = [0x20, 0x01, 0x0d, 0xb8];

const status = async (lab: ControlLab) =>
  (await queryStatusSocket(lab.statusSocket)) as StatusSnapshot;

describe(
  "DHCPv4 option 212 via dnsmasq + busybox udhcpc (netns)",
  { skip, timeout: 240_000 },
  () => {
    const reg = new NetnsRegistry();
    let lab: ControlLab;
    let dnsmasq: NsProcess | undefined;
    let udhcpc: NsProcess | undefined;
    let cpe: NsProcess | undefined;
    const diag = () =>
      `\n--- cpe ---\n${cpe?.stderr().slice(-3000) ?? ""}\n--- udhcpc ---\n${udhcpc?.stderr() ?? ""}${udhcpc?.stdout() ?? ""}` +
      `\n--- dnsmasq ---\n${dnsmasq?.stderr().slice(-1500) ?? ""}`;

    const startDnsmasq = (opt: string): NsProcess =>
      reg.spawn(lab.isp, [
        "dnsmasq",
        "--no-daemon",
        "--conf-file=/dev/null",
        "--no-ping",
        "--port=0",
        "--interface=cpe0",
        "--bind-interfaces",
        "--dhcp-authoritative",
        `--dhcp-range=192.0.2.1,192.0.2.1,255.255.255.0,600`,
        `--dhcp-option=3,${ISP_CPE_SIDE}`,
        `--dhcp-option=212,${opt}`,
        `--dhcp-leasefile=${join(lab.dir, "dnsmasq.leases")}`,
        `--pid-file=${join(lab.dir, "dnsmasq.pid")}`,
        "--log-dhcp",
      ]);

    before(async () => {
      lab = buildControlLab(reg, { staticWan: false });
      const relay = startRelay(lab, ["--provider-prefix", "2001:db8::/32"]);
      assert.ok(await waitLoops(lab, relay), "relay did not start: " + relay.stderr());
      dnsmasq = startDnsmasq(option212(0, 32, DB8, [[192, 88, 99, 1]]));
      await waitListening(reg, lab.isp, "udp", 67);
      const hook = join(lab.dir, "udhcpc.sh");
      writeFileSync(hook, UDHCPC_SCRIPT, { mode: 0o700 });
      udhcpc = reg.spawn(
        lab.cpe,
        ["busybox", "udhcpc", "-f", "-i", "wan0", "-s", hook, "-O", "212", "-t", "10", "-T", "1"],
        { env: { ...process.env, PMT_DHCP_FILE: lab.leaseFile } },
      );
      const leased = await reg.waitFor(
        () => {
          // The script writes the lease file, then configures the address: wait for both.
          try {
            if (!/ip6rd=0 32 /.test(readFileSync(lab.leaseFile, "utf8"))) return false;
          } catch {
            return false;
          }
          const a = reg.exec(lab.cpe, ["ip", "-4", "-o", "addr", "show", "dev", "wan0"]).stdout;
          return a.includes(" inet 192.0.2.1/");
        },
        20_000,
        200,
      );
      assert.ok(leased, "no lease with option 212 and its address" + diag());
      cpe = startCpe(lab, ["--health-interval", "3600"]);
      assert.ok(await waitCpeUp(lab, cpe), "cpe did not start" + diag());
    });

    after(async () => {
      try {
        for (const p of [cpe, udhcpc, dnsmasq]) if (p) await reg.stop(p, 5000);
      } finally {
        await reg.cleanup();
        removeControlLabFiles(lab);
      }
    });

    test("the hook configured the leased WAN address and wrote the option", () => {
      const lease = readFileSync(lab.leaseFile, "utf8");
      assert.match(lease, /^interface=wan0$/m);
      assert.match(lease, /^ip=192\.0\.2\.1$/m);
      // busybox prints the prefix uncompressed: "0 32 2001:0db8:0000:... 192.88.99.1".
      assert.match(lease, /^ip6rd=0 32 2001:0?db8:[0:]+ 192\.88\.99\.1$/m);
      const addrs = reg.exec(lab.cpe, ["ip", "-4", "-o", "addr", "show", "dev", "wan0"]).stdout;
      assert.match(addrs, /inet 192\.0\.2\.1\/24/);
    });

    test("daemon takes provider prefix and relay from DHCP (status shows the sources)", async () => {
      // Until the daemon applied the lease (bounded wait).
      let s = await status(lab);
      for (const deadline = Date.now() + 15_000; Date.now() < deadline;) {
        if (s.state === "running" && s.providerPrefix.source === "dhcp") break;
        await new Promise((r) => setTimeout(r, 100));
        s = await status(lab);
      }
      assert.equal(s.state, "running", JSON.stringify(s) + diag());
      assert.deepEqual(s.providerPrefix, { value: "2001:db8::/32", source: "dhcp" });
      assert.deepEqual(s.relays, { value: ["192.88.99.1"], source: "dhcp" });
      assert.deepEqual(s.ipv4PrefixLen, { value: 0, source: "dhcp" });
      assert.equal(s.translatedPrefix, "2001:db8:c000:201::/64");
      assert.equal(s.lanPrefix, "2001:db8:c000:201::/64");
      assert.equal(s.dhcp.option6rd, "2001:db8::/32 mask 0 relays 192.88.99.1");
    });

    test("LAN host forms an address in the translated provider /64", async () => {
      const ok = await reg.waitFor(
        () =>
          lanAddresses(lab).some((a) => a.local.startsWith("2001:db8:c000:201:")) &&
          lanDefaultRoute(lab) !== undefined,
        20_000,
        200,
      );
      assert.ok(ok, JSON.stringify(lanAddresses(lab)) + diag());
    });

    test("getent ahosts lists IPv6 first with the translated prefix (RFC 6724 rules 5, 6)", () => {
      writeLanHosts(lab, ["192.0.2.80 dual.example", "3fff:100::80 dual.example"]);
      const r = reg.exec(lab.lan, ["getent", "ahosts", "dual.example"]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout.split("\n")[0] ?? "", /^3fff:100::80\s/, r.stdout);
    });

    test("a changed option 212 is followed (renew): new relay in use", async () => {
      await reg.stop(dnsmasq!, 5000);
      dnsmasq = startDnsmasq(option212(0, 32, DB8, [[198, 51, 100, 2]]));
      await waitListening(reg, lab.isp, "udp", 67);
      reg.kill(udhcpc!, "SIGUSR1"); // busybox udhcpc: renew now
      let s: StatusSnapshot | undefined;
      let ok = false;
      for (const deadline = Date.now() + 20_000; Date.now() < deadline && !ok;) {
        await new Promise((r) => setTimeout(r, 250));
        s = await status(lab);
        ok = s.relays.value[0] === "198.51.100.2";
      }
      assert.ok(ok, JSON.stringify(s?.relays) + diag());
      assert.equal(s!.relays.source, "dhcp");
      assert.equal(s!.relayInUse, "198.51.100.2");
      assert.equal(s!.health.target, "2002:c633:6402::");
      assert.match(
        cpe!.stderr(),
        /dhcp option 212 2001:db8::\/32 mask 0 relays 192\.88\.99\.1 -> 2001:db8::\/32 mask 0 relays 198\.51\.100\.2/,
      );
    });

    /**
     * Serves `opt` from a fresh dnsmasq, makes udhcpc renew, and polls status until `done` holds
     * (bounded); returns the last status.
     */
    const renewWith = async (
      opt: string,
      done: (s: StatusSnapshot) => boolean,
    ): Promise<StatusSnapshot | undefined> => {
      await reg.stop(dnsmasq!, 5000);
      dnsmasq = startDnsmasq(opt);
      await waitListening(reg, lab.isp, "udp", 67);
      reg.kill(udhcpc!, "SIGUSR1"); // busybox udhcpc: renew now
      let s: StatusSnapshot | undefined;
      for (const deadline = Date.now() + 20_000; Date.now() < deadline;) {
        await new Promise((r) => setTimeout(r, 250));
        s = await status(lab);
        if (done(s)) break;
      }
      return s;
    };

    // RFC 5969 §7.1.1 + RFC 3964 §5.3.1: the server is not trusted; BR addresses that are not
    // unicast, too many of them, or our own WAN address refuse the option (as if absent).
    const badBrLists: Array<[string, number[][], RegExp]> = [
      ["limited broadcast", [[255, 255, 255, 255]], /BR address 255\.255\.255\.255 is broadcast/],
      [
        "multicast after a good BR",
        [
          [198, 51, 100, 2],
          [224, 0, 0, 1],
        ],
        /224\.0\.0\.1 is multicast/,
      ],
      ["the CPE's own WAN address", [[192, 0, 2, 1]], /192\.0\.2\.1 is this CPE's own WAN address/],
      [
        "nine BRs",
        Array.from({ length: 9 }, (_, i) => [198, 51, 100, 10 + i]),
        /9 BR addresses, more than 8/,
      ],
    ];
    for (const [name, brs, reason] of badBrLists) {
      test(`option 212 with a bad BR list (${name}) is refused, reason in status, daemon runs`, async () => {
        // A good option first, so the refusal is seen as a change away from it.
        const good = await renewWith(
          option212(0, 32, DB8, [[198, 51, 100, 2]]),
          (s) => s.relays.source === "dhcp" && s.dhcp.error === null,
        );
        assert.equal(good?.relays.source, "dhcp", JSON.stringify(good?.dhcp) + diag());
        const s = await renewWith(option212(0, 32, DB8, brs), (x) => x.dhcp.error !== null);
        assert.ok(s, "no status" + diag());
        assert.match(s.dhcp.error ?? "", reason, JSON.stringify(s.dhcp) + diag());
        assert.equal(s.dhcp.option6rd, null);
        // Refused as a whole: relay and provider prefix fall back to the configuration/defaults.
        assert.deepEqual(s.relays, { value: ["192.88.99.1"], source: "default" });
        assert.equal(s.providerPrefix.source, "none");
        assert.equal(s.relayInUse, "192.88.99.1");
        assert.equal(s.state, "running", JSON.stringify(s) + diag());
        assert.equal(cpe!.hasExited(), false, diag());
        assert.match(
          cpe!.stderr(),
          new RegExp(`dhcp option 212 ignored: OPTION_6RD: .*${reason.source}`),
        );
      });
    }
  },
);
