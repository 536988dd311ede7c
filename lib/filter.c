/* filter.c - pprof's sample filters (-focus, -ignore, -hide, -show,
 * -show_from, -tagfocus, -tagignore, -tagshow, -taghide, -prune_from) on
 * the profile model, after google/pprof's profile/filter.go, prune.go and
 * internal/driver/driver_focus.go. */
#include "filter.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "hashmap.h"
#include "profile.h"
#include "regex.h"
#include "units.h"

/* A regex and what it said about each function and mapping: matching the
 * same name thousands of times (once per location) would cost more than
 * the rest of a report. */
struct cached_regex {
	struct regex *re;
	struct hashmap seen;	/* object address -> 1 no match, 2 match */
};

/* A -tagfocus or -tagignore. */
struct tag_filter {
	char *key;		/* the label key it is about; NULL for any */
	bool numeric;
	/* a numeric range: values in unit between lo and hi (inclusive) */
	bool has_lo, has_hi;
	double lo, hi;
	char unit[64];
	/* else regexes, all of which must match (any key), or any (one key) */
	struct regex **rx;
	size_t n_rx;
};

struct filter {
	struct cached_regex focus, ignore, hide, show, show_from, prune_from;
	struct regex *tagshow, *taghide;
	struct tag_filter *tagfocus, *tagignore;
};

static const char *const option_names[] = { "Focus", "Ignore", "Hide", "Show", "ShowFrom",
					    "TagFocus", "TagIgnore", "TagShow", "TagHide" };

const char *filter_option_name(unsigned bit)
{
	for (size_t i = 0; i < sizeof(option_names) / sizeof(option_names[0]); i++)
		if (bit == 1u << i)
			return option_names[i];
	return "?";
}

static bool set(const char *s)
{
	return s && *s;
}

bool filter_options_any(const struct filter_options *f)
{
	return set(f->focus) || set(f->ignore) || set(f->hide) || set(f->show) ||
	       set(f->show_from) || set(f->tagfocus) || set(f->tagignore) || set(f->tagshow) ||
	       set(f->taghide) || set(f->prune_from);
}

size_t filter_options_describe(const struct filter_options *f, char **out, size_t max)
{
	const struct {
		const char *name, *value;
	} opts[] = {
		{ "focus", f->focus }, { "ignore", f->ignore }, { "hide", f->hide },
		{ "show", f->show }, { "show_from", f->show_from }, { "tagfocus", f->tagfocus },
		{ "tagignore", f->tagignore }, { "tagshow", f->tagshow },
		{ "taghide", f->taghide },
	};
	size_t n = 0;
	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]) && n < max; i++) {
		if (!set(opts[i].value))
			continue;
		size_t len = strlen(opts[i].name) + strlen(opts[i].value) + 2;
		char *s = malloc(len);
		if (!s)
			break;
		snprintf(s, len, "%s=%s", opts[i].name, opts[i].value);
		out[n++] = s;
	}
	return n;
}

/* ---- compiling ----------------------------------------------------------- */

static int compile_regex(struct regex **re, const char *name, const char *value, char *msg,
			 size_t msg_size)
{
	char why[256];
	if (!set(value))
		return 0;
	if (!(*re = regex_compile(value, why, sizeof(why)))) {
		snprintf(msg, msg_size, "invalid -%s regexp '%s': %s", name, value, why);
		return -EINVAL;
	}
	return 0;
}

/* One match of ([+-]?[[:digit:]]+)([[:alpha:]]+)? at or after s, leftmost:
 * the number in [*num, *num_end), the unit in [*num_end, *end). */
static bool find_range_part(const char *s, const char **num, const char **num_end,
			    const char **end)
{
	for (; *s; s++) {
		const char *d = s + (*s == '+' || *s == '-');
		if (*d < '0' || *d > '9')
			continue;
		*num = s;
		while (*d >= '0' && *d <= '9')
			d++;
		*num_end = d;
		while ((*d >= 'a' && *d <= 'z') || (*d >= 'A' && *d <= 'Z'))
			d++;
		*end = d;
		return true;
	}
	return false;
}

/* pprof's parseTagFilterRange: "32kB" (equal), "4MB:" (at least), ":64kB"
 * (at most), "12kB:64MB" (both inclusive). Returns 1 when value is a range
 * (filled into tf), 0 when it is to be read as regexes, -EINVAL when a
 * number does not fit in 64 bits. */
