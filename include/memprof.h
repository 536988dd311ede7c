/* memprof.h - let a custom allocator (a pool, an arena, a slab) tell
 * memprof about the blocks it hands out, so that `memprof run` profiles
 * them as it profiles malloc: sampled by bytes, with their call stacks,
 * in the profile's pool_* sample types (see docs/pool.md).
 *
 *     #include <memprof.h>
 *
 *     memprof_pool_create(arena, arena_size, "parser");  // once per arena
 *     void *p = carve(arena, n);
 *     memprof_alloc(p, n);                                 // a block handed out
 *     memprof_realloc(p, q, m);                            // p moved to q, m bytes
 *     memprof_free(q);                                     // a block given back
 *     memprof_pool_destroy(arena);                         // its live blocks go too
 *
 * Cost and linking. This header is all there is: no library to link, no
 * link-time dependency on memprof. Each call is inline; the first one in
 * each translation unit looks memprof's tracker up once (dlsym of
 * "memprof_api_v1", which libmemprof.so defines when `memprof run` preloads
 * it). Without memprof every later call is a load, a test and a branch that
 * is never taken (3 instructions with gcc -O2 on x86-64); the rest is out of
 * line and cold, so the caller keeps no registers for it. Weak symbols were
 * not used: a non-PIE program resolves an undefined weak symbol to 0 at
 * link time, and would never see the tracker that memprof run preloads.
 * glibc 2.34 and later have dlsym in libc; with an older glibc link with
 * -ldl. Define MEMPROF_DISABLE before including this header to compile
 * every call away.
 *
 * Rules. Pointers are the block's start, as the allocator returns it.
 * Reporting a block twice (without a free between), or freeing one never
 * reported, is harmless: memprof counts it and says so after the run.
 * NULL is ignored everywhere. The calls are thread-safe and never allocate;
 * they must not be made from a signal handler that interrupts memprof's
 * own work (such reports are counted as lost). While the first call of a
 * translation unit looks the tracker up, calls from other threads in that
 * translation unit are skipped: call memprof_init() early (in main, say)
 * where that matters.
 *
 * Pools. A block reported inside [ptr, ptr + size) of a pool created with
 * memprof_pool_create carries the pool's name (a `pool` label); the name is
 * copied. The arena's own memory stays where it came from (malloc: the
 * heap types; mmap: the mmap types with --mmap): the pool types count the
 * blocks inside it, so no sample type counts a byte twice. */
#ifndef MEMPROF_H
#define MEMPROF_H

#include <stddef.h>

#ifndef MEMPROF_DISABLE
#include <dlfcn.h>
#endif

