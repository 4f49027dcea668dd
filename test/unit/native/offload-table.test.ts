/**
 * Table tests of the addon's offload arithmetic (test/native/offload-table.c linked with
 * module/native/offload.c, which has no N-API): checksums (RFC 1071, RFC 1624 incremental
 * update, the IPv6 pseudo-header of RFC 8200 §8.1, UDP's 0xffff of RFC 768), GRO grouping of
 * given packet lists into expected units, GSO cutting of a given super-packet into exact segments
 * (lengths, sequence numbers, flags, IPv4 IDs and DF, checksums), and the repair of 6in4 packets
 * merged by GRO. Each case of the C table is one subtest here; the program is compiled with
 * AddressSanitizer and UndefinedBehaviorSanitizer. Needs gcc.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  compileSanitized,
  GCC_SKIP as skip,
  SANITIZER_ENV as env,
  sanitizedBuildDir,
} from "../../support/sanitized-c.js";

const SOURCES = [join("test", "native", "offload-table.c"), join("module", "native", "offload.c")];

/** Case name -> its line of output ("ok <name>" or "not ok <name>: why"), from one run. */
let results: Map<string, string> | undefined;
let names: string[] = [];

if (!skip) {
  const cc = compileSanitized(
    join(sanitizedBuildDir("6to4-pmt-offload-"), "offload-table"),
    SOURCES,
  );
  if ("error" in cc) {
    test("offload table: compiles", () => assert.fail(cc.error));
  } else {
    const exe = cc.exe;
    const list = spawnSync(exe, ["--list"], { encoding: "utf8", env, timeout: 30_000 });
    names = list.stdout.split("\n").filter((l) => l !== "");
    const run = spawnSync(exe, [], { encoding: "utf8", env, timeout: 60_000 });
    const lines = run.stdout.split("\n");
    results = new Map();
    for (const name of names) {
      const line = lines.find((l) => l === `ok ${name}` || l.startsWith(`not ok ${name}: `));
      if (line !== undefined) results.set(name, line);
    }
    test("offload table: every case ran, and the program says so in its status", () => {
      assert.ok(names.length >= 20, `only ${names.length} cases listed`);
      assert.equal(results?.size, names.length, `ran:\n${run.stdout}\n${run.stderr}`);
      const failed = [...(results?.values() ?? [])].some((l) => l.startsWith("not ok"));
      assert.equal(run.status, failed ? 1 : 0, run.stderr);
    });
  }
}

for (const name of skip ? ["offload table"] : names) {
  test(name, { skip }, () => {
    const line = results?.get(name);
    assert.ok(line !== undefined, `case did not run`);
    assert.equal(line, `ok ${name}`);
  });
}
