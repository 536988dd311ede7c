/* serve.c - Go's /debug/pprof endpoints (see serve.h): requests wait for a
 * snapshot of the source's profile that is new enough, every request of
 * one snapshot shares it and the bytes of each of its views. */
#include "serve.h"

#include <errno.h>
#include <inttypes.h>
#include <math.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "arena.h"
#include "collect.h"
#include "pprof.h"
#include "profile.h"
#include "session.h"
#include "strbuf.h"

enum kind { HEAP, ALLOCS, PEAK, N_KIND };
static const char *const kind_name[N_KIND] = { "heap", "allocs", "peak" };
static const char *const kind_desc[N_KIND] = {
	"A sampling of memory allocations of live objects (inuse_space by default; "
	"alloc_objects, alloc_space, inuse_objects too). ?pid=N for one process.",
	"A sampling of all past memory allocations (alloc_space by default; the same "
	"data as heap). ?pid=N for one process.",
	"The live set at each process's highest heap in use (peak_objects, peak_space).",
};

#define MAX_SNAPS 16	/* snapshots kept: all processes, and some ?pid= */

struct snap {
	uint32_t pid;		/* 0: every process */
	unsigned refs;		/* the list's, and each delta's that holds it */
	bool absent;		/* the source has no such process */
	bool listed;
	uint64_t generation;
	uint64_t built_ns;	/* monotonic */
	int64_t wall_ns;
	struct profile *p;
	struct http_blob *blob[N_KIND][2];	/* [kind][debug] */
	struct symbol *sym;	/* by address, for /debug/pprof/symbol; made when asked */
	size_t n_sym;
};

struct symbol {
	uint64_t address;	/* a location's, as ?debug=1 prints it */
	/* its innermost function's (the snapshot's string), or for an
	 * address without one, "[FILE]" as pprof names it (owned) */
	const char *name;
	char *own;
};

struct pending {
	struct http_request *req;
	enum kind kind;
	bool debug;
	uint32_t pid;
	int seconds;		/* a delta: over this many seconds */
	uint64_t after_ns;	/* the snapshot wanted is built at or after this */
	struct snap *base;	/* a delta's start, once taken */
	int64_t base_wall_ns;	/* when it was taken (the snapshot may be older,
				 * when nothing had changed since) */
};

struct serve {
	struct http_server *http;
	struct serve_source src;
	struct serve_options opt;
	struct snap *snaps[MAX_SNAPS];
	size_t n_snaps;
	struct pending *pend;
	size_t n_pend, cap_pend;
	uint64_t wake_ns;	/* when a waiting request can be answered; 0: none */
	uint64_t profiles, builds, build_ns, render_ns;
	struct pollfd *pfd;	/* serve_session_begin's, until serve_session_end */
	size_t n_pfd, cap_pfd;
	const char *index_note;	/* HTML for the index's end (serve_set_index_note), or NULL */
	struct post_route **post;	/* serve_handle's POST handlers, behind the Origin check */
	size_t n_post, cap_post;
};

struct post_route {
	struct serve *s;
	http_handler_fn fn;
	void *data;
};

static uint64_t mono_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static uint64_t cpu_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static int64_t wall_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000000 + t.tv_nsec;
}

/* ---- snapshots ------------------------------------------------------------ */

static void snap_unref(struct snap *sn)
{
	if (!sn || --sn->refs)
		return;
	for (int k = 0; k < N_KIND; k++)
		for (int d = 0; d < 2; d++)
			http_blob_unref(sn->blob[k][d]);
	profile_free(sn->p);
	for (size_t i = 0; i < sn->n_sym; i++)
		free(sn->sym[i].own);
	free(sn->sym);
	free(sn);
}

static void unlist(struct serve *s, size_t i)
{
	s->snaps[i]->listed = false;
	snap_unref(s->snaps[i]);
	s->snaps[i] = s->snaps[--s->n_snaps];
}

int serve_pid_comments(const struct collector *c, uint32_t pid, const char *const *comments,
		       const char *cm[4], char **owned)
{
	struct collector_proc_info info;
	const char *cmd = NULL;
	size_t n = 0;
	for (size_t i = 0; collector_proc_info(c, i, &info); i++)
		if (info.pid == pid)
			cmd = *info.cmdline ? info.cmdline : info.exe;
	const char *run = comments && comments[0] && comments[1] &&
			  !strncmp(comments[1], "command: ", 9) ? comments[1] + 9 : NULL;
	if (comments && comments[0])
		cm[n++] = comments[0];
	*owned = NULL;
	if (cmd) {
		struct strbuf b = { 0 };
		strbuf_puts(&b, "command: ");
		strbuf_puts(&b, cmd);
		if (run && strcmp(run, cmd)) {
			strbuf_addc(&b, '\0');
			strbuf_puts(&b, "run: ");
			strbuf_puts(&b, run);
		}
		if (b.failed) {
			free(b.s);
			return -ENOMEM;
		}
		*owned = b.s;
		cm[n++] = b.s;
		if (run && strcmp(run, cmd))
			cm[n++] = b.s + strlen(b.s) + 1;
	}
	cm[n] = NULL;
	return 0;
}

enum { SNAP_WAIT = 1 };

/* ?seconds= requests waiting at once (the server takes 128 connections) */
#define SERVE_MAX_DELTAS 16

/* The snapshot of pid for a request that wants one built at or after
 * after_ns: *out, 0; SNAP_WAIT when it must wait for min_rebuild_ms (the
 * wake time is noted); -ENOMEM. */
