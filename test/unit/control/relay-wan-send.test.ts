/**
 * control/relay-wan-send.ts: which customer addresses the relay's `wan_send packet` sends over
 * AF_PACKET, from a routing table (longest-prefix intervals of the main table, the gateway that
 * carries most customers) and the kernel's lookup and neighbour entry (scripted), and what is
 * counted and shown when it falls back to the raw socket.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIpv4, parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import {
  DUMP_SHARE,
  MAX_DUMP_INTERVAL_MS,
  MAX_KEPT,
  MAX_ROUTES,
  RelayWanSend,
  lpmIntervals,
  mainRoutes,
  packetIntervals,
  type Route4,
} from "../../../module/control/relay-wan-send.js";
import {
  NUD_FAILED,
  NUD_REACHABLE,
  NUD_STALE,
  EVENT_DELAY_MS,
  RESOLVE_INTERVAL_MS,
  type NextHopLookup,
} from "../../../module/control/wan-next-hop.js";
import {
  ROUTE_EVENT_LOST,
  ROUTE_EVENT_NEIGH,
  ROUTE_EVENT_ROUTE,
  type PacketSendPath,
} from "../../../module/io/ports.js";
import { createLogger } from "../../../module/log/logger.js";
import { FakeClock } from "../../support/fake-clock.js";
import { FakeRouteEvents } from "../../support/fake-route-events.js";

const ip = (s: string): number => parseIpv4(s)!;
const pfx = (s: string) => parseIpv4Prefix(s)!;
const GW = ip("192.0.2.1");
const GW2 = ip("192.0.2.2");
const MAC = Uint8Array.from([2, 0, 0x5e, 0, 0, 1]);

/** A routeDump4 answer: [prefix, table, type, oif, gateway, metric?] per route. */
function dump(routes: [string, number, number, number, string, number?][]): Uint32Array {
  const out: number[] = [];
  for (const [p, table, type, oif, gw, metric] of routes) {
    const x = pfx(p);
    out.push(x.addr >>> 0, x.len, table, type, oif, gw === "" ? 0 : ip(gw), metric ?? 0);
  }
  return Uint32Array.from(out);
}

/** The intervals as "first-last" strings. */
function show(iv: Uint32Array): string[] {
  const out: string[] = [];
  for (let i = 0; i < iv.length; i += 2)
    out.push(`${formatIpv4(iv[i]!)}-${formatIpv4(iv[i + 1]!)}`);
  return out;
}

function route(p: string, oif: number, gw: string, type = 1, priority = 0): Route4 {
  const x = pfx(p);
  return { start: x.addr >>> 0, len: x.len, type, oif, gateway: gw === "" ? 0 : ip(gw), priority };
}

test("lpmIntervals: nested prefixes cut the space into longest-match intervals", () => {
  const def = route("0.0.0.0/0", 2, "192.0.2.1");
  const net = route("100.64.0.0/10", 2, "192.0.2.2");
  const hole = route("100.64.9.0/24", 3, "");
  const t = lpmIntervals([hole, def, net]);
  const text = t.map(
    (i) => `${formatIpv4(i.first)}-${formatIpv4(i.last)} ${i.route ? i.route.len : "none"}`,
  );
  assert.deepEqual(text, [
    "0.0.0.0-100.63.255.255 0",
    "100.64.0.0-100.64.8.255 10",
    "100.64.9.0-100.64.9.255 24",
    "100.64.10.0-100.127.255.255 10",
    "100.128.0.0-255.255.255.255 0",
  ]);
});

test("lpmIntervals: without a default route the gaps have no route; a host route is one address", () => {
  const t = lpmIntervals([
    route("198.51.100.0/24", 2, "192.0.2.1"),
    route("198.51.100.7/32", 2, ""),
  ]);
  const text = t.map((i) => `${formatIpv4(i.first)}-${formatIpv4(i.last)} ${i.route?.len ?? "-"}`);
  assert.deepEqual(text, [
    "0.0.0.0-198.51.99.255 -",
    "198.51.100.0-198.51.100.6 24",
    "198.51.100.7-198.51.100.7 32",
    "198.51.100.8-198.51.100.255 24",
    "198.51.101.0-255.255.255.255 -",
  ]);
});

