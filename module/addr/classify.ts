/**
 * Special-purpose address ranges and the sanity checks of RFC 3964 §5.3 (IPv4 §5.3.1, IPv6
 * §5.3.2 including the 2002:V4ADDR::/48 equivalents) and RFC 4213 §3.6.
 *
 * Two uses: `classifyIpv4`/`IPV4_SPECIAL_RANGES` name a range and its RFC (CLI `derive`, status,
 * logs); `isInvalid6to4Ipv4`/`isInvalidIpv6` are the per-packet checks (allocation-free, no throw).
 *
 * What counts as invalid for 6to4 (RFC 3964 §5.3.1: "MUST be a global unicast address"):
 *   0.0.0.0/8, 10.0.0.0/8, 127.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16,
 *   224.0.0.0/4, 240.0.0.0/4 (which holds 255.255.255.255) — the RFC 3964 list — plus
 *   100.64.0.0/10: RFC 6598 §5 asks CPE vendors to treat Shared Address Space like RFC 1918 space
 *   for 6to4, and RFC 6732 §4.2 is exactly this case.
 * An operator may declare extra acceptable prefixes (e.g. 100.64.0.0/10 behind a CGN, RFC 6732
 * §4.2). They override ONLY the matching entries, and only the overridable ones (private and
 * shared space, which an operator can really route inside its network); unspecified, loopback,
 * link-local, multicast, reserved and broadcast stay rejected whatever is declared.
 *
 * Note: documentation (RFC 5737), benchmarking (RFC 2544), IETF protocol (RFC 6890) and the 6to4
 * relay anycast (RFC 3068) ranges are named by `classifyIpv4` but are NOT in the invalid list:
 * RFC 3964 does not list them, the relay's own 192.88.99.1 is a legitimate outer source, and the
 * documentation ranges are what tests and `6to4-pmt lab` use. "The system's broadcast addresses"
 * (RFC 3964 §5.3.1) other than 255.255.255.255 depend on the interface; the data plane rejects
 * every outer destination that is not its own address (DROP_IPV4_DST_NOT_OWN), which covers them.
 */
import { formatIpv4Prefix, ipv4MaskI32, parseIpv4Prefix, type Ipv4Prefix } from "./ipv4.js";

/** The class of an IPv4 address; "global" = none of the special ranges. */
export type Ipv4Class =
  | "unspecified"
  | "private"
  | "shared"
  | "loopback"
  | "link-local"
  | "ietf-protocol"
  | "documentation"
  | "6to4-relay-anycast"
  | "benchmarking"
  | "multicast"
  | "reserved"
  | "broadcast"
  | "global";

export interface Ipv4SpecialRange {
  readonly prefix: Ipv4Prefix;
  readonly cls: Ipv4Class;
  /** The RFC (and section) that defines the range or rules it out for 6to4. */
  readonly rfc: string;
  /** In the RFC 3964 §5.3.1 list (or RFC 6598 §5): not usable as a 6to4 V4ADDR by default. */
  readonly invalidFor6to4: boolean;
  /** Whether an operator-declared extra prefix may re-enable it. */
  readonly overridable: boolean;
}

function range(
  p: string,
  cls: Ipv4Class,
  rfc: string,
  invalidFor6to4: boolean,
  overridable = false,
): Ipv4SpecialRange {
  return Object.freeze({ prefix: parseIpv4Prefix(p)!, cls, rfc, invalidFor6to4, overridable });
}

