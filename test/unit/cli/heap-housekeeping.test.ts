// cli/heap-housekeeping.ts heapHousekeeping: a full collection every interval through node's gc()
// (exposed by --expose-gc, one of DAEMON_NODE_FLAGS), none without it; and that the call it makes
// runs a real full collection in this node and in the oldest one we target (PMT_TEST_NODE).
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { heapHousekeeping } from "../../../module/cli/heap-housekeeping.js";
import { DAEMON_NODE_FLAGS } from "../../../module/lab/topology.js";

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test("asks for an async major collection every interval until stopped", async () => {
  const calls: number[] = [];
  const options: unknown[] = [];
  const t0 = Date.now();
  const stop = heapHousekeeping(30, (o) => {
    calls.push(Date.now() - t0);
    options.push(o);
  });
  // Three calls (bounded wait): repeated, not once. Not a rate: a loaded machine delays timers.
  for (const end = Date.now() + 10_000; calls.length < 3 && Date.now() < end;) await sleep(10);
  stop();
  const n = calls.length;
  assert.ok(n >= 3, `calls: ${calls.join(", ")} ms`);
  assert.ok(calls[0]! >= 25, `the first after an interval, not at once: ${calls[0]} ms`);
  assert.deepEqual(options[0], { type: "major", execution: "async" });
  await sleep(100);
  assert.equal(calls.length, n, "none after stop");
});

test("does nothing without gc (node run without --expose-gc)", () => {
  const stop = heapHousekeeping(10, undefined);
  stop();
});

for (const [name, node] of [
  ["this node", process.execPath],
  ["the oldest node (PMT_TEST_NODE)", process.env.PMT_TEST_NODE],
] as const) {
  test(
    `with DAEMON_NODE_FLAGS, ${name} runs a full collection when asked`,
    { skip: node ? false : "PMT_TEST_NODE not set (.ci/run sets it to a Node 18 binary)" },
    () => {
      const mod = path.join(__dirname, "..", "..", "..", "module", "cli", "heap-housekeeping.js");
      const script =
        `const { heapHousekeeping } = require(${JSON.stringify(mod)});` +
        // Stops after its third request, not after a time (timers run late on a loaded machine).
        // The housekeeping timer does not keep a process alive: `alive` does until then.
        `const alive = setInterval(() => {}, 1000); let n = 0;` +
        `const stop = heapHousekeeping(50, (o) => {` +
        `  gc(o); if (++n === 3) { stop(); clearInterval(alive); } });`;
      const r = spawnSync(node!, [...DAEMON_NODE_FLAGS, "--trace-gc", "-e", script], {
        encoding: "utf8",
        timeout: 20_000,
      });
      assert.equal(r.status, 0, r.stderr);
      const full = r.stdout.split("\n").filter((l) => /Mark-(Compact|sweep).*testing/.test(l));
      assert.ok(full.length >= 2, `full collections asked for by gc(): ${r.stdout}`);
    },
  );
}
