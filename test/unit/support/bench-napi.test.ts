/**
 * The bench's receive-work option and its parsers (support/bench-napi.ts). The commands are
 * run against real veths in test/integration/bench-napi.test.ts.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  napiThreadPids,
  parseBenchNapi,
  threadedNapiCommands,
  vethNames,
} from "../../support/bench-napi.js";

test("parseBenchNapi: the given default (softirq without one), threaded or softirq on request, anything else names the variable", () => {
  assert.equal(parseBenchNapi(undefined), "softirq");
  assert.equal(parseBenchNapi(""), "softirq");
  assert.equal(parseBenchNapi("softirq"), "softirq");
  assert.equal(parseBenchNapi("threaded"), "threaded");
  assert.throws(
    () => parseBenchNapi("napi"),
    /^RangeError: BENCH_NAPI: expected softirq or threaded, got "napi"$/,
  );
  assert.throws(() => parseBenchNapi("Threaded"), RangeError);
  assert.equal(parseBenchNapi(undefined, "threaded"), "threaded");
  assert.equal(parseBenchNapi("", "threaded"), "threaded");
  assert.equal(parseBenchNapi("softirq", "threaded"), "softirq");
});

test("vethNames: the device of each `ip -o link` line, with or without a peer suffix", () => {
  const out = [
    "2: eth0@if3: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP mode DEFAULT group default qlen 1000\\    link/ether 8a:1c:00:00:00:01 brd ff:ff:ff:ff:ff:ff link-netns p1-k-router",
    "14: relay0@if13: <BROADCAST,MULTICAST,UP,LOWER_UP> mtu 1500 qdisc noqueue state UP",
    "7: veth9: <BROADCAST,MULTICAST> mtu 1500 qdisc noop state DOWN",
    "",
  ].join("\n");
  assert.deepEqual(vethNames(out), ["eth0", "relay0", "veth9"]);
  assert.deepEqual(vethNames(""), []);
});

test("napiThreadPids: only napi/<dev>-<id> kernel threads", () => {
  const ps = [
    "    1 systemd",
    " 6104 napi/vb-537",
    "   12 kworker/0:1-events",
    "  900 napi-helper",
    "77001 napi/eth0-8193",
  ].join("\n");
  assert.deepEqual(napiThreadPids(ps), [6104, 77001]);
  assert.deepEqual(napiThreadPids(""), []);
});

test("threadedNapiCommands: GRO on and TSO off (veth's conditions for NAPI), then threaded", () => {
  assert.deepEqual(threadedNapiCommands("wan0"), [
    ["ethtool", "-K", "wan0", "gro", "on", "tso", "off"],
    ["sh", "-c", "echo 1 > /sys/class/net/wan0/threaded"],
  ]);
  // The name goes into a shell command: only what Linux allows in a device name.
  assert.throws(() => threadedNapiCommands("x; reboot"), RangeError);
  assert.throws(() => threadedNapiCommands("a/b"), RangeError);
  assert.throws(() => threadedNapiCommands("sixteen-chars-xx"), RangeError);
  assert.throws(() => threadedNapiCommands(""), RangeError);
});
