/* collect.h - the collector: takes the tracker's records (see
 * lib/tracker/records.h) from rings, batches or a recording, keeps each
 * process's module map, stacks and live sampled blocks, and turns it all
 * into a symbolized heap profile (collect_profile.c). */
#ifndef MEMPROF_COLLECT_H
#define MEMPROF_COLLECT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct collector;
struct profile;

struct collector_stats {
	size_t processes;		/* process images that sent REC_START */
	uint64_t allocs, frees;		/* sampled events received */
	uint64_t unknown_frees;		/* frees of blocks never seen allocated */
	uint64_t live_reallocs;		/* allocations at an address still live: a free
					 * not seen (lost, or fed out of order) */
	uint64_t bad_batches;		/* batches or ring spans that were not well formed */
	uint64_t lost;			/* events the trackers could not record */
	uint64_t truncated_stacks;	/* stacks deeper than the tracker keeps */
	uint64_t deepbind;		/* libraries dlopen'ed with RTLD_DEEPBIND */
	const char *deepbind_name;	/* the first of them */
	uint64_t symbolized;		/* addresses asked of the symbolizer: each (build id,
					 * address) once, whatever the processes and profiles */
	uint64_t warmed;		/* of which: by collector_warm's thread */
	uint64_t warm_cpu_ns;		/* the CPU time that thread took, as last known */
	uint64_t stale_files;		/* files whose build id changed since they were loaded */
	const char *stale_name;		/* the first of them */
	uint64_t mmaps;			/* sampled mappings received (--mmap) */
	uint64_t pool_allocs, pool_frees;	/* custom allocators' reports received */
	uint64_t pool_unknown_frees;	/* memprof_free of blocks never reported */
	uint64_t pool_double_allocs;	/* blocks reported twice without a free */
	uint64_t pool_unknown_destroys;	/* memprof_pool_destroy of no pool */
	uint64_t ring_waits;		/* times a program found its ring full and
					 * waited for memprof to read (ring.c) */
	uint64_t thread_events;		/* allocations and frees taken from
					 * per-thread rings (ring.c) */
};

/* Returns a new collector, or NULL when out of memory. */
struct collector *collector_new(void);
void collector_free(struct collector *c);

/* The run tracks anonymous mappings (memprof run --mmap): the profile has
 * the mmap_* sample types even when no mapping was sampled. */
void collector_want_mmap(struct collector *c);

/* Feeds the records data[0..len) of process image (pid, incarnation): whole
 * records, as a ring holds them. Returns 0; -EINVAL when a record is
 * malformed (the records before it are taken, the rest are counted and
 * skipped); -ENOMEM. *used gets the bytes taken (may be NULL). */
int collector_feed_records(struct collector *c, uint32_t pid, uint32_t incarnation,
			   const void *data, size_t len, size_t *used);

/* An allocation (REC_ALLOC) or a free (REC_FREE) of a per-thread ring's,
 * decoded (lib/ring.c merges them in time order). */
struct feed_event {
	uint64_t addr, size;
	uint32_t stack;
	uint8_t type;	/* REC_ALLOC or REC_FREE */
};

/* Feeds ev[0..n) of process image (pid, incarnation) as
 * collector_feed_records would feed them encoded, without the encoding.
 * Returns 0, -EINVAL (a stack never sent: counted), -ENOMEM, -EPIPE (the
 * collector has written its last profile). */
int collector_feed_events(struct collector *c, uint32_t pid, uint32_t incarnation,
			  const struct feed_event *ev, size_t n);

/* Feeds one batch (header and records), as a recording holds them.
 * Returns 0, -EINVAL (malformed: counted) or -ENOMEM. */
int collector_feed(struct collector *c, const void *batch, size_t len);

/* Feeds a standalone recording (file header, then batches). Returns 0, or
 * -EINVAL with a message in err when the data is not a recording.
 * A recording whose last batch is cut short gives its complete batches and
 * a warning in warn (warn[0] == 0 when there is none). */
int collector_feed_recording(struct collector *c, const void *data, size_t len,
			     char *err, size_t errlen, char *warn, size_t warnlen);

/* Process image (pid, incarnation) could not record n events, for reason
 * why (enum rec_lost in records.h), as its ring says. */
void collector_add_lost(struct collector *c, uint32_t pid, uint32_t incarnation, int why,
			uint64_t n);

/* A process image waited for memprof to read its full ring. */
void collector_add_ring_wait(struct collector *c);

/* n allocations and frees were taken from per-thread rings (not the
 * shared ring's timed records, merged with them). */
void collector_add_thread_events(struct collector *c, uint64_t n);

/* memprof saw process pid go away at time_ns (wall clock): its last image
 * ends then if it did not say so itself. */
void collector_process_gone(struct collector *c, uint32_t pid, uint64_t time_ns);

/* The run as memprof saw it (wall clock, ns): the profile's time and
 * duration. Without it, they come from the records. */
void collector_set_span(struct collector *c, uint64_t start_ns, uint64_t end_ns);

/* The collector's clock, for the timeline and when the peak was: records
 * fed after this are taken to happen at now_ns (wall clock, ns). Call it
 * often (memprof run does before each time it reads the rings); without
 * it there is no timeline. Returns true when now_ns starts a new interval
 * of the timeline: the time to note each process's RSS. */
