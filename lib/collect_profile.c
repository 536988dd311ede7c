/* collect_profile.c - the heap profile of what the collector has gathered:
 * symbolized, values scaled by Go's formula (docs/sampling.md). */
#include "collect.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "collect_impl.h"
#include "profile.h"
#include "symbolize.h"

/* ---- the profile ---------------------------------------------------------- */

struct builder {
	struct collector *c;
	struct profile *p;
	struct sym_cache *cache;		/* the collector's: kept between profiles */
	struct profile_mapping **mapping;	/* per c_mapping, made on first use */
	struct hashmap mapping_keys;		/* pprof's mapping key (+ probe) -> mapping */
	bool *stale;				/* per c_mapping: the file changed since */
	struct hashmap locations;		/* (mapping << 48 ^ pc) (+ probe) -> location */
	struct hashmap functions;		/* hash of the fields (+ probe) -> function */
	struct profile_location *truncated;	/* the root of stacks cut short */
	uint64_t next_function_id;
	size_t symbolized, to_symbolize;
	const struct collector_meta *meta;
	/* no pid labels: the profiles of two runs then line up sample by
	 * sample, and -base/-diff_base cancel what did not change */
	bool one_process;
	const struct collector_meta *sel;	/* one image only, when sel->one_image */
	char *programs_comment;			/* "3 programs: ...", or NULL */
};

static bool one_image(const struct builder *b)
{
	return b->sel && b->sel->one_image;
}

static bool selected(const struct builder *b, size_t proc)
{
	return !one_image(b) || b->sel->image_index == proc;
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}


struct memo_want {
	const struct builder *b;
	const char *file, *build_id;
	uint64_t vaddr;
};

static bool same_memo(uint64_t value, const void *ctx)
{
	const struct memo_want *w = ctx;
	const struct sym_memo *m = &w->b->cache->memo[value];
	return m->file == w->file && m->build_id == w->build_id && m->vaddr == w->vaddr;
}

/* symbolizer_lookup, remembered. Returns the number of frames (*frames
 * valid until the builder is released) or -ENOMEM. */
