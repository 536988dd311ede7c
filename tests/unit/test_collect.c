/* test_collect.c - the collector against hand-made record batches. */
#include <errno.h>
#include <math.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/collect.h"
#include "lib/collect_impl.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/timeline.h"
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
	p = rec_u8(p, REC_CMDLINE);
	p = rec_u16(p, 8);
	p = rec_put(p, "ls\0-l\0a\0", 8);
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
	const uint8_t *hot = r.p;	/* the feed's in-place readers agree with rec_next */
	uint64_t a_addr, a_size;
	uint32_t a_stack;
	rec_get_alloc(hot, &a_addr, &a_size, &a_stack);
	CHECK(a_addr == 0x5000 && a_size == 48 && a_stack == 3);
	CHECK(rec_get_free(hot + REC_ALLOC_LEN) == 0x5000);
	CHECK(rec_next(&r, &x) && x.type == REC_ALLOC && x.u.alloc.addr == 0x5000 &&
	      x.u.alloc.size == 48 && x.u.alloc.stack == 3 && r.p == hot + REC_ALLOC_LEN);
	CHECK(rec_next(&r, &x) && x.type == REC_FREE && x.u.free.addr == 0x5000 &&
	      r.p == hot + REC_ALLOC_LEN + REC_FREE_LEN);
	CHECK(rec_next(&r, &x) && x.type == REC_LOST && x.u.lost.n == 9 &&
	      x.u.lost.why == LOST_NO_MEMORY);
	CHECK(rec_next(&r, &x) && x.type == REC_EXEC && x.u.exec.time_ns == 5);
	CHECK(rec_next(&r, &x) && x.type == REC_CMDLINE && x.u.cmdline.len == 8 &&
	      !memcmp(x.u.cmdline.words, "ls\0-l\0a\0", 8));
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
		CHECK(n <= 9);
		if (n == 9)
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

/* The sample of the profile whose leaf is at pc (the collector's stacks
 * here are one frame, unsymbolized: the location's address is pc - 1). */
static const struct profile_sample *sample_at(const struct profile *p, uint64_t pc)
{
	for (size_t i = 0; i < p->n_sample; i++)
		if (p->sample[i].n_location && p->sample[i].location[0]->address == pc - 1)
			return &p->sample[i];
	return NULL;
}

/* peak_objects/peak_space (values 4 and 5) hold what was live when the
 * heap in use was highest, stack by stack: 3 x 100 on A, all freed, then
 * 2 x 100 on B is a peak of 300 all on A. Then A takes 1 again and B 1
 * more: 400, a new peak of 1 on A and 3 on B. A bucket that changed after
 * the peak keeps what it held then. */
static void test_peak(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	stack(&bt, 1, 0xa000);
	stack(&bt, 2, 0xb000);
	for (uint64_t i = 0; i < 3; i++)
		alloc(&bt, 0x1000 + i * 0x100, 100, 1);
	for (uint64_t i = 0; i < 3; i++)
		free_rec(&bt, 0x1000 + i * 0x100);
	alloc(&bt, 0x2000, 100, 2);
	alloc(&bt, 0x2100, 100, 2);
	CHECK(feed(c, &bt) == 0);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p && p->n_sample_type == 6);
	CHECK(p && !strcmp(p->sample_type[5].type, "peak_space"));
	const struct profile_sample *a = p ? sample_at(p, 0xa000) : NULL;
	const struct profile_sample *b = p ? sample_at(p, 0xb000) : NULL;
	CHECK(a && a->value[4] == 3 && a->value[5] == 300);
	CHECK(b && b->value[4] == 0 && b->value[5] == 0);
	profile_free(p);

	begin(&bt);
	alloc(&bt, 0x1000, 100, 1);	/* 300 again: not higher */
	free_rec(&bt, 0x2000);		/* B changes after the peak */
	alloc(&bt, 0x2000, 100, 2);
	alloc(&bt, 0x2200, 100, 2);	/* 400: the new peak */
	free_rec(&bt, 0x1000);		/* A changes after it */
	free_rec(&bt, 0x2200);
	CHECK(feed(c, &bt) == 0);
	p = collector_profile(c, NULL);
	a = p ? sample_at(p, 0xa000) : NULL;
	b = p ? sample_at(p, 0xb000) : NULL;
	CHECK(a && a->value[4] == 1 && a->value[5] == 100 && a->value[3] == 0);
	CHECK(b && b->value[4] == 3 && b->value[5] == 300 && b->value[3] == 200);
	CHECK(p && !p->timeline);	/* no clock, no timeline */
	profile_free(p);
	collector_free(c);
}

