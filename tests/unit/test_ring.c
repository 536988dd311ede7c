/* test_ring.c - memprof's side of per-thread rings (lib/ring.c): numbered
 * records from two threads' rings and the shared one, fed in number order,
 * held back over a number not written yet, and passed over at the end. */
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

static void thread_rec(struct image *im, int slot, uint8_t type, uint64_t seq, uint64_t addr)
{
	uint8_t *s = im->m + MEMPROF_RING_DATA_OFFSET + DATA + (size_t)slot * STRIDE;
	struct memprof_thread_ring *t = (void *)s;
	rec_put_t(s + MEMPROF_THREAD_RING_HEADER + (t->head & (TSIZE - 1)), type,
		  type == REC_TALLOC ? 1 : 0, seq, addr, type == REC_TALLOC ? 100 : 0);
	__atomic_store_n(&t->head, t->head + REC_T_LEN, __ATOMIC_RELEASE);
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
 * before the first free; in number order every free meets its block. */
static void test_number_order_across_rings(void)
{
	struct image im = { -1, NULL, 0 };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	thread_rec(&im, 0, REC_TALLOC, 0, 0x5000);
	thread_rec(&im, 1, REC_TFREE, 1, 0x5000);
	thread_rec(&im, 0, REC_TALLOC, 2, 0x5000);
	thread_rec(&im, 1, REC_TFREE, 3, 0x5000);
	CHECK(ring_drain(&r, c) > 0);
	const struct collector_stats *s = collector_stats(c);
	CHECK(s->allocs == 2 && s->frees == 2 && s->unknown_frees == 0);
	uint8_t t[REC_T_LEN];	/* a thread without a ring of its own */
	rec_put_t(t, REC_TALLOC, 1, 4, 0x6000, 50);
	shared(&im, t, sizeof(t));
	thread_rec(&im, 0, REC_TFREE, 5, 0x6000);
	thread_rec(&im, 1, REC_TALLOC, 6, 0x6000);
	CHECK(ring_drain(&r, c) > 0);
	CHECK(s->allocs == 4);
	CHECK(s->frees == 3);
	CHECK(s->unknown_frees == 0);
	CHECK(s->bad_batches == 0);
	ring_unmap(&r);
	collector_free(c);
	munmap(im.m, im.len);
	close(im.fd);
}

/* A number taken and not written yet holds the later ones back; once it
 * comes they are fed. A number that never comes is passed over when the
 * image is gone (ring_finish); a failed realloc's number (a free of 0)
 * feeds nothing. */
static void test_gap_held_then_passed(void)
{
	struct image im = { -1, NULL, 0 };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	thread_rec(&im, 0, REC_TALLOC, 0, 0x5000);
	thread_rec(&im, 0, REC_TFREE, 2, 0x5000);	/* 1 not written yet */
	thread_rec(&im, 1, REC_TALLOC, 3, 0x7000);
	ring_drain(&r, c);
	const struct collector_stats *s = collector_stats(c);
	CHECK(s->allocs == 1 && s->frees == 0);
	thread_rec(&im, 1, REC_TFREE, 1, 0);	/* the realloc that failed */
	thread_rec(&im, 1, REC_TALLOC, 5, 0x8000);	/* 4 never comes */
	ring_drain(&r, c);
	CHECK(s->allocs == 2 && s->frees == 1);
	CHECK(s->unknown_frees == 0);
	ring_finish(&r, c);
	CHECK(s->allocs == 3 && s->frees == 1);
	ring_unmap(&r);
	collector_free(c);
	munmap(im.m, im.len);
	close(im.fd);
}

/* A record in a thread's ring that is not a numbered one: the ring is
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

static void image_release(struct image *im, struct ring_reader *r, struct collector *c)
{
	ring_unmap(r);
	collector_free(c);
	munmap(im->m, im->len);
	close(im->fd);
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
	rec[0] = REC_TFREE;	/* seq 0; its address would be read from slot 1 */
	t->tail = TSIZE - 16;
	t->head = TSIZE - 16 + REC_T_LEN;
	CHECK(ring_drain(&r, c) == -EINVAL);
	CHECK(r.bad);
	CHECK(collector_stats(c)->frees == 0);
	image_release(&im, &r, c);
}