static int lookup(struct builder *b, const struct c_mapping *cm, uint64_t vaddr,
		  const struct sym_frame **frames)
{
	struct memo_want w = { b, cm->file, cm->build_id, vaddr };
	uint64_t key;
	bool inserted;
	uint64_t h = hash_u64((uint64_t)(uintptr_t)cm->file ^ (uint64_t)(uintptr_t)cm->build_id * 31 ^
			      vaddr * 0x9e3779b97f4a7c15ULL);
	uint64_t *slot = hashmap_probe(&b->cache->memo_index, h, same_memo, &w, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (!inserted) {
		*frames = b->cache->memo[*slot].frames;
		return b->cache->memo[*slot].n;
	}
	int n = symbolizer_lookup(b->cache->sym, cm->file, vaddr, frames);
	struct sym_frame *copy = NULL;
	if (n < 0 || array_grow(&b->cache->memo, &b->cache->cap_memo, b->cache->n_memo, sizeof(*b->cache->memo)) < 0 ||
	    (n > 0 && !(copy = malloc((size_t)n * sizeof(*copy))))) {
		hashmap_remove(&b->cache->memo_index, key);
		return -ENOMEM;
	}
	if (n > 0)
		memcpy(copy, *frames, (size_t)n * sizeof(*copy));
	b->cache->memo[b->cache->n_memo] = (struct sym_memo){ cm->file, cm->build_id, vaddr, copy, n };
	*slot = b->cache->n_memo++;
	*frames = copy;
	return n;
}

/* pprof's mapping key (profile.Merge): the build id, or the file when
 * there is none; the size rounded up to 4 KiB; the offset. Mappings of
 * one file in many processes (every cc1 of a build), or of one file
 * reached by two paths (/usr/bin/git, /usr/lib/git-core/git: a hard
 * link), are one mapping in pprof once it has read the file; they are one
 * here from the start, so that both tools show one [git]. */
struct mapping_want {
	const char *id_or_file;
	uint64_t size, offset;
};

static uint64_t rounded_size(uint64_t start, uint64_t limit)
{
	uint64_t size = limit - start;
	return size + 0xfff - (size + 0xfff) % 0x1000;
}

static bool same_mapping(uint64_t value, const void *ctx)
{
	const struct profile_mapping *m = (const void *)(uintptr_t)value;
	const struct mapping_want *w = ctx;
	return !strcmp(*m->build_id ? m->build_id : m->filename, w->id_or_file) &&
	       rounded_size(m->memory_start, m->memory_limit) == w->size &&
	       m->file_offset == w->offset;
}

static struct profile_mapping *get_mapping(struct builder *b, uint32_t mi)
{
	if (b->mapping[mi])
		return b->mapping[mi];
	const struct c_mapping *cm = &b->c->mapping[mi];
	/* the build id the process had loaded; the file's only if it sent none */
	const char *on_disk = symbolizer_build_id(b->cache->sym, cm->file);
	const char *id = cm->build_id[0] ? cm->build_id : on_disk;
	/* a file rebuilt or replaced since the process loaded it would name
	 * the wrong functions: its frames stay addresses, and it is said */
	if (cm->build_id[0] && on_disk[0] && strcmp(cm->build_id, on_disk) != 0) {
		b->stale[mi] = true;
		if (!b->c->stats.stale_files++)
			b->c->stats.stale_name = cm->file;
	}
	struct mapping_want w = { *id ? id : cm->file, rounded_size(cm->start, cm->end), cm->offset };
	uint64_t h = hash_bytes(w.id_or_file, strlen(w.id_or_file), w.size ^ w.offset << 20);
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(&b->mapping_keys, h, same_mapping, &w, &inserted, &key);
	if (!slot)
		return NULL;
	if (!inserted)
		return b->mapping[mi] = (void *)(uintptr_t)*slot;
	struct profile_mapping *m = profile_add_mapping(b->p, b->p->n_mapping + 1);
	if (!m || !(m->filename = profile_intern(b->p, cm->file)) ||
	    !(m->build_id = profile_intern(b->p, id))) {
		hashmap_remove(&b->mapping_keys, key);
		return NULL;
	}
	m->memory_start = cm->start;
	m->memory_limit = cm->end;
	m->file_offset = cm->offset;
	/* fully symbolized here (or not to be): pprof must not try again, with
	 * a file that may not be the one that ran */
	m->has_functions = m->has_filenames = m->has_line_numbers = m->has_inline_frames = true;
	*slot = (uint64_t)(uintptr_t)m;
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

/* The location of a return address: symbolized at pc - 1, inside the
 * call. Its address is where that is in the profile's mapping, which may
 * be another process's (see get_mapping), as pprof's merge places it. */
struct location_want {
	const struct profile_mapping *m;	/* NULL when in no known module */
	uint64_t address;
};

static bool same_location(uint64_t value, const void *ctx)
{
	const struct profile_location *l = (const void *)(uintptr_t)value;
	const struct location_want *w = ctx;
	return l->mapping == w->m && l->address == w->address;
}

static struct profile_location *get_location(struct builder *b, const struct c_frame *fr)
{
	struct profile_mapping *m = NULL;
	const struct c_mapping *cm = NULL;
	if (fr->mapping != NO_MAPPING) {
		if (!(m = get_mapping(b, fr->mapping)))
			return NULL;
		cm = &b->c->mapping[fr->mapping];
	}
	struct location_want w = { m, cm ? fr->pc - 1 - cm->start + m->memory_start : fr->pc - 1 };
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(&b->locations,
				       hash_u64((uint64_t)(uintptr_t)m * 31 ^ w.address),
				       same_location, &w, &inserted, &key);
	if (!slot)
		return NULL;
	if (!inserted)
		return (void *)(uintptr_t)*slot;
	const struct sym_frame *frames = NULL;
	int n = 0;
	struct profile_location *l = NULL;
	if (cm && !b->stale[fr->mapping] && (n = lookup(b, cm, fr->pc - 1 - cm->bias, &frames)) < 0)
		goto fail;
	progress(b);
	if (!(l = profile_add_location(b->p, b->p->n_location + 1, (size_t)n)))
		goto fail;
	l->mapping = m;
	l->address = w.address;
	for (int i = 0; i < n; i++) {
		if (!(l->line[i].function = get_function(b, &frames[i])))
			goto fail;
		l->line[i].line = frames[i].line;
	}
	*slot = (uint64_t)(uintptr_t)l;
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
	/* bytes, program, exe; and pid, cmdline when there are several */
	bool named = *proc->exe, with_cmd = !b->one_process && *proc->cmdline;
	size_t n_label = 1 + 2 * named + !b->one_process + with_cmd;
	struct profile_sample *s = profile_add_sample(b->p, n, n_label);
	if (!s)
		return -ENOMEM;
	memcpy(s->location, locs, n * sizeof(*locs));
	double scale = heap_scale(bk->size, proc->rate);
	uint64_t inuse = bk->allocs > bk->frees ? bk->allocs - bk->frees : 0;
	s->value[0] = llround((double)bk->allocs * scale);
	s->value[1] = llround((double)bk->allocs * (double)bk->size * scale);
	s->value[2] = llround((double)inuse * scale);
	s->value[3] = llround((double)inuse * (double)bk->size * scale);
	uint64_t peak = bucket_peak_live(b->c, bk);
	s->value[4] = llround((double)peak * scale);
	s->value[5] = llround((double)peak * (double)bk->size * scale);
	struct profile_label *l = s->label;
	*l++ = (struct profile_label){ profile_intern(b->p, "bytes"), "", (int64_t)bk->size, "" };
	if (!b->one_process)
		*l++ = (struct profile_label){ profile_intern(b->p, "pid"), "", proc->pid, "" };
	if (named) {
		*l++ = (struct profile_label){ profile_intern(b->p, "program"),
					       profile_intern(b->p, base_name(proc->exe)), 0, "" };
		*l++ = (struct profile_label){ profile_intern(b->p, "exe"),
					       profile_intern(b->p, proc->exe), 0, "" };
	}
	if (with_cmd)
		*l++ = (struct profile_label){ profile_intern(b->p, "cmdline"),
					       profile_intern(b->p, proc->cmdline), 0, "" };
	for (size_t i = 0; i < n_label; i++)
		if (!s->label[i].key || !s->label[i].str)
			return -ENOMEM;
	return 0;
}

/* The heap over time of every process that allocated, in the profile's
 * arena. NULL when out of memory. */
static struct timeline *make_timeline(const struct builder *b, struct collector *c,
				      struct profile *p)
{
	flush_intervals(c);
	struct timeline *t = arena_calloc(&p->arena, 1, sizeof(*t));
	if (!t)
		return NULL;
	t->start_ns = (int64_t)c->grid_start_ns;
	t->interval_ns = (int64_t)c->interval_ns;
	for (size_t i = 0; i < c->n_proc; i++)
		t->n_series += c->proc[i].started && c->proc[i].peak > 0 && selected(b, i);
	if (t->n_series && !(t->series = arena_calloc(&p->arena, t->n_series, sizeof(*t->series))))
		return NULL;
	struct timeline_series *ts = t->series;
	for (size_t i = 0; i < c->n_proc; i++) {
		const struct c_proc *cp = &c->proc[i];
		if (!cp->started || !(cp->peak > 0) || !selected(b, i))
			continue;
		size_t n = cp->n_points;
		*ts = (struct timeline_series){ .pid = cp->pid, .first = cp->first_point, .n = n,
						.peak_bytes = llround(cp->peak), .peak_ns = -1 };
		if (!(ts->exe = profile_intern(p, cp->exe)))
			return NULL;
		if (cp->peak_ns >= c->grid_start_ns)
			ts->peak_ns = (int64_t)(cp->peak_ns - c->grid_start_ns);
		if (n && (!(ts->inuse = arena_calloc(&p->arena, n, sizeof(int64_t))) ||
			  !(ts->allocated = arena_calloc(&p->arena, n, sizeof(int64_t))) ||
			  !(ts->rss = arena_calloc(&p->arena, n, sizeof(int64_t)))))
			return NULL;
		for (size_t k = 0; k < n; k++) {
			ts->inuse[k] = cp->points[k].inuse > 0 ? llround(cp->points[k].inuse) : 0;
			ts->allocated[k] = llround(cp->points[k].allocated);
			ts->rss[k] = cp->points[k].rss;
		}
		ts++;
	}
	return t;
}

/* ---- the programs: which one File: names, and each one's share ----------- */

struct program {
	const char *name;	/* the executable's base name */
	double bytes;		/* alloc_space */
	size_t image;		/* the image of it that allocated the most */
	double image_bytes;
};

static int by_name(const void *x, const void *y)
{
	const struct program *a = x, *b = y;
	return strcmp(a->name, b->name);
}

static int by_bytes(const void *x, const void *y)
{
	const struct program *a = x, *b = y;
	if (a->bytes != b->bytes)
		return a->bytes < b->bytes ? 1 : -1;
	return strcmp(a->name, b->name);
}

/* "3 programs by alloc_space: cc1 71%, as 20%, make 9%" (at most 8 named). */
static char *programs_line(const struct program *pg, size_t n, double total)
{
	size_t cap = 64 + 8 * 40, at = 0;
	char *s = malloc(cap);
	if (!s)
		return NULL;
	at += (size_t)snprintf(s, cap, "%zu programs by alloc_space:", n);
	for (size_t i = 0; i < n && i < 8; i++) {
		double pct = total > 0 ? 100 * pg[i].bytes / total : 0;
		char share[16];
		if (pct > 0 && pct < 1)
			snprintf(share, sizeof(share), "<1%%");
		else
			snprintf(share, sizeof(share), "%.0f%%", pct);
		at += (size_t)snprintf(s + at, cap - at, "%s %.24s %s", i ? "," : "", pg[i].name,
				       share);
	}
	if (n > 8)
		snprintf(s + at, cap - at, " and %zu more", n - 8);
	return s;
}

/* Puts the executable of the program that allocated the most first in the
 * mappings (pprof's File: line names mapping[0]) and, when the profile
 * holds several programs, writes the comment that says their shares. A
 * program is an executable's base name: every cc1 of a build is one. */
static int programs(struct builder *b)
{
	struct collector *c = b->c;
	double *bytes = calloc(c->n_proc + 1, sizeof(*bytes));
	struct program *pg = calloc(c->n_proc + 1, sizeof(*pg));
	int rc = -ENOMEM;
	if (!bytes || !pg)
		goto out;
	for (size_t i = 0; i < c->n_bucket; i++) {
		const struct c_bucket *bk = &c->bucket[i];
		if (bk->allocs && selected(b, bk->proc))
			bytes[bk->proc] += (double)llround((double)bk->allocs * bk->scaled);
	}
	size_t n = 0;
	for (size_t i = 0; i < c->n_proc; i++)
		if (selected(b, i) && c->proc[i].started && (bytes[i] > 0 || one_image(b)))
			pg[n++] = (struct program){ base_name(c->proc[i].exe), bytes[i], i, bytes[i] };
	/* one per name: the sum, and the image that allocated the most */
	qsort(pg, n, sizeof(*pg), by_name);
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (k && !strcmp(pg[k - 1].name, pg[i].name)) {
			pg[k - 1].bytes += pg[i].bytes;
			if (pg[i].image_bytes > pg[k - 1].image_bytes ||
			    (pg[i].image_bytes == pg[k - 1].image_bytes && pg[i].image < pg[k - 1].image)) {
				pg[k - 1].image = pg[i].image;
				pg[k - 1].image_bytes = pg[i].image_bytes;
			}
		} else {
			pg[k++] = pg[i];
		}
	}
	qsort(pg, k, sizeof(*pg), by_bytes);
	if (k == 0 && !one_image(b) && c->root >= 0)	/* nothing allocated: the first process */
		pg[k++] = (struct program){ base_name(c->proc[c->root].exe), 0, (size_t)c->root, 0 };
	if (k > 0) {
		/* its modules (a forked child's are its parent's mappings) */
		const struct c_proc *top = &c->proc[pg[0].image];
		uint32_t exe = NO_MAPPING;
		for (size_t i = 0; i < top->n_mod && exe == NO_MAPPING; i++)
			if (c->mapping[top->mod[i].mapping].file == top->exe)
				exe = top->mod[i].mapping;
		for (size_t i = 0; i < c->n_mapping && exe == NO_MAPPING; i++)
			if (c->mapping[i].proc == pg[0].image && c->mapping[i].file == top->exe)
				exe = (uint32_t)i;
		if (exe != NO_MAPPING && !get_mapping(b, exe))
			goto out;
	}
	if (k > 1) {
		double total = 0;
		for (size_t i = 0; i < k; i++)
			total += pg[i].bytes;
		if (!(b->programs_comment = programs_line(pg, k, total)))
			goto out;
	}
	rc = 0;
out:
	free(bytes);
	free(pg);
	return rc;
}

void sym_cache_free(struct sym_cache *sc)
{
	if (!sc)
		return;
	symbolizer_free(sc->sym);
	for (size_t i = 0; i < sc->n_memo; i++)
		free(sc->memo[i].frames);
	free(sc->memo);
	hashmap_release(&sc->memo_index);
	free(sc);
}

struct profile *collector_profile(struct collector *c, const struct collector_meta *meta)
{
	static const char *types[] = { "alloc_objects", "alloc_space", "inuse_objects",
				       "inuse_space", "peak_objects", "peak_space" };
	static const char *units[] = { "count", "bytes", "count", "bytes", "count", "bytes" };
	struct builder b = { 0 };
	b.c = c;
	c->stats.stale_files = 0;
	b.meta = meta;
	b.to_symbolize = c->n_frame;
	b.sel = meta;
	b.one_process = (meta && meta->one_image) ||
			(collector_distinct_pids(c) <= 1 && !(meta && meta->pid_labels));
	if (!c->symbols && (c->symbols = calloc(1, sizeof(*c->symbols))) &&
	    !(c->symbols->sym = symbolizer_new())) {
		free(c->symbols);
		c->symbols = NULL;
	}
	b.cache = c->symbols;
	if (!b.cache || !(b.p = profile_new()) ||
	    !(b.mapping = calloc(c->n_mapping + 1, sizeof(*b.mapping))) ||
	    !(b.stale = calloc(c->n_mapping + 1, sizeof(*b.stale))))
		goto out_fail;
	struct profile *p = b.p;
	if (profile_set_sample_types(p, 6, types, units) < 0)
		goto out_fail;
	p->period_type.type = profile_intern(p, "space");
	p->period_type.unit = profile_intern(p, "bytes");
	p->default_sample_type = profile_intern(p, "alloc_space");
	if (!p->period_type.type || !p->period_type.unit || !p->default_sample_type)
		goto out_fail;

	if (c->root >= 0) {
		const struct c_proc *root = &c->proc[one_image(&b) ? b.sel->image_index
								   : (size_t)c->root];
		p->period = root->rate;
		uint64_t start = root->start_ns, end = root->end_ns;
		if (!one_image(&b)) {
			for (size_t i = 0; i < c->n_proc; i++)
				if (c->proc[i].end_ns > end)
					end = c->proc[i].end_ns;
			if (c->span_start_ns) {	/* memprof's view: from fork to the last exit */
				start = c->span_start_ns;
				end = c->span_end_ns;
			}
		}
		p->time_nanos = (int64_t)start;
		if (end > start)
			p->duration_nanos = (int64_t)(end - start);
	}
	if (programs(&b) < 0)
		goto out_fail;
	for (size_t i = 0; i < c->n_bucket; i++)
		if (c->bucket[i].allocs && selected(&b, c->bucket[i].proc) &&
		    add_sample(&b, &c->bucket[i]) < 0)
			goto out_fail;
	if (c->now_ns && !(p->timeline = make_timeline(&b, c, p)))
		goto out_fail;
	for (const char *const *cm = meta && meta->comments ? meta->comments : NULL; cm && *cm; cm++)
		if (profile_add_comment(p, *cm) < 0)
			goto out_fail;
	if (b.programs_comment && profile_add_comment(p, b.programs_comment) < 0)
		goto out_fail;
	if (collect_add_switch_comments(c, p, one_image(&b) ? (long)b.sel->image_index : -1) < 0)
		goto out_fail;
	if (meta && meta->progress)
		meta->progress(b.symbolized, b.symbolized, meta->progress_data);
	goto out;
out_fail:
	profile_free(b.p);
	b.p = NULL;
out:
	free(b.mapping);
	free(b.stale);
	hashmap_release(&b.locations);
	hashmap_release(&b.functions);
	hashmap_release(&b.mapping_keys);
	free(b.programs_comment);
	if (!one_image(&b) && !(meta && meta->keep_symbols)) {	/* --split, serving: asked again */
		sym_cache_free(c->symbols);
		c->symbols = NULL;
	}
	return b.p;
}
