/**
 * Start-up pages out of a daemon's RSS once it runs (native/memory.c): the clean pages of
 * read-only file mappings (mostly the node binary's symbol tables, start-up snapshot and
 * read-only data) and of its code leave this process's page tables; they stay in the page cache
 * and fault back in from there if used again (docs/performance.md, Memory).
 */
import { loadNative, type NativeBinding } from "../native/loader.js";

/**
 * Whether node was asked to copy its code into large pages (`--use-largepages=on|silent` on the
 * command line or in NODE_OPTIONS): that code is anonymous memory, not the file's pages, and
 * must not be released.
 */
export function largePagesRequested(
  execArgv: readonly string[] = process.execArgv,
  nodeOptions: string = process.env.NODE_OPTIONS ?? "",
): boolean {
  const words = [...execArgv, ...nodeOptions.split(/\s+/)];
  return words.some((w) => /^--use[-_]largepages(=|$)/.test(w) && !/=off$/.test(w));
}

/**
 * Releases them (code pages too unless large pages were requested); returns the kB of segments
 * advised (their resident part is released).
 */
export function releaseStartupPages(
  binding: NativeBinding = loadNative(),
  code: boolean = !largePagesRequested(),
): number {
  return binding.releaseStartupPages(code);
}
