// addr/pmt-customers.ts: whom a PMT relay translates (RFC 6732 §4.7), with the opt-out of §4.1.
import assert from "node:assert/strict";
import { test } from "node:test";
import { parseIpv4, parseIpv4Prefix, type Ipv4Prefix } from "../../../module/addr/ipv4.js";
import {
  createPmtCustomerPolicy,
  describePmtCustomerPolicy,
  PMT_DROP_NOT_CUSTOMER,
  PMT_PLAIN_NOT_CUSTOMER,
  PMT_PLAIN_OPTED_OUT,
  PMT_RANGE_NONE,
  PMT_RANGE_OPTED_OUT,
  PMT_TRANSLATE,
  pmtSiteRange,
  pmtSiteVerdict,
} from "../../../module/addr/pmt-customers.js";

const pfx = (s: string): Ipv4Prefix => parseIpv4Prefix(s)!;
const v4 = (s: string): number => parseIpv4(s)!;

test("only sites in the PMT customer ranges are translated; others relayed plain by default", () => {
  const p = createPmtCustomerPolicy({ customers: [pfx("100.64.0.0/10"), pfx("198.51.100.0/24")] });
  assert.equal(pmtSiteVerdict(p, v4("100.64.0.2")), PMT_TRANSLATE);
  assert.equal(pmtSiteVerdict(p, v4("100.127.255.255")), PMT_TRANSLATE);
  assert.equal(pmtSiteVerdict(p, v4("198.51.100.77")), PMT_TRANSLATE);
  assert.equal(pmtSiteVerdict(p, v4("100.128.0.0")), PMT_PLAIN_NOT_CUSTOMER);
  assert.equal(pmtSiteVerdict(p, v4("203.0.113.7")), PMT_PLAIN_NOT_CUSTOMER);
});

test("non_customer drop: sites outside the ranges are dropped, customers still translated", () => {
  const p = createPmtCustomerPolicy({ customers: [pfx("100.64.0.0/10")], nonCustomer: "drop" });
  assert.equal(pmtSiteVerdict(p, v4("203.0.113.7")), PMT_DROP_NOT_CUSTOMER);
  assert.equal(pmtSiteVerdict(p, v4("100.64.9.1")), PMT_TRANSLATE);
});

test("opt-out keeps working inside the customer ranges and is never dropped (RFC 6732 §4.1)", () => {
  for (const nonCustomer of ["relay", "drop"] as const) {
    const p = createPmtCustomerPolicy({
      customers: [pfx("100.64.0.0/10")],
      optOut: [pfx("100.64.9.0/24"), pfx("192.0.2.0/24")],
      nonCustomer,
    });
    assert.equal(pmtSiteVerdict(p, v4("100.64.9.200")), PMT_PLAIN_OPTED_OUT, nonCustomer);
    assert.equal(pmtSiteVerdict(p, v4("100.64.8.200")), PMT_TRANSLATE, nonCustomer);
    // An opt-out entry outside the PMT ranges names a customer too: plain, not dropped.
    assert.equal(pmtSiteVerdict(p, v4("192.0.2.1")), PMT_PLAIN_OPTED_OUT, nonCustomer);
  }
});

test("empty customer list translates nobody", () => {
  const p = createPmtCustomerPolicy({ customers: [] });
  for (const a of ["100.64.0.2", "203.0.113.7", "0.0.0.0", "255.255.255.255"]) {
    assert.equal(pmtSiteVerdict(p, v4(a)), PMT_PLAIN_NOT_CUSTOMER, a);
  }
  const d = createPmtCustomerPolicy({ customers: [], nonCustomer: "drop" });
  assert.equal(pmtSiteVerdict(d, v4("100.64.0.2")), PMT_DROP_NOT_CUSTOMER);
});

test("signed and unsigned IPv4 arguments give the same verdict (hot-path int32 convention)", () => {
  const p = createPmtCustomerPolicy({
    customers: [pfx("203.0.113.0/24"), pfx("0.0.0.0/1")],
    optOut: [pfx("203.0.113.128/25")],
    nonCustomer: "drop",
  });
  for (const a of ["203.0.113.1", "203.0.113.200", "198.51.100.1", "100.64.0.1", "255.0.0.1"]) {
    const u = v4(a);
    assert.equal(pmtSiteVerdict(p, u | 0), pmtSiteVerdict(p, u), a);
  }
  assert.equal(pmtSiteVerdict(p, v4("203.0.113.1") | 0), PMT_TRANSLATE);
  assert.equal(pmtSiteVerdict(p, v4("203.0.113.200") | 0), PMT_PLAIN_OPTED_OUT);
  assert.equal(pmtSiteVerdict(p, v4("198.51.100.1") | 0), PMT_DROP_NOT_CUSTOMER);
  assert.equal(pmtSiteVerdict(p, v4("100.64.0.1") | 0), PMT_TRANSLATE);
});

test("/32 and /0 ranges; host bits of a declared prefix are ignored", () => {
  const one = createPmtCustomerPolicy({ customers: [{ addr: v4("198.51.100.9"), len: 32 }] });
  assert.equal(pmtSiteVerdict(one, v4("198.51.100.9")), PMT_TRANSLATE);
  assert.equal(pmtSiteVerdict(one, v4("198.51.100.8")), PMT_PLAIN_NOT_CUSTOMER);
  const all = createPmtCustomerPolicy({ customers: [pfx("0.0.0.0/0")] });
  assert.equal(pmtSiteVerdict(all, v4("203.0.113.7")), PMT_TRANSLATE);
  const sloppy = createPmtCustomerPolicy({ customers: [{ addr: v4("100.64.1.1"), len: 10 }] });
  assert.equal(pmtSiteVerdict(sloppy, v4("100.100.0.1")), PMT_TRANSLATE);
});

test("describePmtCustomerPolicy names the ranges and the non-customer action", () => {
  assert.equal(
    describePmtCustomerPolicy([pfx("100.64.0.0/10")], [pfx("100.64.9.0/24")], "drop"),
    "PMT customers only (RFC 6732 §4.7): translates 100.64.0.0/10 except opt-out 100.64.9.0/24; drops other sources",
  );
  assert.equal(
    describePmtCustomerPolicy([], [], "relay"),
    "PMT customers only (RFC 6732 §4.7): translates nobody; relays other sources as plain 6to4",
  );
});

test("pmtSiteRange: the first configured range holding the site; opt-out and outsiders apart", () => {
  const p = createPmtCustomerPolicy({
    customers: [parseIpv4Prefix("100.64.0.0/24")!, parseIpv4Prefix("100.64.0.0/10")!],
    optOut: [parseIpv4Prefix("100.64.9.0/24")!],
  });
  assert.equal(pmtSiteRange(p, parseIpv4("100.64.0.9")!), 0);
  assert.equal(pmtSiteRange(p, parseIpv4("100.65.0.9")!), 1);
  assert.equal(pmtSiteRange(p, parseIpv4("100.64.9.1")!), PMT_RANGE_OPTED_OUT);
  assert.equal(pmtSiteRange(p, parseIpv4("203.0.113.7")!), PMT_RANGE_NONE);
  assert.equal(pmtSiteRange(p, parseIpv4("100.65.0.9")! | 0), 1, "signed form");
});
