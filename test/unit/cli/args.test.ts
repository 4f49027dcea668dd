// module/cli/args.ts: the one argv parser (forms, repeats, booleans, unknown flags -> ConfigError).
import { test } from "node:test";
import assert from "node:assert/strict";
import { flagOn, lastValue, noPositionals, parseArgs } from "../../../module/cli/args.js";
import type { FlagSpecs } from "../../../module/cli/args.js";
import { ConfigError } from "../../../module/config/config-error.js";

const SPECS: FlagSpecs = {
  "provider-prefix": { kind: "string" },
  relay: { kind: "string", expects: "an IPv4 address" },
  json: { kind: "boolean" },
  help: { kind: "boolean", short: "h" },
};

test("--x v, --x=v, positionals in any order", () => {
  const a = parseArgs(["192.0.2.1", "--provider-prefix", "2001:db8::/32", "--json"], SPECS);
  assert.deepEqual(a.positionals, ["192.0.2.1"]);
  assert.equal(lastValue(a, "provider-prefix"), "2001:db8::/32");
  assert.equal(flagOn(a, "json"), true);
  const b = parseArgs(["--provider-prefix=2001:db8::/32", "192.0.2.1"], SPECS);
  assert.equal(lastValue(b, "provider-prefix"), "2001:db8::/32");
  assert.deepEqual(b.positionals, ["192.0.2.1"]);
  assert.equal(flagOn(b, "json"), false);
});

test("repeated flags keep every value; last wins for single values", () => {
  const a = parseArgs(
    ["--relay", "192.88.99.1", "--relay=203.0.113.1", "--relay", "198.51.100.1"],
    SPECS,
  );
  assert.deepEqual(a.flags.get("relay"), ["192.88.99.1", "203.0.113.1", "198.51.100.1"]);
  assert.equal(lastValue(a, "relay"), "198.51.100.1");
});

test("booleans: bare, --no-x, =0/1/true/false; short alias", () => {
  assert.equal(flagOn(parseArgs(["--json", "--no-json"], SPECS), "json"), false);
  assert.equal(flagOn(parseArgs(["--json=0"], SPECS), "json"), false);
  assert.equal(flagOn(parseArgs(["--json=true"], SPECS), "json"), true);
  assert.equal(flagOn(parseArgs(["-h"], SPECS), "help"), true);
  // A boolean takes the next argument only when it is a boolean word (`--enabled 1`, as the
  // init script passes it).
  assert.deepEqual(parseArgs(["--json", "192.0.2.1"], SPECS).positionals, ["192.0.2.1"]);
  const w = parseArgs(["--json", "0", "192.0.2.1"], SPECS);
  assert.equal(flagOn(w, "json"), false);
  assert.deepEqual(w.positionals, ["192.0.2.1"]);
  assert.equal(flagOn(parseArgs(["--json", "enabled"], SPECS), "json"), true);
  assert.deepEqual(parseArgs(["--json", "--relay", "192.88.99.1"], SPECS).flags.get("json"), ["1"]);
});

test("a string flag takes the next argument even if it starts with a dash", () => {
  assert.equal(lastValue(parseArgs(["--relay", "-1"], SPECS), "relay"), "-1");
});

test("-- ends the options; - is positional", () => {
  const a = parseArgs(["--json", "--", "--relay", "-"], SPECS);
  assert.deepEqual(a.positionals, ["--relay", "-"]);
  assert.deepEqual(parseArgs(["-"], SPECS).positionals, ["-"]);
});

test("errors are one-line ConfigErrors naming the flag", () => {
  const cases: [string[], string][] = [
    [["--foo"], "--foo: unknown option"],
    [["--foo=1"], "--foo: unknown option"],
    [["-x"], "-x: unknown option"],
    [["--no-relay"], "--no-relay: unknown option"],
    [["--relay"], "--relay: expected an IPv4 address"],
    [["--json=maybe"], '--json: expected 0 or 1, got "maybe"'],
    [["--"], ""],
  ];
  for (const [argv, message] of cases) {
    if (message === "") {
      assert.doesNotThrow(() => parseArgs(argv, SPECS));
      continue;
    }
    assert.throws(
      () => parseArgs(argv, SPECS),
      (e: unknown) => e instanceof ConfigError && e.message === message,
      argv.join(" "),
    );
  }
});

test("the caller may word the unknown-option error; noPositionals names the stray argument", () => {
  assert.throws(
    () => parseArgs(["--metrics-port", "9"], SPECS, { unknown: (f) => `${f}: a relay option` }),
    (e: unknown) => e instanceof ConfigError && e.message === "--metrics-port: a relay option",
  );
  assert.doesNotThrow(() => noPositionals(parseArgs(["--json"], SPECS), "no arguments"));
  assert.throws(
    () => noPositionals(parseArgs(["stray"], SPECS), "options are --name value"),
    (e: unknown) =>
      e instanceof ConfigError &&
      e.message === 'unexpected argument "stray": options are --name value',
  );
});