static int get_snap(struct serve *s, uint32_t pid, uint64_t after_ns, struct snap **out)
{
	struct snap *sn = NULL;
	size_t at = 0;
	for (size_t i = 0; i < s->n_snaps; i++)
		if (s->snaps[i]->pid == pid) {
			sn = s->snaps[i];
			at = i;
		}
	uint64_t gen = s->src.generation(s->src.data), now = mono_ns();
	if (sn && (sn->built_ns >= after_ns || sn->generation == gen)) {
		*out = sn;
		return 0;
	}
	uint64_t gap = (uint64_t)s->opt.min_rebuild_ms * 1000000u;
	if (sn && now < sn->built_ns + gap) {
		if (!s->wake_ns || sn->built_ns + gap < s->wake_ns)
			s->wake_ns = sn->built_ns + gap;
		return SNAP_WAIT;
	}
	struct snap *fresh = calloc(1, sizeof(*fresh));
	if (!fresh)
		return -ENOMEM;
	uint64_t cpu = cpu_ns();
	int err = 0;
	fresh->generation = gen;
	fresh->p = s->src.profile(s->src.data, pid, &err);
	s->build_ns += cpu_ns() - cpu;
	s->builds++;
	fresh->built_ns = mono_ns();
	fresh->wall_ns = wall_ns();
	fresh->pid = pid;
	fresh->refs = 1;
	fresh->listed = true;
	if (!fresh->p && err != -ENOENT) {
		free(fresh);
		return -ENOMEM;
	}
	fresh->absent = !fresh->p;
	if (sn)
		unlist(s, at);
	if (s->n_snaps == MAX_SNAPS) {	/* the oldest goes */
		size_t old = 0;
		for (size_t i = 1; i < s->n_snaps; i++)
			if (s->snaps[i]->built_ns < s->snaps[old]->built_ns)
				old = i;
		unlist(s, old);
	}
	s->snaps[s->n_snaps++] = fresh;
	*out = fresh;
	return 0;
}

/* ---- views: what each endpoint shows of a snapshot ------------------------- */

/* p's samples with kind's sample types (a shallow copy sharing p's
 * objects): heap and allocs the first four, peak the last two. */
static int view(const struct profile *p, enum kind kind, struct profile *v,
		struct profile_sample **samples)
{
	*v = *p;
	*samples = NULL;
	v->timeline = NULL;	/* Go's endpoints have none; memprof's file has it */
	if (p->n_sample_type < 6)
		return -EINVAL;
	if (kind == PEAK) {
		if (p->n_sample && !(*samples = malloc(p->n_sample * sizeof(**samples))))
			return -ENOMEM;
		for (size_t i = 0; i < p->n_sample; i++) {
			(*samples)[i] = p->sample[i];
			(*samples)[i].value += 4;
		}
		v->sample = *samples;
		v->sample_type = p->sample_type + 4;
		v->n_sample_type = 2;
		v->default_sample_type = "peak_space";
	} else {
		v->n_sample_type = 4;
		v->default_sample_type = kind == HEAP ? "inuse_space" : "alloc_space";
	}
	return 0;
}

/* Go's handler writes its legacy text with text/tabwriter (minwidth 1,
 * tabwidth 8, padding 1, tabs): each column of a block of lines as wide
 * as its widest cell plus one, rounded up to a tab stop, filled with tabs. */
static void add_tabs(struct strbuf *b, size_t textw, size_t colw)
{
	size_t cellw = (colw + 7) / 8 * 8;
	for (size_t n = (cellw - textw + 7) / 8; n; n--)
		strbuf_addc(b, '\t');
}

/* The sampled count and bytes that pprof, reading Go's legacy text,
 * scales back to n and bytes: it scales each pair by its average size
 * (scaleHeapSample), so the pair is unscaled by that same average (a
 * sample holds a size class's blocks, not one size). */
static void unscale(int64_t n, int64_t bytes, int64_t rate, uint64_t *rn, uint64_t *rb)
{
	*rn = *rb = 0;
	if (n <= 0 || bytes <= 0)
		return;
	double avg = (double)bytes / (double)n;
	double scale = rate > 1 ? 1 / (1 - exp(-avg / (double)rate)) : 1;
	*rn = (uint64_t)llround((double)n / scale);
	*rb = (uint64_t)llround((double)bytes / scale);
}

struct legacy_rec {
	const struct profile_sample *s;
	uint64_t inuse_n, inuse_b, alloc_n, alloc_b;
};

static int by_inuse(const void *x, const void *y)
{
	const struct legacy_rec *a = x, *b = y;
	return a->inuse_b < b->inuse_b ? 1 : a->inuse_b > b->inuse_b ? -1 : 0;
}

/* Go's legacy text heap profile (runtime/pprof writeHeapInternal, debug=1):
 * the sampled counts (pprof scales them on reading, as for Go's), the rate
 * twice as Go writes it, the records by in-use bytes, each with its
 * return addresses and, under it, its frames. Peak writes the live set at
 * the peak as the in-use columns. Go's runtime.MemStats have no
 * counterpart. */
