/**
 * What `6to4-pmt lab` and its OpenWrt mode (openwrt.ts) share: the namespace roles and their name
 * prefix, the marker and scratch locations, the report's helpers (ping summary, TCP transfer,
 * counters) and the failure type.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/config-error.js";
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

/** A step failed: `detail` for the report, the message (logs) for stderr. */
export class LabFailure extends Error {
  constructor(
    readonly detail: string,
    logs: string,
  ) {
    super(logs);
  }
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
