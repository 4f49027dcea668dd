/**
 * The 6to4 security checks of RFC 3964 §5 and the routing-loop check of RFC 6324 §3.3, as
 * functions over the packet in place that return DROP_NONE (accept) or a named DropReason.
 *
 * Encapsulation (RFC 3964 §5.1), IPv6 packet at buf[v6], about to go out as protocol 41
 * srcV4 -> dstV4:
 *  1. src_v6 and dst_v6 pass the IPv6 sanity checks (§5.3.2 + the 2002:V4ADDR::/48 equivalents).
 *  2. srcV4 and dstV4 pass the IPv4 sanity checks (§5.3.1; §5.1 "addresses derived from private
 *     addresses are not used"), and dstV4 is not one of our own addresses (§5.1 "dst_v4 SHOULD
 *     NOT be assigned to the router"; Note: applied to every branch, sending to ourselves is a loop).
 *  3. src_v6 in 2002::/16: its V4ADDR must be srcV4. Else dst_v6 must be in 2002::/16: a
 *     native -> native packet is dropped.
 *  4. RFC 6324 §3.3: src_v6 must not embed one of our IPv4 addresses under an off-link prefix.
 *
 * Decapsulation (RFC 3964 §5.2), IPv6 packet at buf[v6] that arrived as protocol 41 srcV4 -> dstV4:
 *  1. srcV4 passes the IPv4 sanity checks; dstV4 is one of our own addresses (§5.2 "dst_v4 SHOULD
 *     be assigned to the router", which also rules out broadcast, §5.3.4 and RFC 4213 §3.6).
 *  2. src_v6 and dst_v6 pass the IPv6 sanity checks.
 *  3. dst_v6 in 2002::/16: its V4ADDR must be dstV4; then a 6to4 src_v6 must embed srcV4 (spoof
 *     check), and on a CPE a native src_v6 is accepted only from a configured relay (RFC 3068,
 *     RFC 3964 §4.2). Else src_v6 in 2002::/16 must embed srcV4; on a CPE the native dst_v6 must be
 *     one of its on-link prefixes (a CPE is not an open relay, RFC 5969 §9.2). Else native -> native:
 *     dropped (on a relay as on a CPE).
 *  4. RFC 6324 §3.3: dst_v6 must not embed one of our IPv4 addresses under an off-link prefix.
 *
 * Checks apply to the on-the-wire (2002:V4ADDR) form: with PMT, translate to 6to4 before
 * `checkEncapsulate` and translate to the provider prefix after `checkDecapsulate`.
 *
 * Per-configuration data (own addresses, relays, operator overrides, on-link prefixes) is
 * precomputed once into a `PolicyContext`; the control plane builds a new one whenever the
 * forwarding state changes. Hot path: the check functions allocate nothing and never throw.
 *
 * IPv4 addresses: the functions take them unsigned (`>>> 0`, the project convention) or signed
 * (`| 0`) and work on signed 32-bit values inside (`| 0`, Int32Array lists, masks compared with
 * `(a & mask) === net`). Why: V8 keeps an int32 a small integer, but an unsigned value >= 128.0.0.0
 * becomes a heap number whenever it crosses a call that is not inlined: one allocation per packet
 * (bench:codec GC count). Hot-path callers pass `| 0` values for the same reason.
 */
import {
  DROP_6TO4_DST_MISMATCH,
  DROP_6TO4_SRC_SPOOFED,
  DROP_DST_NOT_OWN_PREFIX,
  DROP_ENCAP_DST_INVALID,
  DROP_ENCAP_SRC_INVALID,
  DROP_IPV4_DST_NOT_OWN,
  DROP_IPV4_SRC_INVALID,
  DROP_IPV6_DST_6TO4_INVALID_IPV4,
  DROP_IPV6_DST_INVALID,
  DROP_IPV6_SRC_6TO4_INVALID_IPV4,
  DROP_IPV6_SRC_INVALID,
  DROP_NATIVE_SRC_NOT_FROM_RELAY,
  DROP_NATIVE_TO_NATIVE,
  DROP_NONE,
  DROP_OWN_IPV4_EMBEDDED,
  type DropReason,
} from "./drop-reason.js";
import { isInvalidIpv6, rfc3964Ipv4Status } from "./classify.js";
import { ipv4MaskI32, type Ipv4Prefix } from "./ipv4.js";
import { ipv6InPrefix, type Ipv6Prefix } from "./ipv6.js";
import { embeddedIpv4I32, is6to4 } from "./sixto4.js";

/** Byte offsets of the addresses in the IPv6 header (RFC 8200 §3). */
const V6_SRC = 8;
const V6_DST = 24;

export type PolicyRole = "cpe" | "relay";

