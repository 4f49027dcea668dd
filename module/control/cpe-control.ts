/**
 * The CPE control plane: learns the WAN address (wan-watcher), takes the relay and provider prefix
 * from DHCPv4 option 212 (dhcp-6rd) unless the config sets them, decides whether 6to4 may run
 * (wan-policy), builds the data plane's ForwardingState and swaps it in with one assignment
 * (STYLE example 3), advertises the LAN prefix (ra-sender + router-advert, prefix-state), watches
 * the tunnel (health) and answers `6to4-pmt status` (status/server).
 *
 * Flow on every input change (WAN address/MTU, DHCP lease, health):
 *   1. Effective values: config (json/flag) > DHCP option 212 > defaults; sources kept for status.
 *   2. No WAN address -> state no-wan; unusable address (RFC 6343 §4.1) -> state refused; either
 *      way the data plane is disabled and the current prefix becomes stale (deprecated in RAs).
 *   3. Otherwise derive the LAN /64: translated provider /64 (PMT, RFC 6732 §3.3) or
 *      2002:V4ADDR:SLA::/64 (RFC 3056 §2); new ForwardingState -> daemon; TUN and LAN addresses
 *      re-programmed; the old prefix is deprecated for its last valid lifetime (RFC 9096 §3.5),
 *      persisted in the state file; one log line naming old and new.
 *   4. RAs: router lifetime 0 while the tunnel is down or nothing is advertised (RFC 7084 L-4).
 * `stop()`: final RA (router lifetime 0, prefixes deprecated, RFC 4861 §6.2.5), state saved, and
 * every timer, socket, file watcher and child process released.
 */
import { readFileSync } from "node:fs";
import { classifyIpv4 } from "../addr/classify.js";
import { formatIpv4, type Ipv4Prefix } from "../addr/ipv4.js";
import { formatIpv6, formatIpv6Prefix, type Ipv6Prefix } from "../addr/ipv6.js";
import { createPmtMapping, type PmtMapping } from "../addr/pmt-mapping.js";
import { sixToFourLan64, sixToFourPrefix, sixToFourRouterAddress } from "../addr/sixto4.js";
import { ND_NEIGHBOR_SOLICIT, ND_ROUTER_SOLICIT } from "../codec/constants.js";
import type { CpeConfig } from "../config/parse.js";
import type { Logger } from "../log/logger.js";
import type { CountersSnapshot } from "../dataplane/counters.js";
import {
  createCpeForwardingState,
  type CpeForwardingState,
} from "../dataplane/forwarding-state.js";
import type { IcmpV6Socket } from "../io/ports.js";
import { createIcmpv6RxRing } from "../io/ring.js";
import type { DaemonState, StatusSnapshot, ValueSource } from "../status/snapshot.js";
import { formatIsoUtc, isoOrNull } from "../status/snapshot.js";
import { startStatusServer, type StatusServer } from "../status/server.js";
import { systemClock, type Clock } from "./clock.js";
import { watchGroUnusable, type GroWatch } from "./gro-watch.js";
import { groChain, WanGroFeatures, type FeatureAccess, type LowerDevices } from "./wan-gro.js";
import { DhcpLeaseWatcher, DHCP_LEASE_FILE_DEFAULT, sixRdKey, type DhcpLease } from "./dhcp-6rd.js";
import { HealthMonitor, type EchoProber } from "./health.js";
import { PrefixState } from "./prefix-state.js";
import { RaSender, type RaKind } from "./ra-sender.js";
import {
  calcDnsLifetime,
  calcRouterLifetime,
  capPrefixLifetimes,
  clampAdvIntervals,
  type RandomSource,
} from "./ra-timing.js";
import { encodeRouterAdvertisement, validateRouterSolicitation } from "./router-advert.js";
import { readStateFile, writeStateFileAtomic } from "./state-file.js";
import { checkWanIpv4 } from "./wan-policy.js";
import {
  createCommandRunner,
  WanWatcher,
  type CommandRunner,
  type WanInfo,
} from "./wan-watcher.js";

/** RFC 3068 §2.3 anycast 192.88.99.1. */
const RELAY_ANYCAST_IPV4 = 0xc0586301;
/** RS/NS receive ring: a few messages of up to an Ethernet MTU. */
const ND_RX_RING_COUNT = 8;
const ND_RX_BUFFER_BYTES = 1500;

