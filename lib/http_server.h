/* http_server.h - a small HTTP/1.1 server for memprof's endpoints, driven
 * by the caller's poll loop: non-blocking sockets, every response buffered
 * and written as the client takes it, so that a slow or stuck client never
 * holds up the loop (which also reads the programs' rings). One request per
 * connection (each response says Connection: close). Bounded: the request
 * line and headers, their number, a request body, the connections, and the
 * time a client may take to send its request or to read a response.
 *
 * Not thread-safe: every call comes from the loop's thread. */
#ifndef MEMPROF_HTTP_SERVER_H
#define MEMPROF_HTTP_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pollfd;
struct http_server;
struct http_request;

struct http_server_limits {
	size_t max_connections;		/* open at once; one more gets a 503 */
	size_t max_header_bytes;	/* request line and headers: 431 past it */
	size_t max_headers;		/* header lines: 431 past it */
	size_t max_body;		/* a request body (POST): 413 past it */
	int read_timeout_ms;		/* to send the whole request */
	int write_timeout_ms;		/* without the client taking a byte */
};
/* 128 connections of 16 KiB of request head each (2 MiB at most) */
#define HTTP_SERVER_LIMITS_INIT { 128, 16384, 64, 65536, 10000, 10000 }

/* A response body shared by the responses that carry it (100 clients
 * fetching the same profile hold one copy). */
struct http_blob {
	unsigned refs;
	size_t len;
	uint8_t data[];
};

/* A blob holding a copy of data[0..len) with one reference, or NULL when
 * out of memory. */
struct http_blob *http_blob_new(const void *data, size_t len);
struct http_blob *http_blob_ref(struct http_blob *b);
void http_blob_unref(struct http_blob *b);

/* Listens on addr: "HOST:PORT", ":PORT" or "PORT" (HOST 127.0.0.1 when
 * left out: loopback unless told otherwise), "[::1]:PORT" for IPv6, PORT 0
 * for any free one. Returns 0 and the server in *out, or a negative errno
 * with one line in err ("127.0.0.1:6060: Address already in use"). lim may
 * be NULL for HTTP_SERVER_LIMITS_INIT. */
int http_server_open(struct http_server **out, const char *addr,
		     const struct http_server_limits *lim, char *err, size_t errlen);

/* The address listened on, "127.0.0.1:43121" (the port the kernel chose
 * for port 0). */
const char *http_server_address(const struct http_server *s);

/* Returns 0 after answering req (http_respond), or HTTP_PENDING when the
 * handler keeps req and answers it later, from the same thread. */
#define HTTP_PENDING 1
typedef int (*http_handler_fn)(struct http_request *req, void *data);

/* Routes method (e.g. "POST"; NULL for GET and HEAD, a HEAD answered as
 * the GET without its body) and path to fn. A path ending in '*' is a
 * prefix; exact paths win over prefixes, longer prefixes over shorter.
 * A path served for other methods only gets a 405; no path at all, a 404.
 * Returns 0 or -ENOMEM. */
int http_server_handle(struct http_server *s, const char *method, const char *path,
		       http_handler_fn fn, void *data);

/* The poll loop's part: how many pollfds the server needs now, then fills
 * exactly that many at pfd (do not add or remove anything between the two
 * calls and http_server_dispatch). */
size_t http_server_npoll(const struct http_server *s);
void http_server_pollfds(struct http_server *s, struct pollfd *pfd);

/* After poll: accepts, reads, answers and writes what pfd's revents allow,
 * and applies the timeouts. pfd is what http_server_pollfds filled (n of
 * them; NULL and 0 when poll was not called, e.g. only timeouts to run). */
void http_server_dispatch(struct http_server *s, const struct pollfd *pfd, size_t n);

/* Milliseconds until a timeout is due (for poll), or -1 when none is. */
int http_server_timeout_ms(const struct http_server *s);

/* Closes every connection and the listening socket. Answer the pending
 * requests first (those of clients that went are freed only then); any
 * left are freed here, and their handlers must not use them after. NULL
 * is allowed. */
void http_server_close(struct http_server *s);

struct http_server_stats {
	uint64_t accepted;	/* connections */
	uint64_t refused;	/* connections over the limit (503) */
	uint64_t requests;	/* requests read whole */
	uint64_t bad;		/* answered 4xx/5xx by the server itself */
	uint64_t timeouts;	/* connections closed for a timeout */
	uint64_t bytes_out;
	size_t open;		/* connections open now */
};
const struct http_server_stats *http_server_stats(const struct http_server *s);

/* ---- a request, for its handler ---- */

const char *http_request_method(const struct http_request *r);	/* "GET" */
const char *http_request_path(const struct http_request *r);	/* decoded, no query */
/* The value of query parameter name (decoded, "" when given without a
 * value), or NULL when it is absent. The first one when repeated. */
const char *http_request_query(const struct http_request *r, const char *name);
/* The query as it came (after '?', not decoded), or NULL without one. */
const char *http_request_raw_query(const struct http_request *r);
/* A request header's value (name compared without case), or NULL. */
const char *http_request_header(const struct http_request *r, const char *name);
const void *http_request_body(const struct http_request *r, size_t *len);
/* When the request arrived whole (CLOCK_MONOTONIC, ns). */
uint64_t http_request_time(const struct http_request *r);
/* Whether the client of a pending request has gone away: its handler
 * should answer it now (anything: it is dropped) to free its connection. */
bool http_request_gone(const struct http_request *r);

/* Answers req: status (200, 404, ...), Content-Type ctype, more headers in
 * headers ("Name: value\r\n" lines, or NULL), and body (its reference is
 * taken over; NULL for none). Out of memory: the connection is closed. req
 * must not be used after. */
void http_respond(struct http_request *req, int status, const char *ctype, const char *headers,
		  struct http_blob *body);
/* http_respond with a copy of text as the body. */
void http_respond_text(struct http_request *req, int status, const char *ctype,
		       const char *headers, const char *text);

/* "Not Found" for 404, ... ("" when unknown). */
const char *http_status_text(int status);

#endif
