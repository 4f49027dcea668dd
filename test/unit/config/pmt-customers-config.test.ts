// config/parse.ts for the relay's customer policy (RFC 6732 §4.7): pmt_customer_ipv4 defaults to
// customer_ipv4, an explicit empty list means nobody; non_customer relay|drop; bad values are one
// line naming the option (exit 2 from the CLI).
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { after, test } from "node:test";
import { formatIpv4Prefix } from "../../../module/addr/ipv4.js";
import { parseDaemonArgs } from "../../../module/cli/daemon-options.js";
import { parseRelayConfig } from "../../../module/config/parse.js";

const dir = mkdtempSync(path.join(tmpdir(), "6to4-pmt-relaypol-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("pmt_customer_ipv4 unset: the customer_ipv4 ranges; non_customer defaults to relay", () => {
  const r = parseRelayConfig({ "--customer-ipv4": ["100.64.0.0/10,192.0.2.0/24"] });
  assert.deepEqual(r.pmtCustomerIpv4.map(formatIpv4Prefix), ["100.64.0.0/10", "192.0.2.0/24"]);
  assert.equal(r.nonCustomer, "relay");
  assert.equal(r.sources.pmt_customer_ipv4, "default");
  assert.deepEqual(parseRelayConfig({}).pmtCustomerIpv4, []);
});

test("pmt_customer_ipv4 set: its own ranges; an empty flag or JSON [] is nobody", () => {
  const r = parseRelayConfig({
    "--customer-ipv4": ["100.64.0.0/10"],
    "--pmt-customer-ipv4": ["100.64.0.0/16", "198.51.100.0/24"],
    "--non-customer": ["drop"],
  });
  assert.deepEqual(r.pmtCustomerIpv4.map(formatIpv4Prefix), ["100.64.0.0/16", "198.51.100.0/24"]);
  assert.equal(r.nonCustomer, "drop");
  const empty = parseRelayConfig(
    parseDaemonArgs("relay", ["--customer-ipv4", "100.64.0.0/10", "--pmt-customer-ipv4", ""]).flags,
  );
  assert.deepEqual(empty.pmtCustomerIpv4, []);
  const file = path.join(dir, "relay.json");
  writeFileSync(
    file,
    JSON.stringify({
      relay: { customer_ipv4: ["100.64.0.0/10"], pmt_customer_ipv4: [], non_customer: "drop" },
    }),
  );
  const j = parseRelayConfig({}, file);
  assert.deepEqual(j.pmtCustomerIpv4, []);
  assert.equal(j.nonCustomer, "drop");
  assert.equal(j.sources.pmt_customer_ipv4, "json");
});

test("bad values: one line naming the option", () => {
  assert.throws(
    () => parseRelayConfig({ "--non-customer": ["maybe"] }),
    /^ConfigError: --non-customer: expected one of relay\|drop, got "maybe"$/,
  );
  assert.throws(
    () => parseRelayConfig({ "--pmt-customer-ipv4": ["100.64.0.0/33"] }),
    /^ConfigError: --pmt-customer-ipv4: expected a list of an IPv4 prefix a\.b\.c\.d\/len, got "100\.64\.0\.0\/33"$/,
  );
  assert.throws(
    () => parseRelayConfig({ "--pmt-customer-ipv4": ["100.64.0.0/10"], "--non-customer": ["x"] }),
    (e: Error) => !e.message.includes("\n"),
  );
});

test("6to4-pmt relay with a bad --non-customer / --pmt-customer-ipv4: exit 2, one line", () => {
  const main = path.join(__dirname, "..", "..", "..", "module", "cli", "main.js");
  for (const [flag, value] of [
    ["--non-customer", "sometimes"],
    ["--pmt-customer-ipv4", "customers"],
  ] as const) {
    const r = spawnSync(process.execPath, [main, "relay", "--enabled", flag, value], {
      encoding: "utf8",
    });
    assert.equal(r.status, 2, r.stderr);
    const lines = r.stderr.trim().split("\n");
    assert.equal(lines.length, 1, r.stderr);
    assert.match(lines[0]!, new RegExp(`${flag}: expected`));
  }
  // A cpe does not take them.
  const c = spawnSync(process.execPath, [main, "cpe", "--non-customer", "drop"], {
    encoding: "utf8",
  });
  assert.equal(c.status, 2);
  assert.match(c.stderr, /--non-customer: a relay option, not cpe/);
});
