// The lab's DHCPv4 pieces (module/lab/dhcp.ts): OPTION_6RD's payload for dnsmasq (RFC 5969
// §7.1.1), dnsmasq's arguments, and the udhcpc script run by a real shell with udhcpc's
// environment: the lease file it writes is what the daemon's parser (control/dhcp-6rd.ts) reads,
// and it is written before the address is configured.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, test } from "node:test";
import { formatIpv4 } from "../../../module/addr/ipv4.js";
import { formatIpv6Prefix } from "../../../module/addr/ipv6.js";
import { decode } from "../../../module/codec/dhcp-6rd-option.js";
import { parseLeaseFile } from "../../../module/control/dhcp-6rd.js";
import {
  dnsmasqArgs,
  option212Hex,
  parseLeaseLines,
  UDHCPC_SCRIPT,
} from "../../../module/lab/dhcp.js";
import { LAB_OPTION_6RD } from "../../../module/lab/learning.js";

const SHELL = existsSync("/usr/bin/busybox") ? ["/usr/bin/busybox", "sh"] : ["/bin/sh"];
const root = mkdtempSync(join(tmpdir(), "6to4-pmt-labdhcp-"));
after(() => rmSync(root, { recursive: true, force: true }));

test("option212Hex: the lab's option, byte for byte (RFC 5969 §7.1.1), decodes back", () => {
  const hex = option212Hex(LAB_OPTION_6RD);
  assert.equal(
    hex,
    "00:20:20:01:0d:b8:00:00:00:00:00:00:00:00:00:00:00:00:c0:58:63:01",
    "IPv4MaskLen 0, 6rdPrefixLen 32, 2001:db8::, BR 192.88.99.1",
  );
  const payload = Buffer.from(hex.split(":").map((h) => parseInt(h, 16)));
  const o = decode(Buffer.concat([Buffer.from([212, payload.length]), payload]));
  assert.equal(o.ipv4MaskLen, 0);
  assert.equal(o.sixrdPrefixLen, 32);
  assert.deepEqual(o.brAddresses.map(formatIpv4), ["192.88.99.1"]);
  // Two BRs, a mask; host bits of the prefix are sent as zero.
  assert.equal(
    option212Hex({
      ipv4MaskLen: 10,
      prefix: "2001:db8:ffff::/32",
      relays: ["192.0.2.1", "198.51.100.2"],
    }),
    "0a:20:20:01:0d:b8:00:00:00:00:00:00:00:00:00:00:00:00:c0:00:02:01:c6:33:64:02",
  );
  assert.throws(() => option212Hex({ ...LAB_OPTION_6RD, prefix: "2001:db8::" }), RangeError);
  assert.throws(() => option212Hex({ ...LAB_OPTION_6RD, relays: ["192.88.99"] }), RangeError);
  assert.throws(() => option212Hex({ ...LAB_OPTION_6RD, relays: [] }), RangeError);
  assert.throws(() => option212Hex({ ...LAB_OPTION_6RD, ipv4MaskLen: 33 }), RangeError);
});

test("dnsmasqArgs: DHCP only (no DNS), one address with its netmask, router, option 212 forced", () => {
  const a = dnsmasqArgs({
    device: "cpe0",
    address: "100.64.0.2",
    prefixLen: 24,
    router: "100.64.0.1",
    leaseSeconds: 3600,
    option212: LAB_OPTION_6RD,
    dir: "/tmp/x",
  });
  assert.equal(a[0], "dnsmasq");
  for (const want of [
    "--keep-in-foreground",
    "--conf-file=/dev/null",
    "--port=0",
    "--interface=cpe0",
    "--dhcp-range=100.64.0.2,100.64.0.2,255.255.255.0,3600",
    "--dhcp-option=3,100.64.0.1",
    `--dhcp-option-force=212,${option212Hex(LAB_OPTION_6RD)}`,
    "--dhcp-leasefile=/tmp/x/dnsmasq.leases",
    "--pid-file=/tmp/x/dnsmasq.pid",
  ]) {
    assert.ok(a.includes(want), want);
  }
});

