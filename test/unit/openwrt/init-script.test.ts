// openwrt-package/6to4-pmt/files/6to4-pmt.init: UCI -> `6to4-pmt cpe|relay --flag value ...`,
// validation that names the bad option and refuses to start, procd triggers. Runs the real init
// script under busybox ash (dash if busybox is missing) against a STAND-IN for OpenWrt's
// rc.common/procd.sh/functions.sh (test/unit/openwrt/standin/, not OpenWrt code).
// RFC 7526 §5: nothing runs while enabled = 0.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  mkdirSync,
  readFileSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { join } from "node:path";
import { START_CAPS } from "../../../module/cli/privilege-drop.js";
import { capabilityName } from "../../../module/io/privileges.js";
import { parseCpeConfig, parseRelayConfig } from "../../../module/config/parse.js";
import { formatIpv4 } from "../../../module/addr/ipv4.js";
import { formatIpv6Prefix } from "../../../module/addr/ipv6.js";
import { InitStandin, flagsOf } from "../../support/openwrt-standin.js";

const standin = new InitStandin();
after(() => standin.remove());
const runInit = standin.run.bind(standin);

const SHIPPED = readFileSync("openwrt-package/6to4-pmt/files/6to4-pmt.config", "utf8");

test("shipped config: disabled, nothing started (RFC 7526 §5)", () => {
  const r = runInit(SHIPPED, "start");
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.instances, []);
  assert.equal(r.stderr, "");
});

test("shipped config with enabled=1: minimal command, WAN device from netifd, ra netifd", () => {
  const r = runInit(SHIPPED.replace("option enabled '0'", "option enabled '1'"), "start");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.instances.length, 1);
  const i = r.instances[0]!;
  assert.equal(i.name, "cpe");
  assert.deepEqual(i.command, [
    "/usr/sbin/6to4-pmt",
    "cpe",
    "--enabled",
    "1",
    "--wan-device",
    "eth1",
    "--ra",
    "netifd",
    "--user",
    "6to4pmt",
  ]);
  assert.deepEqual(i.params.get("respawn"), ["3600", "5", "5"]);
  assert.deepEqual(i.params.get("stderr"), ["1"]);
  const cfg = parseCpeConfig(flagsOf(i.command.slice(2)));
  assert.equal(cfg.enabled, true);
  assert.equal(cfg.wanDevice, "eth1");
  assert.equal(cfg.ra, "netifd");
  assert.equal(cfg.user, "6to4pmt");
});

test("full PMT config: every kind of option maps to flags the daemon parses to the same values", () => {
  const uci = `
config cpe 'cpe'
	option enabled '1'
	option wan_interface 'wan6rd'
	option wan_ipv4 '192.0.2.1'
	option wan_mtu '1492'
	list relay '192.88.99.1'
	list relay '203.0.113.1'
	option tunnel_mtu '1452'
	option provider_prefix '2001:db8::/32'
	option ipv4_prefix_len '0'
	option sla '1'
	option direct_6to4 '0'
	list allow_ipv4 '100.64.0.0/10'
	option ra 'builtin'
	option ra_max_interval '300'
	option ra_min_interval '100'
	list dns '2001:db8::53'
	list domain 'example.net'
	option health_interval '10'
	option log_level 'debug'
`;
  const r = runInit(uci, "start", { STANDIN_DEVICE_wan6rd: "pppoe-wan" /* static wan_ipv4 */ });
  assert.equal(r.status, 0, r.stderr);
  const cmd = r.instances[0]!.command;
  assert.deepEqual(cmd.slice(0, 2), ["/usr/sbin/6to4-pmt", "cpe"]);
  assert.deepEqual(cmd.slice(2), [
    "--enabled",
    "1",
    "--wan-device",
    "pppoe-wan",
    "--wan-interface",
    "wan6rd",
    "--wan-ipv4",
    "192.0.2.1",
    "--wan-mtu",
    "1492",
    "--relay",
    "192.88.99.1",
    "--relay",
    "203.0.113.1",
    "--tunnel-mtu",
    "1452",
    "--provider-prefix",
    "2001:db8::/32",
    "--ipv4-prefix-len",
    "0",
    "--sla",
    "1",
    "--direct-6to4",
    "0",
    "--allow-ipv4",
    "100.64.0.0/10",
    "--ra",
    "builtin",
    "--ra-min-interval",
    "100",
    "--ra-max-interval",
    "300",
    "--dns",
    "2001:db8::53",
    "--domain",
    "example.net",
    "--health-interval",
    "10",
    "--log-level",
    "debug",
    "--user",
    "6to4pmt",
  ]);
  const cfg = parseCpeConfig(flagsOf(cmd.slice(2)));
  assert.deepEqual(cfg.relay.map(formatIpv4), ["192.88.99.1", "203.0.113.1"]);
  assert.equal(formatIpv6Prefix(cfg.providerPrefix!), "2001:db8::/32");
  assert.equal(cfg.tunnelMtu, 1452);
  assert.equal(cfg.direct6to4, false);
  assert.equal(cfg.wanDevice, "pppoe-wan");
});

