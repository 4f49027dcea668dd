/**
 * EchoProber over one raw ICMPv6 socket of the daemon's own (RFC 4443 §4.1/§4.2 echo request
 * and reply). The request leaves through the kernel's routing table, i.e. through the TUN and
 * the relay, which is exactly the path RFC 6343 §4.4 item 4 wants tested; the reply comes back
 * the same way and the kernel hands a copy to every raw ICMPv6 socket that passes type 129.
 *
 * It replaced a `ping` child process per probe: a process every few seconds cost a fork and
 * exec, and left V8 objects (the child, its pipes and handles) that lived long enough to be
 * promoted, so a long-running CPE's old generation grew between V8's rare full collections.
 * Here a probe allocates only its promise and timer; the request and the receive ring are
 * allocated once.
 *
 * A reply counts only when its identifier, sequence number and 8-byte payload cookie are ours
 * and it comes from the target, so an operator's own `ping` on the router, or an off-path
 * forger who cannot see the cookie, does not keep a dead tunnel "up".
 */
import { ICMPV6_ECHO_REPLY, ICMPV6_ECHO_REQUEST } from "../codec/constants.js";
import { createIcmpv6RxRing } from "../io/ring.js";
import type { IcmpV6Socket, Icmpv6RxRing } from "../io/ports.js";
import { monotonicMs, systemClock, type Clock, type TimerHandle } from "./clock.js";
import type { EchoProber } from "./health.js";

/** Bytes of an echo message of ours: type, code, checksum, identifier, sequence, cookie. */
export const ECHO_PROBE_BYTES = 16;
/** Receive ring of the probe socket: replies are 16 bytes; longer ones (not ours) truncate. */
const RING_SLOTS = 4;
const RING_SLOT_BYTES = 256;

interface EchoProberOptions {
  /**
   * Opens the raw ICMPv6 socket passing echo replies with `identifier` (cli/cpe.ts: io/linux.ts
   * openIcmpV6 without a device, with echoIdentifier, so the kernel drops other replies). Called
   * at the first probe, and again after the socket failed.
   */
  readonly open: (identifier: number) => IcmpV6Socket;
  readonly clock?: Clock;
  /** Monotonic milliseconds for the round-trip time (default monotonicMs). */
  readonly now?: () => number;
  /** Numbers in [0, 1) for the identifier and the cookie (default Math.random). */
  readonly random?: () => number;
  /** One line when the socket cannot be opened or fails (repeats of one message are not logged). */
  readonly onError?: (message: string) => void;
}

interface Pending {
  readonly seq: number;
  readonly target: Uint8Array;
  readonly sentAt: number;
  readonly resolve: (rttMs: number | null) => void;
  timer: TimerHandle | null;
}

export function createEchoProber(options: EchoProberOptions): EchoProber {
  const clock = options.clock ?? systemClock;
  const random = options.random ?? Math.random;
  const now = options.now ?? monotonicMs;
  const request = new Uint8Array(ECHO_PROBE_BYTES);
  const id = Math.floor(random() * 0x10000) & 0xffff;
  request[0] = ICMPV6_ECHO_REQUEST;
  request[4] = id >>> 8;
  request[5] = id & 0xff;
  for (let i = 8; i < ECHO_PROBE_BYTES; i++) request[i] = Math.floor(random() * 256) & 0xff;
  const ring: Icmpv6RxRing = createIcmpv6RxRing(RING_SLOTS, RING_SLOT_BYTES);
  let socket: IcmpV6Socket | null = null;
  let seq = 0;
  let pending: Pending | null = null;
  let closed = false;
  let lastError = "";

  const report = (message: string): void => {
    if (message === lastError) return;
    lastError = message;
    options.onError?.(message);
  };

  /** Ends the pending probe: answered (its round-trip time) or not (null). */
  const finish = (answered: boolean): void => {
    const p = pending;
    if (p === null) return;
    pending = null;
    if (p.timer !== null) clock.clearTimer(p.timer);
    p.resolve(answered ? Math.max(0, now() - p.sentAt) : null);
  };

  const isOurReply = (
    b: Uint8Array,
    off: number,
    size: number,
    src: Uint8Array,
    srcOff: number,
  ) => {
    const p = pending;
    if (p === null || size < ECHO_PROBE_BYTES) return false;
    if (b[off] !== ICMPV6_ECHO_REPLY || b[off + 1] !== 0) return false;
    if (b[off + 4] !== request[4] || b[off + 5] !== request[5]) return false;
    if (b[off + 6] !== p.seq >>> 8 || b[off + 7] !== (p.seq & 0xff)) return false;
    for (let i = 8; i < ECHO_PROBE_BYTES; i++) if (b[off + i] !== request[i]) return false;
    for (let i = 0; i < 16; i++) if (src[srcOff + i] !== p.target[i]) return false;
    return true;
  };

  const onBatch = (r: Icmpv6RxRing, count: number): void => {
    for (let i = 0; i < count; i++) {
      if (isOurReply(r.bufs[i] as Uint8Array, r.offset, r.sizes[i] as number, r.srcs, 16 * i)) {
        finish(true);
      }
    }
  };

  const ensureSocket = (): IcmpV6Socket | null => {
    if (socket !== null && !socket.closed) return socket;
    try {
      const s = options.open(id);
      s.onError((e) => {
        report(`health probe socket: ${e.code}: ${e.message}`);
        if (s.closed && socket === s) socket = null;
      });
      s.onBatch(ring, onBatch);
      socket = s;
      return s;
    } catch (e) {
      report(`health probe socket: ${(e as Error).message}`);
      return null;
    }
  };

  return {
    probe(target, timeoutMs) {
      if (closed) return Promise.resolve(null);
      finish(false); // one probe at a time: a new one ends the previous one
      const s = ensureSocket();
      if (s === null) return Promise.resolve(null);
      seq = (seq + 1) & 0xffff;
      request[6] = seq >>> 8;
      request[7] = seq & 0xff;
      return new Promise<number | null>((resolve) => {
        const p: Pending = {
          seq,
          target: Uint8Array.from(target.subarray(0, 16)),
          sentAt: now(),
          resolve,
          timer: null,
        };
        pending = p;
        if (!s.send(request, 0, ECHO_PROBE_BYTES, p.target, 0)) {
          // No route, link down: a failed probe. The port counted the errno (stats().lastTxError).
          finish(false);
          return;
        }
        if (pending === p) p.timer = clock.setTimer(() => finish(false), timeoutMs);
      });
    },
    close() {
      closed = true;
      finish(false);
      socket?.close();
      socket = null;
    },
  };
}
