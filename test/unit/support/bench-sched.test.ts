/**
 * The bench's scheduling option and context-switch reading (support/bench-sched.ts). The
 * policy itself is applied in `npm run bench`; one test here checks with the real chrt that the
 * arguments set SCHED_BATCH on a process of ours.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { readFileSync } from "node:fs";
import {
  parseBenchSched,
  parseCtxSwitches,
  schedPrefix,
  schedSetArgs,
} from "../../support/bench-sched.js";

test("parseBenchSched: the given default (normal without one), batch or normal on request, anything else names the variable", () => {
  assert.equal(parseBenchSched(undefined), "normal");
  assert.equal(parseBenchSched(""), "normal");
  assert.equal(parseBenchSched("normal"), "normal");
  assert.equal(parseBenchSched("batch"), "batch");
  assert.throws(
    () => parseBenchSched("fifo"),
    /^RangeError: BENCH_SCHED: expected normal or batch, got "fifo"$/,
  );
  assert.throws(() => parseBenchSched("Batch"), RangeError);
  assert.equal(parseBenchSched(undefined, "batch"), "batch");
  assert.equal(parseBenchSched("", "batch"), "batch");
  assert.equal(parseBenchSched("normal", "batch"), "normal");
});

test("schedPrefix / schedSetArgs: nothing for normal, chrt --batch 0 for batch", () => {
  assert.deepEqual(schedPrefix("normal"), []);
  assert.deepEqual(schedPrefix("batch"), ["chrt", "--batch", "0"]);
  assert.equal(schedSetArgs("normal", 42), undefined);
  assert.deepEqual(schedSetArgs("batch", 42), [
    "chrt",
    "--all-tasks",
    "--batch",
    "--pid",
    "0",
    "42",
  ]);
  assert.throws(() => schedSetArgs("batch", 0), RangeError);
  assert.throws(() => schedSetArgs("batch", 1.5), RangeError);
});

test("parseCtxSwitches: reads both counters, refuses text without them", () => {
  const status = [
    "Name:\tnode",
    "Threads:\t1",
    "voluntary_ctxt_switches:\t1234",
    "nonvoluntary_ctxt_switches:\t56",
    "",
  ].join("\n");
  assert.deepEqual(parseCtxSwitches(status), [1234, 56]);
  assert.throws(() => parseCtxSwitches("Name:\tnode\n"), /ctxt_switches/);
  // This process's own status parses, and the counters are plausible.
  const [v, n] = parseCtxSwitches(readFileSync("/proc/self/status", "utf8"));
  assert.ok(v >= 0 && n >= 0);
});

const chrt = spawnSync("chrt", ["--help"]).status === 0;

test(
  "schedSetArgs: the real chrt puts a running process under SCHED_BATCH",
  { skip: chrt ? false : "chrt (util-linux) not installed" },
  async () => {
    const child = spawn("sleep", ["30"], { stdio: "ignore" });
    try {
      const policy = (): string =>
        / policy: (\S+)/.exec(
          spawnSync("chrt", ["-p", String(child.pid)], { encoding: "utf8" }).stdout,
        )?.[1] ?? "?";
      assert.equal(policy(), "SCHED_OTHER");
      const args = schedSetArgs("batch", child.pid!)!;
      const r = spawnSync(args[0]!, args.slice(1), { encoding: "utf8" });
      assert.equal(r.status, 0, r.stderr);
      assert.equal(policy(), "SCHED_BATCH");
    } finally {
      child.kill();
    }
  },
);
