/* run.c - memprof run: start the program with the tracker preloaded,
 * collect its records, write the profile. */
#include <elf.h>
#include <errno.h>
#include <gelf.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/collect.h"
#include "lib/pprof.h"
#include "lib/profile.h"
#include "lib/tracker/records.h"
#include "lib/units.h"
#include "memprof.h"

/* "4096", "4k", "4K", "4KiB", "512KiB", "1M", "1MiB", "1G": bytes. */
static int parse_size(const char *s, int64_t *out)
{
	char *end;
	errno = 0;
	unsigned long long v = strtoull(s, &end, 10);
	if (errno || end == s || *s == '-')
		return -1;
	unsigned shift = 0;
	switch (*end) {
	case 'k': case 'K': shift = 10; end++; break;
	case 'm': case 'M': shift = 20; end++; break;
	case 'g': case 'G': shift = 30; end++; break;
	}
	if (shift && (!strcmp(end, "iB") || !strcmp(end, "B") || !strcmp(end, "b")))
		end += strlen(end);
	else if (!shift && (!strcmp(end, "B") || !strcmp(end, "b")))
		end++;
	if (*end || v == 0 || v > (1ULL << 40) >> shift)
		return -1;
	*out = (int64_t)(v << shift);
	return 0;
}

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
		return "is setuid or setgid: the dynamic loader ignores LD_PRELOAD for it";
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
			why = "is statically linked: LD_PRELOAD cannot interpose its allocator";
		else if (defines_malloc(fd))
			why = "defines malloc itself: its allocator comes before memprof's tracker";
	}
	close(fd);
	return why;
}

