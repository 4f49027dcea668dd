/**
 * `ra netifd` (OpenWrt): the LAN prefix goes to netifd through option netifd_hook, and odhcpd
 * advertises it (openwrt-package/6to4-pmt/files/netifd-prefix):
 *   <hook> update <tun> <prefix/len> <preferred_s> <valid_s> <mtu>   (RFC 9096 §3.4 lifetimes)
 *   <hook> withdraw <tun>        while the tunnel is down (RFC 7084 L-4), nothing runs, and at stop
 * A call repeating the last one runs nothing.
 */
import { formatIpv6Prefix } from "../addr/ipv6.js";
import type { Logger } from "../log/logger.js";
import type { Plan } from "./decide.js";
import type { PrefixLifetimes } from "./ra-timing.js";
import type { CommandRunner } from "./wan-watcher.js";

const HOOK_TIMEOUT_MS = 5000;

interface NetifdPublisherOptions {
  readonly hook: string;
  readonly tunName: string;
  readonly lifetimes: PrefixLifetimes;
  readonly runner: CommandRunner;
  readonly log: Logger;
}

export class NetifdPublisher {
  private readonly o: NetifdPublisherOptions;
  /** The last command run (argv joined). */
  private sent = "";

  constructor(options: NetifdPublisherOptions) {
    this.o = options;
  }

  /** Hands `plan`'s LAN prefix to netifd, or withdraws it (null); resolves when the hook ended. */
  publish(plan: Plan | null): Promise<void> {
    const { hook, tunName, lifetimes } = this.o;
    const argv = plan
      ? [
          hook,
          "update",
          tunName,
          formatIpv6Prefix(plan.lanPrefix),
          String(lifetimes.preferredS),
          String(lifetimes.validS),
          String(plan.tunnelMtu),
        ]
      : [hook, "withdraw", tunName];
    const line = argv.join(" ");
    if (line === this.sent) return Promise.resolve();
    this.sent = line;
    return this.o.runner.run(argv, HOOK_TIMEOUT_MS).then((r) => {
      if (r.code !== 0) this.o.log.warn(`netifd hook ${line} failed: exit ${r.code}`);
    });
  }
}
