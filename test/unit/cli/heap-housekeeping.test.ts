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
  const calls: unknown[] = [];
  const stop = heapHousekeeping(30, (o) => calls.push(o));
  await sleep(110);
  stop();
  const n = calls.length;
  assert.ok(n >= 2 && n <= 4, `calls in 110 ms at 30 ms: ${n}`);
  assert.deepEqual(calls[0], { type: "major", execution: "async" });
  await sleep(80);
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
        `const stop = heapHousekeeping(50); setTimeout(stop, 180);`;
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
