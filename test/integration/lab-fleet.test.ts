/**
 * `6to4-pmt lab --relays N` as a user runs it (root, bird installed): the bundle builds the fleet
 * (namespaces fleet-*), shows one CPE per relay reaching the server, kills relay1's daemon, sees
 * rtr withdraw it and its CPE reach the server through another relay, and exits 0 with
 * "verdict: PASSED"; afterwards no fleet-* namespace is left. Ctrl-C in the middle of a run tears
 * it down (namespaces, BIRD, daemons) and exits 130 with nothing reported after the interruption.
 * A bad count exits 2 with one line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { spawnMerged } from "../support/merged-run.js";
import { netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { isAlive } from "../../module/lab/netns.js";

const BUNDLE = path.resolve(__dirname, "../../../dist/6to4-pmt.js");

function fleetNamespaces(): string[] {
  return existsSync("/run/netns")
    ? readdirSync("/run/netns").filter((n) => n.startsWith("fleet-"))
    : [];
}

/** PIDs of processes whose network namespace is `ns` (by `ip netns pids`). */
function pidsIn(ns: string): number[] {
  const r = spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.split("\n").filter(Boolean).map(Number) : [];
}

function skipReason(): string | undefined {
  if (!existsSync(BUNDLE)) return `bundle ${BUNDLE} not built (npm run build)`;
  if (fleetNamespaces().length > 0) return "fleet-* namespaces exist: a fleet lab is running";
  return netnsSkipReason() ?? toolSkipReason("bird");
}

test(
  "6to4-pmt lab --relays 2 passes and tears everything down",
  { skip: skipReason(), timeout: 150_000 },
  () => {
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--relays", "2"], {
      encoding: "utf8",
      timeout: 140_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /^PASS {2}rtr routes 192\.88\.99\.1 over all 2 relays/m);
    assert.equal(
      (r.stdout.match(/^PASS {2}cpe\d+ \(100\.64\.\d+\.2\) -> server through relay\d/gm) ?? [])
        .length,
      2,
    );
    assert.match(
      r.stdout,
      /^PASS {2}relay1 daemon killed \(SIGKILL\): rtr withdrew it: after \d+ ms$/m,
    );
    assert.match(r.stdout, /verdict: PASSED/);
    assert.deepEqual(fleetNamespaces(), []);
  },
);

test(
  "6to4-pmt lab --relays 2 interrupted by SIGINT tears down and exits 130",
  { skip: skipReason(), timeout: 120_000 },
  async () => {
    const run = spawnMerged([process.execPath, BUNDLE, "lab", "--relays", "2"]);
    const { child } = run;
    try {
      // Interrupt once the anycast converged: BIRD in every namespace and both relay daemons run.
      await run.waitFor(/^(PASS|FAIL) {2}rtr routes/m, 90_000);
      assert.match(run.out(), /^PASS {2}rtr routes/m, run.out());
      const running = fleetNamespaces().flatMap(pidsIn);
      assert.ok(running.length >= 4, `BIRD on rtr, srv, two relays and their daemons: ${running}`);
      const code = await run.interrupt("SIGINT", 30_000);
      const out = run.out();
      assert.equal(code, 130, out);
      const at = out.indexOf("interrupted: tearing down");
      assert.ok(at >= 0, out);
      assert.doesNotMatch(out.slice(at), /^(PASS|FAIL) {2}|^verdict:/m, out);
      assert.deepEqual(fleetNamespaces(), []);
      for (const pid of running) assert.equal(isAlive(pid), false, `process ${pid}`);
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
      for (const n of fleetNamespaces()) {
        for (const pid of pidsIn(n)) process.kill(pid, "SIGKILL");
        spawnSync("ip", ["netns", "del", n]);
      }
    }
  },
);

test(
  "6to4-pmt lab --relays 1 exits 2 with one line naming the option",
  { skip: skipReason() },
  () => {
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--relays", "1"], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr.trim(), /^[^\n]*--relays: expected a relay count 2\.\.8, got "1"$/);
  },
);
