/** The one line a daemon logs on SIGUSR1: its counters (and memory) as JSON. */
import type { CountersSnapshot } from "../dataplane/counters.js";
import type { MemoryFigures } from "./memory-figures.js";

/**
 * One line: `counters {"traffic":{...},"drops":{...}[,"offload":{...}][,"memory":{...}]}`
 * (non-zero drops only).
 */
export function formatCountersLine(s: CountersSnapshot, memory?: MemoryFigures): string {
  const drops: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.drops)) if (v !== 0) drops[k] = v;
  const o = s.offload === undefined ? {} : { offload: s.offload };
  const m = memory === undefined ? {} : { memory };
  return `counters ${JSON.stringify({ traffic: s.traffic, drops, ...o, ...m })}`;
}
