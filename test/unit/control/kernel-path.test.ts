// control/kernel-path.ts: the kernel data plane follows the control plane's snapshots with `ip`
// and `nft` commands, in order (fake runner): sit device, routes via ::RELAY, nft tables
// replaced on a WAN change with its counts kept, everything withdrawn when forwarding stops and
// removed at stop. Real kernel: test/integration/cpe-kernel-nft.test.ts (nft), cpe-kernel-path
// (sit, VM).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import { KernelPath, probeKernelPath } from "../../../module/control/kernel-path.js";
import type { CommandRunner } from "../../../module/control/wan-watcher.js";
import {
  CPE_FORWARDING_DISABLED,
  createCpeForwardingState,
} from "../../../module/dataplane/forwarding-state.js";
import { silentLogger } from "../../../module/log/logger.js";

class Runner implements CommandRunner {
  readonly log: string[] = [];
  /** nft -f files as they were when run. */
  readonly nftFiles: string[] = [];
  /** A command starting with this fails. */
  failing: string | null = null;
  run(argv: readonly string[]) {
    const line = argv.join(" ");
    if (argv[0] === "nft" && argv[1] === "-f") {
      this.nftFiles.push(readFileSync(argv[2]!, "utf8"));
      this.log.push("nft -f FILE");
    } else {
      this.log.push(line);
    }
    const fail = this.failing !== null && line.startsWith(this.failing);
    return Promise.resolve({ code: fail ? 1 : 0, stdout: "", stderr: fail ? "Error: nope\n" : "" });
  }
  spawnLines(): never {
    throw new Error("not used");
  }
}

const state = (wan: string, relay = "192.88.99.1") =>
  createCpeForwardingState({
    ownIpv4: parseIpv4(wan)!,
    relays: [parseIpv4(relay)!],
    allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!],
    mapping: createPmtMapping({ providerPrefix: parseIpv6Prefix("2001:db8::/32")! }),
  });

function setup() {
  const runner = new Runner();
  let counts: Record<string, number> = {};
  let sitTx = 0;
  const syncLog: string[] = [];
  const kp = new KernelPath({
    device: "6to4pmt0",
    defaultRoute: parseIpv6Prefix("::/0")!,
    runner,
    runSync: (argv) => {
      syncLog.push(argv.join(" "));
      if (argv[0] === "ip") {
        // The sit's own counts: what it sent is out_packets.
        const stats64 = { rx: { packets: 0, errors: 0 }, tx: { packets: sitTx } };
        return { code: 0, stdout: JSON.stringify([{ ifname: "6to4pmt0", stats64 }]) };
      }
      const nftables = Object.entries(counts).map(([name, packets]) => ({
        counter: { family: "ip6", table: "sixto4pmt", name, packets, bytes: 0 },
      }));
      return { code: 0, stdout: JSON.stringify({ nftables }) };
    },
    log: silentLogger,
  });
  return {
    runner,
    kp,
    syncLog,
    setCounts: (c: Record<string, number>) => (counts = c),
    setSitTx: (n: number) => (sitTx = n),
  };
}

test("create: a sit device without an address of its own, not up yet", async () => {
  const { runner, kp } = setup();
  assert.equal(await kp.create(), null);
  assert.deepEqual(runner.log, [
    "ip link add name 6to4pmt0 type sit local 0.0.0.1 remote any ttl 64",
    "ip link set dev 6to4pmt0 addrgenmode none",
    "sysctl -qw net.ipv6.conf.6to4pmt0.accept_ra=0",
    "sysctl -qw net.ipv6.conf.6to4pmt0.router_solicitations=0",
    "sysctl -qw net.ipv6.conf.6to4pmt0.autoconf=0",
  ]);
  runner.failing = "ip link add";
  assert.equal(await kp.create(), "Error: nope");
  runner.failing = null;
  runner.run = (argv) => {
    runner.log.push(argv.join(" "));
    return Promise.resolve({ code: 2, stdout: "", stderr: "RTNETLINK answers: File exists\n" });
  };
  assert.match((await kp.create()) ?? "", /File exists: a device 6to4pmt0 exists already/);
});

