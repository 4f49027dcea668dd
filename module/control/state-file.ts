/**
 * The CPE's small persistent state (RFC 9096 §3.5: advertised prefixes "SHOULD" be recorded on
 * stable storage). Written atomically: a temporary file in the same directory, fsync, rename, so a
 * crash leaves either the old or the new file, never a torn one.
 *
 * Safe files: the temporary file has an unpredictable name and is created with
 * O_CREAT|O_EXCL|O_NOFOLLOW, mode 0600 (a planted file or symlink makes the write fail instead of
 * redirecting it); rename() replaces the directory entry and never follows a symlink. At start
 * `stateFileProblem` refuses a directory others can change (safe-path.ts) and an existing state
 * file that is a symlink, not a regular file, not owned by root, or not JSON (a file the daemon
 * did not write is never overwritten).
 */
import {
  closeSync,
  constants,
  fstatSync,
  fsyncSync,
  lstatSync,
  mkdirSync,
  openSync,
  readFileSync,
  realpathSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";
import { untrustedDirChain, untrustedReason } from "./safe-path.js";

const READ_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW;
const TEMP_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;
/** Temp files written by this process so far (part of each temp name). */
let tempSerial = 0;

/**
 * Reads and parses the JSON state file; null when it does not exist. Throws on a symlink, a
 * non-regular file or unreadable JSON.
 */
export function readStateFile(path: string): unknown {
  let fd: number;
  try {
    fd = openSync(path, READ_FLAGS);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === "ENOENT") return null;
    if (code === "ELOOP") throw new Error("is a symlink");
    throw e;
  }
  try {
    if (!fstatSync(fd).isFile()) throw new Error("is not a regular file");
    return JSON.parse(readFileSync(fd, "utf8")) as unknown;
  } finally {
    closeSync(fd);
  }
}

/** Temporary files being written now (a forced exit removes them). */
const pendingTemps = new Set<string>();

/** Removes this process's temporary files of `path`, if any is left (forced exit). */
export function removeStateFileTemp(path: string): void {
  for (const tmp of pendingTemps) {
    if (dirname(tmp) !== dirname(path)) continue;
    try {
      unlinkSync(tmp);
    } catch {
      // Already renamed or removed.
    }
    pendingTemps.delete(tmp);
  }
}

/** Replaces `path` with `value` as JSON, atomically (write temp + fsync + rename), mode 0600. */
export function writeStateFileAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  // Unique per process and write, and not guessable in advance; O_EXCL (TEMP_FLAGS) refuses a
  // name that exists. Not crypto.randomBytes: node:crypto costs about 0.8 MB resident for this.
  const guess = Math.random().toString(36).slice(2, 10);
  const tmp = `${path}.tmp-${process.pid}-${++tempSerial}-${guess}`;
  const fd = openSync(tmp, TEMP_FLAGS, 0o600);
  pendingTemps.add(tmp);
  try {
    writeSync(fd, JSON.stringify(value, null, 2) + "\n");
    fsyncSync(fd);
  } catch (e) {
    closeSync(fd);
    try {
      unlinkSync(tmp);
    } catch {
      // Nothing to remove.
    }
    pendingTemps.delete(tmp);
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
  pendingTemps.delete(tmp);
}

/**
 * Why the daemon must not use `path` as its state file (a phrase after the path), or undefined.
 * Creates the directory (mode 0755) when missing, as the first write would.
 */
export function stateFileProblem(path: string): string | undefined {
  const dir = dirname(path);
  let realDir: string;
  try {
    mkdirSync(dir, { recursive: true, mode: 0o755 });
    realDir = realpathSync(dir);
  } catch (e) {
    return `directory ${dir} cannot be created (${(e as NodeJS.ErrnoException).code ?? "error"})`;
  }
  const chain = untrustedDirChain(realDir);
  if (chain !== undefined) return `is in a directory others can change: ${chain}`;
  let st;
  try {
    st = lstatSync(path);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return undefined;
    return `cannot be checked (${(e as NodeJS.ErrnoException).code ?? "error"})`;
  }
  if (st.isSymbolicLink()) return "is a symlink";
  if (!st.isFile()) return "exists and is not a regular file";
  const why = untrustedReason(st);
  if (why !== undefined) return why;
  if (st.size === 0) return undefined;
  try {
    readStateFile(path);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code !== undefined) return `cannot be read (${code})`;
    return "exists and is not a 6to4-pmt state file (not JSON); it is never overwritten";
  }
  return undefined;
}
