/**
 * `6to4-pmt lab --faults`: what the LAN sees when the line changes under it, each step timed.
 *   1. The carrier renumbers: dnsmasq now leases another address, udhcpc renews (SIGUSR1), is
 *      refused (NAK) and binds the new one. The CPE advertises the new translated /64 and keeps
 *      advertising the old one deprecated (RFC 9096 §3.4/§3.5); the LAN host forms a new address
 *      and deprecates the old one (RFC 4862 §5.5.3), and traffic flows from the new one.
 *   2. The relay dies: the CPE's health probes fail and it advertises router lifetime 0 (RFC 7084
 *      L-4), so the LAN host drops its default route — within 30 s with the default timing.
 *   3. The relay returns: the first answered probe restores the default route.
 * Waits are polls with a bound; nothing is a fixed sleep.
 */
import { rmSync } from "node:fs";
import { join } from "node:path";
import type { LabStep } from "./learning.js";
import { LAB_OPTION_6RD, startDhcpServer, status } from "./learning.js";
import type { NetnsRegistry, NsProcess } from "./netns.js";
import {
  globalAddresses,
  inIpv6Prefix,
  parseRdisc6,
  translatedPrefix64,
  type HostAddress,
} from "./observe.js";
import { labCpeFiles, LAB_SERVER, type LabCpe, type LabTopology } from "./topology.js";

/** The address the carrier renumbers the CPE to. */
const RENUMBERED_WAN = "100.64.0.3";
/** Bounds: a renewal takes a few seconds; RFC 7084 L-4 as asked of the lab, 30 s. */
const RENUMBER_WAIT_MS = 20_000;
const WITHDRAW_BOUND_MS = 30_000;
const RESTORE_WAIT_MS = 30_000;

export interface FaultsContext {
  reg: NetnsRegistry;
  t: LabTopology;
  cpe: LabCpe;
  dir: string;
  dhcpServer: NsProcess;
  dhcpClient: NsProcess;
  relay: NsProcess;
  /** Starts the relay again (same arguments and log file). */
  startRelay: () => NsProcess;
  /** The LAN host's address before the faults. */
  hostAddress: string;
  wanIpv4: string;
}

export interface FaultsResult {
  /** The relay process after the faults (restarted). */
  relay: NsProcess;
  /** The dnsmasq process after the faults (restarted). */
  dhcpServer: NsProcess;
  hostAddress: string;
}

function seconds(fromMs: number): string {
  return `${((Date.now() - fromMs) / 1000).toFixed(1)} s`;
}

