/* originals.c - the one table of real functions (see originals.h) and the
 * static pool that serves dlsym's own allocations while it is filled. */
#include "originals.h"

#include <dlfcn.h>
#include <stdint.h>

#include "tables.h"

static void *first_malloc(size_t size);
static void first_free(void *p);

struct originals real = { .malloc = first_malloc, .free = first_free };
bool originals_resolving;

_Alignas(64) char boot_pool[64 * 1024];
static size_t boot_used;

size_t boot_room(const void *p)
{
	return (size_t)(boot_pool + sizeof(boot_pool) - (const char *)p);
}

/* Boot blocks are pinned in the free filter, so free() sends them to its
 * slow path, which recognises them: its fast path needs no test of its own. */
void *boot_alloc(size_t size, size_t align)
{
	size_t at = (boot_used + align - 1) & ~(align - 1);
	if (at + size > sizeof(boot_pool) || at + size < at)
		return NULL;
	boot_used = at + size;
	filter_pin(boot_pool + at);
	return boot_pool + at;	/* static storage: already zeroed */
}

#define RESOLVE(field, name) (*(void **)&real.field = dlsym(RTLD_NEXT, name))

void originals_resolve(void)
{
	if (real.malloc != first_malloc || originals_resolving)
		return;
	originals_resolving = true;
	RESOLVE(calloc, "calloc");
	RESOLVE(realloc, "realloc");
	RESOLVE(posix_memalign, "posix_memalign");
	RESOLVE(aligned_alloc, "aligned_alloc");
	RESOLVE(memalign, "memalign");
	RESOLVE(valloc, "valloc");
	RESOLVE(pvalloc, "pvalloc");
	RESOLVE(dlopen, "dlopen");
	RESOLVE(dlclose, "dlclose");
	RESOLVE(dl_iterate_phdr, "dl_iterate_phdr");
	RESOLVE(pipe2, "pipe2");
	RESOLVE(exit_, "_exit");
	RESOLVE(quick_exit, "quick_exit");
	RESOLVE(abort, "abort");
	RESOLVE(execve, "execve");
	RESOLVE(execvp, "execvp");
	RESOLVE(execvpe, "execvpe");
	RESOLVE(fexecve, "fexecve");
	RESOLVE(execveat, "execveat");
	void *(*m)(size_t) = dlsym(RTLD_NEXT, "malloc");
	void (*f)(void *) = dlsym(RTLD_NEXT, "free");
	/* last: the fast paths switch to the real allocator only when the rest
	 * of the table is there */
	if (m && f) {
		__atomic_store_n(&real.free, f, __ATOMIC_RELEASE);
		__atomic_store_n(&real.malloc, m, __ATOMIC_RELEASE);
	}
	originals_resolving = false;
}

static void *first_malloc(size_t size)
{
	if (originals_resolving)
		return boot_alloc(size, 16);
	originals_resolve();
	if (real.malloc == first_malloc)
		return NULL;	/* no allocator underneath us */
	return real.malloc(size);
}

static void first_free(void *p)
{
	if (!originals_resolving && !is_boot_block(p))
		originals_resolve();
	if (real.free != first_free && p && !is_boot_block(p))
		real.free(p);
}
