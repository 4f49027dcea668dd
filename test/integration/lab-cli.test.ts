/**
 * `6to4-pmt lab` as a user runs it (root): the bundle builds the fixed-name namespaces
 * lan - cpe - isp - relay - inet, runs itself as CPE and relay; the carrier's dnsmasq leases the
 * CPE its WAN address and option 212 (RFC 5969 §7.1.1) to busybox udhcpc, the CPE derives the
 * translated /64 (RFC 6732 Figure 3) and advertises it, the LAN host forms a SLAAC address from the
 * RA, pings and TCP go both ways from it, the server sees it as the source, and the lab exits 0
 * with "verdict: PASSED"; afterwards no namespace, process or file of the lab is left (also after
 * Ctrl-C). Skips when the bundle is not built, a tool is missing or a lab is already running.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { spawnMerged } from "../support/merged-run.js";
import { netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { isAlive } from "../../module/lab/netns.js";

const BUNDLE = path.resolve(__dirname, "../../../dist/6to4-pmt.js");
const LAB_NAMESPACES = ["lan", "cpe", "isp", "relay", "inet"];

function skipReason(): string | undefined {
  if (!existsSync(BUNDLE)) return `bundle ${BUNDLE} not built (npm run build)`;
  const busy = LAB_NAMESPACES.filter((n) => existsSync(`/run/netns/${n}`));
  if (busy.length > 0) return `namespaces ${busy.join(",")} exist: a lab is running`;
  return (
    netnsSkipReason() ??
    toolSkipReason("dnsmasq") ??
    toolSkipReason("busybox") ??
    toolSkipReason("rdisc6")
  );
}

/** The steps a passing run prints, in order, each a PASS line. */
const STEPS = [
  "daemons started",
  "DHCPv4 lease with option 212",
  "CPE learned from DHCP",
  "6to4 prefix derived",
  "translated /64",
  "tunnel health",
  "RA seen by the LAN host",
  "SLAAC address formed",
  "ping lan",
  "ping server -> lan",
  "TCP lan -> server",
  "source address the server saw",
  "TCP server -> lan",
];

/** Asserts the whole story of a passing run; returns the LAN host's SLAAC address. */
function assertStory(out: string): string {
  const lines = out.split("\n").filter((l) => /^(PASS|FAIL) {2}/.test(l));
  assert.equal(lines.length, STEPS.length, out);
  STEPS.forEach((s, i) => assert.ok(lines[i]!.startsWith(`PASS  ${s}`), `${lines[i]}\n${out}`));
  // Option 212 as dnsmasq sent it, and what udhcpc's script did with the lease.
  assert.match(
    out,
    /^PASS {2}DHCPv4 lease with option 212: 100\.64\.0\.2\/24 router 100\.64\.0\.1, 3600 s, from DHCP server 100\.64\.0\.1 \(dnsmasq in isp\); OPTION_6RD \(RFC 5969 §7\.1\.1\) IPv4MaskLen 0, 6rdPrefix 2001:db8::\/32, BR 192\.88\.99\.1; udhcpc's script configured 100\.64\.0\.2 on cpe wan0/m,
  );
  // The CPE was told nothing but device names: every value came by DHCP.
  assert.match(
    out,
    /^PASS {2}CPE learned from DHCP: state running; WAN 100\.64\.0\.2 \(shared, learned\), provider prefix 2001:db8::\/32 \(dhcp\), IPv4MaskLen 0 \(dhcp\), relay 192\.88\.99\.1 \(dhcp\)$/m,
  );
  assert.match(out, /^PASS {2}6to4 prefix derived: 2002:6440:2::\/48 /m);
  assert.match(out, /^PASS {2}translated \/64: 2001:db8:6440:2::\/64 = 2001:db8::\/32 /m);
  assert.match(
    out,
    /^PASS {2}RA seen by the LAN host: rdisc6: prefix 2001:db8:6440:2::\/64 \(on-link, autonomous, valid 5400 s, preferred 2700 s\), MTU 1480 \(tunnel 1480\), router lifetime 1800 s, /m,
  );
  const slaac =
    /^PASS {2}SLAAC address formed: (2001:db8:6440:2:[0-9a-f:]+)\/64 on lan eth0 \(dynamic, .*\); IPv6 MTU 1480 from the RA; default route via fe80::/m.exec(
      out,
    );
  assert.ok(slaac, out);
  const host = slaac[1]!;
  assert.ok(out.includes(`PASS  source address the server saw: ${host} `), out);
  assert.ok(out.includes(`PASS  ping server -> lan ${host}: 0% packet loss`), out);
  assert.match(out, /^cpe counters: .*out_packets=/m);
  // A healthy run drops nothing but the kernel's own link-scope packets on the new TUN (MLD
  // reports; counted as no_route while the CPE has no lease yet).
  for (const d of ["cpe", "relay"]) {
    assert.match(
      out,
      new RegExp(
        `^${d}( \\(since its restart\\))? drops: (none|((no_route|link_scope_multicast)=\\d+ ?)+)$`,
        "m",
      ),
    );
  }
  assert.match(out, /^verdict: PASSED$/m);
  return host;
}

