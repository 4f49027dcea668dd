/**
 * One daemon per role per network namespace. A second relay (or CPE) on another TUN would read
 * every protocol-41 packet from its own raw socket too and forward it again, duplicating traffic.
 *
 * The lock is a listening unix socket in the abstract namespace, `@6to4-pmt-<role>` (as `ss -xl` shows it): abstract
 * names belong to the network namespace (so daemons in different namespaces, as in the tests and
 * the lab, do not collide), the kernel frees the name when the process exits however it exits (no
 * stale lock file, no PID reuse question) and nothing on disk can be planted or removed by others.
 * The holder answers a connection with one JSON line {pid, tun}, so a second instance can name it.
 */
import { connect, createServer, type Server } from "node:net";

export interface InstanceLock {
  release(): void;
}

/** What the running holder said about itself, e.g. "pid 123, tun 6to4pmt-r0". */
export type RunningInstance = { running: string };

const ASK_TIMEOUT_MS = 1000;

function lockName(role: string): string {
  return `\u00006to4-pmt-${role}`;
}

function listen(name: string, info: string): Promise<Server | "busy"> {
  const server = createServer((sock) => {
    sock.on("error", () => sock.destroy());
    sock.end(info + "\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", (e: NodeJS.ErrnoException) =>
      e.code === "EADDRINUSE" ? resolve("busy") : reject(e),
    );
    server.listen(name, () => {
      server.removeAllListeners("error");
      server.on("error", () => undefined);
      // The lock alone never keeps the process alive.
      server.unref();
      resolve(server);
    });
  });
}

/** Asks the holder who it is; undefined when no one answers (it just exited). */
function ask(name: string): Promise<string | undefined> {
  return new Promise((resolve) => {
    const s = connect(name);
    let buf = "";
    const timer = setTimeout(() => {
      s.destroy();
      resolve("no answer");
    }, ASK_TIMEOUT_MS);
    s.setEncoding("utf8");
    s.on("data", (d: string) => (buf += d));
    s.once("error", () => {
      clearTimeout(timer);
      resolve(undefined);
    });
    s.once("end", () => {
      clearTimeout(timer);
      try {
        const o = JSON.parse(buf) as { pid?: unknown; tun?: unknown };
        resolve(`pid ${String(o.pid)}, tun ${String(o.tun)}`);
      } catch {
        resolve(buf.trim().slice(0, 80) || "no answer");
      }
    });
  });
}

/**
 * Takes the lock of `role` in this network namespace, or says who holds it. `tun` is what this
 * daemon tells a later one about itself.
 */
export async function acquireInstanceLock(
  role: string,
  tun: string,
): Promise<InstanceLock | RunningInstance> {
  const name = lockName(role);
  const info = JSON.stringify({ pid: process.pid, tun });
  for (let attempt = 0; attempt < 2; attempt++) {
    const server = await listen(name, info);
    if (server !== "busy") return { release: () => server.close() };
    const who = await ask(name);
    if (who !== undefined) return { running: who };
    // The holder exited between our bind and our connect: try once more.
  }
  return { running: "a holder that exits and restarts" };
}
