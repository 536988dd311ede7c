/* mmap.c - memprof run --mmap (MEMPROF_MMAP=1): the anonymous mappings the
 * program's own code makes, sampled by bytes as malloc is, with their own
 * countdown (docs/mmap.md says what counts). Interposes mmap, mmap64,
 * munmap, mremap, mprotect, brk and sbrk; with --mmap off each costs one
 * branch on top of the real call.
 *
 * What is left out, and how:
 * - the allocator's own mappings: glibc's malloc calls the kernel through
 *   its internal aliases, which no interposer sees; an allocator in a
 *   library of its own (jemalloc, tcmalloc, mimalloc) calls mmap through
 *   its PLT, and is recognised by the caller's address: the text of the
 *   object that defines the malloc we forward to. No cost on malloc's path.
 * - the tracker's own mappings (its tables, its stack, the ring), and
 *   anything mapped while the tracker works (libunwind's caches): ts.busy
 *   or a caller inside libmemprof.so.
 * - PROT_NONE reservations: remembered in a small table, and counted only
 *   when (and where) mprotect makes them accessible, or when MAP_FIXED
 *   maps over them. */
#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "draw.h"
#include "modules.h"
#include "originals.h"
#include "records.h"
#include "sampler.h"
#include "stream.h"
#include "tracker.h"

#ifndef MREMAP_DONTUNMAP
#define MREMAP_DONTUNMAP 4	/* Linux 5.7; older headers lack it */
#endif

static struct {
	void *(*mmap)(void *, size_t, int, int, int, off_t);
	int (*munmap)(void *, size_t);
	void *(*mremap)(void *, size_t, size_t, int, ...);
	int (*mprotect)(void *, size_t, int);
	void *(*sbrk)(intptr_t);
	int (*brk)(void *);
} next;

static bool mmap_on;		/* MEMPROF_MMAP=1; set once, in the constructor */
static uintptr_t page_mask = 4095;

/* Whether a mapping was ever sampled in this image: until then unmapping
 * has nothing to report. Written under the lock, read racily: a stale
 * false only skips a report for a range that cannot hold a sampled one. */
static bool sampled_any;

/* The countdown of mapped bytes, apart from malloc's. */
static __thread int64_t map_countdown __attribute__((tls_model("initial-exec")));
static __thread uint64_t map_rng __attribute__((tls_model("initial-exec")));

/* ---- who called ------------------------------------------------------------ */

#define ALLOC_RANGES 4
static struct { uintptr_t lo, hi; } alloc_text[ALLOC_RANGES];
static int n_alloc_text;

static int find_allocator(struct dl_phdr_info *info, size_t size, void *arg)
{
	uintptr_t want = (uintptr_t)arg;
	bool holds = false;
	(void)size;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t lo = info->dlpi_addr + ph->p_vaddr;
		if (ph->p_type == PT_LOAD && want >= lo && want < lo + ph->p_memsz)
			holds = true;
	}
	if (!holds)
		return 0;
	for (int i = 0; i < info->dlpi_phnum && n_alloc_text < ALLOC_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_X)) {
			alloc_text[n_alloc_text].lo = info->dlpi_addr + ph->p_vaddr;
			alloc_text[n_alloc_text].hi = alloc_text[n_alloc_text].lo + ph->p_memsz;
			n_alloc_text++;
		}
	}
	return 1;
}

/* Whether a call from pc is the program's own: not the allocator's, not
 * the tracker's. */
static bool programs_call(uintptr_t pc)
{
	for (int i = 0; i < n_alloc_text; i++)
		if (pc >= alloc_text[i].lo && pc < alloc_text[i].hi)
			return false;
	return !modules_is_self(pc);
}

/* ---- the reservations (PROT_NONE), under the lock ------------------------------ */

#define RESV_MAX 512
static struct { uintptr_t lo, hi; } resv[RESV_MAX];
static int n_resv;	/* read racily outside the lock: 0 skips the lock */

static void resv_add(uintptr_t lo, uintptr_t hi)
{
	if (n_resv == RESV_MAX) {
		stream_count_lost(LOST_NO_MEMORY);	/* it will not count when made accessible */
		return;
	}
	resv[n_resv].lo = lo;
	resv[n_resv].hi = hi;
	__atomic_store_n(&n_resv, n_resv + 1, __ATOMIC_RELAXED);
}

