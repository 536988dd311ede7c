/* modules.h - the loaded objects, as the collector needs them to map pcs to
 * files and the unwinders need them to find unwind tables. A copy of the
 * loader's list is made outside the tracker's lock (modules_refresh) and
 * read under it: nothing here calls the loader with the lock held (see
 * "the loader's lock" in stream.h). The copy is sent to memprof before the
 * first stack that needs it, and made again when an object goes (dlclose)
 * or a walk meets a pc that no object of the copy holds. */
#ifndef MEMPROF_MODULES_H
#define MEMPROF_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "tracker.h"

#pragma GCC visibility push(hidden)

/* Remembers the executable's path and our own text (frames to skip). */
void modules_init(void);

/* Copies the loader's list (dl_iterate_phdr) and makes the copy current,
 * flushing the unwinders' caches: without the lock (it takes it to make
 * the copy current); sets ts.busy itself (realpath and qsort may
 * allocate), and runs on a stack of the tracker's own when the thread's
 * has no room (sampler_run_refresh). With if_changed, or when no object
 * may have gone since the copy (only a walk's miss asked), first compares
 * the loader's counters (dlpi_adds, dlpi_subs) with the copy's and does
 * nothing when they are the same. Never waits: in a signal handler that
 * interrupted the tracker, while another thread copies, or in a forked
 * child until the loader is known usable there, it does nothing. Returns
 * whether a new copy was made. */
bool modules_refresh(bool if_changed);

#define MODULES_STALE 1	/* an object may have gone, or no copy yet: copy again */
#define MODULES_CHECK 2	/* a walk missed: compare the loader's counters */
extern int modules_ranges_stale;

/* Whether a sample should run modules_refresh(true) before walking: a
 * walk missed a pc (WALK_PLAIN). Not for an object that went: the
 * dlclose hook copies the list after the real call (see "what is left"
 * in stream.h). Lock-free. */
static inline bool modules_want_refresh(void)
{
	return __atomic_load_n(&modules_ranges_stale, __ATOMIC_ACQUIRE) & MODULES_CHECK;
}

/* The dlclose hook, after the real call: marks the copy stale and makes it
 * anew there, in the program's own loader call (it waited for the loader
 * just now), never from an allocation that may hold a lock that a
 * dl_iterate_phdr callback wants. */
void modules_after_dlclose(void);

/* A walk that could not be made again missed a pc: the next sample
 * compares the loader's counters (never a full copy for a miss). */
void modules_want_check(void);

/* The program's own loader call returned in this process: its locks are
 * usable (a forked child may copy again). */
void modules_loader_ok(void);

/* Sends the whole map, from the copy. Caller holds the lock. */
void modules_send(void);

/* Sends the map if the copy is newer than what was sent. Returns whether
 * it did. Caller holds the lock. */
bool modules_check(void);

/* Takes the current copy as sent (a forked child: memprof gives it its
 * parent's map). */
void modules_note_current(void);

/* A forked child: no other thread is copying any more. */
void modules_fork_child(void);

/* For a walk, with the lock held: the .eh_frame_hdr of the object of the
 * copy that holds pc (*hdr NULL if it has none); false when none does. */
bool modules_eh_frame_hdr(uintptr_t pc, const uint8_t **hdr, size_t *len);

/* dl_iterate_phdr over the copy (hooks.c serves libunwind's calls with it
 * while the tracker walks a stack, lock held). */
struct dl_phdr_info;
int modules_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data);

/* A walk (lock held, ts.in_walk set) that looks for a pc in no object of
 * the copy sets ts.walk_missed, unless that pc is known to be in none of
 * this copy: then a newer copy may know it (modules_refresh(true)). With
 * ts.walk_mark (the walk after that), it notes such pcs as known instead.
 * libunwind's lookups are keyed by ts.walk_pc, the frame it steps from. */

/* Forgets what was sent: the next modules_check sends the map again (a
 * new collector, after memprof agent came back). */
void modules_forget_sent(void);

const char *modules_exe(void);

/* The executable segment of the object that holds addr (0, 0 if none). */
void modules_text_of(const void *addr, uintptr_t *start, uintptr_t *end);

/* Whether [addr, addr + len) lies in a readable segment of an object of
 * the copy, and none may have gone since. Caller holds the lock. */
bool modules_readable(uintptr_t addr, size_t len);

/* An object may be unloaded (dlclose, before and after the real one): until the copy is made again, no segment is taken
 * as readable, and the next sampled allocation makes it. Lock-free. */
void modules_going(void);
static inline bool modules_stale(void)
{
	return __atomic_load_n(&modules_ranges_stale, __ATOMIC_ACQUIRE) & MODULES_STALE;
}

extern uintptr_t modules_self_start, modules_self_end;	/* our own text */
static inline bool modules_is_self(uintptr_t pc)
{
	return pc >= modules_self_start && pc < modules_self_end;
}

#pragma GCC visibility pop

#endif
