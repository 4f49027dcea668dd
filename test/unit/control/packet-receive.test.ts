/**
 * The nft table of `packet_receive` (control/packet-receive.ts): it must drop exactly what the
 * AF_PACKET socket's filter takes (native/split.c openPacketRx4), or packets arrive twice or
 * not at all; checked against nft itself by test/integration/wan-gro.test.ts.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import {
  PACKET_RECEIVE_TABLE,
  packetReceiveRuleset,
} from "../../../module/control/packet-receive.js";

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
