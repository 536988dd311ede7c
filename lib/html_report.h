/* html_report.h - memprof report: a profile as one self-contained HTML page
 * (summary, heap over time, flame graphs, top table, source listings), the
 * data embedded as JSON in a template compiled into memprof. */
#ifndef MEMPROF_HTML_REPORT_H
#define MEMPROF_HTML_REPORT_H

#include <stdbool.h>
#include <stddef.h>

struct leak_suppressions;
struct profile;
struct timeline;

struct html_report_options {
	const char *title;		/* shown as the page's title: the profile's name */
	const char *generator;		/* "memprof 0.1.0", in the footer */
	int sample_index;		/* the sample type shown first */
	/* --base or --diff-base profile, or NULL: the page compares with it
	 * as memprof top --base / --diff-base does (lib/profile.c's
	 * profile_subtract), and refuses it on the same grounds */
	const struct profile *base;
	const char *base_title;		/* its name */
	bool diff_base;			/* base came as --diff-base: percentages of the base */
	const struct timeline *timeline;	/* the heap over time, or NULL */
	/* Leaks in the summary: in use at exit after these suppressions
	 * (NULL: none), as memprof leaks finds them; desc says which they
	 * are, for the page. */
	bool leaks;
	const struct leak_suppressions *suppressions;
	const char *suppressions_desc;
	/* Flame graph: frames whose share is under min_frame in every sample
	 * type are merged, with their callees, into one "[other]" frame per
	 * caller; if more than max_frames remain, min_frame doubles until they
	 * fit. Stacks deeper than max_depth stop there. */
	double min_frame;
	size_t max_frames;
	size_t max_depth;
	size_t top_rows;		/* top table: rows per sample type and order */
	size_t list_functions;		/* functions whose source listing is embedded */
	size_t list_bytes;		/* of listing per function and sample type */
	const char *source_path;	/* where list looks for sources (NULL: cwd) */
	const char *trim_path;
};

#define HTML_REPORT_OPTIONS_INIT { \
	.title = "", .generator = "memprof", .min_frame = 0.0001, .max_frames = 100000, \
	.max_depth = 1024, .top_rows = 500, .list_functions = 30, .list_bytes = 16384 }

/* What went into the page, for the command's summary line. */
struct html_report_stats {
	size_t frames;			/* flame graph nodes */
	double min_frame;		/* the share under which frames became "[other]" */
	bool depth_cut;			/* some stack was deeper than max_depth */
	size_t functions, top_rows;	/* functions in the profile, rows embedded */
	size_t lists;			/* functions whose source listing is embedded */
};

/* Builds the page for p. Returns 0 with a malloc'd page in *out (*len
 * bytes, the caller frees it) and, if stats is not NULL, what it holds;
 * -EINVAL with a reason in msg (profile_compatible's) when the base cannot
 * be compared with p; another negative errno (-ENOMEM) otherwise. */
int html_report_build(const struct profile *p, const struct html_report_options *o, char **out,
		      size_t *len, struct html_report_stats *stats, char *msg, size_t msglen);

#endif
