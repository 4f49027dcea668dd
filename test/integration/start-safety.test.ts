/**
 * What a daemon refuses at start (root, network namespaces), each before it opens its TUN:
 *  - status_socket naming an existing regular file: exit 2, the file stays (status/server.ts);
 *  - state_file that is a symlink, or a file that is not JSON: exit 2, nothing overwritten;
 *  - netifd_hook in a directory others can write: exit 2, the hook never runs;
 *  - a second relay / CPE in the same network namespace: exit 4 naming the first
 *    (cli/instance-lock.ts);
 *  - a relay whose metrics port is taken: exit 2 naming metrics_port;
 *  - a relay where the kernel would not forward (net.ipv6.conf.all.forwarding 0, or
 *    net.ipv4.conf.all.rp_filter 1): exit 4 with one line naming the sysctl, no TUN;
 *  - `--check-config`: one line and exit 0 or 2, no TUN, no lock (it answers while a relay runs),
 *    no sysctl check, a refused file left alone.
 *
 *   cpe (wan0 100.64.0.2/24, lan0 dummy) ---- isp (100.64.0.1/24)
 */
import assert from "node:assert/strict";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readFileSync,
  rmSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, test } from "node:test";
import { NetnsRegistry, netnsSkipReason, type NsProcess } from "../support/netns.js";
import { daemonCommand } from "../support/dataplane-harness.js";
import { buildSharedWanCpe, sharedWanCpeArgs } from "../support/cpe-isp.js";

const skip = netnsSkipReason();

/** The one line a refused start prints (after the logger's prefix, if any). */
function lastLine(text: string): string {
  return text.trim().split("\n").at(-1) ?? "";
}

