/**
 * The one table of daemon options, as odhcpd's `iface_attrs` policy table: every option has its
 * UCI name (also the JSON config key), its command-line flag, a type, a default, bounds and the
 * RFC section it comes from. This table drives:
 *   - config/parse.ts (flags + JSON -> typed, frozen CpeConfig / RelayConfig),
 *   - the init script's `uci_load_validate` spec (`uciValidateSpec`),
 *   - the LuCI view's datatypes and placeholders (`luciDatatype`, checked by a test),
 *   - the option tables of docs/openwrt.md, /etc/config/6to4-pmt and the init script's mapping
 *     block (openwrt-package/tools/openwrt-gen.ts, checked by a test),
 *   - `6to4-pmt cpe --help` and `6to4-pmt relay --help` (cli/option-help.ts).
 *
 * Defaults are written as UCI text (what `uci get` would print) so every consumer shows the same
 * thing; parse.ts turns them into typed values with the same code that parses user input.
 */

export type Role = "cpe" | "relay";

export type OptionType =
  | "bool"
  | "int"
  | "string"
  | "enum"
  | "path"
  | "ipv4"
  | "ipv4prefix"
  | "ipv6"
  | "ipv6prefix"
  | "list<ipv4>"
  | "list<ipv4prefix>"
  | "list<ipv6>"
  | "list<string>";

export interface OptionSpec {
  /** UCI option name and JSON config key (snake_case). */
  readonly name: string;
  /** Command-line flag: `--` + name with `_` -> `-`. */
  readonly flag: string;
  /** camelCase property of the parsed Config object. */
  readonly key: string;
  readonly type: OptionType;
  /** Default as UCI text; absent = no default (learned at run time, or unset). */
  readonly default?: string | readonly string[];
  /** What happens when there is no default, for the README and LuCI placeholders. */
  readonly defaultNote?: string;
  /** Default written by the OpenWrt package's /etc/config/6to4-pmt when it differs. */
  readonly uciDefault?: string;
  /** Inclusive bounds for `int`. */
  readonly min?: number;
  readonly max?: number;
  /** Allowed values for `enum`. */
  readonly choices?: readonly string[];
  /** Prefix length bounds for `ipv6prefix` / `ipv4prefix`. */
  readonly minPrefixLen?: number;
  readonly maxPrefixLen?: number;
  /** Extra shape check for `string` values: a Linux device name, a DNS name or an IP literal. */
  readonly format?: "netdev" | "hostname" | "ipaddr";
  /**
   * A path or program a root daemon opens, replaces or runs: taken from the command line or the
   * JSON file only. The OpenWrt init script never reads it from /etc/config/6to4-pmt, which LuCI
   * users may write (rpcd ACLs are per config, not per option), so there the built-in default holds.
   */
  readonly commandLineOnly?: boolean;
  /** Unit shown in help and README (`s`, `bytes`, `/s`). */
  readonly unit?: string;
  readonly description: string;
  /** RFC reference(s), e.g. "RFC 4213 §3.2"; "" when the option is operational only. */
  readonly rfc: string;
  readonly appliesTo: readonly Role[];
}

function opt(
  name: string,
  type: OptionType,
  appliesTo: readonly Role[],
  description: string,
  rfc: string,
  extra: Partial<
    Omit<OptionSpec, "name" | "flag" | "key" | "type" | "appliesTo" | "description" | "rfc">
  > = {},
): OptionSpec {
  return Object.freeze({
    name,
    flag: "--" + name.replace(/_/g, "-"),
    key: name.replace(/_([a-z0-9])/g, (_m, c: string) => c.toUpperCase()),
    type,
    appliesTo: Object.freeze([...appliesTo]),
    description,
    rfc,
    ...extra,
  });
}

const CPE: readonly Role[] = ["cpe"];
const RELAY: readonly Role[] = ["relay"];
const BOTH: readonly Role[] = ["cpe", "relay"];

/** RFC 3068 §2.3: the 6to4 relay anycast address. */
const SIXTO4_RELAY_ANYCAST = "192.88.99.1";

