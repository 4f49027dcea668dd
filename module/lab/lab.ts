/**
 * `6to4-pmt lab [--keep] [--down]`: the one-command demonstration. Builds the namespace topology of
 * topology.ts with the fixed names lan, cpe, isp, relay, inet, runs THIS bundle as the CPE
 * (PMT LAN mode, provider prefix 2001:db8::/32) and as the relay, then demonstrates:
 *   1. ping LAN host -> server 3fff:100::1 and server -> LAN host (both ways);
 *   2. a TCP transfer LAN host -> server (1500-byte LAN MTU over a 1480-byte tunnel: PMTUD);
 *   3. the source address the server saw: the translated P:V4ADDR::IID (RFC 6732 Figure 3);
 *   4. the daemons' counters;
 * and prints a verdict. Everything is torn down at the end, on Ctrl-C and on failure, unless
 * `--keep` (then it prints how to enter each namespace; `6to4-pmt lab --down` removes it).
 * Exit codes (cli/exit-codes.ts): 0 demonstration passed, 1 it failed, 2 usage, 3 not root.
 */
import { existsSync, readdirSync, rmSync } from "node:fs";
import { flagOn, lastValue, noPositionals, parseArgs, type FlagSpecs } from "../cli/args.js";
import { EXIT_NOT_ROOT, EXIT_OK, EXIT_RUNTIME } from "../cli/exit-codes.js";
import { ConfigError } from "../config/config-error.js";
import { createLogger } from "../log/logger.js";
import { runFleetLab } from "./fleet.js";
import { NetnsRegistry, removeMarkedNamespaces, type NsProcess } from "./netns.js";
import { buildLabTopology, labCpeArgs, labRelayArgs, LAB_SERVER } from "./topology.js";
import { spawnDaemon, waitDaemonReady, type LabTopology } from "./topology.js";
import { TCP_SINK_SCRIPT, TCP_SOURCE_SCRIPT } from "./traffic.js";

const LAB_USAGE = `usage: 6to4-pmt lab [--keep] [--down] [--bytes N]
Builds network namespaces lan - cpe - isp - relay - inet (root), runs this bundle as a 6to4-PMT CPE
and relay, pings and transfers over TCP from the LAN host to a server in 3fff::/20, shows the
translated source address the server saw, the counters and a verdict. Exit 0 only if it passed.
  --keep     leave everything running and print how to enter each namespace
  --down     remove a lab left by --keep
  --bytes N  size of the TCP transfer (default 4000000)
  --relays N instead: a fleet of N relays behind anycast with BIRD (6to4-pmt lab --relays 2 --help)`;

const LAB_ROLES = ["lan", "cpe", "isp", "relay", "inet"];
/** The namespaces the lab made, with their identity (netns.ts `markerFile`); root only. */
const LAB_MARKER = "/run/6to4-pmt/lab/namespaces";

interface Step {
  name: string;
  ok: boolean;
  detail: string;
}

const LAB_FLAGS: FlagSpecs = {
  keep: { kind: "boolean" },
  down: { kind: "boolean" },
  bytes: { kind: "string", expects: "a byte count 1..9999999999" },
  help: { kind: "boolean", short: "h" },
};