static int legacy_text(const struct profile *p, enum kind kind, struct strbuf *b)
{
	int64_t rate = p->period > 0 ? p->period : 1;
	struct legacy_rec *rec = p->n_sample ? calloc(p->n_sample, sizeof(*rec)) : NULL;
	if (p->n_sample && !rec)
		return -ENOMEM;
	uint64_t tot[4] = { 0 };
	for (size_t i = 0; i < p->n_sample; i++) {
		const struct profile_sample *smp = &p->sample[i];
		const int64_t *v = smp->value;
		int in = kind == PEAK ? 4 : 2;
		rec[i].s = smp;
		unscale(v[in], v[in + 1], rate, &rec[i].inuse_n, &rec[i].inuse_b);
		unscale(v[0], v[1], rate, &rec[i].alloc_n, &rec[i].alloc_b);
		tot[0] += rec[i].inuse_n;
		tot[1] += rec[i].inuse_b;
		tot[2] += rec[i].alloc_n;
		tot[3] += rec[i].alloc_b;
	}
	qsort(rec, p->n_sample, sizeof(*rec), by_inuse);
	char line[256];
	snprintf(line, sizeof(line), "heap profile: %" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64
		 "] @ heap/%" PRId64 "\n", tot[0], tot[1], tot[2], tot[3], 2 * rate);
	strbuf_puts(b, line);
	for (size_t i = 0; i < p->n_sample; i++) {
		const struct profile_sample *smp = rec[i].s;
		snprintf(line, sizeof(line), "%" PRIu64 ": %" PRIu64 " [%" PRIu64 ": %" PRIu64 "] @",
			 rec[i].inuse_n, rec[i].inuse_b, rec[i].alloc_n, rec[i].alloc_b);
		strbuf_puts(b, line);
		for (size_t j = 0; j < smp->n_location; j++) {
			/* return addresses, as Go lists them (ours are inside the call) */
			snprintf(line, sizeof(line), " %#" PRIx64, smp->location[j]->address + 1);
			strbuf_puts(b, line);
		}
		strbuf_addc(b, '\n');
		/* "#\tADDRESS\tFUNCTION\tFILE:LINE", the first two columns aligned */
		size_t w_addr = 0, w_name = 0;
		for (size_t j = 0; j < smp->n_location; j++) {
			const struct profile_location *l = smp->location[j];
			size_t aw = (size_t)snprintf(line, sizeof(line), "%#" PRIx64, l->address) + 1;
			w_addr = aw > w_addr ? aw : w_addr;
			for (size_t k = 0; k < l->n_line; k++) {
				size_t nw = (l->line[k].function ? strlen(l->line[k].function->name) : 0) + 1;
				w_name = nw > w_name ? nw : w_name;
			}
		}
		for (size_t j = 0; j < smp->n_location; j++) {
			const struct profile_location *l = smp->location[j];
			char addr[32];
			size_t aw = (size_t)snprintf(addr, sizeof(addr), "%#" PRIx64, l->address);
			if (!l->n_line) {
				strbuf_puts(b, "#\t");
				strbuf_puts(b, addr);
				strbuf_addc(b, '\n');
				continue;
			}
			for (size_t k = 0; k < l->n_line; k++) {
				const struct profile_function *fn = l->line[k].function;
				const char *name = fn ? fn->name : "";
				strbuf_puts(b, "#\t");
				strbuf_puts(b, addr);
				add_tabs(b, aw, w_addr);
				strbuf_puts(b, name);
				if (fn && *fn->filename) {	/* no file: no file:line */
					add_tabs(b, strlen(name), w_name);
					snprintf(line, sizeof(line), ":%" PRId64, l->line[k].line);
					strbuf_puts(b, fn->filename);
					strbuf_puts(b, line);
				}
				strbuf_addc(b, '\n');
			}
		}
		strbuf_addc(b, '\n');
	}
	free(rec);
	return b->failed ? -ENOMEM : 0;
}

/* The bytes of p's view kind: gzip'd protobuf, or the legacy text. */
static struct http_blob *render(struct serve *s, const struct profile *p, enum kind kind,
				bool debug)
{
	uint64_t cpu = cpu_ns();
	struct profile v;
	struct profile_sample *samples;
	struct http_blob *blob = NULL;
	if (view(p, kind, &v, &samples) == 0) {
		if (debug) {
			struct strbuf b = { 0 };
			if (legacy_text(&v, kind, &b) == 0)
				blob = http_blob_new(b.s ? b.s : "", b.len);
			free(b.s);
		} else {
			uint8_t *buf;
			size_t len;
			if (pprof_encode(&v, PPROF_GZIP_FAST, &buf, &len) == 0) {
				blob = http_blob_new(buf, len);
				free(buf);
			}
		}
	}
	free(samples);
	s->render_ns += cpu_ns() - cpu;
	return blob;
}

/* ---- answering ------------------------------------------------------------ */

/* Go's serveError: text, and X-Go-Pprof so that go tool pprof prints the
 * message as it is. */
static void serve_error(struct http_request *req, int status, const char *msg)
{
	char text[256];
	snprintf(text, sizeof(text), "%s\n", msg);
	http_respond_text(req, status, "text/plain; charset=utf-8",
			  "X-Content-Type-Options: nosniff\r\nX-Go-Pprof: 1\r\n", text);
}

static void answer_blob(struct serve *s, struct pending *pd, struct http_blob *blob, bool delta)
{
	char hdr[160];
	s->profiles++;
	if (pd->debug) {
		http_respond(pd->req, 200, "text/plain; charset=utf-8",
			     "X-Content-Type-Options: nosniff\r\n", blob);
		return;
	}
	snprintf(hdr, sizeof(hdr), "Content-Disposition: attachment; filename=\"%s%s\"\r\n"
		 "X-Content-Type-Options: nosniff\r\n", kind_name[pd->kind], delta ? "-delta" : "");
	http_respond(pd->req, 200, "application/octet-stream", hdr, blob);
}

/* Go's delta (net/http/pprof serveDeltaProfile): the end minus the start,
 * stamped with the end's time and the span between them. */
