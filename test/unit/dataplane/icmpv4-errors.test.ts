/**
 * RFC 4213 §3.4 (dataplane/icmpv4-errors.ts): ICMPv4 errors quoting our protocol-41 packets,
 * answered with ICMPv6 Destination Unreachable "address unreachable" to the inner source when
 * the quote carries the inner IPv6 header, and left alone otherwise.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIpv6, parseIpv6Prefix } from "../../../module/addr/ipv6.js";
import { createPmtMapping } from "../../../module/addr/pmt-mapping.js";
import { CTR_ICMP_RATE_LIMITED, CTR_ICMP_SENT } from "../../../module/dataplane/counters.js";
import { DataplaneCounters } from "../../../module/dataplane/counters.js";
import {
  Icmpv4ErrorPath,
  type TunnelErrorContext,
} from "../../../module/dataplane/icmpv4-errors.js";
import { createIcmpErrorRing } from "../../../module/io/ring.js";
import {
  buildIcmpv6EchoPacket,
  encapsulate6to4,
  upperChecksumOk,
} from "../../support/packet-builder.js";

const OWN = 0xc0586301; // 192.88.99.1
const SOURCE = parseIpv6("2002:c058:6301::")!;
const ctx: TunnelErrorContext = {
  enabled: true,
  ownIpv4s: [OWN],
  icmpSource: SOURCE,
  icmpRateLimit: 1000,
  lanMapping: null,
};
const inner = buildIcmpv6EchoPacket({ src: "3fff:100::1", dst: "2002:6440:707::1", hopLimit: 63 });
const ours = encapsulate6to4(inner, "192.88.99.1", "100.64.7.7", { df: false });

/** One error (type, code) quoting `quoted` through a one-slot ring; the path's ICMPv6 output. */
function answer(
  quoted: Uint8Array,
  type = 3,
  code = 1,
  c: TunnelErrorContext = ctx,
  path = new Icmpv4ErrorPath(new DataplaneCounters(), c.icmpRateLimit, 0),
): Buffer[] {
  const ring = createIcmpErrorRing(1, 576);
  const n = Math.min(quoted.length, 576);
  ring.buf.set(quoted.subarray(0, n), 0);
  ring.meta.set([type, code, 0, n], 0);
  path.processBatch(c, ring, 1, 0);
  const out: Buffer[] = [];
  for (let i = 0; i < path.toTun.count; i++) {
    const o = path.toTun.offsets[i]!;
    out.push(Buffer.from(path.toTun.bufs[i]!.subarray(o, o + path.toTun.sizes[i]!)));
  }
  return out;
}

test("host unreachable quoting our packet -> ICMPv6 address unreachable to the inner source", () => {
  const [e, ...rest] = answer(ours);
  assert.equal(rest.length, 0);
  assert.ok(e);
  assert.equal(e[6], 58, "ICMPv6");
  assert.deepEqual(e.subarray(8, 24), Buffer.from(SOURCE), "from icmpSource");
  assert.deepEqual(e.subarray(24, 40), inner.subarray(8, 24), "to the inner source");
  assert.equal(e[40], 1, "destination unreachable");
  assert.equal(e[41], 3, "address unreachable (RFC 4213 §3.4)");
  assert.deepEqual(e.subarray(48), inner, "quotes the inner packet");
  assert.ok(upperChecksumOk(e));
});

test("time exceeded, parameter problem, prohibited codes are answered too", () => {
  for (const [type, code] of [
    [11, 0],
    [12, 0],
    [3, 13],
    [3, 0],
  ] as const) {
    assert.equal(answer(ours, type, code).length, 1, `${type}/${code}`);
  }
});

test("a quote with the inner IPv6 header but little else is answered with what there is", () => {
  const [e] = answer(ours.subarray(0, 60));
  assert.ok(e);
  assert.equal(e.length, 40 + 8 + 40);
});

test("left alone: too short a quote, not ours, not protocol 41, a later fragment", () => {
  assert.equal(answer(ours.subarray(0, 28)).length, 0, "RFC 792's 8 bytes");
  assert.equal(answer(ours.subarray(0, 59)).length, 0, "inner header cut");
  const other = encapsulate6to4(inner, "192.88.99.2", "100.64.7.7", { df: false });
  assert.equal(answer(other).length, 0, "another source");
  const udp = Buffer.from(ours);
  udp[9] = 17;
  assert.equal(answer(udp).length, 0);
  const frag = Buffer.from(ours);
  frag[7] = 1;
  assert.equal(answer(frag).length, 0);
  const v4 = Buffer.from(ours);
  v4[20] = 0x45;
  assert.equal(answer(v4).length, 0, "inner not IPv6");
});

test("left alone: fragmentation needed, source quench, local errors, disabled", () => {
  assert.equal(answer(ours, 3, 4).length, 0);
  assert.equal(answer(ours, 4, 0).length, 0);
  assert.equal(answer(ours, -1, -1).length, 0);
  assert.equal(answer(ours, 3, 1, { ...ctx, enabled: false }).length, 0);
});

test("RFC 4443 §2.4 (e): no error to a multicast source nor about an ICMPv6 error", () => {
  const mc = buildIcmpv6EchoPacket({ src: "ff02::1", dst: "2002:6440:707::1", hopLimit: 63 });
  assert.equal(answer(encapsulate6to4(mc, "192.88.99.1", "100.64.7.7")).length, 0);
  const err = Buffer.from(inner);
  err[40] = 1; // the inner packet is itself an ICMPv6 error
  assert.equal(answer(encapsulate6to4(err, "192.88.99.1", "100.64.7.7")).length, 0);
});

test("rate-limited with the ICMPv6 error limiter; counted as sent / rate-limited", () => {
  const counters = new DataplaneCounters();
  const c = { ...ctx, icmpRateLimit: 2 };
  const path = new Icmpv4ErrorPath(counters, 2, 0);
  const ring = createIcmpErrorRing(4, 576);
  for (let i = 0; i < 4; i++) {
    ring.buf.set(ours, i * 576);
    ring.meta.set([3, 1, 0, ours.length], 4 * i);
  }
  path.processBatch(c, ring, 4, 0);
  assert.equal(path.toTun.count, 2);
  assert.equal(counters.traffic[CTR_ICMP_SENT], 2);
  assert.equal(counters.traffic[CTR_ICMP_RATE_LIMITED], 2);
});

test("PMT CPE: the translated source in the quote is mapped back to the LAN host's address", () => {
  const mapping = createPmtMapping({ providerPrefix: parseIpv6Prefix("2001:db8::/32")! });
  const lanHost = buildIcmpv6EchoPacket({
    src: "2002:6440:2::100", // 2001:db8:6440:2::100 as translated on the way out
    dst: "2002:6440:707::1",
    hopLimit: 63,
  });
  const c: TunnelErrorContext = {
    ...ctx,
    ownIpv4s: [0x64400002],
    icmpSource: parseIpv6("2001:db8:6440:2::1")!,
    lanMapping: mapping,
  };
  const [e] = answer(encapsulate6to4(lanHost, "100.64.0.2", "100.64.7.7"), 3, 1, c);
  assert.ok(e);
  assert.deepEqual(e.subarray(24, 40), Buffer.from(parseIpv6("2001:db8:6440:2::100")!));
  assert.deepEqual(e.subarray(48 + 8, 48 + 24), Buffer.from(parseIpv6("2001:db8:6440:2::100")!));
  assert.ok(upperChecksumOk(e));
});
