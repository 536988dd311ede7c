/* leaks.c - the heap in use at exit per stack, after suppressions in
 * LeakSanitizer's format, and its LeakSanitizer-like report. */
#include "leaks.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "arena.h"
#include "profile.h"

const char leak_default_suppressions[] =
	"# memprof's default suppressions: blocks the C and C++ runtimes allocate\n"
	"# once and keep until the process ends (memprof leaks\n"
	"# --print-default-suppressions prints them; --no-default-suppressions\n"
	"# drops them). Names of glibc's internal functions (_nl_*,\n"
	"# tzset_internal...) are known only with its debug symbols (Debian:\n"
	"# libc6-dbg).\n"
	"\n"
	"# stdio: the buffer a stream gets on first use (stdin, stdout and stderr\n"
	"# keep theirs until exit; glibc frees them only under valgrind).\n"
	"leak:_IO_file_doallocate\n"
	"\n"
	"# The dynamic loader (ld.so): link maps, names and search paths of the\n"
	"# objects it loads, threads' TLS vectors, and what shared libraries'\n"
	"# constructors allocate while it runs them (_dl_init, dlopen):\n"
	"# libstdc++'s emergency exception pool among them.\n"
	"leak:_dl_*\n"
	"\n"
	"# libstdc++'s emergency exception pool by its own source file, for a\n"
	"# libstdc++ with debug symbols.\n"
	"leak:eh_alloc.cc\n"
	"\n"
	"# Locale data: setlocale's names and the locale files it loads, and the\n"
	"# locale's character-set converters (mbstowcs, wide stdio), which glibc\n"
	"# keeps for the life of the process.\n"
	"leak:setlocale\n"
	"leak:_nl_*\n"
	"leak:__wcsmbs_load_conv\n"
	"\n"
	"# Time zone data that tzset loads (localtime, strftime, mktime), kept\n"
	"# for the life of the process.\n"
	"leak:tzset_internal\n"
	"\n"
	"# The name service switch (getpwuid, getgrnam, getaddrinfo...):\n"
	"# nsswitch.conf as glibc read it, the modules it names, and the result\n"
	"# buffer that a non-reentrant lookup (getpwuid, gethostbyname...) keeps\n"
	"# for the next call.\n"
	"leak:nss_database\n"
	"leak:__nss_*_lookup2\n"
	"leak:getXXbyYY.c\n"
	"leak:^getpwuid$\n";

struct suppression {
	char *pattern;
	const char *source;	/* one of suppressions.source */
	unsigned line;
};

struct leak_suppressions {
	struct suppression *s;
	size_t n, cap;
	char **source;
	size_t n_source, cap_source;
};

struct leak_suppressions *leak_suppressions_new(void)
{
	return calloc(1, sizeof(struct leak_suppressions));
}

void leak_suppressions_free(struct leak_suppressions *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n; i++)
		free(s->s[i].pattern);
	for (size_t i = 0; i < s->n_source; i++)
		free(s->source[i]);
	free(s->s);
	free(s->source);
	free(s);
}

static int set_error(struct leak_error *err, unsigned line, const char *msg)
{
	err->line = line;
	snprintf(err->msg, sizeof(err->msg), "%s", msg);
	return -EINVAL;
}

int leak_suppressions_parse(struct leak_suppressions *s, const char *source, const char *text,
			    size_t len, struct leak_error *err)
{
	size_t n_before = s->n;
	int rc = 0;
	char *src = strdup(source);
	if (!src || array_grow(&s->source, &s->cap_source, s->n_source, sizeof(*s->source)) < 0) {
		free(src);
		return -ENOMEM;
	}
	s->source[s->n_source++] = src;
	if (memchr(text, '\0', len)) {
		rc = set_error(err, 0, "not a text file (it holds a NUL byte)");
		goto out;
	}
	unsigned line = 0;
	for (size_t at = 0; at < len;) {
		const char *b = text + at, *nl = memchr(b, '\n', len - at);
		const char *e = nl ? nl : text + len;
		at = (size_t)(e - text) + 1;
		line++;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		while (e > b && (e[-1] == ' ' || e[-1] == '\t' || e[-1] == '\r'))
			e--;
		if (b == e || *b == '#')
			continue;
		if ((size_t)(e - b) < 5 || memcmp(b, "leak:", 5) != 0) {
			rc = set_error(err, line, "expected \"leak:PATTERN\" (memprof knows only "
				       "leak suppressions)");
			goto out;
		}
		b += 5;
		while (b < e && (*b == ' ' || *b == '\t'))
			b++;
		if (b == e) {
			rc = set_error(err, line, "empty pattern after \"leak:\" (it would "
				       "suppress every leak; write leak:* for that)");
			goto out;
		}
		char *pat = strndup(b, (size_t)(e - b));
		if (!pat || array_grow(&s->s, &s->cap, s->n, sizeof(*s->s)) < 0) {
			free(pat);
			rc = -ENOMEM;
			goto out;
		}
		s->s[s->n++] = (struct suppression){ pat, src, line };
	}
out:
	if (rc < 0) {	/* all of the text or nothing */
		while (s->n > n_before)
			free(s->s[--s->n].pattern);
	}
	return rc;
}

