/* test_collect_extra.c - the collector's mappings and pool blocks
 * (collect_extra.c) against hand-made records: cuts and splits of sampled
 * mappings, mappings over mappings, pools and their bad reports. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "lib/collect.h"
#include "lib/profile.h"
#include "lib/tracker/records.h"

struct recs {
	uint8_t b[4096];
	size_t n;
};

static void put_start(struct recs *r, uint64_t rate)
{
	uint8_t *p = r->b + r->n;
	p = rec_u8(p, REC_START);
	p = rec_u8(p, MEMPROF_VERSION_RECORDS);
	p = rec_u32(p, 1);
	p = rec_u32(p, 0);
	p = rec_u64(p, rate);
	p = rec_u64(p, 0);
	p = rec_name(p, "prog");
	p = rec_u8(p, REC_STACK);	/* stacks 1 and 2 */
	p = rec_u32(p, 1);
	p = rec_u8(p, 0);
	p = rec_u16(p, 1);
	p = rec_u64(p, 0x1000);
	p = rec_u8(p, REC_STACK);
	p = rec_u32(p, 2);
	p = rec_u8(p, 0);
	p = rec_u16(p, 1);
	p = rec_u64(p, 0x2000);
	r->n = (size_t)(p - r->b);
}

static void put_map(struct recs *r, uint8_t type, uint64_t addr, uint64_t len, uint32_t stack)
{
	uint8_t *p = r->b + r->n;
	p = rec_u8(p, type);
	p = rec_u64(p, addr);
	p = rec_u64(p, len);
	if (type != REC_MUNMAP)
		p = rec_u32(p, stack);
	r->n = (size_t)(p - r->b);
}

static void put_addr(struct recs *r, uint8_t type, uint64_t addr)
{
	r->n = (size_t)(rec_u64(rec_u8(r->b + r->n, type), addr) - r->b);
}

static void put_pool(struct recs *r, uint64_t addr, uint64_t size, const char *name)
{
	uint8_t *p = r->b + r->n;
	p = rec_u8(p, REC_POOL_CREATE);
	p = rec_u64(p, addr);
	p = rec_u64(p, size);
	p = rec_name(p, name);
	r->n = (size_t)(p - r->b);
}

/* The total of sample type `type` over the profile, -1 if it has none. */
static int64_t total(const struct profile *p, const char *type)
{
	for (size_t t = 0; t < p->n_sample_type; t++) {
		if (strcmp(p->sample_type[t].type, type))
			continue;
		int64_t sum = 0;
		for (size_t i = 0; i < p->n_sample; i++)
			sum += p->sample[i].value[t];
		return sum;
	}
	return -1;
}

static void test_mmap_cuts(void)
{
	struct collector *c = collector_new();
	struct recs r = { .n = 0 };
	put_start(&r, 1);
	put_map(&r, REC_MMAP, 0x100000, 0x8000, 1);	/* 8 pages */
	put_map(&r, REC_MUNMAP, 0x100000, 0x1000, 0);	/* its first */
	put_map(&r, REC_MUNMAP, 0x103000, 0x2000, 0);	/* a hole: two pieces */
	put_map(&r, REC_MUNMAP, 0x107000, 0x4000, 0);	/* its last and what follows */
	put_map(&r, REC_MUNMAP, 0x900000, 0x1000, 0);	/* never seen */
	put_map(&r, REC_MMAP, 0x200000, 0x4000, 2);	/* 4 pages */
	put_map(&r, REC_MMAP, 0x201000, 0x1000, 2);	/* over its second (MAP_FIXED unseen) */
	put_map(&r, REC_MMAP, 0x300000, 0x2000, 2);
	put_map(&r, REC_MUNMAP, 0x2ff000, 0x10000, 0);	/* all of it and more */
	CHECK(collector_feed_records(c, 42, 1, r.b, r.n, NULL) == 0);
	CHECK(collector_stats(c)->mmaps == 4);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p != NULL);
	if (p) {
		CHECK(p->n_sample_type == 10);
		CHECK(total(p, "alloc_space") == 0);
		CHECK(total(p, "mmap_alloc_objects") == 4);
		CHECK(total(p, "mmap_alloc_space") == 0x8000 + 0x4000 + 0x1000 + 0x2000);
		/* 4 of the first's pages; 3 of the second's, the one over it */
		CHECK(total(p, "mmap_inuse_space") == 0x4000 + 0x3000 + 0x1000);
		CHECK(total(p, "mmap_inuse_objects") == 3);
		CHECK(total(p, "pool_alloc_space") == -1);
		profile_free(p);
	}
	collector_free(c);
}

