/**
 * Relay health and announcement (RFC 3068 §4.2, §4.4; docs/relay-fleet.md): a relay behind the
 * anycast address announces it, and the provider prefix and 2002::/16 toward its IPv6 side, only
 * while it is healthy, i.e. its daemon runs and its IPv6 upstream answers (HealthMonitor, when a
 * health target is set).
 *
 * How a routing daemon learns it: the relay routes the announced prefixes into its own TUN with
 * the kernel route protocol RELAY_ANNOUNCE_PROTO (41, after IP protocol 41):
 *     ip route replace 192.88.99.1/32 dev <tun> proto 41
 *     ip -6 route replace 2001:db8::/32 dev <tun> proto 41      (and 2002::/16)
 * BIRD's `protocol kernel { learn; ipv4 { import where krt_source = 41; }; }` imports exactly
 * those and its IGP exports them. While unhealthy the relay deletes them ("stop injecting the
 * route ... immediately", §4.4). The routes hang on the TUN, which the kernel deletes when the
 * relay's process ends in any way (SIGKILL and crashes included: a TUN is not persistent), so a
 * dead relay withdraws without a watchdog; BIRD sees the deletion at once (netlink).
 *
 * For the IPv4 anycast the route in the relay's main table is only a marker: packets to a local
 * address are delivered by the local table, which the kernel consults first.
 */
import type { Logger } from "../log/logger.js";
import { systemClock } from "./clock.js";
import type { HealthMonitor, HealthSnapshot } from "./health.js";

/** Kernel route protocol of announced routes (rtnetlink rtm_protocol; unassigned in Linux). */
export const RELAY_ANNOUNCE_PROTO = 41;

export type AnnounceState = "announced" | "withdrawn";

/** Something that kept or took the announcement down, and when (clock ms). */
export interface AnnounceError {
  readonly message: string;
  readonly atMs: number;
}

export interface RelayAnnounceSnapshot {
  readonly state: AnnounceState;
  /** Why the routes are (not) announced: "healthy", "no health target", "upstream down", ... */
  readonly reason: string;
  /** When `state` began (clock ms): the last announcement or withdrawal, else the start. */
  readonly sinceMs: number;
  readonly routes: readonly string[];
  readonly changes: number;
  /**
   * Errors so far: `ip` commands that failed, probes that could not be sent, and each time the
   * health monitor found the upstream down.
   */
  readonly errors: number;
  readonly lastError: AnnounceError | null;
  readonly health: HealthSnapshot | null;
}

export interface RelayAnnouncerOptions {
  /** The relay's TUN. */
  readonly device: string;
  /** Prefixes announced: `192.88.99.1/32`, `2001:db8::/32`, `2002::/16`. */
  readonly routes: readonly string[];
  /** Runs `ip <args>`; resolves "" on success, else the error text. */
  readonly ip: (args: readonly string[]) => string;
  readonly log: Logger;
  /**
   * Builds the upstream prober (null: no health target, healthy while running). `onChange` is
   * to be the monitor's onChange with reportFirstUp set; `onError` takes what the prober could
   * not do (a probe not sent), for the status's last error.
   */
  readonly health?: (
    onChange: (up: boolean, s: HealthSnapshot) => void,
    onError: (message: string) => void,
  ) => HealthMonitor;
  /** Wall-clock milliseconds for `sinceMs` and the last error's time (default Date.now). */
  readonly now?: () => number;
}

/** `ip` arguments that add (replace) or delete one announced route. */
export function announceRouteArgs(op: "replace" | "del", device: string, prefix: string): string[] {
  const family = prefix.includes(":") ? "-6" : "-4";
  return [family, "route", op, prefix, "dev", device, "proto", String(RELAY_ANNOUNCE_PROTO)];
}

export class RelayAnnouncer {
  private state: AnnounceState = "withdrawn";
  private reason = "starting";
  private changes = 0;
  private errors = 0;
  private lastError: AnnounceError | null = null;
  private readonly now: () => number;
  private sinceMs: number;
  private readonly monitor: HealthMonitor | null;
  private stopped = false;

  constructor(private readonly opts: RelayAnnouncerOptions) {
    this.now = opts.now ?? (() => systemClock.now());
    this.sinceMs = this.now();
    this.monitor = opts.health
      ? opts.health(
          (up, s) => {
            if (this.stopped) return;
            if (up) {
              this.announce(`upstream ${s.target} answers`);
              return;
            }
            const why = `upstream ${s.target} down (${s.consecutiveFailures} probes unanswered)`;
            // One time for both: the loss is what withdrew it.
            const at = this.now();
            this.error(why, at);
            this.withdraw(why, at);
          },
          (message) => {
            if (!this.stopped) this.error(message);
          },
        )
      : null;
  }

  /** Announces at once without a health target, else after the first answered probe. */
  start(): void {
    if (this.monitor === null) {
      this.announce("no health target: healthy while running");
      return;
    }
    this.reason = "waiting for the first upstream probe";
    this.opts.log.info(
      `announce: ${this.opts.routes.join(" ")} withheld until the upstream answers`,
    );
    this.monitor.start();
  }

