/**
 * Assertions on running daemons that say, when they fail, what the daemons counted: each daemon's
 * counters (SIGUSR1 -> `counters {json}`) and the tail of its log are appended to the message.
 * Counters are read only on failure. Also a bounded poll for a counter condition, in place of a
 * fixed sleep before reading counters, and a status-socket command that waits for the socket.
 */
import assert from "node:assert/strict";
import type { NetnsRegistry, NsProcess } from "./netns.js";
import { readCounters, type Counters } from "./dataplane-harness.js";
import { queryStatusSocket } from "../../module/status/server.js";
import type { WanSendSnapshot } from "../../module/status/snapshot.js";

/** Counters and log tail of each daemon, one block per daemon (a failed read says why). */
export async function daemonsReport(
  reg: NetnsRegistry,
  daemons: readonly NsProcess[],
): Promise<string> {
  const parts: string[] = [];
  for (const p of daemons) {
    let counters: string;
    try {
      counters = JSON.stringify(await readCounters(reg, p));
    } catch (e) {
      counters = `(counters not read: ${(e as Error).message.split("\n")[0]})`;
    }
    parts.push(`--- ${p.ns}: ${counters}\n${p.stderr().slice(-1200)}`);
  }
  return parts.join("\n");
}

/** assert.ok(value, message) with the daemons' counters and log tails in the message. */
export async function okWithCounters(
  reg: NetnsRegistry,
  daemons: readonly NsProcess[],
  value: boolean,
  message: string,
): Promise<void> {
  if (value) return;
  assert.fail(`${message}\n${await daemonsReport(reg, daemons)}`);
}

/** assert.deepEqual(actual, expected, message) with the daemons' counters and log tails. */
export async function equalWithCounters<T>(
  reg: NetnsRegistry,
  daemons: readonly NsProcess[],
  actual: T,
  expected: T,
  message: string,
): Promise<void> {
  try {
    assert.deepEqual(actual, expected);
  } catch (e) {
    assert.fail(`${message}\n${(e as Error).message}\n${await daemonsReport(reg, daemons)}`);
  }
}

/**
 * Reads `p`'s counters until `done(counters)` or `timeoutMs` passed; returns the last read.
 * The deadline is generous: it bounds a wait for the daemon to have handled what was sent, it is
 * not a figure the test asserts on.
 */
export async function waitForCounters(
  reg: NetnsRegistry,
  p: NsProcess,
  done: (c: Counters) => boolean,
  timeoutMs = 15_000,
): Promise<Counters> {
  const deadline = Date.now() + timeoutMs;
  let c = await readCounters(reg, p);
  while (!done(c) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    c = await readCounters(reg, p);
  }
  return c;
}

/**
 * Sends `cmd` to the status socket at `path` once the daemon listens there (a daemon reports
 * "ready" when its loops run, which can be before its control plane opened the socket); retries
 * while the socket is missing or refuses, for at most `timeoutMs`.
 */
export async function statusCommand(
  path: string,
  cmd: string,
  timeoutMs = 15_000,
): Promise<unknown> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    try {
      return await queryStatusSocket(path, cmd);
    } catch (e) {
      const code = (e as { code?: string }).code;
      if ((code !== "ENOENT" && code !== "ECONNREFUSED") || Date.now() > deadline) throw e;
      await new Promise((r) => setTimeout(r, 50));
    }
  }
}

/**
 * `wan_send packet` (CPE and relay): sends the status socket's `resolve` command at `path` until
 * `pred` holds for its answer (the send path's status after the resolve), every 200 ms, at most
 * `ms`; returns the last answer (the caller asserts on it).
 */
export async function resolveWanSendUntil(
  path: string,
  pred: (w: WanSendSnapshot) => boolean,
  ms: number,
): Promise<WanSendSnapshot> {
  const end = Date.now() + ms;
  let w = (await statusCommand(path, "resolve")) as WanSendSnapshot;
  while (!pred(w) && Date.now() < end) {
    await new Promise((r) => setTimeout(r, 200));
    w = (await statusCommand(path, "resolve")) as WanSendSnapshot;
  }
  return w;
}
