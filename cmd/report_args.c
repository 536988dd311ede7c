/* report_args.c - command-line options shared by the reports (top, list,
 * traces, peek, tree, tags), and reading the profiles they name. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/filter.h"
#include "lib/graph.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/symbolize.h"
#include "lib/units.h"
#include "memprof.h"

static int match(const char *arg, const char *name, const char *alt, bool needs_value,
		 int argc, char **argv, int *i, const char **value, bool *bad);
static int parse_process_option(const char *a, int argc, char **argv, int *i,
				struct report_args *args, bool *bad);
static int select_processes(struct profile *p, const char *path, const struct report_args *args);
static int merge_same_mappings(struct profile **pp, const char *path);

/* Matches "--name", "-name" (pprof spells flags with one dash) and
 * "--alt"/"-alt". On a match, *value gets the text after '=', or the next
 * argument when the option needs a value and has no '='; a flag (no value
 * needed) may still have one after '=', as Go's flags allow ("-trim=false"). */
static int match(const char *arg, const char *name, const char *alt, bool needs_value,
		 int argc, char **argv, int *i, const char **value, bool *bad)
{
	const char *s = arg;
	if (s[0] != '-')
		return 0;
	s += s[1] == '-' ? 2 : 1;
	const char *names[2] = { name, alt };
	for (int k = 0; k < 2; k++) {
		if (!names[k])
			continue;
		size_t n = strlen(names[k]);
		if (strncmp(s, names[k], n) != 0)
			continue;
		if (s[n] == '=') {
			*value = s + n + 1;
			return 1;
		}
		if (s[n] != '\0')
			continue;
		if (needs_value) {
			if (*i + 1 >= argc) {
				error("option '%s' needs a value", arg);
				*bad = true;
				return 1;
			}
			*value = argv[++*i];
		}
		return 1;
	}
	return 0;
}

/* A flag's value: true without one, else Go's strconv.ParseBool. */
static int parse_flag(const char *name, const char *v, bool *out)
{
	static const char *const yes[] = { "1", "t", "T", "TRUE", "true", "True" };
	static const char *const no[] = { "0", "f", "F", "FALSE", "false", "False" };
	if (!v) {
		*out = true;
		return 0;
	}
	for (size_t i = 0; i < 6; i++) {
		if (!strcmp(v, yes[i]) || !strcmp(v, no[i])) {
			*out = !strcmp(v, yes[i]);
			return 0;
		}
	}
	error("invalid value '%s' for option '-%s' (true or false)", v, name);
	return -1;
}