  /** Withdraws everything and stops probing (SIGTERM). */
  stop(): void {
    this.stopped = true;
    this.monitor?.stop();
    if (this.state === "announced") this.withdraw("relay stopping");
  }

  snapshot(): RelayAnnounceSnapshot {
    return {
      state: this.state,
      reason: this.reason,
      sinceMs: this.sinceMs,
      routes: this.opts.routes,
      changes: this.changes,
      errors: this.errors,
      lastError: this.lastError,
      health: this.monitor?.snapshot() ?? null,
    };
  }

  /** Prometheus gauges and counters (appended to the relay's /metrics). */
  prometheus(): string {
    const s = this.snapshot();
    const h = s.health;
    const lines = [
      "# HELP sixto4pmt_relay_announced 1 while the relay announces its routes (healthy), else 0.",
      "# TYPE sixto4pmt_relay_announced gauge",
      `sixto4pmt_relay_announced ${s.state === "announced" ? 1 : 0}`,
      "# HELP sixto4pmt_relay_announced_since_timestamp_seconds Unix time the announcement last went up or down (else the start).",
      "# TYPE sixto4pmt_relay_announced_since_timestamp_seconds gauge",
      `sixto4pmt_relay_announced_since_timestamp_seconds ${seconds(s.sinceMs)}`,
      "# HELP sixto4pmt_relay_announce_changes_total Announcements and withdrawals.",
      "# TYPE sixto4pmt_relay_announce_changes_total counter",
      `sixto4pmt_relay_announce_changes_total ${s.changes}`,
      "# HELP sixto4pmt_relay_announce_errors_total Failed route commands, unsent probes, upstream losses.",
      "# TYPE sixto4pmt_relay_announce_errors_total counter",
      `sixto4pmt_relay_announce_errors_total ${s.errors}`,
      "# HELP sixto4pmt_relay_announce_last_error_timestamp_seconds Unix time of the last of those (0: none yet).",
      "# TYPE sixto4pmt_relay_announce_last_error_timestamp_seconds gauge",
      `sixto4pmt_relay_announce_last_error_timestamp_seconds ${s.lastError !== null ? seconds(s.lastError.atMs) : 0}`,
    ];
    if (h !== null) {
      lines.push(
        "# HELP sixto4pmt_relay_upstream_up 1 while the IPv6 upstream answers probes (unknown counts 0).",
        "# TYPE sixto4pmt_relay_upstream_up gauge",
        `sixto4pmt_relay_upstream_up ${h.state === "up" ? 1 : 0}`,
        "# HELP sixto4pmt_relay_upstream_probes_total Upstream probes sent and answered.",
        "# TYPE sixto4pmt_relay_upstream_probes_total counter",
        `sixto4pmt_relay_upstream_probes_total{result="sent"} ${h.probesSent}`,
        `sixto4pmt_relay_upstream_probes_total{result="answered"} ${h.probesOk}`,
      );
    }
    return lines.join("\n") + "\n";
  }

  /** Counts an error and keeps it as the last one (the caller logs it). */
  private error(message: string, atMs = this.now()): void {
    this.errors++;
    this.lastError = { message, atMs };
  }

  private announce(why: string): void {
    this.reason = why;
    let ok = true;
    for (const r of this.opts.routes) {
      const args = announceRouteArgs("replace", this.opts.device, r);
      const err = this.opts.ip(args);
      if (err !== "") {
        ok = false;
        this.error(`ip ${args.join(" ")} failed: ${err}`);
        this.opts.log.error(`announce: ip ${args.join(" ")} failed: ${err}`);
      }
    }
    if (this.state !== "announced") {
      this.state = "announced";
      this.sinceMs = this.now();
      this.changes++;
      this.opts.log.info(
        `announce: ${this.opts.routes.join(" ")} announced (${why})${ok ? "" : " with errors"}`,
      );
    }
  }

  private withdraw(why: string, atMs = this.now()): void {
    this.reason = why;
    if (this.state === "withdrawn") {
      this.opts.log.warn(`announce: still withdrawn (${why})`);
      return;
    }
    for (const r of this.opts.routes) {
      const args = announceRouteArgs("del", this.opts.device, r);
      const err = this.opts.ip(args);
      // Gone with the TUN already (stop after a TUN failure): nothing left to withdraw.
      if (err !== "" && !/Cannot find device|No such process|does not exist/.test(err)) {
        this.error(`ip ${args.join(" ")} failed: ${err}`);
        this.opts.log.error(`announce: ip ${args.join(" ")} failed: ${err}`);
      }
    }
    this.state = "withdrawn";
    this.sinceMs = atMs;
    this.changes++;
    this.opts.log.warn(`announce: ${this.opts.routes.join(" ")} withdrawn (${why})`);
  }
}

/** Milliseconds as Prometheus seconds (three decimals at most). */
function seconds(ms: number): string {
  return String(Math.round(ms) / 1000);
}
