/**
 * The CPE control plane: learns the WAN and the DHCP lease (cpe-inputs: wan-watcher, dhcp-6rd),
 * decides (decide.ts) and carries the decision out: the data plane's ForwardingState swapped in
 * with one assignment, TUN and LAN addresses (lan-addressing), the LAN prefix advertised
 * (lan-prefixes, lan-ra, or netifd-publish), the tunnel watched (health), GRO on the WAN
 * (wan-gro), and `6to4-pmt status` answered (cpe-status, status/server).
 *
 * Flow on every input change (WAN address/MTU, DHCP lease):
 *   1. decide(config, wan, lease) -> state, reason, plan; a state change is logged once.
 *   2. The plan's forwarding snapshot (or a disabled one) -> data plane.
 *   3. The plan's /64 becomes the current LAN prefix; a previous one is deprecated for its last
 *      valid lifetime (RFC 9096 §3.5) and persisted in the state file.
 *   4. TUN MTU, TUN and LAN router addresses follow the plan; the health target follows the relay.
 *   5. RAs: the content changed (router lifetime 0 while the tunnel is down or nothing is
 *      advertised, RFC 7084 L-4); with ra netifd, the prefix is handed to netifd instead.
 * `stop()`: final RA (router lifetime 0, prefixes deprecated, RFC 4861 §6.2.5), state saved, and
 * every timer, socket, file watcher and child process released.
 */
import { readFileSync } from "node:fs";
import { formatIpv6 } from "../addr/ipv6.js";
import type { CpeConfig } from "../config/parse.js";
import type { CountersSnapshot } from "../dataplane/counters.js";
import type { CpeForwardingState } from "../dataplane/forwarding-state.js";
import type { IcmpV6Socket } from "../io/ports.js";
import type { Logger } from "../log/logger.js";
import type { DaemonState, DataplaneStatus, StatusSnapshot } from "../status/snapshot.js";
import { startStatusServer, type StatusServer } from "../status/server.js";
import { systemClock, type Clock } from "./clock.js";
import { CpeInputs } from "./cpe-inputs.js";
import { cpeStatus } from "./cpe-status.js";
import { decide, type Decision } from "./decide.js";
import { HealthMonitor, type EchoProber } from "./health.js";
import { KernelGuard, type LossKind } from "./kernel-guard.js";
import { LanAddressing } from "./lan-addressing.js";
import { LanPrefixes } from "./lan-prefixes.js";
import { LanRa } from "./lan-ra.js";
import { TunRoutes } from "./tun-routes.js";
import { NetifdPublisher } from "./netifd-publish.js";
import {
  capPrefixLifetimes,
  clampAdvIntervals,
  type AdvIntervals,
  type PrefixLifetimes,
  type RandomSource,
} from "./ra-timing.js";
import type { WanNextHop } from "./wan-next-hop.js";
import { watchWanGro, type FeatureAccess, type LowerDevices, type WanGroWatch } from "./wan-gro.js";
import { createCommandRunner, type CommandRunner } from "./wan-watcher.js";

/** The part of the data plane the control plane drives (dataplane/cpe-daemon.ts CpeDaemon). */
interface ForwardingSink {
  setForwardingState(state: CpeForwardingState): void;
  counters(): CountersSnapshot;
  /**
   * Packets the WAN's GRO merged beyond repair, for `wan_gro` (every few seconds); absent: read
   * from `counters()`. The kernel data plane answers 0 without reading its nft counters.
   */
  groUnusable?(): number;
  /**
   * Resolves when the last snapshot is carried out (the kernel data plane programs sit and nft
   * asynchronously): nothing is sent through the tunnel before, so that no flow, the health
   * probe's included, is tracked by conntrack without the prefix NAT (NAT is bound when a flow
   * starts).
   */
  settled?(): Promise<void>;
}

