/**
 * `6to4-pmt lab [--keep] [--down]`: the one-command demonstration of the whole mission. Builds the
 * namespace topology of topology.ts with the fixed names lan, cpe, isp, relay, inet, runs THIS
 * bundle as the relay and as a CPE given only what a default OpenWrt config sets (enabled, device
 * names), then shows, one PASS/FAIL line per step:
 *   1. the carrier's DHCP (dnsmasq) leasing the CPE its WAN address in 100.64.0.0/10 and option 212
 *      (RFC 5969 §7.1.1: IPv4MaskLen 0, 2001:db8::/32, BR 192.88.99.1) to busybox udhcpc;
 *   2. the CPE learning provider prefix and relay from it, deriving 2002:V4ADDR::/48 and the
 *      translated /64 (RFC 6732 Figure 3), its health probe answered by the relay;
 *   3. the LAN host seeing the RA (rdisc6: prefix, MTU, router lifetime) and forming a SLAAC
 *      address in the translated /64 (learning.ts);
 *   4. ping and TCP both ways from that address, the source address the server saw;
 *   5. the daemons' counters;
 * and a verdict. Everything is torn down at the end, on Ctrl-C and on failure, unless `--keep`
 * (then it prints how to enter each namespace; `6to4-pmt lab --down` removes it).
 * Exit codes (cli/exit-codes.ts): 0 demonstration passed, 1 it failed, 2 usage, 3 not root.
 */
import { readdirSync, rmSync } from "node:fs";
import { join } from "node:path";
import { flagOn, lastValue, noPositionals, parseArgs, type FlagSpecs } from "../cli/args.js";
import { EXIT_NOT_ROOT, EXIT_OK, EXIT_RUNTIME } from "../cli/exit-codes.js";
import { ConfigError } from "../config/config-error.js";
import { createLogger } from "../log/logger.js";
import { runFleetLab } from "./fleet.js";
import { runOpenwrtLab } from "./openwrt.js";
import {
  counters,
  EXIT_INTERRUPTED,
  fileTail,
  LabFailure,
  LAB_MARKER,
  labHostProblem,
  labNsPrefix,
  outboundTrafficSteps,
  printCounters,
  startLabRun,
  tcpTransfer,
} from "./lab-common.js";
import { NetnsRegistry, removeMarkedNamespaces, type NsProcess } from "./netns.js";
import { runFaults } from "./faults.js";
import { dhcpLogs, runLearning } from "./learning.js";
import { buildLabTopology, labLearningCpeArgs, labRelayArgs, LAB_SERVER } from "./topology.js";
import { spawnDaemon, waitDaemonReady, type LabTopology } from "./topology.js";

const LAB_USAGE = `usage: 6to4-pmt lab [--keep] [--down] [--bytes N] [--faults]
Builds network namespaces lan - cpe - isp - relay - inet (root) and runs this bundle as a 6to4-PMT
CPE and relay. The carrier's DHCP server (dnsmasq) gives the CPE its WAN address and option 212;
the CPE advertises the translated prefix; the LAN host configures itself by SLAAC; ping and TCP go
both ways to a server in 3fff::/20. Prints each step as PASS/FAIL, the counters and a verdict.
Exit 0 only if every step passed. Needs dnsmasq, busybox (udhcpc) and rdisc6 (ndisc6).
  --keep     leave everything running and print how to enter each namespace
  --down     remove a lab left by --keep
  --bytes N  size of the TCP transfer (default 4000000)
  --faults   then renumber the WAN by a new DHCP lease and kill and restart the relay, timing
             what the LAN host sees (new prefix and address, default route withdrawn, restored)
  --relays N instead: a fleet of N relays behind anycast with BIRD (6to4-pmt lab --relays 2 --help)
  --openwrt-rootfs PATH  instead: the CPE inside a real OpenWrt x86-64 userland (directory or
             rootfs tarball), the project's ipks installed with its opkg (--openwrt-rootfs x --help)
Environment: PMT_LAB_NS_PREFIX=p1- names the namespaces p1-lan, p1-cpe, ... instead.`;

/** Programs the lab runs besides iproute2 and node, with the Debian package that has each. */
const LAB_TOOLS: ReadonlyArray<readonly [string, string]> = [
  ["dnsmasq", "dnsmasq-base"],
  ["busybox", "busybox"],
  ["rdisc6", "ndisc6"],
  ["ping", "iputils-ping"],
];

