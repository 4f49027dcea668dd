/**
 * Start-up step "files" of the CPE (before any port is opened): the paths named by options must be
 * safe for a root daemon to use, else exit 2 with one line naming the option.
 *  - status_socket: absent or a socket; anything else is never removed (status/server.ts).
 *  - state_file: in directories only root can change, and absent or a regular root-owned JSON
 *    file (control/state-file.ts).
 *  - netifd_hook (ra netifd): a root-owned executable that neither it nor any directory above it
 *    can be changed by others (control/safe-path.ts); the resolved path is what runs.
 */
import type { CpeConfig } from "../config/parse.js";
import { trustedExecutable } from "../control/safe-path.js";
import { stateFileProblem } from "../control/state-file.js";
import { statusSocketProblem } from "../status/server.js";

/** `cfg` with the hook resolved, or the one-line error naming the option. */
export function checkCpeFiles(cfg: CpeConfig): { cfg: CpeConfig } | { error: string } {
  const sock = statusSocketProblem(cfg.statusSocket);
  if (sock !== undefined) {
    return { error: `status_socket (--status-socket): ${cfg.statusSocket} ${sock}` };
  }
  const state = stateFileProblem(cfg.stateFile);
  if (state !== undefined) {
    return { error: `state_file (--state-file): ${cfg.stateFile} ${state}` };
  }
  if (cfg.ra !== "netifd") return { cfg };
  const hook = trustedExecutable(cfg.netifdHook);
  if ("error" in hook) {
    return {
      error:
        `netifd_hook (--netifd-hook): ${cfg.netifdHook} ${hook.error}; expected a root-owned ` +
        "program only root can change, e.g. /usr/lib/6to4-pmt/netifd-prefix",
    };
  }
  return { cfg: { ...cfg, netifdHook: hook.path } };
}
