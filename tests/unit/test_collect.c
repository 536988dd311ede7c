/* test_collect.c - the collector against hand-made record batches. */
#include <errno.h>
#include <stdint.h>
#include <string.h>

#include "harness.h"
#include "lib/collect.h"
#include "lib/tracker/records.h"

/* A batch under construction: the header, then records appended. */
struct batch {
	unsigned char b[4096];
	size_t n;
};

static void put(struct batch *bt, const void *v, size_t len)
{
	memcpy(bt->b + bt->n, v, len);
	bt->n += len;
}

static void u8(struct batch *bt, uint8_t v) { put(bt, &v, 1); }
static void u16(struct batch *bt, uint16_t v) { put(bt, &v, 2); }
static void u32(struct batch *bt, uint32_t v) { put(bt, &v, 4); }
static void u64(struct batch *bt, uint64_t v) { put(bt, &v, 8); }

static void begin(struct batch *bt)
{
	bt->n = sizeof(struct memprof_batch_header);
}

static int feed(struct collector *c, struct batch *bt)
{
	struct memprof_batch_header h = { MEMPROF_MAGIC,
					   (uint32_t)(bt->n - sizeof(h)), 4242, 7 };
	memcpy(bt->b, &h, sizeof(h));
	return collector_feed(c, bt->b, bt->n);
}

static void start(struct batch *bt)
{
	u8(bt, REC_START);
	u8(bt, MEMPROF_VERSION_RECORDS);
	u32(bt, 1);	/* ppid */
	u32(bt, 0);	/* not forked */
	u64(bt, 1);	/* rate */
	u64(bt, 0);	/* time */
	u16(bt, 4);
	put(bt, "prog", 4);
}

static void stack(struct batch *bt, uint32_t id, uint64_t pc)
{
	u8(bt, REC_STACK);
	u32(bt, id);
	u8(bt, 0);
	u16(bt, 1);
	u64(bt, pc);
}

static void alloc(struct batch *bt, uint64_t addr, uint64_t size, uint32_t stack_id)
{
	u8(bt, REC_ALLOC);
	u64(bt, addr);
	u64(bt, size);
	u32(bt, stack_id);
}

static void free_rec(struct batch *bt, uint64_t addr)
{
	u8(bt, REC_FREE);
	u64(bt, addr);
}

/* At --rate 1 the tracker reports every free, also of blocks it never
 * saw allocated; the collector counts those and goes on. */
static void test_unknown_frees_are_ignored(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	stack(&bt, 1, 0x1000);
	alloc(&bt, 0x5000, 100, 1);
	free_rec(&bt, 0x9000);	/* never allocated */
	free_rec(&bt, 0x5000);
	free_rec(&bt, 0x5000);	/* already gone */
	CHECK(feed(c, &bt) == 0);
	const struct collector_stats *s = collector_stats(c);
	CHECK(s->processes == 1);
	CHECK(s->allocs == 1);
	CHECK(s->frees == 3);
	CHECK(s->unknown_frees == 2);
	CHECK(s->bad_batches == 0);
	collector_free(c);
}

/* The tracker numbers a process's stacks 1, 2, 3... in the order it sends
 * them. A gap (the stacks of a lost batch) is taken, and allocations on
 * the missing stacks are refused; an id that goes back, 0, or a gap no
 * few batches could make are malformed batches. Good batches before and
 * after still count. */
static void test_stack_ids(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	stack(&bt, 1, 0x1000);
	stack(&bt, 2, 0x2000);
	alloc(&bt, 0x5000, 10, 2);
	CHECK(feed(c, &bt) == 0);

	begin(&bt);
	stack(&bt, 4, 0x4000);	/* 3 never came */
	alloc(&bt, 0x6000, 10, 4);
	CHECK(feed(c, &bt) == 0);

	begin(&bt);
	alloc(&bt, 0x7000, 10, 3);	/* on the missing stack */
	CHECK(feed(c, &bt) == -EINVAL);

	begin(&bt);
	alloc(&bt, 0x7000, 10, 5);	/* on a stack not sent yet */
	CHECK(feed(c, &bt) == -EINVAL);

	begin(&bt);
	alloc(&bt, 0x7000, 10, 0);	/* 0 is no stack */
	CHECK(feed(c, &bt) == -EINVAL);

	begin(&bt);
	stack(&bt, 2, 0x2222);	/* goes back */
	CHECK(feed(c, &bt) == -EINVAL);

	begin(&bt);
	stack(&bt, 4000000, 0x3000);	/* no lost batches could skip this many */
	CHECK(feed(c, &bt) == -EINVAL);

	begin(&bt);
	stack(&bt, 5, 0x5000);
	alloc(&bt, 0x7000, 10, 5);
	free_rec(&bt, 0x5000);
	CHECK(feed(c, &bt) == 0);

	const struct collector_stats *s = collector_stats(c);
	CHECK(s->bad_batches == 5);
	CHECK(s->allocs == 3);
	CHECK(s->frees == 1);
	CHECK(s->unknown_frees == 0);
	collector_free(c);
}

/* An address allocated again without a free in between (the free was
 * lost) replaces the old block. */
static void test_realloc_at_same_address(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	stack(&bt, 1, 0x1000);
	alloc(&bt, 0x5000, 100, 1);
	free_rec(&bt, 0x5000);
	alloc(&bt, 0x5000, 200, 1);
	alloc(&bt, 0x5000, 300, 1);
	free_rec(&bt, 0x5000);
	free_rec(&bt, 0x5000);
	CHECK(feed(c, &bt) == 0);
	const struct collector_stats *s = collector_stats(c);
	CHECK(s->allocs == 3);
	CHECK(s->frees == 3);
	CHECK(s->unknown_frees == 1);
	collector_free(c);
}

const struct unit_test collect_tests[] = {
	{ "collect: frees of blocks never seen are counted and ignored",
	  test_unknown_frees_are_ignored },
	{ "collect: stack ids come 1, 2, 3...; gaps are taken, allocations on them refused",
	  test_stack_ids },
	{ "collect: an address allocated twice replaces the old block", test_realloc_at_same_address },
	{ NULL, NULL },
};
