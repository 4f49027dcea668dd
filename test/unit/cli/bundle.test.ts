// The built bundle dist/6to4-pmt.js run as a program: derive output
// (RFC 6732 Figure 3), --json, --help, --version, exit codes and one-line errors. `npm test`
// builds the bundle first (pretest); run alone, build with `npm run build`.
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { copyFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { VERSION } from "../../../module/cli/version.js";

const BUNDLE = resolve("dist/6to4-pmt.js");
const skip = existsSync(BUNDLE) ? false : `${BUNDLE} not built: run \`npm run build\` first`;

function run(args: string[], bundle = BUNDLE): { code: number | null; out: string; err: string } {
  const r = spawnSync(process.execPath, [bundle, ...args], { encoding: "utf8", timeout: 20_000 });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

test("derive 12.152.44.1 --provider-prefix 2001:db8::/32 (RFC 6732 Figure 3)", { skip }, () => {
  const r = run(["derive", "12.152.44.1", "--provider-prefix", "2001:db8::/32"]);
  assert.equal(r.code, 0, r.err);
  assert.equal(r.err, "");
  assert.match(r.out, /2002:c98:2c01::\/48/);
  assert.match(r.out, /2001:db8:c98:2c01::\/64/);
  assert.match(r.out, /^Router address +2002:c98:2c01::1$/m);
  assert.match(r.out, /^Verdict +plain 6to4 usable/m);
});

test("derive --json is one parseable object", { skip }, () => {
  const r = run([
    "derive",
    "100.64.1.2",
    "--json",
    "--provider-prefix=2001:db8::/32",
    "--sla",
    "0",
  ]);
  assert.equal(r.code, 0, r.err);
  const j = JSON.parse(r.out) as Record<string, unknown>;
  assert.equal(j.class, "shared");
  assert.equal(j.sixToFourPrefix, "2002:6440:102::/48");
  assert.equal(j.translatedLan64, "2001:db8:6440:102::/64");
  assert.equal(j.verdict, "pmt-relay");
});

test("--help, --version, derive --help", { skip }, () => {
  const h = run(["--help"]);
  assert.equal(h.code, 0);
  for (const c of ["cpe", "relay", "derive", "status", "lab"])
    assert.match(h.out, new RegExp(`^  ${c} `, "m"));
  const v = run(["--version"]);
  assert.equal(v.code, 0);
  assert.equal(v.out, `6to4-pmt ${VERSION}\n`);
  const d = run(["derive", "--help"]);
  assert.equal(d.code, 0);
  assert.match(d.out, /--provider-prefix P\/L/);
  for (const role of ["cpe", "relay"]) {
    const h = run([role, "--help"]);
    assert.equal(h.code, 0, h.err);
    assert.match(h.out, /^ {2}--tunnel-mtu {2}int /m);
    assert.match(h.out, /^ {2}--log-level {2}enum /m);
  }
});

test("bad input: ONE line on stderr naming the option, exit 2, nothing on stdout", { skip }, () => {
  const cases: [string[], RegExp][] = [
    [["derive", "192.0.2.300"], /^6to4-pmt: <ipv4>: expected a dotted-quad IPv4 address/],
    [
      ["derive", "192.0.2.1", "--provider-prefix", "2001:db8::/48"],
      /^6to4-pmt: --provider-prefix: expected an IPv6 prefix P\/L with 16 <= L <= 32, got "2001:db8::\/48"$/,
    ],
    [
      ["derive", "192.0.2.1", "--provider-prefix", "2001:db8::/33"],
      /^6to4-pmt: --provider-prefix: /,
    ],
    [["derive", "192.0.2.1", "--provider-prefix", "zzz"], /^6to4-pmt: --provider-prefix: /],
    [["derive", "192.0.2.1", "--sla", "65536"], /^6to4-pmt: --sla: expected an integer 0\.\.65535/],
    [
      ["derive", "192.0.2.1", "--provider-prefix", "2001:db8::/32", "--ipv4-prefix-len", "17"],
      /^6to4-pmt: --ipv4-prefix-len: expected at most 16/,
    ],
    [["derive", "192.0.2.1", "--foo"], /^6to4-pmt: --foo: unknown option$/],
    [["cpe", "--foo"], /^6to4-pmt: --foo: unknown option$/],
    [["relay", "--wan-device", "wan"], /^6to4-pmt: --wan-device: a cpe option, not relay$/],
    [["cpe", "--tunnel-mtu"], /^6to4-pmt: --tunnel-mtu: expected an integer 1280\.\.65515$/],
    [["status", "--foo"], /^6to4-pmt: --foo: unknown option$/],
    [["lab", "--bytes", "many"], /^6to4-pmt: --bytes: expected a byte count/],
    [["derive"], /^6to4-pmt: <ipv4>: /],
    [["nope"], /^6to4-pmt: unknown command "nope"/],
    [["--foo"], /^6to4-pmt: --foo: unknown option$/],
  ];
  for (const [args, re] of cases) {
    const r = run(args);
    assert.equal(r.code, 2, args.join(" "));
    assert.equal(r.out, "", args.join(" "));
    const lines = r.err.split("\n").filter((l) => l !== "");
    assert.equal(lines.length, 1, `${args.join(" ")}: ${r.err}`);
    assert.match(lines[0]!, re);
  }
});

test("the bundle runs with plain node and no node_modules beside it", { skip }, () => {
  assert.match(readFileSync(BUNDLE, "utf8"), /^#!\/usr\/bin\/env node\n/);
  const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-bundle-"));
  try {
    const copy = join(dir, "6to4-pmt.js");
    copyFileSync(BUNDLE, copy);
    const r = run(["derive", "192.0.2.1"], copy);
    assert.equal(r.code, 0, r.err);
    assert.match(r.out, /2002:c000:201::\/48/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "the relay worker section: only the worker's modules, in a function of its own",
  { skip },
  () => {
    const text = readFileSync(BUNDLE, "utf8");
    const at = text.indexOf(
      "\nfunction __pmtRelayWorker(require, module, exports, __filename, __dirname) {\n",
    );
    assert.ok(at > 0, "the bundle ends with the worker section");
    const section = text.slice(at);
    // What a worker thread evaluates: its data plane and nothing of the CLI or control plane.
    assert.match(section, /runRelayWorker\(/);
    assert.match(section, /require\('node:worker_threads'\)/);
    for (const mod of ["node:child_process", "node:http", "node:net", "node:perf_hooks"]) {
      assert.ok(!section.includes(`require('${mod}')`), `${mod} is not in the worker section`);
    }
    assert.ok(!section.includes("runRelay("), "the relay's CLI is not in the worker section");
    assert.ok(
      section.length < text.length / 4,
      `worker section ${section.length} of ${text.length} bytes`,
    );
  },
);
