/**
 * What goes into our Router Advertisement, as ordered option builders (odhcpd
 * `send_router_advert` with its IOV_RA_* order): source link-layer address, MTU, prefix information,
 * route information, RDNSS, DNSSL. Each builder returns its options (or none) and says why a
 * prefix/option is left out; codec/nd.ts encodes the message. Also: Router Solicitation validity
 * (RFC 4861 §6.1.1).
 *
 * Header (RFC 4861 §6.2.3): Cur Hop Limit 64, M = O = 0 (SLAAC only; RFC 7084 L-9's O flag needs a
 * DHCPv6 server, which we do not run — DNS comes by RDNSS/DNSSL, RFC 8106), Router Lifetime from
 * calcRouterLifetime, default router preference (RFC 4191 §2.2; medium when the lifetime is 0),
 * Reachable Time and Retrans Timer 0 (unspecified).
 */
import { formatIpv6Prefix, type Ipv6Prefix } from "../addr/ipv6.js";
import {
  ICMPV6_HEADER_BYTES,
  ND_HOP_LIMIT,
  ND_OPT_SOURCE_LL_ADDR,
  ND_OPT_UNIT_BYTES,
  ND_ROUTER_SOLICIT,
  ND_RS_BYTES,
} from "../codec/constants.js";
import { routerAdvertisement, type RouterAdvertisement } from "../codec/nd.js";
import type { NdOption, RoutePreference } from "../codec/nd-options.js";
import type { AdvertisedPrefix } from "./prefix-state.js";
import { ADV_CUR_HOP_LIMIT, type RouterPreference } from "./ra-timing.js";

/** SLAAC forms addresses only from /64 prefixes on Ethernet-like links (RFC 4862 §5.5.3 d, RFC 4291 §2.5.1). */
const SLAAC_PREFIX_LEN = 64;

/** A more-specific route to put in a Route Information Option (RFC 4191 §2.3). */
interface AdvertisedRoute {
  readonly prefix: Ipv6Prefix;
  readonly lifetimeS: number;
  readonly preference: RouterPreference;
}

/** Everything the RA says, decided by the control plane. */
export interface RaContent {
  /** LAN interface MAC for the SLLA option (RFC 4861 §4.6.1); null = omit (allowed, §6.2.3). */
  readonly lanMac: Uint8Array | null;
  readonly routerLifetimeS: number;
  readonly preference: RouterPreference;
  /** AdvLinkMTU = tunnel MTU; null/0 = no MTU option (RFC 4861 §6.2.1). */
  readonly mtu: number | null;
  /** Current prefix first, then deprecated ones (preferred = valid = 0, RFC 9096 §3.5). */
  readonly prefixes: readonly AdvertisedPrefix[];
  readonly routes: readonly AdvertisedRoute[];
  readonly dns: readonly Uint8Array[];
  readonly domains: readonly string[];
  /** RDNSS/DNSSL lifetime (calcDnsLifetime); 0 in the final RA withdraws them (RFC 8106 §5.1). */
  readonly dnsLifetimeS: number;
}

/** An option builder: the options it contributes, and a reason for each thing it leaves out. */
type RaOptionBuilder = (c: RaContent, skipped: string[]) => NdOption[];

function buildSourceLinkLayer(c: RaContent): NdOption[] {
  return c.lanMac ? [{ kind: "source-link-layer-address", address: c.lanMac }] : [];
}

function buildMtu(c: RaContent): NdOption[] {
  return c.mtu ? [{ kind: "mtu", mtu: c.mtu }] : [];
}

function buildPrefixes(c: RaContent, skipped: string[]): NdOption[] {
  const out: NdOption[] = [];
  for (const p of c.prefixes) {
    if (p.autonomous && p.prefix.len !== SLAAC_PREFIX_LEN) {
      skipped.push(
        `prefix ${p.text} not advertised: SLAAC needs a /${SLAAC_PREFIX_LEN} (RFC 4862 §5.5.3)`,
      );
      continue;
    }
    out.push({
      kind: "prefix-information",
      prefixLength: p.prefix.len,
      onLink: p.onLink,
      autonomous: p.autonomous,
      validLifetime: p.validS,
      preferredLifetime: p.preferredS,
      prefix: p.prefix.addr,
    });
  }
  return out;
}

function buildRoutes(c: RaContent): NdOption[] {
  const seen = new Set<string>();
  const out: NdOption[] = [];
  for (const r of c.routes) {
    // RFC 4191 §2.3: never two RIOs with the same prefix in one RA.
    const key = formatIpv6Prefix(r.prefix);
    if (seen.has(key)) continue;
    seen.add(key);
    out.push({
      kind: "route-information",
      prefixLength: r.prefix.len,
      preference: r.preference as RoutePreference,
      routeLifetime: r.lifetimeS,
      prefix: r.prefix.addr,
    });
  }
  return out;
}

