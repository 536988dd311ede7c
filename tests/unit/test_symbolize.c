/* test_symbolize.c - the symbolizer on fixtures compiled here with cc (in a
 * scratch directory removed at exit), and on paths that are not regular
 * ELF files. */
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "harness.h"
#include "lib/shell.h"
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

/* A symbolizer that blocks (on a FIFO) fails the run instead of hanging
 * it: tests/run-tests has no timeout of its own. */
static void on_alarm(int sig)
{
	static const char msg[] = "    symbolize: blocked for 10 s\n";
	(void)sig;
	if (write(2, msg, sizeof(msg) - 1) < 0)
		_exit(2);
	_exit(1);
}

static void watchdog(unsigned seconds)
{
	signal(SIGALRM, on_alarm);
	alarm(seconds);
}

/* Nothing is known about path, at once, asked twice (the second answer
 * comes from the cache). */
static void check_nothing(const char *path)
{
	struct symbolizer *s = symbolizer_new();
	const struct sym_frame *fr;
	for (int i = 0; i < 2; i++) {
		int has_dwarf = -1;
		CHECK(symbolizer_lookup(s, path, 0x1000, &fr) == 0);
		CHECK_STR(symbolizer_build_id(s, path), "");
		CHECK(symbolizer_has_file(s, path, &has_dwarf) == 0);
		CHECK(has_dwarf == 0);
	}
	symbolizer_free(s);
}

static void test_not_regular_elf_files(void)
{
	char path[256];
	const char *dir = scratch_dir();
	CHECK(dir);
	if (!dir)
		return;
	watchdog(10);
	CHECK(run("mkfifo fifo && ln -s fifo fifo-link && ln -s nowhere dangling && "
		  "echo 'not ELF' > text && : > empty && printf '\\177ELF' > magic-only"));
	const char *names[] = { "fifo", "fifo-link", "dangling", "missing", "text", "empty",
				"magic-only", "" };
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		check_nothing(path);	/* "" leaves the directory itself */
	}
	check_nothing("/dev/zero");
	check_nothing("/dev/null");
	alarm(0);
}

/* The symbolizer's view of path: has_file, has_dwarf, and the frame count
 * and outermost name at vaddr. */
static int lookup_fresh(const char *path, uint64_t vaddr, int *has_dwarf, char *outer, size_t len)
{
	struct symbolizer *s = symbolizer_new();
	const struct sym_frame *fr;
	*has_dwarf = -1;
	CHECK(symbolizer_has_file(s, path, has_dwarf) == 1);
	int n = symbolizer_lookup(s, path, vaddr, &fr);
	snprintf(outer, len, "%s", n > 0 ? fr[n - 1].name : "");
	symbolizer_free(s);
	return n;
}

/* A stripped inline20 whose .gnu_debuglink names dl.debug: found beside
 * it when regular, refused at once when a FIFO. */
static void test_debuglink(void)
{
	char path[256], outer[64];
	uint64_t start, size;
	int n, has_dwarf;
	if (!inline20())
		return;
	watchdog(10);
	CHECK(run("objcopy --only-keep-debug inline20 dl.debug && "
		  "objcopy --strip-debug --add-gnu-debuglink=dl.debug inline20 dl"));
	snprintf(path, sizeof(path), "%s/dl", scratch);
	CHECK(symbol_range(path, "outer_fn", &start, &size));
	struct symbolizer *s = symbolizer_new();
	const struct sym_frame *fr;
	uint64_t a = deepest(s, path, start, size, &n);
	n = symbolizer_lookup(s, path, a, &fr);
	check_inline20_chain(fr, n);
	symbolizer_free(s);

	CHECK(run("mv dl.debug dl.debug.real && mkfifo dl.debug"));
	CHECK(lookup_fresh(path, a, &has_dwarf, outer, sizeof(outer)) == 1);
	CHECK(has_dwarf == 0);
	CHECK_STR(outer, "outer_fn");	/* from the symbol table */
	alarm(0);
}

