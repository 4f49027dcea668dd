// The pure parts of `6to4-pmt lab --openwrt-rootfs` (module/lab/openwrt-rootfs.ts, openwrt.ts
// findIpks, lab-common.ts labNsPrefix): argument checks and their one-line errors, what a given
// path is (directory, tarball, neither), whether a tree can run (built here as scratch trees, not
// an OpenWrt copy), the parsing of `ldd`, the container's configuration and setup script.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { ConfigError } from "../../../module/config/config-error.js";
import { labNsPrefix } from "../../../module/lab/lab-common.js";
import { findIpks } from "../../../module/lab/openwrt.js";
import {
  CONTAINER_CAPS,
  CONTAINER_DHCP,
  CONTAINER_NETWORK,
  containerSetupScript,
  lddPaths,
  openwrtRelease,
  parseOpenwrtLabArgs,
  ROOTFS_REQUIRED,
  rootfsKind,
  rootfsProblem,
} from "../../../module/lab/openwrt-rootfs.js";

const scratch = mkdtempSync(join(tmpdir(), "6to4-pmt-owlab-unit-"));
after(() => rmSync(scratch, { recursive: true, force: true }));

/** Asserts `fn` throws a one-line ConfigError naming `option` and matching `re`. */
function configError(fn: () => unknown, option: string, re: RegExp): void {
  assert.throws(fn, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.equal(e.option, option);
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, re);
    return true;
  });
}

test("arguments: path, defaults, and one-line errors naming the flag", () => {
  const o = parseOpenwrtLabArgs(["--openwrt-rootfs", "/x/rootfs"]);
  assert.deepEqual(o, {
    help: false,
    rootfs: "/x/rootfs",
    ipkDir: undefined,
    bytes: 1000000,
    keep: false,
  });
  const o2 = parseOpenwrtLabArgs(["--openwrt-rootfs=/r.tar.gz", "--ipk-dir", "/d", "--bytes", "5"]);
  assert.equal(o2.ipkDir, "/d");
  assert.equal(o2.bytes, 5);
  assert.equal(parseOpenwrtLabArgs(["--openwrt-rootfs", "x", "--help"]).help, true);
  configError(
    () => parseOpenwrtLabArgs(["--openwrt-rootfs="]),
    "--openwrt-rootfs",
    /^--openwrt-rootfs: expected an OpenWrt x86-64 rootfs directory or tarball$/,
  );
  configError(
    () => parseOpenwrtLabArgs(["--openwrt-rootfs"]),
    "--openwrt-rootfs",
    /^--openwrt-rootfs: expected an OpenWrt x86-64 rootfs directory or tarball$/,
  );
  configError(
    () => parseOpenwrtLabArgs(["--openwrt-rootfs", "x", "--bytes", "0"]),
    "--bytes",
    /^--bytes: expected a byte count 1\.\.9999999999, got "0"$/,
  );
  configError(
    () => parseOpenwrtLabArgs(["--openwrt-rootfs", "x", "--faults"]),
    "--faults",
    /^--faults: unknown option with --openwrt-rootfs/,
  );
  configError(
    () => parseOpenwrtLabArgs(["--openwrt-rootfs", "x", "extra"]),
    "extra",
    /^unexpected argument "extra"/,
  );
});

test("rootfs kind: a directory, a tarball by name, anything else refused in one line", () => {
  const dir = join(scratch, "tree");
  mkdirSync(dir, { recursive: true });
  assert.deepEqual(rootfsKind(dir), { kind: "dir" });
  for (const [name, compression] of [
    ["openwrt-23.05.5-x86-64-rootfs.tar.gz", "gzip"],
    ["openwrt-24.10.0-x86-64-rootfs.tgz", "gzip"],
    ["rootfs.tar", "none"],
  ] as const) {
    const f = join(scratch, name);
    writeFileSync(f, "");
    assert.deepEqual(rootfsKind(f), { kind: "tarball", compression });
  }
  const img = join(scratch, "openwrt-23.05.5-x86-64-generic-ext4-combined.img.gz");
  writeFileSync(img, "");
  configError(
    () => rootfsKind(img),
    "--openwrt-rootfs",
    /^--openwrt-rootfs: expected a directory or a tarball \(\*\.tar\.gz, \*\.tgz, \*\.tar, e\.g\. openwrt-23\.05\.5-x86-64-rootfs\.tar\.gz\), got ".*combined\.img\.gz"$/,
  );
  configError(
    () => rootfsKind(join(scratch, "absent")),
    "--openwrt-rootfs",
    /got ".*absent" \(no such file or directory\)$/,
  );
});

