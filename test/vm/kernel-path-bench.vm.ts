/**
 * Runs inside the VM (test/bench/kernel-path.bench.ts boots it): the CPE's kernel data plane
 * against the same sit + nft prefix NAT set up by hand, in one topology (test/vm/kernel-topology.ts
 * with a second CPE of the same shape) and one run:
 *
 *   lan  -- cpe  [our daemon, --dataplane kernel] ==\
 *   lan1 -- cpe1 [sit + nft prefix NAT by hand]   == isp == site (plain sit 6to4, iperf3 server)
 *
 * Both set-ups stay in place for the whole run (nothing restarts between rounds); the daemon is
 * started once and measured only after its CPU has gone quiet (V8's memory reducer runs one full
 * collection some 8-10 s after start: start-up, not forwarding). A warm-up pass through each is
 * not counted. Per round, ours and the hand-made one in turn, the order alternating (ours first
 * in even rounds): iperf3 TCP (Mbit/s received) and UDP with 64-byte payloads (datagrams/s
 * received). The daemon's own CPU (utime + stime of all its threads and of its children, the
 * `ip monitor` watchers) is read right before and after each iperf3 client, so it covers
 * forwarding only; the threads that used any are named. Prints one line `RESULT <json>`; figures
 * only, nothing asserted.
 */
import { readFileSync, readdirSync } from "node:fs";
import { startIperfServer } from "../support/iperf.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { NetnsRegistry, type NsProcess } from "../support/netns.js";
import { labCpeArgs, spawnDaemon, type LabCpe } from "../../module/lab/topology.js";
import { buildKernelPathTopology, SITE_HOST } from "./kernel-topology.js";

const SECONDS = Number(process.env.PMT_BENCH_SECONDS ?? "5");
const ROUNDS = Number(process.env.PMT_BENCH_ROUNDS ?? "5");
/**
 * A/B of a candidate ruleset shape in the same run: `netdev` swaps our decap6 from the `ip6`
 * prerouting hook (an `iifname` rule every IPv6 packet meets) to a netdev ingress hook on the sit
 * (only the sit's packets meet it), by pairs of rounds (rounds 0-1 as the daemon made it, 2-3
 * swapped, 4-5 as made, ...), so each pair has both orders. `bare` (a ceiling, not a candidate:
 * no checks) takes both our `ip6` hooks away instead (prerouting `pre`, postrouting `post`), so
 * what the `ip6` checks cost at all shows apart from the rest of the set-up.
 */
const AB = process.env.PMT_BENCH_AB ?? "";

/** The 2002:V4ADDR::/64 (SLA 0) of an IPv4 address. */
function sixToFour64(v4: string): string {
  const b = v4.split(".").map(Number);
  const hex = (x: number, y: number) => ((x << 8) | y).toString(16);
  return `2002:${hex(b[0]!, b[1]!)}:${hex(b[2]!, b[3]!)}::/64`;
}

/**
 * The same data plane by hand in `cpe`'s namespace: sit, routes and the prefix NAT only (what a
 * router owner would do), as one `sh` script.
 */
function handSetup(cpe: LabCpe): string {
  const six = sixToFour64(cpe.wanIpv4);
  return `ip -n ${cpe.ns} -b - <<'EOF'
tunnel add 6to4pmt0 mode sit remote any local ${cpe.wanIpv4} ttl 64
link set 6to4pmt0 mtu 1480 up
route replace ::/0 via ::192.88.99.1 dev 6to4pmt0 onlink
route replace 2002::/16 dev 6to4pmt0
EOF
ip netns exec ${cpe.ns} nft -f - <<'EOF'
table ip6 hand {
\tchain post {
\t\ttype nat hook postrouting priority srcnat; policy accept;
\t\toifname "6to4pmt0" ip6 saddr ${cpe.lanPrefix} snat ip6 prefix to ${six}
\t}
\tchain pre {
\t\ttype nat hook prerouting priority dstnat; policy accept;
\t\tiifname "6to4pmt0" ip6 daddr ${six} dnat ip6 prefix to ${cpe.lanPrefix}
\t}
}
EOF`;
}

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
  /** The daemon's CPU (ms) over `forwardingS` seconds of iperf3 runs through this set-up. */
  daemonCpuMs: number;
  forwardingS: number;
  /** Where that CPU went, by thread or child. */
  daemonCpuBy: Record<string, number>;
}

