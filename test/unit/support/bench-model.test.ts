/**
 * The bench's model option (support/bench-model.ts): what BENCH_MODEL sets, and BENCH_SCHED /
 * BENCH_NAPI over it. The settings themselves act in `npm run bench`; their commands are tested
 * against real processes and veths in bench-sched.test.ts and integration/bench-napi.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { benchSettings, describeSettings, parseBenchModel } from "../../support/bench-model.js";

test("parseBenchModel: machines by default, veth on request, anything else names the variable", () => {
  assert.equal(parseBenchModel(undefined), "machines");
  assert.equal(parseBenchModel(""), "machines");
  assert.equal(parseBenchModel("machines"), "machines");
  assert.equal(parseBenchModel("veth"), "veth");
  assert.throws(
    () => parseBenchModel("shared"),
    /^RangeError: BENCH_MODEL: expected machines or veth, got "shared"$/,
  );
  assert.throws(() => parseBenchModel("Machines"), RangeError);
});

test("benchSettings: separate machines are SCHED_BATCH with NAPI threads, veth is neither", () => {
  assert.deepEqual(benchSettings({}), { model: "machines", sched: "batch", napi: "threaded" });
  assert.deepEqual(benchSettings({ BENCH_MODEL: "veth" }), {
    model: "veth",
    sched: "normal",
    napi: "softirq",
  });
});

test("benchSettings: BENCH_SCHED and BENCH_NAPI override either half of the model", () => {
  assert.deepEqual(benchSettings({ BENCH_SCHED: "normal" }), {
    model: "machines",
    sched: "normal",
    napi: "threaded",
  });
  assert.deepEqual(benchSettings({ BENCH_MODEL: "veth", BENCH_NAPI: "threaded" }), {
    model: "veth",
    sched: "normal",
    napi: "threaded",
  });
  assert.deepEqual(benchSettings({ BENCH_MODEL: "veth", BENCH_SCHED: "batch", BENCH_NAPI: "" }), {
    model: "veth",
    sched: "batch",
    napi: "softirq",
  });
  assert.throws(() => benchSettings({ BENCH_NAPI: "napi" }), /^RangeError: BENCH_NAPI: /);
  assert.throws(() => benchSettings({ BENCH_MODEL: "x" }), /^RangeError: BENCH_MODEL: /);
});

test("describeSettings: names the model and what was applied", () => {
  const m = describeSettings(benchSettings({}));
  assert.match(m, /^model: separate machines /);
  assert.match(m, /scheduling SCHED_BATCH, receive work in NAPI threads$/);
  const v = describeSettings(benchSettings({ BENCH_MODEL: "veth" }));
  assert.match(v, /^model: veth defaults /);
  assert.match(v, /scheduling SCHED_NORMAL, receive work in softirq$/);
});
