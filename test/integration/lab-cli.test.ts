/**
 * `6to4-pmt lab` as a user runs it (root): the bundle builds the fixed-name namespaces
 * lan - cpe - isp - relay - inet, runs itself as CPE and relay, pings, transfers over TCP, shows
 * the translated source address (RFC 6732 Figure 3) and exits 0 with "verdict: PASSED"; afterwards
 * no namespace of the lab is left. Skips when the bundle is not built or a lab is already running.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { netnsSkipReason } from "../support/netns.js";
import { isAlive } from "../../module/lab/netns.js";

const BUNDLE = path.resolve(__dirname, "../../../dist/6to4-pmt.js");
const LAB_NAMESPACES = ["lan", "cpe", "isp", "relay", "inet"];

function skipReason(): string | undefined {
  if (!existsSync(BUNDLE)) return `bundle ${BUNDLE} not built (npm run build)`;
  const busy = LAB_NAMESPACES.filter((n) => existsSync(`/run/netns/${n}`));
  if (busy.length > 0) return `namespaces ${busy.join(",")} exist: a lab is running`;
  return netnsSkipReason();
}

test(
  "6to4-pmt lab passes and tears everything down",
  { skip: skipReason(), timeout: 120_000 },
  () => {
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--bytes", "2000000"], {
      encoding: "utf8",
      timeout: 110_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /verdict: PASSED/);
    assert.match(r.stdout, /source address the server saw: 2001:db8:6440:2::100/);
    assert.match(r.stdout, /cpe counters: .*out_packets=/);
    // A healthy run drops nothing but the kernel's own MLD reports on each new TUN.
    for (const d of ["cpe", "relay"]) {
      assert.match(r.stdout, new RegExp(`^${d} drops: (none|link_scope_multicast=\\d+)$`, "m"));
    }
    for (const n of LAB_NAMESPACES)
      assert.equal(existsSync(`/run/netns/${n}`), false, `${n} removed`);
  },
);

/** A process's command line ("" once it is gone). */
function cmdline(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, "utf8").replace(/\0/g, " ");
  } catch {
    return "";
  }
}

/** The files a kept lab leaves in /tmp: daemon logs, the CPE's state file and status socket. */
function labFiles(): string[] {
  return readdirSync("/tmp")
    .filter((f) => /^6to4-pmt-(lab-(cpe|relay)\.log|[0-9]+-cpe\.(state\.json|sock))$/.test(f))
    .map((f) => `/tmp/${f}`);
}

test(
  "6to4-pmt lab --keep leaves the lab running; --down removes namespaces, daemons and files",
  { skip: skipReason(), timeout: 120_000 },
  () => {
    const stale = labFiles();
    try {
      const kept = spawnSync(process.execPath, [BUNDLE, "lab", "--keep", "--bytes", "200000"], {
        encoding: "utf8",
        timeout: 100_000,
      });
      assert.equal(kept.status, 0, kept.stdout + kept.stderr);
      assert.match(kept.stdout, /verdict: PASSED/);
      for (const n of LAB_NAMESPACES) {
        assert.match(kept.stdout, new RegExp(`ip netns exec ${n} bash`));
        assert.equal(existsSync(`/run/netns/${n}`), true, `${n} kept`);
      }
      const pids = ["cpe", "relay"].flatMap((n) =>
        spawnSync("ip", ["netns", "pids", n], { encoding: "utf8" })
          .stdout.split(/\s+/)
          .filter(Boolean)
          .map(Number)
          .filter((pid) => cmdline(pid).includes("6to4-pmt.js")),
      );
      assert.equal(pids.length, 2, `one daemon in each of cpe and relay: ${pids.join(",")}`);
      const made = labFiles().filter((f) => !stale.includes(f));
      assert.ok(
        made.some((f) => f.endsWith("-cpe.state.json")),
        made.join(" "),
      );
      assert.ok(
        made.some((f) => f.endsWith("lab-cpe.log")),
        made.join(" "),
      );

      const down = spawnSync(process.execPath, [BUNDLE, "lab", "--down"], {
        encoding: "utf8",
        timeout: 30_000,
      });
      assert.equal(down.status, 0, down.stdout + down.stderr);
      for (const n of LAB_NAMESPACES) assert.equal(existsSync(`/run/netns/${n}`), false, n);
      for (const pid of pids) assert.equal(isAlive(pid), false, `daemon ${pid}`);
      assert.deepEqual(labFiles(), [], "the kept lab's files are removed");
    } finally {
      if (LAB_NAMESPACES.some((n) => existsSync(`/run/netns/${n}`))) {
        spawnSync(process.execPath, [BUNDLE, "lab", "--down"], { timeout: 30_000 });
      }
    }
  },
);

/** The oldest Node we target (package.json engines); .ci/run fetches its binary. */
const OLDEST_NODE = process.env.PMT_TEST_NODE;

test(
  "6to4-pmt lab passes on the oldest Node we target (PMT_TEST_NODE, Node 18)",
  {
    skip:
      OLDEST_NODE === undefined
        ? "PMT_TEST_NODE not set (.ci/run sets it to a Node 18 binary)"
        : skipReason(),
    timeout: 120_000,
  },
  () => {
    const v = spawnSync(OLDEST_NODE!, ["--version"], { encoding: "utf8" });
    assert.match(v.stdout, /^v18\./, `PMT_TEST_NODE=${OLDEST_NODE} is ${v.stdout}${v.stderr}`);
    // The bundle, the addon (Node-API) and the daemons it spawns (process.execPath) on Node 18.
    const r = spawnSync(OLDEST_NODE!, [BUNDLE, "lab", "--bytes", "2000000"], {
      encoding: "utf8",
      timeout: 110_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assert.match(r.stdout, /verdict: PASSED/);
    for (const n of LAB_NAMESPACES)
      assert.equal(existsSync(`/run/netns/${n}`), false, `${n} removed`);
  },
);

test(
  "6to4-pmt lab: bad argument exits 2",
  { skip: existsSync(BUNDLE) ? undefined : "bundle not built" },
  () => {
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--bogus"], {
      encoding: "utf8",
      timeout: 20_000,
    });
    assert.equal(r.status, 2, r.stderr);
    assert.equal(r.stderr, "6to4-pmt: --bogus: unknown option\n");
  },
);
