/* sampler.c - sampling decisions and the slow paths (see sampler.h). */
#include "sampler.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <math.h>
#include <stdint.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/uio.h>
#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "draw.h"
#include "modules.h"
#include "originals.h"
#include "records.h"
#include "stream.h"
#include "tables.h"

#define TRACKER_STACK_SIZE (64 * 1024)

static uint8_t *tracker_stack_top;	/* one stack: used with the lock held */

bool sampler_calls_seen;

/* ---- the countdown ---------------------------------------------------------- */

static uint64_t thread_seed(void)
{
	return (uint64_t)(uintptr_t)&ts ^ wall_ns() ^ ((uint64_t)syscall(SYS_gettid) << 32);
}

void sampler_fork_child(void)
{
	ts.rng = 0;	/* reseeded from the child's tid and the time */
	ts.countdown = draw_distance(&ts.rng, thread_seed(), tracker_rate);
}

/* ---- unwinding, on the tracker's own stack ---------------------------------------- */

int sampler_init_stack(void)
{
	size_t guard = 4096;
	uint8_t *s = mmap(NULL, TRACKER_STACK_SIZE + guard, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s == MAP_FAILED)
		return -1;
	mprotect(s, guard, PROT_NONE);	/* an overflow faults instead of corrupting */
	tracker_stack_top = s + guard + TRACKER_STACK_SIZE;
	return 0;
}

#if defined(__x86_64__)
void memprof_call_on_stack(void *arg, void (*fn)(void *), void *stack_top);
#else
static void memprof_call_on_stack(void *arg, void (*fn)(void *), void *stack_top)
{
	(void)stack_top;
	fn(arg);
}
#endif

/* ---- the unwinder's memory reads -------------------------------------------- */

/* libunwind checks that memory is readable, where it must (frames without
 * unwind tables, signal frames), by writing a byte from it into a pipe it
 * keeps open for good. For the tracker's own unwinding its reads go
 * through this accessor instead: the thread's stack, the tracker's stack
 * and the loaded objects' readable segments are read directly; anything
 * else is copied by the kernel (process_vm_readv on ourselves), which
 * fails cleanly where a read would fault. So the tracker holds no pipe.
 * The program's own use of libunwind (ts.busy clear) goes to libunwind's
 * accessor, as without memprof. */
static int (*libunwind_access_mem)(unw_addr_space_t, unw_word_t, unw_word_t *, int, void *);

static inline bool in_range(uintptr_t a, uintptr_t lo, uintptr_t hi)
{
	return a >= lo && a + sizeof(unw_word_t) <= hi && a + sizeof(unw_word_t) > a;
}

static int tracker_access_mem(unw_addr_space_t as, unw_word_t addr, unw_word_t *val, int write,
			      void *arg)
{
	if (!ts.busy)
		return libunwind_access_mem(as, addr, val, write, arg);
	if (write) {
		*(unw_word_t *)addr = *val;	/* as libunwind's: its own cursor */
		return 0;
	}
	uintptr_t a = (uintptr_t)addr;
	if (in_range(a, ts.stack_lo, ts.stack_hi) ||
	    in_range(a, (uintptr_t)tracker_stack_top - TRACKER_STACK_SIZE,
		     (uintptr_t)tracker_stack_top) ||
	    modules_readable(a, sizeof(unw_word_t))) {
		*val = *(const unw_word_t *)a;
		return 0;
	}
	struct iovec local = { val, sizeof(*val) }, remote = { (void *)a, sizeof(*val) };
	if (process_vm_readv(getpid(), &local, 1, &remote, 1, 0) == (ssize_t)sizeof(*val))
		return 0;
	return -UNW_EINVAL;
}

bool sampler_init_unwinder(void)
{
	unw_accessors_t *acc = unw_get_accessors(unw_local_addr_space);
	if (!acc || !acc->access_mem)
		return false;
	if (acc->access_mem != tracker_access_mem) {
		libunwind_access_mem = acc->access_mem;
		acc->access_mem = tracker_access_mem;
	}
	return true;
}

