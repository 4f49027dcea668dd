/** log/logger.ts: one line per event, level threshold, ISO time without ICU. */
import assert from "node:assert/strict";
import { test } from "node:test";
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
