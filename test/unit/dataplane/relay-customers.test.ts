/**
 * The relay's customer policy on both paths (RFC 6732 §4.7, addr/pmt-customers.ts; opt-out §4.1):
 * protocol 41 from a site outside the PMT customer ranges is relayed untranslated (default) or
 * dropped as `non_customer`; a return packet to the provider address of such a site is dropped as
 * `provider_dst_not_customer`, never translated back nor encapsulated to it.
 */
import assert from "node:assert/strict";
import { describe, test } from "node:test";
import { formatIpv6, parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import { DataplaneCounters } from "../../../module/dataplane/counters.js";
import {
  createRelayForwardingState,
  type RelayForwardingState,
} from "../../../module/dataplane/forwarding-state.js";
import { RelayInboundPath } from "../../../module/dataplane/relay-inbound.js";
import { RelayOutboundPath } from "../../../module/dataplane/relay-outbound.js";
import { HEADROOM_BYTES } from "../../../module/dataplane/tunables.js";
import {
  buildIcmpv6EchoPacket,
  buildUdpPacket,
  encapsulate6to4,
  upperChecksumOk,
} from "../../support/packet-builder.js";

const mapping = createPmtMapping({ providerPrefix: parseIpv6Prefix("2001:db8::/32")! });
const CUSTOMERS = [parseIpv4Prefix("100.64.0.0/10")!];
const SERVER = "3fff:100::1";

function state(over: Partial<RelayForwardingState> = {}): RelayForwardingState {
  return createRelayForwardingState({
    relayIpv4s: [0xc0586301],
    customerIpv4: CUSTOMERS,
    optOut: [parseIpv4Prefix("100.64.9.0/24")!],
    mapping,
    providerPrefix: mapping.providerPrefix,
    ...over,
  });
}

/** One protocol-41 packet from `v4` (site 2002:V4ADDR::100) through the relay's inbound path. */
function inbound(
  s: RelayForwardingState,
  v4: string,
  site: string,
): { reason: number; out: string | null; counters: DataplaneCounters; ok: boolean } {
  const counters = new DataplaneCounters();
  const path = new RelayInboundPath(counters);
  const pkt = encapsulate6to4(
    buildUdpPacket({ src: site, dst: SERVER, srcPort: 1, dstPort: 2, payload: Buffer.alloc(8) }),
    v4,
    "192.88.99.1",
  );
  path.processBatch(s, [pkt], [pkt.length], 1, 0);
  if (path.toTun.count === 0) return { reason: -1, out: null, counters, ok: false };
  const v6 = path.toTun.bufs[0]!.subarray(
    path.toTun.offsets[0],
    path.toTun.offsets[0]! + path.toTun.sizes[0]!,
  );
  return { reason: 0, out: formatIpv6(v6, 8), counters, ok: upperChecksumOk(v6) };
}

/** One IPv6 packet from the Internet to `dst` through the relay's return path. */
function toward(
  s: RelayForwardingState,
  dst: string,
): { sent: number; counters: DataplaneCounters } {
  const counters = new DataplaneCounters();
  const path = new RelayOutboundPath(counters);
  const v6 = buildUdpPacket({ src: SERVER, dst, srcPort: 2, dstPort: 1, payload: Buffer.alloc(8) });
  const buf = Buffer.alloc(2048);
  buf.set(v6, HEADROOM_BYTES);
  path.processBatch(s, [buf], [v6.length], 1, 0);
  return { sent: path.toWire.count, counters };
}

describe("relay customer policy (RFC 6732 §4.7)", () => {
  test("a PMT customer is translated; a non-customer (203.0.113.7) is relayed untranslated", () => {
    const c = inbound(state(), "100.64.0.2", "2002:6440:2::100");
    assert.equal(c.out, "2001:db8:6440:2::100");
    assert.ok(c.ok, "checksum valid after translation");
    assert.equal(c.counters.traffic[6], 1, "translated");
    const n = inbound(state(), "203.0.113.7", "2002:cb00:7107::100");
    assert.equal(n.out, "2002:cb00:7107::100", "not 2001:db8:cb00:7107::100");
    assert.equal(n.counters.snapshot().traffic.untranslated, 1);
    assert.equal(n.counters.snapshot().traffic.translated, 0);
  });

  test("an opted-out customer inside the ranges is relayed untranslated (RFC 6732 §4.1)", () => {
    for (const nonCustomer of ["relay", "drop"] as const) {
      const o = inbound(state({ nonCustomer }), "100.64.9.2", "2002:6440:902::100");
      assert.equal(o.out, "2002:6440:902::100", nonCustomer);
    }
  });

  test("non_customer drop: dropped and counted as non_customer; customers still translated", () => {
    const s = state({ nonCustomer: "drop" });
    const n = inbound(s, "203.0.113.7", "2002:cb00:7107::100");
    assert.equal(n.out, null);
    assert.equal(n.counters.snapshot().drops.non_customer, 1);
    assert.equal(n.counters.totalDrops(), 1);
    assert.equal(inbound(s, "100.64.0.2", "2002:6440:2::100").out, "2001:db8:6440:2::100");
  });

  test("non_customer drop: an echo to the relay's own 6to4 address from a non-customer is not answered", () => {
    const counters = new DataplaneCounters();
    const path = new RelayInboundPath(counters);
    const pkt = encapsulate6to4(
      buildIcmpv6EchoPacket({ src: "2002:cb00:7107::100", dst: "2002:c058:6301::" }),
      "203.0.113.7",
      "192.88.99.1",
    );
    path.processBatch(state({ nonCustomer: "drop" }), [pkt], [pkt.length], 1, 0);
    assert.equal(path.toWire.count, 0);
    assert.equal(counters.snapshot().drops.non_customer, 1);
  });

  test("pmt_customer_ipv4 narrower than customer_ipv4: the rest of customer_ipv4 is plain 6to4", () => {
    const s = state({ pmtCustomerIpv4: [parseIpv4Prefix("100.64.0.0/24")!] });
    assert.equal(inbound(s, "100.64.0.2", "2002:6440:2::100").out, "2001:db8:6440:2::100");
    assert.equal(inbound(s, "100.64.1.2", "2002:6440:102::100").out, "2002:6440:102::100");
  });

  test("empty pmt_customer_ipv4: nobody is translated", () => {
    const s = state({ pmtCustomerIpv4: [] });
    assert.equal(inbound(s, "100.64.0.2", "2002:6440:2::100").out, "2002:6440:2::100");
  });

  test("return path: provider address of a non-customer is dropped, not encapsulated to it", () => {
    for (const nonCustomer of ["relay", "drop"] as const) {
      const r = toward(state({ nonCustomer }), "2001:db8:cb00:7107::100");
      assert.equal(r.sent, 0, nonCustomer);
      assert.equal(r.counters.snapshot().drops.provider_dst_not_customer, 1, nonCustomer);
    }
    // The customer's provider address is translated back and sent.
    assert.equal(toward(state(), "2001:db8:6440:2::100").sent, 1);
    // An opted-out customer's provider address has no route, as before.
    assert.equal(toward(state(), "2001:db8:6440:902::100").counters.snapshot().drops.no_route, 1);
  });

  test("return path: 2002::/16 of a non-customer is relayed by default, dropped with non_customer drop", () => {
    assert.equal(toward(state(), "2002:cb00:7107::100").sent, 1);
    const d = toward(state({ nonCustomer: "drop" }), "2002:cb00:7107::100");
    assert.equal(d.sent, 0);
    assert.equal(d.counters.snapshot().drops.non_customer, 1);
    assert.equal(toward(state({ nonCustomer: "drop" }), "2002:6440:2::100").sent, 1);
  });
});

describe("per PMT customer range counters (relay operator's totals)", () => {
  test("packets and bytes each way land in the slots of the range the site is in; others nowhere", () => {
    const ranges = [parseIpv4Prefix("100.64.0.0/24")!, parseIpv4Prefix("100.64.1.0/24")!];
    const s = state({ pmtCustomerIpv4: ranges });
    const counters = new DataplaneCounters();
    counters.sizeRanges(ranges.length);
    const inPath = new RelayInboundPath(counters);
    const outPath = new RelayOutboundPath(counters);
    const N = 5;
    const payload = Buffer.alloc(8);
    // N packets from 100.64.1.7 (range 1), 1 from 100.64.0.2 (range 0), 1 from a non-customer.
    const from = (v4: string, site: string) =>
      encapsulate6to4(
        buildUdpPacket({ src: site, dst: SERVER, srcPort: 1, dstPort: 2, payload }),
        v4,
        "192.88.99.1",
      );
    const pkts = [
      ...Array.from({ length: N }, () => from("100.64.1.7", "2002:6440:107::100")),
      from("100.64.0.2", "2002:6440:2::100"),
      from("203.0.113.7", "2002:cb00:7107::100"),
    ];
    inPath.processBatch(
      s,
      pkts,
      pkts.map((p) => p.length),
      pkts.length,
      0,
    );
    assert.equal(inPath.toTun.count, N + 2);
    const v6len = 40 + 8 + 8;
    // N replies to range 1's translated address.
    const bufs: Buffer[] = [];
    for (let i = 0; i < N; i++) {
      const v6 = buildUdpPacket({
        src: SERVER,
        dst: "2001:db8:6440:107::100",
        srcPort: 2,
        dstPort: 1,
        payload,
      });
      const buf = Buffer.alloc(2048);
      buf.set(v6, HEADROOM_BYTES);
      bufs.push(buf);
    }
    outPath.processBatch(
      s,
      bufs,
      bufs.map(() => v6len),
      N,
      0,
    );
    assert.equal(outPath.toWire.count, N);
    assert.deepEqual(counters.rangeSnapshot(["100.64.0.0/24", "100.64.1.0/24"]), [
      { range: "100.64.0.0/24", in_packets: 1, in_bytes: v6len, out_packets: 0, out_bytes: 0 },
      {
        range: "100.64.1.0/24",
        in_packets: N,
        in_bytes: N * v6len,
        out_packets: N,
        out_bytes: N * v6len,
      },
    ]);
  });
});
