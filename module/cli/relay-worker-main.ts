/**
 * The relay worker thread's script when run from `out/` (compiled, not bundled): the bundle
 * dispatches the same way at the end of cli/main.ts. See cli/relay-worker.ts.
 */
import { isMainThread, workerData } from "node:worker_threads";
import { isRelayWorkerData, runRelayWorker } from "./relay-worker.js";

if (!isMainThread && isRelayWorkerData(workerData)) runRelayWorker(workerData);
