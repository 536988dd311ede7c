/* tracker.c - libmemprof.so, preloaded into the profiled program.
 *
 * Interposes the malloc family, samples allocations with a per-thread byte
 * countdown (exponential distances with mean = rate, as Go's
 * MemProfileRate), unwinds the stacks of sampled ones with libunwind, and
 * sends compact records (lib/tracker/records.h) to the collector, over a
 * connection to memprof's abstract socket or into a recording file. Nothing
 * else happens here: no symbolization, no stdio, no locks on the fast path.
 *
 * Locking: one global lock (`lock`, a futex) protects the record buffer,
 * the table of sampled live blocks (none at --rate 1) and the stack table.
 * Only sampled allocations, frees that the filter says may be of a sampled
 * block, module changes and flushes take it. The fast path touches only
 * initial-exec TLS and reads one byte of `page_samples`.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <link.h>
#include <malloc.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <stddef.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "records.h"

#define likely(x) __builtin_expect(!!(x), 1)
#define unlikely(x) __builtin_expect(!!(x), 0)
#define EXPORT __attribute__((visibility("default")))
#define FLUSH_INTERVAL_NS 100000000	/* records wait at most about this long */
#define FILTER_BITS 16

/* ---- the allocator underneath ------------------------------------------- */

/* malloc and free start out pointing at first_malloc / first_free, which
 * find the real ones, so the fast paths need no test of their own. */
static void *first_malloc(size_t size);
static void first_free(void *p);
static void *(*real_malloc)(size_t) = first_malloc;
static void (*real_free)(void *) = first_free;
static void *(*real_calloc)(size_t, size_t);
static void *(*real_realloc)(void *, size_t);
static void *(*real_reallocarray)(void *, size_t, size_t);
static int (*real_posix_memalign)(void **, size_t, size_t);
static void *(*real_aligned_alloc)(size_t, size_t);
static void *(*real_memalign)(size_t, size_t);
static void *(*real_valloc)(size_t);
static void *(*real_pvalloc)(size_t);

/* dlsym may allocate before the real functions are known: serve that from
 * a static pool whose blocks are never freed. */
static _Alignas(64) char boot_pool[64 * 1024];
static size_t boot_used;
static int resolving;

static bool is_boot_block(const void *p)
{
	return (const char *)p >= boot_pool && (const char *)p < boot_pool + sizeof(boot_pool);
}

static void filter_pin(const void *p);

/* Boot blocks are marked in the free filter for good, so free() sends
 * them to its slow path, which recognises them, and its fast path needs no
 * test of its own. */
static void *boot_alloc(size_t size, size_t align)
{
	size_t at = (boot_used + align - 1) & ~(align - 1);
	if (at + size > sizeof(boot_pool))
		return NULL;
	boot_used = at + size;
	filter_pin(boot_pool + at);
	return boot_pool + at;	/* static storage: already zeroed */
}

static void resolve_real(void)
{
	resolving = 1;
	void *(*m)(size_t) = dlsym(RTLD_NEXT, "malloc");
	void (*f)(void *) = dlsym(RTLD_NEXT, "free");
	if (m && f) {
		real_malloc = m;
		real_free = f;
	}
	real_calloc = dlsym(RTLD_NEXT, "calloc");
	real_realloc = dlsym(RTLD_NEXT, "realloc");
	real_reallocarray = dlsym(RTLD_NEXT, "reallocarray");
	real_posix_memalign = dlsym(RTLD_NEXT, "posix_memalign");
	real_aligned_alloc = dlsym(RTLD_NEXT, "aligned_alloc");
	real_memalign = dlsym(RTLD_NEXT, "memalign");
	real_valloc = dlsym(RTLD_NEXT, "valloc");
	real_pvalloc = dlsym(RTLD_NEXT, "pvalloc");
	resolving = 0;
}

/* ---- per-thread state (initial-exec: no allocation on first access) ------ */

struct thread_state {
	int64_t countdown;	/* bytes until the next sample; <= 0: slow path */
	uint64_t rng;		/* xorshift state, 0 until the thread is set up */
	int busy;		/* inside the tracker: allocations just pass through */
	int holding;		/* this thread holds (or is taking) `lock` */
};

static __thread struct thread_state ts __attribute__((tls_model("initial-exec")));

/* ---- global state --------------------------------------------------------- */

static int lock;	/* see lock_take() */
static int64_t rate = 512 * 1024;	/* mean bytes between samples */
static bool sample_all;	/* rate 1: every block is sampled, and there is no table */
static volatile int active;		/* set once init succeeded, cleared on error */
static int out_fd = -1;
static bool out_is_socket;
static char sock_name[100];	/* memprof's abstract socket, without the NUL */
static size_t sock_name_len;
static dev_t out_dev;
static ino_t out_ino;
static uint32_t my_pid, my_incarnation;
static uintptr_t self_start, self_end;	/* our own text: frames to skip */

static _Alignas(64) unsigned char buf[MEMPROF_BATCH_MAX];	/* under lock */
static size_t buf_len = sizeof(struct memprof_batch_header);
static uint64_t last_flush_ns;
static uint32_t lost_records;

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC_COARSE, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t wall_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void stop_tracking(void)
{
	active = 0;
}

/* The program may have closed our descriptor and reused the number for one
 * of its own files; never write into those. Caller holds lock. */
static bool out_fd_is_ours(void)
{
	struct stat st;
	return fstat(out_fd, &st) == 0 && st.st_dev == out_dev && st.st_ino == out_ino;
}

/* Makes fd our output, remembering what it is so that a later
 * out_fd_is_ours() can tell whether the program has taken the number. */
