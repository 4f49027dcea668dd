/**
 * The inner-IPv6 step of both inbound paths (dataplane/path-steps.ts) and what the paths forward:
 * RFC 4213 §3.6, "the length MUST be determined from the IPv6 payload length since the IPv4
 * packet might be padded". Padding after the IPv6 packet is accepted and left behind; an IPv6
 * packet claiming more than IPv4 carried is dropped as `ipv6_length_mismatch`.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import * as dr from "../../../module/addr/drop-reason.js";
import { DataplaneCounters } from "../../../module/dataplane/counters.js";
import { CpeInboundPath } from "../../../module/dataplane/cpe-inbound.js";
import {
  createCpeForwardingState,
  createRelayForwardingState,
} from "../../../module/dataplane/forwarding-state.js";
import {
  checkInnerIpv6,
  ipv6PacketLength,
  mergedCut,
  packetsCarried,
} from "../../../module/dataplane/path-steps.js";
import { RelayInboundPath } from "../../../module/dataplane/relay-inbound.js";
import {
  buildIcmpv6EchoPacket,
  buildTcpPacket,
  encapsulate6to4,
} from "../../support/packet-builder.js";
import { CTR_IN_PACKETS } from "../../../module/dataplane/counters.js";

const allow = [parseIpv4Prefix("100.64.0.0/10")!];
const echo = buildIcmpv6EchoPacket({ src: "2002:6440:9::1", dst: "3fff:100::1", hopLimit: 64 });

/** `pkt` followed by `n` bytes of 0xee, in a buffer of its own at offset 0. */
function padded(pkt: Uint8Array, n: number): Buffer {
  return Buffer.concat([pkt, Buffer.alloc(n, 0xee)]);
}

test("checkInnerIpv6: exact length and 1..4 (or more) bytes of padding pass", () => {
  for (const n of [0, 1, 2, 3, 4, 26, 1000]) {
    const b = padded(echo, n);
    assert.equal(checkInnerIpv6(b, 0, b.length), dr.DROP_NONE, `padding ${n}`);
    assert.equal(ipv6PacketLength(b, 0), echo.length, `padding ${n}`);
  }
});

test("checkInnerIpv6: shorter than the payload length claims -> ipv6_length_mismatch", () => {
  for (const cut of [1, 4, 8]) {
    assert.equal(
      checkInnerIpv6(echo, 0, echo.length - cut),
      dr.DROP_IPV6_LENGTH_MISMATCH,
      `cut ${cut}`,
    );
  }
  assert.equal(checkInnerIpv6(echo, 0, 39), dr.DROP_IPV6_TRUNCATED);
  const v4 = Buffer.from(echo);
  v4[0] = 0x45;
  assert.equal(checkInnerIpv6(v4, 0, v4.length), dr.DROP_IPV6_BAD_VERSION);
});

/** A protocol-41 packet whose IPv4 total length covers `pad` bytes after the IPv6 packet. */
function encapPadded(inner: Uint8Array, src: string, dst: string, pad: number): Buffer {
  return encapsulate6to4(padded(inner, pad), src, dst, { df: false });
}

test("relay inbound: a padded packet is forwarded with exactly 40 + payload length bytes", () => {
  const path = new RelayInboundPath(new DataplaneCounters());
  const state = createRelayForwardingState({ customerIpv4: allow });
  for (const pad of [1, 2, 3, 4, 100]) {
    const pkt = encapPadded(echo, "100.64.0.9", "192.88.99.1", pad);
    path.processBatch(state, [pkt], [pkt.length], 1, 0);
    assert.equal(path.toTun.count, 1, `padding ${pad}`);
    assert.equal(path.toTun.sizes[0], echo.length, `padding ${pad}`);
    assert.equal(path.toTun.offsets[0], 20);
  }
});

test("relay inbound: a packet shorter than its payload length claims is dropped and counted", () => {
  const counters = new DataplaneCounters();
  const path = new RelayInboundPath(counters);
  const state = createRelayForwardingState({ customerIpv4: allow });
  const pkt = encapsulate6to4(echo.subarray(0, echo.length - 3), "100.64.0.9", "192.88.99.1");
  path.processBatch(state, [pkt], [pkt.length], 1, 0);
  assert.equal(path.toTun.count, 0);
  assert.equal(counters.drops[dr.DROP_IPV6_LENGTH_MISMATCH], 1);
});

test("CPE inbound: a padded packet is forwarded trimmed, a short one dropped", () => {
  const counters = new DataplaneCounters();
  const path = new CpeInboundPath(counters);
  const state = createCpeForwardingState({ ownIpv4: 0x64400002, allowIpv4: allow });
  const inner = buildIcmpv6EchoPacket({
    src: "2002:6440:9::1",
    dst: "2002:6440:2::100",
    hopLimit: 64,
  });
  const pkt = encapPadded(inner, "100.64.0.9", "100.64.0.2", 4);
  path.processBatch(state, [pkt], [pkt.length], 1, 0);
  assert.equal(path.toTun.count, 1);
  assert.equal(path.toTun.sizes[0], inner.length);
  const short = encapsulate6to4(inner.subarray(0, inner.length - 1), "100.64.0.9", "100.64.0.2");
  path.processBatch(state, [short], [short.length], 1, 0);
  assert.equal(path.toTun.count, 0);
  assert.equal(counters.drops[dr.DROP_IPV6_LENGTH_MISMATCH], 1);
});

