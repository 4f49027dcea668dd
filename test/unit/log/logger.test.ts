/** log/logger.ts: one line per event, level threshold, ISO time without ICU. */
import assert from "node:assert/strict";
import { test } from "node:test";
import { spawnSync } from "node:child_process";
import { createLogger, formatIsoUtc } from "../../../module/log/logger.js";

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

// procd logs an instance's stdout at LOG_INFO and its stderr at LOG_ERR: with PMT_LOG_STDOUT=1
// (set by the OpenWrt init script) info/debug go to stdout, warn/error to stderr; without it all
// four stay on stderr. Real child processes, real streams.
for (const split of [true, false]) {
  test(`default sink with PMT_LOG_STDOUT ${split ? "=1" : "unset"}: which stream each level uses`, () => {
    const logger = require.resolve("../../../module/log/logger.js");
    const r = spawnSync(
      process.execPath,
      [
        "-e",
        `const l = require(${JSON.stringify(logger)}).createLogger("debug", "cpe");` +
          `l.debug("d1"); l.info("i1"); l.warn("w1"); l.error("e1");`,
      ],
      {
        encoding: "utf8",
        timeout: 20_000,
        env: { ...process.env, PMT_LOG_STDOUT: split ? "1" : "" },
      },
    );
    assert.equal(r.status, 0, r.stderr);
    const words = (s: string): string[] =>
      s
        .split("\n")
        .filter(Boolean)
        .map((l) => l.split(" ").at(-1)!);
    if (split) {
      assert.deepEqual(words(r.stdout), ["d1", "i1"]);
      assert.deepEqual(words(r.stderr), ["w1", "e1"]);
    } else {
      assert.deepEqual(words(r.stdout), []);
      assert.deepEqual(words(r.stderr), ["d1", "i1", "w1", "e1"]);
    }
  });
}
