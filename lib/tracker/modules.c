/* modules.c - the module map (see modules.h). */
#include "modules.h"

#include <dlfcn.h>
#include <elf.h>
#include <errno.h>
#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "originals.h"
#include "records.h"
#include "sampler.h"
#include "stream.h"
#include "unwind.h"

static char exe_path[PATH_MAX];

/* ---- the snapshot of the loader's list ----------------------------------------

   Nothing here calls the loader (dl_iterate_phdr, dladdr) with the
   tracker's lock held: see "the loader's lock" in stream.h. The list is
   copied outside the lock, inside a dl_iterate_phdr callback (so with the
   loader's own lock held, which also keeps two copies from being made at
   once), into the spare of two buffers, and made current under the lock;
   from then on everything the lock protects reads the copy: the module
   map sent to memprof, the readable segments, the cached unwinder's
   search for an FDE, and libunwind's own dl_iterate_phdr calls (hooks.c
   serves those from here while the tracker walks a stack). The copy
   holds the program headers, names and build ids themselves, so it never
   points into an object that was unloaded since; only the unwind tables
   of an object that holds one of the stack's pcs are read in place, and
   such an object cannot be unloaded under a frame that is running. */

#define SNAP_OBJECTS 1024
#define SNAP_PHDRS 8192
#define SNAP_NAMES (256 * 1024)
#define MAX_RANGES 2048

struct range {
	uintptr_t start, end;
};

struct snap_object {
	uintptr_t addr;			/* dlpi_addr */
	uintptr_t lo, hi;		/* the span of its PT_LOAD segments */
	const uint8_t *eh_hdr;		/* its .eh_frame_hdr (in the object), or NULL */
	size_t eh_hdr_len;
	uint32_t name, phdr, phnum;	/* offsets into names and phdrs */
	uint8_t id_len, id[MEMPROF_BUILD_ID_MAX];
};

struct snapshot {
	unsigned long long adds, subs;	/* the loader's counters when copied */
	bool counted;			/* they were given (glibc always does) */
	size_t n_objects, n_phdrs, names_len, n_ranges;
	struct snap_object obj[SNAP_OBJECTS];
	ElfW(Phdr) phdrs[SNAP_PHDRS];
	struct range ranges[MAX_RANGES];	/* readable segments, sorted */
	char names[SNAP_NAMES];
	char abs[PATH_MAX];		/* realpath's, here rather than on the stack */
};

static struct snapshot *snaps[2];
static int modules_snap_cur = -1;	/* which is current: under the lock; -1: none yet */
static uint32_t snap_gen;	/* bumped with each new current copy (under the lock) */
static uint32_t sent_gen;	/* the copy memprof was last sent; 0: none */
static int snap_building;	/* a thread is filling the spare (claimed, never waited for) */
int modules_ranges_stale = MODULES_STALE;	/* MODULES_STALE when an object may go, and
						 * until the first copy; MODULES_CHECK when a
						 * walk missed (set without the lock) */
static int loader_suspect;	/* a forked child: the loader's lock may be held for good */

void modules_going(void)
{
	__atomic_fetch_or(&modules_ranges_stale, MODULES_STALE, __ATOMIC_SEQ_CST);
}

void modules_want_check(void)
{
	__atomic_fetch_or(&modules_ranges_stale, MODULES_CHECK, __ATOMIC_SEQ_CST);
}

/* ---- pcs in no object ----------------------------------------------------------

   A JIT's code, a libffi trampoline, any anonymous executable memory: no
   copy will ever hold it, and making one again for each sample that
   passes through it cost 27x (a full copy, the unwinders' caches flushed,
   and every read a syscall while the copy was stale). A walk that misses
   a pc asks for a retry (ts.walk_missed) only when the pc is not known to
   be in no object of the current copy; the retry compares the loader's
   counters only (a full copy only when they changed), and its walk
   (ts.walk_mark) notes the pcs it still misses here, as of this copy.
   Under the lock; a new copy forgets them (snap_gen). Direct-mapped: a
   pc pushed out costs one more retry. */

#define MISS_SLOTS 256

static struct {
	uintptr_t pc;
	uint32_t gen;
} misses[MISS_SLOTS];

static void note_miss(uintptr_t pc)
{
	size_t k = (size_t)((pc * 0x9E3779B97F4A7C15ull) >> 56) & (MISS_SLOTS - 1);
	if (misses[k].pc == pc && misses[k].gen == snap_gen)
		return;		/* known: in no object of this copy */
	if (ts.walk_mark) {
		misses[k].pc = pc;
		misses[k].gen = snap_gen;
		return;
	}
	ts.walk_missed = 1;
}


