/**
 * A relay fleet behind anycast on a real routing daemon (BIRD 2), for `6to4-pmt lab --relays N`
 * and the integration tests (docs/relay-fleet.md):
 *
 *   lanN -- cpeN ==+                        +== relay1 (198.51.100.2)  --+
 *   lanM -- cpeM ==+== rtr (carrier, IPv4) =+== relay2 (198.51.100.6)  --+== srv (IPv6 router and
 *                      OSPFv2, ECMP to      |   each: 192.88.99.1 on lo,    server 3fff:100::1):
 *                      192.88.99.1/32       +== ...  BIRD, relay daemon      OSPFv3, ECMP to
 *                                                                             2001:db8::/32, 2002::/16
 *
 * Each relay runs BIRD: `protocol kernel { learn; }` imports the routes the relay daemon puts on
 * its TUN with kernel protocol 41 while healthy (control/relay-announce.ts), OSPFv2 toward rtr
 * and OSPFv3 toward srv export them. rtr and srv run BIRD with OSPF ECMP and a kernel protocol
 * exporting the multipath routes; rtr hashes flows by L3 source and destination
 * (fib_multipath_hash_policy 0), so different CPEs land on different relays.
 *
 * Names: NetnsRegistry's prefix + rtr, srv, relay<K>, cpe<N>, lan<N> (the lab: prefix "fleet-",
 * the tests: p<pid>-). Addresses: relay K's carrier link 198.51.100.(4K-3)/30 (rtr) - (4K-2) (relay),
 * its IPv6 link 3fff:0:K::1/64 (srv) - ::2 (relay); CPE N: WAN 100.64.N.2/24, LAN
 * 2001:db8:6440:N02::/64 (PMT, RFC 6732 Figure 3). BIRD's files are /tmp/6to4-pmt-<pid>-<ns>-bird.*
 * and go with the registry's cleanup.
 */
import { existsSync, readdirSync, writeFileSync } from "node:fs";
import { flagOn, lastValue, noPositionals, parseArgs, type FlagSpecs } from "../cli/args.js";
import { EXIT_NOT_ROOT, EXIT_OK, EXIT_RUNTIME } from "../cli/exit-codes.js";
import { ConfigError } from "../config/config-error.js";
import { createLogger } from "../log/logger.js";
import { NetnsRegistry, type NsProcess } from "./netns.js";
import { EXIT_INTERRUPTED, LabFailure, startLabRun } from "./lab-common.js";
import { labStaticCpeArgs, spawnDaemon, waitDaemonReady } from "./topology.js";

export const FLEET_ANYCAST = "192.88.99.1";
export const FLEET_SERVER = "3fff:100::1";
export const FLEET_PROVIDER_PREFIX = "2001:db8::/32";
const FLEET_CUSTOMERS = "100.64.0.0/10";
/** Most relays a fleet has (the carrier links are /30s in 198.51.100.0/24). */
export const FLEET_MAX_RELAYS = 8;

/** OSPF timers of the lab: hello 1 s, dead 3 s (docs/relay-fleet.md, Timers). */
export interface OspfTimers {
  hello: number;
  dead: number;
}
export const FLEET_OSPF_TIMERS: OspfTimers = { hello: 1, dead: 3 };

