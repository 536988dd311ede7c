/* sampler.c - sampling decisions and the slow paths (see sampler.h). */
#include "sampler.h"

#include <errno.h>
#include <fcntl.h>
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
#include "lifecycle.h"
#include "modules.h"
#include "originals.h"
#include "records.h"
#include "stream.h"
#include "tables.h"
#include "unwind.h"

#define TRACKER_STACK_SIZE (64 * 1024)

static uint8_t *tracker_stack_top;	/* one stack: used with the lock held */
static uint8_t *refresh_stack_top;	/* another: used under modules.c's claim */

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

static uint8_t *new_stack(void)
{
	size_t guard = 4096;
	uint8_t *s = mmap(NULL, TRACKER_STACK_SIZE + guard, PROT_READ | PROT_WRITE,
			  MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	if (s == MAP_FAILED)
		return NULL;
	mprotect(s, guard, PROT_NONE);	/* an overflow faults instead of corrupting */
	return s + guard + TRACKER_STACK_SIZE;
}

int sampler_init_stack(void)
{
	if (!tracker_stack_top && !(tracker_stack_top = new_stack()))
		return -1;
	if (!refresh_stack_top && !(refresh_stack_top = new_stack()))
		return -1;
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

/* libunwind's walk, as unw_backtrace gives it (the pcs from the caller's
 * caller outwards), but with unw_step alone: unw_backtrace's fast path
 * keeps a per-thread cache of frames that nothing flushes, and a frame
 * walked while the copy of the loader's list lacked its object (just
 * loaded) would stay "the outermost" for good. unw_step's cache is
 * flushed with each new copy (unw_flush_cache). */
static __attribute__((noinline)) int libunwind_walk(uintptr_t *pc, int cap)
{
	unw_context_t uc;
	unw_cursor_t c;
	unw_word_t ip;
	int n = 0;
	if (unw_getcontext(&uc) < 0 || unw_init_local(&c, &uc) < 0)
		return 0;
	/* the frame it steps from: what its dl_iterate_phdr calls look for
	 * (the first one is ours) */
	ts.walk_pc = 0;
	while (n < cap && unw_step(&c) > 0 && unw_get_reg(&c, UNW_REG_IP, &ip) >= 0) {
		pc[n++] = (uintptr_t)ip;
		ts.walk_pc = (uintptr_t)ip;
	}
	return n;
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

/* The per-thread rings were switched on while this thread waited for the
 * lock: timed records from now on, the shared ring's too. */
static __attribute__((noinline, cold)) void emit_timed(uint8_t type, uint32_t stack,
						       uintptr_t addr, uint64_t size)
{
	stream_emit_timed(type, stack, addr, size);
}

static inline __attribute__((always_inline)) void emit_alloc(uintptr_t addr, uint64_t size,
							     uint32_t stack)
{
	if (unlikely(stream_threads_on())) {
		emit_timed(REC_TALLOC, stack, addr, size);
		return;
	}
	uint8_t *r = stream_reserve(REC_ALLOC_LEN);
	if (r) {
		rec_put_alloc(r, addr, size, stack);
		stream_commit(REC_ALLOC_LEN);
	}
}

static inline __attribute__((always_inline)) void emit_free(uintptr_t addr)
{
	if (unlikely(stream_threads_on())) {
		emit_timed(REC_TFREE, 0, addr, 0);
		return;
	}
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
	int c = nocancel_begin();	/* the main thread's: fopen of /proc/self/maps */
	int rc = pthread_getattr_np(pthread_self(), &a);
	nocancel_end(c);
	if (rc != 0)
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
static void on_stack(uint8_t *top, void (*fn)(void *), void *arg)
{
	sigset_t all, old;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	memprof_call_on_stack(arg, fn, top);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

static void on_own_stack(void (*fn)(void *), void *arg)
{
	on_stack(tracker_stack_top, fn, arg);
}

/* modules_refresh's copy (dl_iterate_phdr, realpath, qsort: several KiB)
 * runs without the lock, so not on the tracker's stack: on a second one,
 * which modules.c's claim (one copy at a time) keeps to one thread, when
 * the thread's own stack has no room (coro.c: an 8 KiB coroutine's). */
void sampler_run_refresh(void (*fn)(void *), void *arg)
{
	if (room_here() || !refresh_stack_top)
		fn(arg);
	else
		on_stack(refresh_stack_top, fn, arg);
}

/* ---- checking the cached unwinder against libunwind ------------------------------ */

/* MEMPROF_UNWIND_CHECK=1 (tests): every stack the cached unwinder walks is
 * walked by libunwind too and the two compared; the counts go to stderr at
 * the end of the image, or are appended to the file when the variable is
 * an absolute path. Under the lock. */
bool sampler_unwind_check;
const char *sampler_unwind_check_file;
static uint64_t check_compared, check_differed, check_libunwind;
static uintptr_t check_raw[MEMPROF_MAX_FRAMES + 8];

static size_t skip_self(const uintptr_t *pc, size_t n)
{
	size_t at = 0;
	while (at < n && modules_is_self(pc[at]))
		at++;
	return at;
}

static char *put_hex(char *q, uint64_t v)
{
	char d[16];
	int n = 0;
	do {
		d[n++] = "0123456789abcdef"[v & 15];
		v >>= 4;
	} while (v);
	while (n)
		*q++ = d[--n];
	return q;
}

static char *put_dec(char *q, uint64_t v)
{
	char d[20];
	int n = 0;
	do {
		d[n++] = (char)('0' + v % 10);
		v /= 10;
	} while (v);
	while (n)
		*q++ = d[--n];
	return q;
}

/* The check's output: stderr, or the file named (opened for each line). */
static void check_say_now(const char *line, size_t len)
{
	int fd = 2;
	if (sampler_unwind_check_file)
		fd = open(sampler_unwind_check_file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	else if (fcntl(2, F_GETFD) < 0)
		return;
	if (fd < 0)
		return;
	if (write(fd, line, len) < 0) {
		/* nothing more to do */
	}
	if (fd != 2)
		close(fd);
}

static void check_say(const char *line, size_t len)
{
	int c = nocancel_begin();
	check_say_now(line, len);
	nocancel_end(c);
}

static void say_stack(const char *what, const uintptr_t *pc, size_t n)
{
	char line[64 + 17 * 64], *q = line;
	memcpy(q, what, strlen(what));
	q += strlen(what);
	for (size_t i = 0; i < n && i < 64; i++) {
		*q++ = ' ';
		q = put_hex(q, pc[i]);
	}
	*q++ = '\n';
	check_say(line, (size_t)(q - line));
}

/* Compares what is recorded: the frames after the tracker's own, at most
 * MEMPROF_MAX_FRAMES of them, and whether the stack was cut (the cached
 * unwinder may start below the tracker's frames, so its buffer fills with
 * more of the program's). */
static __attribute__((noinline)) void check_unwind(const uintptr_t *fast, int got)
{
	const int cap = (int)(sizeof(check_raw) / sizeof(check_raw[0]));
	int lib = libunwind_walk(check_raw, cap);
	size_t a = skip_self(fast, (size_t)got), b = skip_self(check_raw, (size_t)lib);
	size_t na = (size_t)got - a, nb = (size_t)lib - b;
	bool cut_a = got == cap || na > MEMPROF_MAX_FRAMES, cut_b = lib == cap || nb > MEMPROF_MAX_FRAMES;
	if (na > MEMPROF_MAX_FRAMES)
		na = MEMPROF_MAX_FRAMES;
	if (nb > MEMPROF_MAX_FRAMES)
		nb = MEMPROF_MAX_FRAMES;
	check_compared++;
	if (na == nb && cut_a == cut_b && !memcmp(fast + a, check_raw + b, na * sizeof(*fast)))
		return;
	if (check_differed++ < 5) {
		say_stack("memprof: unwinder check: cached:   ", fast + a, na);
		say_stack("memprof: unwinder check: libunwind:", check_raw + b, nb);
	}
}

void sampler_unwind_check_report(void)
{
	if (!sampler_unwind_check)
		return;
	char line[160], *q = line;
	const char *s = "memprof: unwinder check: ";
	memcpy(q, s, strlen(s));
	q += strlen(s);
	q = put_dec(q, check_compared);
	memcpy(q, " stacks compared, ", 18);
	q = put_dec(q + 18, check_differed);
	memcpy(q, " differed, ", 11);
	q = put_dec(q + 11, check_libunwind);
	memcpy(q, " left to libunwind\n", 19);
	q += 19;
	check_say(line, (size_t)(q - line));
}

struct trace_job {
	int got;
};

static void trace_on_own_stack(void *arg)
{
	struct trace_job *j = arg;
	j->got = libunwind_walk(raw, (int)(sizeof(raw) / sizeof(raw[0])));
}

/* This thread's last walk, and the id of the stack it gave (memray's
 * validated cache, see unwind.h): an allocation from where the last one
 * was, with the same frames above it, is neither walked nor looked up.
 * The three walks before it are kept too, and tried when the last one
 * does not hold (a program that allocates from a few places in turn).
 * About 2.5 KiB of TLS a thread. */
static __thread struct unwind_memo memo;
static __thread uint32_t memo_id, memo_stacks_gen;
#define OLD_MEMOS 3
static __thread struct unwind_memo old_memos[OLD_MEMOS];
static __thread uint32_t old_ids[OLD_MEMOS], old_stacks_gens[OLD_MEMOS];
static __thread unsigned old_next;

/* The older memo that holds for a walk from `from`, or -1. */
static __attribute__((noinline)) int old_memo_holds(const struct unwind_regs *from)
{
	for (int k = 0; k < OLD_MEMOS; k++)
		if (unwind_memo_holds(&old_memos[k], from))
			return k;
	return -1;
}

/* Before a walk replaces the last memo: keep it among the older ones,
 * in place of one from the same place, else of the oldest. */
static __attribute__((noinline)) void memo_keep(void)
{
	unsigned k;
	for (k = 0; k < OLD_MEMOS; k++)
		if (old_memos[k].start.ip == memo.start.ip && old_memos[k].start.sp == memo.start.sp)
			break;
	if (k == OLD_MEMOS)
		k = old_next++ % OLD_MEMOS;
	old_memos[k] = memo;
	old_ids[k] = memo_id;
	old_stacks_gens[k] = memo_stacks_gen;
}

#define STACK_AGAIN UINT32_MAX

enum walk_mode {
	WALK_PLAIN,	/* a miss asks the next sample to compare the loader's counters */
	WALK_RETRY,	/* a miss of a pc not known to be in no object: STACK_AGAIN */
	WALK_MARK,	/* after the retry's refresh: the pcs missed are noted as in none */
};

/* With the lock held: the id of the calling stack, walked from `from`
 * (NULL: from here), sent first when new; 0 when the table is out of
 * memory. WALK_RETRY: a walk that met a pc the copy of the loader's list
 * does not know, and that is not known to be in no object of it (an
 * object loaded since, running its constructors, say), gives STACK_AGAIN
 * instead: the caller leaves the lock, compares the loader's counters and
 * copies anew if they changed (modules_refresh(true)), and walks again
 * with WALK_MARK, which keeps the stack as walked and notes the pcs still
 * missed (JIT code: never retried for this copy). WALK_PLAIN keeps it as
 * walked; the next sample compares the counters. A miss never makes a
 * full copy. */
static inline __attribute__((always_inline)) uint32_t stack_locked(const struct unwind_regs *from,
								   enum walk_mode mode)
{
	const int cap = (int)(sizeof(raw) / sizeof(raw[0]));
	bool here = room_here(), hit = false;
	int got;
	uint32_t id = 0;
	/* libunwind's dl_iterate_phdr calls are served from the copy now */
	ts.in_walk = 1;
	ts.walk_missed = 0;
	ts.walk_mark = mode == WALK_MARK;
	const uintptr_t *frames = raw;
	int memo_old = -1;	/* the older memo that held */
	if (likely(here)) {
		/* the last walk again; else the cached unwinder; else libunwind */
		int old = -1;
		if (from && unwind_memo_holds(&memo, from)) {
			hit = true;
		} else if (from && (old = old_memo_holds(from)) >= 0) {
			hit = true;
		} else {
			if (memo.gen)
				memo_keep();
			got = unwind_fast_memo(raw, cap, ts.stack_hi, from, &memo, &hit);
		}
		const struct unwind_memo *hm = old >= 0 ? &old_memos[old] : &memo;
		if (hit) {
			got = (int)hm->n;
			frames = hm->pc;
		}
		if (unlikely(got < 0)) {
			got = libunwind_walk(raw, cap);
			check_libunwind++;
		} else if (unlikely(sampler_unwind_check)) {
			check_unwind(frames, got);
		}
		if (hit && old < 0 && memo_stacks_gen == stacks_generation)
			id = memo_id;
		else if (hit && old >= 0 && old_stacks_gens[old] == stacks_generation)
			id = old_ids[old];
		memo_old = old;
	} else {
		struct trace_job j = { 0 };
		on_own_stack(trace_on_own_stack, &j);
		got = j.got;
	}
	ts.in_walk = 0;
	ts.walk_mark = 0;
	if (!id && unlikely(ts.walk_missed)) {
		if (mode == WALK_RETRY)
			return STACK_AGAIN;
		modules_want_check();	/* the next sample compares the counters */
	}
	if (!id) {
		size_t at = 0, n;
		bool truncated = got == cap;
		while (at < (size_t)got && modules_is_self(frames[at]))
			at++;	/* our own frames: the leaf is the allocating function */
		n = (size_t)got - at;
		if (n > MEMPROF_MAX_FRAMES) {
			n = MEMPROF_MAX_FRAMES;
			truncated = true;
		}
		bool is_new;
		id = stacks_id(frames + at, n, &is_new);
		if (id && is_new) {
			struct new_stack ns = { id, truncated, frames + at, n };
			if (here)
				send_new_stack(&ns);
			else
				on_own_stack(send_new_stack, &ns);
		}
		/* for the memo, if this walk made it (else it is void anyway) */
		if (memo_old >= 0) {
			old_ids[memo_old] = id;
			old_stacks_gens[memo_old] = stacks_generation;
		} else {
			memo_id = id;
			memo_stacks_gen = stacks_generation;
		}
	}
	return id;
}

uint32_t sampler_stack_locked(void)
{
	return stack_locked(NULL, WALK_PLAIN);
}

/* With the lock held. */
static inline __attribute__((always_inline)) void record_locked(void *p, uint64_t size,
								uint32_t id)
{
	if (id && (tracker_sample_all || blocks_insert((uintptr_t)p, size, id)))
		emit_alloc((uintptr_t)p, size, id);
	else
		stream_count_lost(LOST_NO_MEMORY);
}

/* A walk met a pc the copy of the loader's list does not know: the lock is
 * left, the copy made anew, the lock taken again and the stack walked
 * again (once). No other thread can free the block meanwhile: the
 * program has not seen it yet. Returns false when the lock could not be
 * taken again (counted lost); else the lock is held. */
static __attribute__((noinline)) bool walk_again(const struct unwind_regs *from, uint32_t *id)
{
	leave();
	modules_refresh(true);
	*id = 0;
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return false;
	}
	if (tracking() && stream_ok())
		*id = stack_locked(from, WALK_MARK);
	return true;
}

/* Per-thread rings: a record that this thread's ring could not take, in
 * the shared ring under the lock (unless the rings went off meanwhile:
 * the sink failed). */
static void emit_shared_timed(uint8_t type, uint32_t stack, uintptr_t addr, uint64_t size)
{
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (stream_threads_on())
		stream_emit_timed(type, stack, addr, size);
	leave();
}

/* Per-thread rings: the stack's id without the lock when one of this
 * thread's last walks holds (the memos are its own; their ids were made,
 * and their REC_STACK sent, under the lock before), else walked under the
 * lock as ever. Only memprof run at --rate 1 (no live table). */
static inline uint32_t memo_id_unlocked(const struct unwind_regs *from)
{
	if (!from || unlikely(sampler_unwind_check) || !room_here())
		return 0;
	uint32_t gen = __atomic_load_n(&stacks_generation, __ATOMIC_RELAXED);
	if (unwind_memo_holds(&memo, from))
		return memo_stacks_gen == gen ? memo_id : 0;
	int old = old_memo_holds(from);
	return old >= 0 && old_stacks_gens[old] == gen ? old_ids[old] : 0;
}

static __attribute__((noinline)) void record_alloc_threaded(void *p, uint64_t size,
							   const struct unwind_regs *from)
{
	uint32_t id = memo_id_unlocked(from);
	if (!id) {
		if (unlikely(modules_want_refresh()))
			modules_refresh(true);
		if (!enter()) {
			stream_count_lost(LOST_REENTERED);
			return;
		}
		if (tracking() && stream_ok()) {
			id = stack_locked(from, WALK_RETRY);
			if (unlikely(id == STACK_AGAIN) && !walk_again(from, &id))
				return;
			if (!id && tracking() && stream_ok())
				stream_count_lost(LOST_NO_MEMORY);
		}
		leave();
		if (!id)
			return;
	}
	if (!stream_thread_emit(REC_TALLOC, id, (uintptr_t)p, size))
		emit_shared_timed(REC_TALLOC, id, (uintptr_t)p, size);
}

static inline __attribute__((always_inline)) void record_alloc(void *p, uint64_t size,
								const struct unwind_regs *from)
{
	if (stream_threads_on()) {
		record_alloc_threaded(p, size, from);
		return;
	}
	/* a walk missed a pc: the loader's counters compared before the lock
	 * is taken, never under it */
	if (unlikely(modules_want_refresh()))
		modules_refresh(true);
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (tracking() && stream_ok()) {
		uint32_t id = stack_locked(from, WALK_RETRY);
		if (unlikely(id == STACK_AGAIN)) {
			if (!walk_again(from, &id))
				return;
			if (!tracking() || !stream_ok()) {
				leave();
				return;
			}
		}
		record_locked(p, size, id);
	}
	leave();
}

void *sample_slow(void *p, size_t size)
{
	return sample_slow_from(p, size, NULL);
}

void *sample_slow_from(void *p, size_t size, const struct unwind_regs *from)
{
	if (ts.busy)
		return p;
	if (tracking_frees())
		lifecycle_check();	/* switched on or off; the agent gone or back */
	if (!tracking()) {
		/* before start-up: try again at the next allocation; paused:
		 * look again after a mean distance; when off: stay on the fast
		 * path */
		ts.countdown = tracker_state == TRACKER_UNSTARTED ? 0
			     : tracker_state == TRACKER_PAUSED ? tracker_rate : INT64_MAX / 2;
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
		record_alloc(p, size, from);
	ts.busy = 0;
	return p;
}

/* Per-thread rings: the free's record in the thread's ring, else in the
 * shared one under the lock. The block's header asked for first: the
 * record's clock waits for every earlier load, so without this the real
 * free's miss on it could not overlap anything (churn 2 10: the program's
 * CPU 1.30 -> 1.21 s). A prefetch never faults, whatever p is (the
 * address computed as an integer: p may be no object's). */
static void free_threaded(void *p)
{
	__builtin_prefetch((const void *)((uintptr_t)p - 16));
	if (!stream_thread_emit(REC_TFREE, 0, (uintptr_t)p, 0))
		emit_shared_timed(REC_TFREE, 0, (uintptr_t)p, 0);
}

void free_slow(void *p)
{
	/* the tracker's own frees (pthread_getattr_np's, say) are of blocks it
	 * never sampled: nothing to report, nothing lost */
	if (!tracking_frees() || ts.busy)
		return;
	if (stream_threads_on()) {
		free_threaded(p);
		return;
	}
	if (!enter()) {
		stream_count_lost(LOST_REENTERED);
		return;
	}
	if (tracker_sample_all || blocks_remove((uintptr_t)p))
		emit_free((uintptr_t)p);
	leave();
}

/* Per-thread rings: old's free is recorded before the real realloc, which
 * may give old's address to another thread at once (as free_threaded
 * records a free before the real free: see lib/ring.c for why the record
 * must be out first). A realloc that fails leaves old live, recorded as
 * freed: counted lost (LOST_NO_MEMORY), as its later free will be an
 * unknown one. A realloc that keeps the block where it was frees and
 * allocates it again, as always. */
static __attribute__((noinline)) void *realloc_threaded(void *old, size_t size)
{
	if (old)
		free_threaded(old);
	void *p = real.realloc(old, size);
	if (unlikely(!p && size && old))
		stream_count_lost(LOST_NO_MEMORY);
	return p;
}

void *realloc_sampled(void *old, size_t size)
{
	if (tracking_frees() && stream_threads_on() && !ts.holding && !ts.busy)
		return realloc_threaded(old, size);
	if (!tracking_frees() || !enter())
		return real.realloc(old, size);
	if (unlikely(stream_threads_on() && ts.busy == 1)) {
		/* switched on while this thread waited for the lock: from now
		 * on a free's record goes out before the real call */
		leave();
		return realloc_threaded(old, size);
	}
	/* the real call sees the program's errno, not what the lock's futex
	 * wait left (EAGAIN): a realloc that succeeds leaves errno alone */
	*ts.errno_at = ts.saved_errno;
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
