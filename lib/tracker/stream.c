/* stream.c - the lock, and the sink: a shared-memory ring read by memprof
 * run, or a recording file (see stream.h and records.h). No stdio, no
 * allocation: static buffers, raw descriptors, mmap. */
#include "stream.h"

#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <sched.h>
#include <time.h>
#include <string.h>
#include <linux/futex.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <unistd.h>

#include "records.h"
#include "../fd_high.h"

#define FLUSH_INTERVAL_NS 100000000	/* file mode: records wait about this long */
/* File mode reads the clock at every record while records come slowly; while
 * they come fast (CLOCK_EVERY bytes in less than FAST_NS), only once per
 * CLOCK_EVERY bytes: a clock read costs about as much as the record. The
 * price: when a burst stops, its last batch waits for CLOCK_EVERY bytes more
 * (or the end) instead of the next record 100 ms on. */
#define CLOCK_EVERY 512
#define FAST_NS 10000000

/* On a line of its own: a thread waiting for the lock reads it over and over,
 * and would take the sink's line (stream_ring) from the holder each time. */
_Alignas(64) int stream_lock_word;

static void futex_call(int *word, int op, int val, const struct timespec *timeout)
{
	syscall(SYS_futex, word, op, val, timeout, NULL, 0);	/* errno: see enter() */
}

static inline void cpu_relax(void)
{
#if defined(__x86_64__) || defined(__i386__)
	__builtin_ia32_pause();
#endif
}

/* The lock is held for a few hundred nanoseconds at a time: a thread that
 * finds it taken spins a little before it sleeps. */
static void contended(void);

void stream_lock_slow(void)
{
	for (int spin = 0; spin < 200; spin++) {
		cpu_relax();
		if (__atomic_load_n(&stream_lock_word, __ATOMIC_RELAXED) == 0 && stream_lock_try()) {
			contended();
			return;
		}
	}
	int c = __atomic_load_n(&stream_lock_word, __ATOMIC_RELAXED);
	if (c != 2)
		c = __atomic_exchange_n(&stream_lock_word, 2, __ATOMIC_ACQUIRE);
	while (c != 0) {
		futex_call(&stream_lock_word, FUTEX_WAIT_PRIVATE, 2, NULL);
		c = __atomic_exchange_n(&stream_lock_word, 2, __ATOMIC_ACQUIRE);
	}
	contended();
}

void stream_unlock_wake(void)
{
	futex_call(&stream_lock_word, FUTEX_WAKE_PRIVATE, 1, NULL);
}

void stream_lock_reset(void)
{
	stream_lock_word = 0;
}

/* ---- descriptors ------------------------------------------------------------ */

/* What our descriptor is, so that one the program closed and reused for a
 * file of its own is never written. */
struct fd_id {
	int fd;
	dev_t dev;
	ino_t ino;
};

static bool fd_remember(struct fd_id *id, int fd)
{
	struct stat st;
	if (fstat(fd, &st) < 0)
		return false;
	*id = (struct fd_id){ fd, st.st_dev, st.st_ino };
	return true;
}

static bool fd_still_ours(const struct fd_id *id)
{
	struct stat st;
	return id->fd >= 0 && fstat(id->fd, &st) == 0 && st.st_dev == id->dev &&
	       st.st_ino == id->ino;
}

/* ---- state ---------------------------------------------------------------------- */

static struct fd_id sock = { -1, 0, 0 };	/* memprof's connection (ring mode) */
static struct fd_id file = { -1, 0, 0 };	/* the recording (file mode) */
static bool failed;				/* sticky: nothing goes anywhere */
static bool tr_ready;				/* there are per-thread rings (below) */
static uint32_t my_pid, my_incarnation;
static uint32_t lost[LOST_WHY_MAX];		/* atomic adds */

struct stream_ring stream_ring;
struct memprof_ring *stream_hdr;	/* this image's ring, also once the sink failed */

/* File mode: the batch being filled; stream_ring.head is its length while
 * stream_ring.data points here. */
static _Alignas(64) uint8_t buf[MEMPROF_BATCH_MAX];
_Static_assert((sizeof(buf) & (sizeof(buf) - 1)) == 0, "stream_reserve masks head");
static uint64_t head_dummy;	/* file mode publishes its head nowhere */
static uint64_t last_flush_ns, last_clock_ns;
static bool flush_each;

