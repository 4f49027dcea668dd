// After stop(), the control plane leaves nothing behind (as wireguard-go's
// goroutineLeakCheck): no timers or handles, no file descriptors, no child processes, no socket
// file. Real clock, real `ip monitor` child, real status socket and lease-file watcher; the ND
// socket and the echo prober are fakes (no network traffic). Read-only towards the host: `ip`
// only queries and monitors a device that does not exist.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCpeConfig } from "../../../module/config/parse.js";
import { startCpeControl } from "../../../module/control/cpe-control.js";
import { silentLogger } from "../../../module/log/logger.js";
import type { Icmpv6RxRing, IcmpV6Socket, IoError, PortStats } from "../../../module/io/ports.js";
import { queryStatusSocket } from "../../../module/status/server.js";

const skip = existsSync("/proc/self/fd") ? undefined : "needs /proc (Linux)";

function fdCount(): number {
  return readdirSync("/proc/self/fd").length;
}

/** PIDs whose parent is this process. */
function children(): number[] {
  const out: number[] = [];
  for (const d of readdirSync("/proc")) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const stat = readFileSync(`/proc/${d}/stat`, "utf8");
      const ppid = Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]);
      if (ppid === process.pid) out.push(Number(d));
    } catch {
      // Exited meanwhile.
    }
  }
  return out;
}

function resources(): string[] {
  return process
    .getActiveResourcesInfo()
    .filter((r) => r !== "TTYWrap" && r !== "FSReqCallback")
    .sort();
}

/** Polls `predicate` every 20 ms until true or 15 s passed; returns its last value. */
async function until(predicate: () => boolean): Promise<boolean> {
  for (const end = Date.now() + 15_000; !predicate() && Date.now() < end;) {
    await new Promise((r) => setTimeout(r, 20));
  }
  return predicate();
}

class QuietNdSocket implements IcmpV6Socket {
  readonly device = "pmt-nodev0";
  readonly ifindex = 0;
  closed = false;
  onBatch(_ring: Icmpv6RxRing, _h: (ring: Icmpv6RxRing, count: number) => void): void {}
  onError(_h: (err: IoError) => void): void {}
  stats(): PortStats {
    return {} as PortStats;
  }
  close(): void {
    this.closed = true;
  }
  send(): boolean {
    return true;
  }
}

test("stop() leaves no timers, handles, fds, children or socket file", { skip }, async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-leak-"));
  try {
    const cfg = parseCpeConfig({
      enabled: ["1"],
      "wan-device": ["pmt-nodev0"],
      "lan-device": ["pmt-nodev1"],
      "state-file": [join(dir, "state.json")],
      "status-socket": [join(dir, "status.sock")],
      "health-interval": ["1"],
    });
    // Settle anything the test runner itself has pending, then take the baseline.
    await new Promise((r) => setTimeout(r, 50));
    const baseRes = resources();
    const baseFds = fdCount();
    const baseKids = children();
    const nd = new QuietNdSocket();
    const ctl = await startCpeControl({
      config: cfg,
      log: silentLogger,
      version: "test",
      daemon: null,
      openNdSocket: () => nd,
      prober: { probe: () => Promise.resolve(null), close: () => undefined },
      useUbus: false,
      dhcpLeaseFile: join(dir, "lease"),
    });
    // It is really running: a monitor child (bounded wait for its start), a status socket, timers.
    assert.ok(await until(() => children().length > baseKids.length), "ip monitor child running");
    assert.equal(
      ((await queryStatusSocket(cfg.statusSocket)) as { state: string }).state,
      "no-wan",
    );
    await ctl.stop();
    await ctl.stop(); // twice is fine
    // Child exit and handle close are asynchronous: until all is back to the baseline (bounded).
    await until(
      () =>
        children().length === baseKids.length &&
        fdCount() === baseFds &&
        resources().join() === baseRes.join(),
    );
    assert.deepEqual(children(), baseKids, "no child processes left");
    assert.equal(fdCount(), baseFds, "no file descriptors left");
    assert.deepEqual(resources(), baseRes, "no timers/handles left");
    assert.equal(nd.closed, true);
    assert.equal(existsSync(cfg.statusSocket), false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