async function main(): Promise<Record<string, unknown>> {
  const out: Record<string, unknown> = { seconds: SECONDS, rounds: [] };
  const reg = new NetnsRegistry();
  try {
    const { c, c2, site } = buildKernelPathTopology(reg, { second: true });
    const hand = c2!;
    reg.must(["sh", "-ec", handSetup(hand)]);
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
    let port = 5201;

    /** One iperf3 client run from `lanNs`; the daemon's CPU across the client's run only. */
    const iperf = async (lanNs: string, udp: boolean, seconds: number) => {
      const p = port++;
      const srv = await startIperfServer(reg, site, SITE_HOST, p);
      const args = ["iperf3", "-6", "-c", SITE_HOST, "-p", String(p), "-t", String(seconds)];
      if (udp) args.push("-u", "-l", "64", "-b", "0");
      const cpu0 = cpuByThread(cpe.pid);
      const t0 = Date.now();
      const r = await reg.execAsync(lanNs, [...args, "-J"], seconds * 1000 + 60_000);
      const wallS = (Date.now() - t0) / 1000;
      const cpu = cpuDelta(cpu0, cpuByThread(cpe.pid));
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

    const measure = async (lanNs: string, seconds = SECONDS): Promise<Figures> => {
      // A pause first: the previous UDP flood's backlog is not the next run's to pay.
      await new Promise((r) => setTimeout(r, 1000));
      const tcp = await iperf(lanNs, false, seconds);
      const udp = await iperf(lanNs, true, seconds);
      const s = udp.j.end?.sum;
      const by: Record<string, number> = { ...tcp.cpu };
      for (const [k, v] of Object.entries(udp.cpu)) by[k] = (by[k] ?? 0) + v;
      return {
        tcpMbps: (tcp.j.end?.sum_received?.bits_per_second ?? 0) / 1e6,
        udp64Pps: s ? ((s.packets ?? 0) - (s.lost_packets ?? 0)) / (s.seconds ?? seconds) : 0,
        daemonCpuMs: Object.values(by).reduce((a, b) => a + b, 0),
        forwardingS: tcp.wallS + udp.wallS,
        daemonCpuBy: by,
      };
    };

    // Warm-up (not counted): the first runs in a fresh VM are slow whichever set-up they use.
    await measure(hand.lanNs, 2);
    await measure(c.lanNs, 2);
    // Until the daemon's start-up is over: 3 s in a row of at most one clock tick, or 60 s.
    const quiet0 = Date.now();
    let calm = 0;
    let last = cpuByThread(cpe.pid);
    while (calm < 3 && Date.now() - quiet0 < 60_000) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = cpuByThread(cpe.pid);
      const used = Object.values(cpuDelta(last, now)).reduce((a, b) => a + b, 0);
      calm = used <= 10 ? calm + 1 : 0;
      last = now;
    }
    out.settleS = (Date.now() - quiet0) / 1000;

    const sit = reg
      .must(["ip", "-n", c.ns, "-o", "link", "show", "type", "sit"])
      .split("\n")
      .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
      .find((n) => n !== undefined && n !== "sit0");
    const own48 = sixToFour64(c.wanIpv4).replace("/64", "/48");
    const toNetdev = `table netdev abx
delete table netdev abx
flush chain ip6 sixto4pmt pre
delete chain ip6 sixto4pmt pre
table netdev abx {
\tchain decap6 {
\t\ttype filter hook ingress device "${sit}" priority 0; policy accept;
\t\tip6 daddr ${own48} return
\t\tip6 saddr != 2002::/16 ip6 daddr != 2002::/16 counter drop
\t\tcounter drop
\t}
}
`;
    const toMade = `delete table netdev abx
table ip6 sixto4pmt {
\tchain pre {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname "${sit}" jump decap6
\t}
}
`;
    const toBare = `flush chain ip6 sixto4pmt pre
delete chain ip6 sixto4pmt pre
flush chain ip6 sixto4pmt post
delete chain ip6 sixto4pmt post
`;
    const fromBare = `table ip6 sixto4pmt {
\tchain pre {
\t\ttype filter hook prerouting priority raw; policy accept;
\t\tiifname "${sit}" jump decap6
\t}
\tchain post {
\t\ttype filter hook postrouting priority srcnat + 10; policy accept;
\t\toifname "${sit}" jump encap
\t}
}
`;
    let variant = "made";
    const nftIn = (text: string) =>
      reg.must(["sh", "-ec", `ip netns exec ${c.ns} nft -f - <<'EOF'\n${text}EOF`]);
    for (let round = 0; round < ROUNDS; round++) {
      const want = AB !== "" && Math.floor(round / 2) % 2 === 1 ? AB : "made";
      if (want !== variant) {
        if (want === "netdev") nftIn(toNetdev);
        else if (want === "bare") nftIn(toBare);
        else nftIn(variant === "bare" ? fromBare : toMade);
        variant = want;
      }
      const r: Record<string, unknown> = { oursFirst: round % 2 === 0, variant };
      if (round % 2 === 0) {
        r.ours = await measure(c.lanNs);
        r.hand = await measure(hand.lanNs);
      } else {
        r.hand = await measure(hand.lanNs);
        r.ours = await measure(c.lanNs);
      }
      (out.rounds as unknown[]).push(r);
    }
    out.cpeLog = cpe.stderr().slice(-1500);
    reg.kill(cpe, "SIGTERM");
    await cpe.exited;
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
