/**
 * The shipped systemd unit, packaging/systemd/6to4-pmt-relay.service (root, network namespaces).
 * No systemd runs as PID 1 here, so the unit is checked in two ways:
 *  - `systemd-analyze verify` accepts it without a warning;
 *  - its ExecStartPre= and ExecStart= lines, parsed from the file, are run as systemd would run
 *    them: as a non-root user (User=, emulated with setpriv as nobody, since the unit's user does
 *    not exist on a test host) holding AmbientCapabilities= as inheritable and ambient
 *    capabilities, with NoNewPrivileges= — in the lab topology (module/lab/topology.ts):
 *
 *   lan -- cpe == isp == relay (unit) -- inet (server 3fff:100::1)
 *
 * The configuration check exits 0 with its one line; the relay runs with uid != 0 and no
 * capability left (/proc/PID/status), forwards (the LAN host pings the server through it, and
 * its metrics on [::1]:metrics_port count the packets), and stops with exit 0 on SIGTERM.
 * Paths the unit names (/usr/bin/node, /opt/6to4-pmt/6to4-pmt.js, /etc/6to4-pmt/relay.json) are
 * replaced by this node, the bundle (npm run build) and a file of the test.
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  chownSync,
  existsSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { after, describe, test } from "node:test";
import { parseProcStatus } from "../../module/io/privileges.js";
import {
  LAB_ANYCAST,
  LAB_SERVER,
  buildLabTopology,
  labCpeArgs,
  spawnDaemon,
  waitDaemonReady,
} from "../../module/lab/topology.js";
import { daemonCommand, ping } from "../support/dataplane-harness.js";
import {
  NetnsRegistry,
  netnsSkipReason,
  toolSkipReason,
  type NsProcess,
} from "../support/netns.js";

const ROOT = resolve(__dirname, "../../..");
const UNIT = join(ROOT, "packaging/systemd/6to4-pmt-relay.service");
const BUNDLE = join(ROOT, "dist/6to4-pmt.js");
const NOBODY = 65534;
const METRICS_PORT = 9643;

const skip =
  netnsSkipReason() ??
  toolSkipReason("setpriv") ??
  toolSkipReason("unshare") ??
  (existsSync(BUNDLE) ? undefined : "no dist/6to4-pmt.js (npm run build)");

/** `[Section]` -> key -> every value, with `\` line continuations joined and comments dropped. */
function parseUnit(text: string): Map<string, Map<string, string[]>> {
  const sections = new Map<string, Map<string, string[]>>();
  let current: Map<string, string[]> | undefined;
  const lines = text.replace(/\\\n/g, " ").split("\n");
  for (const raw of lines) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#") || line.startsWith(";")) continue;
    const section = /^\[(.+)\]$/.exec(line);
    if (section) {
      current = new Map();
      sections.set(section[1]!, current);
      continue;
    }
    const eq = line.indexOf("=");
    assert.ok(eq > 0 && current !== undefined, `unit line ${JSON.stringify(line)}`);
    const key = line.slice(0, eq).trim();
    current.set(key, [...(current.get(key) ?? []), line.slice(eq + 1).trim()]);
  }
  return sections;
}

/** The one value of `key` in [Service]. */
function one(service: Map<string, string[]>, key: string): string {
  const v = service.get(key);
  assert.equal(v?.length, 1, `${key}= appears once in the unit`);
  return v[0]!;
}

