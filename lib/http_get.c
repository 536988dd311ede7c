/* http_get.c - profiles over HTTP: go tool pprof's rules for which sources
 * are URLs (its adjustURL, on Go's net/url), and a small HTTP/1.1 GET
 * client: plain sockets, one request per connection, no TLS, no proxies. */
#include <ctype.h>
#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "lib/hex.h"
#include "lib/http_get.h"
#include "lib/strbuf.h"

/* go tool pprof's path for a URL without one (cmd/pprof's cpuProfileHandler) */
#define GO_DEFAULT_PATH "/debug/pprof/profile"
#define MAX_REDIRECTS 5
#define MAX_HEADERS 65536	/* bytes of status line and headers */
#define MAX_LINE 8192		/* a chunk-size or trailer line */
#define MAX_ERROR_BODY 4096	/* of a pprof handler's error text */

/* ---- a growable string ------------------------------------------------------ */

/* ---- URLs as Go's net/url reads them ----------------------------------------- */

/* A URL cut into its parts, each pointing into the text it was split from
 * (a length of 0 for a part that is missing). */
struct url_parts {
	const char *scheme, *userinfo, *host, *path, *query, *fragment;
	size_t scheme_len, userinfo_len, host_len, path_len, query_len, fragment_len;
	bool has_userinfo, has_query, has_fragment;
};

enum url_mode { IN_HOST, IN_PATH, IN_QUERY };

/* Go's shouldEscape: whether c is written %XX in a part of this kind. */
static bool should_escape(unsigned char c, enum url_mode mode)
{
	if (isalnum(c) && c < 0x80)
		return false;
	if (mode == IN_HOST && strchr("!$&'()*+,;=:[]<>\"", c) && c)
		return false;
	if (c && strchr("-_.~", c))
		return false;
	if (c && strchr("$&+,/:;=?@", c))
		return mode == IN_PATH ? c == '?' : mode == IN_QUERY;
	return true;
}

/* Whether each % in s[0..n) starts a valid escape (Go's unescape). */
static bool valid_escapes(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] == '%' && (i + 2 >= n || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0))
			return false;
	return true;
}

/* Go's parseHost: "[v6]:port", "name:port" or "name", port digits. */
static bool valid_host(const char *h, size_t n)
{
	const char *colon = NULL;
	if (n && h[0] == '[') {
		const char *close = NULL;
		for (size_t i = 0; i < n; i++)
			if (h[i] == ']')
				close = h + i;
		if (!close)
			return false;
		if (close + 1 < h + n && close[1] != ':')
			return false;
		colon = close + 1 < h + n ? close + 1 : NULL;
	} else {
		for (size_t i = 0; i < n; i++)
			if (h[i] == ':')
				colon = h + i;
	}
	if (colon)
		for (const char *c = colon + 1; c < h + n; c++)
			if (!isdigit((unsigned char)*c))
				return false;
	for (size_t i = 0; i < n; i++) {	/* '%' too: no IPv6 zones */
		unsigned char c = (unsigned char)h[i];
		if (c < 0x80 && should_escape(c, IN_HOST))
			return false;
	}
	return true;
}

/* Splits s as Go's url.Parse does; returns -1 where Go's would fail. One
 * difference: "//host/path" without a scheme stays a path (a file path
 * on Linux), where Go sees a host and pprof then fails to fetch it. */
