/**
 * `6to4-pmt relay [options] [--config file.json]`: the 6to4-PMT relay daemon (composition root).
 *
 * Start-up (control plane, once):
 *  1. Options (config/parse.ts; bad option -> exit 2), root (exit 3), `enabled` (else exit 0).
 *  2. PMT mapping from provider_prefix / ipv4_prefix_len / sla (RFC 6732 §3.3); none = a plain
 *     6to4 relay (RFC 3068).
 *     The kernel forwards what the relay hands it (cli/relay-sysctl.ts: IPv6 forwarding on,
 *     rp_filter not strict for every interface; else exit 4 naming the sysctl).
 *  3. One relay per network namespace (cli/instance-lock.ts; a second one exits 4 naming the
 *     first). Metrics, when asked for: metrics_address:metrics_port must be free (else exit 2).
 *  4. Open the TUN (MTU = tunnel_mtu) and the raw protocol-41 socket (exit 4 on failure); with
 *     `workers` N > 1 (default: one per core) one TUN queue and one split socket per worker
 *     thread (cli/relay-workers.ts), the threads started after step 5. The
 *     TUN gets the relay's own 6to4 address 2002:V4:: (RFC 6343 §4.4 item 4); the provider
 *     prefix and 2002::/16 are routed into it (the return path, RFC 6732 §4.7). The relay's
 *     IPv4 addresses (anycast on lo) and its IPv6 upstream are the operator's.
 *     With announce_ipv4 those routes, and the anycast /32, carry kernel protocol 41 and exist only
 *     while the IPv6 upstream answers (relay-announce-setup.ts, RFC 3068 §4.4), for BIRD.
 *     Prometheus metrics answer `GET /metrics`; node:http is loaded only with metrics_port set
 *     (about 1 MB of node's HTTP modules a relay without metrics never needs).
 *     The status socket (cli/relay-status.ts) answers `6to4-pmt status --relay`.
 *  5. Privileges dropped (cli/privilege-drop.ts: `user`, no capability kept, no_new_privs).
 *  6. Run the data plane (dataplane/relay-daemon.ts) until SIGTERM/SIGINT; clean up; exit 0.
 */
import type { Server } from "node:http";
import { formatIpv4 } from "../addr/ipv4.js";
import { formatIpv6, formatIpv6Prefix } from "../addr/ipv6.js";
import { describePmtCustomerPolicy } from "../addr/pmt-customers.js";
import { parseRelayConfig, type RelayConfig } from "../config/parse.js";
import { formatPrometheus, type CountersSnapshot } from "../dataplane/counters.js";
import type { RelayForwardingState } from "../dataplane/forwarding-state.js";
import { RelayDaemon } from "../dataplane/relay-daemon.js";
import { planRelay } from "./relay-plan.js";
import {
  createDaemon,
  releaseStartupMemory,
  waitForExit,
  type DaemonExit,
} from "./daemon-lifecycle.js";
import { loadDaemonConfig } from "./daemon-options.js";
import { openDaemonPorts, prepareTun, TUN_TX_QUEUE_PACKETS } from "./daemon-ports.js";
import { EXIT_INIT, EXIT_RUNTIME, EXIT_USAGE } from "./exit-codes.js";
import { acquireInstanceLock } from "./instance-lock.js";
import { KernelSetup } from "./kernel-setup.js";
import { refuseToStart } from "./preflight.js";
import { ANNOUNCE_KEEP_CAPS, dropDaemonPrivileges, resolveDaemonUser } from "./privilege-drop.js";
import { PACKET_RECEIVE_KEEP_CAPS } from "./privilege-drop.js";
import {
  installPacketReceive,
  PACKET_RECEIVE_TABLE,
  removePacketReceive,
  watchPacketReceive,
  type PacketReceiveWatch,
} from "../control/packet-receive.js";
import { ifIndexOf } from "../io/linux.js";
import { relayAnnouncer } from "./relay-announce-setup.js";
import { openWorkerPorts, RelayWorkers, resolveWorkers } from "./relay-workers.js";
import { relayWanSend } from "./relay-worker.js";
import type { WanSendSnapshot } from "../status/snapshot.js";
import { relayStatusSocketProblem, startRelayStatus } from "./relay-status.js";
import { checkRelaySysctls, procSysctls } from "./relay-sysctl.js";
import { VERSION } from "./version.js";
import { createLogger, type Logger } from "../log/logger.js";
import { systemClock } from "../control/clock.js";
import { watchGroUnusable } from "../control/gro-watch.js";