/** An Exec line as argv: no quotes or specifiers in it (systemd would interpret them). */
function execArgv(line: string): string[] {
  assert.doesNotMatch(line, /["'%]/, `keep the unit's Exec lines free of quotes: ${line}`);
  assert.doesNotMatch(line, /^[-+@:!]/, `no Exec prefix expected: ${line}`);
  return line.split(/\s+/);
}

describe(
  "systemd unit: packaging/systemd/6to4-pmt-relay.service",
  { skip, timeout: 120_000 },
  () => {
    const reg = new NetnsRegistry();
    const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-unit-"));
    after(async () => {
      await reg.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });
    const unit = parseUnit(readFileSync(UNIT, "utf8"));
    const service = unit.get("Service") ?? new Map<string, string[]>();

    test(
      "systemd-analyze verify accepts it without a warning",
      { skip: toolSkipReason("systemd-analyze") },
      () => {
        const r = spawnSync("systemd-analyze", ["verify", UNIT], { encoding: "utf8", cwd: "/" });
        assert.equal(r.status, 0, r.stderr);
        assert.equal(r.stderr.trim(), "", "warnings");
      },
    );

    test("the unit's promises: non-root user, two ambient capabilities, no_new_privs, restart on failure, config check first", () => {
      assert.notEqual(one(service, "User"), "root");
      assert.deepEqual(one(service, "AmbientCapabilities").split(/\s+/).sort(), [
        "CAP_NET_ADMIN",
        "CAP_NET_RAW",
      ]);
      assert.equal(one(service, "NoNewPrivileges"), "yes");
      assert.equal(one(service, "Restart"), "on-failure");
      const pre = execArgv(one(service, "ExecStartPre"));
      const start = execArgv(one(service, "ExecStart"));
      assert.deepEqual(start.slice(-3), ["relay", "--config", "/etc/6to4-pmt/relay.json"]);
      assert.deepEqual(pre.slice(-4), [
        "relay",
        "--check-config",
        "--config",
        "/etc/6to4-pmt/relay.json",
      ]);
    });

    test("started as the unit starts it (User= and AmbientCapabilities= via setpriv): runs non-root and forwards", async () => {
      const t = buildLabTopology(reg, { cpes: [{ index: 0, pmt: true }], relays: 1 });
      const r = t.relays[0]!;
      const c = t.cpes[0]!;
      chmodSync(dir, 0o755);
      // The configuration the unit reads, readable by the unit's user only (group), as installed.
      const config = join(dir, "relay.json");
      writeFileSync(
        config,
        JSON.stringify({
          relay: {
            enabled: true,
            relay_ipv4: [LAB_ANYCAST, r.unicast],
            provider_prefix: "2001:db8::/32",
            customer_ipv4: ["100.64.0.0/10"],
            metrics_port: METRICS_PORT,
            metrics_address: "::1",
          },
        }),
      );
      chownSync(config, 0, NOBODY);
      chmodSync(config, 0o640);
      // This host's /dev/net/tun is root-only: a node the user's group may open is bound over it
      // in a private mount namespace (an installed server's udev leaves it 0666).
      const tun = join(dir, "tun");
      assert.equal(spawnSync("mknod", [tun, "c", "10", "200"]).status, 0, "mknod");
      chownSync(tun, 0, NOBODY);
      chmodSync(tun, 0o660);
      const caps = one(service, "AmbientCapabilities")
        .split(/\s+/)
        .map((cap) => "+" + cap.replace(/^CAP_/, "").toLowerCase())
        .join(",");
      const asUnit = [
        "unshare",
        "-m",
        "sh",
        "-c",
        `mount --bind ${tun} /dev/net/tun && exec "$@"`,
        "sh",
        "setpriv",
        `--reuid=${NOBODY}`,
        `--regid=${NOBODY}`,
        "--clear-groups",
        `--inh-caps=${caps}`,
        `--ambient-caps=${caps}`,
        ...(one(service, "NoNewPrivileges") === "yes" ? ["--no-new-privs"] : []),
      ];
      const substitute = (argv: string[]): string[] =>
        argv.map((a) =>
          a === "/usr/bin/node"
            ? process.execPath
            : a === "/opt/6to4-pmt/6to4-pmt.js"
              ? BUNDLE
              : a === "/etc/6to4-pmt/relay.json"
                ? config
                : a,
        );

      const check = await reg.execAsync(r.ns, [
        ...asUnit,
        ...substitute(execArgv(one(service, "ExecStartPre"))),
      ]);
      assert.equal(check.code, 0, check.stderr);
      assert.equal(check.stdout, `6to4-pmt relay: configuration OK (${config})\n`);

      let relay: NsProcess | undefined = reg.spawn(r.ns, [
        ...asUnit,
        ...substitute(execArgv(one(service, "ExecStart"))),
      ]);
      const cpe = spawnDaemon(reg, c.ns, daemonCommand(), labCpeArgs(c));
      try {
        assert.ok(await waitDaemonReady(reg, relay, 15_000), "relay: " + relay.stderr());
        assert.ok(await waitDaemonReady(reg, cpe, 15_000), "cpe: " + cpe.stderr());
        const status = parseProcStatus(readFileSync(`/proc/${relay.pid}/status`, "utf8"));
        assert.ok(status);
        assert.deepEqual(status.uids, [NOBODY, NOBODY, NOBODY, NOBODY]);
        assert.equal(status.capEff, 0n, "no capability kept once set up");
        assert.equal(status.capAmb, 0n);
        assert.equal(status.noNewPrivs, true);

        const p = await ping(reg, c.lanNs, LAB_SERVER);
        assert.equal(p.code, 0, p.stdout + relay.stderr());
        const get = `require("http").get("http://[::1]:${METRICS_PORT}/metrics", (r) => { let b = ""; r.on("data", (d) => (b += d)); r.on("end", () => console.log(b)); })`;
        const m = await reg.execAsync(r.ns, [process.execPath, "-e", get], 10_000);
        const inPackets = /sixto4pmt_traffic_total\{role="relay",counter="in_packets"\} (\d+)/.exec(
          m.stdout,
        );
        assert.ok(inPackets, m.stdout + m.stderr);
        assert.ok(Number(inPackets[1]) >= 3, `in_packets ${inPackets[1]}`);
        const rangeIn =
          /sixto4pmt_customer_range_packets_total\{role="relay",range="100\.64\.0\.0\/10",direction="in"\} (\d+)/.exec(
            m.stdout,
          );
        assert.equal(rangeIn?.[1], inPackets[1], m.stdout);
        const q = relay;
        relay = undefined;
        assert.equal(await reg.stop(q, 5000), 0, q.stderr());
        assert.doesNotMatch(reg.exec(r.ns, ["ip", "-o", "link", "show"]).stdout, /6to4pmt-r0/);
      } finally {
        if (relay !== undefined) await reg.stop(relay, 5000);
        await reg.stop(cpe, 5000);
      }
    });
  },
);
