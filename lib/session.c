/* session.c - connections, rings and process images (see session.h). */
#include "session.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"
#include "collect.h"
#include "tracker/records.h"

uint64_t session_wall_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

uint64_t session_mono_now(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

void session_init(struct session *s, struct collector *c)
{
	memset(s, 0, sizeof(*s));
	s->c = c;
	s->sock = -1;
	s->listen_fd = -1;
	s->allow_gid = (gid_t)-1;
	s->allow_root = true;
}

/* Watches the process behind pidfd (taken over); returns the serial its
 * rings carry. */
static uint64_t watch(struct session *s, int pidfd, uint32_t pid, struct collector *c)
{
	if (array_grow(&s->w, &s->cap_w, s->n_w, sizeof(*s->w)) < 0) {
		close(pidfd);
		return 0;
	}
	s->w[s->n_w++] = (struct session_watched){ pidfd, pid, ++s->next_serial, c };
	return s->next_serial;
}

/* Reads a /proc file (one read gives it whole) into buf, NUL-terminated:
 * its length, or -1 when it cannot be opened or is empty. */
ssize_t proc_read(const char *path, char *buf, size_t size)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	ssize_t n = read(fd, buf, size - 1);
	close(fd);
	if (n <= 0)
		return -1;
	buf[n] = '\0';
	return n;
}

/* The RSS of process pid in bytes, from /proc; -1 when it cannot be read. */
static int64_t rss_of(uint32_t pid)
{
	char path[64], buf[128];
	snprintf(path, sizeof(path), "/proc/%u/statm", pid);
	if (proc_read(path, buf, sizeof(buf)) < 0)
		return -1;
	unsigned long long size, resident;
	if (sscanf(buf, "%llu %llu", &size, &resident) != 2)
		return -1;
	return (int64_t)resident * sysconf(_SC_PAGESIZE);
}

/* /proc/PID/statm costs ~2 us a process: reading every process's RSS at
 * most once per 100 us per process keeps it under 2% of a core (every
 * interval for a few processes, every 100 ms for a thousand) */
#define RSS_NS_PER_PROCESS 100000u

/* The collectors' clock moves on (what is read next happened by now); on
 * each new interval of the timeline, every watched process's RSS. */
static void tick(struct session *s)
{
	uint64_t mono = session_mono_now(), now = s->start_ns + (mono - s->start_mono_ns);
	bool new_interval = s->c && collector_tick(s->c, now);
	for (size_t i = 0; i < s->n_w; i++)	/* the agent's other collectors */
		if (s->w[i].c && s->w[i].c != s->c)
			new_interval |= collector_tick(s->w[i].c, now);
	if (!new_interval)
		return;
	if (s->rss_read_ns && mono - s->rss_read_ns < s->n_w * (uint64_t)RSS_NS_PER_PROCESS)
		return;
	s->rss_read_ns = mono;
	for (size_t i = 0; i < s->n_w; i++) {
		int64_t rss = rss_of(s->w[i].pid);
		if (rss >= 0 && s->w[i].c)
			collector_note_rss(s->w[i].c, s->w[i].pid, rss);
	}
}

void session_drain_all(struct session *s)
{
	for (size_t i = 0; i < s->n_ring; i++)
		if (ring_drain(&s->ring[i], s->ring_c[i]) == -ENOMEM)
			s->out_of_memory = true;
}

void session_drain_now(struct session *s)
{
	session_drain_all(s);
	session_drain_all(s);
}

static void forget_rings(struct session *s, uint64_t owner)
{
	for (size_t i = 0; i < s->n_ring; i++)
		if (s->ring_owner[i] == owner) {
			ring_finish(&s->ring[i], s->ring_c[i]);
			ring_unmap(&s->ring[i]);
			s->ring[i] = s->ring[--s->n_ring];
			s->ring_owner[i] = s->ring_owner[s->n_ring];
			s->ring_c[i] = s->ring_c[s->n_ring];
			i--;
		}
}

/* A process went away: read the rest of its rings and let them go. */
static void process_gone(struct session *s, size_t wi)
{
	uint64_t now = session_wall_now();
	session_drain_all(s);
	forget_rings(s, s->w[wi].serial);
	if (s->w[wi].c)
		collector_process_gone(s->w[wi].c, s->w[wi].pid, now);
	s->last_exit_ns = now;
	struct session_watched w = s->w[wi];
	close(w.pidfd);
	s->w[wi] = s->w[--s->n_w];
	if (s->gone)
		s->gone(s, &w, s->cb_arg);
}

