/**
 * `6to4-pmt derive <ipv4> [--provider-prefix P/L] [--sla N] [--ipv4-prefix-len m]
 * [--pmt-customer-ipv4 PREFIX,...] [--opt-out PREFIX,...] [--non-customer relay|drop] [--json]`:
 * what 6to4 and 6to4-PMT make of one IPv4 address, with no privileges and no side effects.
 *
 * Flow: parse and validate (ConfigError -> one line, exit 2) -> classify the IPv4 address
 * (addr/classify.ts) -> derive 2002:V4ADDR::/48, the router address 2002:V4ADDR::1 and the LAN
 * 2002:V4ADDR:SLA::/64 (RFC 3056 §2) -> with a provider prefix, the translated /64 (RFC 6732
 * §3.3, addr/pmt-mapping.ts) and what a relay with that customer policy does with the site
 * (RFC 6732 §4.7, addr/pmt-customers.ts: translated for PMT customers only) -> a verdict with the
 * RFC that says so.
 */
import { ipv4Range, type Ipv4Class } from "../addr/classify.js";
import {
  formatIpv4,
  formatIpv4Prefix,
  ipv4Mask,
  parseIpv4,
  parseIpv4Prefix,
} from "../addr/ipv4.js";
import type { Ipv4Prefix } from "../addr/ipv4.js";
import { formatIpv6, parseIpv6Prefix } from "../addr/ipv6.js";
import { createPmtMapping, type PmtMapping, type PmtMappingOptions } from "../addr/pmt-mapping.js";
import {
  createPmtCustomerPolicy,
  NON_CUSTOMER_ACTIONS,
  pmtSiteVerdict,
} from "../addr/pmt-customers.js";
import {
  PMT_DROP_NOT_CUSTOMER,
  PMT_PLAIN_OPTED_OUT,
  PMT_TRANSLATE,
} from "../addr/pmt-customers.js";
import type { NonCustomerAction } from "../addr/pmt-customers.js";
import { sixToFourLan64, sixToFourPrefix, sixToFourRouterAddress } from "../addr/sixto4.js";
import { asConfigError, ConfigError } from "../config/config-error.js";
import { flagOn, lastValue, parseArgs, type FlagSpecs } from "./args.js";
import { EXIT_OK } from "./exit-codes.js";

const DERIVE_USAGE = `usage: 6to4-pmt derive <ipv4> [--provider-prefix P/L] [--sla N] [--ipv4-prefix-len m]
                       [--pmt-customer-ipv4 PREFIX,...] [--opt-out PREFIX,...] [--non-customer relay|drop] [--json]
Shows the class of an IPv4 address, its 6to4 /48, router address and LAN /64 (RFC 3056 §2),
the translated provider /64 (RFC 6732 §3.3) when --provider-prefix is given and what a relay with
that customer policy does with the site (RFC 6732 §4.7: PMT for its customers only), and whether
plain 6to4 can work, needs a PMT relay, or cannot work at all.
  --provider-prefix P/L   provider prefix, 16 <= L <= 32 (RFC 6732 §3.3 uses a /32)
  --sla N                 SLA ID of the LAN /64 and first mapped SLA, 0..65535 or 0x0..0xffff (default 0)
  --ipv4-prefix-len m     IPv4 bits common to all customers, not carried (as 6rd IPv4MaskLen,
                          RFC 5969); needs --provider-prefix; L + (32 - m) + SLA bits = 64
  --pmt-customer-ipv4 P   the relay's pmt_customer_ipv4 (comma-separated prefixes; needs
                          --provider-prefix); unset: "translated if a PMT customer"
  --opt-out P             the relay's opt_out (RFC 6732 §4.1); needs --provider-prefix
  --non-customer A        the relay's non_customer: relay (default) or drop; needs --provider-prefix
  --json                  one JSON object instead of text`;

const DERIVE_FLAGS: FlagSpecs = {
  "provider-prefix": { kind: "string", expects: "an IPv6 prefix P/L" },
  sla: { kind: "string", expects: "an integer 0..65535 or 0x0..0xffff" },
  "ipv4-prefix-len": { kind: "string", expects: "an integer 0..32" },
  "pmt-customer-ipv4": { kind: "string", expects: "a list of IPv4 prefixes a.b.c.d/len" },
  "opt-out": { kind: "string", expects: "a list of IPv4 prefixes a.b.c.d/len" },
  "non-customer": { kind: "string", expects: "relay or drop" },
  json: { kind: "boolean" },
  help: { kind: "boolean", short: "h" },
};

