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
#include "lib/leaks.h"
#include "lib/output.h"
#include "lib/ring.h"
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

/* ---- the session: the program's processes and their rings ----------------- */

struct watched {		/* a process image memprof waits for */
	int pidfd;
	uint32_t pid;
	uint64_t serial;	/* the rings it sent carry it (ring owner) */
};

struct session {
	struct collector *c;
	int sock;			/* our end of the connection; -1 once all closed */
	int listen_fd;			/* the fallback socket (see open_fallback), or -1 */
	char *fallback_dir;		/* its private directory */
	int *conn;			/* connections accepted on it */
	size_t n_conn, cap_conn;
	struct ring_reader *ring;
	uint64_t *ring_owner;		/* per ring: its watch's serial */
	size_t n_ring, cap_ring, cap_owner;
	struct watched *w;
	size_t n_w, cap_w;
	uint64_t next_serial;
	uint64_t last_exit_ns;		/* wall clock of the last exit seen */
	/* the collector's clock: the wall clock at the start, moved on by the
	 * monotonic one (a step of the wall clock does not squash the timeline) */
	uint64_t start_ns, start_mono_ns;
	uint64_t rss_read_ns;		/* when RSS was last read (monotonic) */
	/* snapshots (SIGUSR2, --interval): BASE.N.pb.gz, the last `keep` kept */
	char *snap_base;
	unsigned snap_n, keep;
	uint64_t interval_ns, next_snap_ns;	/* monotonic; interval 0: none */
	const char *const *comments;
	bool quiet;
};

static uint64_t wall_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* Watches the process behind pidfd (taken over); returns the serial its
 * rings carry. */
static uint64_t watch(struct session *s, int pidfd, uint32_t pid)
{
	if (array_grow(&s->w, &s->cap_w, s->n_w, sizeof(*s->w)) < 0) {
		close(pidfd);
		return 0;
	}
	s->w[s->n_w++] = (struct watched){ pidfd, pid, ++s->next_serial };
	return s->next_serial;
}

/* The RSS of process pid in bytes, from /proc; -1 when it cannot be read. */
static int64_t rss_of(uint32_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%u/statm", pid);
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	unsigned long long size, resident;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return -1;
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* The collector's clock moves on (what is read next happened by now); on
 * each new interval of the timeline, every watched process's RSS. */
static uint64_t mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* /proc/PID/statm costs ~2 us a process: reading every process's RSS at
 * most once per 100 us per process keeps it under 2% of a core (every
 * interval for a few processes, every 100 ms for a thousand) */
#define RSS_NS_PER_PROCESS 100000u

static void tick(struct session *s)
{
	uint64_t mono = mono_now();
	if (!collector_tick(s->c, s->start_ns + (mono - s->start_mono_ns)))
		return;
	if (s->rss_read_ns && mono - s->rss_read_ns < s->n_w * (uint64_t)RSS_NS_PER_PROCESS)
		return;
	s->rss_read_ns = mono;
	for (size_t i = 0; i < s->n_w; i++) {
		int64_t rss = rss_of(s->w[i].pid);
		if (rss >= 0)
			collector_note_rss(s->c, s->w[i].pid, rss);
	}
}

static void drain_all(struct session *s)
{
	for (size_t i = 0; i < s->n_ring; i++)
		if (ring_drain(&s->ring[i], s->c) == -ENOMEM)
			error("out of memory collecting records");
}

static void forget_rings(struct session *s, uint64_t owner)
{
	for (size_t i = 0; i < s->n_ring; i++)
		if (s->ring_owner[i] == owner) {
			ring_unmap(&s->ring[i]);
			s->ring[i] = s->ring[--s->n_ring];
			s->ring_owner[i] = s->ring_owner[s->n_ring];
			i--;
		}
}

/* A process went away: read the rest of its rings and let them go. */
static void process_gone(struct session *s, size_t wi)
{
	uint64_t now = wall_now();
	drain_all(s);
	forget_rings(s, s->w[wi].serial);
	collector_process_gone(s->c, s->w[wi].pid, now);
	s->last_exit_ns = now;
	close(s->w[wi].pidfd);
	s->w[wi] = s->w[--s->n_w];
}

/* A new ring: mapped, and watched through the pidfd that came with it (the
 * process's own: no pid can have been reused), or one opened now. */
static void add_ring(struct session *s, int memfd, int pidfd, const struct ucred *cred)
{
	struct ring_reader r;
	if (array_grow(&s->ring, &s->cap_ring, s->n_ring, sizeof(*s->ring)) < 0 ||
	    array_grow(&s->ring_owner, &s->cap_owner, s->n_ring, sizeof(*s->ring_owner)) < 0 ||
	    ring_map(&r, memfd) < 0) {
		if (pidfd >= 0)
			close(pidfd);
		return;	/* not accepted: the image gives up on it, and memprof says so */
	}
	/* the kernel's word on who sent it, not the ring's */
	if (pidfd < 0 && cred->pid > 0 && (uint32_t)cred->pid == r.pid)
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)r.pid, 0);
	uint64_t owner = pidfd >= 0 ? watch(s, pidfd, r.pid) : 0;
	s->ring[s->n_ring] = r;
	s->ring_owner[s->n_ring++] = owner;
}

