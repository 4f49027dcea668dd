// Every option of the LuCI view (luci-app-6to4-pmt) exists in module/config/schema.ts with the same
// type (widget + datatype), default and choices, and its placeholder shows the default. The view is
// loaded in Node through the LuCI STAND-IN (fixtures/luci-standin.js, not LuCI's code).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { resolve } from "node:path";
import {
  defaultText,
  findOption,
  isListType,
  luciDatatype,
  type OptionSpec,
} from "../../../module/config/schema.js";

const VIEW =
  "openwrt-package/luci-app-6to4-pmt/htdocs/luci-static/resources/view/6to4-pmt/config.js";

interface StandinOption {
  option: string;
  widgetName: string;
  datatype: string | null;
  placeholder: string | null;
  default: string | null;
  keylist: string[];
  tab?: string;
}
interface StandinSection {
  sectiontype: string;
  children: StandinOption[];
}
interface Standin {
  state: { maps: { config: string; sections: StandinSection[] }[] };
  loadView(src: string): { load(): Promise<unknown>; render(d: unknown): Promise<unknown> };
}

async function viewOptions(): Promise<StandinOption[]> {
  const req = createRequire(resolve("test/unit/openwrt/fixtures/x.js"));
  const create = req("./luci-standin.js") as (doc: unknown, hooks: unknown) => Standin;
  const luci = create(null, {
    uci: { "6to4-pmt": { cpe: { ".type": "cpe", enabled: "0" } } },
    rpc: () => ({ running: false, error: "no daemon" }),
  });
  const v = luci.loadView(readFileSync(VIEW, "utf8"));
  await v.render(await v.load());
  const map = luci.state.maps[0]!;
  assert.equal(map.config, "6to4-pmt");
  return map.sections.filter((s) => s.sectiontype === "cpe").flatMap((s) => s.children);
}

function expectedWidget(o: OptionSpec): string {
  if (o.type === "bool") return "Flag";
  if (o.type === "enum") return "ListValue";
  if (isListType(o.type)) return "DynamicList";
  return "Value";
}

/** The value LuCI shows when the option is unset: UCI default on OpenWrt, else the daemon's. */
function expectedDefault(o: OptionSpec): string {
  return o.uciDefault ?? defaultText(o);
}

test("LuCI view options exist in the schema with the same type, default and choices", async () => {
  const opts = await viewOptions();
  assert.ok(opts.length >= 20, `only ${opts.length} options`);
  for (const lo of opts) {
    const o = findOption("cpe", lo.option);
    assert.ok(o, `LuCI option ${lo.option} is not in the schema`);
    assert.equal(o.name, lo.option);
    assert.equal(lo.widgetName, expectedWidget(o), `${o.name} widget`);
    if (lo.widgetName === "Flag" || lo.widgetName === "ListValue") {
      assert.equal(lo.default, expectedDefault(o), `${o.name} default`);
      assert.equal(lo.datatype, null, `${o.name} datatype`);
    } else {
      assert.equal(lo.datatype, luciDatatype(o), `${o.name} datatype`);
      const shown = o.default === undefined ? o.defaultNote : expectedDefault(o);
      assert.equal(lo.placeholder, shown, `${o.name} placeholder shows the default`);
    }
    if (lo.widgetName === "ListValue") {
      assert.deepEqual([...lo.keylist].sort(), [...(o.choices ?? [])].sort(), `${o.name} choices`);
    }
  }
});

test("the view covers the issue's options: enable, mode, relay, provider prefix, SLA, MTU, RA", async () => {
  const names = (await viewOptions()).map((o) => o.option);
  for (const n of [
    "enabled",
    "ra",
    "relay",
    "provider_prefix",
    "sla",
    "tunnel_mtu",
    "ra_preferred_lifetime",
    "ra_valid_lifetime",
    "ra_min_interval",
    "ra_max_interval",
    "ra_router_lifetime",
  ]) {
    assert.ok(names.includes(n), n);
  }
  assert.deepEqual(names, [...new Set(names)], "no duplicates");
});

test("menu.d and acl.d: view gated on the ACL and the UCI package; ACL grants only status + uci", () => {
  const base = "openwrt-package/luci-app-6to4-pmt/root/usr/share";
  const menu = JSON.parse(readFileSync(`${base}/luci/menu.d/luci-app-6to4-pmt.json`, "utf8"));
  const entry = menu["admin/services/6to4-pmt"];
  assert.deepEqual(entry.action, { type: "view", path: "6to4-pmt/config" });
  assert.deepEqual(entry.depends, { acl: ["luci-app-6to4-pmt"], uci: { "6to4-pmt": true } });
  const acl = JSON.parse(readFileSync(`${base}/rpcd/acl.d/luci-app-6to4-pmt.json`, "utf8"))[
    "luci-app-6to4-pmt"
  ];
  assert.deepEqual(acl.read, { ubus: { "luci.6to4-pmt": ["status"] }, uci: ["6to4-pmt"] });
  assert.deepEqual(acl.write, { uci: ["6to4-pmt"] });
  const plugin = readFileSync(`${base}/rpcd/ucode/luci.6to4-pmt`, "utf8");
  assert.match(plugin, /return \{ 'luci\.6to4-pmt': methods \};/);
  assert.match(plugin, /6to4-pmt status --json/);
  const view = readFileSync(VIEW, "utf8");
  assert.match(view, /object: 'luci\.6to4-pmt',\s*method: 'status'/);
});
