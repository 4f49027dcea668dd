// The CPE control plane wired with fakes (clock, commands, ND socket, prober, data plane):
// RFC 3056 §2 / RFC 6732 §3.3 (LAN prefix), RFC 9096 §3.5 (deprecation, state file),
// RFC 7084 L-4 (router lifetime 0 when the tunnel is down), RFC 4861 §6.1.1/§6.2.5/§6.2.6,
// RFC 6343 §4.1 (refused WAN addresses), RFC 5969 §7.1.1 (DHCP option 212), status socket.
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv4 } from "../../../module/addr/ipv4.js";
import { formatIpv6, parseIpv6 } from "../../../module/addr/ipv6.js";
import { routerAdvertisement } from "../../../module/codec/nd.js";
import type { PrefixInfoOption } from "../../../module/codec/nd-options.js";
import { parseCpeConfig } from "../../../module/config/parse.js";
import { startCpeControl, type CpeControl } from "../../../module/control/cpe-control.js";
import { GRO_CHECK_MS, GRO_WARN_MS } from "../../../module/control/gro-watch.js";
import type { EchoProber } from "../../../module/control/health.js";
import type { CommandRunner } from "../../../module/control/wan-watcher.js";
import type { CpeForwardingState } from "../../../module/dataplane/forwarding-state.js";
import type { Logger } from "../../../module/log/logger.js";
import type { Icmpv6RxRing, IcmpV6Socket, IoError, PortStats } from "../../../module/io/ports.js";
import { queryStatusSocket } from "../../../module/status/server.js";
import type { StatusSnapshot } from "../../../module/status/snapshot.js";
import { FakeClock } from "../../support/fake-clock.js";

const addrJson = (ip: string | null, mtu = 1500) =>
  JSON.stringify([
    {
      ifname: "wan0",
      mtu,
      addr_info: ip ? [{ family: "inet", local: ip, prefixlen: 24, scope: "global" }] : [],
    },
  ]);

class Runner implements CommandRunner {
  wanAddr = addrJson("192.0.2.1");
  /** `ubus call network.interface.wan status` answer (OpenWrt set-ups). */
  ubusStatus = "";
  log: string[] = [];
  monitors: Array<{ line: (l: string) => void; killed: boolean }> = [];
  run(argv: readonly string[]) {
    this.log.push(argv.join(" "));
    if (argv.join(" ") === "ubus call network.interface.wan status")
      return Promise.resolve({ code: 0, stdout: this.ubusStatus });
    if (argv.join(" ").startsWith("ip -j addr show dev wan0"))
      return Promise.resolve({ code: 0, stdout: this.wanAddr });
    if (argv.join(" ").startsWith("ip -j link show dev lan0")) {
      return Promise.resolve({
        code: 0,
        stdout: '[{"ifname":"lan0","link_type":"ether","address":"02:00:5e:10:00:01"}]',
      });
    }
    return Promise.resolve({ code: 0, stdout: "" });
  }
  spawnLines(_argv: readonly string[], onLine: (l: string) => void, onExit: (c: number) => void) {
    const m = { line: onLine, killed: false };
    this.monitors.push(m);
    return {
      kill: () => {
        m.killed = true;
        onExit(143);
      },
    };
  }
}

class NdSocket implements IcmpV6Socket {
  readonly device = "lan0";
  readonly ifindex = 2;
  closed = false;
  sent: Buffer[] = [];
  private handler: ((ring: Icmpv6RxRing, count: number) => void) | null = null;
  private ring: Icmpv6RxRing | null = null;
  onBatch(ring: Icmpv6RxRing, handler: (ring: Icmpv6RxRing, count: number) => void): void {
    this.ring = ring;
    this.handler = handler;
  }
  onError(_h: (err: IoError) => void): void {}
  stats(): PortStats {
    return {} as PortStats;
  }
  close(): void {
    this.closed = true;
  }
  send(buf: Uint8Array, offset: number, length: number): boolean {
    this.sent.push(Buffer.from(buf.subarray(offset, offset + length)));
    return true;
  }
  /** Delivers one message as the kernel would. */
  deliver(msg: Uint8Array, src: string, hopLimit: number): void {
    const r = this.ring!;
    r.bufs[0]!.set(msg, r.offset);
    r.sizes[0] = msg.length;
    r.srcs.set(parseIpv6(src)!, 0);
    r.hopLimits[0] = hopLimit;
    this.handler!(r, 1);
  }
  lastRa() {
    return routerAdvertisement.decode(this.sent.at(-1)!);
  }
}

