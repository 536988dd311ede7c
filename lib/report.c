/* report.c - pprof's top and list reports, line for line as go tool pprof
 * prints them (google/pprof internal/report: printText, printSource), and
 * what all the text reports share (report_impl.h). */
#include "report.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "graph.h"
#include "profile.h"
#include "regex.h"
#include "report_impl.h"
#include "units.h"

void report_format_value(const struct report *r, char *buf, size_t size, int64_t v)
{
	units_label(buf, size, v, r->sample_unit, r->output_unit);
}

void report_init(struct report *r, const struct profile *p, const struct report_options *o)
{
	r->p = p;
	r->o = o;
	r->sample_unit = p->sample_type[o->sample_index].unit;
	r->output_unit = o->unit ? o->unit : "minimum";
	r->total = o->has_total ? o->total : profile_total(p, o->sample_index);
}

static const char *base_name(const char *path)
{
	const char *s = strrchr(path, '/');
	return s && s[1] ? s + 1 : path;
}

/* Go's time layout "Jan 2, 2006 at 3:04pm (MST)" in local time. */
static void format_time(char *buf, size_t size, int64_t nanos)
{
	static const char *months[] = { "Jan", "Feb", "Mar", "Apr", "May", "Jun",
					"Jul", "Aug", "Sep", "Oct", "Nov", "Dec" };
	time_t t = (time_t)(nanos / 1000000000);
	if (nanos < 0 && nanos % 1000000000)
		t--;
	struct tm tm;
	if (!localtime_r(&t, &tm)) {
		snprintf(buf, size, "?");
		return;
	}
	int h = tm.tm_hour % 12;
	snprintf(buf, size, "%s %d, %d at %d:%02d%s (%s)", months[tm.tm_mon], tm.tm_mday,
		 tm.tm_year + 1900, h ? h : 12, tm.tm_min, tm.tm_hour < 12 ? "am" : "pm",
		 tm.tm_zone ? tm.tm_zone : "UTC");
}

void report_print_profile_labels(FILE *out, const struct report *r)
{
	const struct profile *p = r->p;
	char a[64], b[64];
	if (p->n_mapping) {
		if (*p->mapping[0]->filename)
			fprintf(out, "File: %s\n", base_name(p->mapping[0]->filename));
		if (*p->mapping[0]->build_id)
			fprintf(out, "Build ID: %s\n", p->mapping[0]->build_id);
	}
	for (size_t i = 0; i < p->n_comment; i++)
		if (p->comment[i][0] != '#')
			fprintf(out, "%s\n", p->comment[i]);
	fprintf(out, "Type: %s\n", p->sample_type[r->o->sample_index].type);
	if (p->time_nanos) {
		format_time(a, sizeof(a), p->time_nanos);
		fprintf(out, "Time: %s\n", a);
	}
	if (p->duration_nanos) {
		const char *tunit;
		char ratio[80] = "";
		units_label(a, sizeof(a), p->duration_nanos, "nanoseconds", "auto");
		double tn = units_scale(r->total, r->sample_unit, "nanoseconds", &tunit);
		if (strcmp(tunit, "ns") == 0 && (int64_t)tn != 0) {
			units_percentage(b, sizeof(b), (int64_t)tn, p->duration_nanos);
			snprintf(ratio, sizeof(ratio), "(%s)", b);
		}
		report_format_value(r, b, sizeof(b), r->total);
		fprintf(out, "Duration: %s, Total samples = %s %s\n", a, b, ratio);
	}
}

unsigned report_graph_mode(const struct report_options *o, unsigned granularity)
{
	return granularity | (o->noinlines ? GRAPH_NOINLINES : 0);
}

/* ---- the trimmed graph (top, tree, peek) ------------------------------------ */

static int cmp_i64_desc(int64_t a, int64_t b)
{
	a = llabs(a);
	b = llabs(b);
	return a > b ? -1 : a < b;
}

static const struct graph *sort_graph;
static bool sort_cum;

/* pprof's last tie-break: fmt.Sprint of the nodes' NodeInfo, "{Name
 * OrigName Address File StartLine Lineno Objfile}". */
static int compare_info(const struct graph_node *a, const struct graph_node *b)
{
	char *sa = NULL, *sb = NULL;
	int c = 0;
	if (asprintf(&sa, "{%s  %" PRIu64 " %s %" PRId64 " %" PRId64 " %s}", a->name, a->address,
		     a->file, a->start_line, a->lineno, a->objfile) < 0)
		sa = NULL;
	if (asprintf(&sb, "{%s  %" PRIu64 " %s %" PRId64 " %" PRId64 " %s}", b->name, b->address,
		     b->file, b->start_line, b->lineno, b->objfile) < 0)
		sb = NULL;
	if (sa && sb)
		c = strcmp(sa, sb);
	free(sa);
	free(sb);
	return c;
}

