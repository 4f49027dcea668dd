// control/kernel-guard.ts: which `ip -o monitor address route link` lines are removals of the
// control plane's own state, and how the guard turns them into restores (debounced, retried a
// bounded number of times with a growing delay).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  classifyMonitorLine,
  KernelGuard,
  type LossKind,
} from "../../../module/control/kernel-guard.js";
import type { CommandRunner } from "../../../module/control/wan-watcher.js";
import { FakeClock } from "../../support/fake-clock.js";

const DEVS = ["pmt0", "lan0"];

test("classify: deleted addresses and routes on the watched devices, a watched link without UP", () => {
  const cases: Array<[string, ReturnType<typeof classifyMonitorLine>]> = [
    [
      "Deleted 7: pmt0    inet6 2002:c000:201::1/128 scope global \\       valid_lft forever",
      { kind: "address", device: "pmt0" },
    ],
    [
      "Deleted 3: lan0    inet6 2002:c000:201::1/64 scope global nodad",
      { kind: "address", device: "lan0" },
    ],
    ["Deleted default dev pmt0 metric 1024 pref medium", { kind: "route", device: "pmt0" }],
    ["Deleted 2002::/16 dev pmt0 metric 1024 pref medium", { kind: "route", device: "pmt0" }],
    [
      "7: pmt0: <POINTOPOINT,MULTICAST,NOARP> mtu 1480 qdisc fq_codel state DOWN",
      { kind: "link", device: "pmt0" },
    ],
    ["[LINK]7: pmt0: <POINTOPOINT,NOARP> mtu 1480 state DOWN", { kind: "link", device: "pmt0" }],
    // Not removals, or not ours.
    ["7: pmt0: <POINTOPOINT,MULTICAST,NOARP,UP,LOWER_UP> mtu 1480 state UNKNOWN", null],
    ["7: pmt0    inet6 2002:c000:201::1/128 scope global", null],
    ["default dev pmt0 metric 1024 pref medium", null],
    ["Deleted 4: wan0    inet 192.0.2.1/24 scope global wan0", null],
    ["Deleted default via 192.0.2.254 dev wan0 proto static", null],
    ["Deleted 7: pmt0: <POINTOPOINT,NOARP> mtu 1480", null],
    ["Deleted 7: pmt0    inet6 fe80::1/64 scope link", { kind: "address", device: "pmt0" }],
    ["8: pmt00: <POINTOPOINT> mtu 1480", null],
    ["garbage", null],
  ];
  for (const [line, want] of cases) assert.deepEqual(classifyMonitorLine(line, DEVS), want, line);
});

class Runner implements CommandRunner {
  line: ((l: string) => void) | null = null;
  run() {
    return Promise.resolve({ code: 0, stdout: "" });
  }
  spawnLines(_argv: readonly string[], onLine: (l: string) => void, onExit: (c: number) => void) {
    this.line = onLine;
    return { kill: () => onExit(143) };
  }
}

const flush = async (): Promise<void> => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

test("a burst of removals is one restore after the debounce; a failing restore is retried, bounded", async () => {
  const clock = new FakeClock();
  const runner = new Runner();
  const calls: Array<LossKind[]> = [];
  let failing = true;
  const logs: string[] = [];
  const g = new KernelGuard({
    devices: DEVS,
    runner,
    clock,
    log: (_l, m) => logs.push(m),
    restore: (kinds) => {
      calls.push([...kinds].sort());
      return Promise.resolve(failing ? ["route ::/0 dev pmt0: Nexthop device is not up"] : []);
    },
  });
  g.start();
  runner.line!("7: pmt0: <POINTOPOINT,NOARP> mtu 1480 state DOWN");
  runner.line!("Deleted 7: pmt0    inet6 2002:c000:201::1/128 scope global");
  runner.line!("Deleted default dev pmt0 metric 1024 pref medium");
  clock.advance(199);
  await flush();
  assert.equal(calls.length, 0, "debounced");
  clock.advance(1);
  await flush();
  assert.deepEqual(calls, [["address", "link", "route"]]);
  // Retries: 400, 800, 1600, 3200, 6400 ms, then it gives up until the next removal.
  for (const ms of [400, 800, 1600, 3200, 6400]) {
    clock.advance(ms - 1);
    await flush();
    const n: number = calls.length;
    clock.advance(1);
    await flush();
    assert.equal(calls.length, n + 1, `retry after ${ms} ms`);
  }
  clock.advance(60_000);
  await flush();
  assert.equal(calls.length, 6);
  assert.match(logs.at(-1)!, /not restored after 5 retries: route ::\/0/);

  failing = false;
  runner.line!("Deleted 2002::/16 dev pmt0 metric 1024 pref medium");
  runner.line!("Deleted default via 192.0.2.254 dev wan0"); // not ours
  clock.advance(200);
  await flush();
  assert.deepEqual(calls.at(-1), ["route"]);
  clock.advance(60_000);
  await flush();
  assert.equal(calls.length, 7, "nothing left to retry");
  g.stop();
  runner.line!("Deleted default dev pmt0 metric 1024 pref medium");
  clock.advance(60_000);
  await flush();
  assert.equal(calls.length, 7, "stopped: no restore");
});
