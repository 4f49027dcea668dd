/**
 * The built-in router advertisements on the LAN (`ra builtin`): the ND socket, the RA sender
 * (ra-sender.ts timing), Router Solicitations (rs-receiver.ts) and what each RA says, from the
 * current decision, the advertised prefixes and the tunnel's health:
 *   - router lifetime 0 while the tunnel is down or no prefix is current (RFC 7084 L-4), and in
 *     the final RA (RFC 4861 §6.2.5), which also deprecates the current prefix;
 *   - PIOs: the current /64, then the deprecated ones (RFC 9096 §3.5);
 *   - MTU option = tunnel MTU; RIO for the site's 6to4 /48 in plain mode (RFC 7084 L-3);
 *     RDNSS/DNSSL (RFC 8106).
 * Nothing is sent while 6to4 does not run and no prefix is left to deprecate (RFC 6343 §4.1).
 */
import { readFileSync } from "node:fs";
import { sixToFourPrefix } from "../addr/sixto4.js";
import { ND_NEIGHBOR_SOLICIT, ND_ROUTER_SOLICIT } from "../codec/constants.js";
import type { CpeConfig } from "../config/parse.js";
import type { IcmpV6Socket } from "../io/ports.js";
import type { Logger } from "../log/logger.js";
import type { DaemonState } from "../status/snapshot.js";
import type { Clock } from "./clock.js";
import type { Plan } from "./decide.js";
import type { LanPrefixes } from "./lan-prefixes.js";
import { RaSender, type RaKind } from "./ra-sender.js";
import {
  calcDnsLifetime,
  calcRouterLifetime,
  type AdvIntervals,
  type PrefixLifetimes,
  type RandomSource,
} from "./ra-timing.js";
import { encodeRouterAdvertisement } from "./router-advert.js";
import { receiveRouterSolicitations } from "./rs-receiver.js";
import type { CommandRunner } from "./wan-watcher.js";

/** What an RA is built from, read when it is built. */
interface LanRaView {
  state(): DaemonState;
  plan(): Plan | null;
  healthy(): boolean;
}

interface LanRaOptions {
  readonly config: CpeConfig;
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly intervals: AdvIntervals;
  readonly lifetimes: PrefixLifetimes;
  readonly log: Logger;
  readonly runner: CommandRunner;
  readonly prefixes: LanPrefixes;
  readonly view: LanRaView;
  /** Opens the LAN's ND socket (io/linux.ts openIcmpV6, through cpe-control's deps). */
  readonly openNdSocket: (device: string, passTypes: number[]) => IcmpV6Socket;
}

export class LanRa {
  readonly sender: RaSender;
  private readonly o: LanRaOptions;
  private readonly socket: IcmpV6Socket;
  private readonly lanMac: Uint8Array | null;

  private constructor(o: LanRaOptions, socket: IcmpV6Socket, lanMac: Uint8Array | null) {
    this.o = o;
    this.socket = socket;
    this.lanMac = lanMac;
    this.sender = new RaSender({
      clock: o.clock,
      random: o.random,
      intervals: o.intervals,
      socket,
      build: (kind) => this.build(kind),
      log: (level, m) => o.log[level](m),
    });
    receiveRouterSolicitations(socket, this.sender, o.config.lanDevice, o.log);
  }

  /** Reads the LAN MAC (for the SLLA option) and opens the ND socket; sends nothing yet. */
  static async open(o: LanRaOptions): Promise<LanRa> {
    const device = o.config.lanDevice;
    const mac = await readMac(o.runner, device);
    return new LanRa(o, o.openNdSocket(device, [ND_ROUTER_SOLICIT, ND_NEIGHBOR_SOLICIT]), mac);
  }

  /** Sends the final RA (RFC 4861 §6.2.5) and stops the sender; the socket stays open. */
  stop(): void {
    this.sender.stop();
  }

  /** Stops without a final RA and closes the socket (start-up failed). */
  abort(): void {
    this.sender.abort();
    this.socket.close();
  }

  close(): void {
    this.socket.close();
  }

  private build(kind: RaKind): Uint8Array | null {
    const { config: cfg, clock, intervals, lifetimes, log, prefixes: lan, view } = this.o;
    const now = clock.now();
    const final = kind === "final";
    if (final) lan.prefixes.deprecateCurrent(now);
    const advertised = lan.prefixes.advertised(now);
    lan.save();
    if (view.state() !== "running" && advertised.length === 0) return null;
    const plan = view.plan();
    const healthy = view.healthy();
    const routerLifetimeS = calcRouterLifetime({
      configuredS: cfg.raRouterLifetime,
      intervals,
      hasPrefix: plan !== null && lan.prefixes.currentPrefix() !== null,
      healthy,
      stopping: final,
    });
    if (routerLifetimeS !== lan.routerLifetimeS) {
      log.info(
        `router lifetime ${lan.routerLifetimeS} -> ${routerLifetimeS} s` +
          (routerLifetimeS === 0
            ? final
              ? " (final RA, RFC 4861 §6.2.5)"
              : !healthy
                ? " (tunnel down, RFC 7084 L-4)"
                : " (no prefix, RFC 7084 L-4)"
            : ""),
      );
      lan.routerLifetimeS = routerLifetimeS;
    }
    const { bytes, skipped } = encodeRouterAdvertisement({
      lanMac: this.lanMac,
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
      if (lan.notAdvertised !== s) log.warn(s);
      lan.notAdvertised = s;
    }
    return bytes;
  }
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