/* pprof's FlatNameOrder and CumNameOrder */
static int compare_nodes(const void *pa, const void *pb)
{
	const struct graph_node *a = &sort_graph->node[*(const uint32_t *)pa];
	const struct graph_node *b = &sort_graph->node[*(const uint32_t *)pb];
	int c = cmp_i64_desc(sort_cum ? a->cum : a->flat, sort_cum ? b->cum : b->flat);
	if (c)
		return c;
	if ((c = strcmp(a->printable, b->printable)))
		return c;
	if ((c = cmp_i64_desc(sort_cum ? a->flat : a->cum, sort_cum ? b->flat : b->cum)))
		return c;
	return compare_info(a, b);
}

void report_sort_nodes(const struct graph *g, uint32_t *ids, size_t n, bool cum)
{
	sort_graph = g;
	sort_cum = cum;
	if (n)
		qsort(ids, n, sizeof(*ids), compare_nodes);
}

/* Nodes with a value: pprof's graph leaves out nodes whose flat and cum are
 * both zero. */
static size_t live_nodes(const struct graph *g, uint32_t *ids)
{
	size_t n = 0;
	for (size_t i = 0; i < g->n_node; i++)
		if (g->node[i].flat || g->node[i].cum)
			ids[n++] = (uint32_t)i;
	return n;
}

/* pprof's selectOutputUnit: one unit for the whole table, small enough that
 * the smallest row still shows. */
static void select_output_unit(struct report *r, const struct graph *g, const uint32_t *ids,
			       size_t n)
{
	if (strcmp(r->output_unit, "minimum") != 0 || n == 0)
		return;
	int64_t min = 0, max = r->total;
	for (size_t i = 0; i < n; i++) {
		const struct graph_node *node = &g->node[ids[i]];
		int64_t v = llabs(node->flat);
		if (v == 0)
			v = llabs(node->cum);
		if (v > 0 && (min == 0 || v < min))
			min = v;
	}
	if (min == 0)
		min = max;
	const char *min_unit, *max_unit, *unit;
	units_scale(min, r->sample_unit, "minimum", &min_unit);
	units_scale(max, r->sample_unit, "minimum", &max_unit);
	unit = min_unit;
	if (strcmp(min_unit, max_unit) != 0 && min * 100 < max)
		units_scale(100 * min, r->sample_unit, "minimum", &unit);
	r->output_unit = *unit ? unit : r->sample_unit;
}

int report_graph_build(struct report_graph *rg, struct report *r)
{
	const struct profile *p = r->p;
	const struct report_options *o = r->o;
	struct graph *g = &rg->g;
	int rc;

	memset(rg, 0, sizeof(*rg));
	/* pprof trims every file name (-trim_path, -source_path) first */
	if ((rc = graph_init(g, p, report_graph_mode(o, o->granularity),
			     o->granularity == GRAPH_FUNCTIONS ? NULL : report_trim_filename,
			     (void *)o)) < 0)
		return rc;
	rg->ids = malloc((g->n_node ? g->n_node : 1) * sizeof(*rg->ids));
	rg->kept = calloc(g->n_node ? g->n_node : 1, sizeof(*rg->kept));
	if (!rg->ids || !rg->kept)
		return -ENOMEM;

	/* pass 1: the full graph decides which nodes are too small to show */
	if ((rc = graph_accumulate(g, p, o->sample_index, NULL, false)) < 0)
		return rc;
	size_t n = live_nodes(g, rg->ids);
	int64_t flat_total = 0;
	for (size_t i = 0; i < n; i++)
		flat_total += g->node[rg->ids[i]].flat;
	int64_t node_cutoff = llabs((int64_t)((double)flat_total * o->node_fraction));
	rg->edge_cutoff = llabs((int64_t)((double)flat_total * o->edge_fraction));
	for (size_t i = 0; i < n; i++) {
		if (llabs(g->node[rg->ids[i]].cum) < node_cutoff)
			rg->dropped++;
		else
			rg->kept[rg->ids[i]] = true;
	}

	/* pass 2: with nodes dropped, rebuild from the kept ones (calls through
	 * dropped ones join up); else the full graph stays, with its edges */
	if ((rc = graph_accumulate(g, p, o->sample_index, rg->dropped ? rg->kept : NULL,
				   true)) < 0)
		return rc;
	n = live_nodes(g, rg->ids);
	rg->orig_count = n;
	report_sort_nodes(g, rg->ids, n, o->cum_sort);

	/* pass 3: keep the top node_count */
	if (o->node_count > 0 && (size_t)o->node_count < n) {
		memset(rg->kept, 0, g->n_node * sizeof(*rg->kept));
		for (size_t i = 0; i < (size_t)o->node_count; i++)
			rg->kept[rg->ids[i]] = true;
		if ((rc = graph_accumulate(g, p, o->sample_index, rg->kept, true)) < 0)
			return rc;
		n = live_nodes(g, rg->ids);
		report_sort_nodes(g, rg->ids, n, o->cum_sort);
	}
	rg->n = n;
	/* what TrimLowFrequencyEdges looks at: the edges into listed nodes */
	memset(rg->kept, 0, g->n_node * sizeof(*rg->kept));
	for (size_t i = 0; i < n; i++)
		rg->kept[rg->ids[i]] = true;
	graph_mark_inline(g, rg->edge_cutoff);
	select_output_unit(r, g, rg->ids, n);
	return 0;
}

