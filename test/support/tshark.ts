/**
 * Independent cross-check with Wireshark's dissectors: runs `tshark -r <pcap> -V` with checksum
 * validation switched on for IPv4, TCP and UDP (ICMPv6 checksums are always validated) and reports
 * every malformed-packet, error-level expert info or bad-checksum line.
 * Debian package: tshark.
 */
import { spawnSync } from "node:child_process";

/** Why tshark tests cannot run here, or undefined. */
export function tsharkSkipReason(): string | undefined {
  const r = spawnSync("tshark", ["--version"], { encoding: "utf8" });
  return r.error || r.status !== 0 ? "tshark is not installed (Debian package tshark)" : undefined;
}

export const TSHARK_CHECKSUM_PREFS: readonly string[] = [
  "ip.check_checksum:TRUE",
  "tcp.check_checksum:TRUE",
  "udp.check_checksum:TRUE",
];

export interface TsharkReport {
  /** The full `-V` text, one dissection tree per frame. */
  text: string;
  /** Frame texts, index 0 = frame 1. */
  frames: string[];
  /** Lines reporting a problem, prefixed with their frame number. */
  problems: string[];
}

const PROBLEM = new RegExp(
  [
    "Malformed Packet",
    "\\[Expert Info \\(Error",
    "Checksum Status: Bad",
    "\\[Bad checksum",
    "incorrect, should be",
    "Bogus",
    "Dissector bug",
  ].join("|"),
  "i",
);

/** Dissects a pcap file; `extraPrefs` are more `-o name:value` settings. */
export function dissect(path: string, extraPrefs: readonly string[] = []): TsharkReport {
  const args = ["-n", "-r", path, "-V"];
  for (const p of [...TSHARK_CHECKSUM_PREFS, ...extraPrefs]) args.push("-o", p);
  const r = spawnSync("tshark", args, { encoding: "utf8", maxBuffer: 64 << 20, timeout: 60_000 });
  if (r.error || r.status !== 0) {
    throw new Error(`tshark ${args.join(" ")} failed (${r.status}): ${r.stderr} ${r.error ?? ""}`);
  }
  const text = r.stdout;
  const frames = text.split(/^(?=Frame \d+: )/m).filter((f) => f.startsWith("Frame "));
  const problems: string[] = [];
  frames.forEach((f, i) => {
    for (const line of f.split("\n")) {
      if (PROBLEM.test(line)) problems.push(`frame ${i + 1}: ${line.trim()}`);
    }
  });
  return { text, frames, problems };
}
