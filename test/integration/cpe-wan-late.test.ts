/**
 * A CPE started before its WAN has an IPv4 address (root, network namespaces): the data plane
 * starts with forwarding off (drops counted as `no_route`), and once the address appears the
 * control plane learns it (rtnetlink via `ip monitor`) and swaps in a forwarding snapshot with one
 * assignment; LAN traffic then flows through the relay (RFC 6732 §3.3) without a restart.
 *
 *   lan -- cpe (wan0: no address yet) == isp == relay -- inet
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import {
  buildLabTopology,
  labCpeArgs,
  labRelayArgs,
  LAB_SERVER,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import { NetnsRegistry, netnsSkipReason } from "../support/netns.js";
import { daemonCommand, ping } from "../support/dataplane-harness.js";
import { waitForCounters } from "../support/daemon-assert.js";

const reg = new NetnsRegistry();
after(async () => {
  await reg.cleanup();
});

test(
  "WAN address learned after start: forwarding switches on without a restart",
  { skip: netnsSkipReason(), timeout: 60_000 },
  async () => {
    const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }] });
    const c = t.cpes[0]!;
    reg.must(["ip", "-n", c.ns, "addr", "flush", "dev", "wan0"]);
    const relay = spawnDaemon(reg, t.relays[0]!.ns, daemonCommand(), labRelayArgs(t.relays[0]!));
    const args = labCpeArgs(c).filter(
      (a, i, all) => a !== "--wan-ipv4" && all[i - 1] !== "--wan-ipv4",
    );
    const cpe = spawnDaemon(reg, c.ns, daemonCommand(), args);
    assert.ok(await waitDaemonReady(reg, relay), relay.stderr());
    assert.ok(await waitDaemonReady(reg, cpe), cpe.stderr());
    assert.notEqual((await ping(reg, c.lanNs, LAB_SERVER)).code, 0, "no WAN address: no tunnel");
    const noRoute = await waitForCounters(reg, cpe, (k) => (k.drops.no_route ?? 0) >= 1);
    assert.ok(noRoute.drops.no_route! >= 1, JSON.stringify(noRoute.drops));
    reg.addr(c.ns, "wan0", `${c.wanIpv4}/24`);
    reg.route(c.ns, "default via 100.64.0.1");
    let ok = false;
    for (let i = 0; i < 10 && !ok; i++) ok = (await ping(reg, c.lanNs, LAB_SERVER)).code === 0;
    assert.ok(ok, cpe.stderr());
    assert.match(cpe.stderr(), /address none -> 100\.64\.0\.2/);
  },
);
