/**
 * The CPE's one decision: from the configuration, the WAN (address, MTU) and the DHCP lease, whether
 * 6to4 runs and, when it does, the plan the rest of the control plane carries out (data plane
 * snapshot, TUN and LAN addresses, RAs, netifd, health target, status). Pure: no clock, no I/O, no
 * state; cpe-control.ts calls it again on every input change and replaces the previous decision.
 *
 *   1. Effective values: config (json/flag) > DHCP option 212 (RFC 5969 §7.1.1, with
 *      use_dhcp_6rd) > defaults, each with its source for status.
 *   2. enabled 0 -> disabled (RFC 7526 §5); no WAN address -> no-wan; an unusable address
 *      (RFC 6343 §4.1, wan-policy.ts), a mapping the address does not fit, or an address the data
 *      plane's RFC 3964 §5.3.1 check would reject as its own source -> refused. The data plane
 *      then gets a disabled snapshot (every packet dropped as no_route). With a provider prefix,
 *      the own address is accepted even in shared address space (RFC 6732 §4.2).
 *   3. Otherwise the LAN /64: the translated provider /64 (PMT, RFC 6732 §3.3) or
 *      2002:V4ADDR:SLA::/64 (RFC 3056 §2); its router address ::1; the tunnel MTU; the relay in
 *      use (the first of the list); the forwarding snapshot built from them.
 */
import { classifyIpv4, rfc3964Ipv4Status } from "../addr/classify.js";
import { formatIpv4, ipv4InPrefix, type Ipv4Prefix } from "../addr/ipv4.js";
import { isInvalidIpv4 } from "../addr/policy.js";
import { formatIpv6Prefix, type Ipv6Prefix } from "../addr/ipv6.js";
import { createPmtMapping, type PmtMapping } from "../addr/pmt-mapping.js";
import { sixToFourLan64, sixToFourPrefix, sixToFourRouterAddress } from "../addr/sixto4.js";
import { IPV4_MIN_HEADER_BYTES, IPV6_MIN_MTU_BYTES } from "../codec/constants.js";
import type { CpeConfig } from "../config/parse.js";
import {
  CPE_FORWARDING_DISABLED,
  createCpeForwardingState,
  RELAY_ANYCAST_IPV4,
  type CpeForwardingState,
} from "../dataplane/forwarding-state.js";
import type { DaemonState, ValueSource } from "../status/snapshot.js";
import type { DhcpLease } from "./dhcp-6rd.js";
import { checkWanIpv4 } from "./wan-policy.js";
import { WAN_MTU_DEFAULT_BYTES } from "./wan-watcher.js";

/**
 * The tunnel's IPv6 MTU: `configured` (tunnel_mtu) when set, else the WAN MTU - 20 (RFC 4213 §3.2),
 * never below the IPv6 minimum of 1280 (RFC 8200 §5). `wanMtu` null: not known, 1500 assumed.
 */
export function effectiveTunnelMtu(configured: number | null, wanMtu: number | null): number {
  if (configured !== null) return configured;
  return Math.max(IPV6_MIN_MTU_BYTES, (wanMtu ?? WAN_MTU_DEFAULT_BYTES) - IPV4_MIN_HEADER_BYTES);
}

/** What decide() needs of the WAN (wan-watcher.ts WanInfo). */
interface DecideWan {
  readonly ipv4: number | null;
  readonly mtu: number | null;
  readonly device: string | null;
}

/** The values in effect after config > DHCP option 212 > defaults, with where each came from. */
interface EffectiveValues {
  readonly providerPrefix: Ipv6Prefix | null;
  readonly providerSource: ValueSource;
  readonly ipv4PrefixLen: number;
  readonly ipv4PrefixLenSource: ValueSource;
  readonly relays: readonly number[];
  readonly relaysSource: ValueSource;
}

/** What 6to4 runs with while the state is running. */
export interface Plan {
  /** V4ADDR. */
  readonly wanIpv4: number;
  /** PMT LAN mode (RFC 6732 §3.3); null = plain 6to4. */
  readonly mapping: PmtMapping | null;
  /** The /64 advertised on the LAN. */
  readonly lanPrefix: Ipv6Prefix;
  /**
   * The TUN's /128 and the source of the ICMPv6 errors the CPE sends: the LAN router address in
   * PMT mode, else 2002:V4ADDR::1.
   */
  readonly routerAddress: Uint8Array;
  /** lanPrefix::1, the router's address on the LAN. */
  readonly lanRouterAddress: Uint8Array;
  readonly tunnelMtu: number;
  /** The relay native IPv6 goes to: the first of the effective relays. */
  readonly relayIpv4: number;
  /** The tunnel health probe's target (health_target, else the relay's 2002:V4RELAY::). */
  readonly healthTarget: Uint8Array;
}

export interface Decision {
  readonly state: Exclude<DaemonState, "starting" | "stopping">;
  /** One log line naming the value and the RFC; null while running. */
  readonly reason: string | null;
  readonly effective: EffectiveValues;
  /** In use when running, else what would be (status shows it either way). */
  readonly tunnelMtu: number;
  /** Non-null exactly when the state is running. */
  readonly plan: Plan | null;
  /** The data plane's snapshot: built from the plan, or CPE_FORWARDING_DISABLED. */
  readonly forwarding: CpeForwardingState;
}

