/**
 * The CPE as procd's ujail starts it on OpenWrt (init script with ujail and the capabilities
 * file), reproduced with util-linux setpriv: already the daemon's user (nobody here) with only
 * CAP_NET_ADMIN and CAP_NET_RAW (inheritable, ambient, bounding), no_new_privs, the keep-caps
 * securebit locked (PR_SET_KEEPCAPS then fails with EPERM), and an environment holding only the
 * instance's `env` parameters and container=ujail (no PATH). On a real OpenWrt 23.05 userland this
 * start failed with "dropping privileges failed: prctl PR_SET_KEEPCAPS: EPERM" (exit 4) and
 * `spawnSync ip ENOENT`; and the init script's `--check-config`, run as root before each start,
 * refused the state directory the first start had handed to the user ("is owned by uid ..., not
 * root"), so every restart after the first was refused.
 *
 *   [p<pid>-ujcpe]  wan0 100.64.0.2/24 ==veth== isp0 100.64.0.1/24  [p<pid>-ujisp]
 *                   lan0 ==veth== eth0 [p<pid>-ujlan]
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import { chmodSync, chownSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import {
  buildOpenwrtCpeNamespaces,
  DIST_ADDON,
  DIST_BUNDLE,
  distSkipReason,
  waitStatusRunning,
} from "../support/openwrt-cpe.js";
import {
  CAP_NET_ADMIN,
  CAP_NET_RAW,
  capabilityMask,
  parseProcStatus,
} from "../../module/io/privileges.js";

const BUNDLE = DIST_BUNDLE;
const ADDON = DIST_ADDON;
const nobody = spawnSync("id", ["-u", "nobody"], { encoding: "utf8" });
const skip =
  netnsSkipReason() ??
  toolSkipReason("setpriv") ??
  (nobody.status !== 0 ? "no user nobody" : undefined) ??
  distSkipReason();

describe("CPE started the way procd's ujail starts it (netns)", { skip, timeout: 120_000 }, () => {
  const reg = new NetnsRegistry();
  const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-ujail-"));
  after(async () => {
    await reg.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("check as root accepts the user's state directory; the jailed daemon runs, routes in place", async () => {
    const uid = Number(nobody.stdout.trim());
    const gid = Number(spawnSync("id", ["-g", "nobody"], { encoding: "utf8" }).stdout.trim());
    const { cpe } = buildOpenwrtCpeNamespaces(reg, "uj");

    // The package's state/run directory as the init script leaves it after a first start:
    // owned by the user, 0750 (pmt_privileges).
    chmodSync(dir, 0o755);
    const own = join(dir, "6to4-pmt");
    mkdirSync(own, { mode: 0o750 });
    chownSync(own, uid, gid);
    chmodSync(own, 0o750);
    const sock = join(own, "status.sock");
    const args = [
      "cpe",
      "--enabled",
      "1",
      "--wan-device",
      "wan0",
      "--lan-device",
      "lan0",
      "--provider-prefix",
      "2001:db8::/32",
      "--ra",
      "builtin",
      "--state-file",
      join(own, "state.json"),
      "--status-socket",
      sock,
      "--log-level",
      "info",
      "--user",
      "nobody",
    ];

    // The init script's check, as root, before procd gets the instance.
    const check = reg.exec(cpe, [process.execPath, BUNDLE, ...args, "--check-config"]);
    assert.equal(check.code, 0, check.stdout + check.stderr);

    // ujail: user, group, capabilities, no_new_privs, locked securebits, only the instance env.
    const daemon = reg.spawn(cpe, [
      "setpriv",
      `--reuid=${uid}`,
      `--regid=${gid}`,
      "--clear-groups",
      "--inh-caps=-all,+net_admin,+net_raw",
      "--ambient-caps=-all,+net_admin,+net_raw",
      "--bounding-set=-all,+net_admin,+net_raw",
      "--securebits=+noroot,+noroot_locked,+no_setuid_fixup,+no_setuid_fixup_locked,+keep_caps_locked",
      "--no-new-privs",
      "env",
      "-i",
      "PMT_LOG_STDOUT=1",
      "container=ujail",
      `PMT_NATIVE_PATH=${ADDON}`,
      process.execPath,
      BUNDLE,
      ...args,
    ]);
    const st = await waitStatusRunning(reg, daemon, sock);
    const out = (): string => daemon.stdout() + daemon.stderr();
    assert.ok(st, `no status:\n${out()}`);
    assert.equal(st.state, "running", `${st.stateReason}\n${out()}`);
    assert.equal(st.lanPrefix, "2001:db8:6440:2::/64");
    assert.ok(
      await reg.waitFor(
        () => /privileges: uid /.test(daemon.stdout()) || daemon.hasExited(),
        10_000,
      ),
      out(),
    );
    assert.doesNotMatch(out(), /dropping privileges failed|ENOENT/, out());
    assert.match(daemon.stdout(), new RegExp(`privileges: uid ${uid} gid ${gid} `), out());
    const creds = parseProcStatus(readFileSync(`/proc/${daemon.pid}/status`, "utf8"));
    assert.ok(creds);
    assert.deepEqual(creds.uids, [uid, uid, uid, uid]);
    assert.equal(creds.capEff, capabilityMask([CAP_NET_ADMIN, CAP_NET_RAW]));
    // `ip` (found without a PATH in the environment) put the routes on the TUN.
    assert.ok(
      await reg.waitFor(
        () =>
          /^default /m.test(reg.exec(cpe, ["ip", "-6", "route", "show", "dev", "6to4pmt0"]).stdout),
        10_000,
      ),
      reg.exec(cpe, ["ip", "-6", "route"]).stdout + out(),
    );
    // A restart's check, as root, after the daemon wrote its state file there as the user.
    const again = reg.exec(cpe, [process.execPath, BUNDLE, ...args, "--check-config"]);
    assert.equal(again.code, 0, again.stdout + again.stderr);

    const code = await reg.stop(daemon, 10_000);
    assert.equal(code, 0, out());
  });
});
