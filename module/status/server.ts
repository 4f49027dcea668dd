/**
 * The status socket of either daemon: a unix stream socket, mode 0600 (only root and the daemon's
 * user can connect).
 * Protocol: the client writes one line (`status`, or `{"cmd":"status"}`); the server answers with
 * one JSON line and closes. `reload` re-reads the WAN and the DHCP lease file and checks the GRO
 * count now (the udhcpc hook and the tests use it).
 * Unknown commands get `{"error": "..."}`.
 */
import { chmodSync, lstatSync, mkdirSync, unlinkSync } from "node:fs";
import { dirname } from "node:path";
import { connect, createServer, type Server, type Socket } from "node:net";
import type { RelayStatusSnapshot } from "./relay-snapshot.js";
import type { StatusSnapshot } from "./snapshot.js";

export interface StatusServerHandlers {
  /** The CPE's or the relay's snapshot. */
  snapshot(): StatusSnapshot | RelayStatusSnapshot;
  /**
   * Optional extra commands (e.g. `reload`): return a JSON-able answer, or a Promise of one
   * (the answer is written when it settles).
   */
  command?(cmd: string): unknown;
}

export interface StatusServer {
  readonly path: string;
  /** Stops listening, closes open connections and removes the socket file. */
  close(): Promise<void>;
  /** Forced exit: removes the socket file now (synchronously); the process is about to end. */
  removeFile(): void;
}

/** Longest request line accepted. */
const STATUS_MAX_REQUEST_BYTES = 1024;
/** A client that does not send its line within this time is dropped. */
const STATUS_REQUEST_TIMEOUT_MS = 2000;

/**
 * Why `path` cannot be the status socket (a phrase after the path), or undefined: anything there
 * but a socket (a regular file, a directory, a symlink) is never removed.
 */
export function statusSocketProblem(path: string): string | undefined {
  try {
    if (lstatSync(path).isSocket()) return undefined;
  } catch {
    return undefined;
  }
  return "exists and is not a socket; it is never removed";
}

/**
 * Listens on `path`. A stale socket (no one answering) is replaced; a live one (another daemon)
 * or anything that is not a socket makes this reject with an Error naming the path.
 */
export async function startStatusServer(
  path: string,
  handlers: StatusServerHandlers,
): Promise<StatusServer> {
  const problem = statusSocketProblem(path);
  if (problem !== undefined) throw new Error(`status socket ${path} ${problem}`);
  if (await isAlive(path)) {
    throw new Error(`status socket ${path}: another daemon is answering on it`);
  }
  removeStaleSocket(path);
  const sockets = new Set<Socket>();
  const server: Server = createServer((sock) => {
    sockets.add(sock);
    sock.on("close", () => sockets.delete(sock));
    sock.on("error", () => sock.destroy());
    sock.setTimeout(STATUS_REQUEST_TIMEOUT_MS, () => sock.destroy());
    let buf = "";
    sock.setEncoding("utf8");
    sock.on("data", (d: string) => {
      buf += d;
      if (buf.length > STATUS_MAX_REQUEST_BYTES) {
        sock.end(JSON.stringify({ error: "request too long" }) + "\n");
        return;
      }
      const nl = buf.indexOf("\n");
      if (nl < 0) return;
      const a = answer(buf.slice(0, nl).trim(), handlers);
      if (a instanceof Promise) {
        a.then(
          (v) => sock.end(JSON.stringify(v) + "\n"),
          (e: Error) => sock.end(JSON.stringify({ error: e.message }) + "\n"),
        );
      } else {
        sock.end(JSON.stringify(a) + "\n");
      }
    });
  });
  // The default lives in /var/run/6to4-pmt/, which a fresh boot (tmpfs /var/run) lacks.
  mkdirSync(dirname(path), { recursive: true, mode: 0o755 });
  // Restrictive umask window: the file is created 0600 by chmod right after bind.
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(path, () => {
      server.off("error", reject);
      resolve();
    });
  });
  chmodSync(path, 0o600);
  let closed = false;
  return {
    path,
    removeFile() {
      try {
        unlinkSync(path);
      } catch {
        // Already gone.
      }
    },
    close() {
      if (closed) return Promise.resolve();
      closed = true;
      for (const s of sockets) s.destroy();
      return new Promise<void>((resolve) => {
        server.close(() => {
          removeStaleSocket(path);
          resolve();
        });
      });
    },
  };
}

function answer(line: string, handlers: StatusServerHandlers): unknown {
  let cmd = line;
  if (line.startsWith("{")) {
    try {
      const o = JSON.parse(line) as { cmd?: unknown };
      cmd = typeof o.cmd === "string" ? o.cmd : "";
    } catch {
      return { error: "bad request: not JSON" };
    }
  }
  if (cmd === "" || cmd === "status") return handlers.snapshot();
  if (handlers.command) {
    const r = handlers.command(cmd);
    if (r !== undefined) return r;
  }
  return { error: `unknown command "${cmd.slice(0, 40)}"` };
}

/** Removes `path` only if it is a socket (lstat: a symlink or file put there stays). */
function removeStaleSocket(path: string): void {
  try {
    if (lstatSync(path).isSocket()) unlinkSync(path);
  } catch {
    // Already gone.
  }
}

function isAlive(path: string): Promise<boolean> {
  return new Promise((resolve) => {
    const s = connect(path);
    s.once("connect", () => {
      s.destroy();
      resolve(true);
    });
    s.once("error", () => resolve(false));
  });
}

/** Client side: sends `cmd`, resolves with the parsed answer. Rejects with the socket error. */
export function queryStatusSocket(
  path: string,
  cmd = "status",
  timeoutMs = 3000,
): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const s = connect(path);
    let buf = "";
    const timer = setTimeout(() => {
      s.destroy();
      reject(
        Object.assign(new Error(`status socket ${path}: no answer within ${timeoutMs} ms`), {
          code: "ETIMEDOUT",
        }),
      );
    }, timeoutMs);
    s.setEncoding("utf8");
    s.once("connect", () => s.write(cmd + "\n"));
    s.on("data", (d: string) => (buf += d));
    s.once("error", (e) => {
      clearTimeout(timer);
      reject(e);
    });
    s.once("end", () => {
      clearTimeout(timer);
      try {
        resolve(JSON.parse(buf) as unknown);
      } catch {
        reject(new Error(`status socket ${path}: answer is not JSON`));
      }
    });
  });
}
