/**
 * Start-up check of the relay: the kernel settings without which the relay runs but forwards
 * nothing, read from /proc/sys of the relay's own network namespace (docs/relay-operator.md,
 * "Kernel settings").
 *
 *  - net.ipv6.conf.all.forwarding must be 1: the relay hands every decapsulated packet to its TUN
 *    and the kernel routes it to the IPv6 upstream; with forwarding 0 the kernel drops it (and the
 *    return traffic routed into the TUN). Setting `all` also sets `default`, so the TUN, created
 *    afterwards, forwards too. Refused.
 *  - net.ipv4.conf.all.rp_filter must not be 1 (strict): the kernel applies max(all, <dev>) to
 *    every interface, so strict `all` drops protocol 41 from every customer whose route back
 *    leaves by another interface than the one the packet came in on, which is normal for an
 *    anycast relay (the anycast route attracts customers on every peering link, the return
 *    route follows the IGP). 0 (off) or 2 (loose: some route back exists) are fine. Refused.
 *  - a device with rp_filter 1 while `all` is not 2: strict on that device only. The relay cannot
 *    know which interfaces customer traffic enters by (a management interface may be strict on
 *    purpose), so this is one warning per device, not a refusal.
 */

import { readdirSync, readFileSync } from "node:fs";

/** Reads one sysctl (`net/ipv6/conf/all/forwarding`), undefined when it does not exist. */
export type SysctlReader = (path: string) => string | undefined;

export interface RelaySysctlVerdict {
  /** The one line to refuse the start with, naming the sysctl and what to set. */
  readonly refusal?: string;
  /** One line per device whose strict rp_filter may drop asymmetric customer traffic. */
  readonly warnings: readonly string[];
}

/** Applies the file comment's rules; `devices` are the namespace's interfaces (lo is ignored). */
export function checkRelaySysctls(
  read: SysctlReader,
  devices: readonly string[],
): RelaySysctlVerdict {
  const forwarding = read("net/ipv6/conf/all/forwarding");
  if (forwarding !== undefined && forwarding.trim() !== "1") {
    return {
      refusal:
        `net.ipv6.conf.all.forwarding is ${forwarding.trim()}: the kernel would drop every packet ` +
        "the relay decapsulates; set net.ipv6.conf.all.forwarding=1 (sysctl -w, /etc/sysctl.d/)",
      warnings: [],
    };
  }
  const all = read("net/ipv4/conf/all/rp_filter")?.trim();
  if (all === "1") {
    return {
      refusal:
        "net.ipv4.conf.all.rp_filter is 1 (strict): protocol 41 from customers whose route back " +
        "leaves by another interface (anycast) would be dropped; set net.ipv4.conf.all.rp_filter=2 " +
        "(loose) or 0",
      warnings: [],
    };
  }
  const warnings: string[] = [];
  if (all !== "2") {
    for (const dev of devices) {
      if (dev === "lo" || dev.includes("/")) continue;
      if (read(`net/ipv4/conf/${dev}/rp_filter`)?.trim() === "1") {
        warnings.push(
          `net.ipv4.conf.${dev}.rp_filter is 1 (strict): protocol 41 entering by ${dev} is dropped ` +
            `when its route back leaves by another interface; set net.ipv4.conf.${dev}.rp_filter=2 ` +
            "if customers reach the relay through it",
        );
      }
    }
  }
  return { warnings };
}

/** The reader and device list of the calling process's network namespace (/proc/sys/net is per namespace). */
export function procSysctls(): { read: SysctlReader; devices: string[] } {
  const read: SysctlReader = (path) => {
    try {
      return readFileSync(`/proc/sys/${path}`, "utf8");
    } catch {
      return undefined;
    }
  };
  let devices: string[] = [];
  try {
    devices = readdirSync("/proc/sys/net/ipv4/conf").filter((d) => d !== "all" && d !== "default");
  } catch {
    // No IPv4 configuration directory: nothing to warn about.
  }
  return { read, devices };
}
