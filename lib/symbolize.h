/* symbolize.h - address to function/file/line (with inline frames) for code
 * in ELF files, with libdw: DWARF where present (also from separate debug
 * files found by build id or .gnu_debuglink), else the ELF symbol tables. */
#ifndef MEMPROF_SYMBOLIZE_H
#define MEMPROF_SYMBOLIZE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "hashmap.h"

struct symbolizer;

struct sym_frame {
	const char *name;		/* pprof's default name (see symbolize_demangle) */
	const char *system_name;	/* the symbol as linked (mangled for C++) */
	const char *file;		/* source file, "" if unknown */
	int64_t line;			/* 0 if unknown */
	int64_t start_line;		/* first line of the function, 0 if unknown */
};

/* Returns a symbolizer, or NULL when out of memory. */
struct symbolizer *symbolizer_new(void);
void symbolizer_free(struct symbolizer *s);

/* Lets go of the files the symbolizer holds open (libdw's handles, their
 * descriptors and mappings); what it answered stays valid, and a later
 * lookup opens a file again. */
void symbolizer_close_files(struct symbolizer *s);

/* How many files the symbolizer holds open (each one or two descriptors:
 * the file, its debug file). */
size_t symbolizer_open_files(const struct symbolizer *s);

/* Resolves vaddr (an ELF virtual address, not a runtime one) in the file at
 * path into frames: the whole inline chain, however deep, innermost
 * inlined frame first, the function it is all inlined into last. Sets
 * *frames to an array the symbolizer owns, valid until the next
 * symbolizer_lookup or symbolizer_free (its strings until
 * symbolizer_free). Returns the number of frames, 0 when nothing is known
 * about the address (also when path is not a regular ELF file: FIFOs and
 * devices are never opened for reading), or -ENOMEM. */
int symbolizer_lookup(struct symbolizer *s, const char *path, uint64_t vaddr,
		      const struct sym_frame **frames);

/* Directories to look in for debug files, before /usr/lib/debug, as it is
 * laid out (DIR/.build-id/xx/yyyy.debug, DIR/<the file's directory>/<its
 * debuglink>): NULL-terminated, the caller's, kept until symbolizer_free.
 * And, where DEBUGINFOD_URLS is set and libdebuginfod can be loaded, the
 * debuginfod servers, asked by build id after every local place. */
void symbolizer_set_debug_dirs(struct symbolizer *s, const char *const *dirs);

/* Lets the symbolizer ask debuginfod servers (DEBUGINFOD_URLS) for debug
 * files it does not find locally (off by default: memprof run stays
 * offline). */
void symbolizer_set_debuginfod(struct symbolizer *s, bool use);

/* Where the symbolizer says why it refused a file (a build id that is not
 * the one wanted) or a service: one line, no trailing period. */
void symbolizer_set_warn(struct symbolizer *s, void (*warn)(const char *msg, void *data),
			 void *data);

/* The file to symbolize code of path, build id build_id (hex; "" when
 * unknown: any file will do), in: in each debug directory,
 * .build-id/xx/yyyy.debug, .build-id/xx/yyyy, then the file's base name
 * with .debug and without; path itself when it is there with that build
 * id; /usr/lib/debug/.build-id/xx/yyyy.debug; debuginfod if allowed. A
 * candidate with another build id is refused (and said). Returns a path
 * the symbolizer owns, or NULL when there is none. */
const char *symbolizer_resolve(struct symbolizer *s, const char *path, const char *build_id);

/* The ELF virtual address at file offset offset of the file at path (its
 * loadable segment holding it). Returns 0, or a negative errno. */
int symbolizer_file_vaddr(const char *path, uint64_t offset, uint64_t *vaddr);

/* The file's GNU build id in hex, read from its notes (no debug section is
 * read), "" if it has none or cannot be read. Read again when the file at
 * path is another one, or was rewritten, since it was read last (its
 * inode, size or mtime): the symbolizer then lets go of the old one, and
 * looks up in the new one. */
const char *symbolizer_build_id(struct symbolizer *s, const char *path);

/* Whether the file is a regular ELF file (and whether it has DWARF, in
 * itself or in a separate debug file). */
int symbolizer_has_file(struct symbolizer *s, const char *path, int *has_dwarf);

/* How pprof names C++ functions (its -symbolize=demangle=MODE). */
enum sym_demangle {
	SYM_DEMANGLE_DEFAULT,	/* no parameters, no template arguments:
				 * std::vector::_M_realloc_insert */
	SYM_DEMANGLE_TEMPLATES,	/* no parameters: std::vector<int, ...>::... */
	SYM_DEMANGLE_FULL,	/* everything but clone suffixes (.isra.0) */
	SYM_DEMANGLE_NONE,	/* pprof's "none": in full, clone suffixes too */
};

/* pprof's name for a function linked as system_name (its symbolizer's
 * demangleSingleFunction): a C++ or Rust mangled name demangled in mode;
 * else, when the name looks like a demangled C++ name (it has :: or
 * brackets and is not a Java or Go name), its parameters and template
 * arguments removed as the mode says; else the name itself. Returns a
 * malloc'd string, or NULL when out of memory. */
char *symbolize_demangle(const char *system_name, enum sym_demangle mode);

struct profile;

/* pprof's demangling of a profile read from a file (symbolizer.Demangle):
 * each function whose name is empty or equal to its system name gets
 * symbolize_demangle's name; with force, every function with a system
 * name does. Returns 0 or -ENOMEM. */
int symbolize_demangle_profile(struct profile *p, enum sym_demangle mode, bool force);

/* A profile's functions as symbolizer_lookup's frames name them: one
 * profile_function per name, system name, file and start line, for every
 * writer of symbolized locations (the collector's profiles, memprof
 * symbolize). last_id: the highest function id in the profile, which the
 * caller sets when the profile has functions already. */
struct sym_functions {
	struct hashmap map;	/* hash of the frame -> its profile_function */
	uint64_t last_id;
};
#define SYM_FUNCTIONS_INIT { HASHMAP_INIT, 0 }

/* The function of frame f in p: the one made before for the same frame,
 * or a new one with id last_id + 1 and f's strings interned in p. NULL
 * when out of memory. */
struct profile_function *sym_function(struct profile *p, struct sym_functions *fns,
				      const struct sym_frame *f);
void sym_functions_release(struct sym_functions *fns);

struct profile_location;

/* Whether l is operator new, how C++ reaches malloc (its outermost frame
 * says so): a stack's leaf to leave out, so that the caller that said new
 * is the leaf, as memprof run writes it. */
bool sym_is_allocator(const struct profile_location *l);

#endif
