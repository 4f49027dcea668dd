/**
 * The addon's packet code on hostile input (test/native/fuzz-native.c): compiled here with
 * AddressSanitizer and UndefinedBehaviorSanitizer and run over hundreds of thousands of built and
 * mutated packets: complete_gro_6in4 (every protocol-41 packet a raw socket receives), gro_group
 * (every batch written to the TUN), complete_csum, and the TUN read path (drain_tun_vnet: reads
 * queued and cut into the ring, through io_uring and readv, from a socketpair standing in for the
 * TUN) and the raw socket's (drain_socket: recvmmsg, truncation, complete_gro_6in4 per datagram). A read or write outside a packet, undefined
 * behaviour or a broken promise (a packet changed that should not be, a packet lost or
 * written twice by the coalescing) fails the run. The harness links the addon's files that have
 * no N-API (offload.c, tun-io.c, socket-read.c, uring.c) as they are; it needs gcc with libasan
 * and libubsan.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import { join } from "node:path";
import {
  compileSanitized,
  GCC_SKIP as skip,
  SANITIZER_ENV,
  sanitizedBuildDir,
} from "../../support/sanitized-c.js";

const HARNESS = join("test", "native", "fuzz-native.c");
/** The addon's files the harness links: those without N-API. */
const LINKED = ["offload.c", "tun-io.c", "socket-read.c", "uring.c"].map((f) =>
  join("module", "native", f),
);

const dir = sanitizedBuildDir("6to4-pmt-fuzz-");

function build(out: string, ...defines: string[]): void {
  const cc = compileSanitized(out, [HARNESS, ...LINKED], defines);
  if ("error" in cc) assert.fail(cc.error);
}

function run(exe: string, seed: number, iterations: number): ReturnType<typeof spawnSync> {
  return spawnSync(exe, [String(seed), String(iterations), "60"], {
    encoding: "utf8",
    timeout: 120_000,
    env: SANITIZER_ENV,
  });
}

/** A figure the harness printed, by the text before it. */
function figure(stdout: string, re: RegExp): number {
  const m = re.exec(stdout);
  assert.ok(m, `${re} not in:\n${stdout}`);
  return Number(m[1]);
}

test(
  "fuzz harness: the sanitizers are live (a read one byte past a buffer is caught)",
  { skip },
  () => {
    const exe = join(dir, "fuzz-selftest");
    build(exe, "-DFUZZ_SELFTEST");
    const r = run(exe, 1, 10);
    assert.notEqual(r.status, 0, "the deliberate overflow went unnoticed");
    assert.match(String(r.stderr), /AddressSanitizer: heap-buffer-overflow/);
  },
);

test(
  "fuzz: hostile 6in4 packets and TUN write batches, memory-safe and as promised",
  { skip },
  () => {
    const exe = join(dir, "fuzz");
    build(exe);
    // Fixed seeds (replayable) and one that changes per run, printed on failure.
    const seeds = [1, 2, 3, Date.now() % 1_000_000];
    for (const seed of seeds) {
      const r = run(exe, seed, 60_000);
      const out = String(r.stdout);
      assert.equal(
        r.status,
        0,
        `seed ${seed} (replay: ${exe} ${seed} 60000 60):\n${String(r.stderr).slice(0, 4000)}\n${out}`,
      );
      assert.match(out, /^done$/m, `seed ${seed} stopped early (time bound?):\n${out}`);
      // The inputs reached every outcome, so the run is not vacuous.
      assert.ok(figure(out, /(\d+) checksums completed and verified/) > 0, out);
      assert.ok(figure(out, /tcp-gro: unusable \d+, left \d+, usable (\d+)/) > 0, out);
      assert.ok(figure(out, /tcp-fraglist: unusable \d+, left \d+, usable (\d+)/) > 0, out);
      assert.ok(figure(out, /tcp-fraglist: unusable (\d+)/) > 0, out);
      assert.ok(figure(out, /udp-merged: unusable (\d+)/) > 0, out);
      assert.ok(figure(out, /\((\d+) packets coalesced/) > 0, out);
      assert.ok(figure(out, /, (\d+) oversized\)/) > 0, out);
      assert.ok(figure(out, /complete_csum: (\d+) completed/) > 0, out);
      assert.ok(figure(out, /complete_csum: \d+ completed, (\d+) refused/) > 0, out);
      assert.ok(figure(out, /raw reads: (\d+) datagrams/) > 0, out);
      assert.ok(figure(out, /raw reads: \d+ datagrams, (\d+) truncated/) > 0, out);
      assert.ok(figure(out, /truncated \(size 0\), (\d+) TCP checksums completed/) > 0, out);
      assert.ok(figure(out, /error queue: (\d+) ICMP errors read/) > 0, out);
      assert.ok(figure(out, /ICMP errors read, (\d+) quoted packets cut/) > 0, out);
      const cut = /gso send: (\d+) super-packets cut into (\d+) segments, (\d+) refused/.exec(out);
      assert.ok(cut, `gso send line not in:\n${out}`);
      assert.ok(Number(cut[1]) > 0 && Number(cut[2]) > Number(cut[1]) && Number(cut[3]) > 0, out);
      for (const mode of ["readv", "io_uring[^)]*"]) {
        const line = new RegExp(
          `tun reads \\(${mode}\\): \\d+ reads \\((\\d+) hostile\\), \\d+ packets out, (\\d+) as expected, \\d+ from hostile reads, (\\d+) super-packets cut, \\d+ dropped, (\\d+) handed over whole and cut on send`,
        );
        const m = line.exec(out);
        assert.ok(m, `${line} not in:\n${out}`);
        assert.ok(Number(m[1]) > 0 && Number(m[2]) > 0 && Number(m[3]) > 0, out);
        assert.ok(Number(m[4]) > 0, `no super-packet handed over whole:\n${out}`);
      }
    }
  },
);