/* File mode: an empty batch, the clock read at the next record. */
static void file_batch_reset(void)
{
	stream_ring = (struct stream_ring){ buf, &head_dummy, sizeof(struct memprof_batch_header),
					    sizeof(buf), 0, 0, sizeof(buf) };
}

/* Ring mode: memprof has read up to tail. */
static void ring_tail_seen(uint64_t tail)
{
	stream_ring.tail_seen = tail;
	stream_ring.end = tail + stream_ring.size;
	stream_ring.slow_at = tail + stream_ring.size / 4;
}

void stream_set_identity(uint32_t pid, uint32_t incarnation)
{
	my_pid = pid;
	my_incarnation = incarnation;
}

bool stream_agent_on;		/* the connection is ours to make again (memprof agent) */
static bool detached;		/* agent mode: no agent now; records are counted, not made */
static uint64_t detached_since_ns, detached_lost, detached_unread;

bool stream_ok_slow(void)
{
	if (detached)
		detached_lost++;	/* the sampled event that will not be recorded */
	return false;
}

/* Stops recording for good. A ring says so in its header, where memprof
 * reads it (with the count of what was dropped since). */
static void detach(void);

static void fail(void)
{
	stream_threads = false;	/* the threads' rings too (they stay mapped) */
	tr_ready = false;
	if (stream_agent_on) {	/* the agent went: until it is back */
		detach();
		return;
	}
	failed = true;
	stream_ring.data = NULL;	/* the inline paths go to the slow ones, which see `failed` */
	stream_ring.end = stream_ring.slow_at = 0;
	if (stream_hdr)
		__atomic_store_n(&stream_hdr->failed, 1, __ATOMIC_RELEASE);
}

void stream_count_lost(int why)
{
	__atomic_add_fetch(&lost[why], 1, __ATOMIC_RELAXED);
}

void stream_send_lost(void)
{
	for (int why = 0; why < LOST_WHY_MAX; why++) {
		uint32_t n = __atomic_exchange_n(&lost[why], 0, __ATOMIC_RELAXED);
		if (!n)
			continue;
		uint8_t r[1 + 4 + 1], *p = r;
		p = rec_u8(p, REC_LOST);
		p = rec_u32(p, n);
		rec_u8(p, (uint8_t)why);
		stream_emit(r, sizeof(r));
	}
}

/* ---- memprof's socket and the ring ------------------------------------------------ */

static char fallback_path[108];	/* memprof's socket for images that lost theirs */
static int fallback_collector;

void stream_set_fallback(const char *path, int collector)
{
	size_t n = path ? strlen(path) : 0;
	if (n && n < sizeof(fallback_path)) {
		memcpy(fallback_path, path, n + 1);
		fallback_collector = collector;
	}
}

/* Connects to memprof's fallback socket (a process that lost the descriptor
 * it inherited, or closed it). The connection is close-on-exec: an exec'd
 * image makes its own. Returns 0 or -1. */
static int connect_fallback_now(void)
{
	struct sockaddr_un a;
	if (!fallback_path[0])
		return -1;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, fallback_path, strlen(fallback_path) + 1);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    (fd = fd_move_high(fd, true)) < 0)
		goto out_fail;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
	    cred.pid != fallback_collector || !fd_remember(&sock, fd))
		goto out_fail;
	return 0;
out_fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

static int connect_fallback(void)
{
	int c = nocancel_begin();
	int rc = connect_fallback_now();
	nocancel_end(c);
	return rc;
}

int stream_use_socket(int fd, int collector)
{
	struct stat st;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (fd < 0 || fstat(fd, &st) < 0 || !S_ISSOCK(st.st_mode) ||
	    getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.pid != collector ||
	    !fd_remember(&sock, fd))
		return connect_fallback();
	return 0;
}

