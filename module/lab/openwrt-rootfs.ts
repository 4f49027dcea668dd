/**
 * The pure parts of `6to4-pmt lab --openwrt-rootfs <path>` (lab/openwrt.ts): its arguments, what
 * the given path is (a root filesystem directory or a tarball such as the official
 * openwrt-<version>-x86-64-rootfs.tar.gz), whether that tree has what the mode runs, the
 * configuration files written into the container, the parsing of `ldd` for the host's node, and
 * the shell script that builds the container's mounts and starts procd.
 *
 * Nothing here assumes a particular copy of OpenWrt: only paths every x86-64 release has
 * (procd, ubusd, netifd, odhcpd, opkg, musl's loader).
 */
import { accessSync, constants, existsSync, readFileSync, statSync } from "node:fs";
import { join } from "node:path";
import { lastValue, noPositionals, parseArgs, flagOn, type FlagSpecs } from "../cli/args.js";
import { ConfigError } from "../config/config-error.js";

export const OPENWRT_LAB_FLAGS: FlagSpecs = {
  "openwrt-rootfs": { kind: "string", expects: "an OpenWrt x86-64 rootfs directory or tarball" },
  "ipk-dir": { kind: "string", expects: "the directory holding the ipks (npm run package)" },
  bytes: { kind: "string", expects: "a byte count 1..9999999999" },
  keep: { kind: "boolean" },
  help: { kind: "boolean", short: "h" },
};

export interface OpenwrtLabOptions {
  help: boolean;
  /** The path as given (resolved by the caller). */
  rootfs: string;
  /** Where the ipks are; undefined: beside the running bundle. */
  ipkDir: string | undefined;
  bytes: number;
  /** Leave the container and namespaces after a failure, to look inside (removed on Ctrl-C). */
  keep: boolean;
}

/** Parses the mode's arguments. @throws ConfigError naming the flag */
export function parseOpenwrtLabArgs(args: readonly string[]): OpenwrtLabOptions {
  const parsed = parseArgs(args, OPENWRT_LAB_FLAGS, {
    unknown: (flag) => `${flag}: unknown option with --openwrt-rootfs (see 6to4-pmt lab --help)`,
  });
  noPositionals(parsed, "expected only options (see 6to4-pmt lab --help)");
  const help = flagOn(parsed, "help");
  const rootfs = lastValue(parsed, "openwrt-rootfs") ?? "";
  if (!help && rootfs === "") {
    throw new ConfigError(
      "--openwrt-rootfs: expected an OpenWrt x86-64 rootfs directory or tarball",
      "--openwrt-rootfs",
    );
  }
  const bytesText = lastValue(parsed, "bytes") ?? "1000000";
  if (!/^[1-9][0-9]{0,9}$/.test(bytesText)) {
    throw new ConfigError(
      `--bytes: expected a byte count 1..9999999999, got ${JSON.stringify(bytesText)}`,
      "--bytes",
    );
  }
  return {
    help,
    rootfs,
    ipkDir: lastValue(parsed, "ipk-dir"),
    bytes: Number(bytesText),
    keep: flagOn(parsed, "keep"),
  };
}

export type RootfsKind = { kind: "dir" } | { kind: "tarball"; compression: "gzip" | "none" };

/** Tarball names the mode unpacks (the official one is openwrt-*-x86-64-rootfs.tar.gz). */
const TARBALL = /\.(tar\.gz|tgz|tar)$/;

/**
 * What `path` is: a directory (used as the lower layer of an overlay, never written) or a tarball
 * (unpacked into a temporary directory). @throws ConfigError naming --openwrt-rootfs
 */
export function rootfsKind(path: string): RootfsKind {
  let st;
  try {
    st = statSync(path);
  } catch {
    throw new ConfigError(
      `--openwrt-rootfs: expected an OpenWrt x86-64 rootfs directory or tarball, ` +
        `got ${JSON.stringify(path)} (no such file or directory)`,
      "--openwrt-rootfs",
    );
  }
  if (st.isDirectory()) return { kind: "dir" };
  const m = TARBALL.exec(path);
  if (st.isFile() && m !== null) {
    return { kind: "tarball", compression: m[1] === "tar" ? "none" : "gzip" };
  }
  throw new ConfigError(
    `--openwrt-rootfs: expected a directory or a tarball (*.tar.gz, *.tgz, *.tar, e.g. ` +
      `openwrt-23.05.5-x86-64-rootfs.tar.gz), got ${JSON.stringify(path)}`,
    "--openwrt-rootfs",
  );
}

/** Programs of the image the mode runs, by path inside the root filesystem. */
export const ROOTFS_REQUIRED: readonly string[] = [
  "sbin/procd",
  "sbin/ubusd",
  "sbin/netifd",
  "sbin/uci",
  "bin/ubus",
  "bin/opkg",
  "bin/sh",
  "usr/sbin/odhcpd",
  "lib/ld-musl-x86_64.so.1",
];