/* libmemprof.so: $MEMPROF_LIB, else beside the memprof binary (the build
 * tree), else ../lib/memprof/ from it (an install, wherever it was moved),
 * else the library directory memprof was built for. */
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
			static const char *rel[] = { "libmemprof.so", "../lib/memprof/libmemprof.so" };
			for (size_t i = 0; i < 2; i++) {
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

int check_output(const char *out)
{
	struct stat st;
	if (stat(out, &st) == 0 && S_ISDIR(st.st_mode)) {
		error("%s: is a directory", out);
		return -1;
	}
	char *dir = strdup(out);
	if (!dir)
		return -1;
	char *slash = strrchr(dir, '/');
	const char *d = slash ? (slash == dir ? "/" : (*slash = '\0', dir)) : ".";
	int rc = access(d, W_OK | X_OK);
	if (rc < 0)
		error("%s: cannot write here: %s", out, strerror(errno));
	free(dir);
	return rc;
}

static void human_bytes(char *buf, size_t size, int64_t v)
{
	units_label(buf, size, v, "bytes", "auto");
}

/* A progress line on a terminal when symbolizing takes more than a second
 * (MEMPROF_PROGRESS_MS changes the second, for the tests). */
struct progress {
	struct timespec start;
	long after_ms;
	bool shown;
};

static void show_progress(size_t done, size_t total, void *data)
{
	struct progress *pr = data;
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	bool slow = (now.tv_sec - pr->start.tv_sec) * 1000 +
		    (now.tv_nsec - pr->start.tv_nsec) / 1000000 >= pr->after_ms;
	if (done < total && slow) {
		fprintf(stderr, "\rmemprof: symbolizing %zu/%zu locations", done, total);
		pr->shown = true;
	} else if (done == total && (pr->shown || slow)) {
		fprintf(stderr, "\rmemprof: symbolized %zu locations%20s\n", done, "");
	}
}

int write_profile(struct collector *c, const char *out, const char *const *comments, bool quiet)
{
	const char *ms = getenv("MEMPROF_PROGRESS_MS");
	struct progress pr = { { 0, 0 }, ms && *ms ? atol(ms) : 1000, false };
	struct collector_meta meta = { comments, isatty(2) == 1 ? show_progress : NULL, &pr };
	clock_gettime(CLOCK_MONOTONIC, &pr.start);
	struct profile *p = collector_profile(c, &meta);
	if (!p) {
		error("out of memory building the profile");
		return -1;
	}
	int rc = pprof_write(p, out);
	if (rc < 0) {
		error("%s: %s", out, strerror(-rc));
		profile_free(p);
		return -1;
	}
	const struct collector_stats *st = collector_stats(c);
	if (!quiet) {
		int64_t tot[4] = { 0 };
		for (size_t i = 0; i < p->n_sample; i++)
			for (int k = 0; k < 4; k++)
				tot[k] += p->sample[i].value[k];
		char a[32], b[32];
		human_bytes(a, sizeof(a), tot[1]);
		human_bytes(b, sizeof(b), tot[3]);
		fprintf(stderr, "memprof: wrote %s: %zu samples, %s allocated in %lld blocks, "
			"%s in use at exit (%zu process%s)\n", out, p->n_sample, a,
			(long long)tot[0], b, st->processes, st->processes == 1 ? "" : "es");
	}
	/* warnings print even with --quiet */
	if (st->deepbind)
		error("warning: %s was dlopen'ed with RTLD_DEEPBIND%s: allocations made by "
		      "code it binds are not seen", st->deepbind_name,
		      st->deepbind > 1 ? " (and others)" : "");
	if (st->lost || st->bad_batches)
		error("warning: %llu events not recorded (made in signal handlers that "
		      "interrupted the tracker, or out of memory), %llu malformed batches",
		      (unsigned long long)st->lost, (unsigned long long)st->bad_batches);
	profile_free(p);
	return 0;
}

static volatile sig_atomic_t child_pid, child_exited, stop_collecting;

/* Signals sent to memprof itself go on to the program. Those the terminal
 * sends (Ctrl-C) reach the program directly, as it is in our process group.
 * Once the program has exited, a signal means: stop waiting for whatever
 * it left running, and write the profile. */
static void forward_signal(int sig, siginfo_t *si, void *uc)
{
	(void)uc;
	if (child_exited)
		stop_collecting = 1;
	else if (child_pid > 0 && (si->si_code == SI_USER || si->si_code == SI_QUEUE))
		kill(child_pid, sig);
}

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

static char *join_args(char **argv)
{
	size_t n = 16;
	for (char **a = argv; *a; a++)
		n += strlen(*a) + 1;
	char *s = malloc(n);
	if (!s)
		return NULL;
	strcpy(s, "command:");
	for (char **a = argv; *a; a++) {
		strcat(s, " ");
		strcat(s, *a);
	}
	return s;
}

/* memprof's abstract unix socket, which every process image of the
 * program connects to: an unguessable name, and only our own user's
 * processes are accepted (SO_PEERCRED). Returns the listening fd or -1. */
static int listen_socket(char *name, size_t size)
{
	uint64_t r[2] = { 0, 0 };
	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		r[0] ^= (uint64_t)time(NULL) * 0x9e3779b97f4a7c15ULL ^ (uint64_t)getpid();
	snprintf(name, size, "memprof.%d.%016llx%016llx", (int)getpid(),
		 (unsigned long long)r[0], (unsigned long long)r[1]);
	struct sockaddr_un a;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	size_t n = strlen(name);
	memcpy(a.sun_path + 1, name, n);
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n)) < 0 ||
	    listen(fd, 128) < 0) {
		close(fd);
		return -1;
	}
	return fd;
}

/* The connections the collector reads; slot 0 is the listening socket. */
struct conns {
	struct pollfd *pfd;
	size_t n, cap;
};

static void accept_all(struct conns *cs)
{
	for (;;) {
		int fd = accept4(cs->pfd[0].fd, NULL, NULL, SOCK_CLOEXEC);
		if (fd < 0)
			return;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    cred.uid != getuid() || array_grow(&cs->pfd, &cs->cap, cs->n, sizeof(*cs->pfd)) < 0) {
			close(fd);
			continue;
		}
		/* generous buffering so the program rarely waits for us */
		int sz = 4 << 20;
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &sz, sizeof(sz));
		cs->pfd[cs->n++] = (struct pollfd){ fd, POLLIN, 0 };
	}
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

