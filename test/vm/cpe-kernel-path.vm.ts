/**
 * Runs inside the VM (test/integration/cpe-kernel-path.test.ts boots it; test/support/vm.ts): the
 * topology of test/vm/kernel-topology.ts with this project's relay (userspace, TUN) and the CPE
 * in kernel mode (`--dataplane kernel`: sit + nft), a plain Linux sit 6to4 site on the carrier,
 * and a stand-in fw4 table in the CPE's namespace.
 *
 * Prints one line `RESULT <json>` with what it measured; the host test asserts on it. Errors are
 * recorded in the result (`error`), never thrown past the cleanup.
 */
import { readFileSync, readdirSync, readlinkSync } from "node:fs";
import { statusCommand } from "../support/daemon-assert.js";
import { queryStatusSocket } from "../../module/status/server.js";
import {
  NFT_COUNTERS_ARGV,
  kernelCounters,
  parseNftCounters,
  parseSitStats,
  sitStatsArgv,
} from "../../module/dataplane/kernel-ruleset.js";
import { daemonCommand, ping, tcpTransfer } from "../support/dataplane-harness.js";
import { attackCases } from "../support/attack-cases.js";
import { injectIpv4, linkMac } from "../support/frame-inject.js";
import { NetnsRegistry } from "../support/netns.js";
import {
  LAB_SERVER,
  labCpeArgs,
  labCpeFiles,
  labRelayArgs,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import { buildKernelPathTopology, SITE_HOST } from "./kernel-topology.js";

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

/**
 * What of the data plane the daemon holds open: the TUN, raw protocol-41 sockets (both belong to
 * the userspace path; in kernel mode there must be none).
 */
function dataPlaneFds(pid: number): string[] {
  const found: string[] = [];
  const sockets = new Set<string>();
  for (const fd of readdirSync(`/proc/${pid}/fd`)) {
    let target = "";
    try {
      target = readlinkSync(`/proc/${pid}/fd/${fd}`);
    } catch {
      continue;
    }
    if (target === "/dev/net/tun") found.push(`fd ${fd}: ${target}`);
    const inode = /^socket:\[(\d+)\]$/.exec(target)?.[1];
    if (inode !== undefined) sockets.add(inode);
  }
  // /proc/PID/net/raw: the raw IPv4 sockets of the daemon's namespace; the local "port" is the
  // protocol (0029 = 41), the 10th column the inode.
  for (const line of readFileSync(`/proc/${pid}/net/raw`, "utf8").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 9 && /:0029$/.test(f[1]!) && sockets.has(f[9]!)) {
      found.push(`raw protocol-41 socket ${f[9]}`);
    }
  }
  return found;
}

async function main(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = {};
  let cpeLog = (): string => "";
  const reg = new NetnsRegistry();
  const t0 = Date.now();
  const mark = (k: string) => ((out[`t_${k}`] = (Date.now() - t0) / 1000), undefined);
  try {
    const { t, c, site } = buildKernelPathTopology(reg);
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
    out.dataPlaneFds = dataPlaneFds(cpe.pid);

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
    // Read from the tables and the sit as the daemon reads them (each status query runs nft, seconds under TCG);
    // status itself is asked once afterwards.
    const drops = (): Record<string, number> => {
      const j = reg.exec(c.ns, NFT_COUNTERS_ARGV, 60_000);
      const sit = reg.exec(c.ns, sitStatsArgv("6to4pmt0"), 60_000);
      const d = kernelCounters(
        parseNftCounters(j.stdout, "sixto4pmt"),
        parseSitStats(sit.stdout),
      ).drops;
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
