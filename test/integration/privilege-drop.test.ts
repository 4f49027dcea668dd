/**
 * Least privilege of the running daemons (root, network namespaces; topology in
 * test/support/control-lab.ts: lan -- cpe == isp == relay, docs/security.md):
 * - started as root without --user: uid 0 with only the kept capabilities (bounding set too);
 * - started as root with --user nobody: every thread runs as nobody; the main thread holds exactly
 *   the kept capabilities (cpe: net_admin + net_raw, also ambient and bounding; relay: none) with
 *   no_new_privs; the LAN host still reaches the relay through the tunnel, and a WAN address
 *   change is still carried out (`ip` with the ambient capabilities), then a clean stop;
 * - started as a non-root user holding net_admin + net_raw as ambient capabilities (setpriv, as
 *   systemd AmbientCapabilities= or procd's capabilities file): runs; without them: exit 3 with
 *   one line naming the missing capabilities; an unknown --user: exit 2 with one line.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, existsSync, mkdirSync, readdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import {
  CAP_NET_ADMIN,
  CAP_NET_RAW,
  capabilityMask,
  parseProcStatus,
  type ProcessCredentials,
} from "../../module/io/privileges.js";
import {
  buildControlLab,
  CPE_WAN,
  CPE_WAN_2,
  DAEMON_RUNNER,
  ISP_CPE_SIDE_2,
  lanAddresses,
  removeControlLabFiles,
  startCpe,
  startRelay,
  waitCpeUp,
  waitLoops,
  type ControlLab,
} from "../support/control-lab.js";
import {
  NetnsRegistry,
  netnsSkipReason,
  toolSkipReason,
  type NsProcess,
} from "../support/netns.js";

const NOBODY = 65534;
const skip =
  netnsSkipReason() ??
  toolSkipReason("setpriv") ??
  toolSkipReason("unshare") ??
  (spawnSync("id", ["-u", "nobody"], { encoding: "utf8" }).stdout.trim() === String(NOBODY)
    ? undefined
    : "no user nobody (65534)");

const CPE_KEEP = capabilityMask([CAP_NET_ADMIN, CAP_NET_RAW]);

/** /proc/<pid>/status of the main thread, and of every thread. */
function credentials(pid: number): { main: ProcessCredentials; threads: ProcessCredentials[] } {
  const read = (path: string): ProcessCredentials => {
    const c = parseProcStatus(readFileSync(path, "utf8"));
    assert.ok(c, `unparsable ${path}`);
    return c;
  };
  const threads = readdirSync(`/proc/${pid}/task`).map((t) =>
    read(`/proc/${pid}/task/${t}/status`),
  );
  return { main: read(`/proc/${pid}/status`), threads };
}

/** Every thread runs as `uid` and none holds a capability outside `mask`. */
function assertThreads(creds: ProcessCredentials[], uid: number, mask: bigint): void {
  for (const c of creds) {
    assert.deepEqual(c.uids, [uid, uid, uid, uid]);
    assert.equal(c.capEff & ~mask, 0n, `thread CapEff ${c.capEff.toString(16)}`);
    assert.equal(c.capPrm & ~mask, 0n, `thread CapPrm ${c.capPrm.toString(16)}`);
  }
}

