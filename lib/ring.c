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
#include <unistd.h>

#include "collect.h"
#include "tracker/records.h"

#define RING_SIZE_MAX ((uint64_t)256 << 20)

/* ---- per-thread rings ---------------------------------------------------------------

   The image's threads write REC_TALLOC/REC_TFREE records, numbered by one
   counter, to rings of their own (lib/tracker/stream.c). A drain reads the
   threads' heads first, then the shared ring (whose stacks are defined
   before any thread could use them, so every stack a thread record up to
   those heads names is fed by then), then the thread records up to those
   heads. Numbered records, from the threads' rings and the shared one,
   wait here until every lower number has come (a thread may have taken
   one and not yet written it), and are fed in number order: a free
   before the allocation that reused its address in another thread. */

struct ring_trec {	/* its number is its place in the window */
	uint64_t addr, size;
	uint32_t stack;
	uint8_t type;
	bool used;
};

/* Held records sit in a window indexed by number: slot seq % cap holds
 * number seq, for next_seq <= seq < next_seq + cap. The image's threads
 * slow down when they get more than TRACKER_PACE numbers ahead of what was
 * applied (stream.c: seq_applied in the ring's header), which bounds the
 * window while the thread that holds the missing number is only waiting
 * for a CPU. A number that does not come while WINDOW_MAX later ones do (a
 * thread stopped between taking it and writing it) is passed over, and its
 * record, if it comes, is applied when it comes (out of order: a free of a
 * reused address may then be misapplied). */
#define WINDOW_MAX ((size_t)1 << 23)
#define FEED_CHUNK 65536

static int apply_held(struct ring_reader *r, struct collector *c, bool all);
static int feed_out(struct ring_reader *r, struct collector *c, size_t len);

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
	r->tails = calloc((size_t)n, sizeof(*r->tails));
	return r->heads && r->tails ? 0 : -ENOMEM;
}

static inline struct memprof_thread_ring *thread_header(const struct ring_reader *r, uint32_t k)
{
	return (void *)(r->threads + (size_t)k * (MEMPROF_THREAD_RING_HEADER + r->thread_size));
}

static int window_grow(struct ring_reader *r, uint64_t seq)
{
	size_t cap = r->cap_held ? r->cap_held : 4096;
	while (seq - r->next_seq >= cap)
		cap *= 2;
	struct ring_trec *w = calloc(cap, sizeof(*w));
	if (!w)
		return -ENOMEM;
	for (size_t i = 0; i < r->cap_held; i++)
		if (r->held[i].used)	/* its number, from its place */
			w[(r->next_seq + ((i - r->next_seq) & (r->cap_held - 1))) & (cap - 1)] =
				r->held[i];
	free(r->held);
	r->held = w;
	r->cap_held = cap;
	return 0;
}

/* One record fed at once: one that comes after its number was passed over. */
static int feed_late(struct ring_reader *r, struct collector *c, uint8_t type, uint32_t stack,
		     uint64_t addr, uint64_t size)
{
	if (!r->feed && !(r->feed = malloc(FEED_CHUNK)))
		return -ENOMEM;
	if (type == REC_TALLOC) {
		rec_put_alloc(r->feed, addr, size, stack);
		return feed_out(r, c, REC_ALLOC_LEN);
	}
	if (!addr)
		return 0;
	rec_put_free(r->feed, addr);
	return feed_out(r, c, REC_FREE_LEN);
}

static int hold(struct ring_reader *r, struct collector *c, uint8_t type, uint32_t stack,
		uint64_t seq, uint64_t addr, uint64_t size)
{
	if (seq < r->next_seq)
		return feed_late(r, c, type, stack, addr, size);
	if (seq - r->next_seq >= WINDOW_MAX) {
		int rc = apply_held(r, c, true);	/* over the gap */
		if (rc < 0)
			return rc;
		if (seq - r->next_seq >= WINDOW_MAX)
			r->next_seq = seq;
	}
	if (seq - r->next_seq >= r->cap_held) {
		int rc = window_grow(r, seq);
		if (rc < 0)
			return rc;
	}
	struct ring_trec *t = &r->held[seq & (r->cap_held - 1)];
	if (t->used)
		return 0;
	*t = (struct ring_trec){ addr, size, stack, type, true };
	r->n_held++;
	return 0;
}

