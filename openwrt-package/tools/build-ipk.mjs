#!/usr/bin/env node
// `npm run package`: builds, without an OpenWrt SDK,
//   dist/6to4-pmt_<version>_x86_64.ipk        bundle + N-API addon compiled with musl-gcc
//   dist/luci-app-6to4-pmt_<version>_all.ipk  LuCI view, menu, ACL, rpcd ucode plugin
// in the layout OpenWrt's scripts/ipkg-build writes and opkg reads: a gzip'd tar holding
// ./debian-binary ("2.0"), ./data.tar.gz and ./control.tar.gz (control, conffiles, postinst,
// prerm), entries owned by 0:0 with explicit modes, sorted, fixed mtime (reproducible).
// Other architectures: the SDK Makefiles in openwrt-package/ (docs/openwrt.md).
//
// Options: --out <dir> (default dist), --bundle <file> (default dist/6to4-pmt.js), --cc <musl-gcc>.
// Node built-ins and the `tar` CLI only.
import { execFileSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  readdirSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { gzipSync } from "node:zlib";

const REPO = resolve(dirname(fileURLToPath(import.meta.url)), "../..");
const PKG = join(REPO, "openwrt-package");

function arg(name, dflt) {
  const i = process.argv.indexOf(name);
  return i >= 0 && process.argv[i + 1] ? process.argv[i + 1] : dflt;
}

const version = JSON.parse(readFileSync(join(REPO, "package.json"), "utf8")).version;
const outDir = resolve(arg("--out", join(REPO, "dist")));
const bundle = resolve(arg("--bundle", join(REPO, "dist/6to4-pmt.js")));
const cc = arg("--cc", "musl-gcc");
// Reproducible: SOURCE_DATE_EPOCH if given, else the last commit's time, else 0.
const mtime = Number(process.env.SOURCE_DATE_EPOCH ?? gitTime() ?? 0);

function gitTime() {
  try {
    return (
      execFileSync("git", ["-C", REPO, "log", "-1", "--format=%ct"], { encoding: "utf8" }).trim() ||
      null
    );
  } catch {
    return null;
  }
}

function die(msg) {
  process.stderr.write(`build-ipk: ${msg}\n`);
  process.exit(1);
}

/** Node's Node-API headers (node_api.h, uv.h): node-gyp's cache, the install prefix, Debian's. */
function findNodeHeaders() {
  const v = process.version.slice(1);
  const candidates = [
    process.env.npm_config_nodedir && join(process.env.npm_config_nodedir, "include/node"),
    join(process.env.HOME ?? "/root", ".cache/node-gyp", v, "include/node"),
    join(dirname(dirname(process.execPath)), "include/node"),
    process.config?.variables?.node_prefix &&
      join(process.config.variables.node_prefix, "include/node"),
    "/usr/include/node",
    "/usr/local/include/node",
  ].filter(Boolean);
  const dir = candidates.find(
    (d) => existsSync(join(d, "node_api.h")) && existsSync(join(d, "uv.h")),
  );
  if (!dir) die(`node_api.h not found in ${candidates.join(", ")}`);
  return dir;
}

/**
 * musl-gcc searches only musl's headers; the addon also needs the kernel's UAPI headers
 * (linux/if_tun.h), which are libc-independent. A directory of symlinks to them keeps glibc's own
 * headers out of the build.
 */
function kernelHeaderShim(tmp) {
  const dir = join(tmp, "kernel-headers");
  mkdirSync(dir);
  const multiarch = ["/usr/include/x86_64-linux-gnu/asm", "/usr/include/asm"].find((p) =>
    existsSync(p),
  );
  for (const [name, target] of [
    ["linux", "/usr/include/linux"],
    ["asm-generic", "/usr/include/asm-generic"],
    ["asm", multiarch],
  ]) {
    if (!target || !existsSync(target))
      die(`kernel headers ${name} not found (apt-get install linux-libc-dev)`);
    symlinkSync(target, join(dir, name));
  }
  return dir;
}

function buildAddon(tmp) {
  const out = join(tmp, "pmt_native.node");
  const sources = readdirSync(join(REPO, "module/native"))
    .filter((f) => f.endsWith(".c"))
    .sort()
    .map((f) => join(REPO, "module/native", f));
  const args = [
    "-O2",
    "-Wall",
    "-Wextra",
    "-std=gnu11",
    "-fvisibility=hidden", // the files share functions: export only the N-API registration
    "-fPIC",
    "-shared",
    "-s",
    "-DNAPI_VERSION=8",
    "-isystem",
    kernelHeaderShim(tmp),
    "-I",
    findNodeHeaders(),
    "-o",
    out,
    ...sources,
  ];
  try {
    execFileSync(cc, args, { stdio: ["ignore", "inherit", "inherit"] });
  } catch (e) {
    die(`${cc} failed (${e.message}); Debian: apt-get install musl-tools`);
  }
  return out;
}

/** Copies `src` to `stage/rel` with `mode`. */
function put(stage, rel, src, mode) {
  const dst = join(stage, rel);
  mkdirSync(dirname(dst), { recursive: true, mode: 0o755 });
  copyFileSync(src, dst);
  chmodSync(dst, mode);
}

function putText(stage, rel, text, mode) {
  const dst = join(stage, rel);
  mkdirSync(dirname(dst), { recursive: true, mode: 0o755 });
  writeFileSync(dst, text);
  chmodSync(dst, mode);
}

/** Sets every directory under `dir` to 0755 (umask-independent). */
function fixDirModes(dir) {
  chmodSync(dir, 0o755);
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.isDirectory()) fixDirModes(join(dir, e.name));
  }
}

