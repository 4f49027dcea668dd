/**
 * control/wan-gro.ts groChain: which devices `wan_gro` changes under a WAN device. WanGroFeatures
 * itself is tested through cpe-control.test.ts (fake features) and wan-gro integration tests.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { groChain } from "../../../module/control/wan-gro.js";

test("groChain: down single lower devices (VLAN, QinQ, macvlan), not into a bond; no loops; bounded", () => {
  const table = new Map<string, string[]>([
    ["eth0.2", ["eth0"]],
    ["eth0.10.20", ["eth0.10"]],
    ["eth0.10", ["eth0"]],
    ["bond0.7", ["bond0"]],
    ["bond0", ["eth1", "eth2"]],
    ["a", ["b"]],
    ["b", ["a"]],
  ]);
  const lowers = (d: string): string[] => table.get(d) ?? [];
  assert.deepEqual(groChain("eth1", lowers), ["eth1"]);
  assert.deepEqual(groChain("eth0.2", lowers), ["eth0.2", "eth0"]);
  assert.deepEqual(groChain("eth0.10.20", lowers), ["eth0.10.20", "eth0.10", "eth0"]);
  assert.deepEqual(
    groChain("bond0.7", lowers),
    ["bond0.7", "bond0"],
    "a bond's members: not ours to pick",
  );
  assert.deepEqual(groChain("a", lowers), ["a", "b"], "a loop ends");
  const deep = (d: string): string[] => [`${d}x`];
  assert.equal(groChain("d", deep).length, 5, "at most 4 below the device");
});
