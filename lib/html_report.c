/* html_report.c - memprof report's page: the template (lib/report_template.html,
 * compiled in as report_template[]) with the profile's data put in as one
 * JSON object: a string table, the flame graph as a tree in parent/child
 * arrays (preorder, cumulative values per sample type), the top table, the
 * embedded source listings, the summary and the heap over time. Everything
 * the page shows comes from that JSON and is put in the page by its script
 * as text, never as markup. */
#include "html_report.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "graph.h"
#include "hashmap.h"
#include "leaks.h"
#include "profile.h"
#include "report.h"
#include "timeline.h"

#include "report_template.h"	/* generated: static const char report_template[] */

/* Where the JSON goes in the template: the text of a
 * <script type="application/json"> element. */
#define DATA_MARK "@MEMPROF_DATA@"

/* Sums and magnitudes of a profile's values, which may be anything a file
 * says: wrapping, never undefined (graph.c's totals wrap the same way). */
static int64_t add_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a + (uint64_t)b);
}

static int64_t sub_wrap(int64_t a, int64_t b)
{
	return (int64_t)((uint64_t)a - (uint64_t)b);
}

static int64_t abs_sat(int64_t v)
{
	return v == INT64_MIN ? INT64_MAX : v < 0 ? -v : v;
}

/* ---- JSON ------------------------------------------------------------------ */

/* Length of the valid UTF-8 sequence at s (1..4), or 0 when the bytes
 * there are not one (overlong forms, surrogates and code points past
 * U+10FFFF included). */
static size_t utf8_len(const unsigned char *s)
{
	unsigned c = s[0];
	if (c < 0x80)
		return 1;
	if (c >= 0xc2 && c <= 0xdf)
		return (s[1] & 0xc0) == 0x80 ? 2 : 0;
	if (c >= 0xe0 && c <= 0xef) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xe0 && s[1] < 0xa0) || (c == 0xed && s[1] > 0x9f))
			return 0;
		return 3;
	}
	if (c >= 0xf0 && c <= 0xf4) {
		if ((s[1] & 0xc0) != 0x80 || (s[2] & 0xc0) != 0x80 || (s[3] & 0xc0) != 0x80)
			return 0;
		if ((c == 0xf0 && s[1] < 0x90) || (c == 0xf4 && s[1] > 0x8f))
			return 0;
		return 4;
	}
	return 0;
}

/* Writes s as a JSON string that is also safe as the text of a <script>
 * element: '<', '>' and '&' as \u escapes (so no "</script>" or "<!--" can
 * appear), U+2028 and U+2029 escaped, bytes that are not UTF-8 as U+FFFD. */
static void json_string(FILE *f, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;
	putc('"', f);
	while (*s) {
		unsigned c = *s;
		size_t n;
		if (c == '"' || c == '\\') {
			putc('\\', f);
			putc((int)c, f);
			s++;
		} else if (c == '\n') {
			fputs("\\n", f);
			s++;
		} else if (c == '\t') {
			fputs("\\t", f);
			s++;
		} else if (c < 0x20 || c == 0x7f || c == '<' || c == '>' || c == '&') {
			fprintf(f, "\\u%04x", c);
			s++;
		} else if ((n = utf8_len(s)) == 0) {
			fputs("\\ufffd", f);
			s++;
		} else if (n == 3 && s[0] == 0xe2 && s[1] == 0x80 && (s[2] == 0xa8 || s[2] == 0xa9)) {
			fprintf(f, "\\u%04x", 0x2000 | (s[2] - 0x80));
			s += 3;
		} else {
			fwrite(s, 1, n, f);
			s += n;
		}
	}
	putc('"', f);
}

/* A stream into memory that knows when a write was lost. open_memstream
 * does not: when glibc cannot grow its buffer, the write fails without
 * setting the stream's error flag, and fclose still returns 0. */
struct sink {
	char *data;	/* malloc'd, NUL-terminated; the caller frees it */
	size_t len, cap;
	bool failed;	/* sticky: some write was lost */
};

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
	struct sink *k = cookie;
	if (k->failed)
		return -1;
	if (k->len + size + 1 > k->cap) {
		size_t cap = k->cap ? k->cap : 4096;
		while (cap < k->len + size + 1)
			cap *= 2;
		char *d = realloc(k->data, cap);
		if (!d) {
			k->failed = true;
			return -1;
		}
		k->data = d;
		k->cap = cap;
	}
	memcpy(k->data + k->len, buf, size);
	k->len += size;
	k->data[k->len] = '\0';
	return (ssize_t)size;
}

/* Opens a stream writing into k (zeroed by the caller); NULL when out of
 * memory. */
static FILE *sink_open(struct sink *k)
{
	cookie_io_functions_t io = { .write = sink_write };
	return fopencookie(k, "w", io);
}

/* Closes f. Returns 0 when all that was written is in k->data, -ENOMEM
 * otherwise. */
static int sink_close(FILE *f, struct sink *k)
{
	bool bad = ferror(f) != 0;
	if (fclose(f) != 0)
		bad = true;
	return bad || k->failed ? -ENOMEM : 0;
}

static void json_key(FILE *f, const char *key)
{
	fprintf(f, "\"%s\":", key);
}

static void json_i64(FILE *f, int64_t v)
{
	fprintf(f, "%" PRId64, v);
}

/* ---- the page's string table ----------------------------------------------- */

/* Each string the page shows, once; the JSON refers to it by index. The
 * strings are owned by the profiles or the builder's arena. */
struct strtab {
	struct hashmap map;	/* hash of the text, probed -> index */
	const char **s;
	size_t n, cap;
};

struct strtab_key {
	const struct strtab *t;
	const char *s;
};

static bool strtab_same(uint64_t value, const void *ctx)
{
	const struct strtab_key *k = ctx;
	return strcmp(k->t->s[value], k->s) == 0;
}

/* Index of s, added if new; -1 when out of memory. */
static int64_t strtab_id(struct strtab *t, const char *s)
{
	struct strtab_key k = { t, s };
	bool inserted;
	uint64_t key;
	uint64_t *slot = hashmap_probe(&t->map, hash_bytes(s, strlen(s), 7), strtab_same, &k,
				       &inserted, &key);
	if (!slot)
		return -1;
	if (!inserted)
		return (int64_t)*slot;
	if (array_grow(&t->s, &t->cap, t->n, sizeof(*t->s)) < 0) {
		hashmap_remove(&t->map, key);
		return -1;
	}
	t->s[t->n] = s;
	*slot = t->n;
	return (int64_t)t->n++;
}

static void strtab_release(struct strtab *t)
{
	hashmap_release(&t->map);
	free(t->s);
}

/* ---- the builder ------------------------------------------------------------ */

/* One line of one location, as a flame graph frame: a function (or, when
 * the location has none, its object) and the line in it. */
struct entry {
	uint32_t frame;		/* index in frames; after ranking, the frame's rank */
	bool is_inline;		/* inlined into the entry before it (its caller) */
	int64_t line;
};

/* A function and its file (strtab ids): what a flame graph frame stands for. */
struct frame {
	uint32_t name, file;
};

