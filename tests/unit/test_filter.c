/* test_filter.c - RE2's dialect on PCRE2 (verdicts recorded from Go 1.19's
 * regexp package) and pprof's frame filters on a small profile. */
#include <errno.h>
#include <string.h>

#include "harness.h"
#include "lib/filter.h"
#include "lib/profile.h"
#include "lib/regex.h"

static void test_regex_dialect(void)
{
	/* pattern, text, what Go's regexp says: 1 match, 0 none, -1 refused */
	static const struct {
		const char *pattern, *text;
		int want;
	} cases[] = {
		{ "main", "main.foo", 1 },
		{ "(?i)MAIN", "main.foo", 1 },
		{ "\\d+", "a1", 1 },
		{ "\\d", "abc", 0 },
		{ "^main\\.", "main.foo", 1 },
		{ "^main\\.", "xmain.foo", 0 },
		{ "foo$", "main.foo", 1 },
		{ "foo$", "foox", 0 },
		{ "\\Qa.b\\E", "a.b", 1 },
		{ "\\Qa.b\\E", "axb", 0 },
		{ "\\Qa.b", "a.b", 1 },
		{ "\\bfoo\\b", "main.foo", 1 },
		{ "\\bfoo\\b", "mainfoo", 0 },
		{ "a**", "a", -1 },
		{ "a*+", "a", -1 },
		{ "a*?", "", 1 },
		{ "a{1001}", "a", -1 },
		{ "a{2,1}", "a", -1 },
		{ "x{,3}", "x{,3}", 1 },
		{ "a{", "a{", 1 },
		{ "\\1", "a", -1 },
		{ "(a)\\1", "aa", -1 },
		{ "\\10", "\x08""", 1 },
		{ "\\8", "8", -1 },
		{ "(?=a)", "a", -1 },
		{ "(?<=a)b", "ab", -1 },
		{ "(?>a)", "a", -1 },
		{ "(?P<n>a)", "a", 1 },
		{ "(?<n>a)", "a", -1 },
		{ "(?)", "x", 1 },
		{ "(?i-)", "x", -1 },
		{ "(?x)a", "a", -1 },
		{ "\\pL", "\xc3""\xa9""", 1 },
		{ "\\p{Greek}", "\xce""\xa9""", 1 },
		{ "\\p{Foo}", "a", -1 },
		{ "[[:alpha:]]", "1a", 1 },
		{ "[[:foo:]]", "a", -1 },
		{ "[\\b]", "\x08""", -1 },
		{ "[\\Q]", "Q", -1 },
		{ "[]a]", "]", 1 },
		{ "[z-a]", "a", -1 },
		{ "\\C", "a", -1 },
		{ "\\Z", "a", -1 },
		{ "\\z", "a", 1 },
		{ "\\K", "a", -1 },
		{ "\\s", "\x0b""", 0 },
		{ "\\S", "\x0b""", 1 },
		{ "[^\\S]", "\x0b""", 0 },
		{ "\\v", "\x0b""", 1 },
		{ "*a", "a", -1 },
		{ "(*FAIL)", "a", -1 },
		{ "^*", "a", 1 },
		{ "\\b*", "a", 1 },
		{ "a(?i)*", "aa", 1 },
		{ "(?i)\xc3""\x89""", "\xc3""\xa9""", 1 },
		{ "\\W", "\xc3""\xa9""", 1 },
		{ "\\w", "\xc3""\xa9""", 0 },
		{ "[\xc3""\xa9""-\xc3""\xab""]", "\xc3""\xaa""", 1 },
		{ "a\\", "a", -1 },
		{ "std::vector<", "std::vector<int>", 1 },
		{ "operator\\(\\)", "operator()", 1 },
		/* hex escapes (lib/hex.h reads the digits) */
		{ "\\x41", "A", 1 },
		{ "\\x41", "a", 0 },
		{ "\\x4a", "J", 1 },
		{ "\\x4A", "J", 1 },
		{ "[\\x41-\\x43]", "B", 1 },
		{ "\\x{41}", "A", 1 },
		{ "\\x{00E9}", "\xc3""\xa9""", 1 },
		{ "\\x{0000000041}", "A", 1 },
		{ "\\x{10FFFF}", "\xf4""\x8f""\xbf""\xbf""", 1 },
		{ "\\x{110000}", "a", -1 },
		{ "\\x{}", "a", -1 },
		{ "\\x{41", "A", -1 },
		{ "\\xg1", "g1", -1 },
		{ "\\x4", "a", -1 },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char msg[256];
		struct regex *re = regex_compile(cases[i].pattern, msg, sizeof(msg));
		int got = re ? regex_match(re, cases[i].text) : -1;
		if (got != cases[i].want) {
			fprintf(stderr, "    pattern '%s' on '%s': got %d, want %d (%s)\n",
				cases[i].pattern, cases[i].text, got, cases[i].want, re ? "" : msg);
			harness_failures++;
		}
		regex_free(re);
	}
}

