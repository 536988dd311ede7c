/* collect_impl.h - the collector's state, shared by collect.c (feeding
 * records in) and collect_profile.c (building the profile). Private to
 * those two files. */
#ifndef MEMPROF_COLLECT_IMPL_H
#define MEMPROF_COLLECT_IMPL_H

#include <stdbool.h>
#include <stdint.h>

#include "arena.h"
#include "collect.h"
#include "hashmap.h"
#include "tracker/records.h"

#define NO_MAPPING UINT32_MAX

struct c_module {		/* one executable segment in a process's map */
	uint64_t start, end;
	uint32_t mapping;	/* index into collector.mapping */
};

struct c_mapping {		/* becomes a pprof Mapping */
	const char *file;
	const char *build_id;	/* hex, as the process had it loaded; "" if none */
	uint64_t bias, start, end, offset;
	uint32_t proc;
};

struct c_proc {
	uint32_t pid, incarnation, ppid;
	const char *exe;
	int64_t rate;
	uint64_t start_ns, end_ns;	/* end_ns: END, exec, or when memprof saw it go */
	bool started, ended, exec_called, gone, calls_seen;
	uint64_t lost[LOST_WHY_MAX];
	uint64_t bad_records;		/* records that could not be read */
	struct c_module *mod;
	size_t n_mod, cap_mod;
	uint32_t *stack_ix;	/* tracker's stack id - 1 -> index into collector.stack */
	size_t n_stack_ix, cap_stack_ix;	/* the tracker numbers them 1, 2, 3... */
	struct hashmap live;	/* block address -> bucket index */
};

struct c_frame {
	uint32_t mapping;	/* NO_MAPPING when the pc was in no known module */
	uint64_t pc;
};

struct c_stack {
	size_t first;		/* index into collector.frame */
	uint32_t n;
	bool truncated;		/* deeper than the tracker unwinds */
};

struct c_bucket {		/* one pprof sample: a process, a stack, a size */
	uint32_t proc, stack;
	uint64_t size;
	uint64_t allocs, frees;
};

struct collector {
	struct arena arena;
	struct collector_stats stats;
	struct hashmap proc_index;	/* pid << 32 | incarnation -> index + 1 */
	struct c_proc *proc;
	size_t n_proc, cap_proc;
	struct c_mapping *mapping;
	size_t n_mapping, cap_mapping;
	struct c_frame *frame;
	size_t n_frame, cap_frame;
	struct c_stack *stack;
	size_t n_stack, cap_stack;
	struct c_bucket *bucket;
	size_t n_bucket, cap_bucket;
	struct hashmap bucket_index;	/* hash of (proc, stack, size) (+ probe) -> index */
	struct hashmap strings;		/* interned names */
	int root;			/* first process that started, -1 before */
	uint64_t span_start_ns, span_end_ns;	/* the run as memprof saw it; 0: unknown */
};

#endif