/* A sample of the flame graph's profile, its stack as entry indices, root
 * first; base: one of the base's, its values negated there. */
struct fsample {
	uint32_t off, depth;	/* path[off .. off + depth) */
	const int64_t *value;	/* the profile's values */
	bool base;
};

/* A flame graph node while the tree is built: children are consecutive. */
struct fnode {
	uint32_t parent;
	uint32_t frame;		/* rank, or FRAME_ROOT / FRAME_OTHER */
	uint32_t first_child, n_child;
	int64_t line;
	bool is_inline;
};

#define FRAME_ROOT UINT32_MAX
#define FRAME_OTHER (UINT32_MAX - 1)

struct builder {
	const struct profile *p;	/* the profile reported: its listings, its leaks */
	/* The flame graph's profile: p, or with a base p merged with the
	 * base's samples negated and labelled (profile_subtract's
	 * PROFILE_DIFF_BASE, units made one), whose two sides the graph
	 * keeps apart. The top table's: p, or what memprof top --base or
	 * --diff-base reports (p minus the base). */
	const struct profile *fp, *tp;
	struct profile *merged[2];	/* fp and tp when made here */
	bool has_base;
	const struct html_report_options *o;
	size_t nt;		/* sample types (p's, fp's and tp's: the same) */
	struct arena arena;
	struct strtab strings;

	struct entry *entries;
	size_t n_entries, cap_entries;
	struct frame *frames;
	size_t n_frames, cap_frames;
	struct hashmap frame_index;	/* name << 32 | file -> frame */
	uint32_t *path;
	size_t n_path, cap_path;
	struct fsample *samples;
	size_t n_samples;
	double *abs_total;	/* per type: sum of |value| of fp (both sides) */
	int64_t *pct_total;	/* per type: what percentages are of (tp's total) */
	int64_t *p_total;	/* per type: p's total (list's Total line) */
	int64_t *sums[2];	/* per type: the sum of values of p and of the base */

	struct fnode *nodes;
	size_t n_nodes, cap_nodes;
	int64_t *vals;		/* per node: nt values of p, then nt of the base if any */
	size_t cap_vals;
	bool path_cut;		/* some stack was longer than max_depth */
	uint32_t id_root, id_other;	/* strtab ids of "total" and "[other]" */
};