export type Verdict = "plain-6to4" | "pmt-relay" | "unusable";

const VERDICT_TEXT: Readonly<Record<Verdict, string>> = Object.freeze({
  "plain-6to4": "plain 6to4 usable",
  "pmt-relay": "needs a PMT relay that has it among its PMT customers (shared or unrouted space)",
  unusable: "unusable",
});

/**
 * What a PMT relay does with the site (RFC 6732 §4.7, addr/pmt-customers.ts): `if-customer` when
 * the relay's pmt_customer_ipv4 was not given.
 */
export type RelayPolicy = "translated" | "opted-out" | "not-a-customer" | "dropped" | "if-customer";

const RELAY_POLICY_TEXT: Readonly<Record<RelayPolicy, string>> = Object.freeze({
  translated: "translated: a PMT customer (RFC 6732 §4.7)",
  "opted-out": "plain 6to4: opted out (RFC 6732 §4.1)",
  "not-a-customer": "plain 6to4, untranslated: not a PMT customer (RFC 6732 §4.7)",
  dropped: "dropped: not a PMT customer, non_customer drop (RFC 6732 §4.7)",
  "if-customer":
    "translated only if the relay has it in pmt_customer_ipv4 (default customer_ipv4), else plain 6to4 or dropped (RFC 6732 §4.7)",
});

export interface DeriveResult {
  ipv4: string;
  class: Ipv4Class;
  classRfc: string;
  sixToFourPrefix: string;
  routerAddress: string;
  sla: number;
  lan64: string;
  providerPrefix: string | null;
  ipv4PrefixLen: number;
  ipv4CommonPrefix: string | null;
  slaBits: number | null;
  translatedLan64: string | null;
  /** With a provider prefix: what a relay with the given customer policy does (RFC 6732 §4.7). */
  relayPolicy: RelayPolicy | null;
  relayPolicyText: string | null;
  verdict: Verdict;
  verdictText: string;
  verdictRfc: string;
}

export interface DeriveOptions {
  providerPrefix?: string;
  sla?: string;
  ipv4PrefixLen?: string;
  /** The relay's pmt_customer_ipv4, comma-separated ("" = nobody). */
  pmtCustomerIpv4?: string;
  /** The relay's opt_out, comma-separated. */
  optOut?: string;
  /** The relay's non_customer. */
  nonCustomer?: string;
}

/** Verdict and its RFC for an IPv4 class. */
function verdictFor(cls: Ipv4Class): { verdict: Verdict; text: string; rfc: string } {
  switch (cls) {
    case "global":
      return { verdict: "plain-6to4", text: VERDICT_TEXT["plain-6to4"], rfc: "RFC 3056 §2" };
    case "shared":
      return {
        verdict: "pmt-relay",
        text: VERDICT_TEXT["pmt-relay"],
        rfc: "RFC 6598 §5, RFC 6732 §4.2, §4.7",
      };
    case "documentation":
    case "benchmarking":
    case "ietf-protocol":
      return {
        verdict: "pmt-relay",
        text: VERDICT_TEXT["pmt-relay"],
        rfc: "RFC 6732 §4.2 (not routed on the Internet), §4.7",
      };
    case "private":
      return {
        verdict: "unusable",
        text: `${VERDICT_TEXT.unusable} (private)`,
        rfc: "RFC 3056 §2, RFC 6343 §4.1 item 3, RFC 3964 §5.3.1",
      };
    case "6to4-relay-anycast":
      return {
        verdict: "unusable",
        text: `${VERDICT_TEXT.unusable} (6to4 relay anycast)`,
        rfc: "RFC 3068 §2.3, RFC 7526",
      };
    default:
      return {
        verdict: "unusable",
        text: `${VERDICT_TEXT.unusable} (${cls})`,
        rfc: "RFC 3964 §5.3.1",
      };
  }
}

function parseUint(option: string, text: string, max: number, hexOk: boolean): number {
  const ok = /^(?:0|[1-9][0-9]*)$/.test(text) || (hexOk && /^0x[0-9a-fA-F]{1,4}$/.test(text));
  const n = ok ? Number(text) : NaN;
  if (!Number.isInteger(n) || n > max) {
    throw new ConfigError(
      `${option}: expected an integer 0..${max}${hexOk ? " (or 0x0..0xffff)" : ""}, got ${JSON.stringify(text)}`,
      option,
    );
  }
  return n;
}