static int parse_range(struct tag_filter *tf, const char *value)
{
	const char *n0, *u0, *e0, *n1, *u1, *e1;
	char unit[64];
	if (!find_range_part(value, &n0, &u0, &e0))
		return 0;
	bool two = find_range_part(e0, &n1, &u1, &e1);
	char *end;
	errno = 0;
	long long v = strtoll(n0, &end, 10);
	if (errno)
		return -EINVAL;
	if ((size_t)(e0 - u0) >= sizeof(unit))
		return 0;
	memcpy(unit, u0, (size_t)(e0 - u0));
	unit[e0 - u0] = '\0';
	const char *scaled_unit;
	double scaled = units_scale(v, unit, unit, &scaled_unit);
	if (strlen(scaled_unit) >= sizeof(tf->unit))
		return 0;
	snprintf(tf->unit, sizeof(tf->unit), "%s", scaled_unit);
	size_t len0 = (size_t)(e0 - n0);
	if (!two) {
		if (n0 == value && value[len0] == '\0') {
			tf->has_lo = tf->has_hi = true;
			tf->lo = tf->hi = scaled;
		} else if (n0 == value && value[len0] == ':' && value[len0 + 1] == '\0') {
			tf->has_lo = true;
			tf->lo = scaled;
		} else if (n0 == value + 1 && value[0] == ':' && value[len0 + 1] == '\0') {
			tf->has_hi = true;
			tf->hi = scaled;
		} else {
			return 0;
		}
		tf->numeric = true;
		return 1;
	}
	if (n0 != value || e0[0] != ':' || n1 != e0 + 1 || *e1 != '\0')
		return 0;
	errno = 0;
	long long v1 = strtoll(n1, &end, 10);
	if (errno)
		return -EINVAL;
	if ((size_t)(e1 - u1) >= sizeof(unit))
		return 0;
	memcpy(unit, u1, (size_t)(e1 - u1));
	unit[e1 - u1] = '\0';
	const char *unit2;
	double scaled2 = units_scale(v1, unit, tf->unit, &unit2);
	if (strcmp(unit2, tf->unit) != 0)
		return 0;
	tf->numeric = tf->has_lo = tf->has_hi = true;
	tf->lo = scaled;
	tf->hi = scaled2;
	return 1;
}

static void tag_filter_free(struct tag_filter *tf)
{
	if (!tf)
		return;
	for (size_t i = 0; i < tf->n_rx; i++)
		regex_free(tf->rx[i]);
	free(tf->rx);
	free(tf->key);
	free(tf);
}

/* pprof's compileTagFilter: "[KEY=]RANGE" or "[KEY=]REGEX[,REGEX...]". */
static int compile_tag_filter(struct tag_filter **out, const char *name, const char *value,
			      char *msg, size_t msg_size)
{
	struct tag_filter *tf;
	if (!set(value))
		return 0;
	if (!(tf = calloc(1, sizeof(*tf))))
		goto out_nomem;
	*out = tf;
	const char *eq = strchr(value, '=');
	if (eq) {
		if (eq > value && !(tf->key = strndup(value, (size_t)(eq - value))))
			goto out_nomem;
		value = eq + 1;
	}
	int r = parse_range(tf, value);
	if (r < 0) {
		snprintf(msg, msg_size, "invalid -%s range '%s': a number out of range", name,
			 value);
		return -EINVAL;
	}
	if (r > 0)
		return 0;
	size_t n = 1;
	for (const char *c = value; *c; c++)
		n += *c == ',';
	if (!(tf->rx = calloc(n, sizeof(*tf->rx))))
		goto out_nomem;
	for (const char *s = value;; ) {
		const char *comma = strchr(s, ',');
		size_t len = comma ? (size_t)(comma - s) : strlen(s);
		char *one = strndup(s, len), why[256];
		if (!one)
			goto out_nomem;
		tf->rx[tf->n_rx] = regex_compile(one, why, sizeof(why));
		if (!tf->rx[tf->n_rx]) {
			snprintf(msg, msg_size, "invalid -%s regexp '%s': %s", name, one, why);
			free(one);
			return -EINVAL;
		}
		free(one);
		tf->n_rx++;
		if (!comma)
			break;
		s = comma + 1;
	}
	return 0;
out_nomem:
	snprintf(msg, msg_size, "%s", strerror(ENOMEM));
	return -ENOMEM;
}

