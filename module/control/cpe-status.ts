/**
 * The CPE's status snapshot (status/snapshot.ts) from the control plane's state: what was learned
 * (WAN, DHCP lease), what was decided (state, effective values with their sources, plan), the
 * tunnel's health, the RAs and the counters of control plane and data plane under one name each.
 * Pure: built on request from the values passed in.
 */
import { classifyIpv4 } from "../addr/classify.js";
import { formatIpv4 } from "../addr/ipv4.js";
import { formatIpv6, formatIpv6Prefix } from "../addr/ipv6.js";
import { sixToFourPrefix } from "../addr/sixto4.js";
import type { CpeConfig } from "../config/parse.js";
import type { CountersSnapshot } from "../dataplane/counters.js";
import type { DaemonState, DataplaneStatus, StatusSnapshot } from "../status/snapshot.js";
import type { TunRouteStatus, WanSendSnapshot } from "../status/snapshot.js";
import { formatIsoUtc, isoOrNull } from "../status/snapshot.js";
import { ipv6Verdict } from "../status/verdict.js";
import type { Decision } from "./decide.js";
import { sixRdKey, type DhcpLease } from "./dhcp-6rd.js";
import type { HealthSnapshot } from "./health.js";
import type { AdvertisedPrefix } from "./prefix-state.js";
import type { RaSender } from "./ra-sender.js";
import type { WanInfo } from "./wan-watcher.js";

interface CpeStatusInputs {
  readonly config: CpeConfig;
  readonly version: string;
  readonly pid: number;
  readonly startedMs: number;
  readonly nowMs: number;
  readonly state: DaemonState;
  readonly stateReason: string | null;
  readonly wan: WanInfo;
  readonly lease: DhcpLease | null;
  readonly leaseUpdatedMs: number | null;
  readonly decision: Decision;
  readonly health: HealthSnapshot;
  /** The built-in RA sender; null with `ra` netifd or off. */
  readonly ra: RaSender | null;
  readonly routerLifetimeS: number;
  readonly advertised: readonly AdvertisedPrefix[];
  readonly notAdvertised: string | null;
  /** The control plane's own counters (lan_prefix_changes, ...). */
  readonly counters: Readonly<Record<string, number>>;
  /** The data plane's; undefined without one. */
  readonly dataplane: CountersSnapshot | undefined;
  /** Times `wan_gro` turned features off (0: never, or not in use). */
  readonly groTurnedOff: number;
  /** The data plane in use and why; undefined without one (control plane alone). */
  readonly dataplaneMode?: DataplaneStatus;
  /** The routes into the TUN (tun-routes.ts); empty when none are managed. */
  readonly tunRoutes: readonly TunRouteStatus[];
  /** `wan_send packet` (wan-next-hop.ts): the send path and its counters; absent with raw. */
  readonly wanSend?: { status: WanSendSnapshot; counters: Readonly<Record<string, number>> };
}

export function cpeStatus(i: CpeStatusInputs): StatusSnapshot {
  const s = facts(i);
  return { ...s, ipv6: ipv6Verdict(s) };
}

function facts(i: CpeStatusInputs): StatusSnapshot {
  const { config: cfg, wan, decision, ra, health: hs } = i;
  const plan = decision.plan;
  const effective = decision.effective;
  return {
    version: i.version,
    pid: i.pid,
    started: formatIsoUtc(i.startedMs),
    uptimeS: Math.floor((i.nowMs - i.startedMs) / 1000),
    state: i.state,
    stateReason: i.stateReason,
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
    tunnelMtu: decision.tunnelMtu,
    dhcp: {
      enabled: cfg.useDhcp6rd,
      option6rd: i.lease?.sixrd ? sixRdKey(i.lease.sixrd) : null,
      error: i.lease?.sixrdError ?? null,
      updated: isoOrNull(i.leaseUpdatedMs),
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
      routerLifetimeS: i.routerLifetimeS,
      preference: cfg.raPreference,
      mtu: plan ? plan.tunnelMtu : 0,
      prefixes: i.advertised.map((p) => ({
        prefix: p.text,
        preferredS: p.preferredS,
        validS: p.validS,
        deprecated: p.deprecated,
        deprecatedUntil: isoOrNull(p.deprecateUntilMs ?? null),
      })),
      notAdvertisedReason: i.notAdvertised,
    },
    tunRoutes: i.tunRoutes.map((r) => ({ ...r })),
    ...(i.dataplaneMode ? { dataplane: { ...i.dataplaneMode } } : {}),
    ...(i.wanSend ? { wanSend: i.wanSend.status } : {}),
    counters: allCounters(i),
  };
}

/** One name per counter: the control plane's, the RA sender's, then the data plane's. */
function allCounters(i: CpeStatusInputs): Record<string, number> {
  const all: Record<string, number> = { ...i.counters };
  if (i.ra) for (const [k, v] of Object.entries(i.ra.counters)) all[k] = v;
  const dp = i.dataplane;
  if (dp) {
    for (const [k, v] of Object.entries(dp.traffic)) all[k] = v;
    for (const [k, v] of Object.entries(dp.drops)) if (v !== 0) all[`drop_${k}`] = v;
    for (const [k, v] of Object.entries(dp.offload ?? {})) all[`tun_offload_${k}`] = v;
  }
  if (i.groTurnedOff > 0) all.wan_gro_turned_off = i.groTurnedOff;
  for (const [k, v] of Object.entries(i.wanSend?.counters ?? {})) all[k] = v;
  return all;
}
