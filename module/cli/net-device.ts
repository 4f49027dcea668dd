/**
 * Network devices as the kernel reports them, for the daemons' start-up (control plane, never on
 * the hot path): run `ip`, read a device's MTU from sysfs.
 */
import { spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";

/** Runs `ip ...` synchronously; returns "" or the error text. */
export function ip(args: readonly string[]): string {
  const r = spawnSync("ip", args, { encoding: "utf8", timeout: 10_000 });
  if (r.error) return r.error.message;
  return r.status === 0 ? "" : (r.stderr || `exit ${r.status}`).trim();
}

/** The MTU of a network device from sysfs, or undefined. */
export function deviceMtu(dev: string | null): number | undefined {
  if (dev === null || !/^[A-Za-z0-9_.@-]{1,15}$/.test(dev)) return undefined;
  try {
    const n = Number(readFileSync(`/sys/class/net/${dev}/mtu`, "utf8").trim());
    return Number.isInteger(n) && n > 0 ? n : undefined;
  } catch {
    return undefined;
  }
}