/* Reads batches until the program has exited and every connection is
 * closed, or, after it exited, nothing came for half a second or memprof
 * got a signal (a daemon it left behind may hold a connection, and send,
 * for ever). Returns the wait status. */
static int collect(struct collector *c, int listen_fd, pid_t pid)
{
	struct conns cs = { NULL, 0, 0 };
	uint8_t *batch = malloc(MEMPROF_BATCH_MAX + 1);
	int status = 0;
	bool exited = false;
	struct timespec quiet;
	if (!batch || array_grow(&cs.pfd, &cs.cap, 0, sizeof(*cs.pfd)) < 0) {
		error("out of memory");
		waitpid(pid, &status, 0);
		free(batch);
		return status;
	}
	cs.pfd[cs.n++] = (struct pollfd){ listen_fd, POLLIN, 0 };
	clock_gettime(CLOCK_MONOTONIC, &quiet);
	for (;;) {
		int r = poll(cs.pfd, cs.n, 50);
		if (r > 0) {
			if (cs.pfd[0].revents)
				accept_all(&cs);
			for (size_t i = 1; i < cs.n; i++) {
				if (!cs.pfd[i].revents)
					continue;
				/* up to 64 batches from one process before the next, so
				 * a busy one costs one poll per 64 batches, not per batch */
				for (int k = 0; k < 64; k++) {
					ssize_t n = recv(cs.pfd[i].fd, batch, MEMPROF_BATCH_MAX + 1,
							 MSG_DONTWAIT);
					if (n > 0) {
						if (collector_feed(c, batch, (size_t)n) == -ENOMEM)
							error("out of memory collecting records");
						continue;
					}
					if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
						close(cs.pfd[i].fd);
						cs.pfd[i--] = cs.pfd[--cs.n];
					}
					break;
				}
			}
			clock_gettime(CLOCK_MONOTONIC, &quiet);
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			child_exited = 1;
			clock_gettime(CLOCK_MONOTONIC, &quiet);
		}
		if (stop_collecting)
			break;
		if (exited && (cs.n == 1 || (r == 0 && ms_since(&quiet) > 500))) {
			accept_all(&cs);	/* a last connection may wait in the backlog */
			if (cs.n == 1 || r == 0)
				break;
		}
	}
	for (size_t i = 1; i < cs.n; i++)
		close(cs.pfd[i].fd);
	free(cs.pfd);
	free(batch);
	return status;
}

