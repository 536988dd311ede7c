/* collect_warm.c - symbolizing while the program runs (collector_warm).
 *
 * When the program ends, memprof run symbolizes every distinct return
 * address and writes the profile; for jq at --rate 1 that was ~55 ms after
 * a 0.7 s run, most of it libdw's first look at libc's debug file
 * (opening it, inflating its compressed sections). Meanwhile memprof's
 * collector mostly waits on a core of its own. So a thread of its own
 * looks the addresses fed so far up in the symbolizer, a batch at a time,
 * and the collector's thread takes its answers into the cache that every
 * profile reads (struct sym_cache): the end finds them done.
 *
 * The profile is the same either way. An answer is keyed as the profile
 * keys it, by (build id, address in the file), and only files that the
 * profile would symbolize in are asked: with a build id, the one the
 * process loaded, still on disk (sym_file_usable); a file keyed by its
 * path could be another one by the end. The module map an address is
 * read in is its stack's (a library closed since, and another mapped at
 * the same addresses, does not lend its names).
 *
 * A thread, not slices of the collector's own loop: libdw's first look at
 * a file cannot be cut short (~40 ms for libc's debug file, seconds for a
 * big C++ program's), and the collector must keep reading the rings
 * meanwhile, or the program waits for room in its ring.
 *
 * Its price is memory: libdw's copies of the files' debug sections (~10 MB
 * for libc's) are held while the collector's tables are still whole,
 * where the end would make them after compacting those (memprof's peak
 * RSS: docs/benchmarks.md). The files stay open all the same, until the
 * thread has had nothing to do for 2 s: closed as soon as it caught up,
 * they were opened again at the end for the program's last few addresses
 * (jq's exit path), which took the time back.
 *
 * Who holds what: the symbolizer (sc->sym) is the thread's while it has a
 * batch (w->busy), the collector's thread's otherwise; the collector's
 * thread takes it back (sym_warm_settle) before anything else uses it. The
 * thread reads nothing of the collector but the batch's jobs, whose
 * strings are the collector's interned ones (never moved nor freed before
 * collector_free). The memo is only ever touched by the collector's thread. */
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

#include "collect_impl.h"
#include "symbolize.h"

/* Addresses handed out at a time: few enough that a batch started while a
 * core was idle ends soon after the program wants it back (the lookups
 * after a file's first take microseconds to a millisecond). */
#define WARM_BATCH 256

/* Once the thread has had nothing new to do for this long, libdw's copies
 * go (see above): a long run gets its memory back, and the first touch of
 * a file again costs ~40 ms that no longer matter beside it. */
#define WARM_KEEP_FILES_NS 2000000000u

/* A run with more distinct return addresses than this has big tables
 * (stacks, frames, the memo): libdw's copies held beside them would set
 * memprof's high-water mark (100k stacks: 36 MB without warming, 39-51
 * with). Past it the thread lets go of its files and stops; the end then
 * makes what is left after compacting the tables, as without warming. */
#define WARM_MAX_PCS 20000

struct warm_job {
	const char *file, *build_id;	/* the collector's, interned; build_id never "" */
	uint64_t vaddr;
	struct sym_frame *frames;	/* the answer (malloc'd); its strings the symbolizer's */
	int n;				/* frames; -1: not looked up; -ENOMEM */
};

struct sym_warm {
	pthread_t thread;
	pthread_mutex_t lock;
	pthread_cond_t cond;
	bool busy;		/* the thread has a batch (under lock) */
	bool stop;		/* the thread is to end (under lock) */
	int cancel;		/* atomic: leave the rest of the batch */
	struct symbolizer *sym;
	struct warm_job *job;	/* the batch: the thread's while busy */
	size_t n_job;
	uint64_t cpu_ns;	/* the thread's CPU time after its last batch */
	uint64_t idle_since;	/* when it last had a batch (monotonic ns) */
};