static int parse_max_size(const char *s, size_t *out)
{
	uint64_t v;
	if (units_parse_bytes(s, PPROF_MAX_DECODED, &v) < 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* pprof's -nodefraction, -edgefraction: any finite number (only its size
 * counts). */
static int parse_fraction(const char *s, double *out)
{
	char *end;
	errno = 0;
	double f = strtod(s, &end);
	if (!*s || *end || errno || !isfinite(f))
		return -1;
	*out = f;
	return 0;
}

/* pprof's legacy value selections, in the order pprof takes them: the
 * first one given wins, after -sample_index; the others are ignored with a
 * warning. */
static const struct {
	const char *flag, *sample_type;
} legacy[] = {
	{ "total_delay", "delay" }, { "contentions", "contentions" },
	{ "inuse_space", "inuse_space" }, { "inuse_objects", "inuse_objects" },
	{ "alloc_space", "alloc_space" }, { "alloc_objects", "alloc_objects" },
};
#define N_LEGACY (sizeof(legacy) / sizeof(legacy[0]))

/* go tool pprof options memprof does not have, named in the error. */
static const char *const unsupported[] = {
	"http", "no_browser", "tools", "symbolize", "buildid", "add_comment",
	"mean_delay", "mean", "divide_by", "normalize", "call_tree",
	"compact_labels", "intel_syntax", "tagroot", "tagleaf", "drop_negative", "output",
	"callgrind", "comments", "disasm", "dot", "eog", "evince", "gif", "gv", "kcachegrind",
	"pdf", "png", "proto", "ps", "raw", "svg", "topproto", "web", "weblist", NULL,
};	/* pprof's -top, -list, -traces, ... are memprof's commands (below) */

/* The string options: where each goes. */
struct string_option {
	const char *name, *alt;
	size_t offset;		/* in struct report_args */
};

#define FOPT(field) offsetof(struct report_args, filters.field)
static const struct string_option string_options[] = {
	{ "focus", NULL, FOPT(focus) },
	{ "ignore", NULL, FOPT(ignore) },
	{ "hide", NULL, FOPT(hide) },
	{ "show", NULL, FOPT(show) },
	{ "show_from", "show-from", FOPT(show_from) },
	{ "tagfocus", NULL, FOPT(tagfocus) },
	{ "tagignore", NULL, FOPT(tagignore) },
	{ "tagshow", NULL, FOPT(tagshow) },
	{ "taghide", NULL, FOPT(taghide) },
	{ "prune_from", "prune-from", FOPT(prune_from) },
	{ "source_path", "source-path", offsetof(struct report_args, opts.source_path) },
	{ "trim_path", "trim-path", offsetof(struct report_args, opts.trim_path) },
};

static const char *const granularities[] = { "functions", "lines", "files", "filefunctions",
					     "addresses" };	/* enum graph_granularity */

int report_args_parse(const char *cmd, int argc, char **argv, struct report_args *args,
		      int max_positional)
{
	struct report_options init = REPORT_OPTIONS_INIT;
	struct pprof_limits limits = PPROF_LIMITS_INIT;
	bool only_args = false, bad = false, has_base = false, has_diff = false;
	bool cum = false, flat = false, trim = true, gran[5] = { false };
	bool legacy_set[N_LEGACY] = { false };
	const char *sample_index = NULL;
	bool is_top = !strcmp(cmd, "top");	/* top --folded */

	memset(args, 0, sizeof(*args));
	args->opts = init;
	args->limits = limits;
	/* go tool pprof's -nodecount: all nodes for -top, 80 for the other
	 * reports (memprof top keeps pprof's interactive 10) */
	if (!is_top)
		args->opts.node_count = 80;
	if (!(args->positional = calloc((size_t)argc + 1, sizeof(*args->positional)))) {
		error("out of memory");
		return -1;
	}
	for (int i = 1; i < argc && !bad; i++) {
		const char *a = argv[i], *v = NULL;
		if (only_args || a[0] != '-' || !a[1]) {
			args->positional[args->n_positional++] = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = true;
			continue;
		}
		if (match(a, "help", "h", false, argc, argv, &i, &v, &bad)) {
			usage(cmd, true);
			return 1;
		}
		if (match(a, "sample-index", "sample_index", true, argc, argv, &i, &v, &bad)) {
			sample_index = v;
			continue;
		}
		bool found = false, on;
		for (size_t k = 0; k < N_LEGACY && !found; k++)
			if (match(a, legacy[k].flag, NULL, false, argc, argv, &i, &v, &bad)) {
				if (parse_flag(legacy[k].flag, v, &on) < 0)
					return usage(cmd, false), -1;
				legacy_set[k] = on;
				found = true;
			}
		for (size_t k = 0; k < 5 && !found; k++)
			if (match(a, granularities[k], NULL, false, argc, argv, &i, &v, &bad)) {
				if (parse_flag(granularities[k], v, &gran[k]) < 0)
					return usage(cmd, false), -1;
				found = true;
			}
		for (size_t k = 0; k < sizeof(string_options) / sizeof(string_options[0]) && !found;
		     k++)
			if (match(a, string_options[k].name, string_options[k].alt, true, argc, argv,
				  &i, &v, &bad)) {
				*(const char **)((char *)args + string_options[k].offset) = v;
				found = true;
			}
		if (found)
			continue;
		if (match(a, "noinlines", NULL, false, argc, argv, &i, &v, &bad)) {
			if (parse_flag("noinlines", v, &args->opts.noinlines) < 0)
				return usage(cmd, false), -1;
			continue;
		}
		if (match(a, "relative_percentages", "relative-percentages", false, argc, argv, &i,
			  &v, &bad)) {
			if (parse_flag("relative_percentages", v, &args->relative) < 0)
				return usage(cmd, false), -1;
			continue;
		}
		if (match(a, "unit", NULL, true, argc, argv, &i, &v, &bad)) {
			if (v && strcmp(v, "minimum") && strcmp(v, "auto") && !units_canonical(v)) {
				error("unknown unit '%s' (use B, kB, MB, GB, TB, ns, us, ms, s, "
				      "minimum)", v);
				return usage(cmd, false), -1;
			}
			args->opts.unit = v;
			continue;
		}
		bool diff = false;
		if (match(a, "base", NULL, true, argc, argv, &i, &v, &bad) ||
		    (diff = match(a, "diff-base", "diff_base", true, argc, argv, &i, &v, &bad))) {
			if (!v || !*v)	/* pprof drops empty sources */
				continue;
			if (!args->base && !(args->base = calloc((size_t)argc, sizeof(*args->base)))) {
				error("out of memory");
				return -1;
			}
			args->base[args->n_base++] = v;
			*(diff ? &has_diff : &has_base) = true;
			continue;
		}
		if (match(a, "max-profile-size", "max_profile_size", true, argc, argv, &i, &v,
			  &bad)) {
			if (v && parse_max_size(v, &args->limits.max_size) < 0) {
				error("invalid profile size '%s' (bytes, e.g. 1073741824, 512M, "
				      "1G; at most 2G)", v);
				return usage(cmd, false), -1;
			}
			continue;
		}
		if (parse_process_option(a, argc, argv, &i, args, &bad))
			continue;
		int taken = fetch_args_parse(cmd, argc, argv, &i, &args->fetch);
		if (taken < 0)
			return usage(cmd, false), -1;
		if (taken)
			continue;
		if (match(a, "max-elements", "max_elements", true, argc, argv, &i, &v, &bad)) {
			uint64_t n;
			if (v && units_parse_count(v, 1, SIZE_MAX, &n) < 0) {
				error("invalid element count '%s' (a positive number)", v);
				return usage(cmd, false), -1;
			}
			if (v)
				args->limits.max_elements = (size_t)n;
			continue;
		}
		if (is_top && match(a, "folded", NULL, false, argc, argv, &i, &v, &bad)) {
			if (parse_flag("folded", v, &args->folded) < 0)
				return usage(cmd, false), -1;
			continue;
		}
		/* list takes top's options too, as pprof's list does (it has no
		 * use for them) */
		{
			if (match(a, "nodecount", "n", true, argc, argv, &i, &v, &bad)) {
				uint64_t n;
				if (v && units_parse_count(v, 0, INT_MAX, &n) < 0) {
					error("invalid node count '%s'", v);
					return usage(cmd, false), -1;
				}
				if (v)
					args->opts.node_count = (int)n;
				continue;
			}
			bool edge = false;
			if (match(a, "nodefraction", NULL, true, argc, argv, &i, &v, &bad) ||
			    (edge = match(a, "edgefraction", NULL, true, argc, argv, &i, &v, &bad))) {
				double *f = edge ? &args->opts.edge_fraction : &args->opts.node_fraction;
				if (v && parse_fraction(v, f) < 0) {
					error("invalid %s fraction '%s' (a number such as 0.005)",
					      edge ? "edge" : "node", v);
					return usage(cmd, false), -1;
				}
				continue;
			}
			if (match(a, "cum", NULL, false, argc, argv, &i, &v, &bad)) {
				if (parse_flag("cum", v, &cum) < 0)
					return usage(cmd, false), -1;
				continue;
			}
			if (match(a, "flat", NULL, false, argc, argv, &i, &v, &bad)) {
				if (parse_flag("flat", v, &flat) < 0)
					return usage(cmd, false), -1;
				continue;
			}
			if (match(a, "trim", NULL, false, argc, argv, &i, &v, &bad)) {
				if (parse_flag("trim", v, &trim) < 0)
					return usage(cmd, false), -1;
				continue;
			}
		}
		if (bad)
			break;
		const char *name = a + (a[1] == '-' ? 2 : 1);
		size_t len = strcspn(name, "=");
		/* pprof's report flags are memprof's commands */
		static const char *const reports[][2] = {
			{ "top", "top" }, { "text", "top" }, { "list", "list" },
			{ "traces", "traces" }, { "peek", "peek" }, { "tree", "tree" },
			{ "tags", "tags" },
		};
		for (size_t k = 0; k < sizeof(reports) / sizeof(reports[0]); k++)
			if (strlen(reports[k][0]) == len && !strncmp(name, reports[k][0], len)) {
				error("%s: go tool pprof's option '-%.*s' is a report of its own: "
				      "memprof %s", cmd, (int)len, name, reports[k][1]);
				return usage(cmd, false), -1;
			}
		for (size_t k = 0; unsupported[k]; k++)
			if (strlen(unsupported[k]) == len && !strncmp(name, unsupported[k], len)) {
				error("%s: go tool pprof's option '-%.*s' is not supported by "
				      "memprof %s", cmd, (int)len, name, cmd);
				return usage(cmd, false), -1;
			}
		error("%s: unknown option '%s'", cmd, a);
		bad = true;
	}
	if (bad)
		return usage(cmd, false), -1;
	if (has_base && has_diff) {
		error("%s: --base and --diff-base cannot both be given", cmd);
		return usage(cmd, false), -1;
	}
	if (cum && flat) {
		error("%s: conflicting options: -cum and -flat", cmd);
		return usage(cmd, false), -1;
	}
	args->opts.cum_sort = cum;
	for (size_t k = 0, n = 0; k < 5; k++) {
		if (!gran[k])
			continue;
		if (n++) {
			error("%s: conflicting options: -%s and -%s", cmd,
			      granularities[args->opts.granularity], granularities[k]);
			return usage(cmd, false), -1;
		}
		args->opts.granularity = (unsigned)k;
	}
	/* pprof's value selections: -sample_index, then the first flag */
	for (size_t k = 0; k < N_LEGACY; k++) {
		if (!legacy_set[k])
			continue;
		if (sample_index && *sample_index)
			error("warning: multiple value selections, ignoring -%s", legacy[k].flag);
		else
			sample_index = legacy[k].sample_type;
	}
	args->sample_index = sample_index;
	if (!strcmp(cmd, "peek"))	/* pprof's peek never trims */
		trim = false;
	if (!trim) {	/* pprof's -trim=false */
		args->opts.node_count = 0;
		args->opts.node_fraction = 0;
		args->opts.edge_fraction = 0;
	}
	args->diff_base = has_diff;
	if (args->n_positional < max_positional) {
		error("%s: %s", cmd, max_positional == 1 ? "missing profile FILE"
						         : "needs a REGEX and a profile FILE");
		return usage(cmd, false), -1;
	}
	args->files = args->positional + max_positional - 1;
	args->n_files = (size_t)(args->n_positional - max_positional + 1);
	args->n_active_filters = filter_options_describe(&args->filters, args->active_filters,
							 sizeof(args->active_filters) /
								 sizeof(args->active_filters[0]));
	args->opts.active_filters = args->active_filters;
	args->opts.n_active_filters = args->n_active_filters;
	/* bad regexes and ranges are refused before any profile is read */
	char msg[512];
	struct filter *flt = filter_new(&args->filters, msg, sizeof(msg));
	if (!flt) {
		error("%s: %s", cmd, msg);
		return usage(cmd, false), -1;
	}
	filter_free(flt);
	return 0;
}

/* Reads one profile, a file or a URL; prints the error naming path and
 * returns NULL. */
static struct profile *load(const char *path, struct report_args *args)
{
	struct pprof_error err;
	enum pprof_limit exceeded;
	struct profile *p = fetch_profile(path, &args->fetch, &args->limits, &exceeded, &err);
	if (!p) {
		if (exceeded == PPROF_LIMIT_SIZE)
			error("%s: %s (raise the limit with --max-profile-size=BYTES)", path,
			      err.msg);
		else if (exceeded == PPROF_LIMIT_ELEMENTS)
			error("%s: %s (raise the limit with --max-elements=N)", path, err.msg);
		else
			error("%s: %s", path, err.msg);
		return NULL;
	}
	if (p->n_sample_type == 0) {
		error("%s: profile has no sample types", path);
		profile_free(p);
		return NULL;
	}
	return p;
}

/* p minus the bases, as go tool pprof's -base / -diff_base. Returns 0, or
 * -1 after printing an error. */
static int subtract_bases(struct profile *p, const char *path, struct report_args *args)
{
	struct profile **bases = calloc(args->n_base, sizeof(*bases));
	char msg[2048];
	int rc = -1;

	if (!bases) {
		error("out of memory");
		return -1;
	}
	for (size_t i = 0; i < args->n_base; i++) {
		const char *b = args->base[i];
		if (!(bases[i] = load(b, args)))
			goto out;
		if (profile_compatible(p, bases[i], msg, sizeof(msg)) < 0) {
			if (args->diff_base)
				error("cannot compare %s with base %s: %s", path, b, msg);
			else
				error("cannot subtract base %s from %s: %s", b, path, msg);
			goto out;
		}
	}
	int err = profile_subtract(p, (const struct profile *const *)bases, args->n_base,
				   args->diff_base ? PROFILE_DIFF_BASE : PROFILE_BASE, msg,
				   sizeof(msg));
	if (err == -EINVAL)
		error("%s: %s", path, msg);
	else if (err < 0)
		error("%s: %s", path, strerror(-err));
	else
		rc = 0;
out:
	for (size_t i = 0; i < args->n_base; i++)
		profile_free(bases[i]);
	free(bases);
	return rc;
}

/* pprof's fetch gives a profile without mappings one mapping, with no
 * file, for all its locations (-focus and friends match its name, ""). */
static int add_stand_in_mapping(struct profile *p)
{
	if (p->n_mapping)
		return 0;
	struct profile_mapping *m = profile_add_mapping(p, 1);
	if (!m)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_location; i++)
		p->location[i]->mapping = m;
	return 0;
}

