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
 * thread stopped between taking it and writing it) is passed over: what is
 * held is fed, jumping over the gaps, at most once a drain (a record that
 * would need a second waits in its ring for the next drain, so a hostile
 * ring costs one pass-over a drain). Its record, if it comes, is fed when
 * met, before the records merged or held after it: the tracker writes a
 * free before the real free, so a late free comes before the allocation
 * that reused its address. All the readers' windows together stay under
 * WINDOW_BYTES_MAX: a window that would grow past it passes over instead. */
#define WINDOW_MAX ((size_t)1 << 23)
#define WINDOW_BYTES_MAX ((size_t)256 << 20)	/* all the readers' windows */
#define HOLD_LATER 1	/* hold(): not in this drain */
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

/* The bytes of every reader's window (the collector's one thread), kept
 * under WINDOW_BYTES_MAX: past it a ring makes room by a pass-over rather
 * than growing (hostile rings can each ask for WINDOW_MAX). */
static size_t window_bytes;

static size_t window_cost(size_t cap)
{
	return cap * sizeof(struct ring_trec) + cap / 8;
}

/* Grows the window to hold seq. -ENOSPC: that would be past
 * WINDOW_BYTES_MAX (the window is then at least 4096, always granted). */
static int window_grow(struct ring_reader *r, uint64_t seq)
{
	size_t cap = r->cap_held ? r->cap_held : 4096;
	bool room = true;
	while (seq - r->next_seq >= cap)
		cap *= 2;
	if (cap > 4096 && window_bytes - window_cost(r->cap_held) + window_cost(cap) > WINDOW_BYTES_MAX) {
		if (r->cap_held)
			return -ENOSPC;
		cap = 4096;
		room = false;
	}
	struct ring_trec *w = calloc(cap, sizeof(*w));
	uint64_t *bits = calloc(cap / 64, sizeof(*bits));
	if (!w || !bits) {
		free(w);
		free(bits);
		return -ENOMEM;
	}
	for (size_t i = 0; i < r->cap_held; i++)
		if (r->held[i].used) {	/* its number, from its place */
			size_t j = (r->next_seq + ((i - r->next_seq) & (r->cap_held - 1))) & (cap - 1);
			w[j] = r->held[i];
			bits[j / 64] |= (uint64_t)1 << (j % 64);
		}
	free(r->held);
	free(r->used_bits);
	window_bytes += window_cost(cap) - window_cost(r->cap_held);
	r->held = w;
	r->used_bits = bits;
	r->cap_held = cap;
	return room ? 0 : -ENOSPC;
}

static void window_free(struct ring_reader *r)
{
	window_bytes -= window_cost(r->cap_held);
	free(r->held);
	free(r->used_bits);
	r->held = NULL;
	r->used_bits = NULL;
	r->n_held = r->cap_held = 0;
}

/* The lowest number held (n_held != 0), found a word of the window's
 * bitmap at a time from next_seq. */
