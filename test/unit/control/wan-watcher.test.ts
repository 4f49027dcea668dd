// WAN watcher: learn the WAN IPv4 address and MTU, follow rtnetlink / netifd events, static
// overrides, monitor respawn. Canned command output; no processes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIpv4, parseIpv4 } from "../../../module/addr/ipv4.js";
import {
  monitorLineConcerns,
  parseDefaultRouteDevice,
  parseIpAddrJson,
  parseUbusDeviceMtu,
  parseUbusInterfaceStatus,
  ubusEventConcerns,
  WanWatcher,
  createCommandRunner,
  type CommandRunner,
  type WanInfo,
} from "../../../module/control/wan-watcher.js";
import { FakeClock } from "../../support/fake-clock.js";

const IP_JSON = (addr: string | null, mtu = 1500) =>
  JSON.stringify([
    {
      ifindex: 3,
      ifname: "wan0",
      mtu,
      addr_info: [
        { family: "inet6", local: "fe80::1", prefixlen: 64, scope: "link" },
        ...(addr ? [{ family: "inet", local: addr, prefixlen: 24, scope: "global" }] : []),
        { family: "inet", local: "198.51.100.99", prefixlen: 24, scope: "global", secondary: true },
      ],
    },
  ]);

test("parseIpAddrJson: first primary global inet, MTU; garbage -> nothing", () => {
  const l = parseIpAddrJson(IP_JSON("192.0.2.1", 1492));
  assert.equal(formatIpv4(l.ipv4 ?? 0), "192.0.2.1");
  assert.equal(l.mtu, 1492);
  assert.equal(l.device, "wan0");
  assert.equal(parseIpAddrJson(IP_JSON(null)).ipv4, null);
  assert.deepEqual(parseIpAddrJson("not json"), { ipv4: null, mtu: null, device: null });
  assert.deepEqual(parseIpAddrJson("[]"), { ipv4: null, mtu: null, device: null });
  const host = JSON.stringify([
    {
      ifname: "lo",
      mtu: 65536,
      addr_info: [{ family: "inet", local: "127.0.0.1", scope: "host" }],
    },
  ]);
  assert.equal(parseIpAddrJson(host).ipv4, null);
});

test("monitorLineConcerns matches address and link lines of the device only", () => {
  const dev = "a0";
  assert.ok(monitorLineConcerns("3: a0    inet 192.0.2.9/24 scope global a0\\", dev));
  assert.ok(monitorLineConcerns("Deleted 3: a0    inet 192.0.2.9/24 scope global a0", dev));
  assert.ok(monitorLineConcerns("3: a0@b0: <BROADCAST,UP> mtu 1400 qdisc noqueue", dev));
  assert.ok(monitorLineConcerns("[ADDR]3: a0    inet 192.0.2.9/24", dev));
  assert.ok(!monitorLineConcerns("2: b0@NONE: <BROADCAST,MULTICAST> mtu 1500", dev));
  assert.ok(!monitorLineConcerns("3: a00    inet 192.0.2.9/24", dev));
  assert.ok(!monitorLineConcerns("garbage", dev));
});

test("default route, ubus interface/device status and events", () => {
  assert.equal(
    parseDefaultRouteDevice('[{"dst":"default","gateway":"192.0.2.254","dev":"eth1"}]'),
    "eth1",
  );
  assert.equal(parseDefaultRouteDevice("[]"), null);
  assert.equal(parseDefaultRouteDevice("{"), null);
  const st = parseUbusInterfaceStatus(
    JSON.stringify({
      up: true,
      l3_device: "eth0.2",
      "ipv4-address": [{ address: "100.64.1.2", mask: 10 }],
    }),
  );
  assert.equal(formatIpv4(st.ipv4 ?? 0), "100.64.1.2");
  assert.equal(st.device, "eth0.2");
  assert.equal(st.linkDevice, null, "no device of its own named under it");
  const pppoe = parseUbusInterfaceStatus(
    JSON.stringify({ up: true, l3_device: "pppoe-wan", device: "eth1" }),
  );
  assert.deepEqual([pppoe.device, pppoe.linkDevice], ["pppoe-wan", "eth1"]);
  const same = parseUbusInterfaceStatus(
    JSON.stringify({ up: true, l3_device: "eth1", device: "eth1" }),
  );
  assert.deepEqual([same.device, same.linkDevice], ["eth1", null]);
  const down = parseUbusInterfaceStatus(
    JSON.stringify({ up: false, "ipv4-address": [{ address: "192.0.2.1" }] }),
  );
  assert.equal(down.ipv4, null);
  assert.equal(parseUbusDeviceMtu('{"mtu":1492}'), 1492);
  assert.equal(parseUbusDeviceMtu("x"), null);
  assert.ok(
    ubusEventConcerns('{ "network.interface": { "action": "ifup", "interface": "wan" } }', "wan"),
  );
  assert.ok(
    !ubusEventConcerns('{ "network.interface": { "action": "ifup", "interface": "lan" } }', "wan"),
  );
  assert.ok(!ubusEventConcerns("garbage", "wan"));
});

