/**
 * BENCH_NAPI=threaded on real veths (root, network namespaces; skips with the reason otherwise):
 * the commands of support/bench-napi.ts give each end its own NAPI kernel thread, the packets a
 * namespace receives wake that thread (its receive work runs there, not on the sender's time),
 * and traffic still crosses.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { readFileSync } from "node:fs";
import { NetnsRegistry, netnsSkipReason, toolSkipReason } from "../support/netns.js";
import { threadNapi, vethNames } from "../support/bench-napi.js";
import { parseCtxSwitches } from "../support/bench-sched.js";

const skip = netnsSkipReason() ?? toolSkipReason("ethtool") ?? toolSkipReason("ping");

describe("threaded NAPI on the bench's veths", { skip, timeout: 60_000 }, () => {
  const reg = new NetnsRegistry();
  after(() => reg.cleanup());

  test("each end gets a NAPI thread that the packets it receives wake; ping crosses", () => {
    const a = reg.createNamespace("napi-a");
    const b = reg.createNamespace("napi-b");
    reg.veth(a, "a0", b, "b0");
    reg.addr(a, "a0", "198.51.100.1/24");
    reg.addr(b, "b0", "198.51.100.2/24");
    assert.deepEqual(vethNames(reg.must(["ip", "-n", b, "-o", "link", "show", "type", "veth"])), [
      "b0",
    ]);
    const threads = new Map<string, number>();
    for (const [ns, dev] of [
      [a, "a0"],
      [b, "b0"],
    ] as const) {
      // Without the commands the veth has no NAPI thread (softirq, the default).
      assert.equal(reg.exec(ns, ["cat", `/sys/class/net/${dev}/threaded`]).stdout.trim(), "0");
      const fresh = threadNapi((argv) => reg.must(["ip", "netns", "exec", ns, ...argv]), dev);
      assert.equal(reg.exec(ns, ["cat", `/sys/class/net/${dev}/threaded`]).stdout.trim(), "1");
      const k = reg.must(["ip", "netns", "exec", ns, "ethtool", "-k", dev]);
      assert.match(k, /^generic-receive-offload: on$/m);
      assert.match(k, /^tcp-segmentation-offload: off$/m);
      assert.equal(fresh.length, 1, `one new NAPI thread for ${dev}, got ${fresh.join(",")}`);
      const comm = readFileSync(`/proc/${fresh[0]}/comm`, "utf8").trim();
      assert.match(comm, new RegExp(`^napi/${dev}-\\d+$`));
      threads.set(dev, fresh[0]!);
    }
    const switches = (pid: number): number =>
      parseCtxSwitches(readFileSync(`/proc/${pid}/status`, "utf8"))[0];
    const b0 = switches(threads.get("b0")!);
    const a0 = switches(threads.get("a0")!);
    const ping = reg.exec(a, ["ping", "-c", "20", "-i", "0.02", "-W", "1", "198.51.100.2"]);
    assert.equal(ping.code, 0, ping.stdout + ping.stderr);
    assert.match(ping.stdout, / 20 received/);
    // Every echo request woke b0's thread, every reply a0's (it sleeps between pings).
    assert.ok(switches(threads.get("b0")!) - b0 >= 15, "b0's NAPI thread received the requests");
    assert.ok(switches(threads.get("a0")!) - a0 >= 15, "a0's NAPI thread received the replies");
  });
});
