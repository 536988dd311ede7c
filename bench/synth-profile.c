/* synth-profile.c - writes a synthetic heap profile for benchmarking the
 * readers: synth-profile SAMPLES LOCATIONS OUT [tree] (functions = LOCATIONS / 5,
 * stacks 4..19 frames deep, deterministic). Frames are drawn at random, so
 * that stacks share little but their root; with "tree", each frame is one
 * of 6 callees of the frame above it, as in a program's call tree. With
 * "raw MAPPINGS" instead, the locations are addresses only, location i in
 * mapping i % MAPPINGS (files that do not exist, build ids of their own),
 * as memprof run --no-symbolize writes them: memprof symbolize's input. */
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pprof.h"
#include "lib/profile.h"

static unsigned long long rng = 88172645463325252ULL;

static unsigned long long next(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return rng;
}

int main(int argc, char **argv)
{
	bool tree = argc == 5 && strcmp(argv[4], "tree") == 0;
	bool raw = argc == 6 && strcmp(argv[4], "raw") == 0;
	size_t n_maps = raw ? strtoul(argv[5], NULL, 10) : 1;
	if ((argc != 4 && !tree && !raw) || n_maps == 0) {
		fprintf(stderr, "usage: synth-profile SAMPLES LOCATIONS OUT [tree | raw MAPPINGS]\n");
		return 2;
	}
	size_t n_samples = strtoul(argv[1], NULL, 10), n_locs = strtoul(argv[2], NULL, 10);
	size_t n_funcs = n_locs / 5 ? n_locs / 5 : 1;
	struct profile *p = profile_new();
	const char *types[] = { "alloc_objects", "alloc_space", "inuse_objects", "inuse_space" };
	const char *units[] = { "count", "bytes", "count", "bytes" };
	profile_set_sample_types(p, 4, types, units);
	struct profile_mapping *m = profile_add_mapping(p, 1);
	m->filename = profile_intern(p, "/usr/bin/synthetic");
	m->has_functions = m->has_filenames = m->has_line_numbers = !raw;
	char name[64];
	for (size_t i = 1; i < n_maps; i++) {
		struct profile_mapping *mi = profile_add_mapping(p, i + 1);
		snprintf(name, sizeof(name), "/nonexistent/synthetic/lib%zu.so", i);
		mi->filename = profile_intern(p, name);
		snprintf(name, sizeof(name), "%040zx", 0xb1d000 + i);
		mi->build_id = profile_intern(p, name);
		mi->memory_start = 0x10000000 + i * 0x1000000;
		mi->memory_limit = mi->memory_start + 0x1000000;
	}
	struct profile_function **fs = malloc(n_funcs * sizeof(*fs));
	struct profile_location **ls = malloc(n_locs * sizeof(*ls));
	for (size_t i = 0; i < n_funcs; i++) {
		fs[i] = profile_add_function(p, i + 1);
		snprintf(name, sizeof(name), "module%zu::function_%zu", i % 97, i);
		fs[i]->name = profile_intern(p, name);
		snprintf(name, sizeof(name), "src/module%zu.c", i % 97);
		fs[i]->filename = profile_intern(p, name);
		fs[i]->start_line = 10;
	}
	for (size_t i = 0; i < n_locs; i++) {
		ls[i] = profile_add_location(p, i + 1, raw ? 0 : 1);
		if (raw) {
			ls[i]->mapping = p->mapping[i % n_maps];
			ls[i]->address = (i % n_maps ? ls[i]->mapping->memory_start : 0x400000) +
					 0x1000 + i / n_maps * 16;
			continue;
		}
		ls[i]->mapping = m;
		ls[i]->address = 0x400000 + i * 16;
		ls[i]->line[0].function = fs[i % n_funcs];
		ls[i]->line[0].line = 10 + (long)(i / n_funcs);
	}
	for (size_t i = 0; i < n_samples; i++) {
		size_t depth = 4 + next() % 16;
		struct profile_sample *s = profile_add_sample(p, depth, 0);
		size_t at = 0;	/* tree: the location above */
		for (size_t d = 0; d < depth && !tree; d++)
			s->location[d] = ls[(d == depth - 1) ? 0 : next() % n_locs];
		for (size_t d = depth; d-- > 0 && tree;) {
			at = d == depth - 1 ? 0 : (at * 6 + 1 + next() % 6) % n_locs;
			s->location[d] = ls[at];
		}
		s->value[0] = 1 + next() % 10;
		s->value[1] = s->value[0] * (16 + next() % 4096);
		s->value[2] = next() % 2 ? s->value[0] : 0;
		s->value[3] = s->value[2] ? s->value[1] : 0;
	}
	p->default_sample_type = profile_intern(p, "alloc_space");
	int rc = pprof_write(p, argv[3]);
	if (rc < 0)
		fprintf(stderr, "%s: %s\n", argv[3], strerror(-rc));
	free(fs);
	free(ls);
	profile_free(p);
	return rc < 0;
}
