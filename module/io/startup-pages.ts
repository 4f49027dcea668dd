/**
 * Start-up pages out of a daemon's RSS once it runs (native/memory.c): the clean pages of
 * read-only file mappings (mostly the node binary's symbol tables, start-up snapshot and
 * read-only data) leave this process's page tables; they stay in the page cache and fault back
 * in from there if used again (docs/benchmark.md, Memory).
 */
import { loadNative, type NativeBinding } from "../native/loader.js";

/** Releases them; returns the kB of read-only segments advised (their resident part is released). */
export function releaseStartupPages(binding: NativeBinding = loadNative()): number {
  return binding.releaseStartupPages();
}