static int url_split(const char *s, struct url_parts *u)
{
	memset(u, 0, sizeof(*u));
	for (const char *c = s; *c; c++)
		if ((unsigned char)*c < 0x20 || *c == 0x7f)
			return -1;
	const char *hash = strchr(s, '#'), *end = hash ? hash : s + strlen(s);
	if (hash) {
		u->has_fragment = true;
		u->fragment = hash + 1;
		u->fragment_len = strlen(hash + 1);
	}
	const char *rest = s;
	if (isalpha((unsigned char)s[0])) {
		const char *c = s + 1;
		while (c < end && (isalnum((unsigned char)*c) || *c == '+' || *c == '-' || *c == '.'))
			c++;
		if (c < end && *c == ':') {
			u->scheme = s;
			u->scheme_len = (size_t)(c - s);
			rest = c + 1;
		}
	} else if (s[0] == ':') {
		return -1;	/* missing protocol scheme */
	}
	const char *q = memchr(rest, '?', (size_t)(end - rest));
	if (q) {
		u->has_query = true;
		u->query = q + 1;
		u->query_len = (size_t)(end - q - 1);
		end = q;
	}
	if (rest == end || rest[0] != '/') {
		if (u->scheme_len)
			return 0;	/* opaque ("localhost:8080"): no host */
		const char *slash = memchr(rest, '/', (size_t)(end - rest));
		if (memchr(rest, ':', (size_t)((slash ? slash : end) - rest)))
			return -1;	/* first path segment cannot contain colon */
	}
	if (u->scheme_len && end - rest >= 2 && rest[0] == '/' && rest[1] == '/') {
		const char *a = rest + 2, *ae = a;
		while (ae < end && *ae != '/')
			ae++;
		const char *at = NULL;
		for (const char *c = a; c < ae; c++)
			if (*c == '@')
				at = c;
		if (at) {
			u->has_userinfo = true;
			u->userinfo = a;
			u->userinfo_len = (size_t)(at - a);
			a = at + 1;
		}
		if (!valid_host(a, (size_t)(ae - a)))
			return -1;
		u->host = a;
		u->host_len = (size_t)(ae - a);
		rest = ae;
	}
	u->path = rest;
	u->path_len = (size_t)(end - rest);
	if (!valid_escapes(u->path, u->path_len))
		return -1;
	return 0;
}

/* Appends s[0..n) escaped as Go escapes a part of this kind. */
static void add_escaped(struct strbuf *b, const char *s, size_t n, enum url_mode mode)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (mode == IN_QUERY && c == ' ')
			strbuf_addc(b, '+');
		else if (should_escape(c, mode)) {
			char hex[4];
			snprintf(hex, sizeof(hex), "%%%02X", c);
			strbuf_add(b, hex, 3);
		} else
			strbuf_addc(b, (char)c);
	}
}

/* Decodes %XX (and, in a query, '+'); -1 on a bad escape. out has room
 * for n bytes; *out_len gets the length. */
static int unescape(const char *s, size_t n, enum url_mode mode, char *out, size_t *out_len)
{
	size_t k = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '%') {
			if (i + 2 >= n || hex_digit(s[i + 1]) < 0 || hex_digit(s[i + 2]) < 0)
				return -1;
			out[k++] = (char)(hex_digit(s[i + 1]) * 16 + hex_digit(s[i + 2]));
			i += 2;
		} else {
			out[k++] = mode == IN_QUERY && s[i] == '+' ? ' ' : s[i];
		}
	}
	*out_len = k;
	return 0;
}

/* Go's URL.EscapedPath: the path as written when that is a valid
 * encoding, else the decoded path escaped again. */
static void add_path(struct strbuf *b, const char *p, size_t n)
{
	bool valid = true;
	for (size_t i = 0; i < n && valid; i++) {
		unsigned char c = (unsigned char)p[i];
		valid = strchr("!$&'()*+,;=:@[]%", c) || !should_escape(c, IN_PATH);
	}
	if (valid) {
		strbuf_add(b, p, n);
		return;
	}
	char *d = malloc(n + 1);
	size_t dn;
	if (!d) {
		b->failed = true;
		return;
	}
	if (unescape(p, n, IN_PATH, d, &dn) == 0)
		add_escaped(b, d, dn, IN_PATH);
	free(d);
}

struct query_value {
	char *key, *value;
	size_t key_len, value_len, order;
};

static int compare_query(const void *a, const void *b)
{
	const struct query_value *x = a, *y = b;
	size_t n = x->key_len < y->key_len ? x->key_len : y->key_len;
	int c = memcmp(x->key, y->key, n);
	if (c)
		return c;
	if (x->key_len != y->key_len)
		return x->key_len < y->key_len ? -1 : 1;
	return x->order < y->order ? -1 : x->order > y->order;	/* stable */
}

