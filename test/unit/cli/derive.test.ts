// `6to4-pmt derive` in process: RFC 3056 §2 derivation, RFC 6732 §3.3 translated /64 (Figure 3),
// the verdict per IPv4 class (RFC 3964 §5.3.1, RFC 6598, RFC 5737, RFC 6343 §4.1), and main()'s
// dispatch and error handling (ConfigError -> one line, exit 2).
import { test } from "node:test";
import assert from "node:assert/strict";
import { derive, formatDerive, runDerive } from "../../../module/cli/derive.js";
import { main, SUBCOMMANDS } from "../../../module/cli/main.js";
import { VERSION } from "../../../module/cli/version.js";
import { ConfigError } from "../../../module/config/config-error.js";

test("RFC 6732 Figure 3: 12.152.44.1 with 2001:db8::/32", () => {
  const r = derive("12.152.44.1", { providerPrefix: "2001:db8::/32" });
  assert.equal(r.sixToFourPrefix, "2002:c98:2c01::/48");
  assert.equal(r.routerAddress, "2002:c98:2c01::1");
  assert.equal(r.lan64, "2002:c98:2c01::/64");
  assert.equal(r.translatedLan64, "2001:db8:c98:2c01::/64");
  assert.equal(r.class, "global");
  assert.equal(r.verdict, "plain-6to4");
  const text = formatDerive(r);
  assert.match(text, /^6to4 prefix +2002:c98:2c01::\/48/m);
  assert.match(text, /^Translated \/64 +2001:db8:c98:2c01::\/64/m);
  assert.match(text, /^Verdict +plain 6to4 usable; RFC 3056 §2$/m);
});

test("verdict table with the RFC that says so", () => {
  const rows: [string, string, RegExp][] = [
    [
      "198.51.100.1",
      "pmt-relay",
      /needs a PMT relay that has it among its PMT customers \(shared or unrouted space\); RFC 6732 §4\.2 .*§4\.7/,
    ],
    [
      "100.64.0.1",
      "pmt-relay",
      /needs a PMT relay that has it among its PMT customers \(shared or unrouted space\); RFC 6598 §5, RFC 6732 §4\.2, §4\.7/,
    ],
    ["198.18.0.1", "pmt-relay", /needs a PMT relay/],
    ["10.0.0.1", "unusable", /unusable \(private\); RFC 3056 §2, RFC 6343 §4\.1/],
    ["172.16.5.4", "unusable", /unusable \(private\)/],
    ["192.168.1.1", "unusable", /unusable \(private\)/],
    ["127.0.0.1", "unusable", /unusable \(loopback\); RFC 3964 §5\.3\.1/],
    ["169.254.1.1", "unusable", /unusable \(link-local\)/],
    ["224.0.0.1", "unusable", /unusable \(multicast\)/],
    ["255.255.255.255", "unusable", /unusable \(broadcast\)/],
    ["240.0.0.1", "unusable", /unusable \(reserved\)/],
    ["0.0.0.0", "unusable", /unusable \(unspecified\)/],
    ["192.88.99.1", "unusable", /unusable \(6to4 relay anycast\); RFC 3068/],
    ["12.152.44.1", "plain-6to4", /plain 6to4 usable/],
  ];
  for (const [ip, verdict, text] of rows) {
    const r = derive(ip);
    assert.equal(r.verdict, verdict, ip);
    assert.match(formatDerive(r), text, ip);
    assert.equal(r.translatedLan64, null);
  }
});

test("relay customer policy (RFC 6732 §4.7): translated for PMT customers only", () => {
  const pp = { providerPrefix: "2001:db8::/32" };
  const policy = (ip: string, o: Record<string, string> = {}): string | null =>
    derive(ip, { ...pp, ...o }).relayPolicy;
  const customers = { pmtCustomerIpv4: "100.64.0.0/10,198.51.100.0/24", optOut: "100.64.9.0/24" };
  assert.equal(policy("100.64.1.2", customers), "translated");
  assert.equal(policy("198.51.100.7", customers), "translated");
  assert.equal(policy("100.64.9.2", customers), "opted-out");
  assert.equal(policy("203.0.113.7", customers), "not-a-customer");
  assert.equal(policy("203.0.113.7", { ...customers, nonCustomer: "drop" }), "dropped");
  assert.equal(policy("100.64.9.2", { ...customers, nonCustomer: "drop" }), "opted-out");
  assert.equal(policy("100.64.1.2", { pmtCustomerIpv4: "" }), "not-a-customer", "empty = nobody");
  assert.equal(policy("100.64.1.2"), "if-customer");
  assert.equal(policy("100.64.9.2", { optOut: "100.64.9.0/24" }), "opted-out");
  assert.equal(derive("100.64.1.2").relayPolicy, null, "no provider prefix, no PMT");
  const r = derive("203.0.113.7", { ...pp, pmtCustomerIpv4: "100.64.0.0/10" });
  assert.equal(r.translatedLan64, "2001:db8:cb00:7107::/64", "the mapping itself is unchanged");
  assert.match(
    formatDerive(r),
    /^Relay policy +plain 6to4, untranslated: not a PMT customer \(RFC 6732 §4\.7\)$/m,
  );
  assert.match(formatDerive(derive("100.64.1.2", pp)), /^Relay policy +translated only if/m);
});