#ifdef __cplusplus
extern "C" {
#endif

/* __inline__: C89 code includes this header too */
#define MEMPROF__INLINE static __inline__

/* What libmemprof.so exports as memprof_api_v1. Fields are only ever
 * added at the end; size says how many there are. */
struct memprof_api {
	unsigned size;		/* sizeof(struct memprof_api) in the tracker */
	unsigned version;	/* 1 */
	void (*alloc)(void *ptr, size_t size);
	void (*free)(void *ptr);
	void (*realloc)(void *old, void *ptr, size_t size);
	void (*pool_create)(void *ptr, size_t size, const char *name);
	void (*pool_destroy)(void *ptr);
};

#ifdef MEMPROF_DISABLE

MEMPROF__INLINE void memprof_init(void) {}
MEMPROF__INLINE void memprof_alloc(void *ptr, size_t size) { (void)ptr; (void)size; }
MEMPROF__INLINE void memprof_free(void *ptr) { (void)ptr; }
MEMPROF__INLINE void memprof_realloc(void *old, void *ptr, size_t size)
{
	(void)old; (void)ptr; (void)size;
}
MEMPROF__INLINE void memprof_pool_create(void *ptr, size_t size, const char *name)
{
	(void)ptr; (void)size; (void)name;
}
MEMPROF__INLINE void memprof_pool_destroy(void *ptr) { (void)ptr; }

#else

/* Per translation unit: 1 until looked up, then the tracker's table or
 * NULL (no memprof). */
static const struct memprof_api *memprof__api __attribute__((unused)) =
	(const struct memprof_api *)1;

/* Looks the tracker up (once). NULL while it does, so that an allocator
 * that dlsym calls back into does not recurse. */
MEMPROF__INLINE const struct memprof_api *memprof__lookup(void)
{
	const struct memprof_api *a;
	__atomic_store_n(&memprof__api, (const struct memprof_api *)0, __ATOMIC_RELAXED);
	a = (const struct memprof_api *)dlsym((void *)0 /* RTLD_DEFAULT */, "memprof_api_v1");
	if (a && (a->version < 1 || a->size < sizeof(struct memprof_api)))
		a = (const struct memprof_api *)0;
	__atomic_store_n(&memprof__api, a, __ATOMIC_RELAXED);
	return a;
}

/* The tracker's table, or NULL. */
MEMPROF__INLINE const struct memprof_api *memprof__get(void)
{
	const struct memprof_api *a = __atomic_load_n(&memprof__api, __ATOMIC_RELAXED);
	if (a == (const struct memprof_api *)1)
		a = memprof__lookup();
	return a;
}

/* Whether to take the slow path: under memprof, or not looked up yet.
 * This is the whole cost without memprof: one load, one branch. */
#define MEMPROF__ON() \
	__builtin_expect(__atomic_load_n(&memprof__api, __ATOMIC_RELAXED) != 0, 0)

/* The slow paths, out of line and cold: the caller's code around the
 * branch does not have to keep registers for a call it will not make. */
#define MEMPROF__COLD __attribute__((noinline, cold, unused)) static

MEMPROF__COLD void memprof__alloc(void *ptr, size_t size)
{
	const struct memprof_api *a = memprof__get();
	if (a)
		a->alloc(ptr, size);
}

MEMPROF__COLD void memprof__free(void *ptr)
{
	const struct memprof_api *a = memprof__get();
	if (a)
		a->free(ptr);
}

MEMPROF__COLD void memprof__realloc(void *old, void *ptr, size_t size)
{
	const struct memprof_api *a = memprof__get();
	if (a)
		a->realloc(old, ptr, size);
}

MEMPROF__COLD void memprof__pool_create(void *ptr, size_t size, const char *name)
{
	const struct memprof_api *a = memprof__get();
	if (a)
		a->pool_create(ptr, size, name);
}

MEMPROF__COLD void memprof__pool_destroy(void *ptr)
{
	const struct memprof_api *a = memprof__get();
	if (a)
		a->pool_destroy(ptr);
}

/* Looks memprof up now, so that no call of this translation unit is
 * skipped while another thread does it. Optional. */
MEMPROF__INLINE void memprof_init(void)
{
	(void)memprof__get();
}

/* ptr is a block of size bytes, just handed out. */
MEMPROF__INLINE void memprof_alloc(void *ptr, size_t size)
{
	if (MEMPROF__ON())
		memprof__alloc(ptr, size);
}

/* The block at ptr is given back. */
MEMPROF__INLINE void memprof_free(void *ptr)
{
	if (MEMPROF__ON())
		memprof__free(ptr);
}

/* The block at old is now at ptr (perhaps the same) and has size bytes:
 * memprof_free(old) then memprof_alloc(ptr, size), as realloc is counted. */
MEMPROF__INLINE void memprof_realloc(void *old, void *ptr, size_t size)
{
	if (MEMPROF__ON())
		memprof__realloc(old, ptr, size);
}

/* [ptr, ptr + size) is an arena whose blocks belong to the pool `name`. */
MEMPROF__INLINE void memprof_pool_create(void *ptr, size_t size, const char *name)
{
	if (MEMPROF__ON())
		memprof__pool_create(ptr, size, name);
}

/* The arena created at ptr is gone, with every block still live in it. */
MEMPROF__INLINE void memprof_pool_destroy(void *ptr)
{
	if (MEMPROF__ON())
		memprof__pool_destroy(ptr);
}

#endif /* MEMPROF_DISABLE */

#ifdef __cplusplus
}
#endif

#endif
