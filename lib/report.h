/* report.h - pprof's text reports: top, list, tree, peek, traces and tags. */
#ifndef MEMPROF_REPORT_H
#define MEMPROF_REPORT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

struct profile;
struct profile_label_units;

struct report_options {
	int sample_index;		/* which value (see profile_sample_index) */
	const char *unit;		/* output unit, "minimum" to choose */
	/* top and tree (peek is run with 0 for all three) */
	int node_count;			/* nodes to show, 0 for all */
	bool cum_sort;			/* order by cum instead of flat */
	double node_fraction;		/* drop nodes with cum under this share */
	double edge_fraction;		/* calls under this share are not shown
					 * (tree) nor make a node "(inline)" (top) */
	unsigned granularity;		/* all but list: enum graph_granularity */
	bool noinlines;			/* a location's outermost frame only */
	const char *source_path;	/* where to look for sources, NULL = cwd */
	const char *trim_path;		/* prefixes to strip from file names */
	/* the total that percentages are of, when has_total; else the
	 * profile's own (profile_total): pprof takes it before filtering */
	bool has_total;
	int64_t total;
	/* top, tree, peek: what pprof prints under "Active filters:"
	 * ("focus=main") */
	char *const *active_filters;
	size_t n_active_filters;
	/* traces, tags: the units of numeric labels (pprof takes them before
	 * filtering); NULL to take them from the profile reported */
	const struct profile_label_units *label_units;
};

#define REPORT_OPTIONS_INIT { .unit = "minimum", .node_count = 10, .node_fraction = 0.005, \
			      .edge_fraction = 0.001 }

/* Prints pprof's top report for p to out. Returns 0, or a negative errno
 * when out of memory. */
int report_top(FILE *out, const struct profile *p, const struct report_options *o);

/* Prints p's samples as folded stacks, the text flamegraph.pl, inferno and
 * speedscope read: "root;caller;leaf VALUE" per line, VALUE the sum of the
 * value at o->sample_index (in the sample type's unit) over the samples with
 * that stack. Frames are named as top names them, inlined frames on their
 * own (below their caller); ';' in a name is written ':' and control
 * characters '?'. Lines are in byte order of the stack; stacks summing to
 * zero and samples without a stack are left out; values may be negative
 * (after profile_subtract). Returns 0, or a negative errno when out of
 * memory. */
int report_folded(FILE *out, const struct profile *p, const struct report_options *o);

/* Prints pprof's list report for the functions whose names match the
 * regex (RE2's dialect, lib/regex.h). Returns 0; -EINVAL when the regex
 * does not compile or matches nothing (with a message in msg); another
 * negative errno on error. */
int report_list(FILE *out, const struct profile *p, const char *regex,
		const struct report_options *o, char *msg, size_t msg_size);

/* report_list for the functions named exactly names[0..n) (no regex, no
 * "Total:" line): the blocks of names[i] go to outs[i]; a name with no
 * value in the sample type prints nothing. Returns 0 or a negative errno. */
int report_list_functions(FILE *const *outs, const struct profile *p, const char *const *names,
			  size_t n, const struct report_options *o);

/* Prints pprof's tree report for p to out: each node of the graph top
 * shows (top's options; pprof's default -nodecount for tree is 80) with
 * its callers above and its callees below. With regex (RE2's dialect),
 * only the nodes whose names match: pprof's peek (which pprof runs without
 * trimming: node_count and the fractions 0). Returns 0; -EINVAL when the
 * regex does not compile or matches nothing (with a message in msg, and
 * nothing printed); -ENOMEM. */
int report_tree(FILE *out, const struct profile *p, const char *regex,
		const struct report_options *o, char *msg, size_t msg_size);

/* Prints pprof's traces report: every sample with a stack, in the
 * profile's order, with its labels, its value at o->sample_index and its
 * frames (leaf first, named as top names them at o->granularity, file
 * names untrimmed). pprof prints the samples of its merged profile:
 * give p merged (profile_merge). Returns 0 or -ENOMEM. */
int report_traces(FILE *out, const struct profile *p, const struct report_options *o);

/* Prints pprof's tags report: for each label key, the values seen with
 * the sum of the samples' values for each, aligned as pprof aligns them
 * (Go's text/tabwriter). Returns 0 or -ENOMEM. */
int report_tags(FILE *out, const struct profile *p, const struct report_options *o);

#endif
