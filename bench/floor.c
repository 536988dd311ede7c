/* floor.c - a do-nothing interposer that forwards malloc and free through
 * dlsym(RTLD_NEXT) pointers, as an interposer must when the program brings
 * its own allocator: the null test, frame and saved register cost 8
 * instructions a call. Not the floor: bench/floor-direct.c is (bench/run
 * reports both). */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stddef.h>

static void *(*next_malloc)(size_t);
static void (*next_free)(void *);

void *malloc(size_t n)
{
	if (!next_malloc)
		next_malloc = (void *(*)(size_t))dlsym(RTLD_NEXT, "malloc");
	return next_malloc(n);
}

void free(void *p)
{
	if (!next_free)
		next_free = (void (*)(void *))dlsym(RTLD_NEXT, "free");
	next_free(p);
}
