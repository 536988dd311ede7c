/* test_leaks.c - LeakSanitizer's suppression patterns and file format, and
 * the leak report's merging, suppression and order on a built profile. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "lib/leaks.h"
#include "lib/profile.h"

#define MATCH(p, s) CHECK(leak_pattern_match(p, s))
#define NO_MATCH(p, s) CHECK(!leak_pattern_match(p, s))

static void test_pattern_substring(void)
{
	MATCH("leak_here", "leak_here");
	MATCH("leak", "leak_here");
	MATCH("here", "leak_here");
	MATCH("k_h", "leak_here");
	NO_MATCH("leak_there", "leak_here");
	NO_MATCH("Leak", "leak_here");		/* case matters */
	MATCH("libstdc++", "/usr/lib/x86_64-linux-gnu/libstdc++.so.6");
	MATCH("x", "x");
	NO_MATCH("xx", "x");
	/* an empty string (no file, no name) matches nothing, as in LSan */
	NO_MATCH("x", "");
	NO_MATCH("*", "");
	NO_MATCH("^", "");
	NO_MATCH("", "");
	MATCH("", "anything");			/* LSan's rule; the parser refuses "leak:" */
}

static void test_pattern_star(void)
{
	MATCH("*", "a");
	MATCH("_dl_*", "_dl_init");
	MATCH("_dl_*", "__GI__dl_allocate_tls");
	NO_MATCH("_dl_*", "dl_open_worker");
	MATCH("a*c", "abc");
	MATCH("a*c", "ac");
	MATCH("a*c", "xxaYYYcxx");
	NO_MATCH("a*c", "ca");
	MATCH("a*b*c", "a1b2c");
	NO_MATCH("a*b*c", "a1c2b");
	MATCH("**", "z");
	MATCH("std::*::push_back", "std::vector::push_back");
	NO_MATCH("std::*::push_back", "std::vector::pop_back");
}

static void test_pattern_anchors(void)
{
	MATCH("^leak", "leak_here");
	NO_MATCH("^leak", "a_leak_here");
	MATCH("here$", "leak_here");
	NO_MATCH("here$", "here_leak");
	MATCH("^leak_here$", "leak_here");
	NO_MATCH("^leak_here$", "leak_here2");
	NO_MATCH("^leak_here$", "_leak_here");
	MATCH("^", "x");			/* nothing left after the anchor */
	NO_MATCH("$", "x");			/* LSan: the end at once */
	MATCH("*$", "x");
	MATCH("^*x", "abx");			/* '*' lifts the start anchor */
	MATCH("^a*c$", "abc");
	NO_MATCH("^a*c$", "abcd");
	NO_MATCH("^a*c$", "xabc");
	MATCH("a*$", "abc");			/* '$' right after '*': anything */
	/* the end anchor finds the last occurrence (LSan's leftmost search
	 * misses it: memprof matches where the pattern can) */
	MATCH("foo$", "foofoo");
	MATCH("^foo*foo$", "foofoo");
	NO_MATCH("^foo*foo$", "foo");		/* the two may not overlap */
	MATCH("a*bc$", "abcbc");
	/* LSan ignores what follows a '$' */
	MATCH("c$zz", "abc");
	NO_MATCH("c$zz", "abcd");
	MATCH("^^x", "^x");			/* only the first '^' anchors */
	MATCH("a^b", "a^b");
	MATCH(".so.6", "libstdc++.so.6");	/* '.' is no wildcard */
	NO_MATCH(".so.6", "libstdc++xso.6");
}

static struct leak_suppressions *parsed(const char *text, int *rc, struct leak_error *err)
{
	struct leak_suppressions *s = leak_suppressions_new();
	*rc = leak_suppressions_parse(s, "supp.txt", text, strlen(text), err);
	return s;
}