/* A profile with functions A (root), B, C and D and one sample
 * [A, B, C, B, D] (D the leaf), and one with an inlined pair: a location
 * holding E inlined into F. */
static struct profile *chain(void)
{
	static const char *const names[] = { "A", "B", "C", "D", "E", "F" };
	struct profile *p = profile_new();
	const char *types[] = { "alloc_space" }, *units[] = { "bytes" };
	CHECK(p && profile_set_sample_types(p, 1, types, units) == 0);
	struct profile_function *f[6];
	struct profile_location *l[6];
	for (int i = 0; i < 6; i++) {
		f[i] = profile_add_function(p, (uint64_t)i + 1);
		f[i]->name = profile_intern(p, names[i]);
		f[i]->filename = profile_intern(p, "x.c");
	}
	for (int i = 0; i < 4; i++) {
		l[i] = profile_add_location(p, (uint64_t)i + 1, 1);
		l[i]->line[0].function = f[i];
		l[i]->line[0].line = 10 + i;
	}
	l[4] = profile_add_location(p, 5, 2);	/* E inlined into F */
	l[4]->line[0].function = f[4];
	l[4]->line[1].function = f[5];
	struct profile_sample *s = profile_add_sample(p, 5, 0);
	struct profile_location *stack[] = { l[3], l[1], l[2], l[1], l[0] };	/* leaf first */
	memcpy(s->location, stack, sizeof(stack));
	s->value[0] = 100;
	s = profile_add_sample(p, 2, 0);
	s->location[0] = l[4];
	s->location[1] = l[0];
	s->value[0] = 7;
	s = profile_add_sample(p, 0, 0);	/* no stack: pprof's filters drop it */
	s->value[0] = 1;
	return p;
}

/* The sample's stack, root first: "A B C B D". */
static void stack_of(const struct profile_sample *s, char *buf, size_t size)
{
	size_t at = 0;
	buf[0] = '\0';
	for (size_t i = s->n_location; i-- > 0;) {
		const struct profile_location *l = s->location[i];
		for (size_t j = l->n_line; j-- > 0;)
			at += (size_t)snprintf(buf + at, size - at, "%s%s", at ? " " : "",
					       l->line[j].function->name);
	}
}

static void check_filter(struct filter_options f, const char *want0, const char *want1,
			 unsigned want_unmatched)
{
	struct profile *p = chain();
	char msg[256], got[128];
	unsigned unmatched = 0;
	CHECK(profile_filter(p, &f, &unmatched, msg, sizeof(msg)) == 0);
	CHECK(unmatched == want_unmatched);
	size_t n = 0;
	const char *want[] = { want0, want1 };
	for (size_t i = 0; i < 2; i++)
		if (want[i]) {
			CHECK(n < p->n_sample);
			if (n < p->n_sample) {
				stack_of(&p->sample[n++], got, sizeof(got));
				CHECK_STR(got, want[i]);
			}
		}
	CHECK(p->n_sample == n);
	profile_free(p);
}

