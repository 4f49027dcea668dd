// DHCPv4 option 212 from an untrusted server: its BR (relay) addresses are checked before the CPE
// uses them (RFC 5969 §7.1.1 "valid 6rd DHCP option", RFC 3964 §5.1/§5.3.1): bounded count,
// unicast, private/shared only inside allow_ipv4, never the CPE's own WAN address. A refused
// option counts as absent and its reason is kept for status (control/dhcp-6rd.ts, cpe-inputs.ts).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv4, parseIpv4, parseIpv4Prefix } from "../../../module/addr/ipv4.js";
import { MAX_RELAYS } from "../../../module/addr/peer-check.js";
import { DecodeError } from "../../../module/codec/decode-error.js";
import { parseCpeConfig } from "../../../module/config/parse.js";
import { CpeInputs } from "../../../module/control/cpe-inputs.js";
import {
  parseIp6rdText,
  parseLeaseFile,
  vetSixRdLease,
  type DhcpLease,
} from "../../../module/control/dhcp-6rd.js";
import type { CommandRunner } from "../../../module/control/wan-watcher.js";
import { silentLogger, type Logger } from "../../../module/log/logger.js";
import { FakeClock } from "../../support/fake-clock.js";

const v4 = (s: string): number => parseIpv4(s)!;

test("parseIp6rdText refuses BR addresses that are not unicast, and more than MAX_RELAYS", () => {
  const cases: Array<[string, RegExp]> = [
    ["0.0.0.0", /BR address 0\.0\.0\.0 is unspecified .*not a unicast 6to4 relay/],
    ["127.0.0.1", /BR address 127\.0\.0\.1 is loopback/],
    ["169.254.0.1", /BR address 169\.254\.0\.1 is link-local/],
    ["224.0.0.1", /BR address 224\.0\.0\.1 is multicast/],
    ["240.0.0.1", /BR address 240\.0\.0\.1 is reserved/],
    ["255.255.255.255", /BR address 255\.255\.255\.255 is broadcast/],
    // A bad one after a good one is found too.
    ["192.0.2.254 224.0.0.1", /BR address 224\.0\.0\.1 is multicast/],
  ];
  for (const [brs, re] of cases) {
    const text = `0 32 2001:db8:: ${brs}`;
    assert.throws(
      () => parseIp6rdText(text),
      (e: unknown) => e instanceof DecodeError && re.test((e as Error).message),
      text,
    );
  }
  const list = (n: number): string =>
    Array.from({ length: n }, (_, i) => `198.51.100.${i + 1}`).join(" ");
  assert.equal(parseIp6rdText(`0 32 2001:db8:: ${list(MAX_RELAYS)}`).relays.length, MAX_RELAYS);
  for (const n of [MAX_RELAYS + 1, 59, 5000]) {
    assert.throws(
      () => parseIp6rdText(`0 32 2001:db8:: ${list(n).replace(/\.(\d+)(?= |$)/g, ".7")}`),
      new RegExp(`OPTION_6RD: ${n} BR addresses, more than ${MAX_RELAYS}`),
    );
  }
  // The lease file keeps the reason, the option counts as absent.
  const l = parseLeaseFile("ip=192.0.2.1\nip6rd=0 32 2001:db8:: 255.255.255.255\n");
  assert.equal(l.sixrd, null);
  assert.match(l.sixrdError ?? "", /255\.255\.255\.255 is broadcast/);
});

