/**
 * One plain answer to "does IPv6 work through this CPE?" from a status snapshot, for people
 * (`6to4-pmt status`'s first line), monitors (its exit code) and LuCI (the snapshot's `ipv6`):
 *   - works:    running, routes into the TUN in place, health probe answered, LAN told to use us;
 *   - degraded: running but not confirmed or slipping (no probe answered yet, recent failures,
 *               router lifetime 0 on the LAN while the tunnel is up);
 *   - down:     not running (no WAN address, refused, disabled, starting), a route missing, or the
 *               health probe failing (default route withdrawn, RFC 7084 L-4).
 * Pure: reads only the snapshot.
 */
import type { Ipv6Level, Ipv6Verdict, StatusSnapshot } from "./snapshot.js";

type VerdictInput = Omit<StatusSnapshot, "ipv6">;

function answered(s: VerdictInput): string {
  return `${s.health.probesOk} of ${s.health.probesSent} health probes to ${s.health.target ?? "-"} answered`;
}

export function ipv6Verdict(s: VerdictInput): Ipv6Verdict {
  const v = (level: Ipv6Level, why: string): Ipv6Verdict => ({
    level,
    line: `IPv6 ${level}: ${why}`,
  });
  if (s.state !== "running") {
    const what =
      s.state === "no-wan"
        ? "no IPv4 address on the WAN"
        : s.state === "refused"
          ? "the WAN address is refused"
          : s.state === "disabled"
            ? "6to4 is disabled"
            : s.state;
    return v("down", what + (s.stateReason ? ` (${s.stateReason})` : ""));
  }
  const missing = (s.tunRoutes ?? []).filter((r) => !r.installed);
  if (missing.length > 0) {
    return v(
      "down",
      `route ${missing.map((r) => r.prefix).join(", ")} into the tunnel missing` +
        (missing[0]!.error ? ` (${missing[0]!.error})` : ""),
    );
  }
  const h = s.health;
  const lifetime = s.ra.mode === "builtin" ? `; LAN router lifetime ${s.ra.routerLifetimeS} s` : "";
  if (h.state === "down") {
    return v(
      "down",
      `the tunnel does not answer: ${answered(s)}, the last ${h.consecutiveFailures} failed` +
        lifetime,
    );
  }
  if (h.state === "unknown" || h.probesOk === 0) {
    return v("degraded", `not confirmed yet: ${answered(s)}`);
  }
  if (h.consecutiveFailures > 0) {
    return v(
      "degraded",
      `the last ${h.consecutiveFailures} health probe(s) failed (${answered(s)}; withdrawn after ${h.failuresToWithdraw})`,
    );
  }
  if (s.ra.mode === "builtin" && s.ra.sent > 0 && s.ra.routerLifetimeS === 0) {
    return v(
      "degraded",
      `the tunnel answers but LAN hosts get router lifetime 0 (no default route via this router)` +
        (s.ra.notAdvertisedReason ? `: ${s.ra.notAdvertisedReason}` : ""),
    );
  }
  return v(
    "works",
    `${s.lanPrefix ?? "-"} via relay ${s.relayInUse ?? "-"}, ${answered(s)}` +
      (h.lastRttMs !== null && h.lastRttMs !== undefined
        ? `, rtt ${h.lastRttMs.toFixed(2)} ms`
        : ""),
  );
}