/* Pieces of one mapping go one by one: it is gone with the last. */
static void test_mmap_pieces(void)
{
	struct collector *c = collector_new();
	struct recs r = { .n = 0 };
	put_start(&r, 1);
	put_map(&r, REC_MMAP, 0x100000, 0x3000, 1);
	put_map(&r, REC_MUNMAP, 0x101000, 0x1000, 0);
	put_map(&r, REC_MUNMAP, 0x100000, 0x1000, 0);
	CHECK(collector_feed_records(c, 42, 1, r.b, r.n, NULL) == 0);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p && total(p, "mmap_inuse_objects") == 1 && total(p, "mmap_inuse_space") == 0x1000);
	profile_free(p);
	r.n = 0;
	put_map(&r, REC_MUNMAP, 0x102000, 0x1000, 0);
	CHECK(collector_feed_records(c, 42, 1, r.b, r.n, NULL) == 0);
	p = collector_profile(c, NULL);
	CHECK(p && total(p, "mmap_inuse_objects") == 0 && total(p, "mmap_inuse_space") == 0);
	profile_free(p);
	/* malformed: a range that wraps, a mapping on no stack */
	r.n = 0;
	put_map(&r, REC_MUNMAP, UINT64_MAX - 10, 0x1000, 0);
	CHECK(collector_feed_records(c, 42, 1, r.b, r.n, NULL) == -EINVAL);
	r.n = 0;
	put_map(&r, REC_MMAP, 0x5000, 0x1000, 9);
	CHECK(collector_feed_records(c, 42, 1, r.b, r.n, NULL) == -EINVAL);
	collector_free(c);
}

static void test_pools(void)
{
	struct collector *c = collector_new();
	struct recs r = { .n = 0 };
	put_start(&r, 1);
	put_pool(&r, 0x10000, 0x1000, "small");
	put_map(&r, REC_POOL_ALLOC, 0x10000, 32, 1);	/* at the arena's own address */
	put_map(&r, REC_POOL_ALLOC, 0x10020, 32, 1);
	put_map(&r, REC_POOL_ALLOC, 0x10020, 32, 1);	/* twice */
	put_map(&r, REC_POOL_ALLOC, 0x90000, 100, 2);	/* in no pool */
	put_addr(&r, REC_POOL_FREE, 0x12345);		/* never reported */
	put_addr(&r, REC_POOL_FREE, 0x10000);
	put_map(&r, REC_POOL_ALLOC, 0x10040, 64, 2);
	put_addr(&r, REC_POOL_DESTROY, 0x10000);	/* 0x10020, 0x10040 go with it */
	put_addr(&r, REC_POOL_DESTROY, 0x10000);	/* no more */
	CHECK(collector_feed_records(c, 42, 1, r.b, r.n, NULL) == 0);
	const struct collector_stats *s = collector_stats(c);
	CHECK(s->pool_allocs == 5 && s->pool_frees == 2);
	CHECK(s->pool_unknown_frees == 1 && s->pool_double_allocs == 1 &&
	      s->pool_unknown_destroys == 1);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p != NULL);
	if (p) {
		CHECK(p->n_sample_type == 10);
		CHECK(total(p, "mmap_alloc_space") == -1);
		CHECK(total(p, "pool_alloc_objects") == 5);
		CHECK(total(p, "pool_alloc_space") == 32 * 3 + 100 + 64);
		CHECK(total(p, "pool_inuse_objects") == 1);
		CHECK(total(p, "pool_inuse_space") == 100);
		size_t named = 0;
		for (size_t i = 0; i < p->n_sample; i++)
			for (size_t k = 0; k < p->sample[i].n_label; k++)
				named += !strcmp(p->sample[i].label[k].key, "pool") &&
					 !strcmp(p->sample[i].label[k].str, "small");
		CHECK(named == 2);	/* (stack 1, 32 B) and (stack 2, 64 B) */
		profile_free(p);
	}
	collector_free(c);
}

/* A run with neither: the six heap types, as always. */
static void test_no_extra_types(void)
{
	struct collector *c = collector_new();
	struct recs r = { .n = 0 };
	put_start(&r, 1);
	CHECK(collector_feed_records(c, 42, 1, r.b, r.n, NULL) == 0);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p && p->n_sample_type == 6);
	profile_free(p);
	collector_want_mmap(c);
	p = collector_profile(c, NULL);
	CHECK(p && p->n_sample_type == 10 && total(p, "mmap_inuse_space") == 0);
	profile_free(p);
	collector_free(c);
}

const struct unit_test collect_extra_tests[] = {
	{ "collect: mappings cut, split, replaced and unmapped past their ends", test_mmap_cuts },
	{ "collect: a mapping goes with its last piece; malformed mapping records refused",
	  test_mmap_pieces },
	{ "collect: pool blocks, names, destroy; bad reports counted", test_pools },
	{ "collect: the extra sample types only when the run used them", test_no_extra_types },
	{ NULL, NULL },
};