const RELAY_USAGE = `usage: 6to4-pmt relay [--config FILE.json] [--OPTION VALUE ...]
Runs the 6to4-PMT relay (RFC 6732): decapsulates protocol 41 received on --relay-ipv4 (default the
anycast 192.88.99.1, RFC 3068), translates the 2002:V4ADDR:SLA::/64 of customers in
--pmt-customer-ipv4 (default --customer-ipv4) to the provider prefix and back, relays other sources
as plain 6to4 (or drops them: --non-customer drop), and encapsulates the return path. Options are
the UCI options of the 'relay' section with _ -> - (listed below), e.g.
  --enabled --relay-ipv4 192.88.99.1,198.51.100.2 --provider-prefix 2001:db8::/32
  --customer-ipv4 100.64.0.0/10 --opt-out 100.64.9.0/24 --metrics-port 9641
-c FILE = --config FILE, -l LEVEL = --log-level LEVEL, -f: log to stderr (always).
SIGTERM/SIGINT stop (routes and TUN removed), SIGUSR1 logs the counters.
--check-config: check the options (and --config file) only, print one line, exit 0 or 2.
Exit: 0 ok, 1 runtime failure, 2 bad option or busy metrics port, 3 not root (capabilities
missing), 4 IPv6 forwarding off or strict rp_filter (one line names the sysctl), TUN/socket/addon
init failed, privilege drop failed or another relay runs in this network namespace.`;

/**
 * The data plane as runRelayLocked drives it: one RelayDaemon in the main thread (workers 1), or
 * worker threads (cli/relay-workers.ts), each on its own TUN queue and share of the customers.
 */
interface RelayDataplane {
  readonly tunName: string;
  readonly exiting: DaemonExit;
  counters(): CountersSnapshot;
  /** `wan_send packet`: the send path's status and a resolve now; undefined with raw. */
  readonly wanSend?: {
    status(): WanSendSnapshot;
    /** Resolves with a new routing-table dump; the status once applied. */
    resolve(): Promise<WanSendSnapshot>;
  };
  start(): void;
  /** Resolves once the data plane runs in every thread (worker threads start asynchronously). */
  started(): Promise<void>;
  stop(): void | Promise<void>;
}

/** Step 4: opens the ports (one pair per worker); undefined after `init failed` was logged. */
function openRelayDataplane(
  cfg: RelayConfig,
  state: RelayForwardingState,
  log: Logger,
): RelayDataplane | undefined {
  const workers = resolveWorkers(cfg.workers);
  const rawOptions = {
    ...(cfg.packetReceive.length > 0
      ? { packetReceive: { devices: cfg.packetReceive, dsts: cfg.relayIpv4 } }
      : {}),
    ...(cfg.wanSend === "packet" ? { packetSend: true } : {}),
  };
  if (workers <= 1) {
    const ports = openDaemonPorts(log, cfg.tunName, cfg.tunnelMtu, rawOptions);
    if (ports === undefined) return undefined;
    const { daemon, exiting } = createDaemon(RelayDaemon, ports, state, log);
    const send = relayWanSend(cfg, ports.raw.packetPath, log);
    return {
      tunName: ports.tun.name,
      exiting,
      counters: () => {
        const c = daemon.counters();
        for (const [k, v] of Object.entries(send?.counters() ?? {})) c.traffic[k] = v;
        return c;
      },
      ...(send !== undefined
        ? { wanSend: { status: () => send.status(), resolve: () => send.resolveNow() } }
        : {}),
      start: () => {
        daemon.start();
        send?.start();
      },
      started: () => Promise.resolve(),
      stop: () => {
        send?.stop();
        return daemon.stop();
      },
    };
  }
  const ports = openWorkerPorts(
    log,
    cfg.tunName,
    cfg.tunnelMtu,
    TUN_TX_QUEUE_PACKETS,
    workers,
    rawOptions,
  );
  if (ports === undefined) return undefined;
  const pool: RelayWorkers = new RelayWorkers(cfg, ports, log, (message) => {
    log.error(`stopping: ${message}`);
    exiting.exit(EXIT_RUNTIME);
  });
  const exiting = waitForExit(log, () => pool.counters());
  const none = (): WanSendSnapshot => ({
    configured: "packet",
    active: "raw",
    reason: "workers not started",
    nextHop: null,
    packets: 0,
    fallbacks: 0,
    unresolved: 0,
    nextHopChanges: 0,
    resolves: 0,
  });
  return {
    tunName: ports.tun.name,
    exiting,
    counters: () => pool.counters(),
    ...(cfg.wanSend === "packet"
      ? {
          wanSend: {
            status: () => pool.wanSendStatus() ?? none(),
            resolve: () => pool.resolveWanSend() ?? Promise.resolve(none()),
          },
        }
      : {}),
    start: () => pool.start(),
    started: () => pool.started(),
    stop: () => pool.stop(),
  };
}

