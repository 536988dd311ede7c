/* convert.c - memprof convert: a standalone recording (MEMPROF_OUT) into
 * the profile memprof run would have written. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/collect.h"
#include "memprof.h"

int cmd_convert(int argc, char **argv)
{
	const char *out = NULL, *in = NULL;
	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help"))
			return usage("convert", true);
		if (!strcmp(argv[i], "-o") && i + 1 < argc)
			out = argv[++i];
		else if (!strncmp(argv[i], "--output=", 9))
			out = argv[i] + 9;
		else if (argv[i][0] == '-' || in) {
			error("convert: unexpected argument '%s'", argv[i]);
			return usage("convert", false);
		} else
			in = argv[i];
	}
	if (!in) {
		error("convert: missing RECORDING");
		return usage("convert", false);
	}
	int fd = open(in, O_RDONLY | O_CLOEXEC);
	struct stat st;
	if (fd < 0 || fstat(fd, &st) < 0 || S_ISDIR(st.st_mode)) {
		error("%s: %s", in, fd < 0 ? strerror(errno) : "is a directory");
		if (fd >= 0)
			close(fd);
		return 1;
	}
	char *def = NULL;
	if (!out) {
		size_t n = strlen(in) + 8;
		if ((def = malloc(n)))
			snprintf(def, n, "%s.pb.gz", in);
		out = def;
	}
	/* a bad output is said before the recording is read and converted */
	if (!out || check_output(out) < 0) {
		if (!out)
			error("out of memory");
		close(fd);
		free(def);
		return 1;
	}
	size_t len = (size_t)st.st_size, got = 0;
	uint8_t *data = malloc(len ? len : 1);
	while (data && got < len) {
		ssize_t n = read(fd, data + got, len - got);
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	struct collector *c = collector_new();
	char err[256], warn[256];
	int code = 1;
	if (!data || !c) {
		error("out of memory");
	} else if (collector_feed_recording(c, data, got, err, sizeof(err), warn, sizeof(warn)) < 0) {
		error("%s: %s", in, err);
	} else if (collector_stats(c)->processes == 0) {
		error("%s: no process started in this recording", in);
	} else {
		if (warn[0])
			error("warning: %s: %s", in, warn);
		char version[64];
		snprintf(version, sizeof(version), "memprof %s", MEMPROF_VERSION);
		const char *comments[] = { version, NULL };
		if (write_profile(c, out, comments, false, true, false, NULL) == 0)
			code = 0;
	}
	collector_free(c);
	free(data);
	free(def);
	return code;
}