static void test_parse(void)
{
	struct leak_error err;
	int rc;
	struct leak_suppressions *s = parsed("# comment\n\n  leak:foo  \r\n\tleak:bar\nleak: baz\n"
					     "   # indented comment\nleak:*", &rc, &err);
	CHECK(rc == 0);
	leak_suppressions_free(s);

	s = parsed("leak:ok\n\nrace:foo\n", &rc, &err);
	CHECK(rc == -EINVAL);
	CHECK(err.line == 3);
	CHECK(strstr(err.msg, "expected \"leak:PATTERN\"") != NULL);
	leak_suppressions_free(s);

	s = parsed("leak:ok\nleak:\n", &rc, &err);
	CHECK(rc == -EINVAL);
	CHECK(err.line == 2);
	CHECK(strstr(err.msg, "empty pattern") != NULL);
	leak_suppressions_free(s);

	s = parsed("leak:ok\nleak:   \t\n", &rc, &err);	/* blank after trimming */
	CHECK(rc == -EINVAL && err.line == 2);
	leak_suppressions_free(s);

	s = parsed("leak\n", &rc, &err);
	CHECK(rc == -EINVAL && err.line == 1);
	leak_suppressions_free(s);

	s = parsed("leakfoo\n", &rc, &err);
	CHECK(rc == -EINVAL && err.line == 1);
	leak_suppressions_free(s);

	s = parsed("", &rc, &err);		/* an empty file is fine */
	CHECK(rc == 0);
	leak_suppressions_free(s);

	s = leak_suppressions_new();
	rc = leak_suppressions_parse(s, "bin", "leak:a\0b", 8, &err);
	CHECK(rc == -EINVAL && err.line == 0);
	CHECK(strstr(err.msg, "NUL") != NULL);
	leak_suppressions_free(s);
}

static void test_defaults_parse(void)
{
	struct leak_error err;
	struct leak_suppressions *s = leak_suppressions_new();
	CHECK(leak_suppressions_parse(s, "default", leak_default_suppressions,
				      strlen(leak_default_suppressions), &err) == 0);
	leak_suppressions_free(s);
	CHECK(strstr(leak_default_suppressions, "leak:_IO_file_doallocate\n") != NULL);
	CHECK(strstr(leak_default_suppressions, "leak:_dl_*\n") != NULL);
}

static void test_read_errors(void)
{
	struct leak_error err;
	struct leak_suppressions *s = leak_suppressions_new();
	CHECK(leak_suppressions_read(s, "/nonexistent/supp.txt", &err) == -ENOENT);
	CHECK(err.line == 0);
	CHECK(leak_suppressions_read(s, "/", &err) == -EISDIR);
	char path[] = "/tmp/memprof-unit-supp.XXXXXX";
	int fd = mkstemp(path);
	CHECK(fd >= 0);
	if (fd >= 0) {
		const char text[] = "leak:a\n# b\nleak:c\nnot a line\n";
		CHECK(write(fd, text, sizeof(text) - 1) == (ssize_t)sizeof(text) - 1);
		close(fd);
		CHECK(leak_suppressions_read(s, path, &err) == -EINVAL);
		CHECK(err.line == 4);
		unlink(path);
	}
	leak_suppressions_free(s);
}

/* A profile with sample types (alloc_space, inuse_space, inuse_objects):
 * inuse found by name, not position. */
static struct profile *small_profile(void)
{
	static const char *types[] = { "alloc_space", "inuse_space", "inuse_objects" };
	static const char *units[] = { "bytes", "bytes", "count" };
	struct profile *p = profile_new();
	CHECK(profile_set_sample_types(p, 3, types, units) == 0);
	p->period = 1;
	struct profile_mapping *m = profile_add_mapping(p, 1);
	m->filename = profile_intern(p, "/usr/lib/libfoo.so.1");
	const char *names[] = { "leaker", "main", "helper", "inlined_one" };
	const char *files[] = { "a.c", "a.c", "b.c", "c.h" };
	struct profile_function *f[4];
	for (int i = 0; i < 4; i++) {
		f[i] = profile_add_function(p, (uint64_t)i + 1);
		f[i]->name = profile_intern(p, names[i]);
		f[i]->system_name = f[i]->name;
		f[i]->filename = profile_intern(p, files[i]);
	}
	/* locations: 1 leaker, 2 main, 3 helper (in libfoo), 4 inlined_one inlined into main */
	struct profile_location *l[4];
	for (int i = 0; i < 3; i++) {
		l[i] = profile_add_location(p, (uint64_t)i + 1, 1);
		l[i]->address = 0x1000 * ((uint64_t)i + 1);
		l[i]->line[0].function = f[i];
		l[i]->line[0].line = 10 + i;
	}
	l[2]->mapping = m;
	l[3] = profile_add_location(p, 4, 2);
	l[3]->address = 0x4000;
	l[3]->line[0].function = f[3];
	l[3]->line[1].function = f[1];
	struct { int locs[3]; int n; int64_t inuse, objects; } samples[] = {
		{ { 0, 1 }, 2, 100, 1 },	/* leaker < main */
		{ { 0, 1 }, 2, 300, 3 },	/* same stack, another size: merged */
		{ { 2, 1 }, 2, 250, 5 },	/* helper (libfoo) < main */
		{ { 3 }, 1, 50, 1 },		/* inlined_one (c.h) in main */
		{ { 1 }, 1, 0, 0 },		/* nothing in use */
	};
	for (size_t i = 0; i < sizeof(samples) / sizeof(samples[0]); i++) {
		struct profile_sample *s = profile_add_sample(p, (size_t)samples[i].n, 0);
		for (int k = 0; k < samples[i].n; k++)
			s->location[k] = l[samples[i].locs[k]];
		s->value[0] = 1000;
		s->value[1] = samples[i].inuse;
		s->value[2] = samples[i].objects;
	}
	return p;
}