const LAB_FLAGS: FlagSpecs = {
  keep: { kind: "boolean" },
  faults: { kind: "boolean" },
  down: { kind: "boolean" },
  bytes: { kind: "string", expects: "a byte count 1..9999999999" },
  help: { kind: "boolean", short: "h" },
};

/** Runs the subcommand; resolves with the exit code. @throws ConfigError for a bad argument */
export async function runLab(args: readonly string[]): Promise<number> {
  // `--relays N`: the relay fleet behind anycast on BIRD (fleet.ts).
  if (args.some((a) => a === "--relays" || a.startsWith("--relays="))) return runFleetLab(args);
  // `--openwrt-rootfs PATH`: the CPE side in a real OpenWrt userland (openwrt.ts).
  if (args.some((a) => a === "--openwrt-rootfs" || a.startsWith("--openwrt-rootfs="))) {
    return runOpenwrtLab(args);
  }
  const parsed = parseArgs(args, LAB_FLAGS);
  noPositionals(parsed, "expected only options (see 6to4-pmt lab --help)");
  if (flagOn(parsed, "help")) {
    process.stdout.write(LAB_USAGE + "\n");
    return EXIT_OK;
  }
  const keep = flagOn(parsed, "keep");
  const down = flagOn(parsed, "down");
  const faults = flagOn(parsed, "faults");
  const bytesText = lastValue(parsed, "bytes") ?? "4000000";
  if (!/^[1-9][0-9]{0,9}$/.test(bytesText)) {
    throw new ConfigError(
      `--bytes: expected a byte count 1..9999999999, got ${JSON.stringify(bytesText)}`,
      "--bytes",
    );
  }
  const bytes = Number(bytesText);
  const log = createLogger("info", "lab");
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    process.stderr.write("6to4-pmt lab: must run as root (network namespaces)\n");
    return EXIT_NOT_ROOT;
  }
  const reg = new NetnsRegistry({ prefix: labNsPrefix(), markerFile: LAB_MARKER });
  if (down) {
    // Only the namespaces the lab made (recorded with their identity at creation): a namespace
    // named lan, cpe, ... that something else made is left alone.
    const { removed, leftAlone } = await removeMarkedNamespaces(reg, LAB_MARKER);
    for (const ns of removed) log.info(`namespace ${ns} removed`);
    for (const ns of leftAlone) log.warn(`namespace ${ns} left alone: not the one the lab made`);
    if (removed.length === 0 && leftAlone.length === 0) log.info(`no lab namespaces recorded`);
    // What the kept lab wrote to /tmp: the daemons' logs, the CPE's state file and socket
    // (named after the lab process that made them, labCpeFiles) and its scratch directory (lease files, udhcpc script, dnsmasq's files).
    const files = readdirSync("/tmp")
      .filter((f) => /^6to4-pmt-([0-9]+-cpe\.(state\.json|sock)|lab-[A-Za-z0-9]{6})$/.test(f))
      .map((f) => `/tmp/${f}`);
    for (const f of [logPath("relay"), logPath("cpe"), ...files])
      rmSync(f, { force: true, recursive: true });
    return EXIT_OK;
  }
  const problem = labHostProblem(reg, LAB_TOOLS);
  if (problem !== undefined) return problem;
  const command = [process.execPath, process.argv[1] ?? ""];
  // Scratch files of this run (udhcpc script, lease files, dnsmasq's pid and log): removed at the
  // end, or by `lab --down` after --keep.
  const run = startLabRun(reg, log);
  const { dir, step } = run;
  // The daemons whose counters end the report (also after a failed step: they tell why).
  const daemons: Array<[string, NsProcess]> = [];
  let kept = false;
  try {
    log.info("building namespaces lan - cpe - isp - relay - inet");
    const t = buildLabTopology(reg, {
      cpes: [{ index: 0, pmt: true }],
      lanMtu: 1500,
      dhcpWan: true,
      slaacLan: true,
    });
    const cpe = t.cpes[0]!;
    // Daemon logs go to files so that, with --keep, the daemons outlive this process.
    reg.removeOnCleanup(logPath("relay"));
    reg.removeOnCleanup(logPath("cpe"));
    const relayArgs = labRelayArgs(t.relays[0]!);
    const relay = spawnDaemon(reg, t.relays[0]!.ns, command, relayArgs, logPath("relay"));
    const leaseFile = join(dir, "dhcp.lease");
    const cpeProc = spawnDaemon(reg, cpe.ns, command, labLearningCpeArgs(cpe), logPath("cpe"), {
      ...process.env,
      PMT_DHCP_FILE: leaseFile,
    });
    daemons.push(["relay", relay], ["cpe", cpeProc]);
    const ready = (await waitDaemonReady(reg, relay)) && (await waitDaemonReady(reg, cpeProc));
    step({
      name: "daemons started",
      ok: ready,
      detail: ready
        ? "relay, and a CPE configured with device names only (enabled, wan0, lan0)"
        : "see logs below",
    });
    if (!ready) throw new LabFailure("daemon failed", daemonLogs(relay, cpeProc));
    if (run.interrupted) return EXIT_INTERRUPTED;

    const story = await runLearning(reg, t, cpe, dir, leaseFile, step);
    if (story === null) {
      throw new LabFailure(
        "stopped after the failed step",
        daemonLogs(cpeProc) + "\n" + dhcpLogs(dir).map(fileTail).join("\n"),
      );
    }
    const host = story.hostAddress;
    if (run.interrupted) return EXIT_INTERRUPTED;

    await outboundTrafficSteps(
      reg,
      { lanNs: cpe.lanNs, serverNs: t.inet, host, wanIpv4: story.wanIpv4, bytes },
      step,
    );
    const back = await tcpTransfer(reg, cpe.lanNs, host, t.inet, LAB_SERVER, host, 5002, bytes);
    step({
      name: `TCP server -> lan (${bytes} bytes)`,
      ok: back.received === bytes && back.peer === LAB_SERVER,
      detail: back.detail,
    });

    let keptHost = host;
    if (faults && run.passed()) {
      const after = await runFaults(
        {
          reg,
          t,
          cpe,
          dir,
          dhcpServer: story.dhcpServer,
          dhcpClient: story.dhcpClient,
          relay,
          startRelay: () => {
            const p = spawnDaemon(reg, t.relays[0]!.ns, command, relayArgs, logPath("relay"));
            daemons[0] = ["relay (since its restart)", p];
            return p;
          },
          hostAddress: host,
          wanIpv4: story.wanIpv4,
        },
        step,
      );
      if (after === null)
        step({ name: "faults", ok: false, detail: "stopped after the failed step" });
      else keptHost = after.hostAddress;
    }

    if (keep && run.passed()) {
      printKeepHints(t, keptHost, dir);
      kept = true;
    }
  } catch (e) {
    run.fail(e);
  } finally {
    if (!run.interrupted) {
      for (const [name, p] of daemons) {
        if (!p.hasExited()) printCounters(name, await counters(reg, p));
      }
      process.stdout.write(`verdict: ${run.passed() ? "PASSED" : "FAILED"}\n`);
    }
    if (kept) {
      reg.release();
      run.keep();
    } else {
      await run.teardown();
      log.info("namespaces removed");
    }
  }
  if (run.interrupted) return EXIT_INTERRUPTED;
  return run.passed() ? EXIT_OK : EXIT_RUNTIME;
}

