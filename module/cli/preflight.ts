/**
 * What a daemon checks before it touches the kernel: its `user` option, its capabilities
 * (cli/privilege-drop.ts: CAP_NET_ADMIN and CAP_NET_RAW, as root or as a user holding them), and
 * whether it is enabled at all.
 */
import { ownCredentials } from "../io/privileges.js";
import type { Logger } from "../log/logger.js";
import { EXIT_NOT_ROOT, EXIT_OK, EXIT_USAGE } from "./exit-codes.js";
import { resolveDaemonUser, startRefusal } from "./privilege-drop.js";

/**
 * `user` resolvable (else one line and EXIT_USAGE), the start capabilities held (else one line
 * and EXIT_NOT_ROOT) and `enabled` (else `disabledMessage` as a warning and EXIT_OK); undefined
 * when the daemon may start.
 */
export function refuseToStart(
  log: Logger,
  enabled: boolean,
  disabledMessage: string,
  user: string | null,
): number | undefined {
  const ids = resolveDaemonUser(user);
  if (ids !== null && "error" in ids) {
    process.stderr.write(`6to4-pmt: ${ids.error}\n`);
    return EXIT_USAGE;
  }
  const creds = ownCredentials();
  const refusal =
    creds !== undefined
      ? startRefusal(creds, ids, "--user")
      : typeof process.getuid === "function" && process.getuid() !== 0
        ? "must run as root (TUN device, raw sockets, routes)"
        : undefined;
  if (refusal !== undefined) {
    log.error(refusal);
    return EXIT_NOT_ROOT;
  }
  if (!enabled) {
    log.warn(disabledMessage);
    return EXIT_OK;
  }
  return undefined;
}
