/* test_addrmap.c - the live-block table (lib/addrmap.h) against hashmap.h
 * as the model, through growth and removals that move runs back. */
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "lib/addrmap.h"
#include "lib/hashmap.h"

static uint64_t rnd_state = 88172645463325252ULL;

static uint64_t rnd(void)
{
	rnd_state ^= rnd_state << 13;
	rnd_state ^= rnd_state >> 7;
	rnd_state ^= rnd_state << 17;
	return rnd_state;
}

/* Every key of the model is in the table with its value, and as many. */
static bool same_as(struct addrmap *m, const struct hashmap *model)
{
	size_t n = 0;
	for (size_t i = 0; model->entries && i <= model->mask; i++) {
		if (!model->entries[i].used)
			continue;
		n++;
		uint64_t *v = addrmap_get(m, model->entries[i].key);
		if (!v || *v != model->entries[i].value)
			return false;
	}
	return n == addrmap_count(m) && n == model->count;
}

/* One random step on both: put (value set), take, or get of a key among
 * `keys` (16-byte aligned addresses, and 0, which the table keeps apart,
 * and 1). Returns whether they agreed. */
static bool step(struct addrmap *m, struct hashmap *model, uint64_t keys, unsigned put_percent)
{
	uint64_t r = rnd(), k = r % keys;
	uint64_t addr = k < 2 ? k : 0x7f0000000000ULL + k * 16;
	unsigned op = (unsigned)(r >> 40) % 100;
	if (op < put_percent) {
		bool ins, mins;
		uint64_t *v = addrmap_put(m, addr, &ins);
		uint64_t *mv = hashmap_put(model, addr, &mins);
		if (!v || !mv || ins != mins || (!ins && *v != *mv))
			return false;
		*v = *mv = r;
		return true;
	}
	if (op < 95) {
		uint64_t v = 0, mv = 0;
		bool had = addrmap_take(m, addr, &v), mhad = hashmap_take(model, addr, &mv);
		return had == mhad && v == mv;
	}
	uint64_t *v = addrmap_get(m, addr), *mv = hashmap_get(model, addr);
	return !v == !mv && (!v || *v == *mv);
}

static void test_addrmap_model(void)
{
	struct addrmap m = ADDRMAP_INIT;
	struct hashmap model = HASHMAP_INIT;
	bool ok = true;
	bool ins;
	CHECK(addrmap_get(&m, 0x1000) == NULL && !addrmap_take(&m, 0x1000, NULL));
	/* growing: mostly puts over 100k keys */
	for (int i = 0; i < 200000 && ok; i++)
		ok = step(&m, &model, 100000, 80);
	CHECK(ok && same_as(&m, &model));
	CHECK(addrmap_count(&m) > 30000);
	/* emptying: mostly takes, each moving its run back */
	for (int i = 0; i < 400000 && ok; i++)
		ok = step(&m, &model, 100000, 10);
	CHECK(ok && same_as(&m, &model));
	/* churn around a steady size */
	for (int i = 0; i < 400000 && ok; i++)
		ok = step(&m, &model, 3000, 50);
	CHECK(ok && same_as(&m, &model));
	/* address 0 is a block like the others */
	uint64_t *v = addrmap_put(&m, 0, &ins);
	CHECK(v && !addrmap_get(&m, 1) == !hashmap_get(&model, 1));
	addrmap_release(&m);
	hashmap_release(&model);
	CHECK(addrmap_count(&m) == 0 && addrmap_get(&m, 0) == NULL);
}
/* A million blocks allocated and freed, one after the other, at random
 * addresses, with a thousand live at once: the table never grows past
 * what they need (at most half full: 2048 slots), and every one stays
 * findable as runs move back. */
static void test_addrmap_churn_stays_small(void)
{
	struct addrmap m = ADDRMAP_INIT;
	static uint64_t ring[1000];	/* the live ones, the oldest at i % 1000 */
	bool ok = true, ins;
	size_t most = 0;
	for (uint64_t i = 0; i < 1000000 && ok; i++) {
		uint64_t slot = i % 1000, got;
		if (i >= 1000)	/* the oldest goes */
			ok = addrmap_take(&m, ring[slot], &got) && got == ring[slot];
		do {	/* the same address twice (rare): drawn again */
			ring[slot] = 0x100000000000ULL + (rnd() & 0xffffffff0ULL);
			uint64_t *v = addrmap_put(&m, ring[slot], &ins);
			ok = ok && v;
			if (v && ins)
				*v = ring[slot];
		} while (ok && !ins);
		most = m.mask + 1 > most ? m.mask + 1 : most;
	}
	CHECK(ok);
	CHECK(most <= 2048);
	CHECK(addrmap_count(&m) == 1000);
	for (uint64_t i = 0; i < 1000 && ok; i++) {
		uint64_t *v = addrmap_get(&m, ring[i]);
		ok = v && *v == ring[i];
	}
	CHECK(ok);
	addrmap_release(&m);
}

/* Runs that wrap past the table's end: 31 addresses whose homes are its
 * last three slots (of 64), taken out in a random order; after each
 * removal every other one is still found, with its value. */
static void test_addrmap_wrapping_runs(void)
{
	struct addrmap m = ADDRMAP_INIT;
	uint64_t key[31];
	size_t n = 0;
	bool ins, ok = true;
	for (uint64_t a = 0x7f0000000010ULL; n < 31; a += 16)
		if ((a * ADDRMAP_MULT) >> 58 >= 61)
			key[n++] = a;
	for (size_t i = 0; i < n && ok; i++) {
		uint64_t *v = addrmap_put(&m, key[i], &ins);
		ok = v && ins;
		if (ok)
			*v = ~key[i];
	}
	CHECK(ok && m.mask == 63);	/* all in the first 64 slots: runs wrap */
	CHECK(m.slot && m.slot[0].addr != ADDRMAP_EMPTY);
	for (size_t left = n; left > 0 && ok; left--) {
		size_t k = (size_t)(rnd() % left);
		uint64_t got = 0;
		ok = addrmap_take(&m, key[k], &got) && got == ~key[k] &&
		     !addrmap_take(&m, key[k], NULL);
		key[k] = key[left - 1];
		for (size_t i = 0; i + 1 < left && ok; i++) {
			uint64_t *v = addrmap_get(&m, key[i]);
			ok = v && *v == ~key[i];
		}
	}
	CHECK(ok && addrmap_count(&m) == 0);
	for (size_t i = 0; i <= m.mask; i++)
		ok = ok && m.slot[i].addr == ADDRMAP_EMPTY;
	CHECK(ok);
	addrmap_release(&m);
}

const struct unit_test addrmap_tests[] = {
	{ "addrmap: the live-block table agrees with hashmap through growth and removals",
	  test_addrmap_model },
	{ "addrmap: churn at a steady size never grows the table past its live entries' need",
	  test_addrmap_churn_stays_small },
	{ "addrmap: removals from runs that wrap past the table's end keep the rest findable",
	  test_addrmap_wrapping_runs },
	{ NULL, NULL },
};
