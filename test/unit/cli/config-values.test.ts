// The daemons refuse configured values that parse but can never work (config/value-check.ts)
// before they touch the system: ONE line on stderr naming the option, exit 2, nothing on stdout.
// Runs the built bundle; `npm test` builds it first (pretest), run alone: `npm run build`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { resolve } from "node:path";

const BUNDLE = resolve("dist/6to4-pmt.js");
const skip = existsSync(BUNDLE) ? false : `${BUNDLE} not built: run \`npm run build\` first`;

test("cpe/relay with unusable addresses or devices: one line, exit 2", { skip }, () => {
  const cases: Array<[string[], RegExp]> = [
    [
      ["cpe", "--enabled", "--relay", "192.88.99.1,255.255.255.255"],
      /^6to4-pmt: --relay: expected at most 8 unicast IPv4 addresses RFC 3964 §5\.3\.1 allows .*; 255\.255\.255\.255 is broadcast \(RFC 919 §7/,
    ],
    [
      ["cpe", "--enabled", "--wan-device", "eth0", "--lan-device", "eth0"],
      /^6to4-pmt: --lan-device: expected a device other than wan_device, got "eth0"$/,
    ],
    [
      ["cpe", "--enabled", "--dns", "::"],
      /^6to4-pmt: --dns: expected unicast IPv6 addresses; :: is unspecified/,
    ],
    [
      ["relay", "--enabled", "--relay-ipv4", "0.0.0.0"],
      /^6to4-pmt: --relay-ipv4: expected unicast IPv4 addresses, got "0\.0\.0\.0" \(unspecified/,
    ],
    [
      ["relay", "--enabled", "--customer-ipv4", "0.0.0.0/0"],
      /^6to4-pmt: --customer-ipv4: expected ranges of unicast customer addresses; 0\.0\.0\.0\/0 overlaps 224\.0\.0\.0\/4, multicast/,
    ],
  ];
  for (const [args, re] of cases) {
    const r = spawnSync(process.execPath, [BUNDLE, ...args], { encoding: "utf8", timeout: 20_000 });
    assert.equal(r.status, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stdout, "", args.join(" "));
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${r.stderr}`);
    assert.match(lines[0]!, re);
  }
});
