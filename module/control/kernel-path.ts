/**
 * The CPE's kernel data plane (`dataplane kernel`, or `auto` where the kernel can): the daemon
 * stays the control plane and programs the kernel instead of forwarding itself. It takes the
 * same forwarding snapshots the userspace data plane would (cpe-control.ts hands them over with
 * `setForwardingState`) and keeps three things in step with the latest one:
 *   1. the sit device named tun_name: `local` = V4ADDR, `remote any`, TTL 64, MTU = tunnel MTU;
 *   2. its routes: default_route via ::RELAY (onlink; sit takes the IPv4 from the next hop) and,
 *      with direct_6to4, 2002::/16 on the sit (embedded IPv4, RFC 3056 §5.3);
 *   3. nft tables of its own, `ip sixto4pmt` and `ip6 sixto4pmt` (dataplane/kernel-ruleset.ts):
 *      the PMT prefix translation and the RFC 3964 §5.1/§5.2 and RFC 6324 §3.3 checks with named
 *      counters on the drops.
 * A disabled snapshot (no WAN, refused) withdraws the routes and the table; a new one (WAN
 * change, relay switch) replaces them; `stop()` deletes the table and the sit device (its routes
 * go with it). Nothing else is touched: no other table, chain or route.
 *
 * Counters: read with `nft -j list counters` and the sit's own counts (`ip -s -s -j link`) only
 * when asked (status, SIGUSR1): nothing in the daemon runs per packet. A table that is replaced or
 * removed has its counts added to a base first, so they never go back (the sit device, and its
 * counts, stay until stop).
 *
 * `probeKernelPath` answers whether this kernel offers the kernel data plane at all: a scratch
 * sit device and an nft transaction with a prefix-NAT rule in a scratch table, both undone.
 */
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv4 } from "../addr/ipv4.js";
import { formatIpv6Prefix, type Ipv6Prefix } from "../addr/ipv6.js";
import type { CountersSnapshot } from "../dataplane/counters.js";
import type { CpeForwardingState } from "../dataplane/forwarding-state.js";
import {
  KERNEL_TABLE,
  NFT_COUNTERS_ARGV,
  kernelCounters,
  kernelRuleset,
  kernelRulesetRemoval,
  parseNftCounters,
  parseSitStats,
  sitDefaultRoute,
  sitStatsArgv,
  type KernelPathInput,
  type SitStats,
} from "../dataplane/kernel-ruleset.js";
import type { Logger } from "../log/logger.js";
import type { CommandRunner } from "./wan-watcher.js";

const CMD_TIMEOUT_MS = 10_000;
/** Counters read at most this often (status and the GRO watch both ask). */
const COUNTERS_CACHE_MS = 200;
const RETRY_MS = 5000;
/** The sit device's local address before the WAN address is known (see `create`). */
const PLACEHOLDER_LOCAL = "0.0.0.1";

/** Runs a command synchronously (counters for the synchronous status snapshot). */
export type SyncRunner = (argv: readonly string[]) => { code: number; stdout: string };

export const defaultSyncRunner: SyncRunner = (argv) => {
  const r = spawnSync(argv[0]!, argv.slice(1), { encoding: "utf8", timeout: CMD_TIMEOUT_MS });
  return { code: r.status ?? 127, stdout: r.stdout ?? "" };
};

/** The data plane in use and why (status). */
export interface DataplaneChoice {
  readonly mode: "kernel" | "userspace";
  readonly reason: string;
}