/* The profiles named on the command line, merged as go tool pprof merges
 * them; NULL after printing an error. */
static struct profile *load_sources(struct report_args *args)
{
	struct profile **srcs = calloc(args->n_files, sizeof(*srcs)), *p = NULL;
	char msg[2048];
	if (!srcs) {
		error("out of memory");
		return NULL;
	}
	for (size_t i = 0; i < args->n_files; i++)
		if (!(srcs[i] = load(args->files[i], args)))
			goto out;
	int rc = profile_merge_sources(&p, (const struct profile *const *)srcs, args->n_files,
				       msg, sizeof(msg));
	if (rc == -EINVAL)
		error("cannot merge %s and the other profiles: %s", args->files[0], msg);
	else if (rc < 0)
		error("%s: %s", args->files[0], strerror(-rc));
out:
	for (size_t i = 0; i < args->n_files; i++)
		profile_free(srcs[i]);
	free(srcs);
	return p;
}

/* Whether some value of p is negative: then samples with one stack and
 * labels may cancel out, which only a merge shows. */
static bool has_negative(const struct profile *p)
{
	for (size_t i = 0; i < p->n_sample; i++)
		for (size_t t = 0; t < p->n_sample_type; t++)
			if (p->sample[i].value[t] < 0)
				return true;
	return false;
}

