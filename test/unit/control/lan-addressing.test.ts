// control/lan-addressing.ts: the TUN's router address (/128) and MTU (RFC 4213 §3.2) and the LAN's
// router address (/64) follow the plan, with `ip` commands run in order; busybox `ip` without
// "nodad" is retried without it. Fake command runner, documentation addresses.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv4 } from "../../../module/addr/ipv4.js";
import { parseCpeConfig } from "../../../module/config/parse.js";
import { decide, type Plan } from "../../../module/control/decide.js";
import { LanAddressing } from "../../../module/control/lan-addressing.js";
import type { CommandRunner } from "../../../module/control/wan-watcher.js";
import { silentLogger } from "../../../module/log/logger.js";

class Runner implements CommandRunner {
  readonly log: string[] = [];
  /** Commands containing "nodad" fail (busybox ip). */
  busybox = false;
  run(argv: readonly string[]) {
    this.log.push(argv.join(" "));
    const code = this.busybox && argv.includes("nodad") ? 1 : 0;
    return Promise.resolve({ code, stdout: "" });
  }
  spawnLines(): never {
    throw new Error("not used");
  }
}

function plan(wan: string, wanMtu = 1500): Plan {
  const cfg = parseCpeConfig({ enabled: ["1"] });
  const p = decide(cfg, { ipv4: parseIpv4(wan), mtu: wanMtu, device: "wan0" }, null).plan;
  assert.ok(p);
  return p;
}

function setup(tunMtu: number | null, lanDevice: string | null = "lan0") {
  const runner = new Runner();
  const a = new LanAddressing({ tunName: "tun0", tunMtu, lanDevice, runner, log: silentLogger });
  return { runner, a };
}

test("first plan: TUN /128 and LAN /64 router addresses added; same plan again: nothing", async () => {
  const { runner, a } = setup(1480);
  a.apply(plan("192.0.2.1"));
  a.apply(plan("192.0.2.1"));
  await a.settled();
  assert.deepEqual(runner.log, [
    "ip -6 addr replace 2002:c000:201::1/128 dev tun0 nodad",
    "ip -6 addr replace 2002:c000:201::1/64 dev lan0 nodad",
  ]);
});

test("new WAN address: addresses replaced, the old ones deleted after; none: LAN address removed", async () => {
  const { runner, a } = setup(1480);
  a.apply(plan("192.0.2.1"));
  await a.settled();
  runner.log.length = 0;
  a.apply(plan("198.51.100.7"));
  a.apply(null);
  await a.settled();
  assert.deepEqual(runner.log, [
    "ip -6 addr replace 2002:c633:6407::1/128 dev tun0 nodad",
    "ip -6 addr del 2002:c000:201::1/128 dev tun0",
    "ip -6 addr replace 2002:c633:6407::1/64 dev lan0 nodad",
    "ip -6 addr del 2002:c000:201::1/64 dev lan0",
    "ip -6 addr del 2002:c633:6407::1/64 dev lan0",
  ]);
});

test("TUN MTU (RFC 4213 §3.2): set when the plan's differs from the TUN's, also across a gap without a plan", async () => {
  const cases: Array<[string, number | null, number[], string[]]> = [
    ["opened at the plan's MTU", 1480, [1500], []],
    ["opened at 1480, PPPoE WAN learned", 1480, [1492], ["ip link set dev tun0 mtu 1472"]],
    ["unknown at start: the first plan's is taken", null, [1492], []],
    ["WAN MTU changes", null, [1500, 1400], ["ip link set dev tun0 mtu 1380"]],
    ["WAN lost, back with another MTU", 1480, [0, 1400], ["ip link set dev tun0 mtu 1380"]],
  ];
  for (const [name, tunMtu, wanMtus, want] of cases) {
    const { runner, a } = setup(tunMtu, null);
    for (const m of wanMtus) a.apply(m === 0 ? null : plan("192.0.2.1", m));
    await a.settled();
    assert.deepEqual(
      runner.log.filter((l) => l.startsWith("ip link")),
      want,
      name,
    );
  }
});

test("busybox ip without nodad: retried without it", async () => {
  const { runner, a } = setup(1480);
  runner.busybox = true;
  a.apply(plan("192.0.2.1"));
  await a.settled();
  assert.deepEqual(runner.log, [
    "ip -6 addr replace 2002:c000:201::1/128 dev tun0 nodad",
    "ip -6 addr replace 2002:c000:201::1/128 dev tun0",
    "ip -6 addr replace 2002:c000:201::1/64 dev lan0 nodad",
    "ip -6 addr replace 2002:c000:201::1/64 dev lan0",
  ]);
});
