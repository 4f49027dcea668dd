/**
 * The relay data plane as one object the CLI and the control plane drive:
 *
 *   const d = new RelayDaemon({ tun, raw, state, log, now });
 *   d.start();                      // runs the inbound and return loops
 *   d.setForwardingState(next);     // control plane: reload (one assignment)
 *   d.counters();                   // snapshot for status / metrics, per customer range too
 *   d.stop();                       // stops the loops and closes both ports
 *
 * Stateless (RFC 6732 §3.4): any number of relays behind one anycast address serve the same
 * customers interchangeably. The ports are opened by the caller (io/linux.ts in production,
 * io/memory.ts in tests). Loop wiring, snapshot swap and stop are the shared DataplaneDaemon
 * (daemon.ts).
 */
import { formatIpv4Prefix } from "../addr/ipv4.js";
import type { CountersSnapshot } from "./counters.js";
import { DataplaneDaemon, type DaemonOptions } from "./daemon.js";
import type { RelayForwardingState } from "./forwarding-state.js";
import { RelayInboundPath } from "./relay-inbound.js";
import { RelayOutboundPath } from "./relay-outbound.js";

export type RelayDaemonOptions = DaemonOptions<RelayForwardingState>;

export class RelayDaemon extends DataplaneDaemon<RelayForwardingState> {
  constructor(options: RelayDaemonOptions) {
    super(
      options,
      { tunToWire: "relay return", wireToTun: "relay inbound" },
      (stats, nowMs) => new RelayOutboundPath(stats, nowMs),
      (stats) => new RelayInboundPath(stats),
      (s) => ({
        enabled: s.enabled,
        ownIpv4s: s.relayIpv4s,
        icmpSource: s.ownSixToFour,
        icmpRateLimit: s.icmpRateLimit,
        lanMapping: null,
      }),
    );
    this.stats.sizeRanges(options.state.pmtCustomerIpv4.length);
  }

  /** Swaps the snapshot; a different number of PMT customer ranges restarts their counters. */
  override setForwardingState(state: RelayForwardingState): void {
    this.stats.sizeRanges(state.pmtCustomerIpv4.length);
    super.setForwardingState(state);
  }

  /** The shared counters plus the traffic of each PMT customer range (pmt_customer_ipv4). */
  override counters(): CountersSnapshot {
    const s = super.counters();
    const names = this.forwardingState.pmtCustomerIpv4.map(formatIpv4Prefix);
    if (names.length > 0) s.customers = this.stats.rangeSnapshot(names);
    return s;
  }
}
