/**
 * Kernel state a daemon installs at start and removes at stop (in reverse order): addresses and
 * routes on its TUN, through `ip` (control plane, at start and stop only).
 */
import type { Logger } from "../log/logger.js";
import { ip } from "./net-device.js";

/** A failure to add is logged and its undo skipped; removal never throws. */
export class KernelSetup {
  private readonly undo: (readonly string[])[] = [];

  constructor(private readonly log: Logger) {}

  /** `ip <add...>`; on success remembers `ip <del...>`. Returns false (logged) on failure. */
  apply(add: readonly string[], del: readonly string[]): boolean {
    const err = ip(add);
    if (err !== "") {
      this.log.warn(`ip ${add.join(" ")} failed: ${err}`);
      return false;
    }
    this.log.info(`ip ${add.join(" ")}`);
    this.undo.push(del);
    return true;
  }

  /** The address `addr`/128 on `dev`; busybox `ip` (OpenWrt without ip-full) has no "nodad": retry without it. */
  addAddress128(addr: string, dev: string): boolean {
    const del = ["-6", "addr", "del", `${addr}/128`, "dev", dev];
    return (
      this.apply(["-6", "addr", "add", `${addr}/128`, "dev", dev, "nodad"], del) ||
      this.apply(["-6", "addr", "add", `${addr}/128`, "dev", dev], del)
    );
  }

  /** `ip -6 route add <prefix> dev <dev>` (removed again by `revert`). */
  addRoute(prefix: string, dev: string): boolean {
    return this.apply(
      ["-6", "route", "add", prefix, "dev", dev],
      ["-6", "route", "del", prefix, "dev", dev],
    );
  }

  /** Removes everything added, newest first. */
  revert(): void {
    for (const del of this.undo.splice(0).reverse()) {
      const err = ip(del);
      // The TUN may already be gone (its routes and addresses went with it): not an error.
      if (err !== "" && !/Cannot find device|No such process|does not exist/.test(err)) {
        this.log.warn(`ip ${del.join(" ")} failed: ${err}`);
      }
    }
  }
}