test(
  "6to4-pmt lab: DHCP with option 212, RA, SLAAC, traffic both ways; passes and tears everything down",
  { skip: skipReason(), timeout: 120_000 },
  () => {
    const stale = labFiles();
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--bytes", "2000000"], {
      encoding: "utf8",
      timeout: 110_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    assertStory(r.stdout);
    for (const n of LAB_NAMESPACES)
      assert.equal(existsSync(`/run/netns/${n}`), false, `${n} removed`);
    assert.deepEqual(labFiles(), stale, "no file of the run is left");
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

/**
 * The files a kept lab leaves in /tmp: daemon logs, the CPE's state file and status socket, the
 * scratch directory (lease files, udhcpc script, dnsmasq's files).
 */
function labFiles(): string[] {
  return readdirSync("/tmp")
    .filter((f) =>
      /^6to4-pmt-(lab-(cpe|relay)\.log|[0-9]+-cpe\.(state\.json|sock)|lab-[A-Za-z0-9]{6})$/.test(f),
    )
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
      const host = assertStory(kept.stdout);
      assert.match(
        kept.stdout,
        new RegExp(`ip netns exec lan bash +# LAN host ${host} \\(SLAAC\\)`),
      );
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
      // The carrier's DHCP server and the CPE's DHCP client keep running too.
      const dhcp = ["isp", "cpe"].flatMap((n) =>
        spawnSync("ip", ["netns", "pids", n], { encoding: "utf8" })
          .stdout.split(/\s+/)
          .filter(Boolean)
          .map(Number)
          .filter((pid) => /^(dnsmasq|busybox udhcpc) /.test(cmdline(pid))),
      );
      assert.equal(dhcp.length, 2, `dnsmasq in isp and udhcpc in cpe: ${dhcp.join(",")}`);
      const made = labFiles().filter((f) => !stale.includes(f));
      assert.ok(
        made.some((f) => f.endsWith("-cpe.state.json")),
        made.join(" "),
      );
      assert.ok(
        made.some((f) => f.endsWith("lab-cpe.log")),
        made.join(" "),
      );
      assert.ok(
        made.some((f) => existsSync(`${f}/dhcp.lease`)),
        made.join(" "),
      );

      const down = spawnSync(process.execPath, [BUNDLE, "lab", "--down"], {
        encoding: "utf8",
        timeout: 30_000,
      });
      assert.equal(down.status, 0, down.stdout + down.stderr);
      for (const n of LAB_NAMESPACES) assert.equal(existsSync(`/run/netns/${n}`), false, n);
      for (const pid of [...pids, ...dhcp]) assert.equal(isAlive(pid), false, `process ${pid}`);
      assert.deepEqual(labFiles(), [], "the kept lab's files are removed");
    } finally {
      if (LAB_NAMESPACES.some((n) => existsSync(`/run/netns/${n}`))) {
        spawnSync(process.execPath, [BUNDLE, "lab", "--down"], { timeout: 30_000 });
      }
    }
  },
);

