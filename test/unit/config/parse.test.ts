// config/parse.ts: flags > JSON config (UCI names) > schema defaults; one-line ConfigError naming
// the option. RFC refs: RFC 4213 §3.2 (tunnel MTU), RFC 4861 §6.2.1 (RA intervals), RFC 9096
// (lifetimes), RFC 6732 §3.3 (mapping shape), RFC 7526 §5 (disabled by default).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import {
  expectedValue,
  notAnOption,
  parseBooleanWord,
  parseCpeConfig,
  parseRelayConfig,
} from "../../../module/config/parse.js";
import { ConfigError } from "../../../module/config/config-error.js";
import { formatIpv6Prefix } from "../../../module/addr/ipv6.js";
import { formatIpv4 } from "../../../module/addr/ipv4.js";
import { optionsFor } from "../../../module/config/schema.js";
import { dnsslOption } from "../../../module/codec/nd-options.js";

const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-config-"));
after(() => rmSync(dir, { recursive: true, force: true }));
let n = 0;
function jsonFile(data: unknown): string {
  const p = join(dir, `c${n++}.json`);
  writeFileSync(p, typeof data === "string" ? data : JSON.stringify(data));
  return p;
}

test("defaults: disabled, anycast relay, builtin RA, derived tunnel MTU", () => {
  const c = parseCpeConfig({});
  assert.equal(c.role, "cpe");
  assert.equal(c.enabled, false);
  assert.deepEqual(c.relay.map(formatIpv4), ["192.88.99.1"]);
  assert.equal(c.wanInterface, "wan");
  assert.equal(c.lanDevice, "br-lan");
  assert.equal(c.tunName, "6to4pmt0");
  assert.equal(c.tunnelMtu, null);
  assert.equal(c.wanIpv4, null);
  assert.equal(c.providerPrefix, null);
  assert.equal(formatIpv6Prefix(c.defaultRoute), "::/0");
  assert.equal(c.direct6to4, true);
  assert.equal(c.ra, "builtin");
  assert.equal(c.raMinInterval, 200);
  assert.equal(c.raMaxInterval, 600);
  assert.equal(c.raRouterLifetime, 1800);
  assert.equal(c.raPreference, "medium");
  assert.deepEqual(c.dns, []);
  assert.equal(c.healthInterval, 5);
  assert.equal(c.healthFailures, 3);
  assert.equal(c.useDhcp6rd, true);
  assert.equal(c.stateFile, "/var/lib/6to4-pmt/state.json");
  assert.equal(c.logLevel, "info");
  assert.equal(c.sources.tunnel_mtu, "default");
});

test("config objects are frozen, lists too", () => {
  const c = parseCpeConfig({});
  assert.ok(Object.isFrozen(c));
  assert.ok(Object.isFrozen(c.relay));
  assert.ok(Object.isFrozen(c.sources));
  assert.throws(() => {
    (c as { enabled: boolean }).enabled = true;
  }, TypeError);
});

test("Config interface keys match the schema", () => {
  for (const [role, cfg] of [
    ["cpe", parseCpeConfig({})],
    ["relay", parseRelayConfig({})],
  ] as const) {
    const keys = Object.keys(cfg)
      .filter((k) => k !== "role" && k !== "sources")
      .sort();
    assert.deepEqual(
      keys,
      optionsFor(role)
        .map((o) => o.key)
        .sort(),
      role,
    );
  }
});

