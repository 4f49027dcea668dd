/**
 * Tunnel health: probe the path through the relay with ICMPv6 echo every `intervalS` seconds
 * (target configurable; by default the relay's own 6to4 address 2002:V4RELAY::V4RELAY, as RFC 6343
 * §4.4 item 4 asks relays to answer). After `failures` consecutive failures the tunnel is declared
 * down and the RA sender advertises router lifetime 0 (RFC 7084 §4.3 L-4), so LAN hosts fall back to
 * IPv4 within seconds instead of waiting on a dead path; the first success restores it.
 *
 * Probes start every `intervalS`; each waits at most min(interval, 3 s). Defaults (5 s, 3
 * failures) withdraw the default route at most 3 × 5 + 3 = 18 s after the path fails, plus up to
 * 3 s until the next RA may go out (RFC 4861 §6.2.6 rate limit): 21 s, under the 30 s asked for.
 *
 * The state starts "unknown" and counts as up: a fresh CPE advertises itself at once and withdraws
 * only on evidence, as radvd and odhcpd do; a first failed probe does not flap the LAN.
 */
import { bytesEqual } from "../codec/bytes.js";
import type { Clock, TimerHandle } from "./clock.js";

/** Sends one ICMPv6 echo request; resolves with the round-trip time when its reply arrives. */
export interface EchoProber {
  /**
   * Probes `target` (16 bytes): resolves the round-trip time in ms when a matching reply arrives
   * within `timeoutMs`, else null. Never rejects: errors (no route, socket closed) resolve null.
   * The prober owns its sockets and `close()` frees them.
   */
  probe(target: Uint8Array, timeoutMs: number): Promise<number | null>;
  /** Aborts outstanding probes (they resolve false) and frees resources. */
  close(): void;
}

type HealthState = "unknown" | "up" | "down";

export interface HealthSnapshot {
  readonly state: HealthState;
  /** Target in use, RFC 5952 text, or null when nothing to probe (no relay known). */
  readonly target: string | null;
  readonly consecutiveFailures: number;
  readonly probesSent: number;
  readonly probesOk: number;
  readonly lastProbeMs: number | null;
  readonly lastOkMs: number | null;
  readonly lastChangeMs: number | null;
  /** Round-trip time of the last answered probe, ms. */
  readonly lastRttMs: number | null;
}

interface HealthOptions {
  readonly intervalS: number;
  readonly failures: number;
  readonly clock: Clock;
  readonly prober: EchoProber;
  /**
   * Called once per transition between up and down; for unknown -> up only with `reportFirstUp`
   * (the relay announces nothing before its upstream answered once, RFC 3068 §4.4).
   */
  readonly onChange: (up: boolean, snapshot: HealthSnapshot) => void;
  readonly reportFirstUp?: boolean;
  /** Formats the target for status/logs. */
  readonly formatTarget: (target: Uint8Array) => string;
  /**
   * Resolves once the addresses the probe leaves from are in place (cpe-control: the TUN's
   * router address after a plan change). The first probe after start or a target change waits
   * for it: sent earlier, it would leave without a source address of ours, be dropped by our own
   * data plane and count as a failure.
   */
  readonly ready?: () => Promise<unknown>;
}

/** Upper bound on one probe's wait, so a long interval still notices a failure promptly. */
const HEALTH_PROBE_TIMEOUT_MAX_MS = 3000;

export class HealthMonitor {
  private readonly opts: HealthOptions;
  private target: Uint8Array | null = null;
  /** The first probe after start or a target change (one-shot, at once). */
  private timer: TimerHandle | null = null;
  /** Every interval (one repeating timer: nothing allocated per tick). */
  private repeat: TimerHandle | null = null;
  private running = false;
  private inFlight = false;
  /** A tick came while a probe was in flight: probe again as soon as it ends. */
  private due = false;
  /** Bumped by cancel(): a first probe still waiting for `ready` is then dropped. */
  private generation = 0;
  private s: {
    state: HealthState;
    consecutiveFailures: number;
    probesSent: number;
    probesOk: number;
    lastProbeMs: number | null;
    lastOkMs: number | null;
    lastChangeMs: number | null;
    lastRttMs: number | null;
  } = {
    state: "unknown",
    consecutiveFailures: 0,
    probesSent: 0,
    probesOk: 0,
    lastProbeMs: null,
    lastOkMs: null,
    lastChangeMs: null,
    lastRttMs: null,
  };