/* A run of 100 s with an allocation every 10 ms: the grid halves until it
 * fits 2048 intervals; merged intervals keep the highest heap in use and
 * the sum allocated, so the peak and the total survive; the timeline goes
 * through the profile's encoding and back unchanged. */
static void test_timeline_grid(void)
{
	struct collector *c = collector_new();
	const uint64_t t0 = 1000000000000ULL, ms = 1000000;
	struct batch bt;
	collector_tick(c, t0);
	begin(&bt);
	start(&bt);
	stack(&bt, 1, 0xa000);
	CHECK(feed(c, &bt) == 0);
	/* grows by 64 bytes a step to 5 s, holds, then shrinks from 90 s to 94 s */
	uint64_t n = 0, allocated = 0, live = 0, peak = 0, peak_at = 0;
	for (uint64_t step = 0; step < 10000; step++) {
		collector_tick(c, t0 + step * 10 * ms);
		begin(&bt);
		bool shrink = step >= 9000 && step < 9400;
		if (step < 500 || shrink) {
			alloc(&bt, 0x100000 + n * 64, 64, 1);
			n++;
			allocated += 64;
			live += 64;
			if (live > peak) {	/* before the frees of the same step */
				peak = live;
				peak_at = step * 10 * ms;
			}
		}
		if (shrink) {
			free_rec(&bt, 0x100000 + (n - 1) * 64);
			free_rec(&bt, 0x100000 + (n - 2) * 64);
			n -= 2;
			live -= 128;
		}
		CHECK(feed(c, &bt) == 0);
	}
	collector_tick(c, t0 + 100000 * ms);
	struct profile *p = collector_profile(c, NULL);
	const struct timeline *t = p ? p->timeline : NULL;
	CHECK(t && t->n_series == 1);
	if (!t || t->n_series != 1) {
		profile_free(p);
		collector_free(c);
		return;
	}
	const struct timeline_series *s = &t->series[0];
	CHECK(t->start_ns == (int64_t)t0);
	CHECK(t->interval_ns == 80 * (int64_t)ms);	/* 10 ms doubled three times */
	CHECK(s->first + s->n <= TIMELINE_MAX_POINTS);
	int64_t most = 0, sum = 0;
	for (size_t k = 0; k < s->n; k++) {
		most = s->inuse[k] > most ? s->inuse[k] : most;
		sum += s->allocated[k];
		CHECK(s->rss[k] == -1);
	}
	CHECK(most == (int64_t)peak && s->peak_bytes == (int64_t)peak);
	/* the idle stretch holds the heap as it stood: 500 blocks of 64 bytes */
	for (size_t k = 0; k < s->n; k++) {
		uint64_t at = (s->first + k) * (uint64_t)t->interval_ns;
		if (at > 5100 * ms && at + (uint64_t)t->interval_ns < 90000 * ms)
			CHECK(s->inuse[k] == 500 * 64);
	}
	CHECK(s->peak_ns == (int64_t)peak_at);
	CHECK(sum == (int64_t)allocated);

	uint8_t *data;
	size_t len;
	struct pprof_error err;
	CHECK(pprof_encode(p, 1, &data, &len) == 0);
	struct profile *q = pprof_decode(data, len, &err);
	CHECK(q && q->timeline && q->timeline->n_series == 1);
	if (q && q->timeline && q->timeline->n_series == 1) {
		const struct timeline_series *r = &q->timeline->series[0];
		CHECK(q->timeline->interval_ns == t->interval_ns &&
		      q->timeline->start_ns == t->start_ns);
		CHECK(r->pid == s->pid && r->first == s->first && r->n == s->n);
		CHECK(!strcmp(r->exe, "prog") && r->peak_bytes == s->peak_bytes &&
		      r->peak_ns == s->peak_ns);
		CHECK(!memcmp(r->inuse, s->inuse, s->n * sizeof(int64_t)) &&
		      !memcmp(r->allocated, s->allocated, s->n * sizeof(int64_t)) &&
		      !memcmp(r->rss, s->rss, s->n * sizeof(int64_t)));
	}
	/* cut the timeline's message short: the profile reads (as pprof reads
	 * it), without the timeline, and says why */
	uint8_t *raw;
	size_t raw_len;
	CHECK(pprof_encode(p, 0, &raw, &raw_len) == 0);
	raw[raw_len - 1] = 0x80;	/* last packed varint never ends */
	struct profile *bad = pprof_decode(raw, raw_len, &err);
	CHECK(bad && !bad->timeline && bad->timeline_error && bad->n_sample == p->n_sample);
	profile_free(bad);
	free(raw);
	/* a series past the grid (a reader would draw first + n intervals) */
	p->timeline->series[0].first = TIMELINE_MAX_POINTS;
	CHECK(pprof_encode(p, 0, &raw, &raw_len) == 0);
	bad = pprof_decode(raw, raw_len, &err);
	CHECK(bad && !bad->timeline && bad->timeline_error &&
	      strstr(bad->timeline_error, "outside its grid"));
	profile_free(bad);
	free(raw);
	free(data);
	profile_free(q);
	profile_free(p);
	collector_free(c);
}

