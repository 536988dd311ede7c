/* test_tracker.c - the tracker's pure parts: the sampler's draws and the
 * tables (lib/tracker/draw.h, lib/tracker/tables.c). */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "lib/tracker/draw.h"
#include "lib/tracker/tables.h"

/* Distances are exponential with mean rate: mean, variance and the
 * fraction below the median checked on 200,000 draws (5 standard errors),
 * as gperftools tests its sampler. */
static void test_draws_are_exponential(void)
{
	const int64_t rate = 512 * 1024;
	const int n = 200000;
	uint64_t rng = 0;
	double sum = 0, sum2 = 0;
	int below_median = 0, zero = 0;
	for (int i = 0; i < n; i++) {
		int64_t d = draw_distance(&rng, 12345, rate);
		zero += d < 1;
		sum += (double)d;
		sum2 += (double)d * (double)d;
		below_median += (double)d < log(2) * (double)rate;
	}
	double mean = sum / n, var = sum2 / n - mean * mean;
	CHECK(zero == 0);
	CHECK(fabs(mean - (double)rate) < 5 * (double)rate / sqrt(n));
	CHECK(fabs(sqrt(var) - (double)rate) < 0.02 * (double)rate);
	CHECK(abs(below_median - n / 2) < 5 * (int)sqrt(n / 4.0));
	/* rate 1: every allocation */
	CHECK(draw_distance(&rng, 1, 1) == 0);
}

/* Different seeds give different sequences (forked children draw afresh). */
static void test_seeds_differ(void)
{
	uint64_t a = 0, b = 0;
	int same = 0;
	for (int i = 0; i < 100; i++)
		same += draw_distance(&a, 1111, 4096) == draw_distance(&b, 2222, 4096);
	CHECK(same < 5);
}

static void test_tables(void)
{
	uintptr_t pcs[3] = { 0x401000, 0x402000, 0x403000 };
	bool is_new;
	uint32_t id = stacks_id(pcs, 3, &is_new);
	CHECK(id == 1 && is_new);
	CHECK(stacks_id(pcs, 3, &is_new) == 1 && !is_new);
	CHECK(stacks_id(pcs, 2, &is_new) == 2 && is_new);
	for (uintptr_t i = 0; i < 20000; i++) {
		uintptr_t p[2] = { 0x500000 + i, 7 };
		CHECK(stacks_id(p, 2, &is_new) == 3 + i && is_new);
	}
	stacks_reset();
	CHECK(stacks_id(pcs, 3, &is_new) == 1 && is_new);

	/* live blocks and the free filter agree (4 a page: counts stay below 255) */
	for (uintptr_t a = 0x10000; a < 0x10000 + 100000 * 1024; a += 1024)
		CHECK(blocks_insert(a, 16, 1));
	CHECK(filter_maybe((void *)0x10000));
	for (uintptr_t a = 0x10000; a < 0x10000 + 100000 * 1024; a += 1024)
		CHECK(blocks_remove(a));
	CHECK(!blocks_remove(0x10000));
	CHECK(!filter_maybe((void *)0x10000));
	filter_pin((void *)0x7000);
	CHECK(filter_maybe((void *)0x7000));
	filter_reset();
	CHECK(filter_maybe((void *)0x7000));	/* pinned stays */
}

const struct unit_test tracker_tests[] = {
	{ "tracker: sample distances are exponential with mean = rate", test_draws_are_exponential },
	{ "tracker: generators seeded apart draw apart", test_seeds_differ },
	{ "tracker: stack ids, live blocks and the free filter", test_tables },
	{ NULL, NULL },
};
