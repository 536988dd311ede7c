/* stacks.c - stacks N [DEPTH]: N allocations, each from a different call
 * stack (paths through a binary tree of 16 functions, DEPTH levels, default
 * 20; or, with DEPTH > 20, a single path DEPTH frames deep repeated N
 * times). For measuring the collector against the number of distinct
 * stacks, and the tracker against stack depth. */
#include <stdio.h>
#include <stdlib.h>

void *volatile sink;
typedef long (*step_fn)(unsigned long path, int depth);
static step_fn table[16];

#define STEP(k) \
	__attribute__((noinline)) static long step##k(unsigned long path, int depth) \
	{ \
		if (depth == 0) { \
			void *p = malloc(64); \
			sink = p; \
			free(p); \
			return 1; \
		} \
		return table[(path & 1) * 8 + (depth & 7)](path >> 1, depth - 1) + 1; \
	}
STEP(0) STEP(1) STEP(2) STEP(3) STEP(4) STEP(5) STEP(6) STEP(7)
STEP(8) STEP(9) STEP(10) STEP(11) STEP(12) STEP(13) STEP(14) STEP(15)

int main(int argc, char **argv)
{
	step_fn t[16] = { step0, step1, step2, step3, step4, step5, step6, step7,
			  step8, step9, step10, step11, step12, step13, step14, step15 };
	for (int i = 0; i < 16; i++)
		table[i] = t[i];
	long n = argc > 1 ? atol(argv[1]) : 1000;
	int depth = argc > 2 ? atoi(argv[2]) : 20;
	long sum = 0;
	for (long i = 0; i < n; i++)
		sum += table[0](depth > 20 ? 0 : (unsigned long)i, depth);
	printf("%ld\n", sum);
	return 0;
}