test("relay customer policy flags: bad values and missing --provider-prefix name the option", () => {
  const cases: [() => unknown, RegExp][] = [
    [
      () => derive("192.0.2.1", { pmtCustomerIpv4: "100.64.0.0/10" }),
      /^--pmt-customer-ipv4: expected only together with --provider-prefix/,
    ],
    [
      () => derive("192.0.2.1", { providerPrefix: "2001:db8::/32", pmtCustomerIpv4: "100.64/10" }),
      /^--pmt-customer-ipv4: expected a list of IPv4 prefixes a\.b\.c\.d\/len, got "100\.64\/10"$/,
    ],
    [
      () => derive("192.0.2.1", { providerPrefix: "2001:db8::/32", optOut: "192.0.2.1" }),
      /^--opt-out: expected a list of IPv4 prefixes/,
    ],
    [
      () => derive("192.0.2.1", { providerPrefix: "2001:db8::/32", nonCustomer: "maybe" }),
      /^--non-customer: expected one of relay\|drop, got "maybe"$/,
    ],
  ];
  for (const [fn, re] of cases)
    assert.throws(fn, (e: Error) => e instanceof ConfigError && re.test(e.message));
  const out: string[] = [];
  const code = runDerive(
    [
      "203.0.113.7",
      "--provider-prefix",
      "2001:db8::/32",
      "--pmt-customer-ipv4",
      "100.64.0.0/10",
      "--non-customer",
      "drop",
      "--json",
    ],
    { out: (t) => out.push(t) },
  );
  assert.equal(code, 0);
  const j = JSON.parse(out.join("")) as { relayPolicy: string; relayPolicyText: string };
  assert.equal(j.relayPolicy, "dropped");
  assert.match(j.relayPolicyText, /non_customer drop/);
});

test("--sla, hex SLA, --ipv4-prefix-len (common prefix from the address itself)", () => {
  assert.equal(derive("192.0.2.1", { sla: "1" }).lan64, "2002:c000:201:1::/64");
  assert.equal(derive("192.0.2.1", { sla: "0xabcd" }).lan64, "2002:c000:201:abcd::/64");
  const sla1 = derive("192.0.2.1", { providerPrefix: "2001:db8::/32", sla: "1" });
  assert.equal(sla1.translatedLan64, "2001:db8:c000:201::/64");
  const cgn = derive("100.64.1.2", { providerPrefix: "2001:db8::/32", ipv4PrefixLen: "10" });
  assert.equal(cgn.ipv4CommonPrefix, "100.64.0.0/10");
  assert.equal(cgn.slaBits, 10);
  // v4 low 22 bits 0x000102 . SLA low 10 bits 0 -> 0x00040800
  assert.equal(cgn.translatedLan64, "2001:db8:4:800::/64");
  assert.equal(cgn.verdict, "pmt-relay");
});

