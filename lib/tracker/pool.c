/* pool.c - the custom allocators' API (include/memprof.h): blocks that a
 * pool or arena reports, sampled by bytes as malloc's are (a countdown of
 * their own), sent as REC_POOL_* records, with a table of the sampled live
 * ones of its own. The tracker exports one table of functions,
 * memprof_api_v1, that the header's inline shim looks up with dlsym. */
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../include/memprof.h"
#include "draw.h"
#include "records.h"
#include "sampler.h"
#include "stream.h"
#include "tables.h"
#include "tracker.h"

/* ---- the sampled live pool blocks, and the pools -------------------------------
 *
 * Kept apart from malloc's table (tables.c): an arena's first block has the
 * arena's own address, and a pool destroyed with its blocks live must take
 * them out of the table (arena allocators rarely free blocks one by one),
 * which a sweep of the pool blocks alone keeps cheap. Everything here is
 * under the stream lock but pool_pages, which memprof_free reads without
 * it as free() reads tables.h's filter: zero means "no sampled pool block
 * starts in this page (modulo 4 GiB)" for certain. */

static uint8_t pool_pages[1 << FILTER_BITS];
static uintptr_t *pb;		/* open addressing, 0: empty; memory from mmap */
static size_t pb_mask, pb_count;

static void page_count(uintptr_t addr, int delta)
{
	uint8_t *c = &pool_pages[filter_index((const void *)addr)];
	if (*c != UINT8_MAX)	/* 255 saturates and stays */
		__atomic_store_n(c, (uint8_t)(*c + delta), __ATOMIC_RELAXED);
}

static size_t pb_slot(uintptr_t addr, size_t mask)
{
	return (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ULL >> 20) & mask;
}