/* Reads the messages waiting on connection fd: new rings (with the
 * sender's credentials, from the kernel) and kicks. hup: poll said every
 * other end is closed (an empty message also reads as 0 bytes). Returns
 * false when the connection has ended (the caller closes it). */
static bool read_messages(struct session *s, int fd, bool hup)
{
	for (;;) {
		struct memprof_hello h;
		struct iovec iov = { &h, sizeof(h) };
		union {
			struct cmsghdr align;
			char b[CMSG_SPACE(sizeof(int) * 4) + CMSG_SPACE(sizeof(struct ucred))];
		} control;
		struct msghdr m;
		memset(&m, 0, sizeof(m));
		m.msg_iov = &iov;
		m.msg_iovlen = 1;
		m.msg_control = control.b;
		m.msg_controllen = sizeof(control.b);
		ssize_t n = recvmsg(fd, &m, MSG_DONTWAIT | MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 || (n == 0 && !m.msg_controllen))
			return !(hup && (n == 0 || errno != EAGAIN));
		int fds[4] = { -1, -1, -1, -1 };
		size_t nfd = 0;
		struct ucred cred = { 0, 0, 0 };
		for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
			if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS) {
				size_t k = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
				int got[4];
				memcpy(got, CMSG_DATA(cm), (k > 4 ? 4 : k) * sizeof(int));
				for (size_t j = 0; j < k && j < 4; j++)
					if (nfd < 4)
						fds[nfd++] = got[j];
			} else if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_CREDENTIALS) {
				memcpy(&cred, CMSG_DATA(cm), sizeof(cred));
			}
		}
		if (n == (ssize_t)sizeof(h) && h.magic == MEMPROF_HELLO_MAGIC &&
		    h.type == HELLO_RING && fds[0] >= 0) {
			add_ring(s, fds[0], fds[1], &cred);
			fds[1] = -1;	/* taken over */
		}
		for (size_t j = 0; j < nfd; j++)
			if (fds[j] >= 0)
				close(fds[j]);
		/* HELLO_KICK: the caller drains every ring after this */
	}
}

/* A process that lost the descriptor it inherited (Python's subprocess
 * closes every descriptor but 0-2 in its children) reaches memprof again
 * through a socket in a private directory (mode 0700: only our user, and
 * root, can connect); MEMPROF_SOCKET names it. Returns 0 or -1. */
static int open_fallback(struct session *s, char *path, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	struct sockaddr_un a;
	snprintf(dir, sizeof(dir), "%s/memprof.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -1;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s/sock", dir) >= (int)sizeof(a.sun_path) ||
	    (s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		rmdir(dir);
		return -1;
	}
	if (bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(s->listen_fd, 64) < 0) {
		close(s->listen_fd);
		s->listen_fd = -1;
		unlink(a.sun_path);
		rmdir(dir);
		return -1;
	}
	s->fallback_dir = strdup(dir);
	snprintf(path, size, "%s", a.sun_path);
	return 0;
}

static void accept_fallback(struct session *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int on = 1;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0 ||
		    (cred.uid != getuid() && cred.uid != 0) ||
		    setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 ||
		    array_grow(&s->conn, &s->cap_conn, s->n_conn, sizeof(*s->conn)) < 0) {
			close(fd);
			continue;
		}
		s->conn[s->n_conn++] = fd;
	}
}

