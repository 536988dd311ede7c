/* records.h - the stream format between the tracker (libmemprof.so, inside
 * the profiled process) and the collector (memprof run / memprof convert),
 * and the one codec for it: the tracker encodes with the rec_put_* helpers,
 * the collector and the tests decode with rec_next().
 *
 * Two carriers, the same records:
 *
 * - The ring (memprof run). Each process image owns a shared-memory ring (a
 *   memfd: struct memprof_ring, then `size` bytes of records) that it sends
 *   to memprof over the connected descriptor memprof handed it (a
 *   SOCK_SEQPACKET socket named by MEMPROF_FD), with a struct memprof_hello
 *   and SCM_RIGHTS. The image writes whole records and then publishes `head`;
 *   memprof reads from `tail` to `head` whenever it likes. Nothing waits in
 *   the process for a flush: what is in the ring survives SIGKILL, exec and
 *   crashes. The data area is mapped twice back to back, so a record that
 *   wraps is still contiguous in memory.
 *   memprof agent: the same, over a connection the image makes itself to
 *   the agent's socket (MEMPROF_AGENT); the agent may go and come back
 *   (REC_RECONNECT).
 * - The recording (standalone mode, MEMPROF_OUT). A struct memprof_file_header,
 *   then batches: a struct memprof_batch_header and whole records, written
 *   with one write() each (O_APPEND), so batches of different processes never
 *   interleave.
 *
 * Numbers are native-endian: the stream never leaves the machine. Within one
 * process image (pid + incarnation) records are in the order they were made;
 * the first is REC_START. */
#ifndef MEMPROF_RECORDS_H
#define MEMPROF_RECORDS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define MEMPROF_MAGIC 0x4652504dU	/* "MPRF": a batch */
#define MEMPROF_RING_MAGIC 0x474e5252U	/* "RRNG": a ring */
#define MEMPROF_HELLO_MAGIC 0x4c484d4dU	/* "MMHL": a message on the socket */
#define MEMPROF_VERSION_RECORDS 3	/* 3: REC_TFREE_D, REC_TPAD in thread rings */
#define MEMPROF_BATCH_MAX 65536		/* bytes, header included */
#define MEMPROF_MAX_FRAMES 128
#define MEMPROF_NAME_MAX 1024		/* longest path sent */
#define MEMPROF_BUILD_ID_MAX 64		/* bytes of a GNU build id sent */
/* the largest record: a module with the longest name and build id */
#define MEMPROF_RECORD_MAX (1 + 8 * 4 + 2 + MEMPROF_NAME_MAX + 1 + MEMPROF_BUILD_ID_MAX)

enum memprof_record_type {
	/* u8 version, u32 ppid, u32 forked_from, u64 rate, u64 time_ns, name exe.
	 * forked_from is the parent's incarnation when this process was forked
	 * (it inherits the parent's module map, which is not sent again), 0
	 * when it was started by exec. */
	REC_START = 1,
	/* the module map is replaced by the REC_MODULE records that follow */
	REC_MODULES_RESET = 2,
	/* u64 bias, u64 start, u64 end, u64 offset, name file, u8 n, n bytes of
	 * GNU build id (n = 0: none): one executable segment [start, end) of a
	 * loaded object, mapped from file offset `offset`; bias = load address -
	 * ELF vaddr. The build id is read from memory when the module is seen. */
	REC_MODULE = 3,
	/* u32 id, u8 truncated, u16 n, u64 pc[n]: a new call stack, leaf first,
	 * return addresses as the unwinder gives them; ids are 1, 2, 3... */
	REC_STACK = 4,
	/* u64 addr, u64 size, u32 stack: a sampled allocation */
	REC_ALLOC = 5,
	/* u64 addr: a sampled block was freed */
	REC_FREE = 6,
	/* u64 time_ns, u8 calls_seen: the process image is ending (exit, _exit,
	 * quick_exit, abort); calls_seen is 0 when no allocation at all went
	 * through the tracker (an allocator linked into the program) */
	REC_END = 7,
	/* u32 n, u8 why: the tracker could not record n events (enum rec_lost) */
	REC_LOST = 8,
	/* name: a library was dlopen'ed with RTLD_DEEPBIND; its calls to malloc
	 * bypass the tracker */
	REC_DEEPBIND = 9,
	/* u64 time_ns: the image calls exec; it goes on if that fails */
	REC_EXEC = 10,
	/* name words: the image's command line as its main() got it, the words
	 * NUL-terminated, cut at MEMPROF_NAME_MAX bytes; after REC_START */
	REC_CMDLINE = 11,