class Prober implements EchoProber {
  ok = true;
  closed = false;
  probe() {
    return Promise.resolve(this.ok ? 2.25 : null);
  }
  close() {
    this.closed = true;
  }
}

class Sink {
  states: CpeForwardingState[] = [];
  wanGroUnusable = 0;
  setForwardingState(s: CpeForwardingState) {
    this.states.push(s);
  }
  counters() {
    return {
      traffic: { out_packets: 5 },
      drops: { no_route: 2, ipv4_truncated: 0 },
      offload: { segments_cut: 44, wan_gro_unusable: this.wanGroUnusable },
    };
  }
}

const flush = async () => {
  for (let i = 0; i < 10; i++) await new Promise((r) => setImmediate(r));
};

const pios = (ra: ReturnType<NdSocket["lastRa"]>) =>
  ra.options
    .filter((o): o is PrefixInfoOption => o.kind === "prefix-information")
    .map(
      (o) => `${formatIpv6(o.prefix)}/${o.prefixLength} ${o.preferredLifetime}/${o.validLifetime}`,
    );

/** The WAN devices' features as netdevFeatures would see and change them (one table each). */
class Features {
  private readonly tables = new Map<
    string,
    Map<string, { active: boolean; changeable: boolean }>
  >();
  readonly calls: string[] = [];
  /** The table of `device` (default wan0); a new one starts rx-gro-list on, UDP forwarding off. */
  table(device = "wan0"): Map<string, { active: boolean; changeable: boolean }> {
    let t = this.tables.get(device);
    if (t === undefined) {
      t = new Map([
        ["rx-gro-list", { active: true, changeable: true }],
        ["rx-udp-gro-forwarding", { active: false, changeable: true }],
      ]);
      this.tables.set(device, t);
    }
    return t;
  }
  get state(): Map<string, { active: boolean; changeable: boolean }> {
    return this.table();
  }
  access = (device: string, names: readonly string[], want?: ReadonlyMap<string, boolean>) => {
    this.calls.push(
      `${device} ${want ? [...want].map(([k, v]) => `${k}=${v}`).join(",") : "read"}`,
    );
    const t = this.table(device);
    for (const [k, v] of want ?? []) {
      const f = t.get(k);
      if (f?.changeable) f.active = v;
    }
    return new Map(
      names.map((n) => {
        const f = t.get(n);
        return [n, f ? { known: true, active: f.active } : { known: false }];
      }),
    );
  };
  active(name: string, device = "wan0"): boolean | undefined {
    return this.table(device).get(name)?.active;
  }
}

async function setup(
  extra: Record<string, string[]> = {},
  dir = mkdtempSync(join(tmpdir(), "pmt-ctl-")),
  features?: Features,
  /** OpenWrt: no wan_device, netifd's interface status (ubus) instead. */
  ubusStatus?: string,
  lowerDevices?: (device: string) => readonly string[],
) {
  const cfg = parseCpeConfig({
    enabled: ["1"],
    ...(ubusStatus === undefined ? { "wan-device": ["wan0"] } : {}),
    "lan-device": ["lan0"],
    "state-file": [join(dir, "state.json")],
    "status-socket": [join(dir, "status.sock")],
    dns: ["2001:db8::53"],
    ...extra,
  });
  const clock = new FakeClock();
  const runner = new Runner();
  if (ubusStatus !== undefined) runner.ubusStatus = ubusStatus;
  const nd = new NdSocket();
  const prober = new Prober();
  const sink = new Sink();
  const logs: string[] = [];
  const log: Logger = {
    level: "info",
    error: (m: string) => logs.push("error " + m),
    warn: (m: string) => logs.push("warn " + m),
    info: (m: string) => logs.push("info " + m),
    debug: () => undefined,
    enabled: (l) => l !== "debug",
  };
  const ctl: CpeControl = await startCpeControl({
    config: cfg,
    log,
    version: "0.1.0",
    daemon: sink,
    tunName: "6to4pmt0",
    clock,
    random: () => 0.5,
    runner,
    openNdSocket: () => nd,
    prober,
    useUbus: ubusStatus !== undefined,
    dhcpLeaseFile: join(dir, "lease"),
    ...(features ? { netdevFeatures: features.access } : {}),
    ...(lowerDevices ? { lowerDevices } : {}),
  });
  return { dir, cfg, clock, runner, nd, prober, sink, logs, ctl };
}

