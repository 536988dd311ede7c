/* profile.c - the profile model: construction, and the merges and
 * differences go tool pprof makes of profiles (-base, -diff_base). */
#include "profile.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>

#include "units.h"

struct profile *profile_new(void)
{
	struct profile *p = calloc(1, sizeof(*p));
	if (!p)
		return NULL;
	p->drop_frames = p->keep_frames = p->default_sample_type = "";
	p->period_type.type = p->period_type.unit = "";
	return p;
}

void profile_free(struct profile *p)
{
	if (!p)
		return;
	free(p->sample);
	free(p->mapping);
	free(p->location);
	free(p->function);
	free(p->comment);
	hashmap_release(&p->strings);
	arena_release(&p->arena);
	free(p);
}

const char *profile_intern_n(struct profile *p, const char *s, size_t len)
{
	return hashmap_intern(&p->strings, &p->arena, s, len);
}

const char *profile_intern(struct profile *p, const char *s)
{
	return profile_intern_n(p, s, strlen(s));
}

int profile_set_sample_types(struct profile *p, size_t n, const char *const *types,
			     const char *const *units)
{
	p->sample_type = arena_calloc(&p->arena, n, sizeof(*p->sample_type));
	if (!p->sample_type && n)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++) {
		p->sample_type[i].type = profile_intern(p, types[i]);
		p->sample_type[i].unit = profile_intern(p, units[i]);
		if (!p->sample_type[i].type || !p->sample_type[i].unit)
			return -ENOMEM;
	}
	p->n_sample_type = n;
	return 0;
}

struct profile_mapping *profile_add_mapping(struct profile *p, uint64_t id)
{
	struct profile_mapping *m;
	if (array_grow(&p->mapping, &p->cap_mapping, p->n_mapping, sizeof(*p->mapping)) < 0 ||
	    !(m = arena_alloc(&p->arena, sizeof(*m))))
		return NULL;
	m->id = id;
	m->filename = m->build_id = "";
	p->mapping[p->n_mapping++] = m;
	return m;
}

struct profile_function *profile_add_function(struct profile *p, uint64_t id)
{
	struct profile_function *f;
	if (array_grow(&p->function, &p->cap_function, p->n_function, sizeof(*p->function)) < 0 ||
	    !(f = arena_alloc(&p->arena, sizeof(*f))))
		return NULL;
	f->id = id;
	f->name = f->system_name = f->filename = "";
	p->function[p->n_function++] = f;
	return f;
}

struct profile_location *profile_add_location(struct profile *p, uint64_t id, size_t n_line)
{
	struct profile_location *l;
	if (p->n_location >= UINT32_MAX ||
	    array_grow(&p->location, &p->cap_location, p->n_location, sizeof(*p->location)) < 0 ||
	    !(l = arena_alloc(&p->arena, sizeof(*l))))
		return NULL;
	if (n_line && !(l->line = arena_calloc(&p->arena, n_line, sizeof(*l->line))))
		return NULL;
	l->id = id;
	l->n_line = n_line;
	l->index = (uint32_t)p->n_location;
	p->location[p->n_location++] = l;
	return l;
}

static struct profile_sample *new_sample(struct profile *p, size_t n_location,
					 struct profile_label *label, size_t n_label)
{
	if (array_grow(&p->sample, &p->cap_sample, p->n_sample, sizeof(*p->sample)) < 0)
		return NULL;
	struct profile_sample *s = &p->sample[p->n_sample];
	memset(s, 0, sizeof(*s));
	s->value = arena_calloc(&p->arena, p->n_sample_type, sizeof(*s->value));
	s->location = arena_calloc(&p->arena, n_location, sizeof(*s->location));
	s->label = label ? label : arena_calloc(&p->arena, n_label, sizeof(*s->label));
	if ((!s->value && p->n_sample_type) || (!s->location && n_location) ||
	    (!s->label && n_label))
		return NULL;
	s->n_location = n_location;
	s->n_label = n_label;
	for (size_t i = 0; i < n_label && !label; i++)
		s->label[i].key = s->label[i].str = s->label[i].num_unit = "";
	p->n_sample++;
	return s;
}

struct profile_sample *profile_add_sample(struct profile *p, size_t n_location, size_t n_label)
{
	return new_sample(p, n_location, NULL, n_label);
}

struct profile_sample *profile_add_sample_shared(struct profile *p, size_t n_location,
						 struct profile_label *label, size_t n_label)
{
	return new_sample(p, n_location, label, n_label);
}

int profile_add_comment(struct profile *p, const char *comment)
{
	const char *c = profile_intern(p, comment);
	if (!c || array_grow(&p->comment, &p->cap_comment, p->n_comment, sizeof(*p->comment)) < 0)
		return -ENOMEM;
	p->comment[p->n_comment++] = c;
	return 0;
}

