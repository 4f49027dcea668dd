/**
 * The relay's `wan_send packet`: protocol 41 to customers over AF_PACKET to the next hop's
 * link-layer address instead of the raw socket (io/ports.ts PacketSendPath, native/sockets.c
 * sendRaw4), which spares the kernel's route lookup, output hooks and neighbour lookup per
 * packet. A relay sends to many destinations, so the control plane resolves, now and then and
 * never per packet, which destinations the kernel would send through one gateway:
 *
 *  1. The IPv4 routing table (RTM_GETROUTE dump, read in a thread of libuv's pool; the addon
 *     keeps only the routes that meet a customer range) is cut into the intervals each of which
 *     has one longest match in the main table (`lpmIntervals`), within the customer ranges
 *     (pmt_customer_ipv4 and customer_ipv4; the relay sends to other 6to4 sites through the raw
 *     socket).
 *  2. An interval qualifies when its route is a plain unicast route through a gateway (not on
 *     link, where every customer is its own neighbour; not multipath; not two routes of the same
 *     prefix that differ). Of the qualifying gateways, the one that carries the most customer
 *     addresses is used (`packetIntervals`).
 *  3. The kernel's own lookup (RTM_GETROUTE, policy rules included) for the first address of
 *     those intervals must give the same device and gateway, and the gateway's neighbour entry
 *     must be usable (as for the CPE, control/wan-next-hop.ts; a STALE one is marked used so the
 *     kernel probes it).
 * Then packets into those intervals leave over AF_PACKET; all others, and everything while no
 * gateway qualifies, through the raw socket. Routes of tables other than main (policy routing
 * by source or mark) are not followed: a relay that routes customers so keeps `wan_send raw`.
 *
 * Resolved at start, when the kernel reports a change (rtnetlink events: a link, IPv4 address or
 * rule, a route that meets a customer range: dump; the gateway's neighbour entry: lookup only),
 * every RESOLVE_INTERVAL_MS, when a send over AF_PACKET fails, and on the status socket's
 * `resolve` command. A resolve applies the last dump's intervals at once and a new dump's when
 * it comes back (one in flight at a time). A table of more than MAX_ROUTES routes, or more than
 * MAX_KEPT of them in the customer ranges, is not cut: raw socket, and the reason says so.
 * A dump takes at most 1 / DUMP_SHARE of a core: a change is dumped no sooner than DUMP_SHARE
 * times as long as the last dump took after it (10 000 routes: 7 ms, so 0.7 s; 1 M: 0.47 s,
 * 47 s), the raw socket carrying everything meanwhile; while the events are watched the periodic
 * resolve dumps only every MAX_DUMP_INTERVAL_MS (in case one was missed) and in between checks
 * the kernel's lookup and the neighbour entry; unwatched, it dumps as often as that share allows
 * (at least every RESOLVE_INTERVAL_MS). A failed send and the `resolve` command always dump.
 */
import { formatIpv4 } from "../addr/ipv4.js";
import type { Ipv4Prefix } from "../addr/ipv4.js";
import {
  ROUTE_EVENT_LOST,
  ROUTE_EVENT_ROUTE,
  type PacketSendPath,
  type WatchRouteEvents,
} from "../io/ports.js";
import type { Logger } from "../log/logger.js";
import type { WanSendSnapshot } from "../status/snapshot.js";
import { monotonicMs, type Clock } from "./clock.js";
import { NextHopResolver, RESOLVE_INTERVAL_MS, type NextHopLookup } from "./wan-next-hop.js";

/** Routes the resolver reads at most (a full Internet table is about a million). */
export const MAX_ROUTES = 1 << 22;
/** Routes that meet the customer ranges, at most (native packet.c ROUTE_KEEP_MAX). */
export const MAX_KEPT = 65536;
/** The periodic dump takes at most 1 / DUMP_SHARE of the main thread's time. */
export const DUMP_SHARE = 100;
/** The longest the periodic resolve goes without a dump. */
export const MAX_DUMP_INTERVAL_MS = 60_000;
/** Intervals sendRaw4 takes at most (native/sockets.c NEXT_HOP_MAX_INTERVALS). */
export const MAX_INTERVALS = 4096;
/** Numbers per route in routeDump4's answer (native/packet.c ROUTE_FIELDS). */
export const ROUTE_FIELDS = 7;
const RT_TABLE_MAIN = 254;
/** rtm_type RTN_UNICAST; a multipath route (0x100 set, native ROUTE_MULTIPATH) never equals it. */
const RTN_UNICAST = 1;
const TWO32 = 0x1_0000_0000;

