/* test_symbolize.c - the symbolizer on fixtures compiled here with cc (in a
 * scratch directory removed at exit). */
#include <inttypes.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "lib/symbolize.h"

#define FIXTURE SRCDIR "/testdata/fixtures/inline20.c"

static char scratch[] = "/tmp/memprof-unit.XXXXXX";

static void remove_scratch(void)
{
	char cmd[64];
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", scratch);
	if (system(cmd) != 0)
		fprintf(stderr, "    cannot remove %s\n", scratch);
}

/* The scratch directory, made on first use; NULL if it cannot be. */
static const char *scratch_dir(void)
{
	static int made;
	if (!made) {
		made = mkdtemp(scratch) ? 1 : -1;
		if (made > 0)
			atexit(remove_scratch);
	}
	return made > 0 ? scratch : NULL;
}

/* Runs the command (printf-style, in the scratch directory); true if it
 * exited with 0. */
__attribute__((format(printf, 1, 2))) static bool run(const char *fmt, ...)
{
	char cmd[1024];
	int n = snprintf(cmd, sizeof(cmd), "cd '%s' && ", scratch_dir());
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(cmd + n, sizeof(cmd) - (size_t)n, fmt, ap);
	va_end(ap);
	return system(cmd) == 0;
}

/* inline20.c built -O2 -g as scratch/inline20 (once); its path or NULL. */
static const char *inline20(void)
{
	static char path[256];
	static int built;
	if (!built) {
		built = scratch_dir() && run("cc -O2 -g -o inline20 '%s'", FIXTURE) ? 1 : -1;
		snprintf(path, sizeof(path), "%s/inline20", scratch);
	}
	return built > 0 ? path : NULL;
}

/* The symbol's address and size in the ELF file, from nm; false if absent. */
static bool symbol_range(const char *file, const char *name, uint64_t *start, uint64_t *size)
{
	char cmd[512], line[512], sym[256];
	char type;
	bool found = false;
	snprintf(cmd, sizeof(cmd), "nm -S --defined-only '%s'", file);
	FILE *p = popen(cmd, "r");
	if (!p)
		return false;
	while (fgets(line, sizeof(line), p))
		if (sscanf(line, "%" SCNx64 " %" SCNx64 " %c %255s", start, size, &type, sym) == 4 &&
		    strcmp(sym, name) == 0) {
			found = true;
			break;
		}
	pclose(p);
	return found;
}

/* The line of the fixture that holds the text; 0 if none does. */
static int64_t fixture_line(const char *text)
{
	FILE *f = fopen(FIXTURE, "r");
	char line[512];
	int64_t n = 0, found = 0;
	while (f && !found && fgets(line, sizeof(line), f))
		if (n++, strstr(line, text))
			found = n;
	if (f)
		fclose(f);
	return found;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Checks the frames of the malloc in outer_fn: level20 .. level1 (each at
 * its own one-line definition, which is also where it calls the next),
 * then outer_fn at its call of level1. */
static void check_inline20_chain(const struct sym_frame *fr, int n)
{
	char want[32];
	CHECK(n == 21);
	for (int i = 0; i < n && i < 20; i++) {
		snprintf(want, sizeof(want), "level%d", 20 - i);
		CHECK_STR(fr[i].name, want);
		CHECK_STR(fr[i].system_name, want);
		CHECK(ends_with(fr[i].file, "/inline20.c"));
		snprintf(want, sizeof(want), "void level%d(", 20 - i);
		CHECK(fr[i].line == fixture_line(want));
		CHECK(fr[i].start_line == fixture_line(want));
	}
	if (n != 21)
		return;
	CHECK_STR(fr[20].name, "outer_fn");
	CHECK(ends_with(fr[20].file, "/inline20.c"));
	CHECK(fr[20].line == fixture_line("\tlevel1(n);"));
	CHECK(fr[20].start_line == fixture_line("void outer_fn("));
}

/* The address in [start, start + size) with the most frames (the first of
 * them); its frame count in *n. */
static uint64_t deepest(struct symbolizer *s, const char *path, uint64_t start, uint64_t size,
			int *n)
{
	const struct sym_frame *fr;
	uint64_t best = start;
	*n = -1;
	for (uint64_t a = start; a < start + size; a++) {
		int k = symbolizer_lookup(s, path, a, &fr);
		if (k > *n) {
			*n = k;
			best = a;
		}
	}
	return best;
}

static void test_inline_chain_deeper_than_16(void)
{
	const char *path = inline20();
	uint64_t start, size;
	CHECK(path);
	if (!path)
		return;
	CHECK(symbol_range(path, "outer_fn", &start, &size));
	struct symbolizer *s = symbolizer_new();
	const struct sym_frame *fr;
	int n;
	uint64_t a = deepest(s, path, start, size, &n);
	n = symbolizer_lookup(s, path, a, &fr);
	check_inline20_chain(fr, n);
	/* outer_fn's first instruction is its own, outside the chain */
	n = symbolizer_lookup(s, path, start, &fr);
	CHECK(n >= 1);
	if (n >= 1)
		CHECK_STR(fr[n - 1].name, "outer_fn");
	/* and asked again, the deep address answers as the first time */
	n = symbolizer_lookup(s, path, a, &fr);
	check_inline20_chain(fr, n);
	symbolizer_free(s);
}

const struct unit_test symbolize_tests[] = {
	{ "symbolize: an inline chain 20 deep comes whole, outer_fn last",
	  test_inline_chain_deeper_than_16 },
	{ NULL, NULL },
};
