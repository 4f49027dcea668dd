/**
 * The relay's status socket (option status_socket, command line / JSON only): what
 * `6to4-pmt status` shows for a relay (status/relay-snapshot.ts), served by the CPE's socket
 * server (status/server.ts). Bound before the privilege drop, like the metrics listener.
 *
 * Unlike the CPE's, a socket that cannot be bound (another relay of the host answering on the
 * same path from another network namespace, a directory the user cannot write) is a warning, not
 * a start error: the relay's job is the data plane, and its metrics and SIGUSR1 still report.
 * A path holding something other than a socket is a configuration error (exit 2), never removed.
 */
import { formatIpv4, formatIpv4Prefix } from "../addr/ipv4.js";
import { formatIpv6Prefix } from "../addr/ipv6.js";
import { describePmtCustomerPolicy } from "../addr/pmt-customers.js";
import type { WanSendSnapshot } from "../status/snapshot.js";
import type { RelayConfig } from "../config/parse.js";
import type { RelayAnnounceSnapshot } from "../control/relay-announce.js";
import type { CountersSnapshot } from "../dataplane/counters.js";
import { formatIsoUtc, type Logger } from "../log/logger.js";
import type {
  RelayAnnounceStatus,
  RelayState,
  RelayStatusSnapshot,
} from "../status/relay-snapshot.js";
import { startStatusServer, statusSocketProblem, type StatusServer } from "../status/server.js";

export interface RelayStatusSource {
  readonly cfg: RelayConfig;
  readonly version: string;
  readonly tunName: string;
  readonly tunAddress: string;
  readonly routes: readonly string[];
  readonly translating: boolean;
  readonly metrics: string | null;
  readonly counters: () => CountersSnapshot;
  /** The announcer's snapshot, or null without announce_ipv4. */
  readonly announce: (() => RelayAnnounceSnapshot) | null;
  /** `wan_send packet`: the send path's status, and a resolve now (the `resolve` command). */
  readonly wanSend?: {
    status(): WanSendSnapshot;
    /** Resolves with a new routing-table dump; the status once applied. */
    resolve(): Promise<WanSendSnapshot>;
  };
}

/** The one-line problem with the configured status_socket path, or undefined. */
export function relayStatusSocketProblem(cfg: RelayConfig): string | undefined {
  const p = statusSocketProblem(cfg.statusSocket);
  return p === undefined ? undefined : `status_socket (--status-socket): ${cfg.statusSocket} ${p}`;
}

/** The snapshot as the socket answers it. */
export function relaySnapshot(
  src: RelayStatusSource,
  state: RelayState,
  startedMs: number,
  nowMs: number,
): RelayStatusSnapshot {
  const cfg = src.cfg;
  const pmtCustomers = src.translating ? cfg.pmtCustomerIpv4 : [];
  return {
    role: "relay",
    state,
    version: src.version,
    pid: process.pid,
    uptimeS: Math.max(0, Math.floor((nowMs - startedMs) / 1000)),
    relayIpv4: cfg.relayIpv4.map(formatIpv4),
    packetReceive: cfg.packetReceive,
    ...(src.wanSend !== undefined ? { wanSend: src.wanSend.status() } : {}),
    tun: { name: src.tunName, mtu: cfg.tunnelMtu, address: src.tunAddress },
    providerPrefix: cfg.providerPrefix !== null ? formatIpv6Prefix(cfg.providerPrefix) : null,
    ipv4PrefixLen: cfg.ipv4PrefixLen,
    sla: cfg.sla,
    routes: src.routes,
    customerPolicy: describePmtCustomerPolicy(pmtCustomers, cfg.optOut, cfg.nonCustomer),
    customerIpv4: cfg.customerIpv4.map(formatIpv4Prefix),
    pmtCustomerIpv4: pmtCustomers.map(formatIpv4Prefix),
    optOut: cfg.optOut.map(formatIpv4Prefix),
    nonCustomer: cfg.nonCustomer,
    otherRelays: cfg.otherRelays.map(formatIpv4),
    announce: src.announce !== null ? announceStatus(src.announce(), nowMs) : null,
    metrics: src.metrics,
    counters: src.counters(),
  };
}

/** The announcer's snapshot with its times as text and ages (`nowMs`: the same clock). */
export function announceStatus(a: RelayAnnounceSnapshot, nowMs: number): RelayAnnounceStatus {
  const ago = (ms: number): number => Math.max(0, Math.floor((nowMs - ms) / 1000));
  return {
    state: a.state,
    reason: a.reason,
    since: formatIsoUtc(a.sinceMs),
    sinceS: ago(a.sinceMs),
    routes: a.routes,
    changes: a.changes,
    errors: a.errors,
    lastError:
      a.lastError !== null
        ? {
            message: a.lastError.message,
            at: formatIsoUtc(a.lastError.atMs),
            agoS: ago(a.lastError.atMs),
          }
        : null,
    upstream:
      a.health !== null
        ? { target: a.health.target, state: a.health.state, lastRttMs: a.health.lastRttMs }
        : null,
  };
}

export interface RelayStatus {
  /** From now on the snapshot says `stopping`. */
  stopping(): void;
  close(): Promise<void>;
}

/** Serves the snapshot on cfg.statusSocket; a socket that cannot be bound is logged and skipped. */
export async function startRelayStatus(src: RelayStatusSource, log: Logger): Promise<RelayStatus> {
  let state: RelayState = "running";
  const startedMs = Date.now();
  let server: StatusServer | undefined;
  try {
    server = await startStatusServer(src.cfg.statusSocket, {
      snapshot: () => relaySnapshot(src, state, startedMs, Date.now()),
      ...(src.wanSend !== undefined
        ? { command: (c: string) => (c === "resolve" ? src.wanSend!.resolve() : undefined) }
        : {}),
    });
    log.info(`status socket ${src.cfg.statusSocket}`);
  } catch (e) {
    log.warn(
      `status socket ${src.cfg.statusSocket}: ${(e as Error).message}; \`6to4-pmt status\` ` +
        "will not reach this relay (set --status-socket)",
    );
  }
  return {
    stopping() {
      state = "stopping";
    },
    close: () => server?.close() ?? Promise.resolve(),
  };
}