void session_set_sampling(struct session *s, struct collector *c, bool on)
{
	uint32_t want = on ? RING_WANT_ON : RING_WANT_OFF;
	if (!c)
		s->want = want;
	for (size_t i = 0; i < s->n_ring; i++)
		if ((!c || s->ring_c[i] == c) && s->ring[i].hdr)
			__atomic_store_n(&s->ring[i].hdr->want, want, __ATOMIC_RELEASE);
}

void session_forget_pid(struct session *s, uint32_t pid)
{
	for (size_t i = s->n_w; i-- > 0;)
		if (s->w[i].pid == pid)
			process_gone(s, i);
}

/* The pid a pidfd stands for, as the kernel says (/proc/self/fdinfo):
 * -1 when its process is gone (reaped), -2 when fd is no pidfd. */
static long pidfd_pid(int fd)
{
	char path[64], buf[1024];
	snprintf(path, sizeof(path), "/proc/self/fdinfo/%d", fd);
	if (proc_read(path, buf, sizeof(buf)) < 0)
		return -2;
	const char *p = strstr(buf, "\nPid:\t");
	if (!p)
		return -2;
	long pid = strtol(p + 6, NULL, 10);
	return pid > 0 ? pid : -1;
}

/* Whether a ring may be taken: its hello and its header must both name
 * the process that sent it, as the kernel says (SCM_CREDENTIALS: the
 * sender at the time it sent, a forked child on the connection it
 * inherited too; only CAP_SYS_ADMIN can make them say another pid), and
 * the pidfd it came with must be that process's (or of one gone already:
 * then it says so at once). Its uid is not compared with the connection's:
 * a descendant that changed uid after it inherited the connection is
 * still the service's (clarifications, #7). Otherwise says why in
 * s->forged_why. */
static bool ring_honest(struct session *s, const struct ucred *cred, uint32_t hello_pid,
			const struct ring_reader *r, int pidfd)
{
	long fd_pid = pidfd >= 0 ? pidfd_pid(pidfd) : -1;
	char lie[96];
	if (cred->pid <= 0)
		snprintf(lie, sizeof(lie), "no credentials came with it");
	else if (hello_pid != (uint32_t)cred->pid)
		snprintf(lie, sizeof(lie), "its hello said it was pid %u", hello_pid);
	else if (r->pid != (uint32_t)cred->pid)
		snprintf(lie, sizeof(lie), "its ring said it was pid %u", r->pid);
	else if (pidfd >= 0 && fd_pid == -2)
		snprintf(lie, sizeof(lie), "what it sent as its pidfd is not one");
	else if (pidfd >= 0 && fd_pid != -1 && fd_pid != cred->pid)
		snprintf(lie, sizeof(lie), "the pidfd it sent was pid %ld's", fd_pid);
	else
		return true;
	s->forged++;
	snprintf(s->forged_why, sizeof(s->forged_why), "refused a ring from pid %d (uid %u): %s",
		 (int)cred->pid, (unsigned)cred->uid, lie);
	return false;
}

/* A new ring: mapped, checked (ring_honest), and watched through the
 * pidfd that came with it (the process's own: no pid can have been
 * reused), or one opened now. */
static void add_ring(struct session *s, int memfd, int pidfd, const struct ucred *cred,
		     const struct ucred *peer, uint32_t hello_pid)
{
	struct ring_reader r;
	struct collector *c = s->c;
	int rc = -ENOMEM;
	if (array_grow(&s->ring, &s->cap_ring, s->n_ring, sizeof(*s->ring)) < 0 ||
	    array_grow(&s->ring_owner, &s->cap_owner, s->n_ring, sizeof(*s->ring_owner)) < 0 ||
	    array_grow(&s->ring_c, &s->cap_ring_c, s->n_ring, sizeof(*s->ring_c)) < 0 ||
	    (rc = ring_map_opt(&r, memfd, !s->no_thread_rings)) < 0) {
		if (rc == -EPROTO) {
			s->forged++;
			snprintf(s->forged_why, sizeof(s->forged_why),
				 "refused a ring from pid %d (uid %u): it has per-thread rings, "
				 "which an agent's process never makes", (int)cred->pid,
				 (unsigned)cred->uid);
		}
		if (pidfd >= 0)
			close(pidfd);
		return;	/* not accepted: the image gives up on it, and memprof says so */
	}
	if (!ring_honest(s, cred, hello_pid, &r, pidfd) ||
	    (s->route && !(c = s->route(s, cred, peer, &r, s->cb_arg)))) {
		ring_unmap(&r);
		if (pidfd >= 0)
			close(pidfd);
		return;
	}
	if (!s->route && s->want)
		__atomic_store_n(&r.hdr->want, s->want, __ATOMIC_RELEASE);
	/* the kernel's word on who sent it (checked above) */
	if (pidfd < 0)
		pidfd = (int)syscall(SYS_pidfd_open, (pid_t)r.pid, 0);
	uint64_t owner = pidfd >= 0 ? watch(s, pidfd, r.pid, c) : 0;
	s->ring[s->n_ring] = r;
	s->ring_owner[s->n_ring] = owner;
	s->ring_c[s->n_ring++] = c;
}

