/**
 * Two relays behind one anycast address (root, network namespaces): RFC 6732 §3.4 (deterministic,
 * stateless translation: "N number of relays ... without the need to manage translation state"),
 * RFC 3068 §2 (anycast 192.88.99.1), RFC 6343 §4.4 item 7 (any load sharing between relays).
 *
 *   lan -- cpe == isp ==+== relay  (198.51.100.2, 192.88.99.1) --+-- inet (server 3fff:100::1)
 *                       +== relay2 (203.0.113.2,  192.88.99.1) --+
 *
 * A paced TCP transfer runs through relay; mid-transfer relay is stopped (SIGTERM) and the anycast
 * route and the IPv6 return routes move to relay2, as a routing withdrawal would do. The same TCP
 * connection completes through relay2, with the same translated source address.
 */
import assert from "node:assert/strict";
import { after, describe, test } from "node:test";
import { LAB_SERVER, switchAnycastTo } from "../../module/lab/topology.js";
import { NetnsRegistry, netnsSkipReason } from "../support/netns.js";
import { readCounters, startLab, tcpTransfer } from "../support/dataplane-harness.js";
import { waitForCounters } from "../support/daemon-assert.js";

const skip = netnsSkipReason();

describe("stateless relays behind one anycast address", { skip, timeout: 120_000 }, () => {
  const reg = new NetnsRegistry();
  after(async () => {
    await reg.cleanup();
  });

  test("stopping one relay mid-transfer: the TCP connection continues through the other", async () => {
    const lab = await startLab(reg, { cpes: [{ index: 0, pmt: true }], relays: 2 });
    const c = lab.t.cpes[0]!;
    const bytes = 64 * 65536; // 4 MiB in 64 chunks, one every 40 ms: about 2.6 s
    const first0 = await readCounters(reg, lab.relays[0]!);
    const r = await tcpTransfer(reg, c.lanNs, lab.t.inet, LAB_SERVER, 5005, bytes, 40, async () => {
      // Mid-transfer: once the first relay carried some of it (bounded wait).
      const carried = await waitForCounters(
        reg,
        lab.relays[0]!,
        (k) => k.traffic.in_packets! - first0.traffic.in_packets! >= 20,
      );
      assert.ok(
        carried.traffic.in_packets! - first0.traffic.in_packets! >= 20,
        "the transfer went through the first relay",
      );
      const code = await reg.stop(lab.relays[0]!, 3000);
      assert.equal(code, 0, "relay exits 0 on SIGTERM");
      switchAnycastTo(reg, lab.t, 1);
    });
    assert.equal(r.received, bytes, r.sent);
    assert.equal(r.peer, "2001:db8:6440:2::100", "same translated address from either relay");
    const second = await readCounters(reg, lab.relays[1]!);
    assert.ok(
      second.traffic.in_packets! > 10,
      `relay2 carried ${second.traffic.in_packets} packets`,
    );
    assert.ok(
      second.traffic.out_packets! > 10,
      `relay2 returned ${second.traffic.out_packets} packets`,
    );
  });
});