test("paths and programs in UCI (writable by LuCI users) are ignored: the daemon's defaults hold", () => {
  const uci =
    "config cpe 'cpe'\n\toption enabled '1'\n" +
    "\toption netifd_hook '/tmp/evil'\n\toption state_file '/etc/shadow'\n" +
    "\toption status_socket '/etc/passwd'\n";
  const r = runInit(uci, "start");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.instances.length, 1, r.stderr);
  const argv = r.instances[0]!.command;
  for (const v of ["/tmp/evil", "/etc/shadow", "/etc/passwd"]) assert.ok(!argv.includes(v), v);
  const cfg = parseCpeConfig(flagsOf(argv.slice(2)));
  assert.equal(cfg.netifdHook, "/usr/lib/6to4-pmt/netifd-prefix");
  assert.equal(cfg.stateFile, "/var/lib/6to4-pmt/state.json");
  assert.equal(cfg.statusSocket, "/var/run/6to4-pmt/status.sock");
});

test("no WAN IPv4 address yet: waits for the interface trigger instead of starting", () => {
  const uci = "config cpe 'cpe'\n\toption enabled '1'\n";
  const r = runInit(uci, "start", { STANDIN_IPADDR_wan: "" });
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.instances, []);
  assert.match(r.stderr, /waiting for an IPv4 address on interface 'wan'/);
  // A static wan_ipv4 does not wait.
  const s = runInit(uci + "\toption wan_ipv4 '192.0.2.1'\n", "start", { STANDIN_IPADDR_wan: "" });
  assert.equal(s.instances.length, 1);
});

test("a configured wan_device is kept", () => {
  const r = runInit(
    "config cpe 'cpe'\n\toption enabled '1'\n\toption wan_device 'eth0.2'\n",
    "start",
  );
  assert.deepEqual(r.instances[0]!.command.slice(4, 6), ["--wan-device", "eth0.2"]);
});

const INVALID: [string, string, RegExp][] = [
  [
    "tunnel_mtu",
    "option tunnel_mtu '99'",
    /option 'tunnel_mtu' in section 'cpe' is invalid: '99' is not range\(1280,65515\); not starting/,
  ],
  [
    "relay",
    "list relay '192.0.2.1'\n\tlist relay '192.0.2.300'",
    /option 'relay' in section 'cpe' is invalid: '192\.0\.2\.1 192\.0\.2\.300' is not list\(ip4addr\)/,
  ],
  [
    "ra",
    "option ra 'radvd'",
    /option 'ra' in section 'cpe' is invalid: 'radvd' is not or\("builtin","netifd","off"\)/,
  ],
  [
    "provider_prefix",
    "option provider_prefix '2001:db8::'",
    /option 'provider_prefix' .* is not cidr6/,
  ],
  ["enabled", "option enabled 'maybe'", /option 'enabled' .* 'maybe' is not bool/],
];

for (const [name, line, re] of INVALID) {
  test(`invalid ${name}: named on stderr and in the log, no instance`, () => {
    const r = runInit(`config cpe 'cpe'\n\toption enabled '1'\n\t${line}\n`, "start");
    assert.deepEqual(r.instances, [], "refuses to start");
    assert.match(r.stderr, re);
    assert.ok(
      r.log.some((l) => l.startsWith("logger -t 6to4-pmt -p daemon.err") && re.test(l)),
      r.log.join("\n"),
    );
    // Only the bad option is reported.
    assert.equal(r.stderr.split("\n").filter((l) => l.startsWith("6to4-pmt:")).length, 1, r.stderr);
  });
}

