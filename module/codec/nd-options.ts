/**
 * Neighbor Discovery options (RFC 4861 §4.6): source/target link-layer address (§4.6.1), prefix
 * information (§4.6.2), MTU (§4.6.4), route information (RFC 4191 §2.3), RDNSS and DNSSL
 * (RFC 8106 §5.1, §5.2). Options this module does not know are kept as `unknown` (RFC 4861 §4.6:
 * receivers skip them), so decode/encode of a whole option list is lossless.
 *
 * Each option type has a codec object with `encode(value, buf, offset)` (returns bytes written),
 * `decode(buf, offset, len?)` (throws DecodeError with a precise message) and
 * `encodingLength(value)`; `ndOption` dispatches on `kind`, and `decodeOptions`/`encodeOptions` do
 * a whole option list. Control plane only: these allocate.
 *
 * One file over 600 lines on purpose: the seven codecs share the option header, the length rules
 * and the dispatch, and each alone is 40-90 lines.
 */
import {
  DNS_MAX_LABEL_BYTES,
  DNS_MAX_NAME_BYTES,
  IPV6_ADDR_BYTES,
  ND_OPT_DNSSL,
  ND_OPT_MTU,
  ND_OPT_MTU_BYTES,
  ND_OPT_PI_FLAG_AUTO,
  ND_OPT_PI_FLAG_ONLINK,
  ND_OPT_PREFIX_INFO,
  ND_OPT_PREFIX_INFO_BYTES,
  ND_OPT_RDNSS,
  ND_OPT_ROUTE_INFO,
  ND_OPT_SOURCE_LL_ADDR,
  ND_OPT_TARGET_LL_ADDR,
  ND_OPT_UNIT_BYTES,
  ND_PRF_HIGH,
  ND_PRF_LOW,
  ND_PRF_MEDIUM,
  ND_PRF_RESERVED,
} from "./constants.js";
import { DecodeError } from "./decode-error.js";

/** Router / route preference (RFC 4191 §2.1). "reserved" (binary 10) is decoded faithfully. */
export type RoutePreference = "high" | "medium" | "low" | "reserved";

export interface LinkLayerAddressOption {
  kind: "source-link-layer-address" | "target-link-layer-address";
  /** For Ethernet 6 bytes (RFC 2464 §6). Decoding yields every byte after type/length. */
  address: Uint8Array;
}

export interface PrefixInfoOption {
  kind: "prefix-information";
  prefixLength: number;
  /** L flag: the prefix is on-link. */
  onLink: boolean;
  /** A flag: usable for SLAAC (RFC 4862 §5.5.3). */
  autonomous: boolean;
  /** Seconds; 0xffffffff is infinity. */
  validLifetime: number;
  preferredLifetime: number;
  /** 16 bytes; bits after prefixLength are sent as zero and ignored on receipt. */
  prefix: Uint8Array;
}

export interface MtuOption {
  kind: "mtu";
  mtu: number;
}

export interface RouteInfoOption {
  kind: "route-information";
  prefixLength: number;
  preference: RoutePreference;
  /** Seconds; 0xffffffff is infinity. */
  routeLifetime: number;
  /** 16 bytes, zero after prefixLength (RFC 4191 §2.3). */
  prefix: Uint8Array;
}

export interface RdnssOption {
  kind: "rdnss";
  lifetime: number;
  /** One or more 16-byte addresses. */
  servers: Uint8Array[];
}

export interface DnsslOption {
  kind: "dnssl";
  lifetime: number;
  /** One or more domain names without the trailing dot, e.g. "example.com". */
  domains: string[];
}

export interface UnknownOption {
  kind: "unknown";
  type: number;
  /** The bytes after type and length: 8 * length - 2 of them. */
  data: Uint8Array;
}

export type NdOption =
  | LinkLayerAddressOption
  | PrefixInfoOption
  | MtuOption
  | RouteInfoOption
  | RdnssOption
  | DnsslOption
  | UnknownOption;

export interface OptionCodec<T> {
  encode(value: T, buf: Buffer, offset?: number): number;
  decode(buf: Buffer, offset?: number, len?: number): T;
  encodingLength(value: T): number;
}

// ---- shared helpers ----

function roundUp8(n: number): number {
  return Math.ceil(n / ND_OPT_UNIT_BYTES) * ND_OPT_UNIT_BYTES;
}

