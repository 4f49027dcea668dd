/**
 * What `6to4-pmt lab` and its OpenWrt mode (openwrt.ts) share: the namespace roles and their name
 * prefix, the marker and scratch locations, the host checks, the run's scaffolding (scratch
 * directory, Ctrl-C teardown, the PASS/FAIL step printer: startLabRun), the report's helpers
 * (ping summary, TCP transfer, counters) and the failure type.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { EXIT_RUNTIME } from "../cli/exit-codes.js";
import { ConfigError } from "../config/config-error.js";
import type { Logger } from "../log/logger.js";
import type { NetnsRegistry, NsProcess } from "./netns.js";
import type { LabStep } from "./learning.js";
import { sixto4Address } from "./observe.js";
import { LAB_SERVER } from "./topology.js";
import { TCP_SINK_SCRIPT, TCP_SOURCE_SCRIPT } from "./traffic.js";

/** The lab's namespace roles (named prefix + role, see labNsPrefix). */
export const LAB_ROLES = ["lan", "cpe", "isp", "relay", "inet"];
/** The namespaces the lab made, with their identity (netns.ts `markerFile`); root only. */
export const LAB_MARKER = "/run/6to4-pmt/lab/namespaces";

export function onPath(tool: string): boolean {
  return spawnSync("sh", ["-c", `command -v ${tool}`], { stdio: "ignore" }).status === 0;
}

/** Scratch directories of lab runs: /tmp/6to4-pmt-lab-XXXXXX (mkdtemp). */
export const LAB_DIR_PREFIX = "/tmp/6to4-pmt-lab-";

/**
 * Prefix of the lab's namespace names: "" (lan, cpe, isp, relay, inet) unless the environment sets
 * PMT_LAB_NS_PREFIX (letters, digits, "-", at most 8 characters), so that a test or a second lab
 * on the same host does not take the reserved names. @throws ConfigError for another value
 */
export function labNsPrefix(env: NodeJS.ProcessEnv = process.env): string {
  const p = env.PMT_LAB_NS_PREFIX ?? "";
  if (!/^[A-Za-z0-9-]{0,8}$/.test(p)) {
    throw new ConfigError(
      `PMT_LAB_NS_PREFIX: expected up to 8 letters, digits or "-", got ${JSON.stringify(p)}`,
      "PMT_LAB_NS_PREFIX",
    );
  }
  return p;
}

/**
 * Why the host cannot run the lab, printed to stderr, with the exit code (EXIT_RUNTIME): a
 * program of `tools` ([program, Debian package]) is missing, or namespaces of the lab's names
 * exist. undefined when it can.
 */
export function labHostProblem(
  reg: NetnsRegistry,
  tools: ReadonlyArray<readonly [string, string]>,
): number | undefined {
  const missing = tools.filter(([tool]) => !onPath(tool));
  if (missing.length > 0) {
    process.stderr.write(
      `6to4-pmt lab: needs ${missing.map(([t, pkg]) => `${t} (Debian package ${pkg})`).join(", ")}\n`,
    );
    return EXIT_RUNTIME;
  }
  const busy = LAB_ROLES.map((r) => reg.name(r)).filter((ns) => existsSync(`/run/netns/${ns}`));
  if (busy.length > 0) {
    process.stderr.write(
      `6to4-pmt lab: namespaces ${busy.join(", ")} exist (a kept lab? 6to4-pmt lab --down removes the ones it made)\n`,
    );
    return EXIT_RUNTIME;
  }
  return undefined;
}

/** A step failed: `detail` for the report, the message (logs, may be empty) for stderr. */
export class LabFailure extends Error {
  constructor(
    readonly detail: string,
    logs = "",
  ) {
    super(logs);
  }
}

/** Exit code of a run ended by SIGINT or SIGTERM (128 + SIGINT, as a shell reports it). */
export const EXIT_INTERRUPTED = 130;

/** One lab run's scaffolding (startLabRun). */
export interface LabRun {
  /** The run's scratch directory (LAB_DIR_PREFIX + mkdtemp), removed by `teardown`. */
  readonly dir: string;
  /** The steps reported so far. */
  readonly steps: readonly LabStep[];
  /** True once SIGINT or SIGTERM arrived. */
  readonly interrupted: boolean;
  /**
   * Records a step and prints its PASS/FAIL line. After an interruption it does nothing: the
   * teardown kills what the step waited for, so its outcome says nothing.
   */
  step(s: LabStep): void;
  /** Reports what a run's `catch` caught as the failed step "lab", its logs on stderr. */
  fail(e: unknown): void;
  /** At least one step and every step passed. */
  passed(): boolean;
  /**
   * Kills the processes, deletes the namespaces and the scratch directory and drops the signal
   * handlers; the same promise on every call (the signal handler's and the run's own).
   */
  teardown(): Promise<void>;
  /** `--keep`: drops the signal handlers only; the namespaces, processes and files stay. */
  keep(): void;
}

/**
 * Starts a lab run on `reg`: makes the scratch directory and installs the SIGINT/SIGTERM handler
 * that stops reporting steps, tears everything down and then exits with EXIT_INTERRUPTED (the run
 * itself may be waiting on something the teardown killed; it never gets to report it). A repeated
 * signal during the teardown is ignored, so that it completes.
 */
