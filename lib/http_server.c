/* http_server.c - memprof's HTTP/1.1 server (see http_server.h): a
 * connection reads one request into a bounded buffer, its handler answers
 * at once or later, the response is written as the client takes it, then
 * the connection lingers a moment (what the client still sends is read and
 * dropped, so that it sees the response rather than a reset) and closes. */
#include "http_server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include "arena.h"

#define LINGER_MS 1000		/* after the response, to read what the client still sends */
#define LINGER_BYTES (4u << 20)	/* and at most this much of it */
/* on the server's own answers, as Go's http.Error */
#define NOSNIFF "X-Content-Type-Options: nosniff\r\n"

struct route {
	char *method;		/* NULL: GET and HEAD */
	char *path;
	bool prefix;		/* path was "...*" */
	http_handler_fn fn;
	void *data;
};

enum conn_state {
	READING,		/* the request */
	HANDLING,		/* its handler keeps it (HTTP_PENDING) */
	WRITING,		/* the response */
	LINGERING,		/* after it: reading what the client still sends */
};

struct query_param {
	char *name, *value;
};

struct http_request {
	struct http_server *server;
	struct conn *conn;
	char *method, *path;
	char *raw_query;	/* as it came, undecoded; NULL when there is none */
	struct query_param *query;
	size_t n_query;
	char **header;		/* "name", "value", "name", "value"... pointers into conn->in */
	size_t n_header;
	const uint8_t *body;
	size_t body_len;
	uint64_t time_ns;
	bool head;		/* HEAD: no body in the response */
	bool gone;
};

struct conn {
	int fd;
	int slot;		/* index in the last pollfds, -1 if not there */
	enum conn_state state;
	uint64_t deadline_ns;	/* READING: the whole request; WRITING: the next byte */
	char *in;		/* the request head, max_header_bytes + 1 */
	size_t in_len;
	size_t header_len;	/* up to the blank line; 0 until found */
	size_t body_want;
	uint8_t *body_in;	/* the request body, once the head says its length */
	size_t body_have;
	size_t discarded;	/* LINGERING */
	struct http_request req;
	char *head_out;		/* status line and headers */
	size_t head_len, head_done;
	struct http_blob *body;
	size_t body_done;
	bool send_body;
	/* HANDLING: the client shut its sending side (a half-close, or all
	 * of it: no telling until a write fails). Its answer is still sent;
	 * its descriptor is no longer polled for input. */
	bool read_shut;
};

struct http_server {
	int listen_fd;
	char address[128];
	struct http_server_limits lim;
	struct route *routes;
	size_t n_routes, cap_routes;
	struct conn **conns;
	size_t n_conns, cap_conns;
	bool answered;		/* http_respond was called (see handle) */
	struct http_server_stats stats;
};