	/* 30-39: memory that is not the malloc family's (docs/mmap.md). */
	/* u64 addr, u64 len, u32 stack: a sampled anonymous mapping the
	 * program's own code made accessible (memprof run --mmap): mmap,
	 * mremap's result, mprotect of part of a PROT_NONE reservation, brk
	 * or sbrk growth. len is page-rounded where the kernel rounds. */
	REC_MMAP = 30,
	/* u64 addr, u64 len: [addr, addr + len) is no longer a mapping of
	 * ours (munmap, mremap's old range, replaced by MAP_FIXED, brk
	 * shrinking); sent for every such call once a mapping was sampled */
	REC_MUNMAP = 31,
	/* u64 addr, u64 size, u32 stack: a sampled block of a custom
	 * allocator, reported with memprof_alloc (include/memprof.h) */
	REC_POOL_ALLOC = 32,
	/* u64 addr: memprof_free of a block (sampled, or every one at rate 1) */
	REC_POOL_FREE = 33,
	/* u64 addr, u64 size, name: memprof_pool_create; blocks reported
	 * inside [addr, addr + size) belong to the pool `name` */
	REC_POOL_CREATE = 34,
	/* u64 addr: memprof_pool_destroy; the pool's live blocks go with it */
	REC_POOL_DESTROY = 35,

	/* 36-39: per-thread rings (memprof run at --rate 1; docs/architecture.md).
	 * u8 pad[3], u32 stack, u64 time, u64 addr, u64 size: REC_T_LEN bytes.
	 * time is CLOCK_MONOTONIC in ns. An allocation's record is made after
	 * the real allocation returned, a free's is made and published before
	 * the real free (realloc: before the real realloc): applied in time
	 * order, a free comes before any reuse of its address in another
	 * thread. Also in the shared ring when a thread has no ring of its
	 * own. memprof feeds them to the collector as REC_ALLOC and REC_FREE,
	 * in time order (lib/ring.c). */
	REC_TALLOC = 36,
	/* the same layout, stack and size 0: a block was freed */
	REC_TFREE = 37,
	/* u8 pad[3], u32 delta, u64 addr: REC_TD_LEN bytes, in a thread's own
	 * ring only (rec_put_thread): a free timed delta ns after the record
	 * before it in that ring. Half a REC_TFREE: at --rate 1 a program
	 * frees about as often as it allocates, and the ring's bytes cost it
	 * cache (bench/churn: docs/benchmarks.md, eighth session). */
	REC_TFREE_D = 38,
	/* REC_TD_LEN bytes of nothing, in a thread's ring only: the last of
	 * the ring, too short for the REC_T_LEN record that follows at its
	 * start */
	REC_TPAD = 39,

	/* 20-29: memprof agent and sampling switched on and off (#10) */
	/* u64 time_ns, u8 on: sampling went on (1) or off (0) for this image
	 * (MEMPROF_ACTIVE=0 starts off: this follows REC_START then). While
	 * off, no allocation is sampled; frees of blocks sampled while on are
	 * still reported. */
	REC_SAMPLING = 20,
	/* u64 since_ns, u64 lost, u64 unread: the image lost its collector (a
	 * memprof agent that ended, or was not there yet) at since_ns and is
	 * connected again; lost records could not be made meanwhile, and
	 * unread bytes of its old ring were never read. Follows a new
	 * REC_START and REC_CMDLINE; stacks and modules are sent anew; live
	 * blocks from before are forgotten (in use counts from here). */
	REC_RECONNECT = 21,
};

enum rec_lost {
	LOST_REENTERED = 0,	/* a signal handler interrupted the tracker */
	LOST_NO_MEMORY = 1,	/* the tracker's tables could not grow */
	LOST_COLLECTOR = 2,	/* memprof was gone or the recording failed */
	LOST_WHY_MAX = 3,
};

/* ---- carriers --------------------------------------------------------- */

