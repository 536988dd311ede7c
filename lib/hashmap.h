/* hashmap.h - open-addressing hash map from 64-bit keys to 64-bit values. */
#ifndef MEMPROF_HASHMAP_H
#define MEMPROF_HASHMAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct hashmap_entry {
	uint64_t key;
	uint64_t value;
	bool used;
};

struct hashmap {
	struct hashmap_entry *entries;
	size_t mask;		/* capacity - 1; capacity is a power of two */
	size_t count;
};

#define HASHMAP_INIT { NULL, 0, 0 }

/* Mixes a 64-bit value into a well-spread hash: xor-shift, multiply,
 * xor-shift (half of splitmix64's finalizer: the maps index with the low
 * bits, and one multiply spreads every input bit into the high half, which
 * the last shift folds down). At --rate 1 the collector hashes about three
 * times per record. */
static inline uint64_t hash_u64(uint64_t x)
{
	x ^= x >> 32;
	x *= 0xd6e8feb86659fd93ULL;
	x ^= x >> 32;
	return x;
}

/* FNV-1a over len bytes, then mixed. */
uint64_t hash_bytes(const void *p, size_t len, uint64_t seed);

/* Finds key. Returns a pointer to its value, or NULL if absent. */
uint64_t *hashmap_get(const struct hashmap *m, uint64_t key);

/* Finds key or inserts it with value 0; *inserted says which. Returns a
 * pointer to the value (valid until the next insertion), or NULL when out
 * of memory. */
uint64_t *hashmap_put(struct hashmap *m, uint64_t key, bool *inserted);

/* Removes key; returns whether it was there. */
bool hashmap_remove(struct hashmap *m, uint64_t key);

/* Removes key and gives its value (if value is not NULL); returns whether
 * it was there. One probe where hashmap_get + hashmap_remove take two. */
bool hashmap_take(struct hashmap *m, uint64_t key, uint64_t *value);

void hashmap_release(struct hashmap *m);

/* For items the caller keeps elsewhere and finds by a hash of its own:
 * keys are the hash, then hash + 1, + 2... past other items that share it.
 * Returns the slot of the item for which same(value, ctx) is true, or a
 * new slot (value 0, *inserted true) for the caller to fill, or to remove
 * by its key (*key) when it cannot. NULL when out of memory. Inline, so
 * that `same` is too: the collector calls it for every sampled block. */
static inline uint64_t *hashmap_probe(struct hashmap *m, uint64_t hash,
				      bool (*same)(uint64_t value, const void *ctx),
				      const void *ctx, bool *inserted, uint64_t *key)
{
	for (;; hash++) {
		uint64_t *slot = hashmap_put(m, hash, inserted);
		if (!slot || *inserted || same(*slot, ctx)) {
			*key = hash;
			return slot;
		}
	}
}

struct arena;

/* String interning on a hashmap: returns the one copy (in arena a) of the
 * len bytes at s, made on first use; m maps hashes to copies, walking on
 * to hash + 1 when two strings share a hash. NULL when out of memory. */
const char *hashmap_intern(struct hashmap *m, struct arena *a, const char *s, size_t len);

#endif
