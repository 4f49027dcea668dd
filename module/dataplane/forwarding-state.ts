/**
 * The forwarding snapshot the data plane reads: everything a packet decision depends on, frozen.
 *
 * As wireguard-go reads its MTU atomically, `control/` (or the CLI for static configuration) builds
 * a new `CpeForwardingState` / `RelayForwardingState` and swaps it in with ONE assignment
 * (`daemon.setForwardingState(next)`); each loop reads the current snapshot once per batch, so a
 * batch is never processed half with old and half with new addresses, and the hot path never sees
 * config, timers or the kernel.
 */
import type { Ipv4Prefix } from "../addr/ipv4.js";
import type { Ipv6Prefix } from "../addr/ipv6.js";
import type { PmtMapping } from "../addr/pmt-mapping.js";
import { createPolicyContext, type PolicyContext } from "../addr/policy.js";
import { createPmtCustomerPolicy, type PmtCustomerPolicy } from "../addr/pmt-customers.js";
import type { NonCustomerAction } from "../addr/pmt-customers.js";
import { IPV4_DEFAULT_TTL } from "../codec/constants.js";

/** The RFC 3068 6to4 relay anycast address 192.88.99.1. */
export const RELAY_ANYCAST_IPV4 = 0xc0586301;

export interface CpeForwardingState {
  /**
   * False while the control plane has no usable WAN address (or 6to4 is disabled, RFC 7526 §5):
   * every packet is dropped as `no_route`.
   */
  readonly enabled: boolean;
  /** The CPE's own (WAN) IPv4 address V4ADDR; source of every encapsulated packet. */
  readonly ownIpv4: number;
  /** Relays in preference order (RFC 3068 anycast by default); `relayIpv4` is the one in use. */
  readonly relays: readonly number[];
  /** The relay packets to native IPv6 destinations are sent to (health check may switch it). */
  readonly relayIpv4: number;
  /** IPv6 MTU of the tunnel (RFC 4213 §3.2: WAN MTU - 20, never below 1280). */
  readonly tunnelMtu: number;
  /** Send 2002::/16 destinations straight to their embedded IPv4 (RFC 3056 §5.3). */
  readonly direct6to4: boolean;
  /** PMT LAN mode (RFC 6732 §3.3): the LAN uses the translated provider /64; null = plain 6to4. */
  readonly mapping: PmtMapping | null;
  /** Extra IPv4 ranges accepted in RFC 3964 §5.3.1 checks (e.g. 100.64.0.0/10 behind a CGN). */
  readonly allowIpv4: readonly Ipv4Prefix[];
  /** TTL of the encapsulating IPv4 header (RFC 4213 §3.3: implementation-dependent; 64). */
  readonly ipv4Ttl: number;
  /**
   * Hop-limit decrements done by the data plane per traversal (RFC 4213 §3.3).
   * Note: 0 on Linux, because the kernel forwarding the packet into (or out of) the TUN already
   * decrements it once and sends Time Exceeded, as it does for a sit tunnel; decrementing again
   * would count the tunnel as two hops. 1 where nothing else forwards (in-memory tests).
   * Either way a packet reaching the data plane with hop limit 0 is answered with Time Exceeded.
   */
  readonly hopLimitDecrement: 0 | 1;
  /**
   * Source of the ICMPv6 errors the CPE sends to LAN hosts (Packet Too Big, Time Exceeded): the
   * router's LAN-side address (provider /64 in PMT mode, else 2002:V4ADDR::1). 16 bytes.
   */
  readonly icmpSource: Uint8Array;
  /** ICMPv6 errors per second toward the LAN (RFC 4443 §2.4 (f)). */
  readonly icmpRateLimit: number;
  /** RFC 3964 §5 / RFC 6324 §3.3 check data derived from the fields above (addr/policy.ts). */
  readonly policy: PolicyContext;
}

export interface RelayForwardingState {
  readonly enabled: boolean;
  /**
   * IPv4 addresses the relay receives protocol 41 on (anycast first, then unicast); the first is
   * the source of everything it encapsulates (RFC 6343 §4.4 item 3).
   */
  readonly relayIpv4s: readonly number[];
  /** Customer IPv4 ranges accepted by the RFC 3964 §5.2 checks (operator-declared). */
  readonly customerIpv4: readonly Ipv4Prefix[];
  /**
   * The PMT customer ranges: only 6to4 sites whose IPv4 address lies in them are translated
   * (RFC 6732 §4.7; addr/pmt-customers.ts). Default `customerIpv4`; empty = nobody.
   */
  readonly pmtCustomerIpv4: readonly Ipv4Prefix[];
  /** Customers relayed untranslated (RFC 6732 §4.1). */
  readonly optOut: readonly Ipv4Prefix[];
  /** Sites outside `pmtCustomerIpv4` and `optOut`: relayed as plain 6to4, or dropped. */
  readonly nonCustomer: NonCustomerAction;
  /** Other relays: protocol 41 from them is dropped (RFC 5969 §12). */
  readonly otherRelays: readonly number[];
  /** The PMT mapping (RFC 6732 §3.3); null = a plain 6to4 relay. */
  readonly mapping: PmtMapping | null;
  /** Provider prefix routed to the relay (return path); null without PMT. */
  readonly providerPrefix: Ipv6Prefix | null;
  /** IPv6 MTU toward customers (RFC 4213 §3.2). */
  readonly tunnelMtu: number;
  readonly ipv4Ttl: number;
  readonly hopLimitDecrement: 0 | 1;
  /** ICMPv6 errors per second (RFC 6343 §4.4 item 6). */
  readonly icmpRateLimit: number;
  /**
   * The relay's own 6to4 address, 2002:V4:: of its first IPv4 address (2002:c058:6301:: for the
   * anycast): it answers ICMPv6 echo to it (RFC 6343 §4.4 item 4) and sources its ICMPv6 errors
   * from it. 16 bytes.
   */
  readonly ownSixToFour: Uint8Array;
  /** RFC 3964 §5 / RFC 6324 §3.3 check data derived from the fields above (addr/policy.ts). */
  readonly policy: PolicyContext;
  /** The tables of pmtCustomerIpv4 / optOut / nonCustomer (addr/pmt-customers.ts). */
  readonly customers: PmtCustomerPolicy;
}