/** BIRD config of a relay: kernel-protocol-41 routes learned, exported by OSPFv2 and OSPFv3. */
export function relayBirdConfig(o: {
  routerId: string;
  ipv4Interface: string;
  ipv6Interface: string;
  timers?: OspfTimers;
}): string {
  const t = o.timers ?? FLEET_OSPF_TIMERS;
  const iface = (name: string): string =>
    `  area 0 { interface "${name}" { type ptp; hello ${t.hello}; dead ${t.dead}; }; };`;
  return [
    "# 6to4-PMT relay: announce what the relay daemon routes into its TUN with proto 41.",
    `router id ${o.routerId};`,
    "protocol device { scan time 10; }",
    "protocol kernel kernel4 {",
    "  learn;",
    "  scan time 10;",
    "  ipv4 { import where krt_source = 41; export none; };",
    "}",
    "protocol kernel kernel6 {",
    "  learn;",
    "  scan time 10;",
    "  ipv6 { import where krt_source = 41; export none; };",
    "}",
    "protocol ospf v2 ospf4 {",
    "  ipv4 { import none; export all; };",
    iface(o.ipv4Interface),
    "}",
    "protocol ospf v3 ospf6 {",
    "  ipv6 { import none; export all; };",
    iface(o.ipv6Interface),
    "}",
    "",
  ].join("\n");
}

/** BIRD config of the carrier (ipv4) or server-side (ipv6) router: OSPF ECMP into the kernel. */
export function routerBirdConfig(o: {
  routerId: string;
  family: "ipv4" | "ipv6";
  interfaces: string;
  timers?: OspfTimers;
}): string {
  const t = o.timers ?? FLEET_OSPF_TIMERS;
  return [
    "# Carrier router: ECMP over every relay that announces.",
    `router id ${o.routerId};`,
    "protocol device { scan time 10; }",
    "protocol kernel {",
    "  merge paths on;",
    `  ${o.family} { import none; export where source ~ [ RTS_OSPF, RTS_OSPF_IA, RTS_OSPF_EXT1, RTS_OSPF_EXT2 ]; };`,
    "}",
    `protocol ospf ${o.family === "ipv4" ? "v2" : "v3"} {`,
    "  ecmp yes;",
    "  merge external yes;",
    `  ${o.family} { import all; export none; };`,
    `  area 0 { interface "${o.interfaces}" { type ptp; hello ${t.hello}; dead ${t.dead}; }; };`,
    "}",
    "",
  ].join("\n");
}

export interface FleetRelay {
  index: number;
  ns: string;
  /** Its equivalent IPv4 unicast address (RFC 3068 §2.6) on the carrier link. */
  unicast: string;
  /** rtr's side of the link and rtr's interface toward it. */
  rtrSide: string;
  rtrIf: string;
  /** Its IPv6 upstream: srv's address on the link, and srv's interface toward it. */
  upstream: string;
  srvIf: string;
  /** The relay's upstream interface (inet0) and carrier interface (wan0). */
  upstreamIf: string;
  bird?: NsProcess;
  birdSocket: string;
  daemon?: NsProcess;
}

export interface FleetCpe {
  index: number;
  ns: string;
  lanNs: string;
  wanIpv4: string;
  hostAddress: string;
  /** The source address the server sees: the translated 2001:db8:V4ADDR::100. */
  expectedSourceAtServer: string;
  daemon?: NsProcess;
}

export interface Fleet {
  reg: NetnsRegistry;
  rtr: string;
  srv: string;
  relays: FleetRelay[];
  cpes: FleetCpe[];
  birds: NsProcess[];
  rtrSocket: string;
  srvSocket: string;
}

function birdFiles(ns: string): { conf: string; ctl: string; pid: string } {
  const base = `/tmp/6to4-pmt-${process.pid}-${ns}-bird`;
  return { conf: `${base}.conf`, ctl: `${base}.ctl`, pid: `${base}.pid` };
}

/** Writes `conf` and starts `bird -f` in `ns` (a child killed by PID at cleanup). */
function startBird(reg: NetnsRegistry, ns: string, conf: string): { p: NsProcess; ctl: string } {
  const f = birdFiles(ns);
  for (const x of [f.conf, f.ctl, f.pid]) reg.removeOnCleanup(x);
  writeFileSync(f.conf, conf, { mode: 0o600 });
  const p = reg.spawn(ns, ["bird", "-f", "-c", f.conf, "-s", f.ctl, "-P", f.pid]);
  return { p, ctl: f.ctl };
}

