// The docs' OpenWrt steps say what procd does: `uci commit` only writes /etc/config; the init
// script's reload trigger fires on the config.change event that `reload_config` (or LuCI's apply)
// sends. Every `uci commit 6to4-pmt` in a shell block of README.md and docs/openwrt.md is followed
// by `reload_config` or an explicit init-script action before the next command that reads the
// daemon's state, and the init script registers the trigger on its own package.
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { InitStandin } from "../../support/openwrt-standin.js";

for (const file of ["README.md", "docs/openwrt.md"]) {
  test(`${file}: uci commit 6to4-pmt is followed by reload_config`, () => {
    const lines = readFileSync(file, "utf8").split("\n");
    let seen = 0;
    lines.forEach((l, i) => {
      if (!/^uci commit 6to4-pmt\b/.test(l)) return;
      seen++;
      assert.match(
        lines[i + 1] ?? "",
        /^(reload_config|\/etc\/init\.d\/6to4-pmt (reload|restart))\b/,
        `${file}:${i + 1}: '${l}' alone does not restart the daemon`,
      );
    });
    assert.ok(seen > 0, `${file} shows no uci commit`);
  });
}

test("init script: the reload trigger is on the 6to4-pmt package (config.change)", () => {
  const standin = new InitStandin();
  try {
    const r = standin.run("config cpe 'cpe'\n\toption enabled '0'\n", "triggers");
    assert.ok(r.log.includes("reload_trigger 6to4-pmt"), r.log.join("\n"));
  } finally {
    standin.remove();
  }
});
