/**
 * Minimal pcap (libpcap "classic" format) writer and reader for the codec cross-checks:
 * our encoded packets are written for tshark to dissect, and captures of real kernel traffic
 * (taken with `tshark -F pcap -w`) are read back and handed to our decoders.
 * Format: https://www.tcpdump.org/manpages/pcap-savefile.5.html, link types:
 * https://www.tcpdump.org/linktypes.html. pcapng is not supported: capture with `-F pcap`.
 */
import { readFileSync, writeFileSync } from "node:fs";

export const LINKTYPE_ETHERNET = 1;
export const LINKTYPE_RAW = 101; // raw IPv4 or IPv6, version nibble tells
export const LINKTYPE_LINUX_SLL = 113;
export const LINKTYPE_IPV4 = 228;
export const LINKTYPE_IPV6 = 229;

const MAGIC_USEC = 0xa1b2c3d4;
const MAGIC_NSEC = 0xa1b23c4d;
const SNAPLEN = 262144;

export interface PcapRecord {
  /** Seconds and fractional part (micro- or nanoseconds, see Pcap.nanoseconds). */
  tsSec: number;
  tsFrac: number;
  /** Captured bytes. */
  data: Buffer;
  /** Original length on the wire. */
  origLen: number;
}

export interface Pcap {
  linktype: number;
  nanoseconds: boolean;
  records: PcapRecord[];
}

/** Encodes packets as a little-endian microsecond pcap file (timestamps 1 ms apart). */
export function encodePcap(packets: readonly Uint8Array[], linktype = LINKTYPE_RAW): Buffer {
  const head = Buffer.alloc(24);
  head.writeUInt32LE(MAGIC_USEC, 0);
  head.writeUInt16LE(2, 4);
  head.writeUInt16LE(4, 6);
  head.writeInt32LE(0, 8);
  head.writeUInt32LE(0, 12);
  head.writeUInt32LE(SNAPLEN, 16);
  head.writeUInt32LE(linktype, 20);
  const parts: Buffer[] = [head];
  packets.forEach((p, i) => {
    const rec = Buffer.alloc(16);
    rec.writeUInt32LE(1_700_000_000 + Math.floor(i / 1000), 0);
    rec.writeUInt32LE((i % 1000) * 1000, 4);
    rec.writeUInt32LE(p.length, 8);
    rec.writeUInt32LE(p.length, 12);
    parts.push(rec, Buffer.from(p));
  });
  return Buffer.concat(parts);
}

export function writePcap(
  path: string,
  packets: readonly Uint8Array[],
  linktype = LINKTYPE_RAW,
): void {
  writeFileSync(path, encodePcap(packets, linktype));
}

/** Decodes a pcap file of either byte order and timestamp resolution. Throws on anything else. */
export function decodePcap(buf: Buffer): Pcap {
  if (buf.length < 24) throw new Error(`pcap: ${buf.length} bytes, too short for a header`);
  let le: boolean;
  const m = buf.readUInt32LE(0);
  if (m === MAGIC_USEC || m === MAGIC_NSEC) le = true;
  else if (buf.readUInt32BE(0) === MAGIC_USEC || buf.readUInt32BE(0) === MAGIC_NSEC) le = false;
  else throw new Error(`pcap: bad magic 0x${m.toString(16)} (pcapng? capture with -F pcap)`);
  const u32 = (o: number): number => (le ? buf.readUInt32LE(o) : buf.readUInt32BE(o));
  const nanoseconds = (le ? m : buf.readUInt32BE(0)) === MAGIC_NSEC;
  const linktype = u32(20) & 0x0fffffff;
  const records: PcapRecord[] = [];
  let p = 24;
  while (p + 16 <= buf.length) {
    const incl = u32(p + 8);
    if (p + 16 + incl > buf.length) break; // truncated last record (capture killed mid-write)
    records.push({
      tsSec: u32(p),
      tsFrac: u32(p + 4),
      data: buf.subarray(p + 16, p + 16 + incl),
      origLen: u32(p + 12),
    });
    p += 16 + incl;
  }
  return { linktype, nanoseconds, records };
}

export function readPcap(path: string): Pcap {
  return decodePcap(readFileSync(path));
}

/** The network-layer packet of one frame and its family; null for other protocols (ARP, ...). */
export interface NetworkPacket {
  family: 4 | 6;
  /** Offset of the IP header in `data`. */
  offset: number;
  data: Buffer;
}

/**
 * Strips the link layer: Ethernet II (with 802.1Q tags), Linux cooked (SLL), raw, IPv4, IPv6.
 */
export function networkPacket(linktype: number, data: Buffer): NetworkPacket | null {
  let off: number;
  let ethertype = -1;
  switch (linktype) {
    case LINKTYPE_ETHERNET:
      if (data.length < 14) return null;
      off = 12;
      ethertype = data.readUInt16BE(off);
      off += 2;
      while ((ethertype === 0x8100 || ethertype === 0x88a8) && data.length >= off + 4) {
        ethertype = data.readUInt16BE(off + 2);
        off += 4;
      }
      break;
    case LINKTYPE_LINUX_SLL:
      if (data.length < 16) return null;
      ethertype = data.readUInt16BE(14);
      off = 16;
      break;
    case LINKTYPE_RAW:
    case LINKTYPE_IPV4:
    case LINKTYPE_IPV6:
      off = 0;
      break;
    default:
      throw new Error(`pcap: link type ${linktype} not supported`);
  }
  if (ethertype !== -1 && ethertype !== 0x0800 && ethertype !== 0x86dd) return null;
  if (data.length <= off) return null;
  const v = data[off]! >>> 4;
  if (v !== 4 && v !== 6) return null;
  return { family: v, offset: off, data };
}