function checkSpace(buf: Buffer, offset: number, n: number, what: string): void {
  if (offset < 0 || offset + n > buf.length) {
    throw new RangeError(`ND option ${what}: ${n} bytes do not fit at offset ${offset}`);
  }
}

function checkAddress(a: Uint8Array, what: string): void {
  if (a.length !== IPV6_ADDR_BYTES) {
    throw new RangeError(`ND option ${what}: expected a 16-byte address, got ${a.length} bytes`);
  }
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v > 0xffffffff) {
    throw new RangeError(`ND option ${what}: ${v} is not an unsigned 32-bit integer`);
  }
}

/** Writes type, length (in 8-byte units) and zeroes the rest of the option. */
function writeHead(buf: Buffer, offset: number, type: number, bytes: number, what: string): void {
  checkSpace(buf, offset, bytes, what);
  buf.fill(0, offset, offset + bytes);
  buf[offset] = type;
  buf[offset + 1] = bytes / ND_OPT_UNIT_BYTES;
}

/**
 * Validates the option header at buf[offset] against the available `len` and the expected type,
 * and returns the option's byte length. Length 0 is an error (RFC 4861 §4.6).
 */
function readHead(
  buf: Buffer,
  offset: number,
  len: number | undefined,
  type: number,
  what: string,
): number {
  const avail = len ?? buf.length - offset;
  if (offset < 0 || avail < 2 || offset + 2 > buf.length) {
    throw new DecodeError(`ND option ${what} at offset ${offset}: truncated, ${avail} bytes`);
  }
  if (buf[offset] !== type) {
    throw new DecodeError(`ND option at offset ${offset}: type ${buf[offset]}, expected ${type}`);
  }
  const bytes = buf[offset + 1]! * ND_OPT_UNIT_BYTES;
  if (bytes === 0) {
    throw new DecodeError(`ND option ${what} at offset ${offset}: length 0 (RFC 4861 §4.6)`);
  }
  if (bytes > avail || offset + bytes > buf.length) {
    throw new DecodeError(
      `ND option ${what} at offset ${offset}: length ${bytes} bytes exceeds the ${avail} available`,
    );
  }
  return bytes;
}

function copyOut(buf: Buffer, start: number, end: number): Uint8Array {
  return new Uint8Array(buf.subarray(start, end));
}

/** Copies `prefix` with bits after `len` cleared (RFC 4861 §4.6.2, RFC 4191 §2.3). */
function maskedPrefix(prefix: Uint8Array, len: number): Uint8Array {
  const out = new Uint8Array(IPV6_ADDR_BYTES);
  for (let i = 0; i < IPV6_ADDR_BYTES; i++) {
    const bits = len - i * 8;
    const mask = bits >= 8 ? 0xff : bits <= 0 ? 0 : (0xff << (8 - bits)) & 0xff;
    out[i] = (prefix[i] ?? 0) & mask;
  }
  return out;
}

// ---- Source / Target Link-Layer Address (RFC 4861 §4.6.1) ----

function linkLayerCodec(
  kind: LinkLayerAddressOption["kind"],
  type: number,
): OptionCodec<LinkLayerAddressOption> {
  const what = kind;
  return {
    encodingLength: (v) => roundUp8(2 + v.address.length),
    encode(v, buf, offset = 0) {
      if (v.address.length === 0 || 2 + v.address.length > 255 * 8) {
        throw new RangeError(`ND option ${what}: address of ${v.address.length} bytes`);
      }
      const bytes = roundUp8(2 + v.address.length);
      writeHead(buf, offset, type, bytes, what);
      buf.set(v.address, offset + 2);
      return bytes;
    },
    decode(buf, offset = 0, len) {
      const bytes = readHead(buf, offset, len, type, what);
      return { kind, address: copyOut(buf, offset + 2, offset + bytes) };
    },
  };
}

export const sourceLinkLayerAddressOption = linkLayerCodec(
  "source-link-layer-address",
  ND_OPT_SOURCE_LL_ADDR,
);
export const targetLinkLayerAddressOption = linkLayerCodec(
  "target-link-layer-address",
  ND_OPT_TARGET_LL_ADDR,
);

// ---- Prefix Information (RFC 4861 §4.6.2) ----