struct memprof_batch_header {
	uint32_t magic;		/* MEMPROF_MAGIC */
	uint32_t len;		/* bytes of records after the header */
	uint32_t pid;
	uint32_t incarnation;	/* random per process image: a new one after exec */
};

/* The start of a recording: the first process of a run creates the file
 * exclusively and writes this; processes exec'd later append only after
 * checking that the token is the one they inherited (MEMPROF_TOKEN). */
#define MEMPROF_FILE_MAGIC "MPRFREC2"
struct memprof_file_header {
	char magic[8];
	uint64_t token;
};

/* The head of a ring's shared memory. The producer (the process image,
 * under its tracker lock) writes records at head and then stores head with
 * release; the collector reads up to head (acquire) and stores tail. When
 * the ring is full, the producer sets `waiting` and sleeps on the futex
 * word `wake`, which the collector bumps and wakes after it has read. */
struct memprof_ring {
	uint32_t magic;		/* MEMPROF_RING_MAGIC */
	uint32_t version;	/* MEMPROF_VERSION_RECORDS */
	uint32_t pid, incarnation;
	uint64_t size;		/* bytes of the data area, a power of two */
	uint64_t data_offset;	/* where the data area starts in the memfd */
	_Alignas(64) uint64_t head;	/* bytes ever written (producer) */
	_Alignas(64) uint64_t tail;	/* bytes ever read (collector) */
	uint32_t waiting;	/* the producer sleeps on `wake` */
	uint32_t wake;		/* futex word, bumped by the collector */
	uint32_t kicked;	/* a kick message is on its way */
	uint32_t accepted;	/* set by the collector once it has mapped the ring */
	uint32_t failed;	/* set by the producer when it stopped recording */
	uint64_t dropped;	/* records the producer could not write since */
	/* Written by the collector, read by the producer in its slow path:
	 * switch sampling on or off (enum memprof_ring_want); 0: leave it. */
	uint32_t want;
	uint32_t sampling;	/* the producer: 1 while sampling is on */
	/* Per-thread rings, after the data area (0 slots: none): each slot a
	 * struct memprof_thread_ring, then thread_size bytes of REC_TALLOC,
	 * REC_TFREE, REC_TFREE_D and REC_TPAD records (a power of two). */
	uint32_t thread_slots, thread_size;
	uint64_t threads_offset;
};

/* One thread's ring: written by the thread that holds the slot (slots are
 * handed from ended threads to new ones; the records go on from head). */
struct memprof_thread_ring {
	_Alignas(64) uint64_t head;	/* bytes ever written (producer) */
	_Alignas(64) uint64_t tail;	/* bytes ever read (collector) */
};
#define MEMPROF_THREAD_RING_HEADER 128
#define REC_T_LEN 32
#define REC_TD_LEN 16
/* the most one record takes in a thread's ring, with the pad before it */
#define REC_T_ROOM (REC_T_LEN + REC_TD_LEN)
enum memprof_ring_want {
	RING_WANT_ANY = 0,
	RING_WANT_ON = 1,
	RING_WANT_OFF = 2,
};
#define MEMPROF_RING_DATA_OFFSET 4096
#define MEMPROF_RING_HEAD_OFFSET 64
_Static_assert(offsetof(struct memprof_ring, head) == MEMPROF_RING_HEAD_OFFSET, "ring layout");
_Static_assert(offsetof(struct memprof_ring, tail) == 128, "ring layout");
_Static_assert(sizeof(struct memprof_thread_ring) == MEMPROF_THREAD_RING_HEADER, "ring layout");
_Static_assert(sizeof(struct memprof_batch_header) == 16 && sizeof(struct memprof_file_header) == 16, "batch layout");
/* 8 MiB: at --rate 1 jq frees its 2M blocks at the end faster than memprof
 * reads them and filled a 4 MiB ring 2 to 14 times a run; 8 MiB held it
 * (docs/benchmarks.md, sixth session). Its pages count in the program's
 * RSS once touched (a program that writes less touches less). */
#define MEMPROF_RING_SIZE ((uint64_t)8 << 20)

/* Messages on memprof's socket (SOCK_SEQPACKET, one per send). */
enum memprof_hello_type {
	/* with SCM_RIGHTS: the ring's memfd (sealed against shrinking and
	 * growing) and, where the kernel has pidfd_open, the process's pidfd */
	HELLO_RING = 1,
	HELLO_KICK = 2,		/* the ring of (pid, incarnation) is filling up */
};
struct memprof_hello {
	uint32_t magic;		/* MEMPROF_HELLO_MAGIC */
	uint32_t type;
	uint32_t pid, incarnation;
};

