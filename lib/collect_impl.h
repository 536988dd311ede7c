/* collect_impl.h - the collector's state, shared by collect.c (feeding
 * records in) and collect_profile.c (building the profile). Private to
 * those two files. */
#ifndef MEMPROF_COLLECT_IMPL_H
#define MEMPROF_COLLECT_IMPL_H

#include <math.h>
#include <stdbool.h>
#include <stdint.h>

#include "addrmap.h"
#include "arena.h"
#include "collect.h"
#include "hashmap.h"
#include "timeline.h"
#include "tracker/records.h"

#define NO_MAPPING UINT32_MAX
#define SWITCHES_KEPT 16	/* sampling on/off switches kept per image */

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
	size_t n_mod, cap_mod;	/* the current module map */
	bool map_used;		/* a stack came since it was sent */
	/* Maps stacks came in before (see c_modmap): a stack's map id is
	 * map_alias[id] in old_maps, or the current map when id ==
	 * n_map_ids. Identical maps are kept once (a plugin loaded and
	 * closed again and again gives two maps, not thousands). */
	struct c_modmap *old_maps;
	size_t n_old_maps, cap_old_maps;
	uint32_t *map_alias;
	size_t n_map_ids, cap_map_ids;
	struct hashmap old_map_index;	/* hash of a map's modules (+ probe) -> old_maps index */
	uint32_t *stack_ix;	/* tracker's stack id - 1 -> index into collector.stack */
	size_t n_stack_ix, cap_stack_ix;	/* the tracker numbers them 1, 2, 3... */
	struct addrmap live;	/* block address -> LIVE_VALUE(bucket, size, class) */
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
	/* sampling switched on and off (REC_SAMPLING): the first switches,
	 * for the profile's comment; more are counted */
	bool paused;
	uint64_t switch_ns[SWITCHES_KEPT];
	bool switch_on[SWITCHES_KEPT];
	unsigned n_switch;
	/* memprof agent came back (REC_RECONNECT): in use counts from then */
	uint64_t back_ns, away_since_ns, away_lost, away_unread;
	struct c_point *points;	/* the heap over time (see timeline.h) */
	size_t n_points, cap_points;
	uint64_t first_point;	/* grid index of points[0] */
};

struct c_point {		/* one grid interval of a process's timeline */
	double inuse;		/* the highest heap in use during it */
	double allocated;	/* bytes allocated during it */
	int64_t rss;		/* the highest RSS seen in it; -1: unknown */
};

/* A module map of a process: its executable segments when a stack came.
 * The tracker resends the whole map when objects come or go; a map that
 * stacks were read against is kept (c_proc.old_maps), so that their pcs
 * are resolved, when a profile is built, in the map they ran in (a later
 * dlclose may put another object at the same addresses). */
struct c_modmap {
	struct c_module *mod;
	size_t n_mod;
};

/* A stack: its frames, leaf first (collector.frame[first..first+n)),
 * each the index of its return address among the run's distinct ones
 * (collector.pc): 4 bytes a frame, where the addresses would be 8, and a
 * profile resolves each distinct address once. */
struct c_stack {
	size_t first;		/* index into collector.frame */
	uint32_t proc;		/* the process image that sent it */
	uint32_t map;		/* its module map's id (see c_proc.map_alias) */
	uint16_t n;
	bool truncated;		/* deeper than the tracker unwinds */
	uint32_t buckets;	/* its first bucket (c_bucket.next), NO_BUCKET: none */
};

/* A distinct return address of the run: pc as process image proc had it
 * in its module map `map` (see c_proc.map_alias; resolved to modules only
 * when a profile is built). */
struct c_pc {
	uint64_t pc;
	uint32_t proc, map;
};

/* The last stack fed (see add_stack), its frames root-aligned: frame k of
 * an n-frame stack is in slot MEMPROF_MAX_FRAMES - n + k, so that a stack
 * that shares callers with it finds them in the same slots. Stacks come
 * in sharing most of their frames: those are a compare, not a lookup. */
