/* test_http_get.c - lib/http_get.c: which sources are URLs (go tool pprof's
 * adjustURL, the expected values printed by that Go function), and the
 * client on canned responses from a child process (bodies framed three
 * ways, and what goes wrong). */
#include <errno.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "lib/http_get.h"

/* source, -seconds -> the URL pprof prints (NULL: a file), the seconds */
static const struct {
	const char *source;
	int seconds;
	const char *url;
	int duration;
} adjust_cases[] = {
	{ "heap.pb.gz", 0, NULL, 0 },
	{ "heap.pb.gz", 3, NULL, 0 },
	{ "dir/heap.pb.gz", 0, NULL, 0 },
	{ "dir/heap.pb.gz", 3, NULL, 0 },
	{ "/tmp/x.pb.gz", 0, NULL, 0 },
	{ "/tmp/x.pb.gz", 3, NULL, 0 },
	{ "./a:1", 0, NULL, 0 },
	{ "./a:1", 3, NULL, 0 },
	{ "a:b", 0, NULL, 0 },
	{ "a:b", 3, NULL, 0 },
	{ "a:b/c", 0, NULL, 0 },
	{ "a:b/c", 3, NULL, 0 },
	{ "host:80", 0, "http://host:80/debug/pprof/profile", 0 },
	{ "host:80", 3, "http://host:80/debug/pprof/profile?seconds=3", 3 },
	{ "localhost:8080", 0, "http://localhost:8080/debug/pprof/profile", 0 },
	{ "localhost:8080", 3, "http://localhost:8080/debug/pprof/profile?seconds=3", 3 },
	{ "localhost:8080/", 0, "http://localhost:8080/debug/pprof/profile", 0 },
	{ "localhost:8080/", 3, "http://localhost:8080/debug/pprof/profile?seconds=3", 3 },
	{ "localhost:8080/debug/pprof/heap", 0, "http://localhost:8080/debug/pprof/heap", 0 },
	{ "localhost:8080/debug/pprof/heap", 3, "http://localhost:8080/debug/pprof/heap?seconds=3", 3 },
	{ "127.0.0.1:6060/debug/pprof/heap?gc=1&debug=0", 0, "http://127.0.0.1:6060/debug/pprof/heap?debug=0&gc=1", 0 },
	{ "127.0.0.1:6060/debug/pprof/heap?gc=1&debug=0", 3, "http://127.0.0.1:6060/debug/pprof/heap?debug=0&gc=1&seconds=3", 3 },
	{ "http://h:1", 0, "http://h:1/debug/pprof/profile", 0 },
	{ "http://h:1", 3, "http://h:1/debug/pprof/profile?seconds=3", 3 },
	{ "http://h:1/", 0, "http://h:1/debug/pprof/profile", 0 },
	{ "http://h:1/", 3, "http://h:1/debug/pprof/profile?seconds=3", 3 },
	{ "HTTP://Host:1/x", 0, "http://Host:1/x", 0 },
	{ "HTTP://Host:1/x", 3, "http://Host:1/x?seconds=3", 3 },
	{ "https://h/x", 0, "https://h/x", 0 },
	{ "https://h/x", 3, "https://h/x?seconds=3", 3 },
	{ "ftp://h/x", 0, "ftp://h/x", 0 },
	{ "ftp://h/x", 3, "ftp://h/x?seconds=3", 3 },
	{ "file:///tmp/x", 0, NULL, 0 },
	{ "file:///tmp/x", 3, NULL, 0 },
	{ "http://h/a b", 0, "http://h/a%20b", 0 },
	{ "http://h/a b", 3, "http://h/a%20b?seconds=3", 3 },
	{ "http://h/x?", 0, "http://h/x?", 0 },
	{ "http://h/x?", 3, "http://h/x?seconds=3", 3 },
	{ "http://h/x?seconds=5", 0, "http://h/x?seconds=5", 5 },
	{ "http://h/x?seconds=5", 3, "http://h/x?seconds=3", 3 },
	{ "http://h/x?seconds=abc&seconds=7", 0, "http://h/x?seconds=abc&seconds=7", 0 },
	{ "http://h/x?seconds=abc&seconds=7", 3, "http://h/x?seconds=3", 3 },
	{ "http://h/x?a=1;b=2&c=%zz&d=+x", 0, "http://h/x?d=+x", 0 },
	{ "http://h/x?a=1;b=2&c=%zz&d=+x", 3, "http://h/x?d=+x&seconds=3", 3 },
	{ "http://h/x#frag", 0, "http://h/x#frag", 0 },
	{ "http://h/x#frag", 3, "http://h/x?seconds=3#frag", 3 },
	{ "http://[::1]:8080/x", 0, "http://[::1]:8080/x", 0 },
	{ "http://[::1]:8080/x", 3, "http://[::1]:8080/x?seconds=3", 3 },
	{ "http://u:p@h/x", 0, "http://u:p@h/x", 0 },
	{ "http://u:p@h/x", 3, "http://u:p@h/x?seconds=3", 3 },
	{ "1:2", 0, "http://1:2/debug/pprof/profile", 0 },
	{ "1:2", 3, "http://1:2/debug/pprof/profile?seconds=3", 3 },
	{ "c:/x", 0, "http://c:/x", 0 },
	{ "c:/x", 3, "http://c:/x?seconds=3", 3 },
	{ "http://h:8x/x", 0, "http://http://h:8x/x", 0 },
	{ "http://h:8x/x", 3, "http://http://h:8x/x?seconds=3", 3 },
	{ "x.pb.gz:1", 0, "http://x.pb.gz:1/debug/pprof/profile", 0 },
	{ "x.pb.gz:1", 3, "http://x.pb.gz:1/debug/pprof/profile?seconds=3", 3 },
	{ "http:///x", 0, "http://http:///x", 0 },
	{ "http:///x", 3, "http://http:///x?seconds=3", 3 },
	{ "http://h/%41%zz", 0, NULL, 0 },
	{ "http://h/%41%zz", 3, NULL, 0 },
	{ "http://h/%41b", 0, "http://h/%41b", 0 },
	{ "http://h/%41b", 3, "http://h/%41b?seconds=3", 3 },
	{ "http://h/x?k=a/b:c", 0, "http://h/x?k=a%2Fb%3Ac", 0 },
	{ "http://h/x?k=a/b:c", 3, "http://h/x?k=a%2Fb%3Ac&seconds=3", 3 },
	{ "http://h/ü", 0, "http://h/%C3%BC", 0 },
	{ "http://h/ü", 3, "http://h/%C3%BC?seconds=3", 3 },
	{ "http://h/x?k=%4a%4A&seconds=%35", 0, "http://h/x?k=JJ&seconds=5", 5 },
	{ "http://h/x?k=%4a%4A&seconds=%35", 3, "http://h/x?k=JJ&seconds=3", 3 },
	{ "http://h/x?k=%4g", 0, "http://h/x", 0 },
};

