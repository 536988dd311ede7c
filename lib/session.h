/* session.h - the collecting side of memprof run and memprof agent: the
 * connections that process images send their rings on, the rings (read
 * into a collector), and a pidfd per process image to learn when it is
 * gone. One poll loop step at a time (session_step), with room for the
 * caller's own descriptors (an HTTP server's) in the same poll. */
#ifndef MEMPROF_SESSION_H
#define MEMPROF_SESSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <poll.h>
#include <sys/types.h>

#include "ring.h"

struct collector;
struct session;
struct ucred;

struct session_watched {	/* a process image memprof waits for */
	int pidfd;
	uint32_t pid;
	uint64_t serial;	/* the rings it sent carry it (ring owner) */
	struct collector *c;	/* where its rings go */
};

/* An extra descriptor polled with the session's: ready(s, fd, revents,
 * arg) is called when poll says so. */
struct session_hook {
	int fd;
	short events;
	void (*ready)(struct session *s, int fd, short revents, void *arg);
	void *arg;
};

struct session {
	struct collector *c;		/* where rings go unless route says otherwise */
	int sock;			/* memprof run: our end of the inherited connection; -1 */
	int listen_fd;			/* the socket processes connect to, or -1 */
	char *fallback_dir;		/* memprof run: its private directory, removed at the end */
	char *listen_path;		/* the agent's socket, unlinked at the end */
	/* who may connect to listen_fd besides our own uid and root: the
	 * members of this group (-1: nobody else) */
	gid_t allow_gid;
	bool allow_root;
	int *conn;			/* connections accepted on it */
	struct ucred *conn_cred;	/* per connection: its maker (SO_PEERCRED) */
	size_t n_conn, cap_conn, cap_conn_cred;
	struct ring_reader *ring;
	uint64_t *ring_owner;		/* per ring: its watch's serial */
	struct collector **ring_c;	/* per ring: its collector */
	size_t n_ring, cap_ring, cap_owner, cap_ring_c;
	struct session_watched *w;
	size_t n_w, cap_w;
	uint64_t next_serial;
	uint64_t last_exit_ns;		/* wall clock of the last exit seen */
	/* the collector's clock: the wall clock at the start, moved on by the
	 * monotonic one (a step of the wall clock does not squash the timeline) */
	uint64_t start_ns, start_mono_ns;
	uint64_t rss_read_ns;		/* when RSS was last read (monotonic) */
	bool out_of_memory;		/* a drain ran out of memory (sticky; the caller says so) */
	struct session_hook *hook;
	size_t n_hook, cap_hook;
	struct pollfd *pfd;		/* session_step's, kept between steps */
	size_t cap_pfd;
	/* Optional (agent): the collector a new ring from the process cred
	 * describes goes to (NULL: refuse the ring). cred is the kernel's
	 * word on the sender, checked to be the pid the ring and its hello
	 * say; peer the process that made the connection it came on (the
	 * sender, or the parent it was forked from). */
	struct collector *(*route)(struct session *s, const struct ucred *cred,
				   const struct ucred *peer, struct ring_reader *r, void *arg);
	/* Optional (agent): called after a watched process image is gone and
	 * its rings are read and let go (w->c still valid). */
	void (*gone)(struct session *s, const struct session_watched *w, void *arg);
	void *cb_arg;
	/* memprof run: sampling on or off for every ring, those to come too
	 * (enum memprof_ring_want; 0: as each process started) */
	uint32_t want;
	/* per-connection refusals (SO_PEERCRED), for the agent to report */
	uint64_t refused;
	uint32_t last_refused_uid;
	/* the agent: rings with per-thread rings are refused (its trackers
	 * never make them; memprof run's at --rate 1 do) */
	bool no_thread_rings;
	/* rings refused because their hello, header or pidfd named another
	 * process than the kernel says sent them, or (no_thread_rings) they
	 * had per-thread rings; the last one, said in a line */
	uint64_t forged;
	char forged_why[192];
};

/* Sets s up with no connection (sock, listen_fd -1) feeding collector c. */
void session_init(struct session *s, struct collector *c);

/* Lets everything go (rings, pidfds, connections, the listening socket and
 * its file or directory). The collectors are the caller's. */
void session_release(struct session *s);

/* memprof run: a socket in a private directory (mode 0700: only our user,
 * and root, can connect) for processes that lost the descriptor they
 * inherited; its path goes to path. Returns 0 or a negative errno. */
int session_open_fallback(struct session *s, char *path, size_t size);

/* memprof agent: listens on path, a filesystem socket made with mode 0600
 * (0660 with group access, see allow_gid). The directory must exist and be
 * writable by no one but us and root (not even sticky); a symlink or anything
 * but a socket at path is refused; a socket there that no one listens on
 * (an agent that was killed) is replaced. Returns 0 or a negative errno
 * (-EEXIST: an agent listens there already; -ELOOP: a symlink; -ENOTSOCK:
 * something else is there; -EPERM: the directory is open to others). */
int session_listen(struct session *s, const char *path);

/* Polls everything once (waiting at most timeout_ms), then reads new
 * connections, rings and kicks, moves the clock on, drains every ring and
 * lets the images that are gone go. Returns poll's result (-1: EINTR or an
 * error, nothing done but the drain). */
int session_step(struct session *s, int timeout_ms);

/* Extra descriptors for session_step's poll. add returns 0 or -ENOMEM;
 * remove forgets fd (the caller closes it). */
int session_add_hook(struct session *s, int fd, short events,
		     void (*ready)(struct session *, int, short, void *), void *arg);
void session_remove_hook(struct session *s, int fd);

/* Switches sampling on or off in the process images whose rings go to c
 * (NULL: all, and those to come): the word their trackers read in their
 * slow path (they act at their next sampled allocation). */
void session_set_sampling(struct session *s, struct collector *c, bool on);

/* Reads every ring now. */
void session_drain_all(struct session *s);

/* Reads every ring and feeds all the program did before now: a drain feeds
 * a thread ring's records in the drain after the one that took them
 * (lib/ring.c), so this drains twice. For a profile asked for now. */
void session_drain_now(struct session *s);

/* Takes in everything the processes made so far, without waiting: new
 * connections, the rings they send, then every ring. For a hook (an HTTP
 * request) that must see what happened before it: session_step reads a
 * new connection's ring only at its next poll. */
void session_refresh(struct session *s);

/* Accepts what waits on the listening socket now. */
void session_accept(struct session *s);

/* Process pid went away (its parent reaped it): its images' rings are read
 * and let go. */
void session_forget_pid(struct session *s, uint32_t pid);

/* How many distinct processes are watched (an exec'd image is watched
 * again through the same process). */
size_t session_live_processes(const struct session *s);

/* "123 (perl), 130 (sleep) and 4 more": the processes still watched, each
 * once, named by their latest image's executable. malloc'd, or NULL. */
char *session_proc_names(const struct session *s, size_t max);

/* Wall and monotonic clocks in ns. */
uint64_t session_wall_now(void);
uint64_t session_mono_now(void);

/* Reads a /proc file (one read gives it whole) into buf, NUL-terminated:
 * its length, or -1 when it cannot be opened or is empty. */
ssize_t proc_read(const char *path, char *buf, size_t size);

#endif