/** Every option, CPE first, then relay-only ones. Options shared by both roles appear once. */
export const OPTIONS: readonly OptionSpec[] = Object.freeze([
  opt(
    "enabled",
    "bool",
    BOTH,
    "Run the daemon. Off until enabled, since 6to4 is Historic.",
    "RFC 7526 §5",
    {
      default: "0",
    },
  ),
  // --- CPE: WAN side -------------------------------------------------------------------------
  opt("wan_device", "string", CPE, "Linux network device of the WAN (the IPv4 uplink).", "", {
    format: "netdev",
    defaultNote: "from wan_interface (netifd) or the IPv4 default route",
  }),
  opt("wan_interface", "string", CPE, "OpenWrt logical interface of the WAN (netifd).", "", {
    format: "netdev",
    default: "wan",
  }),
  opt(
    "wan_ipv4",
    "ipv4",
    CPE,
    "Static WAN IPv4 address; overrides the learned one.",
    "RFC 3056 §2",
    {
      defaultNote: "learned from the WAN",
    },
  ),
  opt("wan_mtu", "int", CPE, "WAN MTU; overrides the learned one.", "RFC 4213 §3.2", {
    min: 1280,
    max: 65535,
    unit: "bytes",
    defaultNote: "learned, else 1500",
  }),
  opt(
    "relay",
    "list<ipv4>",
    CPE,
    "IPv4 address(es) of the 6to4 (PMT) relay; first reachable is used.",
    "RFC 3068 §2.3",
    {
      default: [SIXTO4_RELAY_ANYCAST],
    },
  ),
  // --- CPE: LAN side and tunnel -----------------------------------------------------------------
  opt(
    "lan_device",
    "string",
    CPE,
    "Linux network device of the LAN where the prefix is advertised.",
    "",
    {
      format: "netdev",
      default: "br-lan",
    },
  ),
  opt("tun_name", "string", CPE, "Name of the TUN device the CPE creates.", "", {
    format: "netdev",
    default: "6to4pmt0",
  }),
  opt("tunnel_mtu", "int", CPE, "IPv6 MTU of the tunnel; never below 1280.", "RFC 4213 §3.2", {
    min: 1280,
    max: 65515,
    unit: "bytes",
    defaultNote: "wan_mtu − 20",
  }),
  // --- Mapping (both roles) -----------------------------------------------------------------------
  opt(
    "provider_prefix",
    "ipv6prefix",
    BOTH,
    "Provider prefix P/L the 6to4 prefix is translated to (PMT); unset = plain 6to4.",
    "RFC 6732 §3.3",
    { minPrefixLen: 16, maxPrefixLen: 32, defaultNote: "none, or DHCPv4 option 212" },
  ),
  opt(
    "ipv4_prefix_len",
    "int",
    BOTH,
    "Leading IPv4 bits common to all customers and left out of the mapping (as 6rd IPv4MaskLen).",
    "RFC 6732 §3.3, RFC 5969 §7.1.1",
    { min: 0, max: 32, default: "0" },
  ),
  opt(
    "sla",
    "int",
    BOTH,
    "The 6to4 SLA (subnet) that is mapped to the provider prefix.",
    "RFC 6732 §3.3, RFC 3056 §2",
    {
      min: 0,
      max: 65535,
      default: "0",
    },
  ),
  // --- CPE: routing -------------------------------------------------------------------------------
  opt(
    "default_route",
    "ipv6prefix",
    CPE,
    "IPv6 destinations routed into the tunnel.",
    "RFC 3056 §5.3",
    {
      minPrefixLen: 0,
      maxPrefixLen: 128,
      default: "::/0",
    },
  ),
  opt(
    "direct_6to4",
    "bool",
    CPE,
    "Send to 2002::/16 destinations directly to their embedded IPv4.",
    "RFC 3056 §5.3",
    {
      default: "1",
    },
  ),
  opt(
    "allow_ipv4",
    "list<ipv4prefix>",
    CPE,
    "Extra IPv4 ranges accepted as 6to4 peers although RFC 3964 lists them (e.g. 100.64.0.0/10).",
    "RFC 3964 §5.3.1",
    { default: [] },
  ),
  opt(
    "wan_gro",
    "enum",
    CPE,
    "Fraglist and UDP-forwarding GRO on the WAN device and the devices it runs on (eth0 under " +
      "eth0.2, the Ethernet under PPPoE), which merge 6in4's inner UDP beyond repair: auto " +
      "turns them off once that is seen, off as soon as the WAN is known, keep leaves them (a " +
      "warning names the ethtool command). Turned back on at exit.",
    "",
    { choices: ["auto", "off", "keep"], default: "auto" },
  ),
  opt(
    "wan_send",
    "enum",
    BOTH,
    "How the userspace data plane sends protocol 41: raw (a raw IPv4 socket; the kernel routes, " +
      "resolves ARP and runs netfilter OUTPUT/POSTROUTING per packet) or packet (AF_PACKET " +
      "straight to the next hop's link-layer address, resolved by the daemon from the routing " +
      "and neighbour tables: the CPE's for the relay, the relay's for the customer ranges routed " +
      "through one gateway of the main table; less CPU per packet, but firewall output rules and " +
      "counters do not see these packets and policy routing is followed only when resolved).",
    "",
    { choices: ["raw", "packet"], default: "raw" },
  ),
  opt(
    "dataplane",
    "enum",
    CPE,
    "Who forwards: kernel (a sit tunnel and an nft table with the prefix translation and the " +
      "RFC 3964 checks; the daemon only controls them), userspace (the daemon over a TUN), or " +
      "auto: kernel when the kernel has sit and nft prefix NAT, else userspace.",
    "RFC 3056 §5, RFC 6732 §3.3",
    { choices: ["auto", "kernel", "userspace"], default: "auto" },
  ),
  // --- CPE: Router Advertisements --------------------------------------------------------------
  opt(
    "ra",
    "enum",
    CPE,
    "Who advertises the LAN prefix: builtin RA sender, netifd (odhcpd on OpenWrt), or off.",
    "RFC 4861 §6.2",
    { choices: ["builtin", "netifd", "off"], default: "builtin", uciDefault: "netifd" },
  ),
  opt(
    "ra_min_interval",
    "int",
    CPE,
    "MinRtrAdvInterval; at most 0.75 × ra_max_interval.",
    "RFC 4861 §6.2.1",
    {
      min: 3,
      max: 1350,
      unit: "s",
      default: "200",
    },
  ),
  opt("ra_max_interval", "int", CPE, "MaxRtrAdvInterval.", "RFC 4861 §6.2.1", {
    min: 4,
    max: 1800,
    unit: "s",
    default: "600",
  }),
  opt(
    "ra_router_lifetime",
    "int",
    CPE,
    "AdvDefaultLifetime; 0 or at least ra_max_interval. Sent as 0 while the tunnel is down.",
    "RFC 4861 §6.2.1, RFC 7084 L-4",
    { min: 0, max: 9000, unit: "s", default: "1800" },
  ),
  opt(
    "ra_preferred_lifetime",
    "int",
    CPE,
    "Preferred lifetime of the advertised prefix.",
    "RFC 9096 §3.4",
    {
      min: 0,
      max: 2700,
      unit: "s",
      default: "2700",
    },
  ),
  opt(
    "ra_valid_lifetime",
    "int",
    CPE,
    "Valid lifetime of the advertised prefix; at least ra_preferred_lifetime.",
    "RFC 9096 §3.4",
    { min: 0, max: 5400, unit: "s", default: "5400" },
  ),
  opt("ra_preference", "enum", CPE, "Default router preference.", "RFC 4191 §2.2", {
    choices: ["low", "medium", "high"],
    default: "medium",
  }),
  opt(
    "dns",
    "list<ipv6>",
    CPE,
    "Recursive DNS servers advertised in RAs (RDNSS).",
    "RFC 8106 §5.1",
    {
      default: [],
    },
  ),
  opt(
    "domain",
    "list<string>",
    CPE,
    "DNS search domains advertised in RAs (DNSSL).",
    "RFC 8106 §5.2",
    {
      format: "hostname",
      default: [],
    },
  ),
  // --- CPE: tunnel health -------------------------------------------------------------------------
  opt(
    "health_target",
    "ipv6",
    CPE,
    "Address probed with ICMPv6 echo through the relay.",
    "RFC 6343 §4.4",
    {
      defaultNote: "the relay's 6to4 address",
    },
  ),
  opt("health_interval", "int", CPE, "Seconds between health probes.", "RFC 7084 L-4", {
    min: 1,
    max: 3600,
    unit: "s",
    default: "5",
  }),
  opt(
    "health_failures",
    "int",
    CPE,
    "Consecutive failed probes before the default route is withdrawn (router lifetime 0).",
    "RFC 7084 L-4",
    { min: 1, max: 100, default: "3" },
  ),
  opt(
    "netifd_hook",
    "path",
    CPE,
    "With ra netifd: program run as `update <tun> <prefix/len> <preferred_s> <valid_s> <mtu>` when the LAN prefix is (re)published and `withdraw <tun>` when it is withdrawn; it hands the prefix to netifd so odhcpd advertises it.",
    "RFC 9096 §3.4",
    { default: "/usr/lib/6to4-pmt/netifd-prefix", commandLineOnly: true },
  ),
  opt(
    "use_dhcp_6rd",
    "bool",
    CPE,
    "Take relay, provider prefix and IPv4 prefix length from DHCPv4 option 212 when present.",
    "RFC 5969 §7.1.1",
    { default: "1" },
  ),
  opt(
    "state_file",
    "path",
    CPE,
    "Where advertised prefixes are remembered across restarts.",
    "RFC 9096 §3.5",
    {
      default: "/var/lib/6to4-pmt/state.json",
      commandLineOnly: true,
    },
  ),
  opt(
    "status_socket",
    "path",
    CPE,
    "Unix socket (mode 0600: root and the daemon's user) that `6to4-pmt status` asks.",
    "",
    // In the run directory the daemon's user owns (docs/security.md).
    { default: "/var/run/6to4-pmt/status.sock", commandLineOnly: true },
  ),
  // --- Relay ----------------------------------------------------------------------------------------
  opt(
    "relay_ipv4",
    "list<ipv4>",
    RELAY,
    "IPv4 addresses the relay receives protocol 41 on.",
    "RFC 3068 §2.3",
    {
      default: [SIXTO4_RELAY_ANYCAST],
    },
  ),
  opt(
    "customer_ipv4",
    "list<ipv4prefix>",
    RELAY,
    "Operator-declared customer IPv4 ranges accepted as 6to4 sources (e.g. 100.64.0.0/10).",
    "RFC 3964 §5.2",
    { default: [] },
  ),
  opt(
    "pmt_customer_ipv4",
    "list<ipv4prefix>",
    RELAY,
    "IPv4 ranges of the 6to4 sites the relay translates to the provider prefix (PMT customers); other sources are never translated, nor is traffic to their provider addresses. An empty list translates nobody.",
    "RFC 6732 §4.7",
    { defaultNote: "customer_ipv4" },
  ),
  opt(
    "opt_out",
    "list<ipv4prefix>",
    RELAY,
    "Customer IPv4 prefixes relayed untranslated (plain 6to4).",
    "RFC 6732 §4.1",
    {
      default: [],
    },
  ),
  opt(
    "non_customer",
    "enum",
    RELAY,
    "Protocol 41 from (and 6to4 traffic to) IPv4 addresses outside pmt_customer_ipv4 and opt_out: relay = plain 6to4, drop = dropped and counted (non_customer).",
    "RFC 6732 §4.7",
    { choices: ["relay", "drop"], default: "relay" },
  ),
  opt(
    "other_relays",
    "list<ipv4>",
    RELAY,
    "IPv4 addresses of other relays; protocol 41 from them is dropped.",
    "RFC 5969 §12",
    {
      default: [],
    },
  ),
  // --- Relay: health and announcement (docs/relay-fleet.md) --------------------------------------
  opt(
    "announce_ipv4",
    "list<ipv4>",
    RELAY,
    "Anycast IPv4 addresses (e.g. 192.88.99.1) the relay routes as /32 into its TUN with kernel protocol 41 while it is healthy, for a routing daemon (BIRD) to announce; the provider prefix and 2002::/16 routes then carry protocol 41 too and are removed while unhealthy. Empty: the routes are static.",
    "RFC 3068 §4.2, §4.4",
    { default: [] },
  ),
  opt(
    "health_target",
    "ipv6",
    RELAY,
    "Address on the relay's IPv6 upstream probed with ICMPv6 echo; while it does not answer the relay announces nothing (announce_ipv4).",
    "RFC 3068 §4.4",
    { defaultNote: "none: healthy while running" },
  ),
  opt("health_interval", "int", RELAY, "Seconds between upstream probes.", "RFC 3068 §4.4", {
    min: 1,
    max: 3600,
    unit: "s",
    default: "1",
  }),
  opt(
    "health_failures",
    "int",
    RELAY,
    "Consecutive failed upstream probes before the announcement is withdrawn.",
    "RFC 3068 §4.4",
    { min: 1, max: 100, default: "2" },
  ),
  opt("tun_name", "string", RELAY, "Name of the TUN device the relay creates.", "", {
    format: "netdev",
    default: "6to4pmt-r0",
  }),
  opt("tunnel_mtu", "int", RELAY, "IPv6 MTU of the relay's tunnel.", "RFC 4213 §3.2", {
    min: 1280,
    max: 65515,
    unit: "bytes",
    default: "1480",
  }),
  opt("metrics_port", "int", RELAY, "Prometheus metrics on metrics_address:<port>; 0 = off.", "", {
    min: 0,
    max: 65535,
    default: "0",
  }),
  opt(
    "metrics_address",
    "string",
    RELAY,
    "IPv4 or IPv6 address the metrics listener binds (0.0.0.0 or :: = every address).",
    "",
    { format: "ipaddr", default: "127.0.0.1" },
  ),
  opt(
    "status_socket",
    "path",
    RELAY,
    "Unix socket (mode 0600: root and the relay's user) that `6to4-pmt status --relay` asks.",
    "",
    { default: "/var/run/6to4-pmt/relay.sock", commandLineOnly: true },
  ),
  opt(
    "icmp_rate_limit",
    "int",
    RELAY,
    "ICMPv6 error messages per second at most, all workers together (each gets an equal part).",
    "RFC 6343 §4.4, RFC 4443 §2.4(f)",
    {
      min: 1,
      max: 1000000,
      unit: "/s",
      default: "1000",
    },
  ),
  opt(
    "workers",
    "int",
    RELAY,
    "Data-plane workers, each with its own TUN queue and share of the customers (by outer IPv4 source): the main thread and workers - 1 worker threads; 0 = one per CPU core (each worker thread beyond the first costs about 10 MB of RSS), 1 = the main thread alone.",
    "",
    { min: 0, max: 256, default: "0" },
  ),
  opt(
    "packet_receive",
    "list<string>",
    RELAY,
    "Devices on which protocol 41 to relay_ipv4 is read through AF_PACKET instead of the raw socket: where GRO on the device merges the 6in4 segments of an inner TCP flow (Linux 6to4 senders, our CPE), the merged packet is forwarded whole and cut at the sender's segment size (the raw socket loses it and cuts at 1280; merged UDP it cannot take apart at all). An nft netdev ingress rule of the relay's own drops those packets before the IP stack (needs nft); fragments take the raw socket as before. Empty: the raw socket only.",
    "",
    { format: "netdev", default: [] },
  ),
  // --- Both -----------------------------------------------------------------------------------------
  opt(
    "log_level",
    "enum",
    BOTH,
    "Least severe log level written to stderr (logd on OpenWrt).",
    "",
    {
      choices: ["error", "warn", "info", "debug"],
      default: "info",
    },
  ),
  opt(
    "user",
    "string",
    BOTH,
    "User (name, uid or uid:gid) to run as once the TUN, sockets and routes are set up, with only the capabilities still needed and no_new_privs. Unset: the starting user (root stays uid 0 without the other capabilities).",
    "",
    { defaultNote: "the starting user", uciDefault: "6to4pmt" },
  ),
]);

