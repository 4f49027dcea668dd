// The option tables of docs/openwrt.md, /etc/config/6to4-pmt and the init script's validation/mapping block are
// generated from module/config/schema.ts (openwrt-package/tools/openwrt-gen.ts); this fails when one is
// stale. Fix: `npx tsc -p tsconfig.json && node out/openwrt-package/tools/openwrt-gen.js --write`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import {
  INIT_PATH,
  README_PATH,
  UCI_CONFIG_PATH,
  PACKAGE_SCRIPT_SOURCES,
  PACKAGE_SCRIPTS,
  controlScriptPath,
  expectedInit,
  expectedMakefile,
  expectedReadme,
  renderUciConfig,
} from "../../../openwrt-package/tools/openwrt-gen.js";
import { optionsFor } from "../../../module/config/schema.js";

test("docs/openwrt.md option tables match the schema", () => {
  const readme = readFileSync(README_PATH, "utf8");
  assert.equal(readme, expectedReadme(readme));
  for (const o of optionsFor("cpe"))
    assert.ok(readme.includes(`| \`${o.name}\` / \`${o.flag}\` |`), o.name);
});

test("/etc/config/6to4-pmt matches the schema: disabled, every UCI option present (RFC 7526 §5)", () => {
  const text = readFileSync(UCI_CONFIG_PATH, "utf8");
  assert.equal(text, renderUciConfig());
  assert.match(text, /^config cpe 'cpe'\n(?:.*\n)*?\toption enabled '0'$/m);
  for (const role of ["cpe", "relay"] as const) {
    for (const o of optionsFor(role)) {
      const line = new RegExp(`^\\t#?(option|list) ${o.name} `, "m");
      if (o.commandLineOnly) assert.doesNotMatch(text, line, `${role} ${o.name} is not UCI's`);
      else assert.match(text, line, `${role} ${o.name}`);
    }
  }
});

test("path and program options are command-line only: not validated or passed by the init script", () => {
  const fixed = optionsFor("cpe").filter((o) => o.commandLineOnly);
  assert.deepEqual(
    fixed.map((o) => o.name),
    ["netifd_hook", "state_file", "status_socket"],
  );
  const init = readFileSync(INIT_PATH, "utf8");
  for (const o of fixed) {
    assert.doesNotMatch(init, new RegExp(`'${o.name}:`), o.name);
    assert.doesNotMatch(init, new RegExp(`${o.flag} `), o.flag);
  }
});

test("init script's generated block matches the schema", () => {
  const text = readFileSync(INIT_PATH, "utf8");
  assert.equal(text, expectedInit(text));
});

test("SDK Makefiles carry package.json's version", () => {
  const version = (JSON.parse(readFileSync("package.json", "utf8")) as { version: string }).version;
  for (const mk of [
    "openwrt-package/6to4-pmt/Makefile",
    "openwrt-package/luci-app-6to4-pmt/Makefile",
  ]) {
    assert.match(
      readFileSync(mk, "utf8"),
      new RegExp(`^PKG_VERSION:=${version.replace(/\./g, "\\.")}$`, "m"),
      mk,
    );
  }
  const sdk = readFileSync("openwrt-package/6to4-pmt/Makefile", "utf8");
  assert.match(sdk, /DEPENDS:=\+node \+kmod-tun \+ip-full/);
  assert.match(sdk, /\$\(TARGET_CC\)/);
  assert.match(sdk, /-I\$\(STAGING_DIR\)\/usr\/include\/node/);
  assert.match(sdk, /define Package\/6to4-pmt\/conffiles\n\/etc\/config\/6to4-pmt\nendef/);
});

test("SDK Makefiles carry the same postinst/prerm/postrm as the ipks (control/)", () => {
  const buildIpk = readFileSync("openwrt-package/tools/build-ipk.mjs", "utf8");
  for (const { pkg, makefile } of PACKAGE_SCRIPT_SOURCES) {
    const mk = readFileSync(makefile, "utf8");
    assert.equal(mk, expectedMakefile(mk, pkg), `${makefile} is stale`);
    for (const script of PACKAGE_SCRIPTS) {
      // What make expands the define to ($$ -> $) is the control file, byte for byte.
      const m = new RegExp(`^define Package/${pkg}/${script}\n([\\s\\S]*?)\nendef$`, "m").exec(mk);
      assert.ok(m, `${makefile}: no define Package/${pkg}/${script}`);
      const control = readFileSync(controlScriptPath(pkg, script), "utf8");
      assert.equal(m[1]!.replace(/\$\$/g, "$") + "\n", control, `${pkg} ${script}`);
      assert.doesNotMatch(
        m[1]!.replace(/\$\$/g, ""),
        /\$/,
        "an unescaped $ would be expanded by make",
      );
      // build-ipk.mjs packs the same file into the ipk.
      assert.ok(buildIpk.includes(`control/${script}"`), `build-ipk.mjs packs control/${script}`);
    }
  }
});