const isExplicit = (cfg: CpeConfig, name: string): boolean =>
  (cfg.sources[name] ?? "default") !== "default";

/** Step 1. */
function effectiveValues(cfg: CpeConfig, lease: DhcpLease | null): EffectiveValues {
  const sixrd = cfg.useDhcp6rd ? (lease?.sixrd ?? null) : null;
  const fromDhcp = (name: string): boolean => sixrd !== null && !isExplicit(cfg, name);
  const configOr = (name: string): ValueSource => (isExplicit(cfg, name) ? "config" : "default");
  return {
    providerPrefix: fromDhcp("provider_prefix") ? sixrd!.prefix : cfg.providerPrefix,
    providerSource: fromDhcp("provider_prefix") ? "dhcp" : cfg.providerPrefix ? "config" : "none",
    ipv4PrefixLen: fromDhcp("ipv4_prefix_len") ? sixrd!.ipv4MaskLen : cfg.ipv4PrefixLen,
    ipv4PrefixLenSource: fromDhcp("ipv4_prefix_len") ? "dhcp" : configOr("ipv4_prefix_len"),
    relays: fromDhcp("relay") ? sixrd!.relays : cfg.relay,
    relaysSource: fromDhcp("relay") ? "dhcp" : configOr("relay"),
  };
}

/** Steps 1-3 of the file comment. */
export function decide(cfg: CpeConfig, wan: DecideWan, lease: DhcpLease | null): Decision {
  const effective = effectiveValues(cfg, lease);
  const tunnelMtu = effectiveTunnelMtu(cfg.tunnelMtu, wan.mtu);
  const off = (state: Decision["state"], reason: string): Decision => ({
    state,
    reason,
    effective,
    tunnelMtu,
    plan: null,
    forwarding: CPE_FORWARDING_DISABLED,
  });
  if (!cfg.enabled) return off("disabled", "enabled = 0 (RFC 7526 §5)");
  if (wan.ipv4 === null) {
    return off("no-wan", `no IPv4 address on WAN ${wan.device ?? cfg.wanInterface}`);
  }
  const verdict = checkWanIpv4(wan.ipv4, {
    hasProviderPrefix: effective.providerPrefix !== null,
    relayExplicit: effective.relaysSource !== "default",
    allowIpv4: cfg.allowIpv4 as Ipv4Prefix[],
  });
  if (!verdict.usable) return off("refused", verdict.reason);
  const plan = planFor(cfg, wan.ipv4, effective, tunnelMtu);
  if (typeof plan === "string") return off("refused", plan);
  const allowIpv4 = ownAddressAllowance(cfg.allowIpv4, wan.ipv4, effective);
  const forwarding = createCpeForwardingState({
    enabled: true,
    ownIpv4: plan.wanIpv4,
    relays: effective.relays,
    relayIpv4: plan.relayIpv4,
    tunnelMtu: plan.tunnelMtu,
    direct6to4: cfg.direct6to4,
    mapping: plan.mapping,
    allowIpv4,
    icmpSource: plan.routerAddress,
  });
  // The data plane checks 2002:V4ADDR sources against RFC 3964 §5.3.1 with allow_ipv4: running
  // with a WAN address it rejects would drop every packet of the CPE's own (health down, status
  // "running"); say so instead.
  if (isInvalidIpv4(forwarding.policy, wan.ipv4)) {
    const text = formatIpv4(wan.ipv4);
    return off(
      "refused",
      `WAN address ${text} is ${classifyIpv4(wan.ipv4)} (RFC 3964 §5.3.1): the CPE would drop its ` +
        `own packets (ipv6_src_6to4_invalid_ipv4); set a provider_prefix (RFC 6732 §4.2) or an ` +
        `allow_ipv4 that contains ${text}`,
    );
  }
  return { state: "running", reason: null, effective, tunnelMtu, plan, forwarding };
}

/**
 * allow_ipv4 for the data plane: with a provider prefix (configured, or from DHCP option 212) the
 * operator manages the service, and shared (or other overridable) address space on the WAN is the
 * expected case (RFC 6732 §4.2): the CPE's own address is accepted without an allow_ipv4 for it.
 */
function ownAddressAllowance(
  configured: readonly Ipv4Prefix[],
  v4: number,
  effective: EffectiveValues,
): readonly Ipv4Prefix[] {
  if (effective.providerPrefix === null || rfc3964Ipv4Status(v4) !== 1) return configured;
  if (configured.some((p) => ipv4InPrefix(v4, p))) return configured;
  return [...configured, { addr: v4 >>> 0, len: 32 }];
}

/** Step 3; a string is the reason the mapping cannot be used with this address. */
function planFor(
  cfg: CpeConfig,
  v4: number,
  effective: EffectiveValues,
  tunnelMtu: number,
): Plan | string {
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
  const relayIpv4 = effective.relays[0] ?? RELAY_ANYCAST_IPV4;
  return {
    wanIpv4: v4,
    mapping,
    lanPrefix: { addr: lan64, len: 64 },
    routerAddress: mapping ? lanRouterAddress : sixToFourRouterAddress(v4),
    lanRouterAddress,
    tunnelMtu,
    relayIpv4,
    // RFC 6343 §4.4 item 4: relays answer echo to 2002:V4RELAY:: (2002:c058:6301:: for anycast).
    healthTarget: cfg.healthTarget ?? sixToFourPrefix(relayIpv4),
  };
}
