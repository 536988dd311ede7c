/* addrmap.c - growing and freeing the live-block table, and its entry for
 * address 0 (addrmap.h). */
#include "addrmap.h"

#include <errno.h>
#include <stdlib.h>

int addrmap_grow(struct addrmap *m)
{
	struct addrmap_slot *old = m->slot;
	size_t old_cap = old ? m->mask + 1 : 0;
	size_t cap = old ? old_cap * 2 : 64;
	unsigned shift = old ? m->shift - 1 : 64 - 6;
	struct addrmap_slot *n = calloc(cap, sizeof(*n));
	if (!n)
		return -ENOMEM;
	/* homes are the top bits of the hash: the old slots in order land
	 * in order, mostly in their first place */
	for (size_t i = 0; i < old_cap; i++) {
		uint64_t a = old[i].addr;
		if (a == ADDRMAP_EMPTY)
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
	m->limit = cap / 2;
	return 0;
}

uint64_t *addrmap_put_zero(struct addrmap *m, bool *inserted)
{
	*inserted = !m->zero_used;
	if (*inserted) {
		m->zero_used = true;
		m->zero_value = 0;
	}
	return &m->zero_value;
}

bool addrmap_take_zero(struct addrmap *m, uint64_t *value)
{
	if (!m->zero_used)
		return false;
	if (value)
		*value = m->zero_value;
	m->zero_used = false;
	return true;
}

void addrmap_release(struct addrmap *m)
{
	free(m->slot);
	*m = (struct addrmap)ADDRMAP_INIT;
}