test("snapshots: sit local, routes, table; WAN change replaces; disabled withdraws; stop removes", async () => {
  const { runner, kp, setCounts, setSitTx } = setup();
  kp.setForwardingState(state("100.64.0.2"));
  await kp.settled();
  assert.deepEqual(runner.log, [
    "ip tunnel change 6to4pmt0 mode sit local 100.64.0.2 remote any ttl 64",
    "nft -f FILE",
    "ip link set dev 6to4pmt0 mtu 1480 up",
    "ip -6 route replace ::/0 via ::192.88.99.1 dev 6to4pmt0 onlink",
    "ip -6 route replace 2002::/16 dev 6to4pmt0",
  ]);
  assert.match(runner.nftFiles[0]!, /snat ip6 prefix to 2002:6440:2::\/64/);
  assert.equal(kp.ruleset(), runner.nftFiles[0]);
  assert.equal(kp.error(), null);

  // The same snapshot again: the table stays (no nft run).
  runner.log.length = 0;
  kp.setForwardingState(state("100.64.0.2"));
  await kp.settled();
  assert.ok(!runner.log.includes("nft -f FILE"));

  // Counts of the table in place, then a WAN change: a new local, a new table, counts kept.
  setCounts({ drop_native_to_native: 5 });
  setSitTx(9);
  assert.equal(kp.counters().drops.native_to_native, 5);
  runner.log.length = 0;
  kp.setForwardingState(state("100.64.0.3"));
  await kp.settled();
  assert.equal(
    runner.log[0],
    "ip tunnel change 6to4pmt0 mode sit local 100.64.0.3 remote any ttl 64",
  );
  assert.ok(runner.log.includes("nft -f FILE"));
  assert.match(runner.nftFiles[1]!, /snat ip6 prefix to 2002:6440:3::\/64/);
  setCounts({ drop_native_to_native: 2 });
  await new Promise((r) => setTimeout(r, 250)); // past the counters cache
  assert.equal(kp.counters().drops.native_to_native, 7);
  assert.equal(kp.counters().traffic.out_packets, 9);

  // No WAN: routes and table withdrawn, the device stays (its addresses with it).
  runner.log.length = 0;
  kp.setForwardingState(CPE_FORWARDING_DISABLED);
  await kp.settled();
  assert.deepEqual(runner.log, [
    "ip -6 route del ::/0 via ::192.88.99.1 dev 6to4pmt0 onlink",
    "ip -6 route del 2002::/16 dev 6to4pmt0",
    "nft -f FILE",
  ]);
  assert.equal(
    runner.nftFiles[2],
    "table ip sixto4pmt\ndelete table ip sixto4pmt\ntable ip6 sixto4pmt\ndelete table ip6 sixto4pmt\n",
  );
  // The removed table's counts stay in the sum.
  assert.equal(kp.counters().drops.native_to_native, 7);

  runner.log.length = 0;
  await kp.stop();
  assert.deepEqual(runner.log, ["ip link del 6to4pmt0"]);
  await kp.stop();
  kp.setForwardingState(state("100.64.0.2"));
  await kp.settled();
  assert.deepEqual(runner.log, ["ip link del 6to4pmt0"]);
});

test("a relay switch moves the default route's next hop only", async () => {
  const { runner, kp } = setup();
  kp.setForwardingState(state("100.64.0.2"));
  await kp.settled();
  runner.log.length = 0;
  kp.setForwardingState(state("100.64.0.2", "192.0.2.7"));
  await kp.settled();
  assert.ok(runner.log.includes("ip -6 route replace ::/0 via ::192.0.2.7 dev 6to4pmt0 onlink"));
  assert.ok(!runner.log.some((l) => l.startsWith("ip tunnel") || l.includes("route del")));
  await kp.stop();
});

test("an nft failure is reported (status) and leaves the previous state", async () => {
  const { runner, kp } = setup();
  runner.failing = "nft";
  kp.setForwardingState(state("100.64.0.2"));
  await kp.settled();
  assert.match(kp.error() ?? "", /nft -f \(tables ip\/ip6 sixto4pmt\): Error: nope/);
  assert.equal(kp.ruleset(), null);
  await kp.stop();
});

test("probe: both parts asked, scratch objects undone, the reason names what is missing", async () => {
  const runner = new Runner();
  assert.deepEqual(await probeKernelPath(runner, "pmtprobe1"), {
    ok: true,
    reason: "the kernel has sit and nft prefix NAT",
  });
  assert.match(runner.nftFiles[0]!, /snat ip6 prefix to[^]*delete table ip6 sixto4pmt_probe_/);
  assert.ok(runner.log.includes("ip link del pmtprobe1"));
  runner.failing = "ip link add";
  const p = await probeKernelPath(runner, "pmtprobe1");
  assert.equal(p.ok, false);
  assert.equal(p.reason, "the kernel has no sit tunnel (ip link add type sit: Error: nope)");
});
