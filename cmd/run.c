/* run.c - memprof run: start the program with the tracker preloaded,
 * collect its records, write the profile. */
#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/syscall.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/collect.h"
#include "lib/fd_high.h"
#include "lib/http_server.h"
#include "lib/leaks.h"
#include "lib/output.h"
#include "lib/ring.h"
#include "lib/serve.h"
#include "lib/session.h"
#include "lib/shell.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/tracker/records.h"
#include "lib/units.h"
#include "memprof.h"

/* Finds file on PATH the way execvp will. Returns a malloc'd path or NULL. */
static char *search_path(const char *file)
{
	if (strchr(file, '/'))
		return strdup(file);
	const char *path = getenv("PATH");
	if (!path || !*path)
		path = "/usr/local/bin:/usr/bin:/bin";
	while (*path) {
		const char *e = strchr(path, ':');
		size_t n = e ? (size_t)(e - path) : strlen(path);
		char *full = malloc(n + strlen(file) + 2);
		if (!full)
			return NULL;
		snprintf(full, n + strlen(file) + 2, "%.*s%s%s", (int)n, path, n ? "/" : "", file);
		if (access(full, X_OK) == 0) {
			struct stat st;
			if (stat(full, &st) == 0 && S_ISREG(st.st_mode))
				return full;
		}
		free(full);
		path += n;
		if (*path == ':')
			path++;
	}
	return NULL;
}

/* Whether the ELF file defines malloc itself (and exports it, as a program
 * must when libraries call it): then its malloc comes before ours. */
static bool defines_malloc(int fd)
{
	bool found = false;
	elf_version(EV_CURRENT);
	Elf *e = elf_begin(fd, ELF_C_READ, NULL);
	Elf_Scn *scn = NULL;
	while (e && !found && (scn = elf_nextscn(e, scn))) {
		GElf_Shdr sh;
		if (!gelf_getshdr(scn, &sh) || sh.sh_type != SHT_DYNSYM || !sh.sh_entsize)
			continue;
		Elf_Data *d = elf_getdata(scn, NULL);
		for (size_t i = 0; d && i < sh.sh_size / sh.sh_entsize; i++) {
			GElf_Sym sym;
			const char *n;
			if (gelf_getsym(d, (int)i, &sym) && sym.st_shndx != SHN_UNDEF &&
			    (n = elf_strptr(e, sh.sh_link, sym.st_name)) && !strcmp(n, "malloc")) {
				found = true;
				break;
			}
		}
	}
	if (e)
		elf_end(e);
	return found;
}

/* Why LD_PRELOAD would not reach the program, or NULL if it should. */
static const char *unprofilable(const char *path)
{
	struct stat st;
	if (stat(path, &st) == 0 && (st.st_mode & (S_ISUID | S_ISGID)) &&
	    ((st.st_mode & S_ISUID && st.st_uid != geteuid()) ||
	     (st.st_mode & S_ISGID && st.st_gid != getegid())))
		return "is setuid or setgid: the dynamic loader ignores LD_PRELOAD for it "
		       "(run memprof as its owner, or profile a copy without the bit)";
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return NULL;
	Elf64_Ehdr eh;
	const char *why = NULL;
	if (read(fd, &eh, sizeof(eh)) == (ssize_t)sizeof(eh) &&
	    !memcmp(eh.e_ident, ELFMAG, SELFMAG) && eh.e_ident[EI_CLASS] == ELFCLASS64 &&
	    eh.e_phentsize == sizeof(Elf64_Phdr) && eh.e_phnum < 4096) {
		int interp = 0;
		for (int i = 0; i < eh.e_phnum; i++) {
			Elf64_Phdr ph;
			if (pread(fd, &ph, sizeof(ph), (off_t)(eh.e_phoff + (uint64_t)i * sizeof(ph))) !=
			    (ssize_t)sizeof(ph))
				break;
			interp |= ph.p_type == PT_INTERP;
		}
		if (!interp)
			why = "is statically linked: LD_PRELOAD cannot interpose its allocator "
			      "(link it dynamically to profile it)";
		else if (defines_malloc(fd))
			why = "defines malloc itself: its allocator comes before memprof's tracker "
			      "(link that allocator as a shared library, e.g. -ljemalloc rather "
			      "than libjemalloc.a, to profile it)";
	}
	close(fd);
	return why;
}

/* libmemprof.so: $MEMPROF_LIB, else beside the memprof binary (the build
 * tree), else ../lib/memprof/ or ../LIBDIR/memprof/ (LIBDIR relative to
 * PREFIX: lib/<triplet> in the Debian package) from it (an install,
 * wherever it was moved or unpacked), else the library directory memprof
 * was built for. */
static char *find_tracker(void)
{
	const char *env = getenv("MEMPROF_LIB");
	if (env && *env)
		return access(env, R_OK) == 0 ? realpath(env, NULL) : NULL;
	char self[PATH_MAX];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	if (n > 0) {
		self[n] = '\0';
		char *slash = strrchr(self, '/');
		if (slash) {
			static const char *rel[] = { "libmemprof.so", "../lib/memprof/libmemprof.so",
						     "../" MEMPROF_LIBDIR_REL "/libmemprof.so" };
			/* a LIBDIR outside PREFIX has no relative place */
			size_t n_rel = MEMPROF_LIBDIR_REL[0] == '/' ? 2 : 3;
			for (size_t i = 0; i < n_rel; i++) {
				snprintf(slash + 1, sizeof(self) - (size_t)(slash + 1 - self), "%s",
					 rel[i]);
				if (access(self, R_OK) == 0)
					return realpath(self, NULL);
			}
		}
	}
	if (access(MEMPROF_LIBDIR "/libmemprof.so", R_OK) == 0)
		return strdup(MEMPROF_LIBDIR "/libmemprof.so");
	return NULL;
}

