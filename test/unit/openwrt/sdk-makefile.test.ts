// openwrt-package/6to4-pmt/Makefile under GNU make with a STAND-IN SDK tree (empty rules.mk, a
// package.mk defining BuildPackage as nothing; not OpenWrt's code) and the packages feed's node
// Makefile reduced to the line that matters: where node is built for the host only (OpenWrt
// 25.12 and later) the package stops with a one-line reason; with a target node it parses.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";

const PKG = resolve("openwrt-package/6to4-pmt");
const root = mkdtempSync(join(tmpdir(), "6to4-pmt-sdk-"));
after(() => rmSync(root, { recursive: true, force: true }));

function sdk(nodeMakefile: string | null): { status: number | null; out: string } {
  const top = mkdtempSync(join(root, "sdk-"));
  mkdirSync(join(top, "include"));
  writeFileSync(join(top, "rules.mk"), "");
  writeFileSync(join(top, "include/package.mk"), "BuildPackage =\npmt-parsed:\n\t@echo parsed\n");
  if (nodeMakefile !== null) {
    mkdirSync(join(top, "feeds/packages/lang/node"), { recursive: true });
    writeFileSync(join(top, "feeds/packages/lang/node/Makefile"), nodeMakefile);
  }
  const r = spawnSync(
    "make",
    ["-s", "-C", PKG, `TOPDIR=${top}`, `INCLUDE_DIR=${top}/include`, "pmt-parsed"],
    { encoding: "utf8", timeout: 20_000 },
  );
  return { status: r.status, out: r.stdout + r.stderr };
}

test("SDK with a target node (23.05, 24.10): the Makefile parses", () => {
  const r = sdk("$(eval $(call HostBuild))\n$(eval $(call BuildPackage,node))\n");
  assert.equal(r.status, 0, r.out);
  assert.equal(r.out.trim(), "parsed");
});

test("SDK whose node is host-only (25.12+): stops with one line naming the reason", () => {
  const r = sdk("$(eval $(call HostBuild))\n");
  assert.notEqual(r.status, 0);
  const lines = r.out.trim().split("\n");
  assert.equal(lines.length, 1, r.out);
  assert.match(lines[0]!, /6to4-pmt: this SDK's node is host-only \(OpenWrt 25\.12 and later\)/);
});

test("SDK without the node package: stops naming the feeds command", () => {
  const r = sdk(null);
  assert.notEqual(r.status, 0);
  assert.match(r.out, /no node package in this SDK: \.\/scripts\/feeds/);
});
