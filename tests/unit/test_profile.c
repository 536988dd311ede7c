/* test_profile.c - the profile model's merge, subtract and totals (the end-
 * to-end checks against go tool pprof are in tests/t0120-diff.sh). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/profile.h"

/* A heap-like profile: types alloc_objects/count, alloc_space/<unit>, one
 * mapping /bin/app at start, and one function per distinct name. */
static struct profile *new_profile(const char *space_unit, uint64_t start)
{
	struct profile *p = profile_new();
	const char *types[] = { "alloc_objects", "alloc_space" };
	const char *units[] = { "count", space_unit };
	CHECK(profile_set_sample_types(p, 2, types, units) == 0);
	p->period_type.type = profile_intern(p, "space");
	p->period_type.unit = profile_intern(p, space_unit);
	p->period = 1;
	struct profile_mapping *m = profile_add_mapping(p, 1);
	m->filename = profile_intern(p, "/bin/app");
	m->memory_start = start;
	m->memory_limit = start + 0x10000;
	return p;
}

static struct profile_location *location(struct profile *p, const char *fn, uint64_t offset)
{
	struct profile_function *f = NULL;
	for (size_t i = 0; i < p->n_function; i++)
		if (strcmp(p->function[i]->name, fn) == 0)
			f = p->function[i];
	if (!f) {
		f = profile_add_function(p, p->n_function + 1);
		f->name = profile_intern(p, fn);
	}
	struct profile_location *l = profile_add_location(p, p->n_location + 1, 1);
	l->mapping = p->mapping[0];
	l->address = p->mapping[0]->memory_start + offset;
	l->line[0].function = f;
	return l;
}

/* A sample at leaf <- main with the two values and, when pid is set, a
 * numeric label pid. */
static void sample(struct profile *p, struct profile_location *leaf,
		   struct profile_location *main_loc, int64_t objects, int64_t space, int64_t pid)
{
	struct profile_sample *s = profile_add_sample(p, 2, pid ? 1 : 0);
	s->location[0] = leaf;
	s->location[1] = main_loc;
	s->value[0] = objects;
	s->value[1] = space;
	if (pid) {
		s->label[0].key = profile_intern(p, "pid");
		s->label[0].num = pid;
	}
}

static int64_t value_of(const struct profile *p, const char *leaf, int idx)
{
	int64_t v = 0;
	for (size_t i = 0; i < p->n_sample; i++)
		if (strcmp(p->sample[i].location[0]->line[0].function->name, leaf) == 0)
			v += p->sample[i].value[idx];
	return v;
}

/* Same stacks add up across profiles even at other load addresses; zero
 * sums disappear along with what only they used; headers combine. */
static void test_merge(void)
{
	struct profile *a = new_profile("bytes", 0x400000), *b = new_profile("bytes", 0x7f0000);
	struct profile_location *am = location(a, "main", 0x10), *af = location(a, "f", 0x20),
				*ag = location(a, "g", 0x30);
	sample(a, af, am, 2, 200, 0);
	sample(a, ag, am, 1, 50, 0);
	struct profile_location *bm = location(b, "main", 0x10), *bf = location(b, "f", 0x20),
				*bg = location(b, "g", 0x30);
	sample(b, bf, bm, 3, 300, 0);
	sample(b, bg, bm, -1, -50, 0);
	a->time_nanos = 20;
	b->time_nanos = 10;
	a->duration_nanos = 5;
	b->duration_nanos = 7;
	b->period = 4;
	CHECK(profile_add_comment(a, "one") == 0);
	CHECK(profile_add_comment(b, "one") == 0);
	CHECK(profile_add_comment(b, "two") == 0);

	const struct profile *srcs[] = { a, b };
	struct profile *m;
	char msg[256];
	CHECK(profile_merge(&m, srcs, 2, msg, sizeof(msg)) == 0);
	if (m) {
		CHECK(m->n_sample == 1);	/* g: 1 - 1 and 50 - 50 */
		CHECK(value_of(m, "f", 0) == 5 && value_of(m, "f", 1) == 500);
		CHECK(m->n_location == 2);	/* g's location went with its sample */
		CHECK(m->n_mapping == 1 && m->mapping[0]->memory_start == 0x400000);
		CHECK(m->time_nanos == 10 && m->duration_nanos == 12 && m->period == 4);
		CHECK(m->n_comment == 2);
		CHECK(profile_total(m, 1) == 500);
	}
	profile_free(m);
	/* the sources are untouched */
	CHECK(a->n_sample == 2 && b->sample[1].value[1] == -50);
	profile_free(a);
	profile_free(b);
}

/* Samples with other labels stay apart; a label without string, number or
 * unit does not count, as pprof drops it when reading. */