static volatile sig_atomic_t child_pid, child_exited, stop_collecting, snapshot_asked;
static volatile sig_atomic_t sampling_asked;	/* RING_WANT_ON or _OFF: switch now */

/* Signals sent to memprof itself go on to the program, but SIGUSR2, which
 * asks memprof for a snapshot of the profile. Those the terminal
 * sends (Ctrl-C) reach the program directly, as it is in our process group.
 * Once the program has exited, a signal means: stop waiting for whatever
 * it left running, and write the profile. */
static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (sig == SIGUSR2) {	/* memprof's own: write a snapshot now */
		snapshot_asked = 1;
		return;
	}
	if (sig == SIGRTMIN || sig == SIGRTMIN + 1) {	/* memprof's own: sampling on, off */
		sampling_asked = sig == SIGRTMIN ? RING_WANT_ON : RING_WANT_OFF;
		return;
	}
	if (child_exited) {
		if (sig == SIGINT || sig == SIGTERM || sig == SIGHUP || sig == SIGQUIT)
			stop_collecting = 1;
	} else if (child_pid > 0 && (si->si_code == SI_USER || si->si_code == SI_QUEUE)) {
		kill(child_pid, sig);
	}
}

/* The signals memprof passes on to the program (as timeout does): those a
 * user sends to end or poke a process; SIGUSR2 is caught here only to take
 * a snapshot. Kernel-sent ones (a terminal's Ctrl-C, SIGWINCH) reach the
 * program directly. */
static const int forwarded[] = { SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGALRM };
#define N_FORWARDED (sizeof(forwarded) / sizeof(forwarded[0]))
/* Sampling on (SIGRTMIN) and off (SIGRTMIN+1): memprof's own, never passed
 * on (real-time signals were never forwarded; SIGUSR1 is the program's). */
#define N_OWN 2

static char *default_output(const char *program, pid_t pid)
{
	const char *base = strrchr(program, '/');
	base = base ? base + 1 : program;
	size_t n = strlen(base) + 48;
	char *s = malloc(n);
	if (s)
		snprintf(s, n, "memprof.%s.%d.pb.gz", base, (int)pid);
	return s;
}

/* "command: ARGS", quoted so that it can be pasted back into a shell. */
static char *join_args(char **argv)
{
	size_t n = 0;
	while (argv[n])
		n++;
	char *args = shell_join((const char *const *)argv, n), *s = NULL;
	if (args && asprintf(&s, "command: %s", args) < 0)
		s = NULL;
	free(args);
	return s;
}

