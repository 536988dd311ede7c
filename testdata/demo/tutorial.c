/* tutorial.c - the C version of the Go heap-profiling tutorial program:
 * generate_data_structures builds 800000 small maps of five entries each
 * and keeps them alive, so they show in both alloc_space and inuse_space.
 * `make demo` profiles it with memprof run --rate 2048. */
#include <stdio.h>
#include <stdlib.h>

struct entry {
	int key, value;
	struct entry *next;
};

struct map {
	size_t n_buckets, count;
	struct entry **buckets;
};

static struct map *map_new(size_t n_buckets)
{
	struct map *m = malloc(sizeof(*m));
	m->n_buckets = n_buckets;
	m->count = 0;
	m->buckets = calloc(n_buckets, sizeof(*m->buckets));
	return m;
}

static void map_put(struct map *m, int key, int value)
{
	struct entry *e = malloc(sizeof(*e));
	size_t b = (size_t)key % m->n_buckets;
	e->key = key;
	e->value = value;
	e->next = m->buckets[b];
	m->buckets[b] = e;
	m->count++;
}

static struct map **maps;

__attribute__((noinline)) void generate_data_structures(int n)
{
	maps = malloc((size_t)n * sizeof(*maps));
	for (int i = 0; i < n; i++) {
		struct map *m = map_new(8);
		for (int j = 0; j < 5; j++)
			map_put(m, j, i * j);
		maps[i] = m;
	}
}

__attribute__((noinline)) long sum_values(int n)
{
	long sum = 0;
	for (int i = 0; i < n; i++)
		for (size_t b = 0; b < maps[i]->n_buckets; b++)
			for (struct entry *e = maps[i]->buckets[b]; e; e = e->next)
				sum += e->value;
	return sum;
}

int main(int argc, char **argv)
{
	int n = argc > 1 ? atoi(argv[1]) : 800000;
	generate_data_structures(n);
	printf("%d maps, sum of values %ld\n", n, sum_values(n));
	return 0;
}