test("relay inbound: a packet GRO merged keeps its segment size for the TUN and counts its segments", () => {
  const counters = new DataplaneCounters();
  const path = new RelayInboundPath(counters);
  const state = createRelayForwardingState({ customerIpv4: allow });
  const tcp = buildTcpPacket({
    src: "2002:6440:9::1",
    dst: "3fff:100::1",
    srcPort: 4000,
    dstPort: 80,
    seq: 1,
    ack: 1,
    flags: 0x10,
    payload: Buffer.alloc(2500, 1),
    hopLimit: 64,
  });
  const a = encapsulate6to4(tcp, "100.64.0.9", "192.88.99.1", { df: false });
  const b = encapsulate6to4(echo, "100.64.0.9", "192.88.99.1", { df: false });
  path.processBatch(state, [a, b], [a.length, b.length], 2, 0, Int32Array.of(1000, 0));
  assert.equal(path.toTun.count, 2);
  assert.deepEqual(Array.from(path.toTun.gso.subarray(0, 2)), [1000, 0]);
  assert.equal(path.toTun.merged, true);
  assert.equal(path.toTun.packets, 3 + 1, "2500 bytes in segments of 1000, and the echo");
  assert.equal(counters.traffic[CTR_IN_PACKETS], 4);
  path.processBatch(state, [b], [b.length], 1, 0);
  assert.equal(path.toTun.merged, false, "a batch without merged packets");
  assert.equal(path.toTun.gso[0], 0);
});

/** A TCP packet from the server to the LAN host's 6to4 address with `bytes` of payload. */
function merged(bytes: number): Uint8Array {
  return buildTcpPacket({
    src: "3fff:100::1",
    dst: "2002:6440:2::100",
    srcPort: 80,
    dstPort: 4000,
    seq: 1,
    ack: 1,
    flags: 0x10,
    payload: Buffer.alloc(bytes, 1),
    hopLimit: 64,
  });
}

test("raw socket reads: TCP longer than the tunnel MTU (merged by GRO) counts as full-size segments, anything else as 1", () => {
  const b = (p: Uint8Array): Buffer => Buffer.from(p);
  // Tunnel MTU 1480: a sender's full segment carries 1480 - 40 - 20 = 1420 bytes.
  assert.equal(packetsCarried(b(merged(1420)), 0, 1480, 0, 1480), 1, "one full segment");
  assert.equal(packetsCarried(b(merged(3 * 1420)), 0, 60 + 3 * 1420, 0, 1480), 3);
  assert.equal(packetsCarried(b(merged(3 * 1420 + 1)), 0, 60 + 3 * 1420 + 1, 0, 1480), 4);
  assert.equal(packetsCarried(b(echo), 0, echo.length, 0, 1480), 1, "not TCP");
  // With the sender's segment size (AF_PACKET) that size counts, whatever the tunnel MTU.
  assert.equal(packetsCarried(b(merged(2500)), 0, 2560, 1000, 1480), 3);

  // The CPE's inbound path counts them so (in_packets).
  const counters = new DataplaneCounters();
  const path = new CpeInboundPath(counters);
  const state = createCpeForwardingState({ ownIpv4: 0x64400002, allowIpv4: allow });
  const big = encapsulate6to4(merged(10 * 1420), "192.88.99.1", "100.64.0.2", { df: false });
  path.processBatch(state, [big], [big.length], 1, 0);
  assert.equal(path.toTun.count, 1, "forwarded whole (the native layer cuts it)");
  assert.equal(counters.traffic[CTR_IN_PACKETS], 10);
});

test("a merged read whose sender's size is lost (gso < 0) is cut there only when longer than the tunnel carries, and counted as full-size segments", () => {
  assert.equal(mergedCut(1000, 500, 1480), 1000, "the sender's size: always");
  assert.equal(mergedCut(-1220, 3000, 1480), 1220);
  assert.equal(mergedCut(-1220, 1400, 1480), 0, "fits the tunnel: on whole");
  assert.equal(mergedCut(0, 3000, 1480), 0);

  const counters = new DataplaneCounters();
  const path = new CpeInboundPath(counters);
  const state = createCpeForwardingState({ ownIpv4: 0x64400002, allowIpv4: allow });
  const big = encapsulate6to4(merged(10 * 1420), "192.88.99.1", "100.64.0.2", { df: false });
  path.processBatch(state, [big], [big.length], 1, 0, Int32Array.of(-1220));
  assert.equal(path.toTun.count, 1);
  assert.equal(path.toTun.merged, true);
  assert.equal(path.toTun.gso[0], 1220, "cut at 1280 bytes on the TUN");
  assert.equal(counters.traffic[CTR_IN_PACKETS], 10, "as the sender sent it: 10 of 1420");
});
