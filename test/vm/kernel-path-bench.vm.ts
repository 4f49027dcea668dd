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
import {
  closeSync,
  existsSync,
  openSync,
  readFileSync,
  readSync,
  readdirSync,
  writeFileSync,
} from "node:fs";
import { startIperfServer } from "../support/iperf.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { NetnsRegistry, type NsProcess } from "../support/netns.js";
import { labCpeArgs, spawnDaemon, type LabCpe } from "../../module/lab/topology.js";
import { buildKernelPathTopology, SITE_HOST } from "./kernel-topology.js";

const SECONDS = Number(process.env.PMT_BENCH_SECONDS ?? "5");
const ROUNDS = Number(process.env.PMT_BENCH_ROUNDS ?? "5");
/**
 * A/B in the same run, by pairs of rounds (each pair has both orders): PMT_BENCH_AB lists the
 * variant of each pair in turn ("made" first when absent). `netdev` swaps our decap6 from the
 * `ip6` prerouting hook (an `iifname` rule every IPv6 packet meets) to a netdev ingress hook on
 * the sit; `bare` (a ceiling, not a candidate: no checks) takes both our `ip6` hooks away
 * (prerouting `pre`, postrouting `post`); the others are described at `variants` below.
 */
const AB = process.env.PMT_BENCH_AB ?? "";
/** PMT_BENCH_TCP=0: UDP64 only (twice the rounds in the same time, for an A/B of UDP64). */
const TCP = process.env.PMT_BENCH_TCP !== "0";
const SWAP = process.env.PMT_BENCH_SWAP === "1";
/**
 * PMT_BENCH_TOGETHER=1: per round, the UDP64 floods through ours and the hand-made one at the
 * same time (no TCP), so that the host's swings hit both alike.
 */
const TOGETHER = process.env.PMT_BENCH_TOGETHER === "1";
/**
 * PMT_BENCH_PROFILE=<set-up>[,<set-up>...]: no timed rounds; a count of the kernel's function
 * calls per forwarded packet instead (ftrace's `function` tracer: this kernel has no
 * CONFIG_FUNCTION_PROFILER). Per set-up in turn, PMT_BENCH_PROFILE_ROUNDS times over: a fixed
 * number of 64-byte UDP datagrams (PMT_BENCH_PACKETS, iperf3 -u -n, at a bounded rate) from the
 * set-up's LAN host to the site, with the tracer on from just before the client starts to just
 * after it ends; each function's hits (every CPU, the whole VM) over the packets the set-up's
 * sit sent (received, with PMT_BENCH_REVERSE), apart by context (softirq, task, irq). `made` and `hand` are the two CPEs as they are; any BENCH_AB variant name is that
 * variant applied for its run (through the CPE it changes) and reverted after.
 * PMT_BENCH_PROFILE_FILTER: set_ftrace_filter globs (default: every traceable function).
 */
const PROFILE = process.env.PMT_BENCH_PROFILE ?? "";
const PROFILE_ROUNDS = Number(process.env.PMT_BENCH_PROFILE_ROUNDS ?? "2");
const PROFILE_PACKETS = Number(process.env.PMT_BENCH_PACKETS ?? "2000");
const PROFILE_FILTER = process.env.PMT_BENCH_PROFILE_FILTER ?? "";
/** The variants that change the hand-made CPE: their profile runs through that one. */
const HAND_SIDE = new Set(["hand", "handsit", "handip"]);
const TRACING = "/sys/kernel/tracing";

/**
 * Hits by context and function in one CPU's trace buffer (`function` tracer, no parent): keys
 * `s <function>` (softirq: a forwarded packet's path through every namespace), `t <function>`
 * (task: the sender's syscalls, the scheduler, ...) and `i <function>` (hard irq, NMI).
 */
function countTrace(path: string, into: Record<string, number>): number {
  const fd = openSync(path, "r");
  const buf = Buffer.alloc(1 << 20);
  let rest = "";
  let lines = 0;
  // "  <task>-<pid>  [001] ..s1.  123.456789: ipv6_rcv": the third flag is the irq context.
  const re = /\[\d+\]\s+\S\S(\S)\S*\s+[\d.]+:\s+(\S+)/;
  try {
    for (;;) {
      const n = readSync(fd, buf, 0, buf.length, null);
      if (n <= 0) break;
      const text = rest + buf.toString("latin1", 0, n);
      const parts = text.split("\n");
      rest = parts.pop()!;
      for (const l of parts) {
        const m = re.exec(l);
        if (m === null) continue;
        const c = m[1]!;
        const key = `${c === "s" || c === "H" ? "s" : c === "." ? "t" : "i"} ${m[2]!}`;
        into[key] = (into[key] ?? 0) + 1;
        lines++;
      }
    }
  } finally {
    closeSync(fd);
  }
  return lines;
}

