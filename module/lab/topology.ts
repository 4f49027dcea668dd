/**
 * The network-namespace topology of `6to4-pmt lab`, also built by the integration tests and the
 * benchmark (with `p<pid>-` names):
 *
 *   lan ---- cpe ======== isp ======== relay ---- inet
 *   host     6to4 CPE     IPv4-only     PMT relay    IPv6 Internet: server 3fff:100::1,
 *            WAN 100.64.0.2/24 (CGN     192.88.99.1  native host 3fff:200::1
 *            shared space, RFC 6598)    (RFC 3068)   routes 2001:db8::/32 and 2002::/16
 *                                                    to the relay (RFC 6732 §4.7)
 *   optional: more CPEs on the isp (100.64.N.2/24, each with its own lan), a second relay
 *   behind the same anycast address (relay2: 203.0.113.2), for the stateless-relay test.
 *
 * Addresses: IPv4 100.64.0.0/10 (customers), 198.51.100.0/24 and 203.0.113.0/24 (relay links),
 * 192.88.99.1 (anycast); IPv6 2001:db8::/32 (provider prefix), 2002::/16, 3fff::/20. Nothing is
 * connected to the root namespace.
 */
import { ipv4InPrefix, parseIpv4, parseIpv4Prefix } from "../addr/ipv4.js";
import { formatIpv6, parseIpv6 } from "../addr/ipv6.js";
import type { NetnsRegistry, NsProcess } from "./netns.js";

const LAB_PROVIDER_PREFIX = "2001:db8::/32";
export const LAB_ANYCAST = "192.88.99.1";
export const LAB_SERVER = "3fff:100::1";
export const LAB_NATIVE_HOST = "3fff:200::1";
const LAB_CUSTOMER_RANGE = "100.64.0.0/10";

export interface LabCpeSpec {
  /** Index N: WAN 100.64.N.2/24, isp side 100.64.N.1; namespaces cpe<N>/lan<N> (N=0: cpe/lan). */
  index: number;
  /** PMT LAN mode (provider /64 on the LAN) or plain 6to4 (2002:V4ADDR:SLA::/64). */
  pmt: boolean;
  /** SLA of the LAN /64 in plain mode (PMT mode always uses the mapped SLA 0). */
  sla?: number;
  /** WAN MTU (default 1500). */
  wanMtu?: number;
  /**
   * WAN IPv4 address a.b.c.d on a /24 whose .1 is the isp side (default 100.64.N.2, a customer);
   * outside 100.64.0.0/10 the site is not one of the lab relay's customers (RFC 6732 §4.7).
   */
  wanIpv4?: string;
}

export interface LabCpe {
  spec: LabCpeSpec;
  ns: string;
  lanNs: string;
  wanIpv4: string;
  /** The isp side of the WAN link (default gateway) and its device in the isp namespace. */
  wanGateway: string;
  ispDevice: string;
  /** The LAN host's address and the CPE's LAN address. */
  hostAddress: string;
  routerLanAddress: string;
  lanPrefix: string;
  /** The address the Internet sees for the LAN host (translated if mapped, else itself). */
  expectedSourceAtServer: string;
}

export interface LabRelay {
  ns: string;
  unicast: string;
  ispSide: string;
  inetAddress: string;
  inetPeer: string;
}

export interface LabTopology {
  cpes: LabCpe[];
  relays: LabRelay[];
  isp: string;
  inet: string;
}

export interface LabOptions {
  cpes: LabCpeSpec[];
  relays?: number;
  /** LAN MTU (the TCP test uses 1500 toward a 1480 tunnel). */
  lanMtu?: number;
  /**
   * The CPEs' WAN addresses come by DHCP (the lab's dnsmasq and udhcpc, lab/dhcp.ts): wan0 gets no
   * static address or route; `wanIpv4` is the address the DHCP server hands out.
   */
  dhcpWan?: boolean;
  /**
   * The LAN hosts configure themselves from the CPE's Router Advertisements (SLAAC, RA MTU): no
   * static address or route on the host, none on the CPE's lan0 (the daemon adds its router
   * address); `hostAddress` is then only known after SLAAC.
   */
  slaacLan?: boolean;
}

function hex4(n: number): string {
  return n.toString(16);
}