/** One route of the main table, as the resolver sees it. */
export interface Route4 {
  /** First address (unsigned). */
  readonly start: number;
  readonly len: number;
  /** rtm_type; ROUTE_MULTIPATH (0x100) set for a multipath route. */
  readonly type: number;
  readonly oif: number;
  /** 0: on link. */
  readonly gateway: number;
  /** The metric (RTA_PRIORITY): of two routes of one prefix the kernel uses the lower. */
  readonly priority: number;
}

/** An interval of addresses [first, last] (unsigned) and the route that matches it longest. */
export interface LpmInterval {
  readonly first: number;
  readonly last: number;
  /** null: no route of the table matches. */
  readonly route: Route4 | null;
}

/** The main table's routes of a routeDump4 answer. */
export function mainRoutes(dump: Uint32Array): Route4[] {
  const out: Route4[] = [];
  for (let i = 0; i + ROUTE_FIELDS <= dump.length; i += ROUTE_FIELDS) {
    if (dump[i + 2] !== RT_TABLE_MAIN) continue;
    out.push({
      start: dump[i]!,
      len: dump[i + 1]!,
      type: dump[i + 3]!,
      oif: dump[i + 4]!,
      gateway: dump[i + 5]!,
      priority: dump[i + 6]!,
    });
  }
  return out;
}

function routeEnd(r: { start: number; len: number }): number {
  return r.start + 2 ** (32 - r.len) - 1;
}

/** Same prefix and metric twice (other TOS) with different next hops: no single answer. */
const AMBIGUOUS: Route4 = { start: 0, len: 0, type: -1, oif: 0, gateway: 0, priority: 0 };

/**
 * Cuts the IPv4 space into intervals that each have one longest-prefix match among `routes`
 * (prefixes nest, so one sweep with a stack of the prefixes containing the current address).
 * Of two routes of one prefix the one with the lower metric is the match (a backup route with a
 * higher metric waits until the first is gone); two of the same metric that differ give
 * AMBIGUOUS (type -1), which qualifies nowhere.
 */
export function lpmIntervals(routes: readonly Route4[]): LpmInterval[] {
  const byPrefix = new Map<string, Route4>();
  for (const r of routes) {
    const start = r.len === 0 ? 0 : r.start - (r.start % 2 ** (32 - r.len));
    const key = `${start}/${r.len}`;
    const n = { ...r, start };
    const prev = byPrefix.get(key);
    if (prev === undefined || n.priority < prev.priority) byPrefix.set(key, n);
    else if (
      n.priority === prev.priority &&
      (prev.type !== n.type || prev.oif !== n.oif || prev.gateway !== n.gateway)
    ) {
      byPrefix.set(key, { ...AMBIGUOUS, start, len: r.len, priority: n.priority });
    }
  }
  const sorted = [...byPrefix.values()].sort((a, b) => a.start - b.start || a.len - b.len);
  const out: LpmInterval[] = [];
  const stack: Route4[] = [];
  let pos = 0;
  const emit = (last: number): void => {
    if (last < pos) return;
    const route = stack.length > 0 ? stack[stack.length - 1]! : null;
    const prev = out[out.length - 1];
    if (prev !== undefined && prev.route === route && prev.last === pos - 1) {
      out[out.length - 1] = { first: prev.first, last, route };
    } else {
      out.push({ first: pos, last, route });
    }
    pos = last + 1;
  };
  const popEndingBefore = (addr: number): void => {
    while (stack.length > 0 && routeEnd(stack[stack.length - 1]!) < addr) {
      emit(routeEnd(stack[stack.length - 1]!));
      stack.pop();
    }
  };
  for (const r of sorted) {
    popEndingBefore(r.start);
    emit(r.start - 1);
    stack.push(r);
  }
  popEndingBefore(TWO32);
  emit(TWO32 - 1);
  return out;
}

/** What `packetIntervals` found: the gateway and its intervals, or why none. */
export type PacketIntervals =
  | { readonly oif: number; readonly gateway: number; readonly intervals: Uint32Array }
  | { readonly none: string };