/* Go's url.ParseQuery then Values.Encode (keys sorted, values in order),
 * with seconds=SECONDS put in when seconds > 0 (Values.Set). *duration
 * gets seconds, else the query's first seconds= as Go's ParseInt reads it
 * (32 bits), else 0. */
static void add_query(struct strbuf *b, const char *q, size_t n, int seconds, int *duration)
{
	struct query_value *v = calloc(n / 2 + 2, sizeof(*v));
	char *text = malloc(2 * n + 32);	/* the decoded keys and values */
	size_t nv = 0, at = 0;
	if (!v || !text) {
		b->failed = true;
		goto out;
	}
	*duration = 0;
	for (const char *part = q; part < q + n;) {
		const char *e = memchr(part, '&', (size_t)(q + n - part));
		size_t len = e ? (size_t)(e - part) : (size_t)(q + n - part);
		const char *eq = memchr(part, '=', len);
		size_t klen = eq ? (size_t)(eq - part) : len;
		struct query_value *x = &v[nv];
		if (len && !memchr(part, ';', len) &&
		    unescape(part, klen, IN_QUERY, text + at, &x->key_len) == 0) {
			x->key = text + at;
			at += x->key_len;
			const char *val = eq ? eq + 1 : part + len;
			if (unescape(val, (size_t)(part + len - val), IN_QUERY, text + at,
				     &x->value_len) == 0) {
				x->value = text + at;
				at += x->value_len;
				bool is_seconds = x->key_len == 7 && !memcmp(x->key, "seconds", 7);
				if (is_seconds && seconds > 0) {
					/* dropped: Set replaces it */
				} else {
					x->order = nv++;
				}
			}
		}
		part += len + 1;
	}
	if (seconds > 0) {
		struct query_value *x = &v[nv];
		x->key = text + at;
		x->key_len = 7;
		memcpy(text + at, "seconds", 7);
		at += 7;
		x->value = text + at;
		x->value_len = (size_t)snprintf(text + at, 16, "%d", seconds);
		x->order = nv++;
		*duration = seconds;
	}
	qsort(v, nv, sizeof(*v), compare_query);
	bool seen = seconds > 0;	/* Values.Get: the first one */
	for (size_t i = 0; i < nv; i++) {
		if (!seen && v[i].key_len == 7 && !memcmp(v[i].key, "seconds", 7) &&
		    (seen = true) && v[i].value_len && v[i].value_len < 16) {
			char num[16], *end;
			memcpy(num, v[i].value, v[i].value_len);
			num[v[i].value_len] = '\0';
			errno = 0;
			long s = strtol(num, &end, 10);
			if (!errno && !*end && !isspace((unsigned char)num[0]) && s > 0 &&
			    s <= 0x7fffffff)
				*duration = (int)s;
		}
		if (i)
			strbuf_addc(b, '&');
		add_escaped(b, v[i].key, v[i].key_len, IN_QUERY);
		strbuf_addc(b, '=');
		add_escaped(b, v[i].value, v[i].value_len, IN_QUERY);
	}
out:
	free(v);
	free(text);
}

