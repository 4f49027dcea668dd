/**
 * The relay's forwarding snapshot from its options (cli/relay.ts step 2; each worker thread of
 * cli/relay-worker.ts builds its own from the same options).
 */
import { createPmtMapping, type PmtMapping } from "../addr/pmt-mapping.js";
import { asConfigError } from "../config/config-error.js";
import type { RelayConfig } from "../config/parse.js";
import { createRelayForwardingState } from "../dataplane/forwarding-state.js";
import type { RelayForwardingState } from "../dataplane/forwarding-state.js";

/**
 * Step 2: the relay's forwarding snapshot from its options (each worker thread builds its own).
 * `workers`: how many data planes share icmp_rate_limit; each gets an equal part of it, so that
 * all of them together send at most icmp_rate_limit ICMPv6 errors per second (RFC 4443 §2.4 (f)).
 * @throws ConfigError
 */
export function planRelay(cfg: RelayConfig, workers = 1): RelayForwardingState {
  let mapping: PmtMapping | null = null;
  if (cfg.providerPrefix !== null) {
    try {
      mapping = createPmtMapping({
        providerPrefix: cfg.providerPrefix,
        ipv4PrefixLen: cfg.ipv4PrefixLen,
        ipv4CommonPrefix: cfg.customerIpv4[0]?.addr ?? 0,
        sla: cfg.sla,
      });
    } catch (e) {
      throw asConfigError(e) ?? e;
    }
  }
  return createRelayForwardingState({
    enabled: true,
    relayIpv4s: cfg.relayIpv4,
    customerIpv4: cfg.customerIpv4,
    pmtCustomerIpv4: cfg.pmtCustomerIpv4,
    optOut: cfg.optOut,
    nonCustomer: cfg.nonCustomer,
    otherRelays: cfg.otherRelays,
    mapping,
    providerPrefix: cfg.providerPrefix,
    tunnelMtu: cfg.tunnelMtu,
    icmpRateLimit: cfg.icmpRateLimit / Math.max(1, workers),
  });
}
