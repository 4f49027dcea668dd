/** io/errno.ts: the one errno table. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { classifyErrno, ERRNO_CLASSES } from "../../../module/io/errno.js";

const cases: [string, string][] = [
  ["EAGAIN", "wait"],
  ["EWOULDBLOCK", "wait"],
  ["EINTR", "wait"],
  ["EBADF", "gone"],
  ["EBADFD", "gone"],
  ["ENXIO", "gone"],
  ["ENODEV", "gone"],
  ["ENOTSOCK", "gone"],
  ["ENOBUFS", "degrade"],
  ["EMSGSIZE", "degrade"],
  ["ECONNREFUSED", "degrade"],
  ["EPERM", "degrade"],
  ["", "degrade"],
  ["ERRNO_999", "degrade"],
  ["toString", "degrade"],
  ["__proto__", "degrade"],
];

for (const [code, cls] of cases) {
  test(`classifyErrno(${JSON.stringify(code)}) = ${cls}`, () => {
    assert.equal(classifyErrno(code), cls);
  });
}

test("the table is frozen", () => {
  assert.ok(Object.isFrozen(ERRNO_CLASSES));
});
