/* ring.c - reading a process image's shared-memory ring (see ring.h). */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "collect.h"
#include "tracker/records.h"

#define RING_SIZE_MAX ((uint64_t)256 << 20)

/* ---- per-thread rings ---------------------------------------------------------------

   The image's threads write REC_TALLOC/REC_TFREE records, timed by
   CLOCK_MONOTONIC, to rings of their own (lib/tracker/stream.c; a free
   close after the record before it is a REC_TFREE_D timed from it, and
   a REC_TPAD fills a ring's last 16 bytes when a 32-byte record would not
   fit there: rec_put_thread in records.h); a thread
   without one writes them to the shared ring. They are fed to the
   collector in time order: a free before the allocation that reused its
   address in another thread.

   What must come first is out first: the tracker publishes a free's
   record before the real free, and an allocation's before the program has
   the block (so before anyone can free it). A record whose thread has
   taken its time and not published it yet (preempted in between) is
   needed by nothing published, and may be fed after records timed later.

   A drain takes every record the rings hold into queues here (a queue a
   ring, [n_threads] the shared ring's), frees their room, and feeds the
   queued records timed before the bound: the earliest time among the
   records each ring gave in this drain. A record fed so came from an
   earlier drain (its own ring's new records are timed at the bound or
   after); whatever it needs was published before it, so before this
   drain began, and is queued by now, timed earlier: fed before it. The
   rest waits for the next drain, one drain's worth.

   A ring's times never go back: a record timed before the last one taken
   from its slot is taken as timed like it (a legitimate ring is in time
   order, slots handed from thread to thread included: the clock is one).
   A ring whose times stand still (hostile) can still hold the bound back;
   when more than QUEUE_OLD_MAX records taken by earlier drains are left
   after a merge, everything is fed, and a pass-over counted. A queue
   emptied with room for more than a drain's worth gives its memory back.
   So memprof holds at most about a drain's worth and QUEUE_OLD_MAX. */

#define QUEUE_OLD_MAX ((size_t)1 << 18)	/* records left from earlier drains: 8 MiB */
#define QUEUE_KEEP ((size_t)1 << 16)	/* capacity a queue keeps when empty */

struct ring_trec {
	uint64_t time;
	struct feed_event ev;
};
#define FEED_EVENTS 2048

/* One source's records waiting to be fed, in the order it wrote them. */
struct ring_queue {
	struct ring_trec *q;
	size_t head, len, cap;	/* cap: 0 or a power of two */
};

#define THREAD_SLOTS_MAX 1024
#define THREAD_SIZE_MAX ((uint64_t)16 << 20)

static int map_threads(struct ring_reader *r, int fd, const struct memprof_ring *h,
		       uint64_t file_size)
{
	uint64_t n = h->thread_slots, size = h->thread_size;
	if (!n)
		return 0;
	uint64_t stride = MEMPROF_THREAD_RING_HEADER + size;
	if (n > THREAD_SLOTS_MAX || size < 4096 || size > THREAD_SIZE_MAX || (size & (size - 1)) ||
	    h->threads_offset != h->data_offset + h->size || h->threads_offset > file_size ||
	    (file_size - h->threads_offset) / stride < n)
		return -EINVAL;
	void *t = mmap(NULL, (size_t)(n * stride), PROT_READ | PROT_WRITE, MAP_SHARED, fd,
		       (off_t)h->threads_offset);
	if (t == MAP_FAILED)
		return -errno;
	r->threads = t;
	r->threads_len = (size_t)(n * stride);
	r->n_threads = (uint32_t)n;
	r->thread_size = size;
	r->heads = calloc((size_t)n, sizeof(*r->heads));
	r->queue = calloc((size_t)n + 1, sizeof(*r->queue));	/* [n]: the shared ring's */
	r->last = calloc((size_t)n + 1, sizeof(*r->last));
	r->base = calloc((size_t)n, sizeof(*r->base));
	return r->heads && r->queue && r->last && r->base ? 0 : -ENOMEM;
}

static inline struct memprof_thread_ring *thread_header(const struct ring_reader *r, uint32_t k)
{
	return (void *)(r->threads + (size_t)k * (MEMPROF_THREAD_RING_HEADER + r->thread_size));
}

