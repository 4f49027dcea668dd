/**
 * Network-namespace helper for `6to4-pmt lab`, the integration tests and the benchmark (root only;
 * tests import it through test/support/netns.ts).
 *
 * Every namespace, veth pair and process created through a `NetnsRegistry` is recorded, and
 * `cleanup()` (call it from `finally` / `after()`, also on failure) kills the processes by PID and
 * deletes the namespaces, which removes their interfaces, addresses and routes with them.
 *
 * Namespace names are `p<pid>-<role>` so parallel runs never collide; the lab alone passes
 * `{ prefix: "" }` to get the reserved names lan, cpe, isp, relay, inet.
 *
 * With `markerFile`, every namespace created is recorded there with its identity (device and
 * inode of /run/netns/NAME, i.e. of the namespace itself), so that a later process can remove
 * exactly the namespaces this one made (`removeMarkedNamespaces`, `6to4-pmt lab --down`) and never
 * one of the same name that someone else made.
 *
 * Network safety: only documentation, shared (100.64.0.0/10), 6to4 and 3fff::/20
 * addresses are used by callers, and no namespace is ever linked to the root namespace.
 */
import { spawn, spawnSync, type ChildProcess, type SpawnOptions } from "node:child_process";
import {
  closeSync,
  existsSync,
  mkdirSync,
  openSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { dirname } from "node:path";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** Why a root/netns test cannot run here, or undefined when it can. */
export function netnsSkipReason(): string | undefined {
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return "needs root (network namespaces); CI runs it as root";
  }
  const ip = spawnSync("ip", ["-V"], { encoding: "utf8" });
  if (ip.error || ip.status !== 0) return "iproute2 (`ip`) is not installed";
  return undefined;
}