/** The part of the data plane the control plane drives (dataplane/cpe-daemon.ts CpeDaemon). */
export interface ForwardingSink {
  setForwardingState(state: CpeForwardingState): void;
  counters(): CountersSnapshot;
}

export interface CpeControlDeps {
  readonly config: CpeConfig;
  readonly log: Logger;
  readonly version: string;
  /** The data plane; null runs the control plane alone (RA sender tests, `ra` only set-ups). */
  readonly daemon: ForwardingSink | null;
  /** TUN device name whose router address is re-programmed on a WAN change; null = leave it. */
  readonly tunName?: string | null;
  /** Router address the TUN got at start (cli/cpe.ts), so a change removes the right one. */
  readonly initialTunAddress?: Uint8Array | null;
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
}

export interface CpeControl {
  snapshot(): StatusSnapshot;
  /** The forwarding state last handed to the data plane (null before the WAN is known). */
  forwardingState(): CpeForwardingState | null;
  /** Re-reads WAN and DHCP state now. */
  refresh(): Promise<void>;
  /** Final RA, state saved, everything released. Safe twice. */
  stop(): Promise<void>;
}

interface Effective {
  providerPrefix: Ipv6Prefix | null;
  providerSource: ValueSource;
  ipv4PrefixLen: number;
  ipv4PrefixLenSource: ValueSource;
  relays: readonly number[];
  relaysSource: ValueSource;
}

interface Plan {
  wanIpv4: number;
  mapping: PmtMapping | null;
  lanPrefix: Ipv6Prefix;
  routerAddress: Uint8Array;
  lanRouterAddress: Uint8Array;
  tunnelMtu: number;
  relayIpv4: number;
}

const isExplicit = (cfg: CpeConfig, name: string): boolean =>
  (cfg.sources[name] ?? "default") !== "default";