/** Runs the subcommand; resolves with the exit code. @throws ConfigError for a bad argument */
export async function runLab(args: readonly string[]): Promise<number> {
  // `--relays N`: the relay fleet behind anycast on BIRD (fleet.ts).
  if (args.some((a) => a === "--relays" || a.startsWith("--relays="))) return runFleetLab(args);
  const parsed = parseArgs(args, LAB_FLAGS);
  noPositionals(parsed, "expected only options (see 6to4-pmt lab --help)");
  if (flagOn(parsed, "help")) {
    process.stdout.write(LAB_USAGE + "\n");
    return EXIT_OK;
  }
  const keep = flagOn(parsed, "keep");
  const down = flagOn(parsed, "down");
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
  const reg = new NetnsRegistry({ prefix: "", markerFile: LAB_MARKER });
  if (down) {
    // Only the namespaces the lab made (recorded with their identity at creation): a namespace
    // named lan, cpe, ... that something else made is left alone.
    const { removed, leftAlone } = await removeMarkedNamespaces(reg, LAB_MARKER);
    for (const ns of removed) log.info(`namespace ${ns} removed`);
    for (const ns of leftAlone) log.warn(`namespace ${ns} left alone: not the one the lab made`);
    if (removed.length === 0 && leftAlone.length === 0) log.info(`no lab namespaces recorded`);
    // What the kept lab wrote to /tmp: the daemons' logs, the CPE's state file and socket
    // (named after the lab process that made them, labCpeFiles).
    const files = readdirSync("/tmp")
      .filter((f) => /^6to4-pmt-[0-9]+-cpe\.(state\.json|sock)$/.test(f))
      .map((f) => `/tmp/${f}`);
    for (const f of [logPath("relay"), logPath("cpe"), ...files]) rmSync(f, { force: true });
    return EXIT_OK;
  }
  const busy = LAB_ROLES.filter((r) => existsSync(`/run/netns/${r}`));
  if (busy.length > 0) {
    process.stderr.write(
      `6to4-pmt lab: namespaces ${busy.join(", ")} exist (a kept lab? 6to4-pmt lab --down removes the ones it made)\n`,
    );
    return EXIT_RUNTIME;
  }
  const command = [process.execPath, process.argv[1] ?? ""];
  let interrupted = false;
  const onSignal = (): void => {
    interrupted = true;
    log.warn("interrupted: tearing down");
    void reg.cleanup().then(() => process.exit(130));
  };
  process.once("SIGINT", onSignal);
  process.once("SIGTERM", onSignal);
  const steps: Step[] = [];
  let passed = false;
  try {
    log.info("building namespaces lan - cpe - isp - relay - inet");
    const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }], lanMtu: 1500 });
    const cpe = t.cpes[0]!;
    // Daemon logs go to files so that, with --keep, the daemons outlive this process.
    reg.removeOnCleanup(logPath("relay"));
    reg.removeOnCleanup(logPath("cpe"));
    const relay = spawnDaemon(
      reg,
      t.relays[0]!.ns,
      command,
      labRelayArgs(t.relays[0]!),
      logPath("relay"),
    );
    const cpeProc = spawnDaemon(reg, cpe.ns, command, labCpeArgs(cpe), logPath("cpe"));
    const ready = (await waitDaemonReady(reg, relay)) && (await waitDaemonReady(reg, cpeProc));
    steps.push({
      name: "daemons started",
      ok: ready,
      detail: ready ? "cpe and relay running" : "see logs below",
    });
    if (!ready) throw new LabFailure(daemonLogs(relay, cpeProc));
    if (interrupted) return 130;

    const ping1 = await reg.execAsync(
      cpe.lanNs,
      ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", LAB_SERVER],
      15000,
    );
    steps.push({
      name: `ping lan ${cpe.hostAddress} -> server ${LAB_SERVER}`,
      ok: ping1.code === 0,
      detail: pingSummary(ping1.stdout),
    });
    const ping2 = await reg.execAsync(
      t.inet,
      ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-I", LAB_SERVER, cpe.hostAddress],
      15000,
    );
    steps.push({
      name: `ping server -> lan ${cpe.hostAddress}`,
      ok: ping2.code === 0,
      detail: pingSummary(ping2.stdout),
    });

    const sink = reg.spawn(t.inet, [process.execPath, "-e", TCP_SINK_SCRIPT, LAB_SERVER, "5001"]);
    await reg.waitFor(() => sink.stdout().includes("listening") || sink.hasExited(), 5000);
    const src = await reg.execAsync(
      cpe.lanNs,
      [process.execPath, "-e", TCP_SOURCE_SCRIPT, LAB_SERVER, "5001", String(bytes)],
      55000,
    );
    await reg.waitFor(() => sink.hasExited(), 5000);
    const m = /peer (\S+) bytes (\d+)/.exec(sink.stdout());
    const seen = m?.[1] ?? "(nothing)";
    const got = Number(m?.[2] ?? 0);
    const ms = Number(/ms (\d+)/.exec(src.stdout)?.[1] ?? 0);
    const mbps = ms > 0 ? ((got * 8) / ms / 1000).toFixed(1) : "?";
    steps.push({
      name: `TCP transfer lan -> server (${bytes} bytes)`,
      ok: got === bytes,
      detail: `received ${got} bytes in ${ms} ms (${mbps} Mbit/s)`,
    });
    steps.push({
      name: "source address the server saw",
      ok: seen === cpe.expectedSourceAtServer,
      detail:
        `${seen} (expected ${cpe.expectedSourceAtServer}: the relay translated ` +
        `${wireAddress(cpe.wanIpv4, cpe.hostAddress)} on the IPv4 wire back to the provider prefix)`,
    });

    printCounters("relay", await counters(reg, relay));
    printCounters("cpe", await counters(reg, cpeProc));
    passed = steps.every((s) => s.ok);
    if (keep) printKeepHints(t);
  } catch (e) {
    steps.push({
      name: "lab",
      ok: false,
      detail: e instanceof LabFailure ? "daemon failed" : String(e),
    });
    if (e instanceof LabFailure) process.stderr.write(e.message + "\n");
  } finally {
    for (const s of steps)
      process.stdout.write(`${s.ok ? "PASS" : "FAIL"}  ${s.name}: ${s.detail}\n`);
    process.stdout.write(`verdict: ${passed ? "PASSED" : "FAILED"}\n`);
    if (keep && passed) {
      reg.release();
    } else {
      await reg.cleanup();
      log.info("namespaces removed");
    }
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  }
  return passed ? EXIT_OK : EXIT_RUNTIME;
}