/* Returns 0; -1 when memprof is gone (or, for a ring, could not be told). */
static int send_hello(uint32_t type, int pass_fd, int pass_fd2)
{
	struct memprof_hello h = { MEMPROF_HELLO_MAGIC, type, my_pid, my_incarnation };
	struct iovec iov = { &h, sizeof(h) };
	union {
		struct cmsghdr align;
		char b[CMSG_SPACE(2 * sizeof(int))];
	} control;
	struct msghdr m;
	memset(&m, 0, sizeof(m));
	m.msg_iov = &iov;
	m.msg_iovlen = 1;
	if (pass_fd >= 0) {
		int fds[2] = { pass_fd, pass_fd2 };
		size_t nfd = pass_fd2 >= 0 ? 2 : 1;
		memset(&control, 0, sizeof(control));
		m.msg_control = control.b;
		m.msg_controllen = CMSG_SPACE(nfd * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&m);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(nfd * sizeof(int));
		memcpy(CMSG_DATA(c), fds, nfd * sizeof(int));
	}
	if (!fd_still_ours(&sock))
		return type == HELLO_KICK ? 0 : -1;	/* memprof reads every 10 ms anyway */
	int c = nocancel_begin();
	ssize_t n;
	do
		n = sendmsg(sock.fd, &m, MSG_NOSIGNAL | (type == HELLO_KICK ? MSG_DONTWAIT : 0));
	while (n < 0 && errno == EINTR);
	nocancel_end(c);
	if (n == (ssize_t)sizeof(h))
		return 0;
	if (type == HELLO_KICK)	/* a kick may be dropped; only a gone memprof counts */
		return n < 0 && (errno == EPIPE || errno == ECONNRESET || errno == ENOTCONN) ? -1 : 0;
	return -1;
}

static int kick(bool force);

/* ---- per-thread rings -------------------------------------------------------------

   At --rate 1 under memprof run, a thread's allocations and frees go to a
   ring of its own in this image's memfd, without the lock: the lock and
   the shared ring's cache lines no longer pass between the threads' cores
   at every event. What the threads share stays under the lock and in the
   shared ring: new stacks (REC_STACK before any thread can know the id),
   modules, lost counts, lifecycle records. The order across threads is
   the time (CLOCK_MONOTONIC, which the kernel keeps monotonic across
   CPUs): an allocation's record is made after the real allocation
   returned, a free's is published before the real free, so that memprof,
   applying records in time order, sees a free before the allocation that
   reuses its address in another thread, and the peak it computes is one
   the program had (lib/ring.c says why records a thread has not published
   yet never hold it back). A counter shared by the threads would order
   them as well, but its cache line passes between the cores at every
   record: it cost the two threads of bench/churn 0.9 s of CPU in 20M
   records, the clock 0.3 s. Slots are taken at a thread's first event and
   given back when it ends (a pthread key's destructor), so 5,000 short
   threads share TR_SLOTS rings; a thread without one writes the same
   records to the shared ring under the lock, and one whose ring is full
   waits for memprof to read it (thread_ring_wait). */


uint8_t *stream_tr_base;		/* slot 0; NULL: no thread rings */
bool stream_threads;			/* in use (see contended), the sink has not failed */

/* With the lock, just taken after a wait: two threads sample at once, so
 * the rings are worth what memprof spends merging them; from now on every
 * allocation and free of this image is timed (those made under the lock
 * before were all made before this point, and memprof feeds the shared
 * ring's records before the timed ones it holds). A program whose
 * threads never meet here keeps the one ring, untimed. */
static void contended(void)
{
	if (unlikely(tr_ready) && !stream_threads && !failed)
		__atomic_store_n(&stream_threads, true, __ATOMIC_RELEASE);
}
static int tr_owner[TR_SLOTS];		/* 1: a thread writes there (atomic) */
static pthread_key_t tr_key;		/* its value: the slot + 1 */
static bool tr_key_made;
_Alignas(64) int stream_tr_gen;		/* bumped with each new set of rings */


/* A thread ends: its ring goes to the next thread that needs one (its
 * records stay, memprof reads them in order). What it allocates later
 * (other destructors) goes to the shared ring. */
static void tr_release(void *v)
{
	int slot = (int)(uintptr_t)v - 1;
	if (ts.tr_slot == slot + 1 && ts.tr_gen == stream_tr_gen && slot >= 0 && slot < TR_SLOTS) {
		ts.tr_slot = -1;
		__atomic_store_n(&tr_owner[slot], 0, __ATOMIC_RELEASE);
	}
}

static int tr_mode = -1;	/* MEMPROF_THREAD_RINGS: 0 never, 1 from the start, -1
				 * (auto, the default) from the first contention */

void stream_set_thread_rings(int mode)
{
	tr_mode = mode;
}

static bool threads_setup(void)
{
	if (!tr_mode)	/* memprof run sets 0 when the clock will not do (cmd/run.c) */
		return false;
	if (!tr_key_made && pthread_key_create(&tr_key, tr_release) == 0)
		tr_key_made = true;
	return tr_key_made;
}