int profile_sample_index(const struct profile *p, const char *name)
{
	if (!name || !*name) {
		if (*p->default_sample_type)
			for (size_t i = 0; i < p->n_sample_type; i++)
				if (strcmp(p->sample_type[i].type, p->default_sample_type) == 0)
					return (int)i;
		return (int)p->n_sample_type - 1;
	}
	char *end;
	errno = 0;
	long n = strtol(name, &end, 10);
	if (*end == '\0' && !errno)
		return n >= 0 && (size_t)n < p->n_sample_type ? (int)n : -1;
	const char *no_inuse = strncmp(name, "inuse_", 6) == 0 ? name + 6 : name;
	for (size_t i = 0; i < p->n_sample_type; i++)
		if (strcmp(p->sample_type[i].type, name) == 0 ||
		    strcmp(p->sample_type[i].type, no_inuse) == 0)
			return (int)i;
	return -1;
}

/* ---- sums, merging and differences -------------------------------------- */

/* Go's int64 arithmetic wraps; C's signed overflow is undefined. */
static int64_t add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t abs_wrap(int64_t v)
{
	return v < 0 ? (int64_t)(0 - (uint64_t)v) : v;
}

/* Go's int64(f) on amd64: out of range and NaN give INT64_MIN. */
static int64_t go_int64(double f)
{
	if (!(f >= -9223372036854775808.0 && f < 9223372036854775808.0))
		return INT64_MIN;
	return (int64_t)f;
}

bool profile_sample_is_diff_base(const struct profile_sample *s)
{
	for (size_t i = 0; i < s->n_label; i++)
		if (strcmp(s->label[i].key, PROFILE_DIFF_BASE_LABEL) == 0 &&
		    strcmp(s->label[i].str, "true") == 0)
			return true;
	return false;
}

int64_t profile_total(const struct profile *p, int idx)
{
	int64_t total = 0, diff_total = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		int64_t v = abs_wrap(p->sample[i].value[idx]);
		total = add_wrap(total, v);
		if (profile_sample_is_diff_base(&p->sample[i]))
			diff_total = add_wrap(diff_total, v);
	}
	return diff_total > 0 ? diff_total : total;
}

bool profile_label_is_num(const struct profile_label *l)
{
	return !*l->str && (l->num != 0 || *l->num_unit);
}

struct unit_want {
	const struct profile_label_units *u;
	const char *key;
};

static bool same_unit_key(uint64_t value, const void *ctx)
{
	const struct unit_want *w = ctx;
	const char *k = w->u->kv[value].key;
	return k == w->key || strcmp(k, w->key) == 0;
}

const char *profile_label_units_find(const struct profile_label_units *u, const char *key)
{
	struct unit_want w = { u, key };
	for (uint64_t h = hash_bytes(key, strlen(key), 0);; h++) {
		const uint64_t *v = hashmap_get(&u->index, h);
		if (!v)
			return NULL;
		if (same_unit_key(*v, &w))
			return u->kv[*v].unit;
	}
}

int profile_label_units_init(struct profile_label_units *u, const struct profile *p)
{
	memset(u, 0, sizeof(*u));
	for (size_t i = 0; i < p->n_sample; i++) {
		const struct profile_sample *s = &p->sample[i];
		for (size_t j = 0; j < s->n_label; j++) {
			const struct profile_label *l = &s->label[j];
			if (!profile_label_is_num(l))
				continue;
			struct unit_want w = { u, l->key };
			bool inserted;
			uint64_t key;
			uint64_t *slot = hashmap_probe(&u->index, hash_bytes(l->key, strlen(l->key), 0),
						       same_unit_key, &w, &inserted, &key);
			if (!slot)
				return -ENOMEM;
			if (inserted) {
				if (array_grow(&u->kv, &u->cap, u->n, sizeof(*u->kv)) < 0) {
					hashmap_remove(&u->index, key);
					return -ENOMEM;
				}
				u->kv[u->n] = (struct profile_label_unit){ l->key, "" };
				*slot = u->n++;
			}
			struct profile_label_unit *kv = &u->kv[*slot];
			if (!*kv->unit)
				kv->unit = l->num_unit;
		}
	}
	for (size_t k = 0; k < u->n; k++)
		if (!*u->kv[k].unit)
			u->kv[k].unit = !strcmp(u->kv[k].key, "alignment") ||
					!strcmp(u->kv[k].key, "request") ? "bytes" : u->kv[k].key;
	return 0;
}

void profile_label_units_release(struct profile_label_units *u)
{
	free(u->kv);
	hashmap_release(&u->index);
	memset(u, 0, sizeof(*u));
}

/* pprof's ScaleN for one sample: each value whose ratio is not 1 becomes
 * round(v * ratio); returns whether any of those is non-zero (the others do
 * not count: pprof's rule for dropping a sample). */
