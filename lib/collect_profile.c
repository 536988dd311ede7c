/* collect_profile.c - the heap profile of what the collector has gathered:
 * symbolized, values scaled by Go's formula (docs/sampling.md). */
#include "collect.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>

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
	struct sym_functions functions;		/* a frame's function */
	struct profile_location *truncated;	/* the root of stacks cut short */
	size_t symbolized, to_symbolize;
	size_t last_mod;			/* see modmap_find */
	/* per distinct return address (collector.pc): its location, made
	 * on first use */
	struct profile_location **loc;
	const struct collector_meta *meta;
	/* no pid labels: the profiles of two runs then line up sample by
	 * sample, and -base/-diff_base cancel what did not change */
	bool one_process;
	const struct collector_meta *sel;	/* one image only, when sel->one_image */
	char *programs_comment;			/* "3 programs: ...", or NULL */
	/* the labels' strings, interned in the profile once, not per sample */
	const char *k_bytes, *k_pid, *k_program, *k_exe, *k_cmdline;
	struct proc_labels {
		const char *program, *exe, *cmdline;	/* NULL until first used */
	} *labels;				/* per process image */
	/* the samples' label arrays, one per (process, size, pool): shared
	 * (profile_add_sample_shared) */
	struct hashmap label_sets;		/* hash (+ probe) -> struct label_set * */
	/* the last profile's samples to make (see compact_buckets), in the
	 * collector's bucket array; NULL otherwise */
	struct sample_src *src;
	size_t n_src;
};

/* What a heap sample is made of: a bucket's process, stack and size, and
 * its six values (alloc, inuse and peak objects and space) as written. */
struct sample_src {
	uint32_t proc, stack;
	uint64_t size;
	int64_t value[6];
};

struct label_set {
	uint32_t proc;
	uint64_t size;
	const char *pool;	/* interned in the profile, or NULL */
	struct profile_label *label;
	size_t n;
};

static bool one_image(const struct builder *b)
{
	return b->sel && b->sel->one_image;
}

/* one image, or the images of one pid */
static bool narrowed(const struct builder *b)
{
	return b->sel && (b->sel->one_image || b->sel->one_pid);
}

static bool selected(const struct builder *b, size_t proc)
{
	return (!one_image(b) || b->sel->image_index == proc) &&
	       (!b->sel || !b->sel->one_pid || b->c->proc[proc].pid == b->sel->one_pid);
}

static const char *base_name(const char *path)
{
	const char *slash = strrchr(path, '/');
	return slash ? slash + 1 : path;
}


/* The symbolizer's answers are keyed by (build id, address in the file):
 * the same code mapped by many processes, or reached by two paths (a hard
 * link), is symbolized once. A file without a build id is keyed by its
 * path instead. */
struct memo_want {
	const struct sym_cache *cache;
	const char *key;	/* interned build id, or the file when it has none */
	uint64_t vaddr;
};

static bool same_memo(uint64_t value, const void *ctx)
{
	const struct memo_want *w = ctx;
	const struct sym_memo *m = &w->cache->memo[value];
	return m->key == w->key && m->vaddr == w->vaddr;
}

static uint64_t memo_hash(const char *key, uint64_t vaddr)
{
	return hash_u64((uint64_t)(uintptr_t)key ^ vaddr * 0x9e3779b97f4a7c15ULL);
}

const struct sym_memo *sym_memo_find(const struct sym_cache *sc, const char *key, uint64_t vaddr)
{
	struct memo_want w = { sc, key, vaddr };
	for (uint64_t h = memo_hash(key, vaddr);; h++) {	/* hashmap_probe's walk */
		const uint64_t *slot = hashmap_get(&sc->memo_index, h);
		if (!slot || same_memo(*slot, &w))
			return slot ? &sc->memo[*slot] : NULL;
	}
}

/* Puts n frames (copied) as the answer for (key, vaddr) into a slot that
 * hashmap_probe made (its key hkey). Returns 0, or -ENOMEM (the slot is
 * removed). */