/* A new set of rings (start, or a forked child's): every slot free. The
 * caller is the only thread. */
static void threads_start(uint8_t *threads)
{
	stream_tr_base = threads;
	tr_ready = threads != NULL;
	stream_threads = tr_ready && tr_mode == 1;
	for (int k = 0; k < TR_SLOTS; k++)
		tr_owner[k] = 0;
	stream_tr_gen++;
	ts.tr_slot = 0;
}

static bool tr_claim(void)
{
	for (int k = 0; k < TR_SLOTS; k++) {
		int free_slot = 0;
		if (__atomic_load_n(&tr_owner[k], __ATOMIC_RELAXED) ||
		    !__atomic_compare_exchange_n(&tr_owner[k], &free_slot, 1, false, __ATOMIC_ACQUIRE,
						 __ATOMIC_RELAXED))
			continue;
		struct memprof_thread_ring *h = stream_tr_header(k);
		ts.tr_slot = k + 1;
		ts.tr_gen = stream_tr_gen;
		ts.tr_head = __atomic_load_n(&h->head, __ATOMIC_RELAXED);	/* its last writer's */
		ts.tr_base = 0;	/* the record before ours is its last writer's */
		ts.tr_tail_seen = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
		pthread_setspecific(tr_key, (void *)(uintptr_t)(k + 1));
		return true;
	}
	ts.tr_slot = -1;	/* all taken: the shared ring, for good */
	ts.tr_gen = stream_tr_gen;
	return false;
}

/* This thread's ring is full: wait for memprof to read it, as ring_wait
 * does for the shared ring, but without the lock (taken only to kick).
 * Going to the shared ring at once instead makes the threads meet at the
 * lock whenever memprof is off the CPU for a few ms (a busy machine: two
 * threads and memprof on two cores sent half of bench/churn's records
 * there). Returns whether there is room now; after a second, or with a
 * ring memprof never took, the shared ring. */
static bool thread_ring_wait(struct memprof_thread_ring *h)
{
	const struct timespec t = { 0, 50 * 1000 * 1000 };
	if (!stream_hdr || !__atomic_load_n(&stream_hdr->accepted, __ATOMIC_ACQUIRE))
		return false;
	int saved = errno;
	bool room = false;
	for (int waits = 0; waits < 20 && !room; waits++) {
		uint32_t seq = __atomic_load_n(&stream_hdr->wake, __ATOMIC_ACQUIRE);
		__atomic_store_n(&stream_hdr->waiting, 1, __ATOMIC_SEQ_CST);
		ts.tr_tail_seen = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
		room = ts.tr_head + REC_T_ROOM - ts.tr_tail_seen <= TR_SIZE;
		if (room || !enter())
			break;
		bool kicked = !failed && kick(true) == 0;
		leave();
		if (!kicked)
			break;
		futex_call((int *)&stream_hdr->wake, FUTEX_WAIT, (int)seq, &t);
	}
	errno = saved;
	return room;
}

/* The thread's first record, a forked child's thread, a full ring, or a
 * quarter full: everything but the common case of stream_thread_ring. */
struct memprof_thread_ring *stream_thread_ring_slow(void)
{
	if (ts.holding)
		return NULL;	/* a handler that interrupted this very path */
	if (ts.tr_gen != stream_tr_gen) {	/* a forked child's thread, new rings */
		ts.tr_slot = 0;
		ts.tr_gen = stream_tr_gen;
	}
	if (ts.tr_slot <= 0) {
		if (ts.tr_slot < 0)
			return NULL;
		/* ts.holding through the claim: a signal handler arriving
		 * between a slot's CAS and ts.tr_slot's store would otherwise
		 * claim a second slot, never released */
		ts.busy++;	/* pthread_setspecific may allocate: passes through */
		ts.holding = 1;
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		bool got = tr_claim();
		__atomic_signal_fence(__ATOMIC_SEQ_CST);
		ts.holding = 0;
		ts.busy--;
		if (!got)
			return NULL;
	}
	struct memprof_thread_ring *h = stream_tr_header(ts.tr_slot - 1);
	ts.tr_tail_seen = __atomic_load_n(&h->tail, __ATOMIC_ACQUIRE);
	if (ts.tr_head - ts.tr_tail_seen > TR_SIZE / 4 &&
	    !__atomic_load_n(&stream_hdr->kicked, __ATOMIC_RELAXED) && enter()) {
		/* a quarter full: ask memprof to read (the message, under the lock) */
		if (stream_hdr && !failed && kick(false) < 0)
			fail();
		leave();
	}
	if (ts.tr_head + REC_T_ROOM - ts.tr_tail_seen > TR_SIZE && !thread_ring_wait(h))
		return NULL;	/* full for long: the shared ring, which waits if it must */
	return h;
}