static void start_rate(struct batch *bt, uint64_t rate)
{
	u8(bt, REC_START);
	u8(bt, MEMPROF_VERSION_RECORDS);
	u32(bt, 1);
	u32(bt, 0);
	u64(bt, rate);
	u64(bt, 0);
	bt->n = (size_t)(rec_name(bt->b + bt->n, "prog") - bt->b);
}

/* Size classes: Go's below 32 KiB, 8 a power of two above; never below
 * the size, never more than 20% (Go: 4097 -> 4864) or 15 bytes above it, never more
 * than 2^32 - 1 above it (the live table keeps the difference). */
static void test_size_class(void)
{
	CHECK(size_class(0) == 0 && size_class(1) == 8 && size_class(8) == 8);
	CHECK(size_class(9) == 16 && size_class(100) == 112 && size_class(1025) == 1152);
	CHECK(size_class(32768) == 32768 && size_class(32769) == 36864);
	CHECK(size_class(65536) == 65536 && size_class(65537) == 73728);
	uint64_t prev = 0;
	bool ok = true;
	for (uint64_t s = 1; s < (1u << 22); s += s < 70000 ? 1 : 977) {
		uint64_t k = size_class(s);
		ok &= k >= s && k >= prev && (k - s < 16 || (k - s) * 5 <= s) && k - s < (1ULL << 32);
		prev = k;
	}
	CHECK(ok);
	for (int b = 20; b < 64; b++) {
		uint64_t s = (1ULL << b) + 12345, k = size_class(s);
		CHECK(k >= s && k - s < (1ULL << 32));
	}
}

/* One call site, 200,000 distinct sizes: the profile has one sample per
 * size class (not per size), and the totals are exact at --rate 1, also
 * what is in use after every other block is freed (each block's own size
 * comes off, not its class's). */
static void test_size_classes_exact(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	stack(&bt, 1, 0xa000);
	CHECK(feed(c, &bt) == 0);
	uint64_t total = 0, live = 0, n_live = 0;
	const uint64_t n = 200000;
	for (uint64_t i = 0; i < n;) {
		begin(&bt);
		for (int k = 0; k < 100 && i < n; k++, i++) {
			uint64_t size = 1 + i * 3;	/* 1 .. 600,000 bytes */
			alloc(&bt, 0x100000 + i * 16, size, 1);
			total += size;
			if (i % 2) {
				free_rec(&bt, 0x100000 + i * 16);
			} else {
				live += size;
				n_live++;
			}
		}
		CHECK(feed(c, &bt) == 0);
	}
	struct profile *p = collector_profile(c, NULL);
	CHECK(p != NULL);
	if (p) {
		int64_t v[4] = { 0 };
		bool classes = true;
		for (size_t i = 0; i < p->n_sample; i++) {
			for (int k = 0; k < 4; k++)
				v[k] += p->sample[i].value[k];
			int64_t label = p->sample[i].label[0].num;
			classes &= label == (int64_t)size_class((uint64_t)label);
		}
		CHECK(p->n_sample < 120);
		CHECK(classes);
		CHECK(v[0] == (int64_t)n && v[1] == (int64_t)total);
		CHECK(v[2] == (int64_t)n_live && v[3] == (int64_t)live);
	}
	profile_free(p);
	collector_free(c);
}

/* At a sampled rate, each sampled block stands for heap_scale(its own
 * size) blocks: the bucket's estimate is the sum of those, not its
 * count times the scale of one size. */
static void test_size_classes_scaled(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	const uint64_t rate = 4096;
	begin(&bt);
	start_rate(&bt, rate);
	stack(&bt, 1, 0xa000);
	double want_n = 0, want_b = 0;
	for (uint64_t i = 0; i < 50; i++) {
		uint64_t size = 897 + i * 2;	/* all in the 1024 class */
		alloc(&bt, 0x100000 + i * 4096, size, 1);
		double s = 1 / (1 - exp(-(double)size / (double)rate));
		want_n += s;
		want_b += s * (double)size;
	}
	CHECK(feed(c, &bt) == 0);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p && p->n_sample == 1);
	if (p && p->n_sample == 1) {
		CHECK(p->sample[0].value[0] == llround(want_n));
		CHECK(p->sample[0].value[1] == llround(want_b));
		CHECK(p->sample[0].value[3] == llround(want_b));
		CHECK(p->sample[0].label[0].num == 1024);
	}
	profile_free(p);
	collector_free(c);
}