/* ---- encoding (the tracker) -------------------------------------------- */

static inline uint8_t *rec_put(uint8_t *p, const void *v, size_t n)
{
	memcpy(p, v, n);
	return p + n;
}
static inline uint8_t *rec_u8(uint8_t *p, uint8_t v) { *p = v; return p + 1; }
static inline uint8_t *rec_u16(uint8_t *p, uint16_t v) { return rec_put(p, &v, 2); }
static inline uint8_t *rec_u32(uint8_t *p, uint32_t v) { return rec_put(p, &v, 4); }
static inline uint8_t *rec_u64(uint8_t *p, uint64_t v) { return rec_put(p, &v, 8); }

/* A length-prefixed name, cut at MEMPROF_NAME_MAX. */
static inline uint8_t *rec_name(uint8_t *p, const char *s)
{
	size_t n = s ? strlen(s) : 0;
	if (n > MEMPROF_NAME_MAX)
		n = MEMPROF_NAME_MAX;
	p = rec_u16(p, (uint16_t)n);
	return rec_put(p, s, n);
}

#define REC_ALLOC_LEN (1 + 8 + 8 + 4)
#define REC_FREE_LEN (1 + 8)
#define REC_STACK_LEN(n) (1 + 4 + 1 + 2 + 8 * (size_t)(n))
#define REC_MMAP_LEN (1 + 8 + 8 + 4)
#define REC_MUNMAP_LEN (1 + 8 + 8)

/* The two records made by the million at --rate 1: constant size, so that
 * the copies are a few moves. */
static inline void rec_put_alloc(uint8_t *p, uint64_t addr, uint64_t size, uint32_t stack)
{
	p = rec_u8(p, REC_ALLOC);
	p = rec_u64(p, addr);
	p = rec_u64(p, size);
	rec_u32(p, stack);
}

static inline void rec_put_free(uint8_t *p, uint64_t addr)
{
	rec_u64(rec_u8(p, REC_FREE), addr);
}

static inline void rec_put_t(uint8_t *p, uint8_t type, uint32_t stack, uint64_t time, uint64_t addr,
			     uint64_t size)
{
	p = rec_u8(p, type);
	p = rec_put(p, "\0\0", 3);
	p = rec_u32(p, stack);
	p = rec_u64(p, time);
	p = rec_u64(p, addr);
	rec_u64(p, size);
}

/* Writes a timed record at head in a thread's ring (data: its size
 * bytes, a power of two) and returns the head after it. *base: the time of
 * the record before it in the ring, 0 for none known (a slot's new
 * owner); a free within 4 s of it is a REC_TFREE_D. A REC_T_LEN record
 * never wraps: one that would starts the ring again after a REC_TPAD.
 * Room for REC_T_ROOM bytes is the caller's to see to. */
static inline uint64_t rec_put_thread(uint8_t *data, uint64_t size, uint64_t head, uint64_t *base,
				      uint8_t type, uint32_t stack, uint64_t time, uint64_t addr,
				      uint64_t bytes)
{
	uint64_t delta = time - *base;
	uint8_t *p;
	if (type == REC_TFREE && *base && delta <= UINT32_MAX) {
		p = rec_u8(data + (head & (size - 1)), REC_TFREE_D);
		p = rec_put(p, "\0\0", 3);
		rec_u64(rec_u32(p, (uint32_t)delta), addr);
		*base = time;
		return head + REC_TD_LEN;
	}
	if ((head & (size - 1)) == size - REC_TD_LEN) {
		data[head & (size - 1)] = REC_TPAD;
		head += REC_TD_LEN;
	}
	rec_put_t(data + (head & (size - 1)), type, stack, time, addr, bytes);
	*base = time;
	return head + REC_T_LEN;
}

/* ---- decoding (the collector, convert, the tests) ------------------------ */

/* One decoded record. Names point into the decoded buffer (not
 * NUL-terminated); pcs are read with rec_pc(). */
