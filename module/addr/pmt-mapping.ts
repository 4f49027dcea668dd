/**
 * The RFC 6732 stateless prefix mapping between a customer's 6to4 /64 and the provider prefix
 * (RFC 6732 §3.3 "simple direct bitmapping", §3.4 deterministic, so any number of relays agree).
 *
 * Generalised as 6rd generalises 6to4 (RFC 5969 §4, IPv4MaskLen): with the provider prefix P/L,
 * the IPv4 common-prefix length m and s carried SLA bits, where L + (32 - m) + s = 64:
 *
 *   6to4 side      | 2002 (16) | V4ADDR (32)                 | SLA (16)               | IID (64) |
 *                               [ m common bits | 32 - m bits ] [ 16 - s fixed | s bits ]
 *   provider side  | P (L)     | V4ADDR low 32 - m bits      | SLA low s bits         | IID (64) |
 *
 * Figure 3 is L = 32, m = 0, s = 0 with SLA 0000:
 *   2002:0C98:2C01:0000::/64 <-> 2001:0db8:0c98:2c01::/64.
 * The mapped SLAs are `sla` .. `sla + 2^s - 1` (`sla` a multiple of 2^s; one SLA when s = 0);
 * every other SLA, and every V4ADDR outside the m-bit common prefix, is "not mapped" and stays plain
 * 6to4 (RFC 6732 §3.3: "all but the one Subnet-ID used for 6to4-PMT would still operate under
 * normal 6to4 operation"). The mapping is a bijection between the mapped 6to4 /64s and all /64s
 * of P/L, so every address inside P maps back.
 *
 * Checksums (RFC 6732 §4.5 -> RFC 3022 §4.2, RFC 1624): only the first 64 bits change. The
 * one's-complement sum of 16-bit words does not change when a field moves by a whole number of
 * words, so when L - m is a multiple of 16 the V4ADDR bits contribute the same to both sides and
 * the delta depends on the configuration only (Figure 3: delta = P0 + P1 - 0x2002 - SLA). That
 * constant is precomputed (`checksumDeltaConstant` true). Otherwise (e.g. m = 10 for 100.64.0.0/10,
 * where V4ADDR moves by 6 bits) the delta depends on V4ADDR; each successful rewrite leaves the
 * delta of that rewrite in `lastChecksumDelta`, which is correct in both cases.
 *
 * Note: addr/ sits below codec/ in the import order (STYLE.md), so the 8-byte fold below is local
 * instead of importing codec/checksum.ts.
 */
import { ipv4Mask } from "./ipv4.js";
import { formatIpv6Prefix, type Ipv6Prefix } from "./ipv6.js";

/** Bounds on the provider prefix length L (L = 32 is RFC 6732 §3.3's "::/32"). */
const PMT_PROVIDER_PREFIX_MIN_LEN = 16;
const PMT_PROVIDER_PREFIX_MAX_LEN = 32;
/** Width of the 6to4 SLA ID (RFC 3056 §2). */
const SLA_BITS = 16;

export interface PmtMappingOptions {
  /** P/L, 16 <= L <= 32 (host bits are ignored). */
  readonly providerPrefix: Ipv6Prefix;
  /** m, 0..32: high V4ADDR bits common to all customers, not carried (RFC 5969 IPv4MaskLen). */
  readonly ipv4PrefixLen?: number;
  /** The common IPv4 prefix (its first m bits are used); required when m > 0. */
  readonly ipv4CommonPrefix?: number;
  /** First mapped SLA ID (default 0, RFC 6732 §3.3's most common default). */
  readonly sla?: number;
}

