/**
 * `6to4-pmt lab --openwrt-rootfs <path>`: the lab with the CPE side running in a real OpenWrt
 * userland the user supplies (a root filesystem directory, or a tarball such as the official
 * openwrt-<version>-x86-64-rootfs.tar.gz, unpacked into a temporary directory).
 *
 * Around it the carrier (isp, with the lab's dnsmasq leasing the WAN address and option 212), the
 * PMT relay and the IPv6 server (inet) of `6to4-pmt lab` (topology.ts, learning.ts). In the cpe
 * namespace the image runs as a container on the host's kernel: procd as PID 1 of a new
 * pid/mount/uts/ipc namespace, chrooted into an overlay of the image (never written: a tmpfs takes
 * the changes), which starts ubusd, logd, rpcd, netifd (WAN by DHCP with the image's udhcpc, LAN
 * on lan0) and odhcpd (openwrt-rootfs.ts containerSetupScript). Then, as a user would: the
 * project's ipks (`npm run package`) installed with the image's opkg from local files,
 * `uci set 6to4-pmt.cpe.enabled=1`, `uci commit`, the init script's restart, and the checks, one PASS/FAIL line
 * each: booted, installed, WAN lease with option 212 through netifd, daemon started by procd,
 * what the daemon learned, the prefix netifd got, odhcpd's RA on the LAN host (rdisc6), the SLAAC
 * address, ping both ways and TCP to the server with the source address the server saw, and the
 * status over ubus (`ubus call luci.6to4-pmt status`, the LuCI app's rpcd plugin).
 *
 * Node: the image's /usr/bin/node when it has one (with the ipk's musl addon); otherwise (the
 * official rootfs has none) the host's node bound in at /usr/bin/node with the libraries `ldd`
 * names bound at the same paths (a glibc node runs with the host's glibc), and the ipk's
 * pmt_native.node, built with musl, replaced by the host build beside the running bundle, which
 * that node can load.
 *
 * Everything (namespaces, container, daemons, the temporary directory) is removed at the end, on
 * failure and on Ctrl-C; `--keep` leaves it running to look inside, with the commands printed.
 */
import { spawnSync } from "node:child_process";
import {
  chmodSync,
  copyFileSync,
  existsSync,
  mkdirSync,
  readdirSync,
  readFileSync,
  writeFileSync,
} from "node:fs";
import { basename, dirname, join, resolve } from "node:path";
import { EXIT_NOT_ROOT, EXIT_OK, EXIT_RUNTIME } from "../cli/exit-codes.js";
import { ConfigError } from "../config/config-error.js";
import { createLogger } from "../log/logger.js";
import type { StatusSnapshot } from "../status/snapshot.js";
import {
  counters,
  EXIT_INTERRUPTED,
  fileTail,
  LabFailure,
  LAB_MARKER,
  LAB_ROLES,
  labHostProblem,
  labNsPrefix,
  outboundTrafficSteps,
  printCounters,
  startLabRun,
} from "./lab-common.js";
import { dhcpLogs, LAB_OPTION_6RD, startDhcpServer } from "./learning.js";
import { NetnsRegistry, type NsProcess } from "./netns.js";
import {
  globalAddresses,
  inIpv6Prefix,
  normIpv6,
  parseRdisc6,
  translatedPrefix64,
  type RaSeen,
} from "./observe.js";
import {
  CONTAINER_DHCP,
  CONTAINER_NETWORK,
  containerSetupScript,
  lddPaths,
  openwrtRelease,
  parseOpenwrtLabArgs,
  rootfsKind,
  rootfsProblem,
} from "./openwrt-rootfs.js";
import {
  buildLabTopology,
  labRelayArgs,
  LAB_SERVER,
  spawnDaemon,
  waitDaemonReady,
} from "./topology.js";

