/**
 * Round-trip harness for every codec, as dns-packet's `testEncoder`: the encoded length equals
 * encodingLength, decode(encode(x)) deep-equals x, re-encoding the decoded value gives the same
 * bytes, and encoding at an offset inside a larger buffer writes exactly that range.
 * Plus a seeded random-bytes driver proving decoders throw nothing but DecodeError.
 */
import assert from "node:assert/strict";
import { DecodeError } from "../../module/codec/decode-error.js";

/** The codec contract (STYLE.md §6); extra arguments (addresses, options) bound by the caller. */
export interface Codec<T> {
  encode(value: T, buf: Buffer, offset: number): number;
  decode(buf: Buffer, offset: number, len: number): T;
  encodingLength(value: T): number;
}

/** Asserts the round-trip properties for one value and returns its encoding. */
export function assertRoundtrip<T>(codec: Codec<T>, value: T, name = "value"): Buffer {
  const len = codec.encodingLength(value);
  const buf = Buffer.alloc(len);
  assert.equal(codec.encode(value, buf, 0), len, `${name}: encode returns encodingLength`);
  assert.deepStrictEqual(codec.decode(buf, 0, len), value, `${name}: decode(encode(x)) = x`);

  const again = Buffer.alloc(len);
  codec.encode(codec.decode(buf, 0, len), again, 0);
  assert.deepStrictEqual(again, buf, `${name}: re-encoding is stable`);

  const pre = 7;
  const post = 13;
  const big = Buffer.alloc(pre + len + post, 0xa5);
  assert.equal(codec.encode(value, big, pre), len, `${name}: encode at offset returns length`);
  assert.deepStrictEqual(big.subarray(pre, pre + len), buf, `${name}: same bytes at offset`);
  for (let i = 0; i < pre; i++) assert.equal(big[i], 0xa5, `${name}: byte ${i} before untouched`);
  for (let i = pre + len; i < big.length; i++) {
    assert.equal(big[i], 0xa5, `${name}: byte ${i} after untouched`);
  }
  assert.deepStrictEqual(codec.decode(big, pre, len), value, `${name}: decode at offset`);

  if (len > 0) {
    assert.throws(
      () => codec.encode(value, Buffer.alloc(len - 1), 0),
      RangeError,
      `${name}: encode into a short buffer throws RangeError`,
    );
  }
  return buf;
}

/** Deterministic PRNG (xorshift32) so failures reproduce from the seed. */
export function createRandom(seed: number): (n: number) => number {
  let s = seed >>> 0 || 1;
  return (n: number): number => {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    return s % n;
  };
}

export function randomBuffer(rnd: (n: number) => number, len: number): Buffer {
  const b = Buffer.alloc(len);
  for (let i = 0; i < len; i++) b[i] = rnd(256);
  return b;
}

export interface FuzzOptions {
  iterations?: number;
  maxLen?: number;
  seed?: number;
  /** Valid encodings to mutate (bit flips, truncation) besides pure random bytes. */
  corpus?: Buffer[];
}

/**
 * Feeds random and mutated bytes to `decode(buf, offset, len)`; fails if it throws anything but
 * DecodeError. Returns how many inputs decoded without error (so a test can check both paths ran).
 */
export function fuzzDecoder(
  decode: (buf: Buffer, off: number, len: number) => unknown,
  opts: FuzzOptions = {},
): number {
  const rnd = createRandom(opts.seed ?? 0x6732);
  const iterations = opts.iterations ?? 3000;
  const maxLen = opts.maxLen ?? 200;
  const corpus = opts.corpus ?? [];
  let ok = 0;
  for (let i = 0; i < iterations; i++) {
    let input: Buffer;
    const base = corpus.length > 0 && i % 2 === 1 ? corpus[rnd(corpus.length)] : undefined;
    if (base !== undefined) {
      input = Buffer.from(base);
      const flips = 1 + rnd(4);
      for (let f = 0; f < flips && input.length > 0; f++) {
        const k = rnd(input.length);
        input[k] = input[k]! ^ (1 << rnd(8));
      }
      if (rnd(4) === 0) input = input.subarray(0, rnd(input.length + 1));
    } else {
      input = randomBuffer(rnd, rnd(maxLen + 1));
    }
    const pad = rnd(3);
    const buf = Buffer.concat([Buffer.alloc(pad, 0xee), input]);
    try {
      decode(buf, pad, input.length);
      ok++;
    } catch (err) {
      if (!(err instanceof DecodeError)) {
        assert.fail(`input ${input.toString("hex")} threw ${String(err)}, not DecodeError`);
      }
      assert.equal(err.name, "DecodeError");
      assert.ok(err.message.length > 0);
    }
  }
  return ok;
}
