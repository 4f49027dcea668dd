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
import { writeFileSync, unlinkSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { LAB_ANYCAST } from "../../module/cli/lab-topology.js";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { readCounters, startLab, type RunningLab } from "../support/dataplane-harness.js";
import { buildIcmpv6EchoPacket, encapsulate6to4 } from "../support/packet-builder.js";
import { INJECT_PY } from "../support/frame-inject.js";

const skip = netnsSkipReason() ?? toolSkipReason("python3");

const CUSTOMER = "100.64.0.9"; // an attacker inside the customer range
const OTHER_RELAY = "203.0.113.9";

interface Case {
  name: string;
  target: "relay" | "cpe";
  /** The IPv4 packet (outer header included). */
  packet: Buffer;
  /** Daemon drop reason expected to grow, or a kernel /proc/net/snmp Ip counter. */
  reason?: string;
  kernel?: string;
}

function echo(src: string, dst: string): Buffer {
  return buildIcmpv6EchoPacket({ src, dst, hopLimit: 64 });
}

function encap(inner: Uint8Array, src = CUSTOMER, dst = LAB_ANYCAST): Buffer {
  return encapsulate6to4(inner, src, dst, { df: false });
}

function cases(): Case[] {
  const good = "2002:6440:9::1"; // 6to4 address matching CUSTOMER
  const list: Case[] = [
    {
      name: "spoofed embedded IPv4 (src 2002:V4 != outer src)",
      target: "relay",
      packet: encap(echo("2002:6440:3::1", "3fff:100::1")),
      reason: "6to4_src_spoofed",
    },
    {
      name: "private embedded IPv4 (2002:c0a8:1::)",
      target: "relay",
      packet: encap(echo("2002:c0a8:1::1", "3fff:100::1")),
      reason: "ipv6_src_6to4_invalid_ipv4",
    },
    {
      name: "loopback embedded IPv4 (2002:7f00:1::)",
      target: "relay",
      packet: encap(echo("2002:7f00:1::1", "3fff:100::1")),
      reason: "ipv6_src_6to4_invalid_ipv4",
    },
    {
      name: "multicast embedded IPv4 (2002:e000:1::)",
      target: "relay",
      packet: encap(echo("2002:e000:1::1", "3fff:100::1")),
      reason: "ipv6_src_6to4_invalid_ipv4",
    },
    {
      name: "IPv4-mapped inner source (::ffff:0:0/96)",
      target: "relay",
      packet: encap(echo("::ffff:100.64.0.9", "3fff:100::1")),
      reason: "ipv6_src_invalid",
    },
    {
      name: "IPv4-mapped inner destination",
      target: "relay",
      packet: encap(echo(good, "::ffff:192.0.2.1")),
      reason: "ipv6_dst_invalid",
    },
    {
      name: "link-local inner source",
      target: "relay",
      packet: encap(echo("fe80::1", "3fff:100::1")),
      reason: "ipv6_src_invalid",
    },
    {
      name: "native to native through the relay",
      target: "relay",
      packet: encap(echo("3fff:300::1", "3fff:100::1")),
      reason: "native_to_native",
    },
    {
      name: "loop: off-link ISATAP address embedding 192.88.99.1 (RFC 6324 §3.3)",
      target: "relay",
      packet: encap(echo(good, "2001:db8:1::5efe:c058:6301")),
      reason: "own_ipv4_embedded",
    },
    {
      name: "loop: 2002 destination of another IPv4 than the outer one",
      target: "relay",
      packet: encap(echo(good, "2002:c633:6402::1")),
      reason: "6to4_dst_mismatch",
    },
    {
      name: "protocol 41 from another relay (RFC 5969 §12)",
      target: "relay",
      packet: encap(echo("2002:cb00:7109::1", "3fff:100::1"), OTHER_RELAY),
      reason: "from_other_relay",
    },
    {
      name: "inner packet shorter than an IPv6 header",
      target: "relay",
      packet: encap(echo(good, "3fff:100::1").subarray(0, 30)),
      reason: "ipv6_truncated",
    },
    {
      name: "IPv6 payload length larger than carried",
      target: "relay",
      packet: withPayloadLen(encap(echo(good, "3fff:100::1")), 400),
      reason: "ipv6_length_mismatch",
    },
    {
      name: "IPv6 payload length smaller than carried",
      target: "relay",
      packet: withPayloadLen(encap(echo(good, "3fff:100::1")), 8),
      reason: "ipv6_length_mismatch",
    },
    {
      name: "inner version 4",
      target: "relay",
      packet: withByte(encap(echo(good, "3fff:100::1")), 20, 0x45),
      reason: "ipv6_bad_version",
    },
    {
      name: "outer IPv4 bad header checksum (kernel drops)",
      target: "relay",
      packet: withByte(encap(echo(good, "3fff:100::1")), 10, 0),
      kernel: "InHdrErrors",
    },
    {
      name: "outer IPv4 total length beyond the frame (kernel drops)",
      target: "relay",
      packet: fixChecksum(withU16(encap(echo(good, "3fff:100::1")), 2, 1400)),
      kernel: "InTruncatedPkts",
    },
    {
      name: "CPE: native source not from a relay (RFC 3964 §5.2)",
      target: "cpe",
      packet: encap(echo("3fff:300::1", "2002:6440:2::100"), CUSTOMER, "100.64.0.2"),
      reason: "native_src_not_from_relay",
    },
    {
      name: "CPE: open-relay attempt, destination outside its prefix",
      target: "cpe",
      packet: encap(echo(good, "3fff:100::1"), CUSTOMER, "100.64.0.2"),
      reason: "dst_not_own_prefix",
    },
    {
      name: "CPE: spoofed 6to4 source",
      target: "cpe",
      packet: encap(echo("2002:6440:3::1", "2002:6440:2::100"), CUSTOMER, "100.64.0.2"),
      reason: "6to4_src_spoofed",
    },
    {
      name: "CPE: 2002 destination of another customer",
      target: "cpe",
      packet: encap(echo(good, "2002:6440:3::100"), CUSTOMER, "100.64.0.2"),
      reason: "6to4_dst_mismatch",
    },
  ];
  return list;
}

function withByte(p: Buffer, off: number, v: number): Buffer {
  const c = Buffer.from(p);
  c[off] = v;
  return c;
}

function withU16(p: Buffer, off: number, v: number): Buffer {
  const c = Buffer.from(p);
  c.writeUInt16BE(v, off);
  return c;
}

/** IPv6 payload length (at 20 + 4) rewritten; outer IPv4 untouched. */
function withPayloadLen(p: Buffer, v: number): Buffer {
  return withU16(p, 24, v);
}

function fixChecksum(p: Buffer): Buffer {
  p.writeUInt16BE(0, 10);
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += p.readUInt16BE(i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  p.writeUInt16BE(~s & 0xffff, 10);
  return p;
}

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
      await new Promise((r) => setTimeout(r, 1500));
      for (const [role, ns] of [
        ["relay", lab.t.relays[0]!.ns],
        ["cpe", lab.t.cpes[0]!.ns],
      ] as const) {
        const j = JSON.parse(reg.must(["ip", "-j", "-n", ns, "link", "show", "wan0"])) as {
          address: string;
        }[];
        macs[role] = j[0]!.address;
      }
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
      const file = `/tmp/6to4-pmt-inject-${process.pid}.hex`;
      writeFileSync(file, packets.map((p) => p.toString("hex")).join("\n") + "\n");
      try {
        const iface = target === "relay" ? "relay0" : "cpe0";
        const r = await reg.execAsync(
          lab.t.isp,
          ["python3", "-c", INJECT_PY, iface, macs[target]!, file],
          10000,
        );
        assert.equal(r.code, 0, r.stdout + r.stderr);
      } finally {
        unlinkSync(file);
      }
      await new Promise((r) => setTimeout(r, 150));
    }

    for (const c of cases()) {
      test(c.name, async () => {
        const proc = c.target === "relay" ? lab.relays[0]! : lab.cpes[0]!;
        const ns = c.target === "relay" ? lab.t.relays[0]!.ns : lab.t.cpes[0]!.ns;
        const before = await readCounters(reg, proc);
        const kBefore = snmp(ns);
        await inject(c.target, [c.packet, c.packet, c.packet]);
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
      const afterC = await readCounters(reg, lab.relays[0]!);
      assert.equal(afterC.traffic.in_packets, before.traffic.in_packets! + 1);
    });

    test("daemons are still running after the attacks", () => {
      for (const p of [...lab.relays, ...lab.cpes]) assert.equal(p.hasExited(), false, p.stderr());
    });
  },
);