export interface PmtMapping {
  readonly providerPrefix: Ipv6Prefix;
  /** m. */
  readonly ipv4PrefixLen: number;
  /** The common IPv4 prefix, masked to m bits (0 when m = 0). */
  readonly ipv4CommonPrefix: number;
  /** s = 64 - L - (32 - m): the low SLA bits carried into the provider /64 (0..16). */
  readonly slaBits: number;
  /** First mapped SLA; the mapped SLAs are sla .. sla + 2^slaBits - 1. */
  readonly sla: number;
  /** True when the checksum delta depends on the configuration only ((L - m) % 16 === 0). */
  readonly checksumDeltaConstant: boolean;
  /**
   * One's-complement delta (~m + m', folded to 16 bits) of a 6to4 -> provider rewrite, for
   * RFC 1624 eqn 3 `HC' = ~(~HC + delta)`. Valid for every address only when
   * `checksumDeltaConstant`; otherwise use `lastChecksumDelta`.
   */
  readonly checksumDeltaToProvider: number;
  /** The same for provider -> 6to4 (the one's-complement negation of the above). */
  readonly checksumDeltaTo6to4: number;
  /** The delta of the most recent successful rewrite (either direction). Scratch, per call. */
  readonly lastChecksumDelta: number;
  /**
   * If the 16 bytes at buf[off] are a mapped 2002:V4ADDR:SLA::/64 address, rewrites them in place
   * to the provider address and returns true; otherwise leaves them alone and returns false.
   * Hot path: no allocation, never throws.
   */
  sixToFourToProvider(buf: Uint8Array, off: number): boolean;
  /** The reverse: an address inside P/L -> 2002:V4ADDR:SLA::, in place; false = outside P/L. */
  providerToSixToFour(buf: Uint8Array, off: number): boolean;
  /** Whether the address at buf[off] is a mapped 6to4 address (no rewrite). */
  isMappedSixToFour(buf: Uint8Array, off: number): boolean;
  /** The V4ADDR a provider address maps to, or -1 when it is outside P/L. No rewrite. */
  providerEmbeddedIpv4(buf: Uint8Array, off: number): number;
  /** Whether the address at buf[off] is inside P/L (no rewrite). Hot path. */
  isProviderAddress(buf: Uint8Array, off: number): boolean;
  /**
   * providerEmbeddedIpv4 for an address the caller checked with `isProviderAddress`, as a signed
   * 32-bit value (`| 0`): no heap number per packet for V4ADDR >= 128.0.0.0 (see addr/policy.ts).
   */
  providerEmbeddedIpv4I32(buf: Uint8Array, off: number): number;
  /** The provider /64 (16 bytes, IID zero) for `v4` and the first mapped SLA; null when v4 is outside the common prefix. */
  translatedLan64(v4: number): Uint8Array | null;
}

