/**
 * A command run with stdout and stderr in one pipe (the shell execs it in its place, same PID), so
 * that the order of a lab's step lines and its log lines is the order it wrote them: for the
 * tests that interrupt a lab run and check what it printed after the interruption.
 */
import { spawn, type ChildProcess } from "node:child_process";

export interface MergedRun {
  readonly child: ChildProcess;
  /** Everything written so far. */
  out(): string;
  /** Resolves once `re` matches the output or the command has exited (false then), or after `ms`. */
  waitFor(re: RegExp, ms: number): Promise<boolean>;
  /** Sends `signal` and resolves with the exit code, or "timeout" after `ms`. */
  interrupt(signal: NodeJS.Signals, ms: number): Promise<number | null | "timeout">;
}

export function spawnMerged(argv: readonly string[]): MergedRun {
  const child = spawn("sh", ["-c", 'exec "$0" "$@" 2>&1', ...argv], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  let out = "";
  child.stdout!.setEncoding("utf8").on("data", (d: string) => (out += d));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  return {
    child,
    out: () => out,
    async waitFor(re, ms) {
      for (const end = Date.now() + ms; Date.now() < end;) {
        if (re.test(out)) return true;
        if (child.exitCode !== null) return false;
        await new Promise((r) => setTimeout(r, 50));
      }
      return re.test(out);
    },
    interrupt(signal, ms) {
      child.kill(signal);
      return Promise.race([
        exited,
        new Promise<"timeout">((r) => setTimeout(() => r("timeout"), ms).unref()),
      ]);
    },
  };
}
