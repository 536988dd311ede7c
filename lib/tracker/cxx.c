/* cxx.c - C++'s operator new and delete, for allocators that define their
 * own.
 *
 * libstdc++'s operator new calls malloc (through its PLT, so the malloc
 * hooks see it). jemalloc, tcmalloc and mimalloc each define their own
 * operator new and delete, which come before libstdc++'s and take blocks
 * from their heap without calling malloc: a C++ program using one of them
 * would show no new'd block at all. The tracker is preloaded, so these
 * definitions come before theirs. Which way they go is decided once:
 *
 * - take over, when the next operator new is in the same object as the
 *   next malloc (an allocator that defines both, over one heap), or is
 *   libstdc++'s (whose operators are these: one call fewer), or when
 *   there is none in the global scope (a C program that dlopened a C++
 *   library: libstdc++ is in that library's scope only), and the program
 *   replaces none of these operators: new is malloc (size 0 taken as 1),
 *   aligned new is aligned_alloc of the size rounded up to the alignment,
 *   delete is free, as libstdc++'s are; the blocks still come from the
 *   program's allocator. When malloc fails, the next operator new
 *   is called, to run the new_handler and throw as it would;
 * - otherwise (a program with its own operator new or delete, or a
 *   library before libstdc++ that defines them) pass through: a tail call
 *   to the next definition, exactly as without the tracker, and no frame
 *   of ours left in the stacks.
 *
 * In take-over mode the frames here are the tracker's: the sampler skips
 * them, so the leaf is the function that said new. */
#include <dlfcn.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "tracker.h"

_Static_assert(sizeof(size_t) == sizeof(unsigned long), "the names below mangle size_t as m");

#define OPERATORS(X)                                  \
	X(_Znwm)                                      \
	X(_Znam)                                      \
	X(_ZnwmRKSt9nothrow_t)                        \
	X(_ZnamRKSt9nothrow_t)                        \
	X(_ZnwmSt11align_val_t)                       \
	X(_ZnamSt11align_val_t)                       \
	X(_ZnwmSt11align_val_tRKSt9nothrow_t)         \
	X(_ZnamSt11align_val_tRKSt9nothrow_t)         \
	X(_ZdlPv)                                     \
	X(_ZdaPv)                                     \
	X(_ZdlPvm)                                    \
	X(_ZdaPvm)                                    \
	X(_ZdlPvRKSt9nothrow_t)                       \
	X(_ZdaPvRKSt9nothrow_t)                       \
	X(_ZdlPvSt11align_val_t)                      \
	X(_ZdaPvSt11align_val_t)                      \
	X(_ZdlPvmSt11align_val_t)                     \
	X(_ZdaPvmSt11align_val_t)                     \
	X(_ZdlPvSt11align_val_tRKSt9nothrow_t)        \
	X(_ZdaPvSt11align_val_tRKSt9nothrow_t)

#define AS_INDEX(name) OP##name,
#define AS_NAME(name) #name,
enum { OPERATORS(AS_INDEX) N_OPERATORS };
static const char *const op_name[N_OPERATORS] = { OPERATORS(AS_NAME) };

static void *next_op[N_OPERATORS];
enum { UNDECIDED, PASS_THROUGH, TAKE_OVER };
static int mode;

/* The next definition of operator i: libstdc++'s or the allocator's, in
 * the global scope. A C program that dlopens a C++ library has libstdc++
 * only in that library's local scope: then it is looked up from the
 * caller's object (ra, its return address), uncached (the take-over
 * mode's failure path is the only one that gets there). An operator was
 * called, so one is loaded; if none is found, abort as terminate would. */
