// OpenWrt glue around the daemon, run under STAND-INs (test/unit/openwrt/standin/, not OpenWrt
// code) for netifd-proto.sh and the `uci` command:
//  - /usr/lib/6to4-pmt/netifd-prefix (option netifd_hook; ra 'netifd'): hands the LAN prefix with
//    its lifetimes (RFC 9096 §3.4) to the netifd interface '6to4pmt', with the tunnel device in the
//    firewall zone (interface data "zone", read by fw4); replays it on proto setup; withdraws it.
//  - /etc/udhcpc.user.d/6to4-pmt: DHCPv4 option 212 (RFC 5969 §7.1.1) from netifd's dhcp.script to
//    the lease file the CPE daemon follows (module/control/dhcp-6rd.ts parses it here).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { parseLeaseFile } from "../../../module/control/dhcp-6rd.js";
import { formatIpv4 } from "../../../module/addr/ipv4.js";
import { formatIpv6Prefix } from "../../../module/addr/ipv6.js";

const FILES = resolve("openwrt-package/6to4-pmt/files");
const STANDIN = resolve("test/unit/openwrt/standin");
const SHELL = existsSync("/usr/bin/busybox") ? ["/usr/bin/busybox", "sh"] : ["/bin/sh"];
const root = mkdtempSync(join(tmpdir(), "6to4-pmt-hooks-"));
after(() => rmSync(root, { recursive: true, force: true }));
mkdirSync(join(root, "lib/netifd"), { recursive: true });
writeFileSync(join(root, "lib/functions.sh"), "# stand-in: nothing needed\n");
writeFileSync(
  join(root, "lib/netifd/netifd-proto.sh"),
  readFileSync(join(STANDIN, "netifd-proto.sh")),
);

let seq = 0;
function env(uci: Record<string, string>, extra: Record<string, string> = {}) {
  const dir = join(root, `case${seq++}`);
  mkdirSync(join(dir, "uci"), { recursive: true });
  for (const [pkg, text] of Object.entries(uci)) writeFileSync(join(dir, "uci", pkg), text);
  return {
    dir,
    log: join(dir, "netifd.log"),
    vars: {
      PATH: `${STANDIN}:${process.env.PATH ?? "/usr/bin:/bin"}`,
      NODE: process.execPath,
      STANDIN,
      UCI_CONFIG_DIR: join(dir, "uci"),
      IPKG_INSTROOT: root,
      NETIFD_LOG: join(dir, "netifd.log"),
      PMT_RUN_DIR: join(dir, "run"),
      ...extra,
    },
  };
}

function sh(e: ReturnType<typeof env>, args: string[]) {
  const r = spawnSync(SHELL[0]!, [...SHELL.slice(1), ...args], {
    env: e.vars,
    encoding: "utf8",
    timeout: 20_000,
  });
  const log = existsSync(e.log) ? readFileSync(e.log, "utf8").trim().split("\n") : [];
  return { status: r.status, stderr: r.stderr, log };
}

const hook = join(FILES, "netifd-prefix");
const NETWORK = "config interface '6to4pmt'\n\toption proto '6to4pmt'\n\toption zone 'wan'\n";