/* Takes [lo, hi) out of the table; the parts that were reserved go to
 * out[] (at most max of them; out may be NULL when max is 0), their number
 * is returned. */
static int resv_take(uintptr_t lo, uintptr_t hi, uintptr_t (*out)[2], int max)
{
	int n = 0;
	for (int i = 0; i < n_resv; i++) {
		uintptr_t a = resv[i].lo, b = resv[i].hi;
		if (b <= lo || a >= hi)
			continue;
		uintptr_t x = a > lo ? a : lo, y = b < hi ? b : hi;
		if (n < max) {
			out[n][0] = x;
			out[n][1] = y;
			n++;
		}
		if (a < x && y < b) {	/* the middle goes: two pieces */
			resv[i].hi = x;
			if (n_resv < RESV_MAX) {
				resv[n_resv].lo = y;
				resv[n_resv].hi = b;
				__atomic_store_n(&n_resv, n_resv + 1, __ATOMIC_RELAXED);
			} else {
				stream_count_lost(LOST_NO_MEMORY);
			}
		} else if (a < x) {
			resv[i].hi = x;
		} else if (y < b) {
			resv[i].lo = y;
		} else {
			resv[i] = resv[n_resv - 1];
			__atomic_store_n(&n_resv, n_resv - 1, __ATOMIC_RELAXED);
			i--;
		}
	}
	return n;
}

/* ---- sampling and records, under the lock ------------------------------------ */

/* Whether len more mapped bytes reach this thread's countdown. */
static bool map_expired(uint64_t len)
{
	if (tracker_rate <= 1)
		return true;
	if (!map_rng) {	/* a new thread: its first distance, against which this counts */
		map_countdown = draw_distance(&map_rng, (uint64_t)(uintptr_t)&map_rng ^ wall_ns() ^
					      (uint64_t)syscall(SYS_gettid) << 32, tracker_rate);
	}
	map_countdown -= (int64_t)len;
	if (map_countdown > 0)
		return false;
	map_countdown = draw_distance(&map_rng, 0, tracker_rate);
	return true;
}

static void emit_unmap(uintptr_t lo, uintptr_t hi)
{
	uint8_t *r = stream_reserve(REC_MUNMAP_LEN), *q = r;
	if (!r)
		return;
	q = rec_u8(q, REC_MUNMAP);
	q = rec_u64(q, lo);
	rec_u64(q, hi - lo);
	stream_commit(REC_MUNMAP_LEN);
}

/* Records [lo, hi) (newly accessible, sampled) with the caller's stack;
 * *stack caches the id between the pieces of one call. */
static void record_locked(uintptr_t lo, uintptr_t hi, uint32_t *stack)
{
	if (!*stack && !(*stack = sampler_stack_locked())) {
		stream_count_lost(LOST_NO_MEMORY);
		return;
	}
	uint8_t *r = stream_reserve(REC_MMAP_LEN), *q = r;
	if (!r)
		return;
	q = rec_u8(q, REC_MMAP);
	q = rec_u64(q, lo);
	q = rec_u64(q, hi - lo);
	rec_u32(q, *stack);
	stream_commit(REC_MMAP_LEN);
	__atomic_store_n(&sampled_any, true, __ATOMIC_RELAXED);
}

static inline bool watching(uintptr_t caller)
{
	return tracking() && !ts.busy && programs_call(caller);
}

static inline uintptr_t page_end(uintptr_t p, size_t len)
{
	uintptr_t e = p + len;
	return e < p ? UINTPTR_MAX & ~page_mask : (e + page_mask) & ~page_mask;
}

/* [lo, hi) is mapped now (prot, flags as mmap's); replaced what was there
 * when fixed. The lock is taken only when there is something to do: the
 * countdown is the thread's own. Saves and restores errno (enter/leave). */
