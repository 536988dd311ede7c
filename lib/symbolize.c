/* symbolize.c - symbolization with libdw (elfutils). One Dwfl per file,
 * reported at bias 0 so module addresses are the file's own vaddrs.
 *
 * The paths come from recordings and from the ELF files themselves
 * (.gnu_debuglink, .gnu_debugaltlink), so they may name a FIFO, a device
 * or a directory. The symbolizer opens every file it reads itself, with
 * open_elf, which neither blocks on nor reads anything but a regular ELF
 * file; libdwfl's own searches (dwfl_standard_find_debuginfo,
 * dwfl_build_id_find_elf) open() whatever they find, so they are not used. */
#include "symbolize.h"

#include <ctype.h>
#include <dlfcn.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwelf.h>
#include <elfutils/libdwfl.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <libiberty/demangle.h>

#include "arena.h"
#include "hashmap.h"
#include "hex.h"
#include "profile.h"

/* One entry of a module's symbol table, sorted by address (see
 * load_symbols): libdw's dwfl_module_addrinfo walks every symbol of the
 * module on each call when the address is in none (stripped programs),
 * which made symbolizing a build's cc1 cost ~0.85 ms a location. */
/* An address range [start, end) in a table sorted by start (the symbol
 * table, a CU's scopes), where ranges may nest or overlap. With max_end,
 * the highest end of this one and those before it, the ranges that hold
 * an address are found by one binary search (ranges_upto) and a walk down
 * that stops at the first max_end at or below the address. A table's
 * entries begin with one; ranges_sort orders them. */
struct range {
	uint64_t start, end;
	uint64_t max_end;
};

struct symbol {
	struct range r;			/* r.end == r.start: no size */
	const char *name;		/* libdw's (valid while the Dwfl lives) */
	int rank;			/* binding: global 2, weak 1, local 0 */
};

struct symfile {
	struct symbolizer *s;
	const char *path;
	bool opened;			/* open_module was called */
	bool regular;			/* a regular ELF file (build id read) */
	Dwfl *dwfl;
	Dwfl_Module *mod;		/* NULL: not a readable ELF file */
	bool has_dwarf;
	bool alt_refused;		/* a dwz alt file was there but unusable */
	dev_t dev;			/* the file itself, never its own debug file */
	ino_t ino;
	/* what was at path when its build id was read (see symbolizer_build_id) */
	struct stat seen;		/* st_mode 0: nothing, or not a regular file */
	const char *build_id;
	struct symbol *syms;		/* made on the first lookup */
	size_t n_syms;
	bool syms_loaded;
	struct hashmap cus;		/* CU DIE offset -> struct cu_scopes * (see cu_scopes) */
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
	const char *const *debug_dirs;	/* symbolizer_set_debug_dirs */
	bool use_debuginfod;		/* symbolizer_set_debuginfod */
	void (*warn)(const char *msg, void *data);	/* symbolizer_set_warn */
	void *warn_data;
	struct hashmap resolved;	/* interned "build id\0path" -> resolved path or 0 */
	void *debuginfod;	/* the client, when DEBUGINFOD_URLS is set */
	bool debuginfod_tried;
};

/* One message for the caller (symbolizer_set_warn), if it wants them. */
static void say(struct symbolizer *s, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;
	if (!s->warn)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	s->warn(msg, s->warn_data);
}

/* Where distributions install separate debug files (libdwfl's default
 * path, less the module's own directory and its .debug, which
 * find_debuginfo tries itself). */
#define DEBUG_DIR "/usr/lib/debug"

static int debuginfod_find(struct symbolizer *s, const char *hex, char **path);
static const char *copy(struct symbolizer *s, const char *str);
static void free_cus(struct symfile *f);
static void close_debuginfod(struct symbolizer *s);
static void page_out(Elf *e);

/* Opens path read-only if it is a regular file that starts like an ELF
 * file. Returns the fd (st filled in), -ENOENT when there is nothing
 * there, or another negative errno (-EINVAL: not a regular ELF file).
 * The stat keeps devices from being opened at all (opening some has side
 * effects); O_NONBLOCK and the fstat close the race with a FIFO put in
 * the file's place meanwhile. The magic keeps libdwfl from decompressing
 * whatever .gz file a path names. */
static int open_elf(const char *path, struct stat *st)
{
	unsigned char magic[SELFMAG];
	if (stat(path, st) < 0)
		return -errno;
	if (!S_ISREG(st->st_mode))
		return -EINVAL;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK | O_NOCTTY);
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode) ||
	    pread(fd, magic, SELFMAG, 0) != SELFMAG || memcmp(magic, ELFMAG, SELFMAG) != 0) {
		close(fd);
		return -EINVAL;
	}
	return fd;
}

/* Whether the ELF file open at fd has the GNU build id id (len bytes). */
static bool has_build_id(int fd, const void *id, size_t len)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *got;
	ssize_t n = e ? dwelf_elf_gnu_build_id(e, &got) : -1;
	bool same = n > 0 && (size_t)n == len && memcmp(got, id, len) == 0;
	elf_end(e);
	return same;
}

/* Whether the contents of the file open at fd have the CRC-32 crc (the
 * checksum .gnu_debuglink carries, zlib's crc32). */
static bool has_crc(int fd, uint32_t crc)
{
	unsigned char buf[65536];
	uLong c = crc32(0, NULL, 0);
	off_t off = 0;
	ssize_t n;
	while ((n = pread(fd, buf, sizeof(buf), off)) > 0) {
		c = crc32(c, buf, (uInt)n);
		off += n;
	}
	return n == 0 && c == crc;
}

/* What find_debuginfo looks for: a file with this build id or, when
 * there is none, this CRC (0: any file will do). */
struct debug_want {
	const struct symfile *f;	/* the module, which is never the answer */
	struct symbolizer *s;
	const void *build_id;
	size_t build_id_len;
	uint32_t crc;
	bool refused;		/* a candidate was there, but not usable */
};