static struct http_blob *delta_blob(struct serve *s, const struct snap *b0, int64_t start_ns,
				    const struct snap *b1, enum kind kind)
{
	struct profile *d = NULL;
	const struct profile *one[1] = { b1->p };
	const struct profile *base[1] = { b0->p };
	char msg[256];
	struct http_blob *blob = NULL;
	uint64_t cpu = cpu_ns();
	if (profile_merge(&d, one, 1, msg, sizeof(msg)) == 0 &&
	    profile_subtract(d, base, 1, PROFILE_BASE, msg, sizeof(msg)) == 0) {
		/* now and the request's start: either snapshot may be older,
		 * if nothing changed between it and then */
		int64_t end = wall_ns();
		/* the end's comments only: subtracting added the start's that
		 * differ (the programs' shares, which moved), so each twice */
		d->n_comment = 0;
		for (size_t i = 0; i < b1->p->n_comment; i++)
			if (profile_add_comment(d, b1->p->comment[i]) < 0)
				goto out;
		d->time_nanos = end;
		d->duration_nanos = end - start_ns;
		d->period = b1->p->period;
		s->render_ns += cpu_ns() - cpu;
		blob = render(s, d, kind, false);
	}
out:
	profile_free(d);
	return blob;
}

/* Tries to answer pd. Returns true when it is answered (or dropped). */
static bool try_answer(struct serve *s, struct pending *pd)
{
	if (http_request_gone(pd->req)) {
		http_respond(pd->req, 503, NULL, NULL, NULL);	/* frees it */
		return true;
	}
	uint64_t now = mono_ns();
	if (pd->base && now < pd->after_ns) {	/* a delta, not over yet */
		if (!s->wake_ns || pd->after_ns < s->wake_ns)
			s->wake_ns = pd->after_ns;
		return false;
	}
	struct snap *sn;
	int rc = get_snap(s, pd->pid, pd->after_ns, &sn);
	if (rc == SNAP_WAIT)
		return false;
	if (rc < 0) {
		serve_error(pd->req, 503, "out of memory");
		return true;
	}
	if (sn->absent) {
		char msg[64];
		snprintf(msg, sizeof(msg), "no process %u", pd->pid);
		serve_error(pd->req, 404, msg);
		return true;
	}
	if (pd->seconds && !pd->base) {	/* a delta starts */
		pd->base = sn;
		pd->base_wall_ns = wall_ns();
		sn->refs++;
		pd->after_ns = now + (uint64_t)pd->seconds * 1000000000u;
		if (!s->wake_ns || pd->after_ns < s->wake_ns)
			s->wake_ns = pd->after_ns;
		return false;
	}
	struct http_blob *blob;
	if (pd->base) {
		blob = delta_blob(s, pd->base, pd->base_wall_ns, sn, pd->kind);
	} else {
		struct http_blob **cached = &sn->blob[pd->kind][pd->debug];
		if (!*cached)
			*cached = render(s, sn->p, pd->kind, pd->debug);
		blob = http_blob_ref(*cached);
	}
	if (!blob)
		serve_error(pd->req, 503, "out of memory");
	else
		answer_blob(s, pd, blob, pd->base != NULL);
	return true;
}

static void run_pending(struct serve *s)
{
	s->wake_ns = 0;
	for (size_t i = 0; i < s->n_pend;) {
		if (try_answer(s, &s->pend[i])) {
			snap_unref(s->pend[i].base);
			s->pend[i] = s->pend[--s->n_pend];
		} else {
			i++;
		}
	}
}

/* Go's strconv.Atoi on a parameter: 0 for "" or anything else that is not
 * a number (as Go's handlers take it), *ok false then. */
static long param_int(const char *v, bool *ok)
{
	char *end;
	*ok = false;
	if (!v || !*v)
		return 0;
	errno = 0;
	long n = strtol(v, &end, 10);
	if (errno || *end || n < INT32_MIN || n > INT32_MAX)
		return 0;
	*ok = true;
	return n;
}

static int profile_handler(struct http_request *req, void *data)
{
	struct serve *s = data;
	const char *name = http_request_path(req) + strlen("/debug/pprof/");
	enum kind kind = N_KIND;
	for (int k = 0; k < N_KIND; k++)
		if (!strcmp(name, kind_name[k]))
			kind = (enum kind)k;
	if (kind == N_KIND) {
		serve_error(req, 404, "Unknown profile");
		return 0;
	}
	bool ok;
	struct pending pd = { req, kind, false, 0, 0, http_request_time(req), NULL, 0 };
	const char *pid = http_request_query(req, "pid");
	if (pid) {
		long n = param_int(pid, &ok);
		if (!ok || n <= 0) {
			serve_error(req, 400, "invalid value for \"pid\" - must be a process id");
			return 0;
		}
		pd.pid = (uint32_t)n;
	}
	pd.debug = param_int(http_request_query(req, "debug"), &ok) != 0;
	const char *sec = http_request_query(req, "seconds");
	if (sec && *sec) {
		long n = param_int(sec, &ok);
		if (!ok || n <= 0) {
			serve_error(req, 400, "invalid value for \"seconds\" - must be a positive integer");
			return 0;
		}
		if (kind == PEAK) {
			serve_error(req, 400, "\"seconds\" parameter is not supported for this profile type");
			return 0;
		}
		if (n > s->opt.max_seconds) {
			char msg[96];
			snprintf(msg, sizeof(msg), "invalid value for \"seconds\" - at most %d",
				 s->opt.max_seconds);
			serve_error(req, 400, msg);
			return 0;
		}
		if (pd.debug) {
			serve_error(req, 400, "seconds and debug params are incompatible");
			return 0;
		}
		/* each waits its seconds holding a connection: a few at a time,
		 * so that they never take the slots of immediate requests */
		size_t deltas = 0;
		for (size_t i = 0; i < s->n_pend; i++)
			deltas += s->pend[i].seconds > 0;
		if (deltas >= SERVE_MAX_DELTAS) {
			serve_error(req, 503, "too many ?seconds= profiles in progress: try again later");
			return 0;
		}
		pd.seconds = (int)n;
	}
	/* ?gc=1: Go runs a collection first; the heap here is malloc's, and
	 * what is freed is already out of the profile */
	if (array_grow(&s->pend, &s->cap_pend, s->n_pend, sizeof(*s->pend)) < 0) {
		serve_error(req, 503, "out of memory");
		return 0;
	}
	s->pend[s->n_pend++] = pd;
	return HTTP_PENDING;
}