int http_url_adjust(const char *source, int seconds, char **url, int *duration)
{
	struct url_parts u;
	char *with_scheme = NULL;
	struct strbuf b = { 0 };
	int rc = 0;

	*url = NULL;
	*duration = 0;
	bool ok = url_split(source, &u) == 0;
	if (!ok || (!u.host_len && u.scheme_len &&
		    !(u.scheme_len == 4 && !strncasecmp(u.scheme, "file", 4)))) {
		/* "host:port/path": Go reads "host" as the scheme */
		if (!(with_scheme = malloc(strlen(source) + 8)))
			return -ENOMEM;
		strcpy(stpcpy(with_scheme, "http://"), source);
		ok = url_split(with_scheme, &u) == 0;
	}
	if (!ok || !u.host_len)
		goto out;
	for (size_t i = 0; i < u.scheme_len; i++)
		strbuf_addc(&b, (char)tolower((unsigned char)u.scheme[i]));
	strbuf_puts(&b, "://");
	if (u.has_userinfo) {
		strbuf_add(&b, u.userinfo, u.userinfo_len);
		strbuf_addc(&b, '@');
	}
	strbuf_add(&b, u.host, u.host_len);
	if (u.path_len == 0 || (u.path_len == 1 && u.path[0] == '/'))
		strbuf_puts(&b, GO_DEFAULT_PATH);
	else
		add_path(&b, u.path, u.path_len);
	size_t before_query = b.len;
	strbuf_addc(&b, '?');
	add_query(&b, u.query, u.query_len, seconds, duration);
	if (b.len == before_query + 1 && !b.failed) {	/* no values */
		if (!(u.has_query && !u.query_len))	/* Go's ForceQuery */
			b.s[--b.len] = '\0';
	}
	if (u.has_fragment) {
		strbuf_addc(&b, '#');
		strbuf_add(&b, u.fragment, u.fragment_len);
	}
	if (b.failed) {
		rc = -ENOMEM;
		goto out;
	}
	*url = b.s;
	b.s = NULL;
	rc = 1;
out:
	free(b.s);
	free(with_scheme);
	return rc;
}

/* ---- the connection ---------------------------------------------------------- */

struct conn {
	int fd;
	struct timespec deadline;	/* CLOCK_MONOTONIC */
	char buf[16384];		/* received, not yet taken */
	size_t pos, len;
	bool eof;
	char *msg;
	size_t msg_size;
};

static int fail(struct conn *c, int err, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* Writes the message; returns err. */
static int fail(struct conn *c, int err, const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	vsnprintf(c->msg, c->msg_size, fmt, ap);
	va_end(ap);
	return err;
}

/* Milliseconds left before the deadline, at least 0. */
static int remaining_ms(const struct conn *c)
{
	struct timespec now;
	clock_gettime(CLOCK_MONOTONIC, &now);
	long long ms = (c->deadline.tv_sec - now.tv_sec) * 1000LL +
		       (c->deadline.tv_nsec - now.tv_nsec) / 1000000;
	return ms < 0 ? 0 : ms > 0x7fffffff ? 0x7fffffff : (int)ms;
}

/* Waits until fd is ready for events; -ETIMEDOUT at the deadline. */
static int wait_for(struct conn *c, short events)
{
	for (;;) {
		struct pollfd p = { .fd = c->fd, .events = events };
		int ms = remaining_ms(c);
		int n = poll(&p, 1, ms);
		if (n > 0)
			return 0;
		if (n == 0 || ms == 0)
			return -ETIMEDOUT;
		if (errno != EINTR)
			return -errno;
	}
}

static int timed_out(struct conn *c, const char *doing)
{
	return fail(c, -ETIMEDOUT, "timed out %s (raise the limit with --timeout=SECONDS)",
		    doing);
}

/* Connects to host:port, trying each address in turn. */
static int conn_open(struct conn *c, const char *host, const char *port)
{
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res;
	int rc = getaddrinfo(host, port, &hints, &res);
	if (rc)
		return fail(c, rc == EAI_MEMORY ? -ENOMEM : -EHOSTUNREACH, "cannot resolve %s: %s",
			    host, gai_strerror(rc));
	int err = -ECONNREFUSED;
	for (struct addrinfo *a = res; a; a = a->ai_next) {
		int fd = socket(a->ai_family, a->ai_socktype | SOCK_CLOEXEC | SOCK_NONBLOCK,
				a->ai_protocol);
		if (fd < 0) {
			err = -errno;
			continue;
		}
		c->fd = fd;
		if (connect(fd, a->ai_addr, a->ai_addrlen) < 0) {
			if (errno != EINPROGRESS) {
				err = -errno;
			} else if ((err = wait_for(c, POLLOUT)) == 0) {
				int so = 0;
				socklen_t len = sizeof(so);
				if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &so, &len) < 0)
					err = -errno;
				else
					err = -so;
			}
		} else {
			err = 0;
		}
		if (err == 0)
			break;
		close(fd);
		c->fd = -1;
		if (err == -ETIMEDOUT)
			break;
	}
	freeaddrinfo(res);
	if (err == -ETIMEDOUT)
		return timed_out(c, "connecting");
	if (err)
		return fail(c, err, "cannot connect to %s port %s: %s", host, port, strerror(-err));
	return 0;
}