export const prefixInfoOption: OptionCodec<PrefixInfoOption> = {
  encodingLength: () => ND_OPT_PREFIX_INFO_BYTES,
  encode(v, buf, offset = 0) {
    const what = "prefix-information";
    if (!Number.isInteger(v.prefixLength) || v.prefixLength < 0 || v.prefixLength > 128) {
      throw new RangeError(`ND option ${what}: prefixLength ${v.prefixLength} not in 0..128`);
    }
    checkAddress(v.prefix, what);
    checkU32(v.validLifetime, `${what} validLifetime`);
    checkU32(v.preferredLifetime, `${what} preferredLifetime`);
    writeHead(buf, offset, ND_OPT_PREFIX_INFO, ND_OPT_PREFIX_INFO_BYTES, what);
    buf[offset + 2] = v.prefixLength;
    buf[offset + 3] =
      (v.onLink ? ND_OPT_PI_FLAG_ONLINK : 0) | (v.autonomous ? ND_OPT_PI_FLAG_AUTO : 0);
    buf.writeUInt32BE(v.validLifetime, offset + 4);
    buf.writeUInt32BE(v.preferredLifetime, offset + 8);
    buf.set(maskedPrefix(v.prefix, v.prefixLength), offset + 16);
    return ND_OPT_PREFIX_INFO_BYTES;
  },
  decode(buf, offset = 0, len) {
    const what = "prefix-information";
    const bytes = readHead(buf, offset, len, ND_OPT_PREFIX_INFO, what);
    if (bytes !== ND_OPT_PREFIX_INFO_BYTES) {
      throw new DecodeError(`ND option ${what} at offset ${offset}: length ${bytes}, expected 32`);
    }
    const prefixLength = buf[offset + 2]!;
    if (prefixLength > 128) {
      throw new DecodeError(`ND option ${what} at offset ${offset}: prefix length ${prefixLength}`);
    }
    const flags = buf[offset + 3]!;
    return {
      kind: "prefix-information",
      prefixLength,
      onLink: (flags & ND_OPT_PI_FLAG_ONLINK) !== 0,
      autonomous: (flags & ND_OPT_PI_FLAG_AUTO) !== 0,
      validLifetime: buf.readUInt32BE(offset + 4),
      preferredLifetime: buf.readUInt32BE(offset + 8),
      prefix: maskedPrefix(buf.subarray(offset + 16, offset + 32), prefixLength),
    };
  },
};

// ---- MTU (RFC 4861 §4.6.4) ----

export const mtuOption: OptionCodec<MtuOption> = {
  encodingLength: () => ND_OPT_MTU_BYTES,
  encode(v, buf, offset = 0) {
    checkU32(v.mtu, "mtu");
    writeHead(buf, offset, ND_OPT_MTU, ND_OPT_MTU_BYTES, "mtu");
    buf.writeUInt32BE(v.mtu, offset + 4);
    return ND_OPT_MTU_BYTES;
  },
  decode(buf, offset = 0, len) {
    const bytes = readHead(buf, offset, len, ND_OPT_MTU, "mtu");
    if (bytes !== ND_OPT_MTU_BYTES) {
      throw new DecodeError(`ND option mtu at offset ${offset}: length ${bytes}, expected 8`);
    }
    return { kind: "mtu", mtu: buf.readUInt32BE(offset + 4) };
  },
};

// ---- Route Information (RFC 4191 §2.3) ----

const PRF_BITS: Record<RoutePreference, number> = {
  high: ND_PRF_HIGH,
  medium: ND_PRF_MEDIUM,
  low: ND_PRF_LOW,
  reserved: ND_PRF_RESERVED,
};
const PRF_NAMES: readonly RoutePreference[] = ["medium", "high", "reserved", "low"];

/** 2-bit preference value (RFC 4191 §2.1) for a name. */
export function preferenceBits(p: RoutePreference): number {
  return PRF_BITS[p];
}

/** Name for a 2-bit preference value (RFC 4191 §2.1). */
export function preferenceName(bits: number): RoutePreference {
  return PRF_NAMES[bits & 3]!;
}

/** Prefix bytes carried for a prefix length: 0, 8 or 16 (RFC 4191 §2.3). */
function rioPrefixBytes(prefixLength: number): number {
  return prefixLength === 0 ? 0 : prefixLength <= 64 ? 8 : 16;
}