struct filter *filter_new(const struct filter_options *f, char *msg, size_t msg_size)
{
	struct filter *flt = calloc(1, sizeof(*flt));
	if (!flt) {
		snprintf(msg, msg_size, "%s", strerror(ENOMEM));
		return NULL;
	}
	if (compile_regex(&flt->focus.re, "focus", f->focus, msg, msg_size) < 0 ||
	    compile_regex(&flt->ignore.re, "ignore", f->ignore, msg, msg_size) < 0 ||
	    compile_regex(&flt->hide.re, "hide", f->hide, msg, msg_size) < 0 ||
	    compile_regex(&flt->show.re, "show", f->show, msg, msg_size) < 0 ||
	    compile_regex(&flt->show_from.re, "show_from", f->show_from, msg, msg_size) < 0 ||
	    compile_tag_filter(&flt->tagfocus, "tagfocus", f->tagfocus, msg, msg_size) < 0 ||
	    compile_tag_filter(&flt->tagignore, "tagignore", f->tagignore, msg, msg_size) < 0 ||
	    compile_regex(&flt->tagshow, "tagshow", f->tagshow, msg, msg_size) < 0 ||
	    compile_regex(&flt->taghide, "taghide", f->taghide, msg, msg_size) < 0 ||
	    compile_regex(&flt->prune_from.re, "prune_from", f->prune_from, msg, msg_size) < 0) {
		filter_free(flt);
		return NULL;
	}
	return flt;
}

static void cached_release(struct cached_regex *c)
{
	regex_free(c->re);
	hashmap_release(&c->seen);
}

void filter_free(struct filter *flt)
{
	if (!flt)
		return;
	cached_release(&flt->focus);
	cached_release(&flt->ignore);
	cached_release(&flt->hide);
	cached_release(&flt->show);
	cached_release(&flt->show_from);
	cached_release(&flt->prune_from);
	regex_free(flt->tagshow);
	regex_free(flt->taghide);
	tag_filter_free(flt->tagfocus);
	tag_filter_free(flt->tagignore);
	free(flt);
}

/* ---- matching frames ------------------------------------------------------ */

/* Returns 1 or 0, or a negative errno. */
static int cached_match(struct cached_regex *c, const void *obj, const char *a, const char *b)
{
	bool inserted;
	uint64_t *slot = hashmap_put(&c->seen, (uint64_t)(uintptr_t)obj, &inserted);
	if (!slot)
		return -ENOMEM;
	if (!inserted)
		return *slot == 2;
	int m = regex_match(c->re, a);
	if (m == 0 && b)
		m = regex_match(c->re, b);
	if (m < 0) {
		hashmap_remove(&c->seen, (uint64_t)(uintptr_t)obj);
		return m;
	}
	*slot = m ? 2 : 1;
	return m;
}

/* The function's name or file matches (pprof matches both). */
static int function_matches(struct cached_regex *c, const struct profile_function *f)
{
	return f ? cached_match(c, f, f->name, f->filename) : 0;
}

static int mapping_matches(struct cached_regex *c, const struct profile_mapping *m)
{
	return m ? cached_match(c, m, m->filename, NULL) : 0;
}

/* pprof's Location.matchesName. */
static int location_matches(struct cached_regex *c, const struct profile_location *l)
{
	for (size_t i = 0; i < l->n_line; i++) {
		int m = function_matches(c, l->line[i].function);
		if (m)
			return m;
	}
	return mapping_matches(c, l->mapping);
}

/* Keeps the lines of l that match (want) or do not match (!want) c; a
 * mapping that matches keeps all lines (want) or none (!want). Lines
 * without a function are kept with want, dropped without. */
static int keep_lines(struct cached_regex *c, struct profile_location *l, bool want)
{
	int m = mapping_matches(c, l->mapping);
	if (m < 0)
		return m;
	if (m) {
		if (!want)
			l->n_line = 0;
		return 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < l->n_line; i++) {
		const struct profile_function *f = l->line[i].function;
		if (want) {
			if (f && (m = function_matches(c, f)) <= 0) {
				if (m < 0)
					return m;
				continue;
			}
		} else if (f) {
			if ((m = function_matches(c, f)) < 0)
				return m;
			if (m)
				continue;
		}
		l->line[n++] = l->line[i];
	}
	l->n_line = n;
	return 0;
}