interface CpeControlDeps {
  readonly config: CpeConfig;
  readonly log: Logger;
  readonly version: string;
  /** The data plane; null runs the control plane alone (RA sender tests, `ra` only set-ups). */
  readonly daemon: ForwardingSink | null;
  /** TUN device whose router address and MTU follow the plan; null = leave it. */
  readonly tunName?: string | null;
  /**
   * The MTU the TUN was opened with (cli/cpe.ts), so that a first plan with another one sets it;
   * absent: the first plan's is taken as the TUN's.
   */
  readonly tunMtu?: number | null;
  /**
   * Routes into the TUN (`ip` prefixes: default_route, 2002::/16), installed only while the data
   * plane forwards (tun-routes.ts); absent or without tunName: none managed.
   */
  readonly tunRoutes?: readonly string[];
  readonly clock?: Clock;
  readonly random?: RandomSource;
  /** Runs `ip`/`ubus` (tests wrap them in `ip netns exec`). */
  readonly runner?: CommandRunner;
  /**
   * Opens the LAN's ND socket (cli/cpe.ts passes io/linux.ts openIcmpV6: control/ sees io/ only
   * through its interfaces). Used when `ra` is builtin.
   */
  readonly openNdSocket: (device: string, passTypes: number[]) => IcmpV6Socket;
  /** Tunnel health probe (cli/cpe.ts passes control/echo-prober.ts over a raw ICMPv6 socket). */
  readonly prober: EchoProber;
  /** The data plane in use and why, for status (cli/cpe.ts); absent: not shown. */
  readonly dataplaneMode?: () => DataplaneStatus;
  /** Follow netifd (OpenWrt) instead of rtnetlink; default: `ubus` present and no wan_device. */
  readonly useUbus?: boolean;
  /** udhcpc hook lease file (PMT_DHCP_FILE). */
  readonly dhcpLeaseFile?: string;
  /** Put the router's address of the LAN prefix on lan_device (default: with builtin RAs). */
  readonly manageLanAddress?: boolean;
  /** Serve the status socket (default true). */
  readonly statusSocket?: boolean;
  /**
   * Reads and changes the WAN device's features (cli/cpe.ts passes io/linux.ts netdevFeatures)
   * for `wan_gro` auto/off; absent: they are left alone, as with keep.
   */
  readonly netdevFeatures?: FeatureAccess;
  /**
   * Devices below a device (cli/cpe.ts passes io/linux.ts lowerDevices), for `wan_gro` to reach
   * the real device under a VLAN or macvlan WAN; absent: only the WAN device itself.
   */
  readonly lowerDevices?: LowerDevices;
  /**
   * `wan_send packet` (wan-next-hop.ts): follows the relay in use, shows in status, and answers
   * the status socket's `resolve` command (`reload` resolves too); absent with raw.
   */
  readonly wanSend?: WanNextHop;
}

export interface CpeControl {
  snapshot(): StatusSnapshot;
  /** The forwarding state last handed to the data plane (null before the first decision). */
  forwardingState(): CpeForwardingState | null;
  /** Re-reads WAN and DHCP state now. */
  refresh(): Promise<void>;
  /** Final RA, state saved, everything released. Safe twice. */
  stop(): Promise<void>;
  /**
   * Forced exit (cli/daemon-lifecycle.ts): synchronously saves the state and removes the files
   * that would outlive the process (status socket, temporary state file).
   */
  abandon(): void;
}

/** Starts the control plane; resolves once the first decision is carried out and RAs scheduled. */
export async function startCpeControl(deps: CpeControlDeps): Promise<CpeControl> {
  const runner = deps.runner ?? createCommandRunner();
  const useUbus = deps.useUbus ?? (deps.config.wanDevice === null && (await hasUbus(runner)));
  const plane = new CpeControlPlane(deps, runner, useUbus);
  await plane.start();
  return plane;
}

/** The decision in force; `state` is "starting" (or "disabled") until the first one. */
interface Current {
  state: DaemonState;
  reason: string | null;
  decision: Decision;
  /** The snapshot last handed to the data plane. */
  forwarding: CpeForwardingState | null;
}

class CpeControlPlane implements CpeControl {
  private readonly deps: CpeControlDeps;
  private readonly cfg: CpeConfig;
  private readonly log: Logger;
  private readonly clock: Clock;
  private readonly runner: CommandRunner;
  private readonly startedMs: number;
  private readonly intervals: AdvIntervals;
  private readonly lifetimes: PrefixLifetimes;

  /** What the control plane has learned: decide()'s inputs. */
  private readonly inputs: CpeInputs;
  private readonly current: Current;
  /** The advertised prefixes (current and deprecated), persisted. */
  private readonly lan: LanPrefixes;
  /** The control plane's own counters, by their status names. */
  private readonly counters: Record<string, number> = {};
  private stopped = false;

  private readonly health: HealthMonitor;
  private readonly addressing: LanAddressing;
  private readonly routes: TunRoutes | null;
  private readonly netifd: NetifdPublisher | null;
  private readonly guard: KernelGuard | null;
  private ra: LanRa | null = null;
  private gro: WanGroWatch | null = null;
  private statusServer: StatusServer | null = null;