describe(
  "start-up refusals: unsafe files, second instance, busy metrics port",
  { skip, timeout: 120_000 },
  () => {
    const reg = new NetnsRegistry();
    const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-safety-"));
    let cpe = "";
    let isp = "";
    let nofwd = "";

    before(() => {
      ({ cpe, isp } = buildSharedWanCpe(reg, { cpe: "sfcpe", isp: "sfisp" }));
      nofwd = reg.createNamespace("sfnofwd");
    });
    after(async () => {
      await reg.cleanup();
      rmSync(dir, { recursive: true, force: true });
    });

    const cpeArgs = (name: string, extra: string[] = []): string[] =>
      sharedWanCpeArgs(join(dir, `${name}.state.json`), join(dir, `${name}.sock`), extra);
    const relayArgs = (extra: string[] = []): string[] => [
      "relay",
      "--enabled",
      "--provider-prefix",
      "2001:db8::/32",
      "--customer-ipv4",
      "100.64.0.0/10",
      ...extra,
    ];

    /** Runs the daemon and waits (bounded) for it to exit; a daemon still running fails the test. */
    async function runRefused(
      ns: string,
      args: string[],
    ): Promise<{ code: number; stderr: string }> {
      const p = reg.spawn(ns, [...daemonCommand(), ...args]);
      const exited = await reg.waitFor(() => p.hasExited(), 15_000);
      if (!exited) {
        await reg.stop(p, 5000);
        assert.fail(`daemon kept running instead of refusing to start:\n${p.stderr()}`);
      }
      return { code: await p.exited, stderr: p.stderr() };
    }

    async function waitStarted(p: NsProcess): Promise<void> {
      const up = await reg.waitFor(
        () => /loop started[\s\S]*loop started/.test(p.stderr()) || p.hasExited(),
        20_000,
      );
      assert.ok(up && !p.hasExited(), p.stderr());
    }

    test("status_socket naming a regular file: exit 2 naming the option, the file stays", async () => {
      const victim = join(dir, "victim.txt");
      writeFileSync(victim, "keep me\n");
      const r = await runRefused(cpe, cpeArgs("sock", ["--status-socket", victim]));
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        lastLine(r.stderr),
        /^6to4-pmt: status_socket .*victim\.txt exists and is not a socket/,
      );
      assert.equal(readFileSync(victim, "utf8"), "keep me\n");
    });

    test("state_file that is a symlink: exit 2, its target untouched", async () => {
      const target = join(dir, "target.txt");
      writeFileSync(target, "not yours\n");
      const link = join(dir, "link.state.json");
      symlinkSync(target, link);
      const r = await runRefused(cpe, cpeArgs("link", ["--state-file", link]));
      assert.equal(r.code, 2, r.stderr);
      assert.match(lastLine(r.stderr), /^6to4-pmt: state_file .*link\.state\.json is a symlink$/);
      assert.equal(readFileSync(target, "utf8"), "not yours\n");
    });

    test("state_file naming a file that is not JSON: exit 2, the file is not overwritten", async () => {
      const other = join(dir, "passwd");
      writeFileSync(other, "root:x:0:0:root:/root:/bin/sh\n");
      const r = await runRefused(cpe, cpeArgs("other", ["--state-file", other]));
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        lastLine(r.stderr),
        /^6to4-pmt: state_file .*passwd exists and is not a 6to4-pmt state file/,
      );
      assert.equal(readFileSync(other, "utf8"), "root:x:0:0:root:/root:/bin/sh\n");
    });

    test("netifd_hook in a directory others can write: exit 2, the hook never runs", async () => {
      const open = join(dir, "open");
      mkdirSync(open);
      chmodSync(open, 0o777);
      const ran = join(dir, "hook-ran");
      const hook = join(open, "hook");
      writeFileSync(hook, `#!/bin/sh\necho "$*" >> ${ran}\n`);
      chmodSync(hook, 0o755);
      const r = await runRefused(cpe, cpeArgs("hook", ["--ra", "netifd", "--netifd-hook", hook]));
      assert.equal(r.code, 2, r.stderr);
      assert.match(
        lastLine(r.stderr),
        /^6to4-pmt: netifd_hook .*hook is in a directory others can change: .*open is writable by group or others \(mode 0777\)/,
      );
      assert.equal(existsSync(ran), false, "the hook ran");
    });

    test("a second relay in the same namespace exits 4 naming the first; a busy metrics port exits 2", async () => {
      const first = reg.spawn(isp, [...daemonCommand(), ...relayArgs()]);
      await waitStarted(first);
      const second = await runRefused(isp, relayArgs(["--tun-name", "6to4pmt-r1"]));
      assert.equal(second.code, 4, second.stderr);
      assert.match(
        lastLine(second.stderr),
        new RegExp(
          `another relay is running in this network namespace \\(pid ${first.pid}, tun 6to4pmt-r0\\)`,
        ),
      );
      assert.doesNotMatch(reg.exec(isp, ["ip", "-o", "link", "show"]).stdout, /6to4pmt-r1/);
      assert.equal(await reg.stop(first, 5000), 0, first.stderr());

      // A listener holds 127.0.0.1:9641 in the namespace: the relay must not start without metrics.
      const holder = reg.spawn(isp, [
        process.execPath,
        "-e",
        'require("net").createServer().listen(9641, "127.0.0.1", () => console.log("listening"))',
      ]);
      assert.ok(
        await reg.waitFor(() => holder.stdout().includes("listening"), 10_000),
        holder.stderr(),
      );
      const busy = await runRefused(isp, relayArgs(["--metrics-port", "9641"]));
      assert.equal(busy.code, 2, busy.stderr);
      assert.match(
        lastLine(busy.stderr),
        /^6to4-pmt: metrics_port .*127\.0\.0\.1:9641: .*EADDRINUSE/,
      );
      assert.doesNotMatch(reg.exec(isp, ["ip", "-o", "link", "show"]).stdout, /6to4pmt-r0/);
      await reg.stop(holder, 5000);

      // An address the namespace does not have: exit 2 naming metrics_address.
      const absent = await runRefused(
        isp,
        relayArgs(["--metrics-port", "9641", "--metrics-address", "192.0.2.99"]),
      );
      assert.equal(absent.code, 2, absent.stderr);
      assert.match(
        lastLine(absent.stderr),
        /^6to4-pmt: metrics_address \(--metrics-address\): cannot listen on 192\.0\.2\.99:9641: .*EADDRNOTAVAIL/,
      );
    });

    test("a second cpe in the same namespace exits 4 naming the first", async () => {
      const first = reg.spawn(cpe, [...daemonCommand(), ...cpeArgs("one")]);
      await waitStarted(first);
      const second = await runRefused(cpe, cpeArgs("two", ["--tun-name", "6to4pmt1"]));
      assert.equal(second.code, 4, second.stderr);
      assert.match(
        lastLine(second.stderr),
        new RegExp(
          `another cpe is running in this network namespace \\(pid ${first.pid}, tun 6to4pmt0\\)`,
        ),
      );
      assert.doesNotMatch(reg.exec(cpe, ["ip", "-o", "link", "show"]).stdout, /6to4pmt1/);
      assert.equal(await reg.stop(first, 5000), 0, first.stderr());
    });
    test("relay with IPv6 forwarding off or strict rp_filter: exit 4, one line naming the sysctl, no TUN", async () => {
      const off = await runRefused(nofwd, relayArgs());
      assert.equal(off.code, 4, off.stderr);
      assert.match(
        lastLine(off.stderr),
        /net\.ipv6\.conf\.all\.forwarding is 0: .*set net\.ipv6\.conf\.all\.forwarding=1 .*not starting$/,
      );
      assert.doesNotMatch(reg.exec(nofwd, ["ip", "-o", "link", "show"]).stdout, /6to4pmt-r0/);

      reg.exec(nofwd, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=1"]);
      reg.exec(nofwd, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=1"]);
      try {
        const strict = await runRefused(nofwd, relayArgs());
        assert.equal(strict.code, 4, strict.stderr);
        assert.match(
          lastLine(strict.stderr),
          /net\.ipv4\.conf\.all\.rp_filter is 1 \(strict\): .*set net\.ipv4\.conf\.all\.rp_filter=2 \(loose\) or 0; not starting$/,
        );
        assert.doesNotMatch(reg.exec(nofwd, ["ip", "-o", "link", "show"]).stdout, /6to4pmt-r0/);
      } finally {
        reg.exec(nofwd, ["sysctl", "-qw", "net.ipv4.conf.all.rp_filter=0"]);
        reg.exec(nofwd, ["sysctl", "-qw", "net.ipv6.conf.all.forwarding=0"]);
      }
    });

    test("--check-config: one line, exit 0 or 2; no TUN, no lock, no sysctl check, files untouched", async () => {
      // Forwarding off here: a configuration check does not look at the kernel.
      const ok = await reg.execAsync(nofwd, [
        ...daemonCommand(),
        ...relayArgs(["--check-config", "--metrics-port", "9641", "--metrics-address", "::1"]),
      ]);
      assert.equal(ok.code, 0, ok.stderr);
      assert.equal(ok.stdout, "6to4-pmt relay: configuration OK (command line)\n");
      assert.equal(ok.stderr, "");
      assert.doesNotMatch(reg.exec(nofwd, ["ip", "-o", "link", "show"]).stdout, /6to4pmt/);

      const bad = await reg.execAsync(nofwd, [
        ...daemonCommand(),
        ...relayArgs(["--check-config", "--metrics-address", "localhost"]),
      ]);
      assert.equal(bad.code, 2, bad.stderr);
      assert.equal(bad.stdout, "");
      assert.equal(
        bad.stderr,
        '6to4-pmt: --metrics-address: expected an IPv4 address a.b.c.d or an IPv6 address, got "localhost"\n',
      );
      // A value check beyond the syntax (config/value-check.ts), from a JSON file.
      const json = join(dir, "relay-check.json");
      writeFileSync(json, JSON.stringify({ relay: { relay_ipv4: ["127.0.0.1"] } }));
      const value = await reg.execAsync(nofwd, [
        ...daemonCommand(),
        "relay",
        "--check-config",
        "-c",
        json,
      ]);
      assert.equal(value.code, 2, value.stderr);
      assert.equal(value.stderr.trim().split("\n").length, 1, value.stderr);
      assert.match(value.stderr, /^6to4-pmt: relay_ipv4 \(in .*relay-check\.json\): /);

      // While a relay runs (holding the one-instance lock), a check still answers.
      const running = reg.spawn(isp, [...daemonCommand(), ...relayArgs()]);
      await waitStarted(running);
      const again = await reg.execAsync(isp, [
        ...daemonCommand(),
        ...relayArgs(["--check-config"]),
      ]);
      assert.equal(again.code, 0, again.stderr);
      assert.equal(again.stdout, "6to4-pmt relay: configuration OK (command line)\n");
      assert.equal(await reg.stop(running, 5000), 0, running.stderr());

      // The CPE: the files its options name are checked, and a refused one is left alone.
      const victim = join(dir, "check-victim.txt");
      writeFileSync(victim, "keep me\n");
      const cpeBad = await reg.execAsync(cpe, [
        ...daemonCommand(),
        ...cpeArgs("check", ["--check-config", "--status-socket", victim]),
      ]);
      assert.equal(cpeBad.code, 2, cpeBad.stderr);
      assert.match(
        cpeBad.stderr,
        /^6to4-pmt: status_socket .*check-victim\.txt exists and is not a socket/,
      );
      assert.equal(readFileSync(victim, "utf8"), "keep me\n");
      const cpeOk = await reg.execAsync(cpe, [
        ...daemonCommand(),
        ...cpeArgs("check", ["--check-config"]),
      ]);
      assert.equal(cpeOk.code, 0, cpeOk.stderr);
      assert.equal(cpeOk.stdout, "6to4-pmt cpe: configuration OK (command line)\n");
      assert.doesNotMatch(reg.exec(cpe, ["ip", "-o", "link", "show"]).stdout, /6to4pmt0/);
      assert.equal(existsSync(join(dir, "check.state.json")), false);
      assert.equal(existsSync(join(dir, "check.sock")), false);
    });
  },
);
