/**
 * Typed loader of the native addon `pmt_native.node` (module/native/*.c; addon.c lists the files)
 * and the one place where the addon's behaviour switches are read (`nativeIoOptions`): the addon
 * reads no environment, it gets them as arguments.
 *
 * Where it looks, first hit wins:
 *   1. `options.path`, else the environment variable PMT_NATIVE_PATH (an explicit path: used
 *      alone, a missing file is an error, never silently replaced by another copy);
 *   2. beside the running code: `<dir of this file>/pmt_native.node` — in the rollup bundle this
 *      is dist/pmt_native.node, which the build copies there;
 *   3. the node-gyp output `build/Release/pmt_native.node` of the repository, found from
 *      out/module/native/ (compiled tests) or from dist/.
 * When it fails, the error says which paths were tried, or that the file was built for another
 * platform (ELF class / machine compared with this process), or what the dynamic loader said.
 *
 * Only io/ imports this module: the native layer does syscalls, io/ decides.
 */
import { existsSync, openSync, readSync, closeSync } from "node:fs";
import { constants } from "node:os";
import * as path from "node:path";

/** Poll kinds of `pollStart`. */
export const POLL_KIND_TUN = 0;
export const POLL_KIND_RAW4 = 1;
export const POLL_KIND_ICMP6 = 2;
/** AF_PACKET protocol 41 with virtio-net headers (`openPacketRx4`); meta = segment sizes. */
export const POLL_KIND_PACKET4 = 3;

/** Opaque handle of a running poller (a Node-API External). */
export type PollHandle = { readonly __pmtPollHandle: unique symbol };
/** Opaque write-readiness watcher (`writableStart`). */
export type WritableHandle = { readonly __pmtWritableHandle: unique symbol };

/** Counters of one poller since `pollStart`. */
export interface NativePollStats {
  batches: number;
  packets: number;
  /** Pending socket errors cleared (SO_ERROR read or recvmmsg returned one): polling went on. */
  soErrors: number;
  /** errno number of the last cleared socket error. */
  lastSoError: number;
  /** Messages drained from the socket error queue (IP_RECVERR). */
  errQueue: number;
  /** Received packets larger than their buffer (size reported as 0). */
  truncated: number;
  /** Protocol-41 TCP packets merged by GRO on the receiving NIC, recognised (complete_gro_6in4). */
  wanGroMerged: number;
  /** Protocol-41 packets merged by GRO that could not be taken apart (UDP under plain GRO). */
  wanGroUnusable: number;
  /** Times polling was restarted after libuv stopped it on EPOLLERR. */
  restarts: number;
  readErrors: number;
  /** Error-queue messages by kind (snake_case names of socket-read.c icmp4_err_names), non-zero. */
  icmpErrors: Record<string, number>;
}

/** Counters of a TUN opened with offload (native/offload.h). */
export interface TunOffloadStats {
  /** TCP super-packets read from the kernel (each cut into segments). */
  superPacketsRead: number;
  /** Segments cut from them. */
  segmentsCut: number;
  /** Plain packets whose checksum the kernel left to us (completed). */
  checksumsCompleted: number;
  /** Super-packets or packets dropped as malformed or too large for a ring slot. */
  dropped: number;
  /** Super-packets written (each coalesced from several TCP segments or UDP datagrams). */
  superPacketsWritten: number;
  /** Segments (TCP) and datagrams (UDP) written inside them. */
  packetsCoalesced: number;
  /** TCP packets longer than the MTU (merged by GRO on the WAN) written for the kernel to cut. */
  oversizedSplit: number;
  /** The kernel takes UDP super-packets too (USO, Linux 6.2+; off with PMT_NO_TUN_USO=1). */
  udpSuperPackets: boolean;
}

/** `nextHop4`: rtm_type, output device, gateway (0: on link), neighbour state (NUD_* bits). */
export interface NativeNextHop {
  type: number;
  oif: number;
  ifname: string;
  ifFlags: number;
  /** Link-layer address length of the device (0: none, e.g. PPP). */
  addrLen: number;
  gateway: number;
  prefsrc: number;
  /** NUD_* bits of the next hop's neighbour entry; 0 when there is none. */
  neighState: number;
  lladdr: Uint8Array;
}

/**
 * The addon's functions. Every failing call throws an Error whose `code` is the errno name
 * ("ENODEV", ...), with `errno` (number) and `syscall`; argument mistakes throw TypeError.
 * Addresses: IPv4 as unsigned 32-bit numbers in host order, IPv6 as 16 bytes.
 */