static uint64_t lowest_held(const struct ring_reader *r)
{
	size_t mask = r->cap_held - 1, i = r->next_seq & mask, words = r->cap_held / 64;
	uint64_t w = r->used_bits[i / 64] & (~(uint64_t)0 << (i % 64));
	size_t k = i / 64;
	for (size_t n = 0; !w && n < words; n++) {
		k = k + 1 == words ? 0 : k + 1;
		w = r->used_bits[k];
		if (k == i / 64)	/* back where it began: its low bits */
			w &= ((uint64_t)1 << (i % 64)) - 1;
	}
	size_t j = k * 64 + (size_t)__builtin_ctzll(w);
	return r->next_seq + ((j - i) & mask);
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

/* Feeds all that is held, over the missing numbers, and goes on from upto
 * at least. At most once a drain: a hostile ring could otherwise make
 * every record a pass-over. Returns 0, HOLD_LATER when this drain has
 * passed over already, or a negative errno. */
static int pass_over(struct ring_reader *r, struct collector *c, uint64_t upto)
{
	if (r->passed)
		return HOLD_LATER;
	r->passed = true;
	r->passed_over++;
	int rc = apply_held(r, c, true);
	if (r->next_seq < upto)
		r->next_seq = upto;
	return rc;
}

/* Holds a numbered record until every lower number has come. Returns 0,
 * HOLD_LATER when it cannot be taken in this drain (the caller leaves it
 * where it is), or a negative errno. */
static int hold(struct ring_reader *r, struct collector *c, uint8_t type, uint32_t stack,
		uint64_t seq, uint64_t addr, uint64_t size)
{
	int rc;
	if (seq < r->next_seq)
		return feed_late(r, c, type, stack, addr, size);
	if (seq - r->next_seq >= r->cap_held && r->n_held &&
	    (rc = apply_held(r, c, false)) < 0)	/* what follows on, first */
		return rc;
	if (seq - r->next_seq >= WINDOW_MAX) {
		if ((rc = pass_over(r, c, seq)) != 0)	/* over the gap */
			return rc;
		if (seq < r->next_seq)
			return feed_late(r, c, type, stack, addr, size);
	}
	if (seq - r->next_seq >= r->cap_held) {
		rc = window_grow(r, seq);
		if (rc == -ENOSPC) {	/* all the windows' memory: room made by a pass-over */
			if ((rc = pass_over(r, c, seq - r->cap_held + 1)) != 0)
				return rc;
			if (seq < r->next_seq)
				return feed_late(r, c, type, stack, addr, size);
		} else if (rc < 0) {
			return rc;
		}
	}
	size_t i = seq & (r->cap_held - 1);
	struct ring_trec *t = &r->held[i];
	if (t->used)
		return 0;
	*t = (struct ring_trec){ addr, size, stack, type, true };
	r->used_bits[i / 64] |= (uint64_t)1 << (i % 64);
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
		rc = hold(r, c, rec.type, rec.u.t.stack, rec.u.t.seq, rec.u.t.addr, rec.u.t.size);
		if (rc == HOLD_LATER)	/* it and what follows, in the next drain */
			return 0;
		if (rc < 0)
			return rc;
		run = rd.p;
		*used = (size_t)(run - data);
	}
}

/* A thread ring's record, copied out of the shared memory once. */
struct trec {
	uint8_t type;
	uint32_t stack;
	uint64_t seq, addr, size;
};

static inline bool thread_rec(const struct ring_reader *r, uint32_t k, struct trec *t)
{
	const uint8_t *p = (const uint8_t *)thread_header(r, k) + MEMPROF_THREAD_RING_HEADER +
			   (r->tails[k] & (r->thread_size - 1));
	uint8_t b[REC_T_LEN];	/* the layout of rec_put_t */
	memcpy(b, p, REC_T_LEN);
	t->type = b[0];
	memcpy(&t->stack, b + 4, 4);
	memcpy(&t->seq, b + 8, 8);
	memcpy(&t->addr, b + 16, 8);
	memcpy(&t->size, b + 24, 8);
	return t->type == REC_TALLOC || t->type == REC_TFREE;
}

/* Reads the threads' tails (ours to write, but in memory the image can
 * write too) and checks them against the heads read before: whole records
 * (so no read runs past a slot), no more than a slot's worth. */
static int load_tails(struct ring_reader *r)
{
	for (uint32_t k = 0; k < r->n_threads; k++) {
		uint64_t tail = __atomic_load_n(&thread_header(r, k)->tail, __ATOMIC_RELAXED);
		uint64_t head = r->heads[k];
		if (head - tail > r->thread_size || tail % REC_T_LEN || head % REC_T_LEN)
			return -EINVAL;
		r->tails[k] = tail;
	}
	return 0;
}

static void store_tails(struct ring_reader *r)
{
	for (uint32_t k = 0; k < r->n_threads; k++)
		__atomic_store_n(&thread_header(r, k)->tail, r->tails[k], __ATOMIC_RELEASE);
}

static inline size_t put_rec(uint8_t *p, const struct trec *t)
{
	if (t->type == REC_TALLOC) {
		rec_put_alloc(p, t->addr, t->size, t->stack);
		return REC_ALLOC_LEN;
	}
	if (!t->addr)	/* a failed realloc's number */
		return 0;
	rec_put_free(p, t->addr);
	return REC_FREE_LEN;
}

/* Records whose number was passed over, at the front of the threads'
 * rings: fed before anything else. The tracker writes a TFREE before the
 * real free, so a late free comes before any allocation that reused its
 * address; fed after it, it would free the new block. */