static size_t nvals(const struct builder *b)
{
	return b->nt * (b->has_base ? 2 : 1);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* The frame of one line of l (ln NULL: the location has no line). */
static int frame_of(struct builder *b, const struct profile_location *l,
		    const struct profile_line *ln, uint32_t *out)
{
	const char *name, *file = "";
	if (ln && ln->function && *ln->function->name) {
		name = ln->function->name;
		file = ln->function->filename;
	} else if (l->mapping && *l->mapping->filename) {
		const char *bn = base_name(l->mapping->filename);
		size_t n = strlen(bn) + 3;
		char *s = arena_alloc(&b->arena, n);
		if (!s)
			return -ENOMEM;
		snprintf(s, n, "[%s]", bn);
		name = s;
	} else {
		name = "<unknown>";
	}
	int64_t ni = strtab_id(&b->strings, name), fi = strtab_id(&b->strings, file);
	if (ni < 0 || fi < 0)
		return -ENOMEM;
	bool inserted;
	uint64_t *slot = hashmap_put(&b->frame_index, (uint64_t)ni << 32 | (uint64_t)fi, &inserted);
	if (!slot)
		return -ENOMEM;
	if (inserted) {
		if (array_grow(&b->frames, &b->cap_frames, b->n_frames, sizeof(*b->frames)) < 0)
			return -ENOMEM;
		b->frames[b->n_frames] = (struct frame){ (uint32_t)ni, (uint32_t)fi };
		*slot = b->n_frames++;
	}
	*out = (uint32_t)*slot;
	return 0;
}

/* The entries of q's locations: loc_first[i] is location i's first entry,
 * caller first (the reverse of the location's lines). */
static int add_entries(struct builder *b, const struct profile *q, uint32_t *loc_first)
{
	for (size_t i = 0; i < q->n_location; i++) {
		const struct profile_location *l = q->location[i];
		size_t n = l->n_line ? l->n_line : 1;
		loc_first[i] = (uint32_t)b->n_entries;
		for (size_t k = 0; k < n; k++) {
			size_t j = l->n_line ? l->n_line - 1 - k : 0;
			const struct profile_line *ln = l->n_line ? &l->line[j] : NULL;
			if (array_grow(&b->entries, &b->cap_entries, b->n_entries,
				       sizeof(*b->entries)) < 0)
				return -ENOMEM;
			struct entry *e = &b->entries[b->n_entries++];
			if (frame_of(b, l, ln, &e->frame) < 0)
				return -ENOMEM;
			e->line = ln ? ln->line : 0;
			e->is_inline = k > 0;	/* all but the caller were inlined */
		}
	}
	return 0;
}

/* Frames kept from all stacks together (1 GiB of entry indices): a file
 * of a few hundred MB can name a deep location from millions of samples. */
#define MAX_PATH ((size_t)1 << 28)

/* The samples of q with their stacks as entries, root first, cut at
 * max_depth (b->path_cut says so). Returns 0, -E2BIG past MAX_PATH, or
 * -ENOMEM. */
static int add_samples(struct builder *b, const struct profile *q, const uint32_t *loc_first)
{
	size_t max_depth = b->o->max_depth;
	for (size_t i = 0; i < q->n_sample; i++) {
		const struct profile_sample *s = &q->sample[i];
		struct fsample *fs = &b->samples[b->n_samples++];
		fs->off = (uint32_t)b->n_path;
		fs->value = s->value;
		fs->base = b->has_base && profile_sample_is_diff_base(s);
		for (size_t k = s->n_location; k-- > 0;) {
			const struct profile_location *l = s->location[k];
			size_t n = l->n_line ? l->n_line : 1;
			for (size_t j = 0; j < n; j++) {
				if (b->n_path - fs->off == max_depth) {
					b->path_cut = true;
					goto next;
				}
				if (b->n_path == MAX_PATH)
					return -E2BIG;
				if (array_grow(&b->path, &b->cap_path, b->n_path, sizeof(*b->path)) < 0)
					return -ENOMEM;
				b->path[b->n_path++] = loc_first[l->index] + (uint32_t)j;
			}
		}
next:
		fs->depth = (uint32_t)(b->n_path - fs->off);
	}
	return 0;
}

static const struct builder *rank_ctx;

static int compare_frames(const void *pa, const void *pb)
{
	const struct frame *a = &rank_ctx->frames[*(const uint32_t *)pa];
	const struct frame *b = &rank_ctx->frames[*(const uint32_t *)pb];
	int c = strcmp(rank_ctx->strings.s[a->name], rank_ctx->strings.s[b->name]);
	return c ? c : strcmp(rank_ctx->strings.s[a->file], rank_ctx->strings.s[b->file]);
}

/* Renumbers frames in name order, so that children sorted by frame number
 * are in alphabetical order, as flame graphs draw them. */
static int rank_frames(struct builder *b)
{
	uint32_t *order = malloc((b->n_frames ? b->n_frames : 1) * sizeof(*order));
	uint32_t *rank = malloc((b->n_frames ? b->n_frames : 1) * sizeof(*rank));
	struct frame *sorted = malloc((b->n_frames ? b->n_frames : 1) * sizeof(*sorted));
	if (!order || !rank || !sorted) {
		free(order);
		free(rank);
		free(sorted);
		return -ENOMEM;
	}
	for (size_t i = 0; i < b->n_frames; i++)
		order[i] = (uint32_t)i;
	rank_ctx = b;
	qsort(order, b->n_frames, sizeof(*order), compare_frames);
	for (size_t i = 0; i < b->n_frames; i++) {
		rank[order[i]] = (uint32_t)i;
		sorted[i] = b->frames[order[i]];
	}
	for (size_t i = 0; i < b->n_entries; i++)
		b->entries[i].frame = rank[b->entries[i].frame];
	free(b->frames);
	b->frames = sorted;
	b->cap_frames = b->n_frames;
	free(order);
	free(rank);
	return 0;
}

/* A sample's value of type t, on its side (the base's made positive). */
static int64_t sample_value(const struct builder *b, const struct fsample *s, size_t t)
{
	(void)b;
	return s->base ? sub_wrap(0, s->value[t]) : s->value[t];
}

static int add_node(struct builder *b, uint32_t parent, uint32_t frame, int64_t line,
		    bool is_inline, size_t max)
{
	if (b->n_nodes >= max)
		return -E2BIG;
	if (array_grow(&b->nodes, &b->cap_nodes, b->n_nodes, sizeof(*b->nodes)) < 0)
		return -ENOMEM;
	size_t nv = nvals(b);
	if ((b->n_nodes + 1) * nv > b->cap_vals) {
		size_t cap = b->cap_vals ? b->cap_vals * 2 : 1024 * nv;
		int64_t *v = realloc(b->vals, cap * sizeof(*v));
		if (!v)
			return -ENOMEM;
		b->vals = v;
		b->cap_vals = cap;
	}
	memset(b->vals + b->n_nodes * nv, 0, nv * sizeof(*b->vals));
	b->nodes[b->n_nodes] = (struct fnode){ parent, frame, 0, 0, line, is_inline };
	b->n_nodes++;
	return 0;
}

static void add_values(struct builder *b, size_t node, const struct fsample *s)
{
	int64_t *v = b->vals + node * nvals(b) + (s->base ? b->nt : 0);
	for (size_t t = 0; t < b->nt; t++)
		v[t] = add_wrap(v[t], sample_value(b, s, t));
}

/* A sample and its frame at the depth being split on (0: its stack ends
 * above; else rank + 1). */
struct keyed {
	uint32_t key, sample;
};

static int compare_keyed(const void *pa, const void *pb)
{
	const struct keyed *a = pa, *b = pb;
	if (a->key != b->key)
		return a->key < b->key ? -1 : 1;
	return (a->sample > b->sample) - (a->sample < b->sample);
}

struct task {
	uint32_t node;
	size_t lo, hi;	/* its samples: idx[lo .. hi) */
	uint32_t depth;	/* of its children's frames in the samples' paths */
};

/* Builds the tree of the samples, keeping the frames whose share of some
 * sample type (of the absolute values of p and the base) is at least
 * min_frame; the others go to one "[other]" child of their caller.
 * Returns 0, -E2BIG when more than max_frames nodes would be kept, or
 * -ENOMEM. Each kept node's children are split off its samples by sorting
 * them on their next frame, so the work is in the kept frames' samples. */
static int build_tree(struct builder *b, double min_frame)
{
	size_t nt = b->nt, nv = nvals(b), max = b->o->max_frames;
	struct keyed *idx = malloc((b->n_samples ? b->n_samples : 1) * sizeof(*idx));
	struct task *stack = NULL;
	size_t n_stack = 0, cap_stack = 0;
	double *thr = malloc(nt * sizeof(*thr));
	double *absw = malloc(nt * sizeof(*absw));
	int64_t *other = malloc(nv * sizeof(*other));
	int rc = -ENOMEM;

	b->n_nodes = 0;
	if (!idx || !thr || !absw || !other)
		goto out;
	for (size_t t = 0; t < nt; t++)
		thr[t] = min_frame * b->abs_total[t];
	for (size_t i = 0; i < b->n_samples; i++)
		idx[i] = (struct keyed){ 0, (uint32_t)i };
	if ((rc = add_node(b, 0, FRAME_ROOT, 0, false, max)) < 0)
		goto out;
	for (size_t i = 0; i < b->n_samples; i++)
		add_values(b, 0, &b->samples[i]);
	rc = -ENOMEM;
	if (array_grow(&stack, &cap_stack, 0, sizeof(*stack)) < 0)
		goto out;
	stack[n_stack++] = (struct task){ 0, 0, b->n_samples, 0 };
	int si = b->o->sample_index;

	while (n_stack > 0) {
		struct task tk = stack[--n_stack];
		for (size_t i = tk.lo; i < tk.hi; i++) {
			const struct fsample *s = &b->samples[idx[i].sample];
			idx[i].key = s->depth > tk.depth
				? b->entries[b->path[s->off + tk.depth]].frame + 1 : 0;
		}
		if (tk.hi - tk.lo > 1)
			qsort(idx + tk.lo, tk.hi - tk.lo, sizeof(*idx), compare_keyed);
		memset(other, 0, nv * sizeof(*other));
		bool any_other = false;
		uint32_t first = (uint32_t)b->n_nodes, n_child = 0;
		for (size_t i = tk.lo; i < tk.hi;) {
			uint32_t key = idx[i].key;
			size_t j = i;
			while (j < tk.hi && idx[j].key == key)
				j++;
			if (key == 0) {	/* stacks that end at this node */
				i = j;
				continue;
			}
			/* the group's weight, and the line of its heaviest sample */
			memset(absw, 0, nt * sizeof(*absw));
			int64_t line = 0, best = -1;
			bool is_inline = false;
			for (size_t k = i; k < j; k++) {
				const struct fsample *s = &b->samples[idx[k].sample];
				const struct entry *e = &b->entries[b->path[s->off + tk.depth]];
				for (size_t t = 0; t < nt; t++)
					absw[t] += fabs((double)sample_value(b, s, t));
				int64_t w = abs_sat(sample_value(b, s, (size_t)si));
				if (w > best) {
					best = w;
					line = e->line;
				}
				is_inline |= e->is_inline;
			}
			bool keep = false;
			for (size_t t = 0; t < nt && !keep; t++)
				keep = absw[t] > 0 && absw[t] >= thr[t];
			if (keep) {
				if ((rc = add_node(b, tk.node, key - 1, line, is_inline, max)) < 0)
					goto out;
				uint32_t id = (uint32_t)b->n_nodes - 1;
				for (size_t k = i; k < j; k++)
					add_values(b, id, &b->samples[idx[k].sample]);
				n_child++;
			} else {
				for (size_t k = i; k < j; k++) {
					const struct fsample *s = &b->samples[idx[k].sample];
					int64_t *v = other + (s->base ? nt : 0);
					for (size_t t = 0; t < nt; t++)
						v[t] = add_wrap(v[t], sample_value(b, s, t));
				}
				for (size_t t = 0; t < nt; t++)
					any_other |= absw[t] > 0;
			}
			i = j;
		}
		/* the children's tasks, their sample ranges found again from the
		 * sorted keys */
		size_t pos = tk.lo;
		size_t stack_base = n_stack;
		for (uint32_t c = 0; c < n_child; c++) {
			uint32_t key = b->nodes[first + c].frame + 1;
			while (idx[pos].key != key)
				pos++;
			size_t end = pos;
			while (end < tk.hi && idx[end].key == key)
				end++;
			if (array_grow(&stack, &cap_stack, n_stack, sizeof(*stack)) < 0) {
				rc = -ENOMEM;
				goto out;
			}
			stack[n_stack++] = (struct task){ first + c, pos, end, tk.depth + 1 };
			pos = end;
		}
		/* reversed, so that the first child is split first (the order
		 * does not matter; this one keeps the stack's memory local) */
		for (size_t x = stack_base, y = n_stack; x + 1 < y; x++, y--) {
			struct task tmp = stack[x];
			stack[x] = stack[y - 1];
			stack[y - 1] = tmp;
		}
		if (any_other) {
			if ((rc = add_node(b, tk.node, FRAME_OTHER, 0, false, max)) < 0)
				goto out;
			memcpy(b->vals + (b->n_nodes - 1) * nv, other, nv * sizeof(*other));
			n_child++;
		}
		b->nodes[tk.node].first_child = first;
		b->nodes[tk.node].n_child = n_child;
	}
	rc = 0;
out:
	free(idx);
	free(stack);
	free(thr);
	free(absw);
	free(other);
	return rc;
}

/* ---- writing the JSON ----------------------------------------------------- */

static void write_i64_array(FILE *f, const int64_t *v, size_t n, size_t stride)
{
	putc('[', f);
	for (size_t i = 0; i < n; i++) {
		if (i)
			putc(',', f);
		json_i64(f, v[i * stride]);
	}
	putc(']', f);
}

/* The tree in preorder: parent, name, file, line arrays, the inlined
 * nodes, and the values per sample type (of p in "v", of the base in "b"). */
static int write_flame(FILE *f, struct builder *b, double min_frame)
{
	size_t n = b->n_nodes, nt = b->nt, nv = nvals(b);
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));	/* preorder -> node */
	uint32_t *pre = malloc((n ? n : 1) * sizeof(*pre));	/* node -> preorder */
	uint32_t *stack = malloc((n ? n : 1) * sizeof(*stack));
	if (!order || !pre || !stack) {
		free(order);
		free(pre);
		free(stack);
		return -ENOMEM;
	}
	size_t k = 0, sp = 0;
	stack[sp++] = 0;
	while (sp > 0) {
		uint32_t id = stack[--sp];
		pre[id] = (uint32_t)k;
		order[k++] = id;
		const struct fnode *nd = &b->nodes[id];
		for (uint32_t c = nd->n_child; c-- > 0;)
			stack[sp++] = nd->first_child + c;
	}
	fputs("{", f);
	json_key(f, "min_frame");
	fprintf(f, "%.6g,", min_frame);
	json_key(f, "depth_cut");
	fputs(b->path_cut ? "true," : "false,", f);
	json_key(f, "parent");
	putc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, i ? ",%" PRId64 : "%" PRId64,
			i ? (int64_t)pre[b->nodes[order[i]].parent] : (int64_t)-1);
	fputs("],", f);
	json_key(f, "name");
	putc('[', f);
	for (size_t i = 0; i < n; i++) {
		uint32_t fr = b->nodes[order[i]].frame;
		uint32_t s = fr == FRAME_ROOT ? b->id_root
			     : fr == FRAME_OTHER ? b->id_other : b->frames[fr].name;
		fprintf(f, i ? ",%u" : "%u", s);
	}
	fputs("],", f);
	json_key(f, "file");
	putc('[', f);
	for (size_t i = 0; i < n; i++) {
		uint32_t fr = b->nodes[order[i]].frame;
		int64_t s = fr >= FRAME_OTHER ? -1 : (int64_t)b->frames[fr].file;
		fprintf(f, i ? ",%" PRId64 : "%" PRId64, s);
	}
	fputs("],", f);
	json_key(f, "line");
	putc('[', f);
	for (size_t i = 0; i < n; i++)
		fprintf(f, i ? ",%" PRId64 : "%" PRId64, b->nodes[order[i]].line);
	fputs("],", f);
	json_key(f, "inline");
	putc('[', f);
	bool first = true;
	for (size_t i = 0; i < n; i++)
		if (b->nodes[order[i]].is_inline) {
			fprintf(f, first ? "%zu" : ",%zu", i);
			first = false;
		}
	fputs("],", f);
	for (int side = 0; side < (b->has_base ? 2 : 1); side++) {
		json_key(f, side ? "b" : "v");
		putc('[', f);
		for (size_t t = 0; t < nt; t++) {
			if (t)
				putc(',', f);
			putc('[', f);
			for (size_t i = 0; i < n; i++)
				fprintf(f, i ? ",%" PRId64 : "%" PRId64,
					b->vals[order[i] * nv + (size_t)side * nt + t]);
			putc(']', f);
		}
		fputs("],", f);
	}
	json_key(f, "n");
	fprintf(f, "%zu}", n);
	free(order);
	free(pre);
	free(stack);
	return 0;
}