/* ---- /debug/pprof/symbol ----------------------------------------------------- */

static int by_address(const void *x, const void *y)
{
	const struct symbol *a = x, *b = y;
	return a->address < b->address ? -1 : a->address > b->address;
}

/* sn's locations by address, made the first time they are asked for */
static int snap_symbols(struct snap *sn)
{
	if (sn->sym || sn->absent || !sn->p->n_location)
		return 0;
	const struct profile *p = sn->p;
	if (!(sn->sym = malloc(p->n_location * sizeof(*sn->sym))))
		return -ENOMEM;
	for (size_t i = 0; i < p->n_location; i++) {
		const struct profile_location *l = p->location[i];
		const struct profile_function *fn = l->n_line ? l->line[0].function : NULL;
		const char *file = l->mapping ? l->mapping->filename : "";
		if (fn && *fn->name) {
			sn->sym[sn->n_sym++] = (struct symbol){ l->address, fn->name, NULL };
		} else if (*file) {
			const char *base = strrchr(file, '/');
			char *own = malloc(strlen(base ? base + 1 : file) + 3);
			if (!own) {
				for (size_t k = 0; k < sn->n_sym; k++)
					free(sn->sym[k].own);
				free(sn->sym);
				sn->sym = NULL;
				sn->n_sym = 0;
				return -ENOMEM;
			}
			sprintf(own, "[%s]", base ? base + 1 : file);
			sn->sym[sn->n_sym++] = (struct symbol){ l->address, own, own };
		}
	}
	qsort(sn->sym, sn->n_sym, sizeof(*sn->sym), by_address);
	return 0;
}

static const char *symbol_name(const struct snap *sn, uint64_t address)
{
	struct symbol key = { address, NULL, NULL };
	const struct symbol *f = sn->n_sym ? bsearch(&key, sn->sym, sn->n_sym, sizeof(key), by_address)
					   : NULL;
	return f ? f->name : NULL;
}

#define SYMBOL_ANSWER_MAX ((size_t)4 << 20)	/* bytes of /debug/pprof/symbol's answer */

/* Whether pc (not 0) is in the set seen (cap a power of two, 0: empty);
 * adds it if not. */
static bool seen_before(uint64_t *seen, size_t cap, uint64_t pc)
{
	for (size_t i = (size_t)(pc * 0x9e3779b97f4a7c15ull >> 20) & (cap - 1);;
	     i = (i + 1) & (cap - 1)) {
		if (seen[i] == pc)
			return true;
		if (!seen[i]) {
			seen[i] = pc;
			return false;
		}
	}
}

/* Go's net/http/pprof Symbol, which go tool pprof asks when it reads the
 * legacy text (?debug=1): "num_symbols: 1", then for each address of the
 * POST body (or, for GET, of the query), "0x... +"-separated, the line
 * "ADDRESS NAME" when the address is a location of a snapshot served (the
 * one of every process first; then those of ?pid=), as ?debug=1 prints it
 * in its frame lines. Unknown addresses get no line, as Go's; an address
 * asked twice, one; past SYMBOL_ANSWER_MAX bytes of answer, no more lines
 * (those addresses stay unnamed). */
static int symbol_handler(struct http_request *req, void *data)
{
	struct serve *s = data;
	size_t len = 0;
	const char *in = NULL;
	if (!strcmp(http_request_method(req), "POST"))
		in = http_request_body(req, &len);
	else if ((in = http_request_raw_query(req)))
		len = strlen(in);
	struct snap *sn;
	bool have = false;
	for (size_t i = 0; i < s->n_snaps; i++)
		have |= !s->snaps[i]->absent;
	if (!have && len && get_snap(s, 0, 0, &sn) < 0) {
		serve_error(req, 503, "out of memory");
		return 0;
	}
	struct snap *order[MAX_SNAPS];
	size_t n = 0;
	for (int all = 1; all >= 0; all--)
		for (size_t i = 0; i < s->n_snaps; i++)
			if ((s->snaps[i]->pid == 0) == all && snap_symbols(s->snaps[i]) == 0)
				order[n++] = s->snaps[i];
	/* each address answered once, and the answer kept under
	 * SYMBOL_ANSWER_MAX: a 64 KiB body of "1+1+..." must not make
	 * megabytes of the same line */
	size_t cap_seen = 16;
	while (cap_seen < len + 2)
		cap_seen *= 2;	/* over twice the addresses a body can hold */
	uint64_t *seen = calloc(cap_seen, sizeof(*seen));
	struct strbuf b = { 0 };
	strbuf_puts(&b, "num_symbols: 1\n");
	if (!seen)
		b.failed = true;
	for (size_t at = 0; seen && in && at < len;) {
		const char *plus = memchr(in + at, '+', len - at);
		size_t wl = plus ? (size_t)(plus - (in + at)) : len - at;
		char word[32];
		if (wl && wl < sizeof(word)) {
			memcpy(word, in + at, wl);
			word[wl] = '\0';
			char *end;
			errno = 0;
			uint64_t pc = strtoull(word, &end, 0);
			const char *name = NULL;
			for (size_t k = 0; !errno && !*end && pc && !name && k < n; k++)
				name = symbol_name(order[k], pc);
			if (name && !seen_before(seen, cap_seen, pc) &&
			    b.len + 20 + strlen(name) <= SYMBOL_ANSWER_MAX) {
				char line[48];
				snprintf(line, sizeof(line), "%#" PRIx64 " ", pc);
				strbuf_puts(&b, line);
				strbuf_puts(&b, name);
				strbuf_addc(&b, '\n');
			}
		}
		at += wl + 1;
	}
	free(seen);
	if (b.failed) {
		free(b.s);
		serve_error(req, 503, "out of memory");
		return 0;
	}
	http_respond_text(req, 200, "text/plain; charset=utf-8", "X-Content-Type-Options: nosniff\r\n",
			  b.s);
	free(b.s);
	return 0;
}