/**
 * Builds rtr, srv and `relays` relay namespaces with their links and BIRD (not the relay
 * daemons: startFleetRelay). rtr hashes by L3 (fib_multipath_hash_policy 0, set explicitly).
 */
export function buildFleet(reg: NetnsRegistry, relays: number): Fleet {
  if (relays < 1 || relays > FLEET_MAX_RELAYS) throw new Error(`fleet: 1..8 relays, not ${relays}`);
  const rtr = reg.createNamespace("rtr", { forwarding: true });
  const srv = reg.createNamespace("srv", { forwarding: true });
  reg.must(["ip", "netns", "exec", rtr, "sysctl", "-qw", "net.ipv4.fib_multipath_hash_policy=0"]);
  reg.must(["ip", "netns", "exec", srv, "sysctl", "-qw", "net.ipv6.fib_multipath_hash_policy=0"]);
  reg.addr(srv, "lo", `${FLEET_SERVER}/128`);
  const fleet: Fleet = {
    reg,
    rtr,
    srv,
    relays: [],
    cpes: [],
    birds: [],
    rtrSocket: "",
    srvSocket: "",
  };
  for (let k = 1; k <= relays; k++) {
    const ns = reg.createNamespace(`relay${k}`, { forwarding: true });
    const rtrSide = `198.51.100.${4 * k - 3}`;
    const unicast = `198.51.100.${4 * k - 2}`;
    reg.veth(rtr, `relay${k}`, ns, "wan0");
    reg.addr(rtr, `relay${k}`, `${rtrSide}/30`);
    reg.addr(ns, "wan0", `${unicast}/30`);
    reg.addr(ns, "lo", `${FLEET_ANYCAST}/32`);
    reg.route(ns, `default via ${rtrSide}`);
    reg.veth(ns, "inet0", srv, `relay${k}`);
    reg.addr(ns, "inet0", `3fff:0:${k}::2/64`);
    reg.addr(srv, `relay${k}`, `3fff:0:${k}::1/64`);
    reg.route(ns, `::/0 via 3fff:0:${k}::1`);
    const b = startBird(
      reg,
      ns,
      relayBirdConfig({ routerId: unicast, ipv4Interface: "wan0", ipv6Interface: "inet0" }),
    );
    fleet.birds.push(b.p);
    fleet.relays.push({
      index: k,
      ns,
      unicast,
      rtrSide,
      rtrIf: `relay${k}`,
      upstream: `3fff:0:${k}::1`,
      srvIf: `relay${k}`,
      upstreamIf: "inet0",
      bird: b.p,
      birdSocket: b.ctl,
    });
  }
  const r = startBird(
    reg,
    rtr,
    routerBirdConfig({ routerId: "203.0.113.1", family: "ipv4", interfaces: "relay*" }),
  );
  const s = startBird(
    reg,
    srv,
    routerBirdConfig({ routerId: "203.0.113.2", family: "ipv6", interfaces: "relay*" }),
  );
  fleet.birds.push(r.p, s.p);
  fleet.rtrSocket = r.ctl;
  fleet.srvSocket = s.ctl;
  return fleet;
}

/** The relay daemon's flags in the fleet: announce the anycast, probe the server. */
export function fleetRelayArgs(r: FleetRelay, extra: readonly string[] = []): string[] {
  return [
    "relay",
    "--enabled",
    "--relay-ipv4",
    `${FLEET_ANYCAST},${r.unicast}`,
    "--provider-prefix",
    FLEET_PROVIDER_PREFIX,
    "--customer-ipv4",
    FLEET_CUSTOMERS,
    "--announce-ipv4",
    FLEET_ANYCAST,
    "--health-target",
    FLEET_SERVER,
    "--health-interval",
    "1",
    "--health-failures",
    "2",
    "--log-level",
    "info",
    ...extra,
  ];
}

