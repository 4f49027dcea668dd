// Configured addresses, ranges and devices that parse but can never work are refused with one line
// naming the option and what is expected (config/value-check.ts, called by parse.ts): relay,
// lan_device, dns, health_target, relay_ipv4, customer_ipv4.
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ConfigError } from "../../../module/config/config-error.js";
import { parseCpeConfig, parseRelayConfig } from "../../../module/config/parse.js";

function refused(parse: () => unknown, re: RegExp, option: string): void {
  assert.throws(parse, (e: unknown) => {
    assert.ok(e instanceof ConfigError, String(e));
    assert.doesNotMatch(e.message, /\n/);
    assert.match(e.message, re);
    assert.equal(e.option, option);
    return true;
  });
}

const RELAY_EXPECTED =
  "expected at most 8 unicast IPv4 addresses RFC 3964 §5.3.1 allows " +
  "(private/shared only inside allow_ipv4), not wan_ipv4; ";
const esc = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");

test("cpe --relay: unicast, allowed by RFC 3964 §5.3.1, not wan_ipv4, at most 8", () => {
  const cases: Array<[string[], string]> = [
    [["0.0.0.0"], "0.0.0.0 is unspecified"],
    [["127.0.0.1"], "127.0.0.1 is loopback"],
    [["255.255.255.255"], "255.255.255.255 is broadcast"],
    [["224.0.0.1"], "224.0.0.1 is multicast"],
    [["192.88.99.1", "169.254.1.1"], "169.254.1.1 is link-local"],
    [["10.0.0.1"], "10.0.0.1 is private"],
    [["100.64.0.1"], "100.64.0.1 is shared"],
    [Array.from({ length: 9 }, (_, i) => `198.51.100.${i + 1}`), "9 relay addresses, more than 8"],
    [
      Array.from({ length: 5000 }, (_, i) => `198.51.${(i >> 8) & 255}.${i & 255}`),
      "5000 relay addresses, more than 8",
    ],
  ];
  for (const [relays, reason] of cases) {
    refused(
      () => parseCpeConfig({ "--relay": [relays.join(",")] }),
      new RegExp(`^--relay: ${esc(RELAY_EXPECTED)}${esc(reason)}`),
      "--relay",
    );
  }
  refused(
    () => parseCpeConfig({ "--relay": ["192.0.2.1"], "--wan-ipv4": ["192.0.2.1"] }),
    /^--relay: expected .*; 192\.0\.2\.1 is this CPE's own WAN address$/,
    "--relay",
  );
  // Accepted: global unicast, the anycast default, shared space inside allow_ipv4, 8 relays.
  assert.equal(parseCpeConfig({}).relay.length, 1);
  assert.equal(
    parseCpeConfig({ "--relay": ["100.64.0.1"], "--allow-ipv4": ["100.64.0.0/10"] }).relay.length,
    1,
  );
  const eight = Array.from({ length: 8 }, (_, i) => `198.51.100.${i + 1}`).join(",");
  assert.equal(parseCpeConfig({ "--relay": [eight] }).relay.length, 8);
});

test("cpe --allow-ipv4: only ranges RFC 3964 §5.3.1 lets an operator re-enable", () => {
  for (const [range, shown] of [
    ["127.0.0.0/8", "127.0.0.0/8"],
    ["224.1.0.0/16", "224.1.0.0/16"],
    ["100.64.0.0/10,169.254.0.0/16", "169.254.0.0/16"],
  ]) {
    refused(
      () => parseCpeConfig({ "--allow-ipv4": [range!] }),
      new RegExp(`^--allow-ipv4: expected private or shared ranges .*got "${esc(shown!)}"`),
      "--allow-ipv4",
    );
  }
  // Accepted: shared and private space, and a range that merely contains private space.
  for (const range of ["100.64.0.0/10", "10.0.0.0/8,192.168.0.0/16", "172.16.5.0/24"]) {
    assert.ok(parseCpeConfig({ "--allow-ipv4": [range] }).allowIpv4.length >= 1, range);
  }
});

