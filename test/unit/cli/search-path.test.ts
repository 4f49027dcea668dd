// procd's ujail starts a jailed instance with only its `env` parameters: no PATH. The CLI then
// sets the router's search path so that `ip` (ip-full: /sbin/ip, /usr/sbin/ip) is found; libuv's
// and the C library's built-in defaults (/usr/bin:/bin and similar) do not hold it.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { resolve } from "node:path";
import { DEFAULT_SEARCH_PATH, ensureSearchPath } from "../../../module/cli/main.js";

test("no or empty PATH: the router's search path, with the sbin directories", () => {
  for (const env of [{}, { PATH: "" }] as NodeJS.ProcessEnv[]) {
    ensureSearchPath(env);
    assert.equal(env.PATH, DEFAULT_SEARCH_PATH);
  }
  assert.deepEqual(DEFAULT_SEARCH_PATH.split(":").sort(), [
    "/bin",
    "/sbin",
    "/usr/bin",
    "/usr/sbin",
  ]);
});

test("a given PATH is kept", () => {
  const env: NodeJS.ProcessEnv = { PATH: "/opt/x/bin" };
  ensureSearchPath(env);
  assert.equal(env.PATH, "/opt/x/bin");
});

test("the CLI started without PATH runs its children with the default search path", () => {
  // main() sets it before any subcommand; a child started afterwards sees it.
  const script =
    `const m = require(${JSON.stringify(resolve("out/module/cli/main.js"))});` +
    `m.main(["--version"], { out() {}, err() {} }).then(() => {` +
    `process.stdout.write(require("node:child_process").execFileSync("sh", ["-c", "echo $PATH"], { encoding: "utf8" }));` +
    `});`;
  const r = spawnSync(process.execPath, ["-e", script], { encoding: "utf8", env: {} });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(r.stdout.trim(), DEFAULT_SEARCH_PATH);
});