test("lpmIntervals: one prefix twice with different next hops qualifies nowhere", () => {
  const t = lpmIntervals([
    route("100.64.0.0/10", 2, "192.0.2.1"),
    route("100.64.0.0/10", 2, "192.0.2.2"),
  ]);
  const mid = t.find((i) => i.first === ip("100.64.0.0"))!;
  assert.equal(mid.route?.type, -1);
  const r = packetIntervals(t, [pfx("100.64.0.0/10")]);
  assert.ok("none" in r);
});

test("lpmIntervals: of one prefix the lower metric matches (a backup route waits), in any order", () => {
  const main = route("0.0.0.0/0", 2, "192.0.2.1", 1, 100);
  const backup = route("0.0.0.0/0", 3, "198.51.100.1", 1, 200);
  for (const order of [
    [main, backup],
    [backup, main],
  ]) {
    const t = lpmIntervals(order);
    assert.equal(t.length, 1);
    assert.equal(t[0]!.route?.gateway, GW);
    const r = packetIntervals(t, [pfx("100.64.0.0/10")]);
    assert.ok(!("none" in r));
    assert.equal(r.oif, 2);
  }
  // The first gone (its link down): the backup.
  assert.equal(lpmIntervals([backup])[0]!.route?.gateway, ip("198.51.100.1"));
  // The same metric through two gateways: no single answer.
  const twin = route("0.0.0.0/0", 3, "198.51.100.1", 1, 100);
  assert.equal(lpmIntervals([main, twin])[0]!.route?.type, -1);
  assert.equal(
    lpmIntervals([main, twin, route("0.0.0.0/0", 4, "192.0.2.9", 1, 50)])[0]!.route?.oif,
    4,
  );
});

test("packetIntervals: the customer ranges through one gateway, minus more specific routes", () => {
  const t = lpmIntervals([
    route("0.0.0.0/0", 2, "192.0.2.1"),
    route("100.64.9.0/24", 2, "192.0.2.2"),
    route("192.0.2.0/24", 2, ""),
  ]);
  const r = packetIntervals(t, [pfx("100.64.0.0/10"), pfx("198.51.100.0/24"), pfx("192.0.2.0/25")]);
  assert.ok(!("none" in r));
  assert.equal(r.gateway, GW);
  assert.equal(r.oif, 2);
  assert.deepEqual(show(r.intervals), [
    "100.64.0.0-100.64.8.255",
    "100.64.10.0-100.127.255.255",
    "198.51.100.0-198.51.100.255",
  ]);
});

test("packetIntervals: overlapping and adjacent customer ranges merge; the larger gateway wins", () => {
  const t = lpmIntervals([
    route("100.64.0.0/11", 2, "192.0.2.1"),
    route("100.96.0.0/11", 4, "192.0.2.2"),
  ]);
  const r = packetIntervals(t, [
    pfx("100.64.0.0/12"),
    pfx("100.80.0.0/12"),
    pfx("100.64.0.0/16"),
    pfx("100.96.0.0/16"),
  ]);
  assert.ok(!("none" in r));
  assert.equal(r.gateway, GW);
  assert.deepEqual(show(r.intervals), ["100.64.0.0-100.95.255.255"]);
});

test("packetIntervals: on-link, multipath, unreachable and unrouted customers leave nothing", () => {
  assert.deepEqual(packetIntervals(lpmIntervals([]), [pfx("100.64.0.0/10")]), {
    none: "no customer range is routed through a gateway (on link, multipath or no route)",
  });
  for (const r of [
    route("100.64.0.0/10", 2, ""),
    route("100.64.0.0/10", 0, "", 1 | 0x100),
    route("100.64.0.0/10", 0, "", 7),
  ]) {
    assert.ok("none" in packetIntervals(lpmIntervals([r]), [pfx("100.64.0.0/10")]));
  }
  assert.deepEqual(packetIntervals(lpmIntervals([route("0.0.0.0/0", 2, "192.0.2.1")]), []), {
    none: "no customer ranges (customer_ipv4)",
  });
});

