/**
 * GRO on the WAN device merges 6in4's inner UDP from senders with fixed IPv4 IDs (Linux tunnels)
 * in a way nobody can take apart (native complete_gro_6in4; counter wan_gro_unusable). The router
 * owner or operator learns it from a warning naming the remedy, at most once per check interval
 * while it goes on (README, Native addon: GRO on the WAN).
 */
import type { Clock, TimerHandle } from "./clock.js";

/** How often the count is looked at. */
export const GRO_CHECK_MS = 60_000;

/**
 * Checks `count()` now and every GRO_CHECK_MS; warns when it rose since the last check. `device()`
 * names the receiving device when known. Returns the function that stops the checks.
 */
export function watchGroUnusable(
  clock: Clock,
  count: () => number,
  warn: (message: string) => void,
  device: () => string | undefined,
): () => void {
  let seen = 0;
  let timer: TimerHandle | null = null;
  let stopped = false;
  const check = (): void => {
    if (stopped) return;
    const n = count();
    if (n > seen) {
      const dev = device();
      warn(
        `${dev !== undefined ? `wan ${dev}: ` : ""}${n - seen} 6in4 UDP packet(s) merged by GRO ` +
          `could not be forwarded; turn it off: ethtool -K ${dev ?? "<receiving device>"} ` +
          `rx-gro-list off rx-udp-gro-forwarding off`,
      );
    }
    seen = n;
    timer = clock.setTimer(check, GRO_CHECK_MS);
  };
  check();
  return () => {
    stopped = true;
    if (timer !== null) clock.clearTimer(timer);
  };
}
