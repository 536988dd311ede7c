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
 * whether this allocation must go through sample_slow. */
static inline bool countdown_expired(size_t size)
{
	ts.countdown -= (int64_t)size;
	return unlikely(ts.countdown <= 0);
}

/* The slow path of an allocation whose countdown ran out: draws the next
 * distance and records p (a block of size bytes) with its stack. Returns
 * p. Tail-call it: the unwinder then walks one frame of ours, not several. */
void *sample_slow(void *p, size_t size);

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

/* Routes libunwind's memory reads for the tracker's own unwinding through
 * an accessor that needs no descriptor (see sampler.c). Returns whether it
 * could. */
bool sampler_init_unwinder(void);

/* Finds the calling thread's stack bounds now (the main thread's at
 * start-up, where reading /proc/self/maps is safe). */
void sampler_note_thread_stack(void);

/* Whether any allocation came through the tracker while it was on. */
extern bool sampler_calls_seen;

/* A forked child draws afresh: its first sample is not its parent's. */
void sampler_fork_child(void);

#pragma GCC visibility pop

#endif