/* Tries the file at path for w; returns its fd (the caller owns it) or -1. */
static int try_debug_file(struct debug_want *w, const char *path)
{
	struct stat st;
	int fd = open_elf(path, &st);
	if (fd < 0) {
		w->refused |= fd != -ENOENT && fd != -ENOTDIR;
		return -1;
	}
	if (st.st_dev == w->f->dev && st.st_ino == w->f->ino)
		goto out_refuse;	/* the module itself by another name */
	if (w->build_id_len ? !has_build_id(fd, w->build_id, w->build_id_len)
			    : w->crc && !has_crc(fd, w->crc))
		goto out_refuse;
	return fd;
out_refuse:
	close(fd);
	w->refused = true;
	return -1;
}

/* Tries prefix + name + suffix (any may be ""); returns the fd and sets
 * *name_out to the malloc'd path, or returns -1. */
static int try_debug_path(struct debug_want *w, const char *prefix, const char *name,
			  const char *suffix, char **name_out)
{
	char *path;
	if (asprintf(&path, "%s%s%s", prefix, name, suffix) < 0)
		return -1;
	int fd = try_debug_file(w, path);
	if (fd < 0)
		free(path);
	else
		*name_out = path;
	return fd;
}

/* The build id's path under a .build-id directory: "xx/yyyy" (hex) in
 * out (2 * 64 + 2 bytes). False when the id is not 2 to 64 bytes long
 * (libdwfl takes no longer ones either). */
static bool build_id_path(const unsigned char *id, size_t len, char *out)
{
	if (len < 2 || len > 64)
		return false;
	hex_encode(out, id, 1);
	out[2] = '/';
	hex_encode(out + 3, id + 1, len - 1);
	return true;
}

/* DIR/.build-id/xx/yyyy.debug for the build id of w, in each directory
 * of symbolizer_set_debug_dirs, then DEBUG_DIR. */
static int try_build_id_path(struct debug_want *w, char **name_out)
{
	char hex[2 * 64 + 2];
	if (!build_id_path(w->build_id, w->build_id_len, hex))
		return -1;
	for (const char *const *d = w->s->debug_dirs; d && *d; d++) {
		char *prefix;
		if (asprintf(&prefix, "%s/.build-id/", *d) < 0)
			return -1;
		int fd = try_debug_path(w, prefix, hex, ".debug", name_out);
		free(prefix);
		if (fd >= 0)
			return fd;
	}
	return try_debug_path(w, DEBUG_DIR "/.build-id/", hex, ".debug", name_out);
}

/* libdwfl's find_debuginfo callback. Asked for the module's separate
 * debug file (when the module has no DWARF of its own) or, once the DWARF
 * is loaded, for the dwz alt file its .gnu_debugaltlink names. Looks, as
 * gdb does, in DEBUG_DIR/.build-id/ by build id, then for the file named
 * by link (the .gnu_debuglink, or the alt link) beside the module (its
 * symlinks resolved), in its .debug/ and under DEBUG_DIR plus its
 * directory. A candidate must have the build id wanted or, lacking one,
 * the debuglink's CRC. No debuginfod: converting stays offline. Returns
 * an fd, which libdwfl then owns, with its malloc'd name in *name_out; or
 * -1, leaving *name_out alone (libdwfl would open() a name put there). */
static int find_debuginfo(Dwfl_Module *mod, void **userdata, const char *modname,
			  Dwarf_Addr base, const char *file_name, const char *link,
			  GElf_Word crc, char **name_out)
{
	struct debug_want w = { .f = *userdata };
	const unsigned char *bits;
	if (w.f)
		w.s = w.f->s;
	GElf_Addr vaddr;
	int fd = -1;
	if (!w.f)
		return -1;	/* not a module get_file reported */
	/* Returns at once in here: libdwfl either has just loaded the DWARF
	 * (and wants its alt file) or has failed to (and wants the debug file). */
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(mod, &bias);
	bool alt = dw != NULL;
	if (alt) {
		ssize_t n = dwelf_dwarf_gnu_debugaltlink(dw, &link, &w.build_id);
		if (n <= 0)
			return -1;
		w.build_id_len = (size_t)n;
	} else {
		int n = dwfl_module_build_id(mod, &bits, &vaddr);
		w.build_id = bits;
		w.build_id_len = n > 0 ? (size_t)n : 0;
		w.crc = crc;
	}
	char *real = file_name ? realpath(file_name, NULL) : NULL;
	char *slash = real ? strrchr(real, '/') : NULL;
	if ((fd = try_build_id_path(&w, name_out)) >= 0 || !link || !slash)
		goto out;
	slash[1] = '\0';	/* real is now the file's directory, with a slash */
	if (link[0] == '/' && alt)
		fd = try_debug_path(&w, "", link, "", name_out);
	else if ((fd = try_debug_path(&w, real, link, "", name_out)) < 0 && !alt &&
		 (fd = try_debug_path(&w, real, ".debug/", link, name_out)) < 0) {
		char *dir;
		if (asprintf(&dir, DEBUG_DIR "%s", real) >= 0) {
			fd = try_debug_path(&w, dir, link, "", name_out);
			free(dir);
		}
	}
out:
	free(real);
	if (fd < 0 && !alt && w.build_id_len >= 2 && w.build_id_len <= 64 && w.s->use_debuginfod) {
		char hex[2 * 64 + 1];
		fd = debuginfod_find(w.s, hex_encode(hex, w.build_id, w.build_id_len), name_out);
	}
	/* libdw looks for an alt file it was not given itself, with open() */
	if (alt && fd < 0 && w.refused)
		((struct symfile *)*userdata)->alt_refused = true;
	return fd;
}

/* ---- debuginfod ----------------------------------------------------------
 * libdebuginfod (Debian's libdebuginfod1, which libdw itself loads the same
 * way) is loaded when first needed, only where symbolizer_set_debuginfod
 * allowed it and DEBUGINFOD_URLS names servers: memprof run stays offline.
 * Its functions are declared here to need no -dev package to build. */