/* p merged on its own, as pprof's fetch merges each profile it reads (p
 * is freed); NULL after printing an error. */
static struct profile *merge_one(struct profile *p, const char *path)
{
	struct profile *m = NULL;
	char msg[512];
	int rc = profile_merge_sources(&m, (const struct profile *const *)&p, 1, msg, sizeof(msg));
	if (rc == -EINVAL)
		error("%s: %s", path, msg);
	else if (rc < 0)
		error("%s: %s", path, strerror(-rc));
	profile_free(p);
	return m;
}

struct profile *report_args_load(const char *path, struct report_args *args)
{
	/* pprof merges even one profile: that puts the locations of one binary
	 * mapped at two addresses (two processes) at the first one's, adds up
	 * the samples with one stack and labels and drops those left zero.
	 * Only -addresses, traces and totals over values of both signs (+v and
	 * -v for one stack count 0, not 2v) show it; other reports are spared
	 * the cost. */
	bool merge = args->n_files > 1 || args->opts.granularity == GRAPH_ADDRESSES ||
		     args->merge;
	struct profile *p = merge ? load_sources(args) : load(path, args);
	char msg[512];
	unsigned unmatched;
	if (!p)
		return NULL;
	if (merge) {
		path = args->files[0];
	} else if (has_negative(p)) {
		if (!(p = merge_one(p, path)))
			return NULL;
	} else if (add_stand_in_mapping(p) < 0) {
		error("out of memory");
		goto out_fail;
	}
	if (args->n_base && subtract_bases(p, path, args) < 0)
		goto out_fail;
	if (!args->n_base && merge_same_mappings(&p, path) < 0)
		goto out_fail;
	if (select_processes(p, path, args) < 0)
		goto out_fail;
	int idx = profile_sample_index(p, args->sample_index);
	if (idx < 0) {
		char names[512] = "";
		size_t at = 0;
		for (size_t i = 0; i < p->n_sample_type && at < sizeof(names); i++)
			at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s",
					       i ? " " : "", p->sample_type[i].type);
		error("%s: sample index '%s' is not one of: %s (or 0..%zu)", path,
		      args->sample_index, names, p->n_sample_type - 1);
		goto out_fail;
	}
	args->opts.sample_index = idx;
	/* percentages are of the whole profile's total, as pprof's, unless
	 * -relative_percentages */
	if (!args->relative) {
		args->opts.total = profile_total(p, idx);
		args->opts.has_total = true;
	}
	/* pprof takes the units of numeric labels before filtering */
	if (profile_label_units_init(&args->label_units, p) < 0) {
		error("out of memory");
		goto out_fail;
	}
	args->opts.label_units = &args->label_units;
	int rc = profile_filter(p, &args->filters, &unmatched, msg, sizeof(msg));
	if (rc < 0) {
		error("%s: %s", path, msg);
		goto out_fail;
	}
	for (unsigned bit = 1; bit <= FILTER_TAGHIDE; bit <<= 1)
		if (unmatched & bit)
			error("warning: %s expression matched no samples", filter_option_name(bit));
	return p;
