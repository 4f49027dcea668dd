/**
 * `6to4-pmt status --relay` (root, network namespaces; lab topology, module/lab/topology.ts):
 *
 *   lan -- cpe (PMT) == isp == relay -- inet (server 3fff:100::1)
 *
 * The relay answers on its status socket (cli/relay-status.ts): state, addresses (relay IPv4s,
 * TUN, provider prefix, routes), the customer policy and the counters, per PMT customer range too. After 3 pings through it,
 * `status --relay` prints the first line and the facts, exits 0, and --json carries the same
 * counters as SIGUSR1; plain `status` finds the relay when only its socket exists; with no relay
 * answering it exits 5 with one line.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { LAB_ANYCAST, LAB_SERVER, labRelaySocket } from "../../module/lab/topology.js";
import type { RelayStatusSnapshot } from "../../module/status/relay-snapshot.js";
import {
  daemonCommand,
  ping,
  readCounters,
  relayStatusCli,
  startLab,
} from "../support/dataplane-harness.js";
import { NetnsRegistry, netnsSkipReason } from "../support/netns.js";

const skip = netnsSkipReason();

describe("relay status socket and `6to4-pmt status --relay`", { skip, timeout: 120_000 }, () => {
  const reg = new NetnsRegistry();
  after(async () => {
    await reg.cleanup();
  });

  test("state, addresses, policy and counters; exit 0 running, 5 no relay", async () => {
    const lab = await startLab(reg, { cpes: [{ index: 0, pmt: true }], relays: 1 });
    const r = lab.t.relays[0]!;
    const sock = labRelaySocket(r.ns);
    const p = await ping(reg, lab.t.cpes[0]!.lanNs, LAB_SERVER);
    assert.equal(p.code, 0, p.stdout);

    const text = await relayStatusCli(reg, r.ns, sock);
    assert.equal(text.code, 0, text.stderr);
    const lines = text.stdout.split("\n");
    assert.equal(
      lines[0],
      `relay running: protocol 41 on ${LAB_ANYCAST}, ${r.unicast}, PMT provider 2001:db8::/32`,
    );
    assert.match(text.stdout, /^tun: +6to4pmt-r0 mtu 1480, address 2002:c058:6301::$/m);
    assert.match(text.stdout, /^receive: +raw socket$/m);
    assert.match(text.stdout, /^routes into tun: +2001:db8::\/32, 2002::\/16$/m);
    assert.match(
      text.stdout,
      /^customer policy: +PMT customers only \(RFC 6732 §4\.7\): translates 100\.64\.0\.0\/10;/m,
    );
    assert.match(text.stdout, /^metrics: +off$/m);
    // No announce_ipv4: the routes are static, nothing to announce (relay-announce-status.test.ts).
    assert.match(text.stdout, /^announcement: +off \(announce_ipv4 not set: static routes\)$/m);

    const json = await relayStatusCli(reg, r.ns, sock, ["--json"]);
    assert.equal(json.code, 0, json.stderr);
    const s = JSON.parse(json.stdout) as RelayStatusSnapshot & { exitCode: number };
    assert.equal(s.role, "relay");
    assert.equal(s.state, "running");
    assert.equal(s.exitCode, 0);
    assert.deepEqual(s.relayIpv4, [LAB_ANYCAST, r.unicast]);
    assert.deepEqual(s.packetReceive, []);
    assert.equal(s.providerPrefix, "2001:db8::/32");
    assert.equal(s.announce, null);
    assert.deepEqual(s.pmtCustomerIpv4, ["100.64.0.0/10"]);
    // The pings (3 requests in, 3 replies back, translated both ways), as SIGUSR1 reports them.
    assert.ok(s.counters.traffic.in_packets! >= 3, JSON.stringify(s.counters.traffic));
    assert.ok(s.counters.traffic.out_packets! >= 3, JSON.stringify(s.counters.traffic));
    assert.ok(s.counters.traffic.translated! >= 6, JSON.stringify(s.counters.traffic));
    // Per PMT customer range: the CPE (100.64.0.2) is in the one range, 100.64.0.0/10.
    assert.equal(s.counters.customers?.length, 1, JSON.stringify(s.counters));
    const range = s.counters.customers![0]!;
    assert.equal(range.range, "100.64.0.0/10");
    assert.equal(range.in_packets, s.counters.traffic.in_packets);
    assert.equal(range.in_bytes, s.counters.traffic.in_bytes);
    assert.equal(range.out_packets, s.counters.traffic.out_packets);
    assert.equal(range.out_bytes, s.counters.traffic.out_bytes);
    assert.match(
      text.stdout,
      /^customer ranges:\n +100\.64\.0\.0\/10: +in \d+ packets \d+ bytes, out \d+ packets \d+ bytes$/m,
    );
    // Plain `status` on a host with only the relay's socket at its default path (a private
    // /run in a mount namespace of the command: the host's /run is left alone) asks the relay;
    // with neither socket the error names the CPE's.
    const privateRun = (link: boolean): string[] => [
      "unshare",
      "-m",
      "sh",
      "-c",
      "mount -t tmpfs none /run && mkdir /run/6to4-pmt && " +
        (link ? `ln -s ${sock} /run/6to4-pmt/relay.sock && ` : "") +
        'exec "$@"',
      "sh",
      ...daemonCommand(),
      "status",
    ];
    const auto = await reg.execAsync(r.ns, privateRun(true));
    assert.equal(auto.code, 0, auto.stderr);
    assert.equal(auto.stdout.split("\n")[0], lines[0]);
    const none = await reg.execAsync(r.ns, privateRun(false));
    assert.equal(none.code, 5, none.stderr);
    assert.equal(
      none.stderr,
      "6to4-pmt: no daemon running (status socket /var/run/6to4-pmt/status.sock: ENOENT)\n",
    );
    const viaSignal = await readCounters(reg, lab.relays[0]!);
    assert.equal(viaSignal.traffic.in_packets, s.counters.traffic.in_packets);

    assert.equal(await reg.stop(lab.relays[0]!, 5000), 0);
    const gone = await relayStatusCli(reg, r.ns, sock);
    assert.equal(gone.code, 5, gone.stderr);
    assert.equal(gone.stderr, `6to4-pmt: no daemon running (status socket ${sock}: ENOENT)\n`);
  });
});
