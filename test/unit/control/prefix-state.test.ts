// Prefix state machine: RFC 9096 §3.5 (stale prefixes deprecated for their previous valid
// lifetime, remembered across restarts), RFC 4861 §6.2.5 (deprecated on shutdown).
import { test } from "node:test";
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, readdirSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseIpv6Prefix, type Ipv6Prefix } from "../../../module/addr/ipv6.js";
import { PrefixState } from "../../../module/control/prefix-state.js";
import { readStateFile, writeStateFileAtomic } from "../../../module/control/state-file.js";

const p = (s: string): Ipv6Prefix => parseIpv6Prefix(s) as Ipv6Prefix;
// 6to4 of 192.0.2.1 and of 198.51.100.7, SLA 0; PMT translated into 2001:db8::/32.
const OLD = "2001:db8:c000:201::/64";
const NEW = "2001:db8:c633:6407::/64";
const LT = { preferredS: 2700, validS: 5400 };
const T0 = 1_700_000_000_000;

test("first prefix is advertised with its lifetimes", () => {
  const s = new PrefixState();
  const change = s.setCurrent(p(OLD), LT, T0);
  assert.deepEqual(change, { previous: null, current: OLD, changed: true });
  const adv = s.advertised(T0);
  assert.equal(adv.length, 1);
  assert.equal(adv[0]?.text, OLD);
  assert.equal(adv[0]?.preferredS, 2700);
  assert.equal(adv[0]?.validS, 5400);
  assert.equal(adv[0]?.deprecated, false);
  assert.equal(s.dirty, true);
});

test("prefix change: old one goes out with 0/0 for its previous valid lifetime, then is dropped", () => {
  const s = new PrefixState();
  s.setCurrent(p(OLD), LT, T0);
  s.dirty = false;
  const change = s.setCurrent(p(NEW), LT, T0 + 1000);
  assert.deepEqual(change, { previous: OLD, current: NEW, changed: true });
  assert.equal(s.dirty, true);
  let adv = s.advertised(T0 + 1000);
  assert.deepEqual(
    adv.map((a) => [a.text, a.preferredS, a.validS, a.deprecated, a.onLink, a.autonomous]),
    [
      [NEW, 2700, 5400, false, true, true],
      [OLD, 0, 0, true, true, true],
    ],
  );
  assert.equal(adv[1]?.deprecateUntilMs, T0 + 1000 + 5400_000);
  // Still there just before the window ends, gone after.
  adv = s.advertised(T0 + 1000 + 5400_000 - 1);
  assert.equal(adv.length, 2);
  adv = s.advertised(T0 + 1000 + 5400_000);
  assert.deepEqual(
    adv.map((a) => a.text),
    [NEW],
  );
});

test("same prefix again is not a change; a stale prefix that comes back is revived", () => {
  const s = new PrefixState();
  s.setCurrent(p(OLD), LT, T0);
  s.dirty = false;
  assert.equal(s.setCurrent(p(OLD), LT, T0 + 5).changed, false);
  assert.equal(s.dirty, false);
  s.setCurrent(p(NEW), LT, T0 + 10);
  s.setCurrent(p(OLD), LT, T0 + 20);
  const adv = s.advertised(T0 + 20);
  assert.deepEqual(
    adv.map((a) => [a.text, a.deprecated]),
    [
      [OLD, false],
      [NEW, true],
    ],
  );
});

test("no prefix (unusable WAN): current one is deprecated, nothing current", () => {
  const s = new PrefixState();
  s.setCurrent(p(OLD), LT, T0);
  const change = s.setCurrent(null, LT, T0 + 1);
  assert.deepEqual(change, { previous: OLD, current: null, changed: true });
  assert.equal(s.currentPrefix(), null);
  assert.deepEqual(
    s.advertised(T0 + 1).map((a) => [a.text, a.deprecated]),
    [[OLD, true]],
  );
});

test("shutdown deprecates the current prefix; a restart keeps deprecating it", () => {
  const s = new PrefixState();
  s.setCurrent(p(OLD), LT, T0);
  s.deprecateCurrent(T0 + 100);
  const persisted = JSON.parse(JSON.stringify(s.toJSON())) as unknown;
  const { state, skipped } = PrefixState.restore(persisted, T0 + 200);
  assert.equal(skipped, 0);
  state.setCurrent(p(NEW), LT, T0 + 200);
  const adv = state.advertised(T0 + 200);
  assert.deepEqual(
    adv.map((a) => [a.text, a.deprecated, a.deprecateUntilMs]),
    [
      [NEW, false, undefined],
      [OLD, true, T0 + 100 + 5400_000],
    ],
  );
});

test("crash restart: the prefix that was current is stale from the restart unless named again", () => {
  const s = new PrefixState();
  s.setCurrent(p(OLD), LT, T0);
  const persisted = JSON.parse(JSON.stringify(s.toJSON())) as unknown;
  const a = PrefixState.restore(persisted, T0 + 50).state;
  a.setCurrent(p(NEW), LT, T0 + 50);
  assert.deepEqual(
    a.advertised(T0 + 50).map((x) => [x.text, x.deprecated, x.deprecateUntilMs]),
    [
      [NEW, false, undefined],
      [OLD, true, T0 + 50 + 5400_000],
    ],
  );
  const b = PrefixState.restore(persisted, T0 + 50).state;
  b.setCurrent(p(OLD), LT, T0 + 50);
  assert.deepEqual(
    b.advertised(T0 + 50).map((x) => [x.text, x.deprecated]),
    [[OLD, false]],
  );
});

test("restore tolerates garbage and drops expired records", () => {
  const bad = {
    version: 1,
    records: [
      { prefix: "not a prefix", validS: 1, preferredS: 1 },
      { prefix: OLD, validS: -1, preferredS: 0 },
      { prefix: NEW, validS: 10, preferredS: 5, deprecatedAtMs: T0 },
      7,
    ],
  };
  const { state, skipped } = PrefixState.restore(bad, T0 + 60_000);
  assert.equal(skipped, 3);
  assert.deepEqual(state.advertised(T0 + 60_000), []);
  assert.equal(PrefixState.restore(null, T0).skipped, 0);
  assert.equal(PrefixState.restore("junk", T0).state.advertised(T0).length, 0);
});

test("nextExpiryMs is the earliest deprecation deadline", () => {
  const s = new PrefixState();
  assert.equal(s.nextExpiryMs(), null);
  s.setCurrent(p(OLD), { preferredS: 100, validS: 200 }, T0);
  s.setCurrent(p(NEW), LT, T0 + 1000);
  assert.equal(s.nextExpiryMs(), T0 + 1000 + 200_000);
});

test("state file: atomic write (0600, no temp left), round trip, missing file is null", () => {
  const dir = mkdtempSync(join(tmpdir(), "pmt-state-"));
  try {
    const path = join(dir, "sub", "state.json");
    assert.equal(readStateFile(path), null);
    const s = new PrefixState();
    s.setCurrent(p(OLD), LT, T0);
    writeStateFileAtomic(path, { prefixes: s.toJSON() });
    writeStateFileAtomic(path, { prefixes: s.toJSON() });
    assert.deepEqual(readdirSync(join(dir, "sub")), ["state.json"]);
    assert.equal(statSync(path).mode & 0o777, 0o600);
    const back = readStateFile(path) as { prefixes: unknown };
    assert.deepEqual(back.prefixes, JSON.parse(readFileSync(path, "utf8")).prefixes);
    const restored = PrefixState.restore(back.prefixes, T0).state;
    restored.setCurrent(p(OLD), LT, T0);
    assert.equal(restored.advertised(T0).length, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
