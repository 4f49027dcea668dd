/**
 * `wan_send packet`: the control plane's half of the AF_PACKET WAN send path. It resolves, now and
 * then, never per packet, where the raw socket's kernel would send the packets for the relay in
 * use: the route (the output device and gateway, as for the raw socket: bound to wan_device when
 * that is set) and the gateway's neighbour entry (its link-layer address). While that entry is
 * usable the data plane sends those packets over AF_PACKET to that address
 * (io/ports.ts PacketSendPath); otherwise everything goes through the raw socket, whose kernel
 * resolves ARP itself (the fallback), and the next resolve tries again.
 *
 * Resolved: at start, whenever the forwarding snapshot changes (WAN address, relay), when a send
 * over AF_PACKET fails, when the kernel reports a changed link, IPv4 address, route, rule or
 * neighbour entry on the next hop's device (rtnetlink events, EVENT_DELAY_MS after the first of a
 * burst), every RESOLVE_INTERVAL_MS, and on the status socket's `resolve` (and `reload`) command. Usable neighbour states: REACHABLE, STALE, DELAY, PROBE (the kernel sends
 * to a STALE entry too while it re-validates it), PERMANENT, NOARP. A STALE entry is marked used
 * (RTM_NEWNEIGH NTF_USE), since our frames pass the kernel's neighbour code and would never make
 * it probe again: the kernel then confirms the address by unicast ARP or, when that fails, marks
 * the entry FAILED, and the next resolve falls back. INCOMPLETE, FAILED or no entry: raw.
 * After each resolve that keeps AF_PACKET the next batch goes through the raw socket, so the
 * firewall's connection tracking sees the tunnel's packets at least every RESOLVE_INTERVAL_MS
 * while it carries traffic: a firewall that admits the relay's packets only as replies (fw4)
 * keeps admitting them after its conntrack entry was flushed or expired.
 * Counted: `wan_send_fallbacks` (times the path went from AF_PACKET back to the raw socket),
 * `wan_send_unresolved` (resolves that found no usable next hop), `wan_send_next_hop_changes`.
 */
import { formatIpv4 } from "../addr/ipv4.js";
import {
  ROUTE_EVENT_LOST,
  type PacketSendPath,
  type RouteEventWatch,
  type WatchRouteEvents,
} from "../io/ports.js";
import type { Logger } from "../log/logger.js";
import type { WanSendSnapshot } from "../status/snapshot.js";
import type { Clock, TimerHandle } from "./clock.js";

/**
 * Re-resolve period: bounds how long a changed route or failed neighbour goes unnoticed when the
 * kernel's change events are not watched (or lost), and how often the firewall's connection
 * tracking sees a batch through the raw socket.
 */
export const RESOLVE_INTERVAL_MS = 2000;
/**
 * A change event is resolved this long after it came: the rest of its burst (a device that goes
 * down deletes its routes and neighbours one message each) is resolved with it.
 */
export const EVENT_DELAY_MS = 50;

/** rtnetlink RTN_UNICAST. */
const RTN_UNICAST = 1;
/** NUD_* (linux/neighbour.h). */
export const NUD_INCOMPLETE = 0x01;
export const NUD_REACHABLE = 0x02;
export const NUD_STALE = 0x04;
export const NUD_DELAY = 0x08;
export const NUD_PROBE = 0x10;
export const NUD_FAILED = 0x20;
export const NUD_NOARP = 0x40;
export const NUD_PERMANENT = 0x80;
export const NUD_USABLE =
  NUD_REACHABLE | NUD_STALE | NUD_DELAY | NUD_PROBE | NUD_NOARP | NUD_PERMANENT;

/** What `lookup` returns (native/packet.c nextHop4). */
export interface NextHopLookup {
  type: number;
  oif: number;
  ifname: string;
  addrLen: number;
  gateway: number;
  neighState: number;
  lladdr: Uint8Array;
}

export interface WanNextHopDeps {
  path: PacketSendPath;
  /** Route + neighbour for `dst` (unsigned IPv4), `oif` 0 or the bound WAN device; null: no route. */
  lookup(dst: number, oif: number): NextHopLookup | null;
  /** Marks the neighbour entry used (the kernel re-validates a STALE one); may throw. */
  neighUse(ifindex: number, addr: number): void;
  /** ifindex of wan_device when the raw socket is bound to it, else 0; may throw (device gone). */
  boundIfindex(): number;
  /** Watches the kernel's route and neighbour changes (io/linux.ts); absent: periodic only. */
  watch?: WatchRouteEvents;
  clock: Clock;
  log: Logger;
}

/** The send path as status shows it (one definition, in status/snapshot.ts). */
export type WanSendStatus = WanSendSnapshot;

/** NUD bits as the `ip neigh` word for the reason text. */
export function nudName(state: number): string {
  if (state === 0) return "none";
  const names: [number, string][] = [
    [NUD_INCOMPLETE, "INCOMPLETE"],
    [NUD_REACHABLE, "REACHABLE"],
    [NUD_STALE, "STALE"],
    [NUD_DELAY, "DELAY"],
    [NUD_PROBE, "PROBE"],
    [NUD_FAILED, "FAILED"],
    [NUD_NOARP, "NOARP"],
    [NUD_PERMANENT, "PERMANENT"],
  ];
  return names
    .filter(([b]) => (state & b) !== 0)
    .map(([, n]) => n)
    .join(",");
}

