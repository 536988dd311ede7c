/* lifecycle.c - start-up, fork, exec and the end of a process image (see
 * lifecycle.h). Environment, set by memprof run or by the user:
 *   MEMPROF_FD, MEMPROF_COLLECTOR  memprof's connected socket and its pid
 *   MEMPROF_OUT                    standalone: the recording file
 *   MEMPROF_TOKEN                  standalone: the run's token (set by the
 *                                  first process; its descendants check it)
 *   MEMPROF_RATE                   mean bytes between samples
 *   MEMPROF_AGENT                  memprof agent's socket: connect to it
 *                                  (and again, should it restart)
 *   MEMPROF_ACTIVE                 0: start with sampling off (the
 *                                  collector switches it on)
 * No signal handler is installed: the ring survives any death, and memprof
 * reports an image that ended without its END. */
#include "lifecycle.h"

#include <dlfcn.h>
#include <errno.h>
#include <link.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include "modules.h"
#include "originals.h"
#include "records.h"
#include "sampler.h"
#include "stream.h"
#include "tables.h"
#include "../fd_high.h"

__thread struct thread_state ts __attribute__((tls_model("initial-exec")));
volatile int tracker_state = TRACKER_UNSTARTED;
int64_t tracker_rate = 512 * 1024;
bool tracker_sample_all;
static uintptr_t unwinder_start, unwinder_end;
static bool own_accessor;	/* the tracker's unwinding needs no pipe */

static uint32_t my_pid, my_incarnation;
static bool ring_mode;	/* memprof run: each image and forked child has a ring */

/* Transitions: one function each, all here. */
static void set_state(enum tracker_state s)
{
	__atomic_store_n(&tracker_state, s, __ATOMIC_RELEASE);
}

static uint32_t new_incarnation(void)
{
	uint32_t x = 0;
	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) != (ssize_t)sizeof(x))
		x = (uint32_t)(wall_ns() ^ (wall_ns() >> 32)) ^ (uint32_t)getpid() * 2654435761u;
	return x ? x : 1;
}

/* The tracker's own failures go to stderr (once per image, if it is open):
 * data that is lost is said, never silent. */
static void say(const char *what, const char *path, const char *why)
{
	char line[PATH_MAX + 256];
	int n = snprintf(line, sizeof(line), "memprof: pid %d: %s%s%s%s%s\n", (int)getpid(), what,
			 path ? " " : "", path ? path : "", why ? ": " : "", why ? why : "");
	int c = nocancel_begin();
	if (n > 0 && fcntl(2, F_GETFD) >= 0 && write(2, line, (size_t)n) < 0) {
		/* nothing more to do */
	}
	nocancel_end(c);
}

static void emit_start(uint32_t ppid, uint32_t forked_from)
{
	uint8_t *r = stream_reserve(MEMPROF_RECORD_MAX), *p = r;
	if (!r)
		return;
	p = rec_u8(p, REC_START);
	p = rec_u8(p, MEMPROF_VERSION_RECORDS);
	p = rec_u32(p, ppid);
	p = rec_u32(p, forked_from);
	p = rec_u64(p, (uint64_t)tracker_rate);
	p = rec_u64(p, wall_ns());
	p = rec_name(p, modules_exe());
	stream_commit((size_t)(p - r));
}

/* main()'s arguments as glibc passes them to constructors, copied then:
 * a program may rewrite or free its argv later (setproctitle), and a
 * forked child sends the copy it inherits. NUL-separated words. */
static char cmdline[MEMPROF_NAME_MAX];
static size_t cmdline_len;

static void save_cmdline(int argc, char **argv)
{
#ifdef __GLIBC__	/* other C libraries pass constructors nothing */
	for (int i = 0; i < argc && argv && argv[i] && cmdline_len < sizeof(cmdline); i++) {
		size_t k = strlen(argv[i]) + 1;
		if (k > sizeof(cmdline) - cmdline_len)
			k = sizeof(cmdline) - cmdline_len;
		memcpy(cmdline + cmdline_len, argv[i], k);
		cmdline_len += k;
	}
#else
	(void)argc;
	(void)argv;
#endif
}

static void emit_cmdline(void)
{
	uint8_t *r = stream_reserve(1 + 2 + MEMPROF_NAME_MAX), *p = r;
	if (!r)
		return;
	p = rec_u8(p, REC_CMDLINE);
	p = rec_u16(p, (uint16_t)cmdline_len);
	p = rec_put(p, cmdline, cmdline_len);
	stream_commit((size_t)(p - r));
}

