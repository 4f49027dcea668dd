// The CPE's decision (control/decide.ts), table-driven: RFC 7526 §5 (disabled), RFC 6343 §4.1
// and RFC 3964 §5.3.1 (refused WAN addresses, wan-policy.ts), RFC 6598 / RFC 6732 §4.2 (shared
// address space only with an operator's relay or prefix), RFC 3056 §2 (plain 6to4 LAN /64),
// RFC 6732 §3.3 (PMT LAN /64), RFC 5969 §7.1.1 (DHCP option 212; config wins over it), RFC 3068
// §2.3 (anycast relay by default), RFC 6343 §4.4 item 4 (health target), RFC 4213 §3.2 (tunnel MTU).
import { test } from "node:test";
import assert from "node:assert/strict";
import { formatIpv4, parseIpv4 } from "../../../module/addr/ipv4.js";
import { formatIpv6, formatIpv6Prefix } from "../../../module/addr/ipv6.js";
import { parseCpeConfig } from "../../../module/config/parse.js";
import { decide, effectiveTunnelMtu, type Decision } from "../../../module/control/decide.js";
import { parseIp6rdText, type DhcpLease } from "../../../module/control/dhcp-6rd.js";
import { CPE_FORWARDING_DISABLED } from "../../../module/dataplane/forwarding-state.js";
import { DROP_NONE } from "../../../module/addr/drop-reason.js";
import { checkEncapsulate, isInvalidIpv4 } from "../../../module/addr/policy.js";
import { buildIcmpv6EchoPacket } from "../../support/packet-builder.js";

test("effectiveTunnelMtu: configured, else WAN MTU - 20, never below 1280 (RFC 4213 §3.2)", () => {
  const cases: Array<[string, number | null, number | null, number]> = [
    ["Ethernet WAN", null, 1500, 1480],
    ["PPPoE WAN", null, 1492, 1472],
    ["WAN MTU unknown: 1500 assumed", null, null, 1480],
    ["small WAN MTU: the IPv6 minimum", null, 1200, 1280],
    ["WAN MTU 1300: exactly 1280", null, 1300, 1280],
    ["configured wins over the WAN's", 1400, 1500, 1400],
    ["configured, WAN unknown", 1452, null, 1452],
  ];
  for (const [name, configured, wan, want] of cases) {
    assert.equal(effectiveTunnelMtu(configured, wan), want, name);
  }
});

interface Row {
  readonly name: string;
  readonly flags?: Record<string, string[]>;
  /** WAN address (null: none) and MTU. */
  readonly wan: string | null;
  readonly wanMtu?: number | null;
  readonly wanDevice?: string | null;
  /** busybox udhcpc's ip6rd text of option 212, when the lease has one. */
  readonly ip6rd?: string;
  readonly want: {
    readonly state: Decision["state"];
    readonly reason?: RegExp;
    readonly lanPrefix?: string;
    readonly pmt?: boolean;
    readonly routerAddress?: string;
    readonly lanRouterAddress?: string;
    readonly providerPrefix?: [string | null, string];
    readonly ipv4PrefixLen?: [number, string];
    readonly relays?: [string[], string];
    readonly relayInUse?: string;
    readonly healthTarget?: string;
    readonly tunnelMtu?: number;
  };
}