static uint64_t clock_ns(clockid_t clock)
{
	struct timespec t;
	clock_gettime(clock, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* One job, in the thread. The file is checked again here: it is the
 * thread's symbolizer that reads it. */
static void look_up(struct sym_warm *w, struct warm_job *j)
{
	const struct sym_frame *frames;
	const char *on_disk = symbolizer_build_id(w->sym, j->file);
	j->n = -1;
	if (strcmp(on_disk, j->build_id) != 0)
		return;	/* changed since it was loaded: the profile leaves it be */
	int n = symbolizer_lookup(w->sym, j->file, j->vaddr, &frames);
	if (n > 0 && !(j->frames = malloc((size_t)n * sizeof(*frames))))
		n = -ENOMEM;
	if (n > 0)
		memcpy(j->frames, frames, (size_t)n * sizeof(*frames));
	j->n = n;
}

static void *warm_thread(void *arg)
{
	struct sym_warm *w = arg;
	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (!w->busy && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		pthread_mutex_unlock(&w->lock);
		for (size_t i = 0; i < w->n_job && !__atomic_load_n(&w->cancel, __ATOMIC_RELAXED); i++)
			look_up(w, &w->job[i]);
		uint64_t cpu = clock_ns(CLOCK_THREAD_CPUTIME_ID);
		pthread_mutex_lock(&w->lock);
		w->cpu_ns = cpu;
		w->busy = false;
		pthread_cond_broadcast(&w->cond);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* The thread, started on first use; NULL when it cannot be. Signals are
 * left to the collector's thread (they interrupt its poll). */
static struct sym_warm *warm_get(struct sym_cache *sc)
{
	if (sc->warm)
		return sc->warm;
	struct sym_warm *w = calloc(1, sizeof(*w));
	if (!w || !(w->job = calloc(WARM_BATCH, sizeof(*w->job)))) {
		free(w);
		return NULL;
	}
	w->sym = sc->sym;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	int rc = pthread_create(&w->thread, NULL, warm_thread, w);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		pthread_cond_destroy(&w->cond);
		pthread_mutex_destroy(&w->lock);
		free(w->job);
		free(w);
		return NULL;
	}
	return sc->warm = w;
}

/* Waits while the thread has a batch; under w->lock. */
static void wait_idle(struct sym_warm *w)
{
	while (w->busy)
		pthread_cond_wait(&w->cond, &w->lock);
}

/* Takes the answers of the batch done (the thread idle) into the memo. */
static void take_answers(struct collector *c, struct sym_warm *w)
{
	for (size_t i = 0; i < w->n_job; i++) {
		struct warm_job *j = &w->job[i];
		if (j->n >= 0 && sym_memo_add(c, j->build_id, j->vaddr, j->frames, j->n) > 0)
			c->stats.warmed++;
		free(j->frames);
		j->frames = NULL;
	}
	w->n_job = 0;
	c->stats.warm_cpu_ns = w->cpu_ns;
}

void sym_warm_settle(struct collector *c, bool cancel)
{
	struct sym_warm *w = c->symbols ? c->symbols->warm : NULL;
	if (!w)
		return;
	if (cancel)
		__atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&w->lock);
	wait_idle(w);
	pthread_mutex_unlock(&w->lock);
	__atomic_store_n(&w->cancel, 0, __ATOMIC_RELAXED);
	take_answers(c, w);
}

void sym_warm_free(struct sym_cache *sc)
{
	struct sym_warm *w = sc->warm;
	if (!w)
		return;
	__atomic_store_n(&w->cancel, 1, __ATOMIC_RELAXED);
	pthread_mutex_lock(&w->lock);
	wait_idle(w);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	pthread_join(w->thread, NULL);
	for (size_t i = 0; i < w->n_job; i++)
		free(w->job[i].frames);
	pthread_cond_destroy(&w->cond);
	pthread_mutex_destroy(&w->lock);
	free(w->job);
	free(w);
	sc->warm = NULL;
}

int collector_warm_enough(struct collector *c)
{
	if (c->n_pc <= WARM_MAX_PCS)
		return 0;
	if (c->symbols && c->symbols->warm) {
		sym_warm_settle(c, true);
		sym_warm_free(c->symbols);
		symbolizer_close_files(c->symbols->sym);
		malloc_trim(0);	/* the thread's arena: what libdw freed there */
	}
	return -ENOSPC;	/* no more warming in this run */
}

int collector_warm(struct collector *c)
{
	if (c->spent || c->no_symbolize ||
	    (c->warm_next >= c->n_pc && !(c->symbols && c->symbols->warm)))
		return 0;
	/* the descriptors are the session's first (a pidfd per process):
	 * not under a low limit */
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) < 0 || rl.rlim_cur < 1024)
		return 0;
	if (collector_warm_enough(c) < 0)
		return -ENOSPC;
	struct sym_cache *sc = sym_cache(c);
	struct sym_warm *w = sc ? warm_get(sc) : NULL;
	if (!w)
		return -ENOMEM;
	pthread_mutex_lock(&w->lock);
	bool busy = w->busy;
	pthread_mutex_unlock(&w->lock);
	if (busy)
		return 0;
	take_answers(c, w);
	if (symbolizer_open_files(sc->sym) >= 64)
		return 0;	/* a few dozen files at most while the program runs */
	size_t last_mod = 0;
	while (c->warm_next < c->n_pc && w->n_job < WARM_BATCH) {
		const struct c_pc *d = &c->pc[c->warm_next++];
		uint32_t mi = modmap_find(proc_modmap(c, d->proc, d->map), d->pc - 1, &last_mod);
		const struct c_mapping *cm = mi != NO_MAPPING ? &c->mapping[mi] : NULL;
		if (!cm || !cm->build_id[0])
			continue;	/* in no module; keyed by its path (see above) */
		uint64_t vaddr = d->pc - 1 - cm->bias;	/* as find_location asks */
		if (sym_memo_find(sc, cm->build_id, vaddr))
			continue;
		w->job[w->n_job++] = (struct warm_job){ cm->file, cm->build_id, vaddr, NULL, -1 };
	}
	int n = (int)w->n_job;
	uint64_t now = clock_ns(CLOCK_MONOTONIC);
	if (!n) {
		if (now - w->idle_since > WARM_KEEP_FILES_NS)
			symbolizer_close_files(sc->sym);
		return 0;
	}
	w->idle_since = now;
	pthread_mutex_lock(&w->lock);
	w->busy = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	return n;
}

void collector_warm_end(struct collector *c)
{
	if (!c->symbols || !c->symbols->warm)
		return;
	sym_warm_settle(c, false);
	sym_warm_free(c->symbols);
}