static void emit_sampling(bool on)
{
	uint8_t r[1 + 8 + 1], *p = r;
	p = rec_u8(p, REC_SAMPLING);
	p = rec_u64(p, wall_ns());
	p = rec_u8(p, on);
	stream_emit(r, (size_t)(p - r));
	stream_note_sampling(on);
}

static void emit_time(uint8_t type)
{
	uint8_t r[1 + 8 + 1], *p = r;
	p = rec_u8(p, type);
	p = rec_u64(p, wall_ns());
	if (type == REC_END)
		p = rec_u8(p, sampler_calls_seen);
	stream_emit(r, (size_t)(p - r));
}

/* ---- fork ---------------------------------------------------------------------- */

static bool fork_entered;	/* prepare took the lock (the parent releases it) */

static void atfork_prepare(void)
{
	fork_entered = enter();
	if (fork_entered)
		stream_flush();	/* the child must not inherit (and resend) our records */
}

static void atfork_parent(void)
{
	if (fork_entered)
		leave();
}

/* The child is a new process: its own ring, its own blocks and stacks, its
 * own random draws. It has its parent's module map already (the collector
 * copies it) and must not walk the loader's list: another thread of the
 * parent may have held the loader's lock when it forked. */
static void atfork_child(void)
{
	int saved = errno;
	stream_lock_reset();
	ts.holding = 0;
	uint32_t parent = my_pid, parent_incarnation = my_incarnation;
	my_pid = (uint32_t)getpid();
	my_incarnation = new_incarnation();
	stream_set_identity(my_pid, my_incarnation);
	blocks_reset();
	filter_reset();
	stacks_reset();
	modules_fork_child();
	stream_fork_child();
	sampler_fork_child();
	if (tracking_frees()) {
		if (stream_agent_mode()) {
			/* on the connection it inherited; without an agent it waits
			 * for one, as its parent does */
			if (!stream_detached() && stream_start_ring() < 0)
				stream_agent_poll();
		} else if (ring_mode && stream_start_ring() < 0) {
			set_state(TRACKER_OFF);	/* memprof is gone, or refused us: it reports the parent's */
		}
		if (tracking_frees() && !stream_detached()) {
			emit_start(parent, parent_incarnation);
			emit_cmdline();
			if (!tracking())
				emit_sampling(false);
			else
				stream_note_sampling(true);
			stream_flush();
		}
	}
	if (fork_entered)
		ts.busy--;
	errno = saved;
}

/* ---- exec and the end ------------------------------------------------------------ */

static int state_before_exec;	/* RUNNING or PAUSED: back to it if exec fails */
static bool end_sent;

void lifecycle_exec_begin(void)
{
	if (!tracking_frees() || (uint32_t)getpid() != my_pid || !enter())
		return;
	if (tracking_frees() && tracker_state != TRACKER_EXEC) {
		emit_time(REC_EXEC);
		stream_send_lost();
		stream_flush();
		state_before_exec = tracker_state;
		set_state(TRACKER_EXEC);
	}
	leave();
}

void lifecycle_exec_failed(void)
{
	if (tracker_state == TRACKER_EXEC && (uint32_t)getpid() == my_pid)
		set_state(state_before_exec);
}

void lifecycle_end(void)
{
	if (!tracking_frees() || end_sent || (uint32_t)getpid() != my_pid || !enter())
		return;
	if (tracking_frees() && !end_sent) {
		sampler_unwind_check_report();
		emit_time(REC_END);
		stream_send_lost();
		stream_flush_each(true);	/* destructors after ours: at once */
		end_sent = true;
		if (tracking())	/* paused stays paused */
			set_state(TRACKER_ENDING);
	}
	leave();
}

/* ---- switched on and off; the agent gone and back --------------------------------- */

/* The agent is back (or there at last): a new ring, read by a collector
 * that knows nothing of us. It is told who we are, what was lost, and
 * gets stacks and modules anew as they are needed; the live blocks
 * sampled before are forgotten (their frees would name stacks it never
 * saw): in use counts from now. */
