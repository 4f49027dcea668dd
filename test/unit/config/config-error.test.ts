// ConfigError (module/config/config-error.ts): one line naming the option and the expectation.
import { test } from "node:test";
import assert from "node:assert/strict";
import { PmtMappingError } from "../../../module/addr/pmt-mapping.js";
import { asConfigError, ConfigError, configExpected } from "../../../module/config/config-error.js";

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

test("asConfigError: a ConfigError as is, an impossible PMT mapping as a ConfigError, else undefined", () => {
  const c = new ConfigError("--sla: expected an integer", "--sla");
  assert.equal(asConfigError(c), c);
  const m = asConfigError(
    new PmtMappingError('--sla: expected a multiple of 4096, got "3"', "--sla"),
  );
  assert.ok(m instanceof ConfigError);
  assert.equal(m.message, '--sla: expected a multiple of 4096, got "3"');
  assert.equal(m.option, "--sla");
  assert.equal(asConfigError(new Error("EBADF")), undefined);
  assert.equal(asConfigError("text"), undefined);
});
