/**
 * One relay data-plane worker thread (option workers > 1; cli/relay-workers.ts starts them).
 *
 * The main thread opened everything before the privilege drop: one queue of the multi-queue TUN
 * and one protocol-41 socket pair whose filter keeps this worker's share of the customers
 * (native/split.c). The worker wraps those fds (io/linux.ts adoptTun, adoptIpv4Raw), builds the
 * forwarding snapshot from the same options as the main thread (stateless mapping: workers share
 * nothing) and runs the ordinary RelayDaemon loops on them in its own event loop. Its counters
 * live in shared memory the main thread sums for status, metrics and SIGUSR1; the port counters
 * only the worker can read (ICMPv4 errors by kind, WAN GRO merges) it posts once a second and
 * when it stops.
 *
 * With `wan_send packet` the main thread resolves the next hop for every worker
 * (control/packet-path-fanout.ts): a worker applies what it is sent to its own AF_PACKET path and
 * reports a failed send. A worker thread needs no capability (its fds are open), so it drops the
 * ones the main thread kept (CAP_NET_ADMIN for nft at exit, routes, NTF_USE).
 *
 * Messages: main -> worker `{ type: "stop" }`, `{ type: "wanSend", command }`; worker -> main
 * `{ type: "tid", tid }` (its thread id, once), `{ type: "ports", ports }`,
 * `{ type: "wanSendFailed", code }` (its path cleared itself: the main thread resolves again),
 * `{ type: "fatal", message }` (a port is gone: the relay stops), `{ type: "stopped", ports }`.
 */
import { readlinkSync } from "node:fs";
import { parentPort } from "node:worker_threads";
import type { RelayConfig } from "../config/parse.js";
import { DataplaneCounters } from "../dataplane/counters.js";
import { RelayDaemon } from "../dataplane/relay-daemon.js";
import {
  adoptIpv4Raw,
  adoptTun,
  dumpRoutes4,
  neighbourUse4,
  resolveNextHop4,
  watchRouteEvents,
  type Ipv4RawFds,
} from "../io/linux.js";
import { dropPrivileges } from "../io/privileges.js";
import type { PacketSendPath, PortStats } from "../io/ports.js";
import { createLogger, type Logger } from "../log/logger.js";
import { monotonicMs, systemClock } from "../control/clock.js";
import { RelayWanSend } from "../control/relay-wan-send.js";
import { applyPacketPathCommand, type PacketPathCommand } from "../control/packet-path-fanout.js";
import { heapHousekeeping } from "./heap-housekeeping.js";
import { planRelay } from "./relay-plan.js";

/** Marks the workerData of a relay worker (the bundle is also the worker's script). */
export const RELAY_WORKER_ROLE = "6to4-pmt relay worker";

export interface RelayWorkerData {
  readonly role: typeof RELAY_WORKER_ROLE;
  /** 0-based. */
  readonly index: number;
  readonly count: number;
  readonly cfg: RelayConfig;
  readonly tun: { fd: number; name: string; mtu: number; offload: boolean };
  readonly raw: Ipv4RawFds;
  /** Every worker's counters, `length` Float64 numbers each, this one's at `index * length`. */
  readonly counters: SharedArrayBuffer;
  readonly length: number;
  /** `wan_send packet`: every worker's packets sent over AF_PACKET, one Float64 each. */
  readonly wanSendPackets: SharedArrayBuffer;
}

/** What a worker reports of its protocol-41 port (the parts of PortStats status shows). */
export type WorkerPortReport = Pick<PortStats, "wanGroMerged" | "wanGroUnusable" | "icmpErrors">;

/**
 * `wan_send packet` on the relay: the resolver that drives `path` (the single daemon's own, or
 * the main thread's fan-out to every worker), or undefined with `wan_send raw`.
 */
export function relayWanSend(
  cfg: RelayConfig,
  path: PacketSendPath | undefined,
  log: Logger,
): RelayWanSend | undefined {
  if (path === undefined) return undefined;
  const ranges = [...cfg.pmtCustomerIpv4, ...cfg.customerIpv4];
  return new RelayWanSend({
    path,
    dump: (max, ranges, done) => dumpRoutes4(max, ranges, done),
    lookup: (dst, oif) => resolveNextHop4(dst, oif),
    neighUse: (ifindex, addr) => neighbourUse4(ifindex, addr),
    watch: (onChange, filter, onError) => watchRouteEvents(onChange, filter, onError),
    ranges,
    clock: systemClock,
    log,
  });
}