static int conn_send(struct conn *c, const char *s, size_t n)
{
	while (n) {
		ssize_t w = send(c->fd, s, n, MSG_NOSIGNAL);
		if (w < 0 && errno == EAGAIN) {
			int rc = wait_for(c, POLLOUT);
			if (rc == -ETIMEDOUT)
				return timed_out(c, "sending the request");
			if (rc < 0)
				return fail(c, rc, "sending the request: %s", strerror(-rc));
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0)
			return fail(c, -errno, "sending the request: %s", strerror(errno));
		s += w;
		n -= (size_t)w;
	}
	return 0;
}

/* Refills the buffer when it is empty: 0 (c->eof at the end), or an error. */
static int conn_fill(struct conn *c)
{
	if (c->pos < c->len || c->eof)
		return 0;
	c->pos = c->len = 0;
	for (;;) {
		ssize_t r = recv(c->fd, c->buf, sizeof(c->buf), 0);
		if (r > 0) {
			c->len = (size_t)r;
			return 0;
		}
		if (r == 0) {
			c->eof = true;
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno != EAGAIN)
			return fail(c, -errno, "reading the response: %s", strerror(errno));
		int rc = wait_for(c, POLLIN);
		if (rc == -ETIMEDOUT)
			return timed_out(c, "waiting for the response");
		if (rc < 0)
			return fail(c, rc, "reading the response: %s", strerror(-rc));
	}
}

/* Reads a line (to "\n", which is dropped with a "\r" before it) into
 * line; -EPROTO when longer than size - 1 or cut by the end. */
static int conn_line(struct conn *c, char *line, size_t size, const char *what)
{
	size_t n = 0;
	for (;;) {
		int rc = conn_fill(c);
		if (rc < 0)
			return rc;
		if (c->eof)
			return fail(c, -EPROTO, "connection closed in the %s", what);
		char ch = c->buf[c->pos++];
		if (ch == '\n')
			break;
		if (n + 1 >= size)
			return fail(c, -EPROTO, "%s longer than %zu bytes", what, size - 1);
		line[n++] = ch;
	}
	if (n && line[n - 1] == '\r')
		n--;
	line[n] = '\0';
	return 0;
}

/* Appends up to n bytes of body (all of it until the end when n is
 * SIZE_MAX) to *body, keeping it within max. */
static int conn_body(struct conn *c, size_t n, struct strbuf *body, size_t max)
{
	while (n) {
		int rc = conn_fill(c);
		if (rc < 0)
			return rc;
		if (c->eof) {
			if (n == SIZE_MAX)
				return 0;
			return fail(c, -EPROTO, "connection closed before the end of the body");
		}
		size_t k = c->len - c->pos;
		if (k > n)
			k = n;
		if (body->len + k > max)
			return fail(c, -EFBIG, "response larger than %zu bytes", max);
		strbuf_add(body, c->buf + c->pos, k);
		if (body->failed)
			return fail(c, -ENOMEM, "out of memory reading the response");
		c->pos += k;
		if (n != SIZE_MAX)
			n -= k;
	}
	return 0;
}

/* A chunked body (RFC 9112 7.1): sizes in hex, extensions and trailers
 * skipped. */
