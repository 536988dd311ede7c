/* test_graph.c - path cleaning and the hash map under the graph. */
#include <stdint.h>

#include "harness.h"
#include "lib/arena.h"
#include "lib/graph.h"
#include "lib/hashmap.h"

static void test_path_clean(void)
{
	/* cases from Go's path/filepath tests */
	static const char *cases[][2] = {
		{ "", "." }, { "abc", "abc" }, { "abc/def", "abc/def" }, { "a/b/c", "a/b/c" },
		{ ".", "." }, { "..", ".." }, { "../..", "../.." }, { "../../abc", "../../abc" },
		{ "/abc", "/abc" }, { "/", "/" }, { "abc/", "abc" }, { "/abc/", "/abc" },
		{ "abc//def//ghi", "abc/def/ghi" }, { "//abc", "/abc" }, { "abc/./def", "abc/def" },
		{ "/./abc/def", "/abc/def" }, { "abc/.", "abc" }, { "abc/def/ghi/../jkl", "abc/def/jkl" },
		{ "abc/def/..", "abc" }, { "abc/..", "." }, { "/abc/..", "/" }, { "/..", "/" },
		{ "abc/../..", ".." }, { "../abc/../..", "../.." }, { "/../abc", "/abc" },
	};
	struct arena a = ARENA_INIT;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		CHECK_STR(path_clean(&a, cases[i][0]), cases[i][1]);
	arena_release(&a);
}

static void test_hashmap(void)
{
	struct hashmap m = HASHMAP_INIT;
	bool inserted;
	for (uint64_t k = 0; k < 10000; k++) {
		uint64_t *v = hashmap_put(&m, k * 7919, &inserted);
		CHECK(v && inserted);
		*v = k;
	}
	CHECK(m.count == 10000);
	for (uint64_t k = 0; k < 10000; k++) {
		uint64_t *v = hashmap_get(&m, k * 7919);
		CHECK(v && *v == k);
	}
	CHECK(hashmap_get(&m, 1) == NULL);
	CHECK(hashmap_put(&m, 0, &inserted) && !inserted);
	for (uint64_t k = 0; k < 10000; k += 2)
		CHECK(hashmap_remove(&m, k * 7919));
	CHECK(!hashmap_remove(&m, 2 * 7919));
	CHECK(m.count == 5000);
	for (uint64_t k = 1; k < 10000; k += 2) {
		uint64_t *v = hashmap_get(&m, k * 7919);
		CHECK(v && *v == k);
	}
	CHECK(hashmap_get(&m, 4 * 7919) == NULL);
	hashmap_release(&m);
}

static void test_arena_limit(void)
{
	struct arena a = ARENA_INIT;
	a.limit = 100000;
	CHECK(arena_alloc(&a, 50000) != NULL);
	CHECK(arena_alloc(&a, 60000) == NULL);
	CHECK(arena_calloc(&a, SIZE_MAX / 2, 4) == NULL);
	arena_release(&a);
}

const struct unit_test graph_tests[] = {
	{ "graph: path_clean matches Go's filepath.Clean", test_path_clean },
	{ "graph: hash map insert and lookup", test_hashmap },
	{ "graph: arena honours its limit", test_arena_limit },
	{ NULL, NULL },
};
