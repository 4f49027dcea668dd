/**
 * A preallocated batch of packets to write (`writeBatch(bufs, offsets, sizes, count)`), refilled
 * for every read batch. Entries alias the receive ring or the ICMP error pool: they are valid only
 * until the next batch (the "shared ref" rule of STYLE.md example 2).
 */
export class TxBatch {
  readonly bufs: Buffer[];
  readonly offsets: Int32Array;
  readonly sizes: Int32Array;
  /**
   * Per entry: 0, or a super-packet's cut: for the wire th << 16 | mss, cut while sending; for
   * the TUN the segment size of a TCP packet GRO merged (io/ports.ts).
   */
  readonly gso: Int32Array;
  /** Some entry of this batch has a TUN `gso` (`pushMerged`). */
  merged = false;
  count = 0;
  /** Packets on the wire once sent: one per entry, a super-packet's segments for one of those. */
  packets = 0;

  constructor(readonly capacity: number) {
    const empty = Buffer.alloc(0);
    this.bufs = new Array<Buffer>(capacity).fill(empty);
    this.offsets = new Int32Array(capacity);
    this.sizes = new Int32Array(capacity);
    this.gso = new Int32Array(capacity);
  }

  /**
   * Appends one packet, or a super-packet of `segments` packets with `gso` info (else 0 and 1);
   * false when full (the caller counts it as a drop).
   */
  push(buf: Buffer, offset: number, size: number, gso = 0, segments = 1): boolean {
    const i = this.count;
    if (i >= this.capacity) return false;
    this.bufs[i] = buf;
    this.offsets[i] = offset;
    this.sizes[i] = size;
    this.gso[i] = gso;
    this.count = i + 1;
    this.packets += segments;
    return true;
  }

  /** `push` of a TCP packet GRO merged into `segments` of `segmentBytes` (for the TUN). */
  pushMerged(
    buf: Buffer,
    offset: number,
    size: number,
    segmentBytes: number,
    segments: number,
  ): boolean {
    if (!this.push(buf, offset, size, segmentBytes, segments)) return false;
    this.merged = true;
    return true;
  }

  clear(): void {
    this.count = 0;
    this.packets = 0;
    this.merged = false;
  }
}

/**
 * A fixed pool of small buffers for packets the data plane generates itself (ICMPv6 errors, at
 * most 1280 bytes, RFC 4443 §2.4 (c)), handed out round-robin; at most `capacity` per batch.
 */
export class PacketPool {
  private readonly bufs: Buffer[];
  private next = 0;

  constructor(
    readonly capacity: number,
    readonly bufferBytes: number,
  ) {
    this.bufs = [];
    for (let i = 0; i < capacity; i++) this.bufs.push(Buffer.alloc(bufferBytes));
  }

  /** The next buffer (reused: valid until `capacity` more have been taken). */
  take(): Buffer {
    const b = this.bufs[this.next]!;
    this.next = (this.next + 1) % this.capacity;
    return b;
  }
}
