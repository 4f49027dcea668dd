/**
 * Runs inside the VM (test/bench/kernel-path.bench.ts boots it): the CPE's kernel data plane
 * against the same sit + nft prefix NAT set up by hand, same topology, same run:
 *
 *   lan (2001:db8:6440:2::100) -- cpe == isp == site (plain sit 6to4, iperf3 on 2002:6440:902:1::1)
 *
 * Per round and mode: iperf3 TCP (Mbit/s received) and UDP with 64-byte payloads (datagrams/s
 * received), and in "ours" the daemon's own CPU (utime + stime) during those runs. Prints one
 * line `RESULT <json>`; figures only, nothing asserted.
 */
import { readFileSync } from "node:fs";
import { startIperfServer } from "../support/iperf.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { NetnsRegistry, type NsProcess } from "../support/netns.js";
import { buildLabTopology, labCpeArgs, spawnDaemon } from "../../module/lab/topology.js";

const SITE_V4 = "100.64.9.2";
const SITE_HOST = "2002:6440:902:1::1";
const SECONDS = Number(process.env.PMT_BENCH_SECONDS ?? "5");
const ROUNDS = Number(process.env.PMT_BENCH_ROUNDS ?? "2");

/** The same data plane by hand: sit, routes and the prefix NAT only (what a router owner would do). */
const HAND_NFT = `table ip6 hand {
\tchain post {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "6to4pmt0" ip6 saddr 2001:db8:6440:2::/64 snat ip6 prefix to 2002:6440:2::/64
\t}
\tchain pre {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tiifname "6to4pmt0" ip6 daddr 2002:6440:2::/64 dnat ip6 prefix to 2001:db8:6440:2::/64
\t}
}
`;

function cpuMs(pid: number): number {
  const f = readFileSync(`/proc/${pid}/stat`, "utf8");
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  // utime, stime: fields 14 and 15 (1-based), in clock ticks (100 Hz).
  return (Number(rest[11]) + Number(rest[12])) * 10;
}

async function main(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { seconds: SECONDS, rounds: [] };
  const reg = new NetnsRegistry();
  try {
    for (const m of ["sit", "nft_nat", "nft_chain_nat", "veth"]) reg.run(["modprobe", m]);
    const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }] });
    const c = t.cpes[0]!;
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

    const measure = async (port: number, cpePid: number | null) => {
      const cpu0 = cpePid !== null ? cpuMs(cpePid) : 0;
      const srv = await startIperfServer(reg, site, SITE_HOST, port);
      const tcp = await reg.execAsync(
        c.lanNs,
        ["iperf3", "-6", "-c", SITE_HOST, "-p", String(port), "-t", String(SECONDS), "-J"],
        SECONDS * 1000 + 60_000,
      );
      await reg.waitFor(() => srv.hasExited(), 10_000);
      const srv2 = await startIperfServer(reg, site, SITE_HOST, port + 1);
      const udp = await reg.execAsync(
        c.lanNs,
        [
          "iperf3",
          "-6",
          "-c",
          SITE_HOST,
          "-p",
          String(port + 1),
          "-u",
          "-l",
          "64",
          "-b",
          "0",
        ].concat(["-t", String(SECONDS), "-J"]),
        SECONDS * 1000 + 60_000,
      );
      await reg.waitFor(() => srv2.hasExited(), 10_000);
      const cpu = cpePid !== null ? cpuMs(cpePid) - cpu0 : null;
      const tj = JSON.parse(tcp.stdout || "{}") as {
        end?: { sum_received?: { bits_per_second?: number } };
      };
      const uj = JSON.parse(udp.stdout || "{}") as {
        end?: { sum?: { packets?: number; lost_packets?: number; seconds?: number } };
      };
      const s = uj.end?.sum;
      if (!tj.end || !s) out.iperfFailure = `${tcp.stdout}${tcp.stderr}${udp.stdout}${udp.stderr}`;
      return {
        tcpMbps: (tj.end?.sum_received?.bits_per_second ?? 0) / 1e6,
        udp64Pps: s ? ((s.packets ?? 0) - (s.lost_packets ?? 0)) / (s.seconds ?? SECONDS) : 0,
        daemonCpuMs: cpu,
      };
    };

    let port = 5201;
    for (let round = 0; round < ROUNDS; round++) {
      const r: Record<string, unknown> = {};
      // Ours: the daemon in kernel mode.
      const cpe: NsProcess = spawnDaemon(
        reg,
        c.ns,
        daemonCommand(),
        labCpeArgs(c, ["--dataplane", "kernel", "--health-interval", "3600"]),
      );
      await reg.waitFor(
        () => cpe.hasExited() || /cpe up: kernel data plane/.test(cpe.stderr()),
        120_000,
        100,
      );
      if (cpe.hasExited()) throw new Error(`cpe exited: ${cpe.stderr().slice(-2000)}`);
      // Past the daemon's start-up (JIT, first probe): its CPU below is what forwarding costs it.
      await new Promise((r) => setTimeout(r, 5000));
      r.ours = await measure(port, cpe.pid);
      port += 2;
      reg.kill(cpe, "SIGTERM");
      await cpe.exited;
      // By hand: the same sit, routes and prefix NAT without the daemon or its checks.
      reg.must([
        "sh",
        "-ec",
        `ip -n ${c.ns} -b - <<'EOF'
tunnel add 6to4pmt0 mode sit remote any local ${c.wanIpv4} ttl 64
link set 6to4pmt0 mtu 1480 up
route replace ::/0 via ::192.88.99.1 dev 6to4pmt0 onlink
route replace 2002::/16 dev 6to4pmt0
EOF
ip netns exec ${c.ns} nft -f - <<'EOF'
${HAND_NFT}EOF`,
      ]);
      r.hand = await measure(port, null);
      port += 2;
      reg.must(["ip", "-n", c.ns, "link", "del", "6to4pmt0"]);
      reg.must(["ip", "netns", "exec", c.ns, "nft", "delete", "table", "ip6", "hand"]);
      (out.rounds as unknown[]).push(r);
    }
  } catch (e) {
    out.error = (e as Error).stack ?? String(e);
  } finally {
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
