/* http_get.h - profiles over HTTP: which sources go tool pprof takes for
 * URLs, and a small HTTP/1.1 GET client to fetch them. */
#ifndef MEMPROF_HTTP_GET_H
#define MEMPROF_HTTP_GET_H

#include <stddef.h>
#include <stdint.h>

/* Decides, as go tool pprof's adjustURL does, whether source names a URL
 * rather than a file: "http://HOST:PORT/PATH", but also "HOST:PORT/PATH"
 * and "HOST:PORT" (http:// is assumed when what comes before the first
 * colon is no scheme followed by a host). A path that is empty or "/"
 * becomes Go's /debug/pprof/profile. When seconds > 0 the query gets
 * seconds=SECONDS (pprof's -seconds); the query is then re-encoded as Go
 * encodes it (keys sorted). Returns 1 with the URL as pprof prints it in
 * *url (malloc'd; the caller frees it) and in *duration the seconds the
 * server is asked to profile for (seconds, else the URL's seconds=, else
 * 0); 0 when source is a file path; -ENOMEM. */
int http_url_adjust(const char *source, int seconds, char **url, int *duration);

/* What http_get may take. */
struct http_get_options {
	int timeout_ms;		/* for the whole fetch: connect, request, response */
	size_t max_size;	/* bytes of body at most */
};

/* Fetches url (http:// only; see http_url_adjust) with one GET on a
 * connection of its own (Connection: close), reading a body sized by
 * Content-Length, chunked, or read to the close; follows up to 5
 * redirects to http:// URLs or paths on the same server. On success
 * returns 0 with the body in *body (malloc'd; the caller frees it) and its
 * length in *len. On failure returns a negative errno and one line, with
 * no URL and no trailing period, in msg: -EPROTONOSUPPORT (https and other
 * schemes), -EINVAL (not a URL it can fetch), -ETIMEDOUT, -EFBIG (a body
 * larger than max_size), -EPROTO (a response that is not HTTP, or a status
 * other than 200: msg is "server response: 404 Not Found", as pprof
 * says), -ENOMEM, or the errno of the socket call that failed. */
int http_get(const char *url, const struct http_get_options *opts, uint8_t **body, size_t *len,
	     char *msg, size_t msg_size);

#endif
