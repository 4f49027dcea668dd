/**
 * `6to4-pmt status [--json] [--relay] [--status-socket PATH]`: asks the running CPE daemon (or,
 * with --relay or when only the relay's socket exists, the relay) over its status socket (root
 * only) and prints its state, first one line saying whether IPv6 works (status/verdict.ts) or
 * whether the relay runs. Exit codes (cli/exit-codes.ts), for monitors: 0 IPv6 works / the relay
 * runs, 6 degraded, 7 down / the relay is stopping, 5 no daemon running, 1 runtime failure (e.g.
 * permission denied), 2 usage error.
 */
import { readFileSync } from "node:fs";
import { asConfigError, ConfigError } from "../config/config-error.js";
import { queryStatusSocket } from "../status/server.js";
import { isRelaySnapshot, type RelayStatusSnapshot } from "../status/relay-snapshot.js";
import type { Ipv6Verdict, StatusSnapshot, WanSendSnapshot } from "../status/snapshot.js";
import { ipv6Verdict } from "../status/verdict.js";
import { flagOn, lastValue, noPositionals, parseArgs, type FlagSpecs } from "./args.js";
import {
  EXIT_IPV6_DEGRADED,
  EXIT_IPV6_DOWN,
  EXIT_NO_DAEMON,
  EXIT_OK,
  EXIT_RUNTIME,
  EXIT_USAGE,
} from "./exit-codes.js";

/** Default paths, as config/schema.ts `status_socket` of the cpe and the relay. */
const STATUS_SOCKET_DEFAULT = "/var/run/6to4-pmt/status.sock";
const RELAY_STATUS_SOCKET_DEFAULT = "/var/run/6to4-pmt/relay.sock";

const STATUS_USAGE = `usage: 6to4-pmt status [--json] [--relay] [--resolve] [--status-socket PATH | --config FILE.json]
Shows whether IPv6 works through the CPE (first line), then its state: WAN address and class,
prefixes, relays and where each value came from, tunnel health, Router Advertisements, counters.
With --relay (or when only the relay's socket exists): the relay's state, addresses, provider
prefix, customer policy and counters.
Exit: 0 IPv6 works (relay: running), 6 degraded, 7 down (relay: stopping), 5 no daemon running,
1 error, 2 usage. --json prints one JSON object in every case (errors: {"error", "exitCode"}).
The socket is --status-socket, else status_socket from --config, else /var/run/6to4-pmt/status.sock
(--relay: /var/run/6to4-pmt/relay.sock; never from UCI, which LuCI users may write: the OpenWrt
package uses the default).
--resolve (wan_send packet): the daemon resolves its AF_PACKET next hop now (the relay reads its
routing table again) and the "wan send" line shows the outcome; exit 0, 1 when it has none.`;

const STATUS_FLAGS: FlagSpecs = {
  json: { kind: "boolean" },
  relay: { kind: "boolean" },
  resolve: { kind: "boolean" },
  "status-socket": { kind: "string", expects: "a path" },
  /** Older spelling of --status-socket. */
  socket: { kind: "string", expects: "a path" },
  config: { kind: "string", short: "c", expects: "a JSON config file path" },
  help: { kind: "boolean", short: "h" },
};

/**
 * status_socket from a JSON config file (flat, or in its `cpe` / `relay` object); undefined when
 * absent. @throws ConfigError naming the file
 */
