/**
 * The CPE puts back its own kernel state when something else removes it (root, network
 * namespaces, the real daemon, a real relay): netifd claiming the TUN, an admin's `ip addr flush`
 * or `ip link set down` would otherwise leave the LAN without IPv6 until the daemon restarts. Each
 * removal (TUN address flushed, ::/0 into the TUN deleted, TUN set down, LAN router address
 * deleted) is restored within a bounded time, counted as `kernel_restores` in status, and the LAN
 * host reaches the relay's 6to4 address through the tunnel again.
 *
 *   lan -- cpe (WAN 192.0.2.1, ra builtin) == isp == relay
 */
import assert from "node:assert/strict";
import { after, test } from "node:test";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import {
  buildControlLab,
  ipJson,
  lanAddresses,
  lanDefaultRoute,
  removeControlLabFiles,
  startCpe,
  startRelay,
  waitCpeUp,
  waitLoops,
  type ControlLab,
} from "../support/control-lab.js";
import { NetnsRegistry, netnsSkipReason, type NsProcess } from "../support/netns.js";

const TUN = "pmtkg0";
const reg = new NetnsRegistry();
let lab: ControlLab | undefined;
after(async () => {
  await reg.cleanup();
  removeControlLabFiles(lab);
});

test(
  "TUN address, ::/0 route, TUN link and LAN router address removed from outside: each restored, counted, traffic flows",
  { skip: netnsSkipReason(), timeout: 180_000 },
  async () => {
    const l = buildControlLab(reg, { staticWan: true });
    lab = l;
    const relay = startRelay(l);
    assert.ok(await waitLoops(l, relay), relay.stderr());
    const cpe: NsProcess = startCpe(l, [
      "--tun-name",
      TUN,
      "--health-interval",
      "1",
      "--health-failures",
      "3",
    ]);
    assert.ok(await waitCpeUp(l, cpe), cpe.stderr());
    const diag = (): string => `\ncpe:\n${cpe.stderr()}`;

    const status = async (): Promise<StatusSnapshot | null> => {
      try {
        return (await queryStatusSocket(l.statusSocket)) as StatusSnapshot;
      } catch {
        return null;
      }
    };
    const restores = async (): Promise<number> => (await status())?.counters?.kernel_restores ?? 0;

    /** Global addresses of `dev` in the cpe namespace, as "addr/len". */
    const globals = (dev: string): string[] =>
      ipJson<Array<{ addr_info?: Array<Record<string, unknown>> }>>(l, l.cpe, [
        "-6",
        "addr",
        "show",
        "dev",
        dev,
      ])
        .flatMap((x) => x.addr_info ?? [])
        .filter((a) => a.scope === "global")
        .map((a) => `${String(a.local)}/${String(a.prefixlen)}`);
    const tunRoutes = (): string[] =>
      reg
        .exec(l.cpe, ["ip", "-6", "route", "show", "dev", TUN])
        .stdout.split("\n")
        .map((x) => x.split(" ")[0]!)
        .filter((w) => w === "default" || w === "2002::/16");
    const tunUp = (): boolean =>
      (
        ipJson<Array<{ flags?: string[] }>>(l, l.cpe, ["link", "show", "dev", TUN])[0]?.flags ?? []
      ).includes("UP");

    /** The LAN host pings the relay's 6to4 address through the tunnel (bounded retries). */
    const pingRelay = async (): Promise<boolean> => {
      const deadline = Date.now() + 30_000;
      while (Date.now() < deadline) {
        const src = lanAddresses(l).find((a) => a.local.startsWith("2002:c000:201:0:"));
        if (src !== undefined && lanDefaultRoute(l) !== undefined) {
          const r = await reg.execAsync(
            l.lan,
            ["ping", "-6", "-n", "-c", "1", "-W", "1", "-I", src.local, "2002:c058:6301::"],
            10_000,
          );
          if (r.code === 0) return true;
        }
        await new Promise((res) => setTimeout(res, 250));
      }
      return false;
    };

    assert.ok(await pingRelay(), "no traffic through the tunnel before the test" + diag());
    const tunAddr = globals(TUN);
    const lanAddr = globals("lan0").filter((a) => a.endsWith("/64"));
    assert.equal(tunAddr.length, 1, JSON.stringify(tunAddr));
    assert.deepEqual(lanAddr, ["2002:c000:201::1/64"]);
    assert.deepEqual(tunRoutes().sort(), ["2002::/16", "default"]);
    assert.equal(await restores(), 0);

    const removals: Array<{ name: string; argv: string[]; back: () => boolean }> = [
      {
        name: "TUN address flushed",
        argv: ["ip", "addr", "flush", "dev", TUN],
        back: () => globals(TUN).includes(tunAddr[0]!),
      },
      {
        name: "::/0 into the TUN deleted",
        argv: ["ip", "-6", "route", "del", "::/0", "dev", TUN],
        back: () => tunRoutes().includes("default"),
      },
      {
        name: "TUN set down",
        argv: ["ip", "link", "set", TUN, "down"],
        back: () => tunUp() && globals(TUN).includes(tunAddr[0]!) && tunRoutes().length === 2,
      },
      {
        name: "LAN router address deleted",
        argv: ["ip", "-6", "addr", "del", lanAddr[0]!, "dev", "lan0"],
        back: () => globals("lan0").includes(lanAddr[0]!),
      },
    ];
    let expected = 0;
    for (const r of removals) {
      const before = await restores();
      reg.must(["ip", "netns", "exec", l.cpe, ...r.argv]);
      assert.ok(!r.back(), `${r.name}: not removed`);
      const t0 = Date.now();
      assert.ok(await reg.waitFor(r.back, 10_000, 50), `${r.name}: not restored` + diag());
      const tookMs = Date.now() - t0;
      const deadline = Date.now() + 5000;
      while ((await restores()) <= before && Date.now() < deadline) {
        await new Promise((res) => setTimeout(res, 50));
      }
      assert.ok((await restores()) > before, `${r.name}: kernel_restores not counted` + diag());
      expected++;
      console.log(`${r.name}: restored in ${tookMs} ms`);
    }
    assert.ok((await restores()) >= expected);
    assert.match(cpe.stderr(), /restored address .* dev pmtkg0: removed from outside the daemon/);
    assert.match(cpe.stderr(), /restored route ::\/0 dev pmtkg0/);
    assert.match(cpe.stderr(), /restored link pmtkg0 up/);
    assert.match(cpe.stderr(), /restored address 2002:c000:201::1\/64 dev lan0/);
    const s = await status();
    assert.equal(s?.state, "running", JSON.stringify(s?.stateReason) + diag());
    assert.ok(await pingRelay(), "no traffic through the tunnel after the restores" + diag());

    assert.equal(await reg.stop(cpe, 10_000), 0, cpe.stderr());
  },
);
