/* collect.c - the collector's intake: records from rings, batches and
 * recordings, decoded with the one codec (lib/tracker/records.h) and
 * applied to per-process state (see collect_impl.h). */
#include "collect.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#ifdef __SSE2__
#include <emmintrin.h>
#endif

#include "collect_impl.h"
#include "profile.h"
#include "shell.h"

static struct c_point *point_at(struct c_proc *p, uint64_t g);
static void size_class_init(void);

struct collector *collector_new(void)
{
	struct collector *c = calloc(1, sizeof(*c));
	if (c)
		c->root = -1;
	size_class_init();	/* the feed's inline size_class needs the tables */
	return c;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_proc; i++) {
		free(c->proc[i].mod);
		for (size_t k = 0; k < c->proc[i].n_old_maps; k++)
			free(c->proc[i].old_maps[k].mod);
		free(c->proc[i].old_maps);
		free(c->proc[i].map_alias);
		hashmap_release(&c->proc[i].old_map_index);
		free(c->proc[i].stack_ix);
		free(c->proc[i].points);
		addrmap_release(&c->proc[i].live);
	}
	collect_extra_free(c);
	free(c->proc);
	free(c->dirty);
	sym_cache_free(c->symbols);
	free(c->mapping);
	free(c->frame);
	free(c->pc);
	hashmap_release(&c->pc_index);
	free(c->stack);
	free(c->bucket);
	hashmap_release(&c->proc_index);
	hashmap_release(&c->strings);
	arena_release(&c->arena);
	free(c);
}

void collector_set_symbolize(struct collector *c, bool on)
{
	c->no_symbolize = !on;
}

const struct collector_stats *collector_stats(const struct collector *c)
{
	return &c->stats;
}

bool collector_bypassed(const struct collector *c)
{
	if (c->stats.allocs)
		return false;
	for (size_t i = 0; i < c->n_proc; i++)
		if (c->proc[i].started && (!c->proc[i].ended || c->proc[i].calls_seen))
			return false;	/* it did allocate through us, or we cannot tell */
	return c->stats.processes > 0;
}

bool collector_proc_info(const struct collector *c, size_t i, struct collector_proc_info *info)
{
	if (i >= c->n_proc)
		return false;
	const struct c_proc *p = &c->proc[i];
	uint64_t lost = 0;
	for (int k = 0; k < LOST_WHY_MAX; k++)
		lost += p->lost[k];
	*info = (struct collector_proc_info){ p->pid, p->incarnation, p->exe, p->cmdline, p->allocs,
					      p->ended || p->exec_called, p->gone, lost,
					      p->lost[LOST_COLLECTOR], p->bad_records,
					      false, 0, 0, 0, 0 };
	info->sampling = !p->paused;
	info->start_ns = p->start_ns;
	info->partial_since_ns = p->back_ns;
	info->away_since_ns = p->away_since_ns;
	info->away_lost = p->away_lost;
	return true;
}

/* "07:40:01.123Z" (UTC), the day too when it is not today's. */
static void clock_time(char *out, size_t n, uint64_t ns, uint64_t ref_ns)
{
	time_t t = (time_t)(ns / 1000000000u), ref = (time_t)(ref_ns / 1000000000u);
	struct tm tm, rtm;
	gmtime_r(&t, &tm);
	gmtime_r(&ref, &rtm);
	size_t k = tm.tm_yday != rtm.tm_yday || tm.tm_year != rtm.tm_year
			   ? strftime(out, n, "%Y-%m-%dT%H:%M:%S", &tm) : strftime(out, n, "%H:%M:%S", &tm);
	snprintf(out + k, n - k, ".%03uZ", (unsigned)(ns / 1000000u % 1000u));
}

int collect_add_switch_comments(const struct collector *c, struct profile *prof, long image)
{
	for (size_t i = 0; i < c->n_proc; i++) {
		const struct c_proc *p = &c->proc[i];
		if ((image >= 0 && (size_t)image != i) || !p->started || (!p->n_switch && !p->back_ns))
			continue;
		const char *prog = p->exe ? strrchr(p->exe, '/') : NULL;
		prog = prog ? prog + 1 : p->exe ? p->exe : "";
		char line[1024], t[64];
		size_t k = 0;
		if (p->n_switch) {
			k += (size_t)snprintf(line + k, sizeof(line) - k, "sampling (pid %u, %s):", p->pid, prog);
			for (unsigned j = 0; j < p->n_switch && j < SWITCHES_KEPT && k < sizeof(line); j++) {
				clock_time(t, sizeof(t), p->switch_ns[j], p->start_ns);
				k += (size_t)snprintf(line + k, sizeof(line) - k, "%s %s %s", j ? ";" : "",
						      p->switch_on[j] ? "on at" : "off at", t);
			}
			if (p->n_switch > SWITCHES_KEPT && k < sizeof(line))
				k += (size_t)snprintf(line + k, sizeof(line) - k, "; %u more switches",
						      p->n_switch - SWITCHES_KEPT);
			if (k < sizeof(line))
				snprintf(line + k, sizeof(line) - k, "; %s at the end (no allocation is "
					 "sampled while off)", p->paused ? "off" : "on");
			if (profile_add_comment(prof, line) < 0)
				return -ENOMEM;
		}
		if (p->back_ns) {
			char since[64];
			clock_time(t, sizeof(t), p->back_ns, p->start_ns);
			clock_time(since, sizeof(since), p->away_since_ns, p->start_ns);
			snprintf(line, sizeof(line), "partial (pid %u, %s): collected since %s only (the "
				 "collector was away from %s: %llu records lost, %llu bytes unread); in "
				 "use counts blocks allocated since %s", p->pid, prog, t, since,
				 (unsigned long long)p->away_lost, (unsigned long long)p->away_unread, t);
			if (profile_add_comment(prof, line) < 0)
				return -ENOMEM;
		}
	}
	return 0;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return (x > y) - (x < y);
}

