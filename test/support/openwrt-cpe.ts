/**
 * What the OpenWrt start-up tests (openwrt-init-daemon, openwrt-ujail) share: the built bundle and
 * addon they run, why they skip, the CPE's namespaces on a carrier-grade NAT WAN, and the wait for
 * the daemon's status socket to say `running`.
 *
 *   [p<pid>-<tag>cpe]  wan0 100.64.0.2/24 ==veth== isp0 100.64.0.1/24  [p<pid>-<tag>isp]
 *                      lan0 ==veth== eth0 [p<pid>-<tag>lan]
 */
import { existsSync } from "node:fs";
import { resolve } from "node:path";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import type { NetnsRegistry, NsProcess } from "./netns.js";

export const DIST_BUNDLE = resolve("dist/6to4-pmt.js");
export const DIST_ADDON = resolve("dist/pmt_native.node");

/** Why the bundle cannot run (not built), or undefined. */
export function distSkipReason(): string | undefined {
  return existsSync(DIST_BUNDLE) && existsSync(DIST_ADDON)
    ? undefined
    : "dist/6to4-pmt.js or dist/pmt_native.node missing: run `npm run build`";
}

/** The CPE's WAN address (RFC 6598 shared space) and the carrier's side of the link. */
export const OW_CPE_WAN = "100.64.0.2";
export const OW_ISP_SIDE = "100.64.0.1";

/** Builds the three namespaces (named `<tag>cpe`, `<tag>isp`, `<tag>lan`) of the figure above. */
export function buildOpenwrtCpeNamespaces(
  reg: NetnsRegistry,
  tag: string,
): { cpe: string; isp: string; lan: string } {
  const cpe = reg.createNamespace(`${tag}cpe`);
  const isp = reg.createNamespace(`${tag}isp`, { forwarding: true });
  reg.veth(cpe, "wan0", isp, "isp0");
  reg.addr(cpe, "wan0", `${OW_CPE_WAN}/24`);
  reg.addr(isp, "isp0", `${OW_ISP_SIDE}/24`);
  reg.route(cpe, ["default", "via", OW_ISP_SIDE]);
  const lan = reg.createNamespace(`${tag}lan`);
  reg.veth(cpe, "lan0", lan, "eth0");
  return { cpe, isp, lan };
}

/**
 * Asks the daemon's status socket `sock` until it says `running` (at most about 25 s), or the
 * daemon exited; resolves with the last answer, null if none came.
 */
export async function waitStatusRunning(
  reg: NetnsRegistry,
  daemon: NsProcess,
  sock: string,
): Promise<StatusSnapshot | null> {
  let st: StatusSnapshot | null = null;
  await reg.waitFor(() => existsSync(sock) || daemon.hasExited(), 15_000);
  for (let i = 0; i < 100 && !daemon.hasExited(); i++) {
    try {
      st = (await queryStatusSocket(sock)) as StatusSnapshot;
      if (st.state === "running") break;
    } catch {
      // not listening yet
    }
    await new Promise((res) => setTimeout(res, 100));
  }
  return st;
}
