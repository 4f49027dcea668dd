/** native/loader.ts: where the addon is looked for, and what the errors say. */
import { test } from "node:test";
import assert from "node:assert/strict";
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import {
  candidatePaths,
  describeElf,
  loadNative,
  nativeIoOptions,
  platformMismatch,
} from "../../../module/native/loader.js";

const BUILT = path.resolve("build/Release/pmt_native.node");

/** A 64-byte ELF header: class (1/2), data (1 LE / 2 BE), e_machine. */
function elfHeader(bits: 32 | 64, le: boolean, machine: number): Buffer {
  const h = Buffer.alloc(64);
  h.write("\x7fELF", 0, "latin1");
  h[4] = bits === 64 ? 2 : 1;
  h[5] = le ? 1 : 2;
  h[6] = 1;
  h.writeUInt16LE(3, 16); // ET_DYN
  if (le) h.writeUInt16LE(machine, 18);
  else h.writeUInt16BE(machine, 18);
  return h;
}

test("nativeIoOptions: every switch on by default; PMT_NO_*=1 turns one off, '' and 0 do not", () => {
  const on = {
    ioUring: true,
    ioUringReads: true,
    tunOffload: true,
    tunUdpSuperPackets: true,
    backpressure: true,
    packetFanout: true,
  };
  assert.deepEqual(nativeIoOptions({}), on);
  assert.deepEqual(
    nativeIoOptions({ PMT_NO_IO_URING: "", PMT_NO_IO_URING_READ: "0", PMT_NO_TUN_USO: "0" }),
    on,
  );
  assert.deepEqual(nativeIoOptions({ PMT_NO_IO_URING: "1" }), { ...on, ioUring: false });
  assert.deepEqual(nativeIoOptions({ PMT_NO_IO_URING_READ: "yes" }), {
    ...on,
    ioUringReads: false,
  });
  assert.deepEqual(nativeIoOptions({ PMT_NO_TUN_OFFLOAD: "1" }), { ...on, tunOffload: false });
  assert.deepEqual(nativeIoOptions({ PMT_NO_TUN_USO: "1" }), { ...on, tunUdpSuperPackets: false });
  assert.deepEqual(nativeIoOptions({ PMT_NO_BACKPRESSURE: "1" }), { ...on, backpressure: false });
  assert.deepEqual(nativeIoOptions({ PMT_NO_PACKET_FANOUT: "1" }), { ...on, packetFanout: false });
});

test("candidatePaths: an explicit path (option or PMT_NATIVE_PATH) is used alone", () => {
  assert.deepEqual(candidatePaths("/opt/x", "/tmp/a.node", {}), ["/tmp/a.node"]);
  assert.deepEqual(candidatePaths("/opt/x", undefined, { PMT_NATIVE_PATH: "/tmp/b.node" }), [
    "/tmp/b.node",
  ]);
  assert.deepEqual(candidatePaths("/opt/x", "/tmp/a.node", { PMT_NATIVE_PATH: "/tmp/b.node" }), [
    "/tmp/a.node",
  ]);
});

test("candidatePaths: beside the bundle first, then the node-gyp output", () => {
  assert.deepEqual(candidatePaths("/repo/dist", undefined, {}), [
    "/repo/dist/pmt_native.node",
    "/repo/build/Release/pmt_native.node",
  ]);
  assert.deepEqual(candidatePaths("/usr/share/6to4-pmt", undefined, {}), [
    "/usr/share/6to4-pmt/pmt_native.node",
  ]);
  const fromOut = candidatePaths("/repo/out/module/native", undefined, { PMT_NATIVE_PATH: "" });
  assert.equal(fromOut[0], "/repo/out/module/native/pmt_native.node");
  assert.equal(fromOut[1], "/repo/build/Release/pmt_native.node");
});

test("describeElf: class, byte order and machine", () => {
  assert.deepEqual(describeElf(elfHeader(32, true, 40)), {
    bits: 32,
    littleEndian: true,
    machine: 40,
    arch: "arm",
  });
  assert.deepEqual(describeElf(elfHeader(32, false, 8)), {
    bits: 32,
    littleEndian: false,
    machine: 8,
    arch: "mips",
  });
  assert.equal(describeElf(elfHeader(64, true, 999))?.arch, "machine 999");
  assert.equal(describeElf(Buffer.from("#!/bin/sh\necho not elf\n")), null);
  assert.equal(describeElf(Buffer.alloc(4)), null);
});

test("platformMismatch: names both sides; null when they match", () => {
  assert.equal(
    platformMismatch(describeElf(elfHeader(32, true, 40))!, "x64", true),
    "built for another platform (ELF 32-bit LE arm; this Node is 64-bit LE x64)",
  );
  assert.match(
    platformMismatch(describeElf(elfHeader(64, true, 62))!, "arm64", true) ?? "",
    /ELF 64-bit LE x64; this Node is 64-bit LE arm64/,
  );
  assert.equal(platformMismatch(describeElf(elfHeader(64, true, 62))!, "x64", true), null);
  assert.equal(platformMismatch(describeElf(elfHeader(32, false, 8))!, "mips", false), null);
  assert.equal(platformMismatch(describeElf(elfHeader(64, true, 62))!, "s390x", false), null);
});

test("loadNative: a missing addon says where it looked", () => {
  assert.throws(
    () => loadNative({ path: "/nonexistent/dir/pmt_native.node" }),
    /^Error: native addon not found at \/nonexistent\/dir\/pmt_native\.node \(run `npm install`/,
  );
  const dir = mkdtempSync(path.join(tmpdir(), "pmt-loader-"));
  try {
    const saved = process.env.PMT_NATIVE_PATH;
    delete process.env.PMT_NATIVE_PATH;
    try {
      assert.throws(
        () => loadNative({ dir }),
        (e: Error) => e.message.startsWith(`native addon not found at ${dir}/pmt_native.node (`),
      );
    } finally {
      if (saved !== undefined) process.env.PMT_NATIVE_PATH = saved;
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("loadNative: an addon for another platform is named as such", () => {
  const dir = mkdtempSync(path.join(tmpdir(), "pmt-loader-"));
  try {
    const arm = path.join(dir, "arm.node");
    writeFileSync(arm, Buffer.concat([elfHeader(32, true, 40), Buffer.alloc(512)]));
    const other =
      process.arch === "arm"
        ? /ELF 32-bit LE arm/
        : /built for another platform \(ELF 32-bit LE arm; this Node is/;
    assert.throws(
      () => loadNative({ path: arm }),
      (e: Error) => {
        assert.match(e.message, new RegExp(`^native addon at ${arm} `));
        assert.match(e.message, other);
        return true;
      },
    );
    const text = path.join(dir, "text.node");
    writeFileSync(text, "not a shared object\n".repeat(4));
    assert.throws(
      () => loadNative({ path: text }),
      /native addon at .*text\.node is not an ELF shared object: /,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test(
  "loadNative: the built addon loads from out/ and exposes the binding",
  { skip: existsSync(BUILT) ? false : "addon not built (npm install)" },
  () => {
    const b = loadNative();
    assert.equal(typeof b.openTun, "function");
    assert.equal(typeof b.pollStart, "function");
    assert.equal(b.POLL_KIND_TUN, 0);
    assert.equal(b.POLL_KIND_RAW4, 1);
    assert.equal(b.POLL_KIND_ICMP6, 2);
    assert.equal(b.MAX_BATCH, 1024);
    assert.equal(loadNative(), b, "cached");
    const elf = describeElf(readFileSync(BUILT).subarray(0, 20));
    assert.ok(elf !== null);
    assert.equal(platformMismatch(elf), null);
  },
);
