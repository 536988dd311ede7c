/* tracker.h - what every part of the tracker (libmemprof.so) shares: the
 * per-thread state, the lifecycle state and a few macros. The parts and
 * their arrows (see docs/architecture.md):
 *
 *   hooks ──► sampler ──► tables   (pure data: stacks, live blocks, free filter)
 *     │          ├──────► modules  (the loaded objects, sent when they change)
 *     │          └──────► stream   (lock, ring or recording file)
 *     └──► originals (the real allocator, resolved at once)
 *   lifecycle ──► stream, modules, tables, originals  (start, fork, exec, exit)
 */
#ifndef MEMPROF_TRACKER_H
#define MEMPROF_TRACKER_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <time.h>

#pragma GCC visibility push(hidden)

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define EXPORT __attribute__((visibility("default")))

/* pthread_cancel acts at cancellation points: sendmsg, recv, write, open,
 * close, connect, fopen and more. One reached inside the tracker would
 * unwind the thread out of it with its lock held (or its state half made),
 * and the next allocation of every other thread would wait for good. The
 * tracker's calls that are cancellation points run with cancellation held
 * off; a request stays pending for the program's own next one. */
static inline int nocancel_begin(void)
{
	int old;
	pthread_setcancelstate(PTHREAD_CANCEL_DISABLE, &old);
	return old;
}

static inline void nocancel_end(int old)
{
	pthread_setcancelstate(old, &old);
}

/* Per-thread state, initial-exec TLS (no allocation on first access). */
struct thread_state {
	int64_t countdown;	/* bytes until the next sample; <= 0: slow path */
	uint64_t rng;		/* xorshift state, 0 until the thread draws */
	int busy;		/* inside the tracker: allocations pass through */
	int holding;		/* this thread holds (or is taking) the stream lock */
	int in_walk;		/* walking a stack, lock held: dl_iterate_phdr is the copy's */
	int walk_missed;	/* that walk looked for a pc in no object of the copy */
	int walk_mark;		/* that walk notes such pcs as in none (modules.c) */
	uintptr_t walk_pc;	/* the frame libunwind steps from (its lookups' pc) */
	int saved_errno;	/* the program's errno while the lock is held */
	uintptr_t stack_lo, stack_hi;	/* this thread's stack; 0, 0: not known yet */
	int *errno_at;		/* &errno, once looked up (a call into libc each time) */
	int tr_slot;		/* this thread's ring (stream.c): slot + 1; 0: none yet; -1: none */
	int tr_gen;		/* the set of rings tr_slot is of */
	uint64_t tr_head, tr_tail_seen;	/* its head; its tail when last read */
	uint64_t tr_base;	/* the time of its last record; 0: another thread's */
};
extern __thread struct thread_state ts __attribute__((tls_model("initial-exec")));

/* The lifecycle (lifecycle.c writes it; everyone reads it). Ordered so
 * that "tracking" is one comparison. */
enum tracker_state {
	TRACKER_UNSTARTED = 0,	/* before the constructor: threads retry later */
	TRACKER_OFF,		/* not under memprof, or given up: all passes */
	TRACKER_PAUSED,		/* sampling switched off (MEMPROF_ACTIVE=0, the collector):
				 * nothing is sampled; frees of blocks sampled before
				 * are still reported */
	TRACKER_RUNNING,	/* sampling */
	TRACKER_EXEC,		/* exec called (file mode flushed); back to RUNNING if it fails */
	TRACKER_ENDING,		/* END sent; what destructors do is still recorded */
};
extern volatile int tracker_state;

static inline bool tracking(void)
{
	return tracker_state >= TRACKER_RUNNING;
}

/* Whether frees of sampled blocks are reported: also while paused. */
static inline bool tracking_frees(void)
{
	return tracker_state >= TRACKER_PAUSED;
}

extern int64_t tracker_rate;		/* mean bytes between samples; 1: every block */
extern bool tracker_sample_all;		/* rate 1: no table of live blocks */

static inline uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static inline uint64_t wall_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

#pragma GCC visibility pop

#endif