static bool scale_values(int64_t *out, const int64_t *v, const double *ratio, size_t n)
{
	bool keep = false;
	for (size_t i = 0; i < n; i++) {
		out[i] = v[i];
		if (ratio[i] != 1) {
			out[i] = go_int64(round((double)v[i] * ratio[i]));
			keep = keep || out[i] != 0;
		}
	}
	return keep;
}

void profile_scale(struct profile *p, double ratio)
{
	if (ratio == 1)
		return;
	size_t kept = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *s = &p->sample[i];
		bool keep = false;
		for (size_t t = 0; t < p->n_sample_type; t++) {
			s->value[t] = go_int64(round((double)s->value[t] * ratio));
			keep = keep || s->value[t] != 0;
		}
		if (keep)
			p->sample[kept++] = *s;
	}
	p->n_sample = kept;
}

int profile_set_label(struct profile *p, const char *key, const char *value)
{
	const char *k = profile_intern(p, key), *v = profile_intern(p, value);
	if (!k || !v)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *s = &p->sample[i];
		struct profile_label *l = arena_calloc(&p->arena, s->n_label + 1, sizeof(*l));
		if (!l)
			return -ENOMEM;
		size_t n = 0;
		for (size_t j = 0; j < s->n_label; j++)
			if (strcmp(s->label[j].key, k) != 0 || !*s->label[j].str)
				l[n++] = s->label[j];
		l[n++] = (struct profile_label){ k, v, 0, "" };
		s->label = l;
		s->n_label = n;
	}
	return 0;
}

/* ---- compatibility: measurement.ScaleProfiles and Profile.compatible ---- */

/* Whether two units are of one kind (bytes and kilobytes; ns and s). Scale
 * converts within the kind of its first unit and falls back on that kind's
 * default unit, which is never the canonical name of another kind's. */
static bool same_unit_kind(const char *a, const char *b)
{
	const char *cb = units_canonical(b), *to;
	if (!units_canonical(a) || !cb)
		return false;
	units_scale(1, a, b, &to);
	return strcmp(to, cb) == 0;
}

/* What the merge accepts: names equal (pprof's ScaleProfiles forgives a
 * trailing 's', its Merge does not) and units equal or of one kind. */
static bool same_value_type(const struct profile_value_type *a,
			    const struct profile_value_type *b)
{
	return strcmp(a->type, b->type) == 0 &&
	       (strcmp(a->unit, b->unit) == 0 || same_unit_kind(a->unit, b->unit));
}

/* "a/count b/bytes" into buf, cut short with "..." when too long. */
static void format_types(char *buf, size_t size, const struct profile *p)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < p->n_sample_type && at < size; i++) {
		int n = snprintf(buf + at, size - at, "%s%s/%s", i ? " " : "",
				 p->sample_type[i].type, p->sample_type[i].unit);
		at += n > 0 ? (size_t)n : 0;
	}
	if (at >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
}

/* ", " separated names of a's sample types that b has not, into buf. */
static size_t format_missing(char *buf, size_t size, const struct profile *a,
			     const struct profile *b)
{
	size_t at = 0, count = 0;
	buf[0] = '\0';
	for (size_t i = 0; i < a->n_sample_type && at < size; i++) {
		bool found = false;
		for (size_t j = 0; j < b->n_sample_type && !found; j++)
			found = strcmp(a->sample_type[i].type, b->sample_type[j].type) == 0;
		if (found)
			continue;
		int n = snprintf(buf + at, size - at, "%s%s", count ? ", " : "",
				 a->sample_type[i].type);
		at += n > 0 ? (size_t)n : 0;
		count++;
	}
	return count;
}

static int compatible(const struct profile *a, const struct profile *b, const char *an,
		      const char *bn, char *msg, size_t size)
{
	if (!same_value_type(&a->period_type, &b->period_type)) {
		snprintf(msg, size, "period types differ: %s's is %s/%s, %s's %s/%s (profiles of "
			 "different kinds)", an, *a->period_type.type ? a->period_type.type : "none",
			 a->period_type.unit, bn,
			 *b->period_type.type ? b->period_type.type : "none", b->period_type.unit);
		return -EINVAL;
	}
	bool same = a->n_sample_type == b->n_sample_type;
	for (size_t i = 0; same && i < a->n_sample_type; i++)
		same = same_value_type(&a->sample_type[i], &b->sample_type[i]);
	if (same)
		return 0;

	char at[320], bt[320], am[160], bm[160], hint[360] = "";
	format_types(at, sizeof(at), a);
	format_types(bt, sizeof(bt), b);
	size_t na = format_missing(am, sizeof(am), a, b);
	size_t nb = format_missing(bm, sizeof(bm), b, a);
	if (na && nb)
		snprintf(hint, sizeof(hint), "; %s has no %s, %s has no %s", bn, am, an, bm);
	else if (na)
		snprintf(hint, sizeof(hint), "; %s has no %s", bn, am);
	else if (nb)
		snprintf(hint, sizeof(hint), "; %s has no %s", an, bm);
	snprintf(msg, size, "sample types differ: %s has %zu (%s), %s %zu (%s)%s (profiles merge "
		 "only with the same sample types in the same order, as in go tool pprof)", an,
		 a->n_sample_type, at, bn, b->n_sample_type, bt, hint);
	return -EINVAL;
}