bool report_graph_edge_kept(const struct report_graph *rg, const struct graph_edge *e)
{
	return !rg->kept[e->dst] || llabs(e->weight) >= rg->edge_cutoff;
}

void report_graph_release(struct report_graph *rg)
{
	free(rg->ids);
	free(rg->kept);
	graph_release(&rg->g);
	memset(rg, 0, sizeof(*rg));
}

void report_print_header(FILE *out, const struct report *r, const struct report_graph *rg)
{
	const struct report_options *o = r->o;
	char a[64], b[64], c[64];

	report_print_profile_labels(out, r);
	if (o->n_active_filters) {
		fprintf(out, "Active filters:\n");
		for (size_t i = 0; i < o->n_active_filters; i++) {
			const char *f = o->active_filters[i];
			if (strlen(f) > 80)	/* pprof cuts bytes, not characters */
				fprintf(out, "   %.80s\xe2\x80\xa6\n", f);
			else
				fprintf(out, "   %s\n", f);
		}
	}
	int64_t flat_sum = 0;
	for (size_t i = 0; i < rg->n; i++)
		flat_sum += rg->g.node[rg->ids[i]].flat;
	report_format_value(r, a, sizeof(a), flat_sum);
	units_percentage(b, sizeof(b), flat_sum, r->total);
	report_format_value(r, c, sizeof(c), r->total);
	fprintf(out, "Showing nodes accounting for %s, %s of %s total\n", a, b + strspn(b, " "), c);
	if (r->total != 0) {
		if (rg->dropped > 0) {
			report_format_value(r, a, sizeof(a),
					    llabs((int64_t)((double)r->total * o->node_fraction)));
			fprintf(out, "Dropped %zu node%s (cum <= %s)\n", rg->dropped,
				rg->dropped > 1 ? "s" : "", a);
		}
		if (rg->n > 0 && rg->n < rg->orig_count)
			fprintf(out, "Showing top %zu nodes out of %zu\n", rg->n, rg->orig_count);
	}
}

/* ---- top ----------------------------------------------------------------- */

int report_top(FILE *out, const struct profile *p, const struct report_options *o)
{
	struct report r;
	struct report_graph rg;
	int rc;

	report_init(&r, p, o);
	if ((rc = report_graph_build(&rg, &r)) < 0)
		goto out;
	const struct graph *g = &rg.g;
	report_print_header(out, &r, &rg);
	fprintf(out, "%10s %5s%% %5s%% %10s %5s%%\n", "flat", "flat", "sum", "cum", "cum");
	int64_t sum = 0;
	for (size_t i = 0; i < rg.n; i++) {
		const struct graph_node *node = &g->node[rg.ids[i]];
		char a[64], c[64], fp[16], sp[16], cp[16];
		sum += node->flat;
		report_format_value(&r, a, sizeof(a), node->flat);
		report_format_value(&r, c, sizeof(c), node->cum);
		units_percentage(fp, sizeof(fp), node->flat, r.total);
		units_percentage(sp, sizeof(sp), sum, r.total);
		units_percentage(cp, sizeof(cp), node->cum, r.total);
		const char *inl = node->inline_in ? (node->noinline_in ? " (partial-inline)"
								      : " (inline)") : "";
		fprintf(out, "%10s %s %s %10s %s  %s%s\n", a, fp, sp, c, cp, node->printable, inl);
	}
	rc = 0;
out:
	report_graph_release(&rg);
	return rc;
}

/* ---- folded stacks -------------------------------------------------------- */

struct folded {
	struct folded_stack {
		char *text;	/* "root;caller;leaf" */
		int64_t value;
	} *stack;
	size_t n, cap;
	struct hashmap index;	/* hash of the text, probed -> index in stack */
};

struct text_buf {
	char *s;
	size_t len, cap;
};

/* Appends a frame's name as a folded stack can hold it: ';' separates
 * frames and a newline ends the stack, so ';' becomes ':' and control
 * characters become '?'. Returns 0 or -ENOMEM. */
static int append_frame(struct text_buf *b, const char *name)
{
	size_t n = strlen(name);
	if (b->len + n + 2 > b->cap) {
		size_t cap = (b->len + n + 2) * 2;
		char *s = realloc(b->s, cap);
		if (!s)
			return -ENOMEM;
		b->s = s;
		b->cap = cap;
	}
	if (b->len)
		b->s[b->len++] = ';';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)name[i];
		b->s[b->len++] = c == ';' ? ':' : c < 0x20 || c == 0x7f ? '?' : (char)c;
	}
	b->s[b->len] = '\0';
	return 0;
}

struct folded_want {
	const struct folded *f;
	const char *text;
};

static bool same_stack(uint64_t value, const void *ctx)
{
	const struct folded_want *w = ctx;
	return strcmp(w->f->stack[value].text, w->text) == 0;
}