/** The device's ifindex, 0 when there is none (packet_receive's watch). */
function deviceIndex(dev: string): number {
  try {
    return ifIndexOf(dev);
  } catch {
    return 0;
  }
}

/** Runs the subcommand with `args` (after "relay"); resolves with the exit code. */
export async function runRelay(args: readonly string[]): Promise<number> {
  const loaded = loadDaemonConfig(
    "relay",
    args,
    RELAY_USAGE,
    (parsed) => {
      const cfg = parseRelayConfig(parsed.flags, parsed.configPath);
      return { cfg, state: planRelay(cfg) };
    },
    ({ cfg }) => {
      const ids = resolveDaemonUser(cfg.user);
      return ids !== null && "error" in ids ? ids.error : relayStatusSocketProblem(cfg);
    },
  );
  if (typeof loaded === "number") return loaded;
  const { cfg, state } = loaded;
  const log = createLogger(cfg.logLevel, "relay");
  const refused = refuseToStart(
    log,
    cfg.enabled,
    "relay is disabled (enabled=0); set --enabled / option enabled '1'",
    cfg.user,
  );
  if (refused !== undefined) return refused;
  const sockProblem = relayStatusSocketProblem(cfg);
  if (sockProblem !== undefined) {
    process.stderr.write(`6to4-pmt: ${sockProblem}\n`);
    return EXIT_USAGE;
  }
  const { read, devices } = procSysctls();
  const sysctls = checkRelaySysctls(read, devices);
  if (sysctls.refusal !== undefined) {
    log.error(`${sysctls.refusal}; not starting`);
    return EXIT_INIT;
  }
  for (const w of sysctls.warnings) log.warn(w);
  return runRelayWithState(cfg, state, log);
}

async function runRelayWithState(
  cfg: RelayConfig,
  state: RelayForwardingState,
  log: Logger,
): Promise<number> {
  const lock = await acquireInstanceLock("relay", cfg.tunName);
  if ("running" in lock) {
    log.error(
      `another relay is running in this network namespace (${lock.running}): ` +
        "a second one would forward every protocol-41 packet again; not starting",
    );
    return EXIT_INIT;
  }
  try {
    return await runRelayLocked(cfg, state, log);
  } finally {
    lock.release();
  }
}

/** Opens `address`:`port` for `GET /metrics`; resolves with the error message when it cannot. */
async function listenMetrics(
  address: string,
  port: number,
  counters: () => string,
): Promise<{ server: Server } | { error: string }> {
  const { createServer } = await import("node:http");
  const server = createServer((req, res) => {
    if (req.method === "GET" && (req.url === "/metrics" || req.url === "/")) {
      res.writeHead(200, { "content-type": "text/plain; version=0.0.4" });
      res.end(counters());
    } else {
      res.writeHead(404).end();
    }
  });
  return new Promise((resolve) => {
    server.once("error", (e) => resolve({ error: e.message }));
    server.listen(port, address, () => {
      server.removeAllListeners("error");
      resolve({ server });
    });
  });
}

