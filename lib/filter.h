/* filter.h - go tool pprof's options that pick what a report shows:
 * -focus, -ignore, -hide, -show, -show_from, -tagfocus, -tagignore,
 * -tagshow, -taghide and -prune_from, applied to a profile as pprof's
 * driver applies them (internal/driver/driver_focus.go, profile/filter.go). */
#ifndef MEMPROF_FILTER_H
#define MEMPROF_FILTER_H

#include <stdbool.h>
#include <stddef.h>

struct profile;

/* Each option as given on the command line; NULL or "" when not given.
 * Regexes are RE2's (lib/regex.h). */
struct filter_options {
	const char *focus;	/* keep samples with a frame matching */
	const char *ignore;	/* drop samples with a frame matching */
	const char *hide;	/* drop matching frames from stacks */
	const char *show;	/* keep only matching frames in stacks */
	const char *show_from;	/* drop frames above the highest matching one */
	const char *tagfocus;	/* keep samples with a matching label */
	const char *tagignore;	/* drop samples with a matching label */
	const char *tagshow;	/* keep only labels whose key matches */
	const char *taghide;	/* drop labels whose key matches */
	const char *prune_from;	/* drop frames below the lowest matching one */
};

/* What filter_apply's *unmatched reports: the options that matched no
 * sample (pprof warns "Focus expression matched no samples"). */
enum {
	FILTER_FOCUS = 1 << 0,
	FILTER_IGNORE = 1 << 1,
	FILTER_HIDE = 1 << 2,
	FILTER_SHOW = 1 << 3,
	FILTER_SHOW_FROM = 1 << 4,
	FILTER_TAGFOCUS = 1 << 5,
	FILTER_TAGIGNORE = 1 << 6,
	FILTER_TAGSHOW = 1 << 7,
	FILTER_TAGHIDE = 1 << 8,
};

/* pprof's name for the option behind a FILTER_* bit ("Focus", "TagFocus"). */
const char *filter_option_name(unsigned bit);

/* Whether any option is set. */
bool filter_options_any(const struct filter_options *f);

/* The options set, as pprof lists them under "Active filters:" in a
 * report's header ("focus=REGEX", in pprof's order). Fills up to max
 * strings, each malloc'd and freed by the caller; returns how many. */
size_t filter_options_describe(const struct filter_options *f, char **out, size_t max);

struct filter;

/* Compiles the options (regexes, tag ranges such as bytes=1kB:64kB).
 * Returns the filter (free with filter_free), or NULL with one line in msg
 * naming the option at fault. */
struct filter *filter_new(const struct filter_options *f, char *msg, size_t msg_size);

/* Applies the filter to p in pprof's order: focus, ignore, hide and show;
 * show_from; tagfocus and tagignore; tagshow and taghide; prune_from.
 * Samples that are left without a frame are dropped, as pprof drops them
 * (it does even with no option set). Frames are taken off locations
 * (shared by every sample that has them) and locations off samples; p's
 * arrays shrink in place. Numeric tag ranges compare values in the units
 * the profile gives each label key (pprof's NumLabelUnits), as found in p
 * before any sample is dropped. *unmatched gets the FILTER_* bits of the
 * options that matched nothing. Returns 0, or a negative errno (-ENOMEM;
 * -E2BIG when a regex was too costly to match) with a message in msg;
 * p is then only partly filtered. */
int filter_apply(struct filter *flt, struct profile *p, unsigned *unmatched, char *msg,
		 size_t msg_size);

void filter_free(struct filter *flt);

/* filter_new and filter_apply in one. Returns 0; -EINVAL when an option
 * is not valid; or filter_apply's errors; with a message in msg. */
int profile_filter(struct profile *p, const struct filter_options *f, unsigned *unmatched,
		   char *msg, size_t msg_size);

#endif