test("packetIntervals: more intervals than sendRaw4 takes leave nothing", () => {
  const routes = [route("0.0.0.0/0", 2, "192.0.2.1")];
  for (let i = 0; i < 5000; i++)
    routes.push({ ...route("100.64.0.0/32", 3, ""), start: ip("100.64.0.0") + 2 * i });
  const r = packetIntervals(lpmIntervals(routes), [pfx("100.64.0.0/10")]);
  assert.deepEqual(r, { none: "over 4096 customer intervals through 192.0.2.1" });
});

test("mainRoutes: only the main table, with the metric", () => {
  const d = dump([
    ["0.0.0.0/0", 254, 1, 2, "192.0.2.1", 100],
    ["100.64.0.0/10", 100, 1, 3, "192.0.2.2"],
    ["192.0.2.255/32", 255, 3, 2, ""],
  ]);
  assert.deepEqual(mainRoutes(d), [route("0.0.0.0/0", 2, "192.0.2.1", 1, 100)]);
});

class RecordingPath implements PacketSendPath {
  active = false;
  packets = 0;
  last: { iv: string[]; ifindex: number; mac: string } | null = null;
  failure: ((code: string) => void) | undefined;
  set(): void {
    throw new Error("the relay sets intervals");
  }
  setIntervals(iv: Uint32Array, ifindex: number, lladdr: Uint8Array): void {
    this.active = true;
    this.last = { iv: show(iv), ifindex, mac: Buffer.from(lladdr).toString("hex") };
  }
  clear(): void {
    this.active = false;
  }
  rawOnce(): void {}
  onFailure(h: (code: string) => void): void {
    this.failure = h;
  }
}

function setup(table: Uint32Array | null, answer: NextHopLookup | null, events?: FakeRouteEvents) {
  const path = new RecordingPath();
  const clock = new FakeClock(0);
  const used: number[] = [];
  const lookups: number[] = [];
  const deps = {
    table,
    answer,
    /** Monotonic milliseconds; a dump takes `dumpMs` of them. */
    mono: 0,
    dumpMs: 0,
    dumps: 0,
    /** The ranges each dump was asked for. */
    ranges: [] as string[][],
    /** Deferred: dumps come back only when `finish()` is called (in order). */
    defer: false,
    pending: [] as (() => void)[],
    finish(): void {
      deps.pending.shift()!();
    },
  };
  const r = new RelayWanSend({
    path,
    dump: (max, ranges, done) => {
      assert.equal(max, MAX_ROUTES);
      deps.dumps++;
      deps.ranges.push(show(ranges));
      const table = deps.table;
      const back = (): void => {
        deps.mono += deps.dumpMs;
        if (table === null) done(null, null, MAX_ROUTES);
        else done(null, table, table.length / 7);
      };
      if (deps.defer) deps.pending.push(back);
      else back();
    },
    monotonic: () => deps.mono,
    lookup: (dst) => {
      lookups.push(dst);
      return deps.answer;
    },
    neighUse: (_i, addr) => void used.push(addr),
    ranges: [pfx("100.64.0.0/10")],
    ...(events !== undefined ? { watch: events.watch } : {}),
    clock,
    log: createLogger("error"),
  });
  return { r, path, clock, used, lookups, deps };
}

const TABLE = dump([
  ["0.0.0.0/0", 254, 1, 2, "192.0.2.1"],
  ["192.0.2.0/24", 254, 1, 2, ""],
]);
const hop = (state: number, gateway = GW): NextHopLookup => ({
  type: 1,
  oif: 2,
  ifname: "wan0",
  addrLen: 6,
  gateway,
  neighState: state,
  lladdr: state & (NUD_REACHABLE | NUD_STALE) ? MAC : new Uint8Array(0),
});

