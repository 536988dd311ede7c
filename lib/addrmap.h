/* addrmap.h - the collector's table of live sampled blocks: block address
 * -> 64-bit value. At --rate 1 every record the collector reads is an
 * insertion or a removal here (jq: 2M blocks live at once, 4M records), so
 * this is hashmap.h cut to what that needs: 16-byte slots (hashmap's are
 * 24), a multiplicative hash of two instructions, the operations inline.
 * Linear probing; a removal leaves a tombstone (one store, where moving
 * the run back costs a loop), and slots in use or dead are kept at most
 * half of the table, so a search is never longer than in a table half
 * full; the table is rebuilt (at the same size when mostly dead) when
 * they reach that. */
#ifndef MEMPROF_ADDRMAP_H
#define MEMPROF_ADDRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slot's addr: a block's address, or one of these. Blocks at these two
 * addresses are kept beside the slots (addrmap.odd). */
#define ADDRMAP_EMPTY 0
#define ADDRMAP_DEAD 1

struct addrmap_slot {
	uint64_t addr;
	uint64_t value;
};

struct addrmap {
	struct addrmap_slot *slot;	/* NULL until the first insertion */
	size_t mask;		/* capacity - 1; capacity is a power of two */
	unsigned shift;		/* 64 - log2(capacity) */
	size_t count;		/* live entries in the slots */
	size_t used;		/* slots live or dead */
	size_t limit;		/* rebuild before used reaches it: half the slots; 0: none yet */
	bool odd_used[2];	/* addresses 0 and 1 */
	uint64_t odd_value[2];
};

/* All zero is an empty table (shift is set with the first slots). */
#define ADDRMAP_INIT { NULL, 0, 0, 0, 0, 0, { false, false }, { 0, 0 } }

/* Fibonacci hashing: the high bits of addr times 2^64 / golden ratio.
 * Blocks are 16-byte aligned and often neighbours: the multiply spreads
 * every bit of the address into the high bits taken. */
#define ADDRMAP_MULT 0x9e3779b97f4a7c15ULL
static inline size_t addrmap_home(const struct addrmap *m, uint64_t addr)
{
	return (size_t)((addr * ADDRMAP_MULT) >> m->shift);
}

/* Makes room for one more entry: the table rebuilt without its dead slots,
 * twice as big when more than a quarter of it is live (or its first 64
 * slots). 0 or -ENOMEM (the table is then as it was). */
int addrmap_rebuild(struct addrmap *m);

/* addrmap_put and addrmap_take for addresses 0 and 1. */
uint64_t *addrmap_put_odd(struct addrmap *m, uint64_t addr, bool *inserted);
bool addrmap_take_odd(struct addrmap *m, uint64_t addr, uint64_t *value);

/* Finds addr or inserts it with value 0; *inserted says which. Returns a
 * pointer to its value (valid until the next insertion), or NULL when out
 * of memory (the table is then as it was). */
static inline uint64_t *addrmap_put(struct addrmap *m, uint64_t addr, bool *inserted)
{
	if (__builtin_expect(addr <= ADDRMAP_DEAD, 0))
		return addrmap_put_odd(m, addr, inserted);
	if (__builtin_expect(m->used >= m->limit, 0) && addrmap_rebuild(m) < 0)
		return NULL;
	/* in locals: a store to a slot could be one to m, for the compiler */
	struct addrmap_slot *s = m->slot;
	size_t mask = m->mask, i = addrmap_home(m, addr), dead = SIZE_MAX;
	for (;; i = (i + 1) & mask) {
		uint64_t a = s[i].addr;
		if (a == addr) {
			*inserted = false;
			return &s[i].value;
		}
		if (a == ADDRMAP_EMPTY)
			break;
		if (a == ADDRMAP_DEAD && dead == SIZE_MAX)
			dead = i;
	}
	if (dead != SIZE_MAX)	/* absent: the first dead slot on the way */
		i = dead;
	else
		m->used++;
	s[i].addr = addr;
	s[i].value = 0;
	m->count++;
	*inserted = true;
	return &s[i].value;
}

/* Finds addr. A pointer to its value, or NULL if absent. */
static inline uint64_t *addrmap_get(struct addrmap *m, uint64_t addr)
{
	if (addr <= ADDRMAP_DEAD)
		return m->odd_used[addr] ? &m->odd_value[addr] : NULL;
	if (!m->slot)
		return NULL;
	struct addrmap_slot *s = m->slot;
	for (size_t i = addrmap_home(m, addr); s[i].addr; i = (i + 1) & m->mask)
		if (s[i].addr == addr)
			return &s[i].value;
	return NULL;
}

/* Removes addr and gives its value (value may be NULL); returns whether it
 * was there. */
static inline bool addrmap_take(struct addrmap *m, uint64_t addr, uint64_t *value)
{
	if (__builtin_expect(addr <= ADDRMAP_DEAD, 0))
		return addrmap_take_odd(m, addr, value);
	if (!m->slot)
		return false;
	struct addrmap_slot *s = m->slot;
	size_t mask = m->mask, i = addrmap_home(m, addr);
	for (;; i = (i + 1) & mask) {
		uint64_t a = s[i].addr;
		if (a == addr)
			break;
		if (a == ADDRMAP_EMPTY)
			return false;
	}
	if (value)
		*value = s[i].value;
	/* the end of a run needs no tombstone */
	if (s[(i + 1) & mask].addr == ADDRMAP_EMPTY) {
		s[i].addr = ADDRMAP_EMPTY;
		m->used--;
	} else {
		s[i].addr = ADDRMAP_DEAD;
	}
	m->count--;
	return true;
}

/* Asks the CPU for addr's home slot ahead of its use (a hint: the table
 * may grow before then; an empty table has its slot pointer 0, and a
 * prefetch never faults). */
static inline void addrmap_prefetch(const struct addrmap *m, uint64_t addr)
{
	uintptr_t s = (uintptr_t)m->slot + sizeof(*m->slot) * addrmap_home(m, addr);
	__builtin_prefetch((const void *)s);
	/* gcc counts a prefetch as no effect, and drops a loop that only
	 * prefetches (the feed's lookahead): this is one */
	__asm__ volatile("" : : "r"(s));
}

/* Entries held. */
static inline size_t addrmap_count(const struct addrmap *m)
{
	return m->count + m->odd_used[0] + m->odd_used[1];
}

void addrmap_release(struct addrmap *m);

#endif
