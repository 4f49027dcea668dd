// The LuCI view of luci-app-6to4-pmt in headless Chromium (Debian package `chromium`), with a
// STAND-IN for LuCI's form/rpc/uci API (fixtures/luci-standin.js, not LuCI's code): it renders the
// Enable toggle, writes `enabled` = 1 when toggled and saved, renders a `6to4-pmt status --json`
// reply relayed by the rpcd plugin, and follows a poll to "not running". Skips without chromium.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { defaultText, findOption } from "../../../module/config/schema.js";

const VIEW =
  "openwrt-package/luci-app-6to4-pmt/htdocs/luci-static/resources/view/6to4-pmt/config.js";
const FIX = "test/unit/openwrt/fixtures";
const CHROMIUM = ["/usr/bin/chromium", "/usr/bin/chromium-browser"].find(
  (p) => spawnSync(p, ["--version"], { timeout: 30_000 }).status === 0,
);
const skip = CHROMIUM ? false : "chromium missing (apt-get install chromium)";

const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-luci-"));
after(() => rmSync(dir, { recursive: true, force: true }));

/** A status reply as luci.6to4-pmt relays it (module/status/snapshot.ts shape, abridged). */
const STATUS = {
  running: true,
  status: {
    version: "0.1.0",
    state: "running",
    // A daemon-provided string with markup: LuCI's E() parses a single string child as HTML.
    stateReason: '<img src=x onerror="window.__pmtXss=1"><b>bold</b>',
    wan: { device: "eth1", ipv4: "192.0.2.1", ipv4Class: "documentation", ipv4Source: "learned" },
    sixto4Prefix: "2002:c000:201::/48",
    lanPrefix: "2001:db8:c000:201::/64",
    translatedPrefix: "2001:db8:c000:201::/64",
    providerPrefix: { value: "2001:db8::/32", source: "dhcp" },
    relays: { value: ["192.88.99.1"], source: "default" },
    relayInUse: "192.88.99.1",
    tunnelMtu: 1480,
    health: { state: "up", consecutiveFailures: 0, lastRttMs: 12.3456 },
    ra: { mode: "netifd", lastSent: null },
    counters: { encap_packets: 42, drop_ipv4_src_invalid: 0 },
  },
};

const esc = (s: string): string => s.replace(/</g, "\\u003c");

function runPage(): Record<string, unknown> {
  const page = join(dir, "page.html");
  writeFileSync(
    page,
    `<!DOCTYPE html><html><head><meta charset="utf-8"><title>running</title></head><body>
<div id="app"></div><pre id="result"></pre>
<script>${readFileSync(join(FIX, "luci-standin.js"), "utf8")}</script>
<script>var VIEW_SOURCE = ${esc(JSON.stringify(readFileSync(VIEW, "utf8")))};
var STATUS_REPLY = ${esc(JSON.stringify(STATUS))};</script>
<script>${readFileSync(join(FIX, "luci-scenario.js"), "utf8")}</script>
</body></html>`,
  );
  const r = spawnSync(
    CHROMIUM!,
    [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--no-first-run",
      "--no-default-browser-check",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--disable-extensions",
      `--user-data-dir=${join(dir, "profile")}`,
      "--virtual-time-budget=10000",
      "--dump-dom",
      `file://${page}`,
    ],
    { encoding: "utf8", timeout: 90_000, maxBuffer: 64 * 1024 * 1024 },
  );
  assert.equal(r.status, 0, `chromium failed: ${r.stderr}`);
  const m = /<pre id="result">([^<]*)<\/pre>/.exec(r.stdout);
  assert.ok(m && m[1], `no result in the dumped DOM: ${r.stdout.slice(0, 2000)}`);
  const json = m[1]
    .replace(/&quot;/g, '"')
    .replace(/&lt;/g, "<")
    .replace(/&gt;/g, ">")
    .replace(/&amp;/g, "&");
  return JSON.parse(json) as Record<string, unknown>;
}

let result: Record<string, unknown> = {};

test("view loads in headless Chromium without errors", { skip, timeout: 120_000 }, () => {
  result = runPage();
  assert.deepEqual(result.errors, []);
});

test("renders the Enable toggle, unchecked for enabled '0'", { skip }, () => {
  assert.equal(result.toggleFound, true);
  assert.equal(result.checkedBefore, false);
  assert.equal(result.checkedAfter, true);
});

test("toggling and saving writes enabled = 1", { skip }, () => {
  assert.equal(result.enabledAfterSave, "1");
  const changes = result.changes as string[][];
  assert.deepEqual(changes[0], ["set", "6to4-pmt", "cpe", "enabled", "1"]);
  // As in LuCI, untouched Flags (rmempty = false) and ListValues are written with their shown
  // default: that must be the schema's default, so saving changes nothing else.
  for (const [op, conf, sid, name, value] of changes.slice(1)) {
    const o = findOption("cpe", name!)!;
    assert.deepEqual([op, conf, sid], ["set", "6to4-pmt", "cpe"]);
    assert.equal(value, o.uciDefault ?? defaultText(o), `${name} written with a non-default value`);
  }
});

test("renders the status reply: state, prefixes, relay, health, counters", { skip }, () => {
  const t = String(result.statusText);
  for (const s of [
    "running",
    "2002:c000:201::/48",
    "2001:db8:c000:201::/64",
    "2001:db8::/32 (dhcp)",
    "192.88.99.1",
    "192.0.2.1 (documentation)",
    "1480",
    "up (0 consecutive failures, round trip 12.35 ms)",
    "encap_packets: 42",
    "6to4-PMT (translated provider prefix)",
  ]) {
    assert.ok(t.includes(s), `status lacks ${s}: ${t}`);
  }
  assert.ok(!t.includes("drop_ipv4_src_invalid"), "zero counters hidden");
  assert.ok(Number(result.statusRows) >= 10);
});

test("daemon-provided strings render as text, never as HTML", { skip }, () => {
  assert.equal(result.statusMarkupElements, 0);
  assert.ok(String(result.statusText).includes('<img src=x onerror="window.__pmtXss=1">'));
});

test("poll refreshes the status: not running", { skip }, () => {
  assert.equal(result.polls, 1);
  assert.match(String(result.statusAfterPoll), /Not running – 6to4-pmt: no daemon running/);
  assert.equal(result.rpcCalls, 2);
});

test("rendered widgets carry datatypes and placeholders", { skip }, () => {
  const w = result.widgets as {
    name: string;
    widget: string;
    datatype: string | null;
    placeholder: string | null;
  }[];
  const by = new Map(w.map((x) => [x.name, x]));
  assert.equal(by.get("tunnel_mtu")?.datatype, "range(1280,65515)");
  assert.equal(by.get("tunnel_mtu")?.placeholder, "wan_mtu − 20");
  assert.equal(by.get("relay")?.widget, "DynamicList");
  assert.equal(by.get("relay")?.placeholder, "192.88.99.1");
  assert.equal(by.get("provider_prefix")?.datatype, "cidr6");
  assert.equal(by.get("ra")?.widget, "ListValue");
});