const ROWS: Row[] = [
  {
    name: "disabled (RFC 7526 §5)",
    flags: { enabled: ["0"] },
    wan: "192.0.2.1",
    want: { state: "disabled", reason: /^enabled = 0 \(RFC 7526 §5\)$/ },
  },
  {
    name: "no WAN address: named by device",
    wan: null,
    want: { state: "no-wan", reason: /^no IPv4 address on WAN wan0$/, tunnelMtu: 1480 },
  },
  {
    name: "no WAN address, no device yet (OpenWrt): named by interface",
    wan: null,
    wanDevice: null,
    want: { state: "no-wan", reason: /^no IPv4 address on WAN wan$/ },
  },
  {
    name: "no WAN address: the tunnel MTU still follows the WAN's (status)",
    wan: null,
    wanMtu: 1400,
    want: { state: "no-wan", reason: /^no IPv4 address/, tunnelMtu: 1380 },
  },
  {
    name: "refused: private address (RFC 6343 §4.1)",
    wan: "10.0.0.2",
    want: { state: "refused", reason: /WAN address 10\.0\.0\.2 is private \(RFC 1918\)/ },
  },
  {
    name: "refused: private address even with a provider prefix, without allow_ipv4",
    flags: { "provider-prefix": ["2001:db8::/32"] },
    wan: "10.0.0.2",
    want: { state: "refused", reason: /private \(RFC 1918\)/ },
  },
  {
    name: "private address with provider prefix and a matching allow_ipv4: runs",
    flags: { "provider-prefix": ["2001:db8::/32"], "allow-ipv4": ["10.0.0.0/8"] },
    wan: "10.0.0.2",
    want: { state: "running", lanPrefix: "2001:db8:a00:2::/64", pmt: true },
  },
  {
    name: "refused: loopback can never be V4ADDR (RFC 3964 §5.3.1)",
    wan: "127.0.0.1",
    want: { state: "refused", reason: /WAN address 127\.0\.0\.1 is loopback/ },
  },
  {
    name: "refused: shared address space with the anycast default (RFC 6598, RFC 6732 §4.2)",
    wan: "100.64.0.2",
    want: { state: "refused", reason: /100\.64\.0\.2 is shared address space \(RFC 6598\)/ },
  },
  {
    name: "refused: shared address space, relay from config, no allow_ipv4: the CPE would drop its own packets",
    flags: { relay: ["198.51.100.1"] },
    wan: "100.64.0.2",
    want: {
      state: "refused",
      reason:
        /^WAN address 100\.64\.0\.2 is shared \(RFC 3964 §5\.3\.1\): the CPE would drop its own packets \(ipv6_src_6to4_invalid_ipv4\); set a provider_prefix \(RFC 6732 §4\.2\) or an allow_ipv4 that contains 100\.64\.0\.2$/,
    },
  },
  {
    name: "shared address space with a relay from config and a matching allow_ipv4: runs",
    flags: { relay: ["198.51.100.1"], "allow-ipv4": ["100.64.0.0/10"] },
    wan: "100.64.0.2",
    want: { state: "running", lanPrefix: "2002:6440:2::/64", relayInUse: "198.51.100.1" },
  },
  {
    name: "shared address space with a relay from option 212: runs",
    wan: "100.64.0.2",
    ip6rd: "0 32 2001:db8:: 203.0.113.254",
    want: { state: "running", lanPrefix: "2001:db8:6440:2::/64", relayInUse: "203.0.113.254" },
  },
  {
    name: "plain 6to4: 2002:V4ADDR:SLA::/64, anycast relay (RFC 3056 §2, RFC 3068)",
    wan: "192.0.2.1",
    want: {
      state: "running",
      lanPrefix: "2002:c000:201::/64",
      pmt: false,
      routerAddress: "2002:c000:201::1",
      lanRouterAddress: "2002:c000:201::1",
      providerPrefix: [null, "none"],
      ipv4PrefixLen: [0, "default"],
      relays: [["192.88.99.1"], "default"],
      relayInUse: "192.88.99.1",
      healthTarget: "2002:c058:6301::",
      tunnelMtu: 1480,
    },
  },
  {
    name: "plain 6to4 with an SLA",
    flags: { sla: ["5"] },
    wan: "192.0.2.1",
    want: {
      state: "running",
      lanPrefix: "2002:c000:201:5::/64",
      routerAddress: "2002:c000:201::1",
      lanRouterAddress: "2002:c000:201:5::1",
    },
  },
  {
    name: "provider prefix from config only: PMT LAN /64 (RFC 6732 §3.3)",
    flags: { "provider-prefix": ["2001:db8::/32"] },
    wan: "192.0.2.1",
    want: {
      state: "running",
      lanPrefix: "2001:db8:c000:201::/64",
      pmt: true,
      routerAddress: "2001:db8:c000:201::1",
      lanRouterAddress: "2001:db8:c000:201::1",
      providerPrefix: ["2001:db8::/32", "config"],
      ipv4PrefixLen: [0, "default"],
      relays: [["192.88.99.1"], "default"],
    },
  },
  {
    name: "option 212 only: prefix, IPv4MaskLen and relay from DHCP (RFC 5969 §7.1.1)",
    wan: "192.0.2.1",
    ip6rd: "8 32 2001:db8:: 203.0.113.254",
    want: {
      state: "running",
      lanPrefix: "2001:db8:2:100::/64",
      pmt: true,
      providerPrefix: ["2001:db8::/32", "dhcp"],
      ipv4PrefixLen: [8, "dhcp"],
      relays: [["203.0.113.254"], "dhcp"],
      relayInUse: "203.0.113.254",
      healthTarget: "2002:cb00:71fe::",
    },
  },
  {
    name: "config overrides option 212 where it is set; the rest still from DHCP",
    flags: { relay: ["192.0.2.254"], "provider-prefix": ["3fff:100::/24"] },
    wan: "192.0.2.1",
    ip6rd: "0 32 2001:db8:: 203.0.113.254",
    want: {
      state: "running",
      lanPrefix: "3fff:1c0:2:100::/64",
      providerPrefix: ["3fff:100::/24", "config"],
      ipv4PrefixLen: [0, "dhcp"],
      relays: [["192.0.2.254"], "config"],
      relayInUse: "192.0.2.254",
      healthTarget: "2002:c000:2fe::",
    },
  },
  {
    name: "option 212 ignored with use_dhcp_6rd 0",
    flags: { "use-dhcp-6rd": ["0"] },
    wan: "192.0.2.1",
    ip6rd: "0 32 2001:db8:: 203.0.113.254",
    want: {
      state: "running",
      lanPrefix: "2002:c000:201::/64",
      pmt: false,
      providerPrefix: [null, "none"],
      relays: [["192.88.99.1"], "default"],
    },
  },
  {
    name: "option 212 whose prefix leaves no room for the /64: refused, naming it",
    wan: "192.0.2.1",
    ip6rd: "0 48 2001:db8:1:: 203.0.113.254",
    want: {
      state: "refused",
      reason: /^provider prefix 2001:db8:1::\/48 \(dhcp\) unusable: /,
      providerPrefix: ["2001:db8:1::/48", "dhcp"],
    },
  },
  {
    name: "relays from config: the first is used, health probes its 2002:V4RELAY::",
    flags: { relay: ["198.51.100.1,203.0.113.9"] },
    wan: "192.0.2.1",
    want: {
      state: "running",
      relays: [["198.51.100.1", "203.0.113.9"], "config"],
      relayInUse: "198.51.100.1",
      healthTarget: "2002:c633:6401::",
    },
  },
  {
    name: "health_target from config wins over the relay's",
    flags: { "health-target": ["2001:db8::1"] },
    wan: "192.0.2.1",
    want: { state: "running", healthTarget: "2001:db8::1" },
  },
  {
    name: "MTU: PPPoE WAN 1492 -> tunnel 1472",
    wan: "192.0.2.1",
    wanMtu: 1492,
    want: { state: "running", tunnelMtu: 1472 },
  },
  {
    name: "MTU: WAN MTU unknown -> 1480",
    wan: "192.0.2.1",
    wanMtu: null,
    want: { state: "running", tunnelMtu: 1480 },
  },
  {
    name: "MTU: configured tunnel_mtu wins",
    flags: { "tunnel-mtu": ["1400"] },
    wan: "192.0.2.1",
    wanMtu: 1500,
    want: { state: "running", tunnelMtu: 1400 },
  },
];