static void test_merge_labels(void)
{
	struct profile *a = new_profile("bytes", 0x400000);
	struct profile_location *m = location(a, "main", 0x10), *f = location(a, "f", 0x20);
	sample(a, f, m, 1, 10, 7);
	sample(a, f, m, 1, 10, 8);
	sample(a, f, m, 1, 10, 7);
	struct profile_sample *s = profile_add_sample(a, 2, 1);	/* an empty label */
	s->location[0] = f;
	s->location[1] = m;
	s->value[0] = 1;
	s->label[0].key = profile_intern(a, "empty");
	sample(a, f, m, 1, 10, 0);

	const struct profile *srcs[] = { a };
	struct profile *out;
	char msg[256];
	CHECK(profile_merge(&out, srcs, 1, msg, sizeof(msg)) == 0);
	CHECK(out && out->n_sample == 3);	/* pid 7, pid 8, no label */
	if (out) {
		CHECK(out->sample[0].value[1] == 20);
		CHECK(out->sample[2].value[0] == 2 && out->sample[2].n_label == 0);
	}
	profile_free(out);
	profile_free(a);
}

/* Units of one kind merge in the finer; other kinds and types do not. */
static void test_compatible(void)
{
	struct profile *b = new_profile("bytes", 0x400000), *k = new_profile("kilobytes", 0x400000);
	struct profile_location *km = location(k, "main", 0x10), *kf = location(k, "f", 0x20);
	sample(k, kf, km, 1, 3, 0);
	char msg[512];
	CHECK(profile_compatible(b, k, msg, sizeof(msg)) == 0);
	const struct profile *srcs[] = { b, k };
	struct profile *m;
	CHECK(profile_merge(&m, srcs, 2, msg, sizeof(msg)) == 0);
	if (m) {
		CHECK_STR(m->sample_type[1].unit, "bytes");
		CHECK(value_of(m, "f", 1) == 3072 && value_of(m, "f", 0) == 1);
	}
	profile_free(m);

	k->period_type.type = profile_intern(k, "cpu");
	k->period_type.unit = profile_intern(k, "nanoseconds");
	CHECK(profile_compatible(b, k, msg, sizeof(msg)) == -EINVAL);
	CHECK(strstr(msg, "period types differ") != NULL);
	CHECK(profile_merge(&m, srcs, 2, msg, sizeof(msg)) == -EINVAL && m == NULL);

	struct profile *c = profile_new();
	const char *types[] = { "alloc_objects", "alloc_space", "peak_space" };
	const char *units[] = { "count", "bytes", "bytes" };
	CHECK(profile_set_sample_types(c, 3, types, units) == 0);
	c->period_type = b->period_type;
	CHECK(profile_compatible(c, b, msg, sizeof(msg)) == -EINVAL);
	CHECK(strstr(msg, "the base has no peak_space") != NULL);
	profile_free(c);
	profile_free(b);
	profile_free(k);
}

/* -base leaves the difference; -diff_base keeps the base's samples apart,
 * labelled, and totals are the base's. p is unchanged when refused. */
static void test_subtract(void)
{
	for (int mode = PROFILE_BASE; mode <= PROFILE_DIFF_BASE; mode++) {
		struct profile *p = new_profile("bytes", 0x400000), *b = new_profile("bytes", 0);
		struct profile_location *pm = location(p, "main", 0x10), *pf = location(p, "f", 0x20);
		sample(p, pf, pm, 3, 300, 0);
		struct profile_location *bm = location(b, "main", 0x10), *bf = location(b, "f", 0x20),
					*bg = location(b, "g", 0x30);
		sample(b, bf, bm, 1, 100, 0);
		sample(b, bg, bm, 1, 40, 0);
		const struct profile *bases[] = { b };
		char msg[256];
		CHECK(profile_subtract(p, bases, 1, (enum profile_base_mode)mode, msg,
				       sizeof(msg)) == 0);
		CHECK(value_of(p, "f", 1) == 200 && value_of(p, "g", 1) == -40);
		if (mode == PROFILE_BASE) {
			CHECK(p->n_sample == 2 && profile_total(p, 1) == 240);
		} else {
			CHECK(p->n_sample == 3 && profile_total(p, 1) == 140);
			size_t labelled = 0;
			for (size_t i = 0; i < p->n_sample; i++)
				labelled += profile_sample_is_diff_base(&p->sample[i]);
			CHECK(labelled == 2);
		}
		CHECK(b->n_sample == 2 && b->sample[0].value[1] == 100);	/* untouched */
		profile_free(p);
		profile_free(b);
	}

	/* pprof's fetch gives a profile without mappings one with no file,
	 * which comes first: no "File:" line from the base's */
	struct profile *q = new_profile("bytes", 0), *b = new_profile("bytes", 0x400000);
	struct profile_location *qm = location(q, "main", 0x10), *qf = location(q, "f", 0x20);
	sample(q, qf, qm, 1, 10, 0);
	qm->mapping = qf->mapping = NULL;
	q->n_mapping = 0;
	struct profile_location *bm = location(b, "main", 0x10), *bg = location(b, "g", 0x30);
	sample(b, bg, bm, 1, 10, 0);
	const struct profile *qb[] = { b };
	char qmsg[256];
	CHECK(profile_subtract(q, qb, 1, PROFILE_BASE, qmsg, sizeof(qmsg)) == 0);
	CHECK(q->n_mapping == 2 && !*q->mapping[0]->filename);
	profile_free(q);
	profile_free(b);

	struct profile *p = new_profile("bytes", 0x400000), *c = new_profile("bytes", 0);
	struct profile_location *pm = location(p, "main", 0x10), *pf = location(p, "f", 0x20);
	sample(p, pf, pm, 3, 300, 0);
	c->sample_type[1].type = profile_intern(c, "cpu");
	const struct profile *bases[] = { c };
	char msg[256];
	CHECK(profile_subtract(p, bases, 1, PROFILE_BASE, msg, sizeof(msg)) == -EINVAL);
	CHECK(strstr(msg, "sample types differ") != NULL);
	CHECK(p->n_sample == 1 && value_of(p, "f", 1) == 300);
	profile_free(p);
	profile_free(c);
}

