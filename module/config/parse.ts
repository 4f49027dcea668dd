/**
 * Flags + optional JSON config file -> one validated, frozen, typed Config, driven by schema.ts.
 *
 * Precedence: command-line flag > JSON config file > schema default. JSON keys are the UCI option
 * names (`tunnel_mtu`); the file is either flat or holds a `cpe` / `relay` object, as the UCI file
 * holds `config cpe 'cpe'` and `config relay 'relay'` sections. Every bad value throws a ConfigError
 * whose one-line message names the option as the user wrote it (`--tunnel-mtu` or
 * `tunnel_mtu (in /etc/6to4-pmt.json)`) and what is expected, as odhcpd's config.c does.
 */
import { readFileSync } from "node:fs";
import { ConfigError, configExpected } from "./config-error.js";
import {
  elementType,
  findOption,
  isListType,
  optionsFor,
  type OptionSpec,
  type OptionType,
  type Role,
} from "./schema.js";
import { parseIpv4, parseIpv4Prefix, type Ipv4Prefix } from "../addr/ipv4.js";
import { parseIpv6, parseIpv6Prefix, type Ipv6Prefix } from "../addr/ipv6.js";
import { checkValues } from "./value-check.js";

export type RaMode = "builtin" | "netifd" | "off";
export type RaPreference = "low" | "medium" | "high";
export type LogLevel = "error" | "warn" | "info" | "debug";
/** Where an option's value came from; `status` reports it. */
export type ConfigSource = "default" | "json" | "flag";

/** `6to4-pmt cpe` configuration. `null` = not configured: learned or derived at run time. */
export interface CpeConfig {
  readonly role: "cpe";
  readonly enabled: boolean;
  readonly wanDevice: string | null;
  readonly wanInterface: string;
  readonly wanIpv4: number | null;
  readonly wanMtu: number | null;
  readonly relay: readonly number[];
  readonly lanDevice: string;
  readonly tunName: string;
  /** null = WAN MTU − 20 (RFC 4213 §3.2), never below 1280: control/decide.ts effectiveTunnelMtu. */
  readonly tunnelMtu: number | null;
  readonly providerPrefix: Ipv6Prefix | null;
  readonly ipv4PrefixLen: number;
  readonly sla: number;
  readonly defaultRoute: Ipv6Prefix;
  readonly direct6to4: boolean;
  readonly allowIpv4: readonly Ipv4Prefix[];
  /** control/wan-gro.ts */
  readonly wanGro: "auto" | "off" | "keep";
  /** control/wan-next-hop.ts: the WAN send socket of the userspace data plane. */
  readonly wanSend: "raw" | "packet";
  /** control/kernel-path.ts: the kernel's sit + nft, the userspace TUN path, or auto. */
  readonly dataplane: "auto" | "kernel" | "userspace";
  readonly ra: RaMode;
  readonly raMinInterval: number;
  readonly raMaxInterval: number;
  readonly raRouterLifetime: number;
  readonly raPreferredLifetime: number;
  readonly raValidLifetime: number;
  readonly raPreference: RaPreference;
  readonly dns: readonly Uint8Array[];
  readonly domain: readonly string[];
  /** null = the relay's own 6to4 address (RFC 6343 §4.4 item 4). */
  readonly healthTarget: Uint8Array | null;
  readonly healthInterval: number;
  readonly healthFailures: number;
  /** With ra netifd: `<hook> update <tun> <prefix/len> <preferred_s> <valid_s> <mtu>` / `withdraw <tun>`. */
  readonly netifdHook: string;
  readonly useDhcp6rd: boolean;
  readonly stateFile: string;
  readonly statusSocket: string;
  readonly logLevel: LogLevel;
  /** cli/privilege-drop.ts: the user to switch to after start-up; null = stay. */
  readonly user: string | null;
  /** Source of every option, by UCI name. */
  readonly sources: Readonly<Record<string, ConfigSource>>;
}

