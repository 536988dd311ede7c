/* sampler.h - what is recorded: the per-thread byte countdown (exponential
 * distances with mean = rate, as Go's MemProfileRate), and the slow paths
 * that unwind sampled allocations and report frees of sampled blocks. The
 * fast-path helpers are inline here, where the hooks call them. */
#ifndef MEMPROF_SAMPLER_H
#define MEMPROF_SAMPLER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tracker.h"

#pragma GCC visibility push(hidden)

/* This runs on every allocation: one subtraction and a branch. Says
 * whether this allocation must go through sample_slow. On x86-64 the
 * subtraction is one instruction on the TLS slot that sets the flags the
 * branch reads (gcc emits load, sub, store and test for the C). */
static inline bool countdown_expired(size_t size)
{
#if defined(__x86_64__)
	asm goto("subq %1, %0\n\tjle %l[expired]"
		 : /* no outputs: gcc 12 drops the label's block when there are */
		 : "m"(ts.countdown), "r"((int64_t)size)
		 : "cc", "memory"
		 : expired);
	return false;
expired:
	return true;
#else
	ts.countdown -= (int64_t)size;
	return unlikely(ts.countdown <= 0);
#endif
}

/* The slow path of an allocation whose countdown ran out: draws the next
 * distance and records p (a block of size bytes) with its stack. Returns
 * p. Tail-call it: the unwinder then walks one frame of ours, not several. */
void *sample_slow(void *p, size_t size);

/* The same, unwinding from the frame `from` (the caller of an entry
 * point, whose registers the entry's stub saved; see hooks.c). */
struct unwind_regs;
void *sample_slow_from(void *p, size_t size, const struct unwind_regs *from);

/* Before the real free of p, whose page the free filter marked: reports the
 * block if it was sampled. */
void free_slow(void *p);

/* realloc when old may be a sampled block: calls the real realloc with the
 * lock held, so the free of old is reported before another thread can be
 * given its address, and only if old is gone. Returns what realloc returns. */
void *realloc_sampled(void *old, size_t size);

/* For the other samplers (mmap.c, pool.c), with the lock held: unwinds
 * the caller's stack and returns its id (the stack is sent when new); 0
 * when out of memory. */
uint32_t sampler_stack_locked(void);

/* Records that a library is dlopen'ed with RTLD_DEEPBIND. */
void sampler_note_deepbind(const char *file);

/* The tracker's own stack, where unwinding runs (the program's may be a
 * coroutine's 8 KiB); made once at start. Returns 0 or -1. */
int sampler_init_stack(void);

/* Runs fn(arg), on a stack of the tracker's own when this thread's has no
 * room to spare. For modules_refresh only, under its claim. */
void sampler_run_refresh(void (*fn)(void *), void *arg);

/* Routes libunwind's memory reads for the tracker's own unwinding through
 * an accessor that needs no descriptor (see sampler.c). Returns whether it
 * could. */
bool sampler_init_unwinder(void);

/* Finds the calling thread's stack bounds now (the main thread's at
 * start-up, where reading /proc/self/maps is safe). */
void sampler_note_thread_stack(void);

/* Whether any allocation came through the tracker while it was on. */
extern bool sampler_calls_seen;

/* MEMPROF_UNWIND_CHECK: compare the cached unwinder with libunwind on
 * every sample; the report goes to stderr at the end. */
extern bool sampler_unwind_check;
extern const char *sampler_unwind_check_file;	/* NULL: stderr */
void sampler_unwind_check_report(void);

/* A forked child draws afresh: its first sample is not its parent's. */
void sampler_fork_child(void);

#pragma GCC visibility pop

#endif