test("vetSixRdLease: own WAN address (learned or leased) and private space outside allow_ipv4", () => {
  const lease = (brs: string) => parseLeaseFile(`ip=192.0.2.1\nip6rd=0 32 2001:db8:: ${brs}\n`);
  const none = { wanIpv4: null, allowIpv4: [] };
  const ok = lease("192.88.99.1 198.51.100.2");
  assert.equal(vetSixRdLease(ok, none), ok);
  // The leased ip is ours even before the WAN watcher has seen it.
  const own = vetSixRdLease(lease("192.88.99.1 192.0.2.1"), none);
  assert.equal(own.sixrd, null);
  assert.equal(own.sixrdError, "OPTION_6RD: BR address 192.0.2.1 is this CPE's own WAN address");
  const wan = vetSixRdLease(lease("203.0.113.9"), { wanIpv4: v4("203.0.113.9"), allowIpv4: [] });
  assert.match(wan.sixrdError ?? "", /203\.0\.113\.9 is this CPE's own WAN address/);
  assert.equal(wan.ip, v4("192.0.2.1"), "the rest of the lease is kept");
  const shared = lease("100.64.0.1");
  assert.match(
    vetSixRdLease(shared, none).sixrdError ?? "",
    /BR address 100\.64\.0\.1 is shared .* not inside allow_ipv4$/,
  );
  const allow = { wanIpv4: null, allowIpv4: [parseIpv4Prefix("100.64.0.0/10")!] };
  assert.equal(vetSixRdLease(shared, allow), shared);
  // A lease without the option, or already refused, is returned as is.
  const plain = parseLeaseFile("ip=192.0.2.1\n");
  assert.equal(vetSixRdLease(plain, none), plain);
});

/** `ip -j addr show dev wan0` with one address (what the WAN watcher reads). */
class Runner implements CommandRunner {
  wanAddr = "192.0.2.1";
  run(argv: readonly string[]) {
    if (argv.join(" ").startsWith("ip -j addr show dev wan0")) {
      const info = [{ family: "inet", local: this.wanAddr, prefixlen: 24, scope: "global" }];
      return Promise.resolve({
        code: 0,
        stdout: JSON.stringify([{ ifname: "wan0", mtu: 1500, addr_info: info }]),
      });
    }
    return Promise.resolve({ code: 0, stdout: "" });
  }
  spawnLines() {
    return { kill: () => undefined };
  }
}

test("CpeInputs: the option is vetted again when the WAN address changes", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-br-"));
  const leaseFile = join(dir, "lease");
  writeFileSync(leaseFile, "interface=wan0\nip=192.0.2.1\nip6rd=0 32 2001:db8:: 198.51.100.7\n");
  const logs: string[] = [];
  const log: Logger = {
    level: "info",
    error: (m: string) => logs.push("error " + m),
    warn: (m: string) => logs.push("warn " + m),
    info: (m: string) => logs.push("info " + m),
    debug: () => undefined,
    enabled: (l) => l !== "debug",
  };
  const runner = new Runner();
  const changes: string[] = [];
  const inputs = new CpeInputs({
    config: parseCpeConfig({ "wan-device": ["wan0"], "lan-device": ["lan0"] }),
    clock: new FakeClock(),
    runner,
    log,
    useUbus: false,
    dhcpLeaseFile: leaseFile,
    count: () => undefined,
    onChange: (why) => changes.push(why),
  });
  try {
    await inputs.start();
    assert.equal(formatIpv4(inputs.wan.ipv4 ?? 0), "192.0.2.1");
    assert.deepEqual(inputs.lease?.sixrd?.relays.map(formatIpv4), ["198.51.100.7"]);
    // The WAN now has the BR's address: the option would tunnel to ourselves.
    runner.wanAddr = "198.51.100.7";
    await inputs.refresh();
    assert.equal(formatIpv4(inputs.wan.ipv4 ?? 0), "198.51.100.7");
    assert.equal(inputs.lease?.sixrd, null);
    assert.equal(
      inputs.lease?.sixrdError,
      "OPTION_6RD: BR address 198.51.100.7 is this CPE's own WAN address",
    );
    assert.ok(changes.includes("wan change"), changes.join());
    assert.ok(
      logs.includes(
        "warn dhcp option 212 ignored: OPTION_6RD: BR address 198.51.100.7 is this CPE's own WAN address",
      ),
      logs.join("\n"),
    );
    // And back: usable again.
    runner.wanAddr = "192.0.2.1";
    await inputs.refresh();
    const back = inputs.lease as DhcpLease | null;
    assert.deepEqual(back?.sixrd?.relays.map(formatIpv4), ["198.51.100.7"]);
    assert.equal(back?.sixrdError, null);
  } finally {
    inputs.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("CpeInputs: a static wan_ipv4 equal to a BR address refuses the option from the start", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-br-"));
  const leaseFile = join(dir, "lease");
  writeFileSync(leaseFile, "interface=wan0\nip6rd=0 32 2001:db8:: 203.0.113.5\n");
  const inputs = new CpeInputs({
    config: parseCpeConfig({
      "wan-device": ["wan0"],
      "wan-ipv4": ["203.0.113.5"],
      "wan-mtu": ["1500"],
    }),
    clock: new FakeClock(),
    runner: new Runner(),
    log: silentLogger,
    useUbus: false,
    dhcpLeaseFile: leaseFile,
    count: () => undefined,
    onChange: () => undefined,
  });
  try {
    await inputs.start();
    assert.equal(formatIpv4(inputs.wan.ipv4 ?? 0), "203.0.113.5");
    assert.equal(inputs.lease?.sixrd, null);
    assert.match(inputs.lease?.sixrdError ?? "", /203\.0\.113\.5 is this CPE's own WAN address/);
  } finally {
    inputs.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
