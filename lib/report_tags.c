/* report_tags.c - pprof's tags report: the values of each label key with
 * the samples' value summed for each, as go tool pprof prints it
 * (google/pprof internal/report: printTags). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "hashmap.h"
#include "profile.h"
#include "report.h"
#include "report_impl.h"
#include "tabwriter.h"
#include "units.h"

/* One value of one key, with the sum of the values of the samples that
 * carry it (once per time they carry it). */
struct tag {
	const char *key, *name;
	int64_t flat;
};

struct tag_map {
	struct tag *tag;
	size_t n, cap;
	struct hashmap index;	/* hash of key and name, probed -> index in tag */
	struct arena arena;	/* the formatted names */
};

struct tag_want {
	const struct tag_map *m;
	const char *key, *name;
};

static bool same_tag(uint64_t value, const void *ctx)
{
	const struct tag_want *w = ctx;
	const struct tag *t = &w->m->tag[value];
	return strcmp(t->key, w->key) == 0 && strcmp(t->name, w->name) == 0;
}

/* Adds v to the tag key=name (Go's wrapping sum). name is copied unless
 * it is the profile's (owned). */
static int tag_add(struct tag_map *m, const char *key, const char *name, bool owned, int64_t v)
{
	struct tag_want w = { m, key, name };
	uint64_t h = hash_bytes(name, strlen(name), hash_bytes(key, strlen(key) + 1, 0));
	bool inserted;
	uint64_t slot_key;
	uint64_t *slot = hashmap_probe(&m->index, h, same_tag, &w, &inserted, &slot_key);
	if (!slot)
		return -ENOMEM;
	if (inserted) {
		if (!owned) {
			size_t n = strlen(name) + 1;
			char *copy = arena_alloc(&m->arena, n);
			if (!copy) {
				hashmap_remove(&m->index, slot_key);
				return -ENOMEM;
			}
			name = memcpy(copy, name, n);
		}
		if (array_grow(&m->tag, &m->cap, m->n, sizeof(*m->tag)) < 0) {
			hashmap_remove(&m->index, slot_key);
			return -ENOMEM;
		}
		m->tag[m->n] = (struct tag){ key, name, 0 };
		*slot = m->n++;
	}
	struct tag *t = &m->tag[*slot];
	t->flat = (int64_t)((uint64_t)t->flat + (uint64_t)v);
	return 0;
}

/* Go's abs64: the most negative value stays negative. */
static int64_t abs64(int64_t v)
{
	return v < 0 ? (int64_t)(0 - (uint64_t)v) : v;
}

/* By key, then pprof's SortTags: heavier first, then by name. */
static int compare_tags(const void *pa, const void *pb)
{
	const struct tag *a = pa, *b = pb;
	int c = strcmp(a->key, b->key);
	if (c)
		return c;
	if (a->flat != b->flat && abs64(a->flat) != abs64(b->flat))
		return abs64(a->flat) > abs64(b->flat) ? -1 : 1;
	return strcmp(a->name, b->name);
}

int report_tags(FILE *out, const struct profile *p, const struct report_options *o)
{
	struct report r;
	struct tag_map m = { NULL, 0, 0, HASHMAP_INIT, ARENA_INIT };
	struct profile_label_units own = { NULL, 0, 0, HASHMAP_INIT };
	const struct profile_label_units *units = o->label_units;
	struct tabwriter *tw = NULL;
	int rc = 0;

	report_init(&r, p, o);
	if (!units) {
		if ((rc = profile_label_units_init(&own, p)) < 0)
			goto out;
		units = &own;
	}
	for (size_t si = 0; si < p->n_sample; si++) {
		const struct profile_sample *s = &p->sample[si];
		int64_t v = s->value[o->sample_index];
		for (size_t i = 0; i < s->n_label && rc == 0; i++) {
			const struct profile_label *l = &s->label[i];
			if (*l->str) {
				rc = tag_add(&m, l->key, l->str, true, v);
			} else if (profile_label_is_num(l)) {
				const char *unit = profile_label_units_find(units, l->key);
				char name[64];
				units_label(name, sizeof(name), l->num, unit ? unit : l->key,
					    r.output_unit);
				rc = tag_add(&m, l->key, name, false, v);
			}
		}
		if (rc < 0)
			goto out;
	}
	if (m.n)
		qsort(m.tag, m.n, sizeof(*m.tag), compare_tags);
	rc = -ENOMEM;
	if (!(tw = tabwriter_new(out, 0, 1, ' ', true)))
		goto out;
	for (size_t i = 0; i < m.n;) {
		const char *key = m.tag[i].key, *unit;
		size_t end = i;
		int64_t total = 0;
		for (; end < m.n && !strcmp(m.tag[end].key, key); end++)
			total = (int64_t)((uint64_t)total + (uint64_t)m.tag[end].flat);
		double f = units_scale(total, r.sample_unit, r.output_unit, &unit);
		tabwriter_printf(tw, "%s:\t Total %.1f%s\n", key, f, unit);
		for (; i < end; i++) {
			const struct tag *t = &m.tag[i];
			f = units_scale(t->flat, r.sample_unit, r.output_unit, &unit);
			if (total > 0) {
				char pct[16];
				units_percentage(pct, sizeof(pct), t->flat, total);
				tabwriter_printf(tw, " \t%.1f%s (%s):\t %s\n", f, unit, pct, t->name);
			} else {
				tabwriter_printf(tw, " \t%.1f%s:\t %s\n", f, unit, t->name);
			}
		}
		if (tabwriter_write(tw, "\n", 1) < 0)
			goto out;
	}
	tabwriter_flush(tw);
	rc = 0;
out:
	tabwriter_free(tw);
	profile_label_units_release(&own);
	free(m.tag);
	hashmap_release(&m.index);
	arena_release(&m.arena);
	return rc;
}
