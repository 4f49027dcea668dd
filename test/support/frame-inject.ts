/** Raw-frame injection for the data-plane tests (python3, AF_PACKET; no addon involved). */

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