static int adopt_fd(int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return -1;
	out_fd = fd;
	out_dev = st.st_dev;
	out_ino = st.st_ino;
	return 0;
}

/* A new connection to memprof's abstract socket (close-on-exec: an exec'd
 * image makes its own). Returns 0 or -1. */
static int connect_collector(void)
{
	struct sockaddr_un a;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path + 1, sock_name, sock_name_len);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	/* room for bursts (at --rate 1 a program can make records faster than
	 * memprof takes them for a while); the kernel caps it at wmem_max */
	int room = 4 << 20;
	setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &room, sizeof(room));
	if (connect(fd, (struct sockaddr *)&a,
		    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + sock_name_len)) < 0 ||
	    adopt_fd(fd) < 0) {
		close(fd);
		return -1;
	}
	return 0;
}

/* Sends the buffered batch. Caller holds lock. */
static void flush_locked(void)
{
	if (buf_len == sizeof(struct memprof_batch_header) || out_fd < 0)
		return;
	struct memprof_batch_header *h = (void *)buf;
	h->magic = MEMPROF_MAGIC;
	h->len = (uint32_t)(buf_len - sizeof(*h));
	h->pid = my_pid;
	h->incarnation = my_incarnation;
	/* a daemon closed its descriptors (the number may now name one of its
	 * own files, never to be written): connect again, or stop */
	if (!out_fd_is_ours() && !(out_is_socket && connect_collector() == 0)) {
		out_fd = -1;
		stop_tracking();
		return;
	}
	for (;;) {
		ssize_t w = out_is_socket ? send(out_fd, buf, buf_len, MSG_NOSIGNAL)
					  : write(out_fd, buf, buf_len);
		if (w == (ssize_t)buf_len)
			break;
		if (w < 0 && errno == EINTR)
			continue;
		/* the collector is gone or the disk is full: stop quietly */
		out_fd = -1;
		stop_tracking();
		break;
	}
	buf_len = sizeof(struct memprof_batch_header);
	last_flush_ns = now_ns();
}

/* Appends one record. Caller holds lock. */
static inline void emit(const void *rec, size_t len)
{
	if (buf_len + len > sizeof(buf))
		flush_locked();
	if (buf_len + len > sizeof(buf))
		return;
	memcpy(buf + buf_len, rec, len);
	buf_len += len;
}

static int flusher_state;
static bool ending;	/* the image is ending: nothing waits for a flush */
static bool calls_seen;	/* some allocation came through us while active */

/* Without a flusher thread (it could not start), records are flushed at the
 * first one made FLUSH_INTERVAL_NS after the last flush; once the process is
 * ending (destructors of libraries finalized after us) at once. Caller
 * holds lock. */
static inline void maybe_flush_locked(void)
{
	if (ending || (flusher_state != 1 && now_ns() - last_flush_ns >= FLUSH_INTERVAL_NS))
		flush_locked();
}

/* The lock: 0 free, 1 taken, 2 taken and someone may be waiting (the
 * futex mutex of Drepper's "Futexes Are Tricky"). Uncontended, taking and
 * releasing it is one atomic instruction each; glibc's mutex spends some
 * 60 instructions a pair on checks of its type and owner, which at
 * --rate 1 is paid on every allocation and every free. */
static void futex_call(int op, int val)
{
	int saved = errno;	/* the program's errno stays the program's */
	syscall(SYS_futex, &lock, op, val, NULL, NULL, 0);
	errno = saved;
}