function sizeOf(dir) {
  let n = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    n += e.isDirectory() ? sizeOf(p) : statSync(p).size;
  }
  return n;
}

/** A gzip'd tar of `dir`'s contents as ./..., owner 0:0, sorted, fixed mtime. */
function tarGz(dir, entries = ["."]) {
  const tar = execFileSync(
    "tar",
    [
      "--format=gnu",
      "--numeric-owner",
      "--owner=0",
      "--group=0",
      "--sort=name",
      `--mtime=@${mtime}`,
      "-C",
      dir,
      "-cf",
      "-",
      ...entries,
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  return gzipSync(tar, { level: 9 });
}

function controlText(fields) {
  return (
    Object.entries(fields)
      .map(([k, v]) => `${k}: ${v}`)
      .join("\n") + "\n"
  );
}

/**
 * Writes <out>/<name>_<version>_<arch>.ipk from a staged data dir and control fields/scripts.
 * Returns its path.
 */
function buildIpk(
  tmp,
  { name, arch, depends, suggests, description, section, data, conffiles, scripts, requireUser },
) {
  const work = join(tmp, `ipk-${name}`);
  const control = join(work, "control");
  mkdirSync(control, { recursive: true });
  fixDirModes(data);
  const fields = {
    Package: name,
    Version: version,
    Depends: depends,
    // opkg's Suggests: named to the user, never installed with the package.
    ...(suggests ? { Suggests: suggests } : {}),
    License: "MIT",
    Section: section,
    Architecture: arch,
    "Installed-Size": String(sizeOf(data)),
    Description: description,
    // OpenWrt's add_group_and_user (lib/functions.sh) creates these users at installation.
    ...(requireUser ? { "Require-User": requireUser } : {}),
  };
  putText(control, "control", controlText(fields), 0o644);
  if (conffiles.length > 0) putText(control, "conffiles", conffiles.join("\n") + "\n", 0o644);
  for (const [script, src] of Object.entries(scripts)) put(control, script, src, 0o755);
  fixDirModes(control);

  writeFileSync(join(work, "debian-binary"), "2.0\n");
  chmodSync(join(work, "debian-binary"), 0o644);
  writeFileSync(join(work, "data.tar.gz"), tarGz(data));
  writeFileSync(join(work, "control.tar.gz"), tarGz(control));
  chmodSync(join(work, "data.tar.gz"), 0o644);
  chmodSync(join(work, "control.tar.gz"), 0o644);
  // Outer archive as OpenWrt's ipkg-build writes it: this member order, no sorting.
  const outer = execFileSync(
    "tar",
    [
      "--format=gnu",
      "--numeric-owner",
      "--owner=0",
      "--group=0",
      `--mtime=@${mtime}`,
      "-C",
      work,
      "-cf",
      "-",
      "./debian-binary",
      "./data.tar.gz",
      "./control.tar.gz",
    ],
    { maxBuffer: 256 * 1024 * 1024 },
  );
  const file = join(outDir, `${name}_${version}_${arch}.ipk`);
  writeFileSync(file, gzipSync(outer, { level: 9 }));
  return file;
}

function main() {
  if (!existsSync(bundle)) die(`${bundle} missing: run \`npm run build\` first`);
  mkdirSync(outDir, { recursive: true });
  const tmp = mkdtempSync(join(tmpdir(), "6to4-pmt-ipk-"));
  try {
    const addon = buildAddon(tmp);
    const files = join(PKG, "6to4-pmt/files");

    const data = join(tmp, "data-6to4-pmt");
    put(data, "usr/lib/6to4-pmt/6to4-pmt.js", bundle, 0o644);
    put(data, "usr/lib/6to4-pmt/pmt_native.node", addon, 0o644);
    put(data, "usr/lib/6to4-pmt/package.json", join(files, "package.json"), 0o644);
    put(data, "usr/lib/6to4-pmt/netifd-prefix", join(files, "netifd-prefix"), 0o755);
    put(data, "usr/lib/6to4-pmt/wiring", join(files, "6to4-pmt.wiring"), 0o755);
    put(data, "usr/sbin/6to4-pmt", join(files, "6to4-pmt.launcher"), 0o755);
    put(data, "etc/config/6to4-pmt", join(files, "6to4-pmt.config"), 0o600);
    put(data, "etc/init.d/6to4-pmt", join(files, "6to4-pmt.init"), 0o755);
    put(data, "etc/uci-defaults/60_6to4-pmt", join(files, "6to4-pmt.uci-defaults"), 0o755);
    put(data, "etc/udhcpc.user.d/6to4-pmt", join(files, "6to4-pmt.udhcpc"), 0o644);
    put(data, "lib/netifd/proto/6to4pmt.sh", join(files, "6to4pmt.sh"), 0o755);
    put(data, "etc/capabilities/6to4-pmt.json", join(files, "6to4-pmt.capabilities.json"), 0o644);
    put(data, "usr/share/acl.d/6to4-pmt.json", join(files, "6to4-pmt.acl.json"), 0o644);
    const main = buildIpk(tmp, {
      name: "6to4-pmt",
      arch: "x86_64",
      depends: "libc, node, kmod-tun, ip-full",
      // `dataplane auto` uses the kernel's sit + nft when kmod-sit is there, else the TUN.
      suggests: "kmod-sit",
      section: "net",
      description:
        "6to4 Provider Managed Tunnels (RFC 6732) CPE and relay. Disabled by default (6to4 is Historic, RFC 7526); set 6to4-pmt.cpe.enabled=1. Needs node from the packages feed: OpenWrt 23.05 (node 18.20; i386, x86_64, arm, aarch64, mipsel with FPU) or 24.10 (node 20; i386, x86_64, arm, aarch64 with FPU); OpenWrt 25.12 and later build node for the host only (not installable there).",
      data,
      conffiles: ["/etc/config/6to4-pmt"],
      requireUser: "6to4pmt:6to4pmt",
      scripts: {
        postinst: join(PKG, "6to4-pmt/control/postinst"),
        prerm: join(PKG, "6to4-pmt/control/prerm"),
        postrm: join(PKG, "6to4-pmt/control/postrm"),
      },
    });

    const luciSrc = join(PKG, "luci-app-6to4-pmt");
    const luci = join(tmp, "data-luci");
    const view = "luci-static/resources/view/6to4-pmt/config.js";
    put(luci, `www/${view}`, join(luciSrc, "htdocs", view), 0o644);
    for (const rel of [
      "usr/share/luci/menu.d/luci-app-6to4-pmt.json",
      "usr/share/rpcd/acl.d/luci-app-6to4-pmt.json",
      "usr/share/rpcd/ucode/luci.6to4-pmt",
    ]) {
      put(luci, rel, join(luciSrc, "root", rel), 0o644);
    }
    const app = buildIpk(tmp, {
      name: "luci-app-6to4-pmt",
      arch: "all",
      depends: "libc, luci-base, rpcd-mod-ucode, 6to4-pmt",
      section: "luci",
      description:
        "LuCI support for 6to4-pmt: settings (enable, mode, relay, provider prefix, SLA, MTU, RA) and status.",
      data: luci,
      conffiles: [],
      scripts: {
        postinst: join(luciSrc, "control/postinst"),
        prerm: join(luciSrc, "control/prerm"),
        postrm: join(luciSrc, "control/postrm"),
      },
    });
    for (const f of [main, app]) console.log(`ipk ${f}: ${statSync(f).size} bytes`);
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
}

main();