export function formatLladdr(a: Uint8Array): string {
  return Array.from(a, (b) => b.toString(16).padStart(2, "0")).join(":");
}

/** The next hop as status shows it. */
export interface NextHopShown {
  device: string;
  gateway: string;
  lladdr: string;
}

/**
 * What the CPE's resolver (below) and the relay's (control/relay-wan-send.ts) share: the periodic
 * resolve, the fallback after a failed send, the neighbour check, and the reasons and counts that
 * status shows.
 */
export abstract class NextHopResolver {
  private timer: TimerHandle | null = null;
  protected reason = "not resolved yet";
  protected hop: NextHopShown | null = null;
  private fallbacks = 0;
  private unresolved = 0;
  private changes = 0;
  protected resolves = 0;
  /** The kernel's change events: the watch while it runs, what came since the last resolve. */
  private events: RouteEventWatch | null = null;
  private eventTimer: TimerHandle | null = null;
  private pendingEvents = 0;
  private eventWakeups = 0;
  /** The device whose neighbour changes matter: the last looked-up route's (0: none yet). */
  private neighIfindex = 0;

  constructor(
    protected readonly path: PacketSendPath,
    protected readonly clock: Clock,
    protected readonly log: Logger,
    private readonly watch?: WatchRouteEvents,
  ) {
    path.onFailure((code) => {
      this.fallbacks++;
      this.hop = null;
      this.reason = `send over AF_PACKET failed: ${code}`;
      log.warn(`wan_send: ${this.reason}; raw socket until the next hop resolves again`);
      this.resolve();
    });
  }

  /** Resolves now; returns the status after it. */
  abstract resolve(): WanSendStatus;

  /** What the timer runs every RESOLVE_INTERVAL_MS: a resolve. */
  protected periodic(): void {
    this.resolve();
  }

  /**
   * What a batch of change events runs (`mask`: ROUTE_EVENT_* bits of everything since the last
   * one): a resolve.
   */
  protected onEvents(mask: number): void {
    void mask;
    this.resolve();
  }

  /** How much longer change events with `mask` wait before `onEvents` runs (0: not at all). */
  protected eventHold(mask: number): number {
    void mask;
    return 0;
  }

  /**
   * The destinations whose routes matter, as [first, last] pairs of unsigned addresses: a route
   * change elsewhere is not resolved (links, addresses and rules always are).
   */
  protected abstract routeRanges(): Uint32Array;

  /** Whether the kernel's change events are watched. */
  protected get watching(): boolean {
    return this.events !== null;
  }

  /** Takes a wake-up's change events (`mask`: ROUTE_EVENT_* bits); resolves them soon. */
  changed(mask: number): void {
    this.eventWakeups++;
    this.pendingEvents |= mask;
    if (this.eventTimer === null) this.armEvents(EVENT_DELAY_MS);
  }

  private armEvents(ms: number): void {
    this.eventTimer = this.clock.setTimer(() => {
      this.eventTimer = null;
      const hold = this.eventHold(this.pendingEvents);
      if (hold > 0) {
        this.armEvents(hold);
        return;
      }
      const m = this.pendingEvents;
      this.pendingEvents = 0;
      this.onEvents(m);
    }, ms);
  }

  /** Starts the periodic re-resolve and the watch of the kernel's changes. */
  start(): void {
    if (this.timer === null) {
      this.timer = this.clock.setRepeating(() => this.periodic(), RESOLVE_INTERVAL_MS);
    }
    if (this.watch !== undefined && this.events === null) {
      try {
        this.events = this.watch(
          (m) => this.changed(m),
          {
            neighIfindex: () => this.neighIfindex,
            routeRanges: () => this.routeRanges(),
          },
          (e) => {
            this.events = null;
            this.log.warn(
              `wan_send: route changes no longer watched (${e.message}); ` +
                `resolving every ${RESOLVE_INTERVAL_MS / 1000} s`,
            );
            this.changed(ROUTE_EVENT_LOST);
          },
        );
      } catch (e) {
        this.log.warn(
          `wan_send: route changes not watched (${(e as Error).message}); ` +
            `resolving every ${RESOLVE_INTERVAL_MS / 1000} s`,
        );
      }
    }
  }

  stop(): void {
    if (this.timer !== null) this.clock.clearTimer(this.timer);
    this.timer = null;
    if (this.eventTimer !== null) this.clock.clearTimer(this.eventTimer);
    this.eventTimer = null;
    this.events?.close();
    this.events = null;
    this.path.clear();
  }

