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
 * frame each (INJECT_PY); throws with the injector's output when it fails.
 */
export async function injectIpv4(
  reg: NetnsRegistry,
  fromNs: string,
  iface: string,
  dstMac: string,
  packets: readonly Uint8Array[],
): Promise<void> {
  const file = `/tmp/6to4-pmt-inject-${process.pid}-${iface}.hex`;
  writeFileSync(file, packets.map((p) => Buffer.from(p).toString("hex")).join("\n") + "\n");
  try {
    const r = await reg.execAsync(fromNs, ["python3", "-c", INJECT_PY, iface, dstMac, file], 10000);
    if (r.code !== 0) throw new Error(`injector on ${iface} failed: ${r.stdout}${r.stderr}`);
  } finally {
    unlinkSync(file);
  }
}