struct rec {
	uint8_t type;
	union {
		struct { uint8_t version; uint32_t ppid, forked_from; uint64_t rate, time_ns;
			 const char *exe; uint16_t exe_len; } start;
		struct { uint64_t bias, start, end, offset; const char *file; uint16_t file_len;
			 const uint8_t *build_id; uint8_t build_id_len; } module;
		struct { uint32_t id; uint8_t truncated; uint16_t n; const uint8_t *pcs; } stack;
		struct { uint64_t addr, size; uint32_t stack; } alloc;
		struct { uint64_t addr; } free;
		struct { uint64_t time_ns; uint8_t calls_seen; } end;
		struct { uint32_t n; uint8_t why; } lost;
		struct { const char *name; uint16_t len; } deepbind;
		struct { uint64_t time_ns; } exec;
		struct { const char *words; uint16_t len; } cmdline;
		struct { uint64_t addr, len; uint32_t stack; } map;	/* MMAP, MUNMAP */
		struct { uint64_t addr, size; const char *name; uint16_t len; } pool;
		struct { uint64_t time_ns; uint8_t on; } sampling;
		struct { uint64_t since_ns, lost, unread; } reconnect;
		struct { uint64_t time, addr, size; uint32_t stack; } t;	/* TALLOC, TFREE */
	} u;
};

struct rec_reader {
	const uint8_t *p, *end;
	bool bad;	/* a record ran past the end, or an unknown type */
};

static inline void rec_take(struct rec_reader *r, void *out, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		memset(out, 0, n);
		return;
	}
	memcpy(out, r->p, n);
	r->p += n;
}
static inline uint8_t rec_get_u8(struct rec_reader *r) { uint8_t v; rec_take(r, &v, 1); return v; }
static inline uint16_t rec_get_u16(struct rec_reader *r) { uint16_t v; rec_take(r, &v, 2); return v; }
static inline uint32_t rec_get_u32(struct rec_reader *r) { uint32_t v; rec_take(r, &v, 4); return v; }
static inline uint64_t rec_get_u64(struct rec_reader *r) { uint64_t v; rec_take(r, &v, 8); return v; }

static inline const uint8_t *rec_get_bytes(struct rec_reader *r, size_t n)
{
	if (r->bad || (size_t)(r->end - r->p) < n) {
		r->bad = true;
		return NULL;
	}
	const uint8_t *s = r->p;
	r->p += n;
	return s;
}

static inline const char *rec_get_name(struct rec_reader *r, uint16_t *len)
{
	*len = rec_get_u16(r);
	if (*len > MEMPROF_NAME_MAX)
		r->bad = true;
	const char *s = (const char *)rec_get_bytes(r, *len);
	if (!s)
		*len = 0;
	return s ? s : "";
}

/* The two records made by the million at --rate 1, read in place by the
 * collector's feed (rec_next's general path costs as much again): p is at
 * the record's type byte, and REC_ALLOC_LEN or REC_FREE_LEN bytes are
 * there. */
static inline void rec_get_alloc(const uint8_t *p, uint64_t *addr, uint64_t *size,
				 uint32_t *stack)
{
	memcpy(addr, p + 1, 8);
	memcpy(size, p + 9, 8);
	memcpy(stack, p + 17, 4);
}

static inline uint64_t rec_get_free(const uint8_t *p)
{
	uint64_t addr;
	memcpy(&addr, p + 1, 8);
	return addr;
}

/* The frame count of the REC_STACK at p (REC_STACK_LEN(0) bytes there):
 * the collector reads stacks in place too, once this is checked against
 * MEMPROF_MAX_FRAMES and the bytes there; the id is at p + 1, the
 * truncated flag at p + 5, the pcs at p + REC_STACK_LEN(0). */
static inline uint16_t rec_stack_n(const uint8_t *p)
{
	uint16_t n;
	memcpy(&n, p + 6, 2);
	return n;
}

/* The k-th pc of a decoded REC_STACK. */
static inline uint64_t rec_pc(const struct rec *rec, size_t k)
{
	uint64_t v;
	memcpy(&v, rec->u.stack.pcs + 8 * k, 8);
	return v;
}

/* Decodes the record at r->p. Returns true with *out filled in and r->p
 * past it; false at the end of the data or when the record is malformed
 * (then r->bad is set and r->p is unchanged). */