/* The frames of the sample being recorded (under the lock). */
static uintptr_t raw[MEMPROF_MAX_FRAMES + 8];

struct new_stack {
	uint32_t id;
	bool truncated;
	const uintptr_t *pc;
	size_t n;
};

static void emit_stack(uint32_t id, bool truncated, const uintptr_t *pc, size_t n)
{
	uint8_t *r = stream_reserve(REC_STACK_LEN(n)), *q = r;
	if (!r)
		return;
	q = rec_u8(q, REC_STACK);
	q = rec_u32(q, id);
	q = rec_u8(q, truncated);
	q = rec_u16(q, (uint16_t)n);
	for (size_t k = 0; k < n; k++)
		q = rec_u64(q, pc[k]);
	stream_commit(REC_STACK_LEN(n));
}

static void emit_alloc(uintptr_t addr, uint64_t size, uint32_t stack)
{
	uint8_t *r = stream_reserve(REC_ALLOC_LEN);
	if (r) {
		rec_put_alloc(r, addr, size, stack);
		stream_commit(REC_ALLOC_LEN);
	}
}

static void emit_free(uintptr_t addr)
{
	uint8_t *r = stream_reserve(REC_FREE_LEN);
	if (r) {
		rec_put_free(r, addr);
		stream_commit(REC_FREE_LEN);
	}
}

/* A stack seen for the first time. A new stack may hold pcs of a library
 * loaded since (still in its constructors, even): the map goes first.
 * Known stacks were mapped when they were new. */
static void send_new_stack(void *arg)
{
	const struct new_stack *s = arg;
	modules_check();
	emit_stack(s->id, s->truncated, s->pc, s->n);
}

static void recheck_modules(void *arg)
{
	(void)arg;
	if (!modules_check())
		modules_note_current();	/* nothing changed after all: fresh ranges anyway */
}

/* The room the tracker's slow path wants on the program's stack:
 * libunwind's few KiB, and paths of PATH_MAX bytes when the module map is
 * sent, with a wide margin. */
#define STACK_ROOM (32 * 1024)

/* This thread's stack bounds, found once per thread (pthread_getattr_np
 * allocates, which passes through: ts.busy is set). */
static void find_thread_stack(void)
{
	pthread_attr_t a;
	void *addr;
	size_t size;
	ts.stack_lo = ts.stack_hi = 1;	/* tried: unknown unless set below */
	if (pthread_getattr_np(pthread_self(), &a) != 0)
		return;
	if (pthread_attr_getstack(&a, &addr, &size) == 0) {
		ts.stack_lo = (uintptr_t)addr;
		ts.stack_hi = (uintptr_t)addr + size;
	}
	pthread_attr_destroy(&a);
}

void sampler_note_thread_stack(void)
{
	find_thread_stack();
}

/* Whether the work can run where it is: on the thread's own stack, with
 * room to spare. Else (a coroutine's small stack, an alternate signal
 * stack, a deep recursion) it moves to the tracker's own stack. */
static inline bool room_here(void)
{
	uintptr_t sp = (uintptr_t)__builtin_frame_address(0);
	if (unlikely(!ts.stack_hi))
		find_thread_stack();
	return sp >= ts.stack_lo + STACK_ROOM && sp < ts.stack_hi;
}

/* Runs fn(arg) on the tracker's stack with the program's asynchronous
 * signals blocked, so no handler of the program ever runs on our stack (a
 * collector that scans the interrupted stack, a handler that needs more). */