static void mapped(uintptr_t lo, uintptr_t hi, int prot, bool anon, bool fixed)
{
	bool resv_in_range = fixed && __atomic_load_n(&n_resv, __ATOMIC_RELAXED);
	bool replace = fixed && __atomic_load_n(&sampled_any, __ATOMIC_RELAXED);
	bool reserve = anon && prot == PROT_NONE;
	bool sample = anon && !reserve && map_expired(hi - lo);
	if (!sample && !reserve && !replace && !resv_in_range)
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (stream_ok()) {
		uint32_t stack = 0;
		if (resv_in_range)
			resv_take(lo, hi, NULL, 0);
		if (replace)
			emit_unmap(lo, hi);
		if (reserve)
			resv_add(lo, hi);
		else if (sample)
			record_locked(lo, hi, &stack);
	}
	leave();
}

/* [lo, hi) is about to be unmapped (or was: brk). */
static void unmapping(uintptr_t lo, uintptr_t hi)
{
	bool has_resv = __atomic_load_n(&n_resv, __ATOMIC_RELAXED);
	if (!has_resv && !__atomic_load_n(&sampled_any, __ATOMIC_RELAXED))
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (has_resv)
		resv_take(lo, hi, NULL, 0);
	if (sampled_any && stream_ok())
		emit_unmap(lo, hi);
	leave();
}

/* ---- the hooks --------------------------------------------------------------- */

static void *mmap_common(void *addr, size_t len, int prot, int flags, int fd, off_t off,
			 uintptr_t caller)
{
	void *p = likely(next.mmap) ? next.mmap(addr, len, prot, flags, fd, off)
				    : (void *)syscall(SYS_mmap, addr, len, prot, flags, fd, off);
	if (unlikely(mmap_on) && p != MAP_FAILED && len && watching(caller))
		mapped((uintptr_t)p, page_end((uintptr_t)p, len), prot,
		       (flags & MAP_ANONYMOUS) != 0, (flags & MAP_FIXED) != 0);
	return p;
}

EXPORT void *mmap(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(addr, len, prot, flags, fd, off, (uintptr_t)__builtin_return_address(0));
}

EXPORT void *mmap64(void *addr, size_t len, int prot, int flags, int fd, off_t off)
{
	return mmap_common(addr, len, prot, flags, fd, off, (uintptr_t)__builtin_return_address(0));
}

/* The report goes first: once the range is unmapped another thread may be
 * given it, and its sample must not be taken for this range's. */
EXPORT int munmap(void *addr, size_t len)
{
	/* an address off a page boundary fails (EINVAL): nothing to report */
	if (unlikely(mmap_on) && len && !((uintptr_t)addr & page_mask) &&
	    watching((uintptr_t)__builtin_return_address(0)))
		unmapping((uintptr_t)addr, page_end((uintptr_t)addr, len));
	if (likely(next.munmap))
		return next.munmap(addr, len);
	return (int)syscall(SYS_munmap, addr, len);
}

static void *real_mremap(void *old, size_t old_len, size_t len, int flags, void *want)
{
	if (likely(next.mremap))
		return next.mremap(old, old_len, len, flags, want);
	return (void *)syscall(SYS_mremap, old, old_len, len, flags, want);
}

/* As realloc: the old range is gone, the new one is a new mapping of len
 * bytes (sampled on its own). The lock is held across the call, so that
 * no other thread's mapping of the old range is reported before its end.
 * memprof cannot tell cheaply whether old is anonymous: mremap of a file
 * mapping counts too (docs/mmap.md). */
EXPORT void *mremap(void *old, size_t old_len, size_t len, int flags, ...)
{
	void *want = NULL;
	if (flags & MREMAP_FIXED) {
		va_list ap;
		va_start(ap, flags);
		want = va_arg(ap, void *);
		va_end(ap);
	}
	if (likely(!mmap_on) || !watching((uintptr_t)__builtin_return_address(0)))
		return real_mremap(old, old_len, len, flags, want);
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return real_mremap(old, old_len, len, flags, want);
	}
	void *p = real_mremap(old, old_len, len, flags, want);
	int e = errno;
	if (p != MAP_FAILED && stream_ok()) {
		uintptr_t lo = (uintptr_t)old;
		/* MREMAP_DONTUNMAP leaves the old range mapped (and empty):
		 * it still counts, as after madvise(MADV_DONTNEED) */
		bool keeps_old = flags & MREMAP_DONTUNMAP;
		if (n_resv && !keeps_old)
			resv_take(lo, page_end(lo, old_len), NULL, 0);
		if (sampled_any && old_len && !keeps_old)
			emit_unmap(lo, page_end(lo, old_len));
		uintptr_t end = page_end((uintptr_t)p, len);
		uint32_t stack = 0;
		if (len && map_expired(end - (uintptr_t)p))
			record_locked((uintptr_t)p, end, &stack);
	}
	leave();
	errno = e;
	return p;
}

