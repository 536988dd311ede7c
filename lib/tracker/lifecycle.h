/* lifecycle.h - the process image's life as the tracker sees it: start,
 * fork, exec attempted and failed, the end. The one place that changes
 * tracker_state (see tracker.h). */
#ifndef MEMPROF_LIFECYCLE_H
#define MEMPROF_LIFECYCLE_H

#include <stdbool.h>
#include <stdint.h>

#include "stream.h"
#include "tracker.h"

#pragma GCC visibility push(hidden)

/* The image is about to exec: the recording is flushed (a ring needs
 * nothing), REC_EXEC is sent. If exec returns, call lifecycle_exec_failed. */
void lifecycle_exec_begin(void);
void lifecycle_exec_failed(void);

/* The image ends (exit's destructors, _exit, quick_exit, abort): END is
 * sent and the recording flushed; what runs after is still recorded. A
 * vfork child (another pid in our memory) leaves everything alone. */
void lifecycle_end(void);

/* The sampling slow path's look at the world, before it decides: the
 * collector's wish to switch sampling on or off (the ring's header), and,
 * for memprof agent, a connection that closed or can be made again. Takes
 * the lock when there is something to do; the caller is not inside the
 * tracker. The test is inline: at --rate 1 it runs at every allocation. */
void lifecycle_check_slow(void);
static inline void lifecycle_check(void)
{
	int st = tracker_state;
	if ((st == TRACKER_RUNNING || st == TRACKER_PAUSED) &&
	    unlikely(stream_check_due(st == TRACKER_PAUSED)))
		lifecycle_check_slow();
}

/* Whether pc is in libunwind's text (its pipe is refused: see hooks.c). */
bool lifecycle_is_unwinder(uintptr_t pc);
int lifecycle_unwinder_pipe(int fds[2], int flags);

#pragma GCC visibility pop

#endif
