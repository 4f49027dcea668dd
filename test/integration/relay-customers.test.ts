/**
 * The relay translates its PMT customers only (RFC 6732 §4.7, opt-out §4.1), through real kernels
 * (root, network namespaces):
 *
 *   lan  -- cpe  (PMT LAN mode, WAN 100.64.0.2: a customer)      ==\
 *   lan1 -- cpe1 (plain 6to4, SLA 0, WAN 192.0.2.7: not a customer) == isp == relay -- inet
 *   lan2 -- cpe2 (plain 6to4, SLA 0, WAN 100.64.2.2: opted out)    ==/  192.88.99.1  server 3fff:100::1
 *
 * The relay's customer_ipv4 is 100.64.0.0/10 (the lab's), so pmt_customer_ipv4 defaults to it.
 * Default policy (non_customer relay): the non-customer's packets reach the server untranslated
 * (2002:c000:207::100, not 2001:db8:c000:207::100), and a packet from the Internet to the provider
 * address 2001:db8:c000:207::100 is dropped (provider_dst_not_customer), not encapsulated to
 * 192.0.2.7. Then the relay is restarted with non_customer drop: the non-customer's packets are
 * dropped and counted (non_customer) both ways; the customer is still translated, the opted-out
 * customer still relayed untranslated.
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import {
  LAB_SERVER,
  labRelayArgs,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import { NetnsRegistry, netnsSkipReason } from "../support/netns.js";
import {
  daemonCommand,
  ping,
  readCounters,
  startLab,
  tcpTransfer,
  type RunningLab,
} from "../support/dataplane-harness.js";
import { waitForCounters } from "../support/daemon-assert.js";

const skip = netnsSkipReason();

const OPT_OUT = ["--opt-out", "100.64.2.0/24"];

describe("relay: PMT for customers only (RFC 6732 §4.7)", { skip, timeout: 180_000 }, () => {
  const reg = new NetnsRegistry();
  let lab: RunningLab;

  before(async () => {
    // Health probes once an hour: the drop counters below count the test's packets only.
    lab = await startLab(
      reg,
      {
        cpes: [
          { index: 0, pmt: true },
          { index: 1, pmt: false, sla: 0, wanIpv4: "192.0.2.7" },
          { index: 2, pmt: false, sla: 0 },
        ],
      },
      () => OPT_OUT,
      () => ["--health-interval", "3600"],
    );
  });
  after(async () => {
    await reg.cleanup();
  });

  const drops = async (reason: string): Promise<number> =>
    (await readCounters(reg, lab.relays[0]!)).drops[reason] ?? 0;

  /** Waits until the relay counted `n` more drops of `reason` than `was`; returns how many it did. */
  async function droppedSince(reason: string, was: number, n: number): Promise<number> {
    const c = await waitForCounters(reg, lab.relays[0]!, (k) => (k.drops[reason] ?? 0) - was >= n);
    return (c.drops[reason] ?? 0) - was;
  }

  test("a customer is translated (Figure 3)", async () => {
    const r = await tcpTransfer(reg, lab.t.cpes[0]!.lanNs, lab.t.inet, LAB_SERVER, 5101, 100_000);
    assert.equal(r.received, 100_000, r.sent);
    assert.equal(r.peer, "2001:db8:6440:2::100");
  });

  test("a non-customer 6to4 site reaches the server untranslated, and gets the replies", async () => {
    const c = lab.t.cpes[1]!;
    const before0 = await readCounters(reg, lab.relays[0]!);
    const r = await tcpTransfer(reg, c.lanNs, lab.t.inet, LAB_SERVER, 5102, 100_000);
    assert.equal(r.received, 100_000, r.sent);
    assert.equal(r.peer, "2002:c000:207::100", "not the operator's 2001:db8:c000:207::100");
    const after0 = await readCounters(reg, lab.relays[0]!);
    assert.equal(after0.traffic.translated, before0.traffic.translated, "nothing translated");
    assert.ok(after0.traffic.untranslated! > before0.traffic.untranslated!);
  });

  test("an opted-out customer is relayed untranslated (RFC 6732 §4.1)", async () => {
    const r = await tcpTransfer(reg, lab.t.cpes[2]!.lanNs, lab.t.inet, LAB_SERVER, 5103, 100_000);
    assert.equal(r.received, 100_000, r.sent);
    assert.equal(r.peer, "2002:6440:202::100");
  });

  test("to the provider address of a non-customer: dropped and counted, not sent to its IPv4", async () => {
    const was = await drops("provider_dst_not_customer");
    const before0 = await readCounters(reg, lab.relays[0]!);
    const out = await ping(reg, lab.t.inet, "2001:db8:c000:207::100");
    assert.notEqual(out.code, 0, out.stdout);
    assert.equal(await droppedSince("provider_dst_not_customer", was, 3), 3);
    const after0 = await readCounters(reg, lab.relays[0]!);
    assert.equal(after0.traffic.out_packets, before0.traffic.out_packets, "nothing encapsulated");
  });

  describe("with non_customer drop", () => {
    before(async () => {
      assert.equal(await reg.stop(lab.relays[0]!, 3000), 0, "relay exits 0 on SIGTERM");
      const r = lab.t.relays[0]!;
      const args = labRelayArgs(r, [...OPT_OUT, "--non-customer", "drop"]);
      lab.relays[0] = spawnDaemon(reg, r.ns, daemonCommand(), args);
      assert.ok(await waitDaemonReady(reg, lab.relays[0]!), lab.relays[0]!.stderr());
      assert.match(lab.relays[0]!.stderr(), /drops other sources/);
    });

    test("a non-customer's packets are dropped and counted (non_customer)", async () => {
      const was = await drops("non_customer");
      const before0 = await readCounters(reg, lab.relays[0]!);
      const out = await ping(reg, lab.t.cpes[1]!.lanNs, LAB_SERVER);
      assert.notEqual(out.code, 0, out.stdout);
      assert.equal(await droppedSince("non_customer", was, 3), 3);
      const after0 = await readCounters(reg, lab.relays[0]!);
      assert.equal(after0.traffic.in_packets, before0.traffic.in_packets, "nothing decapsulated");
    });

    test("6to4 traffic to a non-customer is dropped and counted, not sent to its IPv4", async () => {
      const was = await drops("non_customer");
      const before0 = await readCounters(reg, lab.relays[0]!);
      const out = await ping(reg, lab.t.inet, lab.t.cpes[1]!.hostAddress);
      assert.notEqual(out.code, 0, out.stdout);
      assert.equal(await droppedSince("non_customer", was, 3), 3);
      const after0 = await readCounters(reg, lab.relays[0]!);
      assert.equal(after0.traffic.out_packets, before0.traffic.out_packets, "nothing encapsulated");
    });

    test("a customer is still translated", async () => {
      const c = lab.t.cpes[0]!;
      const r = await tcpTransfer(reg, c.lanNs, lab.t.inet, LAB_SERVER, 5104, 100_000);
      assert.equal(r.received, 100_000, r.sent);
      assert.equal(r.peer, "2001:db8:6440:2::100");
    });

    test("an opted-out customer is still relayed untranslated, not dropped", async () => {
      const c = lab.t.cpes[2]!;
      const r = await tcpTransfer(reg, c.lanNs, lab.t.inet, LAB_SERVER, 5105, 100_000);
      assert.equal(r.received, 100_000, r.sent);
      assert.equal(r.peer, "2002:6440:202::100");
    });
  });
});
