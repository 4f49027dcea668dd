/**
 * `6to4-pmt status [--json] [--status-socket PATH]`: asks the running CPE daemon over its status
 * socket (root only) and prints its state. Exit codes (cli/exit-codes.ts): 0 ok, 1 runtime
 * failure (e.g. permission denied), 2 usage error, 5 no daemon running.
 */
import { readFileSync } from "node:fs";
import { ConfigError } from "../config/config-error.js";
import { queryStatusSocket } from "../status/server.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import { flagOn, lastValue, noPositionals, parseArgs, type FlagSpecs } from "./args.js";
import { EXIT_NO_DAEMON, EXIT_OK, EXIT_RUNTIME } from "./exit-codes.js";

/** Default path, as config/schema.ts `status_socket`. */
const STATUS_SOCKET_DEFAULT = "/var/run/6to4-pmt/status.sock";

const STATUS_USAGE = `usage: 6to4-pmt status [--json] [--status-socket PATH | --config FILE.json]
Shows the running CPE daemon's state: WAN address and class, prefixes, relays and where each
value came from, tunnel health, Router Advertisements, counters. Exit 5 when no daemon runs.
The socket is --status-socket, else status_socket from --config, else /var/run/6to4-pmt/status.sock
(never from UCI, which LuCI users may write: the OpenWrt package uses the default).`;

const STATUS_FLAGS: FlagSpecs = {
  json: { kind: "boolean" },
  "status-socket": { kind: "string", expects: "a path" },
  /** Older spelling of --status-socket. */
  socket: { kind: "string", expects: "a path" },
  config: { kind: "string", short: "c", expects: "a JSON config file path" },
  help: { kind: "boolean", short: "h" },
};

/** status_socket from a JSON config file; undefined when absent. @throws ConfigError naming the file */
function socketFromJson(path: string): string | undefined {
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`--config ${path}: ${(e as Error).message}`, "--config");
  }
  const v = (o as Record<string, unknown> | null)?.status_socket;
  return typeof v === "string" && v !== "" ? v : undefined;
}

export interface StatusIo {
  out(text: string): void;
  err(text: string): void;
}

const stdio: StatusIo = {
  out: (t) => process.stdout.write(t),
  err: (t) => process.stderr.write(t),
};

/**
 * Runs the subcommand with `args` (after "status"); resolves with the exit code.
 * @throws ConfigError for a bad argument or an unreadable --config file (exit 2 in main).
 */
export async function runStatus(args: readonly string[], io: StatusIo = stdio): Promise<number> {
  const parsed = parseArgs(args, STATUS_FLAGS);
  noPositionals(parsed, "expected only options (see 6to4-pmt status --help)");
  if (flagOn(parsed, "help")) {
    io.out(STATUS_USAGE + "\n");
    return EXIT_OK;
  }
  const json = flagOn(parsed, "json");
  const configPath = lastValue(parsed, "config");
  const path =
    lastValue(parsed, "status-socket") ??
    lastValue(parsed, "socket") ??
    (configPath !== undefined ? socketFromJson(configPath) : undefined) ??
    STATUS_SOCKET_DEFAULT;
  let answer: unknown;
  try {
    answer = await queryStatusSocket(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTSOCK") {
      io.err(`6to4-pmt: no daemon running (status socket ${path}: ${code})\n`);
      return EXIT_NO_DAEMON;
    }
    if (code === "EACCES" || code === "EPERM") {
      io.err(`6to4-pmt: status socket ${path}: permission denied (root only)\n`);
      return EXIT_RUNTIME;
    }
    io.err(`6to4-pmt: status socket ${path}: ${(e as Error).message}\n`);
    return EXIT_RUNTIME;
  }
  if (answer && typeof answer === "object" && "error" in answer) {
    io.err(`6to4-pmt: daemon answered: ${String((answer as { error: unknown }).error)}\n`);
    return EXIT_RUNTIME;
  }
  io.out(json ? JSON.stringify(answer, null, 2) + "\n" : formatStatus(answer as StatusSnapshot));
  return EXIT_OK;
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
