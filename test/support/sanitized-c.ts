/**
 * Builds the C test programs of test/native/ with AddressSanitizer and UndefinedBehaviorSanitizer
 * (the offload table and the fuzz harness), into a temporary folder removed after the test file.
 */
import { after } from "node:test";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

/** Why a test that needs gcc skips, or false when gcc is there. */
export const GCC_SKIP: string | false =
  spawnSync("gcc", ["--version"]).status === 0 ? false : "gcc missing (apt-get install gcc)";

/**
 * The environment a sanitized program runs in. The programs under test allocate nothing they do
 * not free at once; LeakSanitizer (which needs ptrace, not allowed in every container) would add
 * no assurance.
 */
export const SANITIZER_ENV: NodeJS.ProcessEnv = {
  ...process.env,
  ASAN_OPTIONS: "detect_leaks=0:abort_on_error=0",
  UBSAN_OPTIONS: "print_stacktrace=1",
};

/** A compiled program's path, or gcc's complaint. */
export type SanitizedBuild = { exe: string } | { error: string };

/**
 * A temporary folder for one test file's programs (prefix names it in /tmp), removed when the
 * file's tests end.
 */
export function sanitizedBuildDir(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  after(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/**
 * Compiles `sources` (paths from the repository root) into `exe` with -O1 -g, gnu11, warnings as
 * errors and the sanitizers; `flags` adds to them (e.g. -DNAME).
 */
export function compileSanitized(
  exe: string,
  sources: readonly string[],
  flags: readonly string[] = [],
): SanitizedBuild {
  const cc = spawnSync(
    "gcc",
    [
      "-O1",
      "-g",
      "-std=gnu11",
      "-Wall",
      "-Wextra",
      "-Werror",
      "-fsanitize=address,undefined",
      "-fno-sanitize-recover=all", // a report ends the program with a non-zero status
      "-fno-omit-frame-pointer",
      ...flags,
      "-o",
      exe,
      ...sources,
    ],
    { encoding: "utf8" },
  );
  return cc.status === 0 ? { exe } : { error: `gcc failed:\n${cc.stderr}` };
}