function lease(ip6rd: string | undefined): DhcpLease | null {
  if (ip6rd === undefined) return null;
  return { interface: "wan0", ip: null, sixrd: parseIp6rdText(ip6rd), sixrdError: null };
}

for (const row of ROWS) {
  test(`decide: ${row.name}`, () => {
    const cfg = parseCpeConfig({
      enabled: ["1"],
      "wan-device": ["wan0"],
      ...row.flags,
    });
    const wan = {
      ipv4: row.wan === null ? null : parseIpv4(row.wan),
      mtu: row.wanMtu === undefined ? 1500 : row.wanMtu,
      device: row.wanDevice === undefined ? "wan0" : row.wanDevice,
    };
    const d = decide(cfg, wan, lease(row.ip6rd));
    const w = row.want;
    assert.equal(d.state, w.state);
    if (w.state === "running") {
      assert.equal(d.reason, null);
      assert.ok(d.plan !== null);
      const p = d.plan;
      // The forwarding snapshot is the plan's.
      assert.equal(d.forwarding.enabled, true);
      assert.equal(d.forwarding.ownIpv4, wan.ipv4);
      assert.equal(d.forwarding.relayIpv4, p.relayIpv4);
      assert.equal(d.forwarding.tunnelMtu, p.tunnelMtu);
      assert.equal(d.forwarding.mapping, p.mapping);
      assert.deepEqual(d.forwarding.icmpSource, p.routerAddress);
      assert.deepEqual(d.forwarding.relays, d.effective.relays);
      assert.equal(p.tunnelMtu, d.tunnelMtu);
      if (w.lanPrefix) assert.equal(formatIpv6Prefix(p.lanPrefix), w.lanPrefix);
      if (w.pmt !== undefined) assert.equal(p.mapping !== null, w.pmt);
      if (w.routerAddress) assert.equal(formatIpv6(p.routerAddress), w.routerAddress);
      if (w.lanRouterAddress) assert.equal(formatIpv6(p.lanRouterAddress), w.lanRouterAddress);
      if (w.relayInUse) assert.equal(formatIpv4(p.relayIpv4), w.relayInUse);
      if (w.healthTarget) assert.equal(formatIpv6(p.healthTarget), w.healthTarget);
    } else {
      assert.equal(d.plan, null);
      assert.equal(d.forwarding, CPE_FORWARDING_DISABLED);
      assert.equal(d.forwarding.enabled, false);
      assert.ok(w.reason, "a row that does not run names its reason");
      assert.match(d.reason ?? "", w.reason);
    }
    const e = d.effective;
    if (w.providerPrefix) {
      assert.deepEqual(
        [e.providerPrefix ? formatIpv6Prefix(e.providerPrefix) : null, e.providerSource],
        w.providerPrefix,
      );
    }
    if (w.ipv4PrefixLen)
      assert.deepEqual([e.ipv4PrefixLen, e.ipv4PrefixLenSource], w.ipv4PrefixLen);
    if (w.relays) assert.deepEqual([e.relays.map(formatIpv4), e.relaysSource], w.relays);
    if (w.tunnelMtu !== undefined) assert.equal(d.tunnelMtu, w.tunnelMtu);
  });
}

