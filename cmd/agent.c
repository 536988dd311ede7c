/* agent.c - memprof agent: collects from every process that connects to
 * its socket on its own (LD_PRELOAD=libmemprof.so MEMPROF_AGENT=PATH) and
 * serves Go's /debug/pprof endpoints for them, per process and merged,
 * with POST endpoints that switch sampling on and off.
 *
 * A service is a process that connected on its own, keyed by (pid, start
 * time as /proc says); the processes it forks or starts join it (their
 * rings come over its connection, or their parent is one of its
 * processes), each image with its own pid label. Each service has its own
 * collector, so that one that ended can be let go whole: it stays visible
 * for --keep-ended (default 10 minutes), and at most --max-ended (default
 * 32) ended services are kept, the oldest going first. */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "lib/arena.h"
#include "lib/collect.h"
#include "lib/http_server.h"
#include "lib/profile.h"
#include "lib/serve.h"
#include "lib/session.h"
#include "lib/strbuf.h"
#include "lib/tracker/records.h"
#include "lib/units.h"
#include "memprof.h"

struct service {
	uint32_t pid;		/* the process that connected */
	uint64_t start_ticks;	/* its start time (/proc/PID/stat): with pid, the key */
	uint32_t uid;		/* of the process that connected */
	struct collector *c;
	uint32_t want;		/* RING_WANT_*: for its rings, those to come too */
	bool running;		/* some of its processes are watched still */
	uint64_t ended_ns;	/* monotonic: when the last of them went */
};

struct agent {
	struct session s;
	struct service *svc;
	size_t n_svc, cap_svc;
	uint64_t keep_ns;	/* how long an ended service stays */
	size_t max_ended;	/* how many ended services stay */
	uint64_t events;	/* services added, ended, dropped, switched */
	struct serve *srv;
	const char *comments[2];
	char version[64];
	char proc_exe[PATH_MAX], proc_cmd[1024];	/* serve_source.process's strings */
	bool quiet;
};

static volatile sig_atomic_t stop_asked;

static void on_stop(int sig)
{
	(void)sig;
	stop_asked = 1;
}

/* Field 22 of /proc/PID/stat (start time, clock ticks since boot) and
 * field 4 (the parent), or 0. */
static uint64_t proc_stat(uint32_t pid, uint32_t *ppid)
{
	char path[64], buf[1024];
	unsigned long long start = 0;
	*ppid = 0;
	snprintf(path, sizeof(path), "/proc/%u/stat", pid);
	if (proc_read(path, buf, sizeof(buf)) < 0)
		return 0;
	char *p = strrchr(buf, ')');	/* the name may hold anything */
	int pp = 0;
	if (!p || sscanf(p + 1, " %*c %d %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
				 "%*s %*s %llu", &pp, &start) != 2)
		return 0;
	*ppid = (uint32_t)pp;
	return start;
}

/* The parent pid in the ring's first record, if it is there yet; 0 if not. */
static uint32_t ring_start_ppid(const struct ring_reader *r)
{
	uint64_t head = __atomic_load_n(&r->hdr->head, __ATOMIC_ACQUIRE);
	uint64_t tail = __atomic_load_n(&r->hdr->tail, __ATOMIC_ACQUIRE);
	if (tail != 0 || head == 0 || head > r->hdr->size)
		return 0;	/* read already, or nothing written */
	struct rec_reader rr = { r->data, r->data + head, false };
	struct rec rec;
	return rec_next(&rr, &rec) && rec.type == REC_START ? rec.u.start.ppid : 0;
}

/* The collector's clock now (see tick in lib/session.c) */
static uint64_t agent_now(const struct agent *a)
{
	return a->s.start_ns + (session_mono_now() - a->s.start_mono_ns);
}

static struct service *service_of(struct agent *a, const struct collector *c)
{
	for (size_t i = 0; i < a->n_svc; i++)
		if (a->svc[i].c == c)
			return &a->svc[i];
	return NULL;
}

static struct service *service_watching(struct agent *a, uint32_t pid)
{
	for (size_t i = 0; pid && i < a->s.n_w; i++)
		if (a->s.w[i].pid == pid)
			return service_of(a, a->s.w[i].c);
	return NULL;
}

