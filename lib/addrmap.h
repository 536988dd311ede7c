/* addrmap.h - the collector's table of live sampled blocks: block address
 * -> 64-bit value. At --rate 1 every record the collector reads is an
 * insertion or a removal here (jq: 2M blocks live at once, 4M records), so
 * this is hashmap.h cut to what that needs: 16-byte slots (hashmap's are
 * 24), a multiplicative hash of two instructions, the operations inline.
 * Linear probing, at most half full; a removal moves the rest of its run
 * back (no tombstones: a search never walks past dead slots, and the table
 * is no bigger than its live entries need). */
#ifndef MEMPROF_ADDRMAP_H
#define MEMPROF_ADDRMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A slot's addr: a block's address, or this. A block at address 0 is kept
 * beside the slots (addrmap.zero). */
#define ADDRMAP_EMPTY 0

struct addrmap_slot {
	uint64_t addr;
	uint64_t value;
};

struct addrmap {
	struct addrmap_slot *slot;	/* NULL until the first insertion */
	size_t mask;		/* capacity - 1; capacity is a power of two */
	unsigned shift;		/* 64 - log2(capacity) */
	size_t count;		/* entries in the slots */
	size_t limit;		/* grow before count reaches it: half the slots; 0: none yet */
	bool zero_used;		/* address 0 */
	uint64_t zero_value;
};

/* All zero is an empty table (shift is set with the first slots). */
#define ADDRMAP_INIT { NULL, 0, 0, 0, 0, false, 0 }

/* Fibonacci hashing: the high bits of addr times 2^64 / golden ratio.
 * Blocks are 16-byte aligned and often neighbours: the multiply spreads
 * every bit of the address into the high bits taken. */
#define ADDRMAP_MULT 0x9e3779b97f4a7c15ULL
static inline size_t addrmap_home(const struct addrmap *m, uint64_t addr)
{
	return (size_t)((addr * ADDRMAP_MULT) >> m->shift);
}

/* Makes room for one more entry: the table twice as big (or its first 64
 * slots). 0 or -ENOMEM (the table is then as it was). */
int addrmap_grow(struct addrmap *m);

/* addrmap_put and addrmap_take for address 0. */
uint64_t *addrmap_put_zero(struct addrmap *m, bool *inserted);
bool addrmap_take_zero(struct addrmap *m, uint64_t *value);

/* Finds addr or inserts it with value 0; *inserted says which. Returns a
 * pointer to its value (valid until the next insertion or removal), or
 * NULL when out of memory (the table is then as it was). */
static inline uint64_t *addrmap_put(struct addrmap *m, uint64_t addr, bool *inserted)
{
	if (__builtin_expect(addr == ADDRMAP_EMPTY, 0))
		return addrmap_put_zero(m, inserted);
	if (__builtin_expect(m->count >= m->limit, 0) && addrmap_grow(m) < 0)
		return NULL;
	/* in locals: a store to a slot could be one to m, for the compiler */
	struct addrmap_slot *s = m->slot;
	size_t mask = m->mask, i = addrmap_home(m, addr);
	for (;; i = (i + 1) & mask) {
		uint64_t a = s[i].addr;
		if (a == addr) {
			*inserted = false;
			return &s[i].value;
		}
		if (a == ADDRMAP_EMPTY)
			break;
	}
	s[i].addr = addr;
	s[i].value = 0;
	m->count++;
	*inserted = true;
	return &s[i].value;
}

/* Finds addr. A pointer to its value, or NULL if absent. */
static inline uint64_t *addrmap_get(struct addrmap *m, uint64_t addr)
{
	if (addr == ADDRMAP_EMPTY)
		return m->zero_used ? &m->zero_value : NULL;
	if (!m->slot)
		return NULL;
	struct addrmap_slot *s = m->slot;
	for (size_t i = addrmap_home(m, addr); s[i].addr; i = (i + 1) & m->mask)
		if (s[i].addr == addr)
			return &s[i].value;
	return NULL;
}

/* Removes addr and gives its value (value may be NULL); returns whether it
 * was there. The entries after it in its run move back over the hole when
 * their home allows (it is not after the hole): every entry stays reachable
 * from its home with no empty slot on the way. */
static inline bool addrmap_take(struct addrmap *m, uint64_t addr, uint64_t *value)
{
	if (__builtin_expect(addr == ADDRMAP_EMPTY, 0))
		return addrmap_take_zero(m, value);
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
	for (size_t j = (i + 1) & mask;; j = (j + 1) & mask) {
		uint64_t a = s[j].addr;
		if (a == ADDRMAP_EMPTY)
			break;
		/* its home is at the hole or before when it is at least as
		 * far from it as the hole is */
		if (((j - addrmap_home(m, a)) & mask) >= ((j - i) & mask)) {
			s[i] = s[j];
			i = j;
		}
	}
	s[i].addr = ADDRMAP_EMPTY;
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
	return m->count + m->zero_used;
}

void addrmap_release(struct addrmap *m);

#endif