/** 2002:V4ADDR:: (the subnet-router anycast of the /48, the relay's conventional address). */
function sixToFourBaseAddress(v4: number): Uint8Array {
  const a = new Uint8Array(16);
  a[0] = 0x20;
  a[1] = 0x02;
  a[2] = v4 >>> 24;
  a[3] = (v4 >>> 16) & 0xff;
  a[4] = (v4 >>> 8) & 0xff;
  a[5] = v4 & 0xff;
  return a;
}

/** A CPE snapshot with the defaults filled in; `enabled` requires an own IPv4 address. */
export function createCpeForwardingState(
  s: Partial<Omit<CpeForwardingState, "policy">> & Pick<CpeForwardingState, "ownIpv4">,
): CpeForwardingState {
  const relays = s.relays ?? [RELAY_ANYCAST_IPV4];
  const allowIpv4 = Object.freeze([...(s.allowIpv4 ?? [])]);
  return Object.freeze({
    enabled: s.enabled ?? s.ownIpv4 !== 0,
    ownIpv4: s.ownIpv4 >>> 0,
    relays: Object.freeze([...relays]),
    relayIpv4: (s.relayIpv4 ?? relays[0] ?? RELAY_ANYCAST_IPV4) >>> 0,
    tunnelMtu: s.tunnelMtu ?? 1480,
    direct6to4: s.direct6to4 ?? true,
    mapping: s.mapping ?? null,
    allowIpv4,
    ipv4Ttl: s.ipv4Ttl ?? IPV4_DEFAULT_TTL,
    hopLimitDecrement: s.hopLimitDecrement ?? 0,
    icmpSource: s.icmpSource ?? routerAddress(s.ownIpv4 >>> 0),
    icmpRateLimit: s.icmpRateLimit ?? 100,
    // Native sources are accepted from the configured relays and from the anycast: a relay
    // encapsulates from 192.88.99.1 (RFC 6343 §4.4 item 3) even when the CPE reached it at its
    // unicast address, and it cannot know which one the customer used (it is stateless).
    policy: createPolicyContext({
      role: "cpe",
      ownIpv4: [s.ownIpv4 >>> 0],
      relays: relays.includes(RELAY_ANYCAST_IPV4) ? relays : [...relays, RELAY_ANYCAST_IPV4],
      allowIpv4,
    }),
  });
}

/**
 * The snapshot the CPE's data plane starts with and gets whenever 6to4 may not run (no WAN
 * address, refused, disabled): every packet is dropped as `no_route`.
 */
export const CPE_FORWARDING_DISABLED: CpeForwardingState = createCpeForwardingState({
  enabled: false,
  ownIpv4: 0,
});

function routerAddress(v4: number): Uint8Array {
  const a = sixToFourBaseAddress(v4);
  a[15] = 1;
  return a;
}

/** A relay snapshot with the defaults filled in. */
export function createRelayForwardingState(
  s: Partial<Omit<RelayForwardingState, "policy" | "customers">>,
): RelayForwardingState {
  const relayIpv4s = Object.freeze([...(s.relayIpv4s ?? [RELAY_ANYCAST_IPV4])]);
  const customerIpv4 = Object.freeze([...(s.customerIpv4 ?? [])]);
  const pmtCustomerIpv4 = Object.freeze([...(s.pmtCustomerIpv4 ?? customerIpv4)]);
  const optOut = Object.freeze([...(s.optOut ?? [])]);
  const nonCustomer = s.nonCustomer ?? "relay";
  return Object.freeze({
    enabled: s.enabled ?? true,
    relayIpv4s,
    customerIpv4,
    pmtCustomerIpv4,
    optOut,
    nonCustomer,
    otherRelays: Object.freeze([...(s.otherRelays ?? [])]),
    mapping: s.mapping ?? null,
    providerPrefix: s.providerPrefix ?? null,
    tunnelMtu: s.tunnelMtu ?? 1480,
    ipv4Ttl: s.ipv4Ttl ?? IPV4_DEFAULT_TTL,
    hopLimitDecrement: s.hopLimitDecrement ?? 0,
    icmpRateLimit: s.icmpRateLimit ?? 1000,
    ownSixToFour: s.ownSixToFour ?? sixToFourBaseAddress(relayIpv4s[0] ?? 0),
    policy: createPolicyContext({ role: "relay", ownIpv4: relayIpv4s, allowIpv4: customerIpv4 }),
    customers: createPmtCustomerPolicy({ customers: pmtCustomerIpv4, optOut, nonCustomer }),
  });
}