/* The service whose profile holds pid: its own process, or one that
 * joined it. */
static struct service *service_with_pid(struct agent *a, uint32_t pid)
{
	for (size_t i = 0; i < a->n_svc; i++)
		if (a->svc[i].pid == pid)
			return &a->svc[i];
	for (size_t i = 0; i < a->n_svc; i++) {
		struct collector_proc_info info;
		for (size_t k = 0; collector_proc_info(a->svc[i].c, k, &info); k++)
			if (info.pid == pid)
				return &a->svc[i];
	}
	return NULL;
}

/* A new ring: to the service of its process (an exec'd image, another
 * ring), of its parent (forked or started by one), or of a process that
 * connects again (the same key), or a new service. */
static struct collector *route(struct session *s, const struct ucred *cred,
			       const struct ucred *peer, struct ring_reader *r, void *arg)
{
	struct agent *a = arg;
	(void)s;
	if (cred->pid <= 0 || (uint32_t)cred->pid != r->pid)
		return NULL;	/* a ring that says it is another process's (session checks it too) */
	uint32_t pid = r->pid, ppid;
	uint64_t start = proc_stat(pid, &ppid);
	if (!ppid && peer && peer->pid != cred->pid)
		ppid = (uint32_t)peer->pid;	/* gone already, forked on its parent's connection */
	if (!ppid) {	/* gone already, on a connection of its own: its REC_START says,
			 * believed for a service of its own user only */
		struct service *pv = service_watching(a, ring_start_ppid(r));
		if (pv && pv->uid == (uint32_t)cred->uid)
			ppid = pv->pid;
	}
	struct service *v = service_watching(a, pid);
	if (!v)
		v = service_watching(a, ppid);
	for (size_t i = 0; !v && i < a->n_svc; i++)
		if (a->svc[i].pid == pid && a->svc[i].start_ticks == start)
			v = &a->svc[i];
	if (!v) {
		struct collector *c = collector_new();
		if (!c || array_grow(&a->svc, &a->cap_svc, a->n_svc, sizeof(*a->svc)) < 0) {
			collector_free(c);
			return NULL;
		}
		collector_tick(c, agent_now(a));
		v = &a->svc[a->n_svc++];
		*v = (struct service){ pid, start, (uint32_t)cred->uid, c, RING_WANT_ANY, true, 0 };
	}
	v->running = true;
	v->ended_ns = 0;
	if (v->want)
		__atomic_store_n(&r->hdr->want, v->want, __ATOMIC_RELEASE);
	a->events++;
	return v->c;
}

/* A process image went: its service has ended when none of its processes
 * is watched any more. */
static void gone(struct session *s, const struct session_watched *w, void *arg)
{
	struct agent *a = arg;
	struct service *v = service_of(a, w->c);
	if (!v)
		return;
	for (size_t i = 0; i < s->n_w; i++)
		if (s->w[i].c == w->c)
			return;
	v->running = false;
	v->ended_ns = session_mono_now();
	a->events++;
}

static bool collector_in_use(const struct agent *a, const struct collector *c)
{
	for (size_t i = 0; i < a->s.n_ring; i++)
		if (a->s.ring_c[i] == c)
			return true;
	for (size_t i = 0; i < a->s.n_w; i++)
		if (a->s.w[i].c == c)
			return true;
	return false;
}

static void drop_service(struct agent *a, size_t i)
{
	collector_free(a->svc[i].c);
	memmove(&a->svc[i], &a->svc[i + 1], (a->n_svc - i - 1) * sizeof(*a->svc));
	a->n_svc--;
	a->events++;
}

/* Ended services go after keep_ns, and the oldest beyond max_ended. */
static void prune(struct agent *a)
{
	uint64_t now = session_mono_now();
	for (;;) {
		size_t ended = 0, oldest = SIZE_MAX;
		for (size_t i = 0; i < a->n_svc; i++) {
			const struct service *v = &a->svc[i];
			if (v->running || collector_in_use(a, v->c))
				continue;
			ended++;
			if (oldest == SIZE_MAX || v->ended_ns < a->svc[oldest].ended_ns)
				oldest = i;
		}
		if (oldest == SIZE_MAX ||
		    (ended <= a->max_ended && now - a->svc[oldest].ended_ns < a->keep_ns))
			return;
		drop_service(a, oldest);
	}
}