/** `ranges` as sorted, disjoint [first, last] pairs of unsigned addresses, adjacent ones merged. */
export function customerIntervals(ranges: readonly Ipv4Prefix[]): [number, number][] {
  const cust = ranges
    .map((p) => {
      const first = p.len === 0 ? 0 : (p.addr >>> 0) - ((p.addr >>> 0) % 2 ** (32 - p.len));
      return [first, first + 2 ** (32 - p.len) - 1] as [number, number];
    })
    .sort((a, b) => a[0] - b[0]);
  const merged: [number, number][] = [];
  for (const c of cust) {
    const m = merged[merged.length - 1];
    if (m !== undefined && c[0] <= m[1] + 1) m[1] = Math.max(m[1], c[1]);
    else merged.push([c[0], c[1]]);
  }
  return merged;
}

/**
 * The customer addresses the kernel would send through one gateway: the parts of `ranges` whose
 * longest match is a unicast, single-path route via a gateway, for the gateway (device and
 * address) that carries the most of them; as sorted [first, last] pairs, adjacent ones merged.
 */
export function packetIntervals(
  table: readonly LpmInterval[],
  ranges: readonly Ipv4Prefix[],
): PacketIntervals {
  if (ranges.length === 0) return { none: "no customer ranges (customer_ipv4)" };
  const merged = customerIntervals(ranges);
  // Their intersection with the table's intervals, by gateway.
  const byHop = new Map<string, { oif: number; gateway: number; size: number; iv: number[] }>();
  let j = 0;
  for (const [lo, hi] of merged) {
    while (j < table.length && table[j]!.last < lo) j++;
    for (let k = j; k < table.length && table[k]!.first <= hi; k++) {
      const t = table[k]!;
      const r = t.route;
      if (r === null || r.type !== RTN_UNICAST || r.gateway === 0 || r.oif === 0) continue;
      const first = Math.max(lo, t.first);
      const last = Math.min(hi, t.last);
      const key = `${r.oif}/${r.gateway}`;
      let h = byHop.get(key);
      if (h === undefined)
        byHop.set(key, (h = { oif: r.oif, gateway: r.gateway, size: 0, iv: [] }));
      h.size += last - first + 1;
      const n = h.iv.length;
      if (n > 0 && h.iv[n - 1] === first - 1) h.iv[n - 1] = last;
      else h.iv.push(first, last);
    }
  }
  let best: { oif: number; gateway: number; size: number; iv: number[] } | undefined;
  for (const h of byHop.values()) if (best === undefined || h.size > best.size) best = h;
  if (best === undefined) {
    return {
      none: "no customer range is routed through a gateway (on link, multipath or no route)",
    };
  }
  if (best.iv.length / 2 > MAX_INTERVALS) {
    return { none: `over ${MAX_INTERVALS} customer intervals through ${formatIpv4(best.gateway)}` };
  }
  return { oif: best.oif, gateway: best.gateway, intervals: Uint32Array.from(best.iv) };
}

/** Whether two routeDump4 answers are the same routes in the same order. */
function sameRoutes(a: Uint32Array | null, b: Uint32Array): boolean {
  if (a === null || a.length !== b.length) return false;
  return Buffer.from(a.buffer, a.byteOffset, a.byteLength).equals(
    Buffer.from(b.buffer, b.byteOffset, b.byteLength),
  );
}

export interface RelayWanSendDeps {
  path: PacketSendPath;
  /**
   * native routeDump4Async (io/linux.ts dumpRoutes4): every table's IPv4 routes that meet
   * `ranges` ([first, last] pairs), read off the event loop; `done(null, routes, read)`, routes
   * null when the table has more than `max` routes or more than MAX_KEPT meet the ranges.
   */
  dump(
    max: number,
    ranges: Uint32Array,
    done: (err: Error | null, routes: Uint32Array | null, read: number) => void,
  ): void;
  /** Route + neighbour for `dst` (unsigned IPv4), as the kernel looks it up; null: no route. */
  lookup(dst: number, oif: number): NextHopLookup | null;
  /** Marks the neighbour entry used (the kernel re-validates a STALE one); may throw. */
  neighUse(ifindex: number, addr: number): void;
  /** pmt_customer_ipv4 and customer_ipv4. */
  ranges: readonly Ipv4Prefix[];
  /** Watches the kernel's route and neighbour changes (io/linux.ts); absent: periodic only. */
  watch?: WatchRouteEvents;
  clock: Clock;
  log: Logger;
  /** Milliseconds, monotonic: what a dump took (default control/clock.ts monotonicMs). */
  monotonic?: () => number;
}

