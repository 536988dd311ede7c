/* report_html.c - memprof report: a profile as one self-contained HTML page
 * (lib/html_report.c builds it; here the arguments and the output). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/html_report.h"
#include "lib/leaks.h"
#include "lib/output.h"
#include "lib/profile.h"
#include "lib/units.h"
#include "memprof.h"

/* Matches "--name", "-name" or the pprof spelling alt (with one or two
 * dashes), with the value after '=' or in the next argument. Returns 1 on
 * a match (*value set, NULL after an error was printed), 0 otherwise. */
static int option(const char *arg, const char *name, const char *alt, int argc, char **argv,
		  int *i, const char **value)
{
	if (arg[0] != '-')
		return 0;
	const char *s = arg + (arg[1] == '-' ? 2 : 1);
	const char *names[2] = { name, alt };
	for (int k = 0; k < 2; k++) {
		size_t n = names[k] ? strlen(names[k]) : 0;
		if (!n || strncmp(s, names[k], n) != 0)
			continue;
		if (s[n] == '=') {
			*value = s + n + 1;
			return 1;
		}
		if (s[n] != '\0')
			continue;
		if (*i + 1 >= argc) {
			error("option '%s' needs a value", arg);
			*value = NULL;
			return 1;
		}
		*value = argv[++*i];
		return 1;
	}
	return 0;
}

/* A fraction as 0.0001 or a percentage as 0.01%, within [0, 1]. */
static int parse_fraction(const char *s, double *out)
{
	char *end;
	errno = 0;
	double v = strtod(s, &end);
	if (end == s || errno)
		return -1;
	if (*end == '%') {
		v /= 100;
		end++;
	}
	if (*end || !(v >= 0 && v <= 1))
		return -1;
	*out = v;
	return 0;
}

static int parse_size(const char *s, uint64_t min, uint64_t max, size_t *out)
{
	uint64_t n;
	if (units_parse_count(s, min, max, &n) < 0)
		return -1;
	*out = (size_t)n;
	return 0;
}

/* FILE with ".pb.gz" replaced by ".html", or ".html" added: malloc'd. */
static char *default_output(const char *in)
{
	size_t n = strlen(in);
	const char *ext = ".pb.gz";
	size_t e = strlen(ext);
	if (n > e && strcmp(in + n - e, ext) == 0)
		n -= e;
	char *out = malloc(n + 6);
	if (out)
		snprintf(out, n + 6, "%.*s.html", (int)n, in);
	return out;
}

/* What a URL's page is named after: the last segment of its path, without
 * the query ("heap" for http://HOST:PORT/debug/pprof/heap?gc=1), or
 * "profile" for HOST:PORT alone (pprof's /debug/pprof/profile). */
static void url_name(const char *url, char *buf, size_t size)
{
	size_t n = strcspn(url, "?#");
	while (n && url[n - 1] == '/')
		n--;
	size_t start = n;
	while (start && url[start - 1] != '/')
		start--;
	if (start == n || memchr(url + start, ':', n - start) || start < 3 ||
	    !strncmp(url + start - 2, "//", 2))
		snprintf(buf, size, "profile");
	else
		snprintf(buf, size, "%.*s", (int)(n - start), url + start);
}

/* The page's title for a profile: a file's base name, or a URL's name
 * (url_name); in buf when not in path. */
