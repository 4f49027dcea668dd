/**
 * control/wan-next-hop.ts: which next hop `wan_send packet` uses, from what the route and
 * neighbour lookup says (a scripted lookup, a recording send path, a fake clock), and what is
 * counted: fallbacks from AF_PACKET to the raw socket, unresolved resolves, next-hop changes.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv4 } from "../../../module/addr/ipv4.js";
import {
  NUD_DELAY,
  NUD_FAILED,
  NUD_INCOMPLETE,
  NUD_REACHABLE,
  NUD_STALE,
  EVENT_DELAY_MS,
  RESOLVE_INTERVAL_MS,
  WanNextHop,
  nudName,
  type NextHopLookup,
} from "../../../module/control/wan-next-hop.js";
import {
  ROUTE_EVENT_NEIGH,
  ROUTE_EVENT_ROUTE,
  type PacketSendPath,
} from "../../../module/io/ports.js";
import { createLogger } from "../../../module/log/logger.js";
import { FakeClock } from "../../support/fake-clock.js";
import { FakeRouteEvents, failWatch } from "../../support/fake-route-events.js";

const RELAY = parseIpv4("192.88.99.1")!;
const GW = parseIpv4("100.64.0.1")!;
const MAC = Uint8Array.from([2, 0, 0x5e, 0, 0, 1]);
const MAC2 = Uint8Array.from([2, 0, 0x5e, 0, 0, 2]);

class RecordingPath implements PacketSendPath {
  active = false;
  packets = 0;
  sets: [number, number, string][] = [];
  failure: ((code: string) => void) | undefined;
  set(dst: number, ifindex: number, lladdr: Uint8Array): void {
    this.active = true;
    this.sets.push([dst, ifindex, Buffer.from(lladdr).toString("hex")]);
  }
  intervals: Uint32Array[] = [];
  setIntervals(iv: Uint32Array, ifindex: number, lladdr: Uint8Array): void {
    this.set(0, ifindex, lladdr);
    this.intervals.push(iv);
  }
  clear(): void {
    this.active = false;
  }
  rawOnces = 0;
  rawOnce(): void {
    this.rawOnces++;
  }
  onFailure(h: (code: string) => void): void {
    this.failure = h;
  }
}

function setup(first: NextHopLookup | null, events?: FakeRouteEvents) {
  const path = new RecordingPath();
  const clock = new FakeClock(0);
  const used: [number, number][] = [];
  const lookups: [number, number][] = [];
  let answer: NextHopLookup | null = first;
  const r = new WanNextHop({
    path,
    lookup: (dst, oif) => {
      lookups.push([dst, oif]);
      return answer;
    },
    neighUse: (ifindex, addr) => used.push([ifindex, addr]),
    boundIfindex: () => 7,
    ...(events !== undefined ? { watch: events.watch } : {}),
    clock,
    log: createLogger("error", "test"),
  });
  return { r, path, clock, used, lookups, answer: (a: NextHopLookup | null) => (answer = a) };
}

const hop = (state: number, lladdr = MAC, extra: Partial<NextHopLookup> = {}): NextHopLookup => ({
  type: 1,
  oif: 7,
  ifname: "wan0",
  addrLen: 6,
  gateway: GW,
  neighState: state,
  lladdr,
  ...extra,
});

test("a REACHABLE gateway: packets to the relay go over AF_PACKET to its MAC", () => {
  const t = setup(hop(NUD_REACHABLE));
  const s = (t.r.setTarget(RELAY), t.r.status());
  assert.deepEqual(t.lookups, [[RELAY, 7]], "looked up as the raw socket bound to wan_device");
  assert.deepEqual(t.path.sets, [[RELAY, 7, "02005e000001"]]);
  assert.equal(s.active, "packet");
  assert.deepEqual(s.nextHop, {
    device: "wan0",
    gateway: "100.64.0.1",
    lladdr: "02:00:5e:00:00:01",
  });
  assert.deepEqual(t.r.counters(), {
    wan_send_af_packet: 0,
    wan_send_fallbacks: 0,
    wan_send_unresolved: 0,
    wan_send_next_hop_changes: 0,
    wan_send_route_events: 0,
  });
  assert.equal(s.routeEvents, undefined, "change events not watched");
  assert.deepEqual(t.used, [], "a REACHABLE entry is not touched");
});

test("every resolve that keeps AF_PACKET sends one batch through the raw socket (the firewall's conntrack)", () => {
  const t = setup(hop(NUD_REACHABLE));
  t.r.setTarget(RELAY);
  t.r.start();
  assert.equal(t.path.rawOnces, 1, "at the first resolve");
  t.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(t.path.rawOnces, 2, "at each periodic resolve, next hop unchanged");
  t.answer(hop(NUD_FAILED, new Uint8Array(0)));
  t.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(t.path.active, false);
  assert.equal(t.path.rawOnces, 2, "not when the path went back to the raw socket anyway");
  t.r.stop();
});

test("unusable neighbour (none, INCOMPLETE, FAILED) or no route: raw socket, counted", () => {
  for (const [answer, reason] of [
    [hop(0, new Uint8Array(0)), /neighbour 100\.64\.0\.1 on wan0: none/],
    [hop(NUD_INCOMPLETE, new Uint8Array(0)), /INCOMPLETE/],
    [hop(NUD_FAILED, new Uint8Array(0)), /FAILED/],
    [null, /no route to 192\.88\.99\.1/],
    [hop(NUD_REACHABLE, MAC, { type: 2 }), /not unicast/],
  ] as const) {
    const t = setup(answer);
    t.r.setTarget(RELAY);
    const s = t.r.status();
    assert.equal(s.active, "raw");
    assert.match(s.reason, reason);
    assert.equal(s.unresolved, 1);
    assert.equal(s.fallbacks, 0, "never was on AF_PACKET: no fallback");
    assert.deepEqual(t.path.sets, []);
  }
});

test("AF_PACKET -> neighbour FAILED: one fallback; back once REACHABLE again", () => {
  const t = setup(hop(NUD_REACHABLE));
  t.r.setTarget(RELAY);
  t.answer(hop(NUD_FAILED, new Uint8Array(0)));
  assert.equal(t.r.resolve().active, "raw");
  assert.equal(t.path.active, false);
  t.r.resolve(); // still failed: no second fallback
  assert.equal(t.r.status().fallbacks, 1);
  assert.equal(t.r.status().unresolved, 2);
  t.answer(hop(NUD_REACHABLE));
  assert.equal(t.r.resolve().active, "packet");
});

test("a STALE entry stays in use and is marked used so the kernel probes it again", () => {
  const t = setup(hop(NUD_STALE));
  t.r.setTarget(RELAY);
  assert.equal(t.r.status().active, "packet");
  assert.deepEqual(t.used, [[7, GW]]);
  t.answer(hop(NUD_DELAY));
  t.r.resolve();
  assert.equal(t.r.status().active, "packet");
  assert.equal(t.used.length, 1, "DELAY: the kernel is probing already");
});

test("the gateway's MAC changes: the new one is used, counted as a next-hop change", () => {
  const t = setup(hop(NUD_REACHABLE));
  t.r.setTarget(RELAY);
  t.answer(hop(NUD_REACHABLE, MAC2));
  const s = t.r.resolve();
  assert.equal(s.nextHopChanges, 1);
  assert.equal(s.nextHop?.lladdr, "02:00:5e:00:00:02");
  assert.deepEqual(t.path.sets.at(-1), [RELAY, 7, "02005e000002"]);
});

test("a device without link-layer addresses (PPP): AF_PACKET with an empty address", () => {
  const t = setup(hop(0, new Uint8Array(0), { addrLen: 0, gateway: 0, ifname: "pppoe-wan" }));
  t.r.setTarget(RELAY);
  assert.deepEqual(t.path.sets, [[RELAY, 7, ""]]);
  assert.match(t.r.status().reason, /pppoe-wan has no link-layer addresses/);
});

test("not forwarding: raw, not counted as unresolved; re-resolved on the timer and on failure", () => {
  const t = setup(hop(NUD_REACHABLE));
  t.r.setTarget(0);
  assert.equal(t.r.status().active, "raw");
  assert.equal(t.r.status().unresolved, 0);
  assert.equal(t.lookups.length, 0);
  t.r.setTarget(RELAY);
  t.r.start();
  const n = t.lookups.length;
  t.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(t.lookups.length, n + 1, "one resolve per interval");
  // The send path failed (device down): it cleared itself; one fallback, resolved at once.
  t.path.active = false;
  t.path.failure!("ENETDOWN");
  assert.equal(t.r.status().fallbacks, 1);
  assert.equal(t.lookups.length, n + 2);
  t.r.stop();
  t.clock.advance(RESOLVE_INTERVAL_MS * 3);
  assert.equal(t.lookups.length, n + 2, "stopped");
  assert.equal(t.path.active, false);
});

test("change events: a burst resolves once, EVENT_DELAY_MS after its first; neighbours on the route's device", () => {
  const ev = new FakeRouteEvents();
  const t = setup(hop(NUD_REACHABLE), ev);
  t.r.start();
  t.r.setTarget(RELAY);
  assert.equal(ev.opened, 1);
  assert.equal(ev.filter!.neighIfindex(), 7, "the looked-up route's device");
  assert.deepEqual(
    [...ev.filter!.routeRanges()!],
    [RELAY, RELAY],
    "route changes that cover the relay in use",
  );
  assert.equal(t.r.status().routeEvents, 0);
  const n = t.lookups.length;
  // The gateway's MAC changed (a new router, gratuitous ARP): resolved without waiting for the
  // periodic resolve.
  t.answer(hop(NUD_REACHABLE, MAC2));
  ev.fire(ROUTE_EVENT_NEIGH);
  ev.fire(ROUTE_EVENT_ROUTE);
  t.clock.advance(EVENT_DELAY_MS - 1);
  assert.equal(t.lookups.length, n, "the rest of the burst is waited for");
  t.clock.advance(1);
  assert.equal(t.lookups.length, n + 1, "one resolve for the burst");
  assert.deepEqual(t.path.sets.at(-1), [RELAY, 7, "02005e000002"]);
  const s = t.r.status();
  assert.equal(s.routeEvents, 2);
  assert.equal(s.nextHopChanges, 1);
  assert.equal(t.r.counters().wan_send_route_events, 2);
  // The route went away: raw at once.
  t.answer(null);
  ev.fire(ROUTE_EVENT_ROUTE);
  t.clock.advance(EVENT_DELAY_MS);
  assert.equal(t.path.active, false);
  assert.match(t.r.status().reason, /no route to 192\.88\.99\.1/);
  // Stopped: the watch is closed and a pending burst is dropped.
  ev.fire(ROUTE_EVENT_ROUTE);
  t.r.stop();
  assert.equal(ev.closed, 1);
  const m = t.lookups.length;
  t.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(t.lookups.length, m);
});

test("change events that can no longer be read: resolved as lost events, then the periodic resolve alone", () => {
  const ev = new FakeRouteEvents();
  const t = setup(hop(NUD_REACHABLE), ev);
  t.r.start();
  t.r.setTarget(RELAY);
  const n = t.lookups.length;
  failWatch(ev, "recv rtnetlink events: ENOMEM");
  t.clock.advance(EVENT_DELAY_MS);
  assert.equal(t.lookups.length, n + 1, "resolved as after lost events");
  assert.equal(t.r.status().routeEvents, undefined, "no longer watched");
  t.r.stop();
  assert.equal(ev.closed, 0, "the watch closed itself");
});

test("change events that cannot be watched: a warning, the periodic resolve goes on", () => {
  const ev = new FakeRouteEvents();
  ev.fail = true;
  const t = setup(hop(NUD_REACHABLE), ev);
  t.r.setTarget(RELAY);
  t.r.start();
  assert.equal(t.r.status().routeEvents, undefined);
  const n = t.lookups.length;
  t.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(t.lookups.length, n + 1);
  t.r.stop();
  assert.equal(ev.closed, 0);
});

test("nudName", () => {
  assert.equal(nudName(0), "none");
  assert.equal(nudName(NUD_STALE), "STALE");
  assert.equal(nudName(NUD_REACHABLE | NUD_STALE), "REACHABLE,STALE");
});
