/* top.c - memprof top: pprof's top report. */
#include <stdio.h>
#include <string.h>

#include "lib/profile.h"
#include "memprof.h"

int cmd_top(int argc, char **argv)
{
	struct report_args args;
	int rc = report_args_parse("top", argc, argv, &args, 1);
	if (rc)
		return rc > 0 ? 0 : 2;
	struct profile *p = report_args_load(args.positional[0], &args);
	if (!p)
		return 1;
	rc = report_top(stdout, p, &args.opts);
	if (rc < 0)
		error("%s: %s", args.positional[0], strerror(-rc));
	profile_free(p);
	return rc < 0;
}