void stream_emit_timed(uint8_t type, uint32_t stack, uint64_t addr, uint64_t size)
{
	uint8_t *r = stream_reserve(REC_T_LEN);
	if (r) {
		rec_put_t(r, type, stack, stream_clock(), addr, size);
		stream_commit(REC_T_LEN);
	}
}

static int start_ring(void)
{
	const uint64_t size = MEMPROF_RING_SIZE, off = MEMPROF_RING_DATA_OFFSET;
	if (failed || (!fd_still_ours(&sock) && connect_fallback() < 0))
		return -1;
	int fd = (int)syscall(SYS_memfd_create, "memprof-ring", MFD_CLOEXEC | MFD_ALLOW_SEALING);
	if (fd < 0)
		return -1;
	uint8_t *base = NULL, *threads = NULL;
	int pidfd = -1;
	/* per-thread rings after the data area: memprof run at --rate 1 only
	 * (the agent may unmap a ring while threads write; a sampled rate
	 * keeps its live table under the lock anyway) */
	bool with_threads = !stream_agent_on && tracker_rate == 1 && threads_setup();
	uint64_t threads_len = with_threads ? (uint64_t)TR_SLOTS * TR_STRIDE : 0;
	/* sealed: memprof maps it too, and a file that shrank would kill it */
	if (ftruncate(fd, (off_t)(off + size + threads_len)) < 0 ||
	    fcntl(fd, F_ADD_SEALS, F_SEAL_SHRINK | F_SEAL_GROW | F_SEAL_SEAL) < 0)
		goto out_fail;
	/* the data area twice, back to back: a record that wraps is contiguous */
	base = mmap(NULL, off + 2 * size, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
		    -1, 0);
	if (base == MAP_FAILED) {
		base = NULL;
		goto out_fail;
	}
	if (mmap(base, off + size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
	    mmap(base + off + size, size, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd,
		 (off_t)off) == MAP_FAILED)
		goto out_fail;
	if (threads_len) {
		threads = mmap(NULL, threads_len, PROT_READ | PROT_WRITE, MAP_SHARED, fd,
			       (off_t)(off + size));
		if (threads == MAP_FAILED) {
			threads = NULL;
			goto out_fail;
		}
	}
	struct memprof_ring *r = (void *)base;
	r->magic = MEMPROF_RING_MAGIC;
	r->version = MEMPROF_VERSION_RECORDS;
	r->pid = my_pid;
	r->incarnation = my_incarnation;
	r->size = size;
	r->data_offset = off;
	if (threads) {
		r->thread_slots = TR_SLOTS;
		r->thread_size = TR_SIZE;
		r->threads_offset = off + size;
	}
	/* our pidfd: memprof learns when we are gone, whoever reaps us */
	pidfd = (int)syscall(SYS_pidfd_open, getpid(), 0);
	if (send_hello(HELLO_RING, fd, pidfd) < 0)
		goto out_fail;
	if (pidfd >= 0)
		close(pidfd);
	close(fd);
	stream_hdr = r;
	stream_ring = (struct stream_ring){ base + off,
					    (uint64_t *)((uint8_t *)r + MEMPROF_RING_HEAD_OFFSET),
					    0, 0, 0, 0, size };
	ring_tail_seen(0);
	threads_start(threads);
	return 0;
out_fail:
	if (threads)
		munmap(threads, threads_len);
	if (base)
		munmap(base, off + 2 * size);
	if (pidfd >= 0)
		close(pidfd);
	close(fd);
	return -1;
}

/* Tells memprof to read soon. Returns -1 when memprof is gone. */
static int kick(bool force)
{
	if (!force && __atomic_load_n(&stream_hdr->kicked, __ATOMIC_RELAXED))
		return 0;
	__atomic_store_n(&stream_hdr->kicked, 1, __ATOMIC_RELAXED);
	return send_hello(HELLO_KICK, -1, -1);
}

/* The ring is full: wait until memprof has read enough (it wakes us), or
 * it is gone. Returns whether there is room now. */
static bool ring_wait(size_t len)
{
	const struct timespec t = { 0, 50 * 1000 * 1000 };
	/* a ring memprof never took (it could not) is not waited for long;
	 * nor, at most half a second, an agent (stopped, or stuck): the
	 * service goes on detached, what it could not record counted */
	int limit = stream_agent_on ? 10 : 100;
	for (int waits = 0; (!stream_agent_on && __atomic_load_n(&stream_hdr->accepted, __ATOMIC_ACQUIRE)) ||
			    waits < limit;
	     waits++) {
		uint32_t seq = __atomic_load_n(&stream_hdr->wake, __ATOMIC_ACQUIRE);
		__atomic_store_n(&stream_hdr->waiting, 1, __ATOMIC_SEQ_CST);
		ring_tail_seen(__atomic_load_n(&stream_hdr->tail, __ATOMIC_ACQUIRE));
		if (stream_ring.head + len - stream_ring.tail_seen <= stream_ring.size)
			return true;
		if (kick(true) < 0)
			return false;
		futex_call((int *)&stream_hdr->wake, FUTEX_WAIT, (int)seq, &t);
	}
	return false;
}

/* ---- the recording file ----------------------------------------------------------- */

int stream_start_ring(void)
{
	int c = nocancel_begin();
	int rc = start_ring();
	nocancel_end(c);
	return rc;
}

static int open_file(const char *path, uint64_t token, bool create, const char **why)
{
	struct memprof_file_header h;
	struct stat st;
	int fd;
	if (create) {
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_APPEND | O_NOFOLLOW | O_CLOEXEC, 0600);
		if (fd < 0) {
			*why = errno == EEXIST ? "exists already (remove it, or name a new file)"
					       : "cannot be created";
			return -1;
		}
		memcpy(h.magic, MEMPROF_FILE_MAGIC, sizeof(h.magic));
		h.token = token;
		if (write(fd, &h, sizeof(h)) != (ssize_t)sizeof(h)) {
			*why = "cannot be written";
			close(fd);
			return -1;
		}
	} else {
		fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		int rfd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
		struct stat rst;
		bool same = fd >= 0 && rfd >= 0 && fstat(fd, &st) == 0 && fstat(rfd, &rst) == 0 &&
			    S_ISREG(st.st_mode) && st.st_uid == geteuid() &&
			    st.st_dev == rst.st_dev && st.st_ino == rst.st_ino &&
			    pread(rfd, &h, sizeof(h), 0) == (ssize_t)sizeof(h) &&
			    !memcmp(h.magic, MEMPROF_FILE_MAGIC, sizeof(h.magic)) && h.token == token;
		if (rfd >= 0)
			close(rfd);
		if (!same) {
			*why = "is not the recording this run made (replaced, or someone else's): not appending";
			if (fd >= 0)
				close(fd);
			return -1;
		}
	}
	if ((fd = fd_move_high(fd, true)) < 0) {
		*why = "no free descriptor the program would not need";
		return -1;
	}
	if (!fd_remember(&file, fd)) {
		close(fd);
		*why = "cannot be written";
		return -1;
	}
	last_flush_ns = last_clock_ns = now_ns();
	file_batch_reset();
	return 0;
}