/* The shared ring's bytes: numbered records held, the rest fed in runs.
 * Sets *used to what was taken (all but what the collector could not). */
static int feed_shared(struct ring_reader *r, struct collector *c, const uint8_t *data, size_t len,
		       size_t *used)
{
	struct rec_reader rd = { data, data + len, false };
	const uint8_t *run = data;
	struct rec rec;
	int rc = 0;
	*used = 0;
	for (;;) {
		const uint8_t *at = rd.p;
		bool more = rec_next(&rd, &rec);
		if (more && rec.type != REC_TALLOC && rec.type != REC_TFREE)
			continue;
		/* a numbered record, the end, or what cannot be read: the run
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
		if ((rc = hold(r, c, rec.type, rec.u.t.stack, rec.u.t.seq, rec.u.t.addr, rec.u.t.size)) < 0)
			return rc;
		run = rd.p;
		*used = (size_t)(run - data);
	}
}

/* The threads' records up to the heads read first, into held. */
/* The common case, nothing held: the threads' records merged straight
 * from their rings while each next number is at the front of one of them
 * (a ring is in number order but for a record a signal handler made
 * between a realloc's number and its record). take_threads then holds
 * what is left. */
static int merge_direct(struct ring_reader *r, struct collector *c)
{
	uint32_t active[THREAD_SLOTS_MAX], n = 0;
	size_t len = 0, mask = r->thread_size - 1;
	int rc = 0;
	if (r->n_held)
		return 0;
	if (!r->feed && !(r->feed = malloc(FEED_CHUNK)))
		return -ENOMEM;
	for (uint32_t k = 0; k < r->n_threads; k++) {
		uint64_t tail = __atomic_load_n(&thread_header(r, k)->tail, __ATOMIC_RELAXED);
		if (r->heads[k] - tail > r->thread_size || (r->heads[k] - tail) % REC_T_LEN)
			return -EINVAL;
		r->tails[k] = tail;
		if (tail != r->heads[k])
			active[n++] = k;
	}
	for (uint32_t i = 0, tried = 0; n && tried < n && rc == 0;) {
		uint32_t k = active[i];
		const uint8_t *p = (const uint8_t *)thread_header(r, k) + MEMPROF_THREAD_RING_HEADER +
				   (r->tails[k] & mask);
		uint64_t v[3];	/* seq, addr, size: the layout of rec_put_t */
		uint32_t stack;
		memcpy(v, p + 8, 24);
		if (v[0] != r->next_seq || (p[0] != REC_TALLOC && p[0] != REC_TFREE)) {
			i = i + 1 == n ? 0 : i + 1;
			tried++;
			continue;
		}
		if (p[0] == REC_TALLOC) {
			memcpy(&stack, p + 4, 4);
			rec_put_alloc(r->feed + len, v[1], v[2], stack);
			len += REC_ALLOC_LEN;
		} else if (v[1]) {
			rec_put_free(r->feed + len, v[1]);
			len += REC_FREE_LEN;
		}
		r->next_seq++;
		tried = 0;
		if ((r->tails[k] += REC_T_LEN) == r->heads[k]) {	/* this ring is done */
			active[i] = active[--n];
			if (i == n)
				i = 0;
		}
		if (len + REC_ALLOC_LEN > FEED_CHUNK) {
			rc = feed_out(r, c, len);
			len = 0;
		}
	}
	if (len && rc == 0)
		rc = feed_out(r, c, len);
	for (uint32_t k = 0; k < r->n_threads; k++)
		__atomic_store_n(&thread_header(r, k)->tail, r->tails[k], __ATOMIC_RELEASE);
	return rc;
}

static int take_threads(struct ring_reader *r, struct collector *c)
{
	for (uint32_t k = 0; k < r->n_threads; k++) {
		struct memprof_thread_ring *h = thread_header(r, k);
		const uint8_t *data = (const uint8_t *)h + MEMPROF_THREAD_RING_HEADER;
		uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_RELAXED), head = r->heads[k];
		if (head - tail > r->thread_size || (head - tail) % REC_T_LEN)
			return -EINVAL;
		while (tail != head) {
			/* the layout of rec_put_t, read in place */
			const uint8_t *p = data + (tail & (r->thread_size - 1));
			uint32_t stack;
			uint64_t v[3];	/* seq, addr, size */
			if (p[0] != REC_TALLOC && p[0] != REC_TFREE)
				return -EINVAL;
			memcpy(&stack, p + 4, 4);
			memcpy(v, p + 8, 24);
			int rc = hold(r, c, p[0], stack, v[0], v[1], v[2]);
			if (rc < 0) {
				__atomic_store_n(&h->tail, tail, __ATOMIC_RELEASE);
				return rc;
			}
			tail += REC_T_LEN;
		}
		__atomic_store_n(&h->tail, tail, __ATOMIC_RELEASE);
	}
	return 0;
}

static int feed_out(struct ring_reader *r, struct collector *c, size_t len)
{
	int rc = collector_feed_records(c, r->pid, r->incarnation, r->feed, len, NULL);
	return rc == -EPIPE ? 0 : rc;	/* a collector that has written its profile */
}

/* Feeds the held records in number order while the numbers follow on
 * (all of them with `all`, over the gaps); keeps the rest. */
static int apply_held(struct ring_reader *r, struct collector *c, bool all)
{
	if (!r->n_held)
		return 0;
	if (!r->feed && !(r->feed = malloc(FEED_CHUNK)))
		return -ENOMEM;
	size_t len = 0, mask = r->cap_held - 1;
	int rc = 0;
	while (r->n_held && rc == 0) {
		struct ring_trec *t = &r->held[r->next_seq & mask];
		if (!t->used) {
			if (!all)
				break;	/* a number not come yet: the rest waits for it */
			r->next_seq++;
			continue;
		}
		if (t->type == REC_TALLOC) {
			rec_put_alloc(r->feed + len, t->addr, t->size, t->stack);
			len += REC_ALLOC_LEN;
		} else if (t->addr) {
			rec_put_free(r->feed + len, t->addr);
			len += REC_FREE_LEN;
		}
		t->used = false;
		r->n_held--;
		r->next_seq++;
		if (len + REC_ALLOC_LEN > FEED_CHUNK) {
			rc = feed_out(r, c, len);
			len = 0;
		}
	}
	if (len && rc == 0)
		rc = feed_out(r, c, len);
	return rc;
}

void ring_finish(struct ring_reader *r, struct collector *c)
{
	if (r->hdr && !r->bad && c)
		apply_held(r, c, true);
}

int ring_map(struct ring_reader *r, int fd)
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
	free(r->held);
	r->held = NULL;
	r->n_held = r->cap_held = 0;
}