static void test_filters(void)
{
	struct filter_options none = { 0 };
	check_filter(none, "A B C B D", "A F E", 0);
	/* pprof's ShowFrom and PruneFrom examples */
	check_filter((struct filter_options){ .show_from = "^A$" }, "A B C B D", "A F E", 0);
	check_filter((struct filter_options){ .show_from = "^B$" }, "B C B D", NULL, 0);
	check_filter((struct filter_options){ .show_from = "^C$" }, "C B D", NULL, 0);
	check_filter((struct filter_options){ .show_from = "^Z$" }, NULL, NULL, FILTER_SHOW_FROM);
	check_filter((struct filter_options){ .show_from = "^F$" }, NULL, "F E", 0);
	check_filter((struct filter_options){ .prune_from = "^B$" }, "A B C B", "A F E", 0);
	check_filter((struct filter_options){ .prune_from = "^A$" }, "A", "A", 0);
	check_filter((struct filter_options){ .prune_from = "^E$" }, "A B C B D", "A F E", 0);
	check_filter((struct filter_options){ .focus = "C" }, "A B C B D", NULL, 0);
	check_filter((struct filter_options){ .focus = "E" }, NULL, "A F E", 0);
	check_filter((struct filter_options){ .ignore = "^[CF]$" }, NULL, NULL, 0);
	check_filter((struct filter_options){ .hide = "^B$" }, "A C D", "A F E", 0);
	check_filter((struct filter_options){ .hide = "^E$" }, "A B C B D", "A F", 0);
	check_filter((struct filter_options){ .show = "^[BE]$" }, "B B", "E", 0);
	check_filter((struct filter_options){ .focus = "Z", .hide = "Y" }, NULL, NULL,
		     FILTER_FOCUS | FILTER_HIDE);
	check_filter((struct filter_options){ .focus = "x\\.c" }, "A B C B D", "A F E", 0);
}

static void test_filter_errors(void)
{
	char msg[256];
	unsigned unmatched;
	struct profile *p = chain();
	struct filter_options f = { .hide = "a**" };
	CHECK(profile_filter(p, &f, &unmatched, msg, sizeof(msg)) == -EINVAL);
	CHECK(strstr(msg, "-hide") != NULL);
	f = (struct filter_options){ .tagfocus = "bytes=1:99999999999999999999" };
	CHECK(profile_filter(p, &f, &unmatched, msg, sizeof(msg)) == -EINVAL);
	CHECK(strstr(msg, "-tagfocus") != NULL);
	CHECK(p->n_sample == 3);	/* untouched */
	profile_free(p);
}

/* Samples may share their label array (profile_add_sample_shared, as
 * the collector makes them): -tagshow gives each its own. */
static void test_tagshow_shared_labels(void)
{
	struct profile *p = profile_new();
	const char *type[] = { "alloc_space" }, *unit[] = { "bytes" };
	CHECK(p && profile_set_sample_types(p, 1, type, unit) == 0);
	struct profile_function *fn = p ? profile_add_function(p, 1) : NULL;
	struct profile_location *loc = p ? profile_add_location(p, 1, 1) : NULL;
	struct profile_label *l = p ? arena_calloc(&p->arena, 2, sizeof(*l)) : NULL;
	CHECK(fn && loc && l);
	if (!fn || !loc || !l) {
		profile_free(p);
		return;
	}
	fn->name = "f";
	loc->line[0].function = fn;
	l[0] = (struct profile_label){ "a", "1", 0, "" };
	l[1] = (struct profile_label){ "b", "x", 0, "" };
	for (int i = 0; i < 3; i++) {
		struct profile_sample *s = profile_add_sample_shared(p, 1, l, 2);
		CHECK(s != NULL);
		if (s) {
			s->location[0] = loc;
			s->value[0] = 10 + i;
		}
	}
	struct filter_options fo = { .tagshow = "^b$" };
	char msg[256];
	unsigned unmatched = 0;
	CHECK(profile_filter(p, &fo, &unmatched, msg, sizeof(msg)) == 0);
	CHECK(p->n_sample == 3);
	for (size_t i = 0; i < p->n_sample; i++)
		CHECK(p->sample[i].n_label == 1 && !strcmp(p->sample[i].label[0].key, "b") &&
		      !strcmp(p->sample[i].label[0].str, "x"));
	CHECK(!strcmp(l[0].key, "a") && !strcmp(l[1].key, "b"));	/* the shared one unchanged */
	profile_free(p);
}

const struct unit_test filter_tests[] = {
	{ "filter: tagshow on samples that share their labels", test_tagshow_shared_labels },
	{ "regex: RE2's dialect (Go's verdicts)", test_regex_dialect },
	{ "filter: focus, ignore, hide, show, show_from, prune_from", test_filters },
	{ "filter: a bad option is refused, the profile untouched", test_filter_errors },
	{ NULL, NULL },
};