out_fail:
	profile_free(p);
	return NULL;
}

void report_args_release(struct report_args *args)
{
	profile_label_units_release(&args->label_units);
	args->opts.label_units = NULL;
	free(args->base);
	args->base = NULL;
	args->n_base = 0;
	free(args->positional);
	args->positional = NULL;
	for (size_t i = 0; i < args->n_active_filters; i++)
		free(args->active_filters[i]);
	args->n_active_filters = 0;
}

/* ---- processes: --pid, --program, one [git] for two paths, C++ names ------ */

/* memprof's options on which processes and names a report shows. Returns
 * 1 when a is one of them (*bad set on a bad value), else 0. */
static int parse_process_option(const char *a, int argc, char **argv, int *i,
				struct report_args *args, bool *bad)
{
	const char *v = NULL;
	if (match(a, "pid", NULL, true, argc, argv, i, &v, bad)) {
		for (const char *c = v ? v : ""; *c && !*bad; c++)
			if (!(*c >= '0' && *c <= '9') && *c != ',') {
				error("invalid pid list '%s' (numbers separated by commas)", v);
				*bad = true;
			}
		args->pids = v;
		return 1;
	}
	if (match(a, "program", NULL, true, argc, argv, i, &v, bad)) {
		args->programs = v;
		return 1;
	}
	if (match(a, "full-names", "full_names", false, argc, argv, i, &v, bad)) {
		args->full_names = true;
		return 1;
	}
	return 0;
}