static int memo_fill(struct sym_cache *sc, uint64_t *slot, uint64_t hkey, const char *key,
		     uint64_t vaddr, const struct sym_frame *frames, int n)
{
	struct sym_frame *copy = NULL;
	if (array_grow(&sc->memo, &sc->cap_memo, sc->n_memo, sizeof(*sc->memo)) < 0 ||
	    (n > 0 && !(copy = malloc((size_t)n * sizeof(*copy))))) {
		hashmap_remove(&sc->memo_index, hkey);
		return -ENOMEM;
	}
	if (n > 0)
		memcpy(copy, frames, (size_t)n * sizeof(*copy));
	sc->memo[sc->n_memo] = (struct sym_memo){ key, vaddr, copy, n };
	*slot = sc->n_memo++;
	return 0;
}

int sym_memo_add(struct collector *c, const char *key, uint64_t vaddr,
		 const struct sym_frame *frames, int n)
{
	struct sym_cache *sc = c->symbols;
	struct memo_want w = { sc, key, vaddr };
	uint64_t hkey;
	bool inserted;
	uint64_t *slot = hashmap_probe(&sc->memo_index, memo_hash(key, vaddr), same_memo, &w,
				       &inserted, &hkey);
	if (!slot)
		return -ENOMEM;
	if (!inserted)
		return 0;
	c->stats.symbolized++;
	return memo_fill(sc, slot, hkey, key, vaddr, frames, n) < 0 ? -ENOMEM : 1;
}

struct sym_cache *sym_cache(struct collector *c)
{
	if (!c->symbols && (c->symbols = calloc(1, sizeof(*c->symbols))) &&
	    !(c->symbols->sym = symbolizer_new())) {
		free(c->symbols);
		c->symbols = NULL;
	}
	return c->symbols;
}

/* symbolizer_lookup, remembered (from one profile to the next too) in
 * c->symbols, which must be made. Returns the number of frames (*frames
 * valid until the collector is freed) or -ENOMEM. */
static int lookup(struct collector *c, const struct c_mapping *cm, uint64_t vaddr,
		  const struct sym_frame **frames)
{
	struct sym_cache *sc = c->symbols;
	struct memo_want w = { sc, *cm->build_id ? cm->build_id : cm->file, vaddr };
	uint64_t hkey;
	bool inserted;
	uint64_t *slot = hashmap_probe(&sc->memo_index, memo_hash(w.key, vaddr), same_memo, &w,
				       &inserted, &hkey);
	if (!slot)
		return -ENOMEM;
	if (!inserted) {
		*frames = sc->memo[*slot].frames;
		return sc->memo[*slot].n;
	}
	int n = symbolizer_lookup(sc->sym, cm->file, vaddr, frames);
	c->stats.symbolized++;
	if (n < 0) {
		hashmap_remove(&sc->memo_index, hkey);
		return -ENOMEM;
	}
	if (memo_fill(sc, slot, hkey, w.key, vaddr, *frames, n) < 0)
		return -ENOMEM;
	*frames = sc->memo[sc->n_memo - 1].frames;
	return n;
}