export const routeInfoOption: OptionCodec<RouteInfoOption> = {
  encodingLength: (v) => 8 + rioPrefixBytes(v.prefixLength),
  encode(v, buf, offset = 0) {
    const what = "route-information";
    if (!Number.isInteger(v.prefixLength) || v.prefixLength < 0 || v.prefixLength > 128) {
      throw new RangeError(`ND option ${what}: prefixLength ${v.prefixLength} not in 0..128`);
    }
    if (!(v.preference in PRF_BITS)) {
      throw new RangeError(`ND option ${what}: preference "${String(v.preference)}"`);
    }
    checkAddress(v.prefix, what);
    checkU32(v.routeLifetime, `${what} routeLifetime`);
    const pbytes = rioPrefixBytes(v.prefixLength);
    const bytes = 8 + pbytes;
    writeHead(buf, offset, ND_OPT_ROUTE_INFO, bytes, what);
    buf[offset + 2] = v.prefixLength;
    buf[offset + 3] = PRF_BITS[v.preference] << 3;
    buf.writeUInt32BE(v.routeLifetime, offset + 4);
    buf.set(maskedPrefix(v.prefix, v.prefixLength).subarray(0, pbytes), offset + 8);
    return bytes;
  },
  decode(buf, offset = 0, len) {
    const what = "route-information";
    const bytes = readHead(buf, offset, len, ND_OPT_ROUTE_INFO, what);
    const units = bytes / ND_OPT_UNIT_BYTES;
    const prefixLength = buf[offset + 2]!;
    if (prefixLength > 128) {
      throw new DecodeError(`ND option ${what} at offset ${offset}: prefix length ${prefixLength}`);
    }
    // RFC 4191 §2.3: Length 1, 2 or 3; > 0 needs at least 2, > 64 needs 3.
    const minUnits = prefixLength === 0 ? 1 : prefixLength <= 64 ? 2 : 3;
    if (units > 3 || units < minUnits) {
      throw new DecodeError(
        `ND option ${what} at offset ${offset}: length ${units} invalid for prefix length ` +
          `${prefixLength} (RFC 4191 §2.3)`,
      );
    }
    const prefix = new Uint8Array(IPV6_ADDR_BYTES);
    prefix.set(buf.subarray(offset + 8, offset + bytes));
    return {
      kind: "route-information",
      prefixLength,
      preference: preferenceName(buf[offset + 3]! >>> 3),
      routeLifetime: buf.readUInt32BE(offset + 4),
      prefix: maskedPrefix(prefix, prefixLength),
    };
  },
};

// ---- Recursive DNS Server (RFC 8106 §5.1) ----

export const rdnssOption: OptionCodec<RdnssOption> = {
  encodingLength: (v) => 8 + IPV6_ADDR_BYTES * v.servers.length,
  encode(v, buf, offset = 0) {
    const n = v.servers.length;
    if (n === 0 || n > 127) throw new RangeError(`ND option rdnss: ${n} servers, expected 1..127`);
    checkU32(v.lifetime, "rdnss lifetime");
    for (const s of v.servers) checkAddress(s, "rdnss");
    const bytes = 8 + IPV6_ADDR_BYTES * n;
    writeHead(buf, offset, ND_OPT_RDNSS, bytes, "rdnss");
    buf.writeUInt32BE(v.lifetime, offset + 4);
    for (let i = 0; i < n; i++) buf.set(v.servers[i]!, offset + 8 + IPV6_ADDR_BYTES * i);
    return bytes;
  },
  decode(buf, offset = 0, len) {
    const bytes = readHead(buf, offset, len, ND_OPT_RDNSS, "rdnss");
    const units = bytes / ND_OPT_UNIT_BYTES;
    if (units < 3 || units % 2 !== 1) {
      throw new DecodeError(
        `ND option rdnss at offset ${offset}: length ${units}, expected an odd number >= 3 ` +
          `(RFC 8106 §5.1)`,
      );
    }
    const servers: Uint8Array[] = [];
    for (let p = offset + 8; p < offset + bytes; p += IPV6_ADDR_BYTES) {
      servers.push(copyOut(buf, p, p + IPV6_ADDR_BYTES));
    }
    return { kind: "rdnss", lifetime: buf.readUInt32BE(offset + 4), servers };
  },
};

// ---- DNS Search List (RFC 8106 §5.2, names as RFC 1035 §3.1, no compression) ----

/** Printable ASCII except "." (the label separator) and space. */
function isLabelByte(c: number): boolean {
  return c > 0x20 && c < 0x7f && c !== 0x2e;
}

/** RFC 1035 §3.1 wire length of a name: labels with length bytes plus the root zero byte. */
function nameWireLength(name: string): number {
  const labels = splitName(name);
  let n = 1;
  for (const l of labels) n += 1 + l.length;
  return n;
}