/** Most specific first (255.255.255.255/32 before 240.0.0.0/4). */
export const IPV4_SPECIAL_RANGES: readonly Ipv4SpecialRange[] = Object.freeze([
  range("255.255.255.255/32", "broadcast", "RFC 919 §7 (limited broadcast), RFC 3964 §5.3.1", true),
  range("0.0.0.0/8", "unspecified", "RFC 1122 §3.2.1.3, RFC 3964 §5.3.1", true),
  range("10.0.0.0/8", "private", "RFC 1918 §3, RFC 3964 §5.3.1", true, true),
  range("172.16.0.0/12", "private", "RFC 1918 §3, RFC 3964 §5.3.1", true, true),
  range("192.168.0.0/16", "private", "RFC 1918 §3, RFC 3964 §5.3.1", true, true),
  range(
    "100.64.0.0/10",
    "shared",
    "RFC 6598 §5 (Shared Address Space, CGN), RFC 6732 §4.2",
    true,
    true,
  ),
  range("127.0.0.0/8", "loopback", "RFC 1122 §3.2.1.3, RFC 3964 §5.3.1", true),
  range("169.254.0.0/16", "link-local", "RFC 3927, RFC 3964 §5.3.1", true),
  range("192.0.0.0/24", "ietf-protocol", "RFC 6890 §2.2.2", false),
  range("192.0.2.0/24", "documentation", "RFC 5737 §3 (TEST-NET-1)", false),
  range("198.51.100.0/24", "documentation", "RFC 5737 §3 (TEST-NET-2)", false),
  range("203.0.113.0/24", "documentation", "RFC 5737 §3 (TEST-NET-3)", false),
  range("192.88.99.0/24", "6to4-relay-anycast", "RFC 3068 §2.3, deprecated by RFC 7526", false),
  range("198.18.0.0/15", "benchmarking", "RFC 2544 §C.2.2", false),
  range("224.0.0.0/4", "multicast", "RFC 5771, RFC 3964 §5.3.1", true),
  range("240.0.0.0/4", "reserved", "RFC 1112 §4, RFC 3964 §5.3.1", true),
]);

const GLOBAL_RANGE: Ipv4SpecialRange = Object.freeze({
  prefix: Object.freeze({ addr: 0, len: 0 }),
  cls: "global",
  rfc: "RFC 3056 §2 (globally unique V4ADDR)",
  invalidFor6to4: false,
  overridable: false,
});

/** The special range `n` falls in (most specific), or the "global" pseudo-range. */
export function ipv4Range(n: number): Ipv4SpecialRange {
  for (const r of IPV4_SPECIAL_RANGES) {
    if (((n ^ r.prefix.addr) & ipv4MaskI32(r.prefix.len)) === 0) return r;
  }
  return GLOBAL_RANGE;
}

/** The class of `n` (control plane; see `ipv4Range` for its RFC). */
export function classifyIpv4(n: number): Ipv4Class {
  return ipv4Range(n >>> 0).cls;
}

/**
 * Whether `n` is in the default invalid list (RFC 3964 §5.3.1 + RFC 6598 §5), ignoring any
 * operator overrides. Returns 0 = valid, 1 = invalid and overridable (private, shared),
 * 2 = invalid and never overridable. `n` unsigned or signed. Hot path: a few integer compares
 * by first octet, on shifted values below 2^31 (no heap number, see addr/policy.ts).
 */
export function rfc3964Ipv4Status(n: number): 0 | 1 | 2 {
  const a = n >>> 24;
  if (a === 0 || a === 127 || a >= 224) return 2;
  if (a === 10) return 1;
  if (a === 172) return n >>> 20 === 0xac1 ? 1 : 0; // 172.16.0.0/12
  if (a === 192) return n >>> 16 === 0xc0a8 ? 1 : 0; // 192.168.0.0/16
  if (a === 169) return n >>> 16 === 0xa9fe ? 2 : 0; // 169.254.0.0/16
  if (a === 100) return n >>> 22 === 0x191 ? 1 : 0; // 100.64.0.0/10
  return 0;
}

/**
 * RFC 3964 §5.3.1: whether `n` must not be used as a 6to4 IPv4 address (outer source or
 * destination, or V4ADDR inside 2002:V4ADDR::/48). `extraAllowed` are operator-declared prefixes
 * that re-enable matching private/shared entries. Hot path: no allocation, never throws.
 */
export function isInvalid6to4Ipv4(n: number, extraAllowed: readonly Ipv4Prefix[]): boolean {
  const status = rfc3964Ipv4Status(n);
  if (status !== 1) return status === 2;
  for (let i = 0; i < extraAllowed.length; i++) {
    const p = extraAllowed[i]!;
    if (((n ^ p.addr) & ipv4MaskI32(p.len)) === 0) return false;
  }
  return true;
}

