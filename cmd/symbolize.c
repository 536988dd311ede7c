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

static bool same_function(uint64_t value, const void *ctx)
{
	const struct profile_function *fn = (const void *)(uintptr_t)value;
	const struct sym_frame *f = ctx;
	return !strcmp(fn->name, f->name) && !strcmp(fn->system_name, f->system_name) &&
	       !strcmp(fn->filename, f->file) && fn->start_line == f->start_line;
}

/* The profile's function for frame f (one per name, file and start line). */
static struct profile_function *get_function(struct profile *p, struct hashmap *functions,
					     uint64_t *next_id, const struct sym_frame *f)
{
	uint64_t h = hash_bytes(f->name, strlen(f->name), 0);
	h = hash_bytes(f->system_name, strlen(f->system_name), h);
	h = hash_bytes(f->file, strlen(f->file), h) ^ hash_u64((uint64_t)f->start_line);
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(functions, h, same_function, f, &inserted, &key);
	if (!slot)
		return NULL;
	if (!inserted)
		return (void *)(uintptr_t)*slot;
	struct profile_function *fn = profile_add_function(p, ++*next_id);
	if (!fn || !(fn->name = profile_intern(p, f->name)) ||
	    !(fn->system_name = profile_intern(p, f->system_name)) ||
	    !(fn->filename = profile_intern(p, f->file))) {
		hashmap_remove(functions, key);
		return NULL;
	}
	fn->start_line = f->start_line;
	*slot = (uint64_t)(uintptr_t)fn;
	return fn;
}

/* operator new is how C++ reaches malloc: memprof run leaves it out of the
 * leaf, so the function that said new is the leaf; the same here. */
static bool is_allocator(const struct profile_location *l)
{
	return l->n_line && l->line[l->n_line - 1].function &&
	       !strncmp(l->line[l->n_line - 1].function->name, "operator new", 12);
}

/* Per mapping: the file its code is symbolized in, and where in that file
 * (ELF vaddr) the mapping's first byte is. */
struct target {
	const char *file;	/* NULL: none found */
	uint64_t vaddr_at_start;
	bool done;
	bool named;		/* an address of it was symbolized */
};

static int symbolize(struct profile *p, struct symbolizer *s, size_t *n_done, size_t *n_todo)
{
	struct target *t = calloc(p->n_mapping + 1, sizeof(*t));
	struct hashmap functions = HASHMAP_INIT;
	uint64_t next_id = 0;
	int rc = -ENOMEM;
	if (!t)
		return -ENOMEM;
	for (size_t i = 0; i < p->n_function; i++)
		if (p->function[i]->id > next_id)
			next_id = p->function[i]->id;
	for (size_t i = 0; i < p->n_location; i++) {
		struct profile_location *l = p->location[i];
		struct profile_mapping *m = l->mapping;
		if (!m || l->n_line || m->has_functions)
			continue;
		size_t mi = 0;
		while (p->mapping[mi] != m)
			mi++;
		struct target *tg = &t[mi];
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
		if (!tg->file)
			continue;
		const struct sym_frame *frames;
		int n = symbolizer_lookup(s, tg->file, l->address - m->memory_start + tg->vaddr_at_start,
					  &frames);
		if (n < 0)
			goto out;
		if (n == 0)
			continue;
		struct profile_line *lines = arena_calloc(&p->arena, (size_t)n, sizeof(*lines));
		if (!lines)
			goto out;
		for (int k = 0; k < n; k++) {
			if (!(lines[k].function = get_function(p, &functions, &next_id, &frames[k])))
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
		if (sm->n_location > 1 && is_allocator(sm->location[0])) {
			memmove(sm->location, sm->location + 1, (sm->n_location - 1) * sizeof(*sm->location));
			sm->n_location--;
		}
	}
	rc = 0;
out:
	hashmap_release(&functions);
	free(t);
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
	struct pprof_error err;
	struct profile *p = NULL;
	if (check_output(out) < 0)
		goto out;
	if (!(p = pprof_read(in, &err))) {
		error("%s: %s", in, err.msg);
		goto out;
	}
	if (!(s = symbolizer_new())) {
		error("out of memory");
		goto out;
	}
	symbolizer_set_debug_dirs(s, dirs);
	symbolizer_set_debuginfod(s, true);
	symbolizer_set_warn(s, say, NULL);
	size_t done = 0, todo = 0;
	if (symbolize(p, s, &done, &todo) < 0) {
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
			if (m->has_functions)
				continue;
			bool used = false;
			for (size_t k = 0; k < p->n_location && !used; k++)
				used = p->location[k]->mapping == m && !p->location[k]->n_line;
			if (used)
				error("no symbols for %s (build id %s): put it or its debug file in a "
				      "--debug-dir (as DIR/.build-id/xx/yyyy.debug or by its name), "
				      "or set DEBUGINFOD_URLS", m->filename, *m->build_id ? m->build_id : "none");
		}
	}
	code = 0;
out:
	profile_free(p);
	symbolizer_free(s);
	free(env);
	return code;
}
