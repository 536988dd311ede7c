/* memprof.c - the memprof command: dispatch to subcommands. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "memprof.h"

static const struct cmd {
	const char *name;
	int (*fn)(int argc, char **argv);
} commands[] = {
	{ "run", cmd_run },
	{ "agent", cmd_agent },
	{ "top", cmd_top },
	{ "list", cmd_list },
	{ "traces", cmd_traces },
	{ "peek", cmd_peek },
	{ "tree", cmd_tree },
	{ "tags", cmd_tags },
	{ "leaks", cmd_leaks },
	{ "report", cmd_report },
	{ "convert", cmd_convert },
	{ "symbolize", cmd_symbolize },
	{ "timeline", cmd_timeline },
	{ "help", cmd_help },
	{ "version", cmd_version },
};

void error(const char *fmt, ...)
{
	va_list ap;
	fputs("memprof: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cmd_version(int argc, char **argv)
{
	(void)argc;
	(void)argv;
	printf("memprof %s\n", MEMPROF_VERSION);
	return 0;
}

/* Like git: a command succeeds only if what it printed reached stdout. */
static int check_stdout(int rc)
{
	if (fflush(stdout) != 0 || ferror(stdout)) {
		error("write error on stdout: %s", strerror(errno ? errno : EIO));
		return rc ? rc : 1;
	}
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2)
		return usage(NULL, false);
	const char *name = argv[1];
	if (!strcmp(name, "--help") || !strcmp(name, "-h"))
		return check_stdout(usage(NULL, true));
	if (!strcmp(name, "--version"))
		return check_stdout(cmd_version(0, NULL));
	for (size_t i = 0; i < sizeof(commands) / sizeof(commands[0]); i++)
		if (!strcmp(name, commands[i].name))
			return check_stdout(commands[i].fn(argc - 1, argv + 1));
	error("'%s' is not a memprof command (see 'memprof help')", name);
	return 2;
}
