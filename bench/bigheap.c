/* bigheap.c - a large live heap: bigheap [GIB] allocates GIB (default 2)
 * GiB in blocks of 4-64 KiB, writes to every page, keeps it all live, then
 * replaces a quarter of the blocks and frees everything. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	double gib = argc > 1 ? atof(argv[1]) : 2;
	size_t total = (size_t)(gib * (1 << 30)), used = 0, n = 0, cap = 1 << 20;
	char **blocks = malloc(cap * sizeof(*blocks));
	unsigned x = 12345;
	while (used < total && n < cap) {
		x = x * 1103515245 + 12345;
		size_t size = 4096 + (x >> 8) % (60 * 1024);
		blocks[n] = malloc(size);
		for (size_t i = 0; i < size; i += 4096)
			blocks[n][i] = (char)i;
		used += size;
		n++;
	}
	for (size_t i = 0; i < n; i += 4) {
		free(blocks[i]);
		blocks[i] = malloc(8192);
		memset(blocks[i], 1, 8192);
	}
	long sum = 0;
	for (size_t i = 0; i < n; i++) {
		sum += blocks[i][0];
		free(blocks[i]);
	}
	free(blocks);
	printf("%zu blocks, %ld\n", n, sum);
	return 0;
}