/** Why a test needing `tool` (e.g. "iperf3") cannot run here, or undefined. */
export function toolSkipReason(tool: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${tool}`], { encoding: "utf8" });
  return r.status === 0 ? undefined : `${tool} is not installed (Debian package ${tool})`;
}

/** A process started inside a namespace; its output is collected for assertions and diagnostics. */
export interface NsProcess {
  readonly child: ChildProcess;
  readonly pid: number;
  readonly ns: string;
  readonly argv: readonly string[];
  /** Everything written to stdout so far. */
  stdout(): string;
  /** Everything written to stderr so far. */
  stderr(): string;
  /** Resolves with the exit code (or 128 + signal number) once it has exited. */
  readonly exited: Promise<number>;
  /** True once the process has exited. */
  hasExited(): boolean;
}

const SIGNAL_NUMBERS: Record<string, number> = { SIGHUP: 1, SIGINT: 2, SIGKILL: 9, SIGTERM: 15 };

export interface RegistryOptions {
  /** Name prefix; default `p<pid>-`. The lab passes "" for its reserved names. */
  prefix?: string;
  /** Log each command to stderr (debugging). */
  verbose?: boolean;
  /** Record each namespace created, with its identity, in this file (see the file comment). */
  markerFile?: string;
}

/** The identity of namespace `ns` (`dev:inode` of /run/netns/NS), or undefined when absent. */
export function namespaceId(ns: string): string | undefined {
  try {
    const st = statSync(`/run/netns/${ns}`);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

/** The marker file's entries: namespace name -> identity. */
export function readMarker(markerFile: string): Map<string, string> {
  const m = new Map<string, string>();
  let text = "";
  try {
    text = readFileSync(markerFile, "utf8");
  } catch {
    return m;
  }
  for (const line of text.split("\n")) {
    const [name, id] = line.trim().split(/\s+/);
    if (name && id) m.set(name, id);
  }
  return m;
}

function writeMarker(markerFile: string, entries: Map<string, string>): void {
  if (entries.size === 0) {
    rmSync(markerFile, { force: true });
    return;
  }
  mkdirSync(dirname(markerFile), { recursive: true, mode: 0o700 });
  const text = [...entries].map(([n, id]) => `${n} ${id}\n`).join("");
  writeFileSync(markerFile, text, { mode: 0o600 });
}

/**
 * Removes the namespaces recorded in `markerFile` whose identity still matches (SIGTERM to the
 * processes inside, up to `graceMs` for them to exit, then `ip netns del`); a namespace of the
 * same name but another identity, or one not recorded, is left alone. The marker keeps only the
 * entries left alone. Returns the names removed and left alone.
 */
export async function removeMarkedNamespaces(
  reg: NetnsRegistry,
  markerFile: string,
  graceMs = 3000,
): Promise<{ removed: string[]; leftAlone: string[] }> {
  const marked = readMarker(markerFile);
  const ours: string[] = [];
  const leftAlone: string[] = [];
  for (const [ns, id] of marked) {
    const now = namespaceId(ns);
    if (now === undefined) continue;
    (now === id ? ours : leftAlone).push(ns);
  }
  const stopped: number[] = [];
  for (const ns of ours) {
    for (const pid of reg.run(["ip", "netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean)) {
      try {
        process.kill(Number(pid), "SIGTERM");
        stopped.push(Number(pid));
      } catch {
        // Already gone.
      }
    }
  }
  await reg.waitFor(() => stopped.every((pid) => !isAlive(pid)), graceMs, 50);
  for (const ns of ours) reg.run(["ip", "netns", "del", ns]);
  const keep = new Map<string, string>();
  for (const ns of leftAlone) keep.set(ns, marked.get(ns) ?? "");
  writeMarker(markerFile, keep);
  return { removed: ours, leftAlone };
}

/** True while process `pid` runs (a zombie that PID 1 has not reaped yet counts as gone). */
export function isAlive(pid: number): boolean {
  try {
    return !/^\d+ \(.*\) Z /.test(readFileSync(`/proc/${pid}/stat`, "utf8"));
  } catch {
    return false;
  }
}

export class NetnsRegistry {
  readonly prefix: string;
  private readonly verbose: boolean;
  private readonly markerFile: string | undefined;
  private readonly namespaces: string[] = [];
  private readonly processes: NsProcess[] = [];
  private vethCount = 0;
  private readonly files: string[] = [];

  constructor(options: RegistryOptions = {}) {
    this.prefix = options.prefix ?? `p${process.pid}-`;
    this.verbose = options.verbose ?? false;
    this.markerFile = options.markerFile;
  }

  /** The namespace name for a role (`p<pid>-<role>`). */
  name(role: string): string {
    return this.prefix + role;
  }

  /** Runs a command in the root namespace synchronously (setup only: ip, sysctl). */
  run(argv: readonly string[], timeoutMs = 10_000): ExecResult {
    if (this.verbose) process.stderr.write(`netns: ${argv.join(" ")}\n`);
    const [cmd, ...args] = argv;
    const r = spawnSync(cmd as string, args, { encoding: "utf8", timeout: timeoutMs });
    return {
      code: r.status ?? (r.error ? 127 : 128),
      stdout: r.stdout ?? "",
      stderr: (r.stderr ?? "") + (r.error ? String(r.error.message) : ""),
    };
  }

  /** As `run`, but throws with the command and its stderr when it fails. */
  must(argv: readonly string[], timeoutMs = 10_000): string {
    const r = this.run(argv, timeoutMs);
    if (r.code !== 0) {
      throw new Error(`command failed (${r.code}): ${argv.join(" ")}: ${r.stderr.trim()}`);
    }
    return r.stdout;
  }

  /**
   * Creates namespace `name(role)` with loopback up and IPv4/IPv6 forwarding set as asked.
   * A stale namespace of the same name (from a crashed run with the same PID) is removed first.
   */
  createNamespace(role: string, options: { forwarding?: boolean } = {}): string {
    const ns = this.name(role);
    if (existsSync(`/run/netns/${ns}`)) this.run(["ip", "netns", "del", ns]);
    this.must(["ip", "netns", "add", ns]);
    this.namespaces.push(ns);
    if (this.markerFile !== undefined) {
      const entries = readMarker(this.markerFile);
      entries.set(ns, namespaceId(ns) ?? "");
      writeMarker(this.markerFile, entries);
    }
    this.must(["ip", "-n", ns, "link", "set", "lo", "up"]);
    const fwd = options.forwarding ? "1" : "0";
    this.must(["ip", "netns", "exec", ns, "sysctl", "-qw", `net.ipv4.ip_forward=${fwd}`]);
    this.must(["ip", "netns", "exec", ns, "sysctl", "-qw", `net.ipv6.conf.all.forwarding=${fwd}`]);
    // IPv4 settings are inherited from the host's namespace: a host with strict reverse-path
    // filtering would make the lab's relays refuse to start (cli/relay-sysctl.ts) and drop the
    // asymmetric anycast paths the lab builds.
    for (const key of ["all", "default"]) {
      this.must(["ip", "netns", "exec", ns, "sysctl", "-qw", `net.ipv4.conf.${key}.rp_filter=0`]);
    }
    // Addresses must be usable at once: no DAD delay in tests.
    this.must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.accept_dad=0"]);
    this.must(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.accept_dad=0"]);
    return ns;
  }

  /** Creates a veth pair ifA (in nsA) <-> ifB (in nsB), both up, with an optional MTU. */
  veth(nsA: string, ifA: string, nsB: string, ifB: string, mtu?: number): void {
    // Created in the root namespace under unique temporary names, then moved and renamed.
    const n = this.vethCount++;
    const tmpA = `pv${process.pid}a${n}`.slice(0, 15);
    const tmpB = `pv${process.pid}b${n}`.slice(0, 15);
    this.must(["ip", "link", "add", tmpA, "type", "veth", "peer", "name", tmpB]);
    this.must(["ip", "link", "set", tmpA, "netns", nsA, "name", ifA]);
    this.must(["ip", "link", "set", tmpB, "netns", nsB, "name", ifB]);
    for (const [ns, ifn] of [
      [nsA, ifA],
      [nsB, ifB],
    ] as const) {
      if (mtu !== undefined) this.must(["ip", "-n", ns, "link", "set", ifn, "mtu", String(mtu)]);
      this.must(["ip", "-n", ns, "link", "set", ifn, "up"]);
    }
  }

  /** Adds an address (`192.0.2.1/24`, `2001:db8::1/64`) to an interface. */
  addr(ns: string, ifname: string, cidr: string): void {
    const family = cidr.includes(":") ? "-6" : "-4";
    const extra = family === "-6" ? ["nodad"] : [];
    this.must(["ip", family, "-n", ns, "addr", "add", cidr, "dev", ifname, ...extra]);
  }

  /** Adds a route: `route(ns, "default via 192.0.2.1")` or an argv tail. */
  route(ns: string, spec: string | readonly string[]): void {
    const args = typeof spec === "string" ? spec.split(/\s+/) : [...spec];
    const family = args.some((a) => a.includes(":")) ? "-6" : "-4";
    this.must(["ip", family, "-n", ns, "route", "add", ...args]);
  }

  /** Runs a command inside a namespace synchronously with a timeout. */
  exec(ns: string, argv: readonly string[], timeoutMs = 10_000): ExecResult {
    return this.run(["ip", "netns", "exec", ns, ...argv], timeoutMs);
  }

  /** Runs a command inside a namespace without blocking the event loop. */
  execAsync(ns: string, argv: readonly string[], timeoutMs = 30_000): Promise<ExecResult> {
    const p = this.spawn(ns, argv);
    const timer = setTimeout(() => this.kill(p, "SIGKILL"), timeoutMs);
    return p.exited.then((code) => {
      clearTimeout(timer);
      return { code, stdout: p.stdout(), stderr: p.stderr() };
    });
  }

  /**
   * Starts a long-running process inside a namespace; it is killed by `cleanup()` at the latest.
   * With `logFile`, stdout and stderr go to that file (read back by `stdout()`/`stderr()`) and the
   * process is detached, so it can outlive us (`6to4-pmt lab --keep`, see `release`).
   */
  spawn(
    ns: string,
    argv: readonly string[],
    options: SpawnOptions & { logFile?: string } = {},
  ): NsProcess {
    if (this.verbose) process.stderr.write(`netns[${ns}]: ${argv.join(" ")}\n`);
    const { logFile, ...spawnOptions } = options;
    let logFd: number | undefined;
    if (logFile !== undefined) logFd = openSync(logFile, "w", 0o600);
    const child = spawn("ip", ["netns", "exec", ns, ...argv], {
      stdio: logFd !== undefined ? ["ignore", logFd, logFd] : ["ignore", "pipe", "pipe"],
      detached: logFd !== undefined,
      ...spawnOptions,
    });
    if (logFd !== undefined) closeSync(logFd);
    let out = "";
    let err = "";
    let done = false;
    child.stdout?.setEncoding("utf8").on("data", (d: string) => (out += d));
    child.stderr?.setEncoding("utf8").on("data", (d: string) => (err += d));
    const readLog = (): string => {
      try {
        return readFileSync(logFile as string, "utf8");
      } catch {
        return "";
      }
    };
    const exited = new Promise<number>((resolve) => {
      child.once("error", (e) => {
        err += String(e.message);
        done = true;
        resolve(127);
      });
      child.once("close", (code, signal) => {
        done = true;
        resolve(code ?? 128 + (SIGNAL_NUMBERS[signal ?? ""] ?? 0));
      });
    });
    const p: NsProcess = {
      child,
      pid: child.pid ?? -1,
      ns,
      argv,
      stdout: logFile !== undefined ? readLog : () => out,
      stderr: logFile !== undefined ? readLog : () => err,
      exited,
      hasExited: () => done,
    };
    this.processes.push(p);
    return p;
  }

  /**
   * Forgets everything without killing or deleting (`6to4-pmt lab --keep`): detached processes
   * keep running after we exit; the namespaces stay until `ip netns del`.
   */
  release(): void {
    for (const p of this.processes.splice(0)) p.child.unref();
    this.namespaces.length = 0;
    this.files.length = 0;
  }

  /** Sends `signal` to a process we started (by PID; `ip netns exec` execs in place). */
  kill(p: NsProcess, signal: NodeJS.Signals = "SIGTERM"): void {
    if (p.hasExited() || p.pid <= 0) return;
    try {
      process.kill(p.pid, signal);
    } catch {
      // Already gone.
    }
  }

  /** Sends SIGTERM and waits up to `timeoutMs`, then SIGKILL; resolves with the exit code. */
  async stop(p: NsProcess, timeoutMs = 3000, signal: NodeJS.Signals = "SIGTERM"): Promise<number> {
    this.kill(p, signal);
    const timer = new Promise<"timeout">((r) => setTimeout(() => r("timeout"), timeoutMs).unref());
    const first = await Promise.race([p.exited, timer]);
    if (first !== "timeout") return first;
    this.kill(p, "SIGKILL");
    return p.exited;
  }

  /** Waits until `predicate()` is true, polling every `intervalMs`, at most `timeoutMs`. */
  async waitFor(predicate: () => boolean, timeoutMs = 5000, intervalMs = 50): Promise<boolean> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      if (predicate()) return true;
      await new Promise((r) => setTimeout(r, intervalMs));
    }
    return predicate();
  }

  /** Registers a file (state file, socket, log) to delete in `cleanup()`. */
  removeOnCleanup(path: string): void {
    this.files.push(path);
  }

  /** Names of the namespaces this registry created and has not yet deleted. */
  createdNamespaces(): readonly string[] {
    return this.namespaces;
  }

  /**
   * Kills every process (SIGTERM, then SIGKILL after `graceMs`) and deletes every namespace.
   * Never throws; safe to call twice.
   */
  async cleanup(graceMs = 2000): Promise<void> {
    const running = this.processes.filter((p) => !p.hasExited());
    await Promise.all(running.map((p) => this.stop(p, graceMs).catch(() => 0)));
    this.processes.length = 0;
    // Sweep processes still inside our namespaces (e.g. children of killed shells).
    for (const ns of this.namespaces) {
      const pids = this.run(["ip", "netns", "pids", ns]).stdout.split(/\s+/).filter(Boolean);
      for (const pid of pids) {
        try {
          process.kill(Number(pid), "SIGKILL");
        } catch {
          // Already gone.
        }
      }
    }
    const deleted = this.namespaces.splice(0);
    for (const ns of deleted) this.run(["ip", "netns", "del", ns]);
    if (this.markerFile !== undefined && deleted.length > 0) {
      const entries = readMarker(this.markerFile);
      for (const ns of deleted) entries.delete(ns);
      writeMarker(this.markerFile, entries);
    }
    for (const f of this.files.splice(0)) rmSync(f, { force: true });
  }
}