export interface NativeBinding {
  /**
   * Opens /dev/net/tun (O_NONBLOCK) and attaches device `name` (IFF_TUN | IFF_NO_PI). With
   * `offload`: IFF_VNET_HDR + TUNSETOFFLOAD(CSUM, TSO6), so TCP crosses the TUN as super-packets
   * (handed over whole or cut into segments on read, coalesced on write, in the addon); `offload`
   * in the result is false when the kernel refused it (the device then works without).
   * `udpSuperPackets` (default true): UDP datagrams are coalesced on write too where the kernel
   * takes UDP super-packets (USO); false never writes them.
   */
  openTun(
    name: string,
    offload?: boolean,
    udpSuperPackets?: boolean,
    multiQueue?: boolean,
  ): { fd: number; name: string; offload: boolean };
  /** Offload counters of a TUN opened with offload, else null. */
  tunOffloadStats(fd: number): TunOffloadStats | null;
  /** SIOCSIFMTU; `fd`: the TUN of that name (its write path keeps the MTU). */
  setMtu(name: string, mtu: number, fd?: number): void;
  /** SIOCSIFTXQLEN (a TUN defaults to 500 packets). */
  setTxQueueLen(name: string, len: number): void;
  /** Sets or clears IFF_UP (SIOCGIFFLAGS/SIOCSIFFLAGS). */
  setUp(name: string, up: boolean): void;
  /** if_nametoindex; throws ENODEV when absent. */
  ifIndex(name: string): number;
  /**
   * Netdev features by ethtool name (SIOCETHTOOL): want[i] 0 off, 1 on, -1 leave. Per feature:
   * -1 unknown to the kernel, else bit 0 active, bit 1 changeable, bit 2 requested (after any
   * change).
   */
  ethtoolFeatures(name: string, features: readonly string[], want: Int32Array | null): Int32Array;
  /** setns(fd, CLONE_NEWNET) for the calling thread (tests: open devices inside a namespace). */
  setNetns(fd: number): void;
  /** close(2). Close the fd's poller first. */
  close(fd: number): void;
  /** Reads and clears SO_ERROR; 0 = none. */
  getSocketError(fd: number): number;
  /** errno number -> name on this platform ("" for 0). */
  errnoName(errno: number): string;
  /**
   * Raw IPv4 socket (non-blocking). `bindAddr` 0 = any; `device` "" = not bound to a device;
   * `hdrincl`: the caller writes the IPv4 header (see the C comment for why we do);
   * `recvErr`: IP_RECVERR; buffer sizes in bytes, 0 = kernel default; `pmtuDisc`: an
   * IP_MTU_DISCOVER value (IP_PMTUDISC_*), absent = the kernel's default.
   */
  openRaw4(
    protocol: number,
    bindAddr: number,
    device: string,
    hdrincl: boolean,
    recvErr: boolean,
    rcvbufBytes: number,
    sndbufBytes: number,
    pmtuDisc?: number,
  ): number;
  /**
   * Raw ICMPv6 socket bound to `device`, hop limits 255, PKTINFO + HOPLIMIT reception, an
   * ICMP6_FILTER passing `passTypes`, member of each 16-byte group in `groups`.
   */
  /** `echoId` (unbound echo sockets): a socket filter passes only echo replies with it. */
  openIcmp6(device: string, groups: Uint8Array, passTypes: number[], echoId?: number): number;
  /** Sends one ICMPv6 message to `dst[dstOffset..+16)` via interface `ifindex`; throws on error. */
  sendIcmp6(
    fd: number,
    buf: Uint8Array,
    offset: number,
    length: number,
    dst: Uint8Array,
    dstOffset: number,
    ifindex: number,
  ): void;
  /**
   * sendmmsg of `count` packets `bufs[i][offsets[i]..+lengths[i])` to `dsts[i]` (or, when `dsts`
   * is null, to the destination in each packet's IPv4 header). Returns the number accepted;
   * `status` = [errno of first failure, packets not sent, stale ICMP errors retried]; with 6
   * slots also [first entry of the unsent tail (-1: none), its segments already sent, the tail's
   * wire packets] when the socket refused more (EAGAIN, or ENOBUFS which lost that one packet).
   * `first`/`skip` start the send at that entry and segment (the tail, once writable again).
   * `gso[i]` > 0 (only with `dsts` null): packet i is a TCP super-packet to cut while sending
   * (io/ports.ts `RxRing.gso`); the return value and `status` then count its segments.
   * `slab`/`abs`: the ArrayBuffer most `bufs[i]` are views of and each entry's byte offset in it
   * (-1: look the entry up in `bufs`), so the addon finds the packets without a lookup per
   * packet; absent or null: every entry is looked up.
   * `pfd`/`nextHop` (`dsts` null): an `openPacket4` socket and a 20-byte next hop (IPv4
   * destination in network order, ifindex, link-layer address length, address at 12): packets to
   * that destination go through `pfd` (io/linux.ts PacketPath); `status` of 9 slots then also
   * gets [errno that made `pfd` fail (its packets went through `fd`), packets `pfd` took, 1 when
   * the tail was left by `pfd`].
   */
  sendRaw4(
    fd: number,
    bufs: readonly Uint8Array[],
    offsets: Int32Array,
    lengths: Int32Array,
    dsts: Uint32Array | null,
    count: number,
    status: Int32Array,
    gso?: Int32Array | null,
    first?: number,
    skip?: number,
    slab?: ArrayBufferLike | null,
    abs?: Int32Array | null,
    pfd?: number | null,
    nextHop?: Uint8Array | null,
  ): number;
  /**
   * Writes `count` packets to a TUN, in order: one io_uring submission per 64 (linked writes)
   * when the kernel allows it, else a write(2) loop; same return, `status`, `slab` and `abs` as
   * `sendRaw4`.
   */
  writeTun(
    fd: number,
    bufs: readonly Uint8Array[],
    offsets: Int32Array,
    lengths: Int32Array,
    count: number,
    status: Int32Array,
    slab?: ArrayBufferLike | null,
    abs?: Int32Array | null,
    /** Per packet: 0, or the segment size of a TCP packet GRO merged (cut there on write). */
    gso?: Int32Array | null,
  ): number;
  /**
   * TUN writes through io_uring (set up on the first call that enables it; `false` closes it and
   * writes with writev(2)); `reads` (default `enabled`): TUN reads through it too, else read(2).
   * Returns whether writes go through io_uring: false when it is unavailable here (old kernel,
   * seccomp, no CONFIG_IO_URING), where the syscall loops serve. `loadNative` calls it with
   * `NativeIoOptions`; tests call it to run both paths.
   */
  setIoUring(enabled: boolean, reads?: boolean): boolean;
  /**
   * Watches `fd` with uv_poll; on readability drains up to `bufs.length` packets into
   * `bufs[i]` at `offset`, fills `sizes[i]` (and `addrs`/`meta` per kind) and calls
   * `onBatch(count)` once. On a TUN with offload, `meta` may be a `gso` Int32Array (io/ports.ts
   * `RxRing.gso`): super-packets are then handed over whole instead of cut on read. `onError(err)` gets errors about the fd (after a fatal one the poller
   * has stopped). The arrays are kept referenced until `pollClose`.
   */
  pollStart(
    fd: number,
    kind: number,
    bufs: readonly Uint8Array[],
    offset: number,
    sizes: Int32Array,
    addrs: Uint32Array | Uint8Array | null,
    meta: Int32Array | null,
    onBatch: (count: number) => void,
    onError: (err: Error & { code: string; errno: number }) => void,
  ): PollHandle;
  pollPause(h: PollHandle): void;
  /**
   * Write readiness of a send-only socket: `writableStart` makes an unarmed watcher,
   * `writableArm` watches once (the socket's send buffer below half full: `onWritable()` runs and
   * the watch stops), `writableClose` stops it for good (the fd stays open).
   */
  writableStart(fd: number, onWritable: () => void): WritableHandle;
  writableArm(w: WritableHandle): void;
  writableClose(w: WritableHandle): void;
  /**
   * A watcher, armed at once, that calls `onReadable()` whenever `fd` has something to read (it
   * must read it); stopped by `writableClose`. The fd stays open.
   */
  readableStart(fd: number, onReadable: () => void): WritableHandle;
  pollResume(h: PollHandle): void;
  /** Stops at once (safe inside onBatch); frees after libuv closes the handle. Keeps the fd. */
  pollClose(h: PollHandle): void;
  pollStats(h: PollHandle): NativePollStats;
  /**
   * The daemons' one-way privilege drop (privileges.c): bounding set reduced to `keep` (with
   * CAP_SETPCAP), uid/gid changed (-1, -1: stay; supplementary groups cleared), permitted =
   * effective = inheritable = ambient = `keep` (capability numbers), then no_new_privs.
   */
  dropPrivileges(uid: number, gid: number, keep: number[]): { boundingReduced: boolean };
  /**
   * MADV_DONTNEED on the read-only data segments of every loaded object, with `code` its
   * read-and-execute segments too (memory.c; from the program headers, RELRO and objects with
   * text relocations left out): pages start-up read leave the RSS, and come back from the page
   * cache if used again. Returns the kB advised.
   */
  releaseStartupPages(code?: boolean): number;
  /**
   * Raw IPv4 pollers of sockets opened with `recvErr`: error-queue messages (ICMPv4 errors about
   * sent packets) go into `buf` (meta.length / 4 slots of equal size, at least 64 bytes) and
   * `meta` (type, code, info, quoted bytes per slot), `onErrors(count)` once per batch
   * (io/ports.ts IcmpErrorRing).
   */
  pollErrQueue(
    h: PollHandle,
    buf: Uint8Array,
    meta: Int32Array,
    onErrors: (n: number) => void,
  ): void;
  /**
   * The relay workers' inbound split (split.c): a classic BPF filter on the raw protocol-41
   * socket `fd` that keeps only the packets whose outer IPv4 source hashes to worker `index` of
   * `count` (dataplane/relay-split.ts `relayWorkerOf`); then discards what was queued before.
   * Returns the number discarded.
   */
  splitRaw4(fd: number, index: number, count: number): number;
  /**
   * AF_PACKET SOCK_DGRAM socket that only sends (native/packet.c): `sendRaw4`'s `pfd` for the
   * packets bound to a resolved next hop (`wan_send packet`). `sndbuf` bytes, 0 = default.
   */
  openPacket4(sndbuf: number): number;
  /**
   * AF_PACKET socket on `device` reading protocol 41 to `dsts` (unsigned IPv4s) as GRO merged it,
   * with the segment size (native/split.c): poll it with POLL_KIND_PACKET4. With `count` > 1
   * the workers share the packets: `fanout` -1, worker `index`'s share by outer source in the
   * filter, as `splitRaw4`; -2, a new PACKET_FANOUT group (hash); 0..65535, join that group.
   */
  openPacketRx4(
    device: string,
    dsts: Uint32Array,
    index: number,
    count: number,
    rcvbuf: number,
    fanout: number,
  ): number;
  /** The PACKET_FANOUT group id of an `openPacketRx4` socket opened with `fanout` != -1. */
  packetFanout(fd: number): number;
  /**
   * The route to `dst` (unsigned IPv4; `oif` > 0: as for a socket bound to that device), its
   * output device and the next hop's neighbour entry, by rtnetlink; null when there is no route.
   */
  nextHop4(dst: number, oif: number): NativeNextHop | null;
  /**
   * The IPv4 routes of every table whose prefix meets one of `ranges`' [first, last] pairs (null:
   * every route), 7 numbers each (destination, prefix length, table, rtm_type | 0x100 for
   * multipath, output ifindex, gateway, metric); null when the table has more than `max` routes
   * (1..2^24). `read[0]`, when given: the routes read.
   */
  routeDump4(max: number, ranges: Uint32Array | null, read: Uint32Array | null): Uint32Array | null;
  /** `routeDump4` in a thread of libuv's pool; then `done(err, routes, read)`. */
  routeDump4Async(
    max: number,
    ranges: Uint32Array | null,
    done: (err: Error | null, routes: Uint32Array | null, read: number) => void,
  ): void;
  /** RTM_NEWNEIGH NTF_USE: a STALE neighbour entry is probed again (CAP_NET_ADMIN). */
  neighUse4(ifindex: number, addr: number): void;
  /**
   * A non-blocking rtnetlink socket subscribed to link, IPv4 address, route and rule changes and
   * to neighbour changes (no capability needed); read it with `routeEvents`.
   */
  openRouteEvents(): number;
  /**
   * Reads what is queued on an `openRouteEvents` socket: a mask of ROUTE_EVENT_ROUTE (a link,
   * IPv4 address or rule changed; an IPv4 route whose prefix meets one of `ranges`' [first, last]
   * pairs, null: any route), ROUTE_EVENT_NEIGH (an IPv4 neighbour on `ifindex`, 0: any),
   * ROUTE_EVENT_LOST (the kernel dropped events: anything may have changed).
   */
  routeEvents(fd: number, ifindex: number, ranges: Uint32Array | null): number;
  /** The IPv4 header at `offset`: ID when 0 without DF, and checksum, as AF_PACKET sends it. */
  finishIpv4Header(buf: Uint8Array, offset: number): void;
  readonly POLL_KIND_TUN: number;
  readonly POLL_KIND_RAW4: number;
  readonly POLL_KIND_ICMP6: number;
  readonly MAX_BATCH: number;
}