test("cpe relay in the JSON file: the label names the file", () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-cfg-"));
  try {
    const path = join(dir, "c.json");
    writeFileSync(path, JSON.stringify({ cpe: { relay: ["192.88.99.1", "255.255.255.255"] } }));
    refused(
      () => parseCpeConfig({}, path),
      new RegExp(`^relay \\(in ${esc(path)}\\): expected .*255\\.255\\.255\\.255 is broadcast`),
      `relay (in ${path})`,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("cpe --lan-device equal to the WAN device", () => {
  refused(
    () => parseCpeConfig({ "--wan-device": ["eth0"], "--lan-device": ["eth0"] }),
    /^--lan-device: expected a device other than wan_device, got "eth0"$/,
    "--lan-device",
  );
  const ok = parseCpeConfig({ "--wan-device": ["eth0"], "--lan-device": ["br-lan"] });
  assert.equal(ok.lanDevice, "br-lan");
});

test("cpe --dns: unicast only (::, ::1, multicast refused; link-local accepted)", () => {
  for (const [dns, cls] of [
    ["::", "unspecified"],
    ["::1", "loopback"],
    ["ff02::1", "multicast"],
    ["2001:db8::53,ff05::1:3", "multicast"],
  ]) {
    refused(
      () => parseCpeConfig({ "--dns": [dns!] }),
      new RegExp(`^--dns: expected unicast IPv6 addresses; \\S+ is ${cls} \\(RFC`),
      "--dns",
    );
  }
  assert.equal(parseCpeConfig({ "--dns": ["2001:db8::53,fe80::53"] }).dns.length, 2);
});

test("cpe --health-target: an address the tunnel carries (RFC 3964 §5.3.2)", () => {
  for (const [t, re] of [
    ["::", /:: is unspecified/],
    ["ff02::1", /ff02::1 is multicast/],
    ["fe80::1", /fe80::1 is link-local/],
    ["2002:7f00:1::", /2002:7f00:1:: embeds 127\.0\.0\.1 is loopback/],
  ] as Array<[string, RegExp]>) {
    refused(
      () => parseCpeConfig({ "--health-target": [t] }),
      new RegExp(
        `^--health-target: expected a unicast IPv6 address RFC 3964 §5\\.3\\.2 allows; ${re.source}`,
      ),
      "--health-target",
    );
  }
  assert.ok(parseCpeConfig({ "--health-target": ["2001:db8::1"] }).healthTarget);
  assert.ok(parseCpeConfig({ "--health-target": ["2002:c058:6301::"] }).healthTarget);
});

test("relay --relay-ipv4: unicast only, at most 16", () => {
  for (const [a, cls] of [
    ["0.0.0.0", "unspecified"],
    ["255.255.255.255", "broadcast"],
    ["224.0.0.1", "multicast"],
    ["127.0.0.1", "loopback"],
  ]) {
    refused(
      () => parseRelayConfig({ "--relay-ipv4": [`192.88.99.1,${a}`] }),
      new RegExp(`^--relay-ipv4: expected unicast IPv4 addresses, got "${esc(a!)}" \\(${cls}, RFC`),
      "--relay-ipv4",
    );
  }
  const many = Array.from({ length: 17 }, (_, i) => `198.51.100.${i + 1}`).join(",");
  refused(
    () => parseRelayConfig({ "--relay-ipv4": [many] }),
    /^--relay-ipv4: expected at most 16 addresses, got 17$/,
    "--relay-ipv4",
  );
  assert.equal(
    parseRelayConfig({ "--relay-ipv4": ["192.88.99.1,198.51.100.2"] }).relayIpv4.length,
    2,
  );
});

test("relay --customer-ipv4: no range overlapping never-unicast space", () => {
  for (const [p, re] of [
    ["0.0.0.0/0", /0\.0\.0\.0\/0 overlaps 224\.0\.0\.0\/4, multicast/],
    ["127.0.0.0/8", /127\.0\.0\.0\/8 overlaps 127\.0\.0\.0\/8, loopback/],
    ["224.1.0.0/16", /224\.1\.0\.0\/16 overlaps 224\.0\.0\.0\/4, multicast/],
    ["100.64.0.0/10,0.0.0.0/1", /0\.0\.0\.0\/1 overlaps 0\.0\.0\.0\/8, unspecified/],
  ] as Array<[string, RegExp]>) {
    refused(
      () => parseRelayConfig({ "--customer-ipv4": [p] }),
      new RegExp(`^--customer-ipv4: expected ranges of unicast customer addresses; ${re.source}`),
      "--customer-ipv4",
    );
  }
  const ok = parseRelayConfig({ "--customer-ipv4": ["100.64.0.0/10,10.0.0.0/8,192.0.2.0/24"] });
  assert.equal(ok.customerIpv4.length, 3);
});

test("relay --pmt-customer-ipv4: the same check as customer_ipv4", () => {
  refused(
    () =>
      parseRelayConfig({
        "--customer-ipv4": ["100.64.0.0/10"],
        "--pmt-customer-ipv4": ["0.0.0.0/0"],
      }),
    /^--pmt-customer-ipv4: expected ranges of unicast customer addresses; 0\.0\.0\.0\/0 overlaps 224\.0\.0\.0\/4, multicast/,
    "--pmt-customer-ipv4",
  );
  const ok = parseRelayConfig({ "--pmt-customer-ipv4": ["100.64.0.0/10"] });
  assert.equal(ok.pmtCustomerIpv4?.length, 1);
});

test("relay --announce-ipv4 unicast, --health-target unicast IPv6; defaults off, 1 s, 2 failures", () => {
  refused(
    () => parseRelayConfig({ "--announce-ipv4": ["224.0.0.1"] }),
    /^--announce-ipv4: expected unicast IPv4 addresses, got "224\.0\.0\.1"/,
    "--announce-ipv4",
  );
  refused(
    () => parseRelayConfig({ "--health-target": ["ff02::1"] }),
    /^--health-target: expected a unicast IPv6 address; /,
    "--health-target",
  );
  const d = parseRelayConfig({});
  assert.deepEqual(
    [d.announceIpv4, d.healthTarget, d.healthInterval, d.healthFailures],
    [[], null, 1, 2],
  );
  const c = parseRelayConfig({
    "--announce-ipv4": ["192.88.99.1"],
    "--health-target": ["3fff:100::1"],
  });
  assert.deepEqual(c.announceIpv4, [0xc0586301]);
  assert.equal(c.healthTarget?.length, 16);
});
