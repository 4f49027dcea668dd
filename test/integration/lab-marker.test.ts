/**
 * `6to4-pmt lab --down` removes only what the lab made (root, network namespaces): a registry with
 * a marker file records each namespace with its identity; removeMarkedNamespaces (what --down
 * runs) stops the processes in and deletes exactly those, and leaves alone a namespace it never
 * recorded and one of a recorded name whose identity differs (deleted and made again by someone
 * else). Unique per-run names: the lab's own names are never used here.
 */
import assert from "node:assert/strict";
import { appendFileSync, existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import {
  isAlive,
  namespaceId,
  NetnsRegistry,
  netnsSkipReason,
  removeMarkedNamespaces,
} from "../support/netns.js";

const skip = netnsSkipReason();

describe("lab teardown removes only the namespaces it recorded", { skip, timeout: 60_000 }, () => {
  const dir = mkdtempSync(join(tmpdir(), "6to4-pmt-labmark-"));
  const marker = join(dir, "lab", "namespaces");
  const lab = new NetnsRegistry({ markerFile: marker });
  const other = new NetnsRegistry();
  after(async () => {
    await lab.cleanup();
    await other.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  test("marked namespace removed with its process; unrecorded and re-made ones left alone", async () => {
    const ours = lab.createNamespace("lmlab");
    const inside = lab.spawn(ours, ["sleep", "300"]);
    assert.ok(await lab.waitFor(() => isAlive(inside.pid), 5000));
    assert.match(readFileSync(marker, "utf8"), new RegExp(`^${ours} ${namespaceId(ours)}\n$`));

    // Named like the lab's but made by someone else: never recorded.
    const foreign = other.createNamespace("lmother");
    const foreignProc = other.spawn(foreign, ["sleep", "300"]);
    // A recorded name whose namespace was deleted and made again by someone else.
    const remade = other.createNamespace("lmswap");
    appendFileSync(marker, `${remade} 0:1\n`);

    const r = await removeMarkedNamespaces(new NetnsRegistry({ prefix: "" }), marker, 3000);
    assert.deepEqual(r.removed, [ours]);
    assert.deepEqual(r.leftAlone, [remade]);
    assert.equal(existsSync(`/run/netns/${ours}`), false);
    assert.ok(await lab.waitFor(() => inside.hasExited(), 5000), "the process inside was stopped");
    assert.equal(existsSync(`/run/netns/${foreign}`), true);
    assert.equal(existsSync(`/run/netns/${remade}`), true);
    assert.equal(isAlive(foreignProc.pid), true, "a process in a foreign namespace is untouched");
    // Only the entry left alone stays recorded.
    assert.equal(readFileSync(marker, "utf8"), `${remade} 0:1\n`);
  });
});
