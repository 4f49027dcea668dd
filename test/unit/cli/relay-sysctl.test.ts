// cli/relay-sysctl.ts: the relay refuses to start when the kernel would not forward what it
// decapsulates, and warns about devices with strict reverse-path filtering.
import assert from "node:assert/strict";
import { test } from "node:test";
import { checkRelaySysctls } from "../../../module/cli/relay-sysctl.js";

const reader =
  (values: Record<string, string>) =>
  (path: string): string | undefined =>
    values[path] === undefined ? undefined : values[path] + "\n";

test("IPv6 forwarding 0: refused naming net.ipv6.conf.all.forwarding and the value to set", () => {
  const v = checkRelaySysctls(reader({ "net/ipv6/conf/all/forwarding": "0" }), []);
  assert.match(
    v.refusal ?? "",
    /^net\.ipv6\.conf\.all\.forwarding is 0: .*set net\.ipv6\.conf\.all\.forwarding=1/,
  );
});

test("all.rp_filter 1 (strict): refused; 0 and 2 pass", () => {
  const base = { "net/ipv6/conf/all/forwarding": "1" };
  const strict = checkRelaySysctls(reader({ ...base, "net/ipv4/conf/all/rp_filter": "1" }), []);
  assert.match(strict.refusal ?? "", /^net\.ipv4\.conf\.all\.rp_filter is 1 \(strict\)/);
  for (const ok of ["0", "2"]) {
    const v = checkRelaySysctls(reader({ ...base, "net/ipv4/conf/all/rp_filter": ok }), []);
    assert.equal(v.refusal, undefined);
    assert.deepEqual(v.warnings, []);
  }
});

test("a strict device warns unless all is 2 (loose wins: max(all, dev)); lo is ignored", () => {
  const values = {
    "net/ipv6/conf/all/forwarding": "1",
    "net/ipv4/conf/all/rp_filter": "0",
    "net/ipv4/conf/eth0/rp_filter": "1",
    "net/ipv4/conf/eth1/rp_filter": "2",
    "net/ipv4/conf/lo/rp_filter": "1",
  };
  const v = checkRelaySysctls(reader(values), ["lo", "eth0", "eth1"]);
  assert.equal(v.refusal, undefined);
  assert.equal(v.warnings.length, 1);
  assert.match(v.warnings[0]!, /^net\.ipv4\.conf\.eth0\.rp_filter is 1 \(strict\)/);
  const loose = checkRelaySysctls(reader({ ...values, "net/ipv4/conf/all/rp_filter": "2" }), [
    "lo",
    "eth0",
    "eth1",
  ]);
  assert.deepEqual(loose.warnings, []);
});

test("no IPv6 sysctl (not readable): not refused", () => {
  assert.equal(checkRelaySysctls(reader({}), []).refusal, undefined);
});
