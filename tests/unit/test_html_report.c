/* test_html_report.c - the report page's data: the flame graph tree, its
 * pruning into "[other]", escaping, the base, the timeline; and
 * report_demo, the page of a crafted profile with a heap-over-time series
 * for the browser test (tests/t0140-report.sh). */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/html_report.h"
#include "lib/output.h"
#include "lib/profile.h"
#include "lib/timeline.h"

/* A profile built from stacks of function names (root first); each name
 * is one function, each (name, line) one location. */
struct builder {
	struct profile *p;
	struct profile_mapping *m;
	uint64_t next_id;
};

static void b_init(struct builder *b, size_t nt, const char *const *types,
		   const char *const *units)
{
	b->p = profile_new();
	profile_set_sample_types(b->p, nt, types, units);
	b->m = profile_add_mapping(b->p, 1);
	b->m->filename = profile_intern(b->p, "/usr/bin/demo");
	b->p->period_type.type = profile_intern(b->p, "space");
	b->p->period_type.unit = profile_intern(b->p, "bytes");
	b->p->period = 524288;
	b->next_id = 1;
}

static struct profile_function *b_function(struct builder *b, const char *name)
{
	for (size_t i = 0; i < b->p->n_function; i++)
		if (!strcmp(b->p->function[i]->name, name))
			return b->p->function[i];
	struct profile_function *f = profile_add_function(b->p, b->next_id++);
	f->name = profile_intern(b->p, name);
	f->filename = profile_intern(b->p, "/src/demo.c");
	f->start_line = 10;
	return f;
}

/* One location per frame; "a+b" makes one location of b inlined into a. */
static struct profile_location *b_location(struct builder *b, const char *frame, int64_t line)
{
	const char *plus = strchr(frame, '+');
	size_t n = plus ? 2 : 1;
	struct profile_location *l = profile_add_location(b->p, b->next_id++, n);
	l->mapping = b->m;
	l->address = 0x1000 + b->next_id * 16;
	if (plus) {
		char caller[256];
		snprintf(caller, sizeof(caller), "%.*s", (int)(plus - frame), frame);
		l->line[0].function = b_function(b, plus + 1);	/* inlined first */
		l->line[0].line = line + 100;
		l->line[1].function = b_function(b, caller);
		l->line[1].line = line;
	} else {
		l->line[0].function = b_function(b, frame);
		l->line[0].line = line;
	}
	return l;
}

/* stack: names root first, separated by ';'; values: nt of them */
static void b_sample(struct builder *b, const char *stack, const int64_t *values, int64_t pid)
{
	char buf[4096];
	const char *frames[256];
	size_t n = 0;
	snprintf(buf, sizeof(buf), "%s", stack);
	for (char *s = strtok(buf, ";"); s && n < 256; s = strtok(NULL, ";"))
		frames[n++] = s;
	struct profile_sample *s = profile_add_sample(b->p, n, pid ? 1 : 0);
	for (size_t i = 0; i < n; i++)	/* leaf first */
		s->location[i] = b_location(b, frames[n - 1 - i], (int64_t)(20 + n - 1 - i));
	memcpy(s->value, values, b->p->n_sample_type * sizeof(*values));
	if (pid) {
		s->label[0].key = profile_intern(b->p, "pid");
		s->label[0].str = "";
		s->label[0].num = pid;
		s->label[0].num_unit = "";
	}
}

static const char *types4[] = { "alloc_objects", "alloc_space", "inuse_objects", "inuse_space" };
static const char *units4[] = { "count", "bytes", "count", "bytes" };

static char *build(const struct profile *p, const struct html_report_options *o,
		   struct html_report_stats *st, int *rc)
{
	char *page = NULL, msg[256];
	size_t len;
	*rc = html_report_build(p, o, &page, &len, st, msg, sizeof(msg));
	if (*rc == 0)
		CHECK(strlen(page) == len);
	return page;
}

