/**
 * Which LAN prefixes the CPE advertises, and which stale ones it must keep deprecating.
 *
 * RFC 9096 §3.5: when the advertised prefix changes (here: the WAN IPv4 address or the provider
 * prefix changed, so the derived /64 did), the old prefix is advertised with preferred = valid = 0
 * and the A and L bits unchanged, in unsolicited RAs, for at least the valid lifetime it was last
 * advertised with; the list is kept on stable storage so this survives a restart (and the crash
 * case RFC 9096 §3.5 calls flash renumbering). RFC 7084 §4.3 L-13 is the older form of the same rule.
 *
 * Pure: time comes in as `nowMs` (wall clock, since deadlines are persisted); the caller persists
 * `toJSON()` whenever `dirty` is set (see state-file.ts).
 */
import { formatIpv6Prefix, parseIpv6Prefix, type Ipv6Prefix } from "../addr/ipv6.js";
import type { PrefixLifetimes } from "./ra-timing.js";

/** One prefix the CPE has advertised. */
interface PrefixRecord {
  /** `addr/len`, RFC 5952 (the key). */
  readonly prefix: string;
  readonly onLink: boolean;
  readonly autonomous: boolean;
  /** Lifetimes it was last advertised with while current (the deprecation window is validS). */
  readonly preferredS: number;
  readonly validS: number;
  /** Wall-clock ms when it became stale; absent while current. */
  readonly deprecatedAtMs?: number;
}

/** The persisted form (state file key `prefixes`). */
interface PersistedPrefixes {
  readonly version: 1;
  readonly records: readonly PrefixRecord[];
}

/** A prefix to put in a PIO, in advertisement order (current first). */
export interface AdvertisedPrefix {
  readonly prefix: Ipv6Prefix;
  readonly text: string;
  readonly onLink: boolean;
  readonly autonomous: boolean;
  readonly preferredS: number;
  readonly validS: number;
  readonly deprecated: boolean;
  /** For deprecated prefixes: wall-clock ms after which it is no longer advertised. */
  readonly deprecateUntilMs?: number;
}

/** What `setCurrent` changed, for the one-line log. */
export interface PrefixChange {
  readonly previous: string | null;
  readonly current: string | null;
  readonly changed: boolean;
}

export class PrefixState {
  private current: PrefixRecord | null = null;
  private readonly stale = new Map<string, PrefixRecord>();
  /** Set when the persisted form changed; the caller writes the state file and clears it. */
  dirty = false;

  /**
   * Restores from the state file contents (`null` = no file). Any prefix that was current when the
   * file was written is treated as stale from `nowMs` on unless `setCurrent` names it again: after a
   * restart we cannot know whether it is still ours (RFC 9096 §3.5 "after bootstrapping").
   * Unparseable entries are skipped; returns the number skipped via `skipped`.
   */
  static restore(persisted: unknown, nowMs: number): { state: PrefixState; skipped: number } {
    const state = new PrefixState();
    let skipped = 0;
    const records =
      persisted &&
      typeof persisted === "object" &&
      Array.isArray((persisted as { records?: unknown }).records)
        ? ((persisted as { records: unknown[] }).records as unknown[])
        : [];
    for (const r of records) {
      const rec = validRecord(r);
      if (!rec) {
        skipped++;
        continue;
      }
      const deprecatedAtMs = rec.deprecatedAtMs ?? nowMs;
      state.stale.set(rec.prefix, { ...rec, deprecatedAtMs });
    }
    state.expire(nowMs);
    return { state, skipped };
  }

  /**
   * Makes `prefix` the advertised prefix (null = none, e.g. the WAN address became unusable). A
   * different previous prefix becomes stale from `nowMs`. Re-advertising a stale prefix revives it.
   */
  setCurrent(
    prefix: Ipv6Prefix | null,
    lifetimes: PrefixLifetimes,
    nowMs: number,
    flags: { onLink: boolean; autonomous: boolean } = { onLink: true, autonomous: true },
  ): PrefixChange {
    const text = prefix ? formatIpv6Prefix(prefix) : null;
    const previous = this.current?.prefix ?? null;
    if (this.current && this.current.prefix !== text) {
      this.stale.set(this.current.prefix, { ...this.current, deprecatedAtMs: nowMs });
      this.current = null;
      this.dirty = true;
    }
    if (text !== null) {
      const next: PrefixRecord = {
        prefix: text,
        onLink: flags.onLink,
        autonomous: flags.autonomous,
        preferredS: lifetimes.preferredS,
        validS: lifetimes.validS,
      };
      if (this.stale.delete(text)) this.dirty = true;
      if (!this.current || !sameRecord(this.current, next)) this.dirty = true;
      this.current = next;
    }
    return { previous, current: text, changed: previous !== text };
  }