export interface PolicyOptions {
  /** A CPE (6to4 router) or a (PMT) relay: decides the CPE-only checks of step 3. */
  readonly role: PolicyRole;
  /** Our IPv4 addresses: a CPE's WAN V4ADDR; a relay's relay_ipv4 list (anycast + unicast). */
  readonly ownIpv4: readonly number[];
  /** CPE: the relays whose native-sourced packets are accepted (default none). */
  readonly relays?: readonly number[];
  /**
   * Operator-declared IPv4 prefixes that re-enable matching private/shared entries of the
   * RFC 3964 §5.3.1 list (CPE allow_ipv4, relay customer_ipv4; e.g. 100.64.0.0/10, RFC 6732 §4.2).
   */
  readonly allowIpv4?: readonly Ipv4Prefix[];
  /**
   * Native prefixes that are on-link here (RFC 6324 §3.3; on a CPE also the native destinations
   * it accepts from the tunnel). Our own 2002:V4ADDR::/48 is always on-link unless
   * `ownSixToFourOnLink` is false.
   */
  readonly onLinkPrefixes?: readonly Ipv6Prefix[];
  /** Whether 2002:OWN::/48 is on-link (default true: a CPE's site, a relay's 2002:c058:6301::1). */
  readonly ownSixToFourOnLink?: boolean;
}

/**
 * Precomputed, immutable policy data; build with `createPolicyContext`. The IPv4 lists hold signed
 * 32-bit values (`| 0`, see the file header); allowAddr[i] is already masked with allowMask[i].
 */
export interface PolicyContext {
  readonly role: PolicyRole;
  readonly isCpe: boolean;
  readonly ownIpv4: Int32Array;
  readonly relays: Int32Array;
  readonly allowAddr: Int32Array;
  readonly allowMask: Int32Array;
  readonly onLinkPrefixes: readonly Ipv6Prefix[];
  readonly ownSixToFourOnLink: boolean;
}

export function createPolicyContext(options: PolicyOptions): PolicyContext {
  const allow = options.allowIpv4 ?? [];
  return Object.freeze({
    role: options.role,
    isCpe: options.role === "cpe",
    ownIpv4: Int32Array.from(options.ownIpv4, (n) => n | 0),
    relays: Int32Array.from(options.relays ?? [], (n) => n | 0),
    allowAddr: Int32Array.from(allow, (p) => p.addr & ipv4MaskI32(p.len)),
    allowMask: Int32Array.from(allow, (p) => ipv4MaskI32(p.len)),
    onLinkPrefixes: Object.freeze(
      (options.onLinkPrefixes ?? []).map((p) =>
        Object.freeze({ addr: p.addr.slice(), len: p.len }),
      ),
    ),
    ownSixToFourOnLink: options.ownSixToFourOnLink ?? true,
  });
}

/** Whether the signed 32-bit `n` is in `list` (a context's Int32Array). */
function contains(list: Int32Array, n: number): boolean {
  for (let i = 0; i < list.length; i++) if (list[i] === n) return true;
  return false;
}

/** Whether `n` (unsigned or signed) is one of our own IPv4 addresses. */
export function isOwnIpv4(ctx: PolicyContext, n: number): boolean {
  return contains(ctx.ownIpv4, n | 0);
}

/** RFC 3964 §5.3.1 with the operator overrides of this context; `n` unsigned or signed. */
export function isInvalidIpv4(ctx: PolicyContext, n: number): boolean {
  const v = n | 0;
  const status = rfc3964Ipv4Status(v);
  if (status !== 1) return status === 2;
  const { allowAddr, allowMask } = ctx;
  for (let i = 0; i < allowAddr.length; i++) {
    if ((v & allowMask[i]!) === allowAddr[i]) return false;
  }
  return true;
}

/**
 * RFC 3964 §5.3.2 for the address at buf[off]: DROP_NONE, `invalid` (0::/16, fe80::/10,
 * fec0::/10, ff00::/8) or `invalidV4` (2002:V4ADDR:: with V4ADDR in the §5.3.1 list).
 */
function ipv6Sanity(
  ctx: PolicyContext,
  buf: Uint8Array,
  off: number,
  invalid: DropReason,
  invalidV4: DropReason,
): DropReason {
  if (isInvalidIpv6(buf, off)) return invalid;
  if (is6to4(buf, off) && isInvalidIpv4(ctx, embeddedIpv4I32(buf, off))) return invalidV4;
  return DROP_NONE;
}

function isOnLinkNative(ctx: PolicyContext, buf: Uint8Array, off: number): boolean {
  const list = ctx.onLinkPrefixes;
  for (let i = 0; i < list.length; i++) if (ipv6InPrefix(buf, off, list[i]!)) return true;
  return false;
}

/**
 * RFC 6324 §3.3: DROP_OWN_IPV4_EMBEDDED when the address at buf[addrOff] has an off-link prefix
 * but embeds one of our IPv4 addresses, as a 6to4 V4ADDR (2002:OWN::/48 when it is not on-link
 * here) or as an ISATAP interface identifier (::0200:5efe:OWN / ::0:5efe:OWN, RFC 5214 §6.1, the
 * RFC 6324 §2 example). Call it on the source when encapsulating and on the destination when
 * decapsulating (checkEncapsulate/checkDecapsulate already do). Other formats (6rd of other
 * domains) cannot be recognised without their prefixes (RFC 6324 §3.3 limitations).
 */
