/**
 * Shutdown is idempotent (root, network namespaces): a second SIGTERM while the CPE cleans up
 * (Ctrl-C twice, `timeout`) does not kill it halfway; the status socket and the temporary state
 * file go, the state is saved (the final RA deprecated the prefix, RFC 4861 §6.2.5), exit 0. A
 * third forces the exit, still without leaving the socket or a temporary file. The relay too.
 *
 *   lan -- cpe (WAN 192.0.2.1, 6to4-pmt cpe, builtin RAs) == isp == relay (6to4-pmt relay)
 */
import assert from "node:assert/strict";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import { basename, dirname } from "node:path";
import { after, afterEach, test } from "node:test";
import {
  buildControlLab,
  removeControlLabFiles,
  startCpe,
  startRelay,
  waitCpeUp,
  waitLoops,
  type ControlLab,
} from "../support/control-lab.js";
import { NetnsRegistry, netnsSkipReason, type NsProcess } from "../support/netns.js";

const skip = netnsSkipReason();
let reg: NetnsRegistry | undefined;
let lab: ControlLab | undefined;

afterEach(async () => {
  await reg?.cleanup();
  removeControlLabFiles(lab);
  reg = undefined;
  lab = undefined;
});
after(async () => {
  await reg?.cleanup();
  removeControlLabFiles(lab);
});

/** Sends `signal` `times` times: the first, then the others as soon as the daemon logged it. */
async function signalRepeatedly(r: NetnsRegistry, p: NsProcess, times: number): Promise<number> {
  r.kill(p, "SIGTERM");
  await r.waitFor(() => /SIGTERM received/.test(p.stderr()), 5000, 1);
  for (let i = 1; i < times; i++) r.kill(p, "SIGTERM");
  const timer = new Promise<"timeout">((res) => setTimeout(() => res("timeout"), 15_000).unref());
  const code = await Promise.race([p.exited, timer]);
  assert.notEqual(code, "timeout", p.stderr());
  return code as number;
}

function tempFiles(stateFile: string): string[] {
  return readdirSync(dirname(stateFile)).filter((f) => f.startsWith(`${basename(stateFile)}.tmp`));
}

async function startedCpe(): Promise<{ l: ControlLab; p: NsProcess }> {
  reg = new NetnsRegistry();
  lab = buildControlLab(reg, { staticWan: true });
  const p = startCpe(lab, ["--health-interval", "3600"]);
  assert.ok(await waitCpeUp(lab, p), p.stderr());
  assert.ok(await waitLoops(lab, p), p.stderr());
  assert.ok(existsSync(lab.statusSocket));
  return { l: lab, p };
}

test(
  "cpe: two SIGTERMs back-to-back: clean stop, socket and temp file gone, state saved, exit 0",
  { skip, timeout: 60_000 },
  async () => {
    const { l, p } = await startedCpe();
    const code = await signalRepeatedly(reg!, p, 2);
    assert.equal(code, 0, p.stderr());
    assert.match(p.stderr(), /received again: already stopping/);
    assert.match(p.stderr(), /control plane stopped/);
    assert.equal(existsSync(l.statusSocket), false, "status socket removed");
    assert.deepEqual(tempFiles(l.stateFile), [], "no temporary state file");
    const saved = JSON.parse(readFileSync(l.stateFile, "utf8")) as {
      prefixes: { records: { prefix: string; deprecatedAtMs?: number }[] };
    };
    const rec = saved.prefixes.records.find((r) => r.prefix.startsWith("2002:c000:201:"));
    assert.ok(
      rec?.deprecatedAtMs !== undefined,
      `state saved after the final RA: ${JSON.stringify(saved)}`,
    );
    assert.doesNotMatch(reg!.exec(l.cpe, ["ip", "-o", "link", "show"]).stdout, /6to4pmt0/);
  },
);

test(
  "cpe: a third SIGTERM forces the exit without leaving the socket or a temp file",
  { skip, timeout: 60_000 },
  async () => {
    const { l, p } = await startedCpe();
    const code = await signalRepeatedly(reg!, p, 3);
    // Forced (1), or the cleanup won the race (0): either way nothing is left.
    assert.ok(code === 0 || code === 1, `exit ${code}\n${p.stderr()}`);
    assert.equal(existsSync(l.statusSocket), false, "status socket removed");
    assert.deepEqual(tempFiles(l.stateFile), [], "no temporary state file");
    assert.doesNotThrow(() => JSON.parse(readFileSync(l.stateFile, "utf8")), "state file intact");
  },
);

test(
  "relay: two SIGTERMs back-to-back: TUN and routes removed, exit 0",
  { skip, timeout: 60_000 },
  async () => {
    reg = new NetnsRegistry();
    lab = buildControlLab(reg, { staticWan: true });
    const p = startRelay(lab);
    assert.ok(await waitLoops(lab, p), p.stderr());
    const code = await signalRepeatedly(reg, p, 2);
    assert.equal(code, 0, p.stderr());
    assert.match(p.stderr(), /relay stopped \(exit 0\)/);
    assert.doesNotMatch(reg.exec(lab.relay, ["ip", "-6", "route", "show"]).stdout, /6to4pmt-r0/);
  },
);
