/* serve.h - Go's /debug/pprof endpoints for memprof's profiles, on
 * lib/http_server.h, in the caller's poll loop: memprof run --http and
 * memprof agent serve through it, each from its own collector.
 *
 *   /debug/pprof/          an index: the profiles and the processes
 *   /debug/pprof/heap      Go's four sample types, inuse_space the default
 *   /debug/pprof/allocs    the same, alloc_space the default
 *   /debug/pprof/peak      peak_objects, peak_space: the live set at the
 *                          highest heap in use (per process)
 * with ?debug=1 (Go's legacy text heap format), ?seconds=N (the difference
 * over the next N seconds, as Go's; not for peak), ?gc=N (accepted,
 * nothing to do), ?pid=N (one process; default all, with pid labels).
 *
 * One snapshot serves every request that arrives before it is built: a
 * profile is built when a request needs one and none is newer than the
 * request (or nothing was collected since), and at most once per
 * min_rebuild_ms per pid; requests in between wait for the next one. So a
 * scrape storm costs a few builds, and every answer is at least as new as
 * its request (up to min_rebuild_ms later). */
#ifndef MEMPROF_SERVE_H
#define MEMPROF_SERVE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "http_server.h"

struct collector;
struct pollfd;
struct profile;
struct serve;
struct session;

/* A process image: a process that exec'd is several, in exec order. */
struct serve_process {
	uint32_t pid;
	const char *exe;	/* "" when unknown */
	const char *cmdline;	/* "" when unknown */
	bool running;		/* false: it ended (its data stays in the profiles) */
	bool sampling;		/* sampling is on in it */
	uint32_t group;		/* its service (the agent's: the pid that connected); 0: one for all */
	/* collected since then only (the collector was away), records lost */
	uint64_t partial_since_ns, away_lost;
};

/* Where the profiles come from; every callback is called from the loop's
 * thread, inside serve_dispatch. */
struct serve_source {
	/* The profile of process pid, or of all of them when pid is 0, as
	 * collector_profile builds it: alloc_objects, alloc_space,
	 * inuse_objects, inuse_space, peak_objects, peak_space, in that
	 * order (the server picks the endpoint's). Returns a profile the
	 * server frees, or NULL with *err = -ENOENT (no such process) or
	 * -ENOMEM. The one of a pid is collector_meta.one_pid's, with
	 * serve_pid_comments. */
	struct profile *(*profile)(void *data, uint32_t pid, int *err);
	/* A number that changes whenever something new was collected: a
	 * profile built at the same number is served again as it is. Asked
	 * before every profile served, it first takes in what the processes
	 * did so far (their rings), so that a profile holds everything done
	 * before the request, as Go's does. */
	uint64_t (*generation)(void *data);
	/* Fills *out for process image i (0, 1, ...) for the index page and
	 * GET /debug/pprof/sampling; returns false past the last. The images
	 * of one process come in exec order. The strings live until the next
	 * call. */
	bool (*process)(void *data, size_t i, struct serve_process *out);
	void *data;
};

struct serve_options {
	struct http_server_limits limits;
	int min_rebuild_ms;	/* see above */
	int max_seconds;	/* the longest ?seconds= */
};
#define SERVE_OPTIONS_INIT { HTTP_SERVER_LIMITS_INIT, 1000, 3600 }

/* Listens on addr (see http_server_open: loopback unless a host is given)
 * and serves the endpoints from src (copied). opts may be NULL for
 * SERVE_OPTIONS_INIT. Returns 0, or a negative errno with one line in err
 * (a busy port: "127.0.0.1:6060: Address already in use"). */
int serve_open(struct serve **out, const char *addr, const struct serve_source *src,
	       const struct serve_options *opts, char *err, size_t errlen);

/* "127.0.0.1:6060" */
const char *serve_address(const struct serve *s);

/* HTML the index page ends with (what the caller's own endpoints do), or
 * NULL; html must outlive s. */
void serve_set_index_note(struct serve *s, const char *html);

/* More endpoints (the POST /debug/pprof/sampling of run and the agent):
 * see http_server_handle. A POST whose Origin header (when it has one)
 * names another host than the request's Host gets a 403 without reaching
 * fn: a web page elsewhere cannot make a browser switch sampling. The
 * server itself answers GET /debug/pprof/sampling: one line per process,
 * "PID on|off running|ended [partial since TIME (N records lost)]", and
 * with ?pid=N those of N's group only (404 when N is unknown). */
int serve_handle(struct serve *s, const char *method, const char *path, http_handler_fn fn,
		 void *data);

/* The poll loop's part, as http_server_npoll/pollfds/dispatch: */
size_t serve_npoll(const struct serve *s);
void serve_pollfds(struct serve *s, struct pollfd *pfd);
/* Call after every poll (pfd NULL, n 0 when nothing was polled): also
 * answers the requests waiting for a snapshot or for their ?seconds=. */
void serve_dispatch(struct serve *s, const struct pollfd *pfd, size_t n);
/* Milliseconds until the server has something to do, or -1. */
int serve_timeout_ms(const struct serve *s);

/* The same through lib/session.h's loop (memprof run, memprof agent):
 * before each session_step, serve_session_begin adds the server's
 * descriptors to the session's poll and returns the timeout to give
 * session_step (max_ms at most); after it, serve_session_end handles what
 * poll said (always: timeouts too) and takes them out again. Returns -1
 * when out of memory (nothing added; call serve_session_end anyway). */
int serve_session_begin(struct serve *s, struct session *ss, int max_ms);
void serve_session_end(struct serve *s, struct session *ss);

/* Answers what is pending (503) and closes. NULL is allowed. */
void serve_close(struct serve *s);

struct serve_stats {
	const struct http_server_stats *http;
	uint64_t profiles;		/* answered with a profile (or its text) */
	uint64_t builds;		/* snapshots built from the source */
	uint64_t build_ns;		/* CPU time building them (this thread) */
	uint64_t render_ns;		/* CPU time encoding views and deltas */
};
void serve_get_stats(const struct serve *s, struct serve_stats *st);

/* The comments of process pid's own profile (?pid=), as --split writes
 * them: comments[0] (the version), "command: " the command line of its
 * latest image, then "run: " the run's when comments[1] is another
 * "command: ". Fills cm (NULL-terminated, 4 at most); *owned holds what
 * it made (free it). Returns 0 or -ENOMEM. */
int serve_pid_comments(const struct collector *c, uint32_t pid, const char *const *comments,
		       const char *cm[4], char **owned);

#endif
