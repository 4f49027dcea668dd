/**
 * Namespace topology for the control-plane integration tests (root only):
 *
 *   lan ------------ cpe ================ isp ================ relay
 *   eth0             lan0   wan0         cpe0    relay0        wan0, lo 192.88.99.1
 *   SLAAC from       6to4-pmt cpe        192.0.2.254/24        198.51.100.2/24
 *   our RAs          WAN 192.0.2.1/24    203.0.113.254/24      6to4-pmt relay: answers
 *   100.64.50.2/24   (static or DHCP)    198.51.100.1/24       echo to 2002:c058:6301::
 *                    100.64.50.1/24      [dnsmasq, option 212] (RFC 6343 §4.4 item 4)
 *
 * The relay is `6to4-pmt relay` (the kernel's sit 6to4 would be a more independent peer, but sit
 * is not available in every CI kernel); the CPE's health probe is an ICMPv6 echo to it.
 * Addresses: documentation ranges, 100.64.0.0/10, 192.88.99.0/24, 2002::/16, 2001:db8::/32, 3fff::/20
 * only; nothing is linked to the root namespace.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { NetnsRegistry, NsProcess } from "./netns.js";

export const CPE_WAN = "192.0.2.1";
export const CPE_WAN_2 = "203.0.113.7";
export const ISP_CPE_SIDE = "192.0.2.254";
export const ISP_CPE_SIDE_2 = "203.0.113.254";
export const LAN_HOST_V4 = "100.64.50.2";
export const LAN_ROUTER_V4 = "100.64.50.1";

export interface ControlLab {
  readonly reg: NetnsRegistry;
  readonly lan: string;
  readonly cpe: string;
  readonly isp: string;
  readonly relay: string;
  /** Scratch directory (state file, status socket, lease file, captures). */
  readonly dir: string;
  readonly statusSocket: string;
  readonly stateFile: string;
  readonly leaseFile: string;
  /** /etc/netns/<lan>: files here are bind-mounted over /etc by `ip netns exec` (hosts). */
  readonly etcNetns: string;
}

/** Python snippet turning off TX checksum offload on a veth (dnsmasq -> udhcpc over AF_PACKET). */
const TX_CSUM_OFF = `
import ctypes, fcntl, socket, struct, sys
ev = ctypes.create_string_buffer(struct.pack("II", 0x17, 0))  # ETHTOOL_STXCSUM, off
fcntl.ioctl(socket.socket(), 0x8946, struct.pack("16sP", sys.argv[1].encode(), ctypes.addressof(ev)))
`;

export function buildControlLab(reg: NetnsRegistry, options: { staticWan: boolean }): ControlLab {
  const isp = reg.createNamespace("isp", { forwarding: true });
  // A relay forwards what it decapsulates (cli/relay-sysctl.ts refuses to start otherwise).
  const relay = reg.createNamespace("relay", { forwarding: true });
  const cpe = reg.createNamespace("cpe", { forwarding: true });
  const lan = reg.createNamespace("lan");

  reg.veth(isp, "cpe0", cpe, "wan0");
  reg.addr(isp, "cpe0", `${ISP_CPE_SIDE}/24`);
  reg.addr(isp, "cpe0", `${ISP_CPE_SIDE_2}/24`);
  // dnsmasq's UDP checksums would be left to the (absent) NIC; udhcpc reads raw frames.
  reg.must(["ip", "netns", "exec", isp, "python3", "-c", TX_CSUM_OFF, "cpe0"]);
  if (options.staticWan) {
    reg.addr(cpe, "wan0", `${CPE_WAN}/24`);
    reg.route(cpe, `default via ${ISP_CPE_SIDE}`);
  }

  reg.veth(isp, "relay0", relay, "wan0");
  reg.addr(isp, "relay0", "198.51.100.1/24");
  reg.addr(relay, "wan0", "198.51.100.2/24");
  reg.addr(relay, "lo", "192.88.99.1/32");
  reg.route(relay, "default via 198.51.100.1");
  reg.route(isp, "192.88.99.1/32 via 198.51.100.2");

  reg.veth(cpe, "lan0", lan, "eth0");
  reg.addr(cpe, "lan0", `${LAN_ROUTER_V4}/24`);
  reg.addr(lan, "eth0", `${LAN_HOST_V4}/24`);
  reg.route(lan, `default via ${LAN_ROUTER_V4}`);
  // A LAN host accepts RAs (forwarding off), forms SLAAC addresses, takes the MTU.
  for (const [k, v] of [
    ["net.ipv6.conf.eth0.accept_ra", "1"],
    ["net.ipv6.conf.eth0.autoconf", "1"],
    ["net.ipv6.conf.eth0.accept_ra_mtu", "1"],
  ]) {
    reg.must(["ip", "netns", "exec", lan, "sysctl", "-qw", `${k}=${v}`]);
  }

  const dir = mkdtempSync(join(tmpdir(), "pmt-control-"));
  const etcNetns = join("/etc/netns", lan);
  mkdirSync(etcNetns, { recursive: true });
  return {
    reg,
    lan,
    cpe,
    isp,
    relay,
    dir,
    statusSocket: join(dir, "status.sock"),
    stateFile: join(dir, "state.json"),
    leaseFile: join(dir, "dhcp.lease"),
    etcNetns,
  };
}