/* User plus system CPU seconds of RUSAGE_SELF or RUSAGE_CHILDREN. */
static double cpu_seconds(int who)
{
	struct rusage ru;
	if (getrusage(who, &ru) < 0)
		return 0;
	return (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
	       (double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6;
}

static int64_t ms_since(const struct timespec *t)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	return (now.tv_sec - t->tv_sec) * 1000 + (now.tv_nsec - t->tv_nsec) / 1000000;
}

/* ---- snapshots -------------------------------------------------------------- */

/* snapshots (SIGUSR2, --interval): BASE.N.pb.gz, the last `keep` kept */
struct snapshots {
	char *base;
	unsigned n, keep;
	uint64_t interval_ns, next_ns;	/* monotonic; interval 0: none */
	const char *const *comments;
	bool quiet;
};

static char *snapshot_name(const struct snapshots *sn, unsigned n)
{
	char *name = NULL;
	if (asprintf(&name, "%s.%u.pb.gz", sn->base, n) < 0)
		return NULL;
	return name;
}

/* The profile so far (cumulative, as Go's heap profile: in use means live
 * now), as BASE.N.pb.gz; past --keep=K, the snapshot K before it goes. */
static void snapshot(struct snapshots *sn, struct collector *c)
{
	snapshot_asked = 0;
	if (!sn->base) {
		error("SIGUSR2: no snapshot with %s", "--split or -o -");
		return;
	}
	char *name = snapshot_name(sn, ++sn->n);
	if (!name || write_profile(c, name, sn->comments, sn->quiet, false, true, NULL) < 0) {
		if (!name)
			error("out of memory writing a snapshot");
		free(name);
		return;
	}
	free(name);
	if (sn->keep && sn->n > sn->keep && (name = snapshot_name(sn, sn->n - sn->keep))) {
		unlink(name);
		free(name);
	}
}

/* ---- --http: the endpoints' profiles, from the run's collector ---------- */

struct run_source {
	struct session *s;
	struct collector *c;
	const char *const *comments;
	uint64_t start_ns, start_mono_ns;	/* the session's clock */
};

static bool has_pid(struct collector *c, uint32_t pid)
{
	struct collector_proc_info info;
	for (size_t i = 0; collector_proc_info(c, i, &info); i++)
		if (info.pid == pid)
			return true;
	return false;
}

static struct profile *source_profile(void *data, uint32_t pid, int *err)
{
	struct run_source *rs = data;
	if (pid && !has_pid(rs->c, pid)) {
		*err = -ENOENT;
		return NULL;
	}
	struct collector_meta meta = { .comments = rs->comments, .one_pid = pid };
	const char *cm[4];
	char *owned = NULL;
	/* ?pid=: that process's own (its File:, mappings, command line) */
	if (pid && serve_pid_comments(rs->c, pid, rs->comments, cm, &owned) < 0) {
		*err = -ENOMEM;
		return NULL;
	}
	if (pid)
		meta.comments = cm;
	/* the run so far: from its start to now, as the final profile
	 * spans the whole run */
	collector_set_span(rs->c, rs->start_ns,
			   rs->start_ns + (session_mono_now() - rs->start_mono_ns));
	struct profile *p = collector_profile(rs->c, &meta);
	free(owned);
	if (!p)
		*err = -ENOMEM;
	return p;
}

static uint64_t source_generation(void *data)
{
	struct run_source *rs = data;
	session_refresh(rs->s);	/* what the program did before the request */
	const struct collector_stats *st = collector_stats(rs->c);
	return st->allocs + st->frees + st->processes + st->lost;
}

static bool source_process(void *data, size_t i, struct serve_process *out)
{
	struct run_source *rs = data;
	struct collector_proc_info info;
	if (!collector_proc_info(rs->c, i, &info))
		return false;
	*out = (struct serve_process){ info.pid, info.exe, info.cmdline, !info.ended && !info.gone,
				       info.sampling, 0, info.partial_since_ns, info.away_lost };
	return true;
}

/* What serving cost, on stderr at the end: the CPU of a scrape. */
/* POST /debug/pprof/sampling?on=1 (on=0): sampling on (off) in every
 * process, as SIGRTMIN (SIGRTMIN+1) does; set before the answer goes. */
static struct session *sampling_session;

static int sampling_handler(struct http_request *req, void *data)
{
	(void)data;
	const char *on = http_request_query(req, "on");
	if (!on || (strcmp(on, "0") && strcmp(on, "1"))) {
		http_respond_text(req, 400, "text/plain; charset=utf-8", NULL,
				  "POST needs on=1 (sampling on) or on=0 (off)\n");
		return 0;
	}
	if (http_request_query(req, "pid")) {
		http_respond_text(req, 400, "text/plain; charset=utf-8", NULL,
				  "memprof run switches every process: leave out pid\n");
		return 0;
	}
	if (!sampling_session) {
		http_respond_text(req, 503, "text/plain; charset=utf-8", NULL, "not running yet\n");
		return 0;
	}
	session_set_sampling(sampling_session, NULL, *on == '1');
	http_respond_text(req, 200, "text/plain; charset=utf-8", NULL,
			  *on == '1' ? "sampling on (at each process's next sampled allocation)\n"
				     : "sampling off (at each process's next sampled allocation)\n");
	return 0;
}

static void serve_report(struct serve *srv, struct collector *c)
{
	struct serve_stats st;
	serve_get_stats(srv, &st);
	uint64_t cpu = st.build_ns + st.render_ns;
	fprintf(stderr, "memprof: http://%s: %llu requests, %llu profiles served from %llu "
		"snapshots; CPU %.1f ms building and %.1f ms encoding, %.2f ms a profile served; "
		"%llu refused (over the connection limit), %llu timed out; the program waited "
		"for memprof %llu times\n", serve_address(srv),
		(unsigned long long)st.http->requests, (unsigned long long)st.profiles,
		(unsigned long long)st.builds, (double)st.build_ns / 1e6, (double)st.render_ns / 1e6,
		st.profiles ? (double)cpu / 1e6 / (double)st.profiles : 0.0,
		(unsigned long long)st.http->refused, (unsigned long long)st.http->timeouts,
		(unsigned long long)collector_stats(c)->ring_waits);
}

/* While the program runs, memprof mostly waits on a core of its own (jq,
 * one thread, leaves it most of the second core): the symbolizing the
 * profile needs at the end is done then, by a thread of its own
 * (collector_warm), a batch at a time. A batch is handed out after a poll
 * that waited its whole 10 ms for nothing, and only while fewer threads run
 * than there are CPUs (/proc/loadavg's count, memprof's own included): a
 * program that keeps every core busy (make -j2 on two) is not slowed. The
 * profile is the same either way. For the tests that compare both
 * (t0320), MEMPROF_WARM=0 turns it off and MEMPROF_WARM=1 skips the CPU
 * count. */
static bool core_to_spare(void)
{
	char buf[128];
	unsigned running;
	cpu_set_t cpus;
	if (proc_read("/proc/loadavg", buf, sizeof(buf)) < 0 ||
	    sscanf(buf, "%*s %*s %*s %u/", &running) != 1 ||
	    sched_getaffinity(0, sizeof(cpus), &cpus) < 0)
		return false;
	return running <= (unsigned)CPU_COUNT(&cpus);
}

/* The per-thread rings order the threads' records by CLOCK_MONOTONIC
 * (lib/ring.c): only with a clock that is fine and cheap here (the vDSO
 * reading the TSC: each of 64 reads in a row later than the one before,
 * all in under 64 us; tried three times, in case memprof was preempted).
 * A coarse clock (ticks of a microsecond or more) would time a free and
 * the reuse of its address in another thread alike, and memprof could
 * apply them the wrong way round; a slow one (a system call each time)
 * would cost more than the lock. Checked here, once, rather than by the
 * tracker in every image: the program reads the same clock. */
static bool clock_fine(void)
{
	for (int tries = 0; tries < 3; tries++) {
		uint64_t first = session_mono_now(), prev = first;
		bool rising = true;
		for (int i = 0; i < 64 && rising; i++) {
			uint64_t t = session_mono_now();
			rising = t > prev;
			prev = t;
		}
		if (rising && prev - first < 64 * 1000)
			return true;
	}
	return false;
}

/* Reads the program's rings until the program has exited and every
 * process still connected has too (as strace -f waits), or memprof was
 * told to stop (a signal after the program exited, or --max-wait).
 * Returns the program's wait status. */
static int collect(struct session *s, struct snapshots *sn, struct serve *srv, pid_t pid,
		   int64_t max_wait_ms)
{
	int status = 0, polled;
	bool exited = false, told_waiting = false, told_oom = false;
	const char *warm_env = getenv("MEMPROF_WARM");
	bool warm = !warm_env || strcmp(warm_env, "0") != 0;
	bool warm_always = warm_env && !strcmp(warm_env, "1");
	uint64_t forged_told = 0;
	struct timespec exited_at = { 0, 0 };
	for (;;) {
		if (srv) {
			polled = session_step(s, serve_session_begin(srv, s, 10));
			serve_session_end(srv, s);
		} else {
			polled = session_step(s, 10);
		}
		if (warm && (collector_warm_enough(s->c) < 0 ||
			     (polled == 0 && (warm_always || core_to_spare()) &&
			      collector_warm(s->c) < 0)))
			warm = false;	/* too many addresses, or out of memory: the end does the rest */
		if (sampling_asked) {
			bool on = sampling_asked == RING_WANT_ON;
			sampling_asked = 0;
			session_set_sampling(s, NULL, on);
			if (!sn->quiet)	/* said once it is so: a script may wait for it */
				fprintf(stderr, "memprof: sampling %s (at each process's next sampled "
					"allocation)\n", on ? "on" : "off");
		}
		if (s->out_of_memory && !told_oom) {
			error("out of memory collecting records");
			told_oom = true;
		}
		if (s->forged > forged_told) {	/* a process not profiled: said, never silent */
			error("%s", s->forged_why);
			forged_told = s->forged;
		}
		if (snapshot_asked ||
		    (sn->interval_ns && !exited && session_mono_now() >= sn->next_ns)) {
			if (sn->interval_ns)
				sn->next_ns = session_mono_now() + sn->interval_ns;
			session_drain_now(s);
			snapshot(sn, s->c);
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			child_exited = 1;
			clock_gettime(CLOCK_MONOTONIC, &exited_at);
			if (!s->last_exit_ns)
				s->last_exit_ns = session_wall_now();
			/* its own rings are read now; others may follow */
			session_forget_pid(s, (uint32_t)pid);
		}
		if (exited && s->sock < 0 && s->n_w == 0) {
			/* a process that came through the fallback socket may be
			 * unread still: in the backlog, or its hello not taken */
			session_accept(s);
			if (s->n_conn == 0)
				break;
		}
		bool timeout = exited && max_wait_ms >= 0 && ms_since(&exited_at) > max_wait_ms;
		if (exited && (stop_collecting || timeout)) {
			char *names = session_proc_names(s, 8);
			size_t live = session_live_processes(s);
			if (live)
				error("%s: stopped waiting for %zu process%s still running: %s",
				      timeout ? "--max-wait reached" : "interrupted", live,
				      live == 1 ? "" : "es", names ? names : "");
			else
				error("%s: stopped waiting for processes that still hold memprof's "
				      "connection (not profiled themselves)",
				      timeout ? "--max-wait reached" : "interrupted");
			free(names);
			if (s->n_w)	/* the run ends now; idle holders do not count */
				s->last_exit_ns = session_wall_now();
			break;
		}
		if (exited && !told_waiting && ms_since(&exited_at) > 2000 && max_wait_ms < 0) {
			char *names = session_proc_names(s, 8);
			size_t live = session_live_processes(s);
			if (live)
				error("waiting for %zu process%s still running: %s (Ctrl-C or "
				      "--max-wait to stop waiting)", live, live == 1 ? "" : "es",
				      names ? names : "");
			else
				error("waiting for processes that hold memprof's connection (Ctrl-C "
				      "or --max-wait to stop waiting)");
			free(names);
			told_waiting = true;
		}
	}
	session_drain_all(s);
	return status;
}

/* The program was killed by sig: memprof ends the same way, so that its
 * parent sees what it would have seen (WIFSIGNALED, a shell's "Killed"),
 * without a core dump of memprof's own. Returns only if sig does not end
 * a process. */
static void die_like(int sig)
{
	struct rlimit no_core = { 0, 0 };
	sigset_t one;
	fflush(NULL);
	setrlimit(RLIMIT_CORE, &no_core);
	signal(sig, SIG_DFL);
	sigemptyset(&one);
	sigaddset(&one, sig);
	sigprocmask(SIG_UNBLOCK, &one, NULL);
	kill(getpid(), sig);
}

/* --fail-on-leak, once the program exited 0 (its own non-zero status wins
 * and is not checked): LEAKS_EXIT_STATUS when the gate fails, 1 when it
 * could not be run, 0 otherwise. */
static int leak_exit_status(const struct profile *p, const struct leak_args *leak,
			    const char *out)
{
	struct leak_suppressions *supp = leak_args_suppressions(leak);
	int over = supp ? leak_gate(p, supp, leak->limit, out) : -1;
	leak_suppressions_free(supp);
	return over > 0 ? LEAKS_EXIT_STATUS : over < 0 ? 1 : 0;
}

/* memprof run --split writes its profiles into dir (made if missing, as
 * mkdir does it: the parent must exist). Checked before the program runs,
 * as -o is. Returns 0, or -1 after printing the error. */
static int prepare_split_dir(const char *dir, const char *prog)
{
	struct stat st;
	if (!strcmp(dir, "-")) {
		error("--split writes one file per process: -o must name a directory, not stdout");
		return -1;
	}
	if (stat(dir, &st) < 0 && (errno != ENOENT || mkdir(dir, 0777) < 0 || stat(dir, &st) < 0)) {
		error("%s: %s", dir, strerror(errno));
		return -1;
	}
	if (!S_ISDIR(st.st_mode)) {
		error("%s: not a directory (--split writes one file per process into the "
		      "directory -o names)", dir);
		return -1;
	}
	char check[PATH_MAX];
	snprintf(check, sizeof(check), "%s/memprof.%s.<pid>.pb.gz", dir, prog);
	return check_output(check);
}

/* LD_PRELOAD splits on spaces and colons: a tracker at such a path is
 * reached through a symlink in a private directory instead. Returns the
 * path to preload (malloc'd) and, in *dir, the directory to remove later. */
static char *preloadable(const char *tracker, char **dir)
{
	*dir = NULL;
	if (!strpbrk(tracker, " \t\n:"))
		return strdup(tracker);
	const char *tmp = getenv("TMPDIR");
	char templ[PATH_MAX];
	snprintf(templ, sizeof(templ), "%s/memprof.XXXXXX", tmp && *tmp && !strpbrk(tmp, " \t\n:")
								? tmp : "/tmp");
	if (!mkdtemp(templ))
		return NULL;
	char link[PATH_MAX + 32];
	snprintf(link, sizeof(link), "%s/libmemprof.so", templ);
	if (symlink(tracker, link) < 0) {
		rmdir(templ);
		return NULL;
	}
	*dir = strdup(templ);
	return strdup(link);
}

static void remove_preload_dir(char *dir)
{
	if (!dir)
		return;
	char link[PATH_MAX + 32];
	snprintf(link, sizeof(link), "%s/libmemprof.so", dir);
	unlink(link);
	rmdir(dir);
	free(dir);
}

int cmd_run(int argc, char **argv)
{
	const char *out = NULL, *http_addr = NULL;
	int64_t rate = 512 * 1024, max_wait_ms = -1, interval_ms = 0;
	unsigned keep = 0;
	uint64_t rate_bytes;
	bool quiet = false, verbose = false, rate_given = false, split = false, track_mmap = false;
	bool no_symbolize = false;
	bool start_paused = false;
	struct leak_args leak = { 0 };
	int i;
	for (i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		if (a[0] != '-' || !strcmp(a, "-"))
			break;
		if (!strcmp(a, "--")) {
			i++;
			break;
		}
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage("run", true);
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
			continue;
		}
		if (!strcmp(a, "-v") || !strcmp(a, "--verbose")) {
			verbose = true;
			continue;
		}
		if (!strcmp(a, "--split")) {
			split = true;
			continue;
		}
		if (!strcmp(a, "--mmap")) {
			track_mmap = true;
			continue;
		}
		if (!strcmp(a, "--no-symbolize")) {
			no_symbolize = true;
			continue;
		}
		if (!strcmp(a, "--start-paused")) {
			start_paused = true;
			continue;
		}
		int taken = leak_args_parse("run", argc, argv, &i, &leak);
		if (taken < 0)
			return usage("run", false);
		if (taken)
			continue;
		bool is_out = !strcmp(a, "-o") || !strcmp(a, "--output");
		bool is_rate = !strcmp(a, "-r") || !strcmp(a, "--rate");
		bool is_wait = !strcmp(a, "--max-wait");
		bool is_interval = !strcmp(a, "--interval"), is_keep = !strcmp(a, "--keep");
		bool is_http = !strcmp(a, "--http");
		if (is_out || is_rate || is_wait || is_interval || is_keep || is_http) {
			if (i + 1 >= argc) {
				error("run: option '%s' needs a value", a);
				return usage("run", false);
			}
			v = argv[++i];
		} else if (!strncmp(a, "--output=", 9)) {
			is_out = true;
			v = a + 9;
		} else if (!strncmp(a, "--rate=", 7)) {
			is_rate = true;
			v = a + 7;
		} else if (!strncmp(a, "--max-wait=", 11)) {
			is_wait = true;
			v = a + 11;
		} else if (!strncmp(a, "--interval=", 11)) {
			is_interval = true;
			v = a + 11;
		} else if (!strncmp(a, "--keep=", 7)) {
			is_keep = true;
			v = a + 7;
		} else if (!strncmp(a, "--http=", 7)) {
			is_http = true;
			v = a + 7;
		} else {
			error("run: unknown option '%s'", a);
			return usage("run", false);
		}
		if (is_out) {
			out = v;
		} else if (is_http) {
			http_addr = v;
		} else if (is_interval) {
			if ((interval_ms = units_parse_duration(v)) <= 0) {
				error("run: invalid interval '%s' (e.g. 500ms, 30s, 5m)", v);
				return usage("run", false);
			}
		} else if (is_keep) {
			uint64_t k;
			if (units_parse_count(v, 1, 1000000, &k) < 0) {
				error("run: --keep wants a number of snapshots (1 or more), not '%s'", v);
				return usage("run", false);
			}
			keep = (unsigned)k;
		} else if (is_wait) {
			if ((max_wait_ms = units_parse_duration(v)) < 0) {
				error("run: invalid duration '%s' (e.g. 500ms, 30s, 5m)", v);
				return usage("run", false);
			}
		} else if (units_parse_bytes(v, (uint64_t)1 << 40, &rate_bytes) < 0) {
			error("run: invalid rate '%s' (bytes, e.g. 4096, 4k, 512KiB, 1M)", v);
			return usage("run", false);
		} else {
			rate = (int64_t)rate_bytes;
			rate_given = true;
		}
	}
	if (i >= argc) {
		error("run: missing PROGRAM");
		return usage("run", false);
	}
	char **prog_argv = argv + i;
	if ((interval_ms || keep) && (split || (out && !strcmp(out, "-")))) {
		error("run: snapshots (--interval, --keep) are numbered files: not with %s",
		      split ? "--split" : "-o -");
		return usage("run", false);
	}
	if (split && leak.fail) {
		error("run: --split and --fail-on-leak cannot both be given (the gate reads one "
		      "profile of the whole run)");
		return usage("run", false);
	}
	if (no_symbolize && leak.fail) {
		error("run: --no-symbolize and --fail-on-leak cannot both be given (the gate's "
		      "suppressions match function names)");
		return usage("run", false);
	}
	if (!leak.fail && (leak.n_files || leak.no_defaults)) {
		error("run: --suppressions and --no-default-suppressions need --fail-on-leak");
		return usage("run", false);
	}
	/* the tracker reads these: a value it does not know would pass as the
	 * default without a word */
	static const struct { const char *name, *values[4]; } knobs[] = {
		{ "MEMPROF_THREAD_RINGS", { "0", "1", "auto", NULL } },
		{ "MEMPROF_WARM", { "0", "1", NULL } },
	};
	for (size_t k = 0; k < sizeof(knobs) / sizeof(knobs[0]); k++) {
		const char *v = getenv(knobs[k].name);
		size_t j = 0;
		while (v && knobs[k].values[j] && strcmp(v, knobs[k].values[j]))
			j++;
		if (v && *v && !knobs[k].values[j]) {
			error("run: %s must be %s%s%s%s%s, not '%s'", knobs[k].name,
			      knobs[k].values[0], knobs[k].values[2] ? ", " : " or ",
			      knobs[k].values[1], knobs[k].values[2] ? " or " : "",
			      knobs[k].values[2] ? knobs[k].values[2] : "", v);
			return 2;
		}
	}
	if (leak.fail) {
		/* a bad suppressions file fails now, not after the run; the gate
		 * reads them again at the end */
		struct leak_suppressions *supp = leak_args_suppressions(&leak);
		if (!supp)
			return 1;
		leak_suppressions_free(supp);
		if (!rate_given)
			rate = 1;	/* a sampled gate is flaky: every allocation */
		else if (rate > 1)
			error("warning: --fail-on-leak at --rate %lld: the gate is statistical (it "
			      "compares an estimate, and may miss small leaks); leave out --rate "
			      "for an exact one", (long long)rate);
	}

	char *path = search_path(prog_argv[0]);
	struct stat st;
	if (!path || stat(path, &st) < 0) {
		error("%s: %s", prog_argv[0], path ? strerror(errno) : "command not found");
		free(path);
		return 127;
	}
	if (S_ISDIR(st.st_mode) || access(path, X_OK) < 0) {
		error("%s: %s", prog_argv[0], S_ISDIR(st.st_mode) ? "is a directory"
								  : "permission denied (not executable)");
		free(path);
		return 126;
	}
	const char *why = unprofilable(path);
	if (why)
		error("%s %s; running it without profiling%s", prog_argv[0], why,
		      out ? " (the profile will be empty)" : ", no profile will be written");
	/* the default output goes in the current directory: check that too */
	char def_check[PATH_MAX];
	const char *base = strrchr(prog_argv[0], '/');
	snprintf(def_check, sizeof(def_check), "memprof.%s.<pid>.pb.gz",
		 base ? base + 1 : prog_argv[0]);
	if (split && prepare_split_dir(out ? out : ".", base ? base + 1 : prog_argv[0]) < 0) {
		free(path);
		return 1;
	}
	if (!split && check_output(out ? out : def_check) < 0) {
		free(path);
		return 1;
	}
	char *tracker = find_tracker(), *preload_dir = NULL, *preload = NULL;
	if (!tracker) {
		error("cannot find libmemprof.so (set MEMPROF_LIB, or make install)");
		free(path);
		return 1;
	}
	if (!(preload = preloadable(tracker, &preload_dir))) {
		error("%s: cannot be preloaded from a path with spaces or colons, and no "
		      "link to it could be made in $TMPDIR or /tmp: %s", tracker, strerror(errno));
		free(path);
		free(tracker);
		return 1;
	}

	/* --http: listening before the program starts, so that a busy port
	 * is said once, and nothing has run */
	struct serve *srv = NULL;
	struct run_source rsrc = { NULL, NULL, NULL, 0, 0 };
	if (http_addr) {
		struct serve_source src = { source_profile, source_generation, source_process, &rsrc };
		char err[256];
		if (serve_open(&srv, http_addr, &src, NULL, err, sizeof(err)) < 0) {
			error("--http %s", err);
			remove_preload_dir(preload_dir);
			free(path);
			free(tracker);
			free(preload);
			return 1;
		}
		serve_set_index_note(srv,
			"<p>\nSampling: <a href='sampling'>sampling</a> lists each process's state; "
			"<code>POST /debug/pprof/sampling?on=1</code> switches it "
			"on in every process (<code>on=0</code>: off), at each one's next sampled "
			"allocation (see memprof run --start-paused).\n</p>\n");
		if (serve_handle(srv, "POST", "/debug/pprof/sampling", sampling_handler, NULL) < 0) {
			error("out of memory");
			serve_close(srv);
			remove_preload_dir(preload_dir);
			free(path);
			free(tracker);
			free(preload);
			return 1;
		}
		if (!quiet)
			fprintf(stderr, "memprof: serving http://%s/debug/pprof/\n", serve_address(srv));
	}

	/* the connection the program's processes inherit: no name anyone else
	 * could connect to, and its peer is known (SO_PEERCRED: memprof) */
	int sv[2], errpipe[2] = { -1, -1 };
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sv) < 0) {
		error("cannot create a socket: %s", strerror(errno));
		remove_preload_dir(preload_dir);
		return 1;
	}
	/* memprof holds a pidfd per live process image: its own descriptor
	 * limit goes up to the hard one; the program gets its own back */
	struct rlimit nofile, raised;
	bool have_nofile = getrlimit(RLIMIT_NOFILE, &nofile) == 0;
	if (have_nofile) {
		raised = nofile;
		raised.rlim_cur = nofile.rlim_max;
		setrlimit(RLIMIT_NOFILE, &raised);
	}
	/* the pipe that reports a failed exec; under a tight descriptor limit
	 * there may be no room for it: then the child says it itself */
	if (pipe2(errpipe, O_CLOEXEC) < 0)
		errpipe[0] = errpipe[1] = -1;
	int on = 1, sz = 4 << 20;
	setsockopt(sv[0], SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
	setsockopt(sv[0], SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
	pid_t self = getpid();

	struct sigaction sa, old_sa[N_FORWARDED], old_own[N_OWN];
	const int own[N_OWN] = { SIGRTMIN, SIGRTMIN + 1 };
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < N_FORWARDED; k++)
		sigaction(forwarded[k], &sa, &old_sa[k]);
	for (size_t k = 0; k < N_OWN; k++)
		sigaction(own[k], &sa, &old_own[k]);

	struct session s;
	char fallback[PATH_MAX] = "";
	session_init(&s, NULL);
	if (!why && session_open_fallback(&s, fallback, sizeof(fallback)) < 0)
		fallback[0] = '\0';	/* only descendants that close the inherited one miss it */

	/* the rings' clock: MEMPROF_THREAD_RINGS=0 for the program when it
	 * will not do (an explicit 1 said to be overruled) */
	const char *rings_env = getenv("MEMPROF_THREAD_RINGS");
	bool rings_off = rate == 1 && !(rings_env && !strcmp(rings_env, "0")) && !clock_fine();
	if (rings_off && rings_env && !strcmp(rings_env, "1"))
		error("warning: this machine's clock is too coarse or slow to order per-thread "
		      "rings by: MEMPROF_THREAD_RINGS=1 not followed");

	fflush(NULL);
	uint64_t start_ns = session_wall_now(), start_mono = session_mono_now();
	pid_t pid = fork();
	if (pid < 0) {
		error("fork: %s", strerror(errno));
		serve_close(srv);
		session_release(&s);
		remove_preload_dir(preload_dir);
		return 1;
	}
	if (pid == 0) {
		if (have_nofile)
			setrlimit(RLIMIT_NOFILE, &nofile);
		for (size_t k = 0; k < N_FORWARDED; k++)
			sigaction(forwarded[k], &old_sa[k], NULL);
		for (size_t k = 0; k < N_OWN; k++)
			sigaction(own[k], &old_own[k], NULL);
		if (errpipe[0] >= 0)
			close(errpipe[0]);
		close(sv[0]);
		if (s.listen_fd >= 0)
			close(s.listen_fd);
		unsetenv("MEMPROF_OUT");
		unsetenv("MEMPROF_TOKEN");
		unsetenv("MEMPROF_AGENT");
		if (start_paused)
			setenv("MEMPROF_ACTIVE", "0", 1);
		else
			unsetenv("MEMPROF_ACTIVE");
		if (rings_off)
			setenv("MEMPROF_THREAD_RINGS", "0", 1);
		int fd = why ? -1 : fd_move_high(sv[1], false);
		if (!why && fd < 0)
			error("%s: no free descriptor above the program's: running it without "
			      "profiling", prog_argv[0]);
		if (fd >= 0) {
			char buf[32];
			snprintf(buf, sizeof(buf), "%d", fd);
			setenv("MEMPROF_FD", buf, 1);
			snprintf(buf, sizeof(buf), "%d", (int)self);
			setenv("MEMPROF_COLLECTOR", buf, 1);
			if (fallback[0])
				setenv("MEMPROF_SOCKET", fallback, 1);
			else
				unsetenv("MEMPROF_SOCKET");
			snprintf(buf, sizeof(buf), "%lld", (long long)rate);
			setenv("MEMPROF_RATE", buf, 1);
			if (track_mmap)
				setenv("MEMPROF_MMAP", "1", 1);
			else
				unsetenv("MEMPROF_MMAP");
			const char *pre = getenv("LD_PRELOAD");
			size_t n = strlen(preload) + (pre ? strlen(pre) : 0) + 2;
			char *ld = malloc(n);
			if (ld) {
				snprintf(ld, n, "%s%s%s", preload, pre && *pre ? ":" : "",
					 pre ? pre : "");
				setenv("LD_PRELOAD", ld, 1);
			}
		} else {
			if (!why)
				close(sv[1]);
			unsetenv("MEMPROF_FD");
		}
		execv(path, prog_argv);
		int e = errno;
		if (errpipe[1] < 0 || write(errpipe[1], &e, sizeof(e)) < 0)
			error("%s: %s", prog_argv[0], strerror(e));
		_exit(e == ENOENT ? 127 : 126);
	}
	/* the program inherits its parent's SIGPIPE disposition, not ours: ours
	 * is ignored only here, so a closed stderr cannot kill memprof */
	signal(SIGPIPE, SIG_IGN);
	child_pid = pid;
	close(sv[1]);
	int exec_errno = 0;
	if (errpipe[1] >= 0)
		close(errpipe[1]);
	if (errpipe[0] >= 0 &&
	    read(errpipe[0], &exec_errno, sizeof(exec_errno)) == (ssize_t)sizeof(exec_errno)) {
		error("%s: %s", prog_argv[0], strerror(exec_errno));
		waitpid(pid, NULL, 0);
		serve_close(srv);
		session_release(&s);
		remove_preload_dir(preload_dir);
		return exec_errno == ENOENT ? 127 : 126;
	}
	if (errpipe[0] >= 0)
		close(errpipe[0]);

	s.sock = sv[0];
	s.c = collector_new();
	if (s.c && track_mmap)
		collector_want_mmap(s.c);
	if (s.c && no_symbolize)
		collector_set_symbolize(s.c, false);
	if (!s.c) {
		error("out of memory");
		waitpid(pid, NULL, 0);
		serve_close(srv);
		session_release(&s);
		remove_preload_dir(preload_dir);
		return 1;
	}
	s.start_ns = start_ns;
	s.start_mono_ns = start_mono;
	collector_tick(s.c, start_ns);	/* the timeline starts with the program */
	/* the profile's comments, for the snapshots and the end */
	char *cmdline = join_args(prog_argv);
	char version[64];
	snprintf(version, sizeof(version), "memprof %s", MEMPROF_VERSION);
	const char *comments[] = { version, cmdline ? cmdline : "", NULL };
	/* snapshots: BASE.N.pb.gz, BASE the output without .pb.gz */
	struct snapshots sn = { 0 };
	if (!split && !(out && !strcmp(out, "-"))) {
		char *snap = out ? strdup(out) : default_output(prog_argv[0], pid);
		size_t n = snap ? strlen(snap) : 0;
		if (n > 6 && !strcmp(snap + n - 6, ".pb.gz"))
			snap[n - 6] = '\0';
		sn.base = snap;
	}
	sn.comments = comments;
	sn.quiet = quiet;
	sn.keep = keep;
	sn.interval_ns = sn.base ? (uint64_t)interval_ms * 1000000u : 0;
	sn.next_ns = session_mono_now() + sn.interval_ns;
	rsrc.s = &s;
	rsrc.c = s.c;
	rsrc.comments = comments;
	rsrc.start_ns = start_ns;
	rsrc.start_mono_ns = start_mono;
	sampling_session = &s;
	int status = collect(&s, &sn, srv, pid, max_wait_ms);
	sampling_session = NULL;
	if (srv) {
		if (!quiet)
			serve_report(srv, s.c);
		serve_close(srv);
		srv = NULL;
	}
	free(sn.base);
	sn.base = NULL;
	collector_warm_end(s.c);
	/* the symbolizing done meanwhile goes with the rest of it, below */
	double collect_cpu = cpu_seconds(RUSAGE_SELF) - collector_stats(s.c)->warm_cpu_ns / 1e9;
	child_pid = 0;
	collector_set_span(s.c, start_ns, s.last_exit_ns ? s.last_exit_ns : session_wall_now());
	session_release(&s);
	remove_preload_dir(preload_dir);
	struct collector *c = s.c;

	int code = WIFEXITED(status) ? WEXITSTATUS(status)
		 : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
	const struct collector_stats *cs = collector_stats(c);
	bool empty = true;
	struct profile *prof = NULL;
	if (why) {
		/* already said */
	} else if (cs->processes == 0) {
		error("%s sent no data: the tracker was not loaded (it may be statically "
		      "linked, setuid, or clear LD_PRELOAD)%s", prog_argv[0],
		      out ? "" : "; no profile written");
	} else if (collector_bypassed(c)) {
		error("%s made no allocation through malloc and friends: nothing to profile "
		      "(an allocator linked into a program, or preloaded before memprof's "
		      "tracker, is out of its reach: link it as a shared library, or put it "
		      "after the tracker in LD_PRELOAD)%s",
		      prog_argv[0], out ? "" : "; no profile written");
	} else {
		empty = false;
	}
	if (!empty || out) {
		char *def = out ? NULL : default_output(prog_argv[0], pid);
		if ((split ? write_split_profiles(c, out ? out : ".", comments, quiet)
			   : write_last_profile(c, out ? out : def, comments, quiet, false,
						leak.fail ? &prof : NULL)) < 0 && code == 0)
			code = 1;
		if (leak.fail && !empty && prof && code == 0)
			code = leak_exit_status(prof, &leak, out ? out : def);
		if (verbose) {
			double prog = cpu_seconds(RUSAGE_CHILDREN), all = cpu_seconds(RUSAGE_SELF);
			uint64_t waits = collector_stats(c)->ring_waits;
			fprintf(stderr, "memprof: CPU: program %.2f s; memprof %.2f s collecting "
				"(%.1f%% of the program's), %.2f s symbolizing and writing; the "
				"program waited for memprof %llu time%s (its ring full)\n", prog,
				collect_cpu, prog > 0 ? 100 * collect_cpu / prog : 0, all - collect_cpu,
				(unsigned long long)waits, waits == 1 ? "" : "s");
			fprintf(stderr, "memprof: symbolized %llu addresses, %llu of them while the "
				"program ran (%.2f s of the symbolizing)\n",
				(unsigned long long)cs->symbolized, (unsigned long long)cs->warmed,
				cs->warm_cpu_ns / 1e9);
			if (cs->thread_events)
				fprintf(stderr, "memprof: %llu allocations and frees came through "
					"per-thread rings\n", (unsigned long long)cs->thread_events);
			if (cs->live_reallocs || cs->unknown_frees)
				fprintf(stderr, "memprof: %llu allocations at an address still live, "
					"%llu frees of blocks never seen allocated (blocks a "
					"forked child had from its parent, records lost, or "
					"blocks from before the tracker started or from a path "
					"it does not see; both at once: records applied out of "
					"order)\n",
					(unsigned long long)cs->live_reallocs,
					(unsigned long long)cs->unknown_frees);
		}
		free(def);
	}
	free(cmdline);
	if (leak.fail && empty && code == 0) {
		error("--fail-on-leak: %s was not profiled: no leak check", prog_argv[0]);
		code = 1;
	}
	profile_free(prof);
	collector_free(c);
	free(path);
	free(tracker);
	free(preload);
	if (WIFSIGNALED(status) && code == 128 + WTERMSIG(status))
		die_like(WTERMSIG(status));
	return code;
}