/* The symbolizer's answers outlive a profile: a second profile of the
 * same stacks (an endpoint asked again) asks it nothing; a new stack asks
 * only for its new address. The module is this test program itself. */
static void test_symbols_kept(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	u8(&bt, REC_MODULE);
	u64(&bt, 0);
	u64(&bt, 0x1000);
	u64(&bt, 0x100000);
	u64(&bt, 0);
	bt.n = (size_t)(rec_name(bt.b + bt.n, "/proc/self/exe") - bt.b);
	u8(&bt, 0);
	stack(&bt, 1, 0x2000);
	stack(&bt, 2, 0x3000);
	alloc(&bt, 0x100000, 10, 1);
	alloc(&bt, 0x100100, 10, 2);
	CHECK(feed(c, &bt) == 0);
	const struct collector_stats *st = collector_stats(c);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p && st->symbolized == 2);
	profile_free(p);
	p = collector_profile(c, NULL);
	CHECK(p && st->symbolized == 2);
	profile_free(p);
	begin(&bt);
	stack(&bt, 3, 0x4000);
	alloc(&bt, 0x100200, 10, 3);
	CHECK(feed(c, &bt) == 0);
	p = collector_profile(c, NULL);
	CHECK(p && st->symbolized == 3 && p->n_sample == 3);
	profile_free(p);
	collector_free(c);
}

/* A stack of no frames as the very first (the fuzzer's find: nothing to
 * copy, no pc array yet); its allocation is the profile's one sample. */
static void test_empty_stack_first(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	u8(&bt, REC_STACK);
	u32(&bt, 1);
	u8(&bt, 0);
	bt.n = (size_t)(rec_u16(bt.b + bt.n, 0) - bt.b);
	alloc(&bt, 0x1000, 10, 1);
	CHECK(feed(c, &bt) == 0);
	struct profile *p = collector_profile(c, NULL);
	CHECK(p && p->n_sample == 1 && p->sample[0].n_location == 0);
	profile_free(p);
	collector_free(c);
}

static void module(struct batch *bt, uint64_t start, uint64_t end, const char *file)
{
	u8(bt, REC_MODULE);
	u64(bt, start);	/* bias: the file's vaddr 0 at start */
	u64(bt, start);
	u64(bt, end);
	u64(bt, 0);
	bt->n = (size_t)(rec_name(bt->b + bt->n, file) - bt->b);
	u8(bt, 0);
}

/* Stacks are resolved to modules when the profile is built, in the module
 * map they came in: a library dlclosed and another loaded at the same
 * addresses leave each stack with its own; a map no stack came in is
 * reused, not kept. A forked child starts with its parent's map. */
static void test_module_maps(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	u8(&bt, REC_MODULES_RESET);
	module(&bt, 0x10000, 0x20000, "[liba]");
	stack(&bt, 1, 0x10100);
	alloc(&bt, 0x1000, 10, 1);
	u8(&bt, REC_MODULES_RESET);	/* liba closed, libb where it was */
	module(&bt, 0x10000, 0x20000, "[libb]");
	u8(&bt, REC_MODULES_RESET);	/* and again: no stack came in that one */
	module(&bt, 0x10000, 0x20000, "[libb]");
	stack(&bt, 2, 0x10200);
	alloc(&bt, 0x2000, 10, 2);
	CHECK(feed(c, &bt) == 0);
	struct profile *p = collector_profile(c, NULL);
	const struct profile_sample *a = p ? sample_at(p, 0x10100) : NULL;
	const struct profile_sample *b = p ? sample_at(p, 0x10200) : NULL;
	CHECK(a && a->location[0]->mapping && !strcmp(a->location[0]->mapping->filename, "[liba]"));
	CHECK(b && b->location[0]->mapping && !strcmp(b->location[0]->mapping->filename, "[libb]"));
	profile_free(p);
	collector_free(c);

	/* a plugin opened and closed 1000 times, a new stack each time: its
	 * two maps are kept once each, and every stack still resolves */
	c = collector_new();
	begin(&bt);
	start(&bt);
	CHECK(feed(c, &bt) == 0);
	for (uint32_t i = 0; i < 1000; i++) {
		begin(&bt);
		u8(&bt, REC_MODULES_RESET);
		module(&bt, 0x10000, 0x20000, "[main]");
		if (i % 2 == 0)
			module(&bt, 0x30000, 0x40000, "[plugin]");
		stack(&bt, i + 1, i % 2 == 0 ? 0x30000 + 16 + i : 0x10000 + 16 + i);
		alloc(&bt, 0x100000 + i * 16, 10, i + 1);
		CHECK(feed(c, &bt) == 0);
	}
	p = collector_profile(c, NULL);
	size_t in_plugin = 0, in_main = 0;
	for (size_t i = 0; p && i < p->n_sample; i++) {
		const struct profile_mapping *m = p->sample[i].location[0]->mapping;
		in_plugin += m && !strcmp(m->filename, "[plugin]");
		in_main += m && !strcmp(m->filename, "[main]");
	}
	CHECK(in_plugin == 500 && in_main == 500);
	CHECK(c->proc[0].n_old_maps <= 2);
	profile_free(p);
	collector_free(c);
}

