// The health probe's echo (control/echo-prober.ts) over the fake ICMPv6 socket and a fake clock:
// which replies count (identifier, sequence, cookie, source: RFC 4443 §4.2 says a reply echoes
// them), timeouts, send failures, a failed socket, and close. The real socket through a real
// tunnel is exercised by test/integration/native-icmp6.test.ts and control-ra.test.ts.
import { test } from "node:test";
import assert from "node:assert/strict";
import { parseIpv6 } from "../../../module/addr/ipv6.js";
import { createEchoProber, ECHO_PROBE_BYTES } from "../../../module/control/echo-prober.js";
import { MemoryIcmpV6Socket } from "../../../module/io/memory.js";
import { FakeClock } from "../../support/fake-clock.js";

const TARGET = parseIpv6("2002:c058:6301::c058:6301") as Uint8Array;
const OTHER = parseIpv6("2001:db8::1") as Uint8Array;
const flush = () => new Promise((r) => setImmediate(r));

/** What a well-behaved target answers to `request` (RFC 4443 §4.2: type 129, rest echoed). */
function replyTo(request: Uint8Array): Uint8Array {
  const r = Uint8Array.from(request);
  r[0] = 129;
  return r;
}

function setup(random: () => number = Math.random) {
  const clock = new FakeClock();
  const sockets: MemoryIcmpV6Socket[] = [];
  const errors: string[] = [];
  let failOpen = false;
  const prober = createEchoProber({
    open: () => {
      if (failOpen) throw new Error("socket: EPERM");
      const s = new MemoryIcmpV6Socket({ device: "", ifindex: 0 });
      sockets.push(s);
      return s;
    },
    clock,
    now: () => clock.now(),
    random,
    onError: (m) => errors.push(m),
  });
  return {
    clock,
    sockets,
    errors,
    prober,
    failOpen: (v: boolean) => (failOpen = v),
  };
}

test("echo probe: sends a 16-byte echo request to the target; its reply resolves its round-trip time", async () => {
  const t = setup();
  const p = t.prober.probe(TARGET, 3000);
  assert.equal(t.sockets.length, 1, "socket opened at the first probe");
  const sent = t.sockets[0]!.sent;
  assert.equal(sent.length, 1);
  const req = sent[0]!.data;
  assert.equal(req.length, ECHO_PROBE_BYTES);
  assert.equal(req[0], 128, "echo request");
  assert.equal(req[1], 0, "code 0");
  assert.deepEqual(sent[0]!.dst, TARGET);
  t.clock.advance(7); // the reply takes 7 ms
  t.sockets[0]!.inject(replyTo(req), TARGET, 64);
  assert.equal(await p, 7, "resolves the round-trip time");
  assert.equal(t.clock.pending(), 0, "the timeout is cleared when the reply comes");
  // A second probe reuses the socket and steps the sequence number.
  const p2 = t.prober.probe(TARGET, 3000);
  assert.equal(t.sockets.length, 1);
  const req2 = sent[1]!.data;
  assert.equal(((req2[6]! << 8) | req2[7]!) - ((req[6]! << 8) | req[7]!), 1, "sequence + 1");
  t.sockets[0]!.inject(replyTo(req2), TARGET);
  assert.equal(await p2, 0);
  t.prober.close();
});

test("echo probe: replies that are not ours do not count; the timeout resolves null", async () => {
  const t = setup();
  const p = t.prober.probe(TARGET, 2000);
  const s = t.sockets[0]!;
  const req = s.sent[0]!.data;
  const variants: [string, (r: Uint8Array) => void, Uint8Array][] = [
    ["other identifier", (r) => (r[4] = r[4]! ^ 0xff), TARGET],
    ["old sequence", (r) => (r[7] = r[7]! ^ 1), TARGET],
    ["other cookie", (r) => (r[15] = r[15]! ^ 1), TARGET],
    ["code 1", (r) => (r[1] = 1), TARGET],
    ["a request, not a reply", (r) => (r[0] = 128), TARGET],
    ["from another address", () => undefined, OTHER],
  ];
  for (const [, mutate, src] of variants) {
    const r = replyTo(req);
    mutate(r);
    s.inject(r, src);
  }
  s.inject(replyTo(req).subarray(0, 12), TARGET); // truncated
  await flush();
  assert.equal(s.stats().rxPackets, variants.length + 1, "all of them were delivered");
  assert.equal(t.clock.pending(), 1, "still waiting");
  t.clock.advance(1999);
  await flush();
  assert.equal(t.clock.pending(), 1);
  t.clock.advance(1);
  assert.equal(await p, null);
  // The right reply after the timeout does not resurrect it or throw.
  s.inject(replyTo(req), TARGET);
  await flush();
  t.prober.close();
});

test("echo probe: a refused send resolves null at once; a socket that cannot open too, logged once", async () => {
  const t = setup();
  t.failOpen(true);
  assert.equal(await t.prober.probe(TARGET, 3000), null);
  assert.equal(await t.prober.probe(TARGET, 3000), null);
  assert.deepEqual(t.errors, ["health probe socket: socket: EPERM"], "one line, not one per probe");
  assert.equal(t.clock.pending(), 0);
  t.failOpen(false);
  const p = t.prober.probe(TARGET, 3000);
  assert.equal(t.sockets.length, 1, "retried at the next probe");
  t.sockets[0]!.inject(replyTo(t.sockets[0]!.sent[0]!.data), TARGET);
  assert.equal(await p, 0);
  // An invalid destination (fewer than 16 bytes) is refused by the port: null, no timer left.
  assert.equal(await t.prober.probe(TARGET.subarray(0, 8), 3000), null);
  assert.equal(t.clock.pending(), 0);
  t.prober.close();
});

test("echo probe: a socket that fails is reopened at the next probe", async () => {
  const t = setup();
  const p = t.prober.probe(TARGET, 3000);
  t.sockets[0]!.removeDevice("EBADF", 9);
  t.clock.advance(3000);
  assert.equal(await p, null);
  await flush();
  assert.match(t.errors.join("\n"), /health probe socket: EBADF/);
  const p2 = t.prober.probe(TARGET, 3000);
  assert.equal(t.sockets.length, 2, "a new socket");
  t.sockets[1]!.inject(replyTo(t.sockets[1]!.sent[0]!.data), TARGET);
  assert.equal(await p2, 0);
  t.prober.close();
});

test("echo probe: close() ends the pending probe (null), closes the socket, refuses new probes", async () => {
  const t = setup();
  const p = t.prober.probe(TARGET, 3000);
  t.prober.close();
  assert.equal(await p, null);
  assert.equal(t.sockets[0]!.closed, true);
  assert.equal(t.clock.pending(), 0);
  assert.equal(await t.prober.probe(TARGET, 3000), null);
  assert.equal(t.sockets.length, 1, "no socket opened after close");
});

test("echo probe: identifier and cookie come from the random source", () => {
  const a = setup(() => 0.25);
  const b = setup(() => 0.75);
  void a.prober.probe(TARGET, 10);
  void b.prober.probe(TARGET, 10);
  const ra = a.sockets[0]!.sent[0]!.data;
  const rb = b.sockets[0]!.sent[0]!.data;
  assert.deepEqual([ra[4], ra[5]], [0x40, 0x00]);
  assert.deepEqual([rb[4], rb[5]], [0xc0, 0x00]);
  assert.notDeepEqual(ra.subarray(8), rb.subarray(8));
  a.prober.close();
  b.prober.close();
});
