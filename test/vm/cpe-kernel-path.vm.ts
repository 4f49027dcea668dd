/**
 * Runs inside the VM (test/integration/cpe-kernel-path.test.ts boots it; test/support/vm.ts): the
 * lab topology with this project's relay (userspace, TUN) and the CPE in kernel mode
 * (`--dataplane kernel`: sit + nft), a plain Linux sit 6to4 site on the carrier, and a stand-in
 * fw4 table in the CPE's namespace:
 *
 *   lan -- cpe [sit + nft] == isp == relay -- inet (server 3fff:100::1)
 *                              \== site (plain sit 6to4, 100.64.9.2, 2002:6440:902:1::1)
 *
 * Prints one line `RESULT <json>` with what it measured; the host test asserts on it. Errors are
 * recorded in the result (`error`), never thrown past the cleanup.
 */
import { statusCommand } from "../support/daemon-assert.js";
import { queryStatusSocket } from "../../module/status/server.js";
import { kernelCounters, parseNftCounters } from "../../module/dataplane/kernel-ruleset.js";
import { daemonCommand, ping, tcpTransfer } from "../support/dataplane-harness.js";
import { attackCases } from "../support/attack-cases.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { NetnsRegistry } from "../support/netns.js";
import {
  LAB_SERVER,
  buildLabTopology,
  labCpeArgs,
  labCpeFiles,
  labRelayArgs,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";

const FW4 = `table inet fw4 {
\tchain input {
\t\ttype filter hook input priority filter; policy accept;
\t}
\tchain forward {
\t\ttype filter hook forward priority filter; policy accept;
\t\tct state established,related accept
\t}
\tchain srcnat {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t}
}
`;
const SITE_V4 = "100.64.9.2";
const SITE_HOST = "2002:6440:902:1::1";

async function main(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let cpeLog = (): string => "";
  const reg = new NetnsRegistry();
  const t0 = Date.now();
  const mark = (k: string) => ((out[`t_${k}`] = (Date.now() - t0) / 1000), undefined);
  try {
    for (const m of ["sit", "nft_nat", "nft_chain_nat", "veth"]) {
      reg.run(["modprobe", m]);
    }
    const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }] });
    const c = t.cpes[0]!;
    // A plain Linux 6to4 site on the carrier (the interop peer).
    const site = reg.createNamespace("site", { forwarding: true });
    reg.veth(t.isp, "site0", site, "wan0");
    reg.addr(t.isp, "site0", "100.64.9.1/24");
    reg.addr(site, "wan0", `${SITE_V4}/24`);
    reg.route(site, "default via 100.64.9.1");
    reg.must(
      ["ip", "-n", site, "tunnel", "add", "tun6to4", "mode", "sit", "remote", "any"].concat([
        "local",
        SITE_V4,
        "ttl",
        "64",
      ]),
    );
    reg.must(["ip", "-n", site, "link", "set", "tun6to4", "up"]);
    reg.addr(site, "tun6to4", "2002:6440:902::1/16");
    reg.addr(site, "lo", `${SITE_HOST}/128`);
    // The stand-in fw4 table, before the CPE starts.
    reg.must(["sh", "-c", `ip netns exec ${c.ns} nft -f - <<'EOF'\n${FW4}EOF`]);
    const fw4Before = reg.must([
      "ip",
      "netns",
      "exec",
      c.ns,
      "nft",
      "list",
      "table",
      "inet",
      "fw4",
    ]);
    mark("topology");

    const cmd = daemonCommand();
    const relay = spawnDaemon(reg, t.relays[0]!.ns, cmd, labRelayArgs(t.relays[0]!));
    const cpe = spawnDaemon(reg, c.ns, cmd, labCpeArgs(c, ["--dataplane", "kernel"]));
    cpeLog = () => cpe.stderr().split("\n").slice(-40).join("\n");
    out.relayReady = await waitDaemonReady(reg, relay, 120_000);
    await reg.waitFor(
      () => cpe.hasExited() || /cpe up: kernel data plane/.test(cpe.stderr()),
      120_000,
      100,
    );
    out.cpeUp = !cpe.hasExited() && /cpe up: kernel data plane/.test(cpe.stderr());
    mark("daemons");
    const sock = labCpeFiles(c.ns)[1];
    const status = async () => (await statusCommand(sock, "status", 60_000)) as StatusSnapshot;
    // Running once the first plan is carried out (sit local, routes, table).
    await reg.waitFor(() => /kernel data plane: sit/.test(cpe.stderr()), 60_000, 100);
    const s0 = await status();
    out.dataplane = s0.dataplane;
    out.state = s0.state;
    out.sitShow = reg.exec(c.ns, ["ip", "-d", "link", "show", "6to4pmt0"]).stdout;
    out.routes = reg.exec(c.ns, ["ip", "-6", "route", "show", "dev", "6to4pmt0"]).stdout;
    out.tables = reg.exec(c.ns, ["nft", "list", "tables"]).stdout.trim().split("\n");

    const p1 = await ping(reg, c.lanNs, LAB_SERVER, ["-W", "10"]);
    out.pingServer = /(\d+) received/.exec(p1.stdout)?.[1] ?? p1.stdout;
    const tcp = await tcpTransfer(reg, c.lanNs, t.inet, LAB_SERVER, 8080, 200_000);
    out.tcpServer = { peer: tcp.peer, received: tcp.received, expected: c.expectedSourceAtServer };
    mark("server");

    const p2 = await ping(reg, c.lanNs, SITE_HOST, ["-W", "10"]);
    out.pingSite = /(\d+) received/.exec(p2.stdout)?.[1] ?? p2.stdout;
    const tcp2 = await tcpTransfer(reg, c.lanNs, site, SITE_HOST, 8081, 100_000);
    out.tcpSite = { peer: tcp2.peer, received: tcp2.received };
    // And from the site to the LAN host's 6to4 form (unsolicited inbound: dnat prefix).
    const p3 = await ping(reg, site, "2002:6440:2::100", ["-W", "10", "-I", SITE_HOST]);
    out.pingFromSite = /(\d+) received/.exec(p3.stdout)?.[1] ?? p3.stdout;
    mark("site");

    // Hostile protocol 41 to the CPE: each case 3 times, the counter of its name must grow by 3.
    // Read from the table as the daemon reads it (each status query runs nft, seconds under TCG);
    // status itself is asked once afterwards.
    const drops = (): Record<string, number> => {
      const j = reg.exec(c.ns, ["nft", "-j", "list", "table", "inet", "sixto4pmt"], 60_000);
      const d = kernelCounters(parseNftCounters(j.stdout)).drops;
      return Object.fromEntries(Object.entries(d).map(([k, v]) => [`drop_${k}`, v]));
    };
    const mac = linkMac(reg, c.ns, "wan0");
    const attacks: Record<string, unknown>[] = [];
    for (const a of attackCases().filter((x) => x.target === "cpe")) {
      const before = drops();
      await injectIpv4(reg, t.isp, c.ispDevice, mac, [a.packet, a.packet, a.packet]);
      const after = drops();
      const key = `drop_${a.reason}`;
      attacks.push({
        name: a.name,
        reason: a.reason,
        delta: (after[key] ?? 0) - (before[key] ?? 0),
        moved: Object.keys(after).filter(
          (k) => k.startsWith("drop_") && k !== key && after[k] !== before[k],
        ),
      });
    }
    out.attacks = attacks;
    const s1 = (await queryStatusSocket(sock, "status", 60_000)) as StatusSnapshot;
    out.statusDrops = Object.fromEntries(
      Object.entries(s1.counters).filter(([k]) => k.startsWith("drop_")),
    );
    out.tableDrops = Object.fromEntries(Object.entries(drops()).filter(([, v]) => v !== 0));
    mark("attacks");

    reg.kill(cpe, "SIGTERM");
    out.cpeExit = await Promise.race([
      cpe.exited,
      new Promise((r) => setTimeout(() => r("timeout"), 60_000)),
    ]);
    out.afterSit = reg.exec(c.ns, ["ip", "link", "show", "6to4pmt0"]).code;
    out.afterRoutes = reg.exec(c.ns, ["ip", "-6", "route", "show"]).stdout;
    out.afterTables = reg.exec(c.ns, ["nft", "list", "tables"]).stdout.trim().split("\n");
    out.fw4Intact = reg.exec(c.ns, ["nft", "list", "table", "inet", "fw4"]).stdout === fw4Before;
    mark("stop");
  } catch (e) {
    out.error = (e as Error).stack ?? String(e);
  } finally {
    out.cpeLog = cpeLog();
    await reg.cleanup();
  }
  return out;
}

main().then(
  (r) => {
    process.stdout.write(`RESULT ${JSON.stringify(r)}\n`);
    process.exit(0);
  },
  (e: unknown) => {
    process.stdout.write(`RESULT ${JSON.stringify({ error: String(e) })}\n`);
    process.exit(1);
  },
);