/* Reads the messages waiting on connection fd: new rings (with the
 * sender's credentials, from the kernel) and kicks. peer: who made the
 * connection (SO_PEERCRED), NULL for memprof run's inherited one. hup:
 * poll said every other end is closed (an empty message also reads as 0
 * bytes). Returns false when the connection has ended (the caller closes
 * it). */
static bool read_messages(struct session *s, int fd, const struct ucred *peer, bool hup)
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
			add_ring(s, fds[0], fds[1], &cred, peer, h.pid);
			fds[1] = -1;	/* taken over */
		}
		for (size_t j = 0; j < nfd; j++)
			if (fds[j] >= 0)
				close(fds[j]);
		/* HELLO_KICK: the caller drains every ring after this */
	}
}

/* The kernel's credentials on every message of the connections accepted
 * on listening socket fd, from the first: set on the listener, the flag
 * is theirs before accept returns them (set on each after accept, a
 * message sent in between came without). */
static int passcred(int fd)
{
	int on = 1;
	return setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on));
}

int session_open_fallback(struct session *s, char *path, size_t size)
{
	const char *tmp = getenv("TMPDIR");
	char dir[PATH_MAX];
	struct sockaddr_un a;
	snprintf(dir, sizeof(dir), "%s/memprof.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(dir))
		return -errno;
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	if (snprintf(a.sun_path, sizeof(a.sun_path), "%s/sock", dir) >= (int)sizeof(a.sun_path) ||
	    (s->listen_fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0)) < 0) {
		rmdir(dir);
		return -ENAMETOOLONG;
	}
	if (passcred(s->listen_fd) < 0 || bind(s->listen_fd, (struct sockaddr *)&a, sizeof(a)) < 0 ||
	    listen(s->listen_fd, 64) < 0) {
		int e = errno;
		close(s->listen_fd);
		s->listen_fd = -1;
		unlink(a.sun_path);
		rmdir(dir);
		return -e;
	}
	s->fallback_dir = strdup(dir);
	snprintf(path, size, "%s", a.sun_path);
	return 0;
}

/* Whether a process with these credentials may send us rings: our own
 * user, root (unless told not to), or a member of the allowed group. */
static bool peer_allowed(const struct session *s, int fd, const struct ucred *cred)
{
	if (cred->uid == getuid() || cred->uid == geteuid() || (s->allow_root && cred->uid == 0))
		return true;
	if (s->allow_gid == (gid_t)-1)
		return false;
	if (cred->gid == s->allow_gid)
		return true;
	gid_t groups[256];
	socklen_t len = sizeof(groups);
	if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, groups, &len) < 0)
		return false;
	for (size_t i = 0; i < len / sizeof(gid_t); i++)
		if (groups[i] == s->allow_gid)
			return true;
	return false;
}

void session_accept(struct session *s)
{
	if (s->listen_fd < 0)
		return;
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_CLOEXEC | SOCK_NONBLOCK);
		if (fd < 0)
			return;
		struct ucred cred;
		socklen_t len = sizeof(cred);
		int on = 1;
		if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0) {
			close(fd);
			continue;
		}
		if (!peer_allowed(s, fd, &cred)) {
			s->refused++;
			s->last_refused_uid = cred.uid;
			close(fd);
			continue;
		}
		if (setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &on, sizeof(on)) < 0 ||
		    array_grow(&s->conn, &s->cap_conn, s->n_conn, sizeof(*s->conn)) < 0 ||
		    array_grow(&s->conn_cred, &s->cap_conn_cred, s->n_conn, sizeof(*s->conn_cred)) < 0) {
			close(fd);
			continue;
		}
		s->conn_cred[s->n_conn] = cred;
		s->conn[s->n_conn++] = fd;
	}
}

