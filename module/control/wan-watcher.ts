/**
 * Learns the WAN IPv4 address and MTU and follows changes without a restart.
 *
 * - Linux: `ip -j addr show dev <wan>` for the current state, plus one long-running
 *   `ip -o monitor address link` child whose lines (rtnetlink address and link events) trigger a
 *   re-read; the child is respawned with backoff if it dies.
 * - OpenWrt: `ubus call network.interface.<wan> status` (+ `network.device status` for the MTU),
 *   and a long-running `ubus listen network.interface` whose events trigger a re-read.
 * - Static values from the config (wan_ipv4, wan_mtu) override what is learned.
 *
 * Processes are started through `CommandRunner`, so unit tests drive the watcher with canned output.
 */
import { spawn } from "node:child_process";
import { parseIpv4 } from "../addr/ipv4.js";
import type { Clock, TimerHandle } from "./clock.js";

/** What the control plane needs to know about the WAN. */
export interface WanInfo {
  /** The primary global IPv4 address (V4ADDR), or null when there is none. */
  readonly ipv4: number | null;
  /** Link MTU in bytes, or null when unknown. */
  readonly mtu: number | null;
  /** The Linux device the address sits on (learned on OpenWrt). */
  readonly device: string | null;
  /**
   * netifd's device under `device` when they differ (the Ethernet device of a PPPoE WAN), where
   * the NIC's GRO runs; null otherwise (control/wan-gro.ts).
   */
  readonly linkDevice?: string | null;
  /** Where the address came from. */
  readonly ipv4Source: "config" | "learned" | "none";
  readonly mtuSource: "config" | "learned" | "default";
}

/** Runs helper programs; the real one uses child_process, tests pass canned output. */
export interface CommandRunner {
  /**
   * Runs to completion; never rejects (a failure to start is code 127). `stderr` is the child's
   * error output when the runner captures it (the real one does), for a failure's log line.
   */
  run(
    argv: readonly string[],
    timeoutMs: number,
  ): Promise<{ code: number; stdout: string; stderr?: string }>;
  /** Starts a long-running child, delivering each stdout line; `onExit` once when it ends. */
  spawnLines(
    argv: readonly string[],
    onLine: (line: string) => void,
    onExit: (code: number) => void,
  ): RunningCommand;
}

interface RunningCommand {
  /** Kills the child (SIGTERM); `onExit` still fires. */
  kill(): void;
}

/** How long one `ip`/`ubus` query may take. */
const WAN_QUERY_TIMEOUT_MS = 5000;
/** Coalesce bursts of rtnetlink/ubus events into one re-read. */
const WAN_EVENT_DEBOUNCE_MS = 50;
/** Respawn backoff of the monitor child: first delay, and cap. */
const WAN_MONITOR_RESPAWN_MIN_MS = 1000;
const WAN_MONITOR_RESPAWN_MAX_MS = 30_000;
/** RFC 894: Ethernet MTU, used when nothing is learned or configured. */
export const WAN_MTU_DEFAULT_BYTES = 1500;

// ---- Pure parsers ----------------------------------------------------------------------------

/** Result of parsing one query. */
interface LearnedWan {
  readonly ipv4: number | null;
  readonly mtu: number | null;
  readonly device: string | null;
  readonly linkDevice?: string | null;
}

/**
 * Parses `ip -j addr show dev X` (without -4, so the link and its MTU appear even with no address): the first global-scope, non-secondary, non-tentative inet
 * address, and the link MTU. Never throws (bad JSON = nothing learned).
 */
export function parseIpAddrJson(text: string): LearnedWan {
  let links: unknown;
  try {
    links = JSON.parse(text);
  } catch {
    return { ipv4: null, mtu: null, device: null };
  }
  if (!Array.isArray(links) || links.length === 0) return { ipv4: null, mtu: null, device: null };
  const link = links[0] as Record<string, unknown>;
  const mtu = typeof link.mtu === "number" ? link.mtu : null;
  const device = typeof link.ifname === "string" ? link.ifname : null;
  let ipv4: number | null = null;
  const infos = Array.isArray(link.addr_info) ? (link.addr_info as Record<string, unknown>[]) : [];
  for (const a of infos) {
    if (a.family !== "inet" || typeof a.local !== "string") continue;
    if (a.scope !== undefined && a.scope !== "global") continue;
    if (a.secondary === true || a.tentative === true || a.deprecated === true) continue;
    ipv4 = parseIpv4(a.local);
    if (ipv4 !== null) break;
  }
  return { ipv4, mtu, device };
}

