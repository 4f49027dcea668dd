// Safe files: the state file's temporary file never follows a planted symlink, stateFileProblem
// refuses what the daemon must not overwrite, trustedExecutable refuses a hook others can change,
// and the status server never removes a file that is not a socket.
import assert from "node:assert/strict";
import {
  chmodSync,
  chownSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { trustDaemonUser, trustedExecutable } from "../../../module/control/safe-path.js";
import {
  readStateFile,
  stateFileProblem,
  writeStateFileAtomic,
} from "../../../module/control/state-file.js";
import { startStatusServer } from "../../../module/status/server.js";

const isRoot = typeof process.getuid === "function" && process.getuid() === 0;
const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-safefiles-"));
after(() => rmSync(dir, { recursive: true, force: true }));

test("the temporary state file never follows a symlink planted at a predictable name", () => {
  const state = join(dir, "plant.state.json");
  const victim = join(dir, "victim");
  writeFileSync(victim, "precious\n");
  // The name the temporary file had when it was `<state>.tmp-<pid>`.
  symlinkSync(victim, `${state}.tmp-${process.pid}`);
  writeStateFileAtomic(state, { prefixes: [] });
  assert.equal(readFileSync(victim, "utf8"), "precious\n");
  assert.deepEqual(readStateFile(state), { prefixes: [] });
});

test("readStateFile refuses a symlink", () => {
  const target = join(dir, "json-target");
  writeFileSync(target, "{}");
  const link = join(dir, "read-link.json");
  symlinkSync(target, link);
  assert.throws(() => readStateFile(link), /symlink/);
});

test("stateFileProblem: new, own JSON and empty files pass; symlinks, non-JSON, directories fail", () => {
  assert.equal(stateFileProblem(join(dir, "new", "sub", "state.json")), undefined);
  const ok = join(dir, "ok.json");
  writeStateFileAtomic(ok, { prefixes: [] });
  assert.equal(stateFileProblem(ok), undefined);
  const empty = join(dir, "empty.json");
  writeFileSync(empty, "");
  assert.equal(stateFileProblem(empty), undefined);
  const text = join(dir, "text");
  writeFileSync(text, "root:x:0:0\n");
  assert.match(stateFileProblem(text) ?? "", /not a 6to4-pmt state file/);
  const link = join(dir, "state-link.json");
  symlinkSync(ok, link);
  assert.equal(stateFileProblem(link), "is a symlink");
  mkdirSync(join(dir, "adir"));
  assert.equal(stateFileProblem(join(dir, "adir")), "exists and is not a regular file");
});

test("stateFileProblem: a group-writable directory fails, a sticky world-writable one passes", () => {
  const grp = join(dir, "grp");
  mkdirSync(grp);
  chmodSync(grp, 0o775);
  assert.match(
    stateFileProblem(join(grp, "s.json")) ?? "",
    /grp is writable by group or others \(mode 0775\)/,
  );
  const sticky = join(dir, "sticky");
  mkdirSync(sticky);
  chmodSync(sticky, 0o1777);
  assert.equal(stateFileProblem(join(sticky, "s.json")), undefined);
});

test(
  "stateFileProblem: a state file owned by another user fails",
  { skip: !isRoot && "needs root (chown)" },
  () => {
    const f = join(dir, "foreign.json");
    writeFileSync(f, "{}");
    chownSync(f, 65534, 65534);
    assert.equal(stateFileProblem(f), "is owned by uid 65534, not root");
  },
);

test(
  "trustedExecutable: a private root-owned hook passes (resolved); others fail with the reason",
  { skip: !isRoot && "needs root (ownership)" },
  () => {
    const bin = join(dir, "bin");
    mkdirSync(bin, { mode: 0o755 });
    const hook = join(bin, "hook");
    writeFileSync(hook, "#!/bin/sh\n");
    chmodSync(hook, 0o755);
    const link = join(dir, "hook-link");
    symlinkSync(hook, link);
    assert.deepEqual(trustedExecutable(link), { path: hook });
    assert.deepEqual(trustedExecutable("relative/hook"), { error: "is not an absolute path" });
    chmodSync(hook, 0o775);
    assert.deepEqual(trustedExecutable(hook), {
      error: `(${hook}) is writable by group or others (mode 0775)`,
    });
    chmodSync(hook, 0o644);
    assert.deepEqual(trustedExecutable(hook), { error: `(${hook}) is not executable` });
    chmodSync(hook, 0o755);
    chownSync(hook, 65534, 65534);
    assert.deepEqual(trustedExecutable(hook), {
      error: `(${hook}) is owned by uid 65534, not root`,
    });
    chownSync(hook, 0, 0);
    chmodSync(bin, 0o777);
    assert.deepEqual(trustedExecutable(hook), {
      error: `is in a directory others can change: ${bin} is writable by group or others (mode 0777)`,
    });
    chmodSync(bin, 0o755);
    chownSync(bin, 65534, 65534);
    assert.deepEqual(trustedExecutable(hook), {
      error: `is in a directory others can change: ${bin} is owned by uid 65534, not root`,
    });
  },
);

test("the status server refuses a path that is a regular file and leaves it", async () => {
  const f = join(dir, "not-a-socket");
  writeFileSync(f, "data\n");
  await assert.rejects(
    startStatusServer(f, { snapshot: () => ({}) as never }),
    /not-a-socket exists and is not a socket/,
  );
  assert.equal(readFileSync(f, "utf8"), "data\n");
});

test("the status server refuses while another answers and listens again after close", async () => {
  const p = join(dir, "st.sock");
  const first = await startStatusServer(p, { snapshot: () => ({}) as never });
  // A second server while the first answers: refused.
  await assert.rejects(startStatusServer(p, { snapshot: () => ({}) as never }), /another daemon/);
  await first.close();
  const second = await startStatusServer(p, { snapshot: () => ({}) as never });
  await second.close();
});

test(
  "stateFileProblem: a directory the daemon's user owns passes once that user is trusted",
  { skip: isRoot ? false : "needs root (chown)" },
  () => {
    const own = join(dir, "owned-by-user");
    mkdirSync(own, { mode: 0o750 });
    chownSync(own, 65534, 65534);
    assert.match(stateFileProblem(join(own, "s.json")) ?? "", /owned by uid 65534/);
    trustDaemonUser(65534);
    assert.equal(stateFileProblem(join(own, "s.json")), undefined);
  },
);
