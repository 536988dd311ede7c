/* poolshim.c - what memprof.h costs a program that runs without memprof:
 * N memprof_alloc/memprof_free pairs around a trivial bump allocator.
 * Build twice, with and without -DMEMPROF_DISABLE, and compare
 * instructions (callgrind). Usage: poolshim [N] (default 10000000). */
#include <stdio.h>
#include <stdlib.h>

#include <memprof.h>

static char arena[1 << 20];
void *volatile sink;

__attribute__((noinline)) static void *get(size_t *at, size_t n)
{
	void *p = arena + (*at & ((1 << 20) - 1));
	*at += n;
	memprof_alloc(p, n);
	return p;
}

__attribute__((noinline)) static void put(void *p)
{
	sink = p;	/* a body of its own, with or without the shim */
	memprof_free(p);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 10000000;
	size_t at = 0;
	for (long i = 0; i < n; i++) {
		void *p = get(&at, 32);
		sink = p;
		put(p);
	}
	printf("%ld pairs\n", n);
	return 0;
}