/* The page's data: the text between the data element's tags. */
static char *data_of(char *page)
{
	char *s = strstr(page, "<script type=\"application/json\" id=\"data\">");
	if (!s)
		return NULL;
	s = strchr(s, '>') + 1;
	char *e = strstr(s, "</script>");
	if (e)
		*e = '\0';
	return s;
}

static void test_tree(void)
{
	struct builder b;
	b_init(&b, 1, (const char *[]){ "alloc_space" }, (const char *[]){ "bytes" });
	b_sample(&b, "main;b", (int64_t[]){ 20 }, 0);
	b_sample(&b, "main;a;malloc", (int64_t[]){ 10 }, 0);
	b_sample(&b, "main", (int64_t[]){ 5 }, 0);
	b_sample(&b, "main;a+inl", (int64_t[]){ 7 }, 0);
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	struct html_report_stats st;
	int rc;
	char *page = build(b.p, &o, &st, &rc);
	CHECK(rc == 0);
	char *d = page ? data_of(page) : NULL;
	CHECK(d != NULL);
	if (d) {
		/* preorder, children in name order: total, main, a, inl, malloc, b */
		CHECK(strstr(d, "\"parent\":[-1,0,1,2,2,1]") != NULL);
		CHECK(strstr(d, "\"v\":[[42,42,17,7,10,20]]") != NULL);
		CHECK(strstr(d, "\"inline\":[]") == NULL);	/* "inl" is inlined into a */
		CHECK(strstr(d, "\"inline\":[3]") != NULL);
		/* the top table: every function, flat and cum */
		CHECK(strstr(d, "\"functions\":5") != NULL);
	}
	CHECK(st.frames == 6);
	free(page);
	profile_free(b.p);
}

static void test_escaping(void)
{
	static const char *nasty[] = {
		"</script><script>alert(1)</script>", "a<b>&amp\"q\"", "bad\xff\xfeutf8",
		"line\xe2\x80\xa8sep", "<!--", "ctl\x01\x1f",
	};
	struct builder b;
	b_init(&b, 1, (const char *[]){ "alloc_space" }, (const char *[]){ "bytes" });
	char stack[512];
	for (size_t i = 0; i < sizeof(nasty) / sizeof(nasty[0]); i++) {
		snprintf(stack, sizeof(stack), "main;%s", nasty[i]);
		b_sample(&b, stack, (int64_t[]){ 100 }, 0);
	}
	profile_add_comment(b.p, "command: ./x '</script>'");
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	o.title = "</title><b>x.pb.gz";
	int rc;
	char *page = build(b.p, &o, NULL, &rc);
	CHECK(rc == 0);
	char *d = page ? data_of(page) : NULL;
	CHECK(d != NULL);
	if (d) {
		/* the data ends at the template's own </script>: nothing in it
		 * can close the element or open a comment */
		CHECK(strchr(d, '<') == NULL);
		CHECK(strchr(d, '>') == NULL);
		CHECK(strstr(d, "\\u003c/script\\u003e\\u003cscript\\u003ealert(1)") != NULL);
		CHECK(strstr(d, "a\\u003cb\\u003e\\u0026amp\\\"q\\\"") != NULL);
		CHECK(strstr(d, "bad\\ufffd\\ufffdutf8") != NULL);
		CHECK(strstr(d, "line\\u2028sep") != NULL);
		CHECK(strstr(d, "ctl\\u0001\\u001f") != NULL);
		CHECK(strstr(d, "\\u003c/title\\u003e\\u003cb\\u003ex.pb.gz") != NULL);
	}
	free(page);
	profile_free(b.p);
}