/** Writes `text` to a private temporary file, runs `nft -f` on it, removes it. */
export async function nftApply(runner: CommandRunner, text: string): Promise<string | null> {
  const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-nft-"));
  try {
    const file = join(dir, "ruleset.nft");
    writeFileSync(file, text, { mode: 0o600 });
    const r = await runner.run(["nft", "-f", file], CMD_TIMEOUT_MS);
    return r.code === 0 ? null : firstLine(r.stderr, `nft exited with ${r.code}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

function firstLine(text: string | undefined, fallback: string): string {
  const lines = (text ?? "").split("\n").filter((l) => l.trim() !== "");
  // nft prints "file:line:col: Error: ..." then the offending line: the first line says it.
  return lines[0]?.trim() || fallback;
}

/**
 * Whether the kernel can run the kernel data plane: sit (a scratch device) and nft prefix NAT
 * (a scratch table with `snat ip6 prefix to`, created and deleted in one transaction, so nothing
 * stays even for a moment after). Both are needed; the reason names what is missing.
 */
export async function probeKernelPath(
  runner: CommandRunner,
  scratch = `pmtprobe${process.pid % 100000}`,
): Promise<{ ok: boolean; reason: string }> {
  const table = `sixto4pmt_probe_${process.pid}`;
  const nftText = [
    `table ip6 ${table} {`,
    "\tchain p {",
    "\t\ttype nat hook postrouting priority srcnat; policy accept;",
    '\t\toifname "probe" ip6 saddr 2001:db8::/64 snat ip6 prefix to 2002:c000:201::/64',
    "\t}",
    "}",
    `delete table ip6 ${table}`,
    "",
  ].join("\n");
  const nftErr = await nftApply(runner, nftText).catch((e: Error) => e.message);
  const add = await runner.run(
    ["ip", "link", "add", "name", scratch, "type", "sit", "local", "192.0.2.1", "remote", "any"],
    CMD_TIMEOUT_MS,
  );
  if (add.code === 0) await runner.run(["ip", "link", "del", scratch], CMD_TIMEOUT_MS);
  const sitErr = add.code === 0 ? null : firstLine(add.stderr, `ip exited with ${add.code}`);
  if (sitErr === null && nftErr === null) {
    return { ok: true, reason: "the kernel has sit and nft prefix NAT" };
  }
  const missing = [
    ...(sitErr !== null ? [`no sit tunnel (ip link add type sit: ${sitErr})`] : []),
    ...(nftErr !== null ? [`no nft prefix NAT (${nftErr})`] : []),
  ];
  return { ok: false, reason: `the kernel has ${missing.join(" and ")}` };
}

interface KernelPathOptions {
  /** The sit device (tun_name). */
  readonly device: string;
  readonly defaultRoute: Ipv6Prefix;
  readonly runner: CommandRunner;
  readonly runSync?: SyncRunner;
  readonly log: Logger;
  /** Our table's name (tests use their own). */
  readonly table?: string;
}

/** What is in the kernel now. */
interface Applied {
  readonly ruleset: string;
  readonly routes: readonly string[][];
}

export class KernelPath {
  private readonly o: KernelPathOptions;
  private readonly table: string;
  private readonly runSync: SyncRunner;
  private wanted: CpeForwardingState | null = null;
  private applied: Applied | null = null;
  private tableExists = false;
  private deviceLocal: number | null = null;
  private queue: Promise<void> = Promise.resolve();
  private stopped = false;
  private retry: NodeJS.Timeout | null = null;
  private lastError: string | null = null;
  /** Counts of tables already replaced or removed, by nft counter name. */
  private readonly base: Record<string, number> = {};
  private cache: { atMs: number; raw: Record<string, number>; sit: SitStats | null } | null = null;

  constructor(options: KernelPathOptions) {
    this.o = options;
    this.table = options.table ?? KERNEL_TABLE;
    this.runSync = options.runSync ?? defaultSyncRunner;
  }

  /**
   * Creates the sit device (down, no address of its own, no router solicitations): it comes up
   * with the first snapshot that forwards. Until then its local address is 0.0.0.1, which no
   * packet is sent to: `local any remote any` would be the same tunnel as the kernel's fallback
   * device sit0 (refused: "File exists"), and the WAN address may not be known yet. Returns the
   * error text, or null.
   */
  async create(): Promise<string | null> {
    const { device, runner } = this.o;
    const add = await runner.run(
      ["ip", "link", "add", "name", device, "type", "sit", "local", PLACEHOLDER_LOCAL].concat([
        "remote",
        "any",
        "ttl",
        "64",
      ]),
      CMD_TIMEOUT_MS,
    );
    if (add.code !== 0) {
      const err = firstLine(add.stderr, `ip exited with ${add.code}`);
      return /File exists/.test(err)
        ? `${err}: a device ${device} exists already (left by a previous run? ip link del ${device})`
        : err;
    }
    await runner.run(["ip", "link", "set", "dev", device, "addrgenmode", "none"], CMD_TIMEOUT_MS);
    for (const key of ["accept_ra", "router_solicitations", "autoconf"]) {
      await runner.run(["sysctl", "-qw", `net.ipv6.conf.${device}.${key}=0`], CMD_TIMEOUT_MS);
    }
    return null;
  }

  /** Control plane: the snapshot to carry out (one assignment; the kernel follows in order). */
  setForwardingState(state: CpeForwardingState): void {
    if (this.stopped) return;
    this.wanted = state;
    this.enqueue();
  }

  /** Resolves when every change asked so far has run. */
  settled(): Promise<void> {
    return this.queue;
  }

  /** The last failure to program the kernel (retried), or null. */
  error(): string | null {
    return this.lastError;
  }

  /** The ruleset in the kernel now (null: none). */
  ruleset(): string | null {
    return this.applied?.ruleset ?? null;
  }

  /** Nothing reads 6in4 in user space here (cpe-control.ts wan_gro check): always 0. */
  groUnusable(): number {
    return 0;
  }

  counters(): CountersSnapshot {
    const now = Date.now();
    if (this.cache === null || now - this.cache.atMs > COUNTERS_CACHE_MS) {
      this.cache = {
        atMs: now,
        raw: this.tableExists ? this.readCounters() : {},
        sit: this.readSitStats(),
      };
    }
    const sum: Record<string, number> = { ...this.base };
    for (const [k, v] of Object.entries(this.cache.raw)) sum[k] = (sum[k] ?? 0) + v;
    return kernelCounters(sum, this.cache.sit);
  }

  /** Removes the table and the sit device (routes go with it). Safe twice. */
  async stop(): Promise<void> {
    if (!this.stopped) {
      this.stopped = true;
      if (this.retry !== null) clearTimeout(this.retry);
      this.queue = this.queue.then(async () => {
        await this.removeTable();
        const r = await this.o.runner.run(["ip", "link", "del", this.o.device], CMD_TIMEOUT_MS);
        if (r.code !== 0 && !/Cannot find device|does not exist/.test(r.stderr ?? "")) {
          this.o.log.warn(`sit ${this.o.device} not deleted: ${firstLine(r.stderr, "")}`);
        }
        this.applied = null;
      });
    }
    await this.queue;
  }

  private enqueue(): void {
    this.queue = this.queue.then(() => this.sync()).catch((e: Error) => this.failed(e.message));
  }

  private failed(message: string): void {
    if (message !== this.lastError) this.o.log.warn(`kernel data plane: ${message}; retrying`);
    this.lastError = message;
    if (this.retry === null && !this.stopped) {
      this.retry = setTimeout(() => {
        this.retry = null;
        this.enqueue();
      }, RETRY_MS);
      this.retry.unref?.();
    }
  }

  private readCounters(): Record<string, number> {
    const r = this.runSync(NFT_COUNTERS_ARGV);
    return r.code === 0 ? parseNftCounters(r.stdout, this.table) : {};
  }

  private readSitStats(): SitStats | null {
    const r = this.runSync(sitStatsArgv(this.o.device));
    return r.code === 0 ? parseSitStats(r.stdout) : null;
  }

  /** Adds the live table's counts to the base before the table goes. */
  private keepCounts(): void {
    if (!this.tableExists) return;
    for (const [k, v] of Object.entries(this.readCounters()))
      this.base[k] = (this.base[k] ?? 0) + v;
    this.cache = null;
  }

  private async removeTable(): Promise<void> {
    if (!this.tableExists) return;
    this.keepCounts();
    const err = await nftApply(this.o.runner, kernelRulesetRemoval(this.table));
    if (err !== null) this.o.log.warn(`nft tables ip/ip6 ${this.table} not removed: ${err}`);
    this.tableExists = false;
  }

  private async ip(args: readonly string[]): Promise<void> {
    const r = await this.o.runner.run(["ip", ...args], CMD_TIMEOUT_MS);
    if (r.code !== 0)
      throw new Error(`ip ${args.join(" ")}: ${firstLine(r.stderr, String(r.code))}`);
  }

  /** `ip -6 route del` of a route we added with `replace`; a missing route is no error. */
  private async delRoute(route: readonly string[]): Promise<void> {
    const del = route.map((a) => (a === "replace" ? "del" : a));
    await this.o.runner.run(["ip", ...del], CMD_TIMEOUT_MS);
  }

  private async sync(): Promise<void> {
    if (this.stopped) return;
    const s = this.wanted;
    const { device, log } = this.o;
    if (s === null || !s.enabled) {
      if (this.applied === null) return;
      for (const route of this.applied.routes) await this.delRoute(route);
      await this.removeTable();
      this.applied = null;
      log.info(`kernel data plane off: routes and nft tables ip/ip6 ${this.table} withdrawn`);
      return;
    }
    const input = kernelInput(device, this.o.defaultRoute, s);
    const ruleset = kernelRuleset(input, this.table);
    const routes = [sitDefaultRoute(input)];
    if (input.direct6to4 && !isWholeSixToFour(input.defaultRoute)) {
      routes.push(["-6", "route", "replace", "2002::/16", "dev", device]);
    }
    if (this.deviceLocal !== s.ownIpv4) {
      await this.ip(
        ["tunnel", "change", device, "mode", "sit", "local", formatIpv4(s.ownIpv4)].concat([
          "remote",
          "any",
          "ttl",
          "64",
        ]),
      );
      this.deviceLocal = s.ownIpv4;
    }
    // The table before the link and the routes: a flow that conntrack saw first without the
    // prefix NAT would keep going out untranslated (NAT is bound when a flow starts).
    if (this.applied?.ruleset !== ruleset) {
      this.keepCounts();
      const err = await nftApply(this.o.runner, ruleset);
      if (err !== null) throw new Error(`nft -f (tables ip/ip6 ${this.table}): ${err}`);
      this.tableExists = true;
      log.info(
        `kernel data plane: sit ${device} local ${formatIpv4(s.ownIpv4)}, default via ` +
          `::${formatIpv4(s.relayIpv4)}` +
          (routes.length > 1 ? ", 2002::/16 direct" : "") +
          `, nft tables ip/ip6 ${this.table}` +
          (input.nat ? `, ${fmt(input.nat.provider)} <-> ${fmt(input.nat.sixToFour)}` : ""),
      );
    }
    await this.ip(["link", "set", "dev", device, "mtu", String(s.tunnelMtu), "up"]);
    // Routes to prefixes no longer wanted go (a relay switch only changes a next hop: the
    // `replace` below covers it).
    for (const old of this.applied?.routes ?? []) {
      if (!routes.some((r) => r[3] === old[3])) await this.delRoute(old);
    }
    for (const r of routes) await this.ip(r);
    this.applied = { ruleset, routes };
    this.lastError = null;
  }
}

const fmt = formatIpv6Prefix;

function isWholeSixToFour(p: Ipv6Prefix): boolean {
  return formatIpv6Prefix(p) === "2002::/16";
}

/** The ruleset's input from a forwarding snapshot: the mapped /64 pair from its PMT mapping. */
export function kernelInput(
  device: string,
  defaultRoute: Ipv6Prefix,
  s: CpeForwardingState,
): KernelPathInput {
  let nat: KernelPathInput["nat"] = null;
  const m = s.mapping;
  if (m !== null) {
    // 2002:V4ADDR:SLA::/64 of the first mapped SLA, and the provider /64 it maps to.
    const six = new Uint8Array(16);
    six[0] = 0x20;
    six[1] = 0x02;
    six[2] = s.ownIpv4 >>> 24;
    six[3] = (s.ownIpv4 >>> 16) & 0xff;
    six[4] = (s.ownIpv4 >>> 8) & 0xff;
    six[5] = s.ownIpv4 & 0xff;
    six[6] = (m.sla >>> 8) & 0xff;
    six[7] = m.sla & 0xff;
    const provider = six.slice();
    if (m.sixToFourToProvider(provider, 0)) {
      nat = { provider: { addr: provider, len: 64 }, sixToFour: { addr: six, len: 64 } };
    }
  }
  return {
    device,
    ownIpv4: s.ownIpv4,
    relays: s.relays.concat(relaysAccepted(s)),
    relayIpv4: s.relayIpv4,
    allowIpv4: s.allowIpv4,
    direct6to4: s.direct6to4,
    defaultRoute,
    mtu: s.tunnelMtu,
    nat,
  };
}

/** The relays whose native sources are accepted: the snapshot's policy list (anycast included). */
function relaysAccepted(s: CpeForwardingState): number[] {
  return Array.from(s.policy.relays, (n) => n >>> 0);
}
