/**
 * `6to4-pmt lab --openwrt-rootfs <path>` as a user runs it: the CPE inside a real OpenWrt x86-64
 * userland (procd as PID 1, netifd, odhcpd, ubusd, rpcd), the project's ipks installed with the
 * image's opkg, around the lab's carrier, relay and server. It needs a root filesystem the user
 * supplies (PMT_OPENWRT_ROOTFS: a directory or openwrt-*-x86-64-rootfs.tar.gz, docs/openwrt.md),
 * root and the ipks of `npm run package` in dist/ (or PMT_OPENWRT_IPK_DIR); without them it says
 * why it is skipped. The run must pass every step, print the verdict, and leave no namespace,
 * mount or temporary directory behind. Namespaces are named o<pid>- (PMT_LAB_NS_PREFIX) so that
 * the test never takes the lab's reserved names.
 * A path that is neither a directory nor a tarball exits 2 with one line (no root needed).
 */
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { test } from "node:test";
import { netnsSkipReason, toolSkipReason } from "../support/netns.js";

const BUNDLE = path.resolve(__dirname, "../../../dist/6to4-pmt.js");
const ROOTFS = process.env.PMT_OPENWRT_ROOTFS ?? "";
const IPK_DIR = process.env.PMT_OPENWRT_IPK_DIR ?? path.dirname(BUNDLE);
const PREFIX = `o${process.pid % 100000}-`;

function skipReason(): string | undefined {
  if (ROOTFS === "") {
    return "PMT_OPENWRT_ROOTFS is unset: it names an OpenWrt x86-64 rootfs (directory or tarball) the user supplies; CI has none";
  }
  if (!existsSync(BUNDLE)) return `bundle ${BUNDLE} not built (npm run build)`;
  if (
    !existsSync(IPK_DIR) ||
    !readdirSync(IPK_DIR).some((f) => /^6to4-pmt_.*_x86_64\.ipk$/.test(f))
  ) {
    return `no 6to4-pmt ipk in ${IPK_DIR} (npm run package)`;
  }
  return (
    netnsSkipReason() ??
    toolSkipReason("dnsmasq") ??
    toolSkipReason("rdisc6") ??
    toolSkipReason("unshare") ??
    toolSkipReason("setpriv")
  );
}

function ourNamespaces(): string[] {
  return existsSync("/run/netns")
    ? readdirSync("/run/netns").filter((n) => n.startsWith(PREFIX))
    : [];
}

function labDirs(): string[] {
  return readdirSync("/tmp").filter((f) => f.startsWith("6to4-pmt-lab-"));
}

test(
  "6to4-pmt lab --openwrt-rootfs: OpenWrt's netifd, odhcpd and procd run the CPE; every step passes; nothing is left",
  { skip: skipReason(), timeout: 600_000 },
  () => {
    const dirsBefore = new Set(labDirs());
    const r = spawnSync(
      process.execPath,
      [BUNDLE, "lab", "--openwrt-rootfs", ROOTFS, "--ipk-dir", IPK_DIR],
      { encoding: "utf8", timeout: 590_000, env: { ...process.env, PMT_LAB_NS_PREFIX: PREFIX } },
    );
    const out = r.stdout + r.stderr;
    assert.equal(r.status, 0, out);
    for (const name of [
      "OpenWrt booted",
      "ipks installed with opkg",
      "WAN lease by netifd \\(udhcpc\\) with option 212",
      "daemon started by procd",
      "CPE learned from DHCP, tunnel up",
      "netifd: prefix on interface 6to4pmt, assigned to lan",
      "RA from odhcpd seen by the LAN host",
      "SLAAC address formed",
      "ping lan \\S+ -> server 3fff:100::1",
      "ping server -> lan \\S+",
      "TCP lan -> server \\(1000000 bytes\\)",
      "source address the server saw",
      "status over ubus \\(luci\\.6to4-pmt status\\)",
    ]) {
      assert.match(r.stdout, new RegExp(`^PASS {2}${name}: `, "m"), out);
    }
    assert.doesNotMatch(r.stdout, /^FAIL/m);
    // The prefix odhcpd advertised is the one RFC 6732 Figure 3 gives for 100.64.0.2 under 2001:db8::/32.
    assert.match(
      r.stdout,
      /^PASS {2}RA from odhcpd seen by the LAN host: rdisc6: prefix 2001:db8:6440:2::\/64 /m,
    );
    assert.match(r.stdout, /^verdict: PASSED$/m);
    assert.deepEqual(ourNamespaces(), []);
    assert.deepEqual(
      labDirs().filter((d) => !dirsBefore.has(d)),
      [],
    );
    assert.doesNotMatch(readFileSync("/proc/mounts", "utf8"), /6to4-pmt-lab-/);
  },
);

test(
  "6to4-pmt lab --openwrt-rootfs with a path that is neither a directory nor a tarball exits 2 with one line",
  { skip: existsSync(BUNDLE) ? undefined : `bundle ${BUNDLE} not built (npm run build)` },
  () => {
    const r = spawnSync(process.execPath, [BUNDLE, "lab", "--openwrt-rootfs", BUNDLE], {
      encoding: "utf8",
    });
    assert.equal(r.status, 2, r.stdout + r.stderr);
    assert.match(
      r.stderr.trim(),
      /^[^\n]*--openwrt-rootfs: expected a directory or a tarball \(\*\.tar\.gz, \*\.tgz, \*\.tar, e\.g\. openwrt-23\.05\.5-x86-64-rootfs\.tar\.gz\), got "[^"\n]*6to4-pmt\.js"$/,
    );
  },
);
