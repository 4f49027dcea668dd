/**
 * `6to4-pmt lab --relays N` as a user runs it (root, bird installed): the bundle builds the fleet
 * (namespaces fleet-*), shows one CPE per relay reaching the server, kills relay1's daemon, sees
 * rtr withdraw it and its CPE reach the server through another relay, and exits 0 with
 * "verdict: PASSED"; afterwards no fleet-* namespace is left. A bad count exits 2 with one line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { netnsSkipReason, toolSkipReason } from "../support/netns.js";

const BUNDLE = path.resolve(__dirname, "../../../dist/6to4-pmt.js");

function fleetNamespaces(): string[] {
  return existsSync("/run/netns")
    ? readdirSync("/run/netns").filter((n) => n.startsWith("fleet-"))
    : [];
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
  "6to4-pmt lab --relays 1 exits 2 with one line naming the option",
  { skip: skipReason() },
  () => {
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--relays", "1"], { encoding: "utf8" });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(r.stderr.trim(), /^[^\n]*--relays: expected a relay count 2\.\.8, got "1"$/);
  },
);
