/**
 * The CPE data plane as one object the CLI and the control plane drive:
 *
 *   const d = new CpeDaemon({ tun, raw, state, log, now });
 *   d.start();                      // runs the outbound and inbound loops
 *   d.setForwardingState(next);     // control plane: new WAN address, relay switch, MTU... (one assignment)
 *   d.counters();                   // snapshot for status / metrics
 *   d.stop();                       // stops the loops and closes both ports
 *
 * The ports are opened by the caller (io/linux.ts in production, io/memory.ts in tests). Loop
 * wiring, snapshot swap and stop are the shared DataplaneDaemon (daemon.ts).
 */
import { CpeInboundPath } from "./cpe-inbound.js";
import { CpeOutboundPath } from "./cpe-outbound.js";
import { DataplaneDaemon, type DaemonOptions } from "./daemon.js";
import type { CpeForwardingState } from "./forwarding-state.js";

export type CpeDaemonOptions = DaemonOptions<CpeForwardingState>;

export class CpeDaemon extends DataplaneDaemon<CpeForwardingState> {
  constructor(options: CpeDaemonOptions) {
    super(
      options,
      { tunToWire: "cpe outbound", wireToTun: "cpe inbound" },
      (stats, nowMs) => new CpeOutboundPath(stats, nowMs),
      (stats) => new CpeInboundPath(stats),
      (s) => ({
        enabled: s.enabled,
        ownIpv4s: [s.ownIpv4],
        icmpSource: s.icmpSource,
        icmpRateLimit: s.icmpRateLimit,
        lanMapping: s.mapping,
      }),
    );
  }
}
