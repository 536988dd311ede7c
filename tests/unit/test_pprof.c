/* test_pprof.c - the codec: round trips, validation, damaged input. */
#include <stdint.h>
#include <stdlib.h>

#include "harness.h"
#include "lib/pprof.h"
#include "lib/profile.h"

#ifndef SRCDIR
#define SRCDIR "."
#endif

static int str_eq(const char *a, const char *b)
{
	return strcmp(a, b) == 0;
}

/* Deep equality of two models, object by object (ids, strings, links). */
static int profile_equal(const struct profile *a, const struct profile *b)
{
	if (a->n_sample_type != b->n_sample_type || a->n_sample != b->n_sample ||
	    a->n_mapping != b->n_mapping || a->n_location != b->n_location ||
	    a->n_function != b->n_function || a->n_comment != b->n_comment ||
	    a->time_nanos != b->time_nanos || a->duration_nanos != b->duration_nanos ||
	    a->period != b->period || !str_eq(a->period_type.type, b->period_type.type) ||
	    !str_eq(a->period_type.unit, b->period_type.unit) ||
	    !str_eq(a->default_sample_type, b->default_sample_type) ||
	    !str_eq(a->drop_frames, b->drop_frames) || !str_eq(a->keep_frames, b->keep_frames))
		return 0;
	for (size_t i = 0; i < a->n_sample_type; i++)
		if (!str_eq(a->sample_type[i].type, b->sample_type[i].type) ||
		    !str_eq(a->sample_type[i].unit, b->sample_type[i].unit))
			return 0;
	for (size_t i = 0; i < a->n_comment; i++)
		if (!str_eq(a->comment[i], b->comment[i]))
			return 0;
	for (size_t i = 0; i < a->n_mapping; i++) {
		const struct profile_mapping *x = a->mapping[i], *y = b->mapping[i];
		if (x->id != y->id || x->memory_start != y->memory_start ||
		    x->memory_limit != y->memory_limit || x->file_offset != y->file_offset ||
		    !str_eq(x->filename, y->filename) || !str_eq(x->build_id, y->build_id) ||
		    x->has_functions != y->has_functions || x->has_filenames != y->has_filenames ||
		    x->has_line_numbers != y->has_line_numbers ||
		    x->has_inline_frames != y->has_inline_frames)
			return 0;
	}
	for (size_t i = 0; i < a->n_function; i++) {
		const struct profile_function *x = a->function[i], *y = b->function[i];
		if (x->id != y->id || !str_eq(x->name, y->name) ||
		    !str_eq(x->system_name, y->system_name) || !str_eq(x->filename, y->filename) ||
		    x->start_line != y->start_line)
			return 0;
	}
	for (size_t i = 0; i < a->n_location; i++) {
		const struct profile_location *x = a->location[i], *y = b->location[i];
		if (x->id != y->id || x->address != y->address || x->n_line != y->n_line ||
		    x->is_folded != y->is_folded || !x->mapping != !y->mapping ||
		    (x->mapping && x->mapping->id != y->mapping->id))
			return 0;
		for (size_t j = 0; j < x->n_line; j++)
			if (x->line[j].line != y->line[j].line ||
			    !x->line[j].function != !y->line[j].function ||
			    (x->line[j].function &&
			     x->line[j].function->id != y->line[j].function->id))
				return 0;
	}
	for (size_t i = 0; i < a->n_sample; i++) {
		const struct profile_sample *x = &a->sample[i], *y = &b->sample[i];
		if (x->n_location != y->n_location || x->n_label != y->n_label ||
		    memcmp(x->value, y->value, a->n_sample_type * sizeof(int64_t)))
			return 0;
		for (size_t j = 0; j < x->n_location; j++)
			if (x->location[j]->id != y->location[j]->id)
				return 0;
		for (size_t j = 0; j < x->n_label; j++)
			if (!str_eq(x->label[j].key, y->label[j].key) ||
			    !str_eq(x->label[j].str, y->label[j].str) ||
			    x->label[j].num != y->label[j].num ||
			    !str_eq(x->label[j].num_unit, y->label[j].num_unit))
				return 0;
	}
	return 1;
}

static void roundtrip_file(const char *path)
{
	struct pprof_error err;
	struct profile *a = pprof_read(path, &err);
	CHECK(a != NULL);
	if (!a) {
		fprintf(stderr, "    %s: %s\n", path, err.msg);
		return;
	}
	CHECK(a->n_sample > 0);
	for (int gz = 0; gz <= 1; gz++) {
		uint8_t *buf;
		size_t len;
		CHECK(pprof_encode(a, gz, &buf, &len) == 0);
		CHECK(gz == (len > 2 && buf[0] == 0x1f && buf[1] == 0x8b));
		struct profile *b = pprof_decode(buf, len, &err);
		CHECK(b != NULL);
		if (b)
			CHECK(profile_equal(a, b));
		profile_free(b);
		free(buf);
	}
	profile_free(a);
}

static void test_roundtrip_go_profiles(void)
{
	roundtrip_file(SRCDIR "/testdata/goprof/heap.pb.gz");
	roundtrip_file(SRCDIR "/testdata/goprof/allocs.pb.gz");
	roundtrip_file(SRCDIR "/testdata/goprof/cpu.pb.gz");
}