/* ---- the profiles, for lib/serve.c ------------------------------------------------- */

/* Service v's profile, or (pid non-zero) that of its process pid alone. A
 * running service's runs from its first process's start to now; an ended
 * one's to its last process's end. */
static struct profile *service_profile(struct agent *a, struct service *v, bool pid_labels,
				       uint32_t pid)
{
	struct collector_meta meta = { 0 };
	const char *cm[4];
	char *owned = NULL;
	meta.comments = a->comments;
	meta.pid_labels = pid_labels;
	meta.one_pid = pid;
	if (pid) {
		if (serve_pid_comments(v->c, pid, a->comments, cm, &owned) < 0)
			return NULL;
		meta.comments = cm;
	}
	struct collector_proc_info info;
	uint64_t start = 0;
	for (size_t i = 0; collector_proc_info(v->c, i, &info); i++)
		if (info.start_ns && (!start || info.start_ns < start))
			start = info.start_ns;
	if (v->running && start)
		collector_set_span(v->c, start, agent_now(a));
	else
		collector_set_span(v->c, 0, 0);	/* to its last process's end */
	struct profile *p = collector_profile(v->c, &meta);
	free(owned);
	return p;
}

static struct profile *src_profile(void *data, uint32_t pid, int *err)
{
	struct agent *a = data;
	*err = -ENOMEM;
	if (pid) {
		struct service *v = service_with_pid(a, pid);
		if (!v) {
			*err = -ENOENT;
			return NULL;
		}
		return service_profile(a, v, true, pid);
	}
	/* all: each service's, merged (pid labels tell them apart) */
	struct profile **each = calloc(a->n_svc + 1, sizeof(*each)), *out = NULL;
	size_t n = 0;
	if (!each)
		return NULL;
	for (size_t i = 0; i < a->n_svc; i++) {
		struct collector_proc_info info;
		if (!collector_proc_info(a->svc[i].c, 0, &info))
			continue;	/* nothing from it yet */
		if (!(each[n] = service_profile(a, &a->svc[i], true, 0)))
			goto out;
		n++;
	}
	if (n == 0) {
		struct collector *empty = collector_new();
		if (empty) {
			struct collector_meta meta = { 0 };
			meta.comments = a->comments;
			out = collector_profile(empty, &meta);
			collector_free(empty);
		}
	} else if (n == 1) {
		out = each[0];
		each[0] = NULL;
	} else {
		char msg[256];
		int rc = profile_merge(&out, (const struct profile *const *)each, n, msg, sizeof(msg));
		if (rc < 0)
			out = NULL;
	}
out:
	for (size_t i = 0; i < n; i++)
		profile_free(each[i]);
	free(each);
	return out;
}

static uint64_t src_generation(void *data)
{
	struct agent *a = data;
	session_refresh(&a->s);	/* what the services did before the request */
	uint64_t sum = a->events << 40;
	for (size_t i = 0; i < a->n_svc; i++) {
		const struct collector_stats *st = collector_stats(a->svc[i].c);
		sum += st->allocs + st->frees + st->processes + st->lost;
	}
	return sum;
}

/* Process i for the index page: every process image of every service. */
static bool src_process(void *data, size_t i, struct serve_process *out)
{
	struct agent *a = data;
	for (size_t k = 0; k < a->n_svc; k++) {
		struct collector_proc_info info;
		for (size_t j = 0; collector_proc_info(a->svc[k].c, j, &info); j++) {
			if (i--)
				continue;
			snprintf(a->proc_exe, sizeof(a->proc_exe), "%s", info.exe ? info.exe : "");
			snprintf(a->proc_cmd, sizeof(a->proc_cmd), "%s", info.cmdline ? info.cmdline : "");
			*out = (struct serve_process){ info.pid, a->proc_exe, a->proc_cmd,
						       !info.ended && !info.gone, info.sampling,
						       a->svc[k].pid, info.partial_since_ns,
						       info.away_lost };
			return true;
		}
	}
	return false;
}