/** A scratch tree with the release file and the required programs (mode 0755 unless told). */
function fakeTree(name: string, release: string, mode = 0o755, skip: string[] = []): string {
  const root = join(scratch, name);
  mkdirSync(join(root, "etc"), { recursive: true });
  writeFileSync(join(root, "etc/openwrt_release"), release);
  for (const rel of ROOTFS_REQUIRED) {
    if (skip.includes(rel)) continue;
    mkdirSync(join(root, rel, ".."), { recursive: true });
    writeFileSync(join(root, rel), "#!/bin/sh\n");
    chmodSync(join(root, rel), mode);
  }
  return root;
}

const X86 =
  "DISTRIB_ID='OpenWrt'\nDISTRIB_RELEASE='23.05.5'\nDISTRIB_ARCH='x86_64'\nDISTRIB_DESCRIPTION='OpenWrt 23.05.5 r24106-10cc5fcd00'\n";

test("rootfs check: what the tree lacks, in one line; a complete tree passes", () => {
  const empty = join(scratch, "empty");
  mkdirSync(empty, { recursive: true });
  assert.equal(
    rootfsProblem(empty),
    `${empty} is not an OpenWrt root filesystem (no etc/openwrt_release)`,
  );
  const mips = fakeTree("mips", "DISTRIB_ARCH='mipsel_24kc'\n");
  assert.match(rootfsProblem(mips)!, /is OpenWrt for mipsel_24kc; .* needs x86_64$/);
  const partial = fakeTree("partial", X86, 0o755, ["sbin/procd", "usr/sbin/odhcpd"]);
  assert.equal(rootfsProblem(partial), `${partial} lacks sbin/procd, usr/sbin/odhcpd`);
  const modes = fakeTree("modes", X86, 0o644);
  // access(X_OK) fails without any x bit, for root too.
  assert.match(
    rootfsProblem(modes)!,
    /: sbin\/procd, .* not executable \(file modes lost in a copy\?\)$/,
  );
  const good = fakeTree("good", X86);
  assert.equal(rootfsProblem(good), undefined);
  assert.equal(
    openwrtRelease(good).get("DISTRIB_DESCRIPTION"),
    "OpenWrt 23.05.5 r24106-10cc5fcd00",
  );
  assert.equal(openwrtRelease(good).get("DISTRIB_ARCH"), "x86_64");
});

test("ldd: libraries and the interpreter as paths; a missing library is an error", () => {
  const out = `\tlinux-vdso.so.1 (0x00007fa03f78d000)
\tlibdl.so.2 => /lib/x86_64-linux-gnu/libdl.so.2 (0x00007fa03f776000)
\tlibstdc++.so.6 => /lib/x86_64-linux-gnu/libstdc++.so.6 (0x00007fa03f400000)
\tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007fa03f21e000)
\t/lib64/ld-linux-x86-64.so.2 (0x00007fa03f78f000)
`;
  assert.deepEqual(lddPaths(out), [
    "/lib/x86_64-linux-gnu/libdl.so.2",
    "/lib/x86_64-linux-gnu/libstdc++.so.6",
    "/lib/x86_64-linux-gnu/libc.so.6",
    "/lib64/ld-linux-x86-64.so.2",
  ]);
  assert.deepEqual(lddPaths("\tstatically linked\n"), []);
  assert.throws(
    () => lddPaths("\tlibuv.so.1 => not found\n"),
    /^Error: ldd: libuv\.so\.1 => not found$/,
  );
});

