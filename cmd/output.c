/* output.c - what memprof run and memprof convert share at the end: the
 * output check made before any work, and the profile written with its
 * summary line and the report of data that was lost. */
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <dirent.h>
#include <limits.h>
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

/* ---- hints: where users get stuck, one line each on stderr --------------- */

struct hints {
	bool empty, python, stripped;	/* said already */
};

/* The Debian package that installed path, from dpkg's file lists (as
 * dpkg -S finds it, without running it); "" when none did. */
static void package_of(const char *path, char *pkg, size_t size)
{
	char alt[PATH_MAX + 8];
	pkg[0] = '\0';
	/* merged /usr: /lib/x is /usr/lib/x, and a list may name either */
	if (!strncmp(path, "/usr/", 5))
		snprintf(alt, sizeof(alt), "%s", path + 4);
	else
		snprintf(alt, sizeof(alt), "/usr%s", path);
	DIR *d = opendir("/var/lib/dpkg/info");
	struct dirent *e;
	char line[PATH_MAX + 8];
	while (d && !pkg[0] && (e = readdir(d))) {
		size_t n = strlen(e->d_name);
		if (n < 6 || strcmp(e->d_name + n - 5, ".list") != 0)
			continue;
		char list[PATH_MAX];
		snprintf(list, sizeof(list), "/var/lib/dpkg/info/%s", e->d_name);
		FILE *f = fopen(list, "re");
		while (f && fgets(line, sizeof(line), f)) {
			line[strcspn(line, "\n")] = '\0';
			if (!strcmp(line, path) || !strcmp(line, alt)) {
				/* "git.list", "libc6:amd64.list": the package's name */
				snprintf(pkg, size, "%.*s", (int)(n - 5), e->d_name);
				pkg[strcspn(pkg, ":")] = '\0';
				break;
			}
		}
		if (f)
			fclose(f);
	}
	if (d)
		closedir(d);
}

/* The file whose code without symbols made the most allocated bytes (the
 * allocating frame, past the C library's own, has no function: a [name]
 * row in top's flat column), when that is at least a tenth of them: its
 * debug symbols would name those functions. A nameless frame further up
 * (std::thread's start, say) hides no allocating function: not counted. */
static void hint_stripped(const struct profile *p, struct hints *h)
{
	int k = profile_sample_index(p, "alloc_space");
	if (h->stripped || k < 0)
		return;
	double *under = calloc(p->n_mapping + 1, sizeof(*under)), total = 0;
	for (size_t i = 0; under && i < p->n_sample; i++) {
		const struct profile_sample *s = &p->sample[i];
		total += (double)s->value[k];
		size_t j = 0;
		while (j < s->n_location && s->location[j]->n_line && s->location[j]->mapping &&
		       strstr(s->location[j]->mapping->filename, "/libc.so"))
			j++;	/* strdup, fopen: the caller is the allocating code */
		if (j == s->n_location)
			continue;
		const struct profile_location *l = s->location[j];
		/* a mapping left unsymbolized on purpose (run --no-symbolize)
		 * says it has no functions */
		if (l->n_line || !l->mapping || !l->mapping->has_functions ||
		    l->mapping->id > p->n_mapping)
			continue;
		under[l->mapping->id] += (double)s->value[k];
	}
	size_t top = 0;
	for (size_t i = 1; under && i <= p->n_mapping; i++)
		if (under[i] > under[top])
			top = i;
	const struct profile_mapping *m = NULL;
	for (size_t i = 0; top && i < p->n_mapping; i++)
		if (p->mapping[i]->id == top)
			m = p->mapping[i];
	if (m && total > 0 && under[top] >= total / 10 && m->filename[0] == '/') {
		char pkg[256], how[512] = "";
		const char *id = m->build_id;
		package_of(m->filename, pkg, sizeof(pkg));
		if (pkg[0])
			snprintf(how, sizeof(how), "apt-get install %s-dbgsym (from Debian's debug "
				 "archive), or ", pkg);
		error("hint: %.0f%% of the bytes were allocated under %s, which has no symbols "
		      "(the [%s] rows): %sput its debug file at /usr/lib/debug/.build-id/%.2s/%s.debug "
		      "(debuginfod-find debuginfo %s fetches it)", 100 * under[top] / total,
		      m->filename, strrchr(m->filename, '/') + 1, how, *id ? id : "xx",
		      strlen(id) > 2 ? id + 2 : "...", *id ? id : m->filename);
		h->stripped = true;
	}
	free(under);
}