/* A batch from process pid (feed's are 4242's). */
static int feed_as(struct collector *c, struct batch *bt, uint32_t pid)
{
	struct memprof_batch_header h = { MEMPROF_MAGIC, (uint32_t)(bt->n - sizeof(h)), pid, 7 };
	memcpy(bt->b, &h, sizeof(h));
	return collector_feed(c, bt->b, bt->n);
}

/* A stack of n frames, leaf first. */
static void stack_n(struct batch *bt, uint32_t id, const uint64_t *pcs, uint16_t n)
{
	u8(bt, REC_STACK);
	u32(bt, id);
	u8(bt, 0);
	bt->n = (size_t)(rec_u16(bt->b + bt->n, n) - bt->b);
	for (uint16_t k = 0; k < n; k++)
		u64(bt, pcs[k]);
}

/* A stack's frames are kept as indices of the run's distinct (process,
 * module map, address), found by comparing each stack with the one before
 * it slot by slot from the root: stacks of every depth, sharing frames
 * with the one before or not, from two processes taking turns and in
 * several module maps, keep every frame. */
static void test_stack_frames(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	enum { N = 3000 };
	uint64_t (*pcs)[MEMPROF_MAX_FRAMES] = calloc(N, sizeof(*pcs));
	uint16_t depth[N];
	char file[N][16];	/* the module each stack's frames are in */
	const char *now[2] = { "[a0]", "[b0]" };
	uint32_t ids[2] = { 0, 0 };
	uint64_t seed = 1;
	for (uint32_t pid = 4242; pid <= 4243; pid++) {
		begin(&bt);
		start(&bt);
		u8(&bt, REC_MODULES_RESET);
		module(&bt, 0x10000, 0x20000, pid == 4242 ? "[a0]" : "[b0]");
		CHECK(feed_as(c, &bt, pid) == 0);
	}
	for (uint32_t i = 0; pcs && i < N; i++) {
		uint32_t who = i / 7 % 2;
		begin(&bt);
		/* each process's map changes every 500 stacks: another file at
		 * the same addresses */
		snprintf(file[i], sizeof(file[i]), "[%c%u]", "ab"[who], i / 500);
		if (strcmp(now[who], file[i]) != 0) {
			u8(&bt, REC_MODULES_RESET);
			module(&bt, 0x10000, 0x20000, file[i]);
			now[who] = file[i];
		}
		seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
		depth[i] = i % 4 ? depth[i - 1] : (uint16_t)(1 + (seed >> 33) % MEMPROF_MAX_FRAMES);
		pcs[i][0] = 0x12000 + 16 * (uint64_t)i;	/* the leaf names the stack */
		for (uint16_t k = 1; k < depth[i]; k++) {
			seed = seed * 6364136223846793005ULL + 1442695040888963407ULL;
			int from_root = depth[i] - k;	/* the slot of frame k */
			bool shared = i && from_root < depth[i - 1] && (seed >> 40) % 8;
			pcs[i][k] = shared ? pcs[i - 1][depth[i - 1] - from_root]
					   : 0x11000 + 16 * ((seed >> 50) % 8);
		}
		stack_n(&bt, ++ids[who], pcs[i], depth[i]);
		alloc(&bt, 0x1000000 + (uint64_t)i * 64, 32, ids[who]);
		CHECK(feed_as(c, &bt, 4242 + who) == 0);
	}
	struct profile *p = pcs ? collector_profile(c, NULL) : NULL;
	size_t bad = 0;
	for (uint32_t i = 0; p && i < N; i++) {
		const struct profile_sample *s = sample_at(p, pcs[i][0]);
		bad += !s || s->n_location != depth[i];
		for (uint16_t k = 0; s && k < s->n_location && k < depth[i]; k++)
			bad += s->location[k]->address != pcs[i][k] - 1 ||
			       !s->location[k]->mapping ||
			       strcmp(s->location[k]->mapping->filename, file[i]) != 0;
	}
	CHECK(p && p->n_sample == N && bad == 0);
	/* the leaves, and 8 others per process and map */
	CHECK(c->n_pc <= N + 8 * 2 * (N / 500) && c->n_frame > c->n_pc);
	profile_free(p);
	free(pcs);
	collector_free(c);
}