/** 6to4 /48 words of an IPv4 address: "6440:2" for 100.64.0.2. */
function v4Words(v4: string): string {
  const n = parseIpv4(v4)!;
  return `${hex4(n >>> 16)}:${hex4(n & 0xffff)}`;
}

/** Builds the topology in `reg` (namespaces named by `reg.name(role)`). */
export function buildLabTopology(reg: NetnsRegistry, options: LabOptions): LabTopology {
  const relayCount = options.relays ?? 1;
  const isp = reg.createNamespace("isp", { forwarding: true });
  const inet = reg.createNamespace("inet", { forwarding: true });
  reg.addr(inet, "lo", `${LAB_SERVER}/128`);
  reg.addr(inet, "lo", `${LAB_NATIVE_HOST}/128`);

  const relays: LabRelay[] = [];
  for (let r = 0; r < relayCount; r++) {
    const ns = reg.createNamespace(r === 0 ? "relay" : `relay${r + 1}`, { forwarding: true });
    reg.removeOnCleanup(labRelaySocket(ns));
    const net = r === 0 ? "198.51.100" : "203.0.113";
    reg.veth(isp, `relay${r}`, ns, "wan0");
    reg.addr(isp, `relay${r}`, `${net}.1/24`);
    reg.addr(ns, "wan0", `${net}.2/24`);
    reg.addr(ns, "lo", `${LAB_ANYCAST}/32`);
    reg.route(ns, `default via ${net}.1`);
    // relay <-> inet: 3fff:0:R::/64 (R = 1, 2).
    reg.veth(ns, "inet0", inet, `relay${r}`);
    reg.addr(ns, "inet0", `3fff:0:${r + 1}::2/64`);
    reg.addr(inet, `relay${r}`, `3fff:0:${r + 1}::1/64`);
    reg.route(ns, `::/0 via 3fff:0:${r + 1}::1`);
    relays.push({
      ns,
      unicast: `${net}.2`,
      ispSide: `${net}.1`,
      inetAddress: `3fff:0:${r + 1}::2`,
      inetPeer: `3fff:0:${r + 1}::1`,
    });
  }
  // The anycast 192.88.99.1 and the return path (provider prefix, 2002::/16) go to the first relay.
  reg.route(isp, `${LAB_ANYCAST}/32 via ${relays[0]!.unicast}`);
  reg.route(inet, `${LAB_PROVIDER_PREFIX} via ${relays[0]!.inetAddress}`);
  reg.route(inet, `2002::/16 via ${relays[0]!.inetAddress}`);

  const cpes: LabCpe[] = [];
  for (const spec of options.cpes) {
    const n = spec.index;
    const ns = reg.createNamespace(n === 0 ? "cpe" : `cpe${n}`, { forwarding: true });
    const lanNs = reg.createNamespace(n === 0 ? "lan" : `lan${n}`);
    for (const f of labCpeFiles(ns)) reg.removeOnCleanup(f);
    const wanIpv4 = spec.wanIpv4 ?? `100.64.${n}.2`;
    const ispSide = wanIpv4.replace(/\.\d+$/, ".1");
    reg.veth(isp, `cpe${n}`, ns, "wan0", spec.wanMtu);
    reg.addr(isp, `cpe${n}`, `${ispSide}/24`);
    if (options.dhcpWan !== true) {
      reg.addr(ns, "wan0", `${wanIpv4}/24`);
      reg.route(ns, `default via ${ispSide}`);
    }
    reg.veth(ns, "lan0", lanNs, "eth0", options.lanMtu);
    const words = v4Words(wanIpv4);
    const sla = spec.pmt ? 0 : (spec.sla ?? 0);
    // RFC 6732 Figure 3: 2002:V4ADDR:0000::/64 <-> 2001:db8:V4ADDR::/64 (P/32, m = 0, s = 0).
    const lanPrefix = spec.pmt ? `2001:db8:${words}::` : `2002:${words}:${hex4(sla)}::`;
    const hostAddress = `${lanPrefix}100`;
    const routerLanAddress = `${lanPrefix}1`;
    if (options.slaacLan === true) {
      // A host: accepts RAs (forwarding is off in lanNs), forms addresses, takes the RA's MTU.
      for (const key of ["accept_ra", "autoconf", "accept_ra_mtu"]) {
        reg.must(["ip", "netns", "exec", lanNs, "sysctl", "-qw", `net.ipv6.conf.eth0.${key}=1`]);
      }
    } else {
      reg.addr(ns, "lan0", `${routerLanAddress}/64`);
      reg.addr(lanNs, "eth0", `${hostAddress}/64`);
      reg.route(lanNs, `::/0 via ${routerLanAddress}`);
    }
    // Relay-mapped SLA 0 is translated at the relay even for a plain CPE (RFC 6732 §3.3), for
    // the relay's PMT customers only (§4.7: the lab relay's customer_ipv4 100.64.0.0/10).
    const customer = ipv4InPrefix(parseIpv4(wanIpv4)!, parseIpv4Prefix(LAB_CUSTOMER_RANGE)!);
    const translatedAtRelay = (spec.pmt || sla === 0) && customer;
    cpes.push({
      spec,
      ns,
      lanNs,
      wanIpv4,
      wanGateway: `100.64.${n}.1`,
      ispDevice: `cpe${n}`,
      hostAddress,
      routerLanAddress,
      lanPrefix: `${lanPrefix}/64`,
      expectedSourceAtServer: translatedAtRelay ? `2001:db8:${words}::100` : hostAddress,
    });
  }
  // RFC 5952 text, as tools print it ("2002:6440:2:0::100" -> "2002:6440:2::100").
  for (const c of cpes) {
    c.hostAddress = norm(c.hostAddress);
    c.routerLanAddress = norm(c.routerLanAddress);
    c.expectedSourceAtServer = norm(c.expectedSourceAtServer);
  }
  return { cpes, relays, isp, inet };
}

