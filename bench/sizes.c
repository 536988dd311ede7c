/* sizes.c - sizes N [same]: N malloc/free pairs at one call site, each of
 * a different size (16 + i bytes), or all of 64 bytes with "same". For
 * measuring what distinct sizes cost the collector and the profile. */
#include <stdlib.h>
#include <string.h>

void *volatile sink;

__attribute__((noinline)) static void one(size_t size)
{
	void *p = malloc(size);
	sink = p;
	free(p);
}

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	int same = argc > 2 && !strcmp(argv[2], "same");
	for (long i = 0; i < n; i++)
		one(same ? 64 : 16 + (size_t)i);
	return 0;
}