static uint64_t now_ns(void)
{
	struct timespec t;
	clock_gettime(CLOCK_MONOTONIC, &t);
	return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

/* ---- blobs ---------------------------------------------------------------- */

struct http_blob *http_blob_new(const void *data, size_t len)
{
	struct http_blob *b = malloc(sizeof(*b) + len + 1);
	if (!b)
		return NULL;
	b->refs = 1;
	b->len = len;
	if (len)
		memcpy(b->data, data, len);
	b->data[len] = '\0';
	return b;
}

struct http_blob *http_blob_ref(struct http_blob *b)
{
	if (b)
		b->refs++;
	return b;
}

void http_blob_unref(struct http_blob *b)
{
	if (b && --b->refs == 0)
		free(b);
}

/* ---- listening ------------------------------------------------------------ */

/* Splits "HOST:PORT", "[V6]:PORT", ":PORT", "PORT" into host and port. */
static int split_addr(const char *addr, char *host, size_t hsize, char *port, size_t psize)
{
	const char *colon;
	if (addr[0] == '[') {
		const char *close = strchr(addr, ']');
		if (!close || close[1] != ':' || (size_t)(close - addr - 1) >= hsize)
			return -EINVAL;
		snprintf(host, hsize, "%.*s", (int)(close - addr - 1), addr + 1);
		colon = close + 1;
	} else if ((colon = strrchr(addr, ':'))) {
		if ((size_t)(colon - addr) >= hsize)
			return -EINVAL;
		snprintf(host, hsize, "%.*s", (int)(colon - addr), addr);
	} else {
		host[0] = '\0';
		colon = addr - 1;
	}
	const char *p = colon + 1;
	if (!*p || strlen(p) >= psize || strspn(p, "0123456789") != strlen(p) || atol(p) > 65535)
		return -EINVAL;
	snprintf(port, psize, "%s", p);
	if (!host[0])
		snprintf(host, hsize, "127.0.0.1");	/* loopback unless told otherwise */
	return 0;
}

int http_server_open(struct http_server **out, const char *addr,
		     const struct http_server_limits *lim, char *err, size_t errlen)
{
	static const struct http_server_limits def = HTTP_SERVER_LIMITS_INIT;
	char host[256], port[16];
	*out = NULL;
	if (split_addr(addr, host, sizeof(host), port, sizeof(port)) < 0) {
		snprintf(err, errlen, "%s: not an address to listen on (HOST:PORT, :PORT or PORT; "
			 "[::1]:PORT for IPv6)", addr);
		return -EINVAL;
	}
	struct addrinfo hints, *ai = NULL;
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int g = getaddrinfo(host, port, &hints, &ai);
	if (g) {
		snprintf(err, errlen, "%s: %s", addr, gai_strerror(g));
		return -EINVAL;
	}
	int fd = socket(ai->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0), e = 0;
	int on = 1;
	if (fd < 0 || setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof(on)) < 0 ||
	    bind(fd, ai->ai_addr, ai->ai_addrlen) < 0 || listen(fd, 128) < 0)
		e = errno;
	freeaddrinfo(ai);
	if (e) {
		snprintf(err, errlen, "%s: %s", addr, strerror(e));
		if (fd >= 0)
			close(fd);
		return -e;
	}
	struct http_server *s = calloc(1, sizeof(*s));
	if (!s) {
		close(fd);
		snprintf(err, errlen, "out of memory");
		return -ENOMEM;
	}
	s->listen_fd = fd;
	s->lim = lim ? *lim : def;
	struct sockaddr_storage sa;
	socklen_t len = sizeof(sa);
	char h[INET6_ADDRSTRLEN] = "?";
	unsigned p = 0;
	if (getsockname(fd, (struct sockaddr *)&sa, &len) == 0) {
		if (sa.ss_family == AF_INET) {
			struct sockaddr_in *in = (struct sockaddr_in *)&sa;
			inet_ntop(AF_INET, &in->sin_addr, h, sizeof(h));
			p = ntohs(in->sin_port);
		} else if (sa.ss_family == AF_INET6) {
			struct sockaddr_in6 *in6 = (struct sockaddr_in6 *)&sa;
			inet_ntop(AF_INET6, &in6->sin6_addr, h, sizeof(h));
			p = ntohs(in6->sin6_port);
		}
	}
	snprintf(s->address, sizeof(s->address), sa.ss_family == AF_INET6 ? "[%s]:%u" : "%s:%u", h, p);
	*out = s;
	return 0;
}

const char *http_server_address(const struct http_server *s)
{
	return s->address;
}

int http_server_handle(struct http_server *s, const char *method, const char *path,
		       http_handler_fn fn, void *data)
{
	if (array_grow(&s->routes, &s->cap_routes, s->n_routes, sizeof(*s->routes)) < 0)
		return -ENOMEM;
	size_t n = strlen(path);
	struct route r = { method ? strdup(method) : NULL, strdup(path), n && path[n - 1] == '*',
			   fn, data };
	if ((method && !r.method) || !r.path) {
		free(r.method);
		free(r.path);
		return -ENOMEM;
	}
	if (r.prefix)
		r.path[n - 1] = '\0';
	s->routes[s->n_routes++] = r;
	return 0;
}

const struct http_server_stats *http_server_stats(const struct http_server *s)
{
	return &s->stats;
}

/* ---- connections ---------------------------------------------------------- */

static void conn_free(struct http_server *s, size_t i, bool force)
{
	struct conn *c = s->conns[i];
	if (c->state == HANDLING && !force) {
		/* its handler still holds the request: it answers it later,
		 * which frees it (see http_respond) */
		c->req.gone = true;
		close(c->fd);
		c->fd = -1;
	} else {
		close(c->fd);
		http_blob_unref(c->body);
		free(c->head_out);
		free(c->req.query);
		free(c->req.raw_query);
		free(c->req.header);
		free(c->body_in);
		free(c->in);
		free(c);
	}
	s->conns[i] = s->conns[--s->n_conns];
	s->stats.open = s->n_conns;
}

