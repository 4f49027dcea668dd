/**
 * Router Advertisement timing and lifetime maths (pure; time and randomness come in as arguments).
 *
 * Sources: RFC 4861 §6.2.1 (configuration variables and their bounds), §6.2.4 (unsolicited RAs),
 * §6.2.5 (final RAs), §6.2.6 (solicited RAs), §10 (router constants); RFC 9096 §3.4/§4 (LAN-side
 * lifetime limits for CE routers); RFC 8106 §5.1/§5.2 (RDNSS/DNSSL lifetime); RFC 4191 §2.2
 * (router preference); RFC 7084 §4.3 L-4 (no default route without a usable prefix).
 */

// RFC 4861 §10, router constants.
/** Upper bound of the first few unsolicited intervals (RFC 4861 §10). */
export const MAX_INITIAL_RTR_ADVERT_INTERVAL_S = 16;
/** How many initial RAs use the shorter interval (RFC 4861 §10). */
export const MAX_INITIAL_RTR_ADVERTISEMENTS = 3;
/** Multicast RAs are rate limited to one per this many seconds (RFC 4861 §6.2.6, §10). */
export const MIN_DELAY_BETWEEN_RAS_S = 3;
/** Solicited RAs are delayed by a random time up to this (RFC 4861 §6.2.6, §10). */
const MAX_RA_DELAY_TIME_S = 0.5;

// RFC 4861 §6.2.1, bounds of the configuration variables.
/** MinRtrAdvInterval lower bound (RFC 4861 §6.2.1). */
const MIN_RTR_ADV_INTERVAL_LOWER_S = 3;
/** MinRtrAdvInterval is at most this fraction of MaxRtrAdvInterval (RFC 4861 §6.2.1). */
const MIN_RTR_ADV_INTERVAL_MAX_FRACTION = 0.75;
/** MaxRtrAdvInterval bounds (RFC 4861 §6.2.1). */
const MAX_RTR_ADV_INTERVAL_LOWER_S = 4;
const MAX_RTR_ADV_INTERVAL_UPPER_S = 1800;
/** AdvDefaultLifetime upper bound (RFC 4861 §6.2.1). */
const MAX_ROUTER_LIFETIME_S = 9000;
/** Largest value of the 16-bit Router Lifetime field (RFC 4861 §4.2). */
const ROUTER_LIFETIME_FIELD_MAX_S = 0xffff;
/** AdvCurHopLimit: the current diameter of the Internet; 64 as IANA assigns (RFC 4861 §6.2.1). */
export const ADV_CUR_HOP_LIMIT = 64;

// RFC 9096 §4, recommended LAN-side lifetime limits.
/** ND_PREFERRED_LIMIT: cap for PIO preferred lifetime (RFC 9096 §3.4, §4). */
export const ND_PREFERRED_LIMIT_S = 2700;
/** ND_VALID_LIMIT: cap for PIO valid, RIO, RDNSS and DNSSL lifetimes (RFC 9096 §3.4, §4). */
export const ND_VALID_LIMIT_S = 5400;

/** RDNSS/DNSSL lifetime is by default at least this many MaxRtrAdvInterval (RFC 8106 §5.1, §5.2). */
const DNS_LIFETIME_MAX_INTERVAL_FACTOR = 3;

/** RFC 4191 §2.2 Prf values as they sit in the 2-bit field. */
export type RouterPreference = "low" | "medium" | "high";
const ROUTER_PREFERENCE_BITS: Readonly<Record<RouterPreference, number>> = {
  high: 0b01,
  medium: 0b00,
  low: 0b11,
};

/** Uniform random number generator in [0, 1); Math.random by default, a fixed sequence in tests. */
export type RandomSource = () => number;

/** The interface's MinRtrAdvInterval and MaxRtrAdvInterval, in seconds, after clamping. */
export interface AdvIntervals {
  readonly minS: number;
  readonly maxS: number;
}

/**
 * Clamp configured intervals to RFC 4861 §6.2.1: 4 <= Max <= 1800, 3 <= Min <= 0.75 * Max.
 * Note: when Max < 4/0.75 the two lower bounds conflict; Min then equals 3 (the absolute floor).
 */
export function clampAdvIntervals(minS: number, maxS: number): AdvIntervals {
  const max = Math.min(Math.max(maxS, MAX_RTR_ADV_INTERVAL_LOWER_S), MAX_RTR_ADV_INTERVAL_UPPER_S);
  const minUpper = Math.max(MIN_RTR_ADV_INTERVAL_LOWER_S, MIN_RTR_ADV_INTERVAL_MAX_FRACTION * max);
  const min = Math.min(Math.max(minS, MIN_RTR_ADV_INTERVAL_LOWER_S), minUpper);
  return { minS: min, maxS: max };
}

/**
 * Milliseconds until the next unsolicited RA (RFC 4861 §6.2.4): uniform in [Min, Max]; while fewer
 * than MAX_INITIAL_RTR_ADVERTISEMENTS have been sent since the interface became advertising (or its
 * information changed), at most MAX_INITIAL_RTR_ADVERT_INTERVAL.
 */
