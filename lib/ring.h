/* ring.h - memprof's side of a process image's ring (the tracker's side is
 * lib/tracker/stream.c; the layout is in lib/tracker/records.h): map the
 * memfd the image sent, feed what it wrote to the collector, free its room. */
#ifndef MEMPROF_RING_H
#define MEMPROF_RING_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct collector;
struct memprof_ring;
struct ring_queue;
struct feed_event;

struct ring_reader {
	struct memprof_ring *hdr;
	const uint8_t *data;	/* the data area, mapped twice back to back */
	size_t map_len;
	uint32_t pid, incarnation;
	bool bad;		/* the image wrote what cannot be read: ignored from now on */
	bool failed_seen;	/* the image's failed flag was counted */
	uint64_t dropped_seen;	/* of the image's dropped count */
	/* Per-thread rings (memprof run at --rate 1; records.h REC_TALLOC):
	 * their timed records are fed in time order as REC_ALLOC and
	 * REC_FREE, once none timed earlier can still come (ring.c). */
	uint8_t *threads;	/* slot k at threads + k * (header + thread_size) */
	size_t threads_len;
	uint32_t n_threads;
	uint64_t thread_size;
	uint64_t *heads;	/* the slots' heads, read before the shared ring's */
	struct ring_queue *queue;	/* the records waiting: a queue per slot, [n_threads]
					 * the shared ring's */
	size_t queued;		/* in all of them */
	uint64_t *last;		/* the last time taken from each */
	uint64_t *base;		/* each slot's last record's time as written (REC_TFREE_D's base) */
	uint64_t passed_over;	/* drains that fed all, over the bound */
	struct feed_event *feed;		/* held records encoded for the collector */
};

/* Maps the ring in memfd fd (which the caller still closes). Checks its
 * header and its seals (it must not shrink), and marks it accepted (the
 * image then waits for us when it is full). Returns 0 or a negative errno
 * (-EINVAL: not a ring). */
int ring_map(struct ring_reader *r, int fd);

/* ring_map, and with !threads refuses a ring that has per-thread rings
 * (-EPROTO) before mapping anything of it: the agent, whose trackers never
 * make them. */
int ring_map_opt(struct ring_reader *r, int fd, bool threads);

/* Feeds the records written since the last drain to c, frees their room
 * and wakes the image if it waits for room. Returns the bytes taken, or
 * -EINVAL when the ring holds something malformed (r->bad is then set),
 * -ENOMEM. */
long ring_drain(struct ring_reader *r, struct collector *c);

/* The image is gone (or memprof ends): feeds what is left, in time
 * order, over the bound. */
void ring_finish(struct ring_reader *r, struct collector *c);

void ring_unmap(struct ring_reader *r);

#endif
