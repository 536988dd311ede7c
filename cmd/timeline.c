/* timeline.c - memprof timeline: the heap over time that memprof run kept
 * (lib/timeline.h), as tab-separated columns for a plot or a script. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/profile.h"
#include "lib/timeline.h"
#include "lib/units.h"
#include "memprof.h"

static void print_series(const struct timeline *t, const struct timeline_series *s)
{
	for (size_t k = 0; k < s->n; k++) {
		double when = (double)((s->first + k) * (uint64_t)t->interval_ns) / 1e9;
		printf("%.3f\t%" PRIu32 "\t%" PRId64 "\t%" PRId64 "\t", when, s->pid, s->inuse[k],
		       s->allocated[k]);
		if (s->rss[k] >= 0)
			printf("%" PRId64 "\n", s->rss[k]);
		else
			printf("-\n");
	}
}

int cmd_timeline(int argc, char **argv)
{
	const char *in = NULL;
	struct fetch_options fo = { 0, 0 };
	long pid = -1;
	for (int i = 1; i < argc; i++) {
		char *end;
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage("timeline", true);
		int taken = fetch_args_parse("timeline", argc, argv, &i, &fo);
		if (taken < 0)
			return usage("timeline", false);
		if (taken)
			continue;
		if (!strncmp(argv[i], "--pid=", 6)) {
			pid = strtol(argv[i] + 6, &end, 10);
			if (end == argv[i] + 6 || *end || pid < 0 || pid > UINT32_MAX) {
				error("timeline: --pid wants a process id, not '%s'", argv[i] + 6);
				return usage("timeline", false);
			}
		} else if (argv[i][0] == '-' || in) {
			error("timeline: unexpected argument '%s'", argv[i]);
			return usage("timeline", false);
		} else {
			in = argv[i];
		}
	}
	if (!in) {
		error("timeline: missing PROFILE");
		return usage("timeline", false);
	}
	struct pprof_error err;
	struct profile *p = fetch_profile(in, &fo, NULL, NULL, &err);
	if (!p) {
		error("%s: %s", in, err.msg);
		return 1;
	}
	const struct timeline *t = p->timeline;
	if (!t && p->timeline_error) {
		error("%s: its timeline is malformed (%s) and was left out", in, p->timeline_error);
		profile_free(p);
		return 1;
	}
	if (!t) {
		error("%s has no timeline (memprof run keeps one; Go's profiles, converted "
		      "recordings and pprof's rewrites have none)", in);
		profile_free(p);
		return 1;
	}
	size_t shown = 0;
	printf("# heap over time: %.3f s intervals; heap in use is the highest in each "
	       "interval, estimated like inuse_space\n", (double)t->interval_ns / 1e9);
	for (size_t i = 0; i < t->n_series; i++) {
		const struct timeline_series *s = &t->series[i];
		if (pid >= 0 && s->pid != (uint32_t)pid)
			continue;
		char b[32];
		units_label(b, sizeof(b), s->peak_bytes, "bytes", "auto");
		printf("# pid %" PRIu32 " %s: peak %s", s->pid, s->exe, b);
		if (s->peak_ns >= 0)
			printf(" at %.3f s", (double)s->peak_ns / 1e9);
		printf("\n");
		shown++;
	}
	if (pid >= 0 && !shown) {
		error("%s: no process %ld in the timeline", in, pid);
		profile_free(p);
		return 1;
	}
	printf("time_s\tpid\tinuse_bytes\tallocated_bytes\trss_bytes\n");
	for (size_t i = 0; i < t->n_series; i++)
		if (pid < 0 || t->series[i].pid == (uint32_t)pid)
			print_series(t, &t->series[i]);
	profile_free(p);
	return 0;
}
