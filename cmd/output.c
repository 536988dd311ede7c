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

struct pid_value {
	uint32_t pid;
	int64_t value;
};

static int by_pid(const void *a, const void *b)
{
	const struct pid_value *x = a, *y = b;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* "peak 64MB at 1.25 s" for the process whose heap in use was highest
 * (which one, when there were several: their peaks are per process). */
static void describe_peak(char *buf, size_t size, const struct profile *p, size_t procs)
{
	const struct timeline *t = p->timeline;
	const struct timeline_series *top = NULL;
	for (size_t i = 0; t && i < t->n_series; i++)
		if (!top || t->series[i].peak_bytes > top->peak_bytes)
			top = &t->series[i];
	int64_t bytes = 0;
	uint32_t pid = 0;
	if (top) {
		bytes = top->peak_bytes;
		pid = top->pid;
	} else {	/* no clock (a recording): the peak_space column, per pid */
		int k = profile_sample_index(p, "peak_space");
		struct pid_value *pv = k >= 0 && strcmp(p->sample_type[k].type, "peak_space") == 0
					       ? calloc(p->n_sample + 1, sizeof(*pv)) : NULL;
		for (size_t i = 0; pv && i < p->n_sample; i++) {
			pv[i].value = p->sample[i].value[k];
			for (size_t j = 0; j < p->sample[i].n_label; j++)
				if (!strcmp(p->sample[i].label[j].key, "pid"))
					pv[i].pid = (uint32_t)p->sample[i].label[j].num;
		}
		if (pv)
			qsort(pv, p->n_sample, sizeof(*pv), by_pid);
		for (size_t i = 0, j; pv && i < p->n_sample; i = j) {
			int64_t sum = 0;
			for (j = i; j < p->n_sample && pv[j].pid == pv[i].pid; j++)
				sum += pv[j].value;
			if (sum > bytes) {
				bytes = sum;
				pid = pv[i].pid;
			}
		}
		free(pv);
	}
	char b[32], when[48] = "", who[80] = "";
	human_bytes(b, sizeof(b), bytes);
	if (top && top->peak_ns >= 0)
		snprintf(when, sizeof(when), " at %.2f s", (double)top->peak_ns / 1e9);
	if (procs > 1)
		snprintf(who, sizeof(who), " in pid %u%s%s", pid, top && *top->exe ? " " : "",
			 top ? top->exe : "");
	snprintf(buf, size, "%s %s%s%s", procs > 1 ? "highest peak" : "peak", b, who, when);
}

int write_profile(struct collector *c, const char *out, const char *const *comments, bool quiet,
		  bool recording, struct profile **keep)
{
	if (keep)
		*keep = NULL;
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
		char a[32], b[32], peak[160];
		human_bytes(a, sizeof(a), tot[1]);
		human_bytes(b, sizeof(b), tot[3]);
		size_t procs = collector_distinct_pids(c);
		describe_peak(peak, sizeof(peak), p, procs);
		fprintf(stderr, "memprof: wrote %s: %zu samples, %s allocated in %lld blocks, "
			"%s, %s in use at exit (%zu process%s)\n",
			strcmp(out, "-") ? out : "the profile to stdout", p->n_sample, a,
			(long long)tot[0], peak, b, procs, procs == 1 ? "" : "es");
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
	if (keep)
		*keep = p;
	else
		profile_free(p);
	return 0;
}