static int add_stack(struct folded *f, const char *text, size_t len, int64_t value)
{
	struct folded_want w = { f, text };
	bool inserted;
	uint64_t key;
	uint64_t *slot = hashmap_probe(&f->index, hash_bytes(text, len, 0), same_stack, &w,
				       &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (!inserted) {	/* Go's wrapping sum, as the graph's */
		f->stack[*slot].value = (int64_t)((uint64_t)f->stack[*slot].value + (uint64_t)value);
		return 0;
	}
	char *copy = strdup(text);
	if (!copy || array_grow(&f->stack, &f->cap, f->n, sizeof(*f->stack)) < 0) {
		free(copy);
		hashmap_remove(&f->index, key);
		return -ENOMEM;
	}
	f->stack[f->n] = (struct folded_stack){ copy, value };
	*slot = f->n++;
	return 0;
}

static int compare_stacks(const void *pa, const void *pb)
{
	const struct folded_stack *a = pa, *b = pb;
	return strcmp(a->text, b->text);
}

int report_folded(FILE *out, const struct profile *p, const struct report_options *o)
{
	struct folded f = { NULL, 0, 0, HASHMAP_INIT };
	struct text_buf b = { NULL, 0, 0 };
	struct graph g;
	int rc;

	/* the graph names the frames as top does (as pprof's -traces, without
	 * trimming file names) */
	if ((rc = graph_init(&g, p, report_graph_mode(o, o->granularity), NULL, NULL)) < 0)
		return rc;
	for (size_t si = 0; si < p->n_sample; si++) {
		const struct profile_sample *s = &p->sample[si];
		int64_t v = s->value[o->sample_index];
		if (v == 0 || s->n_location == 0)
			continue;
		b.len = 0;
		for (size_t i = s->n_location; i-- > 0;) {	/* root first */
			uint32_t li = s->location[i]->index;
			size_t first = g.loc_first[li], n = g.loc_first[li + 1] - first;
			for (size_t ni = n; ni-- > 0;)		/* caller before inlined */
				if ((rc = append_frame(&b, g.node[g.loc_nodes[first + ni]].printable)) < 0)
					goto out;
		}
		if ((rc = add_stack(&f, b.s, b.len, v)) < 0)
			goto out;
	}
	if (f.n)	/* qsort's array may not be NULL, even when empty */
		qsort(f.stack, f.n, sizeof(*f.stack), compare_stacks);
	for (size_t i = 0; i < f.n; i++)
		if (f.stack[i].value != 0)
			fprintf(out, "%s %" PRId64 "\n", f.stack[i].text, f.stack[i].value);
	rc = 0;
out:
	for (size_t i = 0; i < f.n; i++)
		free(f.stack[i].text);
	free(f.stack);
	hashmap_release(&f.index);
	free(b.s);
	graph_release(&g);
	return rc;
}

/* ---- list ----------------------------------------------------------------- */

/* Go's filepath.Base of s[0..n) into out: "." for "", "/" for slashes
 * only, else the last element without trailing slashes. */
static void go_base(const char *s, size_t n, char *out, size_t size)
{
	while (n > 0 && s[n - 1] == '/')
		n--;
	size_t i = n;
	while (i > 0 && s[i - 1] != '/')
		i--;
	if (n == 0)
		snprintf(out, size, "%s", s[0] == '/' ? "/" : ".");
	else
		snprintf(out, size, "%.*s", (int)(n - i), s + i);
}

/* The next entry of a ':'-separated list (Go's filepath.SplitList: none in
 * "", empty ones kept). Returns false at the end; *len gets the entry's. */
static bool list_next(const char **at, const char **entry, size_t *len)
{
	const char *s = *at;
	if (!s)
		return false;
	const char *e = strchr(s, ':');
	*entry = s;
	*len = e ? (size_t)(e - s) : strlen(s);
	*at = e ? e + 1 : NULL;
	return true;
}

/* pprof's trimPath: without configured prefixes, strip everything up to the
 * base name of a search path directory found inside the file name; then
 * strip configured prefixes and /proc/self/cwd. Returns a pointer into path. */
static const char *trim_path(const char *path, const char *trim, const char *search)
{
	const char *at, *e;
	size_t n;
	if (!trim || !*trim) {
		for (at = search && *search ? search : NULL; list_next(&at, &e, &n);) {
			char want[PATH_MAX + 2], base[PATH_MAX];
			if (n >= sizeof(base))
				continue;
			go_base(e, n, base, sizeof(base));
			snprintf(want, sizeof(want), "/%s/", base);
			const char *found = strstr(path, want);
			if (found)
				return found + strlen(want);
		}
	}
	static const char *const fixed[] = { "/proc/self/cwd/./", "/proc/self/cwd/" };
	at = trim && *trim ? trim : NULL;
	for (size_t k = 0;;) {
		if (!list_next(&at, &e, &n)) {
			if (k == 2)
				break;
			e = fixed[k++];
			n = strlen(e);
		}
		/* HasPrefix(path, entry + "/" unless it ends in one) */
		bool slash = n > 0 && e[n - 1] == '/';
		if (strncmp(path, e, n) == 0 && (slash || path[n] == '/'))
			return path + n + (slash ? 0 : 1);
	}
	return path;
}

const char *report_trim_filename(struct arena *a, const char *name, void *data)
{
	const struct report_options *o = data;
	(void)a;
	return trim_path(name, o->trim_path, o->source_path);
}

/* A source file read into lines; lines[i] is line i+1 without its newline. */
struct source {
	char *file;		/* the file name in the profile: the cache's key */
	char *data;
	char **lines;
	size_t n;
	char *err;		/* why it cannot be shown, or NULL */
};

/* The sources list has read, each read once: a profile can have thousands
 * of functions in one large file. Like pprof's sourceReader, it keeps them
 * all until the report is done. */
struct source_cache {
	struct source *src;
	size_t n, cap;
	struct hashmap index;	/* hash of the file name, probed -> index in src */
};

/* Opens path for reading as Go's os.Open does for pprof: a regular file,
 * or a directory, which pprof then lists as an empty file (*f stays NULL).
 * A FIFO or a device named in a profile must not block list, nor be opened
 * at all (opening a tape rewinds it): unlike pprof, it is refused (errno
 * EINVAL), checked with stat first and again after a non-blocking open in
 * case the file was replaced in between. Returns 0, or -1 with errno set. */
static int open_source_file(const char *path, FILE **f)
{
	struct stat st;
	*f = NULL;
	if (stat(path, &st) < 0)
		return -1;
	if (S_ISDIR(st.st_mode))
		return 0;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		errno = EINVAL;
		return -1;
	}
	if (!(*f = fdopen(fd, "r"))) {
		close(fd);
		return -1;
	}
	return 0;
}

