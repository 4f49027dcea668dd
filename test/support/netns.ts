/**
 * Network-namespace helper for integration tests and the benchmark (root only). The implementation
 * lives in module/lab/netns.ts because `6to4-pmt lab` (inside the bundle) uses the same code;
 * tests import it from here.
 */
import type { NetnsRegistry } from "../../module/lab/netns.js";

export * from "../../module/lab/netns.js";

/** `ip neigh replace` in `ns`: `addr` on `dev` is `lladdr`, in state `nud`. */
export function replaceNeighbour(
  reg: NetnsRegistry,
  ns: string,
  addr: string,
  lladdr: string,
  dev: string,
  nud: "permanent" | "reachable" | "stale",
): void {
  reg.must(["ip", "-n", ns, "neigh", "replace", addr, "lladdr", lladdr, "dev", dev, "nud", nud]);
}