/* Parts of PROT_NONE reservations made accessible count from now on. */
EXPORT int mprotect(void *addr, size_t len, int prot)
{
	int rc = likely(next.mprotect) ? next.mprotect(addr, len, prot)
				       : (int)syscall(SYS_mprotect, addr, len, prot);
	if (likely(!mmap_on) || rc != 0 || prot == PROT_NONE ||
	    !__atomic_load_n(&n_resv, __ATOMIC_RELAXED) ||
	    !watching((uintptr_t)__builtin_return_address(0)))
		return rc;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return rc;
	}
	uintptr_t part[16][2], lo = (uintptr_t)addr;
	int n = resv_take(lo, page_end(lo, len), part, 16);
	uint32_t stack = 0;
	for (int i = 0; i < n && stream_ok(); i++)
		if (map_expired(part[i][1] - part[i][0]))
			record_locked(part[i][0], part[i][1], &stack);
	leave();
	return rc;
}

/* brk and sbrk: glibc's malloc moves the break through internal aliases;
 * these see a program that does it itself. Growth is a mapping, shrinking
 * an unmapping, at byte granularity. */
static void resolve_brk(void)
{
	if (!next.sbrk)
		*(void **)&next.sbrk = dlsym(RTLD_NEXT, "sbrk");
	if (!next.brk)
		*(void **)&next.brk = dlsym(RTLD_NEXT, "brk");
}

static void break_moved(uintptr_t from, uintptr_t to)
{
	if (to > from)
		mapped(from, to, PROT_READ | PROT_WRITE, true, false);
	else if (to < from)
		unmapping(to, from);
}

EXPORT void *sbrk(intptr_t incr)
{
	if (unlikely(!next.sbrk))
		resolve_brk();
	void *old = next.sbrk(incr);
	if (unlikely(mmap_on) && old != (void *)-1 && incr &&
	    watching((uintptr_t)__builtin_return_address(0)))
		break_moved((uintptr_t)old, (uintptr_t)old + (uintptr_t)incr);
	return old;
}

EXPORT int brk(void *addr)
{
	if (unlikely(!next.brk || !next.sbrk))
		resolve_brk();
	if (likely(!mmap_on))
		return next.brk(addr);
	void *old = next.sbrk(0);
	int rc = next.brk(addr);
	if (rc == 0 && old != (void *)-1 && watching((uintptr_t)__builtin_return_address(0)))
		break_moved((uintptr_t)old, (uintptr_t)addr);
	return rc;
}

/* A forked child draws afresh: its samples are not its parent's. */
static void mmap_fork_child(void)
{
	map_rng = 0;
}

/* Before main, where dlsym is safe (not inside some allocator's lock):
 * until then the hooks call the kernel directly. */
__attribute__((constructor)) static void mmap_init(void)
{
	int saved = errno;
	*(void **)&next.mmap = dlsym(RTLD_NEXT, "mmap");
	*(void **)&next.munmap = dlsym(RTLD_NEXT, "munmap");
	*(void **)&next.mremap = dlsym(RTLD_NEXT, "mremap");
	*(void **)&next.mprotect = dlsym(RTLD_NEXT, "mprotect");
	resolve_brk();
	const char *on = getenv("MEMPROF_MMAP");
	if (on && !strcmp(on, "1")) {
		long pg = sysconf(_SC_PAGESIZE);
		if (pg > 0)
			page_mask = (uintptr_t)pg - 1;
		originals_resolve();
		if (real.malloc)
			dl_iterate_phdr(find_allocator, (void *)(uintptr_t)real.malloc);
		pthread_atfork(NULL, NULL, mmap_fork_child);
		mmap_on = true;
	}
	errno = saved;
}