test("RelayWanSend: customers behind one gateway go over AF_PACKET to its MAC", () => {
  const s = setup(TABLE, hop(NUD_REACHABLE));
  s.r.start();
  assert.deepEqual(s.path.last, {
    iv: ["100.64.0.0-100.127.255.255"],
    ifindex: 2,
    mac: "02005e000001",
  });
  assert.deepEqual(s.lookups, [ip("100.64.0.0")]);
  const st = s.r.status();
  assert.equal(st.active, "packet");
  assert.deepEqual(st.nextHop, {
    device: "wan0",
    gateway: "192.0.2.1",
    lladdr: "02:00:5e:00:00:01",
  });
  assert.match(
    st.reason,
    /^1 customer interval\(s\) via 192\.0\.2\.1; neighbour 192\.0\.2\.1 on wan0: REACHABLE$/,
  );
  assert.equal(s.r.counters().wan_send_intervals, 1);
  s.r.stop();
  assert.equal(s.path.active, false);
});

test("RelayWanSend: re-resolved every interval; a failed neighbour falls back, counted", () => {
  const s = setup(TABLE, hop(NUD_STALE));
  s.r.start();
  assert.equal(s.path.active, true);
  assert.deepEqual(s.used, [GW], "a STALE gateway is marked used so the kernel probes it");
  s.deps.answer = hop(NUD_FAILED);
  s.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(s.path.active, false);
  const c = s.r.counters();
  assert.equal(c.wan_send_fallbacks, 1);
  assert.equal(c.wan_send_unresolved, 1);
  assert.equal(s.r.status().reason, "neighbour 192.0.2.1 on wan0: FAILED");
  s.deps.answer = hop(NUD_REACHABLE);
  s.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(s.path.active, true);
  s.r.stop();
});

test("RelayWanSend: the kernel's lookup disagreeing with the main table (policy routing) keeps raw", () => {
  const s = setup(TABLE, hop(NUD_REACHABLE, GW2));
  s.r.start();
  assert.equal(s.path.active, false);
  assert.equal(
    s.r.status().reason,
    "the kernel routes 100.64.0.0 otherwise than the main table (policy routing)",
  );
  s.r.stop();
});

test("RelayWanSend: a table too large to cut, or a failed send, goes back to the raw socket", () => {
  const s = setup(null, hop(NUD_REACHABLE));
  s.r.start();
  assert.equal(s.path.active, false);
  assert.equal(s.r.status().reason, `routing table over ${MAX_ROUTES} routes`);
  s.deps.table = TABLE;
  s.r.resolve();
  assert.equal(s.path.active, true);
  // A send failure: the path cleared itself; the resolver counts it and resolves again.
  s.path.active = false;
  s.deps.answer = null;
  s.path.failure!("ENETDOWN");
  assert.equal(s.r.counters().wan_send_fallbacks, 1);
  assert.equal(s.path.active, false);
  s.r.stop();
});

test("RelayWanSend: a changed table of the same size is cut anew, an unchanged one gives the same", () => {
  const s = setup(TABLE, hop(NUD_REACHABLE));
  s.r.start();
  assert.deepEqual(s.path.last?.iv, ["100.64.0.0-100.127.255.255"]);
  // The same routes again (a fresh dump): the same intervals.
  s.deps.table = TABLE.slice();
  s.r.resolve();
  assert.deepEqual(s.path.last?.iv, ["100.64.0.0-100.127.255.255"]);
  // As many routes, one of them now a customer /16 through the gateway (was the on-link /24).
  s.deps.table = dump([
    ["0.0.0.0/0", 254, 1, 2, "192.0.2.1"],
    ["100.64.0.0/16", 254, 1, 2, ""],
  ]);
  s.r.resolve();
  assert.deepEqual(s.path.last?.iv, ["100.65.0.0-100.127.255.255"]);
  assert.equal(s.lookups.at(-1), ip("100.65.0.0"));
  s.r.stop();
});

