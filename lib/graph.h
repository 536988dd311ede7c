/* graph.h - pprof's call graph over a profile: locations grouped into nodes
 * (one per function, or per source line), with flat and cum values for one
 * sample type. Shared by `top` and `list`; follows google/pprof's
 * internal/graph so the numbers agree with go tool pprof. */
#ifndef MEMPROF_GRAPH_H
#define MEMPROF_GRAPH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "arena.h"
#include "hashmap.h"

struct profile;

/* What a node stands for: pprof's -functions (the default), -lines,
 * -files, -filefunctions and -addresses. */
enum graph_granularity {
	GRAPH_FUNCTIONS,	/* a function name */
	GRAPH_LINES,		/* a function, source file and line */
	GRAPH_FILES,		/* a source file */
	GRAPH_FILEFUNCTIONS,	/* a function and source file */
	GRAPH_ADDRESSES,	/* an address, with its function, file and line */
};
#define GRAPH_GRANULARITY 0xffu	/* the granularity's bits in a mode */
#define GRAPH_OBJNAMES 0x100u	/* nodes keep the object file (list does) */
#define GRAPH_NOINLINES 0x200u	/* -noinlines: a location's outermost frame only */

struct graph_node {
	const char *name;	/* function name ("" when unknown) */
	const char *printable;	/* what top prints: name, "[libfoo.so]", "<unknown>" */
	const char *file;	/* cleaned source file, when the granularity has it */
	const char *objfile;	/* mapping file, when the node needs it */
	int64_t lineno, start_line;
	uint64_t address;	/* GRAPH_ADDRESSES */
	int64_t flat, cum;
	bool inline_in, noinline_in;	/* incoming edges, after edge trimming */
	uint64_t stamp;			/* last sample that counted this node */
};

struct graph_edge {
	uint32_t src, dst;
	int64_t weight;
	bool is_inline;
	uint64_t stamp;
};

struct graph {
	struct graph_node *node;
	size_t n_node;
	/* loc_nodes[loc_first[i] .. loc_first[i+1]) are location i's nodes,
	 * innermost inlined frame first, like its lines */
	uint32_t *loc_nodes;
	size_t *loc_first;
	struct graph_edge *edge;
	size_t n_edge, cap_edge;
	struct hashmap edge_index;	/* (src << 32 | dst) -> edge index */
	struct arena arena;
	uint64_t stamp;
};

/* Groups p's locations into nodes, by mode: a granularity, or'd with
 * GRAPH_OBJNAMES and GRAPH_NOINLINES. filename_fn, when set, rewrites source
 * file names (pprof's path trimming); it returns an arena-owned string.
 * Returns 0 or a negative errno. */
int graph_init(struct graph *g, const struct profile *p, unsigned mode,
	       const char *(*filename_fn)(struct arena *, const char *, void *), void *fn_data);

/* Recomputes flat and cum of every node from the samples' values at
 * value_index. With kept non-NULL only nodes marked in it count, and calls
 * through dropped nodes become edges between the kept ones, as pprof does.
 * With edges set, edge weights and inline flags are computed too. */
int graph_accumulate(struct graph *g, const struct profile *p, int value_index,
		     const bool *kept, bool edges);

/* Sets inline_in / noinline_in from edges whose |weight| >= cutoff. */
void graph_mark_inline(struct graph *g, int64_t cutoff);

void graph_release(struct graph *g);

/* Go's filepath.Clean of path, into the arena. */
const char *path_clean(struct arena *a, const char *path);

#endif