static void html_escape(struct strbuf *b, const char *s)
{
	for (; *s; s++) {
		switch (*s) {
		case '<': strbuf_puts(b, "&lt;"); break;
		case '>': strbuf_puts(b, "&gt;"); break;
		case '&': strbuf_puts(b, "&amp;"); break;
		case '"': strbuf_puts(b, "&#34;"); break;
		case '\'': strbuf_puts(b, "&#39;"); break;
		default: strbuf_addc(b, *s);
		}
	}
}

/* ---- processes: one row per process, its exec'd images folded -------------------- */

struct proc_row {
	struct serve_process p;	/* its latest image's, strings owned */
	struct strbuf from;	/* the images it exec'd from, oldest first, ", " between */
};

static void free_rows(struct proc_row *row, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free((char *)row[i].p.exe);
		free((char *)row[i].p.cmdline);
		free(row[i].from.s);
	}
	free(row);
}

/* The source's process images as one row per (group, pid): a process
 * that exec'd shows its latest image, and names those before it. Returns
 * 0 or -ENOMEM. */
static int list_processes(struct serve *s, struct proc_row **out, size_t *n_out)
{
	struct proc_row *row = NULL;
	size_t n = 0, cap = 0;
	struct serve_process sp;
	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; s->src.process && s->src.process(s->src.data, i, &sp); i++) {
		size_t k = n;
		while (k > 0 && (row[k - 1].p.pid != sp.pid || row[k - 1].p.group != sp.group))
			k--;
		char *exe = strdup(sp.exe), *cmd = strdup(sp.cmdline);
		if (!exe || !cmd || (!k && array_grow(&row, &cap, n, sizeof(*row)) < 0)) {
			free(exe);
			free(cmd);
			free_rows(row, n);
			return -ENOMEM;
		}
		struct proc_row *r;
		if (k) {	/* an exec'd image of a process listed already */
			r = &row[k - 1];
			if (r->from.len)
				strbuf_puts(&r->from, ", ");
			strbuf_puts(&r->from, *r->p.exe ? r->p.exe : "?");
			free((char *)r->p.exe);
			free((char *)r->p.cmdline);
		} else {
			r = &row[n++];
			memset(r, 0, sizeof(*r));
		}
		r->p = sp;
		r->p.exe = exe;
		r->p.cmdline = cmd;
		if (r->from.failed) {
			free_rows(row, n);
			return -ENOMEM;
		}
	}
	*out = row;
	*n_out = n;
	return 0;
}

/* GET /debug/pprof/sampling[?pid=N] (see serve.h) */
static int sampling_list_handler(struct http_request *req, void *data)
{
	struct serve *s = data;
	const char *pid_s = http_request_query(req, "pid");
	uint32_t pid = 0;
	bool ok;
	if (pid_s) {
		long v = param_int(pid_s, &ok);
		if (!ok || v <= 0) {
			http_respond_text(req, 400, "text/plain; charset=utf-8", NULL,
					  "invalid value for \"pid\" - must be a process id\n");
			return 0;
		}
		pid = (uint32_t)v;
	}
	struct proc_row *row;
	size_t n;
	if (list_processes(s, &row, &n) < 0) {
		serve_error(req, 503, "out of memory");
		return 0;
	}
	bool found = !pid;
	uint32_t group = 0;
	for (size_t i = 0; pid && i < n; i++)
		if (row[i].p.pid == pid) {
			found = true;
			group = row[i].p.group;
		}
	if (!found) {
		free_rows(row, n);
		http_respond_text(req, 404, "text/plain; charset=utf-8", NULL, "no such process\n");
		return 0;
	}
	struct strbuf b = { 0 };
	for (size_t i = 0; i < n; i++) {
		const struct serve_process *p = &row[i].p;
		char line[256];
		if (pid && group && p->group != group)
			continue;
		if (pid && !group && p->pid != pid)
			continue;
		snprintf(line, sizeof(line), "%u %s %s", p->pid, p->sampling ? "on" : "off",
			 p->running ? "running" : "ended");
		strbuf_puts(&b, line);
		if (p->partial_since_ns) {
			time_t t = (time_t)(p->partial_since_ns / 1000000000u);
			struct tm tm;
			char when[32];
			gmtime_r(&t, &tm);
			strftime(when, sizeof(when), "%Y-%m-%dT%H:%M:%SZ", &tm);
			snprintf(line, sizeof(line), " partial since %s (%llu records lost)", when,
				 (unsigned long long)p->away_lost);
			strbuf_puts(&b, line);
		}
		strbuf_addc(&b, '\n');
	}
	free_rows(row, n);
	if (b.failed) {
		free(b.s);
		serve_error(req, 503, "out of memory");
		return 0;
	}
	http_respond_text(req, 200, "text/plain; charset=utf-8", "X-Content-Type-Options: nosniff\r\n",
			  b.s ? b.s : "");
	free(b.s);
	return 0;
}