test("bad input: ConfigError naming the option", () => {
  const cases: [() => unknown, RegExp][] = [
    [() => derive("192.0.2"), /^<ipv4>: expected a dotted-quad IPv4 address/],
    [() => derive("2001:db8::1"), /^<ipv4>: /],
    [
      () => derive("192.0.2.1", { providerPrefix: "2001:db8::/48" }),
      /^--provider-prefix: expected an IPv6 prefix P\/L with 16 <= L <= 32, got "2001:db8::\/48"$/,
    ],
    [
      () => derive("192.0.2.1", { providerPrefix: "nonsense" }),
      /^--provider-prefix: expected an IPv6 prefix/,
    ],
    [() => derive("192.0.2.1", { providerPrefix: "2001:db8::" }), /^--provider-prefix: /],
    [
      () => derive("192.0.2.1", { providerPrefix: "2002::/16" }),
      /^--provider-prefix: expected a global unicast prefix outside 2002::\/16/,
    ],
    [() => derive("192.0.2.1", { sla: "65536" }), /^--sla: expected an integer 0\.\.65535/],
    [() => derive("192.0.2.1", { sla: "-1" }), /^--sla: /],
    [() => derive("192.0.2.1", { sla: "1.5" }), /^--sla: /],
    [
      () => derive("192.0.2.1", { ipv4PrefixLen: "8" }),
      /^--ipv4-prefix-len: expected only together with --provider-prefix/,
    ],
    [
      () => derive("192.0.2.1", { providerPrefix: "2001:db8::/32", ipv4PrefixLen: "33" }),
      /^--ipv4-prefix-len: expected an integer 0\.\.32/,
    ],
    [
      () => derive("192.0.2.1", { providerPrefix: "2001:db8::/32", ipv4PrefixLen: "20" }),
      /^--ipv4-prefix-len: expected at most 16/,
    ],
    [
      () => derive("192.0.2.1", { providerPrefix: "3fff::/20", sla: "5" }),
      /^--sla: expected a multiple of 4096/,
    ],
    [() => runDerive([]), /^<ipv4>: expected an IPv4 address/],
    [() => runDerive(["192.0.2.1", "192.0.2.2"]), /^<ipv4>: expected one address/],
    [() => runDerive(["192.0.2.1", "--bogus"]), /^--bogus: unknown option$/],
    [
      () => runDerive(["192.0.2.1", "--sla"]),
      /^--sla: expected an integer 0\.\.65535 or 0x0\.\.0xffff$/,
    ],
  ];
  for (const [fn, re] of cases) {
    assert.throws(
      fn,
      (e: unknown) => e instanceof ConfigError && re.test(e.message) && !e.message.includes("\n"),
      String(re),
    );
  }
});

function capture(): {
  out: string[];
  err: string[];
  io: { out(t: string): void; err(t: string): void };
} {
  const out: string[] = [];
  const err: string[] = [];
  return { out, err, io: { out: (t) => void out.push(t), err: (t) => void err.push(t) } };
}

test("runDerive --json and --help", () => {
  const c = capture();
  assert.equal(runDerive(["12.152.44.1", "--provider-prefix=2001:db8::/32", "--json"], c.io), 0);
  const j = JSON.parse(c.out.join("")) as Record<string, unknown>;
  assert.equal(j.sixToFourPrefix, "2002:c98:2c01::/48");
  assert.equal(j.translatedLan64, "2001:db8:c98:2c01::/64");
  assert.equal(j.verdict, "plain-6to4");
  const h = capture();
  assert.equal(runDerive(["--help"], h.io), 0);
  assert.match(h.out.join(""), /^usage: 6to4-pmt derive <ipv4>/);
});

test("main(): dispatch table, --help, --version, errors -> one line + exit 2", async () => {
  assert.deepEqual(Object.keys(SUBCOMMANDS), ["cpe", "relay", "derive", "status", "lab"]);
  let c = capture();
  assert.equal(await main(["--help"], c.io), 0);
  for (const name of Object.keys(SUBCOMMANDS))
    assert.match(c.out.join(""), new RegExp(`^  ${name} `, "m"));
  c = capture();
  assert.equal(await main(["--version"], c.io), 0);
  assert.equal(c.out.join(""), `6to4-pmt ${VERSION}\n`);
  c = capture();
  assert.equal(await main([], c.io), 2);
  assert.match(c.err.join(""), /^usage: 6to4-pmt/);
  const errors: [string[], string][] = [
    [
      ["frobnicate"],
      '6to4-pmt: unknown command "frobnicate": expected one of cpe, relay, derive, status, lab\n',
    ],
    [["--frob"], "6to4-pmt: --frob: unknown option\n"],
    [["derive", "192.0.2.1", "--frob=1"], "6to4-pmt: --frob: unknown option\n"],
    [
      ["derive", "192.0.2.1", "--provider-prefix", "3fff::/20", "--sla", "5"],
      '6to4-pmt: --sla: expected a multiple of 4096 (the low 12 SLA bits are carried with --provider-prefix /20 and --ipv4-prefix-len 0), got "5"\n',
    ],
    [
      ["derive", "300.0.0.1"],
      '6to4-pmt: <ipv4>: expected a dotted-quad IPv4 address such as 192.0.2.1, got "300.0.0.1"\n',
    ],
  ];
  for (const [argv, message] of errors) {
    c = capture();
    assert.equal(await main(argv, c.io), 2, argv.join(" "));
    assert.equal(c.err.join(""), message);
    assert.equal(c.out.length, 0);
  }
});