/* Scale rounds half away from zero and drops samples left all zero;
 * SetLabel replaces the key's string values only. */
static void test_scale_and_label(void)
{
	struct profile *p = new_profile("bytes", 0x400000);
	struct profile_location *m = location(p, "main", 0x10), *f = location(p, "f", 0x20);
	sample(p, f, m, 1, 5, 3);
	sample(p, f, m, 0, 1, 0);
	profile_scale(p, 0.5);
	CHECK(p->n_sample == 2 && p->sample[0].value[0] == 1 && p->sample[0].value[1] == 3);
	profile_scale(p, 0.3);	/* (0, 1) and (0, 0): the second goes */
	CHECK(p->n_sample == 1 && p->sample[0].value[1] == 1);
	CHECK(profile_set_label(p, "pprof::base", "false") == 0);
	CHECK(profile_set_label(p, "pprof::base", "true") == 0);
	CHECK(p->sample[0].n_label == 2 && profile_sample_is_diff_base(&p->sample[0]));
	profile_free(p);
}

/* pprof's NumLabelUnits: the first unit a key's labels give, else bytes for
 * request and alignment, else the key; string labels have none. */
static void test_label_units(void)
{
	struct profile *p = new_profile("bytes", 0x400000);
	struct profile_location *leaf = location(p, "leaf", 0x10), *m = location(p, "main", 0x20);
	struct {
		const char *key, *str, *unit;
		int64_t num;
	} labels[] = {
		{ "pid", "", "", 42 }, { "lat", "", "", 3 }, { "lat", "", "ms", 5 },
		{ "lat", "", "s", 1 }, { "request", "", "", 64 }, { "alignment", "", "", 8 },
		{ "name", "x", "", 0 }, { "zero", "", "", 0 },
	};
	size_t n = sizeof(labels) / sizeof(labels[0]);
	struct profile_sample *s = profile_add_sample(p, 2, n);
	s->location[0] = leaf;
	s->location[1] = m;
	for (size_t i = 0; i < n; i++) {
		s->label[i].key = profile_intern(p, labels[i].key);
		s->label[i].str = profile_intern(p, labels[i].str);
		s->label[i].num_unit = profile_intern(p, labels[i].unit);
		s->label[i].num = labels[i].num;
	}
	struct profile_label_units u;
	CHECK(profile_label_units_init(&u, p) == 0);
	CHECK_STR(profile_label_units_find(&u, "pid"), "pid");
	CHECK_STR(profile_label_units_find(&u, "lat"), "ms");
	CHECK_STR(profile_label_units_find(&u, "request"), "bytes");
	CHECK_STR(profile_label_units_find(&u, "alignment"), "bytes");
	CHECK(profile_label_units_find(&u, "name") == NULL);	/* a string label */
	CHECK(profile_label_units_find(&u, "zero") == NULL);	/* neither kind */
	CHECK(profile_label_units_find(&u, "nosuch") == NULL);
	CHECK(profile_label_is_num(&s->label[0]) && !profile_label_is_num(&s->label[6]));
	profile_label_units_release(&u);
	CHECK(u.n == 0 && u.kv == NULL);
	profile_free(p);
}

const struct unit_test profile_tests[] = {
	{ "profile_merge adds up stacks and combines headers", test_merge },
	{ "profile_merge keeps samples with other labels apart", test_merge_labels },
	{ "profile_compatible: units of a kind, other kinds refused", test_compatible },
	{ "profile_subtract: -base and -diff_base", test_subtract },
	{ "profile_scale and profile_set_label", test_scale_and_label },
	{ "profile_label_units: pprof's NumLabelUnits", test_label_units },
	{ NULL, NULL },
};
