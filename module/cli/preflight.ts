/** What a daemon checks before it touches the kernel: root, and whether it is enabled at all. */
import type { Logger } from "../log/logger.js";
import { EXIT_NOT_ROOT, EXIT_OK } from "./exit-codes.js";

function isRoot(): boolean {
  return typeof process.getuid !== "function" || process.getuid() === 0;
}

/**
 * Root (else EXIT_NOT_ROOT, logged) and `enabled` (else `disabledMessage` as a warning and
 * EXIT_OK); undefined when the daemon may start.
 */
export function refuseToStart(
  log: Logger,
  enabled: boolean,
  disabledMessage: string,
): number | undefined {
  if (!isRoot()) {
    log.error("must run as root (TUN device, raw sockets, routes)");
    return EXIT_NOT_ROOT;
  }
  if (!enabled) {
    log.warn(disabledMessage);
    return EXIT_OK;
  }
  return undefined;
}