/** A runner whose `ip addr` answer the test sets, with one controllable monitor child. */
class FakeRunner implements CommandRunner {
  addrJson = IP_JSON("192.0.2.1");
  ubusStatus = "";
  runs: string[] = [];
  monitors: Array<{
    argv: string;
    line: (l: string) => void;
    exit: (c: number) => void;
    killed: boolean;
  }> = [];
  run(argv: readonly string[]): Promise<{ code: number; stdout: string }> {
    this.runs.push(argv.join(" "));
    if (argv[0] === "ip" && argv.includes("addr"))
      return Promise.resolve({ code: 0, stdout: this.addrJson });
    if (argv[0] === "ip" && argv.includes("route")) {
      return Promise.resolve({ code: 0, stdout: '[{"dst":"default","dev":"wan0"}]' });
    }
    if (argv[0] === "ubus" && argv[2] === "network.device")
      return Promise.resolve({ code: 0, stdout: '{"mtu":1460}' });
    if (argv[0] === "ubus") return Promise.resolve({ code: 0, stdout: this.ubusStatus });
    return Promise.resolve({ code: 1, stdout: "" });
  }
  spawnLines(argv: readonly string[], onLine: (l: string) => void, onExit: (c: number) => void) {
    const m = { argv: argv.join(" "), line: onLine, exit: onExit, killed: false };
    this.monitors.push(m);
    return {
      kill: () => {
        m.killed = true;
        onExit(143);
      },
    };
  }
}

const flush = async () => {
  for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
};

test("Linux: learns, follows an address change after a monitor event, respawns, stops clean", async () => {
  const clock = new FakeClock();
  const runner = new FakeRunner();
  const seen: WanInfo[] = [];
  const logs: string[] = [];
  const w = new WanWatcher({
    device: "wan0",
    ubusInterface: "wan",
    useUbus: false,
    staticIpv4: null,
    staticMtu: null,
    clock,
    runner,
    onChange: (i) => seen.push(i),
    log: (_l, m) => logs.push(m),
  });
  await w.start();
  assert.equal(formatIpv4(w.current().ipv4 ?? 0), "192.0.2.1");
  assert.equal(w.current().mtu, 1500);
  assert.equal(w.current().ipv4Source, "learned");
  assert.equal(runner.monitors.length, 1);
  assert.equal(runner.monitors[0]?.argv, "ip -o monitor address link");

  runner.addrJson = IP_JSON("198.51.100.7", 1400);
  runner.monitors[0]?.line("2: other    inet 203.0.113.1/24 scope global other");
  clock.advance(100);
  await flush();
  assert.equal(seen.length, 1, "unrelated device ignored");
  runner.monitors[0]?.line("3: wan0    inet 198.51.100.7/24 scope global wan0");
  runner.monitors[0]?.line("Deleted 3: wan0    inet 192.0.2.1/24 scope global wan0");
  clock.advance(100);
  await flush();
  assert.equal(seen.length, 2);
  assert.equal(formatIpv4(seen[1]?.ipv4 ?? 0), "198.51.100.7");
  assert.equal(seen[1]?.mtu, 1400);

  // The monitor dies: respawned after backoff, and the state is re-read.
  runner.monitors[0]?.exit(1);
  assert.match(logs.join("\n"), /exited with 1; respawning in 1000 ms/);
  clock.advance(1000);
  await flush();
  assert.equal(runner.monitors.length, 2);

  w.stop();
  assert.equal(runner.monitors[1]?.killed, true);
  assert.equal(clock.pending(), 0);
});

