/**
 * control/packet-path-fanout.ts: one relay `wan_send packet` resolver drives every worker's
 * AF_PACKET path: one route dump per resolve whatever the number of workers, the same next hop
 * on every worker's path, an unchanged next hop not sent again, a worker's failed send resolved
 * again for all, packets summed over the workers.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import {
  FanOutPacketPath,
  applyPacketPathCommand,
  type PacketPathCommand,
  type PacketPathTarget,
} from "../../../module/control/packet-path-fanout.js";
import { RelayWanSend } from "../../../module/control/relay-wan-send.js";
import { NUD_REACHABLE, RESOLVE_INTERVAL_MS } from "../../../module/control/wan-next-hop.js";
import type { PacketSendPath } from "../../../module/io/ports.js";
import { createLogger } from "../../../module/log/logger.js";
import { FakeClock } from "../../support/fake-clock.js";

const ip = (s: string): number => parseIpv4(s)!;
const GW = ip("192.0.2.1");
const MAC = Uint8Array.from([2, 0, 0x5e, 0, 0, 1]);
const MAC2 = Uint8Array.from([2, 0, 0x5e, 0, 0, 2]);

/** A worker's own path: what was applied to it, in order. */
class WorkerPath implements PacketSendPath {
  active = false;
  packets = 0;
  applied: string[] = [];
  intervals: number[] = [];
  mac = "";
  failure: ((code: string) => void) | undefined;
  set(dst: number, ifindex: number, lladdr: Uint8Array): void {
    this.active = true;
    this.mac = Buffer.from(lladdr).toString("hex");
    this.applied.push(`set ${dst} ${ifindex}`);
  }
  setIntervals(iv: Uint32Array, ifindex: number, lladdr: Uint8Array): void {
    this.active = true;
    this.intervals = Array.from(iv);
    this.mac = Buffer.from(lladdr).toString("hex");
    this.applied.push(`intervals ${iv.length / 2} ${ifindex}`);
  }
  clear(): void {
    this.active = false;
    this.applied.push("clear");
  }
  rawOnce(): void {
    this.applied.push("rawOnce");
  }
  onFailure(h: (code: string) => void): void {
    this.failure = h;
  }
}

/**
 * `n` workers whose commands cross a structured clone (as postMessage does), applied to their
 * own paths.
 */
function workers(n: number): { paths: WorkerPath[]; targets: PacketPathTarget[] } {
  const paths = Array.from({ length: n }, () => new WorkerPath());
  const targets = paths.map((p) => ({
    send: (c: PacketPathCommand) => applyPacketPathCommand(p, structuredClone(c)),
    packets: () => p.packets,
  }));
  return { paths, targets };
}

/** The routeDump4 answer of a main table with a default route via GW on ifindex 2. */
const TABLE = Uint32Array.from([0, 0, 254, 1, 2, GW, 0]);

function resolver(fan: FanOutPacketPath) {
  const clock = new FakeClock(0);
  const counts = { dumps: 0, lookups: 0 };
  const hop = { mac: MAC };
  const r = new RelayWanSend({
    path: fan,
    dump: (_max, _ranges, done) => {
      counts.dumps++;
      done(null, TABLE, TABLE.length / 7);
    },
    lookup: () => {
      counts.lookups++;
      return {
        type: 1,
        oif: 2,
        ifname: "wan0",
        addrLen: 6,
        gateway: GW,
        neighState: NUD_REACHABLE,
        lladdr: hop.mac,
      };
    },
    neighUse: () => undefined,
    ranges: [parseIpv4Prefix("100.64.0.0/10")!],
    clock,
    log: createLogger("error"),
  });
  return { r, clock, counts, hop };
}

test("one resolve for every worker: one dump, the same intervals on each worker's path", () => {
  const { paths, targets } = workers(3);
  const fan = new FanOutPacketPath(targets);
  const { r, clock, counts } = resolver(fan);
  r.start();
  assert.equal(counts.dumps, 1);
  assert.equal(counts.lookups, 1);
  assert.equal(fan.active, true);
  for (const p of paths) {
    assert.deepEqual(p.applied, ["intervals 1 2"]);
    assert.deepEqual(p.intervals, [ip("100.64.0.0"), ip("100.127.255.255")]);
    assert.equal(p.mac, Buffer.from(MAC).toString("hex"));
  }
  // The periodic resolve: one dump again, nothing sent while the next hop is the same.
  clock.advance(RESOLVE_INTERVAL_MS);
  assert.equal(counts.dumps, 2);
  for (const p of paths) assert.deepEqual(p.applied, ["intervals 1 2"]);
  r.stop();
  for (const p of paths) assert.deepEqual(p.applied, ["intervals 1 2", "clear"]);
});

test("a changed next hop goes to every worker", () => {
  const { paths, targets } = workers(2);
  const fan = new FanOutPacketPath(targets);
  const { r, hop } = resolver(fan);
  r.start();
  hop.mac = MAC2;
  const s = r.resolve();
  assert.equal(s.nextHopChanges, 1);
  for (const p of paths) {
    assert.deepEqual(p.applied, ["intervals 1 2", "intervals 1 2"]);
    assert.equal(p.mac, Buffer.from(MAC2).toString("hex"));
  }
  r.stop();
});

test("a worker's failed send: counted once, resolved again, the next hop sent to all", () => {
  const { paths, targets } = workers(2);
  const fan = new FanOutPacketPath(targets);
  const { r, counts } = resolver(fan);
  r.start();
  // Worker 2's send failed: its path cleared itself and the worker reports the code.
  paths[1]!.active = false;
  fan.failed("ENETDOWN");
  assert.equal(counts.dumps, 2);
  assert.equal(r.status().fallbacks, 1);
  assert.equal(r.status().active, "packet");
  for (const p of paths) {
    assert.deepEqual(p.applied, ["intervals 1 2", "intervals 1 2"]);
    assert.equal(p.active, true);
  }
  r.stop();
});

test("packets are the workers' sum; no next hop clears every worker", () => {
  const { paths, targets } = workers(2);
  const fan = new FanOutPacketPath(targets);
  paths[0]!.packets = 5;
  paths[1]!.packets = 7;
  assert.equal(fan.packets, 12);
  fan.set(ip("192.0.2.9"), 3, MAC);
  fan.rawOnce();
  fan.clear();
  assert.equal(fan.active, false);
  for (const p of paths)
    assert.deepEqual(p.applied, [`set ${ip("192.0.2.9")} 3`, "rawOnce", "clear"]);
  // After a clear the same next hop is sent again.
  fan.set(ip("192.0.2.9"), 3, MAC);
  assert.equal(paths[0]!.applied.length, 4);
});
