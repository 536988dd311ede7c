/* leaks.h - the heap in use at exit, per stack, after LeakSanitizer-style
 * suppressions: the one computation behind memprof leaks and memprof run
 * --fail-on-leak, and its LeakSanitizer-like report.
 *
 * "Leak" here means in use at exit: a block still allocated when the
 * process ended, reachable or not (memprof does not scan memory for
 * pointers, as LeakSanitizer does). The figures are the profile's
 * inuse_space and inuse_objects: exact at period 1, estimates otherwise. */
#ifndef MEMPROF_LEAKS_H
#define MEMPROF_LEAKS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct profile;
struct profile_sample;

/* The exit status of a failed gate: LeakSanitizer's default exitcode too. */
#define LEAKS_EXIT_STATUS 23

/* Where a suppressions file went wrong: "supp.txt:3: expected ..." is
 * printed from it as "<file>:<line>: <msg>" (line 0: the file itself). */
struct leak_error {
	unsigned line;
	char msg[200];
};

/* An ordered list of leak:PATTERN suppressions. Opaque. */
struct leak_suppressions;

/* Returns an empty list, or NULL when out of memory. */
struct leak_suppressions *leak_suppressions_new(void);
void leak_suppressions_free(struct leak_suppressions *s);

/* Adds the patterns of text[0..len) in LeakSanitizer's format: one
 * "leak:PATTERN" a line, blank lines and lines starting with '#' ignored,
 * spaces, tabs and a CR around them trimmed. source names the text in the
 * report ("default" for memprof's own; a file name otherwise) and is
 * copied. Returns 0; -EINVAL with err filled (nothing is added then) when a
 * line is not "leak:PATTERN" or its pattern is empty; -ENOMEM. */
int leak_suppressions_parse(struct leak_suppressions *s, const char *source, const char *text,
			    size_t len, struct leak_error *err);

/* Reads the file at path and parses it as above (source: path). Returns 0,
 * -EINVAL (err filled), or the negative errno of a failed read (err->line
 * 0 and err->msg the reason). */
int leak_suppressions_read(struct leak_suppressions *s, const char *path, struct leak_error *err);

/* Adds memprof's default suppressions (leak_default_suppressions). Returns
 * 0 or -ENOMEM. */
int leak_suppressions_add_defaults(struct leak_suppressions *s);

/* The default suppressions, as a suppressions file (comments say what each
 * one is for). */
extern const char leak_default_suppressions[];

/* LeakSanitizer's pattern rule: pattern occurs in str as a substring; '*'
 * stands for any run of characters, a leading '^' anchors the pattern at
 * the start of str and a '$' at its end (LeakSanitizer ignores whatever
 * follows a '$'; so does this). An empty str matches nothing. Unlike
 * LeakSanitizer's leftmost search, "foo$" matches "foofoo". */
bool leak_pattern_match(const char *pattern, const char *str);

/* One stack with blocks in use: the samples sharing its locations merged. */
struct leak_stack {
	const struct profile_sample *sample;	/* the first of them: its locations */
	int64_t bytes, objects;			/* objects: -1 when the profile has none */
	size_t first;				/* index of that sample in the profile */
};

/* How much one suppression took. */
struct leak_suppression_use {
	const char *pattern, *source;
	unsigned line;
	size_t stacks;
	int64_t bytes, objects;
};

struct leak_report {
	struct leak_stack *stack;	/* not suppressed, largest first */
	size_t n_stack;
	int64_t bytes, objects;		/* their sums: what the gate compares */
	struct leak_suppression_use *used;	/* the suppressions that took something */
	size_t n_used;
	int64_t suppressed_bytes, suppressed_objects;
	size_t suppressed_stacks;
	int64_t period;			/* the profile's: > 1 means estimates */
	bool has_objects;		/* the profile has inuse_objects */
	bool at_exit;			/* written by memprof: in use at exit */
};

/* Finds the stacks of p with blocks in use (inuse_space, and inuse_objects
 * when present, found by name), merges samples with the same stack,
 * removes those a suppression in s (may be NULL) matches in any frame -
 * a function name (short or system name), a source file name, or a
 * mapping's file name - and sorts the rest largest first. The report
 * points into p: it lives no longer than p. Returns 0; -ENOENT when p has
 * no inuse_space sample type; -ENOMEM. */
int leaks_find(const struct profile *p, const struct leak_suppressions *s,
	       struct leak_report *r);

/* The gate: whether what the report leaves exceeds limit bytes. */
bool leaks_over(const struct leak_report *r, uint64_t limit);

void leak_report_release(struct leak_report *r);

struct leak_print_options {
	size_t max_stacks;	/* 0: all */
	size_t max_frames;	/* per stack; 0: all */
	bool brief;		/* no banner, no suppression table, no summary */
};

/* Prints the report as LeakSanitizer does: a header saying what "in use at
 * exit" means and whether the figures are estimates, then per stack
 * "In use at exit: N byte(s) in M object(s) allocated from:" and one
 * "    #K 0xADDR in FUNCTION FILE:LINE" per frame (inlined frames each
 * their own, at the same address), the suppressions used, and a SUMMARY
 * line. */
void leak_report_print(FILE *out, const struct leak_report *r, const struct leak_print_options *o);

#endif
