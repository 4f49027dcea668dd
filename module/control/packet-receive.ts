/**
 * `packet_receive` (relay): the nft netdev ingress rule that drops, before the IP stack, exactly
 * the protocol-41 packets the relay's AF_PACKET sockets read (native/split.c openPacketRx4: to
 * this host, IPv4 protocol 41, not a fragment, to one of the relay's addresses). Without it each
 * such packet would also reach the raw socket. A tap sees a frame before the ingress hook, so the
 * AF_PACKET socket still gets it, GRO's super-packets whole; fragments and packets on other
 * devices keep the raw socket's path (reassembly included).
 *
 * One table of our own, replaced whole in one transaction and deleted at exit; nothing else is
 * touched. Left behind by a killed relay it drops protocol 41 to the relay's addresses on those
 * devices until the next start replaces it or `nft delete table netdev sixto4pmt_relay_rx`.
 */
import { spawnSync } from "node:child_process";

import { formatIpv4 } from "../addr/ipv4.js";
import type { Clock } from "./clock.js";

export const PACKET_RECEIVE_TABLE = "sixto4pmt_relay_rx";
const NFT_TIMEOUT_MS = 10_000;

/** The table for `devices` and the relay addresses `dsts` (unsigned IPv4s), replacing any. */
export function packetReceiveRuleset(devices: readonly string[], dsts: readonly number[]): string {
  const t = `netdev ${PACKET_RECEIVE_TABLE}`;
  const set = dsts.map(formatIpv4).join(", ");
  const lines = [`table ${t}`, `delete table ${t}`, `table ${t} {`];
  devices.forEach((dev, i) => {
    lines.push(
      `\tchain rx${i} {`,
      `\t\ttype filter hook ingress device "${dev}" priority -500; policy accept;`,
      `\t\tmeta pkttype host ip protocol 41 ip frag-off & 0x3fff == 0 ip daddr { ${set} } counter drop`,
      "\t}",
    );
  });
  lines.push("}", "");
  return lines.join("\n");
}

/** Runs `nft -f -` on `text`; null, or the first line nft printed. */
function nft(text: string): string | null {
  const r = spawnSync("nft", ["-f", "-"], {
    input: text,
    encoding: "utf8",
    timeout: NFT_TIMEOUT_MS,
  });
  if (r.error !== undefined) return r.error.message;
  if (r.status === 0) return null;
  const first = (r.stderr ?? "").split("\n").find((l) => l.trim() !== "");
  return first?.trim() ?? `nft exited with ${r.status}`;
}

/** Installs the drop rule; null, or why it could not be. */
export function installPacketReceive(
  devices: readonly string[],
  dsts: readonly number[],
): string | null {
  return nft(packetReceiveRuleset(devices, dsts));
}

/** Removes the table (absent: nothing to do); null, or why it could not be. */
export function removePacketReceive(): string | null {
  const t = `netdev ${PACKET_RECEIVE_TABLE}`;
  return nft(`table ${t}\ndelete table ${t}\n`);
}

/** How often the devices' ifindexes are compared with the ones the sockets were bound to. */
export const PACKET_RECEIVE_CHECK_MS = 5_000;

/** A running watch: `checkNow()` checks at once; `stop()` ends it. */
export interface PacketReceiveWatch {
  checkNow(): void;
  stop(): void;
}

/**
 * An AF_PACKET socket stays bound to the ifindex its device had at start. When a device is
 * deleted and made again (a PPP or VLAN device re-created, a driver reloaded), the new one has
 * another ifindex: no socket reads it, while our netdev rule, hooked again by name on newer
 * kernels, would still drop its protocol 41. So: every PACKET_RECEIVE_CHECK_MS (and on
 * `checkNow`), a device whose ifindex changed or that is gone leaves the table (`apply` with the
 * rest; none left: `remove`), and its protocol 41 takes the raw socket again; one warning each.
 * `ifindex(dev)` returns 0 for a device that does not exist.
 */
export function watchPacketReceive(
  clock: Clock,
  devices: readonly string[],
  bound: readonly number[],
  ifindex: (dev: string) => number,
  apply: (devices: readonly string[]) => string | null,
  remove: () => string | null,
  warn: (message: string) => void,
): PacketReceiveWatch {
  const active = new Set(devices);
  let stopped = false;
  const check = (): void => {
    if (stopped || active.size === 0) return;
    const changed = devices.filter((d, i) => active.has(d) && ifindex(d) !== bound[i]);
    if (changed.length === 0) return;
    for (const d of changed) active.delete(d);
    const rest = devices.filter((d) => active.has(d));
    const err = rest.length > 0 ? apply(rest) : remove();
    warn(
      `packet_receive: ${changed.join(", ")} is gone or was made again (another ifindex): its ` +
        `protocol 41 takes the raw socket until the relay restarts` +
        (err !== null ? `; nft failed: ${err}` : ""),
    );
  };
  const timer = clock.setRepeating(check, PACKET_RECEIVE_CHECK_MS);
  return {
    checkNow: check,
    stop: () => {
      stopped = true;
      clock.clearTimer(timer);
    },
  };
}