int profile_compatible(const struct profile *p, const struct profile *base, char *msg,
		       size_t msg_size)
{
	return compatible(p, base, "the profile", "the base", msg, msg_size);
}

/* ---- Merge ---------------------------------------------------------------- */

/* measurement.ScaleProfiles' outcome for compatible sources: the finest
 * unit of each value type, and each source's ratio to it. */
struct scale_plan {
	const char *period_unit;	/* NULL: periods stay as they are */
	const char **unit;		/* per sample type; NULL: units stay */
	double *ratio;			/* n_src x n_type, row per source */
	bool *scaled;			/* per source: a ratio is not 1 */
};

static void plan_release(struct scale_plan *pl)
{
	free(pl->unit);
	free(pl->ratio);
	free(pl->scaled);
}

/* pprof's Scale(1, from, to) */
static double unit_ratio(const char *from, const char *to)
{
	const char *u;
	return units_scale(1, from, to, &u);
}

/* pprof's CommonValueType: the first of the types, replaced by each later
 * one in a finer unit. */
static const char *common_unit(const struct profile *const *srcs, size_t n, ssize_t t)
{
	const struct profile_value_type *min = t < 0 ? &srcs[0]->period_type
						   : &srcs[0]->sample_type[t];
	for (size_t i = 1; i < n; i++) {
		const struct profile_value_type *v = t < 0 ? &srcs[i]->period_type
							   : &srcs[i]->sample_type[t];
		if (unit_ratio(v->unit, min->unit) < 1)
			min = v;
	}
	return min->unit;
}

static int plan_scaling(struct scale_plan *pl, const struct profile *const *srcs, size_t n)
{
	size_t nt = srcs[0]->n_sample_type, cells = n * nt;
	memset(pl, 0, sizeof(*pl));
	pl->ratio = malloc((cells ? cells : 1) * sizeof(*pl->ratio));
	pl->scaled = calloc(n, sizeof(*pl->scaled));
	pl->unit = calloc(nt ? nt : 1, sizeof(*pl->unit));
	if (!pl->ratio || !pl->scaled || !pl->unit) {
		plan_release(pl);
		return -ENOMEM;
	}
	for (size_t i = 0; i < n * nt; i++)
		pl->ratio[i] = 1;
	if (n < 2)	/* a lone profile is left as it is */
		return 0;
	pl->period_unit = common_unit(srcs, n, -1);
	for (size_t t = 0; t < nt; t++)
		pl->unit[t] = common_unit(srcs, n, (ssize_t)t);
	for (size_t i = 0; i < n; i++)
		for (size_t t = 0; t < nt; t++) {
			double r = unit_ratio(srcs[i]->sample_type[t].unit, pl->unit[t]);
			pl->ratio[i * nt + t] = r;
			pl->scaled[i] = pl->scaled[i] || r != 1;
		}
	return 0;
}

struct map_info {
	struct profile_mapping *m;
	int64_t offset;		/* ours minus the source's start */
};

struct merger {
	struct profile *out;
	/* out's objects by content: a hash, probed -> index in out's array */
	struct hashmap samples, locations, functions, mappings;
	/* the source being merged, its objects to out's */
	struct profile_location **loc_of;	/* by source location index */
	struct hashmap fn_of;			/* source address -> out index */
	struct hashmap map_of;			/* source address -> map_info index */
	const struct profile_mapping *fake;	/* for a source without mappings */
	struct map_info *map_info;
	size_t n_map_info, cap_map_info;
	/* scratch space for the key of one location and one sample */
	struct profile_line *lines;
	size_t cap_lines;
	struct profile_location **locs;
	size_t cap_locs;
	struct profile_label *labels;
	size_t cap_labels;
	int64_t *values;
};

/* -- mappings: same size (rounded up to 4 KiB), offset and build id or file */

static uint64_t mapping_size(const struct profile_mapping *m)
{
	uint64_t size = m->memory_limit - m->memory_start + 0xfff;
	return size - size % 0x1000;
}

static const char *mapping_name(const struct profile_mapping *m)
{
	return *m->build_id ? m->build_id : m->filename;
}

struct mapping_want {
	const struct profile *out;
	const struct profile_mapping *m;
};

static bool same_mapping(uint64_t value, const void *ctx)
{
	const struct mapping_want *w = ctx;
	const struct profile_mapping *a = w->out->mapping[value], *b = w->m;
	return mapping_size(a) == mapping_size(b) && a->file_offset == b->file_offset &&
	       strcmp(mapping_name(a), mapping_name(b)) == 0;
}