/**
 * Why `root` cannot run as the mode's OpenWrt, as one line, or undefined when it can: not an
 * OpenWrt tree (no etc/openwrt_release), another architecture, or a program missing or not
 * executable (e.g. a tree copied without its file modes).
 */
export function rootfsProblem(root: string): string | undefined {
  if (!existsSync(join(root, "etc/openwrt_release"))) {
    return `${root} is not an OpenWrt root filesystem (no etc/openwrt_release)`;
  }
  const release = openwrtRelease(root);
  const arch = release.get("DISTRIB_ARCH");
  if (arch !== undefined && arch !== "x86_64") {
    return `${root} is OpenWrt for ${arch}; the lab runs it on this host's kernel and needs x86_64`;
  }
  const missing: string[] = [];
  const notExec: string[] = [];
  for (const rel of ROOTFS_REQUIRED) {
    const p = join(root, rel);
    if (!existsSync(p)) missing.push(rel);
    else {
      try {
        accessSync(p, constants.X_OK);
      } catch {
        notExec.push(rel);
      }
    }
  }
  if (missing.length > 0) return `${root} lacks ${missing.join(", ")}`;
  if (notExec.length > 0) {
    return `${root}: ${notExec.join(", ")} not executable (file modes lost in a copy?)`;
  }
  return undefined;
}

/** etc/openwrt_release as a map (DISTRIB_DESCRIPTION, DISTRIB_ARCH, ...). */
export function openwrtRelease(root: string): Map<string, string> {
  const m = new Map<string, string>();
  let text = "";
  try {
    text = readFileSync(join(root, "etc/openwrt_release"), "utf8");
  } catch {
    return m;
  }
  for (const line of text.split("\n")) {
    const r = /^([A-Z_]+)=['"]?(.*?)['"]?$/.exec(line.trim());
    if (r !== null) m.set(r[1]!, r[2]!);
  }
  return m;
}

/**
 * The shared libraries and the ELF interpreter `ldd <node>` names, as absolute paths (a static
 * binary: none). @throws Error for a line naming a library that was not found
 */
export function lddPaths(out: string): string[] {
  const paths: string[] = [];
  for (const raw of out.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("linux-vdso") || /statically linked/.test(line)) continue;
    if (/=> not found/.test(line)) throw new Error(`ldd: ${line}`);
    const m = /=>\s*(\/\S+)/.exec(line) ?? /^(\/\S+)/.exec(line);
    if (m !== null && !paths.includes(m[1]!)) paths.push(m[1]!);
  }
  return paths;
}

/**
 * /etc/config/network of the container: the lab's devices (lan0 to the LAN host, wan0 to the
 * carrier), the stock LAN settings (ip6assign 60, which the package's wiring sets to 64 on
 * enable) with the LAN's IPv4 in 192.0.2.0/24, the WAN by DHCP, and no ULA prefix (the lab uses
 * documentation addresses only). The LAN is lan0 itself, not the stock bridge br-lan over it:
 * netifd in the container never creates a bridge whose only port is a veth (br-lan stays "not
 * present"), so the CPE is told `lan_device lan0`.
 */
export const CONTAINER_NETWORK = `config interface 'loopback'
	option device 'lo'
	option proto 'static'
	option ipaddr '127.0.0.1'
	option netmask '255.0.0.0'

config globals 'globals'

config interface 'lan'
	option device 'lan0'
	option proto 'static'
	option ipaddr '192.0.2.1'
	option netmask '255.255.255.0'
	option ip6assign '60'

config interface 'wan'
	option device 'wan0'
	option proto 'dhcp'
`;

/** /etc/config/dhcp of the container: OpenWrt's defaults (odhcpd serves RAs on the LAN). */
export const CONTAINER_DHCP = `config dnsmasq
	option domainneeded '1'
	option localise_queries '1'
	option local '/lan/'
	option domain 'lan'
	option expandhosts '1'
	option authoritative '1'
	option readethers '1'
	option leasefile '/tmp/dhcp.leases'
	option localservice '1'

config dhcp 'lan'
	option interface 'lan'
	option start '100'
	option limit '150'
	option leasetime '12h'
	option dhcpv4 'server'
	option dhcpv6 'server'
	option ra 'server'
	list ra_flags 'managed-config'
	list ra_flags 'other-config'

config dhcp 'wan'
	option interface 'wan'
	option ignore '1'

config odhcpd 'odhcpd'
	option maindhcp '0'
	option leasefile '/tmp/hosts/odhcpd'
	option leasetrigger '/usr/sbin/odhcpd-update'
	option loglevel '4'
`;

/**
 * Capabilities procd and everything it starts keep: those of a default container (Docker's set)
 * plus NET_ADMIN for netifd, the firewall and the TUN. Left out on purpose: SYS_ADMIN (procd would
 * mount over the prepared /dev and /sys), SYS_MODULE (kmodloader would load the image's modules
 * into the host's kernel), SYS_TIME (ntpd, hwclock), MKNOD, SYS_RAWIO, SYS_BOOT.
 */
