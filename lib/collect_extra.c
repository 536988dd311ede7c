/* collect_extra.c - the collector's memory that is not malloc's: sampled
 * anonymous mappings (records 30-31, memprof run --mmap) and custom
 * allocators' blocks (records 32-35, include/memprof.h). Kept apart from
 * the heap's buckets: they have sample types of their own (mmap_*, pool_*)
 * and take no part in the heap's peak or timeline. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "collect_impl.h"

enum { X_MMAP, X_POOL };

struct x_range {		/* a live piece of a sampled mapping */
	uint64_t lo, hi;
	uint32_t obj;
};

struct x_obj {			/* one sampled mapping: its bucket, its bytes still mapped */
	uint32_t bucket;
	uint64_t left;
};

struct x_pool {
	uint64_t lo, hi;
	const char *name;
};

struct x_proc {
	struct x_range *range;	/* sorted by lo, never overlapping */
	size_t n_range, cap_range;
	struct x_obj *obj;
	size_t n_obj, cap_obj;
	struct hashmap pool_live;	/* block address -> bucket index */
	struct x_pool *pool;
	size_t n_pool, cap_pool;
};

struct c_extra {
	struct x_proc *proc;	/* by the collector's process index */
	size_t n_proc;
	struct x_bucket *bucket;
	size_t n_bucket, cap_bucket;
	struct hashmap bucket_index;
	bool mmap_seen, pool_seen;
};

static struct c_extra *extra(struct collector *c)
{
	if (!c->extra)
		c->extra = calloc(1, sizeof(*c->extra));
	return c->extra;
}

void collector_want_mmap(struct collector *c)
{
	c->want_mmap = true;
}

static struct x_proc *xproc(struct c_extra *x, uint32_t pi)
{
	if (pi >= x->n_proc) {
		size_t n = pi + 16;
		struct x_proc *p = realloc(x->proc, n * sizeof(*p));
		if (!p)
			return NULL;
		memset(p + x->n_proc, 0, (n - x->n_proc) * sizeof(*p));
		x->proc = p;
		x->n_proc = n;
	}
	return &x->proc[pi];
}

struct xb_want {
	const struct c_extra *x;
	struct x_bucket b;
};

static bool same_xbucket(uint64_t value, const void *ctx)
{
	const struct xb_want *w = ctx;
	const struct x_bucket *b = &w->x->bucket[value];
	return b->proc == w->b.proc && b->stack == w->b.stack && b->size == w->b.size &&
	       b->kind == w->b.kind && b->pool == w->b.pool;
}

