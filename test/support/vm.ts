/**
 * A throw-away Linux VM for tests that need kernel features this host lacks (e.g. `sit`): Debian's
 * stock kernel under QEMU (TCG, no KVM), a small initramfs with busybox-static, and the host's root
 * file system shared read-only over virtio-9p, so node, the project's out/ and build/, ip, nft, ...
 * are the host's own. The guest has no network device (`-nic none`); everything runs in its own
 * namespaces.
 *
 * Usage:
 *
 *   import { runInVm, vmSkipReason } from "../support/vm.js";
 *   const skip = vmSkipReason(); // undefined, or why not (no qemu, not root, download failed)
 *   test("...", { skip }, async () => {
 *     const r = await runInVm("modprobe sit && ip -6 tunnel show", { timeoutMs: 120_000 });
 *     assert.equal(r.code, 0, r.stderr + r.console);
 *   });
 *
 * The script runs with /bin/sh as root inside the guest (chrooted into an overlay of the host's root
 * with a tmpfs on top: everything is writable, nothing reaches the host), in `cwd` (default: this
 * process's cwd). /tmp, /run, /var/tmp, /dev/shm are fresh tmpfs mounts; /dev is devtmpfs with
 * /dev/net/tun; /lib/modules/<kver> holds the guest kernel's modules, so `modprobe` works (and the
 * kernel's own module autoloading, e.g. for nft expressions). stdout, stderr and the exit code come
 * back through a second, writable 9p share (a temp dir removed afterwards), and so do the files
 * the script writes into $PMT_VM_OUT (`files`); PMT_VM=1 is set. The serial console (kernel
 * messages, init errors) is returned as `console` for diagnostics. /.vm/busybox is busybox-static
 * (nc, ...). Every exec is slow under TCG (node -e 0: seconds): batch `ip -b`, boot once per file.
 * QEMU is killed at `timeoutMs` even if the test process dies (coreutils `timeout`). docs/testing-vm.md.
 *
 * The kernel (`linux-image-amd64`'s versioned dependency) and busybox-static are fetched once with
 * `apt-get download` into $PMT_VM_CACHE (default /var/cache/6to4-pmt-vm), unpacked with dpkg-deb,
 * and indexed with depmod. Debs already in `<cache>/debs` are used as they are.
 */
import { spawn, spawnSync, type ChildProcess } from "node:child_process";
import { createHash } from "node:crypto";
import {
  chmodSync,
  existsSync,
  mkdirSync,
  mkdtempSync,
  readdirSync,
  readFileSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
} from "node:fs";
import { tmpdir } from "node:os";
import { basename, join } from "node:path";
import { gzipSync } from "node:zlib";

export interface VmRunOptions {
  /** Hard limit for the whole VM run (boot included); the VM is killed after it. Default 180 s. */
  readonly timeoutMs?: number;
  /** Working directory of the script inside the guest (a host path). Default: process.cwd(). */
  readonly cwd?: string;
  /** Extra environment variables for the script. */
  readonly env?: Readonly<Record<string, string>>;
  /** Guest memory in MiB (default 1024) and CPUs (default 2). */
  readonly memMb?: number;
  readonly smp?: number;
}

export interface VmRunResult {
  /** Exit code of the script; null when it did not finish (timeout, VM failure). */
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** The serial console: kernel messages and the init's own errors. */
  readonly console: string;
  readonly timedOut: boolean;
  /** Guest uptime (s) when the script started: kernel boot + init (modules, mounts). */
  readonly guestBootS: number | undefined;
  /** Host wall time of the whole run, QEMU start to exit (ms). */
  readonly wallMs: number;
  /** Regular files the script left in $PMT_VM_OUT (top level only), by name. */
  readonly files: ReadonlyMap<string, Buffer>;
}

/** The prepared guest: kernel image, modules dir (host path), initramfs. */
export interface VmImage {
  readonly kver: string;
  readonly vmlinuz: string;
  readonly modulesDir: string;
  readonly initrd: string;
}

const QEMU = "qemu-system-x86_64";

/**
 * Serial console; panic=-1 with -no-reboot ends QEMU if the init dies. Boot time under TCG: no
 * CPU-bug mitigations, no audit, no crypto self-tests (1-2 s). The CRNG is seeded at once from
 * RDRAND (-cpu max), so no virtio-rng device is needed.
 */