/* Suppression files are small; a larger one is most likely not one. */
#define MAX_SUPPRESSIONS_FILE (16u << 20)

int leak_suppressions_read(struct leak_suppressions *s, const char *path, struct leak_error *err)
{
	int rc;
	char *buf = NULL;
	size_t len = 0, cap = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		goto out_errno;
	struct stat st;
	if (fstat(fd, &st) < 0)
		goto out_errno;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto out_errno;
	}
	for (;;) {
		if (len == cap) {
			if (cap >= MAX_SUPPRESSIONS_FILE) {
				rc = set_error(err, 0, "larger than 16 MiB: not a suppressions file");
				goto out;
			}
			cap = cap ? cap * 2 : 4096;
			char *nb = realloc(buf, cap);
			if (!nb) {
				rc = -ENOMEM;
				goto out;
			}
			buf = nb;
		}
		ssize_t n = read(fd, buf + len, cap - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out_errno;
		if (n == 0)
			break;
		len += (size_t)n;
	}
	rc = leak_suppressions_parse(s, path, buf ? buf : "", len, err);
	goto out;
out_errno:
	rc = -errno;
	err->line = 0;
	snprintf(err->msg, sizeof(err->msg), "%s", strerror(errno));
out:
	if (fd >= 0)
		close(fd);
	free(buf);
	return rc;
}

int leak_suppressions_add_defaults(struct leak_suppressions *s)
{
	struct leak_error err;
	int rc = leak_suppressions_parse(s, "default", leak_default_suppressions,
					 strlen(leak_default_suppressions), &err);
	return rc == -EINVAL ? -ENOMEM : rc;	/* the defaults parse (a unit test says so) */
}

/* ---- matching ------------------------------------------------------------ */

bool leak_pattern_match(const char *pattern, const char *str)
{
	if (!str || !*str)
		return false;
	const char *p = pattern, *at = str;
	bool anchored = *p == '^', star = false;
	if (anchored)
		p++;
	while (*p) {
		if (*p == '*') {
			p++;
			anchored = false;
			star = true;
			continue;
		}
		if (*p == '$')	/* with no text before it: the end, or anything after a '*' */
			return *at == '\0' || star;
		size_t n = strcspn(p, "*$"), left = strlen(at);
		if (p[n] == '$') {
			/* the last text, at the end of str: earlier texts were found
			 * as far left as they could be, so if it fits it fits here */
			return left >= n && memcmp(at + left - n, p, n) == 0 &&
			       (!anchored || left == n);
		}
		const char *hit = anchored ? (strncmp(at, p, n) == 0 ? at : NULL)
					   : memmem(at, left, p, n);
		if (!hit)
			return false;
		at = hit + n;
		p += n;
		anchored = star = false;
	}
	return true;
}

/* The first suppression (in order) whose pattern matches str, or -1. */
static int first_match(const struct leak_suppressions *s, const char *str)
{
	for (size_t i = 0; *str && i < s->n; i++)
		if (leak_pattern_match(s->s[i].pattern, str))
			return (int)i;
	return -1;
}

/* The suppression that takes location l, tried as LeakSanitizer tries a
 * frame: the mapping's file name, then each function (inlined ones first)
 * by name, system name and source file. -1 when none does. */
static int location_suppression(const struct leak_suppressions *s,
				 const struct profile_location *l)
{
	int k = l->mapping ? first_match(s, l->mapping->filename) : -1;
	for (size_t i = 0; k < 0 && i < l->n_line; i++) {
		const struct profile_function *f = l->line[i].function;
		if (!f)
			continue;
		if ((k = first_match(s, f->name)) < 0 && strcmp(f->system_name, f->name) != 0)
			k = first_match(s, f->system_name);
		if (k < 0)
			k = first_match(s, f->filename);
	}
	return k;
}

/* ---- the report ---------------------------------------------------------- */

static int cmp_stack_locations(const struct profile_sample *a, const struct profile_sample *b)
{
	if (a->n_location != b->n_location)
		return a->n_location < b->n_location ? -1 : 1;
	for (size_t i = 0; i < a->n_location; i++) {
		uint32_t x = a->location[i] ? a->location[i]->index : 0;
		uint32_t y = b->location[i] ? b->location[i]->index : 0;
		if (x != y)
			return x < y ? -1 : 1;
	}
	return 0;
}