/* A number passed over (thread 1 took 1 for a free and stalled while 8M
 * later numbers came), then its free written before the real free, and
 * the address reused by thread 0: the late free is fed before the
 * allocation that reused its address, so both blocks stay live. */
static void test_late_free_before_reuse(void)
{
	const uint64_t big = ((uint64_t)1 << 23) + 5;
	struct image im = { -1, NULL, 0 };
	struct ring_reader r = { 0 };
	struct collector *c = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	start_and_stack(&im);
	thread_rec(&im, 1, REC_TALLOC, 0, 0x10000);
	thread_rec(&im, 0, REC_TALLOC, big, 0x20000);
	CHECK(ring_drain(&r, c) > 0);
	CHECK(r.next_seq == big + 1);
	thread_rec(&im, 1, REC_TFREE, 1, 0x10000);	/* late */
	thread_rec(&im, 0, REC_TALLOC, big + 1, 0x10000);	/* the reuse */
	CHECK(ring_drain(&r, c) == 0);
	CHECK(c->n_proc == 1 && addrmap_count(&c->proc[0].live) == 2);
	CHECK(collector_stats(c)->unknown_frees == 0);
	image_release(&im, &r, c);
}

/* A hostile ring whose every record is 8M numbers past the one before: one
 * pass-over a drain (the rest waits in the ring for the next drains), and
 * a second ring asking for as big a window makes room by passing over
 * instead of growing past the windows' memory. */
static void test_numbers_far_apart(void)
{
	const uint64_t step = ((uint64_t)1 << 23) - 1;
	struct image im = { -1, NULL, 0 }, im2 = { -1, NULL, 0 };
	struct ring_reader r = { 0 }, r2 = { 0 };
	struct collector *c = collector_new(), *c2 = collector_new();
	CHECK(c && image_new(&im) == 0 && ring_map(&r, im.fd) == 0);
	CHECK(c2 && image_new(&im2) == 0 && ring_map(&r2, im2.fd) == 0);
	start_and_stack(&im);
	start_and_stack(&im2);
	for (uint64_t k = 0; k < TSIZE / REC_T_LEN; k++)
		thread_rec(&im, 0, REC_TALLOC, (k + 1) * step, 0x1000 + k * 16);
	struct memprof_thread_ring *t = slot_header(&im, 0);
	CHECK(ring_drain(&r, c) > 0);
	CHECK(r.passed_over == 1);
	CHECK(t->tail != t->head);	/* left for the next drains */
	int drains = 1;
	while (t->tail != t->head && drains < 1000) {
		CHECK(ring_drain(&r, c) == 0);
		drains++;
	}
	CHECK(t->tail == t->head);
	CHECK(r.passed_over <= (uint64_t)drains);
	CHECK(r.cap_held == (size_t)1 << 23);
	ring_finish(&r, c);
	CHECK(collector_stats(c)->allocs == TSIZE / REC_T_LEN);
	/* r keeps its 8M window (200 MB); r2 may not have one as well */
	thread_rec(&im2, 0, REC_TALLOC, 0, 0x1000);
	thread_rec(&im2, 0, REC_TALLOC, step, 0x2000);
	thread_rec(&im2, 0, REC_TALLOC, step - 1, 0x3000);
	CHECK(ring_drain(&r2, c2) > 0);
	CHECK(r2.cap_held < (size_t)1 << 23);
	CHECK(r2.passed_over == 1);
	ring_finish(&r2, c2);
	CHECK(collector_stats(c2)->allocs == 3);	/* step - 1 late, but fed */
	image_release(&im2, &r2, c2);
	image_release(&im, &r, c);
}

const struct unit_test ring_tests[] = {
	{ "ring: numbered records in number order across rings", test_number_order_across_rings },
	{ "ring: a missing number holds back, then is passed over", test_gap_held_then_passed },
	{ "ring: a malformed thread record", test_bad_thread_record },
	{ "ring: a thread ring's tail not at a record", test_unaligned_tail },
	{ "ring: a late free before the reuse of its address", test_late_free_before_reuse },
	{ "ring: numbers far apart: one pass-over a drain, windows capped", test_numbers_far_apart },
	{ NULL, NULL },
};