static void drop_conn(struct session *s, size_t i)
{
	close(s->conn[i]);
	s->conn[i] = s->conn[--s->n_conn];
	s->conn_cred[i] = s->conn_cred[s->n_conn];
}

void session_refresh(struct session *s)
{
	session_accept(s);
	if (s->sock >= 0 && !read_messages(s, s->sock, NULL, false)) {
		close(s->sock);
		s->sock = -1;
	}
	for (size_t i = s->n_conn; i-- > 0;)
		if (!read_messages(s, s->conn[i], &s->conn_cred[i], false))
			drop_conn(s, i);
	session_drain_now(s);
}

static void close_listening(struct session *s)
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
	if (s->listen_path) {
		unlink(s->listen_path);
		free(s->listen_path);
		s->listen_path = NULL;
	}
}

int session_add_hook(struct session *s, int fd, short events,
		     void (*ready)(struct session *, int, short, void *), void *arg)
{
	if (array_grow(&s->hook, &s->cap_hook, s->n_hook, sizeof(*s->hook)) < 0)
		return -ENOMEM;
	s->hook[s->n_hook++] = (struct session_hook){ fd, events, ready, arg };
	return 0;
}

void session_remove_hook(struct session *s, int fd)
{
	for (size_t i = 0; i < s->n_hook; i++)
		if (s->hook[i].fd == fd) {
			memmove(&s->hook[i], &s->hook[i + 1], (s->n_hook - i - 1) * sizeof(*s->hook));
			s->n_hook--;
			return;
		}
}

int session_step(struct session *s, int timeout_ms)
{
	size_t n = 0;
	if (array_grow(&s->pfd, &s->cap_pfd, s->n_w + s->n_conn + s->n_hook + 2, sizeof(*s->pfd)) < 0) {
		s->out_of_memory = true;
		return -1;
	}
	/* [the inherited connection] [the listening socket] [its connections]
	 * [pidfds] [hooks] */
	size_t at_sock = n;
	if (s->sock >= 0)
		s->pfd[n++] = (struct pollfd){ s->sock, POLLIN, 0 };
	size_t at_listen = n;
	if (s->listen_fd >= 0)
		s->pfd[n++] = (struct pollfd){ s->listen_fd, POLLIN, 0 };
	size_t first_conn = n, polled_conn = s->n_conn;
	for (size_t i = 0; i < s->n_conn; i++)
		s->pfd[n++] = (struct pollfd){ s->conn[i], POLLIN, 0 };
	size_t first_w = n, polled_w = s->n_w;	/* read_messages may add more */
	for (size_t i = 0; i < s->n_w; i++)
		s->pfd[n++] = (struct pollfd){ s->w[i].pidfd, POLLIN, 0 };
	size_t first_hook = n, polled_hook = s->n_hook;
	for (size_t i = 0; i < s->n_hook; i++)
		s->pfd[n++] = (struct pollfd){ s->hook[i].fd, s->hook[i].events, 0 };
	struct pollfd *pfd = s->pfd;
	int r = poll(pfd, n, timeout_ms);
	if (r > 0 && s->sock >= 0 && pfd[at_sock].revents &&
	    !read_messages(s, s->sock, NULL, pfd[at_sock].revents & (POLLHUP | POLLERR))) {
		close(s->sock);
		s->sock = -1;
	}
	for (size_t i = polled_conn; r > 0 && i-- > 0;)
		if (pfd[first_conn + i].revents &&
		    !read_messages(s, s->conn[i], &s->conn_cred[i],
				   pfd[first_conn + i].revents & (POLLHUP | POLLERR)))
			drop_conn(s, i);
	if (r > 0 && s->listen_fd >= 0 && pfd[at_listen].revents)
		session_accept(s);
	tick(s);
	session_drain_all(s);
	if (r > 0)
		for (size_t i = polled_w; i-- > 0;)
			if (pfd[first_w + i].revents)
				process_gone(s, i);
	/* hooks last: what they serve includes what was just read. A hook
	 * may remove itself (or others): matched by descriptor. */
	for (size_t i = 0; r > 0 && i < polled_hook; i++) {
		struct pollfd p = pfd[first_hook + i];
		if (!p.revents)
			continue;
		for (size_t k = 0; k < s->n_hook; k++)
			if (s->hook[k].fd == p.fd) {
				s->hook[k].ready(s, p.fd, p.revents, s->hook[k].arg);
				break;
			}
	}
	return r;
}