test("RelayWanSend: a slow dump is repeated less often; the neighbour is still checked every interval", () => {
  const s = setup(TABLE, hop(NUD_REACHABLE));
  // 50 ms per dump: the periodic resolve dumps every 100 x 50 ms = 5 s.
  s.deps.dumpMs = 50;
  s.r.start();
  assert.equal(s.deps.dumps, 1);
  const seen: [number, number, boolean][] = [];
  for (let i = 0; i < 3; i++) {
    if (i === 1) s.deps.answer = hop(NUD_FAILED);
    if (i === 2) s.deps.answer = hop(NUD_REACHABLE);
    s.clock.advance(RESOLVE_INTERVAL_MS);
    seen.push([s.deps.dumps, s.lookups.length, s.path.active]);
  }
  // 2 s and 4 s: no dump, but the kernel's lookup and the neighbour (FAILED at 4 s: raw);
  // 6 s: a dump again.
  assert.deepEqual(s.r.status().routes, { count: 2, kept: 2, ms: 50, everyS: 5 });
  assert.deepEqual(seen, [
    [1, 2, true],
    [1, 3, false],
    [2, 4, true],
  ]);
  // The `resolve` command and a failed send always dump.
  s.r.resolve();
  assert.equal(s.deps.dumps, 3);
  s.path.failure!("ENETDOWN");
  assert.equal(s.deps.dumps, 4);
  s.r.stop();
});

test("RelayWanSend: a table over the cap stays raw between dumps, with the reason", () => {
  const s = setup(null, hop(NUD_REACHABLE));
  s.deps.dumpMs = 40;
  s.r.start();
  s.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(s.deps.dumps, 1, "4 s between dumps");
  assert.equal(s.path.active, false);
  assert.equal(s.r.status().reason, `routing table over ${MAX_ROUTES} routes`);
  assert.deepEqual(s.r.status().routes, { count: null, kept: 0, ms: 40, everyS: 4 });
  assert.deepEqual(s.lookups, [], "nothing to look up");
  s.deps.table = TABLE;
  s.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(s.deps.dumps, 2);
  assert.equal(s.path.active, true);
  s.r.stop();
});

test("RelayWanSend: a route change dumps at once, a neighbour change looks up; periodic dumps only every MAX_DUMP_INTERVAL_MS", () => {
  const ev = new FakeRouteEvents();
  const s = setup(TABLE, hop(NUD_REACHABLE), ev);
  s.deps.dumpMs = 5; // a change is dumped no sooner than 100 x 5 ms after the last dump
  s.r.start();
  assert.equal(s.deps.dumps, 1);
  assert.equal(ev.filter!.neighIfindex(), 2, "neighbour changes on the gateway's device");
  assert.deepEqual(
    show(ev.filter!.routeRanges()!),
    ["100.64.0.0-100.127.255.255"],
    "route changes that meet a customer range",
  );
  assert.deepEqual(s.r.status().routes, {
    count: 2,
    kept: 2,
    ms: 5,
    everyS: MAX_DUMP_INTERVAL_MS / 1000,
  });
  // A customer /16 now on link: one dump for the burst, EVENT_DELAY_MS after it began.
  s.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(s.deps.dumps, 1, "the periodic resolve only looks up");
  s.deps.table = dump([
    ["0.0.0.0/0", 254, 1, 2, "192.0.2.1"],
    ["100.64.0.0/16", 254, 1, 2, ""],
  ]);
  ev.fire(ROUTE_EVENT_ROUTE);
  ev.fire(ROUTE_EVENT_ROUTE | ROUTE_EVENT_NEIGH);
  s.clock.advance(EVENT_DELAY_MS);
  assert.equal(s.deps.dumps, 2);
  assert.deepEqual(s.path.last?.iv, ["100.65.0.0-100.127.255.255"]);
  // The gateway's neighbour entry failed: lookup only, raw.
  s.deps.answer = hop(NUD_FAILED);
  ev.fire(ROUTE_EVENT_NEIGH);
  s.clock.advance(EVENT_DELAY_MS);
  assert.equal(s.deps.dumps, 2);
  assert.equal(s.path.active, false);
  assert.equal(s.r.status().routeEvents, 3);
  assert.equal(s.r.counters().wan_send_route_events, 3);
  s.deps.answer = hop(NUD_REACHABLE);
  // Lost events (the socket overran): a dump, once the last is 100 x 5 ms ago.
  ev.fire(ROUTE_EVENT_LOST);
  s.clock.advance(EVENT_DELAY_MS);
  assert.equal(s.deps.dumps, 2, "the last dump was 100 ms ago");
  s.clock.advance(DUMP_SHARE * 5);
  assert.equal(s.deps.dumps, 3);
  assert.equal(s.path.active, true);
  // No change: the periodic resolve dumps again MAX_DUMP_INTERVAL_MS after the last dump.
  s.clock.advance(MAX_DUMP_INTERVAL_MS - RESOLVE_INTERVAL_MS);
  assert.equal(s.deps.dumps, 3);
  s.clock.advance(2 * RESOLVE_INTERVAL_MS);
  assert.equal(s.deps.dumps, 4);
  s.r.stop();
  assert.equal(ev.closed, 1);
});

