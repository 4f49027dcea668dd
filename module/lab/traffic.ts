/**
 * Small traffic programs for the lab, the integration tests and the benchmark, run as
 * `node -e <script> args...` inside a namespace, so the lab needs nothing but node and iproute2.
 * Each prints one result line on stdout and exits by itself within a bounded time.
 */

/**
 * TCP sink: `<host> <port> [timeoutMs]`; prints `listening`, then for the first connection
 * `peer <address> bytes <n>` when the client closes, and exits.
 */
export const TCP_SINK_SCRIPT = `
const net = require("net");
const [host, port, timeout] = process.argv.slice(1);
const srv = net.createServer((s) => {
  let n = 0;
  s.on("data", (d) => (n += d.length));
  s.on("end", () => { console.log("peer " + s.remoteAddress + " bytes " + n); s.end(); srv.close(); });
  s.on("error", (e) => { console.log("error " + e.message + " bytes " + n); process.exit(1); });
});
srv.listen(Number(port), host, () => console.log("listening"));
setTimeout(() => { console.log("timeout"); process.exit(3); }, Number(timeout || 60000)).unref();
`;

/**
 * TCP source: `<host> <port> <bytes> [paceMs] [localAddress]`; sends `bytes` in 64 KiB chunks
 * (with paceMs between chunks when given), from localAddress when given, prints
 * `sent <n> ms <t>` on close.
 */
export const TCP_SOURCE_SCRIPT = `
const net = require("net");
const [host, port, total, pace, local] = process.argv.slice(1);
const chunk = Buffer.alloc(65536, 0x5a);
let left = Number(total);
const paceMs = Number(pace || 0);
const t0 = Date.now();
const s = net.connect({ host, port: Number(port), ...(local ? { localAddress: local } : {}) }, () => {
  const pump = () => {
    while (left > 0) {
      const n = Math.min(left, chunk.length);
      left -= n;
      const ok = s.write(chunk.subarray(0, n));
      if (paceMs > 0) return setTimeout(pump, paceMs);
      if (!ok) return s.once("drain", pump);
    }
    s.end();
  };
  pump();
});
s.on("close", () => console.log("sent " + (Number(total) - left) + " ms " + (Date.now() - t0)));
s.on("error", (e) => { console.log("error " + e.message); process.exit(1); });
setTimeout(() => { console.log("timeout"); process.exit(2); }, 50000).unref();
`;

/** UDP echo server: `<host> <port> <count>`; echoes `count` datagrams (or for 20 s), prints `peer <a>`. */
export const UDP_ECHO_SCRIPT = `
const dgram = require("dgram");
const [host, port, count] = process.argv.slice(1);
const s = dgram.createSocket("udp6");
let n = 0;
s.on("message", (m, r) => {
  if (n === 0) console.log("peer " + r.address);
  s.send(m, r.port, r.address);
  if (++n >= Number(count)) setTimeout(() => process.exit(0), 200);
});
s.bind(Number(port), host, () => console.log("listening"));
setTimeout(() => process.exit(0), 20000).unref();
`;

/** UDP client: `<host> <port> <count> <size>`; sends, counts echoes, prints `echoed <n>`. */
export const UDP_CLIENT_SCRIPT = `
const dgram = require("dgram");
const [host, port, count, size] = process.argv.slice(1);
const s = dgram.createSocket("udp6");
let got = 0;
s.on("message", () => { if (++got >= Number(count)) done(); });
const done = () => { console.log("echoed " + got); process.exit(0); };
let i = 0;
const tick = () => { if (i++ < Number(count)) { s.send(Buffer.alloc(Number(size), i & 0xff), Number(port), host); setTimeout(tick, 10); } };
tick();
setTimeout(done, 5000 + 10 * Number(count)).unref();
`;
