/* collect.c - aggregation of the tracker's records and construction of the
 * heap profile (sampling maths: docs/sampling.md). */
#include "collect.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "hashmap.h"
#include "profile.h"
#include "symbolize.h"
#include "tracker/records.h"

#define NO_MAPPING UINT32_MAX

struct c_module {		/* one executable segment in a process's map */
	uint64_t start, end;
	uint32_t mapping;	/* index into collector.mapping */
};

struct c_mapping {		/* becomes a pprof Mapping */
	const char *file;
	uint64_t bias, start, end, offset;
	uint32_t proc;
};

struct c_proc {
	uint32_t pid, incarnation, ppid;
	const char *exe;
	int64_t rate;
	uint64_t start_ns, end_ns;
	bool started, ended, calls_seen;
	struct c_module *mod;
	size_t n_mod, cap_mod;
	uint32_t *stack_ix;	/* tracker's stack id - 1 -> index into collector.stack */
	size_t n_stack_ix, cap_stack_ix;	/* the tracker numbers them 1, 2, 3... */
	struct hashmap live;	/* block address -> bucket index */
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
};

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
};

struct collector *collector_new(void)
{
	struct collector *c = calloc(1, sizeof(*c));
	if (c)
		c->root = -1;
	return c;
}

void collector_free(struct collector *c)
{
	if (!c)
		return;
	for (size_t i = 0; i < c->n_proc; i++) {
		free(c->proc[i].mod);
		free(c->proc[i].stack_ix);
		hashmap_release(&c->proc[i].live);
	}
	free(c->proc);
	free(c->mapping);
	free(c->frame);
	free(c->stack);
	free(c->bucket);
	hashmap_release(&c->proc_index);
	hashmap_release(&c->bucket_index);
	hashmap_release(&c->strings);
	arena_release(&c->arena);
	free(c);
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

static const char *intern(struct collector *c, const char *s, size_t len)
{
	return hashmap_intern(&c->strings, &c->arena, s, len);
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
	p->rate = 512 * 1024;
	*slot = ++c->n_proc;
	return p;
}

/* A cursor over one batch's records; any overrun marks it bad. */
struct reader {
	const uint8_t *p, *end;
	bool bad;
};

static void take(struct reader *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
}

static uint64_t u64(struct reader *r) { uint64_t v; take(r, &v, 8); return v; }
static uint32_t u32(struct reader *r) { uint32_t v; take(r, &v, 4); return v; }
static uint16_t u16(struct reader *r) { uint16_t v; take(r, &v, 2); return v; }
static uint8_t u8(struct reader *r) { uint8_t v; take(r, &v, 1); return v; }

static const char *name(struct collector *c, struct reader *r)
{
	uint16_t n = u16(r);
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return "";
	}
	const char *s = intern(c, (const char *)r->p, n);
	r->p += n;
	return s ? s : "";
}

/* The mapping for a segment of a process (one per process and segment). */
static uint32_t add_mapping(struct collector *c, uint32_t proc, const char *file, uint64_t bias,
			    uint64_t start, uint64_t end, uint64_t offset)
{
	for (size_t i = c->n_mapping; i-- > 0;) {
		const struct c_mapping *m = &c->mapping[i];
		if (m->proc != proc)
			break;	/* a process's mappings are made together */
		if (m->start == start && m->end == end && m->file == file)
			return (uint32_t)i;
	}
	if (array_grow(&c->mapping, &c->cap_mapping, c->n_mapping, sizeof(*c->mapping)) < 0)
		return NO_MAPPING;
	c->mapping[c->n_mapping] = (struct c_mapping){ file, bias, start, end, offset, proc };
	return (uint32_t)c->n_mapping++;
}

static uint32_t find_module(const struct c_proc *p, uint64_t pc)
{
	for (size_t i = 0; i < p->n_mod; i++)
		if (pc >= p->mod[i].start && pc < p->mod[i].end)
			return p->mod[i].mapping;
	return NO_MAPPING;
}

