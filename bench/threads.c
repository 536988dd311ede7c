/* threads.c - threads [N [seq]]: N threads (5000) alive at once, each with
 * a 64 KiB stack and one block allocated; they wait for each other, then
 * free and end. With "seq", one thread at a time instead (created, allocates
 * and frees a block, joined). What a thread's first sample costs in time
 * and memory (docs/benchmarks.md). */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_barrier_t bar;
static int together;

static void *run(void *a)
{
	void *volatile p = malloc(64);
	if (together)
		pthread_barrier_wait(&bar);
	free(p);
	return a;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 5000;
	together = !(argc > 2 && !strcmp(argv[2], "seq"));
	if (n < 1)
		return 2;
	pthread_t *t = calloc((size_t)n, sizeof(*t));
	pthread_attr_t at;
	pthread_attr_init(&at);
	pthread_attr_setstacksize(&at, 64 * 1024);
	if (together)
		pthread_barrier_init(&bar, NULL, (unsigned)n + 1);
	for (int i = 0; i < n; i++) {
		if (pthread_create(&t[i], &at, run, NULL)) {
			perror("pthread_create");
			return 1;
		}
		if (!together)
			pthread_join(t[i], NULL);
	}
	if (together) {
		pthread_barrier_wait(&bar);
		for (int i = 0; i < n; i++)
			pthread_join(t[i], NULL);
	}
	puts("done");
	return 0;
}