test("RelayWanSend: changes keep the dump's share of the main thread: a slow dump holds the next", () => {
  const ev = new FakeRouteEvents();
  const s = setup(TABLE, hop(NUD_REACHABLE), ev);
  s.deps.dumpMs = 40;
  s.r.start();
  const gap = DUMP_SHARE * 40;
  const t0 = s.clock.now();
  // BGP churn: a change every 100 ms for 10 s gives one dump per `gap`, not one per change.
  for (let t = 0; t < 10_000; t += 100) {
    ev.fire(ROUTE_EVENT_ROUTE);
    s.clock.advance(100);
  }
  s.clock.advance(gap);
  assert.equal(s.clock.now() - t0, 10_000 + gap);
  // Dumps at 4, 8 and 12 s (the last for the changes of 8-10 s), besides the first.
  assert.equal(s.deps.dumps, 1 + Math.floor((10_000 + gap) / gap));
  // A neighbour change is not held.
  s.deps.answer = hop(NUD_FAILED);
  s.r.resolve();
  const dumps = s.deps.dumps;
  s.deps.answer = hop(NUD_REACHABLE);
  ev.fire(ROUTE_EVENT_NEIGH);
  s.clock.advance(EVENT_DELAY_MS);
  assert.equal(s.path.active, true);
  assert.equal(s.deps.dumps, dumps);
  s.r.stop();
});

test("RelayWanSend: without the change events the periodic dump keeps its share (at least every interval)", () => {
  const ev = new FakeRouteEvents();
  ev.fail = true;
  const s = setup(TABLE, hop(NUD_REACHABLE), ev);
  s.r.start();
  assert.equal(s.r.status().routeEvents, undefined);
  assert.deepEqual(s.r.status().routes, {
    count: 2,
    kept: 2,
    ms: 0,
    everyS: RESOLVE_INTERVAL_MS / 1000,
  });
  s.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(s.deps.dumps, 2);
  s.r.stop();
});

test("RelayWanSend: the table is read off the event loop: one dump in flight, one more if asked meanwhile; `resolve` answers once applied", async () => {
  const s = setup(TABLE, hop(NUD_REACHABLE));
  s.deps.defer = true;
  s.r.start();
  assert.equal(s.deps.dumps, 1);
  assert.deepEqual(s.deps.ranges, [["100.64.0.0-100.127.255.255"]], "only customer routes kept");
  assert.equal(s.path.active, false);
  assert.equal(s.r.status().reason, "reading the routing table");
  s.r.resolve();
  const answer = s.r.resolveNow();
  assert.equal(s.deps.dumps, 1, "asked twice while in flight: none started");
  s.deps.finish();
  assert.equal(s.path.active, true);
  assert.equal(s.deps.dumps, 2, "one more for what was asked meanwhile");
  const w = await answer;
  assert.equal(w.active, "packet");
  assert.match(w.reason, /^1 customer interval\(s\) via 192\.0\.2\.1/);
  // A resolve with a dump in flight applies the last intervals at once (the neighbour now).
  s.deps.answer = hop(NUD_FAILED);
  assert.equal(s.r.resolve().active, "raw");
  s.deps.answer = hop(NUD_REACHABLE);
  s.deps.finish();
  assert.equal(s.path.active, true);
  assert.equal(s.deps.dumps, 3, "and one more for that resolve");
  s.deps.finish();
  assert.equal(s.deps.pending.length, 0);
  s.r.stop();
});