test("flags: Map or Record, with or without --, lists repeated or comma-separated", () => {
  const c = parseCpeConfig(
    new Map([
      ["--enabled", []],
      ["relay", ["192.0.2.1,198.51.100.1", "203.0.113.9"]],
      ["--tunnel-mtu", ["1400"]],
      ["provider-prefix", ["2001:db8::/32"]],
      ["--allow-ipv4", ["100.64.0.0/10"]],
      ["--dns", ["2001:db8::53"]],
      ["--domain", ["example.net,lan"]],
      ["--no-direct-6to4", []],
      ["--ra", ["off"]],
    ]),
  );
  assert.equal(c.enabled, true);
  assert.deepEqual(c.relay.map(formatIpv4), ["192.0.2.1", "198.51.100.1", "203.0.113.9"]);
  assert.equal(c.tunnelMtu, 1400);
  assert.equal(formatIpv6Prefix(c.providerPrefix!), "2001:db8::/32");
  assert.equal(c.allowIpv4[0]!.len, 10);
  assert.equal(c.dns.length, 1);
  assert.deepEqual(c.domain, ["example.net", "lan"]);
  assert.equal(c.direct6to4, false);
  assert.equal(c.ra, "off");
  assert.equal(c.sources.relay, "flag");
  const r = parseRelayConfig({
    "--relay-ipv4": ["192.88.99.1", "192.0.2.10"],
    "--opt-out": ["198.51.100.0/24"],
  });
  assert.equal(r.relayIpv4.length, 2);
  assert.equal(r.optOut[0]!.len, 24);
  assert.equal(r.tunName, "6to4pmt-r0");
  assert.equal(r.tunnelMtu, 1480);
  assert.equal(r.metricsPort, 0);
  assert.equal(r.icmpRateLimit, 1000);
});

test("booleans take 0/1, true/false, yes/no, on/off", () => {
  assert.equal(parseCpeConfig({ "--enabled": ["1"] }).enabled, true);
  assert.equal(parseCpeConfig({ "--enabled": ["yes"] }).enabled, true);
  assert.equal(parseCpeConfig({ "--enabled": ["off"] }).enabled, false);
  assert.equal(parseCpeConfig({ "--direct-6to4": ["0"] }).direct6to4, false);
});

test("JSON file: UCI keys, flat or in a cpe/relay section; flags override it", () => {
  const flat = jsonFile({
    enabled: 1,
    tunnel_mtu: 1452,
    relay: ["192.0.2.1"],
    provider_prefix: "2001:db8::/32",
    direct_6to4: false,
    log_level: "debug",
  });
  const c = parseCpeConfig({}, flat);
  assert.equal(c.enabled, true);
  assert.equal(c.tunnelMtu, 1452);
  assert.equal(c.direct6to4, false);
  assert.equal(c.logLevel, "debug");
  assert.equal(c.sources.tunnel_mtu, "json");
  const o = parseCpeConfig({ "--tunnel-mtu": ["1400"] }, flat);
  assert.equal(o.tunnelMtu, 1400);
  assert.equal(o.sources.tunnel_mtu, "flag");

  const sections = jsonFile({ cpe: { sla: 7 }, relay: { opt_out: "198.51.100.0/24", sla: 3 } });
  assert.equal(parseCpeConfig({}, sections).sla, 7);
  const r = parseRelayConfig({}, sections);
  assert.equal(r.sla, 3);
  assert.equal(r.optOut.length, 1);
});

