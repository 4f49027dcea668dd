/**
 * The bench's softirq tracing (support/softirq-trace.ts): the bpftrace program it generates and
 * the parsing of bpftrace's printout. The tracing itself runs in `npm run bench`.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseSoftirqTotals, softirqProgram } from "../../support/softirq-trace.js";

test("softirqProgram: traces only the given pids, on entry and on exit", () => {
  const prog = softirqProgram([31758, 31759]);
  const lines = prog.split("\n");
  assert.equal(
    lines[0],
    "tracepoint:irq:softirq_entry /pid == 31758 || pid == 31759/ { @s[tid] = nsecs; }",
  );
  assert.match(
    lines[1]!,
    /^tracepoint:irq:softirq_exit \/\(pid == 31758 \|\| pid == 31759\) && @s\[tid\]\//,
  );
  assert.match(prog, /@t\[pid\] = sum\(nsecs - @s\[tid\]\); delete\(@s\[tid\]\);/);
  assert.match(prog, /END \{ clear\(@s\); \}/, "only @t is printed at the end");
});

test("softirqProgram: refuses what is not a pid (nothing is pasted into the program unchecked)", () => {
  assert.throws(() => softirqProgram([]), RangeError);
  assert.throws(() => softirqProgram([0]), RangeError);
  assert.throws(() => softirqProgram([12.5]), RangeError);
  assert.throws(() => softirqProgram([Number.NaN]), RangeError);
});

test("parseSoftirqTotals: @t lines in ns become seconds per pid; everything else is ignored", () => {
  const out = [
    "Attaching 3 probes...",
    "",
    "",
    "@t[31759]: 893846187",
    "@t[31758]: 3962526063",
    "@s[31758]: 12",
    "@t[x]: 5",
  ].join("\n");
  const t = parseSoftirqTotals(out);
  assert.equal(t.size, 2);
  assert.equal(t.get(31758), 3.962526063);
  assert.equal(t.get(31759), 0.893846187);
  assert.equal(parseSoftirqTotals("Attaching 3 probes...\n").size, 0);
});
