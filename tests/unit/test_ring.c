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

static void thread_rec(struct image *im, int slot, uint8_t type, uint64_t time, uint64_t addr)
{
	uint8_t *s = im->m + MEMPROF_RING_DATA_OFFSET + DATA + (size_t)slot * STRIDE;
	struct memprof_thread_ring *t = (void *)s;
	rec_put_t(s + MEMPROF_THREAD_RING_HEADER + (t->head & (TSIZE - 1)), type,
		  type == REC_TALLOC ? 1 : 0, time, addr, type == REC_TALLOC ? 100 : 0);
	__atomic_store_n(&t->head, t->head + REC_T_LEN, __ATOMIC_RELEASE);
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
	struct image im = { -1, NULL, 0 };
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
	struct image im = { -1, NULL, 0 };
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
	struct image im = { -1, NULL, 0 };
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

/* A record in a thread's ring that is not a timed one: the ring is
 * malformed, counted, and read no more. */
static void test_bad_thread_record(void)
{
	struct image im = { -1, NULL, 0 };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	thread_rec(&im, 0, REC_TALLOC, 0, 0x5000);
	uint8_t *slot = im.m + MEMPROF_RING_DATA_OFFSET + DATA;
	slot[MEMPROF_THREAD_RING_HEADER] = REC_ALLOC;
	CHECK(ring_drain(&r, c) == -EINVAL);
	CHECK(r.bad);
	ring_unmap(&r);
	collector_free(c);
	munmap(im.m, im.len);
	close(im.fd);
}

/* A tail that is not at a record's start (the image can write it): a
 * record read there would run past the slot (past the mapping, for the
 * last one). The ring is malformed. */
static void test_unaligned_tail(void)
{
	struct image im = { -1, NULL, 0 };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	struct memprof_thread_ring *t = slot_header(&im, 0);
	uint8_t *rec = (uint8_t *)t + MEMPROF_THREAD_RING_HEADER + TSIZE - 16;
	memset(rec, 0, 16);
	rec[0] = REC_TFREE;	/* time 0; its address would be read from slot 1 */
	t->tail = TSIZE - 16;
	t->head = TSIZE - 16 + REC_T_LEN;
	CHECK(ring_drain(&r, c) == -EINVAL);
	CHECK(r.bad);
	CHECK(collector_stats(c)->frees == 0);
	image_release(&im, &r, c);
}

const struct unit_test ring_tests[] = {
	{ "ring: timed records in time order across rings", test_time_order_across_rings },
	{ "ring: a drain feeds up to the earliest record it takes", test_drain_bound },
	{ "ring: the image gone, what is left is fed", test_finish_feeds_all },
	{ "ring: a malformed thread record", test_bad_thread_record },
	{ "ring: a thread ring's tail not at a record", test_unaligned_tail },
	{ NULL, NULL },
};