static inline const struct snapshot *current(void)
{
	return modules_snap_cur < 0 ? NULL : snaps[modules_snap_cur];
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

/* The GNU build id from the object's notes, in memory (notes are loaded). */
static size_t build_id(const struct dl_phdr_info *info, const uint8_t **out)
{
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_NOTE)
			continue;
		const uint8_t *p = (const uint8_t *)(info->dlpi_addr + ph->p_vaddr);
		const uint8_t *end = p + ph->p_memsz;
		while (p + sizeof(ElfW(Nhdr)) <= end) {
			const ElfW(Nhdr) *n = (const void *)p;
			const uint8_t *name = p + sizeof(*n);
			const uint8_t *desc = name + ((n->n_namesz + 3) & ~3u);
			if (desc + n->n_descsz > end)
				break;
			if (n->n_type == NT_GNU_BUILD_ID && n->n_namesz == 4 &&
			    !memcmp(name, "GNU", 4) && n->n_descsz <= MEMPROF_BUILD_ID_MAX) {
				*out = desc;
				return n->n_descsz;
			}
			p = desc + ((n->n_descsz + 3) & ~3u);
		}
	}
	return 0;
}

/* Copies one object; runs inside the real dl_iterate_phdr. */
static int copy_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct snapshot *s = data;
	const char *name = info->dlpi_name;
	if (!s->counted && size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		s->adds = info->dlpi_adds;
		s->subs = info->dlpi_subs;
		s->counted = true;
	}
	if (!name || !*name)
		name = exe_path;
	else if (name[0] != '/' && realpath(name, s->abs))	/* dlopen("./x.so") */
		name = s->abs;
	size_t len = strlen(name) + 1;
	if (s->n_objects == SNAP_OBJECTS || info->dlpi_phnum > SNAP_PHDRS - s->n_phdrs ||
	    len > SNAP_NAMES - s->names_len)
		return 0;	/* full: its pcs will be unknown (the walk stops there) */
	struct snap_object *o = &s->obj[s->n_objects++];
	*o = (struct snap_object){ .addr = info->dlpi_addr, .lo = UINTPTR_MAX,
				   .name = (uint32_t)s->names_len, .phdr = (uint32_t)s->n_phdrs,
				   .phnum = info->dlpi_phnum };
	memcpy(s->names + s->names_len, name, len);
	s->names_len += len;
	memcpy(&s->phdrs[s->n_phdrs], info->dlpi_phdr, info->dlpi_phnum * sizeof(ElfW(Phdr)));
	s->n_phdrs += info->dlpi_phnum;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		uintptr_t start = info->dlpi_addr + ph->p_vaddr, end = start + ph->p_memsz;
		if (ph->p_type == PT_GNU_EH_FRAME) {
			o->eh_hdr = (const uint8_t *)start;
			o->eh_hdr_len = ph->p_memsz;
		}
		if (ph->p_type != PT_LOAD || !ph->p_memsz)
			continue;
		if (start < o->lo)
			o->lo = start;
		if (end > o->hi)
			o->hi = end;
		if ((ph->p_flags & PF_R) && s->n_ranges < MAX_RANGES)
			s->ranges[s->n_ranges++] = (struct range){ start, end };
	}
	const uint8_t *id = NULL;
	o->id_len = (uint8_t)build_id(info, &id);
	memcpy(o->id, id, o->id_len);
	return 0;
}

struct counters {
	unsigned long long adds, subs;
	bool known;
};

static int counters_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	struct counters *c = data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		c->adds = info->dlpi_adds;
		c->subs = info->dlpi_subs;
		c->known = true;
	}
	return 1;	/* the first object says it all */
}

