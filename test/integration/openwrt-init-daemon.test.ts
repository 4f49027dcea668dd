/**
 * From /etc/config/6to4-pmt to a running daemon (root, network namespaces): the OpenWrt init
 * script (under the rc.common/procd STAND-IN, test/unit/openwrt/standin/) turns a UCI config into
 * `6to4-pmt cpe --flag value ...` (never a path or program option: those are not read from UCI);
 * the real bundle (dist/6to4-pmt.js) runs with exactly those
 * arguments in a namespace, reports `running` with the translated LAN /64 (RFC 6732 §3.3), and
 * with ra 'netifd' runs the netifd hook (`update` on start, `withdraw` on SIGTERM) — as the UCI
 * `user` (nobody here) with only CAP_NET_ADMIN and CAP_NET_RAW and no_new_privs once set up.
 *
 *   [p<pid>-owcpe]  wan0 100.64.0.2/24 ==veth== isp0 100.64.0.1/24  [p<pid>-owisp]
 *                   lan0 ==veth== eth0 [p<pid>-owlan]
 *
 * No relay: the test only checks the start-up path (RFC 6598 shared WAN address is accepted
 * because a provider prefix is configured, RFC 6343 §4.1).
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import { NetnsRegistry, netnsSkipReason, type NsProcess } from "../support/netns.js";
import { InitStandin, STANDIN_DIR, STANDIN_SHELL } from "../support/openwrt-standin.js";
import {
  buildOpenwrtCpeNamespaces,
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
const skip = netnsSkipReason() ?? distSkipReason();

describe("OpenWrt init script -> real daemon (netns)", { skip, timeout: 120_000 }, () => {
  const reg = new NetnsRegistry();
  const standin = new InitStandin();
  const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-owint-"));
  let daemon: NsProcess | undefined;
  after(async () => {
    await reg.cleanup();
    standin.remove();
    rmSync(dir, { recursive: true, force: true });
  });

  test("UCI config -> init script command line -> daemon running, netifd hook called", async () => {
    const { cpe } = buildOpenwrtCpeNamespaces(reg, "ow");

    // The daemon runs as `user` once set up: it must reach the scratch directory, and the hook it
    // runs as that user appends to a log the test created.
    chmodSync(dir, 0o755);
    const hookLog = join(dir, "hook.log");
    writeFileSync(hookLog, "");
    chmodSync(hookLog, 0o666);
    const hook = join(dir, "netifd-hook");
    writeFileSync(hook, `#!/bin/sh\necho "$*" >> ${hookLog}\n`);
    chmodSync(hook, 0o755);
    // State file and socket in a directory named like the package's own: the daemon hands it over.
    const sock = join(dir, "6to4-pmt", "status.sock");
    const uci = `
config cpe 'cpe'
	option enabled '1'
	option wan_interface 'wan'
	option lan_device 'lan0'
	option provider_prefix '2001:db8::/32'
	option ra 'netifd'
	option netifd_hook '${hook}'
	option state_file '${join(dir, "6to4-pmt", "state.json")}'
	option status_socket '${sock}'
	option log_level 'debug'
	option user 'nobody'
`;
    const r = standin.run(uci, "start", {
      STANDIN_DEVICE_wan: "wan0",
      STANDIN_IPADDR_wan: "100.64.0.2",
    });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.instances.length, 1, r.stderr);
    const argv = r.instances[0]!.command;
    assert.deepEqual(argv.slice(0, 2), ["/usr/sbin/6to4-pmt", "cpe"]);
    assert.ok(argv.includes("--wan-device") && argv.includes("wan0"));
    // Paths and programs are never taken from UCI (LuCI users may write it): the built-in
    // defaults hold on OpenWrt.
    for (const flag of ["--netifd-hook", "--state-file", "--status-socket"]) {
      assert.ok(!argv.includes(flag), `${flag} passed from UCI: ${argv.join(" ")}`);
    }
    // No ujail in the stand-in root: procd starts the daemon as root, which drops to the user itself.
    assert.deepEqual(argv.slice(-2), ["--user", "nobody"]);
    assert.equal(r.instances[0]!.params.get("user"), undefined);

    // The launcher runs `node /usr/lib/6to4-pmt/6to4-pmt.js "$@"`; here the same bundle from dist/,
    // with this test's own paths on the command line (root's, not UCI's).
    const paths = [
      "--netifd-hook",
      hook,
      "--state-file",
      join(dir, "state.json"),
      "--status-socket",
      sock,
    ];
    // procd starts the instance with its `env` param (PMT_LOG_STDOUT=1) and logs its stdout at
    // LOG_INFO, its stderr at LOG_ERR.
    const env = Object.fromEntries(
      (r.instances[0]!.params.get("env") ?? []).map((kv) => [
        kv.split("=")[0]!,
        kv.slice(kv.indexOf("=") + 1),
      ]),
    );
    assert.equal(env.PMT_LOG_STDOUT, "1");
    daemon = reg.spawn(cpe, [process.execPath, BUNDLE, ...argv.slice(1), ...paths], {
      env: { ...process.env, ...env },
    });
    const st = await waitStatusRunning(reg, daemon, sock);
    assert.ok(st, `no status; daemon output:\n${daemon.stderr()}`);
    assert.equal(st.state, "running", `${st.stateReason}\n${daemon.stderr()}`);
    assert.equal(st.wan.device, "wan0");
    assert.equal(st.wan.ipv4, "100.64.0.2");
    // RFC 6732 §3.3 with L = 32, m = 0: P:V4ADDR::/64.
    assert.equal(st.lanPrefix, "2001:db8:6440:2::/64");
    assert.equal(st.ra.mode, "netifd");
    // The drop follows the control plane's start (and so the status socket).
    assert.ok(
      await reg.waitFor(() => /privileges: /.test(daemon!.stdout()), 10_000),
      daemon.stdout() + daemon.stderr(),
    );
    // Info and debug lines reach procd's LOG_INFO stream, never its LOG_ERR one.
    assert.match(daemon.stdout(), /^\S+Z info cpe: /m);
    assert.doesNotMatch(daemon.stderr(), /^\S+Z (info|debug) /m, daemon.stderr());
    const creds = parseProcStatus(readFileSync(`/proc/${daemon.pid}/status`, "utf8"));
    assert.ok(creds);
    assert.deepEqual(creds.uids, [65534, 65534, 65534, 65534], "runs as nobody");
    assert.equal(creds.capEff, capabilityMask([CAP_NET_ADMIN, CAP_NET_RAW]));
    assert.equal(creds.noNewPrivs, true);

    await reg.waitFor(
      () => existsSync(hookLog) && readFileSync(hookLog, "utf8").includes("update"),
      10_000,
    );
    const lines = readFileSync(hookLog, "utf8").trim().split("\n");
    assert.ok(
      lines.includes("update 6to4pmt0 2001:db8:6440:2::/64 2700 5400 1480"),
      lines.join("\n"),
    );

    // `ifup 6to4pmt` or a network restart: netifd runs the proto handler's setup, which replays
    // the package's netifd-prefix hook (here the real one, run as root in the CPE's namespace
    // against the netifd-proto.sh stand-in, which with NETIFD_APPLY=1 does to a device handed over
    // without the external flag what netifd does: down, addresses and routes flushed). The hook
    // hands the TUN over as external: the daemon's address, routes and link stay as they were.
    const tunState = (): string => {
      const link = reg.exec(cpe, ["ip", "-6", "addr", "show", "dev", "6to4pmt0"]).stdout;
      const up = /<[^>]*\bUP\b[^>]*>/.test(link.split("\n")[0] ?? "");
      const addrs = [...link.matchAll(/inet6 (\S+) scope global/g)].map((m) => m[1]);
      const routes = reg
        .exec(cpe, ["ip", "-6", "route", "show", "dev", "6to4pmt0"])
        .stdout.split("\n")
        .map((l) => l.split(" ")[0])
        .filter((w) => w === "default" || w === "2002::/16");
      return JSON.stringify({ up, addrs, routes });
    };
    const before = tunState();
    assert.match(before, /"up":true,"addrs":\["[^"]+\/128"\],"routes":\[[^\]]*"default"/);
    const owroot = join(dir, "owroot");
    mkdirSync(join(owroot, "lib/netifd"), { recursive: true });
    mkdirSync(join(dir, "owuci"));
    // The interface wiring apply made: netifd has it (the stand-in fails updates for others).
    writeFileSync(
      join(dir, "owuci", "network"),
      "config interface '6to4pmt'\n\toption proto '6to4pmt'\n\toption zone 'wan'\n",
    );
    writeFileSync(join(owroot, "lib/functions.sh"), "# stand-in: nothing needed\n");
    writeFileSync(
      join(owroot, "lib/netifd/netifd-proto.sh"),
      readFileSync(join(STANDIN_DIR, "netifd-proto.sh")),
    );
    const netifdLog = join(dir, "netifd.log");
    const hookEnv = [
      `PATH=${STANDIN_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      `NODE=${process.execPath}`,
      `STANDIN=${STANDIN_DIR}`,
      `UCI_CONFIG_DIR=${join(dir, "owuci")}`,
      `IPKG_INSTROOT=${owroot}`,
      `NETIFD_LOG=${netifdLog}`,
      `PMT_RUN_DIR=${join(dir, "owrun")}`,
      "NETIFD_APPLY=1",
    ];
    const netifdPrefix = resolve("openwrt-package/6to4-pmt/files/netifd-prefix");
    for (const args of [
      ["update", "6to4pmt0", "2001:db8:6440:2::/64", "2700", "5400", "1480"],
      ["setup", "6to4pmt", "wan"],
    ]) {
      const h = spawnSync(
        "ip",
        ["netns", "exec", cpe, "env", "-i", ...hookEnv, ...STANDIN_SHELL, netifdPrefix, ...args],
        { encoding: "utf8", timeout: 20_000 },
      );
      assert.equal(h.status, 0, h.stderr);
      // Straight after netifd handled the update: nothing was taken down or flushed.
      assert.equal(tunState(), before, `after netifd-prefix ${args[0]}`);
    }
    assert.match(readFileSync(netifdLog, "utf8"), /^init_update 6to4pmt0 1 1$/m);
    const after2 = (await queryStatusSocket(sock)) as StatusSnapshot;
    assert.equal(after2.counters.kernel_restores, undefined, "nothing had to be restored");

    const code = await reg.stop(daemon, 10_000);
    assert.equal(code, 0, daemon.stderr());
    assert.equal(readFileSync(hookLog, "utf8").trim().split("\n").at(-1), "withdraw 6to4pmt0");
  });
});
