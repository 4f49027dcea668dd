/**
 * The kernel data plane's nft table on this host (root, network namespaces), without sit (this
 * kernel has none; test/integration/cpe-kernel-path.test.ts runs sit in a VM). A veth named like
 * the sit device stands in for its IPv6 side:
 *
 *   lan (2001:db8:6440:2::100) -- cpe [wan0 100.64.0.2, "6to4pmt0" veth] == isp
 *
 * The tables (dataplane/kernel-ruleset.ts, applied with control/kernel-path.ts nftApply) must:
 * translate the mapped provider /64 <-> 2002:6440:2::/64 both ways with conntrack (LAN ping out,
 * unsolicited ping in), leave unmapped sources untranslated (dropped as native_to_native, as the
 * userspace path does), drop the hostile protocol-41 and decapsulated cases under their userspace
 * names (counters read with `nft -j`; traffic from the stand-in's own counts, as from sit's),
 * be replaced atomically and removed without touching a
 * stand-in fw4 table; and the probe must answer "userspace" here, leaving nothing behind.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { parseIpv4, parseIpv4Prefix } from "../../module/addr/ipv4.js";
import { parseIpv6Prefix } from "../../module/addr/ipv6.js";
import { createPmtMapping } from "../../module/addr/pmt-mapping.js";
import { nftApply, kernelInput, probeKernelPath } from "../../module/control/kernel-path.js";
import type { CommandRunner } from "../../module/control/wan-watcher.js";
import { createCpeForwardingState } from "../../module/dataplane/forwarding-state.js";
import {
  NFT_COUNTERS_ARGV,
  kernelCounters,
  kernelRuleset,
  kernelRulesetRemoval,
  parseNftCounters,
  parseSitStats,
  sitStatsArgv,
} from "../../module/dataplane/kernel-ruleset.js";
import { echo, encap } from "../support/attack-cases.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";

const skip = netnsSkipReason() ?? toolSkipReason("nft") ?? toolSkipReason("python3");

/**
 * Counters the stand-in moves on its own: the CPE's own MLD reports into it
 * (link_scope_multicast), and 6to4_src_spoofed, which is the sit's own count.
 */
const QUIETLESS = new Set(["link_scope_multicast", "6to4_src_spoofed"]);

/** The LAN host's address in the mapped provider /64. */
const MAPPED = "2001:db8:6440:2::100";

const QUIET = `table inet quiet {
\tchain out {
\t\ttype filter hook output priority filter; policy accept;
\t\tip6 daddr ff00::/8 drop
\t}
}
`;

const FW4 = `table inet fw4 {
\tcounter fw4_seen {
\t}
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t\tmeta l4proto ipv6-icmp counter name "fw4_seen"
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tct state established,related accept
\t}
\tchain srcnat {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t}
}
`;