bool sym_file_usable(const struct c_mapping *cm, const char *on_disk)
{
	return !cm->build_id[0] || !strcmp(cm->build_id, on_disk);
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
	 * the wrong functions: its frames stay addresses, and it is said
	 * (not when it is gone, or has no build id now: nothing to say it
	 * changed). See sym_file_usable: what was symbolized during the
	 * run (collect_warm.c) was under the same condition. */
	if (!sym_file_usable(cm, on_disk)) {
		b->stale[mi] = true;
		if (on_disk[0] && !b->c->stats.stale_files++)
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
	m->has_functions = m->has_filenames = m->has_line_numbers = m->has_inline_frames =
		!b->c->no_symbolize;
	*slot = (uint64_t)(uintptr_t)m;
	return b->mapping[mi] = m;
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

uint32_t modmap_find(struct c_modmap mm, uint64_t pc, size_t *last)
{
	if (*last < mm.n_mod && pc >= mm.mod[*last].start && pc < mm.mod[*last].end)
		return mm.mod[*last].mapping;
	for (size_t i = 0; i < mm.n_mod; i++)
		if (pc >= mm.mod[i].start && pc < mm.mod[i].end) {
			*last = i;
			return mm.mod[i].mapping;
		}
	return NO_MAPPING;
}

static struct profile_location *find_location(struct builder *b, struct c_modmap mm, uint64_t pc)
{
	struct profile_mapping *m = NULL;
	const struct c_mapping *cm = NULL;
	uint32_t mi = modmap_find(mm, pc - 1, &b->last_mod);
	if (mi != NO_MAPPING) {
		if (!(m = get_mapping(b, mi)))
			return NULL;
		cm = &b->c->mapping[mi];
	}
	struct location_want w = { m, cm ? pc - 1 - cm->start + m->memory_start : pc - 1 };
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
	if (cm && !b->stale[mi] && !b->c->no_symbolize &&
	    (n = lookup(b->c, cm, pc - 1 - cm->bias, &frames)) < 0)
		goto fail;
	progress(b);
	if (!(l = profile_add_location(b->p, b->p->n_location + 1, (size_t)n)))
		goto fail;
	l->mapping = m;
	l->address = w.address;
	for (int i = 0; i < n; i++) {
		if (!(l->line[i].function = sym_function(b->p, &b->functions, &frames[i])))
			goto fail;
		l->line[i].line = frames[i].line;
	}
	*slot = (uint64_t)(uintptr_t)l;
	return l;
fail:
	hashmap_remove(&b->locations, key);
	return NULL;
}

/* Stacks deeper than the tracker unwinds end in this made-up frame, so
 * reports show that the callers are missing. */
static struct profile_location *truncated_location(struct builder *b)
{
	if (b->truncated)
		return b->truncated;
	struct sym_frame f = { "[truncated stack]", "", "", 0, 0 };
	struct profile_location *l = profile_add_location(b->p, b->p->n_location + 1, 1);
	if (!l || !(l->line[0].function = sym_function(b->p, &b->functions, &f)))
		return NULL;
	return b->truncated = l;
}

static bool is_shim_line(const struct profile_line *l)
{
	return l->function && !strncmp(l->function->name, "memprof_", 8);
}

/* A custom allocator's block is reported from memprof.h's inline
 * functions: its leaf is the allocator, not them. Returns l without their
 * lines (a copy; l itself serves other stacks), NULL when out of memory. */
static struct profile_location *without_shim(struct builder *b, struct profile_location *l)
{
	size_t k = 0;
	while (k < l->n_line && is_shim_line(&l->line[k]))
		k++;
	if (!k || k == l->n_line)
		return l;
	struct profile_location *t = profile_add_location(b->p, b->p->n_location + 1, l->n_line - k);
	if (!t)
		return NULL;
	t->mapping = l->mapping;
	t->address = l->address;
	memcpy(t->line, l->line + k, (l->n_line - k) * sizeof(*t->line));
	return t;
}

struct label_want {
	uint32_t proc;
	uint64_t size;
	const char *pool;	/* the profile's copy */
};

static bool same_label_set(uint64_t value, const void *ctx)
{
	const struct label_set *ls = (const void *)(uintptr_t)value;
	const struct label_want *w = ctx;
	return ls->proc == w->proc && ls->size == w->size && ls->pool == w->pool;
}

/* The labels of a sample of process proc_i and size `size` (and pool, if
 * not NULL): bytes, program, exe; and pid, cmdline when there are several
 * processes. One array for all such samples. NULL when out of memory. */
static const struct label_set *label_set(struct builder *b, uint32_t proc_i, uint64_t size,
					 const char *pool)
{
	const struct c_proc *proc = &b->c->proc[proc_i];
	struct label_want w = { proc_i, size, NULL };
	if (pool && !(w.pool = profile_intern(b->p, pool)))
		return NULL;
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(&b->label_sets,
				       hash_u64(size * 0x9e3779b97f4a7c15ULL ^ proc_i ^
						(uint64_t)(uintptr_t)w.pool << 20),
				       same_label_set, &w, &inserted, &key);
	if (!slot)
		return NULL;
	if (!inserted)
		return (const void *)(uintptr_t)*slot;
	bool named = *proc->exe, with_cmd = !b->one_process && *proc->cmdline;
	size_t n_label = 1 + 2 * named + !b->one_process + with_cmd + (pool != NULL);
	struct label_set *ls = arena_alloc(&b->p->arena, sizeof(*ls));
	struct profile_label *l = arena_calloc(&b->p->arena, n_label, sizeof(*l));
	struct proc_labels *pl = &b->labels[proc_i];
	if (!ls || !l ||
	    (!pl->program && (!(pl->program = profile_intern(b->p, base_name(proc->exe))) ||
			      !(pl->exe = profile_intern(b->p, proc->exe)) ||
			      !(pl->cmdline = profile_intern(b->p, proc->cmdline)))))
		goto fail;
	*ls = (struct label_set){ proc_i, size, w.pool, l, n_label };
	*l++ = (struct profile_label){ b->k_bytes, "", (int64_t)size, "" };
	if (!b->one_process)
		*l++ = (struct profile_label){ b->k_pid, "", proc->pid, "" };
	if (named) {
		*l++ = (struct profile_label){ b->k_program, pl->program, 0, "" };
		*l++ = (struct profile_label){ b->k_exe, pl->exe, 0, "" };
	}
	if (with_cmd)
		*l++ = (struct profile_label){ b->k_cmdline, pl->cmdline, 0, "" };
	if (pool)
		*l++ = (struct profile_label){ profile_intern(b->p, "pool"), w.pool, 0, "" };
	for (size_t i = 0; i < n_label; i++)
		if (!ls->label[i].key || !ls->label[i].str)
			goto fail;
	*slot = (uint64_t)(uintptr_t)ls;
	return ls;
fail:
	hashmap_remove(&b->label_sets, key);
	return NULL;
}

/* The location of frame i of stack st. Every frame of every sample comes
 * here: a distinct return address is resolved once. */
static struct profile_location *frame_location(struct builder *b, const struct c_stack *st,
					       uint32_t i)
{
	uint32_t ix = b->c->frame[st->first + i];
	if (!b->loc[ix]) {
		const struct c_pc *d = &b->c->pc[ix];
		b->loc[ix] = find_location(b, proc_modmap(b->c, d->proc, d->map), d->pc);
	}
	return b->loc[ix];
}

/* A new sample of stack `stack` in process proc_i, with its locations and
 * labels (bytes = size; pool when not NULL); its values are left 0. shim:
 * memprof.h's functions are left out of the leaf. NULL when out of
 * memory. */
static struct profile_sample *new_sample(struct builder *b, uint32_t proc_i, uint32_t stack,
					 uint64_t size, const char *pool, bool shim)
{
	const struct c_stack *st = &b->c->stack[stack];
	struct profile_location *locs[MEMPROF_MAX_FRAMES + 1];
	size_t n = 0;
	for (uint32_t i = 0; i < st->n; i++) {
		struct profile_location *l = frame_location(b, st, i);
		if (!l)
			return NULL;
		if (n == 0 && sym_is_allocator(l) && i + 1 < st->n)
			continue;
		locs[n++] = l;
	}
	if (st->truncated && !(locs[n++] = truncated_location(b)))
		return NULL;
	if (shim && n) {
		size_t skip = 0;	/* whole frames of the shim (an -O0 build) */
		while (skip + 1 < n && locs[skip]->n_line &&
		       is_shim_line(&locs[skip]->line[locs[skip]->n_line - 1]))
			skip++;
		memmove(locs, locs + skip, (n - skip) * sizeof(*locs));
		n -= skip;
		if (!(locs[0] = without_shim(b, locs[0])))
			return NULL;
	}
	const struct label_set *ls = label_set(b, proc_i, size, pool);
	if (!ls)
		return NULL;
	struct profile_sample *s = profile_add_sample_shared(b->p, n, ls->label, ls->n);
	if (!s)
		return NULL;
	memcpy(s->location, locs, n * sizeof(*locs));
	return s;
}

/* Every location of stack `stack`, made (and symbolized) in the order
 * new_sample makes them, so that ids are the same as without this pass. */
static int stack_locations(struct builder *b, uint32_t stack)
{
	const struct c_stack *st = &b->c->stack[stack];
	for (uint32_t i = 0; i < st->n; i++)
		if (!frame_location(b, st, i))
			return -ENOMEM;
	if (st->truncated && !truncated_location(b))
		return -ENOMEM;
	return 0;
}

/* Symbolizes every location first, so that libdw's files (with the debug
 * sections it inflated: ~10 MB for libc's) can go before the samples are
 * made (meta->close_files). The pool samples' locations are left to
 * new_sample: it makes a location of its own for each one's leaf
 * (without_shim), and ids must come in the same order either way. */
static int symbolize_all(struct builder *b)
{
	struct collector *c = b->c;
	for (size_t i = 0; i < b->n_src; i++)
		if (stack_locations(b, b->src[i].stack) < 0)
			return -ENOMEM;
	for (size_t i = 0; !b->src && i < c->n_bucket; i++)
		if (c->bucket[i].allocs && selected(b, c->bucket[i].proc) &&
		    stack_locations(b, c->bucket[i].stack) < 0)
			return -ENOMEM;
	const struct x_bucket *xb;
	size_t n_xb = collect_extra_buckets(c, &xb);
	for (size_t i = 0; i < n_xb && xb[i].kind == 0; i++)
		if (xb[i].allocs && selected(b, xb[i].proc) && stack_locations(b, xb[i].stack) < 0)
			return -ENOMEM;
	return 0;
}

static void bucket_source(const struct collector *c, const struct c_bucket *bk,
			  struct sample_src *src)
{
	bool live = bk->allocs > bk->frees;
	double peak_n, peak_b;
	bucket_peak(c, bk, &peak_n, &peak_b);
	*src = (struct sample_src){ bk->proc, bk->stack, bk->size,
				    { llround(bk->alloc_n), llround(bk->alloc_b),
				      live ? llround(bk->live_n) : 0, live ? llround(bk->live_b) : 0,
				      llround(peak_n), llround(peak_b) } };
}

static int add_sample(struct builder *b, const struct sample_src *src)
{
	struct profile_sample *s = new_sample(b, src->proc, src->stack, src->size, NULL, false);
	if (!s)
		return -ENOMEM;
	memcpy(s->value, src->value, sizeof(src->value));
	return 0;
}

/* The buckets that make samples, made sample sources in place (96 bytes
 * each down to 64: source k goes to [64k, 64k + 64) once bucket k, at
 * [96k, 96k + 96), is read), and the pages of the rest given back. Before
 * symbolizing, for the last profile only (the buckets are gone). */
static void compact_buckets(struct builder *b)
{
	struct collector *c = b->c;
	unsigned char *base = (unsigned char *)c->bucket;
	size_t k = 0;
	for (size_t i = 0; i < c->n_bucket; i++) {
		struct c_bucket bk;
		struct sample_src src;
		memcpy(&bk, base + i * sizeof(bk), sizeof(bk));
		if (!bk.allocs || !selected(b, bk.proc))
			continue;
		bucket_source(c, &bk, &src);
		memcpy(base + k++ * sizeof(src), &src, sizeof(src));
	}
	b->src = (struct sample_src *)c->bucket;
	b->n_src = k;
	uintptr_t page = 4096, from = ((uintptr_t)(b->src + k) + page - 1) & ~(page - 1);
	uintptr_t to = (uintptr_t)(c->bucket + c->n_bucket) & ~(page - 1);
	if (to > from)
		madvise((void *)from, to - from, MADV_DONTNEED);
}

/* The collector's last profile (collector_meta.last): what its samples
 * are made from is let go as they are made. Buckets are read in order,
 * and a stack's frames lie after those of the stacks made before it:
 * once the buckets of every stack before stack `next` are done, those
 * stacks and their frames go, and so do the buckets done. The
 * pages are given back (MADV_DONTNEED) inside the arrays, which are freed
 * at the end. */
struct release {
	const struct sample_src *src;	/* the buckets as compact_buckets left them, or NULL */
	uint32_t *last_use;	/* per stack: its last bucket + 1; UINT32_MAX: an extra sample's */
	size_t next;		/* the first stack still wanted */
	uintptr_t stack_done, frame_done, bucket_done;	/* page-aligned ends of what went */
};

static int release_init(struct release *r, const struct collector *c, const struct builder *b)
{
	*r = (struct release){ .src = b->src };
	if (!(r->last_use = calloc(c->n_stack + 1, sizeof(*r->last_use))))
		return -ENOMEM;
	for (size_t i = 0; i < b->n_src; i++)
		r->last_use[b->src[i].stack] = (uint32_t)i + 1;
	for (size_t i = 0; !b->src && i < c->n_bucket; i++)
		r->last_use[c->bucket[i].stack] = (uint32_t)i + 1;
	const struct x_bucket *xb;
	size_t n_xb = collect_extra_buckets(c, &xb);
	for (size_t i = 0; i < n_xb; i++)
		r->last_use[xb[i].stack] = UINT32_MAX;
	r->stack_done = (uintptr_t)c->stack;
	r->frame_done = (uintptr_t)c->frame;
	r->bucket_done = (uintptr_t)c->bucket;
	return 0;
}

/* Gives back the whole pages of [*done, end) (start rounded up, end down). */
static void drop_pages(uintptr_t *done, uintptr_t end)
{
	uintptr_t page = 4096, from = (*done + page - 1) & ~(page - 1), to = end & ~(page - 1);
	if (to > from && to - from >= 64 * page) {
		madvise((void *)from, to - from, MADV_DONTNEED);
		*done = to;
	}
}

/* Buckets [0, n_done) (or sample sources, when compacted) have made
 * their samples. */
static void release_some(struct release *r, const struct collector *c, size_t n_done)
{
	while (r->next < c->n_stack && r->last_use[r->next] <= n_done)
		r->next++;
	size_t frame_end = r->next < c->n_stack ? c->stack[r->next].first : c->n_frame;
	drop_pages(&r->stack_done, (uintptr_t)(c->stack + r->next));
	drop_pages(&r->frame_done, (uintptr_t)(c->frame + frame_end));
	drop_pages(&r->bucket_done, r->src ? (uintptr_t)(r->src + n_done)
					   : (uintptr_t)(c->bucket + n_done));
}

/* A mapping's or pool block's sample: its four values (alloc objects and
 * space, in use objects and space) at column `at`, the others 0. */
static int add_extra_sample(struct builder *b, const struct x_bucket *xb, size_t at)
{
	const struct c_proc *proc = &b->c->proc[xb->proc];
	struct profile_sample *s = new_sample(b, xb->proc, xb->stack, xb->size, xb->pool, xb->kind == 1);
	if (!s)
		return -ENOMEM;
	double scale = heap_scale(xb->size, proc->rate);
	uint64_t inuse = xb->allocs > xb->frees ? xb->allocs - xb->frees : 0;
	s->value[at] = llround((double)xb->allocs * scale);
	s->value[at + 1] = llround((double)xb->allocs * (double)xb->size * scale);
	s->value[at + 2] = llround((double)inuse * scale);
	s->value[at + 3] = llround((double)xb->live_bytes * scale);
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
			bytes[bk->proc] += (double)llround(bk->alloc_b);
	}
	size_t n = 0;
	for (size_t i = 0; i < c->n_proc; i++)
		if (selected(b, i) && c->proc[i].started && (bytes[i] > 0 || narrowed(b)))
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
	if (k == 0 && !narrowed(b) && c->root >= 0)	/* nothing allocated: the first process */
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

void collector_close_files(struct collector *c)
{
	if (!c->symbols)
		return;
	sym_warm_settle(c, true);
	symbolizer_close_files(c->symbols->sym);
}

void sym_cache_free(struct sym_cache *sc)
{
	if (!sc)
		return;
	sym_warm_free(sc);
	symbolizer_free(sc->sym);
	for (size_t i = 0; i < sc->n_memo; i++)
		free(sc->memo[i].frames);
	free(sc->memo);
	hashmap_release(&sc->memo_index);
	free(sc);
}

struct profile *collector_profile(struct collector *c, const struct collector_meta *meta)
{
	/* the heap's six, then the mmap_* four (--mmap) and the pool_* four
	 * (memprof.h), each only when the run used them */
	static const char *types[] = { "alloc_objects", "alloc_space", "inuse_objects",
				       "inuse_space", "peak_objects", "peak_space",
				       "mmap_alloc_objects", "mmap_alloc_space",
				       "mmap_inuse_objects", "mmap_inuse_space",
				       "pool_alloc_objects", "pool_alloc_space",
				       "pool_inuse_objects", "pool_inuse_space" };
	static const char *units[] = { "count", "bytes", "count", "bytes", "count", "bytes",
				       "count", "bytes", "count", "bytes",
				       "count", "bytes", "count", "bytes" };
	const char *use_types[14], *use_units[14];
	size_t n_types = 6, mmap_at = 0, pool_at = 0;
	bool with_mmap, with_pool;
	collect_extra_types(c, &with_mmap, &with_pool);
	memcpy(use_types, types, 6 * sizeof(*types));
	memcpy(use_units, units, 6 * sizeof(*units));
	if (with_mmap) {
		memcpy(use_types + n_types, types + 6, 4 * sizeof(*types));
		memcpy(use_units + n_types, units + 6, 4 * sizeof(*units));
		mmap_at = n_types;
		n_types += 4;
	}
	if (with_pool) {
		memcpy(use_types + n_types, types + 10, 4 * sizeof(*types));
		memcpy(use_units + n_types, units + 10, 4 * sizeof(*units));
		pool_at = n_types;
		n_types += 4;
	}
	if (c->spent)
		return NULL;
	struct builder b = { 0 };
	b.c = c;
	c->stats.stale_files = 0;
	b.meta = meta;
	b.to_symbolize = c->n_pc;
	b.sel = meta;
	b.one_process = (meta && meta->one_image) ||
			(collector_distinct_pids(c) <= 1 && !(meta && meta->pid_labels));
	if ((b.cache = sym_cache(c)))
		sym_warm_settle(c, true);	/* what the thread did is kept; the rest is done here */
	if (!b.cache || !(b.p = profile_new()) ||
	    !(b.labels = calloc(c->n_proc + 1, sizeof(*b.labels))) ||
	    !(b.loc = calloc(c->n_pc + 1, sizeof(*b.loc))) ||
	    !(b.k_bytes = profile_intern(b.p, "bytes")) || !(b.k_pid = profile_intern(b.p, "pid")) ||
	    !(b.k_program = profile_intern(b.p, "program")) ||
	    !(b.k_exe = profile_intern(b.p, "exe")) ||
	    !(b.k_cmdline = profile_intern(b.p, "cmdline")) ||
	    !(b.mapping = calloc(c->n_mapping + 1, sizeof(*b.mapping))) ||
	    !(b.stale = calloc(c->n_mapping + 1, sizeof(*b.stale))))
		goto out_fail;
	struct profile *p = b.p;
	if (profile_set_sample_types(p, n_types, use_types, use_units) < 0)
		goto out_fail;
	p->period_type.type = profile_intern(p, "space");
	p->period_type.unit = profile_intern(p, "bytes");
	p->default_sample_type = profile_intern(p, "alloc_space");
	if (!p->period_type.type || !p->period_type.unit || !p->default_sample_type)
		goto out_fail;

	long first = narrowed(&b) ? -1 : c->root;	/* the image whose rate and start count */
	for (size_t i = 0; narrowed(&b) && first < 0 && i < c->n_proc; i++)
		if (selected(&b, i))
			first = (long)i;
	if (first >= 0 && b.sel && b.sel->one_pid) {
		/* its images' span: to now (the span's end) while it runs */
		const struct c_proc *pr = &c->proc[first];
		uint64_t end = 0;
		bool running = false;
		for (size_t i = (size_t)first; i < c->n_proc; i++) {
			if (!selected(&b, i))
				continue;
			end = c->proc[i].end_ns > end ? c->proc[i].end_ns : end;
			running |= !c->proc[i].ended && !c->proc[i].gone && !c->proc[i].exec_called;
		}
		if (running && c->span_end_ns > end)
			end = c->span_end_ns;
		p->period = pr->rate;
		p->time_nanos = (int64_t)pr->start_ns;
		if (end > pr->start_ns)
			p->duration_nanos = (int64_t)(end - pr->start_ns);
	} else if (first >= 0) {
		const struct c_proc *root = &c->proc[first];
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
	if (meta && meta->close_files) {
		if (meta->last) {
			hashmap_release(&c->pc_index);	/* for feeding only */
			compact_buckets(&b);
		}
		if (symbolize_all(&b) < 0)
			goto out_fail;
		symbolizer_close_files(b.cache->sym);
	}
	size_t n_samples = b.n_src;
	for (size_t i = 0; !b.src && i < c->n_bucket; i++)
		n_samples += c->bucket[i].allocs && selected(&b, c->bucket[i].proc);
	if (array_reserve(&p->sample, &p->cap_sample, n_samples, sizeof(*p->sample)) < 0)
		goto out_fail;
	struct release rel = { .src = NULL };
	if (meta && meta->last && release_init(&rel, c, &b) < 0)
		goto out_fail;
	for (size_t i = 0; i < (b.src ? b.n_src : c->n_bucket); i++) {
		struct sample_src src;
		bool make = b.src || (c->bucket[i].allocs && selected(&b, c->bucket[i].proc));
		if (make && !b.src)
			bucket_source(c, &c->bucket[i], &src);
		if (make && add_sample(&b, b.src ? &b.src[i] : &src) < 0) {
			free(rel.last_use);
			goto out_fail;
		}
		if (rel.last_use && (i & 1023) == 1023)
			release_some(&rel, c, i + 1);
	}
	free(rel.last_use);
	const struct x_bucket *xb;
	size_t n_xb = collect_extra_buckets(c, &xb);
	for (size_t i = 0; i < n_xb; i++)
		if (xb[i].allocs && selected(&b, xb[i].proc) &&
		    add_extra_sample(&b, &xb[i], xb[i].kind ? pool_at : mmap_at) < 0)
			goto out_fail;
	if (c->now_ns && !(p->timeline = make_timeline(&b, c, p)))
		goto out_fail;
	for (const char *const *cm = meta && meta->comments ? meta->comments : NULL; cm && *cm; cm++)
		if (profile_add_comment(p, *cm) < 0)
			goto out_fail;
	if (b.programs_comment && profile_add_comment(p, b.programs_comment) < 0)
		goto out_fail;
	if (b.sel && b.sel->one_pid) {
		for (size_t i = 0; i < c->n_proc; i++)
			if (selected(&b, i) && collect_add_switch_comments(c, p, (long)i) < 0)
				goto out_fail;
	} else if (collect_add_switch_comments(c, p, one_image(&b) ? (long)b.sel->image_index : -1) < 0) {
		goto out_fail;
	}
	if (meta && meta->progress)
		meta->progress(b.symbolized, b.symbolized, meta->progress_data);
	goto out;
out_fail:
	profile_free(b.p);
	b.p = NULL;
out:
	free(b.labels);
	free(b.loc);
	free(b.mapping);
	free(b.stale);
	hashmap_release(&b.locations);
	sym_functions_release(&b.functions);
	hashmap_release(&b.mapping_keys);
	hashmap_release(&b.label_sets);
	free(b.programs_comment);
	/* The answers stay for the next profile (a snapshot, --split's next
	 * image, an endpoint asked again): a profile of the same stacks costs
	 * no symbolizing. The files stay open too (new addresses in the next
	 * profile are then cheap), unless their descriptors could be missed:
	 * a low RLIMIT_NOFILE (a program run under ulimit -n 5 leaves memprof
	 * a few, and the profile is written after this), or many files. */
	struct rlimit rl;
	if (meta && meta->last) {
		/* what the samples were made from went (see struct release) */
		c->spent = true;
		free(c->frame);
		free(c->pc);
		free(c->bucket);
		hashmap_release(&c->pc_index);
		c->frame = NULL;
		c->pc = NULL;
		c->bucket = NULL;
		c->n_frame = c->cap_frame = c->n_pc = c->cap_pc = 0;
		c->n_bucket = c->cap_bucket = 0;
	}
	if (c->symbols && (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 1024 ||
			   symbolizer_open_files(c->symbols->sym) > 128))
		symbolizer_close_files(c->symbols->sym);
	return b.p;
}