export class RelayWanSend extends NextHopResolver {
  private intervals = 0;
  /**
   * The last dump's routes (those that meet a customer range) and what they gave: unchanged ones
   * are not cut again.
   */
  private lastDump: Uint32Array | null = null;
  private lastFound: PacketIntervals | null = null;
  /** When the last dump was (clock.now()) and how long until the periodic resolve dumps again. */
  private dumpedAt = 0;
  private dumpEveryMs = RESOLVE_INTERVAL_MS;
  /** DUMP_SHARE times what the last dump took: no dump for a change sooner after it. */
  private dumpGapMs = 0;
  /** What status shows of the last dump: routes read (null: over the cap), kept, milliseconds. */
  private dumped: { count: number | null; kept: number; ms: number } | null = null;
  /** A dump in flight; another asked for meanwhile; dumps completed; who waits for the next. */
  private dumping = false;
  private dumpAgain = false;
  private dumpsDone = 0;
  private waiting: ((s: WanSendSnapshot) => void)[] = [];
  private stopped = false;
  /**
   * Route changes seen, and their count when the dump in flight started: while `stale`, the last
   * dump's intervals are not used (a dump that started after the last change clears it).
   */
  private routeChanges = 0;
  private dumpFrom = 0;
  private stale = false;

  /** The customer ranges, whose routes matter (the dump's and the event filter's ranges). */
  private readonly customers: Uint32Array;

  constructor(private readonly d: RelayWanSendDeps) {
    super(d.path, d.clock, d.log, d.watch);
    this.customers = Uint32Array.from(customerIntervals(d.ranges).flat());
  }

  /** Route changes matter when they meet a customer range (BGP churn elsewhere does not). */
  protected override routeRanges(): Uint32Array {
    return this.customers;
  }

  /** A changed link, address, route or rule (or lost events) dumps; a neighbour, lookup only. */
  protected override onEvents(mask: number): void {
    this.resolve((mask & (ROUTE_EVENT_ROUTE | ROUTE_EVENT_LOST)) !== 0);
  }

  /**
   * A changed route: the intervals may be wrong now, so the raw socket carries everything until a
   * dump that started after the change has come back; that dump waits until the last one is
   * DUMP_SHARE times its duration ago.
   */
  protected override eventHold(mask: number): number {
    if ((mask & (ROUTE_EVENT_ROUTE | ROUTE_EVENT_LOST)) === 0) return 0;
    const hold = Math.max(0, this.dumpedAt + this.dumpGapMs - this.d.clock.now());
    this.routeChanges++;
    this.stale = true;
    if (this.path.active) {
      const when = hold > 0 ? `in ${Math.ceil(hold / 100) / 10} s` : "now";
      this.toRaw(`customer routes changed; the table is read again ${when}`, false);
    }
    return hold;
  }

  /** The periodic resolve: with the last dump's outcome while that is recent enough. */
  protected override periodic(): void {
    const fresh = this.d.clock.now() - this.dumpedAt < this.dumpEveryMs;
    this.resolve(!(fresh && this.lastFound !== null));
  }

  /** Watches the kernel's changes and resolves now, then every RESOLVE_INTERVAL_MS. */
  override start(): void {
    this.stopped = false;
    super.start();
    this.resolve();
  }

  override stop(): void {
    this.stopped = true;
    super.stop();
  }

  /**
   * Resolves now: with the last dump's intervals at once, and (`dump`, or none yet) with a new
   * dump of the table when it comes back (the routes are read in a thread of libuv's pool).
   * Returns the status after the part done now.
   */
  resolve(dump = true): WanSendSnapshot {
    this.resolves++;
    if (dump || this.lastFound === null) {
      const done = this.dumpsDone;
      this.startDump();
      if (this.dumpsDone !== done) return this.status(); // came back at once, applied
    }
    if (this.lastFound !== null && !this.stale) this.apply(this.lastFound);
    else if (this.lastFound === null && !this.path.active)
      this.reason = "reading the routing table";
    return this.status();
  }

  /** Resolves with a new dump; the status once it has been applied (the `resolve` command). */
  resolveNow(): Promise<WanSendSnapshot> {
    const done = this.dumpsDone;
    const s = this.resolve(true);
    if (this.dumpsDone !== done) return Promise.resolve(s);
    return new Promise((r) => this.waiting.push(r));
  }