/** Starts relay `r`'s daemon (`command`: how to run the CLI); resolves once its loops run. */
export async function startFleetRelay(
  f: Fleet,
  r: FleetRelay,
  command: readonly string[],
  extra: readonly string[] = [],
): Promise<NsProcess> {
  const p = spawnDaemon(f.reg, r.ns, command, fleetRelayArgs(r, extra));
  r.daemon = p;
  if (!(await waitDaemonReady(f.reg, p))) {
    throw new Error(`relay daemon in ${r.ns} did not start:\n${p.stderr()}`);
  }
  return p;
}

/** The relays' unicast addresses rtr's route to the anycast uses now (sorted). */
export function anycastNextHops(f: Fleet): string[] {
  const out = f.reg.run(["ip", "-4", "-n", f.rtr, "route", "show", `${FLEET_ANYCAST}/32`]).stdout;
  return [...out.matchAll(/via (\d+\.\d+\.\d+\.\d+)/g)].map((m) => m[1]!).sort();
}

/** srv's next hops (relay addresses) toward `prefix` (sorted). */
export function returnNextHops(f: Fleet, prefix = FLEET_PROVIDER_PREFIX): string[] {
  const out = f.reg.run(["ip", "-6", "-n", f.srv, "route", "show", prefix]).stdout;
  // OSPFv3 next hops are link-local: name them by srv's interface (relay<K>).
  return [...out.matchAll(/dev (relay\d+)/g)].map((m) => m[1]!).sort();
}

/** Waits until rtr routes the anycast over exactly `unicasts`; returns the milliseconds waited. */
export async function waitAnycastNextHops(
  f: Fleet,
  unicasts: readonly string[],
  timeoutMs = 30_000,
): Promise<number | null> {
  const want = [...unicasts].sort().join(",");
  const t0 = Date.now();
  const ok = await f.reg.waitFor(() => anycastNextHops(f).join(",") === want, timeoutMs, 20);
  return ok ? Date.now() - t0 : null;
}

/** Waits until srv routes the provider prefix and 2002::/16 over exactly relays `indices`. */
export async function waitReturnNextHops(
  f: Fleet,
  indices: readonly number[],
  timeoutMs = 30_000,
): Promise<boolean> {
  const want = indices
    .map((k) => `relay${k}`)
    .sort()
    .join(",");
  return f.reg.waitFor(
    () => returnNextHops(f).join(",") === want && returnNextHops(f, "2002::/16").join(",") === want,
    timeoutMs,
    20,
  );
}

/** Which relay (its unicast) rtr's multipath hash picks for anycast packets from `src`. */
export function relayForSource(f: Fleet, src: string): string | null {
  const r = f.reg.run([
    "ip",
    "-4",
    "-n",
    f.rtr,
    "route",
    "get",
    FLEET_ANYCAST,
    "from",
    src,
    "iif",
    f.relays[0]!.rtrIf,
  ]);
  return /via (\d+\.\d+\.\d+\.\d+)/.exec(r.stdout)?.[1] ?? null;
}

/**
 * CPE indices (1..200) whose WAN address 100.64.N.2 rtr sends to each relay, `perRelay` per
 * relay, in relay order: the spread is the kernel's hash, so the fleet is built around it.
 */
export function pickCpeIndices(f: Fleet, perRelay: number): Map<string, number[]> {
  const by = new Map<string, number[]>(f.relays.map((r) => [r.unicast, []]));
  for (let n = 1; n <= 200; n++) {
    const via = relayForSource(f, `100.64.${n}.2`);
    const list = via === null ? undefined : by.get(via);
    if (list !== undefined && list.length < perRelay) list.push(n);
    if ([...by.values()].every((l) => l.length >= perRelay)) break;
  }
  return by;
}