async function runRelayLocked(
  cfg: RelayConfig,
  state: RelayForwardingState,
  log: Logger,
): Promise<number> {
  // Metrics first: a busy port is a start error, found before the TUN and routes exist.
  let daemonCounters: (() => string) | undefined;
  let metrics: Server | undefined;
  let metricsUrl: string | undefined;
  if (cfg.metricsPort > 0) {
    const m = await listenMetrics(
      cfg.metricsAddress,
      cfg.metricsPort,
      () => daemonCounters?.() ?? "",
    );
    const where = cfg.metricsAddress.includes(":")
      ? `[${cfg.metricsAddress}]:${cfg.metricsPort}`
      : `${cfg.metricsAddress}:${cfg.metricsPort}`;
    if ("error" in m) {
      // An address the host does not have is the address's fault, anything else the port's.
      const option = /EADDRNOTAVAIL/.test(m.error)
        ? "metrics_address (--metrics-address)"
        : "metrics_port (--metrics-port)";
      process.stderr.write(`6to4-pmt: ${option}: cannot listen on ${where}: ${m.error}\n`);
      return EXIT_USAGE;
    }
    metrics = m.server;
    metrics.on("error", (e) => log.warn(`metrics ${where}: ${e.message}`));
    metricsUrl = `http://${where}/metrics`;
    log.info(`metrics on ${metricsUrl}`);
  }
  const plane = openRelayDataplane(cfg, state, log);
  if (plane === undefined) {
    metrics?.close();
    return EXIT_INIT;
  }
  const { exiting } = plane;
  // After the AF_PACKET sockets are open (their filters on), so no packet is dropped unread.
  let rxWatch: PacketReceiveWatch | undefined;
  if (cfg.packetReceive.length > 0) {
    const bound = cfg.packetReceive.map(deviceIndex);
    const err = installPacketReceive(cfg.packetReceive, cfg.relayIpv4);
    if (err !== null) {
      log.error(`packet_receive: nft: ${err}; not starting`);
      await plane.stop();
      metrics?.close();
      return EXIT_INIT;
    }
    log.info(
      `packet_receive: protocol 41 on ${cfg.packetReceive.join(",")} read through AF_PACKET ` +
        `(nft table netdev ${PACKET_RECEIVE_TABLE})`,
    );
    rxWatch = watchPacketReceive(
      systemClock,
      cfg.packetReceive,
      bound,
      deviceIndex,
      (devices) => installPacketReceive(devices, cfg.relayIpv4),
      removePacketReceive,
      (m) => log.warn(m),
    );
  }
  const k = new KernelSetup(log);
  const dev = plane.tunName;
  prepareTun(dev, log);
  const own = formatIpv6(state.ownSixToFour);
  k.addAddress128(own, dev);
  const routes = ["2002::/16"];
  if (cfg.providerPrefix !== null) routes.unshift(formatIpv6Prefix(cfg.providerPrefix));
  // With announce_ipv4 the announcer owns the return routes (kernel proto 41, only while healthy).
  const announce = relayAnnouncer(cfg, dev, routes, log);
  if (announce === null) for (const r of routes) k.addRoute(r, dev);
  const daemon = plane;
  daemonCounters = () =>
    formatPrometheus("relay", daemon.counters()) + (announce?.prometheus() ?? "");
  const status = await startRelayStatus(
    {
      cfg,
      version: VERSION,
      tunName: dev,
      tunAddress: own,
      routes,
      translating: state.mapping !== null,
      metrics: metricsUrl ?? null,
      counters: () => daemon.counters(),
      announce: announce !== null ? () => announce.snapshot() : null,
      ...(plane.wanSend !== undefined ? { wanSend: plane.wanSend } : {}),
    },
    log,
  );
  // Least privilege from here on (cli/privilege-drop.ts); a failed drop stops the daemon.
  // packet_receive: CAP_NET_ADMIN to delete its nft table at exit; wan_send packet: to mark a
  // STALE gateway entry used (RTM_NEWNEIGH NTF_USE), so the kernel re-validates it.
  const keep =
    announce !== null
      ? ANNOUNCE_KEEP_CAPS
      : cfg.packetReceive.length > 0 || cfg.wanSend === "packet"
        ? PACKET_RECEIVE_KEEP_CAPS
        : undefined;
  if (!dropDaemonPrivileges("relay", cfg.user, [cfg.statusSocket], log, keep)) {
    exiting.exit(EXIT_INIT);
  }
  const mode = state.mapping
    ? `PMT provider ${formatIpv6Prefix(state.mapping.providerPrefix)}`
    : "plain 6to4 relay";
  log.info(
    `relay up: ipv4 ${cfg.relayIpv4.map(formatIpv4).join(",")} tun ${dev} mtu ${cfg.tunnelMtu} ` +
      `address ${own}, ${mode}, customers ${cfg.customerIpv4.length}, opt-out ${cfg.optOut.length}`,
  );
  log.info(
    describePmtCustomerPolicy(
      state.mapping ? cfg.pmtCustomerIpv4 : [],
      cfg.optOut,
      cfg.nonCustomer,
    ),
  );
  if (state.mapping && cfg.pmtCustomerIpv4.length === 0) {
    log.warn(
      "provider_prefix is set but pmt_customer_ipv4 (default customer_ipv4) is empty: nothing is translated",
    );
  }
  daemon.start();
  announce?.start();
  // After the worker threads' start-up, which pages much of the node binary in again.
  await Promise.race([daemon.started(), exiting.done]);
  releaseStartupMemory(log);
  const groWatch = watchGroUnusable(
    systemClock,
    () => daemon.counters().offload?.wan_gro_unusable ?? 0,
    (m) => log.warn(m),
    () => undefined,
  );
  const code = await exiting.done;
  status.stopping();
  groWatch.stop();
  metrics?.close();
  announce?.stop();
  await status.close();
  // Before the sockets close: from here protocol 41 takes the raw socket again.
  rxWatch?.stop();
  if (cfg.packetReceive.length > 0) {
    const err = removePacketReceive();
    if (err !== null)
      log.warn(`packet_receive: nft delete table netdev ${PACKET_RECEIVE_TABLE}: ${err}`);
  }
  // The TUN first: its address and routes go with it, so the relay, which keeps no capability
  // (cli/privilege-drop.ts), has nothing left for `ip` to remove.
  await daemon.stop();
  k.revert();
  exiting.release();
  log.info(`relay stopped (exit ${code})`);
  return code;
}