const USAGE = `usage: 6to4-pmt lab --openwrt-rootfs PATH [--ipk-dir DIR] [--bytes N] [--keep]
Runs the CPE inside a real OpenWrt x86-64 userland: PATH is a root filesystem directory or a
tarball (openwrt-23.05.5-x86-64-rootfs.tar.gz from downloads.openwrt.org, see docs/openwrt.md).
procd is PID 1 of a container in the CPE's namespace (netifd, odhcpd, ubusd, rpcd); the ipks of
\`npm run package\` are installed with the image's opkg and enabled with uci; around it the lab's
carrier (DHCP with option 212), PMT relay and server. Prints PASS/FAIL per step and a verdict.
Needs root, dnsmasq, rdisc6 (ndisc6), ping, unshare, nsenter, setpriv (util-linux), overlayfs.
  --ipk-dir DIR  where 6to4-pmt_*_x86_64.ipk and luci-app-6to4-pmt_*_all.ipk are (default: the
                 bundle's directory, dist/)
  --bytes N      size of the TCP transfer (default 1000000)
  --keep         leave it all running afterwards (prints how to enter; Ctrl-C still removes it)
Environment: PMT_LAB_NS_PREFIX=p1- names the namespaces p1-lan, p1-cpe, ... instead.`;

/** Host programs the mode runs besides iproute2 and node, with their Debian package. */
const TOOLS: ReadonlyArray<readonly [string, string]> = [
  ["dnsmasq", "dnsmasq-base"],
  ["rdisc6", "ndisc6"],
  ["ping", "iputils-ping"],
  ["unshare", "util-linux"],
  ["nsenter", "util-linux"],
  ["setpriv", "util-linux"],
  ["chroot", "coreutils"],
  ["tar", "tar"],
];

/** Bounds of the waits (each polls and returns as soon as its condition holds). */
const BOOT_WAIT_MS = 60_000;
const LEASE_WAIT_MS = 40_000;
const DAEMON_WAIT_MS = 40_000;
const PREFIX_WAIT_MS = 30_000;
const RA_WAIT_MS = 20_000;