/** A comma-separated list of IPv4 prefixes ("" = none). @throws ConfigError naming `option` */
function parsePrefixList(option: string, text: string): Ipv4Prefix[] {
  return text
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t !== "")
    .map((t) => {
      const p = parseIpv4Prefix(t);
      if (p === null || !t.includes("/")) {
        throw new ConfigError(
          `${option}: expected a list of IPv4 prefixes a.b.c.d/len, got ${JSON.stringify(t)}`,
          option,
        );
      }
      return p;
    });
}

/** The relay's customer policy for the site at `v4` (RFC 6732 §4.7). @throws ConfigError */
function relayPolicyFor(v4: number, options: DeriveOptions): RelayPolicy {
  let nonCustomer: NonCustomerAction = "relay";
  if (options.nonCustomer !== undefined) {
    if (!(NON_CUSTOMER_ACTIONS as readonly string[]).includes(options.nonCustomer)) {
      throw new ConfigError(
        `--non-customer: expected one of relay|drop, got ${JSON.stringify(options.nonCustomer)}`,
        "--non-customer",
      );
    }
    nonCustomer = options.nonCustomer as NonCustomerAction;
  }
  const optOut = options.optOut === undefined ? [] : parsePrefixList("--opt-out", options.optOut);
  if (options.pmtCustomerIpv4 === undefined) {
    // Unknown customers: only the opt-out is certain.
    const p = createPmtCustomerPolicy({ customers: [], optOut });
    return pmtSiteVerdict(p, v4) === PMT_PLAIN_OPTED_OUT ? "opted-out" : "if-customer";
  }
  const customers = parsePrefixList("--pmt-customer-ipv4", options.pmtCustomerIpv4);
  switch (pmtSiteVerdict(createPmtCustomerPolicy({ customers, optOut, nonCustomer }), v4)) {
    case PMT_TRANSLATE:
      return "translated";
    case PMT_PLAIN_OPTED_OUT:
      return "opted-out";
    case PMT_DROP_NOT_CUSTOMER:
      return "dropped";
    default:
      return "not-a-customer";
  }
}

/** createPmtMapping with its errors as ConfigErrors. @throws ConfigError */
function configuredMapping(options: PmtMappingOptions): PmtMapping {
  try {
    return createPmtMapping(options);
  } catch (e) {
    throw asConfigError(e) ?? e;
  }
}

/** Computes everything `derive` prints. @throws ConfigError naming the bad option. */
export function derive(ipv4Text: string, options: DeriveOptions = {}): DeriveResult {
  const v4 = parseIpv4(ipv4Text);
  if (v4 === null) {
    throw new ConfigError(
      `<ipv4>: expected a dotted-quad IPv4 address such as 192.0.2.1, got ${JSON.stringify(ipv4Text)}`,
      "<ipv4>",
    );
  }
  const sla = options.sla === undefined ? 0 : parseUint("--sla", options.sla, 0xffff, true);
  let m = 0;
  if (options.ipv4PrefixLen !== undefined) {
    m = parseUint("--ipv4-prefix-len", options.ipv4PrefixLen, 32, false);
    if (options.providerPrefix === undefined) {
      throw new ConfigError(
        `--ipv4-prefix-len: expected only together with --provider-prefix, got ${JSON.stringify(options.ipv4PrefixLen)}`,
        "--ipv4-prefix-len",
      );
    }
  }
  for (const [flag, value] of [
    ["--pmt-customer-ipv4", options.pmtCustomerIpv4],
    ["--opt-out", options.optOut],
    ["--non-customer", options.nonCustomer],
  ] as const) {
    if (value !== undefined && options.providerPrefix === undefined) {
      throw new ConfigError(
        `${flag}: expected only together with --provider-prefix, got ${JSON.stringify(value)}`,
        flag,
      );
    }
  }
  let providerPrefix: string | null = null;
  let translated: string | null = null;
  let slaBits: number | null = null;
  let relayPolicy: RelayPolicy | null = null;
  if (options.providerPrefix !== undefined) {
    const p = parseIpv6Prefix(options.providerPrefix);
    if (p === null || !options.providerPrefix.includes("/")) {
      throw new ConfigError(
        `--provider-prefix: expected an IPv6 prefix P/L with 16 <= L <= 32, got ${JSON.stringify(options.providerPrefix)}`,
        "--provider-prefix",
      );
    }
    // As a 6rd CE does (RFC 5969 §7.1.1), the common IPv4 prefix is taken from the address itself.
    const mapping = configuredMapping({
      providerPrefix: p,
      ipv4PrefixLen: m,
      ipv4CommonPrefix: v4,
      sla,
    });
    providerPrefix = `${formatIpv6(mapping.providerPrefix.addr)}/${mapping.providerPrefix.len}`;
    slaBits = mapping.slaBits;
    const lan = mapping.translatedLan64(v4);
    translated = lan === null ? null : `${formatIpv6(lan)}/64`;
    relayPolicy = relayPolicyFor(v4, options);
  }
  const range = ipv4Range(v4);
  const verdict = verdictFor(range.cls);
  return {
    ipv4: formatIpv4(v4),
    class: range.cls,
    classRfc: range.rfc,
    sixToFourPrefix: `${formatIpv6(sixToFourPrefix(v4))}/48`,
    routerAddress: formatIpv6(sixToFourRouterAddress(v4)),
    sla,
    lan64: `${formatIpv6(sixToFourLan64(v4, sla))}/64`,
    providerPrefix,
    ipv4PrefixLen: m,
    ipv4CommonPrefix:
      providerPrefix === null || m === 0
        ? null
        : formatIpv4Prefix({ addr: (v4 & ipv4Mask(m)) >>> 0, len: m }),
    slaBits,
    translatedLan64: translated,
    relayPolicy,
    relayPolicyText: relayPolicy === null ? null : RELAY_POLICY_TEXT[relayPolicy],
    verdict: verdict.verdict,
    verdictText: verdict.text,
    verdictRfc: verdict.rfc,
  };
}