static void close_fallback(struct session *s)
{
	for (size_t i = 0; i < s->n_conn; i++)
		close(s->conn[i]);
	s->n_conn = 0;
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	s->listen_fd = -1;
	if (s->fallback_dir) {
		char p[PATH_MAX + 8];
		snprintf(p, sizeof(p), "%s/sock", s->fallback_dir);
		unlink(p);
		rmdir(s->fallback_dir);
		free(s->fallback_dir);
		s->fallback_dir = NULL;
	}
}

/* How many distinct processes are watched (an exec'd image is watched
 * again through the same process). */
static size_t live_processes(const struct session *s)
{
	size_t n = 0;
	for (size_t i = 0; i < s->n_w; i++) {
		size_t j = 0;
		while (j < i && s->w[j].pid != s->w[i].pid)
			j++;
		n += j == i;
	}
	return n;
}

/* "123 (perl), 130 (sleep) and 4 more": the processes still watched, each
 * once, named by their latest image's executable. malloc'd, or NULL. */
static char *proc_names(const struct session *s, size_t max)
{
	size_t len = 0, cap = 256, shown = 0, total = live_processes(s);
	char *out = malloc(cap);
	if (!out)
		return NULL;
	out[0] = '\0';
	for (size_t i = 0; i < s->n_w && shown < max; i++) {
		size_t j = 0;
		while (j < i && s->w[j].pid != s->w[i].pid)
			j++;
		if (j < i)
			continue;	/* named already */
		const char *exe = "";
		struct collector_proc_info info;
		for (size_t k = 0; collector_proc_info(s->c, k, &info); k++)
			if (info.pid == s->w[i].pid)
				exe = info.exe;
		const char *base = strrchr(exe, '/');
		base = base ? base + 1 : exe;
		size_t need = len + strlen(base) + 32;
		if (need > cap) {
			char *o = realloc(out, cap = need * 2);
			if (!o)
				break;
			out = o;
		}
		len += (size_t)snprintf(out + len, cap - len, "%s%u%s%s%s", shown ? ", " : "",
					s->w[i].pid, *base ? " (" : "", base, *base ? ")" : "");
		shown++;
	}
	if (total > shown)
		snprintf(out + len, cap - len, " and %zu more", total - shown);
	return out;
}

static char *snapshot_name(const struct session *s, unsigned n)
{
	char *name = NULL;
	if (asprintf(&name, "%s.%u.pb.gz", s->snap_base, n) < 0)
		return NULL;
	return name;
}

/* The profile so far (cumulative, as Go's heap profile: in use means live
 * now), as BASE.N.pb.gz; past --keep=K, the snapshot K before it goes. */
static void snapshot(struct session *s)
{
	snapshot_asked = 0;
	if (!s->snap_base) {
		error("SIGUSR2: no snapshot with %s", "--split or -o -");
		return;
	}
	char *name = snapshot_name(s, ++s->snap_n);
	if (!name || write_profile(s->c, name, s->comments, s->quiet, false, NULL) < 0) {
		if (!name)
			error("out of memory writing a snapshot");
		free(name);
		return;
	}
	free(name);
	if (s->keep && s->snap_n > s->keep && (name = snapshot_name(s, s->snap_n - s->keep))) {
		unlink(name);
		free(name);
	}
}

/* Reads the program's rings until the program has exited and every
 * process still connected has too (as strace -f waits), or memprof was
 * told to stop (a signal after the program exited, or --max-wait).
 * Returns the program's wait status. */
