/**
 * `6to4-pmt status` answers whether IPv6 works, with an exit code a monitor can use (root,
 * network namespaces, a real CPE): with no relay answering, the daemon is `running` but the health
 * probe fails and the LAN gets router lifetime 0, so status says "IPv6 down" and exits 7 (it used
 * to say `state: running` and exit 0); with the relay up it says "IPv6 works" and exits 0. `--json`
 * prints JSON in every case, also with no daemon (error field, exit 5).
 *
 *   lan -- cpe (WAN 192.0.2.1) == isp == relay (started later)
 */
import assert from "node:assert/strict";
import { join } from "node:path";
import { after, test } from "node:test";
import {
  buildControlLab,
  removeControlLabFiles,
  startCpe,
  startRelay,
  waitCpeUp,
  waitLoops,
  type ControlLab,
} from "../support/control-lab.js";
import { NetnsRegistry, netnsSkipReason, type ExecResult } from "../support/netns.js";

const reg = new NetnsRegistry();
let lab: ControlLab | undefined;
after(async () => {
  await reg.cleanup();
  removeControlLabFiles(lab);
});

const MAIN = join(__dirname, "../../module/cli/main.js");

function status(l: ControlLab, extra: string[] = []): Promise<ExecResult> {
  return reg.execAsync(
    l.cpe,
    [process.execPath, MAIN, "status", "--status-socket", l.statusSocket, ...extra],
    10_000,
  );
}

/** Runs `status` until its exit code is `code` (bounded); returns the last result. */
async function statusUntil(l: ControlLab, code: number, extra: string[] = []): Promise<ExecResult> {
  const deadline = Date.now() + 30_000;
  let r = await status(l, extra);
  while (r.code !== code && Date.now() < deadline) {
    await new Promise((res) => setTimeout(res, 250));
    r = await status(l, extra);
  }
  return r;
}

test(
  "status: IPv6 down (exit 7) while the tunnel does not answer, works (exit 0) once it does; --json always JSON",
  { skip: netnsSkipReason(), timeout: 120_000 },
  async () => {
    lab = buildControlLab(reg, { staticWan: true });
    const cpe = startCpe(lab, ["--health-interval", "1", "--health-failures", "2"]);
    assert.ok(await waitCpeUp(lab, cpe), cpe.stderr());

    let r = await statusUntil(lab, 7);
    assert.equal(r.code, 7, r.stdout + r.stderr);
    const first = r.stdout.split("\n")[0]!;
    assert.match(
      first,
      /^IPv6 down: the tunnel does not answer: 0 of \d+ health probes to 2002:c058:6301:: answered/,
    );
    assert.match(r.stdout, /^state:\s+running$/m, "the daemon itself runs");
    r = await status(lab, ["--json"]);
    assert.equal(r.code, 7);
    const down = JSON.parse(r.stdout) as {
      state: string;
      ipv6: { level: string };
      exitCode: number;
    };
    assert.equal(down.state, "running");
    assert.equal(down.ipv6.level, "down");
    assert.equal(down.exitCode, 7);

    const relay = startRelay(lab);
    assert.ok(await waitLoops(lab, relay), relay.stderr());
    r = await statusUntil(lab, 0);
    assert.equal(r.code, 0, r.stdout + r.stderr);
    assert.match(
      r.stdout.split("\n")[0]!,
      /^IPv6 works: 2002:c000:201::\/64 via relay 192\.88\.99\.1, \d+ of \d+ health probes/,
    );

    assert.equal(await reg.stop(cpe, 10_000), 0, cpe.stderr());
    r = await status(lab, ["--json"]);
    assert.equal(r.code, 5);
    const none = JSON.parse(r.stdout) as { error: string; exitCode: number };
    assert.match(none.error, /^no daemon running \(status socket .*: ENOENT\)$/);
    assert.equal(none.exitCode, 5);
  },
);