const KERNEL_ARGS = "console=ttyS0 quiet panic=-1 mitigations=off audit=0 cryptomgr.notests";

/** Modules the init needs before it can mount the host's root (dependencies are added). */
const INIT_MODULES = ["virtio_pci", "virtio_mmio", "9pnet_virtio", "9p", "overlay"];

/** Where the kernel, busybox-static and the initramfs are kept: $PMT_VM_CACHE, outside the clone. */
export function vmCacheDir(): string {
  return process.env.PMT_VM_CACHE ?? "/var/cache/6to4-pmt-vm";
}

let prepared: VmImage | string | undefined;

/** Why VM tests cannot run here, or undefined once the guest is ready (downloads on first use). */
export function vmSkipReason(): string | undefined {
  if (prepared === undefined) prepared = prepare();
  return typeof prepared === "string" ? prepared : undefined;
}

/** The prepared guest; throws with the skip reason when there is none. */
export function vmImage(): VmImage {
  const reason = vmSkipReason();
  if (reason !== undefined) throw new Error(`VM not available: ${reason}`);
  return prepared as VmImage;
}

function run(cmd: string, args: readonly string[], cwd?: string): { ok: boolean; out: string } {
  const r = spawnSync(cmd, args, { cwd, encoding: "utf8", maxBuffer: 64 << 20 });
  return {
    ok: !r.error && r.status === 0,
    out: `${r.stdout ?? ""}${r.stderr ?? ""}${r.error ?? ""}`,
  };
}

function prepare(): VmImage | string {
  if (process.platform !== "linux" || process.arch !== "x64") return "needs an x86-64 Linux host";
  if (typeof process.getuid === "function" && process.getuid() !== 0) {
    return "needs root (apt-get download into the cache, 9p export of /); CI runs it as root";
  }
  if (!run(QEMU, ["--version"]).ok)
    return `${QEMU} is not installed (Debian package qemu-system-x86)`;
  for (const tool of ["dpkg-deb", "apt-get", "apt-cache"]) {
    if (!run("sh", ["-c", `command -v ${tool}`]).ok) return `${tool} is not available`;
  }
  const cache = vmCacheDir();
  try {
    mkdirSync(join(cache, "debs"), { recursive: true });
  } catch (e) {
    return `cannot create the VM cache ${cache}: ${(e as Error).message}`;
  }
  try {
    const kernel = prepareKernel(cache);
    const busybox = prepareBusybox(cache);
    const initrd = prepareInitrd(cache, kernel.kver, kernel.modulesDir, busybox);
    pruneCache(cache, kernel.kver, initrd);
    return { ...kernel, initrd };
  } catch (e) {
    return (e as Error).message;
  }
}

/**
 * Removes what an older kernel or harness left in the cache (other kernels, their debs, other
 * initramfs images, temp dirs of interrupted runs), once it is a day old: a concurrent run may
 * still use something newer.
 */
function pruneCache(cache: string, kver: string, initrd: string): void {
  const keep = new Set([`kernel-${kver}`, "busybox-static", "debs", basename(initrd)]);
  const old = Date.now() - 86_400_000;
  const prune = (dir: string, name: string) => {
    const path = join(dir, name);
    try {
      if (statSync(path).mtimeMs < old) rmSync(path, { recursive: true, force: true });
    } catch {
      // gone already
    }
  };
  for (const f of readdirSync(cache)) if (!keep.has(f)) prune(cache, f);
  const debs = join(cache, "debs");
  for (const f of readdirSync(debs)) {
    if (f.startsWith("linux-image-") && !f.startsWith(`linux-image-${kver}_`)) prune(debs, f);
  }
}

/** The deb of `pkg` in <cache>/debs, downloaded with apt-get when missing. */
function debFor(cache: string, pkg: string): string {
  const dir = join(cache, "debs");
  const find = () => readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith(".deb"));
  let deb = find();
  if (deb === undefined) {
    // apt-get download as root warns when the _apt sandbox user cannot write here; harmless.
    const r = run("apt-get", ["download", "-q", pkg], dir);
    deb = find();
    if (!r.ok || deb === undefined) {
      return fail(
        `apt-get download ${pkg} failed: ${r.out.trim().split("\n").slice(-2).join(" ")}`,
      );
    }
  }
  return join(dir, deb);
}

