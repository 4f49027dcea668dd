// `npm run package` output (openwrt-package/tools/build-ipk.mjs): each .ipk has the layout opkg
// reads (gzip'd tar of ./debian-binary, ./data.tar.gz, ./control.tar.gz, as OpenWrt's ipkg-build
// writes), the control fields, conffiles, file paths, owners and modes; the musl-built addon is an
// x86-64 ELF that needs only musl's libc.so, with undefined symbols only from musl libc, Node-API
// (napi_*) and libuv (uv_*) that the node binary exports. Needs: musl-tools, binutils, tar, and a
// bundle from `npm run build` (npm test's pretest builds it).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

const MUSL_LIBC = "/lib/x86_64-linux-musl/libc.so";
const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;
const has = (cmd: string): boolean => spawnSync("sh", ["-c", `command -v ${cmd}`]).status === 0;
const skip = !has("musl-gcc")
  ? "musl-gcc missing (apt-get install musl-tools)"
  : !has("readelf") || !has("nm")
    ? "readelf/nm missing (apt-get install binutils)"
    : !existsSync("dist/6to4-pmt.js")
      ? "dist/6to4-pmt.js missing: run `npm run build` first"
      : false;

const out = mkdtempSync(join(tmpdir(), "6to4-pmt-ipk-test-"));
after(() => rmSync(out, { recursive: true, force: true }));

interface Entry {
  mode: string;
  owner: string;
  size: number;
  path: string;
}

/** `tar -tvzf` of a file, or of a member of an outer archive. */
function list(file: string): Entry[] {
  const text = execFileSync("tar", ["--numeric-owner", "-tvzf", file], { encoding: "utf8" });
  return text
    .trim()
    .split("\n")
    .map((l) => {
      const f = l.split(/\s+/);
      return { mode: f[0]!, owner: f[1]!, size: Number(f[2]), path: f[5]! };
    });
}

function extract(ipk: string): string {
  const dir = join(out, `x-${ipk.split("/").pop()}`);
  mkdirSync(dir);
  execFileSync("tar", ["-xzf", ipk, "-C", dir]);
  for (const inner of ["data", "control"]) {
    mkdirSync(join(dir, inner));
    execFileSync("tar", ["-xzf", join(dir, `${inner}.tar.gz`), "-C", join(dir, inner)]);
  }
  return dir;
}

function controlFields(dir: string): Map<string, string> {
  const m = new Map<string, string>();
  for (const line of readFileSync(join(dir, "control/control"), "utf8").trim().split("\n")) {
    const i = line.indexOf(": ");
    m.set(line.slice(0, i), line.slice(i + 2));
  }
  return m;
}

const MAIN = join(out, `6to4-pmt_${version}_x86_64.ipk`);
const LUCI = join(out, `luci-app-6to4-pmt_${version}_all.ipk`);
let mainDir = "";
let luciDir = "";

before(() => {
  if (skip) return;
  execFileSync(process.execPath, ["openwrt-package/tools/build-ipk.mjs", "--out", out], {
    stdio: "pipe",
  });
  mainDir = extract(MAIN);
  luciDir = extract(LUCI);
});

for (const [label, ipk] of [
  ["6to4-pmt", MAIN],
  ["luci-app-6to4-pmt", LUCI],
] as const) {
  test(`${label}: outer archive holds debian-binary, data.tar.gz, control.tar.gz`, { skip }, () => {
    assert.deepEqual(readFileSync(ipk).subarray(0, 2), Buffer.from([0x1f, 0x8b]), "gzip");
    const entries = list(ipk);
    assert.deepEqual(
      entries.map((e) => e.path),
      ["./debian-binary", "./data.tar.gz", "./control.tar.gz"],
    );
    for (const e of entries) assert.equal(e.owner, "0/0");
    const dir = label === "6to4-pmt" ? mainDir : luciDir;
    assert.equal(readFileSync(join(dir, "debian-binary"), "utf8"), "2.0\n");
  });
}

test("6to4-pmt: control fields", { skip }, () => {
  const f = controlFields(mainDir);
  assert.equal(f.get("Package"), "6to4-pmt");
  assert.equal(f.get("Version"), version);
  assert.equal(f.get("Architecture"), "x86_64");
  assert.deepEqual(f.get("Depends")!.split(", ").sort(), ["ip-full", "kmod-tun", "libc", "node"]);
  // The kernel data plane's sit is a suggestion: dataplane auto falls back without it.
  assert.equal(f.get("Suggests"), "kmod-sit");
  assert.ok((f.get("Description") ?? "").length > 20);
  // The daemons' user, created by add_group_and_user at installation (docs/security.md).
  assert.equal(f.get("Require-User"), "6to4pmt:6to4pmt");
  const dataSize = list(join(mainDir, "data.tar.gz")).reduce(
    (n, e) => n + (e.mode.startsWith("-") ? e.size : 0),
    0,
  );
  assert.equal(Number(f.get("Installed-Size")), dataSize);
});