size_t collector_distinct_pids(const struct collector *c)
{
	uint32_t *pid = malloc((c->n_proc ? c->n_proc : 1) * sizeof(*pid));
	if (!pid)
		return c->stats.processes;
	for (size_t i = 0; i < c->n_proc; i++)
		pid[i] = c->proc[i].pid;
	qsort(pid, c->n_proc, sizeof(*pid), cmp_u32);
	size_t d = 0;
	for (size_t i = 0; i < c->n_proc; i++)
		d += i == 0 || pid[i] != pid[i - 1];
	free(pid);
	return d;
}

void collector_set_span(struct collector *c, uint64_t start_ns, uint64_t end_ns)
{
	c->span_start_ns = start_ns;
	c->span_end_ns = end_ns;
}

/* The grid is full: every two neighbours become one point (the higher
 * heap in use and RSS, the sum allocated) and the interval doubles. */
static void halve_grid(struct collector *c)
{
	for (size_t i = 0; i < c->n_proc; i++) {
		struct c_proc *p = &c->proc[i];
		size_t n = 0;
		for (size_t k = 0; k < p->n_points; k++) {
			const struct c_point *pt = &p->points[k];
			uint64_t g = (p->first_point + k) / 2;
			if (n && (p->first_point / 2 + n - 1) == g) {
				struct c_point *to = &p->points[n - 1];
				to->inuse = pt->inuse > to->inuse ? pt->inuse : to->inuse;
				to->rss = pt->rss > to->rss ? pt->rss : to->rss;
				to->allocated += pt->allocated;
			} else {
				p->points[n++] = *pt;
			}
		}
		p->n_points = n;
		p->first_point /= 2;
	}
	c->interval_ns *= 2;
}

bool collector_tick(struct collector *c, uint64_t now_ns)
{
	if (!c->now_ns) {
		c->grid_start_ns = c->span_start_ns && c->span_start_ns <= now_ns ? c->span_start_ns
										  : now_ns;
		c->interval_ns = TIMELINE_FIRST_INTERVAL_NS;
	}
	if (now_ns < c->now_ns)
		now_ns = c->now_ns;	/* a clock that went back: time stands still */
	c->now_ns = now_ns;
	uint64_t g = (now_ns - c->grid_start_ns) / c->interval_ns;
	if (g != c->grid_now)
		flush_intervals(c);
	while (g >= TIMELINE_MAX_POINTS) {
		halve_grid(c);
		g = (now_ns - c->grid_start_ns) / c->interval_ns;
	}
	bool moved = g != c->grid_now || !c->ticked;
	c->grid_now = g;
	c->ticked = true;
	return moved;
}

void collector_note_rss(struct collector *c, uint32_t pid, int64_t rss)
{
	struct c_proc *last = NULL;	/* the image pid runs now */
	for (size_t i = 0; i < c->n_proc; i++) {
		struct c_proc *p = &c->proc[i];
		if (p->pid == pid && p->started && !p->gone && (!last || p->start_ns >= last->start_ns))
			last = p;
	}
	struct c_point *pt = last && c->now_ns ? point_at(last, c->grid_now) : NULL;
	if (pt && rss > pt->rss)
		pt->rss = rss;
}

void collector_process_gone(struct collector *c, uint32_t pid, uint64_t time_ns)
{
	/* the images of pid: the last one (by start) is the one that went */
	struct c_proc *last = NULL;
	for (size_t i = 0; i < c->n_proc; i++) {
		struct c_proc *p = &c->proc[i];
		if (p->pid == pid && !p->gone && (!last || p->start_ns >= last->start_ns))
			last = p;
	}
	for (size_t i = 0; i < c->n_proc; i++) {
		struct c_proc *p = &c->proc[i];
		if (p->pid != pid || p->gone)
			continue;
		p->gone = true;
		if (p == last && (!p->ended || !p->end_ns))	/* no END of its own */
			p->end_ns = time_ns;
	}
}

static struct c_proc *get_proc(struct collector *c, uint32_t pid, uint32_t incarnation);
static const char *intern(struct collector *c, const char *s, size_t len);

void collector_add_lost(struct collector *c, uint32_t pid, uint32_t incarnation, int why,
			uint64_t n)
{
	struct c_proc *p = get_proc(c, pid, incarnation);
	if (!p || why < 0 || why >= LOST_WHY_MAX)
		return;
	p->lost[why] += n;
	c->stats.lost += n;
}

void collector_add_ring_wait(struct collector *c)
{
	c->stats.ring_waits++;
}

void collector_add_thread_events(struct collector *c, uint64_t n)
{
	c->stats.thread_events += n;
}

static const char *intern(struct collector *c, const char *s, size_t len)
{
	const char *r = hashmap_intern(&c->strings, &c->arena, s, len);
	return r ? r : "";
}

const char *intern_name(struct collector *c, const char *s, size_t len)
{
	return intern(c, s, len);
}

static struct c_proc *get_proc(struct collector *c, uint32_t pid, uint32_t incarnation)
{
	bool inserted;
	uint64_t *slot = hashmap_put(&c->proc_index, (uint64_t)pid << 32 | incarnation, &inserted);
	if (!slot)
		return NULL;
	if (!inserted)
		return &c->proc[*slot - 1];
	if (array_grow(&c->proc, &c->cap_proc, c->n_proc, sizeof(*c->proc)) < 0) {
		hashmap_remove(&c->proc_index, (uint64_t)pid << 32 | incarnation);
		return NULL;
	}
	struct c_proc *p = &c->proc[c->n_proc];
	memset(p, 0, sizeof(*p));
	p->pid = pid;
	p->incarnation = incarnation;
	p->exe = "";
	p->cmdline = "";
	p->rate = 512 * 1024;
	*slot = ++c->n_proc;
	return p;
}