typedef void *(*debuginfod_begin_fn)(void);
typedef int (*debuginfod_find_fn)(void *client, const unsigned char *build_id, int len,
				  char **path);
typedef void (*debuginfod_end_fn)(void *client);
static debuginfod_find_fn debuginfod_find_debuginfo_p;
static debuginfod_end_fn debuginfod_end_p;

static void close_debuginfod(struct symbolizer *s)
{
	if (s->debuginfod && debuginfod_end_p)
		debuginfod_end_p(s->debuginfod);
	s->debuginfod = NULL;
}

/* Asks the debuginfod servers for the debug file of the build id (hex).
 * Returns its fd (the caller's) and its malloc'd path, or -1. */
static int debuginfod_find(struct symbolizer *s, const char *hex, char **path)
{
	if (!s->use_debuginfod)
		return -1;
	if (!s->debuginfod_tried) {
		s->debuginfod_tried = true;
		const char *urls = getenv("DEBUGINFOD_URLS");
		void *lib = urls && *urls ? dlopen("libdebuginfod.so.1", RTLD_NOW | RTLD_LOCAL) : NULL;
		debuginfod_begin_fn begin = lib ? (debuginfod_begin_fn)dlsym(lib, "debuginfod_begin") : NULL;
		debuginfod_find_debuginfo_p = lib ? (debuginfod_find_fn)dlsym(lib, "debuginfod_find_debuginfo") : NULL;
		debuginfod_end_p = lib ? (debuginfod_end_fn)dlsym(lib, "debuginfod_end") : NULL;
		if (begin && debuginfod_find_debuginfo_p && debuginfod_end_p)
			s->debuginfod = begin();
		if (urls && *urls && !s->debuginfod)
			say(s, "DEBUGINFOD_URLS is set, but libdebuginfod.so.1 could not be loaded "
			       "(apt-get install libdebuginfod1): debuginfod not asked");
	}
	if (!s->debuginfod)
		return -1;
	/* length 0: the id is given in hex */
	int fd = debuginfod_find_debuginfo_p(s->debuginfod, (const unsigned char *)hex, 0, path);
	return fd >= 0 ? fd : -1;
}

/* Every ELF file is reported by get_file, open: nothing to find. */
static int find_elf(Dwfl_Module *mod, void **userdata, const char *modname,
		    Dwarf_Addr base, char **file_name, Elf **elfp)
{
	return -1;
}

static const Dwfl_Callbacks callbacks = {
	.find_elf = find_elf,
	.find_debuginfo = find_debuginfo,
	.section_address = dwfl_offline_section_address,
};

struct symbolizer *symbolizer_new(void)
{
	elf_version(EV_CURRENT);	/* libelf before any elf_begin (libdwfl's dwfl_begin does it too) */
	return calloc(1, sizeof(struct symbolizer));
}

void symbolizer_set_debug_dirs(struct symbolizer *s, const char *const *dirs)
{
	s->debug_dirs = dirs;
}

void symbolizer_set_debuginfod(struct symbolizer *s, bool use)
{
	s->use_debuginfod = use;
}

void symbolizer_set_warn(struct symbolizer *s, void (*warn)(const char *msg, void *data),
			 void *data)
{
	s->warn = warn;
	s->warn_data = data;
}

size_t symbolizer_open_files(const struct symbolizer *s)
{
	size_t n = 0;
	for (size_t i = 0; s && s->files.entries && i <= s->files.mask; i++)
		if (s->files.entries[i].used)
			n += ((struct symfile *)(uintptr_t)s->files.entries[i].value)->dwfl != NULL;
	return n;
}

/* Lets go of what libdw holds of f; the next lookup opens it again. */
static void close_file(struct symfile *f)
{
	if (f->dwfl)
		dwfl_end(f->dwfl);
	free(f->syms);	/* its names are libdw's */
	free_cus(f);
	f->dwfl = NULL;
	f->mod = NULL;
	f->syms = NULL;
	f->n_syms = 0;
	f->syms_loaded = false;
	f->opened = false;
	f->has_dwarf = f->alt_refused = false;
}

void symbolizer_close_files(struct symbolizer *s)
{
	for (size_t i = 0; s && s->files.entries && i <= s->files.mask; i++)
		if (s->files.entries[i].used)
			close_file((void *)(uintptr_t)s->files.entries[i].value);
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
			free(f->syms);
			free_cus(f);
		}
	free(s->frames);
	close_debuginfod(s);
	hashmap_release(&s->resolved);
	hashmap_release(&s->strings);
	hashmap_release(&s->files);
	hashmap_release(&s->names);
	arena_release(&s->arena);
	free(s);
}

/* The GNU build id of the ELF file open at fd, in hex (2 * 64 + 1
 * bytes), from its PT_NOTE segments (or SHT_NOTE sections): reading the
 * notes touches neither the symbol tables nor compressed debug sections.
 * Returns whether there was one. */
static bool note_build_id(int fd, char *hex)
{
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	const void *id;
	ssize_t n = e ? dwelf_elf_gnu_build_id(e, &id) : -1;
	if (n > 0 && n <= 64)
		hex_encode(hex, id, (size_t)n);
	elf_end(e);
	return n > 0 && n <= 64;
}

/* Whether two stats (st_mode 0: nothing there) are of the same file,
 * unchanged. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	if (!a->st_mode || !b->st_mode)
		return !a->st_mode == !b->st_mode;
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/* Which file f->path is now (device, inode, size, mtime) and its build id,
 * read cheaply from its notes. */
static void identify(struct symfile *f)
{
	f->regular = false;
	f->build_id = "";
	memset(&f->seen, 0, sizeof(f->seen));
	if (f->path[0] != '/')
		return;	/* [vdso] and friends: nothing on disk */
	struct stat st = { 0 };
	int fd = open_elf(f->path, &st);
	if (S_ISREG(st.st_mode))
		f->seen = st;	/* an ELF file or not */
	if (fd < 0)
		return;
	f->regular = true;
	f->dev = st.st_dev;
	f->ino = st.st_ino;
	char hex[2 * 64 + 1];
	if (note_build_id(fd, hex))
		f->build_id = copy(f->s, hex);
	close(fd);
}