const BAD: [string, Record<string, string[]>, RegExp][] = [
  [
    "tunnel MTU below 1280",
    { "--tunnel-mtu": ["99"] },
    /^--tunnel-mtu: expected an integer 1280\.\.65515, got "99"$/,
  ],
  ["tunnel MTU not a number", { "--tunnel-mtu": ["12a"] }, /^--tunnel-mtu: expected an integer/],
  [
    "provider prefix /48",
    { "--provider-prefix": ["2001:db8::/48"] },
    /^--provider-prefix: expected an IPv6 prefix P\/L with 16 <= L <= 32, got "2001:db8::\/48"$/,
  ],
  [
    "provider prefix without length",
    { "--provider-prefix": ["2001:db8::"] },
    /^--provider-prefix: expected an IPv6 prefix/,
  ],
  [
    "relay not IPv4",
    { "--relay": ["192.0.2.1,192.0.2.300"] },
    /^--relay: expected a list of an IPv4 address a\.b\.c\.d, got "192\.0\.2\.300"$/,
  ],
  [
    "unknown enum",
    { "--ra": ["radvd"] },
    /^--ra: expected one of builtin\|netifd\|off, got "radvd"$/,
  ],
  [
    "wan_send not raw or packet",
    { "--wan-send": ["xdp"] },
    /^--wan-send: expected one of raw\|packet, got "xdp"$/,
  ],
  ["bool", { "--enabled": ["maybe"] }, /^--enabled: expected 0 or 1, got "maybe"$/],
  ["relative path", { "--state-file": ["state.json"] }, /^--state-file: expected an absolute path/],
  [
    "device name too long",
    { "--tun-name": ["a-very-long-device-name"] },
    /^--tun-name: expected a device name/,
  ],
  ["domain", { "--domain": ["bad domain!"] }, /^--domain: expected a list of a DNS name/],
  ["unknown option", { "--frobnicate": ["1"] }, /^--frobnicate: unknown option$/],
  [
    "relay option on the cpe",
    { "--opt-out": ["192.0.2.0/24"] },
    /^--opt-out: a relay option, not cpe$/,
  ],
  [
    "ra_min_interval > 0.75 max",
    { "--ra-min-interval": ["500"] },
    /^--ra-min-interval: expected at most 0\.75 × ra_max_interval \(450\), got "500"$/,
  ],
  [
    "router lifetime below max interval",
    { "--ra-router-lifetime": ["100"] },
    /^--ra-router-lifetime: expected 0 or at least ra_max_interval/,
  ],
  [
    "preferred > valid",
    { "--ra-valid-lifetime": ["1000"] },
    /^--ra-preferred-lifetime: expected at most ra_valid_lifetime \(1000\), got "2700"$/,
  ],
  [
    "tunnel MTU above WAN MTU − 20",
    { "--wan-mtu": ["1492"], "--tunnel-mtu": ["1480"] },
    /^--tunnel-mtu: expected at most wan_mtu − 20 \(1472\), got "1480"$/,
  ],
  [
    "mapping carries more than 16 SLA bits",
    { "--provider-prefix": ["2001:db8::/32"], "--ipv4-prefix-len": ["17"] },
    /^--ipv4-prefix-len: expected at most 16 with provider prefix \/32/,
  ],
];

for (const [name, flags, re] of BAD) {
  test(`bad input throws one-line ConfigError: ${name}`, () => {
    assert.throws(
      () => parseCpeConfig(flags),
      (e: unknown) => {
        assert.ok(e instanceof ConfigError, String(e));
        assert.ok(!e.message.includes("\n"));
        assert.match(e.message, re);
        return true;
      },
    );
  });
}

/** `n` names of three `labelLen`-byte labels: wire length 3 * (labelLen + 1) + 1 each. */
function longNames(n: number, labelLen: number): string[] {
  return Array.from({ length: n }, (_, i) => {
    const l = String.fromCharCode(97 + (i % 26)).repeat(labelLen);
    return `${l}.${l}.${l}${i}`.slice(0, 3 * labelLen + 2);
  });
}

test("dns and domain must fit one RDNSS / DNSSL option (RFC 8106 §5: at most 2040 bytes)", () => {
  // 16 names of 130 wire bytes: 8 + 2080 > 2040 (used to pass and crash the daemon at its first RA).
  const tooMany = longNames(16, 42);
  assert.throws(
    () => parseCpeConfig({ "--domain": [tooMany.join(",")] }),
    (e: unknown) =>
      e instanceof ConfigError &&
      !e.message.includes("\n") &&
      /^--domain: expected names that fit one DNSSL option of at most 2040 bytes \(RFC 8106 §5\.2\), got 16 names taking 2088 bytes$/.test(
        e.message,
      ),
  );
  // 16 names of 127 wire bytes: exactly 2040, accepted, and the encoder takes it.
  const fits = longNames(16, 41);
  const c = parseCpeConfig({ "--domain": [fits.join(",")] });
  const buf = Buffer.alloc(
    dnsslOption.encodingLength({ kind: "dnssl", lifetime: 1, domains: [...c.domain] }),
  );
  assert.equal(buf.length, 2040);
  dnsslOption.encode({ kind: "dnssl", lifetime: 1, domains: [...c.domain] }, buf, 0);
  const servers = (n: number): string =>
    Array.from({ length: n }, (_, i) => `2001:db8::${(i + 1).toString(16)}`).join(",");
  assert.throws(
    () => parseCpeConfig({ "--dns": [servers(128)] }),
    /--dns: expected at most 127 servers \(one RDNSS option of at most 2040 bytes, RFC 8106 §5\.1\), got 128$/,
  );
  assert.equal(parseCpeConfig({ "--dns": [servers(127)] }).dns.length, 127);
});