static void on_own_stack(void (*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	memprof_call_on_stack(arg, fn, tracker_stack_top);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

struct trace_job {
	int got;
};

static void trace_on_own_stack(void *arg)
{
	struct trace_job *j = arg;
	j->got = unw_backtrace((void **)raw, (int)(sizeof(raw) / sizeof(raw[0])));
}

/* With the lock held: the id of the calling stack (sent first when new),
 * 0 when the table is out of memory. */
static inline __attribute__((always_inline)) uint32_t stack_locked(void)
{
	const int cap = (int)(sizeof(raw) / sizeof(raw[0]));
	bool here = room_here();
	int got;
	if (unlikely(modules_stale())) {
		/* an object went (dlclose): libunwind forgets its cached unwind
		 * info, the map and the readable segments are made anew */
		if (here)
			recheck_modules(NULL);
		else
			on_own_stack(recheck_modules, NULL);
	}
	if (likely(here)) {
		got = unw_backtrace((void **)raw, cap);
	} else {
		struct trace_job j = { 0 };
		on_own_stack(trace_on_own_stack, &j);
		got = j.got;
	}
	size_t at = 0, n;
	bool truncated = got == cap;
	while (at < (size_t)got && modules_is_self(raw[at]))
		at++;	/* our own frames: the leaf is the allocating function */
	n = (size_t)got - at;
	if (n > MEMPROF_MAX_FRAMES) {
		n = MEMPROF_MAX_FRAMES;
		truncated = true;
	}
	bool is_new;
	uint32_t id = stacks_id(raw + at, n, &is_new);
	if (id && is_new) {
		struct new_stack ns = { id, truncated, raw + at, n };
		if (here)
			send_new_stack(&ns);
		else
			on_own_stack(send_new_stack, &ns);
	}
	return id;
}

uint32_t sampler_stack_locked(void)
{
	return stack_locked();
}

/* With the lock held. */
static inline __attribute__((always_inline)) void record_locked(void *p, uint64_t size)
{
	uint32_t id = stack_locked();
	if (id && (tracker_sample_all || blocks_insert((uintptr_t)p, size, id)))
		emit_alloc((uintptr_t)p, size, id);
	else
		stream_count_lost(LOST_NO_MEMORY);
}

static inline __attribute__((always_inline)) void record_alloc(void *p, uint64_t size)
{
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (tracking() && stream_ok())
		record_locked(p, size);
	leave();
}

void *sample_slow(void *p, size_t size)
{
	if (ts.busy)
		return p;
	if (!tracking()) {
		/* before start-up: try again at the next allocation; when off:
		 * stay on the fast path */
		ts.countdown = tracker_state == TRACKER_UNSTARTED ? 0 : INT64_MAX / 2;
		return p;
	}
	ts.busy = 1;	/* errno: record_alloc's enter()/leave() keep the program's */
	if (!sampler_calls_seen)
		__atomic_store_n(&sampler_calls_seen, true, __ATOMIC_RELAXED);
	bool fresh = ts.rng == 0 && tracker_rate > 1;
	ts.countdown = draw_distance(&ts.rng, fresh ? thread_seed() : 0, tracker_rate);
	/* a new thread draws its first distance; this block counts against it */
	if (fresh && (int64_t)size < ts.countdown)
		ts.countdown -= (int64_t)size;
	else if (p)
		record_alloc(p, size);
	ts.busy = 0;
	return p;
}

void free_slow(void *p)
{
	/* the tracker's own frees (pthread_getattr_np's, say) are of blocks it
	 * never sampled: nothing to report, nothing lost */
	if (!tracking() || ts.busy)
		return;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (tracker_sample_all || blocks_remove((uintptr_t)p))
		emit_free((uintptr_t)p);
	leave();
}

void *realloc_sampled(void *old, size_t size)
{
	if (!tracking() || !enter())
		return real.realloc(old, size);
	void *p = real.realloc(old, size);
	int e = errno;
	/* glibc's realloc(p, 0) frees p; a failed realloc leaves it */
	if ((p || !size) && (tracker_sample_all || blocks_remove((uintptr_t)old)))
		emit_free((uintptr_t)old);
	leave();
	errno = e;
	return p;
}

void sampler_note_deepbind(const char *file)
{
	if (!tracking() || !enter())
		return;
	uint8_t *r = stream_reserve(MEMPROF_RECORD_MAX), *q = r;
	if (r) {
		q = rec_u8(q, REC_DEEPBIND);
		q = rec_name(q, file ? file : "");
		stream_commit((size_t)(q - r));
	}
	leave();
}