/* The last profile (collector_meta.last) lets the stacks and buckets go
 * as it is made: it is the profile a profile made before it is, also
 * when a stack's second bucket comes long after it; then the collector
 * refuses records and profiles. With close_files (as memprof run and
 * convert ask for it), the buckets are also compacted in place before
 * symbolizing (compact_buckets): the same again. */
static void last_profile(bool close_files)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	CHECK(feed(c, &bt) == 0);
	const uint32_t n = 60000;	/* pages of addresses and buckets to give back */
	for (uint32_t i = 0; i < n;) {
		begin(&bt);
		for (int k = 0; k < 100 && i < n; k++, i++) {
			/* every third stack's pc is another's: distinct pcs
			 * are fewer than frames */
			stack(&bt, i + 1, 0x10000 + (uint64_t)(i % 3 ? i : i / 3) * 16);
			alloc(&bt, 0x1000000 + (uint64_t)i * 64, 32 + i % 7, i + 1);
		}
		CHECK(feed(c, &bt) == 0);
	}
	for (uint32_t i = 0; i < n; i += 1000) {	/* a second size, much later */
		begin(&bt);
		alloc(&bt, 0x9000000 + (uint64_t)i * 64, 5000, i + 1);
		CHECK(feed(c, &bt) == 0);
	}
	struct profile *a = collector_profile(c, NULL);
	struct collector_meta m = { .last = true, .close_files = close_files };
	struct profile *b = collector_profile(c, &m);
	CHECK(a && b);
	uint8_t *ea = NULL, *eb = NULL;
	size_t la = 0, lb = 0;
	CHECK(a && pprof_encode(a, 0, &ea, &la) == 0);
	CHECK(b && pprof_encode(b, 0, &eb, &lb) == 0);
	CHECK(a && a->n_sample == n + n / 1000);
	CHECK(a && b && a->n_location == b->n_location && a->n_location < n);
	CHECK(ea && eb && la == lb && memcmp(ea, eb, la) == 0);
	CHECK(collector_profile(c, NULL) == NULL);
	begin(&bt);
	alloc(&bt, 0x100, 10, 1);
	CHECK(feed(c, &bt) == -EPIPE);
	free(ea);
	free(eb);
	profile_free(a);
	profile_free(b);
	collector_free(c);
}

static void test_last_profile(void)
{
	last_profile(false);
	last_profile(true);
}

/* Sampling switched off and on (REC_SAMPLING) and an agent that came back
 * (REC_RECONNECT): the process's state, the stack ids numbered anew, and
 * the profile's comments saying when and what was lost. */