enum { LOC_NONE, LOC_FOCUS, LOC_IGNORE };

/* pprof's FilterSamplesByName. */
static int filter_by_name(struct filter *flt, struct profile *p, unsigned *unmatched)
{
	uint8_t *state = calloc(p->n_location ? p->n_location : 1, 1);
	bool *hidden = calloc(p->n_location ? p->n_location : 1, sizeof(*hidden));
	bool fm = false, im = false, hm = false, hnm = false, any_hidden = false;
	int rc = -ENOMEM, m;
	if (!state || !hidden)
		goto out;
	for (size_t i = 0; i < p->n_location; i++) {
		struct profile_location *l = p->location[i];
		if (flt->ignore.re && (m = location_matches(&flt->ignore, l)) != 0) {
			if ((rc = m) < 0)
				goto out;
			im = true;
			state[i] = LOC_IGNORE;
		} else if (!flt->focus.re || (m = location_matches(&flt->focus, l)) != 0) {
			if (flt->focus.re && (rc = m) < 0)
				goto out;
			fm = true;
			state[i] = LOC_FOCUS;
		}
		if (flt->hide.re && (m = location_matches(&flt->hide, l)) != 0) {
			if ((rc = m) < 0 || (rc = keep_lines(&flt->hide, l, false)) < 0)
				goto out;
			hm = true;
			if (l->n_line == 0)
				hidden[i] = any_hidden = true;
		}
		if (flt->show.re) {
			if ((rc = keep_lines(&flt->show, l, true)) < 0)
				goto out;
			if (l->n_line == 0)
				hidden[i] = any_hidden = true;
			else
				hnm = true;
		}
	}
	size_t kept = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *s = &p->sample[i];
		bool focused = false, ignored = false;
		for (size_t j = 0; j < s->n_location && !ignored; j++) {
			uint8_t st = state[s->location[j]->index];
			focused |= st == LOC_FOCUS;
			ignored = st == LOC_IGNORE;
		}
		if (!focused || ignored)
			continue;
		if (any_hidden) {
			size_t n = 0;
			for (size_t j = 0; j < s->n_location; j++)
				if (!hidden[s->location[j]->index])
					s->location[n++] = s->location[j];
			if (n == 0)
				continue;
			s->n_location = n;
		}
		p->sample[kept++] = *s;
	}
	p->n_sample = kept;
	*unmatched |= (flt->focus.re && !fm ? FILTER_FOCUS : 0) |
		      (flt->ignore.re && !im ? FILTER_IGNORE : 0) |
		      (flt->hide.re && !hm ? FILTER_HIDE : 0) |
		      (flt->show.re && !hnm ? FILTER_SHOW : 0);
	rc = 0;
out:
	free(state);
	free(hidden);
	return rc;
}

/* pprof's ShowFrom. */
static int show_from(struct cached_regex *c, struct profile *p, unsigned *unmatched)
{
	bool *from = calloc(p->n_location ? p->n_location : 1, sizeof(*from));
	bool matched = false;
	int m;
	if (!from)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_location; i++) {
		struct profile_location *l = p->location[i];
		if ((m = mapping_matches(c, l->mapping)) != 0) {
			if (m < 0)
				goto out_err;
			from[i] = matched = true;
			continue;
		}
		for (size_t j = l->n_line; j-- > 0;) {	/* the last (outermost) match */
			if ((m = function_matches(c, l->line[j].function)) < 0)
				goto out_err;
			if (m) {
				l->n_line = j + 1;
				from[i] = matched = true;
				break;
			}
		}
	}
	size_t kept = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *s = &p->sample[i];
		for (size_t j = s->n_location; j-- > 0;)
			if (from[s->location[j]->index]) {
				s->n_location = j + 1;
				p->sample[kept++] = *s;
				break;
			}
	}
	p->n_sample = kept;
	if (!matched)
		*unmatched |= FILTER_SHOW_FROM;
	free(from);
	return 0;
out_err:
	free(from);
	return m;
}

/* ---- tags ------------------------------------------------------------------ */