/* Whether item (len bytes) is one of the comma-separated list. */
static bool in_list(const char *list, const char *item, size_t len)
{
	for (const char *c = list; *c;) {
		const char *e = strchr(c, ',');
		size_t n = e ? (size_t)(e - c) : strlen(c);
		if (n == len && !strncmp(c, item, n))
			return true;
		c += n + (e != NULL);
	}
	return false;
}

/* The label key of sample s: its string value, or its number written in
 * decimal into buf; NULL when s has none. */
static const char *label_of(const struct profile_sample *s, const char *key, char *buf,
			    size_t size)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (!strcmp(s->label[i].key, key)) {
			if (*s->label[i].str)
				return s->label[i].str;
			snprintf(buf, size, "%lld", (long long)s->label[i].num);
			return buf;
		}
	return NULL;
}

/* The values of label key that the samples carry, "a, b, c" (at most 10),
 * to say what there is when a selection matched nothing. */
static void label_values(const struct profile *p, const char *key, char *out, size_t size)
{
	char seen[10][64];
	size_t n = 0, at = 0;
	out[0] = '\0';
	for (size_t i = 0; i < p->n_sample && at < size; i++) {
		char buf[32];
		const char *v = label_of(&p->sample[i], key, buf, sizeof(buf));
		size_t k = 0;
		while (v && k < n && strncmp(seen[k], v, sizeof(seen[k]) - 1) != 0)
			k++;
		if (!v || k < n)
			continue;
		if (n == 10) {
			snprintf(out + at, size - at, ", ...");
			break;
		}
		snprintf(seen[n++], sizeof(seen[0]), "%s", v);
		at += (size_t)snprintf(out + at, size - at, "%s%s", at ? ", " : "", v);
	}
}

