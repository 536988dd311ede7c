/* addrmap.c - rebuilding and freeing the live-block table, and its two
 * odd addresses (addrmap.h). */
#include "addrmap.h"

#include <errno.h>
#include <stdlib.h>

int addrmap_rebuild(struct addrmap *m)
{
	struct addrmap_slot *old = m->slot;
	size_t old_cap = old ? m->mask + 1 : 0;
	/* mostly dead: the same size is enough, and the next rebuild is at
	 * least a quarter of the table's insertions away */
	bool same = old && m->count < old_cap / 4;
	size_t cap = !old ? 64 : same ? old_cap : old_cap * 2;
	unsigned shift = !old ? 64 - 6 : same ? m->shift : m->shift - 1;
	struct addrmap_slot *n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	/* homes are the top bits of the hash: the old slots in order land
	 * in order, mostly in their first place */
	for (size_t i = 0; i < old_cap; i++) {
		uint64_t a = old[i].addr;
		if (a <= ADDRMAP_DEAD)
			continue;
		size_t k = (size_t)((a * ADDRMAP_MULT) >> shift);
		while (n[k].addr)
			k = (k + 1) & (cap - 1);
		n[k] = old[i];
	}
	free(old);
	m->slot = n;
	m->mask = cap - 1;
	m->shift = shift;
	m->used = m->count;
	m->limit = cap / 2;
	return 0;
}

uint64_t *addrmap_put_odd(struct addrmap *m, uint64_t addr, bool *inserted)
{
	*inserted = !m->odd_used[addr];
	if (*inserted) {
		m->odd_used[addr] = true;
		m->odd_value[addr] = 0;
	}
	return &m->odd_value[addr];
}

bool addrmap_take_odd(struct addrmap *m, uint64_t addr, uint64_t *value)
{
	if (!m->odd_used[addr])
		return false;
	if (value)
		*value = m->odd_value[addr];
	m->odd_used[addr] = false;
	return true;
}

void addrmap_release(struct addrmap *m)
{
	free(m->slot);
	*m = (struct addrmap)ADDRMAP_INIT;
}
