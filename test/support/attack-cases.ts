/**
 * The attack table of RFC 3964 §5 / RFC 6324 §3.3 bad cases as protocol-41 packets (outer IPv4
 * header included) for the lab topology (lab/topology.ts): the CPE at 100.64.0.2, the relay
 * at the anycast 192.88.99.1. Used by test/integration/dataplane-attack.test.ts (each case dropped
 * and counted under its reason).
 */
import { LAB_ANYCAST } from "../../module/lab/topology.js";
import { buildIcmpv6EchoPacket, encapsulate6to4 } from "./packet-builder.js";

export const CUSTOMER = "100.64.0.9"; // an attacker inside the customer range
export const OTHER_RELAY = "203.0.113.9";

export interface AttackCase {
  name: string;
  target: "relay" | "cpe";
  /** The IPv4 packet (outer header included). */
  packet: Buffer;
  /** Daemon drop reason expected to grow, or a kernel /proc/net/snmp Ip counter. */
  reason?: string;
  kernel?: string;
}

export function echo(src: string, dst: string): Buffer {
  return buildIcmpv6EchoPacket({ src, dst, hopLimit: 64 });
}

export function encap(inner: Uint8Array, src = CUSTOMER, dst = LAB_ANYCAST): Buffer {
  return encapsulate6to4(inner, src, dst, { df: false });
}

export function attackCases(): AttackCase[] {
  const good = "2002:6440:9::1"; // 6to4 address matching CUSTOMER
  const list: AttackCase[] = [
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
      // Smaller than carried is IPv4 padding, accepted (RFC 4213 §3.6; wire-rfc4213.test.ts).
      name: "IPv6 payload length larger than carried",
      target: "relay",
      packet: withPayloadLen(encap(echo(good, "3fff:100::1")), 400),
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