function splitName(name: string): string[] {
  const trimmed = name.endsWith(".") ? name.slice(0, -1) : name;
  if (trimmed.length === 0) {
    throw new RangeError(`ND option dnssl: empty domain name "${name}"`);
  }
  const labels = trimmed.split(".");
  for (const l of labels) {
    if (l.length === 0 || l.length > DNS_MAX_LABEL_BYTES) {
      throw new RangeError(`ND option dnssl: label "${l}" in "${name}" must be 1..63 bytes`);
    }
    for (let i = 0; i < l.length; i++) {
      if (!isLabelByte(l.charCodeAt(i))) {
        throw new RangeError(`ND option dnssl: character ${JSON.stringify(l[i])} in "${name}"`);
      }
    }
  }
  if (trimmed.length + 2 > DNS_MAX_NAME_BYTES) {
    throw new RangeError(`ND option dnssl: "${name}" is longer than 255 bytes on the wire`);
  }
  return labels;
}

function dnsslLength(v: DnsslOption): number {
  let n = 8;
  for (const d of v.domains) n += nameWireLength(d);
  return roundUp8(n);
}

export const dnsslOption: OptionCodec<DnsslOption> = {
  encodingLength: dnsslLength,
  encode(v, buf, offset = 0) {
    if (v.domains.length === 0) throw new RangeError("ND option dnssl: no domain names");
    checkU32(v.lifetime, "dnssl lifetime");
    const bytes = dnsslLength(v);
    if (bytes > 255 * ND_OPT_UNIT_BYTES) {
      throw new RangeError(`ND option dnssl: ${bytes} bytes exceed the 2040-byte option limit`);
    }
    writeHead(buf, offset, ND_OPT_DNSSL, bytes, "dnssl");
    buf.writeUInt32BE(v.lifetime, offset + 4);
    let p = offset + 8;
    for (const d of v.domains) {
      for (const label of splitName(d)) {
        buf[p++] = label.length;
        p += buf.write(label, p, "latin1");
      }
      buf[p++] = 0;
    }
    // The rest up to the 8-byte boundary stays zero (RFC 8106 §5.2 padding).
    return bytes;
  },
  decode(buf, offset = 0, len) {
    const bytes = readHead(buf, offset, len, ND_OPT_DNSSL, "dnssl");
    if (bytes < 16) {
      throw new DecodeError(`ND option dnssl at offset ${offset}: length 1, expected >= 2`);
    }
    const end = offset + bytes;
    const domains: string[] = [];
    let p = offset + 8;
    while (p < end && buf[p] !== 0) {
      const labels: string[] = [];
      let wire = 0;
      for (;;) {
        if (p >= end) {
          throw new DecodeError(
            `ND option dnssl at offset ${offset}: name ${domains.length + 1} runs past the option`,
          );
        }
        const l = buf[p]!;
        if (l === 0) {
          p++;
          break;
        }
        if (l > DNS_MAX_LABEL_BYTES) {
          throw new DecodeError(
            `ND option dnssl at offset ${offset}: label length ${l} at ${p} ` +
              `(compression or > 63, RFC 8106 §5.2)`,
          );
        }
        if (p + 1 + l > end) {
          throw new DecodeError(
            `ND option dnssl at offset ${offset}: label at ${p} runs past the option`,
          );
        }
        for (let i = p + 1; i <= p + l; i++) {
          if (!isLabelByte(buf[i]!)) {
            throw new DecodeError(
              `ND option dnssl at offset ${offset}: byte 0x${buf[i]!.toString(16)} at ${i} ` +
                `in a label`,
            );
          }
        }
        wire += 1 + l;
        if (wire + 1 > DNS_MAX_NAME_BYTES) {
          throw new DecodeError(`ND option dnssl at offset ${offset}: name longer than 255 bytes`);
        }
        labels.push(buf.toString("latin1", p + 1, p + 1 + l));
        p += 1 + l;
      }
      domains.push(labels.join("."));
    }
    for (; p < end; p++) {
      if (buf[p] !== 0) {
        throw new DecodeError(
          `ND option dnssl at offset ${offset}: non-zero padding byte at ${p} (RFC 8106 §5.2)`,
        );
      }
    }
    if (domains.length === 0) {
      throw new DecodeError(`ND option dnssl at offset ${offset}: no domain names`);
    }
    return { kind: "dnssl", lifetime: buf.readUInt32BE(offset + 4), domains };
  },
};