const ADDON_FILE = "pmt_native.node";

/** Where to look, in order (see file comment). `dir` is the directory of the running code. */
export function candidatePaths(
  dir: string,
  explicit: string | undefined,
  env: NodeJS.ProcessEnv = process.env,
): string[] {
  const chosen = explicit ?? env.PMT_NATIVE_PATH;
  if (chosen !== undefined && chosen !== "") return [path.resolve(chosen)];
  const list = [path.join(dir, ADDON_FILE)];
  // Compiled tests: <repo>/out/module/native/loader.js -> <repo>/build/Release
  if (dir.endsWith(path.join("out", "module", "native"))) {
    list.push(path.resolve(dir, "../../../build/Release", ADDON_FILE));
  }
  // The bundle run from the repository before the copy: <repo>/dist -> <repo>/build/Release
  if (path.basename(dir) === "dist") list.push(path.resolve(dir, "../build/Release", ADDON_FILE));
  return [...new Set(list)];
}

/** ELF e_machine values we may meet on routers and build hosts. */
const ELF_MACHINES: Readonly<Record<number, string>> = {
  3: "ia32",
  8: "mips",
  20: "ppc",
  21: "ppc64",
  40: "arm",
  62: "x64",
  183: "arm64",
  243: "riscv64",
};

/** Node's process.arch -> expected [ELF class bits, e_machine]. */
const ARCH_ELF: Readonly<Record<string, [number, number]>> = {
  ia32: [32, 3],
  x64: [64, 62],
  arm: [32, 40],
  arm64: [64, 183],
  mips: [32, 8],
  mipsel: [32, 8],
  ppc64: [64, 21],
  riscv64: [64, 243],
};