test("mapping shapes that fit the /64 (RFC 6732 §3.3)", () => {
  const a = parseCpeConfig({ "--provider-prefix": ["2001:db8::/32"], "--ipv4-prefix-len": ["16"] });
  assert.equal(a.ipv4PrefixLen, 16);
  const b = parseCpeConfig({ "--provider-prefix": ["2001::/16"] });
  assert.equal(b.ipv4PrefixLen, 0);
  assert.throws(
    () => parseCpeConfig({ "--provider-prefix": ["2001::/16"], "--ipv4-prefix-len": ["1"] }),
    /--ipv4-prefix-len: expected at most 0 with provider prefix \/16/,
  );
});

test("JSON errors name the key and the file", () => {
  const p = jsonFile({ tunnel_mtu: 99 });
  assert.throws(
    () => parseCpeConfig({}, p),
    new RegExp(
      `tunnel_mtu \\(in ${p.replace(/[.*+?^${}()|[\]\\/]/g, "\\$&")}\\): expected an integer 1280\\.\\.65515, got "99"$`,
    ),
  );
  assert.throws(
    () => parseCpeConfig({}, jsonFile({ bogus: 1 })),
    /bogus \(in .*\): unknown option$/,
  );
  assert.throws(
    () => parseCpeConfig({}, jsonFile({ sla: [1, 2] })),
    /sla \(in .*\): expected a single value/,
  );
  assert.throws(() => parseCpeConfig({}, jsonFile("{not json")), /: invalid JSON \(/);
  assert.throws(() => parseCpeConfig({}, jsonFile("[1]")), /: expected a JSON object of options$/);
  assert.throws(
    () => parseCpeConfig({}, join(dir, "missing.json")),
    /missing\.json: cannot read config file \(ENOENT\)$/,
  );
});

test("notAnOption, expectedValue and parseBooleanWord word the CLI's errors as parse.ts does", () => {
  assert.equal(notAnOption("cpe", "--metrics-port"), "a relay option, not cpe");
  assert.equal(notAnOption("relay", "wan-device"), "a cpe option, not relay");
  assert.equal(notAnOption("cpe", "--json"), "unknown option");
  const o = (name: string) => optionsFor("cpe").find((x) => x.name === name)!;
  assert.equal(expectedValue(o("wan_ipv4")), "an IPv4 address a.b.c.d");
  assert.equal(expectedValue(o("allow_ipv4")), "a list of an IPv4 prefix a.b.c.d/len");
  assert.equal(expectedValue(o("ra")), "one of builtin|netifd|off");
  for (const w of ["1", "true", "YES", "on", "enabled"]) assert.equal(parseBooleanWord(w), true, w);
  for (const w of ["0", "false", "no", "Off", "disabled"])
    assert.equal(parseBooleanWord(w), false, w);
  for (const w of ["", "2", "maybe", "192.0.2.1"]) assert.equal(parseBooleanWord(w), undefined, w);
});

test("wan_send: raw by default, packet by flag or JSON; for the CPE and the relay", () => {
  assert.equal(parseCpeConfig({}).wanSend, "raw");
  assert.equal(parseCpeConfig({ "wan-send": ["packet"] }).wanSend, "packet");
  assert.equal(parseCpeConfig({}, jsonFile({ wan_send: "packet" })).wanSend, "packet");
  assert.equal(parseRelayConfig({}).wanSend, "raw");
  assert.equal(parseRelayConfig({ "wan-send": ["packet"] }).wanSend, "packet");
  assert.throws(
    () => parseRelayConfig({ "wan-send": ["af_packet"] }),
    (e: unknown) => e instanceof ConfigError && /^--wan-send: /.test(e.message),
  );
});
