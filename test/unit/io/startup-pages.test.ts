// io/startup-pages.ts: code pages are released unless node copied its code into large pages
// (--use-largepages=on|silent, on the command line or in NODE_OPTIONS), which is anonymous
// memory that MADV_DONTNEED would zero.
import { test } from "node:test";
import assert from "node:assert/strict";
import { largePagesRequested, releaseStartupPages } from "../../../module/io/startup-pages.js";
import type { NativeBinding } from "../../../module/native/loader.js";

test("largePagesRequested: on and silent count, off and absent do not", () => {
  assert.equal(largePagesRequested([], ""), false);
  assert.equal(largePagesRequested(["--expose-gc"], "--max-old-space-size=64"), false);
  assert.equal(largePagesRequested(["--use-largepages=on"], ""), true);
  assert.equal(largePagesRequested([], "--expose-gc --use-largepages=silent"), true);
  assert.equal(largePagesRequested([], "--use_largepages=on"), true);
  assert.equal(largePagesRequested(["--use-largepages=off"], ""), false);
  assert.equal(largePagesRequested([], "--use-largepages-x=on"), false);
});

test("releaseStartupPages asks for the code pages by default, not when told", () => {
  const calls: (boolean | undefined)[] = [];
  const binding = {
    releaseStartupPages: (code?: boolean) => {
      calls.push(code);
      return 7;
    },
  } as unknown as NativeBinding;
  assert.equal(releaseStartupPages(binding), 7);
  assert.equal(releaseStartupPages(binding, false), 7);
  assert.deepEqual(calls, [!largePagesRequested(), false]);
});
