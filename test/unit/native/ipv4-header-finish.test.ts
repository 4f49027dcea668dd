/**
 * native/packet.c ip4_header_finish, which the AF_PACKET send path (`wan_send packet`) applies to
 * every IPv4 header it sends, since there no kernel fills the checksum and ID as for the raw
 * socket (raw_send_hdrinc): checksum right (RFC 791, RFC 1071), ID 0 without DF replaced
 * (RFC 6864 §4.2: non-atomic datagrams need distinct IDs), ID 0 with DF kept (atomic, as the
 * kernel keeps it), every other field untouched.
 */
import { test } from "node:test";
import assert from "node:assert/strict";
import { loadNative, type NativeBinding } from "../../../module/native/loader.js";
import { writeIpv4Header } from "../../../module/codec/ipv4.js";
import { parseIpv4 } from "../../../module/addr/ipv4.js";

let binding: NativeBinding | undefined;
let skip: string | false = false;
try {
  binding = loadNative();
} catch (e) {
  skip = `addon not loadable: ${(e as Error).message}`;
}

/** One's-complement sum of the 20 bytes at off: 0xffff for a correct header checksum. */
function sum(b: Buffer, off: number): number {
  let s = 0;
  for (let i = 0; i < 20; i += 2) s += b.readUInt16BE(off + i);
  while (s > 0xffff) s = (s & 0xffff) + (s >>> 16);
  return s;
}

const SRC = parseIpv4("100.64.0.2")! | 0;
const DST = parseIpv4("192.88.99.1")! | 0;

test("checksum filled; a nonzero ID and the other fields kept", { skip }, () => {
  const b = Buffer.alloc(64, 0xaa);
  writeIpv4Header(b, 8, 1300, 41, SRC, DST, 64, 0x1234, false);
  b.writeUInt16BE(0xbeef, 8 + 10); // whatever was there before is replaced
  const before = Buffer.from(b);
  binding!.finishIpv4Header(b, 8);
  assert.equal(sum(b, 8), 0xffff);
  assert.equal(b.readUInt16BE(8 + 4), 0x1234);
  for (let i = 0; i < 64; i++) {
    if (i === 18 || i === 19) continue;
    assert.equal(b[i], before[i], `byte ${i}`);
  }
});

test("the same checksum as the codec's own header checksum would give", { skip }, () => {
  for (const [len, id, ttl] of [
    [20, 1, 1],
    [1500, 0xffff, 255],
    [576, 0x9e37, 64],
  ] as const) {
    const b = Buffer.alloc(20);
    writeIpv4Header(b, 0, len, 41, SRC, DST, ttl, id, false);
    const codec = b.readUInt16BE(10);
    b.writeUInt16BE(0, 10);
    binding!.finishIpv4Header(b, 0);
    assert.equal(b.readUInt16BE(10), codec, `len ${len} id ${id}`);
    assert.equal(sum(b, 0), 0xffff);
  }
});

test(
  "ID 0 without DF gets a nonzero one, and distinct ones in a row; with DF it stays 0",
  { skip },
  () => {
    const ids = new Set<number>();
    for (let i = 0; i < 100; i++) {
      const b = Buffer.alloc(20);
      writeIpv4Header(b, 0, 100, 41, SRC, DST, 64, 0, false);
      binding!.finishIpv4Header(b, 0);
      const id = b.readUInt16BE(4);
      assert.notEqual(id, 0);
      ids.add(id);
      assert.equal(sum(b, 0), 0xffff);
    }
    assert.equal(ids.size, 100);
    const df = Buffer.alloc(20);
    writeIpv4Header(df, 0, 100, 41, SRC, DST, 64, 0, true);
    binding!.finishIpv4Header(df, 0);
    assert.equal(df.readUInt16BE(4), 0);
    assert.equal(df.readUInt16BE(6) & 0x4000, 0x4000);
    assert.equal(sum(df, 0), 0xffff);
  },
);

test("argument checks", { skip }, () => {
  assert.throws(() => binding!.finishIpv4Header(Buffer.alloc(19), 0), TypeError);
  assert.throws(() => binding!.finishIpv4Header(Buffer.alloc(40), 21), TypeError);
  // sendRaw4's AF_PACKET path needs a 20-byte next hop and no per-packet destinations.
  const st = new Int32Array(9);
  assert.throws(
    () =>
      binding!.sendRaw4(
        -1,
        [],
        new Int32Array(1),
        new Int32Array(1),
        null,
        0,
        st,
        null,
        0,
        0,
        null,
        null,
        5,
        new Uint8Array(4),
      ),
    TypeError,
  );
});