  /** Shutdown: the current prefix becomes stale now (RFC 4861 §6.2.5 final RAs deprecate it). */
  deprecateCurrent(nowMs: number): void {
    if (!this.current) return;
    this.stale.set(this.current.prefix, { ...this.current, deprecatedAtMs: nowMs });
    this.current = null;
    this.dirty = true;
  }

  /** Forgets stale prefixes whose deprecation window (their last valid lifetime) has passed. */
  expire(nowMs: number): string[] {
    const gone: string[] = [];
    for (const [key, rec] of this.stale) {
      if (deadline(rec) <= nowMs) {
        this.stale.delete(key);
        gone.push(key);
      }
    }
    if (gone.length > 0) this.dirty = true;
    return gone;
  }

  /** The PIOs to send at `nowMs`: the current prefix, then each stale one with lifetimes 0. */
  advertised(nowMs: number): AdvertisedPrefix[] {
    this.expire(nowMs);
    const out: AdvertisedPrefix[] = [];
    if (this.current) out.push(toAdvertised(this.current, false));
    for (const rec of this.stale.values()) out.push(toAdvertised(rec, true));
    return out;
  }

  currentPrefix(): string | null {
    return this.current?.prefix ?? null;
  }

  /** Earliest time a stale prefix expires (for scheduling a state-file update), or null. */
  nextExpiryMs(): number | null {
    let min: number | null = null;
    for (const rec of this.stale.values()) {
      const d = deadline(rec);
      if (min === null || d < min) min = d;
    }
    return min;
  }

  toJSON(): PersistedPrefixes {
    const records: PrefixRecord[] = [];
    if (this.current) records.push(this.current);
    records.push(...this.stale.values());
    return { version: 1, records };
  }
}

function deadline(rec: PrefixRecord): number {
  return (rec.deprecatedAtMs ?? Number.POSITIVE_INFINITY) + rec.validS * 1000;
}

function toAdvertised(rec: PrefixRecord, deprecated: boolean): AdvertisedPrefix {
  const prefix = parseIpv6Prefix(rec.prefix) as Ipv6Prefix; // validated on entry
  return {
    prefix,
    text: rec.prefix,
    onLink: rec.onLink,
    autonomous: rec.autonomous,
    preferredS: deprecated ? 0 : rec.preferredS,
    validS: deprecated ? 0 : rec.validS,
    deprecated,
    ...(deprecated ? { deprecateUntilMs: deadline(rec) } : {}),
  };
}

function sameRecord(a: PrefixRecord, b: PrefixRecord): boolean {
  return (
    a.prefix === b.prefix &&
    a.onLink === b.onLink &&
    a.autonomous === b.autonomous &&
    a.preferredS === b.preferredS &&
    a.validS === b.validS
  );
}

const MAX_PERSISTED_LIFETIME_S = 0xffffffff;

function validRecord(r: unknown): PrefixRecord | null {
  if (!r || typeof r !== "object") return null;
  const o = r as Record<string, unknown>;
  if (typeof o.prefix !== "string") return null;
  const p = parseIpv6Prefix(o.prefix);
  if (!p) return null;
  const num = (v: unknown): number | null =>
    typeof v === "number" && Number.isFinite(v) && v >= 0 && v <= MAX_PERSISTED_LIFETIME_S
      ? v
      : null;
  const validS = num(o.validS);
  const preferredS = num(o.preferredS);
  if (validS === null || preferredS === null) return null;
  const at = o.deprecatedAtMs;
  return {
    prefix: formatIpv6Prefix(p),
    onLink: o.onLink !== false,
    autonomous: o.autonomous !== false,
    preferredS,
    validS,
    ...(typeof at === "number" && Number.isFinite(at) ? { deprecatedAtMs: at } : {}),
  };
}
