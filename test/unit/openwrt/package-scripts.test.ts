// openwrt-package/6to4-pmt/control/postinst and prerm run as on the router: in a private mount
// namespace whose /etc/init.d holds a STAND-IN of the 6to4-pmt init script (not OpenWrt code)
// that does what procd's rc.common does with `ubus` (stop = `ubus call service delete`, which
// fails with "Command failed: ... (Not found)" for a service procd does not know), and a stand-in
// `ubus` in PATH keeping procd's service table in a file. Root only (unshare -m).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn, spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const skip = process.getuid?.() !== 0 ? "needs root (unshare -m)" : false;
const CONTROL = resolve("openwrt-package/6to4-pmt/control");
const root = mkdtempSync(join(tmpdir(), "6to4-pmt-pkgscripts-"));
after(() => rmSync(root, { recursive: true, force: true }));

const UBUS = `#!/bin/sh
# procd's service table: one registered service name per line in $SERVICES.
echo "ubus $*" >> "$CALLS"
[ "$1 $2" = "call service" ] || exit 0
name="$(printf '%s' "$4" | sed -n 's/.*"name":"\\([^"]*\\)".*/\\1/p')"
case "$3" in
list)
	if grep -qx "$name" "$SERVICES"; then echo "{ \\"$name\\": { \\"instances\\": { } } }"; else echo "{ }"; fi ;;
delete)
	if grep -qx "$name" "$SERVICES"; then grep -vx "$name" "$SERVICES" > "$SERVICES.n"; mv "$SERVICES.n" "$SERVICES"
	else echo "Command failed: ubus call service delete { \\"name\\": \\"$name\\" } (Not found)"; exit 4; fi ;;
set) echo "$name" >> "$SERVICES" ;;
esac
`;

const INIT = `#!/bin/sh
echo "init $1" >> "$CALLS"
case "$1" in
start) ubus call service set '{"name":"6to4-pmt"}' ;;
stop) ubus call service delete '{"name":"6to4-pmt"}' ;;
restart) ubus call service delete '{"name":"6to4-pmt"}'; ubus call service set '{"name":"6to4-pmt"}' ;;
esac
`;

const PASSWD =
  "root:x:0:0:root:/root:/bin/ash\n6to4pmt:x:65536:65536:6to4pmt:/var/run/6to4pmt:/bin/false\nubus:x:81:81:ubus:/var/run/ubus:/bin/false\n";
const GROUP = "root:x:0:\n6to4pmt:x:65536:6to4pmt\nubus:x:81:ubus\n";
const SHADOW = "root:::0:99999:7:::\n6to4pmt:x:0:0:99999:7:::\n";