test("static wan_ipv4 + wan_mtu: no processes; static ipv4 overrides the learned one", async () => {
  const clock = new FakeClock();
  const runner = new FakeRunner();
  const w = new WanWatcher({
    device: "wan0",
    ubusInterface: "wan",
    useUbus: false,
    staticIpv4: parseIpv4("203.0.113.5"),
    staticMtu: 1480,
    clock,
    runner,
    onChange: () => undefined,
    log: () => undefined,
  });
  await w.start();
  assert.equal(runner.runs.length, 0);
  assert.equal(runner.monitors.length, 0);
  assert.deepEqual(
    { ...w.current(), ipv4: formatIpv4(w.current().ipv4 ?? 0) },
    {
      ipv4: "203.0.113.5",
      mtu: 1480,
      device: "wan0",
      linkDevice: null,
      ipv4Source: "config",
      mtuSource: "config",
    },
  );
  w.stop();
  const w2 = new WanWatcher({
    device: "wan0",
    ubusInterface: "wan",
    useUbus: false,
    staticIpv4: parseIpv4("203.0.113.5"),
    staticMtu: null,
    clock,
    runner,
    onChange: () => undefined,
    log: () => undefined,
  });
  await w2.start();
  assert.equal(formatIpv4(w2.current().ipv4 ?? 0), "203.0.113.5");
  assert.equal(w2.current().mtu, 1500);
  assert.equal(w2.current().mtuSource, "learned");
  w2.stop();
});

test("no device configured: the IPv4 default route's device is used", async () => {
  const clock = new FakeClock();
  const runner = new FakeRunner();
  const w = new WanWatcher({
    device: null,
    ubusInterface: "wan",
    useUbus: false,
    staticIpv4: null,
    staticMtu: null,
    clock,
    runner,
    onChange: () => undefined,
    log: () => undefined,
  });
  await w.start();
  assert.equal(w.current().device, "wan0");
  assert.equal(runner.monitors[0]?.argv, "ip -o monitor address link route");
  w.stop();
});

test("OpenWrt: ubus status + device MTU, events for our interface trigger a re-read", async () => {
  const clock = new FakeClock();
  const runner = new FakeRunner();
  runner.ubusStatus = JSON.stringify({
    up: true,
    l3_device: "eth1",
    "ipv4-address": [{ address: "100.64.1.2" }],
  });
  const seen: WanInfo[] = [];
  const w = new WanWatcher({
    device: null,
    ubusInterface: "wan",
    useUbus: true,
    staticIpv4: null,
    staticMtu: null,
    clock,
    runner,
    onChange: (i) => seen.push(i),
    log: () => undefined,
  });
  await w.start();
  assert.equal(formatIpv4(w.current().ipv4 ?? 0), "100.64.1.2");
  assert.equal(w.current().mtu, 1460);
  assert.equal(w.current().device, "eth1");
  assert.equal(w.current().linkDevice, null);
  assert.equal(runner.monitors[0]?.argv, "ubus listen network.interface");
  runner.ubusStatus = JSON.stringify({ up: false });
  runner.monitors[0]?.line('{ "network.interface": { "action": "ifdown", "interface": "wan" } }');
  clock.advance(60);
  await flush();
  assert.equal(w.current().ipv4, null);
  assert.equal(seen.at(-1)?.ipv4Source, "none");
  w.stop();
});

test("real runner: run() reports exit codes; spawnLines delivers lines and exits once", async () => {
  const r = createCommandRunner();
  assert.deepEqual(await r.run(["sh", "-c", "echo hi; echo oops >&2; exit 3"], 20_000), {
    code: 3,
    stdout: "hi\n",
    stderr: "oops\n",
  });
  assert.equal((await r.run(["/nonexistent/x"], 20_000)).code, 127);
  const lines: string[] = [];
  const code = await new Promise<number>((resolve) => {
    r.spawnLines(["sh", "-c", "printf 'a\\nb\\n'"], (l) => lines.push(l), resolve);
  });
  assert.deepEqual(lines, ["a", "b"]);
  assert.equal(code, 0);
  const killed = await new Promise<number>((resolve) => {
    const c = r.spawnLines(["sleep", "10"], () => undefined, resolve);
    setTimeout(() => c.kill(), 50);
  });
  assert.notEqual(killed, 0);
});
