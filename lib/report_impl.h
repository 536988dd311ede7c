/* report_impl.h - what pprof's text reports share (internal/report's Report,
 * newTrimmedGraph, selectOutputUnit, ProfileLabels, reportLabels). Private
 * to lib/report*.c. */
#ifndef MEMPROF_REPORT_IMPL_H
#define MEMPROF_REPORT_IMPL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "graph.h"
#include "report.h"

struct profile;

/* pprof's Report: the profile, the options and how values print. */
struct report {
	const struct profile *p;
	const struct report_options *o;
	const char *sample_unit;
	const char *output_unit;	/* "minimum" until a report picks one */
	int64_t total;
};

void report_init(struct report *r, const struct profile *p, const struct report_options *o);

/* pprof's rpt.formatValue: v in the output unit ("0" for zero). */
void report_format_value(const struct report *r, char *buf, size_t size, int64_t v);

/* pprof's ProfileLabels, one per line: File, Build ID, comments, Type,
 * Time, Duration. */
void report_print_profile_labels(FILE *out, const struct report *r);

/* The graph mode for granularity under the options (-noinlines). */
unsigned report_graph_mode(const struct report_options *o, unsigned granularity);

/* pprof's trimPath of a source file name under -trim_path/-source_path,
 * as graph_init's filename_fn (data: the report_options). */
const char *report_trim_filename(struct arena *a, const char *name, void *data);

/* Sorts node ids as pprof's FlatNameOrder (or CumNameOrder with cum). */
void report_sort_nodes(const struct graph *g, uint32_t *ids, size_t n, bool cum);

/* pprof's newTrimmedGraph and selectOutputUnit: the graph at the options'
 * granularity with its nodes under -nodefraction dropped, the rest sorted
 * and cut to -nodecount, and the edges under -edgefraction trimmed. */
struct report_graph {
	struct graph g;
	uint32_t *ids;		/* the graph's nodes (non-zero), in report order */
	size_t n;
	size_t orig_count;	/* nodes before -nodecount */
	size_t dropped;		/* nodes under -nodefraction */
	int64_t edge_cutoff;	/* edges lighter than this are trimmed */
	bool *kept;		/* scratch: nodes kept by a pass */
};

/* Builds rg for r's profile and options and sets r->output_unit as pprof's
 * selectOutputUnit does. Returns 0 or -ENOMEM; release rg either way. */
int report_graph_build(struct report_graph *rg, struct report *r);
void report_graph_release(struct report_graph *rg);

/* Whether edge e survives pprof's TrimLowFrequencyEdges (which looks at
 * the edges into the graph's nodes only). */
bool report_graph_edge_kept(const struct report_graph *rg, const struct graph_edge *e);

/* pprof's reportLabels: the profile labels, the active filters, "Showing
 * nodes accounting for ...", the dropped nodes and "Showing top N". */
void report_print_header(FILE *out, const struct report *r, const struct report_graph *rg);

#endif