test("two bad options: both named", () => {
  const r = runInit(
    "config cpe 'cpe'\n\toption enabled '1'\n\toption sla '70000'\n\toption log_level 'loud'\n",
    "start",
  );
  assert.deepEqual(r.instances, []);
  assert.match(r.stderr, /option 'sla'/);
  assert.match(r.stderr, /option 'log_level'/);
});

// Values each datatype accepts but the daemon refuses: the init script runs the daemon's own
// `--check-config` and refuses with its one line instead of handing procd a daemon that exits 2.
const DAEMON_REFUSES: [string, string, RegExp][] = [
  ["provider_prefix /48", "option provider_prefix '2001:db8::/48'", /--provider-prefix: expected/],
  ["ra_min_interval 1000", "option ra_min_interval '1000'", /--ra-min-interval: expected at most/],
];

for (const [name, line, re] of DAEMON_REFUSES) {
  test(`daemon check: ${name} is refused before procd gets an instance, named once`, () => {
    const r = runInit(`config cpe 'cpe'\n\toption enabled '1'\n\t${line}\n`, "start");
    assert.deepEqual(r.instances, [], "no instance for procd to respawn");
    assert.match(r.stderr, re);
    const logged = r.log.filter((l) => l.startsWith("logger -t 6to4-pmt -p daemon.err"));
    assert.equal(logged.length, 1, r.log.join("\n"));
    assert.match(logged[0]!, re);
    assert.match(logged[0]!, /section 'cpe'.*not starting/);
  });
}

test("daemon check: a valid config still starts (the check touches nothing)", () => {
  const r = runInit("config cpe 'cpe'\n\toption enabled '1'\n\toption sla '3'\n", "start");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.instances.length, 1, r.stderr);
  assert.ok(!r.log.some((l) => l.startsWith("logger")), r.log.join("\n"));
});

test("procd logs info as info: PMT_LOG_STDOUT=1 with stdout and stderr captured", () => {
  const r = runInit("config cpe 'cpe'\n\toption enabled '1'\n", "start");
  const i = r.instances[0]!;
  assert.deepEqual(i.params.get("env"), ["PMT_LOG_STDOUT=1"]);
  assert.deepEqual(i.params.get("stdout"), ["1"]);
  assert.deepEqual(i.params.get("stderr"), ["1"]);
});

test("relay section: `6to4-pmt relay` instance with relay options", () => {
  const uci = `
config cpe 'cpe'
	option enabled '0'

config relay 'relay'
	option enabled '1'
	list relay_ipv4 '192.88.99.1'
	list relay_ipv4 '198.51.100.1'
	option provider_prefix '2001:db8::/32'
	list customer_ipv4 '100.64.0.0/10'
	list opt_out '100.64.1.0/24'
	option metrics_port '9641'
`;
  const r = runInit(uci, "start");
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.instances.length, 1);
  const i = r.instances[0]!;
  assert.equal(i.name, "relay");
  assert.deepEqual(i.command.slice(0, 2), ["/usr/sbin/6to4-pmt", "relay"]);
  const cfg = parseRelayConfig(flagsOf(i.command.slice(2)));
  assert.deepEqual(cfg.relayIpv4.map(formatIpv4), ["192.88.99.1", "198.51.100.1"]);
  assert.equal(cfg.optOut.length, 1);
  assert.equal(cfg.customerIpv4.length, 1);
  assert.equal(cfg.metricsPort, 9641);
});

test("triggers: config reload, WAN interface events, validation", () => {
  const r = runInit(SHIPPED, "triggers");
  assert.equal(r.status, 0, r.stderr);
  assert.ok(r.log.includes("reload_trigger 6to4-pmt"), r.log.join("\n"));
  assert.ok(
    r.log.includes("interface_trigger interface.* wan /etc/init.d/6to4-pmt reload"),
    r.log.join("\n"),
  );
  assert.ok(r.log.includes("validation pmt_validate_cpe"));
  const r2 = runInit("config cpe 'cpe'\n\toption wan_interface 'wwan'\n", "triggers");
  assert.ok(
    r2.log.includes("interface_trigger interface.* wwan /etc/init.d/6to4-pmt reload"),
    r2.log.join("\n"),
  );
});

