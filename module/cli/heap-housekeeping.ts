/** A daemon's periodic full garbage collection (see heapHousekeeping). */

/** How often a daemon asks V8 for a full collection (heapHousekeeping). */
const HEAP_HOUSEKEEPING_MS = 10 * 60_000;

type GcFunction = (options: { type: "major"; execution: "async" }) => unknown;

/**
 * Asks V8 for a full collection every `intervalMs` (node's `gc`, exposed by `--expose-gc` in
 * DAEMON_NODE_FLAGS and the OpenWrt launcher; without it this does nothing). Why: the data plane
 * allocates almost nothing, so V8 rarely sees a reason to collect its old generation, while the
 * little that young-generation collections promote (a few KB a minute under load) piles up for
 * many hours until the heap reaches V8's limit (about 15 MB with --optimize-for-size on Node
 * 20, three times what is live). A full collection of the daemon's ~5 MB heap takes 2-4 ms, and
 * it runs as a task of its own ("async"), not inside a batch. Returns the stop function.
 */
export function heapHousekeeping(
  intervalMs = HEAP_HOUSEKEEPING_MS,
  gc: GcFunction | undefined = (globalThis as { gc?: GcFunction }).gc,
): () => void {
  if (typeof gc !== "function") return () => undefined;
  const timer = setInterval(() => void gc({ type: "major", execution: "async" }), intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