/* The file at path, its build id read (cheaply, from its notes); libdw is
 * not asked about it until it must symbolize in it (open_module). */
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
	f->s = s;
	f->path = path;
	identify(f);
	return f;
}

/* Reports f to libdw (its own Dwfl) and loads its DWARF, or finds its
 * debug file: the dear part, done once and only for files symbolized in.
 * The file is opened again (the same one: its device and inode). */
static void open_module(struct symfile *f)
{
	if (f->opened)
		return;
	f->opened = true;
	if (!f->regular)
		return;
	struct stat st;
	int fd = open_elf(f->path, &st);
	if (fd < 0)
		return;
	if (st.st_dev != f->dev || st.st_ino != f->ino || !(f->dwfl = dwfl_begin(&callbacks))) {
		close(fd);	/* replaced since its build id was read */
		return;
	}
	/* consumes fd on success only (it is an ELF file: libdwfl does not
	 * swap it for a decompressed copy) */
	f->mod = dwfl_report_elf(f->dwfl, f->path, f->path, fd, 0, false);
	dwfl_report_end(f->dwfl, NULL, NULL);
	if (!f->mod) {
		close(fd);
		return;
	}
	void **userdata;
	dwfl_module_info(f->mod, &userdata, NULL, NULL, NULL, NULL, NULL, NULL);
	*userdata = f;	/* for find_debuginfo */
	Dwarf_Addr bias;
	Dwarf *dw = dwfl_module_getdwarf(f->mod, &bias);
	f->has_dwarf = dw != NULL && !f->alt_refused;
	if (dw)
		page_out(dwarf_getelf(dw));
}

/* libdw 0.188 inflates every compressed debug section of the file it maps
 * at e when it opens it, and reads the copies from then on: the file's
 * pages that only held them need not stay resident (~4 MB for libc's
 * debug file, while the collector's stacks are still in memory: memprof's
 * high-water mark). Pages that any section's data still lies in (an
 * uncompressed .debug_info that libdw reads in place, the headers) are
 * left alone. A hint only: MADV_PAGEOUT never loses data, a page read
 * again comes back from the file. */
static void page_out(Elf *e)
{
#ifdef MADV_PAGEOUT
	const size_t page = 4096;
	size_t n = 0, shnum;
	char *image = e ? elf_rawfile(e, &n) : NULL;
	GElf_Ehdr eh;
	if (!image || n < page || (uintptr_t)image % page || !gelf_getehdr(e, &eh) ||
	    elf_getshdrnum(e, &shnum) < 0)
		return;
	size_t n_page = n / page;	/* whole pages only: the last one stays */
	bool *used = calloc(n_page, sizeof(*used));
	if (!used)
		return;
	uint64_t at[3][2] = { { 0, eh.e_ehsize },
			      { eh.e_phoff, (uint64_t)eh.e_phnum * eh.e_phentsize },
			      { eh.e_shoff, (uint64_t)shnum * eh.e_shentsize } };
	for (int i = 0; i < 3; i++)
		for (uint64_t o = at[i][0] / page; o < n_page && o * page < at[i][0] + at[i][1]; o++)
			used[o] = true;
	for (Elf_Scn *scn = NULL; (scn = elf_nextscn(e, scn));) {
		for (Elf_Data *d = NULL; (d = elf_getdata(scn, d));) {
			const char *buf = d->d_buf;
			if (!buf || buf < image || buf >= image + n)
				continue;	/* a copy (inflated), or nothing */
			size_t from = (size_t)(buf - image), len = d->d_size;
			for (size_t o = from / page; o < n_page && o * page < from + len; o++)
				used[o] = true;
		}
	}
	for (size_t i = 0; i < n_page;) {
		size_t k = i;
		while (k < n_page && !used[k])
			k++;
		if (k > i)
			madvise(image + i * page, (k - i) * page, MADV_PAGEOUT);
		i = k + 1;
	}
	free(used);
#else
	(void)e;
#endif
}

/* Sorts the n entries of v (each size bytes, a struct range first) with
 * cmp, which orders by start first, and sets their max_end. */
static void ranges_sort(void *v, size_t n, size_t size, int (*cmp)(const void *, const void *))
{
	uint64_t max_end = 0;
	qsort(v, n, size, cmp);
	for (size_t i = 0; i < n; i++) {
		struct range *r = (struct range *)((char *)v + i * size);
		max_end = r->end > max_end ? r->end : max_end;
		r->max_end = max_end;
	}
}

/* How many of the n sorted entries of v start at or below addr: the
 * walk for the ranges that hold addr goes down from the one before. */
static size_t ranges_upto(const void *v, size_t n, size_t size, uint64_t addr)
{
	size_t lo = 0, hi = n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		if (((const struct range *)((const char *)v + mid * size))->start <= addr)
			lo = mid + 1;
		else
			hi = mid;
	}
	return lo;
}

static int by_start(const void *x, const void *y)
{
	const struct symbol *a = x, *b = y;
	if (a->r.start != b->r.start)
		return a->r.start < b->r.start ? -1 : 1;
	/* at one address, the preferred last: the lookup takes the last */
	if (a->rank != b->rank)
		return a->rank - b->rank;
	return (a->r.end > a->r.start) - (b->r.end > b->r.start);
}

/* The module's symbols that can hold code (what dwfl_module_addrinfo
 * considers: not sections, files or TLS, defined), sorted by address.
 * libdw gives the symbol table of the file, or of its debug file when the
 * file is stripped, and the minidebuginfo's. */