/** `6to4-pmt relay` configuration. */
export interface RelayConfig {
  readonly role: "relay";
  readonly enabled: boolean;
  readonly relayIpv4: readonly number[];
  readonly providerPrefix: Ipv6Prefix | null;
  readonly ipv4PrefixLen: number;
  readonly sla: number;
  readonly customerIpv4: readonly Ipv4Prefix[];
  /** RFC 6732 §4.7: the sites translated; customerIpv4 unless set, empty = nobody. */
  readonly pmtCustomerIpv4: readonly Ipv4Prefix[];
  readonly optOut: readonly Ipv4Prefix[];
  readonly nonCustomer: "relay" | "drop";
  readonly otherRelays: readonly number[];
  /** Anycast addresses announced (as /32 through the TUN, kernel protocol 41) while healthy. */
  readonly announceIpv4: readonly number[];
  /** IPv6 upstream address probed (RFC 3068 §4.4); null = healthy while running. */
  readonly healthTarget: Uint8Array | null;
  readonly healthInterval: number;
  readonly healthFailures: number;
  readonly tunName: string;
  readonly tunnelMtu: number;
  readonly metricsPort: number;
  /** IPv4 or IPv6 literal the metrics listener binds. */
  readonly metricsAddress: string;
  /** cli/relay-status.ts */
  readonly statusSocket: string;
  readonly icmpRateLimit: number;
  /** Data-plane worker threads (cli/relay-workers.ts); 0 = one per CPU core. */
  readonly workers: number;
  /** Devices read through AF_PACKET with GRO's segment size (control/packet-receive.ts). */
  readonly packetReceive: readonly string[];
  /** `packet`: protocol 41 to customers over AF_PACKET (control/relay-wan-send.ts). */
  readonly wanSend: "raw" | "packet";
  readonly logLevel: LogLevel;
  /** cli/privilege-drop.ts: the user to switch to after start-up; null = stay. */
  readonly user: string | null;
  readonly sources: Readonly<Record<string, ConfigSource>>;
}

/** Flags as the CLI's argv parser collects them: name (with or without `--`) -> every value given. */
export type FlagInput = Map<string, string[]> | Record<string, string[]>;