/** Runs the mode; resolves with the exit code. @throws ConfigError for a bad argument */
export async function runOpenwrtLab(args: readonly string[]): Promise<number> {
  const opts = parseOpenwrtLabArgs(args);
  if (opts.help) {
    process.stdout.write(USAGE + "\n");
    return EXIT_OK;
  }
  const rootArg = resolve(opts.rootfs);
  const kind = rootfsKind(rootArg);
  if (kind.kind === "dir") {
    const problem = rootfsProblem(rootArg);
    if (problem !== undefined)
      throw new ConfigError(`--openwrt-rootfs: ${problem}`, "--openwrt-rootfs");
  }
  const bundle = resolve(process.argv[1] ?? "");
  const ipkDir = resolve(opts.ipkDir ?? dirname(bundle));
  const ipks = findIpks(ipkDir);
  const prefix = labNsPrefix();
  const log = createLogger("info", "lab");
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    process.stderr.write("6to4-pmt lab: must run as root (namespaces, mounts)\n");
    return EXIT_NOT_ROOT;
  }
  const reg = new NetnsRegistry({ prefix, markerFile: LAB_MARKER });
  const problem = labHostProblem(reg, TOOLS);
  if (problem !== undefined) return problem;

  const run = startLabRun(reg, log);
  const { dir, step } = run;
  let relay: NsProcess | undefined;
  let container: Container | undefined;
  try {
    // The root filesystem: the directory itself (lower layer of the overlay), or the tarball
    // unpacked here.
    let root = rootArg;
    if (kind.kind === "tarball") {
      root = join(dir, "rootfs");
      mkdirSync(root);
      log.info(`unpacking ${basename(rootArg)}`);
      reg.must(
        [
          "tar",
          kind.compression === "gzip" ? "-xzf" : "-xf",
          rootArg,
          "-C",
          root,
          "--numeric-owner",
        ],
        300_000,
      );
      const problem = rootfsProblem(root);
      if (problem !== undefined)
        throw new LabFailure(`rootfs: ${problem.replace(root, basename(rootArg))}`);
    }
    const release = openwrtRelease(root).get("DISTRIB_DESCRIPTION") ?? "OpenWrt";
    const imageNode = existsSync(join(root, "usr/bin/node"));

    log.info(`building namespaces ${LAB_ROLES.map((r) => reg.name(r)).join(" - ")}`);
    const t = buildLabTopology(reg, {
      cpes: [{ index: 0, pmt: true }],
      lanMtu: 1500,
      dhcpWan: true,
      slaacLan: true,
    });
    const cpe = t.cpes[0]!;
    relay = spawnDaemon(
      reg,
      t.relays[0]!.ns,
      [process.execPath, bundle],
      labRelayArgs(t.relays[0]!),
      join(dir, "relay.log"),
    );
    if (!(await waitDaemonReady(reg, relay)))
      throw new LabFailure("relay did not start", relay.stderr());
    await startDhcpServer(reg, t, cpe, dir, cpe.wanIpv4);

    // The container's files: configuration over the image, ipks (and the host addon) in /tmp.
    mkdirSync(join(dir, "seed/etc/config"), { recursive: true });
    writeFileSync(join(dir, "seed/etc/config/network"), CONTAINER_NETWORK);
    writeFileSync(join(dir, "seed/etc/config/dhcp"), CONTAINER_DHCP);
    const stage = join(dir, "seed-tmp/6to4-pmt-lab");
    mkdirSync(stage, { recursive: true });
    for (const f of ipks) copyFileSync(f, join(stage, basename(f)));
    // Host programs the image lacks: node (not in the official rootfs) and iproute2 (ip-full: the
    // image's /sbin/ip is busybox's, without `ip -j` or a full `ip monitor`).
    const binds: Array<readonly [string, string]> = [];
    let nodeFrom = `the image's /usr/bin/node`;
    if (!imageNode) {
      const addon = hostAddon(bundle);
      copyFileSync(addon, join(stage, "pmt_native.node"));
      binds.push([process.execPath, "/usr/bin/node"]);
      nodeFrom = `the host's ${process.execPath} (${process.version}), addon ${addon}`;
    }
    if (!existsSync(join(root, "usr/libexec/ip-full"))) {
      const ip = spawnSync("sh", ["-c", 'readlink -f "$(command -v ip)"'], { encoding: "utf8" });
      binds.push([ip.stdout.trim(), "/usr/sbin/ip"]);
      nodeFrom += `; no ip-full in the image: the host's ${ip.stdout.trim()} at /usr/sbin/ip`;
    }
    if (binds.length > 0)
      writeFileSync(join(dir, "binds"), hostBinds(root, binds).join("\n") + "\n");
    const setup = join(dir, "setup.sh");
    writeFileSync(setup, containerSetupScript(), { mode: 0o700 });
    chmodSync(setup, 0o700);

    // 1. procd as PID 1, then ubus up with the services the checks use.
    container = await startContainer(reg, cpe.ns, setup, root, dir);
    const c = container;
    const wanted = ["network", "odhcpd", "rpcd", "log"];
    let running: string[] = [];
    await reg.waitFor(
      () => {
        const services = c.execSync("ubus call service list 2>/dev/null").stdout;
        running = wanted.filter((n) => services.includes(`"${n}": {`));
        return running.length === wanted.length || c.proc.hasExited();
      },
      BOOT_WAIT_MS,
      500,
    );
    const booted = running.length === wanted.length;
    step({
      name: "OpenWrt booted",
      ok: booted,
      detail:
        `${release}: procd PID 1 in ${cpe.ns} (host PID ${c.initPid}), ubus up, procd services ` +
        `${running.join(", ") || "none"}` +
        (booted ? "" : ` (missing ${wanted.filter((n) => !running.includes(n)).join(", ")})`) +
        `; node: ${nodeFrom}`,
    });
    if (!booted) throw new LabFailure("OpenWrt did not boot", fileTail(join(dir, "console.log")));
    if (run.interrupted) return EXIT_INTERRUPTED;

    // 2. opkg install of the project's ipks, from local files.
    const names = ipks.map((f) => `/tmp/6to4-pmt-lab/${basename(f)}`);
    // `--force-depends`: node (the host's when the image has none) and kernel modules (the host's
    // kernel) are not packages in the image.
    const install = await c.exec(`opkg install --force-depends ${names.join(" ")} 2>&1`, 120_000);
    if (!imageNode) {
      // The ipk's addon is built against musl; the host's node loads the host build.
      await c.exec("cp /tmp/6to4-pmt-lab/pmt_native.node /usr/lib/6to4-pmt/pmt_native.node");
    }
    const listed = (await c.exec("opkg list-installed | grep 6to4-pmt")).stdout.trim();
    const unsatisfied = [
      ...new Set([...install.stdout.matchAll(/cannot find dependency (\S+)/g)].map((m) => m[1]!)),
    ];
    // opkg exits non-zero for the forced dependencies (and then also calls the package
    // "incompatible"), yet installs and configures it: judged by what it did.
    const installed =
      /^6to4-pmt /m.test(listed) &&
      /^luci-app-6to4-pmt /m.test(listed) &&
      /^Configuring 6to4-pmt\.$/m.test(install.stdout) &&
      /^Configuring luci-app-6to4-pmt\.$/m.test(install.stdout) &&
      !/script returned status/.test(install.stdout);
    step({
      name: "ipks installed with opkg",
      ok: installed,
      detail:
        `${listed.replace(/\n/g, ", ") || "nothing installed"}` +
        (installed ? ", both configured (postinst) " : ", postinst did not complete ") +
        `(opkg exit ${install.code}` +
        (unsatisfied.length > 0
          ? `; forced dependencies not in the image: ${unsatisfied.join(", ")}`
          : "") +
        `)`,
    });
    if (!installed) throw new LabFailure("opkg install failed", install.stdout);

    // 3. Enabled as docs/openwrt.md says, applied by the init script directly: procd's reload
    // trigger needs a config.change event, and the first reload_config after boot only records
    // the files' checksums (it sends no event).
    const enable = await c.exec(
      "uci set 6to4-pmt.cpe.enabled=1 && uci set 6to4-pmt.cpe.lan_device=lan0 && " +
        "uci commit 6to4-pmt && /etc/init.d/6to4-pmt restart 2>&1",
      60_000,
    );
    if (enable.stdout.trim() !== "")
      log.info(`init script: ${enable.stdout.trim().replace(/\n/g, "; ")}`);

    // 4. The WAN lease through netifd's udhcpc, option 212 through the package's udhcpc hook.
    let wan: IfStatus | null = null;
    let dhcpFile = "";
    await reg.waitFor(
      () => {
        wan = ifstatus(c, "wan");
        dhcpFile = c.execSync("cat /var/run/6to4-pmt.dhcp 2>/dev/null").stdout.trim();
        return (wan?.ipv4 === cpe.wanIpv4 && dhcpFile !== "") || c.proc.hasExited();
      },
      LEASE_WAIT_MS,
      500,
    );
    const wanNow = wan as IfStatus | null;
    // ip6rd as udhcpc decodes OPTION_6RD: IPv4MaskLen 6rdPrefixLen 6rdPrefix BR... (RFC 5969 §7.1.1)
    const ip6rd = /^ip6rd=(\d+) (\d+) (\S+) (.+)$/m.exec(dhcpFile);
    const leaseOk =
      wanNow?.ipv4 === cpe.wanIpv4 &&
      ip6rd !== null &&
      Number(ip6rd[1]) === LAB_OPTION_6RD.ipv4MaskLen &&
      `${normIpv6(ip6rd[3]!)}/${ip6rd[2]}` === LAB_OPTION_6RD.prefix &&
      ip6rd[4]!.trim() === LAB_OPTION_6RD.relays.join(" ");
    step({
      name: "WAN lease by netifd (udhcpc) with option 212",
      ok: leaseOk,
      detail:
        `ifstatus wan: ${wanNow?.ipv4 ?? "no address"} on ${wanNow?.device ?? "?"} ` +
        `(dnsmasq in ${t.isp}); the package's udhcpc hook wrote /var/run/6to4-pmt.dhcp: ` +
        `${dhcpFile.replace(/\s+/g, " ") || "nothing"}`,
    });
    if (!leaseOk) throw new LabFailure("no WAN lease", dhcpLogs(dir).map(fileTail).join("\n"));

    // 5. procd runs the daemon; it learned the provider prefix and relay from option 212.
    const want64 = translatedPrefix64(
      LAB_OPTION_6RD.prefix,
      cpe.wanIpv4,
      LAB_OPTION_6RD.ipv4MaskLen,
    )!;
    let s: StatusSnapshot | null = null;
    let inst: { pid: number; command: string } | null = null;
    await reg.waitFor(
      () => {
        inst = procdInstance(c);
        s = daemonStatus(c);
        return (
          (s !== null && s.health.state === "up" && s.translatedPrefix === want64) ||
          c.proc.hasExited()
        );
      },
      DAEMON_WAIT_MS,
      1000,
    );
    const instNow = inst as { pid: number; command: string } | null;
    step({
      name: "daemon started by procd",
      ok: instNow !== null,
      detail:
        instNow !== null
          ? `instance cpe PID ${instNow.pid}: ${instNow.command}`
          : "procd has no running 6to4-pmt instance",
    });
    const sNow = s as StatusSnapshot | null;
    const learnedOk =
      sNow !== null &&
      sNow.state === "running" &&
      sNow.wan.ipv4 === cpe.wanIpv4 &&
      sNow.providerPrefix.value === LAB_OPTION_6RD.prefix &&
      sNow.providerPrefix.source === "dhcp" &&
      sNow.relays.source === "dhcp" &&
      sNow.translatedPrefix === want64 &&
      sNow.health.state === "up";
    step({
      name: "CPE learned from DHCP, tunnel up",
      ok: learnedOk,
      detail:
        sNow === null
          ? "6to4-pmt status --json: no answer"
          : `state ${sNow.state}; WAN ${sNow.wan.ipv4 ?? "none"}; provider prefix ` +
            `${sNow.providerPrefix.value ?? "none"} (${sNow.providerPrefix.source}); relay ` +
            `${sNow.relays.value.join(" ")} (${sNow.relays.source}); translated /64 ` +
            `${sNow.translatedPrefix ?? "none"} (expected ${want64}); health ${sNow.health.state}` +
            (sNow.health.lastRttMs !== null ? `, rtt ${sNow.health.lastRttMs} ms` : "") +
            (sNow.stateReason !== null ? `; ${sNow.stateReason}` : ""),
    });
    if (!learnedOk) throw new LabFailure("the daemon did not come up", logread(c));

    // 6. netifd got the prefix from the hook and assigned it to the LAN.
    let lanAssigned = "";
    let pmtIf: IfStatus | null = null;
    await reg.waitFor(
      () => {
        pmtIf = ifstatus(c, "6to4pmt");
        lanAssigned = ifstatus(c, "lan")?.assigned.find((p) => p === want64) ?? "";
        return lanAssigned !== "";
      },
      PREFIX_WAIT_MS,
      500,
    );
    const pmtNow = pmtIf as IfStatus | null;
    step({
      name: "netifd: prefix on interface 6to4pmt, assigned to lan",
      ok: lanAssigned === want64 && pmtNow?.up === true,
      detail:
        `ifstatus 6to4pmt: ${pmtNow?.up === true ? "up" : "down"}, proto ${pmtNow?.proto ?? "?"}, ` +
        `device ${pmtNow?.device ?? "?"}, prefix ${pmtNow?.prefixes.join(" ") || "none"}; ` +
        `ifstatus lan: assigned ${lanAssigned || "nothing"} (ip6assign)`,
    });
    if (lanAssigned !== want64) throw new LabFailure("no LAN prefix", logread(c));

    // 7. odhcpd's RA on the LAN host, then the kernel's SLAAC address.
    const lanLinkLocal =
      /inet6 (fe80::[0-9a-f:]+)\//.exec(c.execSync("ip -6 addr show dev lan0").stdout)?.[1] ?? "";
    let ra: RaSeen | undefined;
    const raOk = (r: RaSeen | undefined): boolean =>
      r !== undefined &&
      (r.routerLifetimeS ?? 0) > 0 &&
      r.prefixes.some((p) => p.prefix === want64 && p.autonomous && p.preferredS > 0);
    for (const end = Date.now() + RA_WAIT_MS; Date.now() < end && !raOk(ra);) {
      const r = await reg.execAsync(cpe.lanNs, ["rdisc6", "-1", "-n", "-w", "1000", "eth0"], 5000);
      ra = parseRdisc6(r.stdout)[0] ?? ra;
    }
    const adv = ra?.prefixes.find((p) => p.prefix === want64);
    const fromOdhcpd =
      typeof ra?.from === "string" && normIpv6(ra.from) === normIpv6(lanLinkLocal || "::");
    step({
      name: "RA from odhcpd seen by the LAN host",
      ok: raOk(ra) && fromOdhcpd,
      detail:
        ra === undefined
          ? `rdisc6 on ${cpe.lanNs} eth0 got no Router Advertisement`
          : `rdisc6: prefix ${adv?.prefix ?? ra.prefixes.map((p) => p.prefix).join(" ")}` +
            (adv !== undefined
              ? ` (${adv.autonomous ? "autonomous" : "no SLAAC"}, valid ${adv.validS} s, ` +
                `preferred ${adv.preferredS} s)`
              : "") +
            `, MTU ${ra.mtu ?? "none"}, router lifetime ${ra.routerLifetimeS ?? "?"} s, ` +
            `from ${ra.from ?? "?"} (lan0 of the OpenWrt CPE: ${lanLinkLocal || "?"})`,
    });
    let addr: ReturnType<typeof globalAddresses>[number] | undefined;
    await reg.waitFor(
      () => {
        addr = globalAddresses(
          reg.exec(cpe.lanNs, ["ip", "-j", "-6", "addr", "show", "dev", "eth0"]).stdout,
        ).find(
          (a) => a.dynamic && !a.tentative && !a.deprecated && inIpv6Prefix(a.address, want64),
        );
        return addr !== undefined;
      },
      RA_WAIT_MS,
      200,
    );
    const route =
      /^default via (\S+)/m.exec(
        reg.exec(cpe.lanNs, ["ip", "-6", "route", "show", "default"]).stdout,
      )?.[1] ?? "";
    step({
      name: "SLAAC address formed",
      ok: addr !== undefined && route !== "",
      detail:
        addr === undefined
          ? `no dynamic address in ${want64} on ${cpe.lanNs} eth0`
          : `${addr.address}/${addr.prefixLen} on ${cpe.lanNs} eth0 (valid ${addr.validS} s, ` +
            `preferred ${addr.preferredS} s); default route via ${route || "none"}`,
    });
    if (addr === undefined) throw new LabFailure("no SLAAC address", logread(c));
    const host = addr.address;
    if (run.interrupted) return EXIT_INTERRUPTED;

    // 8. Traffic: ping both ways (OpenWrt's firewall forwards ICMPv6 echo from the WAN), TCP
    // from the LAN host to the server and the source address the server saw.
    await outboundTrafficSteps(
      reg,
      { lanNs: cpe.lanNs, serverNs: t.inet, host, wanIpv4: cpe.wanIpv4, bytes: opts.bytes },
      step,
    );

    // 9. Status over ubus: the LuCI app's rpcd plugin.
    const viaUbus = await c.exec("ubus call luci.6to4-pmt status", 20_000);
    let reply: { running?: boolean; status?: StatusSnapshot; error?: string } = {};
    try {
      reply = JSON.parse(viaUbus.stdout) as typeof reply;
    } catch {
      reply = { error: viaUbus.stdout.trim() || viaUbus.stderr.trim() || `exit ${viaUbus.code}` };
    }
    const us = reply.status;
    step({
      name: "status over ubus (luci.6to4-pmt status)",
      ok: reply.running === true && us?.state === "running" && us.lanPrefix === want64,
      detail:
        us !== undefined
          ? `running ${String(reply.running)}, state ${us.state}, LAN prefix ${us.lanPrefix ?? "none"}, ` +
            `health ${us.health.state}, relay ${us.relayInUse ?? "?"}`
          : `no status: ${reply.error ?? "?"}`,
    });
    if (us !== undefined) {
      const nonzero = Object.entries(us.counters).filter(([, v]) => v !== 0);
      process.stdout.write(
        `cpe counters (status): ${nonzero.map(([k, v]) => `${k}=${v}`).join(" ") || "none"}\n`,
      );
    }

    if (opts.keep) printKeepHints(c, cpe.lanNs, t.inet, dir);
  } catch (e) {
    run.fail(e);
  } finally {
    if (!run.interrupted) {
      if (relay !== undefined && !relay.hasExited())
        printCounters("relay", await counters(reg, relay));
      process.stdout.write(`verdict: ${run.passed() ? "PASSED" : "FAILED"}\n`);
    }
    if (opts.keep && !run.interrupted) {
      process.stdout.write(
        "kept running; press Ctrl-C to remove everything (namespaces, container, " + dir + ")\n",
      );
      // Until the signal handler removes it all and exits (the timer keeps node waiting).
      setInterval(() => undefined, 1 << 30);
      await new Promise<void>(() => undefined);
    }
    await run.teardown();
    log.info("namespaces, container and temporary files removed");
  }
  if (run.interrupted) return EXIT_INTERRUPTED;
  return run.passed() ? EXIT_OK : EXIT_RUNTIME;
}

