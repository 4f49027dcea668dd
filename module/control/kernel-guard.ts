/**
 * Notices the control plane's own kernel state vanishing and has it restored: the TUN's router
 * address, the LAN router address (builtin RAs), the routes into the TUN, the TUN link being up.
 * Whoever removed them (netifd claiming the device, an `ip addr flush`, an admin), the data plane
 * would otherwise forward into nothing until the daemon restarts.
 *
 * One long-running `ip -o monitor address route link` child (respawned with backoff, like
 * wan-watcher.ts); its lines are filtered to the watched devices and only removals count: a
 * deleted address, a deleted route, a link line without UP. They are coalesced (debounced) into
 * one `restore(kinds)` call; the control plane compares the kernel with what it currently wants
 * and re-adds only that, so its own withdrawals (routes in no-wan/refused, a replaced address)
 * are never fought. While a restore reports something it could not put back, it is retried with
 * a doubling delay, a bounded number of times.
 */
import type { Clock, TimerHandle } from "./clock.js";
import type { CommandRunner } from "./wan-watcher.js";

/** What vanished: an address, a route, or the link went down. */
export type LossKind = "address" | "route" | "link";

/** Coalesces a burst (a flush removes several things) into one check. */
const GUARD_DEBOUNCE_MS = 200;
/** A restore that left something missing is retried this often, the delay doubling. */
const GUARD_RETRIES = 5;
const GUARD_RETRY_MIN_MS = 400;
const MONITOR_RESPAWN_MIN_MS = 1000;
const MONITOR_RESPAWN_MAX_MS = 30_000;

/**
 * Classifies one `ip -o monitor address route link` line: a removal on one of `devices`, or null.
 *   address: `Deleted 5: tun0    inet6 2001:db8::1/128 scope global ...`
 *   route:   `Deleted default dev tun0 metric 1024 pref medium` (also `Deleted 2002::/16 dev ...`)
 *   link:    `5: tun0: <POINTOPOINT,MULTICAST,NOARP> mtu 1480 ...` (no UP flag)
 */
export function classifyMonitorLine(
  line: string,
  devices: readonly string[],
): { kind: LossKind; device: string } | null {
  const l = line.replace(/^\[[A-Z]+\]\s*/, "");
  const deleted = /^Deleted\s+/.exec(l);
  const rest = deleted ? l.slice(deleted[0].length) : l;
  const ifx = /^\d+:\s+([^\s:@]+)(:?)\s+(.*)$/.exec(rest);
  if (ifx) {
    const device = ifx[1]!;
    if (!devices.includes(device)) return null;
    if (ifx[2] === ":") {
      // A link line; "Deleted" here is the device itself going away (not ours to recreate).
      if (deleted) return null;
      const flags = /^<([^>]*)>/.exec(ifx[3]!);
      if (flags === null) return null;
      return flags[1]!.split(",").includes("UP") ? null : { kind: "link", device };
    }
    return deleted && /^inet6?\s/.test(ifx[3]!) ? { kind: "address", device } : null;
  }
  if (!deleted) return null;
  const dev = /\sdev\s+(\S+)/.exec(rest);
  if (dev === null || !devices.includes(dev[1]!)) return null;
  return { kind: "route", device: dev[1]! };
}

interface KernelGuardOptions {
  /** Devices whose removals matter (the TUN; the LAN device when its address is managed). */
  readonly devices: readonly string[];
  readonly runner: CommandRunner;
  readonly clock: Clock;
  readonly log: (level: "info" | "warn" | "debug", message: string) => void;
  /**
   * Re-asserts what is wanted of `kinds`; resolves with what is still missing afterwards (empty:
   * all in place). Called one at a time.
   */
  readonly restore: (kinds: ReadonlySet<LossKind>) => Promise<string[]>;
}

export class KernelGuard {
  private readonly o: KernelGuardOptions;
  private monitor: { kill(): void } | null = null;
  private running = false;
  private pending = new Set<LossKind>();
  private timer: TimerHandle | null = null;
  private busy = false;
  private attempt = 0;
  private respawnTimer: TimerHandle | null = null;
  private respawnMs = MONITOR_RESPAWN_MIN_MS;

  constructor(options: KernelGuardOptions) {
    this.o = options;
  }

  start(): void {
    if (this.running || this.o.devices.length === 0) return;
    this.running = true;
    this.startMonitor();
  }

  stop(): void {
    this.running = false;
    if (this.timer !== null) this.o.clock.clearTimer(this.timer);
    if (this.respawnTimer !== null) this.o.clock.clearTimer(this.respawnTimer);
    this.timer = null;
    this.respawnTimer = null;
    const m = this.monitor;
    this.monitor = null;
    m?.kill();
  }

  /** Feeds one monitor line (the child's, or a test's). */
  onLine(line: string): void {
    const c = classifyMonitorLine(line, this.o.devices);
    if (c === null || !this.running) return;
    this.pending.add(c.kind);
    this.attempt = 0;
    this.schedule(GUARD_DEBOUNCE_MS);
  }

  private schedule(ms: number): void {
    if (this.timer !== null || this.busy) return;
    this.timer = this.o.clock.setTimer(() => {
      this.timer = null;
      void this.check();
    }, ms);
  }

  private async check(): Promise<void> {
    if (!this.running || this.pending.size === 0) return;
    const kinds = this.pending;
    this.pending = new Set();
    this.busy = true;
    let missing: string[];
    try {
      missing = await this.o.restore(kinds);
    } catch (e) {
      missing = [(e as Error).message];
    }
    this.busy = false;
    if (!this.running) return;
    if (missing.length > 0) {
      this.attempt++;
      if (this.attempt <= GUARD_RETRIES) {
        for (const k of kinds) this.pending.add(k);
        const ms = GUARD_RETRY_MIN_MS * 2 ** (this.attempt - 1);
        this.o.log("warn", `not restored yet: ${missing.join("; ")}; retrying in ${ms} ms`);
        this.schedule(ms);
        return;
      }
      this.o.log("warn", `not restored after ${GUARD_RETRIES} retries: ${missing.join("; ")}`);
    }
    this.attempt = 0;
    // Removals seen while the restore ran.
    if (this.pending.size > 0) this.schedule(GUARD_DEBOUNCE_MS);
  }

  private startMonitor(): void {
    const argv = ["ip", "-o", "monitor", "address", "route", "link"];
    const started = this.o.clock.now();
    this.monitor = this.o.runner.spawnLines(
      argv,
      (line) => this.onLine(line),
      (code) => {
        if (!this.running) return;
        this.monitor = null;
        if (this.o.clock.now() - started > MONITOR_RESPAWN_MAX_MS) {
          this.respawnMs = MONITOR_RESPAWN_MIN_MS;
        }
        this.o.log(
          "warn",
          `kernel monitor "${argv.join(" ")}" exited with ${code}; respawning in ${this.respawnMs} ms`,
        );
        this.respawnTimer = this.o.clock.setTimer(() => {
          this.respawnTimer = null;
          if (!this.running) return;
          this.startMonitor();
          // Removals may have been missed meanwhile: check everything once.
          for (const k of ["address", "route", "link"] as const) this.pending.add(k);
          this.schedule(GUARD_DEBOUNCE_MS);
        }, this.respawnMs);
        this.respawnMs = Math.min(this.respawnMs * 2, MONITOR_RESPAWN_MAX_MS);
      },
    );
  }
}