static int conn_chunked(struct conn *c, struct strbuf *body, size_t max)
{
	char line[MAX_LINE];
	for (;;) {
		int rc = conn_line(c, line, sizeof(line), "chunk size");
		if (rc < 0)
			return rc;
		char *end;
		errno = 0;
		unsigned long long n = strtoull(line, &end, 16);
		if (end == line || errno || (*end && *end != ';' && *end != ' ' && *end != '\t'))
			return fail(c, -EPROTO, "bad chunk size '%.40s'", line);
		if (n == 0)
			break;
		if (n > max || body->len + n > max)
			return fail(c, -EFBIG, "response larger than %zu bytes", max);
		if ((rc = conn_body(c, (size_t)n, body, max)) < 0 ||
		    (rc = conn_line(c, line, sizeof(line), "chunk")) < 0)
			return rc;
		if (line[0])
			return fail(c, -EPROTO, "chunk longer than its size");
	}
	do {	/* trailers, up to the empty line (a close will do) */
		int rc = conn_line(c, line, sizeof(line), "trailer");
		if (rc < 0)
			return c->eof ? 0 : rc;
	} while (line[0]);
	return 0;
}

/* ---- the request ------------------------------------------------------------- */

/* What the response's headers say. */
struct response {
	int status;
	char status_text[128];		/* "404 Not Found", as Go's resp.Status */
	bool chunked, has_length, pprof_text;
	unsigned long long length;
	char location[2048];
};

/* Whether header line h is name: ..., and then its value (spaces trimmed). */
static const char *header_value(char *h, const char *name)
{
	size_t n = strlen(name);
	if (strncasecmp(h, name, n) || h[n] != ':')
		return NULL;
	char *v = h + n + 1, *e = v + strlen(v);
	while (*v == ' ' || *v == '\t')
		v++;
	while (e > v && (e[-1] == ' ' || e[-1] == '\t'))
		*--e = '\0';
	return v;
}

static int read_headers(struct conn *c, struct response *r)
{
	char line[MAX_LINE];
	size_t total = 0;
	bool xgo = false, text = false;
	int rc;

	memset(r, 0, sizeof(*r));
	do {	/* 1xx responses come before the one that counts */
		if ((rc = conn_fill(c)) < 0)
			return rc;
		if (c->eof)
			return fail(c, -EPROTO, "connection closed before any response");
		if ((rc = conn_line(c, line, sizeof(line), "status line")) < 0)
			return rc;
		if (strncmp(line, "HTTP/1.", 7) || !isdigit((unsigned char)line[7]) ||
		    line[8] != ' ' || !isdigit((unsigned char)line[9]) ||
		    !isdigit((unsigned char)line[10]) || !isdigit((unsigned char)line[11]) ||
		    (line[12] && line[12] != ' '))
			return fail(c, -EPROTO, "not an HTTP/1.x response: '%.60s'", line);
		r->status = atoi(line + 9);
		snprintf(r->status_text, sizeof(r->status_text), "%.120s", line + 9);
		for (;;) {
			if ((rc = conn_line(c, line, sizeof(line), "headers")) < 0)
				return rc;
			if ((total += strlen(line) + 2) > MAX_HEADERS)
				return fail(c, -EPROTO, "headers longer than %d bytes", MAX_HEADERS);
			if (!line[0])
				break;
			const char *v;
			if ((v = header_value(line, "Content-Length"))) {
				char *end;
				errno = 0;
				r->length = strtoull(v, &end, 10);
				if (!isdigit((unsigned char)*v) || *end || errno)
					return fail(c, -EPROTO, "bad Content-Length '%.40s'", v);
				r->has_length = true;
			} else if ((v = header_value(line, "Transfer-Encoding"))) {
				size_t n = strlen(v);
				r->chunked = n >= 7 && !strcasecmp(v + n - 7, "chunked");
				if (!r->chunked && strcasecmp(v, "identity"))
					return fail(c, -EPROTO, "unknown Transfer-Encoding '%.40s'", v);
			} else if ((v = header_value(line, "Location"))) {
				snprintf(r->location, sizeof(r->location), "%.2000s", v);
			} else if (header_value(line, "X-Go-Pprof")) {
				xgo = true;
			} else if ((v = header_value(line, "Content-Type"))) {
				text = strstr(v, "text/plain") != NULL;
			}
		}
	} while (r->status >= 100 && r->status < 200 && r->status != 101);
	r->pprof_text = xgo && text;
	return 0;
}

