/* hashmap.c - open-addressing hash map with linear probing. */
#include "hashmap.h"

#include <stdlib.h>
#include <string.h>

#include "arena.h"

uint64_t hash_bytes(const void *p, size_t len, uint64_t seed)
{
	const unsigned char *s = p;
	uint64_t h = 0xcbf29ce484222325ULL ^ seed;
	for (size_t i = 0; i < len; i++) {
		h ^= s[i];
		h *= 0x100000001b3ULL;
	}
	return hash_u64(h);
}

static struct hashmap_entry *find_slot(struct hashmap_entry *e, size_t mask, uint64_t key)
{
	size_t i = hash_u64(key) & mask;
	while (e[i].used && e[i].key != key)
		i = (i + 1) & mask;
	return &e[i];
}

uint64_t *hashmap_get(const struct hashmap *m, uint64_t key)
{
	if (!m->entries)
		return NULL;
	struct hashmap_entry *e = find_slot(m->entries, m->mask, key);
	return e->used ? &e->value : NULL;
}

static int grow(struct hashmap *m)
{
	size_t cap = m->entries ? (m->mask + 1) * 2 : 64;
	struct hashmap_entry *n = calloc(cap, sizeof(*n));
	if (!n)
		return -1;
	if (m->entries) {
		for (size_t i = 0; i <= m->mask; i++)
			if (m->entries[i].used)
				*find_slot(n, cap - 1, m->entries[i].key) = m->entries[i];
		free(m->entries);
	}
	m->entries = n;
	m->mask = cap - 1;
	return 0;
}

uint64_t *hashmap_put(struct hashmap *m, uint64_t key, bool *inserted)
{
	/* keep the load factor under 1/2 */
	if (!m->entries || (m->count + 1) * 2 > m->mask + 1)
		if (grow(m) < 0)
			return NULL;
	struct hashmap_entry *e = find_slot(m->entries, m->mask, key);
	*inserted = !e->used;
	if (!e->used) {
		e->used = true;
		e->key = key;
		e->value = 0;
		m->count++;
	}
	return &e->value;
}

bool hashmap_take(struct hashmap *m, uint64_t key, uint64_t *value)
{
	if (!m->entries)
		return false;
	struct hashmap_entry *e = m->entries;
	size_t i = hash_u64(key) & m->mask;
	while (e[i].used && e[i].key != key)
		i = (i + 1) & m->mask;
	if (!e[i].used)
		return false;
	if (value)
		*value = e[i].value;
	/* backward-shift deletion: no tombstones */
	size_t j = i;
	for (;;) {
		j = (j + 1) & m->mask;
		if (!e[j].used)
			break;
		size_t home = hash_u64(e[j].key) & m->mask;
		if (((j - home) & m->mask) >= ((j - i) & m->mask)) {
			e[i] = e[j];
			i = j;
		}
	}
	e[i].used = false;
	m->count--;
	return true;
}

bool hashmap_remove(struct hashmap *m, uint64_t key)
{
	return hashmap_take(m, key, NULL);
}

struct bytes {
	const char *s;
	size_t len;
};

static bool same_string(uint64_t value, const void *ctx)
{
	const char *have = (const char *)(uintptr_t)value;
	const struct bytes *want = ctx;
	return strncmp(have, want->s, want->len) == 0 && have[want->len] == '\0';
}

const char *hashmap_intern(struct hashmap *m, struct arena *a, const char *s, size_t len)
{
	struct bytes want = { s, len };
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(m, hash_bytes(s, len, 0), same_string, &want, &inserted,
				       &key);
	if (!slot || !inserted)
		return slot ? (const char *)(uintptr_t)*slot : NULL;
	char *copy = arena_strndup(a, s, len);
	if (!copy) {
		hashmap_remove(m, key);
		return NULL;
	}
	*slot = (uint64_t)(uintptr_t)copy;
	return copy;
}

void hashmap_release(struct hashmap *m)
{
	free(m->entries);
	m->entries = NULL;
	m->mask = 0;
	m->count = 0;
}