/** The ipks of `npm run package` in `dir`. @throws ConfigError naming --ipk-dir */
export function findIpks(dir: string): string[] {
  let files: string[] = [];
  try {
    files = readdirSync(dir);
  } catch {
    files = [];
  }
  const main = files.filter((f) => /^6to4-pmt_[^_]+_x86_64\.ipk$/.test(f)).sort();
  const luci = files.filter((f) => /^luci-app-6to4-pmt_[^_]+_all\.ipk$/.test(f)).sort();
  if (main.length === 0 || luci.length === 0) {
    throw new ConfigError(
      `--ipk-dir: expected 6to4-pmt_<version>_x86_64.ipk and luci-app-6to4-pmt_<version>_all.ipk ` +
        `in ${dir} (run npm run package)`,
      "--ipk-dir",
    );
  }
  return [join(dir, main[main.length - 1]!), join(dir, luci[luci.length - 1]!)];
}

/** The addon the host's node loads: beside the bundle (dist/), else the node-gyp build. */
function hostAddon(bundle: string): string {
  const dir = dirname(bundle);
  for (const p of [
    join(dir, "pmt_native.node"),
    resolve(dir, "../build/Release/pmt_native.node"),
  ]) {
    if (existsSync(p)) return p;
  }
  throw new LabFailure(`no pmt_native.node beside ${bundle} nor in build/Release (npm run build)`);
}