function fail(msg: string): never {
  throw new Error(msg);
}

/** Unpacks `deb` into `dest` (atomically: a temp dir renamed), running `fixup` on the temp dir. */
function unpack(deb: string, dest: string, fixup?: (dir: string) => void): void {
  if (existsSync(dest)) return;
  const tmp = `${dest}.tmp-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  const r = run("dpkg-deb", ["-x", deb, tmp]);
  if (!r.ok) fail(`dpkg-deb -x ${deb} failed: ${r.out.trim()}`);
  fixup?.(tmp);
  try {
    renameSync(tmp, dest);
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true });
    if (!existsSync(dest)) throw e; // else another process won the race
  }
}

function prepareKernel(cache: string): { kver: string; vmlinuz: string; modulesDir: string } {
  // linux-image-amd64 depends on exactly one versioned image, linux-image-<kver>.
  const dep = run("apt-cache", ["depends", "linux-image-amd64"]);
  const m = /Depends:\s*linux-image-(\d\S*-amd64)\b/.exec(dep.out);
  let kver = m?.[1];
  if (kver === undefined) {
    // No apt metadata (offline, not Debian): use a kernel unpacked earlier, if any.
    kver = readdirSync(cache)
      .filter((f) => f.startsWith("kernel-"))
      .map((f) => f.slice("kernel-".length))
      .sort()
      .pop();
    if (kver === undefined) fail("apt-cache depends linux-image-amd64 gave no versioned kernel");
  }
  const root = join(cache, `kernel-${kver}`);
  if (!existsSync(root)) {
    unpack(debFor(cache, `linux-image-${kver}`), root, (dir) => {
      // Indexes for modprobe (kmod's depmod, else busybox's applet, which busybox modprobe reads).
      const d = run("sh", ["-c", "command -v depmod"]).ok
        ? run("depmod", ["-b", dir, kver])
        : run(prepareBusybox(cache), ["depmod", "-b", dir, kver]);
      if (!d.ok) fail(`depmod for ${kver} failed: ${d.out.trim()}`);
    });
  }
  const vmlinuz = join(root, "boot", `vmlinuz-${kver}`);
  const modulesDir = join(root, "lib", "modules", kver);
  if (!existsSync(vmlinuz) || !existsSync(join(modulesDir, "modules.dep"))) {
    fail(`${root} is incomplete (no vmlinuz or modules.dep); remove it to unpack again`);
  }
  return { kver, vmlinuz: bootImage(root, kver, vmlinuz), modulesDir };
}

/**
 * The uncompressed ELF kernel when the kernel can boot from it (PVH entry, CONFIG_PVH), else the
 * bzImage. Under TCG the bzImage's own decompressor (XZ) takes about 10 s; QEMU loads an ELF
 * vmlinux with a PVH note directly. Unpacked once into the cache.
 */
function bootImage(root: string, kver: string, vmlinuz: string): string {
  const elf = join(root, "boot", `vmlinux-${kver}`);
  if (existsSync(elf)) return elf;
  const config = join(root, "boot", `config-${kver}`);
  if (!existsSync(config) || !/^CONFIG_PVH=y$/m.test(readFileSync(config, "utf8"))) return vmlinuz;
  // Boot protocol header: setup sectors at 0x1f1, payload offset/length at 0x248/0x24c.
  const bz = readFileSync(vmlinuz);
  const base = ((bz[0x1f1] ?? 0) || 4) * 512 + 512;
  const payload = bz.subarray(
    base + bz.readUInt32LE(0x248),
    base + bz.readUInt32LE(0x248) + bz.readUInt32LE(0x24c),
  );
  const magic = payload.subarray(0, 6).toString("hex");
  const tool = magic.startsWith("fd377a585a00")
    ? ["xz", "-dc", "--single-stream"]
    : magic.startsWith("28b52ffd")
      ? ["zstd", "-dc"]
      : magic.startsWith("1f8b")
        ? ["gzip", "-dc"]
        : undefined;
  if (tool === undefined) return vmlinuz;
  const [cmd = "", ...args] = tool;
  const r = spawnSync(cmd, args, { input: payload, maxBuffer: 1 << 30 });
  // zstd and gzip complain about the 4-byte size after the stream; the output is what counts.
  const out = r.stdout as Buffer | null;
  if (r.error || out === null || out.length < 1 << 20 || out.readUInt32BE(0) !== 0x7f454c46) {
    return vmlinuz;
  }
  writeFileSync(`${elf}.tmp-${process.pid}`, out);
  renameSync(`${elf}.tmp-${process.pid}`, elf);
  return elf;
}

/** Path of the static busybox binary. */
function prepareBusybox(cache: string): string {
  const root = join(cache, "busybox-static");
  if (!existsSync(root)) unpack(debFor(cache, "busybox-static"), root);
  const bin = join(root, "bin", "busybox");
  if (!existsSync(bin)) fail(`${bin} missing; remove ${root} to unpack again`);
  return bin;
}

/** `wanted` and their dependencies (modules.dep), dependencies first, as paths relative to dir. */
function moduleClosure(modulesDir: string, wanted: readonly string[]): string[] {
  const deps = new Map<string, string[]>();
  const byName = new Map<string, string>();
  for (const line of readFileSync(join(modulesDir, "modules.dep"), "utf8").split("\n")) {
    const colon = line.indexOf(":");
    if (colon < 0) continue;
    const path = line.slice(0, colon);
    deps.set(
      path,
      line
        .slice(colon + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean),
    );
    byName.set(modName(path), path);
  }
  const builtin = new Set(
    readFileSync(join(modulesDir, "modules.builtin"), "utf8")
      .split("\n")
      .filter(Boolean)
      .map(modName),
  );
  const order: string[] = [];
  const visit = (path: string) => {
    if (order.includes(path)) return;
    for (const d of deps.get(path) ?? []) visit(d);
    order.push(path);
  };
  for (const name of wanted) {
    const path = byName.get(name);
    if (path !== undefined) visit(path);
    else if (!builtin.has(name)) fail(`kernel module ${name} not found in ${modulesDir}`);
  }
  return order;
}

function modName(path: string): string {
  return (path.split("/").pop() ?? "").replace(/\.ko(\.\w+)?$/, "").replace(/-/g, "_");
}

/**
 * The guest's /init (busybox ash): modules for virtio-9p, the host's root read-only as the lower
 * layer of an overlay, fresh tmpfs and kernel file systems, the guest kernel's modules at
 * /lib/modules/<kver>, then the script in a chroot; its output and exit code go to the xfer share.
 * Kernel command line: pmt.xfer=<host temp dir> pmt.mods=<host path of the modules dir>
 * pmt.cwd=<the script's working directory>.
 */
const INIT = `#!/bin/sh
export PATH=/bin:/sbin:/usr/bin:/usr/sbin
/bin/busybox --install -s
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev
die() { echo "vm-init: $*"; sync; reboot -f; sleep 10; }
for m in $(cat /mods/order); do insmod "/mods/$m" || echo "vm-init: insmod $m failed"; done
XFER=; MODS=; KVER=$(uname -r)
for a in $(cat /proc/cmdline); do
  case "$a" in
  pmt.xfer=*) XFER="\${a#pmt.xfer=}";; pmt.mods=*) MODS="\${a#pmt.mods=}";; pmt.cwd=*) CWD="\${a#pmt.cwd=}";;
  esac