/* The mapping for a segment of a process (one per process and segment). */
static uint32_t add_mapping(struct collector *c, uint32_t proc, const char *file,
			    const char *build_id, uint64_t bias, uint64_t start, uint64_t end,
			    uint64_t offset)
{
	for (size_t i = c->n_mapping; i-- > 0;) {
		const struct c_mapping *m = &c->mapping[i];
		if (m->proc != proc)
			break;	/* a process's mappings are made together */
		if (m->start == start && m->end == end && m->file == file &&
		    m->build_id == build_id)
			return (uint32_t)i;
	}
	if (array_grow(&c->mapping, &c->cap_mapping, c->n_mapping, sizeof(*c->mapping)) < 0)
		return NO_MAPPING;
	c->mapping[c->n_mapping] =
		(struct c_mapping){ file, build_id, bias, start, end, offset, proc };
	return (uint32_t)c->n_mapping++;
}

/* Go's size classes (runtime/sizeclasses.go), 8 bytes to 32 KiB. */
static const uint32_t go_classes[] = {
	8, 16, 24, 32, 48, 64, 80, 96, 112, 128, 144, 160, 176, 192, 208, 224, 240, 256,
	288, 320, 352, 384, 416, 448, 480, 512, 576, 640, 704, 768, 896, 1024, 1152, 1280,
	1408, 1536, 1792, 2048, 2304, 2688, 3072, 3200, 3456, 4096, 4864, 5376, 6144, 6528,
	6784, 6912, 8192, 9472, 9728, 10240, 10880, 12288, 13568, 14336, 16384, 18432, 19072,
	20480, 21760, 24576, 27264, 28672, 32768,
};

/* Go's lookup tables (size_to_class8, size_to_class128): the index of
 * the class of sizes up to 1024 by 8-byte steps, and up to 32768 by 128. */
static uint8_t class8[1024 / 8 + 1], class128[(32768 - 1024) / 128 + 1];
/* the classes themselves, up to 1 KiB by 8 bytes (for the feed) */
static uint16_t small_class[1024 / 8 + 1];

static bool class_tables;

static void size_class_init(void)
{
	if (class_tables)
		return;
	class_tables = true;
	size_t k = 0;
	for (size_t i = 0; i < sizeof(class8); i++) {
		while (go_classes[k] < i * 8)
			k++;
		class8[i] = (uint8_t)k;
		small_class[i] = (uint16_t)go_classes[k];
	}
	for (size_t i = 0; i < sizeof(class128); i++) {
		while (go_classes[k] < 1024 + i * 128)
			k++;
		class128[i] = (uint8_t)k;
	}
}

uint64_t size_class(uint64_t size)
{
	if (size == 0)
		return 0;
	size_class_init();
	if (size <= 1024)
		return go_classes[class8[(size + 7) / 8]];
	if (size <= 32768)
		return go_classes[class128[(size - 1024 + 127) / 128]];
	if (size > (1ULL << 36))
		return size;
	/* (2^k, 2^(k+1)] in 8 steps of 2^(k-3) */
	int k = 63 - __builtin_clzll(size - 1);
	uint64_t step = 1ULL << (k - 3);
	return (size + step - 1) & ~(step - 1);
}

static int64_t new_bucket(struct collector *c, uint32_t stack, uint64_t size, uint64_t epoch);

/* new_bucket's way when the array is full. */
static __attribute__((noinline)) int64_t new_bucket_grow(struct collector *c, uint32_t stack,
							 uint64_t size, uint64_t epoch)
{
	if (array_grow(&c->bucket, &c->cap_bucket, c->n_bucket, sizeof(*c->bucket)) < 0)
		return -ENOMEM;
	return new_bucket(c, stack, size, epoch);
}

/* A new bucket of (stack, size class) at the front of the stack's list,
 * stamped with its process's epoch; or -ENOMEM. A leaf but when the array
 * is full (new_bucket_grow), so that it saves no registers: at --rate 1,
 * every stack that is new comes here. */
static __attribute__((noinline)) int64_t new_bucket(struct collector *c, uint32_t stack,
						    uint64_t size, uint64_t epoch)
{
	/* the live table keeps bucket indices in 32 bits (LIVE_VALUE) */
	if (c->n_bucket >= NO_BUCKET)
		return -ENOMEM;
	if (c->n_bucket >= c->cap_bucket)
		return new_bucket_grow(c, stack, size, epoch);
	struct c_stack *st = &c->stack[stack];
	/* field by field: as a compound literal, gcc zeroes it with a rep
	 * stosq (12 steps) first */
	struct c_bucket *b = &c->bucket[c->n_bucket];
	b->proc = st->proc;
	b->stack = stack;
	b->next = st->buckets;
	b->size = size;
	b->allocs = b->frees = 0;
	b->alloc_n = b->alloc_b = b->live_n = b->live_b = 0;
	b->stamp = epoch;	/* none live at the last peak */
	b->peak_n = b->peak_b = 0;
	_Static_assert(sizeof(*b) == 96, "a new field of struct c_bucket: set it here");
	st->buckets = (uint32_t)c->n_bucket;
	return (int64_t)c->n_bucket++;
}

/* The bucket of (stack, size class) (the stack's process's), made on first
 * use, of process p. A stack's buckets are a list, the one used last first: a site
 * allocates in few classes, mostly the same one again (a list of a few
 * hundred at most: there are no more classes), and no index is kept. */
static __attribute__((noinline)) int64_t bucket_for(struct collector *c, const struct c_proc *p,
						    uint32_t stack, uint64_t size)
{
	struct c_stack *st = &c->stack[stack];
	uint32_t *link = &st->buckets;
	for (uint32_t i = *link; i != NO_BUCKET; link = &c->bucket[i].next, i = *link) {
		if (c->bucket[i].size != size)
			continue;
		if (link != &st->buckets) {	/* to the front */
			*link = c->bucket[i].next;
			c->bucket[i].next = st->buckets;
			st->buckets = i;
		}
		return i;
	}
	return new_bucket(c, stack, size, p->epoch);
}

/* Empties p's module map for a new one: a map stacks came in stays theirs
 * (c_modmap); one none did is reused. 0 or -ENOMEM. */
struct map_want {
	const struct c_proc *p;
};