static int cmp_by_stack(const void *a, const void *b, void *profile)
{
	const struct profile *p = profile;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;
	int c = cmp_stack_locations(&p->sample[i], &p->sample[j]);
	return c ? c : (i > j) - (i < j);
}

static int cmp_largest(const void *a, const void *b)
{
	const struct leak_stack *x = a, *y = b;
	if (x->bytes != y->bytes)
		return x->bytes > y->bytes ? -1 : 1;
	if (x->objects != y->objects)
		return x->objects > y->objects ? -1 : 1;
	return (x->first > y->first) - (x->first < y->first);
}

static bool written_by_memprof(const struct profile *p)
{
	for (size_t i = 0; i < p->n_comment; i++)
		if (strncmp(p->comment[i], "memprof ", 8) == 0)
			return true;
	return false;
}

int leaks_find(const struct profile *p, const struct leak_suppressions *s,
	       struct leak_report *r)
{
	int rc = -ENOMEM;
	memset(r, 0, sizeof(*r));
	int ib = profile_sample_index(p, "inuse_space");
	int io = profile_sample_index(p, "inuse_objects");
	if (ib < 0)
		return -ENOENT;
	r->has_objects = io >= 0;
	r->period = p->period;
	r->at_exit = written_by_memprof(p);

	size_t n = 0, n_supp = s ? s->n : 0;
	size_t *order = malloc((p->n_sample ? p->n_sample : 1) * sizeof(*order));
	int *loc_supp = malloc((p->n_location ? p->n_location : 1) * sizeof(*loc_supp));
	struct leak_suppression_use *use = calloc(n_supp ? n_supp : 1, sizeof(*use));
	if (!order || !loc_supp || !use)
		goto out;
	for (size_t i = 0; i < p->n_location; i++)
		loc_supp[i] = -2;	/* not looked at yet */
	for (size_t i = 0; i < p->n_sample; i++)
		if (p->sample[i].value[ib] != 0 || (io >= 0 && p->sample[i].value[io] != 0))
			order[n++] = i;
	qsort_r(order, n, sizeof(*order), cmp_by_stack, (void *)p);
	if (!(r->stack = malloc((n ? n : 1) * sizeof(*r->stack))))
		goto out;
	for (size_t i = 0; i < n;) {
		const struct profile_sample *first = &p->sample[order[i]];
		struct leak_stack st = { first, 0, io >= 0 ? 0 : -1, order[i] };
		for (; i < n && cmp_stack_locations(first, &p->sample[order[i]]) == 0; i++) {
			st.bytes = profile_add_sat(st.bytes, p->sample[order[i]].value[ib]);
			if (io >= 0)
				st.objects = profile_add_sat(st.objects, p->sample[order[i]].value[io]);
		}
		if (st.bytes <= 0 && st.objects <= 0)
			continue;	/* nothing in use (a diff's negative remainder) */
		int sup = -1;
		for (size_t k = 0; s && k < first->n_location && sup < 0; k++) {
			const struct profile_location *l = first->location[k];
			if (!l)
				continue;
			if (loc_supp[l->index] == -2)
				loc_supp[l->index] = location_suppression(s, l);
			sup = loc_supp[l->index];
		}
		if (sup >= 0) {
			use[sup].stacks++;
			use[sup].bytes = profile_add_sat(use[sup].bytes, st.bytes);
			use[sup].objects = profile_add_sat(use[sup].objects, st.objects > 0 ? st.objects : 0);
			r->suppressed_stacks++;
			r->suppressed_bytes = profile_add_sat(r->suppressed_bytes, st.bytes);
			r->suppressed_objects = profile_add_sat(r->suppressed_objects, st.objects > 0 ? st.objects : 0);
			continue;
		}
		r->stack[r->n_stack++] = st;
		r->bytes = profile_add_sat(r->bytes, st.bytes);
		r->objects = profile_add_sat(r->objects, st.objects > 0 ? st.objects : 0);
	}
	qsort(r->stack, r->n_stack, sizeof(*r->stack), cmp_largest);
	for (size_t i = 0; i < n_supp; i++) {
		if (!use[i].stacks)
			continue;
		use[i].pattern = s->s[i].pattern;
		use[i].source = s->s[i].source;
		use[i].line = s->s[i].line;
		use[r->n_used++] = use[i];
	}
	r->used = use;
	use = NULL;
	rc = 0;
out:
	free(order);
	free(loc_supp);
	free(use);
	if (rc < 0)
		leak_report_release(r);
	return rc;
}

bool leaks_over(const struct leak_report *r, uint64_t limit)
{
	return r->bytes > 0 && (uint64_t)r->bytes > limit;
}

void leak_report_release(struct leak_report *r)
{
	free(r->stack);
	free(r->used);
	memset(r, 0, sizeof(*r));
}