/** PMT_BENCH_REVERSE=1: the site sends, the LAN host receives (iperf3 -R): the inbound checks. */
const REVERSE = process.env.PMT_BENCH_REVERSE === "1";

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
  if (!existsSync(`/proc/${pid}/task`)) return out;
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
    const t = buildKernelPathTopology(reg, { second: true });
    const site = t.site;
    // PMT_BENCH_SWAP=1: the daemon on the second CPE, the hand-made set-up on the first.
    const [c, hand] = SWAP ? [t.c2!, t.c] : [t.c, t.c2!];
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
      if (REVERSE) args.push("-R");
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
      const tcp = TCP ? await iperf(lanNs, false, seconds) : { j: {}, cpu: {}, wallS: 0 };
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

    const udpOnly = (u: Awaited<ReturnType<typeof iperf>>): Figures => {
      const s = u.j.end?.sum;
      return {
        tcpMbps: 0,
        udp64Pps: s ? ((s.packets ?? 0) - (s.lost_packets ?? 0)) / (s.seconds ?? SECONDS) : 0,
        daemonCpuMs: Object.values(u.cpu).reduce((x, y) => x + y, 0),
        forwardingS: u.wallS,
        daemonCpuBy: u.cpu,
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
    if (process.env.PMT_BENCH_DUMP === "1") {
      const sh = (ns: string, cmd: string) =>
        reg.run(["ip", "netns", "exec", ns, "sh", "-c", cmd], 30_000).stdout;
      const state = (ns: string) =>
        sh(
          ns,
          "ip -d link; ip -d addr; ip -6 -d route show table all; ip -4 -d route show table all; " +
            "ip -6 rule; ip -6 neigh; ip -4 neigh; nft list ruleset; " +
            'for d in $(ls /sys/class/net); do echo "== $d"; ethtool -k $d 2>/dev/null | grep -v fixed; ' +
            "cat /sys/class/net/$d/threaded /sys/class/net/$d/tx_queue_len /sys/class/net/$d/gro_flush_timeout 2>/dev/null; tc qdisc show dev $d; done; " +
            "sysctl -a 2>/dev/null | grep '^net' | grep -v 'stable_secret\\|invariant'; ss -anp; ls /proc/sys/net/netfilter 2>/dev/null",
        );
      const dump: Record<string, string> = {};
      for (const [k, ns] of [
        ["ours", c.ns],
        ["hand", hand.ns],
        ["oursLan", c.lanNs],
        ["handLan", hand.lanNs],
      ] as const) {
        dump[k] = state(ns);
      }
      dump.daemonFds = reg.run([
        "sh",
        "-c",
        `ls -l /proc/${cpe.pid}/fd; cat /proc/${cpe.pid}/net/packet; cat /proc/${cpe.pid}/status`,
      ]).stdout;
      // Conntrack and netfilter counts during a UDP flood through each.
      for (const [k, cns, lns] of [
        ["ours", c.ns, c.lanNs],
        ["hand", hand.ns, hand.lanNs],
      ] as const) {
        const before = sh(
          cns,
          "cat /proc/net/stat/nf_conntrack; cat /proc/net/snmp; cat /proc/net/snmp6; cat /proc/net/softnet_stat",
        );
        const run = iperf(lns, true, 4);
        await new Promise((r) => setTimeout(r, 2500));
        const mid = sh(
          cns,
          "cat /proc/sys/net/netfilter/nf_conntrack_count; conntrack -L 2>&1 | head -20; cat /proc/net/nf_conntrack 2>/dev/null | head",
        );
        await run;
        const after = sh(
          cns,
          "cat /proc/net/stat/nf_conntrack; cat /proc/net/snmp; cat /proc/net/snmp6; cat /proc/net/softnet_stat",
        );
        dump[`${k}Flood`] = `${before}\n=== mid\n${mid}\n=== after\n${after}`;
      }
      out.dump = dump;
    }
    const nftIn = (ns: string, text: string) =>
      reg.must(["sh", "-ec", `ip netns exec ${ns} nft -f - <<'EOF'\n${text}EOF`]);
    /** The daemon's children (its `ip monitor` watchers), by PID. */
    const children = (): number[] =>
      readdirSync("/proc")
        .filter((p) => /^\d+$/.test(p) && statCpu(`/proc/${p}/stat`)?.ppid === cpe.pid)
        .map(Number);
    const sitSysctls = (ns: string, dev: string, v: [string, string, string]) =>
      ["accept_ra", "autoconf", "router_solicitations"]
        .map((k, i) => `ip netns exec ${ns} sysctl -qw net.ipv6.conf.${dev}.${k}=${v[i]}`)
        .join("\n");
    const handIp = handSetup(hand).split("EOF\n")[0] + "EOF";
    const handRouterAddress = `${hand.lanPrefix.replace(/::\/64$/, "::1")}/128`;
    let fastRules: string[] = [];
    let oldFast: string[] = [];
    /** The rules of an `nft -a list chain` listing: [line, text, handle]. */
    const ruleLines = (listing: string) =>
      [...listing.matchAll(/^\s*(.*) # handle (\d+)$/gm)].filter(
        (m) => !/^(table|chain) /.test(m[1]!),
      );
    /** `nft args...` in namespace `ns`; its output. */
    const nftOut = (ns: string, ...args: string[]) =>
      reg.must(["ip", "netns", "exec", ns, "nft", ...args]);
    /** A chain of our table with rule handles (`nft -a`); family ip6 unless given. */
    const nftList = (ns: string, chain: string, family = "ip6") =>
      nftOut(ns, "-a", "list", "chain", family, "sixto4pmt", chain);
    /** Our CPE's set-up (both tables, the sit) replaced by the hand-made one's. */
    const ourToHand = () =>
      reg.must([
        "sh",
        "-ec",
        `ip netns exec ${c.ns} nft delete table ip sixto4pmt
ip netns exec ${c.ns} nft delete table ip6 sixto4pmt
ip -n ${c.ns} link del ${sit}
${handSetup(c)}`,
      ]);
    let saved: { nft: string; routes: string[]; addrs: string[] } | null = null;
    /**
     * The variants of BENCH_AB, one difference each between our set-up and the hand-made one.
     * Those without `revert` are terminal: once applied they stay for the rest of the run.
     */
    const variants: Record<string, { apply: () => unknown; revert?: () => unknown }> = {
      // Our ruleset's shape (see AB above).
      netdev: { apply: () => nftIn(c.ns, toNetdev), revert: () => nftIn(c.ns, toMade) },
      bare: { apply: () => nftIn(c.ns, toBare), revert: () => nftIn(c.ns, fromBare) },
      // The daemon's process stopped (SIGSTOP) with its whole set-up left in place.
      stop: {
        apply: () => {
          for (const pid of [cpe.pid, ...children()]) process.kill(pid, "SIGSTOP");
        },
        revert: () => {
          for (const pid of [cpe.pid, ...children()]) process.kill(pid, "SIGCONT");
        },
      },
      // The hand-made sit made the way the daemon makes its own: `ip link add` (mode any),
      // addrgenmode none, no RA/RS/autoconf, `ip tunnel change` to the local address, and the
      // router's LAN address as a /128 on it.
      handsit: {
        apply: () =>
          reg.must([
            "sh",
            "-ec",
            `ip -n ${hand.ns} link del 6to4pmt0
ip -n ${hand.ns} link add name 6to4pmt0 type sit local 0.0.0.1 remote any ttl 64
ip -n ${hand.ns} link set dev 6to4pmt0 addrgenmode none
${sitSysctls(hand.ns, "6to4pmt0", ["0", "0", "0"])}
ip -n ${hand.ns} tunnel change 6to4pmt0 mode sit local ${hand.wanIpv4} remote any ttl 64
ip -n ${hand.ns} -b - <<'EOF'
link set dev 6to4pmt0 mtu 1480 up
route replace ::/0 via ::192.88.99.1 dev 6to4pmt0 onlink
route replace 2002::/16 dev 6to4pmt0
addr add ${handRouterAddress} dev 6to4pmt0 nodad
EOF`,
          ]),
        revert: () => reg.must(["sh", "-ec", `ip -n ${hand.ns} link del 6to4pmt0\n${handIp}`]),
      },
      // The hand-made one plus a copy of our `ip sixto4pmt` table (the RFC 3964 checks on
      // incoming protocol 41), its addresses made the hand-made CPE's.
      handip: {
        apply: () => {
          const own = nftOut(c.ns, "list", "table", "ip", "sixto4pmt");
          const hex = (v4: string) =>
            v4
              .split(".")
              .map((x) => Number(x).toString(16).padStart(2, "0"))
              .join("");
          const text = own
            .replaceAll(c.wanIpv4, hand.wanIpv4)
            .replaceAll(`0x2002${hex(c.wanIpv4)}`, `0x2002${hex(hand.wanIpv4)}`)
            .replaceAll(`0x${hex(c.wanIpv4)}`, `0x${hex(hand.wanIpv4)}`)
            .replace("table ip sixto4pmt", "table ip handx");
          nftIn(hand.ns, text);
        },
        revert: () => nftIn(hand.ns, "delete table ip handx\n"),
      },
      // Our chains without their fast accepts (the first rules of decap4 and encap): every
      // packet then meets each check in turn, as the drops' order has it.
      nofast: {
        // The fast block of each chain: its leading rules up to the last accept (encap's has
        // its own-/48-to-own-/48 drop between its two accepts), removed in one go.
        apply: () => {
          fastRules = [];
          for (const [family, chain] of [
            ["ip", "decap4"],
            ["ip6", "encap"],
          ] as const) {
            const rules = ruleLines(nftList(c.ns, chain, family));
            const last = rules.map((m) => / accept$/.test(m[1]!)).lastIndexOf(true);
            for (const m of rules.slice(0, last + 1)) {
              fastRules.push(`insert rule ${family} sixto4pmt ${chain} ${m[1]}`);
              nftIn(c.ns, `delete rule ${family} sixto4pmt ${chain} handle ${m[2]}\n`);
            }
          }
          if (fastRules.length === 0) throw new Error("nofast: no fast accept found");
        },
        // `insert` at the head, last first, so they come back in their order.
        revert: () => nftIn(c.ns, [...fastRules].reverse().join("\n") + "\n"),
      },
      // encap's fast accepts as they were before they were written with inline compares only:
      // one rule, a 48-bit load and an interval-set lookup (a before/after in one run).
      oldfast: {
        apply: () => {
          const listing = nftList(c.ns, "encap");
          const fast = ruleLines(listing).slice(0, 3);
          const inv = /ip6 daddr \{ ([^}]*) \} counter name "drop_ipv6_dst_6to4_invalid_ipv4"/.exec(
            listing,
          )?.[1];
          if (
            fast.length < 3 ||
            !/accept$/.test(fast[0]![1]!) ||
            !/accept$/.test(fast[2]![1]!) ||
            !inv
          )
            throw new Error(`oldfast: encap not as expected:\n${listing}`);
          oldFast = fast.map((m) => m[1]!);
          nftIn(
            c.ns,
            fast.map((m) => `delete rule ip6 sixto4pmt encap handle ${m[2]}\n`).join("") +
              `insert rule ip6 sixto4pmt encap ip6 saddr ${own48} ip6 daddr != ` +
              `{ ::/16, fe80::/9, ff00::/8, ${own48}, ${inv} } accept\n`,
          );
        },
        revert: () => {
          const first = ruleLines(nftList(c.ns, "encap"))[0]![2];
          nftIn(
            c.ns,
            `delete rule ip6 sixto4pmt encap handle ${first}\n` +
              [...oldFast]
                .reverse()
                .map((r) => `insert rule ip6 sixto4pmt encap ${r}\n`)
                .join(""),
          );
        },
      },
      // Our CPE set up by hand (reversible): the daemon stopped, its tables and sit taken away
      // and the hand-made set-up put in their place; back to the daemon's own (the same
      // commands it runs, its tables as they were) at the end of the pair. Against `made` in the
      // same run this is ours against the hand-made set-up on the same CPE: no asymmetry of the
      // two CPEs' places in the topology is in it.
      ashand: {
        apply: () => {
          for (const pid of [cpe.pid, ...children()]) process.kill(pid, "SIGSTOP");
          const x = (argv: string[]) => reg.must(["ip", "netns", "exec", c.ns, ...argv]);
          saved = {
            nft: ["ip", "ip6"].map((f) => x(["nft", "list", "table", f, "sixto4pmt"])).join("\n"),
            routes: x(["ip", "-6", "route", "show", "dev", sit!])
              .split("\n")
              .filter((l) => l.trim() !== "" && !/proto kernel/.test(l)),
            addrs: [
              ...x(["ip", "-6", "-o", "addr", "show", "dev", sit!, "scope", "global"]).matchAll(
                /inet6 (\S+)/g,
              ),
            ].map((m) => m[1]!),
          };
          ourToHand();
        },
        revert: () => {
          const d = sit!;
          reg.must([
            "sh",
            "-ec",
            `ip netns exec ${c.ns} nft delete table ip6 hand
ip -n ${c.ns} link del ${d}
ip -n ${c.ns} link add name ${d} type sit local 0.0.0.1 remote any ttl 64
ip -n ${c.ns} link set dev ${d} addrgenmode none
${sitSysctls(c.ns, d, ["0", "0", "0"])}
ip -n ${c.ns} tunnel change ${d} mode sit local ${c.wanIpv4} remote any ttl 64
ip netns exec ${c.ns} nft -f - <<'EOF'
${saved!.nft}
EOF
ip -n ${c.ns} link set dev ${d} mtu 1480 up
${saved!.routes.map((r) => `ip -n ${c.ns} -6 route replace ${r} dev ${d}`).join("\n")}
${saved!.addrs.map((a) => `ip -n ${c.ns} -6 addr replace ${a} dev ${d} nodad`).join("\n")}`,
          ]);
          for (const pid of [cpe.pid, ...children()]) process.kill(pid, "SIGCONT");
        },
      },
      // A/A (terminal): the daemon killed, its set-up removed and the hand-made one put in its
      // place, so that both CPEs are set up alike: what is left is the topology's own asymmetry.
      aa: {
        apply: async () => {
          const kids = children();
          reg.kill(cpe, "SIGKILL");
          for (const pid of kids) process.kill(pid, "SIGKILL");
          await cpe.exited;
          ourToHand();
        },
      },
    };
    /** The set-ups' sit device in `ns` (the first sit that is not the fallback sit0). */
    const sitOf = (ns: string): string => {
      const d = reg
        .must(["ip", "-n", ns, "-o", "link", "show", "type", "sit"])
        .split("\n")
        .map((l) => /^\d+: ([^:@]+)/.exec(l)?.[1])
        .find((n) => n !== undefined && n !== "sit0");
      if (d === undefined) throw new Error(`no sit in ${ns}`);
      return d;
    };
    /** Packets the sit sent (received, with PMT_BENCH_REVERSE: the site sends). */
    const sitPackets = (ns: string, dev: string): number => {
      const j = JSON.parse(reg.must(["ip", "-n", ns, "-s", "-j", "link", "show", "dev", dev])) as {
        stats64: { tx: { packets: number }; rx: { packets: number } };
      }[];
      return REVERSE ? j[0]!.stats64.rx.packets : j[0]!.stats64.tx.packets;
    };
    /** PMT_BENCH_PROFILE: per-packet function hits of each set-up, PROFILE_ROUNDS times over. */
    const profile = async (setups: string[]) => {
      const tw = (f: string, v: string) => writeFileSync(`${TRACING}/${f}`, v);
      if (!existsSync(`${TRACING}/trace`)) reg.must(["mount", "-t", "tracefs", "nodev", TRACING]);
      tw("tracing_on", "0");
      tw("current_tracer", "nop");
      tw("set_ftrace_filter", PROFILE_FILTER);
      tw("buffer_size_kb", process.env.PMT_BENCH_TRACE_KB ?? "131072");
      tw("trace_options", "noprint-parent");
      tw("current_tracer", "function");
      tw("tracing_on", "0");
      const pps = Number(process.env.PMT_BENCH_PPS ?? "1000");
      const runs: Record<string, unknown>[] = [];
      for (let round = 0; round < PROFILE_ROUNDS; round++) {
        for (const setup of setups) {
          const via = HAND_SIDE.has(setup) ? hand : c;
          const v = setup === "made" || setup === "hand" ? undefined : variants[setup];
          if (setup !== "made" && setup !== "hand" && v === undefined)
            throw new Error(`BENCH_PROFILE: no set-up ${setup}`);
          if (v) await v.apply();
          try {
            const dev = sitOf(via.ns);
            const p = port++;
            const srv = await startIperfServer(reg, site, SITE_HOST, p);
            tw("trace", "");
            const tx0 = sitPackets(via.ns, dev);
            const t0 = Date.now();
            tw("tracing_on", "1");
            const r = await reg.execAsync(
              via.lanNs,
              ["iperf3", "-6", "-c", SITE_HOST, "-p", String(p), "-u", "-l", "64"].concat([
                "-n",
                String(PROFILE_PACKETS * 64),
                "-b",
                String(pps * 64 * 8),
                "-J",
                ...(REVERSE ? ["-R"] : []),
              ]),
              PROFILE_PACKETS * 50 + 120_000,
            );
            tw("tracing_on", "0");
            const wallS = (Date.now() - t0) / 1000;
            const tx = sitPackets(via.ns, dev) - tx0;
            await reg.waitFor(() => srv.hasExited(), 10_000);
            const j = JSON.parse(r.stdout || "{}") as {
              end?: { sum?: { packets?: number; lost_packets?: number } };
            };
            const counts: Record<string, number> = {};
            const perCpu: { events: number; overrun: number; dropped: number }[] = [];
            for (const cpu of readdirSync(`${TRACING}/per_cpu`).sort()) {
              const stats = readFileSync(`${TRACING}/per_cpu/${cpu}/stats`, "utf8");
              const num = (k: string) =>
                Number(new RegExp(`^${k}: (\\d+)`, "m").exec(stats)?.[1] ?? 0);
              perCpu.push({
                events: countTrace(`${TRACING}/per_cpu/${cpu}/trace`, counts),
                overrun: num("overrun"),
                dropped: num("dropped events"),
              });
            }
            runs.push({
              setup,
              round,
              sit: `${via.ns} ${dev}`,
              sitTx: tx,
              sent: j.end?.sum?.packets ?? null,
              lost: j.end?.sum?.lost_packets ?? null,
              wallS,
              perCpu,
              counts,
            });
          } finally {
            if (v?.revert) v.revert();
          }
        }
      }
      tw("current_tracer", "nop");
      tw("buffer_size_kb", "1");
      return { packets: PROFILE_PACKETS, pps, filter: PROFILE_FILTER, runs };
    };
    if (PROFILE !== "") {
      out.profile = await profile(PROFILE.split(","));
      reg.kill(cpe, "SIGTERM");
      await cpe.exited;
      return out;
    }
    const schedule = AB === "" ? ["made"] : AB.split(",");
    if (!schedule.includes("made")) schedule.unshift("made");
    for (const v of schedule) {
      if (v !== "made" && variants[v] === undefined) throw new Error(`BENCH_AB: no variant ${v}`);
    }
    let variant = "made";
    for (let round = 0; round < ROUNDS; round++) {
      const want = schedule[Math.floor(round / 2) % schedule.length]!;
      if (want !== variant && (variant === "made" || variants[variant]!.revert)) {
        if (variant !== "made") variants[variant]!.revert!();
        if (want !== "made") await variants[want]!.apply();
        variant = want;
      }
      const r: Record<string, unknown> = { oursFirst: round % 2 === 0, variant };
      if (TOGETHER) {
        // Both UDP64 floods at once (the first started first): whatever slows the host slows both.
        await new Promise((res) => setTimeout(res, 1000));
        const first = round % 2 === 0 ? c.lanNs : hand.lanNs;
        const second = round % 2 === 0 ? hand.lanNs : c.lanNs;
        const [a, b] = await Promise.all([
          iperf(first, true, SECONDS),
          iperf(second, true, SECONDS),
        ]);
        const [o, h] = round % 2 === 0 ? [a, b] : [b, a];
        r.ours = udpOnly(o);
        r.hand = udpOnly(h);
      } else if (round % 2 === 0) {
        r.ours = await measure(c.lanNs);
        r.hand = await measure(hand.lanNs);
      } else {
        r.hand = await measure(hand.lanNs);
        r.ours = await measure(c.lanNs);
      }
      (out.rounds as unknown[]).push(r);
    }
    out.cpeLog = cpe.stderr().slice(-1500);
    if (variant === "stop" || variant === "ashand") variants[variant]!.revert!();
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