/**
 * Operator-declared prefixes that could never take effect (they lie inside a non-overridable
 * range, e.g. 127.0.0.0/8), formatted for a warning/ConfigError by the config layer.
 */
export function ineffectiveAllowedPrefixes(extraAllowed: readonly Ipv4Prefix[]): string[] {
  return extraAllowed
    .filter((p) => {
      const r = ipv4Range(p.addr);
      return r.invalidFor6to4 && !r.overridable && p.len >= r.prefix.len;
    })
    .map(formatIpv4Prefix);
}

/** The class of an IPv6 address, for the RFC 3964 §5.3.2 / RFC 4213 §3.6 checks and `derive`. */
export type Ipv6Class =
  | "unspecified"
  | "loopback"
  | "ipv4-mapped"
  | "ipv4-compatible"
  | "reserved"
  | "link-local"
  | "site-local"
  | "multicast"
  | "6to4"
  | "global";

/** The RFC behind each IPv6 class that RFC 3964 §5.3.2 rejects. */
export const IPV6_CLASS_RFC: Readonly<Record<Ipv6Class, string>> = Object.freeze({
  unspecified: "RFC 4291 §2.5.2, RFC 3964 §5.3.2",
  loopback: "RFC 4291 §2.5.3, RFC 4213 §3.6, RFC 3964 §5.3.2",
  "ipv4-mapped": "RFC 4291 §2.5.5.2, RFC 4213 §3.6, RFC 3964 §5.3.2",
  "ipv4-compatible": "RFC 4291 §2.5.5.1, RFC 4213 §3.6, RFC 3964 §5.3.2",
  reserved: "RFC 3964 §5.3.2 (0::/16)",
  "link-local": "RFC 4291 §2.5.6, RFC 3964 §5.3.2",
  "site-local": "RFC 3879, RFC 3964 §5.3.2",
  multicast: "RFC 4291 §2.7, RFC 4213 §3.6, RFC 3964 §5.3.2",
  "6to4": "RFC 3056 §2",
  global: "RFC 4291 §2.5.4",
});

/** Classifies the 16 bytes at buf[off]. Allocation-free (returns a constant string). */
export function classifyIpv6(buf: Uint8Array, off: number): Ipv6Class {
  const b0 = buf[off]!;
  const b1 = buf[off + 1]!;
  if (b0 === 0 && b1 === 0) {
    let zeroTo = 2; // first non-zero byte index
    while (zeroTo < 16 && buf[off + zeroTo] === 0) zeroTo++;
    if (zeroTo === 16) return "unspecified";
    if (zeroTo === 15 && buf[off + 15] === 1) return "loopback";
    if (zeroTo >= 10 && buf[off + 10] === 0xff && buf[off + 11] === 0xff) return "ipv4-mapped";
    if (zeroTo >= 12) return "ipv4-compatible";
    return "reserved";
  }
  if (b0 === 0xff) return "multicast";
  if (b0 === 0xfe && (b1 & 0xc0) === 0x80) return "link-local";
  if (b0 === 0xfe && (b1 & 0xc0) === 0xc0) return "site-local";
  if (b0 === 0x20 && b1 === 0x02) return "6to4";
  return "global";
}

/**
 * RFC 3964 §5.3.2 (and the RFC 4213 §3.6 source list it contains): 0::/16 (unspecified,
 * loopback, IPv4-compatible, IPv4-mapped, ...), fe80::/10, fec0::/10, ff00::/8. The 2002:V4ADDR
 * equivalents need the operator overrides and are checked in policy.ts. Note: RFC 4213 §3.6
 * exempts :: as a DAD source, but 6to4 runs no Neighbor Discovery, so RFC 3964's stricter
 * 0::/16 applies. Hot path: no allocation, never throws.
 */
export function isInvalidIpv6(buf: Uint8Array, off: number): boolean {
  const b0 = buf[off]!;
  if (b0 === 0) return buf[off + 1] === 0;
  if (b0 === 0xff) return true;
  return b0 === 0xfe && (buf[off + 1]! & 0x80) === 0x80;
}