static void test_adjust(void)
{
	for (size_t i = 0; i < sizeof(adjust_cases) / sizeof(adjust_cases[0]); i++) {
		char *url = NULL;
		int duration = -1;
		int rc = http_url_adjust(adjust_cases[i].source, adjust_cases[i].seconds, &url,
					 &duration);
		if (!adjust_cases[i].url) {
			if (rc != 0)
				fprintf(stderr, "    %s: a URL, want a file\n", adjust_cases[i].source);
			CHECK(rc == 0 && url == NULL);
		} else {
			CHECK(rc == 1);
			CHECK_STR(url ? url : "(null)", adjust_cases[i].url);
			CHECK(duration == adjust_cases[i].duration);
		}
		free(url);
	}
}

/* A child that answers one connection after another with the canned
 * responses (NULL: accept and say nothing until killed); returns its pid
 * and the port in *port. */
static pid_t serve(const char *const *responses, size_t n, int *port)
{
	int l = socket(AF_INET, SOCK_STREAM, 0);
	struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(a);
	if (l < 0 || bind(l, (struct sockaddr *)&a, sizeof(a)) < 0 || listen(l, 8) < 0 ||
	    getsockname(l, (struct sockaddr *)&a, &len) < 0)
		return -1;
	*port = ntohs(a.sin_port);
	pid_t pid = fork();
	if (pid != 0) {
		close(l);
		return pid;
	}
	for (size_t i = 0; i < n; i++) {
		int c = accept(l, NULL, NULL);
		char req[4096];
		if (c < 0 || read(c, req, sizeof(req)) <= 0)	/* the request: one packet */
			_exit(1);
		if (!responses[i])
			pause();
		if (write(c, responses[i], strlen(responses[i])) < 0)
			_exit(1);
		close(c);
	}
	_exit(0);
}

/* Fetches /x from a child serving the responses: the return code, the
 * body in body (NUL-terminated) and the message in msg. */
static int fetch(const char *const *responses, size_t n, size_t max, int timeout_ms, char *body,
		 size_t body_size, char *msg, size_t msg_size)
{
	int port;
	pid_t pid = serve(responses, n, &port);
	if (pid < 0)
		return -999;
	char url[64];
	snprintf(url, sizeof(url), "http://127.0.0.1:%d/x", port);
	struct http_get_options o = { timeout_ms, max };
	uint8_t *b;
	size_t len;
	msg[0] = body[0] = '\0';
	int rc = http_get(url, &o, &b, &len, msg, msg_size);
	if (rc == 0) {
		snprintf(body, body_size, "%.*s", (int)len, (const char *)b);
		free(b);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	return rc;
}

#define ONE(r) ((const char *const[]){ r }), 1

static void test_bodies(void)
{
	char body[256], msg[256];
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 100, 5000, body,
		    sizeof(body), msg, sizeof(msg)) == 0);
	CHECK_STR(body, "hello");
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
			"3;ext=1\r\nhel\r\n2\r\nlo\r\n0\r\nTrailer: x\r\n\r\n"),
		    100, 5000, body, sizeof(body), msg, sizeof(msg)) == 0);
	CHECK_STR(body, "hello");
	CHECK(fetch(ONE("HTTP/1.0 200 OK\r\n\r\nhello"), 100, 5000, body, sizeof(body), msg,
		    sizeof(msg)) == 0);
	CHECK_STR(body, "hello");
	CHECK(fetch(ONE("HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n"
			"\r\nok"), 100, 5000, body, sizeof(body), msg, sizeof(msg)) == 0);
	CHECK_STR(body, "ok");
	const char *const redirect[] = { "HTTP/1.1 302 Found\r\nLocation: /y\r\n\r\n",
					 "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok" };
	CHECK(fetch(redirect, 2, 100, 5000, body, sizeof(body), msg, sizeof(msg)) == 0);
	CHECK_STR(body, "ok");
}

