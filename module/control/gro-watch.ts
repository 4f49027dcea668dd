/**
 * GRO on the WAN device merges 6in4's inner UDP from senders with fixed IPv4 IDs (Linux tunnels)
 * in a way nobody can take apart (native complete_gro_6in4; counter wan_gro_unusable). When the
 * count rises, a remedy is tried first (the CPE's `wan_gro` auto: control/wan-gro.ts); otherwise
 * the router owner or operator learns it from a warning naming the ethtool command, at most once
 * per GRO_WARN_MS while it goes on (docs/native-addon.md, GRO on the WAN).
 */
import type { Clock, TimerHandle } from "./clock.js";

/** How often the count is looked at (a native counter read: cheap). */
export const GRO_CHECK_MS = 5_000;
/** At most one warning per this long; the packets in between are summed. */
export const GRO_WARN_MS = 60_000;

/** A running watch: `checkNow()` checks at once (the periodic checks go on); `stop()` ends it. */
export interface GroWatch {
  checkNow(): void;
  stop(): void;
}

/**
 * Checks `count()` now and every GRO_CHECK_MS. When it rose: `remedy.remedy(device)` when given
 * and the device is known, and nothing more if that returns true; else a warning, unless one was
 * given less than GRO_WARN_MS ago (then the next one sums the packets). With `remedy.always` the
 * remedy runs on every check, risen or not. `device()` names the receiving device when known.
 */
export function watchGroUnusable(
  clock: Clock,
  count: () => number,
  warn: (message: string) => void,
  device: () => string | undefined,
  remedy?: { remedy: (device: string) => boolean; always?: boolean },
): GroWatch {
  let seen = 0;
  let unwarned = 0;
  let lastWarn = -Infinity;
  let timer: TimerHandle | null = null;
  let stopped = false;
  const check = (): void => {
    if (stopped) return;
    const n = count();
    const rose = n - seen;
    seen = n;
    if (rose > 0 || remedy?.always === true) {
      const dev = device();
      const settled = remedy !== undefined && dev !== undefined && remedy.remedy(dev);
      if (settled) unwarned = 0;
      else unwarned += rose;
    }
    if (unwarned > 0 && clock.now() - lastWarn >= GRO_WARN_MS) {
      const dev = device();
      warn(
        `${dev !== undefined ? `wan ${dev}: ` : ""}${unwarned} 6in4 UDP packet(s) merged by GRO ` +
          `could not be forwarded; turn it off: ethtool -K ${dev ?? "<receiving device>"} ` +
          `rx-gro-list off rx-udp-gro-forwarding off`,
      );
      unwarned = 0;
      lastWarn = clock.now();
    }
  };
  check();
  timer = clock.setRepeating(check, GRO_CHECK_MS);
  return {
    checkNow: check,
    stop: () => {
      stopped = true;
      if (timer !== null) clock.clearTimer(timer);
    },
  };
}