/* The index, laid out as Go's: the profiles with their counts of samples
 * (from the snapshot of all processes, when there is one: the index does
 * not build one), then the processes. */
static int index_handler(struct http_request *req, void *data)
{
	struct serve *s = data;
	struct strbuf b = { 0 };
	char line[512];
	const struct snap *all = NULL;
	for (size_t i = 0; i < s->n_snaps; i++)
		if (s->snaps[i]->pid == 0 && !s->snaps[i]->absent)
			all = s->snaps[i];
	strbuf_puts(&b, "<html>\n<head>\n<title>/debug/pprof/</title>\n<style>\n.profile-name{\n"
		    "\tdisplay:inline-block;\n\twidth:6rem;\n}\n</style>\n</head>\n<body>\n"
		    "/debug/pprof/<br>\n<br>\nTypes of profiles available:\n<table>\n"
		    "<thead><td>Count</td><td>Profile</td></thead>\n");
	for (int k = 0; k < N_KIND; k++) {
		char count[24] = "-";
		if (all)
			snprintf(count, sizeof(count), "%zu", all->p->n_sample);
		snprintf(line, sizeof(line), "<tr><td>%s</td><td><a href='%s?debug=1'>%s</a></td></tr>\n",
			 count, kind_name[k], kind_name[k]);
		strbuf_puts(&b, line);
	}
	strbuf_puts(&b, "</table>\n<br>\n<p>\nProfile Descriptions:\n<ul>\n");
	for (int k = 0; k < N_KIND; k++) {
		snprintf(line, sizeof(line), "<li><div class=profile-name>%s: </div> %s</li>\n",
			 kind_name[k], kind_desc[k]);
		strbuf_puts(&b, line);
	}
	strbuf_puts(&b, "</ul>\n</p>\n<p>\nProcesses:\n<table>\n<thead><td>PID</td><td>State</td>"
		    "<td>Profiles</td><td>Program</td><td>Command line</td></thead>\n");
	struct proc_row *row;
	size_t n_row;
	if (list_processes(s, &row, &n_row) < 0) {
		free(b.s);
		serve_error(req, 503, "out of memory");
		return 0;
	}
	for (size_t i = 0; i < n_row; i++) {
		const struct serve_process *sp = &row[i].p;
		snprintf(line, sizeof(line), "<tr><td>%u</td><td>%s</td><td><a href='heap?pid=%u'>heap</a> "
			 "<a href='allocs?pid=%u'>allocs</a> <a href='peak?pid=%u'>peak</a></td><td>",
			 sp->pid, sp->running ? "running" : "ended", sp->pid, sp->pid, sp->pid);
		strbuf_puts(&b, line);
		html_escape(&b, sp->exe);
		if (row[i].from.len) {
			strbuf_puts(&b, " (exec'd from ");
			html_escape(&b, row[i].from.s);
			strbuf_puts(&b, ")");
		}
		strbuf_puts(&b, "</td><td>");
		html_escape(&b, sp->cmdline);
		strbuf_puts(&b, "</td></tr>\n");
	}
	free_rows(row, n_row);
	strbuf_puts(&b, "</table>\n</p>\n");
	if (s->index_note)
		strbuf_puts(&b, s->index_note);
	strbuf_puts(&b, "</body>\n</html>\n");
	if (b.failed) {
		free(b.s);
		serve_error(req, 503, "out of memory");
		return 0;
	}
	struct http_blob *blob = http_blob_new(b.s, b.len);
	free(b.s);
	if (!blob)
		serve_error(req, 503, "out of memory");
	else
		http_respond(req, 200, "text/html; charset=utf-8", "X-Content-Type-Options: nosniff\r\n",
			     blob);
	return 0;
}

/* /debug/pprof without its slash: where Go's mux sends it */
static int redirect_handler(struct http_request *req, void *data)
{
	(void)data;
	http_respond_text(req, 301, "text/html; charset=utf-8", "Location: /debug/pprof/\r\n",
			  "<a href=\"/debug/pprof/\">Moved Permanently</a>.\n\n");
	return 0;
}

/* ---- the server ----------------------------------------------------------- */