/** The options of one role, in table order. Each name appears once per role. */
export function optionsFor(role: Role): readonly OptionSpec[] {
  return role === "cpe" ? CPE_OPTIONS : RELAY_OPTIONS;
}

const CPE_OPTIONS = Object.freeze(OPTIONS.filter((o) => o.appliesTo.includes("cpe")));
const RELAY_OPTIONS = Object.freeze(OPTIONS.filter((o) => o.appliesTo.includes("relay")));

/** Finds an option of `role` by UCI name, flag (`--x-y`, `x-y`) or camelCase key. */
export function findOption(role: Role, nameOrFlag: string): OptionSpec | undefined {
  const n = nameOrFlag.replace(/^--?/, "").replace(/-/g, "_");
  return optionsFor(role).find((o) => o.name === n || o.key === nameOrFlag);
}

export function isListType(t: OptionType): boolean {
  return t.startsWith("list<");
}

/** Element type of a list type (`list<ipv4>` -> `ipv4`), the type itself otherwise. */
export function elementType(t: OptionType): OptionType {
  const m = /^list<(.+)>$/.exec(t);
  return (m ? m[1] : t) as OptionType;
}

/** Default as display text: UCI value, list joined with ", ", or the note in parentheses. */
/** The type with its bounds and unit, as help and README show it: `int 1280..65515 (bytes)`. */
export function typeText(o: OptionSpec): string {
  let t: string = o.type;
  if (o.type === "int") t += ` ${o.min}..${o.max}`;
  if (o.type === "enum") t += ` ${(o.choices ?? []).join(" | ")}`;
  if (o.type === "ipv6prefix" && o.minPrefixLen !== undefined && o.minPrefixLen > 0) {
    t += ` /${o.minPrefixLen}../${o.maxPrefixLen}`;
  }
  if (o.unit) t += ` (${o.unit})`;
  return t;
}

