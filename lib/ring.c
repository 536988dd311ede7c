/* ring.c - reading a process image's shared-memory ring (see ring.h). */
#include "ring.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include "collect.h"
#include "tracker/records.h"

#define RING_SIZE_MAX ((uint64_t)256 << 20)

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

long ring_drain(struct ring_reader *r, struct collector *c)
{
	if (!r->hdr)
		return 0;
	struct memprof_ring *h = r->hdr;
	note_dropped(r, c);
	/* the size is read from our copy: the image could change the shared one */
	uint64_t size = (uint64_t)(r->map_len - MEMPROF_RING_DATA_OFFSET) / 2;
	uint64_t head = __atomic_load_n(&h->head, __ATOMIC_ACQUIRE);
	uint64_t tail = __atomic_load_n(&h->tail, __ATOMIC_RELAXED);
	if (head == tail) {
		wake_producer(h, c);
		return 0;
	}
	if (r->bad || head - tail > size) {
		/* unreadable from here on: its room is freed, so the image never
		 * waits for us, and what it writes is dropped (reported) */
		r->bad = true;
		__atomic_store_n(&h->tail, head, __ATOMIC_RELEASE);
		wake_producer(h, c);
		return -EINVAL;
	}
	size_t used = 0;
	int rc = collector_feed_records(c, r->pid, r->incarnation, r->data + (tail & (size - 1)),
					(size_t)(head - tail), &used);
	__atomic_store_n(&h->tail, tail + used, __ATOMIC_RELEASE);
	wake_producer(h, c);
	if (rc == -EINVAL)
		r->bad = true;
	return rc < 0 ? rc : (long)used;
}

void ring_unmap(struct ring_reader *r)
{
	if (r->hdr)
		munmap(r->hdr, r->map_len);
	r->hdr = NULL;
}
