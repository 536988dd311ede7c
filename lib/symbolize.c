/* symbolize.c - symbolization with libdw (elfutils). One Dwfl per file,
 * reported at bias 0 so module addresses are the file's own vaddrs. */
#include "symbolize.h"

#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "arena.h"
#include "hashmap.h"

/* libstdc++'s demangler (memprof links libstdc++ for it alone). */
extern char *__cxa_demangle(const char *mangled, char *out, size_t *len, int *status);

struct symfile {
	const char *path;
	Dwfl *dwfl;
	Dwfl_Module *mod;
	bool has_dwarf;
	const char *build_id;
};

/* Strings are interned (hashmap_intern), so the maps below are keyed by
 * the interned pointer. */
struct symbolizer {
	struct arena arena;
	struct hashmap strings;	/* interned paths and mangled names */
	struct hashmap files;	/* interned path -> struct symfile * */
	struct hashmap names;	/* interned mangled name -> shown name */
	struct sym_frame *frames;	/* symbolizer_lookup's answer */
	size_t frames_cap;
};

static char *debuginfo_path;
static const Dwfl_Callbacks callbacks = {
	.find_elf = dwfl_build_id_find_elf,
	.find_debuginfo = dwfl_standard_find_debuginfo,
	.section_address = dwfl_offline_section_address,
	.debuginfo_path = &debuginfo_path,
};

struct symbolizer *symbolizer_new(void)
{
	return calloc(1, sizeof(struct symbolizer));
}

void symbolizer_free(struct symbolizer *s)
{
	if (!s)
		return;
	for (size_t i = 0; s->files.entries && i <= s->files.mask; i++)
		if (s->files.entries[i].used) {
			struct symfile *f = (void *)(uintptr_t)s->files.entries[i].value;
			if (f->dwfl)
				dwfl_end(f->dwfl);
		}
	free(s->frames);
	hashmap_release(&s->strings);
	hashmap_release(&s->files);
	hashmap_release(&s->names);
	arena_release(&s->arena);
	free(s);
}

static struct symfile *get_file(struct symbolizer *s, const char *path_in)
{
	const char *path = hashmap_intern(&s->strings, &s->arena, path_in, strlen(path_in));
	bool inserted;
	uint64_t *slot = path ? hashmap_put(&s->files, (uintptr_t)path, &inserted) : NULL;
	if (!slot)
		return NULL;
	if (!inserted)
		return (struct symfile *)(uintptr_t)*slot;
	struct symfile *f = arena_alloc(&s->arena, sizeof(*f));
	if (!f) {
		hashmap_remove(&s->files, (uintptr_t)path);
		return NULL;
	}
	*slot = (uint64_t)(uintptr_t)f;
	f->path = path;
	f->build_id = "";
	if (path[0] != '/')
		return f;	/* [vdso] and friends: nothing on disk */
	f->dwfl = dwfl_begin(&callbacks);
	if (!f->dwfl)
		return f;
	f->mod = dwfl_report_elf(f->dwfl, path, path, -1, 0, false);
	dwfl_report_end(f->dwfl, NULL, NULL);
	if (!f->mod)
		return f;
	Dwarf_Addr bias;
	f->has_dwarf = dwfl_module_getdwarf(f->mod, &bias) != NULL;
	const unsigned char *bits;
	GElf_Addr vaddr;
	int n = dwfl_module_build_id(f->mod, &bits, &vaddr);
	if (n > 0) {
		char *hex = arena_alloc(&s->arena, (size_t)n * 2 + 1);
		if (hex) {
			for (int i = 0; i < n; i++)
				sprintf(hex + 2 * i, "%02x", bits[i]);
			f->build_id = hex;
		}
	}
	return f;
}

/* Drops the parameter list (and trailing qualifiers) of a demangled C++
 * name, as pprof shows them: "ns::f<int>(int) const" -> "ns::f<int>". */
static void drop_params(char *s)
{
	int angle = 0;
	for (char *p = s; *p; p++) {
		if (*p == '<')
			angle++;
		else if (*p == '>' && angle > 0)
			angle--;
		else if (*p == '(' && angle == 0) {
			if (!strncmp(p, "(anonymous namespace)", 21)) {
				p += 20;
				continue;
			}
			if (p - s >= 8 && !strncmp(p - 8, "operator", 8) && p[1] == ')') {
				p++;	/* operator() */
				continue;
			}
			if (p != s) {
				*p = '\0';
				return;
			}
		}
	}
}

static const char *demangle(struct symbolizer *s, const char *mangled)
{
	if (!mangled || strncmp(mangled, "_Z", 2) != 0)
		return mangled;
	const char *key = hashmap_intern(&s->strings, &s->arena, mangled, strlen(mangled));
	bool inserted;
	uint64_t *slot = key ? hashmap_put(&s->names, (uintptr_t)key, &inserted) : NULL;
	if (!slot)
		return mangled;
	if (!inserted)
		return (const char *)(uintptr_t)*slot;
	int status;
	char *d = __cxa_demangle(mangled, NULL, NULL, &status);
	char *shown = arena_strndup(&s->arena, d && status == 0 ? d : mangled,
				    strlen(d && status == 0 ? d : mangled));
	free(d);
	if (!shown) {
		hashmap_remove(&s->names, (uintptr_t)key);
		return mangled;
	}
	drop_params(shown);
	*slot = (uint64_t)(uintptr_t)shown;
	return shown;
}

