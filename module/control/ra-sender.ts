/**
 * The Router Advertisement scheduler on the LAN (RFC 4861 §6.2.4–§6.2.6), independent of what the
 * RA contains (`build` supplies the message; router-advert.ts encodes it).
 *
 * Flow:
 *   1. start(): the interface becomes an advertising interface; the first RA goes out at once and
 *      the next MAX_INITIAL_RTR_ADVERTISEMENTS use intervals <= MAX_INITIAL_RTR_ADVERT_INTERVAL.
 *   2. Each unsolicited RA re-arms the timer with calcAdvInterval (uniform Min..Max).
 *   3. A valid Router Solicitation (RFC 4861 §6.1.1) schedules a multicast answer after a random
 *      delay <= MAX_RA_DELAY_TIME, never sooner than MIN_DELAY_BETWEEN_RAS after the last
 *      multicast RA; solicitations arriving meanwhile share that answer. Invalid ones are counted
 *      by reason and ignored.
 *   4. changed(): the content changed (new prefix, router lifetime 0 after a health failure): as
 *      RFC 4861 §6.2.4 allows, restart the initial burst, sending the next RA as soon as the rate
 *      limit permits.
 *   5. stop(): one final RA built with kind "final" (router lifetime 0, prefixes deprecated; RFC
 *      4861 §6.2.5), then no timers remain and the socket is closed.
 *      Note: §6.2.5 allows up to MAX_FINAL_RTR_ADVERTISEMENTS (3, RFC 4861 §10); we send one, at
 *      once, so shutdown is never delayed by the 3 s rate limit (radvd does the same).
 *
 * All RAs go to ff02::1 (the usual case in §6.2.6); the kernel picks the link-local source address
 * of the bound LAN interface and the socket sends with hop limit 255.
 */
import type { Clock, TimerHandle } from "./clock.js";
import {
  calcAdvInterval,
  calcSolicitedSendTime,
  MAX_INITIAL_RTR_ADVERTISEMENTS,
  MIN_DELAY_BETWEEN_RAS_S,
  type AdvIntervals,
  type RandomSource,
} from "./ra-timing.js";