static void load_symbols(struct symfile *f)
{
	f->syms_loaded = true;
	int n = dwfl_module_getsymtab(f->mod);
	if (n <= 1)
		return;
	struct symbol *syms = malloc((size_t)n * sizeof(*syms));
	if (!syms)
		return;	/* no names from the symbol table, DWARF's still */
	size_t k = 0;
	for (int i = 1; i < n; i++) {
		GElf_Sym sym;
		GElf_Addr addr;
		GElf_Word shndx;
		const char *name = dwfl_module_getsym_info(f->mod, i, &sym, &addr, &shndx, NULL, NULL);
		int type = GELF_ST_TYPE(sym.st_info);
		if (!name || !*name || shndx == SHN_UNDEF || type == STT_SECTION ||
		    type == STT_FILE || type == STT_TLS)
			continue;
		int bind = GELF_ST_BIND(sym.st_info);
		syms[k++] = (struct symbol){ { addr, addr + sym.st_size, 0 }, name,
					     bind == STB_GLOBAL ? 2 : bind == STB_WEAK ? 1 : 0 };
	}
	ranges_sort(syms, k, sizeof(*syms), by_start);
	f->syms = syms;
	f->n_syms = k;
}

/* The name of the symbol that holds vaddr: of those whose range holds it,
 * the one that starts closest below it (the global one of several at one
 * address); else the closest symbol without a size below it, when no
 * sized symbol ends between the two. NULL when none does. */
static const char *symbol_at(struct symfile *f, uint64_t vaddr)
{
	if (!f->syms_loaded)
		load_symbols(f);
	size_t upto = ranges_upto(f->syms, f->n_syms, sizeof(*f->syms), vaddr);
	const struct symbol *sizeless = NULL;
	for (size_t i = upto; i-- > 0 && f->syms[i].r.max_end > vaddr;)
		if (f->syms[i].r.end > vaddr)
			return f->syms[i].name;
	/* no sized symbol holds it: the nearest sizeless one below, unless
	 * a sized one lies between */
	for (size_t i = upto; i-- > 0;) {
		const struct symbol *y = &f->syms[i];
		if (y->r.end > y->r.start)
			break;
		if (!sizeless || y->r.start == sizeless->r.start)
			sizeless = y;
		else
			break;
	}
	return sizeless ? sizeless->name : NULL;
}

/* ---- names as pprof shows them --------------------------------------------
 * pprof demangles with github.com/ianlancetaylor/demangle, a port of GNU
 * libiberty's demangler: libiberty's output is the same. Without
 * parameters (DMGL_PARAMS off) it stops after the name, as the port's
 * NoParams does: no return type, no qualifiers, no clone suffix. Template
 * arguments are then removed from the text; the port leaves them out
 * while printing, which differs only for operator< and operator<<. */

/* pprof's removeMatching: each outermost open..close pair removed with
 * what it holds, left to right; at a close with no open it stops there,
 * and an open never closed stays. */
static void remove_matching(char *name, char open, char close)
{
	int nesting = 0;
	ptrdiff_t first = 0;
	for (ptrdiff_t cur = 0; name[cur]; cur++) {
		if (name[cur] == open) {
			if (++nesting == 1)
				first = cur;
		} else if (name[cur] == close) {
			if (--nesting < 0)
				return;
			if (nesting == 0) {
				memmove(name + first, name + cur + 1, strlen(name + cur + 1) + 1);
				cur = first - 1;
			}
		}
	}
}

/* The symbol of an operator name starting at p (after "operator"): its
 * length, the longest that fits; 0 when none does (operator new, int). */
static size_t operator_symbol(const char *p)
{
	static const char *const ops[] = {
		"<<=", ">>=", "<=>", "->*", "<<", ">>", "<=", ">=", "==", "!=", "&&", "||", "++",
		"--", "->", "+=", "-=", "*=", "/=", "%=", "&=", "|=", "^=", "<", ">", "=", "+",
		"-", "*", "/", "%", "^", "&", "|", "~", "!", ",",
	};
	for (size_t i = 0; i < sizeof(ops) / sizeof(ops[0]); i++)
		if (!strncmp(p, ops[i], strlen(ops[i])))
			return strlen(ops[i]);
	return 0;
}

/* Removes the template arguments of a name demangled without parameters,
 * sparing the < and > of operator names (operator<, operator<<=,
 * operator->). libiberty writes "operator< <int>": that space goes too. */
static void drop_template_args(char *s)
{
	char *out = s;
	int angle = 0;
	for (char *p = s; *p;) {
		if (!strncmp(p, "operator", 8) &&
		    (p == s || (!isalnum((unsigned char)p[-1]) && p[-1] != '_')) &&
		    !isalnum((unsigned char)p[8]) && p[8] != '_') {
			size_t n = 8 + operator_symbol(p + 8);
			if (angle == 0) {
				memmove(out, p, n);
				out += n;
			}
			p += n;
			if (p[-1] == '<' && p[0] == ' ' && p[1] == '<')
				p++;
			continue;
		}
		if (*p == '<')
			angle++;
		else if (*p == '>' && angle > 0)
			angle--;
		else if (angle == 0)
			*out++ = *p;
		p++;
	}
	*out = '\0';
}

/* pprof's looksLikeDemangledCPlusPlus. */
static bool looks_demangled(const char *name)
{
	return !strstr(name, ".<") && !strstr(name, "]).") &&
	       (strpbrk(name, "<>[]") || strstr(name, "::"));
}

char *symbolize_demangle(const char *system_name, enum sym_demangle mode)
{
	int opts = mode == SYM_DEMANGLE_DEFAULT || mode == SYM_DEMANGLE_TEMPLATES
			   ? DMGL_GNU_V3 : DMGL_GNU_V3 | DMGL_PARAMS | DMGL_ANSI;
	char *d = NULL;
	if (!strncmp(system_name, "_Z", 2)) {
		char *name = strdup(system_name);
		if (!name)
			return NULL;
		/* pprof's full mode ignores a clone suffix (.isra.0, .cold) */
		char *dot = mode == SYM_DEMANGLE_FULL ? strchr(name, '.') : NULL;
		if (dot)
			*dot = '\0';
		d = cplus_demangle_v3(name, opts);
		free(name);
	}
	if (d) {
		if (mode == SYM_DEMANGLE_DEFAULT)
			drop_template_args(d);
		return d;
	}
	char *name = strdup(system_name);
	if (name && looks_demangled(name)) {
		if (mode == SYM_DEMANGLE_DEFAULT || mode == SYM_DEMANGLE_TEMPLATES)
			remove_matching(name, '(', ')');
		if (mode == SYM_DEMANGLE_DEFAULT)
			remove_matching(name, '<', '>');
	}
	return name;
}