/* Go's filepath.Join(dir, path) (dir may be empty) and filepath.Dir(dir),
 * both cleaned, into the arena; NULL when out of memory. */
static const char *go_join(struct arena *a, const char *dir, const char *path)
{
	if (!*dir)
		return *path ? path_clean(a, path) : "";
	size_t n = strlen(dir) + strlen(path) + 2;
	char *s = arena_alloc(a, n);
	if (!s)
		return NULL;
	snprintf(s, n, "%s%s%s", dir, *path ? "/" : "", path);
	return path_clean(a, s);
}

static const char *go_dir(struct arena *a, const char *path)
{
	const char *slash = strrchr(path, '/');
	size_t n = slash ? (size_t)(slash - path) + 1 : 0;
	char *s = arena_alloc(a, n + 1);
	if (!s)
		return NULL;
	memcpy(s, path, n);
	s[n] = '\0';
	return path_clean(a, s);
}

/* pprof's openSourceFile: the trimmed name if it is absolute, else the
 * name under each search path entry and each of its parents (a relative
 * entry's up to "."). Returns 0 with *f (NULL for a directory), -1 with
 * the reason in err, or -ENOMEM. */
static int open_source(const char *path, const char *search, const char *trim, FILE **f,
		       char *err, size_t errsize)
{
	struct arena a = ARENA_INIT;
	int rc = -1;

	path = trim_path(path, trim, search);
	if (path[0] == '/') {
		if (open_source_file(path, f) == 0)
			return 0;
		/* Go's error text: strerror's, lower-cased as Go's syscall has it */
		char why[128];
		snprintf(why, sizeof(why), "%s",
			 errno == EINVAL ? "not a regular file" : strerror(errno));
		why[0] = (char)tolower((unsigned char)why[0]);
		snprintf(err, errsize, "open %s: %s", path, why);
		return -1;
	}
	const char *at = *search ? search : NULL, *e;
	size_t n;
	while (rc < 0 && list_next(&at, &e, &n)) {
		char *dir = arena_alloc(&a, n + 1);
		if (!dir) {
			rc = -ENOMEM;
			break;
		}
		memcpy(dir, e, n);
		dir[n] = '\0';
		for (const char *d = dir;;) {
			const char *file = go_join(&a, d, path), *parent;
			if (!file || !(parent = go_dir(&a, d))) {
				rc = -ENOMEM;
				break;
			}
			if (open_source_file(file, f) == 0) {
				rc = 0;
				break;
			}
			if (strcmp(parent, d) == 0)
				break;
			d = parent;
		}
	}
	if (rc == -1)
		snprintf(err, errsize, "could not find file %s on path %s", path, search);
	arena_release(&a);
	return rc;
}

/* Reads the source named path in a profile into src. A file that cannot be
 * read is not an error: src->err says why. Returns 0 or -ENOMEM; src is
 * to be released either way. */