function runScript(
  script: string,
  registered: boolean,
): { out: string; calls: string[]; etc: Record<string, string> } {
  const dir = mkdtempSync(join(root, "case-"));
  mkdirSync(join(dir, "bin"));
  mkdirSync(join(dir, "initd"));
  writeFileSync(join(dir, "bin/ubus"), UBUS, { mode: 0o755 });
  writeFileSync(join(dir, "initd/6to4-pmt"), INIT, { mode: 0o755 });
  writeFileSync(join(dir, "services"), registered ? "6to4-pmt\n" : "");
  writeFileSync(join(dir, "calls"), "");
  // /etc/passwd, group and shadow as the router has them after installation (bind-mounted over
  // the machine's in the script's private mount namespace).
  mkdirSync(join(dir, "etc"));
  writeFileSync(join(dir, "etc/passwd"), PASSWD);
  writeFileSync(join(dir, "etc/group"), GROUP);
  writeFileSync(join(dir, "etc/shadow"), SHADOW);
  // ubusd: a process that records SIGHUP (ubusd reloads /usr/share/acl.d on it); `pidof ubusd`
  // names it.
  const ubusd = spawn(
    "sh",
    [
      "-c",
      `trap 'echo "ubusd HUP" >> "$1"; exit 0' HUP; echo ready; while :; do sleep 0.05; done`,
      "sh",
      join(dir, "calls"),
    ],
    { stdio: ["ignore", "pipe", "ignore"] },
  );
  const ready = spawnSync("sh", [
    "-c",
    `for i in $(seq 1 100); do [ -d /proc/${ubusd.pid} ] && exit 0; sleep 0.02; done; exit 1`,
  ]);
  assert.equal(ready.status, 0);
  spawnSync("sleep", ["0.2"]);
  writeFileSync(join(dir, "bin/pidof"), `#!/bin/sh\n[ "$1" = ubusd ] && echo ${ubusd.pid}\n`, {
    mode: 0o755,
  });
  const r = spawnSync(
    "unshare",
    [
      "-m",
      "sh",
      "-c",
      'mount --make-rprivate / && mount --bind "$1/initd" /etc/init.d && ' +
        'for f in passwd group shadow; do mount --bind "$1/etc/$f" /etc/$f; done && exec sh "$2" 2>&1',
      "sh",
      dir,
      join(CONTROL, script),
    ],
    {
      encoding: "utf8",
      timeout: 20_000,
      env: {
        PATH: `${join(dir, "bin")}:${process.env.PATH ?? "/usr/bin:/bin"}`,
        CALLS: join(dir, "calls"),
        SERVICES: join(dir, "services"),
      },
    },
  );
  assert.equal(r.status, 0, r.stderr);
  // The handler runs once the shell's current sleep ends: bounded wait, then stop it by PID.
  spawnSync("sh", [
    "-c",
    `for i in $(seq 1 100); do grep -q "ubusd HUP" "$1" && exit 0; [ -d /proc/${ubusd.pid} ] || exit 0; sleep 0.02; done`,
    "sh",
    join(dir, "calls"),
  ]);
  ubusd.kill("SIGKILL");
  return {
    out: r.stdout + r.stderr,
    calls: readFileSync(join(dir, "calls"), "utf8").split("\n").filter(Boolean),
    etc: Object.fromEntries(
      ["passwd", "group", "shadow"].map((f) => [f, readFileSync(join(dir, "etc", f), "utf8")]),
    ),
  };
}

test("postinst on a fresh install: starts without procd's 'Command failed'", { skip }, () => {
  const r = runScript("postinst", false);
  assert.doesNotMatch(r.out, /Command failed/);
  assert.ok(r.calls.includes("init enable"), r.calls.join("\n"));
  assert.ok(r.calls.includes("init start"), r.calls.join("\n"));
  assert.ok(!r.calls.includes("init restart"), r.calls.join("\n"));
  // The package's ACL (the daemon user's ubus grants) is loaded before the service starts.
  assert.ok(r.calls.includes("ubusd HUP"), r.calls.join("\n"));
});

test(
  "postrm: ubusd drops the removed ACL (SIGHUP); the package's user and group are removed",
  { skip },
  () => {
    const r = runScript("postrm", false);
    assert.ok(r.calls.includes("ubusd HUP"), r.calls.join("\n"));
    // Exactly the lines add_group_and_user added at installation, nothing else.
    const drop = (t: string): string => t.replace(/^6to4pmt:.*\n/m, "");
    assert.equal(r.etc.passwd, drop(PASSWD));
    assert.equal(r.etc.group, drop(GROUP));
    assert.equal(r.etc.shadow, drop(SHADOW));
    assert.doesNotMatch(r.etc.passwd + r.etc.group + r.etc.shadow, /6to4pmt/);
  },
);

test("postinst leaves /etc/passwd as add_group_and_user made it", { skip }, () => {
  const r = runScript("postinst", false);
  assert.equal(r.etc.passwd, PASSWD);
});

test("postinst on an upgrade of a registered service: restarts it, no error", { skip }, () => {
  const r = runScript("postinst", true);
  assert.doesNotMatch(r.out, /Command failed/);
  assert.ok(r.calls.includes("init restart"), r.calls.join("\n"));
});

test("prerm: stops a registered service; an unknown one is not stopped, no error", { skip }, () => {
  const running = runScript("prerm", true);
  assert.ok(running.calls.includes("init stop"), running.calls.join("\n"));
  assert.ok(running.calls.includes("init disable"), running.calls.join("\n"));
  const idle = runScript("prerm", false);
  assert.doesNotMatch(idle.out, /Command failed/);
  assert.ok(!idle.calls.includes("init stop"), idle.calls.join("\n"));
  assert.ok(idle.calls.includes("init disable"), idle.calls.join("\n"));
});