bool collector_tick(struct collector *c, uint64_t now_ns);

/* The resident set size of process pid now (bytes), for the timeline. */
void collector_note_rss(struct collector *c, uint32_t pid, int64_t rss);

/* Whether profiles are symbolized (the default). Off, they hold build ids
 * and addresses only (mappings with their build ids, locations with their
 * addresses, no functions, has_functions false) for `memprof symbolize`
 * to fill in where the debug files are. */
void collector_set_symbolize(struct collector *c, bool on);

const struct collector_stats *collector_stats(const struct collector *c);

/* True when processes started but no allocation of theirs ever reached the
 * tracker: the program's allocator is linked into it, out of reach. */
bool collector_bypassed(const struct collector *c);

/* How many processes (not images: an exec keeps the pid) sent anything. */
size_t collector_distinct_pids(const struct collector *c);


/* What became of each process image: for the report of lost data, and for
 * memprof run --split (a profile per image). */
struct collector_proc_info {
	uint32_t pid, incarnation;
	const char *exe;
	const char *cmdline;	/* "" if unknown */
	uint64_t allocs;	/* sampled allocations it made */
	bool ended;		/* sent its END (or exec'd) */
	bool gone;		/* memprof saw the process go */
	uint64_t lost;		/* events its tracker could not record */
	uint64_t lost_collector;	/* of which: after it stopped recording */
	uint64_t bad_records;
	bool sampling;		/* sampling is on (see REC_SAMPLING) */
	uint64_t start_ns;	/* as its tracker said (wall clock) */
	/* memprof agent: collected since then only (0: from the start), the
	 * collector having been away since away_since_ns, away_lost records lost */
	uint64_t partial_since_ns, away_since_ns, away_lost;
};
/* Fills *info for image i (0 <= i < n); returns false past the last. */
bool collector_proc_info(const struct collector *c, size_t i, struct collector_proc_info *info);

struct collector_meta {
	const char *const *comments;	/* NULL-terminated, may be NULL */
	/* Called now and then while symbolizing (done of total locations;
	 * done == total at the end); may be NULL. */
	void (*progress)(size_t done, size_t total, void *data);
	void *progress_data;
	/* Only process image image_index (as collector_proc_info numbers
	 * them) when one_image: memprof run --split. */
	bool one_image;
	size_t image_index;
	/* pid labels even on the samples of one process (memprof agent merges
	 * the profiles of several collectors) */
	bool pid_labels;
	/* Let go of the symbolizer's files (collector_close_files) once every
	 * location is symbolized, before the samples are made: memprof's
	 * high-water mark when the profile is big. */
	bool close_files;
	/* The collector's last profile (memprof run's or convert's, written
	 * at the end): its stacks and buckets are let go as the samples are
	 * made, so that both are never held in full at once. Afterwards the
	 * collector builds no profile and takes no records (NULL, -EPIPE);
	 * collector_stats, collector_proc_info and collector_free still
	 * work. */
	bool last;
	/* Only the images of process one_pid when non-zero (?pid= of
	 * memprof run --http and the agent): its samples, its mappings, its
	 * programs and comments, its span. */
	uint32_t one_pid;
};

/* Builds the heap profile of everything fed so far (or of one image, see
 * collector_meta): symbolized, values scaled by Go's formula. Every sample
 * carries the string labels program (the executable's base name) and exe
 * (its path); when the profile holds several processes, also pid and
 * cmdline. mapping[0] is the executable of the program that allocated the
 * most bytes, and when there were several programs a comment says each
 * one's share. Mappings of one file in several processes are one mapping
 * (pprof's merge: same build id, or file when there is none, size and
 * offset). Returns NULL when out of memory. */
struct profile *collector_profile(struct collector *c, const struct collector_meta *meta);

/* Symbolizes, in a thread of its own, the return addresses fed so far
 * that no profile has (in the files their processes loaded, still on disk:
 * see collect_warm.c), WARM_BATCH at a time, so that the profile written at
 * the end finds them done; the profiles are the same with or without it.
 * For memprof run to call while it waits for the program with a core to
 * spare; it does not wait: it keeps the answers of the batch done, if the
 * thread has finished it, and hands it the next. Returns how many
 * addresses it handed out (0: none, or the thread is busy), or -ENOMEM. */
int collector_warm(struct collector *c);

/* Called at every step of the run while warming: past WARM_MAX_PCS
 * distinct addresses (collect_warm.c), ends the thread, lets go of its
 * files and returns -ENOSPC (no more warming); else 0. */
int collector_warm_enough(struct collector *c);

/* Waits for collector_warm's batch, if one is under way, keeps its answers
 * and ends its thread (a later collector_warm starts another). */
void collector_warm_end(struct collector *c);

/* Lets go of the symbolizer's open files (libdw's handles, the debug
 * sections it inflated: ~10 MB for libc's); what it answered stays, so a
 * later profile of the same stacks still costs no symbolizing. For a
 * caller about to encode a big profile (memprof run writing one), not for
 * one that profiles again every few seconds with new stacks. */
void collector_close_files(struct collector *c);

#endif
