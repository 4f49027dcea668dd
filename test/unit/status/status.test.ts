// Status socket (mode 0600, one JSON line per request) and `6to4-pmt status` output / exit codes.
import { test } from "node:test";
import assert from "node:assert/strict";
import { lstatSync, mkdtempSync, rmSync, statSync, existsSync, writeFileSync } from "node:fs";
import { spawnSync } from "node:child_process";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { queryStatusSocket, startStatusServer } from "../../../module/status/server.js";
import { main } from "../../../module/cli/main.js";
import { formatStatus, runStatus } from "../../../module/cli/status.js";
import { sampleStatus } from "../../support/status-sample.js";

function capture() {
  let out = "";
  let err = "";
  return {
    io: { out: (t: string) => (out += t), err: (t: string) => (err += t) },
    out: () => out,
    err: () => err,
  };
}

test("server answers status as JSON, mode 0600, close removes the socket", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-status-"));
  const path = join(dir, "s.sock");
  const server = await startStatusServer(path, {
    snapshot: sampleStatus,
    command: (c) =>
      c === "reload"
        ? { ok: true }
        : c === "later"
          ? new Promise((r) => setTimeout(() => r({ later: true }), 20))
          : c === "fails"
            ? Promise.reject(new Error("dump failed"))
            : undefined,
  });
  try {
    assert.equal(statSync(path).mode & 0o777, 0o600);
    // A command whose answer comes later (the relay's `resolve` waits for its table dump).
    assert.deepEqual(await queryStatusSocket(path, "later"), { later: true });
    assert.deepEqual(await queryStatusSocket(path, "fails"), { error: "dump failed" });
    assert.deepEqual(await queryStatusSocket(path), sampleStatus());
    assert.deepEqual(await queryStatusSocket(path, '{"cmd":"status"}'), sampleStatus());
    assert.deepEqual(await queryStatusSocket(path, "reload"), { ok: true });
    assert.match(JSON.stringify(await queryStatusSocket(path, "bogus")), /unknown command/);
    assert.match(JSON.stringify(await queryStatusSocket(path, "{nope")), /not JSON/);
    // A second daemon on the same socket is refused.
    await assert.rejects(startStatusServer(path, { snapshot: sampleStatus }), /another daemon/);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
  assert.equal(existsSync(path), false);
});

