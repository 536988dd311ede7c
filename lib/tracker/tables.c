/* tables.c - the free filter, the live-block table and the stack table
 * (see tables.h). Open addressing with linear probing; memory from mmap. */
#include "tables.h"

#include <string.h>
#include <sys/mman.h>

_Alignas(4096) uint8_t page_samples[1 << FILTER_BITS];

static void filter_store(size_t i, uint8_t v)
{
	__atomic_store_n(&page_samples[i], v, __ATOMIC_RELAXED);
}

static void filter_add(const void *p)
{
	size_t i = filter_index(p);
	if (page_samples[i] != UINT8_MAX)
		filter_store(i, page_samples[i] + 1);
}

static void filter_remove(const void *p)
{
	size_t i = filter_index(p);
	if (page_samples[i] != UINT8_MAX)
		filter_store(i, page_samples[i] - 1);
}

void filter_pin(const void *p)
{
	filter_store(filter_index(p), UINT8_MAX);
}

void filter_all(void)
{
	memset(page_samples, UINT8_MAX, sizeof(page_samples));
}

/* Word by word: most of the map is untouched zeros. */
void filter_reset(void)
{
	uint64_t *w = (uint64_t *)page_samples;
	for (size_t i = 0; i < sizeof(page_samples) / sizeof(*w); i++) {
		if (!w[i])
			continue;
		for (size_t j = i * sizeof(*w); j < (i + 1) * sizeof(*w); j++)
			if (page_samples[j] != UINT8_MAX)
				page_samples[j] = 0;
	}
}

static void *map_zeroed(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

/* ---- live blocks ---------------------------------------------------------- */

struct block {
	uintptr_t addr;	/* 0: empty slot */
	uint64_t size;
	uint32_t stack;
};

static struct block *blocks;
static size_t blocks_mask, blocks_count;

static size_t block_slot(uintptr_t addr, size_t mask)
{
	return (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ULL >> 20) & mask;
}

static bool blocks_grow(void)
{
	size_t cap = blocks ? (blocks_mask + 1) * 2 : 4096;
	struct block *n = map_zeroed(cap * sizeof(*n));
	if (!n)
		return false;
	for (size_t i = 0; blocks && i <= blocks_mask; i++) {
		if (!blocks[i].addr)
			continue;
		size_t j = block_slot(blocks[i].addr, cap - 1);
		while (n[j].addr)
			j = (j + 1) & (cap - 1);
		n[j] = blocks[i];
	}
	if (blocks)
		munmap(blocks, (blocks_mask + 1) * sizeof(*blocks));
	blocks = n;
	blocks_mask = cap - 1;
	return true;
}

bool blocks_insert(uintptr_t addr, uint64_t size, uint32_t stack)
{
	if ((blocks_count + 1) * 2 > blocks_mask + 1 && !blocks_grow())
		return false;
	size_t i = block_slot(addr, blocks_mask);
	while (blocks[i].addr && blocks[i].addr != addr)
		i = (i + 1) & blocks_mask;
	if (!blocks[i].addr) {
		blocks_count++;
		filter_add((void *)addr);
	}
	blocks[i] = (struct block){ addr, size, stack };
	return true;
}

bool blocks_remove(uintptr_t addr)
{
	if (!blocks)
		return false;
	size_t i = block_slot(addr, blocks_mask);
	while (blocks[i].addr != addr) {
		if (!blocks[i].addr)
			return false;
		i = (i + 1) & blocks_mask;
	}
	/* backward-shift deletion keeps probe chains intact without tombstones */
	size_t j = i;
	for (;;) {
		j = (j + 1) & blocks_mask;
		if (!blocks[j].addr)
			break;
		size_t home = block_slot(blocks[j].addr, blocks_mask);
		if (((j - home) & blocks_mask) >= ((j - i) & blocks_mask)) {
			blocks[i] = blocks[j];
			i = j;
		}
	}
	blocks[i].addr = 0;
	blocks_count--;
	filter_remove((void *)addr);
	return true;
}

void blocks_reset(void)
{
	if (blocks)
		memset(blocks, 0, (blocks_mask + 1) * sizeof(*blocks));
	blocks_count = 0;
}

/* ---- stacks ------------------------------------------------------------------ */

struct stack_entry {
	uint64_t hash;	/* 0: empty slot */
	uint32_t id;
	uint32_t n;
	uint64_t at;	/* index of the first frame in stack_frames */
};

static struct stack_entry *stacks;
static size_t stacks_mask, stacks_count;
static uintptr_t *stack_frames;
static size_t stack_frames_len, stack_frames_cap;

uint64_t hash_frames(const uintptr_t *pc, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
	for (size_t i = 0; i < n; i++) {
		h ^= pc[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h ? h : 1;
}

static bool stacks_grow(void)
{
	size_t cap = stacks ? (stacks_mask + 1) * 2 : 4096;
	struct stack_entry *n = map_zeroed(cap * sizeof(*n));
	if (!n)
		return false;
	for (size_t i = 0; stacks && i <= stacks_mask; i++) {
		if (!stacks[i].hash)
			continue;
		size_t j = stacks[i].hash & (cap - 1);
		while (n[j].hash)
			j = (j + 1) & (cap - 1);
		n[j] = stacks[i];
	}
	if (stacks)
		munmap(stacks, (stacks_mask + 1) * sizeof(*stacks));
	stacks = n;
	stacks_mask = cap - 1;
	return true;
}

static bool frames_reserve(size_t n)
{
	if (stack_frames_len + n <= stack_frames_cap)
		return true;
	size_t cap = stack_frames_cap ? stack_frames_cap * 2 : 65536;
	while (cap < stack_frames_len + n)
		cap *= 2;
	uintptr_t *f = map_zeroed(cap * sizeof(*f));
	if (!f)
		return false;
	if (stack_frames) {
		memcpy(f, stack_frames, stack_frames_len * sizeof(*f));
		munmap(stack_frames, stack_frames_cap * sizeof(*f));
	}
	stack_frames = f;
	stack_frames_cap = cap;
	return true;
}

/* Stacks are a few frames: a loop beats a call to memcmp. */
static inline bool same_frames(const uintptr_t *a, const uintptr_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

uint32_t stacks_id(const uintptr_t *pc, size_t n, bool *is_new)
{
	uint64_t hash = hash_frames(pc, n);
	*is_new = false;
	if ((stacks_count + 1) * 2 > stacks_mask + 1 && !stacks_grow())
		return 0;
	size_t i = hash & stacks_mask;
	while (stacks[i].hash) {
		if (stacks[i].hash == hash && stacks[i].n == n &&
		    same_frames(stack_frames + stacks[i].at, pc, n))
			return stacks[i].id;
		i = (i + 1) & stacks_mask;
	}
	if (!frames_reserve(n))
		return 0;
	memcpy(stack_frames + stack_frames_len, pc, n * sizeof(*pc));
	stacks[i] = (struct stack_entry){ hash, (uint32_t)++stacks_count, (uint32_t)n,
					  stack_frames_len };
	stack_frames_len += n;
	*is_new = true;
	return stacks[i].id;
}

uint32_t stacks_generation = 1;

void stacks_reset(void)
{
	stacks_generation++;
	if (stacks)
		memset(stacks, 0, (stacks_mask + 1) * sizeof(*stacks));
	stacks_count = 0;
	stack_frames_len = 0;
}