test("update: prefix with lifetimes, tunnel device and zone go to netifd interface 6to4pmt", () => {
  const e = env({ network: NETWORK });
  const r = sh(e, [hook, "update", "6to4pmt0", "2001:db8:c000:201::/64", "2700", "5400", "1480"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.log, [
    "init_update 6to4pmt0 1 1",
    "add_ipv6_prefix 2001:db8:c000:201::/64,2700,5400",
    "add_data",
    "json_add_string zone wan",
    "close_data",
    "send_update 6to4pmt",
  ]);
  assert.equal(
    readFileSync(join(e.dir, "run/netifd.last"), "utf8"),
    "6to4pmt0 2001:db8:c000:201::/64 2700 5400\n",
  );

  // netifd (re)starts the interface: the proto handler's setup replays the last update.
  const s = sh(e, [hook, "setup", "6to4pmt", "wan"]);
  assert.equal(s.status, 0, s.stderr);
  assert.deepEqual(s.log.slice(6), r.log);
});

test("withdraw after disable removed the interface: nothing to withdraw, no error", () => {
  // Disable: the init script's `wiring revert` deletes network.6to4pmt and reloads netifd, then
  // procd stops the daemon, whose last call is `withdraw`.
  const e = env({ network: "config interface 'lan'\n\toption proto 'static'\n" });
  const r = sh(e, [hook, "withdraw", "6to4pmt0"]);
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stderr, "");
  assert.deepEqual(r.log, []);
  // The stand-in fails an update for an interface netifd does not have, as netifd does.
  const u = sh(e, [hook, "update", "6to4pmt0", "2001:db8:c000:201::/64", "2700", "5400", "1480"]);
  assert.equal(u.status, 252);
  assert.match(u.stderr, /notify_proto .*\(Not found\)/);
});