/* Room for n more records at the end of q: what is left moved to the
 * front when that frees at least as much room as it moves (a drain feeds
 * most of what the one before took: each record is moved about once),
 * else grown. */
static int queue_room(struct ring_queue *q, size_t n)
{
	if (q->head + q->len + n <= q->cap)
		return 0;
	if (q->head && q->head >= q->len) {
		memmove(q->q, q->q + q->head, q->len * sizeof(*q->q));
		q->head = 0;
		if (q->len + n <= q->cap)
			return 0;
	}
	size_t cap = q->cap ? q->cap : 1024;
	while (cap < q->head + q->len + n)
		cap *= 2;
	struct ring_trec *t = realloc(q->q, cap * sizeof(*t));
	if (!t)
		return -ENOMEM;
	q->q = t;
	q->cap = cap;
	return 0;
}

static inline void queue_put(struct ring_queue *q, const struct ring_trec *t)
{
	q->q[q->head + q->len++] = *t;
}

/* Queues emptied give back what they hold beyond a drain's worth. */
static void queues_trim(struct ring_reader *r)
{
	for (uint32_t k = 0; k <= r->n_threads; k++) {
		struct ring_queue *q = &r->queue[k];
		if (!q->len && q->cap > QUEUE_KEEP) {
			free(q->q);
			q->q = NULL;
			q->cap = q->head = 0;
		}
	}
}

static void queues_free(struct ring_reader *r)
{
	if (r->queue)
		for (uint32_t k = 0; k <= r->n_threads; k++)
			free(r->queue[k].q);
	free(r->queue);
	free(r->last);
	free(r->base);
	r->queue = NULL;
	r->last = NULL;
	r->base = NULL;
	r->queued = 0;
}

/* The shared ring's bytes: timed records queued (in time order: they are
 * written under the image's lock; *first lowered to the first's time),
 * the rest fed in runs. Sets *used to what was taken (all but what the
 * collector could not). */
static int feed_shared(struct ring_reader *r, struct collector *c, const uint8_t *data, size_t len,
		       size_t *used, uint64_t *first)
{
	struct rec_reader rd = { data, data + len, false };
	struct ring_queue *q = &r->queue[r->n_threads];
	const uint8_t *run = data;
	struct rec rec;
	int rc = 0;
	*used = 0;
	for (;;) {
		const uint8_t *at = rd.p;
		bool more = rec_next(&rd, &rec);
		if (more && rec.type != REC_TALLOC && rec.type != REC_TFREE)
			continue;
		/* a timed record, the end, or what cannot be read: the run
		 * before it goes to the collector as it is */
		if (at > run) {
			size_t took = 0;
			rc = collector_feed_records(c, r->pid, r->incarnation, run, (size_t)(at - run), &took);
			*used = (size_t)(run - data) + took;
			if (rc < 0)
				return rc;
		}
		if (!more) {
			if (rd.bad) {	/* malformed: as the collector says it */
				size_t took = 0;
				rc = collector_feed_records(c, r->pid, r->incarnation, at,
							    (size_t)(data + len - at), &took);
				*used = (size_t)(at - data) + took;
				return rc < 0 ? rc : -EINVAL;
			}
			return 0;
		}
		if (queue_room(q, 1) < 0)
			return -ENOMEM;
		uint64_t time = rec.u.t.time == UINT64_MAX ? UINT64_MAX - 1 : rec.u.t.time;
		if (time < r->last[r->n_threads])	/* never back (above) */
			time = r->last[r->n_threads];
		r->last[r->n_threads] = time;
		if (time < *first)
			*first = time;
		queue_put(q, &(struct ring_trec){ time,
						 { rec.u.t.addr, rec.u.t.size, rec.u.t.stack,
						   rec.type == REC_TALLOC ? REC_ALLOC : REC_FREE } });
		r->queued++;
		run = rd.p;
		*used = (size_t)(run - data);
	}
}

/* Takes thread ring k's records, from the tail (ours to write, but in
 * memory the image can write too: checked) to the head read, into its
 * queue (counted in c's stats), and frees their room; *first: the time
 * of the first, if any.
 * Whole records only, so no read runs past the slot; no more than a
 * slot's worth; each a timed one (a REC_TFREE_D timed from the one before
 * it in the ring: r->base, kept from drain to drain) or a pad. */
