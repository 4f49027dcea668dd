/**
 * Least privilege for the daemons (docs/security.md): what a daemon needs to start (checked
 * before it touches the kernel), what it keeps once set up, and the drop itself, which cli/cpe.ts
 * and cli/relay.ts call once, after their TUN, sockets, routes and status socket are in place.
 *
 * Start: CAP_NET_ADMIN (TUN, addresses, routes) and CAP_NET_RAW (raw protocol-41 and ICMPv6
 * sockets), as root or as any user holding them (systemd AmbientCapabilities=, procd's
 * capabilities file, `setpriv --ambient-caps`); switching to another `user` needs CAP_SETUID and
 * CAP_SETGID too.
 * Kept (KEEP_CAPS), measured by what each daemon does after start-up:
 *   cpe   CAP_NET_ADMIN: `ip` (a child process: the capability is ambient) puts the router
 *         addresses on the TUN and the LAN and sets the TUN MTU on every WAN or plan change;
 *         ethtool feature changes for wan_gro.
 *         CAP_NET_RAW: the health prober opens its raw ICMPv6 socket at the first probe and
 *         again after a failure.
 *   relay nothing: it opens everything at start; its address and routes go with its TUN at stop.
 *         With packet_receive (PACKET_RECEIVE_KEEP_CAPS): CAP_NET_ADMIN for `nft` at exit;
 *         the same with wan_send packet, for NTF_USE on a STALE gateway entry
 *         (control/relay-wan-send.ts).
 *         With announce_ipv4 (ANNOUNCE_KEEP_CAPS): CAP_NET_ADMIN for `ip route` as health comes
 *         and goes (cli/relay-announce-setup.ts), CAP_NET_RAW for the upstream prober's socket.
 */
import {
  chmodSync,
  chownSync,
  lstatSync,
  mkdirSync,
  realpathSync,
  statSync,
  type Stats,
} from "node:fs";
import { basename, dirname } from "node:path";
import {
  CAP_NET_ADMIN,
  CAP_NET_RAW,
  CAP_SETGID,
  CAP_SETUID,
  capabilitiesIn,
  capabilityMask,
  capabilityName,
  dropPrivileges,
  lookupUser,
  ownCredentials,
  type ProcessCredentials,
  type UserIds,
} from "../io/privileges.js";
import type { Role } from "../config/schema.js";
import type { Logger } from "../log/logger.js";

/** Capabilities a daemon needs to start (TUN, routes, raw sockets). */
export const START_CAPS: readonly number[] = [CAP_NET_ADMIN, CAP_NET_RAW];

/** Capabilities each daemon keeps after start-up (file comment). */
export const KEEP_CAPS: Readonly<Record<Role, readonly number[]>> = {
  cpe: [CAP_NET_ADMIN, CAP_NET_RAW],
  relay: [],
};

/** What a relay with announce_ipv4 keeps (file comment). */
export const ANNOUNCE_KEEP_CAPS: readonly number[] = [CAP_NET_ADMIN, CAP_NET_RAW];

/** What a relay with packet_receive keeps: CAP_NET_ADMIN for `nft` to delete its table at exit. */
export const PACKET_RECEIVE_KEEP_CAPS: readonly number[] = [CAP_NET_ADMIN];

/** Directory name of the package's own state and run directories, handed to the daemon's user. */
const OWN_DIR_NAME = "6to4-pmt";
/**
 * Where such a directory may be (after symlinks): variable data only, never a directory of code
 * such as /usr/lib/6to4-pmt, which the user could then change for the next root start.
 */
const OWN_DIR_ROOTS = ["/var/", "/run/", "/tmp/"];

/** Whether `dir` is the package's own variable-data directory (created if missing). */
function ownDirectory(dir: string): boolean {
  if (basename(dir) !== OWN_DIR_NAME) return false;
  mkdirSync(dir, { recursive: true, mode: 0o750 });
  if (lstatSync(dir).isSymbolicLink()) return false;
  const real = realpathSync(dir);
  return basename(real) === OWN_DIR_NAME && OWN_DIR_ROOTS.some((r) => real.startsWith(r));
}

/**
 * Why a daemon with these credentials cannot start (one line), or undefined. `user`: the resolved
 * `user` option (null: stay).
 */
