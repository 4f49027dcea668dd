/**
 * A CPE on a CGN WAN (root, network namespaces): WAN 100.64.0.2 (shared address space, RFC 6598)
 * with a provider prefix and no allow_ipv4. The operator manages the service (RFC 6732 §4.2), so
 * the CPE's own shared WAN address is the expected case: its data plane accepts it as the 6to4
 * source and the LAN host reaches the Internet through the PMT relay. Without a provider prefix
 * (plain 6to4 toward a named relay) and without allow_ipv4 the CPE would drop its own packets:
 * status says `refused` and why, instead of `running` with the tunnel down.
 *
 *   lan -- cpe (wan0 100.64.0.2) == isp == relay -- inet
 */
import assert from "node:assert/strict";
import { after, afterEach, test } from "node:test";
import {
  buildLabTopology,
  labCpeArgs,
  labCpeFiles,
  labRelayArgs,
  LAB_SERVER,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import { NetnsRegistry, netnsSkipReason } from "../support/netns.js";
import { daemonCommand, ping, readCounters } from "../support/dataplane-harness.js";

const skip = netnsSkipReason();
let reg = new NetnsRegistry();
afterEach(async () => {
  await reg.cleanup();
  reg = new NetnsRegistry();
});
after(async () => {
  await reg.cleanup();
});

/** labCpeArgs without `--allow-ipv4 <range>`. */
function withoutAllow(args: string[]): string[] {
  return args.filter((a, i, all) => a !== "--allow-ipv4" && all[i - 1] !== "--allow-ipv4");
}

test(
  "provider prefix, shared WAN, no allow_ipv4: the LAN host pings through the relay",
  { skip, timeout: 60_000 },
  async () => {
    const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }] });
    const c = t.cpes[0]!;
    const relay = spawnDaemon(reg, t.relays[0]!.ns, daemonCommand(), labRelayArgs(t.relays[0]!));
    const args = withoutAllow(labCpeArgs(c));
    assert.ok(!args.includes("--allow-ipv4"));
    const cpe = spawnDaemon(reg, c.ns, daemonCommand(), args);
    assert.ok(await waitDaemonReady(reg, relay), relay.stderr());
    assert.ok(await waitDaemonReady(reg, cpe), cpe.stderr());
    let ok = false;
    for (let i = 0; i < 10 && !ok; i++) ok = (await ping(reg, c.lanNs, LAB_SERVER)).code === 0;
    const counters = await readCounters(reg, cpe);
    assert.ok(ok, `${JSON.stringify(counters.drops)}\n${cpe.stderr()}`);
    assert.equal(counters.drops.ipv6_src_6to4_invalid_ipv4 ?? 0, 0);
    const s = (await queryStatusSocket(labCpeFiles(c.ns)[1]!)) as StatusSnapshot;
    assert.equal(s.state, "running");
    assert.equal(s.wan.ipv4Class, "shared");
  },
);

test(
  "plain 6to4 toward a named relay, shared WAN, no allow_ipv4: status says refused and why",
  { skip, timeout: 60_000 },
  async () => {
    const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: false }] });
    const c = t.cpes[0]!;
    const args = withoutAllow(labCpeArgs(c));
    assert.ok(args.includes("--relay") && !args.includes("--provider-prefix"));
    const cpe = spawnDaemon(reg, c.ns, daemonCommand(), args);
    assert.ok(await waitDaemonReady(reg, cpe), cpe.stderr());
    const sock = labCpeFiles(c.ns)[1]!;
    let s: StatusSnapshot | null = null;
    await reg.waitFor(() => /control plane up/.test(cpe.stderr()), 10_000);
    s = (await queryStatusSocket(sock)) as StatusSnapshot;
    assert.equal(s.state, "refused", JSON.stringify(s));
    assert.match(
      s.stateReason ?? "",
      /WAN address 100\.64\.0\.2 is shared .*the CPE would drop its own packets .*allow_ipv4/,
    );
    assert.match(cpe.stderr(), /state starting -> refused: WAN address 100\.64\.0\.2 is shared/);
  },
);
