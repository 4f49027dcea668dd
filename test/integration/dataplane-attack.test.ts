/**
 * Attack table (root, network namespaces): a raw-frame injector in the carrier network (isp)
 * sends every RFC 3964 §5 / RFC 6324 §3.3 bad case as protocol 41 to the relay and the CPE:
 *
 *   lan -- cpe (100.64.0.2) == isp [injector: AF_PACKET frames] == relay (192.88.99.1) -- inet
 *
 * For each case nothing is forwarded (no packet reaches a TUN), the drop is counted under its
 * reason (daemon counters via SIGUSR1), and the daemons keep running. Malformed outer IPv4 (bad
 * checksum, truncated) never reaches a raw socket: the receiving kernel drops it first, which is
 * checked with its own counters (/proc/net/snmp InHdrErrors / InTruncatedPkts).
 * RFCs: 3964 §5.2 + §5.3.1/§5.3.2, 6324 §3.3, 5969 §12 (other relays), 5969 §9.2 (no open relay).
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { readCounters, startLab, type RunningLab } from "../support/dataplane-harness.js";
import { OTHER_RELAY, attackCases, echo, encap } from "../support/attack-cases.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { waitForCounters } from "../support/daemon-assert.js";

const skip = netnsSkipReason() ?? toolSkipReason("python3");

describe(
  "attack table: RFC 3964 / RFC 6324 bad cases are dropped and counted",
  { skip, timeout: 180_000 },
  () => {
    const reg = new NetnsRegistry();
    let lab: RunningLab;
    const macs: Record<string, string> = {};

    before(async () => {
      // The CPE's health probe (ICMPv6 echo through the tunnel) would move the counters the cases
      // compare: probe once an hour only, and let the first one pass before the table starts.
      lab = await startLab(
        reg,
        { cpes: [{ index: 0, pmt: true }] },
        () => ["--other-relays", OTHER_RELAY],
        () => ["--health-interval", "3600"],
      );
      // The first probe's reply went through the relay into the CPE's TUN (bounded wait).
      await waitForCounters(reg, lab.cpes[0]!, (c) => (c.traffic.in_packets ?? 0) >= 1);
      await waitForCounters(reg, lab.relays[0]!, (c) => (c.traffic.out_packets ?? 0) >= 1);
      macs.relay = linkMac(reg, lab.t.relays[0]!.ns, "wan0");
      macs.cpe = linkMac(reg, lab.t.cpes[0]!.ns, "wan0");
    });
    after(async () => {
      await reg.cleanup();
    });

    /** Kernel IPv4 counters of a namespace: `Ip:` of /proc/net/snmp and `IpExt:` of /proc/net/netstat. */
    function snmp(ns: string): Record<string, number> {
      const out: Record<string, number> = {};
      for (const [file, tag] of [
        ["/proc/net/snmp", "Ip:"],
        ["/proc/net/netstat", "IpExt:"],
      ] as const) {
        const lines = reg
          .exec(ns, ["cat", file])
          .stdout.split("\n")
          .filter((l) => l.startsWith(tag));
        if (lines.length < 2) continue;
        const keys = lines[0]!.split(/\s+/).slice(1);
        const vals = lines[1]!.split(/\s+/).slice(1).map(Number);
        keys.forEach((k, i) => (out[k] = vals[i]!));
      }
      return out;
    }

    async function inject(target: "relay" | "cpe", packets: Buffer[]): Promise<void> {
      const iface = target === "relay" ? "relay0" : "cpe0";
      await injectIpv4(reg, lab.t.isp, iface, macs[target]!, packets);
    }

    for (const c of attackCases()) {
      test(c.name, async () => {
        const proc = c.target === "relay" ? lab.relays[0]! : lab.cpes[0]!;
        const ns = c.target === "relay" ? lab.t.relays[0]!.ns : lab.t.cpes[0]!.ns;
        const before = await readCounters(reg, proc);
        const kBefore = snmp(ns);
        await inject(c.target, [c.packet, c.packet, c.packet]);
        // Until the three were counted where the case says (bounded): the daemon has read them.
        if (c.reason !== undefined) {
          const reason = c.reason;
          const was = before.drops[reason] ?? 0;
          await waitForCounters(reg, proc, (k) => (k.drops[reason] ?? 0) - was >= 3);
        }
        if (c.kernel !== undefined) {
          const kernel = c.kernel;
          await reg.waitFor(() => (snmp(ns)[kernel] ?? 0) - (kBefore[kernel] ?? 0) >= 3, 15_000);
        }
        const afterC = await readCounters(reg, proc);
        const kAfter = snmp(ns);
        assert.equal(
          afterC.traffic.in_packets,
          before.traffic.in_packets,
          "nothing decapsulated into the TUN",
        );
        assert.equal(
          afterC.traffic.out_packets,
          before.traffic.out_packets,
          "nothing encapsulated",
        );
        if (c.reason !== undefined) {
          const d = (afterC.drops[c.reason] ?? 0) - (before.drops[c.reason] ?? 0);
          assert.equal(
            d,
            3,
            `drops.${c.reason} grew by ${d}; all drops now ${JSON.stringify(afterC.drops)}`,
          );
        }
        if (c.kernel !== undefined) {
          const d = (kAfter[c.kernel] ?? 0) - (kBefore[c.kernel] ?? 0);
          assert.ok(d >= 3, `kernel Ip ${c.kernel} grew by ${d}`);
        }
        assert.equal(proc.hasExited(), false, proc.stderr());
      });
    }

    test("a valid packet from the same injector is forwarded (the harness itself works)", async () => {
      const before = await readCounters(reg, lab.relays[0]!);
      await inject("relay", [encap(echo("2002:6440:9::1", "3fff:100::1"))]);
      const afterC = await waitForCounters(
        reg,
        lab.relays[0]!,
        (k) => k.traffic.in_packets! > before.traffic.in_packets!,
      );
      assert.equal(afterC.traffic.in_packets, before.traffic.in_packets! + 1);
    });

    test("daemons are still running after the attacks", () => {
      for (const p of [...lab.relays, ...lab.cpes]) assert.equal(p.hasExited(), false, p.stderr());
    });
  },
);