/** The stand-in root with ujail and the capabilities file installed, as on a current OpenWrt. */
function withUjail(): void {
  const root = standin.root;
  mkdirSync(join(root, "sbin"), { recursive: true });
  writeFileSync(join(root, "sbin/ujail"), "#!/bin/sh\n");
  chmodSync(join(root, "sbin/ujail"), 0o755);
  mkdirSync(join(root, "etc/capabilities"), { recursive: true });
  copyFileSync(CAPS_SRC, join(root, "etc/capabilities/6to4-pmt.json"));
  mkdirSync(join(root, "dev/net"), { recursive: true });
  writeFileSync(join(root, "dev/net/tun"), "");
  chmodSync(join(root, "dev/net/tun"), 0o644);
}

const CAPS_SRC = "openwrt-package/6to4-pmt/files/6to4-pmt.capabilities.json";
const NOBODY = { uid: 65534, gid: Number(spawnSync("id", ["-g", "nobody"]).stdout.toString()) };
const noNobody = spawnSync("id", ["-u", "nobody"]).status === 0 ? false : "no user nobody here";

test("capabilities file: every set is exactly what the daemons need to start (procd/ujail format)", () => {
  const caps = JSON.parse(readFileSync(CAPS_SRC, "utf8")) as Record<string, string[]>;
  const want = START_CAPS.map((c) => capabilityName(c).toUpperCase());
  assert.deepEqual(Object.keys(caps).sort(), [
    "ambient",
    "bounding",
    "effective",
    "inheritable",
    "permitted",
  ]);
  for (const [set, names] of Object.entries(caps)) assert.deepEqual(names, want, set);
});

test(
  "ujail present: procd starts the cpe as `user` with the capabilities file and no_new_privs; the user owns the run and state directories and may open /dev/net/tun",
  { skip: noNobody },
  () => {
    withUjail();
    const uci = `config cpe 'cpe'\n\toption enabled '1'\n\toption user 'nobody'\n`;
    const r = runInit(uci, "start");
    assert.equal(r.status, 0, r.stderr);
    const i = r.instances[0]!;
    assert.deepEqual(i.params.get("user"), ["nobody"]);
    // ujail without a group keeps gid 0: the user's primary group is set too.
    const group = spawnSync("id", ["-gn", "nobody"], { encoding: "utf8" }).stdout.trim();
    assert.deepEqual(i.params.get("group"), [group]);
    assert.deepEqual(i.params.get("capabilities"), ["/etc/capabilities/6to4-pmt.json"]);
    assert.deepEqual(i.params.get("no_new_privs"), ["1"]);
    assert.ok(r.log.includes("add_jail 6to4-pmt"), r.log.join("\n"));
    // The daemon, already that user, keeps --user (no switch: it only trims its capabilities).
    assert.equal(parseCpeConfig(flagsOf(i.command.slice(2))).user, "nobody");
    for (const dir of ["var/lib/6to4-pmt", "var/run/6to4-pmt"]) {
      const st = statSync(join(standin.root, dir));
      assert.equal(st.uid, NOBODY.uid, dir);
      assert.equal(st.mode & 0o777, 0o750, dir);
    }
    const tun = statSync(join(standin.root, "dev/net/tun"));
    assert.equal(tun.gid, NOBODY.gid);
    assert.equal(tun.mode & 0o060, 0o060);
    // The relay: same jail, no directories of its own.
    const rr = runInit(
      `config cpe 'cpe'\n\toption enabled '0'\n\nconfig relay 'relay'\n\toption enabled '1'\n\toption user 'nobody'\n`,
      "start",
    );
    assert.deepEqual(rr.instances[0]!.params.get("user"), ["nobody"]);
    assert.deepEqual(rr.instances[0]!.params.get("no_new_privs"), ["1"]);
  },
);

test("user root, or no ujail: procd starts the daemon as root, which drops privileges itself (--user)", () => {
  const root = runInit(`config cpe 'cpe'\n\toption enabled '1'\n\toption user 'root'\n`, "start");
  assert.equal(root.instances[0]!.params.get("user"), undefined);
  assert.equal(root.instances[0]!.params.get("capabilities"), undefined);
  rmSync(join(standin.root, "sbin/ujail"), { force: true });
  const r = runInit(`config cpe 'cpe'\n\toption enabled '1'\n\toption user 'nobody'\n`, "start");
  const i = r.instances[0]!;
  assert.equal(i.params.get("user"), undefined);
  assert.equal(i.params.get("capabilities"), undefined);
  assert.ok(!r.log.some((l) => l.startsWith("add_jail")));
  assert.deepEqual(i.command.slice(-2), ["--user", "nobody"]);
});