/* ---- POST /debug/pprof/sampling?pid=N&on=1 --------------------------------------------- */

/* POST with on=1 or on=0 (and pid=N for one service, else all): switches
 * sampling, answers what it switched. (GET is lib/serve.c's.) */
static int sampling_handler(struct http_request *req, void *data)
{
	struct agent *a = data;
	const char *pid_s = http_request_query(req, "pid");
	uint32_t pid = 0;
	if (pid_s) {
		char *end;
		errno = 0;
		unsigned long v = strtoul(pid_s, &end, 10);
		if (errno || end == pid_s || *end || !v || v > UINT32_MAX) {
			http_respond_text(req, 400, "text/plain; charset=utf-8", NULL,
					  "invalid value for \"pid\" - must be a process id\n");
			return 0;
		}
		pid = (uint32_t)v;
	}
	struct service *one = pid ? service_with_pid(a, pid) : NULL;
	if (pid && !one) {
		http_respond_text(req, 404, "text/plain; charset=utf-8", NULL, "no such process\n");
		return 0;
	}
	const char *on = http_request_query(req, "on");
	if (!on || (strcmp(on, "0") && strcmp(on, "1"))) {
		http_respond_text(req, 400, "text/plain; charset=utf-8", NULL,
				  "POST needs on=1 (sampling on) or on=0 (off)\n");
		return 0;
	}
	size_t n = 0;
	for (size_t i = 0; i < a->n_svc; i++) {
		struct service *v = &a->svc[i];
		if ((one && v != one) || !v->running)
			continue;
		v->want = *on == '1' ? RING_WANT_ON : RING_WANT_OFF;
		session_set_sampling(&a->s, v->c, *on == '1');
		n++;
	}
	a->events++;
	char line[128];
	snprintf(line, sizeof(line), "sampling %s for %zu service%s (at each one's next "
		 "sampled allocation)\n", *on == '1' ? "on" : "off", n, n == 1 ? "" : "s");
	http_respond_text(req, 200, "text/plain; charset=utf-8", NULL, line);
	return 0;
}

/* ---- the loop ---------------------------------------------------------------------- */

/* One step: the server's descriptors join the session's poll. */
static void step(struct agent *a)
{
	session_step(&a->s, serve_session_begin(a->srv, &a->s, 100));
	serve_session_end(a->srv, &a->s);
	prune(a);
}

static int parse_group(const char *name, gid_t *gid)
{
	struct group *g = getgrnam(name);
	if (g) {
		*gid = g->gr_gid;
		return 0;
	}
	char *end;
	errno = 0;
	unsigned long v = strtoul(name, &end, 10);
	if (errno || end == name || *end)
		return -1;
	*gid = (gid_t)v;
	return 0;
}

static const char *listen_error(int e)
{
	switch (e) {
	case -EADDRINUSE: return "another memprof agent listens there";
	case -ELOOP: return "is a symbolic link: refused";
	case -ENOTSOCK: return "exists and is not a socket: refused";
	case -EPERM: return "its directory may be changed by others than its owner and root, or "
			    "the socket there is someone else's: refused";
	default: return strerror(-e);
	}
}