function printKeepHints(t: LabTopology, host: string, dir: string): void {
  const lines = [
    "lab kept running; enter a namespace with:",
    `  ip netns exec ${t.cpes[0]!.lanNs} bash    # LAN host ${host} (SLAAC)`,
    `  ip netns exec ${t.cpes[0]!.ns} bash    # CPE (WAN ${t.cpes[0]!.wanIpv4} by DHCP, udhcpc)`,
    `  ip netns exec ${t.isp} bash    # IPv4-only carrier network (dnsmasq: DHCP, option 212)`,
    `  ip netns exec ${t.relays[0]!.ns} bash    # PMT relay (192.88.99.1)`,
    `  ip netns exec ${t.inet} bash    # Internet: server ${LAB_SERVER}`,
    `  e.g. ip netns exec ${t.cpes[0]!.lanNs} rdisc6 eth0`,
    `daemon logs: ${logPath("cpe")} ${logPath("relay")}; DHCP: ${dir}`,
    "remove it with: 6to4-pmt lab --down",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}

/**
 * Log file of a lab daemon (kept with --keep; the hints print them), named after the namespaces'
 * prefix so that a second lab on the host (PMT_LAB_NS_PREFIX) keeps its own.
 */
function logPath(role: string): string {
  return `/tmp/6to4-pmt-lab-${labNsPrefix()}${role}.log`;
}

function daemonLogs(...ps: NsProcess[]): string {
  return ps
    .map((p) => `--- ${p.ns} (exit ${p.hasExited() ? "yes" : "no"}):\n${p.stderr()}`)
    .join("\n");
}
