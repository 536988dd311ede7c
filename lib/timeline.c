/* timeline.c - the heap over time on the wire: a message of its own in a
 * field of the pprof Profile that pprof does not know (TIMELINE_FIELD), so
 * go tool pprof skips it. The message, in protobuf's terms:
 *
 *   message Timeline {
 *     int64 start_ns = 1;  int64 interval_ns = 2;  repeated Series series = 3;
 *   }
 *   message Series {
 *     uint32 pid = 1;  string exe = 2;  uint64 first = 3;
 *     repeated sint64 inuse = 4 [packed];  repeated sint64 allocated = 5 [packed];
 *     repeated sint64 rss = 6 [packed];  sint64 peak_bytes = 7;  sint64 peak_ns = 8;
 *   }
 */
#include "timeline.h"

#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "profile.h"
#include "strbuf.h"

/* ---- writing ------------------------------------------------------------- */

static void put_varint(struct strbuf *b, uint64_t v)
{
	uint8_t t[10];
	size_t n = 0;
	do {
		t[n++] = (uint8_t)(v & 0x7f) | (v > 0x7f ? 0x80 : 0);
		v >>= 7;
	} while (v);
	strbuf_add(b, t, n);
}

static uint64_t zigzag(int64_t v)
{
	return ((uint64_t)v << 1) ^ (uint64_t)(v >> 63);
}

static void put_tag(struct strbuf *b, uint64_t field, unsigned wire_type)
{
	put_varint(b, field << 3 | wire_type);
}

/* A length-delimited field holding what put_inner writes. */
static void put_message(struct strbuf *b, uint64_t field, const struct strbuf *inner)
{
	if (inner->failed)
		b->failed = true;
	put_tag(b, field, 2);
	put_varint(b, inner->len);
	strbuf_add(b, inner->s, inner->len);
}

static void put_packed(struct strbuf *b, uint64_t field, const int64_t *v, size_t n)
{
	struct strbuf in = { 0 };
	for (size_t i = 0; i < n; i++)
		put_varint(&in, zigzag(v[i]));
	put_message(b, field, &in);
	free(in.s);
}

int timeline_encode(const struct timeline *t, uint8_t **out, size_t *len)
{
	struct strbuf tl = { 0 }, all = { 0 };
	put_tag(&tl, 1, 0);
	put_varint(&tl, zigzag(t->start_ns));
	put_tag(&tl, 2, 0);
	put_varint(&tl, zigzag(t->interval_ns));
	for (size_t i = 0; i < t->n_series; i++) {
		const struct timeline_series *s = &t->series[i];
		struct strbuf sb = { 0 };
		put_tag(&sb, 1, 0);
		put_varint(&sb, s->pid);
		put_tag(&sb, 2, 2);
		put_varint(&sb, strlen(s->exe));
		strbuf_add(&sb, s->exe, strlen(s->exe));
		put_tag(&sb, 3, 0);
		put_varint(&sb, s->first);
		put_packed(&sb, 4, s->inuse, s->n);
		put_packed(&sb, 5, s->allocated, s->n);
		put_packed(&sb, 6, s->rss, s->n);
		put_tag(&sb, 7, 0);
		put_varint(&sb, zigzag(s->peak_bytes));
		put_tag(&sb, 8, 0);
		put_varint(&sb, zigzag(s->peak_ns));
		put_message(&tl, 3, &sb);
		free(sb.s);
	}
	put_message(&all, TIMELINE_FIELD, &tl);
	free(tl.s);
	if (all.failed) {
		free(all.s);
		return -ENOMEM;
	}
	*out = (uint8_t *)all.s;
	*len = all.len;
	return 0;
}

/* ---- reading ------------------------------------------------------------- */

struct cursor {
	const uint8_t *p, *end;
};

static bool get_varint(struct cursor *c, uint64_t *v)
{
	*v = 0;
	for (int shift = 0; shift < 64; shift += 7) {
		if (c->p == c->end)
			return false;
		uint8_t byte = *c->p++;
		if (shift == 63 && byte > 1)
			return false;	/* more than 64 bits, as protobuf refuses */
		*v |= (uint64_t)(byte & 0x7f) << shift;
		if (!(byte & 0x80))
			return true;
	}
	return false;
}