done
[ -n "$XFER" ] && [ -n "$MODS" ] || die "pmt.xfer= and pmt.mods= missing on the command line"
O9P=trans=virtio,version=9p2000.L,msize=512000
mkdir -p /host /newroot /rw
mount -t 9p -o "$O9P,ro,cache=loose" hostroot /host || die "9p mount of the host root failed"
mount -t tmpfs -o mode=0755 rw /rw && mkdir -p /rw/upper /rw/work
mount -t overlay -o lowerdir=/host,upperdir=/rw/upper,workdir=/rw/work overlay /newroot ||
  die "overlay over the host root failed"
R=/newroot
mount -t proc proc $R/proc
mount -t sysfs sysfs $R/sys
mount -o bind /dev $R/dev
mkdir -p $R/dev/pts $R/dev/shm
mount -t devpts devpts $R/dev/pts
mount -t tmpfs -o mode=1777 shm $R/dev/shm
mount -t tmpfs -o mode=1777 tmp $R/tmp
mount -t tmpfs -o mode=1777 vartmp $R/var/tmp
mount -t tmpfs -o mode=0755 run $R/run
mkdir -p $R/run/netns $R/run/lock $R/etc/netns
# A working directory under one of those fresh mounts (a clone in /tmp): the host's, writable
# through an overlay of its own.
case "$CWD" in
/tmp/*|/var/tmp/*|/run/*|/dev/shm/*)
  mkdir -p /rw/cwd-upper /rw/cwd-work "$R$CWD"
  mount -t overlay -o "lowerdir=/host$CWD,upperdir=/rw/cwd-upper,workdir=/rw/cwd-work" overlay "$R$CWD" ||
    die "overlay over the working directory $CWD failed";;
esac
mkdir -p /lib/modules/$KVER $R/lib/modules/$KVER
mount -o bind,ro "/host$MODS" /lib/modules/$KVER
mount -o bind,ro "/host$MODS" $R/lib/modules/$KVER
# module tools: the host's kmod when present, else busybox's applets
mkdir -p $R/.vm && cp /bin/busybox $R/.vm/busybox
for t in modprobe insmod rmmod lsmod; do
  [ -e $R/usr/sbin/$t ] || [ -e $R/sbin/$t ] || ln -s /.vm/busybox $R/usr/local/sbin/$t
done
modprobe tun
ip link set lo up
hostname pmt-vm
mkdir -p "$R$XFER"
mount -t 9p -o "$O9P" xfer "$R$XFER" || die "9p mount of the xfer dir failed"
cut -d' ' -f1 /proc/uptime > "$R$XFER/boot-uptime"
chroot $R /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \\
  HOME=/root TERM=dumb LANG=C.UTF-8 /bin/sh "$XFER/script.sh" </dev/null \\
  >"$R$XFER/stdout" 2>"$R$XFER/stderr"
echo $? > "$R$XFER/rc"
sync
umount "$R$XFER"
reboot -f
`;

/** The initramfs (cpio newc, gzip), cached by content: busybox, /init, the modules for 9p. */
function prepareInitrd(cache: string, kver: string, modulesDir: string, busybox: string): string {
  const mods = moduleClosure(modulesDir, INIT_MODULES);
  const files: CpioEntry[] = [];
  for (const d of [
    "bin",
    "sbin",
    "usr",
    "usr/bin",
    "usr/sbin",
    "proc",
    "sys",
    "dev",
    "mods",
    "lib",
  ]) {
    files.push({ name: d, mode: 0o40755 });
  }
  files.push({ name: "dev/console", mode: 0o20600, rdev: [5, 1] });
  files.push({ name: "bin/busybox", mode: 0o100755, data: readFileSync(busybox) });
  files.push({ name: "bin/sh", mode: 0o120777, data: Buffer.from("busybox") });
  files.push({ name: "init", mode: 0o100755, data: Buffer.from(INIT) });
  const names = mods.map((p) => p.split("/").pop() ?? p);
  files.push({ name: "mods/order", mode: 0o100644, data: Buffer.from(names.join("\n") + "\n") });
  mods.forEach((p, i) => {
    files.push({
      name: `mods/${names[i]}`,
      mode: 0o100644,
      data: readFileSync(join(modulesDir, p)),
    });
  });
  const cpio = cpioNewc(files);
  const hash = createHash("sha256").update(cpio).digest("hex").slice(0, 16);
  const path = join(cache, `initrd-${kver}-${hash}.cpio.gz`);
  if (!existsSync(path)) {
    writeFileSync(`${path}.tmp-${process.pid}`, gzipSync(cpio, { level: 6 }));
    renameSync(`${path}.tmp-${process.pid}`, path);
  }
  return path;
}

