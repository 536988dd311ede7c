/* test_ring.c - memprof's side of per-thread rings (lib/ring.c): timed
 * records from two threads' rings and the shared one, fed in time order,
 * each once no record timed earlier can still be needed before it (the
 * drain after the one that took it, at the latest), and all at the end. */
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "harness.h"
#include "lib/collect.h"
#include "lib/collect_impl.h"
#include "lib/ring.h"
#include "lib/tracker/records.h"

#define DATA 4096
#define TSIZE 4096
#define SLOTS 2
#define STRIDE (MEMPROF_THREAD_RING_HEADER + TSIZE)

/* The image's side, by hand: the memfd and its mapping. */
struct image {
	int fd;
	uint8_t *m;
	size_t len;
	uint64_t base[SLOTS];	/* each slot's writer's rec_put_thread base */
};

static int image_new(struct image *im)
{
	im->len = MEMPROF_RING_DATA_OFFSET + DATA + SLOTS * STRIDE;
	im->fd = (int)syscall(SYS_memfd_create, "test-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (im->fd < 0 || ftruncate(im->fd, (off_t)im->len) < 0 ||
	    fcntl(im->fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW) < 0)
		return -1;
	im->m = mmap(NULL, im->len, PROT_READ | PROT_WRITE, MAP_SHARED, im->fd, 0);
	if (im->m == MAP_FAILED)
		return -1;
	struct memprof_ring *h = (void *)im->m;
	h->magic = MEMPROF_RING_MAGIC;
	h->version = MEMPROF_VERSION_RECORDS;
	h->pid = 4242;
	h->incarnation = 7;
	h->size = DATA;
	h->data_offset = MEMPROF_RING_DATA_OFFSET;
	h->thread_slots = SLOTS;
	h->thread_size = TSIZE;
	h->threads_offset = MEMPROF_RING_DATA_OFFSET + DATA;
	return 0;
}

/* Appends bytes to the shared ring (no wrap: the tests write little). */
static void shared(struct image *im, const void *rec, size_t n)
{
	struct memprof_ring *h = (void *)im->m;
	memcpy(im->m + MEMPROF_RING_DATA_OFFSET + h->head, rec, n);
	__atomic_store_n(&h->head, h->head + n, __ATOMIC_RELEASE);
}

static struct memprof_thread_ring *slot_header(struct image *im, int slot)
{
	return (void *)(im->m + MEMPROF_RING_DATA_OFFSET + DATA + (size_t)slot * STRIDE);
}

/* A record in a slot, as the tracker writes it (a free within 4 s of the
 * slot's record before it: a REC_TFREE_D). */
static void thread_rec(struct image *im, int slot, uint8_t type, uint64_t time, uint64_t addr)
{
	uint8_t *s = im->m + MEMPROF_RING_DATA_OFFSET + DATA + (size_t)slot * STRIDE;
	struct memprof_thread_ring *t = (void *)s;
	uint64_t head = rec_put_thread(s + MEMPROF_THREAD_RING_HEADER, TSIZE, t->head, &im->base[slot],
				       type, type == REC_TALLOC ? 1 : 0, time, addr,
				       type == REC_TALLOC ? 100 : 0);
	__atomic_store_n(&t->head, head, __ATOMIC_RELEASE);
}

static void image_release(struct image *im, struct ring_reader *r, struct collector *c)
{
	ring_unmap(r);
	collector_free(c);
	munmap(im->m, im->len);
	close(im->fd);
}

static void start_and_stack(struct image *im)
{
	uint8_t b[256], *p = b;
	p = rec_u8(p, REC_START);
	p = rec_u8(p, MEMPROF_VERSION_RECORDS);
	p = rec_u32(p, 1);
	p = rec_u32(p, 0);
	p = rec_u64(p, 1);
	p = rec_u64(p, 0);
	p = rec_name(p, "prog");
	p = rec_u8(p, REC_STACK);
	p = rec_u32(p, 1);
	p = rec_u8(p, 0);
	p = rec_u16(p, 1);
	p = rec_u64(p, 0x1000);
	shared(im, b, (size_t)(p - b));
}

/* One address allocated and freed in turn by two threads: in ring order
 * (thread 0's records, then thread 1's) the second allocation would come
 * before the first free; in time order every free meets its block. What
 * a drain takes is fed by the next one. */