/* What is left of a URL once http_url_adjust has taken it: its parts as
 * C strings. */
struct target {
	char host[256], port[8], hostport[300];
	char *path_query;	/* malloc'd: "/path?query" */
};

static int target_parse(const char *url, struct target *t, char *msg, size_t size)
{
	struct url_parts u;
	memset(t, 0, sizeof(*t));
	if (url_split(url, &u) < 0 || !u.scheme_len || !u.host_len) {
		snprintf(msg, size, "not a URL memprof can fetch");
		return -EINVAL;
	}
	if (u.scheme_len != 4 || strncasecmp(u.scheme, "http", 4)) {
		if (u.scheme_len >= 5 && !strncasecmp(u.scheme, "https", 5))
			snprintf(msg, size, "https is not supported; use go tool pprof or curl -o");
		else
			snprintf(msg, size, "unsupported protocol scheme '%.*s' (only http://)",
				 (int)u.scheme_len, u.scheme);
		return -EPROTONOSUPPORT;
	}
	if (u.has_userinfo) {
		snprintf(msg, size, "a user name or password in the URL is not supported");
		return -EINVAL;
	}
	if (u.host_len >= sizeof(t->hostport)) {
		snprintf(msg, size, "host name too long");
		return -EINVAL;
	}
	memcpy(t->hostport, u.host, u.host_len);
	const char *h = t->hostport, *colon = NULL;
	size_t hlen;
	if (h[0] == '[') {
		const char *close = strchr(h, ']');
		hlen = (size_t)(close - h) - 1;
		h++;
		colon = close[1] == ':' ? close + 1 : NULL;
	} else {
		colon = strrchr(h, ':');
		hlen = colon ? (size_t)(colon - h) : strlen(h);
	}
	const char *port = colon && colon[1] ? colon + 1 : "80";
	if (hlen == 0 || hlen >= sizeof(t->host) || strlen(port) >= sizeof(t->port) ||
	    atoi(port) > 65535) {
		snprintf(msg, size, "bad host or port '%s'", t->hostport);
		return -EINVAL;
	}
	memcpy(t->host, h, hlen);
	strcpy(t->port, port);
	size_t plen = u.path_len + (u.has_query ? u.query_len + 1 : 0);
	if (!(t->path_query = malloc(plen + 2)))
		return -ENOMEM;
	char *p = t->path_query;
	if (!u.path_len || u.path[0] != '/')
		*p++ = '/';
	memcpy(p, u.path, u.path_len);
	p += u.path_len;
	if (u.has_query) {
		*p++ = '?';
		memcpy(p, u.query, u.query_len);
		p += u.query_len;
	}
	*p = '\0';
	return 0;
}

/* One GET of t. On 200: 0 and the body. On a redirect: 1 and the Location
 * in r->location. Otherwise an error (see http_get). */
static int get_once(struct conn *c, const struct target *t, const struct http_get_options *o,
		    struct strbuf *body, struct response *r)
{
	struct strbuf req = { 0 };
	int rc;