static void test_other(void)
{
	struct builder b;
	b_init(&b, 1, (const char *[]){ "alloc_space" }, (const char *[]){ "bytes" });
	b_sample(&b, "main;big", (int64_t[]){ 1000000 }, 0);
	char stack[64];
	for (int i = 0; i < 300; i++) {
		snprintf(stack, sizeof(stack), "main;small%d;leaf%d", i, i);
		b_sample(&b, stack, (int64_t[]){ 10 }, 0);
	}
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	o.min_frame = 0.001;	/* 1003 B: every small one goes */
	struct html_report_stats st;
	int rc;
	char *page = build(b.p, &o, &st, &rc);
	CHECK(rc == 0);
	/* total, main, big, [other] */
	CHECK(st.frames == 4);
	char *d = page ? data_of(page) : NULL;
	CHECK(d && strstr(d, "\"v\":[[1003000,1003000,1000000,3000]]"));
	CHECK(d && strstr(d, "\"[other]\""));
	free(page);

	/* nothing merged at 0: every frame is there */
	o.min_frame = 0;
	page = build(b.p, &o, &st, &rc);
	CHECK(rc == 0 && st.frames == 3 + 600);
	free(page);

	/* over max_frames: the share doubles until the tree fits */
	o.max_frames = 100;
	page = build(b.p, &o, &st, &rc);
	CHECK(rc == 0 && st.frames <= 100 && st.min_frame > 0);
	free(page);
	profile_free(b.p);
}

static void test_depth(void)
{
	struct builder b;
	b_init(&b, 1, (const char *[]){ "alloc_space" }, (const char *[]){ "bytes" });
	/* one stack of 200 frames (the builder's limit is 256) */
	char stack[4096] = "main";
	for (int i = 0; i < 199; i++)
		snprintf(stack + strlen(stack), sizeof(stack) - strlen(stack), ";f%d", i);
	b_sample(&b, stack, (int64_t[]){ 64 }, 0);
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	o.max_depth = 50;
	struct html_report_stats st;
	int rc;
	char *page = build(b.p, &o, &st, &rc);
	CHECK(rc == 0 && st.frames == 51 && st.depth_cut);
	free(page);
	o.max_depth = 1024;
	page = build(b.p, &o, &st, &rc);
	CHECK(rc == 0 && st.frames == 201 && !st.depth_cut);
	free(page);
	profile_free(b.p);
}

static void test_base(void)
{
	struct builder b, c, g;
	b_init(&b, 4, types4, units4);
	b_sample(&b, "main;grow", (int64_t[]){ 1, 300, 1, 300 }, 10);
	b_sample(&b, "main;same", (int64_t[]){ 1, 100, 0, 0 }, 10);
	b_init(&c, 4, types4, units4);
	b_sample(&c, "main;same", (int64_t[]){ 1, 100, 0, 0 }, 11);
	b_sample(&c, "main;gone", (int64_t[]){ 1, 50, 1, 50 }, 11);
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	o.base = c.p;
	o.base_title = "old.pb.gz";
	int rc;
	char *page = build(b.p, &o, NULL, &rc);
	CHECK(rc == 0);
	char *d = page ? data_of(page) : NULL;
	if (d) {
		/* nodes: total, main, gone, grow, same; each side's values */
		CHECK(strstr(d, "\"parent\":[-1,0,1,1,1]") != NULL);
		CHECK(strstr(d, "\"v\":[[2,2,0,1,1],[400,400,0,300,100],[1,1,0,1,0],[300,300,0,300,0]]"));
		CHECK(strstr(d, "\"b\":[[2,2,1,0,1],[150,150,50,0,100],[1,1,1,0,0],[50,50,50,0,0]]"));
		/* --base: pprof's total of p minus the base (the pid labels
		 * differ: no sample cancels another) */
		CHECK(strstr(d, "\"pct_total\":[4,550,2,350]") != NULL);
		CHECK(strstr(d, "\"mode\":\"base\",\"totals\":[2,150,1,50]") != NULL);
		CHECK(strstr(d, "\"summary\":{") && strstr(d, "\"totals\":[2,400,1,300]"));
		/* the table: what memprof top --base prints (gone: -50) */
		CHECK(strstr(d, "\"flat\":[[0,1,1,-1,0],[0,300,100,-50,0],") ||
		      strstr(d, "-50"));
	}
	free(page);
	o.diff_base = true;
	page = build(b.p, &o, NULL, &rc);
	CHECK(rc == 0 && page && strstr(page, "\"pct_total\":[2,150,1,50]"));
	CHECK(page && strstr(page, "\"mode\":\"diff_base\""));
	free(page);

	/* a base of another kind, or with other sample types: pprof's reasons */
	b_init(&g, 1, (const char *[]){ "alloc_space" }, (const char *[]){ "bytes" });
	b_sample(&g, "main", (int64_t[]){ 1 }, 0);
	o.base = g.p;
	char msg[256], *out = NULL;
	size_t len;
	rc = html_report_build(b.p, &o, &out, &len, NULL, msg, sizeof(msg));
	CHECK(rc == -EINVAL && strstr(msg, "sample types differ"));
	g.p->period_type.type = profile_intern(g.p, "cpu");
	rc = html_report_build(b.p, &o, &out, &len, NULL, msg, sizeof(msg));
	CHECK(rc == -EINVAL && strstr(msg, "period types differ"));
	CHECK(out == NULL);
	profile_free(b.p);
	profile_free(c.p);
	profile_free(g.p);
}

