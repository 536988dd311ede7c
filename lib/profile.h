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
	/* May be shared by many samples (profile_add_sample_shared): to
	 * change a sample's labels, give it a new array, as
	 * profile_set_label does, never write into this one. */
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
	const char *timeline_error;	/* why a malformed timeline was dropped, or NULL */

	struct arena arena;
	struct hashmap strings;		/* hash -> interned string, see profile_intern */
};

/* a + b, held at INT64_MAX / INT64_MIN instead of overflowing: for totals
 * that decide something (a leak gate), where a crafted profile must not
 * wrap a huge sum round to a small one */
static inline int64_t profile_add_sat(int64_t a, int64_t b)
{
	int64_t r;
	if (__builtin_add_overflow(a, b, &r))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return r;
}

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
/* The same with the labels given: label[0..n_label), in the profile's
 * arena, shared with the other samples that have the same labels (100k
 * samples of one process and size need one array, not 100k). */
struct profile_sample *profile_add_sample_shared(struct profile *p, size_t n_location,
						 struct profile_label *label, size_t n_label);
int profile_add_comment(struct profile *p, const char *comment);

/* Index of the sample type named name (pprof's rules: a number, a type
 * name, or "inuse_X" for a type "X"); empty or NULL means the default
 * (default_sample_type, else the last). Returns -1 when nothing matches. */
int profile_sample_index(const struct profile *p, const char *name);

/* ---- sums, merging and differences (google/pprof's profile/merge.go) ---- */

/* The label go tool pprof puts on a -diff_base profile's samples. */
#define PROFILE_DIFF_BASE_LABEL "pprof::base"

/* Whether s came from a diff base: it has the string label pprof::base=true. */
bool profile_sample_is_diff_base(const struct profile_sample *s);

/* pprof's report total for the value at index idx: the sum of the absolute
 * values of all samples or, when some samples came from a diff base, of
 * those samples only (so that percentages are of the base). */
int64_t profile_total(const struct profile *p, int idx);

/* Whether l is a numeric label (pprof's NumLabel): no string value, and a
 * number or a unit. */
bool profile_label_is_num(const struct profile_label *l);

/* pprof's NumLabelUnits: the unit of each numeric label key, the first one
 * its labels give; without any, "bytes" for alignment and request, else the
 * key itself. */
struct profile_label_units {
	struct profile_label_unit {
		const char *key, *unit;	/* the profile's strings */
	} *kv;
	size_t n, cap;
	struct hashmap index;	/* hash of the key, probed -> index in kv */
};

/* Fills u from p's samples (u is to be released either way). Returns 0 or
 * -ENOMEM. */
int profile_label_units_init(struct profile_label_units *u, const struct profile *p);

/* key's unit, or NULL when no numeric label has that key. O(1): a crafted
 * profile may have as many keys as labels. */
const char *profile_label_units_find(const struct profile_label_units *u, const char *key);

void profile_label_units_release(struct profile_label_units *u);

/* pprof's Profile.Scale: multiplies every value by ratio (rounded half away
 * from zero) and drops the samples left all zero. */
void profile_scale(struct profile *p, double ratio);

/* pprof's Profile.SetLabel: gives every sample the string label key=value,
 * replacing its other string values for key. Returns 0 or -ENOMEM. */
int profile_set_label(struct profile *p, const char *key, const char *value);

/* Whether base can be merged with p as go tool pprof merges profiles:
 * the same period type and the same sample types in the same order (names
 * equal, units equal or of one kind such as bytes and kilobytes, which the
 * merge converts to the finer). Returns 0, or -EINVAL with one line in msg
 * saying what differs ("the profile" is p, "the base" is base). */
int profile_compatible(const struct profile *p, const struct profile *base, char *msg,
		       size_t msg_size);

/* pprof's Merge (after measurement.ScaleProfiles): a new profile holding
 * the n sources' samples, those with the same stack and labels added
 * together and those left all zero dropped; mappings, locations and
 * functions shared by content; headers combined (earliest time, summed
 * durations, largest period, comments of all, mapping[0] from the first
 * that has one). The sources are not changed. Returns 0 and the profile
 * in *out (the caller frees it), -EINVAL with a message in msg when the
 * sources are not compatible, or -ENOMEM. */
int profile_merge(struct profile **out, const struct profile *const *srcs, size_t n, char *msg,
		  size_t msg_size);

/* profile_merge as go tool pprof merges the profiles named on its command
 * line: its fetch first gives a source without mappings one mapping (no
 * file) for all its locations. */
int profile_merge_sources(struct profile **out, const struct profile *const *srcs, size_t n,
			  char *msg, size_t msg_size);

enum profile_base_mode {
	PROFILE_BASE,		/* pprof's -base: subtract, report the remainder */
	PROFILE_DIFF_BASE,	/* pprof's -diff_base: the same, with the base's
				 * samples labelled so that totals and
				 * percentages are the base's (profile_total) */
};

/* go tool pprof's -base / -diff_base: replaces p by p merged with the
 * n_base >= 1 bases (themselves merged first) with the bases' values negated. What is
 * left is p's value minus the bases' for each stack; with
 * PROFILE_DIFF_BASE the bases' samples stay apart (labelled) and carry
 * the negative values. Returns 0; -EINVAL with one line in msg when a base
 * is not compatible with p (see profile_compatible); -ENOMEM. p is
 * unchanged on failure; the bases never are. */
int profile_subtract(struct profile *p, const struct profile *const *bases, size_t n_base,
		     enum profile_base_mode mode, char *msg, size_t msg_size);

#endif