interface ElfInfo {
  bits: 32 | 64;
  littleEndian: boolean;
  machine: number;
  /** Node-style arch name of `machine`, or "machine <n>". */
  arch: string;
}

/** Parses the first 20 bytes of an ELF file; null if it is not ELF. */
export function describeElf(header: Uint8Array): ElfInfo | null {
  if (header.length < 20) return null;
  if (header[0] !== 0x7f || header[1] !== 0x45 || header[2] !== 0x4c || header[3] !== 0x46) {
    return null;
  }
  const bits = header[4] === 2 ? 64 : header[4] === 1 ? 32 : null;
  if (bits === null) return null;
  const littleEndian = header[5] !== 2;
  const machine = littleEndian
    ? (header[18] as number) | ((header[19] as number) << 8)
    : ((header[18] as number) << 8) | (header[19] as number);
  return { bits, littleEndian, machine, arch: ELF_MACHINES[machine] ?? `machine ${machine}` };
}

/**
 * Why an ELF file cannot load in this process (class or machine differs), or null when it
 * matches (or the arch is unknown to us).
 */
export function platformMismatch(
  elf: ElfInfo,
  arch: string = process.arch,
  hostLittleEndian: boolean = isLittleEndianHost(),
): string | null {
  const want = ARCH_ELF[arch];
  if (want === undefined) return null;
  const [bits, machine] = want;
  if (elf.bits !== bits || elf.machine !== machine || elf.littleEndian !== hostLittleEndian) {
    return (
      `built for another platform (ELF ${elf.bits}-bit ${elf.littleEndian ? "LE" : "BE"} ` +
      `${elf.arch}; this Node is ${bits}-bit ${hostLittleEndian ? "LE" : "BE"} ${arch})`
    );
  }
  return null;
}