test("namespace prefix: empty by default, PMT_LAB_NS_PREFIX checked", () => {
  assert.equal(labNsPrefix({}), "");
  assert.equal(labNsPrefix({ PMT_LAB_NS_PREFIX: "o123-" }), "o123-");
  configError(
    () => labNsPrefix({ PMT_LAB_NS_PREFIX: "a/b" }),
    "PMT_LAB_NS_PREFIX",
    /^PMT_LAB_NS_PREFIX: expected up to 8 letters, digits or "-", got "a\/b"$/,
  );
  configError(
    () => labNsPrefix({ PMT_LAB_NS_PREFIX: "toolong-x" }),
    "PMT_LAB_NS_PREFIX",
    /toolong-x/,
  );
});

test("ipks: the newest of each package in the directory, or a line naming --ipk-dir", () => {
  const d = join(scratch, "ipks");
  mkdirSync(d, { recursive: true });
  configError(
    () => findIpks(d),
    "--ipk-dir",
    /^--ipk-dir: expected 6to4-pmt_<version>_x86_64\.ipk and luci-app-6to4-pmt_<version>_all\.ipk in .* \(run npm run package\)$/,
  );
  for (const f of [
    "6to4-pmt_0.1.0_x86_64.ipk",
    "6to4-pmt_0.2.0_x86_64.ipk",
    "luci-app-6to4-pmt_0.2.0_all.ipk",
    "6to4-pmt_0.2.0_mipsel_24kc.ipk",
  ]) {
    writeFileSync(join(d, f), "");
  }
  assert.deepEqual(findIpks(d), [
    join(d, "6to4-pmt_0.2.0_x86_64.ipk"),
    join(d, "luci-app-6to4-pmt_0.2.0_all.ipk"),
  ]);
});

test("container files: lab addresses only, the stock LAN settings, odhcpd serving RAs", () => {
  assert.match(
    CONTAINER_NETWORK,
    /config interface 'lan'\n\toption device 'lan0'\n\toption proto 'static'\n\toption ipaddr '192\.0\.2\.1'/,
  );
  assert.match(CONTAINER_NETWORK, /option ip6assign '60'/);
  assert.match(
    CONTAINER_NETWORK,
    /config interface 'wan'\n\toption device 'wan0'\n\toption proto 'dhcp'/,
  );
  // No ULA (fd00::/8) and no 192.168.x: only documentation addresses in the lab.
  assert.doesNotMatch(CONTAINER_NETWORK, /ula_prefix|fd[0-9a-f]{2}:|192\.168\./);
  assert.match(CONTAINER_DHCP, /config dhcp 'lan'[^]*option ra 'server'/);
});

test("setup script: valid sh, procd without SYS_ADMIN/SYS_MODULE/SYS_TIME, read-only /sys", () => {
  const script = containerSetupScript();
  const f = join(scratch, "setup.sh");
  writeFileSync(f, script);
  const r = spawnSync("sh", ["-n", f], { encoding: "utf8" });
  assert.equal(r.status, 0, r.stderr);
  const bounding = /--bounding-set (\S+)/.exec(script)![1]!.split(",");
  assert.equal(bounding[0], "-all");
  assert.deepEqual(
    bounding.slice(1),
    CONTAINER_CAPS.map((c) => `+${c}`),
  );
  for (const c of ["sys_admin", "sys_module", "sys_time", "mknod", "sys_rawio", "sys_boot"]) {
    assert.ok(!CONTAINER_CAPS.includes(c), c);
  }
  assert.ok(CONTAINER_CAPS.includes("net_admin"));
  assert.match(script, /mount -t sysfs -o ro,/);
  assert.match(script, /mount -o remount,bind,ro "\$M\/proc\/sys"\n/);
  assert.match(script, /chroot "\$M" \/sbin\/procd\n$/);
});
