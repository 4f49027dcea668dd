/**
 * The announcer's health in the relay's status and metrics (root, network namespaces; lab
 * topology, module/lab/topology.ts):
 *
 *   lan -- cpe (PMT) == isp == relay (announce_ipv4 192.88.99.1) -- inet (server 3fff:100::1)
 *
 * The relay announces the anycast /32, 2001:db8::/32 and 2002::/16 (kernel protocol 41 routes into
 * its TUN, control/relay-announce.ts) while its IPv6 upstream, the server, answers its probes.
 * Checked through `6to4-pmt status --relay` (text and --json), /metrics and the kernel's routes:
 * announced since the first answer, with no error; the upstream cut (inet drops what goes back
 * to the relay): withdrawn, since when, the last error naming the unanswered probes, the routes
 * gone and the LAN host's traffic with them; the upstream back: announced again, since then, the
 * last error kept, traffic through the relay again.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { LAB_ANYCAST, LAB_SERVER, labRelaySocket } from "../../module/lab/topology.js";
import type { RelayStatusSnapshot } from "../../module/status/relay-snapshot.js";
import { fetchMetrics, ping, relayStatusCli, startLab } from "../support/dataplane-harness.js";
import { NetnsRegistry, netnsSkipReason } from "../support/netns.js";

const skip = netnsSkipReason();
const METRICS_PORT = 9641;
const ROUTES = [`${LAB_ANYCAST}/32`, "2001:db8::/32", "2002::/16"];
/** Bound of each wait for the announcer to act (probe every 1 s, 2 failures withdraw). */
const WAIT_MS = 20_000;