test("start: plain 6to4 prefix advertised, forwarding state fed, status socket answers", async () => {
  const t = await setup();
  try {
    t.clock.advance(0);
    await flush();
    const st = t.sink.states.at(-1)!;
    assert.equal(st.enabled, true);
    assert.equal(formatIpv4(st.ownIpv4), "192.0.2.1");
    assert.equal(st.tunnelMtu, 1480);
    const ra = t.nd.lastRa();
    assert.equal(ra.routerLifetime, 1800);
    assert.deepEqual(pios(ra), ["2002:c000:201::/64 2700/5400"]);
    assert.ok(ra.options.some((o) => o.kind === "mtu" && o.mtu === 1480));
    assert.ok(ra.options.some((o) => o.kind === "rdnss" && o.lifetime === 1800));
    assert.ok(ra.options.some((o) => o.kind === "source-link-layer-address"));
    // RFC 7084 L-3: RIO for the site's 6to4 /48.
    const rio = ra.options.find((o) => o.kind === "route-information");
    assert.ok(rio?.kind === "route-information");
    assert.equal(`${formatIpv6(rio.prefix)}/${rio.prefixLength}`, "2002:c000:201::/48");
    assert.equal(rio.routeLifetime, 5400);
    const s = (await queryStatusSocket(t.cfg.statusSocket)) as StatusSnapshot;
    assert.equal(s.state, "running");
    assert.equal(s.wan.ipv4, "192.0.2.1");
    assert.equal(s.wan.ipv4Class, "documentation");
    assert.equal(s.sixto4Prefix, "2002:c000:201::/48");
    assert.equal(s.lanPrefix, "2002:c000:201::/64");
    assert.equal(s.translatedPrefix, null);
    assert.deepEqual(s.relays, { value: ["192.88.99.1"], source: "default" });
    assert.equal(s.health.target, "2002:c058:6301::");
    assert.equal(s.health.lastRttMs, 2.25, "the probe's round-trip time reaches the status");
    assert.equal(s.counters.drop_no_route, 2);
    assert.equal(s.counters.tun_offload_segments_cut, 44);
    assert.ok(t.runner.log.some((l) => l.includes("addr replace 2002:c000:201::1/64 dev lan0")));
  } finally {
    await t.ctl.stop();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test("WAN change: new prefix, old one deprecated (0/0), state file remembers it", async () => {
  const t = await setup();
  try {
    t.clock.advance(0);
    t.runner.wanAddr = addrJson("198.51.100.7");
    t.runner.monitors[0]!.line("3: wan0    inet 198.51.100.7/24 scope global wan0");
    t.clock.advance(100);
    await flush();
    t.clock.advance(3000);
    const ra = t.nd.lastRa();
    assert.deepEqual(pios(ra), ["2002:c633:6407::/64 2700/5400", "2002:c000:201::/64 0/0"]);
    assert.match(t.logs.join("\n"), /lan prefix 2002:c000:201::\/64 -> 2002:c633:6407::\/64/);
    assert.match(t.logs.join("\n"), /wan wan0 address 192\.0\.2\.1 -> 198\.51\.100\.7/);
    const file = JSON.parse(readFileSync(t.cfg.stateFile, "utf8"));
    assert.equal(file.prefixes.records.length, 2);
    assert.ok(
      t.runner.log.some((l) => l.includes("addr replace 2002:c633:6407::1/128 dev 6to4pmt0")),
    );
    assert.ok(t.runner.log.some((l) => l.includes("addr del 2002:c000:201::1/64 dev lan0")));
  } finally {
    await t.ctl.stop();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test("tunnel down: router lifetime 0 after K failures, restored on success (RFC 7084 L-4)", async () => {
  const t = await setup({ "health-interval": ["5"], "health-failures": ["3"] });
  try {
    t.clock.advance(0);
    await flush();
    t.prober.ok = false;
    for (let i = 0; i < 3; i++) {
      t.clock.advance(5000);
      await flush();
    }
    t.clock.advance(3000);
    assert.equal(t.nd.lastRa().routerLifetime, 0);
    assert.match(t.logs.join("\n"), /tunnel health down/);
    t.prober.ok = true;
    t.clock.advance(5000);
    await flush();
    t.clock.advance(3000);
    assert.equal(t.nd.lastRa().routerLifetime, 1800);
  } finally {
    await t.ctl.stop();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test("RS: valid answered within 0.5 s (after the rate limit), invalid counted", async () => {
  const t = await setup();
  try {
    t.clock.advance(10_000);
    const before = t.nd.sent.length;
    t.nd.deliver(Uint8Array.of(133, 0, 0, 0, 0, 0, 0, 0), "fe80::2", 255);
    t.nd.deliver(Uint8Array.of(133, 0, 0, 0, 0, 0, 0, 0), "fe80::2", 64);
    t.nd.deliver(Uint8Array.of(133, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 0, 0, 0), "fe80::2", 255);
    t.nd.deliver(Uint8Array.of(135, 0, 0, 0), "fe80::2", 255);
    t.clock.advance(500);
    assert.equal(t.nd.sent.length, before + 1);
    const s = t.ctl.snapshot();
    assert.equal(s.counters.rs_received, 3);
    assert.equal(s.counters.rs_valid, 1);
    assert.equal(s.counters.rs_invalid_hop_limit, 1);
    assert.equal(s.counters.rs_invalid_option_length, 1);
    assert.equal(s.counters.nd_other_ignored, 1);
    assert.equal(s.ra.solicitedSent, 1);
  } finally {
    await t.ctl.stop();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test("stop(): final RA (lifetime 0, prefix 0/0); no timers, monitor killed, socket closed", async () => {
  const t = await setup();
  t.clock.advance(0);
  await flush();
  await t.ctl.stop();
  try {
    const ra = t.nd.lastRa();
    assert.equal(ra.routerLifetime, 0);
    assert.deepEqual(pios(ra), ["2002:c000:201::/64 0/0"]);
    assert.ok(ra.options.some((o) => o.kind === "rdnss" && o.lifetime === 0));
    assert.equal(t.clock.pending(), 0);
    assert.equal(t.nd.closed, true);
    assert.equal(t.prober.closed, true);
    assert.ok(t.runner.monitors.every((m) => m.killed));
    assert.equal(existsSync(t.cfg.statusSocket), false);
    assert.ok(
      t.runner.log.includes("ip -6 addr del 2002:c000:201::1/64 dev lan0"),
      "LAN address removed",
    );
    // A restart with another address keeps deprecating the old prefix (RFC 9096 §3.5).
    const t2 = await setup({}, t.dir);
    t2.runner.wanAddr = addrJson("203.0.113.9");
    await t2.ctl.refresh();
    t2.clock.advance(3000);
    assert.deepEqual(pios(t2.nd.lastRa()), [
      "2002:cb00:7109::/64 2700/5400",
      "2002:c000:201::/64 0/0",
    ]);
    await t2.ctl.stop();
  } finally {
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test("refused WAN (private): no RAs, data plane disabled, clear reason (RFC 6343 §4.1)", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-ctl-"));
  const cfgRunnerAddr = addrJson("10.0.0.2");
  const t = await (async () => {
    const r = await setup({}, dir);
    return r;
  })();
  try {
    t.runner.wanAddr = cfgRunnerAddr;
    await t.ctl.refresh();
    const s = t.ctl.snapshot();
    assert.equal(s.state, "refused");
    assert.match(s.stateReason ?? "", /private \(RFC 1918\)/);
    assert.equal(t.sink.states.at(-1)?.enabled, false);
    // The prefix advertised before is deprecated, with router lifetime 0.
    t.clock.advance(5000);
    const ra = t.nd.lastRa();
    assert.equal(ra.routerLifetime, 0);
    assert.deepEqual(pios(ra), ["2002:c000:201::/64 0/0"]);
    assert.match(
      t.logs.join("\n"),
      /error state running -> refused: WAN address 10\.0\.0\.2 is private/,
    );
  } finally {
    await t.ctl.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("DHCP option 212: provider prefix and relay from DHCP, config overrides, sources shown", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-ctl-"));
  writeFileSync(
    join(dir, "lease"),
    "interface=wan0\nip=192.0.2.1\nip6rd=0 32 2001:db8:: 203.0.113.254\n",
  );
  const t = await setup({}, dir);
  try {
    t.clock.advance(0);
    const s = t.ctl.snapshot();
    assert.deepEqual(s.providerPrefix, { value: "2001:db8::/32", source: "dhcp" });
    assert.deepEqual(s.relays, { value: ["203.0.113.254"], source: "dhcp" });
    assert.deepEqual(s.ipv4PrefixLen, { value: 0, source: "dhcp" });
    assert.equal(s.translatedPrefix, "2001:db8:c000:201::/64");
    assert.equal(s.health.target, "2002:cb00:71fe::");
    assert.deepEqual(pios(t.nd.lastRa()), ["2001:db8:c000:201::/64 2700/5400"]);
    assert.equal(formatIpv4(t.sink.states.at(-1)!.relayIpv4), "203.0.113.254");
    // The option changes: followed.
    writeFileSync(
      join(dir, "lease"),
      "interface=wan0\nip=192.0.2.1\nip6rd=8 32 2001:db8:: 203.0.113.253\n",
    );
    await t.ctl.refresh();
    const s2 = t.ctl.snapshot();
    assert.deepEqual(s2.relays.value, ["203.0.113.253"]);
    assert.equal(s2.translatedPrefix, "2001:db8:2:100::/64");
  } finally {
    await t.ctl.stop();
  }
  // Config wins over DHCP.
  const t3 = await setup({ relay: ["192.0.2.254"], "provider-prefix": ["3fff:100::/24"] }, dir);
  try {
    const s = t3.ctl.snapshot();
    assert.deepEqual(s.relays, { value: ["192.0.2.254"], source: "config" });
    assert.deepEqual(s.providerPrefix, { value: "3fff:100::/24", source: "config" });
  } finally {
    await t3.ctl.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("WAN MTU change: tunnel MTU, TUN device and RA MTU option follow (RFC 4213 §3.2)", async () => {
  const t = await setup();
  try {
    t.clock.advance(0);
    t.runner.wanAddr = addrJson("192.0.2.1", 1400);
    t.runner.monitors[0]!.line("3: wan0@if2: <BROADCAST,UP> mtu 1400 qdisc noqueue");
    t.clock.advance(100);
    await flush();
    t.clock.advance(3000);
    assert.equal(t.sink.states.at(-1)?.tunnelMtu, 1380);
    assert.ok(t.runner.log.includes("ip link set dev 6to4pmt0 mtu 1380"), t.runner.log.join("\n"));
    assert.ok(t.nd.lastRa().options.some((o) => o.kind === "mtu" && o.mtu === 1380));
    assert.deepEqual(pios(t.nd.lastRa()), ["2002:c000:201::/64 2700/5400"], "prefix unchanged");
  } finally {
    await t.ctl.stop();
    rmSync(t.dir, { recursive: true, force: true });
  }
});

test("GRO on the WAN merging 6in4 UDP, features not reachable: a warning with the ethtool remedy, at most one a minute", async () => {
  const t = await setup();
  try {
    t.clock.advance(0);
    await flush();
    const warnings = () => t.logs.filter((l) => l.includes("merged by GRO"));
    t.clock.advance(GRO_CHECK_MS);
    assert.deepEqual(warnings(), [], "no warning while the counter stays at 0");
    t.sink.wanGroUnusable = 7;
    t.clock.advance(GRO_CHECK_MS);
    assert.deepEqual(warnings(), [
      "warn wan wan0: 7 6in4 UDP packet(s) merged by GRO could not be forwarded; " +
        "turn it off: ethtool -K wan0 rx-gro-list off rx-udp-gro-forwarding off",
    ]);
    t.clock.advance(GRO_CHECK_MS);
    assert.equal(warnings().length, 1, "no new warning without new packets");
    t.sink.wanGroUnusable = 9;
    t.clock.advance(GRO_CHECK_MS);
    assert.equal(warnings().length, 1, "not again within a minute");
    t.clock.advance(GRO_WARN_MS);
    assert.equal(warnings().length, 2);
    assert.match(warnings()[1]!, /: 2 6in4 UDP packet/);
  } finally {
    await t.ctl.stop();
  }
});

test("wan_gro auto (default): merged UDP turns rx-gro-list off on the WAN device, no warning; back on at stop", async () => {
  const f = new Features();
  const t = await setup({}, undefined, f);
  try {
    t.clock.advance(0);
    await flush();
    t.clock.advance(GRO_CHECK_MS);
    assert.deepEqual(f.calls, [], "nothing touched while nothing is merged");
    t.sink.wanGroUnusable = 5;
    t.clock.advance(GRO_CHECK_MS);
    assert.equal(f.active("rx-gro-list"), false);
    assert.equal(f.active("rx-udp-gro-forwarding"), false, "was off, stays off");
    assert.deepEqual(f.calls, ["wan0 read", "wan0 rx-gro-list=false"], "only what was on");
    assert.deepEqual(
      t.logs.filter((l) => l.includes("rx-gro-list")),
      [
        "info wan wan0: rx-gro-list off (merged 6in4 UDP cannot be forwarded); back on at exit; " +
          "wan_gro 'keep' leaves them",
      ],
    );
    assert.equal(t.ctl.snapshot().counters.wan_gro_turned_off, 1);
    assert.deepEqual(
      t.logs.filter((l) => l.includes("merged by GRO")),
      [],
      "remedied: no warning",
    );
    t.sink.wanGroUnusable = 6;
    t.clock.advance(GRO_CHECK_MS);
    assert.equal(t.ctl.snapshot().counters.wan_gro_turned_off, 1, "already off: not counted again");
  } finally {
    await t.ctl.stop();
  }
  assert.equal(f.active("rx-gro-list"), true, "restored at stop");
  assert.equal(f.active("rx-udp-gro-forwarding"), false, "not turned on: it was off");
  assert.equal(f.calls.at(-1), "wan0 rx-gro-list=true");
  assert.ok(t.logs.includes("info wan wan0: rx-gro-list back on"));
});

test("wan_gro off: turned off at the first check without any merged packet; keep: never touched", async () => {
  const f = new Features();
  f.state.get("rx-udp-gro-forwarding")!.active = true;
  const t = await setup({ "wan-gro": ["off"] }, undefined, f);
  try {
    t.clock.advance(0);
    await flush();
    assert.equal(f.active("rx-gro-list"), false);
    assert.equal(f.active("rx-udp-gro-forwarding"), false);
    // A WAN device made anew (PPPoE reconnect) comes back with its defaults: caught next check.
    f.state.get("rx-gro-list")!.active = true;
    t.clock.advance(GRO_CHECK_MS);
    assert.equal(f.active("rx-gro-list"), false);
  } finally {
    await t.ctl.stop();
  }
  assert.equal(f.active("rx-gro-list"), true);
  assert.equal(f.active("rx-udp-gro-forwarding"), true);

  const g = new Features();
  const k = await setup({ "wan-gro": ["keep"] }, undefined, g);
  try {
    k.clock.advance(0);
    await flush();
    k.sink.wanGroUnusable = 3;
    k.clock.advance(GRO_CHECK_MS);
    assert.deepEqual(g.calls, []);
    assert.equal(k.logs.filter((l) => l.includes("merged by GRO")).length, 1);
  } finally {
    await k.ctl.stop();
  }
  assert.deepEqual(g.calls, [], "nothing to restore");
});

test("wan_gro auto on a PPPoE WAN: also netifd's device under it, where the NIC's GRO runs", async () => {
  const f = new Features();
  const t = await setup(
    {},
    undefined,
    f,
    JSON.stringify({
      up: true,
      l3_device: "pppoe-wan",
      device: "eth1",
      "ipv4-address": [{ address: "100.64.1.2", mask: 32 }],
    }),
  );
  try {
    t.clock.advance(0);
    await flush();
    assert.equal(t.ctl.snapshot().wan.device, "pppoe-wan");
    t.sink.wanGroUnusable = 4;
    t.clock.advance(GRO_CHECK_MS);
    assert.deepEqual(f.calls, [
      "pppoe-wan read",
      "pppoe-wan rx-gro-list=false",
      "eth1 read",
      "eth1 rx-gro-list=false",
    ]);
    assert.equal(f.active("rx-gro-list", "eth1"), false);
    assert.equal(t.ctl.snapshot().counters.wan_gro_turned_off, 2, "once per device");
  } finally {
    await t.ctl.stop();
  }
  assert.equal(f.active("rx-gro-list", "eth1"), true, "restored at stop");
  assert.equal(f.active("rx-gro-list", "pppoe-wan"), true);
});

test("wan_gro auto on a VLAN WAN: also the real device under it (sysfs lower_*), where GRO runs", async () => {
  const f = new Features();
  const lowers = new Map([
    ["wan0", ["eth0"]], // wan0 stands for eth0.2 here
    ["eth0", []],
  ]);
  const t = await setup({}, undefined, f, undefined, (d) => lowers.get(d) ?? []);
  try {
    t.clock.advance(0);
    await flush();
    t.sink.wanGroUnusable = 2;
    t.clock.advance(GRO_CHECK_MS);
    assert.deepEqual(f.calls, [
      "wan0 read",
      "wan0 rx-gro-list=false",
      "eth0 read",
      "eth0 rx-gro-list=false",
    ]);
    assert.ok(
      t.logs.includes(
        "info wan eth0: rx-gro-list off (merged 6in4 UDP cannot be forwarded); back on at exit; " +
          "wan_gro 'keep' leaves them",
      ),
      t.logs.join("\n"),
    );
  } finally {
    await t.ctl.stop();
  }
  assert.equal(f.active("rx-gro-list", "eth0"), true, "restored at stop");
});

test("wan_gro auto, a feature the driver keeps on: warned about, with the ethtool remedy", async () => {
  const f = new Features();
  f.state.set("rx-gro-list", { active: true, changeable: false });
  const t = await setup({}, undefined, f);
  try {
    t.clock.advance(0);
    await flush();
    t.sink.wanGroUnusable = 2;
    t.clock.advance(GRO_CHECK_MS);
    assert.ok(t.logs.includes("warn wan wan0: rx-gro-list stayed on (the driver keeps them)"));
    t.sink.wanGroUnusable = 3;
    t.clock.advance(GRO_CHECK_MS);
    assert.equal(
      t.logs.filter((l) => l.includes("stayed on")).length,
      1,
      "said once, not at every rise",
    );
    assert.equal(t.logs.filter((l) => l.includes("merged by GRO")).length, 1);
    assert.equal(t.ctl.snapshot().counters.wan_gro_turned_off, undefined);
  } finally {
    await t.ctl.stop();
  }
});

test("routes into the TUN: none while disabled; added when running, deleted when refused, added again", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-ctl-"));
  const started: CpeControl[] = [];
  const start = async (enabled: string) => {
    const cfg = parseCpeConfig({
      enabled: [enabled],
      "wan-device": ["wan0"],
      "lan-device": ["lan0"],
      "state-file": [join(dir, "state.json")],
      "status-socket": [join(dir, "status.sock")],
    });
    const runner = new Runner();
    const ctl = await startCpeControl({
      config: cfg,
      log: { level: "info", error() {}, warn() {}, info() {}, debug() {}, enabled: () => false },
      version: "0.1.0",
      daemon: new Sink(),
      tunName: "6to4pmt0",
      tunRoutes: ["::/0", "2002::/16"],
      clock: new FakeClock(),
      random: () => 0.5,
      runner,
      openNdSocket: () => new NdSocket(),
      prober: new Prober(),
      useUbus: false,
      dhcpLeaseFile: join(dir, "lease"),
    });
    started.push(ctl);
    return { ctl, runner };
  };
  const routeCmds = (r: Runner) => r.log.filter((l) => l.startsWith("ip -6 route"));
  try {
    // enabled 0 (state disabled): the control plane never routes into the TUN.
    const off = await start("0");
    await off.ctl.refresh();
    await flush();
    assert.equal(off.ctl.snapshot().state, "disabled");
    assert.deepEqual(routeCmds(off.runner), []);
    await off.ctl.stop();
    assert.deepEqual(routeCmds(off.runner), []);

    const on = await start("1");
    assert.equal(on.ctl.snapshot().state, "running");
    assert.deepEqual(routeCmds(on.runner), [
      "ip -6 route add ::/0 dev 6to4pmt0",
      "ip -6 route add 2002::/16 dev 6to4pmt0",
    ]);
    on.runner.log = [];
    on.runner.wanAddr = addrJson("10.0.0.2");
    await on.ctl.refresh();
    await flush();
    assert.equal(on.ctl.snapshot().state, "refused");
    assert.deepEqual(routeCmds(on.runner), [
      "ip -6 route del ::/0 dev 6to4pmt0",
      "ip -6 route del 2002::/16 dev 6to4pmt0",
    ]);
    on.runner.log = [];
    on.runner.wanAddr = addrJson("192.0.2.1");
    await on.ctl.refresh();
    await flush();
    assert.equal(on.ctl.snapshot().state, "running");
    assert.equal(routeCmds(on.runner).length, 2);
    on.runner.log = [];
    await on.ctl.stop();
    assert.deepEqual(routeCmds(on.runner), [
      "ip -6 route del ::/0 dev 6to4pmt0",
      "ip -6 route del 2002::/16 dev 6to4pmt0",
    ]);
  } finally {
    for (const c of started) await c.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a new WAN address is judged with the lease written with it: shared space not refused (RFC 6732 §4.2)", async () => {
  // udhcpc's script writes the lease file, then configures the address: the daemon sees the
  // address at once (rtnetlink) and reads the lease then, not at its next poll of the file.
  const t = await setup();
  try {
    t.clock.advance(0);
    await flush();
    assert.equal(t.ctl.snapshot().state, "running");
    writeFileSync(
      join(t.dir, "lease"),
      "interface=wan0\nip=100.64.0.2\nmask=24\nip6rd=0 32 2001:db8:: 192.88.99.1\n",
    );
    t.runner.wanAddr = addrJson("100.64.0.2");
    t.runner.monitors[0]!.line("3: wan0    inet 100.64.0.2/24 scope global wan0");
    t.clock.advance(100);
    await flush();
    const s = t.ctl.snapshot();
    assert.equal(s.state, "running", String(s.stateReason));
    assert.equal(s.wan.ipv4, "100.64.0.2");
    assert.deepEqual(s.providerPrefix, { value: "2001:db8::/32", source: "dhcp" });
    assert.equal(s.lanPrefix, "2001:db8:6440:2::/64");
    assert.doesNotMatch(t.logs.join("\n"), /refused/);
  } finally {
    await t.ctl.stop();
    rmSync(t.dir, { recursive: true, force: true });
  }
});
