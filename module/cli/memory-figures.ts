/** The process's memory, for the counters line a daemon logs on SIGUSR1. */

/** The process's memory in KiB: RSS, and V8's heap (used, reserved) and memory outside it. */
export interface MemoryFigures {
  rss_kb: number;
  heap_used_kb: number;
  heap_total_kb: number;
  external_kb: number;
}

/** This process's MemoryFigures now (process.memoryUsage; not for the hot path). */
export function memoryFigures(): MemoryFigures {
  const m = process.memoryUsage();
  const kb = (n: number): number => Math.round(n / 1024);
  return {
    rss_kb: kb(m.rss),
    heap_used_kb: kb(m.heapUsed),
    heap_total_kb: kb(m.heapTotal),
    external_kb: kb(m.external),
  };
}