static int take_thread(struct ring_reader *r, struct collector *c, uint32_t k, uint64_t *first)
{
	struct memprof_thread_ring *h = thread_header(r, k);
	struct ring_queue *q = &r->queue[k];
	uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_RELAXED), head = r->heads[k];
	if (head - tail > r->thread_size || tail % REC_TD_LEN || head % REC_TD_LEN)
		return -EINVAL;
	if (head == tail)
		return 0;
	if (queue_room(q, (size_t)((head - tail) / REC_TD_LEN)) < 0)
		return -ENOMEM;
	const uint8_t *data = (const uint8_t *)h + MEMPROF_THREAD_RING_HEADER;
	/* written through a local: a store to a record could be one to the
	 * queue's counts, for the compiler, and would reload them each time */
	struct ring_trec *out = q->q + q->head + q->len, *at = out;
	uint64_t last = r->last[k], base = r->base[k], mask = r->thread_size - 1;
	while (tail != head) {
		uint64_t off = tail & mask, time;
		uint8_t b[REC_T_LEN];	/* the layout of rec_put_thread, copied out once */
		memcpy(b, data + off, REC_TD_LEN);
		if (b[0] == REC_TFREE_D) {
			uint32_t delta;
			memcpy(&delta, b + 4, 4);
			time = base + delta;
			out->ev.type = REC_FREE;
			out->ev.stack = 0;
			memcpy(&out->ev.addr, b + 8, 8);
			out->ev.size = 0;
			tail += REC_TD_LEN;
		} else if (b[0] == REC_TALLOC || b[0] == REC_TFREE) {
			if (head - tail < REC_T_LEN || off > mask + 1 - REC_T_LEN)
				return -EINVAL;
			memcpy(b + REC_TD_LEN, data + off + REC_TD_LEN, REC_T_LEN - REC_TD_LEN);
			memcpy(&time, b + 8, 8);
			out->ev.type = b[0] == REC_TALLOC ? REC_ALLOC : REC_FREE;
			memcpy(&out->ev.stack, b + 4, 4);
			memcpy(&out->ev.addr, b + 16, 8);
			memcpy(&out->ev.size, b + 24, 8);
			tail += REC_T_LEN;
		} else if (b[0] == REC_TPAD && off == mask + 1 - REC_TD_LEN) {
			tail += REC_TD_LEN;
			continue;
		} else {
			return -EINVAL;
		}
		base = time;
		if (time == UINT64_MAX)	/* UINT64_MAX is merge's "all" */
			time--;
		if (time < last)	/* never back (above) */
			time = last;
		last = time;
		out->time = time;
		out++;
	}
	size_t n = (size_t)(out - at);
	q->len += n;
	r->queued += n;
	collector_add_thread_events(c, n);
	r->last[k] = last;
	r->base[k] = base;
	if (n && at->time < *first)
		*first = at->time;
	__atomic_store_n(&h->tail, head, __ATOMIC_RELEASE);
	return 0;
}

static int feed_out(struct ring_reader *r, struct collector *c, size_t n)
{
	int rc = collector_feed_events(c, r->pid, r->incarnation, r->feed, n);
	return rc == -EPIPE ? 0 : rc;	/* a collector that has written its profile */
}

/* Feeds the queued records timed before bound (all of them: UINT64_MAX)
 * in time order. A tie goes to the lower queue: any order is right then
 * (two records of one address are never timed alike: a cache line passes
 * between the two threads' cores in between). */