struct c_last_stack {
	uint32_t proc, map;
	uint16_t n;		/* 0: none (the next stack looks every frame up) */
	uint64_t pc[MEMPROF_MAX_FRAMES] __attribute__((aligned(16)));	/* see same4 */
	uint32_t ix[MEMPROF_MAX_FRAMES];	/* index into collector.pc */
	/* the addresses looked up lately, of (proc, map) number ctx: in
	 * front of collector.pc_index, as stacks share most callers */
	uint32_t ctx;		/* numbers (proc, map) as it changes; 0: none */
	struct c_seen_pc {
		uint64_t pc;
		uint32_t ix, ctx;
	} seen[256];
};
#define NO_BUCKET UINT32_MAX

struct c_bucket {
	uint32_t proc, stack;
	uint32_t next;		/* the stack's next bucket (its list, most recent first) */
	uint64_t size;		/* the size class: the bytes label */
	uint64_t allocs, frees;	/* sampled blocks, as received */
	double alloc_n, alloc_b;	/* estimated blocks and bytes allocated */
	double live_n, live_b;	/* estimated blocks and bytes live now */
	uint64_t stamp;		/* the process's epoch when it last changed */
	double peak_n, peak_b;	/* live at the peak, if stamp is that epoch */
};

/* The size class of a block of size bytes: Go's classes up to 32 KiB
 * (runtime/sizeclasses.go: up to ~19% above the size, 4097 -> 4864), then
 * 8 classes per power of two (at most 12.5% above); sizes above 64 GiB are
 * their own class. The live
 * table keeps class - size beside the bucket index (LIVE_VALUE), so the
 * class is never more than 2^32 - 1 above the size. */
uint64_t size_class(uint64_t size);
#define LIVE_VALUE(bucket, size, class) ((uint64_t)(bucket) | ((class) - (size)) << 32)

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

struct sym_frame;
struct sym_warm;

/* One symbolizer answer (collect_profile.c). Processes that map the same file (every cc1 of a
 * build) ask the same questions: each is answered once. */
struct sym_memo {
	const char *key;	/* interned build id, or file if none: compared by pointer */
	uint64_t vaddr;
	struct sym_frame *frames;	/* a copy; the strings are the symbolizer's */
	int n;
};

/* What symbolizing has learnt, kept by the collector from one profile to
 * the next (memprof run --split builds one per process image). */
struct sym_cache {
	struct symbolizer *sym;	/* the warming thread's while it has a batch */
	struct sym_memo *memo;
	size_t n_memo, cap_memo;
	struct hashmap memo_index;	/* hash of (build id or file, vaddr) (+ probe) -> memo */
	struct sym_warm *warm;	/* collect_warm.c's thread; NULL: none yet */
};
/* The collector's, made on first use; NULL when out of memory. */
struct sym_cache *sym_cache(struct collector *c);
/* Stops the warming thread, and frees everything. */
void sym_cache_free(struct sym_cache *sc);
/* The answer for (key, vaddr) (key: an interned build id, or file), or
 * NULL when there is none yet. */
const struct sym_memo *sym_memo_find(const struct sym_cache *sc, const char *key, uint64_t vaddr);
/* Keeps n frames (copied) as the answer for (key, vaddr), counted in
 * stats.symbolized, unless there is one already. Returns 1 when kept, 0
 * when there was one, -ENOMEM. */
int sym_memo_add(struct collector *c, const char *key, uint64_t vaddr,
		 const struct sym_frame *frames, int n);
/* Whether the file of mapping cm, whose build id on disk is on_disk now,
 * may be symbolized in: the process did not say which file it loaded, or
 * this is that one. Gone, or without a build id now, it is not (a lookup
 * would find nothing, or another file's functions). */
bool sym_file_usable(const struct c_mapping *cm, const char *on_disk);
/* The mapping of pc in map mm, NO_MAPPING if none; *last: the module found
 * last, tried first (the frames of a stack are mostly in one module). */
uint32_t modmap_find(struct c_modmap mm, uint64_t pc, size_t *last);
/* collect_warm.c: waits for the warming thread's batch, if any (cancel:
 * told to leave the rest of it undone), and keeps its answers. Then
 * c->symbols->sym is the caller's until the next collector_warm. */