test(
  "6to4-pmt lab --faults: renumbering moves the LAN host, a dead relay withdraws the default route within 30 s",
  { skip: skipReason(), timeout: 150_000 },
  () => {
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--faults", "--bytes", "200000"], {
      encoding: "utf8",
      timeout: 140_000,
    });
    assert.equal(r.status, 0, r.stdout + r.stderr);
    const host = assertStory(r.stdout.replace(/^PASS {2}fault: .*\n/gm, ""));
    const iid = host.split(":").slice(4).join(":");
    assert.match(
      r.stdout,
      /^PASS {2}fault: new DHCP lease: WAN 100\.64\.0\.2 -> 100\.64\.0\.3 [\d.]+ s after /m,
    );
    // RFC 9096: the new /64 preferred, the old one still advertised, deprecated.
    assert.match(
      r.stdout,
      /^PASS {2}fault: new prefix advertised, old one deprecated: CPE LAN prefix 2001:db8:6440:3::\/64 .*RA: .*2001:db8:6440:3::\/64 preferred [1-9]\d* s.*2001:db8:6440:2::\/64 preferred 0 s/m,
    );
    assert.ok(
      r.stdout.includes(`PASS  fault: LAN host moved: new address 2001:db8:6440:3:${iid} `),
      r.stdout,
    );
    assert.ok(r.stdout.includes(`old ${host} deprecated (preferred 0 s`), r.stdout);
    const killed =
      /^PASS {2}fault: relay killed: health down .*router lifetime 0 s; the LAN host's default route gone ([\d.]+) s after the kill/m.exec(
        r.stdout,
      );
    assert.ok(killed, r.stdout);
    assert.ok(Number(killed[1]) <= 30, `withdrawn after ${killed[1]} s`);
    assert.match(
      r.stdout,
      /^PASS {2}fault: relay back: health up; router lifetime 1800 s; default route back [\d.]+ s after the restart; ping answered$/m,
    );
    assert.doesNotMatch(r.stdout, /^FAIL/m);
    for (const n of LAB_NAMESPACES)
      assert.equal(existsSync(`/run/netns/${n}`), false, `${n} removed`);
  },
);

/** PIDs in namespace `ns` whose command line matches `re`. */
function pidsIn(ns: string, re: RegExp): number[] {
  return spawnSync("ip", ["netns", "pids", ns], { encoding: "utf8" })
    .stdout.split(/\s+/)
    .filter(Boolean)
    .map(Number)
    .filter((pid) => re.test(cmdline(pid)));
}

test(
  "6to4-pmt lab: Ctrl-C during the run removes namespaces, processes and files (exit 130) and reports no step after it",
  { skip: skipReason(), timeout: 120_000 },
  async () => {
    const stale = labFiles();
    // A transfer long enough to be in flight when the signal comes (100 MB; the source gives up
    // after 55 s, the interrupt comes long before). One pipe for stdout and stderr keeps the
    // order of the step lines and the "interrupted" log line.
    const run = spawnMerged([process.execPath, BUNDLE, "lab", "--bytes", "100000000"]);
    const { child } = run;
    try {
      // Interrupt once the TCP transfer began (the step after "ping server -> lan"): daemons,
      // dnsmasq and udhcpc run, files exist, and the step in flight waits on processes the
      // teardown kills, so it would end (as a FAIL) while the teardown still runs.
      await run.waitFor(/^(PASS|FAIL) {2}ping server -> lan/m, 60_000);
      assert.match(run.out(), /^PASS {2}ping server -> lan/m, run.out());
      const running = [
        ...pidsIn("isp", /^dnsmasq /),
        ...pidsIn("cpe", /^busybox udhcpc |6to4-pmt\.js/),
        ...pidsIn("relay", /6to4-pmt\.js/),
      ];
      assert.equal(running.length, 4, `dnsmasq, udhcpc and two daemons: ${running.join(",")}`);
      assert.ok(labFiles().length > stale.length, "the run made its files");
      const code = await run.interrupt("SIGINT", 30_000);
      const out = run.out();
      assert.equal(code, 130, out);
      // Nothing reported after the interruption: the teardown killed what the step in flight
      // waited for, so no PASS/FAIL line, no counters, no verdict.
      const at = out.indexOf("interrupted: tearing down");
      assert.ok(at >= 0, out);
      assert.doesNotMatch(out.slice(at), /^(PASS|FAIL) {2}|^verdict:|counters:/m, out);
      for (const n of LAB_NAMESPACES) assert.equal(existsSync(`/run/netns/${n}`), false, n);
      for (const pid of running) assert.equal(isAlive(pid), false, `process ${pid}`);
      assert.deepEqual(labFiles(), stale, "the run's files are removed");
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
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
    assertStory(r.stdout);
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