/** Starts the control plane; resolves once the WAN state is known and the first RA is scheduled. */
export async function startCpeControl(deps: CpeControlDeps): Promise<CpeControl> {
  const cfg = deps.config;
  const log = deps.log;
  const clock = deps.clock ?? systemClock;
  const random = deps.random ?? Math.random;
  const runner = deps.runner ?? createCommandRunner();
  const startedMs = clock.now();
  const intervals = clampAdvIntervals(cfg.raMinInterval, cfg.raMaxInterval);
  const lifetimes = capPrefixLifetimes(cfg.raPreferredLifetime, cfg.raValidLifetime);
  const counters: Record<string, number> = {};
  let stopped = false;

  // ---- persisted prefixes (RFC 9096 §3.5) ----
  let persisted: unknown = null;
  try {
    persisted = (readStateFile(cfg.stateFile) as { prefixes?: unknown } | null)?.prefixes ?? null;
  } catch (e) {
    log.warn(`state file ${cfg.stateFile} unreadable, starting empty: ${(e as Error).message}`);
  }
  const restored = PrefixState.restore(persisted, clock.now());
  const prefixes = restored.state;
  if (restored.skipped > 0) {
    log.warn(`state file ${cfg.stateFile}: ${restored.skipped} bad prefix record(s) ignored`);
  }
  for (const p of prefixes.advertised(clock.now())) {
    log.info(
      `prefix ${p.text} from state file: deprecated until ${isoOrNull(p.deprecateUntilMs ?? null)}`,
    );
  }
  const saveState = (): void => {
    if (!prefixes.dirty) return;
    try {
      writeStateFileAtomic(cfg.stateFile, { version: 1, prefixes: prefixes.toJSON() });
      prefixes.dirty = false;
    } catch (e) {
      log.warn(`state file ${cfg.stateFile} not written: ${(e as Error).message}`);
    }
  };

  // ---- state ----
  let wan: WanInfo = {
    ipv4: null,
    mtu: 1500,
    device: cfg.wanDevice,
    ipv4Source: "none",
    mtuSource: "default",
  };
  let lease: DhcpLease | null = null;
  let leaseUpdatedMs: number | null = null;
  let state: DaemonState = cfg.enabled ? "starting" : "disabled";
  let stateReason: string | null = null;
  let plan: Plan | null = null;
  let current: CpeForwardingState | null = null;
  let effective: Effective = computeEffective();
  let notAdvertised: string | null = null;
  let tunAddress: Uint8Array | null = deps.initialTunAddress ?? null;
  let lanAddress: Uint8Array | null = null;
  let lanMac: Uint8Array | null = null;
  let lastRouterLifetime = 0;
  const manageLan = deps.manageLanAddress ?? cfg.ra === "builtin";

  function computeEffective(): Effective {
    const sixrd = cfg.useDhcp6rd ? (lease?.sixrd ?? null) : null;
    const e: Effective = {
      providerPrefix: cfg.providerPrefix,
      providerSource: cfg.providerPrefix ? "config" : "none",
      ipv4PrefixLen: cfg.ipv4PrefixLen,
      ipv4PrefixLenSource: isExplicit(cfg, "ipv4_prefix_len") ? "config" : "default",
      relays: cfg.relay,
      relaysSource: isExplicit(cfg, "relay") ? "config" : "default",
    };
    if (sixrd) {
      if (!isExplicit(cfg, "provider_prefix")) {
        e.providerPrefix = sixrd.prefix;
        e.providerSource = "dhcp";
      }
      if (!isExplicit(cfg, "ipv4_prefix_len")) {
        e.ipv4PrefixLen = sixrd.ipv4MaskLen;
        e.ipv4PrefixLenSource = "dhcp";
      }
      if (!isExplicit(cfg, "relay")) {
        e.relays = sixrd.relays;
        e.relaysSource = "dhcp";
      }
    }
    return e;
  }

  const bump = (name: string): void => {
    counters[name] = (counters[name] ?? 0) + 1;
  };

  /** Steps 1-3 of the file comment, after any input changed. */
  function recompute(why: string): void {
    if (stopped) return;
    const prevPrefix = prefixes.currentPrefix();
    const prevState = state;
    const prevReason = stateReason;
    effective = computeEffective();
    let next: Plan | null = null;
    if (!cfg.enabled) {
      state = "disabled";
      stateReason = "enabled = 0 (RFC 7526 §5)";
    } else if (wan.ipv4 === null) {
      state = "no-wan";
      stateReason = `no IPv4 address on WAN ${wan.device ?? cfg.wanInterface}`;
    } else {
      const verdict = checkWanIpv4(wan.ipv4, {
        hasProviderPrefix: effective.providerPrefix !== null,
        relayExplicit: effective.relaysSource !== "default",
        allowIpv4: cfg.allowIpv4 as Ipv4Prefix[],
      });
      if (!verdict.usable) {
        state = "refused";
        stateReason = verdict.reason;
      } else {
        const r = derivePlan(wan.ipv4);
        if (typeof r === "string") {
          state = "refused";
          stateReason = r;
        } else {
          next = r;
          state = "running";
          stateReason = null;
        }
      }
    }
    if (state !== prevState || stateReason !== prevReason) {
      const line =
        `state ${prevState} -> ${state}` + (stateReason ? `: ${stateReason}` : "") + ` (${why})`;
      if (state === "refused") log.error(line);
      else log.info(line);
    }
    const prevMtu = plan?.tunnelMtu ?? null;
    plan = next;
    applyForwarding(next);
    if (next && prevMtu !== null && next.tunnelMtu !== prevMtu && deps.tunName) {
      // RFC 4213 §3.2: the tunnel MTU follows the WAN MTU; the RA MTU option follows too.
      log.info(`tunnel mtu ${prevMtu} -> ${next.tunnelMtu}`);
      const tun = deps.tunName;
      const mtu = String(next.tunnelMtu);
      addrQueue = addrQueue.then(async () => {
        const r = await runner.run(["ip", "link", "set", "dev", tun, "mtu", mtu], 5000);
        if (r.code !== 0) log.warn(`tunnel ${tun} mtu ${mtu} not set: ip exited with ${r.code}`);
      });
    }
    const change = prefixes.setCurrent(next ? next.lanPrefix : null, lifetimes, clock.now());
    if (change.changed) {
      bump("lan_prefix_changes");
      log.info(
        `lan prefix ${change.previous ?? "none"} -> ${change.current ?? "none"}` +
          (change.previous ? ` (old one deprecated for ${lifetimes.validS} s, RFC 9096 §3.5)` : ""),
      );
      queueReprogram(next);
    } else if (
      next &&
      prevPrefix !== null &&
      tunAddress &&
      !equal(tunAddress, next.routerAddress)
    ) {
      queueReprogram(next);
    }
    notAdvertised = next ? null : `no prefix advertised: ${stateReason ?? state}`;
    if (!next && change.changed) log.warn(`prefix none advertised: ${stateReason ?? state}`);
    saveState();
    health.setTarget(next ? healthTarget(next) : null);
    if (ra) ra.changed();
    publishNetifd();
  }

  // ra netifd (OpenWrt): the LAN prefix goes to netifd through cfg.netifdHook, and odhcpd
  // advertises it (openwrt-package/6to4-pmt/files/netifd-prefix). Withdrawn while the tunnel is
  // down (RFC 7084 L-4) and on stop. Added by the OPENWRT helper.
  let netifdSent = "";
  function publishNetifd(final = false): Promise<unknown> {
    if (cfg.ra !== "netifd") return Promise.resolve();
    const p = !final && plan !== null && health.isUp() ? plan : null;
    const argv = p
      ? [
          cfg.netifdHook,
          "update",
          deps.tunName ?? cfg.tunName,
          formatIpv6Prefix(p.lanPrefix),
        ].concat([String(lifetimes.preferredS), String(lifetimes.validS), String(p.tunnelMtu)])
      : [cfg.netifdHook, "withdraw", deps.tunName ?? cfg.tunName];
    if (argv.join(" ") === netifdSent) return Promise.resolve();
    netifdSent = argv.join(" ");
    return runner.run(argv, 5000).then((r) => {
      if (r.code !== 0) log.warn(`netifd hook ${argv.join(" ")} failed: exit ${r.code}`);
    });
  }

  function derivePlan(v4: number): Plan | string {
    let mapping: PmtMapping | null = null;
    let lan64: Uint8Array;
    if (effective.providerPrefix) {
      try {
        mapping = createPmtMapping({
          providerPrefix: effective.providerPrefix,
          ipv4PrefixLen: effective.ipv4PrefixLen,
          ipv4CommonPrefix: v4,
          sla: cfg.sla,
        });
      } catch (e) {
        return `provider prefix ${formatIpv6Prefix(effective.providerPrefix)} (${effective.providerSource}) unusable: ${(e as Error).message}`;
      }
      const t = mapping.translatedLan64(v4);
      if (!t) return `WAN address ${formatIpv4(v4)} is outside the mapping's IPv4 common prefix`;
      lan64 = Uint8Array.from(t);
    } else {
      lan64 = sixToFourLan64(v4, cfg.sla);
    }
    const lanRouterAddress = Uint8Array.from(lan64);
    lanRouterAddress[15] = 1;
    const routerAddress = mapping ? lanRouterAddress : sixToFourRouterAddress(v4);
    const tunnelMtu = cfg.tunnelMtu ?? Math.max(1280, (wan.mtu ?? 1500) - 20);
    const relayIpv4 = effective.relays[0] ?? RELAY_ANYCAST_IPV4;
    return {
      wanIpv4: v4,
      mapping,
      lanPrefix: { addr: lan64, len: 64 },
      routerAddress,
      lanRouterAddress,
      tunnelMtu,
      relayIpv4,
    };
  }

  function applyForwarding(p: Plan | null): void {
    const s = p
      ? createCpeForwardingState({
          enabled: true,
          ownIpv4: p.wanIpv4,
          relays: effective.relays,
          relayIpv4: p.relayIpv4,
          tunnelMtu: p.tunnelMtu,
          direct6to4: cfg.direct6to4,
          mapping: p.mapping,
          allowIpv4: cfg.allowIpv4,
          icmpSource: p.routerAddress,
        })
      : createCpeForwardingState({ enabled: false, ownIpv4: 0 });
    current = s;
    deps.daemon?.setForwardingState(s);
  }

  function healthTarget(p: Plan): Uint8Array {
    // RFC 6343 §4.4 item 4: relays answer echo to 2002:V4RELAY:: (2002:c058:6301:: for anycast).
    return cfg.healthTarget ?? sixToFourPrefix(p.relayIpv4);
  }

  /** Moves the TUN router address and the LAN router address to the new prefix. */
  let addrQueue: Promise<void> = Promise.resolve();
  /** Address changes run one after another (a burst of WAN events must not interleave `ip`s). */
  function queueReprogram(p: Plan | null): void {
    addrQueue = addrQueue.then(() => reprogramAddresses(p));
  }

  async function reprogramAddresses(p: Plan | null): Promise<void> {
    const ip = async (args: string[]) => {
      let r = await runner.run(["ip", ...args], 5000);
      // busybox `ip` (OpenWrt without ip-full) does not know "nodad": retry without it.
      if (r.code !== 0 && args.at(-1) === "nodad")
        r = await runner.run(["ip", ...args.slice(0, -1)], 5000);
      if (r.code !== 0) log.warn(`ip ${args.join(" ")} failed with exit ${r.code}`);
      return r;
    };
    if (deps.tunName && p && (!tunAddress || !equal(tunAddress, p.routerAddress))) {
      const old = tunAddress;
      tunAddress = p.routerAddress;
      await ip([
        "-6",
        "addr",
        "replace",
        `${formatIpv6(p.routerAddress)}/128`,
        "dev",
        deps.tunName,
        "nodad",
      ]);
      if (old) await ip(["-6", "addr", "del", `${formatIpv6(old)}/128`, "dev", deps.tunName]);
    }
    if (manageLan) {
      const old = lanAddress;
      const nextAddr = p ? p.lanRouterAddress : null;
      if (nextAddr && (!old || !equal(old, nextAddr))) {
        await ip([
          "-6",
          "addr",
          "replace",
          `${formatIpv6(nextAddr)}/64`,
          "dev",
          cfg.lanDevice,
          "nodad",
        ]);
      }
      if (old && (!nextAddr || !equal(old, nextAddr))) {
        await ip(["-6", "addr", "del", `${formatIpv6(old)}/64`, "dev", cfg.lanDevice]);
      }
      lanAddress = nextAddr;
    }
  }

  // ---- RA content ----
  function buildRa(kind: RaKind): Uint8Array | null {
    const now = clock.now();
    const final = kind === "final";
    if (final) prefixes.deprecateCurrent(now);
    const advertised = prefixes.advertised(now);
    saveState();
    if (state !== "running" && advertised.length === 0) return null; // nothing to say (RFC 6343 §4.1)
    const routerLifetimeS = calcRouterLifetime({
      configuredS: cfg.raRouterLifetime,
      intervals,
      hasPrefix: plan !== null && prefixes.currentPrefix() !== null,
      healthy: health.isUp(),
      stopping: final,
    });
    if (routerLifetimeS !== lastRouterLifetime) {
      log.info(
        `router lifetime ${lastRouterLifetime} -> ${routerLifetimeS} s` +
          (routerLifetimeS === 0
            ? final
              ? " (final RA, RFC 4861 §6.2.5)"
              : !health.isUp()
                ? " (tunnel down, RFC 7084 L-4)"
                : " (no prefix, RFC 7084 L-4)"
            : ""),
      );
      lastRouterLifetime = routerLifetimeS;
    }
    const { bytes, skipped } = encodeRouterAdvertisement({
      lanMac,
      routerLifetimeS,
      preference: cfg.raPreference,
      mtu: plan ? plan.tunnelMtu : null,
      prefixes: advertised,
      // RFC 7084 L-3: a Route Information Option for the site's own 6to4 /48 (plain mode), kept
      // while the tunnel is down (it does not depend on WAN connectivity); none in PMT mode, where
      // the LAN /64 is the whole translated site.
      routes:
        plan && !plan.mapping
          ? [
              {
                prefix: { addr: sixToFourPrefix(plan.wanIpv4), len: 48 },
                lifetimeS: final ? 0 : lifetimes.validS,
                preference: cfg.raPreference,
              },
            ]
          : [],
      dns: cfg.dns,
      domains: cfg.domain,
      dnsLifetimeS: final ? 0 : calcDnsLifetime(intervals),
    });
    for (const s of skipped) {
      if (notAdvertised !== s) log.warn(s);
      notAdvertised = s;
    }
    return bytes;
  }

  // ---- components ----
  const health = new HealthMonitor({
    intervalS: cfg.healthInterval,
    failures: cfg.healthFailures,
    clock,
    prober: deps.prober,
    formatTarget: (t) => formatIpv6(t),
    onChange: (up, s) => {
      log.info(
        up
          ? `tunnel health up: ${s.target} answers again; default route restored`
          : `tunnel health down: ${s.consecutiveFailures} probes to ${s.target} failed; router lifetime 0 (RFC 7084 L-4)`,
      );
      ra?.changed();
      publishNetifd();
    },
  });

  let ndSocket: IcmpV6Socket | null = null;
  let ra: RaSender | null = null;
  if (cfg.ra === "builtin" && cfg.enabled) {
    lanMac = await readMac(runner, cfg.lanDevice);
    ndSocket = deps.openNdSocket(cfg.lanDevice, [ND_ROUTER_SOLICIT, ND_NEIGHBOR_SOLICIT]);
    const sock = ndSocket;
    ra = new RaSender({
      clock,
      random,
      intervals,
      socket: sock,
      build: buildRa,
      log: (level, m) => log[level](m),
    });
    const ring = createIcmpv6RxRing(ND_RX_RING_COUNT, ND_RX_BUFFER_BYTES);
    sock.onBatch(ring, (r, count) => {
      for (let i = 0; i < count; i++) {
        const size = r.sizes[i]!;
        const buf = r.bufs[i]!;
        if (buf[r.offset] === ND_ROUTER_SOLICIT) ra!.counters.rs_received++;
        const verdict = validateRouterSolicitation(
          buf,
          r.offset,
          size,
          r.srcs,
          16 * i,
          r.hopLimits[i]!,
        );
        if (verdict === "valid") ra!.solicited();
        else {
          ra!.counters[verdict]++;
          log.debug(`nd message from ${formatIpv6(r.srcs, 16 * i)} ignored: ${verdict}`);
        }
      }
    });
    sock.onError((err) => log.warn(`nd socket on ${cfg.lanDevice}: ${err.message}`));
  } else if (cfg.ra !== "builtin") {
    log.info(`router advertisements: ${cfg.ra} (built-in sender off)`);
  }

  const useUbus = deps.useUbus ?? (cfg.wanDevice === null && (await hasUbus(runner)));
  const wanWatcher = new WanWatcher({
    device: cfg.wanDevice,
    ubusInterface: cfg.wanInterface,
    useUbus,
    staticIpv4: cfg.wanIpv4,
    staticMtu: cfg.wanMtu,
    clock,
    runner,
    onChange: (info) => {
      const old = wan;
      wan = info;
      if (old.ipv4 !== info.ipv4) {
        bump("wan_address_changes");
        log.info(
          `wan ${info.device ?? "?"} address ${old.ipv4 === null ? "none" : formatIpv4(old.ipv4)} -> ` +
            `${info.ipv4 === null ? "none" : formatIpv4(info.ipv4)} (${info.ipv4Source})`,
        );
      }
      if (old.mtu !== info.mtu) log.info(`wan mtu ${old.mtu} -> ${info.mtu} (${info.mtuSource})`);
      recompute("wan change");
    },
    log: (level, m) => log[level](m),
  });

  const dhcp = new DhcpLeaseWatcher(deps.dhcpLeaseFile ?? DHCP_LEASE_FILE_DEFAULT, (l) => {
    const before = sixRdKey(lease?.sixrd ?? null);
    lease = l;
    leaseUpdatedMs = clock.now();
    bump("dhcp_lease_updates");
    const after = sixRdKey(l?.sixrd ?? null);
    if (l?.sixrdError) log.warn(`dhcp option 212 ignored: ${l.sixrdError}`);
    if (before !== after) {
      log.info(
        `dhcp option 212 ${before} -> ${after}` +
          (cfg.useDhcp6rd ? "" : " (ignored: use_dhcp_6rd 0)"),
      );
      recompute("dhcp option 212");
    }
  });

  let statusServer: StatusServer | null = null;

  let groWatch: GroWatch | null = null;
  const groFeatures =
    cfg.wanGro !== "keep" && deps.netdevFeatures !== undefined
      ? new WanGroFeatures(deps.netdevFeatures, log)
      : null;

  function snapshot(): StatusSnapshot {
    const now = clock.now();
    const hs = health.snapshot();
    const dp = deps.daemon?.counters();
    const allCounters: Record<string, number> = { ...counters };
    if (ra) for (const [k, v] of Object.entries(ra.counters)) allCounters[k] = v;
    if (dp) {
      for (const [k, v] of Object.entries(dp.traffic)) allCounters[k] = v;
      for (const [k, v] of Object.entries(dp.drops)) if (v !== 0) allCounters[`drop_${k}`] = v;
      for (const [k, v] of Object.entries(dp.offload ?? {})) allCounters[`tun_offload_${k}`] = v;
    }
    if (groFeatures !== null && groFeatures.timesTurnedOff > 0)
      allCounters.wan_gro_turned_off = groFeatures.timesTurnedOff;
    const advertised = prefixes.advertised(now);
    return {
      version: deps.version,
      pid: process.pid,
      started: formatIsoUtc(startedMs),
      uptimeS: Math.floor((now - startedMs) / 1000),
      state,
      stateReason,
      wan: {
        device: wan.device,
        ipv4: wan.ipv4 === null ? null : formatIpv4(wan.ipv4),
        ipv4Class: wan.ipv4 === null ? null : classifyIpv4(wan.ipv4),
        ipv4Source: wan.ipv4Source,
        mtu: wan.mtu ?? 1500,
        mtuSource: wan.mtuSource,
      },
      sixto4Prefix: wan.ipv4 === null ? null : `${formatIpv6(sixToFourPrefix(wan.ipv4))}/48`,
      lanPrefix: plan ? formatIpv6Prefix(plan.lanPrefix) : null,
      translatedPrefix: plan && plan.mapping ? formatIpv6Prefix(plan.lanPrefix) : null,
      providerPrefix: {
        value: effective.providerPrefix ? formatIpv6Prefix(effective.providerPrefix) : null,
        source: effective.providerSource,
      },
      ipv4PrefixLen: { value: effective.ipv4PrefixLen, source: effective.ipv4PrefixLenSource },
      relays: { value: effective.relays.map(formatIpv4), source: effective.relaysSource },
      relayInUse: plan ? formatIpv4(plan.relayIpv4) : null,
      tunnelMtu: plan ? plan.tunnelMtu : (cfg.tunnelMtu ?? Math.max(1280, (wan.mtu ?? 1500) - 20)),
      dhcp: {
        enabled: cfg.useDhcp6rd,
        option6rd: lease?.sixrd ? sixRdKey(lease.sixrd) : null,
        error: lease?.sixrdError ?? null,
        updated: isoOrNull(leaseUpdatedMs),
      },
      health: {
        state: hs.state,
        target: hs.target,
        intervalS: cfg.healthInterval,
        failuresToWithdraw: cfg.healthFailures,
        consecutiveFailures: hs.consecutiveFailures,
        probesSent: hs.probesSent,
        probesOk: hs.probesOk,
        lastProbe: isoOrNull(hs.lastProbeMs),
        lastOk: isoOrNull(hs.lastOkMs),
        lastChange: isoOrNull(hs.lastChangeMs),
        lastRttMs: hs.lastRttMs === null ? null : Math.round(hs.lastRttMs * 1000) / 1000,
      },
      ra: {
        mode: cfg.ra,
        device: cfg.lanDevice,
        sent: ra?.counters.ra_sent ?? 0,
        solicitedSent: ra?.counters.ra_sent_solicited ?? 0,
        lastSent: isoOrNull(ra?.lastSentMs ?? null),
        nextUnsolicited: isoOrNull(ra?.nextUnsolicitedMs ?? null),
        routerLifetimeS: lastRouterLifetime,
        preference: cfg.raPreference,
        mtu: plan ? plan.tunnelMtu : 0,
        prefixes: advertised.map((p) => ({
          prefix: p.text,
          preferredS: p.preferredS,
          validS: p.validS,
          deprecated: p.deprecated,
          deprecatedUntil: isoOrNull(p.deprecateUntilMs ?? null),
        })),
        notAdvertisedReason: notAdvertised,
      },
      counters: allCounters,
    };
  }

  // ---- start ----
  try {
    if (cfg.useDhcp6rd) dhcp.start();
    await wanWatcher.start();
    // A static wan_ipv4 never fires onChange (it is already in the watcher's first value).
    wan = wanWatcher.current();
    recompute("start");
    if (deps.statusSocket ?? true) {
      statusServer = await startStatusServer(cfg.statusSocket, {
        snapshot,
        command: (c) => {
          if (c === "reload") {
            dhcp.check(true);
            void wanWatcher.refresh();
            // The GRO count too: what the periodic check would find, now.
            groWatch?.checkNow();
            return { ok: true };
          }
          return undefined;
        },
      });
    }
    health.start();
    ra?.start();
    groWatch = watchGroUnusable(
      clock,
      () => deps.daemon?.counters().offload?.wan_gro_unusable ?? 0,
      (m) => log.warn(m),
      () => wan.device ?? cfg.wanInterface,
      groFeatures !== null
        ? {
            // The WAN device, netifd's device under it (a PPPoE WAN's Ethernet), and the real
            // device under either (a VLAN's or macvlan's): the NIC's GRO runs at the bottom.
            remedy: (dev) => {
              const why =
                cfg.wanGro === "off" ? "wan_gro 'off'" : "merged 6in4 UDP cannot be forwarded";
              const lowers = deps.lowerDevices ?? (() => []);
              const devices = [
                ...new Set([dev, wan.linkDevice ?? dev].flatMap((d) => groChain(d, lowers))),
              ];
              return devices.map((d) => groFeatures.turnOff(d, why)).every((ok) => ok);
            },
            // off: on every check, so a WAN device created anew (a PPPoE reconnect) is caught.
            always: cfg.wanGro === "off",
          }
        : undefined,
    );
  } catch (e) {
    dhcp.stop();
    wanWatcher.stop();
    health.stop();
    ra?.abort();
    ndSocket?.close();
    await statusServer?.close();
    throw e;
  }
  log.info(
    `control plane up: state ${state}, ra ${cfg.ra} on ${cfg.lanDevice}, health every ${cfg.healthInterval} s ` +
      `(withdraw after ${cfg.healthFailures}), status ${deps.statusSocket === false ? "off" : cfg.statusSocket}`,
  );

  return {
    snapshot,
    forwardingState: () => current,
    async refresh() {
      dhcp.check();
      await wanWatcher.refresh();
    },
    async stop() {
      if (stopped) return;
      ra?.stop(); // final RA (uses the state as it is)
      stopped = true;
      await publishNetifd(true);
      // The LAN router address we added goes with us (the final RA deprecated its prefix), and
      // the TUN gets back the address cli/cpe.ts gave it, which its clean-up removes.
      queueReprogram(null);
      const initial = deps.initialTunAddress ?? null;
      if (deps.tunName && initial && tunAddress && !equal(initial, tunAddress)) {
        const tun = deps.tunName;
        const mine = tunAddress;
        addrQueue = addrQueue.then(async () => {
          await runner.run(
            ["ip", "-6", "addr", "replace", `${formatIpv6(initial)}/128`, "dev", tun, "nodad"],
            5000,
          );
          await runner.run(
            ["ip", "-6", "addr", "del", `${formatIpv6(mine)}/128`, "dev", tun],
            5000,
          );
        });
        tunAddress = initial;
      }
      await addrQueue;
      dhcp.stop();
      wanWatcher.stop();
      health.stop();
      groWatch?.stop();
      groFeatures?.restore();
      ndSocket?.close();
      saveState();
      await statusServer?.close();
      log.info("control plane stopped");
    },
  };
}

function equal(a: Uint8Array, b: Uint8Array): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/**
 * The LAN device's MAC (for the SLLA option): sysfs (`ip netns exec` mounts the namespace's own),
 * else `ip -j link` (iproute2; busybox `ip` has no JSON).
 */
async function readMac(runner: CommandRunner, device: string): Promise<Uint8Array | null> {
  try {
    const text = readFileSync(`/sys/class/net/${device}/address`, "utf8").trim();
    const type = readFileSync(`/sys/class/net/${device}/type`, "utf8").trim();
    if (/^([0-9a-f]{2}:){5}[0-9a-f]{2}$/i.test(text) && type === "1") {
      return Uint8Array.from(text.split(":").map((h) => parseInt(h, 16)));
    }
  } catch {
    // No sysfs entry (device absent, or sysfs of another namespace): ask ip.
  }
  const r = await runner.run(["ip", "-j", "link", "show", "dev", device], 5000);
  try {
    const links = JSON.parse(r.stdout) as Array<{ address?: string; link_type?: string }>;
    const a = links[0]?.address;
    if (!a || links[0]?.link_type !== "ether") return null;
    return Uint8Array.from(a.split(":").map((h) => parseInt(h, 16)));
  } catch {
    return null;
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