int stream_open_file(const char *path, uint64_t token, bool create, const char **why)
{
	int c = nocancel_begin();
	int rc = open_file(path, token, create, why);
	nocancel_end(c);
	return rc;
}

void stream_flush(void)
{
	size_t buf_len = (size_t)stream_ring.head;
	if (stream_hdr || file.fd < 0 || failed || buf_len == sizeof(struct memprof_batch_header))
		return;
	struct memprof_batch_header *h = (void *)buf;
	h->magic = MEMPROF_MAGIC;
	h->len = (uint32_t)(buf_len - sizeof(*h));
	h->pid = my_pid;
	h->incarnation = my_incarnation;
	if (!fd_still_ours(&file)) {
		/* the program closed it (and may have reused the number) */
		file.fd = -1;
		fail();
	}
	int c = nocancel_begin();
	while (!failed) {
		ssize_t w = write(file.fd, buf, buf_len);
		if (w == (ssize_t)buf_len)
			break;
		if (w < 0 && errno == EINTR)
			continue;
		fail();	/* the disk is full, or a file size limit: stop quietly */
	}
	nocancel_end(c);
	if (!failed)
		file_batch_reset();
	last_flush_ns = last_clock_ns = now_ns();
}

void stream_flush_each(bool on)
{
	flush_each = on;
	if (on)
		stream_flush();
	if (!stream_hdr && stream_ring.data)
		stream_ring.slow_at = 0;	/* every commit goes to the slow path */
}