int cmd_run(int argc, char **argv)
{
	const char *out = NULL;
	int64_t rate = 512 * 1024;
	bool quiet = false, verbose = false;
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
		bool is_out = !strcmp(a, "-o") || !strcmp(a, "--output");
		bool is_rate = !strcmp(a, "-r") || !strcmp(a, "--rate");
		if (is_out || is_rate) {
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
		} else {
			error("run: unknown option '%s'", a);
			return usage("run", false);
		}
		if (is_out) {
			out = v;
		} else if (parse_size(v, &rate) < 0) {
			error("run: invalid rate '%s' (bytes, e.g. 4096, 4k, 512KiB, 1M)", v);
			return usage("run", false);
		}
	}
	if (i >= argc) {
		error("run: missing PROGRAM");
		return usage("run", false);
	}
	char **prog_argv = argv + i;

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
		error("%s %s; running it without profiling, no profile will be written",
		      prog_argv[0], why);
	/* the default output goes in the current directory: check that too */
	char def_check[PATH_MAX];
	const char *base = strrchr(prog_argv[0], '/');
	snprintf(def_check, sizeof(def_check), "memprof.%s.<pid>.pb.gz",
		 base ? base + 1 : prog_argv[0]);
	if (check_output(out ? out : def_check) < 0) {
		free(path);
		return 1;
	}
	char *tracker = find_tracker();
	if (!tracker) {
		error("cannot find libmemprof.so (set MEMPROF_LIB, or make install)");
		free(path);
		return 1;
	}

	char sock_name[96];
	int errpipe[2], lfd = listen_socket(sock_name, sizeof(sock_name));
	if (lfd < 0 || pipe2(errpipe, O_CLOEXEC) < 0) {
		error("cannot create a socket: %s", strerror(errno));
		return 1;
	}

	struct sigaction sa, old_int, old_term, old_hup, old_quit;
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, &old_int);
	sigaction(SIGTERM, &sa, &old_term);
	sigaction(SIGHUP, &sa, &old_hup);
	sigaction(SIGQUIT, &sa, &old_quit);

	fflush(NULL);
	pid_t pid = fork();
	if (pid < 0) {
		error("fork: %s", strerror(errno));
		return 1;
	}
	if (pid == 0) {
		sigaction(SIGINT, &old_int, NULL);
		sigaction(SIGTERM, &old_term, NULL);
		sigaction(SIGHUP, &old_hup, NULL);
		sigaction(SIGQUIT, &old_quit, NULL);
		close(errpipe[0]);
		if (!why) {
			char buf[32];
			setenv("MEMPROF_SOCK", sock_name, 1);
			snprintf(buf, sizeof(buf), "%lld", (long long)rate);
			setenv("MEMPROF_RATE", buf, 1);
			unsetenv("MEMPROF_OUT");
			const char *pre = getenv("LD_PRELOAD");
			size_t n = strlen(tracker) + (pre ? strlen(pre) : 0) + 2;
			char *ld = malloc(n);
			if (ld) {
				snprintf(ld, n, "%s%s%s", tracker, pre && *pre ? ":" : "",
					 pre ? pre : "");
				setenv("LD_PRELOAD", ld, 1);
			}
		}
		execv(path, prog_argv);
		int e = errno;
		if (write(errpipe[1], &e, sizeof(e)) < 0)
			_exit(127);
		_exit(e == ENOENT ? 127 : 126);
	}
	child_pid = pid;
	close(errpipe[1]);
	int exec_errno = 0;
	if (read(errpipe[0], &exec_errno, sizeof(exec_errno)) == (ssize_t)sizeof(exec_errno)) {
		error("%s: %s", prog_argv[0], strerror(exec_errno));
		waitpid(pid, NULL, 0);
		return exec_errno == ENOENT ? 127 : 126;
	}
	close(errpipe[0]);

	struct collector *c = collector_new();
	if (!c) {
		error("out of memory");
		return 1;
	}
	int status = collect(c, lfd, pid);
	double collect_cpu = cpu_seconds(RUSAGE_SELF);
	child_pid = 0;
	close(lfd);

	int code = WIFEXITED(status) ? WEXITSTATUS(status)
		 : WIFSIGNALED(status) ? 128 + WTERMSIG(status) : 1;
	const struct collector_stats *cs = collector_stats(c);
	if (why) {
		/* already said: no profile */
	} else if (cs->processes == 0) {
		error("%s sent no data: the tracker was not loaded (it may be statically "
		      "linked, setuid, or clear LD_PRELOAD); no profile written", prog_argv[0]);
	} else if (collector_bypassed(c)) {
		error("%s made no allocation through malloc and friends: nothing to profile "
		      "(an allocator linked into a program is out of LD_PRELOAD's reach); "
		      "no profile written", prog_argv[0]);
	} else {
		char *def = out ? NULL : default_output(prog_argv[0], pid);
		char *cmdline = join_args(prog_argv);
		char version[64];
		snprintf(version, sizeof(version), "memprof %s", MEMPROF_VERSION);
		const char *comments[] = { version, cmdline ? cmdline : "", NULL };
		if (write_profile(c, out ? out : def, comments, quiet) < 0 && code == 0)
			code = 1;
		if (verbose) {
			double prog = cpu_seconds(RUSAGE_CHILDREN), all = cpu_seconds(RUSAGE_SELF);
			fprintf(stderr, "memprof: CPU: program %.2f s; memprof %.2f s collecting "
				"(%.1f%% of the program's), %.2f s symbolizing and writing\n", prog,
				collect_cpu, prog > 0 ? 100 * collect_cpu / prog : 0, all - collect_cpu);
		}
		free(def);
		free(cmdline);
	}
	collector_free(c);
	free(path);
	free(tracker);
	return code;
}
