/**
 * The daemon's two ports, opened at start: the TUN (opened down, prepared, then brought up) and
 * the raw protocol-41 socket.
 */
import { writeFileSync } from "node:fs";
import { openIpv4Raw, openTun, type Ipv4RawOptions } from "../io/linux.js";
import type { Ipv4RawSocket, TunDevice } from "../io/ports.js";
import type { Logger } from "../log/logger.js";
import { ip } from "./net-device.js";

/**
 * TUN transmit queue (packets the kernel holds for the daemon to read). The Linux default, 500,
 * overflows under a TCP burst while the daemon is busy with a batch: in the lab a 5 s iperf3 run
 * lost 44 000 packets there (as many TCP retransmissions); 1000 still lost about 0.2 %, 2000 none.
 * Worst case 2000 full-size packets (about 5 MB) queued for a moment. A tunable, not an RFC value.
 */
export const TUN_TX_QUEUE_PACKETS = 2000;

/**
 * Opens the daemon's TUN (down, MTU `mtu`, transmit queue TUN_TX_QUEUE_PACKETS) and raw
 * protocol-41 socket; on failure logs `init failed: ...`, closes what was opened and returns
 * undefined (the caller exits EXIT_INIT).
 */
export function openDaemonPorts(
  log: Logger,
  tunName: string,
  mtu: number,
  rawOptions: Ipv4RawOptions,
): { tun: TunDevice; raw: Ipv4RawSocket } | undefined {
  let tun: TunDevice | undefined;
  try {
    tun = openTun({ name: tunName, mtu, txQueueLen: TUN_TX_QUEUE_PACKETS, up: false });
    // IP_RECVERR: ICMPv4 errors about our packets are counted and answered (RFC 4213 §3.4).
    return { tun, raw: openIpv4Raw({ recvErr: true, ...rawOptions }) };
  } catch (e) {
    log.error(`init failed: ${(e as Error).message}`);
    tun?.close();
    return undefined;
  }
}

/**
 * Prepares a freshly opened (down) TUN and brings it up: no link-local address and no Router
 * Solicitations or RAs on it (a 6to4 pseudo-interface has no link layer, RFC 3056 §3.1;
 * RFC 3964 §4.1.1: no ND through the tunnel), so the kernel sends nothing of its own into it.
 */
export function prepareTun(dev: string, log: Logger): void {
  const err = ip(["link", "set", "dev", dev, "addrgenmode", "none"]);
  if (err !== "") log.debug(`tun ${dev}: addrgenmode none: ${err}`);
  for (const [key, value] of [
    ["accept_ra", "0"],
    ["router_solicitations", "0"],
    ["autoconf", "0"],
  ] as const) {
    try {
      writeFileSync(`/proc/sys/net/ipv6/conf/${dev}/${key}`, value);
    } catch (e) {
      log.debug(`tun ${dev}: ${key}=${value}: ${(e as Error).message}`);
    }
  }
  const up = ip(["link", "set", "dev", dev, "up"]);
  if (up !== "") log.warn(`tun ${dev}: link up failed: ${up}`);
}
