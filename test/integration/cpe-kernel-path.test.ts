/**
 * The CPE's kernel data plane end to end, in a VM with Debian's kernel (this host has no sit;
 * test/support/vm.ts). One boot runs test/vm/cpe-kernel-path.vm.ts: the lab topology with this
 * project's relay and the CPE started with `--dataplane kernel`, a plain Linux sit 6to4 site and
 * a stand-in fw4 table. Asserted here from its RESULT line:
 *  - status says the kernel data plane is in use, and why; the sit device, its routes (::/0 via
 *    ::192.88.99.1, 2002::/16) and its nft tables (ip and ip6 sixto4pmt) are in place, and the
 *    daemon holds no TUN and no protocol-41 socket (the kernel forwards alone);
 *  - the LAN host pings the server through the relay and opens TCP to it, seen there with the
 *    translated provider source (as in userspace mode);
 *  - interop with a plain Linux sit 6to4 site both ways (LAN -> site seen as 2002:6440:2::100,
 *    site -> LAN host's 6to4 form);
 *  - each hostile CPE case of test/support/attack-cases.ts, sent 3 times, grows exactly its
 *    userspace drop name by 3 and no other drop counter (read from the table as the daemon
 *    reads it: nft counters and the sit's own), and the daemon's status shows the same counts under the same names;
 *  - on SIGTERM the daemon exits 0 and the sit device, its routes and the nft tables are gone,
 *    while the stand-in fw4 table is as it was.
 */
import assert from "node:assert/strict";
import { test } from "node:test";
import { runInVm, vmSkipReason } from "../support/vm.js";

const skip = vmSkipReason();

test(
  "CPE kernel data plane (sit + nft) in a VM: relay, interop, attacks, clean exit",
  { skip, timeout: 900_000 },
  async () => {
    const r = await runInVm("node out/test/vm/cpe-kernel-path.vm.js", { timeoutMs: 840_000 });
    const diag = `\n--- stdout\n${r.stdout.slice(-6000)}\n--- stderr\n${r.stderr.slice(-3000)}\n--- console\n${r.console.slice(-2000)}`;
    assert.equal(
      r.timedOut,
      false,
      `VM timed out (guest reached the script after ${r.guestBootS ?? "never"} s)${diag}`,
    );
    const line = /^RESULT (.*)$/m.exec(r.stdout)?.[1];
    assert.ok(line, `no RESULT line${diag}`);
    const o = JSON.parse(line) as Record<string, any>;
    const d = `\n${JSON.stringify({ ...o, cpeLog: undefined }, null, 1)}\n--- cpe log\n${o.cpeLog ?? ""}`;
    console.log(
      `cpe-kernel-path: wall ${(r.wallMs / 1000).toFixed(1)} s, guest boot ${r.guestBootS} s; ` +
        ["topology", "daemons", "server", "site", "attacks", "stop"]
          .map((k) => `${k} ${o[`t_${k}`]} s`)
          .join(", "),
    );
    assert.equal(o.error, undefined, `driver error${d}`);
    assert.equal(o.cpeUp, true, `cpe up in kernel mode${d}`);
    assert.equal(o.dataplane?.mode, "kernel", d);
    assert.match(
      o.dataplane?.reason ?? "",
      /dataplane kernel; the kernel has sit and nft prefix NAT/,
    );
    assert.equal(o.dataplane?.error, null, d);
    assert.match(o.sitShow, /sit any remote any local 100\.64\.0\.2 ttl 64/, d);
    assert.match(o.routes, /default via ::192\.88\.99\.1/, d);
    assert.match(o.routes, /2002::\/16/, d);
    assert.deepEqual(
      [...o.tables].sort(),
      ["table inet fw4", "table ip sixto4pmt", "table ip6 sixto4pmt"],
      d,
    );
    // No TUN, no protocol-41 socket: nothing in the daemon sees a forwarded packet.
    assert.deepEqual(o.dataPlaneFds, [], d);

    assert.equal(o.pingServer, "3", `LAN -> server through the relay${d}`);
    assert.equal(o.tcpServer.peer, o.tcpServer.expected, `translated provider source${d}`);
    assert.equal(o.tcpServer.peer, "2001:db8:6440:2::100", d);
    assert.equal(o.tcpServer.received, 200_000, d);

    assert.equal(o.pingSite, "3", `LAN -> plain sit site (direct 6to4)${d}`);
    assert.equal(o.tcpSite.peer, "2002:6440:2::100", `the site sees the 6to4 form${d}`);
    assert.equal(o.tcpSite.received, 100_000, d);
    assert.equal(o.pingFromSite, "3", `site -> LAN host's 6to4 form (dnat prefix)${d}`);

    assert.equal(o.attacks.length, 4, d);
    for (const a of o.attacks) {
      assert.equal(a.delta, 3, `${a.name}: drop_${a.reason}${d}`);
      assert.deepEqual(a.moved, [], `${a.name}: other drop counters moved${d}`);
    }
    // Status shows the table's counts under the same names.
    for (const a of o.attacks) {
      assert.ok(o.statusDrops[`drop_${a.reason}`] >= 3, `status: ${a.reason}${d}`);
    }
    assert.deepEqual(o.statusDrops, o.tableDrops, d);

    assert.equal(o.cpeExit, 0, `exit code${d}`);
    assert.notEqual(o.afterSit, 0, `sit device left behind${d}`);
    assert.doesNotMatch(o.afterRoutes, /6to4pmt0/, `routes left behind${d}`);
    assert.deepEqual(o.afterTables, ["table inet fw4"], d);
    assert.equal(o.fw4Intact, true, `fw4 stand-in changed${d}`);
  },
);
