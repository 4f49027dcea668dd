/**
 * Counters (every drop by reason, packets/bytes each way), the Prometheus text format served by
 * the relay's metrics port, the ICMPv6 error token bucket (RFC 4443 §2.4 (f), RFC 6343 §4.4
 * item 6) and the preallocated transmit batch.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { DROP_REASON_NAMES, DROP_OWN_IPV4_EMBEDDED } from "../../../module/addr/drop-reason.js";
import {
  CTR_IN_PACKETS,
  DataplaneCounters,
  formatPrometheus,
} from "../../../module/dataplane/counters.js";
import { IcmpRateLimiter } from "../../../module/dataplane/icmp-rate-limit.js";
import { PacketPool, TxBatch } from "../../../module/dataplane/tx-batch.js";

test("counters: one slot per drop reason, snapshot by name", () => {
  const c = new DataplaneCounters();
  assert.equal(c.drops.length, DROP_REASON_NAMES.length);
  c.drop(DROP_OWN_IPV4_EMBEDDED);
  c.drop(DROP_OWN_IPV4_EMBEDDED);
  c.traffic[CTR_IN_PACKETS]!++;
  const s = c.snapshot();
  assert.equal(s.drops.own_ipv4_embedded, 2);
  assert.equal(s.traffic.in_packets, 1);
  assert.equal(c.totalDrops(), 2);
  assert.equal("none" in s.drops, false);
});

test("Prometheus exposition: one line per counter and reason", () => {
  const c = new DataplaneCounters();
  c.drop(DROP_OWN_IPV4_EMBEDDED);
  const text = formatPrometheus("relay", c.snapshot());
  assert.match(text, /^# TYPE sixto4pmt_drops_total counter$/m);
  assert.match(text, /^sixto4pmt_drops_total\{role="relay",reason="own_ipv4_embedded"\} 1$/m);
  assert.match(text, /^sixto4pmt_traffic_total\{role="relay",counter="out_packets"\} 0$/m);
  assert.ok(text.endsWith("\n"));
  assert.doesNotMatch(text, /tun_offload/, "no offload family without offload counters");
  const off = formatPrometheus("cpe", { ...c.snapshot(), offload: { segments_cut: 44 } });
  assert.match(off, /^# TYPE sixto4pmt_tun_offload_total counter$/m);
  assert.match(off, /^sixto4pmt_tun_offload_total\{role="cpe",counter="segments_cut"\} 44$/m);
  assert.doesNotMatch(text, /worker_packets/, "no worker family with one worker");
  assert.doesNotMatch(text, /wan_send_intervals/, "no gauge without wan_send packet");
  const snap = c.snapshot();
  snap.traffic.wan_send_af_packet = 7;
  snap.traffic.wan_send_intervals = 2;
  const ws = formatPrometheus("relay", snap);
  assert.match(ws, /^sixto4pmt_traffic_total\{role="relay",counter="wan_send_af_packet"\} 7$/m);
  assert.match(ws, /^# TYPE sixto4pmt_wan_send_intervals gauge$/m);
  assert.match(ws, /^sixto4pmt_wan_send_intervals\{role="relay"\} 2$/m);
  assert.doesNotMatch(ws, /counter="wan_send_intervals"/, "a level is no counter");
  const w = { worker: 2, tid: 9, in_packets: 5, out_packets: 6, batches_in: 1, batches_out: 1 };
  const workers = formatPrometheus("relay", { ...c.snapshot(), workers: [{ ...w, drops: 0 }] });
  assert.match(
    workers,
    /^sixto4pmt_worker_packets_total\{role="relay",worker="2",direction="in"\} 5$/m,
  );
  assert.match(
    workers,
    /^sixto4pmt_worker_packets_total\{role="relay",worker="2",direction="out"\} 6$/m,
  );
});

test("token bucket: burst, refill by elapsed time, rate 0 never sends", () => {
  const b = new IcmpRateLimiter(1000, 1000, 0);
  let sent = 0;
  for (let i = 0; i < 2000; i++) if (b.take(0)) sent++;
  assert.equal(sent, 1000, "one second's burst");
  assert.equal(b.take(0.5), false, "half a token is not a token");
  assert.equal(b.take(1), true, "1 ms at 1000/s = one token");
  sent = 0;
  for (let i = 0; i < 2000; i++) if (b.take(101)) sent++;
  assert.equal(sent, 100);
  assert.equal(new IcmpRateLimiter(0).take(1e9), false);
  const back = new IcmpRateLimiter(10, 10, 1000);
  for (let i = 0; i < 10; i++) assert.equal(back.take(1000), true);
  assert.equal(back.take(500), false, "a clock going backwards adds nothing");
});

test("TxBatch refuses past capacity; PacketPool hands out its buffers round-robin", () => {
  const t = new TxBatch(2);
  const b = Buffer.alloc(4);
  assert.equal(t.push(b, 0, 4), true);
  assert.equal(t.push(b, 1, 3), true);
  assert.equal(t.push(b, 2, 2), false);
  assert.deepEqual([t.count, t.offsets[1], t.sizes[1]], [2, 1, 3]);
  t.clear();
  assert.equal(t.count, 0);
  const pool = new PacketPool(2, 16);
  const a = pool.take();
  const c = pool.take();
  assert.notEqual(a, c);
  assert.equal(pool.take(), a);
});

test("per-range counters in Prometheus: packets and bytes by range and direction", () => {
  const text = formatPrometheus("relay", {
    traffic: {},
    drops: {},
    customers: [
      { range: "100.64.0.0/10", in_packets: 3, in_bytes: 300, out_packets: 2, out_bytes: 200 },
    ],
  });
  assert.match(text, /^# TYPE sixto4pmt_customer_range_packets_total counter$/m);
  assert.match(
    text,
    /^sixto4pmt_customer_range_packets_total\{role="relay",range="100\.64\.0\.0\/10",direction="in"\} 3$/m,
  );
  assert.match(
    text,
    /^sixto4pmt_customer_range_bytes_total\{role="relay",range="100\.64\.0\.0\/10",direction="out"\} 200$/m,
  );
  assert.doesNotMatch(formatPrometheus("cpe", { traffic: {}, drops: {} }), /customer_range/);
});