function isLittleEndianHost(): boolean {
  return new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;
}

function readHeader(file: string): Uint8Array {
  const buf = new Uint8Array(20);
  const fd = openSync(file, "r");
  try {
    readSync(fd, buf, 0, 20, 0);
  } finally {
    closeSync(fd);
  }
  return buf;
}

/**
 * Behaviour switches of the addon, read from the environment here and nowhere else, and passed
 * to it as arguments (`setIoUring` at load, `openTun` in io/linux.ts). Each is on by default; a
 * variable set to anything but "" or "0" turns it off.
 */
interface NativeIoOptions {
  /** TUN writes (and reads, see below) through io_uring where available. PMT_NO_IO_URING=1: off. */
  ioUring: boolean;
  /** TUN reads through io_uring too (NOWAIT reads); PMT_NO_IO_URING_READ=1: read(2). */
  ioUringReads: boolean;
  /** TCP offload over the TUN (virtio-net headers); PMT_NO_TUN_OFFLOAD=1: off. */
  tunOffload: boolean;
  /** UDP super-packets written to a TUN with offload where the kernel takes them (USO);
   *  PMT_NO_TUN_USO=1: off. */
  tunUdpSuperPackets: boolean;
  /**
   * Backpressure on the WAN send socket (io/linux.ts `openIpv4Raw`, dataplane/loops.ts): a send
   * buffer sized to a queue, IP_RECVERR, and the TUN left unread while the socket is full.
   * PMT_NO_BACKPRESSURE=1: off (every packet read is sent at once, the excess dropped after).
   */
  backpressure: boolean;
  /**
   * Relay workers with packet_receive share each device's packets through one PACKET_FANOUT
   * group (io/linux.ts `openIpv4RawFds`); PMT_NO_PACKET_FANOUT=1: by each socket's filter.
   */
  packetFanout: boolean;
}