static const char *copy(struct symbolizer *s, const char *str)
{
	if (!str)
		return "";
	const char *c = arena_strndup(&s->arena, str, strlen(str));
	return c ? c : "";
}

/* The linkage name of a function DIE if it has one, else its plain name,
 * following DW_AT_abstract_origin and DW_AT_specification. */
static const char *die_symbol(Dwarf_Die *die)
{
	Dwarf_Attribute a;
	const char *n = NULL;
	if (dwarf_attr_integrate(die, DW_AT_linkage_name, &a) ||
	    dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &a))
		n = dwarf_formstring(&a);
	if (!n && dwarf_attr_integrate(die, DW_AT_name, &a))
		n = dwarf_formstring(&a);
	return n;
}

static int64_t die_start_line(Dwarf_Die *die)
{
	int line = 0;
	if (dwarf_decl_line(die, &line) != 0)
		return 0;
	return line;
}

static void set_frame(struct symbolizer *s, struct sym_frame *f, const char *sym, const char *file,
		      int64_t line, int64_t start)
{
	f->system_name = copy(s, sym);
	f->name = demangle(s, f->system_name);
	f->file = copy(s, file);
	f->line = line;
	f->start_line = start;
}

/* Makes room for frame n of s->frames; 0 or -ENOMEM. */
static int frame_room(struct symbolizer *s, int n)
{
	return array_grow(&s->frames, &s->frames_cap, (size_t)n, sizeof(*s->frames));
}

int symbolizer_lookup(struct symbolizer *s, const char *path, uint64_t vaddr,
		      const struct sym_frame **frames)
{
	*frames = s->frames;
	struct symfile *f = get_file(s, path);
	if (!f || !f->mod)
		return 0;

	/* the symbol table: the fallback, and the name when DWARF has none */
	GElf_Off off;
	GElf_Sym sym;
	const char *symname = dwfl_module_addrinfo(f->mod, vaddr, &off, &sym, NULL, NULL, NULL);
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *dl = dwfl_module_getsrc(f->mod, vaddr);
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

	int n = 0;
	Dwarf_Addr bias;
	Dwarf_Die *cudie = f->has_dwarf ? dwfl_module_addrdie(f->mod, vaddr, &bias) : NULL;
	Dwarf_Die *scopes = NULL;
	int nscopes = cudie ? dwarf_getscopes(cudie, vaddr - bias, &scopes) : 0;
	/* dwarf_getscopes continues an inlined instance into its abstract
	 * definition; dwarf_getscopes_die on the innermost instance gives the
	 * chain of scopes it was inlined into, which is what the frames are. */
	for (int i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag == DW_TAG_subprogram)
			break;
		if (tag == DW_TAG_inlined_subroutine) {
			Dwarf_Die *chain = NULL;
			int nchain = dwarf_getscopes_die(&scopes[i], &chain);
			free(scopes);
			scopes = chain;
			nscopes = nchain > 0 ? nchain : 0;
			break;
		}
	}
	Dwarf_Files *files = NULL;
	size_t nfiles = 0;
	if (cudie && dwarf_getsrcfiles(cudie, &files, &nfiles) != 0)
		files = NULL;
	const char *cur_file = file;
	int64_t cur_line = line;
	for (int i = 0; i < nscopes; i++) {
		int tag = dwarf_tag(&scopes[i]);
		if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram)
			continue;
		const char *name = die_symbol(&scopes[i]);
		if (!name && tag == DW_TAG_subprogram)
			name = symname;
		if (frame_room(s, n) < 0)
			goto out_nomem;
		set_frame(s, &s->frames[n++], name ? name : "??", cur_file, cur_line,
			  die_start_line(&scopes[i]));
		if (tag == DW_TAG_subprogram)
			break;
		/* the next frame out is where this one was inlined */
		Dwarf_Attribute a;
		Dwarf_Word w;
		cur_file = NULL;
		if (files && dwarf_attr(&scopes[i], DW_AT_call_file, &a) &&
		    dwarf_formudata(&a, &w) == 0 && w < nfiles)
			cur_file = dwarf_filesrc(files, w, NULL, NULL);
		cur_line = 0;
		if (dwarf_attr(&scopes[i], DW_AT_call_line, &a) && dwarf_formudata(&a, &w) == 0)
			cur_line = (int64_t)w;
	}
	free(scopes);
	if (n == 0 && symname) {
		if (frame_room(s, 0) < 0)
			return -ENOMEM;
		set_frame(s, &s->frames[n++], symname, file, line, 0);
	}
	*frames = s->frames;
	return n;
out_nomem:
	free(scopes);
	return -ENOMEM;
}

const char *symbolizer_build_id(struct symbolizer *s, const char *path)
{
	struct symfile *f = get_file(s, path);
	return f ? f->build_id : "";
}

int symbolizer_has_file(struct symbolizer *s, const char *path, int *has_dwarf)
{
	struct symfile *f = get_file(s, path);
	*has_dwarf = f && f->has_dwarf;
	return f && f->mod;
}
