/* report_args.c - command-line options shared by top and list. */
#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/units.h"
#include "memprof.h"

/* Matches "--name", "-name" (pprof spells flags with one dash) and
 * "--alt"/"-alt". On a match, *value gets the text after '=', or the next
 * argument when the option needs a value and has no '='. */
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
			if (!needs_value) {
				error("option '%s' takes no value", names[k]);
				*bad = true;
			}
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

static int parse_max_size(const char *s, size_t *out)
{
	uint64_t v;
	if (units_parse_bytes(s, PPROF_MAX_DECODED, &v) < 0)
		return -1;
	*out = (size_t)v;
	return 0;
}

/* A positive decimal count that fits in a size_t. */
static int parse_elements(const char *s, size_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || !isdigit((unsigned char)*s) || *end || v == 0 || v > SIZE_MAX)
		return -1;
	*out = (size_t)v;
	return 0;
}

static int parse_count(const char *s, int *out)
{
	char *end;
	errno = 0;
	long v = strtol(s, &end, 10);
	if (!*s || *end || errno || v < 0 || v > INT_MAX)
		return -1;
	*out = (int)v;
	return 0;
}

int report_args_parse(const char *cmd, int argc, char **argv, struct report_args *args,
		      int max_positional)
{
	static const char *legacy[] = { "inuse_space", "inuse_objects", "alloc_space",
					 "alloc_objects" };
	struct report_options init = REPORT_OPTIONS_INIT;
	struct pprof_limits limits = PPROF_LIMITS_INIT;
	bool only_args = false, bad = false, has_base = false, has_diff = false;

	memset(args, 0, sizeof(*args));
	args->opts = init;
	args->limits = limits;
	for (int i = 1; i < argc && !bad; i++) {
		const char *a = argv[i], *v = NULL;
		if (only_args || a[0] != '-' || !a[1]) {
			if (args->n_positional == max_positional) {
				error("%s: unexpected argument '%s'", cmd, a);
				return usage(cmd, false), -1;
			}
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
			args->sample_index = v;
			continue;
		}
		bool found = false;
		for (size_t k = 0; k < 4 && !found; k++)
			if (match(a, legacy[k], NULL, false, argc, argv, &i, &v, &bad)) {
				args->sample_index = legacy[k];
				found = true;
			}
		if (found)
			continue;
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
		if (match(a, "max-elements", "max_elements", true, argc, argv, &i, &v, &bad)) {
			if (v && parse_elements(v, &args->limits.max_elements) < 0) {
				error("invalid element count '%s' (a positive number)", v);
				return usage(cmd, false), -1;
			}
			continue;
		}
		if (!strcmp(cmd, "top")) {
			if (match(a, "folded", NULL, false, argc, argv, &i, &v, &bad)) {
				args->folded = true;
				continue;
			}
			if (match(a, "nodecount", "n", true, argc, argv, &i, &v, &bad)) {
				if (v && parse_count(v, &args->opts.node_count) < 0) {
					error("invalid node count '%s'", v);
					return usage(cmd, false), -1;
				}
				continue;
			}
			if (match(a, "nodefraction", NULL, true, argc, argv, &i, &v, &bad)) {
				char *end;
				double f = v ? strtod(v, &end) : 0;
				if (v && (end == v || *end || !(f >= 0 && f <= 1))) {
					error("invalid node fraction '%s' (0 to 1)", v);
					return usage(cmd, false), -1;
				}
				args->opts.node_fraction = f;
				continue;
			}
			if (match(a, "cum", NULL, false, argc, argv, &i, &v, &bad)) {
				args->opts.cum_sort = true;
				continue;
			}
			if (match(a, "flat", NULL, false, argc, argv, &i, &v, &bad)) {
				args->opts.cum_sort = false;
				continue;
			}
		} else {
			if (match(a, "source-path", "source_path", true, argc, argv, &i, &v, &bad)) {
				args->opts.source_path = v;
				continue;
			}
			if (match(a, "trim-path", "trim_path", true, argc, argv, &i, &v, &bad)) {
				args->opts.trim_path = v;
				continue;
			}
		}
		if (!bad)
			error("%s: unknown option '%s'", cmd, a);
		bad = true;
	}
	if (bad)
		return usage(cmd, false), -1;
	if (has_base && has_diff) {
		error("%s: --base and --diff-base cannot both be given", cmd);
		return usage(cmd, false), -1;
	}
	args->diff_base = has_diff;
	if (args->n_positional != max_positional) {
		error("%s: %s", cmd, max_positional == 1 ? "missing profile FILE"
						         : "needs a REGEX and a profile FILE");
		return usage(cmd, false), -1;
	}
	return 0;
}

/* Reads one profile; prints the error naming path and returns NULL. */
static struct profile *load(const char *path, struct report_args *args)
{
	struct pprof_error err;
	enum pprof_limit exceeded;
	struct profile *p = pprof_read_limited(path, &args->limits, &exceeded, &err);
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

struct profile *report_args_load(const char *path, struct report_args *args)
{
	struct profile *p = load(path, args);
	if (!p)
		return NULL;
	if (args->n_base && subtract_bases(p, path, args) < 0)
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
	return p;
out_fail:
	profile_free(p);
	return NULL;
}

void report_args_release(struct report_args *args)
{
	free(args->base);
	args->base = NULL;
	args->n_base = 0;
}
