/** Construction of `IoError` (io/ports.ts): an Error carrying the errno name, number and class. */
import { classifyErrno } from "./errno.js";
import type { IoError } from "./ports.js";

/** An IoError for errno `code` (name) / `errno` (number, 0 if not from the kernel). */
export function makeIoError(code: string, errno: number, message: string): IoError {
  const err = new Error(message) as Error & { code: string; errno: number; errnoClass: string };
  err.code = code;
  err.errno = errno;
  err.errnoClass = classifyErrno(code);
  return err as IoError;
}

/** Any thrown value (usually a native Error with `code`/`errno`) as an IoError. */
export function toIoError(e: unknown): IoError {
  const src = e as { code?: unknown; errno?: unknown; message?: unknown } | null;
  const code = typeof src?.code === "string" ? src.code : "EIO";
  const errno = typeof src?.errno === "number" ? src.errno : 0;
  return makeIoError(code, errno, typeof src?.message === "string" ? src.message : String(e));
}
