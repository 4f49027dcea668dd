/**
 * EchoProber backed by the system `ping` (iputils on Debian, busybox on OpenWrt; both take
 * `-6 -c 1 -W <s>` and exit 0 only when a reply came back). A child process per probe every few
 * seconds is cheap next to the data plane, and needs no extra raw socket in the addon.
 * Note: the echo leaves through the kernel's routing table, i.e. through the TUN and the relay,
 * which is exactly the path RFC 6343 §4.4 item 4 wants tested.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { formatIpv6 } from "../addr/ipv6.js";
import type { EchoProber } from "./health.js";

export interface PingProberOptions {
  /** `ping` binary; default "ping". */
  readonly command?: string;
  /** Source address or device passed as `-I` (optional). */
  readonly source?: string;
}

export function createPingProber(options: PingProberOptions = {}): EchoProber {
  const children = new Set<ChildProcess>();
  let closed = false;
  return {
    probe(target, timeoutMs) {
      if (closed) return Promise.resolve(false);
      const waitS = Math.max(1, Math.ceil(timeoutMs / 1000));
      const args = ["-6", "-n", "-c", "1", "-W", String(waitS)];
      if (options.source) args.push("-I", options.source);
      args.push(formatIpv6(target));
      return new Promise<boolean>((resolve) => {
        let child: ChildProcess;
        try {
          child = spawn(options.command ?? "ping", args, { stdio: "ignore" });
        } catch {
          resolve(false);
          return;
        }
        children.add(child);
        // Belt and braces: never wait much longer than asked, whatever ping does.
        const guard = setTimeout(() => child.kill("SIGKILL"), timeoutMs + 2000);
        const done = (ok: boolean): void => {
          clearTimeout(guard);
          children.delete(child);
          resolve(ok && !closed);
        };
        child.once("error", () => done(false));
        child.once("close", (code) => done(code === 0));
      });
    },
    close() {
      closed = true;
      for (const child of children) child.kill("SIGKILL");
    },
  };
}