/* Without a build id the debuglink's CRC decides. */
static void test_debuglink_crc(void)
{
	char path[256], outer[64];
	uint64_t start, size;
	int has_dwarf;
	if (!inline20())
		return;
	CHECK(run("cc -O2 -g -Wl,--build-id=none -o nb '%s' && "
		  "objcopy --only-keep-debug nb nb.debug && "
		  "objcopy --strip-debug --add-gnu-debuglink=nb.debug nb nbs", FIXTURE));
	snprintf(path, sizeof(path), "%s/nbs", scratch);
	CHECK(symbol_range(path, "outer_fn", &start, &size));
	CHECK(lookup_fresh(path, start, &has_dwarf, outer, sizeof(outer)) >= 1);
	CHECK(has_dwarf == 1);
	CHECK_STR(outer, "outer_fn");
	CHECK(run("echo more >> nb.debug"));
	CHECK(lookup_fresh(path, start, &has_dwarf, outer, sizeof(outer)) == 1);
	CHECK(has_dwarf == 0);
}

/* A .gnu_debugaltlink (dwz) naming a FIFO: refused at once, and the DWARF
 * left alone (libdw would look for the alt file itself, with open()).
 * Naming nothing at all, the DWARF is used. */
static void test_altlink(void)
{
	char path[256], outer[64];
	uint64_t start, size;
	int has_dwarf;
	if (!inline20())
		return;
	watchdog(10);
	CHECK(run("mkfifo alt.fifo && { printf 'alt.fifo\\0'; printf '%%020d' 0; } > alt.sec && "
		  "objcopy --add-section .gnu_debugaltlink=alt.sec inline20 withalt && "
		  "printf 'alt.none\\0' > none.sec && printf '%%020d' 0 >> none.sec && "
		  "objcopy --add-section .gnu_debugaltlink=none.sec inline20 withnone"));
	snprintf(path, sizeof(path), "%s/withalt", scratch);
	CHECK(symbol_range(path, "outer_fn", &start, &size));
	CHECK(lookup_fresh(path, start, &has_dwarf, outer, sizeof(outer)) == 1);
	CHECK(has_dwarf == 0);
	CHECK_STR(outer, "outer_fn");
	snprintf(path, sizeof(path), "%s/withnone", scratch);
	CHECK(lookup_fresh(path, start, &has_dwarf, outer, sizeof(outer)) >= 1);
	CHECK(has_dwarf == 1);
	alarm(0);
}

/* The C library's debug file, where distributions put it, is found by
 * build id (checked only where one is installed, as libc6-dbg does). */
static void test_build_id_dir(void)
{
	char line[1024], libc[512] = "", debug[600];
	FILE *maps = fopen("/proc/self/maps", "r");
	while (maps && fgets(line, sizeof(line), maps)) {
		char *p = strchr(line, '/');
		if (p && strstr(p, "/libc.so")) {
			p[strcspn(p, "\n")] = '\0';
			snprintf(libc, sizeof(libc), "%s", p);
			break;
		}
	}
	if (maps)
		fclose(maps);
	struct symbolizer *s = symbolizer_new();
	const char *id = libc[0] ? symbolizer_build_id(s, libc) : "";
	struct stat st;
	snprintf(debug, sizeof(debug), "/usr/lib/debug/.build-id/%.2s/%s.debug", id,
		 id[0] ? id + 2 : "");
	if (id[0] && stat(debug, &st) == 0) {
		int has_dwarf = 0;
		CHECK(symbolizer_has_file(s, libc, &has_dwarf) == 1);
		CHECK(has_dwarf == 1);
	}
	symbolizer_free(s);
}

/* pprof's names (Go 1.19's go tool pprof printed the "want" column for
 * each system name, as name = system_name in a profile it read). */
