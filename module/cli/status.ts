/**
 * `6to4-pmt status [--json] [--status-socket PATH]`: asks the running CPE daemon over its status
 * socket (root only) and prints its state. Exit codes (CONTRACTS.md): 0 ok, 1 runtime failure
 * (e.g. permission denied), 2 usage error, 5 no daemon running.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { queryStatusSocket } from "../status/server.js";
import type { StatusSnapshot } from "../status/snapshot.js";

/** Default path, as config/schema.ts `status_socket`. */
export const STATUS_SOCKET_DEFAULT = "/var/run/6to4-pmt.sock";

export const STATUS_USAGE = `usage: 6to4-pmt status [--json] [--status-socket PATH | --config FILE.json]
Shows the running CPE daemon's state: WAN address and class, prefixes, relays and where each
value came from, tunnel health, Router Advertisements, counters. Exit 5 when no daemon runs.
The socket is --status-socket, else status_socket from --config, else UCI 6to4-pmt.cpe, else
/var/run/6to4-pmt.sock.`;

/** UCI file of the OpenWrt package. */
const UCI_CONFIG = "/etc/config/6to4-pmt";

/** status_socket from a JSON config file; undefined when absent. @throws Error naming the file */
function socketFromJson(path: string): string | undefined {
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new Error(`--config ${path}: ${(e as Error).message}`);
  }
  const v = (o as Record<string, unknown> | null)?.status_socket;
  return typeof v === "string" && v !== "" ? v : undefined;
}

/** status_socket from UCI (OpenWrt), when the package's config exists. */
function socketFromUci(): string | undefined {
  if (!existsSync(UCI_CONFIG)) return undefined;
  const r = spawnSync("uci", ["-q", "get", "6to4-pmt.cpe.status_socket"], { encoding: "utf8" });
  const v = r.status === 0 ? r.stdout.trim() : "";
  return v !== "" ? v : undefined;
}

export interface StatusIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: StatusIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/** Runs the subcommand with `args` (after "status"); resolves with the exit code. */
export async function runStatus(args: readonly string[], io: StatusIo = stdio): Promise<number> {
  let json = false;
  let path: string | undefined;
  let configPath: string | undefined;
  for (let i = 0; i < args.length; i++) {
    const a = args[i]!;
    if (a === "--json") json = true;
    else if (a === "--status-socket" || a === "--socket") {
      const v = args[++i];
      if (v === undefined) {
        io.err(`6to4-pmt: ${a}: expected a path\n`);
        return 2;
      }
      path = v;
    } else if (a.startsWith("--status-socket=")) path = a.slice("--status-socket=".length);
    else if (a === "--config" || a === "-c") {
      configPath = args[++i];
      if (configPath === undefined) {
        io.err(`6to4-pmt: ${a}: expected a JSON config file path\n`);
        return 2;
      }
    } else if (a.startsWith("--config=")) configPath = a.slice("--config=".length);
    else if (a === "-h" || a === "--help") {
      io.out(STATUS_USAGE + "\n");
      return 0;
    } else {
      io.err(`6to4-pmt status: unknown argument "${a}"\n${STATUS_USAGE}\n`);
      return 2;
    }
  }
  if (path === undefined) {
    try {
      path =
        (configPath !== undefined ? socketFromJson(configPath) : socketFromUci()) ??
        STATUS_SOCKET_DEFAULT;
    } catch (e) {
      io.err(`6to4-pmt: ${(e as Error).message}\n`);
      return 2;
    }
  }
  let answer: unknown;
  try {
    answer = await queryStatusSocket(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTSOCK") {
      io.err(`6to4-pmt: no daemon running (status socket ${path}: ${code})\n`);
      return 5;
    }
    if (code === "EACCES" || code === "EPERM") {
      io.err(`6to4-pmt: status socket ${path}: permission denied (root only)\n`);
      return 1;
    }
    io.err(`6to4-pmt: status socket ${path}: ${(e as Error).message}\n`);
    return 1;
  }
  if (answer && typeof answer === "object" && "error" in answer) {
    io.err(`6to4-pmt: daemon answered: ${String((answer as { error: unknown }).error)}\n`);
    return 1;
  }
  io.out(json ? JSON.stringify(answer, null, 2) + "\n" : formatStatus(answer as StatusSnapshot));
  return 0;
}

