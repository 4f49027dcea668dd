// cli/daemon-options.ts: `6to4-pmt cpe|relay` argv -> option flags for config/parse.ts, the CLI's
// own flags, one-line errors; cli/option-help.ts: `--help` lists every option of the role.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { test } from "node:test";
import { parseDaemonArgs } from "../../../module/cli/daemon-options.js";
import { formatOptionHelp } from "../../../module/cli/option-help.js";
import { ConfigError } from "../../../module/config/config-error.js";
import { parseCpeConfig, parseRelayConfig } from "../../../module/config/parse.js";
import { defaultText, optionsFor, typeText } from "../../../module/config/schema.js";

test("daemon args: --x v, --x=v, bare and worded booleans, repeated and comma lists, --config", () => {
  const a = parseDaemonArgs("cpe", [
    "--enabled",
    "--wan-ipv4",
    "100.64.0.2",
    "--relay=192.88.99.1,198.51.100.2",
    "--allow-ipv4",
    "100.64.0.0/10",
    "--allow-ipv4",
    "192.0.2.0/24",
    "--no-direct-6to4",
    "--use-dhcp-6rd",
    "0",
    "--config",
    "/etc/6to4-pmt.json",
  ]);
  assert.deepEqual(a.flags.get("enabled"), ["1"]);
  assert.deepEqual(a.flags.get("wan-ipv4"), ["100.64.0.2"]);
  assert.deepEqual(a.flags.get("relay"), ["192.88.99.1,198.51.100.2"]);
  assert.deepEqual(a.flags.get("allow-ipv4"), ["100.64.0.0/10", "192.0.2.0/24"]);
  assert.deepEqual(a.flags.get("direct-6to4"), ["0"]);
  assert.deepEqual(a.flags.get("use-dhcp-6rd"), ["0"]);
  assert.equal(a.flags.has("config"), false);
  assert.equal(a.configPath, "/etc/6to4-pmt.json");
  // What config/parse.ts makes of it.
  const cfg = parseCpeConfig(a.flags);
  assert.equal(cfg.enabled, true);
  assert.equal(cfg.relay.length, 2);
  assert.equal(cfg.allowIpv4.length, 2);
  assert.equal(cfg.direct6to4, false);
  assert.equal(cfg.useDhcp6rd, false);
  assert.equal(parseDaemonArgs("relay", ["--help"]).help, true);
  assert.equal(parseDaemonArgs("relay", ["-h"]).help, true);
  const short = parseDaemonArgs("relay", ["-f", "-l", "debug", "-c", "/tmp/r.json"]);
  assert.deepEqual(short.flags.get("log-level"), ["debug"]);
  assert.equal(short.flags.has("foreground"), false);
  assert.equal(short.configPath, "/tmp/r.json");
});

test("daemon args: errors are one line naming the option and what is expected", () => {
  const cases: [string, string[], string][] = [
    ["cpe", ["stray"], 'unexpected argument "stray": options are --name value'],
    ["cpe", ["--config"], "--config: expected a JSON config file path"],
    ["cpe", ["--bogus"], "--bogus: unknown option"],
    ["cpe", ["--metrics-port", "9641"], "--metrics-port: a relay option, not cpe"],
    ["relay", ["--wan-device=wan"], "--wan-device: a cpe option, not relay"],
    ["cpe", ["--wan-ipv4"], "--wan-ipv4: expected an IPv4 address a.b.c.d"],
    ["cpe", ["--enabled=maybe"], '--enabled: expected 0 or 1, got "maybe"'],
    ["relay", ["-x"], "-x: unknown option"],
  ];
  for (const [role, argv, message] of cases) {
    assert.throws(
      () => parseDaemonArgs(role as "cpe" | "relay", argv),
      (e: unknown) => e instanceof ConfigError && e.message === message,
      `${role} ${argv.join(" ")}`,
    );
  }
});

for (const role of ["cpe", "relay"] as const) {
  test(`${role} --help lists every ${role} option of the schema with type, default, description`, () => {
    const help = formatOptionHelp(role);
    const entries = help.split("\n  --").slice(1);
    assert.equal(entries.length, optionsFor(role).length);
    for (const o of optionsFor(role)) {
      const entry = entries.find((e) => e.startsWith(`${o.flag.slice(2)}  `));
      assert.ok(entry !== undefined, `${o.flag} listed`);
      const [head, ...body] = entry.split("\n");
      assert.ok(head!.includes(typeText(o)), `${o.flag} type: ${head}`);
      if (o.default !== undefined && defaultText(o) !== "") {
        assert.ok(head!.includes(`default ${defaultText(o)}`), `${o.flag} default: ${head}`);
      } else if (o.defaultNote !== undefined) {
        assert.ok(head!.includes(o.defaultNote), `${o.flag} default note: ${head}`);
      }
      const text = body.map((l) => l.trim()).join(" ");
      assert.ok(text.startsWith(o.description), `${o.flag} description: ${text}`);
      for (const l of body) assert.ok(l.length <= 80 || !l.trim().includes(" "), l);
    }
    const other = role === "cpe" ? "relay" : "cpe";
    const own = new Set(optionsFor(role).map((o) => o.flag));
    for (const o of optionsFor(other)) {
      if (own.has(o.flag)) continue;
      assert.ok(!help.includes(`\n  ${o.flag}  `), `${o.flag} (${other} only) not listed`);
    }
  });
}

test("6to4-pmt cpe --help and relay --help print the usage and the options, exit 0", () => {
  const main = path.join(__dirname, "..", "..", "..", "module", "cli", "main.js");
  for (const role of ["cpe", "relay"] as const) {
    const r = spawnSync(process.execPath, [main, role, "--help"], { encoding: "utf8" });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^usage: 6to4-pmt ${role} `));
    assert.ok(r.stdout.includes(formatOptionHelp(role)), "option list");
    assert.doesNotMatch(r.stdout, /README/);
  }
});

test("--check-config is the CLI's own flag; metrics_address takes an IPv4 or IPv6 literal", () => {
  const a = parseDaemonArgs("relay", ["--check-config", "--metrics-address", "::1"]);
  assert.equal(a.checkConfig, true);
  assert.equal(a.flags.has("check-config"), false);
  assert.equal(parseDaemonArgs("cpe", []).checkConfig, false);
  assert.equal(parseRelayConfig(a.flags).metricsAddress, "::1");
  assert.equal(parseRelayConfig({}).metricsAddress, "127.0.0.1");
  assert.equal(parseRelayConfig({ "metrics-address": ["0.0.0.0"] }).metricsAddress, "0.0.0.0");
  for (const bad of ["localhost", "1.2.3", "[::1]", "::1/128"]) {
    assert.throws(
      () => parseRelayConfig({ "metrics-address": [bad] }),
      (e: unknown) =>
        e instanceof ConfigError &&
        e.message ===
          `--metrics-address: expected an IPv4 address a.b.c.d or an IPv6 address, got "${bad}"`,
    );
  }
  assert.throws(
    () => parseDaemonArgs("cpe", ["--metrics-address", "::1"]),
    /a relay option, not cpe/,
  );
});
