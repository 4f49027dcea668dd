// DHCPv4 OPTION_6RD (RFC 5969 §7.1.1) as busybox udhcpc passes it ($ip6rd), and the lease file.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync, renameSync, unlinkSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { formatIpv6Prefix } from "../../../module/addr/ipv6.js";
import { formatIpv4 } from "../../../module/addr/ipv4.js";
import {
  DhcpLeaseWatcher,
  parseIp6rdText,
  parseLeaseFile,
  sixRdKey,
  type DhcpLease,
} from "../../../module/control/dhcp-6rd.js";
import { DecodeError } from "../../../module/codec/decode-error.js";

test("parseIp6rdText: busybox format, one or more BRs, host bits cleared", () => {
  const o = parseIp6rdText("8 32 2001:db8:: 192.0.2.254");
  assert.equal(o.ipv4MaskLen, 8);
  assert.equal(formatIpv6Prefix(o.prefix), "2001:db8::/32");
  assert.deepEqual(o.relays.map(formatIpv4), ["192.0.2.254"]);
  const two = parseIp6rdText(" 0 28 2001:db8:ffff:: 192.0.2.1 198.51.100.1\n");
  assert.equal(formatIpv6Prefix(two.prefix), "2001:db0::/28");
  assert.deepEqual(two.relays.map(formatIpv4), ["192.0.2.1", "198.51.100.1"]);
  assert.equal(sixRdKey(o), "2001:db8::/32 mask 8 relays 192.0.2.254");
  assert.equal(sixRdKey(null), "none");
});

test("parseIp6rdText rejects what RFC 5969 §7.1.1 calls invalid", () => {
  const cases: Array<[string, RegExp]> = [
    ["", /expected/],
    ["8 32 2001:db8::", /expected/],
    ["33 32 2001:db8:: 192.0.2.1", /IPv4MaskLen 33 > 32/],
    ["0 100 2001:db8:: 192.0.2.1", /132 > 128/],
    ["8 32 nonsense 192.0.2.1", /6rdPrefix/],
    ["8 32 2001:db8:: 192.0.2.300", /BR address/],
    ["x 32 2001:db8:: 192.0.2.1", /IPv4MaskLen "x"/],
  ];
  for (const [text, re] of cases) {
    assert.throws(
      () => parseIp6rdText(text),
      (e: unknown) => e instanceof DecodeError && re.test((e as Error).message),
      text,
    );
  }
});

test("parseLeaseFile: keys, missing or bad option", () => {
  const l = parseLeaseFile(
    "interface=eth0\nip=198.51.100.7\nmask=24\nip6rd=8 32 2001:db8:: 192.0.2.254\n",
  );
  assert.equal(l.interface, "eth0");
  assert.equal(formatIpv4(l.ip ?? 0), "198.51.100.7");
  assert.equal(l.sixrd?.ipv4MaskLen, 8);
  assert.equal(l.sixrdError, null);
  const none = parseLeaseFile("interface=eth0\nip=198.51.100.7\nip6rd=\n");
  assert.equal(none.sixrd, null);
  assert.equal(none.sixrdError, null);
  const bad = parseLeaseFile("ip6rd=99 32 2001:db8:: 192.0.2.1\n");
  assert.equal(bad.sixrd, null);
  assert.match(bad.sixrdError ?? "", /IPv4MaskLen/);
  assert.equal(parseLeaseFile("garbage\n\0\n").ip, null);
});

test("DhcpLeaseWatcher follows atomic replacements and removal; stop() unwatches", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-dhcp-"));
  const path = join(dir, "lease");
  const seen: Array<DhcpLease | null> = [];
  const w = new DhcpLeaseWatcher(path, (l) => seen.push(l));
  try {
    w.start();
    // Let the stat poller take its baseline (the file is missing) before the file changes.
    await new Promise((r) => setTimeout(r, 700));
    assert.equal(seen.length, 1);
    assert.equal(seen[0], null);
    const put = (text: string) => {
      writeFileSync(path + ".tmp", text);
      renameSync(path + ".tmp", path);
    };
    put("ip=198.51.100.7\nip6rd=8 32 2001:db8:: 192.0.2.254\n");
    w.check();
    assert.equal(seen.length, 2);
    assert.equal(seen[1]?.sixrd?.ipv4MaskLen, 8);
    w.check();
    assert.equal(seen.length, 2, "unchanged content is not reported again");
    put("ip=198.51.100.7\nip6rd=0 32 2001:db8:: 192.0.2.253\n");
    // The stat poller notices on its own (every DHCP_LEASE_POLL_MS; bounded wait).
    for (const end = Date.now() + 15_000; seen.length < 3 && Date.now() < end;) {
      await new Promise((r) => setTimeout(r, 50));
    }
    assert.equal(seen.length, 3);
    assert.equal(seen[2]?.sixrd?.ipv4MaskLen, 0);
    unlinkSync(path);
    w.check();
    assert.equal(seen[3], null);
  } finally {
    w.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("parseIp6rdText throws only DecodeError; parseLeaseFile never throws (random input)", () => {
  let seed = 4242;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) >>> 0) >>> 8) % n;
  const alphabet = "0123456789abcdef:. /x\n=-";
  for (let i = 0; i < 3000; i++) {
    let s = "";
    const len = rnd(60);
    for (let j = 0; j < len; j++) s += alphabet[rnd(alphabet.length)];
    if (i % 3 === 0) s = `${rnd(40)} ${rnd(140)} ${s}`;
    try {
      parseIp6rdText(s);
    } catch (e) {
      assert.ok(e instanceof DecodeError, `${String(e)} for ${JSON.stringify(s)}`);
    }
    parseLeaseFile(`ip6rd=${s}\nip=${s}\n${s}`);
  }
});