/* Field by field: struct c_module has padding. */
static bool same_map(uint64_t value, const void *ctx)
{
	const struct c_proc *p = ((const struct map_want *)ctx)->p;
	const struct c_modmap *m = &p->old_maps[value];
	if (m->n_mod != p->n_mod)
		return false;
	for (size_t i = 0; i < p->n_mod; i++)
		if (m->mod[i].start != p->mod[i].start || m->mod[i].end != p->mod[i].end ||
		    m->mod[i].mapping != p->mod[i].mapping)
			return false;
	return true;
}

static uint64_t map_hash(const struct c_proc *p)
{
	uint64_t h = p->n_mod;
	for (size_t i = 0; i < p->n_mod; i++)
		h = hash_u64(h ^ p->mod[i].start ^ p->mod[i].end * 31 ^ (uint64_t)p->mod[i].mapping << 40);
	return h;
}

static int new_map(struct c_proc *p)
{
	if (p->map_used) {
		/* its id now names it among the old maps: an identical one if
		 * there is one, else itself */
		struct map_want w = { p };
		uint64_t key;
		bool inserted;
		uint64_t h = map_hash(p);
		if (array_grow(&p->map_alias, &p->cap_map_ids, p->n_map_ids, sizeof(*p->map_alias)) < 0 ||
		    array_grow(&p->old_maps, &p->cap_old_maps, p->n_old_maps, sizeof(*p->old_maps)) < 0)
			return -ENOMEM;
		uint64_t *slot = hashmap_probe(&p->old_map_index, h, same_map, &w, &inserted, &key);
		if (!slot)
			return -ENOMEM;
		if (inserted) {
			*slot = p->n_old_maps;
			p->old_maps[p->n_old_maps++] = (struct c_modmap){ p->mod, p->n_mod };
			p->mod = NULL;
			p->cap_mod = 0;
		}
		p->map_alias[p->n_map_ids++] = (uint32_t)*slot;
		p->map_used = false;
	}
	p->n_mod = 0;
	return 0;
}

/* A forked child starts with its parent's module map. */
static int copy_modules(struct collector *c, uint32_t pi, uint32_t ppid, uint32_t parent_inc)
{
	uint64_t *slot = hashmap_get(&c->proc_index, (uint64_t)ppid << 32 | parent_inc);
	if (!slot)
		return 0;
	const struct c_proc *parent = &c->proc[*slot - 1];
	struct c_proc *p = &c->proc[pi];
	if (new_map(p) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < parent->n_mod; i++) {
		if (array_grow(&p->mod, &p->cap_mod, p->n_mod, sizeof(*p->mod)) < 0)
			return -ENOMEM;
		p->mod[p->n_mod++] = parent->mod[i];
	}
	return 0;
}

static const char *hex_build_id(struct collector *c, const uint8_t *id, size_t n)
{
	char hex[2 * MEMPROF_BUILD_ID_MAX + 1];
	for (size_t i = 0; i < n; i++)
		snprintf(hex + 2 * i, 3, "%02x", id[i]);
	hex[2 * n] = '\0';
	return intern(c, hex, 2 * n);
}

#define NO_STACK UINT32_MAX	/* a stack id whose REC_STACK never came */
/* the widest gap taken: 16 batches full of the smallest stack records */
#define MAX_STACK_GAP (16 * (MEMPROF_BATCH_MAX / REC_STACK_LEN(0)))

struct pc_want {
	const struct collector *c;
	struct c_pc pc;
};

static bool same_pc(uint64_t value, const void *ctx)
{
	const struct pc_want *w = ctx;
	const struct c_pc *d = &w->c->pc[value];
	return d->pc == w->pc.pc && d->proc == w->pc.proc && d->map == w->pc.map;
}

/* The index of return address pc (process image proc, module map `map`)
 * among the run's distinct ones (collector.pc), made on first use; or
 * -ENOMEM. */