// ---- Unknown options (kept so a list round-trips; RFC 4861 §4.6: receivers ignore them) ----

export const unknownOption: OptionCodec<UnknownOption> = {
  encodingLength: (v) => 2 + v.data.length,
  encode(v, buf, offset = 0) {
    const bytes = 2 + v.data.length;
    if (bytes % ND_OPT_UNIT_BYTES !== 0 || bytes > 255 * ND_OPT_UNIT_BYTES) {
      throw new RangeError(`ND option type ${v.type}: data of ${v.data.length} bytes is not 8n-2`);
    }
    writeHead(buf, offset, v.type, bytes, `type ${v.type}`);
    buf.set(v.data, offset + 2);
    return bytes;
  },
  decode(buf, offset = 0, len) {
    const type = offset >= 0 && offset < buf.length ? buf[offset]! : -1;
    const bytes = readHead(buf, offset, len, type, `type ${type}`);
    return { kind: "unknown", type, data: copyOut(buf, offset + 2, offset + bytes) };
  },
};

// ---- Dispatch ----

const CODEC_BY_TYPE = new Map<number, OptionCodec<NdOption>>([
  [ND_OPT_SOURCE_LL_ADDR, sourceLinkLayerAddressOption as OptionCodec<NdOption>],
  [ND_OPT_TARGET_LL_ADDR, targetLinkLayerAddressOption as OptionCodec<NdOption>],
  [ND_OPT_PREFIX_INFO, prefixInfoOption as OptionCodec<NdOption>],
  [ND_OPT_MTU, mtuOption as OptionCodec<NdOption>],
  [ND_OPT_ROUTE_INFO, routeInfoOption as OptionCodec<NdOption>],
  [ND_OPT_RDNSS, rdnssOption as OptionCodec<NdOption>],
  [ND_OPT_DNSSL, dnsslOption as OptionCodec<NdOption>],
]);

function codecFor(o: NdOption): OptionCodec<NdOption> {
  switch (o.kind) {
    case "source-link-layer-address":
      return sourceLinkLayerAddressOption as OptionCodec<NdOption>;
    case "target-link-layer-address":
      return targetLinkLayerAddressOption as OptionCodec<NdOption>;
    case "prefix-information":
      return prefixInfoOption as OptionCodec<NdOption>;
    case "mtu":
      return mtuOption as OptionCodec<NdOption>;
    case "route-information":
      return routeInfoOption as OptionCodec<NdOption>;
    case "rdnss":
      return rdnssOption as OptionCodec<NdOption>;
    case "dnssl":
      return dnsslOption as OptionCodec<NdOption>;
    case "unknown":
      return unknownOption as OptionCodec<NdOption>;
  }
}

/** Any one option, dispatched on `kind` (encode) or on the type byte (decode). */
export const ndOption: OptionCodec<NdOption> = {
  encodingLength: (o) => codecFor(o).encodingLength(o),
  encode: (o, buf, offset = 0) => codecFor(o).encode(o, buf, offset),
  decode(buf, offset = 0, len) {
    const type = offset >= 0 && offset < buf.length ? buf[offset]! : -1;
    return (CODEC_BY_TYPE.get(type) ?? (unknownOption as OptionCodec<NdOption>)).decode(
      buf,
      offset,
      len,
    );
  },
};

/** Total bytes of an option list. */
export function optionsEncodingLength(opts: readonly NdOption[]): number {
  let n = 0;
  for (const o of opts) n += ndOption.encodingLength(o);
  return n;
}

/** Writes the options in the given order and returns the bytes written. */
export function encodeOptions(opts: readonly NdOption[], buf: Buffer, offset = 0): number {
  let p = offset;
  for (const o of opts) p += ndOption.encode(o, buf, p);
  return p - offset;
}

/**
 * Decodes the options filling buf[offset, offset+len) exactly. A zero length, an option running
 * past the end or a malformed known option throws DecodeError (RFC 4861 §4.6: such a packet is
 * discarded).
 */
export function decodeOptions(buf: Buffer, offset: number, len: number): NdOption[] {
  const out: NdOption[] = [];
  const end = offset + len;
  let p = offset;
  while (p < end) {
    if (end - p < 2) {
      throw new DecodeError(`ND options at offset ${p}: ${end - p} trailing byte(s)`);
    }
    const bytes = buf[p + 1]! * ND_OPT_UNIT_BYTES;
    out.push(ndOption.decode(buf, p, end - p));
    p += bytes;
  }
  return out;
}