export function defaultText(o: OptionSpec): string {
  if (o.default === undefined) return "";
  return typeof o.default === "string" ? o.default : o.default.join(", ");
}

function scalarDatatype(o: OptionSpec, t: OptionType): string {
  switch (t) {
    case "bool":
      return "bool";
    case "int":
      if (o.min !== undefined && o.max !== undefined) return `range(${o.min},${o.max})`;
      return "uinteger";
    case "enum":
      return `or(${(o.choices ?? []).map((c) => `"${c}"`).join(",")})`;
    case "ipv4":
      return "ip4addr";
    case "ipv4prefix":
      return "cidr4";
    case "ipv6":
      return "ip6addr";
    case "ipv6prefix":
      return "cidr6";
    default:
      if (o.format === "netdev") return "maxlength(15)";
      if (o.format === "hostname") return "hostname";
      if (o.format === "ipaddr") return "ipaddr";
      return "string";
  }
}

/**
 * The datatype expression OpenWrt's validator (ubox `validate_data`, `uci_load_validate`) uses for
 * this option: `range(1280,65515)`, `cidr6`, `list(ip4addr)`, `or("low","medium","high")`.
 */
export function uciDatatype(o: OptionSpec): string {
  const el = scalarDatatype(o, elementType(o.type));
  return isListType(o.type) ? `list(${el})` : el;
}

/**
 * The LuCI `datatype` of the form field (LuCI's validation.js names), or "" for none (Flag, ListValue).
 * Lists use LuCI's DynamicList, whose datatype is that of one element.
 */
export function luciDatatype(o: OptionSpec): string {
  const t = elementType(o.type);
  switch (t) {
    case "bool":
    case "enum":
      return "";
    case "ipv4":
      return "ip4addr";
    case "ipv6":
      return "ip6addr";
    default:
      return scalarDatatype(o, t) === "string" ? "" : scalarDatatype(o, t);
  }
}

/**
 * One `uci_load_validate` argument (`name:datatype[:default]`) for OpenWrt's init script. Only
 * `enabled` and UCI-specific defaults are given: everything else is left unset so the daemon applies
 * the defaults of this table and the command line stays short.
 */
export function uciValidateSpec(o: OptionSpec): string {
  const def = o.uciDefault ?? (o.name === "enabled" ? defaultText(o) : undefined);
  return `${o.name}:${uciDatatype(o)}${def !== undefined ? ":" + def : ""}`;
}