function cfg(flags: Record<string, string[]> = {}) {
  return parseCpeConfig({ enabled: ["1"], "wan-device": ["wan0"], ...flags });
}

test("provider prefix (config or option 212) on shared space without allow_ipv4: the data plane accepts its own WAN address only (RFC 6732 §4.2)", () => {
  const own = parseIpv4("100.64.0.2")!;
  const other = parseIpv4("100.64.0.3")!;
  const viaConfig = decide(
    cfg({ "provider-prefix": ["2001:db8::/32"] }),
    { ipv4: own, mtu: 1500, device: "wan0" },
    null,
  );
  const viaDhcp = decide(
    cfg(),
    { ipv4: own, mtu: 1500, device: "wan0" },
    lease("0 32 2001:db8:: 203.0.113.254"),
  );
  for (const d of [viaConfig, viaDhcp]) {
    assert.equal(d.state, "running", d.reason ?? "");
    assert.equal(isInvalidIpv4(d.forwarding.policy, own), false, "own WAN address accepted");
    assert.equal(
      isInvalidIpv4(d.forwarding.policy, other),
      true,
      "other shared addresses still not",
    );
    assert.deepEqual(d.forwarding.allowIpv4, [{ addr: own, len: 32 }]);
  }
  // A configured allow_ipv4 that contains it is used as it is.
  const allowed = decide(
    cfg({ "provider-prefix": ["2001:db8::/32"], "allow-ipv4": ["100.64.0.0/10"] }),
    { ipv4: own, mtu: 1500, device: "wan0" },
    null,
  );
  assert.equal(allowed.forwarding.allowIpv4.length, 1);
  assert.equal(allowed.forwarding.allowIpv4[0]!.len, 10);
});

test("decide is pure: the same inputs give equal decisions, inputs untouched", () => {
  const cfg = parseCpeConfig({ enabled: ["1"], "provider-prefix": ["2001:db8::/32"] });
  const wan = Object.freeze({ ipv4: parseIpv4("192.0.2.1"), mtu: 1500, device: "wan0" });
  const l = lease("8 32 2001:db8:: 203.0.113.254");
  const a = decide(cfg, wan, l);
  const b = decide(cfg, wan, l);
  assert.notEqual(a, b);
  assert.deepEqual(a, b);
  assert.ok(Object.isFrozen(a.forwarding));
});

test("shared-space WAN accepted by option 212: our own 2002:V4ADDR passes the data plane's RFC 3964 checks", () => {
  // A default config (no allow_ipv4) on a CGN WAN (RFC 6598), the relay and prefix from DHCP
  // (RFC 6732 §4.2): the health probe and LAN traffic leave from 2002:6440:2::/48.
  const cfg = parseCpeConfig({ enabled: ["1"], "wan-device": ["wan0"] });
  const wan = { ipv4: parseIpv4("100.64.0.2"), mtu: 1500, device: "wan0" };
  const d = decide(cfg, wan, lease("0 32 2001:db8:: 192.88.99.1"));
  assert.equal(d.state, "running");
  const probe = buildIcmpv6EchoPacket({
    src: "2002:6440:2::1",
    dst: "2002:c058:6301::",
    id: 1,
    seq: 1,
  });
  const p = d.forwarding.policy;
  assert.equal(
    checkEncapsulate(p, probe, 0, parseIpv4("100.64.0.2")!, parseIpv4("192.88.99.1")!),
    DROP_NONE,
  );
  // Only our own address is re-enabled: another customer's 100.64.0.3 stays listed.
  assert.equal(isInvalidIpv4(p, parseIpv4("100.64.0.2")!), false);
  assert.equal(isInvalidIpv4(p, parseIpv4("100.64.0.3")!), true);
  // A global WAN address needs nothing re-enabled.
  const g = decide(
    cfg,
    { ...wan, ipv4: parseIpv4("192.0.2.1") },
    lease("0 32 2001:db8:: 192.88.99.1"),
  );
  assert.deepEqual(g.forwarding.allowIpv4, []);
});
