/* leaks.c - memprof leaks: the stacks of a heap profile still in use at
 * exit, after suppressions, printed as LeakSanitizer prints leaks; and the
 * leak options and gate that memprof run --fail-on-leak shares. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/leaks.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/units.h"
#include "memprof.h"

/* "--name=VALUE" or "--name VALUE": *v gets VALUE. Returns 1 on a match, 0
 * when a is not --name, -1 (said) when the value is missing. */
static int option_value(const char *cmd, const char *a, const char *name, int argc, char **argv,
			int *i, const char **v)
{
	size_t n = strlen(name);
	if (strncmp(a, name, n) != 0)
		return 0;
	if (a[n] == '=') {
		*v = a + n + 1;
		return 1;
	}
	if (a[n] != '\0')
		return 0;
	if (*i + 1 >= argc) {
		error("%s: option '%s' needs a value", cmd, name);
		return -1;
	}
	*v = argv[++*i];
	return 1;
}

int leak_args_parse(const char *cmd, int argc, char **argv, int *i, struct leak_args *la)
{
	const char *a = argv[*i], *v = NULL;
	if (!strcmp(a, "--no-default-suppressions")) {
		la->no_defaults = true;
		return 1;
	}
	if (!strcmp(a, "--fail-on-leak")) {
		la->fail = true;
		la->limit = 0;
		return 1;
	}
	if (!strncmp(a, "--fail-on-leak=", 15)) {
		v = a + 15;
		la->fail = true;
		if (*v && strspn(v, "0") == strlen(v)) {
			la->limit = 0;
		} else if (units_parse_bytes(v, (uint64_t)1 << 60, &la->limit) < 0) {
			error("%s: invalid leak limit '%s' (bytes, e.g. 0, 4096, 10k, 1MiB)", cmd, v);
			return -1;
		}
		return 1;
	}
	int rc = option_value(cmd, a, "--suppressions", argc, argv, i, &v);
	if (rc <= 0)
		return rc;
	if (la->n_files == LEAK_ARGS_MAX_FILES) {
		error("%s: at most %d --suppressions files", cmd, LEAK_ARGS_MAX_FILES);
		return -1;
	}
	la->files[la->n_files++] = v;
	return 1;
}

struct leak_suppressions *leak_args_suppressions(const struct leak_args *la)
{
	struct leak_suppressions *s = leak_suppressions_new();
	if (!s || (!la->no_defaults && leak_suppressions_add_defaults(s) < 0)) {
		error("out of memory");
		goto out_fail;
	}
	for (size_t i = 0; i < la->n_files; i++) {
		struct leak_error err;
		int rc = leak_suppressions_read(s, la->files[i], &err);
		if (rc == -ENOMEM) {
			error("out of memory");
			goto out_fail;
		}
		if (rc < 0 && err.line)
			error("%s:%u: %s", la->files[i], err.line, err.msg);
		else if (rc < 0)
			error("%s: %s", la->files[i], err.msg);
		if (rc < 0)
			goto out_fail;
	}
	return s;
out_fail:
	leak_suppressions_free(s);
	return NULL;
}

/* Prints the profile's sample types, for the error about a missing one. */
static void no_inuse_error(const char *path, const struct profile *p)
{
	char names[512] = "";
	size_t at = 0;
	for (size_t i = 0; i < p->n_sample_type && at < sizeof(names); i++)
		at += (size_t)snprintf(names + at, sizeof(names) - at, "%s%s", i ? ", " : "",
				       p->sample_type[i].type);
	error("%s: not a heap profile: it has no inuse_space sample type (it has %s)", path,
	      p->n_sample_type ? names : "none");
}

int leak_gate(const struct profile *p, const struct leak_suppressions *s, uint64_t limit,
	      const char *path)
{
	struct leak_report r;
	int rc = leaks_find(p, s, &r);
	if (rc == -ENOENT) {
		no_inuse_error(path, p);
		return -1;
	}
	if (rc < 0) {
		error("out of memory checking for leaks");
		return -1;
	}
	bool over = leaks_over(&r, limit);
	if (over) {
		struct leak_print_options o = { 3, 12, true };
		error("--fail-on-leak: %lld byte(s) in %lld allocation(s) in use at exit%s, "
		      "over the limit of %llu%s; the largest:", (long long)r.bytes,
		      (long long)r.objects, r.suppressed_stacks ? " after suppressions" : "",
		      (unsigned long long)limit,
		      r.period > 1 ? " (estimated: sampled)" : "");
		leak_report_print(stderr, &r, &o);
		fprintf(stderr, "memprof: all of it: memprof leaks%s %s\n",
			strcmp(path, "-") ? "" : " <the profile>", strcmp(path, "-") ? path : "");
	}
	leak_report_release(&r);
	return over;
}

int cmd_leaks(int argc, char **argv)
{
	struct leak_args la = { 0 };
	struct fetch_options fo = { 0, 0 };
	const char *path = NULL;
	bool print_defaults = false, only_args = false;
	int rc = 2;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (only_args || a[0] != '-' || !strcmp(a, "-")) {
			if (path) {
				error("leaks: unexpected argument '%s'", a);
				goto out_usage;
			}
			path = a;
			continue;
		}
		if (!strcmp(a, "--")) {
			only_args = true;
			continue;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage("leaks", true);
		if (!strcmp(a, "--print-default-suppressions")) {
			print_defaults = true;
			continue;
		}
		int r = fetch_args_parse("leaks", argc, argv, &i, &fo);
		if (r == 0)
			r = leak_args_parse("leaks", argc, argv, &i, &la);
		if (r < 0)
			goto out_usage;
		if (r == 0) {
			error("leaks: unknown option '%s'", a);
			goto out_usage;
		}
	}
	if (print_defaults) {
		fputs(leak_default_suppressions, stdout);
		return 0;
	}
	if (!path) {
		error("leaks: missing profile FILE");
		goto out_usage;
	}
	struct leak_suppressions *s = leak_args_suppressions(&la);
	if (!s) {
		rc = 1;
		goto out;
	}
	struct pprof_error err;
	struct profile *p = fetch_profile(path, &fo, NULL, NULL, &err);
	if (!p) {
		error("%s: %s", path, err.msg);
		rc = 1;
		goto out_supp;
	}
	struct leak_report r;
	int found = leaks_find(p, s, &r);
	if (found == -ENOENT) {
		no_inuse_error(path, p);
		rc = 1;
	} else if (found < 0) {
		error("%s: out of memory", path);
		rc = 1;
	} else {
		struct leak_print_options o = { 0, 0, false };
		leak_report_print(stdout, &r, &o);
		rc = la.fail && leaks_over(&r, la.limit) ? LEAKS_EXIT_STATUS : 0;
		leak_report_release(&r);
	}
	profile_free(p);
out_supp:
	leak_suppressions_free(s);
out:
	return rc;
out_usage:
	return usage("leaks", false);
}
