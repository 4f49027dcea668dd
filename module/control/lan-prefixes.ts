/**
 * The LAN prefixes the CPE advertises: the current one and those it deprecates after a change, for
 * their last valid lifetime (RFC 9096 §3.5), kept across restarts in the state file, with what the
 * RAs last said about them (router lifetime, the reason something was not advertised) for status.
 */
import type { Ipv6Prefix } from "../addr/ipv6.js";
import type { Logger } from "../log/logger.js";
import { isoOrNull } from "../status/snapshot.js";
import { PrefixState, type PrefixChange } from "./prefix-state.js";
import type { PrefixLifetimes } from "./ra-timing.js";
import { readStateFile, removeStateFileTemp, writeStateFileAtomic } from "./state-file.js";

export class LanPrefixes {
  /** Router lifetime of the last RA built; its changes are logged. */
  routerLifetimeS = 0;
  /** The last reason nothing, or a prefix, was not advertised. */
  notAdvertised: string | null = null;

  private constructor(
    readonly prefixes: PrefixState,
    private readonly file: string,
    private readonly log: Logger,
  ) {}

  /** Restores from `file` (missing or unreadable: empty, with a warning); logs what it kept. */
  static load(file: string, nowMs: number, log: Logger): LanPrefixes {
    let persisted: unknown = null;
    try {
      persisted = (readStateFile(file) as { prefixes?: unknown } | null)?.prefixes ?? null;
    } catch (e) {
      log.warn(`state file ${file} unreadable, starting empty: ${(e as Error).message}`);
    }
    const restored = PrefixState.restore(persisted, nowMs);
    if (restored.skipped > 0) {
      log.warn(`state file ${file}: ${restored.skipped} bad prefix record(s) ignored`);
    }
    for (const p of restored.state.advertised(nowMs)) {
      log.info(
        `prefix ${p.text} from state file: deprecated until ${isoOrNull(p.deprecateUntilMs ?? null)}`,
      );
    }
    return new LanPrefixes(restored.state, file, log);
  }

  /** Makes `prefix` the current one (null: none); a change is logged. */
  setCurrent(prefix: Ipv6Prefix | null, lifetimes: PrefixLifetimes, nowMs: number): PrefixChange {
    const change = this.prefixes.setCurrent(prefix, lifetimes, nowMs);
    if (change.changed) {
      this.log.info(
        `lan prefix ${change.previous ?? "none"} -> ${change.current ?? "none"}` +
          (change.previous ? ` (old one deprecated for ${lifetimes.validS} s, RFC 9096 §3.5)` : ""),
      );
    }
    return change;
  }

  /** Forced exit: the state written if it changed, no temporary file left behind. */
  saveForExit(): void {
    this.save();
    removeStateFileTemp(this.file);
  }

  /** Writes the state file when the prefixes changed since the last write. */
  save(): void {
    if (!this.prefixes.dirty) return;
    try {
      writeStateFileAtomic(this.file, { version: 1, prefixes: this.prefixes.toJSON() });
      this.prefixes.dirty = false;
    } catch (e) {
      this.log.warn(`state file ${this.file} not written: ${(e as Error).message}`);
    }
  }
}