static const char *base_name(const char *path, char *buf, size_t size)
{
	if (fetch_is_url(path)) {
		url_name(path, buf, size);
		return buf;
	}
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

int cmd_report(int argc, char **argv)
{
	struct report_args args;	/* for report_args_load: limits, sample index */
	struct leak_args la = { 0 };	/* --suppressions, --no-default-suppressions */
	struct leak_suppressions *supp = NULL;
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	const char *out = NULL, *in = NULL, *base_path = NULL;
	bool quiet = false, diff_base = false, only_args = false;
	char *def = NULL, *page = NULL;
	struct profile *p = NULL, *base = NULL;
	size_t len = 0;
	int code = 1;

	memset(&args, 0, sizeof(args));
	args.limits = (struct pprof_limits)PPROF_LIMITS_INIT;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		int taken;
		if (only_args || a[0] != '-' || !a[1]) {
			if (in) {
				error("report: unexpected argument '%s'", a);
				return usage("report", false);
			}
			in = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = true;
		} else if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
			return usage("report", true);
		} else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
		} else if (!strncmp(a, "--suppressions", 14) || !strcmp(a, "--no-default-suppressions")) {
			if (leak_args_parse("report", argc, argv, &i, &la) <= 0)
				return usage("report", false);
		} else if (option(a, "output", "o", argc, argv, &i, &v)) {
			if (!v)
				return usage("report", false);
			out = v;
		} else if (option(a, "base", NULL, argc, argv, &i, &v) ||
			   option(a, "diff-base", "diff_base", argc, argv, &i, &v)) {
			if (!v)
				return usage("report", false);
			if (base_path) {
				error("report: only one --base or --diff-base");
				return usage("report", false);
			}
			base_path = v;
			diff_base = strncmp(a + strspn(a, "-"), "diff", 4) == 0;
		} else if (option(a, "sample-index", "sample_index", argc, argv, &i, &v)) {
			if (!v)
				return usage("report", false);
			args.sample_index = v;
		} else if (option(a, "source-path", "source_path", argc, argv, &i, &v)) {
			if (!v)
				return usage("report", false);
			o.source_path = v;
		} else if (option(a, "trim-path", "trim_path", argc, argv, &i, &v)) {
			if (!v)
				return usage("report", false);
			o.trim_path = v;
		} else if (option(a, "min-frame", NULL, argc, argv, &i, &v)) {
			if (!v || parse_fraction(v, &o.min_frame) < 0) {
				if (v)
					error("invalid frame share '%s' (0 to 1, or a percentage: "
					      "0.0001, 0.01%%)", v);
				return usage("report", false);
			}
		} else if (option(a, "max-frames", NULL, argc, argv, &i, &v)) {
			if (!v || parse_size(v, 100, 10000000, &o.max_frames) < 0) {
				if (v)
					error("invalid frame count '%s' (100 to 10000000)", v);
				return usage("report", false);
			}
		} else if (option(a, "lists", NULL, argc, argv, &i, &v)) {
			if (!v || parse_size(v, 0, 10000, &o.list_functions) < 0) {
				if (v)
					error("invalid number of listings '%s' (0 to 10000)", v);
				return usage("report", false);
			}
		} else if ((taken = fetch_args_parse("report", argc, argv, &i, &args.fetch))) {
			if (taken < 0)
				return usage("report", false);
		} else if (option(a, "max-profile-size", "max_profile_size", argc, argv, &i, &v)) {
			uint64_t bytes;
			if (!v || units_parse_bytes(v, PPROF_MAX_DECODED, &bytes) < 0) {
				if (v)
					error("invalid profile size '%s' (bytes, e.g. 1073741824, "
					      "512M, 1G; at most 2G)", v);
				return usage("report", false);
			}
			args.limits.max_size = (size_t)bytes;
		} else if (option(a, "max-elements", "max_elements", argc, argv, &i, &v)) {
			if (!v || parse_size(v, 1, SIZE_MAX, &args.limits.max_elements) < 0) {
				if (v)
					error("invalid element count '%s' (a positive number)", v);
				return usage("report", false);
			}
		} else {
			error("report: unknown option '%s'", a);
			return usage("report", false);
		}
	}
	if (!in) {
		error("report: missing profile FILE");
		return usage("report", false);
	}
	if (!out) {
		char name[256];
		/* a URL's page is written here, named after the URL's path */
		if (!(out = def = default_output(base_name(in, name, sizeof(name))))) {
			error("out of memory");
			return 1;
		}
	}
	/* a bad output or suppressions file is said before the profile is read */
	if (check_output(out) < 0 || !(supp = leak_args_suppressions(&la)))
		goto out;
	if (!(p = report_args_load(in, &args)))
		goto out;
	o.sample_index = args.opts.sample_index;
	if (p->timeline_error)
		error("warning: %s: its timeline is malformed (%s): the page has none", in,
		      p->timeline_error);
	if (base_path) {
		struct report_args bargs;	/* the base: the same limits and fetching */
		memset(&bargs, 0, sizeof(bargs));
		bargs.limits = args.limits;
		bargs.fetch = args.fetch;
		base = report_args_load(base_path, &bargs);
		report_args_release(&bargs);
		if (!base)
			goto out;
	}

	char version[64], msg[512], desc[256];
	snprintf(version, sizeof(version), "memprof %s", MEMPROF_VERSION);
	char title[256], base_title[256];
	o.title = base_name(in, title, sizeof(title));
	o.generator = version;
	o.base = base;
	o.base_title = base_path ? base_name(base_path, base_title, sizeof(base_title)) : NULL;
	o.diff_base = diff_base;
	o.timeline = p->timeline;
	o.leaks = true;
	o.suppressions = supp;
	size_t at = (size_t)snprintf(desc, sizeof(desc), "%s",
				     la.no_defaults ? (la.n_files ? "" : "no suppressions")
						    : "the default suppressions");
	for (size_t i = 0; i < la.n_files && at < sizeof(desc); i++)
		at += (size_t)snprintf(desc + at, sizeof(desc) - at, "%s%s", at ? ", " : "",
				       la.files[i]);
	o.suppressions_desc = desc;

	struct html_report_stats st;
	int rc = html_report_build(p, &o, &page, &len, &st, msg, sizeof(msg));
	if (rc == -EINVAL && base && msg[0]) {
		/* as memprof top says it */
		if (diff_base)
			error("cannot compare %s with base %s: %s", in, base_path, msg);
		else
			error("cannot subtract base %s from %s: %s", base_path, in, msg);
		goto out;
	}
	if (rc < 0) {
		error("%s: %s", in, msg[0] ? msg : rc == -ENOMEM ? "out of memory" : strerror(-rc));
		goto out;
	}
	if ((rc = output_write(out, page, len)) < 0) {
		error("%s: %s", out, strerror(-rc));
		goto out;
	}
	if (!quiet) {
		char size[64];
		units_label(size, sizeof(size), (int64_t)len, "bytes", "auto");
		fprintf(stderr, "memprof: wrote %s: %s; flame graph of %zu frame%s", out, size,
			st.frames, st.frames == 1 ? "" : "s");
		if (st.min_frame > 0)
			fprintf(stderr, " (under %.3g%% of every sample type: [other])",
				st.min_frame * 100);
		fprintf(stderr, ", top table of %zu of %zu functions, %zu source listing%s\n",
			st.top_rows, st.functions, st.lists, st.lists == 1 ? "" : "s");
	}
	code = 0;
out:
	profile_label_units_release(&args.label_units);
	profile_free(p);
	profile_free(base);
	report_args_release(&args);
	leak_suppressions_free(supp);
	free(page);
	free(def);
	return code;
}
