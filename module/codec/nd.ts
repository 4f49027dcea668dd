/**
 * Neighbor Discovery messages (RFC 4861 §4): Router Solicitation (§4.1), Router Advertisement
 * (§4.2, with the RFC 4191 §2.2 default router preference), Neighbor Solicitation (§4.3) and
 * Neighbor Advertisement (§4.4), each with its options (nd-options.ts).
 *
 * Every message codec has `encode(value, buf, offset, addrs?)`, `decode(buf, offset, len, addrs?)`
 * and `encodingLength(value)`. The ICMPv6 checksum (RFC 4443 §2.3) is written when `addrs` is
 * given, else left 0 for a raw ICMPv6 socket to fill in; decode verifies it when `addrs` is given.
 * The hop limit 255 check (RFC 4861 §6.1) belongs to the caller, which sees the IPv6 header.
 * Control plane only: these allocate.
 */
import {
  IPV6_ADDR_BYTES,
  ND_NA_BYTES,
  ND_NA_FLAG_OVERRIDE,
  ND_NA_FLAG_ROUTER,
  ND_NA_FLAG_SOLICITED,
  ND_NEIGHBOR_ADVERT,
  ND_NEIGHBOR_SOLICIT,
  ND_NS_BYTES,
  ND_RA_BYTES,
  ND_RA_FLAG_HOME_AGENT,
  ND_RA_FLAG_MANAGED,
  ND_RA_FLAG_OTHER,
  ND_RA_PRF_MASK,
  ND_RA_PRF_SHIFT,
  ND_ROUTER_ADVERT,
  ND_ROUTER_SOLICIT,
  ND_RS_BYTES,
} from "./constants.js";
import { DecodeError } from "./decode-error.js";
import { verifyIcmpv6Checksum, writeIcmpv6Checksum, type Icmpv6Addresses } from "./icmpv6.js";
import {
  decodeOptions,
  encodeOptions,
  optionsEncodingLength,
  preferenceBits,
  preferenceName,
  type NdOption,
  type RoutePreference,
} from "./nd-options.js";

export interface RouterSolicitation {
  kind: "router-solicitation";
  options: NdOption[];
}

export interface RouterAdvertisement {
  kind: "router-advertisement";
  /** Cur Hop Limit; 0 = unspecified. */
  curHopLimit: number;
  /** M flag: addresses via DHCPv6. */
  managed: boolean;
  /** O flag: other configuration via DHCPv6. */
  other: boolean;
  /** H flag (RFC 6275 §7.1). */
  homeAgent: boolean;
  /** Default router preference (RFC 4191 §2.2). */
  preference: RoutePreference;
  /** Seconds, 0..65535; 0 = not a default router (RFC 4861 §4.2). */
  routerLifetime: number;
  /** Milliseconds; 0 = unspecified. */
  reachableTime: number;
  /** Milliseconds; 0 = unspecified. */
  retransTimer: number;
  options: NdOption[];
}

export interface NeighborSolicitation {
  kind: "neighbor-solicitation";
  /** 16 bytes. */
  target: Uint8Array;
  options: NdOption[];
}

export interface NeighborAdvertisement {
  kind: "neighbor-advertisement";
  router: boolean;
  solicited: boolean;
  override: boolean;
  /** 16 bytes. */
  target: Uint8Array;
  options: NdOption[];
}

export type NdMessage =
  RouterSolicitation | RouterAdvertisement | NeighborSolicitation | NeighborAdvertisement;

export interface NdCodec<T> {
  encode(value: T, buf: Buffer, offset?: number, addrs?: Icmpv6Addresses): number;
  decode(buf: Buffer, offset?: number, len?: number, addrs?: Icmpv6Addresses): T;
  encodingLength(value: T): number;
}

const FIXED_BYTES: Record<NdMessage["kind"], number> = {
  "router-solicitation": ND_RS_BYTES,
  "router-advertisement": ND_RA_BYTES,
  "neighbor-solicitation": ND_NS_BYTES,
  "neighbor-advertisement": ND_NA_BYTES,
};
const TYPES: Record<NdMessage["kind"], number> = {
  "router-solicitation": ND_ROUTER_SOLICIT,
  "router-advertisement": ND_ROUTER_ADVERT,
  "neighbor-solicitation": ND_NEIGHBOR_SOLICIT,
  "neighbor-advertisement": ND_NEIGHBOR_ADVERT,
};

function messageLength(m: NdMessage): number {
  return FIXED_BYTES[m.kind] + optionsEncodingLength(m.options);
}

/** Writes type, code 0, zero checksum and zeroes the fixed part; returns its length. */
function writeFixed(m: NdMessage, buf: Buffer, offset: number): number {
  const total = messageLength(m);
  if (offset < 0 || offset + total > buf.length) {
    throw new RangeError(`ND ${m.kind}: ${total} bytes do not fit at offset ${offset}`);
  }
  const fixed = FIXED_BYTES[m.kind];
  buf.fill(0, offset, offset + fixed);
  buf[offset] = TYPES[m.kind];
  return fixed;
}

