/* churn.c - allocation churn: churn [THREADS] [MILLIONS]. Each thread
 * replaces random slots of a 20000-block working set with new blocks of
 * random small sizes (16..1024 bytes), one in 1000 large (64 KiB..1 MiB),
 * MILLIONS million times in all. Prints a checksum so nothing is elided. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SLOTS 20000

static long per_thread;

static void *run(void *arg)
{
	uint64_t x = 88172645463325252ULL ^ (uintptr_t)arg;
	char **slot = calloc(SLOTS, sizeof(*slot));
	uint64_t sum = 0;
	for (long i = 0; i < per_thread; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		size_t at = x % SLOTS;
		size_t size = 16 + (x >> 20) % 1009;
		if ((x >> 40) % 1000 == 0)
			size = 65536 + (x >> 24) % (1 << 20);
		free(slot[at]);
		slot[at] = malloc(size);
		slot[at][0] = (char)i;
		sum += (unsigned char)slot[at][0] + size;
	}
	for (size_t i = 0; i < SLOTS; i++)
		free(slot[i]);
	free(slot);
	return (void *)(uintptr_t)sum;
}

int main(int argc, char **argv)
{
	int threads = argc > 1 ? atoi(argv[1]) : 1;
	long millions = argc > 2 ? atol(argv[2]) : 10;
	if (threads < 1 || threads > 64 || millions < 1)
		return 2;
	per_thread = millions * 1000000 / threads;
	pthread_t t[64];
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, run, (void *)(uintptr_t)(i + 1));
	uint64_t sum = 0;
	for (int i = 0; i < threads; i++) {
		void *r;
		pthread_join(t[i], &r);
		sum += (uintptr_t)r;
	}
	printf("%llu\n", (unsigned long long)sum);
	return 0;
}
