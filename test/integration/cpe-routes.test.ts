/**
 * The CPE's routes into its TUN (root, network namespaces): ::/0 and 2002::/16 via the TUN exist
 * exactly while the data plane forwards. In `no-wan` and `refused` they are withdrawn (a route
 * into a TUN whose data plane drops everything blackholes the router's own IPv6), and they come
 * back when it forwards again. A route the kernel refuses ("Nexthop device is not up") is retried
 * until it holds, and status does not say `running` meanwhile.
 *
 *   cpe (wan0: none / 100.64.0.2 / 192.0.2.1, lan0 dummy) ---- isp (100.64.0.1, 192.0.2.254)
 */
import assert from "node:assert/strict";
import { after, before, describe, test } from "node:test";
import { queryStatusSocket } from "../../module/status/server.js";
import type { StatusSnapshot } from "../../module/status/snapshot.js";
import { NetnsRegistry, netnsSkipReason, type NsProcess } from "../support/netns.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { buildCpeIsp } from "../support/cpe-isp.js";

const TUN = "pmtrt0";

describe(
  "CPE routes into the TUN follow forwarding",
  { skip: netnsSkipReason(), timeout: 120_000 },
  () => {
    const reg = new NetnsRegistry();
    const sock = `/tmp/6to4-pmt-${process.pid}-routes.sock`;
    const stateFile = `/tmp/6to4-pmt-${process.pid}-routes.state.json`;
    let cpe = "";
    let p: NsProcess | undefined;

    before(() => {
      ({ cpe } = buildCpeIsp(
        reg,
        { cpe: "cpe", isp: "isp" },
        { ispAddresses: ["100.64.0.1/24", "192.0.2.254/24"] },
      ));
      reg.removeOnCleanup(sock);
      reg.removeOnCleanup(stateFile);
    });
    after(async () => {
      await reg.cleanup();
    });

    /** The managed routes via the TUN present now ("default", "2002::/16"). */
    function tunRoutes(): string[] {
      const r = reg.exec(cpe, ["ip", "-6", "route", "show", "dev", TUN]);
      return r.stdout
        .split("\n")
        .filter((l) => l.trim() !== "")
        .map((l) => l.split(" ")[0]!)
        .filter((w) => w === "default" || w === "2002::/16");
    }

    async function status(): Promise<StatusSnapshot | null> {
      try {
        return (await queryStatusSocket(sock)) as StatusSnapshot;
      } catch {
        return null;
      }
    }

    /** Polls status until `pred` holds (bounded); returns the last snapshot. */
    async function waitStatus(
      pred: (s: StatusSnapshot) => boolean,
      timeoutMs = 20_000,
    ): Promise<StatusSnapshot | null> {
      const deadline = Date.now() + timeoutMs;
      let s: StatusSnapshot | null = null;
      while (Date.now() < deadline) {
        s = await status();
        if (s !== null && pred(s)) return s;
        await new Promise((r) => setTimeout(r, 100));
      }
      return s;
    }

    test("withdrawn in no-wan and refused, installed while running, retried until it holds", async () => {
      p = reg.spawn(cpe, [
        ...daemonCommand(),
        "cpe",
        "--enabled",
        "--wan-device",
        "wan0",
        "--lan-device",
        "lan0",
        "--tun-name",
        TUN,
        "--ra",
        "off",
        "--use-dhcp-6rd",
        "0",
        "--health-interval",
        "3600",
        "--state-file",
        stateFile,
        "--status-socket",
        sock,
        "--log-level",
        "debug",
      ]);
      const log = (): string => p!.stderr();

      let s = await waitStatus((x) => x.state === "no-wan");
      assert.equal(s?.state, "no-wan", log());
      assert.deepEqual(tunRoutes(), [], "no-wan: no route via the TUN");

      reg.addr(cpe, "wan0", "100.64.0.2/24");
      s = await waitStatus((x) => x.state === "refused");
      assert.equal(s?.state, "refused", log());
      assert.deepEqual(tunRoutes(), [], "refused: no route via the TUN");

      reg.must(["ip", "-n", cpe, "addr", "del", "100.64.0.2/24", "dev", "wan0"]);
      reg.addr(cpe, "wan0", "192.0.2.1/24");
      s = await waitStatus((x) => x.state === "running");
      assert.equal(s?.state, "running", log());
      assert.ok(
        await reg.waitFor(
          () => tunRoutes().includes("default") && tunRoutes().includes("2002::/16"),
          5000,
        ),
        `running: routes ${tunRoutes().join(",")}\n${log()}`,
      );
      assert.deepEqual(
        s!.tunRoutes?.map((r) => [r.prefix, r.installed]),
        [
          ["::/0", true],
          ["2002::/16", true],
        ],
      );

      reg.must(["ip", "-n", cpe, "addr", "flush", "dev", "wan0"]);
      s = await waitStatus((x) => x.state === "no-wan");
      assert.equal(s?.state, "no-wan", log());
      assert.ok(
        await reg.waitFor(() => tunRoutes().length === 0, 5000),
        `no-wan again: routes ${tunRoutes().join(",")}`,
      );

      // The kernel refuses a route into a device that is down: retried, and not `running` meanwhile.
      reg.must(["ip", "-n", cpe, "link", "set", TUN, "down"]);
      reg.addr(cpe, "wan0", "192.0.2.1/24");
      s = await waitStatus((x) => /Nexthop device is not up/.test(x.stateReason ?? ""));
      assert.equal(s?.state, "starting", `${JSON.stringify(s)}\n${log()}`);
      assert.match(
        s!.stateReason ?? "",
        /route ::\/0 dev pmtrt0 missing: .*Nexthop device is not up/,
      );
      assert.equal(s!.tunRoutes?.[0]?.installed, false);
      reg.must(["ip", "-n", cpe, "link", "set", TUN, "up"]);
      s = await waitStatus((x) => x.state === "running");
      assert.equal(s?.state, "running", log());
      assert.ok(tunRoutes().includes("default") && tunRoutes().includes("2002::/16"), log());

      assert.equal(await reg.stop(p, 5000), 0, log());
    });
  },
);