/* ---- the top table and the listings ------------------------------------------ */

/* One row of the top table: a node (a function) of the table's graph. */
struct row {
	uint32_t name;		/* strtab id of what top prints */
	const char *function;	/* the function's name ("" for an object) */
	bool selected;
};

struct table {
	struct row *rows;
	size_t n, cap;
	struct hashmap index;	/* strtab id -> row */
	int64_t *v;		/* per row, per type: flat, cum */
	uint8_t *inl;		/* per row, per type: 0, 1 inline, 2 partial-inline */
};

static int64_t *row_vals(const struct table *tb, size_t nt, size_t row, size_t t)
{
	return tb->v + (row * nt + t) * 2;
}

static int table_rows(struct builder *b, struct table *tb, const struct graph *g)
{
	for (size_t i = 0; i < g->n_node; i++) {
		int64_t id = strtab_id(&b->strings, g->node[i].printable);
		if (id < 0)
			return -ENOMEM;
		bool inserted;
		uint64_t *slot = hashmap_put(&tb->index, (uint64_t)id, &inserted);
		if (!slot)
			return -ENOMEM;
		if (!inserted)
			continue;
		if (array_grow(&tb->rows, &tb->cap, tb->n, sizeof(*tb->rows)) < 0)
			return -ENOMEM;
		tb->rows[tb->n] = (struct row){ (uint32_t)id, g->node[i].name, false };
		*slot = tb->n++;
	}
	return 0;
}

/* The row of a graph node: table_rows made one for every printable name. */
static size_t row_of(struct builder *b, const struct table *tb, const char *printable)
{
	int64_t id = strtab_id(&b->strings, printable);	/* there already: no allocation */
	return (size_t)*hashmap_get(&tb->index, (uint64_t)id);
}

