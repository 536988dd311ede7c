/* report_tree.c - pprof's tree and peek reports: each node of the trimmed
 * graph between its callers and its callees, line for line as go tool pprof
 * prints them (google/pprof internal/report: printTree). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "profile.h"
#include "regex.h"
#include "report.h"
#include "report_impl.h"
#include "units.h"

/* The kept edges into and out of each node, as index lists. */
struct adjacency {
	size_t *in_first, *out_first;	/* n_node + 1 offsets each */
	uint32_t *in, *out;		/* edge indices */
};

static const struct graph *sort_graph;

/* pprof's edgeList order: heavier first (by absolute weight when weights
 * differ), then by the caller's name, then the callee's. Edges pprof
 * leaves in map order (equal names) keep their creation order. */
static int compare_edges(const void *pa, const void *pb)
{
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	const struct graph_edge *a = &sort_graph->edge[ia], *b = &sort_graph->edge[ib];
	int c;
	if (a->weight != b->weight) {
		int64_t wa = llabs(a->weight), wb = llabs(b->weight);
		if (wa != wb)
			return wa > wb ? -1 : 1;
	}
	if ((c = strcmp(sort_graph->node[a->src].printable, sort_graph->node[b->src].printable)))
		return c;
	if ((c = strcmp(sort_graph->node[a->dst].printable, sort_graph->node[b->dst].printable)))
		return c;
	return (ia > ib) - (ia < ib);
}

static int adjacency_build(struct adjacency *adj, const struct report_graph *rg)
{
	const struct graph *g = &rg->g;
	size_t nn = g->n_node;
	memset(adj, 0, sizeof(*adj));
	adj->in_first = calloc(nn + 2, sizeof(*adj->in_first));
	adj->out_first = calloc(nn + 2, sizeof(*adj->out_first));
	adj->in = malloc((g->n_edge ? g->n_edge : 1) * sizeof(*adj->in));
	adj->out = malloc((g->n_edge ? g->n_edge : 1) * sizeof(*adj->out));
	if (!adj->in_first || !adj->out_first || !adj->in || !adj->out)
		return -ENOMEM;
	/* counting sort by node: counts at [id + 2], then offsets at [id + 1] */
	for (size_t i = 0; i < g->n_edge; i++)
		if (report_graph_edge_kept(rg, &g->edge[i])) {
			adj->in_first[g->edge[i].dst + 2]++;
			adj->out_first[g->edge[i].src + 2]++;
		}
	for (size_t i = 2; i < nn + 2; i++) {
		adj->in_first[i] += adj->in_first[i - 1];
		adj->out_first[i] += adj->out_first[i - 1];
	}
	for (size_t i = 0; i < g->n_edge; i++)
		if (report_graph_edge_kept(rg, &g->edge[i])) {
			adj->in[adj->in_first[g->edge[i].dst + 1]++] = (uint32_t)i;
			adj->out[adj->out_first[g->edge[i].src + 1]++] = (uint32_t)i;
		}
	sort_graph = g;
	for (size_t id = 0; id < nn; id++) {
		size_t in_n = adj->in_first[id + 1] - adj->in_first[id];
		size_t out_n = adj->out_first[id + 1] - adj->out_first[id];
		if (in_n > 1)
			qsort(adj->in + adj->in_first[id], in_n, sizeof(*adj->in), compare_edges);
		if (out_n > 1)
			qsort(adj->out + adj->out_first[id], out_n, sizeof(*adj->out), compare_edges);
	}
	return 0;
}

static void adjacency_release(struct adjacency *adj)
{
	free(adj->in_first);
	free(adj->out_first);
	free(adj->in);
	free(adj->out);
}

/* One caller or callee line: the call's weight and its share of the
 * node's cum. */
static void print_edge(FILE *out, const struct report *r, const struct graph *g,
		       const struct graph_edge *e, uint32_t other, int64_t cum)
{
	char w[64], pct[16];
	report_format_value(r, w, sizeof(w), e->weight);
	units_percentage(pct, sizeof(pct), e->weight, cum);
	fprintf(out, "%50s %s |   %s%s\n", w, pct, g->node[other].printable,
		e->is_inline ? " (inline)" : "");
}

int report_tree(FILE *out, const struct profile *p, const char *regex,
		const struct report_options *o, char *msg, size_t msg_size)
{
	static const char separator[] =
		"----------------------------------------------------------+-------------";
	static const char legend[] =
		"      flat  flat%   sum%        cum   cum%   calls calls% + context \t \t ";
	struct report r;
	struct report_graph rg;
	struct adjacency adj = { NULL, NULL, NULL, NULL };
	struct regex *re = NULL;
	bool *matched = NULL;
	int rc;

	if (regex && !(re = regex_compile(regex, msg, msg_size))) {
		char why[256];
		snprintf(why, sizeof(why), "%s", msg);
		snprintf(msg, msg_size, "invalid regexp %s: %s", regex, why);
		return -EINVAL;
	}
	report_init(&r, p, o);
	if ((rc = report_graph_build(&rg, &r)) < 0)
		goto out;
	const struct graph *g = &rg.g;
	rc = -ENOMEM;
	if (!(matched = calloc(rg.n ? rg.n : 1, sizeof(*matched))))
		goto out;
	/* peek prints nothing when nothing matches: decide that first */
	size_t n_matched = 0;
	for (size_t i = 0; i < rg.n; i++) {
		int m = re ? regex_match(re, g->node[rg.ids[i]].printable) : 1;
		if (m < 0) {
			snprintf(msg, msg_size, "regexp %s: too costly to match (PCRE2's "
				 "backtracking limit): simplify it", regex);
			rc = m == -ENOMEM ? m : -EINVAL;
			goto out;
		}
		matched[i] = m;
		n_matched += (size_t)m;
	}
	if (re && n_matched == 0) {
		snprintf(msg, msg_size, "no matches found for regexp: %s", regex);
		rc = -EINVAL;
		goto out;
	}
	if ((rc = adjacency_build(&adj, &rg)) < 0)
		goto out;

	report_print_header(out, &r, &rg);
	fprintf(out, "%s\n%s\n", separator, legend);
	int64_t flat_sum = 0;
	for (size_t i = 0; i < rg.n; i++) {
		if (!matched[i])
			continue;
		uint32_t id = rg.ids[i];
		const struct graph_node *node = &g->node[id];
		fprintf(out, "%s\n", separator);
		for (size_t k = adj.in_first[id]; k < adj.in_first[id + 1]; k++) {
			const struct graph_edge *e = &g->edge[adj.in[k]];
			print_edge(out, &r, g, e, e->src, node->cum);
		}
		char fv[64], fp[16], sp[16], cv[64], cp[16];
		flat_sum += node->flat;
		report_format_value(&r, fv, sizeof(fv), node->flat);
		units_percentage(fp, sizeof(fp), node->flat, r.total);
		units_percentage(sp, sizeof(sp), flat_sum, r.total);
		report_format_value(&r, cv, sizeof(cv), node->cum);
		units_percentage(cp, sizeof(cp), node->cum, r.total);
		fprintf(out, "%10s %s %s %10s %s                | %s\n", fv, fp, sp, cv, cp,
			node->printable);
		for (size_t k = adj.out_first[id]; k < adj.out_first[id + 1]; k++) {
			const struct graph_edge *e = &g->edge[adj.out[k]];
			print_edge(out, &r, g, e, e->dst, node->cum);
		}
	}
	if (rg.n > 0)
		fprintf(out, "%s\n", separator);
	rc = 0;
out:
	adjacency_release(&adj);
	free(matched);
	report_graph_release(&rg);
	regex_free(re);
	return rc;
}