static bool lock_try(void)
{
	int c = 0;
	return __atomic_compare_exchange_n(&lock, &c, 1, false, __ATOMIC_ACQUIRE,
					   __ATOMIC_RELAXED);
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The lock is held for a few hundred nanoseconds at a time: a thread that
 * finds it taken spins a little before it sleeps (going to sleep and being
 * woken cost microseconds, and threads that sampled every allocation would
 * otherwise take turns sleeping). */
static void lock_take(void)
{
	if (likely(lock_try()))
		return;
	for (int spin = 0; spin < 200; spin++) {
		cpu_relax();
		if (__atomic_load_n(&lock, __ATOMIC_RELAXED) == 0 && lock_try())
			return;
	}
	int c = __atomic_load_n(&lock, __ATOMIC_RELAXED);
	if (c != 2)
		c = __atomic_exchange_n(&lock, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		futex_call(FUTEX_WAIT_PRIVATE, 2);
		c = __atomic_exchange_n(&lock, 2, __ATOMIC_ACQUIRE);
	}
}

static void lock_release(void)
{
	if (unlikely(__atomic_exchange_n(&lock, 0, __ATOMIC_RELEASE) == 2))
		futex_call(FUTEX_WAKE_PRIVATE, 1);
}

/* Enters the tracker: sets ts.busy (what this thread allocates meanwhile
 * passes through untracked) and takes the lock, unless this thread has it
 * already: then a signal handler has interrupted the tracker in this very
 * thread, and waiting would deadlock. Returns false in that case; the
 * caller skips its work, which is counted as lost. */
static inline bool enter(void)
{
	ts.busy++;
	if (ts.holding) {
		__atomic_add_fetch(&lost_records, 1, __ATOMIC_RELAXED);
		ts.busy--;
		return false;
	}
	ts.holding = 1;	/* before the lock: a handler arriving now must not wait */
	lock_take();
	return true;
}

static inline void leave(void)
{
	lock_release();
	ts.holding = 0;
	ts.busy--;
}

/* A small record builder: fields are appended native-endian. Start one
 * with `r.n = 0`, not `= { 0 }`, which would clear 2 KiB each time. */
struct rec {
	unsigned char b[64 + MEMPROF_NAME_MAX + 8 * MEMPROF_MAX_FRAMES];
	size_t n;
};

static void put(struct rec *r, const void *v, size_t len)
{
	memcpy(r->b + r->n, v, len);
	r->n += len;
}
#define PUT(r, type, v) do { type v_ = (type)(v); put((r), &v_, sizeof(v_)); } while (0)

static void put_name(struct rec *r, const char *s)
{
	size_t n = strlen(s);
	if (n > MEMPROF_NAME_MAX)
		n = MEMPROF_NAME_MAX;
	PUT(r, uint16_t, n);
	put(r, s, n);
}

/* ---- sampled live blocks: an exact table, and a byte map of their pages -- */

/* The free filter: one byte per 4 KiB page (modulo 256 MiB) counting the
 * sampled live blocks that start in it (under lock; 255 saturates and
 * stays for good). free() reads its page's byte without the lock: zero
 * means "not sampled" for certain (a block is entered before malloc
 * returns it and removed before the real free, so no other thread can race
 * on the same address). A free in a page that holds a sampled live block
 * takes the slow path even if its own block was not sampled: in a dense
 * heap about page size / rate of frees, 0.8% at the default rate. Pages
 * keep the bytes a free reads close together, so the part of the map a
 * program uses stays in the cache even when its heap does not (with one
 * bit per 16 bytes, a churn benchmark missed L1 on 45% of frees). */
static uint8_t page_samples[1 << FILTER_BITS];

static inline size_t filter_index(const void *p)
{
	return ((uintptr_t)p >> 12) & ((1u << FILTER_BITS) - 1);
}

/* The racy read is deliberate (see above); volatile keeps it one load. */
static inline bool filter_maybe(const void *p)
{
	return *(volatile uint8_t *)&page_samples[filter_index(p)] != 0;
}

static void filter_store(size_t i, uint8_t v)
{
	__atomic_store_n(&page_samples[i], v, __ATOMIC_RELAXED);
}

/* Caller holds lock (or is single-threaded, as at start-up). A saturated
 * count is never decremented: that page stays "maybe" for good. */
static void filter_add(const void *p)
{
	size_t i = filter_index(p);
	if (page_samples[i] != UINT8_MAX)
		filter_store(i, page_samples[i] + 1);
}

static void filter_remove(const void *p)
{
	size_t i = filter_index(p);
	if (page_samples[i] != UINT8_MAX)
		filter_store(i, page_samples[i] - 1);
}

static void filter_pin(const void *p)
{
	filter_store(filter_index(p), UINT8_MAX);
}

struct block {
	uintptr_t addr;	/* 0: empty slot */
	uint64_t size;
	uint32_t stack;
};

static struct block *blocks;	/* open addressing, linear probing; under lock */
static size_t blocks_mask, blocks_count;

static void *map_zeroed(size_t size)
{
	void *p = mmap(NULL, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	return p == MAP_FAILED ? NULL : p;
}

static size_t block_slot(uintptr_t addr, size_t mask)
{
	return (size_t)((addr >> 4) * 0x9e3779b97f4a7c15ULL >> 20) & mask;
}

static bool blocks_grow(void)
{
	size_t cap = blocks ? (blocks_mask + 1) * 2 : 4096;
	struct block *n = map_zeroed(cap * sizeof(*n));
	if (!n)
		return false;
	for (size_t i = 0; blocks && i <= blocks_mask; i++) {
		if (!blocks[i].addr)
			continue;
		size_t j = block_slot(blocks[i].addr, cap - 1);
		while (n[j].addr)
			j = (j + 1) & (cap - 1);
		n[j] = blocks[i];
	}
	if (blocks)
		munmap(blocks, (blocks_mask + 1) * sizeof(*blocks));
	blocks = n;
	blocks_mask = cap - 1;
	return true;
}

/* Caller holds lock. */
static bool blocks_insert(uintptr_t addr, uint64_t size, uint32_t stack)
{
	if ((blocks_count + 1) * 2 > blocks_mask + 1 && !blocks_grow())
		return false;
	size_t i = block_slot(addr, blocks_mask);
	while (blocks[i].addr && blocks[i].addr != addr)
		i = (i + 1) & blocks_mask;
	if (!blocks[i].addr) {
		blocks_count++;
		filter_add((void *)addr);
	}
	blocks[i] = (struct block){ addr, size, stack };
	return true;
}

/* Removes addr; returns whether it was there (and its entry in *out).
 * Caller holds lock. */
static bool blocks_remove(uintptr_t addr, struct block *out)
{
	if (!blocks)
		return false;
	size_t i = block_slot(addr, blocks_mask);
	while (blocks[i].addr != addr) {
		if (!blocks[i].addr)
			return false;
		i = (i + 1) & blocks_mask;
	}
	*out = blocks[i];
	/* backward-shift deletion keeps probe chains intact without tombstones */
	size_t j = i;
	for (;;) {
		j = (j + 1) & blocks_mask;
		if (!blocks[j].addr)
			break;
		size_t home = block_slot(blocks[j].addr, blocks_mask);
		if (((j - home) & blocks_mask) >= ((j - i) & blocks_mask)) {
			blocks[i] = blocks[j];
			i = j;
		}
	}
	blocks[i].addr = 0;
	blocks_count--;
	filter_remove((void *)addr);
	return true;
}

/* Sampling everything (--rate 1), the table would hold every live block of
 * the program only to say "yes" on each free: the collector has the same
 * table, and ignores frees of blocks it never saw (those allocated before
 * we started, or inside the tracker). Then every free is reported, and
 * the free filter says "maybe" everywhere. Caller holds lock. */
static bool block_enters(uintptr_t addr, uint64_t size, uint32_t stack)
{
	return sample_all || blocks_insert(addr, size, stack);
}

static bool block_leaves(uintptr_t addr)
{
	struct block b;
	return sample_all || blocks_remove(addr, &b);
}

/* ---- stacks: deduplicated, each sent once --------------------------------- */

struct stack_entry {
	uint64_t hash;	/* 0: empty slot */
	uint32_t id;
	uint32_t n;
	uint64_t at;	/* index of the first frame in stack_frames */
};

static struct stack_entry *stacks;	/* under lock */
static size_t stacks_mask, stacks_count;
static uintptr_t *stack_frames;
static size_t stack_frames_len, stack_frames_cap;

static bool stacks_grow(void)
{
	size_t cap = stacks ? (stacks_mask + 1) * 2 : 4096;
	struct stack_entry *n = map_zeroed(cap * sizeof(*n));
	if (!n)
		return false;
	for (size_t i = 0; stacks && i <= stacks_mask; i++) {
		if (!stacks[i].hash)
			continue;
		size_t j = stacks[i].hash & (cap - 1);
		while (n[j].hash)
			j = (j + 1) & (cap - 1);
		n[j] = stacks[i];
	}
	if (stacks)
		munmap(stacks, (stacks_mask + 1) * sizeof(*stacks));
	stacks = n;
	stacks_mask = cap - 1;
	return true;
}

static bool frames_reserve(size_t n)
{
	if (stack_frames_len + n <= stack_frames_cap)
		return true;
	size_t cap = stack_frames_cap ? stack_frames_cap * 2 : 65536;
	while (cap < stack_frames_len + n)
		cap *= 2;
	uintptr_t *f = map_zeroed(cap * sizeof(*f));
	if (!f)
		return false;
	if (stack_frames) {
		memcpy(f, stack_frames, stack_frames_len * sizeof(*f));
		munmap(stack_frames, stack_frames_cap * sizeof(*f));
	}
	stack_frames = f;
	stack_frames_cap = cap;
	return true;
}

static void stacks_reset(void)
{
	if (stacks)
		memset(stacks, 0, (stacks_mask + 1) * sizeof(*stacks));
	stacks_count = 0;
	stack_frames_len = 0;
}

/* Stacks are a few frames: a loop beats a call to memcmp. */
static inline bool same_frames(const uintptr_t *a, const uintptr_t *b, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (a[i] != b[i])
			return false;
	return true;
}

/* Returns the stack's id, sending it first if it is new; 0 when out of
 * memory. Caller holds lock. */
static uint32_t stack_id(const uintptr_t *pc, size_t n, bool truncated, uint64_t hash)
{
	if ((stacks_count + 1) * 2 > stacks_mask + 1 && !stacks_grow())
		return 0;
	size_t i = hash & stacks_mask;
	while (stacks[i].hash) {
		if (stacks[i].hash == hash && stacks[i].n == n &&
		    same_frames(stack_frames + stacks[i].at, pc, n))
			return stacks[i].id;
		i = (i + 1) & stacks_mask;
	}
	if (!frames_reserve(n))
		return 0;
	memcpy(stack_frames + stack_frames_len, pc, n * sizeof(*pc));
	stacks[i] = (struct stack_entry){ hash, (uint32_t)++stacks_count, (uint32_t)n,
					  stack_frames_len };
	stack_frames_len += n;

	struct rec r;
	r.n = 0;
	PUT(&r, uint8_t, REC_STACK);
	PUT(&r, uint32_t, stacks[i].id);
	PUT(&r, uint8_t, truncated);
	PUT(&r, uint16_t, n);
	for (size_t k = 0; k < n; k++)
		PUT(&r, uint64_t, pc[k]);
	emit(r.b, r.n);
	return stacks[i].id;
}

/* ---- modules --------------------------------------------------------------- */

static char exe_path[PATH_MAX];

static int module_cb(struct dl_phdr_info *info, size_t size, void *data)
{
	const char *name = info->dlpi_name;
	char abs[PATH_MAX];
	if (!name || !*name)
		name = exe_path;
	else if (name[0] != '/' && realpath(name, abs))	/* dlopen("./x.so") */
		name = abs;
	for (int i = 0; i < info->dlpi_phnum; i++) {
		const ElfW(Phdr) *ph = &info->dlpi_phdr[i];
		if (ph->p_type != PT_LOAD || !(ph->p_flags & PF_X))
			continue;
		struct rec r;
		r.n = 0;
		PUT(&r, uint8_t, REC_MODULE);
		PUT(&r, uint64_t, info->dlpi_addr);
		PUT(&r, uint64_t, info->dlpi_addr + ph->p_vaddr);
		PUT(&r, uint64_t, info->dlpi_addr + ph->p_vaddr + ph->p_memsz);
		PUT(&r, uint64_t, ph->p_offset);
		put_name(&r, name);
		emit(r.b, r.n);
	}
	(void)size;
	(void)data;
	return 0;
}

/* Sends the whole module map. Caller holds lock. dl_iterate_phdr takes the
 * loader's lock inside ours; nothing takes them the other way round, since
 * our lock is only taken with ts.busy set, where allocations pass through. */
static void send_modules_locked(void)
{
	uint8_t t = REC_MODULES_RESET;
	emit(&t, 1);
	dl_iterate_phdr(module_cb, NULL);
}

/* ---- the flusher ------------------------------------------------------------ */

/* A program that stops allocating must not keep its last records in our
 * buffer (a SIGKILL would lose them): this thread flushes every
 * FLUSH_INTERVAL_NS whatever is waiting. It blocks every signal, so the
 * program's signals still reach the program's threads. Started at start-up,
 * and in a forked child at its first sampled event (not in the fork
 * handler, where creating a thread is not safe). */
/* flusher_state: 0 none, 1 running, 2 wanted (in a forked child) */

static void *flusher_main(void *arg)
{
	(void)arg;
	ts.busy = 1;	/* anything this thread allocates passes through */
	while (active) {
		struct timespec t = { 0, FLUSH_INTERVAL_NS };
		nanosleep(&t, NULL);
		if (enter()) {
			flush_locked();
			leave();
		}
	}
	return NULL;
}

static void start_flusher(void)
{
	sigset_t all, old;
	pthread_attr_t attr;
	pthread_t t;
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	pthread_attr_init(&attr);
	pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
	pthread_attr_setstacksize(&attr, 64 * 1024);
	flusher_state = pthread_create(&t, &attr, flusher_main, NULL) == 0 ? 1 : 0;
	pthread_attr_destroy(&attr);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
}

/* ---- sampling ------------------------------------------------------------- */

static uint64_t rng_next(void)
{
	uint64_t x = ts.rng;
	x ^= x >> 12;
	x ^= x << 25;
	x ^= x >> 27;
	ts.rng = x;
	return x * 0x2545f4914f6cdd1dULL;
}

/* Bytes to the next sample: exponential with mean rate (Go's fastexprand). */
static int64_t next_countdown(void)
{
	if (rate <= 1)
		return 0;
	if (!ts.rng) {
		ts.rng = (uint64_t)(uintptr_t)&ts ^ wall_ns() ^ ((uint64_t)syscall(SYS_gettid) << 32);
		ts.rng |= 1;
	}
	double u = ((double)(rng_next() >> 11) + 0.5) * (1.0 / 9007199254740992.0);
	double d = -log(u) * (double)rate;
	return d >= 1e18 ? (int64_t)1e18 : (int64_t)d + 1;
}

static uint64_t hash_frames(const uintptr_t *pc, size_t n)
{
	uint64_t h = 0x9e3779b97f4a7c15ULL ^ n;
	for (size_t i = 0; i < n; i++) {
		h ^= pc[i];
		h *= 0xff51afd7ed558ccdULL;
		h ^= h >> 32;
	}
	return h ? h : 1;
}

/* The two records made by the million at --rate 1: built in place, of
 * constant size, so that the copies are a few moves. */
static inline void emit_alloc_locked(uintptr_t addr, uint64_t size, uint32_t stack)
{
	unsigned char r[1 + 8 + 8 + 4];
	uint64_t a = addr;
	r[0] = REC_ALLOC;
	memcpy(r + 1, &a, 8);
	memcpy(r + 9, &size, 8);
	memcpy(r + 17, &stack, 4);
	emit(r, sizeof(r));
}

static inline void emit_free_locked(uintptr_t addr)
{
	unsigned char r[1 + 8];
	uint64_t a = addr;
	r[0] = REC_FREE;
	memcpy(r + 1, &a, 8);
	emit(r, sizeof(r));
}

/* Records a sampled allocation of size bytes at p. Runs with ts.busy set,
 * inlined into sample_slow (see there). */
static inline __attribute__((always_inline)) void record_alloc(void *p, uint64_t size)
{
	uintptr_t raw[MEMPROF_MAX_FRAMES + 8];
	int got = unw_backtrace((void **)raw, (int)(sizeof(raw) / sizeof(raw[0])));
	size_t at = 0, n;
	bool truncated = got == (int)(sizeof(raw) / sizeof(raw[0]));
	while (at < (size_t)got && raw[at] >= self_start && raw[at] < self_end)
		at++;	/* our own frames: the leaf is the allocating function */
	n = (size_t)got - at;
	if (n > MEMPROF_MAX_FRAMES) {
		n = MEMPROF_MAX_FRAMES;
		truncated = true;
	}
	const uintptr_t *pc = raw + at;
	uint64_t h = hash_frames(pc, n);
	if (unlikely(flusher_state == 2) &&
	    __atomic_exchange_n(&flusher_state, 0, __ATOMIC_ACQ_REL) == 2)
		start_flusher();

	if (!enter())
		return;
	if (active) {
		uint32_t id = stack_id(pc, n, truncated, h);
		if (id && block_enters((uintptr_t)p, size, id))
			emit_alloc_locked((uintptr_t)p, size, id);
		else
			__atomic_add_fetch(&lost_records, 1, __ATOMIC_RELAXED);
		maybe_flush_locked();
	}
	leave();
}

/* The slow path of every allocation: the countdown ran out (or this thread
 * has not drawn one yet). Returns p. The interposed functions call it last,
 * as a tail call, so that it runs right below the allocating function's
 * frame: the unwinder then walks one frame of ours, not four (a third of
 * the cost of a short stack at --rate 1). */
static __attribute__((noinline)) void *sample_slow(void *p, size_t size)
{
	if (ts.busy)
		return p;
	if (!active) {
		/* not profiling (yet, or any more): stay on the fast path; the
		 * constructor resets the main thread's countdown when it starts */
		ts.countdown = INT64_MAX / 2;
		return p;
	}
	ts.busy = 1;
	calls_seen = true;
	bool fresh = ts.rng == 0 && rate > 1;
	ts.countdown = next_countdown();
	/* a new thread draws its first distance; this block counts against it */
	if (fresh && (int64_t)size < ts.countdown) {
		ts.countdown -= (int64_t)size;
	} else if (p) {
		record_alloc(p, size);
	}
	ts.busy = 0;
	return p;
}

/* This path runs on every allocation: one subtraction and a branch. Says
 * whether this allocation must go through sample_slow. */
static inline bool countdown_expired(size_t size)
{
	ts.countdown -= (int64_t)size;
	return unlikely(ts.countdown <= 0);
}

static inline void *on_alloc(void *p, size_t size)
{
	if (countdown_expired(size))
		return sample_slow(p, size);
	return p;
}

/* Called before the real free: reports the block if it was sampled. */
static __attribute__((noinline)) void free_slow(void *p)
{
	if (!active || !enter())
		return;	/* not profiling (any more): nothing to report */
	if (block_leaves((uintptr_t)p) && active) {
		emit_free_locked((uintptr_t)p);
		maybe_flush_locked();
	}
	leave();
}


/* ---- the interposed allocator ------------------------------------------------ */

static void *first_malloc(size_t size)
{
	if (resolving)
		return boot_alloc(size, 16);
	resolve_real();
	if (real_malloc == first_malloc)
		return NULL;	/* no allocator underneath us: nothing to do */
	return real_malloc(size);
}

static void first_free(void *p)
{
	if (!resolving && !is_boot_block(p))
		resolve_real();
	if (real_free != first_free && p && !is_boot_block(p))
		real_free(p);
}

static __attribute__((noinline)) void *malloc_slow(size_t size)
{
	return sample_slow(real_malloc(size), size);
}

/* Both calls are tail calls: the fast path has no frame. */
EXPORT void *malloc(size_t size)
{
	if (countdown_expired(size))
		return malloc_slow(size);
	return real_malloc(size);
}

EXPORT void free(void *p)
{
	if (unlikely(filter_maybe(p))) {
		if (!p || is_boot_block(p))
			return;
		free_slow(p);
	}
	real_free(p);	/* free(NULL) is glibc's business: a no-op */
}

EXPORT void *calloc(size_t n, size_t size)
{
	if (unlikely(!real_calloc)) {
		if (resolving) {
			if (size && n > SIZE_MAX / size)
				return NULL;
			return boot_alloc(n * size, 16);
		}
		resolve_real();
	}
	void *p = real_calloc(n, size);
	return p ? on_alloc(p, n * size) : NULL;
}

EXPORT void *realloc(void *old, size_t size)
{
	if (unlikely(!real_realloc))
		resolve_real();
	if (unlikely(old && is_boot_block(old))) {
		size_t room = (size_t)(boot_pool + sizeof(boot_pool) - (char *)old);
		void *p = malloc(size);
		if (p)
			memcpy(p, old, size < room ? size : room);
		return p;
	}
	/* realloc(p, n) is a free of p and an allocation of n. When p may be
	 * a sampled block, the lock is held across the real call: the free is
	 * then reported before any sampled allocation another thread gets at
	 * p's address, and only if p is gone (a failed realloc leaves it). */
	if (old && unlikely(filter_maybe(old)) && active && enter()) {
		void *p = real_realloc(old, size);
		if ((p || !size) && block_leaves((uintptr_t)old) && active)
			emit_free_locked((uintptr_t)old);	/* glibc's realloc(p, 0) frees p */
		leave();
		return p ? on_alloc(p, size) : NULL;
	}
	void *p = real_realloc(old, size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *reallocarray(void *old, size_t n, size_t size)
{
	if (size && n > SIZE_MAX / size) {
		errno = ENOMEM;
		return NULL;
	}
	return realloc(old, n * size);
}

EXPORT int posix_memalign(void **out, size_t align, size_t size)
{
	if (unlikely(!real_posix_memalign))
		resolve_real();
	int rc = real_posix_memalign(out, align, size);
	if (rc == 0)
		on_alloc(*out, size);
	return rc;
}

EXPORT void *aligned_alloc(size_t align, size_t size)
{
	if (unlikely(!real_aligned_alloc))
		resolve_real();
	void *p = real_aligned_alloc(align, size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *memalign(size_t align, size_t size)
{
	if (unlikely(!real_memalign)) {
		if (resolving)
			return boot_alloc(size, align < 16 ? 16 : align);
		resolve_real();
	}
	void *p = real_memalign(align, size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *valloc(size_t size)
{
	if (unlikely(!real_valloc))
		resolve_real();
	void *p = real_valloc(size);
	return p ? on_alloc(p, size) : NULL;
}

EXPORT void *pvalloc(size_t size)
{
	if (unlikely(!real_pvalloc))
		resolve_real();
	void *p = real_pvalloc(size);
	return p ? on_alloc(p, size) : NULL;
}

/* ---- process events --------------------------------------------------------- */

static void emit_end_locked(void)
{
	struct rec r;
	r.n = 0;
	PUT(&r, uint8_t, REC_END);
	PUT(&r, uint64_t, wall_ns());
	PUT(&r, uint8_t, calls_seen);
	emit(r.b, r.n);
	uint32_t lost = __atomic_exchange_n(&lost_records, 0, __ATOMIC_RELAXED);
	if (lost) {
		struct rec l;
		l.n = 0;
		PUT(&l, uint8_t, REC_LOST);
		PUT(&l, uint32_t, lost);
		emit(l.b, l.n);
	}
	flush_locked();
}

/* The process image ends (exit, _exit, exec, abort): send everything. A
 * vfork child (its pid is not ours, no fork handler ran) shares our memory
 * and our buffer, which stay its parent's: it leaves them alone. */
static void finish(void)
{
	if (!active || (uint32_t)getpid() != my_pid || !enter())
		return;
	if (active)
		emit_end_locked();
	ending = true;
	leave();
}

/* A forked child has its parent's module map already (the collector copies
 * it), and must not walk the loader's list: another thread of the parent
 * may have held the loader's lock when it forked. */
static void emit_start_locked(uint32_t ppid, uint32_t forked_from)
{
	struct rec r;
	r.n = 0;
	PUT(&r, uint8_t, REC_START);
	PUT(&r, uint8_t, MEMPROF_VERSION_RECORDS);
	PUT(&r, uint32_t, ppid);
	PUT(&r, uint32_t, forked_from);
	PUT(&r, uint64_t, rate);
	PUT(&r, uint64_t, wall_ns());
	put_name(&r, exe_path);
	emit(r.b, r.n);
	if (!forked_from)
		send_modules_locked();
	flush_locked();
}

static uint32_t new_incarnation(void)
{
	uint32_t x = (uint32_t)(wall_ns() ^ (wall_ns() >> 32)) ^ (uint32_t)getpid() * 2654435761u;
	return x ? x : 1;
}

static bool fork_entered;	/* atfork_prepare took the lock */

static void atfork_prepare(void)
{
	fork_entered = enter();
	if (fork_entered)
		flush_locked();	/* the child must not inherit (and resend) our records */
}

static void atfork_parent(void)
{
	if (fork_entered)
		leave();
}

/* The child is a new process: it counts only its own blocks and stacks. */
static void atfork_child(void)
{
	lock = 0;
	ts.holding = 0;
	uint32_t parent = my_pid, parent_incarnation = my_incarnation;
	my_pid = (uint32_t)getpid();
	my_incarnation = new_incarnation();
	if (blocks) {
		memset(blocks, 0, (blocks_mask + 1) * sizeof(*blocks));
		blocks_count = 0;
	}
	for (size_t i = 0; i < (1u << FILTER_BITS); i++)
		if (page_samples[i] != UINT8_MAX)
			page_samples[i] = 0;
	stacks_reset();
	buf_len = sizeof(struct memprof_batch_header);
	flusher_state = flusher_state ? 2 : 0;	/* threads do not survive fork */
	if (active)
		emit_start_locked(parent, parent_incarnation);
	if (fork_entered)
		ts.busy--;
}

EXPORT void _exit(int status)
{
	static void (*real)(int) __attribute__((noreturn));
	finish();
	if (!real)
		real = dlsym(RTLD_NEXT, "_exit");
	real(status);
}

EXPORT void _Exit(int status)
{
	_exit(status);
}

EXPORT void abort(void)
{
	static void (*real)(void) __attribute__((noreturn));
	finish();
	if (!real)
		real = dlsym(RTLD_NEXT, "abort");
	real();
}

/* exec replaces the image: flush first. The new image (with LD_PRELOAD and
 * MEMPROF_* inherited) starts a new incarnation of the same pid. */
EXPORT int execve(const char *path, char *const argv[], char *const envp[])
{
	static int (*real)(const char *, char *const[], char *const[]);
	finish();
	if (!real)
		real = dlsym(RTLD_NEXT, "execve");
	return real(path, argv, envp);
}

EXPORT int execv(const char *path, char *const argv[])
{
	static int (*real)(const char *, char *const[]);
	finish();
	if (!real)
		real = dlsym(RTLD_NEXT, "execv");
	return real(path, argv);
}

EXPORT int execvp(const char *file, char *const argv[])
{
	static int (*real)(const char *, char *const[]);
	finish();
	if (!real)
		real = dlsym(RTLD_NEXT, "execvp");
	return real(file, argv);
}

EXPORT int execvpe(const char *file, char *const argv[], char *const envp[])
{
	static int (*real)(const char *, char *const[], char *const[]);
	finish();
	if (!real)
		real = dlsym(RTLD_NEXT, "execvpe");
	return real(file, argv, envp);
}

/* The execl family builds an argv and goes through the wrappers above
 * (glibc's own execl* call execve internally, out of our reach). Returns a
 * malloc'd argv, or NULL with errno set. */
static char **collect_args(const char *first, va_list ap, char ***envp)
{
	size_t n = 1;
	va_list c;
	va_copy(c, ap);
	while (va_arg(c, char *))
		n++;
	va_end(c);
	char **argv = malloc((n + 1) * sizeof(*argv));
	if (!argv)
		return NULL;
	argv[0] = (char *)first;
	for (size_t i = 1; i <= n; i++)
		argv[i] = va_arg(ap, char *);	/* the last one read is the NULL */
	if (envp)
		*envp = va_arg(ap, char **);
	return argv;
}

EXPORT int execl(const char *path, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **argv = collect_args(arg, ap, NULL);
	va_end(ap);
	int rc = argv ? execv(path, argv) : -1;
	free(argv);
	return rc;
}

EXPORT int execlp(const char *file, const char *arg, ...)
{
	va_list ap;
	va_start(ap, arg);
	char **argv = collect_args(arg, ap, NULL);
	va_end(ap);
	int rc = argv ? execvp(file, argv) : -1;
	free(argv);
	return rc;
}

EXPORT int execle(const char *path, const char *arg, ...)
{
	va_list ap;
	char **envp = NULL;
	va_start(ap, arg);
	char **argv = collect_args(arg, ap, &envp);
	va_end(ap);
	int rc = argv ? execve(path, argv, envp) : -1;
	free(argv);
	return rc;
}

/* Modules come and go: resend the map, and let libunwind forget cached
 * unwind info of unloaded code. */
static void modules_changed(void)
{
	if (!active)
		return;
	unw_flush_cache(unw_local_addr_space, 0, 0);
	if (!enter())
		return;
	if (active) {
		send_modules_locked();
		flush_locked();
	}
	leave();
}

EXPORT void *dlopen(const char *file, int mode)
{
	static void *(*real)(const char *, int);
	if (!real)
		real = dlsym(RTLD_NEXT, "dlopen");
	void *h = real(file, mode);
	if (h)
		modules_changed();
	if (h && (mode & RTLD_DEEPBIND) && active && enter()) {
		/* the library binds malloc to its own dependencies, not to us */
		struct rec r;
		r.n = 0;
		PUT(&r, uint8_t, REC_DEEPBIND);
		put_name(&r, file ? file : "");
		emit(r.b, r.n);
		leave();
	}
	return h;
}

EXPORT int dlclose(void *handle)
{
	static int (*real)(void *);
	if (!real)
		real = dlsym(RTLD_NEXT, "dlclose");
	int rc = real(handle);
	modules_changed();
	return rc;
}

/* Signals that would end the program: flush what we have, then die of the
 * signal as the program would have. Installed only where the disposition is
 * the default, so a program's own handlers and ignored signals are untouched. */
static void on_fatal_signal(int sig)
{
	if (active && !ts.holding && lock_try()) {
		emit_end_locked();
		lock_release();
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

static void install_fatal_handlers(void)
{
	/* the crashes, and the signals that end a program politely asked */
	static const int sigs[] = { SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP, SIGSYS, SIGABRT,
				    SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGALRM, SIGUSR1, SIGUSR2,
				    SIGPIPE, SIGXCPU, SIGXFSZ, SIGVTALRM, SIGPROF };
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		struct sigaction old, sa;
		if (sigaction(sigs[i], NULL, &old) < 0 || old.sa_handler != SIG_DFL)
			continue;
		memset(&sa, 0, sizeof(sa));
		sa.sa_handler = on_fatal_signal;
		sa.sa_flags = SA_RESETHAND | SA_NODEFER;
		sigemptyset(&sa.sa_mask);
		sigaction(sigs[i], &sa, NULL);
	}
}

/* ---- start-up -------------------------------------------------------------- */

static int64_t parse_rate(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 1)
		return -1;
	return v;
}

/* memprof run names its socket in MEMPROF_SOCK; standalone mode names a
 * recording file in MEMPROF_OUT. Returns 0, or -1 (then we stay inactive). */
static int open_output(void)
{
	const char *sock = getenv("MEMPROF_SOCK"), *path = getenv("MEMPROF_OUT");
	if (sock && *sock) {
		sock_name_len = strlen(sock);
		if (sock_name_len >= sizeof(sock_name))
			return -1;
		memcpy(sock_name, sock, sock_name_len);
		out_is_socket = true;
		return connect_collector();
	}
	if (path && *path) {
		/* standalone mode: append batches to a private recording file */
		int fd = open(path, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC | O_NOFOLLOW, 0600);
		if (fd < 0)
			return -1;
		out_is_socket = false;
		if (adopt_fd(fd) < 0) {
			close(fd);
			return -1;
		}
		return 0;
	}
	return -1;
}

struct self_range {
	uintptr_t base, start, end;
};

static int self_cb(struct dl_phdr_info *i, size_t size, void *data)
{
	struct self_range *r = data;
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

/* Our own text, so the frames of the tracker can be left off stacks. */
static void find_self(void)
{
	Dl_info info;
	struct self_range r = { 0, 0, 0 };
	if (!dladdr((void *)find_self, &info))
		return;
	r.base = (uintptr_t)info.dli_fbase;
	dl_iterate_phdr(self_cb, &r);
	self_start = r.start;
	self_end = r.end;
}

__attribute__((constructor)) static void tracker_init(void)
{
	if (real_malloc == first_malloc)
		resolve_real();
	ts.busy = 1;
	const char *r = getenv("MEMPROF_RATE");
	if (r && *r && (rate = parse_rate(r)) < 0)
		rate = 512 * 1024;
	/* a relative standalone path must name the same file after chdir + exec */
	const char *path = getenv("MEMPROF_OUT");
	if (path && *path && path[0] != '/') {
		char *abs = realpath(".", NULL);
		if (abs) {
			size_t n = strlen(abs) + strlen(path) + 2;
			char *full = malloc(n);
			if (full) {
				strcpy(full, abs);
				strcat(full, "/");
				strcat(full, path);
				setenv("MEMPROF_OUT", full, 1);
				free(full);
			}
			free(abs);
		}
	}
	if (open_output() < 0) {
		ts.busy = 0;
		return;	/* not under memprof: pass everything through */
	}
	if (rate == 1) {
		sample_all = true;
		memset(page_samples, UINT8_MAX, sizeof(page_samples));
	}
	ssize_t n = readlink("/proc/self/exe", exe_path, sizeof(exe_path) - 1);
	exe_path[n > 0 ? n : 0] = '\0';
	find_self();
	my_pid = (uint32_t)getpid();
	my_incarnation = new_incarnation();
	/* warm the unwinder up before anything is sampled */
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	void *warm[4];
	unw_backtrace(warm, 4);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	install_fatal_handlers();
	last_flush_ns = now_ns();
	active = 1;
	if (enter()) {
		emit_start_locked((uint32_t)getppid(), 0);
		leave();
	}
	start_flusher();
	ts.countdown = 0;
	ts.busy = 0;
}

__attribute__((destructor)) static void tracker_fini(void)
{
	finish();
}
