/* unwind.h - the tracker's own unwinder for the common case. Per return
 * address it reads the frame's rule once from the object's .eh_frame (where
 * the CFA is, relative to %rsp or %rbp; where the return address and the
 * caller's %rbp were saved), keeps it in a table, and from then on applies
 * it in a few instructions a frame. It knows what it does not handle and
 * says so, and the caller then unwinds with libunwind as before: signal
 * frames, DWARF expressions, a CFA in another register, code without
 * unwind tables, and any read outside the part of the thread's stack above
 * the unwinder's own frame. Caller holds the stream lock (the table is
 * shared by every thread, so a new thread starts with it warm). */
#ifndef MEMPROF_UNWIND_H
#define MEMPROF_UNWIND_H

#include <stdbool.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

/* Fills pc[0..cap) with the calling thread's stack, as unw_backtrace does
 * (the innermost first: a pc in unwind_fast itself, then return addresses;
 * stops after the outermost frame, whose return address is undefined).
 * stack_hi is the end of the thread's stack. Returns the number of frames,
 * or -1 when this stack needs libunwind. */
int unwind_fast(uintptr_t *pc, int cap, uintptr_t stack_hi);

/* Forgets every rule: objects were unloaded (or loaded). */
void unwind_flush(void);

#pragma GCC visibility pop

#endif
