/* tables.h - the tracker's data: the free filter (a byte per page), the
 * table of sampled live blocks and the table of stacks already sent. Pure
 * data, no I/O; memory comes from mmap, never from the program's heap.
 * Callers hold the stream lock (or are single-threaded), except for
 * filter_maybe(), which free() calls without it. */
#ifndef MEMPROF_TABLES_H
#define MEMPROF_TABLES_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#pragma GCC visibility push(hidden)

#define FILTER_BITS 20

/* The free filter: one byte per 4 KiB page (modulo 4 GiB) counting the
 * sampled live blocks that start in it; 255 saturates and stays. free()
 * reads its page's byte without the lock: zero means "not sampled" for
 * certain (a block is entered before malloc returns it and removed before
 * the real free, so no other thread can race on the same address). A free
 * in a page that holds a sampled live block takes the slow path even if its
 * own block was not sampled: in a dense heap about page size / rate of
 * frees, 0.8% at the default rate. The map is 1 MiB of .bss, of which only
 * the bytes of the heap's pages are ever touched (an untouched page reads
 * as the kernel's zero page); the index is the low 32 bits of the address
 * shifted, so free() needs no mask: mov, shr, lea, cmpb, jne, jmp. */
extern uint8_t page_samples[1 << FILTER_BITS];

static inline size_t filter_index(const void *p)
{
	return (uint32_t)(uintptr_t)p >> 12;
}

/* The racy read is deliberate (see above). On x86-64 it is one cmpb on
 * the map that the branch reads (a volatile or atomic load in C is loaded,
 * then tested: one more instruction on every free). */
static inline bool filter_maybe(const void *p)
{
#if defined(__x86_64__)
	asm goto("cmpb $0, %0\n\tjne %l[maybe]"
		 : /* no outputs */
		 : "m"(page_samples[filter_index(p)])
		 : "cc"
		 : maybe);
	return false;
maybe:
	return true;
#else
	return __atomic_load_n(&page_samples[filter_index(p)], __ATOMIC_RELAXED) != 0;
#endif
}

void filter_pin(const void *p);		/* "maybe" for good */
void filter_all(void);			/* every page "maybe" (--rate 1) */
void filter_reset(void);		/* forget every live block (fork child) */

/* Sampled live blocks. blocks_insert returns false when out of memory;
 * blocks_remove returns whether addr was there. */
bool blocks_insert(uintptr_t addr, uint64_t size, uint32_t stack);
bool blocks_remove(uintptr_t addr);
void blocks_reset(void);

/* Stacks: returns the id (1, 2, 3...) of the stack pc[0..n), adding it
 * when new (then *is_new is set and the caller sends it); 0 when out of
 * memory. */
uint32_t stacks_id(const uintptr_t *pc, size_t n, bool *is_new);
void stacks_reset(void);
extern uint32_t stacks_generation;	/* changes when stacks_reset forgets the ids */

uint64_t hash_frames(const uintptr_t *pc, size_t n);

#pragma GCC visibility pop

#endif
