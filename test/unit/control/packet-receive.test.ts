/**
 * The nft table of `packet_receive` (control/packet-receive.ts): it must drop exactly what the
 * AF_PACKET socket's filter takes (native/split.c openPacketRx4), or packets arrive twice or
 * not at all; checked against nft itself by test/integration/wan-gro.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  PACKET_RECEIVE_CHECK_MS,
  PACKET_RECEIVE_TABLE,
  packetReceiveRuleset,
  watchPacketReceive,
} from "../../../module/control/packet-receive.js";
import { FakeClock } from "../../support/fake-clock.js";

test("packetReceiveRuleset: one ingress chain per device, replacing the table in one transaction", () => {
  const text = packetReceiveRuleset(["wan0", "eth1.7"], [0xc0586301, 0xc6336402]);
  const lines = text.split("\n");
  assert.equal(lines[0], `table netdev ${PACKET_RECEIVE_TABLE}`);
  assert.equal(lines[1], `delete table netdev ${PACKET_RECEIVE_TABLE}`);
  const hooks = lines.filter((l) => l.includes("hook ingress"));
  assert.deepEqual(
    hooks.map((l) => /device "([^"]+)"/.exec(l)![1]),
    ["wan0", "eth1.7"],
  );
  const rules = lines.filter((l) => l.trim().endsWith("drop"));
  assert.equal(rules.length, 2);
  for (const r of rules) {
    // The socket filter's conditions, no more, no less: to this host, IPv4 protocol 41, not a
    // fragment (offset or MF), to a relay address.
    assert.match(r, /meta pkttype host /);
    assert.match(r, / ip protocol 41 /);
    assert.match(r, / ip frag-off & 0x3fff == 0 /);
    assert.match(r, / ip daddr \{ 192\.88\.99\.1, 198\.51\.100\.2 \} /);
  }
});

test("watchPacketReceive: a device made again (another ifindex) or gone leaves the table, once, with a warning", () => {
  const clock = new FakeClock(0);
  const index: Record<string, number> = { wan0: 7, wan1: 8 };
  const applied: string[][] = [];
  let removed = 0;
  const warnings: string[] = [];
  const w = watchPacketReceive(
    clock,
    ["wan0", "wan1"],
    [7, 8],
    (d) => index[d] ?? 0,
    (devices) => (applied.push([...devices]), null),
    () => (removed++, null),
    (m) => warnings.push(m),
  );
  clock.advance(PACKET_RECEIVE_CHECK_MS * 3);
  assert.deepEqual([applied, removed, warnings], [[], 0, []], "nothing changed: nothing done");
  index.wan0 = 12; // deleted and made again
  clock.advance(PACKET_RECEIVE_CHECK_MS);
  assert.deepEqual(applied, [["wan1"]], "the table again, without wan0");
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^packet_receive: wan0 is gone or was made again/);
  clock.advance(PACKET_RECEIVE_CHECK_MS * 3);
  assert.equal(warnings.length, 1, "warned once");
  delete index.wan1; // gone
  w.checkNow();
  assert.equal(removed, 1, "none left: the table removed");
  assert.equal(warnings.length, 2);
  w.stop();
  assert.equal(clock.pending(), 0, "stop leaves no timer");
});