test("RelayWanSend: a dump that comes back after stop changes nothing; a waiting `resolve` gets its answer", async () => {
  const s = setup(TABLE, hop(NUD_REACHABLE));
  s.deps.defer = true;
  s.r.start();
  const answer = s.r.resolveNow();
  s.r.stop();
  s.deps.finish();
  assert.equal(s.path.active, false);
  assert.equal((await answer).active, "raw");
  assert.equal(s.deps.dumps, 1, "nothing more after stop");
});

test("RelayWanSend: too many customer routes, or a failed dump: raw socket with the reason", () => {
  const path = new RecordingPath();
  let answer: [Error | null, Uint32Array | null, number] = [null, null, 70_000];
  const r = new RelayWanSend({
    path,
    dump: (_max, _ranges, done) => done(...answer),
    lookup: () => hop(NUD_REACHABLE),
    neighUse: () => undefined,
    ranges: [pfx("100.64.0.0/10")],
    clock: new FakeClock(0),
    log: createLogger("error"),
  });
  assert.equal(r.resolve().reason, `over ${MAX_KEPT} routes meet the customer ranges`);
  assert.deepEqual(r.status().routes, { count: 70_000, kept: 0, ms: 0, everyS: 2 });
  answer = [new Error("recv rtnetlink: EPERM"), null, 0];
  assert.equal(r.resolve().reason, "route dump failed: recv rtnetlink: EPERM");
  answer = [null, TABLE, 2];
  assert.equal(r.resolve().active, "packet");
  r.stop();
});

test("RelayWanSend: a customer route change while the last dump is recent: raw socket until the table is read again", () => {
  const ev = new FakeRouteEvents();
  const s = setup(TABLE, hop(NUD_REACHABLE), ev);
  s.deps.dumpMs = 40; // the next dump no sooner than 4 s after the last
  s.r.start();
  assert.equal(s.path.active, true);
  s.clock.advance(100);
  ev.fire(ROUTE_EVENT_ROUTE);
  s.clock.advance(EVENT_DELAY_MS);
  assert.equal(s.path.active, false, "the intervals may be wrong now");
  assert.equal(s.r.status().reason, "customer routes changed; the table is read again in 3.9 s");
  assert.equal(s.deps.dumps, 1);
  s.clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(s.path.active, false, "the periodic resolve does not bring back the old intervals");
  s.clock.advance(4000 - 150 - RESOLVE_INTERVAL_MS);
  assert.equal(s.deps.dumps, 2);
  assert.equal(s.path.active, true);
  assert.equal(s.r.status().unresolved, 0, "not a failed resolve");
  s.r.stop();
});

test("RelayWanSend: a route change during a dump keeps the raw socket until a dump that started after it", () => {
  const ev = new FakeRouteEvents();
  const s = setup(TABLE, hop(NUD_REACHABLE), ev);
  s.deps.defer = true;
  s.r.start();
  s.deps.finish();
  assert.equal(s.path.active, true);
  ev.fire(ROUTE_EVENT_ROUTE);
  s.clock.advance(EVENT_DELAY_MS);
  assert.equal(s.path.active, false);
  assert.equal(s.r.status().reason, "customer routes changed; the table is read again now");
  assert.equal(s.deps.dumps, 2);
  // Another change while that dump is out: its answer may predate the change.
  ev.fire(ROUTE_EVENT_ROUTE);
  s.clock.advance(EVENT_DELAY_MS);
  s.deps.finish();
  assert.equal(s.path.active, false, "the dump began before the last change");
  assert.equal(s.deps.dumps, 3);
  s.r.resolve(false);
  assert.equal(s.path.active, false, "nor does a resolve without a dump use it");
  s.deps.finish();
  assert.equal(s.path.active, true);
  s.r.stop();
});
