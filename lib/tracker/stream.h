/* stream.h - where the tracker's records go: the lock that orders them, and
 * one sink, either a shared-memory ring that memprof reads (memprof run) or
 * a recording file (standalone mode). Knows no lifecycle: callers say when
 * to open, when the process forked, and when to flush. */
#ifndef MEMPROF_STREAM_H
#define MEMPROF_STREAM_H

#include <errno.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "records.h"
#include "tracker.h"

#pragma GCC visibility push(hidden)

/* ---- the lock ------------------------------------------------------------- */

/* 0 free, 1 taken, 2 taken and someone may be waiting (the futex mutex of
 * Drepper's "Futexes Are Tricky"). It protects the sink, the tables and
 * everything they send.
 *
 * The loader's lock. The stream lock is a leaf: whoever holds it takes no
 * other lock the program can hold meanwhile, and above all never one of
 * the dynamic loader's (dl_iterate_phdr takes glibc's dl_load_write_lock,
 * dladdr/dlsym/dlopen its dl_load_lock). A program may allocate while it
 * holds them: a dl_iterate_phdr callback that mallocs, dlclose freeing its
 * bookkeeping with the write lock held, __tls_get_addr growing a thread's
 * dtv. That thread waits here; if the holder waited for the loader, both
 * would wait for good (t0280 hung 5 runs in 5 before). So the tracker's
 * loader calls are all made without the lock:
 *  - modules.c copies the loader's list (modules_refresh) before taking
 *    it: at start, when an object may have gone (dlclose marks that, before
 *    and after the real call), and when a walk met a pc that no object of
 *    the copy holds (the walk is then made again, once: walk_again in
 *    sampler.c). Under the lock only the copy is read; libunwind's own
 *    dl_iterate_phdr calls during a walk (ts.in_walk) are served from it
 *    by the interposed dl_iterate_phdr (hooks.c).
 *  - The copy is claimed by one thread at a time, never waited for: a
 *    thread that finds it claimed walks with the current copy.
 *  - dlclose: the copy is marked stale before and after the real call and
 *    made again in the hook after it, in the program's own loader call:
 *    an allocation after a dlclose never calls the loader (review6 ll.c:
 *    a thread allocating while it holds a lock that another thread's
 *    dl_iterate_phdr callback waits for hung before, t0281).
 *  - A miss of a pc not known to be in no object compares the loader's
 *    counters (dl_iterate_phdr) and copies only if they changed; the walk
 *    after notes the pcs it still misses (JIT code) for this copy.
 *  - The copy runs on a stack of the tracker's own when the thread's has
 *    no room (sampler_run_refresh; one thread at a time by the claim).
 * Reasoned case by case:
 *  - dlopen: constructors run with dl_load_lock held (not the write lock).
 *    An allocation there walks frames of an object the copy lacks: miss,
 *    lock left, copy made (dl_iterate_phdr is allowed in a constructor),
 *    walked again: its frames are named.
 *  - dlclose: destructors run before the object is unmapped, so their
 *    frames are in the copy; the loader's own frees under its write lock
 *    wait only for the stream lock, whose holder waits for nothing.
 *  - C++ throw: libgcc's unwinder may hold its object_mutex while it
 *    allocates, and calls dl_iterate_phdr (forwarded as is). The tracker
 *    never takes object_mutex nor calls libgcc's unwinder: no cycle.
 *  - A signal handler that allocates while its thread holds the lock:
 *    enter() refuses (ts.holding) and the record is counted lost, as
 *    before; while its thread copies the list: the claim is taken, the
 *    handler walks with the current copy, never waits.
 *  - fork: atfork_prepare takes only the stream lock; a thread that was
 *    copying is not in the child, whose claim is reset (modules_fork_child)
 *    and which keeps its parent's copy. glibc 2.36's fork resets
 *    dl_load_lock in the child but not dl_load_write_lock (tested: a
 *    parent thread inside dl_iterate_phdr at fork, the child's
 *    dl_iterate_phdr never returns), so the child makes no copy and
 *    compares no counters until the program's own dlclose or
 *    dl_iterate_phdr has returned in it (modules_loader_ok; t0281).
 *  - What is left: the counters are compared (and a copy made if they
 *    changed) from inside the allocation whose walk first met a pc in no
 *    object of the copy (a JIT's code, a library loaded since: dlopen's
 *    constructors), with whatever locks the program holds there. If it
 *    holds a lock L while another thread is inside a dl_iterate_phdr
 *    callback that waits for L, both wait for good; without memprof that
 *    allocation would not wait for the loader. Closing it needs the
 *    loader's counters without its lock, which glibc does not offer.
 *    dl_iterate_phdr is recursive for the thread that holds the write
 *    lock, and the tracker holds none of its own locks then. */
