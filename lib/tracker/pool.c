/* pool.c - the custom allocators' API (include/memprof.h): blocks that a
 * pool or arena reports, sampled by bytes as malloc's are (a countdown of
 * their own), sent as REC_POOL_* records. The tracker exports one table,
 * memprof_api_v1, that the header's inline shim looks up with dlsym. */
#include <pthread.h>
#include <stdint.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "../../include/memprof.h"
#include "draw.h"
#include "records.h"
#include "sampler.h"
#include "stream.h"
#include "tables.h"
#include "tracker.h"

/* Pool blocks share the live-block table with malloc's, under another key:
 * an arena's first block has the arena's own address. User-space
 * addresses never have the top bit set; the free filter ignores it. */
#define POOL_KEY(p) ((uintptr_t)(p) | (uintptr_t)1 << 63)

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
		if (id && (tracker_sample_all || blocks_insert(POOL_KEY(p), size, id))) {
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
 * them (the filter, then the table); at rate 1 every free is, and the
 * collector tells the ones it never saw. */
static void pool_free(void *p)
{
	if (!open_for_reports(p) || (!tracker_sample_all && !filter_maybe(p)))
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (stream_ok() && (tracker_sample_all || blocks_remove(POOL_KEY(p)))) {
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

/* The collector drops the pool's live blocks. At a sampled rate the
 * tracker's table keeps theirs until the address is reported again (a new
 * report replaces the entry; a free then finds it): it does not know the
 * pool's range, and a sweep of the table under the lock is not worth it. */
static void pool_destroy(void *p)
{
	if (!open_for_reports(p))
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	uint8_t *r = stream_ok() ? stream_reserve(REC_FREE_LEN) : NULL;
	if (r) {
		rec_put_free(r, (uintptr_t)p);
		*r = REC_POOL_DESTROY;
		stream_commit(REC_FREE_LEN);
	}
	leave();
}

/* A forked child draws afresh: its samples are not its parent's. */
static void pool_fork_child(void)
{
	pool_rng = 0;
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
