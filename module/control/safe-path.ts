/**
 * Who may own, and write to, the files the daemon trusts: the state file and its directory, the
 * netifd hook and every directory above it. One place for the rule, so that a daemon running as
 * an unprivileged user can widen `trustedOwners()` without touching the callers.
 *
 * The rule for a directory: owned by a trusted uid and not writable by group or others, or
 * sticky (as /tmp: others may add entries but cannot remove or rename ours). A file: owned by a
 * trusted uid and not writable by group or others.
 */
import { lstatSync, realpathSync, type Stats } from "node:fs";
import { dirname, isAbsolute } from "node:path";

const S_ISVTX = 0o1000;
const GROUP_OTHER_WRITE = 0o022;

let daemonUser: number | undefined;

/**
 * Trusts the uid the daemon will switch to (`user`): it owns the package's state and run
 * directories after the first start (cli/privilege-drop.ts), and a restart, still as root, must
 * accept them.
 */
export function trustDaemonUser(uid: number): void {
  daemonUser = uid;
}

/** The uids whose files the daemon trusts: root, its own user, and the user it switches to. */
export function trustedOwners(): readonly number[] {
  const uid = typeof process.geteuid === "function" ? process.geteuid() : 0;
  const owners = [0];
  for (const u of [uid, daemonUser]) if (u !== undefined && !owners.includes(u)) owners.push(u);
  return owners;
}

function mode(st: Stats): string {
  return (st.mode & 0o7777).toString(8).padStart(4, "0");
}

/**
 * Why `st` may not be trusted (a phrase such as "is owned by uid 1000"), or undefined when it
 * may. Directories may be sticky instead of private (see the file comment).
 */
export function untrustedReason(
  st: Stats,
  owners: readonly number[] = trustedOwners(),
): string | undefined {
  if (!owners.includes(st.uid)) return `is owned by uid ${st.uid}, not root`;
  if ((st.mode & GROUP_OTHER_WRITE) === 0) return undefined;
  if (st.isDirectory() && (st.mode & S_ISVTX) !== 0) return undefined;
  return `is writable by group or others (mode ${mode(st)})`;
}

/**
 * Checks `dir` and every directory above it with `untrustedReason`; returns `<path> <reason>` for
 * the first that fails (or is not a directory), undefined when all pass. `dir` must be absolute
 * and free of symlinks (a realpath).
 */
export function untrustedDirChain(dir: string): string | undefined {
  let d = dir;
  for (;;) {
    let st: Stats;
    try {
      st = lstatSync(d);
    } catch (e) {
      return `${d}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`;
    }
    if (!st.isDirectory()) return `${d} is not a directory`;
    const why = untrustedReason(st);
    if (why !== undefined) return `${d} ${why}`;
    const up = dirname(d);
    if (up === d) return undefined;
    d = up;
  }
}

/**
 * The real path of an executable only trusted users can change (the netifd hook): absolute,
 * a regular file with an execute bit, and it and every directory above it pass `untrustedReason`.
 * Returns `{ path }` (symlinks resolved: what to run) or `{ error }` (a phrase after the path).
 */
export function trustedExecutable(path: string): { path: string } | { error: string } {
  if (!isAbsolute(path)) return { error: "is not an absolute path" };
  let real: string;
  try {
    real = realpathSync(path);
  } catch (e) {
    return { error: `cannot be resolved (${(e as NodeJS.ErrnoException).code ?? "error"})` };
  }
  const st = lstatSync(real);
  if (!st.isFile()) return { error: `(${real}) is not a regular file` };
  if ((st.mode & 0o111) === 0) return { error: `(${real}) is not executable` };
  const why = untrustedReason(st);
  if (why !== undefined) return { error: `(${real}) ${why}` };
  const dir = untrustedDirChain(dirname(real));
  if (dir !== undefined) return { error: `is in a directory others can change: ${dir}` };
  return { path: real };
}