static void reintroduce(void)
{
	uint64_t since, lost, unread;
	stream_take_detached(&since, &lost, &unread);
	emit_start((uint32_t)getppid(), 0);
	emit_cmdline();
	uint8_t r[1 + 3 * 8], *p = r;
	p = rec_u8(p, REC_RECONNECT);
	p = rec_u64(p, since);
	p = rec_u64(p, lost);
	p = rec_u64(p, unread);
	stream_emit(r, (size_t)(p - r));
	if (!tracking())
		emit_sampling(false);
	else
		stream_note_sampling(true);
	stacks_reset();
	if (!tracker_sample_all) {
		blocks_reset();
		filter_reset();
	}
	modules_forget_sent();
}

void lifecycle_check_slow(void)
{
	int st = tracker_state;
	if ((st != TRACKER_RUNNING && st != TRACKER_PAUSED) || !ring_mode ||
	    !stream_check_due(st == TRACKER_PAUSED) || !enter())
		return;
	st = tracker_state;
	if (st == TRACKER_RUNNING || st == TRACKER_PAUSED) {
		if (stream_agent_mode() && stream_agent_poll() == 1)
			reintroduce();
		uint32_t want = stream_want();
		if (want == RING_WANT_ON && st == TRACKER_PAUSED) {
			emit_sampling(true);
			set_state(TRACKER_RUNNING);
		} else if (want == RING_WANT_OFF && st == TRACKER_RUNNING) {
			emit_sampling(false);
			set_state(TRACKER_PAUSED);
		}
	}
	leave();
}

/* ---- start-up ---------------------------------------------------------------------- */

bool lifecycle_is_unwinder(uintptr_t pc)
{
	return pc >= unwinder_start && pc < unwinder_end;
}

/* libunwind's validation pipe (it checks that memory is readable by
 * writing one byte from it). The tracker's own unwinding reads through its
 * own accessor (sampler.c) and needs none: refused. Only if that accessor
 * could not be installed do its two ends go to the top of the range (none,
 * refused, when there is no room there). The program's own use of libunwind
 * is left alone. */
int lifecycle_unwinder_pipe(int fds[2], int flags)
{
	int p[2];
	if (!ts.busy)
		return real.pipe2(fds, flags);
	if (own_accessor || real.pipe2(p, flags | O_CLOEXEC) < 0)
		goto out_refused;
	fds[0] = fd_move_high(p[0], true);
	fds[1] = fds[0] < 0 ? -1 : fd_move_high(p[1], true);
	if (fds[0] >= 0 && fds[1] >= 0)
		return 0;
	int c = nocancel_begin();
	if (fds[0] >= 0)
		close(fds[0]);
	else
		close(p[1]);
	nocancel_end(c);
out_refused:
	errno = EMFILE;
	return -1;
}

/* libunwind's text, so its pipe2 calls can be told apart. */
static void find_unwinder(void)
{
	uintptr_t start, end;
	modules_text_of((const void *)unw_backtrace, &start, &end);
	unwinder_start = start;
	unwinder_end = end;
}

static int64_t parse_rate(const char *s)
{
	char *end;
	errno = 0;
	long long v = strtoll(s, &end, 10);
	if (errno || end == s || *end || v < 1)
		return -1;
	return v;
}

static int parse_int(const char *s)
{
	char *end;
	errno = 0;
	long v = s ? strtol(s, &end, 10) : -1;
	return s && !errno && end != s && !*end && v >= 0 && v <= INT_MAX ? (int)v : -1;
}

/* Standalone mode: the first process of the run creates the recording and
 * passes its token down in MEMPROF_TOKEN; a relative path is made absolute
 * so it names the same file after chdir + exec. */
static int open_recording(const char *path)
{
	char full[PATH_MAX];
	const char *why = NULL;
	const char *tok = getenv("MEMPROF_TOKEN");
	uint64_t token = 0;
	bool create = !tok || !*tok;
	if (path[0] != '/') {
		char cwd[PATH_MAX];
		if (!getcwd(cwd, sizeof(cwd)) ||
		    snprintf(full, sizeof(full), "%s/%s", cwd, path) >= (int)sizeof(full)) {
			say("recording", path, "path too long");
			return -1;
		}
		path = full;
		setenv("MEMPROF_OUT", full, 1);
	}
	if (create) {
		if (getrandom(&token, sizeof(token), GRND_NONBLOCK) != (ssize_t)sizeof(token))
			token = wall_ns() ^ (uint64_t)getpid() << 32;
		char hex[32];
		snprintf(hex, sizeof(hex), "%016llx", (unsigned long long)token);
		setenv("MEMPROF_TOKEN", hex, 1);
	} else {
		token = strtoull(tok, NULL, 16);
	}
	if (stream_open_file(path, token, create, &why) < 0) {
		say("not recording:", path, why);
		return -1;
	}
	return 0;
}