struct bucket_want {
	const struct collector *c;
	struct c_bucket b;
};

static bool same_bucket(uint64_t value, const void *ctx)
{
	const struct bucket_want *w = ctx;
	const struct c_bucket *b = &w->c->bucket[value];
	return b->proc == w->b.proc && b->stack == w->b.stack && b->size == w->b.size;
}

static int64_t bucket_for(struct collector *c, uint32_t proc, uint32_t stack, uint64_t size)
{
	struct bucket_want w = { c, { proc, stack, size, 0, 0 } };
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(&c->bucket_index,
				       ((uint64_t)proc << 32 | stack) ^ size * 0x9e3779b97f4a7c15ULL,
				       same_bucket, &w, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (!inserted)
		return (int64_t)*slot;
	if (array_grow(&c->bucket, &c->cap_bucket, c->n_bucket, sizeof(*c->bucket)) < 0) {
		hashmap_remove(&c->bucket_index, key);
		return -ENOMEM;
	}
	c->bucket[c->n_bucket] = w.b;
	*slot = c->n_bucket;
	return (int64_t)c->n_bucket++;
}

/* A forked child starts with its parent's module map. */
static int copy_modules(struct collector *c, uint32_t pi, uint32_t ppid, uint32_t parent_inc)
{
	uint64_t *slot = hashmap_get(&c->proc_index, (uint64_t)ppid << 32 | parent_inc);
	if (!slot)
		return 0;
	const struct c_proc *parent = &c->proc[*slot - 1];
	struct c_proc *p = &c->proc[pi];
	p->n_mod = 0;
	for (size_t i = 0; i < parent->n_mod; i++) {
		if (array_grow(&p->mod, &p->cap_mod, p->n_mod, sizeof(*p->mod)) < 0)
			return -ENOMEM;
		p->mod[p->n_mod++] = parent->mod[i];
	}
	return 0;
}

#define NO_STACK UINT32_MAX	/* a stack id whose REC_STACK never came */
/* the widest gap taken: 16 batches full of the smallest stack records */
#define MAX_STACK_GAP (16 * (MEMPROF_BATCH_MAX / (1 + 4 + 1 + 2 + 8)))

static int feed_records(struct collector *c, uint32_t pi, struct reader *r)
{
	while (r->p < r->end && !r->bad) {
		struct c_proc *p = &c->proc[pi];	/* c->proc may move: refetch */
		uint8_t type = u8(r);
		switch (type) {
		case REC_START: {
			u8(r);	/* record format version */
			p->ppid = u32(r);
			uint32_t forked_from = u32(r);
			if (forked_from && !r->bad && copy_modules(c, pi, p->ppid, forked_from) < 0)
				return -ENOMEM;
			p = &c->proc[pi];
			int64_t rate = (int64_t)u64(r);
			p->rate = rate > 0 ? rate : 1;
			p->start_ns = u64(r);
			p->exe = name(c, r);
			if (!p->started && !r->bad) {
				p->started = true;
				c->stats.processes++;
				if (c->root < 0)
					c->root = (int)pi;
			}
			break;
		}
		case REC_MODULES_RESET:
			p->n_mod = 0;
			break;
		case REC_MODULE: {
			uint64_t bias = u64(r), start = u64(r), end = u64(r), off = u64(r);
			const char *file = name(c, r);
			if (r->bad)
				break;
			uint32_t m = add_mapping(c, pi, file, bias, start, end, off);
			p = &c->proc[pi];
			if (m == NO_MAPPING || array_grow(&p->mod, &p->cap_mod, p->n_mod, sizeof(*p->mod)) < 0)
				return -ENOMEM;
			p->mod[p->n_mod++] = (struct c_module){ start, end, m };
			break;
		}
		case REC_STACK: {
			uint32_t id = u32(r);
			bool truncated = u8(r);
			uint16_t n = u16(r);
			/* ids come 1, 2, 3...; a gap (stacks in a batch that was
			 * lost or refused) is left unknown, within what a few
			 * batches can hold */
			if (r->bad || n > MEMPROF_MAX_FRAMES || id <= p->n_stack_ix ||
			    id - p->n_stack_ix > MAX_STACK_GAP)
				return -EINVAL;
			while (p->n_stack_ix + 1 < id) {
				if (array_grow(&p->stack_ix, &p->cap_stack_ix, p->n_stack_ix,
					       sizeof(*p->stack_ix)) < 0)
					return -ENOMEM;
				p->stack_ix[p->n_stack_ix++] = NO_STACK;
			}
			if (array_grow(&c->stack, &c->cap_stack, c->n_stack, sizeof(*c->stack)) < 0)
				return -ENOMEM;
			while (c->n_frame + n > c->cap_frame)
				if (array_grow(&c->frame, &c->cap_frame, c->cap_frame, sizeof(*c->frame)) < 0)
					return -ENOMEM;
			c->stack[c->n_stack] = (struct c_stack){ c->n_frame, n, truncated };
			for (uint16_t i = 0; i < n; i++) {
				uint64_t pc = u64(r);
				/* the module is looked up now: a later dlclose may reuse the range */
				c->frame[c->n_frame++] = (struct c_frame){ find_module(p, pc - 1), pc };
			}
			if (r->bad)
				return -EINVAL;
			c->stats.truncated_stacks += truncated;
			if (array_grow(&p->stack_ix, &p->cap_stack_ix, p->n_stack_ix,
				       sizeof(*p->stack_ix)) < 0)
				return -ENOMEM;
			p->stack_ix[p->n_stack_ix++] = (uint32_t)c->n_stack++;
			break;
		}
		case REC_ALLOC: {
			uint64_t addr = u64(r), size = u64(r);
			uint32_t id = u32(r);
			if (r->bad)
				break;
			if (id == 0 || id > p->n_stack_ix || p->stack_ix[id - 1] == NO_STACK)
				return -EINVAL;
			int64_t b = bucket_for(c, pi, p->stack_ix[id - 1], size);
			if (b < 0)
				return (int)b;
			c->bucket[b].allocs++;
			c->stats.allocs++;
			bool inserted;
			uint64_t *slot = hashmap_put(&p->live, addr, &inserted);
			if (!slot)
				return -ENOMEM;
			if (!inserted)	/* freed without our knowing: the old block is gone */
				c->bucket[*slot].frees++;
			*slot = (uint64_t)b;
			break;
		}
		case REC_FREE: {
			uint64_t addr = u64(r);
			if (r->bad)
				break;
			uint64_t b;
			c->stats.frees++;
			if (!hashmap_take(&p->live, addr, &b)) {
				c->stats.unknown_frees++;
				break;
			}
			c->bucket[b].frees++;
			break;
		}
		case REC_END:
			p->end_ns = u64(r);
			p->ended = true;
			p->calls_seen = u8(r);
			break;
		case REC_LOST:
			c->stats.lost += u32(r);
			break;
		case REC_DEEPBIND: {
			const char *lib = name(c, r);
			if (!c->stats.deepbind++)
				c->stats.deepbind_name = lib;
			break;
		}
		default:
			return -EINVAL;
		}
	}
	return r->bad ? -EINVAL : 0;
}

int collector_feed(struct collector *c, const void *batch, size_t len)
{
	struct memprof_batch_header h;
	if (len < sizeof(h))
		goto out_bad;
	memcpy(&h, batch, sizeof(h));
	if (h.magic != MEMPROF_MAGIC || h.len != len - sizeof(h))
		goto out_bad;
	struct c_proc *p = get_proc(c, h.pid, h.incarnation);
	if (!p)
		return -ENOMEM;
	struct reader r = { (const uint8_t *)batch + sizeof(h), (const uint8_t *)batch + len, false };
	int rc = feed_records(c, (uint32_t)(p - c->proc), &r);
	if (rc == -EINVAL)
		goto out_bad;
	return rc;
out_bad:
	c->stats.bad_batches++;
	return -EINVAL;
}

int collector_feed_recording(struct collector *c, const void *data, size_t len,
			     char *err, size_t errlen)
{
	const uint8_t *p = data;
	size_t at = 0;
	struct memprof_batch_header h;
	if (len == 0) {
		snprintf(err, errlen, "empty recording (did the program run with the tracker?)");
		return -EINVAL;
	}
	while (at < len) {
		if (len - at < sizeof(h)) {
			snprintf(err, errlen, "truncated recording at offset %zu", at);
			return -EINVAL;
		}
		memcpy(&h, p + at, sizeof(h));
		if (h.magic != MEMPROF_MAGIC) {
			snprintf(err, errlen, "not a memprof recording (bad magic at offset %zu)", at);
			return -EINVAL;
		}
		if (h.len > MEMPROF_BATCH_MAX || h.len > len - at - sizeof(h)) {
			snprintf(err, errlen, "truncated recording at offset %zu", at);
			return -EINVAL;
		}
		int rc = collector_feed(c, p + at, sizeof(h) + h.len);
		if (rc == -ENOMEM) {
			snprintf(err, errlen, "out of memory");
			return rc;
		}
		at += sizeof(h) + h.len;
	}
	return 0;
}

/* ---- the profile ---------------------------------------------------------- */

/* Go's scaling of a heap sample (runtime/pprof scaleHeapSample): a block of
 * size s is sampled with probability 1 - exp(-s/rate), so each sampled one
 * stands for 1 / (1 - exp(-s/rate)) blocks. Rounded, not truncated. */
static double heap_scale(uint64_t size, int64_t rate)
{
	if (rate <= 1 || size == 0)
		return 1;
	return 1 / (1 - exp(-(double)size / (double)rate));
}

struct builder {
	struct collector *c;
	struct profile *p;
	struct symbolizer *sym;
	struct profile_mapping **mapping;	/* per c_mapping, made on first use */
	struct hashmap locations;		/* (mapping << 48 ^ pc) (+ probe) -> location */
	struct hashmap functions;		/* hash of the fields (+ probe) -> function */
	struct profile_location *truncated;	/* the root of stacks cut short */
	uint64_t next_function_id;
	size_t symbolized, to_symbolize;
	const struct collector_meta *meta;
};

static struct profile_mapping *get_mapping(struct builder *b, uint32_t mi)
{
	if (b->mapping[mi])
		return b->mapping[mi];
	const struct c_mapping *cm = &b->c->mapping[mi];
	struct profile_mapping *m = profile_add_mapping(b->p, b->p->n_mapping + 1);
	if (!m)
		return NULL;
	m->memory_start = cm->start;
	m->memory_limit = cm->end;
	m->file_offset = cm->offset;
	if (!(m->filename = profile_intern(b->p, cm->file)) ||
	    !(m->build_id = profile_intern(b->p, symbolizer_build_id(b->sym, cm->file))))
		return NULL;
	/* fully symbolized here: pprof must not try again */
	m->has_functions = m->has_filenames = m->has_line_numbers = m->has_inline_frames = true;
	return b->mapping[mi] = m;
}

static bool same_function(uint64_t value, const void *ctx)
{
	const struct profile_function *fn = (const void *)(uintptr_t)value;
	const struct sym_frame *f = ctx;
	return !strcmp(fn->name, f->name) && !strcmp(fn->system_name, f->system_name) &&
	       !strcmp(fn->filename, f->file) && fn->start_line == f->start_line;
}

static struct profile_function *get_function(struct builder *b, const struct sym_frame *f)
{
	uint64_t h = hash_bytes(f->name, strlen(f->name), 0);
	h = hash_bytes(f->system_name, strlen(f->system_name), h);
	h = hash_bytes(f->file, strlen(f->file), h) ^ hash_u64((uint64_t)f->start_line);
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(&b->functions, h, same_function, f, &inserted, &key);
	if (!slot)
		return NULL;
	if (!inserted)
		return (void *)(uintptr_t)*slot;
	struct profile_function *fn = profile_add_function(b->p, ++b->next_function_id);
	if (!fn || !(fn->name = profile_intern(b->p, f->name)) ||
	    !(fn->system_name = profile_intern(b->p, f->system_name)) ||
	    !(fn->filename = profile_intern(b->p, f->file))) {
		hashmap_remove(&b->functions, key);
		return NULL;
	}
	fn->start_line = f->start_line;
	*slot = (uint64_t)(uintptr_t)fn;
	return fn;
}

static void progress(struct builder *b)
{
	b->symbolized++;
	if (b->meta && b->meta->progress && b->symbolized % 256 == 0)
		b->meta->progress(b->symbolized, b->to_symbolize, b->meta->progress_data);
}

/* The location of a return address: symbolized at pc - 1, inside the call. */
struct location_want {
	const struct builder *b;
	const struct c_frame *fr;
};

static bool same_location(uint64_t value, const void *ctx)
{
	const struct profile_location *l = (const void *)(uintptr_t)value;
	const struct location_want *w = ctx;
	return l->address == w->fr->pc - 1 &&
	       (w->fr->mapping == NO_MAPPING ? !l->mapping
					     : l->mapping == w->b->mapping[w->fr->mapping]);
}

static struct profile_location *get_location(struct builder *b, const struct c_frame *fr)
{
	struct location_want w = { b, fr };
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(&b->locations, hash_u64((uint64_t)fr->mapping << 48 ^ fr->pc),
				       same_location, &w, &inserted, &key);
	if (!slot)
		return NULL;
	if (!inserted)
		return (void *)(uintptr_t)*slot;
	const struct sym_frame *frames = NULL;
	int n = 0;
	struct profile_mapping *m = NULL;
	struct profile_location *l = NULL;
	if (fr->mapping != NO_MAPPING) {
		if (!(m = get_mapping(b, fr->mapping)))
			goto fail;
		const struct c_mapping *cm = &b->c->mapping[fr->mapping];
		if ((n = symbolizer_lookup(b->sym, cm->file, fr->pc - 1 - cm->bias, &frames)) < 0)
			goto fail;
	}
	progress(b);
	if (!(l = profile_add_location(b->p, b->p->n_location + 1, (size_t)n)))
		goto fail;
	l->mapping = m;
	l->address = fr->pc - 1;
	for (int i = 0; i < n; i++) {
		if (!(l->line[i].function = get_function(b, &frames[i])))
			goto fail;
		l->line[i].line = frames[i].line;
	}
	*slot = (uint64_t)(uintptr_t)l;	/* only other maps grew meanwhile */
	return l;
fail:
	hashmap_remove(&b->locations, key);
	return NULL;
}

/* operator new is how C++ reaches malloc: its caller is the interesting leaf. */
static bool is_allocator_frame(const struct profile_location *l)
{
	if (l->n_line == 0 || !l->line[l->n_line - 1].function)
		return false;
	return strncmp(l->line[l->n_line - 1].function->name, "operator new", 12) == 0;
}

/* Stacks deeper than the tracker unwinds end in this made-up frame, so
 * reports show that the callers are missing. */
static struct profile_location *truncated_location(struct builder *b)
{
	if (b->truncated)
		return b->truncated;
	struct sym_frame f = { "[truncated stack]", "", "", 0, 0 };
	struct profile_location *l = profile_add_location(b->p, b->p->n_location + 1, 1);
	if (!l || !(l->line[0].function = get_function(b, &f)))
		return NULL;
	return b->truncated = l;
}

static int add_sample(struct builder *b, const struct c_bucket *bk)
{
	const struct c_proc *proc = &b->c->proc[bk->proc];
	const struct c_stack *st = &b->c->stack[bk->stack];
	struct profile_location *locs[MEMPROF_MAX_FRAMES + 1];
	size_t n = 0;
	for (uint32_t i = 0; i < st->n; i++) {
		struct profile_location *l = get_location(b, &b->c->frame[st->first + i]);
		if (!l)
			return -ENOMEM;
		if (n == 0 && is_allocator_frame(l) && i + 1 < st->n)
			continue;
		locs[n++] = l;
	}
	if (st->truncated && !(locs[n++] = truncated_location(b)))
		return -ENOMEM;
	struct profile_sample *s = profile_add_sample(b->p, n, 2);
	if (!s)
		return -ENOMEM;
	memcpy(s->location, locs, n * sizeof(*locs));
	double scale = heap_scale(bk->size, proc->rate);
	uint64_t inuse = bk->allocs > bk->frees ? bk->allocs - bk->frees : 0;
	s->value[0] = llround((double)bk->allocs * scale);
	s->value[1] = llround((double)bk->allocs * (double)bk->size * scale);
	s->value[2] = llround((double)inuse * scale);
	s->value[3] = llround((double)inuse * (double)bk->size * scale);
	s->label[0].key = profile_intern(b->p, "bytes");
	s->label[0].num = (int64_t)bk->size;
	s->label[1].key = profile_intern(b->p, "pid");
	s->label[1].num = proc->pid;
	return s->label[0].key && s->label[1].key ? 0 : -ENOMEM;
}

struct profile *collector_profile(struct collector *c, const struct collector_meta *meta)
{
	static const char *types[] = { "alloc_objects", "alloc_space", "inuse_objects",
				       "inuse_space" };
	static const char *units[] = { "count", "bytes", "count", "bytes" };
	struct builder b = { 0 };
	b.c = c;
	b.meta = meta;
	b.to_symbolize = c->n_frame;
	if (!(b.p = profile_new()) || !(b.sym = symbolizer_new()) ||
	    !(b.mapping = calloc(c->n_mapping + 1, sizeof(*b.mapping))))
		goto out_fail;
	struct profile *p = b.p;
	if (profile_set_sample_types(p, 4, types, units) < 0)
		goto out_fail;
	p->period_type.type = profile_intern(p, "space");
	p->period_type.unit = profile_intern(p, "bytes");
	p->default_sample_type = profile_intern(p, "alloc_space");
	if (!p->period_type.type || !p->period_type.unit || !p->default_sample_type)
		goto out_fail;

	/* mapping[0] is the main executable of the first process */
	if (c->root >= 0) {
		const struct c_proc *root = &c->proc[c->root];
		p->period = root->rate;
		p->time_nanos = (int64_t)root->start_ns;
		uint64_t end = root->end_ns;
		for (size_t i = 0; i < c->n_proc; i++)
			if (c->proc[i].end_ns > end)
				end = c->proc[i].end_ns;
		if (end > root->start_ns)
			p->duration_nanos = (int64_t)(end - root->start_ns);
		for (size_t i = 0; i < c->n_mapping; i++)
			if (c->mapping[i].proc == (uint32_t)c->root &&
			    c->mapping[i].file == root->exe) {
				if (!get_mapping(&b, (uint32_t)i))
					goto out_fail;
				break;
			}
	}
	for (size_t i = 0; i < c->n_bucket; i++)
		if (c->bucket[i].allocs && add_sample(&b, &c->bucket[i]) < 0)
			goto out_fail;
	for (const char *const *cm = meta && meta->comments ? meta->comments : NULL; cm && *cm; cm++)
		if (profile_add_comment(p, *cm) < 0)
			goto out_fail;
	if (meta && meta->progress)
		meta->progress(b.symbolized, b.symbolized, meta->progress_data);
	goto out;
out_fail:
	profile_free(b.p);
	b.p = NULL;
out:
	symbolizer_free(b.sym);
	free(b.mapping);
	hashmap_release(&b.locations);
	hashmap_release(&b.functions);
	return b.p;
}
