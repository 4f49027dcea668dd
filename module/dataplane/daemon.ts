/**
 * What the CPE and relay daemons (cpe-daemon.ts, relay-daemon.ts) have in common: one
 * TUN -> wire loop and one wire -> TUN loop over the caller's ports, a forwarding snapshot swapped
 * in with one assignment, live counters, and stop-on-fatal. Each subclass only names its loops
 * and builds its two processing paths (once, at construction; nothing here runs per packet).
 */
import type { Ipv4RawSocket, TunDevice } from "../io/ports.js";
import { DataplaneCounters, OFFLOAD_COUNTER_NAMES, type CountersSnapshot } from "./counters.js";
import { runIcmpErrorLoop, runTunToWireLoop, runWireToTunLoop } from "./loops.js";
import type { LoopContext } from "./loops.js";
import { Icmpv4ErrorPath, type TunnelErrorContext } from "./icmpv4-errors.js";
import type { Logger } from "../log/logger.js";
import type { TunBatchPath, WireBatchPath } from "./loops.js";

export interface DaemonOptions<S> {
  tun: TunDevice;
  raw: Ipv4RawSocket;
  state: S;
  log: Logger;
  /** Monotonic milliseconds (performance.now in production; a fake clock in tests). */
  now: () => number;
  /** Called once when a port is gone; the daemon has already stopped. */
  onFatal?: (err: Error) => void;
  /** Where the counters live (a relay worker's shared memory); default: its own. */
  counters?: DataplaneCounters;
}

/** The two loops' names (they appear in the "started"/"stopped" log lines). */
export interface DaemonLoopNames {
  tunToWire: string;
  wireToTun: string;
}

export class DataplaneDaemon<S> {
  /** The live counters (hot path writes them; read with `counters()`). */
  readonly stats: DataplaneCounters;
  private current: S;
  private stops: (() => void)[] = [];
  private running = false;
  private readonly fromTun: TunBatchPath<S>;
  private readonly fromWire: WireBatchPath<S>;
  private readonly fromErrors: Icmpv4ErrorPath;

  /** `errorContext`: what answering ICMPv4 errors about our packets needs from a snapshot. */
  protected constructor(
    private readonly options: DaemonOptions<S>,
    private readonly names: DaemonLoopNames,
    createFromTun: (stats: DataplaneCounters, nowMs: number) => TunBatchPath<S>,
    createFromWire: (stats: DataplaneCounters) => WireBatchPath<S>,
    private readonly errorContext: (state: S) => TunnelErrorContext,
  ) {
    this.stats = options.counters ?? new DataplaneCounters();
    this.current = options.state;
    this.fromTun = createFromTun(this.stats, options.now());
    this.fromWire = createFromWire(this.stats);
    const now = options.now();
    this.fromErrors = new Icmpv4ErrorPath(
      this.stats,
      errorContext(this.current).icmpRateLimit,
      now,
    );
  }

  /** Starts both loops. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const o = this.options;
    const ctx: LoopContext<S> = {
      state: () => this.current,
      now: o.now,
      counters: this.stats,
      log: o.log,
      onFatal: (err) => {
        if (!this.running) return;
        this.stop();
        o.onFatal?.(err);
      },
    };
    this.stops.push(runTunToWireLoop(this.names.tunToWire, o.tun, o.raw, this.fromTun, ctx));
    this.stops.push(runWireToTunLoop(this.names.wireToTun, o.raw, o.tun, this.fromWire, ctx));
    runIcmpErrorLoop(o.raw, o.tun, this.fromErrors, this.errorContext, ctx);
  }

  /** Stops the loops and closes both ports (safe twice, safe inside a batch handler). */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.options.tun.close();
    this.options.raw.close();
    for (const s of this.stops.splice(0)) s();
  }

  /** Swaps in a new snapshot; the next batch of each loop uses it. */
  setForwardingState(state: S): void {
    this.current = state;
  }

  get forwardingState(): S {
    return this.current;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /**
   * Copy of the counters (packets/bytes each way, drops by reason; TUN offload when on, and the
   * WAN's GRO merges when on or when there were any; ICMPv4 errors about our packets by kind as
   * traffic `icmpv4_<kind>`, the ones there were).
   */
  counters(): CountersSnapshot {
    const s = this.stats.snapshot();
    const o = this.options.tun.offloadStats?.();
    const raw = this.options.raw.stats();
    for (const [kind, n] of Object.entries(raw.icmpErrors ?? {})) s.traffic[`icmpv4_${kind}`] = n;
    if (o || raw.wanGroMerged > 0 || raw.wanGroUnusable > 0) {
      const offload: Record<string, number> = {};
      if (o) {
        for (const [k, name] of Object.entries(OFFLOAD_COUNTER_NAMES)) {
          offload[name] = o[k as keyof typeof OFFLOAD_COUNTER_NAMES];
        }
      }
      offload.wan_gro_merged = raw.wanGroMerged;
      offload.wan_gro_unusable = raw.wanGroUnusable;
      s.offload = offload;
    }
    return s;
  }
}