/* pprof's "(inline)" and "(partial-inline)" marks for p's type t: a node
 * called inlined (non-inlined) in samples worth at least 0.1% of the flat
 * total. pprof decides per call edge; counting per node instead needs no
 * table of edges, which on a profile of a million random stacks holds
 * tens of millions of them. The two differ only for a node whose calls of
 * one kind are each under the cutoff but over it together. */
static int mark_inline(struct builder *b, struct table *tb, const struct graph *g, size_t t)
{
	const struct profile *p = b->tp;
	int64_t (*w)[2] = calloc(g->n_node ? g->n_node : 1, sizeof(*w));
	uint64_t (*stamp)[2] = calloc(g->n_node ? g->n_node : 1, sizeof(*stamp));
	if (!w || !stamp) {
		free(w);
		free(stamp);
		return -ENOMEM;
	}
	int64_t flat_total = 0;
	for (size_t i = 0; i < g->n_node; i++)
		flat_total = add_wrap(flat_total, g->node[i].flat);
	int64_t cutoff = abs_sat((int64_t)((double)flat_total * 0.001));
	for (size_t si = 0; si < p->n_sample; si++) {
		const struct profile_sample *s = &p->sample[si];
		int64_t v = s->value[t];
		if (v == 0)
			continue;
		int64_t parent = -1;
		for (size_t i = s->n_location; i-- > 0;) {
			uint32_t li = s->location[i]->index;
			size_t first = g->loc_first[li], n = g->loc_first[li + 1] - first;
			for (size_t ni = n; ni-- > 0;) {
				uint32_t id = g->loc_nodes[first + ni];
				int kind = ni != n - 1;	/* 1: inlined into its caller */
				if (parent >= 0 && (uint32_t)parent != id &&
				    stamp[id][kind] != si + 1) {
					stamp[id][kind] = si + 1;
					w[id][kind] = add_wrap(w[id][kind], v);
				}
				parent = id;
			}
		}
	}
	for (size_t i = 0; i < g->n_node; i++) {
		bool in = abs_sat(w[i][1]) >= cutoff && w[i][1];
		bool out = abs_sat(w[i][0]) >= cutoff && w[i][0];
		if (in)
			tb->inl[row_of(b, tb, g->node[i].printable) * b->nt + t] = out ? 2 : 1;
	}
	free(w);
	free(stamp);
	return 0;
}

/* Fills the table from g, the graph of the table's profile. */
static int table_fill(struct builder *b, struct table *tb, struct graph *g)
{
	for (size_t t = 0; t < b->nt; t++) {
		int rc = graph_accumulate(g, b->tp, (int)t, NULL, false);
		if (rc < 0 || (rc = mark_inline(b, tb, g, t)) < 0)
			return rc;
		for (size_t i = 0; i < g->n_node; i++) {
			const struct graph_node *nd = &g->node[i];
			if (!nd->flat && !nd->cum)
				continue;
			int64_t *v = row_vals(tb, b->nt, row_of(b, tb, nd->printable), t);
			v[0] = nd->flat;
			v[1] = nd->cum;
		}
	}
	return 0;
}

static const struct table *sort_table;
static size_t sort_t, sort_col, sort_nt;

/* |flat| (col 0) or |cum| (col 1) of row r in type t */
static int64_t row_delta(const struct table *tb, size_t nt, size_t r, size_t t, size_t col)
{
	return abs_sat(row_vals(tb, nt, r, t)[col]);
}

static int compare_rows(const void *pa, const void *pb)
{
	size_t a = *(const uint32_t *)pa, b = *(const uint32_t *)pb;
	int64_t x = row_delta(sort_table, sort_nt, a, sort_t, sort_col);
	int64_t y = row_delta(sort_table, sort_nt, b, sort_t, sort_col);
	if (x != y)
		return x > y ? -1 : 1;
	return (a > b) - (a < b);
}

/* Marks the top_rows rows by flat and by cum of each type; returns in
 * *lists the functions to list (at most list_functions, by their largest
 * share of any type's flat), malloc'd, *n_lists of them. */
static int table_select(struct builder *b, struct table *tb, uint32_t **lists, size_t *n_lists)
{
	size_t nt = b->nt, n = tb->n;
	uint32_t *ids = malloc((n ? n : 1) * sizeof(*ids));
	double *score = calloc(n ? n : 1, sizeof(*score));
	if (!ids || !score) {
		free(ids);
		free(score);
		return -ENOMEM;
	}
	sort_table = tb;
	sort_nt = nt;
	for (size_t t = 0; t < nt; t++)
		for (size_t col = 0; col < 2; col++) {
			for (size_t i = 0; i < n; i++)
				ids[i] = (uint32_t)i;
			sort_t = t;
			sort_col = col;
			qsort(ids, n, sizeof(*ids), compare_rows);
			for (size_t i = 0; i < n && i < b->o->top_rows; i++)
				if (row_delta(tb, nt, ids[i], t, col))
					tb->rows[ids[i]].selected = true;
		}
	for (size_t r = 0; r < n; r++)
		for (size_t t = 0; t < nt; t++)
			if (b->pct_total[t]) {
				double s = (double)row_delta(tb, nt, r, t, 0) / (double)b->pct_total[t];
				if (s > score[r])
					score[r] = s;
			}
	/* the functions to list: named, with a flat value, largest share first */
	size_t m = 0;
	for (size_t r = 0; r < n; r++)
		if (tb->rows[r].selected && *tb->rows[r].function && score[r] > 0)
			ids[m++] = (uint32_t)r;
	for (size_t i = 0; i < m && i < b->o->list_functions; i++) {
		size_t best = i;
		for (size_t j = i + 1; j < m; j++)
			if (score[ids[j]] > score[ids[best]])
				best = j;
		uint32_t tmp = ids[i];
		ids[i] = ids[best];
		ids[best] = tmp;
	}
	*n_lists = m < b->o->list_functions ? m : b->o->list_functions;
	*lists = ids;
	free(score);
	return 0;
}

static void write_table(FILE *f, const struct builder *b, const struct table *tb, size_t n_functions)
{
	size_t nt = b->nt;
	static const char *keys[2] = { "flat", "cum" };
	fputs("{", f);
	json_key(f, "functions");
	fprintf(f, "%zu,", n_functions);
	json_key(f, "name");
	putc('[', f);
	bool first = true;
	for (size_t r = 0; r < tb->n; r++)
		if (tb->rows[r].selected) {
			fprintf(f, first ? "%u" : ",%u", tb->rows[r].name);
			first = false;
		}
	putc(']', f);
	for (int k = 0; k < 2; k++) {
		putc(',', f);
		json_key(f, keys[k]);
		putc('[', f);
		for (size_t t = 0; t < nt; t++) {
			fputs(t ? ",[" : "[", f);
			first = true;
			for (size_t r = 0; r < tb->n; r++)
				if (tb->rows[r].selected) {
					fprintf(f, first ? "%" PRId64 : ",%" PRId64,
						row_vals(tb, nt, r, t)[k]);
					first = false;
				}
			putc(']', f);
		}
		putc(']', f);
	}
	putc(',', f);
	json_key(f, "inline");
	putc('[', f);
	for (size_t t = 0; t < nt; t++) {
		fputs(t ? ",[" : "[", f);
		first = true;
		for (size_t r = 0; r < tb->n; r++)
			if (tb->rows[r].selected) {
				fprintf(f, first ? "%u" : ",%u", tb->inl[r * nt + t]);
				first = false;
			}
		putc(']', f);
	}
	fputs("]}", f);
}

