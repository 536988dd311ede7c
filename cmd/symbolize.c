/* symbolize.c - memprof symbolize: fills in the functions, files, lines and
 * inline frames of a profile written with memprof run --no-symbolize (or of
 * any pprof profile whose mappings say they have no functions), from the
 * files on this machine: the mapped files themselves when their build ids
 * match, debug directories, /usr/lib/debug, or debuginfod. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/arena.h"
#include "lib/hashmap.h"
#include "lib/symbolize.h"
#include "memprof.h"

#define MAX_DEBUG_DIRS 32

static void say(const char *msg, void *data)
{
	(void)data;
	error("%s", msg);
}

/* Per mapping: the file its code is symbolized in, and where in that file
 * (ELF vaddr) the mapping's first byte is. */
struct target {
	const char *file;	/* NULL: none found */
	uint64_t vaddr_at_start;
	bool done;
	bool named;		/* an address of it was symbolized */
	bool missed;		/* an address of it was not */
};

/* Symbolizes every location of p that has no lines yet, in a mapping that
 * says it has no functions; sets t[i] for p->mapping[i] (t has room for
 * p->n_mapping). Returns 0 or -ENOMEM. */
static int symbolize(struct profile *p, struct symbolizer *s, struct target *t,
		     size_t *n_done, size_t *n_todo)
{
	struct sym_functions functions = SYM_FUNCTIONS_INIT;
	struct hashmap index = HASHMAP_INIT;	/* mapping -> its place in p->mapping */
	int rc = -ENOMEM;
	for (size_t i = 0; i < p->n_function; i++)
		if (p->function[i]->id > functions.last_id)
			functions.last_id = p->function[i]->id;
	for (size_t i = 0; i < p->n_mapping; i++) {
		bool inserted;
		uint64_t *slot = hashmap_put(&index, (uintptr_t)p->mapping[i], &inserted);
		if (!slot)
			goto out;
		*slot = i;
	}
	for (size_t i = 0; i < p->n_location; i++) {
		struct profile_location *l = p->location[i];
		struct profile_mapping *m = l->mapping;
		if (!m || l->n_line || m->has_functions)
			continue;
		struct target *tg = &t[*hashmap_get(&index, (uintptr_t)m)];
		if (!tg->done) {
			tg->done = true;
			tg->file = symbolizer_resolve(s, m->filename, m->build_id);
			uint64_t v;
			if (tg->file && symbolizer_file_vaddr(tg->file, m->file_offset, &v) == 0)
				tg->vaddr_at_start = v;
			else
				tg->file = NULL;
		}
		(*n_todo)++;
		const struct sym_frame *frames;
		int n = !tg->file ? 0 : symbolizer_lookup(s, tg->file, l->address - m->memory_start +
							  tg->vaddr_at_start, &frames);
		if (n < 0)
			goto out;
		if (n == 0) {
			tg->missed = true;
			continue;
		}
		struct profile_line *lines = arena_calloc(&p->arena, (size_t)n, sizeof(*lines));
		if (!lines)
			goto out;
		for (int k = 0; k < n; k++) {
			if (!(lines[k].function = sym_function(p, &functions, &frames[k])))
				goto out;
			lines[k].line = frames[k].line;
		}
		l->line = lines;
		l->n_line = (size_t)n;
		tg->named = true;
		(*n_done)++;
	}
	/* mappings symbolized now: pprof need not try (one whose file had no
	 * symbols stays as it was, for a later try with its debug file) */
	for (size_t i = 0; i < p->n_mapping; i++)
		if (t[i].named)
			p->mapping[i]->has_functions = p->mapping[i]->has_filenames =
				p->mapping[i]->has_line_numbers = p->mapping[i]->has_inline_frames = true;
	for (size_t i = 0; i < p->n_sample; i++) {
		struct profile_sample *sm = &p->sample[i];
		if (sm->n_location > 1 && sym_is_allocator(sm->location[0])) {
			memmove(sm->location, sm->location + 1, (sm->n_location - 1) * sizeof(*sm->location));
			sm->n_location--;
		}
	}
	rc = 0;
out:
	hashmap_release(&index);
	sym_functions_release(&functions);
	return rc;
}

int cmd_symbolize(int argc, char **argv)
{
	const char *out = NULL, *in = NULL;
	const char *dirs[MAX_DEBUG_DIRS + 1] = { 0 };
	size_t n_dirs = 0;
	bool quiet = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *dir = NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage("symbolize", true);
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet"))
			quiet = true;
		else if ((!strcmp(a, "-o") || !strcmp(a, "--output")) && i + 1 < argc)
			out = argv[++i];
		else if (!strncmp(a, "--output=", 9))
			out = a + 9;
		else if (!strcmp(a, "--debug-dir") && i + 1 < argc)
			dir = argv[++i];
		else if (!strncmp(a, "--debug-dir=", 12))
			dir = a + 12;
		else if (a[0] == '-' || in) {
			error("symbolize: unexpected argument '%s'", a);
			return usage("symbolize", false);
		} else
			in = a;
		if (dir) {
			if (n_dirs == MAX_DEBUG_DIRS) {
				error("symbolize: at most %d --debug-dir", MAX_DEBUG_DIRS);
				return 2;
			}
			dirs[n_dirs++] = dir;
		}
	}
	if (!in) {
		error("symbolize: missing FILE");
		return usage("symbolize", false);
	}
	/* MEMPROF_DEBUG_DIRS: more directories, colon-separated, after the options' */
	char *env = getenv("MEMPROF_DEBUG_DIRS") ? strdup(getenv("MEMPROF_DEBUG_DIRS")) : NULL;
	for (char *save = NULL, *d = env ? strtok_r(env, ":", &save) : NULL;
	     d && n_dirs < MAX_DEBUG_DIRS; d = strtok_r(NULL, ":", &save))
		dirs[n_dirs++] = d;
	if (!out)
		out = in;
	int code = 1;
	struct symbolizer *s = NULL;
	struct target *t = NULL;
	struct pprof_error err;
	struct profile *p = NULL;
	if (check_output(out) < 0)
		goto out;
	if (!(p = pprof_read(in, &err))) {
		error("%s: %s", in, err.msg);
		goto out;
	}
	if (!(s = symbolizer_new()) || !(t = calloc(p->n_mapping + 1, sizeof(*t)))) {
		error("out of memory");
		goto out;
	}
	symbolizer_set_debug_dirs(s, dirs);
	symbolizer_set_debuginfod(s, true);
	symbolizer_set_warn(s, say, NULL);
	size_t done = 0, todo = 0;
	if (symbolize(p, s, t, &done, &todo) < 0) {
		error("out of memory");
		goto out;
	}
	int wrc = pprof_write(p, out);
	if (wrc < 0) {
		error("%s: %s", out, strerror(-wrc));
		goto out;
	}
	if (!quiet) {
		fprintf(stderr, "memprof: wrote %s: %zu of %zu addresses symbolized\n", out, done, todo);
		/* which files were missing, once each */
		for (size_t i = 0; i < p->n_mapping; i++) {
			const struct profile_mapping *m = p->mapping[i];
			if (!m->has_functions && t[i].missed)
				error("no symbols for %s (build id %s): put it or its debug file in a "
				      "--debug-dir (as DIR/.build-id/xx/yyyy.debug or by its name), "
				      "or set DEBUGINFOD_URLS", m->filename, *m->build_id ? m->build_id : "none");
		}
	}
	code = 0;
out:
	profile_free(p);
	symbolizer_free(s);
	free(t);
	free(env);
	return code;
}