/* Two processes over 3 s: the first holds 64 MiB at 1 s, frees it and holds
 * 32 MiB; the second starts at 1.5 s and holds up to 24 MiB. */
static struct timeline *demo_timeline(void)
{
	static struct timeline tl;
	static struct timeline_series s[2];
	static int64_t inuse[2][300], alloc[2][300], rss[2][300];
	const int64_t MiB = 1 << 20;
	for (int i = 0; i < 300; i++) {
		int64_t v = i <= 100 ? 64 * MiB * i / 100 : i < 120 ? 64 * MiB * (120 - i) / 20 : 0;
		if (i >= 130)
			v = 32 * MiB * (i < 160 ? i - 130 : 30) / 30;
		inuse[0][i] = v;
		alloc[0][i] = (i <= 100 ? 64 * MiB / 100 : 0) + (i >= 130 && i < 160 ? 32 * MiB / 30 : 0) +
			      100000;
		rss[0][i] = v + 6 * MiB;
	}
	for (int i = 0; i < 150; i++) {
		inuse[1][i] = 24 * MiB * (i < 50 ? i : 50) / 50;
		alloc[1][i] = i < 50 ? 24 * MiB / 50 : 5000;
		rss[1][i] = -1;
	}
	s[0] = (struct timeline_series){ 101, "/usr/bin/demo", 0, 300, inuse[0], alloc[0], rss[0],
					 64 * MiB, 1000 * 1000000LL };
	s[1] = (struct timeline_series){ 102, "/usr/bin/demo-child", 150, 150, inuse[1], alloc[1],
					 rss[1], 24 * MiB, 2000 * 1000000LL };
	tl = (struct timeline){ 1700000000LL * 1000000000, 10 * 1000000, 2, s };
	return &tl;
}

static void test_timeline(void)
{
	struct builder b;
	b_init(&b, 1, (const char *[]){ "alloc_space" }, (const char *[]){ "bytes" });
	b_sample(&b, "main", (int64_t[]){ 1 }, 0);
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	int rc;
	char *page = build(b.p, &o, NULL, &rc);
	CHECK(rc == 0 && page && strstr(page, "\"timeline\":null"));
	free(page);
	o.timeline = demo_timeline();
	page = build(b.p, &o, NULL, &rc);
	CHECK(rc == 0 && page);
	if (page) {
		CHECK(strstr(page, "\"interval_ns\":10000000,\"series\":[{\"pid\":101,"
				   "\"exe\":\"/usr/bin/demo\",\"first\":0,\"inuse\":[0,671088,"));
		CHECK(strstr(page, "\"peak_bytes\":67108864,\"peak_ns\":1000000000}"));
		CHECK(strstr(page, "\"rss\":[-1,-1,"));
	}
	free(page);
	profile_free(b.p);
}

const struct unit_test html_report_tests[] = {
	{ "html report: flame graph tree in preorder, inline frames", test_tree },
	{ "html report: names escaped for JSON inside a script element", test_escaping },
	{ "html report: small frames merged into [other], max_frames kept", test_other },
	{ "html report: stacks cut at max_depth", test_depth },
	{ "html report: base values, totals, incomparable bases", test_base },
	{ "html report: the heap over time", test_timeline },
	{ NULL, NULL },
};

