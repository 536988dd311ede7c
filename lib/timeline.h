/* timeline.h - the heap over time: for each process, on one grid of
 * equal intervals shared by the whole run, the estimated heap in use, the
 * estimated bytes allocated, and the resident set size; and when its heap
 * in use was highest. The collector keeps it (at most TIMELINE_MAX_POINTS
 * intervals: when the grid is full, neighbours merge and the interval
 * doubles); the profile carries it in a field of its own that pprof skips
 * (see pprof.c), so `go tool pprof` reads the file unchanged. */
#ifndef MEMPROF_TIMELINE_H
#define MEMPROF_TIMELINE_H

#include <stddef.h>
#include <stdint.h>

#define TIMELINE_MAX_POINTS 2048
/* the most series a profile's timeline may hold (processes that allocated;
 * a reader refuses more: each costs memory out of proportion to its bytes) */
#define TIMELINE_MAX_SERIES 65536

struct timeline_series {
	uint32_t pid;
	const char *exe;	/* the program the process ran ("" if unknown) */
	uint64_t first;		/* grid index of points[0] */
	size_t n;		/* points: grid intervals first .. first + n - 1 */
	/* Per interval, estimated like inuse_space and alloc_space: */
	int64_t *inuse;		/* the highest heap in use during the interval */
	int64_t *allocated;	/* bytes allocated during the interval */
	int64_t *rss;		/* the highest RSS seen in the interval; -1: unknown */
	/* The peak (the peak_space columns of the profile hold what was live
	 * then): bytes in use, and when (ns since the timeline's start; -1
	 * when the run had no clock, as a recording converted later). */
	int64_t peak_bytes;
	int64_t peak_ns;
};

struct timeline {
	int64_t start_ns;	/* wall clock (ns since the epoch) of grid index 0 */
	int64_t interval_ns;	/* width of one grid interval */
	size_t n_series;
	struct timeline_series *series;
};

/* The Profile field that holds it: far above pprof's own (1-14). */
#define TIMELINE_FIELD 1000

struct profile;

/* The timeline as a protobuf field (tag, length and message) to append to
 * an encoded Profile. Returns 0 and a malloc'd *out, or -ENOMEM. */
int timeline_encode(const struct timeline *t, uint8_t **out, size_t *len);

/* Reads the message of field TIMELINE_FIELD (data[0..len), without tag and
 * length) into p->timeline, allocated in p's arena. Returns NULL, or why
 * it is malformed (then p->timeline is unchanged). */
const char *timeline_decode(const uint8_t *data, size_t len, struct profile *p);

#endif
