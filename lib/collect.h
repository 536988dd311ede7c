/* collect.h - the collector: reads the tracker's record stream (see
 * lib/tracker/records.h), keeps each process's module map, stacks and live
 * sampled blocks, and turns it all into a symbolized heap profile. */
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
	uint64_t bad_batches;		/* batches that were not well formed */
	uint64_t lost;			/* records the trackers could not make */
	uint64_t truncated_stacks;	/* stacks deeper than the tracker keeps */
	uint64_t deepbind;		/* libraries dlopen'ed with RTLD_DEEPBIND */
	const char *deepbind_name;	/* the first of them */
};

/* Returns a new collector, or NULL when out of memory. */
struct collector *collector_new(void);
void collector_free(struct collector *c);

/* Feeds one batch (header and records). Returns 0, or -EINVAL when the
 * batch is malformed (it is counted and skipped), -ENOMEM. */
int collector_feed(struct collector *c, const void *batch, size_t len);

/* Feeds a standalone recording: batches one after another. Returns 0 or
 * -EINVAL (message in err) when the data is not a recording. */
int collector_feed_recording(struct collector *c, const void *data, size_t len,
			     char *err, size_t errlen);

const struct collector_stats *collector_stats(const struct collector *c);

/* True when processes started but no allocation of theirs ever reached the
 * tracker: the program's allocator is linked into it, out of reach. */
bool collector_bypassed(const struct collector *c);

struct collector_meta {
	const char *const *comments;	/* NULL-terminated, may be NULL */
	/* Called now and then while symbolizing (done of total locations;
	 * done == total at the end); may be NULL. */
	void (*progress)(size_t done, size_t total, void *data);
	void *progress_data;
};

/* Builds the heap profile of everything fed so far: symbolized, values
 * scaled by Go's formula. Returns NULL when out of memory. */
struct profile *collector_profile(struct collector *c, const struct collector_meta *meta);

#endif