/** Human-readable form, one fact per line. */
export function formatStatus(s: StatusSnapshot): string {
  const lines: string[] = [];
  const row = (k: string, v: string): void => {
    lines.push(`${(k + ":").padEnd(19)} ${v}`);
  };
  const src = (v: string, source: string): string => `${v} (${source})`;
  row("state", s.state + (s.stateReason ? ` (${s.stateReason})` : ""));
  row("version", `${s.version}, pid ${s.pid}, up ${formatDuration(s.uptimeS)}`);
  row(
    "wan",
    `${s.wan.device ?? "?"} ${s.wan.ipv4 ?? "no IPv4 address"}` +
      (s.wan.ipv4Class ? ` [${s.wan.ipv4Class}]` : "") +
      ` (${s.wan.ipv4Source}), mtu ${s.wan.mtu} (${s.wan.mtuSource})`,
  );
  row("6to4 prefix", s.sixto4Prefix ?? "-");
  row("lan prefix", s.lanPrefix ?? "-");
  row("translated prefix", s.translatedPrefix ?? "- (plain 6to4)");
  row("provider prefix", src(s.providerPrefix.value ?? "-", s.providerPrefix.source));
  row("ipv4 prefix len", src(String(s.ipv4PrefixLen.value), s.ipv4PrefixLen.source));
  row("relays", src(s.relays.value.join(", ") || "-", s.relays.source));
  row("relay in use", s.relayInUse ?? "-");
  row("tunnel mtu", String(s.tunnelMtu));
  row(
    "dhcp option 212",
    !s.dhcp.enabled
      ? "ignored (use_dhcp_6rd 0)"
      : s.dhcp.error
        ? `rejected: ${s.dhcp.error}`
        : (s.dhcp.option6rd ?? "none"),
  );
  const h = s.health;
  row(
    "health",
    `${h.state}, target ${h.target ?? "-"}, every ${h.intervalS} s, withdraw after ${h.failuresToWithdraw}` +
      `, failures ${h.consecutiveFailures}, ok ${h.probesOk}/${h.probesSent}` +
      (h.lastRttMs !== null && h.lastRttMs !== undefined
        ? `, rtt ${h.lastRttMs.toFixed(2)} ms`
        : "") +
      (h.lastOk ? `, last ok ${h.lastOk}` : ""),
  );
  const ra = s.ra;
  row(
    "router adverts",
    `${ra.mode} on ${ra.device}, sent ${ra.sent} (${ra.solicitedSent} solicited), last ${ra.lastSent ?? "never"}` +
      `, router lifetime ${ra.routerLifetimeS} s, preference ${ra.preference}, mtu ${ra.mtu}`,
  );
  for (const p of ra.prefixes) {
    row(
      "  prefix",
      p.deprecated
        ? `${p.prefix} deprecated (0/0) until ${p.deprecatedUntil ?? "?"}`
        : `${p.prefix} preferred ${p.preferredS} s, valid ${p.validS} s`,
    );
  }
  if (ra.notAdvertisedReason) row("  not advertised", ra.notAdvertisedReason);
  const counters = Object.entries(s.counters).filter(([, v]) => v !== 0);
  if (counters.length === 0) row("counters", "all zero");
  else {
    lines.push("counters:");
    for (const [k, v] of counters) row(`  ${k}`, String(v));
  }
  return lines.join("\n") + "\n";
}

function formatDuration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return (d > 0 ? `${d}d ` : "") + `${h}h ${m}m ${sec}s`;
}