static void conn_remove(struct http_server *s, struct conn *c)
{
	for (size_t i = 0; i < s->n_conns; i++)
		if (s->conns[i] == c) {
			conn_free(s, i, false);
			return;
		}
}

const char *http_status_text(int status)
{
	switch (status) {
	case 200: return "OK";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 400: return "Bad Request";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 413: return "Request Entity Too Large";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 503: return "Service Unavailable";
	case 505: return "HTTP Version Not Supported";
	}
	return "";
}

/* Writes what the client takes now; on the end of the response, lingers. */
static void conn_write(struct http_server *s, struct conn *c)
{
	for (;;) {
		struct iovec iov[2];
		int n = 0;
		if (c->head_done < c->head_len)
			iov[n++] = (struct iovec){ c->head_out + c->head_done, c->head_len - c->head_done };
		if (c->send_body && c->body && c->body_done < c->body->len)
			iov[n++] = (struct iovec){ c->body->data + c->body_done,
						   c->body->len - c->body_done };
		if (n == 0) {
			/* all written: no more from us, then read what is left */
			shutdown(c->fd, SHUT_WR);
			if (c->read_shut) {	/* it sends nothing more: done */
				conn_remove(s, c);
				return;
			}
			c->state = LINGERING;
			c->deadline_ns = now_ns() + LINGER_MS * 1000000ull;
			return;
		}
		struct msghdr m = { .msg_iov = iov, .msg_iovlen = (size_t)n };
		ssize_t w = sendmsg(c->fd, &m, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (w <= 0) {
			conn_remove(s, c);	/* the client is gone */
			return;
		}
		s->stats.bytes_out += (uint64_t)w;
		c->deadline_ns = now_ns() + (uint64_t)s->lim.write_timeout_ms * 1000000u;
		size_t k = (size_t)w, h = c->head_len - c->head_done;
		if (k >= h) {
			c->head_done = c->head_len;
			c->body_done += k - h;
		} else {
			c->head_done += k;
		}
	}
}

/* The response's head: status line and headers, in Go's order of fields
 * where they overlap (net/http writes them sorted). */
static int make_head(struct conn *c, int status, const char *ctype, const char *headers,
		     size_t body_len)
{
	char date[64];
	time_t t = time(NULL);
	struct tm tm;
	gmtime_r(&t, &tm);
	strftime(date, sizeof(date), "%a, %d %b %Y %H:%M:%S GMT", &tm);
	int n = asprintf(&c->head_out, "HTTP/1.1 %d %s\r\n%s%s%s%sDate: %s\r\n"
			 "Content-Length: %zu\r\nConnection: close\r\n\r\n",
			 status, http_status_text(status), headers ? headers : "",
			 ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
			 date, body_len);
	if (n < 0) {
		c->head_out = NULL;
		return -ENOMEM;
	}
	c->head_len = (size_t)n;
	return 0;
}

void http_respond(struct http_request *req, int status, const char *ctype, const char *headers,
		  struct http_blob *body)
{
	struct conn *c = req->conn;
	struct http_server *s = req->server;
	s->answered = true;
	if (req->gone) {
		/* the client went while the handler held the request: only
		 * the memory is left to free */
		http_blob_unref(body);
		free(c->req.query);
		free(c->req.raw_query);
		free(c->req.header);
		free(c->body_in);
		free(c->in);
		free(c);
		return;
	}
	if (make_head(c, status, ctype, headers, body ? body->len : 0) < 0) {
		http_blob_unref(body);
		conn_remove(s, c);
		return;
	}
	c->body = body;
	c->send_body = !req->head;
	c->state = WRITING;
	c->deadline_ns = now_ns() + (uint64_t)s->lim.write_timeout_ms * 1000000u;
	conn_write(s, c);
}

void http_respond_text(struct http_request *req, int status, const char *ctype,
		       const char *headers, const char *text)
{
	struct http_blob *b = http_blob_new(text, strlen(text));
	if (!b) {
		struct conn *c = req->conn;
		if (req->gone)
			http_respond(req, status, ctype, headers, NULL);	/* frees it */
		else
			conn_remove(req->server, c);
		return;
	}
	http_respond(req, status, ctype, headers, b);
}

/* The server's own answer to a request it cannot take. */
static void refuse(struct http_server *s, struct conn *c, int status, const char *msg)
{
	char text[160];
	s->stats.bad++;
	snprintf(text, sizeof(text), "%s\n", msg);
	c->req.server = s;
	c->req.conn = c;
	c->req.head = false;
	http_respond_text(&c->req, status, "text/plain; charset=utf-8", NOSNIFF, text);
}

/* ---- parsing -------------------------------------------------------------- */

static int hexval(int ch)
{
	return isdigit(ch) ? ch - '0' : isxdigit(ch) ? (tolower(ch) - 'a' + 10) : -1;
}

/* Decodes %XX (and '+' as a space when plus) in place. Returns -1 for a
 * bad escape or an escaped NUL. */
static int url_decode(char *s, bool plus)
{
	char *o = s;
	for (; *s; s++) {
		if (*s == '%') {
			int h = hexval((unsigned char)s[1]), l = h < 0 ? -1 : hexval((unsigned char)s[2]);
			if (h < 0 || l < 0 || (h == 0 && l == 0))
				return -1;
			*o++ = (char)(h * 16 + l);
			s += 2;
		} else {
			*o++ = plus && *s == '+' ? ' ' : *s;
		}
	}
	*o = '\0';
	return 0;
}

static bool is_tchar(int ch)
{
	return isalnum(ch) || (ch && strchr("!#$%&'*+-.^_`|~", ch));
}

/* Parses the head in c->in[0..header_len) (NUL-terminated lines now).
 * Returns 0, or an HTTP status to refuse it with and *why. */
static int parse_head(struct http_server *s, struct conn *c, const char **why)
{
	struct http_request *r = &c->req;
	char *p = c->in, *end = c->in + c->header_len;
	/* lines end in \r\n or \n; the head ends with an empty one */
	char *eol = memchr(p, '\n', (size_t)(end - p));
	if (!eol)
		return *why = "malformed request line", 400;
	*eol = '\0';
	if (eol > p && eol[-1] == '\r')
		eol[-1] = '\0';
	char *sp1 = strchr(p, ' '), *sp2 = sp1 ? strchr(sp1 + 1, ' ') : NULL;
	if (!sp1 || !sp2 || strchr(sp2 + 1, ' '))
		return *why = "malformed request line", 400;
	*sp1 = *sp2 = '\0';
	r->method = p;
	char *target = sp1 + 1, *version = sp2 + 1;
	for (char *m = r->method; *m; m++)
		if (!is_tchar((unsigned char)*m))
			return *why = "malformed request line", 400;
	if (!*r->method)
		return *why = "malformed request line", 400;
	if (strncmp(version, "HTTP/1.", 7) || !isdigit((unsigned char)version[7]) || version[8]) {
		if (!strncmp(version, "HTTP/", 5))
			return *why = "unsupported protocol version", 505;
		return *why = "malformed request line", 400;
	}
	if (target[0] != '/')
		return *why = "the request target must be a path (origin-form)", 400;
	char *q = strchr(target, '?');
	if (q) {
		*q++ = '\0';
		if (!(r->raw_query = strdup(q)))
			return *why = "out of memory", 503;
	}
	if (url_decode(target, false) < 0)
		return *why = "invalid URL escape", 400;
	r->path = target;
	/* the query: name=value&name=value */
	size_t nq = 0;
	for (char *x = q; x && *x; x++)
		nq += *x == '&';
	if (q && !(r->query = calloc(nq + 1, sizeof(*r->query))))
		return *why = "out of memory", 503;
	for (char *x = q, *next; x && *x; x = next) {
		next = strchr(x, '&');
		if (next)
			*next++ = '\0';
		if (!*x)
			continue;
		char *eq = strchr(x, '=');
		if (eq)
			*eq++ = '\0';
		if (url_decode(x, true) < 0 || (eq && url_decode(eq, true) < 0))
			return *why = "invalid URL escape", 400;
		r->query[r->n_query++] = (struct query_param){ x, eq ? eq : (char *)"" };
	}
	/* headers */
	size_t cap = 0;
	for (p = eol + 1; p < end; p = eol + 1) {
		eol = memchr(p, '\n', (size_t)(end - p));
		if (!eol)
			break;
		*eol = '\0';
		if (eol > p && eol[-1] == '\r')
			eol[-1] = '\0';
		if (!*p)
			break;	/* the blank line */
		if (r->n_header / 2 >= s->lim.max_headers)
			return *why = "too many header fields", 431;
		char *colon = strchr(p, ':');
		if (*p == ' ' || *p == '\t' || !colon || colon == p)
			return *why = "malformed header field", 400;
		for (char *k = p; k < colon; k++)
			if (!is_tchar((unsigned char)*k))
				return *why = "malformed header field", 400;
		*colon = '\0';
		char *v = colon + 1;
		v += strspn(v, " \t");
		size_t vl = strlen(v);
		while (vl && (v[vl - 1] == ' ' || v[vl - 1] == '\t'))
			v[--vl] = '\0';
		if (array_grow(&r->header, &cap, r->n_header + 1, sizeof(*r->header)) < 0)
			return *why = "out of memory", 503;
		r->header[r->n_header++] = p;
		r->header[r->n_header++] = v;
	}
	const char *te = http_request_header(r, "Transfer-Encoding");
	if (te)
		return *why = "request bodies must come with a Content-Length", 501;
	c->body_want = 0;
	bool seen = false;
	for (size_t i = 0; i < r->n_header; i += 2) {
		if (strcasecmp(r->header[i], "Content-Length"))
			continue;
		const char *v = r->header[i + 1];
		if (!*v || strspn(v, "0123456789") != strlen(v) || strlen(v) > 12)
			return *why = "invalid Content-Length", 400;
		size_t n = (size_t)strtoull(v, NULL, 10);
		if (seen && n != c->body_want)
			return *why = "conflicting Content-Length", 400;
		seen = true;
		c->body_want = n;
	}
	if (c->body_want > s->lim.max_body)
		return *why = "request body too large", 413;
	return 0;
}

/* The request is whole: route it. */
static void handle(struct http_server *s, struct conn *c)
{
	struct http_request *r = &c->req;
	s->stats.requests++;
	r->server = s;
	r->conn = c;
	r->body = c->body_in;
	r->body_len = c->body_want;
	r->time_ns = now_ns();
	r->head = !strcmp(r->method, "HEAD");
	const struct route *best = NULL;
	bool path_known = false;
	for (size_t i = 0; i < s->n_routes; i++) {
		const struct route *rt = &s->routes[i];
		bool match = rt->prefix ? !strncmp(r->path, rt->path, strlen(rt->path))
					: !strcmp(r->path, rt->path);
		if (!match)
			continue;
		path_known = true;
		bool method_ok = rt->method ? !strcmp(rt->method, r->method)
					    : !strcmp(r->method, "GET") || r->head;
		if (!method_ok)
			continue;
		if (!best || (best->prefix && (!rt->prefix || strlen(rt->path) > strlen(best->path))))
			best = rt;
	}
	if (!best && path_known) {
		/* Allow: the methods this path is served for */
		char allow[160] = "", hdr[200];
		size_t at = 0;
		for (size_t i = 0; i < s->n_routes && at < sizeof(allow) - 20; i++) {
			const struct route *rt = &s->routes[i];
			if (rt->prefix ? !strncmp(r->path, rt->path, strlen(rt->path))
				       : !strcmp(r->path, rt->path))
				at += (size_t)snprintf(allow + at, sizeof(allow) - at, "%s%s", at ? ", " : "",
						       rt->method ? rt->method : "GET, HEAD");
		}
		snprintf(hdr, sizeof(hdr), "Allow: %s\r\n" NOSNIFF, allow);
		s->stats.bad++;
		http_respond_text(r, 405, "text/plain; charset=utf-8", hdr, "Method Not Allowed\n");
		return;
	}
	if (!best) {
		s->stats.bad++;
		http_respond_text(r, 404, "text/plain; charset=utf-8", NOSNIFF, "404 page not found\n");
		return;
	}
	c->state = HANDLING;
	s->answered = false;
	/* the answer may have freed c (a client gone while it was written) */
	if (best->fn(r, best->data) != HTTP_PENDING && !s->answered) {
		/* a handler that said done without answering: a bug, but the
		 * client still gets an answer */
		http_respond_text(r, 500, "text/plain; charset=utf-8", NOSNIFF, "no response\n");
	}
}

/* Reads what the client sent; handles the request once it is whole. */
static void conn_read(struct http_server *s, struct conn *c)
{
	for (;;) {
		if (c->state == LINGERING || c->state == HANDLING) {
			char sink[16384];
			ssize_t n = recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT);
			if (n < 0 && errno == EINTR)
				continue;
			if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
				return;
			if (n == 0 && c->state == HANDLING) {
				c->read_shut = true;	/* its answer may still be wanted */
				return;
			}
			c->discarded += n > 0 ? (size_t)n : 0;
			if (n <= 0 || c->discarded > LINGER_BYTES) {
				conn_remove(s, c);	/* done, or gone */
				return;
			}
			continue;
		}
		if (c->state != READING)
			return;
		/* the head into in; once it is parsed, the body into body_in */
		ssize_t n = c->header_len
			? recv(c->fd, c->body_in + c->body_have, c->body_want - c->body_have, MSG_DONTWAIT)
			: recv(c->fd, c->in + c->in_len, s->lim.max_header_bytes - c->in_len, MSG_DONTWAIT);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return;
		if (n <= 0) {
			conn_remove(s, c);	/* closed before its request was whole */
			return;
		}
		if (c->header_len) {
			c->body_have += (size_t)n;
		} else {
			size_t from = c->in_len > 3 ? c->in_len - 3 : 0;
			c->in_len += (size_t)n;
			c->in[c->in_len] = '\0';
			/* the blank line: \r\n\r\n, or \n\n from a lenient client */
			for (size_t i = from; i < c->in_len && !c->header_len; i++)
				if (c->in[i] == '\n' && ((i >= 1 && c->in[i - 1] == '\n') ||
							 (i >= 3 && !memcmp(c->in + i - 3, "\r\n\r\n", 4))))
					c->header_len = i + 1;
			if (!c->header_len && c->in_len >= s->lim.max_header_bytes) {
				refuse(s, c, 431, "request header fields too large");
				return;
			}
			if (!c->header_len)
				continue;
			size_t extra = c->in_len - c->header_len;
			const char *why = NULL;
			int status = parse_head(s, c, &why);
			if (status) {
				refuse(s, c, status, why);
				return;
			}
			if (!(c->body_in = malloc(c->body_want + 1))) {
				refuse(s, c, 503, "out of memory");
				return;
			}
			/* what came with the head; anything past the body is dropped */
			c->body_have = extra < c->body_want ? extra : c->body_want;
			memcpy(c->body_in, c->in + c->header_len, c->body_have);
		}
		if (c->body_have >= c->body_want) {
			c->body_in[c->body_want] = 0;
			handle(s, c);
			return;
		}
	}
}