static void test_switches_and_reconnect(void)
{
	struct collector *c = collector_new();
	struct batch bt;
	begin(&bt);
	start(&bt);
	u8(&bt, REC_SAMPLING);
	u64(&bt, 1000000000ull * 86400 * 365);	/* 1971-01-01T00:00:00Z */
	u8(&bt, 0);
	stack(&bt, 1, 0x1000);
	u8(&bt, REC_SAMPLING);
	u64(&bt, 1000000000ull * (86400 * 365 + 61) + 5000000);
	u8(&bt, 1);
	alloc(&bt, 0x5000, 100, 1);
	CHECK(feed(c, &bt) == 0);
	struct collector_proc_info info;
	CHECK(collector_proc_info(c, 0, &info) && info.sampling && !info.partial_since_ns);
	begin(&bt);
	u8(&bt, REC_START);	/* connected again at 01:00:05 */
	u8(&bt, MEMPROF_VERSION_RECORDS);
	u32(&bt, 1);
	u32(&bt, 0);
	u64(&bt, 1);
	u64(&bt, 1000000000ull * (86400 * 365 + 3605));
	bt.n = (size_t)(rec_name(bt.b + bt.n, "prog") - bt.b);
	u8(&bt, REC_RECONNECT);
	u64(&bt, 1000000000ull * (86400 * 365 + 3600));
	u64(&bt, 20);
	u64(&bt, 64);
	stack(&bt, 1, 0x2000);	/* numbered anew: not a bad batch */
	alloc(&bt, 0x6000, 100, 1);
	u8(&bt, REC_SAMPLING);
	u64(&bt, 1000000000ull * (86400 * 365 + 7200));
	u8(&bt, 0);
	CHECK(feed(c, &bt) == 0);
	CHECK(collector_stats(c)->bad_batches == 0);
	CHECK(collector_stats(c)->lost == 20);
	CHECK(collector_proc_info(c, 0, &info) && !info.sampling && info.away_lost == 20);
	CHECK(info.away_since_ns == 1000000000ull * (86400 * 365 + 3600));
	struct profile *p = collector_profile(c, NULL);
	CHECK(p != NULL);
	bool saw_switch = false, saw_partial = false;
	for (size_t i = 0; p && i < p->n_comment; i++) {
		const char *cm = p->comment[i];
		/* the day is left out when it is the process's start's */
		saw_switch |= !strcmp(cm, "sampling (pid 4242, prog): off at 00:00:00.000Z; "
				     "on at 00:01:01.005Z; off at 02:00:00.000Z; "
				     "off at the end (no allocation is sampled while off)");
		saw_partial |= strstr(cm, "partial (pid 4242, prog): collected since "
					  "01:00:05.000Z only") == cm &&
			       strstr(cm, "away from 01:00:00.000Z: 20 records lost, 64 "
					  "bytes unread)") != NULL;
	}
	CHECK(saw_switch);
	CHECK(saw_partial);
	profile_free(p);
	collector_free(c);
}
/* The feed against a model of it: 300,000 random allocations and frees
 * (runs of each, addresses reused, blocks replaced at the same address,
 * frees of blocks never seen, addresses 0 and 1, sizes 0 to 100 KB, stacks
 * sent as they come) in batches of random length. Every (stack, size
 * class) sample must hold exactly the model's allocated, in use and peak
 * figures, and the counts must agree: whatever the live table and the
 * feed loop do to be fast, they may not change a result. */
struct model_bucket {
	uint32_t stack;
	uint64_t class;
	int64_t v[6];	/* alloc n, bytes; in use n, bytes; at the peak n, bytes */
};

static uint64_t model_rnd(uint64_t *x)
{
	*x ^= *x << 13;
	*x ^= *x >> 7;
	*x ^= *x << 17;
	return *x;
}

static struct model_bucket *model_bucket(struct model_bucket *mb, size_t *n, uint32_t stack,
					 uint64_t class)
{
	for (size_t i = 0; i < *n; i++)
		if (mb[i].stack == stack && mb[i].class == class)
			return &mb[i];
	mb[*n] = (struct model_bucket){ stack, class, { 0 } };
	return &mb[(*n)++];
}

