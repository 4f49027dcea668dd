/**
 * A relay fleet behind anycast on BIRD 2 (root, network namespaces; module/lab/fleet.ts):
 * RFC 3068 §4.2 (relays inject the anycast route into the IGP), §4.4 (a relay whose relay function
 * is not operational stops injecting it immediately), RFC 6732 §3.4 (N stateless relays) and §4.7
 * (the provider prefix and 2002::/16 announced toward the IPv6 side).
 *
 *   cpeA, cpeB ==+                       +== relay1 (BIRD, daemon) ==+
 *   cpeC, cpeD ==+== rtr (BIRD, OSPF ECMP)+== relay2 (BIRD, daemon) ==+== srv (BIRD, OSPFv3 ECMP)
 *
 * The CPEs are picked so rtr's L3 hash sends two to each relay (`ip route get` on rtr). Each
 * relay's daemon routes 192.88.99.1/32, 2001:db8::/32 and 2002::/16 into its TUN with kernel
 * protocol 41 while its upstream 3fff:100::1 answers; BIRD learns them and OSPF announces them.
 * Checked: the spread (exact per-relay packet counts), SIGKILL of relay1's daemon mid-iperf3
 * (withdrawn within seconds, the TCP transfer completes, relay1's CPEs counted on relay2), relay1
 * back (used again), relay2's upstream link down (withdrawn, metrics say so), and back.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  FLEET_SERVER,
  addFleetCpe,
  anycastNextHops,
  buildFleet,
  pickCpeIndices,
  startFleetCpe,
  startFleetRelay,
  waitAnycastNextHops,
  waitReturnNextHops,
  type Fleet,
  type FleetCpe,
  type FleetRelay,
} from "../../module/lab/fleet.js";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { daemonCommand, fetchMetrics, readCounters } from "../support/dataplane-harness.js";
import { startIperfServer } from "../support/iperf.js";

const skip = netnsSkipReason() ?? toolSkipReason("bird") ?? toolSkipReason("iperf3");
const PINGS = 5;
const METRICS_PORT = 9641;

describe("relay fleet behind anycast on BIRD", { skip, timeout: 240_000 }, () => {
  const reg = new NetnsRegistry();
  const command = daemonCommand();
  let f: Fleet;
  /** CPEs by the relay (index 0, 1) rtr's hash sends them to. */
  const cpesOf: FleetCpe[][] = [[], []];
  let r1: FleetRelay;
  let r2: FleetRelay;

  before(async () => {
    f = buildFleet(reg, 2);
    [r1, r2] = [f.relays[0]!, f.relays[1]!];
    for (const r of f.relays) {
      await startFleetRelay(f, r, command, ["--metrics-port", String(METRICS_PORT)]);
    }
    const both = [r1.unicast, r2.unicast];
    assert.notEqual(await waitAnycastNextHops(f, both), null, `ECMP: ${anycastNextHops(f)}`);
    assert.ok(await waitReturnNextHops(f, [1, 2]), "srv routes the return path over both");
    const picks = pickCpeIndices(f, 2);
    for (const [i, r] of f.relays.entries()) {
      const idx = picks.get(r.unicast)!;
      assert.equal(idx.length, 2, `two CPE addresses hash to ${r.ns}`);
      for (const n of idx) {
        const c = addFleetCpe(f, n);
        // One health probe at start, then none for an hour: the counts below are exact.
        await startFleetCpe(f, c, command, ["--health-interval", "3600"]);
        cpesOf[i]!.push(c);
      }
    }
  });

  after(async () => {
    await reg.cleanup();
  });

  /** Pings the server PINGS times from each of `cpes` (all must answer). */
  async function pingFrom(cpes: readonly FleetCpe[]): Promise<void> {
    for (const c of cpes) {
      const r = await reg.execAsync(
        c.lanNs,
        ["ping", "-6", "-c", String(PINGS), "-i", "0.2", "-W", "2", FLEET_SERVER],
        20_000,
      );
      assert.equal(r.code, 0, `ping from ${c.lanNs}: ${r.stdout}${r.stderr}`);
    }
  }

  /** Protocol-41 packets each relay received while `fn` ran (its in_packets delta). */
  async function inDeltas(relays: readonly FleetRelay[], fn: () => Promise<void>) {
    const before = await Promise.all(relays.map((r) => readCounters(reg, r.daemon!)));
    await fn();
    const afterC = await Promise.all(relays.map((r) => readCounters(reg, r.daemon!)));
    return afterC.map((c, i) => c.traffic.in_packets! - before[i]!.traffic.in_packets!);
  }

  const metrics = (r: FleetRelay): Promise<string> => fetchMetrics(reg, r.ns, METRICS_PORT);

  /** Waits until the relays received each CPE's one start-up health probe (bounded). */
  async function settled(): Promise<void> {
    const n = cpesOf.flat().length;
    const deadline = Date.now() + 10_000;
    while (Date.now() < deadline) {
      const c = await Promise.all([r1, r2].map((r) => readCounters(reg, r.daemon!)));
      if (c[0]!.traffic.in_packets! + c[1]!.traffic.in_packets! >= n) return;
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  test("CPEs spread over both relays: exact per-relay counts", async () => {
    await settled();
    const d = await inDeltas([r1, r2], () => pingFrom(cpesOf.flat()));
    assert.deepEqual(d, [2 * PINGS, 2 * PINGS], "each relay carried exactly its two CPEs");
    // Announcing changes routes after the privilege drop: it keeps what that needs, no more.
    assert.match(r1.daemon!.stderr(), /privileges: .*capabilities cap_net_admin,cap_net_raw, /);
    const m = await metrics(r1);
    assert.match(m, /^sixto4pmt_relay_announced 1$/m);
    assert.match(m, /^sixto4pmt_relay_upstream_up 1$/m);
  });

  test("relay1's daemon killed mid-transfer: withdrawn, TCP continues via relay2", async () => {
    const c = cpesOf[0]![0]!;
    const srv = await startIperfServer(reg, f.srv, FLEET_SERVER, 5201);
    const client = reg.execAsync(
      c.lanNs,
      ["iperf3", "-6", "-c", FLEET_SERVER, "-p", "5201", "-t", "8", "-b", "20M", "-J"],
      40_000,
    );
    // Mid-transfer: once relay1 carried some of it (bounded wait).
    const started = await reg.waitFor(
      () => reg.exec(c.lanNs, ["ss", "-Htn", "state", "established"]).stdout.includes(":5201"),
      10_000,
    );
    assert.ok(started, "iperf3 connected");
    await new Promise((r) => setTimeout(r, 1500));
    const t0 = Date.now();
    reg.kill(r1.daemon!, "SIGKILL");
    const ms = await waitAnycastNextHops(f, [r2.unicast], 20_000);
    assert.notEqual(ms, null, `rtr still routes to relay1: ${anycastNextHops(f)}`);
    const returnOk = await waitReturnNextHops(f, [2], 20_000);
    process.stdout.write(
      `# relay1 SIGKILL -> rtr withdrew it after ${Date.now() - t0} ms ` +
        `(TUN gone -> BIRD kernel learn -> OSPF flush); srv return path moved: ${returnOk}\n`,
    );
    assert.ok(returnOk, "srv withdrew relay1 from the return path");
    const r = await client;
    await reg.waitFor(() => srv.hasExited(), 10_000);
    assert.equal(r.code, 0, `iperf3: ${r.stderr}${r.stdout.slice(-1500)}`);
    const j = JSON.parse(r.stdout) as {
      end: { sum_sent: { bytes: number }; sum_received: { bytes: number } };
    };
    assert.ok(j.end.sum_received.bytes > 1_000_000, `received ${j.end.sum_received.bytes}`);
    assert.equal(j.end.sum_received.bytes, j.end.sum_sent.bytes, "every byte sent arrived");
    const d = await inDeltas([r2], () => pingFrom(cpesOf[0]!));
    assert.deepEqual(d, [2 * PINGS], "relay1's CPEs now go through relay2");
  });

  test("relay1 back: announced again and carries its CPEs again", async () => {
    const t0 = Date.now();
    await startFleetRelay(f, r1, command, ["--metrics-port", String(METRICS_PORT)]);
    const ms = await waitAnycastNextHops(f, [r1.unicast, r2.unicast], 30_000);
    assert.notEqual(ms, null, `rtr: ${anycastNextHops(f)}`);
    assert.ok(await waitReturnNextHops(f, [1, 2], 30_000), "srv routes over both again");
    process.stdout.write(`# relay1 restarted -> in rtr's ECMP route after ${Date.now() - t0} ms\n`);
    const d = await inDeltas([r1, r2], () => pingFrom(cpesOf[0]!));
    assert.deepEqual(d, [2 * PINGS, 0], "relay1's CPEs are back on relay1");
  });

  test("relay2's IPv6 upstream cut: it withdraws; its CPEs move to relay1; back after", async () => {
    const t0 = Date.now();
    reg.must(["ip", "-n", r2.ns, "link", "set", r2.upstreamIf, "down"]);
    const ms = await waitAnycastNextHops(f, [r1.unicast], 20_000);
    assert.notEqual(ms, null, `rtr still routes to relay2: ${anycastNextHops(f)}`);
    process.stdout.write(
      `# relay2 upstream down -> rtr withdrew it after ${Date.now() - t0} ms ` +
        `(health 1 s x 2 failures + OSPF)\n`,
    );
    assert.match(r2.daemon!.stderr(), /withdrawn \(upstream 3fff:100::1 down/);
    const m = await metrics(r2);
    assert.match(m, /^sixto4pmt_relay_announced 0$/m);
    assert.match(m, /^sixto4pmt_relay_upstream_up 0$/m);
    const d = await inDeltas([r1, r2], () => pingFrom(cpesOf[1]!));
    assert.deepEqual(d, [2 * PINGS, 0], "relay2's CPEs go through relay1");

    reg.must(["ip", "-n", r2.ns, "link", "set", r2.upstreamIf, "up"]);
    // Admin down removed the link's static IPv6 address and the default route through it
    // (keep_addr_on_down 0): put them back once the link has carrier.
    reg.must([
      "ip",
      "-6",
      "-n",
      r2.ns,
      "addr",
      "replace",
      `3fff:0:2::2/64`,
      "dev",
      "inet0",
      "nodad",
    ]);
    const routed = await reg.waitFor(
      () =>
        reg.run(["ip", "-6", "-n", r2.ns, "route", "replace", "::/0", "via", r2.upstream]).code ===
        0,
      10_000,
    );
    assert.ok(routed, "relay2's default route restored");
    const back = await waitAnycastNextHops(f, [r1.unicast, r2.unicast], 30_000);
    assert.notEqual(back, null, `rtr: ${anycastNextHops(f)}`);
    assert.ok(await waitReturnNextHops(f, [1, 2], 30_000), "srv routes over both again");
    const d2 = await inDeltas([r1, r2], () => pingFrom(cpesOf[1]!));
    assert.deepEqual(d2, [0, 2 * PINGS], "relay2 carries its CPEs again");
  });
});