static int source_load(struct source *src, const char *path, const char *search, const char *trim)
{
	char err[PATH_MAX * 2 + 64] = "";
	memset(src, 0, sizeof(*src));
	if (!(src->file = strdup(path)))
		return -ENOMEM;
	FILE *f;
	int rc = open_source(path, search, trim, &f, err, sizeof(err));
	if (rc == -ENOMEM)
		return rc;
	if (rc < 0)
		return (src->err = strdup(err)) ? 0 : -ENOMEM;
	if (!f)		/* a directory: pprof reads no line of it */
		return 0;
	size_t cap = 0, len = 0;
	char buf[65536];
	size_t r;
	while ((r = fread(buf, 1, sizeof(buf), f)) > 0) {
		if (len + r + 1 > cap) {
			cap = (len + r + 1) * 2;
			char *d = realloc(src->data, cap);
			if (!d) {
				fclose(f);
				return -ENOMEM;
			}
			src->data = d;
		}
		memcpy(src->data + len, buf, r);
		len += r;
	}
	if (ferror(f)) {
		snprintf(err, sizeof(err), "read %s: %s", path, strerror(errno));
		if (!(src->err = strdup(err))) {
			fclose(f);
			return -ENOMEM;
		}
	}
	fclose(f);
	if (!src->data)
		return 0;
	src->data[len] = '\0';
	size_t nl = 1;
	for (size_t i = 0; i < len; i++)
		nl += src->data[i] == '\n';
	if (!(src->lines = malloc(nl * sizeof(*src->lines))))
		return -ENOMEM;
	char *s = src->data;
	while (s < src->data + len) {
		char *e = strchr(s, '\n');
		if (e)
			*e = '\0';
		size_t l = strlen(s);
		if (l && s[l - 1] == '\r')	/* bufio.ScanLines drops a \r too */
			s[l - 1] = '\0';
		src->lines[src->n++] = s;
		if (!e)
			break;
		s = e + 1;
	}
	return 0;
}

static void source_release(struct source *src)
{
	free(src->file);
	free(src->data);
	free(src->lines);
	free(src->err);
}

struct source_key {
	const struct source_cache *cache;
	const char *file;
};

static bool source_is(uint64_t value, const void *ctx)
{
	const struct source_key *k = ctx;
	return strcmp(k->cache->src[value].file, k->file) == 0;
}

/* The source named file in the profile, read on first use. Returns 0 and
 * the source in *out (valid until the next call), or -ENOMEM. */
static int source_get(struct source_cache *c, const char *file, const char *search,
		      const char *trim, const struct source **out)
{
	struct source_key k = { c, file };
	bool inserted;
	uint64_t key;
	uint64_t *slot = hashmap_probe(&c->index, hash_bytes(file, strlen(file), 0), source_is,
				       &k, &inserted, &key);
	if (!slot)
		return -ENOMEM;
	if (!inserted) {
		*out = &c->src[*slot];
		return 0;
	}
	int rc = array_grow(&c->src, &c->cap, c->n, sizeof(*c->src));
	if (rc == 0 && (rc = source_load(&c->src[c->n], file, search, trim)) < 0)
		source_release(&c->src[c->n]);
	if (rc < 0) {
		hashmap_remove(&c->index, key);
		return rc;
	}
	*slot = c->n;
	*out = &c->src[c->n++];
	return 0;
}

/* The source named file if it was read (or tried) before, else NULL. */
static const struct source *source_find(const struct source_cache *c, const char *file)
{
	struct source_key k = { c, file };
	for (uint64_t h = hash_bytes(file, strlen(file), 0);; h++) {
		const uint64_t *v = hashmap_get(&c->index, h);
		if (!v)
			return NULL;
		if (source_is(*v, &k))
			return &c->src[*v];
	}
}

static void source_cache_release(struct source_cache *c)
{
	for (size_t i = 0; i < c->n; i++)
		source_release(&c->src[i]);
	free(c->src);
	hashmap_release(&c->index);
}

/* list's order: by function name, then file, then node creation order */
static int compare_by_name_file(const void *pa, const void *pb)
{
	uint32_t ia = *(const uint32_t *)pa, ib = *(const uint32_t *)pb;
	const struct graph_node *a = &sort_graph->node[ia], *b = &sort_graph->node[ib];
	int c = strcmp(a->name, b->name);
	if (!c)
		c = strcmp(a->file, b->file);
	return c ? c : (ia > ib) - (ia < ib);
}

static void value_or_dot(const struct report *r, char *buf, size_t size, int64_t v)
{
	if (v == 0)
		snprintf(buf, size, ".");
	else
		report_format_value(r, buf, size, v);
}

/* a + b, clamped to int64_t's range (line numbers come from the profile) */
static int64_t add_sat(int64_t a, int64_t b)
{
	int64_t sum;
	if (__builtin_add_overflow(a, b, &sum))
		return b > 0 ? INT64_MAX : INT64_MIN;
	return sum;
}

/* The values of one source line: the sum over the nodes at that line. */
struct line_value {
	int64_t line, flat, cum;
};

static int compare_line_values(const void *pa, const void *pb)
{
	const struct line_value *a = pa, *b = pb;
	return (a->line > b->line) - (a->line < b->line);
}

/* The lines of nodes ids[0..n) with their summed values, in line order,
 * one entry per line: a malloc'd array the caller frees, or NULL when out
 * of memory. *count gets its length. */