static void accept_all(struct http_server *s)
{
	for (;;) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0)
			return;	/* EAGAIN, or out of descriptors: the rest wait in the backlog */
		s->stats.accepted++;
		struct conn *c = NULL;
		if (s->n_conns >= s->lim.max_connections ||
		    array_grow(&s->conns, &s->cap_conns, s->n_conns, sizeof(*s->conns)) < 0 ||
		    !(c = calloc(1, sizeof(*c))) ||
		    !(c->in = malloc(s->lim.max_header_bytes + 1))) {
			/* over the limit: one try at a clean answer, never a wait */
			static const char busy[] = "HTTP/1.1 503 Service Unavailable\r\n"
				"Content-Type: text/plain; charset=utf-8\r\nContent-Length: 32\r\n"
				"Retry-After: 1\r\nConnection: close\r\n\r\n"
				"too many connections; try again\n";
			s->stats.refused++;
			if (send(fd, busy, sizeof(busy) - 1, MSG_NOSIGNAL | MSG_DONTWAIT) > 0)
				shutdown(fd, SHUT_WR);
			close(fd);
			if (c)
				free(c);
			continue;
		}
		int one = 1;
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		c->fd = fd;
		c->slot = -1;
		c->state = READING;
		c->deadline_ns = now_ns() + (uint64_t)s->lim.read_timeout_ms * 1000000u;
		s->conns[s->n_conns++] = c;
		s->stats.open = s->n_conns;
	}
}

