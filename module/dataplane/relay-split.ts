/**
 * Which relay worker reads a customer's protocol-41 packets (option workers): the hash of the
 * outer IPv4 source that the kernel computes in each worker's socket filter (native/split.c).
 *
 *   h = saddr ^ (saddr >> 16); h = (h ^ (h >> 8)) & 0xff; worker = h % count
 *
 * Every byte of the address counts, so customers numbered consecutively (100.64.0.1, .2, ...)
 * alternate between workers; all packets of one customer go to one worker (order kept).
 */

/** The worker (0..count-1) whose socket keeps packets from `saddr` (unsigned IPv4). */
export function relayWorkerOf(saddr: number, count: number): number {
  const a = saddr >>> 0;
  let h = (a ^ (a >>> 16)) >>> 0;
  h = (h ^ (h >>> 8)) & 0xff;
  return h % count;
}
