/* list.c - memprof list: pprof's annotated source listing. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "lib/profile.h"
#include "memprof.h"

int cmd_list(int argc, char **argv)
{
	struct report_args args;
	char msg[512];
	int rc = report_args_parse("list", argc, argv, &args, 2);
	if (rc)
		return rc > 0 ? 0 : 2;
	struct profile *p = report_args_load(args.positional[1], &args);
	if (!p)
		return 1;
	rc = report_list(stdout, p, args.positional[0], &args.opts, msg, sizeof(msg));
	if (rc == -EINVAL)
		error("%s", msg);
	else if (rc < 0)
		error("%s: %s", args.positional[1], strerror(-rc));
	profile_free(p);
	return rc < 0;
}