test("luci-app-6to4-pmt: control fields", { skip }, () => {
  const f = controlFields(luciDir);
  assert.equal(f.get("Package"), "luci-app-6to4-pmt");
  assert.equal(f.get("Version"), version);
  assert.equal(f.get("Architecture"), "all");
  assert.ok(f.get("Depends")!.split(", ").includes("6to4-pmt"));
  assert.ok(f.get("Depends")!.split(", ").includes("luci-base"));
  assert.ok(Number(f.get("Installed-Size")) > 0);
});

test("6to4-pmt: data paths, owners and modes", { skip }, () => {
  const entries = list(join(mainDir, "data.tar.gz"));
  const files = Object.fromEntries(
    entries.filter((e) => !e.mode.startsWith("d")).map((e) => [e.path, e.mode]),
  );
  assert.deepEqual(files, {
    "./etc/capabilities/6to4-pmt.json": "-rw-r--r--",
    "./etc/config/6to4-pmt": "-rw-------",
    "./etc/init.d/6to4-pmt": "-rwxr-xr-x",
    "./etc/uci-defaults/60_6to4-pmt": "-rwxr-xr-x",
    "./etc/udhcpc.user.d/6to4-pmt": "-rw-r--r--",
    "./lib/netifd/proto/6to4pmt.sh": "-rwxr-xr-x",
    "./usr/lib/6to4-pmt/6to4-pmt.js": "-rw-r--r--",
    "./usr/lib/6to4-pmt/netifd-prefix": "-rwxr-xr-x",
    "./usr/lib/6to4-pmt/package.json": "-rw-r--r--",
    "./usr/lib/6to4-pmt/pmt_native.node": "-rw-r--r--",
    "./usr/lib/6to4-pmt/wiring": "-rwxr-xr-x",
    "./usr/sbin/6to4-pmt": "-rwxr-xr-x",
    "./usr/share/acl.d/6to4-pmt.json": "-rw-r--r--",
  });
  for (const e of entries) {
    assert.equal(e.owner, "0/0", e.path);
    if (e.mode.startsWith("d")) assert.equal(e.mode, "drwxr-xr-x", e.path);
  }
  assert.equal(
    readFileSync(join(mainDir, "data/usr/lib/6to4-pmt/6to4-pmt.js"), "utf8"),
    readFileSync("dist/6to4-pmt.js", "utf8"),
  );
  assert.match(
    readFileSync(join(mainDir, "data/usr/sbin/6to4-pmt"), "utf8"),
    /exec \/usr\/bin\/node (--[\w-]+(=\S+)? )*\/usr\/lib\/6to4-pmt\/6to4-pmt\.js "\$@"/,
  );
});

test("luci-app-6to4-pmt: data paths and modes", { skip }, () => {
  const files = Object.fromEntries(
    list(join(luciDir, "data.tar.gz"))
      .filter((e) => !e.mode.startsWith("d"))
      .map((e) => [e.path, e.mode]),
  );
  assert.deepEqual(files, {
    "./usr/share/luci/menu.d/luci-app-6to4-pmt.json": "-rw-r--r--",
    "./usr/share/rpcd/acl.d/luci-app-6to4-pmt.json": "-rw-r--r--",
    "./usr/share/rpcd/ucode/luci.6to4-pmt": "-rw-r--r--",
    "./www/luci-static/resources/view/6to4-pmt/config.js": "-rw-r--r--",
  });
});

