/**
 * Daemon life cycle (root, network namespaces): `6to4-pmt cpe` and `6to4-pmt relay` install their
 * TUN, address and routes at start and remove them on SIGTERM/SIGINT with exit 0; exit codes of
 * cli/exit-codes.ts for bad options (2), not root (3) and init failures (4); `enabled 0` exits 0 at once (RFC 7526
 * §5); repeated start/stop of the data plane in-process leaks no file descriptor.
 *
 *   cpe (wan0 100.64.0.2/24, lan0 dummy) ---- isp (100.64.0.1/24)
 */
import assert from "node:assert/strict";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import { after, before, describe, test } from "node:test";
import { silentLogger } from "../../module/log/logger.js";
import { CpeDaemon } from "../../module/dataplane/cpe-daemon.js";
import { createCpeForwardingState } from "../../module/dataplane/forwarding-state.js";
import { inNetns, openIpv4Raw, openTun } from "../../module/io/linux.js";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { buildSharedWanCpe, sharedWanCpeArgs } from "../support/cpe-isp.js";

const skip = netnsSkipReason();

describe("CPE and relay daemon life cycle", { skip, timeout: 120_000 }, () => {
  const reg = new NetnsRegistry();
  let cpe = "";
  let isp = "";

  before(() => {
    ({ cpe, isp } = buildSharedWanCpe(reg, { cpe: "cpe", isp: "isp" }));
    reg.removeOnCleanup(`/tmp/6to4-pmt-${process.pid}-life.state.json`);
    reg.removeOnCleanup(`/tmp/6to4-pmt-${process.pid}-life.sock`);
  });
  after(async () => {
    await reg.cleanup();
  });

  const cpeArgs = (extra: string[] = []): string[] =>
    sharedWanCpeArgs(
      `/tmp/6to4-pmt-${process.pid}-life.state.json`,
      `/tmp/6to4-pmt-${process.pid}-life.sock`,
      extra,
    );

  function links(ns: string): string {
    return reg.exec(ns, ["ip", "-o", "link", "show"]).stdout;
  }
  function routes6(ns: string): string {
    return reg.exec(ns, ["ip", "-6", "route", "show"]).stdout;
  }

  for (const signal of ["SIGTERM", "SIGINT"] as const) {
    test(`cpe: ${signal} removes routes, address and TUN, exit 0`, async () => {
      const p = reg.spawn(cpe, [...daemonCommand(), ...cpeArgs()]);
      const up = await reg.waitFor(
        () => /loop started[\s\S]*loop started/.test(p.stderr()),
        20_000,
      );
      assert.ok(up, p.stderr());
      assert.match(links(cpe), /6to4pmt0/);
      assert.match(routes6(cpe), /default dev 6to4pmt0/);
      assert.match(routes6(cpe), /2002::\/16 dev 6to4pmt0/);
      assert.match(routes6(cpe), /2001:db8:6440:2::1 dev 6to4pmt0/);
      const fds = readdirSync(`/proc/${p.pid}/fd`).length;
      assert.ok(fds < 64, `daemon holds ${fds} fds`);
      const code = await reg.stop(p, 5000, signal);
      assert.equal(code, 0, p.stderr());
      assert.doesNotMatch(links(cpe), /6to4pmt0/);
      assert.doesNotMatch(routes6(cpe), /6to4pmt0/);
      assert.match(p.stderr(), /loop stopped/);
    });
  }

  test("relay from a JSON config: Prometheus metrics on 127.0.0.1; SIGTERM removes its routes and TUN, exit 0", async () => {
    // Options from a JSON config file (UCI names as keys), one from a flag.
    const json = `/tmp/6to4-pmt-${process.pid}-relay.json`;
    writeFileSync(
      json,
      JSON.stringify({
        relay: {
          enabled: true,
          provider_prefix: "2001:db8::/32",
          customer_ipv4: ["100.64.0.0/10"],
        },
      }),
    );
    after(() => rmSync(json, { force: true }));
    const args = ["relay", "--config", json, "--metrics-port", "9641"];
    const p = reg.spawn(isp, [...daemonCommand(), ...args]);
    assert.ok(
      await reg.waitFor(() => /loop started[\s\S]*loop started/.test(p.stderr()), 20_000),
      p.stderr(),
    );
    assert.match(routes6(isp), /2001:db8::\/32 dev 6to4pmt-r0/);
    assert.ok(await reg.waitFor(() => /metrics on/.test(p.stderr()), 15_000), p.stderr());
    const get = `require("http").get("http://127.0.0.1:9641/metrics", (r) => { let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => console.log(r.statusCode, b)); })`;
    const m = await reg.execAsync(isp, [process.execPath, "-e", get], 10000);
    assert.match(m.stdout, /^200 /);
    assert.match(m.stdout, /sixto4pmt_drops_total\{role="relay",reason="own_ipv4_embedded"\} 0/);
    assert.match(m.stdout, /sixto4pmt_traffic_total\{role="relay",counter="in_packets"\} 0/);
    assert.match(routes6(isp), /2002::\/16 dev 6to4pmt-r0/);
    assert.equal(await reg.stop(p, 5000), 0, p.stderr());
    assert.doesNotMatch(links(isp), /6to4pmt-r0/);
    assert.doesNotMatch(routes6(isp), /6to4pmt-r0/);
  });

  test("exit 2 on a bad option, naming it", async () => {
    const r = await reg.execAsync(cpe, [
      ...daemonCommand(),
      ...cpeArgs(["--provider-prefix", "2001:db8::/48"]),
    ]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /--provider-prefix/);
  });

  test("exit 4 when the TUN cannot be created (name taken by a veth)", async () => {
    const r = await reg.execAsync(cpe, [...daemonCommand(), ...cpeArgs(["--tun-name", "wan0"])]);
    assert.equal(r.code, 4, r.stderr);
    assert.match(links(cpe), /wan0/, "the veth is untouched");
  });

  test("enabled 0: exits 0 without touching the system (RFC 7526 §5)", async () => {
    const r = await reg.execAsync(cpe, [...daemonCommand(), ...cpeArgs(["--no-enabled"])]);
    assert.equal(r.code, 0, r.stderr);
    assert.doesNotMatch(links(cpe), /6to4pmt0/);
  });

  for (const cmd of ["cpe", "relay", "lab"]) {
    test(`${cmd}: exit 3 when not root`, { skip: toolSkipReason("setpriv") }, async () => {
      const r = await reg.execAsync(cpe, [
        "setpriv",
        "--reuid=65534",
        "--regid=65534",
        "--clear-groups",
        ...daemonCommand(),
        cmd,
        ...(cmd === "lab" ? [] : ["--enabled"]),
      ]);
      assert.equal(r.code, 3, r.stderr);
      assert.match(r.stderr, /root/);
    });
  }

  test("no fd leak over 10 in-process start/stop cycles of the data plane", () => {
    const count = (): number => readdirSync("/proc/self/fd").length;
    const state = createCpeForwardingState({ ownIpv4: 0x64400002 });
    const cycle = (): void => {
      const { tun, raw } = inNetns(`/run/netns/${cpe}`, () => ({
        tun: openTun({ name: "pmtleak0", mtu: 1480 }),
        raw: openIpv4Raw(),
      }));
      const d = new CpeDaemon({ tun, raw, state, log: silentLogger, now: () => 0 });
      d.start();
      d.stop();
    };
    cycle(); // warm-up: lazy loads (addon, modules) may open files once
    const before = count();
    for (let i = 0; i < 10; i++) cycle();
    assert.equal(count(), before);
    assert.doesNotMatch(links(cpe), /pmtleak0/, "closing the last fd deletes the TUN");
  });
});