static struct snapshot *snap_alloc(void)
{
	void *m = mmap(NULL, sizeof(struct snapshot), PROT_READ | PROT_WRITE,
		       MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
	return m == MAP_FAILED ? NULL : m;
}

struct refresh_job {
	bool if_changed, made;
};

/* Under the claim, on whatever stack sampler_run_refresh chose. */
static void refresh_claimed(void *arg)
{
	struct refresh_job *j = arg;
	/* modules_snap_cur changes only here, under the claim: stable meanwhile */
	int spare = modules_snap_cur < 0 ? 0 : modules_snap_cur ^ 1;
	const struct snapshot *cur = current();
	int want = __atomic_load_n(&modules_ranges_stale, __ATOMIC_ACQUIRE);
	/* only an object that may have gone needs a copy whatever the
	 * counters say (a pc in no object never does) */
	bool if_changed = j->if_changed || !(want & MODULES_STALE);
	if (if_changed && cur && cur->counted) {
		struct counters c = { 0, 0, false };
		/* counters the same: no object came or went since the copy, it
		 * is exact (an object going from now on marks it again) */
		__atomic_fetch_and(&modules_ranges_stale, ~(MODULES_CHECK | MODULES_STALE),
				   __ATOMIC_SEQ_CST);
		real.dl_iterate_phdr(counters_cb, &c);
		if (c.known && c.adds == cur->adds && c.subs == cur->subs)
			return;
	}
	if (!snaps[spare] && !(snaps[spare] = snap_alloc()))
		return;
	struct snapshot *s = snaps[spare];
	s->counted = false;
	s->n_objects = s->n_phdrs = s->names_len = s->n_ranges = 0;
	/* an object that goes from now on marks the copy stale again */
	__atomic_store_n(&modules_ranges_stale, 0, __ATOMIC_SEQ_CST);
	real.dl_iterate_phdr(copy_cb, s);
	qsort(s->ranges, s->n_ranges, sizeof(s->ranges[0]), range_cmp);
	if (enter()) {
		bool first = modules_snap_cur < 0;
		__atomic_store_n(&modules_snap_cur, spare, __ATOMIC_RELEASE);
		if (++snap_gen == 0)
			snap_gen = 1;
		if (!first) {
			/* unloaded code's unwind info must go; new code's is
			 * read on demand (and a pc that was unknown may be known) */
			unw_flush_cache(unw_local_addr_space, 0, 0);
			unwind_flush();
		}
		leave();
		j->made = true;
	}
}

bool modules_refresh(bool if_changed)
{
	if (ts.holding || __atomic_load_n(&loader_suspect, __ATOMIC_RELAXED) ||
	    !__atomic_compare_exchange_n(&snap_building, &(int){ 0 }, 1, false, __ATOMIC_ACQUIRE,
					 __ATOMIC_RELAXED))
		return false;	/* a handler inside the tracker, a forked child that
				 * cannot trust the loader's lock, or another thread copying */
	struct refresh_job j = { if_changed, false };
	int saved = errno;	/* realpath's failures are not the program's */
	ts.busy++;	/* what realpath and qsort allocate passes through */
	sampler_run_refresh(refresh_claimed, &j);
	ts.busy--;
	errno = saved;
	__atomic_store_n(&snap_building, 0, __ATOMIC_RELEASE);
	return j.made;
}

/* glibc 2.36's fork resets dl_load_lock in the child but not
 * dl_load_write_lock, which dl_iterate_phdr takes: if a thread of the
 * parent was inside dl_iterate_phdr (a C++ throw in another thread, say)
 * the child's first call waits for good (tested: an alarm ends it). So the
 * child makes no copy (and compares no counters) until the program's own
 * loader call returned in it (a dlclose or a dl_iterate_phdr: hooks.c),
 * and walks with its parent's copy meanwhile: no segment read directly if
 * it was stale (reads go through the kernel), pcs it lacks cut the stack. */
void modules_fork_child(void)
{
	snap_building = 0;	/* a thread of the parent was copying: it is not here */
	loader_suspect = 1;
}

void modules_after_dlclose(void)
{
	modules_going();
	modules_loader_ok();
	/* only once the tracker has made its first copy (under memprof) */
	if (__atomic_load_n(&modules_snap_cur, __ATOMIC_ACQUIRE) >= 0)
		modules_refresh(false);
}

void modules_loader_ok(void)
{
	if (unlikely(__atomic_load_n(&loader_suspect, __ATOMIC_RELAXED)))
		__atomic_store_n(&loader_suspect, 0, __ATOMIC_RELAXED);
}

bool modules_readable(uintptr_t addr, size_t len)
{
	const struct snapshot *s = current();
	size_t lo = 0, hi = !s || modules_stale() ? 0 : s->n_ranges;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (s->ranges[mid].end <= addr)
			lo = mid + 1;
		else if (s->ranges[mid].start > addr)
			hi = mid;
		else
			return addr + len <= s->ranges[mid].end && addr + len > addr;
	}
	return false;
}

uintptr_t modules_self_start, modules_self_end;

const char *modules_exe(void)
{
	return exe_path;
}

