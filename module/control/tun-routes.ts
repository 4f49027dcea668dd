/**
 * The routes into the TUN (default_route, usually ::/0, and 2002::/16 with direct 6to4), present
 * exactly while the data plane forwards: a route into a TUN whose data plane drops everything
 * (no WAN address, refused, disabled) blackholes the router's own IPv6 and hides any other route
 * the router has. `want(true)` installs them, `want(false)` withdraws them.
 *
 * An `ip -6 route add` that fails (e.g. "Nexthop device is not up" while the TUN is still coming
 * up) is retried with a backoff until it holds; until then `missing()` names the route and the
 * error, and the control plane does not report the state `running` (cpe-control.ts). Changes run
 * one after another in the order asked, like lan-addressing.ts.
 */
import type { Logger } from "../log/logger.js";
import type { TunRouteStatus } from "../status/snapshot.js";
import type { Clock, TimerHandle } from "./clock.js";
import type { CommandRunner } from "./wan-watcher.js";

const IP_TIMEOUT_MS = 5000;
/** First retry of a failed route, and the cap the delay doubles up to. */
const ROUTE_RETRY_MIN_MS = 500;
const ROUTE_RETRY_MAX_MS = 10_000;

interface TunRoutesOptions {
  readonly tunName: string;
  /** Prefixes in `ip` syntax ("::/0", "2002::/16"). */
  readonly prefixes: readonly string[];
  readonly runner: CommandRunner;
  readonly clock: Clock;
  readonly log: Logger;
  /** Called when a route was installed or withdrawn (RAs and netifd follow it). */
  readonly onChange?: () => void;
}

interface Route {
  readonly prefix: string;
  installed: boolean;
  error: string | null;
}

export class TunRoutes {
  private readonly o: TunRoutesOptions;
  private readonly routes: Route[];
  private wanted = false;
  private stopped = false;
  private queue: Promise<void> = Promise.resolve();
  private retry: TimerHandle | null = null;
  private retryMs = ROUTE_RETRY_MIN_MS;

  constructor(options: TunRoutesOptions) {
    this.o = options;
    this.routes = options.prefixes.map((prefix) => ({ prefix, installed: false, error: null }));
  }

  /** Installs (true) or withdraws (false) the routes; runs after the changes asked before. */
  want(on: boolean): void {
    if (this.stopped) return;
    if (on === this.wanted) return;
    this.wanted = on;
    this.cancelRetry();
    this.retryMs = ROUTE_RETRY_MIN_MS;
    this.enqueue();
  }

  /** Resolves when every change asked so far has run (a failed install is then being retried). */
  settled(): Promise<void> {
    return this.queue;
  }

  /**
   * Puts back wanted routes that are gone from the kernel although installed (removed from
   * outside: kernel-guard.ts); runs after the changes asked before, so a withdrawal is never
   * undone. A route the kernel refuses stays missing and is retried as after a failed install.
   */
  reassert(): Promise<{ restored: string[]; missing: string[] }> {
    const result = { restored: [] as string[], missing: [] as string[] };
    const dev = this.o.tunName;
    this.queue = this.queue.then(async () => {
      if (!this.wanted || this.stopped) return;
      const shown = await this.ip(["-6", "route", "show", "dev", dev]);
      const have = new Set(
        shown.code === 0 ? shown.stdout.split("\n").map((l) => l.split(" ")[0]) : [],
      );
      const lost = this.routes.filter(
        (r) => r.installed && !have.has(r.prefix === "::/0" ? "default" : r.prefix),
      );
      if (lost.length === 0) return;
      for (const r of lost) r.installed = false;
      this.cancelRetry();
      this.retryMs = ROUTE_RETRY_MIN_MS;
      await this.sync();
      for (const r of lost) {
        if (r.installed) result.restored.push(`route ${r.prefix} dev ${dev}`);
        else result.missing.push(`route ${r.prefix} dev ${dev}: ${r.error ?? "not installed"}`);
      }
    });
    return this.queue.then(() => result);
  }

  /** Wanted routes that are not installed yet, with their last error. */
  missing(): TunRouteStatus[] {
    if (!this.wanted) return [];
    return this.routes.filter((r) => !r.installed).map((r) => ({ ...r }));
  }

  status(): TunRouteStatus[] {
    return this.routes.map((r) => ({ ...r }));
  }

  /** Stops retrying and withdraws the routes. Safe twice. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.wanted = false;
      this.stopped = true;
      this.cancelRetry();
      this.queue = this.queue.then(() => this.sync());
    }
    await this.queue;
  }

  private enqueue(): void {
    this.queue = this.queue.then(() => this.sync());
  }

  private cancelRetry(): void {
    if (this.retry !== null) this.o.clock.clearTimer(this.retry);
    this.retry = null;
  }

  /** Brings the kernel to `wanted`; schedules a retry while a wanted route is missing. */
  private async sync(): Promise<void> {
    const { tunName: dev, log } = this.o;
    let changed = false;
    for (const r of this.routes) {
      if (this.wanted && !r.installed) {
        const err = await this.add(r.prefix, dev);
        if (err === null) {
          r.installed = true;
          r.error = null;
          changed = true;
          log.info(`route ${r.prefix} dev ${dev} installed`);
        } else {
          if (err !== r.error)
            log.warn(`route ${r.prefix} dev ${dev} not installed: ${err}; retrying`);
          r.error = err;
        }
      } else if (!this.wanted && (r.installed || r.error !== null)) {
        const wasInstalled = r.installed;
        r.installed = false;
        r.error = null;
        if (!wasInstalled) continue;
        changed = true;
        const res = await this.ip(["-6", "route", "del", r.prefix, "dev", dev]);
        if (res.code !== 0 && !/No such process|Cannot find device|does not exist/.test(res.text)) {
          log.warn(`route ${r.prefix} dev ${dev} not withdrawn: ${res.text}`);
        } else {
          log.info(`route ${r.prefix} dev ${dev} withdrawn (the data plane does not forward)`);
        }
      }
    }
    if (this.wanted && !this.stopped && this.routes.some((r) => !r.installed)) {
      this.scheduleRetry();
    }
    if (changed) this.o.onChange?.();
  }

  private scheduleRetry(): void {
    if (this.retry !== null) return;
    const ms = this.retryMs;
    this.retryMs = Math.min(ROUTE_RETRY_MAX_MS, this.retryMs * 2);
    this.retry = this.o.clock.setTimer(() => {
      this.retry = null;
      if (this.wanted && !this.stopped) this.enqueue();
    }, ms);
  }

  /** `ip -6 route add`; null when the route is there afterwards, else the error text. */
  private async add(prefix: string, dev: string): Promise<string | null> {
    const res = await this.ip(["-6", "route", "add", prefix, "dev", dev]);
    if (res.code === 0) return null;
    // "File exists": ours already (left by a previous change), or another route in the way.
    const shown = await this.ip(["-6", "route", "show", "dev", dev]);
    const want = prefix === "::/0" ? "default" : prefix;
    if (shown.code === 0 && shown.stdout.split("\n").some((l) => l.split(" ")[0] === want)) {
      return null;
    }
    return res.text;
  }

  private async ip(args: string[]): Promise<{ code: number; stdout: string; text: string }> {
    const r = await this.o.runner.run(["ip", ...args], IP_TIMEOUT_MS);
    const text = (r.stderr ?? "").trim().split("\n")[0] || `ip exited with ${r.code}`;
    return { code: r.code, stdout: r.stdout, text };
  }
}