/* A frame as LeakSanitizer prints it: "in FUNCTION FILE:LINE:COLUMN", or
 * the module and offset for what has no source. */
static void print_frame(FILE *out, size_t k, const struct profile_location *l,
			const struct profile_line *ln)
{
	const struct profile_function *f = ln ? ln->function : NULL;
	fprintf(out, "    #%zu 0x%llx", k, (unsigned long long)l->address);
	if (f && *f->name)
		fprintf(out, " in %s", f->name);
	if (f && *f->filename) {
		fprintf(out, " %s", f->filename);
		if (ln->line > 0)
			fprintf(out, ":%lld", (long long)ln->line);
		if (ln->line > 0 && ln->column > 0)
			fprintf(out, ":%lld", (long long)ln->column);
	} else if (l->mapping && *l->mapping->filename) {
		uint64_t off = l->address - l->mapping->memory_start + l->mapping->file_offset;
		fprintf(out, " (%s+0x%llx)", l->mapping->filename, (unsigned long long)off);
	} else if (!f || !*f->name) {
		fputs(" (<unknown module>)", out);
	}
	fputc('\n', out);
}

static void print_stack(FILE *out, const struct leak_report *r, const struct leak_stack *st,
			size_t max_frames)
{
	fprintf(out, "%s: %lld byte(s)", r->at_exit ? "In use at exit" : "In use",
		(long long)st->bytes);
	if (st->objects >= 0)
		fprintf(out, " in %lld object(s)", (long long)st->objects);
	fputs(" allocated from:\n", out);
	size_t k = 0;
	const struct profile_sample *s = st->sample;
	for (size_t i = 0; i < s->n_location; i++) {
		const struct profile_location *l = s->location[i];
		if (!l)
			continue;
		for (size_t j = 0; j < (l->n_line ? l->n_line : 1); j++, k++) {
			if (max_frames && k == max_frames) {
				fputs("    ...\n", out);
				return;
			}
			print_frame(out, k, l, l->n_line ? &l->line[j] : NULL);
		}
	}
}

void leak_report_print(FILE *out, const struct leak_report *r, const struct leak_print_options *o)
{
	const char *when = r->at_exit ? "in use at exit" : "in use";
	if (!o->brief) {
		fputs("=================================================================\n", out);
		if (r->at_exit)
			fputs("memprof: heap in use at exit: blocks still allocated when the "
			      "program ended, reachable or not\n", out);
		else
			fputs("memprof: heap in use when the profile was written (inuse_space), "
			      "reachable or not\n", out);
		if (r->period > 1)
			fprintf(out, "memprof: sampled, one sample every %lld bytes on average: "
				"the figures are estimates, and stacks never sampled are "
				"missing\n", (long long)r->period);
		else if (r->period <= 0)
			fputs("memprof: the profile does not give its sampling period: the "
			      "figures may be estimates\n", out);
		if (r->n_stack == 0)
			fprintf(out, "memprof: nothing %s%s\n", when,
				r->suppressed_stacks ? " but what was suppressed" : "");
	}
	size_t shown = o->max_stacks && o->max_stacks < r->n_stack ? o->max_stacks : r->n_stack;
	for (size_t i = 0; i < shown; i++) {
		fputc('\n', out);
		print_stack(out, r, &r->stack[i], o->max_frames);
	}
	if (shown < r->n_stack) {
		int64_t b = 0;
		for (size_t i = shown; i < r->n_stack; i++)
			b += r->stack[i].bytes;
		fprintf(out, "\n... and %zu more stack(s), %lld byte(s) in all\n",
			r->n_stack - shown, (long long)b);
	}
	if (o->brief)
		return;
	fputc('\n', out);
	if (r->n_used) {
		fputs("-----------------------------------------------------\n"
		      "Suppressions used:\n"
		      "  count      bytes template\n", out);
		for (size_t i = 0; i < r->n_used; i++) {
			const struct leak_suppression_use *u = &r->used[i];
			fprintf(out, "%7lld %10lld %s", (long long)u->objects, (long long)u->bytes,
				u->pattern);
			if (strcmp(u->source, "default") == 0)
				fputs(" (default)\n", out);
			else
				fprintf(out, " (%s:%u)\n", u->source, u->line);
		}
		fputs("-----------------------------------------------------\n\n", out);
	}
	fprintf(out, "SUMMARY: memprof: %lld byte(s) %s", (long long)r->bytes, when);
	if (r->has_objects)
		fprintf(out, " in %lld allocation(s)", (long long)r->objects);
	if (r->suppressed_stacks)
		fprintf(out, ", after suppressions");
	fprintf(out, "%s.\n", r->period > 1 ? " (estimated)" : "");
}