static __attribute__((noinline)) void *next_slow(int i, void *ra)
{
	void *f;
	if ((f = dlsym(RTLD_NEXT, op_name[i]))) {
		__atomic_store_n(&next_op[i], f, __ATOMIC_RELEASE);
		return f;
	}
	Dl_info caller, found;
	void *h;
	if (dladdr(ra, &caller) && caller.dli_fname &&
	    (h = dlopen(caller.dli_fname, RTLD_LAZY | RTLD_NOLOAD))) {
		f = dlsym(h, op_name[i]);
		dlclose(h);
		if (f && dladdr(f, &found) && dladdr((void *)next_slow, &caller) &&
		    found.dli_fbase != caller.dli_fbase)
			return f;
	}
	abort();
}

static inline void *next(int i, void *ra)
{
	void *f = __atomic_load_n(&next_op[i], __ATOMIC_ACQUIRE);
	return likely(f) ? f : next_slow(i, ra);
}

/* Take over when the next operator new is the allocator's own (the same
 * object as the next malloc), or libstdc++'s (which is malloc and free:
 * taking over skips a call), or when there is none in the global scope
 * (libstdc++ only in a dlopened library's scope); never when the program
 * has its own. */
static bool is_libstdcxx(const char *path)
{
	const char *base = path ? strrchr(path, '/') : NULL;
	base = base ? base + 1 : path;
	return base && !strncmp(base, "libstdc++.so", 12);
}

static __attribute__((noinline)) int decide(void)
{
	int m = TAKE_OVER;
	Dl_info a, b, self;
	void *n = dlsym(RTLD_NEXT, "_Znwm"), *alloc = dlsym(RTLD_NEXT, "malloc");
	if (!dladdr((void *)decide, &self) ||
	    (n && (!alloc || !dladdr(n, &a) || !dladdr(alloc, &b) ||
		   (a.dli_fbase != b.dli_fbase && !is_libstdcxx(a.dli_fname)))))
		m = PASS_THROUGH;
	/* a program's own operator comes first (the global lookup finds it,
	 * not ours): then everything goes where it would go without us */
	for (int i = 0; i < N_OPERATORS && m == TAKE_OVER; i++) {
		void *g = dlsym(RTLD_DEFAULT, op_name[i]);
		if (g && (!dladdr(g, &a) || a.dli_fbase != self.dli_fbase))
			m = PASS_THROUGH;
	}
	__atomic_store_n(&mode, m, __ATOMIC_RELEASE);
	return m;
}

static inline bool take_over(void)
{
	int m = __atomic_load_n(&mode, __ATOMIC_ACQUIRE);
	return (likely(m != UNDECIDED) ? m : decide()) == TAKE_OVER;
}

static inline size_t aligned_size(size_t size, size_t align)
{
	size_t n = ((size ? size : 1) + align - 1) & ~(align - 1);
	return n >= size ? n : 0;
}

/* declared, then defined; the last call is a tail call, so that passing
 * through leaves no frame of ours (kept at -O0 too) */
#define DEFINE(ret, name, params)  \
	EXPORT ret name params;    \
	__attribute__((optimize("optimize-sibling-calls"))) EXPORT ret name params

typedef const void *nothrow_ref;

DEFINE(void *, _Znwm, (size_t n))
{
	void *p;
	if (take_over() && likely((p = malloc(n ? n : 1))))
		return p;
	return ((void *(*)(size_t))next(OP_Znwm, __builtin_return_address(0)))(n);
}

DEFINE(void *, _Znam, (size_t n))
{
	void *p;
	if (take_over() && likely((p = malloc(n ? n : 1))))
		return p;
	return ((void *(*)(size_t))next(OP_Znam, __builtin_return_address(0)))(n);
}

DEFINE(void *, _ZnwmRKSt9nothrow_t, (size_t n, nothrow_ref t))
{
	void *p;
	if (take_over() && likely((p = malloc(n ? n : 1))))
		return p;
	return ((void *(*)(size_t, nothrow_ref))next(OP_ZnwmRKSt9nothrow_t, __builtin_return_address(0)))(n, t);
}

