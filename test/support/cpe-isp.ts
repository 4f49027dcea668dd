/**
 * The two-namespace set-up of the CPE start/stop tests (cpe-lifecycle, start-safety, cpe-routes):
 *
 *   cpe (wan0 [wanAddress], lan0 dummy) ---- isp (cpe0 ispAddresses)
 *
 * and the CPE command line they share: a static WAN address in the shared space (RFC 6598, so
 * allowed explicitly), provider prefix 2001:db8::/32, no RA, no DHCP, one health probe an hour.
 */
import type { NetnsRegistry } from "./netns.js";

export interface CpeIspNamespaces {
  cpe: string;
  isp: string;
}

/**
 * Builds `cpe` and `isp` (named `names`) joined by wan0 -- cpe0, with a dummy lan0 in the cpe
 * (the LAN device must differ from the WAN's, config/value-check.ts; nothing is on it). With
 * `wanAddress` the CPE's WAN has it and a default route via `gateway`.
 */
export function buildCpeIsp(
  reg: NetnsRegistry,
  names: { cpe: string; isp: string },
  o: { wanAddress?: string; ispAddresses: readonly string[]; gateway?: string },
): CpeIspNamespaces {
  const cpe = reg.createNamespace(names.cpe, { forwarding: true });
  const isp = reg.createNamespace(names.isp, { forwarding: true });
  reg.veth(cpe, "wan0", isp, "cpe0");
  if (o.wanAddress !== undefined) reg.addr(cpe, "wan0", o.wanAddress);
  for (const a of o.ispAddresses) reg.addr(isp, "cpe0", a);
  if (o.gateway !== undefined) reg.route(cpe, `default via ${o.gateway}`);
  reg.exec(cpe, ["ip", "link", "add", "lan0", "type", "dummy"]);
  reg.exec(cpe, ["ip", "link", "set", "lan0", "up"]);
  return { cpe, isp };
}

/** The standard set-up: WAN 100.64.0.2/24, the carrier 100.64.0.1/24 as default gateway. */
export function buildSharedWanCpe(
  reg: NetnsRegistry,
  names: { cpe: string; isp: string },
): CpeIspNamespaces {
  return buildCpeIsp(reg, names, {
    wanAddress: "100.64.0.2/24",
    ispAddresses: ["100.64.0.1/24"],
    gateway: "100.64.0.1",
  });
}

/** `cpe ...` for buildSharedWanCpe, with its own state file and status socket, then `extra`. */
export function sharedWanCpeArgs(
  stateFile: string,
  statusSocket: string,
  extra: readonly string[] = [],
): string[] {
  return [
    "cpe",
    "--enabled",
    "--wan-device",
    "wan0",
    "--wan-ipv4",
    "100.64.0.2",
    "--provider-prefix",
    "2001:db8::/32",
    "--allow-ipv4",
    "100.64.0.0/10",
    "--lan-device",
    "lan0",
    "--ra",
    "off",
    "--use-dhcp-6rd",
    "0",
    "--health-interval",
    "3600",
    "--state-file",
    stateFile,
    "--status-socket",
    statusSocket,
    ...extra,
  ];
}
