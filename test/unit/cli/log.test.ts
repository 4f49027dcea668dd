/** cli/log.ts: one line per event, level threshold; cli/daemon-common.ts: daemon argv parsing. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger } from "../../../module/cli/log.js";
import { formatCountersLine, parseDaemonArgs } from "../../../module/cli/daemon-common.js";
import { ConfigError } from "../../../module/config/config-error.js";

test("logger: level threshold, one line per event, tag and level in the line", () => {
  const lines: string[] = [];
  const log = createLogger("warn", "cpe", (l) => lines.push(l));
  log.debug("no");
  log.info("no");
  log.warn("relay 192.88.99.1 unreachable");
  log.error("tun 6to4pmt0 gone:\nEBADFD");
  assert.equal(lines.length, 2);
  assert.match(lines[0]!, /^\S+Z warn cpe: relay 192\.88\.99\.1 unreachable$/);
  assert.equal(lines[1]!.includes("\n"), false);
  assert.equal(log.enabled("info"), false);
  assert.equal(log.enabled("error"), true);
});

test("daemon args: --x v, --x=v, bare booleans, repeated and comma lists, --config", () => {
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
    "--config",
    "/etc/6to4-pmt.json",
  ]);
  assert.deepEqual(a.flags.get("enabled"), []);
  assert.deepEqual(a.flags.get("wan-ipv4"), ["100.64.0.2"]);
  assert.deepEqual(a.flags.get("relay"), ["192.88.99.1", "198.51.100.2"]);
  assert.deepEqual(a.flags.get("allow-ipv4"), ["100.64.0.0/10", "192.0.2.0/24"]);
  assert.deepEqual(a.flags.get("no-direct-6to4"), []);
  assert.equal(a.configPath, "/etc/6to4-pmt.json");
  assert.equal(parseDaemonArgs("relay", ["--help"]).help, true);
  assert.deepEqual(parseDaemonArgs("relay", ["-f", "-l", "debug"]).flags.get("log-level"), [
    "debug",
  ]);
  assert.throws(() => parseDaemonArgs("cpe", ["stray"]), ConfigError);
  assert.throws(() => parseDaemonArgs("cpe", ["--config"]), /--config: expected/);
});

test("counters line: one JSON line with only non-zero drops", () => {
  const line = formatCountersLine({ traffic: { in_packets: 3 }, drops: { a: 0, b: 2 } });
  assert.equal(line, 'counters {"traffic":{"in_packets":3},"drops":{"b":2}}');
});