/** Runs the script as udhcpc does: `script <event>` with the lease in the environment. */
function runScript(dir: string, event: string, env: Record<string, string>) {
  const script = join(dir, "udhcpc.sh");
  writeFileSync(script, UDHCPC_SCRIPT, { mode: 0o700 });
  return spawnSync(SHELL[0]!, [...SHELL.slice(1), script, event], {
    env: { PATH: `${dir}:/usr/bin:/bin:/usr/sbin:/sbin`, ...env },
    encoding: "utf8",
    timeout: 20_000,
  });
}

const LEASE_ENV = {
  interface: "wan0",
  ip: "100.64.0.2",
  mask: "24",
  router: "100.64.0.1",
  serverid: "100.64.0.1",
  lease: "3600",
  // busybox prints the prefix uncompressed.
  ip6rd: "0 32 2001:0db8:0000:0000:0000:0000:0000:0000 192.88.99.1",
};

test("udhcpc script: the lease file the daemon parses, written before the address is set", () => {
  const dir = mkdtempSync(join(root, "case-"));
  const file = join(dir, "lease");
  // A stand-in `ip` first on PATH: records each call and whether the lease file existed then.
  writeFileSync(
    join(dir, "ip"),
    `#!/bin/sh\necho "$* lease=$([ -e "${file}" ] && echo yes || echo no)" >>"${dir}/ip.log"\n`,
    { mode: 0o755 },
  );
  const r = runScript(dir, "bound", { ...LEASE_ENV, PMT_DHCP_FILE: file });
  assert.equal(r.status, 0, r.stderr);
  const lease = parseLeaseFile(readFileSync(file, "utf8"));
  assert.equal(lease.interface, "wan0");
  assert.equal(formatIpv4(lease.ip!), "100.64.0.2");
  assert.ok(lease.sixrd, String(lease.sixrdError));
  assert.equal(formatIpv6Prefix(lease.sixrd.prefix), "2001:db8::/32");
  assert.equal(lease.sixrd.ipv4MaskLen, 0);
  assert.deepEqual(lease.sixrd.relays.map(formatIpv4), ["192.88.99.1"]);
  const kv = parseLeaseLines(readFileSync(file, "utf8"));
  assert.equal(kv.get("serverid"), "100.64.0.1");
  assert.equal(kv.get("router"), "100.64.0.1");
  assert.equal(kv.get("lease"), "3600");
  const calls = readFileSync(join(dir, "ip.log"), "utf8").trim().split("\n");
  assert.ok(calls.includes("-4 addr add 100.64.0.2/24 dev wan0 lease=yes"), calls.join("\n"));
  assert.ok(
    calls.includes("-4 route replace default via 100.64.0.1 dev wan0 lease=yes"),
    calls.join("\n"),
  );
  assert.ok(
    calls.every((c) => c.endsWith("lease=yes")),
    calls.join("\n"),
  );

  // deconfig: the lease goes, the address is flushed.
  assert.equal(runScript(dir, "deconfig", { interface: "wan0", PMT_DHCP_FILE: file }).status, 0);
  assert.equal(existsSync(file), false);
  assert.match(readFileSync(join(dir, "ip.log"), "utf8"), /-4 addr flush dev wan0/);
});

test("udhcpc script: PMT_DHCP_CONFIGURE=0 writes the lease and leaves the interface alone", () => {
  const dir = mkdtempSync(join(root, "case-"));
  const file = join(dir, "lease");
  writeFileSync(join(dir, "ip"), `#!/bin/sh\necho "$*" >>"${dir}/ip.log"\n`, { mode: 0o755 });
  const r = runScript(dir, "renew", { ...LEASE_ENV, PMT_DHCP_FILE: file, PMT_DHCP_CONFIGURE: "0" });
  assert.equal(r.status, 0, r.stderr);
  assert.equal(formatIpv4(parseLeaseFile(readFileSync(file, "utf8")).ip!), "100.64.0.2");
  assert.equal(existsSync(join(dir, "ip.log")), false);
});

test("parseLeaseLines: key=value lines, values trimmed, other lines skipped", () => {
  const kv = parseLeaseLines("ip=100.64.0.2\njunk\n=x\nip6rd=0 32 2001:db8:: 192.88.99.1 \n");
  assert.deepEqual(
    [...kv],
    [
      ["ip", "100.64.0.2"],
      ["ip6rd", "0 32 2001:db8:: 192.88.99.1"],
    ],
  );
});
