/* report_traces.c - pprof's traces report: every sample with its labels,
 * value and stack, line for line as go tool pprof prints it
 * (google/pprof internal/report: printTraces). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "graph.h"
#include "profile.h"
#include "report.h"
#include "report_impl.h"
#include "tabwriter.h"
#include "units.h"

/* A growing text. */
struct text {
	char *s;
	size_t len, cap;
};

static int text_add(struct text *t, const char *s, size_t n)
{
	if (t->len + n + 1 > t->cap) {
		size_t cap = (t->len + n + 1) * 2;
		char *b = realloc(t->s, cap);
		if (!b)
			return -ENOMEM;
		t->s = b;
		t->cap = cap;
	}
	memcpy(t->s + t->len, s, n);
	t->len += n;
	t->s[t->len] = '\0';
	return 0;
}

static int text_adds(struct text *t, const char *s)
{
	return text_add(t, s, strlen(s));
}

/* The lines of one sample's labels, sorted as pprof sorts them. */
struct label_lines {
	char **line;
	size_t n, cap;
	struct text buf;		/* the line being built */
	size_t *order;			/* label indices, by key */
	size_t cap_order;
};

static const struct profile_label *order_labels;

static int compare_by_key(const void *pa, const void *pb)
{
	size_t a = *(const size_t *)pa, b = *(const size_t *)pb;
	int c = strcmp(order_labels[a].key, order_labels[b].key);
	return c ? c : (a > b) - (a < b);
}

static int compare_strings(const void *pa, const void *pb)
{
	return strcmp(*(char *const *)pa, *(char *const *)pb);
}

/* Prints the string (numeric: !string) labels of s, "%10s:  v1 v2\n" per
 * key with the values in the sample's order, the lines sorted. */
static int print_labels(FILE *out, struct label_lines *ll, const struct profile_sample *s,
			bool string, const struct profile_label_units *units)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_label; i++) {
		const struct profile_label *l = &s->label[i];
		if (string ? !*l->str : !profile_label_is_num(l))
			continue;
		if (array_grow(&ll->order, &ll->cap_order, n, sizeof(*ll->order)) < 0)
			return -ENOMEM;
		ll->order[n++] = i;
	}
	if (n == 0)
		return 0;
	order_labels = s->label;
	qsort(ll->order, n, sizeof(*ll->order), compare_by_key);
	ll->n = 0;
	for (size_t i = 0; i < n;) {
		const char *key = s->label[ll->order[i]].key;
		size_t w = tabwriter_width(key, strlen(key));
		ll->buf.len = 0;
		for (; w < 10; w++)
			if (text_add(&ll->buf, " ", 1) < 0)
				return -ENOMEM;
		if (text_adds(&ll->buf, key) < 0 || text_adds(&ll->buf, ":  ") < 0)
			return -ENOMEM;
		const char *unit = string ? NULL : profile_label_units_find(units, key);
		for (size_t j = i; i < n && !strcmp(s->label[ll->order[i]].key, key); i++) {
			const struct profile_label *l = &s->label[ll->order[i]];
			char v[64];
			if (!string)
				units_label(v, sizeof(v), l->num, unit ? unit : key, "auto");
			if ((i > j && text_add(&ll->buf, " ", 1) < 0) ||
			    text_adds(&ll->buf, string ? l->str : v) < 0)
				return -ENOMEM;
		}
		if (array_grow(&ll->line, &ll->cap, ll->n, sizeof(*ll->line)) < 0)
			return -ENOMEM;
		if (!(ll->line[ll->n] = strdup(ll->buf.s)))
			return -ENOMEM;
		ll->n++;
	}
	qsort(ll->line, ll->n, sizeof(*ll->line), compare_strings);
	for (size_t i = 0; i < ll->n; i++) {
		fprintf(out, "%s\n", ll->line[i]);
		free(ll->line[i]);
	}
	ll->n = 0;
	return 0;
}

int report_traces(FILE *out, const struct profile *p, const struct report_options *o)
{
	static const char separator[] =
		"-----------+-------------------------------------------------------";
	struct report r;
	struct graph g;
	struct label_lines ll;
	struct profile_label_units own = { NULL, 0, 0, HASHMAP_INIT };
	const struct profile_label_units *units = o->label_units;
	int rc;

	memset(&ll, 0, sizeof(ll));
	report_init(&r, p, o);
	if (!units) {
		if ((rc = profile_label_units_init(&own, p)) < 0)
			goto out_units;
		units = &own;
	}
	/* frames are named as top names them, but pprof trims no file name here */
	if ((rc = graph_init(&g, p, report_graph_mode(o, o->granularity), NULL, NULL)) < 0)
		goto out_units;
	report_print_profile_labels(out, &r);
	for (size_t si = 0; si < p->n_sample; si++) {
		const struct profile_sample *s = &p->sample[si];
		if (s->n_location == 0)
			continue;
		fprintf(out, "%s\n", separator);
		if ((rc = print_labels(out, &ll, s, true, units)) < 0 ||
		    (rc = print_labels(out, &ll, s, false, units)) < 0)
			goto out;
		char v[64];
		report_format_value(&r, v, sizeof(v), s->value[o->sample_index]);
		bool first = true;
		for (size_t i = 0; i < s->n_location; i++) {	/* leaf first */
			uint32_t li = s->location[i]->index;
			size_t at = g.loc_first[li], n = g.loc_first[li + 1] - at;
			for (size_t k = 0; k < n; k++) {	/* inlined frames first */
				fprintf(out, "%10s   %s%s\n", first ? v : "",
					g.node[g.loc_nodes[at + k]].printable,
					k + 1 < n ? " (inline)" : "");
				first = false;
			}
		}
	}
	fprintf(out, "%s\n", separator);
	rc = 0;
out:
	for (size_t i = 0; i < ll.n; i++)
		free(ll.line[i]);
	free(ll.line);
	free(ll.order);
	free(ll.buf.s);
	graph_release(&g);
out_units:
	profile_label_units_release(&own);
	return rc;
}