extern int stream_lock_word;
void stream_lock_slow(void);
void stream_unlock_wake(void);

static inline bool stream_lock_try(void)
{
	int c = 0;
	return __atomic_compare_exchange_n(&stream_lock_word, &c, 1, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

/* Enters the tracker: sets ts.busy (what this thread allocates meanwhile
 * passes through untracked), saves errno and takes the lock, unless this
 * thread has it already: then a signal handler interrupted the tracker in
 * this very thread, and waiting would deadlock. Returns false then; the
 * caller skips its work and counts it (stream_count_lost). */
static inline bool enter(void)
{
	ts.busy++;
	if (ts.holding) {
		ts.busy--;
		return false;
	}
	ts.holding = 1;	/* before the lock: a handler arriving now must not wait */
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	if (unlikely(!ts.errno_at))
		ts.errno_at = &errno;
	int saved = *ts.errno_at;
	if (!stream_lock_try())
		stream_lock_slow();
	ts.saved_errno = saved;
	return true;
}

/* Leaves the tracker; errno is the program's again, whatever we did. */
static inline void leave(void)
{
	int saved = ts.saved_errno;
	if (unlikely(__atomic_exchange_n(&stream_lock_word, 0, __ATOMIC_RELEASE) == 2))
		stream_unlock_wake();
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ts.holding = 0;
	ts.busy--;
	*ts.errno_at = saved;
}

/* ---- the sink ------------------------------------------------------------- */

/* memprof's fallback socket (MEMPROF_SOCKET), for an image that lost the
 * descriptor it inherited: call before stream_use_socket. */
void stream_set_fallback(const char *path, int collector);

/* Takes fd (inherited from memprof run) as the connection to memprof,
 * after checking that it is a socket whose peer is process `collector`;
 * else connects to the fallback socket. Returns 0 or -1. */
int stream_use_socket(int fd, int collector);

/* memprof agent: connects to the agent's socket at path (absolute) and
 * starts a ring. An agent that is not there (yet), or cannot be trusted
 * (see stream.c), leaves the stream detached: records are counted as lost
 * and stream_agent_poll tries again. Returns 0, or -1 for a bad path. */
int stream_use_agent(const char *path);
bool stream_agent_mode(void);
bool stream_detached(void);

/* Agent mode, with the lock held: notices an agent that closed its end
 * (one non-blocking peek per 10 ms at most: records made in between go
 * to the old ring, and count as unread) and, at most once a second,
 * connects again. Returns 1 when connected
 * anew (a new ring: the caller sends REC_START and what follows, with
 * stream_take_detached's figures), 0 when connected, -1 when detached. */
int stream_agent_poll(void);
void stream_take_detached(uint64_t *since_ns, uint64_t *lost, uint64_t *unread);

/* The collector's wish for sampling (enum memprof_ring_want) in the ring's
 * header, and where the image says whether it samples. Under the lock. */
uint32_t stream_want(void);
void stream_note_sampling(bool on);

/* This image's ring's header (memprof run, the agent), or NULL; set at
 * start and in a forked child (one thread then), and left mapped once the
 * sink failed: readable without the lock. And whether the connection is
 * the agent's, ours to make again. */
extern struct memprof_ring *stream_hdr;
extern bool stream_agent_on;

/* Without the lock, on every sampled allocation: whether lifecycle_check
 * has something to do (the collector's wish differs from the state
 * (paused or not), or agent mode, whose connection is looked at under the
 * lock). Saves a lock round trip per sample at --rate 1; inline, as it is
 * asked at every sample there. */
static inline bool stream_check_due(bool paused)
{
	if (stream_agent_on)
		return true;
	const struct memprof_ring *r = __atomic_load_n(&stream_hdr, __ATOMIC_ACQUIRE);
	if (!r)
		return false;
	uint32_t want = __atomic_load_n(&r->want, __ATOMIC_ACQUIRE);
	return paused ? want == RING_WANT_ON : want == RING_WANT_OFF;
}

/* Opens the standalone recording at path (absolute). With create, makes it
 * exclusively (O_EXCL, 0600, no symlink) and writes the header with token;
 * otherwise appends only if it is a regular file of ours whose header has
 * token. Returns 0, or -1 with a reason in *why. The descriptor sits high,
 * never on 0-2. */
int stream_open_file(const char *path, uint64_t token, bool create, const char **why);

/* Says which process image the records are from (batch headers, hello). */
void stream_set_identity(uint32_t pid, uint32_t incarnation);

/* With a socket: makes this image's ring and hands it to memprof. Caller
 * holds the lock or is single-threaded. Returns 0 or -1. */
int stream_start_ring(void);

/* Where the inline reserve and commit write: this image's ring, or in file
 * mode the batch buffer (data is the buffer, head its length, tail_seen 0).
 * data NULL: no sink, or it has failed (end and slow_at 0 then). A reserve
 * past end (tail_seen + size) goes to stream_reserve_slow; a commit that
 * takes head past slow_at to stream_commit_slow: for a ring at a quarter
 * full (ask memprof to read), for a file when it is time to look at the
 * clock. Under the lock; here so that the common case is inline. */
struct stream_ring {
	uint8_t *data;
	uint64_t *head_out;	/* where head is published: the ring's, or a dummy */
	uint64_t head, end, slow_at;
	uint64_t tail_seen, size;
};
extern struct stream_ring stream_ring;

uint8_t *stream_reserve_slow(size_t len);
void stream_commit_slow(size_t len);

/* Room for len bytes (<= MEMPROF_RECORD_MAX) of records; NULL when the sink
 * has failed (then the record is lost: memprof reports the process). Caller
 * holds the lock; the bytes count once stream_commit(len) is called. */
static inline uint8_t *stream_reserve(size_t len)
{
	struct stream_ring *r = &stream_ring;
	if (likely(r->head + len <= r->end))
		return r->data + (r->head & (r->size - 1));
	return stream_reserve_slow(len);
}

static inline void stream_commit(size_t len)
{
	struct stream_ring *r = &stream_ring;
	r->head += len;	/* a reserve succeeded: data is set */
	__atomic_store_n(r->head_out, r->head, __ATOMIC_RELEASE);
	if (likely(r->head <= r->slow_at))
		return;
	stream_commit_slow(len);
}

static inline void stream_emit(const void *rec, size_t len)
{
	uint8_t *p = stream_reserve(len);
	if (p) {
		__builtin_memcpy(p, rec, len);
		stream_commit(len);
	}
}

/* ---- per-thread rings (memprof run, --rate 1; see stream.c) ---------------- */

#define TR_SLOTS 16
#define TR_SIZE ((uint64_t)1024 << 10)
#define TR_STRIDE (MEMPROF_THREAD_RING_HEADER + TR_SIZE)

extern uint8_t *stream_tr_base;	/* NULL: no per-thread rings; mapped until a fork's child */
extern bool stream_threads;	/* there are, and the sink has not failed */
extern int stream_tr_gen;

/* Whether this image has per-thread rings (then its allocations and frees
 * are REC_TALLOC and REC_TFREE, timed by stream_clock). */
static inline bool stream_threads_on(void)
{
	return __atomic_load_n(&stream_threads, __ATOMIC_RELAXED);
}

/* A record's time: CLOCK_MONOTONIC, which the kernel keeps monotonic
 * across CPUs. Read after what came before it in this thread (the vDSO
 * reads the TSC ordered after earlier loads: an allocation's time comes
 * after malloc's load that found the block free; the fence is for other
 * machines). */
static inline uint64_t stream_clock(void)
{
	struct timespec t;
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline struct memprof_thread_ring *stream_tr_header(int slot)
{
	return (struct memprof_thread_ring *)(stream_tr_base + (size_t)slot * TR_STRIDE);
}

/* Writes, timed now, and publishes the record in this thread's ring h;
 * false when there is no room after all (a signal handler wrote between
 * the caller's look and now). ts.holding set meanwhile: a handler that
 * interrupts it counts its record lost rather than write one here timed
 * later but published first. The head is published before the caller
 * goes on to the real free: the record of a free is out before the block
 * can be anyone else's (the release fence: for other machines than x86,
 * whose stores stay in order). */
static inline bool stream_thread_put(struct memprof_thread_ring *h, uint8_t type, uint32_t stack,
				     uint64_t addr, uint64_t size)
{
	ts.holding = 1;
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	bool room = ts.tr_head + REC_T_ROOM - ts.tr_tail_seen <= TR_SIZE;
	if (likely(room)) {
		uint64_t head = rec_put_thread((uint8_t *)h + MEMPROF_THREAD_RING_HEADER, TR_SIZE,
					       ts.tr_head, &ts.tr_base, type, stack, stream_clock(),
					       addr, size);
		ts.tr_head = head;
		__atomic_store_n(&h->head, head, __ATOMIC_RELEASE);
		__atomic_thread_fence(__ATOMIC_RELEASE);
	}
	__atomic_signal_fence(__ATOMIC_SEQ_CST);
	ts.holding = 0;
	return room;
}

/* MEMPROF_THREAD_RINGS: 0 no per-thread rings, 1 in use from the start,
 * -1 ("auto", the default) from the first time two threads meet at the
 * lock. Before the ring is made. */
void stream_set_thread_rings(int mode);

/* This thread's ring, with room for one record: claimed at its first
 * record; a quarter full asks memprof to read; full, waits for memprof
 * (thread_ring_wait, stream.c). NULL when it cannot (no ring free, this
 * one still full after a second, or a signal handler inside this path):
 * the record goes to the shared ring under the lock (stream_emit_timed). */
struct memprof_thread_ring *stream_thread_ring_slow(void);

static inline struct memprof_thread_ring *stream_thread_ring(void)
{
	if (likely(ts.tr_slot > 0 && ts.tr_gen == stream_tr_gen && !ts.holding &&
		   ts.tr_head + REC_T_ROOM - ts.tr_tail_seen <= TR_SIZE / 4))
		return stream_tr_header(ts.tr_slot - 1);
	return stream_thread_ring_slow();
}

/* Without the lock: the record, timed now, in this thread's ring. Returns
 * false when it cannot: then the caller writes it with stream_emit_timed
 * under the lock. */
static inline bool stream_thread_emit(uint8_t type, uint32_t stack, uint64_t addr, uint64_t size)
{
	struct memprof_thread_ring *h = stream_thread_ring();
	return h && stream_thread_put(h, type, stack, addr, size);
}

/* The same record in the shared ring, timed now; caller holds the lock. */
void stream_emit_timed(uint8_t type, uint32_t stack, uint64_t addr, uint64_t size);

/* Records that could not be made; sent with the next flush. Lock-free. */
void stream_count_lost(int why);
/* Sends the lost counts now. Caller holds the lock. */
void stream_send_lost(void);

/* File mode: writes the buffered batch (caller holds the lock). A ring
 * needs no flush. flush_each: from now on every commit is written at once
 * (the image is ending). */
void stream_flush(void);
void stream_flush_each(bool on);

/* Whether records are still going anywhere: the sink has not failed, and
 * there is one (data is set only then). Agent mode, detached: false, and
 * the caller's sampled event is counted as lost (stream_ok_slow). */
bool stream_ok_slow(void);
static inline bool stream_ok(void)
{
	return stream_ring.data != NULL || stream_ok_slow();
}

/* In a forked child (single-threaded, lock state reset): the parent's ring
 * and buffer are not ours; the next stream_start_ring makes our own. */
void stream_fork_child(void);
void stream_lock_reset(void);

#pragma GCC visibility pop

#endif