function read32(buf: Uint8Array, off: number): number {
  return ((buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!) >>> 0;
}

/**
 * read32 as a signed 32-bit value, for the per-packet rewrites: V4ADDRs >= 128.0.0.0 stay small
 * integers in V8 instead of being boxed as heap numbers when a call is not inlined (no allocation
 * per packet, bench:codec GC count). write32 takes either form.
 */
function read32s(buf: Uint8Array, off: number): number {
  return (buf[off]! << 24) | (buf[off + 1]! << 16) | (buf[off + 2]! << 8) | buf[off + 3]!;
}

function write32(buf: Uint8Array, off: number, v: number): void {
  buf[off] = v >>> 24;
  buf[off + 1] = (v >>> 16) & 0xff;
  buf[off + 2] = (v >>> 8) & 0xff;
  buf[off + 3] = v & 0xff;
}

/** One's-complement sum of the four 16-bit words of the 64-bit prefix at buf[off], folded. */
function prefixSum(buf: Uint8Array, off: number): number {
  let sum =
    ((buf[off]! << 8) | buf[off + 1]!) +
    ((buf[off + 2]! << 8) | buf[off + 3]!) +
    ((buf[off + 4]! << 8) | buf[off + 5]!) +
    ((buf[off + 6]! << 8) | buf[off + 7]!);
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

/** fold(~old + new): the RFC 1624 delta for a change of summed words old -> new. */
function deltaOf(oldSum: number, newSum: number): number {
  let sum = (~oldSum & 0xffff) + newSum;
  sum = (sum & 0xffff) + (sum >>> 16);
  return (sum & 0xffff) + (sum >>> 16);
}

function isUint(n: unknown, max: number): n is number {
  return typeof n === "number" && Number.isInteger(n) && n >= 0 && n <= max;
}

class StatelessPmtMapping implements PmtMapping {
  readonly providerPrefix: Ipv6Prefix;
  readonly ipv4PrefixLen: number;
  readonly ipv4CommonPrefix: number;
  readonly slaBits: number;
  readonly sla: number;
  readonly checksumDeltaConstant: boolean;
  readonly checksumDeltaToProvider: number;
  readonly checksumDeltaTo6to4: number;
  lastChecksumDelta = 0;

  /** First 32 bits of P, masked to L. */
  private readonly pHi: number;
  /** 32-bit mask of the L prefix bits in the first word. */
  private readonly pMask: number;
  /** Mask of the m common bits of V4ADDR. */
  private readonly commonMask: number;
  /** Mask of the fixed (not carried) high 16 - s bits of the SLA. */
  private readonly slaFixedMask: number;
  /** 2^s. */
  private readonly slaScale: number;

  constructor(providerPrefix: Ipv6Prefix, m: number, common: number, s: number, sla: number) {
    const len = providerPrefix.len;
    this.pHi = read32(providerPrefix.addr, 0) & ipv4Mask(len);
    this.pHi >>>= 0;
    const addr = new Uint8Array(16);
    write32(addr, 0, this.pHi);
    this.providerPrefix = Object.freeze({ addr, len });
    this.pMask = ipv4Mask(len);
    this.ipv4PrefixLen = m;
    this.commonMask = ipv4Mask(m);
    this.ipv4CommonPrefix = (common & this.commonMask) >>> 0;
    this.slaBits = s;
    this.slaScale = 2 ** s;
    this.slaFixedMask = 0xffff & ~(this.slaScale - 1);
    this.sla = sla;
    this.checksumDeltaConstant = (len - m) % 16 === 0;
    // The delta of a sample rewrite; for a constant-delta configuration it holds for every address.
    const sample = new Uint8Array(16);
    sample[0] = 0x20;
    sample[1] = 0x02;
    write32(sample, 2, this.ipv4CommonPrefix);
    sample[6] = sla >>> 8;
    sample[7] = sla & 0xff;
    const before = prefixSum(sample, 0);
    this.sixToFourToProvider(sample, 0);
    const after = prefixSum(sample, 0);
    this.checksumDeltaToProvider = deltaOf(before, after);
    this.checksumDeltaTo6to4 = deltaOf(after, before);
    this.lastChecksumDelta = 0;
  }

  isMappedSixToFour(buf: Uint8Array, off: number): boolean {
    if (buf[off] !== 0x20 || buf[off + 1] !== 0x02) return false;
    if ((read32s(buf, off + 2) & this.commonMask) >>> 0 !== this.ipv4CommonPrefix) return false;
    return (((buf[off + 6]! << 8) | buf[off + 7]!) & this.slaFixedMask) === this.sla;
  }

  sixToFourToProvider(buf: Uint8Array, off: number): boolean {
    if (!this.isMappedSixToFour(buf, off)) return false;
    const before = this.checksumDeltaConstant ? 0 : prefixSum(buf, off);
    const v4Low = read32s(buf, off + 2) & ~this.commonMask;
    const slaLow = ((buf[off + 6]! << 8) | buf[off + 7]!) & (this.slaScale - 1);
    // The carried bits v4Low . slaLow (64 - L of them) split into two 32-bit words with integer
    // shifts (hot path: no double division or modulo). The high word gets v4Low's top s bits.
    const s = this.slaBits;
    write32(buf, off, this.pHi | (s === 0 ? 0 : v4Low >>> (32 - s)));
    write32(buf, off + 4, (v4Low << s) | slaLow);
    this.lastChecksumDelta = this.checksumDeltaConstant
      ? this.checksumDeltaToProvider
      : deltaOf(before, prefixSum(buf, off));
    return true;
  }

  providerEmbeddedIpv4(buf: Uint8Array, off: number): number {
    if (!this.isProviderAddress(buf, off)) return -1;
    return this.providerEmbeddedIpv4I32(buf, off) >>> 0;
  }

  isProviderAddress(buf: Uint8Array, off: number): boolean {
    return (read32s(buf, off) & this.pMask) >>> 0 === this.pHi;
  }

  providerEmbeddedIpv4I32(buf: Uint8Array, off: number): number {
    // Integer shifts as in providerToSixToFour (s = 0: L = 32, the high word carries nothing).
    const s = this.slaBits;
    const lo = read32s(buf, off + 4);
    if (s === 0) return this.ipv4CommonPrefix | lo;
    return this.ipv4CommonPrefix | (lo >>> s) | ((read32s(buf, off) & ~this.pMask) << (32 - s));
  }

  providerToSixToFour(buf: Uint8Array, off: number): boolean {
    const hi = read32s(buf, off);
    if ((hi & this.pMask) >>> 0 !== this.pHi) return false;
    const before = this.checksumDeltaConstant ? 0 : prefixSum(buf, off);
    // Integer shifts as in sixToFourToProvider; when s = 0, L = 32 and the high word carries nothing.
    const s = this.slaBits;
    const lo = read32s(buf, off + 4);
    const slaLow = lo & (this.slaScale - 1);
    const v4Low = s === 0 ? lo : (lo >>> s) | ((hi & ~this.pMask) << (32 - s));
    const v4 = this.ipv4CommonPrefix | v4Low;
    const sla = this.sla | slaLow;
    buf[off] = 0x20;
    buf[off + 1] = 0x02;
    write32(buf, off + 2, v4);
    buf[off + 6] = sla >>> 8;
    buf[off + 7] = sla & 0xff;
    this.lastChecksumDelta = this.checksumDeltaConstant
      ? this.checksumDeltaTo6to4
      : deltaOf(before, prefixSum(buf, off));
    return true;
  }

  translatedLan64(v4: number): Uint8Array | null {
    const out = new Uint8Array(16);
    out[0] = 0x20;
    out[1] = 0x02;
    write32(out, 2, v4 >>> 0);
    out[6] = this.sla >>> 8;
    out[7] = this.sla & 0xff;
    const saved = this.lastChecksumDelta;
    const ok = this.sixToFourToProvider(out, 0);
    this.lastChecksumDelta = saved;
    return ok ? out : null;
  }
}

/**
 * A mapping that cannot exist (RFC 6732 §3.3 shape, RFC 3964 §5.3.2 prefixes): one line naming
 * the option (`--sla`, ...) and what is expected. config/config-error.ts turns it into the CLI's
 * ConfigError.
 */
export class PmtMappingError extends Error {
  /** The option the message is about. */
  readonly option: string;

  constructor(message: string, option: string) {
    super(message);
    this.name = "PmtMappingError";
    this.option = option;
  }
}

/**
 * Validates the configuration and precomputes everything the per-packet rewrites need.
 * @throws PmtMappingError naming --provider-prefix, --ipv4-prefix-len or --sla.
 */
export function createPmtMapping(options: PmtMappingOptions): PmtMapping {
  const { providerPrefix } = options;
  const m = options.ipv4PrefixLen ?? 0;
  const sla = options.sla ?? 0;
  const len = providerPrefix.len;
  const shown = formatIpv6Prefix(providerPrefix);
  if (
    !Number.isInteger(len) ||
    len < PMT_PROVIDER_PREFIX_MIN_LEN ||
    len > PMT_PROVIDER_PREFIX_MAX_LEN
  ) {
    throw new PmtMappingError(
      `--provider-prefix: expected an IPv6 prefix P/L with ${PMT_PROVIDER_PREFIX_MIN_LEN} <= L <= ${PMT_PROVIDER_PREFIX_MAX_LEN}, got "${shown}"`,
      "--provider-prefix",
    );
  }
  const first16 = (providerPrefix.addr[0]! << 8) | providerPrefix.addr[1]!;
  // RFC 3964 §5.3.2: 0::/16, fe80::/10, fec0::/10, ff00::/8 are never valid tunnel addresses; a
  // 2002::/16 "provider prefix" would map 6to4 onto 6to4.
  if (first16 === 0x2002 || first16 === 0 || first16 >= 0xfe80) {
    throw new PmtMappingError(
      `--provider-prefix: expected a global unicast prefix outside 2002::/16, ::/16, fe80::/10, fec0::/10 and ff00::/8, got "${shown}"`,
      "--provider-prefix",
    );
  }
  if (!isUint(m, 32)) {
    throw new PmtMappingError(
      `--ipv4-prefix-len: expected an integer 0..32, got "${String(m)}"`,
      "--ipv4-prefix-len",
    );
  }
  const s = 64 - len - (32 - m);
  if (s > SLA_BITS) {
    throw new PmtMappingError(
      `--ipv4-prefix-len: expected at most ${len - 16} with --provider-prefix /${len} (L + (32 - m) + SLA bits = 64, SLA bits <= 16), got "${m}"`,
      "--ipv4-prefix-len",
    );
  }
  let common = 0;
  if (m > 0) {
    if (!isUint(options.ipv4CommonPrefix, 0xffffffff)) {
      throw new PmtMappingError(
        `--ipv4-prefix-len: expected 0 unless the customers' common IPv4 prefix is known, got "${m}"`,
        "--ipv4-prefix-len",
      );
    }
    common = options.ipv4CommonPrefix;
  }
  if (!isUint(sla, 0xffff)) {
    throw new PmtMappingError(`--sla: expected an integer 0..65535, got "${String(sla)}"`, "--sla");
  }
  if (sla % 2 ** s !== 0) {
    throw new PmtMappingError(
      `--sla: expected a multiple of ${2 ** s} (the low ${s} SLA bits are carried with --provider-prefix /${len} and --ipv4-prefix-len ${m}), got "${sla}"`,
      "--sla",
    );
  }
  return new StatelessPmtMapping(providerPrefix, m, common, s, sla);
}