export const CONTAINER_CAPS: readonly string[] = [
  "chown",
  "dac_override",
  "fowner",
  "fsetid",
  "kill",
  "setgid",
  "setuid",
  "setpcap",
  "setfcap",
  "net_bind_service",
  "net_raw",
  "net_admin",
  "sys_chroot",
  "audit_write",
];

/**
 * The container's setup, run by `sh` as PID 1 of a new pid/mount/uts/ipc namespace inside the
 * CPE's network namespace: $1 the root filesystem (read-only lower layer), $2 the run's scratch
 * directory. Every mount lives in that mount namespace and goes with it.
 *   - an overlay: the image read-only below, a tmpfs above (opkg and uci write there);
 *   - /proc of the new pid namespace, /proc/sys read-only but /proc/sys/net (this network
 *     namespace's settings) writable, /proc/sysrq-trigger, irq, bus read-only;
 *   - /sys read-only (procd's coldplug would otherwise write "add" to every uevent file of the
 *     host's devices), /dev a tmpfs (nodev) with the host's null, zero, full, random, urandom,
 *     tty and net/tun bound in, devpts of its own, /dev/console bound to a log file;
 *   - /tmp a tmpfs with run, lock, state (what procd makes outside a container), /var -> tmp
 *     when the tree has no /var;
 *   - $2/seed copied over the root (configuration), $2/seed-tmp into /tmp (ipks);
 *   - each "source target" line of $2/binds bound read-only (the host's node and its libraries);
 * then, with a clean environment (`container` set: procd skips what only a real boot does) and the
 * capability bounding set CONTAINER_CAPS, chroot and exec /sbin/procd: it is PID 1.
 */
export function containerSetupScript(caps: readonly string[] = CONTAINER_CAPS): string {
  const bounding = ["-all", ...caps.map((c) => `+${c}`)].join(",");
  return `#!/bin/sh
set -e
R="$1"; W="$2"; M="$W/root"
mount --make-rprivate /
mkdir -p "$W/rw" "$M"
mount -t tmpfs -o mode=0755 tmpfs "$W/rw"
mkdir -p "$W/rw/upper" "$W/rw/work" "$W/rw/proc"
mount -t overlay overlay -o "lowerdir=$R,upperdir=$W/rw/upper,workdir=$W/rw/work" "$M"
mkdir -p "$M/proc" "$M/sys" "$M/dev" "$M/tmp"
[ -e "$M/var" ] || [ -L "$M/var" ] || ln -s tmp "$M/var"
mount -t proc -o nosuid,nodev,noexec proc "$M/proc"
mount -t proc -o nosuid,nodev,noexec proc "$W/rw/proc"
mount --bind "$M/proc/sys" "$M/proc/sys"
mount -o remount,bind,ro "$M/proc/sys"
mount --bind "$W/rw/proc/sys/net" "$M/proc/sys/net"
umount -l "$W/rw/proc"
for p in sysrq-trigger irq bus; do
  if [ -e "$M/proc/$p" ]; then mount --bind "$M/proc/$p" "$M/proc/$p"; mount -o remount,bind,ro "$M/proc/$p"; fi
done
mount -t sysfs -o ro,nosuid,nodev,noexec sysfs "$M/sys"
# Device nodes of the container's own: a bind mount of the host's would let the package's
# chgrp/chmod (the daemon user's access to the TUN) change the host's /dev.
mount -t tmpfs -o mode=0755,nosuid tmpfs "$M/dev"
mkdir -p "$M/dev/net"
while read -r n maj min; do mknod -m 0666 "$M/dev/$n" c "$maj" "$min"; done <<'NODES'
null 1 3
zero 1 5
full 1 7
random 1 8
urandom 1 9
tty 5 0
net/tun 10 200
NODES
touch "$M/dev/console" "$W/console.log"; mount --bind "$W/console.log" "$M/dev/console"
mkdir -p "$M/dev/pts"; mount -t devpts -o newinstance,ptmxmode=0666,mode=0620 devpts "$M/dev/pts"
ln -s pts/ptmx "$M/dev/ptmx"; ln -s /proc/self/fd "$M/dev/fd"
mount -t tmpfs -o mode=1777,nosuid,nodev tmpfs "$M/tmp"
mkdir -p "$M/tmp/run" "$M/tmp/lock" "$M/tmp/state"
if [ -d "$W/seed" ]; then cp -a "$W/seed/." "$M/"; fi
if [ -d "$W/seed-tmp" ]; then cp -a "$W/seed-tmp/." "$M/tmp/"; fi
chmod 1777 "$M/tmp" # cp -a gave it seed-tmp's mode; procd's /tmp is world-writable and sticky
if [ -f "$W/binds" ]; then
  while read -r src dst; do
    [ -n "$src" ] || continue
    mkdir -p "$M\${dst%/*}"; touch "$M$dst"
    mount --bind "$src" "$M$dst"; mount -o remount,bind,ro "$M$dst"
  done < "$W/binds"
fi
echo "container ready" >&2
exec env -i container=6to4-pmt-lab PATH=/usr/sbin:/usr/bin:/sbin:/bin \\
  setpriv --bounding-set ${bounding} chroot "$M" /sbin/procd
`;
}
