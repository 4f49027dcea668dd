/**
 * The relay's data plane over N worker threads (option workers; 1 = no thread, the data plane runs
 * in the main thread as RelayDaemon): what scales with the cores.
 *
 *  - Return path: one queue of a multi-queue TUN (IFF_MULTI_QUEUE) per worker; the kernel spreads
 *    what it routes into the TUN over the queues by flow hash.
 *  - Inbound: one protocol-41 socket per worker whose classic BPF filter keeps the customers whose
 *    outer IPv4 source hashes to it (native/split.c, dataplane/relay-split.ts): every packet is
 *    queued on exactly one socket. ICMPv4 errors about sent packets (IP_RECVERR) go to worker 1's
 *    socket only, so each is answered once.
 *  - Stateless mapping (RFC 6732 §3.4): each worker builds its own forwarding snapshot from the
 *    same options; workers share nothing but their counters, which live in one SharedArrayBuffer
 *    (a Float64Array per worker) that the main thread sums when status, metrics or SIGUSR1 ask.
 *
 * The main thread opens every fd before the privilege drop and starts the threads after it (a new
 * thread gets the creating thread's credentials; a worker thread then drops what the main thread
 * kept: it holds no capability); it keeps the control plane (status socket, metrics, announcer,
 * signals, the one `wan_send packet` resolver for every worker's AF_PACKET path:
 * control/packet-path-fanout.ts) and serves as worker 1 itself.
 */
import { existsSync } from "node:fs";
import { availableParallelism, cpus } from "node:os";
import path from "node:path";
import { Worker } from "node:worker_threads";
import { formatIpv4Prefix } from "../addr/ipv4.js";
import type { RelayConfig } from "../config/parse.js";
import {
  CTR_BATCHES_IN,
  CTR_BATCHES_OUT,
  CTR_IN_PACKETS,
  CTR_OUT_PACKETS,
  DataplaneCounters,
  OFFLOAD_COUNTER_NAMES,
  type CountersSnapshot,
  type WorkerCounters,
} from "../dataplane/counters.js";
import {
  closeFd,
  openIpv4RawFds,
  openTunQueues,
  tunQueueOffloadStats,
  type Ipv4RawFds,
  type Ipv4RawOptions,
} from "../io/linux.js";
import type { Logger } from "../log/logger.js";
import type { WanSendSnapshot } from "../status/snapshot.js";
import type { RelayWanSend } from "../control/relay-wan-send.js";
import {
  FanOutPacketPath,
  type PacketPathCommand,
  type PacketPathTarget,
} from "../control/packet-path-fanout.js";
import {
  RELAY_WORKER_ROLE,
  relayWanSend,
  startRelayWorker,
  type RelayWorkerData,
  type RelayWorkerHandle,
  type WorkerPortReport,
} from "./relay-worker.js";

/**
 * The number of workers option `workers` asks for: 0 = one per core (Node 18.0 lacks
 * os.availableParallelism, added in 18.14). Each worker thread beyond the first costs about
 * 8.5 MB of RSS idle and 10 MB under load (a V8 isolate of its own; docs/performance.md, Relay
 * workers: RSS): a relay host has that per core; a small one can set `workers`.
 */
export function resolveWorkers(
  option: number,
  cores: number = typeof availableParallelism === "function"
    ? availableParallelism()
    : cpus().length,
): number {
  if (option > 0) return option;
  return Math.max(1, cores);
}

/** How long a worker has to stop before it is terminated. */
const STOP_WAIT_MS = 3000;

/**
 * In the bundle, the relay worker's own modules (cli/relay-worker-main.ts and what it imports) as
 * the body of this function, which the main thread never calls (rollup.config.mjs); absent when
 * run from `out/`.
 */
declare const __pmtRelayWorker:
  | ((require: NodeJS.Require, module: object, exports: object, file: string, dir: string) => void)
  | undefined;

/**
 * The worker's script. Bundled: the source of __pmtRelayWorker, run with the bundle's file and
 * directory (where the addon is), so the thread evaluates about a fifth of the bundle (each
 * thread is an isolate of its own: ~1.5 MB less RSS per thread). Compiled:
 * out/module/cli/relay-worker-main.js beside this file; failing both, the bundle itself
 * (cli/main.ts dispatches a worker at its end).
 */
