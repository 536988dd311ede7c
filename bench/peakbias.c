/* peakbias.c - a heap that grows to a plateau and stays there: peakbias
 * [MIB] [CHURN] allocates MIB (default 64) MiB in blocks of 16..4096
 * bytes, then CHURN (default 1000000) times frees a random block and
 * allocates one of a random size in its place, then frees everything.
 * The true peak is a little above MIB MiB; at a sampled rate the estimate
 * of the heap in use wanders around it all along the plateau, and its
 * highest value is what peak_space reports (bench/peakbias.sh). */
#include <stdio.h>
#include <stdlib.h>

int main(int argc, char **argv)
{
	size_t target = (size_t)(argc > 1 ? atof(argv[1]) : 64) << 20;
	long churn = argc > 2 ? atol(argv[2]) : 1000000;
	size_t n = 0, cap = target / 1024 + 1, used = 0;	/* blocks average 2 KiB */
	char **b = malloc(cap * sizeof(*b));
	unsigned long long x = 88172645463325252ULL;
#define NEXT() (x ^= x << 13, x ^= x >> 7, x ^= x << 17, x)
	while (used < target && n < cap) {
		size_t size = 16 + NEXT() % 4081;
		b[n++] = malloc(size);
		b[n - 1][0] = 1;
		used += size;
	}
	for (long i = 0; i < churn; i++) {
		size_t at = NEXT() % n;
		free(b[at]);
		b[at] = malloc(16 + NEXT() % 4081);
		b[at][0] = 1;
	}
	for (size_t i = 0; i < n; i++)
		free(b[i]);
	free(b);
	printf("%zu blocks\n", n);
	return 0;
}