/**
 * "source target" lines binding host programs into the container (`programs`: host path ->
 * path inside) and each library `ldd` names for them at its own path. A library path the image
 * itself has would hide the image's file: refused.
 */
function hostBinds(root: string, programs: ReadonlyArray<readonly [string, string]>): string[] {
  const lines: string[] = [];
  const seen = new Set<string>();
  for (const [src, dst] of programs) {
    lines.push(`${src} ${dst}`);
    const r = spawnSync("ldd", [src], { encoding: "utf8" });
    for (const p of r.status === 0 ? lddPaths(r.stdout) : []) {
      if (seen.has(p)) continue;
      seen.add(p);
      if (existsSync(join(root, p))) {
        throw new LabFailure(
          `the host's ${basename(src)} needs ${p}, which the image also has: cannot bind it in`,
        );
      }
      const real = spawnSync("readlink", ["-f", p], { encoding: "utf8" }).stdout.trim() || p;
      lines.push(`${real} ${p}`);
    }
  }
  return lines;
}

/** The container: procd's host PID and how to run commands inside. */
interface Container {
  proc: NsProcess;
  initPid: number;
  /** Runs `sh -c cmd` inside (all the container's namespaces and its root). */
  exec(cmd: string, timeoutMs?: number): Promise<{ code: number; stdout: string; stderr: string }>;
  execSync(cmd: string, timeoutMs?: number): { code: number; stdout: string; stderr: string };
}

