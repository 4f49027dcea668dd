/**
 * One `wan_send packet` resolver for every relay worker: the main thread resolves (one route
 * dump, one neighbour check per RESOLVE_INTERVAL_MS, whatever the number of workers) and hands
 * the outcome to each worker's own AF_PACKET path (io/ports.ts PacketSendPath) as a command,
 * posted to a worker thread or applied in the main thread's own worker.
 *
 * `FanOutPacketPath` is the PacketSendPath the resolver (control/relay-wan-send.ts) drives in the
 * main thread: each call becomes one command to every worker; an unchanged next hop while the
 * path is active is not sent again (a worker keeps its own). A worker's failed send clears that
 * worker's path and comes back as `failed(code)`, which runs the resolver's failure handler (it
 * resolves again, and the new next hop goes to every worker). `packets` is the sum of what the
 * workers last reported.
 */
import type { PacketSendPath } from "../io/ports.js";

/** What a worker does to its own send path (a message to a worker thread, structured-cloned). */
export type PacketPathCommand =
  | {
      readonly op: "set";
      readonly dst: number;
      readonly ifindex: number;
      readonly lladdr: Uint8Array;
    }
  | {
      readonly op: "intervals";
      readonly intervals: Uint32Array;
      readonly ifindex: number;
      readonly lladdr: Uint8Array;
    }
  | { readonly op: "clear" }
  | { readonly op: "rawOnce" };

/** Applies `c` to `path` (a worker's own). */
export function applyPacketPathCommand(path: PacketSendPath, c: PacketPathCommand): void {
  switch (c.op) {
    case "set":
      path.set(c.dst, c.ifindex, c.lladdr);
      return;
    case "intervals":
      path.setIntervals(c.intervals, c.ifindex, c.lladdr);
      return;
    case "clear":
      path.clear();
      return;
    case "rawOnce":
      path.rawOnce();
      return;
  }
}

/** One worker as the fan-out sees it. */
export interface PacketPathTarget {
  /** Hands `c` to the worker's path. */
  send(c: PacketPathCommand): void;
  /** Packets the worker sent over AF_PACKET, as last known. */
  packets(): number;
}

function sameBytes(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

function sameHop(a: PacketPathCommand, b: PacketPathCommand): boolean {
  if (a.op === "set" && b.op === "set") {
    return a.dst === b.dst && a.ifindex === b.ifindex && sameBytes(a.lladdr, b.lladdr);
  }
  if (a.op === "intervals" && b.op === "intervals") {
    return (
      a.ifindex === b.ifindex &&
      sameBytes(a.lladdr, b.lladdr) &&
      sameBytes(a.intervals, b.intervals)
    );
  }
  return false;
}

export class FanOutPacketPath implements PacketSendPath {
  private last: PacketPathCommand | null = null;
  private handler: ((code: string) => void) | null = null;

  constructor(private readonly targets: readonly PacketPathTarget[]) {}

  get active(): boolean {
    return this.last !== null;
  }

  get packets(): number {
    let n = 0;
    for (const t of this.targets) n += t.packets();
    return n;
  }

  set(dstV4: number, ifindex: number, lladdr: Uint8Array): void {
    this.hop({ op: "set", dst: dstV4 >>> 0, ifindex, lladdr: Uint8Array.from(lladdr) });
  }

  setIntervals(intervals: Uint32Array, ifindex: number, lladdr: Uint8Array): void {
    const c: PacketPathCommand = {
      op: "intervals",
      intervals: Uint32Array.from(intervals),
      ifindex,
      lladdr: Uint8Array.from(lladdr),
    };
    this.hop(c);
  }

  clear(): void {
    this.last = null;
    this.all({ op: "clear" });
  }

  rawOnce(): void {
    this.all({ op: "rawOnce" });
  }

  onFailure(handler: (code: string) => void): void {
    this.handler = handler;
  }

  /**
   * A worker's send over AF_PACKET failed (its path cleared itself): no longer active, so the
   * handler's resolve sends the next hop to every worker again.
   */
  failed(code: string): void {
    this.last = null;
    this.handler?.(code);
  }

  private hop(c: PacketPathCommand): void {
    if (this.last !== null && sameHop(this.last, c)) return;
    this.last = c;
    this.all(c);
  }

  private all(c: PacketPathCommand): void {
    for (const t of this.targets) t.send(c);
  }
}
