/**
 * Runs inside the VM (test/bench/kernel-path.bench.ts boots it): the CPE's kernel data plane
 * against the same sit + nft prefix NAT set up by hand, same topology (test/vm/kernel-topology.ts),
 * same run, the order alternating per round (ours first in even rounds, the hand setup first in
 * odd ones) so that neither always runs on a warmer or a more loaded VM:
 *
 *   lan (2001:db8:6440:2::100) -- cpe == isp == site (plain sit 6to4, iperf3 on 2002:6440:902:1::1)
 *
 * Per round and setup: iperf3 TCP (Mbit/s received) and UDP with 64-byte payloads (datagrams/s
 * received). With ours, the daemon's own CPU (utime + stime of all its threads and of its
 * children, the `ip monitor` watchers) is read right before and after each iperf3 client, so it
 * covers forwarding only, not the daemon's start nor the iperf3 servers' set-up; the threads that
 * used any are named. Prints one line `RESULT <json>`; figures only, nothing asserted.
 */
import { readFileSync, readdirSync } from "node:fs";
import { startIperfServer } from "../support/iperf.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { NetnsRegistry, type NsProcess } from "../support/netns.js";
import { labCpeArgs, spawnDaemon } from "../../module/lab/topology.js";
import { buildKernelPathTopology, SITE_HOST } from "./kernel-topology.js";

const SECONDS = Number(process.env.PMT_BENCH_SECONDS ?? "5");
const ROUNDS = Number(process.env.PMT_BENCH_ROUNDS ?? "5");

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

/** utime + stime (ms, 100 Hz ticks) and name of one /proc stat file; null when it is gone. */
function statCpu(path: string): { name: string; ms: number; ppid: number } | null {
  let f: string;
  try {
    f = readFileSync(path, "utf8");
  } catch {
    return null;
  }
  const name = f.slice(f.indexOf("(") + 1, f.lastIndexOf(")"));
  const rest = f.slice(f.lastIndexOf(")") + 2).split(" ");
  return { name, ms: (Number(rest[11]) + Number(rest[12])) * 10, ppid: Number(rest[1]) };
}

/** CPU ms by thread of `pid` and by child process (their threads summed). */
function cpuByThread(pid: number): Record<string, number> {
  const out: Record<string, number> = {};
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    const s = statCpu(`/proc/${pid}/task/${tid}/stat`);
    if (s) out[`thread ${tid} ${s.name}`] = s.ms;
  }
  for (const p of readdirSync("/proc")) {
    if (!/^\d+$/.test(p)) continue;
    const s = statCpu(`/proc/${p}/stat`);
    if (s && s.ppid === pid) out[`child ${p} ${s.name}`] = s.ms;
  }
  return out;
}

function cpuDelta(a: Record<string, number>, b: Record<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [k, v] of Object.entries(b)) if (v - (a[k] ?? 0) > 0) out[k] = v - (a[k] ?? 0);
  return out;
}

interface Figures {
  tcpMbps: number;
  udp64Pps: number;
  /** ms of CPU over `forwardingS` seconds of iperf3 runs (ours only). */
  daemonCpuMs: number | null;
  forwardingS: number;
  /** Where that CPU went, by thread or child. */
  daemonCpuBy: Record<string, number> | null;
}

async function main(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { seconds: SECONDS, rounds: [] };
  const reg = new NetnsRegistry();
  try {
    const { c, site } = buildKernelPathTopology(reg);
    let port = 5201;

    /** One iperf3 client run; the daemon's CPU (if any) across the client's run only. */
    const iperf = async (udp: boolean, cpePid: number | null) => {
      const p = port++;
      const srv = await startIperfServer(reg, site, SITE_HOST, p);
      const args = ["iperf3", "-6", "-c", SITE_HOST, "-p", String(p), "-t", String(SECONDS)];
      if (udp) args.push("-u", "-l", "64", "-b", "0");
      const cpu0 = cpePid !== null ? cpuByThread(cpePid) : {};
      const t0 = Date.now();
      const r = await reg.execAsync(c.lanNs, [...args, "-J"], SECONDS * 1000 + 60_000);
      const wallS = (Date.now() - t0) / 1000;
      const cpu = cpePid !== null ? cpuDelta(cpu0, cpuByThread(cpePid)) : {};
      await reg.waitFor(() => srv.hasExited(), 10_000);
      const j = JSON.parse(r.stdout || "{}") as {
        end?: {
          sum_received?: { bits_per_second?: number };
          sum?: { packets?: number; lost_packets?: number; seconds?: number };
        };
      };
      if (!j.end) out.iperfFailure = `${r.stdout}${r.stderr}`;
      return { j, cpu, wallS };
    };

    const measure = async (cpePid: number | null): Promise<Figures> => {
      const tcp = await iperf(false, cpePid);
      const udp = await iperf(true, cpePid);
      const s = udp.j.end?.sum;
      const by: Record<string, number> = { ...tcp.cpu };
      for (const [k, v] of Object.entries(udp.cpu)) by[k] = (by[k] ?? 0) + v;
      const ms = Object.values(by).reduce((a, b) => a + b, 0);
      return {
        tcpMbps: (tcp.j.end?.sum_received?.bits_per_second ?? 0) / 1e6,
        udp64Pps: s ? ((s.packets ?? 0) - (s.lost_packets ?? 0)) / (s.seconds ?? SECONDS) : 0,
        daemonCpuMs: cpePid !== null ? ms : null,
        forwardingS: tcp.wallS + udp.wallS,
        daemonCpuBy: cpePid !== null ? by : null,
      };
    };

    const ours = async (): Promise<Figures> => {
      const cpe: NsProcess = spawnDaemon(
        reg,
        c.ns,
        daemonCommand(),
        labCpeArgs(c, ["--dataplane", "kernel", "--health-interval", "3600"]),
      );
      try {
        await reg.waitFor(
          () => cpe.hasExited() || /cpe up: kernel data plane/.test(cpe.stderr()),
          120_000,
          100,
        );
        if (cpe.hasExited()) throw new Error(`cpe exited: ${cpe.stderr().slice(-2000)}`);
        // Past the daemon's start-up (JIT, first probe).
        await new Promise((r) => setTimeout(r, 3000));
        return await measure(cpe.pid);
      } finally {
        reg.kill(cpe, "SIGTERM");
        await cpe.exited;
      }
    };

    const hand = async (): Promise<Figures> => {
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
      try {
        return await measure(null);
      } finally {
        reg.must(["ip", "-n", c.ns, "link", "del", "6to4pmt0"]);
        reg.must(["ip", "netns", "exec", c.ns, "nft", "delete", "table", "ip6", "hand"]);
      }
    };

    for (let round = 0; round < ROUNDS; round++) {
      const r: Record<string, unknown> = { oursFirst: round % 2 === 0 };
      if (round % 2 === 0) {
        r.ours = await ours();
        r.hand = await hand();
      } else {
        r.hand = await hand();
        r.ours = await ours();
      }
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