static bool pb_grow(void)
{
	size_t cap = pb ? (pb_mask + 1) * 2 : 1024;
	uintptr_t *n = mmap(NULL, cap * sizeof(*n), PROT_READ | PROT_WRITE,
			    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (n == MAP_FAILED)
		return false;
	for (size_t i = 0; pb && i <= pb_mask; i++) {
		if (!pb[i])
			continue;
		size_t j = pb_slot(pb[i], cap - 1);
		while (n[j])
			j = (j + 1) & (cap - 1);
		n[j] = pb[i];
	}
	if (pb)
		munmap(pb, (pb_mask + 1) * sizeof(*pb));
	pb = n;
	pb_mask = cap - 1;
	return true;
}

static bool pb_insert(uintptr_t addr)
{
	if ((pb_count + 1) * 2 > pb_mask + 1 && !pb_grow())
		return false;
	size_t i = pb_slot(addr, pb_mask);
	while (pb[i] && pb[i] != addr)
		i = (i + 1) & pb_mask;
	if (!pb[i]) {	/* reported twice: the collector counts it */
		pb[i] = addr;
		pb_count++;
		page_count(addr, 1);
	}
	return true;
}

/* Empties slot i, moving later entries of its probe chain back. */
static void pb_remove_at(size_t i)
{
	uintptr_t addr = pb[i];
	size_t j = i;
	for (;;) {
		j = (j + 1) & pb_mask;
		if (!pb[j])
			break;
		size_t home = pb_slot(pb[j], pb_mask);
		if (((j - home) & pb_mask) >= ((j - i) & pb_mask)) {
			pb[i] = pb[j];
			i = j;
		}
	}
	pb[i] = 0;
	pb_count--;
	page_count(addr, -1);
}

static bool pb_remove(uintptr_t addr)
{
	if (!pb)
		return false;
	size_t i = pb_slot(addr, pb_mask);
	while (pb[i] != addr) {
		if (!pb[i])
			return false;
		i = (i + 1) & pb_mask;
	}
	pb_remove_at(i);
	return true;
}

/* Every block in [lo, hi) goes. A removal only moves entries back to the
 * slot it empties, so that slot is looked at again; none moves past it. */
static void pb_sweep(uintptr_t lo, uintptr_t hi)
{
	for (size_t i = 0; pb && pb_count && i <= pb_mask; i++)
		while (pb[i] && pb[i] >= lo && pb[i] < hi)
			pb_remove_at(i);
}

/* The pools created and not destroyed: their ranges, for the sweep. */
#define POOLS_MAX 4096
static struct { uintptr_t lo, hi; } pools[POOLS_MAX];
static size_t n_pools;

/* The countdown of reported bytes, apart from malloc's. */
static __thread int64_t pool_countdown __attribute__((tls_model("initial-exec")));
static __thread uint64_t pool_rng __attribute__((tls_model("initial-exec")));

static bool pool_expired(uint64_t size)
{
	if (tracker_rate <= 1)
		return true;
	if (!pool_rng)	/* a new thread: its first distance, against which this counts */
		pool_countdown = draw_distance(&pool_rng, (uint64_t)(uintptr_t)&pool_rng ^ wall_ns() ^
					       (uint64_t)syscall(SYS_gettid) << 32, tracker_rate);
	pool_countdown -= (int64_t)size;
	if (pool_countdown > 0)
		return false;
	pool_countdown = draw_distance(&pool_rng, 0, tracker_rate);
	return true;
}

static inline bool open_for_reports(const void *p)
{
	return p && tracking() && !ts.busy;
}

static void pool_alloc(void *p, size_t size)
{
	if (!open_for_reports(p) || !pool_expired(size))
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (stream_ok()) {
		uint32_t id = sampler_stack_locked();
		if (id && (tracker_sample_all || pb_insert((uintptr_t)p))) {
			uint8_t *r = stream_reserve(REC_ALLOC_LEN);
			if (r) {
				rec_put_alloc(r, (uintptr_t)p, size, id);
				*r = REC_POOL_ALLOC;	/* the same layout as REC_ALLOC */
				stream_commit(REC_ALLOC_LEN);
			}
		} else {
			stream_count_lost(LOST_NO_MEMORY);
		}
	}
	leave();
}

/* At a sampled rate only sampled blocks are sent, found as free() finds
 * its own (the page filter, then the table); at rate 1 every free is, and
 * the collector tells the ones it never saw. */
static void pool_free(void *p)
{
	if (!open_for_reports(p) ||
	    (!tracker_sample_all &&
	     !*(volatile uint8_t *)&pool_pages[filter_index(p)]))
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (stream_ok() && (tracker_sample_all || pb_remove((uintptr_t)p))) {
		uint8_t *r = stream_reserve(REC_FREE_LEN);
		if (r) {
			rec_put_free(r, (uintptr_t)p);
			*r = REC_POOL_FREE;
			stream_commit(REC_FREE_LEN);
		}
	}
	leave();
}

static void pool_realloc(void *old, void *p, size_t size)
{
	pool_free(old);
	pool_alloc(p, size);
}

static void pool_create(void *p, size_t size, const char *name)
{
	if (!open_for_reports(p))
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (n_pools < POOLS_MAX) {
		uintptr_t lo = (uintptr_t)p, hi = lo + size < lo ? UINTPTR_MAX : lo + size;
		pools[n_pools].lo = lo;
		pools[n_pools++].hi = hi;
	} else {
		/* its sampled blocks will outlive it in the table */
		stream_count_lost(LOST_NO_MEMORY);
	}
	uint8_t *r = stream_ok() ? stream_reserve(MEMPROF_RECORD_MAX) : NULL, *q = r;
	if (r) {
		q = rec_u8(q, REC_POOL_CREATE);
		q = rec_u64(q, (uintptr_t)p);
		q = rec_u64(q, size);
		q = rec_name(q, name ? name : "");
		stream_commit((size_t)(q - r));
	}
	leave();
}

/* The pool's live blocks go with it, here (a sweep of the sampled pool
 * blocks) and in the collector. The last pool created at p is the one. */
static void pool_destroy(void *p)
{
	if (!open_for_reports(p))
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	for (size_t i = n_pools; i-- > 0;) {
		if (pools[i].lo != (uintptr_t)p)
			continue;
		if (!tracker_sample_all)
			pb_sweep(pools[i].lo, pools[i].hi);
		pools[i] = pools[--n_pools];
		break;
	}
	uint8_t *r = stream_ok() ? stream_reserve(REC_FREE_LEN) : NULL;
	if (r) {
		rec_put_free(r, (uintptr_t)p);
		*r = REC_POOL_DESTROY;
		stream_commit(REC_FREE_LEN);
	}
	leave();
}

/* A forked child draws afresh, and forgets its parent's sampled blocks:
 * the collector knows none of them in the child. (Single-threaded.) */
static void pool_fork_child(void)
{
	pool_rng = 0;
	pb_count = 0;
	if (!pb)
		return;	/* no pool block ever sampled: the map is all zeros (and
			 * clearing its 1 MiB would make every page of it the
			 * child's own memory) */
	memset(pb, 0, (pb_mask + 1) * sizeof(*pb));
	memset(pool_pages, 0, sizeof(pool_pages));
}

__attribute__((constructor)) static void pool_init(void)
{
	pthread_atfork(NULL, NULL, pool_fork_child);
}

EXPORT const struct memprof_api memprof_api_v1 = {
	.size = sizeof(struct memprof_api),
	.version = 1,
	.alloc = pool_alloc,
	.free = pool_free,
	.realloc = pool_realloc,
	.pool_create = pool_create,
	.pool_destroy = pool_destroy,
};
