/* output.c - what memprof run and memprof convert share at the end: the
 * output check made before any work, and the profile written with its
 * summary line and the report of data that was lost. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "lib/collect.h"
#include "lib/output.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/units.h"
#include "memprof.h"

int check_output(const char *out)
{
	char why[256];
	if (output_check(out, NULL, why, sizeof(why)) == 0)
		return 0;
	error("%s: %s", *out ? out : "''", why);
	return -1;
}

static void human_bytes(char *buf, size_t size, int64_t v)
{
	units_label(buf, size, v, "bytes", "auto");
}

/* A progress line on a terminal when symbolizing takes more than a second
 * (MEMPROF_PROGRESS_MS changes the second, for the tests). */
struct progress {
	struct timespec start;
	long after_ms;
	bool shown;
};

static void show_progress(size_t done, size_t total, void *data)
{
	struct progress *pr = data;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	bool slow = (now.tv_sec - pr->start.tv_sec) * 1000 +
		    (now.tv_nsec - pr->start.tv_nsec) / 1000000 >= pr->after_ms;
	if (done < total && slow) {
		fprintf(stderr, "\rmemprof: symbolizing %zu/%zu locations", done, total);
		pr->shown = true;
	} else if (done == total && (pr->shown || slow)) {
		fprintf(stderr, "\rmemprof: symbolized %zu locations%20s\n", done, "");
	}
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Processes, not images: a pid that exec'd counts once. */
static size_t distinct_pids(const struct collector *c)
{
	struct collector_proc_info info;
	size_t n = 0, d = 0;
	while (collector_proc_info(c, n, &info))
		n++;
	uint32_t *pid = malloc((n ? n : 1) * sizeof(*pid));
	if (!pid)
		return collector_stats(c)->processes;
	for (size_t i = 0; i < n; i++) {
		collector_proc_info(c, i, &info);
		pid[i] = info.pid;
	}
	qsort(pid, n, sizeof(*pid), cmp_u32);
	for (size_t i = 0; i < n; i++)
		d += i == 0 || pid[i] != pid[i - 1];
	free(pid);
	return d;
}

/* What the trackers could not record, and (from a recording, where records
 * wait up to 100 ms in the process) the processes that ended without their
 * final flush: said per process, never silent. */
static void report_losses(struct collector *c, bool recording)
{
	const struct collector_stats *st = collector_stats(c);
	struct collector_proc_info info;
	size_t unflushed = 0;
	for (size_t i = 0; collector_proc_info(c, i, &info); i++) {
		const char *base = strrchr(info.exe, '/');
		base = base ? base + 1 : info.exe;
		if (recording && !info.ended && unflushed++ < 8)
			error("warning: pid %u (%s) ended without a final flush (killed, crashed, "
			      "or still running): up to 100 ms of its samples are missing", info.pid, base);
		if (info.lost_collector)
			error("warning: pid %u (%s) stopped recording (memprof could not be reached "
			      "or could not take its records): %llu events after that are missing",
			      info.pid, base, (unsigned long long)info.lost_collector);
		if (info.bad_records)
			error("warning: pid %u (%s) wrote records that could not be read: "
			      "its samples from then on are missing", info.pid, base);
	}
	if (unflushed > 8)
		error("warning: %zu more processes ended without a final flush", unflushed - 8);
	if (st->lost)
		error("warning: %llu events not recorded (made in signal handlers that "
		      "interrupted the tracker, or out of memory)", (unsigned long long)st->lost);
}

int write_profile(struct collector *c, const char *out, const char *const *comments, bool quiet,
		  bool recording)
{
	const char *ms = getenv("MEMPROF_PROGRESS_MS");
	struct progress pr = { { 0, 0 }, ms && *ms ? atol(ms) : 1000, false };
	struct collector_meta meta = { comments, isatty(2) == 1 ? show_progress : NULL, &pr };
	clock_gettime(CLOCK_MONOTONIC, &pr.start);
	struct profile *p = collector_profile(c, &meta);
	if (!p) {
		error("out of memory building the profile");
		return -1;
	}
	int rc = pprof_write(p, out);
	if (rc < 0) {
		error("%s: %s", out, strerror(-rc));
		profile_free(p);
		return -1;
	}
	const struct collector_stats *st = collector_stats(c);
	if (!quiet) {
		int64_t tot[4] = { 0 };
		for (size_t i = 0; i < p->n_sample; i++)
			for (int k = 0; k < 4; k++)
				tot[k] += p->sample[i].value[k];
		char a[32], b[32];
		human_bytes(a, sizeof(a), tot[1]);
		human_bytes(b, sizeof(b), tot[3]);
		size_t procs = distinct_pids(c);
		fprintf(stderr, "memprof: wrote %s: %zu samples, %s allocated in %lld blocks, "
			"%s in use at exit (%zu process%s)\n", strcmp(out, "-") ? out : "the profile to stdout",
			p->n_sample, a, (long long)tot[0], b, procs, procs == 1 ? "" : "es");
	}
	/* warnings print even with --quiet */
	if (st->deepbind)
		error("warning: %s was dlopen'ed with RTLD_DEEPBIND%s: allocations made by "
		      "code it binds are not seen", st->deepbind_name,
		      st->deepbind > 1 ? " (and others)" : "");
	if (st->stale_files)
		error("warning: %s%s changed on disk since the program loaded it (another build "
		      "id): its frames are left as addresses", st->stale_name,
		      st->stale_files > 1 ? " (and others)" : "");
	report_losses(c, recording);
	profile_free(p);
	return 0;
}