  constructor(opts: HealthOptions) {
    this.opts = opts;
  }

  /** Whether the RA sender may advertise a default route (unknown counts as up). */
  isUp(): boolean {
    return this.s.state !== "down";
  }

  snapshot(): HealthSnapshot {
    return {
      ...this.s,
      target: this.target ? this.opts.formatTarget(this.target) : null,
    };
  }

  /** Starts probing at once, then every interval. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.restart();
  }

  /** Changes the probe target (relay changed); null pauses probing and resets to unknown. */
  setTarget(target: Uint8Array | null): void {
    const same =
      target !== null &&
      this.target !== null &&
      target.length === this.target.length &&
      bytesEqual(target, 0, this.target, 0, target.length);
    if (same) return;
    this.target = target ? Uint8Array.from(target) : null;
    this.s.consecutiveFailures = 0;
    if (this.running) this.restart();
  }

  /** Stops probing; leaves no timer and closes the prober. */
  stop(): void {
    this.running = false;
    this.cancel();
    this.opts.prober.close();
  }

  private cancel(): void {
    const clock = this.opts.clock;
    if (this.timer !== null) clock.clearTimer(this.timer);
    if (this.repeat !== null) clock.clearTimer(this.repeat);
    this.timer = null;
    this.repeat = null;
    this.due = false;
    this.generation++;
  }

  /** Probes at once (once `ready` resolved), then every interval from now. */
  private restart(): void {
    this.cancel();
    const clock = this.opts.clock;
    const generation = this.generation;
    const first = (): void => {
      if (generation !== this.generation || !this.running) return;
      this.timer = clock.setTimer(() => {
        this.timer = null;
        void this.tick();
      }, 0);
    };
    const ready = this.opts.ready;
    if (ready === undefined) first();
    else void ready().then(first, first);
    this.repeat = clock.setRepeating(() => void this.tick(), this.opts.intervalS * 1000);
  }

  private async tick(): Promise<void> {
    if (!this.running || !this.target) return;
    if (this.inFlight) {
      this.due = true;
      return;
    }
    const intervalMs = this.opts.intervalS * 1000;
    const target = this.target;
    this.inFlight = true;
    this.s.probesSent++;
    this.s.lastProbeMs = this.opts.clock.now();
    const rtt = await this.opts.prober.probe(
      target,
      Math.min(intervalMs, HEALTH_PROBE_TIMEOUT_MAX_MS),
    );
    this.inFlight = false;
    if (!this.running) return;
    if (target === this.target) this.record(rtt);
    // Probes start every interval (a failing probe's wait is part of it, not added to it); a
    // tick that found this one still waiting starts the next one now.
    if (this.due) {
      this.due = false;
      void this.tick();
    }
  }

  /** Applies one probe result (exported for tests through the fake prober). */
  private record(rtt: number | null): void {
    const now = this.opts.clock.now();
    if (rtt !== null) {
      this.s.probesOk++;
      this.s.lastOkMs = now;
      this.s.lastRttMs = rtt;
      this.s.consecutiveFailures = 0;
      if (this.s.state !== "up") {
        const wasDown = this.s.state === "down";
        this.s.state = "up";
        this.s.lastChangeMs = now;
        if (wasDown || this.opts.reportFirstUp === true) this.opts.onChange(true, this.snapshot());
      }
      return;
    }
    this.s.consecutiveFailures++;
    if (this.s.state !== "down" && this.s.consecutiveFailures >= this.opts.failures) {
      this.s.state = "down";
      this.s.lastChangeMs = now;
      this.opts.onChange(false, this.snapshot());
    }
  }
}