function workerScript(): { script: string; evaluate: boolean } {
  if (typeof __pmtRelayWorker === "function") {
    const args = [JSON.stringify(__filename), JSON.stringify(__dirname)].join(", ");
    const call = `(${__pmtRelayWorker.toString()})(require, { exports: {} }, {}, ${args});\n`;
    return { script: call, evaluate: true };
  }
  const own = path.join(__dirname, "relay-worker-main.js");
  return { script: existsSync(own) ? own : __filename, evaluate: false };
}

/** The ports of all workers, opened in the main thread. */
export interface WorkerPorts {
  tun: { fds: number[]; name: string; offload: boolean };
  raws: Ipv4RawFds[];
}

/**
 * Opens the TUN's `count` queues (down, as openDaemonPorts) and `count` split protocol-41
 * sockets; on failure logs `init failed: ...`, closes what was opened and returns undefined.
 */
export function openWorkerPorts(
  log: Logger,
  tunName: string,
  mtu: number,
  txQueueLen: number,
  count: number,
  rawOptions: Ipv4RawOptions = {},
): WorkerPorts | undefined {
  let tun: WorkerPorts["tun"] | undefined;
  const raws: Ipv4RawFds[] = [];
  try {
    tun = openTunQueues({ name: tunName, mtu, txQueueLen, up: false }, count);
    // packet_receive: each device's PACKET_FANOUT group, made by worker 1's socket.
    const fanout = new Map<string, number>();
    for (let i = 0; i < count; i++) {
      raws.push(openIpv4RawFds({ ...rawOptions, recvErr: i === 0 }, { index: i, count, fanout }));
    }
    for (const [dev, id] of fanout) {
      log.info(
        id >= 0
          ? `packet_receive ${dev}: ${count} sockets in PACKET_FANOUT group ${id} (by flow hash)`
          : `packet_receive ${dev}: no PACKET_FANOUT group; shared by outer source (filters)`,
      );
    }
    return { tun, raws };
  } catch (e) {
    log.error(`init failed: ${(e as Error).message}`);
    const rawFds = raws.flatMap((r) => [r.fd, r.sendFd, ...(r.packetRxFds ?? [])]);
    for (const fd of [...(tun?.fds ?? []), ...rawFds]) {
      closeFd(fd);
    }
    return undefined;
  }
}

interface WorkerSlot {
  /** A worker thread; absent for worker 1, which runs in the main thread (`inline`). */
  readonly worker?: Worker;
  readonly inline?: RelayWorkerHandle;
  readonly counters: DataplaneCounters;
  ports: WorkerPortReport;
  tid: number;
  stopped: boolean;
  exited: Promise<void>;
  /** Resolves once the thread runs its data plane (its `tid` message) or has exited. */
  started: Promise<void>;
}

export class RelayWorkers {
  private readonly slots: WorkerSlot[] = [];
  private readonly length: number;
  private readonly shared: SharedArrayBuffer;
  /** `wan_send packet`: each worker's packets over AF_PACKET (RelayWorkerData.wanSendPackets). */
  private readonly afPackets: Float64Array;
  private stopping = false;
  /** `wan_send packet`: the resolver for every worker, and the path it drives. */
  private wanSend: RelayWanSend | undefined;
  private fanOut: FanOutPacketPath | undefined;

  constructor(
    private readonly cfg: RelayConfig,
    private readonly ports: WorkerPorts,
    private readonly log: Logger,
    /** A worker failed (a port gone, the thread died): the relay stops. */
    private readonly onFatal: (message: string) => void,
  ) {
    this.length = DataplaneCounters.length(cfg.pmtCustomerIpv4.length);
    this.shared = new SharedArrayBuffer(8 * this.length * ports.raws.length);
    this.afPackets = new Float64Array(new SharedArrayBuffer(8 * ports.raws.length));
  }

  get count(): number {
    return this.ports.raws.length;
  }