/* ---- records ---------------------------------------------------------------------- */

uint8_t *stream_reserve_slow(size_t len)
{
	if (detached) {
		detached_lost++;
		return NULL;
	}
	if (failed) {
		if (stream_hdr)
			__atomic_add_fetch(&stream_hdr->dropped, 1, __ATOMIC_RELAXED);
		return NULL;
	}
	if (stream_hdr) {
		if (stream_ring.head + len - stream_ring.tail_seen > stream_ring.size) {
			ring_tail_seen(__atomic_load_n(&stream_hdr->tail, __ATOMIC_ACQUIRE));
			if (stream_ring.head + len - stream_ring.tail_seen > stream_ring.size && !ring_wait(len)) {
				fail();
				return NULL;
			}
		}
		return stream_ring.data + (stream_ring.head & (stream_ring.size - 1));
	}
	if (file.fd < 0 || !stream_ring.data)
		return NULL;
	stream_flush();	/* the batch is full */
	return failed ? NULL : buf + stream_ring.head;
}

/* The ring's head is published already (stream_commit, inline); here:
 * a quarter full, ask memprof to read before we have to wait. Or a file. */
void stream_commit_slow(size_t len)
{
	if (stream_hdr) {
		if (failed || detached)
			return;
		ring_tail_seen(__atomic_load_n(&stream_hdr->tail, __ATOMIC_ACQUIRE));
		if (stream_ring.head - stream_ring.tail_seen > stream_ring.size / 4 && kick(false) < 0)
			fail();
		return;
	}
	if (!stream_ring.data)
		return;
	/* Since the last read of the clock: CLOCK_EVERY bytes (slow_at set),
	 * or one record. Fast enough, and the next read is CLOCK_EVERY bytes
	 * on; else at the next record. */
	uint64_t now = now_ns(), since = now - last_clock_ns;
	bool fast = since < (stream_ring.slow_at ? FAST_NS : FAST_NS / 32);
	last_clock_ns = now;
	if (flush_each || now - last_flush_ns >= FLUSH_INTERVAL_NS)
		stream_flush();
	if (stream_ring.data)
		stream_ring.slow_at = fast && !flush_each ? stream_ring.head + CLOCK_EVERY : 0;
	(void)len;
}

void stream_fork_child(void)
{
	if (stream_tr_base) {
		/* the parent's threads' rings: not ours to write */
		munmap(stream_tr_base, (size_t)TR_SLOTS * TR_STRIDE);
		stream_tr_base = NULL;
		stream_threads = false;
		tr_ready = false;
		stream_tr_gen++;
	}
	if (stream_hdr) {
		/* the parent's: leave it to the parent */
		munmap(stream_hdr, MEMPROF_RING_DATA_OFFSET + 2 * stream_ring.size);
		stream_hdr = NULL;
	}
	stream_ring = (struct stream_ring){ NULL, NULL, 0, 0, 0, 0, 0 };
	if (file.fd >= 0 && !failed)
		file_batch_reset();
	for (int why = 0; why < LOST_WHY_MAX; why++)
		lost[why] = 0;
	if (detached) {	/* the child's own loss counts from its start */
		detached_since_ns = wall_ns();
		detached_lost = detached_unread = 0;
	}
}

/* ---- memprof agent: a connection the image makes, and makes again ------------------ */

static char agent_path[108];
static uint64_t next_attempt_ns, next_peek_ns;
#define AGENT_RETRY_NS 1000000000u	/* at most one connection attempt a second */
#define AGENT_PEEK_NS 10000000u		/* and one look at the connection per 10 ms */

/* Whether the agent's socket may be trusted: a socket (not a symlink) in a
 * directory that only its owner or root can change, whose listener (the
 * kernel says) is the socket's owner. Returns the connection or -1. */