int symbolize_demangle_profile(struct profile *p, enum sym_demangle mode, bool force)
{
	for (size_t i = 0; i < p->n_function; i++) {
		struct profile_function *f = p->function[i];
		if (force ? !*f->system_name : *f->name && strcmp(f->name, f->system_name) != 0)
			continue;
		/* most names (C's, Go's) come out as they are: no copy */
		bool heuristic = mode == SYM_DEMANGLE_DEFAULT || mode == SYM_DEMANGLE_TEMPLATES;
		if (strncmp(f->system_name, "_Z", 2) != 0 &&
		    !(heuristic && looks_demangled(f->system_name))) {
			f->name = f->system_name;
			continue;
		}
		char *d = symbolize_demangle(f->system_name, mode);
		const char *name = d ? profile_intern(p, d) : NULL;
		free(d);
		if (!name)
			return -ENOMEM;
		f->name = name;
	}
	return 0;
}

static bool same_function(uint64_t value, const void *ctx)
{
	const struct profile_function *fn = (const void *)(uintptr_t)value;
	const struct sym_frame *f = ctx;
	return !strcmp(fn->name, f->name) && !strcmp(fn->system_name, f->system_name) &&
	       !strcmp(fn->filename, f->file) && fn->start_line == f->start_line;
}

struct profile_function *sym_function(struct profile *p, struct sym_functions *fns,
				      const struct sym_frame *f)
{
	uint64_t h = hash_bytes(f->name, strlen(f->name), 0);
	h = hash_bytes(f->system_name, strlen(f->system_name), h);
	h = hash_bytes(f->file, strlen(f->file), h) ^ hash_u64((uint64_t)f->start_line);
	uint64_t key;
	bool inserted;
	uint64_t *slot = hashmap_probe(&fns->map, h, same_function, f, &inserted, &key);
	if (!slot)
		return NULL;
	if (!inserted)
		return (void *)(uintptr_t)*slot;
	struct profile_function *fn = profile_add_function(p, ++fns->last_id);
	if (!fn || !(fn->name = profile_intern(p, f->name)) ||
	    !(fn->system_name = profile_intern(p, f->system_name)) ||
	    !(fn->filename = profile_intern(p, f->file))) {
		hashmap_remove(&fns->map, key);
		return NULL;
	}
	fn->start_line = f->start_line;
	*slot = (uint64_t)(uintptr_t)fn;
	return fn;
}

void sym_functions_release(struct sym_functions *fns)
{
	hashmap_release(&fns->map);
}

bool sym_is_allocator(const struct profile_location *l)
{
	return l->n_line && l->line[l->n_line - 1].function &&
	       !strncmp(l->line[l->n_line - 1].function->name, "operator new", 12);
}

