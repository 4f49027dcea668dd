/*
 * memory.c: releaseStartupPages, which unmaps from this process the pages of its read-only data
 * segments (those of the node binary hold its symbol and relocation tables, the start-up
 * snapshot and read-only data), most of which only start-up reads, and optionally those of its
 * code segments (start-up runs much of node's code once: bootstrap, module loading, the
 * compilers; a worker thread's start-up as well).
 *
 * Of a daemon's ~50 MB RSS, ~37-41 MB are pages of the node binary; 14-16 MB of them sit in its
 * read-only, non-executable segments and are not touched again once the daemon runs (measured:
 * 1.5 MB of them come back under load). MADV_DONTNEED on a private file mapping whose pages were
 * never written only drops this process's page-table entries: the pages stay in the page cache,
 * shared, and the next access faults them in again from there, unchanged. Nothing is lost; the
 * kernel can reclaim them like any unmapped cache page when memory runs short.
 *
 * Which pages were never written comes from the ELF program headers of every loaded object
 * (dl_iterate_phdr; glibc and musl alike, no /proc needed): PT_LOAD segments mapped read-only
 * (PF_R without PF_W or PF_X), less the PT_GNU_RELRO range (written by relocation, then made
 * read-only), whole pages only; objects with text relocations are skipped whole. With `code`,
 * also PT_LOAD segments mapped read-and-execute (PF_R | PF_X, no PF_W): the same holds for them
 * (clean file pages; what runs again faults back in from the page cache, about 9 MB under load
 * against ~17 MB resident after start-up). Not when node's --use-largepages has copied its code
 * into anonymous memory (the caller checks, io/startup-pages.ts): MADV_DONTNEED would zero it.
 */
#define _GNU_SOURCE
#include <elf.h>
#include <link.h>
#include <stdbool.h>
#include <stdint.h>
#include <sys/mman.h>
#include <unistd.h>

#include "addon.h"
#include "napi-util.h"

typedef struct {
  uintptr_t page;
  int code; /* code segments too */
  double advised; /* bytes */
} release_t;

/* Whether the object's dynamic section asks for text relocations. */
static int has_textrel(const struct dl_phdr_info *info) {
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_DYNAMIC) continue;
    for (const ElfW(Dyn) *d = (const ElfW(Dyn) *)(info->dlpi_addr + ph->p_vaddr);
         d->d_tag != DT_NULL; d++) {
      if (d->d_tag == DT_TEXTREL) return 1;
      if (d->d_tag == DT_FLAGS && (d->d_un.d_val & DF_TEXTREL)) return 1;
    }
  }
  return 0;
}

static int release_object(struct dl_phdr_info *info, size_t size, void *data) {
  (void)size;
  release_t *r = data;
  if (has_textrel(info)) return 0;
  uintptr_t relro_lo = 0, relro_hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type == PT_GNU_RELRO) {
      relro_lo = info->dlpi_addr + ph->p_vaddr;
      relro_hi = relro_lo + ph->p_memsz;
    }
  }
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
    if (ph->p_type != PT_LOAD) continue;
    int perm = ph->p_flags & (PF_R | PF_W | PF_X);
    if (perm != PF_R && !(r->code && perm == (PF_R | PF_X))) continue;
    /* Only what the file backs (p_filesz; the rest would be zero-fill) and whole pages. */
    uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
    uintptr_t hi = lo + ph->p_filesz;
    lo = (lo + r->page - 1) & ~(r->page - 1);
    hi &= ~(r->page - 1);
    if (relro_hi > relro_lo && relro_lo < hi && relro_hi > lo) continue; /* never expected */
    if (hi > lo && madvise((void *)lo, hi - lo, MADV_DONTNEED) == 0) r->advised += (double)(hi - lo);
  }
  return 0;
}

/* releaseStartupPages(code?: boolean): number. The kB of read-only (and with `code` true,
 * read-and-execute) segments advised (their resident part leaves the RSS). */
napi_value release_startup_pages(napi_env env, napi_callback_info info) {
  CHECK_ARGC(1);
  bool code = false;
  napi_valuetype t;
  if (argc >= 1 && napi_typeof(env, argv[0], &t) == napi_ok && t == napi_boolean) {
    napi_get_value_bool(env, argv[0], &code);
  }
  long page = sysconf(_SC_PAGESIZE);
  release_t r = {(uintptr_t)(page > 0 ? page : 4096), code ? 1 : 0, 0};
  dl_iterate_phdr(release_object, &r);
  napi_value v;
  napi_create_double(env, r.advised / 1024, &v);
  return v;
}