function finish(
  m: NdMessage,
  buf: Buffer,
  offset: number,
  fixed: number,
  addrs?: Icmpv6Addresses,
): number {
  const n = fixed + encodeOptions(m.options, buf, offset + fixed);
  if (addrs) writeIcmpv6Checksum(buf, offset, n, addrs);
  return n;
}

/**
 * Validates type, code (RFC 4861 §6.1.1, §6.1.2, §7.1.1, §7.1.2: code 0), length and, when
 * addresses are given, the checksum. Returns the message length.
 */
function readFixed(
  buf: Buffer,
  offset: number,
  len: number | undefined,
  kind: NdMessage["kind"],
  addrs?: Icmpv6Addresses,
): number {
  const n = len ?? buf.length - offset;
  const fixed = FIXED_BYTES[kind];
  if (offset < 0 || n < fixed || offset + n > buf.length) {
    throw new DecodeError(`ND ${kind} at offset ${offset}: ${n} bytes, need at least ${fixed}`);
  }
  if (buf[offset] !== TYPES[kind]) {
    throw new DecodeError(`ND ${kind}: ICMPv6 type ${buf[offset]}, expected ${TYPES[kind]}`);
  }
  if (buf[offset + 1] !== 0) {
    throw new DecodeError(`ND ${kind}: ICMPv6 code ${buf[offset + 1]}, expected 0`);
  }
  if (addrs && !verifyIcmpv6Checksum(buf, offset, n, addrs)) {
    const got = buf.readUInt16BE(offset + 2);
    throw new DecodeError(`ND ${kind}: ICMPv6 checksum 0x${got.toString(16)} is wrong`);
  }
  return n;
}

function checkTarget(t: Uint8Array, kind: string): void {
  if (t.length !== IPV6_ADDR_BYTES) {
    throw new RangeError(`ND ${kind}: target must be 16 bytes, got ${t.length}`);
  }
}

// ---- Router Solicitation (RFC 4861 §4.1) ----

export const routerSolicitation: NdCodec<RouterSolicitation> = {
  encodingLength: messageLength,
  encode(m, buf, offset = 0, addrs) {
    return finish(m, buf, offset, writeFixed(m, buf, offset), addrs);
  },
  decode(buf, offset = 0, len, addrs) {
    const n = readFixed(buf, offset, len, "router-solicitation", addrs);
    const options = decodeOptions(buf, offset + ND_RS_BYTES, n - ND_RS_BYTES);
    return { kind: "router-solicitation", options };
  },
};

// ---- Router Advertisement (RFC 4861 §4.2) ----

/**
 * The order the RA encoder writes options in, as odhcpd's IOV_RA_* order: source link-layer
 * address, MTU, prefixes, routes, DNS servers, search list, then anything else. Stable within a
 * kind (prefixes keep the caller's order).
 */
export const RA_OPTION_ORDER: readonly NdOption["kind"][] = [
  "source-link-layer-address",
  "mtu",
  "prefix-information",
  "route-information",
  "rdnss",
  "dnssl",
  "target-link-layer-address",
  "unknown",
];

/** The options sorted into RA_OPTION_ORDER (stable). */
export function orderRaOptions(opts: readonly NdOption[]): NdOption[] {
  const rank = (o: NdOption): number => RA_OPTION_ORDER.indexOf(o.kind);
  return opts
    .map((o, i) => ({ o, i }))
    .sort((a, b) => rank(a.o) - rank(b.o) || a.i - b.i)
    .map((x) => x.o);
}

export const routerAdvertisement: NdCodec<RouterAdvertisement> = {
  encodingLength: messageLength,
  /** Writes the RA with its options in RA_OPTION_ORDER, whatever order `m.options` has. */
  encode(m, buf, offset = 0, addrs) {
    if (m.routerLifetime < 0 || m.routerLifetime > 0xffff) {
      throw new RangeError(`ND router-advertisement: routerLifetime ${m.routerLifetime}`);
    }
    const fixed = writeFixed(m, buf, offset);
    buf[offset + 4] = m.curHopLimit;
    buf[offset + 5] =
      (m.managed ? ND_RA_FLAG_MANAGED : 0) |
      (m.other ? ND_RA_FLAG_OTHER : 0) |
      (m.homeAgent ? ND_RA_FLAG_HOME_AGENT : 0) |
      (preferenceBits(m.preference) << ND_RA_PRF_SHIFT);
    buf.writeUInt16BE(m.routerLifetime, offset + 6);
    buf.writeUInt32BE(m.reachableTime >>> 0, offset + 8);
    buf.writeUInt32BE(m.retransTimer >>> 0, offset + 12);
    return finish({ ...m, options: orderRaOptions(m.options) }, buf, offset, fixed, addrs);
  },
  decode(buf, offset = 0, len, addrs) {
    const n = readFixed(buf, offset, len, "router-advertisement", addrs);
    const flags = buf[offset + 5]!;
    return {
      kind: "router-advertisement",
      curHopLimit: buf[offset + 4]!,
      managed: (flags & ND_RA_FLAG_MANAGED) !== 0,
      other: (flags & ND_RA_FLAG_OTHER) !== 0,
      homeAgent: (flags & ND_RA_FLAG_HOME_AGENT) !== 0,
      preference: preferenceName((flags & ND_RA_PRF_MASK) >>> ND_RA_PRF_SHIFT),
      routerLifetime: buf.readUInt16BE(offset + 6),
      reachableTime: buf.readUInt32BE(offset + 8),
      retransTimer: buf.readUInt32BE(offset + 12),
      options: decodeOptions(buf, offset + ND_RA_BYTES, n - ND_RA_BYTES),
    };
  },
};