  /** Reads the table (one dump in flight; asked again meanwhile, once more after it). */
  private startDump(): void {
    if (this.dumping) {
      this.dumpAgain = true;
      return;
    }
    this.dumping = true;
    this.dumpFrom = this.routeChanges;
    const mono = this.d.monotonic ?? monotonicMs;
    const t0 = mono();
    try {
      this.d.dump(MAX_ROUTES, this.customers, (err, routes, read) =>
        this.dumpDone(err, routes, read, Math.max(0, mono() - t0)),
      );
    } catch (e) {
      this.dumpDone(e as Error, null, 0, 0);
    }
  }

  /**
   * A dump came back: cut its routes (unchanged ones are not cut again), set when the next may
   * come from what it took, and apply the outcome.
   */
  private dumpDone(err: Error | null, routes: Uint32Array | null, read: number, took: number) {
    this.dumping = false;
    this.dumpsDone++;
    let found: PacketIntervals;
    if (err !== null) {
      found = { none: `route dump failed: ${err.message}` };
      this.lastDump = null;
    } else if (routes === null) {
      found = {
        none:
          read >= MAX_ROUTES
            ? `routing table over ${MAX_ROUTES} routes`
            : `over ${MAX_KEPT} routes meet the customer ranges`,
      };
      this.lastDump = null;
    } else if (this.lastFound !== null && sameRoutes(this.lastDump, routes)) {
      found = this.lastFound;
    } else {
      found = packetIntervals(lpmIntervals(mainRoutes(routes)), this.d.ranges);
      this.lastDump = routes;
    }
    this.lastFound = err !== null ? null : found;
    this.dumpedAt = this.d.clock.now();
    this.dumped = {
      count: err !== null || (routes === null && read >= MAX_ROUTES) ? null : read,
      kept: routes === null ? 0 : routes.length / ROUTE_FIELDS,
      ms: Math.round(took * 10) / 10,
    };
    this.dumpGapMs = Math.min(MAX_DUMP_INTERVAL_MS, DUMP_SHARE * took);
    this.dumpEveryMs = this.watching
      ? MAX_DUMP_INTERVAL_MS
      : Math.max(RESOLVE_INTERVAL_MS, this.dumpGapMs);
    if (this.dumpFrom === this.routeChanges) this.stale = false;
    if (!this.stopped && !this.stale) this.apply(found);
    const s = this.status();
    for (const w of this.waiting.splice(0)) w(s);
    if (this.stopped) return;
    if (this.dumpAgain) {
      this.dumpAgain = false;
      this.startDump();
    }
  }

  /** Sends over AF_PACKET to what `found` names, when the kernel agrees and the gateway is known. */
  private apply(found: PacketIntervals): void {
    const d = this.d;
    this.intervals = 0;
    if ("none" in found) {
      this.toRaw(found.none);
      return;
    }
    const first = found.intervals[0]!;
    let h: NextHopLookup | null;
    try {
      h = d.lookup(first, 0);
    } catch (e) {
      this.toRaw(`route lookup failed: ${(e as Error).message}`);
      return;
    }
    if (h === null) {
      this.toRaw(`no route to ${formatIpv4(first)}`);
      return;
    }
    if (h.oif !== found.oif || h.gateway !== found.gateway || h.type !== RTN_UNICAST) {
      this.toRaw(
        `the kernel routes ${formatIpv4(first)} otherwise than the main table (policy routing)`,
      );
      return;
    }
    const problem = this.neighbourProblem(h, found.gateway, d.neighUse);
    if (problem !== null) {
      this.toRaw(problem);
      return;
    }
    const n = found.intervals.length / 2;
    d.path.setIntervals(found.intervals, h.oif, h.lladdr);
    this.intervals = n;
    const what = `${n} customer interval(s)`;
    this.adopt(h, found.gateway, what, `${what} via ${formatIpv4(found.gateway)}; `);
  }

  override status(): WanSendSnapshot {
    const s = super.status();
    const d = this.dumped;
    if (d === null) return s;
    return { ...s, routes: { ...d, everyS: Math.round(this.dumpEveryMs / 100) / 10 } };
  }

  /** Counters for status, metrics and the SIGUSR1 line (one resolver for every worker). */
  override counters(): Record<string, number> {
    return { ...super.counters(), wan_send_intervals: this.intervals };
  }
}
