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

/* A frame's registers at a return address: %rip (the return address),
 * %rsp (after the return) and %rbp. */
struct unwind_regs {
	uintptr_t ip, sp, bp;
};

/* What one walk read, to repeat it without walking (memray's validated
 * stack cache, exact here): the same starting registers, the same rules
 * and the same words at the same stack addresses can only give the same
 * frames. The starting %rbp counts only if a CFA was computed from it
 * (in -O2 code it is often just a register that holds anything). Per
 * thread; small stacks only. */
#define UNWIND_MEMO_MAX 24
struct unwind_memo {
	struct unwind_regs start;
	uint32_t gen;		/* the rules' generation when made; 0: empty */
	uint32_t n_reads, n;	/* words read, frames */
	bool uses_bp;		/* the starting %rbp was used (else any will do) */
	uintptr_t at[UNWIND_MEMO_MAX], val[UNWIND_MEMO_MAX];	/* address, word read there */
	uintptr_t pc[UNWIND_MEMO_MAX];
};

/* Fills pc[0..cap) with the calling thread's stack, as unw_backtrace does
 * (the innermost first: a pc in the unwinder itself, then return
 * addresses; stops after the outermost frame, whose return address is
 * undefined), or from the frame `from` outwards when given (an entry
 * point's caller, which saves walking the tracker's own frames). stack_hi
 * is the end of the thread's stack. Leaves in memo what the walk read.
 * Without `from`, it first tries memo itself: then *hit is set, no frame
 * is walked and the frames are memo->pc[0..n); with `from`, the caller has
 * tried unwind_memo_holds already. Returns the number of frames, or -1
 * when this stack needs libunwind. */
int unwind_fast_memo(uintptr_t *pc, int cap, uintptr_t stack_hi, const struct unwind_regs *from,
		     struct unwind_memo *memo, bool *hit);

extern uint32_t unwind_rules_gen;	/* memos of older generations are void */

/* Whether a walk from r would read what memo's did, so give its frames:
 * the same registers, and the same words where it read (all between r->sp
 * and the stack's end, as they were then: mapped). */
static inline bool unwind_memo_holds(const struct unwind_memo *m, const struct unwind_regs *r)
{
	if (m->gen != unwind_rules_gen || m->start.ip != r->ip || m->start.sp != r->sp ||
	    (m->uses_bp && m->start.bp != r->bp))
		return false;
	for (uint32_t k = 0; k < m->n_reads; k++)
		if (*(const uintptr_t *)m->at[k] != m->val[k])
			return false;
	return true;
}

/* Forgets every rule: objects were unloaded (or loaded). */
void unwind_flush(void);

#pragma GCC visibility pop

#endif
