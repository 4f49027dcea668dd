/** Raw-frame injection for the data-plane tests (python3, AF_PACKET; no addon involved). */
import { unlinkSync, writeFileSync } from "node:fs";
import type { NetnsRegistry } from "./netns.js";

/** Sends raw Ethernet frames (hex, one per line) out of an interface: python3, AF_PACKET. */
export const INJECT_PY = `
import socket, sys
iface, dst_mac, path = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = s.getsockname()[4]
n = 0
for line in open(path):
    line = line.strip()
    if line:
        s.send(dst_mac + src_mac + b"\\x08\\x00" + bytes.fromhex(line))
        n += 1
print("sent", n)
`;

/** The MAC address of `dev` in namespace `ns`. */
export function linkMac(reg: NetnsRegistry, ns: string, dev: string): string {
  const j = JSON.parse(reg.must(["ip", "-j", "-n", ns, "link", "show", dev])) as {
    address: string;
  }[];
  return j[0]!.address;
}

/**
 * Sends IPv4 packets (outer header included) from `iface` in `fromNs` to `dstMac`, one Ethernet
 * frame each: with `onePoll`, so that the receiving device's NAPI finds them all queued at one
 * poll (INJECT_ONE_POLL_PY; the receiver's NAPI must run in softirq context), else one by one
 * (INJECT_PY). Throws with the injector's output when it fails.
 */
export async function injectIpv4(
  reg: NetnsRegistry,
  fromNs: string,
  iface: string,
  dstMac: string,
  packets: readonly Uint8Array[],
  options: { onePoll?: boolean } = {},
): Promise<void> {
  const [script, timeoutMs] = options.onePoll ? [INJECT_ONE_POLL_PY, 30_000] : [INJECT_PY, 10_000];
  const file = `/tmp/6to4-pmt-inject-${process.pid}-${iface}.hex`;
  writeFileSync(file, packets.map((p) => Buffer.from(p).toString("hex")).join("\n") + "\n");
  try {
    const r = await reg.execAsync(
      fromNs,
      ["python3", "-c", script, iface, dstMac, file],
      timeoutMs,
    );
    if (r.code !== 0) throw new Error(`injector on ${iface} failed: ${r.stdout}${r.stderr}`);
  } finally {
    unlinkSync(file);
  }
}

/**
 * INJECT_PY with every frame handed to the receiving veth in one go, so that its NAPI finds them
 * all queued at one poll (GRO merges only what one poll finds). A token bucket on `iface` (tbf,
 * 1 byte/s) holds the frames: a 1514-byte filler frame (ethertype 0x88b5, local experimental:
 * the receiver drops it) takes the bucket's tokens, the frames but the last queue up behind it,
 * the bucket opens (10 Gbit/s), and the last frame's send dequeues the whole queue in one
 * qdisc run with bottom halves off: the receiver's NET_RX softirq, raised by the first of them,
 * runs after the last. That holds when the receiver's NAPI runs in softirq context (sysfs
 * `threaded` 0), not in its own kernel thread. Exits 2 if a frame was left in the queue.
 */
export const INJECT_ONE_POLL_PY = `
import socket, subprocess, sys
iface, dst_mac, path = sys.argv[1], bytes.fromhex(sys.argv[2].replace(":", "")), sys.argv[3]
frames = [bytes.fromhex(l.strip()) for l in open(path) if l.strip()]
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
src_mac = s.getsockname()[4]
def tbf(op, *args):
    subprocess.run(["tc", "qdisc", op, "dev", iface, "root", "tbf", *args, "limit", "1000000"], check=True)
tbf("replace", "rate", "8bit", "burst", "1600")
try:
    s.send(dst_mac + src_mac + b"\\x88\\xb5" + bytes(1500))
    for f in frames[:-1]:
        s.send(dst_mac + src_mac + b"\\x08\\x00" + f)
    tbf("change", "rate", "10gbit", "burst", "1mb")
    s.send(dst_mac + src_mac + b"\\x08\\x00" + frames[-1])
    st = subprocess.run(["tc", "-s", "qdisc", "show", "dev", iface], capture_output=True, text=True).stdout
finally:
    subprocess.run(["tc", "qdisc", "del", "dev", iface, "root"], check=True)
print("sent", len(frames))
if " backlog 0b 0p" not in st:
    print(st)
    sys.exit(2)
`;
