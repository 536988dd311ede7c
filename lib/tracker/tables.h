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

#define FILTER_BITS 16

/* The free filter: one byte per 4 KiB page (modulo 256 MiB) counting the
 * sampled live blocks that start in it; 255 saturates and stays. free()
 * reads its page's byte without the lock: zero means "not sampled" for
 * certain (a block is entered before malloc returns it and removed before
 * the real free, so no other thread can race on the same address). A free
 * in a page that holds a sampled live block takes the slow path even if its
 * own block was not sampled: in a dense heap about page size / rate of
 * frees, 0.8% at the default rate. */
extern uint8_t page_samples[1 << FILTER_BITS];

static inline size_t filter_index(const void *p)
{
	return ((uintptr_t)p >> 12) & ((1u << FILTER_BITS) - 1);
}

/* The racy read is deliberate (see above); volatile keeps it one load. */
static inline bool filter_maybe(const void *p)
{
	return *(volatile uint8_t *)&page_samples[filter_index(p)] != 0;
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

uint64_t hash_frames(const uintptr_t *pc, size_t n);

#pragma GCC visibility pop

#endif
