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

/* Records are made with the tracker's own encoders (records.h). */
static void u8(struct batch *bt, uint8_t v) { bt->n = (size_t)(rec_u8(bt->b + bt->n, v) - bt->b); }
static void u32(struct batch *bt, uint32_t v) { bt->n = (size_t)(rec_u32(bt->b + bt->n, v) - bt->b); }
static void u64(struct batch *bt, uint64_t v) { bt->n = (size_t)(rec_u64(bt->b + bt->n, v) - bt->b); }

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
	bt->n = (size_t)(rec_name(bt->b + bt->n, "prog") - bt->b);
}

static void stack(struct batch *bt, uint32_t id, uint64_t pc)
{
	u8(bt, REC_STACK);
	u32(bt, id);
	u8(bt, 0);
	bt->n = (size_t)(rec_u16(bt->b + bt->n, 1) - bt->b);
	u64(bt, pc);
}

static void alloc(struct batch *bt, uint64_t addr, uint64_t size, uint32_t stack_id)
{
	rec_put_alloc(bt->b + bt->n, addr, size, stack_id);
	bt->n += REC_ALLOC_LEN;
}

static void free_rec(struct batch *bt, uint64_t addr)
{
	rec_put_free(bt->b + bt->n, addr);
	bt->n += REC_FREE_LEN;
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

/* Every record type through the tracker's encoders and back through the
 * collector's decoder, field by field. */
static void test_record_roundtrip(void)
{
	uint8_t b[4 * MEMPROF_RECORD_MAX], *p = b;
	const uint8_t id[20] = { 0xde, 0xad, 0xbe, 0xef };
	p = rec_u8(p, REC_START);
	p = rec_u8(p, MEMPROF_VERSION_RECORDS);
	p = rec_u32(p, 77);
	p = rec_u32(p, 0x1234);
	p = rec_u64(p, 524288);
	p = rec_u64(p, 987654321);
	p = rec_name(p, "/usr/bin/prog");
	p = rec_u8(p, REC_MODULE);
	p = rec_u64(p, 0x1000);
	p = rec_u64(p, 0x2000);
	p = rec_u64(p, 0x3000);
	p = rec_u64(p, 0x40);
	p = rec_name(p, "/lib/libx.so");
	p = rec_u8(p, sizeof(id));
	p = rec_put(p, id, sizeof(id));
	p = rec_u8(p, REC_STACK);
	p = rec_u32(p, 3);
	p = rec_u8(p, 1);
	p = rec_u16(p, 2);
	p = rec_u64(p, 0xaaaa);
	p = rec_u64(p, 0xbbbb);
	rec_put_alloc(p, 0x5000, 48, 3);
	p += REC_ALLOC_LEN;
	rec_put_free(p, 0x5000);
	p += REC_FREE_LEN;
	p = rec_u8(p, REC_LOST);
	p = rec_u32(p, 9);
	p = rec_u8(p, LOST_NO_MEMORY);
	p = rec_u8(p, REC_EXEC);
	p = rec_u64(p, 5);
	p = rec_u8(p, REC_END);
	p = rec_u64(p, 6);
	p = rec_u8(p, 1);

	struct rec_reader r = { b, p, false };
	struct rec x;
	CHECK(rec_next(&r, &x) && x.type == REC_START && x.u.start.ppid == 77 &&
	      x.u.start.forked_from == 0x1234 && x.u.start.rate == 524288 &&
	      x.u.start.time_ns == 987654321 && x.u.start.exe_len == 13 &&
	      !memcmp(x.u.start.exe, "/usr/bin/prog", 13));
	CHECK(rec_next(&r, &x) && x.type == REC_MODULE && x.u.module.bias == 0x1000 &&
	      x.u.module.start == 0x2000 && x.u.module.end == 0x3000 && x.u.module.offset == 0x40 &&
	      x.u.module.file_len == 12 && x.u.module.build_id_len == 20 &&
	      !memcmp(x.u.module.build_id, id, 20));
	CHECK(rec_next(&r, &x) && x.type == REC_STACK && x.u.stack.id == 3 &&
	      x.u.stack.truncated == 1 && x.u.stack.n == 2 && rec_pc(&x, 0) == 0xaaaa &&
	      rec_pc(&x, 1) == 0xbbbb);
	CHECK(rec_next(&r, &x) && x.type == REC_ALLOC && x.u.alloc.addr == 0x5000 &&
	      x.u.alloc.size == 48 && x.u.alloc.stack == 3);
	CHECK(rec_next(&r, &x) && x.type == REC_FREE && x.u.free.addr == 0x5000);
	CHECK(rec_next(&r, &x) && x.type == REC_LOST && x.u.lost.n == 9 &&
	      x.u.lost.why == LOST_NO_MEMORY);
	CHECK(rec_next(&r, &x) && x.type == REC_EXEC && x.u.exec.time_ns == 5);
	CHECK(rec_next(&r, &x) && x.type == REC_END && x.u.end.time_ns == 6 && x.u.end.calls_seen);
	CHECK(!rec_next(&r, &x) && !r.bad);

	/* every cut of the data stops at the last whole record, marked bad */
	size_t whole = 0;
	for (size_t cut = 0; cut < (size_t)(p - b); cut++) {
		struct rec_reader c = { b, b + cut, false };
		size_t n = 0;
		while (rec_next(&c, &x))
			n++;
		CHECK(c.p <= b + cut);
		CHECK(n <= 8);
		if (n == 8)
			whole++;
	}
	CHECK(whole == 0);
	/* an unknown type, a stack deeper than the tracker keeps */
	uint8_t bad[] = { 99 };
	struct rec_reader u = { bad, bad + 1, false };
	CHECK(!rec_next(&u, &x) && u.bad && u.p == bad);
	uint8_t deep[16] = { REC_STACK, 1, 0, 0, 0, 0, 0xff, 0xff };
	struct rec_reader d = { deep, deep + sizeof(deep), false };
	CHECK(!rec_next(&d, &x) && d.bad);
}

/* A truncated recording gives its complete batches and a warning. */
static void test_recording_cut_short(void)
{
	uint8_t file[8192];
	struct memprof_file_header fh;
	memcpy(fh.magic, MEMPROF_FILE_MAGIC, sizeof(fh.magic));
	fh.token = 1;
	memcpy(file, &fh, sizeof(fh));
	size_t n = sizeof(fh);
	for (int k = 0; k < 2; k++) {
		struct batch bt;
		begin(&bt);
		if (k == 0)
			start(&bt);
		stack(&bt, (uint32_t)k + 1, 0x400000 + (uint64_t)k);
		alloc(&bt, 0x1000 + (uint64_t)k * 64, 64, (uint32_t)k + 1);
		struct memprof_batch_header h = { MEMPROF_MAGIC, (uint32_t)(bt.n - sizeof(h)), 4242, 7 };
		memcpy(bt.b, &h, sizeof(h));
		memcpy(file + n, bt.b, bt.n);
		n += bt.n;
	}
	char err[256], warn[256];
	struct collector *c = collector_new();
	CHECK(collector_feed_recording(c, file, n - 5, err, sizeof(err), warn, sizeof(warn)) == 0);
	CHECK(strstr(warn, "cut short") != NULL);
	CHECK(collector_stats(c)->allocs == 1);
	collector_free(c);
	c = collector_new();
	CHECK(collector_feed_recording(c, file, n, err, sizeof(err), warn, sizeof(warn)) == 0);
	CHECK(warn[0] == '\0' && collector_stats(c)->allocs == 2);
	/* no header: refused */
	CHECK(collector_feed_recording(c, file + sizeof(fh), n - sizeof(fh), err, sizeof(err), warn,
				       sizeof(warn)) == -EINVAL);
	collector_free(c);
}

const struct unit_test collect_tests[] = {
	{ "records: every type encodes and decodes; cut records stop the reader", test_record_roundtrip },
	{ "collect: a recording cut short gives its whole batches and a warning",
	  test_recording_cut_short },
	{ "collect: frees of blocks never seen are counted and ignored",
	  test_unknown_frees_are_ignored },
	{ "collect: stack ids come 1, 2, 3...; gaps are taken, allocations on them refused",
	  test_stack_ids },
	{ "collect: an address allocated twice replaces the old block", test_realloc_at_same_address },
	{ NULL, NULL },
};