test("a stale socket file is replaced", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-status-"));
  const path = join(dir, "s.sock");
  // Leave a socket behind with no listener: a process killed while listening (close() would
  // have removed it).
  const r = spawnSync(process.execPath, [
    "-e",
    `require("net").createServer().listen(${JSON.stringify(path)}, () => process.kill(process.pid, "SIGKILL"))`,
  ]);
  assert.equal(r.signal, "SIGKILL");
  assert.ok(lstatSync(path).isSocket());
  const server = await startStatusServer(path, { snapshot: sampleStatus });
  try {
    assert.equal(((await queryStatusSocket(path)) as { pid: number }).pid, 4242);
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("6to4-pmt status --resolve: the wan send line after the daemon's resolve; exit 1 without wan_send packet", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-status-"));
  const path = join(dir, "s.sock");
  const resolved = {
    configured: "packet" as const,
    active: "packet" as const,
    reason: "1 customer interval(s) via 198.51.100.1; neighbour 198.51.100.1 on wan0: REACHABLE",
    nextHop: { device: "wan0", gateway: "198.51.100.1", lladdr: "02:00:5e:00:00:01" },
    packets: 7,
    fallbacks: 0,
    unresolved: 0,
    nextHopChanges: 0,
    resolves: 3,
    routeEvents: 2,
    routes: { count: 1000007, kept: 5, ms: 466, everyS: 60 },
  };
  let server = await startStatusServer(path, {
    snapshot: sampleStatus,
    // The relay answers once its new table read is applied.
    command: (c) => (c === "resolve" ? Promise.resolve(resolved) : undefined),
  });
  try {
    let c = capture();
    assert.equal(await runStatus(["--resolve", "--status-socket", path], c.io), 0);
    assert.equal(
      c.out(),
      "wan send: packet: AF_PACKET via 198.51.100.1 02:00:5e:00:00:01 on wan0 (1 customer " +
        "interval(s) via 198.51.100.1; neighbour 198.51.100.1 on wan0: REACHABLE); 7 packets, " +
        "0 fallbacks, 0 unresolved, 2 route events; routes: 1000007 read (5 for customers) in " +
        "466 ms, on change and every 60 s\n",
    );
    c = capture();
    assert.equal(await runStatus(["--resolve", "--json", "--status-socket", path], c.io), 0);
    assert.deepEqual(JSON.parse(c.out()), { ...resolved, exitCode: 0 });
    await server.close();
    server = await startStatusServer(path, { snapshot: sampleStatus });
    c = capture();
    assert.equal(await runStatus(["--resolve", "--status-socket", path], c.io), 1);
    assert.equal(
      c.err(),
      "6to4-pmt: nothing to resolve: the daemon does not run wan_send packet\n",
    );
  } finally {
    await server.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test("6to4-pmt status: human and --json output; exit 5 without daemon; exit 2 on bad usage", async () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-status-"));
  const path = join(dir, "s.sock");
  try {
    let c = capture();
    assert.equal(await runStatus(["--status-socket", path], c.io), 5);
    assert.match(c.err(), /no daemon running \(status socket .*s\.sock: ENOENT\)/);
    // Usage errors are one line from main(), exit 2.
    c = capture();
    assert.equal(await main(["status", "--frobnicate"], c.io), 2);
    assert.equal(c.err(), "6to4-pmt: --frobnicate: unknown option\n");
    c = capture();
    assert.equal(await main(["status", "--status-socket"], c.io), 2);
    assert.equal(c.err(), "6to4-pmt: --status-socket: expected a path\n");
    c = capture();
    assert.equal(await main(["status", "stray"], c.io), 2);
    assert.match(c.err(), /^6to4-pmt: unexpected argument "stray"/);
    c = capture();
    assert.equal(await main(["status", "--config", join(dir, "missing.json")], c.io), 2);
    assert.match(c.err(), /^6to4-pmt: --config .*missing\.json/);
    // --json: one JSON object on stdout in every case, errors too, with the exit code.
    c = capture();
    assert.equal(await runStatus(["--json", "--status-socket", path], c.io), 5);
    assert.equal(c.err(), "");
    const noDaemon = JSON.parse(c.out()) as { error: string; exitCode: number };
    assert.match(noDaemon.error, /^no daemon running \(status socket .*s\.sock: ENOENT\)$/);
    assert.equal(noDaemon.exitCode, 5);
    c = capture();
    assert.equal(await runStatus(["--json", "--frobnicate"], c.io), 2);
    assert.deepEqual(JSON.parse(c.out()), { error: "--frobnicate: unknown option", exitCode: 2 });
    c = capture();
    assert.equal(await runStatus(["--json", "--config", join(dir, "missing.json")], c.io), 2);
    assert.match((JSON.parse(c.out()) as { error: string }).error, /^--config .*missing\.json/);
    const server = await startStatusServer(path, { snapshot: sampleStatus });
    try {
      c = capture();
      assert.equal(await runStatus(["--json", "--status-socket", path], c.io), 0);
      const { ipv6, exitCode, ...rest } = JSON.parse(c.out()) as Record<string, unknown>;
      assert.deepEqual(rest, sampleStatus());
      assert.equal((ipv6 as { level: string }).level, "works");
      assert.equal(exitCode, 0);
      c = capture();
      assert.equal(await runStatus([`--status-socket=${path}`], c.io), 0);
      assert.equal(c.out(), formatStatus(sampleStatus()));
      // The socket path from a JSON config file (status_socket).
      writeFileSync(join(dir, "cpe.json"), JSON.stringify({ status_socket: path }));
      c = capture();
      assert.equal(await runStatus(["--json", "-c", join(dir, "cpe.json")], c.io), 0);
      assert.equal(JSON.parse(c.out()).pid, 4242);
    } finally {
      await server.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("formatStatus names every part of the state", () => {
  const text = formatStatus(sampleStatus());
  for (const re of [
    /^state:\s+running$/m,
    /^version:\s+0\.1\.0, pid 4242, up 1h 2m 5s$/m,
    /^wan:\s+wan0 192\.0\.2\.1 \[documentation\] \(learned\), mtu 1500 \(learned\)$/m,
    /^6to4 prefix:\s+2002:c000:201::\/48$/m,
    /^translated prefix:\s+2001:db8:c000:201::\/64$/m,
    /^provider prefix:\s+2001:db8::\/32 \(dhcp\)$/m,
    /^relays:\s+192\.0\.2\.254 \(dhcp\)$/m,
    /^health:\s+up, target 2002:c000:2fe::c000:2fe, .*, ok 10\/10, rtt 4\.50 ms$/m,
    /^router adverts:\s+builtin on lan0, sent 7 \(2 solicited\)/m,
    /prefix:\s+2001:db8:c633:6407::\/64 deprecated \(0\/0\) until 2026-01-01T02:30:00\.000Z/,
    /^ {2}rs_invalid_hop_limit:\s+1$/m,
  ]) {
    assert.match(text, re);
  }
});

test("wan send row: the path in use, its next hop and counts; absent with raw", () => {
  const plain = formatStatus(sampleStatus());
  assert.doesNotMatch(plain, /wan send/);
  const text = formatStatus({
    ...sampleStatus(),
    wanSend: {
      configured: "packet",
      active: "packet",
      reason: "neighbour 100.64.0.1 on wan0: REACHABLE",
      nextHop: { device: "wan0", gateway: "100.64.0.1", lladdr: "02:00:5e:00:00:01" },
      packets: 1234,
      fallbacks: 1,
      unresolved: 2,
      nextHopChanges: 0,
      resolves: 9,
      routeEvents: 5,
    },
  });
  assert.match(
    text,
    /^wan send: +packet: AF_PACKET via 100\.64\.0\.1 02:00:5e:00:00:01 on wan0 \(neighbour 100\.64\.0\.1 on wan0: REACHABLE\); 1234 packets, 1 fallbacks, 2 unresolved, 5 route events$/m,
  );
  const raw = formatStatus({
    ...sampleStatus(),
    wanSend: {
      configured: "packet",
      active: "raw",
      reason: "neighbour 100.64.0.1 on wan0: FAILED",
      nextHop: null,
      packets: 0,
      fallbacks: 1,
      unresolved: 1,
      nextHopChanges: 0,
      resolves: 3,
    },
  });
  assert.match(
    raw,
    /^wan send: +packet: raw socket \(neighbour 100\.64\.0\.1 on wan0: FAILED\); 0 packets, 1 fallbacks, 1 unresolved, route changes not watched$/m,
  );
  // The relay's: what its last routing-table dump read, took, and how often it comes.
  const relay = (count: number | null, routeEvents?: number): string =>
    formatStatus({
      ...sampleStatus(),
      wanSend: {
        configured: "packet",
        active: "raw",
        reason: "x",
        nextHop: null,
        packets: 0,
        fallbacks: 0,
        unresolved: 0,
        nextHopChanges: 0,
        resolves: 1,
        routes: { count, ms: 34.2, everyS: 3.4 },
        ...(routeEvents !== undefined ? { routeEvents } : {}),
      },
    });
  assert.match(
    relay(60007),
    /0 unresolved, route changes not watched; routes: 60007 read in 34\.2 ms, every 3\.4 s$/m,
  );
  assert.match(relay(null), /; routes: over the cap, read in 34\.2 ms, every 3\.4 s$/m);
  assert.match(
    relay(60007, 3),
    /0 unresolved, 3 route events; routes: 60007 read in 34\.2 ms, on change and every 3\.4 s$/m,
  );
});
