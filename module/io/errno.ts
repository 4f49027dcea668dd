/**
 * The one errno classification table (as serialport/bindings-cpp
 * lib/unix-read.ts): every I/O error the ports report is decided here, once, into what the loop
 * does about it.
 *
 *   "wait"    - nothing is wrong: wait for the fd to become readable/writable again.
 *   "gone"    - the descriptor or its device no longer exists (TUN deleted with `ip link del`,
 *               fd closed): stop the loop, close the port, exit or re-create it.
 *   "degrade" - anything else (queue full, a refused packet, an ICMP error about an earlier
 *               packet): log, count, continue.
 */
export type ErrnoClass = "wait" | "gone" | "degrade";

/** errno name -> class. Names absent from this table are "degrade". */
export const ERRNO_CLASSES: Readonly<Record<string, ErrnoClass>> = Object.freeze({
  EAGAIN: "wait",
  EWOULDBLOCK: "wait",
  EINTR: "wait",
  EBADF: "gone",
  // A TUN fd whose device was deleted: read/write return EBADFD, poll reports POLLERR.
  EBADFD: "gone",
  ENXIO: "gone",
  ENODEV: "gone",
  ENOTSOCK: "gone",
});

/** Class of an errno name ("EAGAIN", ...); unknown or empty names degrade. */
export function classifyErrno(code: string): ErrnoClass {
  return Object.prototype.hasOwnProperty.call(ERRNO_CLASSES, code)
    ? (ERRNO_CLASSES[code] as ErrnoClass)
    : "degrade";
}