const TRUE_WORDS = new Set(["1", "true", "yes", "on", "enabled"]);
const FALSE_WORDS = new Set(["0", "false", "no", "off", "disabled"]);
const INTEGER = /^(?:0|[1-9][0-9]*)$/;
const HOSTNAME_LABEL = /^[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?$/;

/** A boolean as UCI and the command line write it (`1`, `true`, `on`, `enabled`, ...), or undefined. */
export function parseBooleanWord(text: string): boolean | undefined {
  const w = text.toLowerCase();
  if (TRUE_WORDS.has(w)) return true;
  if (FALSE_WORDS.has(w)) return false;
  return undefined;
}

/** What a value of option `o` must look like, as error messages say it ("an IPv4 address a.b.c.d"). */
export function expectedValue(o: OptionSpec): string {
  const el = elementType(o.type);
  return isListType(o.type) ? `a list of ${expectedText(o, el)}` : expectedText(o, el);
}

/** Why `name` is not an option of `role`: "a relay option, not cpe" or "unknown option". */
export function notAnOption(role: Role, name: string): string {
  return findOption(otherRole(role), name.replace(/^--?/, ""))
    ? `a ${otherRole(role)} option, not ${role}`
    : "unknown option";
}

function expectedText(o: OptionSpec, t: OptionType): string {
  switch (t) {
    case "bool":
      return "0 or 1";
    case "int":
      return `an integer ${o.min ?? 0}..${o.max ?? Number.MAX_SAFE_INTEGER}`;
    case "enum":
      return `one of ${(o.choices ?? []).join("|")}`;
    case "ipv4":
      return "an IPv4 address a.b.c.d";
    case "ipv4prefix":
      return "an IPv4 prefix a.b.c.d/len";
    case "ipv6":
      return "an IPv6 address";
    case "ipv6prefix":
      return `an IPv6 prefix P/L with ${o.minPrefixLen ?? 0} <= L <= ${o.maxPrefixLen ?? 128}`;
    case "path":
      return "an absolute path";
    default:
      if (o.format === "netdev") return "a device name of 1..15 characters without spaces or /";
      if (o.format === "hostname") return "a DNS name";
      if (o.format === "ipaddr") return "an IPv4 address a.b.c.d or an IPv6 address";
      return "a non-empty string without control characters";
  }
}

/** Parses one scalar value of element type `t`; returns undefined when it does not fit. */
function parseScalar(o: OptionSpec, t: OptionType, text: string): unknown {
  switch (t) {
    case "bool":
      return parseBooleanWord(text);
    case "int": {
      if (!INTEGER.test(text)) return undefined;
      const n = Number(text);
      if (!Number.isSafeInteger(n)) return undefined;
      if (o.min !== undefined && n < o.min) return undefined;
      if (o.max !== undefined && n > o.max) return undefined;
      return n;
    }
    case "enum":
      return o.choices?.includes(text) ? text : undefined;
    case "ipv4":
      return parseIpv4(text) ?? undefined;
    case "ipv4prefix":
      return parseIpv4Prefix(text) ?? undefined;
    case "ipv6":
      return parseIpv6(text) ?? undefined;
    case "ipv6prefix": {
      if (!text.includes("/")) return undefined;
      const p = parseIpv6Prefix(text);
      if (!p) return undefined;
      if (o.minPrefixLen !== undefined && p.len < o.minPrefixLen) return undefined;
      if (o.maxPrefixLen !== undefined && p.len > o.maxPrefixLen) return undefined;
      return p;
    }
    case "path":
      // eslint-disable-next-line no-control-regex
      return text.startsWith("/") && !/[\u0000-\u001f]/.test(text) ? text : undefined;
    default: {
      // eslint-disable-next-line no-control-regex
      if (text.length === 0 || /[\u0000-\u001f\u007f]/.test(text)) return undefined;
      if (o.format === "netdev" && (text.length > 15 || /[\s/:]/.test(text))) return undefined;
      if (o.format === "ipaddr" && parseIpv4(text) === null && parseIpv6(text) === null) {
        return undefined;
      }
      if (o.format === "hostname") {
        const name = text.endsWith(".") ? text.slice(0, -1) : text;
        if (name.length > 253 || !name.split(".").every((l) => HOSTNAME_LABEL.test(l)))
          return undefined;
      }
      return text;
    }
  }
}

/** Turns a JSON value into the text form of one element (numbers and booleans as UCI writes them). */
function jsonScalarText(v: unknown): string | undefined {
  if (typeof v === "string") return v.trim();
  if (typeof v === "number" && Number.isFinite(v)) return String(v);
  if (typeof v === "boolean") return v ? "1" : "0";
  return undefined;
}

/** Splits list input: repeated values, each may be comma-separated (flags) or space-separated (UCI). */
function splitList(values: readonly string[]): string[] {
  const out: string[] = [];
  for (const v of values) {
    for (const part of v.split(/[,\s]+/)) if (part !== "") out.push(part);
  }
  return out;
}

/** Parses the text values of one option into its typed value; `label` names it in errors. */
function parseValue(o: OptionSpec, values: readonly string[], label: string): unknown {
  const el = elementType(o.type);
  if (isListType(o.type)) {
    const items = splitList(values).map((text) => {
      const v = parseScalar(o, el, text);
      if (v === undefined) throw configExpected(label, `a list of ${expectedText(o, el)}`, text);
      return v;
    });
    return Object.freeze(items);
  }
  // A scalar given twice: the last one wins, as getopt-style parsers and `uci set` do.
  const text = values.length === 0 ? "" : values[values.length - 1]!.trim();
  const v = parseScalar(o, el, text);
  if (v === undefined) throw configExpected(label, expectedText(o, el), text);
  return v;
}

function defaultValue(o: OptionSpec): unknown {
  if (o.default === undefined) return null;
  const values = typeof o.default === "string" ? [o.default] : o.default;
  return parseValue(o, values, o.flag);
}

function flagEntries(flags: FlagInput): [string, string[]][] {
  return flags instanceof Map ? [...flags.entries()] : Object.entries(flags);
}

function otherRole(role: Role): Role {
  return role === "cpe" ? "relay" : "cpe";
}

/** Reads the JSON file and returns the object holding this role's options. */
function readJsonSection(role: Role, jsonPath: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(jsonPath, "utf8");
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code ?? String(e);
    throw new ConfigError(`${jsonPath}: cannot read config file (${code})`, jsonPath);
  }
  let data: unknown;
  try {
    data = JSON.parse(text);
  } catch (e) {
    throw new ConfigError(`${jsonPath}: invalid JSON (${(e as Error).message})`, jsonPath);
  }
  if (typeof data !== "object" || data === null || Array.isArray(data)) {
    throw new ConfigError(`${jsonPath}: expected a JSON object of options`, jsonPath);
  }
  const obj = data as Record<string, unknown>;
  const section = obj[role];
  if (typeof section === "object" && section !== null && !Array.isArray(section)) {
    return section as Record<string, unknown>;
  }
  const other = obj[otherRole(role)];
  if (typeof other === "object" && other !== null && !Array.isArray(other)) return {};
  return obj;
}