int serve_open(struct serve **out, const char *addr, const struct serve_source *src,
	       const struct serve_options *opts, char *err, size_t errlen)
{
	static const struct serve_options def = SERVE_OPTIONS_INIT;
	*out = NULL;
	struct serve *s = calloc(1, sizeof(*s));
	if (!s) {
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->src = *src;
	s->opt = opts ? *opts : def;
	int rc = http_server_open(&s->http, addr, &s->opt.limits, err, errlen);
	if (rc < 0) {
		free(s);
		return rc;
	}
	if (http_server_handle(s->http, NULL, "/debug/pprof/", index_handler, s) < 0 ||
	    http_server_handle(s->http, NULL, "/debug/pprof", redirect_handler, s) < 0 ||
	    http_server_handle(s->http, NULL, "/debug/pprof/*", profile_handler, s) < 0 ||
	    http_server_handle(s->http, NULL, "/debug/pprof/symbol", symbol_handler, s) < 0 ||
	    http_server_handle(s->http, "POST", "/debug/pprof/symbol", symbol_handler, s) < 0 ||
	    http_server_handle(s->http, NULL, "/debug/pprof/sampling", sampling_list_handler, s) < 0) {
		http_server_close(s->http);
		free(s);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	*out = s;
	return 0;
}

const char *serve_address(const struct serve *s)
{
	return http_server_address(s->http);
}

void serve_set_index_note(struct serve *s, const char *html)
{
	s->index_note = html;
}

/* Whether origin ("http://HOST:PORT", from a browser) is this server: its
 * address, or localhost on its port when it listens on loopback; when it
 * listens on every address, the host the request was sent to (Host). */
static bool same_origin(const struct serve *s, const char *origin, const char *host)
{
	const char *addr = serve_address(s), *colon = strrchr(addr, ':');
	const char *o = strstr(origin, "://");
	if (!o || !colon)
		return false;
	o += 3;
	if (!strcmp(o, addr))
		return true;
	size_t hl = (size_t)(colon - addr);
	bool loopback = (hl == 9 && !strncmp(addr, "127.0.0.1", 9)) || (hl == 5 && !strncmp(addr, "[::1]", 5));
	bool wildcard = (hl == 7 && !strncmp(addr, "0.0.0.0", 7)) || (hl == 4 && !strncmp(addr, "[::]", 4));
	char local[80];
	snprintf(local, sizeof(local), "localhost%s", colon);
	if (loopback && !strcasecmp(o, local))
		return true;
	return wildcard && host && !strcasecmp(o, host);
}

/* A POST endpoint's: the Origin check (see serve.h), then its handler. */
static int post_handler(struct http_request *req, void *data)
{
	struct post_route *pr = data;
	const char *origin = http_request_header(req, "Origin");
	if (origin && !same_origin(pr->s, origin, http_request_header(req, "Host"))) {
		char msg[200];
		snprintf(msg, sizeof(msg), "refused: a POST from another origin (%.120s)", origin);
		serve_error(req, 403, msg);
		return 0;
	}
	return pr->fn(req, pr->data);
}

int serve_handle(struct serve *s, const char *method, const char *path, http_handler_fn fn,
		 void *data)
{
	if (!method || strcmp(method, "POST"))
		return http_server_handle(s->http, method, path, fn, data);
	struct post_route *pr = malloc(sizeof(*pr));
	if (!pr || array_grow(&s->post, &s->cap_post, s->n_post, sizeof(*s->post)) < 0) {
		free(pr);
		return -ENOMEM;
	}
	*pr = (struct post_route){ s, fn, data };
	s->post[s->n_post++] = pr;
	return http_server_handle(s->http, method, path, post_handler, pr);
}

size_t serve_npoll(const struct serve *s)
{
	return http_server_npoll(s->http);
}

void serve_pollfds(struct serve *s, struct pollfd *pfd)
{
	http_server_pollfds(s->http, pfd);
}

void serve_dispatch(struct serve *s, const struct pollfd *pfd, size_t n)
{
	http_server_dispatch(s->http, pfd, n);
	if (s->n_pend)
		run_pending(s);
}

int serve_timeout_ms(const struct serve *s)
{
	int t = http_server_timeout_ms(s->http);
	if (s->n_pend && s->wake_ns) {
		uint64_t now = mono_ns();
		int w = s->wake_ns <= now ? 0 : (int)((s->wake_ns - now) / 1000000u) + 1;
		if (t < 0 || w < t)
			t = w;
	}
	return t;
}

/* A session hook's: poll's answer for one of ours, into the pollfd that
 * serve_session_begin filled (arg). */
static void hook_ready(struct session *ss, int fd, short revents, void *arg)
{
	(void)ss;
	(void)fd;
	((struct pollfd *)arg)->revents = revents;
}

int serve_session_begin(struct serve *s, struct session *ss, int max_ms)
{
	s->n_pfd = 0;
	size_t n = serve_npoll(s);
	if (array_grow(&s->pfd, &s->cap_pfd, n, sizeof(*s->pfd)) < 0)
		return -1;
	serve_pollfds(s, s->pfd);
	for (size_t i = 0; i < n; i++) {
		if (session_add_hook(ss, s->pfd[i].fd, s->pfd[i].events, hook_ready, &s->pfd[i]) < 0) {
			for (size_t k = 0; k < i; k++)
				session_remove_hook(ss, s->pfd[k].fd);
			return -1;
		}
	}
	s->n_pfd = n;
	int t = serve_timeout_ms(s);
	return t < 0 || t > max_ms ? max_ms : t;
}

void serve_session_end(struct serve *s, struct session *ss)
{
	for (size_t i = 0; i < s->n_pfd; i++)
		session_remove_hook(ss, s->pfd[i].fd);
	serve_dispatch(s, s->n_pfd ? s->pfd : NULL, s->n_pfd);
	s->n_pfd = 0;
}

void serve_close(struct serve *s)
{
	if (!s)
		return;
	for (size_t i = 0; i < s->n_pend; i++) {
		serve_error(s->pend[i].req, 503, "the profiled program has ended");
		snap_unref(s->pend[i].base);
	}
	free(s->pend);
	/* what is being written goes on being written: a moment for it */
	for (int i = 0; i < 50 && http_server_stats(s->http)->open; i++) {
		size_t n = http_server_npoll(s->http);
		if (array_grow(&s->pfd, &s->cap_pfd, n, sizeof(*s->pfd)) < 0)
			break;
		http_server_pollfds(s->http, s->pfd);
		s->pfd[0].events = 0;	/* no new connections */
		if (poll(s->pfd, n, 20) < 0)
			break;
		http_server_dispatch(s->http, s->pfd, n);
	}
	while (s->n_snaps)
		unlist(s, s->n_snaps - 1);
	http_server_close(s->http);
	for (size_t i = 0; i < s->n_post; i++)
		free(s->post[i]);
	free(s->post);
	free(s->pfd);
	free(s);
}

void serve_get_stats(const struct serve *s, struct serve_stats *st)
{
	st->http = http_server_stats(s->http);
	st->profiles = s->profiles;
	st->builds = s->builds;
	st->build_ns = s->build_ns;
	st->render_ns = s->render_ns;
}