export function startRefusal(
  creds: ProcessCredentials,
  user: UserIds | null,
  option: string,
): string | undefined {
  const need = [...START_CAPS];
  if (user !== null && user.uid !== creds.uids[1]) need.push(CAP_SETUID, CAP_SETGID);
  const missing = capabilitiesIn(capabilityMask(need) & ~creds.capEff);
  if (missing.length === 0) return undefined;
  const names = missing.map(capabilityName).join(", ");
  const why =
    user !== null && missing.some((c) => c === CAP_SETUID || c === CAP_SETGID)
      ? ` (${option} ${user.name} needs them to switch users)`
      : "";
  return (
    `missing capabilities ${names}${why}: run as root, or give the user ` +
    `cap_net_admin,cap_net_raw as ambient capabilities (systemd AmbientCapabilities=, setpriv --ambient-caps)`
  );
}

/** The `user` option resolved, or a one-line error naming it. */
export function resolveDaemonUser(
  spec: string | null,
  option = "--user",
): UserIds | null | { error: string } {
  if (spec === null) return null;
  const r = lookupUser(spec);
  if (typeof r === "string") {
    return { error: `${option} ${spec}: ${r}; expected a user name, uid or uid:gid` };
  }
  return r;
}

/**
 * Whether `st` (a directory) lets `ids` create and remove entries after the drop: by its mode
 * alone, for uid 0 too (it keeps no CAP_DAC_OVERRIDE).
 */
function writableBy(st: Stats, ids: UserIds): boolean {
  if (st.uid === ids.uid) return (st.mode & 0o300) === 0o300;
  if (st.gid === ids.gid) return (st.mode & 0o030) === 0o030;
  return (st.mode & 0o003) === 0o003;
}

/**
 * The one place where file ownership is handed to the daemon's user before the drop: for each
 * path it will write or remove later (state file, status socket), its directory when that is the
 * package's own (named 6to4-pmt below /var, /run or /tmp: created if missing, then owned by the
 * user, mode 0750) and the file itself
 * when it exists (the status socket bound a moment ago, a state file from an earlier run). Other
 * directories are left alone. Returns one warning per path whose directory the user still cannot
 * write (a state file would not be saved, a socket not removed at stop).
 */
export function handOverFiles(paths: readonly string[], ids: UserIds): string[] {
  const warnings: string[] = [];
  for (const p of paths) {
    const dir = dirname(p);
    try {
      if (ownDirectory(dir)) {
        chownSync(dir, ids.uid, ids.gid);
        chmodSync(dir, 0o750);
      }
      try {
        const st = lstatSync(p);
        if (!st.isSymbolicLink()) chownSync(p, ids.uid, ids.gid);
      } catch {
        // Not there yet: the daemon creates it as its user.
      }
      if (!writableBy(statSync(dir), ids)) {
        warnings.push(`${p}: directory ${dir} is not writable by user ${ids.name}`);
      }
    } catch (e) {
      warnings.push(`${p}: ${(e as Error).message}`);
    }
  }
  return warnings;
}

/**
 * Drops to `user` (null: stay) with `keepCaps` (default KEEP_CAPS[role]) and no_new_privs,
 * after handing `files` over; logs one line of what it did, or one error line and returns false
 * (the caller stops with EXIT_INIT).
 */
export function dropDaemonPrivileges(
  role: Role,
  userSpec: string | null,
  files: readonly string[],
  log: Logger,
  keepCaps?: readonly number[],
): boolean {
  const user = resolveDaemonUser(userSpec);
  if (user !== null && "error" in user) {
    log.error(user.error);
    return false;
  }
  const keep = keepCaps ?? KEEP_CAPS[role];
  const uid = ownCredentials()?.uids[0] ?? process.getuid?.();
  const switching = user !== null && user.uid !== uid;
  // Started as root, the files go to whoever runs on: the user, or uid 0 itself, which keeps no
  // capability to write into another user's directory.
  if (uid === 0) {
    const owner = switching ? user : { name: "root", uid: 0, gid: process.getgid?.() ?? 0 };
    for (const w of handOverFiles(files, owner)) log.warn(w);
  }
  let bounding: boolean;
  try {
    bounding = dropPrivileges(switching ? user : null, keep).boundingReduced;
  } catch (e) {
    log.error(`dropping privileges failed: ${(e as Error).message}`);
    return false;
  }
  const after = ownCredentials();
  const caps = keep.length > 0 ? keep.map(capabilityName).join(",") : "none";
  log.info(
    `privileges: uid ${after?.uids[0] ?? "?"} gid ${after?.gids[0] ?? "?"}` +
      `${user !== null ? ` (${user.name})` : ""}, capabilities ${caps}, no_new_privs` +
      (bounding ? ", bounding set reduced" : ""),
  );
  return true;
}