static void test_time_order_across_rings(void)
{
	struct image im = { -1, NULL, 0, { 0 } };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	thread_rec(&im, 0, REC_TALLOC, 10, 0x5000);
	thread_rec(&im, 1, REC_TFREE, 11, 0x5000);
	thread_rec(&im, 0, REC_TALLOC, 12, 0x5000);
	thread_rec(&im, 1, REC_TFREE, 13, 0x5000);
	CHECK(ring_drain(&r, c) > 0);
	const struct collector_stats *s = collector_stats(c);
	CHECK(s->allocs == 0 && s->frees == 0);	/* taken, not fed yet */
	CHECK(slot_header(&im, 0)->tail == slot_header(&im, 0)->head);	/* room freed */
	CHECK(ring_drain(&r, c) == 0);
	CHECK(s->allocs == 2 && s->frees == 2 && s->unknown_frees == 0);
	uint8_t t[REC_T_LEN];	/* a thread without a ring of its own */
	rec_put_t(t, REC_TALLOC, 1, 14, 0x6000, 50);
	shared(&im, t, sizeof(t));
	thread_rec(&im, 0, REC_TFREE, 15, 0x6000);
	thread_rec(&im, 1, REC_TALLOC, 16, 0x6000);
	CHECK(ring_drain(&r, c) > 0);
	CHECK(ring_drain(&r, c) == 0);
	CHECK(s->allocs == 4);
	CHECK(s->frees == 3);
	CHECK(s->unknown_frees == 0);
	CHECK(s->bad_batches == 0);
	image_release(&im, &r, c);
}

/* A drain feeds what earlier drains took, up to the earliest record it
 * takes itself: thread 1's free (11) of thread 0's block comes in the
 * drain after the allocation (10), with thread 0's next allocation (20) of
 * the same address; only 10 is fed then, 11 and 20 next time, in that
 * order. A record timed earlier than what was fed (its thread took the
 * time, then was preempted before publishing it) is fed when met. */
static void test_drain_bound(void)
{
	struct image im = { -1, NULL, 0, { 0 } };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	const struct collector_stats *s = collector_stats(c);
	thread_rec(&im, 0, REC_TALLOC, 10, 0x5000);
	ring_drain(&r, c);
	CHECK(s->allocs == 0);
	thread_rec(&im, 1, REC_TFREE, 11, 0x5000);
	thread_rec(&im, 0, REC_TALLOC, 20, 0x5000);
	ring_drain(&r, c);
	CHECK(s->allocs == 1 && s->frees == 0);
	ring_drain(&r, c);
	CHECK(s->allocs == 2 && s->frees == 1 && s->unknown_frees == 0);
	thread_rec(&im, 1, REC_TALLOC, 5, 0x7000);	/* late */
	ring_drain(&r, c);
	ring_drain(&r, c);
	CHECK(s->allocs == 3);
	CHECK(c->n_proc == 1 && addrmap_count(&c->proc[0].live) == 2);
	image_release(&im, &r, c);
}

/* The image is gone: ring_finish feeds what is left, in time order. */
static void test_finish_feeds_all(void)
{
	struct image im = { -1, NULL, 0, { 0 } };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	const struct collector_stats *s = collector_stats(c);
	thread_rec(&im, 0, REC_TALLOC, 10, 0x5000);
	thread_rec(&im, 1, REC_TFREE, 11, 0x5000);
	ring_drain(&r, c);
	thread_rec(&im, 0, REC_TALLOC, 12, 0x5000);
	ring_finish(&r, c);
	CHECK(s->allocs == 2 && s->frees == 1 && s->unknown_frees == 0);
	CHECK(addrmap_count(&c->proc[0].live) == 1);
	image_release(&im, &r, c);
}

/* Slot 0 holding n bytes at offset off of its data, its tail there and
 * its head len bytes on: the ring is malformed, counted, read no more,
 * and nothing of it fed. */
static void expect_malformed(const uint8_t *bytes, size_t n, uint64_t off, uint64_t len)
{
	struct image im = { -1, NULL, 0, { 0 } };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	struct memprof_thread_ring *t = slot_header(&im, 0);
	memcpy((uint8_t *)t + MEMPROF_THREAD_RING_HEADER + off, bytes, n);
	t->tail = off;
	t->head = off + len;
	CHECK(ring_drain(&r, c) == -EINVAL);
	CHECK(r.bad);
	CHECK(collector_stats(c)->allocs == 0 && collector_stats(c)->frees == 0);
	image_release(&im, &r, c);
}

/* A record in a thread's ring that is not a timed one. */
static void test_bad_thread_record(void)
{
	uint8_t rec[REC_T_LEN];
	rec_put_t(rec, REC_TALLOC, 1, 0, 0x5000, 100);
	rec[0] = REC_ALLOC;
	expect_malformed(rec, sizeof(rec), 0, REC_T_LEN);
}

