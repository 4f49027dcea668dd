// The option table (module/config/schema.ts) is the single source for parsing, the init script's
// validation spec, LuCI datatypes and docs/openwrt.md: these tests pin its shape (the option set).
import { test } from "node:test";
import assert from "node:assert/strict";
import {
  OPTIONS,
  defaultText,
  findOption,
  luciDatatype,
  optionsFor,
  uciDatatype,
  uciValidateSpec,
} from "../../../module/config/schema.js";

test("every option has a snake_case name, a matching flag and a description", () => {
  for (const o of OPTIONS) {
    assert.match(o.name, /^[a-z][a-z0-9_]*$/, o.name);
    assert.equal(o.flag, "--" + o.name.replace(/_/g, "-"));
    assert.ok(o.description.length > 10, o.name);
    assert.ok(o.appliesTo.length > 0, o.name);
    if (o.type === "int") assert.ok(o.min !== undefined && o.max !== undefined, o.name);
    if (o.type === "enum") assert.ok(o.choices && o.choices.length > 1, o.name);
  }
});

test("a name appears at most once per role", () => {
  for (const role of ["cpe", "relay"] as const) {
    const names = optionsFor(role).map((o) => o.name);
    assert.deepEqual(names, [...new Set(names)], role);
  }
});

test("the option set, cpe and relay", () => {
  const cpe = optionsFor("cpe").map((o) => o.name);
  for (const n of [
    "enabled",
    "wan_device",
    "wan_interface",
    "wan_ipv4",
    "wan_mtu",
    "relay",
    "lan_device",
    "tun_name",
    "tunnel_mtu",
    "provider_prefix",
    "ipv4_prefix_len",
    "sla",
    "default_route",
    "direct_6to4",
    "allow_ipv4",
    "ra",
    "ra_min_interval",
    "ra_max_interval",
    "ra_router_lifetime",
    "ra_preferred_lifetime",
    "ra_valid_lifetime",
    "ra_preference",
    "dns",
    "domain",
    "health_target",
    "health_interval",
    "health_failures",
    "use_dhcp_6rd",
    "state_file",
    "status_socket",
    "log_level",
  ]) {
    assert.ok(cpe.includes(n), `cpe ${n}`);
  }
  const relay = optionsFor("relay").map((o) => o.name);
  for (const n of [
    "enabled",
    "relay_ipv4",
    "provider_prefix",
    "ipv4_prefix_len",
    "sla",
    "customer_ipv4",
    "opt_out",
    "other_relays",
    "tun_name",
    "tunnel_mtu",
    "metrics_port",
    "icmp_rate_limit",
    "log_level",
  ]) {
    assert.ok(relay.includes(n), `relay ${n}`);
  }
});

test("defaults and bounds from the contract", () => {
  const cpe = (n: string) => findOption("cpe", n)!;
  assert.equal(defaultText(cpe("enabled")), "0"); // RFC 7526 §5
  assert.equal(defaultText(cpe("relay")), "192.88.99.1"); // RFC 3068
  assert.equal(defaultText(cpe("tun_name")), "6to4pmt0");
  assert.equal(defaultText(findOption("relay", "tun_name")!), "6to4pmt-r0");
  assert.equal(defaultText(findOption("relay", "tunnel_mtu")!), "1480");
  assert.equal(cpe("tunnel_mtu").default, undefined);
  assert.deepEqual([cpe("tunnel_mtu").min, cpe("tunnel_mtu").max], [1280, 65515]);
  assert.deepEqual(
    [cpe("provider_prefix").minPrefixLen, cpe("provider_prefix").maxPrefixLen],
    [16, 32],
  );
  assert.equal(cpe("ra").default, "builtin");
  assert.equal(cpe("ra").uciDefault, "netifd");
  assert.equal(defaultText(cpe("ra_max_interval")), "600");
  assert.equal(cpe("ra_preferred_lifetime").max, 2700); // RFC 9096
  assert.equal(cpe("ra_valid_lifetime").max, 5400);
});

test("findOption accepts UCI names, flags and camelCase keys", () => {
  assert.equal(findOption("cpe", "--tunnel-mtu")?.name, "tunnel_mtu");
  assert.equal(findOption("cpe", "tunnel_mtu")?.name, "tunnel_mtu");
  assert.equal(findOption("cpe", "tunnelMtu")?.name, "tunnel_mtu");
  assert.equal(findOption("cpe", "direct-6to4")?.key, "direct6to4");
  assert.equal(findOption("cpe", "relay_ipv4"), undefined);
  assert.equal(findOption("relay", "relay_ipv4")?.key, "relayIpv4");
});

test("datatypes for OpenWrt's validator and LuCI", () => {
  const cpe = (n: string) => findOption("cpe", n)!;
  assert.equal(uciDatatype(cpe("tunnel_mtu")), "range(1280,65515)");
  assert.equal(uciDatatype(cpe("relay")), "list(ip4addr)");
  assert.equal(uciDatatype(cpe("provider_prefix")), "cidr6");
  assert.equal(uciDatatype(cpe("ra")), 'or("builtin","netifd","off")');
  assert.equal(uciDatatype(cpe("enabled")), "bool");
  assert.equal(uciDatatype(cpe("domain")), "list(hostname)");
  assert.equal(luciDatatype(cpe("relay")), "ip4addr");
  assert.equal(luciDatatype(cpe("enabled")), "");
  assert.equal(luciDatatype(cpe("allow_ipv4")), "cidr4");
  assert.equal(uciValidateSpec(cpe("enabled")), "enabled:bool:0");
  assert.equal(uciValidateSpec(cpe("ra")), 'ra:or("builtin","netifd","off"):netifd');
  assert.equal(uciValidateSpec(cpe("sla")), "sla:range(0,65535)");
});