function socketFromJson(path: string, role: "cpe" | "relay"): string | undefined {
  let o: unknown;
  try {
    o = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw new ConfigError(`--config ${path}: ${(e as Error).message}`, "--config");
  }
  const top = o as Record<string, unknown> | null;
  const section = top?.[role] as Record<string, unknown> | null | undefined;
  const v = top?.status_socket ?? section?.status_socket;
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

/** Exit code for a verdict: what a monitor alerts on. */
function verdictExit(v: Ipv6Verdict): number {
  return v.level === "works"
    ? EXIT_OK
    : v.level === "degraded"
      ? EXIT_IPV6_DEGRADED
      : EXIT_IPV6_DOWN;
}

/** An error as --json prints it: one object on stdout with the message and the exit code. */
function jsonError(io: StatusIo, message: string, code: number): number {
  io.out(JSON.stringify({ error: message, exitCode: code }, null, 2) + "\n");
  return code;
}

/**
 * Runs the subcommand with `args` (after "status"); resolves with the exit code: 0 IPv6 works,
 * 6 degraded, 7 down (status/verdict.ts), 5 no daemon, 1 the socket could not be asked, 2 usage.
 * With --json, stdout is one JSON object in every case (errors: `{ "error", "exitCode" }`).
 * @throws ConfigError for a bad argument or an unreadable --config file (exit 2 in main), except
 *   with --json, where it is printed as JSON.
 */
export async function runStatus(args: readonly string[], io: StatusIo = stdio): Promise<number> {
  if (!args.includes("--json")) return queryAndPrint(args, io, false);
  try {
    return await queryAndPrint(args, io, true);
  } catch (e) {
    const usage = asConfigError(e);
    if (usage !== undefined) return jsonError(io, usage.message, EXIT_USAGE);
    return jsonError(io, (e as Error).message.split("\n")[0]!, EXIT_RUNTIME);
  }
}

async function queryAndPrint(
  args: readonly string[],
  io: StatusIo,
  json: boolean,
): Promise<number> {
  const parsed = parseArgs(args, STATUS_FLAGS);
  noPositionals(parsed, "expected only options (see 6to4-pmt status --help)");
  if (flagOn(parsed, "help")) {
    io.out(STATUS_USAGE + "\n");
    return EXIT_OK;
  }
  const fail = (message: string, code: number): number => {
    if (json) return jsonError(io, message, code);
    io.err(`6to4-pmt: ${message}\n`);
    return code;
  };
  const configPath = lastValue(parsed, "config");
  const relay = flagOn(parsed, "relay");
  const given =
    lastValue(parsed, "status-socket") ??
    lastValue(parsed, "socket") ??
    (configPath !== undefined ? socketFromJson(configPath, relay ? "relay" : "cpe") : undefined);
  let path = given ?? (relay ? RELAY_STATUS_SOCKET_DEFAULT : STATUS_SOCKET_DEFAULT);
  const resolve = flagOn(parsed, "resolve");
  const cmd = resolve ? "resolve" : "status";
  let answer: unknown;
  try {
    try {
      answer = await queryStatusSocket(path, cmd);
    } catch (e) {
      // No CPE socket where none was named: a relay host has only the relay's. When that is
      // missing too, the error names the CPE's path, as before.
      if (given !== undefined || relay || (e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
      try {
        answer = await queryStatusSocket(RELAY_STATUS_SOCKET_DEFAULT, cmd);
        path = RELAY_STATUS_SOCKET_DEFAULT;
      } catch (relayError) {
        if ((relayError as NodeJS.ErrnoException).code === "ENOENT") throw e;
        path = RELAY_STATUS_SOCKET_DEFAULT;
        throw relayError;
      }
    }
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? "";
    if (code === "ENOENT" || code === "ECONNREFUSED" || code === "ENOTSOCK") {
      return fail(`no daemon running (status socket ${path}: ${code})`, EXIT_NO_DAEMON);
    }
    if (code === "EACCES" || code === "EPERM") {
      return fail(`status socket ${path}: permission denied (root only)`, EXIT_RUNTIME);
    }
    return fail(`status socket ${path}: ${(e as Error).message}`, EXIT_RUNTIME);
  }
  if (answer === null || typeof answer !== "object") {
    return fail(`daemon answered: ${JSON.stringify(answer)}`, EXIT_RUNTIME);
  }
  if ("error" in answer) {
    const error = String((answer as { error: unknown }).error);
    if (resolve && error.startsWith("unknown command")) {
      return fail("nothing to resolve: the daemon does not run wan_send packet", EXIT_RUNTIME);
    }
    return fail(`daemon answered: ${error}`, EXIT_RUNTIME);
  }
  if (resolve) {
    const w = answer as WanSendSnapshot;
    io.out(
      json
        ? JSON.stringify({ ...w, exitCode: EXIT_OK }, null, 2) + "\n"
        : `wan send: ${wanSendText(w)}\n`,
    );
    return EXIT_OK;
  }
  if (isRelaySnapshot(answer)) {
    const code = answer.state === "running" ? EXIT_OK : EXIT_IPV6_DOWN;
    io.out(
      json
        ? JSON.stringify({ ...answer, exitCode: code }, null, 2) + "\n"
        : formatRelayStatus(answer),
    );
    return code;
  }
  const snapshot = answer as StatusSnapshot;
  // A daemon of an older version sends no verdict: work it out here.
  const verdict = snapshot.ipv6 ?? ipv6Verdict(snapshot);
  const code = verdictExit(verdict);
  io.out(
    json
      ? JSON.stringify({ ...snapshot, ipv6: verdict, exitCode: code }, null, 2) + "\n"
      : formatStatus({ ...snapshot, ipv6: verdict }),
  );
  return code;
}

/** Human-readable form, one fact per line. */

/** The `wan send` row (CPE and relay): the path in use, why, and its counts. */
function wanSendText(w: WanSendSnapshot): string {
  const hop = w.nextHop
    ? ` via ${w.nextHop.gateway} ${w.nextHop.lladdr} on ${w.nextHop.device}`
    : "";
  const r = w.routes;
  const watched = w.routeEvents !== undefined;
  const routes =
    r === undefined
      ? ""
      : `; routes: ${r.count ?? "over the cap,"} read` +
        `${r.kept !== undefined ? ` (${r.kept} for customers)` : ""} in ${r.ms} ms, ` +
        `${watched ? "on change and " : ""}every ${r.everyS} s`;
  const events = watched ? `, ${w.routeEvents} route events` : ", route changes not watched";
  return (
    `${w.configured}: ${w.active === "packet" ? "AF_PACKET" : "raw socket"}${hop} (${w.reason}); ` +
    `${w.packets} packets, ${w.fallbacks} fallbacks, ${w.unresolved} unresolved${events}${routes}`
  );
}

export function formatStatus(s: StatusSnapshot): string {
  const lines: string[] = [];
  const row = (k: string, v: string): void => {
    lines.push(`${(k + ":").padEnd(19)} ${v}`);
  };
  const src = (v: string, source: string): string => `${v} (${source})`;
  lines.push((s.ipv6 ?? ipv6Verdict(s)).line);
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
  if (s.dataplane) {
    row(
      "data plane",
      `${s.dataplane.mode} (${s.dataplane.reason})` +
        (s.dataplane.error ? `; error: ${s.dataplane.error}` : ""),
    );
  }
  if (s.wanSend) row("wan send", wanSendText(s.wanSend));
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

/** The relay's snapshot, human-readable: a first line saying whether it forwards, then one fact per line. */
export function formatRelayStatus(s: RelayStatusSnapshot): string {
  const lines: string[] = [];
  const row = (k: string, v: string): void => {
    lines.push(`${(k + ":").padEnd(19)} ${v}`);
  };
  const mode = s.providerPrefix !== null ? `PMT provider ${s.providerPrefix}` : "plain 6to4 relay";
  lines.push(
    s.state === "running"
      ? `relay running: protocol 41 on ${s.relayIpv4.join(", ")}, ${mode}`
      : `relay ${s.state}`,
  );
  row("state", s.state);
  row("version", `${s.version}, pid ${s.pid}, up ${formatDuration(s.uptimeS)}`);
  row("relay ipv4", s.relayIpv4.join(", "));
  row(
    "receive",
    (s.packetReceive ?? []).length > 0
      ? `AF_PACKET on ${s.packetReceive.join(", ")} (packet_receive), raw socket elsewhere`
      : "raw socket",
  );
  if (s.wanSend) row("wan send", wanSendText(s.wanSend));
  row("tun", `${s.tun.name} mtu ${s.tun.mtu}, address ${s.tun.address}`);
  row(
    "provider prefix",
    s.providerPrefix !== null
      ? `${s.providerPrefix} (ipv4 prefix len ${s.ipv4PrefixLen}, sla ${s.sla})`
      : "- (plain 6to4)",
  );
  row("routes into tun", s.routes.join(", "));
  row("customer policy", s.customerPolicy);
  row("customer ipv4", s.customerIpv4.join(", ") || "-");
  row("pmt customers", s.pmtCustomerIpv4.join(", ") || "-");
  row("opt-out", s.optOut.join(", ") || "-");
  row("other relays", s.otherRelays.join(", ") || "-");
  const a = s.announce;
  if (a === null) row("announcement", "off (announce_ipv4 not set: static routes)");
  else {
    row(
      "announcement",
      `${a.state === "announced" ? "up" : "withdrawn"} since ${a.since} ` +
        `(${formatDuration(a.sinceS)} ago): ${a.reason}; ${plural(a.changes, "change")}`,
    );
    if (a.upstream !== null) {
      row(
        "upstream",
        `${a.upstream.target ?? "-"} ${a.upstream.state}` +
          (a.upstream.state === "up" && a.upstream.lastRttMs !== null
            ? `, rtt ${a.upstream.lastRttMs.toFixed(2)} ms`
            : ""),
      );
    }
    row(
      "last error",
      a.lastError === null
        ? "none"
        : `${a.lastError.at} (${formatDuration(a.lastError.agoS)} ago): ${a.lastError.message}` +
            ` (${plural(a.errors, "error")} since the start)`,
    );
  }
  row("metrics", s.metrics ?? "off");
  const counters = [
    ...Object.entries(s.counters.traffic),
    ...Object.entries(s.counters.drops).map(([k, v]) => [`drop_${k}`, v] as const),
    ...Object.entries(s.counters.offload ?? {}),
  ].filter(([, v]) => v !== 0);
  if (counters.length === 0) row("counters", "all zero");
  else {
    lines.push("counters:");
    for (const [k, v] of counters) row(`  ${k}`, String(v));
  }
  const ranges = s.counters.customers ?? [];
  if (ranges.length > 0) lines.push("customer ranges:");
  for (const c of ranges) {
    row(
      `  ${c.range}`,
      `in ${c.in_packets} packets ${c.in_bytes} bytes, out ${c.out_packets} packets ${c.out_bytes} bytes`,
    );
  }
  const workers = s.counters.workers ?? [];
  if (workers.length > 0) lines.push("workers:");
  for (const w of workers) {
    row(
      `  ${w.worker}`,
      `in ${w.in_packets} packets, out ${w.out_packets} packets, drops ${w.drops}, thread ${w.tid}`,
    );
  }
  return lines.join("\n") + "\n";
}

function plural(n: number, word: string): string {
  return `${n} ${word}${n === 1 ? "" : "s"}`;
}

function formatDuration(s: number): string {
  const d = Math.floor(s / 86400);
  const h = Math.floor((s % 86400) / 3600);
  const m = Math.floor((s % 3600) / 60);
  const sec = Math.floor(s % 60);
  return (d > 0 ? `${d}d ` : "") + `${h}h ${m}m ${sec}s`;
}