static int take_late(struct ring_reader *r, struct collector *c)
{
	struct trec t;
	for (uint32_t k = 0; k < r->n_threads; k++)
		while (r->tails[k] != r->heads[k]) {
			if (!thread_rec(r, k, &t))
				return -EINVAL;
			if (t.seq >= r->next_seq)
				break;
			int rc = feed_late(r, c, t.type, t.stack, t.addr, t.size);
			if (rc < 0)
				return rc;
			r->tails[k] += REC_T_LEN;
		}
	return 0;
}

/* The common case, nothing held: the threads' records merged straight
 * from their rings while each next number is at the front of one of them
 * (a ring is in number order but for a record a signal handler made
 * between a realloc's number and its record; a record whose number was
 * passed over is fed when met). take_threads then holds what is left. */
static int merge_direct(struct ring_reader *r, struct collector *c)
{
	uint32_t active[THREAD_SLOTS_MAX], n = 0;
	size_t len = 0;
	int rc = 0;
	if (r->n_held)
		return 0;
	if (!r->feed && !(r->feed = malloc(FEED_CHUNK)))
		return -ENOMEM;
	for (uint32_t k = 0; k < r->n_threads; k++)
		if (r->tails[k] != r->heads[k])
			active[n++] = k;
	for (uint32_t i = 0, tried = 0; n && tried < n && rc == 0;) {
		uint32_t k = active[i];
		struct trec t;
		if (!thread_rec(r, k, &t)) {
			rc = -EINVAL;
			break;
		}
		if (t.seq > r->next_seq) {
			i = i + 1 == n ? 0 : i + 1;
			tried++;
			continue;
		}
		len += put_rec(r->feed + len, &t);
		if (t.seq == r->next_seq)
			r->next_seq++;	/* below it: late, fed as met */
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
	return rc;
}

/* The rest of the threads' records up to the heads, into held. A record
 * that cannot be held in this drain (hold: a second pass-over) stays, with
 * the rest of its ring, for the next. */
static int take_threads(struct ring_reader *r, struct collector *c)
{
	for (uint32_t k = 0; k < r->n_threads; k++)
		while (r->tails[k] != r->heads[k]) {
			struct trec t;
			if (!thread_rec(r, k, &t))
				return -EINVAL;
			int rc = hold(r, c, t.type, t.stack, t.seq, t.addr, t.size);
			if (rc < 0)
				return rc;
			if (rc == HOLD_LATER)
				break;
			r->tails[k] += REC_T_LEN;
		}
	return 0;
}

static int feed_out(struct ring_reader *r, struct collector *c, size_t len)
{
	int rc = collector_feed_records(c, r->pid, r->incarnation, r->feed, len, NULL);
	return rc == -EPIPE ? 0 : rc;	/* a collector that has written its profile */
}

/* Feeds the held records in number order while the numbers follow on
 * (all of them with `all`, over the gaps: jumping to the lowest held
 * number, not stepping through the window); keeps the rest. */
static int apply_held(struct ring_reader *r, struct collector *c, bool all)
{
	if (!r->n_held)
		return 0;
	if (!r->feed && !(r->feed = malloc(FEED_CHUNK)))
		return -ENOMEM;
	size_t len = 0, mask = r->cap_held - 1;
	int rc = 0;
	while (r->n_held && rc == 0) {
		size_t i = r->next_seq & mask;
		struct ring_trec *t = &r->held[i];
		if (!t->used) {
			if (!all)
				break;	/* a number not come yet: the rest waits for it */
			r->next_seq = lowest_held(r);
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
		r->used_bits[i / 64] &= ~((uint64_t)1 << (i % 64));
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
	window_free(r);
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
	r->passed = false;	/* one pass-over a drain */
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
	if (rc == 0 && tail + used == head && r->n_threads && (rc = load_tails(r)) == 0) {
		rc = take_late(r, c);
		if (rc == 0)
			rc = merge_direct(r, c);
		if (rc == 0)
			rc = take_threads(r, c);
		if (rc == 0)
			rc = apply_held(r, c, false);
		store_tails(r);
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
	window_free(r);
	free(r->feed);
	r->heads = NULL;
	r->tails = NULL;
	r->feed = NULL;
}