/** ff02::1, all-nodes (RFC 4291 §2.7.1). */
const ALL_NODES_ADDRESS = Uint8Array.from([0xff, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);

export type RaKind = "unsolicited" | "solicited" | "final";

/** Retry delay after a failed send during the initial burst (a tunable, not an RFC constant). */
const RA_SEND_RETRY_MS = 1000;

/** The part of IcmpV6Socket the sender uses (io/ports.ts). */
interface RaSocket {
  send(
    buf: Uint8Array,
    offset: number,
    length: number,
    dst: Uint8Array,
    dstOffset: number,
  ): boolean;
}

const RA_COUNTER_NAMES = [
  "rs_received",
  "rs_valid",
  "rs_invalid_hop_limit",
  "rs_invalid_code",
  "rs_too_short",
  "rs_invalid_option_length",
  "rs_unspecified_source_with_slla",
  "rs_answer_shared",
  "nd_other_ignored",
  "ra_sent",
  "ra_sent_solicited",
  "ra_send_failed",
  "ra_not_built",
] as const;

type RaCounterName = (typeof RA_COUNTER_NAMES)[number];

interface RaSenderOptions {
  readonly clock: Clock;
  readonly random: RandomSource;
  readonly intervals: AdvIntervals;
  readonly socket: RaSocket;
  /** Encodes the RA to send now (ICMPv6 header on); null = nothing may be advertised. */
  readonly build: (kind: RaKind) => Uint8Array | null;
  readonly log: (level: "info" | "debug" | "warn", message: string) => void;
}

export class RaSender {
  private readonly o: RaSenderOptions;
  readonly counters: Record<RaCounterName, number>;
  private timer: TimerHandle | null = null;
  private nextAtMs: number | null = null;
  private nextIsSolicited = false;
  private sentSinceStart = 0;
  private lastMulticastMs: number | null = null;
  private running = false;

  constructor(options: RaSenderOptions) {
    this.o = options;
    this.counters = Object.fromEntries(RA_COUNTER_NAMES.map((n) => [n, 0])) as Record<
      RaCounterName,
      number
    >;
  }

  get lastSentMs(): number | null {
    return this.lastMulticastMs;
  }

  get nextUnsolicitedMs(): number | null {
    return this.nextAtMs;
  }

  /** Becomes an advertising interface: the first RA goes out now (RFC 4861 §6.2.4). */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.sentSinceStart = 0;
    this.arm(this.o.clock.now(), false);
  }

  /** RA content changed: restart the initial burst, next RA as soon as the rate limit allows. */
  changed(): void {
    if (!this.running) return;
    this.sentSinceStart = 0;
    this.arm(this.earliestMulticast(), false);
  }

  /** A valid RS arrived (validation is the caller's, see router-advert.ts validateRouterSolicitation). */
  solicited(): void {
    if (!this.running) return;
    this.counters.rs_valid++;
    const now = this.o.clock.now();
    if (this.nextIsSolicited && this.nextAtMs !== null) {
      // RFC 4861 §6.2.6: one answer for several solicitations, delayed from the first.
      this.counters.rs_answer_shared++;
      return;
    }
    const at = calcSolicitedSendTime(now, this.lastMulticastMs, this.nextAtMs, this.o.random);
    if (this.nextAtMs !== null && at >= this.nextAtMs) {
      this.counters.rs_answer_shared++;
      return; // the scheduled unsolicited RA answers it
    }
    this.arm(at, true);
  }

  /** Sends the final RA (router lifetime 0, prefixes deprecated) and stops. No timers remain. */
  stop(): void {
    if (!this.running) return;
    this.running = false;
    this.cancel();
    this.send("final");
  }

  /** Stops without a final RA (the daemon lost its LAN interface). */
  abort(): void {
    this.running = false;
    this.cancel();
  }

  private earliestMulticast(): number {
    const now = this.o.clock.now();
    if (this.lastMulticastMs === null) return now;
    return Math.max(now, this.lastMulticastMs + MIN_DELAY_BETWEEN_RAS_S * 1000);
  }

  private cancel(): void {
    if (this.timer !== null) this.o.clock.clearTimer(this.timer);
    this.timer = null;
    this.nextAtMs = null;
    this.nextIsSolicited = false;
  }

  private arm(atMs: number, solicited: boolean): void {
    this.cancel();
    this.nextAtMs = atMs;
    this.nextIsSolicited = solicited;
    this.timer = this.o.clock.setTimer(() => this.fire(), Math.max(0, atMs - this.o.clock.now()));
  }

  private fire(): void {
    this.timer = null;
    if (!this.running) return;
    const solicited = this.nextIsSolicited;
    const sent = this.send(solicited ? "solicited" : "unsolicited");
    if (sent === "failed" && this.sentSinceStart < MAX_INITIAL_RTR_ADVERTISEMENTS) {
      // E.g. the LAN's link-local address is still tentative at start: retry soon, so hosts
      // do not wait a whole initial interval for their first RA.
      this.arm(this.o.clock.now() + RA_SEND_RETRY_MS, solicited);
      return;
    }
    // RFC 4861 §6.2.6: a multicast answer resets the interval timer as if unsolicited.
    const delay = calcAdvInterval(this.o.intervals, this.sentSinceStart, this.o.random);
    if (this.sentSinceStart < MAX_INITIAL_RTR_ADVERTISEMENTS) this.sentSinceStart++;
    this.arm(this.o.clock.now() + delay, false);
  }

  private send(kind: RaKind): "sent" | "failed" | "nothing" {
    const msg = this.o.build(kind);
    if (!msg) {
      this.counters.ra_not_built++;
      return "nothing";
    }
    const ok = this.o.socket.send(msg, 0, msg.length, ALL_NODES_ADDRESS, 0);
    if (!ok) {
      this.counters.ra_send_failed++;
      this.o.log("warn", `router advertisement (${kind}) send failed`);
      return "failed";
    }
    this.lastMulticastMs = this.o.clock.now();
    this.counters.ra_sent++;
    if (kind === "solicited") this.counters.ra_sent_solicited++;
    this.o.log("debug", `router advertisement sent (${kind}, ${msg.length} bytes)`);
    return "sent";
  }
}
