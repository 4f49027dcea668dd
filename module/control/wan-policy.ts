/**
 * Whether 6to4 may run on a WAN IPv4 address (RFC 6343 §4.1 item 3: an implementation that
 * activates itself on an RFC 1918 address is faulty; RFC 3964 §5.3.1 lists what can never be a
 * V4ADDR). Shared address space (100.64.0.0/10, RFC 6598) is the PMT case (RFC 6732 §4.2): the
 * return path only works through the operator's PMT relay, so it is accepted only when the
 * operator told us about it — a provider prefix, or a relay from the config or DHCP option 212.
 */
import { formatIpv4, ipv4InPrefix, type Ipv4Prefix } from "../addr/ipv4.js";
import { classifyIpv4, ipv4Range, type Ipv4Class } from "../addr/classify.js";

interface WanPolicyContext {
  /** A provider prefix is configured or came by DHCP (PMT mode). */
  readonly hasProviderPrefix: boolean;
  /** The relay list was set explicitly (config or DHCP), not the RFC 3068 anycast default. */
  readonly relayExplicit: boolean;
  /** allow_ipv4: operator-declared ranges (e.g. unrouted space used with a PMT relay). */
  readonly allowIpv4: readonly Ipv4Prefix[];
}

type WanVerdict =
  | { readonly usable: true; readonly cls: Ipv4Class }
  | { readonly usable: false; readonly cls: Ipv4Class; readonly reason: string };

const NEVER: ReadonlySet<Ipv4Class> = new Set<Ipv4Class>([
  "unspecified",
  "loopback",
  "link-local",
  "multicast",
  "reserved",
  "broadcast",
]);

/** Decides; `reason` is one log line naming the address, its class and the RFC. */
export function checkWanIpv4(v4: number, ctx: WanPolicyContext): WanVerdict {
  const cls = classifyIpv4(v4);
  const text = formatIpv4(v4);
  if (NEVER.has(cls)) {
    return {
      usable: false,
      cls,
      reason: `WAN address ${text} is ${cls} (${ipv4Range(v4).rfc}): 6to4 cannot work, no RAs sent`,
    };
  }
  const allowed = ctx.allowIpv4.some((p) => ipv4InPrefix(v4, p));
  if (cls === "private" && !(allowed && ctx.hasProviderPrefix)) {
    return {
      usable: false,
      cls,
      reason:
        `WAN address ${text} is private (RFC 1918): 6to4 refused (RFC 6343 §4.1); ` +
        `allowed only with provider_prefix and a matching allow_ipv4`,
    };
  }
  if (cls === "shared" && !ctx.hasProviderPrefix && !ctx.relayExplicit) {
    return {
      usable: false,
      cls,
      reason:
        `WAN address ${text} is shared address space (RFC 6598): needs a provider_prefix or an ` +
        `explicitly configured PMT relay (RFC 6732 §4.2, RFC 6343 §4.1)`,
    };
  }
  return { usable: true, cls };
}
