/* modules.h - the loaded objects, as the collector needs them to map pcs to
 * files: sent at start, and again whenever the loader's list has changed
 * (dl_iterate_phdr's dlpi_adds/dlpi_subs), checked before every stack is
 * unwound, so code of a library still running its constructors is known.
 * No dlopen or dlclose is interposed. Callers hold the stream lock. */
#ifndef MEMPROF_MODULES_H
#define MEMPROF_MODULES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* Remembers the executable's path and our own text (frames to skip). */
void modules_init(void);

/* Sends the whole map and remembers the loader's counters. */
void modules_send(void);

/* Sends the map again if objects were loaded or unloaded since. Returns
 * whether it did (libunwind's caches are then flushed too). */
bool modules_check(void);

/* Remembers the counters without sending (a forked child has its
 * parent's map already). */
void modules_note_current(void);

/* Forgets what was sent: the next modules_check sends the map again (a
 * new collector, after memprof agent came back). */
void modules_forget_sent(void);

const char *modules_exe(void);

/* The executable segment of the object that holds addr (0, 0 if none). */
void modules_text_of(const void *addr, uintptr_t *start, uintptr_t *end);

/* Whether [addr, addr + len) lies in a readable segment of an object
 * loaded when the map was last sent, and none may have gone since. Caller
 * holds the lock. */
bool modules_readable(uintptr_t addr, size_t len);

/* An object is about to be unloaded (dlclose): until the map is sent
 * again, no segment is taken as readable. Lock-free. */
void modules_going(void);
bool modules_stale(void);

extern uintptr_t modules_self_start, modules_self_end;	/* our own text */
static inline bool modules_is_self(uintptr_t pc)
{
	return pc >= modules_self_start && pc < modules_self_end;
}

#pragma GCC visibility pop

#endif