interface CpioEntry {
  readonly name: string;
  readonly mode: number;
  readonly data?: Buffer;
  readonly rdev?: readonly [number, number];
}

/** A cpio archive in the "newc" format the kernel unpacks as its initramfs. */
function cpioNewc(entries: readonly CpioEntry[]): Buffer {
  const parts: Buffer[] = [];
  const pad4 = (n: number) => Buffer.alloc((4 - (n % 4)) % 4);
  const hex = (n: number) => n.toString(16).padStart(8, "0");
  let ino = 1;
  const add = (e: CpioEntry) => {
    const data = e.data ?? Buffer.alloc(0);
    const name = Buffer.from(`${e.name}\0`);
    const fields = [ino++, e.mode, 0, 0, 1, 0, data.length, 0, 0, e.rdev?.[0] ?? 0];
    fields.push(e.rdev?.[1] ?? 0, name.length, 0);
    const header = Buffer.from(`070701${fields.map(hex).join("")}`);
    parts.push(header, name, pad4(header.length + name.length), data, pad4(data.length));
  };
  entries.forEach(add);
  add({ name: "TRAILER!!!", mode: 0 });
  return Buffer.concat(parts);
}

function shQuote(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * QEMU runs under coreutils `timeout`: the hard limit holds even if this process dies without its
 * exit handlers (SIGKILL). `timeout` passes a SIGTERM on to QEMU, so QEMU is always stopped through it.
 */
const live = new Set<ChildProcess>();
process.on("exit", () => {
  for (const c of live) c.kill("SIGTERM");
});

/**
 * The `pc` machine with virtio-pci by default (HPET clocksource: guest time is right). With
 * PMT_VM_MACHINE=microvm: virtio-mmio, no PCI, no firmware ROMs, a few seconds less boot under TCG;
 * it has neither HPET nor a PIT the kernel can calibrate the TSC against, and TCG's vCPU TSCs fail
 * the kernel's sync check (time would fall back to jiffies), so the host's TSC rate is passed as
 * tsc_early_khz with tsc=reliable (TCG's guest TSC is the host's constant TSC); only when the host
 * states a constant, known TSC rate. The initramfs has the drivers for both.
 */
function machineArgs(img: VmImage, xfer: string, cwd: string): string[] {
  const append = `${KERNEL_ARGS} pmt.xfer=${xfer} pmt.mods=${img.modulesDir} pmt.cwd=${cwd}`;
  const shares = [
    ["hostroot", "local,path=/,security_model=none,readonly=on,multidevs=remap"],
    ["xfer", `local,path=${xfer},security_model=none`],
  ];
  const tscKhz = hostTscKhz();
  const micro =
    process.env.PMT_VM_MACHINE === "microvm" &&
    tscKhz !== undefined &&
    /vmlinux-/.test(img.vmlinuz);
  const device = micro ? "virtio-9p-device" : "virtio-9p-pci";
  return [
    ...["-M", micro ? "microvm,pit=on,rtc=on" : "pc"],
    ...["-append", micro ? `${append} tsc_early_khz=${tscKhz} tsc=reliable` : append],
    ...shares.flatMap(([tag, fsdev]) => [
      ...["-fsdev", `${fsdev},id=fs${tag}`],
      ...["-device", `${device},fsdev=fs${tag},mount_tag=${tag}`],
    ]),
  ];
}

/** The host's TSC rate in kHz when it is constant and /proc/cpuinfo states it, else undefined. */
function hostTscKhz(): number | undefined {
  let info = "";
  try {
    info = readFileSync("/proc/cpuinfo", "utf8");
  } catch {
    return undefined;
  }
  const flags = /^flags\s*:(.*)$/m.exec(info)?.[1] ?? "";
  const mhz = Number(/^cpu MHz\s*:\s*([\d.]+)$/m.exec(info)?.[1]);
  if (!/\bconstant_tsc\b/.test(flags) || !/\btsc_known_freq\b/.test(flags)) return undefined;
  return Number.isFinite(mhz) && mhz > 100 ? Math.round(mhz * 1000) : undefined;
}

/** Longest a boot may take to reach the script (writing boot-uptime): 5-60 s under load here. */
const BOOT_DEADLINE_MS = 240_000;

/**
 * One QEMU run under coreutils `timeout`: its exit status, console, whether `timeoutMs` passed,
 * and whether it was stopped because the guest's init did not reach the script (no
 * `boot-uptime` in `xfer`) within BOOT_DEADLINE_MS.
 */
async function bootOnce(
  qemu: string[],
  timeoutMs: number,
  xfer: string,
): Promise<{ status: number | null; console: string; timedOut: boolean; bootHung: boolean }> {
  const hardS = Math.ceil(timeoutMs / 1000) + 10;
  const child = spawn("timeout", ["-s", "KILL", String(hardS), QEMU, ...qemu], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  live.add(child);
  let out = "";
  const collect = (b: Buffer) => {
    out += b.toString("utf8");
    if (out.length > 1 << 20) out = out.slice(-(1 << 19));
  };
  child.stdout?.on("data", collect);
  child.stderr?.on("data", collect);
  let timedOut = false;
  let bootHung = false;
  const timer = setTimeout(() => {
    timedOut = true;
    child.kill("SIGTERM");
  }, timeoutMs);
  const bootStarted = Date.now();
  const watchdog = setInterval(() => {
    if (existsSync(join(xfer, "boot-uptime"))) clearInterval(watchdog);
    else if (Date.now() - bootStarted > BOOT_DEADLINE_MS) {
      clearInterval(watchdog);
      bootHung = true;
      child.kill("SIGTERM");
    }
  }, 1000);
  const status = await new Promise<number | null>((resolve) => {
    child.on("close", (code) => resolve(code));
    child.on("error", (e) => {
      out += `\ntimeout ${QEMU}: ${e.message}\n`;
      resolve(null);
    });
  });
  clearTimeout(timer);
  clearInterval(watchdog);
  live.delete(child);
  return { status, console: out, timedOut: timedOut && !bootHung, bootHung };
}

/** Internal files in the xfer share; the script's own files go to its out/ (PMT_VM_OUT). */
const XFER_OUT = "out";

/** Runs `script` (sh) as root in a fresh VM; resolves when the VM is gone. Never rejects on VM failure. */
export async function runInVm(script: string, options: VmRunOptions = {}): Promise<VmRunResult> {
  const img = vmImage();
  const timeoutMs = options.timeoutMs ?? 180_000;
  const xfer = mkdtempSync(join(tmpdir(), "pmt-vm-"));
  chmodSync(xfer, 0o755);
  mkdirSync(join(xfer, XFER_OUT));
  try {
    const cwd = options.cwd ?? process.cwd();
    if (/[\s,:]/.test(xfer + img.modulesDir + cwd))
      throw new Error(`whitespace, comma or colon in ${xfer}, ${img.modulesDir} or ${cwd}`);
    const env = Object.entries({ ...options.env, PMT_VM: "1", PMT_VM_OUT: join(xfer, XFER_OUT) })
      .map(([k, v]) => `export ${k}=${shQuote(v)}\n`)
      .join("");
    writeFileSync(join(xfer, "script.sh"), `cd ${shQuote(cwd)} || exit 125\n${env}${script}\n`);
    const qemu = [
      ...["-accel", process.env.PMT_VM_ACCEL ?? "tcg,thread=multi", "-cpu", "max"],
      ...["-smp", String(options.smp ?? 2), "-m", String(options.memMb ?? 1024)],
      ...["-nographic", "-no-reboot", "-nic", "none", "-monitor", "none"],
      ...["-kernel", img.vmlinuz, "-initrd", img.initrd],
      ...machineArgs(img, xfer, cwd),
    ];
    const started = Date.now();
    let consoleOut = "";
    let run = await bootOnce(qemu, timeoutMs, xfer);
    consoleOut += run.console;
    if (run.bootHung) {
      // No init within BOOT_DEADLINE_MS: QEMU stalled before the guest's /init reached the script
      // (seen once under TCG, no kernel output at all); that is not the test's doing: once more.
      consoleOut += `\n[no init after ${BOOT_DEADLINE_MS / 1000} s: booting again]\n`;
      run = await bootOnce(qemu, Math.max(1000, timeoutMs - (Date.now() - started)), xfer);
      consoleOut += run.console;
    }
    // A second hang is reported as the deadline passing, its console noted above.
    const timedOut = run.timedOut || run.bootHung || run.status === 137; // 137: `timeout`'s own limit
    const wallMs = Date.now() - started;
    const read = (f: string) => {
      try {
        return readFileSync(join(xfer, f), "utf8");
      } catch {
        return undefined;
      }
    };
    const files = new Map<string, Buffer>();
    for (const f of readdirSync(join(xfer, XFER_OUT), { withFileTypes: true })) {
      if (f.isFile()) files.set(f.name, readFileSync(join(xfer, XFER_OUT, f.name)));
    }
    const rc = read("rc");
    const boot = read("boot-uptime");
    return {
      code: rc === undefined || timedOut ? null : Number(rc.trim()),
      stdout: read("stdout") ?? "",
      stderr: read("stderr") ?? "",
      console: consoleOut.replace(/\r/g, ""),
      timedOut,
      guestBootS: boot === undefined ? undefined : Number(boot.trim()),
      wallMs,
      files,
    };
  } finally {
    rmSync(xfer, { recursive: true, force: true });
  }
}
