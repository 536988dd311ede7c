/* test_tabwriter.c - lib/tabwriter.c against Go's text/tabwriter: each
 * expected output below was printed by Go 1.19 for the same input
 * (NewWriter(buf, 2, 0, padding, '.', flags)). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/tabwriter.h"

static const struct {
	const char *in;
	bool align_right;
	int padding;
	const char *want;
} cases[] = {
	{ "a:\t Total 1.0kB\n \t1.0kB (100%):\t x\n\n", false, 0, "a: Total 1.0kB\n .1.0kB (100%): x\n\n" },
	{ "a:\t Total 1.0kB\n \t1.0kB (100%):\t x\n\n", false, 1, "a:. Total 1.0kB\n ..1.0kB (100%):. x\n\n" },
	{ "a:\t Total 1.0kB\n \t1.0kB (100%):\t x\n\n", false, 3, "a:... Total 1.0kB\n ....1.0kB (100%):... x\n\n" },
	{ "a:\t Total 1.0kB\n \t1.0kB (100%):\t x\n\n", true, 0, "a: Total 1.0kB\n. 1.0kB (100%): x\n\n" },
	{ "a:\t Total 1.0kB\n \t1.0kB (100%):\t x\n\n", true, 1, ".a: Total 1.0kB\n.. .1.0kB (100%): x\n\n" },
	{ "a:\t Total 1.0kB\n \t1.0kB (100%):\t x\n\n", true, 3, "...a: Total 1.0kB\n.... ...1.0kB (100%): x\n\n" },
	{ "key:\t Total 3\n \t1.0 (33%):\t a\n \t2.0 (66.67%):\t bb\n\nk2:\t Total 1\n \t1.0:\t c\n\n", false, 0, "key: Total 3\n ...1.0 (33%):... a\n ...2.0 (66.67%): bb\n\nk2: Total 1\n ..1.0: c\n\n" },
	{ "key:\t Total 3\n \t1.0 (33%):\t a\n \t2.0 (66.67%):\t bb\n\nk2:\t Total 1\n \t1.0:\t c\n\n", false, 1, "key:. Total 3\n ....1.0 (33%):.... a\n ....2.0 (66.67%):. bb\n\nk2:. Total 1\n ...1.0:. c\n\n" },
	{ "key:\t Total 3\n \t1.0 (33%):\t a\n \t2.0 (66.67%):\t bb\n\nk2:\t Total 1\n \t1.0:\t c\n\n", false, 3, "key:... Total 3\n ......1.0 (33%):...... a\n ......2.0 (66.67%):... bb\n\nk2:... Total 1\n .....1.0:... c\n\n" },
	{ "key:\t Total 3\n \t1.0 (33%):\t a\n \t2.0 (66.67%):\t bb\n\nk2:\t Total 1\n \t1.0:\t c\n\n", true, 0, "key: Total 3\n... ...1.0 (33%): a\n... 2.0 (66.67%): bb\n\nk2: Total 1\n.. 1.0: c\n\n" },
	{ "key:\t Total 3\n \t1.0 (33%):\t a\n \t2.0 (66.67%):\t bb\n\nk2:\t Total 1\n \t1.0:\t c\n\n", true, 1, ".key: Total 3\n.... ....1.0 (33%): a\n.... .2.0 (66.67%): bb\n\n.k2: Total 1\n... .1.0: c\n\n" },
	{ "key:\t Total 3\n \t1.0 (33%):\t a\n \t2.0 (66.67%):\t bb\n\nk2:\t Total 1\n \t1.0:\t c\n\n", true, 3, "...key: Total 3\n...... ......1.0 (33%): a\n...... ...2.0 (66.67%): bb\n\n...k2: Total 1\n..... ...1.0: c\n\n" },
	{ "a\tb\tc\nxx\ty\n\nlong cell\tz\n", false, 0, "a.b.c\nxxy\n\nlong cellz\n" },
	{ "a\tb\tc\nxx\ty\n\nlong cell\tz\n", false, 1, "a..b.c\nxx.y\n\nlong cell.z\n" },
	{ "a\tb\tc\nxx\ty\n\nlong cell\tz\n", false, 3, "a....b...c\nxx...y\n\nlong cell...z\n" },
	{ "a\tb\tc\nxx\ty\n\nlong cell\tz\n", true, 0, ".a.bc\nxxy\n\nlong cellz\n" },
	{ "a\tb\tc\nxx\ty\n\nlong cell\tz\n", true, 1, "..a.bc\n.xxy\n\n.long cellz\n" },
	{ "a\tb\tc\nxx\ty\n\nlong cell\tz\n", true, 3, "....a...bc\n...xxy\n\n...long cellz\n" },
	{ "a\tb\nno tabs here\ncc\tdd\n", false, 0, "a.b\nno tabs here\nccdd\n" },
	{ "a\tb\nno tabs here\ncc\tdd\n", false, 1, "a.b\nno tabs here\ncc.dd\n" },
	{ "a\tb\nno tabs here\ncc\tdd\n", false, 3, "a...b\nno tabs here\ncc...dd\n" },
	{ "a\tb\nno tabs here\ncc\tdd\n", true, 0, ".ab\nno tabs here\nccdd\n" },
	{ "a\tb\nno tabs here\ncc\tdd\n", true, 1, ".ab\nno tabs here\n.ccdd\n" },
	{ "a\tb\nno tabs here\ncc\tdd\n", true, 3, "...ab\nno tabs here\n...ccdd\n" },
	{ "x\t\ty\n\t\t\n1\t22\t333\n", false, 0, "x...y\n....\n1.22333\n" },
	{ "x\t\ty\n\t\t\n1\t22\t333\n", false, 1, "x....y\n.....\n1.22.333\n" },
	{ "x\t\ty\n\t\t\n1\t22\t333\n", false, 3, "x........y\n.........\n1...22...333\n" },
	{ "x\t\ty\n\t\t\n1\t22\t333\n", true, 0, ".x..y\n....\n.122333\n" },
	{ "x\t\ty\n\t\t\n1\t22\t333\n", true, 1, ".x...y\n.....\n.1.22333\n" },
	{ "x\t\ty\n\t\t\n1\t22\t333\n", true, 3, "...x.....y\n.........\n...1...22333\n" },
	{ "größe:\tv\n名前:\tw\n", false, 0, "größe:v\n名前:...w\n" },
	{ "größe:\tv\n名前:\tw\n", false, 1, "größe:.v\n名前:....w\n" },
	{ "größe:\tv\n名前:\tw\n", false, 3, "größe:...v\n名前:......w\n" },
	{ "größe:\tv\n名前:\tw\n", true, 0, "größe:v\n...名前:w\n" },
	{ "größe:\tv\n名前:\tw\n", true, 1, ".größe:v\n....名前:w\n" },
	{ "größe:\tv\n名前:\tw\n", true, 3, "...größe:v\n......名前:w\n" },
	{ "\xff\tab\xff\tz\n\xff" "a\xff\tb\n", false, 0, "\xff\tab\xffz\n\xff" "a\xff..b\n" },
	{ "\xff\tab\xff\tz\n\xff" "a\xff\tb\n", false, 1, "\xff\tab\xff.z\n\xff" "a\xff...b\n" },
	{ "\xff\tab\xff\tz\n\xff" "a\xff\tb\n", false, 3, "\xff\tab\xff...z\n\xff" "a\xff.....b\n" },
	{ "\xff\tab\xff\tz\n\xff" "a\xff\tb\n", true, 0, "\xff\tab\xffz\n..\xff" "a\xff" "b\n" },
	{ "\xff\tab\xff\tz\n\xff" "a\xff\tb\n", true, 1, ".\xff\tab\xffz\n...\xff" "a\xff" "b\n" },
	{ "\xff\tab\xff\tz\n\xff" "a\xff\tb\n", true, 3, "...\xff\tab\xffz\n.....\xff" "a\xff" "b\n" },
	{ "a\vb\vc\nd\ve\n", false, 0, "a.b.c\nd.e\n" },
	{ "a\vb\vc\nd\ve\n", false, 1, "a.b.c\nd.e\n" },
	{ "a\vb\vc\nd\ve\n", false, 3, "a...b...c\nd...e\n" },
	{ "a\vb\vc\nd\ve\n", true, 0, ".a.bc\n.de\n" },
	{ "a\vb\vc\nd\ve\n", true, 1, ".a.bc\n.de\n" },
	{ "a\vb\vc\nd\ve\n", true, 3, "...a...bc\n...de\n" },
	{ "a\tb\fcc\tdd\n", false, 0, "a.b\nccdd\n" },
	{ "a\tb\fcc\tdd\n", false, 1, "a.b\ncc.dd\n" },
	{ "a\tb\fcc\tdd\n", false, 3, "a...b\ncc...dd\n" },
	{ "a\tb\fcc\tdd\n", true, 0, ".ab\nccdd\n" },
	{ "a\tb\fcc\tdd\n", true, 1, ".ab\n.ccdd\n" },
	{ "a\tb\fcc\tdd\n", true, 3, "...ab\n...ccdd\n" },
	{ "tail\twithout newline", false, 0, "tailwithout newline" },
	{ "tail\twithout newline", false, 1, "tail.without newline" },
	{ "tail\twithout newline", false, 3, "tail...without newline" },
	{ "tail\twithout newline", true, 0, "tailwithout newline" },
	{ "tail\twithout newline", true, 1, ".tailwithout newline" },
	{ "tail\twithout newline", true, 3, "...tailwithout newline" },
	{ "bad\x80\xc3\tutf8\n\xe2\x82\tx\n", false, 0, "bad\x80\xc3utf8\n\xe2\x82...x\n" },
	{ "bad\x80\xc3\tutf8\n\xe2\x82\tx\n", false, 1, "bad\x80\xc3.utf8\n\xe2\x82....x\n" },
	{ "bad\x80\xc3\tutf8\n\xe2\x82\tx\n", false, 3, "bad\x80\xc3...utf8\n\xe2\x82......x\n" },
	{ "bad\x80\xc3\tutf8\n\xe2\x82\tx\n", true, 0, "bad\x80\xc3utf8\n...\xe2\x82x\n" },
	{ "bad\x80\xc3\tutf8\n\xe2\x82\tx\n", true, 1, ".bad\x80\xc3utf8\n....\xe2\x82x\n" },
	{ "bad\x80\xc3\tutf8\n\xe2\x82\tx\n", true, 3, "...bad\x80\xc3utf8\n......\xe2\x82x\n" },
	{ "unterminated \xff esc\tx\n", false, 0, "unterminated \xff esc\tx\n" },
	{ "unterminated \xff esc\tx\n", false, 1, "unterminated \xff esc\tx\n" },
	{ "unterminated \xff esc\tx\n", false, 3, "unterminated \xff esc\tx\n" },
	{ "unterminated \xff esc\tx\n", true, 0, "unterminated \xff esc\tx\n" },
	{ "unterminated \xff esc\tx\n", true, 1, "unterminated \xff esc\tx\n" },
	{ "unterminated \xff esc\tx\n", true, 3, "unterminated \xff esc\tx\n" },
};

static void test_like_go(void)
{
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *got = NULL;
		size_t len = 0;
		FILE *f = open_memstream(&got, &len);
		struct tabwriter *tw = tabwriter_new(f, 2, cases[i].padding, '.',
						     cases[i].align_right);
		CHECK(tw != NULL);
		if (!tw)
			return;
		/* in two writes, cut mid-cell: the state carries over */
		size_t n = strlen(cases[i].in), half = n / 2;
		CHECK(tabwriter_write(tw, cases[i].in, half) == 0);
		CHECK(tabwriter_write(tw, cases[i].in + half, n - half) == 0);
		tabwriter_flush(tw);
		tabwriter_free(tw);
		fclose(f);
		CHECK_STR(got, cases[i].want);
		free(got);
	}
}

