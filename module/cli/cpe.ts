/**
 * `6to4-pmt cpe [options] [--config file.json]`: the CPE daemon (composition root).
 *
 * Start-up:
 *  1. Options from flags and/or the JSON file (config/parse.ts; bad option -> exit 2). Root
 *     (exit 3). `enabled` off -> exit 0 (RFC 7526 §5: 6to4 is off until enabled). One CPE per
 *     network namespace (cli/instance-lock.ts; else exit 4 naming the running one). The files
 *     options name are safe to use (cli/file-checks.ts; else exit 2).
 *  2. Open the TUN (MTU: tunnel_mtu, else the WAN device's MTU - 20, never below 1280,
 *     RFC 4213 §3.2; up) and the raw protocol-41 socket (exit 4 on failure); with `wan_send
 *     packet` also an AF_PACKET send socket, used for the relay's packets once the control plane
 *     has resolved its next hop (control/wan-next-hop.ts).
 *  3. Build the data plane (dataplane/cpe-daemon.ts) with forwarding off, and start the control
 *     plane (control/cpe-control.ts): it learns the WAN, decides (control/decide.ts: PMT LAN
 *     mode or plain 6to4, the LAN /64, the relay), gives the TUN its router address and hands
 *     the data plane its first forwarding snapshot (exit 4 when it cannot start); it routes
 *     default_route (::/0) and, with direct 6to4 on, 2002::/16 into the TUN only while the data
 *     plane forwards (control/tun-routes.ts).
 *     With `dataplane kernel` (or auto where the kernel has sit and nft prefix NAT, probed with
 *     scratch objects: control/kernel-path.ts) steps 2-3 differ: no TUN, no socket; a sit
 *     device named tun_name is created instead and the control plane's snapshots program it,
 *     its routes and one nft table (control/kernel-path.ts); the kernel forwards.
 *  4. Run the data plane until SIGTERM/SIGINT: then stop the control plane (final RA), remove the
 *     routes, close the TUN (the kernel deletes it with its address) and the socket, exit 0; in
 *     kernel mode remove the nft table and the sit device (with its routes).
 *     SIGUSR1 logs the counters as one JSON line. A port that disappears -> exit 1.
 */
import { formatIpv6Prefix } from "../addr/ipv6.js";
import { parseCpeConfig, type CpeConfig } from "../config/parse.js";
import { CpeDaemon } from "../dataplane/cpe-daemon.js";
import { CPE_FORWARDING_DISABLED } from "../dataplane/forwarding-state.js";
import {
  ifIndexOf,
  lowerDevices,
  netdevFeatures,
  neighbourUse4,
  openIcmpV6,
  watchRouteEvents,
} from "../io/linux.js";
import { resolveNextHop4 } from "../io/linux.js";
import { WanNextHop } from "../control/wan-next-hop.js";
import { systemClock } from "../control/clock.js";
import { startCpeControl, type CpeControl } from "../control/cpe-control.js";
import { effectiveTunnelMtu } from "../control/decide.js";
import { createEchoProber } from "../control/echo-prober.js";
import { ICMPV6_ECHO_REPLY } from "../codec/constants.js";
import { VERSION } from "./version.js";
import { createDaemon, releaseStartupMemory, waitForExit } from "./daemon-lifecycle.js";
import { KernelPath, probeKernelPath, type DataplaneChoice } from "../control/kernel-path.js";
import { createCommandRunner } from "../control/wan-watcher.js";
import { loadDaemonConfig } from "./daemon-options.js";
import { openDaemonPorts, prepareTun } from "./daemon-ports.js";
import { EXIT_INIT, EXIT_USAGE } from "./exit-codes.js";
import { checkCpeFiles } from "./file-checks.js";
import { acquireInstanceLock } from "./instance-lock.js";
import { KernelSetup } from "./kernel-setup.js";
import { deviceMtu } from "./net-device.js";
import { refuseToStart } from "./preflight.js";
import { dropDaemonPrivileges, resolveDaemonUser } from "./privilege-drop.js";
import { trustDaemonUser } from "../control/safe-path.js";
import { createLogger, type Logger } from "../log/logger.js";

export const CPE_USAGE = `usage: 6to4-pmt cpe [--config FILE.json] [--OPTION VALUE ...]
Runs the 6to4(-PMT) CPE: tunnels LAN IPv6 to the relay (default 192.88.99.1, RFC 3068) over a TUN
and raw protocol-41 sockets; with --provider-prefix the LAN uses the translated provider /64
(RFC 6732). Options are the UCI options of the 'cpe' section with _ -> - (listed below), e.g.
  --enabled --wan-device wan0 --wan-ipv4 100.64.0.2 --allow-ipv4 100.64.0.0/10
  --provider-prefix 2001:db8::/32 --lan-device br-lan --tunnel-mtu 1480
-c FILE = --config FILE, -l LEVEL = --log-level LEVEL, -f: log to stderr (always).
--check-config: check the options, the --config file and the files they name only, print one
line, exit 0 or 2.
SIGTERM/SIGINT stop (routes and TUN removed), SIGUSR1 logs the counters.
Exit: 0 ok, 1 runtime failure, 2 bad option or unsafe file, 3 not root (capabilities missing),
4 TUN/socket/addon init failed, privilege drop failed or another cpe runs in this network
namespace.`;