int cmd_agent(int argc, char **argv)
{
	const char *sock = NULL, *http = NULL, *group = NULL;
	int64_t keep_ms = 10 * 60 * 1000;
	uint64_t max_ended = 32;
	bool quiet = false;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = NULL;
		if (!strcmp(a, "-h") || !strcmp(a, "--help"))
			return usage("agent", true);
		if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
			quiet = true;
			continue;
		}
		static const char *const valued[] = { "--socket", "--http", "--group", "--keep-ended",
						       "--max-ended" };
		size_t k, len = 0;
		for (k = 0; k < sizeof(valued) / sizeof(valued[0]); k++) {
			len = strlen(valued[k]);
			if (!strncmp(a, valued[k], len) && (a[len] == '=' || !a[len]))
				break;
		}
		if (k == sizeof(valued) / sizeof(valued[0])) {
			error("agent: %s '%s'", a[0] == '-' ? "unknown option" : "unexpected argument", a);
			return usage("agent", false);
		}
		if (a[len] == '=') {
			v = a + len + 1;
		} else if (i + 1 < argc) {
			v = argv[++i];
		} else {
			error("agent: option '%s' needs a value", a);
			return usage("agent", false);
		}
		switch (k) {
		case 0: sock = v; break;
		case 1: http = v; break;
		case 2: group = v; break;
		case 3:
			if ((keep_ms = units_parse_duration(v)) < 0) {
				error("agent: invalid duration '%s' (e.g. 30s, 10m, 1h)", v);
				return usage("agent", false);
			}
			break;
		case 4:
			if (units_parse_count(v, 0, 1000000, &max_ended) < 0) {
				error("agent: --max-ended wants a number of services, not '%s'", v);
				return usage("agent", false);
			}
			break;
		}
	}
	if (!sock || !*sock) {
		error("agent: --socket=PATH is needed (the socket services connect to)");
		return usage("agent", false);
	}
	if (sock[0] != '/') {
		error("agent: %s: the socket must be an absolute path (services find it by "
		      "MEMPROF_AGENT wherever they run)", sock);
		return usage("agent", false);
	}
	if (!http || !*http) {
		error("agent: --http=ADDR:PORT is needed (the profiles are served there)");
		return usage("agent", false);
	}
	struct agent a;
	memset(&a, 0, sizeof(a));
	session_init(&a.s, NULL);
	a.keep_ns = (uint64_t)keep_ms * 1000000u;
	a.max_ended = (size_t)max_ended;
	a.quiet = quiet;
	snprintf(a.version, sizeof(a.version), "memprof %s agent", MEMPROF_VERSION);
	a.comments[0] = a.version;
	a.comments[1] = NULL;
	if (group && parse_group(group, &a.s.allow_gid) < 0) {
		error("agent: %s: no such group", group);
		return 1;
	}
	struct serve_source src = { src_profile, src_generation, src_process, &a };
	char err[256];
	int rc = serve_open(&a.srv, http, &src, NULL, err, sizeof(err));
	if (rc < 0) {
		error("agent: %s", err);
		return 1;
	}
	if (serve_handle(a.srv, "POST", "/debug/pprof/sampling", sampling_handler, &a) < 0) {
		error("out of memory");
		serve_close(a.srv);
		return 1;
	}
	serve_set_index_note(a.srv,
		"<p>\nSampling: <a href='sampling'>sampling</a> lists each process's state "
		"(<code>PID on|off running|ended [partial since TIME]</code>);<br>\n"
		"<code>POST /debug/pprof/sampling?pid=N&amp;on=1</code> switches it on for the "
		"service of process N (<code>on=0</code>: off; no <code>pid</code>: every "
		"running service), at its next sampled allocation.\n</p>\n");
	if ((rc = session_listen(&a.s, sock)) < 0) {
		error("agent: %s: %s", sock, listen_error(rc));
		serve_close(a.srv);
		return 1;
	}
	a.s.route = route;
	a.s.no_thread_rings = true;	/* its trackers never make them */
	a.s.gone = gone;
	a.s.cb_arg = &a;
	a.s.start_ns = session_wall_now();
	a.s.start_mono_ns = session_mono_now();

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (!quiet)
		fprintf(stderr, "memprof agent: collecting from %s; serving "
			"http://%s/debug/pprof/\n", sock, serve_address(a.srv));
	uint64_t refused_told = 0, forged_told = 0;
	bool told_oom = false;
	while (!stop_asked) {
		step(&a);
		if (a.s.refused > refused_told) {
			error("agent: refused a connection from uid %u (only uid %u, root%s%s may "
			      "connect)", a.s.last_refused_uid, (unsigned)geteuid(),
			      group ? " and group " : "", group ? group : "");
			refused_told = a.s.refused;
		}
		if (a.s.forged > forged_told) {
			error("agent: %s", a.s.forged_why);
			forged_told = a.s.forged;
		}
		if (a.s.out_of_memory && !told_oom) {
			error("agent: out of memory collecting records");
			told_oom = true;
		}
	}
	serve_close(a.srv);
	session_release(&a.s);
	for (size_t i = 0; i < a.n_svc; i++)
		collector_free(a.svc[i].c);
	free(a.svc);
	return 0;
}