long ring_drain(struct ring_reader *r, struct collector *c)
{
	if (!r->hdr)
		return 0;
	struct memprof_ring *h = r->hdr;
	note_dropped(r, c);
	/* the threads' heads first: the shared ring read after them holds
	 * every stack their records name */
	for (uint32_t k = 0; k < r->n_threads; k++)
		r->heads[k] = __atomic_load_n(&thread_header(r, k)->head, __ATOMIC_ACQUIRE);
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
			rc = feed_shared(r, c, data, (size_t)(head - tail), &used);
		else
			rc = collector_feed_records(c, r->pid, r->incarnation, data,
						    (size_t)(head - tail), &used);
		__atomic_store_n(&h->tail, tail + used, __ATOMIC_RELEASE);
	}
	wake_producer(h, c);
	/* thread records only once all the shared ring was taken (their
	 * stacks with it) */
	if (rc == 0 && tail + used == head && r->n_threads) {
		rc = merge_direct(r, c);
		if (rc == 0)
			rc = take_threads(r, c);
		if (rc == 0)
			rc = apply_held(r, c, false);
	}
	if (r->n_threads)	/* how far the image's threads may run ahead */
		__atomic_store_n(&h->seq_applied, r->next_seq, __ATOMIC_RELEASE);
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
	r->n_threads = 0;
	free(r->heads);
	free(r->tails);
	free(r->held);
	free(r->feed);
	r->heads = NULL;
	r->tails = NULL;
	r->held = NULL;
	r->feed = NULL;
	r->n_held = r->cap_held = 0;
}