static const struct {
	const char *s;
	size_t runes;
} widths[] = {
	{ "abc", 3 },
	{ "größe", 5 },
	{ "名前", 2 },
	{ "\x80\x80", 2 },
	{ "\xe2\x82", 2 },
	{ "€", 1 },
	{ "😀x", 2 },
	{ "\xed\xa0\x80", 3 },
	{ "\xc0\xaf", 2 },
	{ "\xf4\x90\x80\x80", 4 },
};

static void test_width(void)
{
	for (size_t i = 0; i < sizeof(widths) / sizeof(widths[0]); i++)
		CHECK(tabwriter_width(widths[i].s, strlen(widths[i].s)) == widths[i].runes);
}

static void test_printf(void)
{
	char *got = NULL;
	size_t len = 0;
	FILE *f = open_memstream(&got, &len);
	struct tabwriter *tw = tabwriter_new(f, 0, 1, ' ', true);
	char big[600];
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	tabwriter_printf(tw, "%s:\t Total %.1f%s\n", "bytes", 1.5, "kB");
	tabwriter_printf(tw, " \t%s:\t %s\n", "1.0kB", big);
	tabwriter_flush(tw);
	tabwriter_free(tw);
	fclose(f);
	/* columns 7 wide ("bytes:" and a space), then 7 ("1.0kB:" and one) */
	CHECK(strncmp(got, " bytes: Total 1.5kB\n        1.0kB: xxx", 38) == 0);
	CHECK(len == 20 + 7 + 7 + 600 + 1);
	free(got);
}

const struct unit_test tabwriter_tests[] = {
	{ "tabwriter: output as Go's text/tabwriter", test_like_go },
	{ "tabwriter: widths as Go's utf8.RuneCount", test_width },
	{ "tabwriter: long formatted cells", test_printf },
	{ NULL, NULL },
};