/** Parses `ip -j -4 route show default`: the device of the first default route. */
export function parseDefaultRouteDevice(text: string): string | null {
  try {
    const routes = JSON.parse(text) as unknown;
    if (!Array.isArray(routes)) return null;
    for (const r of routes as Record<string, unknown>[]) {
      if (typeof r.dev === "string") return r.dev;
    }
  } catch {
    // Nothing learned.
  }
  return null;
}

/**
 * Whether an `ip -o monitor address link` line concerns `device`: address lines read
 * `[Deleted ]<idx>: <dev>    inet ...`, link lines `[Deleted ]<idx>: <dev>: <FLAGS> mtu ...`
 * (`<dev>@<peer>` for veth).
 */
export function monitorLineConcerns(line: string, device: string): boolean {
  const m = /^(?:\[[A-Z]+\]\s*)?(?:Deleted\s+)?\d+:\s+([^\s:@]+)/.exec(line);
  return m !== null && m[1] === device;
}

/**
 * Parses `ubus call network.interface.<x> status`: first IPv4 address, l3 device (and the device
 * under it when netifd names a different one, e.g. `eth1` under `pppoe-wan`), up.
 */
export function parseUbusInterfaceStatus(text: string): LearnedWan & { up: boolean } {
  let o: Record<string, unknown>;
  try {
    o = JSON.parse(text) as Record<string, unknown>;
  } catch {
    return { ipv4: null, mtu: null, device: null, up: false };
  }
  const up = o.up === true;
  const device =
    typeof o.l3_device === "string" ? o.l3_device : typeof o.device === "string" ? o.device : null;
  const linkDevice = typeof o.device === "string" && o.device !== device ? o.device : null;
  let ipv4: number | null = null;
  const addrs = Array.isArray(o["ipv4-address"])
    ? (o["ipv4-address"] as Record<string, unknown>[])
    : [];
  for (const a of addrs) {
    if (typeof a.address === "string") {
      ipv4 = parseIpv4(a.address);
      if (ipv4 !== null) break;
    }
  }
  // Option 212 does not come this way: netifd's dhcp proto hands ip6rd to a dynamic 6rd
  // interface, and the package's udhcpc hook writes it to the lease file (dhcp-6rd.ts).
  return { ipv4: up ? ipv4 : null, mtu: null, device, linkDevice, up };
}

/** Parses `ubus call network.device status '{"name":"X"}'`: the MTU. */
export function parseUbusDeviceMtu(text: string): number | null {
  try {
    const o = JSON.parse(text) as Record<string, unknown>;
    return typeof o.mtu === "number" ? o.mtu : null;
  } catch {
    return null;
  }
}

/** Whether a `ubus listen network.interface` line is about logical interface `iface`. */
export function ubusEventConcerns(line: string, iface: string): boolean {
  try {
    const o = JSON.parse(line) as Record<string, unknown>;
    const ev = o["network.interface"] as Record<string, unknown> | undefined;
    return ev !== undefined && ev.interface === iface;
  } catch {
    return false;
  }
}

// ---- The watcher -----------------------------------------------------------------------------

interface WanWatcherOptions {
  /** Linux device; when null the device of the IPv4 default route (Linux) or netifd's l3_device. */
  readonly device: string | null;
  /** OpenWrt logical interface; used when `useUbus`. */
  readonly ubusInterface: string;
  readonly useUbus: boolean;
  readonly staticIpv4: number | null;
  readonly staticMtu: number | null;
  readonly clock: Clock;
  readonly runner: CommandRunner;
  /** Called with the new state whenever the address, MTU or device changes. */
  readonly onChange: (info: WanInfo) => void;
  /** One line per noteworthy event (monitor died, respawned). */
  readonly log: (level: "info" | "warn" | "debug", message: string) => void;
}

