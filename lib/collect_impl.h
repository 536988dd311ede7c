/* collect_impl.h - the collector's state, shared by collect.c (feeding
 * records in) and collect_profile.c (building the profile). Private to
 * those two files. */
#ifndef MEMPROF_COLLECT_IMPL_H
#define MEMPROF_COLLECT_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "collect.h"
#include "hashmap.h"
#include "timeline.h"
#include "tracker/records.h"

#define NO_MAPPING UINT32_MAX

struct c_module {		/* one executable segment in a process's map */
	uint64_t start, end;
	uint32_t mapping;	/* index into collector.mapping */
};

struct c_mapping {		/* becomes a pprof Mapping */
	const char *file;
	const char *build_id;	/* hex, as the process had it loaded; "" if none */
	uint64_t bias, start, end, offset;
	uint32_t proc;
};

struct c_proc {
	uint32_t pid, incarnation, ppid;
	const char *exe;
	const char *cmdline;	/* quoted for a shell (shell.h); "" if unknown */
	int64_t rate;
	uint64_t start_ns, end_ns;	/* end_ns: END, exec, or when memprof saw it go */
	bool started, ended, exec_called, gone, calls_seen;
	uint64_t lost[LOST_WHY_MAX];
	uint64_t bad_records;		/* records that could not be read */
	uint64_t allocs;		/* sampled allocations received */
	struct c_module *mod;
	size_t n_mod, cap_mod;
	uint32_t *stack_ix;	/* tracker's stack id - 1 -> index into collector.stack */
	size_t n_stack_ix, cap_stack_ix;	/* the tracker numbers them 1, 2, 3... */
	struct hashmap live;	/* block address -> bucket index */
	/* The heap in use, estimated as inuse_space is (the sum of the live
	 * sampled blocks, scaled), and its highest value so far. Each new
	 * highest starts a new epoch: a bucket stamped with an older epoch
	 * has not changed since, so what it holds now is what it held then
	 * (see bucket_touch in collect.c). */
	double inuse, peak;
	uint64_t epoch;
	uint64_t peak_ns;	/* when the peak was reached (collector's clock); 0: no clock */
	/* the interval of the timeline under way (see flush_intervals) */
	bool dirty;		/* changed in it: listed in collector.dirty */
	double interval_max, interval_allocated;
	struct c_point *points;	/* the heap over time (see timeline.h) */
	size_t n_points, cap_points;
	uint64_t first_point;	/* grid index of points[0] */
};

struct c_point {		/* one grid interval of a process's timeline */
	double inuse;		/* the highest heap in use during it */
	double allocated;	/* bytes allocated during it */
	int64_t rss;		/* the highest RSS seen in it; -1: unknown */
};

struct c_frame {
	uint32_t mapping;	/* NO_MAPPING when the pc was in no known module */
	uint64_t pc;
};

struct c_stack {
	size_t first;		/* index into collector.frame */
	uint32_t n;
	bool truncated;		/* deeper than the tracker unwinds */
};

struct c_bucket {		/* one pprof sample: a process, a stack, a size */
	uint32_t proc, stack;
	uint64_t size;
	uint64_t allocs, frees;
	double scaled;		/* the bytes one sampled block stands for */
	uint64_t stamp;		/* the process's epoch when it last changed */
	uint64_t peak_live;	/* blocks live at the peak, if stamp is that epoch */
};

/* A sample of memory that is not malloc's (collect_extra.c): an anonymous
 * mapping (--mmap) or a custom allocator's block (memprof.h), per process,
 * stack, size and pool. */
struct x_bucket {
	uint32_t proc, stack;
	uint64_t size;		/* of the mapping or block as it was made */
	uint8_t kind;		/* 0: mmap, 1: pool */
	const char *pool;	/* the pool's name (interned), NULL: none */
	uint64_t allocs, frees;	/* a mapping is freed when its last byte goes */
	uint64_t live_bytes;	/* still mapped (a mapping may be cut in pieces) */
};
struct c_extra;
int collect_extra_apply(struct collector *c, uint32_t pi, const struct rec *r);
void collect_extra_free(struct collector *c);
/* Which extra sample types the profile has; whether any. */
bool collect_extra_types(const struct collector *c, bool *mmap, bool *pool);
size_t collect_extra_buckets(const struct collector *c, const struct x_bucket **b);
/* The collector's one copy of a name (collect.c); NULL when out of memory. */
const char *intern_name(struct collector *c, const char *s, size_t len);

/* One symbolizer answer (collect_profile.c). Processes that map the same file (every cc1 of a
 * build) ask the same questions: each is answered once. */
struct sym_memo {
	const char *file, *build_id;	/* interned: compared by pointer */
	uint64_t vaddr;
	struct sym_frame *frames;	/* a copy; the strings are the symbolizer's */
	int n;
};

/* What symbolizing has learnt, kept by the collector from one profile to
 * the next (memprof run --split builds one per process image). */
struct sym_cache {
	struct symbolizer *sym;
	struct sym_memo *memo;
	size_t n_memo, cap_memo;
	struct hashmap memo_index;	/* hash of (file, build id, vaddr) (+ probe) -> memo */
};
void sym_cache_free(struct sym_cache *sc);

struct collector {
	struct arena arena;
	struct collector_stats stats;
	struct hashmap proc_index;	/* pid << 32 | incarnation -> index + 1 */
	struct c_proc *proc;
	size_t n_proc, cap_proc;
	struct c_mapping *mapping;
	size_t n_mapping, cap_mapping;
	struct c_frame *frame;
	size_t n_frame, cap_frame;
	struct c_stack *stack;
	size_t n_stack, cap_stack;
	struct c_bucket *bucket;
	size_t n_bucket, cap_bucket;
	struct hashmap bucket_index;	/* hash of (proc, stack, size) (+ probe) -> index */
	struct hashmap strings;		/* interned names */
	int root;			/* first process that started, -1 before */
	uint64_t span_start_ns, span_end_ns;	/* the run as memprof saw it; 0: unknown */
	/* The clock (collector_tick): records fed are taken to happen now. */
	uint64_t now_ns;	/* 0 until the first tick: no timeline */
	uint64_t grid_start_ns, interval_ns;
	uint64_t grid_now;	/* grid index of now_ns */
	bool ticked;
	struct sym_cache *symbols;	/* made by the first collector_profile */
	uint32_t *dirty;	/* processes that changed in this interval */
	size_t n_dirty, cap_dirty;
	struct c_extra *extra;	/* mappings and pools (collect_extra.c); NULL: none yet */
	bool want_mmap;		/* memprof run --mmap: the mmap types even if empty */
};

/* Puts what the processes did in the interval under way into their
 * timelines (collect.c). */
void flush_intervals(struct collector *c);

/* The timeline's first interval: 10 ms, doubling as the run grows. */
#define TIMELINE_FIRST_INTERVAL_NS 10000000u

/* Go's scaling of a heap sample (runtime/pprof scaleHeapSample): a block of
 * size s is sampled with probability 1 - exp(-s/rate), so each sampled one
 * stands for 1 / (1 - exp(-s/rate)) blocks. */
static inline double heap_scale(uint64_t size, int64_t rate)
{
	if (rate <= 1 || size == 0)
		return 1;
	return 1 / (1 - exp(-(double)size / (double)rate));
}

/* Blocks of bucket b live at the peak of its process. */
static inline uint64_t bucket_peak_live(const struct collector *c, const struct c_bucket *b)
{
	return b->stamp == c->proc[b->proc].epoch ? b->peak_live : b->allocs - b->frees;
}

#endif
