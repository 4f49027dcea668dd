/**
 * The kernel's change events that `wan_send packet` resolves on (native/packet.c
 * openRouteEvents and routeEvents through io/linux.ts watchRouteEvents), in namespaces named per
 * run: an IPv4 route change reports ROUTE when its prefix meets the ranges that matter (or when
 * no ranges are given), an IPv6 one never, an IPv4 address and a new device always, a bridge
 * port's state never; an IPv4 neighbour change
 * reports NEIGH on the watched device only (0: any); a burst larger than the socket's buffer,
 * read by nobody meanwhile, reports LOST and the watch goes on; closing releases the socket.
 *
 * Each check ends with a marker change of the other kind and waits for it: netlink keeps the
 * order of one socket's messages, so whatever the change under test reported has been read by
 * then.
 */
import { test } from "node:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import assert from "node:assert/strict";
import { inNetns, interfaceIndex, watchRouteEvents } from "../../module/io/linux.js";
import {
  ROUTE_EVENT_LOST,
  ROUTE_EVENT_NEIGH,
  ROUTE_EVENT_ROUTE,
  type RouteEventWatch,
} from "../../module/io/ports.js";
import {
  nativeSkipReason,
  nsPath,
  openFdCount,
  raw4VethPair,
  until,
} from "../support/native-fixtures.js";

const skip = nativeSkipReason();
const pair = raw4VethPair(skip, ["rea", "reb"], [], (p) => {
  p.reg.veth(p.a, "vc", p.b, "vd", 1500);
});
const reg = pair.reg;

test(
  "route and neighbour change events: what each reports, on which device",
  { skip },
  async () => {
    const a = pair.a;
    const va = inNetns(nsPath(a), () => interfaceIndex("va"));
    const fds = openFdCount();
    let masks: number[] = [];
    let device = va;
    // 198.51.100.0/24 matters; null: every route.
    let ranges: Uint32Array | null = Uint32Array.of(0xc6336400, 0xc63364ff);
    const seen = (bit: number): boolean => masks.some((m) => (m & bit) !== 0);
    const w: RouteEventWatch = inNetns(nsPath(a), () =>
      watchRouteEvents(
        (m) => masks.push(m),
        { neighIfindex: () => device, routeRanges: () => ranges },
        (e) => assert.fail(e),
      ),
    );
    const ip = (...args: string[]): void => void reg.must(["ip", "-n", a, ...args]);
    const neigh = (addr: string, dev: string): void =>
      ip("neigh", "replace", addr, "lladdr", "02:00:5e:00:53:01", "dev", dev, "nud", "permanent");
    /** Runs `change`, then a neighbour change on va as the marker; the masks up to it. */
    const thenMarker = async (change: () => void): Promise<number[]> => {
      masks = [];
      change();
      neigh("192.0.2.99", "va");
      ip("neigh", "del", "192.0.2.99", "dev", "va");
      assert.ok(await until(() => seen(ROUTE_EVENT_NEIGH)), "the marker");
      return masks;
    };
    const routeSeen = (m: number[]): boolean => m.some((x) => (x & ROUTE_EVENT_ROUTE) !== 0);
    try {
      for (const [route, counts] of [
        ["198.51.100.0/24", true], // the range itself
        ["198.51.100.7/32", true], // inside it
        ["0.0.0.0/0", true], // around it
        ["203.0.113.0/24", false], // elsewhere: BGP churn the resolver ignores
      ] as const) {
        const m = await thenMarker(() => ip("route", "add", route, "via", "192.0.2.2"));
        assert.equal(routeSeen(m), counts, `${route}: ${m.join(",")}`);
      }
      ranges = null;
      assert.ok(routeSeen(await thenMarker(() => ip("route", "del", "203.0.113.0/24"))), "any");
      ranges = Uint32Array.of();
      assert.ok(!routeSeen(await thenMarker(() => ip("route", "del", "0.0.0.0/0"))), "none");
      assert.ok(
        !routeSeen(
          await thenMarker(() => ip("-6", "route", "add", "2001:db8:1::/64", "dev", "va")),
        ),
        "IPv6 routes never count",
      );
      assert.ok(
        routeSeen(await thenMarker(() => ip("addr", "add", "192.0.2.77/24", "dev", "va"))),
        "an IPv4 address counts whatever the ranges",
      );
      assert.ok(
        routeSeen(await thenMarker(() => ip("link", "add", "br0", "type", "bridge"))),
        "a new device counts",
      );
      await thenMarker(() => ip("link", "set", "vc", "master", "br0"));
      assert.ok(
        !routeSeen(
          await thenMarker(() =>
            reg.must(["bridge", "-n", a, "link", "set", "dev", "vc", "cost", "7"]),
          ),
        ),
        "a bridge port's state (AF_BRIDGE) does not",
      );

      masks = [];
      neigh("192.0.2.10", "vc");
      ip("addr", "del", "192.0.2.77/24", "dev", "va");
      assert.ok(await until(() => seen(ROUTE_EVENT_ROUTE)));
      assert.ok(!seen(ROUTE_EVENT_NEIGH), `a neighbour on another device: ${masks.join(",")}`);

      masks = [];
      device = 0;
      neigh("192.0.2.11", "vc");
      assert.ok(await until(() => seen(ROUTE_EVENT_NEIGH)), "any device when 0");

      // 4000 routes while this thread is blocked (spawnSync): far more than the socket holds.
      masks = [];
      const file = join(mkdtempSync(join(tmpdir(), "pmt-route-events-")), "routes");
      writeFileSync(
        file,
        Array.from(
          { length: 4000 },
          (_, i) => `route add 100.${64 + (i >> 8)}.${i & 255}.0/24 via 192.0.2.2\n`,
        ).join(""),
      );
      try {
        reg.must(["ip", "-n", a, "-batch", file], 60_000);
      } finally {
        rmSync(dirname(file), { recursive: true, force: true });
      }
      assert.ok(await until(() => seen(ROUTE_EVENT_LOST)), `overrun: ${masks.join(",")}`);
      ranges = null;
      masks = [];
      ip("route", "add", "192.88.99.0/24", "via", "192.0.2.2");
      assert.ok(await until(() => seen(ROUTE_EVENT_ROUTE)), "the watch goes on after an overrun");
    } finally {
      w.close();
    }
    masks = [];
    ip("route", "del", "192.88.99.0/24");
    await new Promise((r) => setTimeout(r, 100));
    assert.deepEqual(masks, [], "closed: nothing more");
    assert.ok(await until(() => openFdCount() <= fds), "the socket is closed");
  },
);