async function startContainer(
  reg: NetnsRegistry,
  ns: string,
  setup: string,
  root: string,
  dir: string,
): Promise<Container> {
  const proc = reg.spawn(ns, [
    "unshare",
    "--pid",
    "--mount",
    "--uts",
    "--ipc",
    "--fork",
    "--kill-child",
    "sh",
    setup,
    root,
    dir,
  ]);
  // `ip netns exec` execs unshare in place; its one child is the container's PID 1.
  let initPid = 0;
  await reg.waitFor(
    () => {
      const kids = readText(`/proc/${proc.pid}/task/${proc.pid}/children`).trim().split(/\s+/);
      const pid = Number(kids[0] ?? 0);
      if (pid > 0 && readText(`/proc/${pid}/cmdline`).startsWith("/sbin/procd")) initPid = pid;
      return initPid > 0 || proc.hasExited();
    },
    20_000,
    100,
  );
  if (initPid === 0) throw new LabFailure("the container did not start", proc.stderr());
  const enter = (cmd: string): string[] => [
    "nsenter",
    "-t",
    String(initPid),
    "-m",
    "-p",
    "-n",
    "-u",
    "-i",
    "-r",
    "-w",
    "/usr/bin/env",
    "-i",
    "PATH=/usr/sbin:/usr/bin:/sbin:/bin",
    "HOME=/root",
    "/bin/sh",
    "-c",
    cmd,
  ];
  return {
    proc,
    initPid,
    exec: (cmd, timeoutMs = 30_000) => reg.execAsync(ns, enter(cmd), timeoutMs),
    execSync: (cmd, timeoutMs = 10_000) => reg.run(enter(cmd), timeoutMs),
  };
}

