/** log/logger.ts: one line per event, level threshold; cli/daemon-common.ts: daemon argv parsing. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { createLogger, formatIsoUtc } from "../../../module/log/logger.js";
import { readFileSync } from "node:fs";
import {
  formatCountersLine,
  memoryFigures,
  parseDaemonArgs,
} from "../../../module/cli/daemon-common.js";
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

test("formatIsoUtc: the same text as Date.prototype.toISOString (without ICU)", () => {
  const samples = [
    0,
    -1,
    1,
    951_782_400_000,
    951_868_799_999,
    1_700_000_000_123,
    1.9,
    -1.9,
    -62_135_596_800_000,
    -62_135_596_800_001,
    253_402_300_799_999,
    253_402_300_800_000,
    8.64e15,
    -8.64e15,
    Date.now(),
  ];
  let x = 0x2545f491;
  for (let i = 0; i < 2000; i++) {
    x = (Math.imul(x, 1_103_515_245) + 12_345) >>> 0;
    samples.push((x / 0x1_0000_0000 - 0.5) * 2 * 8.64e15 * (i % 2 === 0 ? 1 : 1e-4));
  }
  for (const ms of samples) assert.equal(formatIsoUtc(ms), new Date(ms).toISOString(), String(ms));
  for (const bad of [NaN, Infinity, -Infinity, 8.64e15 + 1]) {
    assert.throws(() => formatIsoUtc(bad), RangeError);
  }
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
  const withOffload = formatCountersLine({ traffic: {}, drops: {}, offload: { segments_cut: 5 } });
  assert.equal(withOffload, 'counters {"traffic":{},"drops":{},"offload":{"segments_cut":5}}');
  const mem = { rss_kb: 49000, heap_used_kb: 4100, heap_total_kb: 6000, external_kb: 900 };
  assert.equal(
    formatCountersLine({ traffic: {}, drops: {} }, mem),
    'counters {"traffic":{},"drops":{},"memory":{"rss_kb":49000,"heap_used_kb":4100,"heap_total_kb":6000,"external_kb":900}}',
  );
});

test("memoryFigures: this process's RSS and V8 heap in KiB, used within reserved", () => {
  const m = memoryFigures();
  const rss = Number(/VmRSS:\s+(\d+) kB/.exec(readFileSync("/proc/self/status", "utf8"))![1]);
  assert.ok(Math.abs(m.rss_kb - rss) < 8192, `${m.rss_kb} vs /proc ${rss}`);
  assert.ok(m.heap_used_kb > 0 && m.heap_used_kb <= m.heap_total_kb, JSON.stringify(m));
  assert.ok(m.heap_total_kb < m.rss_kb);
});
