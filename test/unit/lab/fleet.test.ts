// The BIRD configs of the relay fleet (module/lab/fleet.ts, docs/relay-fleet.md): the relay learns
// only kernel-protocol-41 routes and announces them, the routers merge equal-cost externals from
// different relays (ECMP) into the kernel. `bird -p` parses them when bird is installed.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { relayBirdConfig, routerBirdConfig } from "../../../module/lab/fleet.js";

const relay = relayBirdConfig({
  routerId: "198.51.100.2",
  ipv4Interface: "wan0",
  ipv6Interface: "inet0",
});
const router = routerBirdConfig({ routerId: "203.0.113.1", family: "ipv4", interfaces: "relay*" });

test("relay: learns kernel protocol 41 only, exports nothing to its kernel, OSPF both sides", () => {
  assert.equal((relay.match(/learn;/g) ?? []).length, 2);
  assert.equal((relay.match(/import where krt_source = 41; export none;/g) ?? []).length, 2);
  assert.match(
    relay,
    /protocol ospf v2 ospf4 \{\n  ipv4 \{ import none; export all; \};\n  area 0 \{ interface "wan0" \{ type ptp; hello 1; dead 3; \}; \};/,
  );
  assert.match(
    relay,
    /protocol ospf v3 ospf6 \{\n  ipv6 \{ import none; export all; \};\n  area 0 \{ interface "inet0"/,
  );
});

test("router: ECMP with externals merged, OSPF routes exported to the kernel", () => {
  assert.match(router, /ecmp yes;\n  merge external yes;/);
  assert.match(router, /merge paths on;/);
  assert.match(
    router,
    /export where source ~ \[ RTS_OSPF, RTS_OSPF_IA, RTS_OSPF_EXT1, RTS_OSPF_EXT2 \]/,
  );
  assert.match(
    routerBirdConfig({ routerId: "1.1.1.1", family: "ipv6", interfaces: "r*" }),
    /protocol ospf v3 \{/,
  );
});

const bird = spawnSync("sh", ["-c", "command -v bird"]).status === 0;
test(
  "bird -p parses the generated configs",
  { skip: bird ? undefined : "bird not installed" },
  () => {
    const dir = mkdtempSync(join(tmpdir(), "fleet-bird-"));
    try {
      for (const [name, text] of [
        ["relay", relay],
        ["router4", router],
        [
          "router6",
          routerBirdConfig({ routerId: "203.0.113.2", family: "ipv6", interfaces: "relay*" }),
        ],
      ] as const) {
        const f = join(dir, `${name}.conf`);
        writeFileSync(f, text);
        const r = spawnSync("bird", ["-p", "-c", f], { encoding: "utf8" });
        assert.equal(r.status, 0, `${name}: ${r.stderr}`);
      }
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  },
);