  /**
   * Whether `h`'s neighbour entry for `via` can be sent to: null, or why not. A STALE entry is
   * marked used (`neighUse`), since our frames pass the kernel's neighbour code and would never
   * make it probe again.
   */
  protected neighbourProblem(
    h: NextHopLookup,
    via: number,
    neighUse: (ifindex: number, addr: number) => void,
  ): string | null {
    this.neighIfindex = h.oif;
    if (h.addrLen === 0) return null;
    const gw = formatIpv4(via);
    if ((h.neighState & NUD_USABLE) === 0 || h.lladdr.length !== h.addrLen) {
      return `neighbour ${gw} on ${h.ifname}: ${nudName(h.neighState)}`;
    }
    if ((h.neighState & NUD_STALE) !== 0) {
      try {
        neighUse(h.oif, via);
      } catch (e) {
        this.log.debug(`wan_send: neighbour ${gw} NTF_USE: ${(e as Error).message}`);
      }
    }
    return null;
  }

  /**
   * Takes `h` (through gateway `via`) as the next hop of `what`: counts and logs a change, and
   * sets the reason status shows (`prefix` before the neighbour's state).
   */
  protected adopt(h: NextHopLookup, via: number, what: string, prefix = ""): void {
    const gw = formatIpv4(via);
    const lladdr = formatLladdr(h.lladdr);
    const hop = { device: h.ifname, gateway: gw, lladdr };
    const prev = this.hop;
    const shown = `${gw} ${lladdr || "(no link-layer address)"} on ${h.ifname}`;
    if (prev === null) {
      this.log.info(`wan_send: AF_PACKET to ${what} via ${shown}`);
    } else if (prev.device !== hop.device || prev.gateway !== gw || prev.lladdr !== lladdr) {
      this.changes++;
      this.log.info(`wan_send: next hop of ${what} now ${shown}`);
    }
    this.hop = hop;
    this.reason =
      prefix +
      (h.addrLen > 0
        ? `neighbour ${gw} on ${h.ifname}: ${nudName(h.neighState)}`
        : `${h.ifname} has no link-layer addresses`);
  }

  /** Everything through the raw socket, for `reason` (`count`: as an unresolved resolve). */
  protected toRaw(reason: string, count = true): void {
    if (this.path.active) {
      this.fallbacks++;
      this.log.info(`wan_send: raw socket: ${reason}`);
    }
    this.path.clear();
    if (count) this.unresolved++;
    this.hop = null;
    this.reason = reason;
  }

  status(): WanSendStatus {
    const active = this.path.active;
    return {
      configured: "packet",
      active: active ? "packet" : "raw",
      reason: this.reason,
      nextHop: active ? this.hop : null,
      packets: this.path.packets,
      fallbacks: this.fallbacks,
      unresolved: this.unresolved,
      nextHopChanges: this.changes,
      resolves: this.resolves,
      ...(this.watching ? { routeEvents: this.eventWakeups } : {}),
    };
  }

  /** Counters for status `counters` and the SIGUSR1 line. */
  counters(): Record<string, number> {
    return {
      wan_send_af_packet: this.path.packets,
      wan_send_fallbacks: this.fallbacks,
      wan_send_unresolved: this.unresolved,
      wan_send_next_hop_changes: this.changes,
      wan_send_route_events: this.eventWakeups,
    };
  }
}

export class WanNextHop extends NextHopResolver {
  private target = 0;
  /** The target as the event filter's one [first, last] pair (none while not forwarding). */
  private targetRange = new Uint32Array(0);

  constructor(private readonly d: WanNextHopDeps) {
    super(d.path, d.clock, d.log, d.watch);
  }

  /**
   * The destination whose next hop to resolve (the relay in use; 0: not forwarding), resolved
   * now: the control plane calls it on every WAN or lease change.
   */
  setTarget(dstV4: number): void {
    const t = dstV4 >>> 0;
    if (t !== this.target) this.targetRange = t === 0 ? new Uint32Array(0) : Uint32Array.of(t, t);
    this.target = t;
    this.resolve();
  }

  /** Only routes that cover the relay in use matter. */
  protected override routeRanges(): Uint32Array {
    return this.targetRange;
  }

  resolve(): WanSendStatus {
    this.resolves++;
    const d = this.d;
    const t = this.target;
    if (t === 0) {
      this.toRaw("not forwarding", false);
      return this.status();
    }
    let h: NextHopLookup | null;
    try {
      h = d.lookup(t, d.boundIfindex());
    } catch (e) {
      this.toRaw(`route lookup failed: ${(e as Error).message}`);
      return this.status();
    }
    const to = formatIpv4(t);
    if (h === null || h.oif === 0) {
      this.toRaw(`no route to ${to}`);
      return this.status();
    }
    if (h.type !== RTN_UNICAST) {
      this.toRaw(`route to ${to} is not unicast (type ${h.type})`);
      return this.status();
    }
    const via = h.gateway !== 0 ? h.gateway : t;
    const problem = this.neighbourProblem(h, via, d.neighUse);
    if (problem !== null) {
      this.toRaw(problem);
      return this.status();
    }
    d.path.set(t, h.oif, h.lladdr);
    // One batch per resolve through the raw socket: it keeps the firewall's conntrack entry
    // for protocol 41 to the relay, without which fw4 drops the relay's packets (PacketSendPath).
    d.path.rawOnce();
    this.adopt(h, via, to);
    return this.status();
  }
}
