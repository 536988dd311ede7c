/* fetch.c - reading the profile a command names: a file, or a URL fetched
 * over HTTP as go tool pprof fetches it (lib/http_get.c). */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/http_get.h"
#include "lib/pprof.h"
#include "lib/units.h"
#include "memprof.h"

int fetch_args_parse(const char *cmd, int argc, char **argv, int *i, struct fetch_options *fo)
{
	static const char *const names[] = { "seconds", "timeout" };
	const char *a = argv[*i];
	if (a[0] != '-')
		return 0;
	const char *s = a + (a[1] == '-' ? 2 : 1);
	for (int k = 0; k < 2; k++) {
		size_t n = strlen(names[k]);
		if (strncmp(s, names[k], n) || (s[n] && s[n] != '='))
			continue;
		const char *v = s[n] ? s + n + 1 : NULL;
		if (!v) {
			if (*i + 1 >= argc) {
				error("%s: option '%s' needs a value", cmd, a);
				return -1;
			}
			v = argv[++*i];
		}
		uint64_t secs;
		if (units_parse_count(v, 0, INT_MAX, &secs) < 0) {
			error("%s: invalid number of seconds '%s' for '-%s'", cmd, v, names[k]);
			return -1;
		}
		*(k ? &fo->timeout : &fo->seconds) = (int)secs;
		return 1;
	}
	return 0;
}

bool fetch_is_url(const char *source)
{
	char *url;
	int duration;
	int rc = http_url_adjust(source, 0, &url, &duration);
	free(url);
	return rc != 0;	/* out of memory: let fetch_profile say it */
}

/* The URL's profile, as pprof_read_limited reads a file's. */
static struct profile *fetch_url(const char *url, int duration, const struct fetch_options *fo,
				 const struct pprof_limits *limits, enum pprof_limit *exceeded,
				 struct pprof_error *err)
{
	struct pprof_limits defaults = PPROF_LIMITS_INIT;
	if (!limits)
		limits = &defaults;
	/* pprof's -timeout, else half as long again as the profile takes,
	 * else a minute (pprof allows 5 s more on top) */
	long long ms = fo && fo->timeout > 0 ? fo->timeout * 1000LL
		       : duration > 0	     ? duration * 1500LL
					     : 60000;
	struct http_get_options o = { ms > INT_MAX ? INT_MAX : (int)ms, limits->max_size };
	/* as pprof, but not for a URL refused at once (https://) */
	bool http = !strncmp(url, "http://", 7);
	if (http)
		fprintf(stderr, "Fetching profile over HTTP from %s\n", url);
	if (http && fo && fo->seconds > 0) {	/* Go's time.Duration, whole seconds */
		int s = fo->seconds;
		if (s >= 3600)
			fprintf(stderr, "Please wait... (%dh%dm%ds)\n", s / 3600, s / 60 % 60, s % 60);
		else if (s >= 60)
			fprintf(stderr, "Please wait... (%dm%ds)\n", s / 60, s % 60);
		else
			fprintf(stderr, "Please wait... (%ds)\n", s);
	}
	uint8_t *body;
	size_t len;
	int rc = http_get(url, &o, &body, &len, err->msg, sizeof(err->msg));
	if (rc < 0) {
		if (rc == -EFBIG && exceeded)
			*exceeded = PPROF_LIMIT_SIZE;
		return NULL;
	}
	struct profile *p = pprof_decode_limited(body, len, limits, exceeded, err);
	free(body);
	return p;
}

struct profile *fetch_profile(const char *source, const struct fetch_options *fo,
			      const struct pprof_limits *limits, enum pprof_limit *exceeded,
			      struct pprof_error *err)
{
	char *url;
	int duration;
	if (exceeded)
		*exceeded = PPROF_LIMIT_NONE;
	int rc = http_url_adjust(source, fo ? fo->seconds : 0, &url, &duration);
	if (rc < 0) {
		snprintf(err->msg, sizeof(err->msg), "out of memory");
		return NULL;
	}
	if (rc == 0)
		return pprof_read_limited(source, limits, exceeded, err);
	struct profile *p = fetch_url(url, duration, fo, limits, exceeded, err);
	free(url);
	return p;
}