describe("privilege drop of the running daemons (netns)", { skip, timeout: 300_000 }, () => {
  const reg = new NetnsRegistry();
  let lab: ControlLab;
  let cpe: NsProcess | undefined;
  let relay: NsProcess | undefined;
  /** State file and status socket in a directory named like the package's own. */
  let own = "";
  let statusSocket = "";
  const diag = () => (cpe ? `\n--- cpe stderr ---\n${cpe.stderr().slice(-4000)}` : "");
  /** Stops what an earlier test left running (it failed before its own stop). */
  const stopLeftovers = async () => {
    if (cpe) await reg.stop(cpe, 5000);
    if (relay) await reg.stop(relay, 5000);
    cpe = relay = undefined;
  };

  before(async () => {
    lab = buildControlLab(reg, { staticWan: true });
    // nobody must reach the files below the scratch directory (mkdtemp made it 0700).
    chmodSync(lab.dir, 0o755);
    own = join(lab.dir, "6to4-pmt");
    statusSocket = join(own, "status.sock");
  });

  after(async () => {
    try {
      if (cpe) await reg.stop(cpe, 5000);
      if (relay) await reg.stop(relay, 5000);
    } finally {
      await reg.cleanup();
      removeControlLabFiles(lab);
    }
  });

  test("started as root with --user nobody: uid, capabilities and no_new_privs of every thread; traffic and a WAN change still work; clean stop", async () => {
    relay = startRelay(lab, ["--user", "nobody"]);
    assert.ok(await waitLoops(lab, relay), "relay did not start: " + relay.stderr());
    cpe = startCpe(lab, [
      "--user",
      "nobody",
      "--state-file",
      join(own, "state.json"),
      "--status-socket",
      statusSocket,
      "--health-interval",
      "2",
    ]);
    assert.ok(await waitCpeUp(lab, cpe), "cpe did not start" + diag());
    assert.ok(await waitLoops(lab, cpe), "cpe loops" + diag());

    const c = credentials(cpe.pid!);
    assert.deepEqual(c.main.uids, [NOBODY, NOBODY, NOBODY, NOBODY]);
    assert.deepEqual(c.main.gids, [NOBODY, NOBODY, NOBODY, NOBODY]);
    assert.equal(c.main.capEff, CPE_KEEP, c.main.capEff.toString(16));
    assert.equal(c.main.capPrm, CPE_KEEP);
    assert.equal(c.main.capAmb, CPE_KEEP, "ambient: `ip` children get them");
    assert.equal(c.main.capBnd, CPE_KEEP);
    assert.equal(c.main.noNewPrivs, true);
    assertThreads(c.threads, NOBODY, CPE_KEEP);
    const r = credentials(relay.pid!);
    assert.deepEqual(r.main.uids, [NOBODY, NOBODY, NOBODY, NOBODY]);
    assert.equal(r.main.capEff, 0n);
    assert.equal(r.main.capPrm, 0n);
    assert.equal(r.main.capAmb, 0n);
    assert.equal(r.main.capBnd, 0n);
    assert.equal(r.main.noNewPrivs, true);
    assertThreads(r.threads, NOBODY, 0n);
    assert.match(
      cpe.stderr(),
      /privileges: uid 65534 gid \d+ \(nobody\), capabilities cap_net_admin,cap_net_raw, no_new_privs/,
    );

    // The package-named directory is the user's; the state file is written as the user.
    assert.equal(readFileSync(join(own, "state.json"), "utf8").length > 0, true);
    const st = spawnSync("stat", ["-c", "%u", own, join(own, "state.json"), statusSocket], {
      encoding: "utf8",
    }).stdout;
    assert.deepEqual(st.trim().split("\n"), [String(NOBODY), String(NOBODY), String(NOBODY)]);

    // Data plane and health probes: the LAN host reaches the relay's 6to4 address.
    const slaac = (p: string) =>
      lanAddresses(lab).find((a) => a.local.startsWith(p) && !a.deprecated);
    assert.ok(
      await reg.waitFor(() => slaac("2002:c000:201:0:") !== undefined, 30_000, 200),
      `no SLAAC address: ${JSON.stringify(lanAddresses(lab))}` + diag(),
    );
    const ping1 = await reg.execAsync(
      lab.lan,
      [
        "ping",
        "-6",
        "-n",
        "-c",
        "3",
        "-W",
        "2",
        "-I",
        slaac("2002:c000:201:0:")!.local,
        "2002:c058:6301::",
      ],
      20_000,
    );
    assert.equal(ping1.code, 0, ping1.stdout + ping1.stderr + diag());
    let s = (await queryStatusSocket(statusSocket)) as StatusSnapshot;
    for (const deadline = Date.now() + 20_000; s.health.probesOk < 1 && Date.now() < deadline;) {
      await new Promise((res) => setTimeout(res, 200));
      s = (await queryStatusSocket(statusSocket)) as StatusSnapshot;
    }
    assert.ok(s.health.probesOk >= 1, JSON.stringify(s.health) + diag());

    // WAN change after the drop: new TUN and LAN addresses through `ip` (CAP_NET_ADMIN, ambient).
    reg.must(["ip", "-n", lab.cpe, "addr", "add", `${CPE_WAN_2}/24`, "dev", "wan0"]);
    reg.must(["ip", "-n", lab.cpe, "addr", "del", `${CPE_WAN}/24`, "dev", "wan0"]);
    reg.must(["ip", "-n", lab.cpe, "route", "replace", "default", "via", ISP_CPE_SIDE_2]);
    assert.ok(
      await reg.waitFor(() => slaac("2002:cb00:7107:0:") !== undefined, 30_000, 250),
      `host addresses: ${JSON.stringify(lanAddresses(lab))}` + diag(),
    );
    const tunAddrs = reg.exec(lab.cpe, ["ip", "-6", "addr", "show", "dev", "6to4pmt0"]).stdout;
    assert.match(tunAddrs, /2002:cb00:7107::/, "the TUN's router address moved");
    const ping2 = await reg.execAsync(
      lab.lan,
      [
        "ping",
        "-6",
        "-n",
        "-c",
        "3",
        "-W",
        "2",
        "-I",
        slaac("2002:cb00:7107:0:")!.local,
        "2002:c058:6301::",
      ],
      20_000,
    );
    assert.equal(ping2.code, 0, ping2.stdout + ping2.stderr + diag());
    assert.doesNotMatch(cpe.stderr(), /failed|not permitted|EPERM|EACCES/i, diag());

    // Stop: routes removed with the kept capability, the socket removed by its owner.
    const p = cpe;
    cpe = undefined;
    assert.equal(await reg.stop(p, 5000), 0, p.stderr());
    assert.doesNotMatch(p.stderr(), /failed|not permitted/i);
    assert.ok(!existsSync(statusSocket), "status socket removed");
    assert.doesNotMatch(reg.exec(lab.cpe, ["ip", "-o", "link"]).stdout, /6to4pmt0/);
    const q = relay;
    relay = undefined;
    assert.equal(await reg.stop(q, 5000), 0, q.stderr());
    assert.doesNotMatch(q.stderr(), /failed|not permitted/i);
    assert.doesNotMatch(reg.exec(lab.relay, ["ip", "-o", "link"]).stdout, /6to4pmt-r0/);
  });

  test("started as root without --user: stays uid 0 with only the kept capabilities, bounding set too, and no_new_privs", async () => {
    await stopLeftovers();
    // The previous test handed the directory to nobody. A root daemon without --user never
    // trusts another user's directory (control/safe-path.ts), so the operator gives it back.
    reg.must(["chown", "-R", "0:0", own]);
    relay = startRelay(lab);
    assert.ok(await waitLoops(lab, relay), "relay did not start: " + relay.stderr());
    cpe = startCpe(lab, [
      "--state-file",
      join(own, "state.json"),
      "--status-socket",
      statusSocket,
      "--health-interval",
      "3600",
    ]);
    assert.ok(await waitCpeUp(lab, cpe), "cpe did not start" + diag());
    // The data plane's loops start after the drop.
    assert.ok(await waitLoops(lab, cpe), "cpe loops" + diag());
    const c = credentials(cpe.pid!).main;
    assert.deepEqual(c.uids, [0, 0, 0, 0]);
    assert.equal(c.capEff, CPE_KEEP);
    assert.equal(c.capPrm, CPE_KEEP);
    assert.equal(c.capBnd, CPE_KEEP, "an exec cannot regain root's full set");
    assert.equal(c.noNewPrivs, true);
    const r = credentials(relay.pid!).main;
    assert.deepEqual(r.uids, [0, 0, 0, 0]);
    assert.equal(r.capEff, 0n);
    assert.equal(r.capBnd, 0n);
    assert.equal(r.noNewPrivs, true);
    const p = cpe;
    cpe = undefined;
    assert.equal(await reg.stop(p, 5000), 0, p.stderr());
    const q = relay;
    relay = undefined;
    assert.equal(await reg.stop(q, 5000), 0, q.stderr());
    assert.doesNotMatch(p.stderr() + q.stderr(), /failed|not permitted/i);
  });

  test("started as nobody holding net_admin + net_raw as ambient capabilities: runs with exactly the kept set", async () => {
    await stopLeftovers();
    // The previous test ran as root: the operator hands the directory to the new user.
    reg.must(["chown", "-R", `${NOBODY}:${NOBODY}`, own]);
    // This host's /dev/net/tun is root-only (0600, as OpenWrt's hotplug leaves it 0644): inside a
    // private mount namespace of the daemon, a node nobody's group may open is bound over it, as
    // the OpenWrt init script grants the daemon's group.
    const node = join(lab.dir, "tun");
    assert.equal(spawnSync("mknod", [node, "c", "10", "200"]).status, 0, "mknod");
    chownSync(node, 0, NOBODY);
    chmodSync(node, 0o660);
    mkdirSync(own, { recursive: true });
    chownSync(own, NOBODY, NOBODY);
    const argv = [
      "unshare",
      "-m",
      "sh",
      "-c",
      `mount --bind ${node} /dev/net/tun && exec "$@"`,
      "sh",
      "setpriv",
      `--reuid=${NOBODY}`,
      `--regid=${NOBODY}`,
      "--clear-groups",
      "--inh-caps=+net_admin,+net_raw",
      "--ambient-caps=+net_admin,+net_raw",
    ];
    relay = reg.spawn(lab.relay, [
      ...argv,
      process.execPath,
      DAEMON_RUNNER,
      "relay",
      "--enabled",
      "--relay-ipv4",
      "192.88.99.1,198.51.100.2",
    ]);
    assert.ok(await waitLoops(lab, relay), "relay as nobody: " + relay.stderr());
    const r = credentials(relay.pid!);
    assert.deepEqual(r.main.uids, [NOBODY, NOBODY, NOBODY, NOBODY]);
    assert.equal(r.main.capEff, 0n, "the relay keeps nothing");
    assert.equal(r.main.capAmb, 0n);
    assert.equal(r.main.noNewPrivs, true);

    cpe = reg.spawn(
      lab.cpe,
      [
        ...argv,
        process.execPath,
        DAEMON_RUNNER,
        "cpe",
        "--enabled",
        "--wan-device",
        "wan0",
        "--lan-device",
        "lan0",
        "--state-file",
        join(own, "state.json"),
        "--status-socket",
        statusSocket,
        "--use-dhcp-6rd",
        "0",
        "--health-interval",
        "3600",
        // Already that user (as procd's ujail starts it on OpenWrt): no switch, no setuid needed.
        "--user",
        "nobody",
      ],
      { env: { ...process.env, PMT_DHCP_FILE: lab.leaseFile } },
    );
    assert.ok(await waitCpeUp(lab, cpe), "cpe as nobody did not start" + diag());
    assert.ok(await waitLoops(lab, cpe), "cpe loops" + diag());
    const c = credentials(cpe.pid!);
    assert.deepEqual(c.main.uids, [NOBODY, NOBODY, NOBODY, NOBODY]);
    assert.equal(c.main.capEff, CPE_KEEP);
    assert.equal(c.main.capAmb, CPE_KEEP);
    assert.equal(c.main.noNewPrivs, true);
    assertThreads(c.threads, NOBODY, CPE_KEEP);
    const s = (await queryStatusSocket(statusSocket)) as StatusSnapshot;
    assert.equal(s.state, "running", `${s.stateReason}` + diag());
    const p = cpe;
    cpe = undefined;
    assert.equal(await reg.stop(p, 5000), 0, p.stderr());
    const q = relay;
    relay = undefined;
    assert.equal(await reg.stop(q, 5000), 0, q.stderr());
  });

  test("non-root without the capabilities: exit 3 with one line naming them; unknown --user: exit 2 with one line", async () => {
    for (const role of ["cpe", "relay"]) {
      const r = await reg.execAsync(lab.cpe, [
        "setpriv",
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        process.execPath,
        DAEMON_RUNNER,
        role,
        "--enabled",
      ]);
      assert.equal(r.code, 3, r.stderr);
      const lines = r.stderr.trim().split("\n");
      assert.equal(lines.length, 1, r.stderr);
      assert.match(lines[0]!, /missing capabilities cap_net_admin, cap_net_raw: run as root/);
    }
    const u = await reg.execAsync(lab.cpe, [
      process.execPath,
      DAEMON_RUNNER,
      "relay",
      "--enabled",
      "--user",
      "no-such-user-6to4pmt",
    ]);
    assert.equal(u.code, 2, u.stderr);
    assert.equal(
      u.stderr.trim(),
      "6to4-pmt: --user no-such-user-6to4pmt: no such user in /etc/passwd; expected a user name, uid or uid:gid",
    );
  });
});