function lanAddresses(reg: NetnsRegistry, lanNs: string): HostAddress[] {
  return globalAddresses(reg.exec(lanNs, ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout);
}

function lanDefaultRoute(reg: NetnsRegistry, lanNs: string): string | null {
  const out = reg.exec(lanNs, ["ip", "-6", "route", "show", "default"]).stdout;
  return /^default via (\S+)/m.exec(out)?.[1] ?? null;
}

async function ping(reg: NetnsRegistry, ns: string, from: string): Promise<boolean> {
  const r = await reg.execAsync(
    ns,
    ["ping", "-6", "-c", "2", "-i", "0.2", "-W", "2", "-I", from, LAB_SERVER],
    10_000,
  );
  return r.code === 0;
}

/** Runs the three faults; resolves with the processes now running, or null after a failure. */
export async function runFaults(
  c: FaultsContext,
  step: (s: LabStep) => void,
): Promise<FaultsResult | null> {
  const { reg, t, cpe, dir } = c;
  const socket = labCpeFiles(cpe.ns)[1];
  const oldPrefix = translatedPrefix64(
    LAB_OPTION_6RD.prefix,
    c.wanIpv4,
    LAB_OPTION_6RD.ipv4MaskLen,
  )!;
  const newPrefix = translatedPrefix64(
    LAB_OPTION_6RD.prefix,
    RENUMBERED_WAN,
    LAB_OPTION_6RD.ipv4MaskLen,
  )!;

  // 1. Renumbering by a new lease.
  await reg.stop(c.dhcpServer, 3000);
  rmSync(join(dir, "dnsmasq.leases"), { force: true });
  const dhcpServer = await startDhcpServer(reg, t, cpe, dir, RENUMBERED_WAN);
  const t0 = Date.now();
  reg.kill(c.dhcpClient, "SIGUSR1"); // busybox udhcpc: renew now
  let leasedMs = 0;
  let cpeMs = 0;
  let hostMs = 0;
  let moved: HostAddress | undefined;
  let old: HostAddress | undefined;
  let s: Awaited<ReturnType<typeof status>> = null;
  for (const end = t0 + RENUMBER_WAIT_MS; Date.now() < end;) {
    const wan = reg.exec(cpe.ns, ["ip", "-4", "-o", "addr", "show", "dev", "wan0"]).stdout;
    if (leasedMs === 0 && wan.includes(` inet ${RENUMBERED_WAN}/`)) leasedMs = Date.now();
    if (cpeMs === 0) {
      s = await status(socket);
      if (s?.lanPrefix === newPrefix) cpeMs = Date.now();
    }
    const addrs = lanAddresses(reg, cpe.lanNs);
    moved = addrs.find((a) => a.dynamic && !a.deprecated && inIpv6Prefix(a.address, newPrefix));
    old = addrs.find((a) => a.address === c.hostAddress);
    if (hostMs === 0 && moved !== undefined && old?.deprecated === true) hostMs = Date.now();
    if (leasedMs !== 0 && cpeMs !== 0 && hostMs !== 0) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  s = await status(socket);
  step({
    name: "fault: new DHCP lease",
    ok: leasedMs !== 0 && s?.wan.ipv4 === RENUMBERED_WAN,
    detail:
      leasedMs !== 0
        ? `WAN ${c.wanIpv4} -> ${RENUMBERED_WAN} ${((leasedMs - t0) / 1000).toFixed(1)} s after ` +
          `udhcpc's renewal (dnsmasq leases only ${RENUMBERED_WAN} now: NAK, then a new lease); ` +
          `CPE state ${s?.state ?? "?"}, WAN ${s?.wan.ipv4 ?? "?"}`
        : `no new lease within ${RENUMBER_WAIT_MS / 1000} s`,
  });
  if (leasedMs === 0) return null;
  // What the CPE advertises now: the new prefix, the old one deprecated (rdisc6; the RA that
  // answers it may wait for the RFC 4861 §6.2.6 interval since the last one).
  let raText = "no RA";
  let raOk = false;
  for (const end = Date.now() + 10_000; Date.now() < end && !raOk;) {
    const r = await reg.execAsync(cpe.lanNs, ["rdisc6", "-1", "-n", "-w", "1000", "eth0"], 5000);
    const ra = parseRdisc6(r.stdout)[0];
    if (ra === undefined) continue;
    const cur = ra.prefixes.find((p) => p.prefix === newPrefix);
    const dep = ra.prefixes.find((p) => p.prefix === oldPrefix);
    raText = ra.prefixes
      .map((p) => `${p.prefix} preferred ${p.preferredS} s valid ${p.validS} s`)
      .join(", ");
    raOk = cur !== undefined && cur.preferredS > 0 && dep !== undefined && dep.preferredS === 0;
  }
  step({
    name: "fault: new prefix advertised, old one deprecated",
    ok: raOk && s?.lanPrefix === newPrefix,
    detail:
      `CPE LAN prefix ${s?.lanPrefix ?? "none"}` +
      (cpeMs !== 0 ? ` ${((cpeMs - t0) / 1000).toFixed(1)} s after the renewal` : "") +
      `; RA: ${raText} (RFC 9096 §3.4, §3.5)`,
  });
  step({
    name: "fault: LAN host moved",
    ok: hostMs !== 0,
    detail:
      moved !== undefined
        ? `new address ${moved.address} (preferred ${moved.preferredS} s)` +
          (hostMs !== 0 ? ` ${((hostMs - t0) / 1000).toFixed(1)} s after the renewal` : "") +
          `; old ${c.hostAddress} ` +
          (old === undefined
            ? "gone"
            : `${old.deprecated ? "deprecated" : "still preferred"} (preferred ${old.preferredS} s, valid ${old.validS} s, RFC 4862 §5.5.3)`)
        : `no address in ${newPrefix} within ${RENUMBER_WAIT_MS / 1000} s`,
  });
  if (moved === undefined) return null;
  const host = moved.address;
  const pinged = await ping(reg, cpe.lanNs, host);
  step({
    name: `fault: ping from the new address ${host}`,
    ok: pinged,
    detail: pinged ? "answered by the server" : "no answer",
  });

  // 2. The relay dies: withdrawn default route, timed.
  const k0 = Date.now();
  await reg.stop(c.relay, 3000, "SIGKILL");
  let downMs = 0;
  await reg.waitFor(
    () => {
      if (lanDefaultRoute(reg, cpe.lanNs) === null) downMs = Date.now();
      return downMs !== 0;
    },
    WITHDRAW_BOUND_MS + 5000,
    200,
  );
  const sd = await status(socket);
  step({
    name: "fault: relay killed",
    ok: downMs !== 0 && downMs - k0 <= WITHDRAW_BOUND_MS && sd?.health.state === "down",
    detail:
      downMs !== 0
        ? `health ${sd?.health.state ?? "?"} after ${sd?.health.consecutiveFailures ?? "?"} failed ` +
          `probes; router lifetime ${sd?.ra.routerLifetimeS ?? "?"} s; the LAN host's default ` +
          `route gone ${((downMs - k0) / 1000).toFixed(1)} s after the kill (at most ` +
          `${WITHDRAW_BOUND_MS / 1000} s, RFC 7084 L-4)`
        : `the LAN host still has a default route ${seconds(k0)} after the kill`,
  });
  if (downMs === 0) return null;

  // 3. The relay returns.
  const r0 = Date.now();
  const relay = c.startRelay();
  let upMs = 0;
  await reg.waitFor(
    () => {
      if (lanDefaultRoute(reg, cpe.lanNs) !== null) upMs = Date.now();
      return upMs !== 0 || relay.hasExited();
    },
    RESTORE_WAIT_MS,
    200,
  );
  const su = await status(socket);
  const back = upMs !== 0 && (await ping(reg, cpe.lanNs, host));
  step({
    name: "fault: relay back",
    ok: back,
    detail:
      upMs !== 0
        ? `health ${su?.health.state ?? "?"}; router lifetime ${su?.ra.routerLifetimeS ?? "?"} s; ` +
          `default route back ${((upMs - r0) / 1000).toFixed(1)} s after the restart; ping ` +
          `${back ? "answered" : "not answered"}`
        : `no default route ${seconds(r0)} after the restart`,
  });
  return back ? { relay, dhcpServer, hostAddress: host } : null;
}