function readText(p: string): string {
  try {
    return readFileSync(p, "utf8");
  } catch {
    return "";
  }
}

interface IfStatus {
  up: boolean;
  proto: string;
  device: string;
  ipv4: string | undefined;
  /** ipv6-prefix of the interface (what a protocol handler gave it). */
  prefixes: string[];
  /** ipv6-prefix-assignment (what ip6assign took for this interface). */
  assigned: string[];
}

/** `ifstatus <iface>` of netifd, or null. */
function ifstatus(c: Container, iface: string): IfStatus | null {
  const r = c.execSync(`ifstatus ${iface}`);
  let j: Record<string, unknown>;
  try {
    j = JSON.parse(r.stdout) as Record<string, unknown>;
  } catch {
    return null;
  }
  const prefixes = (v: unknown): string[] =>
    Array.isArray(v)
      ? v.map(
          (p: { address?: string; mask?: number }) =>
            `${normIpv6(p.address ?? "::")}/${p.mask ?? 0}`,
        )
      : [];
  const v4 = j["ipv4-address"] as Array<{ address?: string }> | undefined;
  return {
    up: j.up === true,
    proto: String(j.proto ?? ""),
    device: String(j.l3_device ?? j.device ?? ""),
    ipv4: v4?.[0]?.address,
    prefixes: prefixes(j["ipv6-prefix"]),
    assigned: prefixes(j["ipv6-prefix-assignment"]),
  };
}