/* A profile with no sample, a Python program whose objects pymalloc hides,
 * a stripped program: what to do about it. */
static void give_hints(struct collector *c, const struct profile *p, bool recording,
		       struct hints *h)
{
	if (!p->n_sample && collector_stats(c)->processes && !collector_bypassed(c) && !h->empty) {
		char rate[32];
		human_bytes(rate, sizeof(rate), p->period);
		error("hint: no allocation was sampled: at --rate %s one is sampled every %s "
		      "allocated on average; try a smaller --rate (--rate 1 records every one)",
		      rate, rate);
		h->empty = true;
	}
	const char *pm = getenv("PYTHONMALLOC");
	struct collector_proc_info info;
	for (size_t i = 0; !recording && !h->python && collector_proc_info(c, i, &info); i++) {
		const char *base = strrchr(info.exe, '/');
		base = base ? base + 1 : info.exe;
		if (!strncmp(base, "python", 6) && strspn(base + 6, "0123456789.") == strlen(base + 6) &&
		    info.allocs && (!pm || strncmp(pm, "malloc", 6) != 0)) {
			error("hint: %s allocates small objects from its own arenas (pymalloc), which "
			      "hide them: run with PYTHONMALLOC=malloc to see each object", base);
			h->python = true;
		}
	}
	hint_stripped(p, h);
}

/* Builds the profile meta says, writes it to out and prints the summary
 * line (procs: how many processes it holds; more: a snapshot, the run goes
 * on). Returns the profile (the caller frees it) or NULL after printing
 * the error. */
static struct profile *write_one(struct collector *c, const char *out,
				 const struct collector_meta *meta, bool quiet, size_t procs, bool more)
{
	/* libdw's files and inflated sections go once every location is
	 * symbolized, before the samples are made and the profile encoded:
	 * memprof's high-water mark (--split's next image still wants them) */
	struct collector_meta m = *meta;
	m.close_files = !meta->one_image && !more;
	struct profile *p = collector_profile(c, &m);
	if (!p) {
		error("out of memory building the profile");
		return NULL;
	}
	int rc = pprof_write(p, out);
	if (rc < 0) {
		error("%s: %s", out, strerror(-rc));
		profile_free(p);
		return NULL;
	}
	if (!quiet) {
		int64_t tot[4] = { 0 };
		for (size_t i = 0; i < p->n_sample; i++)
			for (int k = 0; k < 4; k++)
				tot[k] += p->sample[i].value[k];
		char a[32], b[32], peak[160];
		human_bytes(a, sizeof(a), tot[1]);
		human_bytes(b, sizeof(b), tot[3]);
		describe_peak(peak, sizeof(peak), p, procs);
		fprintf(stderr, "memprof: wrote %s: %zu samples, %s allocated in %lld blocks, "
			"%s, %s in use at exit (%zu process%s)\n",
			strcmp(out, "-") ? out : "the profile to stdout", p->n_sample, a,
			(long long)tot[0], peak, b, procs, procs == 1 ? "" : "es");
	}
	return p;
}

/* Warnings print even with --quiet. */
static void warn_all(struct collector *c, bool recording)
{
	const struct collector_stats *st = collector_stats(c);
	if (st->deepbind)
		error("warning: %s was dlopen'ed with RTLD_DEEPBIND%s: allocations made by "
		      "code it binds are not seen", st->deepbind_name,
		      st->deepbind > 1 ? " (and others)" : "");
	if (st->stale_files)
		error("warning: %s%s changed on disk since the program loaded it (another build "
		      "id): its frames are left as addresses", st->stale_name,
		      st->stale_files > 1 ? " (and others)" : "");
	if (st->pool_unknown_frees || st->pool_double_allocs || st->pool_unknown_destroys)
		error("warning: memprof.h reports that do not add up (counted, then ignored): "
		      "%llu memprof_free of blocks never reported, %llu blocks reported twice, "
		      "%llu memprof_pool_destroy of no pool",
		      (unsigned long long)st->pool_unknown_frees,
		      (unsigned long long)st->pool_double_allocs,
		      (unsigned long long)st->pool_unknown_destroys);
	report_losses(c, recording);
}

