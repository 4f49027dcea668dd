/**
 * The CPE data plane as one object the CLI and the control plane drive:
 *
 *   const d = new CpeDaemon({ tun, raw, state, log, now });
 *   d.start();                      // runs the outbound and inbound loops
 *   d.setForwardingState(next);     // control plane: new WAN address, relay switch, MTU... (one assignment)
 *   d.counters();                   // snapshot for status / metrics
 *   d.stop();                       // stops the loops and closes both ports
 *
 * The ports are opened by the caller (io/linux.ts in production, io/memory.ts in tests).
 */
import type { Ipv4RawSocket, TunDevice } from "../io/ports.js";
import { CpeInboundPath } from "./cpe-inbound.js";
import { CpeOutboundPath } from "./cpe-outbound.js";
import { DataplaneCounters, type CountersSnapshot } from "./counters.js";
import type { CpeForwardingState } from "./forwarding-state.js";
import { runTunToWireLoop, runWireToTunLoop, type LoopContext, type Logger } from "./loops.js";

export interface CpeDaemonOptions {
  tun: TunDevice;
  raw: Ipv4RawSocket;
  state: CpeForwardingState;
  log: Logger;
  /** Monotonic milliseconds (performance.now in production; a fake clock in tests). */
  now: () => number;
  /** Called once when a port is gone; the daemon has already stopped. */
  onFatal?: (err: Error) => void;
}

export class CpeDaemon {
  /** The live counters (hot path writes them; read with `counters()`). */
  readonly stats = new DataplaneCounters();
  private current: CpeForwardingState;
  private stops: (() => void)[] = [];
  private running = false;
  private readonly outbound: CpeOutboundPath;
  private readonly inbound: CpeInboundPath;

  constructor(private readonly options: CpeDaemonOptions) {
    this.current = options.state;
    this.outbound = new CpeOutboundPath(this.stats, options.now());
    this.inbound = new CpeInboundPath(this.stats);
  }

  /** Starts both loops. Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    const o = this.options;
    const ctx: LoopContext<CpeForwardingState> = {
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
    this.stops.push(runTunToWireLoop("cpe outbound", o.tun, o.raw, this.outbound, ctx));
    this.stops.push(runWireToTunLoop("cpe inbound", o.raw, o.tun, this.inbound, ctx));
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
  setForwardingState(state: CpeForwardingState): void {
    this.current = state;
  }

  get forwardingState(): CpeForwardingState {
    return this.current;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Copy of the counters (packets/bytes each way, drops by reason). */
  counters(): CountersSnapshot {
    return this.stats.snapshot();
  }
}