function norm(s: string): string {
  const b = parseIpv6(s);
  if (b === null) throw new Error(`lab: bad IPv6 address ${s}`);
  return formatIpv6(b);
}

/** Moves the anycast route (and the IPv6 return routes) to relay `r`: an anycast withdrawal. */
export function switchAnycastTo(reg: NetnsRegistry, t: LabTopology, r: number): void {
  const relay = t.relays[r]!;
  reg.must(["ip", "-n", t.isp, "route", "replace", `${LAB_ANYCAST}/32`, "via", relay.unicast]);
  reg.must([
    "ip",
    "-6",
    "-n",
    t.inet,
    "route",
    "replace",
    LAB_PROVIDER_PREFIX,
    "via",
    relay.inetAddress,
  ]);
  reg.must(["ip", "-6", "-n", t.inet, "route", "replace", "2002::/16", "via", relay.inetAddress]);
}

/** State file and status socket of a lab CPE (removed with the namespaces). */
export function labCpeFiles(ns: string): [string, string] {
  return [
    `/tmp/6to4-pmt-${process.pid}-${ns}.state.json`,
    `/tmp/6to4-pmt-${process.pid}-${ns}.sock`,
  ];
}

/** Status socket of a lab relay (one per namespace: they share the host's file system). */
export function labRelaySocket(ns: string): string {
  return `/tmp/6to4-pmt-${process.pid}-${ns}.relay.sock`;
}

/** What every lab CPE is given: enabled, the device names, its state file and status socket. */
export function labCpeCommonArgs(files: readonly string[]): string[] {
  return [
    "cpe",
    "--enabled",
    "--wan-device",
    "wan0",
    "--lan-device",
    "lan0",
    "--state-file",
    files[0]!,
    "--status-socket",
    files[1]!,
    "--log-level",
    "info",
  ];
}

/** A CPE told its WAN address and customer range, without RAs or DHCP option 212. */
export function labStaticCpeArgs(
  files: readonly string[],
  wanIpv4: string,
  allow: string,
): string[] {
  return [
    ...labCpeCommonArgs(files),
    "--wan-ipv4",
    wanIpv4,
    "--allow-ipv4",
    allow,
    "--ra",
    "off",
    "--use-dhcp-6rd",
    "0",
  ];
}

/** Flags for `6to4-pmt cpe` in the lab. */
export function labCpeArgs(c: LabCpe, extra: readonly string[] = []): string[] {
  const args = labStaticCpeArgs(labCpeFiles(c.ns), c.wanIpv4, LAB_CUSTOMER_RANGE);
  if (c.spec.pmt) args.push("--provider-prefix", LAB_PROVIDER_PREFIX);
  // A plain CPE on shared space runs only toward an operator-named relay (RFC 6732 §4.2,
  // control/wan-policy.ts): name the relay explicitly.
  else args.push("--relay", LAB_ANYCAST);
  return [...args, ...extra];
}