DEFINE(void *, _ZnamRKSt9nothrow_t, (size_t n, nothrow_ref t))
{
	void *p;
	if (take_over() && likely((p = malloc(n ? n : 1))))
		return p;
	return ((void *(*)(size_t, nothrow_ref))next(OP_ZnamRKSt9nothrow_t, __builtin_return_address(0)))(n, t);
}

DEFINE(void *, _ZnwmSt11align_val_t, (size_t n, size_t a))
{
	void *p;
	size_t sz;
	if (take_over() && (sz = aligned_size(n, a)) && likely((p = aligned_alloc(a, sz))))
		return p;
	return ((void *(*)(size_t, size_t))next(OP_ZnwmSt11align_val_t, __builtin_return_address(0)))(n, a);
}

DEFINE(void *, _ZnamSt11align_val_t, (size_t n, size_t a))
{
	void *p;
	size_t sz;
	if (take_over() && (sz = aligned_size(n, a)) && likely((p = aligned_alloc(a, sz))))
		return p;
	return ((void *(*)(size_t, size_t))next(OP_ZnamSt11align_val_t, __builtin_return_address(0)))(n, a);
}

DEFINE(void *, _ZnwmSt11align_val_tRKSt9nothrow_t, (size_t n, size_t a, nothrow_ref t))
{
	void *p;
	size_t sz;
	if (take_over() && (sz = aligned_size(n, a)) && likely((p = aligned_alloc(a, sz))))
		return p;
	return ((void *(*)(size_t, size_t, nothrow_ref))next(OP_ZnwmSt11align_val_tRKSt9nothrow_t, __builtin_return_address(0)))(n, a, t);
}

DEFINE(void *, _ZnamSt11align_val_tRKSt9nothrow_t, (size_t n, size_t a, nothrow_ref t))
{
	void *p;
	size_t sz;
	if (take_over() && (sz = aligned_size(n, a)) && likely((p = aligned_alloc(a, sz))))
		return p;
	return ((void *(*)(size_t, size_t, nothrow_ref))next(OP_ZnamSt11align_val_tRKSt9nothrow_t, __builtin_return_address(0)))(n, a, t);
}

/* delete: free when taking over, else the next one with the same arguments */
#define DELETE1(name)                                                  \
	DEFINE(void, name, (void *p))                                  \
	{                                                              \
		if (take_over()) {                                     \
			free(p);                                       \
			return;                                        \
		}                                                      \
		((void (*)(void *))next(OP##name, __builtin_return_address(0)))(p);                 \
	}
#define DELETE2(name, T)                                               \
	DEFINE(void, name, (void *p, T x))                             \
	{                                                              \
		if (take_over()) {                                     \
			free(p);                                       \
			return;                                        \
		}                                                      \
		((void (*)(void *, T))next(OP##name, __builtin_return_address(0)))(p, x);           \
	}
#define DELETE3(name, T, U)                                            \
	DEFINE(void, name, (void *p, T x, U y))                        \
	{                                                              \
		if (take_over()) {                                     \
			free(p);                                       \
			return;                                        \
		}                                                      \
		((void (*)(void *, T, U))next(OP##name, __builtin_return_address(0)))(p, x, y);     \
	}

DELETE1(_ZdlPv)
DELETE1(_ZdaPv)
DELETE2(_ZdlPvm, size_t)
DELETE2(_ZdaPvm, size_t)
DELETE2(_ZdlPvRKSt9nothrow_t, nothrow_ref)
DELETE2(_ZdaPvRKSt9nothrow_t, nothrow_ref)
DELETE2(_ZdlPvSt11align_val_t, size_t)
DELETE2(_ZdaPvSt11align_val_t, size_t)
DELETE3(_ZdlPvmSt11align_val_t, size_t, size_t)
DELETE3(_ZdaPvmSt11align_val_t, size_t, size_t)
DELETE3(_ZdlPvSt11align_val_tRKSt9nothrow_t, size_t, nothrow_ref)
DELETE3(_ZdaPvSt11align_val_tRKSt9nothrow_t, size_t, nothrow_ref)