/* The listing of each function in fns for each sample type: list's
 * ROUTINE blocks, cut at list_bytes (at a line end). */
static int write_lists(FILE *f, struct builder *b, const struct table *tb, const uint32_t *fns,
		       size_t n)
{
	size_t nt = b->nt;
	const char **names = malloc((n ? n : 1) * sizeof(*names));
	FILE **outs = calloc(n ? n : 1, sizeof(*outs));
	struct sink *sinks = calloc(n ? n : 1, sizeof(*sinks));
	int rc = -ENOMEM;
	if (!names || !outs || !sinks)
		goto out;
	for (size_t i = 0; i < n; i++)
		names[i] = tb->rows[fns[i]].function;
	fputs("{", f);
	json_key(f, "name");
	putc('[', f);
	for (size_t i = 0; i < n; i++) {
		int64_t id = strtab_id(&b->strings, names[i]);
		if (id < 0)
			goto out;
		fprintf(f, i ? ",%" PRId64 : "%" PRId64, id);
	}
	fputs("],", f);
	json_key(f, "text");
	putc('[', f);
	for (size_t t = 0; t < nt; t++) {
		struct report_options ro = REPORT_OPTIONS_INIT;
		if (n == 0) {
			fputs(t ? ",[]" : "[]", f);
			continue;
		}
		ro.sample_index = (int)t;
		ro.source_path = b->o->source_path;
		ro.trim_path = b->o->trim_path;
		rc = -ENOMEM;
		for (size_t i = 0; i < n; i++) {
			free(sinks[i].data);
			sinks[i] = (struct sink){ 0 };
			if (!(outs[i] = sink_open(&sinks[i])))
				goto out_close;
		}
		rc = report_list_functions(outs, b->p, names, n, &ro);
out_close:
		for (size_t i = 0; i < n; i++) {
			if (outs[i] && sink_close(outs[i], &sinks[i]) < 0 && rc == 0)
				rc = -ENOMEM;
			outs[i] = NULL;
		}
		if (rc < 0)
			goto out;
		fputs(t ? ",[" : "[", f);
		for (size_t i = 0; i < n; i++) {
			const char *text = sinks[i].data ? sinks[i].data : "";
			size_t len = sinks[i].len;
			if (i)
				putc(',', f);
			if (len <= b->o->list_bytes) {
				json_string(f, text);
				continue;
			}
			/* cut at a line end: [text, length before the cut] */
			size_t cut = b->o->list_bytes;
			while (cut > 0 && text[cut - 1] != '\n')
				cut--;
			sinks[i].data[cut] = '\0';
			putc('[', f);
			json_string(f, text);
			fprintf(f, ",%zu]", len);
		}
		putc(']', f);
	}
	fputs("]}", f);
	rc = 0;
out:
	if (sinks)
		for (size_t i = 0; i < n; i++)
			free(sinks[i].data);
	free(names);
	free(outs);
	free(sinks);
	return rc;
}

/* ---- summary and timeline --------------------------------------------------- */

/* One process of a profile of several, from its samples' labels. */
struct proc_row {
	int64_t pid;
	const char *program, *cmdline;
	int64_t allocated;	/* alloc_space (or the first sample type) */
};

static int by_allocated(const void *a, const void *b)
{
	const struct proc_row *x = a, *y = b;
	if (x->allocated != y->allocated)
		return x->allocated < y->allocated ? 1 : -1;
	return (x->pid > y->pid) - (x->pid < y->pid);
}

/* The processes (distinct pid labels) as a JSON array, most allocation
 * first, at most 200 of them with their program and command line (the
 * labels memprof run gives profiles of several processes). Returns how
 * many there are, or -1 when out of memory. */
static ssize_t write_processes(const struct profile *p, FILE *f)
{
	struct hashmap seen = HASHMAP_INIT;
	struct proc_row *row = NULL;
	size_t n = 0, cap = 0;
	int t = profile_sample_index(p, "alloc_space");
	if (t < 0 || strcmp(p->sample_type[t].type, "alloc_space") != 0)
		t = 0;
	for (size_t i = 0; i < p->n_sample; i++) {
		const struct profile_sample *s = &p->sample[i];
		const struct profile_label *pid = NULL;
		const char *program = "", *cmdline = "";
		for (size_t j = 0; j < s->n_label; j++) {
			const struct profile_label *l = &s->label[j];
			if (!strcmp(l->key, "pid"))
				pid = l;
			else if (!strcmp(l->key, "program"))
				program = l->str;
			else if (!strcmp(l->key, "cmdline"))
				cmdline = l->str;
		}
		if (!pid)
			continue;
		bool inserted;
		uint64_t *slot = hashmap_put(&seen, (uint64_t)pid->num, &inserted);
		if (!slot || (inserted && array_grow(&row, &cap, n, sizeof(*row)) < 0)) {
			free(row);
			hashmap_release(&seen);
			return -1;
		}
		if (inserted) {
			*slot = n;
			row[n++] = (struct proc_row){ pid->num, program, cmdline, 0 };
		}
		struct proc_row *r = &row[*slot];
		if (!*r->cmdline)
			r->cmdline = cmdline;
		if (p->n_sample_type)
			r->allocated += s->value[t];
	}
	if (n)
		qsort(row, n, sizeof(*row), by_allocated);
	fputs("[", f);
	for (size_t i = 0; i < n && i < 200; i++) {
		fputs(i ? ",{" : "{", f);
		json_key(f, "pid");
		json_i64(f, row[i].pid);
		putc(',', f);
		json_key(f, "program");
		json_string(f, row[i].program);
		putc(',', f);
		json_key(f, "cmdline");
		json_string(f, row[i].cmdline);
		putc(',', f);
		json_key(f, "allocated");
		json_i64(f, row[i].allocated);
		putc('}', f);
	}
	fputs("]", f);
	free(row);
	hashmap_release(&seen);
	return (ssize_t)n;
}

static void write_types(FILE *f, const struct profile *q)
{
	putc('[', f);
	for (size_t t = 0; t < q->n_sample_type; t++) {
		fputs(t ? ",{" : "{", f);
		json_key(f, "name");
		json_string(f, q->sample_type[t].type);
		putc(',', f);
		json_key(f, "unit");
		json_string(f, q->sample_type[t].unit);
		putc('}', f);
	}
	putc(']', f);
}

/* In use at exit after the suppressions (lib/leaks.c, as memprof leaks
 * computes it): null when the profile has no inuse_space, or o->leaks is
 * not set. */