static struct line_value *sum_by_line(const struct graph *g, const uint32_t *ids, size_t n,
				      size_t *count)
{
	struct line_value *lv = malloc((n ? n : 1) * sizeof(*lv));
	if (!lv)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const struct graph_node *node = &g->node[ids[i]];
		lv[i] = (struct line_value){ node->lineno, node->flat, node->cum };
	}
	qsort(lv, n, sizeof(*lv), compare_line_values);
	size_t m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m > 0 && lv[m - 1].line == lv[i].line) {
			lv[m - 1].flat += lv[i].flat;
			lv[m - 1].cum += lv[i].cum;
		} else {
			lv[m++] = lv[i];
		}
	}
	*count = m;
	return lv;
}

/* One ROUTINE block: function name in file, over the lines pprof shows.
 * The work is bounded by what is printed: the sampled lines when the file
 * is missing, the file's lines in range when it is there; never by the
 * range itself (a profile can claim line 2^40). */
static int print_routine(FILE *out, const struct report *r, const struct graph *g,
			 const char *name, const char *file, const uint32_t *ids, size_t n,
			 struct source_cache *sources, const char *search)
{
	int64_t flat_sum = 0, cum_sum = 0;
	for (size_t i = 0; i < n; i++) {
		flat_sum += g->node[ids[i]].flat;
		cum_sum += g->node[ids[i]].cum;
	}
	/* pprof's getSourceFromFile range: from the start line (or the first
	 * sampled line - 5) to the last sampled line + 5 */
	const int margin = 5;
	const struct graph_node *f0 = &g->node[ids[0]];
	int64_t start = f0->start_line ? f0->start_line : add_sat(f0->lineno, -margin);
	int64_t end = add_sat(f0->lineno, margin);
	for (size_t i = 0; i < n; i++) {
		const struct graph_node *node = &g->node[ids[i]];
		int64_t ns = node->start_line ? node->start_line : add_sat(node->lineno, -margin);
		int64_t ne = add_sat(node->lineno, margin);
		if (ns < start)
			start = ns;
		else if (ne > end)
			end = ne;
	}
	if (start < 1)
		start = 1;

	char a[64], b[64], c[64];
	size_t n_lines;
	struct line_value *lv = sum_by_line(g, ids, n, &n_lines);
	if (!lv)
		return -ENOMEM;
	size_t k = 0;	/* the first of lv at or after the line being printed */
	while (k < n_lines && lv[k].line < start)
		k++;
	const struct source *src;
	int rc = 0;
	/* pprof reads no line of an empty range (a function whose start line
	 * is past its sampled lines, which are in another file it includes):
	 * it then says nothing of the file unless an earlier read failed */
	if (start > end)
		src = source_find(sources, file);
	else if ((rc = source_get(sources, file, search, r->o->trim_path, &src)) < 0)
		goto out;
	fprintf(out, "ROUTINE ======================== %s in %s\n", name, file);
	report_format_value(r, a, sizeof(a), flat_sum);
	report_format_value(r, b, sizeof(b), cum_sum);
	units_percentage(c, sizeof(c), cum_sum, r->total);
	fprintf(out, "%10s %10s (flat, cum) %s of Total\n", a, b, c);
	if (!src)
		goto out;
	if (src->err) {
		fprintf(out, " Error: %s\n", src->err);
		/* unlike pprof, still show the numbers of the lines with samples */
		for (; k < n_lines && lv[k].line <= end; k++) {
			value_or_dot(r, a, sizeof(a), lv[k].flat);
			value_or_dot(r, b, sizeof(b), lv[k].cum);
			fprintf(out, "%10s %10s %6" PRId64 ":\n", a, b, lv[k].line);
		}
		goto out;
	}
	int64_t last = end < (int64_t)src->n ? end : (int64_t)src->n;
	for (int64_t line = start; line <= last; line++) {
		int64_t fl = 0, cu = 0;
		if (k < n_lines && lv[k].line == line) {
			fl = lv[k].flat;
			cu = lv[k].cum;
			k++;
		}
		value_or_dot(r, a, sizeof(a), fl);
		value_or_dot(r, b, sizeof(b), cu);
		fprintf(out, "%10s %10s %6" PRId64 ":%s\n", a, b, line, src->lines[line - 1]);
	}
out:
	free(lv);
	return rc;
}

/* Which functions list shows and where each one's blocks go: match says
 * whether a function name is listed (1, 0, or a negative errno that ends
 * the listing), out_for gives the stream for it. */
struct list_select {
	int (*match)(const char *name, void *data);
	FILE *(*out_for)(const char *name, void *data);
	void *data;
};

/* list's body for the functions sel selects: with total_out set, the
 * "Total:" line goes there first. Returns 0, -ENOENT when no function with
 * a value matched, or another negative errno. */