export class WanWatcher {
  private readonly o: WanWatcherOptions;
  private info: WanInfo;
  private monitor: RunningCommand | null = null;
  private debounce: TimerHandle | null = null;
  private respawnTimer: TimerHandle | null = null;
  private respawnDelayMs = WAN_MONITOR_RESPAWN_MIN_MS;
  private running = false;
  private refreshing: Promise<void> | null = null;
  private refreshAgain = false;

  constructor(options: WanWatcherOptions) {
    this.o = options;
    this.info = this.merge({ ipv4: null, mtu: null, device: options.device });
  }

  current(): WanInfo {
    return this.info;
  }

  /** Learns the current state (resolves when known), then follows events. */
  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    if (!this.isFullyStatic()) this.startMonitor();
    await this.refresh();
  }

  stop(): void {
    this.running = false;
    if (this.debounce !== null) this.o.clock.clearTimer(this.debounce);
    if (this.respawnTimer !== null) this.o.clock.clearTimer(this.respawnTimer);
    this.debounce = null;
    this.respawnTimer = null;
    const m = this.monitor;
    this.monitor = null;
    m?.kill();
  }

  /** Re-reads the WAN state now; concurrent calls coalesce. */
  refresh(): Promise<void> {
    if (this.refreshing) {
      this.refreshAgain = true;
      return this.refreshing;
    }
    this.refreshing = (async () => {
      do {
        this.refreshAgain = false;
        const learned = this.isFullyStatic()
          ? { ipv4: null, mtu: null, device: this.o.device }
          : await this.query();
        if (!this.running) break;
        this.apply(learned);
      } while (this.refreshAgain && this.running);
      this.refreshing = null;
    })();
    return this.refreshing;
  }

  private isFullyStatic(): boolean {
    return this.o.staticIpv4 !== null && this.o.staticMtu !== null;
  }

  private merge(l: LearnedWan): WanInfo {
    const ipv4 = this.o.staticIpv4 ?? l.ipv4;
    const mtu = this.o.staticMtu ?? l.mtu;
    return {
      ipv4,
      mtu: mtu ?? WAN_MTU_DEFAULT_BYTES,
      device: l.device ?? this.o.device,
      linkDevice: l.linkDevice ?? null,
      ipv4Source: this.o.staticIpv4 !== null ? "config" : l.ipv4 !== null ? "learned" : "none",
      mtuSource: this.o.staticMtu !== null ? "config" : l.mtu !== null ? "learned" : "default",
    };
  }

  private apply(l: LearnedWan): void {
    const next = this.merge(l);
    const prev = this.info;
    this.info = next;
    if (
      prev.ipv4 !== next.ipv4 ||
      prev.mtu !== next.mtu ||
      prev.device !== next.device ||
      prev.linkDevice !== next.linkDevice ||
      prev.ipv4Source !== next.ipv4Source
    ) {
      this.o.onChange(next);
    }
  }

  private async query(): Promise<LearnedWan> {
    const r = this.o.runner;
    if (this.o.useUbus) {
      const st = await r.run(
        ["ubus", "call", `network.interface.${this.o.ubusInterface}`, "status"],
        WAN_QUERY_TIMEOUT_MS,
      );
      const parsed = parseUbusInterfaceStatus(st.code === 0 ? st.stdout : "");
      const device = this.o.device ?? parsed.device;
      let mtu: number | null = null;
      if (device) {
        const d = await r.run(
          ["ubus", "call", "network.device", "status", JSON.stringify({ name: device })],
          WAN_QUERY_TIMEOUT_MS,
        );
        mtu = d.code === 0 ? parseUbusDeviceMtu(d.stdout) : null;
      }
      // A configured wan_device is the one and only device; else netifd's, and the one under it.
      return {
        ipv4: parsed.ipv4,
        mtu,
        device,
        linkDevice: this.o.device === null ? parsed.linkDevice : null,
      };
    }
    let device = this.o.device;
    if (!device) {
      const rt = await r.run(["ip", "-j", "-4", "route", "show", "default"], WAN_QUERY_TIMEOUT_MS);
      device = rt.code === 0 ? parseDefaultRouteDevice(rt.stdout) : null;
      if (!device) return { ipv4: null, mtu: null, device: null };
    }
    const a = await r.run(["ip", "-j", "addr", "show", "dev", device], WAN_QUERY_TIMEOUT_MS);
    const learned = parseIpAddrJson(a.code === 0 ? a.stdout : "");
    return { ...learned, device };
  }

  private startMonitor(): void {
    const argv = this.o.useUbus
      ? ["ubus", "listen", "network.interface"]
      : this.o.device === null
        ? ["ip", "-o", "monitor", "address", "link", "route"]
        : ["ip", "-o", "monitor", "address", "link"];
    const started = this.o.clock.now();
    this.monitor = this.o.runner.spawnLines(
      argv,
      (line) => this.onEvent(line),
      (code) => {
        if (!this.running) return;
        this.monitor = null;
        // A monitor that lived a while resets the backoff.
        if (this.o.clock.now() - started > WAN_MONITOR_RESPAWN_MAX_MS) {
          this.respawnDelayMs = WAN_MONITOR_RESPAWN_MIN_MS;
        }
        this.o.log(
          "warn",
          `wan monitor "${argv.join(" ")}" exited with ${code}; respawning in ${this.respawnDelayMs} ms`,
        );
        this.respawnTimer = this.o.clock.setTimer(() => {
          this.respawnTimer = null;
          if (!this.running) return;
          this.startMonitor();
          void this.refresh(); // events may have been missed meanwhile
        }, this.respawnDelayMs);
        this.respawnDelayMs = Math.min(this.respawnDelayMs * 2, WAN_MONITOR_RESPAWN_MAX_MS);
      },
    );
  }

  private onEvent(line: string): void {
    let relevant: boolean;
    if (this.o.useUbus) relevant = ubusEventConcerns(line, this.o.ubusInterface);
    else {
      const dev = this.info.device ?? this.o.device;
      // Without a known device (default-route mode) any address/route event may matter.
      relevant =
        dev === null || monitorLineConcerns(line, dev) || /^(?:Deleted\s+)?default\b/.test(line);
    }
    if (!relevant) return;
    if (this.debounce !== null) return;
    this.debounce = this.o.clock.setTimer(() => {
      this.debounce = null;
      if (this.running) void this.refresh();
    }, WAN_EVENT_DEBOUNCE_MS);
  }
}

