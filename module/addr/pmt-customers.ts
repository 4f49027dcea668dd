/**
 * Whom a PMT relay translates: RFC 6732 §4.7 "Policy configuration on the local 6to4-PMT Relay can
 * also be used to disallow PMT operation", with the customer opt-out of §4.1.
 *
 * A relay reachable at a unicast address, or through an anycast route that leaked, receives
 * protocol 41 from 6to4 sites that are not the operator's customers. Translating them would give
 * strangers addresses out of the operator's provider prefix (and abuse traced to the operator), so
 * only sites whose IPv4 address lies in the operator's PMT customer ranges (`pmt_customer_ipv4`,
 * default `customer_ipv4`; empty = translate nobody) are translated. The site's IPv4 address is
 * the outer source of what it sends (the decapsulation checks made a 2002:V4ADDR source embed it)
 * and the V4ADDR a provider-prefix destination maps to on the way back.
 *
 * Verdict per site address (`pmtSiteVerdict`), first match wins:
 *  1. In `opt_out`: relayed as plain 6to4 (§4.1), whatever `non_customer` says: an opted-out
 *     customer is a customer.
 *  2. In the PMT customer ranges: translated (when the relay has a mapping and the SLA is mapped).
 *  3. Else a non-customer: relayed as plain 6to4 (`non_customer relay`, the default), or dropped
 *     (`non_customer drop`, counted as `non_customer`).
 * The return direction uses the same verdict: a provider-prefix destination is translated back
 * only for verdict 2 (opted out: `no_route`, anything else: `provider_dst_not_customer`), and with
 * `non_customer drop` a 2002::/16 destination of a non-customer is dropped as `non_customer`.
 *
 * Hot path: the ranges are precomputed into Int32Array tables (address already masked, mask), the
 * verdict is integer compares only; no allocation. IPv4 addresses unsigned or signed (`| 0`, see
 * addr/policy.ts).
 */
import { formatIpv4Prefix, ipv4MaskI32, type Ipv4Prefix } from "./ipv4.js";

/** Translate to the provider prefix (RFC 6732 §3.3). */
export const PMT_TRANSLATE = 0;
/** A customer who opted out: plain 6to4 (RFC 6732 §4.1). */
export const PMT_PLAIN_OPTED_OUT = 1;
/** Not a PMT customer, `non_customer relay`: plain 6to4. */
export const PMT_PLAIN_NOT_CUSTOMER = 2;
/** Not a PMT customer, `non_customer drop`: dropped (`non_customer`). */
export const PMT_DROP_NOT_CUSTOMER = 3;

export type PmtSiteVerdict =
  | typeof PMT_TRANSLATE
  | typeof PMT_PLAIN_OPTED_OUT
  | typeof PMT_PLAIN_NOT_CUSTOMER
  | typeof PMT_DROP_NOT_CUSTOMER;

/** What the relay does with protocol 41 of a site that is not a PMT customer. */
export type NonCustomerAction = "relay" | "drop";

export const NON_CUSTOMER_ACTIONS: readonly NonCustomerAction[] = Object.freeze(["relay", "drop"]);

export interface PmtCustomerOptions {
  /** The PMT customer ranges: only sites in them are translated. Empty = nobody. */
  readonly customers: readonly Ipv4Prefix[];
  /** Customers relayed untranslated (RFC 6732 §4.1). */
  readonly optOut?: readonly Ipv4Prefix[];
  /** Default "relay". */
  readonly nonCustomer?: NonCustomerAction;
}

/** Precomputed, immutable; build with `createPmtCustomerPolicy`. Addr[i] is masked with Mask[i]. */
export interface PmtCustomerPolicy {
  readonly customerAddr: Int32Array;
  readonly customerMask: Int32Array;
  readonly optOutAddr: Int32Array;
  readonly optOutMask: Int32Array;
  readonly dropNonCustomers: boolean;
}

export function createPmtCustomerPolicy(options: PmtCustomerOptions): PmtCustomerPolicy {
  const optOut = options.optOut ?? [];
  return Object.freeze({
    customerAddr: Int32Array.from(options.customers, (p) => p.addr & ipv4MaskI32(p.len)),
    customerMask: Int32Array.from(options.customers, (p) => ipv4MaskI32(p.len)),
    optOutAddr: Int32Array.from(optOut, (p) => p.addr & ipv4MaskI32(p.len)),
    optOutMask: Int32Array.from(optOut, (p) => ipv4MaskI32(p.len)),
    dropNonCustomers: options.nonCustomer === "drop",
  });
}

function inTable(addr: Int32Array, mask: Int32Array, v: number): boolean {
  for (let i = 0; i < addr.length; i++) if ((v & mask[i]!) === addr[i]) return true;
  return false;
}

/** `pmtSiteRange`: the site is in `opt_out`. */
export const PMT_RANGE_OPTED_OUT = -1;
/** `pmtSiteRange`: the site is in no PMT customer range. */
export const PMT_RANGE_NONE = -2;

/**
 * Index of the PMT customer range (as configured, first match) holding the site at `v4`, or
 * PMT_RANGE_OPTED_OUT / PMT_RANGE_NONE: the verdict and the per-range counter slot from one
 * lookup. Hot path.
 */
export function pmtSiteRange(p: PmtCustomerPolicy, v4: number): number {
  const v = v4 | 0;
  if (inTable(p.optOutAddr, p.optOutMask, v)) return PMT_RANGE_OPTED_OUT;
  const addr = p.customerAddr;
  const mask = p.customerMask;
  for (let i = 0; i < addr.length; i++) if ((v & mask[i]!) === addr[i]) return i;
  return PMT_RANGE_NONE;
}

/** The verdict for a `pmtSiteRange` result. */
export function pmtRangeVerdict(p: PmtCustomerPolicy, range: number): PmtSiteVerdict {
  if (range >= 0) return PMT_TRANSLATE;
  if (range === PMT_RANGE_OPTED_OUT) return PMT_PLAIN_OPTED_OUT;
  return p.dropNonCustomers ? PMT_DROP_NOT_CUSTOMER : PMT_PLAIN_NOT_CUSTOMER;
}

/** The verdict for the 6to4 site at IPv4 address `v4` (unsigned or signed). Hot path. */
export function pmtSiteVerdict(p: PmtCustomerPolicy, v4: number): PmtSiteVerdict {
  return pmtRangeVerdict(p, pmtSiteRange(p, v4));
}

/** The policy in one line, for the relay's start-up log and `derive`. */
export function describePmtCustomerPolicy(
  customers: readonly Ipv4Prefix[],
  optOut: readonly Ipv4Prefix[],
  nonCustomer: NonCustomerAction,
): string {
  const who =
    customers.length === 0
      ? "translates nobody"
      : `translates ${customers.map(formatIpv4Prefix).join(",")}`;
  const out =
    optOut.length === 0 ? "" : ` except opt-out ${optOut.map(formatIpv4Prefix).join(",")}`;
  const others =
    nonCustomer === "drop" ? "drops other sources" : "relays other sources as plain 6to4";
  return `PMT customers only (RFC 6732 §4.7): ${who}${out}; ${others}`;
}