  /**
   * Starts the workers (after the privilege drop): worker 1 in the main thread, beside the
   * control plane (as with workers 1: a thread would cost one more isolate, about 8 MB), the
   * others in threads.
   */
  start(): void {
    const { script, evaluate } = workerScript();
    const n = this.count;
    const targets: PacketPathTarget[] = [];
    const failed = (code: string): void => this.fanOut?.failed(code);
    for (let i = 0; i < n; i++) {
      const data: RelayWorkerData = {
        role: RELAY_WORKER_ROLE,
        index: i,
        count: n,
        cfg: this.cfg,
        tun: {
          fd: this.ports.tun.fds[i]!,
          name: this.ports.tun.name,
          mtu: this.cfg.tunnelMtu,
          offload: this.ports.tun.offload,
        },
        raw: this.ports.raws[i]!,
        counters: this.shared,
        length: this.length,
        wanSendPackets: this.afPackets.buffer as SharedArrayBuffer,
      };
      const packets = (): number => this.afPackets[i]!;
      const name = `relay worker ${i + 1}/${n}`;
      const counters = new DataplaneCounters(
        new Float64Array(this.shared, i * this.length * 8, this.length),
      );
      if (i === 0) {
        const inline = startRelayWorker(
          data,
          (message) => this.onFatal(`${name}: ${message}`),
          failed,
        );
        const slot: WorkerSlot = {
          inline,
          counters,
          ports: inline.report(),
          tid: process.pid,
          stopped: false,
          exited: Promise.resolve(),
          started: Promise.resolve(),
        };
        targets.push({
          send: (c) => {
            if (!slot.stopped) inline.wanSend(c);
          },
          packets,
        });
        this.slots.push(slot);
        continue;
      }
      const worker = new Worker(script, { workerData: data, eval: evaluate });
      const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
      let onStarted = (): void => undefined;
      const slot: WorkerSlot = {
        worker,
        counters,
        ports: { wanGroMerged: 0, wanGroUnusable: 0 },
        tid: 0,
        stopped: false,
        exited,
        started: Promise.race([new Promise<void>((resolve) => (onStarted = resolve)), exited]),
      };
      type Message = {
        type?: string;
        message?: string;
        ports?: WorkerPortReport;
        tid?: number;
        code?: string;
      };
      worker.on("message", (m: Message) => {
        if (m.ports !== undefined) slot.ports = m.ports;
        if (m.type === "wanSendFailed") failed(m.code ?? "failed");
        if (m.type === "tid") {
          slot.tid = m.tid ?? 0;
          onStarted();
        }
        if (m.type === "stopped") slot.stopped = true;
        if (m.type === "fatal") this.onFatal(`${name}: ${m.message ?? "failed"}`);
      });
      worker.on("error", (e) => this.onFatal(`${name}: ${e.message.split("\n")[0]}`));
      worker.once("exit", (code) => {
        if (!this.stopping) this.onFatal(`${name} exited (${code})`);
      });
      targets.push({
        send: (c: PacketPathCommand) => {
          if (!this.stopping) worker.postMessage({ type: "wanSend", command: c });
        },
        packets,
      });
      this.slots.push(slot);
    }
    if (this.cfg.wanSend === "packet") {
      this.fanOut = new FanOutPacketPath(targets);
      this.wanSend = relayWanSend(this.cfg, this.fanOut, this.log);
      this.wanSend?.start();
    }
    this.log.info(
      `data plane: ${n} workers (the main thread and ${n - 1} worker thread${n > 2 ? "s" : ""}), ` +
        `TUN ${this.ports.tun.name} with ${n} queues`,
    );
  }

  /**
   * Resolves once every worker thread runs its data plane (or has exited): what a thread's
   * start-up reads of the node binary (its isolate's snapshot, the script's compilation) is
   * resident until then, so the daemon releases its start-up pages after this.
   */
  async started(): Promise<void> {
    await Promise.all(this.slots.map((s) => s.started));
  }

