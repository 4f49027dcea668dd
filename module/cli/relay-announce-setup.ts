/**
 * Wires control/relay-announce.ts for `6to4-pmt relay`: the upstream prober on a raw ICMPv6
 * socket (control/echo-prober.ts, as the CPE's tunnel health), HealthMonitor with the relay's
 * health_* options, and `ip` for the routes. Off (null) unless announce_ipv4 is set.
 */
import { formatIpv4 } from "../addr/ipv4.js";
import { formatIpv6 } from "../addr/ipv6.js";
import { ICMPV6_ECHO_REPLY } from "../codec/constants.js";
import type { RelayConfig } from "../config/parse.js";
import { systemClock } from "../control/clock.js";
import { createEchoProber } from "../control/echo-prober.js";
import { HealthMonitor } from "../control/health.js";
import { RelayAnnouncer } from "../control/relay-announce.js";
import { openIcmpV6 } from "../io/linux.js";
import type { Logger } from "../log/logger.js";
import { ip } from "./net-device.js";

/**
 * The relay's announcer over `dev` for the anycast /32s and `returnRoutes` (provider prefix,
 * 2002::/16), not yet started; null when announce_ipv4 is empty (static routing).
 */
export function relayAnnouncer(
  cfg: RelayConfig,
  dev: string,
  returnRoutes: readonly string[],
  log: Logger,
): RelayAnnouncer | null {
  if (cfg.announceIpv4.length === 0) return null;
  const target = cfg.healthTarget;
  return new RelayAnnouncer({
    device: dev,
    routes: [...cfg.announceIpv4.map((a) => `${formatIpv4(a)}/32`), ...returnRoutes],
    ip,
    log,
    ...(target !== null
      ? {
          health: (onChange, onError) => {
            const m = new HealthMonitor({
              intervalS: cfg.healthInterval,
              failures: cfg.healthFailures,
              clock: systemClock,
              prober: createEchoProber({
                open: (id) => openIcmpV6({ passTypes: [ICMPV6_ECHO_REPLY], echoIdentifier: id }),
                onError: (msg) => {
                  log.warn(msg);
                  onError(msg);
                },
              }),
              onChange,
              reportFirstUp: true,
              formatTarget: formatIpv6,
            });
            m.setTarget(target);
            return m;
          },
        }
      : {}),
  });
}