static int collect(struct session *s, pid_t pid, int64_t max_wait_ms)
{
	int status = 0;
	bool exited = false, told_waiting = false;
	struct timespec exited_at = { 0, 0 };
	struct pollfd *pfd = NULL;
	size_t cap_pfd = 0;
	for (;;) {
		size_t n = 0;
		if (array_grow(&pfd, &cap_pfd, s->n_w + s->n_conn + 2, sizeof(*pfd)) < 0) {
			error("out of memory");
			break;
		}
		/* [the inherited connection] [the fallback socket] [its connections] [pidfds] */
		size_t at_sock = n;
		if (s->sock >= 0)
			pfd[n++] = (struct pollfd){ s->sock, POLLIN, 0 };
		size_t at_listen = n;
		if (s->listen_fd >= 0)
			pfd[n++] = (struct pollfd){ s->listen_fd, POLLIN, 0 };
		size_t first_conn = n, polled_conn = s->n_conn;
		for (size_t i = 0; i < s->n_conn; i++)
			pfd[n++] = (struct pollfd){ s->conn[i], POLLIN, 0 };
		size_t first_w = n, polled_w = s->n_w;	/* read_messages may add more */
		for (size_t i = 0; i < s->n_w; i++)
			pfd[n++] = (struct pollfd){ s->w[i].pidfd, POLLIN, 0 };
		int r = poll(pfd, n, 10);
		if (r > 0 && s->sock >= 0 && pfd[at_sock].revents &&
		    !read_messages(s, s->sock, pfd[at_sock].revents & (POLLHUP | POLLERR))) {
			close(s->sock);
			s->sock = -1;
		}
		for (size_t i = polled_conn; r > 0 && i-- > 0;)
			if (pfd[first_conn + i].revents &&
			    !read_messages(s, s->conn[i], pfd[first_conn + i].revents & (POLLHUP | POLLERR))) {
				close(s->conn[i]);
				s->conn[i] = s->conn[--s->n_conn];
			}
		if (r > 0 && s->listen_fd >= 0 && pfd[at_listen].revents)
			accept_fallback(s);
		tick(s);
		drain_all(s);
		if (r > 0)
			for (size_t i = polled_w; i-- > 0;)
				if (pfd[first_w + i].revents)
					process_gone(s, i);
		if (snapshot_asked ||
		    (s->interval_ns && !exited && mono_now() >= s->next_snap_ns)) {
			if (s->interval_ns)
				s->next_snap_ns = mono_now() + s->interval_ns;
			snapshot(s);
		}
		if (!exited && waitpid(pid, &status, WNOHANG) == pid) {
			exited = true;
			child_exited = 1;
			clock_gettime(CLOCK_MONOTONIC, &exited_at);
			if (!s->last_exit_ns)
				s->last_exit_ns = wall_now();
			/* its own rings are read now; others may follow */
			for (size_t i = s->n_w; i-- > 0;)
				if (s->w[i].pid == (uint32_t)pid)
					process_gone(s, i);
		}
		if (exited && s->sock < 0 && s->n_w == 0) {
			/* a process that came through the fallback socket may be
			 * unread still: in the backlog, or its hello not taken */
			if (s->listen_fd >= 0)
				accept_fallback(s);
			if (s->n_conn == 0)
				break;
		}
		bool timeout = exited && max_wait_ms >= 0 && ms_since(&exited_at) > max_wait_ms;
		if (exited && (stop_collecting || timeout)) {
			char *names = proc_names(s, 8);
			size_t live = live_processes(s);
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
				s->last_exit_ns = wall_now();
			break;
		}
		if (exited && !told_waiting && ms_since(&exited_at) > 2000 && max_wait_ms < 0) {
			char *names = proc_names(s, 8);
			size_t live = live_processes(s);
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
	drain_all(s);
	free(pfd);
	return status;
}

static void session_release(struct session *s)
{
	for (size_t i = 0; i < s->n_ring; i++)
		ring_unmap(&s->ring[i]);
	for (size_t i = 0; i < s->n_w; i++)
		close(s->w[i].pidfd);
	if (s->sock >= 0)
		close(s->sock);
	close_fallback(s);
	free(s->ring);
	free(s->ring_owner);
	free(s->w);
	free(s->conn);
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

/* "30s", "5m", "1h", "500ms", "10" (seconds): milliseconds, or -1. */
static int64_t parse_duration(const char *v)
{
	char *end;
	errno = 0;
	double x = strtod(v, &end);
	if (errno || end == v || x < 0 || *v == '-')
		return -1;
	double scale = !strcmp(end, "ms") ? 1 : !strcmp(end, "") || !strcmp(end, "s") ? 1000
		     : !strcmp(end, "m") ? 60000 : !strcmp(end, "h") ? 3600000 : -1;
	if (scale < 0 || x * scale > 1e15)
		return -1;
	return (int64_t)(x * scale);
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
	const char *out = NULL;
	int64_t rate = 512 * 1024, max_wait_ms = -1, interval_ms = 0;
	unsigned keep = 0;
	uint64_t rate_bytes;
	bool quiet = false, verbose = false, rate_given = false, split = false, track_mmap = false;
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
		int taken = leak_args_parse("run", argc, argv, &i, &leak);
		if (taken < 0)
			return usage("run", false);
		if (taken)
			continue;
		bool is_out = !strcmp(a, "-o") || !strcmp(a, "--output");
		bool is_rate = !strcmp(a, "-r") || !strcmp(a, "--rate");
		bool is_wait = !strcmp(a, "--max-wait");
		bool is_interval = !strcmp(a, "--interval"), is_keep = !strcmp(a, "--keep");
		if (is_out || is_rate || is_wait || is_interval || is_keep) {
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
		} else {
			error("run: unknown option '%s'", a);
			return usage("run", false);
		}
		if (is_out) {
			out = v;
		} else if (is_interval) {
			if ((interval_ms = parse_duration(v)) <= 0) {
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
			if ((max_wait_ms = parse_duration(v)) < 0) {
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
	if (!leak.fail && (leak.n_files || leak.no_defaults)) {
		error("run: --suppressions and --no-default-suppressions need --fail-on-leak");
		return usage("run", false);
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

	struct sigaction sa, old_sa[N_FORWARDED];
	memset(&sa, 0, sizeof(sa));
	sa.sa_sigaction = forward_signal;
	sa.sa_flags = SA_SIGINFO | SA_RESTART;
	sigemptyset(&sa.sa_mask);
	for (size_t k = 0; k < N_FORWARDED; k++)
		sigaction(forwarded[k], &sa, &old_sa[k]);

	struct session s = { 0 };
	char fallback[PATH_MAX] = "";
	s.sock = -1;
	s.listen_fd = -1;
	if (!why && open_fallback(&s, fallback, sizeof(fallback)) < 0)
		fallback[0] = '\0';	/* only descendants that close the inherited one miss it */

	fflush(NULL);
	uint64_t start_ns = wall_now(), start_mono = mono_now();
	pid_t pid = fork();
	if (pid < 0) {
		error("fork: %s", strerror(errno));
		close_fallback(&s);
		remove_preload_dir(preload_dir);
		return 1;
	}
	if (pid == 0) {
		if (have_nofile)
			setrlimit(RLIMIT_NOFILE, &nofile);
		for (size_t k = 0; k < N_FORWARDED; k++)
			sigaction(forwarded[k], &old_sa[k], NULL);
		if (errpipe[0] >= 0)
			close(errpipe[0]);
		close(sv[0]);
		if (s.listen_fd >= 0)
			close(s.listen_fd);
		unsetenv("MEMPROF_OUT");
		unsetenv("MEMPROF_TOKEN");
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
		close_fallback(&s);
		remove_preload_dir(preload_dir);
		return exec_errno == ENOENT ? 127 : 126;
	}
	if (errpipe[0] >= 0)
		close(errpipe[0]);

	s.sock = sv[0];
	s.c = collector_new();
	if (s.c && track_mmap)
		collector_want_mmap(s.c);
	if (!s.c) {
		error("out of memory");
		waitpid(pid, NULL, 0);
		close_fallback(&s);
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
	if (!split && !(out && !strcmp(out, "-"))) {
		char *snap = out ? strdup(out) : default_output(prog_argv[0], pid);
		size_t n = snap ? strlen(snap) : 0;
		if (n > 6 && !strcmp(snap + n - 6, ".pb.gz"))
			snap[n - 6] = '\0';
		s.snap_base = snap;
	}
	s.comments = comments;
	s.quiet = quiet;
	s.keep = keep;
	s.interval_ns = s.snap_base ? (uint64_t)interval_ms * 1000000u : 0;
	s.next_snap_ns = mono_now() + s.interval_ns;
	int status = collect(&s, pid, max_wait_ms);
	free(s.snap_base);
	s.snap_base = NULL;
	double collect_cpu = cpu_seconds(RUSAGE_SELF);
	child_pid = 0;
	collector_set_span(s.c, start_ns, s.last_exit_ns ? s.last_exit_ns : wall_now());
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
			   : write_profile(c, out ? out : def, comments, quiet, false,
					   leak.fail ? &prof : NULL)) < 0 && code == 0)
			code = 1;
		if (leak.fail && !empty && prof && code == 0)
			code = leak_exit_status(prof, &leak, out ? out : def);
		if (verbose) {
			double prog = cpu_seconds(RUSAGE_CHILDREN), all = cpu_seconds(RUSAGE_SELF);
			fprintf(stderr, "memprof: CPU: program %.2f s; memprof %.2f s collecting "
				"(%.1f%% of the program's), %.2f s symbolizing and writing\n", prog,
				collect_cpu, prog > 0 ? 100 * collect_cpu / prog : 0, all - collect_cpu);
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