size_t http_server_npoll(const struct http_server *s)
{
	return 1 + s->n_conns;
}

void http_server_pollfds(struct http_server *s, struct pollfd *pfd)
{
	pfd[0] = (struct pollfd){ s->listen_fd, POLLIN, 0 };
	for (size_t i = 0; i < s->n_conns; i++) {
		struct conn *c = s->conns[i];
		c->slot = (int)i + 1;
		short ev = c->state == WRITING ? POLLOUT : c->read_shut ? 0 : POLLIN;
		pfd[i + 1] = (struct pollfd){ c->fd, ev, 0 };
	}
}

void http_server_dispatch(struct http_server *s, const struct pollfd *pfd, size_t n)
{
	/* connections by the slot they were polled in; the array changes
	 * as they are handled, so take them from a copy */
	size_t nc = s->n_conns;
	struct conn **polled = nc ? malloc(nc * sizeof(*polled)) : NULL;
	if (polled)
		memcpy(polled, s->conns, nc * sizeof(*polled));
	for (size_t i = 0; polled && i < nc; i++) {
		struct conn *c = polled[i];
		bool alive = false;
		for (size_t k = 0; k < s->n_conns && !alive; k++)
			alive = s->conns[k] == c;
		if (!alive || c->slot < 0 || (size_t)c->slot >= n || pfd[c->slot].fd != c->fd)
			continue;
		short ev = pfd[c->slot].revents;
		c->slot = -1;
		if (!ev)
			continue;
		if (c->state == WRITING)
			conn_write(s, c);
		else if (c->read_shut)
			conn_remove(s, c);	/* an error or a hangup: gone */
		else
			conn_read(s, c);
	}
	free(polled);
	if (n && pfd[0].fd == s->listen_fd && pfd[0].revents)
		accept_all(s);
	/* timeouts */
	uint64_t now = now_ns();
	for (size_t i = s->n_conns; i-- > 0;) {
		struct conn *c = s->conns[i];
		if (c->state == HANDLING || now < c->deadline_ns)
			continue;
		if (c->state != LINGERING)
			s->stats.timeouts++;
		conn_free(s, i, false);
	}
}