function switchedOff(value: string | undefined): boolean {
  return value !== undefined && value !== "" && value !== "0";
}

/** The addon's switches from `env` (see `NativeIoOptions`). */
export function nativeIoOptions(env: NodeJS.ProcessEnv = process.env): NativeIoOptions {
  return {
    ioUring: !switchedOff(env.PMT_NO_IO_URING),
    ioUringReads: !switchedOff(env.PMT_NO_IO_URING_READ),
    tunOffload: !switchedOff(env.PMT_NO_TUN_OFFLOAD),
    tunUdpSuperPackets: !switchedOff(env.PMT_NO_TUN_USO),
    backpressure: !switchedOff(env.PMT_NO_BACKPRESSURE),
    packetFanout: !switchedOff(env.PMT_NO_PACKET_FANOUT),
  };
}

interface LoadOptions {
  /** Explicit addon path (overrides PMT_NATIVE_PATH and the search). */
  path?: string;
  /** Directory of the running code; default this module's directory. */
  dir?: string;
  /**
   * I/O switches handed to the addon (`setIoUring`); default `nativeIoOptions()` when the addon
   * is first loaded. Given, they are applied to the binding returned, cached or not.
   */
  io?: Pick<NativeIoOptions, "ioUring" | "ioUringReads">;
}

let cached: NativeBinding | undefined;

/** Loads the addon once (cached when no explicit path is given); throws a clear Error. */
export function loadNative(options: LoadOptions = {}): NativeBinding {
  if (cached !== undefined && options.path === undefined && options.dir === undefined) {
    if (options.io !== undefined) cached.setIoUring(options.io.ioUring, options.io.ioUringReads);
    return cached;
  }
  const dir = options.dir ?? __dirname;
  const tried = candidatePaths(dir, options.path);
  const file = tried.find((p) => existsSync(p));
  if (file === undefined) {
    throw new Error(
      `native addon not found at ${tried.join(", ")} ` +
        `(run \`npm install\` to build it, or set PMT_NATIVE_PATH)`,
    );
  }
  const mod = { exports: {} as NativeBinding };
  try {
    process.dlopen(mod, file, constants.dlopen.RTLD_NOW);
  } catch (e) {
    const msg = e instanceof Error ? e.message : String(e);
    let why: string | null = null;
    try {
      const elf = describeElf(readHeader(file));
      why = elf === null ? "is not an ELF shared object" : platformMismatch(elf);
    } catch {
      // Unreadable: report the loader's own message.
    }
    if (why === null && /libc\.so|ld-musl|Error relocating|GLIBC_/.test(msg)) {
      why = "built for another platform (C library differs: glibc vs musl)";
    }
    throw new Error(`native addon at ${file} ${why ?? "failed to load"}: ${msg}`);
  }
  const io = options.io ?? nativeIoOptions();
  mod.exports.setIoUring(io.ioUring, io.ioUringReads);
  if (options.path === undefined && options.dir === undefined) cached = mod.exports;
  return mod.exports;
}