static const struct snap_object *object_of(const struct snapshot *s, uintptr_t pc)
{
	for (size_t i = 0; s && i < s->n_objects; i++) {
		const struct snap_object *o = &s->obj[i];
		if (pc < o->lo || pc >= o->hi)
			continue;
		const ElfW(Phdr) *ph = &s->phdrs[o->phdr];
		for (uint32_t k = 0; k < o->phnum; k++)
			if (ph[k].p_type == PT_LOAD && pc - (o->addr + ph[k].p_vaddr) < ph[k].p_memsz)
				return o;
	}
	return NULL;
}

bool modules_eh_frame_hdr(uintptr_t pc, const uint8_t **hdr, size_t *len)
{
	const struct snap_object *o = object_of(current(), pc);
	if (!o) {
		note_miss(pc);
		return false;
	}
	*hdr = o->eh_hdr;
	*len = o->eh_hdr_len;
	return true;
}

int modules_iterate(int (*cb)(struct dl_phdr_info *, size_t, void *), void *data)
{
	const struct snapshot *s = current();
	int ret = 0;
	for (size_t i = 0; s && i < s->n_objects && !ret; i++) {
		const struct snap_object *o = &s->obj[i];
		struct dl_phdr_info info = {
			.dlpi_addr = o->addr, .dlpi_name = s->names + o->name,
			.dlpi_phdr = &s->phdrs[o->phdr], .dlpi_phnum = (ElfW(Half))o->phnum,
			.dlpi_adds = s->adds, .dlpi_subs = s->subs,
		};
		ret = cb(&info, sizeof(info), data);
	}
	if (!ret && ts.in_walk)
		note_miss(ts.walk_pc);	/* what libunwind looked for (its frame's pc) */
	return ret;
}

void modules_send(void)
{
	const struct snapshot *s = current();
	uint8_t t = REC_MODULES_RESET;
	if (!s)
		return;
	stream_emit(&t, 1);
	for (size_t i = 0; i < s->n_objects; i++) {
		const struct snap_object *o = &s->obj[i];
		const ElfW(Phdr) *ph = &s->phdrs[o->phdr];
		for (uint32_t k = 0; k < o->phnum; k++) {
			if (ph[k].p_type != PT_LOAD || !(ph[k].p_flags & PF_X))
				continue;
			uint8_t *r = stream_reserve(MEMPROF_RECORD_MAX), *p = r;
			if (!r)
				return;
			p = rec_u8(p, REC_MODULE);
			p = rec_u64(p, o->addr);
			p = rec_u64(p, o->addr + ph[k].p_vaddr);
			p = rec_u64(p, o->addr + ph[k].p_vaddr + ph[k].p_memsz);
			p = rec_u64(p, ph[k].p_offset);
			p = rec_name(p, s->names + o->name);
			p = rec_u8(p, o->id_len);
			p = rec_put(p, o->id, o->id_len);
			stream_commit((size_t)(p - r));
		}
	}
	sent_gen = snap_gen;
}

bool modules_check(void)
{
	if (sent_gen == snap_gen || modules_snap_cur < 0)
		return false;
	modules_send();
	return true;
}

void modules_note_current(void)
{
	sent_gen = snap_gen;
}

void modules_forget_sent(void)
{
	sent_gen = 0;
}

struct text_range {
	uintptr_t base, start, end;
};

static int text_cb(struct dl_phdr_info *i, size_t size, void *data)
{
	struct text_range *r = data;
	(void)size;
	if (i->dlpi_addr != r->base)
		return 0;
	for (int k = 0; k < i->dlpi_phnum; k++)
		if (i->dlpi_phdr[k].p_type == PT_LOAD && (i->dlpi_phdr[k].p_flags & PF_X)) {
			r->start = i->dlpi_addr + i->dlpi_phdr[k].p_vaddr;
			r->end = r->start + i->dlpi_phdr[k].p_memsz;
		}
	return 1;
}

void modules_text_of(const void *addr, uintptr_t *start, uintptr_t *end)
{
	Dl_info info;
	struct text_range r = { 0, 0, 0 };
	if (dladdr(addr, &info)) {
		r.base = (uintptr_t)info.dli_fbase;
		dl_iterate_phdr(text_cb, &r);
	}
	*start = r.start;
	*end = r.end;
}

void modules_init(void)
{
	ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	exe_path[n > 0 ? n : 0] = '\0';
	modules_text_of((const void *)modules_init, &modules_self_start, &modules_self_end);
}