int http_server_timeout_ms(const struct http_server *s)
{
	uint64_t now = now_ns(), first = UINT64_MAX;
	for (size_t i = 0; i < s->n_conns; i++)
		if (s->conns[i]->state != HANDLING && s->conns[i]->deadline_ns < first)
			first = s->conns[i]->deadline_ns;
	if (first == UINT64_MAX)
		return -1;
	return first <= now ? 0 : (int)((first - now) / 1000000u) + 1;
}

void http_server_close(struct http_server *s)
{
	if (!s)
		return;
	while (s->n_conns)
		conn_free(s, s->n_conns - 1, true);
	close(s->listen_fd);
	for (size_t i = 0; i < s->n_routes; i++) {
		free(s->routes[i].method);
		free(s->routes[i].path);
	}
	free(s->routes);
	free(s->conns);
	free(s);
}

/* ---- request accessors ---------------------------------------------------- */

const char *http_request_method(const struct http_request *r)
{
	return r->method;
}

const char *http_request_path(const struct http_request *r)
{
	return r->path;
}

const char *http_request_raw_query(const struct http_request *r)
{
	return r->raw_query;
}

const char *http_request_query(const struct http_request *r, const char *name)
{
	for (size_t i = 0; i < r->n_query; i++)
		if (!strcmp(r->query[i].name, name))
			return r->query[i].value;
	return NULL;
}

const char *http_request_header(const struct http_request *r, const char *name)
{
	for (size_t i = 0; i + 1 < r->n_header; i += 2)
		if (!strcasecmp(r->header[i], name))
			return r->header[i + 1];
	return NULL;
}

const void *http_request_body(const struct http_request *r, size_t *len)
{
	*len = r->body_len;
	return r->body;
}

uint64_t http_request_time(const struct http_request *r)
{
	return r->time_ns;
}

bool http_request_gone(const struct http_request *r)
{
	return r->gone;
}