export function isRelayWorkerData(d: unknown): d is RelayWorkerData {
  return (
    typeof d === "object" && d !== null && (d as { role?: unknown }).role === RELAY_WORKER_ROLE
  );
}

/** Port counters are posted this often (status and metrics show them that late at most). */
const PORT_REPORT_MS = 1000;

/** A running worker's data plane, wherever it runs. */
export interface RelayWorkerHandle {
  /** Its protocol-41 port's counters. */
  report(): WorkerPortReport;
  /** Stops its loops and closes its fds; returns the last report. */
  stop(): WorkerPortReport;
  /** `wan_send packet`: applies the main thread's resolve to this worker's path. */
  wanSend(c: PacketPathCommand): void;
}

/**
 * Starts worker `data.index`'s data plane in the calling thread: a worker thread's (below), or
 * the main thread's, which serves as worker 1 (cli/relay-workers.ts) and so saves one isolate.
 */
export function startRelayWorker(
  data: Omit<RelayWorkerData, "role">,
  onFatal: (message: string) => void,
  onWanSendFailure: (code: string) => void = () => undefined,
): RelayWorkerHandle {
  const log = createLogger(data.cfg.logLevel, `relay worker ${data.index + 1}/${data.count}`);
  const tun = adoptTun(data.tun.fd, data.tun.name, data.tun.mtu, data.tun.offload);
  const raw = adoptIpv4Raw(
    data.raw,
    undefined,
    new Float64Array(data.wanSendPackets, data.index * 8, 1),
  );
  const counters = new DataplaneCounters(
    new Float64Array(data.counters, data.index * data.length * 8, data.length),
  );
  const path = raw.packetPath;
  path?.onFailure(onWanSendFailure);
  const report = (): WorkerPortReport => {
    const s = raw.stats();
    return {
      wanGroMerged: s.wanGroMerged,
      wanGroUnusable: s.wanGroUnusable,
      ...(s.icmpErrors !== undefined ? { icmpErrors: s.icmpErrors } : {}),
    };
  };
  const daemon = new RelayDaemon({
    tun,
    raw,
    state: planRelay(data.cfg, data.count),
    log,
    now: monotonicMs,
    counters,
    onFatal: (err) => onFatal(err.message),
  });
  daemon.start();
  return {
    report,
    stop: () => {
      const last = report();
      path?.clear();
      daemon.stop();
      return last;
    },
    wanSend: (c) => {
      if (path !== undefined) applyPacketPathCommand(path, c);
    },
  };
}

/** Runs a worker thread until the main thread says stop (or a port is gone). */
export function runRelayWorker(data: RelayWorkerData): void {
  const port = parentPort;
  if (port === null) return;
  const w = startRelayWorker(
    data,
    (message) => port.postMessage({ type: "fatal", message }),
    (code) => port.postMessage({ type: "wanSendFailed", code }),
  );
  // This thread got the main thread's kept capabilities at its start; it uses none.
  try {
    dropPrivileges(null, []);
  } catch (e) {
    createLogger(data.cfg.logLevel, `relay worker ${data.index + 1}/${data.count}`).warn(
      `capabilities not dropped: ${(e as Error).message}`,
    );
  }
  // The thread's id (as `top -H` and /proc/<pid>/task show it), for status.
  let tid = 0;
  try {
    tid = Number(readlinkSync("/proc/thread-self").split("/").pop()) || 0;
  } catch {
    // No /proc: status shows 0.
  }
  port.postMessage({ type: "tid", tid });
  const timer = setInterval(
    () => port.postMessage({ type: "ports", ports: w.report() }),
    PORT_REPORT_MS,
  );
  timer.unref();
  // Each isolate has its own heap: the thread's periodic full collection, as the main thread's.
  const stopHousekeeping = heapHousekeeping();
  port.on("message", (m: { type?: string; command?: PacketPathCommand }) => {
    if (m?.type === "wanSend" && m.command !== undefined) {
      w.wanSend(m.command);
      return;
    }
    if (m?.type !== "stop") return;
    clearInterval(timer);
    stopHousekeeping();
    port.postMessage({ type: "stopped", ports: w.stop() });
    port.close();
  });
}
