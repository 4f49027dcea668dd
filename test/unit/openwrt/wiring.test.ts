// openwrt-package/6to4-pmt/files/6to4-pmt.wiring through the real init script, against the
// STAND-INs for rc.common/procd, `uci` (reads and writes /etc/config files) and `ubus`
// (test/unit/openwrt/standin/, not OpenWrt code): installing changes no router setting, enabling
// makes them (netifd interface, ip6assign, reqopts 212, iface6rd, wan zone) and restarts netifd
// once when it has not loaded the 6to4pmt protocol handler, disabling restores exactly what was
// there, keeping what the user changed meanwhile.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { InitStandin, STANDIN_DIR, STANDIN_SHELL } from "../../support/openwrt-standin.js";

const standin = new InitStandin();
after(() => standin.remove());

const NETWORK = `config interface 'lan'
	option proto 'static'
	option ip6assign '60'

config interface 'wan'
	option device 'eth1'
	option proto 'dhcp'
	option reqopts '121'
`;
const FIREWALL = `config zone
	option name 'lan'
	list network 'lan'

config zone
	option name 'wan'
	list network 'wan'
	list network 'wan6'
`;
const ON = "config cpe 'cpe'\n\toption enabled '1'\n";
const OFF = "config cpe 'cpe'\n\toption enabled '0'\n";

function router(): string {
  const dir = standin.caseDir();
  writeFileSync(join(dir, "network"), NETWORK);
  writeFileSync(join(dir, "firewall"), FIREWALL);
  return dir;
}

/** A UCI package as the stand-in's config_load sees it (sections, types, options, lists). */
const shellView = (dir: string, pkg: string): string =>
  spawnSync(process.execPath, [join(STANDIN_DIR, "uci-standin.mjs"), "shell", dir, pkg], {
    encoding: "utf8",
  }).stdout;
const original = (pkg: string, text: string): string => {
  const dir = standin.caseDir();
  writeFileSync(join(dir, pkg), text);
  return shellView(dir, pkg);
};
const get = (dir: string, ref: string): string =>
  spawnSync(join(STANDIN_DIR, "uci"), ["-q", "get", ref], {
    encoding: "utf8",
    env: { ...process.env, UCI_CONFIG_DIR: dir, NODE: process.execPath, STANDIN: STANDIN_DIR },
  }).stdout.trim();

test("installing (uci-defaults) changes no router setting", () => {
  const dir = router();
  writeFileSync(join(dir, "6to4-pmt"), OFF);
  const r = spawnSync(
    STANDIN_SHELL[0]!,
    [...STANDIN_SHELL.slice(1), resolve("openwrt-package/6to4-pmt/files/6to4-pmt.uci-defaults")],
    {
      encoding: "utf8",
      env: {
        PATH: `${STANDIN_DIR}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        UCI_CONFIG_DIR: dir,
        NODE: process.execPath,
        STANDIN: STANDIN_DIR,
        PROCD_LOG: join(dir, "log"),
      },
    },
  );
  assert.equal(r.status, 0, r.stderr);
  assert.equal(readFileSync(join(dir, "network"), "utf8"), NETWORK);
  assert.equal(readFileSync(join(dir, "firewall"), "utf8"), FIREWALL);
});

test("enable makes the settings and restarts netifd once; disable restores the router", () => {
  const dir = router();
  const on = standin.run(ON, "start", {}, dir);
  assert.equal(on.status, 0, on.stderr);
  assert.equal(get(dir, "network.6to4pmt"), "interface");
  assert.equal(get(dir, "network.6to4pmt.proto"), "6to4pmt");
  assert.equal(get(dir, "network.lan.ip6assign"), "64");
  assert.equal(get(dir, "network.wan.reqopts"), "121 212");
  assert.equal(get(dir, "network.wan.iface6rd"), "0");
  assert.equal(get(dir, "firewall.@zone[1].device"), "6to4pmt0");
  assert.ok(on.log.includes("ubus call network reload"), on.log.join("\n"));
  assert.ok(on.log.includes("init.d/firewall reload"), on.log.join("\n"));
  // netifd has no 6to4pmt handler yet (it scans them at start): one restart.
  assert.ok(on.log.includes("init.d/network restart"), on.log.join("\n"));
  assert.equal(on.instances.length, 1);

  // Started again (reload_config, boot) with the handler loaded: nothing reapplied or restarted.
  const again = standin.run(ON, "start", { STANDIN_PROTO_HANDLERS: "6to4pmt" }, dir);
  assert.ok(!again.log.some((l) => l.startsWith("init.d/")), again.log.join("\n"));

  const off = standin.run(OFF, "start", {}, dir);
  assert.equal(off.status, 0, off.stderr);
  assert.deepEqual(off.instances, []);
  assert.equal(shellView(dir, "network"), original("network", NETWORK));
  assert.equal(shellView(dir, "firewall"), original("firewall", FIREWALL));
  assert.ok(off.log.includes("ubus call network reload"), off.log.join("\n"));
  // The daemon is stopped before its settings are reverted, not after start_service.
  const stop = off.log.indexOf('ubus call service delete {"name":"6to4-pmt","instance":"cpe"}');
  assert.ok(stop >= 0 && stop < off.log.indexOf("ubus call network reload"), off.log.join("\n"));
  assert.ok(!existsSync(join(standin.root, "etc/6to4-pmt/wiring.saved")));
});

test("disable keeps a value the user changed after enabling", () => {
  const dir = router();
  standin.run(ON, "start", { STANDIN_PROTO_HANDLERS: "6to4pmt" }, dir);
  writeFileSync(
    join(dir, "network"),
    readFileSync(join(dir, "network"), "utf8").replace("ip6assign '64'", "ip6assign '56'"),
  );
  standin.run(OFF, "start", {}, dir);
  assert.equal(get(dir, "network.lan.ip6assign"), "56");
  assert.equal(get(dir, "network.wan.reqopts"), "121");
  assert.equal(get(dir, "network.6to4pmt"), "");
});

test("a config the daemon refuses changes no router setting: the check runs before wiring apply", () => {
  const dir = router();
  // Passes the init script's datatypes (cidr6) but not the daemon's own check (/16../32).
  const bad = ON + "\toption provider_prefix '2001:db8::/48'\n";
  const r = standin.run(bad, "start", {}, dir);
  assert.match(r.stderr, /--provider-prefix: expected an IPv6 prefix P\/L with 16 <= L <= 32/);
  assert.deepEqual(r.instances, []);
  assert.equal(readFileSync(join(dir, "network"), "utf8"), NETWORK);
  assert.equal(readFileSync(join(dir, "firewall"), "utf8"), FIREWALL);
  assert.ok(!r.log.some((l) => l.startsWith("init.d/") || l.startsWith("ubus ")), r.log.join("\n"));
  assert.ok(!existsSync(join(standin.root, "etc/6to4-pmt/wiring.saved")));
});