static int list_selected(FILE *total_out, const struct profile *p, const struct report_options *o,
			 const struct list_select *sel)
{
	struct report r;
	struct graph g;
	struct source_cache sources = { NULL, 0, 0, HASHMAP_INIT };
	uint32_t *ids = NULL;
	char cwd[PATH_MAX];
	int rc;

	report_init(&r, p, o);
	if ((rc = graph_init(&g, p, report_graph_mode(o, GRAPH_LINES) | GRAPH_OBJNAMES,
			     report_trim_filename, (void *)o)) < 0)
		return rc;
	rc = -ENOMEM;
	ids = malloc((g.n_node ? g.n_node : 1) * sizeof(*ids));
	if (!ids)
		goto out;
	if ((rc = graph_accumulate(&g, p, o->sample_index, NULL, false)) < 0)
		goto out;

	/* the nodes of matching functions, grouped by name and file */
	size_t n = live_nodes(&g, ids), m = 0;
	for (size_t i = 0; i < n; i++) {
		int match = sel->match(g.node[ids[i]].name, sel->data);
		if (match < 0) {
			rc = match;
			goto out;
		}
		if (match)
			ids[m++] = ids[i];
	}
	if (m == 0) {
		rc = -ENOENT;
		goto out;
	}
	sort_graph = &g;
	qsort(ids, m, sizeof(*ids), compare_by_name_file);

	const char *search = o->source_path;
	if (!search || !*search) {
		if (!getcwd(cwd, sizeof(cwd)))
			snprintf(cwd, sizeof(cwd), ".");
		search = cwd;
	}
	char a[64];
	if (total_out) {
		report_format_value(&r, a, sizeof(a), r.total);
		fprintf(total_out, "Total: %s\n", a);
	}
	for (size_t i = 0; i < m;) {
		const char *name = g.node[ids[i]].name;
		FILE *out = sel->out_for(name, sel->data);
		size_t end = i;
		while (end < m && strcmp(g.node[ids[end]].name, name) == 0)
			end++;
		/* nodes without a file sort first in their function's group */
		while (i < end && !*g.node[ids[i]].file)
			i++;
		if (i == end)
			fprintf(out, "No source information for %s\n", name);
		while (i < end) {
			const char *file = g.node[ids[i]].file;
			size_t j = i;
			while (j < end && strcmp(g.node[ids[j]].file, file) == 0)
				j++;
			if ((rc = print_routine(out, &r, &g, name, file, ids + i, j - i, &sources,
						search)) < 0)
				goto out;
			i = j;
		}
	}
	rc = 0;
out:
	free(ids);
	source_cache_release(&sources);
	graph_release(&g);
	return rc;
}

struct regex_select {
	struct regex *re;
	FILE *out;
};

/* -E2BIG: the regex is too costly to match (PCRE2's backtracking limit) */
static int select_by_regex(const char *name, void *data)
{
	int match = regex_match(((struct regex_select *)data)->re, name);
	return match < 0 && match != -ENOMEM ? -E2BIG : match;
}

static FILE *regex_out(const char *name, void *data)
{
	(void)name;
	return ((struct regex_select *)data)->out;
}

int report_list(FILE *out, const struct profile *p, const char *regex,
		const struct report_options *o, char *msg, size_t msg_size)
{
	struct regex_select rs = { .out = out };
	struct list_select sel = { select_by_regex, regex_out, &rs };
	char why[256];
	if (!(rs.re = regex_compile(regex, why, sizeof(why)))) {
		snprintf(msg, msg_size, "invalid regexp %s: %s", regex, why);
		return -EINVAL;
	}
	int rc = list_selected(out, p, o, &sel);
	if (rc == -ENOENT) {
		snprintf(msg, msg_size, "no matches found for regexp: %s", regex);
		rc = -EINVAL;
	} else if (rc == -E2BIG) {
		snprintf(msg, msg_size, "regexp %s: too costly to match (PCRE2's backtracking "
			 "limit): simplify it", regex);
		rc = -EINVAL;
	}
	regex_free(rs.re);
	return rc;
}

/* The functions report_list_functions lists: names sorted, for bsearch. */
struct names_select {
	const char *const *names;
	size_t n;
	const uint32_t *order;	/* indices of names in name order */
	FILE *const *outs;
};

static const struct names_select *names_ctx;

static int compare_name_order(const void *pa, const void *pb)
{
	return strcmp(names_ctx->names[*(const uint32_t *)pa],
		      names_ctx->names[*(const uint32_t *)pb]);
}

/* index in names of name, or -1 */
static ssize_t names_find(const struct names_select *ns, const char *name)
{
	size_t lo = 0, hi = ns->n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(name, ns->names[ns->order[mid]]);
		if (c == 0)
			return ns->order[mid];
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

static int names_match(const char *name, void *data)
{
	return names_find(data, name) >= 0;
}

static FILE *names_out(const char *name, void *data)
{
	const struct names_select *ns = data;
	return ns->outs[names_find(ns, name)];
}

int report_list_functions(FILE *const *outs, const struct profile *p, const char *const *names,
			  size_t n, const struct report_options *o)
{
	uint32_t *order = malloc((n ? n : 1) * sizeof(*order));
	if (!order)
		return -ENOMEM;
	for (size_t i = 0; i < n; i++)
		order[i] = (uint32_t)i;
	struct names_select ns = { names, n, order, outs };
	names_ctx = &ns;
	qsort(order, n, sizeof(*order), compare_name_order);
	struct list_select sel = { names_match, names_out, &ns };
	int rc = list_selected(NULL, p, o, &sel);
	free(order);
	return rc == -ENOENT ? 0 : rc;
}