size_t session_live_processes(const struct session *s)
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

char *session_proc_names(const struct session *s, size_t max)
{
	size_t len = 0, cap = 256, shown = 0, total = session_live_processes(s);
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
		for (size_t k = 0; s->w[i].c && collector_proc_info(s->w[i].c, k, &info); k++)
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

void session_release(struct session *s)
{
	for (size_t i = 0; i < s->n_ring; i++) {
		ring_finish(&s->ring[i], s->ring_c[i]);
		ring_unmap(&s->ring[i]);
	}
	for (size_t i = 0; i < s->n_w; i++)
		close(s->w[i].pidfd);
	if (s->sock >= 0)
		close(s->sock);
	s->sock = -1;
	close_listening(s);
	free(s->ring);
	free(s->ring_owner);
	free(s->ring_c);
	free(s->w);
	free(s->conn);
	free(s->conn_cred);
	free(s->hook);
	free(s->pfd);
	s->pfd = NULL;
	s->cap_pfd = 0;
	s->ring = NULL;
	s->ring_owner = NULL;
	s->ring_c = NULL;
	s->w = NULL;
	s->conn = NULL;
	s->conn_cred = NULL;
	s->hook = NULL;
	s->n_ring = s->n_w = s->n_conn = s->n_hook = 0;
	s->cap_ring = s->cap_owner = s->cap_ring_c = s->cap_w = s->cap_conn = s->cap_hook = 0;
	s->cap_conn_cred = 0;
}

int session_listen(struct session *s, const char *path)
{
	struct sockaddr_un a;
	struct stat st;
	char dir[PATH_MAX];
	if (strlen(path) >= sizeof(a.sun_path) || strlen(path) >= sizeof(dir))
		return -ENAMETOOLONG;
	/* the directory: nobody but us and root may put something there */
	snprintf(dir, sizeof(dir), "%s", path);
	char *slash = strrchr(dir, '/');
	if (!slash)
		snprintf(dir, sizeof(dir), ".");
	else if (slash == dir)
		dir[1] = '\0';
	else
		*slash = '\0';
	if (stat(dir, &st) < 0)
		return -errno;
	if (!S_ISDIR(st.st_mode))
		return -ENOTDIR;
	if ((st.st_uid != geteuid() && st.st_uid != 0) || (st.st_mode & (S_IWGRP | S_IWOTH)))
		return -EPERM;	/* a sticky /tmp too: services would not trust it */
	memset(&a, 0, sizeof(a));
	a.sun_family = AF_UNIX;
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (lstat(path, &st) == 0) {
		if (S_ISLNK(st.st_mode))
			return -ELOOP;
		if (!S_ISSOCK(st.st_mode))
			return -ENOTSOCK;
		if (st.st_uid != geteuid())
			return -EPERM;	/* someone else's, in a sticky directory */
		/* an agent's socket: taken over only if no one listens (the
		 * agent was killed, or is being restarted) */
		int probe = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
		if (probe < 0)
			return -errno;
		int rc = connect(probe, (struct sockaddr *)&a, sizeof(a));
		close(probe);
		if (rc == 0)
			return -EADDRINUSE;
		if (unlink(path) < 0)
			return -errno;
	}
	int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -errno;
	bool group = s->allow_gid != (gid_t)-1;
	/* made 0600 at once (no moment when others could connect); opened to
	 * the group afterwards */
	mode_t old = umask(0177);
	int rc = bind(fd, (struct sockaddr *)&a, sizeof(a));
	umask(old);
	if (rc < 0 || (group && (chown(path, (uid_t)-1, s->allow_gid) < 0 || chmod(path, 0660) < 0)) ||
	    passcred(fd) < 0 || listen(fd, 128) < 0) {
		int e = errno;
		if (rc == 0)
			unlink(path);
		close(fd);
		return -e;
	}
	s->listen_fd = fd;
	s->listen_path = strdup(path);
	return 0;
}
