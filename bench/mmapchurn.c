/* mmapchurn.c - the cost of memprof run --mmap: N rounds of an anonymous
 * 64 KiB mapping (touched, then unmapped), and of 4 KiB mprotect'ed out
 * of a PROT_NONE reservation, each followed by a few mallocs. Usage:
 * mmapchurn [N] (default 200000). */
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>

void *volatile sink;

int main(int argc, char **argv)
{
	long n = argc > 1 ? atol(argv[1]) : 200000;
	char *r = mmap(NULL, 1 << 30, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (r == MAP_FAILED)
		return 1;
	for (long i = 0; i < n; i++) {
		char *p = mmap(NULL, 65536, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
		if (p == MAP_FAILED)
			return 1;
		p[0] = 1;
		sink = p;
		munmap(p, 65536);
		char *q = r + (i % 262144) * 4096;
		mprotect(q, 4096, PROT_READ | PROT_WRITE);
		for (int k = 0; k < 4; k++) {
			void *m = malloc(64 + k * 32);
			sink = m;
			free(m);
		}
	}
	printf("%ld rounds\n", n);
	return 0;
}
