/* cxx.c - C++'s operator new and delete, routed through malloc and free.
 *
 * libstdc++'s operator new calls malloc (through its PLT, so the malloc
 * hooks see it), but jemalloc, tcmalloc and mimalloc each define their own
 * operator new and delete, which come before libstdc++'s and allocate
 * without calling malloc: a C++ program using one of them would show no
 * new'd block at all. These definitions come before theirs (the tracker is
 * preloaded) and do what libstdc++'s do: new is malloc (size 0 taken as 1),
 * aligned new is aligned_alloc of the size rounded up to the alignment,
 * delete is free. Those allocators' malloc and new share one heap, so the
 * program's blocks still come from its allocator. On failure the next
 * operator new is called, to run the new_handler and throw as it would.
 * A program's own operator new (in the executable) still comes first.
 * The frames here are the tracker's: the sampler skips them. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>

#include "tracker.h"

_Static_assert(sizeof(size_t) == sizeof(unsigned long), "the names below mangle size_t as m");

/* declared, then defined: one line each */
#define NEW_FN(name, ...) EXPORT void *name(__VA_ARGS__); EXPORT void *name(__VA_ARGS__)
#define DELETE_FN(name, ...) EXPORT void name(__VA_ARGS__); EXPORT void name(__VA_ARGS__)

/* The next definition of a mangled operator new (libstdc++'s or the
 * allocator's), called only when malloc failed. */
static void *next_new(const char *name, size_t size, size_t align, const void *nothrow)
{
	void *fn = dlsym(RTLD_NEXT, name);
	if (!fn)
		abort();	/* an operator new was called: one must be loaded */
	if (align && nothrow)
		return ((void *(*)(size_t, size_t, const void *))fn)(size, align, nothrow);
	if (align)
		return ((void *(*)(size_t, size_t))fn)(size, align);
	if (nothrow)
		return ((void *(*)(size_t, const void *))fn)(size, nothrow);
	return ((void *(*)(size_t))fn)(size);
}

static inline void *plain_new(const char *name, size_t size, const void *nothrow)
{
	void *p = malloc(size ? size : 1);
	return p ? p : next_new(name, size, 0, nothrow);
}

static inline void *aligned_new(const char *name, size_t size, size_t align, const void *nothrow)
{
	size_t n = ((size ? size : 1) + align - 1) & ~(align - 1);
	void *p = n >= size ? aligned_alloc(align, n) : NULL;
	return p ? p : next_new(name, size, align, nothrow);
}

NEW_FN(_Znwm, size_t n) { return plain_new("_Znwm", n, NULL); }
NEW_FN(_Znam, size_t n) { return plain_new("_Znam", n, NULL); }
NEW_FN(_ZnwmRKSt9nothrow_t, size_t n, const void *t) { return plain_new("_ZnwmRKSt9nothrow_t", n, t); }
NEW_FN(_ZnamRKSt9nothrow_t, size_t n, const void *t) { return plain_new("_ZnamRKSt9nothrow_t", n, t); }
NEW_FN(_ZnwmSt11align_val_t, size_t n, size_t a) { return aligned_new("_ZnwmSt11align_val_t", n, a, NULL); }
NEW_FN(_ZnamSt11align_val_t, size_t n, size_t a) { return aligned_new("_ZnamSt11align_val_t", n, a, NULL); }
NEW_FN(_ZnwmSt11align_val_tRKSt9nothrow_t, size_t n, size_t a, const void *t)
{
	return aligned_new("_ZnwmSt11align_val_tRKSt9nothrow_t", n, a, t);
}
NEW_FN(_ZnamSt11align_val_tRKSt9nothrow_t, size_t n, size_t a, const void *t)
{
	return aligned_new("_ZnamSt11align_val_tRKSt9nothrow_t", n, a, t);
}

DELETE_FN(_ZdlPv, void *p) { free(p); }
DELETE_FN(_ZdaPv, void *p) { free(p); }
DELETE_FN(_ZdlPvm, void *p, size_t n) { free(p); }
DELETE_FN(_ZdaPvm, void *p, size_t n) { free(p); }
DELETE_FN(_ZdlPvRKSt9nothrow_t, void *p, const void *t) { free(p); }
DELETE_FN(_ZdaPvRKSt9nothrow_t, void *p, const void *t) { free(p); }
DELETE_FN(_ZdlPvSt11align_val_t, void *p, size_t a) { free(p); }
DELETE_FN(_ZdaPvSt11align_val_t, void *p, size_t a) { free(p); }
DELETE_FN(_ZdlPvmSt11align_val_t, void *p, size_t n, size_t a) { free(p); }
DELETE_FN(_ZdaPvmSt11align_val_t, void *p, size_t n, size_t a) { free(p); }
DELETE_FN(_ZdlPvSt11align_val_tRKSt9nothrow_t, void *p, size_t a, const void *t) { free(p); }
DELETE_FN(_ZdaPvSt11align_val_tRKSt9nothrow_t, void *p, size_t a, const void *t) { free(p); }