static int write_it(struct collector *c, const char *out, const char *const *comments, bool quiet,
		    bool recording, bool more, struct profile **keep, bool last)
{
	if (keep)
		*keep = NULL;
	const char *ms = getenv("MEMPROF_PROGRESS_MS");
	struct progress pr = { { 0, 0 }, ms && *ms ? atol(ms) : 1000, false };
	struct collector_meta meta = { comments, isatty(2) == 1 ? show_progress : NULL, &pr, false, 0,
				       .last = last };
	clock_gettime(CLOCK_MONOTONIC, &pr.start);
	struct profile *p = write_one(c, out, &meta, quiet, collector_distinct_pids(c), more);
	if (!p)
		return -1;
	struct hints h = { false, false, false };
	if (!quiet)
		give_hints(c, p, recording, &h);
	warn_all(c, recording);
	if (keep)
		*keep = p;
	else
		profile_free(p);
	return 0;
}

int write_profile(struct collector *c, const char *out, const char *const *comments, bool quiet,
		  bool recording, bool more, struct profile **keep)
{
	return write_it(c, out, comments, quiet, recording, more, keep, false);
}

int write_last_profile(struct collector *c, const char *out, const char *const *comments,
		       bool quiet, bool recording, struct profile **keep)
{
	return write_it(c, out, comments, quiet, recording, false, keep, true);
}

/* "memprof.cc1.1234.pb.gz" in dir for image i, with its incarnation when
 * another image of that pid ran the same program (it exec'd itself). */
static char *split_name(struct collector *c, const char *dir, size_t i,
			const struct collector_proc_info *info)
{
	const char *base = strrchr(info->exe, '/');
	base = base ? base + 1 : info->exe;
	if (!*base)
		base = "unknown";
	bool twice = false;
	struct collector_proc_info o;
	for (size_t k = 0; collector_proc_info(c, k, &o); k++) {
		const char *ob = strrchr(o.exe, '/');
		twice |= k != i && o.pid == info->pid && !strcmp(ob ? ob + 1 : o.exe, base);
	}
	char *name = NULL, inc[24] = "";
	if (twice)
		snprintf(inc, sizeof(inc), ".%u", info->incarnation);
	if (asprintf(&name, "%s%smemprof.%s.%u%s.pb.gz", dir, dir[strlen(dir) - 1] == '/' ? "" : "/",
		     base, info->pid, inc) < 0)
		return NULL;
	return name;
}

int write_split_profiles(struct collector *c, const char *dir, const char *const *comments,
			 bool quiet)
{
	const char *ms = getenv("MEMPROF_PROGRESS_MS");
	struct progress pr = { { 0, 0 }, ms && *ms ? atol(ms) : 1000, false };
	struct hints h = { false, false, false };
	struct collector_proc_info info;
	size_t written = 0;
	int rc = 0;
	for (size_t i = 0; collector_proc_info(c, i, &info); i++) {
		if (!info.allocs)
			continue;	/* nothing to show: no file */
		char *name = split_name(c, dir, i, &info), *cmd = NULL;
		if (!name || asprintf(&cmd, "command: %s", *info.cmdline ? info.cmdline
									 : info.exe) < 0) {
			error("out of memory");
			free(name);
			return -1;
		}
		/* the version, the image's own command line, then the run's */
		const char *cm[8] = { comments && comments[0] ? comments[0] : "", cmd, NULL };
		char *run = NULL;
		if (comments && comments[0] && comments[1] && !strncmp(comments[1], "command: ", 9) &&
		    strcmp(comments[1] + 9, info.cmdline) &&
		    asprintf(&run, "run: %s", comments[1] + 9) >= 0)
			cm[2] = run;
		struct collector_meta meta = { cm, isatty(2) == 1 ? show_progress : NULL, &pr, true, i,
					       .last = false };
		clock_gettime(CLOCK_MONOTONIC, &pr.start);
		struct profile *p = write_one(c, name, &meta, quiet, 1, false);
		if (p && !quiet)
			give_hints(c, p, false, &h);
		rc |= p ? 0 : -1;
		written += p != NULL;
		profile_free(p);
		free(name);
		free(cmd);
		free(run);
	}
	if (!written && !rc)
		error("--split: no process allocated anything: no profile written");
	warn_all(c, false);
	return rc;
}