static void test_feed_against_model(void)
{
	enum { POOL = 50000, STACKS = 6, MAX_BUCKETS = 1024 };
	static struct { bool live; uint32_t stack; uint64_t size; } blk[POOL];
	static struct model_bucket mb[MAX_BUCKETS];
	size_t n_mb = 0;
	int64_t heap = 0, peak = 0;
	uint64_t x = 0x2545f4914f6cdd1dULL, allocs = 0, frees = 0, unknown = 0;
	uint32_t sent = 0;	/* stacks sent so far */
	struct collector *c = collector_new();
	struct batch bt;
	bool fed = true;
	memset(blk, 0, sizeof(blk));
	begin(&bt);
	start(&bt);
	const int phase_alloc[3] = { 85, 15, 50 };	/* percent of allocations: grow, shrink, churn */
	for (int op = 0; op < 300000; op++) {
		if (bt.n > sizeof(bt.b) - 64 || model_rnd(&x) % 100 == 0) {
			fed &= feed(c, &bt) == 0;
			begin(&bt);
		}
		uint64_t r = model_rnd(&x);
		/* runs of 1 to 64 of one kind */
		bool is_alloc = (r >> 8) % 100 < (uint64_t)phase_alloc[op / 100000];
		int run = 1 + (int)((r >> 20) % 64);
		for (int k = 0; k < run && bt.n <= sizeof(bt.b) - 64; k++) {
			uint64_t i = model_rnd(&x) % POOL, addr = i < 2 ? i : 0x7f1000000000ULL + i * 48;
			if (!is_alloc) {
				free_rec(&bt, addr);
				frees++;
				if (!blk[i].live) {
					unknown++;
					continue;
				}
				struct model_bucket *b = model_bucket(mb, &n_mb, blk[i].stack,
								      size_class(blk[i].size));
				b->v[2]--;
				b->v[3] -= (int64_t)blk[i].size;
				heap -= (int64_t)blk[i].size;
				blk[i].live = false;
				continue;
			}
			uint64_t rs = model_rnd(&x), size = rs % 16 == 0 ? rs % 100000 : rs % 2000;
			uint32_t id = 1 + (uint32_t)((rs >> 32) % (sent < STACKS ? sent + 1 : STACKS));
			if (id > sent) {
				stack(&bt, id, 0xa000 + 0x100 * id);
				sent = id;
			}
			alloc(&bt, addr, size, id);
			allocs++;
			if (blk[i].live) {	/* replaced: the old block is gone */
				struct model_bucket *b = model_bucket(mb, &n_mb, blk[i].stack,
								      size_class(blk[i].size));
				b->v[2]--;
				b->v[3] -= (int64_t)blk[i].size;
				heap -= (int64_t)blk[i].size;
			}
			struct model_bucket *b = model_bucket(mb, &n_mb, id, size_class(size));
			b->v[0]++;
			b->v[1] += (int64_t)size;
			b->v[2]++;
			b->v[3] += (int64_t)size;
			heap += (int64_t)size;
			blk[i] = (typeof(blk[i])){ true, id, size };
			if (heap > peak) {	/* a new highest: what each bucket holds now */
				peak = heap;
				for (size_t j = 0; j < n_mb; j++) {
					mb[j].v[4] = mb[j].v[2];
					mb[j].v[5] = mb[j].v[3];
				}
			}
		}
	}
	fed &= feed(c, &bt) == 0;
	CHECK(fed);
	const struct collector_stats *st = collector_stats(c);
	CHECK(st->allocs == allocs && st->frees == frees && st->unknown_frees == unknown);
	CHECK(unknown > 1000 && n_mb > 50);	/* the stream did what it is for */
	struct profile *p = collector_profile(c, NULL);
	CHECK(p && p->n_sample == n_mb);
	size_t matched = 0;
	for (size_t i = 0; p && i < p->n_sample; i++) {
		const struct profile_sample *s = &p->sample[i];
		int64_t bytes = -1;
		for (size_t l = 0; l < s->n_label; l++)
			if (!strcmp(s->label[l].key, "bytes"))
				bytes = s->label[l].num;
		for (size_t j = 0; j < n_mb; j++) {
			if (s->location[0]->address != 0xa000 + 0x100 * mb[j].stack - 1 ||
			    (int64_t)mb[j].class != bytes)
				continue;
			bool same = true;
			for (int k = 0; k < 6; k++)
				same &= s->value[k] == mb[j].v[k];
			matched += same;
		}
	}
	CHECK(matched == n_mb);
	profile_free(p);
	collector_free(c);
}

const struct unit_test collect_tests[] = {
	{ "collect: sampling switched on and off, and an agent that came back",
	  test_switches_and_reconnect },
	{ "collect: the last profile lets stacks and buckets go, and is the same profile",
	  test_last_profile },
	{ "collect: stacks resolve in the module map they came in", test_module_maps },
	{ "collect: a stack keeps every frame, however it shares slots with the one before",
	  test_stack_frames },
	{ "collect: an empty stack first", test_empty_stack_first },
	{ "collect: size classes are Go's, then 8 a power of two, and bounded", test_size_class },
	{ "collect: 200,000 sizes at one site: a sample per class, exact totals",
	  test_size_classes_exact },
	{ "collect: a size class sums each sampled block's own scale", test_size_classes_scaled },
	{ "collect: symbols are kept from one profile to the next", test_symbols_kept },
	{ "records: every type encodes and decodes; cut records stop the reader", test_record_roundtrip },
	{ "collect: a recording cut short gives its whole batches and a warning",
	  test_recording_cut_short },
	{ "collect: frees of blocks never seen are counted and ignored",
	  test_unknown_frees_are_ignored },
	{ "collect: stack ids come 1, 2, 3...; gaps are taken, allocations on them refused",
	  test_stack_ids },
	{ "collect: an address allocated twice replaces the old block", test_realloc_at_same_address },
	{ "collect: peak columns hold what each stack had live at the highest heap", test_peak },
	{ "collect: 300,000 random allocations and frees: every sample exactly the model's",
	  test_feed_against_model },
	{ "collect: the timeline halves its grid to fit, keeps peak and totals, survives encoding",
	  test_timeline_grid },
	{ NULL, NULL },
};