describe("kernel data plane: the nft table (host, veth stand-in for sit)", { skip }, () => {
  const reg = new NetnsRegistry();
  let cpe: string;
  let isp: string;
  let lan: string;
  let runner: CommandRunner;

  const state = createCpeForwardingState({
    ownIpv4: parseIpv4("100.64.0.2")!,
    allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
    mapping: createPmtMapping({ providerPrefix: parseIpv6Prefix("2001:db8::/32")! }),
  });
  const input = kernelInput("6to4pmt0", parseIpv6Prefix("::/0")!, state);
  const nft = (ns: string, args: string[]): string =>
    reg.must(["ip", "netns", "exec", ns, "nft", ...args]);
  // Read as the daemon reads them: every named counter (ours picked by table), and the counts of
  // the device in the sit's place.
  const counters = (): Record<string, number> => {
    const raw = parseNftCounters(
      reg.must(["ip", "netns", "exec", cpe, ...NFT_COUNTERS_ARGV]),
      "sixto4pmt",
    );
    const sit = parseSitStats(reg.must(["ip", "-n", cpe, ...sitStatsArgv("6to4pmt0").slice(1)]));
    const c = kernelCounters(raw, sit);
    return { ...c.drops, ...c.traffic };
  };
  const ping = (ns: string, args: string[]) =>
    reg.exec(ns, ["ping", "-6", "-n", "-c", "1", "-W", "3", ...args], 10_000);

  before(() => {
    cpe = reg.createNamespace("cpe", { forwarding: true });
    isp = reg.createNamespace("isp", { forwarding: true });
    lan = reg.createNamespace("lan");
    reg.veth(cpe, "wan0", isp, "cpe0");
    reg.addr(cpe, "wan0", "100.64.0.2/24");
    reg.addr(isp, "cpe0", "100.64.0.1/24");
    // The sit's IPv6 side: what leaves into it and what it delivers.
    reg.veth(cpe, "6to4pmt0", isp, "sitpeer");
    reg.addr(cpe, "6to4pmt0", "3fff:ffff::1/64");
    reg.addr(isp, "sitpeer", "3fff:ffff::2/64");
    reg.veth(cpe, "lan0", lan, "eth0");
    reg.addr(cpe, "lan0", "2001:db8:6440:2::1/64");
    reg.addr(cpe, "lan0", "2001:db8:6440:99::1/64");
    reg.addr(lan, "eth0", "2001:db8:6440:2::100/64");
    reg.addr(lan, "eth0", "2001:db8:6440:99::100/64");
    // sit has no neighbour discovery: static neighbours keep ND off the stand-in.
    const macCpe = linkMac(reg, cpe, "6to4pmt0");
    const macIsp = linkMac(reg, isp, "sitpeer");
    reg.must([
      "ip",
      "-n",
      cpe,
      "neigh",
      "add",
      "3fff:ffff::2",
      "lladdr",
      macIsp,
      "dev",
      "6to4pmt0",
    ]);
    reg.must(["ip", "-n", isp, "neigh", "add", "3fff:ffff::1", "lladdr", macCpe, "dev", "sitpeer"]);
    // ... and no multicast from the far side of the stand-in (MLD reports, RS): a sit delivers
    // only what came in protocol 41, which decap4 checks.
    reg.must(["sh", "-c", `ip netns exec ${isp} nft -f - <<'EOF'\n${QUIET}EOF`]);
    reg.route(lan, "default via 2001:db8:6440:2::1");
    reg.route(cpe, "default via 3fff:ffff::2 dev 6to4pmt0");
    // The far side knows the CPE only by its 6to4 prefix: replies reach the LAN only translated.
    reg.addr(isp, "lo", "3fff:100::1/128");
    reg.addr(isp, "lo", "2002:6440:9::1/128");
    reg.route(isp, "2002:6440:2::/48 via 3fff:ffff::1");
    reg.route(isp, "3fff:100::5/128 via 3fff:ffff::1");
    runner = {
      run: async (argv, timeoutMs) => reg.execAsync(cpe, argv, timeoutMs),
      spawnLines: () => {
        throw new Error("not used");
      },
    };
    assert.equal(nft(cpe, ["list", "tables"]).trim(), "");
    reg.must(["sh", "-c", `ip netns exec ${cpe} nft -f - <<'EOF'\n${FW4}EOF`]);
  });
  after(async () => {
    await reg.cleanup();
  });

  test("applies in one transaction, twice, with fw4's table untouched", async () => {
    const fw4Before = nft(cpe, ["list", "table", "inet", "fw4"]);
    assert.equal(await nftApply(runner, kernelRuleset(input)), null);
    assert.equal(await nftApply(runner, kernelRuleset(input)), null);
    const tables = nft(cpe, ["list", "tables"]).trim().split("\n").sort();
    assert.deepEqual(tables, ["table inet fw4", "table ip sixto4pmt", "table ip6 sixto4pmt"]);
    assert.equal(nft(cpe, ["list", "table", "inet", "fw4"]), fw4Before);
    const c = counters();
    for (const name of ["native_to_native", "6to4_dst_mismatch", "ipv4_src_invalid"]) {
      assert.equal(c[name], 0, name);
    }
  });

  test("LAN ping out: source translated to 2002:6440:2::/64, reply translated back", () => {
    const before = counters();
    const r = ping(lan, ["-I", MAPPED, "3fff:100::1"]);
    assert.equal(r.code, 0, r.stdout + JSON.stringify(counters()));
    const c = counters();
    assert.ok(c.out_packets! >= before.out_packets! + 1);
    assert.ok(c.in_packets! >= before.in_packets! + 1);
    const ct = reg.exec(cpe, ["cat", "/proc/net/nf_conntrack"]).stdout;
    if (ct !== "") assert.match(ct, /dst=2002:6440:0002:0000:0000:0000:0000:0100/);
  });

  test("unsolicited ping in to the 6to4 form reaches the LAN host (dnat prefix)", () => {
    const r = ping(isp, ["-I", "3fff:100::1", "2002:6440:2::100"]);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /from 2002:6440:2::100/);
  });

  test("an unmapped LAN /64 is not translated: native to native, dropped by name", () => {
    const before = counters();
    const r = ping(lan, ["-I", "2001:db8:6440:99::100", "3fff:100::1"]);
    assert.notEqual(r.code, 0);
    assert.equal(counters().native_to_native, before.native_to_native! + 1);
  });

  test("encapsulation: a 2002 destination with a private V4ADDR is dropped by name", () => {
    reg.route(cpe, "2002::/16 via 3fff:ffff::2 dev 6to4pmt0");
    const before = counters();
    assert.notEqual(ping(lan, ["-I", MAPPED, "2002:c0a8:1::1"]).code, 0);
    const c = counters();
    assert.equal(c.ipv6_dst_6to4_invalid_ipv4, before.ipv6_dst_6to4_invalid_ipv4! + 1);
    // And to our own 6to4 prefix through the tunnel: never to ourselves (RFC 3964 §5.1).
    assert.notEqual(ping(lan, ["-I", MAPPED, "2002:6440:2:5::1"]).code, 0);
    assert.equal(counters().encap_dst_invalid, before.encap_dst_invalid! + 1);
  });

  test("decapsulated side: a destination outside 2002:6440:2::/48 is not relayed", () => {
    const before = counters();
    assert.notEqual(ping(isp, ["-I", "2002:6440:9::1", "3fff:100::5"]).code, 0);
    assert.equal(counters().dst_not_own_prefix, before.dst_not_own_prefix! + 1);
  });

  test("protocol 41 to the WAN address: hostile cases counted under the userspace names", async () => {
    const mac = linkMac(reg, cpe, "wan0");
    const own = "100.64.0.2";
    const cases: [string, Buffer][] = [
      [
        "native_src_not_from_relay",
        encap(echo("3fff:300::1", "2002:6440:2::100"), "100.64.0.9", own),
      ],
      ["6to4_dst_mismatch", encap(echo("2002:6440:9::1", "2002:6440:3::100"), "100.64.0.9", own)],
      ["ipv4_src_invalid", encap(echo("2002:a00:1::1", "2002:6440:2::100"), "10.0.0.1", own)],
      [
        "ipv6_src_6to4_invalid_ipv4",
        encap(echo("2002:c0a8:1::1", "2002:6440:2::100"), "100.64.0.9", own),
      ],
      ["ipv6_src_invalid", encap(echo("fe80::1", "2002:6440:2::100"), "100.64.0.9", own)],
      ["ipv6_dst_invalid", encap(echo("2002:6440:9::1", "ff02::1"), "100.64.0.9", own)],
    ];
    for (const [name, packet] of cases) {
      const before = counters();
      await injectIpv4(reg, isp, "cpe0", mac, [packet, packet, packet]);
      const c = counters();
      assert.equal(c[name], before[name]! + 3, name);
      for (const other of Object.keys(c)) {
        if (other !== name && !other.endsWith("_packets") && !QUIETLESS.has(other)) {
          assert.equal(c[other], before[other], `${name}: ${other} moved too`);
        }
      }
    }
    // Good packets pass every check (each chain's first rule): the native source from the
    // anycast relay, and a 6to4 peer in shared space (allow_ipv4 100.64.0.0/10).
    const before = counters();
    await injectIpv4(reg, isp, "cpe0", mac, [
      encap(echo("3fff:300::1", "2002:6440:2::100"), "192.88.99.1", own),
      encap(echo("2002:6440:9::1", "2002:6440:2::100"), "100.64.0.9", own),
    ]);
    const c = counters();
    for (const k of Object.keys(c)) {
      if (!k.endsWith("_packets") && !QUIETLESS.has(k)) assert.equal(c[k], before[k], k);
    }
  });

  test("removal deletes only our tables; fw4's stays as it was", async () => {
    const fw4Before = nft(cpe, ["list", "table", "inet", "fw4"]);
    assert.equal(await nftApply(runner, kernelRulesetRemoval()), null);
    assert.deepEqual(nft(cpe, ["list", "tables"]).trim().split("\n"), ["table inet fw4"]);
    assert.equal(nft(cpe, ["list", "table", "inet", "fw4"]), fw4Before);
  });

  test("the probe says userspace on this kernel (no sit) and leaves nothing behind", async () => {
    const p = await probeKernelPath(runner, "pmtprobe0");
    const hasSit =
      reg.exec(cpe, ["ip", "link", "add", "name", "sitcheck", "type", "sit"]).code === 0;
    if (hasSit) {
      reg.exec(cpe, ["ip", "link", "del", "sitcheck"]);
      assert.equal(p.ok, true, p.reason);
    } else {
      assert.equal(p.ok, false);
      assert.match(p.reason, /no sit tunnel/);
      assert.doesNotMatch(p.reason, /prefix NAT/);
    }
    assert.deepEqual(nft(cpe, ["list", "tables"]).trim().split("\n"), ["table inet fw4"]);
    assert.equal(reg.exec(cpe, ["ip", "link", "show", "pmtprobe0"]).code === 0, false);
  });
});