static bool in_range(const struct tag_filter *tf, int64_t v, const char *unit)
{
	const char *su;
	double sv = units_scale(v, unit, tf->unit, &su);
	return strcmp(su, tf->unit) == 0 && (!tf->has_lo || sv >= tf->lo) &&
	       (!tf->has_hi || sv <= tf->hi);
}

/* Returns 1 or 0, or a negative errno. */
static int tag_matches(const struct tag_filter *tf, const struct profile_sample *s,
		       const struct profile_label_units *units)
{
	if (tf->numeric) {
		for (size_t j = 0; j < s->n_label; j++) {
			const struct profile_label *l = &s->label[j];
			if (!profile_label_is_num(l) || (tf->key && strcmp(l->key, tf->key) != 0))
				continue;
			const char *unit = profile_label_units_find(units, l->key);
			if (in_range(tf, l->num, unit ? unit : l->key))
				return 1;
		}
		return 0;
	}
	if (tf->key) {	/* any regex, any value of the key */
		for (size_t j = 0; j < s->n_label; j++) {
			const struct profile_label *l = &s->label[j];
			if (!*l->str || strcmp(l->key, tf->key) != 0)
				continue;
			for (size_t r = 0; r < tf->n_rx; r++) {
				int m = regex_match(tf->rx[r], l->str);
				if (m)
					return m;
			}
		}
		return 0;
	}
	/* every regex matches some "key:value" */
	char buf[512];
	for (size_t r = 0; r < tf->n_rx; r++) {
		bool found = false;
		for (size_t j = 0; j < s->n_label && !found; j++) {
			const struct profile_label *l = &s->label[j];
			if (!*l->str)
				continue;
			size_t nk = strlen(l->key), nv = strlen(l->str);
			char *kv = nk + nv + 2 <= sizeof(buf) ? buf : malloc(nk + nv + 2);
			if (!kv)
				return -ENOMEM;
			memcpy(kv, l->key, nk);
			kv[nk] = ':';
			memcpy(kv + nk + 1, l->str, nv + 1);
			int m = regex_match(tf->rx[r], kv);
			if (kv != buf)
				free(kv);
			if (m < 0)
				return m;
			found = m;
		}
		if (!found)
			return 0;
	}
	return 1;
}

/* pprof's FilterSamplesByTag. */
static int filter_by_tag(struct filter *flt, struct profile *p,
			 const struct profile_label_units *units, unsigned *unmatched)
{
	bool fm = false, im = false;
	size_t kept = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *s = &p->sample[i];
		int focused = 1, ignored = 0;
		if (flt->tagfocus && (focused = tag_matches(flt->tagfocus, s, units)) < 0)
			return focused;
		if (flt->tagignore && (ignored = tag_matches(flt->tagignore, s, units)) < 0)
			return ignored;
		fm |= focused;
		im |= ignored;
		if (focused && !ignored)
			p->sample[kept++] = *s;
	}
	p->n_sample = kept;
	*unmatched |= (flt->tagfocus && !fm ? FILTER_TAGFOCUS : 0) |
		      (flt->tagignore && !im ? FILTER_TAGIGNORE : 0);
	return 0;
}

/* pprof's FilterTagsByName: labels whose key tagshow does not match or
 * taghide does are removed. Samples may share their label array
 * (profile.h): those kept go to a new one. */
static int filter_tags_by_name(struct filter *flt, struct profile *p, unsigned *unmatched)
{
	bool sm = false, hm = false;
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *s = &p->sample[i];
		struct profile_label *kept = arena_calloc(&p->arena, s->n_label, sizeof(*kept));
		if (!kept)
			return -ENOMEM;
		size_t n = 0;
		for (size_t j = 0; j < s->n_label; j++) {
			const struct profile_label *l = &s->label[j];
			if (!*l->str && !profile_label_is_num(l))
				continue;	/* not a label to pprof */
			int show = 1, hide = 0;
			if (flt->tagshow && (show = regex_match(flt->tagshow, l->key)) < 0)
				return show;
			if (flt->taghide && (hide = regex_match(flt->taghide, l->key)) < 0)
				return hide;
			sm |= show;
			hm |= hide;
			if (show && !hide)
				kept[n++] = *l;
		}
		s->label = kept;
		s->n_label = n;
	}
	*unmatched |= (flt->tagshow && !sm ? FILTER_TAGSHOW : 0) |
		      (flt->taghide && !hm ? FILTER_TAGHIDE : 0);
	return 0;
}

