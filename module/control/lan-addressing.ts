/**
 * The router's addresses and the TUN's MTU as the plan wants them (decide.ts Plan), kept in the
 * kernel with `ip`:
 *   - the TUN's /128 router address (plan.routerAddress), replaced when the plan changes it;
 *   - the LAN device's lanPrefix::1/64 (when the control plane manages it: builtin RAs), removed
 *     when nothing is advertised;
 *   - the TUN's MTU, following the plan's tunnel MTU (RFC 4213 §3.2: it follows the WAN MTU).
 * Changes run one after another in the order asked (a burst of WAN events must not interleave
 * `ip`s); a failed `ip` is logged and the rest goes on.
 */
import { formatIpv6, parseIpv6 } from "../addr/ipv6.js";
import { bytesEqual } from "../codec/bytes.js";
import type { Logger } from "../log/logger.js";
import type { Plan } from "./decide.js";
import type { CommandRunner } from "./wan-watcher.js";

const IP_TIMEOUT_MS = 5000;

interface LanAddressingOptions {
  /** The TUN device; null leaves TUN address and MTU alone. */
  readonly tunName: string | null;
  /** The MTU the TUN was opened with; null = unknown (the first plan's is taken as the TUN's). */
  readonly tunMtu: number | null;
  /** The LAN device whose router address is managed; null leaves the LAN alone. */
  readonly lanDevice: string | null;
  readonly runner: CommandRunner;
  readonly log: Logger;
}

export class LanAddressing {
  private readonly o: LanAddressingOptions;
  /** What the kernel has (or will have once the queue ran): TUN /128, LAN /64 address, TUN MTU. */
  private tunAddress: Uint8Array | null = null;
  private lanAddress: Uint8Array | null = null;
  private tunMtu: number | null;
  private queue: Promise<void> = Promise.resolve();

  constructor(options: LanAddressingOptions) {
    this.o = options;
    this.tunMtu = options.tunMtu;
  }

  /** Brings TUN MTU, TUN address and LAN address to `plan`'s (null: the LAN address goes). */
  apply(plan: Plan | null): void {
    const tun = this.o.tunName;
    if (plan && tun !== null) {
      const prev = this.tunMtu;
      this.tunMtu = plan.tunnelMtu;
      if (prev !== null && prev !== plan.tunnelMtu) {
        this.o.log.info(`tunnel mtu ${prev} -> ${plan.tunnelMtu}`);
        const mtu = String(plan.tunnelMtu);
        this.enqueue(async () => {
          const r = await this.o.runner.run(
            ["ip", "link", "set", "dev", tun, "mtu", mtu],
            IP_TIMEOUT_MS,
          );
          if (r.code !== 0)
            this.o.log.warn(`tunnel ${tun} mtu ${mtu} not set: ip exited with ${r.code}`);
        });
      }
    }
    this.enqueue(() => this.reprogram(plan));
  }

  /** Resolves when every change asked so far has run. */
  settled(): Promise<void> {
    return this.queue;
  }

  /**
   * Puts back the TUN and LAN router addresses this object keeps in the kernel when they are no
   * longer there (removed from outside: kernel-guard.ts); runs after the changes asked before, so
   * an address the plan replaced or withdrew is not brought back.
   */
  reassert(): Promise<{ restored: string[]; missing: string[] }> {
    const result = { restored: [] as string[], missing: [] as string[] };
    this.enqueue(async () => {
      const wanted: Array<[string | null, Uint8Array | null, number]> = [
        [this.o.tunName, this.tunAddress, 128],
        [this.o.lanDevice, this.lanAddress, 64],
      ];
      for (const [dev, addr, len] of wanted) {
        if (dev === null || addr === null) continue;
        if (await this.hasAddress(dev, addr, len)) continue;
        const what = `address ${formatIpv6(addr)}/${len} dev ${dev}`;
        await this.ip(["-6", "addr", "replace", `${formatIpv6(addr)}/${len}`, "dev", dev, "nodad"]);
        if (await this.hasAddress(dev, addr, len)) result.restored.push(what);
        else result.missing.push(what);
      }
    });
    return this.queue.then(() => result);
  }

  private async hasAddress(dev: string, addr: Uint8Array, len: number): Promise<boolean> {
    const r = await this.o.runner.run(
      ["ip", "-6", "-j", "addr", "show", "dev", dev],
      IP_TIMEOUT_MS,
    );
    if (r.code !== 0) return false;
    try {
      const links = JSON.parse(r.stdout) as Array<{ addr_info?: Array<Record<string, unknown>> }>;
      return links.some((l) =>
        (l.addr_info ?? []).some(
          (a) =>
            a.prefixlen === len &&
            typeof a.local === "string" &&
            sameAddress(parseIpv6(a.local), addr),
        ),
      );
    } catch {
      return false;
    }
  }

  private enqueue(job: () => Promise<void>): void {
    this.queue = this.queue.then(job);
  }

  private async reprogram(plan: Plan | null): Promise<void> {
    const tun = this.o.tunName;
    if (tun !== null && plan && !sameAddress(this.tunAddress, plan.routerAddress)) {
      const old = this.tunAddress;
      this.tunAddress = plan.routerAddress;
      await this.ip([
        "-6",
        "addr",
        "replace",
        `${formatIpv6(plan.routerAddress)}/128`,
        "dev",
        tun,
        "nodad",
      ]);
      if (old) await this.ip(["-6", "addr", "del", `${formatIpv6(old)}/128`, "dev", tun]);
    }
    const lan = this.o.lanDevice;
    if (lan !== null) {
      const old = this.lanAddress;
      const next = plan ? plan.lanRouterAddress : null;
      if (next && !sameAddress(old, next)) {
        await this.ip(["-6", "addr", "replace", `${formatIpv6(next)}/64`, "dev", lan, "nodad"]);
      }
      if (old && !sameAddress(old, next)) {
        await this.ip(["-6", "addr", "del", `${formatIpv6(old)}/64`, "dev", lan]);
      }
      this.lanAddress = next;
    }
  }

  private async ip(args: string[]): Promise<void> {
    let r = await this.o.runner.run(["ip", ...args], IP_TIMEOUT_MS);
    // busybox `ip` (OpenWrt without ip-full) does not know "nodad": retry without it.
    if (r.code !== 0 && args.at(-1) === "nodad") {
      r = await this.o.runner.run(["ip", ...args.slice(0, -1)], IP_TIMEOUT_MS);
    }
    if (r.code !== 0) this.o.log.warn(`ip ${args.join(" ")} failed with exit ${r.code}`);
  }
}

function sameAddress(a: Uint8Array | null, b: Uint8Array | null): boolean {
  return a !== null && b !== null && a.length === b.length && bytesEqual(a, 0, b, 0, a.length);
}