static int64_t report_with(const struct profile *p, const char *supp, size_t *n_stack,
			   int64_t *suppressed)
{
	struct leak_error err;
	struct leak_suppressions *s = leak_suppressions_new();
	CHECK(leak_suppressions_parse(s, "t", supp, strlen(supp), &err) == 0);
	struct leak_report r;
	CHECK(leaks_find(p, s, &r) == 0);
	int64_t b = r.bytes;
	*n_stack = r.n_stack;
	*suppressed = r.suppressed_bytes;
	leak_report_release(&r);
	leak_suppressions_free(s);
	return b;
}

static void test_report(void)
{
	struct profile *p = small_profile();
	struct leak_report r;
	CHECK(leaks_find(p, NULL, &r) == 0);
	CHECK(r.n_stack == 3);
	CHECK(r.bytes == 700 && r.objects == 10);
	CHECK(r.n_stack == 3 && r.stack[0].bytes == 400 && r.stack[0].objects == 4);
	CHECK(r.n_stack == 3 && r.stack[1].bytes == 250 && r.stack[2].bytes == 50);
	CHECK(!r.at_exit);			/* no "memprof" comment */
	CHECK(leaks_over(&r, 0) && leaks_over(&r, 699) && !leaks_over(&r, 700));
	char *buf = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&buf, &len);
	struct leak_print_options o = { 0, 0, false };
	leak_report_print(f, &r, &o);
	fclose(f);
	CHECK(strstr(buf, "In use: 400 byte(s) in 4 object(s) allocated from:\n"
			  "    #0 0x1000 in leaker a.c:10\n"
			  "    #1 0x2000 in main a.c:11\n") != NULL);
	CHECK(strstr(buf, "    #0 0x4000 in inlined_one c.h\n"
			  "    #1 0x4000 in main a.c\n") != NULL);
	CHECK(strstr(buf, "SUMMARY: memprof: 700 byte(s) in use in 10 allocation(s).\n") != NULL);
	free(buf);
	leak_report_release(&r);

	size_t n;
	int64_t sup;
	CHECK(report_with(p, "leak:leaker", &n, &sup) == 300 && n == 2 && sup == 400);
	CHECK(report_with(p, "leak:b.c", &n, &sup) == 450 && n == 2);	/* source file */
	CHECK(report_with(p, "leak:libfoo.so", &n, &sup) == 450);	/* mapping */
	CHECK(report_with(p, "leak:c.h", &n, &sup) == 650);		/* an inlined frame's file */
	CHECK(report_with(p, "leak:^main$", &n, &sup) == 0 && n == 0 && sup == 700);
	CHECK(report_with(p, "leak:^mai$", &n, &sup) == 700 && sup == 0);
	CHECK(report_with(p, "# nothing\n", &n, &sup) == 700);
	profile_free(p);
}

static void test_report_needs_inuse(void)
{
	static const char *types[] = { "samples", "cpu" };
	static const char *units[] = { "count", "nanoseconds" };
	struct profile *p = profile_new();
	CHECK(profile_set_sample_types(p, 2, types, units) == 0);
	struct leak_report r;
	CHECK(leaks_find(p, NULL, &r) == -ENOENT);
	profile_free(p);
}

const struct unit_test leaks_tests[] = {
	{ "leak pattern: substring", test_pattern_substring },
	{ "leak pattern: '*'", test_pattern_star },
	{ "leak pattern: '^' and '$'", test_pattern_anchors },
	{ "suppressions: LSan's file format, errors with their line", test_parse },
	{ "suppressions: the defaults parse", test_defaults_parse },
	{ "suppressions: unreadable and malformed files", test_read_errors },
	{ "leak report: merged by stack, largest first, suppressed in any frame", test_report },
	{ "leak report: a profile without inuse_space", test_report_needs_inuse },
	{ NULL, NULL },
};