static void write_leaks(FILE *f, const struct builder *b)
{
	struct leak_report r;
	if (!b->o->leaks || leaks_find(b->p, b->o->suppressions, &r) < 0) {
		fputs("null", f);
		return;
	}
	fputs("{", f);
	json_key(f, "bytes");
	json_i64(f, r.bytes);
	fputs(",", f);
	json_key(f, "objects");
	json_i64(f, r.has_objects ? r.objects : -1);
	fputs(",", f);
	json_key(f, "stacks");
	fprintf(f, "%zu,", r.n_stack);
	json_key(f, "suppressed_bytes");
	json_i64(f, r.suppressed_bytes);
	fputs(",", f);
	json_key(f, "suppressed_stacks");
	fprintf(f, "%zu,", r.suppressed_stacks);
	json_key(f, "suppressions");
	json_string(f, b->o->suppressions_desc ? b->o->suppressions_desc : "");
	fputs(",", f);
	json_key(f, "estimate");
	fputs(r.period > 1 ? "true," : "false,", f);
	json_key(f, "at_exit");
	fputs(r.at_exit ? "true}" : "false}", f);
	leak_report_release(&r);
}

/* Returns 0 or -ENOMEM. */
static int write_summary(FILE *f, const struct builder *b)
{
	const struct profile *p = b->p;
	fputs("{", f);
	json_key(f, "title");
	json_string(f, b->o->title);
	fputs(",", f);
	json_key(f, "program");
	json_string(f, p->n_mapping ? p->mapping[0]->filename : "");
	fputs(",", f);
	json_key(f, "build_id");
	json_string(f, p->n_mapping ? p->mapping[0]->build_id : "");
	fputs(",", f);
	json_key(f, "comments");
	putc('[', f);
	for (size_t i = 0; i < p->n_comment; i++) {
		if (i)
			putc(',', f);
		json_string(f, p->comment[i]);
	}
	fputs("],", f);
	json_key(f, "time_ns");
	json_i64(f, p->time_nanos);
	fputs(",", f);
	json_key(f, "duration_ns");
	json_i64(f, p->duration_nanos);
	fputs(",", f);
	json_key(f, "procs");
	ssize_t np = write_processes(p, f);
	if (np < 0)
		return -ENOMEM;
	fputs(",", f);
	json_key(f, "processes");
	fprintf(f, "%zd,", np);
	json_key(f, "period");
	json_i64(f, p->period);
	fputs(",", f);
	json_key(f, "period_type");
	json_string(f, p->period_type.type);
	fputs(",", f);
	json_key(f, "period_unit");
	json_string(f, p->period_type.unit);
	fputs(",", f);
	json_key(f, "totals");
	write_i64_array(f, b->sums[0], b->nt, 1);
	fputs(",", f);
	json_key(f, "samples");
	fprintf(f, "%zu,", p->n_sample);
	json_key(f, "leaks");
	write_leaks(f, b);
	putc('}', f);
	return 0;
}

static void write_timeline(FILE *f, const struct timeline *tl)
{
	if (!tl) {
		fputs("null", f);
		return;
	}
	fputs("{", f);
	json_key(f, "start_ns");
	json_i64(f, tl->start_ns);
	fputs(",", f);
	json_key(f, "interval_ns");
	json_i64(f, tl->interval_ns);
	fputs(",", f);
	json_key(f, "series");
	putc('[', f);
	for (size_t i = 0; i < tl->n_series; i++) {
		const struct timeline_series *s = &tl->series[i];
		fputs(i ? ",{" : "{", f);
		json_key(f, "pid");
		fprintf(f, "%" PRIu32 ",", s->pid);
		json_key(f, "exe");
		json_string(f, s->exe ? s->exe : "");
		fputs(",", f);
		json_key(f, "first");
		fprintf(f, "%" PRIu64 ",", s->first);
		json_key(f, "inuse");
		write_i64_array(f, s->inuse, s->inuse ? s->n : 0, 1);
		fputs(",", f);
		json_key(f, "allocated");
		write_i64_array(f, s->allocated, s->allocated ? s->n : 0, 1);
		fputs(",", f);
		json_key(f, "rss");
		write_i64_array(f, s->rss, s->rss ? s->n : 0, 1);
		fputs(",", f);
		json_key(f, "peak_bytes");
		json_i64(f, s->peak_bytes);
		fputs(",", f);
		json_key(f, "peak_ns");
		json_i64(f, s->peak_ns);
		putc('}', f);
	}
	fputs("]}", f);
}

/* ---- the page ------------------------------------------------------------------ */

/* fp and tp from p and the base, as memprof top --base / --diff-base
 * makes them (lib/profile.c): a base that cannot be merged with p is
 * refused with pprof's reason in msg (-EINVAL). */
static int subtract_base(struct builder *b, char *msg, size_t msglen)
{
	const struct profile *p = b->p, *base = b->o->base;
	int rc = profile_compatible(p, base, msg, msglen);
	for (int k = 0; k < 2 && rc == 0; k++) {
		if (k == 1 && b->o->diff_base)
			break;	/* --diff-base reports fp itself */
		if ((rc = profile_merge(&b->merged[k], &p, 1, msg, msglen)) == 0)
			rc = profile_subtract(b->merged[k], &base, 1,
					      k ? PROFILE_BASE : PROFILE_DIFF_BASE, msg, msglen);
	}
	if (rc < 0)
		return rc;
	b->fp = b->merged[0];
	b->tp = b->merged[1] ? b->merged[1] : b->merged[0];
	return 0;
}

static int prepare(struct builder *b, char *msg, size_t msglen)
{
	int rc;
	uint32_t *loc_first = NULL;

	b->fp = b->tp = b->p;
	if (b->has_base && (rc = subtract_base(b, msg, msglen)) < 0)
		return rc;
	const struct profile *fp = b->fp;
	size_t nt = b->nt = fp->n_sample_type;
	b->abs_total = calloc(nt, sizeof(*b->abs_total));
	b->pct_total = calloc(nt, sizeof(*b->pct_total));
	b->p_total = calloc(nt, sizeof(*b->p_total));
	b->sums[0] = calloc(nt, sizeof(*b->sums[0]));
	b->sums[1] = calloc(nt, sizeof(*b->sums[1]));
	b->samples = malloc((fp->n_sample + 1) * sizeof(*b->samples));
	loc_first = malloc((fp->n_location + 1) * sizeof(*loc_first));
	rc = -ENOMEM;
	if (!b->abs_total || !b->pct_total || !b->p_total || !b->sums[0] || !b->sums[1] ||
	    !b->samples || !loc_first)
		goto out;
	int64_t id_root = strtab_id(&b->strings, "total");
	int64_t id_other = strtab_id(&b->strings, "[other]");
	if (id_root < 0 || id_other < 0)
		goto out;
	b->id_root = (uint32_t)id_root;
	b->id_other = (uint32_t)id_other;
	if ((rc = add_entries(b, fp, loc_first)) < 0 || (rc = add_samples(b, fp, loc_first)) < 0) {
		if (rc == -E2BIG)
			snprintf(msg, msglen, "the stacks hold more than %zu frames", MAX_PATH);
		goto out;
	}
	if ((rc = rank_frames(b)) < 0)
		goto out;
	for (size_t i = 0; i < b->n_samples; i++)
		for (size_t t = 0; t < nt; t++) {
			int64_t v = sample_value(b, &b->samples[i], t);
			int64_t *sum = &b->sums[b->samples[i].base][t];
			*sum = add_wrap(*sum, v);
			b->abs_total[t] += fabs((double)v);
		}
	/* pprof's totals: of the table's profile (with --diff-base, the
	 * base's); list's: of p */
	for (size_t t = 0; t < nt; t++) {
		b->pct_total[t] = profile_total(b->tp, (int)t);
		b->p_total[t] = profile_total(b->p, (int)t < (int)b->p->n_sample_type ? (int)t : 0);
	}
	rc = 0;
out:
	free(loc_first);
	return rc;
}