class LabFailure extends Error {}

/** The LAN host's address as it travels inside protocol 41: 2002:V4ADDR:0::IID (Figure 3). */
function wireAddress(v4: string, host: string): string {
  const n = v4.split(".").map(Number);
  const iid = host.split("::")[1] ?? "";
  const w = (a: number, b: number): string => ((a << 8) | b).toString(16);
  return `2002:${w(n[0]!, n[1]!)}:${w(n[2]!, n[3]!)}::${iid}`;
}

/** Log file of a lab daemon (kept with --keep; the hints print them). */

function logPath(role: string): string {
  return `/tmp/6to4-pmt-lab-${role}.log`;
}

function daemonLogs(...ps: NsProcess[]): string {
  return ps
    .map((p) => `--- ${p.ns} (exit ${p.hasExited() ? "yes" : "no"}):\n${p.stderr()}`)
    .join("\n");
}

function pingSummary(out: string): string {
  const loss = /(\d+)% packet loss/.exec(out)?.[0] ?? "no reply";
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(out)?.[1];
  return rtt !== undefined ? `${loss}, avg rtt ${rtt} ms` : loss;
}

/** Asks a daemon for its counters (SIGUSR1 -> one `counters {json}` line on stderr). */
async function counters(
  reg: NetnsRegistry,
  p: NsProcess,
): Promise<Record<string, Record<string, number>> | null> {
  const before = p.stderr().length;
  reg.kill(p, "SIGUSR1");
  await reg.waitFor(() => /counters (\{.*\})/.test(p.stderr().slice(before)), 2000);
  const m = /counters (\{.*\})/.exec(p.stderr().slice(before));
  if (m === null) return null;
  try {
    return JSON.parse(m[1]!) as Record<string, Record<string, number>>;
  } catch {
    return null;
  }
}

function printCounters(name: string, c: Record<string, Record<string, number>> | null): void {
  if (c === null) {
    process.stdout.write(`${name} counters: unavailable\n`);
    return;
  }
  const nonzero = (o: Record<string, number> | undefined): string =>
    Object.entries(o ?? {})
      .filter(([, v]) => v !== 0)
      .map(([k, v]) => `${k}=${v}`)
      .join(" ") || "none";
  process.stdout.write(
    `${name} counters: ${nonzero(c.traffic)}\n${name} drops: ${nonzero(c.drops)}\n`,
  );
}

function printKeepHints(t: LabTopology): void {
  const lines = [
    "lab kept running; enter a namespace with:",
    `  ip netns exec ${t.cpes[0]!.lanNs} bash    # LAN host ${t.cpes[0]!.hostAddress}`,
    `  ip netns exec ${t.cpes[0]!.ns} bash    # CPE (WAN ${t.cpes[0]!.wanIpv4})`,
    `  ip netns exec ${t.isp} bash    # IPv4-only carrier network`,
    `  ip netns exec ${t.relays[0]!.ns} bash    # PMT relay (192.88.99.1)`,
    `  ip netns exec ${t.inet} bash    # Internet: server ${LAB_SERVER}`,
    `  e.g. ip netns exec ${t.cpes[0]!.lanNs} ping ${LAB_SERVER}`,
    `daemon logs: ${logPath("cpe")} ${logPath("relay")}`,
    "remove it with: 6to4-pmt lab --down",
  ];
  process.stdout.write(lines.join("\n") + "\n");
}
