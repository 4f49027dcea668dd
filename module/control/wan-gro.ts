/**
 * The WAN device's GRO features that merge 6in4's inner UDP beyond repair (option `wan_gro`;
 * docs/native-addon.md, GRO on the WAN). Fraglist GRO (`rx-gro-list`, on for every device in
 * OpenWrt 24.10) and `rx-udp-gro-forwarding` merge the UDP datagrams of a flow inside protocol 41
 * from senders with DF and a fixed IPv4 ID (Linux kernel relays), and the datagrams' lengths are
 * lost: LAN hosts get nothing of them (QUIC, games, VPNs). Plain GRO, which the addon repairs for
 * TCP, stays on.
 *
 *   auto (default)  turn them off on the WAN device once merged UDP has been seen
 *   off             turn them off when the WAN device is known
 *   keep            never touch them; warn with the ethtool command instead
 *
 * Whatever was turned off is turned back on at exit, so the router is left as it was found.
 */
import type { Logger } from "../log/logger.js";
import type { Clock } from "./clock.js";
import { watchGroUnusable } from "./gro-watch.js";

/** The features that merge inner UDP (ethtool names). */
const UDP_MERGING_FEATURES: readonly string[] = Object.freeze([
  "rx-gro-list",
  "rx-udp-gro-forwarding",
]);

/** Devices below a device (io/linux.ts lowerDevices). */
export type LowerDevices = (device: string) => readonly string[];

/** How deep groChain follows (a QinQ VLAN on a VLAN on a NIC is 3). */
const GRO_CHAIN_DEPTH = 4;

/**
 * `device` and the devices its frames come in through: down the chain of single lower devices.
 * GRO runs where the driver's NAPI receives, so for a VLAN (`eth0.2`) or a macvlan WAN it is the
 * real device below that merges, whatever the WAN device's own features say. A device with
 * several lowers (a bond, a bridge) ends the chain: which member receives is not ours to know.
 * On DSA the chain reaches the conduit, which GRO does not merge on (tagged frames), so turning
 * the features off there changes nothing but is restored at exit like the rest.
 */
export function groChain(device: string, lowers: LowerDevices): string[] {
  const chain = [device];
  for (let d = device; chain.length <= GRO_CHAIN_DEPTH;) {
    const below = lowers(d);
    if (below.length !== 1 || chain.includes(below[0]!)) break;
    d = below[0]!;
    chain.push(d);
  }
  return chain;
}

/** io/linux.ts netdevFeatures, as control/ sees it. */
export type FeatureAccess = (
  device: string,
  names: readonly string[],
  want?: ReadonlyMap<string, boolean>,
) => ReadonlyMap<string, { known: boolean; active?: boolean }>;

class WanGroFeatures {
  /** device -> features we turned off there */
  private readonly changed = new Map<string, string[]>();
  /** Problems already warned about (device + what), so a rise every 5 s does not repeat them. */
  private readonly warned = new Set<string>();
  /** How many times features were turned off on a device (status counter wan_gro_turned_off). */
  timesTurnedOff = 0;

  constructor(
    private readonly access: FeatureAccess,
    private readonly log: Pick<Logger, "info" | "warn" | "debug">,
  ) {}

  /**
   * Turns off, on `device`, those of UDP_MERGING_FEATURES that are on. True when none is left on
   * (also when none was on); false, after a warning, when they could not be read or changed.
   */
  turnOff(device: string, why: string): boolean {
    const names = UDP_MERGING_FEATURES;
    let before: ReadonlyMap<string, { known: boolean; active?: boolean }>;
    try {
      before = this.access(device, names);
    } catch (e) {
      this.warnOnce(device, `cannot read its GRO features: ${(e as Error).message}`);
      return false;
    }
    const on = names.filter((n) => before.get(n)?.active === true);
    if (on.length === 0) return true;
    let after: ReadonlyMap<string, { known: boolean; active?: boolean }>;
    try {
      after = this.access(device, names, new Map(on.map((n) => [n, false])));
    } catch (e) {
      this.warnOnce(device, `cannot turn off ${on.join(", ")}: ${(e as Error).message}`);
      return false;
    }
    const off = on.filter((n) => after.get(n)?.active !== true);
    if (off.length > 0) {
      const had = this.changed.get(device) ?? [];
      this.changed.set(device, [...had, ...off.filter((n) => !had.includes(n))]);
      this.timesTurnedOff++;
      this.log.info(
        `wan ${device}: ${off.join(", ")} off (${why}); back on at exit; wan_gro 'keep' leaves them`,
      );
    }
    const left = on.filter((n) => after.get(n)?.active === true);
    if (left.length > 0) {
      this.warnOnce(device, `${left.join(", ")} stayed on (the driver keeps them)`);
      return false;
    }
    return true;
  }

