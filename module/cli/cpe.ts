/**
 * `6to4-pmt cpe [options] [--config file.json]`: the CPE daemon (composition root).
 *
 * Start-up (control plane, once):
 *  1. Options from flags and/or the JSON file (config/parse.ts; bad option -> exit 2). Root
 *     (exit 3). `enabled` off -> exit 0 (RFC 7526 §5: 6to4 is off until enabled).
 *  2. WAN IPv4 (wan_ipv4, else the first global address on wan_device) and WAN MTU (wan_mtu,
 *     else the device's); tunnel MTU = wan_mtu - 20, never below 1280 (RFC 4213 §3.2).
 *  3. PMT LAN mode when provider_prefix is set (RFC 6732 §3.3): the LAN /64 is the provider /64
 *     P:V4ADDR::/64; otherwise plain 6to4 2002:V4ADDR:SLA::/64 (RFC 3056 §2).
 *  4. Open the TUN (MTU = tunnel MTU, up) and the raw protocol-41 socket (exit 4 on failure),
 *     give the TUN the router address (/128), route default_route (::/0) and, with direct
 *     6to4 on, 2002::/16 into it.
 *  5. Run the data plane (dataplane/cpe-daemon.ts) until SIGTERM/SIGINT: then remove routes and
 *     address, close the TUN (the kernel deletes it) and the socket, exit 0. SIGUSR1 logs the
 *     counters as one JSON line. A port that disappears -> exit 1.
 */
import { formatIpv4, parseIpv4 } from "../addr/ipv4.js";
import { formatIpv6, formatIpv6Prefix } from "../addr/ipv6.js";
import { createPmtMapping, type PmtMapping } from "../addr/pmt-mapping.js";
import { sixToFourRouterAddress } from "../addr/sixto4.js";
import { ConfigError } from "../config/config-error.js";
import { effectiveTunnelMtu, parseCpeConfig, type CpeConfig } from "../config/parse.js";
import { CpeDaemon } from "../dataplane/cpe-daemon.js";
import {
  createCpeForwardingState,
  type CpeForwardingState,
} from "../dataplane/forwarding-state.js";
import { lowerDevices, netdevFeatures, openIcmpV6 } from "../io/linux.js";
import { startCpeControl, type CpeControl } from "../control/cpe-control.js";
import { createEchoProber } from "../control/echo-prober.js";
import { ICMPV6_ECHO_REPLY } from "../codec/constants.js";
import { VERSION } from "./version.js";
import { createDaemon } from "./daemon-lifecycle.js";
import { loadDaemonConfig } from "./daemon-options.js";
import { openDaemonPorts, prepareTun } from "./daemon-ports.js";
import { EXIT_INIT, EXIT_USAGE } from "./exit-codes.js";
import { KernelSetup } from "./kernel-setup.js";
import { deviceIpv4, deviceMtu } from "./net-device.js";
import { refuseToStart } from "./preflight.js";
import { createLogger, type Logger } from "../log/logger.js";

export const CPE_USAGE = `usage: 6to4-pmt cpe [--config FILE.json] [--OPTION VALUE ...]
Runs the 6to4(-PMT) CPE: tunnels LAN IPv6 to the relay (default 192.88.99.1, RFC 3068) over a TUN
and raw protocol-41 sockets; with --provider-prefix the LAN uses the translated provider /64
(RFC 6732). Options are the UCI options of the 'cpe' section with _ -> - (listed below), e.g.
  --enabled --wan-device wan0 --wan-ipv4 100.64.0.2 --allow-ipv4 100.64.0.0/10
  --provider-prefix 2001:db8::/32 --lan-device br-lan --tunnel-mtu 1480
-c FILE = --config FILE, -l LEVEL = --log-level LEVEL, -f: log to stderr (always).
SIGTERM/SIGINT stop (routes and TUN removed), SIGUSR1 logs the counters.
Exit: 0 ok, 1 runtime failure, 2 bad option, 3 not root, 4 TUN/socket/addon init failed.`;

/** What the CPE derived from its options at start (also for the control plane and status). */
export interface CpePlan {
  /** 0 while no WAN address is known (forwarding off until the control plane learns one). */
  wanIpv4: number;
  tunnelMtu: number;
  mapping: PmtMapping | null;
  /** The router's address on the TUN and the source of its ICMPv6 errors (null: no WAN yet). */
  routerAddress: Uint8Array | null;
  state: CpeForwardingState;
}

/**
 * Steps 2-3: derive the forwarding snapshot from the options. Without a WAN address yet (no
 * `wan_ipv4`, none on `wan_device`) forwarding starts off; the control plane swaps a snapshot in
 * when it learns one (control/cpe-control.ts). @throws ConfigError
 */