	strbuf_puts(&req, "GET ");
	strbuf_puts(&req, t->path_query);
	strbuf_puts(&req, " HTTP/1.1\r\nHost: ");
	strbuf_puts(&req, t->hostport);
	strbuf_puts(&req, "\r\nUser-Agent: memprof\r\nAccept: */*\r\nConnection: close\r\n\r\n");
	if (req.failed)
		return fail(c, -ENOMEM, "out of memory");
	if ((rc = conn_open(c, t->host, t->port)) < 0 || (rc = conn_send(c, req.s, req.len)) < 0 ||
	    (rc = read_headers(c, r)) < 0)
		goto out;
	if (r->status >= 300 && r->status < 400 && r->location[0] && r->status != 304) {
		rc = 1;
		goto out;
	}
	if (r->status != 200) {
		rc = fail(c, -EPROTO, "server response: %s", r->status_text);
		if (!r->pprof_text)
			goto out;
		/* Go's pprof handlers say what went wrong in the body, as pprof
		 * shows it: its first line here */
		struct strbuf text = { 0 };
		size_t n = r->has_length && r->length < MAX_ERROR_BODY ? (size_t)r->length : SIZE_MAX;
		int brc = r->chunked ? conn_chunked(c, &text, MAX_ERROR_BODY)
				     : conn_body(c, n, &text, MAX_ERROR_BODY);
		if ((brc == 0 || brc == -EFBIG) && text.len && !text.failed) {
			size_t line = strcspn(text.s, "\r\n");
			fail(c, -EPROTO, "server response: %s - %.*s", r->status_text,
			     (int)(line > 200 ? 200 : line), text.s);
		} else {
			fail(c, -EPROTO, "server response: %s", r->status_text);
		}
		free(text.s);
		goto out;
	}
	if (r->chunked) {
		rc = conn_chunked(c, body, o->max_size);
	} else if (r->has_length) {
		if (r->length > o->max_size)
			rc = fail(c, -EFBIG, "response larger than %zu bytes", o->max_size);
		else
			rc = conn_body(c, (size_t)r->length, body, o->max_size);
	} else {
		rc = conn_body(c, SIZE_MAX, body, o->max_size);
	}
out:
	free(req.s);
	if (c->fd >= 0)
		close(c->fd);
	c->fd = -1;
	c->pos = c->len = 0;
	c->eof = false;
	return rc;
}

int http_get(const char *url, const struct http_get_options *opts, uint8_t **body, size_t *len,
	     char *msg, size_t msg_size)
{
	struct conn *c = calloc(1, sizeof(*c));
	struct strbuf b = { 0 };
	char *next = NULL;
	struct target t = { 0 };
	struct response r;
	int rc;

	*body = NULL;
	*len = 0;
	if (!c) {
		snprintf(msg, msg_size, "out of memory");
		return -ENOMEM;
	}
	c->fd = -1;
	c->msg = msg;
	c->msg_size = msg_size;
	clock_gettime(CLOCK_MONOTONIC, &c->deadline);
	c->deadline.tv_sec += opts->timeout_ms / 1000;
	c->deadline.tv_nsec += (long)(opts->timeout_ms % 1000) * 1000000;
	if (c->deadline.tv_nsec >= 1000000000) {
		c->deadline.tv_sec++;
		c->deadline.tv_nsec -= 1000000000;
	}
	if ((rc = target_parse(url, &t, msg, msg_size)) < 0)
		goto out;
	for (int hops = 0;; hops++) {
		rc = get_once(c, &t, opts, &b, &r);
		if (rc <= 0)
			break;
		/* a redirect: to an http:// URL, or a path on this server */
		if (hops == MAX_REDIRECTS) {
			rc = fail(c, -EPROTO, "stopped after %d redirects", MAX_REDIRECTS);
			break;
		}
		free(next);
		next = NULL;
		if (r.location[0] == '/' && r.location[1] != '/') {
			if (!(next = malloc(strlen(t.hostport) + strlen(r.location) + 8))) {
				rc = fail(c, -ENOMEM, "out of memory");
				break;
			}
			sprintf(next, "http://%s%s", t.hostport, r.location);
		} else if (!strncasecmp(r.location, "http://", 7)) {
			if (!(next = strdup(r.location))) {
				rc = fail(c, -ENOMEM, "out of memory");
				break;
			}
		} else {
			rc = fail(c, -EPROTO, "server response: %s to %.200s (not followed)",
				  r.status_text, r.location);
			break;
		}
		free(t.path_query);
		if ((rc = target_parse(next, &t, msg, msg_size)) < 0) {
			char why[200];
			snprintf(why, sizeof(why), "%s", msg);
			fail(c, rc, "redirected to %.200s: %s", next, why);
			break;
		}
	}
	if (rc == 0) {
		if (b.failed) {
			rc = fail(c, -ENOMEM, "out of memory");
		} else {
			*body = (uint8_t *)b.s;
			*len = b.len;
			b.s = NULL;
		}
	}
out:
	free(b.s);
	free(next);
	free(t.path_query);
	free(c);
	return rc;
}