static int merge(struct ring_reader *r, struct collector *c, uint64_t bound)
{
	uint32_t active[THREAD_SLOTS_MAX + 1], n = 0;
	size_t len = 0;
	int rc = 0;
	if (!r->feed && !(r->feed = malloc(FEED_EVENTS * sizeof(*r->feed))))
		return -ENOMEM;
	for (uint32_t k = 0; k <= r->n_threads; k++)
		if (r->queue[k].len)
			active[n++] = k;
	while (n) {
		/* the earliest front, and the time of the next earliest: a run
		 * of the first queue goes out up to it */
		uint32_t at = n;
		uint64_t t = bound, next = bound;
		for (uint32_t i = 0; i < n; i++) {
			const struct ring_queue *q = &r->queue[active[i]];
			uint64_t ti = q->q[q->head].time;
			if (ti < t) {
				next = t;
				t = ti;
				at = i;
			} else if (ti < next) {
				next = ti;
			}
		}
		if (at == n)
			break;	/* the rest: at the bound or after */
		struct ring_queue *q = &r->queue[active[at]];
		const struct ring_trec *e = q->q + q->head, *end = e + q->len;
		size_t room = FEED_EVENTS - len;
		do
			r->feed[len++] = (e++)->ev;
		while (e < end && e->time < next && --room);
		size_t took = (size_t)(e - (q->q + q->head));
		q->head += took;
		q->len -= took;
		r->queued -= took;
		if (!q->len) {
			q->head = 0;
			active[at] = active[--n];
		}
		if (len == FEED_EVENTS) {
			if ((rc = feed_out(r, c, len)) < 0)
				return rc;
			len = 0;
		}
	}
	if (len)
		rc = feed_out(r, c, len);
	return rc;
}

void ring_finish(struct ring_reader *r, struct collector *c)
{
	if (!r->hdr || r->bad || !c || !r->queue)
		return;
	uint64_t first = UINT64_MAX;
	for (uint32_t k = 0; k < r->n_threads; k++) {
		r->heads[k] = __atomic_load_n(&thread_header(r, k)->head, __ATOMIC_ACQUIRE);
		if (take_thread(r, c, k, &first) < 0)
			return;
	}
	merge(r, c, UINT64_MAX);
}

int ring_map(struct ring_reader *r, int fd)
{
	return ring_map_opt(r, fd, true);
}