export function planCpe(cfg: CpeConfig): CpePlan {
  let wanIpv4 = cfg.wanIpv4;
  if (wanIpv4 === null) {
    const learned = deviceIpv4(cfg.wanDevice);
    wanIpv4 = learned === undefined ? null : parseIpv4(learned);
  }
  const tunnelMtu = effectiveTunnelMtu(cfg, deviceMtu(cfg.wanDevice));
  if (wanIpv4 === null) {
    const state = createCpeForwardingState({
      enabled: false,
      ownIpv4: 0,
      relays: cfg.relay,
      tunnelMtu,
      direct6to4: cfg.direct6to4,
      allowIpv4: cfg.allowIpv4,
    });
    return { wanIpv4: 0, tunnelMtu, mapping: null, routerAddress: null, state };
  }
  let mapping: PmtMapping | null = null;
  let routerAddress = sixToFourRouterAddress(wanIpv4);
  if (cfg.providerPrefix !== null) {
    mapping = createPmtMapping({
      providerPrefix: cfg.providerPrefix,
      ipv4PrefixLen: cfg.ipv4PrefixLen,
      ipv4CommonPrefix: wanIpv4,
      sla: cfg.sla,
    });
    const lan64 = mapping.translatedLan64(wanIpv4);
    if (lan64 === null) {
      throw new ConfigError(
        `--wan-ipv4: ${formatIpv4(wanIpv4)} is outside the mapping's IPv4 common prefix`,
        "--wan-ipv4",
      );
    }
    routerAddress = Uint8Array.from(lan64);
    routerAddress[15] = 1;
  }
  const state = createCpeForwardingState({
    enabled: true,
    ownIpv4: wanIpv4,
    relays: cfg.relay,
    relayIpv4: cfg.relay[0],
    tunnelMtu,
    direct6to4: cfg.direct6to4,
    mapping,
    allowIpv4: cfg.allowIpv4,
    icmpSource: routerAddress,
  });
  return { wanIpv4, tunnelMtu, mapping, routerAddress, state };
}

/** Runs the subcommand with `args` (after "cpe"); resolves with the exit code. */
export async function runCpe(args: readonly string[]): Promise<number> {
  const cfg = loadDaemonConfig("cpe", args, CPE_USAGE, (parsed) =>
    parseCpeConfig(parsed.flags, parsed.configPath),
  );
  if (typeof cfg === "number") return cfg;
  const log = createLogger(cfg.logLevel, "cpe");
  const refused = refuseToStart(
    log,
    cfg.enabled,
    "6to4 is disabled (enabled=0, RFC 7526 §5); set --enabled / option enabled '1'",
  );
  if (refused !== undefined) return refused;
  let plan: CpePlan;
  try {
    plan = planCpe(cfg);
  } catch (e) {
    if (e instanceof ConfigError) {
      log.error(e.message);
      return EXIT_USAGE;
    }
    throw e;
  }
  return runCpeWithPlan(cfg, plan, log);
}

async function runCpeWithPlan(cfg: CpeConfig, plan: CpePlan, log: Logger): Promise<number> {
  const rawOptions = cfg.wanDevice !== null ? { device: cfg.wanDevice } : {};
  const ports = openDaemonPorts(log, cfg.tunName, plan.tunnelMtu, rawOptions);
  if (ports === undefined) return EXIT_INIT;
  const k = new KernelSetup(log);
  const dev = ports.tun.name;
  prepareTun(dev, log);
  const addr = plan.routerAddress === null ? "(none yet)" : formatIpv6(plan.routerAddress);
  if (plan.routerAddress !== null) k.addAddress128(addr, dev);
  const route = formatIpv6Prefix(cfg.defaultRoute);
  k.addRoute(route, dev);
  if (cfg.direct6to4 && route !== "2002::/16") k.addRoute("2002::/16", dev);
  const { daemon, exiting } = createDaemon(CpeDaemon, ports, plan.state, log);
  const mode = plan.mapping
    ? `PMT LAN mode, provider ${formatIpv6Prefix(plan.mapping.providerPrefix)}`
    : cfg.providerPrefix !== null
      ? `PMT LAN mode, provider ${formatIpv6Prefix(cfg.providerPrefix)}`
      : "plain 6to4";
  if (plan.wanIpv4 === 0) {
    log.warn(
      `wan ${cfg.wanDevice ?? cfg.wanInterface}: no IPv4 address yet; forwarding off until one is learned`,
    );
  }
  log.info(
    `cpe up: wan ${plan.wanIpv4 === 0 ? "none" : formatIpv4(plan.wanIpv4)} tun ${dev} mtu ${plan.tunnelMtu} address ${addr} ` +
      `relay ${formatIpv4(plan.state.relayIpv4)} direct-6to4 ${cfg.direct6to4 ? "on" : "off"}, ${mode}`,
  );
  daemon.start();
  // Control plane (module/control/cpe-control.ts): follows the WAN and DHCP, advertises the LAN
  // prefix, health-checks the tunnel, serves `6to4-pmt status`; swaps the forwarding state in.
  let control: CpeControl;
  try {
    control = await startCpeControl({
      config: cfg,
      log,
      version: VERSION,
      daemon,
      tunName: dev,
      initialTunAddress: plan.routerAddress,
      openNdSocket: (device, passTypes) => openIcmpV6({ device, passTypes }),
      prober: createEchoProber({
        open: (id) => openIcmpV6({ passTypes: [ICMPV6_ECHO_REPLY], echoIdentifier: id }),
        onError: (m) => log.warn(m),
      }),
      netdevFeatures: (device, names, want) => netdevFeatures(device, names, want),
      lowerDevices: (device) => lowerDevices(device),
      ...(process.env.PMT_DHCP_FILE ? { dhcpLeaseFile: process.env.PMT_DHCP_FILE } : {}),
    });
  } catch (e) {
    log.error(`control plane init failed: ${(e as Error).message}`);
    k.revert();
    daemon.stop();
    return EXIT_INIT;
  }
  const code = await exiting.done;
  await control.stop();
  k.revert();
  daemon.stop();
  log.info(`cpe stopped (exit ${code})`);
  return code;
}
