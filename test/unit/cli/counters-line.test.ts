// cli/counters-line.ts and cli/memory-figures.ts: the counters line a daemon logs on SIGUSR1.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { formatCountersLine } from "../../../module/cli/counters-line.js";
import { memoryFigures } from "../../../module/cli/memory-figures.js";

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