static int write_page_data(FILE *f, struct builder *b, struct html_report_stats *st)
{
	struct graph g;
	struct table tb = { 0 };
	uint32_t *lists = NULL;
	size_t n_lists = 0;
	bool g_init = false;
	int rc;

	/* the flame graph, within max_frames */
	double min_frame = b->o->min_frame;
	while ((rc = build_tree(b, min_frame)) == -E2BIG)
		min_frame = min_frame > 0 ? min_frame * 2 : 1e-6;
	if (rc < 0)
		goto out;
	st->frames = b->n_nodes;
	st->min_frame = min_frame;
	st->depth_cut = b->path_cut;

	/* the top table: pprof's graph of the table's profile, every node */
	tb.index = (struct hashmap)HASHMAP_INIT;
	if ((rc = graph_init(&g, b->tp, GRAPH_FUNCTIONS, NULL, NULL)) < 0)
		goto out;
	g_init = true;
	if ((rc = table_rows(b, &tb, &g)) < 0)
		goto out;
	rc = -ENOMEM;
	tb.v = calloc((tb.n ? tb.n : 1) * b->nt * 2, sizeof(*tb.v));
	tb.inl = calloc((tb.n ? tb.n : 1) * b->nt, 1);
	if (!tb.v || !tb.inl)
		goto out;
	if ((rc = table_fill(b, &tb, &g)) < 0)
		goto out;
	if ((rc = table_select(b, &tb, &lists, &n_lists)) < 0)
		goto out;
	st->functions = 0;
	st->top_rows = 0;
	for (size_t r = 0; r < tb.n; r++) {
		bool any = false;
		for (size_t t = 0; t < b->nt * 2 && !any; t++)
			any = tb.v[r * b->nt * 2 + t] != 0;
		st->functions += any;
		st->top_rows += tb.rows[r].selected;
	}
	st->lists = n_lists;

	fputs("{\"version\":1,", f);
	json_key(f, "generator");
	json_string(f, b->o->generator);
	fputs(",", f);
	json_key(f, "types");
	write_types(f, b->fp);
	fputs(",", f);
	json_key(f, "list_units");
	putc('[', f);
	for (size_t t = 0; t < b->nt; t++) {
		if (t)
			putc(',', f);
		json_string(f, t < b->p->n_sample_type ? b->p->sample_type[t].unit : "");
	}
	putc(']', f);
	fputs(",", f);
	json_key(f, "default_type");
	fprintf(f, "%d,", b->o->sample_index);
	json_key(f, "pct_total");
	write_i64_array(f, b->pct_total, b->nt, 1);
	fputs(",", f);
	json_key(f, "p_total");
	write_i64_array(f, b->p_total, b->nt, 1);
	fputs(",", f);
	json_key(f, "summary");
	if ((rc = write_summary(f, b)) < 0)
		goto out;
	fputs(",", f);
	json_key(f, "base");
	if (b->has_base) {
		fputs("{", f);
		json_key(f, "title");
		json_string(f, b->o->base_title ? b->o->base_title : "");
		fputs(",", f);
		json_key(f, "mode");
		fputs(b->o->diff_base ? "\"diff_base\"," : "\"base\",", f);
		json_key(f, "totals");
		write_i64_array(f, b->sums[1], b->nt, 1);
		fputs("},", f);
	} else {
		fputs("null,", f);
	}
	json_key(f, "timeline");
	write_timeline(f, b->o->timeline);
	fputs(",", f);
	json_key(f, "flame");
	if ((rc = write_flame(f, b, min_frame)) < 0)
		goto out;
	fputs(",", f);
	json_key(f, "top");
	write_table(f, b, &tb, st->functions);
	fputs(",", f);
	json_key(f, "lists");
	if ((rc = write_lists(f, b, &tb, lists, n_lists)) < 0)
		goto out;
	/* last, as the steps above add to it */
	fputs(",", f);
	json_key(f, "strings");
	putc('[', f);
	for (size_t i = 0; i < b->strings.n; i++) {
		if (i)
			putc(',', f);
		json_string(f, b->strings.s[i]);
	}
	fputs("]}", f);
	rc = 0;
out:
	if (g_init)
		graph_release(&g);
	free(tb.rows);
	free(tb.v);
	free(tb.inl);
	hashmap_release(&tb.index);
	free(lists);
	return rc;
}

int html_report_build(const struct profile *p, const struct html_report_options *o, char **out,
		      size_t *len, struct html_report_stats *stats, char *msg, size_t msglen)
{
	struct builder b = { 0 };
	struct html_report_stats st = { 0 };
	struct sink page = { 0 };
	int rc;

	if (msglen)
		msg[0] = '\0';
	if (p->n_sample_type == 0) {
		snprintf(msg, msglen, "profile has no sample types");
		return -EINVAL;
	}
	if (o->sample_index < 0 || (size_t)o->sample_index >= p->n_sample_type ||
	    o->max_frames < 16) {
		snprintf(msg, msglen, "invalid report options");
		return -EINVAL;
	}
	b.p = p;
	b.has_base = o->base != NULL;
	b.o = o;
	b.strings.map = (struct hashmap)HASHMAP_INIT;
	b.frame_index = (struct hashmap)HASHMAP_INIT;

	FILE *f = sink_open(&page);
	rc = -ENOMEM;
	if (!f)
		goto out;
	if ((rc = prepare(&b, msg, msglen)) < 0)
		goto out_close;
	const char *mark = strstr(report_template, DATA_MARK);
	if (!mark) {
		rc = -EINVAL;
		snprintf(msg, msglen, "the report template has no data mark");
		goto out_close;
	}
	fwrite(report_template, 1, (size_t)(mark - report_template), f);
	if ((rc = write_page_data(f, &b, &st)) < 0)
		goto out_close;
	fputs(mark + strlen(DATA_MARK), f);
out_close:
	if (f && (sink_close(f, &page) < 0 || !page.data) && rc == 0)
		rc = -ENOMEM;
	if (rc == 0) {
		*out = page.data;
		*len = page.len;
		page.data = NULL;
		if (stats)
			*stats = st;
	}
out:
	free(page.data);
	profile_free(b.merged[0]);
	profile_free(b.merged[1]);
	free(b.sums[0]);
	free(b.sums[1]);
	free(b.abs_total);
	free(b.pct_total);
	free(b.p_total);
	free(b.entries);
	free(b.frames);
	hashmap_release(&b.frame_index);
	free(b.path);
	free(b.samples);
	free(b.nodes);
	free(b.vals);
	strtab_release(&b.strings);
	arena_release(&b.arena);
	return rc;
}