describe("relay status and metrics: the announcement's health", { skip, timeout: 120_000 }, () => {
  const reg = new NetnsRegistry();
  after(async () => {
    await reg.cleanup();
  });

  test("announced, withdrawn when the upstream is cut (since, last error), announced again", async () => {
    const lab = await startLab(reg, { cpes: [{ index: 0, pmt: true }], relays: 1 }, () => [
      "--announce-ipv4",
      LAB_ANYCAST,
      "--health-target",
      LAB_SERVER,
      "--health-interval",
      "1",
      "--health-failures",
      "2",
      "--metrics-port",
      String(METRICS_PORT),
    ]);
    const r = lab.t.relays[0]!;
    const lanNs = lab.t.cpes[0]!.lanNs;
    const sock = labRelaySocket(r.ns);
    const status = async (): Promise<RelayStatusSnapshot> => {
      const j = await relayStatusCli(reg, r.ns, sock, ["--json"]);
      assert.equal(j.code, 0, j.stderr);
      return JSON.parse(j.stdout) as RelayStatusSnapshot;
    };
    const text = async (): Promise<string> => {
      const t = await relayStatusCli(reg, r.ns, sock);
      assert.equal(t.code, 0, t.stderr);
      return t.stdout;
    };
    const metrics = (): Promise<string> => fetchMetrics(reg, r.ns, METRICS_PORT);
    /** The routes of kernel protocol 41 in the relay (what BIRD would export). */
    const proto41 = (): string[] =>
      ["-4", "-6"].flatMap((f) =>
        reg
          .exec(r.ns, ["ip", f, "route", "show", "proto", "41"])
          .stdout.split("\n")
          .filter(Boolean)
          .map((l) => l.split(" ")[0]!)
          .map((d) => (d.includes("/") ? d : `${d}/32`)),
      );
    const waitState = async (state: "announced" | "withdrawn"): Promise<RelayStatusSnapshot> => {
      let s = await status();
      for (const end = Date.now() + WAIT_MS; s.announce?.state !== state && Date.now() < end;) {
        await new Promise((res) => setTimeout(res, 200));
        s = await status();
      }
      assert.equal(s.announce?.state, state, JSON.stringify(s.announce));
      return s;
    };
    const metric = (m: string, name: string): number => {
      const v = new RegExp(`^${name} (\\S+)$`, "m").exec(m);
      assert.ok(v, `${name} in\n${m}`);
      return Number(v[1]);
    };

    // 1. Announced once the upstream answered; no error.
    const up = (await waitState("announced")).announce!;
    assert.equal(up.reason, `upstream ${LAB_SERVER} answers`);
    assert.deepEqual(up.routes, ROUTES);
    assert.equal(up.changes, 1);
    assert.equal(up.errors, 0);
    assert.equal(up.lastError, null);
    assert.deepEqual(
      [up.upstream?.target, up.upstream?.state],
      [LAB_SERVER, "up"],
      JSON.stringify(up.upstream),
    );
    const upSince = Date.parse(up.since);
    assert.ok(Math.abs(Date.now() - upSince) < 60_000, up.since);
    assert.deepEqual(proto41().sort(), [...ROUTES].sort());
    let t = await text();
    assert.match(
      t,
      new RegExp(
        `^announcement: +up since ${up.since.replace(/\./g, "\\.")} \\(\\dh \\d+m \\d+s ago\\): ` +
          `upstream 3fff:100::1 answers; 1 change$`,
        "m",
      ),
      t,
    );
    assert.match(t, /^upstream: +3fff:100::1 up, rtt [\d.]+ ms$/m, t);
    assert.match(t, /^last error: +none$/m, t);
    let m = await metrics();
    assert.equal(metric(m, "sixto4pmt_relay_announced"), 1);
    assert.equal(metric(m, "sixto4pmt_relay_announced_since_timestamp_seconds"), upSince / 1000);
    assert.equal(metric(m, "sixto4pmt_relay_announce_errors_total"), 0);
    assert.equal(metric(m, "sixto4pmt_relay_announce_last_error_timestamp_seconds"), 0);
    const p1 = await ping(reg, lanNs, LAB_SERVER);
    assert.equal(p1.code, 0, `LAN host -> server through the relay: ${p1.stdout}`);

    // 2. The upstream cut: inet drops the echo replies (and all else) back to the relay's address.
    const cut = ["ip", "-n", lab.t.inet, "-6", "route", "add", "blackhole", `${r.inetAddress}/128`];
    reg.must(cut);
    const downS = (await waitState("withdrawn")).announce!;
    const why = `upstream ${LAB_SERVER} down (2 probes unanswered)`;
    assert.equal(downS.reason, why);
    assert.equal(downS.changes, 2);
    assert.equal(downS.lastError?.message, why);
    assert.equal(downS.errors, 1);
    assert.equal(downS.upstream?.state, "down");
    const downSince = Date.parse(downS.since);
    assert.ok(downSince > upSince, `${downS.since} after ${up.since}`);
    assert.equal(downS.lastError?.at, downS.since, "the loss withdrew it");
    assert.deepEqual(proto41(), [], "the announced routes are gone");
    t = await text();
    assert.match(
      t,
      new RegExp(`^announcement: +withdrawn since ${downS.since.replace(/\./g, "\\.")} `, "m"),
      t,
    );
    assert.match(
      t,
      new RegExp(
        `^last error: +${downS.since.replace(/\./g, "\\.")} \\(.*ago\\): ${why.replace(/[()]/g, "\\$&")} \\(1 error since the start\\)$`,
        "m",
      ),
      t,
    );
    m = await metrics();
    assert.equal(metric(m, "sixto4pmt_relay_announced"), 0);
    assert.equal(metric(m, "sixto4pmt_relay_announced_since_timestamp_seconds"), downSince / 1000);
    assert.equal(metric(m, "sixto4pmt_relay_announce_errors_total"), 1);
    assert.equal(
      metric(m, "sixto4pmt_relay_announce_last_error_timestamp_seconds"),
      downSince / 1000,
    );
    // Without its return route the relay no longer carries the LAN host's traffic.
    const p2 = await reg.execAsync(lanNs, [
      "ping",
      "-6",
      "-c",
      "2",
      "-i",
      "0.2",
      "-W",
      "1",
      LAB_SERVER,
    ]);
    assert.notEqual(p2.code, 0, `no traffic while withdrawn: ${p2.stdout}`);

    // 3. The upstream back: announced again since then; the last error stays.
    reg.must(["ip", "-n", lab.t.inet, "-6", "route", "del", "blackhole", `${r.inetAddress}/128`]);
    const again = (await waitState("announced")).announce!;
    assert.equal(again.changes, 3);
    assert.ok(Date.parse(again.since) > downSince, again.since);
    assert.deepEqual(again.lastError, { ...downS.lastError!, agoS: again.lastError!.agoS });
    assert.deepEqual(proto41().sort(), [...ROUTES].sort());
    const p3 = await ping(reg, lanNs, LAB_SERVER);
    assert.equal(p3.code, 0, `traffic through the relay again: ${p3.stdout}`);
  });
});
