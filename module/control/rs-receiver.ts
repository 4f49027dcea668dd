/**
 * Router Solicitations from the LAN: each message the ND socket delivers is counted, validated
 * (RFC 4861 §6.1.1, router-advert.ts validateRouterSolicitation) and, when valid, answered by the
 * RA sender (RFC 4861 §6.2.6: a multicast RA within MAX_RA_DELAY_TIME); anything else is counted
 * by its reason and ignored.
 */
import { formatIpv6 } from "../addr/ipv6.js";
import { ND_ROUTER_SOLICIT } from "../codec/constants.js";
import type { Logger } from "../log/logger.js";
import type { IcmpV6Socket } from "../io/ports.js";
import { createIcmpv6RxRing } from "../io/ring.js";
import type { RaSender } from "./ra-sender.js";
import { validateRouterSolicitation } from "./router-advert.js";

/** RS/NS receive ring: a few messages of up to an Ethernet MTU. */
const ND_RX_RING_COUNT = 8;
const ND_RX_BUFFER_BYTES = 1500;

/** Feeds what `socket` receives to `ra` until the socket is closed. */
export function receiveRouterSolicitations(
  socket: IcmpV6Socket,
  ra: RaSender,
  device: string,
  log: Logger,
): void {
  const ring = createIcmpv6RxRing(ND_RX_RING_COUNT, ND_RX_BUFFER_BYTES);
  socket.onBatch(ring, (r, count) => {
    for (let i = 0; i < count; i++) {
      const buf = r.bufs[i]!;
      if (buf[r.offset] === ND_ROUTER_SOLICIT) ra.counters.rs_received++;
      const verdict = validateRouterSolicitation(
        buf,
        r.offset,
        r.sizes[i]!,
        r.srcs,
        16 * i,
        r.hopLimits[i]!,
      );
      if (verdict === "valid") ra.solicited();
      else {
        ra.counters[verdict]++;
        log.debug(`nd message from ${formatIpv6(r.srcs, 16 * i)} ignored: ${verdict}`);
      }
    }
  });
  socket.onError((err) => log.warn(`nd socket on ${device}: ${err.message}`));
}