/** The text form: one `label  value` line per item. */
export function formatDerive(r: DeriveResult): string {
  const rows: [string, string][] = [
    ["IPv4 address", r.ipv4],
    ["Class", `${r.class}; ${r.classRfc}`],
    ["6to4 prefix", `${r.sixToFourPrefix} (RFC 3056 §2)`],
    ["Router address", r.routerAddress],
    ["LAN /64", `${r.lan64} (SLA ${r.sla})`],
  ];
  if (r.providerPrefix !== null) {
    rows.push(["Provider prefix", r.providerPrefix]);
    if (r.ipv4CommonPrefix !== null) rows.push(["IPv4 common prefix", r.ipv4CommonPrefix]);
    rows.push([
      "Translated /64",
      r.translatedLan64 === null ? "not mapped" : `${r.translatedLan64} (RFC 6732 §3.3)`,
    ]);
    if (r.relayPolicyText !== null) rows.push(["Relay policy", r.relayPolicyText]);
  }
  rows.push(["Verdict", `${r.verdictText}; ${r.verdictRfc}`]);
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  return rows.map(([k, v]) => `${k.padEnd(width)}${v}`).join("\n") + "\n";
}

export interface DeriveIo {
  out(text: string): void;
}

const stdio: DeriveIo = { out: (t) => process.stdout.write(t) };

/** Runs `derive` with `args` (after "derive"); returns the exit code. @throws ConfigError */
export function runDerive(args: readonly string[], io: DeriveIo = stdio): number {
  const parsed = parseArgs(args, DERIVE_FLAGS);
  if (flagOn(parsed, "help")) {
    io.out(DERIVE_USAGE + "\n");
    return EXIT_OK;
  }
  if (parsed.positionals.length === 0) {
    throw new ConfigError(
      "<ipv4>: expected an IPv4 address, e.g. 6to4-pmt derive 192.0.2.1",
      "<ipv4>",
    );
  }
  if (parsed.positionals.length > 1) {
    throw new ConfigError(
      `<ipv4>: expected one address, got extra argument ${JSON.stringify(parsed.positionals[1])}`,
      "<ipv4>",
    );
  }
  const options: DeriveOptions = {};
  const pp = lastValue(parsed, "provider-prefix");
  const sla = lastValue(parsed, "sla");
  const m = lastValue(parsed, "ipv4-prefix-len");
  const customers = lastValue(parsed, "pmt-customer-ipv4");
  const optOut = lastValue(parsed, "opt-out");
  const nonCustomer = lastValue(parsed, "non-customer");
  if (pp !== undefined) options.providerPrefix = pp;
  if (sla !== undefined) options.sla = sla;
  if (m !== undefined) options.ipv4PrefixLen = m;
  if (customers !== undefined) options.pmtCustomerIpv4 = customers;
  if (optOut !== undefined) options.optOut = optOut;
  if (nonCustomer !== undefined) options.nonCustomer = nonCustomer;
  const result = derive(parsed.positionals[0]!, options);
  io.out(flagOn(parsed, "json") ? JSON.stringify(result, null, 2) + "\n" : formatDerive(result));
  return EXIT_OK;
}