static int64_t unzigzag(uint64_t v)
{
	return (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
}

/* The next field: its number, and its value (wire type 0) or its bytes
 * (wire type 2) in *sub. Other wire types are malformed here. */
static bool next_field(struct cursor *c, uint64_t *field, unsigned *wt, uint64_t *v,
		       struct cursor *sub)
{
	uint64_t tag;
	if (!get_varint(c, &tag))
		return false;
	*field = tag >> 3;
	*wt = tag & 7;
	if (*wt == 0)
		return get_varint(c, v);
	if (*wt != 2 || !get_varint(c, v) || *v > (uint64_t)(c->end - c->p))
		return false;
	*sub = (struct cursor){ c->p, c->p + *v };
	c->p += *v;
	return true;
}

static int64_t *get_packed(struct cursor c, struct arena *a, size_t *n)
{
	size_t count = 0;
	for (const uint8_t *q = c.p; q < c.end; q++)
		count += !(*q & 0x80);
	int64_t *v = arena_calloc(a, count ? count : 1, sizeof(*v));
	if (!v)
		return NULL;
	for (*n = 0; c.p < c.end; (*n)++) {
		uint64_t x;
		if (!get_varint(&c, &x))
			return NULL;
		v[*n] = unzigzag(x);
	}
	return v;
}

static const char *decode_series(struct cursor c, struct profile *p, struct timeline_series *s)
{
	size_t n[3] = { 0, 0, 0 };
	int64_t **arrays[3] = { &s->inuse, &s->allocated, &s->rss };
	s->exe = "";
	s->peak_ns = -1;
	while (c.p < c.end) {
		uint64_t field, v;
		unsigned wt;
		struct cursor sub;
		if (!next_field(&c, &field, &wt, &v, &sub))
			return "a series is cut short";
		if (field == 1 && wt == 0 && v <= UINT32_MAX)
			s->pid = (uint32_t)v;
		else if (field == 2 && wt == 2) {
			if (!(s->exe = profile_intern_n(p, (const char *)sub.p, (size_t)v)))
				return "out of memory";
		} else if (field == 3 && wt == 0)
			s->first = v;
		else if (field >= 4 && field <= 6 && wt == 2) {
			if (!(*arrays[field - 4] = get_packed(sub, &p->arena, &n[field - 4])))
				return "a series has a cut-off value";
		} else if (field == 7 && wt == 0)
			s->peak_bytes = unzigzag(v);
		else if (field == 8 && wt == 0)
			s->peak_ns = unzigzag(v);
		else
			return "a series has a field of the wrong kind";
	}
	if (n[0] != n[1] || n[0] != n[2])
		return "a series's columns differ in length";
	if (s->first > TIMELINE_MAX_POINTS || n[0] > TIMELINE_MAX_POINTS - s->first)
		return "a series lies outside its grid";
	s->n = n[0];
	return NULL;
}

const char *timeline_decode(const uint8_t *data, size_t len, struct profile *p)
{
	struct timeline *t = arena_calloc(&p->arena, 1, sizeof(*t));
	if (!t)
		return "out of memory";
	struct cursor c = { data, data + len };
	size_t n_series = 0;
	/* first the series are counted, then read */
	for (int pass = 0; pass < 2; pass++) {
		c = (struct cursor){ data, data + len };
		size_t k = 0;
		while (c.p < c.end) {
			uint64_t field, v;
			unsigned wt;
			struct cursor sub;
			if (!next_field(&c, &field, &wt, &v, &sub))
				return "it is cut short";
			if (field == 1 && wt == 0)
				t->start_ns = unzigzag(v);
			else if (field == 2 && wt == 0)
				t->interval_ns = unzigzag(v);
			else if (field == 3 && wt == 2) {
				if (pass) {
					const char *why = decode_series(sub, p, &t->series[k]);
					if (why)
						return why;
				}
				k++;
			} else
				return "it has a field of the wrong kind";
		}
		if (!pass) {
			n_series = k;
			if (n_series > TIMELINE_MAX_SERIES)
				return "it has too many series";
			if (n_series && !(t->series = arena_calloc(&p->arena, n_series,
								   sizeof(*t->series))))
				return "out of memory";
		}
	}
	if (t->interval_ns <= 0)
		return "its interval is not positive";
	t->n_series = n_series;
	p->timeline = t;
	return NULL;
}