/**
 * Flags for the CPE of `6to4-pmt lab`: what a default OpenWrt config gives it (enabled, the device
 * names), the built-in RA sender (the mode off OpenWrt), and where its state file and status
 * socket go. WAN address, provider prefix and relay it learns (DHCP and option 212, lab/dhcp.ts).
 */
export function labLearningCpeArgs(c: LabCpe): string[] {
  return [...labCpeCommonArgs(labCpeFiles(c.ns)), "--ra", "builtin"];
}

/** Flags for `6to4-pmt relay` in the lab. */
export function labRelayArgs(r: LabRelay, extra: readonly string[] = []): string[] {
  return [
    "relay",
    "--enabled",
    "--relay-ipv4",
    `${LAB_ANYCAST},${r.unicast}`,
    "--provider-prefix",
    LAB_PROVIDER_PREFIX,
    "--customer-ipv4",
    LAB_CUSTOMER_RANGE,
    "--log-level",
    "info",
    "--status-socket",
    labRelaySocket(r.ns),
    ...extra,
  ];
}

/**
 * V8 flags for a daemon's node, the same as the OpenWrt launcher's (/usr/sbin/6to4-pmt), measured
 * with the benchmark's traffic (anonymous RSS after a TCP + UDP run, per daemon):
 *   --max-semi-space-size=1  young generation capped at 1 MB per semi-space; V8 otherwise grows
 *                            it towards 16 MB under load (heap 9.4 -> 6.1-6.6 MB), while the data
 *                            plane allocates almost nothing per packet;
 *   --single-threaded        no background compiler/GC threads: their malloc arenas kept ~2.5 MB
 *                            after TurboFan warmed up (anon 15 -> 12.5 MB); the heap is a few MB,
 *                            so GC on the main thread costs no measurable throughput;
 *   --no-sparkplug           no baseline (Sparkplug) tier between the interpreter and TurboFan:
 *                            its compiler and the builtins its code calls are 0.4-0.7 MB of the node
 *                            binary resident per daemon; the packet path is TurboFan code either
 *                            way, so CPU per packet is unchanged (docs/performance.md);
 *   --optimize-for-size      full collections while the old generation is a few MB above what is
 *                            live, not tens: without it V8 lets promoted garbage pile up to its
 *                            limit (the first full collection at ~110 MB of heap on a 2-core VM
 *                            unless the memory reducer runs; after one, at live + ~20 MB), which a
 *                            long-running daemon reaches (docs/performance.md, Memory).
 *   --expose-gc              node's gc(), for the daemons' full collection every 10 minutes
 *                            (cli/heap-housekeeping.ts): what little is promoted
 *                            under load still piles up between V8's own full collections.
 * All five exist in the V8 of Node 18, 20 and 22.
 */
export const DAEMON_NODE_FLAGS: readonly string[] = [
  "--max-semi-space-size=1",
  "--single-threaded",
  "--no-sparkplug",
  "--optimize-for-size",
  "--expose-gc",
];

/**
 * Starts a daemon in a namespace: `command` is how to run the CLI (`[process.execPath, bundle]`),
 * `args` its subcommand and flags. When `command` starts with this node, DAEMON_NODE_FLAGS go
 * right after it.
 */
export function spawnDaemon(
  reg: NetnsRegistry,
  ns: string,
  command: readonly string[],
  args: readonly string[],
  logFile?: string,
  env?: NodeJS.ProcessEnv,
): NsProcess {
  const [exe, ...rest] = command;
  const argv =
    exe === process.execPath
      ? [exe, ...DAEMON_NODE_FLAGS, ...rest, ...args]
      : [...command, ...args];
  return reg.spawn(ns, argv, {
    ...(logFile !== undefined ? { logFile } : {}),
    ...(env !== undefined ? { env } : {}),
  });
}

/** Waits until the daemon's stderr shows both loops started (or it exited). */
export async function waitDaemonReady(
  reg: NetnsRegistry,
  p: NsProcess,
  timeoutMs = 8000,
): Promise<boolean> {
  await reg.waitFor(
    () => p.hasExited() || (p.stderr().match(/loop started/g) ?? []).length >= 2,
    timeoutMs,
  );
  return !p.hasExited() && (p.stderr().match(/loop started/g) ?? []).length >= 2;
}
