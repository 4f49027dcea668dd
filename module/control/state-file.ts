/**
 * The CPE's small persistent state (RFC 9096 §3.5: advertised prefixes "SHOULD" be recorded on
 * stable storage). Written atomically: a temporary file in the same directory, fsync, rename, so a
 * crash leaves either the old or the new file, never a torn one.
 */
import {
  closeSync,
  fsyncSync,
  mkdirSync,
  openSync,
  readFileSync,
  renameSync,
  unlinkSync,
  writeSync,
} from "node:fs";
import { dirname } from "node:path";

/** Reads and parses the JSON state file; null when it does not exist. Throws on unreadable JSON. */
export function readStateFile(path: string): unknown {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw e;
  }
  return JSON.parse(text) as unknown;
}

/** The temporary file writeStateFileAtomic writes `path` through. */
function tempPath(path: string): string {
  return `${path}.tmp-${process.pid}`;
}

/** Removes this process's temporary file of `path`, if one is left (forced exit). */
export function removeStateFileTemp(path: string): void {
  try {
    unlinkSync(tempPath(path));
  } catch {
    // None left.
  }
}

/** Replaces `path` with `value` as JSON, atomically (write temp + fsync + rename), mode 0600. */
export function writeStateFileAtomic(path: string, value: unknown): void {
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  const tmp = tempPath(path);
  const fd = openSync(tmp, "w", 0o600);
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
    throw e;
  }
  closeSync(fd);
  renameSync(tmp, path);
}
