/** The one line a daemon logs on SIGUSR1: its counters (and memory) as JSON. */
import type { CountersSnapshot } from "../dataplane/counters.js";
import type { MemoryFigures } from "./memory-figures.js";

/**
 * One line: `counters {"traffic":{...},"drops":{...}[,"offload":{...}][,"customers":[...]][,"memory":{...}]}`
 * (non-zero drops only; customers: the relay's per PMT customer range).
 */
export function formatCountersLine(s: CountersSnapshot, memory?: MemoryFigures): string {
  const drops: Record<string, number> = {};
  for (const [k, v] of Object.entries(s.drops)) if (v !== 0) drops[k] = v;
  const o = s.offload === undefined ? {} : { offload: s.offload };
  const c = s.customers === undefined ? {} : { customers: s.customers };
  const m = memory === undefined ? {} : { memory };
  return `counters ${JSON.stringify({ traffic: s.traffic, drops, ...o, ...c, ...m })}`;
}