/* ---- pruning --------------------------------------------------------------- */

/* pprof's simplifyFunc: the name without a leading '.' and from its
 * argument list on ("(anonymous namespace)" and "operator()" are not one).
 * Returns where it starts in name; *len gets its length. */
static const char *simplify_func(const char *name, size_t *len)
{
	if (*name == '.')
		name++;
	size_t i = 0;
	while (name[i]) {
		if (!strncmp(name + i, "(anonymous namespace)", 21))
			i += 21;
		else if (!strncmp(name + i, "operator()", 10))
			i += 10;
		else if (name[i] == '(')
			break;
		else
			i++;
	}
	*len = i;
	return name;
}

static int simplified_matches(struct cached_regex *c, const struct profile_function *f)
{
	bool inserted;
	uint64_t key = (uint64_t)(uintptr_t)f;
	uint64_t *slot = hashmap_put(&c->seen, key, &inserted);
	if (!slot)
		return -ENOMEM;
	if (!inserted)
		return *slot == 2;
	size_t len;
	const char *name = simplify_func(f->name, &len);
	char *copy = strndup(name, len);
	int m = copy ? regex_match(c->re, copy) : -ENOMEM;
	free(copy);
	if (m < 0) {
		hashmap_remove(&c->seen, key);
		return m;
	}
	*slot = m ? 2 : 1;
	return m;
}

/* pprof's PruneFrom. */
static int prune_from(struct cached_regex *c, struct profile *p)
{
	bool *beneath = calloc(p->n_location ? p->n_location : 1, sizeof(*beneath));
	if (!beneath)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_location; i++) {
		struct profile_location *l = p->location[i];
		for (size_t j = 0; j < l->n_line; j++) {
			const struct profile_function *f = l->line[j].function;
			if (!f || !*f->name)
				continue;
			int m = simplified_matches(c, f);
			if (m < 0) {
				free(beneath);
				return m;
			}
			if (m) {
				beneath[i] = true;
				l->line += j;
				l->n_line -= j;
				break;
			}
		}
	}
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *s = &p->sample[i];
		for (size_t j = 0; j < s->n_location; j++)
			if (beneath[s->location[j]->index]) {
				s->location += j;
				s->n_location -= j;
				break;
			}
	}
	free(beneath);
	return 0;
}

/* ---- all of it ------------------------------------------------------------- */

int filter_apply(struct filter *flt, struct profile *p, unsigned *unmatched, char *msg,
		 size_t msg_size)
{
	struct profile_label_units units = { NULL, 0, 0, HASHMAP_INIT };
	int rc = 0;

	*unmatched = 0;
	if ((flt->tagfocus && flt->tagfocus->numeric) || (flt->tagignore && flt->tagignore->numeric))
		rc = profile_label_units_init(&units, p);
	if (rc == 0)
		rc = filter_by_name(flt, p, unmatched);
	if (rc == 0 && flt->show_from.re)
		rc = show_from(&flt->show_from, p, unmatched);
	if (rc == 0 && (flt->tagfocus || flt->tagignore))
		rc = filter_by_tag(flt, p, &units, unmatched);
	if (rc == 0 && (flt->tagshow || flt->taghide))
		rc = filter_tags_by_name(flt, p, unmatched);
	if (rc == 0 && flt->prune_from.re)
		rc = prune_from(&flt->prune_from, p);
	profile_label_units_release(&units);
	if (rc == -E2BIG)
		snprintf(msg, msg_size, "a regexp took too long to match (PCRE2's backtracking "
			 "limit): simplify it");
	else if (rc < 0)
		snprintf(msg, msg_size, "%s", strerror(-rc));
	return rc;
}

int profile_filter(struct profile *p, const struct filter_options *f, unsigned *unmatched,
		   char *msg, size_t msg_size)
{
	struct filter *flt = filter_new(f, msg, msg_size);
	if (!flt)
		return strstr(msg, strerror(ENOMEM)) == msg ? -ENOMEM : -EINVAL;
	int rc = filter_apply(flt, p, unmatched, msg, msg_size);
	filter_free(flt);
	return rc;
}