/* A profile made with the builder API survives encode and decode. */
static void test_roundtrip_built(void)
{
	struct profile *p = profile_new();
	const char *types[] = { "alloc_objects", "alloc_space" }, *units[] = { "count", "bytes" };
	CHECK(profile_set_sample_types(p, 2, types, units) == 0);
	struct profile_mapping *m = profile_add_mapping(p, 1);
	m->filename = profile_intern(p, "/usr/bin/app");
	m->build_id = profile_intern(p, "abcdef");
	m->has_functions = true;
	struct profile_function *f = profile_add_function(p, 1);
	f->name = profile_intern(p, "main");
	f->system_name = profile_intern(p, "_Z4mainv");
	f->filename = profile_intern(p, "main.c");
	f->start_line = 3;
	struct profile_location *l = profile_add_location(p, 5, 2);
	l->mapping = m;
	l->address = 0x401000;
	l->line[0].function = f;
	l->line[0].line = 7;
	l->line[1].function = f;
	l->line[1].line = 9;
	struct profile_sample *s = profile_add_sample(p, 1, 1);
	s->location[0] = l;
	s->value[0] = 3;
	s->value[1] = -300;
	s->label[0].key = profile_intern(p, "bytes");
	s->label[0].num = 100;
	CHECK(profile_add_comment(p, "memprof test") == 0);
	p->default_sample_type = profile_intern(p, "alloc_space");
	p->period = 524288;
	p->period_type.type = profile_intern(p, "space");
	p->period_type.unit = profile_intern(p, "bytes");
	p->time_nanos = 1764000000000000000LL;

	uint8_t *buf;
	size_t len;
	struct pprof_error err;
	CHECK(pprof_encode(p, 1, &buf, &len) == 0);
	struct profile *q = pprof_decode(buf, len, &err);
	CHECK(q && profile_equal(p, q));
	CHECK(q && profile_sample_index(q, NULL) == 1);
	CHECK(q && profile_sample_index(q, "0") == 0);
	CHECK(q && profile_sample_index(q, "alloc_objects") == 0);
	CHECK(q && profile_sample_index(q, "inuse_space") == -1);
	CHECK(q && profile_sample_index(q, "2") == -1);
	profile_free(q);
	free(buf);
	profile_free(p);
}

static void expect_error(const void *data, size_t len, const char *want)
{
	struct pprof_error err = { "" };
	struct profile *p = pprof_decode(data, len, &err);
	CHECK(p == NULL);
	if (!strstr(err.msg, want)) {
		fprintf(stderr, "    got \"%s\", want it to contain \"%s\"\n", err.msg, want);
		harness_failures++;
	}
	profile_free(p);
}

static void test_errors(void)
{
	expect_error("", 0, "empty file");
	expect_error("\x1f\x8b", 2, "truncated gzip");
	expect_error("\x32\x00\x48", 3, "truncated protobuf");
	expect_error("\x32\x00\x08\x01", 4, "sample_type has wire type varint");
	expect_error("\x32\x01x", 3, "string_table[0] is not empty");
	expect_error("\x0a\x02\x08\x05\x32\x00", 6, "string index 5 out of range");
	expect_error("\x12\x01", 2, "claims 1 bytes");
	expect_error("\x32\x00\x12\x00\x0a\x00", 6, "sample[0] has 0 values for 1 sample types");
	expect_error("\x32\x00\x1a\x00", 4, "mapping[0] has id 0");
	expect_error("\x32\x00\x12\x03\x0a\x01\x07", 7, "location id 7");
	expect_error("hello, world\n", 13, "looks like text");
}

/* Every prefix and every single-bit flip of a valid profile decodes or fails
 * cleanly (ASan/valgrind runs of this test catch what a crash would not). */
static void test_damage(void)
{
	FILE *f = fopen(SRCDIR "/testdata/goprof/heap.pb.gz", "rb");
	CHECK(f != NULL);
	if (!f)
		return;
	static uint8_t gz[1 << 16];
	size_t n = fread(gz, 1, sizeof(gz), f);
	fclose(f);
	struct pprof_error err;
	struct profile *p = pprof_decode(gz, n, &err);
	uint8_t *raw;
	size_t len;
	CHECK(p && pprof_encode(p, 0, &raw, &len) == 0);
	profile_free(p);
	if (!p)
		return;
	int ok = 0, failed = 0;
	for (size_t cut = 0; cut < len; cut += 1 + cut / 64) {
		struct profile *q = pprof_decode(raw, cut, &err);
		q ? ok++ : failed++;
		profile_free(q);
	}
	for (size_t i = 0; i < len; i += 7) {
		raw[i] ^= (uint8_t)(1u << (i % 8));
		struct profile *q = pprof_decode(raw, len, &err);
		q ? ok++ : failed++;
		profile_free(q);
		raw[i] ^= (uint8_t)(1u << (i % 8));
	}
	CHECK(failed > 0);
	free(raw);
}

const struct unit_test pprof_tests[] = {
	{ "pprof: Go profiles survive read, write, read", test_roundtrip_go_profiles },
	{ "pprof: a built profile survives encode and decode", test_roundtrip_built },
	{ "pprof: each broken rule gets its message", test_errors },
	{ "pprof: truncated and bit-flipped input fails cleanly", test_damage },
	{ NULL, NULL },
};