  constructor(deps: CpeControlDeps, runner: CommandRunner, useUbus: boolean) {
    const cfg = deps.config;
    const log = deps.log;
    const clock = deps.clock ?? systemClock;
    this.deps = deps;
    this.cfg = cfg;
    this.log = log;
    this.clock = clock;
    this.runner = runner;
    this.startedMs = clock.now();
    this.intervals = clampAdvIntervals(cfg.raMinInterval, cfg.raMaxInterval);
    this.lifetimes = capPrefixLifetimes(cfg.raPreferredLifetime, cfg.raValidLifetime);
    this.lan = LanPrefixes.load(cfg.stateFile, clock.now(), log);

    this.inputs = new CpeInputs({
      config: cfg,
      clock,
      runner,
      log,
      useUbus,
      ...(deps.dhcpLeaseFile !== undefined ? { dhcpLeaseFile: deps.dhcpLeaseFile } : {}),
      count: (name) => this.count(name),
      onChange: (why) => this.recompute(why),
    });
    this.current = {
      state: cfg.enabled ? "starting" : "disabled",
      reason: null,
      decision: decide(cfg, this.inputs.wan, null),
      forwarding: null,
    };

    this.health = new HealthMonitor({
      intervalS: cfg.healthInterval,
      failures: cfg.healthFailures,
      clock,
      prober: deps.prober,
      formatTarget: (t) => formatIpv6(t),
      ready: () => this.addressing.settled(),
      onChange: (up, s) => {
        log.info(
          up
            ? `tunnel health up: ${s.target} answers again; default route restored`
            : `tunnel health down: ${s.consecutiveFailures} probes to ${s.target} failed; router lifetime 0 (RFC 7084 L-4)`,
        );
        this.ra?.sender.changed();
        void this.publishNetifd();
      },
    });
    this.addressing = new LanAddressing({
      tunName: deps.tunName ?? null,
      tunMtu: deps.tunMtu ?? null,
      lanDevice: (deps.manageLanAddress ?? cfg.ra === "builtin") ? cfg.lanDevice : null,
      runner,
      log,
    });
    this.routes =
      deps.tunName && deps.tunRoutes && deps.tunRoutes.length > 0
        ? new TunRoutes({
            tunName: deps.tunName,
            prefixes: deps.tunRoutes,
            runner,
            clock,
            log,
            onChange: () => {
              if (this.stopped) return;
              this.ra?.sender.changed();
              void this.publishNetifd();
            },
          })
        : null;
    this.netifd =
      cfg.ra === "netifd"
        ? new NetifdPublisher({
            hook: cfg.netifdHook,
            tunName: deps.tunName ?? cfg.tunName,
            lifetimes: this.lifetimes,
            runner,
            log,
          })
        : null;
    const lanManaged = (deps.manageLanAddress ?? cfg.ra === "builtin") && cfg.lanDevice !== "";
    this.guard = deps.tunName
      ? new KernelGuard({
          devices: lanManaged ? [deps.tunName, cfg.lanDevice] : [deps.tunName],
          runner,
          clock,
          log: (level, m) => log[level](m),
          restore: (kinds) => this.restoreKernelState(kinds),
        })
      : null;
  }

  async start(): Promise<void> {
    const { cfg, deps, log } = this;
    if (cfg.ra === "builtin" && cfg.enabled) {
      this.ra = await LanRa.open({
        config: cfg,
        clock: this.clock,
        random: deps.random ?? Math.random,
        intervals: this.intervals,
        lifetimes: this.lifetimes,
        log,
        runner: this.runner,
        prefixes: this.lan,
        openNdSocket: deps.openNdSocket,
        view: {
          state: () => this.current.state,
          plan: () => this.current.decision.plan,
          healthy: () => this.tunnelUsable(),
        },
      });
    } else if (cfg.ra !== "builtin") {
      log.info(`router advertisements: ${cfg.ra} (built-in sender off)`);
    }
    try {
      await this.inputs.start();
      this.recompute("start");
      // The data plane may forward once this resolves: the TUN has its address by then.
      await this.addressing.settled();
      await this.routes?.settled();
      await deps.daemon?.settled?.();
      if (deps.statusSocket ?? true) {
        this.statusServer = await startStatusServer(cfg.statusSocket, {
          snapshot: () => this.snapshot(),
          command: (c) => {
            if (c === "resolve" && deps.wanSend !== undefined) return deps.wanSend.resolve();
            if (c === "reload") {
              this.inputs.reload();
              deps.wanSend?.resolve();
              // The GRO count too: what the periodic check would find, now.
              this.gro?.checkNow();
              return { ok: true };
            }
            return undefined;
          },
        });
      }
      this.health.start();
      this.guard?.start();
      this.ra?.sender.start();
      this.gro = watchWanGro({
        clock: this.clock,
        log,
        mode: cfg.wanGro,
        ...(deps.netdevFeatures !== undefined ? { features: deps.netdevFeatures } : {}),
        ...(deps.lowerDevices !== undefined ? { lowerDevices: deps.lowerDevices } : {}),
        unusable: () =>
          deps.daemon?.groUnusable?.() ?? deps.daemon?.counters().offload?.wan_gro_unusable ?? 0,
        wanDevice: () => this.inputs.wan.device ?? cfg.wanInterface,
        linkDevice: () => this.inputs.wan.linkDevice,
      });
    } catch (e) {
      this.guard?.stop();
      this.inputs.stop();
      await this.routes?.stop();
      this.health.stop();
      this.ra?.abort();
      await this.statusServer?.close();
      throw e;
    }
    log.info(
      `control plane up: state ${this.reported().state}, ra ${cfg.ra} on ${cfg.lanDevice}, health every ${cfg.healthInterval} s ` +
        `(withdraw after ${cfg.healthFailures}), status ${deps.statusSocket === false ? "off" : cfg.statusSocket}`,
    );
  }