static int64_t xbucket_for(struct c_extra *x, uint32_t proc, uint32_t stack, uint64_t size,
			   uint8_t kind, const char *pool)
{
	struct xb_want w = { x, { .proc = proc, .stack = stack, .size = size, .kind = kind,
				  .pool = pool } };
	uint64_t key, h = ((uint64_t)proc << 32 | stack) ^ size * 0x9e3779b97f4a7c15ULL ^
			  (uint64_t)(uintptr_t)pool * 31 ^ kind;
	bool inserted;
	uint64_t *slot = hashmap_probe(&x->bucket_index, h, same_xbucket, &w, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (!inserted)
		return (int64_t)*slot;
	if (array_grow(&x->bucket, &x->cap_bucket, x->n_bucket, sizeof(*x->bucket)) < 0) {
		hashmap_remove(&x->bucket_index, key);
		return -ENOMEM;
	}
	x->bucket[x->n_bucket] = w.b;
	*slot = x->n_bucket;
	return (int64_t)x->n_bucket++;
}

/* The collector's stack index of the tracker's stack id, or -EINVAL. */
static int64_t stack_of(const struct c_proc *p, uint32_t id)
{
	if (id == 0 || id > p->n_stack_ix || p->stack_ix[id - 1] == UINT32_MAX)
		return -EINVAL;
	return p->stack_ix[id - 1];
}

/* ---- mappings ---------------------------------------------------------------- */

/* The first range whose hi is above lo. */
static size_t first_above(const struct x_proc *xp, uint64_t lo)
{
	size_t a = 0, b = xp->n_range;
	while (a < b) {
		size_t m = a + (b - a) / 2;
		if (xp->range[m].hi <= lo)
			a = m + 1;
		else
			b = m;
	}
	return a;
}

static void take_bytes(struct c_extra *x, struct x_proc *xp, uint32_t obj, uint64_t n)
{
	struct x_obj *o = &xp->obj[obj];
	struct x_bucket *b = &x->bucket[o->bucket];
	n = n < o->left ? n : o->left;
	o->left -= n;
	b->live_bytes -= n;
	if (!o->left)
		b->frees++;
}

/* [lo, hi) is no longer mapped: what sampled mappings held there goes.
 * Ranges never seen are nothing to do (most unmappings are of unsampled
 * or file mappings). Returns 0 or -ENOMEM (a split needs room). */
static int unmap(struct c_extra *x, struct x_proc *xp, uint64_t lo, uint64_t hi)
{
	size_t i = first_above(xp, lo);
	while (i < xp->n_range && xp->range[i].lo < hi) {
		struct x_range *r = &xp->range[i];
		uint64_t a = r->lo > lo ? r->lo : lo, b = r->hi < hi ? r->hi : hi;
		if (r->lo < a && b < r->hi) {	/* a hole in the middle: two ranges */
			if (array_grow(&xp->range, &xp->cap_range, xp->n_range, sizeof(*xp->range)) < 0)
				return -ENOMEM;
			r = &xp->range[i];
			memmove(r + 1, r, (xp->n_range - i) * sizeof(*r));
			xp->n_range++;
			r[0].hi = a;
			r[1].lo = b;
			take_bytes(x, xp, r->obj, b - a);
			return 0;
		}
		take_bytes(x, xp, r->obj, b - a);
		if (r->lo < a) {
			r->hi = a;
			i++;
		} else if (b < r->hi) {
			r->lo = b;
			i++;
		} else {
			memmove(r, r + 1, (xp->n_range - i - 1) * sizeof(*r));
			xp->n_range--;
		}
	}
	return 0;
}

static int map(struct collector *c, struct c_extra *x, uint32_t pi, const struct rec *r)
{
	struct x_proc *xp = xproc(x, pi);
	int64_t st = stack_of(&c->proc[pi], r->u.map.stack);
	uint64_t lo = r->u.map.addr, hi = lo + r->u.map.len;
	if (st < 0 || hi <= lo)
		return -EINVAL;
	if (!xp)
		return -ENOMEM;
	/* what was there went without our seeing it */
	if (unmap(x, xp, lo, hi) < 0)
		return -ENOMEM;
	int64_t b = xbucket_for(x, pi, (uint32_t)st, r->u.map.len, X_MMAP, NULL);
	if (b < 0)
		return (int)b;
	if (array_grow(&xp->obj, &xp->cap_obj, xp->n_obj, sizeof(*xp->obj)) < 0 ||
	    array_grow(&xp->range, &xp->cap_range, xp->n_range, sizeof(*xp->range)) < 0)
		return -ENOMEM;
	xp->obj[xp->n_obj] = (struct x_obj){ (uint32_t)b, r->u.map.len };
	size_t i = first_above(xp, lo);
	memmove(&xp->range[i + 1], &xp->range[i], (xp->n_range - i) * sizeof(*xp->range));
	xp->range[i] = (struct x_range){ lo, hi, (uint32_t)xp->n_obj++ };
	xp->n_range++;
	x->bucket[b].allocs++;
	x->bucket[b].live_bytes += r->u.map.len;
	c->stats.mmaps++;
	return 0;
}

/* ---- pools ----------------------------------------------------------------------- */

static const char *pool_name(const struct x_proc *xp, uint64_t addr)
{
	for (size_t i = xp->n_pool; i-- > 0;)
		if (addr >= xp->pool[i].lo && addr < xp->pool[i].hi)
			return xp->pool[i].name;
	return NULL;
}

static void pool_block_gone(struct c_extra *x, uint64_t b)
{
	x->bucket[b].frees++;
	x->bucket[b].live_bytes -= x->bucket[b].size;
}

static int pool_alloc(struct collector *c, struct c_extra *x, uint32_t pi, const struct rec *r)
{
	struct x_proc *xp = xproc(x, pi);
	int64_t st = stack_of(&c->proc[pi], r->u.map.stack);
	if (st < 0)
		return -EINVAL;
	if (!xp)
		return -ENOMEM;
	int64_t b = xbucket_for(x, pi, (uint32_t)st, r->u.map.len, X_POOL,
				pool_name(xp, r->u.map.addr));
	if (b < 0)
		return (int)b;
	bool inserted;
	uint64_t *slot = hashmap_put(&xp->pool_live, r->u.map.addr, &inserted);
	if (!slot)
		return -ENOMEM;
	if (!inserted) {	/* reported twice: the first report's block is gone */
		c->stats.pool_double_allocs++;
		pool_block_gone(x, *slot);
	}
	*slot = (uint64_t)b;
	x->bucket[b].allocs++;
	x->bucket[b].live_bytes += r->u.map.len;
	c->stats.pool_allocs++;
	return 0;
}

static int pool_create(struct collector *c, struct c_extra *x, uint32_t pi, const struct rec *r)
{
	struct x_proc *xp = xproc(x, pi);
	uint64_t lo = r->u.pool.addr, hi = lo + r->u.pool.size;
	if (!xp)
		return -ENOMEM;
	if (hi < lo)
		hi = UINT64_MAX;
	const char *name = intern_name(c, r->u.pool.name, r->u.pool.len);
	if (!name || array_grow(&xp->pool, &xp->cap_pool, xp->n_pool, sizeof(*xp->pool)) < 0)
		return -ENOMEM;
	xp->pool[xp->n_pool++] = (struct x_pool){ lo, hi, name };
	return 0;
}

/* The pool at addr goes, with its live blocks. */
static int pool_destroy(struct collector *c, struct c_extra *x, uint32_t pi, uint64_t addr)
{
	struct x_proc *xp = xproc(x, pi);
	if (!xp)
		return -ENOMEM;
	size_t i = xp->n_pool;
	while (i-- > 0 && xp->pool[i].lo != addr)
		;
	if (i == SIZE_MAX) {
		c->stats.pool_unknown_destroys++;
		return 0;
	}
	uint64_t lo = xp->pool[i].lo, hi = xp->pool[i].hi;
	memmove(&xp->pool[i], &xp->pool[i + 1], (xp->n_pool - i - 1) * sizeof(*xp->pool));
	xp->n_pool--;
	struct hashmap *m = &xp->pool_live;
	/* collect first: removing while walking an open-addressing table
	 * moves entries under the walk */
	uint64_t *gone = NULL;
	size_t n = 0, cap = 0;
	for (size_t k = 0; m->entries && k <= m->mask; k++) {
		if (!m->entries[k].used || m->entries[k].key < lo || m->entries[k].key >= hi)
			continue;
		if (array_grow(&gone, &cap, n, sizeof(*gone)) < 0) {
			free(gone);
			return -ENOMEM;
		}
		gone[n++] = m->entries[k].key;
	}
	for (size_t k = 0; k < n; k++) {
		uint64_t b;
		if (hashmap_take(m, gone[k], &b))
			pool_block_gone(x, b);
	}
	free(gone);
	return 0;
}

int collect_extra_apply(struct collector *c, uint32_t pi, const struct rec *r)
{
	struct c_extra *x = extra(c);
	struct x_proc *xp;
	uint64_t b;
	if (!x)
		return -ENOMEM;
	switch (r->type) {
	case REC_MMAP:
		x->mmap_seen = true;
		return map(c, x, pi, r);
	case REC_MUNMAP:
		x->mmap_seen = true;
		if (r->u.map.addr + r->u.map.len < r->u.map.addr)
			return -EINVAL;
		if (!(xp = xproc(x, pi)))
			return -ENOMEM;
		return unmap(x, xp, r->u.map.addr, r->u.map.addr + r->u.map.len);
	case REC_POOL_ALLOC:
		x->pool_seen = true;
		return pool_alloc(c, x, pi, r);
	case REC_POOL_FREE:
		x->pool_seen = true;
		if (!(xp = xproc(x, pi)))
			return -ENOMEM;
		c->stats.pool_frees++;
		if (hashmap_take(&xp->pool_live, r->u.map.addr, &b))
			pool_block_gone(x, b);
		else
			c->stats.pool_unknown_frees++;
		return 0;
	case REC_POOL_CREATE:
		x->pool_seen = true;
		return pool_create(c, x, pi, r);
	case REC_POOL_DESTROY:
		x->pool_seen = true;
		return pool_destroy(c, x, pi, r->u.map.addr);
	}
	return -EINVAL;
}

void collect_extra_free(struct collector *c)
{
	struct c_extra *x = c->extra;
	if (!x)
		return;
	for (size_t i = 0; i < x->n_proc; i++) {
		free(x->proc[i].range);
		free(x->proc[i].obj);
		free(x->proc[i].pool);
		hashmap_release(&x->proc[i].pool_live);
	}
	free(x->proc);
	free(x->bucket);
	hashmap_release(&x->bucket_index);
	free(x);
	c->extra = NULL;
}

bool collect_extra_types(const struct collector *c, bool *mmap, bool *pool)
{
	const struct c_extra *x = c->extra;
	*mmap = c->want_mmap || (x && x->mmap_seen);
	*pool = x && x->pool_seen;
	return *mmap || *pool;
}

size_t collect_extra_buckets(const struct collector *c, const struct x_bucket **b)
{
	*b = c->extra ? c->extra->bucket : NULL;
	return c->extra ? c->extra->n_bucket : 0;
}