int ring_map_opt(struct ring_reader *r, int fd, bool threads)
{
	struct memprof_ring h;
	struct stat st;
	memset(r, 0, sizeof(*r));
	if (fstat(fd, &st) < 0)
		return -errno;
	/* sealed against shrinking: a sender that truncated a mapped ring
	 * would kill memprof with SIGBUS */
	int seals = fcntl(fd, F_GET_SEALS);
	if (!S_ISREG(st.st_mode) || st.st_size < (off_t)sizeof(h) || seals < 0 ||
	    !(seals & F_SEAL_SHRINK) || pread(fd, &h, sizeof(h), 0) != (ssize_t)sizeof(h))
		return -EINVAL;
	uint64_t size = h.size, off = h.data_offset;
	if (h.magic != MEMPROF_RING_MAGIC || h.version != MEMPROF_VERSION_RECORDS ||
	    size < 4096 || size > RING_SIZE_MAX || (size & (size - 1)) ||
	    off != MEMPROF_RING_DATA_OFFSET || (uint64_t)st.st_size < off + size)
		return -EINVAL;
	if (h.thread_slots && !threads)
		return -EPROTO;
	size_t len = (size_t)(off + 2 * size);
	uint8_t *base = mmap(NULL, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (base == MAP_FAILED)
		return -errno;
	if (mmap(base, (size_t)(off + size), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) ==
		    MAP_FAILED ||
	    mmap(base + off + size, (size_t)size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 (off_t)off) == MAP_FAILED) {
		int e = errno;
		munmap(base, len);
		return -e;
	}
	r->hdr = (void *)base;
	r->data = base + off;
	r->map_len = len;
	r->pid = h.pid;
	r->incarnation = h.incarnation;
	int rc = map_threads(r, fd, &h, (uint64_t)st.st_size);
	if (rc < 0) {
		ring_unmap(r);
		return rc;
	}
	__atomic_store_n(&r->hdr->accepted, 1, __ATOMIC_RELEASE);
	return 0;
}

/* Wakes the image if it waits for room; counted, as the one way the
 * program can wait for memprof (e.g. while it serves a scrape). */
static void wake_producer(struct memprof_ring *h, struct collector *c)
{
	__atomic_store_n(&h->kicked, 0, __ATOMIC_RELAXED);
	if (__atomic_exchange_n(&h->waiting, 0, __ATOMIC_SEQ_CST)) {
		collector_add_ring_wait(c);
		__atomic_add_fetch(&h->wake, 1, __ATOMIC_RELEASE);
		syscall(SYS_futex, &h->wake, FUTEX_WAKE, INT_MAX, NULL, NULL, 0);
	}
}

/* What the image could not write once it stopped recording: counted as
 * lost, per process. */
static void note_dropped(struct ring_reader *r, struct collector *c)
{
	uint64_t d = __atomic_load_n(&r->hdr->dropped, __ATOMIC_ACQUIRE);
	uint32_t failed = __atomic_load_n(&r->hdr->failed, __ATOMIC_ACQUIRE);
	if (failed && !r->failed_seen) {
		r->failed_seen = true;
		d++;	/* the record that failed */
	}
	if (d > r->dropped_seen) {
		collector_add_lost(c, r->pid, r->incarnation, LOST_COLLECTOR, d - r->dropped_seen);
		r->dropped_seen = d;
	}
}

/* Unreadable from here on: every ring's room is freed, so the image never
 * waits for us, and what it writes is dropped (reported). */
static void give_up(struct ring_reader *r, uint64_t head)
{
	r->bad = true;
	__atomic_store_n(&r->hdr->tail, head, __ATOMIC_RELEASE);
	for (uint32_t k = 0; k < r->n_threads; k++) {
		struct memprof_thread_ring *t = thread_header(r, k);
		__atomic_store_n(&t->tail, __atomic_load_n(&t->head, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
	}
	queues_free(r);
}

long ring_drain(struct ring_reader *r, struct collector *c)
{
	if (!r->hdr)
		return 0;
	struct memprof_ring *h = r->hdr;
	note_dropped(r, c);
	/* the threads' heads before the shared ring, which holds every stack
	 * their records name once read after them */
	for (uint32_t k = 0; k < r->n_threads; k++)
		r->heads[k] = __atomic_load_n(&thread_header(r, k)->head, __ATOMIC_ACQUIRE);
	uint64_t bound = UINT64_MAX;	/* the earliest record of this drain (above) */
	size_t before = r->queued;
	/* the size is read from our copy: the image could change the shared one */
	uint64_t size = (uint64_t)(r->map_len - MEMPROF_RING_DATA_OFFSET) / 2;
	uint64_t head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
	uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
	if (r->bad || head - tail > size) {
		give_up(r, head);
		wake_producer(h, c);
		return -EINVAL;
	}
	size_t used = 0;
	int rc = 0;
	if (head != tail) {
		const uint8_t *data = r->data + (tail & (size - 1));
		if (r->n_threads)
			rc = feed_shared(r, c, data, (size_t)(head - tail), &used, &bound);
		else
			rc = collector_feed_records(c, r->pid, r->incarnation, data,
						    (size_t)(head - tail), &used);
		__atomic_store_n(&h->tail, tail + used, __ATOMIC_RELEASE);
	}
	/* thread records only once all the shared ring was taken (their
	 * stacks with it) */
	bool threads = rc == 0 && tail + used == head && r->n_threads;
	for (uint32_t k = 0; threads && k < r->n_threads && rc == 0; k++)
		rc = take_thread(r, c, k, &bound);
	/* once every ring's room is freed: a thread waiting for room in its
	 * own, woken before, would find none and wait for the next drain */
	wake_producer(h, c);
	if (threads && rc == 0) {
		size_t taken = r->queued - before;
		rc = merge(r, c, bound);
		if (rc == 0 && r->queued > taken + QUEUE_OLD_MAX) {	/* held back too long */
			r->passed_over++;
			rc = merge(r, c, UINT64_MAX);
		}
		queues_trim(r);
	}
	if (rc == -EINVAL)
		give_up(r, tail + used);
	return rc < 0 ? rc : (long)used;
}

void ring_unmap(struct ring_reader *r)
{
	if (r->hdr)
		munmap(r->hdr, r->map_len);
	r->hdr = NULL;
	if (r->threads)
		munmap(r->threads, r->threads_len);
	r->threads = NULL;
	queues_free(r);	/* before n_threads goes: it says how many queues */
	r->n_threads = 0;
	free(r->heads);
	free(r->feed);
	r->heads = NULL;
	r->feed = NULL;
}
