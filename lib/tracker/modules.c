/* modules.c - the module map (see modules.h). */
#include "modules.h"

#include <dlfcn.h>
#include <elf.h>
#include <limits.h>
#include <link.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "records.h"
#include "stream.h"
#include "unwind.h"

static char exe_path[PATH_MAX];

/* The readable segments of every loaded object, sorted: where the
 * unwinder may read without asking the kernel (see sampler.c). Rebuilt
 * with each map sent; under the lock. */
#define MAX_RANGES 2048
static struct range {
	uintptr_t start, end;
} ranges[MAX_RANGES];
static size_t n_ranges;
static int ranges_stale;	/* set (without the lock) when an object may go */

void modules_going(void)
{
	__atomic_store_n(&ranges_stale, 1, __ATOMIC_SEQ_CST);
}

bool modules_stale(void)
{
	return __atomic_load_n(&ranges_stale, __ATOMIC_ACQUIRE);
}

static int range_cmp(const void *a, const void *b)
{
	const struct range *x = a, *y = b;
	return x->start < y->start ? -1 : x->start > y->start;
}

static int ranges_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	(void)size;
	(void)data;
	for (int i = 0; i < info->dlpi_phnum && n_ranges < MAX_RANGES; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type == PT_LOAD && (ph->p_flags & PF_R) && ph->p_memsz)
			ranges[n_ranges++] = (struct range){ info->dlpi_addr + ph->p_vaddr,
							     info->dlpi_addr + ph->p_vaddr + ph->p_memsz };
	}
	return 0;
}

static void ranges_rebuild(void)
{
	__atomic_store_n(&ranges_stale, 0, __ATOMIC_SEQ_CST);
	n_ranges = 0;
	dl_iterate_phdr(ranges_cb, NULL);
	qsort(ranges, n_ranges, sizeof(ranges[0]), range_cmp);
}

bool modules_readable(uintptr_t addr, size_t len)
{
	size_t lo = 0, hi = modules_stale() ? 0 : n_ranges;
	while (lo < hi) {
		size_t mid = (lo + hi) / 2;
		if (ranges[mid].end <= addr)
			lo = mid + 1;
		else if (ranges[mid].start > addr)
			hi = mid;
		else
			return addr + len <= ranges[mid].end && addr + len > addr;
	}
	return false;
}
uintptr_t modules_self_start, modules_self_end;
static unsigned long long seen_adds, seen_subs;	/* the loader's counters when last sent */

const char *modules_exe(void)
{
	return exe_path;
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

static int send_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *name = info->dlpi_name;
	char abs[PATH_MAX];
	(void)data;
	if (size >= offsetof(struct dl_phdr_info, dlpi_subs) + sizeof(info->dlpi_subs)) {
		seen_adds = info->dlpi_adds;
		seen_subs = info->dlpi_subs;
	}
	if (!name || !*name)
		name = exe_path;
	else if (name[0] != '/' && realpath(name, abs))	/* dlopen("./x.so") */
		name = abs;
	const uint8_t *id = NULL;
	size_t id_len = build_id(info, &id);
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		uint8_t *r = stream_reserve(MEMPROF_RECORD_MAX), *p = r;
		if (!r)
			return 1;
		p = rec_u8(p, REC_MODULE);
		p = rec_u64(p, info->dlpi_addr);
		p = rec_u64(p, info->dlpi_addr + ph->p_vaddr);
		p = rec_u64(p, info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
		p = rec_u64(p, ph->p_offset);
		p = rec_name(p, name);
		p = rec_u8(p, (uint8_t)id_len);
		p = rec_put(p, id, id_len);
		stream_commit((size_t)(p - r));
	}
	return 0;
}

void modules_send(void)
{
	uint8_t t = REC_MODULES_RESET;
	ranges_rebuild();
	stream_emit(&t, 1);
	dl_iterate_phdr(send_cb, NULL);
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

void modules_note_current(void)
{
	ranges_rebuild();
	struct counters c = { 0, 0, false };
	dl_iterate_phdr(counters_cb, &c);
	seen_adds = c.adds;
	seen_subs = c.subs;
}

void modules_forget_sent(void)
{
	seen_adds = seen_subs = ~0ull;
}

bool modules_check(void)
{
	struct counters c = { 0, 0, false };
	dl_iterate_phdr(counters_cb, &c);
	if (!c.known || (c.adds == seen_adds && c.subs == seen_subs))
		return false;
	/* unloaded code's unwind info must go; new code's is read on demand */
	unw_flush_cache(unw_local_addr_space, 0, 0);
	unwind_flush();
	modules_send();
	return true;
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