static inline bool rec_next(struct rec_reader *r, struct rec *out)
{
	if (r->bad || r->p >= r->end)
		return false;
	const uint8_t *at = r->p;
	memset(out, 0, sizeof(*out));
	out->type = rec_get_u8(r);
	switch (out->type) {
	case REC_START:
		out->u.start.version = rec_get_u8(r);
		out->u.start.ppid = rec_get_u32(r);
		out->u.start.forked_from = rec_get_u32(r);
		out->u.start.rate = rec_get_u64(r);
		out->u.start.time_ns = rec_get_u64(r);
		out->u.start.exe = rec_get_name(r, &out->u.start.exe_len);
		break;
	case REC_MODULES_RESET:
		break;
	case REC_MODULE:
		out->u.module.bias = rec_get_u64(r);
		out->u.module.start = rec_get_u64(r);
		out->u.module.end = rec_get_u64(r);
		out->u.module.offset = rec_get_u64(r);
		out->u.module.file = rec_get_name(r, &out->u.module.file_len);
		out->u.module.build_id_len = rec_get_u8(r);
		if (out->u.module.build_id_len > MEMPROF_BUILD_ID_MAX)
			r->bad = true;
		out->u.module.build_id = rec_get_bytes(r, out->u.module.build_id_len);
		break;
	case REC_STACK:
		out->u.stack.id = rec_get_u32(r);
		out->u.stack.truncated = rec_get_u8(r);
		out->u.stack.n = rec_get_u16(r);
		if (out->u.stack.n > MEMPROF_MAX_FRAMES)
			r->bad = true;
		out->u.stack.pcs = rec_get_bytes(r, 8 * (size_t)out->u.stack.n);
		break;
	case REC_ALLOC:
		out->u.alloc.addr = rec_get_u64(r);
		out->u.alloc.size = rec_get_u64(r);
		out->u.alloc.stack = rec_get_u32(r);
		break;
	case REC_FREE:
		out->u.free.addr = rec_get_u64(r);
		break;
	case REC_END:
		out->u.end.time_ns = rec_get_u64(r);
		out->u.end.calls_seen = rec_get_u8(r);
		break;
	case REC_LOST:
		out->u.lost.n = rec_get_u32(r);
		out->u.lost.why = rec_get_u8(r);
		if (out->u.lost.why >= LOST_WHY_MAX)
			r->bad = true;
		break;
	case REC_DEEPBIND:
		out->u.deepbind.name = rec_get_name(r, &out->u.deepbind.len);
		break;
	case REC_EXEC:
		out->u.exec.time_ns = rec_get_u64(r);
		break;
	case REC_CMDLINE:
		out->u.cmdline.words = rec_get_name(r, &out->u.cmdline.len);
		break;
	case REC_MMAP:
	case REC_POOL_ALLOC:
		out->u.map.addr = rec_get_u64(r);
		out->u.map.len = rec_get_u64(r);
		out->u.map.stack = rec_get_u32(r);
		break;
	case REC_MUNMAP:
		out->u.map.addr = rec_get_u64(r);
		out->u.map.len = rec_get_u64(r);
		break;
	case REC_POOL_FREE:
	case REC_POOL_DESTROY:
		out->u.map.addr = rec_get_u64(r);
		break;
	case REC_POOL_CREATE:
		out->u.pool.addr = rec_get_u64(r);
		out->u.pool.size = rec_get_u64(r);
		out->u.pool.name = rec_get_name(r, &out->u.pool.len);
		break;
	case REC_SAMPLING:
		out->u.sampling.time_ns = rec_get_u64(r);
		out->u.sampling.on = rec_get_u8(r);
		break;
	case REC_RECONNECT:
		out->u.reconnect.since_ns = rec_get_u64(r);
		out->u.reconnect.lost = rec_get_u64(r);
		out->u.reconnect.unread = rec_get_u64(r);
		break;
	case REC_TALLOC:
	case REC_TFREE:
		rec_get_bytes(r, 3);
		out->u.t.stack = rec_get_u32(r);
		out->u.t.time = rec_get_u64(r);
		out->u.t.addr = rec_get_u64(r);
		out->u.t.size = rec_get_u64(r);
		break;
	default:
		r->bad = true;
	}
	if (r->bad)
		r->p = at;
	return !r->bad;
}

#endif