static void test_demangle_like_pprof(void)
{
	static const char *const cases[][2] = {
		{ "_ZNSt6vectorIiSaIiEE17_M_realloc_insertIJRKiEEEvN9__gnu_cxx17__normal_iteratorIPiS1_EEDpOT_",
		  "std::vector::_M_realloc_insert" },
		{ "_ZZ4mainENKUliE_clEi", "main::{lambda(int)#1}::operator()" },
		{ "_ZNSs4swapERSs", "std::string::swap" },
		{ "_Z3fooi.isra.0", "foo" },
		{ "_ZN4llvm4PBQPlsINS_11raw_ostreamEEERT_S4_RKNS0_6MatrixE", "llvm::PBQP::operator<<" },
		{ "_ZN4llvm7remarksltINS0_14RemarkLocationEEEbRKNS_8OptionalIT_EES7_",
		  "llvm::remarks::operator<" },
		{ "main", "main" },
		{ "ns::f<int>(int) const", "ns::f const" },
		{ "a::b)c(d", "a::b)c(d" },		/* a close first: left alone */
		{ "a::f(x)::g(y", "a::f::g(y" },	/* an open never closed stays */
		{ "java.<init>", "java.<init>" },
		{ "main.(*T[...]).M", "main.(*T[...]).M" },
		{ "_Zbogus", "_Zbogus" },
	};
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *d = symbolize_demangle(cases[i][0], SYM_DEMANGLE_DEFAULT);
		CHECK_STR(d, cases[i][1]);
		free(d);
	}
	char *full = symbolize_demangle("_Z3fooi.isra.0", SYM_DEMANGLE_FULL);
	CHECK_STR(full, "foo(int)");
	free(full);
	char *none = symbolize_demangle("_Z3fooi.isra.0", SYM_DEMANGLE_NONE);
	CHECK_STR(none, "foo(int) [clone .isra.0]");
	free(none);
	char *tpl = symbolize_demangle("_ZNSt6vectorIiSaIiEE9push_backERKi", SYM_DEMANGLE_TEMPLATES);
	CHECK_STR(tpl, "std::vector<int, std::allocator<int> >::push_back");
	free(tpl);
}

/* Command lines a shell reads back word for word. */
static void test_shell_join(void)
{
	const char *argv[] = { "sh", "-c", "echo \"$HOME\"; ls", "", "it's", "a=b", "=x", "x\ty\n",
			       "ok/path-1.2:3@4%5+6,7" };
	char *s = shell_join(argv, sizeof(argv) / sizeof(argv[0]));
	CHECK_STR(s, "sh -c 'echo \"$HOME\"; ls' '' 'it'\\''s' a=b '=x' $'x\\ty\\n' "
		     "ok/path-1.2:3@4%5+6,7");
	free(s);
	char *n = shell_join_nul("ls\0-l\0a b\0", 10);
	CHECK_STR(n, "ls -l 'a b'");
	free(n);
	char *cut = shell_join_nul("ls\0-l", 5);	/* no NUL at the end */
	CHECK_STR(cut, "ls -l");
	free(cut);
	char *empty = shell_join_nul("", 0);
	CHECK_STR(empty, "");
	free(empty);
}

const struct unit_test symbolize_tests[] = {
	{ "symbolize: C++ names as pprof shows them, in each demangling mode",
	  test_demangle_like_pprof },
	{ "shell: command lines quoted so that a shell reads the same words", test_shell_join },
	{ "symbolize: an inline chain 20 deep comes whole, outer_fn last",
	  test_inline_chain_deeper_than_16 },
	{ "symbolize: FIFOs, devices, directories, dangling links, non-ELF: nothing, at once",
	  test_not_regular_elf_files },
	{ "symbolize: .gnu_debuglink beside the file is used; a FIFO there is refused",
	  test_debuglink },
	{ "symbolize: .gnu_debuglink without a build id: the CRC decides", test_debuglink_crc },
	{ "symbolize: a .gnu_debugaltlink naming a FIFO is refused at once", test_altlink },
	{ "symbolize: separate debug files by build id under /usr/lib/debug", test_build_id_dir },
	{ NULL, NULL },
};
