// ra 'netifd' (the OpenWrt default): the CPE control plane hands the LAN prefix to netifd through
// option netifd_hook (`update <tun> <prefix/len> <preferred> <valid> <mtu>`, RFC 9096 §3.4
// lifetimes) so odhcpd advertises it, withdraws it while the tunnel is down (RFC 7084 L-4) and on
// stop, and runs nothing otherwise. Fakes for commands, clock and prober.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseCpeConfig } from "../../../module/config/parse.js";
import { startCpeControl } from "../../../module/control/cpe-control.js";
import type { CommandRunner } from "../../../module/control/wan-watcher.js";
import { FakeClock } from "../../support/fake-clock.js";

const HOOK = "/usr/lib/6to4-pmt/netifd-prefix";

class Runner implements CommandRunner {
  log: string[] = [];
  run(argv: readonly string[]) {
    this.log.push(argv.join(" "));
    if (argv.join(" ").startsWith("ip -j addr show dev wan0")) {
      const addr = [{ family: "inet", local: "192.0.2.1", prefixlen: 24, scope: "global" }];
      return Promise.resolve({
        code: 0,
        stdout: JSON.stringify([{ ifname: "wan0", mtu: 1500, addr_info: addr }]),
      });
    }
    return Promise.resolve({ code: 0, stdout: "" });
  }
  spawnLines(_argv: readonly string[], _onLine: (l: string) => void, onExit: (c: number) => void) {
    return { kill: () => onExit(143) };
  }
  hooks(): string[] {
    return this.log.filter((l) => l.startsWith(HOOK)).map((l) => l.slice(HOOK.length + 1));
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

async function setup(ra: string) {
  const dir = mkdtempSync(join(tmpdir(), "pmt-netifd-"));
  const cfg = parseCpeConfig({
    enabled: ["1"],
    ra: [ra],
    "wan-device": ["wan0"],
    "lan-device": ["lan0"],
    "netifd-hook": [HOOK],
    "state-file": [join(dir, "state.json")],
    "status-socket": [join(dir, "status.sock")],
  });
  const clock = new FakeClock();
  const runner = new Runner();
  const prober = {
    ok: true,
    probe: () => Promise.resolve(prober.ok ? 1 : null),
    close: () => undefined,
  };
  const ctl = await startCpeControl({
    config: cfg,
    log: {
      error: () => undefined,
      warn: () => undefined,
      info: () => undefined,
      debug: () => undefined,
    },
    version: "0.1.0",
    daemon: { setForwardingState: () => undefined, counters: () => ({ traffic: {}, drops: {} }) },
    tunName: "6to4pmt0",
    clock,
    random: () => 0.5,
    runner,
    openNdSocket: () => {
      throw new Error("no ND socket with ra netifd");
    },
    prober,
    useUbus: false,
    statusSocket: false,
    dhcpLeaseFile: join(dir, "lease"),
  } as unknown as Parameters<typeof startCpeControl>[0]);
  return {
    dir,
    clock,
    runner,
    prober,
    ctl,
    done: () => rmSync(dir, { recursive: true, force: true }),
  };
}

test("publishes the LAN /64 with capped lifetimes, withdraws on health down and on stop", async () => {
  const t = await setup("netifd");
  try {
    t.clock.advance(0);
    await flush();
    // Plain 6to4: 2002:V4ADDR:SLA::/64 of 192.0.2.1 with SLA 0 (RFC 3056 §2).
    assert.deepEqual(t.runner.hooks(), ["update 6to4pmt0 2002:c000:201::/64 2700 5400 1480"]);

    t.prober.ok = false;
    for (let i = 0; i < 10; i++) {
      t.clock.advance(5000);
      await flush();
    }
    assert.equal(t.runner.hooks().at(-1), "withdraw 6to4pmt0", t.runner.hooks().join("\n"));

    t.prober.ok = true;
    for (let i = 0; i < 3; i++) {
      t.clock.advance(5000);
      await flush();
    }
    assert.equal(t.runner.hooks().at(-1), "update 6to4pmt0 2002:c000:201::/64 2700 5400 1480");
    const before = t.runner.hooks().length;
    t.clock.advance(5000);
    await flush();
    assert.equal(t.runner.hooks().length, before, "no repeats without a change");

    await t.ctl.stop();
    assert.equal(t.runner.hooks().at(-1), "withdraw 6to4pmt0");
  } finally {
    await t.ctl.stop();
    t.done();
  }
});

test("ra off (and builtin): the netifd hook is never run", async () => {
  const t = await setup("off");
  try {
    t.clock.advance(0);
    await flush();
    await t.ctl.stop();
    assert.deepEqual(t.runner.hooks(), []);
  } finally {
    t.done();
  }
});