export function calcAdvInterval(
  intervals: AdvIntervals,
  sentSinceStart: number,
  random: RandomSource,
): number {
  const spanS = intervals.maxS - intervals.minS;
  let s = intervals.minS + random() * spanS;
  if (sentSinceStart < MAX_INITIAL_RTR_ADVERTISEMENTS && s > MAX_INITIAL_RTR_ADVERT_INTERVAL_S) {
    s = MAX_INITIAL_RTR_ADVERT_INTERVAL_S;
  }
  return Math.round(s * 1000);
}

/**
 * Absolute time (ms) at which to answer a valid Router Solicitation received at `nowMs`
 * (RFC 4861 §6.2.6): random delay in [0, MAX_RA_DELAY_TIME]; never later than the already scheduled
 * multicast RA; never sooner than MIN_DELAY_BETWEEN_RAS after the last multicast RA.
 * `lastMulticastMs` / `nextScheduledMs` are null when there is none.
 */
export function calcSolicitedSendTime(
  nowMs: number,
  lastMulticastMs: number | null,
  nextScheduledMs: number | null,
  random: RandomSource,
): number {
  const delayMs = Math.round(random() * MAX_RA_DELAY_TIME_S * 1000);
  let at = nowMs + delayMs;
  if (lastMulticastMs !== null && nowMs - lastMulticastMs < MIN_DELAY_BETWEEN_RAS_S * 1000) {
    at = lastMulticastMs + MIN_DELAY_BETWEEN_RAS_S * 1000 + delayMs;
  }
  if (nextScheduledMs !== null && at > nextScheduledMs) at = nextScheduledMs;
  return at;
}

/** What the router lifetime depends on besides the configured value. */
interface RouterLifetimeInputs {
  /** Configured AdvDefaultLifetime in seconds (0 = never a default router). */
  readonly configuredS: number;
  readonly intervals: AdvIntervals;
  /** A usable prefix is being advertised (RFC 7084 L-4). */
  readonly hasPrefix: boolean;
  /** The tunnel health probe currently succeeds (RFC 7084 L-4 applied to a dead tunnel). */
  readonly healthy: boolean;
  /** Final RAs on shutdown (RFC 4861 §6.2.5). */
  readonly stopping: boolean;
}

/**
 * Router Lifetime field value (RFC 4861 §6.2.1: 0 or MaxRtrAdvInterval..9000). Zero when there is no
 * prefix or the tunnel is down (RFC 7084 §4.3 L-4: no default route without working IPv6) and in the
 * final RAs (RFC 4861 §6.2.5).
 */
export function calcRouterLifetime(inputs: RouterLifetimeInputs): number {
  if (inputs.stopping || !inputs.hasPrefix || !inputs.healthy) return 0;
  if (inputs.configuredS <= 0) return 0;
  const s = Math.min(
    Math.max(inputs.configuredS, inputs.intervals.maxS),
    MAX_ROUTER_LIFETIME_S,
    ROUTER_LIFETIME_FIELD_MAX_S,
  );
  return Math.round(s);
}

/**
 * Prf bits for the RA header (RFC 4191 §2.2): must be medium (00) when the router lifetime is 0.
 */
export function calcRouterPreferenceBits(
  preference: RouterPreference,
  routerLifetimeS: number,
): number {
  return routerLifetimeS === 0 ? ROUTER_PREFERENCE_BITS.medium : ROUTER_PREFERENCE_BITS[preference];
}

/** PIO lifetimes in seconds. */
export interface PrefixLifetimes {
  readonly preferredS: number;
  readonly validS: number;
}

/**
 * PIO lifetimes capped per RFC 9096 §3.4 (preferred <= ND_PREFERRED_LIMIT, valid <= ND_VALID_LIMIT)
 * and preferred <= valid (RFC 4861 §6.2.1). Negative or non-finite input becomes 0.
 */
export function capPrefixLifetimes(preferredS: number, validS: number): PrefixLifetimes {
  const valid = Math.min(nonNegative(validS), ND_VALID_LIMIT_S);
  const preferred = Math.min(nonNegative(preferredS), ND_PREFERRED_LIMIT_S, valid);
  return { preferredS: preferred, validS: valid };
}

/**
 * RDNSS/DNSSL lifetime: at least 3 × MaxRtrAdvInterval (RFC 8106 §5.1, §5.2) and at most
 * ND_VALID_LIMIT (RFC 9096 §3.4). With MaxRtrAdvInterval <= 1800 both hold.
 */
export function calcDnsLifetime(intervals: AdvIntervals): number {
  return Math.min(Math.ceil(DNS_LIFETIME_MAX_INTERVAL_FACTOR * intervals.maxS), ND_VALID_LIMIT_S);
}

/** Route Information Option lifetime (RFC 4191 §2.3), capped at ND_VALID_LIMIT (RFC 9096 §3.4). */
export function calcRouteLifetime(routerLifetimeS: number, intervals: AdvIntervals): number {
  if (routerLifetimeS === 0) return 0;
  return Math.min(Math.max(routerLifetimeS, 3 * intervals.maxS), ND_VALID_LIMIT_S);
}

function nonNegative(n: number): number {
  return Number.isFinite(n) && n > 0 ? Math.floor(n) : 0;
}