// ---- Neighbor Solicitation (RFC 4861 §4.3) ----

export const neighborSolicitation: NdCodec<NeighborSolicitation> = {
  encodingLength: messageLength,
  encode(m, buf, offset = 0, addrs) {
    checkTarget(m.target, m.kind);
    const fixed = writeFixed(m, buf, offset);
    buf.set(m.target, offset + 8);
    return finish(m, buf, offset, fixed, addrs);
  },
  decode(buf, offset = 0, len, addrs) {
    const n = readFixed(buf, offset, len, "neighbor-solicitation", addrs);
    return {
      kind: "neighbor-solicitation",
      target: new Uint8Array(buf.subarray(offset + 8, offset + 24)),
      options: decodeOptions(buf, offset + ND_NS_BYTES, n - ND_NS_BYTES),
    };
  },
};

// ---- Neighbor Advertisement (RFC 4861 §4.4) ----

export const neighborAdvertisement: NdCodec<NeighborAdvertisement> = {
  encodingLength: messageLength,
  encode(m, buf, offset = 0, addrs) {
    checkTarget(m.target, m.kind);
    const fixed = writeFixed(m, buf, offset);
    const flags =
      (m.router ? ND_NA_FLAG_ROUTER : 0) |
      (m.solicited ? ND_NA_FLAG_SOLICITED : 0) |
      (m.override ? ND_NA_FLAG_OVERRIDE : 0);
    buf.writeUInt32BE(flags >>> 0, offset + 4);
    buf.set(m.target, offset + 8);
    return finish(m, buf, offset, fixed, addrs);
  },
  decode(buf, offset = 0, len, addrs) {
    const n = readFixed(buf, offset, len, "neighbor-advertisement", addrs);
    const flags = buf.readUInt32BE(offset + 4);
    return {
      kind: "neighbor-advertisement",
      router: (flags & ND_NA_FLAG_ROUTER) !== 0,
      solicited: (flags & ND_NA_FLAG_SOLICITED) !== 0,
      override: (flags & ND_NA_FLAG_OVERRIDE) !== 0,
      target: new Uint8Array(buf.subarray(offset + 8, offset + 24)),
      options: decodeOptions(buf, offset + ND_NA_BYTES, n - ND_NA_BYTES),
    };
  },
};

// ---- Any ND message ----

const CODECS: Record<NdMessage["kind"], NdCodec<NdMessage>> = {
  "router-solicitation": routerSolicitation as NdCodec<NdMessage>,
  "router-advertisement": routerAdvertisement as NdCodec<NdMessage>,
  "neighbor-solicitation": neighborSolicitation as NdCodec<NdMessage>,
  "neighbor-advertisement": neighborAdvertisement as NdCodec<NdMessage>,
};
const KIND_BY_TYPE = new Map<number, NdMessage["kind"]>([
  [ND_ROUTER_SOLICIT, "router-solicitation"],
  [ND_ROUTER_ADVERT, "router-advertisement"],
  [ND_NEIGHBOR_SOLICIT, "neighbor-solicitation"],
  [ND_NEIGHBOR_ADVERT, "neighbor-advertisement"],
]);

/** Any of RS, RA, NS, NA, dispatched on `kind` (encode) or on the ICMPv6 type (decode). */
export const ndMessage: NdCodec<NdMessage> = {
  encodingLength: (m) => CODECS[m.kind].encodingLength(m),
  encode: (m, buf, offset = 0, addrs) => CODECS[m.kind].encode(m, buf, offset, addrs),
  decode(buf, offset = 0, len, addrs) {
    const type = offset >= 0 && offset < buf.length ? buf[offset]! : -1;
    const kind = KIND_BY_TYPE.get(type);
    if (kind === undefined) {
      throw new DecodeError(
        `ND message at offset ${offset}: ICMPv6 type ${type} is not RS/RA/NS/NA`,
      );
    }
    return CODECS[kind].decode(buf, offset, len, addrs);
  },
};