test("conffiles, postinst and prerm", { skip }, () => {
  assert.equal(readFileSync(join(mainDir, "control/conffiles"), "utf8"), "/etc/config/6to4-pmt\n");
  assert.ok(!existsSync(join(luciDir, "control/conffiles")));
  const ctl = Object.fromEntries(
    list(join(mainDir, "control.tar.gz")).map((e) => [e.path, e.mode]),
  );
  assert.equal(ctl["./postinst"], "-rwxr-xr-x");
  assert.equal(ctl["./prerm"], "-rwxr-xr-x");
  assert.equal(ctl["./control"], "-rw-r--r--");
  const postinst = readFileSync(join(mainDir, "control/postinst"), "utf8");
  assert.match(postinst, /add_group_and_user 6to4-pmt/);
  assert.match(postinst, /^\/etc\/init\.d\/6to4-pmt enable$/m);
  assert.match(postinst, /^\s*\/etc\/init\.d\/6to4-pmt restart$/m);
  assert.match(postinst, /^\s*\/etc\/init\.d\/6to4-pmt start$/m);
  assert.match(
    postinst,
    /\[ -n "\$\{IPKG_INSTROOT\}" \] && exit 0/,
    "nothing runs in an image build",
  );
  const prerm = readFileSync(join(mainDir, "control/prerm"), "utf8");
  assert.match(prerm, /^\s*\/etc\/init\.d\/6to4-pmt stop$/m);
  assert.match(prerm, /^\/etc\/init\.d\/6to4-pmt disable$/m);
  assert.match(prerm, /\/usr\/lib\/6to4-pmt\/wiring revert$/m);
  assert.match(readFileSync(join(mainDir, "control/postrm"), "utf8"), /rmdir/);
  assert.match(readFileSync(join(luciDir, "control/postinst"), "utf8"), /rpcd reload/);
  // After the plugin's files are gone rpcd must drop luci.6to4-pmt: postrm, not prerm.
  assert.match(readFileSync(join(luciDir, "control/postrm"), "utf8"), /rpcd reload/);
});

test("every shell script in the packages parses (sh -n)", { skip }, () => {
  const sh = existsSync("/usr/bin/busybox") ? ["/usr/bin/busybox", "sh"] : ["/bin/sh"];
  for (const f of [
    "control/postinst",
    "control/prerm",
    "control/postrm",
    "data/usr/lib/6to4-pmt/wiring",
    "data/etc/init.d/6to4-pmt",
    "data/etc/uci-defaults/60_6to4-pmt",
    "data/etc/udhcpc.user.d/6to4-pmt",
    "data/lib/netifd/proto/6to4pmt.sh",
    "data/usr/lib/6to4-pmt/netifd-prefix",
    "data/usr/sbin/6to4-pmt",
  ]) {
    const r = spawnSync(sh[0]!, [...sh.slice(1), "-n", join(mainDir, f)], { encoding: "utf8" });
    assert.equal(r.status, 0, `${f}: ${r.stderr}`);
  }
});

test("addon: x86-64 ELF shared object needing only musl's libc.so", { skip }, () => {
  const addon = join(mainDir, "data/usr/lib/6to4-pmt/pmt_native.node");
  assert.ok(statSync(addon).size > 1000);
  const header = execFileSync("readelf", ["-h", addon], { encoding: "utf8" });
  assert.match(header, /Class:\s+ELF64/);
  assert.match(header, /Machine:\s+Advanced Micro Devices X86-64/);
  assert.match(header, /Type:\s+DYN/);
  const needed = [
    ...execFileSync("readelf", ["-d", addon], { encoding: "utf8" }).matchAll(
      /\(NEEDED\)\s+Shared library: \[([^\]]+)\]/g,
    ),
  ].map((m) => m[1]);
  assert.deepEqual(needed, ["libc.so"]);
  // No glibc symbol versions: a glibc-built object would need GLIBC_2.x.
  assert.doesNotMatch(execFileSync("readelf", ["-V", addon], { encoding: "utf8" }), /GLIBC_/);
});

test("addon: undefined symbols are musl libc, napi_* or uv_* (exported by node)", { skip }, () => {
  const addon = join(mainDir, "data/usr/lib/6to4-pmt/pmt_native.node");
  const defined = (file: string): Set<string> =>
    new Set(
      execFileSync("nm", ["-D", "--defined-only", file], {
        encoding: "utf8",
        maxBuffer: 512 * 1024 * 1024,
      })
        .split("\n")
        .map((l) => l.trim().split(/\s+/)[2])
        .filter((s): s is string => !!s),
    );
  const libc = existsSync(MUSL_LIBC) ? defined(MUSL_LIBC) : null;
  const node = defined(process.execPath);
  const undef = execFileSync("nm", ["-D", "--undefined-only", addon], { encoding: "utf8" })
    .split("\n")
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f.length === 2) as [string, string][];
  assert.ok(
    undef.some(([, s]) => s.startsWith("napi_")),
    "uses Node-API",
  );
  const bad: string[] = [];
  for (const [kind, sym] of undef) {
    if (sym.startsWith("napi_") || sym.startsWith("uv_")) {
      // Exported by the node binary (when node is linked statically, as OpenWrt's and Debian's are).
      if (node.size > 0 && !node.has(sym)) bad.push(`${sym} (not exported by node)`);
      continue;
    }
    if (kind === "w") continue; // weak: crt's _ITM_* / __cxa_finalize, may stay unresolved
    if (libc && !libc.has(sym)) bad.push(`${sym} (not in musl libc)`);
  }
  assert.deepEqual(bad, []);
});
