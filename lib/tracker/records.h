/* records.h - the stream format between the tracker (libmemprof.so, inside
 * the profiled process) and the collector (memprof run / memprof convert).
 *
 * The tracker sends batches. A batch is a header and whole records; every
 * batch is one send() on a SOCK_SEQPACKET connection to the abstract unix
 * socket memprof run names in MEMPROF_SOCK (or one write() to the standalone
 * recording named in MEMPROF_OUT), so batches from different processes and
 * threads never interleave. Each process image connects on its own; forked
 * children share their parent's connection until they need a new one. Within one process image (pid + incarnation), batches
 * arrive in the order the records were made. Numbers are native-endian:
 * the stream never leaves the machine. */
#ifndef MEMPROF_RECORDS_H
#define MEMPROF_RECORDS_H

#include <stdint.h>

#define MEMPROF_MAGIC 0x4652504dU	/* "MPRF" */
#define MEMPROF_VERSION_RECORDS 1
#define MEMPROF_BATCH_MAX 65536		/* bytes, header included */
#define MEMPROF_MAX_FRAMES 128
#define MEMPROF_NAME_MAX 1024		/* longest path sent */

struct memprof_batch_header {
	uint32_t magic;
	uint32_t len;		/* bytes of records after the header */
	uint32_t pid;
	uint32_t incarnation;	/* random per process image: a new one after exec */
};

enum memprof_record_type {
	/* u8 version, u32 ppid, u32 forked_from, u64 rate, u64 time_ns, u16 len,
	 * char exe[len]. forked_from is the parent's incarnation when this
	 * process was forked (it inherits the parent's module map, which is not
	 * sent again), 0 when it was started by exec. */
	REC_START = 1,
	/* the module map is replaced by the REC_MODULE records that follow */
	REC_MODULES_RESET = 2,
	/* u64 bias, u64 start, u64 end, u64 offset, u16 len, char name[len]:
	 * one executable segment [start, end) of a loaded object, mapped from
	 * file offset `offset`; bias = load address - ELF vaddr */
	REC_MODULE = 3,
	/* u32 id, u8 truncated, u16 n, u64 pc[n]: a new call stack, leaf first,
	 * return addresses as unw_backtrace gives them */
	REC_STACK = 4,
	/* u64 addr, u64 size, u32 stack: a sampled allocation */
	REC_ALLOC = 5,
	/* u64 addr: a sampled block was freed */
	REC_FREE = 6,
	/* u64 time_ns, u8 calls_seen: the process image is ending (exit, _exit,
	 * exec, abort, fatal signal); calls_seen is 0 when no allocation at all
	 * went through the tracker (an allocator linked into the program) */
	REC_END = 7,
	/* u32 n: the in-process tracker dropped n records (out of memory) */
	REC_LOST = 8,
	/* u16 len, char name[len]: a library was dlopen'ed with RTLD_DEEPBIND;
	 * its calls to malloc bypass the tracker */
	REC_DEEPBIND = 9,
};

#endif
