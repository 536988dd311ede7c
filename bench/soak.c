/* soak.c - soak [SECONDS] [THREADS]: THREADS threads allocate and free
 * through a fixed set of call sites for SECONDS, each keeping a live set of
 * 4096 blocks; every 30 s the main thread prints the operations done in
 * that interval, so a slowdown over time shows. */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <unistd.h>

static volatile int stop;
static uint64_t ops[64];

__attribute__((noinline)) static void *site_a(size_t n) { void *p = malloc(n); return p; }
__attribute__((noinline)) static void *site_b(size_t n) { void *p = calloc(1, n); return p; }
__attribute__((noinline)) static void *site_c(void *old, size_t n) { return realloc(old, n); }

static void *worker(void *arg)
{
	int id = (int)(intptr_t)arg;
	void *live[4096] = { 0 };
	uint64_t x = 0x9e3779b97f4a7c15ULL * (uint64_t)(id + 1), n = 0;
	while (!stop) {
		for (int k = 0; k < 1024; k++) {
			x ^= x << 13;
			x ^= x >> 7;
			x ^= x << 17;
			size_t at = x % 4096, size = 16 + (x >> 32) % 2048;
			switch ((x >> 16) % 3) {
			case 0: free(live[at]); live[at] = site_a(size); break;
			case 1: free(live[at]); live[at] = site_b(size); break;
			default: live[at] = site_c(live[at], size); break;
			}
			((char *)live[at])[0] = 1;
		}
		n += 1024;
		__atomic_store_n(&ops[id], n, __ATOMIC_RELAXED);
	}
	for (int i = 0; i < 4096; i++)
		free(live[i]);
	return NULL;
}

int main(int argc, char **argv)
{
	int seconds = argc > 1 ? atoi(argv[1]) : 600, threads = argc > 2 ? atoi(argv[2]) : 8;
	pthread_t t[64];
	if (threads < 1 || threads > 64)
		return 2;
	for (int i = 0; i < threads; i++)
		pthread_create(&t[i], NULL, worker, (void *)(intptr_t)i);
	uint64_t last = 0;
	for (int s = 30; s <= seconds; s += 30) {
		sleep(30);
		uint64_t total = 0;
		for (int i = 0; i < threads; i++)
			total += __atomic_load_n(&ops[i], __ATOMIC_RELAXED);
		printf("t=%ds ops/s=%.0f\n", s, (double)(total - last) / 30);
		fflush(stdout);
		last = total;
	}
	stop = 1;
	for (int i = 0; i < threads; i++)
		pthread_join(t[i], NULL);
	return 0;
}