static int64_t intern_pc(struct collector *c, uint64_t pc, uint32_t proc, uint32_t map)
{
	struct pc_want w = { c, { pc, proc, map } };
	uint64_t key;
	bool inserted;
	uint64_t h = hash_u64(pc ^ ((uint64_t)map << 32 | proc) * 0x9e3779b97f4a7c15ULL);
	uint64_t *slot = hashmap_probe(&c->pc_index, h, same_pc, &w, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (inserted) {
		if (c->n_pc >= UINT32_MAX ||
		    array_grow(&c->pc, &c->cap_pc, c->n_pc, sizeof(*c->pc)) < 0) {
			hashmap_remove(&c->pc_index, key);
			return -ENOMEM;
		}
		c->pc[c->n_pc] = w.pc;
		*slot = c->n_pc++;
	}
	return (int64_t)*slot;
}

/* fill_slot's lookup, when the address is not among those seen lately. */
static __attribute__((noinline)) int fill_slot_slow(struct collector *c, struct c_seen_pc *e,
						    uint64_t pc, uint32_t pi, uint32_t map)
{
	int64_t ix = intern_pc(c, pc, pi, map);
	if (ix < 0)
		return -ENOMEM;
	*e = (struct c_seen_pc){ pc, (uint32_t)ix, c->last.ctx };
	return 0;
}

/* Slot s of the last stack (collector.last) takes return address pc of
 * image pi in map `map` (last->ctx). 0 or -ENOMEM (the slots then still
 * hold pairs that agree). */
static inline int fill_slot(struct collector *c, size_t s, uint64_t pc, uint32_t pi, uint32_t map)
{
	struct c_last_stack *last = &c->last;
	struct c_seen_pc *e = &last->seen[(pc * 0x9e3779b97f4a7c15ULL) >> 56];
	if ((e->pc != pc || e->ctx != last->ctx) && fill_slot_slow(c, e, pc, pi, map) < 0)
		return -ENOMEM;
	last->pc[s] = pc;
	last->ix[s] = e->ix;
	return 0;
}

/* Whether the four return addresses at in are those in slots l[0..4). */
static inline bool same4(const uint8_t *in, const uint64_t *l)
{
#ifdef __SSE2__
	/* two 32-bit lanes a pc, all of them equal: two compares and an and,
	 * where xors, an or and a compare with zero take two more */
	__m128i x = _mm_and_si128(_mm_cmpeq_epi32(_mm_loadu_si128((const void *)in),
						  _mm_load_si128((const void *)l)),
				  _mm_cmpeq_epi32(_mm_loadu_si128((const void *)(in + 16)),
						  _mm_load_si128((const void *)(l + 2))));
	return _mm_movemask_epi8(x) == 0xffff;
#else
	uint64_t v[4];
	memcpy(v, in, sizeof(v));
	return v[0] == l[0] && v[1] == l[1] && v[2] == l[2] && v[3] == l[3];
#endif
}

/* A REC_STACK: stack id of process image pi (p), n frames (at most
 * MEMPROF_MAX_FRAMES) at in, rec_pc's layout. 0, -EINVAL, -ENOMEM.
 * Inline in the feed's loop: as a call it cost ~25 instructions a stack
 * more (prologue, spills). */
static inline __attribute__((always_inline)) int add_stack(struct collector *c, struct c_proc *p,
							   uint32_t pi, uint32_t id, uint8_t truncated,
							   uint16_t n, const uint8_t *in)
{
	/* ids come 1, 2, 3...; a gap (stacks in a batch that was lost or
	 * refused) is left unknown, within what a few batches can hold */
	if (id <= p->n_stack_ix || id - p->n_stack_ix > MAX_STACK_GAP)
		return -EINVAL;
	while (p->n_stack_ix + 1 < id) {
		if (array_grow(&p->stack_ix, &p->cap_stack_ix, p->n_stack_ix, sizeof(*p->stack_ix)) < 0)
			return -ENOMEM;
		p->stack_ix[p->n_stack_ix++] = NO_STACK;
	}
	/* the calls only when full: this runs for every stack */
	if ((c->n_stack >= c->cap_stack &&
	     array_grow(&c->stack, &c->cap_stack, c->n_stack, sizeof(*c->stack)) < 0) ||
	    (p->n_stack_ix >= p->cap_stack_ix &&
	     array_grow(&p->stack_ix, &p->cap_stack_ix, p->n_stack_ix, sizeof(*p->stack_ix)) < 0) ||
	    (c->n_frame + n > c->cap_frame &&
	     array_reserve(&c->frame, &c->cap_frame, c->n_frame + n, sizeof(*c->frame)) < 0))
		return -ENOMEM;
	uint32_t map = (uint32_t)p->n_map_ids;
	/* each frame's distinct address: slots the last stack left empty are
	 * looked up; the others are compared four at a time (the slots
	 * from a multiple of 4 below MEMPROF_MAX_FRAMES), and only an address
	 * that differs from the last stack's in its slot is */
	struct c_last_stack *last = &c->last;
	size_t at = MEMPROF_MAX_FRAMES - (size_t)n, s = at;
	if (last->proc != pi || last->map != map || !last->ctx) {
		last->proc = pi;	/* so the slots hold pairs that agree, whatever fails */
		last->map = map;
		last->n = 0;
		if (!++last->ctx) {	/* 2^32 changes: the entries' numbers come again */
			memset(last->seen, 0, sizeof(last->seen));
			last->ctx = 1;
		}
	}
	size_t valid = MEMPROF_MAX_FRAMES - (size_t)last->n;
	size_t by4 = MEMPROF_MAX_FRAMES - ((MEMPROF_MAX_FRAMES - (valid > at ? valid : at)) & ~(size_t)3);
	uint64_t pc;
	for (; s < by4; s++) {
		memcpy(&pc, in + 8 * (s - at), 8);
		if ((s < valid || pc != last->pc[s]) && fill_slot(c, s, pc, pi, map) < 0)
			return -ENOMEM;
	}
	for (; s < MEMPROF_MAX_FRAMES; s += 4) {
		if (same4(in + 8 * (s - at), last->pc + s))
			continue;
		for (size_t j = s; j < s + 4; j++) {
			memcpy(&pc, in + 8 * (j - at), 8);
			if (pc != last->pc[j] && fill_slot(c, j, pc, pi, map) < 0)
				return -ENOMEM;
		}
	}
	if (n)	/* an empty stack may come before any frame array exists */
		memcpy(c->frame + c->n_frame, last->ix + at, 4 * (size_t)n);
	last->n = n;
	c->stack[c->n_stack] = (struct c_stack){ c->n_frame, pi, map, n, truncated, NO_BUCKET };
	c->n_frame += n;
	p->map_used = true;
	c->stats.truncated_stacks += truncated;
	p->stack_ix[p->n_stack_ix++] = (uint32_t)c->n_stack++;
	return 0;
}

/* The timeline's point for grid index g, made (and the points before it,
 * holding the heap in use as it stood) when the process has none yet. NULL
 * when out of memory (the timeline then stops short). */
static struct c_point *point_at(struct c_proc *p, uint64_t g)
{
	if (!p->n_points)
		p->first_point = g;
	if (g < p->first_point)
		return NULL;
	while (p->first_point + p->n_points <= g) {
		if (array_grow(&p->points, &p->cap_points, p->n_points, sizeof(*p->points)) < 0)
			return NULL;
		p->points[p->n_points++] = (struct c_point){ p->inuse, 0, -1 };
	}
	return &p->points[g - p->first_point];
}

/* What the processes that changed did in the interval now ending goes
 * into their timelines. */
void flush_intervals(struct collector *c)
{
	for (size_t i = 0; i < c->n_dirty; i++) {
		struct c_proc *p = &c->proc[c->dirty[i]];
		struct c_point *pt = point_at(p, c->grid_now);
		if (pt) {
			pt->inuse = p->interval_max > pt->inuse ? p->interval_max : pt->inuse;
			pt->allocated += p->interval_allocated;
		}
		p->interval_max = p->inuse;
		p->interval_allocated = 0;
		p->dirty = false;
	}
	c->n_dirty = 0;
}

static __attribute__((noinline)) void mark_dirty(struct collector *c, struct c_proc *p)
{
	p->dirty = true;	/* without a clock, for good: there is no timeline */
	p->interval_max = p->inuse;
	if (!c->now_ns)
		return;
	/* intervals it was idle in hold the heap as it stood, before this change */
	point_at(p, c->grid_now);
	if (array_grow(&c->dirty, &c->cap_dirty, c->n_dirty, sizeof(*c->dirty)) < 0)
		p->dirty = false;	/* the timeline stops short */
	else
		c->dirty[c->n_dirty++] = (uint32_t)(p - c->proc);
}

/* The feed's per-record helpers below are inlined into its loop: at
 * --rate 1 they run for every allocation and every free (4M records for
 * jq), where a call and its saved registers cost as much as the work. */
#define FEED_INLINE static inline __attribute__((always_inline))

/* The heap is about to change: the timeline's interval under way notes it
 * (mark_dirty), once an interval. */
FEED_INLINE void feed_dirty(struct collector *c, struct c_proc *p)
{
	if (__builtin_expect(!p->dirty, 0))
		mark_dirty(c, p);
}

/* A bucket's first change since its process's last peak keeps what it
 * held then (see bucket_peak). The peak costs O(1): a new highest only
 * moves the epoch on. */
FEED_INLINE void bucket_stamp(const struct c_proc *p, struct c_bucket *b)
{
	if (b->stamp != p->epoch) {
		b->peak_n = b->live_n;
		b->peak_b = b->live_b;
		b->stamp = p->epoch;
	}
}

/* What a sampled block of size bytes stands for: *n blocks and *bytes
 * bytes (heap_scale; at --rate 1 the block itself). */
FEED_INLINE void feed_scale(const struct c_proc *p, uint64_t size, double *n, double *bytes)
{
	if (p->rate <= 1) {
		*n = 1;
		*bytes = (double)size;	/* = (double)size * 1, exactly */
		return;
	}
	*n = heap_scale(size, p->rate);
	*bytes = (double)size * *n;
}

/* One more live block in bucket b of process p, standing for n blocks of
 * bytes in all, and what it does to the heap in use, its peak and the
 * timeline. */
FEED_INLINE void bucket_alloc(struct collector *c, struct c_proc *p, struct c_bucket *b,
			      double n, double bytes)
{
	feed_dirty(c, p);
	bucket_stamp(p, b);
	b->allocs++;
	b->alloc_n += n;
	b->alloc_b += bytes;
	b->live_n += n;
	b->live_b += bytes;
	p->inuse += bytes;
	p->interval_allocated += bytes;
	if (p->inuse > p->peak) {
		p->peak = p->inuse;
		p->epoch++;
		p->peak_ns = c->now_ns;
	}
	if (p->inuse > p->interval_max)
		p->interval_max = p->inuse;
}

/* The live block whose entry in the live table was value (LIVE_VALUE) is
 * freed: one fewer in its bucket. */
FEED_INLINE void live_gone(struct collector *c, struct c_proc *p, uint64_t value)
{
	struct c_bucket *b = &c->bucket[(uint32_t)value];
	double n, bytes;
	feed_scale(p, b->size - (value >> 32), &n, &bytes);
	feed_dirty(c, p);
	bucket_stamp(p, b);
	b->frees++;
	b->live_n -= n;
	b->live_b -= bytes;
	if (b->frees == b->allocs)	/* no rounding left behind */
		b->live_n = b->live_b = 0;
	p->inuse -= bytes;	/* at a sampled rate, may round below 0 */
}

/* size_class, the common case (up to 1 KiB) inline. */
FEED_INLINE uint64_t feed_size_class(uint64_t size)
{
	if (size - 1 < 1024)	/* collector_new made the table */
		return small_class[(size + 7) / 8];
	return size_class(size);
}

/* bucket_for, the common cases inline: the stack's last class again, or
 * a (stack, class) the bucket cache holds. A site of many sizes (churn's
 * 16 B to 1 KiB: 30 classes) otherwise walks its list, 96-byte buckets
 * apart, at nearly every record: 70 instructions a record at --rate 1. */
FEED_INLINE int64_t feed_bucket(struct collector *c, const struct c_proc *p, uint32_t stack,
				uint64_t class)
{
	uint32_t i = c->stack[stack].buckets;
	if (i == NO_BUCKET)	/* the stack's first allocation */
		return new_bucket(c, stack, class, p->epoch);
	if (c->bucket[i].size == class)
		return i;
	uint32_t *cached = &c->bucket_cache[(uint32_t)((stack * 0x9e3779b97f4a7c15ULL ^ class) *
						       0xff51afd7ed558ccdULL >> 52)];
	i = *cached;
	if (i < c->n_bucket && c->bucket[i].stack == stack && c->bucket[i].size == class)
		return i;
	int64_t b = bucket_for(c, p, stack, class);
	if (b >= 0)
		*cached = (uint32_t)b;
	return b;
}

/* A sampled allocation (REC_ALLOC) in image p. Returns 0, -EINVAL (a
 * stack never sent), -ENOMEM (then nothing changed but an empty bucket
 * made: the record can be fed again). */
FEED_INLINE int feed_alloc(struct collector *c, struct c_proc *p, uint64_t addr, uint64_t size,
			   uint32_t id)
{
	uint32_t k = id - 1;	/* ids are 1, 2, 3...: 0 wraps around */
	if (k >= p->n_stack_ix || p->stack_ix[k] == NO_STACK)
		return -EINVAL;
	uint64_t class = feed_size_class(size);
	int64_t b = feed_bucket(c, p, p->stack_ix[k], class);
	if (b < 0)
		return (int)b;
	bool inserted;
	uint64_t *slot = addrmap_put(&p->live, addr, &inserted);
	if (!slot)
		return -ENOMEM;
	c->stats.allocs++;
	p->allocs++;
	if (!inserted) {	/* freed without our knowing: the old block is gone */
		c->stats.live_reallocs++;
		live_gone(c, p, *slot);
	}
	*slot = LIVE_VALUE(b, size, class);
	double n, bytes;
	feed_scale(p, size, &n, &bytes);
	bucket_alloc(c, p, &c->bucket[b], n, bytes);
	return 0;
}

/* A sampled block freed (REC_FREE) in image p. */
FEED_INLINE void feed_free(struct collector *c, struct c_proc *p, uint64_t addr)
{
	uint64_t b;
	c->stats.frees++;
	if (!addrmap_take(&p->live, addr, &b))
		c->stats.unknown_frees++;
	else
		live_gone(c, p, b);
}

/* Applies one decoded record to image pi. Returns 0, -EINVAL, -ENOMEM. */
static int apply(struct collector *c, uint32_t pi, const struct rec *r)
{
	struct c_proc *p = &c->proc[pi];
	switch (r->type) {
	case REC_START:
		p->ppid = r->u.start.ppid;
		if (r->u.start.forked_from &&
		    copy_modules(c, pi, p->ppid, r->u.start.forked_from) < 0)
			return -ENOMEM;
		p->rate = r->u.start.rate > 0 ? (int64_t)r->u.start.rate : 1;
		p->start_ns = r->u.start.time_ns;
		p->exe = intern(c, r->u.start.exe, r->u.start.exe_len);
		if (!p->started) {
			p->started = true;
			c->stats.processes++;
			if (c->root < 0)
				c->root = (int)pi;
		}
		return 0;
	case REC_MODULES_RESET:
		return new_map(p);
	case REC_MODULE: {
		const char *file = intern(c, r->u.module.file, r->u.module.file_len);
		const char *id = hex_build_id(c, r->u.module.build_id, r->u.module.build_id_len);
		uint32_t m = add_mapping(c, pi, file, id, r->u.module.bias, r->u.module.start,
					 r->u.module.end, r->u.module.offset);
		p = &c->proc[pi];
		if (m == NO_MAPPING || array_grow(&p->mod, &p->cap_mod, p->n_mod, sizeof(*p->mod)) < 0)
			return -ENOMEM;
		p->mod[p->n_mod++] = (struct c_module){ r->u.module.start, r->u.module.end, m };
		return 0;
	}
	case REC_STACK:
		return add_stack(c, p, pi, r->u.stack.id, r->u.stack.truncated, r->u.stack.n,
				 r->u.stack.pcs);
	case REC_ALLOC:
	case REC_FREE: {	/* (collector_feed_records reads them itself) */
		int rc = 0;
		if (r->type == REC_ALLOC)
			rc = feed_alloc(c, p, r->u.alloc.addr, r->u.alloc.size, r->u.alloc.stack);
		else
			feed_free(c, p, r->u.free.addr);
		return rc;
	}
	case REC_END:
		p->end_ns = r->u.end.time_ns;
		p->ended = true;
		p->calls_seen = r->u.end.calls_seen;
		return 0;
	case REC_CMDLINE: {
		char *line = shell_join_nul(r->u.cmdline.words, r->u.cmdline.len);
		char *cut = NULL;	/* the tracker sends MEMPROF_NAME_MAX bytes at most */
		if (line && r->u.cmdline.len == MEMPROF_NAME_MAX && asprintf(&cut, "%s ...", line) >= 0) {
			free(line);
			line = cut;
		}
		if (!line)
			return -ENOMEM;
		p->cmdline = intern(c, line, strlen(line));
		free(line);
		return 0;
	}
	case REC_EXEC:
		/* if the exec fails, the image goes on and ends later */
		p->exec_called = true;
		p->end_ns = r->u.exec.time_ns;
		return 0;
	case REC_LOST:
		p->lost[r->u.lost.why] += r->u.lost.n;
		c->stats.lost += r->u.lost.n;
		return 0;
	case REC_SAMPLING:
		if (p->n_switch < SWITCHES_KEPT) {
			p->switch_ns[p->n_switch] = r->u.sampling.time_ns;
			p->switch_on[p->n_switch] = r->u.sampling.on;
		}
		p->n_switch++;
		p->paused = !r->u.sampling.on;
		return 0;
	case REC_RECONNECT:
		p->back_ns = p->start_ns;	/* the new REC_START's time: connected again */
		p->away_since_ns = r->u.reconnect.since_ns;
		p->away_lost += r->u.reconnect.lost;
		p->away_unread += r->u.reconnect.unread;
		p->n_stack_ix = 0;	/* the tracker numbers its stacks anew */
		c->stats.lost += r->u.reconnect.lost;
		return 0;
	case REC_DEEPBIND: {
		const char *lib = intern(c, r->u.deepbind.name, r->u.deepbind.len);
		if (!c->stats.deepbind++)
			c->stats.deepbind_name = lib;
		return 0;
	}
	case REC_MMAP:
	case REC_MUNMAP:
	case REC_POOL_ALLOC:
	case REC_POOL_FREE:
	case REC_POOL_CREATE:
	case REC_POOL_DESTROY:
		return collect_extra_apply(c, pi, r);
	}
	return -EINVAL;
}

/* At --rate 1 the live table outgrows the caches (jq: 2M live blocks,
 * 64 MiB) and each record's slot is a cache miss. The feed asks the CPU
 * for the slot of the record FEED_AHEAD records on, guessing that it is
 * of the same type (ALLOC and FREE come in long runs: a program builds a
 * structure, frees it): the misses then overlap. A wrong guess costs a
 * useless prefetch, never a wrong result. */
#ifndef FEED_AHEAD
#define FEED_AHEAD 16
#endif

FEED_INLINE void feed_prefetch(const struct addrmap *live, const uint8_t *at, const uint8_t *end,
			       uint8_t type, size_t len)
{
	size_t ahead = FEED_AHEAD * len;
	if ((size_t)(end - at) >= ahead + REC_FREE_LEN && at[ahead] == type)
		addrmap_prefetch(live, rec_get_free(at + ahead));	/* both start so */
}

/* A REC_STACK at `at` that is all there: its frame count loaded once into
 * *n (the data may be the image's shared memory, which it can write while
 * we read: checked and used, the count must be the same number). */
static inline bool stack_in_place(const uint8_t *at, const uint8_t *end, uint16_t *n)
{
	const volatile uint8_t *v = at + 6;	/* volatile: read once, not again */
	uint8_t b[2] = { v[0], v[1] };
	memcpy(n, b, 2);
	return *n <= MEMPROF_MAX_FRAMES && (size_t)(end - at) >= REC_STACK_LEN(*n);
}

/* The records of one image: REC_ALLOC and REC_FREE (all but a few at
 * --rate 1) and REC_STACK are read in place here, the others (and a
 * REC_STACK whose frame count is out of bounds: rec_next rejects it) by
 * rec_next (records.h) and apply. Stops at the first record that cannot be applied. *used: the
 * bytes taken, that record included unless it failed for lack of memory
 * (the caller may feed it again) or could not be decoded. */
int collector_feed_records(struct collector *c, uint32_t pid, uint32_t incarnation,
			   const void *data, size_t len, size_t *used)
{
	if (used)
		*used = 0;
	if (c->spent)
		return -EPIPE;
	struct c_proc *p = get_proc(c, pid, incarnation);
	if (!p)
		return -ENOMEM;
	uint32_t pi = (uint32_t)(p - c->proc);
	const uint8_t *at = data, *end = at + len;
	uint16_t n;
	int rc = 0;
	while (at < end) {
		if (*at == REC_FREE && (size_t)(end - at) >= REC_FREE_LEN) {
			feed_prefetch(&p->live, at, end, REC_FREE, REC_FREE_LEN);
			feed_free(c, p, rec_get_free(at));
			at += REC_FREE_LEN;
		} else if (*at == REC_ALLOC && (size_t)(end - at) >= REC_ALLOC_LEN) {
			uint64_t addr, size;
			uint32_t stack;
			feed_prefetch(&p->live, at, end, REC_ALLOC, REC_ALLOC_LEN);
			rec_get_alloc(at, &addr, &size, &stack);
			rc = feed_alloc(c, p, addr, size, stack);
			if (rc == -ENOMEM)
				break;
			at += REC_ALLOC_LEN;
			if (rc < 0)
				break;
		} else if (*at == REC_STACK && (size_t)(end - at) >= REC_STACK_LEN(0) &&
			   stack_in_place(at, end, &n)) {
			/* one a sampled allocation at --rate 1 when every stack
			 * is new: read in place too */
			uint32_t id;
			memcpy(&id, at + 1, 4);
			rc = add_stack(c, p, pi, id, at[5], n, at + REC_STACK_LEN(0));
			p = &c->proc[pi];
			if (rc == -ENOMEM)
				break;
			at += REC_STACK_LEN(n);
			if (rc < 0)
				break;
		} else {
			struct rec_reader r = { at, end, false };
			struct rec rec;
			if (!rec_next(&r, &rec)) {
				rc = -EINVAL;
				break;
			}
			rc = apply(c, pi, &rec);
			p = &c->proc[pi];
			if (rc == -ENOMEM)
				break;
			at = r.p;
			if (rc < 0)
				break;
		}
	}
	if (used)
		*used = (size_t)(at - (const uint8_t *)data);
	if (rc == -EINVAL) {
		c->proc[pi].bad_records++;
		c->stats.bad_batches++;
	}
	return rc;
}

int collector_feed_events(struct collector *c, uint32_t pid, uint32_t incarnation,
			  const struct feed_event *ev, size_t n)
{
	if (c->spent)
		return -EPIPE;
	struct c_proc *p = get_proc(c, pid, incarnation);
	if (!p)
		return -ENOMEM;
	int rc = 0;
	for (size_t i = 0; i < n; i++) {
		if (i + FEED_AHEAD < n)
			addrmap_prefetch(&p->live, ev[i + FEED_AHEAD].addr);
		if (ev[i].type == REC_FREE) {
			feed_free(c, p, ev[i].addr);
		} else if ((rc = feed_alloc(c, p, ev[i].addr, ev[i].size, ev[i].stack)) < 0) {
			if (rc == -EINVAL) {
				p->bad_records++;
				c->stats.bad_batches++;
			}
			return rc;
		}
	}
	return 0;
}

int collector_feed(struct collector *c, const void *batch, size_t len)
{
	struct memprof_batch_header h;
	if (len < sizeof(h))
		goto out_bad;
	memcpy(&h, batch, sizeof(h));
	if (h.magic != MEMPROF_MAGIC || h.len != len - sizeof(h))
		goto out_bad;
	return collector_feed_records(c, h.pid, h.incarnation, (const uint8_t *)batch + sizeof(h),
				      h.len, NULL);
out_bad:
	c->stats.bad_batches++;
	return -EINVAL;
}

int collector_feed_recording(struct collector *c, const void *data, size_t len,
			     char *err, size_t errlen, char *warn, size_t warnlen)
{
	const uint8_t *p = data;
	struct memprof_file_header fh;
	struct memprof_batch_header h;
	size_t at = sizeof(fh);
	warn[0] = '\0';
	if (len == 0) {
		snprintf(err, errlen, "empty recording (did the program run with the tracker?)");
		return -EINVAL;
	}
	if (len < sizeof(fh) || memcmp(p, MEMPROF_FILE_MAGIC, sizeof(fh.magic)) != 0) {
		snprintf(err, errlen, "not a memprof recording (no recording header)");
		return -EINVAL;
	}
	while (at < len) {
		if (len - at < sizeof(h)) {
			snprintf(warn, warnlen, "the recording is cut short: the last %zu bytes "
				 "(offset %zu) are not a whole batch and were skipped", len - at, at);
			break;
		}
		memcpy(&h, p + at, sizeof(h));
		if (h.magic != MEMPROF_MAGIC) {
			snprintf(err, errlen, "not a memprof recording (bad batch at offset %zu)", at);
			return -EINVAL;
		}
		if (h.len > MEMPROF_BATCH_MAX || h.len > len - at - sizeof(h)) {
			snprintf(warn, warnlen, "the recording is cut short: the last %zu bytes "
				 "(offset %zu) are not a whole batch and were skipped", len - at, at);
			break;
		}
		if (collector_feed(c, p + at, sizeof(h) + h.len) == -ENOMEM) {
			snprintf(err, errlen, "out of memory");
			return -ENOMEM;
		}
		at += sizeof(h) + h.len;
	}
	return 0;
}