  snapshot(): StatusSnapshot {
    const now = this.clock.now();
    return cpeStatus({
      config: this.cfg,
      version: this.deps.version,
      pid: process.pid,
      startedMs: this.startedMs,
      nowMs: now,
      ...this.reported(),
      wan: this.inputs.wan,
      lease: this.inputs.lease,
      leaseUpdatedMs: this.inputs.leaseUpdatedMs,
      decision: this.current.decision,
      health: this.health.snapshot(),
      ra: this.ra?.sender ?? null,
      routerLifetimeS: this.lan.routerLifetimeS,
      advertised: this.lan.prefixes.advertised(now),
      notAdvertised: this.lan.notAdvertised,
      counters: this.counters,
      dataplane: this.deps.daemon?.counters(),
      groTurnedOff: this.gro?.timesTurnedOff() ?? 0,
      tunRoutes: this.routes?.status() ?? [],
      ...(this.deps.dataplaneMode ? { dataplaneMode: this.deps.dataplaneMode() } : {}),
      ...(this.deps.wanSend
        ? {
            wanSend: { status: this.deps.wanSend.status(), counters: this.deps.wanSend.counters() },
          }
        : {}),
    });
  }

  /**
   * The state as status shows it: `running` only once the routes into the TUN hold; until then
   * `starting`, naming the missing route and its error.
   */
  private reported(): { state: DaemonState; stateReason: string | null } {
    const { state, reason } = this.current;
    const missing = state === "running" ? (this.routes?.missing() ?? []) : [];
    if (missing.length === 0) return { state, stateReason: reason };
    const dev = this.deps.tunName ?? this.cfg.tunName;
    return {
      state: "starting",
      stateReason: missing
        .map(
          (r) =>
            `route ${r.prefix} dev ${dev} missing: ${r.error ?? "not installed yet"}; retrying`,
        )
        .join("; "),
    };
  }

  /** The tunnel carries traffic: health probe answered and the routes into the TUN in place. */
  private tunnelUsable(): boolean {
    return this.health.isUp() && (this.routes?.missing().length ?? 0) === 0;
  }

  forwardingState(): CpeForwardingState | null {
    return this.current.forwarding;
  }

  refresh(): Promise<void> {
    return this.inputs.refresh();
  }

  async stop(): Promise<void> {
    if (this.stopped) return;
    // Every step runs even when one fails (logged): a failure must not leave the socket, the
    // LAN address or unsaved state behind.
    const step = async (what: string, fn: () => unknown): Promise<void> => {
      try {
        await fn();
      } catch (e) {
        this.log.warn(`stop: ${what} failed: ${(e as Error).message}`);
      }
    };
    // Our own withdrawals below must not be taken for removals from outside.
    this.guard?.stop();
    await step("final router advertisement", () => this.ra?.stop()); // uses the state as it is
    this.stopped = true;
    await step("netifd", () => this.publishNetifd(true));
    // The LAN router address we added goes with us (the final RA deprecated its prefix); the
    // TUN's goes with the TUN (cli/cpe.ts closes it).
    await step("addresses", () => {
      this.addressing.apply(null);
      return this.addressing.settled();
    });
    await step("routes", () => this.routes?.stop());
    await step("inputs", () => this.inputs.stop());
    await step("health", () => this.health.stop());
    await step("gro", () => this.gro?.stop());
    await step("nd socket", () => this.ra?.close());
    await step("state file", () => this.lan.save());
    await step("status socket", () => this.statusServer?.close());
    this.log.info("control plane stopped");
  }