/* Keeps the samples whose label key is in list (memprof's --pid and
 * --program, as pprof's -tagfocus=key=value keeps them, without its
 * "Active filters" lines). A profile of one process has no pid label:
 * its timeline names the process. Returns 0, or -1 after an error. */
static int keep_samples(struct profile *p, const char *path, const char *key, const char *option,
			const char *list)
{
	bool any = false;
	for (size_t i = 0; i < p->n_sample && !any; i++)
		any = label_of(&p->sample[i], key, (char[32]){ 0 }, 32) != NULL;
	if (!any && !strcmp(key, "pid") && p->timeline && p->timeline->n_series == 1) {
		char pid[16];
		int n = snprintf(pid, sizeof(pid), "%u", p->timeline->series[0].pid);
		if (in_list(list, pid, (size_t)n))
			return 0;	/* the one process */
	}
	if (!any) {
		error("%s: %s: the samples carry no %s label%s", path, option, key,
		      !strcmp(key, "pid") ? " (a profile of one process: its pid is in memprof "
					    "timeline's output)" : "");
		return -1;
	}
	size_t kept = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		char buf[32];
		const char *v = label_of(&p->sample[i], key, buf, sizeof(buf));
		if (v && in_list(list, v, strlen(v)))
			p->sample[kept++] = p->sample[i];
	}
	if (!kept) {
		char values[512];
		label_values(p, key, values, sizeof(values));
		error("%s: no sample has %s %s (there are: %s)", path, key, list, values);
		return -1;
	}
	p->n_sample = kept;
	return 0;
}

/* pprof's key of a mapping in its merge (see profile_merge). */
static bool same_mapping_key(const struct profile_mapping *a, const struct profile_mapping *b)
{
	uint64_t sa = a->memory_limit - a->memory_start, sb = b->memory_limit - b->memory_start;
	sa += 0xfff - (sa + 0xfff) % 0x1000;
	sb += 0xfff - (sb + 0xfff) % 0x1000;
	return sa == sb && a->file_offset == b->file_offset &&
	       !strcmp(*a->build_id ? a->build_id : a->filename,
		       *b->build_id ? b->build_id : b->filename);
}

/* go tool pprof merges even one profile: mappings with one key become one
 * (one [git] row for /usr/bin/git and /usr/lib/git-core/git, a hard link).
 * Only a profile with such mappings under two names is merged here: for
 * the others the merge changes nothing that the reports show. */
static int merge_same_mappings(struct profile **pp, const char *path)
{
	struct profile *p = *pp;
	struct hashmap seen = HASHMAP_INIT;
	bool twice = false;
	for (size_t i = 0; i < p->n_mapping && !twice; i++) {
		const struct profile_mapping *m = p->mapping[i];
		const char *k = *m->build_id ? m->build_id : m->filename;
		bool inserted;
		uint64_t *slot = hashmap_put(&seen, hash_bytes(k, strlen(k), m->file_offset), &inserted);
		if (!slot)
			break;
		if (!inserted) {	/* the same hash: compare with the ones before */
			for (size_t j = 0; j < i && !twice; j++)
				twice = same_mapping_key(p->mapping[j], m) &&
					strcmp(p->mapping[j]->filename, m->filename) != 0;
		}
	}
	hashmap_release(&seen);
	if (!twice)
		return 0;
	struct profile *merged;
	char msg[256];
	const struct profile *one[1] = { p };
	int rc = profile_merge(&merged, one, 1, msg, sizeof(msg));
	if (rc < 0) {
		error("%s: %s", path, rc == -EINVAL ? msg : strerror(-rc));
		return -1;
	}
	profile_free(p);	/* and its timeline, which top and list do not show */
	*pp = merged;
	return 0;
}

/* What a report shows of the profile just read: pprof's names for C++
 * functions that have only their linkage name (or full names with
 * --full-names), the processes --pid and --program select. */
static int select_processes(struct profile *p, const char *path, const struct report_args *args)
{
	int rc = symbolize_demangle_profile(p, args->full_names ? SYM_DEMANGLE_FULL
							     : SYM_DEMANGLE_DEFAULT,
					    args->full_names);
	if (rc < 0) {
		error("%s: %s", path, strerror(-rc));
		return -1;
	}
	if (args->pids && keep_samples(p, path, "pid", "--pid", args->pids) < 0)
		return -1;
	if (args->programs && keep_samples(p, path, "program", "--program", args->programs) < 0)
		return -1;
	return 0;
}
