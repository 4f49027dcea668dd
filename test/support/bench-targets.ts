/**
 * Issue 3's benchmark targets, judged for one bench run (bench only): TCP throughput of ours at
 * least 1.5 × Tayga's, 64-byte UDP rate at least 1.1 × (as the iperf3 server read it), CPU per
 * packet of each daemon at most 2.5 µs (as the kernel charged it, and its own share without the
 * softirq work of other namespaces when that was traced), RSS at most 50 MB per daemon, and no
 * growth over the run (anonymous RSS at the end at most 1 MB above the start: the daemons' young
 * generation alone may swing by its 1 MB semi-space).
 */

export const TARGET_TCP_OURS_TAYGA = 1.5;
export const TARGET_UDP64_OURS_TAYGA = 1.1;
export const TARGET_CPU_US = 2.5;
export const TARGET_RSS_MB = 50;
export const TARGET_ANON_GROWTH_MB = 1;

export interface TargetInput {
  tcpOursTayga: number;
  udp64OursTayga: number;
  /** CPU µs per packet per daemon, as charged. */
  cpuUs: Record<string, number>;
  /** The same without traced softirq work (NaN when not traced). */
  ownUs: Record<string, number>;
  /** [start, end] per daemon. */
  rssMb: Record<string, [number, number]>;
  anonMb: Record<string, [number, number]>;
}

/** One judged figure: its value and whether it met the target (null: not measured). */
export type Judged = [value: number, met: boolean | null];

export interface TargetVerdicts {
  tcp_ours_tayga: Judged;
  udp64_ours_tayga: Judged;
  cpu_us: Record<string, Judged>;
  cpu_own_us: Record<string, Judged>;
  rss_end_mb: Record<string, Judged>;
  anon_growth_mb: Record<string, Judged>;
  /** Every measured figure met its target, with CPU as charged / as its own share. */
  all_met_charged: boolean;
  all_met_own: boolean;
}

function judge(value: number, ok: (v: number) => boolean): Judged {
  return [value, Number.isFinite(value) ? ok(value) : null];
}

function per<T>(r: Record<string, T>, f: (v: T) => Judged): Record<string, Judged> {
  return Object.fromEntries(Object.entries(r).map(([k, v]) => [k, f(v)]));
}

export function targetVerdicts(i: TargetInput): TargetVerdicts {
  const tcp = judge(i.tcpOursTayga, (v) => v >= TARGET_TCP_OURS_TAYGA);
  const udp = judge(i.udp64OursTayga, (v) => v >= TARGET_UDP64_OURS_TAYGA);
  const cpu = per(i.cpuUs, (v) => judge(v, (x) => x <= TARGET_CPU_US));
  const own = per(i.ownUs, (v) => judge(v, (x) => x <= TARGET_CPU_US));
  const rss = per(i.rssMb, ([, end]) => judge(end, (x) => x <= TARGET_RSS_MB));
  const anon = per(i.anonMb, ([a, b]) => judge(b - a, (x) => x <= TARGET_ANON_GROWTH_MB));
  const met = (js: Judged[]): boolean => js.length > 0 && js.every(([, m]) => m === true);
  const rest = [tcp, udp, ...Object.values(rss), ...Object.values(anon)];
  return {
    tcp_ours_tayga: tcp,
    udp64_ours_tayga: udp,
    cpu_us: cpu,
    cpu_own_us: own,
    rss_end_mb: rss,
    anon_growth_mb: anon,
    all_met_charged: met([...rest, ...Object.values(cpu)]),
    all_met_own: met([...rest, ...Object.values(own)]),
  };
}

/** One line for the bench's output. */
export function formatTargets(v: TargetVerdicts): string {
  const word = ([, m]: Judged): string => (m === null ? "not measured" : m ? "met" : "MISSED");
  const one = (j: Judged, d = 2): string =>
    `${Number.isFinite(j[0]) ? j[0].toFixed(d) : "-"} ${word(j)}`;
  const each = (r: Record<string, Judged>, d = 2, sign = false): string =>
    Object.entries(r)
      .map(([k, j]) => `${k} ${sign && j[0] >= 0 ? "+" : ""}${one(j, d)}`)
      .join(", ");
  return (
    `targets: TCP ours/tayga >= ${TARGET_TCP_OURS_TAYGA}: ${one(v.tcp_ours_tayga)}; ` +
    `UDP64 ours/tayga >= ${TARGET_UDP64_OURS_TAYGA}: ${one(v.udp64_ours_tayga)}; ` +
    `CPU µs/pkt <= ${TARGET_CPU_US} as charged: ${each(v.cpu_us)}, own: ${each(v.cpu_own_us)}; ` +
    `RSS MB <= ${TARGET_RSS_MB}: ${each(v.rss_end_mb, 1)}; ` +
    `anon RSS growth MB <= ${TARGET_ANON_GROWTH_MB}: ${each(v.anon_growth_mb, 1, true)}; ` +
    `all met: ${v.all_met_charged ? "yes" : "no"} (CPU as charged), ${v.all_met_own ? "yes" : "no"} (own CPU)`
  );
}