static int connect_agent(void)
{
	struct sockaddr_un a;
	struct stat st, dst;
	char dir[sizeof(agent_path)];
	size_t n = strlen(agent_path);
	memcpy(dir, agent_path, n + 1);
	char *slash = strrchr(dir, '/');
	if (!slash)
		return -1;	/* made absolute by stream_use_agent */
	slash[slash == dir] = '\0';
	/* Not a sticky shared directory either: there anyone may make the
	 * socket first and listen on it (another user's fake agent would get
	 * the ring, the command line, the module map). */
	if (lstat(agent_path, &st) < 0 || !S_ISSOCK(st.st_mode) || stat(dir, &dst) < 0 ||
	    (dst.st_uid != 0 && dst.st_uid != st.st_uid) || (dst.st_mode & (S_IWGRP | S_IWOTH)))
		return -1;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, agent_path, n + 1);
	/* never waits: a full backlog (an agent stopped or stuck) fails the
	 * connect, and a full socket the hello; the image stays detached */
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	struct ucred cred;
	socklen_t len = sizeof(cred);
	if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0 || (fd = fd_move_high(fd, true)) < 0)
		goto out_fail;
	if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 || cred.uid != st.st_uid ||
	    !fd_remember(&sock, fd))
		goto out_fail;
	return 0;
out_fail:
	if (fd >= 0)
		close(fd);
	return -1;
}

/* The agent is gone (or never was): what its ring held unread is lost,
 * the ring and the connection go, records are counted until it is back. */
static void detach(void)
{
	if (stream_hdr) {
		uint64_t tail = __atomic_load_n(&stream_hdr->tail, __ATOMIC_ACQUIRE);
		detached_unread += stream_ring.head - tail;
		munmap(stream_hdr, MEMPROF_RING_DATA_OFFSET + 2 * stream_ring.size);
		stream_hdr = NULL;
	}
	stream_ring = (struct stream_ring){ 0 };
	if (fd_still_ours(&sock))
		close(sock.fd);
	sock.fd = -1;
	if (!detached)
		detached_since_ns = wall_ns();
	detached = true;
	next_attempt_ns = now_ns() + AGENT_RETRY_NS;
}

static int use_agent(const char *path)
{
	size_t n = path ? strlen(path) : 0;
	if (!n || n >= sizeof(agent_path) || path[0] != '/')
		return -1;
	memcpy(agent_path, path, n + 1);
	stream_agent_on = true;
	if (connect_agent() == 0 && stream_start_ring() == 0)
		return 0;
	detach();
	next_attempt_ns = 0;	/* the next check may try at once */
	return 0;
}

int stream_use_agent(const char *path)
{
	int c = nocancel_begin();
	int rc = use_agent(path);
	nocancel_end(c);
	return rc;
}

bool stream_agent_mode(void)
{
	return stream_agent_on;
}

bool stream_detached(void)
{
	return detached;
}

static int agent_poll(void)
{
	uint64_t now = now_ns();
	if (!detached) {
		if (now < next_peek_ns)
			return 0;
		next_peek_ns = now + AGENT_PEEK_NS;
		char b;
		ssize_t n = fd_still_ours(&sock) ? recv(sock.fd, &b, 1, MSG_PEEK | MSG_DONTWAIT) : 0;
		if (n != 0 && (n > 0 || errno == EAGAIN || errno == EINTR))
			return 0;
		detach();	/* the agent closed its end */
	}
	if (now < next_attempt_ns)
		return -1;
	next_attempt_ns = now + AGENT_RETRY_NS;
	if (connect_agent() < 0)
		return -1;
	detached = false;
	if (stream_start_ring() < 0) {
		detach();
		return -1;
	}
	return 1;
}

int stream_agent_poll(void)
{
	if (!stream_agent_on || failed)
		return 0;
	uint64_t now = now_ns();
	if (!detached && now < next_peek_ns)
		return 0;	/* the common case: no call, nothing held off */
	if (detached && now < next_attempt_ns)
		return -1;
	int c = nocancel_begin();
	int rc = agent_poll();
	nocancel_end(c);
	return rc;
}

void stream_take_detached(uint64_t *since_ns, uint64_t *lost_n, uint64_t *unread)
{
	*since_ns = detached_since_ns;
	*lost_n = detached_lost;
	*unread = detached_unread;
	detached_since_ns = detached_lost = detached_unread = 0;
}

uint32_t stream_want(void)
{
	return stream_hdr ? __atomic_load_n(&stream_hdr->want, __ATOMIC_ACQUIRE) : RING_WANT_ANY;
}

void stream_note_sampling(bool on)
{
	if (stream_hdr)
		__atomic_store_n(&stream_hdr->sampling, on ? 1 : 0, __ATOMIC_RELEASE);
}