/* test-unit report-demo OUT [BASE]: the page of a crafted profile (names
 * with markup, two processes, peak types, inline frames) with a
 * heap-over-time series, as memprof report writes it; with BASE, compared
 * with a second crafted profile. */
int report_demo(const char *out, bool with_base)
{
	static const char *types[] = { "alloc_objects", "alloc_space", "inuse_objects",
				       "inuse_space", "peak_objects", "peak_space" };
	static const char *units[] = { "count", "bytes", "count", "bytes", "count", "bytes" };
	struct builder b, c;
	b_init(&b, 6, types, units);
	const int64_t MiB = 1 << 20;
	b_sample(&b, "_start;main;load_config;parse</script><b>x", (int64_t[]){ 10, 4 * MiB, 0, 0, 10, 4 * MiB }, 101);
	b_sample(&b, "_start;main;build_index;std::vector<int, std::allocator<int> >::push_back",
		 (int64_t[]){ 64, 64 * MiB, 0, 0, 64, 64 * MiB }, 101);
	b_sample(&b, "_start;main;build_index;hash_insert+bucket_alloc",
		 (int64_t[]){ 100, 12 * MiB, 50, 6 * MiB, 0, 0 }, 101);
	b_sample(&b, "_start;main;serve;cache_put&evict", (int64_t[]){ 32, 32 * MiB, 32, 32 * MiB, 0, 0 }, 101);
	b_sample(&b, "_start;main;spawn_worker;worker_main;worker_alloc",
		 (int64_t[]){ 24, 24 * MiB, 0, 0, 24, 24 * MiB }, 102);
	b_sample(&b, "_start;main;serve;log_line", (int64_t[]){ 5000, 2 * MiB, 1, 4096, 10, 4096 }, 101);
	for (int i = 0; i < 40; i++) {
		char stack[128];
		snprintf(stack, sizeof(stack), "_start;main;serve;handler_%02d;alloc_%02d", i, i);
		b_sample(&b, stack, (int64_t[]){ 4, 256 * 1024 + i * 4096, 0, 0, 0, 0 }, 101);
	}
	profile_add_comment(b.p, "memprof 0.1.0");
	profile_add_comment(b.p, "command: ./demo --serve '<script>'");
	b.p->duration_nanos = 3000000000LL;
	b.p->time_nanos = 1700000003LL * 1000000000;
	b.p->default_sample_type = profile_intern(b.p, "alloc_space");
	if (with_base) {
		b_init(&c, 6, types, units);
		b_sample(&c, "_start;main;load_config;parse</script><b>x",
			 (int64_t[]){ 10, 4 * MiB, 0, 0, 10, 4 * MiB }, 90);
		b_sample(&c, "_start;main;build_index;std::vector<int, std::allocator<int> >::push_back",
			 (int64_t[]){ 32, 32 * MiB, 0, 0, 32, 32 * MiB }, 90);
		b_sample(&c, "_start;main;serve;old_cache_put",
			 (int64_t[]){ 40, 40 * MiB, 40, 40 * MiB, 40, 40 * MiB }, 90);
	}
	struct html_report_options o = HTML_REPORT_OPTIONS_INIT;
	o.title = "demo</title>.pb.gz";
	o.sample_index = 1;
	o.timeline = demo_timeline();
	o.base = with_base ? c.p : NULL;
	o.base_title = "base.pb.gz";
	char *page = NULL, msg[256];
	size_t len;
	int rc = html_report_build(b.p, &o, &page, &len, NULL, msg, sizeof(msg));
	if (rc == 0 && (rc = output_write(out, page, len)) < 0)
		snprintf(msg, sizeof(msg), "%s", strerror(-rc));
	if (rc < 0)
		fprintf(stderr, "report-demo: %s: %s\n", out, msg);
	free(page);
	profile_free(b.p);
	if (with_base)
		profile_free(c.p);
	return rc < 0;
}