/* The name pprof would show for mangled, remembered. */
static const char *demangle(struct symbolizer *s, const char *mangled)
{
	const char *key = hashmap_intern(&s->strings, &s->arena, mangled, strlen(mangled));
	bool inserted;
	uint64_t *slot = key ? hashmap_put(&s->names, (uintptr_t)key, &inserted) : NULL;
	if (!slot)
		return mangled;
	if (!inserted)
		return (const char *)(uintptr_t)*slot;
	char *d = symbolize_demangle(mangled, SYM_DEMANGLE_DEFAULT);
	const char *shown = d ? arena_strndup(&s->arena, d, strlen(d)) : NULL;
	free(d);
	if (!shown) {
		hashmap_remove(&s->names, (uintptr_t)key);
		return mangled;
	}
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

/* ---- scopes: which functions (inlined or not) hold an address ----------
 * libdw's dwarf_getscopes walks the CU's DIE tree from its top for every
 * address (and dwarf_getscopes_die again for an inlined one): ~5 million
 * instructions a location in a CU as big as CPython's ceval.c. Instead
 * each CU is walked once, its functions and inlined instances put in a
 * table sorted by address, and each address is a binary search. */
struct scope {
	uint64_t lo, hi;	/* one of its ranges: [lo, hi) */
	Dwarf_Die die;
	int32_t parent;		/* the scope it is in (walk order index), -1: none */
	uint16_t depth;
	bool subprogram;	/* else an inlined instance */
};

struct scope_ix {		/* cu_scopes.sorted: by start, the deeper later at one start */
	struct range r;		/* the scope's [lo, hi) */
	uint32_t scope;
	uint16_t depth;
};

struct cu_scopes {
	struct scope *v;	/* in walk order (parents first) */
	size_t n, cap;
	struct scope_ix *sorted;
	bool failed;
};

static void free_cus(struct symfile *f)
{
	for (size_t i = 0; f->cus.entries && i <= f->cus.mask; i++)
		if (f->cus.entries[i].used) {
			struct cu_scopes *cs = (void *)(uintptr_t)f->cus.entries[i].value;
			free(cs->v);
			free(cs->sorted);
			free(cs);
		}
	hashmap_release(&f->cus);
}

#define SCOPE_MAX_DEPTH 256	/* deeper DIE trees (crafted files) are cut there */

static void walk_scopes(struct cu_scopes *cs, Dwarf_Die *die, int32_t parent, int depth)
{
	Dwarf_Die child;
	if (depth >= SCOPE_MAX_DEPTH || dwarf_child(die, &child) != 0)
		return;
	do {
		int tag = dwarf_tag(&child);
		int32_t me = -1;
		bool descend = tag == DW_TAG_lexical_block || tag == DW_TAG_namespace ||
			       tag == DW_TAG_class_type || tag == DW_TAG_structure_type ||
			       tag == DW_TAG_union_type || tag == DW_TAG_module;
		if (tag == DW_TAG_subprogram || tag == DW_TAG_inlined_subroutine) {
			Dwarf_Addr base, start, end;
			ptrdiff_t off = 0;
			while ((off = dwarf_ranges(&child, off, &base, &start, &end)) > 0) {
				if (end <= start)
					continue;
				if (array_grow(&cs->v, &cs->cap, cs->n, sizeof(*cs->v)) < 0) {
					cs->failed = true;
					return;
				}
				if (me < 0)
					me = (int32_t)cs->n;
				cs->v[cs->n++] = (struct scope){ start, end, child, parent, (uint16_t)depth,
								 tag == DW_TAG_subprogram };
			}
			descend = me >= 0;	/* no code: nothing inside has any */
		}
		if (descend)
			walk_scopes(cs, &child, me >= 0 ? me : parent, depth + 1);
		if (cs->failed)
			return;
	} while (dwarf_siblingof(&child, &child) == 0);
}

static int by_start_depth(const void *x, const void *y)
{
	const struct scope_ix *a = x, *b = y;
	if (a->r.start != b->r.start)
		return a->r.start < b->r.start ? -1 : 1;
	return (int)a->depth - (int)b->depth;
}

/* The scope table of the CU cudie, made on first use; NULL when out of
 * memory (the caller then asks libdw as before). */
static struct cu_scopes *cu_scopes(struct symfile *f, Dwarf_Die *cudie)
{
	bool inserted;
	uint64_t *slot = hashmap_put(&f->cus, dwarf_dieoffset(cudie), &inserted);
	if (!slot)
		return NULL;
	if (!inserted)
		return (struct cu_scopes *)(uintptr_t)*slot;
	struct cu_scopes *cs = calloc(1, sizeof(*cs));
	if (cs)
		walk_scopes(cs, cudie, -1, 0);
	if (cs && !cs->failed && !(cs->sorted = malloc((cs->n ? cs->n : 1) * sizeof(*cs->sorted))))
		cs->failed = true;
	if (!cs || cs->failed) {
		if (cs)
			free(cs->v);
		free(cs);
		hashmap_remove(&f->cus, dwarf_dieoffset(cudie));
		return NULL;
	}
	for (size_t i = 0; i < cs->n; i++)
		cs->sorted[i] = (struct scope_ix){ { cs->v[i].lo, cs->v[i].hi, 0 }, (uint32_t)i,
						   cs->v[i].depth };
	ranges_sort(cs->sorted, cs->n, sizeof(*cs->sorted), by_start_depth);
	*slot = (uint64_t)(uintptr_t)cs;
	return cs;
}

/* The functions that hold addr in the CU cudie, innermost first: the
 * innermost inlined instance (or function), then the scopes it was
 * inlined into, up to the function that is not inlined. Sets *out to a
 * malloc'd array; returns how many, or -1 when the table could not be
 * made. */
static int find_scopes(struct symfile *f, Dwarf_Die *cudie, uint64_t addr, Dwarf_Die **out)
{
	struct cu_scopes *cs = cu_scopes(f, cudie);
	*out = NULL;
	if (!cs)
		return -1;
	const struct scope_ix *best = NULL;
	for (size_t i = ranges_upto(cs->sorted, cs->n, sizeof(*cs->sorted), addr);
	     i-- > 0 && cs->sorted[i].r.max_end > addr;)
		if (cs->sorted[i].r.end > addr && (!best || cs->sorted[i].depth > best->depth))
			best = &cs->sorted[i];
	if (!best)
		return 0;
	int n = 0;
	for (int32_t k = (int32_t)best->scope; k >= 0; k = cs->v[k].parent) {
		n++;
		if (cs->v[k].subprogram)
			break;
	}
	if (!(*out = malloc((size_t)n * sizeof(**out))))
		return -1;
	int i = 0;
	for (int32_t k = (int32_t)best->scope; i < n; k = cs->v[k].parent)
		(*out)[i++] = cs->v[k].die;
	return n;
}

int symbolizer_lookup(struct symbolizer *s, const char *path, uint64_t vaddr,
		      const struct sym_frame **frames)
{
	*frames = s->frames;
	struct symfile *f = get_file(s, path);
	if (f)
		open_module(f);
	if (!f || !f->mod)
		return 0;

	/* the symbol table: the fallback, and the name when DWARF has none */
	const char *symname = symbol_at(f, vaddr);
	const char *file = NULL;
	int line = 0;
	Dwfl_Line *dl = f->has_dwarf ? dwfl_module_getsrc(f->mod, vaddr) : NULL;
	if (dl)
		file = dwfl_lineinfo(dl, NULL, &line, NULL, NULL, NULL);

	int n = 0;
	Dwarf_Addr bias;
	Dwarf_Die *cudie = f->has_dwarf ? dwfl_module_addrdie(f->mod, vaddr, &bias) : NULL;
	Dwarf_Die *scopes = NULL;
	int nscopes = cudie ? find_scopes(f, cudie, vaddr - bias, &scopes) : 0;
	if (nscopes < 0)	/* out of memory for the table: libdw's own walk */
		nscopes = dwarf_getscopes(cudie, vaddr - bias, &scopes);
	/* dwarf_getscopes continues an inlined instance into its abstract
	 * definition; dwarf_getscopes_die on the innermost instance gives the
	 * chain of scopes it was inlined into, which is what the frames are
	 * (find_scopes' answer already is). */
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
	if (!f)
		return "";
	/* a file replaced (or rewritten) since it was first read: its build
	 * id now, and libdw lets go of the old one. Whether a profile calls
	 * a file changed on disk must not depend on when the symbolizer first
	 * read it (an earlier snapshot; memprof run symbolizing while the
	 * program runs). */
	struct stat st = { 0 };
	if (f->path[0] == '/' && (stat(f->path, &st) < 0 || !S_ISREG(st.st_mode)))
		st.st_mode = 0;
	if (f->path[0] == '/' && !same_file(&st, &f->seen)) {
		close_file(f);
		identify(f);
	}
	return f->build_id;
}

int symbolizer_has_file(struct symbolizer *s, const char *path, int *has_dwarf)
{
	struct symfile *f = get_file(s, path);
	if (f)
		open_module(f);
	*has_dwarf = f && f->has_dwarf;
	return f && f->mod;
}

/* Whether the file at path has build id want (hex): "" wants any file.
 * A file there with another build id is refused, and said. */
static bool file_matches(struct symbolizer *s, const char *path, const char *want)
{
	struct symfile *f = get_file(s, path);
	if (!f || !f->regular)
		return false;
	if (!*want || !strcmp(f->build_id, want))
		return true;
	say(s, "%s: build id %s, not the profile's %s: not used", path,
	    *f->build_id ? f->build_id : "(none)", want);
	return false;
}

static const char *try_resolved(struct symbolizer *s, const char *want, const char *fmt, ...)
{
	char *path;
	va_list ap;
	va_start(ap, fmt);
	int n = vasprintf(&path, fmt, ap);
	va_end(ap);
	if (n < 0)
		return NULL;
	/* absolute: the symbolizer takes relative names for [vdso] and friends */
	char *real = realpath(path, NULL);
	const char *r = real && file_matches(s, real, want)
				? hashmap_intern(&s->strings, &s->arena, real, strlen(real)) : NULL;
	free(real);
	free(path);
	return r;
}

/* want as a GNU build id in lowercase hex (4 to 128 digits, even), in
 * id; false when it is not one: a crafted profile's "build id" never
 * becomes part of a path, nor of a debuginfod request. */
static bool build_id_hex(const char *want, char id[129])
{
	size_t n = strlen(want);
	if (n < 4 || n > 128 || n % 2)
		return false;
	for (size_t i = 0; i < n; i++) {
		int v = hex_digit(want[i]);
		if (v < 0)
			return false;
		id[i] = "0123456789abcdef"[v];
	}
	id[n] = '\0';
	return true;
}

static const char *resolve(struct symbolizer *s, const char *path, const char *want_in)
{
	char want[129] = "";	/* "": the mapping has none */
	if (*want_in && !build_id_hex(want_in, want))
		return NULL;
	const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char rel[2 * 64 + 2] = "";
	size_t idlen = strlen(want);
	if (idlen >= 4 && idlen <= 128 && idlen % 2 == 0)
		snprintf(rel, sizeof(rel), "%.2s/%s", want, want + 2);
	const char *r;
	struct stat st;
	/* the directories the user named first: the mapped file may be here,
	 * stripped, with its debug file there by name only */
	for (const char *const *d = s->debug_dirs; d && *d; d++) {
		if (*rel && ((r = try_resolved(s, want, "%s/.build-id/%s.debug", *d, rel)) ||
			     (r = try_resolved(s, want, "%s/.build-id/%s", *d, rel))))
			return r;
		if (*base && ((r = try_resolved(s, want, "%s/%s.debug", *d, base)) ||
			      (r = try_resolved(s, want, "%s/%s", *d, base))))
			return r;
	}
	if (path[0] == '/' && stat(path, &st) == 0 && file_matches(s, path, want))
		return hashmap_intern(&s->strings, &s->arena, path, strlen(path));
	if (*rel && (r = try_resolved(s, want, DEBUG_DIR "/.build-id/%s.debug", rel)))
		return r;
	char *got = NULL;
	int fd = *want ? debuginfod_find(s, want, &got) : -1;
	if (fd >= 0) {
		close(fd);
		r = file_matches(s, got, want) ? hashmap_intern(&s->strings, &s->arena, got, strlen(got))
					       : NULL;
		free(got);
		return r;
	}
	return NULL;
}

const char *symbolizer_resolve(struct symbolizer *s, const char *path, const char *build_id)
{
	/* remembered: every location of a mapping asks */
	size_t lp = strlen(path), lb = strlen(build_id);
	char *key = malloc(lp + lb + 2);
	if (!key)
		return NULL;
	memcpy(key, build_id, lb + 1);
	memcpy(key + lb + 1, path, lp + 1);
	const char *k = hashmap_intern(&s->strings, &s->arena, key, lp + lb + 1);
	free(key);
	bool inserted;
	uint64_t *slot = k ? hashmap_put(&s->resolved, (uintptr_t)k, &inserted) : NULL;
	if (!slot)
		return NULL;
	if (!inserted)
		return (const char *)(uintptr_t)*slot;
	const char *r = resolve(s, path, build_id);	/* touches no s->resolved */
	*slot = (uint64_t)(uintptr_t)r;
	return r;
}

int symbolizer_file_vaddr(const char *path, uint64_t offset, uint64_t *vaddr)
{
	struct stat st;
	int fd = open_elf(path, &st);
	if (fd < 0)
		return fd;
	Elf *e = elf_begin(fd, ELF_C_READ_MMAP, NULL);
	size_t n = 0;
	int rc = -ENOENT;
	if (e && elf_getphdrnum(e, &n) == 0) {
		/* the loadable segment that holds offset; else the first
		 * executable one (a debug file may keep phdrs whose offsets
		 * no longer mean anything: objcopy --only-keep-debug) */
		for (int pass = 0; pass < 2 && rc < 0; pass++)
			for (size_t i = 0; i < n && rc < 0; i++) {
				GElf_Phdr ph;
				if (!gelf_getphdr(e, (int)i, &ph) || ph.p_type != PT_LOAD)
					continue;
				if (pass == 0 ? offset >= ph.p_offset && offset < ph.p_offset + ph.p_filesz
					      : (ph.p_flags & PF_X) != 0) {
					*vaddr = ph.p_vaddr + (pass == 0 ? offset - ph.p_offset : 0);
					rc = 0;
				}
			}
	}
	elf_end(e);
	close(fd);
	return rc;
}