test("withdraw: the prefix goes away (odhcpd deprecates it), the device stays in the zone", () => {
  const e = env({
    network: NETWORK.replace("'wan'", "'wan2'"),
    "6to4-pmt": "config cpe 'cpe'\n\toption tun_name 'pmt9'\n",
  });
  sh(e, [hook, "update", "pmt9", "2002:c000:201:1::/64", "1800", "3600", "1480"]);
  const r = sh(e, [hook, "withdraw", "pmt9"]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(r.log.slice(6), [
    "init_update pmt9 1 1",
    "add_data",
    "json_add_string zone wan2",
    "close_data",
    "send_update 6to4pmt",
  ]);
  assert.ok(!existsSync(join(e.dir, "run/netifd.last")));
  // Setup without a published prefix: the configured tunnel device, no prefix.
  const s = sh(e, [hook, "setup", "6to4pmt", "wan2"]);
  assert.deepEqual(s.log.slice(11), [
    "init_update pmt9 1 1",
    "add_data",
    "json_add_string zone wan2",
    "close_data",
    "send_update 6to4pmt",
  ]);
});

test("the stand-in's netifd claims a device handed over without the external flag, not one with it", () => {
  // As observed on OpenWrt: netifd sets a non-external device down and flushes it on ifup and
  // network restarts; the hook hands the TUN over as external, so none of its calls is a claim.
  const e = env({ network: NETWORK });
  const script = join(e.dir, "owned.sh");
  writeFileSync(
    script,
    `. "${root}/lib/netifd/netifd-proto.sh"\nproto_init_update tunA 1\nproto_send_update 6to4pmt\n` +
      "proto_init_update tunB 1 1\nproto_send_update 6to4pmt\n",
  );
  const r = sh(e, [script]);
  assert.equal(r.status, 0, r.stderr);
  assert.deepEqual(
    r.log.filter((l) => l.startsWith("claim")),
    ["claim tunA: down, addresses and routes flushed"],
  );
  const h = env({ network: NETWORK });
  for (const args of [
    ["update", "6to4pmt0", "2001:db8:c000:201::/64", "2700", "5400", "1480"],
    ["setup", "6to4pmt", "wan"],
    ["withdraw", "6to4pmt0"],
  ]) {
    assert.equal(sh(h, [hook, ...args]).status, 0);
  }
  const log = readFileSync(h.log, "utf8");
  assert.equal((log.match(/^send_update/gm) ?? []).length, 3);
  assert.doesNotMatch(log, /^claim/m);
});

test("bad usage exits 2", () => {
  const e = env({});
  assert.equal(sh(e, [hook, "update", "6to4pmt0"]).status, 2);
  assert.equal(sh(e, [hook, "frob"]).status, 2);
});

const udhcpc = join(FILES, "6to4-pmt.udhcpc");

/** Sources the hook as dhcp.script does: `. hook "$@"` with the lease in the environment. */
function dhcpEvent(e: ReturnType<typeof env>, event: string, lease: Record<string, string>) {
  const vars = { ...e.vars, ...lease };
  return spawnSync(
    SHELL[0]!,
    [...SHELL.slice(1), "-c", `. "${udhcpc}" "$@"`, "dhcp.script", event],
    {
      env: vars,
      encoding: "utf8",
      timeout: 20_000,
    },
  );
}

const LEASE = {
  INTERFACE: "wan",
  interface: "eth1",
  ip: "192.0.2.1",
  mask: "24",
  ip6rd: "0 32 2001:db8:: 192.88.99.1",
};

test("udhcpc hook: option 212 reaches the daemon's lease file (RFC 5969 §7.1.1)", () => {
  const e = env({ "6to4-pmt": "config cpe 'cpe'\n\toption enabled '1'\n" });
  const file = join(e.dir, "lease");
  e.vars = { ...e.vars, PMT_DHCP_FILE: file } as typeof e.vars;
  const r = dhcpEvent(e, "bound", LEASE);
  assert.equal(r.status, 0, r.stderr);
  const lease = parseLeaseFile(readFileSync(file, "utf8"));
  assert.equal(lease.interface, "eth1");
  assert.equal(formatIpv4(lease.ip!), "192.0.2.1");
  assert.ok(lease.sixrd, String(lease.sixrdError));
  assert.equal(formatIpv6Prefix(lease.sixrd.prefix), "2001:db8::/32");
  assert.equal(lease.sixrd.ipv4MaskLen, 0);
  assert.deepEqual(lease.sixrd.relays.map(formatIpv4), ["192.88.99.1"]);

  assert.equal(dhcpEvent(e, "deconfig", LEASE).status, 0);
  assert.ok(!existsSync(file), "deconfig removes the lease");
});

test("udhcpc hook: option 212 intact after dhcp.script took $ip6rd apart for netifd's 6rd", () => {
  // /lib/netifd/dhcp.script (OpenWrt 23.05), when IFACE6RD is not '0', shifts the fields off
  // $ip6rd in place before it sources /etc/udhcpc.user.d/*: the hook then sees only the BR.
  const e = env({ "6to4-pmt": "config cpe 'cpe'\n\toption enabled '1'\n" });
  const file = join(e.dir, "lease");
  const r = spawnSync(
    SHELL[0]!,
    [
      ...SHELL.slice(1),
      "-c",
      'ip6rd="${ip6rd#* }"; ip6rd="${ip6rd#* }"; ip6rd="${ip6rd#* }"; . "$0" "$@"',
      udhcpc,
      "bound",
    ],
    { env: { ...e.vars, ...LEASE, PMT_DHCP_FILE: file }, encoding: "utf8", timeout: 20_000 },
  );
  assert.equal(r.status, 0, r.stderr);
  const lease = parseLeaseFile(readFileSync(file, "utf8"));
  assert.ok(lease.sixrd, String(lease.sixrdError));
  assert.equal(formatIpv6Prefix(lease.sixrd.prefix), "2001:db8::/32");
  assert.deepEqual(lease.sixrd.relays.map(formatIpv4), ["192.88.99.1"]);
});

test("udhcpc hook: other interfaces and use_dhcp_6rd '0' are ignored", () => {
  const e = env({ "6to4-pmt": "config cpe 'cpe'\n\toption wan_interface 'wan'\n" });
  const file = join(e.dir, "lease");
  e.vars = { ...e.vars, PMT_DHCP_FILE: file } as typeof e.vars;
  dhcpEvent(e, "bound", { ...LEASE, INTERFACE: "lan" });
  assert.ok(!existsSync(file));
  const off = env({ "6to4-pmt": "config cpe 'cpe'\n\toption use_dhcp_6rd '0'\n" });
  const file2 = join(off.dir, "lease");
  off.vars = { ...off.vars, PMT_DHCP_FILE: file2 } as typeof off.vars;
  dhcpEvent(off, "bound", LEASE);
  assert.ok(!existsSync(file2));
});
