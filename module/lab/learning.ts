/**
 * The first half of `6to4-pmt lab`: the CPE learns everything the operator tells it and passes it
 * on to the LAN, checked at each hop with real tools:
 *   1. the carrier's dnsmasq leases the WAN address and OPTION_6RD (RFC 5969 §7.1.1) to busybox
 *      udhcpc on the CPE, whose script configures wan0 and writes the daemon's lease file;
 *   2. the daemon takes provider prefix, IPv4MaskLen and relay from it (status socket: values and
 *      sources), derives 2002:V4ADDR::/48 (RFC 3056 §2) and the translated /64 (RFC 6732 Figure 3),
 *      and its health probe reaches the relay;
 *   3. the LAN host sees the Router Advertisement (rdisc6: prefix, MTU, router lifetime, RDNSS,
 *      DNSSL) and its kernel forms a SLAAC address in the translated /64 and takes the RA's MTU.
 * Each check is one PASS/FAIL step; the expected prefixes are computed here (lab/observe.ts), not
 * taken from the daemon.
 */
import { chmodSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { queryStatusSocket } from "../status/server.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import { dnsmasqArgs, parseLeaseLines, udhcpcArgs, UDHCPC_SCRIPT, type SixRdText } from "./dhcp.js";
import type { NetnsRegistry, NsProcess } from "./netns.js";
import {
  globalAddresses,
  inIpv6Prefix,
  normIpv6,
  parseRdisc6,
  sixto4Prefix48,
  translatedPrefix64,
  type RaSeen,
} from "./observe.js";
import { LAB_ANYCAST, labCpeFiles, type LabCpe, type LabTopology } from "./topology.js";

/** One line of the lab's report. */
export interface LabStep {
  name: string;
  ok: boolean;
  detail: string;
}

/** What the operator's DHCP server tells the CPE (RFC 6732 Figure 3 is then exact). */
export const LAB_OPTION_6RD: SixRdText = {
  ipv4MaskLen: 0,
  prefix: "2001:db8::/32",
  relays: [LAB_ANYCAST],
};

/** DHCP lease time: long enough that no renewal happens during a run (dnsmasq's minimum is 120). */
const LEASE_SECONDS = 3600;

/** Bounds of the waits below (each polls and returns as soon as the condition holds). */
const LEASE_WAIT_MS = 20_000;
const LEARN_WAIT_MS = 15_000;
const RA_WAIT_MS = 10_000;

export interface Learned {
  /** The LAN host's SLAAC address. */
  hostAddress: string;
  /** The WAN address the CPE leased. */
  wanIpv4: string;
  /** dnsmasq and udhcpc (stopped with the registry). */
  dhcpServer: NsProcess;
  dhcpClient: NsProcess;
}

/** The processes' log files in `dir` (dnsmasq's and udhcpc's output). */
export function dhcpLogs(dir: string): string[] {
  return [join(dir, "dnsmasq.log"), join(dir, "udhcpc.log")];
}

/**
 * Starts the carrier's dnsmasq leasing `address` (only it) on the CPE's WAN link, with option 212;
 * resolves once it listens (or exited).
 */
export async function startDhcpServer(
  reg: NetnsRegistry,
  t: LabTopology,
  cpe: LabCpe,
  dir: string,
  address: string,
): Promise<NsProcess> {
  const p = reg.spawn(
    t.isp,
    dnsmasqArgs({
      device: cpe.ispDevice,
      address,
      prefixLen: 24,
      router: cpe.wanGateway,
      leaseSeconds: LEASE_SECONDS,
      option212: LAB_OPTION_6RD,
      dir,
    }),
    { logFile: dhcpLogs(dir)[0]! },
  );
  // dnsmasq logs its DHCP range once its socket is bound; udhcpc retries every second anyway.
  await reg.waitFor(() => /DHCP, IP range/.test(p.stderr()) || p.hasExited());
  return p;
}

/** Runs steps 1-3; resolves with the host's address, or null after a failed step. */
export async function runLearning(
  reg: NetnsRegistry,
  t: LabTopology,
  cpe: LabCpe,
  dir: string,
  leaseFile: string,
  step: (s: LabStep) => void,
): Promise<Learned | null> {
  const clientLog = dhcpLogs(dir)[1]!;
  const dhcpServer = await startDhcpServer(reg, t, cpe, dir, cpe.wanIpv4);
  const script = join(dir, "udhcpc.sh");
  writeFileSync(script, UDHCPC_SCRIPT, { mode: 0o700 });
  chmodSync(script, 0o700);
  const dhcpClient = reg.spawn(cpe.ns, udhcpcArgs("wan0", script), {
    logFile: clientLog,
    env: { ...process.env, PMT_DHCP_FILE: leaseFile },
  });
  const learned: Learned = { hostAddress: "", wanIpv4: "", dhcpServer, dhcpClient };

  // 1. The lease, as the script handed it to the daemon, and the address it configured.
  let lease = new Map<string, string>();
  let ip = "";
  let configured = false;
  await reg.waitFor(
    () => {
      lease = readLease(leaseFile);
      ip = lease.get("ip") ?? "";
      const wanAddrs = reg.exec(cpe.ns, ["ip", "-4", "-o", "addr", "show", "dev", "wan0"]).stdout;
      configured = ip !== "" && wanAddrs.includes(` inet ${ip}/`);
      return configured || dhcpClient.hasExited() || dhcpServer.hasExited();
    },
    LEASE_WAIT_MS,
    100,
  );
  const ip6rd = (lease.get("ip6rd") ?? "").split(/\s+/).filter(Boolean);
  const sixrdOk =
    ip6rd.length >= 4 &&
    Number(ip6rd[0]) === LAB_OPTION_6RD.ipv4MaskLen &&
    `${normIpv6(ip6rd[2]!)}/${ip6rd[1]}` === LAB_OPTION_6RD.prefix &&
    ip6rd.slice(3).join(",") === LAB_OPTION_6RD.relays.join(",");
  step({
    name: "DHCPv4 lease with option 212",
    ok: configured && sixrdOk,
    detail:
      ip === ""
        ? `no lease within ${LEASE_WAIT_MS / 1000} s (${tail(dhcpClient.stderr())})`
        : `${ip}/${lease.get("mask") ?? "?"} router ${lease.get("router") || "none"}, ` +
          `${lease.get("lease") ?? "?"} s, from DHCP server ${lease.get("serverid") || "?"} ` +
          `(dnsmasq in ${t.isp}); OPTION_6RD (RFC 5969 §7.1.1) ` +
          (ip6rd.length >= 4
            ? `IPv4MaskLen ${ip6rd[0]}, 6rdPrefix ${normIpv6(ip6rd[2]!)}/${ip6rd[1]}, ` +
              `BR ${ip6rd.slice(3).join(" ")}`
            : "missing") +
          `; udhcpc's script ${configured ? "configured" : "did NOT configure"} ${ip} on ` +
          `${cpe.ns} wan0 and wrote the daemon's lease file`,
  });
  if (!configured || !sixrdOk) return null;
  learned.wanIpv4 = ip;

  // 2. What the daemon made of it (status socket), against what this file computes.
  const socket = labCpeFiles(cpe.ns)[1];
  let s: StatusSnapshot | null = null;
  const learnedAll = (x: StatusSnapshot | null): boolean =>
    x !== null &&
    x.state === "running" &&
    x.wan.ipv4 === ip &&
    x.providerPrefix.source === "dhcp" &&
    x.relays.source === "dhcp" &&
    x.health.state === "up";
  const deadline = Date.now() + LEARN_WAIT_MS;
  while (Date.now() < deadline) {
    s = await status(socket);
    if (learnedAll(s)) break;
    await sleep(100);
  }
  if (s === null) {
    step({ name: "CPE learned from DHCP", ok: false, detail: `no answer on ${socket}` });
    return null;
  }
  const providerOk =
    s.providerPrefix.value === LAB_OPTION_6RD.prefix &&
    s.providerPrefix.source === "dhcp" &&
    s.ipv4PrefixLen.value === LAB_OPTION_6RD.ipv4MaskLen &&
    s.ipv4PrefixLen.source === "dhcp" &&
    s.relays.source === "dhcp" &&
    s.relays.value.join(",") === LAB_OPTION_6RD.relays.join(",");
  step({
    name: "CPE learned from DHCP",
    ok: providerOk && s.state === "running" && s.wan.ipv4 === ip,
    detail:
      `state ${s.state}; WAN ${s.wan.ipv4 ?? "none"} (${s.wan.ipv4Class ?? "?"}, ${s.wan.ipv4Source}), ` +
      `provider prefix ${s.providerPrefix.value ?? "none"} (${s.providerPrefix.source}), ` +
      `IPv4MaskLen ${s.ipv4PrefixLen.value} (${s.ipv4PrefixLen.source}), ` +
      `relay ${s.relays.value.join(" ")} (${s.relays.source})` +
      (s.stateReason !== null ? `; ${s.stateReason}` : ""),
  });
  const want48 = sixto4Prefix48(ip);
  step({
    name: "6to4 prefix derived",
    ok: want48 !== null && s.sixto4Prefix === want48,
    detail: `${s.sixto4Prefix ?? "none"} from V4ADDR ${ip} (RFC 3056 §2; expected ${want48 ?? "?"})`,
  });
  const want64 = translatedPrefix64(LAB_OPTION_6RD.prefix, ip, LAB_OPTION_6RD.ipv4MaskLen);
  step({
    name: "translated /64",
    ok: want64 !== null && s.translatedPrefix === want64 && s.lanPrefix === want64,
    detail:
      `${s.translatedPrefix ?? "none"} = ${LAB_OPTION_6RD.prefix} + the ` +
      `${32 - LAB_OPTION_6RD.ipv4MaskLen} bits of ${ip} + SLA 0 (RFC 6732 Figure 3; expected ` +
      `${want64 ?? "?"}); LAN prefix ${s.lanPrefix ?? "none"} on ${cpe.ns} lan0`,
  });
  step({
    name: "tunnel health",
    ok: s.health.state === "up",
    detail:
      `ICMPv6 echo to ${s.health.target ?? "?"} through relay ${s.relayInUse ?? "?"}: ` +
      `${s.health.state}` +
      (s.health.lastRttMs !== null ? `, rtt ${s.health.lastRttMs} ms` : "") +
      ` (RFC 6343 §4.4; the default route is advertised only while it answers)`,
  });
  if (want64 === null || s.translatedPrefix !== want64 || s.health.state !== "up") return null;

  // 3. The LAN host: the RA as rdisc6 sees it, then what the kernel made of it.
  let ra: RaSeen | undefined;
  const raOk = (r: RaSeen | undefined): boolean =>
    r !== undefined &&
    (r.routerLifetimeS ?? 0) > 0 &&
    r.mtu === s!.tunnelMtu &&
    r.prefixes.some((p) => p.prefix === want64 && p.autonomous && p.onLink && p.preferredS > 0);
  for (const end = Date.now() + RA_WAIT_MS; Date.now() < end && !raOk(ra);) {
    const r = await reg.execAsync(cpe.lanNs, ["rdisc6", "-1", "-n", "-w", "1000", "eth0"], 5000);
    ra = parseRdisc6(r.stdout)[0] ?? ra;
  }
  const adv = ra?.prefixes.find((p) => p.prefix === want64);
  step({
    name: "RA seen by the LAN host",
    ok: raOk(ra),
    detail:
      ra === undefined
        ? `rdisc6 on ${cpe.lanNs} eth0 got no Router Advertisement`
        : `rdisc6: prefix ${adv?.prefix ?? ra.prefixes.map((p) => p.prefix).join(" ")}` +
          (adv !== undefined
            ? ` (${adv.onLink ? "on-link" : "off-link"}, ${adv.autonomous ? "autonomous" : "no SLAAC"}, ` +
              `valid ${adv.validS} s, preferred ${adv.preferredS} s)`
            : "") +
          `, MTU ${ra.mtu ?? "none"} (tunnel ${s.tunnelMtu}), router lifetime ` +
          `${ra.routerLifetimeS ?? "?"} s, preference ${ra.preference ?? "?"}, ` +
          `RDNSS ${ra.rdnss.join(" ") || "none"}, DNSSL ${ra.dnssl.join(" ") || "none"}, ` +
          `from ${ra.from ?? "?"}`,
  });
  if (!raOk(ra)) return null;

  // The kernel's own address, route and MTU from the RA (SLAAC, RFC 4862 §5.5.3; RFC 4861 §6.3.4).
  let addr: ReturnType<typeof globalAddresses>[number] | undefined;
  let route = "";
  let mtu = "";
  const slaacOk = (): boolean => addr !== undefined && route !== "" && mtu === String(ra!.mtu);
  await reg.waitFor(
    () => {
      addr = globalAddresses(
        reg.exec(cpe.lanNs, ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout,
      ).find((a) => a.dynamic && !a.tentative && !a.deprecated && inIpv6Prefix(a.address, want64));
      route =
        /^default via (\S+)/m.exec(
          reg.exec(cpe.lanNs, ["ip", "-6", "route", "show", "default"]).stdout,
        )?.[1] ?? "";
      mtu = reg.exec(cpe.lanNs, ["cat", "/proc/sys/net/ipv6/conf/eth0/mtu"]).stdout.trim();
      return slaacOk();
    },
    RA_WAIT_MS,
    100,
  );
  step({
    name: "SLAAC address formed",
    ok: slaacOk(),
    detail:
      addr === undefined
        ? `no dynamic address in ${want64} on ${cpe.lanNs} eth0`
        : `${addr.address}/${addr.prefixLen} on ${cpe.lanNs} eth0 (dynamic, valid ${addr.validS} s, ` +
          `preferred ${addr.preferredS} s); IPv6 MTU ${mtu || "?"} from the RA; default route via ` +
          `${route || "none"}`,
  });
  if (!slaacOk()) return null;
  learned.hostAddress = addr!.address;
  return learned;
}

function readLease(file: string): Map<string, string> {
  try {
    return parseLeaseLines(readFileSync(file, "utf8"));
  } catch {
    return new Map();
  }
}

/** The CPE daemon's status snapshot, or null when its socket does not answer. */
export async function status(socket: string): Promise<StatusSnapshot | null> {
  try {
    return (await queryStatusSocket(socket)) as StatusSnapshot;
  } catch {
    return null;
  }
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

function tail(text: string): string {
  const lines = text.trim().split("\n");
  return lines[lines.length - 1] ?? "";
}
