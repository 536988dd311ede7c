/* profile.h - the in-memory profile model: pprof's Profile with string
 * indices resolved to strings and ids resolved to pointers. Built by the
 * pprof reader and by the collector; read by the reports and the writer. */
#ifndef MEMPROF_PROFILE_H
#define MEMPROF_PROFILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "hashmap.h"
#include "timeline.h"

/* All strings are NUL-terminated, never NULL ("" when absent), and owned by
 * the profile's arena, as is every object below. */

struct profile_value_type {
	const char *type;
	const char *unit;
};

struct profile_mapping {
	uint64_t id;
	uint64_t memory_start, memory_limit, file_offset;
	const char *filename;
	const char *build_id;
	bool has_functions, has_filenames, has_line_numbers, has_inline_frames;
};

struct profile_function {
	uint64_t id;
	const char *name;
	const char *system_name;
	const char *filename;
	int64_t start_line;
};

struct profile_line {
	struct profile_function *function;	/* NULL when unknown */
	int64_t line;
	int64_t column;
};

struct profile_location {
	uint64_t id;
	struct profile_mapping *mapping;	/* NULL when unknown */
	uint64_t address;
	size_t n_line;
	struct profile_line *line;		/* inlined frames first, caller last */
	bool is_folded;
	uint32_t index;				/* position in profile.location */
};

struct profile_label {
	const char *key;
	const char *str;	/* "" for a numeric label */
	int64_t num;
	const char *num_unit;
};

struct profile_sample {
	size_t n_location;
	struct profile_location **location;	/* leaf first */
	int64_t *value;				/* profile.n_sample_type of them */
	size_t n_label;
	struct profile_label *label;
};

struct profile {
	size_t n_sample_type;
	struct profile_value_type *sample_type;
	size_t n_sample, cap_sample;
	struct profile_sample *sample;
	size_t n_mapping, cap_mapping;
	struct profile_mapping **mapping;	/* mapping[0]: the main executable */
	size_t n_location, cap_location;
	struct profile_location **location;
	size_t n_function, cap_function;
	struct profile_function **function;
	size_t n_comment, cap_comment;
	const char **comment;
	const char *drop_frames, *keep_frames;
	int64_t time_nanos, duration_nanos;
	struct profile_value_type period_type;
	int64_t period;
	const char *default_sample_type;
	/* memprof's heap over time (lib/timeline.h), in the arena; NULL when
	 * the profile has none (Go's profiles, recordings converted later) */
	struct timeline *timeline;

	struct arena arena;
	struct hashmap strings;		/* hash -> interned string, see profile_intern */
};

/* Returns an empty profile, or NULL when out of memory. */
struct profile *profile_new(void);

/* Frees the profile and everything it owns. NULL is allowed. */
void profile_free(struct profile *p);

/* Returns a copy of s[0..len) owned by the profile; equal strings share one
 * copy. NULL when out of memory. */
const char *profile_intern_n(struct profile *p, const char *s, size_t len);
const char *profile_intern(struct profile *p, const char *s);

/* Set the sample types (n of them, type and unit strings interned). */
int profile_set_sample_types(struct profile *p, size_t n, const char *const *types,
			     const char *const *units);

/* Each adder appends a zeroed object with the given id (strings set to "")
 * and returns it, or NULL when out of memory. */
struct profile_mapping *profile_add_mapping(struct profile *p, uint64_t id);
struct profile_function *profile_add_function(struct profile *p, uint64_t id);
struct profile_location *profile_add_location(struct profile *p, uint64_t id, size_t n_line);
/* The sample's value array has n_sample_type zeroes; its location array
 * holds n_location NULLs to fill in. Valid until the next profile_add_sample. */
struct profile_sample *profile_add_sample(struct profile *p, size_t n_location, size_t n_label);
int profile_add_comment(struct profile *p, const char *comment);

/* Index of the sample type named name (pprof's rules: a number, a type
 * name, or "inuse_X" for a type "X"); empty or NULL means the default
 * (default_sample_type, else the last). Returns -1 when nothing matches. */
int profile_sample_index(const struct profile *p, const char *name);

#endif
