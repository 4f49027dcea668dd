/**
 * The topology both kernel-path VM scripts build (test/vm/cpe-kernel-path.vm.ts and
 * test/vm/kernel-path-bench.vm.ts): the lab's (one PMT CPE, the carrier, a relay namespace, the
 * server) plus a plain Linux sit 6to4 site on the carrier, the interop peer and the bench's
 * iperf3 server:
 *
 *   lan -- cpe == isp == relay -- inet (server 3fff:100::1)
 *                        \== site (plain sit 6to4, 100.64.9.2, host 2002:6440:902:1::1)
 *   lan -- cpe2 ==/  (with `second`: a CPE of the same shape, for the bench's hand-made setup)
 */
import type { NetnsRegistry } from "../support/netns.js";
import { buildLabTopology, type LabCpe, type LabTopology } from "../../module/lab/topology.js";

export const SITE_V4 = "100.64.9.2";
/** The site's host address (on its lo), inside 2002:SITE_V4::/48. */
export const SITE_HOST = "2002:6440:902:1::1";

export interface KernelPathTopology {
  readonly t: LabTopology;
  /** The CPE (PMT: provider prefix mapped). */
  readonly c: LabCpe;
  /** The second CPE (PMT too), when asked for; its namespace gets no daemon. */
  readonly c2: LabCpe | null;
  /** The plain sit 6to4 site's namespace. */
  readonly site: string;
}

/** Loads the modules the kernel path needs and builds the topology above. */
export function buildKernelPathTopology(
  reg: NetnsRegistry,
  options: { second?: boolean } = {},
): KernelPathTopology {
  for (const m of ["sit", "nft_nat", "nft_chain_nat", "veth"]) reg.run(["modprobe", m]);
  const cpes = [{ index: 0, pmt: true }];
  if (options.second === true) cpes.push({ index: 1, pmt: true });
  const t = buildLabTopology(reg, { cpes });
  const site = reg.createNamespace("site", { forwarding: true });
  reg.veth(t.isp, "site0", site, "wan0");
  reg.addr(t.isp, "site0", "100.64.9.1/24");
  reg.addr(site, "wan0", `${SITE_V4}/24`);
  reg.route(site, "default via 100.64.9.1");
  reg.must([
    "sh",
    "-ec",
    `ip -n ${site} -b - <<'EOF'
tunnel add tun6to4 mode sit remote any local ${SITE_V4} ttl 64
link set tun6to4 up
addr add 2002:6440:902::1/16 dev tun6to4
addr add ${SITE_HOST}/128 dev lo
EOF`,
  ]);
  return { t, c: t.cpes[0]!, c2: t.cpes[1] ?? null, site };
}