  abandon(): void {
    this.lan.saveForExit();
    this.statusServer?.removeFile();
  }

  /**
   * kernel-guard.ts saw something removed: the TUN set up again (only while the data plane
   * forwards; the routes need it), then the addresses and routes the control plane keeps put back
   * where missing. One log line and one `kernel_restores` count per thing restored; returns what
   * is still missing.
   */
  private async restoreKernelState(kinds: ReadonlySet<LossKind>): Promise<string[]> {
    const tun = this.deps.tunName;
    if (this.stopped || !tun) return [];
    const restored: string[] = [];
    const missing: string[] = [];
    if (kinds.has("link") && this.current.forwarding?.enabled === true) {
      const up = await this.linkUp(tun);
      if (up === false) {
        const r = await this.runner.run(["ip", "link", "set", "dev", tun, "up"], 5000);
        if (r.code === 0 && (await this.linkUp(tun)) === true) restored.push(`link ${tun} up`);
        else
          missing.push(`link ${tun} up: ${(r.stderr ?? "").trim() || `ip exited with ${r.code}`}`);
      }
    }
    const a = await this.addressing.reassert();
    const rt = (await this.routes?.reassert()) ?? { restored: [], missing: [] };
    restored.push(...a.restored, ...rt.restored);
    missing.push(...a.missing, ...rt.missing);
    for (const what of restored) {
      this.count("kernel_restores");
      this.log.warn(`restored ${what}: removed from outside the daemon`);
    }
    return this.stopped ? [] : missing;
  }

  /** Whether `dev` is administratively up; null when `ip` cannot tell. */
  private async linkUp(dev: string): Promise<boolean | null> {
    const r = await this.runner.run(["ip", "-j", "link", "show", "dev", dev], 5000);
    if (r.code !== 0) return null;
    try {
      const links = JSON.parse(r.stdout) as Array<{ flags?: string[] }>;
      return links[0]?.flags?.includes("UP") ?? null;
    } catch {
      return null;
    }
  }

  private count(name: string): void {
    this.counters[name] = (this.counters[name] ?? 0) + 1;
  }

  /** Steps 1-5 of the file comment, after an input changed. */
  private recompute(why: string): void {
    if (this.stopped) return;
    const { current: cur, log } = this;
    const d = decide(this.cfg, this.inputs.wan, this.inputs.lease);
    if (d.state !== cur.state || d.reason !== cur.reason) {
      const line =
        `state ${cur.state} -> ${d.state}` + (d.reason ? `: ${d.reason}` : "") + ` (${why})`;
      if (d.state === "refused") log.error(line);
      else log.info(line);
    }
    cur.state = d.state;
    cur.reason = d.reason;
    cur.decision = d;
    cur.forwarding = d.forwarding;
    this.deps.daemon?.setForwardingState(d.forwarding);
    this.deps.wanSend?.setTarget(d.forwarding.enabled ? d.forwarding.relayIpv4 : 0);
    // The routes into the TUN exist only while the data plane forwards (no blackhole).
    this.routes?.want(d.forwarding.enabled);
    const plan = d.plan;
    const change = this.lan.setCurrent(
      plan ? plan.lanPrefix : null,
      this.lifetimes,
      this.clock.now(),
    );
    if (change.changed) this.count("lan_prefix_changes");
    this.addressing.apply(plan);
    this.lan.notAdvertised = plan ? null : `no prefix advertised: ${d.reason ?? d.state}`;
    if (!plan && change.changed) log.warn(`prefix none advertised: ${d.reason ?? d.state}`);
    this.lan.save();
    this.health.setTarget(plan ? plan.healthTarget : null);
    this.ra?.sender.changed();
    void this.publishNetifd();
  }

  /** ra netifd: the plan's prefix while the tunnel is up, else (and at stop) withdrawn. */
  private publishNetifd(final = false): Promise<void> {
    if (this.netifd === null) return Promise.resolve();
    const plan = this.current.decision.plan;
    const publish = !final && !this.stopped && plan !== null && this.tunnelUsable();
    return this.netifd.publish(publish ? plan : null);
  }
}

async function hasUbus(runner: CommandRunner): Promise<boolean> {
  try {
    readFileSync("/etc/openwrt_release");
  } catch {
    return false;
  }
  return (await runner.run(["ubus", "list", "network.interface"], 2000)).code === 0;
}