/** Adds CPE N (namespaces cpe<N>, lan<N>, link to rtr); its daemon: startFleetCpe. */
export function addFleetCpe(f: Fleet, n: number): FleetCpe {
  const reg = f.reg;
  const ns = reg.createNamespace(`cpe${n}`, { forwarding: true });
  const lanNs = reg.createNamespace(`lan${n}`);
  const wanIpv4 = `100.64.${n}.2`;
  reg.veth(f.rtr, `cpe${n}`, ns, "wan0");
  reg.addr(f.rtr, `cpe${n}`, `100.64.${n}.1/24`);
  reg.addr(ns, "wan0", `${wanIpv4}/24`);
  reg.route(ns, `default via 100.64.${n}.1`);
  reg.veth(ns, "lan0", lanNs, "eth0");
  const words = `6440:${((n << 8) | 2).toString(16)}`;
  const prefix = `2001:db8:${words}::`;
  reg.addr(ns, "lan0", `${prefix}1/64`);
  reg.addr(lanNs, "eth0", `${prefix}100/64`);
  reg.route(lanNs, `::/0 via ${prefix}1`);
  for (const x of cpeFiles(ns)) reg.removeOnCleanup(x);
  const c: FleetCpe = {
    index: n,
    ns,
    lanNs,
    wanIpv4,
    hostAddress: `${prefix}100`,
    expectedSourceAtServer: `${prefix}100`,
  };
  f.cpes.push(c);
  return c;
}

function cpeFiles(ns: string): [string, string] {
  return [
    `/tmp/6to4-pmt-${process.pid}-${ns}.state.json`,
    `/tmp/6to4-pmt-${process.pid}-${ns}.sock`,
  ];
}

/** Starts CPE `c`'s daemon (PMT LAN mode toward the anycast); resolves once its loops run. */
export async function startFleetCpe(
  f: Fleet,
  c: FleetCpe,
  command: readonly string[],
  extra: readonly string[] = [],
): Promise<NsProcess> {
  const p = spawnDaemon(f.reg, c.ns, command, [
    ...labStaticCpeArgs(cpeFiles(c.ns), c.wanIpv4, FLEET_CUSTOMERS),
    "--provider-prefix",
    FLEET_PROVIDER_PREFIX,
    ...extra,
  ]);
  c.daemon = p;
  if (!(await waitDaemonReady(f.reg, p))) {
    throw new Error(`cpe daemon in ${c.ns} did not start:\n${p.stderr()}`);
  }
  return p;
}

/** Namespace names of `6to4-pmt lab --relays N`: fleet-rtr, fleet-relay1, fleet-cpe7, ... */
const FLEET_LAB_PREFIX = "fleet-";

const FLEET_FLAGS: FlagSpecs = {
  relays: { kind: "string", expects: `a relay count 2..${FLEET_MAX_RELAYS}` },
  help: { kind: "boolean", short: "h" },
};

const FLEET_USAGE = `usage: 6to4-pmt lab --relays N
Builds a fleet of N (2..${FLEET_MAX_RELAYS}) 6to4-PMT relays behind the anycast 192.88.99.1 with BIRD
(namespaces fleet-rtr, fleet-srv, fleet-relay1..N, fleet-cpe<i>, fleet-lan<i>; OSPF ECMP on the carrier router rtr and the
server router srv), one CPE per relay, shows each relay carrying its CPE, kills relay1's daemon,
measures how long until rtr stopped using it, and shows its CPE reaching the server through another
relay. Everything is removed at the end. Needs bird (Debian bird2). Exit 0 only if it passed.`;