static void test_failures(void)
{
	char body[256], msg[256];
	CHECK(fetch(ONE("HTTP/1.1 503 Service Unavailable\r\n\r\n"), 100, 5000, body,
		    sizeof(body), msg, sizeof(msg)) == -EPROTO);
	CHECK_STR(msg, "server response: 503 Service Unavailable");
	CHECK(fetch(ONE("HTTP/1.1 404 Not Found\r\nX-Go-Pprof: 1\r\nContent-Type: text/plain\r\n"
			"\r\nUnknown profile\nmore\n"), 100, 5000, body, sizeof(body), msg,
		    sizeof(msg)) == -EPROTO);
	CHECK_STR(msg, "server response: 404 Not Found - Unknown profile");
	CHECK(fetch(ONE("SSH-2.0-OpenSSH\r\n"), 100, 5000, body, sizeof(body), msg,
		    sizeof(msg)) == -EPROTO);
	CHECK(strstr(msg, "not an HTTP/1.x response") != NULL);
	CHECK(fetch(ONE(""), 100, 5000, body, sizeof(body), msg, sizeof(msg)) == -EPROTO);
	CHECK_STR(msg, "connection closed before any response");
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhello"), 100, 5000, body,
		    sizeof(body), msg, sizeof(msg)) == -EPROTO);
	CHECK_STR(msg, "connection closed before the end of the body");
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello"), 4, 5000, body,
		    sizeof(body), msg, sizeof(msg)) == -EFBIG);
	CHECK_STR(msg, "response larger than 4 bytes");
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\n\r\nhello"), 4, 5000, body, sizeof(body), msg,
		    sizeof(msg)) == -EFBIG);
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n10\r\nhello"), 4,
		    5000, body, sizeof(body), msg, sizeof(msg)) == -EFBIG);
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"), 100,
		    5000, body, sizeof(body), msg, sizeof(msg)) == -EPROTO);
	CHECK(strstr(msg, "bad chunk size") != NULL);
	CHECK(fetch(ONE("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhello\r\n"),
		    100, 5000, body, sizeof(body), msg, sizeof(msg)) == -EPROTO);
	CHECK(fetch(ONE("HTTP/1.1 301 Moved\r\nLocation: https://h/x\r\n\r\n"), 100, 5000, body,
		    sizeof(body), msg, sizeof(msg)) == -EPROTO);
	CHECK(strstr(msg, "not followed") != NULL);
	const char *const loop[] = { "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
				     "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
				     "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
				     "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
				     "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n",
				     "HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n" };
	CHECK(fetch(loop, 6, 100, 5000, body, sizeof(body), msg, sizeof(msg)) == -EPROTO);
	CHECK_STR(msg, "stopped after 5 redirects");
	CHECK(fetch(ONE(NULL), 100, 200, body, sizeof(body), msg, sizeof(msg)) == -ETIMEDOUT);
	CHECK(strstr(msg, "timed out waiting for the response") != NULL);
}

static void test_schemes(void)
{
	struct http_get_options o = { 1000, 100 };
	uint8_t *b;
	size_t len;
	char msg[256];
	CHECK(http_get("https://127.0.0.1:1/x", &o, &b, &len, msg, sizeof(msg)) ==
	      -EPROTONOSUPPORT);
	CHECK_STR(msg, "https is not supported; use go tool pprof or curl -o");
	CHECK(http_get("ftp://127.0.0.1:1/x", &o, &b, &len, msg, sizeof(msg)) == -EPROTONOSUPPORT);
	CHECK(http_get("http://u:p@127.0.0.1:1/x", &o, &b, &len, msg, sizeof(msg)) == -EINVAL);
}

const struct unit_test http_get_tests[] = {
	{ "http_get: which sources are URLs, as go tool pprof's adjustURL", test_adjust },
	{ "http_get: bodies with a length, chunked, to the close; 1xx; redirects", test_bodies },
	{ "http_get: status, framing, size, redirect and timeout failures", test_failures },
	{ "http_get: https and other schemes refused", test_schemes },
	{ NULL, NULL },
};