function parseConfig(role: Role, flags: FlagInput, jsonPath?: string): Record<string, unknown> {
  const values = new Map<string, unknown>();
  const sources: Record<string, ConfigSource> = {};
  for (const o of optionsFor(role)) {
    values.set(o.name, defaultValue(o));
    sources[o.name] = "default";
  }
  const labels = new Map<string, string>();

  if (jsonPath !== undefined) {
    const section = readJsonSection(role, jsonPath);
    for (const [key, raw] of Object.entries(section)) {
      const label = `${key} (in ${jsonPath})`;
      const o = optionsFor(role).find((x) => x.name === key);
      if (!o) {
        if (key === "cpe" || key === "relay") continue;
        throw new ConfigError(`${label}: ${notAnOption(role, key)}`, key);
      }
      if (raw === null) continue;
      const items = Array.isArray(raw) ? raw : [raw];
      const texts = items.map((v) => {
        const t = jsonScalarText(v);
        if (t === undefined)
          throw configExpected(label, "a string, number or boolean", JSON.stringify(v));
        return t;
      });
      if (!isListType(o.type) && Array.isArray(raw)) {
        throw configExpected(label, "a single value, not a list", JSON.stringify(raw));
      }
      values.set(o.name, parseValue(o, texts, label));
      sources[o.name] = "json";
      labels.set(o.name, label);
    }
  }

  for (const [rawKey, given] of flagEntries(flags)) {
    const key = rawKey.replace(/^--?/, "");
    let o = findOption(role, key);
    let vals = given;
    if (!o && key.startsWith("no-")) {
      // `--no-x` = `--x 0` for booleans.
      const b = findOption(role, key.slice(3));
      if (b && b.type === "bool") {
        o = b;
        vals = ["0"];
      }
    }
    const flag = "--" + key;
    if (!o) {
      throw new ConfigError(`${flag}: ${notAnOption(role, key)}`, flag);
    }
    // A bare boolean flag (`--direct-6to4`) arrives with no value or an empty one.
    if (o.type === "bool" && (vals.length === 0 || (vals.length === 1 && vals[0] === "")))
      vals = ["1"];
    values.set(o.name, parseValue(o, vals, o.flag));
    sources[o.name] = "flag";
    labels.set(o.name, o.flag);
  }

  const cfg: Record<string, unknown> = { role };
  for (const o of optionsFor(role)) cfg[o.key] = values.get(o.name);
  cfg.sources = Object.freeze(sources);
  const label = (name: string): string => labels.get(name) ?? "--" + name.replace(/_/g, "-");
  checkMapping(cfg, label);
  if (role === "cpe") checkCpe(cfg, label);
  // RFC 6732 §4.7: unset, the PMT customers are the declared customers; set empty, nobody.
  if (role === "relay" && cfg.pmtCustomerIpv4 === null) cfg.pmtCustomerIpv4 = cfg.customerIpv4;
  checkValues(role, cfg, label);
  return cfg;
}

/**
 * RFC 6732 §3.3 mapping shape: L + (32 − m) + s = 64, where the s SLA bits carried must fit the
 * 16-bit 6to4 SLA field, so m <= L − 16. (Finer SLA checks are addr/pmt-mapping.ts's.)
 */
function checkMapping(cfg: Record<string, unknown>, label: (name: string) => string): void {
  const p = cfg.providerPrefix as Ipv6Prefix | null;
  const m = cfg.ipv4PrefixLen as number;
  if (p && 32 - p.len + m > 16) {
    throw new ConfigError(
      `${label("ipv4_prefix_len")}: expected at most ${p.len - 16} with provider prefix /${p.len} (L + (32 - m) + SLA bits = 64, at most 16 SLA bits), got "${m}"`,
      label("ipv4_prefix_len"),
    );
  }
}