/** `6to4-pmt lab --relays N`; resolves with the exit code. @throws ConfigError for a bad argument */
export async function runFleetLab(args: readonly string[]): Promise<number> {
  const parsed = parseArgs(args, FLEET_FLAGS);
  noPositionals(parsed, "expected only options (see 6to4-pmt lab --help)");
  if (flagOn(parsed, "help")) {
    process.stdout.write(FLEET_USAGE + "\n");
    return EXIT_OK;
  }
  const text = lastValue(parsed, "relays") ?? "";
  if (!/^[0-9]+$/.test(text) || Number(text) < 2 || Number(text) > FLEET_MAX_RELAYS) {
    throw new ConfigError(
      `--relays: expected a relay count 2..${FLEET_MAX_RELAYS}, got ${JSON.stringify(text)}`,
      "--relays",
    );
  }
  const n = Number(text);
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    process.stderr.write("6to4-pmt lab: must run as root (network namespaces)\n");
    return EXIT_NOT_ROOT;
  }
  const log = createLogger("info", "lab");
  const reg = new NetnsRegistry({ prefix: FLEET_LAB_PREFIX });
  const busy = (existsSync("/run/netns") ? readdirSync("/run/netns") : []).filter((name) =>
    name.startsWith(FLEET_LAB_PREFIX),
  );
  if (busy.length > 0) {
    process.stderr.write(
      `6to4-pmt lab: namespaces ${busy.join(", ")} exist (another fleet lab?); remove them with ip netns del\n`,
    );
    return EXIT_RUNTIME;
  }
  const command = [process.execPath, process.argv[1] ?? ""];
  const run = startLabRun(reg, log);
  const { step } = run;
  try {
    log.info(
      `building a fleet of ${n} relays with BIRD (${FLEET_LAB_PREFIX}rtr, srv, relay1..${n})`,
    );
    const f = buildFleet(reg, n);
    for (const r of f.relays) await startFleetRelay(f, r, command);
    const all = f.relays.map((r) => r.unicast);
    const conv = await waitAnycastNextHops(f, all);
    step({
      name: `rtr routes ${FLEET_ANYCAST} over all ${n} relays (OSPF ECMP)`,
      ok: conv !== null,
      detail: anycastNextHops(f).join(" "),
    });
    if (conv === null) throw new Error("no ECMP route");
    const picks = pickCpeIndices(f, 1);
    for (const r of f.relays) {
      const idx = picks.get(r.unicast)?.[0];
      if (idx === undefined) continue;
      const c = addFleetCpe(f, idx);
      await startFleetCpe(f, c, command);
      const pg = await reg.execAsync(
        c.lanNs,
        ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", FLEET_SERVER],
        15000,
      );
      step({
        name: `cpe${idx} (${c.wanIpv4}) -> server through relay${r.index}`,
        ok: pg.code === 0,
        detail: /(\d+)% packet loss/.exec(pg.stdout)?.[0] ?? "no reply",
      });
    }
    const victim = f.relays[0]!;
    const t0 = Date.now();
    reg.kill(victim.daemon!, "SIGKILL");
    const rest = all.filter((a) => a !== victim.unicast);
    const moved = await waitAnycastNextHops(f, rest);
    step({
      name: `relay1 daemon killed (SIGKILL): rtr withdrew it`,
      ok: moved !== null,
      detail: moved !== null ? `after ${Date.now() - t0} ms` : "not withdrawn",
    });
    const c1 = f.cpes.find((c) => picks.get(victim.unicast)?.[0] === c.index);
    if (c1 !== undefined) {
      const pg = await reg.execAsync(
        c1.lanNs,
        ["ping", "-6", "-c", "3", "-i", "0.2", "-W", "2", FLEET_SERVER],
        15000,
      );
      step({
        name: `cpe${c1.index} -> server through the other relays`,
        ok: pg.code === 0,
        detail: /(\d+)% packet loss/.exec(pg.stdout)?.[0] ?? "no reply",
      });
    }
  } catch (e) {
    run.fail(e instanceof LabFailure ? e : new LabFailure((e as Error).message.split("\n")[0]!));
  } finally {
    await run.teardown();
  }
  if (run.interrupted) return EXIT_INTERRUPTED;
  const passed = run.passed();
  process.stdout.write(`verdict: ${passed ? "PASSED" : "FAILED"}\n`);
  return passed ? EXIT_OK : EXIT_RUNTIME;
}
