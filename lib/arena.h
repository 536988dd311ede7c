/* arena.h - bump allocator (many small objects, freed all at once), and
 * growable arrays. */
#ifndef MEMPROF_ARENA_H
#define MEMPROF_ARENA_H

#include <stddef.h>

struct arena_chunk;

struct arena {
	struct arena_chunk *chunk;	/* newest chunk, linked to older ones */
	size_t used;			/* bytes used in the newest chunk */
	size_t total;			/* bytes obtained from malloc so far */
	size_t limit;			/* refuse to grow past this (0 = no limit) */
};

#define ARENA_INIT { NULL, 0, 0, 0 }

/* Returns size bytes aligned to 16, zeroed, or NULL when out of memory or
 * past the arena's limit. Owned by the arena. */
void *arena_alloc(struct arena *a, size_t size);

/* Like arena_alloc(a, n * size), NULL on overflow. */
void *arena_calloc(struct arena *a, size_t n, size_t size);

/* Copies len bytes of s and a terminating NUL into the arena. */
char *arena_strndup(struct arena *a, const char *s, size_t len);

/* Makes room for element n of the malloc'd array *arrayp (capacity *cap,
 * elements of elem bytes), doubling it when full. Returns 0 or -ENOMEM
 * (the array is unchanged then). */
int array_grow(void *arrayp, size_t *cap, size_t n, size_t elem);

/* Makes the malloc'd array *arrayp hold at least n elements (allocated
 * even when n is 0), doubling when that is more. Returns 0 or -ENOMEM. */
int array_reserve(void *arrayp, size_t *cap, size_t n, size_t elem);

/* Frees every chunk; the arena can be used again afterwards. */
void arena_release(struct arena *a);

#endif