/** procd's running 6to4-pmt cpe instance, or null. */
function procdInstance(c: Container): { pid: number; command: string } | null {
  const r = c.execSync(`ubus call service list '{"name":"6to4-pmt"}'`);
  try {
    const j = JSON.parse(r.stdout) as Record<
      string,
      { instances?: Record<string, { running?: boolean; pid?: number; command?: string[] }> }
    >;
    const i = j["6to4-pmt"]?.instances?.cpe;
    if (i?.running !== true) return null;
    return { pid: i.pid ?? 0, command: (i.command ?? []).join(" ") };
  } catch {
    return null;
  }
}

/** `6to4-pmt status --json` inside the container, or null. */
function daemonStatus(c: Container): StatusSnapshot | null {
  const r = c.execSync("6to4-pmt status --json 2>/dev/null", 15_000);
  try {
    const j = JSON.parse(r.stdout) as StatusSnapshot & { error?: string };
    return j.error === undefined && j.state !== undefined ? j : null;
  } catch {
    return null;
  }
}

function logread(c: Container): string {
  return "--- logread (last 40 lines):\n" + c.execSync("logread | tail -n 40").stdout;
}

function printKeepHints(c: Container, lanNs: string, inetNs: string, dir: string): void {
  const enter = `nsenter -t ${c.initPid} -m -p -n -u -i -r -w /bin/sh`;
  process.stdout.write(
    [
      "enter the OpenWrt CPE with:",
      `  ${enter}     # then: logread -e 6to4-pmt; ifstatus 6to4pmt; 6to4-pmt status`,
      `  ip netns exec ${lanNs} bash    # LAN host`,
      `  ip netns exec ${inetNs} bash    # server ${LAB_SERVER}`,
      `container console and logs: ${dir}`,
    ].join("\n") + "\n",
  );
}