/** The real CommandRunner (child_process). Children get SIGTERM on kill(). */
export function createCommandRunner(): CommandRunner {
  return {
    run(argv, timeoutMs) {
      return new Promise((resolve) => {
        const [cmd, ...args] = argv;
        let out = "";
        let err = "";
        let child;
        try {
          child = spawn(cmd as string, args, { stdio: ["ignore", "pipe", "pipe"] });
        } catch {
          resolve({ code: 127, stdout: "" });
          return;
        }
        const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
        child.stdout.setEncoding("utf8").on("data", (d: string) => (out += d));
        child.stderr.setEncoding("utf8").on("data", (d: string) => (err += d));
        child.once("error", () => {
          clearTimeout(timer);
          resolve({ code: 127, stdout: "" });
        });
        child.once("close", (code) => {
          clearTimeout(timer);
          resolve({ code: code ?? 128, stdout: out, stderr: err });
        });
      });
    },
    spawnLines(argv, onLine, onExit) {
      const [cmd, ...args] = argv;
      const child = spawn(cmd as string, args, { stdio: ["ignore", "pipe", "ignore"] });
      let buf = "";
      let exited = false;
      const exit = (code: number): void => {
        if (exited) return;
        exited = true;
        onExit(code);
      };
      child.stdout.setEncoding("utf8").on("data", (d: string) => {
        buf += d;
        let nl: number;
        while ((nl = buf.indexOf("\n")) >= 0) {
          const line = buf.slice(0, nl);
          buf = buf.slice(nl + 1);
          if (line.trim() !== "") onLine(line);
        }
      });
      child.once("error", () => exit(127));
      child.once("close", (code) => exit(code ?? 128));
      return {
        kill() {
          if (!exited) child.kill("SIGTERM");
        },
      };
    },
  };
}