/** Cross-option rules of the CPE (RFC 4861 §6.2.1, RFC 9096, RFC 4213 §3.2). */
function checkCpe(cfg: Record<string, unknown>, label: (name: string) => string): void {
  const n = (k: string): number => cfg[k] as number;
  if (n("raMinInterval") > 0.75 * n("raMaxInterval")) {
    throw new ConfigError(
      `${label("ra_min_interval")}: expected at most 0.75 × ra_max_interval (${Math.floor(0.75 * n("raMaxInterval"))}), got "${n("raMinInterval")}"`,
      label("ra_min_interval"),
    );
  }
  const lifetime = n("raRouterLifetime");
  if (lifetime !== 0 && lifetime < n("raMaxInterval")) {
    throw new ConfigError(
      `${label("ra_router_lifetime")}: expected 0 or at least ra_max_interval (${n("raMaxInterval")}), got "${lifetime}"`,
      label("ra_router_lifetime"),
    );
  }
  if (n("raPreferredLifetime") > n("raValidLifetime")) {
    throw new ConfigError(
      `${label("ra_preferred_lifetime")}: expected at most ra_valid_lifetime (${n("raValidLifetime")}), got "${n("raPreferredLifetime")}"`,
      label("ra_preferred_lifetime"),
    );
  }
  checkDnsOptions(cfg, label);
  const wanMtu = cfg.wanMtu as number | null;
  const tunnelMtu = cfg.tunnelMtu as number | null;
  if (wanMtu !== null && tunnelMtu !== null && tunnelMtu > wanMtu - 20) {
    throw new ConfigError(
      `${label("tunnel_mtu")}: expected at most wan_mtu − 20 (${wanMtu - 20}), got "${tunnelMtu}"`,
      label("tunnel_mtu"),
    );
  }
}

/** RFC 8106 §5.1/§5.2: an option's Length is 8 bits in units of 8 octets, so at most 2040 bytes. */
const ND_OPTION_MAX_BYTES = 255 * 8;

/**
 * `dns` and `domain` must each fit in one RDNSS / DNSSL option (RFC 8106 §5): RDNSS is 8 bytes +
 * 16 per server (at most 127 servers); DNSSL is 8 bytes + the names in DNS wire form (RFC 1035
 * §3.1: a length byte per label, a zero byte at the end), padded to a multiple of 8.
 */
function checkDnsOptions(cfg: Record<string, unknown>, label: (name: string) => string): void {
  const dns = cfg.dns as readonly Uint8Array[];
  const rdnssBytes = 8 + 16 * dns.length;
  if (rdnssBytes > ND_OPTION_MAX_BYTES) {
    throw new ConfigError(
      `${label("dns")}: expected at most ${(ND_OPTION_MAX_BYTES - 8) / 16} servers (one RDNSS option of at most ${ND_OPTION_MAX_BYTES} bytes, RFC 8106 §5.1), got ${dns.length}`,
      label("dns"),
    );
  }
  const domains = cfg.domain as readonly string[];
  let wire = 8;
  for (const d of domains) wire += (d.endsWith(".") ? d.length - 1 : d.length) + 2;
  const dnsslBytes = Math.ceil(wire / 8) * 8;
  if (dnsslBytes > ND_OPTION_MAX_BYTES) {
    throw new ConfigError(
      `${label("domain")}: expected names that fit one DNSSL option of at most ${ND_OPTION_MAX_BYTES} bytes (RFC 8106 §5.2), got ${domains.length} names taking ${dnsslBytes} bytes`,
      label("domain"),
    );
  }
}

/**
 * Parses `6to4-pmt cpe` flags (and the JSON config file, if given) into a frozen CpeConfig.
 * @throws ConfigError naming the first bad option.
 */
export function parseCpeConfig(flags: FlagInput, jsonPath?: string): CpeConfig {
  return Object.freeze(parseConfig("cpe", flags, jsonPath)) as unknown as CpeConfig;
}

/**
 * Parses `6to4-pmt relay` flags (and the JSON config file, if given) into a frozen RelayConfig.
 * @throws ConfigError naming the first bad option.
 */
export function parseRelayConfig(flags: FlagInput, jsonPath?: string): RelayConfig {
  return Object.freeze(parseConfig("relay", flags, jsonPath)) as unknown as RelayConfig;
}