export function checkOwnIpv4Embedded(
  ctx: PolicyContext,
  buf: Uint8Array,
  addrOff: number,
): DropReason {
  if (is6to4(buf, addrOff)) {
    if (contains(ctx.ownIpv4, embeddedIpv4I32(buf, addrOff))) {
      return ctx.ownSixToFourOnLink ? DROP_NONE : DROP_OWN_IPV4_EMBEDDED;
    }
  } else if (isOnLinkNative(ctx, buf, addrOff)) {
    return DROP_NONE;
  }
  if (
    (buf[addrOff + 8]! & 0xfc) === 0 &&
    buf[addrOff + 9] === 0 &&
    buf[addrOff + 10] === 0x5e &&
    buf[addrOff + 11] === 0xfe &&
    contains(ctx.ownIpv4, embeddedIpv4I32(buf, addrOff + 10))
  ) {
    return DROP_OWN_IPV4_EMBEDDED;
  }
  return DROP_NONE;
}

/** RFC 3964 §5.3.2 on both addresses, source first (the order the drop reasons are counted in). */
function ipv6PairSanity(ctx: PolicyContext, buf: Uint8Array, src: number, dst: number): DropReason {
  const r = ipv6Sanity(ctx, buf, src, DROP_IPV6_SRC_INVALID, DROP_IPV6_SRC_6TO4_INVALID_IPV4);
  if (r !== DROP_NONE) return r;
  return ipv6Sanity(ctx, buf, dst, DROP_IPV6_DST_INVALID, DROP_IPV6_DST_6TO4_INVALID_IPV4);
}

/**
 * RFC 3964 §5.1 + RFC 6324 §3.3 (source) for the IPv6 packet at buf[v6] about to be
 * encapsulated srcV4 -> dstV4 (unsigned or signed; hot-path callers pass `| 0`). See the file
 * header for the flow.
 */
export function checkEncapsulate(
  ctx: PolicyContext,
  buf: Uint8Array,
  v6: number,
  srcV4: number,
  dstV4: number,
): DropReason {
  const src = v6 + V6_SRC;
  const dst = v6 + V6_DST;
  const s4 = srcV4 | 0;
  const d4 = dstV4 | 0;
  const r = ipv6PairSanity(ctx, buf, src, dst);
  if (r !== DROP_NONE) return r;
  if (isInvalidIpv4(ctx, s4)) return DROP_ENCAP_SRC_INVALID;
  if (isInvalidIpv4(ctx, d4) || contains(ctx.ownIpv4, d4)) {
    return DROP_ENCAP_DST_INVALID;
  }
  if (is6to4(buf, src)) {
    if (embeddedIpv4I32(buf, src) !== s4) return DROP_ENCAP_SRC_INVALID;
  } else if (!is6to4(buf, dst)) {
    return DROP_NATIVE_TO_NATIVE;
  }
  return checkOwnIpv4Embedded(ctx, buf, src);
}

/**
 * RFC 3964 §5.2 + RFC 6324 §3.3 (destination) for the IPv6 packet at buf[v6] that arrived as
 * protocol 41 srcV4 -> dstV4 (unsigned or signed; hot-path callers pass `| 0`). See the file
 * header for the flow.
 */
export function checkDecapsulate(
  ctx: PolicyContext,
  buf: Uint8Array,
  v6: number,
  srcV4: number,
  dstV4: number,
): DropReason {
  const src = v6 + V6_SRC;
  const dst = v6 + V6_DST;
  const s4 = srcV4 | 0;
  const d4 = dstV4 | 0;
  if (isInvalidIpv4(ctx, s4)) return DROP_IPV4_SRC_INVALID;
  if (!contains(ctx.ownIpv4, d4)) return DROP_IPV4_DST_NOT_OWN;
  const r = ipv6PairSanity(ctx, buf, src, dst);
  if (r !== DROP_NONE) return r;
  if (is6to4(buf, dst)) {
    if (embeddedIpv4I32(buf, dst) !== d4) return DROP_6TO4_DST_MISMATCH;
    if (is6to4(buf, src)) {
      if (embeddedIpv4I32(buf, src) !== s4) return DROP_6TO4_SRC_SPOOFED;
    } else if (ctx.isCpe && !contains(ctx.relays, s4)) {
      return DROP_NATIVE_SRC_NOT_FROM_RELAY;
    }
  } else if (is6to4(buf, src)) {
    if (embeddedIpv4I32(buf, src) !== s4) return DROP_6TO4_SRC_SPOOFED;
    if (ctx.isCpe && !isOnLinkNative(ctx, buf, dst)) return DROP_DST_NOT_OWN_PREFIX;
  } else {
    return DROP_NATIVE_TO_NATIVE;
  }
  return checkOwnIpv4Embedded(ctx, buf, dst);
}