static int map_mapping(struct merger *mg, const struct profile_mapping *src, struct map_info *mi)
{
	struct profile *out = mg->out;
	*mi = (struct map_info){ NULL, 0 };
	if (!src)
		return 0;
	uint64_t *known = hashmap_get(&mg->map_of, (uint64_t)(uintptr_t)src);
	if (known) {
		*mi = mg->map_info[*known];
		return 0;
	}
	const char *name = mapping_name(src);
	uint64_t h = hash_bytes(name, strlen(name), hash_u64(mapping_size(src)) ^ src->file_offset);
	struct mapping_want w = { out, src };
	bool inserted;
	uint64_t key;
	uint64_t *slot = hashmap_probe(&mg->mappings, h, same_mapping, &w, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (!inserted) {
		mi->m = out->mapping[*slot];
		mi->offset = (int64_t)(mi->m->memory_start - src->memory_start);
	} else {
		struct profile_mapping *m = profile_add_mapping(out, out->n_mapping + 1);
		if (!m || !(m->filename = profile_intern(out, src->filename)) ||
		    !(m->build_id = profile_intern(out, src->build_id))) {
			if (m)
				out->n_mapping--;
			hashmap_remove(&mg->mappings, key);
			return -ENOMEM;
		}
		m->memory_start = src->memory_start;
		m->memory_limit = src->memory_limit;
		m->file_offset = src->file_offset;
		m->has_functions = src->has_functions;
		m->has_filenames = src->has_filenames;
		m->has_line_numbers = src->has_line_numbers;
		m->has_inline_frames = src->has_inline_frames;
		*slot = out->n_mapping - 1;
		mi->m = m;
	}
	if (array_grow(&mg->map_info, &mg->cap_map_info, mg->n_map_info, sizeof(*mg->map_info)) < 0)
		return -ENOMEM;
	bool ins;
	uint64_t *v = hashmap_put(&mg->map_of, (uint64_t)(uintptr_t)src, &ins);
	if (!v)
		return -ENOMEM;
	mg->map_info[mg->n_map_info] = *mi;
	*v = mg->n_map_info++;
	return 0;
}

/* -- functions: same start line, name, system name and file */

static uint64_t function_hash(const struct profile_function *f)
{
	uint64_t h = hash_bytes(f->name, strlen(f->name), (uint64_t)f->start_line);
	h = hash_bytes(f->system_name, strlen(f->system_name), h);
	return hash_bytes(f->filename, strlen(f->filename), h);
}

struct function_want {
	const struct profile *out;
	const struct profile_function *f;
};

static bool same_function(uint64_t value, const void *ctx)
{
	const struct function_want *w = ctx;
	const struct profile_function *a = w->out->function[value], *b = w->f;
	return a->start_line == b->start_line && strcmp(a->name, b->name) == 0 &&
	       strcmp(a->system_name, b->system_name) == 0 && strcmp(a->filename, b->filename) == 0;
}

static int map_function(struct merger *mg, struct profile_function *src,
			struct profile_function **f)
{
	struct profile *out = mg->out;
	*f = NULL;
	if (!src)
		return 0;
	uint64_t *known = hashmap_get(&mg->fn_of, (uint64_t)(uintptr_t)src);
	if (known) {
		*f = out->function[*known];
		return 0;
	}
	struct function_want w = { out, src };
	bool inserted;
	uint64_t key;
	uint64_t *slot = hashmap_probe(&mg->functions, function_hash(src), same_function, &w,
				       &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (inserted) {
		struct profile_function *nf = profile_add_function(out, out->n_function + 1);
		if (!nf || !(nf->name = profile_intern(out, src->name)) ||
		    !(nf->system_name = profile_intern(out, src->system_name)) ||
		    !(nf->filename = profile_intern(out, src->filename))) {
			if (nf)
				out->n_function--;
			hashmap_remove(&mg->functions, key);
			return -ENOMEM;
		}
		nf->start_line = src->start_line;
		*slot = out->n_function - 1;
	}
	uint64_t index = *slot;
	if (!(known = hashmap_put(&mg->fn_of, (uint64_t)(uintptr_t)src, &inserted)))
		return -ENOMEM;
	*known = index;
	*f = out->function[index];
	return 0;
}

/* -- locations: same mapping, address within it, folding, and lines
 * (function and line number) */

struct location_want {
	const struct profile *out;
	struct profile_mapping *m;
	uint64_t address;
	bool is_folded;
	const struct profile_line *lines;
	size_t n_line;
};

static uint64_t location_rel(const struct profile_mapping *m, uint64_t address)
{
	return m ? address - m->memory_start : address;
}

static bool same_location(uint64_t value, const void *ctx)
{
	const struct location_want *w = ctx;
	const struct profile_location *l = w->out->location[value];
	if (l->mapping != w->m || l->is_folded != w->is_folded || l->n_line != w->n_line ||
	    location_rel(l->mapping, l->address) != location_rel(w->m, w->address))
		return false;
	for (size_t i = 0; i < w->n_line; i++)
		if (l->line[i].function != w->lines[i].function || l->line[i].line != w->lines[i].line)
			return false;
	return true;
}

static int map_location(struct merger *mg, const struct profile_location *src,
			struct profile_location **loc)
{
	struct profile *out = mg->out;
	int rc;
	if ((*loc = mg->loc_of[src->index]))
		return 0;
	struct map_info mi;
	if ((rc = map_mapping(mg, src->mapping ? src->mapping : mg->fake, &mi)) < 0)
		return rc;
	if ((rc = array_reserve(&mg->lines, &mg->cap_lines, src->n_line, sizeof(*mg->lines))) < 0)
		return rc;
	struct location_want w = { out, mi.m, src->address + (uint64_t)mi.offset, src->is_folded,
				   mg->lines, src->n_line };
	uint64_t h = hash_u64(location_rel(w.m, w.address) ^ (w.m ? w.m->id << 48 : 0) ^ w.is_folded);
	for (size_t i = 0; i < src->n_line; i++) {
		mg->lines[i] = src->line[i];
		if ((rc = map_function(mg, src->line[i].function, &mg->lines[i].function)) < 0)
			return rc;
		h = hash_u64(h ^ (mg->lines[i].function ? mg->lines[i].function->id : 0) ^
			     ((uint64_t)mg->lines[i].line << 20));
	}
	bool inserted;
	uint64_t key;
	uint64_t *slot = hashmap_probe(&mg->locations, h, same_location, &w, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (inserted) {
		struct profile_location *l = profile_add_location(out, out->n_location + 1,
								  src->n_line);
		if (!l) {
			hashmap_remove(&mg->locations, key);
			return -ENOMEM;
		}
		l->mapping = w.m;
		l->address = w.address;
		l->is_folded = w.is_folded;
		if (src->n_line)
			memcpy(l->line, mg->lines, src->n_line * sizeof(*l->line));
		*slot = l->index;
	}
	*loc = mg->loc_of[src->index] = out->location[*slot];
	return 0;
}

/* -- samples: same locations and labels. pprof keeps labels in maps: string
 * values by key, numbers (with units) by key, each key's values in order;
 * a label with neither is dropped. The canonical form below sorts labels
 * by kind and key, keeping each key's values in their order. */

static bool label_is_str(const struct profile_label *l)
{
	return *l->str != '\0';
}

static int label_order(const struct profile_label *a, const struct profile_label *b)
{
	if (label_is_str(a) != label_is_str(b))
		return label_is_str(a) ? -1 : 1;
	return strcmp(a->key, b->key);
}

struct sample_want {
	const struct profile *out;
	struct profile_location **locs;
	size_t n_location;
	const struct profile_label *labels;
	size_t n_label;
};

/* Labels are interned in out: their strings compare by address. */
static bool same_sample(uint64_t value, const void *ctx)
{
	const struct sample_want *w = ctx;
	const struct profile_sample *s = &w->out->sample[value];
	if (s->n_location != w->n_location || s->n_label != w->n_label)
		return false;
	for (size_t i = 0; i < w->n_location; i++)
		if (s->location[i] != w->locs[i])
			return false;
	for (size_t i = 0; i < w->n_label; i++) {
		const struct profile_label *a = &s->label[i], *b = &w->labels[i];
		if (a->key != b->key || a->str != b->str ||
		    (!label_is_str(a) && (a->num != b->num || a->num_unit != b->num_unit)))
			return false;
	}
	return true;
}

static int map_sample(struct merger *mg, const struct profile_sample *s, const double *ratio,
		      bool scaled)
{
	struct profile *out = mg->out;
	size_t nt = out->n_sample_type;
	int rc;

	bool keep = scale_values(mg->values, s->value, ratio, nt);
	if (scaled && !keep)
		return 0;	/* ScaleN drops it */
	bool zero = true;
	for (size_t t = 0; t < nt && zero; t++)
		zero = mg->values[t] == 0;
	if (zero)
		return 0;

	if ((rc = array_reserve(&mg->locs, &mg->cap_locs, s->n_location, sizeof(*mg->locs))) < 0 ||
	    (rc = array_reserve(&mg->labels, &mg->cap_labels, s->n_label, sizeof(*mg->labels))) < 0)
		return rc;
	uint64_t h = hash_u64(s->n_location);
	for (size_t i = 0; i < s->n_location; i++) {
		if ((rc = map_location(mg, s->location[i], &mg->locs[i])) < 0)
			return rc;
		h = hash_u64(h ^ mg->locs[i]->id);
	}
	size_t nl = 0;
	for (size_t i = 0; i < s->n_label; i++) {
		const struct profile_label *l = &s->label[i];
		if (!*l->str && !l->num && !*l->num_unit)
			continue;
		struct profile_label c = { profile_intern(out, l->key), profile_intern(out, l->str),
					   label_is_str(l) ? 0 : l->num,
					   profile_intern(out, label_is_str(l) ? "" : l->num_unit) };
		if (!c.key || !c.str || !c.num_unit)
			return -ENOMEM;
		size_t at = nl++;	/* insertion sort: stable, and labels are few */
		while (at > 0 && label_order(&mg->labels[at - 1], &c) > 0) {
			mg->labels[at] = mg->labels[at - 1];
			at--;
		}
		mg->labels[at] = c;
	}
	for (size_t i = 0; i < nl; i++)
		h = hash_u64(h ^ (uint64_t)(uintptr_t)mg->labels[i].key ^
			     (uint64_t)(uintptr_t)mg->labels[i].str ^ (uint64_t)mg->labels[i].num);

	struct sample_want w = { out, mg->locs, s->n_location, mg->labels, nl };
	bool inserted;
	uint64_t key;
	uint64_t *slot = hashmap_probe(&mg->samples, h, same_sample, &w, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (!inserted) {
		int64_t *v = out->sample[*slot].value;
		for (size_t t = 0; t < nt; t++)
			v[t] = add_wrap(v[t], mg->values[t]);
		return 0;
	}
	struct profile_sample *ns = profile_add_sample(out, s->n_location, nl);
	if (!ns) {
		hashmap_remove(&mg->samples, key);
		return -ENOMEM;
	}
	if (nt)
		memcpy(ns->value, mg->values, nt * sizeof(*ns->value));
	if (s->n_location)
		memcpy(ns->location, mg->locs, s->n_location * sizeof(*ns->location));
	if (nl)
		memcpy(ns->label, mg->labels, nl * sizeof(*ns->label));
	*slot = out->n_sample - 1;
	return 0;
}

/* pprof's combineHeaders, with the units ScaleProfiles chose. */
static int combine_headers(struct profile *out, const struct profile *const *srcs, size_t n,
			   const struct scale_plan *pl)
{
	const struct profile *s0 = srcs[0];
	size_t nt = s0->n_sample_type;
	struct hashmap seen = HASHMAP_INIT;
	int rc = -ENOMEM;

	const char **types = malloc((nt ? nt : 1) * sizeof(*types));
	const char **units = malloc((nt ? nt : 1) * sizeof(*units));
	if (!types || !units)
		goto out;
	for (size_t t = 0; t < nt; t++) {
		types[t] = s0->sample_type[t].type;
		units[t] = pl->unit[t] ? pl->unit[t] : s0->sample_type[t].unit;
	}
	if (profile_set_sample_types(out, nt, types, units) < 0)
		goto out;
	if (!(out->drop_frames = profile_intern(out, s0->drop_frames)) ||
	    !(out->keep_frames = profile_intern(out, s0->keep_frames)) ||
	    !(out->period_type.type = profile_intern(out, s0->period_type.type)) ||
	    !(out->period_type.unit = profile_intern(out, pl->period_unit ? pl->period_unit
									   : s0->period_type.unit)))
		goto out;
	int64_t time = 0, duration = 0, period = 0;
	for (size_t i = 0; i < n; i++) {
		const struct profile *s = srcs[i];
		int64_t sp = s->period;
		if (pl->period_unit) {
			const char *u;
			sp = go_int64(units_scale(s->period, s->period_type.unit, pl->period_unit, &u));
		}
		if (time == 0 || s->time_nanos < time)
			time = s->time_nanos;
		duration = add_wrap(duration, s->duration_nanos);
		if (period == 0 || period < sp)
			period = sp;
		for (size_t c = 0; c < s->n_comment; c++) {
			const char *ic = profile_intern(out, s->comment[c]);
			bool inserted;
			if (!ic || !hashmap_put(&seen, (uint64_t)(uintptr_t)ic, &inserted))
				goto out;
			if (inserted && profile_add_comment(out, ic) < 0)
				goto out;
		}
		if (!*out->default_sample_type && *s->default_sample_type &&
		    !(out->default_sample_type = profile_intern(out, s->default_sample_type)))
			goto out;
	}
	out->time_nanos = time;
	out->duration_nanos = duration;
	out->period = period;
	rc = 0;
out:
	free(types);
	free(units);
	hashmap_release(&seen);
	return rc;
}

static void merger_release(struct merger *mg)
{
	hashmap_release(&mg->samples);
	hashmap_release(&mg->locations);
	hashmap_release(&mg->functions);
	hashmap_release(&mg->mappings);
	hashmap_release(&mg->fn_of);
	hashmap_release(&mg->map_of);
	free(mg->loc_of);
	free(mg->map_info);
	free(mg->lines);
	free(mg->locs);
	free(mg->labels);
	free(mg->values);
}

/* pprof's fetch gives a profile without mappings a mapping of its own, with
 * no file and no addresses, for all its locations. */
static const struct profile_mapping fake_mapping = { 1, 0, 0, 0, "", "", false, false, false,
						      false };

/* profile_merge, and with fake the mapping pprof's fetch gives a source
 * without mappings. */
static int merge(struct profile **result, const struct profile *const *srcs, size_t n, bool fake,
		 char *msg, size_t msg_size)
{
	struct merger mg;
	struct scale_plan pl;
	int rc;

	*result = NULL;
	if (n == 0) {
		snprintf(msg, msg_size, "no profiles to merge");
		return -EINVAL;
	}
	for (size_t i = 1; i < n; i++) {
		char why[1600];
		if (compatible(srcs[0], srcs[i], "the first", "another", why, sizeof(why)) < 0) {
			snprintf(msg, msg_size, "profile %zu of %zu cannot be merged with the first: %s",
				 i + 1, n, why);
			return -EINVAL;
		}
	}
	if ((rc = plan_scaling(&pl, srcs, n)) < 0)
		return rc;
	memset(&mg, 0, sizeof(mg));
	rc = -ENOMEM;
	size_t nt = srcs[0]->n_sample_type;
	if (!(mg.out = profile_new()) || !(mg.values = malloc((nt ? nt : 1) * sizeof(*mg.values))))
		goto out;
	if ((rc = combine_headers(mg.out, srcs, n, &pl)) < 0)
		goto out;
	for (size_t i = 0; i < n; i++) {
		const struct profile *src = srcs[i];
		free(mg.loc_of);
		hashmap_release(&mg.fn_of);
		hashmap_release(&mg.map_of);
		mg.n_map_info = 0;
		rc = -ENOMEM;
		if (!(mg.loc_of = calloc(src->n_location ? src->n_location : 1, sizeof(*mg.loc_of))))
			goto out;
		mg.fake = fake && src->n_mapping == 0 ? &fake_mapping : NULL;
		/* mapping[0] is the main program's: take the first seen first */
		if (mg.out->n_mapping == 0 && (src->n_mapping > 0 || mg.fake)) {
			struct map_info mi;
			if ((rc = map_mapping(&mg, mg.fake ? mg.fake : src->mapping[0], &mi)) < 0)
				goto out;
		}
		for (size_t j = 0; j < src->n_sample; j++)
			if ((rc = map_sample(&mg, &src->sample[j], pl.ratio + i * nt,
					     pl.scaled[i])) < 0)
				goto out;
	}
	/* Samples that added up to zero: pprof merges the result again, alone,
	 * which drops them and whatever only they used. */
	for (size_t i = 0; i < mg.out->n_sample; i++) {
		bool zero = true;
		for (size_t t = 0; t < nt && zero; t++)
			zero = mg.out->sample[i].value[t] == 0;
		if (zero) {
			const struct profile *again = mg.out;
			rc = merge(result, &again, 1, false, msg, msg_size);
			goto out;
		}
	}
	*result = mg.out;
	mg.out = NULL;
	rc = 0;
out:
	profile_free(mg.out);
	merger_release(&mg);
	plan_release(&pl);
	return rc;
}

int profile_merge(struct profile **result, const struct profile *const *srcs, size_t n, char *msg,
		  size_t msg_size)
{
	return merge(result, srcs, n, false, msg, msg_size);
}

int profile_merge_sources(struct profile **result, const struct profile *const *srcs, size_t n,
			  char *msg, size_t msg_size)
{
	return merge(result, srcs, n, true, msg, msg_size);
}

int profile_subtract(struct profile *p, const struct profile *const *bases, size_t n_base,
		     enum profile_base_mode mode, char *msg, size_t msg_size)
{
	struct profile *base = NULL, *merged = NULL;
	int rc;

	for (size_t i = 0; i < n_base; i++)
		if ((rc = profile_compatible(p, bases[i], msg, msg_size)) < 0)
			return rc;
	if ((rc = merge(&base, bases, n_base, true, msg, msg_size)) < 0)
		return rc;
	if (mode == PROFILE_DIFF_BASE &&
	    (rc = profile_set_label(base, PROFILE_DIFF_BASE_LABEL, "true")) < 0)
		goto out;
	profile_scale(base, -1);
	const struct profile *both[2] = { p, base };
	if ((rc = merge(&merged, both, 2, true, msg, msg_size)) < 0)
		goto out;
	struct profile tmp = *p;	/* p takes the result; merged, what p held */
	*p = *merged;
	*merged = tmp;
	rc = 0;
out:
	profile_free(merged);
	profile_free(base);
	return rc;
}
