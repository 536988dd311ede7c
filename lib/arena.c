/* arena.c - bump allocator used for profile models. */
#include "arena.h"

#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

struct arena_chunk {
	struct arena_chunk *prev;
	size_t size;
	_Alignas(16) unsigned char data[];
};

#define ARENA_CHUNK_MIN (64 * 1024)

void *arena_alloc(struct arena *a, size_t size)
{
	size = (size + 15) & ~(size_t)15;
	if (size == 0)
		size = 16;
	if (!a->chunk || a->chunk->size - a->used < size) {
		size_t want = size > ARENA_CHUNK_MIN ? size : ARENA_CHUNK_MIN;
		/* grow chunk sizes geometrically so big models take few mallocs */
		if (a->total / 4 > want)
			want = a->total / 4;
		if (want > SIZE_MAX - sizeof(struct arena_chunk))
			return NULL;
		if (a->limit && a->total + want > a->limit) {
			if (a->total + size > a->limit)
				return NULL;
			want = size;
		}
		struct arena_chunk *c = malloc(sizeof(*c) + want);
		if (!c)
			return NULL;
		c->prev = a->chunk;
		c->size = want;
		a->chunk = c;
		a->used = 0;
		a->total += want;
	}
	void *p = a->chunk->data + a->used;
	a->used += size;
	memset(p, 0, size);
	return p;
}

void *arena_calloc(struct arena *a, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size)
		return NULL;
	return arena_alloc(a, n * size);
}

char *arena_strndup(struct arena *a, const char *s, size_t len)
{
	if (len == SIZE_MAX)
		return NULL;
	char *d = arena_alloc(a, len + 1);
	if (d) {
		memcpy(d, s, len);
		d[len] = '\0';
	}
	return d;
}

int array_reserve(void *arrayp, size_t *cap, size_t n, size_t elem)
{
	if (n <= *cap && *(void **)arrayp)
		return 0;
	size_t ncap = *cap ? *cap * 2 : 16;
	if (ncap < n)
		ncap = n;
	if (ncap > SIZE_MAX / elem)
		return -ENOMEM;
	void *a = realloc(*(void **)arrayp, ncap * elem);
	if (!a)
		return -ENOMEM;
	*(void **)arrayp = a;
	*cap = ncap;
	return 0;
}

int array_grow(void *arrayp, size_t *cap, size_t n, size_t elem)
{
	return array_reserve(arrayp, cap, n + 1, elem);
}

void arena_release(struct arena *a)
{
	struct arena_chunk *c = a->chunk;
	while (c) {
		struct arena_chunk *prev = c->prev;
		free(c);
		c = prev;
	}
	a->chunk = NULL;
	a->used = 0;
	a->total = 0;
}
