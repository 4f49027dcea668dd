// lan-addressing.ts and tun-routes.ts `reassert()` (driven by kernel-guard.ts): what the control
// plane keeps in the kernel and is gone is put back; what it withdrew itself is not. A fake `ip`
// that keeps addresses and routes per device.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv4 } from "../../../module/addr/ipv4.js";
import { parseCpeConfig } from "../../../module/config/parse.js";
import { decide, type Plan } from "../../../module/control/decide.js";
import { LanAddressing } from "../../../module/control/lan-addressing.js";
import { TunRoutes } from "../../../module/control/tun-routes.js";
import type { CommandRunner } from "../../../module/control/wan-watcher.js";
import { silentLogger } from "../../../module/log/logger.js";
import { FakeClock } from "../../support/fake-clock.js";

/** A kernel in miniature: `ip -6 addr replace/del/show -j`, `ip -6 route add/del/show`. */
class Kernel implements CommandRunner {
  readonly addrs = new Map<string, Set<string>>();
  readonly routes = new Map<string, Set<string>>();
  readonly log: string[] = [];
  private of(m: Map<string, Set<string>>, dev: string): Set<string> {
    let s = m.get(dev);
    if (!s) m.set(dev, (s = new Set()));
    return s;
  }
  run(argv: readonly string[]) {
    const a = argv.join(" ");
    const ok = (stdout = "") => Promise.resolve({ code: 0, stdout });
    let m: RegExpExecArray | null;
    if ((m = /^ip -6 -j addr show dev (\S+)$/.exec(a))) {
      const info = [...this.of(this.addrs, m[1]!)].map((x) => {
        const [local, len] = x.split("/");
        return { family: "inet6", local, prefixlen: Number(len), scope: "global" };
      });
      return ok(JSON.stringify([{ ifname: m[1], addr_info: info }]));
    }
    this.log.push(a);
    if ((m = /^ip -6 addr replace (\S+) dev (\S+)/.exec(a))) this.of(this.addrs, m[2]!).add(m[1]!);
    else if ((m = /^ip -6 addr del (\S+) dev (\S+)/.exec(a)))
      this.of(this.addrs, m[2]!).delete(m[1]!);
    else if ((m = /^ip -6 route add (\S+) dev (\S+)/.exec(a)))
      this.of(this.routes, m[2]!).add(m[1] === "::/0" ? "default" : m[1]!);
    else if ((m = /^ip -6 route del (\S+) dev (\S+)/.exec(a)))
      this.of(this.routes, m[2]!).delete(m[1] === "::/0" ? "default" : m[1]!);
    else if ((m = /^ip -6 route show dev (\S+)/.exec(a)))
      return ok([...this.of(this.routes, m[1]!)].map((r) => `${r} metric 1024`).join("\n"));
    return ok();
  }
  spawnLines(): never {
    throw new Error("not used");
  }
}

function plan(wan: string): Plan {
  const p = decide(
    parseCpeConfig({ enabled: ["1"] }),
    { ipv4: parseIpv4(wan), mtu: 1500, device: "wan0" },
    null,
  ).plan;
  assert.ok(p);
  return p;
}

test("addresses: flushed ones put back; a LAN address withdrawn by the plan stays away", async () => {
  const k = new Kernel();
  const a = new LanAddressing({
    tunName: "tun0",
    tunMtu: 1480,
    lanDevice: "lan0",
    runner: k,
    log: silentLogger,
  });
  a.apply(plan("192.0.2.1"));
  await a.settled();
  assert.deepEqual(await a.reassert(), { restored: [], missing: [] });
  k.addrs.get("tun0")!.clear();
  k.addrs.get("lan0")!.clear();
  assert.deepEqual(await a.reassert(), {
    restored: ["address 2002:c000:201::1/128 dev tun0", "address 2002:c000:201::1/64 dev lan0"],
    missing: [],
  });
  assert.deepEqual([...k.addrs.get("lan0")!], ["2002:c000:201::1/64"]);

  a.apply(null); // nothing advertised: the LAN address goes on purpose
  await a.settled();
  assert.deepEqual([...k.addrs.get("lan0")!], []);
  const r = await a.reassert();
  assert.deepEqual(r.restored, [], "the plan's own withdrawal is not undone");
  assert.deepEqual([...k.addrs.get("lan0")!], []);
});

test("routes: a deleted route into the TUN is put back while wanted, never after a withdrawal", async () => {
  const k = new Kernel();
  const r = new TunRoutes({
    tunName: "tun0",
    prefixes: ["::/0", "2002::/16"],
    runner: k,
    clock: new FakeClock(),
    log: silentLogger,
  });
  r.want(true);
  await r.settled();
  assert.deepEqual([...k.routes.get("tun0")!], ["default", "2002::/16"]);
  k.routes.get("tun0")!.delete("default");
  assert.deepEqual(await r.reassert(), { restored: ["route ::/0 dev tun0"], missing: [] });
  assert.ok(k.routes.get("tun0")!.has("default"));

  r.want(false); // refused / no-wan: withdrawn on purpose
  await r.settled();
  assert.deepEqual([...k.routes.get("tun0")!], []);
  assert.deepEqual(await r.reassert(), { restored: [], missing: [] });
  assert.deepEqual([...k.routes.get("tun0")!], [], "the withdrawal is not undone");
  await r.stop();
});