/** Runs the subcommand with `args` (after "cpe"); resolves with the exit code. */
export async function runCpe(args: readonly string[]): Promise<number> {
  const cfg = loadDaemonConfig(
    "cpe",
    args,
    CPE_USAGE,
    (parsed) => parseCpeConfig(parsed.flags, parsed.configPath),
    (c) => {
      const ids = resolveDaemonUser(c.user);
      if (ids !== null && "error" in ids) return ids.error;
      // As at start: the user owns the package's state and run directories after the first start
      // (the init script and the privilege drop hand them over), and the check must accept them.
      if (ids !== null) trustDaemonUser(ids.uid);
      const files = checkCpeFiles(c);
      return "error" in files ? files.error : undefined;
    },
  );
  if (typeof cfg === "number") return cfg;
  const log = createLogger(cfg.logLevel, "cpe");
  const refused = refuseToStart(
    log,
    cfg.enabled,
    "6to4 is disabled (enabled=0, RFC 7526 §5); set --enabled / option enabled '1'",
    cfg.user,
  );
  if (refused !== undefined) return refused;
  const lock = await acquireInstanceLock("cpe", cfg.tunName);
  if ("running" in lock) {
    log.error(
      `another cpe is running in this network namespace (${lock.running}): ` +
        "a second one would tunnel the same traffic again; not starting",
    );
    return EXIT_INIT;
  }
  try {
    const user = resolveDaemonUser(cfg.user);
    if (user !== null && !("error" in user)) trustDaemonUser(user.uid);
    const files = checkCpeFiles(cfg);
    if ("error" in files) {
      process.stderr.write(`6to4-pmt: ${files.error}\n`);
      return EXIT_USAGE;
    }
    return await runCpeDaemon(files.cfg, log);
  } finally {
    lock.release();
  }
}

/** `dataplane`: userspace as configured, kernel as configured (if the kernel can), or auto. */
async function chooseDataplane(cfg: CpeConfig, log: Logger): Promise<DataplaneChoice | number> {
  if (cfg.dataplane === "userspace") {
    return { mode: "userspace", reason: "dataplane userspace" };
  }
  const probe = await probeKernelPath(createCommandRunner());
  if (cfg.dataplane === "kernel") {
    if (probe.ok) return { mode: "kernel", reason: `dataplane kernel; ${probe.reason}` };
    log.error(`dataplane kernel: ${probe.reason}; not starting (dataplane auto falls back)`);
    return EXIT_INIT;
  }
  return probe.ok
    ? { mode: "kernel", reason: `auto: ${probe.reason}` }
    : { mode: "userspace", reason: `auto: ${probe.reason}` };
}

