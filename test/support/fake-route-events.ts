/**
 * A scripted stand-in for io/linux.ts watchRouteEvents in the resolvers' unit tests: `fire(mask)`
 * is one wake-up of the kernel's change events; `fail` makes the watch fail to start.
 */
import type { RouteEventFilter, RouteEventWatch, WatchRouteEvents } from "../../module/io/ports.js";

export class FakeRouteEvents {
  onChange: ((mask: number) => void) | null = null;
  filter: RouteEventFilter | null = null;
  opened = 0;
  closed = 0;
  fail = false;

  onError: ((e: Error) => void) | null = null;

  readonly watch: WatchRouteEvents = (onChange, filter, onError): RouteEventWatch => {
    if (this.fail) throw new Error("socket AF_NETLINK: EPERM");
    this.opened++;
    this.onChange = onChange;
    this.filter = filter;
    this.onError = onError;
    return {
      close: () => {
        this.closed++;
        this.onChange = null;
      },
    };
  };

  fire(mask: number): void {
    if (this.onChange === null) throw new Error("no watch running");
    this.onChange(mask);
  }
}

/** Reading the watch failed: it closed itself, then reports the error. */
export function failWatch(ev: FakeRouteEvents, message: string): void {
  ev.onChange = null;
  ev.onError!(new Error(message));
}