  /**
   * The sum of the workers' counters (shared memory: exact at any time, up to the batch a
   * worker is in), per worker too (`workers`), with the TUN offload and the workers' last port
   * reports.
   */
  counters(): CountersSnapshot {
    const total = new DataplaneCounters(new Float64Array(this.length));
    const workers: WorkerCounters[] = [];
    const icmp: Record<string, number> = {};
    let groMerged = 0;
    let groUnusable = 0;
    this.slots.forEach((s, i) => {
      if (s.inline !== undefined && !s.stopped) s.ports = s.inline.report();
      total.add(s.counters);
      const t = s.counters.traffic;
      workers.push({
        worker: i + 1,
        tid: s.tid,
        in_packets: t[CTR_IN_PACKETS]!,
        out_packets: t[CTR_OUT_PACKETS]!,
        batches_in: t[CTR_BATCHES_IN]!,
        batches_out: t[CTR_BATCHES_OUT]!,
        drops: s.counters.totalDrops(),
      });
      groMerged += s.ports.wanGroMerged;
      groUnusable += s.ports.wanGroUnusable;
      for (const [k, v] of Object.entries(s.ports.icmpErrors ?? {})) icmp[k] = (icmp[k] ?? 0) + v;
    });
    const snap = total.snapshot();
    for (const [k, v] of Object.entries(this.wanSend?.counters() ?? {})) snap.traffic[k] = v;
    for (const [kind, n] of Object.entries(icmp)) snap.traffic[`icmpv4_${kind}`] = n;
    const offload = this.offloadTotals();
    if (offload !== null || groMerged > 0 || groUnusable > 0) {
      snap.offload = {
        ...(offload ?? {}),
        wan_gro_merged: groMerged,
        wan_gro_unusable: groUnusable,
      };
    }
    const names = this.cfg.pmtCustomerIpv4.map(formatIpv4Prefix);
    if (names.length > 0) snap.customers = total.rangeSnapshot(names);
    snap.workers = workers;
    return snap;
  }

  /**
   * `wan_send packet`: the send path of every worker (one resolver; `packets` summed over the
   * workers' last reports).
   */
  wanSendStatus(): WanSendSnapshot | undefined {
    return this.wanSend?.status();
  }

  /** `wan_send packet`: resolves with a new dump for every worker; the status once applied. */
  resolveWanSend(): Promise<WanSendSnapshot> | undefined {
    return this.wanSend?.resolveNow();
  }

  /** TUN offload counters summed over the queues (the addon keeps them per fd, process-wide). */
  private offloadTotals(): Record<string, number> | null {
    if (!this.ports.tun.offload || this.stopping) return null;
    const out: Record<string, number> = {};
    for (const name of Object.values(OFFLOAD_COUNTER_NAMES)) out[name] = 0;
    for (const fd of this.ports.tun.fds) {
      const o = tunQueueOffloadStats(fd);
      if (o === null) continue;
      for (const [k, name] of Object.entries(OFFLOAD_COUNTER_NAMES)) {
        out[name]! += o[k as keyof typeof OFFLOAD_COUNTER_NAMES];
      }
    }
    return out;
  }

  /**
   * Stops every worker (each closes its TUN queue and sockets) and waits for the threads; one
   * that does not answer within STOP_WAIT_MS is terminated and its fds closed here, so the TUN
   * is gone when this resolves.
   */
  async stop(): Promise<void> {
    if (this.stopping) return;
    this.wanSend?.stop();
    this.stopping = true;
    for (const s of this.slots) {
      if (s.inline !== undefined) {
        s.ports = s.inline.stop();
        s.stopped = true;
      } else {
        s.worker?.postMessage({ type: "stop" });
      }
    }
    await Promise.all(
      this.slots.map(async (s, i) => {
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<boolean>((resolve) => {
          timer = setTimeout(() => resolve(true), STOP_WAIT_MS);
        });
        const timedOut = await Promise.race([s.exited.then(() => false), late]);
        clearTimeout(timer);
        if (timedOut) {
          this.log.warn(`relay worker ${i + 1}: no answer to stop; terminating it`);
          await s.worker?.terminate();
        }
        if (!s.stopped) {
          const r = this.ports.raws[i]!;
          for (const fd of [this.ports.tun.fds[i]!, r.fd, r.sendFd]) closeFd(fd);
        }
      }),
    );
    // Not started (a failed start-up): the fds are still the main thread's.
    if (this.slots.length === 0) {
      for (const fd of [
        ...this.ports.tun.fds,
        ...this.ports.raws.flatMap((r) => [r.fd, r.sendFd]),
      ]) {
        closeFd(fd);
      }
    }
  }
}