void sym_warm_settle(struct collector *c, bool cancel);
/* collect_warm.c: ends the warming thread (after its batch). */
void sym_warm_free(struct sym_cache *sc);

struct collector {
	struct arena arena;
	uint32_t bucket_cache[4096];	/* (stack, class) -> bucket, hashed (feed_bucket) */
	struct collector_stats stats;
	struct hashmap proc_index;	/* pid << 32 | incarnation -> index + 1 */
	struct c_proc *proc;
	size_t n_proc, cap_proc;
	struct c_mapping *mapping;
	size_t n_mapping, cap_mapping;
	uint32_t *frame;	/* the stacks' frames (see c_stack) */
	size_t n_frame, cap_frame;
	struct c_pc *pc;	/* the run's distinct return addresses */
	size_t n_pc, cap_pc;
	struct hashmap pc_index;	/* hash of a c_pc (+ probe) -> index in pc */
	struct c_last_stack last;	/* for feeding only */
	struct c_stack *stack;
	size_t n_stack, cap_stack;
	struct c_bucket *bucket;
	size_t n_bucket, cap_bucket;
	struct hashmap strings;		/* interned names */
	int root;			/* first process that started, -1 before */
	uint64_t span_start_ns, span_end_ns;	/* the run as memprof saw it; 0: unknown */
	/* The clock (collector_tick): records fed are taken to happen now. */
	uint64_t now_ns;	/* 0 until the first tick: no timeline */
	uint64_t grid_start_ns, interval_ns;
	uint64_t grid_now;	/* grid index of now_ns */
	bool ticked;
	struct sym_cache *symbols;	/* made by the first collector_profile or collector_warm */
	size_t warm_next;		/* collector_warm's next address (index into pc) */
	bool no_symbolize;		/* collector_set_symbolize */
	uint32_t *dirty;	/* processes that changed in this interval */
	size_t n_dirty, cap_dirty;
	struct c_extra *extra;	/* mappings and pools (collect_extra.c); NULL: none yet */
	bool want_mmap;		/* memprof run --mmap: the mmap types even if empty */
	bool spent;		/* its last profile is built (collector_meta.last) */
};

/* The comments that say when sampling was off and which figures are
 * partial (an agent that came back), for the images selected (image < 0:
 * all). Returns 0 or -ENOMEM. */
struct profile;
int collect_add_switch_comments(const struct collector *c, struct profile *p, long image);

/* Puts what the processes did in the interval under way into their
 * timelines (collect.c). */
void flush_intervals(struct collector *c);

/* The timeline's first interval: 10 ms, doubling as the run grows. */
#define TIMELINE_FIRST_INTERVAL_NS 10000000u

/* Module map `map` of process image proc (see c_proc.map_alias). */
static inline struct c_modmap proc_modmap(const struct collector *c, uint32_t proc, uint32_t map)
{
	const struct c_proc *p = &c->proc[proc];
	if (map < p->n_map_ids)
		return p->old_maps[p->map_alias[map]];
	return (struct c_modmap){ p->mod, p->n_mod };
}

/* The module map stack st was read against. */
static inline struct c_modmap stack_modmap(const struct collector *c, const struct c_stack *st)
{
	return proc_modmap(c, st->proc, st->map);
}

/* Go's scaling of a heap sample (runtime/pprof scaleHeapSample): a block of
 * size s is sampled with probability 1 - exp(-s/rate), so each sampled one
 * stands for 1 / (1 - exp(-s/rate)) blocks. */
static inline double heap_scale(uint64_t size, int64_t rate)
{
	if (rate <= 1 || size == 0)
		return 1;
	return 1 / (1 - exp(-(double)size / (double)rate));
}

/* The estimated blocks (*n) and bytes (*bytes) of bucket b live at the
 * peak of its process. */
static inline void bucket_peak(const struct collector *c, const struct c_bucket *b, double *n,
			       double *bytes)
{
	bool then = b->stamp == c->proc[b->proc].epoch;
	*n = then ? b->peak_n : b->live_n;
	*bytes = then ? b->peak_b : b->live_b;
}

#endif