static int open_output(void)
{
	const char *fd = getenv("MEMPROF_FD"), *path = getenv("MEMPROF_OUT");
	const char *agent = getenv("MEMPROF_AGENT");
	if ((!fd || !*fd) && agent && *agent) {
		/* a relative path would name another socket after chdir: refused */
		if (stream_use_agent(agent) < 0) {
			say("MEMPROF_AGENT must be an absolute path (under 108 bytes), not", agent,
			    "not profiled");
			return -1;
		}
		ring_mode = true;
		return 0;
	}
	if (fd && *fd) {
		int n = parse_int(fd), collector = parse_int(getenv("MEMPROF_COLLECTOR"));
		stream_set_fallback(getenv("MEMPROF_SOCKET"), collector);
		if (collector <= 0 || stream_use_socket(n, collector) < 0) {
			/* memprof gone (a daemon outlived it): nothing to say it to */
			if (collector > 0 && kill(collector, 0) == 0)
				say("cannot reach memprof (its descriptor was closed by a parent "
				    "process, and its socket refused us); not profiled", NULL, NULL);
			return -1;
		}
		ring_mode = true;
		return stream_start_ring();
	}
	if (path && *path)
		return open_recording(path);
	return -1;
}

/* glibc calls constructors with main()'s arguments */
__attribute__((constructor)) static void tracker_init(int argc, char **argv, char **envp)
{
	(void)envp;
	save_cmdline(argc, argv);
	originals_resolve();
	int saved = errno;
	ts.busy = 1;
	const char *r = getenv("MEMPROF_RATE");
	if (r && *r && (tracker_rate = parse_rate(r)) < 0)
		tracker_rate = 512 * 1024;
	r = getenv("MEMPROF_THREAD_RINGS");
	if (r && (*r == '0' || *r == '1') && !r[1])
		stream_set_thread_rings(*r - '0');
	else if (r && !strcmp(r, "auto"))
		stream_set_thread_rings(-1);
	r = getenv("MEMPROF_UNWIND_CHECK");
	sampler_unwind_check = r && *r && *r != '0';
	sampler_unwind_check_file = r && *r == '/' ? r : NULL;
	my_pid = (uint32_t)getpid();
	my_incarnation = new_incarnation();
	stream_set_identity(my_pid, my_incarnation);
	if (((!getenv("MEMPROF_FD") || !*getenv("MEMPROF_FD")) &&
	     (!getenv("MEMPROF_OUT") || !*getenv("MEMPROF_OUT")) &&
	     (!getenv("MEMPROF_AGENT") || !*getenv("MEMPROF_AGENT"))) ||
	    sampler_init_stack() < 0 || open_output() < 0) {
		set_state(TRACKER_OFF);	/* not under memprof: everything passes */
		ts.busy = 0;
		errno = saved;
		return;
	}
	if (tracker_rate == 1) {
		tracker_sample_all = true;
		filter_all();
	}
	modules_init();
	sampler_note_thread_stack();	/* the main thread's, while reading maps is safe */
	/* warm the unwinder up before anything is sampled; its pipe is refused */
	void *warm[4];
	find_unwinder();
	own_accessor = true;	/* libunwind's set-up opens its pipe: refused (if the
				 * accessor cannot be installed, it opens one later) */
	own_accessor = sampler_init_unwinder();
	unw_set_caching_policy(unw_local_addr_space, UNW_CACHE_PER_THREAD);
	unw_backtrace(warm, 4);
	pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
	const char *active = getenv("MEMPROF_ACTIVE");
	bool dormant = active && !strcmp(active, "0");
	modules_refresh(false);	/* the copy of the loader's list: never under the lock */
	if (enter()) {
		if (!stream_detached()) {
			emit_start((uint32_t)getppid(), 0);
			emit_cmdline();
			if (dormant)
				emit_sampling(false);
			else
				stream_note_sampling(true);
			modules_send();
		}
		stream_flush();
		leave();
	}
	set_state(dormant ? TRACKER_PAUSED : TRACKER_RUNNING);
	ts.countdown = 0;
	ts.busy = 0;
	errno = saved;
}

__attribute__((destructor)) static void tracker_fini(void)
{
	lifecycle_end();
}