export function startLabRun(reg: NetnsRegistry, log: Logger): LabRun {
  const dir = mkdtempSync(LAB_DIR_PREFIX);
  const steps: LabStep[] = [];
  let interrupted = false;
  let torn: Promise<void> | undefined;
  const dropHandlers = (): void => {
    process.removeListener("SIGINT", onSignal);
    process.removeListener("SIGTERM", onSignal);
  };
  const teardown = (): Promise<void> => {
    torn ??= reg.cleanup().then(() => {
      rmSync(dir, { recursive: true, force: true });
      dropHandlers();
    });
    return torn;
  };
  function onSignal(): void {
    if (interrupted) return;
    interrupted = true;
    log.warn("interrupted: tearing down");
    void teardown().then(() => process.exit(EXIT_INTERRUPTED));
  }
  process.on("SIGINT", onSignal);
  process.on("SIGTERM", onSignal);
  const step = (s: LabStep): void => {
    if (interrupted) return;
    steps.push(s);
    process.stdout.write(`${s.ok ? "PASS" : "FAIL"}  ${s.name}: ${s.detail}\n`);
  };
  return {
    dir,
    steps,
    get interrupted() {
      return interrupted;
    },
    step,
    fail(e) {
      step({ name: "lab", ok: false, detail: e instanceof LabFailure ? e.detail : String(e) });
      if (!interrupted && e instanceof LabFailure && e.message !== "")
        process.stderr.write(e.message + "\n");
    },
    passed: () => steps.length > 0 && steps.every((s) => s.ok),
    teardown,
    keep: dropHandlers,
  };
}

/** The last lines of a log file, headed by its name. */
export function fileTail(file: string): string {
  let text = "";
  try {
    text = readFileSync(file, "utf8");
  } catch {
    text = "(none)";
  }
  return `--- ${file}:\n${text.split("\n").slice(-30).join("\n")}`;
}

interface TcpResult {
  received: number;
  peer: string;
  detail: string;
}

/**
 * One TCP transfer of `bytes`: a sink listening on [sinkAddr]:port in `sinkNs`, a source in `srcNs`
 * connecting from `from` to [dst]:port. Resolves with what the sink received and the peer address it saw.
 */
export async function tcpTransfer(
  reg: NetnsRegistry,
  sinkNs: string,
  sinkAddr: string,
  srcNs: string,
  from: string,
  dst: string,
  port: number,
  bytes: number,
): Promise<TcpResult> {
  const sink = reg.spawn(sinkNs, [process.execPath, "-e", TCP_SINK_SCRIPT, sinkAddr, String(port)]);
  await reg.waitFor(() => sink.stdout().includes("listening") || sink.hasExited(), 5000);
  const src = await reg.execAsync(
    srcNs,
    [process.execPath, "-e", TCP_SOURCE_SCRIPT, dst, String(port), String(bytes), "0", from],
    55000,
  );
  await reg.waitFor(() => sink.hasExited(), 5000);
  reg.kill(sink, "SIGKILL");
  const m = /peer (\S+) bytes (\d+)/.exec(sink.stdout());
  const received = Number(m?.[2] ?? 0);
  const ms = Number(/ms (\d+)/.exec(src.stdout)?.[1] ?? 0);
  const mbps = ms > 0 ? ((received * 8) / ms / 1000).toFixed(1) : "?";
  return {
    received,
    peer: m?.[1] ?? "(nothing)",
    detail: `received ${received} bytes in ${ms} ms (${mbps} Mbit/s) from ${m?.[1] ?? "nobody"}`,
  };
}

export function pingSummary(out: string): string {
  const loss = /(\d+)% packet loss/.exec(out)?.[0] ?? "no reply";
  const rtt = /= [\d.]+\/([\d.]+)\//.exec(out)?.[1];
  return rtt !== undefined ? `${loss}, avg rtt ${rtt} ms` : loss;
}

/** Asks a daemon for its counters (SIGUSR1 -> one `counters {json}` line on stderr). */
export async function counters(
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

export function printCounters(
  name: string,
  c: Record<string, Record<string, number>> | null,
): void {
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

/**
 * The traffic steps both lab modes run once the LAN host has its address `host`: ping both ways,
 * TCP of `bytes` from the LAN host to the server, and the source address the server saw (the
 * relay must have translated the 6to4 form of `host`, built from `wanIpv4`, back to it). Returns
 * the TCP result.
 */
export async function outboundTrafficSteps(
  reg: NetnsRegistry,
  o: { lanNs: string; serverNs: string; host: string; wanIpv4: string; bytes: number },
  step: (s: LabStep) => void,
): Promise<TcpResult> {
  const ping1 = await reg.execAsync(
    o.lanNs,
    ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", LAB_SERVER],
    15000,
  );
  step({
    name: `ping lan ${o.host} -> server ${LAB_SERVER}`,
    ok: ping1.code === 0,
    detail: pingSummary(ping1.stdout),
  });
  const ping2 = await reg.execAsync(
    o.serverNs,
    ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", "-I", LAB_SERVER, o.host],
    15000,
  );
  step({
    name: `ping server -> lan ${o.host}`,
    ok: ping2.code === 0,
    detail: pingSummary(ping2.stdout),
  });
  const up = await tcpTransfer(
    reg,
    o.serverNs,
    LAB_SERVER,
    o.lanNs,
    o.host,
    LAB_SERVER,
    5001,
    o.bytes,
  );
  step({
    name: `TCP lan -> server (${o.bytes} bytes)`,
    ok: up.received === o.bytes,
    detail: up.detail,
  });
  const wire = sixto4Address(o.wanIpv4, o.host) ?? "?";
  step({
    name: "source address the server saw",
    ok: up.peer === o.host,
    detail:
      `${up.peer} (expected the LAN host's ${o.host}: the relay translated ` +
      `${wire} on the IPv4 wire back to the provider prefix)`,
  });
  return up;
}