  private warnOnce(device: string, what: string): void {
    const key = `${device} ${what}`;
    if (this.warned.has(key)) {
      this.log.debug(`wan ${device}: ${what}`);
      return;
    }
    this.warned.add(key);
    this.log.warn(`wan ${device}: ${what}`);
  }

  /** Turns back on what turnOff turned off. Safe twice; a device gone meanwhile is skipped. */
  restore(): void {
    for (const [device, names] of this.changed) {
      try {
        this.access(device, names, new Map(names.map((n) => [n, true])));
        this.log.info(`wan ${device}: ${names.join(", ")} back on`);
      } catch (e) {
        this.log.debug(`wan ${device}: ${names.join(", ")} not restored: ${(e as Error).message}`);
      }
    }
    this.changed.clear();
  }
}

interface WanGroWatchOptions {
  readonly clock: Clock;
  readonly log: Logger;
  /** Option `wan_gro`. */
  readonly mode: "auto" | "off" | "keep";
  /** Absent: the features are left alone, as with keep (warnings only). */
  readonly features?: FeatureAccess;
  readonly lowerDevices?: LowerDevices;
  /** The data plane's count of merged 6in4 UDP it could not forward. */
  readonly unusable: () => number;
  /** The WAN device, and netifd's device under it when they differ (a PPPoE WAN's Ethernet). */
  readonly wanDevice: () => string;
  readonly linkDevice: () => string | null | undefined;
}

export interface WanGroWatch {
  /** Times features were turned off on a device (status counter wan_gro_turned_off). */
  timesTurnedOff(): number;
  /** Checks the count now, as the periodic check would (the periodic checks go on). */
  checkNow(): void;
  /** Stops the checks and turns back on what was turned off. */
  stop(): void;
}

/**
 * Watches the unusable count (gro-watch.ts); with `auto` or `off` and the features reachable,
 * the remedy turns UDP_MERGING_FEATURES off on the WAN device, netifd's device under it and the
 * real device under either (a VLAN's or macvlan's): the NIC's GRO runs at the bottom.
 */
export function watchWanGro(o: WanGroWatchOptions): WanGroWatch {
  const features =
    o.mode !== "keep" && o.features !== undefined ? new WanGroFeatures(o.features, o.log) : null;
  const why = o.mode === "off" ? "wan_gro 'off'" : "merged 6in4 UDP cannot be forwarded";
  const lowers = o.lowerDevices ?? (() => []);
  const watch = watchGroUnusable(
    o.clock,
    o.unusable,
    (m) => o.log.warn(m),
    o.wanDevice,
    features !== null
      ? {
          remedy: (dev) => {
            const devices = [
              ...new Set([dev, o.linkDevice() ?? dev].flatMap((d) => groChain(d, lowers))),
            ];
            return devices.map((d) => features.turnOff(d, why)).every((ok) => ok);
          },
          // off: on every check, so a WAN device created anew (a PPPoE reconnect) is caught.
          always: o.mode === "off",
        }
      : undefined,
  );
  return {
    timesTurnedOff: () => features?.timesTurnedOff ?? 0,
    checkNow: () => watch.checkNow(),
    stop: () => {
      watch.stop();
      features?.restore();
    },
  };
}