async function runCpeDaemon(cfg: CpeConfig, log: Logger): Promise<number> {
  const choice = await chooseDataplane(cfg, log);
  if (typeof choice === "number") return choice;
  log.info(`data plane: ${choice.mode} (${choice.reason})`);
  if (choice.mode === "kernel") return runCpeKernel(cfg, log, choice);
  // The TUN opens with the MTU the WAN device has now; the control plane sets the plan's MTU
  // when the WAN it learns says otherwise.
  const tunMtu = effectiveTunnelMtu(cfg.tunnelMtu, cfg.wanMtu ?? deviceMtu(cfg.wanDevice) ?? null);
  const rawOptions = {
    ...(cfg.wanDevice !== null ? { device: cfg.wanDevice } : {}),
    ...(cfg.wanSend === "packet" ? { packetSend: true } : {}),
  };
  const ports = openDaemonPorts(log, cfg.tunName, tunMtu, rawOptions);
  if (ports === undefined) return EXIT_INIT;
  // wan_send packet: the next hop of the relay, resolved by the control plane (wan-next-hop.ts).
  const packetPath = ports.raw.packetPath;
  const wanDevice = cfg.wanDevice;
  const wanSend =
    packetPath === undefined
      ? undefined
      : new WanNextHop({
          path: packetPath,
          lookup: (dst, oif) => resolveNextHop4(dst, oif),
          neighUse: (ifindex, addr) => neighbourUse4(ifindex, addr),
          boundIfindex: () => (wanDevice !== null ? ifIndexOf(wanDevice) : 0),
          watch: (onChange, filter, onError) => watchRouteEvents(onChange, filter, onError),
          clock: systemClock,
          log,
        });
  const k = new KernelSetup(log);
  const dev = ports.tun.name;
  prepareTun(dev, log);
  const route = formatIpv6Prefix(cfg.defaultRoute);
  // The control plane installs these while the data plane forwards, withdraws them otherwise.
  const tunRoutes = cfg.direct6to4 && route !== "2002::/16" ? [route, "2002::/16"] : [route];
  // Forwarding starts off: the control plane decides and hands the data plane its first snapshot.
  const { daemon, exiting } = createDaemon(CpeDaemon, ports, CPE_FORWARDING_DISABLED, log);
  // Control plane (module/control/cpe-control.ts): follows the WAN and DHCP, decides, puts the
  // router address on the TUN, advertises the LAN prefix, health-checks the tunnel, serves
  // `6to4-pmt status`; swaps the forwarding state in.
  let control: CpeControl;
  try {
    control = await startCpeControl({
      config: cfg,
      log,
      version: VERSION,
      daemon,
      tunName: dev,
      tunMtu,
      tunRoutes,
      openNdSocket: (device, passTypes) => openIcmpV6({ device, passTypes }),
      prober: createEchoProber({
        open: (id) => openIcmpV6({ passTypes: [ICMPV6_ECHO_REPLY], echoIdentifier: id }),
        onError: (m) => log.warn(m),
      }),
      netdevFeatures: (device, names, want) => netdevFeatures(device, names, want),
      lowerDevices: (device) => lowerDevices(device),
      dataplaneMode: () => ({ ...choice, error: null }),
      ...(process.env.PMT_DHCP_FILE ? { dhcpLeaseFile: process.env.PMT_DHCP_FILE } : {}),
      ...(wanSend !== undefined ? { wanSend } : {}),
    });
  } catch (e) {
    log.error(`control plane init failed: ${(e as Error).message}`);
    wanSend?.stop();
    k.revert();
    ports.tun.close();
    ports.raw.close();
    return EXIT_INIT;
  }
  exiting.onForce(() => control.abandon());
  // Least privilege from here on (cli/privilege-drop.ts); a failed drop stops the daemon.
  if (!dropDaemonPrivileges("cpe", cfg.user, [cfg.stateFile, cfg.statusSocket], log)) {
    exiting.exit(EXIT_INIT);
  }
  log.info(
    `cpe up: tun ${dev} mtu ${tunMtu}, routes ${tunRoutes.join(" ")} while forwarding` +
      `, direct-6to4 ${cfg.direct6to4 ? "on" : "off"}, wan send ${cfg.wanSend}`,
  );
  daemon.start();
  wanSend?.start();
  releaseStartupMemory(log);
  const code = await exiting.done;
  wanSend?.stop();
  await control.stop();
  k.revert();
  daemon.stop();
  exiting.release();
  log.info(`cpe stopped (exit ${code})`);
  return code;
}

/**
 * Kernel mode: the sit device named tun_name, its routes and the nft table follow the control
 * plane's snapshots (control/kernel-path.ts); the daemon forwards nothing itself.
 */
async function runCpeKernel(cfg: CpeConfig, log: Logger, choice: DataplaneChoice): Promise<number> {
  const tunMtu = effectiveTunnelMtu(cfg.tunnelMtu, cfg.wanMtu ?? deviceMtu(cfg.wanDevice) ?? null);
  const dev = cfg.tunName;
  if (cfg.wanSend === "packet") log.info("wan_send packet: the kernel data plane sends itself");
  const kernel = new KernelPath({
    device: dev,
    defaultRoute: cfg.defaultRoute,
    runner: createCommandRunner(),
    log,
  });
  const err = await kernel.create();
  if (err !== null) {
    log.error(`sit ${dev}: ${err}`);
    return EXIT_INIT;
  }
  const exiting = waitForExit(log, () => kernel.counters());
  let control: CpeControl;
  try {
    control = await startCpeControl({
      config: cfg,
      log,
      version: VERSION,
      daemon: kernel,
      tunName: dev,
      tunMtu,
      // The kernel path routes into the sit itself (next hop ::RELAY).
      tunRoutes: [],
      openNdSocket: (device, passTypes) => openIcmpV6({ device, passTypes }),
      prober: createEchoProber({
        open: (id) => openIcmpV6({ passTypes: [ICMPV6_ECHO_REPLY], echoIdentifier: id }),
        onError: (m) => log.warn(m),
      }),
      netdevFeatures: (device, names, want) => netdevFeatures(device, names, want),
      lowerDevices: (device) => lowerDevices(device),
      dataplaneMode: () => ({ ...choice, error: kernel.error() }),
      ...(process.env.PMT_DHCP_FILE ? { dhcpLeaseFile: process.env.PMT_DHCP_FILE } : {}),
    });
  } catch (e) {
    log.error(`control plane init failed: ${(e as Error).message}`);
    await kernel.stop();
    exiting.release();
    return EXIT_INIT;
  }
  exiting.onForce(() => control.abandon());
  await kernel.settled();
  if (!dropDaemonPrivileges("cpe", cfg.user, [cfg.stateFile, cfg.statusSocket], log)) {
    exiting.exit(EXIT_INIT);
  }
  log.info(
    `cpe up: kernel data plane, sit ${dev} mtu ${tunMtu}, nft tables ip/ip6 sixto4pmt` +
      `, direct-6to4 ${cfg.direct6to4 ? "on" : "off"}`,
  );
  const code = await exiting.done;
  await control.stop();
  await kernel.stop();
  exiting.release();
  log.info(`cpe stopped (exit ${code})`);
  return code;
}