/** Removes the scratch directory and /etc/netns/<lan> (namespaces go with reg.cleanup()). */
export function removeControlLabFiles(lab: ControlLab | undefined): void {
  if (!lab) return;
  rmSync(lab.dir, { recursive: true, force: true });
  rmSync(lab.etcNetns, { recursive: true, force: true });
}

/** Writes /etc/netns/<lan>/hosts so `getent` in the LAN namespace sees these names. */
export function writeLanHosts(lab: ControlLab, lines: readonly string[]): void {
  writeFileSync(
    join(lab.etcNetns, "hosts"),
    ["127.0.0.1 localhost", "::1 localhost", ...lines].join("\n") + "\n",
  );
}

/** The compiled CLI runner (out/test/support/daemon-runner.js). */
export const DAEMON_RUNNER = resolve(__dirname, "daemon-runner.js");

/** Starts `6to4-pmt cpe` in the cpe namespace with the lab's paths and fast RA timing. */
export function startCpe(lab: ControlLab, extra: readonly string[] = []): NsProcess {
  const args = [
    process.execPath,
    DAEMON_RUNNER,
    "cpe",
    "--enabled",
    "--wan-device",
    "wan0",
    "--lan-device",
    "lan0",
    "--state-file",
    lab.stateFile,
    "--status-socket",
    lab.statusSocket,
    "--ra-min-interval",
    "3",
    "--ra-max-interval",
    "4",
    "--log-level",
    "debug",
    ...extra,
  ];
  return lab.reg.spawn(lab.cpe, args, { env: { ...process.env, PMT_DHCP_FILE: lab.leaseFile } });
}

/** Starts `6to4-pmt relay` in the relay namespace (anycast + unicast). */
export function startRelay(lab: ControlLab, extra: readonly string[] = []): NsProcess {
  return lab.reg.spawn(lab.relay, [
    process.execPath,
    DAEMON_RUNNER,
    "relay",
    "--enabled",
    "--relay-ipv4",
    "192.88.99.1,198.51.100.2",
    "--log-level",
    "info",
    "--status-socket",
    join(lab.dir, "relay.sock"),
    ...extra,
  ]);
}

/** Waits until a daemon's data-plane loops run (false if it exited). */
export async function waitLoops(
  lab: ControlLab,
  p: NsProcess,
  timeoutMs = 10_000,
): Promise<boolean> {
  const ready = () => (p.stderr().match(/loop started/g) ?? []).length >= 2;
  await lab.reg.waitFor(() => p.hasExited() || ready(), timeoutMs, 100);
  return !p.hasExited() && ready();
}

/** Waits for the control plane's "control plane up" line (false if the daemon exited). */
export async function waitCpeUp(
  lab: ControlLab,
  p: NsProcess,
  timeoutMs = 15_000,
): Promise<boolean> {
  await lab.reg.waitFor(
    () => p.hasExited() || p.stderr().includes("control plane up"),
    timeoutMs,
    100,
  );
  return !p.hasExited() && p.stderr().includes("control plane up");
}

/** `ip -j` in a namespace, parsed. */
export function ipJson<T = Record<string, unknown>[]>(
  lab: ControlLab,
  ns: string,
  args: readonly string[],
): T {
  const r = lab.reg.exec(ns, ["ip", "-j", ...args]);
  return JSON.parse(r.stdout || "[]") as T;
}

export interface LanAddress {
  local: string;
  prefixlen: number;
  deprecated: boolean;
  preferred: number;
  valid: number;
}

/** The LAN host's global IPv6 addresses. */
export function lanAddresses(lab: ControlLab): LanAddress[] {
  const links = ipJson<Array<{ addr_info?: Array<Record<string, unknown>> }>>(lab, lab.lan, [
    "-6",
    "addr",
    "show",
    "dev",
    "eth0",
  ]);
  const out: LanAddress[] = [];
  for (const a of links[0]?.addr_info ?? []) {
    if (a.scope !== "global") continue;
    out.push({
      local: String(a.local),
      prefixlen: Number(a.prefixlen),
      deprecated: a.deprecated === true || a.preferred_life_time === 0,
      preferred: Number(a.preferred_life_time),
      valid: Number(a.valid_life_time),
    });
  }
  return out;
}

/** The LAN host's IPv6 default route (via our RA), or undefined. */
export function lanDefaultRoute(lab: ControlLab): Record<string, unknown> | undefined {
  return ipJson(lab, lab.lan, ["-6", "route", "show", "default"])[0];
}