/* A 32-byte record 16 bytes before the slot's end (the image can write
 * it): read there it would run past the slot (past the mapping, for the
 * last one). */
static void test_unaligned_tail(void)
{
	uint8_t rec[REC_TD_LEN] = { REC_TFREE };	/* time 0; its address would be slot 1's */
	expect_malformed(rec, sizeof(rec), TSIZE - REC_TD_LEN, REC_T_LEN);
}

/* 800 turns of two threads, drained every 20: thread 0 allocates a block
 * of its own (a REC_TALLOC, timed) and frees the one before (a
 * REC_TFREE_D), thread 1 allocates X, and thread 0 frees X: a REC_TFREE_D
 * timed from thread 0's free before it, with thread 1's record between. A
 * free of X timed too early meets no block (X's allocation not fed yet),
 * too late meets the next turn's. Thread 0's records go round its
 * 4096-byte slot: an allocation at its last 16 bytes starts it again
 * after a REC_TPAD. A free 5 s after the record before it is a whole
 * REC_TFREE. */
static void test_delta_frees(void)
{
	struct image im = { -1, NULL, 0, { 0 } };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	const struct collector_stats *s = collector_stats(c);
	const uint8_t *slot0 = (const uint8_t *)slot_header(&im, 0) + MEMPROF_THREAD_RING_HEADER;
	uint64_t t = 1000;
	bool delta_seen = false, pad_seen = false;
	for (int turn = 0; turn < 800; turn++) {
		uint64_t n = (uint64_t)turn;
		thread_rec(&im, 0, REC_TALLOC, t, 0x100000 + 16 * n);
		if (turn)
			thread_rec(&im, 0, REC_TFREE, t + 1 + 5 * n, 0x100000 + 16 * (n - 1));
		thread_rec(&im, 1, REC_TALLOC, t + 2 + 6 * n, 0x5000);
		thread_rec(&im, 0, REC_TFREE, t + 3 + 7 * n, 0x5000);
		t += 4 + 7 * n;
		for (size_t at = 0; at < TSIZE; at += REC_TD_LEN)
			delta_seen = delta_seen || slot0[at] == REC_TFREE_D;
		pad_seen = pad_seen || slot0[TSIZE - REC_TD_LEN] == REC_TPAD;
		if (turn % 20 == 19)
			CHECK(ring_drain(&r, c) >= 0);
	}
	CHECK(delta_seen && pad_seen);
	ring_drain(&r, c);
	ring_drain(&r, c);
	CHECK(s->allocs == 1600 && s->frees == 1599);
	CHECK(s->unknown_frees == 0 && s->live_reallocs == 0 && s->bad_batches == 0);
	uint64_t head = slot_header(&im, 1)->head;
	thread_rec(&im, 1, REC_TALLOC, t, 0x6000);
	thread_rec(&im, 1, REC_TFREE, t + 5000000000ULL, 0x6000);
	const uint8_t *slot1 = (const uint8_t *)slot_header(&im, 1) + MEMPROF_THREAD_RING_HEADER;
	uint64_t at = (head + (head % TSIZE == TSIZE - REC_TD_LEN ? REC_TD_LEN : 0) + REC_T_LEN) % TSIZE;
	CHECK(slot1[at] == REC_TFREE);
	ring_finish(&r, c);
	CHECK(s->allocs == 1601 && s->frees == 1600 && s->unknown_frees == 0);
	CHECK(addrmap_count(&c->proc[0].live) == 1);
	image_release(&im, &r, c);
}

/* A REC_TPAD anywhere but a slot's last 16 bytes. */
static void test_pad_not_at_end(void)
{
	uint8_t rec[REC_TD_LEN] = { REC_TPAD };
	expect_malformed(rec, sizeof(rec), 0, REC_TD_LEN);
}

const struct unit_test ring_tests[] = {
	{ "ring: timed records in time order across rings", test_time_order_across_rings },
	{ "ring: a drain feeds up to the earliest record it takes", test_drain_bound },
	{ "ring: the image gone, what is left is fed", test_finish_feeds_all },
	{ "ring: a malformed thread record", test_bad_thread_record },
	{ "ring: a thread ring's tail not at a record", test_unaligned_tail },
	{ "ring: frees timed from the record before them, round a slot's end", test_delta_frees },
	{ "ring: a pad that is not at a slot's end", test_pad_not_at_end },
	{ NULL, NULL },
};