function buildRdnss(c: RaContent): NdOption[] {
  return c.dns.length > 0 ? [{ kind: "rdnss", lifetime: c.dnsLifetimeS, servers: [...c.dns] }] : [];
}

function buildDnssl(c: RaContent): NdOption[] {
  return c.domains.length > 0
    ? [{ kind: "dnssl", lifetime: c.dnsLifetimeS, domains: [...c.domains] }]
    : [];
}

/** The builders in the order their options appear (odhcpd IOV_RA_* order, codec RA_OPTION_ORDER). */
const RA_OPTION_BUILDERS: readonly (readonly [string, RaOptionBuilder])[] = [
  ["source-link-layer-address", buildSourceLinkLayer],
  ["mtu", buildMtu],
  ["prefix-information", buildPrefixes],
  ["route-information", buildRoutes],
  ["rdnss", buildRdnss],
  ["dnssl", buildDnssl],
];

/** The RA as a codec value, plus one line per prefix/option left out. */
export function buildRouterAdvertisement(c: RaContent): {
  ra: RouterAdvertisement;
  skipped: string[];
} {
  const skipped: string[] = [];
  const options: NdOption[] = [];
  for (const [, build] of RA_OPTION_BUILDERS) options.push(...build(c, skipped));
  return {
    ra: {
      kind: "router-advertisement",
      curHopLimit: ADV_CUR_HOP_LIMIT,
      managed: false,
      other: false,
      homeAgent: false,
      // RFC 4191 §2.2: medium (00) when the router lifetime is 0.
      preference: c.routerLifetimeS === 0 ? "medium" : c.preference,
      routerLifetime: c.routerLifetimeS,
      reachableTime: 0,
      retransTimer: 0,
      options,
    },
    skipped,
  };
}

/** Encodes for a raw ICMPv6 socket (checksum left 0: the kernel fills it in). */
export function encodeRouterAdvertisement(c: RaContent): { bytes: Buffer; skipped: string[] } {
  const { ra, skipped } = buildRouterAdvertisement(c);
  const bytes = Buffer.alloc(routerAdvertisement.encodingLength(ra));
  routerAdvertisement.encode(ra, bytes, 0);
  return { bytes, skipped };
}

/** Outcome of RS validation: "valid", or the counter name of the reason it is ignored. */
type RsVerdict =
  | "valid"
  | "nd_other_ignored"
  | "rs_invalid_hop_limit"
  | "rs_invalid_code"
  | "rs_too_short"
  | "rs_invalid_option_length"
  | "rs_unspecified_source_with_slla";

/**
 * RFC 4861 §6.1.1 validity checks on an ICMPv6 message (from its header on) received from
 * `src[srcOff..+16]` with `hopLimit` (-1 = the socket could not tell; accepted, as the socket is
 * bound to the LAN link). The checksum was verified by the kernel (raw ICMPv6 sockets drop bad
 * ones). Unknown options and the Reserved field are ignored, as §6.1.1 requires. Never throws.
 */
export function validateRouterSolicitation(
  buf: Uint8Array,
  off: number,
  len: number,
  src: Uint8Array,
  srcOff: number,
  hopLimit: number,
): RsVerdict {
  if (len < 1 || buf[off] !== ND_ROUTER_SOLICIT) return "nd_other_ignored";
  if (hopLimit !== -1 && hopLimit !== ND_HOP_LIMIT) return "rs_invalid_hop_limit";
  if (len < ICMPV6_HEADER_BYTES || len < ND_RS_BYTES) return "rs_too_short";
  if (buf[off + 1] !== 0) return "rs_invalid_code";
  let unspecified = true;
  for (let i = 0; i < 16; i++) {
    if (src[srcOff + i] !== 0) {
      unspecified = false;
      break;
    }
  }
  let p = off + ND_RS_BYTES;
  const end = off + len;
  while (p < end) {
    if (end - p < 2) return "rs_invalid_option_length";
    const units = buf[p + 1]!;
    if (units === 0) return "rs_invalid_option_length";
    if (p + units * ND_OPT_UNIT_BYTES > end) return "rs_invalid_option_length";
    if (unspecified && buf[p] === ND_OPT_SOURCE_LL_ADDR) return "rs_unspecified_source_with_slla";
    p += units * ND_OPT_UNIT_BYTES;
  }
  return "valid";
}
