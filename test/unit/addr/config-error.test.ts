// ConfigError (module/config/config-error.ts): one line naming the option and the expectation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { ConfigError, configExpected } from "../../../module/config/config-error.js";

test("ConfigError is one line and an Error", () => {
  const e = new ConfigError("--sla: expected\nan integer", "--sla");
  assert.ok(e instanceof Error);
  assert.equal(e.name, "ConfigError");
  assert.equal(e.message, "--sla: expected an integer");
  assert.equal(e.option, "--sla");
});

test("configExpected names option, expectation and value", () => {
  const e = configExpected(
    "--provider-prefix",
    "an IPv6 prefix P/L with 16 <= L <= 32",
    "2001:db8::/48",
  );
  assert.equal(
    e.message,
    '--provider-prefix: expected an IPv6 prefix P/L with 16 <= L <= 32, got "2001:db8::/48"',
  );
  assert.equal(e.option, "--provider-prefix");
});
